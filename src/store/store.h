/* store - accounts, domains, plans, sender identities, aliases, sending
 * counters and events: SQLite (WAL, <data_dir>/petrel.db) or PostgreSQL
 * (libpq, [store] url), behind one interface (a struct of function pointers
 * inside).
 * Password secrets live apart, in <data_dir>/auth/credentials.db (SQLite,
 * WAL, 0600) or a PostgreSQL database of their own ([store]
 * credentials_url): only the process that checks passwords opens it
 * (store_credentials_*); the store holds no password hash.
 *
 * Every function here BLOCKS (disk, SQLite locks, password hashing): in the
 * server call them only from pool work functions; the CLI calls them
 * directly.  They are thread-safe: each call takes a connection from the
 * store's own small pool of connections (SQLite or PostgreSQL).
 *
 * Results: 0 success; STORE_NOT_FOUND / STORE_EXISTS where the function says
 * so; -1 with *error_r (static text or text in thread-local storage, valid
 * until the next store call on this thread) for anything else.  Structs
 * returned are owned by the caller and freed with the matching _free.
 * Names (domains, accounts, addresses) are stored lower-cased; lookups are
 * case-insensitive.  The schema is created and migrated at store_open.
 */
#ifndef PETREL_STORE_H
#define PETREL_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define STORE_NOT_FOUND 1
#define STORE_EXISTS 2

struct store;

/* Where the store lives.  Without URL: SQLite, DATA_DIR/petrel.db.  With
 * URL (a libpq connection URI, "postgresql://..."): PostgreSQL, a pool of
 * at most CONNECTIONS connections (opened on demand, reopened after a
 * failure), each with statement_timeout set to STATEMENT_TIMEOUT seconds. */
struct store_settings {
	const char *data_dir;
	const char *url;
	unsigned statement_timeout;  /* seconds; 0 = STORE_PG_STATEMENT_TIMEOUT */
	unsigned connections;        /* 0 = STORE_PG_CONNECTIONS */
};
#define STORE_PG_STATEMENT_TIMEOUT 10
#define STORE_PG_CONNECTIONS 4

/* store_open - open (creating and migrating) <data_dir>/petrel.db */
struct store *store_open(const char *data_dir, const char **error_r);
/* store_open_settings - open the store SETTINGS names, creating and
 * migrating its schema (PostgreSQL: under an advisory lock, so that several
 * nodes starting at once migrate it once) */
struct store *store_open_settings(const struct store_settings *settings, const char **error_r);
/* store_backend_name - "sqlite" or "postgresql" */
const char *store_backend_name(const struct store *store);
void store_close(struct store **store);
/* store_schema_version - the version the database is at (tests) */
int store_schema_version(struct store *store);

/* ---- input checks (also used by the CLI) ---------------------------------- */
/* store_domain_is_valid - an LDH domain name, labels 1-63, at most 253, no
 * trailing dot (any case), U-labels as UTF-8 (util/domain with ULABEL) */
bool store_domain_is_valid(const char *domain);
/* store_address_is_valid - "local@domain", local part a dot-atom (RFC 5322
 * 3.2.3) of at most 64 octets, domain as above; no quoted local parts */
bool store_address_is_valid(const char *address);
/* store_account_name_is_valid - an address, or a plain login (a dot-atom
 * without '@', at most 64 octets) */
bool store_account_name_is_valid(const char *name);
/* store_address_domain - the domain of ADDRESS: what follows its last '@'
 * (in ADDRESS), or "" if it has none */
const char *store_address_domain(const char *address);

/* ---- domains ------------------------------------------------------------- */
int store_domain_add(struct store *store, const char *domain,
		     const char **error_r);          /* STORE_EXISTS */
int store_domain_remove(struct store *store, const char *domain,
			const char **error_r);       /* STORE_NOT_FOUND */
/* store_domain_exists - 0 and *exists_r */
int store_domain_exists(struct store *store, const char *domain, bool *exists_r,
			const char **error_r);
/* store_domain_list - NULL-terminated array of names; free with store_strv_free */
int store_domain_list(struct store *store, char ***domains_r, const char **error_r);
void store_strv_free(char ***strv);

/* ---- plans ---------------------------------------------------------------- */
struct store_plan {
	char *name;
	unsigned daily_limit;   /* recipients per UTC day; 0 = unlimited */
	unsigned per_minute;    /* recipients per minute; 0 = unlimited */
	int64_t quota_bytes;    /* mailbox quota over all folders; 0 = none,
	                         * -1 = [mailbox] quota_default (RFC 9208 STORAGE) */
	int64_t quota_messages; /* likewise, messages ([mailbox] quota_messages_default) */
};
/* The built-in plan "free" (100 a day, 0 per minute, the default quota)
 * exists from the start. */
int store_plan_set(struct store *store, const struct store_plan *plan, const char **error_r);
int store_plan_get(struct store *store, const char *name, struct store_plan **plan_r,
		   const char **error_r);            /* STORE_NOT_FOUND */
/* store_account_plan_get - the plan of account NAME, in one statement (the
 * mailbox quota's read at RCPT, DATA and delivery); STORE_NOT_FOUND when
 * there is no such account */
int store_account_plan_get(struct store *store, const char *account, struct store_plan **plan_r,
			   const char **error_r);
int store_plan_list(struct store *store, struct store_plan ***plans_r, size_t *count_r,
		    const char **error_r);
void store_plan_free(struct store_plan **plan);
/* store_plan_list_free - free each plan and the array; null *plans */
void store_plan_list_free(struct store_plan ***plans, size_t count);

/* ---- accounts ------------------------------------------------------------- */
struct store_account {
	char *name;            /* the login; often an address in a local domain */
	char *plan;            /* plan name */
	long daily_limit;      /* -1 = the plan's */
	long per_minute;       /* -1 = the plan's */
	bool sandbox;
	bool disabled;
	bool any_from;         /* From: header may differ from the allowed senders */
	bool unverified;       /* made by the web sign-up, its address not yet proved by
				  the link mailed to it: may log in to the web, may not
				  send (docs/web.md); false for `petrel account add` */
	bool pending;          /* made by the web sign-up with [web] signup = approval:
				  waits for `petrel account approve` */
	time_t created;
	char *home_node;       /* the node its Maildir is on (docs/scaling.md, "Mailboxes
				  across nodes"); NULL = none: mail is delivered on
				  the node that receives it */
};
/* store_account_add - PLAN NULL means "free"; an unknown plan is an error;
 * CREATED 0 means now.  The password goes to store_credentials_set.  Fails
 * while petrel.db still holds the secrets of an older version: run
 * store_credentials_migrate first. */
/* A HOME_NODE must be a node the store knows (store_account_set_home). */
int store_account_add(struct store *store, const struct store_account *account,
		      const char **error_r);          /* STORE_EXISTS */
int store_account_get(struct store *store, const char *name, struct store_account **account_r,
		      const char **error_r);          /* STORE_NOT_FOUND */
/* store_account_update - write every field but name, created and home_node
 * (store_account_set_home) */
int store_account_update(struct store *store, const struct store_account *account,
			 const char **error_r);       /* STORE_NOT_FOUND */
/* store_account_remove - also its sender rules and counters (not its events;
 * not its credentials: store_credentials_remove) */
int store_account_remove(struct store *store, const char *name,
			 const char **error_r);       /* STORE_NOT_FOUND */
int store_account_list(struct store *store, struct store_account ***accounts_r,
		       size_t *count_r, const char **error_r);
/* store_account_list_page - at most LIMIT accounts (> 0) by name, the
 * first OFFSET skipped (SQL's LIMIT and OFFSET: only these rows are read),
 * and *TOTAL_R = how many accounts there are */
int store_account_list_page(struct store *store, uint64_t offset, uint64_t limit,
			    struct store_account ***accounts_r, size_t *count_r,
			    uint64_t *total_r, const char **error_r);
struct store_node;
/* store_account_set_home - ACCOUNT's Maildir is on NODE from now on (NULL:
 * none).  STORE_NOT_FOUND for an unknown account; -1 for a NODE the store
 * does not know (a node is known once it has started: store_node_register).
 * Moving the mail itself is the operator's (docs/scaling.md). */
int store_account_set_home(struct store *store, const char *account, const char *node,
			   const char **error_r);
/* store_account_home - *HOME_R = the full record (addresses, age, stopped)
 * of ACCOUNT's home node, or NULL when it has none; free it with
 * store_node_free.  A home node forgotten since (`petrel nodes forget`)
 * comes back with its name only: stopped, age -1, no addresses.
 * STORE_NOT_FOUND for an unknown account. */
int store_account_home(struct store *store, const char *account, struct store_node **home_r,
		       const char **error_r);
/* store_address_route - where the queue delivers ADDRESS ("local@domain"):
 * *DOMAIN_R = its domain is in the store (store_domain_exists), and *HOME_R
 * = the home node of the account ADDRESS names, as store_account_home
 * gives it, or NULL (no such account, or no home).  On PostgreSQL one
 * statement (docs/scaling.md, "Round trips per message"). */
int store_address_route(struct store *store, const char *address, bool *domain_r,
			struct store_node **home_r, const char **error_r);
void store_account_free(struct store_account **account);
void store_account_list_free(struct store_account ***accounts, size_t count);

/* ---- credentials: <data_dir>/auth/credentials.db or [store] credentials_url ---- */
/* The secrets of each account, apart from the store so that only the auth
 * process reads them: its crypt(5) hash and its SCRAM-SHA-256 (RFC 7677)
 * credentials ("iterations:salt_b64:storedkey_b64:serverkey_b64", or "" when
 * the hash was imported and SCRAM is unavailable for it).  They live in
 * DATA_DIR/auth/credentials.db (SQLite, one node), or in a PostgreSQL
 * database of their own ([store] credentials_url: several nodes share the
 * passwords) whose role the store's own connections ([store] url) do not
 * use.  Same rules as above: blocking, thread-safe (a small pool of
 * connections), names lower-cased, 0 / STORE_NOT_FOUND / -1 with *error_r. */
struct store_credentials;
/* store_credentials_open - open (creating and migrating) the database;
 * DATA_DIR/auth is made (0700) if missing and must be a real folder, not a
 * symlink; the database files are 0600 */
struct store_credentials *store_credentials_open(const char *data_dir, const char **error_r);
/* store_credentials_open_settings - SETTINGS' url set (the credentials
 * URL, not the store's): PostgreSQL there, its own tables migrated under an
 * advisory lock of their own, with SETTINGS' statement timeout and
 * connections; else store_credentials_open(SETTINGS' data_dir) */
struct store_credentials *store_credentials_open_settings(const struct store_settings *settings,
							  const char **error_r);
/* store_credentials_backend_name - "sqlite" or "postgresql" */
const char *store_credentials_backend_name(const struct store_credentials *sc);
/* store_credentials_schema_version - the version its tables are at */
int store_credentials_schema_version(struct store_credentials *sc);
void store_credentials_close(struct store_credentials **sc);
/* store_credentials_copy - every account's credentials (and API keys) from FROM into TO,
 * which must hold none (else 1 and *error_r says so), in one transaction;
 * *copied_r how many */
int store_credentials_copy(struct store_credentials *from, struct store_credentials *to,
			   size_t *copied_r, const char **error_r);
/* store_credentials_get - NAME's hash and SCRAM credentials (malloc'd; the
 * caller wipes and frees them); STORE_NOT_FOUND if it has none */
int store_credentials_get(struct store_credentials *sc, const char *name, char **hash_r,
			  char **scram_r, const char **error_r);
/* store_credentials_set - create or replace NAME's; HASH a crypt(5) hash
 * (not checked here: an import is checked with store_password_hash_is_valid
 * first), SCRAM NULL means "" */
int store_credentials_set(struct store_credentials *sc, const char *name, const char *hash,
			  const char *scram, const char **error_r);
/* store_credentials_remove - NAME's secrets and API keys */
int store_credentials_remove(struct store_credentials *sc, const char *name,
			     const char **error_r);  /* STORE_NOT_FOUND */
/* store_credentials_scram_replace - set NAME's SCRAM credentials to
 * NEW_SCRAM if they are still OLD_SCRAM (compare and set: a password changed
 * meanwhile is never overwritten); *replaced_r whether they were */
int store_credentials_scram_replace(struct store_credentials *sc, const char *name,
				    const char *old_scram, const char *new_scram,
				    bool *replaced_r, const char **error_r);
/* API keys (docs/security.md): kept with the credentials, so that only the
 * auth process (which checks them) and the admin commands read them.  A key
 * is "PT." ID "." SECRET: ID (16 hex digits) names its row, SECRET is 32
 * random octets in hex; the row keeps the SHA-256 of the whole key (hex),
 * never the key.  SCOPES is a space-separated list (mail.send, ...). */
struct store_apikey {
	char *id;
	char *account;
	char *name;       /* the owner's label; "" if none */
	char *scopes;
	char *hash;       /* SHA-256 of the key, 64 hex digits */
	time_t created;
};
#define STORE_APIKEY_ID_LEN 16
#define STORE_APIKEY_LEN (3 + STORE_APIKEY_ID_LEN + 1 + 64)
/* store_apikey_make - a new random key (STORE_APIKEY_LEN characters) into
 * KEY (shown once, then wiped by the caller), its ID and HASH; -1 if the
 * random source fails */
int store_apikey_make(char key[STORE_APIKEY_LEN + 1], char id[STORE_APIKEY_ID_LEN + 1],
		      char hash[65]);
/* store_apikey_parse - the ID of KEY (LEN octets) if it has a key's form
 * (then also its HASH); false otherwise */
bool store_apikey_parse(const char *key, size_t len, char id[STORE_APIKEY_ID_LEN + 1],
			char hash[65]);
/* store_apikey_add - KEY's row (id, account, name, scopes, hash; CREATED 0
 * means now); STORE_EXISTS if its id is taken */
int store_apikey_add(struct store_credentials *sc, const struct store_apikey *key,
		     const char **error_r);
/* store_apikey_get - the row of ID into *KEY_R (store_apikey_clear it);
 * STORE_NOT_FOUND */
int store_apikey_get(struct store_credentials *sc, const char *id, struct store_apikey *key_r,
		     const char **error_r);
/* store_apikey_list - ACCOUNT's keys by creation, *n_r of them (each
 * cleared, the array freed by the caller) */
int store_apikey_list(struct store_credentials *sc, const char *account,
		      struct store_apikey **keys_r, size_t *n_r, const char **error_r);
int store_apikey_remove(struct store_credentials *sc, const char *id,
			const char **error_r);  /* STORE_NOT_FOUND */
/* store_apikey_update - ID's NAME and SCOPES (either NULL: kept);
 * STORE_NOT_FOUND */
int store_apikey_update(struct store_credentials *sc, const char *id, const char *name,
			const char *scopes, const char **error_r);
void store_apikey_clear(struct store_apikey *key);
/* store_apikey_create - a new key for ACCOUNT with NAME and SCOPES
 * (space-separated, each store_apikey_scope_is_valid) made and its row
 * added: the key into KEY_R (shown once; the caller wipes it), its id into
 * ID_R.  The one way keys are made (petrel apikey add, the auth process). */
int store_apikey_create(struct store_credentials *sc, const char *account, const char *name,
			const char *scopes, char key_r[STORE_APIKEY_LEN + 1],
			char id_r[STORE_APIKEY_ID_LEN + 1], const char **error_r);
/* store_apikey_scope_is_valid - a token of lower-case letters, digits, '.',
 * '_', '-' */
bool store_apikey_scope_is_valid(const char *scope);
/* store_apikey_has_scope - SCOPES (space-separated) holds SCOPE */
bool store_apikey_has_scope(const char *scopes, const char *scope);

/* The AUTH failure throttle shared by the nodes (PostgreSQL credentials
 * only: SQLite's are one node's, and its auth process's memory is the whole
 * throttle).  CLIENT names a client address as the throttle keys it
 * (policy_throttle_key_text); the count and the lockout follow the rules of
 * the auth process's in-memory throttle (policy/throttle.c), with LIMITS
 * from [auth].  A failure is counted by one statement (an upsert: no read
 * before the write), so failures from every node add up exactly. */
struct store_auth_throttle {
	unsigned lockout_after;  /* failures that lock the address out; 0 = never */
	unsigned window;         /* seconds from the first failure the count lasts */
	unsigned lockout_time;   /* seconds a lockout lasts */
};
/* store_credentials_shares_failures - SC keeps the shared throttle */
bool store_credentials_shares_failures(const struct store_credentials *sc);
/* store_auth_failure_add - count one failure of CLIENT at NOW: *failures_r
 * the count after it, *locked_until_r the end of its lockout (0: none);
 * -1 also where SC does not share failures */
int store_auth_failure_add(struct store_credentials *sc, const char *client, time_t now,
			   const struct store_auth_throttle *limits, unsigned *failures_r,
			   time_t *locked_until_r, const char **error_r);
/* store_auth_locked - *until_r the end of CLIENT's lockout at NOW, 0 if it
 * is not locked out */
int store_auth_locked(struct store_credentials *sc, const char *client, time_t now,
		      time_t *until_r, const char **error_r);
/* store_credentials_migrate - move the secrets an older petrel kept in
 * petrel.db's accounts table into SC: copy every account's hash and SCRAM
 * credentials (in one transaction, only for names SC does not hold yet),
 * then, once that has committed, drop the two columns from petrel.db.
 * Once: SC records that the secrets have moved (or were found gone) in the
 * transaction of the copy, and copies nothing from columns that come back
 * later (petrel.db is the network process's user's: they are not a source
 * of passwords), but drops them; interrupted between the two steps, a rerun
 * drops them.  Run it
 * (as the files' owner or root) before the store serves accounts; store_open
 * never drops the columns itself. */
int store_credentials_migrate(struct store *store, struct store_credentials *sc,
			      const char **error_r);

/* ---- passwords (libcrypt; yescrypt by default) ----------------------------- */
/* store_password_hash - a new crypt(5) hash of PASSWORD (slow on purpose) */
char *store_password_hash(const char *password, const char **error_r);
/* store_password_verify - true if PASSWORD matches HASH (any crypt(5) method),
 * compared in constant time */
bool store_password_verify(const char *password, const char *hash);
/* store_scram_credentials - SCRAM-SHA-256 credentials string for PASSWORD
 * ("ITERATIONS:salt:storedkey:serverkey", 16 random salt bytes); NULL on
 * failure.  The count is stored with each account, so changing the default
 * leaves existing credentials working. */
char *store_scram_credentials(const char *password, unsigned iterations);

/* The server's secret: 32 random bytes in DATA_DIR/auth/auth-secret (64 hex
 * digits), made (mode 0600) the first time it is needed.  It derives what
 * an unknown user's SCRAM exchange shows, so that it stays the same from
 * try to try, as a real account's does.  One left at DATA_DIR/auth-secret
 * by an older petrel is moved there (rename) when the new one does not
 * exist yet, so that an unknown user's salt stays the same across the
 * upgrade.  DATA_DIR/auth is made (0700) if missing. */
#define STORE_AUTH_SECRET_LEN 32
int store_auth_secret_load(const char *data_dir, unsigned char secret[STORE_AUTH_SECRET_LEN],
			   const char **error_r);
/* store_secret_load - a secret of the same form at PATH, made (0600,
 * O_EXCL: two racing starts cannot mix) if it does not exist: the auth
 * secret, the unsubscribe links' (DATA_DIR/unsubscribe-secret) */
int store_secret_load(const char *path, unsigned char secret[STORE_AUTH_SECRET_LEN],
		      const char **error_r);
/* store_scram_fake_credentials - credentials for USER (any case) that no
 * account has: salt and keys derived from SECRET and the lower-cased name
 * (stable, unguessable, no password opens them), ITERATIONS as new accounts
 * get.  Malloc'd, same format as store_scram_credentials. */
char *store_scram_fake_credentials(const unsigned char secret[STORE_AUTH_SECRET_LEN],
				   const char *user, unsigned iterations);
/* SCRAM-SHA-256 credentials taken apart, and the proof check of RFC 5802 3
 * (store/scram.c: no I/O).  Only the auth process holds these keys. */
#define STORE_SCRAM_KEY_LEN 32
#define STORE_SCRAM_SALT_MAX 64
struct store_scram {
	unsigned iterations;
	unsigned char salt[STORE_SCRAM_SALT_MAX];
	size_t salt_len;
	unsigned char stored_key[STORE_SCRAM_KEY_LEN];
	unsigned char server_key[STORE_SCRAM_KEY_LEN];
};
/* store_scram_parse - CREDENTIALS as stored ("iterations:salt_b64:
 * storedkey_b64:serverkey_b64") into *SCRAM_R; 0, or -1 when malformed */
int store_scram_parse(const char *credentials, struct store_scram *scram_r);
/* store_scram_proof_check - is PROOF the ClientProof of AUTH_MESSAGE (LEN
 * bytes) under SCRAM's StoredKey (compared in constant time)?  0 and the
 * ServerSignature in SERVER_SIGNATURE_R when it is; 1 when it is not; -1 if
 * the crypto library failed */
int store_scram_proof_check(const struct store_scram *scram, const void *auth_message,
			    size_t len, const unsigned char proof[STORE_SCRAM_KEY_LEN],
			    unsigned char server_signature_r[STORE_SCRAM_KEY_LEN]);
/* store_scram_clear - wipe the keys */
void store_scram_clear(struct store_scram *scram);
/* store_password_hash_is_valid - HASH is a complete crypt(5) hash this
 * libcrypt can verify (for importing accounts) */
bool store_password_hash_is_valid(const char *hash);
/* store_password_method - "yescrypt", "sha512-crypt", "bcrypt", ...,
 * "unknown", or "none" for an empty hash (static text) */
const char *store_password_method(const char *hash);

/* ---- sender identities ------------------------------------------------------ */
/* PATTERN is "user@domain" or "@domain"; one rule per pattern (setting it
 * again replaces allow/deny).  Precedence: a rule for the exact address
 * decides (allow or deny); else the account's own name, when it is that
 * address, allows; else a rule for the address's domain decides; else deny.
 * So a deny rule overrides the own name and a domain allow rule. */
int store_sender_set(struct store *store, const char *account, const char *pattern,
		     bool allow, const char **error_r);  /* STORE_NOT_FOUND: no account */
int store_sender_remove(struct store *store, const char *account, const char *pattern,
			const char **error_r);       /* STORE_NOT_FOUND */
struct store_sender { char *pattern; bool allow; };
/* store_sender_list - ACCOUNT's rules by pattern; STORE_NOT_FOUND: no account */
int store_sender_list(struct store *store, const char *account,
		      struct store_sender **senders_r, size_t *count_r, const char **error_r);
void store_sender_list_free(struct store_sender **senders, size_t count);
/* store_sender_is_allowed - may ACCOUNT use ADDRESS ("" for <>: never;
 * unknown account: never) */
int store_sender_is_allowed(struct store *store, const char *account, const char *address,
			    bool *allowed_r, const char **error_r);

/* ---- aliases ----------------------------------------------------------------- */
/* ADDRESS must be a valid address; TARGET any address (local or not) */
int store_alias_add(struct store *store, const char *address, const char *target,
		    const char **error_r);    /* STORE_EXISTS: that pair exists */
int store_alias_remove(struct store *store, const char *address, const char *target,
		       const char **error_r);    /* TARGET NULL: all of them; STORE_NOT_FOUND */
/* store_alias_list - pairs: (*list_r)[2i] address, [2i+1] target; NULL-terminated */
int store_alias_list(struct store *store, char ***list_r, const char **error_r);

/* ---- local recipients ---------------------------------------------------------- */
/* store_recipient_resolve - ADDRESS in a local domain: the mailboxes it
 * delivers to ("user+tag@d" -> "user@d"; an alias -> its targets, one level;
 * an account named like the address -> itself).  NULL-terminated; empty
 * (just NULL) if unknown.  The address as given is tried first, so an alias
 * or account whose name contains '+' still matches; then without the tag.
 * Free with store_strv_free. */
int store_recipient_resolve(struct store *store, const char *address, char ***mailboxes_r,
			    const char **error_r);

/* ---- sending counters --------------------------------------------------------- */
/* store_counter_reserve - atomically add N to ACCOUNT's counter for WINDOW
 * (e.g. "d:20261129" or "m:202611291031") if the result stays <= LIMIT
 * (LIMIT 0 = unlimited); *ok_r says whether it did; *count_r the count after
 * (or as it stands when refused). */
int store_counter_reserve(struct store *store, const char *account, const char *window,
			  unsigned n, unsigned limit, bool *ok_r, uint64_t *count_r,
			  const char **error_r);
/* store_counter_release - give back N reserved but not used (RSET, failure) */
int store_counter_release(struct store *store, const char *account, const char *window,
			  unsigned n, const char **error_r);
/* store_counter_get - 0 with *count_r 0 when there is no such counter */
int store_counter_get(struct store *store, const char *account, const char *window,
		      uint64_t *count_r, const char **error_r);
/* store_window_day, store_window_minute - window names for time T in UTC:
 * "d:YYYYMMDD" (resets at 00:00 UTC) and "m:YYYYMMDDHHMM" */
#define STORE_WINDOW_MAX 20
void store_window_day(time_t t, char buf[STORE_WINDOW_MAX]);
void store_window_minute(time_t t, char buf[STORE_WINDOW_MAX]);

/* ---- events ----------------------------------------------------------------------- */
struct store_event {
	int64_t id;            /* set by the store */
	time_t time;
	char *type;            /* accepted rejected delivered deferred bounced sandboxed auth-failed ... */
	char *account;         /* or NULL */
	char *queue_id;        /* or NULL */
	char *recipient;       /* or NULL */
	int code;              /* SMTP reply code, 0 if none */
	char *reason;          /* text, or NULL */
	char *node;            /* the node that recorded it ([server] node), or NULL */
	/* The message an "accepted" event records (NULL: none), kept in the
	 * store's messages table under (ACCOUNT, QUEUE_ID) when the event is
	 * written, deleted once the message has no events left after the
	 * retention; store_event_list reads them back on every event of it
	 * (the event webhook's "email" per recipient, "category", custom args) */
	char *recipients;      /* the envelope's recipients, one per line (LF) */
	char *categories;      /* a JSON array of strings (SendGrid's categories) */
	char *custom_args;     /* a JSON object of strings (custom_args, unique_args) */
	int attempt;           /* store_event_list: a "deferred" event's number among
				  its recipient's deferrals of the message (1, 2, ...); 0 */
};
/* store_event_add - TIME 0 means now; TYPE required */
int store_event_add(struct store *store, const struct store_event *event, const char **error_r);
/* store_event_add_many - N events in one transaction */
int store_event_add_many(struct store *store, const struct store_event *events, size_t n,
			 const char **error_r);

/* ---- the event writer: many producers, rows written in batches ----------------------- */
/* The server records an event for every acceptance, delivery, rejection...;
 * one transaction per row would make the workers queue on SQLite's write
 * lock, and cost more than a message's own work.  store_events_post() copies
 * the event and returns at once; the writer's own thread writes them in
 * batches, one transaction each, once the oldest has waited WRITE_DELAY_MS
 * (or a batch is full).  Thread-safe. */
struct store_events;
struct pool;
struct event_base;
struct store_events_settings {
	unsigned max_pending;    /* events waiting to be written; more are dropped */
	unsigned retention;      /* seconds events are kept; 0 = for ever */
	unsigned write_delay_ms; /* how long a first event waits for others to share
				    its transaction; 0: none */
	const char *node;        /* recorded with each event posted without one;
				    NULL: none (the string must outlive the writer) */
};
/* store_events_create - with BASE (not NULL) and a retention, events older
 * than it are deleted on the POOL soon after start and every hour after.
 * Events posted while MAX_PENDING wait already are dropped: counted, and
 * logged once when dropping starts and once when it stops. */
struct store_events *store_events_create(struct store *store, struct pool *pool,
					 struct event_base *base,
					 const struct store_events_settings *settings);
/* store_events_dropped - events dropped so far */
unsigned long long store_events_dropped(struct store_events *events);
/* store_events_post - queue EVENT for the writer; never blocks */
void store_events_post(struct store_events *events, const struct store_event *event);
/* store_events_free - write what is pending now (blocking), then free; call
 * after the pool has stopped */
void store_events_free(struct store_events **events);
/* store_event_list - events with id > AFTER_ID, time >= SINCE (0: any),
 * ACCOUNT (NULL: any), oldest first, at most LIMIT (0: no limit) */
int store_event_list(struct store *store, const char *account, time_t since, int64_t after_id,
		     size_t limit, struct store_event ***events_r, size_t *count_r,
		     const char **error_r);
/* struct store_event_filter - which of an account's events a search
 * finds (the dashboard's activity feed): each of RECIPIENT (any case),
 * TYPE and QUEUE_ID NULL for any, else equal to it; BEFORE_ID 0 for any,
 * else only events with a smaller id (the next page, newest first) */
struct store_event_filter {
	const char *recipient;
	const char *type;
	const char *queue_id;
	int64_t before_id;
};
/* store_event_search - ACCOUNT's events that FILTER finds, newest first, at
 * most LIMIT (> 0); bound parameters only, in one statement */
int store_event_search(struct store *store, const char *account,
		       const struct store_event_filter *filter, size_t limit,
		       struct store_event ***events_r, size_t *count_r, const char **error_r);
/* store_event_newest_after - *AFTER_ID_R such that store_event_list from it
 * (same ACCOUNT and SINCE) starts at the newest N events; 0 if there are no
 * more than N */
int store_event_newest_after(struct store *store, const char *account, time_t since,
			     size_t n, int64_t *after_id_r, const char **error_r);
/* store_event_prune - delete events older than BEFORE, then the messages
 * (categories, custom args) older than BEFORE that have no event left, in
 * transactions of STORE_EVENT_PRUNE_BATCH rows; *deleted_r how many events */
#define STORE_EVENT_PRUNE_BATCH 5000
int store_event_prune(struct store *store, time_t before, uint64_t *deleted_r,
		      const char **error_r);
void store_event_free(struct store_event **event);
/* struct store_event_count - COUNT events of TYPE on DAY (days since
 * 1970-01-01, UTC); for "dropped" and "bounced" events, of TYPE with
 * REASON (GET /v3/stats tells drops by list and blocks from bounces by
 * it), NULL for the other types */
struct store_event_count {
	int64_t day;
	char *type;
	char *reason;
	uint64_t count;
	char *category;   /* store_event_count_category_days: the category; else NULL */
};
/* store_event_count_days - ACCOUNT's events with BEGIN <= time < END
 * counted by UTC day, type and (dropped, bounced) reason, in one query
 * (GET /v3/stats), ordered by day, type and reason; *counts_r
 * (store_event_counts_free it), *n_r of them */
int store_event_count_days(struct store *store, const char *account, time_t begin, time_t end,
			   struct store_event_count ***counts_r, size_t *n_r,
			   const char **error_r);
void store_event_counts_free(struct store_event_count ***counts, size_t n);
/* store_event_count_category_days - as store_event_count_days, for the
 * events of ACCOUNT's messages kept with categories (store_event's
 * categories), once per category of the message that is in CATEGORIES (a
 * JSON array of strings, bound as one parameter; NULL: every category);
 * ordered by category, day, type and reason (GET /v3/categories/stats) */
int store_event_count_category_days(struct store *store, const char *account,
				    const char *categories, time_t begin, time_t end,
				    struct store_event_count ***counts_r, size_t *n_r,
				    const char **error_r);
/* store_category_list - the categories of ACCOUNT's kept messages, by name
 * (octet order), those that start with PREFIX (NULL: all), at most LIMIT
 * after OFFSET: *names_r NULL-terminated (store_strv_free) */
int store_category_list(struct store *store, const char *account, const char *prefix,
			size_t limit, size_t offset, char ***names_r, const char **error_r);

/* ---- suppressions: addresses an account's mail is not sent to ---------------------- */
/* SendGrid's four lists, kept per account (docs/accounts.md, "Suppressions"):
 * the queue adds a recipient to BOUNCES when its remote server refuses it
 * for good (5xx), to BLOCKS when that refusal is about the sender or the
 * message (5.7.X, queue_reply_is_block), and drops later mail of the account to an address on any
 * list.  Addresses are lower-cased, as everywhere in the store. */
enum store_suppression_list {
	STORE_SUPPRESSION_BOUNCES = 0,
	STORE_SUPPRESSION_BLOCKS,
	STORE_SUPPRESSION_UNSUBSCRIBES,
	STORE_SUPPRESSION_SPAM_REPORTS,
	STORE_SUPPRESSION_LISTS
};
struct store_suppression {
	enum store_suppression_list list;
	char *email;
	time_t created;        /* 0 on add: now */
	char *reason;          /* the remote reply for a bounce; "" if none */
	char *status;          /* its enhanced status code ("5.1.1"); "" if none */
};
/* store_suppression_list_name - "bounces", "blocks", "unsubscribes",
 * "spam_reports" (static text) */
const char *store_suppression_list_name(enum store_suppression_list list);
/* store_suppression_list_parse - NAME (one of the four) into *LIST_R */
bool store_suppression_list_parse(const char *name, enum store_suppression_list *list_r);
/* store_suppression_add - ENTRY on ACCOUNT's list, or its reason, status
 * and time replaced when the address is there already; STORE_NOT_FOUND: no
 * such account; -1 for an EMAIL that is not an address */
int store_suppression_add(struct store *store, const char *account,
			  const struct store_suppression *entry, const char **error_r);
/* store_suppression_remove - EMAIL off ACCOUNT's LIST (EMAIL NULL: every
 * address of that list); *removed_r (may be NULL) how many went;
 * STORE_NOT_FOUND when EMAIL was not on it */
int store_suppression_remove(struct store *store, const char *account,
			     enum store_suppression_list list, const char *email,
			     uint64_t *removed_r, const char **error_r);
/* store_suppression_list - ACCOUNT's LIST (EMAIL not NULL: that address's
 * entry only, if any), newest first */
int store_suppression_list(struct store *store, const char *account,
			   enum store_suppression_list list, const char *email,
			   struct store_suppression ***entries_r, size_t *count_r,
			   const char **error_r);
/* struct store_suppression_range - a window of a list (SendGrid's GET
 * parameters): the entries created from START to END (UNIX seconds, both
 * included; 0: no bound), newest first, OFFSET of them skipped, at most
 * LIMIT (0: no limit) */
struct store_suppression_range {
	time_t start, end;
	uint64_t limit, offset;
};
/* store_suppression_page - store_suppression_list of all of LIST within
 * RANGE */
int store_suppression_page(struct store *store, const char *account,
			   enum store_suppression_list list,
			   const struct store_suppression_range *range,
			   struct store_suppression ***entries_r, size_t *count_r,
			   const char **error_r);
/* store_suppression_match - which of EMAILS[0..N) are on any of ACCOUNT's
 * lists, in one statement (one round trip): *LISTS_R[i] the list EMAILS[i]
 * is on (the first in enum order when several), or -1; LISTS_R is the
 * caller's array of N */
int store_suppression_match(struct store *store, const char *account,
			    const char *const *emails, size_t n, int *lists_r,
			    const char **error_r);
void store_suppression_free(struct store_suppression **entry);
void store_suppression_list_free(struct store_suppression ***entries, size_t count);

/* ---- event webhook: where an account's events are POSTed ----------------------------- */
/* One per account (SendGrid's /v3/user/webhooks/event/settings, docs/http.md
 * "Event webhook"): whether it is on, its URL, which events it posts (a
 * bit set the http module names) and whether they are signed; and how far
 * it has got: SENT_ID, the id of the last event the receiver acknowledged.
 * The webhook's dispatcher reads the account's events after SENT_ID and
 * moves it with store_webhook_advance, so that a restart neither loses nor
 * repeats an acknowledged batch. */
#define STORE_WEBHOOK_URL_MAX 2048
struct store_webhook {
	char *account;         /* lower-cased */
	bool enabled;
	char *url;             /* "" when none */
	uint32_t events;       /* which events it posts (bits) */
	bool sign;             /* signed (X-Twilio-Email-Event-Webhook-Signature) */
	int64_t sent_id;       /* the last event acknowledged; set by the store */
	time_t updated;        /* set by the store */
};
/* store_webhook_get - ACCOUNT's webhook into *HOOK_R; STORE_NOT_FOUND when
 * it has never been set */
int store_webhook_get(struct store *store, const char *account, struct store_webhook **hook_r,
		      const char **error_r);
/* store_webhook_set - ACCOUNT's webhook as HOOK says (enabled, url,
 * events, sign; HOOK's account and sent_id are not read).  Turned on (set
 * for the first time, or from off): it starts after the newest event, so
 * only what happens from now on is posted.  STORE_NOT_FOUND: no such
 * account; -1 for a URL longer than STORE_WEBHOOK_URL_MAX */
int store_webhook_set(struct store *store, const char *account,
		      const struct store_webhook *hook, const char **error_r);
/* store_webhook_list_enabled - every webhook that is on and has a URL, by
 * account */
int store_webhook_list_enabled(struct store *store, struct store_webhook ***hooks_r,
			       size_t *count_r, const char **error_r);
/* store_webhook_advance - ACCOUNT's sent_id from FROM to TO (TO > FROM);
 * STORE_NOT_FOUND when it is not FROM any more (another node moved it, or
 * the webhook was turned off and on): the caller reads it again */
int store_webhook_advance(struct store *store, const char *account, int64_t from, int64_t to,
			  const char **error_r);
void store_webhook_free(struct store_webhook **hook);
void store_webhook_list_free(struct store_webhook ***hooks, size_t count);

/* ---- DMARC evaluations, for aggregate reports (RFC 7489 7.2) ------------------------- */
/* One DMARC evaluation of a received message, as the receiving session made
 * it; a report of POLICY_DOMAIN over a period groups the rows of that
 * period.  Strings are lower-case domains or RFC 8601 result words. */
struct store_dmarc_eval {
	int64_t id;            /* set by the store */
	time_t time;           /* 0: now */
	char *policy_domain;   /* the domain whose _dmarc record applied */
	char *source_ip;       /* the connecting client */
	char *header_from;     /* the RFC 5322.From domain */
	char *envelope_from;   /* the MAIL FROM domain; "" for the null sender */
	char *spf_domain;      /* the identity SPF checked (MAIL FROM or HELO domain) */
	char *spf_result;      /* "pass", "fail", ... */
	char *dkim;            /* one line per signature, "DOMAIN SELECTOR RESULT",
				  joined with '\n'; "" without any */
	bool spf_aligned, dkim_aligned;
	char *disposition;     /* applied: "none", "quarantine", "reject" */
	char *policy;          /* the record's policy as a tag list: "p=reject;
				  sp=reject; adkim=r; aspf=r; pct=100; fo=0" */
	char *rua;             /* its rua= URIs, "!size" kept, comma separated */
	char *override;        /* why the disposition differs from the policy
				  (RFC 7489 C's PolicyOverrideType: "sampled_out",
				  "local_policy", "trusted_forwarder"...), or NULL */
};
/* store_dmarc_eval_add - EVAL's time 0 means now; POLICY_DOMAIN required */
int store_dmarc_eval_add(struct store *store, const struct store_dmarc_eval *eval,
			 const char **error_r);
/* store_dmarc_eval_list - the rows with BEGIN <= time < END, by policy
 * domain then in order of arrival */
int store_dmarc_eval_list(struct store *store, time_t begin, time_t end,
			  struct store_dmarc_eval ***evals_r, size_t *count_r,
			  const char **error_r);
void store_dmarc_eval_free(struct store_dmarc_eval **eval);
void store_dmarc_eval_list_free(struct store_dmarc_eval ***evals, size_t count);
/* store_dmarc_eval_prune - delete the rows older than BEFORE */
int store_dmarc_eval_prune(struct store *store, time_t before, uint64_t *deleted_r,
			   const char **error_r);
/* store_dmarc_report_claim - note that the report of POLICY_DOMAIN for the
 * period starting at BEGIN is being made; *claimed_r false when it was
 * already (so that a report is sent once, whoever asks) */
int store_dmarc_report_claim(struct store *store, const char *policy_domain, time_t begin,
			     bool *claimed_r, const char **error_r);
void store_event_list_free(struct store_event ***events, size_t count);

/* ---- nodes: the servers that share this store ----------------------------------------- */
/* Each server registers its [server] node name at start and gets the
 * name's number, unique among the names the store knows, kept for the
 * name's life: the node bits of its queue IDs, so that two nodes never make
 * the same ID.  It reports every [server] node_report_interval; a node whose
 * last report is older than [server] node_stale_after is stale.  Times come
 * from the database's clock, so the nodes' clocks need not agree. */
#define STORE_NODE_NUMBERS 256
#define STORE_NODE_NAME_MAX 63
struct store_node {
	char *name;            /* letters, digits, '.', '-', '_'; 1-63 octets */
	char *owner;           /* "<machine-id>:<data_dir>": who runs it */
	unsigned number;       /* 0 .. STORE_NODE_NUMBERS - 1 (set by the store) */
	int64_t generation;    /* registrations of the name (set by the store) */
	char *version;
	time_t started;        /* set by the store */
	time_t reported;       /* set by the store */
	int64_t age;           /* seconds since the last report (store_node_list) */
	bool stopped;          /* it stopped cleanly */
	char *listeners;       /* "NAME=ADDRESS ..." */
	char *mail_address;    /* [cluster] mail, imap, pop3: HOST:PORT where the other */
	char *imap_address;    /* nodes deliver mail for the accounts homed here and */
	char *pop3_address;    /* proxy IMAP and POP3 logins to; NULL = unset */
	uint64_t queue_active;   /* messages in its active queue (in memory: new and
				    due ones) at the last report */
};
/* store_node_is_valid_name - NAME fits struct store_node's name */
bool store_node_is_valid_name(const char *name);
/* store_node_register - register NODE (name, owner, version, listeners, the
 * three addresses), atomically: a name seen before keeps its number; a new one gets the
 * smallest free number.  STORE_EXISTS when the name is live, run by another
 * owner (reported less than STALE_AFTER seconds ago and not stopped): a
 * second server with the same name is refused.  The same owner (the data
 * folder's lock proves its last process has ended) takes over at once.
 * Sets NODE's number, generation, started and reported. */
int store_node_register(struct store *store, struct store_node *node, unsigned stale_after,
			const char **error_r);
/* store_node_report - NODE reports (last report now, its queue size);
 * STORE_NOT_FOUND when the name was registered again since (by another
 * server, after this one went stale) or forgotten */
int store_node_report(struct store *store, const struct store_node *node,
		      const char **error_r);
/* store_node_stop - NODE stopped cleanly: its name is free at once */
int store_node_stop(struct store *store, const struct store_node *node, const char **error_r);
/* store_node_list - every node the store knows, by name */
int store_node_list(struct store *store, struct store_node ***nodes_r, size_t *count_r,
		    const char **error_r);
/* store_node_forget - remove NAME, freeing its number; STORE_NOT_FOUND;
 * STORE_EXISTS while it is live (as store_node_register says) */
int store_node_forget(struct store *store, const char *name, unsigned stale_after,
		      const char **error_r);
void store_node_free(struct store_node **node);
void store_node_list_free(struct store_node ***nodes, size_t count);

/* ---- the web pages' secrets (docs/web.md) ----------------------------------
 * Sessions (the cookie's token) and one-time links (address verification,
 * password reset) are 256 random bits shown once, in hex; the store keeps
 * their SHA-256 only, with the account, an expiry and, for a session, its
 * CSRF token.  A link is taken once (store_web_secret_take deletes it); a
 * secret past its expiry is not found, and expired rows are deleted when
 * a new one is added.  An account's rows go with it. */
enum store_web_kind {
	STORE_WEB_SESSION = 0,
	STORE_WEB_VERIFY = 1,     /* the sign-up's link: the address is the account's */
	STORE_WEB_RESET = 2,      /* a password reset link */
};
#define STORE_WEB_SECRET_LEN 64
/* store_web_secret_make - a new random secret (hex) into SECRET; -1 if the
 * random source fails */
int store_web_secret_make(char secret[STORE_WEB_SECRET_LEN + 1]);
/* store_web_secret_add - SECRET (its hash) of KIND for ACCOUNT until
 * EXPIRES; CSRF (a session's token; NULL: none).  STORE_NOT_FOUND if there
 * is no such account. */
int store_web_secret_add(struct store *store, enum store_web_kind kind, const char *secret,
			 const char *account, const char *csrf, time_t expires,
			 const char **error_r);
/* store_web_secret_get - the account (and CSRF token, "" if none) of
 * SECRET of KIND if it has not expired at NOW (malloc'd); STORE_NOT_FOUND */
int store_web_secret_get(struct store *store, enum store_web_kind kind, const char *secret,
			 time_t now, char **account_r, char **csrf_r, const char **error_r);
/* store_web_secret_take - as _get, and SECRET is deleted in the same
 * statement: a second take finds nothing (a link works once) */
int store_web_secret_take(struct store *store, enum store_web_kind kind, const char *secret,
			  time_t now, char **account_r, const char **error_r);
/* store_web_secret_remove - SECRET of KIND deleted (logout); ACCOUNT
 * instead of SECRET (SECRET NULL): every secret of KIND of ACCOUNT (its
 * sessions after a password reset).  0 also when there was none. */
int store_web_secret_remove(struct store *store, enum store_web_kind kind, const char *secret,
			    const char *account, const char **error_r);

/* store_web_rate_take - count one event of KEY (kept as its SHA-256) at
 * NOW in KEY's window, which begins at its first count and lasts WINDOW
 * seconds; *ALLOWED_R false when that makes more than LIMIT in the window.
 * One statement, so every node of a shared store counts in the same row;
 * windows that are over are deleted as it goes. */
int store_web_rate_take(struct store *store, const char *key, time_t now, unsigned limit,
			unsigned window, bool *allowed_r, const char **error_r);

#endif
