/* util/domain - domain name syntax (see domain.h). */
#include "util/domain.h"

#include "util/utf8.h"

static bool domain_octet_is_valid(unsigned char c, size_t label, unsigned flags);

/* domain_octet_is_valid - C may stand in a label after LABEL octets */
static bool domain_octet_is_valid(unsigned char c, size_t label, unsigned flags)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	if (c == '-')
		return label > 0;
	return c >= 0x80 && (flags & DOMAIN_NAME_ULABEL) != 0;
}

bool domain_name_is_valid(const char *s, size_t len, unsigned flags)
{
	if ((flags & DOMAIN_NAME_ABSOLUTE) && len > 1 && s[len - 1] == '.')
		len--;
	bool ok = len > 0 && ((flags & DOMAIN_NAME_ANY_LENGTH) || len <= DOMAIN_NAME_MAX);
	size_t label = 0;

	/* the end of the name closes the last label as a dot would */
	for (size_t i = 0; ok && i <= len; i++) {
		if (i == len || s[i] == '.') {
			ok = label > 0 && s[i - 1] != '-';
			label = 0;
		} else {
			ok = domain_octet_is_valid((unsigned char)s[i], label, flags) &&
			     ++label <= DOMAIN_LABEL_MAX;
		}
	}
	if (ok && (flags & DOMAIN_NAME_ULABEL))
		ok = utf8_is_valid(s, len);
	return ok;
}
