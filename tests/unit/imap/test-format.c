/* tests/unit/imap/test-format - strings, ENVELOPE and BODY/BODYSTRUCTURE
 * of messages parsed by message/, against the forms RFC 9051 7.5.2 and 9
 * give (worked out by hand for each message). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap/imap.h"
#include "message/message.h"
#include "util/buf.h"

static void expect(struct buf *out, const char *want)
{
	if (strcmp(out->data ? out->data : "", want) != 0) {
		print_error("got  %s\nwant %s\n", out->data, want);
		fail();
	}
	buf_reset(out);
}

static void test_strings(void **state)
{
	(void)state;
	struct buf out;
	buf_init(&out);
	imap_string_append(&out, "", 0, false);
	expect(&out, "\"\"");
	imap_string_append(&out, "a \"b\" \\c", 8, false);
	expect(&out, "\"a \\\"b\\\" \\\\c\"");
	imap_string_append(&out, "a\r\nb", 4, false);
	expect(&out, "{4}\r\na\r\nb");
	imap_string_append(&out, "caf\xc3\xa9", 5, false);
	expect(&out, "{5}\r\ncaf\xc3\xa9");
	imap_string_append(&out, "caf\xc3\xa9", 5, true);
	expect(&out, "\"caf\xc3\xa9\"");
	imap_string_append(&out, "\xff", 1, true);   /* not UTF-8 */
	expect(&out, "{1}\r\n\xff");
	imap_nstring_append(&out, NULL, false);
	expect(&out, "NIL");
	char big[1100];
	memset(big, 'x', sizeof(big));
	imap_string_append(&out, big, sizeof(big), true);
	assert_memory_equal(out.data, "{1100}\r\nxxx", 11);
	buf_free(&out);
}

static struct message_part *parse(const char *msg)
{
	struct message_mime_parser *p = message_mime_parser_create(NULL);
	message_mime_parser_feed(p, msg, strlen(msg));
	return message_mime_parser_finish(&p);
}

static const char mixed[] =
	"From: Alice <a@example.org>\r\n"
	"To: bob@example.net, Team: c@x.org, \"D\" <d@y.org>;\r\n"
	"Subject: Hi\r\n"
	"Date: Thu, 1 Feb 2024 10:00:00 +0000\r\n"
	"Message-ID: <m1@example.org>\r\n"
	"MIME-Version: 1.0\r\n"
	"Content-Type: multipart/mixed; boundary=\"XX\"\r\n"
	"\r\n"
	"preamble\r\n"
	"--XX\r\n"
	"Content-Type: text/plain; charset=utf-8\r\n"
	"\r\n"
	"hello\r\n"
	"--XX\r\n"
	"Content-Type: application/pdf; name=\"a.pdf\"\r\n"
	"Content-Disposition: attachment; filename=\"a.pdf\"\r\n"
	"Content-Transfer-Encoding: base64\r\n"
	"\r\n"
	"QUJD\r\n"
	"--XX--\r\n";

static void test_envelope(void **state)
{
	(void)state;
	struct message_part *root = parse(mixed);
	struct buf out;
	buf_init(&out);
	imap_envelope_append(&out, &root->headers, false);
	expect(&out, "(\"Thu, 1 Feb 2024 10:00:00 +0000\" \"Hi\" "
	       "((\"Alice\" NIL \"a\" \"example.org\")) "
	       "((\"Alice\" NIL \"a\" \"example.org\")) "
	       "((\"Alice\" NIL \"a\" \"example.org\")) "
	       "((NIL NIL \"bob\" \"example.net\")(NIL NIL \"Team\" NIL)"
	       "(NIL NIL \"c\" \"x.org\")(\"D\" NIL \"d\" \"y.org\")(NIL NIL NIL NIL)) "
	       "NIL NIL NIL \"<m1@example.org>\")");
	message_part_free(&root);

	/* no fields at all; a quoted local part; an unparsable To */
	root = parse("Sender: \"j d\"@x.org\r\nTo: <<<\r\n\r\nbody\r\n");
	imap_envelope_append(&out, &root->headers, false);
	expect(&out, "(NIL NIL NIL ((NIL NIL \"j d\" \"x.org\")) NIL NIL NIL NIL NIL NIL)");
	message_part_free(&root);
	buf_free(&out);
}

static void test_bodystructure(void **state)
{
	(void)state;
	struct message_part *root = parse(mixed);
	struct buf out;
	buf_init(&out);
	imap_bodystructure_append(&out, root, true, false);
	expect(&out, "((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 5 1 "
	       "NIL NIL NIL NIL)"
	       "(\"application\" \"pdf\" (\"name\" \"a.pdf\") NIL NIL \"base64\" 4 NIL "
	       "(\"attachment\" (\"filename\" \"a.pdf\")) NIL NIL) "
	       "\"mixed\" (\"boundary\" \"XX\") NIL NIL NIL)");
	imap_bodystructure_append(&out, root, false, false);
	expect(&out, "((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 5 1)"
	       "(\"application\" \"pdf\" (\"name\" \"a.pdf\") NIL NIL \"base64\" 4) \"mixed\")");
	message_part_free(&root);

	/* a plain message without MIME fields: text/plain; charset=us-ascii */
	root = parse("Subject: x\r\n\r\nline 1\r\nline 2\r\n");
	imap_bodystructure_append(&out, root, false, false);
	expect(&out, "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 16 2)");
	message_part_free(&root);

	/* a message/rfc822 part: its envelope, its body, its lines */
	root = parse("Content-Type: message/rfc822\r\n"
		     "Content-ID: <c1>\r\n"
		     "Content-Description: fwd\r\n"
		     "\r\n"
		     "Subject: inner\r\n"
		     "\r\n"
		     "hi\r\n");
	imap_bodystructure_append(&out, root, false, false);
	expect(&out, "(\"message\" \"rfc822\" NIL \"<c1>\" \"fwd\" \"7bit\" 22 "
	       "(NIL \"inner\" NIL NIL NIL NIL NIL NIL NIL NIL) "
	       "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 4 1) 3)");
	message_part_free(&root);

	/* a multipart whose boundary never comes: an empty text/plain part */
	root = parse("Content-Type: multipart/mixed; boundary=zz\r\n\r\nno parts\r\n");
	imap_bodystructure_append(&out, root, false, false);
	expect(&out, "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0)");
	message_part_free(&root);
	buf_free(&out);
}

/* test_bodystructure_opaque_message - a message/rfc822 part the parser
 * keeps opaque (base64 encoded, RFC 2046 5.2.1 forbids it) still has the
 * envelope, body and lines RFC 9051 9 body-type-msg requires after
 * "message" "rfc822", as one past the parser's limits has; a
 * Content-Transfer-Encoding with a comment is given as its token */
static void test_bodystructure_opaque_message(void **state)
{
	(void)state;
	struct buf out;
	buf_init(&out);
	struct message_part *root = parse("Content-Type: message/rfc822\r\n"
					  "Content-Transfer-Encoding: base64\r\n"
					  "\r\n"
					  "RnJvbTogYkBleGFtcGxlLm9yZw0KDQpoaQ0K\r\n");
	imap_bodystructure_append(&out, root, false, false);
	expect(&out, "(\"message\" \"rfc822\" NIL NIL NIL \"base64\" 38 "
	       "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) "
	       "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0) 1)");
	message_part_free(&root);

	root = parse("Content-Type: application/octet-stream\r\n"
		     "Content-Transfer-Encoding: BASE64 (comment)\r\n"
		     "\r\n"
		     "AAEC\r\n");
	imap_bodystructure_append(&out, root, false, false);
	expect(&out, "(\"application\" \"octet-stream\" NIL NIL NIL \"base64\" 6)");
	message_part_free(&root);
	buf_free(&out);
}

/* test_bodystructure_language - body-fld-lang: one Content-Language tag
 * as a string, several as a list (RFC 9051 7.5.2, RFC 3282 2) */
static void test_bodystructure_language(void **state)
{
	(void)state;
	struct buf out;
	buf_init(&out);
	struct message_part *root = parse("Content-Language: en (English, UK), fr (French \\) (x))\r\n\r\nx\r\n");
	imap_bodystructure_append(&out, root, true, false);
	expect(&out, "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 3 1 NIL NIL "
	       "(\"en\" \"fr\") NIL)");
	message_part_free(&root);
	root = parse("Content-Language: de\r\n\r\nx\r\n");
	imap_bodystructure_append(&out, root, true, false);
	expect(&out, "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 3 1 NIL NIL "
	       "\"de\" NIL)");
	message_part_free(&root);
	buf_free(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_envelope),
		cmocka_unit_test(test_bodystructure),
		cmocka_unit_test(test_bodystructure_opaque_message),
		cmocka_unit_test(test_bodystructure_language),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
