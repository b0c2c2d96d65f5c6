/* fuzz/fuzz-authres - mailauth_authres_id (RFC 8601 2.2) on any input, as
 * the field body of an incoming Authentication-Results: nothing read past
 * the input, an id found is non-empty, NUL-free and fits, a smaller buffer
 * finds it only if it fits, and the id written back as a quoted-string
 * reads the same again. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-input.h"
#include "mailauth/mailauth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_input_copy(data, size);
	char id[MAILAUTH_AUTHSERV_ID_MAX], small[16], again[MAILAUTH_AUTHSERV_ID_MAX];
	bool ok = mailauth_authres_id(text, size, id, sizeof(id));
	if (!ok) {
		assert(id[0] == '\0');
		free(text);
		return 0;
	}
	size_t len = strlen(id);
	assert(len > 0 && len < sizeof(id));
	bool ok_small = mailauth_authres_id(text, size, small, sizeof(small));
	assert(ok_small == (len < sizeof(small)));
	if (ok_small)
		assert(strcmp(small, id) == 0);
	/* quoted back: every character escaped */
	char quoted[2 * MAILAUTH_AUTHSERV_ID_MAX + 2];
	size_t q = 0;
	quoted[q++] = '"';
	for (size_t i = 0; i < len; i++) {
		if (id[i] == '\r' || id[i] == '\n')
			continue;  /* unfolding drops them: so does the reader */
		quoted[q++] = '\\';
		quoted[q++] = id[i];
	}
	quoted[q++] = '"';
	if (q > 2) {
		assert(mailauth_authres_id(quoted, q, again, sizeof(again)));
		size_t a = 0;
		for (size_t i = 0; i < len; i++)
			if (id[i] != '\r' && id[i] != '\n')
				assert(again[a++] == id[i]);
		assert(again[a] == '\0');
	}
	free(text);
	return 0;
}
