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

/* A target whose first octet picks the parser (and its options) and whose
 * other octets are the parser's input. */
typedef void fuzz_selected_fn(uint8_t selector, const char *in, size_t len);

/* fuzz_input_selected - FN with DATA's first octet and a heap copy of the
 * rest (fuzz_input_copy); an empty input is skipped.  libFuzzer's return
 * value, 0. */
static inline int fuzz_input_selected(const uint8_t *data, size_t size, fuzz_selected_fn *fn)
{
	if (size == 0)
		return 0;
	char *in = fuzz_input_copy(data + 1, size - 1);
	fn(data[0], in, size - 1);
	free(in);
	return 0;
}

#endif
