/* fuzz/fuzz-utf8 - util/utf8 against a decoder written the other way round
 * (decode by bit patterns, then judge the code point): the two agree on the
 * length of every sequence, and utf8_is_valid is true exactly when the input
 * is a run of well-formed sequences.  Nothing is read past the input. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* reference_length - see tests/unit/util/test-utf8.c */
static size_t reference_length(const unsigned char *p, size_t len)
{
	size_t n;
	uint32_t cp, min;

	if (len == 0)
		return 0;
	if (p[0] < 0x80)
		return 1;
	if ((p[0] & 0xe0) == 0xc0) {
		n = 2, cp = p[0] & 0x1fu, min = 0x80;
	} else if ((p[0] & 0xf0) == 0xe0) {
		n = 3, cp = p[0] & 0x0fu, min = 0x800;
	} else if ((p[0] & 0xf8) == 0xf0) {
		n = 4, cp = p[0] & 0x07u, min = 0x10000;
	} else {
		return 0;
	}
	if (len < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3fu);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* a copy of exactly SIZE bytes, so an over-read is caught */
	char *s = malloc(size ? size : 1);
	assert(s != NULL);
	if (size)
		memcpy(s, data, size);
	bool valid = true;
	for (size_t i = 0; i < size; i++) {
		size_t n = utf8_sequence_length(s + i, size - i);
		assert(n == reference_length((const unsigned char *)s + i, size - i));
		if (n == 0)
			valid = false;
	}
	size_t i = 0;
	bool walk = true;
	while (walk && i < size) {
		size_t n = utf8_sequence_length(s + i, size - i);
		walk = n > 0;
		i += n;
	}
	assert(utf8_is_valid(s, size) == walk);
	if (valid)
		assert(walk);
	free(s);
	return 0;
}
