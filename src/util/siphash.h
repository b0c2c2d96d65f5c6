/* util/siphash - SipHash-2-4 (Aumasson and Bernstein, "SipHash: a fast
 * short-input PRF", 2012), a keyed hash for tables whose keys come from
 * peers: without the 16-byte key an attacker cannot choose inputs that all
 * land in one bucket.  Pure computation, no allocation, thread-safe.
 */
#ifndef PETREL_UTIL_SIPHASH_H
#define PETREL_UTIL_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

#define SIPHASH_KEY_LEN 16

/* siphash24 - the 64-bit SipHash-2-4 of DATA under KEY (the paper's output
 * bytes read as a little-endian number) */
uint64_t siphash24(const unsigned char key[SIPHASH_KEY_LEN], const void *data, size_t len);

/* the same hash over data given in pieces (a file written or read a part
 * at a time): init, update with each piece in order, final */
struct siphash {
	uint64_t v0, v1, v2, v3;
	uint64_t len;                /* bytes given so far */
	unsigned char tail[8];       /* the bytes past the last whole word */
};
void siphash24_init(struct siphash *sip, const unsigned char key[SIPHASH_KEY_LEN]);
void siphash24_update(struct siphash *sip, const void *data, size_t len);
uint64_t siphash24_final(struct siphash *sip);

#endif
