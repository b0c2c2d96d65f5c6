/* util/dot-atom - RFC 5322 3.2.3 dot-atom-text: atext runs separated by
 * single dots, neither first nor last.  The one check behind the local part
 * of an address as the store and the configuration accept it (no quoted
 * strings there), the store's plan names and plain logins.  No allocation,
 * no I/O; the text is S[0..LEN) and need not be NUL-terminated.
 */
#ifndef PETREL_UTIL_DOT_ATOM_H
#define PETREL_UTIL_DOT_ATOM_H

#include <stdbool.h>
#include <stddef.h>

#define DOT_ATOM_UTF8 0x1u  /* atext may hold non-ASCII octets (RFC 6531 3.3);
			       the caller checks the whole with utf8_is_valid */

/* dot_atom_is_valid - S[0..LEN) is a dot-atom-text as FLAGS say */
bool dot_atom_is_valid(const char *s, size_t len, unsigned flags);

#endif
