/* fuzz/fuzz-data - the DATA reader fed whole, one byte at a time and in
 * pseudo-random pieces: output, consumed count and findings must agree, the
 * output stays within max_size, and an end is always CRLF "." CRLF.  With
 * the low bit of the third byte set, the reader runs raw as for BDAT: then
 * the output is the input itself (up to max_size) and nothing ends it. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/parse.h"
#include "util/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct run {
	struct smtp_data_reader reader;
	struct buf out;
	int ret;
	size_t consumed;
};

static void run_feed(struct run *run, const char *in, size_t len, size_t max_size,
		     size_t max_line, bool raw, unsigned mode, uint32_t seed);
static void run_compare(const struct run *a, const struct run *b);

/* run_feed - mode 0 whole, 1 byte by byte, 2 random pieces */
static void run_feed(struct run *run, const char *in, size_t len, size_t max_size,
		     size_t max_line, bool raw, unsigned mode, uint32_t seed)
{
	size_t pos = 0;

	buf_init(&run->out);
	smtp_data_reader_init(&run->reader, max_size, max_line);
	run->reader.raw = raw;
	run->ret = 0;
	do {
		size_t chunk = len - pos;
		if (mode == 1) {
			chunk = 1;
		} else if (mode == 2) {
			seed = seed * 1103515245u + 12345u;
			chunk = 1 + (seed >> 16) % 17;
		}
		if (chunk > len - pos)
			chunk = len - pos;
		char *piece = malloc(chunk ? chunk : 1);
		assert(piece != NULL);
		memcpy(piece, in + pos, chunk);
		size_t used = 0;
		run->ret = smtp_data_feed(&run->reader, piece, chunk, &used, &run->out);
		free(piece);
		assert(used <= chunk);
		assert(run->ret == 1 || used == chunk);
		pos += used;
	} while (run->ret == 0 && pos < len);
	run->consumed = pos;
	if (raw)
		smtp_data_finish(&run->reader, &run->out);
}

static void run_compare(const struct run *a, const struct run *b)
{
	const struct smtp_data_reader *x = &a->reader, *y = &b->reader;

	assert(a->ret == b->ret && a->consumed == b->consumed);
	assert(a->out.len == b->out.len);
	assert(a->out.len == 0 || memcmp(a->out.data, b->out.data, a->out.len) == 0);
	assert(x->size == y->size && x->state == y->state &&
	       x->line_len == y->line_len);
	assert(x->too_big == y->too_big && x->line_too_long == y->line_too_long &&
	       x->bare_lf == y->bare_lf && x->bare_cr == y->bare_cr &&
	       x->nul == y->nul && x->eight_bit == y->eight_bit);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 3)
		return 0;
	size_t max_size = (size_t)data[0] * 4;
	size_t max_line = data[1];
	uint32_t seed = data[2];
	bool raw = data[2] & 1;
	const char *in = (const char *)data + 3;
	size_t len = size - 3;
	struct run whole, bytes, random;

	run_feed(&whole, in, len, max_size, max_line, raw, 0, seed);
	run_feed(&bytes, in, len, max_size, max_line, raw, 1, seed);
	run_feed(&random, in, len, max_size, max_line, raw, 2, seed);
	run_compare(&whole, &bytes);
	run_compare(&whole, &random);

	assert(whole.out.len <= max_size);
	assert(whole.reader.size >= whole.out.len);
	assert(whole.reader.too_big == (whole.reader.size > max_size));
	if (!whole.reader.too_big)
		assert(whole.reader.size == whole.out.len);
	if (raw) {
		assert(whole.ret == 0 && whole.consumed == len && whole.reader.size == len);
		assert(whole.out.len == (len < max_size ? len : max_size));
		assert(whole.out.len == 0 || memcmp(whole.out.data, in, whole.out.len) == 0);
	}
	if (whole.ret == 1) {
		size_t c = whole.consumed;
		assert(c >= 3 && memcmp(in + c - 3, ".\r\n", 3) == 0);
		assert(c == 3 || (c >= 5 && in[c - 5] == '\r' && in[c - 4] == '\n'));
		/* a kept message ends with CRLF, or is empty */
		if (!whole.reader.too_big && whole.out.len > 0)
			assert(whole.out.data[whole.out.len - 2] == '\r' &&
			       whole.out.data[whole.out.len - 1] == '\n');
	}
	/* without bare CR or LF findings, every CR and LF kept is a CRLF */
	if (!whole.reader.bare_lf && !whole.reader.bare_cr && !whole.reader.too_big &&
	    whole.ret == 1) {
		for (size_t i = 0; i < whole.out.len; i++) {
			if (whole.out.data[i] == '\r')
				assert(i + 1 < whole.out.len && whole.out.data[i + 1] == '\n');
			if (whole.out.data[i] == '\n')
				assert(i > 0 && whole.out.data[i - 1] == '\r');
		}
	}
	buf_free(&whole.out);
	buf_free(&bytes.out);
	buf_free(&random.out);
	return 0;
}
