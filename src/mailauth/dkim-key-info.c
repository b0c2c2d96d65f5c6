/* mailauth/dkim-key-info - what a published DKIM key record holds (its
 * type, size, flags), for the domain check: the same parser the verifier
 * uses, then the key itself loaded with OpenSSL to learn its size.
 */
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "mailauth/dkim-int.h"
#include "mailauth/mailauth.h"

#define ED25519_KEY_LEN 32  /* RFC 8032 5.1.5 */

static EVP_PKEY *key_load(const struct dkim_key *key);

/* key_load - the public key of a parsed record: for RSA a SubjectPublicKeyInfo
 * (what signers publish) or a bare RSAPublicKey, as the verifier accepts;
 * for Ed25519 the raw 32 bytes (RFC 8463 4) */
static EVP_PKEY *key_load(const struct dkim_key *key)
{
	EVP_PKEY *pkey = NULL;
	if (key->type == DKIM_KEY_ED25519) {
		if (key->data_len == ED25519_KEY_LEN)
			pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, key->data,
							   key->data_len);
		return pkey;
	}
	const unsigned char *p = key->data;
	pkey = d2i_PUBKEY(NULL, &p, (long)key->data_len);
	if (pkey == NULL || p != key->data + key->data_len) {
		EVP_PKEY_free(pkey);
		p = key->data;
		pkey = d2i_PublicKey(EVP_PKEY_RSA, NULL, &p, (long)key->data_len);
	}
	if (pkey != NULL && EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA) {
		EVP_PKEY_free(pkey);
		pkey = NULL;
	}
	return pkey;
}

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
		EVP_PKEY *pkey = key_load(&key);
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
