/* fuzz/fuzz-domain - util/domain against a reference that splits the name
 * at its dots first and judges each label alone; the first byte picks the
 * flags.  Nothing is read past the input. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/domain.h"
#include "util/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* label_ok - one label, split out by the caller */
static bool label_ok(const unsigned char *p, size_t n, unsigned flags)
{
	if (n == 0 || n > DOMAIN_LABEL_MAX || p[0] == '-' || p[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = p[i];
		bool ascii = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
			     (c >= 'A' && c <= 'Z') || c == '-';
		if (!ascii && !(c >= 0x80 && (flags & DOMAIN_NAME_ULABEL)))
			return false;
	}
	return true;
}

static bool reference(const unsigned char *p, size_t len, unsigned flags)
{
	if ((flags & DOMAIN_NAME_ABSOLUTE) && len >= 2 && p[len - 1] == '.')
		len--;
	if (len == 0 || (!(flags & DOMAIN_NAME_ANY_LENGTH) && len > DOMAIN_NAME_MAX))
		return false;
	size_t start = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i == len || p[i] == '.') {
			if (!label_ok(p + start, i - start, flags))
				return false;
			start = i + 1;
		}
	}
	return !(flags & DOMAIN_NAME_ULABEL) || utf8_is_valid((const char *)p, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned flags = data[0] & (DOMAIN_NAME_ULABEL | DOMAIN_NAME_ABSOLUTE |
				    DOMAIN_NAME_ANY_LENGTH);
	size_t len = size - 1;
	unsigned char *s = malloc(len ? len : 1);
	assert(s != NULL);
	if (len)
		memcpy(s, data + 1, len);
	bool ok = domain_name_is_valid((const char *)s, len, flags);
	assert(ok == reference(s, len, flags));
	/* each flag only widens what passes */
	if (ok)
		assert(domain_name_is_valid((const char *)s, len, flags | DOMAIN_NAME_ANY_LENGTH));
	free(s);
	return 0;
}
