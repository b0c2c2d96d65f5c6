/* store/suppression - the public side of the suppression lists (store.h):
 * names checked and lower-cased, list names, and the match of a message's
 * recipients in one backend call; the rows are the backends'.
 */
#include "store/store.h"
#include "store/store-private.h"

#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"

static const char *const LIST_NAMES[STORE_SUPPRESSION_LISTS] = {
	[STORE_SUPPRESSION_BOUNCES] = "bounces",
	[STORE_SUPPRESSION_BLOCKS] = "blocks",
	[STORE_SUPPRESSION_UNSUBSCRIBES] = "unsubscribes",
	[STORE_SUPPRESSION_SPAM_REPORTS] = "spam_reports",
};

static bool list_is_valid(enum store_suppression_list list, const char **error_r);
static int suppression_rows(struct store *store, const char *account,
			    enum store_suppression_list list, const char *email,
			    const struct store_suppression_range *range,
			    struct store_suppression ***entries_r, size_t *count_r,
			    const char **error_r);

static bool list_is_valid(enum store_suppression_list list, const char **error_r)
{
	if ((unsigned)list < STORE_SUPPRESSION_LISTS)
		return true;
	*error_r = store_error("no suppression list %d", (int)list);
	return false;
}

const char *store_suppression_list_name(enum store_suppression_list list)
{
	return (unsigned)list < STORE_SUPPRESSION_LISTS ? LIST_NAMES[list] : "?";
}

bool store_suppression_list_parse(const char *name, enum store_suppression_list *list_r)
{
	for (int i = 0; i < STORE_SUPPRESSION_LISTS; i++) {
		if (strcmp(name, LIST_NAMES[i]) == 0) {
			*list_r = (enum store_suppression_list)i;
			return true;
		}
	}
	return false;
}

int store_suppression_add(struct store *store, const char *account,
			  const struct store_suppression *entry, const char **error_r)
{
	if (!list_is_valid(entry->list, error_r))
		return -1;
	if (!entry->email || !store_address_is_valid(entry->email)) {
		*error_r = store_error("invalid address: expected user@domain");
		return -1;
	}
	struct store_suppression e = *entry;
	char *a = store_lower_dup(account);
	e.email = store_lower_dup(entry->email);
	e.reason = entry->reason ? entry->reason : "";
	e.status = entry->status ? entry->status : "";
	if (e.created == 0)
		e.created = time(NULL);
	int rc = store->ops->suppression_add(store->db, a, &e, error_r);
	free(a);
	free(e.email);
	return rc;
}

int store_suppression_remove(struct store *store, const char *account,
			     enum store_suppression_list list, const char *email,
			     uint64_t *removed_r, const char **error_r)
{
	uint64_t removed = 0;
	if (!list_is_valid(list, error_r))
		return -1;
	char *a = store_lower_dup(account), *e = email ? store_lower_dup(email) : NULL;
	int rc = store->ops->suppression_remove(store->db, a, (int)list, e, &removed, error_r);
	if (rc == 0 && email && removed == 0) {
		*error_r = store_error("%s is not on %s's %s", email, account, LIST_NAMES[list]);
		rc = STORE_NOT_FOUND;
	}
	if (removed_r)
		*removed_r = removed;
	free(a);
	free(e);
	return rc;
}

/* suppression_rows - LIST's entries (EMAIL's only, if not NULL) within RANGE */
static int suppression_rows(struct store *store, const char *account,
			    enum store_suppression_list list, const char *email,
			    const struct store_suppression_range *range,
			    struct store_suppression ***entries_r, size_t *count_r,
			    const char **error_r)
{
	*entries_r = NULL;
	*count_r = 0;
	if (!list_is_valid(list, error_r))
		return -1;
	char *a = store_lower_dup(account), *e = email ? store_lower_dup(email) : NULL;
	int rc = store->ops->suppression_list(store->db, a, (int)list, e, range, entries_r,
					      count_r, error_r);
	free(a);
	free(e);
	return rc;
}

int store_suppression_list(struct store *store, const char *account,
			   enum store_suppression_list list, const char *email,
			   struct store_suppression ***entries_r, size_t *count_r,
			   const char **error_r)
{
	const struct store_suppression_range all = { 0 };
	return suppression_rows(store, account, list, email, &all, entries_r, count_r, error_r);
}

int store_suppression_page(struct store *store, const char *account,
			   enum store_suppression_list list,
			   const struct store_suppression_range *range,
			   struct store_suppression ***entries_r, size_t *count_r,
			   const char **error_r)
{
	return suppression_rows(store, account, list, NULL, range, entries_r, count_r, error_r);
}

int store_suppression_match(struct store *store, const char *account,
			    const char *const *emails, size_t n, int *lists_r,
			    const char **error_r)
{
	for (size_t i = 0; i < n; i++)
		lists_r[i] = -1;
	if (n == 0)
		return 0;
	char *a = store_lower_dup(account);
	char **lower = xcalloc(n, sizeof(*lower));
	for (size_t i = 0; i < n; i++)
		lower[i] = store_lower_dup(emails[i]);
	char **rows = NULL;
	int rc = store->ops->suppression_match(store->db, a, lower, n, &rows, error_r);
	for (size_t k = 0; rc == 0 && rows[k]; k += 2) {
		int list = atoi(rows[k + 1]);
		for (size_t i = 0; i < n; i++)
			if (strcmp(lower[i], rows[k]) == 0 && (lists_r[i] < 0 || list < lists_r[i]))
				lists_r[i] = list;
	}
	if (rows)
		store_strv_free(&rows);
	for (size_t i = 0; i < n; i++)
		free(lower[i]);
	free(lower);
	free(a);
	return rc;
}

void store_suppression_free(struct store_suppression **entry)
{
	if (!*entry)
		return;
	free((*entry)->email);
	free((*entry)->reason);
	free((*entry)->status);
	free(*entry);
	*entry = NULL;
}

void store_suppression_list_free(struct store_suppression ***entries, size_t count)
{
	if (!*entries)
		return;
	for (size_t i = 0; i < count; i++)
		store_suppression_free(&(*entries)[i]);
	free(*entries);
	*entries = NULL;
}
