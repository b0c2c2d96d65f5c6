/* store/webhook - the public side of an account's event webhook (store.h):
 * names lower-cased and the URL's length checked before the backend's
 * rows; freeing what the backends return.
 */
#include "store/store.h"
#include "store/store-private.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

int store_webhook_get(struct store *store, const char *account, struct store_webhook **hook_r,
		      const char **error_r)
{
	char *a = store_lower_dup(account);
	int rc = store->ops->webhook_get(store->db, a, hook_r, error_r);
	free(a);
	return rc;
}

int store_webhook_set(struct store *store, const char *account,
		      const struct store_webhook *hook, const char **error_r)
{
	if (hook->url && strlen(hook->url) > STORE_WEBHOOK_URL_MAX) {
		*error_r = store_error("webhook URL longer than %d octets", STORE_WEBHOOK_URL_MAX);
		return -1;
	}
	struct store_webhook h = *hook;
	h.url = hook->url ? hook->url : "";
	char *a = store_lower_dup(account);
	int rc = store->ops->webhook_set(store->db, a, &h, time(NULL), error_r);
	free(a);
	return rc;
}

int store_webhook_list_enabled(struct store *store, struct store_webhook ***hooks_r,
			       size_t *count_r, const char **error_r)
{
	*hooks_r = NULL;
	*count_r = 0;
	return store->ops->webhook_list_enabled(store->db, hooks_r, count_r, error_r);
}

int store_webhook_advance(struct store *store, const char *account, int64_t from, int64_t to,
			  const char **error_r)
{
	char *a = store_lower_dup(account);
	int rc = store->ops->webhook_advance(store->db, a, from, to, error_r);
	free(a);
	return rc;
}

void store_webhook_free(struct store_webhook **hook)
{
	if (!*hook)
		return;
	free((*hook)->account);
	free((*hook)->url);
	free(*hook);
	*hook = NULL;
}

void store_webhook_list_free(struct store_webhook ***hooks, size_t count)
{
	if (!*hooks)
		return;
	for (size_t i = 0; i < count; i++)
		store_webhook_free(&(*hooks)[i]);
	free(*hooks);
	*hooks = NULL;
}
