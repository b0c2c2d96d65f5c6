/* tests/unit/smtp/test-parse-line - smtp_line_find, smtp_line_skip and
 * smtp_command_parse, table driven; framing also checked on every prefix and
 * on random splits of a pipelined stream. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>

#include "smtp/parse.h"
#include "test-util.h"

#define S(x) x, sizeof(x) - 1

struct line_case {
	const char *in;
	size_t len;
	size_t max;
	enum smtp_line_status status;
	size_t line_len;
	size_t consumed;
	unsigned flags;
};

static const struct line_case line_cases[] = {
	{ S("HELO x\r\n"), 512, SMTP_LINE_OK, 6, 8, 0 },
	{ S("HELO x"), 512, SMTP_LINE_NEED_MORE, 0, 0, 0 },
	{ S("HELO x\r"), 512, SMTP_LINE_NEED_MORE, 0, 0, 0 },
	{ S(""), 512, SMTP_LINE_NEED_MORE, 0, 0, 0 },
	{ S("\r\n"), 512, SMTP_LINE_OK, 0, 2, 0 },
	{ S("A\r\nB\r\n"), 512, SMTP_LINE_OK, 1, 3, 0 },
	{ S("a\nb\r\n"), 512, SMTP_LINE_OK, 3, 5, SMTP_LINE_BARE_LF },
	{ S("\n\r\n"), 512, SMTP_LINE_OK, 1, 3, SMTP_LINE_BARE_LF },
	{ S("a\rb\r\n"), 512, SMTP_LINE_OK, 3, 5, SMTP_LINE_BARE_CR },
	{ S("a\r\r\n"), 512, SMTP_LINE_OK, 2, 4, SMTP_LINE_BARE_CR },
	{ S("a\0b\r\n"), 512, SMTP_LINE_OK, 3, 5, SMTP_LINE_NUL },
	{ S("\n\r\0\r\n"), 512, SMTP_LINE_OK, 3, 5,
	  SMTP_LINE_BARE_LF | SMTP_LINE_BARE_CR | SMTP_LINE_NUL },
	{ S("a\n"), 512, SMTP_LINE_NEED_MORE, 0, 0, SMTP_LINE_BARE_LF },
	/* max 10: 8 bytes + CRLF fit, 9 do not, with or without the CRLF */
	{ S("12345678\r\n"), 10, SMTP_LINE_OK, 8, 10, 0 },
	{ S("12345678\r\nX"), 10, SMTP_LINE_OK, 8, 10, 0 },
	{ S("12345678"), 10, SMTP_LINE_NEED_MORE, 0, 0, 0 },
	{ S("12345678\r"), 10, SMTP_LINE_NEED_MORE, 0, 0, 0 },
	{ S("123456789\r\nNOOP\r\n"), 10, SMTP_LINE_TOO_LONG, 0, 11, 0 },
	{ S("123456789"), 10, SMTP_LINE_TOO_LONG, 0, 9, 0 },
	{ S("123456789\r"), 10, SMTP_LINE_TOO_LONG, 0, 9, 0 },
	{ S("1234567\r\r\n"), 10, SMTP_LINE_OK, 8, 10, SMTP_LINE_BARE_CR },
	{ S("12345678\n\r\n"), 10, SMTP_LINE_TOO_LONG, 0, 11, SMTP_LINE_BARE_LF },
	{ S("\r\n"), 1, SMTP_LINE_TOO_LONG, 0, 2, 0 },
	{ S(""), 0, SMTP_LINE_NEED_MORE, 0, 0, 0 },
};

/* test_line_find - each case whole */
static void test_line_find(void **state)
{
	for (size_t i = 0; i < sizeof(line_cases) / sizeof(line_cases[0]); i++) {
		const struct line_case *t = &line_cases[i];
		char *in = test_dup_exact(t->in, t->len);
		size_t line_len = 99, consumed = 99;
		unsigned flags = 99;
		enum smtp_line_status st = smtp_line_find(in, t->len, t->max,
			&line_len, &consumed, &flags);
		printf("line case %zu\n", i);
		assert_int_equal(st, t->status);
		if (st != SMTP_LINE_NEED_MORE) {
			assert_int_equal(consumed, t->consumed);
			assert_int_equal(flags, t->flags);
		}
		if (st == SMTP_LINE_OK)
			assert_int_equal(line_len, t->line_len);
		free(in);
	}
}

/* test_line_prefixes - every prefix of a case answers NEED_MORE until the
 * answer is certain, and then the same answer as the whole input */
static void test_line_prefixes(void **state)
{
	for (size_t i = 0; i < sizeof(line_cases) / sizeof(line_cases[0]); i++) {
		const struct line_case *t = &line_cases[i];
		bool decided = false;
		for (size_t k = 0; k <= t->len; k++) {
			char *in = test_dup_exact(t->in, k);
			size_t line_len, consumed;
			unsigned flags;
			enum smtp_line_status st = smtp_line_find(in, k, t->max,
				&line_len, &consumed, &flags);
			if (decided)
				assert_int_equal(st, t->status);
			if (st != SMTP_LINE_NEED_MORE) {
				decided = true;
				assert_int_equal(st, t->status);
				assert_true(consumed <= k);
			}
			free(in);
		}
	}
}

struct skip_case {
	const char *in;
	size_t len;
	bool found;
	size_t consumed;
};

static const struct skip_case skip_cases[] = {
	{ S(""), false, 0 },
	{ S("abc"), false, 3 },
	{ S("abc\r"), false, 3 },
	{ S("\r"), false, 0 },
	{ S("abc\r\nX"), true, 5 },
	{ S("\r\n"), true, 2 },
	{ S("\n\r\n"), true, 3 },
	{ S("a\r\r\n"), true, 4 },
	{ S("a\n"), false, 2 },
};

static void test_line_skip(void **state)
{
	for (size_t i = 0; i < sizeof(skip_cases) / sizeof(skip_cases[0]); i++) {
		const struct skip_case *t = &skip_cases[i];
		char *in = test_dup_exact(t->in, t->len);
		size_t consumed = 99;
		printf("skip case %zu\n", i);
		assert_int_equal(smtp_line_skip(in, t->len, &consumed), t->found);
		assert_int_equal(consumed, t->consumed);
		free(in);
	}
}

/* frame_stream - run a session-like framing loop over IN cut at random
 * points; record "OK:<line>" or "TOO_LONG" per line into OUT */
static void frame_stream(const char *in, size_t len, size_t max, unsigned seed,
			 char *out, size_t out_size)
{
	char pending[4096];
	size_t plen = 0, pos = 0, olen = 0;
	bool skipping = false;

	out[0] = '\0';
	while (pos < len || plen > 0) {
		size_t chunk = seed == 0 ? len - pos : 1 + test_rand(&seed) % 7;
		if (chunk > len - pos)
			chunk = len - pos;
		memcpy(pending + plen, in + pos, chunk);
		plen += chunk;
		pos += chunk;
		for (;;) {
			size_t consumed = 0, line_len = 0;
			unsigned flags;
			bool progress = false;
			if (skipping) {
				if (smtp_line_skip(pending, plen, &consumed)) {
					skipping = false;
					olen += (size_t)snprintf(out + olen,
						out_size - olen, "TOO_LONG|");
				}
				progress = consumed > 0 || !skipping;
			} else {
				enum smtp_line_status st = smtp_line_find(pending,
					plen, max, &line_len, &consumed, &flags);
				if (st == SMTP_LINE_OK) {
					olen += (size_t)snprintf(out + olen,
						out_size - olen, "OK:%.*s|",
						(int)line_len, pending);
					progress = true;
				} else if (st == SMTP_LINE_TOO_LONG) {
					/* consumed includes the CRLF if present */
					bool ended = consumed >= 2 &&
						pending[consumed - 2] == '\r' &&
						pending[consumed - 1] == '\n';
					if (ended)
						olen += (size_t)snprintf(out + olen,
							out_size - olen, "TOO_LONG|");
					else
						skipping = true;
					progress = true;
				}
			}
			memmove(pending, pending + consumed, plen - consumed);
			plen -= consumed;
			if (!progress || plen == 0)
				break;
		}
		if (pos == len)
			break;
	}
}

/* test_line_stream - the same lines however the stream is cut */
static void test_line_stream(void **state)
{
	static const char stream[] =
		"EHLO a\r\n0123456789012345678901234567890\r\nNOOP\r\n"
		"x\ny\r\n0123456789012345678901234567890\r\r\nQUIT\r\n"
		"0123456789012345678\r\n012345678901234567\r\n";
	char whole[1024], split[1024];

	frame_stream(stream, sizeof(stream) - 1, 20, 0, whole, sizeof(whole));
	assert_string_equal(whole, "OK:EHLO a|TOO_LONG|OK:NOOP|OK:x\ny|"
			    "TOO_LONG|OK:QUIT|TOO_LONG|OK:012345678901234567|");
	for (unsigned seed = 1; seed < 500; seed++) {
		frame_stream(stream, sizeof(stream) - 1, 20, seed, split,
			     sizeof(split));
		assert_string_equal(whole, split);
	}
}

struct command_case {
	const char *in;
	size_t len;
	int ret;
	enum smtp_verb verb;
	const char *name;
	const char *args;
};

static const struct command_case command_cases[] = {
	{ S("HELO example.org"), 0, SMTP_VERB_HELO, "HELO", "example.org" },
	{ S("ehlo example.org"), 0, SMTP_VERB_EHLO, "ehlo", "example.org" },
	{ S("MAIL FROM:<a@b>"), 0, SMTP_VERB_MAIL, "MAIL", "FROM:<a@b>" },
	{ S("rCpT TO:<a@b> NOTIFY=NEVER"), 0, SMTP_VERB_RCPT, "rCpT",
	  "TO:<a@b> NOTIFY=NEVER" },
	{ S("DATA"), 0, SMTP_VERB_DATA, "DATA", "" },
	{ S("BDAT 100 LAST"), 0, SMTP_VERB_BDAT, "BDAT", "100 LAST" },
	{ S("RSET"), 0, SMTP_VERB_RSET, "RSET", "" },
	{ S("NOOP   hello  "), 0, SMTP_VERB_NOOP, "NOOP", "hello" },
	{ S("QUIT "), 0, SMTP_VERB_QUIT, "QUIT", "" },
	{ S("VRFY x"), 0, SMTP_VERB_VRFY, "VRFY", "x" },
	{ S("EXPN x"), 0, SMTP_VERB_EXPN, "EXPN", "x" },
	{ S("HELP"), 0, SMTP_VERB_HELP, "HELP", "" },
	{ S("StartTLS"), 0, SMTP_VERB_STARTTLS, "StartTLS", "" },
	{ S("AUTH PLAIN AGFAAGI="), 0, SMTP_VERB_AUTH, "AUTH", "PLAIN AGFAAGI=" },
	{ S("MAIL  FROM:<a@b>"), 0, SMTP_VERB_MAIL, "MAIL", "FROM:<a@b>" },
	{ S("MAILX FROM:<a@b>"), 0, SMTP_VERB_UNKNOWN, "MAILX", "FROM:<a@b>" },
	{ S("MAI"), 0, SMTP_VERB_UNKNOWN, "MAI", "" },
	{ S("X-1"), 0, SMTP_VERB_UNKNOWN, "X-1", "" },
	{ S("GET / HTTP/1.0"), 0, SMTP_VERB_UNKNOWN, "GET", "/ HTTP/1.0" },
	{ S("ABCDEFGHIJKLMNOPQRSTUVWXYZ"), 0, SMTP_VERB_UNKNOWN,
	  "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "" },
	{ S("HELO\tx"), -1, SMTP_VERB_UNKNOWN, NULL, NULL },
	{ S(""), -1, SMTP_VERB_UNKNOWN, NULL, NULL },
	{ S(" HELO x"), -1, SMTP_VERB_UNKNOWN, NULL, NULL },
	{ S("   "), -1, SMTP_VERB_UNKNOWN, NULL, NULL },
	{ S("H\xc3\xa9LO x"), -1, SMTP_VERB_UNKNOWN, NULL, NULL },
	{ S("HE\0LO"), -1, SMTP_VERB_UNKNOWN, NULL, NULL },
};

static void test_command_parse(void **state)
{
	for (size_t i = 0; i < sizeof(command_cases) / sizeof(command_cases[0]); i++) {
		const struct command_case *t = &command_cases[i];
		char *in = test_dup_exact(t->in, t->len);
		struct smtp_command cmd;
		struct smtp_error err = { 0, NULL, NULL };
		printf("command case %zu\n", i);
		int ret = smtp_command_parse(in, t->len, &cmd, &err);
		assert_int_equal(ret, t->ret);
		if (ret == 0) {
			assert_int_equal(cmd.verb, t->verb);
			assert_int_equal(cmd.name_len, strlen(t->name));
			assert_memory_equal(cmd.name, t->name, cmd.name_len);
			assert_int_equal(cmd.args_len, strlen(t->args));
			if (cmd.args_len)
				assert_memory_equal(cmd.args, t->args, cmd.args_len);
		} else {
			assert_int_equal(err.code, 500);
			assert_string_equal(err.enhanced, "5.5.2");
			assert_non_null(err.text);
		}
		free(in);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_line_find),
		cmocka_unit_test(test_line_prefixes),
		cmocka_unit_test(test_line_skip),
		cmocka_unit_test(test_line_stream),
		cmocka_unit_test(test_command_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
