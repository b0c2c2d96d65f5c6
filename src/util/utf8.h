/* util/utf8 - UTF-8 well-formedness (RFC 3629 4): no overlong forms, no
 * surrogates (U+D800..U+DFFF), nothing above U+10FFFF.  The one validator of
 * the tree: SMTP paths and parameters, RFC 5322 addresses, DSNs, the store's
 * names and the CLI's JSON all use it.  No allocation, no I/O; a NUL byte is
 * an ordinary (ASCII) character here: callers with C strings pass strlen.
 */
#ifndef PETREL_UTIL_UTF8_H
#define PETREL_UTIL_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* utf8_sequence_length - the length of the well-formed character at
 * S[0..LEN): 1 for ASCII, 2 to 4 for a multi-byte one; 0 if S starts with a
 * malformed or cut-short sequence, or LEN is 0 */
size_t utf8_sequence_length(const char *s, size_t len);

/* utf8_is_valid - S[0..LEN) is well-formed UTF-8 (ASCII included) */
bool utf8_is_valid(const char *s, size_t len);

/* utf8_encode - code point CP (at most U+10FFFF; the caller keeps
 * surrogates out) into OUT; the number of bytes written, 1 to 4 */
size_t utf8_encode(uint32_t cp, char out[4]);

#endif
