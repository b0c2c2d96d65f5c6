/* tests/unit/smtp/test-data-reader - the DATA reader: table of cases, each
 * fed whole, one byte at a time, cut at every point and at random points;
 * then random streams checked against a simple reference and across splits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>

#include "smtp/parse.h"
#include "test-util.h"

#define S(x) x, sizeof(x) - 1

enum {
	F_BARE_LF = 0x1, F_BARE_CR = 0x2, F_NUL = 0x4, F_8BIT = 0x8,
	F_LONG = 0x10, F_BIG = 0x20,
};

struct data_case {
	const char *in;
	size_t len;
	size_t max_size;
	size_t max_line;
	int ret;
	size_t consumed;
	const char *out;
	size_t out_len;
	unsigned flags;
};

static const struct data_case data_cases[] = {
	{ S(".\r\n"), 1000, 1000, 1, 3, S(""), 0 },
	{ S("a\r\n.\r\n"), 1000, 1000, 1, 6, S("a\r\n"), 0 },
	{ S("\r\n.\r\n"), 1000, 1000, 1, 5, S("\r\n"), 0 },
	{ S("a\r\n..b\r\n.\r\n"), 1000, 1000, 1, 11, S("a\r\n.b\r\n"), 0 },
	{ S("..\r\n.\r\n"), 1000, 1000, 1, 7, S(".\r\n"), 0 },
	{ S("...\r\n.\r\n"), 1000, 1000, 1, 8, S("..\r\n"), 0 },
	{ S(".x\r\n.\r\n"), 1000, 1000, 1, 7, S("x\r\n"), 0 },
	{ S("a.\r\n.\r\n"), 1000, 1000, 1, 7, S("a.\r\n"), 0 },
	{ S("a\r\n.\r\nMAIL FROM:<>\r\n"), 1000, 1000, 1, 6, S("a\r\n"), 0 },
	{ S("a\r\n.\r\n.\r\n"), 1000, 1000, 1, 6, S("a\r\n"), 0 },
	/* smuggling shapes: none of these ends the data */
	{ S("a\n.\n"), 1000, 1000, 0, 4, S("a\n.\n"), F_BARE_LF },
	{ S("a\n.\r\n"), 1000, 1000, 0, 5, S("a\n.\r\n"), F_BARE_LF },
	{ S("a\r\n.\n"), 1000, 1000, 0, 5, S("a\r\n\n"), F_BARE_LF },
	{ S("a\r.\r\n"), 1000, 1000, 0, 5, S("a\r.\r\n"), F_BARE_CR },
	{ S("a\r.\r\r\n.\r\n"), 1000, 1000, 1, 9, S("a\r.\r\r\n"), F_BARE_CR },
	{ S("a\r\n.\rX\r\n.\r\n"), 1000, 1000, 1, 11, S("a\r\n\rX\r\n"),
	  F_BARE_CR },
	{ S(".\n.\r\n"), 1000, 1000, 0, 5, S("\n.\r\n"), F_BARE_LF },
	{ S("a\n\r\n.\r\n"), 1000, 1000, 1, 7, S("a\n\r\n"), F_BARE_LF },
	{ S("a\r\r\n.\r\n"), 1000, 1000, 1, 7, S("a\r\r\n"), F_BARE_CR },
	/* held bytes at the end of the input are not output yet */
	{ S("a\r"), 1000, 1000, 0, 2, S("a"), 0 },
	{ S("a\r\n."), 1000, 1000, 0, 4, S("a\r\n"), 0 },
	{ S("a\r\n.\r"), 1000, 1000, 0, 5, S("a\r\n"), 0 },
	{ S(""), 1000, 1000, 0, 0, S(""), 0 },
	/* byte findings */
	{ S("a\0b\r\n.\r\n"), 1000, 1000, 1, 8, S("a\0b\r\n"), F_NUL },
	{ S("\xc3\xa9\r\n.\r\n"), 1000, 1000, 1, 7, S("\xc3\xa9\r\n"), F_8BIT },
	/* limits */
	{ S("abcdefgh\r\n.\r\n"), 5, 1000, 1, 13, S("abcde"), F_BIG },
	{ S("abc\r\n.\r\n"), 5, 1000, 1, 8, S("abc\r\n"), 0 },
	{ S("abc\r\n\r\n.\r\n"), 5, 1000, 1, 10, S("abc\r\n"), F_BIG },
	{ S("abc\r\n.\r\n"), 1000, 5, 1, 8, S("abc\r\n"), 0 },
	{ S("abcd\r\n.\r\n"), 1000, 5, 1, 9, S("abcd\r\n"), F_LONG },
	{ S("..bc\r\n.\r\n"), 1000, 5, 1, 9, S(".bc\r\n"), F_LONG },
	{ S("abcd\r\r\n.\r\n"), 1000, 6, 1, 10, S("abcd\r\r\n"),
	  F_LONG | F_BARE_CR },
	{ S("abcdefgh"), 1000, 5, 0, 8, S("abcdefgh"), F_LONG },
	/* a bare LF ends a line for the length limit (bare_newline = accept
	 * takes such mail), though never the data; a bare CR does not */
	{ S("a\nb\nc\r\n.\r\n"), 1000, 5, 1, 10, S("a\nb\nc\r\n"),
	  F_BARE_LF },
	{ S("abcd\nabc\r\n.\r\n"), 1000, 5, 1, 13, S("abcd\nabc\r\n"),
	  F_BARE_LF },
	{ S("abcde\nab\r\n.\r\n"), 1000, 5, 1, 13, S("abcde\nab\r\n"),
	  F_LONG | F_BARE_LF },
	{ S("abcd\n.abcd\n.\r\n"), 1000, 5, 0, 14, S("abcd\n.abcd\n.\r\n"),
	  F_LONG | F_BARE_LF },
	{ S("abcd\nabcd\nabcd\nabcd"), 1000, 5, 0, 19,
	  S("abcd\nabcd\nabcd\nabcd"), F_BARE_LF },
	{ S("ab\rab\r\n.\r\n"), 1000, 6, 1, 10, S("ab\rab\r\n"),
	  F_LONG | F_BARE_CR },
	{ S("abc\r\n.\r\n"), 0, 1000, 1, 8, S(""), F_BIG },
};

static unsigned reader_flags(const struct smtp_data_reader *r)
{
	return (r->bare_lf ? F_BARE_LF : 0) | (r->bare_cr ? F_BARE_CR : 0) |
	       (r->nul ? F_NUL : 0) | (r->eight_bit ? F_8BIT : 0) |
	       (r->line_too_long ? F_LONG : 0) | (r->too_big ? F_BIG : 0);
}

/* feed - feed IN in pieces: STEP 0 whole, SEED 0 step-size pieces, else
 * random pieces; stop at the end of data like a session would */
static int feed(struct smtp_data_reader *r, const char *in, size_t len,
		size_t step, unsigned seed, size_t *consumed_r, struct buf *out)
{
	size_t pos = 0;
	int ret = 0;

	do {
		size_t chunk = len - pos;
		if (seed != 0)
			chunk = 1 + test_rand(&seed) % 9;
		else if (step != 0)
			chunk = step;
		if (chunk > len - pos)
			chunk = len - pos;
		char *piece = test_dup_exact(in + pos, chunk);
		size_t used = 0;
		ret = smtp_data_feed(r, piece, chunk, &used, out);
		free(piece);
		assert_true(used <= chunk);
		if (ret == 0)
			assert_int_equal(used, chunk);
		pos += used;
	} while (ret == 0 && pos < len);
	*consumed_r = pos;
	return ret;
}

static void check_case(const struct data_case *t, size_t step, unsigned seed)
{
	struct smtp_data_reader r;
	struct buf out;
	size_t consumed;

	buf_init(&out);
	smtp_data_reader_init(&r, t->max_size, t->max_line);
	int ret = feed(&r, t->in, t->len, step, seed, &consumed, &out);
	assert_int_equal(ret, t->ret);
	assert_int_equal(consumed, t->consumed);
	assert_int_equal(out.len, t->out_len);
	if (out.len)
		assert_memory_equal(out.data, t->out, out.len);
	assert_int_equal(reader_flags(&r), t->flags);
	if (ret == 1) {
		/* done stays done and takes nothing more */
		size_t more = 9;
		assert_int_equal(smtp_data_feed(&r, "x", 1, &more, &out), 1);
		assert_int_equal(more, 0);
		assert_int_equal(out.len, t->out_len);
	}
	buf_free(&out);
}

/* test_data_cases - whole, byte by byte, every step size, random splits */
static void test_data_cases(void **state)
{
	for (size_t i = 0; i < sizeof(data_cases) / sizeof(data_cases[0]); i++) {
		printf("data case %zu\n", i);
		for (size_t step = 0; step <= data_cases[i].len; step++)
			check_case(&data_cases[i], step, 0);
		for (unsigned seed = 1; seed < 50; seed++)
			check_case(&data_cases[i], 0, seed);
	}
}

/* A BDAT body (RFC 3030 2): raw bytes, no stuffing and no end line; the
 * reader's findings are those of DATA, and smtp_data_finish flags a CR left
 * at the very end. */
struct raw_case {
	const char *in;
	size_t len;
	size_t max_line;
	const char *out;
	size_t out_len;
	unsigned flags;
};

static const struct raw_case raw_cases[] = {
	{ S(""), 1000, S(""), 0 },
	{ S("a\r\n.\r\n"), 1000, S("a\r\n.\r\n"), 0 },
	{ S("..x\r\n.\r\nMAIL FROM:<>\r\n"), 1000, S("..x\r\n.\r\nMAIL FROM:<>\r\n"), 0 },
	{ S(".\r\n"), 1000, S(".\r\n"), 0 },
	{ S("a\nb\r\n"), 1000, S("a\nb\r\n"), F_BARE_LF },
	{ S("\n"), 1000, S("\n"), F_BARE_LF },
	{ S("a\rb\r\n"), 1000, S("a\rb\r\n"), F_BARE_CR },
	{ S("a\r"), 1000, S("a\r"), F_BARE_CR },
	{ S("a\r\r\n"), 1000, S("a\r\r\n"), F_BARE_CR },
	{ S("a\0b\r\n"), 1000, S("a\0b\r\n"), F_NUL },
	{ S("\xc3\xa9\r\n"), 1000, S("\xc3\xa9\r\n"), F_8BIT },
	{ S("abc\r\nabc\r\n"), 5, S("abc\r\nabc\r\n"), 0 },
	{ S("abcd\r\n"), 5, S("abcd\r\n"), F_LONG },
	{ S("abcde"), 5, S("abcde"), 0 },
	{ S("abcdef"), 5, S("abcdef"), F_LONG },
	/* a bare LF ends a line for the length limit, as in DATA */
	{ S("a\nb\nc\r\n"), 5, S("a\nb\nc\r\n"), F_BARE_LF },
	{ S("abcd\nabc\r\n"), 5, S("abcd\nabc\r\n"), F_BARE_LF },
	{ S("abcde\nab\r\n"), 5, S("abcde\nab\r\n"), F_LONG | F_BARE_LF },
};

/* test_raw_cases - the BDAT mode, whole, every step size, random splits */
static void test_raw_cases(void **state)
{
	for (size_t i = 0; i < sizeof(raw_cases) / sizeof(raw_cases[0]); i++) {
		const struct raw_case *t = &raw_cases[i];
		printf("raw case %zu\n", i);
		for (unsigned k = 0; k < t->len + 50; k++) {
			struct smtp_data_reader r;
			struct buf out;
			size_t consumed;
			buf_init(&out);
			smtp_data_reader_init(&r, 1000, t->max_line);
			r.raw = true;
			size_t step = k <= t->len ? k : 0;
			unsigned seed = k <= t->len ? 0 : k;
			assert_int_equal(feed(&r, t->in, t->len, step, seed, &consumed, &out), 0);
			assert_int_equal(consumed, t->len);
			smtp_data_finish(&r, &out);
			assert_int_equal(out.len, t->out_len);
			if (out.len)
				assert_memory_equal(out.data, t->out, out.len);
			assert_int_equal(reader_flags(&r), t->flags);
			assert_int_equal(r.size, t->out_len);
			buf_free(&out);
		}
	}
}

/* reference - the same job done the obvious way on a whole input: find
 * CRLF "." CRLF with the DATA line's CRLF in front, then unstuff each line.
 * Returns the consumed length, or 0 if the input does not end. */
static size_t reference(const char *in, size_t len, struct buf *out,
			bool *bare_lf_r, bool *bare_cr_r)
{
	size_t end = 0;
	bool found = false;

	/* the terminator may start at 0 (the implied CRLF) or after a CRLF */
	for (size_t i = 0; i + 3 <= len && !found; i++) {
		bool at_start = i == 0 || (i >= 2 && in[i - 2] == '\r' &&
					    in[i - 1] == '\n');
		if (at_start && in[i] == '.' && in[i + 1] == '\r' &&
		    in[i + 2] == '\n') {
			end = i;
			found = true;
		}
	}
	if (!found)
		return 0;
	/* body = in[0..end), a run of CRLF-terminated lines */
	*bare_lf_r = false;
	*bare_cr_r = false;
	size_t line = 0;
	for (size_t i = 0; i < end; i++) {
		if (in[i] == '\n' && (i == 0 || in[i - 1] != '\r'))
			*bare_lf_r = true;
		if (in[i] == '\r' && in[i + 1] != '\n')
			*bare_cr_r = true;
		if (i + 1 < end && in[i] == '\r' && in[i + 1] == '\n') {
			size_t from = line;
			if (in[from] == '.')
				from++;
			buf_append(out, in + from, i + 2 - from);
			line = i + 2;
			i++;
		}
	}
	assert_int_equal(line, end);
	return end + 3;
}

/* reference_long - a line of IN[0..LEN) over MAX octets, where any LF
 * (bare or in CRLF) ends a line and the terminator counts in the length */
static bool reference_long(const char *in, size_t len, size_t max)
{
	size_t line = 0;

	for (size_t i = 0; i < len; i++) {
		if (++line > max)
			return true;
		if (in[i] == '\n')
			line = 0;
	}
	return false;
}

/* test_data_random - random streams over ". \r \n a": whole equals the
 * reference, and every way of cutting it equals whole */
static void test_data_random(void **state)
{
	static const char alphabet[] = ".\r\na";
	unsigned rng = 12345;
	char in[40];
	int ended = 0;

	for (int n = 0; n < 20000; n++) {
		size_t len = test_rand(&rng) % sizeof(in);
		for (size_t i = 0; i < len; i++)
			in[i] = alphabet[test_rand(&rng) % 4];

		struct smtp_data_reader whole, split;
		struct buf out_whole, out_split, out_ref;
		size_t c_whole, c_split;
		bool ref_lf, ref_cr;

		buf_init(&out_whole);
		buf_init(&out_ref);
		smtp_data_reader_init(&whole, 16, 6);
		int ret = feed(&whole, in, len, 0, 0, &c_whole, &out_whole);
		size_t c_ref = reference(in, len, &out_ref, &ref_lf, &ref_cr);
		if (ret == 1) {
			ended++;
			assert_int_equal(c_whole, c_ref);
			assert_int_equal(whole.size, out_ref.len);
			assert_int_equal(out_whole.len,
				out_ref.len < 16 ? out_ref.len : 16);
			if (out_whole.len)
				assert_memory_equal(out_whole.data, out_ref.data,
						    out_whole.len);
			assert_int_equal(whole.too_big, out_ref.len > 16);
			assert_int_equal(whole.bare_lf, ref_lf);
			assert_int_equal(whole.bare_cr, ref_cr);
			assert_int_equal(whole.line_too_long,
					 reference_long(in, c_ref, 6));
		} else {
			assert_int_equal(c_ref, 0);
		}
		for (unsigned mode = 0; mode < 4; mode++) {
			buf_init(&out_split);
			smtp_data_reader_init(&split, 16, 6);
			int ret2 = feed(&split, in, len, mode == 0 ? 1 : 0,
					mode == 0 ? 0 : test_rand(&rng) | 1,
					&c_split, &out_split);
			assert_int_equal(ret2, ret);
			assert_int_equal(c_split, c_whole);
			assert_int_equal(out_split.len, out_whole.len);
			if (out_split.len)
				assert_memory_equal(out_split.data,
					out_whole.data, out_split.len);
			assert_int_equal(reader_flags(&split),
					 reader_flags(&whole));
			assert_int_equal(split.size, whole.size);
			assert_int_equal(split.line_len, whole.line_len);
			assert_int_equal(split.state, whole.state);
			buf_free(&out_split);
		}
		buf_free(&out_whole);
		buf_free(&out_ref);
	}
	assert_true(ended > 100);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_data_cases),
		cmocka_unit_test(test_data_random),
		cmocka_unit_test(test_raw_cases),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
