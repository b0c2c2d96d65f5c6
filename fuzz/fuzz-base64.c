/* fuzz-base64 - strict base64 (src/util/base64.c).  Invariant: what
 * base64_decode accepts re-encodes to the same text (the canonical form is
 * the only one accepted), and what it decodes is 3/4 of the input or less. */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "util/base64.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	struct buf out, again;
	buf_init(&out);
	buf_init(&again);
	if (base64_decode(in, size, &out) == 0) {
		assert(out.len <= size / 4 * 3);
		base64_encode(out.data ? out.data : "", out.len, &again);
		assert(again.len == size && memcmp(again.data, in, size) == 0);
	}
	buf_free(&again);
	buf_free(&out);
	return 0;
}
