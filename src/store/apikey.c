/* store/apikey - API keys: making one, reading its id and hash back from
 * what a client presents, and the rows kept with the credentials (the
 * backend's apikey_* functions hold them as strings; this file converts).
 * Why a plain SHA-256 and not a slow password hash: the secret is 256
 * random bits, so no dictionary or brute force reaches it through its
 * hash, and a check must cost microseconds, not the 50 ms of yescrypt, for
 * an HTTP API that authenticates every request (docs/security.md). */
#include "store/store.h"
#include "store/store-private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "util/xalloc.h"

#define APIKEY_SECRET_OCTETS 32

static void hex_encode(const unsigned char *in, size_t len, char *out);
static void apikey_hash(const char *key, size_t len, char hash[65]);
static void apikey_from_row(char *const *row, struct store_apikey *key);

static void hex_encode(const unsigned char *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * len] = '\0';
}

/* apikey_hash - SHA-256 of KEY in hex */
static void apikey_hash(const char *key, size_t len, char hash[65])
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
	apikey_hash(key, STORE_APIKEY_LEN, hash);
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
		apikey_hash(key, len, hash);
	}
	return ok;
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

int store_apikey_add(struct store_credentials *sc, const struct store_apikey *key,
		     const char **error_r)
{
	char created[24];
	snprintf(created, sizeof(created), "%lld",
		 (long long)(key->created ? key->created : time(NULL)));
	const char *const row[6] = { key->id, key->account, key->name ? key->name : "",
				     key->scopes, key->hash, created };
	return sc->ops->apikey_add(sc->db, row, error_r);
}

/* apikey_from_row - ROW's six strings into KEY (taken, not copied) */
static void apikey_from_row(char *const *row, struct store_apikey *key)
{
	key->id = row[0];
	key->account = row[1];
	key->name = row[2] ? row[2] : xstrdup("");
	key->scopes = row[3] ? row[3] : xstrdup("");
	key->hash = row[4];
	key->created = row[5] ? (time_t)strtoll(row[5], NULL, 10) : 0;
	free(row[5]);
}

int store_apikey_get(struct store_credentials *sc, const char *id, struct store_apikey *key_r,
		     const char **error_r)
{
	char **rows = NULL;
	size_t n = 0;
	memset(key_r, 0, sizeof(*key_r));
	int rc = sc->ops->apikey_rows(sc->db, id, NULL, &rows, &n, error_r);
	if (rc == 0 && n == 0) {
		*error_r = store_error("no API key %s", id);
		rc = STORE_NOT_FOUND;
	} else if (rc == 0) {
		apikey_from_row(rows, key_r);
	}
	free(rows);
	return rc;
}

int store_apikey_list(struct store_credentials *sc, const char *account,
		      struct store_apikey **keys_r, size_t *n_r, const char **error_r)
{
	char **rows = NULL;
	size_t n = 0;
	*keys_r = NULL;
	*n_r = 0;
	int rc = sc->ops->apikey_rows(sc->db, NULL, account, &rows, &n, error_r);
	if (rc == 0) {
		*keys_r = xcalloc(n ? n : 1, sizeof(**keys_r));
		for (size_t i = 0; i < n; i++)
			apikey_from_row(rows + 6 * i, &(*keys_r)[i]);
		*n_r = n;
	}
	free(rows);
	return rc;
}

int store_apikey_remove(struct store_credentials *sc, const char *id, const char **error_r)
{
	return sc->ops->apikey_remove(sc->db, id, error_r);
}

void store_apikey_clear(struct store_apikey *key)
{
	free(key->id);
	free(key->account);
	free(key->name);
	free(key->scopes);
	free(key->hash);
	memset(key, 0, sizeof(*key));
}

int store_apikeys_remove_account(struct store_credentials *sc, const char *account,
				 const char **error_r)
{
	struct store_apikey *keys = NULL;
	size_t n = 0;
	int rc = store_apikey_list(sc, account, &keys, &n, error_r);
	for (size_t i = 0; i < n; i++) {
		if (rc == 0 && sc->ops->apikey_remove(sc->db, keys[i].id, error_r) < 0)
			rc = -1;
		store_apikey_clear(&keys[i]);
	}
	free(keys);
	return rc;
}

int store_apikeys_copy_account(struct store_credentials *from, struct store_credentials *to,
			       const char *account, const char **error_r)
{
	struct store_apikey *keys = NULL;
	size_t n = 0;
	int rc = store_apikey_list(from, account, &keys, &n, error_r);
	for (size_t i = 0; i < n; i++) {
		if (rc == 0 && store_apikey_add(to, &keys[i], error_r) != 0)
			rc = -1;
		store_apikey_clear(&keys[i]);
	}
	free(keys);
	return rc;
}
