/* util/dot-atom - dot-atom-text syntax (see dot-atom.h). */
#include "util/dot-atom.h"

#include <string.h>

static bool dot_atom_octet_is_atext(unsigned char c, unsigned flags);

/* dot_atom_octet_is_atext - C is RFC 5322 3.2.3 atext (or, with
 * DOT_ATOM_UTF8, a non-ASCII octet) */
static bool dot_atom_octet_is_atext(unsigned char c, unsigned flags)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	if (c >= 0x80)
		return (flags & DOT_ATOM_UTF8) != 0;
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

bool dot_atom_is_valid(const char *s, size_t len, unsigned flags)
{
	bool ok = len > 0 && s[0] != '.' && s[len - 1] != '.';
	for (size_t i = 0; ok && i < len; i++) {
		if (s[i] == '.')
			ok = s[i + 1] != '.';
		else
			ok = dot_atom_octet_is_atext((unsigned char)s[i], flags);
	}
	return ok;
}
