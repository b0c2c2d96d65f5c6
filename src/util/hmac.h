/* util/hmac - HMAC-SHA256 (RFC 2104) over a list of text fields, each
 * ended by a NUL but the last, so that no two lists give one input: what
 * the server's stateless tokens (login tickets, unsubscribe links) sign.
 * The first field names the token's kind and version ("petrel-ticket-v1"),
 * so that a MAC made for one kind never checks as another's.
 *
 * Pure functions, no I/O; the caller owns KEY and wipes what it must.
 */
#ifndef PETREL_UTIL_HMAC_H
#define PETREL_UTIL_HMAC_H

#include <stdbool.h>
#include <stddef.h>

#define HMAC_SHA256_LEN 32

/* hmac_sha256_fields - the MAC of FIELDS[0..N) (NUL-terminated strings)
 * joined by NULs, with KEY[0..KEY_LEN) */
void hmac_sha256_fields(const unsigned char *key, size_t key_len, const char *const *fields,
			size_t n, unsigned char mac[HMAC_SHA256_LEN]);
/* hmac_equal - A and B (HMAC_SHA256_LEN octets each) are the same, in
 * constant time */
bool hmac_equal(const unsigned char *a, const unsigned char *b);

#endif
