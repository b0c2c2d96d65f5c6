/* fuzz/fuzz-authres-parse - mailauth_ar_parse on any field body.  Invariants: a
 * parsed field has an authserv-id, at most the MAX results and properties,
 * lower-case NUL-free names, "none" never beside results; a refused one
 * leaves nothing allocated (LeakSanitizer). */
#include <assert.h>
#include <ctype.h>
#include <stdint.h>
#include <string.h>

#include "mailauth/mailauth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_word(const char *w)
{
	assert(w != NULL && w[0] != '\0' && strlen(w) <= 64);
	for (const char *p = w; *p; p++)
		assert(!isupper((unsigned char)*p) && (unsigned char)*p > 0x20);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mailauth_ar ar;
	const char *error = NULL;
	if (mailauth_ar_parse((const char *)data, size, &ar, &error) != 0) {
		assert(error != NULL);
		return 0;
	}
	assert(ar.authserv_id != NULL && ar.count <= MAILAUTH_AR_RESULTS_MAX);
	assert(!(ar.none && ar.count > 0));
	for (size_t i = 0; i < ar.count; i++) {
		const struct mailauth_ar_result *r = &ar.results[i];
		check_word(r->method);
		check_word(r->result);
		assert(r->prop_count <= MAILAUTH_AR_PROPS_MAX);
		for (size_t k = 0; k < r->prop_count; k++) {
			check_word(r->props[k].ptype);
			check_word(r->props[k].property);
			/* RFC 8601 2.2: a value may be an empty quoted-string */
			assert(r->props[k].value != NULL);
			assert(mailauth_ar_prop_find(r, r->props[k].ptype,
						     r->props[k].property) != NULL);
		}
	}
	mailauth_ar_free(&ar);
	return 0;
}
