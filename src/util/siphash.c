/* util/siphash - SipHash-2-4 (see siphash.h), written from the paper's
 * description: 2 compression rounds per 8-byte word, 4 finalization rounds,
 * little-endian words, the length mod 256 in the last word's top byte.  The
 * one-call form is the piecewise one given a single piece. */
#include "util/siphash.h"

static uint64_t sip_load64(const unsigned char *p);

#define SIP_ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

#define SIP_ROUND(v0, v1, v2, v3)                                                    \
	do {                                                                         \
		v0 += v1; v1 = SIP_ROTL(v1, 13); v1 ^= v0; v0 = SIP_ROTL(v0, 32);    \
		v2 += v3; v3 = SIP_ROTL(v3, 16); v3 ^= v2;                           \
		v0 += v3; v3 = SIP_ROTL(v3, 21); v3 ^= v0;                           \
		v2 += v1; v1 = SIP_ROTL(v1, 17); v1 ^= v2; v2 = SIP_ROTL(v2, 32);    \
	} while (0)

static uint64_t sip_load64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

void siphash24_init(struct siphash *sip, const unsigned char key[SIPHASH_KEY_LEN])
{
	uint64_t k0 = sip_load64(key), k1 = sip_load64(key + 8);
	*sip = (struct siphash){
		.v0 = k0 ^ 0x736f6d6570736575ULL, .v1 = k1 ^ 0x646f72616e646f6dULL,
		.v2 = k0 ^ 0x6c7967656e657261ULL, .v3 = k1 ^ 0x7465646279746573ULL,
	};
}

/* sip_word - compress one message word */
static void sip_word(struct siphash *sip, uint64_t m)
{
	uint64_t v0 = sip->v0, v1 = sip->v1, v2 = sip->v2, v3 = sip->v3;
	v3 ^= m;
	SIP_ROUND(v0, v1, v2, v3);
	SIP_ROUND(v0, v1, v2, v3);
	v0 ^= m;
	sip->v0 = v0;
	sip->v1 = v1;
	sip->v2 = v2;
	sip->v3 = v3;
}

void siphash24_update(struct siphash *sip, const void *data, size_t len)
{
	const unsigned char *in = data;
	size_t have = (size_t)(sip->len % 8);
	sip->len += len;
	if (have) {
		/* complete the word begun by the last piece */
		while (have < 8 && len > 0) {
			sip->tail[have++] = *in++;
			len--;
		}
		if (have < 8)
			return;
		sip_word(sip, sip_load64(sip->tail));
	}
	size_t whole = len - len % 8;
	for (size_t i = 0; i < whole; i += 8)
		sip_word(sip, sip_load64(in + i));
	for (size_t i = 0; i < len % 8; i++)
		sip->tail[i] = in[whole + i];
}

uint64_t siphash24_final(struct siphash *sip)
{
	uint64_t last = (uint64_t)(sip->len & 0xff) << 56;
	for (size_t i = 0; i < sip->len % 8; i++)
		last |= (uint64_t)sip->tail[i] << (8 * i);
	sip_word(sip, last);
	uint64_t v0 = sip->v0, v1 = sip->v1, v2 = sip->v2 ^ 0xff, v3 = sip->v3;
	for (int i = 0; i < 4; i++)
		SIP_ROUND(v0, v1, v2, v3);
	return v0 ^ v1 ^ v2 ^ v3;
}

uint64_t siphash24(const unsigned char key[SIPHASH_KEY_LEN], const void *data, size_t len)
{
	struct siphash sip;
	siphash24_init(&sip, key);
	siphash24_update(&sip, data, len);
	return siphash24_final(&sip);
}
