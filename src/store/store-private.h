/* store-private - what the store's files share and tests may use: the backend
 * interface (a struct of function pointers, one per storage engine), the
 * thread-local error text, and the SCRAM derivation with a given salt.
 *
 * The public wrappers in store.c validate and lower-case names, then call the
 * backend; the rules that do not depend on the engine (sender authorization,
 * recipient resolution) live in store.c on top of the backend's plain reads.
 * A backend returns what store.h documents: 0, STORE_NOT_FOUND, STORE_EXISTS
 * or -1 with *error_r.
 */
#ifndef PETREL_STORE_PRIVATE_H
#define PETREL_STORE_PRIVATE_H

#include "store/store.h"

struct store_backend {
	const char *name;
	/* open - open/create and migrate; NULL and *error_r on failure */
	void *(*open)(const struct store_settings *settings, const char **error_r);
	void (*close)(void *db);
	int (*schema_version)(void *db);

	int (*domain_add)(void *db, const char *domain, const char **error_r);
	int (*domain_remove)(void *db, const char *domain, const char **error_r);
	int (*domain_exists)(void *db, const char *domain, bool *exists_r, const char **error_r);
	int (*domain_list)(void *db, char ***domains_r, const char **error_r);

	int (*plan_set)(void *db, const struct store_plan *plan, const char **error_r);
	int (*plan_get)(void *db, const char *name, struct store_plan **plan_r,
			const char **error_r);
	int (*account_plan_get)(void *db, const char *account, struct store_plan **plan_r,
				const char **error_r);
	int (*plan_list)(void *db, struct store_plan ***plans_r, size_t *count_r,
			 const char **error_r);

	int (*account_add)(void *db, const struct store_account *account, const char **error_r);
	int (*account_get)(void *db, const char *name, struct store_account **account_r,
			   const char **error_r);
	int (*account_update)(void *db, const struct store_account *account,
			      const char **error_r);
	int (*account_remove)(void *db, const char *name, const char **error_r);
	/* legacy_secrets_move - if the accounts table still has the columns
	 * password_hash and scram of schema versions 1-2: with the database
	 * locked for writing, hand every row's (name, hash, scram) to
	 * COPY(CTX, ROWS, N) and, if it returns 0 (the copy has committed
	 * elsewhere), drop the two columns; ROWS is ROWS[3i..3i+2].  Without
	 * the columns: COPY(CTX, ROWS, 0), then 0. */
	int (*legacy_secrets_move)(void *db,
				   int (*copy)(void *ctx, char *const *rows, size_t n,
					       const char **error_r),
				   void *ctx, const char **error_r);
	/* account_list - by name, OFFSET skipped, at most LIMIT (0: all);
	 * TOTAL_R (NULL: not asked) = how many there are */
	int (*account_list)(void *db, uint64_t offset, uint64_t limit,
			    struct store_account ***accounts_r, size_t *count_r,
			    uint64_t *total_r, const char **error_r);
	/* account_set_home, account_home - see store.h; names lower-cased */
	int (*account_set_home)(void *db, const char *account, const char *node,
				const char **error_r);
	int (*account_home)(void *db, const char *account, struct store_node **home_r,
			    const char **error_r);
	/* address_route - see store.h; ADDRESS and DOMAIN lower-cased */
	int (*address_route)(void *db, const char *address, const char *domain,
			     bool *domain_r, struct store_node **home_r, const char **error_r);

	int (*sender_set)(void *db, const char *account, const char *pattern, bool allow,
			  const char **error_r);
	int (*sender_remove)(void *db, const char *account, const char *pattern,
			     const char **error_r);
	int (*sender_list)(void *db, const char *account, struct store_sender **senders_r,
			   size_t *count_r, const char **error_r);

	int (*alias_add)(void *db, const char *address, const char *target,
			 const char **error_r);
	int (*alias_remove)(void *db, const char *address, const char *target,
			    const char **error_r);
	int (*alias_list)(void *db, char ***list_r, const char **error_r);
	/* alias_targets - the targets of ADDRESS, NULL-terminated (empty if none) */
	int (*alias_targets)(void *db, const char *address, char ***targets_r,
			     const char **error_r);

	int (*counter_reserve)(void *db, const char *account, const char *window, unsigned n,
			       unsigned limit, bool *ok_r, uint64_t *count_r,
			       const char **error_r);
	int (*counter_release)(void *db, const char *account, const char *window, unsigned n,
			       const char **error_r);
	int (*counter_get)(void *db, const char *account, const char *window,
			   uint64_t *count_r, const char **error_r);

	int (*event_add)(void *db, const struct store_event *events, size_t n,
			 const char **error_r);
	int (*event_list)(void *db, const char *account, time_t since, int64_t after_id,
			  size_t limit, struct store_event ***events_r, size_t *count_r,
			  const char **error_r);
	/* event_search - see store_event_search (ACCOUNT and FILTER's recipient
	 * lower case) */
	int (*event_search)(void *db, const char *account, const struct store_event_filter *filter,
			    size_t limit, struct store_event ***events_r, size_t *count_r,
			    const char **error_r);
	int (*event_newest_after)(void *db, const char *account, time_t since, size_t n,
				  int64_t *after_id_r, const char **error_r);
	/* event_count_days - see store_event_count_days (ACCOUNT lower case) */
	int (*event_count_days)(void *db, const char *account, time_t begin, time_t end,
				struct store_event_count ***counts_r, size_t *n_r,
				const char **error_r);
	/* event_count_category_days, category_list - see store.h (ACCOUNT lower case) */
	int (*event_count_category_days)(void *db, const char *account, const char *categories,
					 time_t begin, time_t end,
					 struct store_event_count ***counts_r, size_t *n_r,
					 const char **error_r);
	int (*category_list)(void *db, const char *account, const char *prefix, size_t limit,
			     size_t offset, char ***names_r, const char **error_r);
	/* event_prune - delete at most LIMIT of the oldest events with time < BEFORE,
	 * in one transaction; *deleted_r how many */
	int (*event_prune)(void *db, time_t before, size_t limit, uint64_t *deleted_r,
			   const char **error_r);
	/* message_prune - delete at most LIMIT messages with time < BEFORE
	 * and no event left, in one transaction; *deleted_r how many */
	int (*message_prune)(void *db, time_t before, size_t limit, uint64_t *deleted_r,
			     const char **error_r);

	/* node_register - see store_node_register; NODE's name, owner,
	 * version and listeners are set and valid */
	int (*node_register)(void *db, struct store_node *node, unsigned stale_after,
			     const char **error_r);
	/* node_report, node_stop - for NODE's name and generation;
	 * STORE_NOT_FOUND when there is no such row */
	int (*node_report)(void *db, const struct store_node *node, const char **error_r);
	int (*node_stop)(void *db, const struct store_node *node, const char **error_r);
	int (*node_list)(void *db, struct store_node ***nodes_r, size_t *count_r,
			 const char **error_r);
	/* node_forget - delete NAME unless live; STORE_NOT_FOUND, STORE_EXISTS */
	int (*node_forget)(void *db, const char *name, unsigned stale_after,
			   const char **error_r);

	/* suppression_* - see store.h; ACCOUNT and emails lower-cased;
	 * suppression_list's RANGE is never NULL (zeroed: everything).
	 * suppression_match: the pairs (email, list number as text) of the
	 * EMAILS that are on a list, NULL-terminated, in *ROWS_R */
	int (*suppression_add)(void *db, const char *account,
			       const struct store_suppression *entry, const char **error_r);
	int (*suppression_remove)(void *db, const char *account, int list, const char *email,
				  uint64_t *removed_r, const char **error_r);
	int (*suppression_list)(void *db, const char *account, int list, const char *email,
				const struct store_suppression_range *range,
				struct store_suppression ***entries_r, size_t *count_r,
				const char **error_r);
	int (*suppression_match)(void *db, const char *account, char *const *emails, size_t n,
				 char ***rows_r, const char **error_r);

	/* webhook_* - see store.h; ACCOUNT lower-cased, HOOK's URL checked */
	int (*webhook_get)(void *db, const char *account, struct store_webhook **hook_r,
			   const char **error_r);
	int (*webhook_set)(void *db, const char *account, const struct store_webhook *hook,
			   time_t now, const char **error_r);
	int (*webhook_list_enabled)(void *db, struct store_webhook ***hooks_r, size_t *count_r,
				    const char **error_r);
	int (*webhook_advance)(void *db, const char *account, int64_t from, int64_t to,
			       const char **error_r);

	/* web_secret_* - see store.h; HASH is the secret's SHA-256 (hex).
	 * add deletes the expired rows first; take deletes the row it reads */
	int (*web_secret_add)(void *db, int kind, const char *hash, const char *account,
			      const char *csrf, time_t expires, const char **error_r);
	int (*web_secret_get)(void *db, int kind, const char *hash, time_t now, bool take,
			      char **account_r, char **csrf_r, const char **error_r);
	int (*web_secret_remove)(void *db, int kind, const char *hash, const char *account,
				 const char **error_r);
	/* web_rate_take - see store.h; HASH is the key's SHA-256 (hex) */
	int (*web_rate_take)(void *db, const char *hash, time_t now, unsigned limit,
			     unsigned window, bool *allowed_r, const char **error_r);

	int (*dmarc_eval_add)(void *db, const struct store_dmarc_eval *eval,
			      const char **error_r);
	int (*dmarc_eval_list)(void *db, time_t begin, time_t end,
			       struct store_dmarc_eval ***evals_r, size_t *count_r,
			       const char **error_r);
	int (*dmarc_eval_prune)(void *db, time_t before, uint64_t *deleted_r,
				const char **error_r);
	int (*dmarc_report_claim)(void *db, const char *policy_domain, time_t begin, time_t now,
				  bool *claimed_r, const char **error_r);
};

/* an open store: its backend and the backend's handle (store.c opens it) */
struct store {
	const struct store_backend *ops;
	void *db;
};

extern const struct store_backend store_backend_sqlite;
extern const struct store_backend store_backend_pg;

/* The credentials database: SQLite (DATA_DIR/auth/credentials.db, the auth
 * process's own file, in store-sqlite.c) or PostgreSQL ([store]
 * credentials_url, a database whose role only the auth process and the
 * admin commands use, in store-pg.c); store.c wraps it.  Names come
 * lower-cased; results as store.h says. */
struct store_credentials_backend {
	const char *name;
	/* open - SETTINGS' url: PostgreSQL; without: SQLite in data_dir/auth */
	void *(*open)(const struct store_settings *settings, const char **error_r);
	void (*close)(void *cdb);
	int (*schema_version)(void *cdb);
	int (*get)(void *cdb, const char *name, char **hash_r, char **scram_r,
		   const char **error_r);
	int (*set)(void *cdb, const char *name, const char *hash, const char *scram,
		   const char **error_r);
	int (*remove)(void *cdb, const char *name, const char **error_r);
	int (*scram_replace)(void *cdb, const char *name, const char *old_scram,
			     const char *new_scram, bool *replaced_r, const char **error_r);
	/* add_missing - ROWS[3i..3i+2] (name, hash, scram), i < N, for the
	 * names not present yet, in one transaction (SQLite: once, see
	 * sq_credentials_add_missing) */
	int (*add_missing)(void *cdb, char *const *rows, size_t n, const char **error_r);
	/* list - every row as ROWS[3i..3i+2] (name, hash, scram) by name,
	 * NULL-terminated; *n_r rows */
	int (*list)(void *cdb, char ***rows_r, size_t *n_r, const char **error_r);
	/* apikey_add - ROW: id, account, name, scopes, hash, created (decimal) */
	int (*apikey_add)(void *cdb, const char *const row[6], const char **error_r);
	/* apikey_rows - the rows (as apikey_add's, NULL-terminated, 6 strings
	 * each) of key ID, or with ACCOUNT set of that account's keys by
	 * creation; *n_r rows */
	int (*apikey_rows)(void *cdb, const char *id, const char *account, char ***rows_r,
			   size_t *n_r, const char **error_r);
	int (*apikey_remove)(void *cdb, const char *id, const char **error_r);
	/* apikey_update - ID's name and scopes (NULL: kept); STORE_NOT_FOUND */
	int (*apikey_update)(void *cdb, const char *id, const char *name, const char *scopes,
			     const char **error_r);
	/* auth_failure_add, auth_locked - the shared AUTH throttle (store.h);
	 * NULL where the database is one node's own (SQLite) */
	int (*auth_failure_add)(void *cdb, const char *client, time_t now,
				const struct store_auth_throttle *limits, unsigned *failures_r,
				time_t *locked_until_r, const char **error_r);
	int (*auth_locked)(void *cdb, const char *client, time_t now, time_t *until_r,
			   const char **error_r);
};

/* an open credentials database: its backend and the backend's handle */
struct store_credentials {
	const struct store_credentials_backend *ops;
	void *db;
};

/* store_apikeys_remove_account - every API key of ACCOUNT removed (its
 * credentials are; a name made again must not find the old keys) */
int store_apikeys_remove_account(struct store_credentials *sc, const char *account,
				 const char **error_r);
/* store_apikeys_copy_account - ACCOUNT's API keys from FROM added to TO */
int store_apikeys_copy_account(struct store_credentials *from, struct store_credentials *to,
			       const char *account, const char **error_r);

extern const struct store_credentials_backend store_credentials_sqlite;
extern const struct store_credentials_backend store_credentials_pg;

/* store_auth_dir - DATA_DIR/auth (malloc'd), made 0700 if missing; NULL and
 * *error_r if it cannot be made or is not a folder (a symlink is refused) */
char *store_auth_dir(const char *data_dir, const char **error_r);

/* store_lower_dup - an ASCII lower-case copy (malloc'd): how the store
 * keeps names */
char *store_lower_dup(const char *s);

/* store_error - format into this thread's error buffer; returns it */
const char *store_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* store_sha256_hex - SHA-256 of KEY[0..LEN) in hex: how API keys and the
 * web pages' secrets are kept (apikey-key.c) */
void store_sha256_hex(const char *key, size_t len, char hash[65]);

/* the reason column of store_event_count_days' GROUP BY, in both
 * backends' SQL: the events' reason for the types GET /v3/stats tells
 * apart by it, NULL (one group) for the others */
/* store_event_has_message - EVENT carries its message's recipients,
 * categories or custom args (a row of the messages table) */
bool store_event_has_message(const struct store_event *event);

#define STORE_EVENT_COUNT_REASON STORE_EVENT_COUNT_REASON_OF("")
/* the same of the events table named P ("e.") */
#define STORE_EVENT_COUNT_REASON_OF(p) \
	"CASE WHEN " p "type IN ('dropped', 'bounced') THEN " p "reason END"

/* SCRAM-SHA-256 salt length (iterations: store.h) */
#define STORE_SCRAM_SALT_LEN 16

/* store_scram_credentials_salt - as store_scram_credentials with a given salt
 * and iteration count (tests use the RFC 7677 vector); NULL on failure */
char *store_scram_credentials_salt(const char *password, const unsigned char *salt,
				   size_t salt_len, unsigned iterations);

#endif
