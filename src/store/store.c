/* store - the public interface: checks and lower-cases names, then calls the
 * backend (store-sqlite.c or store-pg.c).  Sender authorization and recipient
 * resolution are rules, not storage, so they live here on top of the
 * backend's plain reads and a PostgreSQL backend gets them for free.
 */
#include "store/store.h"
#include "store/store-private.h"

#include "util/domain.h"
#include "util/dot-atom.h"
#include "util/utf8.h"
#include "util/xalloc.h"

#include <assert.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>


#define STORE_ERROR_MAX 512
#define LOCAL_PART_MAX 64



static bool pattern_is_valid(const char *pattern);

static _Thread_local char error_buf[STORE_ERROR_MAX];

const char *store_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(error_buf, sizeof(error_buf), fmt, ap);
	va_end(ap);
	return error_buf;
}

char *store_lower_dup(const char *s)
{
	char *d = xstrdup(s);
	for (char *p = d; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return d;
}

/* ---- input checks ------------------------------------------------------------ */

bool store_domain_is_valid(const char *domain)
{
	return domain != NULL && domain_name_is_valid(domain, strlen(domain), DOMAIN_NAME_ULABEL);
}

bool store_address_is_valid(const char *address)
{
	const char *at = address ? strrchr(address, '@') : NULL;
	bool ok = at != NULL;
	if (ok) {
		size_t local = (size_t)(at - address);
		ok = local <= LOCAL_PART_MAX && dot_atom_is_valid(address, local, DOT_ATOM_UTF8) &&
		     store_domain_is_valid(at + 1) && utf8_is_valid(address, strlen(address));
	}
	return ok;
}

bool store_account_name_is_valid(const char *name)
{
	if (!name)
		return false;
	if (strchr(name, '@'))
		return store_address_is_valid(name);
	size_t len = strlen(name);
	return len <= LOCAL_PART_MAX && dot_atom_is_valid(name, len, DOT_ATOM_UTF8) &&
	       utf8_is_valid(name, len);
}

/* pattern_is_valid - a sender rule: "user@domain" or "@domain" */
static bool pattern_is_valid(const char *pattern)
{
	if (pattern[0] == '@')
		return store_domain_is_valid(pattern + 1);
	return store_address_is_valid(pattern);
}

const char *store_address_domain(const char *address)
{
	const char *at = strrchr(address, '@');
	return at ? at + 1 : "";
}

/* ---- open and close ---------------------------------------------------------------- */

struct store *store_open(const char *data_dir, const char **error_r)
{
	const struct store_settings settings = { .data_dir = data_dir };
	return store_open_settings(&settings, error_r);
}

struct store *store_open_settings(const struct store_settings *settings, const char **error_r)
{
	const struct store_backend *ops = settings->url ? &store_backend_pg
							: &store_backend_sqlite;
	void *db = ops->open(settings, error_r);
	if (!db)
		return NULL;
	struct store *store = xcalloc(1, sizeof(*store));
	store->ops = ops;
	store->db = db;
	return store;
}

void store_close(struct store **store)
{
	if (!*store)
		return;
	(*store)->ops->close((*store)->db);
	free(*store);
	*store = NULL;
}

const char *store_backend_name(const struct store *store)
{
	return store->ops->name;
}

int store_schema_version(struct store *store)
{
	return store->ops->schema_version(store->db);
}

/* ---- domains ------------------------------------------------------------------------- */

int store_domain_add(struct store *store, const char *domain, const char **error_r)
{
	if (!store_domain_is_valid(domain)) {
		*error_r = store_error("invalid domain name");
		return -1;
	}
	char *d = store_lower_dup(domain);
	int rc = store->ops->domain_add(store->db, d, error_r);
	free(d);
	return rc;
}

int store_domain_remove(struct store *store, const char *domain, const char **error_r)
{
	char *d = store_lower_dup(domain);
	int rc = store->ops->domain_remove(store->db, d, error_r);
	free(d);
	return rc;
}

int store_domain_exists(struct store *store, const char *domain, bool *exists_r,
			const char **error_r)
{
	char *d = store_lower_dup(domain);
	size_t len = strlen(d);
	if (len > 0 && d[len - 1] == '.')
		d[len - 1] = '\0';
	int rc = store->ops->domain_exists(store->db, d, exists_r, error_r);
	free(d);
	return rc;
}

int store_domain_list(struct store *store, char ***domains_r, const char **error_r)
{
	return store->ops->domain_list(store->db, domains_r, error_r);
}

void store_strv_free(char ***strv)
{
	if (!*strv)
		return;
	for (char **p = *strv; *p; p++)
		free(*p);
	free(*strv);
	*strv = NULL;
}

/* ---- plans ----------------------------------------------------------------------------- */

int store_plan_set(struct store *store, const struct store_plan *plan, const char **error_r)
{
	if (!plan->name || !dot_atom_is_valid(plan->name, strlen(plan->name), DOT_ATOM_UTF8) ||
	    strchr(plan->name, '@') || strlen(plan->name) > LOCAL_PART_MAX) {
		*error_r = store_error("invalid plan name");
		return -1;
	}
	struct store_plan p = *plan;
	p.name = store_lower_dup(plan->name);
	int rc = store->ops->plan_set(store->db, &p, error_r);
	free(p.name);
	return rc;
}

int store_plan_get(struct store *store, const char *name, struct store_plan **plan_r,
		   const char **error_r)
{
	char *n = store_lower_dup(name);
	int rc = store->ops->plan_get(store->db, n, plan_r, error_r);
	free(n);
	return rc;
}

int store_account_plan_get(struct store *store, const char *account, struct store_plan **plan_r,
			   const char **error_r)
{
	char *n = store_lower_dup(account);
	int rc = store->ops->account_plan_get(store->db, n, plan_r, error_r);
	free(n);
	return rc;
}

int store_plan_list(struct store *store, struct store_plan ***plans_r, size_t *count_r,
		    const char **error_r)
{
	return store->ops->plan_list(store->db, plans_r, count_r, error_r);
}

void store_plan_free(struct store_plan **plan)
{
	if (!*plan)
		return;
	free((*plan)->name);
	free(*plan);
	*plan = NULL;
}

void store_plan_list_free(struct store_plan ***plans, size_t count)
{
	if (!*plans)
		return;
	for (size_t i = 0; i < count; i++)
		store_plan_free(&(*plans)[i]);
	free(*plans);
	*plans = NULL;
}

/* ---- accounts ------------------------------------------------------------------------------ */

/* account_normalize - a lower-cased copy of A's names, checked; the copy
 * shares A's other strings.  -1 with *error_r if invalid. */
static int account_normalize(const struct store_account *a, struct store_account *copy,
			     const char **error_r);
static void account_normalized_free(struct store_account *copy);
static int node_name_check(const char *name, const char **error_r);

static int account_normalize(const struct store_account *a, struct store_account *copy,
			     const char **error_r)
{
	const char *error = NULL;
	if (!store_account_name_is_valid(a->name))
		error = "invalid account name: expected an address or a plain login";
	else if (a->daily_limit < -1 || a->per_minute < -1)
		error = "invalid limit";
	if (error) {
		*error_r = store_error("%s", error);
		return -1;
	}
	if (a->home_node && node_name_check(a->home_node, error_r) != 0)
		return -1;
	*copy = *a;
	copy->name = store_lower_dup(a->name);
	copy->plan = store_lower_dup(a->plan ? a->plan : "free");
	copy->home_node = a->home_node ? store_lower_dup(a->home_node) : NULL;
	return 0;
}

static void account_normalized_free(struct store_account *copy)
{
	free(copy->name);
	free(copy->plan);
	free(copy->home_node);
}

int store_account_add(struct store *store, const struct store_account *account,
		      const char **error_r)
{
	struct store_account a;
	if (account_normalize(account, &a, error_r) < 0)
		return -1;
	if (a.created == 0)
		a.created = time(NULL);
	int rc = store->ops->account_add(store->db, &a, error_r);
	account_normalized_free(&a);
	return rc;
}

int store_account_get(struct store *store, const char *name, struct store_account **account_r,
		      const char **error_r)
{
	char *n = store_lower_dup(name);
	int rc = store->ops->account_get(store->db, n, account_r, error_r);
	free(n);
	return rc;
}

int store_account_update(struct store *store, const struct store_account *account,
			 const char **error_r)
{
	struct store_account a;
	if (account_normalize(account, &a, error_r) < 0)
		return -1;
	int rc = store->ops->account_update(store->db, &a, error_r);
	account_normalized_free(&a);
	return rc;
}

int store_account_remove(struct store *store, const char *name, const char **error_r)
{
	char *n = store_lower_dup(name);
	int rc = store->ops->account_remove(store->db, n, error_r);
	free(n);
	return rc;
}

int store_account_list(struct store *store, struct store_account ***accounts_r,
		       size_t *count_r, const char **error_r)
{
	return store->ops->account_list(store->db, 0, 0, accounts_r, count_r, NULL, error_r);
}

int store_account_list_page(struct store *store, uint64_t offset, uint64_t limit,
			    struct store_account ***accounts_r, size_t *count_r,
			    uint64_t *total_r, const char **error_r)
{
	assert(limit > 0);
	return store->ops->account_list(store->db, offset, limit, accounts_r, count_r, total_r,
					error_r);
}

int store_account_set_home(struct store *store, const char *account, const char *node,
			   const char **error_r)
{
	if (node && node_name_check(node, error_r) != 0)
		return -1;
	char *a = store_lower_dup(account), *n = node ? store_lower_dup(node) : NULL;
	int rc = store->ops->account_set_home(store->db, a, n, error_r);
	free(a);
	free(n);
	return rc;
}

int store_account_home(struct store *store, const char *account, struct store_node **home_r,
		       const char **error_r)
{
	*home_r = NULL;
	char *a = store_lower_dup(account);
	int rc = store->ops->account_home(store->db, a, home_r, error_r);
	free(a);
	return rc;
}

int store_address_route(struct store *store, const char *address, bool *domain_r,
			struct store_node **home_r, const char **error_r)
{
	*home_r = NULL;
	*domain_r = false;
	char *a = store_lower_dup(address);
	char *domain = store_lower_dup(store_address_domain(a));
	size_t len = strlen(domain);
	if (len > 0 && domain[len - 1] == '.')
		domain[len - 1] = '\0';
	int rc = store->ops->address_route(store->db, a, domain, domain_r, home_r, error_r);
	free(domain);
	free(a);
	return rc;
}

void store_account_free(struct store_account **account)
{
	struct store_account *a = *account;
	if (!a)
		return;
	free(a->name);
	free(a->plan);
	free(a->home_node);
	free(a);
	*account = NULL;
}

void store_account_list_free(struct store_account ***accounts, size_t count)
{
	if (!*accounts)
		return;
	for (size_t i = 0; i < count; i++)
		store_account_free(&(*accounts)[i]);
	free(*accounts);
	*accounts = NULL;
}

/* ---- credentials ---------------------------------------------------------------------------- */

struct store_credentials *store_credentials_open(const char *data_dir, const char **error_r)
{
	const struct store_settings settings = { .data_dir = data_dir };
	return store_credentials_open_settings(&settings, error_r);
}

struct store_credentials *store_credentials_open_settings(const struct store_settings *settings,
							  const char **error_r)
{
	const struct store_credentials_backend *ops = settings->url ? &store_credentials_pg
								    : &store_credentials_sqlite;
	void *db = ops->open(settings, error_r);
	if (!db)
		return NULL;
	struct store_credentials *sc = xcalloc(1, sizeof(*sc));
	sc->ops = ops;
	sc->db = db;
	return sc;
}

const char *store_credentials_backend_name(const struct store_credentials *sc)
{
	return sc->ops->name;
}

int store_credentials_schema_version(struct store_credentials *sc)
{
	return sc->ops->schema_version(sc->db);
}

void store_credentials_close(struct store_credentials **sc)
{
	if (!*sc)
		return;
	(*sc)->ops->close((*sc)->db);
	free(*sc);
	*sc = NULL;
}

/* secrets_free - wipe and free N rows of (name, hash, scram) and the array */
static void secrets_free(char **rows, size_t n)
{
	for (size_t i = 0; rows && i < 3 * n; i++) {
		if (rows[i])
			OPENSSL_cleanse(rows[i], strlen(rows[i]));
		free(rows[i]);
	}
	free(rows);
}

int store_credentials_copy(struct store_credentials *from, struct store_credentials *to,
			   size_t *copied_r, const char **error_r)
{
	char **rows = NULL, **existing = NULL;
	size_t n = 0, n_existing = 0;
	*copied_r = 0;
	int rc = to->ops->list(to->db, &existing, &n_existing, error_r);
	if (rc == 0 && n_existing > 0) {
		*error_r = "the target already holds credentials: copy into a new database";
		rc = 1;
	}
	if (rc == 0)
		rc = from->ops->list(from->db, &rows, &n, error_r);
	if (rc == 0)
		rc = to->ops->add_missing(to->db, rows, n, error_r);
	/* each account's API keys go with its password */
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = store_apikeys_copy_account(from, to, rows[3 * i], error_r);
	if (rc == 0)
		*copied_r = n;
	secrets_free(existing, n_existing);
	secrets_free(rows, n);
	return rc;
}

int store_credentials_get(struct store_credentials *sc, const char *name, char **hash_r,
			  char **scram_r, const char **error_r)
{
	*hash_r = NULL;
	*scram_r = NULL;
	char *n = store_lower_dup(name);
	int rc = sc->ops->get(sc->db, n, hash_r, scram_r, error_r);
	free(n);
	return rc;
}

int store_credentials_set(struct store_credentials *sc, const char *name, const char *hash,
			  const char *scram, const char **error_r)
{
	if (!store_account_name_is_valid(name)) {
		*error_r = store_error("invalid account name: expected an address or a plain"
				       " login");
		return -1;
	}
	if (!hash) {
		*error_r = store_error("no password hash");
		return -1;
	}
	char *n = store_lower_dup(name);
	int rc = sc->ops->set(sc->db, n, hash, scram ? scram : "", error_r);
	free(n);
	return rc;
}

int store_credentials_remove(struct store_credentials *sc, const char *name,
			     const char **error_r)
{
	char *n = store_lower_dup(name);
	int rc = sc->ops->remove(sc->db, n, error_r);
	if (rc >= 0 && store_apikeys_remove_account(sc, n, error_r) != 0)
		rc = -1;
	free(n);
	return rc;
}

int store_credentials_scram_replace(struct store_credentials *sc, const char *name,
				    const char *old_scram, const char *new_scram,
				    bool *replaced_r, const char **error_r)
{
	char *n = store_lower_dup(name);
	int rc = sc->ops->scram_replace(sc->db, n, old_scram, new_scram, replaced_r,
					      error_r);
	free(n);
	return rc;
}

bool store_credentials_shares_failures(const struct store_credentials *sc)
{
	return sc->ops->auth_failure_add != NULL;
}

int store_auth_failure_add(struct store_credentials *sc, const char *client, time_t now,
			   const struct store_auth_throttle *limits, unsigned *failures_r,
			   time_t *locked_until_r, const char **error_r)
{
	*failures_r = 0;
	*locked_until_r = 0;
	if (!sc->ops->auth_failure_add) {
		*error_r = "the credentials' database does not keep AUTH failures";
		return -1;
	}
	return sc->ops->auth_failure_add(sc->db, client, now, limits, failures_r, locked_until_r,
					 error_r);
}

int store_auth_locked(struct store_credentials *sc, const char *client, time_t now,
		      time_t *until_r, const char **error_r)
{
	*until_r = 0;
	if (!sc->ops->auth_locked) {
		*error_r = "the credentials' database does not keep AUTH failures";
		return -1;
	}
	return sc->ops->auth_locked(sc->db, client, now, until_r, error_r);
}

/* migrate_copy - legacy_secrets_move's copy: into the credentials at CTX */
static int migrate_copy(void *ctx, char *const *rows, size_t n, const char **error_r)
{
	struct store_credentials *sc = ctx;
	return sc->ops->add_missing(sc->db, rows, n, error_r);
}

int store_credentials_migrate(struct store *store, struct store_credentials *sc,
			      const char **error_r)
{
	return store->ops->legacy_secrets_move(store->db, migrate_copy, sc, error_r);
}

/* ---- sender identities ---------------------------------------------------------------------- */

int store_sender_set(struct store *store, const char *account, const char *pattern,
		     bool allow, const char **error_r)
{
	if (!pattern_is_valid(pattern)) {
		*error_r = store_error("invalid sender pattern: expected user@domain or @domain");
		return -1;
	}
	char *a = store_lower_dup(account), *p = store_lower_dup(pattern);
	int rc = store->ops->sender_set(store->db, a, p, allow, error_r);
	free(a);
	free(p);
	return rc;
}

int store_sender_remove(struct store *store, const char *account, const char *pattern,
			const char **error_r)
{
	char *a = store_lower_dup(account), *p = store_lower_dup(pattern);
	int rc = store->ops->sender_remove(store->db, a, p, error_r);
	free(a);
	free(p);
	return rc;
}

int store_sender_list(struct store *store, const char *account,
		      struct store_sender **senders_r, size_t *count_r, const char **error_r)
{
	char *a = store_lower_dup(account);
	int rc = store->ops->sender_list(store->db, a, senders_r, count_r, error_r);
	free(a);
	return rc;
}

void store_sender_list_free(struct store_sender **senders, size_t count)
{
	if (!*senders)
		return;
	for (size_t i = 0; i < count; i++)
		free((*senders)[i].pattern);
	free(*senders);
	*senders = NULL;
}

int store_sender_is_allowed(struct store *store, const char *account, const char *address,
			    bool *allowed_r, const char **error_r)
{
	*allowed_r = false;
	if (!address || !strchr(address, '@'))
		return 0;   /* the null sender, or not an address: never */

	int rc = 0;
	char *acct = store_lower_dup(account), *addr = store_lower_dup(address);
	struct store_sender *rules = NULL;
	size_t count = 0;

	/* the rules, and whether the account exists, in one call (one round
	 * trip on PostgreSQL) */
	rc = store->ops->sender_list(store->db, acct, &rules, &count, error_r);
	if (rc == STORE_NOT_FOUND) {
		rc = 0;      /* unknown account: not allowed */
		goto out;
	}
	if (rc != 0)
		goto out;

	const char *domain = store_address_domain(addr);
	int exact = -1, domain_rule = -1;   /* -1 none, 0 deny, 1 allow */
	for (size_t i = 0; i < count; i++) {
		const char *p = rules[i].pattern;
		if (strcmp(p, addr) == 0)
			exact = rules[i].allow;
		else if (p[0] == '@' && strcmp(p + 1, domain) == 0)
			domain_rule = rules[i].allow;
	}
	if (exact >= 0)
		*allowed_r = exact == 1;
	else if (strcmp(acct, addr) == 0)
		*allowed_r = true;
	else if (domain_rule >= 0)
		*allowed_r = domain_rule == 1;
out:
	store_sender_list_free(&rules, count);
	free(acct);
	free(addr);
	return rc;
}

/* ---- aliases and local recipients ---------------------------------------------------------- */

int store_alias_add(struct store *store, const char *address, const char *target,
		    const char **error_r)
{
	if (!store_address_is_valid(address)) {
		*error_r = store_error("invalid alias address");
		return -1;
	}
	if (!target || !store_address_is_valid(target)) {
		*error_r = store_error("invalid alias target: expected an address");
		return -1;
	}
	char *a = store_lower_dup(address), *t = store_lower_dup(target);
	int rc = store->ops->alias_add(store->db, a, t, error_r);
	free(a);
	free(t);
	return rc;
}

int store_alias_remove(struct store *store, const char *address, const char *target,
		       const char **error_r)
{
	char *a = store_lower_dup(address), *t = target ? store_lower_dup(target) : NULL;
	int rc = store->ops->alias_remove(store->db, a, t, error_r);
	free(a);
	free(t);
	return rc;
}

int store_alias_list(struct store *store, char ***list_r, const char **error_r)
{
	return store->ops->alias_list(store->db, list_r, error_r);
}

/* resolve_one - the mailboxes of exactly ADDRESS (lower-cased): its alias
 * targets, else itself if an account has that name; 0 with *found_r */
static int resolve_one(struct store *store, const char *address, char ***mailboxes_r,
		       bool *found_r, const char **error_r);

static int resolve_one(struct store *store, const char *address, char ***mailboxes_r,
		       bool *found_r, const char **error_r)
{
	char **targets = NULL;
	*found_r = false;
	int rc = store->ops->alias_targets(store->db, address, &targets, error_r);
	if (rc != 0)
		return rc;
	if (targets[0]) {
		*mailboxes_r = targets;
		*found_r = true;
		return 0;
	}
	store_strv_free(&targets);
	struct store_account *a = NULL;
	rc = store->ops->account_get(store->db, address, &a, error_r);
	if (rc == STORE_NOT_FOUND)
		return 0;
	if (rc != 0)
		return rc;
	store_account_free(&a);
	char **one = xcalloc(2, sizeof(char *));
	one[0] = xstrdup(address);
	*mailboxes_r = one;
	*found_r = true;
	return 0;
}

int store_recipient_resolve(struct store *store, const char *address, char ***mailboxes_r,
			    const char **error_r)
{
	*mailboxes_r = NULL;
	char *addr = store_lower_dup(address);
	bool found = false;
	int rc = resolve_one(store, addr, mailboxes_r, &found, error_r);
	if (rc == 0 && !found) {
		/* plus-addressing: user+tag@domain -> user@domain; a local part
		 * starting with '+' keeps its tag */
		char *at = strrchr(addr, '@');
		char *plus = at ? memchr(addr, '+', (size_t)(at - addr)) : NULL;
		if (plus && plus != addr) {
			memmove(plus, at, strlen(at) + 1);
			rc = resolve_one(store, addr, mailboxes_r, &found, error_r);
		}
	}
	if (rc == 0 && !found)
		*mailboxes_r = xcalloc(1, sizeof(char *));
	free(addr);
	return rc;
}

/* ---- counters ----------------------------------------------------------------------------- */

int store_counter_reserve(struct store *store, const char *account, const char *window,
			  unsigned n, unsigned limit, bool *ok_r, uint64_t *count_r,
			  const char **error_r)
{
	char *a = store_lower_dup(account);
	int rc = store->ops->counter_reserve(store->db, a, window, n, limit, ok_r, count_r,
					     error_r);
	free(a);
	return rc;
}

int store_counter_release(struct store *store, const char *account, const char *window,
			  unsigned n, const char **error_r)
{
	char *a = store_lower_dup(account);
	int rc = store->ops->counter_release(store->db, a, window, n, error_r);
	free(a);
	return rc;
}

int store_counter_get(struct store *store, const char *account, const char *window,
		      uint64_t *count_r, const char **error_r)
{
	char *a = store_lower_dup(account);
	int rc = store->ops->counter_get(store->db, a, window, count_r, error_r);
	free(a);
	return rc;
}

void store_window_day(time_t t, char buf[STORE_WINDOW_MAX])
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, STORE_WINDOW_MAX, "d:%Y%m%d", &tm);
}

void store_window_minute(time_t t, char buf[STORE_WINDOW_MAX])
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, STORE_WINDOW_MAX, "m:%Y%m%d%H%M", &tm);
}

/* ---- events ----------------------------------------------------------------------------------- */

int store_event_add(struct store *store, const struct store_event *event, const char **error_r)
{
	return store_event_add_many(store, event, 1, error_r);
}

int store_event_add_many(struct store *store, const struct store_event *events, size_t n,
			 const char **error_r)
{
	struct store_event *e = xcalloc(n ? n : 1, sizeof(*e));
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		if (!events[i].type || events[i].type[0] == '\0') {
			*error_r = store_error("event without a type");
			rc = -1;
		}
		e[i] = events[i];
		if (e[i].time == 0)
			e[i].time = time(NULL);
		e[i].account = events[i].account ? store_lower_dup(events[i].account) : NULL;
	}
	if (rc == 0 && n > 0)
		rc = store->ops->event_add(store->db, e, n, error_r);
	for (size_t i = 0; i < n; i++)
		free(e[i].account);
	free(e);
	return rc;
}

int store_event_prune(struct store *store, time_t before, uint64_t *deleted_r,
		      const char **error_r)
{
	uint64_t total = 0, n = 0;
	int rc;
	do {
		rc = store->ops->event_prune(store->db, before, STORE_EVENT_PRUNE_BATCH, &n,
					     error_r);
		total += n;
	} while (rc == 0 && n == STORE_EVENT_PRUNE_BATCH);
	*deleted_r = total;
	while (rc == 0) {
		rc = store->ops->message_prune(store->db, before, STORE_EVENT_PRUNE_BATCH, &n,
					       error_r);
		if (n < STORE_EVENT_PRUNE_BATCH)
			break;
	}
	return rc;
}

bool store_event_has_message(const struct store_event *event)
{
	return event->account && event->queue_id &&
	       (event->recipients || event->categories || event->custom_args);
}

int store_event_list(struct store *store, const char *account, time_t since, int64_t after_id,
		     size_t limit, struct store_event ***events_r, size_t *count_r,
		     const char **error_r)
{
	char *a = account ? store_lower_dup(account) : NULL;
	int rc = store->ops->event_list(store->db, a, since, after_id, limit, events_r, count_r,
					error_r);
	free(a);
	return rc;
}

int store_event_search(struct store *store, const char *account,
		       const struct store_event_filter *filter, size_t limit,
		       struct store_event ***events_r, size_t *count_r, const char **error_r)
{
	struct store_event_filter f = *filter;
	char *a = store_lower_dup(account);
	char *rcpt = f.recipient ? store_lower_dup(f.recipient) : NULL;
	f.recipient = rcpt;
	int rc = store->ops->event_search(store->db, a, &f, limit, events_r, count_r, error_r);
	free(rcpt);
	free(a);
	return rc;
}

int store_event_newest_after(struct store *store, const char *account, time_t since,
			     size_t n, int64_t *after_id_r, const char **error_r)
{
	char *a = account ? store_lower_dup(account) : NULL;
	int rc = store->ops->event_newest_after(store->db, a, since, n, after_id_r, error_r);
	free(a);
	return rc;
}

int store_event_count_days(struct store *store, const char *account, time_t begin, time_t end,
			   struct store_event_count ***counts_r, size_t *n_r,
			   const char **error_r)
{
	char *a = store_lower_dup(account);
	int rc = store->ops->event_count_days(store->db, a, begin, end, counts_r, n_r, error_r);
	free(a);
	return rc;
}

int store_event_count_category_days(struct store *store, const char *account,
				    const char *categories, time_t begin, time_t end,
				    struct store_event_count ***counts_r, size_t *n_r,
				    const char **error_r)
{
	char *a = store_lower_dup(account);
	int rc = store->ops->event_count_category_days(store->db, a, categories, begin, end,
						       counts_r, n_r, error_r);
	free(a);
	return rc;
}

int store_category_list(struct store *store, const char *account, const char *prefix,
			size_t limit, size_t offset, char ***names_r, const char **error_r)
{
	char *a = store_lower_dup(account);
	int rc = store->ops->category_list(store->db, a, prefix, limit, offset, names_r,
					   error_r);
	free(a);
	return rc;
}

void store_event_counts_free(struct store_event_count ***counts, size_t n)
{
	if (!*counts)
		return;
	for (size_t i = 0; i < n; i++) {
		free((*counts)[i]->type);
		free((*counts)[i]->reason);
		free((*counts)[i]->category);
		free((*counts)[i]);
	}
	free(*counts);
	*counts = NULL;
}

void store_event_free(struct store_event **event)
{
	struct store_event *e = *event;
	if (!e)
		return;
	free(e->type);
	free(e->account);
	free(e->queue_id);
	free(e->recipient);
	free(e->reason);
	free(e->node);
	free(e->recipients);
	free(e->categories);
	free(e->custom_args);
	free(e);
	*event = NULL;
}

void store_event_list_free(struct store_event ***events, size_t count)
{
	if (!*events)
		return;
	for (size_t i = 0; i < count; i++)
		store_event_free(&(*events)[i]);
	free(*events);
	*events = NULL;
}

/* ---- nodes ------------------------------------------------------------------------------------ */

bool store_node_is_valid_name(const char *name)
{
	size_t len = name ? strlen(name) : 0;
	bool ok = len >= 1 && len <= STORE_NODE_NAME_MAX;
	for (size_t i = 0; ok && i < len; i++)
		ok = isalnum((unsigned char)name[i]) || strchr(".-_", name[i]) != NULL;
	return ok;
}

/* node_name_check - 0 if NAME is a valid node name; -1 with *error_r */
static int node_name_check(const char *name, const char **error_r)
{
	if (store_node_is_valid_name(name))
		return 0;
	*error_r = store_error("invalid node name '%s': 1-%d letters, digits, '.', '-' or '_'",
			       name ? name : "", STORE_NODE_NAME_MAX);
	return -1;
}

int store_node_register(struct store *store, struct store_node *node, unsigned stale_after,
			const char **error_r)
{
	if (node_name_check(node->name, error_r) != 0)
		return -1;
	char *given = node->name;
	node->name = store_lower_dup(given);
	int rc = store->ops->node_register(store->db, node, stale_after, error_r);
	free(node->name);
	node->name = given;
	return rc;
}

/* node_call - OP on NODE with its name lower-cased */
static int node_call(struct store *store, const struct store_node *node,
		     int (*op)(void *db, const struct store_node *node, const char **error_r),
		     const char **error_r)
{
	struct store_node copy = *node;
	copy.name = store_lower_dup(node->name);
	int rc = op(store->db, &copy, error_r);
	free(copy.name);
	return rc;
}

int store_node_report(struct store *store, const struct store_node *node,
		      const char **error_r)
{
	return node_call(store, node, store->ops->node_report, error_r);
}

int store_node_stop(struct store *store, const struct store_node *node, const char **error_r)
{
	return node_call(store, node, store->ops->node_stop, error_r);
}

int store_node_list(struct store *store, struct store_node ***nodes_r, size_t *count_r,
		    const char **error_r)
{
	return store->ops->node_list(store->db, nodes_r, count_r, error_r);
}

int store_node_forget(struct store *store, const char *name, unsigned stale_after,
		      const char **error_r)
{
	char *n = store_lower_dup(name);
	int rc = store->ops->node_forget(store->db, n, stale_after, error_r);
	free(n);
	return rc;
}

void store_node_free(struct store_node **node)
{
	struct store_node *n = *node;
	if (!n)
		return;
	free(n->name);
	free(n->owner);
	free(n->version);
	free(n->listeners);
	free(n->mail_address);
	free(n->imap_address);
	free(n->pop3_address);
	free(n);
	*node = NULL;
}

void store_node_list_free(struct store_node ***nodes, size_t count)
{
	if (!*nodes)
		return;
	for (size_t i = 0; i < count; i++)
		store_node_free(&(*nodes)[i]);
	free(*nodes);
	*nodes = NULL;
}

/* ---- DMARC evaluations ------------------------------------------------------------------ */

int store_dmarc_eval_add(struct store *store, const struct store_dmarc_eval *eval,
			 const char **error_r)
{
	if (!eval->policy_domain || !eval->policy_domain[0] || !eval->source_ip ||
	    !eval->header_from || !eval->envelope_from || !eval->spf_domain ||
	    !eval->spf_result || !eval->dkim || !eval->disposition || !eval->policy ||
	    !eval->rua) {
		*error_r = store_error("DMARC evaluation without a required field");
		return -1;
	}
	struct store_dmarc_eval e = *eval;
	if (e.time == 0)
		e.time = time(NULL);
	e.policy_domain = store_lower_dup(eval->policy_domain);
	e.header_from = store_lower_dup(eval->header_from);
	e.envelope_from = store_lower_dup(eval->envelope_from);
	e.spf_domain = store_lower_dup(eval->spf_domain);
	int rc = store->ops->dmarc_eval_add(store->db, &e, error_r);
	free(e.policy_domain);
	free(e.header_from);
	free(e.envelope_from);
	free(e.spf_domain);
	return rc;
}

int store_dmarc_eval_list(struct store *store, time_t begin, time_t end,
			  struct store_dmarc_eval ***evals_r, size_t *count_r,
			  const char **error_r)
{
	return store->ops->dmarc_eval_list(store->db, begin, end, evals_r, count_r, error_r);
}

void store_dmarc_eval_free(struct store_dmarc_eval **eval)
{
	struct store_dmarc_eval *e = *eval;
	if (!e)
		return;
	free(e->policy_domain);
	free(e->source_ip);
	free(e->header_from);
	free(e->envelope_from);
	free(e->spf_domain);
	free(e->spf_result);
	free(e->dkim);
	free(e->disposition);
	free(e->policy);
	free(e->rua);
	free(e->override);
	free(e);
	*eval = NULL;
}

void store_dmarc_eval_list_free(struct store_dmarc_eval ***evals, size_t count)
{
	if (!*evals)
		return;
	for (size_t i = 0; i < count; i++)
		store_dmarc_eval_free(&(*evals)[i]);
	free(*evals);
	*evals = NULL;
}

int store_dmarc_eval_prune(struct store *store, time_t before, uint64_t *deleted_r,
			   const char **error_r)
{
	return store->ops->dmarc_eval_prune(store->db, before, deleted_r, error_r);
}

int store_dmarc_report_claim(struct store *store, const char *policy_domain, time_t begin,
			     bool *claimed_r, const char **error_r)
{
	char *d = store_lower_dup(policy_domain);
	int rc = store->ops->dmarc_report_claim(store->db, d, begin, time(NULL), claimed_r,
						error_r);
	free(d);
	return rc;
}
