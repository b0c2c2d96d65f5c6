/* fuzz/fuzz-input - what the libFuzzer targets do with their input first.
 * libFuzzer's own buffer may have readable bytes after the input; a target
 * that hands a parser a heap copy of exactly the input's size lets
 * AddressSanitizer catch any read past its end. */
#ifndef PETREL_FUZZ_INPUT_H
#define PETREL_FUZZ_INPUT_H

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* fuzz_input_copy - a heap copy of the SIZE octets of DATA (one octet is
 * allocated for an empty input); the caller frees it */
static inline void *fuzz_input_copy(const uint8_t *data, size_t size)
{
	void *copy = malloc(size ? size : 1);
	assert(copy != NULL);
	if (size)
		memcpy(copy, data, size);
	return copy;
}

#endif
