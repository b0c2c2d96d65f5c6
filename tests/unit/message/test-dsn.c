/* tests/unit/message/test-dsn - dsn_build.  Each DSN is checked here for
 * CRLF, line lengths and its structure, then written to a temporary file and
 * checked by check_dsn.py with Python's email package (TESTING.md, "Messages
 * Petrel writes").  PETREL_SOURCE_ROOT (set by meson test) locates it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "message/message.h"
#include "util/xalloc.h"

#define T_ARRIVAL 1795946400   /* Sun, 29 Nov 2026 10:00:00 +0000 */

static const char original_msg[] =
	"Received: from client.example.com (client.example.com [192.0.2.7])\r\n"
	"\tby mx.example.net with ESMTPS id 4Xyz; Sun, 29 Nov 2026 10:00:00 +0000\r\n"
	"From: Alice <alice@example.com>\r\n"
	"To: bob@example.org, carol@example.org\r\n"
	"Subject: Lunch on Thursday?\r\n"
	"Date: Sun, 29 Nov 2026 09:59:58 +0000\r\n"
	"Message-ID: <lunch.1@example.com>\r\n"
	"\r\n"
	"Shall we meet at noon?\r\n"
	"BODY-MARKER\r\n";

static const char original_utf8[] =
	"From: Søren <søren@example.dk>\r\n"
	"To: jöhn@exämple.org\r\n"
	"Subject: Grüße aus Kopenhagen\r\n"
	"Date: Sun, 29 Nov 2026 09:59:58 +0000\r\n"
	"Message-ID: <gruss.1@example.dk>\r\n"
	"MIME-Version: 1.0\r\n"
	"Content-Type: text/plain; charset=utf-8\r\n"
	"Content-Transfer-Encoding: 8bit\r\n"
	"\r\n"
	"Hej! Æblegrød.\r\n";

/* check_lines - CRLF only, every line at most 998 octets (RFC 5322 2.1.1) */
static void check_lines(const struct buf *b)
{
	size_t line = 0;

	assert_true(b->len >= 2);
	assert_memory_equal(b->data + b->len - 2, "\r\n", 2);
	for (size_t i = 0; i < b->len; i++) {
		if (b->data[i] == '\n') {
			assert_true(i > 0 && b->data[i - 1] == '\r');
			line = 0;
		} else if (b->data[i] == '\r') {
			assert_true(i + 1 < b->len && b->data[i + 1] == '\n');
		} else if (++line > 998) {
			fail_msg("line longer than 998 octets at offset %zu", i);
		}
	}
}

/* has - B contains S */
static bool has(const struct buf *b, const char *s)
{
	return memmem(b->data, b->len, s, strlen(s)) != NULL;
}

/* run_check - write B to a file and run check_dsn.py on it with ARGS */
static void run_check(const struct buf *b, const char *args)
{
	const char *root = getenv("PETREL_SOURCE_ROOT");
	char path[] = "/tmp/petrel-test-dsn-XXXXXX";
	int fd;

	if (root == NULL) {
		print_message("PETREL_SOURCE_ROOT not set: check_dsn.py skipped\n");
		return;
	}
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, b->data, b->len), (ssize_t)b->len);
	assert_int_equal(close(fd), 0);
	char *cmd = xasprintf("/usr/bin/python3 '%s/tests/unit/message/check_dsn.py' '%s' %s",
			      root, path, args);
	int rc = system(cmd);
	free(cmd);
	if (rc != 0)
		fail_msg("check_dsn.py failed (%d) on %s (kept): %s", rc, path, args);
	assert_int_equal(unlink(path), 0);
}

static struct dsn_report base_report(void)
{
	return (struct dsn_report){
		.reporting_mta = "mx.example.net",
		.from = "MAILER-DAEMON@mx.example.net",
		.to = "alice@example.com",
		.envid = "QQ314159",
		.queue_id = "4Xyz",
		.received_from = "client.example.com ([192.0.2.7])",
		.arrival = T_ARRIVAL,
		.original = original_msg,
		.original_len = sizeof(original_msg) - 1,
	};
}

/* long_diagnostic - about 2 KiB of words, as a verbose server might send */
static char *long_diagnostic(void)
{
	struct buf b;

	buf_init(&b);
	buf_append_str(&b, "552 5.2.2 mailbox full:");
	while (b.len < 2048)
		buf_printf(&b, " quota-detail-%zu", b.len);
	return b.data;
}

static void test_failure_two_recipients(void **state)
{
	char *diag = long_diagnostic();
	struct dsn_recipient rcpts[2] = {
		{ .final_recipient = "bob@example.org",
		  .original_recipient = "rfc822;Bob@Example.ORG",
		  .action = "failed", .status = "5.1.1", .remote_mta = "mx1.example.org",
		  .diagnostic = "550 5.1.1 <bob@example.org>: Recipient address rejected: "
				"User unknown in virtual mailbox table",
		  .last_attempt = T_ARRIVAL + 5 },
		{ .final_recipient = "carol@example.org", .action = "failed", .status = "5.2.2",
		  .remote_mta = "mx2.example.org", .diagnostic = diag,
		  .last_attempt = T_ARRIVAL + 6 },
	};
	struct dsn_report report = base_report();
	struct buf b;

	(void)state;
	buf_init(&b);
	dsn_build(&report, rcpts, 2, &b);
	check_lines(&b);
	assert_true(has(&b, "\r\nAuto-Submitted: auto-replied\r\n"));
	assert_true(has(&b, "\r\nSubject: Undelivered Mail Returned to Sender\r\n"));
	assert_true(has(&b, "From: Mail Delivery System <MAILER-DAEMON@mx.example.net>\r\n"));
	assert_true(has(&b, "\r\nTo: <alice@example.com>\r\n"));
	assert_true(has(&b, "\r\nReporting-MTA: dns; mx.example.net\r\n"));
	assert_true(has(&b, "\r\nOriginal-Envelope-Id: QQ314159\r\n"));
	assert_true(has(&b, "\r\nArrival-Date: Sun, 29 Nov 2026 10:00:00 +0000\r\n"));
	assert_true(has(&b, "\r\nOriginal-Recipient: rfc822;Bob@Example.ORG\r\n"
			    "Final-Recipient: rfc822; bob@example.org\r\nAction: failed\r\n"
			    "Status: 5.1.1\r\nRemote-MTA: dns; mx1.example.org\r\n"));
	assert_true(has(&b, "\r\nLast-Attempt-Date: Sun, 29 Nov 2026 10:00:05 +0000\r\n"));
	assert_true(has(&b, "Content-Type: message/rfc822\r\n"));
	assert_true(has(&b, "BODY-MARKER"));
	assert_false(has(&b, "Will-Retry-Until"));
	char *args = xasprintf("--envid QQ314159 "
			       "--rcpt 'rfc822; bob@example.org|failed|5.1.1|rfc822;Bob@Example.ORG|"
			       "%s' --rcpt 'rfc822; carol@example.org|failed|5.2.2||%s'",
			       rcpts[0].diagnostic, diag);
	run_check(&b, args);
	free(args);
	buf_free(&b);
	free(diag);
}

static void test_delay(void **state)
{
	struct buf token, b;
	struct dsn_report report = base_report();

	(void)state;
	buf_init(&token);
	buf_append_str(&token, "451 4.4.1 ");
	for (int i = 0; i < 1500; i++)
		buf_append(&token, "x", 1);
	buf_append_str(&token, " try later");
	struct dsn_recipient rcpt = {
		.final_recipient = "dave@example.org", .action = "delayed", .status = "4.4.1",
		.remote_mta = "mx.example.org", .diagnostic = token.data,
		.last_attempt = T_ARRIVAL + 3600, .will_retry_until = T_ARRIVAL + 5 * 86400,
	};
	report.delay = true;
	report.envid = NULL;
	buf_init(&b);
	dsn_build(&report, &rcpt, 1, &b);
	check_lines(&b);
	assert_true(has(&b, "\r\nSubject: Delayed Mail (still being retried)\r\n"));
	assert_true(has(&b, "\r\nWill-Retry-Until: Fri, 04 Dec 2026 10:00:00 +0000\r\n"));
	assert_true(has(&b, "retried until Fri, 04 Dec 2026 10:00:00 +0000"));
	assert_true(has(&b, "xxx...\r\n"));
	assert_false(has(&b, "Original-Envelope-Id"));
	char *args = xasprintf("--delay --rcpt 'rfc822; dave@example.org|delayed|4.4.1||%s'",
			       token.data);
	run_check(&b, args);
	free(args);
	buf_free(&b);
	buf_free(&token);
}

/* a note for people (the queue's expiry) comes before the reply, in the
 * text part only: the delivery-status part keeps the last attempt's reply */
static void test_note(void **state)
{
	struct dsn_recipient rcpt = {
		.final_recipient = "erin@example.org", .action = "failed", .status = "4.7.1",
		.remote_mta = "mx.example.org", .diagnostic = "451 4.7.1 try again later",
		.note = "Message expired after 432000 seconds in the queue.",
	};
	struct dsn_report report = base_report();
	struct buf b;

	(void)state;
	buf_init(&b);
	dsn_build(&report, &rcpt, 1, &b);
	check_lines(&b);
	assert_true(has(&b, "<erin@example.org>: delivery failed (4.7.1)\r\n"
			"    Message expired after 432000 seconds in the queue.\r\n"
			"    The mail server mx.example.org replied:\r\n"
			"    451 4.7.1 try again later\r\n"));
	assert_true(has(&b, "Diagnostic-Code: smtp; 451 4.7.1 try again later\r\n"));
	assert_int_equal(strstr(b.data, "expired") < strstr(b.data, "message/delivery-status"),
			 1);
	assert_null(strstr(strstr(b.data, "message/delivery-status"), "expired"));
	buf_free(&b);
}

/* test_duration - the queue's lifetime as the expiry note says it to people:
 * the largest unit that divides it, singular for one */
static void test_duration(void **state)
{
	static const struct {
		unsigned seconds;
		const char *text;
	} cases[] = {
		{ 432000, "5 days" }, { 86400, "1 day" }, { 14400, "4 hours" },
		{ 3600, "1 hour" }, { 5400, "90 minutes" }, { 60, "1 minute" },
		{ 90, "90 seconds" }, { 3, "3 seconds" }, { 1, "1 second" },
		{ 90061, "90061 seconds" },
	};
	char text[32];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		dsn_duration_format(cases[i].seconds, text, sizeof(text));
		assert_string_equal(text, cases[i].text);
	}
}

static void test_headers_only(void **state)
{
	struct dsn_recipient rcpt = {
		.final_recipient = "bob@example.org", .action = "failed", .status = "5.7.1",
		.diagnostic = "554 5.7.1 rejected\r\nBcc: injected@example.net\r\n\r\nbody",
	};
	struct dsn_report report = base_report();
	struct buf b;

	(void)state;
	report.headers_only = true;
	report.received_from = NULL;
	buf_init(&b);
	dsn_build(&report, &rcpt, 1, &b);
	check_lines(&b);
	assert_true(has(&b, "Content-Type: text/rfc822-headers\r\n"));
	assert_true(has(&b, "Subject: Lunch on Thursday?\r\n"));
	assert_false(has(&b, "BODY-MARKER"));
	assert_false(has(&b, "\r\nBcc:"));
	assert_false(has(&b, "Remote-MTA"));
	assert_true(has(&b, "Diagnostic-Code: smtp; 554 5.7.1 rejected Bcc:"));
	run_check(&b, "--hdrs --rcpt 'rfc822; bob@example.org|failed|5.7.1||"
		      "554 5.7.1 rejected Bcc: injected@example.net body'");
	buf_free(&b);
}

static void test_smtputf8(void **state)
{
	struct dsn_recipient rcpt = {
		.final_recipient = "jöhn@exämple.org", .original_recipient = "utf-8;jöhn@exämple.org",
		.action = "failed", .status = "5.1.1", .remote_mta = "mx.exämple.org",
		.diagnostic = "550 5.1.1 jöhn: no such user",
	};
	struct dsn_report report = base_report();
	struct buf b;

	(void)state;
	report.smtputf8 = true;
	report.to = "søren@example.dk";
	report.original = original_utf8;
	report.original_len = sizeof(original_utf8) - 1;
	buf_init(&b);
	dsn_build(&report, &rcpt, 1, &b);
	check_lines(&b);
	assert_true(has(&b, "Content-Type: message/global-delivery-status\r\n"));
	assert_true(has(&b, "Content-Type: message/global\r\n"));
	assert_true(has(&b, "\r\nFinal-Recipient: utf-8; jöhn@exämple.org\r\n"));
	assert_true(has(&b, "\r\nTo: <søren@example.dk>\r\n"));
	run_check(&b, "--global --rcpt 'utf-8; jöhn@exämple.org|failed|5.1.1|"
		      "utf-8;jöhn@exämple.org|550 5.1.1 jöhn: no such user'");
	buf_free(&b);
}

/* test_utf8_in_ascii_dsn - RFC 6533 3: utf-8-addr-xtext in a 7-bit report;
 * 8-bit diagnostics become '?' there */
static void test_utf8_in_ascii_dsn(void **state)
{
	struct dsn_recipient rcpt = {
		.final_recipient = "jöhn+x=y@example.org", .action = "failed", .status = "5.1.1",
		.diagnostic = "550 unknown jöhn",
	};
	struct dsn_report report = base_report();
	struct buf b;

	(void)state;
	buf_init(&b);
	dsn_build(&report, &rcpt, 1, &b);
	check_lines(&b);
	assert_true(has(&b, "\r\nFinal-Recipient: utf-8; j\\x{F6}hn\\x{2B}x\\x{3D}y@example.org\r\n"));
	assert_true(has(&b, "\r\nDiagnostic-Code: smtp; 550 unknown j?hn\r\n"));
	run_check(&b, "--rcpt 'utf-8; j\\x{F6}hn\\x{2B}x\\x{3D}y@example.org|failed|5.1.1||"
		      "550 unknown j?hn'");
	buf_free(&b);
}

/* test_too_big - beyond DSN_ORIGINAL_MAX only the header section goes back */
static void test_too_big(void **state)
{
	struct dsn_recipient rcpt = {
		.final_recipient = "bob@example.org", .action = "failed", .status = "5.3.4",
	};
	struct dsn_report report = base_report();
	struct buf orig, b;

	(void)state;
	buf_init(&orig);
	buf_append_str(&orig, "From: a@example.com\r\nSubject: big\r\n\r\n");
	while (orig.len <= 10 * 1024 * 1024)
		buf_append_str(&orig, "BODY-MARKER 0123456789012345678901234567890123456789\r\n");
	report.original = orig.data;
	report.original_len = orig.len;
	buf_init(&b);
	dsn_build(&report, &rcpt, 1, &b);
	check_lines(&b);
	assert_true(b.len < 16 * 1024);
	assert_true(has(&b, "too large to return in full"));
	assert_true(has(&b, "Content-Type: text/rfc822-headers\r\n"));
	assert_false(has(&b, "BODY-MARKER"));
	run_check(&b, "--hdrs --rcpt 'rfc822; bob@example.org|failed|5.3.4'");
	buf_free(&b);
	buf_free(&orig);
}

/* test_unique - fresh Message-ID and boundary each time; the boundary is
 * declared once and closes the report */
static void test_unique(void **state)
{
	struct dsn_recipient rcpt = {
		.final_recipient = "bob@example.org", .action = "failed", .status = "5.1.1",
	};
	struct dsn_report report = base_report();
	struct buf a, b;

	(void)state;
	buf_init(&a);
	buf_init(&b);
	dsn_build(&report, &rcpt, 1, &a);
	dsn_build(&report, &rcpt, 1, &b);
	const char *ma = strstr(a.data, "Message-ID: "), *mb = strstr(b.data, "Message-ID: ");
	assert_non_null(ma);
	assert_non_null(mb);
	assert_true(strncmp(ma, mb, 40) != 0);
	const char *ba = strstr(a.data, "boundary=\"");
	assert_non_null(ba);
	ba += strlen("boundary=\"");
	char *boundary = xstrndup(ba, strcspn(ba, "\""));
	assert_null(strstr(b.data, boundary));
	char *close_delim = xasprintf("\r\n--%s--\r\n", boundary);
	assert_true(a.len > strlen(close_delim));
	assert_string_equal(a.data + a.len - strlen(close_delim), close_delim);
	free(close_delim);
	free(boundary);
	buf_free(&a);
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_failure_two_recipients),
		cmocka_unit_test(test_delay),
		cmocka_unit_test(test_note),
		cmocka_unit_test(test_duration),
		cmocka_unit_test(test_headers_only),
		cmocka_unit_test(test_smtputf8),
		cmocka_unit_test(test_utf8_in_ascii_dsn),
		cmocka_unit_test(test_too_big),
		cmocka_unit_test(test_unique),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
