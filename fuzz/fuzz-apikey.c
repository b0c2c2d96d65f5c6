/* fuzz/fuzz-apikey - what a client presents as an API key (the SMTP
 * password of user "apikey", an HTTP Bearer token) read by
 * store_apikey_parse (src/store/apikey-key.c), and scope lists by
 * store_apikey_has_scope: an accepted key has the key's form, its id is
 * its own, and the same key always gives the same hash. */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy = malloc(size + 1);
	assert(copy != NULL);
	memcpy(copy, data, size);
	copy[size] = '\0';
	char id[STORE_APIKEY_ID_LEN + 1], hash[65], id2[STORE_APIKEY_ID_LEN + 1], hash2[65];
	if (store_apikey_parse(copy, size, id, hash)) {
		assert(size == STORE_APIKEY_LEN && memcmp(copy, "PT.", 3) == 0);
		assert(memcmp(copy + 3, id, STORE_APIKEY_ID_LEN) == 0 && strlen(hash) == 64);
		assert(store_apikey_parse(copy, size, id2, hash2));
		assert(strcmp(hash, hash2) == 0);
	}
	/* the input as a scope list, its first word as the scope */
	size_t word = strcspn(copy, " ");
	if (word > 0 && word < size) {
		copy[word] = '\0';
		(void)store_apikey_has_scope(copy + word + 1, copy);
		assert(store_apikey_has_scope(copy, copy));
	}
	free(copy);
	return 0;
}
