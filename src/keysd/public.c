/* keysd/public - what both sides of the keys channel share: the key id
 * check, and the public halves the keys process lists: the DKIM key record
 * to publish and signature checks (see keysd.h).  Runs in the network
 * process too; never sees a private key. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "keysd/keysd.h"
#include "util/xalloc.h"

static EVP_PKEY *public_parse(const void *spki, size_t spki_len, const char **error_r);

bool keysd_id_is_valid(const char *id, size_t len)
{
	bool ok = len >= 1 && len <= KEYSD_ID_MAX && id[0] != '.' && id[len - 1] != '.' &&
		  id[0] != '-' && id[len - 1] != '-';
	for (size_t i = 0; ok && i < len; i++) {
		unsigned char c = (unsigned char)id[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			     (c >= '0' && c <= '9');
		if (c == '.')
			ok = id[i + 1] != '.' && id[i + 1] != '-' && id[i - 1] != '-';
		else
			ok = alnum || c == '-' || c == '_';
	}
	return ok;
}

/* public_parse - an RSA or Ed25519 public key from its SPKI DER (all of it) */
static EVP_PKEY *public_parse(const void *spki, size_t spki_len, const char **error_r)
{
	const unsigned char *p = spki;
	EVP_PKEY *pkey = spki_len > 0 && spki_len < 65536 ? d2i_PUBKEY(NULL, &p, (long)spki_len) :
		NULL;
	if (!pkey || p != (const unsigned char *)spki + spki_len) {
		*error_r = "not a public key (SubjectPublicKeyInfo DER)";
		EVP_PKEY_free(pkey);
		return NULL;
	}
	int type = EVP_PKEY_get_base_id(pkey);
	if (type != EVP_PKEY_RSA && type != EVP_PKEY_ED25519) {
		*error_r = "neither an RSA nor an Ed25519 key";
		EVP_PKEY_free(pkey);
		return NULL;
	}
	return pkey;
}

int keysd_public_describe(const void *spki, size_t spki_len, struct keysd_public *pub,
			  const char **error_r)
{
	memset(pub, 0, sizeof(*pub));
	EVP_PKEY *pkey = public_parse(spki, spki_len, error_r);
	if (!pkey)
		return -1;
	int ret = -1;
	unsigned char raw[32];
	size_t raw_len = sizeof(raw);
	const unsigned char *data = spki;
	size_t len = spki_len;
	const char *k = "rsa";
	if (EVP_PKEY_get_base_id(pkey) == EVP_PKEY_ED25519) {
		if (EVP_PKEY_get_raw_public_key(pkey, raw, &raw_len) != 1 || raw_len != 32) {
			*error_r = "cannot read the Ed25519 public key";
			goto out;
		}
		data = raw;
		len = raw_len;
		k = "ed25519";
		strcpy(pub->algorithm, KEYSD_ALG_ED25519);
		pub->bits = 256;
	} else {
		strcpy(pub->algorithm, KEYSD_ALG_RSA);
		pub->bits = EVP_PKEY_get_bits(pkey);
	}
	size_t b64_len = 4 * ((len + 2) / 3);
	char *b64 = xmalloc(b64_len + 1);
	if (EVP_EncodeBlock((unsigned char *)b64, data, (int)len) != (int)b64_len)
		abort();
	pub->dns = xasprintf("v=DKIM1; k=%s; p=%s", k, b64);
	free(b64);
	ret = 0;
out:
	EVP_PKEY_free(pkey);
	return ret;
}

void keysd_public_free(struct keysd_public *pub)
{
	free(pub->dns);
	pub->dns = NULL;
}

int keysd_public_verify(const void *spki, size_t spki_len, const char *algorithm,
			const unsigned char *digest, const void *sig, size_t sig_len,
			const char **error_r)
{
	EVP_PKEY *pkey = public_parse(spki, spki_len, error_r);
	if (!pkey)
		return -1;
	int ret = -1;
	bool ed = EVP_PKEY_get_base_id(pkey) == EVP_PKEY_ED25519;
	if (strcmp(algorithm, ed ? KEYSD_ALG_ED25519 : KEYSD_ALG_RSA) != 0) {
		*error_r = "the algorithm is not the key's";
		goto out;
	}
	if (ed) {
		EVP_MD_CTX *md = EVP_MD_CTX_new();
		if (!md)
			abort();
		if (EVP_DigestVerifyInit(md, NULL, NULL, NULL, pkey) == 1 &&
		    EVP_DigestVerify(md, sig, sig_len, digest, KEYSD_DIGEST_LEN) == 1)
			ret = 0;
		EVP_MD_CTX_free(md);
	} else {
		EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(pkey, NULL);
		if (!ctx)
			abort();
		if (EVP_PKEY_verify_init(ctx) == 1 &&
		    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) > 0 &&
		    EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) > 0 &&
		    EVP_PKEY_verify(ctx, sig, sig_len, digest, KEYSD_DIGEST_LEN) == 1)
			ret = 0;
		EVP_PKEY_CTX_free(ctx);
	}
	if (ret != 0)
		*error_r = "the signature does not verify with the public key";
out:
	EVP_PKEY_free(pkey);
	return ret;
}
