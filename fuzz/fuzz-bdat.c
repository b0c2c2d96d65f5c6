/* fuzz/fuzz-bdat - smtp_bdat_args_parse: a parsed size prints back as the
 * digits that were sent (no leading zeros aside), LAST only when given. */
#include <assert.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "smtp/parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	uint64_t chunk;
	bool last;
	struct smtp_error err;

	if (smtp_bdat_args_parse(in, size, &chunk, &last, &err) < 0) {
		assert(err.code == 501 && !last && chunk == 0);
		return 0;
	}
	size_t digits = 0;
	while (digits < size && in[digits] >= '0' && in[digits] <= '9')
		digits++;
	assert(digits > 0 && digits <= 20);
	size_t skip = 0;
	while (skip + 1 < digits && in[skip] == '0')
		skip++;
	char text[32];
	int n = snprintf(text, sizeof(text), "%" PRIu64, chunk);
	assert(n > 0 && (size_t)n == digits - skip);
	assert(memcmp(text, in + skip, (size_t)n) == 0);
	if (last)
		assert(size >= digits + 5);
	return 0;
}
