/* store/web - the web pages' sessions and one-time links (store.h, "the
 * web pages' secrets"): the secret is hashed here, so that neither backend
 * nor the database ever holds one a reader could present.  Also their rate
 * counts, whose keys (a client address, an address mailed) are hashed the
 * same way. */
#include "store/store.h"
#include "store/store-private.h"

#include <stdlib.h>
#include <string.h>

static void secret_hash(const char *secret, char hash[65]);

/* secret_hash - SECRET's SHA-256 in hex */
static void secret_hash(const char *secret, char hash[65])
{
	store_sha256_hex(secret, strlen(secret), hash);
}

int store_web_secret_add(struct store *store, enum store_web_kind kind, const char *secret,
			 const char *account, const char *csrf, time_t expires,
			 const char **error_r)
{
	char hash[65];
	secret_hash(secret, hash);
	char *a = store_lower_dup(account);
	int rc = store->ops->web_secret_add(store->db, (int)kind, hash, a, csrf ? csrf : "",
					    expires, error_r);
	free(a);
	return rc;
}

int store_web_secret_get(struct store *store, enum store_web_kind kind, const char *secret,
			 time_t now, char **account_r, char **csrf_r, const char **error_r)
{
	char hash[65];
	secret_hash(secret, hash);
	return store->ops->web_secret_get(store->db, (int)kind, hash, now, false, account_r,
					  csrf_r, error_r);
}

int store_web_secret_take(struct store *store, enum store_web_kind kind, const char *secret,
			  time_t now, char **account_r, const char **error_r)
{
	char hash[65];
	secret_hash(secret, hash);
	return store->ops->web_secret_get(store->db, (int)kind, hash, now, true, account_r,
					  NULL, error_r);
}

int store_web_secret_remove(struct store *store, enum store_web_kind kind, const char *secret,
			    const char *account, const char **error_r)
{
	char hash[65];
	if (secret)
		secret_hash(secret, hash);
	char *a = account ? store_lower_dup(account) : NULL;
	int rc = store->ops->web_secret_remove(store->db, (int)kind, secret ? hash : NULL, a,
					       error_r);
	free(a);
	return rc;
}

int store_web_rate_take(struct store *store, const char *key, time_t now, unsigned limit,
			unsigned window, bool *allowed_r, const char **error_r)
{
	char hash[65];
	secret_hash(key, hash);
	return store->ops->web_rate_take(store->db, hash, now, limit, window, allowed_r, error_r);
}
