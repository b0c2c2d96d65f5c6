/* fuzz/fuzz-apikey-body - the body of POST /v3/api_keys (src/http/
 * apikeys-parse.c) on arbitrary input: an accepted body has a name within
 * its limit and scopes each valid; a refusal has a message. */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "http/apikeys-parse.h"
#include "store/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_apikey_body r;
	const char *field = NULL, *message = NULL;
	if (http_apikey_body_parse((const char *)data, size, &r, &field, &message) == 0) {
		size_t len = strlen(r.name);
		assert(len > 0 && len <= HTTP_APIKEY_NAME_MAX);
		assert(!r.scopes || (r.scopes[0] != '\0' && r.scopes[0] != ' '));
		http_apikey_body_clear(&r);
	} else {
		assert(message != NULL);
	}
	return 0;
}
