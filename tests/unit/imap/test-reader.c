/* tests/unit/imap/test-reader - where IMAP commands end: each stream is fed
 * whole, one byte at a time and in random pieces, and must give the same
 * events (commands with their raw bytes, continuation requests, refusals
 * with their tag and reason) every way. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap/parse.h"
#include "util/buf.h"

#define S(x) x, sizeof(x) - 1

struct reader_case {
	const char *in;
	size_t len;
	size_t line_max;
	uint64_t literal_max;
	unsigned literals_max;
	const char *events;   /* "C<raw>|", "+|", "R<tag>:<error>[:toobig]|" in order */
	size_t events_len;
};

static const struct reader_case cases[] = {
	{ S("a1 NOOP\r\n"), 0, 100, 0, S("Ca1 NOOP\r\n|") },
	{ S("a NOOP\r\nb NOOP\r\n"), 0, 100, 0, S("Ca NOOP\r\n|Cb NOOP\r\n|") },
	/* synchronizing literals: a continuation request for each */
	{ S("a LOGIN {3}\r\nbob {4}\r\npass\r\n"), 0, 100, 0,
	  S("+|+|Ca LOGIN {3}\r\nbob {4}\r\npass\r\n|") },
	/* LITERAL+ (RFC 7888): none */
	{ S("a LOGIN {3+}\r\nbob pass\r\n"), 0, 100, 0, S("Ca LOGIN {3+}\r\nbob pass\r\n|") },
	/* literal8 (RFC 3516), NUL octets in it */
	{ S("a APPEND x ~{2}\r\n\0\1\r\n"), 0, 100, 0, S("+|Ca APPEND x ~{2}\r\n\0\1\r\n|") },
	{ S("a X {0}\r\n\r\n"), 0, 100, 0, S("+|Ca X {0}\r\n\r\n|") },
	/* a literal's octets that look like a marker and a CRLF are octets */
	{ S("a X {6}\r\nx{9}\r\n\r\n"), 0, 100, 0, S("+|Ca X {6}\r\nx{9}\r\n\r\n|") },
	/* only CRLF ends a line */
	{ S("a NOOP\nb\r\n"), 0, 100, 0, S("Ca NOOP\nb\r\n|") },
	{ S("a {3\r\n"), 0, 100, 0, S("Ca {3\r\n|") },
	{ S("a {x}\r\n"), 0, 100, 0, S("Ca {x}\r\n|") },
	/* an overlong line: refused with its tag, the rest skipped */
	{ S("a1 NOOP aaaaaaaaaaaaaaaaaa\r\nb NOOP\r\n"), 16, 100, 0,
	  S("Ra1:Command line too long|Cb NOOP\r\n|") },
	{ S("((((((((((((((((((((((((\r\nb NOOP\r\n"), 16, 100, 0,
	  S("R:Command line too long|Cb NOOP\r\n|") },
	/* ... and a non-synchronizing literal it announces skipped too */
	{ S("a1 X aaaaaaaaaaaaaaaaaa {3+}\r\nxyz more\r\nb NOOP\r\n"), 16, 100, 0,
	  S("Ra1:Command line too long|Cb NOOP\r\n|") },
	/* the marker cut in two by the limit is still seen */
	{ S("a1 XXXXXX {3+}\r\nabc\r\nb NOOP\r\n"), 12, 100, 0,
	  S("Ra1:Command line too long|Cb NOOP\r\n|") },
	/* a synchronizing literal after an overlong line: the client waits */
	{ S("a1 X aaaaaaaaaaaaaaaaaa {3}\r\nb NOOP\r\n"), 16, 100, 0,
	  S("Ra1:Command line too long|Cb NOOP\r\n|") },
	/* a line as long as the limit, CRLF included, is taken */
	{ S("a X 12345678\r\n"), 14, 100, 0, S("Ca X 12345678\r\n|") },
	{ S("a X 123456789\r\n"), 14, 100, 0, S("Ra:Command line too long|") },
	/* the limit counts a command's lines, not its literals */
	{ S("a X {10}\r\n0123456789 12345678\r\n"), 21, 100, 0,
	  S("+|Ca X {10}\r\n0123456789 12345678\r\n|") },
	{ S("a X {10}\r\n0123456789 123456789\r\n"), 21, 100, 0,
	  S("+|Ra:Command line too long|") },
	/* a literal over literal_max: no "+", the command ends */
	{ S("a APPEND {20}\r\nb NOOP\r\n"), 0, 10, 0, S("Ra:Literal too big:toobig|Cb NOOP\r\n|") },
	/* ... a non-synchronizing one is read and dropped with the rest */
	{ S("a APPEND {20+}\r\n01234567890123456789 x {2+}\r\nab\r\nb NOOP\r\n"), 0, 10, 0,
	  S("Ra:Literal too big:toobig|Cb NOOP\r\n|") },
	{ S("a X {1+}\r\na {1+}\r\nb {1+}\r\nc\r\nz NOOP\r\n"), 0, 10, 2,
	  S("Ra:Too many literals in one command|Cz NOOP\r\n|") },
	{ S("a X {99999999999999999999}\r\nb NOOP\r\n"), 0, 10, 0,
	  S("Ca X {99999999999999999999}\r\n|Cb NOOP\r\n|") },
};

/* run - feed IN in pieces (PIECE octets each, 0 = random sizes) and write
 * the events to OUT */
static void run(const struct reader_case *c, size_t piece, struct buf *out)
{
	struct imap_reader_limits limits = {
		.line_max = c->line_max, .literal_max = c->literal_max,
		.command_max = 1 << 20, .literals_max = c->literals_max,
	};
	struct imap_reader *r = imap_reader_new(&limits);
	unsigned seed = 7;
	size_t pos = 0;
	while (pos < c->len) {
		size_t n = piece;
		if (n == 0) {
			seed = seed * 1103515245 + 12345;
			n = 1 + (seed >> 16) % 7;
		}
		if (n > c->len - pos)
			n = c->len - pos;
		/* an exact-size copy: AddressSanitizer sees a read past it */
		char *chunk = malloc(n);
		assert_non_null(chunk);
		memcpy(chunk, c->in + pos, n);
		size_t off = 0;
		while (off < n) {
			size_t used = 0;
			enum imap_read ev = imap_reader_feed(r, chunk + off, n - off, &used);
			assert_true(used <= n - off);
			off += used;
			if (ev == IMAP_READ_MORE) {
				assert_int_equal(off, n);
			} else if (ev == IMAP_READ_CONTINUE) {
				buf_append_str(out, "+|");
			} else if (ev == IMAP_READ_COMMAND) {
				size_t len;
				char *cmd = imap_reader_command(r, &len);
				buf_append(out, "C", 1);
				buf_append(out, cmd, len);
				buf_append(out, "|", 1);
				imap_reader_next(r);
			} else {
				const char *tag = imap_reader_tag(r);
				buf_printf(out, "R%s:%s%s|", tag ? tag : "", imap_reader_error(r),
					   imap_reader_too_big(r) ? ":toobig" : "");
				imap_reader_next(r);
			}
		}
		free(chunk);
		pos += n;
	}
	imap_reader_free(&r);
}

static void test_reader_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct reader_case *c = &cases[i];
		size_t pieces[] = { c->len, 1, 2, 3, 0 };
		for (size_t k = 0; k < sizeof(pieces) / sizeof(pieces[0]); k++) {
			struct buf out;
			buf_init(&out);
			run(c, pieces[k], &out);
			if (out.len != c->events_len || memcmp(out.data, c->events, out.len) != 0) {
				print_error("case %zu piece %zu: got \"%.*s\"\n", i, pieces[k],
					    (int)out.len, out.data);
				fail();
			}
			buf_free(&out);
		}
	}
}

/* test_reader_literal_pending - octets still to come while in a literal */
static void test_reader_literal_pending(void **state)
{
	(void)state;
	struct imap_reader_limits limits = { .literal_max = 100 };
	struct imap_reader *r = imap_reader_new(&limits);
	size_t used;
	assert_int_equal(imap_reader_feed(r, S("a APPEND x {10}\r\n"), &used), IMAP_READ_CONTINUE);
	assert_int_equal(imap_reader_literal_pending(r), 10);
	assert_int_equal(imap_reader_feed(r, S("0123"), &used), IMAP_READ_MORE);
	assert_int_equal(imap_reader_literal_pending(r), 6);
	assert_int_equal(imap_reader_feed(r, S("456789\r\n"), &used), IMAP_READ_COMMAND);
	assert_int_equal(imap_reader_literal_pending(r), 0);
	imap_reader_next(r);
	imap_reader_free(&r);
}

/* test_reader_command_max - the whole command, literals included, is bounded */
static void test_reader_command_max(void **state)
{
	(void)state;
	struct imap_reader_limits limits = { .line_max = 100, .literal_max = 1000,
					      .command_max = 150 };
	struct imap_reader *r = imap_reader_new(&limits);
	size_t used;
	assert_int_equal(imap_reader_feed(r, S("a X {100}\r\n"), &used), IMAP_READ_CONTINUE);
	char lit[100];
	memset(lit, 'x', sizeof(lit));
	assert_int_equal(imap_reader_feed(r, lit, sizeof(lit), &used), IMAP_READ_MORE);
	assert_int_equal(imap_reader_feed(r, S(" {100}\r\n"), &used), IMAP_READ_REFUSED);
	assert_true(imap_reader_too_big(r));
	imap_reader_next(r);
	assert_int_equal(imap_reader_feed(r, S("b NOOP\r\n"), &used), IMAP_READ_COMMAND);
	imap_reader_next(r);
	imap_reader_free(&r);
}

/* test_reader_command_max_after_literal - the lines after a literal count
 * towards command_max too: a command already over it is refused, and
 * command_max - length never wraps round to let a further literal in */
static void test_reader_command_max_after_literal(void **state)
{
	(void)state;
	struct imap_reader_limits limits = { .line_max = 100, .literal_max = 1000,
					      .command_max = 150 };
	struct imap_reader *r = imap_reader_new(&limits);
	char lit[100];
	memset(lit, 'x', sizeof(lit));
	size_t used;
	/* 11 + 100 octets, then a line of 60 (outside: 71, under line_max) */
	assert_int_equal(imap_reader_feed(r, S("a X {100}\r\n"), &used), IMAP_READ_CONTINUE);
	assert_int_equal(imap_reader_feed(r, lit, sizeof(lit), &used), IMAP_READ_MORE);
	static const char line[] = " yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy {40}\r\n";
	assert_int_equal(imap_reader_feed(r, line, sizeof(line) - 1, &used), IMAP_READ_REFUSED);
	assert_string_equal(imap_reader_tag(r), "a");
	assert_string_equal(imap_reader_error(r), "Command too long");
	imap_reader_next(r);
	size_t skipped;
	assert_int_equal(imap_reader_feed(r, line + used, sizeof(line) - 1 - used, &skipped),
			 IMAP_READ_MORE);
	assert_int_equal(imap_reader_feed(r, S("b NOOP\r\n"), &used), IMAP_READ_COMMAND);
	imap_reader_next(r);
	/* ... and so is one whose last line takes it over */
	assert_int_equal(imap_reader_feed(r, S("c X {100}\r\n"), &used), IMAP_READ_CONTINUE);
	assert_int_equal(imap_reader_feed(r, lit, sizeof(lit), &used), IMAP_READ_MORE);
	static const char rest[] = " yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy\r\nd NOOP\r\n";
	assert_int_equal(imap_reader_feed(r, rest, sizeof(rest) - 1, &used), IMAP_READ_REFUSED);
	assert_string_equal(imap_reader_tag(r), "c");
	size_t off = used;
	imap_reader_next(r);
	/* the rest of its line is skipped, the next command read */
	while (off < sizeof(rest) - 1) {
		enum imap_read ev = imap_reader_feed(r, rest + off, sizeof(rest) - 1 - off, &used);
		off += used;
		if (ev == IMAP_READ_COMMAND)
			break;
		assert_int_equal(ev, IMAP_READ_MORE);
	}
	size_t len;
	char *cmd = imap_reader_command(r, &len);
	assert_int_equal(len, 8);
	assert_memory_equal(cmd, "d NOOP\r\n", 8);
	imap_reader_next(r);
	imap_reader_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reader_cases),
		cmocka_unit_test(test_reader_literal_pending),
		cmocka_unit_test(test_reader_command_max),
		cmocka_unit_test(test_reader_command_max_after_literal),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
