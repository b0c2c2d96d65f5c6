/* fuzz/fuzz-psl - the Public Suffix List reader (punycode of Unicode rules
 * included) and its lookups on any input: the input is the list, and every
 * line of it is also looked up as a name.  Nothing read past the input; a
 * registrable domain is a suffix of the (lower-cased) name, one label longer
 * than a public suffix, and the organizational domain of a registrable
 * domain is itself. */
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
	size_t line = 0;
	const char *error = NULL;
	struct mailauth_psl *psl = mailauth_psl_parse(text, size, &line, &error);
	if (!psl) {
		assert(error != NULL);
		free(text);
		return 0;
	}
	assert(mailauth_psl_rule_count(psl) > 0);
	for (const char *p = text, *end = text + size; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = (size_t)((nl ? nl : end) - p);
		char *name = malloc(len ? len : 1);
		assert(name != NULL);
		if (len)
			memcpy(name, p, len);
		char reg[MAILAUTH_DOMAIN_SIZE], org[MAILAUTH_DOMAIN_SIZE];
		int r = mailauth_psl_registrable(psl, name, len, reg);
		bool ok = mailauth_org_domain(psl, name, len, org);
		assert(ok == (r >= 0));
		if (r == 1) {
			size_t n = strlen(reg);
			assert(n > 0 && n <= len && strchr(reg, '.') != NULL);
			assert(strcmp(org, reg) == 0);
			char again[MAILAUTH_DOMAIN_SIZE];
			assert(mailauth_psl_registrable(psl, reg, n, again) == 1);
			assert(strcmp(again, reg) == 0);
		}
		free(name);
		p = nl ? nl + 1 : end;
	}
	mailauth_psl_free(&psl);
	free(text);
	return 0;
}
