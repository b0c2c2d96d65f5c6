/* store/scram - the auth process's half of a SCRAM-SHA-256 exchange (RFC
 * 5802 3, RFC 7677): read stored credentials and check a client's proof.
 *
 * The network process parses the client's messages (authd/sasl.c) and hands
 * over only the AuthMessage and the ClientProof; StoredKey and ServerKey are
 * used here and never leave the process that reads them.  No I/O, no
 * allocation: shared with the unit tests and the fuzz target of authd/sasl.c.
 */
#include "store/store.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

static bool scram_b64_field(const char *text, size_t len, unsigned char *out, size_t max,
			    size_t *out_len_r);

/* scram_b64_field - padded base64 TEXT (LEN bytes) into OUT (at most MAX
 * bytes); false when it is not base64 or decodes to nothing or too much */
static bool scram_b64_field(const char *text, size_t len, unsigned char *out, size_t max,
			    size_t *out_len_r)
{
	unsigned char tmp[3 * (STORE_SCRAM_SALT_MAX + 32) / 4 + 3];
	bool ok = false;
	if (len == 0 || len % 4 != 0 || len / 4 * 3 > sizeof(tmp))
		return false;
	for (size_t i = 0; i < len; i++)
		if (text[i] == ' ' || text[i] == '\n' || text[i] == '\r' || text[i] == '\t')
			return false;  /* EVP_DecodeBlock would skip them */
	int n = EVP_DecodeBlock(tmp, (const unsigned char *)text, (int)len);
	if (n >= 0) {
		size_t pad = text[len - 1] == '=' ? (text[len - 2] == '=' ? 2 : 1) : 0;
		size_t got = (size_t)n - pad;
		if (got > 0 && got <= max) {
			memcpy(out, tmp, got);
			*out_len_r = got;
			ok = true;
		}
	}
	OPENSSL_cleanse(tmp, sizeof(tmp));
	return ok;
}

int store_scram_parse(const char *credentials, struct store_scram *scram_r)
{
	/* "iterations:salt_b64:storedkey_b64:serverkey_b64" */
	const char *part[4];
	size_t part_len[4];
	const char *p = credentials;
	int rc = -1;
	memset(scram_r, 0, sizeof(*scram_r));
	for (int i = 0; i < 4; i++) {
		const char *colon = strchr(p, ':');
		part[i] = p;
		part_len[i] = colon ? (size_t)(colon - p) : strlen(p);
		if ((i < 3) != (colon != NULL))
			goto out;
		p += part_len[i] + 1;
	}
	unsigned long iterations = 0;
	for (size_t i = 0; i < part_len[0]; i++) {
		char c = part[0][i];
		if (c < '0' || c > '9' || iterations > UINT_MAX / 10)
			goto out;
		iterations = iterations * 10 + (unsigned long)(c - '0');
	}
	size_t stored_len = 0, server_len = 0;
	if (part_len[0] == 0 || iterations == 0 || iterations > UINT_MAX ||
	    !scram_b64_field(part[1], part_len[1], scram_r->salt, sizeof(scram_r->salt),
			     &scram_r->salt_len) ||
	    !scram_b64_field(part[2], part_len[2], scram_r->stored_key,
			     sizeof(scram_r->stored_key), &stored_len) ||
	    !scram_b64_field(part[3], part_len[3], scram_r->server_key,
			     sizeof(scram_r->server_key), &server_len) ||
	    stored_len != STORE_SCRAM_KEY_LEN || server_len != STORE_SCRAM_KEY_LEN)
		goto out;
	scram_r->iterations = (unsigned)iterations;
	rc = 0;
out:
	if (rc != 0)
		store_scram_clear(scram_r);
	return rc;
}

int store_scram_proof_check(const struct store_scram *scram, const void *auth_message,
			    size_t len, const unsigned char proof[STORE_SCRAM_KEY_LEN],
			    unsigned char server_signature_r[STORE_SCRAM_KEY_LEN])
{
	unsigned char signature[STORE_SCRAM_KEY_LEN], client_key[STORE_SCRAM_KEY_LEN],
		check[STORE_SCRAM_KEY_LEN];
	unsigned int sl = 0;
	int rc = -1;
	/* RFC 5802 3: ClientSignature := HMAC(StoredKey, AuthMessage),
	 * ClientKey := ClientProof XOR ClientSignature, right when
	 * H(ClientKey) == StoredKey */
	if (!HMAC(EVP_sha256(), scram->stored_key, STORE_SCRAM_KEY_LEN, auth_message, len,
		  signature, &sl) || sl != sizeof(signature))
		goto out;
	for (size_t i = 0; i < STORE_SCRAM_KEY_LEN; i++)
		client_key[i] = proof[i] ^ signature[i];
	if (!SHA256(client_key, sizeof(client_key), check))
		goto out;
	if (CRYPTO_memcmp(check, scram->stored_key, STORE_SCRAM_KEY_LEN) != 0) {
		rc = 1;
		goto out;
	}
	/* ServerSignature := HMAC(ServerKey, AuthMessage) */
	if (!HMAC(EVP_sha256(), scram->server_key, STORE_SCRAM_KEY_LEN, auth_message, len,
		  server_signature_r, &sl) || sl != STORE_SCRAM_KEY_LEN)
		goto out;
	rc = 0;
out:
	OPENSSL_cleanse(signature, sizeof(signature));
	OPENSSL_cleanse(client_key, sizeof(client_key));
	OPENSSL_cleanse(check, sizeof(check));
	return rc;
}

void store_scram_clear(struct store_scram *scram)
{
	OPENSSL_cleanse(scram, sizeof(*scram));
}
