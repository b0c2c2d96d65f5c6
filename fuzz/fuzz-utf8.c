/* fuzz/fuzz-utf8 - util/utf8 against a decoder written the other way round
 * (tests/utf8-reference.h, shared with the unit test): the two agree on the
 * length of every sequence, and utf8_is_valid is true exactly when the input
 * is a run of well-formed sequences.  Nothing is read past the input. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-input.h"
#include "util/utf8.h"
#include "../tests/utf8-reference.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_input_copy(data, size);
	bool valid = true;
	for (size_t i = 0; i < size; i++) {
		size_t n = utf8_sequence_length(s + i, size - i);
		assert(n == utf8_reference_length((const unsigned char *)s + i, size - i));
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
