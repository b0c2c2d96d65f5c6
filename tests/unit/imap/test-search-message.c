/* tests/unit/imap/test-search-message - SEARCH keys evaluated against one
 * message (src/imap/search.c): flags, keywords, dates, sizes, header and
 * body strings (decoded, case-insensitive, UTF-8), sets, NOT/OR, MODSEQ,
 * and the SEARCH and ESEARCH responses (RFC 9051, RFC 4731, RFC 7162). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap/imap.h"
#include "imap/parse.h"
#include "mailbox/mailbox.h"
#include "util/buf.h"

static const char message[] =
	"From: =?iso-8859-1?q?Andr=E9?= <andre@example.org>\r\n"
	"To: Bob <bob@example.net>\r\n"
	"Cc: carol@example.com\r\n"
	"Subject: =?utf-8?b?w4lURSDDoCBQYXJpcw==?=\r\n"
	"Date: Wed, 3 Dec 2025 23:30:00 -0800\r\n"
	"X-Spam: no\r\n"
	"Content-Type: multipart/mixed; boundary=b\r\n"
	"\r\n"
	"--b\r\n"
	"Content-Type: text/plain; charset=iso-8859-1\r\n"
	"Content-Transfer-Encoding: quoted-printable\r\n"
	"\r\n"
	"Le caf=E9 est CHAUD.\r\n"
	"--b\r\n"
	"Content-Type: application/octet-stream\r\n"
	"Content-Transfer-Encoding: base64\r\n"
	"\r\n"
	"c2VjcmV0IHdvcmQ=\r\n"
	"--b\r\n"
	"Content-Type: message/rfc822\r\n"
	"\r\n"
	"Subject: inner\r\n"
	"Content-Type: text/html; charset=utf-8\r\n"
	"Content-Transfer-Encoding: base64\r\n"
	"\r\n"
	"PGI+zpHOks6TPC9iPg==\r\n"
	"--b--\r\n";

static struct mailbox_message record = {
	.uid = 40, .flags = MAILBOX_FLAG_SEEN | MAILBOX_FLAG_FLAGGED, .keywords = 2,
	.modseq = 500, .size = 2000,
	.internal_date = 1764806400 + 3600,   /* 04-Dec-2025 01:00 UTC */
	.recent = false,
};
static char *keyword_names[] = { "$Junk", "Work" };
/* the message matches() searches: message, or a test's own */
static const char *current = message;

/* matches - SEARCH KEYS (a command's arguments) against the message, seq 5 of 9 */
static bool matches(const char *keys)
{
	char line[2048];
	snprintf(line, sizeof(line), "a SEARCH %s\r\n", keys);
	struct imap_command cmd;
	const char *tag, *error;
	struct imap_parse_limits limits = { 16, 1000 };
	assert_int_equal(imap_command_parse(line, strlen(line), &limits, &cmd, &tag, &error), 0);
	struct imap_search s;
	if (imap_search_parse(cmd.args, cmd.count, &s, &error) != 0) {
		print_error("%s: %s\n", keys, error);
		fail();
	}
	imap_search_resolve(&s.root, 9, 60);
	struct imap_search_message msg = {
		.seq = 5, .record = &record, .keywords = keyword_names, .keyword_count = 2,
		.now = record.internal_date + 1000,
	};
	if (imap_search_needs_file(&s.root)) {
		/* as the session gives it: the header section alone (from
		 * petrel.cache) unless a key looks into the body */
		bool complete;
		msg.data = current;
		msg.len = imap_search_needs_body(&s.root)
				  ? strlen(current)
				  : mailbox_header_length(current, strlen(current), &complete);
	}
	bool r = imap_search_match(&s.root, &msg);
	imap_search_free(&s);
	imap_command_free(&cmd);
	return r;
}

#define YES(keys) do { if (!matches(keys)) { print_error("should match: %s\n", keys); fail(); } } while (0)
#define NO(keys) do { if (matches(keys)) { print_error("should not match: %s\n", keys); fail(); } } while (0)

static void test_flags(void **state)
{
	(void)state;
	YES("ALL");
	YES("SEEN");
	YES("FLAGGED");
	NO("ANSWERED");
	YES("UNANSWERED");
	NO("UNSEEN");
	NO("DELETED");
	YES("UNDELETED");
	NO("DRAFT");
	NO("RECENT");
	YES("OLD");
	NO("NEW");
	YES("KEYWORD work");
	YES("KEYWORD WORK");
	NO("KEYWORD $Junk");
	YES("UNKEYWORD $Junk");
	NO("KEYWORD nosuch");
	NO("KEYWORD $Forwarded");
}

static void test_dates_sizes(void **state)
{
	(void)state;
	/* internal date 04-Dec-2025 (UTC) */
	YES("ON 4-Dec-2025");
	NO("ON 3-Dec-2025");
	YES("SINCE 4-Dec-2025");
	YES("SINCE 1-Dec-2025");
	NO("SINCE 5-Dec-2025");
	YES("BEFORE 5-Dec-2025");
	NO("BEFORE 4-Dec-2025");
	/* Date: 3 Dec 2025 as written, whatever its zone */
	YES("SENTON 3-Dec-2025");
	NO("SENTON 4-Dec-2025");
	YES("SENTBEFORE 4-Dec-2025");
	NO("SENTBEFORE 3-Dec-2025");
	YES("SENTSINCE 3-Dec-2025");
	NO("SENTSINCE 4-Dec-2025");
	YES("LARGER 1999");
	NO("LARGER 2000");
	YES("SMALLER 2001");
	NO("SMALLER 2000");
	YES("YOUNGER 1000");
	NO("YOUNGER 999");
	YES("OLDER 999");
	NO("OLDER 1000");
	YES("MODSEQ 500");
	NO("MODSEQ 501");
	YES("MODSEQ \"/flags/\\\\Seen\" all 1");
}

static void test_sets(void **state)
{
	(void)state;
	YES("5");
	YES("1:4,5");
	YES("4:*");
	NO("6:*");
	NO("1:4");
	YES("UID 40");
	YES("UID 30:*");
	NO("UID 41:*");
	YES("NOT 6");
	NO("NOT 5");
	YES("OR 1 5");
	NO("OR 1 2");
	YES("(5 SEEN)");
	NO("(5 UNSEEN)");
	YES("OR (1 SEEN) (FLAGGED NOT 3)");
}

static void test_headers(void **state)
{
	(void)state;
	/* encoded words decoded: Subject is "ÉTE à Paris", From "André" */
	YES("SUBJECT paris");
	YES("CHARSET UTF-8 SUBJECT \"\xc3\xa9te\"");   /* é folds with É */
	YES("CHARSET UTF-8 SUBJECT \"\xc3\x89TE \xc3\xa0\"");
	NO("SUBJECT =?utf-8?b?");
	YES("CHARSET UTF-8 FROM \"andr\xc3\xa9\"");
	YES("FROM ANDRE@EXAMPLE");
	YES("TO bob");
	NO("TO carol");
	YES("CC carol");
	NO("BCC carol");
	YES("HEADER X-Spam NO");
	YES("HEADER x-spam \"\"");
	NO("HEADER X-Other \"\"");
	NO("HEADER X-Spam yes");
	/* a key on the inner message's header is no key on this one */
	NO("SUBJECT inner");
}

/* a header section longer than the MIME parser keeps (102400 bytes, whole
 * lines): the fields past that are not matched, whether the search splits
 * the header section alone (header keys) or parses the MIME tree (a body
 * key beside them): one answer either way */
/* pad_field - a field of about 500 bytes (under MESSAGE_HEADER_MAX fields
 * fill the limit) */
static void pad_field(struct buf *m)
{
	buf_append_str(m, "X-Pad: ");
	for (int i = 0; i < 49; i++)
		buf_append_str(m, "aaaaaaaaa ");
	buf_append_str(m, "\r\n");
}

static void test_long_header_section(void **state)
{
	(void)state;
	struct buf m;
	buf_init(&m);
	buf_append_str(&m, "Subject: early\r\nDate: 3 Dec 2025 10:00 +0000\r\n");
	while (m.len < 102400)
		pad_field(&m);
	buf_append_str(&m, "X-Late: tail\r\n\r\nthe body\r\n");
	current = m.data;
	YES("HEADER Subject early");
	YES("SENTON 3-Dec-2025");
	YES("HEADER X-Pad aaaa");
	NO("HEADER X-Late tail");
	NO("HEADER X-Late \"\"");
	YES("HEADER Subject early BODY body");
	NO("HEADER X-Late tail BODY body");
	/* within the limit, the last field is matched */
	buf_reset(&m);
	buf_append_str(&m, "Subject: early\r\n");
	while (m.len < 102000)
		pad_field(&m);
	buf_append_str(&m, "X-Late: tail\r\n\r\nthe body\r\n");
	current = m.data;
	YES("HEADER X-Late tail");
	YES("HEADER X-Late tail BODY body");
	current = message;
	buf_free(&m);
}

static void test_body_text(void **state)
{
	(void)state;
	/* text parts decoded (quoted-printable, ISO-8859-1) and folded */
	YES("BODY \"est chaud\"");
	YES("CHARSET UTF-8 BODY \"caf\xc3\xa9\"");
	NO("BODY caf=E9");
	/* the attachment is no text */
	NO("BODY secret");
	NO("BODY c2VjcmV0");
	/* the text of a message/rfc822 part: base64, Greek folded */
	YES("CHARSET UTF-8 BODY \"\xce\xb1\xce\xb2\xce\xb3\"");
	YES("BODY <b>");
	/* TEXT: the header or the body */
	YES("TEXT paris");
	YES("TEXT chaud");
	YES("TEXT x-spam");
	NO("TEXT nowhere");
	NO("BODY paris");
}

static void test_responses(void **state)
{
	(void)state;
	struct buf out;
	buf_init(&out);
	uint32_t r[] = { 2, 3, 4, 7, 9, 10 };
	imap_search_response_append(&out, r, 6, 0);
	assert_string_equal(out.data, "* SEARCH 2 3 4 7 9 10\r\n");
	buf_reset(&out);
	imap_search_response_append(&out, NULL, 0, 0);
	assert_string_equal(out.data, "* SEARCH\r\n");
	buf_reset(&out);
	imap_search_response_append(&out, r, 2, 917162500);
	assert_string_equal(out.data, "* SEARCH 2 3 (MODSEQ 917162500)\r\n");
	buf_reset(&out);
	imap_esearch_response_append(&out, "A282", false,
				     IMAP_SEARCH_RETURN_MIN | IMAP_SEARCH_RETURN_COUNT, r, 6, 0);
	assert_string_equal(out.data, "* ESEARCH (TAG \"A282\") MIN 2 COUNT 6\r\n");
	buf_reset(&out);
	imap_esearch_response_append(&out, "t\"1", true, IMAP_SEARCH_RETURN_ALL |
				     IMAP_SEARCH_RETURN_MAX, r, 6, 9);
	assert_string_equal(out.data, "* ESEARCH (TAG \"t\\\"1\") UID MAX 10 ALL 2:4,7,9:10 "
			    "MODSEQ 9\r\n");
	buf_reset(&out);
	/* nothing found: only COUNT (RFC 4731 3.1) */
	imap_esearch_response_append(&out, "x", false, 0xf, NULL, 0, 0);
	assert_string_equal(out.data, "* ESEARCH (TAG \"x\") COUNT 0\r\n");
	buf_reset(&out);
	imap_esearch_response_append(&out, "x", true, IMAP_SEARCH_RETURN_ALL, NULL, 0, 0);
	assert_string_equal(out.data, "* ESEARCH (TAG \"x\") UID\r\n");
	buf_free(&out);
}

static void test_needs_file(void **state)
{
	(void)state;
	struct { const char *keys; bool file, body; } cases[] = {
		{ "SEEN 1:5 UID 3 LARGER 4 SINCE 1-Jan-2020", false, false },
		{ "OR SEEN (NOT SUBJECT x)", true, false }, { "SENTON 1-Jan-2020", true, false },
		{ "BODY x", true, true }, { "TEXT x", true, true }, { "HEADER a b", true, false },
		{ "OR FROM a (NOT BODY x)", true, true },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char line[256];
		snprintf(line, sizeof(line), "a SEARCH %s\r\n", cases[i].keys);
		struct imap_command cmd;
		const char *tag, *error;
		struct imap_parse_limits limits = { 16, 1000 };
		assert_int_equal(imap_command_parse(line, strlen(line), &limits, &cmd, &tag,
						    &error), 0);
		struct imap_search s;
		assert_int_equal(imap_search_parse(cmd.args, cmd.count, &s, &error), 0);
		assert_int_equal(imap_search_needs_file(&s.root), cases[i].file);
		assert_int_equal(imap_search_needs_body(&s.root), cases[i].body);
		imap_search_free(&s);
		imap_command_free(&cmd);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_flags),
		cmocka_unit_test(test_dates_sizes),
		cmocka_unit_test(test_sets),
		cmocka_unit_test(test_headers),
		cmocka_unit_test(test_long_header_section),
		cmocka_unit_test(test_body_text),
		cmocka_unit_test(test_responses),
		cmocka_unit_test(test_needs_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
