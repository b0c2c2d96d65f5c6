/* util/hmac - HMAC-SHA256 over NUL-joined fields (see hmac.h). */
#include "util/hmac.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "util/buf.h"

void hmac_sha256_fields(const unsigned char *key, size_t key_len, const char *const *fields,
			size_t n, unsigned char mac[HMAC_SHA256_LEN])
{
	struct buf in;
	buf_init(&in);
	for (size_t i = 0; i < n; i++)
		buf_append(&in, fields[i], strlen(fields[i]) + (i + 1 < n ? 1 : 0));
	unsigned len = HMAC_SHA256_LEN;
	if (!HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)(in.data ? in.data : ""),
		  in.len, mac, &len) || len != HMAC_SHA256_LEN)
		abort();  /* an HMAC of a few bytes fails only short of memory */
	if (in.data)
		OPENSSL_cleanse(in.data, in.len);
	buf_free(&in);
}

bool hmac_equal(const unsigned char *a, const unsigned char *b)
{
	return CRYPTO_memcmp(a, b, HMAC_SHA256_LEN) == 0;
}
