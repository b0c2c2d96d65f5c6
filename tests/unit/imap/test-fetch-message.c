/* tests/unit/imap/test-fetch-message - the FETCH response of one message
 * (src/imap/fetch.c): every item and section form of RFC 9051 6.4.5, the
 * partial ranges, BINARY (RFC 3516) and MODSEQ (RFC 7162), on messages whose
 * sections were worked out by hand. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap/imap.h"
#include "imap/parse.h"
#include "mailbox/mailbox.h"
#include "util/buf.h"

static const char nested[] =
	"From: Alice <a@example.org>\r\n"
	"Subject: Hi\r\n"
	"Content-Type: multipart/mixed; boundary=\"XX\"\r\n"
	"\r\n"
	"preamble\r\n"
	"--XX\r\n"
	"Content-Type: text/plain; charset=utf-8\r\n"
	"Content-Transfer-Encoding: quoted-printable\r\n"
	"\r\n"
	"caf=C3=A9\r\n"
	"--XX\r\n"
	"Content-Type: message/rfc822\r\n"
	"\r\n"
	"Subject: inner\r\n"
	"X-A: 1\r\n"
	"Content-Type: multipart/alternative; boundary=YY\r\n"
	"\r\n"
	"--YY\r\n"
	"Content-Type: text/plain\r\n"
	"\r\n"
	"plain\r\n"
	"--YY\r\n"
	"Content-Type: text/html\r\n"
	"\r\n"
	"<b>html</b>\r\n"
	"--YY--\r\n"
	"--XX\r\n"
	"Content-Type: application/octet-stream\r\n"
	"Content-Transfer-Encoding: base64\r\n"
	"\r\n"
	"AAEC\r\n"
	"--XX\r\n"
	"Content-Type: application/x-odd\r\n"
	"Content-Transfer-Encoding: x-uuencode\r\n"
	"\r\n"
	"begin\r\n"
	"--XX--\r\n"
	"epilogue\r\n";

static struct mailbox_message record = {
	.uid = 42, .flags = MAILBOX_FLAG_SEEN | MAILBOX_FLAG_FORWARDED, .keywords = 2,
	.modseq = 77, .size = 123, .internal_date = 1764937800, /* 05-Dec-2025 12:30:00 */
	.recent = true,
};
static char *keyword_names[] = { "$Junk", "work" };

/* fetch - the response of "FETCH 7 ITEMS" for DATA, or NULL and *ERROR_R */
static char *fetch_ctx(const char *items, const char *data, size_t len,
		       const struct imap_fetch_context *ctx, const char **error_r)
{
	char line[2048];
	snprintf(line, sizeof(line), "a FETCH 7 %s\r\n", items);
	struct imap_command cmd;
	const char *tag, *error;
	struct imap_parse_limits limits = { 16, 1000 };
	assert_int_equal(imap_command_parse(line, strlen(line), &limits, &cmd, &tag, &error), 0);
	struct imap_fetch f;
	if (imap_fetch_parse(cmd.args + 1, cmd.count - 1, &f, &error) != 0) {
		print_error("%s: %s\n", items, error);
		fail();
	}
	struct buf out;
	buf_init(&out);
	buf_append_str(&out, "before|");
	char *result = NULL;
	/* as the session gives it: the header section alone (from
	 * petrel.cache) when every item needs only that */
	bool complete;
	if (data != NULL && imap_fetch_header_only(&f))
		len = mailbox_header_length(data, len, &complete);
	if (imap_fetch_message_append(&out, &f, ctx, 7, &record,
				      imap_fetch_needs_file(&f) ? data : NULL, len, error_r) == 0) {
		assert_true(strncmp(out.data, "before|", 7) == 0);
		result = malloc(out.len - 7 + 1);
		memcpy(result, out.data + 7, out.len - 7 + 1);
	} else {
		assert_string_equal(out.data, "before|");
	}
	buf_free(&out);
	imap_fetch_free(&f);
	imap_command_free(&cmd);
	return result;
}

static char *fetch(const char *items, const char *data)
{
	struct imap_fetch_context ctx = { .keywords = keyword_names, .keyword_count = 2 };
	const char *error;
	char *r = fetch_ctx(items, data, strlen(data), &ctx, &error);
	assert_non_null(r);
	return r;
}

static void expect(const char *items, const char *data, const char *want)
{
	char *got = fetch(items, data);
	if (strcmp(got, want) != 0) {
		print_error("FETCH %s\ngot  %s\nwant %s\n", items, got, want);
		free(got);
		fail();
	}
	free(got);
}

static void test_simple_items(void **state)
{
	(void)state;
	expect("(FLAGS UID)", nested, "* 7 FETCH (FLAGS (\\Seen $Forwarded work) UID 42)\r\n");
	expect("INTERNALDATE", nested, "* 7 FETCH (INTERNALDATE \"05-Dec-2025 12:30:00 +0000\")\r\n");
	expect("RFC822.SIZE", nested, "* 7 FETCH (RFC822.SIZE 123)\r\n");
	expect("MODSEQ", nested, "* 7 FETCH (MODSEQ (77))\r\n");
	expect("FAST", nested, "* 7 FETCH (FLAGS (\\Seen $Forwarded work) "
	       "INTERNALDATE \"05-Dec-2025 12:30:00 +0000\" RFC822.SIZE 123)\r\n");
	char *all = fetch("ALL", nested);
	assert_non_null(strstr(all, "ENVELOPE (NIL \"Hi\" ((\"Alice\" NIL \"a\" \"example.org\"))"));
	assert_null(strstr(all, "BODY"));
	free(all);
	char *full = fetch("FULL", nested);
	assert_non_null(strstr(full, " BODY ((\"text\" \"plain\""));
	free(full);
	char *bs = fetch("BODYSTRUCTURE", nested);
	assert_non_null(strstr(bs, "\"mixed\" (\"boundary\" \"XX\") NIL NIL NIL)"));
	free(bs);
}

/* test_context - what the session adds: UID first for UID FETCH, FLAGS
 * after \Seen was set, MODSEQ under CONDSTORE, \Recent for IMAP4rev1 */
static void test_context(void **state)
{
	(void)state;
	struct imap_fetch_context ctx = { .uid = true, .flags = true, .modseq = true,
					  .recent = true, .keywords = keyword_names,
					  .keyword_count = 2 };
	const char *error;
	char *got = fetch_ctx("RFC822.SIZE", nested, strlen(nested), &ctx, &error);
	assert_string_equal(got, "* 7 FETCH (UID 42 RFC822.SIZE 123 FLAGS (\\Seen $Forwarded "
			    "\\Recent work) MODSEQ (77))\r\n");
	free(got);
	got = fetch_ctx("(MODSEQ UID FLAGS)", nested, strlen(nested), &ctx, &error);
	assert_string_equal(got, "* 7 FETCH (MODSEQ (77) UID 42 FLAGS (\\Seen $Forwarded "
			    "\\Recent work))\r\n");
	free(got);
}

static void test_rfc822(void **state)
{
	(void)state;
	const char *msg = "Subject: x\r\n\r\nbody\r\n";
	expect("RFC822", msg, "* 7 FETCH (RFC822 {20}\r\nSubject: x\r\n\r\nbody\r\n)\r\n");
	expect("RFC822.HEADER", msg, "* 7 FETCH (RFC822.HEADER {14}\r\nSubject: x\r\n\r\n)\r\n");
	expect("RFC822.TEXT", msg, "* 7 FETCH (RFC822.TEXT {6}\r\nbody\r\n)\r\n");
	expect("BODY[]", msg, "* 7 FETCH (BODY[] {20}\r\nSubject: x\r\n\r\nbody\r\n)\r\n");
	expect("BODY.PEEK[]<2.5>", msg, "* 7 FETCH (BODY[]<2> {5}\r\nbject)\r\n");
	expect("BODY[]<18.10>", msg, "* 7 FETCH (BODY[]<18> {2}\r\n\r\n)\r\n");
	expect("BODY[]<100.10>", msg, "* 7 FETCH (BODY[]<100> {0}\r\n)\r\n");
	/* a non-multipart message has one part, its body */
	expect("BODY[1]", msg, "* 7 FETCH (BODY[1] {6}\r\nbody\r\n)\r\n");
	expect("BODY[1.MIME]", msg, "* 7 FETCH (BODY[1.MIME] {14}\r\nSubject: x\r\n\r\n)\r\n");
	expect("BODY[2]", msg, "* 7 FETCH (BODY[2] NIL)\r\n");
	expect("BODY[1.1]", msg, "* 7 FETCH (BODY[1.1] NIL)\r\n");
}

static void test_sections(void **state)
{
	(void)state;
	expect("BODY[HEADER]", nested, "* 7 FETCH (BODY[HEADER] {90}\r\n"
	       "From: Alice <a@example.org>\r\nSubject: Hi\r\n"
	       "Content-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n)\r\n");
	expect("BODY.PEEK[HEADER.FIELDS (subject FROM x-none)]", nested,
	       "* 7 FETCH (BODY[HEADER.FIELDS (subject FROM x-none)] {44}\r\n"
	       "From: Alice <a@example.org>\r\nSubject: Hi\r\n\r\n)\r\n");
	expect("BODY.PEEK[HEADER.FIELDS.NOT (From Content-Type)]", nested,
	       "* 7 FETCH (BODY[HEADER.FIELDS.NOT (From Content-Type)] {15}\r\n"
	       "Subject: Hi\r\n\r\n)\r\n");
	expect("BODY[1]", nested, "* 7 FETCH (BODY[1] {9}\r\ncaf=C3=A9)\r\n");
	expect("BODY[1.MIME]", nested, "* 7 FETCH (BODY[1.MIME] {88}\r\n"
	       "Content-Type: text/plain; charset=utf-8\r\n"
	       "Content-Transfer-Encoding: quoted-printable\r\n\r\n)\r\n");
	/* the message/rfc822 part: its body is the message inside */
	expect("BODY[2.HEADER]", nested, "* 7 FETCH (BODY[2.HEADER] {76}\r\n"
	       "Subject: inner\r\nX-A: 1\r\n"
	       "Content-Type: multipart/alternative; boundary=YY\r\n\r\n)\r\n");
	expect("BODY[2.HEADER.FIELDS (X-A)]", nested,
	       "* 7 FETCH (BODY[2.HEADER.FIELDS (X-A)] {10}\r\nX-A: 1\r\n\r\n)\r\n");
	expect("BODY[2.1]", nested, "* 7 FETCH (BODY[2.1] {5}\r\nplain)\r\n");
	expect("BODY[2.2]", nested, "* 7 FETCH (BODY[2.2] {11}\r\n<b>html</b>)\r\n");
	expect("BODY[2.2.MIME]", nested,
	       "* 7 FETCH (BODY[2.2.MIME] {27}\r\nContent-Type: text/html\r\n\r\n)\r\n");
	expect("BODY[2.MIME]", nested,
	       "* 7 FETCH (BODY[2.MIME] {32}\r\nContent-Type: message/rfc822\r\n\r\n)\r\n");
	char *text = fetch("BODY[2.TEXT]", nested);
	assert_true(strncmp(text, "* 7 FETCH (BODY[2.TEXT] {", 25) == 0);
	assert_non_null(strstr(text, "}\r\n--YY\r\nContent-Type: text/plain\r\n"));
	assert_non_null(strstr(text, "--YY--)\r\n"));
	free(text);
	/* HEADER of a part that holds no message; parts that do not exist */
	expect("BODY[1.HEADER]", nested, "* 7 FETCH (BODY[1.HEADER] NIL)\r\n");
	expect("BODY[9]", nested, "* 7 FETCH (BODY[9] NIL)\r\n");
	expect("BODY[1.2]", nested, "* 7 FETCH (BODY[1.2] NIL)\r\n");
	expect("BODY[2.3]", nested, "* 7 FETCH (BODY[2.3] NIL)\r\n");
	/* the message's text runs to its end, epilogue included */
	text = fetch("BODY[TEXT]", nested);
	assert_true(strncmp(text, "* 7 FETCH (BODY[TEXT] {", 23) == 0);
	assert_non_null(strstr(text, "}\r\npreamble\r\n--XX\r\n"));
	assert_non_null(strstr(text, "--XX--\r\nepilogue\r\n)\r\n"));
	free(text);
	expect("BODY[1]<3.100>", nested, "* 7 FETCH (BODY[1]<3> {6}\r\n=C3=A9)\r\n");
}

static void test_binary(void **state)
{
	(void)state;
	expect("BINARY[1]", nested, "* 7 FETCH (BINARY[1] {5}\r\ncaf\xc3\xa9)\r\n");
	expect("BINARY.SIZE[1]", nested, "* 7 FETCH (BINARY.SIZE[1] 5)\r\n");
	expect("BINARY.PEEK[1]<3.9>", nested, "* 7 FETCH (BINARY[1]<3> {2}\r\n\xc3\xa9)\r\n");
	/* decoded content with a NUL goes as literal8 */
	char *got = fetch("BINARY[3]", nested);
	assert_memory_equal(got, "* 7 FETCH (BINARY[3] ~{3}\r\n\0\1\2)\r\n", 32);
	free(got);
	expect("BINARY.SIZE[3]", nested, "* 7 FETCH (BINARY.SIZE[3] 3)\r\n");
	expect("BINARY[2.1]", nested, "* 7 FETCH (BINARY[2.1] {5}\r\nplain)\r\n");
	expect("BINARY[9]", nested, "* 7 FETCH (BINARY[9] NIL)\r\n");
	/* an encoding nobody knows: NO [UNKNOWN-CTE], nothing appended */
	struct imap_fetch_context ctx = { 0 };
	const char *error = NULL;
	assert_null(fetch_ctx("(UID BINARY[4])", nested, strlen(nested), &ctx, &error));
	assert_non_null(error);
	assert_true(strncmp(error, "[UNKNOWN-CTE] ", 14) == 0);
	assert_null(fetch_ctx("BINARY.SIZE[4]", nested, strlen(nested), &ctx, &error));
	/* BODY of the same part is fine */
	expect("BODY[4]", nested, "* 7 FETCH (BODY[4] {5}\r\nbegin)\r\n");
}

static void test_needs_and_seen(void **state)
{
	(void)state;
	struct { const char *items; bool file, seen, header; } cases[] = {
		{ "(FLAGS UID MODSEQ)", false, false, true }, { "FAST", false, false, true },
		{ "ALL", true, false, true }, { "BODY.PEEK[]", true, false, false },
		{ "BODY[]", true, true, false }, { "RFC822", true, true, false },
		{ "RFC822.HEADER", true, false, false }, { "RFC822.TEXT", true, true, false },
		{ "BINARY[1]", true, true, false }, { "BINARY.PEEK[1]", true, false, false },
		{ "BINARY.SIZE[1]", true, false, false }, { "BODYSTRUCTURE", true, false, false },
		{ "(UID ENVELOPE)", true, false, true }, { "(ENVELOPE BODY)", true, false, false },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char line[256];
		snprintf(line, sizeof(line), "a FETCH 1 %s\r\n", cases[i].items);
		struct imap_command cmd;
		const char *tag, *error;
		struct imap_parse_limits limits = { 16, 1000 };
		assert_int_equal(imap_command_parse(line, strlen(line), &limits, &cmd, &tag,
						    &error), 0);
		struct imap_fetch f;
		assert_int_equal(imap_fetch_parse(cmd.args + 1, cmd.count - 1, &f, &error), 0);
		assert_int_equal(imap_fetch_needs_file(&f), cases[i].file);
		assert_int_equal(imap_fetch_sets_seen(&f), cases[i].seen);
		assert_int_equal(imap_fetch_header_only(&f), cases[i].header);
		imap_fetch_free(&f);
		imap_command_free(&cmd);
	}
}

/* test_lf_message - a file with bare LF line ends (another MDA wrote it):
 * the sections are its bytes as they are; HEADER.FIELDS ends with CRLF */
static void test_lf_message(void **state)
{
	(void)state;
	const char *msg = "Subject: x\nFrom: y\n\nbody\n";
	expect("BODY[HEADER.FIELDS (FROM)]", msg,
	       "* 7 FETCH (BODY[HEADER.FIELDS (FROM)] {10}\r\nFrom: y\n\r\n)\r\n");
	expect("BODY[TEXT]", msg, "* 7 FETCH (BODY[TEXT] {5}\r\nbody\n)\r\n");
	/* a header without its empty line nor a final line break */
	expect("BODY[HEADER.FIELDS (Subject)]", "Subject: x",
	       "* 7 FETCH (BODY[HEADER.FIELDS (Subject)] {14}\r\nSubject: x\r\n\r\n)\r\n");
}

/* ---- the streamed response: chunks, windows, failures --------------------- */

/* A message file in memory that fails (-1) at reads past FAIL_AT */
struct test_source {
	const char *data;
	size_t len;
	size_t fail_at;
	size_t reads;
};

static ssize_t test_read(void *ctx, size_t offset, char *buf, size_t len)
{
	struct test_source *t = ctx;
	t->reads++;
	if (offset + len > t->fail_at)
		return -1;
	if (offset >= t->len)
		return 0;
	if (len > t->len - offset)
		len = t->len - offset;
	memcpy(buf, t->data + offset, len);
	return (ssize_t)len;
}

/* big_message - a message with a text part of TEXT_LEN octets (lines, some
 * starting with ".") and a base64 part of the BIN_LEN octets of *BIN_R;
 * the text part's bytes in *TEXT_R (pointers into the message) */
static char *big_message(size_t text_len, size_t bin_len, size_t *len_r, const char **text_r,
			 unsigned char **bin_r)
{
	static const char b64[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	struct buf m;
	buf_init(&m);
	buf_append_str(&m, "From: a@example.org\r\nSubject: big\r\n"
		       "Content-Type: multipart/mixed; boundary=B\r\n\r\n"
		       "--B\r\nContent-Type: text/plain\r\n\r\n");
	size_t text_at = m.len;
	for (unsigned n = 0; m.len - text_at < text_len; n++)
		buf_printf(&m, "%sline %u of the text part, long enough\r\n", n % 7 ? "" : ".", n);
	m.len = text_at + text_len;   /* the part ends where the boundary's CRLF starts */
	buf_append_str(&m, "\r\n--B\r\nContent-Type: application/octet-stream\r\n"
		       "Content-Transfer-Encoding: base64\r\n\r\n");
	unsigned char *bin = malloc(bin_len ? bin_len : 1);
	for (size_t i = 0; i < bin_len; i++)
		bin[i] = (unsigned char)(i * 7 + (i >> 9));
	for (size_t i = 0, col = 0; i < bin_len; i += 3) {
		uint32_t v = (uint32_t)bin[i] << 16;
		if (i + 1 < bin_len)
			v |= (uint32_t)bin[i + 1] << 8;
		if (i + 2 < bin_len)
			v |= bin[i + 2];
		char q[4] = { b64[v >> 18], b64[(v >> 12) & 63],
			      i + 1 < bin_len ? b64[(v >> 6) & 63] : '=',
			      i + 2 < bin_len ? b64[v & 63] : '=' };
		buf_append(&m, q, 4);
		if ((col += 4) == 76 || i + 3 >= bin_len) {
			buf_append(&m, "\r\n", 2);
			col = 0;
		}
	}
	buf_append_str(&m, "--B--\r\n");
	*len_r = m.len;
	*text_r = m.data + text_at;
	*bin_r = bin;
	return m.data;
}

/* stream - the response to ITEMS over SRC, written STEP octets at a time;
 * every call short of the end gives at least STEP octets.  NULL and
 * *ERROR_R when the start or a step fails. */
static char *stream(const char *items, struct test_source *src, size_t step, size_t *len_r,
		    const char **error_r)
{
	char line[2048];
	snprintf(line, sizeof(line), "a FETCH 7 %s\r\n", items);
	struct imap_command cmd;
	const char *tag;
	struct imap_parse_limits limits = { 16, 1000 };
	assert_int_equal(imap_command_parse(line, strlen(line), &limits, &cmd, &tag, error_r), 0);
	struct imap_fetch f;
	assert_int_equal(imap_fetch_parse(cmd.args + 1, cmd.count - 1, &f, error_r), 0);
	struct imap_fetch_context ctx = { .keywords = keyword_names, .keyword_count = 2 };
	struct imap_fetch_source fs = { .size = src->len, .read = test_read, .ctx = src };
	struct imap_fetch_stream *st;
	struct buf out;
	char *result = NULL;
	buf_init(&out);
	if (imap_fetch_message_start(&f, &ctx, 7, &record, &fs, &st, error_r) == 0) {
		int r;
		do {
			size_t before = out.len;
			r = imap_fetch_stream_next(st, &fs, &out, step, error_r);
			if (r == 0)
				assert_true(out.len - before >= step);
		} while (r == 0);
		imap_fetch_stream_free(&st);
		if (r == 1) {
			result = malloc(out.len + 1);
			memcpy(result, out.data, out.len + 1);
			*len_r = out.len;
		}
	} else {
		assert_null(st);
	}
	buf_free(&out);
	imap_fetch_free(&f);
	imap_command_free(&cmd);
	return result;
}

/* literal_at - the data of the literal after "NAME {n}\r\n" (or "~{n}") in
 * RESPONSE, and its size */
static const char *literal_at(const char *response, size_t len, const char *name, size_t *n_r)
{
	size_t name_len = strlen(name);
	for (size_t i = 0; i + name_len < len; i++) {
		if (memcmp(response + i, name, name_len) != 0)
			continue;
		const char *p = response + i + name_len;
		if (*p == '~')
			p++;
		assert_int_equal(*p, '{');
		char *end;
		*n_r = strtoul(p + 1, &end, 10);
		assert_memory_equal(end, "}\r\n", 3);
		return end + 3;
	}
	fail_msg("%s not in the response", name);
	return NULL;
}

static void test_stream_chunks(void **state)
{
	(void)state;
	const char *text;
	unsigned char *bin;
	size_t len, text_len = 300000, bin_len = 200003;
	char *msg = big_message(text_len, bin_len, &len, &text, &bin);
	const char *items = "(BODY.PEEK[1]<65530.70000> BINARY.PEEK[2] BINARY.PEEK[2]<65535.3> "
		"BINARY.SIZE[2] BODY.PEEK[2.MIME] BODY.PEEK[]<131070.5> "
		"BINARY.PEEK[2]<199990.100> BODY.PEEK[]<1000000.3>)";
	struct test_source src = { msg, len, SIZE_MAX, 0 };
	const char *error;
	size_t whole_len = 0;
	char *whole = stream(items, &src, SIZE_MAX, &whole_len, &error);
	assert_non_null(whole);
	size_t n;
	const char *data = literal_at(whole, whole_len, "BODY[1]<65530> ", &n);
	assert_int_equal(n, 70000);
	assert_memory_equal(data, text + 65530, n);
	data = literal_at(whole, whole_len, "BINARY[2] ", &n);
	assert_int_equal(n, bin_len);
	assert_memory_equal(data, bin, n);
	data = literal_at(whole, whole_len, "BINARY[2]<65535> ", &n);
	assert_int_equal(n, 3);
	assert_memory_equal(data, bin + 65535, n);
	data = literal_at(whole, whole_len, "BINARY[2]<199990> ", &n);
	assert_int_equal(n, 13);
	assert_memory_equal(data, bin + 199990, n);
	data = literal_at(whole, whole_len, "BODY[]<131070> ", &n);
	assert_int_equal(n, 5);
	assert_memory_equal(data, msg + 131070, n);
	assert_non_null(literal_at(whole, whole_len, "BODY[]<1000000> ", &n));
	assert_int_equal(n, 0);
	bool size_found = false;
	for (size_t i = 0; !size_found && i + 22 <= whole_len; i++)
		size_found = memcmp(whole + i, "BINARY.SIZE[2] 200003 ", 22) == 0;
	assert_true(size_found);
	/* the same octets whatever the pieces */
	const size_t steps[] = { 1, 4095, 65536, 100000 };
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		size_t got_len = 0;
		char *got = stream(items, &src, steps[i], &got_len, &error);
		assert_non_null(got);
		assert_int_equal(got_len, whole_len);
		assert_memory_equal(got, whole, whole_len);
		free(got);
	}
	free(whole);
	free(bin);
	free(msg);
}

static void test_stream_read_failure(void **state)
{
	(void)state;
	const char *text;
	unsigned char *bin;
	size_t len;
	char *msg = big_message(200000, 10, &len, &text, &bin);
	const char *error = NULL;
	size_t out_len;
	/* BODY[] needs no tree: the start reads nothing, a later step fails */
	struct test_source src = { msg, len, 150000, 0 };
	assert_null(stream("BODY.PEEK[]", &src, 1000, &out_len, &error));
	assert_string_equal(error, "Cannot read the message");
	/* ENVELOPE parses the message: the start fails, with a response code */
	src.reads = 0;
	assert_null(stream("(UID ENVELOPE)", &src, 1000, &out_len, &error));
	assert_string_equal(error, "[UNAVAILABLE] Cannot read the message");
	/* FLAGS reads nothing */
	src.reads = 0;
	char *r = stream("FLAGS", &src, 1000, &out_len, &error);
	assert_non_null(r);
	assert_int_equal(src.reads, 0);
	free(r);
	free(bin);
	free(msg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple_items),
		cmocka_unit_test(test_context),
		cmocka_unit_test(test_rfc822),
		cmocka_unit_test(test_sections),
		cmocka_unit_test(test_binary),
		cmocka_unit_test(test_needs_and_seen),
		cmocka_unit_test(test_lf_message),
		cmocka_unit_test(test_stream_chunks),
		cmocka_unit_test(test_stream_read_failure),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
