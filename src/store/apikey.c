/* store/apikey - the API keys' rows, kept with the credentials (the
 * backend's apikey_* functions hold them as strings; this file converts);
 * the keys themselves are apikey-key.c's. */
#include "store/store.h"
#include "store/store-private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "util/xalloc.h"

static void apikey_from_row(char *const *row, struct store_apikey *key);

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

int store_apikey_create(struct store_credentials *sc, const char *account, const char *name,
			const char *scopes, char key_r[STORE_APIKEY_LEN + 1],
			char id_r[STORE_APIKEY_ID_LEN + 1], const char **error_r)
{
	char hash[65];
	if (store_apikey_make(key_r, id_r, hash) != 0) {
		*error_r = "cannot make a random key";
		return -1;
	}
	struct store_apikey row = { .id = id_r, .account = (char *)account, .name = (char *)name,
				    .scopes = (char *)scopes, .hash = hash };
	int rc = store_apikey_add(sc, &row, error_r);
	if (rc != 0)
		OPENSSL_cleanse(key_r, STORE_APIKEY_LEN + 1);
	return rc;
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

int store_apikey_update(struct store_credentials *sc, const char *id, const char *name,
			const char *scopes, const char **error_r)
{
	return sc->ops->apikey_update(sc->db, id, name, scopes, error_r);
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
