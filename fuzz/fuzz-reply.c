/* fuzz/fuzz-reply - the outbound client's SMTP reply parser fed whole, one
 * byte at a time and in pseudo-random pieces: the sequence of results
 * (replies with code, enhanced code and text, or the error) must agree, and
 * nothing is read past the input. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "wire/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* run - parse every reply in IN; a digest of each goes to OUT */
static void run(const char *in, size_t len, unsigned mode, uint32_t seed, struct buf *out)
{
	struct wire_reply_parser p;
	struct wire_reply_limits lim = { 64, 5 };
	size_t pos = 0;

	wire_reply_parser_init(&p, &lim);
	while (pos < len) {
		size_t chunk = len - pos;
		if (mode == 1) {
			chunk = 1;
		} else if (mode == 2) {
			seed = seed * 1103515245u + 12345u;
			chunk = 1 + (seed >> 16) % 13;
			if (chunk > len - pos)
				chunk = len - pos;
		}
		char *piece = malloc(chunk);
		assert(piece);
		memcpy(piece, in + pos, chunk);
		size_t used = 0;
		const char *error = NULL;
		int r = wire_reply_parser_feed(&p, piece, chunk, &used, &error);
		free(piece);
		assert(used <= chunk);
		pos += used;
		if (r < 0) {
			assert(error);
			buf_printf(out, "E:%s", error);
			break;
		}
		if (r == 1) {
			assert(p.reply.code >= 200 && p.reply.code <= 599);
			assert(p.reply.lines >= 1 && p.reply.lines <= 5);
			char *f = wire_reply_format(&p.reply);
			buf_printf(out, "R:%s|%s;", p.reply.enhanced, f);
			free(f);
			wire_reply_parser_reset(&p);
		} else {
			assert(used == chunk);
		}
	}
	wire_reply_parser_free(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf a, b, c;
	uint32_t seed = size ? data[0] : 1;
	buf_init(&a);
	buf_init(&b);
	buf_init(&c);
	run((const char *)data, size, 0, seed, &a);
	run((const char *)data, size, 1, seed, &b);
	run((const char *)data, size, 2, seed, &c);
	assert(a.len == b.len && (a.len == 0 || memcmp(a.data, b.data, a.len) == 0));
	assert(a.len == c.len && (a.len == 0 || memcmp(a.data, c.data, a.len) == 0));
	buf_free(&a);
	buf_free(&b);
	buf_free(&c);
	return 0;
}
