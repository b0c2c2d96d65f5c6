/* tests/unit/wire/test-reply - the SMTP reply parser, table driven; each
 * case fed whole, one byte at a time and in random pieces. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire/wire.h"

#define S(x) x, sizeof(x) - 1

struct reply_case {
	const char *in;
	size_t len;
	size_t max_line, max_lines;
	int ret;              /* 1 reply, 0 need more, -1 error */
	int code;
	const char *enhanced;
	const char *formatted;
	size_t consumed;      /* for ret 1 */
};

static const struct reply_case cases[] = {
	{ S("250 OK\r\n"), 0, 0, 1, 250, "", "250 OK", 8 },
	{ S("250 OK\r\nNEXT"), 0, 0, 1, 250, "", "250 OK", 8 },
	{ S("250\r\n"), 0, 0, 1, 250, "", "250", 5 },
	{ S("250 \r\n"), 0, 0, 1, 250, "", "250", 6 },
	{ S("550 5.1.1 <a@b>: no such user\r\n"), 0, 0, 1, 550, "5.1.1",
	  "550 5.1.1 <a@b>: no such user", 31 },
	{ S("250-mx.example\r\n250-PIPELINING\r\n250 SIZE 1000\r\n"), 0, 0, 1, 250, "",
	  "250 mx.example / 250 PIPELINING / 250 SIZE 1000", 47 },
	{ S("452-4.5.3 too many\r\n452 4.5.3 recipients\r\n"), 0, 0, 1, 452, "4.5.3",
	  "452 4.5.3 too many / 452 4.5.3 recipients", 42 },
	/* enhanced code class must match the reply */
	{ S("550 4.1.1 odd\r\n"), 0, 0, 1, 550, "", "550 4.1.1 odd", 15 },
	{ S("250 2.0.0\r\n"), 0, 0, 1, 250, "2.0.0", "250 2.0.0", 11 },
	{ S("250 2.0.0x ok\r\n"), 0, 0, 1, 250, "", "250 2.0.0x ok", 15 },
	{ S("250 2.1000.0 ok\r\n"), 0, 0, 1, 250, "", "250 2.1000.0 ok", 17 },
	{ S("354 End data with <CR><LF>.<CR><LF>\r\n"), 0, 0, 1, 354, "",
	  "354 End data with <CR><LF>.<CR><LF>", 37 },
	/* a bare LF ends a line too, CR before LF is dropped */
	{ S("220 hi\n"), 0, 0, 1, 220, "", "220 hi", 7 },
	{ S("220-a\n220 b\r\n"), 0, 0, 1, 220, "", "220 a / 220 b", 13 },
	/* control and 8-bit bytes become '?' */
	{ S("550 a\rb\x01\xc3\xa9\r\n"), 0, 0, 1, 550, "", "550 a?b???", 12 },
	{ S("250 OK"), 0, 0, 0, 0, NULL, NULL, 0 },
	{ S("250-first\r\n"), 0, 0, 0, 0, NULL, NULL, 0 },
	{ S(""), 0, 0, 0, 0, NULL, NULL, 0 },
	/* errors */
	{ S("25 OK\r\n"), 0, 0, -1, 0, NULL, NULL, 0 },
	{ S("OK\r\n"), 0, 0, -1, 0, NULL, NULL, 0 },
	{ S("150 x\r\n"), 0, 0, -1, 0, NULL, NULL, 0 },
	{ S("260 x\r\n"), 0, 0, -1, 0, NULL, NULL, 0 },
	{ S("250x\r\n"), 0, 0, -1, 0, NULL, NULL, 0 },
	{ S("2a0 x\r\n"), 0, 0, -1, 0, NULL, NULL, 0 },
	{ S("\r\n"), 0, 0, -1, 0, NULL, NULL, 0 },
	{ S("250-a\r\n251 b\r\n"), 0, 0, -1, 0, NULL, NULL, 0 },
	/* max_line 10 counts the CRLF: 8 bytes fit, 9 do not, terminator or not */
	{ S("250 1234\r\n"), 10, 0, 1, 250, "", "250 1234", 10 },
	{ S("250 12345\r\n"), 10, 0, -1, 0, NULL, NULL, 0 },
	{ S("250 12345"), 10, 0, -1, 0, NULL, NULL, 0 },
	{ S("250 1234\r"), 10, 0, 0, 0, NULL, NULL, 0 },
	{ S("250 1234\r\r\n"), 10, 0, -1, 0, NULL, NULL, 0 },
	/* max_lines */
	{ S("250-a\r\n250-b\r\n250 c\r\n"), 0, 3, 1, 250, "", "250 a / 250 b / 250 c", 21 },
	{ S("250-a\r\n250-b\r\n250-c\r\n250 d\r\n"), 0, 3, -1, 0, NULL, NULL, 0 },
};

static int feed_pieces(struct wire_reply_parser *p, const char *in, size_t len,
		       unsigned mode, unsigned *seed, size_t *consumed_r)
{
	size_t pos = 0;
	int r = 0;
	const char *error = NULL;
	while (pos < len || len == 0) {
		size_t chunk = len - pos;
		if (mode == 1)
			chunk = 1;
		else if (mode == 2) {
			*seed = *seed * 1103515245u + 12345u;
			chunk = 1 + (*seed >> 16) % 7;
		}
		if (chunk > len - pos)
			chunk = len - pos;
		/* an exact-size copy so ASan sees any over-read */
		char *piece = malloc(chunk ? chunk : 1);
		assert_non_null(piece);
		memcpy(piece, in + pos, chunk);
		size_t used = 0;
		r = wire_reply_parser_feed(p, piece, chunk, &used, &error);
		free(piece);
		assert_true(used <= chunk);
		pos += used;
		if (r != 0)
			break;
		assert_int_equal(used, chunk);
		if (len == 0)
			break;
	}
	if (r < 0)
		assert_non_null(error);
	*consumed_r = pos;
	return r;
}

static void test_reply_cases(void **state)
{
	(void)state;
	unsigned seed = 7;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct reply_case *t = &cases[i];
		for (unsigned mode = 0; mode < 3; mode++) {
			struct wire_reply_parser p;
			struct wire_reply_limits lim = { t->max_line, t->max_lines };
			size_t consumed = 0;
			wire_reply_parser_init(&p, &lim);
			int r = feed_pieces(&p, t->in, t->len, mode, &seed, &consumed);
			if (r != t->ret)
				fail_msg("case %zu mode %u: ret %d, expected %d", i, mode, r, t->ret);
			if (r == 1) {
				assert_int_equal(p.reply.code, t->code);
				assert_string_equal(p.reply.enhanced, t->enhanced);
				char *f = wire_reply_format(&p.reply);
				assert_string_equal(f, t->formatted);
				free(f);
				assert_int_equal(consumed, t->consumed);
			}
			wire_reply_parser_free(&p);
		}
	}
}

/* test_reply_stream - pipelined replies, parsed one after another */
static void test_reply_stream(void **state)
{
	(void)state;
	static const char in[] = "250 2.1.0 ok\r\n550-5.1.1 no\r\n550 5.1.1 user\r\n354 go\r\n";
	static const int codes[] = { 250, 550, 354 };
	for (unsigned mode = 0; mode < 3; mode++) {
		struct wire_reply_parser p;
		unsigned seed = 99;
		size_t pos = 0, n = 0;
		wire_reply_parser_init(&p, NULL);
		while (pos < sizeof(in) - 1) {
			size_t used;
			int r = feed_pieces(&p, in + pos, sizeof(in) - 1 - pos, mode, &seed, &used);
			pos += used;
			if (r == 1) {
				assert_true(n < 3);
				assert_int_equal(p.reply.code, codes[n]);
				n++;
				wire_reply_parser_reset(&p);
			} else {
				assert_int_equal(r, 0);
			}
		}
		assert_int_equal(n, 3);
		wire_reply_parser_free(&p);
	}
}

/* test_reply_default_limits - 2048 bytes per line, 100 lines */
static void test_reply_default_limits(void **state)
{
	(void)state;
	char *line = malloc(4096);
	assert_non_null(line);
	for (int over = 0; over < 2; over++) {
		struct wire_reply_parser p;
		size_t n = 2046 + (size_t)over;
		memcpy(line, "250 ", 4);
		memset(line + 4, 'x', n - 4);
		memcpy(line + n, "\r\n", 2);
		size_t used;
		const char *err;
		wire_reply_parser_init(&p, NULL);
		int r = wire_reply_parser_feed(&p, line, n + 2, &used, &err);
		assert_int_equal(r, over ? -1 : 1);
		wire_reply_parser_free(&p);
	}
	struct buf b;
	buf_init(&b);
	for (int i = 0; i < 100; i++)
		buf_append_str(&b, "250-x\r\n");
	buf_append_str(&b, "250 y\r\n");
	struct wire_reply_parser p;
	size_t used;
	const char *err;
	wire_reply_parser_init(&p, NULL);
	assert_int_equal(wire_reply_parser_feed(&p, b.data, b.len, &used, &err), -1);
	wire_reply_parser_free(&p);
	buf_free(&b);
	free(line);
}

static void test_enhanced(void **state)
{
	(void)state;
	char out[16];
	assert_int_equal(wire_enhanced_parse(S("5.1.1"), out), 5);
	assert_string_equal(out, "5.1.1");
	assert_int_equal(wire_enhanced_parse(S("4.7.123 x"), out), 7);
	assert_int_equal(wire_enhanced_parse(S("5.1"), out), 0);
	assert_int_equal(wire_enhanced_parse(S("3.1.1"), out), 0);
	assert_int_equal(wire_enhanced_parse(S("5..1"), out), 0);
	assert_int_equal(wire_enhanced_parse(S("5.1.1."), out), 0);
	assert_int_equal(wire_enhanced_parse(S("5.1234.1"), out), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reply_cases),
		cmocka_unit_test(test_reply_stream),
		cmocka_unit_test(test_reply_default_limits),
		cmocka_unit_test(test_enhanced),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
