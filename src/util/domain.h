/* util/domain - the syntax of a domain name: the one check behind the SMTP
 * path parser, the configuration, the store and the Maildir paths.  A domain
 * name is not mail (RFC 1035, RFC 1123), so it lives in util.  No
 * allocation, no I/O; the name is S[0..LEN) and need not be NUL-terminated.
 *
 * Always: labels separated by single dots, each 1 to 63 octets of letters,
 * digits and hyphens, no hyphen first or last (RFC 1035 2.3.1, RFC 1123 2.1:
 * a label may start with a digit; letters of either case); the whole name 1
 * to 253 octets.  The flags widen that for what each caller needs.
 */
#ifndef PETREL_UTIL_DOMAIN_H
#define PETREL_UTIL_DOMAIN_H

#include <stdbool.h>
#include <stddef.h>

#define DOMAIN_NAME_MAX  253  /* octets, without a trailing dot */
#define DOMAIN_LABEL_MAX 63   /* RFC 1035 2.3.4 */

#define DOMAIN_NAME_ULABEL     0x1u  /* labels may hold non-ASCII octets, and the
					name must then be well-formed UTF-8
					(U-labels, RFC 6531 3.3; not checked
					against IDNA2008: DNS says if it exists) */
#define DOMAIN_NAME_ABSOLUTE   0x2u  /* one trailing dot is allowed (RFC 1034
					3.1); it is not counted in the length */
#define DOMAIN_NAME_ANY_LENGTH 0x4u  /* no limit on the whole name: the caller
					applies its own, with its own reply */

/* domain_name_is_valid - S[0..LEN) is a domain name as FLAGS say */
bool domain_name_is_valid(const char *s, size_t len, unsigned flags);

#endif
