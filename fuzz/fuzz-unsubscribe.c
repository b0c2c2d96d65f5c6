/* fuzz-unsubscribe - the one-click unsubscribe token check and the POST
 * body reader (src/http/unsubscribe-parse.c), both fed from the network.
 * The first octet chooses: even, a token (nothing but a made one passes,
 * and it names what it was made for); odd, a body, its first line the
 * content type. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-input.h"
#include "http/unsubscribe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_one(uint8_t selector, const char *text, size_t len)
{
	static const unsigned char secret[UNSUBSCRIBE_SECRET_LEN] = "fuzz-secret-fuzz-secret-fuzz-sec";
	if (selector % 2 == 0) {
		char *a = NULL, *r = NULL;
		const char *reason = NULL;
		if (unsubscribe_token_check(secret, text, len, &a, &r, &reason) == 0) {
			struct buf made;
			buf_init(&made);
			unsubscribe_token_make(secret, a, r, &made);
			assert(made.len == len && memcmp(made.data, text, len) == 0);
			buf_free(&made);
			free(a);
			free(r);
		} else {
			assert(reason != NULL && a == NULL && r == NULL);
		}
		return;
	}
	const char *nl = memchr(text, '\n', len);
	size_t ct_len = nl ? (size_t)(nl - text) : 0;
	const char *body = nl ? nl + 1 : text;
	(void)unsubscribe_body_is_one_click(text, ct_len, body, len - (size_t)(body - text));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_input_selected(data, size, fuzz_one);
}
