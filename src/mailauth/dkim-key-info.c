/* mailauth/dkim-key-info - what a published DKIM key record holds (its
 * type, size, flags), for the domain check: the same parser the verifier
 * uses, then the key loaded as the verifier loads it, to learn its size.
 */
#include <openssl/evp.h>

#include "mailauth/dkim-int.h"
#include "mailauth/mailauth.h"

int dkim_key_describe(const char *text, size_t len, struct dkim_key_info *info_r,
		      const char **error_r)
{
	struct dkim_key key;
	int ret = -1;

	*info_r = (struct dkim_key_info){ 0 };
	if (dkim_key_parse(text, len, &key, error_r) < 0)
		goto out;
	info_r->type = key.type == DKIM_KEY_RSA ? "rsa" : "ed25519";
	info_r->testing = key.testing;
	info_r->revoked = key.revoked;
	if (!key.revoked) {
		EVP_PKEY *pkey = dkim_key_load(&key);
		if (pkey == NULL) {
			*error_r = key.type == DKIM_KEY_RSA ? "p= is not an RSA public key" :
				   "p= is not an Ed25519 public key (32 bytes)";
			goto out;
		}
		int bits = EVP_PKEY_get_bits(pkey);
		EVP_PKEY_free(pkey);
		info_r->bits = bits > 0 ? (unsigned)bits : 0;
	}
	ret = 0;
out:
	dkim_key_free(&key);
	return ret;
}
