/* store/apikey-key - an API key itself: making one, reading its id and hash
 * back from what a client presents, and its scopes; the web pages' secrets
 * (sessions, one-time links) are made and hashed the same way.  No I/O and nothing of
 * the store: the fuzz target links it alone.  Why a plain SHA-256 and not a
 * slow password hash: the secret is 256 random bits, so no dictionary or
 * brute force reaches it through its hash, and a check must cost
 * microseconds, not the 50 ms of yescrypt, for an HTTP API that
 * authenticates every request (docs/security.md). */
#include "store/store.h"
#include "store/store-private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#define APIKEY_SECRET_OCTETS 32

static void hex_encode(const unsigned char *in, size_t len, char *out);

static void hex_encode(const unsigned char *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * len] = '\0';
}

void store_sha256_hex(const char *key, size_t len, char hash[65])
{
	unsigned char md[32];
	unsigned int md_len = 0;
	if (EVP_Digest(key, len, md, &md_len, EVP_sha256(), NULL) != 1 || md_len != 32)
		abort();  /* SHA-256 cannot fail short of memory */
	hex_encode(md, sizeof(md), hash);
}

int store_apikey_make(char key[STORE_APIKEY_LEN + 1], char id[STORE_APIKEY_ID_LEN + 1],
		      char hash[65])
{
	unsigned char id_octets[STORE_APIKEY_ID_LEN / 2], secret[APIKEY_SECRET_OCTETS];
	char secret_hex[2 * APIKEY_SECRET_OCTETS + 1];
	if (RAND_bytes(id_octets, sizeof(id_octets)) != 1 ||
	    RAND_bytes(secret, sizeof(secret)) != 1)
		return -1;
	hex_encode(id_octets, sizeof(id_octets), id);
	hex_encode(secret, sizeof(secret), secret_hex);
	snprintf(key, STORE_APIKEY_LEN + 1, "PT.%s.%s", id, secret_hex);
	store_sha256_hex(key, STORE_APIKEY_LEN, hash);
	OPENSSL_cleanse(secret, sizeof(secret));
	OPENSSL_cleanse(secret_hex, sizeof(secret_hex));
	return 0;
}

bool store_apikey_parse(const char *key, size_t len, char id[STORE_APIKEY_ID_LEN + 1],
			char hash[65])
{
	bool ok = len == STORE_APIKEY_LEN && memcmp(key, "PT.", 3) == 0 &&
		key[3 + STORE_APIKEY_ID_LEN] == '.';
	for (size_t i = 3; ok && i < len; i++)
		ok = i == 3 + STORE_APIKEY_ID_LEN || (key[i] >= '0' && key[i] <= '9') ||
			(key[i] >= 'a' && key[i] <= 'f');
	if (ok) {
		memcpy(id, key + 3, STORE_APIKEY_ID_LEN);
		id[STORE_APIKEY_ID_LEN] = '\0';
		store_sha256_hex(key, len, hash);
	}
	return ok;
}

int store_web_secret_make(char secret[STORE_WEB_SECRET_LEN + 1])
{
	unsigned char octets[STORE_WEB_SECRET_LEN / 2];
	if (RAND_bytes(octets, sizeof(octets)) != 1)
		return -1;
	hex_encode(octets, sizeof(octets), secret);
	OPENSSL_cleanse(octets, sizeof(octets));
	return 0;
}

bool store_apikey_has_scope(const char *scopes, const char *scope)
{
	size_t n = strlen(scope);
	for (const char *p = scopes; *p;) {
		size_t len = strcspn(p, " ");
		if (len == n && memcmp(p, scope, n) == 0)
			return true;
		p += len;
		p += strspn(p, " ");
	}
	return false;
}

bool store_apikey_scope_is_valid(const char *scope)
{
	return scope[0] != '\0' &&
		strspn(scope, "abcdefghijklmnopqrstuvwxyz0123456789._-") == strlen(scope);
}
