/* fuzz/fuzz-dkim-signature - the DKIM-Signature value and key record parsers
 * (src/mailauth/dkim-parse.c) on the same input.  Invariants of an accepted
 * signature: the required tags were read, at least one signed header name
 * (From among them), b= decoded to at least one byte, its span inside the
 * input just after its "=", i= in d=; of a key: revoked exactly when it has
 * no data.  Every result, accepted or not, is freed without a leak. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fuzz-input.h"
#include "mailauth/dkim-int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in = fuzz_input_copy(data, size);

	struct dkim_signature sig;
	const char *error = NULL;
	if (dkim_signature_parse(in, size, &sig, &error) == 0) {
		assert(sig.domain != NULL && sig.selector != NULL && sig.identity != NULL);
		assert(sig.algorithm_name != NULL);
		assert(sig.header_count >= 1 && sig.header_count <= DKIM_SIGNED_HEADERS_MAX);
		bool from = false;
		for (size_t i = 0; i < sig.header_count; i++)
			from |= strcasecmp(sig.headers[i], "from") == 0;
		assert(from);
		assert(sig.b != NULL && sig.b_len > 0 && sig.b_text != NULL);
		assert(sig.b_start > 0 && sig.b_start <= sig.b_end && sig.b_end <= size);
		assert(in[sig.b_start - 1] == '=');
		assert(sig.b_end == size || in[sig.b_end] == ';');
		assert(strchr(sig.identity, '@') != NULL);
		assert(sig.expiration < 0 || sig.timestamp < 0 || sig.expiration > sig.timestamp);
	} else {
		assert(error != NULL);
	}
	dkim_signature_free(&sig);

	struct dkim_key key;
	error = NULL;
	if (dkim_key_parse(in, size, &key, &error) == 0)
		assert(key.revoked == (key.data == NULL) && key.revoked == (key.data_len == 0));
	else
		assert(error != NULL);
	dkim_key_free(&key);
	free(in);
	return 0;
}
