/* store/store-pg - the PostgreSQL backend (libpq): the store of several
 * nodes that must agree on accounts, limits and events.  libpq is loaded
 * when the first such store is opened (pq-load.h), not linked.
 *
 * Connections: a bounded pool (struct store_settings' connections) opened
 * on demand and guarded by a mutex, as SQLite's; a worker takes one, runs
 * its statements and gives it back, waiting when all are busy.  A
 * connection the server dropped (PQstatus CONNECTION_BAD after a failure)
 * is closed when given back, and the next caller opens a new one: a
 * restarted database costs the calls made while it was away, not a restart
 * of Petrel.  Each connection sets statement_timeout, so that a call never
 * holds a worker longer than that; the callers (pool work functions) answer
 * a failure with a temporary error.
 *
 * Every value is a parameter of PQexecParams ($1, $2...), sent as text and
 * typed by the statement (explicit casts where PostgreSQL cannot infer
 * one); no statement is built from data.  Only the constant migration
 * scripts go through PQexec (several statements in one string).
 *
 * Schema: schema_version holds one row per migration applied, as SQLite's.
 * pg_open applies the missing steps in one transaction that first takes
 * the transaction-level advisory lock PG_MIGRATION_LOCK: nodes starting at
 * once wait for each other, and the second sees the steps applied.  Steps
 * are only ever appended.  The numbering is this backend's own (PostgreSQL
 * started at SQLite's version 5 without the secret columns).
 *
 * Sending counters: a reservation is one INSERT ... ON CONFLICT DO UPDATE
 * ... WHERE used + n <= limit RETURNING: the row lock PostgreSQL takes on
 * the conflicting row serialises reservations from every node, and the
 * check and the increment are one statement, so the limit holds exactly
 * across nodes.
 *
 * Credentials ([store] credentials_url): the same pool and statements on
 * a database of their own, with their own schema steps, version table and
 * migration lock (struct pg_schema), reached only by the auth process and
 * the admin commands with a role that the store's connections do not use.
 * Hashes read are wiped from the result before it is freed.
 *
 * Text is ordered with COLLATE "C" (byte order, as SQLite's): results do
 * not depend on the database's locale.
 */
#include "store/store.h"
#include "store/store-private.h"
#include "store/pq-load.h"

#include "util/buf.h"
#include "util/log.h"
#include "util/xalloc.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

/* pg_advisory_xact_lock key of the migrations: "petrel" in ASCII */
#define PG_MIGRATION_LOCK "112101116114101108"
/* ... and of the credentials' migrations: "petrel" + 1 */
#define PG_CREDENTIALS_LOCK "112101116114101109"
#define PG_MAX_PARAMS 16
#define PG_NUM_MAX 24
#define PG_CONNECT_TIMEOUT "10"

/* SQLSTATEs (PostgreSQL appendix A) */
#define PG_UNIQUE_VIOLATION "23505"
#define PG_FOREIGN_KEY_VIOLATION "23503"

static const char *const PG_MIGRATIONS[] = {
	/* 1: what SQLite's version 5 holds, without password secrets (they
	 * are the auth process's, apart from this database) */
	"CREATE TABLE domains (name TEXT PRIMARY KEY);"
	"CREATE TABLE plans (name TEXT PRIMARY KEY,"
	" daily_limit BIGINT NOT NULL, per_minute BIGINT NOT NULL,"
	" quota_bytes BIGINT NOT NULL DEFAULT -1, quota_messages BIGINT NOT NULL DEFAULT -1);"
	"INSERT INTO plans (name, daily_limit, per_minute) VALUES ('free', 100, 0);"
	"CREATE TABLE accounts (name TEXT PRIMARY KEY,"
	" plan TEXT NOT NULL REFERENCES plans(name),"
	" daily_limit BIGINT NOT NULL DEFAULT -1, per_minute BIGINT NOT NULL DEFAULT -1,"
	" sandbox BOOLEAN NOT NULL DEFAULT false, disabled BOOLEAN NOT NULL DEFAULT false,"
	" any_from BOOLEAN NOT NULL DEFAULT false, created BIGINT NOT NULL);"
	"CREATE TABLE senders (account TEXT NOT NULL REFERENCES accounts(name) ON DELETE CASCADE,"
	" pattern TEXT NOT NULL, allow BOOLEAN NOT NULL, PRIMARY KEY (account, pattern));"
	"CREATE TABLE aliases (address TEXT NOT NULL, target TEXT NOT NULL,"
	" PRIMARY KEY (address, target));"
	"CREATE TABLE counters (account TEXT NOT NULL, win TEXT NOT NULL,"
	" used BIGINT NOT NULL DEFAULT 0, PRIMARY KEY (account, win));"
	"CREATE TABLE events (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
	" time BIGINT NOT NULL, type TEXT NOT NULL, account TEXT, queue_id TEXT,"
	" recipient TEXT, code INTEGER NOT NULL DEFAULT 0, reason TEXT);"
	"CREATE INDEX events_account ON events (account, id);"
	"CREATE INDEX events_time ON events (time);"
	"CREATE TABLE dmarc_evaluations (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
	" time BIGINT NOT NULL, policy_domain TEXT NOT NULL, source_ip TEXT NOT NULL,"
	" header_from TEXT NOT NULL, envelope_from TEXT NOT NULL, spf_domain TEXT NOT NULL,"
	" spf_result TEXT NOT NULL, dkim TEXT NOT NULL, spf_aligned BOOLEAN NOT NULL,"
	" dkim_aligned BOOLEAN NOT NULL, disposition TEXT NOT NULL, policy TEXT NOT NULL,"
	" rua TEXT NOT NULL, override TEXT);"
	"CREATE INDEX dmarc_evaluations_time ON dmarc_evaluations (time);"
	"CREATE TABLE dmarc_reports (policy_domain TEXT NOT NULL, begin_time BIGINT NOT NULL,"
	" made BIGINT NOT NULL, PRIMARY KEY (policy_domain, begin_time));",

	/* 2: node identity: the node that recorded each event, and the nodes
	 * (store.h: store_node_register) */
	"ALTER TABLE events ADD COLUMN node TEXT;"
	"CREATE TABLE nodes (name TEXT PRIMARY KEY,"
	" number INTEGER NOT NULL UNIQUE CHECK (number >= 0 AND number < 256),"
	" owner TEXT NOT NULL, generation BIGINT NOT NULL, version TEXT NOT NULL,"
	" started BIGINT NOT NULL, reported BIGINT NOT NULL,"
	" stopped BOOLEAN NOT NULL DEFAULT false, listeners TEXT NOT NULL DEFAULT '',"
	" queue_active BIGINT NOT NULL DEFAULT 0);",

	/* 3: mailboxes across nodes: each account's home node, and where the
	 * nodes take mail and logins for the accounts homed there ([cluster]) */
	"ALTER TABLE accounts ADD COLUMN home_node TEXT;"
	"ALTER TABLE nodes ADD COLUMN mail_address TEXT, ADD COLUMN imap_address TEXT,"
	" ADD COLUMN pop3_address TEXT;",

	/* 4: suppression lists (SendGrid's bounces, blocks, unsubscribes,
	 * spam_reports as LIST 0-3), per account; the key serves the queue's
	 * match of a message's recipients */
	"CREATE TABLE suppressions (account TEXT NOT NULL REFERENCES accounts(name)"
	" ON DELETE CASCADE, email TEXT NOT NULL, list SMALLINT NOT NULL,"
	" created BIGINT NOT NULL, reason TEXT NOT NULL DEFAULT '',"
	" status TEXT NOT NULL DEFAULT '', PRIMARY KEY (account, email, list));"
	"CREATE INDEX suppressions_list ON suppressions (account, list, created);",

	/* 5: each account's event webhook (SendGrid's settings) and the id of
	 * the last event its receiver acknowledged */
	"CREATE TABLE webhooks (account TEXT PRIMARY KEY REFERENCES accounts(name)"
	" ON DELETE CASCADE, enabled BOOLEAN NOT NULL, url TEXT NOT NULL,"
	" events BIGINT NOT NULL, sign BOOLEAN NOT NULL, sent_id BIGINT NOT NULL,"
	" updated BIGINT NOT NULL);",
	/* 6: the web sign-up (docs/web.md): an account's unproved address and
	 * pending approval, and the SHA-256 of its sessions and one-time
	 * links (KIND: enum store_web_kind) */
	"ALTER TABLE accounts ADD COLUMN unverified BOOLEAN NOT NULL DEFAULT false,"
	" ADD COLUMN pending BOOLEAN NOT NULL DEFAULT false;"
	"CREATE TABLE web_secrets (hash TEXT PRIMARY KEY, kind SMALLINT NOT NULL,"
	" account TEXT NOT NULL REFERENCES accounts(name) ON DELETE CASCADE,"
	" csrf TEXT NOT NULL DEFAULT '', expires BIGINT NOT NULL);"
	"CREATE INDEX web_secrets_account ON web_secrets (account, kind);"
	"CREATE INDEX web_secrets_expires ON web_secrets (expires);",
	/* 7: what an accepted message's events need from it (store_event's
	 * recipients, categories, custom_args), and its events found by queue
	 * id (a deferral's attempt number, a message's rows when pruning) */
	"CREATE TABLE messages (account TEXT NOT NULL, queue_id TEXT NOT NULL,"
	" time BIGINT NOT NULL, recipients TEXT, categories TEXT, custom_args TEXT,"
	" PRIMARY KEY (account, queue_id));"
	"CREATE INDEX messages_time ON messages (time);"
	"CREATE INDEX events_queue ON events (queue_id);",
	/* 8: the web pages' rate counts (store_web_rate_take), shared by the
	 * nodes: a key's SHA-256, its window's beginning, its count */
	"CREATE TABLE web_rates (hash TEXT PRIMARY KEY, start BIGINT NOT NULL,"
	" count BIGINT NOT NULL);"
	"CREATE INDEX web_rates_start ON web_rates (start);",
};
#define PG_MIGRATION_COUNT ((int)(sizeof(PG_MIGRATIONS) / sizeof(PG_MIGRATIONS[0])))

/* The credentials' own database ([store] credentials_url): the auth
 * process's, never reached with [store] url's role.  Its steps, version
 * table and lock are apart from the store's, so that pointing both URLs at
 * one database (another schema, another role) cannot mix them up. */
static const char *const PG_CREDENTIALS_MIGRATIONS[] = {
	/* 1: one row of secrets per account name (lower-cased, as in accounts) */
	"CREATE TABLE credentials (name TEXT PRIMARY KEY, password_hash TEXT NOT NULL,"
	" scram TEXT NOT NULL DEFAULT '');",

	/* 2: the AUTH failure throttle every node's auth process shares, one
	 * row per client address (or IPv6 prefix) */
	"CREATE TABLE auth_failures (client TEXT PRIMARY KEY, failures INTEGER NOT NULL,"
	" first_failure BIGINT NOT NULL, locked_until BIGINT NOT NULL DEFAULT 0);"
	"CREATE INDEX auth_failures_first ON auth_failures (first_failure);",

	/* 3: API keys: the SHA-256 of each key, never the key (store/apikey.c) */
	"CREATE TABLE apikeys (id TEXT PRIMARY KEY, account TEXT NOT NULL,"
	" name TEXT NOT NULL DEFAULT '', scopes TEXT NOT NULL, hash TEXT NOT NULL,"
	" created BIGINT NOT NULL);"
	"CREATE INDEX apikeys_account ON apikeys (account, created);",
};

/* A schema: its steps (appended only), the constant statements on the
 * table that records them, and its advisory lock's key. */
struct pg_schema {
	const char *const *steps;
	int count;
	const char *create_table, *read_version, *record_step;
	const char *lock;
	const char *setting;     /* the URL's name in petrel.conf, for errors */
};

static const struct pg_schema PG_STORE_SCHEMA = {
	.steps = PG_MIGRATIONS,
	.count = PG_MIGRATION_COUNT,
	.create_table = "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY,"
			" applied BIGINT NOT NULL)",
	.read_version = "SELECT coalesce(max(version), 0) FROM schema_version",
	.record_step = "INSERT INTO schema_version (version, applied)"
		       " VALUES ($1, extract(epoch FROM now())::bigint)",
	.lock = PG_MIGRATION_LOCK,
	.setting = "[store] url",
};

static const struct pg_schema PG_CREDENTIALS_SCHEMA = {
	.steps = PG_CREDENTIALS_MIGRATIONS,
	.count = (int)(sizeof(PG_CREDENTIALS_MIGRATIONS) / sizeof(PG_CREDENTIALS_MIGRATIONS[0])),
	.create_table = "CREATE TABLE IF NOT EXISTS credentials_schema_version"
			" (version INTEGER PRIMARY KEY, applied BIGINT NOT NULL)",
	.read_version = "SELECT coalesce(max(version), 0) FROM credentials_schema_version",
	.record_step = "INSERT INTO credentials_schema_version (version, applied)"
		       " VALUES ($1, extract(epoch FROM now())::bigint)",
	.lock = PG_CREDENTIALS_LOCK,
	.setting = "[store] credentials_url",
};

#define ACCOUNT_COLUMNS \
	"name, plan, daily_limit, per_minute, sandbox, disabled, any_from, created, home_node,"\
	" unverified, pending"
#define PLAN_COLUMNS "name, daily_limit, per_minute, quota_bytes, quota_messages"
#define EVENT_COLUMNS "id, time, type, account, queue_id, recipient, code, reason, node"
/* store_event_list's: the event, its message's (if any), and a deferral's
 * attempt number (events_queue) */
#define EVENT_LIST_COLUMNS "e.id, e.time, e.type, e.account, e.queue_id, e.recipient," \
	" e.code, e.reason, e.node, m.recipients, m.categories, m.custom_args," \
	" CASE WHEN e.type = 'deferred' THEN (SELECT count(*) FROM events p" \
	" WHERE p.queue_id = e.queue_id AND p.account = e.account AND p.type = 'deferred'" \
	" AND p.recipient IS NOT DISTINCT FROM e.recipient AND p.id <= e.id) ELSE 0 END"
#define NODE_COLUMNS "name, owner, number, generation, version, started, reported,"\
	" " PG_NOW " - reported, stopped, listeners, queue_active, mail_address, imap_address,"\
	" pop3_address"
/* the database's clock, in seconds: the nodes' clocks need not agree */
#define PG_NOW "extract(epoch FROM now())::bigint"
#define DMARC_EVAL_COLUMNS "time, policy_domain, source_ip, header_from,"\
	" envelope_from, spf_domain, spf_result, dkim, spf_aligned, dkim_aligned, disposition,"\
	" policy, rua, override"

/* ---- connections ---------------------------------------------------------------------- */

struct pg_conn {
	PGconn *conn;
	struct pg_conn *next;   /* in the idle list */
};

struct pg_db {
	char *url;
	char timeout[PG_NUM_MAX];  /* statement_timeout, "Ns" */
	unsigned max;              /* connections at most */
	int version;
	pthread_mutex_t lock;
	pthread_cond_t idle_cond;
	struct pg_conn *idle;
	unsigned opened;           /* connections in existence */
};

/* One parameter: text (NULL is SQL NULL) or an integer, as PG_TEXT and
 * PG_INT inside PG_ARGS, which passes the array and its length. */
struct pg_arg {
	bool is_text;
	const char *text;
	int64_t num;
};
#define PG_TEXT(s) { .is_text = true, .text = (s) }
#define PG_INT(n) { .is_text = false, .num = (int64_t)(n) }
#define PG_ARGS(...) (const struct pg_arg[]){ __VA_ARGS__ }, \
	(sizeof((const struct pg_arg[]){ __VA_ARGS__ }) / sizeof(struct pg_arg))
#define PG_NO_ARGS NULL, 0

/* What rows_read makes of row ROW of a result: a struct of the interface,
 * which the caller's array then owns. */
typedef void *pg_row_fn(const PGresult *res, int row);

static struct pg_conn *conn_open(struct pg_db *d, const char **error_r);
static void conn_close(struct pg_conn *c);
static void conn_notice(void *arg, const char *message);
static bool conn_is_dead(struct pg_conn *c);
static struct pg_conn *conn_take(struct pg_db *d, const char **error_r);
static void conn_give(struct pg_db *d, struct pg_conn *c);
static PGresult *pg_exec(struct pg_conn *c, const char *sql, const char *what,
			 const struct pg_arg *args, size_t n, const char **sqlstate_r,
			 const char **error_r);
static int pg_do(struct pg_conn *c, const char *sql, const char *what,
		 const struct pg_arg *args, size_t n, const char **error_r);
static void pg_rollback(struct pg_conn *c);
static PGresult *pg_query(struct pg_db *d, const char *sql, const char *what,
			  const struct pg_arg *args, size_t n, const char **error_r);
static int pg_write(struct pg_db *d, const char *sql, const char *what,
		    const struct pg_arg *args, size_t n, uint64_t *changes_r,
		    const char **sqlstate_r, const char **error_r);
static char *val_dup(const PGresult *res, int row, int col);
static int64_t val_int(const PGresult *res, int row, int col);
static bool val_bool(const PGresult *res, int row, int col);
static uint64_t res_changes(const PGresult *res);
static bool sqlstate_is(const char *sqlstate, const char *code);
static void **rows_read(const PGresult *res, pg_row_fn *make, int columns, size_t *n_r);
static void **list_query(struct pg_db *d, const char *sql, const char *what,
			 const struct pg_arg *args, size_t n, pg_row_fn *make, int columns,
			 size_t *count_r, const char **error_r);
static int strv_query(struct pg_db *d, const char *sql, const struct pg_arg *args, size_t n,
		      int columns, char ***strv_r, const char **error_r);
static int one_row_query(struct pg_db *d, const char *sql, const char *reading,
			 const char *noun, const char *key, pg_row_fn *make, void **row_r,
			 const char **error_r);
static int account_count(struct pg_db *d, uint64_t *total_r, const char **error_r);
static pg_row_fn plan_row, account_row, event_row, event_count_row, dmarc_eval_row, node_row;
static int row_exists(struct pg_conn *c, const char *sql, const char *reading,
		      const char *noun, const char *name, const char **error_r);
static int row_remove(struct pg_db *d, const char *sql, const char *what, const char *noun,
		      const char *name, const char **error_r);
static int schema_migrate(struct pg_conn *c, const struct pg_schema *schema, int *version_r,
			  const char **error_r);
static struct pg_db *pg_db_open(const struct store_settings *settings,
				const struct pg_schema *schema, const char **error_r);
static int url_check(const char *url, const char *setting, const char **error_r);
static int node_known(struct pg_conn *c, const char *name, const char **error_r);
static void node_columns(const PGresult *res, int i, int first, struct store_node *n);

/* conn_open - a connection with its statement_timeout set; NULL and
 * *error_r on failure */
static struct pg_conn *conn_open(struct pg_db *d, const char **error_r)
{
	/* the URL (expanded from dbname) last: libpq keeps the last value of a
	 * parameter, so what the URL sets wins over these defaults */
	static const char *const keys[] = {
		"application_name", "connect_timeout", "dbname", NULL
	};
	const char *values[] = { "petrel", PG_CONNECT_TIMEOUT, d->url, NULL };
	struct pg_conn *c = xcalloc(1, sizeof(*c));
	c->conn = PQconnectdbParams(keys, values, 1);
	if (!c->conn || PQstatus(c->conn) != CONNECTION_OK) {
		/* the message ends with a newline; never the URL: it may hold a password */
		const char *msg = c->conn ? PQerrorMessage(c->conn) : "out of memory";
		size_t len = strcspn(msg, "\n");
		*error_r = store_error("connecting to PostgreSQL: %.*s", (int)len, msg);
		conn_close(c);
		return NULL;
	}
	PQsetNoticeProcessor(c->conn, conn_notice, NULL);
	if (pg_do(c, "SELECT set_config('statement_timeout', $1, false)",
		  "setting statement_timeout", PG_ARGS(PG_TEXT(d->timeout)), error_r) != 0) {
		conn_close(c);
		return NULL;
	}
	return c;
}

/* conn_notice - the server's notices ("relation ... already exists,
 * skipping") go to the log at debug level, not to stderr as libpq's own
 * processor would write them */
static void conn_notice(void *arg, const char *message)
{
	(void)arg;
	char text[256];
	log_escape(text, sizeof(text), message, strcspn(message, "\n"));
	log_debug("store-notice", "message=%s", text);
}

static void conn_close(struct pg_conn *c)
{
	PQfinish(c->conn);
	free(c);
}

/* conn_is_dead - the server closed C while it was idle (a restart, an
 * administrator's pg_terminate_backend): its FATAL message and the end of
 * the stream are waiting on the socket.  PQconsumeInput reads what is there
 * without waiting (libpq's sockets are non-blocking); the first read takes
 * the message, the second meets the end of the stream and marks the
 * connection bad.  So a dead connection is replaced here instead of
 * failing the caller's first statement. */
static bool conn_is_dead(struct pg_conn *c)
{
	for (int i = 0; i < 2; i++)
		if (!PQconsumeInput(c->conn) || PQstatus(c->conn) != CONNECTION_OK)
			return true;
	return false;
}

/* conn_take - an idle connection (a dead one replaced), a new one if fewer
 * than the maximum exist, else wait for one to come back */
static struct pg_conn *conn_take(struct pg_db *d, const char **error_r)
{
	struct pg_conn *c = NULL;
	bool open_new = false;
	pthread_mutex_lock(&d->lock);
	while (!d->idle && d->opened >= d->max)
		pthread_cond_wait(&d->idle_cond, &d->lock);
	if (d->idle) {
		c = d->idle;
		d->idle = c->next;
		c->next = NULL;
	} else {
		d->opened++;
		open_new = true;
	}
	pthread_mutex_unlock(&d->lock);
	if (c && conn_is_dead(c)) {
		conn_close(c);   /* its place in d->opened goes to the new one */
		c = NULL;
		open_new = true;
	}
	if (open_new) {
		c = conn_open(d, error_r);
		if (!c) {
			pthread_mutex_lock(&d->lock);
			d->opened--;
			pthread_cond_signal(&d->idle_cond);
			pthread_mutex_unlock(&d->lock);
		}
	}
	return c;
}

/* conn_give - back to the idle list; a broken connection is closed, and
 * its place goes to the next caller's new one */
static void conn_give(struct pg_db *d, struct pg_conn *c)
{
	bool broken = PQstatus(c->conn) != CONNECTION_OK ||
		      PQtransactionStatus(c->conn) != PQTRANS_IDLE;
	if (broken)
		conn_close(c);
	pthread_mutex_lock(&d->lock);
	if (broken) {
		d->opened--;
	} else {
		c->next = d->idle;
		d->idle = c;
	}
	pthread_cond_signal(&d->idle_cond);
	pthread_mutex_unlock(&d->lock);
}

/* pg_exec - the one way a statement runs: SQL with ARGS as $1..$N (integers
 * sent in decimal), results in text.  The result (the caller PQclears it),
 * or NULL with *error_r "WHAT: PostgreSQL's message" and, with SQLSTATE_R,
 * the error's SQLSTATE there ("" if none; valid until the next call) */
static PGresult *pg_exec(struct pg_conn *c, const char *sql, const char *what,
			 const struct pg_arg *args, size_t n, const char **sqlstate_r,
			 const char **error_r)
{
	static _Thread_local char state[6];
	char nums[PG_MAX_PARAMS][PG_NUM_MAX];
	const char *values[PG_MAX_PARAMS];
	if (n > PG_MAX_PARAMS)
		abort();
	for (size_t i = 0; i < n; i++) {
		if (args[i].is_text) {
			values[i] = args[i].text;
		} else {
			snprintf(nums[i], sizeof(nums[i]), "%" PRId64, args[i].num);
			values[i] = nums[i];
		}
	}
	PGresult *res = PQexecParams(c->conn, sql, (int)n, NULL, values, NULL, NULL, 0);
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
		return res;
	const char *code = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	snprintf(state, sizeof(state), "%s", code ? code : "");
	if (sqlstate_r)
		*sqlstate_r = state;
	const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	if (!msg)
		msg = PQerrorMessage(c->conn);
	size_t len = strcspn(msg, "\n");
	*error_r = store_error("%s: %.*s", what, (int)len, msg);
	PQclear(res);
	return NULL;
}

/* pg_do - pg_exec for a statement whose rows do not matter: 0 or -1 */
static int pg_do(struct pg_conn *c, const char *sql, const char *what,
		 const struct pg_arg *args, size_t n, const char **error_r)
{
	PGresult *res = pg_exec(c, sql, what, args, n, NULL, error_r);
	PQclear(res);
	return res ? 0 : -1;
}

static void pg_rollback(struct pg_conn *c)
{
	const char *ignored;
	if (PQstatus(c->conn) == CONNECTION_OK && PQtransactionStatus(c->conn) != PQTRANS_IDLE)
		(void)pg_do(c, "ROLLBACK", "rolling back", PG_NO_ARGS, &ignored);
}

/* pg_query - SQL on a connection of its own: its result or NULL */
static PGresult *pg_query(struct pg_db *d, const char *sql, const char *what,
			  const struct pg_arg *args, size_t n, const char **error_r)
{
	struct pg_conn *c = conn_take(d, error_r);
	if (!c)
		return NULL;
	PGresult *res = pg_exec(c, sql, what, args, n, NULL, error_r);
	conn_give(d, c);
	return res;
}

/* pg_write - SQL without rows on a connection of its own: 0 with the rows
 * it changed in *CHANGES_R (may be NULL), or -1 with the SQLSTATE in
 * *SQLSTATE_R (may be NULL) */
static int pg_write(struct pg_db *d, const char *sql, const char *what,
		    const struct pg_arg *args, size_t n, uint64_t *changes_r,
		    const char **sqlstate_r, const char **error_r)
{
	if (sqlstate_r)
		*sqlstate_r = "";
	struct pg_conn *c = conn_take(d, error_r);
	if (!c)
		return -1;
	PGresult *res = pg_exec(c, sql, what, args, n, sqlstate_r, error_r);
	conn_give(d, c);
	if (!res)
		return -1;
	if (changes_r)
		*changes_r = res_changes(res);
	PQclear(res);
	return 0;
}

static char *val_dup(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NULL : xstrdup(PQgetvalue(res, row, col));
}

static int64_t val_int(const PGresult *res, int row, int col)
{
	return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

static bool val_bool(const PGresult *res, int row, int col)
{
	return PQgetvalue(res, row, col)[0] == 't';
}

/* res_changes - the rows an INSERT, UPDATE or DELETE changed */
static uint64_t res_changes(const PGresult *res)
{
	return strtoull(PQcmdTuples((PGresult *)res), NULL, 10);
}

static bool sqlstate_is(const char *sqlstate, const char *code)
{
	return sqlstate && strcmp(sqlstate, code) == 0;
}

/* rows_read - every row of RES, in order, as one NULL-terminated array:
 * MAKE(res, i) for each, or without MAKE the text of its first COLUMNS
 * columns (NULL for SQL NULL); the number of rows into *N_R (may be NULL) */
static void **rows_read(const PGresult *res, pg_row_fn *make, int columns, size_t *n_r)
{
	int rows = PQntuples(res), k = make ? 1 : columns;
	void **v = xcalloc((size_t)rows * (size_t)k + 1, sizeof(*v));
	for (int i = 0; i < rows; i++)
		for (int j = 0; j < k; j++)
			v[i * k + j] = make ? make(res, i) : val_dup(res, i, j);
	if (n_r)
		*n_r = (size_t)rows;
	return v;
}

/* list_query - SQL (WHAT, with ARGS) on a connection of its own, its rows
 * read by rows_read(MAKE, COLUMNS, COUNT_R): the array, or NULL */
static void **list_query(struct pg_db *d, const char *sql, const char *what,
			 const struct pg_arg *args, size_t n, pg_row_fn *make, int columns,
			 size_t *count_r, const char **error_r)
{
	PGresult *res = pg_query(d, sql, what, args, n, error_r);
	if (!res)
		return NULL;
	void **v = rows_read(res, make, columns, count_r);
	PQclear(res);
	return v;
}

/* one_row_query - SQL (READING, its one parameter KEY) made into MAKE's
 * struct from its first row in *ROW_R; STORE_NOT_FOUND with "no NOUN KEY"
 * when it has none */
static int one_row_query(struct pg_db *d, const char *sql, const char *reading,
			 const char *noun, const char *key, pg_row_fn *make, void **row_r,
			 const char **error_r)
{
	PGresult *res = pg_query(d, sql, reading, PG_ARGS(PG_TEXT(key)), error_r);
	if (!res)
		return -1;
	int rc = 0;
	if (PQntuples(res) > 0) {
		*row_r = make(res, 0);
	} else {
		*error_r = store_error("no %s %s", noun, key);
		rc = STORE_NOT_FOUND;
	}
	PQclear(res);
	return rc;
}

/* strv_query - the first COLUMNS columns of every row, in order, as one
 * NULL-terminated array */
static int strv_query(struct pg_db *d, const char *sql, const struct pg_arg *args, size_t n,
		      int columns, char ***strv_r, const char **error_r)
{
	void **v = list_query(d, sql, "reading a list", args, n, NULL, columns, NULL, error_r);
	if (!v)
		return -1;
	*strv_r = (char **)v;
	return 0;
}

/* row_exists - 0 if SQL (READING it) finds a row for NAME; STORE_NOT_FOUND
 * with *error_r = "no NOUN NAME"; or -1 */
static int row_exists(struct pg_conn *c, const char *sql, const char *reading,
		      const char *noun, const char *name, const char **error_r)
{
	PGresult *res = pg_exec(c, sql, reading, PG_ARGS(PG_TEXT(name)), NULL, error_r);
	if (!res)
		return -1;
	int rows = PQntuples(res);
	PQclear(res);
	if (rows > 0)
		return 0;
	*error_r = store_error("no %s %s", noun, name);
	return STORE_NOT_FOUND;
}

/* ---- open, close, schema -------------------------------------------------------------------- */

/* schema_migrate - the missing steps of SCHEMA, in one transaction under
 * its advisory lock (released at its end) */
static int schema_migrate(struct pg_conn *c, const struct pg_schema *schema, int *version_r,
			  const char **error_r)
{
	int version = 0;
	int rc = pg_do(c, "BEGIN", "starting a transaction", PG_NO_ARGS, error_r);
	if (rc == 0)
		rc = pg_do(c, "SELECT pg_advisory_xact_lock($1::bigint)",
			   "taking the migration lock", PG_ARGS(PG_TEXT(schema->lock)), error_r);
	if (rc == 0)
		rc = pg_do(c, schema->create_table, "creating the schema's version table",
			   PG_NO_ARGS, error_r);
	PGresult *res = NULL;
	if (rc == 0 && !(res = pg_exec(c, schema->read_version, "reading the schema version",
				       PG_NO_ARGS, NULL, error_r)))
		rc = -1;
	if (rc == 0) {
		version = (int)val_int(res, 0, 0);
		PQclear(res);
	}
	if (rc == 0 && version > schema->count) {
		*error_r = store_error("the database is at schema version %d, newer than this"
				       " petrel knows (%d)", version, schema->count);
		rc = -1;
	}
	for (int v = version + 1; rc == 0 && v <= schema->count; v++) {
		/* a constant script of several statements: PQexec, no parameters */
		res = PQexec(c->conn, schema->steps[v - 1]);
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
			*error_r = store_error("migrating the schema to version %d: %s", v,
					       msg ? msg : PQerrorMessage(c->conn));
			rc = -1;
		}
		PQclear(res);
		if (rc == 0)
			rc = pg_do(c, schema->record_step, "recording a migration",
				   PG_ARGS(PG_INT(v)), error_r);
	}
	if (rc == 0)
		rc = pg_do(c, "COMMIT", "committing the migration", PG_NO_ARGS, error_r);
	if (rc != 0)
		pg_rollback(c);
	else
		*version_r = schema->count;
	return rc;
}

/* url_check - URL (SETTING's, named in the errors) is a connection URI
 * libpq parses, and no '@', '/' or ':' left unencoded in a password has split it in the wrong places (a
 * host or database name with a '@' inside, a port that is not a number).
 * The errors never quote the URL: libpq's parse errors quote the text they
 * stumbled on (for some, the whole URI), and a connection's error quotes
 * the host and port, either of which may then be a piece of the password;
 * of libpq's message only what comes before its first quote is kept. */
static int url_check(const char *url, const char *setting, const char **error_r)
{
	char *err = NULL;
	PQconninfoOption *opts = PQconninfoParse(url, &err);
	if (!opts) {
		const char *msg = err ? err : "out of memory";
		int len = (int)strcspn(msg, "\"\n");
		while (len > 0 && (msg[len - 1] == ' ' || msg[len - 1] == ':'))
			len--;
		*error_r = store_error("%s is not a valid connection URI: %.*s (libpq's quote of"
				       " it is left out: it may hold the password)", setting, len,
				       msg);
		PQfreemem(err);
		return -1;
	}
	bool split = false;
	for (const PQconninfoOption *o = opts; o->keyword; o++) {
		if (!o->val)
			continue;
		/* a host may start with '@' (a socket in Linux's abstract namespace) */
		if (strcmp(o->keyword, "host") == 0)
			for (const char *at = strchr(o->val, '@'); at; at = strchr(at + 1, '@'))
				split |= at != o->val && at[-1] != ',';
		if (strcmp(o->keyword, "dbname") == 0 && strchr(o->val, '@'))
			split = true;
		if (strcmp(o->keyword, "port") == 0 && o->val[strspn(o->val, "0123456789,")] != '\0')
			split = true;
	}
	PQconninfoFree(opts);
	if (split) {
		*error_r = store_error("%s: a '@' in the host or database name, or a port that is"
				       " not a number: percent-encode '@', '/' and ':' in the user"
				       " name and password (%%40, %%2F, %%3A)", setting);
		return -1;
	}
	return 0;
}

/* pg_db_open - the pool of SETTINGS' url, its first connection open and
 * SCHEMA migrated on it */
static struct pg_db *pg_db_open(const struct store_settings *settings,
				const struct pg_schema *schema, const char **error_r)
{
	const char *why;
	if (pq_load(&why) != 0) {
		*error_r = store_error("PostgreSQL store configured (%s) but %s cannot be loaded: %s",
				       schema->setting, PQ_LOAD_SONAME, why);
		return NULL;
	}
	if (url_check(settings->url, schema->setting, error_r) != 0)
		return NULL;
	struct pg_db *d = xcalloc(1, sizeof(*d));
	d->url = xstrdup(settings->url);
	snprintf(d->timeout, sizeof(d->timeout), "%us",
		 settings->statement_timeout ? settings->statement_timeout
					     : STORE_PG_STATEMENT_TIMEOUT);
	d->max = settings->connections ? settings->connections : STORE_PG_CONNECTIONS;
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->idle_cond, NULL);
	struct pg_conn *c = conn_open(d, error_r);
	if (!c || schema_migrate(c, schema, &d->version, error_r) != 0) {
		if (c)
			conn_close(c);
		pthread_mutex_destroy(&d->lock);
		pthread_cond_destroy(&d->idle_cond);
		free(d->url);
		free(d);
		return NULL;
	}
	d->idle = c;
	d->opened = 1;
	return d;
}

static void *pg_open(const struct store_settings *settings, const char **error_r)
{
	return pg_db_open(settings, &PG_STORE_SCHEMA, error_r);
}

static void pg_close(void *db)
{
	struct pg_db *d = db;
	/* every connection must have been given back: callers are done */
	while (d->idle) {
		struct pg_conn *c = d->idle;
		d->idle = c->next;
		conn_close(c);
	}
	pthread_mutex_destroy(&d->lock);
	pthread_cond_destroy(&d->idle_cond);
	free(d->url);
	free(d);
}

static int pg_schema_version(void *db)
{
	return ((struct pg_db *)db)->version;
}

/* ---- domains ------------------------------------------------------------------------------ */

static int pg_domain_add(void *db, const char *domain, const char **error_r)
{
	const char *state;
	if (pg_write(db, "INSERT INTO domains (name) VALUES ($1)", "adding a domain",
		     PG_ARGS(PG_TEXT(domain)), NULL, &state, error_r) == 0)
		return 0;
	if (sqlstate_is(state, PG_UNIQUE_VIOLATION)) {
		*error_r = store_error("domain %s exists already", domain);
		return STORE_EXISTS;
	}
	return -1;
}

/* row_remove - SQL (a DELETE of the row named $1 = NAME, WHAT it does):
 * 0, STORE_NOT_FOUND with *error_r "no NOUN NAME" when there was none, or -1 */
static int row_remove(struct pg_db *d, const char *sql, const char *what, const char *noun,
		      const char *name, const char **error_r)
{
	uint64_t changes = 0;
	if (pg_write(d, sql, what, PG_ARGS(PG_TEXT(name)), &changes, NULL, error_r) != 0)
		return -1;
	if (changes == 0) {
		*error_r = store_error("no %s %s", noun, name);
		return STORE_NOT_FOUND;
	}
	return 0;
}

static int pg_domain_remove(void *db, const char *domain, const char **error_r)
{
	return row_remove(db, "DELETE FROM domains WHERE name = $1", "removing a domain",
			  "domain", domain, error_r);
}

static int pg_domain_exists(void *db, const char *domain, bool *exists_r, const char **error_r)
{
	PGresult *res = pg_query(db, "SELECT 1 FROM domains WHERE name = $1",
				 "looking up a domain", PG_ARGS(PG_TEXT(domain)), error_r);
	if (!res)
		return -1;
	*exists_r = PQntuples(res) > 0;
	PQclear(res);
	return 0;
}

static int pg_domain_list(void *db, char ***domains_r, const char **error_r)
{
	return strv_query(db, "SELECT name FROM domains ORDER BY name COLLATE \"C\"", PG_NO_ARGS,
			  1, domains_r, error_r);
}

/* ---- plans -------------------------------------------------------------------------------- */

static int pg_plan_set(void *db, const struct store_plan *plan, const char **error_r)
{
	return pg_write(db, "INSERT INTO plans (" PLAN_COLUMNS ") VALUES ($1, $2, $3, $4, $5)"
			" ON CONFLICT (name) DO UPDATE SET daily_limit = excluded.daily_limit,"
			" per_minute = excluded.per_minute, quota_bytes = excluded.quota_bytes,"
			" quota_messages = excluded.quota_messages", "setting a plan",
			PG_ARGS(PG_TEXT(plan->name), PG_INT(plan->daily_limit),
				PG_INT(plan->per_minute), PG_INT(plan->quota_bytes),
				PG_INT(plan->quota_messages)), NULL, NULL, error_r);
}

/* plan_row - row I of a PLAN_COLUMNS result */
static void *plan_row(const PGresult *res, int i)
{
	struct store_plan *p = xcalloc(1, sizeof(*p));
	p->name = val_dup(res, i, 0);
	p->daily_limit = (unsigned)val_int(res, i, 1);
	p->per_minute = (unsigned)val_int(res, i, 2);
	p->quota_bytes = val_int(res, i, 3);
	p->quota_messages = val_int(res, i, 4);
	return p;
}

static int pg_plan_get(void *db, const char *name, struct store_plan **plan_r,
		       const char **error_r)
{
	return one_row_query(db, "SELECT " PLAN_COLUMNS " FROM plans WHERE name = $1",
			     "reading a plan", "plan", name, plan_row, (void **)plan_r, error_r);
}

static int pg_account_plan_get(void *db, const char *account, struct store_plan **plan_r,
			       const char **error_r)
{
	return one_row_query(db, "SELECT p.name, p.daily_limit, p.per_minute, p.quota_bytes,"
			     " p.quota_messages FROM accounts a JOIN plans p ON p.name = a.plan"
			     " WHERE a.name = $1", "reading an account's plan", "account", account,
			     plan_row, (void **)plan_r, error_r);
}

static int pg_plan_list(void *db, struct store_plan ***plans_r, size_t *count_r,
			const char **error_r)
{
	void **v = list_query(db, "SELECT " PLAN_COLUMNS " FROM plans ORDER BY name COLLATE \"C\"",
			      "listing plans", PG_NO_ARGS, plan_row, 0, count_r, error_r);
	if (!v)
		return -1;
	*plans_r = (struct store_plan **)v;
	return 0;
}

/* ---- accounts ----------------------------------------------------------------------------- */

/* account_row - row I of an ACCOUNT_COLUMNS result */
static void *account_row(const PGresult *res, int i)
{
	struct store_account *a = xcalloc(1, sizeof(*a));
	a->name = val_dup(res, i, 0);
	a->plan = val_dup(res, i, 1);
	a->daily_limit = (long)val_int(res, i, 2);
	a->per_minute = (long)val_int(res, i, 3);
	a->sandbox = val_bool(res, i, 4);
	a->disabled = val_bool(res, i, 5);
	a->any_from = val_bool(res, i, 6);
	a->created = (time_t)val_int(res, i, 7);
	a->home_node = val_dup(res, i, 8);
	a->unverified = val_bool(res, i, 9);
	a->pending = val_bool(res, i, 10);
	return a;
}

static int pg_account_add(void *db, const struct store_account *a, const char **error_r)
{
	struct pg_db *d = db;
	struct pg_conn *c = conn_take(d, error_r);
	if (!c)
		return -1;
	const char *state = "";
	int rc = row_exists(c, "SELECT 1 FROM plans WHERE name = $1", "reading a plan", "plan",
			    a->plan, error_r) == 0 ? 0 : -1;
	if (rc == 0 && a->home_node)
		rc = node_known(c, a->home_node, error_r);
	PGresult *res = NULL;
	if (rc == 0)
		res = pg_exec(c, "INSERT INTO accounts (" ACCOUNT_COLUMNS ")"
			      " VALUES ($1, $2, $3, $4, $5::int::boolean, $6::int::boolean,"
			      " $7::int::boolean, $8, $9, $10::int::boolean, $11::int::boolean)",
			      "adding an account",
			      PG_ARGS(PG_TEXT(a->name), PG_TEXT(a->plan), PG_INT(a->daily_limit),
				      PG_INT(a->per_minute), PG_INT(a->sandbox), PG_INT(a->disabled),
				      PG_INT(a->any_from), PG_INT(a->created), PG_TEXT(a->home_node),
				      PG_INT(a->unverified), PG_INT(a->pending)),
			      &state, error_r);
	conn_give(d, c);
	if (rc == 0 && !res && sqlstate_is(state, PG_UNIQUE_VIOLATION)) {
		*error_r = store_error("account %s exists already", a->name);
		return STORE_EXISTS;
	}
	if (rc == 0 && !res)
		rc = -1;
	PQclear(res);
	return rc;
}

static int pg_account_get(void *db, const char *name, struct store_account **account_r,
			  const char **error_r)
{
	return one_row_query(db, "SELECT " ACCOUNT_COLUMNS " FROM accounts WHERE name = $1",
			     "reading an account", "account", name, account_row,
			     (void **)account_r, error_r);
}

static int pg_account_update(void *db, const struct store_account *a, const char **error_r)
{
	struct pg_db *d = db;
	struct pg_conn *c = conn_take(d, error_r);
	if (!c)
		return -1;
	int rc = row_exists(c, "SELECT 1 FROM plans WHERE name = $1", "reading a plan", "plan",
			    a->plan, error_r) == 0 ? 0 : -1;
	PGresult *res = NULL;
	if (rc == 0 &&
	    !(res = pg_exec(c, "UPDATE accounts SET plan = $2, daily_limit = $3, per_minute = $4,"
			    " sandbox = $5::int::boolean, disabled = $6::int::boolean,"
			    " any_from = $7::int::boolean, unverified = $8::int::boolean,"
			    " pending = $9::int::boolean WHERE name = $1", "updating an account",
			    PG_ARGS(PG_TEXT(a->name), PG_TEXT(a->plan), PG_INT(a->daily_limit),
				    PG_INT(a->per_minute), PG_INT(a->sandbox), PG_INT(a->disabled),
				    PG_INT(a->any_from), PG_INT(a->unverified), PG_INT(a->pending)),
			    NULL, error_r)))
		rc = -1;
	conn_give(d, c);
	if (rc == 0 && res_changes(res) == 0) {
		*error_r = store_error("no account %s", a->name);
		rc = STORE_NOT_FOUND;
	}
	PQclear(res);
	return rc;
}

static int pg_account_remove(void *db, const char *name, const char **error_r)
{
	struct pg_db *d = db;
	struct pg_conn *c = conn_take(d, error_r);
	if (!c)
		return -1;
	int rc = pg_do(c, "BEGIN", "starting a transaction", PG_NO_ARGS, error_r);
	if (rc == 0)
		rc = pg_do(c, "DELETE FROM counters WHERE account = $1",
			   "removing an account's counters", PG_ARGS(PG_TEXT(name)), error_r);
	PGresult *res = NULL;
	if (rc == 0 && !(res = pg_exec(c, "DELETE FROM accounts WHERE name = $1",
				       "removing an account", PG_ARGS(PG_TEXT(name)), NULL,
				       error_r)))
		rc = -1;
	if (rc == 0 && res_changes(res) == 0) {
		*error_r = store_error("no account %s", name);
		rc = STORE_NOT_FOUND;
	}
	PQclear(res);
	if (rc == 0)
		rc = pg_do(c, "COMMIT", "committing", PG_NO_ARGS, error_r);
	if (rc != 0)
		pg_rollback(c);
	conn_give(d, c);
	return rc;
}

static int pg_account_list(void *db, uint64_t offset, uint64_t limit,
			   struct store_account ***accounts_r, size_t *count_r, uint64_t *total_r,
			   const char **error_r)
{
	if (total_r && account_count(db, total_r, error_r) != 0)
		return -1;
	char max[PG_NUM_MAX];
	snprintf(max, sizeof(max), "%" PRIu64, limit < INT64_MAX ? limit : 0);
	int64_t skip = offset < INT64_MAX ? (int64_t)offset : INT64_MAX;
	/* LIMIT NULL: no limit */
	void **v = list_query(db, "SELECT " ACCOUNT_COLUMNS " FROM accounts"
			      " ORDER BY name COLLATE \"C\" LIMIT $1::bigint OFFSET $2::bigint",
			      "listing accounts",
			      PG_ARGS(PG_TEXT(limit && limit < INT64_MAX ? max : NULL),
				      PG_INT(skip)), account_row, 0, count_r, error_r);
	if (!v)
		return -1;
	*accounts_r = (struct store_account **)v;
	return 0;
}

/* account_count - how many accounts there are, into *TOTAL_R */
static int account_count(struct pg_db *d, uint64_t *total_r, const char **error_r)
{
	PGresult *res = pg_query(d, "SELECT count(*) FROM accounts", "counting accounts",
				 PG_NO_ARGS, error_r);
	if (!res)
		return -1;
	*total_r = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return 0;
}

/* pg_legacy_secrets_move - this schema never held secrets: nothing to move,
 * which the credentials record (COPY with no rows) */
static int pg_legacy_secrets_move(void *db,
				  int (*copy)(void *ctx, char *const *rows, size_t n,
					      const char **error_r),
				  void *ctx, const char **error_r)
{
	(void)db;
	char *none[1] = { NULL };
	return copy(ctx, none, 0, error_r);
}

/* ---- sender rules ------------------------------------------------------------------------- */

static int pg_sender_set(void *db, const char *account, const char *pattern, bool allow,
			 const char **error_r)
{
	const char *state;
	if (pg_write(db, "INSERT INTO senders (account, pattern, allow)"
		     " VALUES ($1, $2, $3::int::boolean)"
		     " ON CONFLICT (account, pattern) DO UPDATE SET allow = excluded.allow",
		     "setting a sender rule", PG_ARGS(PG_TEXT(account), PG_TEXT(pattern),
						      PG_INT(allow)), NULL, &state, error_r) == 0)
		return 0;
	if (sqlstate_is(state, PG_FOREIGN_KEY_VIOLATION)) {
		*error_r = store_error("no account %s", account);
		return STORE_NOT_FOUND;
	}
	return -1;
}

static int pg_sender_remove(void *db, const char *account, const char *pattern,
			    const char **error_r)
{
	uint64_t changes = 0;
	if (pg_write(db, "DELETE FROM senders WHERE account = $1 AND pattern = $2",
		     "removing a sender rule", PG_ARGS(PG_TEXT(account), PG_TEXT(pattern)),
		     &changes, NULL, error_r) != 0)
		return -1;
	if (changes == 0) {
		*error_r = store_error("no sender rule %s for %s", pattern, account);
		return STORE_NOT_FOUND;
	}
	return 0;
}

/* pg_sender_list - one statement, one round trip: the account's row joined
 * with its rules, no row if there is no such account, one with a NULL
 * pattern if it has no rules */
static int pg_sender_list(void *db, const char *account, struct store_sender **senders_r,
			  size_t *count_r, const char **error_r)
{
	PGresult *res = pg_query(db, "SELECT s.pattern, s.allow FROM accounts a LEFT JOIN senders s"
				 " ON s.account = a.name WHERE a.name = $1"
				 " ORDER BY s.pattern COLLATE \"C\"", "listing sender rules",
				 PG_ARGS(PG_TEXT(account)), error_r);
	if (!res)
		return -1;
	if (PQntuples(res) == 0) {
		PQclear(res);
		*error_r = store_error("no account %s", account);
		return STORE_NOT_FOUND;
	}
	int n = PQgetisnull(res, 0, 0) ? 0 : PQntuples(res);
	struct store_sender *v = xcalloc((size_t)n + 1, sizeof(*v));
	for (int i = 0; i < n; i++) {
		v[i].pattern = val_dup(res, i, 0);
		v[i].allow = val_bool(res, i, 1);
	}
	PQclear(res);
	*senders_r = v;
	*count_r = (size_t)n;
	return 0;
}

/* ---- aliases ------------------------------------------------------------------------------ */

static int pg_alias_add(void *db, const char *address, const char *target, const char **error_r)
{
	const char *state;
	if (pg_write(db, "INSERT INTO aliases (address, target) VALUES ($1, $2)",
		     "adding an alias", PG_ARGS(PG_TEXT(address), PG_TEXT(target)), NULL, &state,
		     error_r) == 0)
		return 0;
	if (sqlstate_is(state, PG_UNIQUE_VIOLATION)) {
		*error_r = store_error("alias %s -> %s exists already", address, target);
		return STORE_EXISTS;
	}
	return -1;
}

static int pg_alias_remove(void *db, const char *address, const char *target,
			   const char **error_r)
{
	uint64_t changes = 0;
	int rc = target ? pg_write(db, "DELETE FROM aliases WHERE address = $1 AND target = $2",
				   "removing an alias", PG_ARGS(PG_TEXT(address), PG_TEXT(target)),
				   &changes, NULL, error_r)
			: pg_write(db, "DELETE FROM aliases WHERE address = $1", "removing an alias",
				   PG_ARGS(PG_TEXT(address)), &changes, NULL, error_r);
	if (rc != 0)
		return -1;
	if (changes == 0) {
		*error_r = target ? store_error("no alias %s -> %s", address, target)
				  : store_error("no alias %s", address);
		return STORE_NOT_FOUND;
	}
	return 0;
}

static int pg_alias_list(void *db, char ***list_r, const char **error_r)
{
	return strv_query(db, "SELECT address, target FROM aliases"
			  " ORDER BY address COLLATE \"C\", target COLLATE \"C\"", PG_NO_ARGS, 2,
			  list_r, error_r);
}

static int pg_alias_targets(void *db, const char *address, char ***targets_r,
			    const char **error_r)
{
	return strv_query(db, "SELECT target FROM aliases WHERE address = $1"
			  " ORDER BY target COLLATE \"C\"", PG_ARGS(PG_TEXT(address)), 1,
			  targets_r, error_r);
}

/* ---- counters ----------------------------------------------------------------------------- */

/* The reservation, one statement: insert the counter at N when it is new
 * and N fits, else add N to it when the sum fits.  ON CONFLICT locks the
 * existing row, so a concurrent reservation on any node waits and then
 * sees this one's sum.  No row back: refused.  (xmax = 0) tells a row
 * inserted from one updated. */
#define SQL_COUNTER_RESERVE \
	"INSERT INTO counters AS c (account, win, used)" \
	" SELECT $1, $2, $3::bigint WHERE $4::bigint = 0 OR $3::bigint <= $4::bigint" \
	" ON CONFLICT (account, win) DO UPDATE SET used = c.used + excluded.used" \
	" WHERE $4::bigint = 0 OR c.used + excluded.used <= $4::bigint" \
	" RETURNING c.used, (c.xmax = 0) AS inserted"
/* older windows of the same kind and shape: they can no longer count */
#define SQL_COUNTER_PRUNE \
	"DELETE FROM counters WHERE account = $1 AND win COLLATE \"C\" < $2" \
	" AND substr(win, 1, 2) = substr($2, 1, 2) AND length(win) = length($2)"
#define SQL_COUNTER_GET "SELECT used FROM counters WHERE account = $1 AND win = $2"

static int pg_counter_reserve(void *db, const char *account, const char *window, unsigned n,
			      unsigned limit, bool *ok_r, uint64_t *count_r, const char **error_r)
{
	struct pg_db *d = db;
	*ok_r = false;
	struct pg_conn *c = conn_take(d, error_r);
	if (!c)
		return -1;
	PGresult *res = pg_exec(c, SQL_COUNTER_RESERVE, "reserving on a counter",
				PG_ARGS(PG_TEXT(account), PG_TEXT(window), PG_INT(n), PG_INT(limit)),
				NULL, error_r);
	int rc = res ? 0 : -1;
	bool inserted = false;
	if (rc == 0 && PQntuples(res) == 1) {
		*ok_r = true;
		*count_r = (uint64_t)val_int(res, 0, 0);
		inserted = val_bool(res, 0, 1);
	}
	PQclear(res);
	/* refused: the count as it stands now */
	if (rc == 0 && !*ok_r) {
		res = pg_exec(c, SQL_COUNTER_GET, "reading a counter",
			      PG_ARGS(PG_TEXT(account), PG_TEXT(window)), NULL, error_r);
		if (!res)
			rc = -1;
		else
			*count_r = PQntuples(res) > 0 ? (uint64_t)val_int(res, 0, 0) : 0;
		PQclear(res);
	}
	/* a new window: the account's older ones of its kind go (tidying only:
	 * the reservation has committed whatever happens here) */
	if (rc == 0 && inserted) {
		const char *ignored;
		(void)pg_do(c, SQL_COUNTER_PRUNE, "pruning counters",
			    PG_ARGS(PG_TEXT(account), PG_TEXT(window)), &ignored);
	}
	conn_give(d, c);
	return rc;
}

static int pg_counter_release(void *db, const char *account, const char *window, unsigned n,
			      const char **error_r)
{
	return pg_write(db, "UPDATE counters SET used = greatest(used - $3::bigint, 0)"
			" WHERE account = $1 AND win = $2", "releasing on a counter",
			PG_ARGS(PG_TEXT(account), PG_TEXT(window), PG_INT(n)), NULL, NULL, error_r);
}

static int pg_counter_get(void *db, const char *account, const char *window,
			  uint64_t *count_r, const char **error_r)
{
	PGresult *res = pg_query(db, SQL_COUNTER_GET, "reading a counter",
				 PG_ARGS(PG_TEXT(account), PG_TEXT(window)), error_r);
	if (!res)
		return -1;
	*count_r = PQntuples(res) > 0 ? (uint64_t)val_int(res, 0, 0) : 0;
	PQclear(res);
	return 0;
}

/* ---- events ------------------------------------------------------------------------------- */

/* array_add - ELEMENT (NULL: SQL NULL) at the end of the array literal in
 * BUF, quoted: inside double quotes only '"' and '\\' need a backslash */
static void array_add(struct buf *buf, const char *element)
{
	buf_append_str(buf, buf->len == 0 ? "{" : ",");
	if (!element) {
		buf_append_str(buf, "NULL");
		return;
	}
	buf_append_str(buf, "\"");
	for (const char *p = element; *p; p++) {
		if (*p == '"' || *p == '\\')
			buf_append_str(buf, "\\");
		buf_append(buf, p, 1);
	}
	buf_append_str(buf, "\"");
}

/* array_add_int - N at the end of the array literal in BUF */
static void array_add_int(struct buf *buf, int64_t n)
{
	char num[PG_NUM_MAX];
	snprintf(num, sizeof(num), "%" PRId64, n);
	array_add(buf, num);
}

/* pg_event_add - N rows in one statement, one round trip: each column an
 * array parameter, unnest makes the rows (so a batch never commits by
 * halves and its events need no BEGIN and COMMIT around them); ORDER BY
 * the position keeps the ids in the batch's order */
static int pg_event_add(void *db, const struct store_event *events, size_t n,
			const char **error_r)
{
	enum { TIME, TYPE, ACCOUNT, QUEUE_ID, RECIPIENT, CODE, REASON, NODE, RECIPIENTS,
	       CATEGORIES, CUSTOM_ARGS, COLUMNS };
	struct buf col[COLUMNS];
	for (int k = 0; k < COLUMNS; k++)
		buf_init(&col[k]);
	for (size_t i = 0; i < n; i++) {
		const struct store_event *e = &events[i];
		array_add_int(&col[TIME], e->time);
		array_add(&col[TYPE], e->type);
		array_add(&col[ACCOUNT], e->account);
		array_add(&col[QUEUE_ID], e->queue_id);
		array_add(&col[RECIPIENT], e->recipient);
		array_add_int(&col[CODE], e->code);
		array_add(&col[REASON], e->reason);
		array_add(&col[NODE], e->node);
		bool message = store_event_has_message(e);
		array_add(&col[RECIPIENTS], message ? e->recipients : NULL);
		array_add(&col[CATEGORIES], message ? e->categories : NULL);
		array_add(&col[CUSTOM_ARGS], message ? e->custom_args : NULL);
	}
	for (int k = 0; k < COLUMNS; k++)
		buf_append_str(&col[k], "}");   /* N > 0: store.c sends no empty batch */
	/* the messages' rows in the same statement (a data-modifying WITH) */
	int rc = pg_write(db, "WITH e AS (SELECT * FROM unnest($1::bigint[], $2::text[],"
			  " $3::text[], $4::text[], $5::text[], $6::int[], $7::text[], $8::text[],"
			  " $9::text[], $10::text[], $11::text[]) WITH ORDINALITY"
			  " AS e (t, ty, a, q, r, c, re, n, mr, mc, ma, i)),"
			  " m AS (INSERT INTO messages (account, queue_id, time, recipients,"
			  " categories, custom_args) SELECT a, q, t, mr, mc, ma FROM e"
			  " WHERE mr IS NOT NULL OR mc IS NOT NULL OR ma IS NOT NULL"
			  " ON CONFLICT (account, queue_id) DO UPDATE SET time = excluded.time,"
			  " recipients = excluded.recipients, categories = excluded.categories,"
			  " custom_args = excluded.custom_args)"
			  " INSERT INTO events (time, type, account, queue_id, recipient, code,"
			  " reason, node) SELECT t, ty, a, q, r, c, re, n FROM e ORDER BY i",
			  "adding events",
			  PG_ARGS(PG_TEXT(col[TIME].data), PG_TEXT(col[TYPE].data),
				  PG_TEXT(col[ACCOUNT].data), PG_TEXT(col[QUEUE_ID].data),
				  PG_TEXT(col[RECIPIENT].data), PG_TEXT(col[CODE].data),
				  PG_TEXT(col[REASON].data), PG_TEXT(col[NODE].data),
				  PG_TEXT(col[RECIPIENTS].data), PG_TEXT(col[CATEGORIES].data),
				  PG_TEXT(col[CUSTOM_ARGS].data)),
			  NULL, NULL, error_r);
	for (int k = 0; k < COLUMNS; k++)
		buf_free(&col[k]);
	return rc;
}

/* event_row - row I of an EVENT_COLUMNS result */
static void *event_row(const PGresult *res, int i)
{
	struct store_event *e = xcalloc(1, sizeof(*e));
	e->id = val_int(res, i, 0);
	e->time = (time_t)val_int(res, i, 1);
	e->type = val_dup(res, i, 2);
	e->account = val_dup(res, i, 3);
	e->queue_id = val_dup(res, i, 4);
	e->recipient = val_dup(res, i, 5);
	e->code = (int)val_int(res, i, 6);
	e->reason = val_dup(res, i, 7);
	e->node = val_dup(res, i, 8);
	if (PQnfields(res) > 9) {
		e->recipients = val_dup(res, i, 9);
		e->categories = val_dup(res, i, 10);
		e->custom_args = val_dup(res, i, 11);
		e->attempt = (int)val_int(res, i, 12);
	}
	return e;
}

static int pg_event_list(void *db, const char *account, time_t since, int64_t after_id,
			 size_t limit, struct store_event ***events_r, size_t *count_r,
			 const char **error_r)
{
	char max[PG_NUM_MAX];
	snprintf(max, sizeof(max), "%zu", limit);
	/* LIMIT NULL: no limit */
	void **v = list_query(db, "SELECT " EVENT_LIST_COLUMNS " FROM events e LEFT JOIN"
			      " messages m ON m.account = e.account AND m.queue_id = e.queue_id"
			      " WHERE e.id > $1 AND e.time >= $2"
			      " AND ($4::text IS NULL OR e.account = $4)"
			      " ORDER BY e.id LIMIT $3::bigint", "listing events",
			      PG_ARGS(PG_INT(after_id), PG_INT(since), PG_TEXT(limit ? max : NULL),
				      PG_TEXT(account)), event_row, 0, count_r, error_r);
	if (!v)
		return -1;
	*events_r = (struct store_event **)v;
	return 0;
}

/* pg_event_search - see store_event_search (newest first through
 * events_account) */
static int pg_event_search(void *db, const char *account, const struct store_event_filter *f,
			   size_t limit, struct store_event ***events_r, size_t *count_r,
			   const char **error_r)
{
	void **v = list_query(db, "SELECT " EVENT_COLUMNS " FROM events WHERE account = $1"
			      " AND ($2::text IS NULL OR lower(recipient) = $2)"
			      " AND ($3::text IS NULL OR type = $3)"
			      " AND ($4::text IS NULL OR queue_id = $4)"
			      " AND ($5::bigint = 0 OR id < $5) ORDER BY id DESC LIMIT $6::bigint",
			      "searching events",
			      PG_ARGS(PG_TEXT(account), PG_TEXT(f->recipient), PG_TEXT(f->type),
				      PG_TEXT(f->queue_id), PG_INT(f->before_id), PG_INT(limit)),
			      event_row, 0, count_r, error_r);
	if (!v)
		return -1;
	*events_r = (struct store_event **)v;
	return 0;
}

/* pg_event_newest_after - the id just before the newest N rows (0: there
 * are no more than N) */
static int pg_event_newest_after(void *db, const char *account, time_t since, size_t n,
				 int64_t *after_id_r, const char **error_r)
{
	PGresult *res = pg_query(db, "SELECT id FROM events WHERE time >= $2"
				 " AND ($3::text IS NULL OR account = $3)"
				 " ORDER BY id DESC LIMIT 1 OFFSET $1::bigint",
				 "finding the newest events",
				 PG_ARGS(PG_INT(n), PG_INT(since), PG_TEXT(account)), error_r);
	if (!res)
		return -1;
	*after_id_r = PQntuples(res) > 0 ? val_int(res, 0, 0) : 0;
	PQclear(res);
	return 0;
}

static void *event_count_row(const PGresult *res, int i)
{
	struct store_event_count *c = xcalloc(1, sizeof(*c));
	c->day = val_int(res, i, 0);
	c->type = val_dup(res, i, 1);
	c->reason = val_dup(res, i, 2);
	c->count = (uint64_t)val_int(res, i, 3);
	if (PQnfields(res) > 4)
		c->category = val_dup(res, i, 4);
	return c;
}

/* pg_event_count_days - see store_event_count_days: bigint division
 * truncates as SQLite's integer division does */
static int pg_event_count_days(void *db, const char *account, time_t begin, time_t end,
			       struct store_event_count ***counts_r, size_t *n_r,
			       const char **error_r)
{
	void **v = list_query(db, "SELECT time / 86400 AS day, type, " STORE_EVENT_COUNT_REASON
			      " AS why, count(*) FROM events"
			      " WHERE account = $1 AND time >= $2 AND time < $3"
			      " GROUP BY day, type, why ORDER BY day, type, why", "counting events",
			      PG_ARGS(PG_TEXT(account), PG_INT(begin), PG_INT(end)),
			      event_count_row, 0, n_r, error_r);
	if (!v)
		return -1;
	*counts_r = (struct store_event_count **)v;
	return 0;
}

/* pg_event_count_category_days - see store_event_count_category_days */
static int pg_event_count_category_days(void *db, const char *account, const char *categories,
					time_t begin, time_t end,
					struct store_event_count ***counts_r, size_t *n_r,
					const char **error_r)
{
	void **v = list_query(db, "SELECT e.time / 86400 AS day, e.type, "
			      STORE_EVENT_COUNT_REASON_OF("e.") " AS why, count(*),"
			      " c.value AS category FROM events e JOIN messages m"
			      " ON m.account = e.account AND m.queue_id = e.queue_id CROSS JOIN LATERAL"
			      " json_array_elements_text(m.categories::json) AS c (value)"
			      " WHERE e.account = $1 AND e.time >= $2 AND e.time < $3"
			      " AND ($4::text IS NULL OR c.value IN"
			      " (SELECT json_array_elements_text($4::json)))"
			      " GROUP BY category, day, e.type, why"
			      " ORDER BY c.value COLLATE \"C\", day, e.type, why",
			      "counting events by category",
			      PG_ARGS(PG_TEXT(account), PG_INT(begin), PG_INT(end),
				      PG_TEXT(categories)), event_count_row, 0, n_r, error_r);
	if (!v)
		return -1;
	*counts_r = (struct store_event_count **)v;
	return 0;
}

static int pg_category_list(void *db, const char *account, const char *prefix, size_t limit,
			    size_t offset, char ***names_r, const char **error_r)
{
	return strv_query(db, "SELECT DISTINCT c.value COLLATE \"C\" AS name FROM messages m"
			  " CROSS JOIN LATERAL json_array_elements_text(m.categories::json) AS c (value)"
			  " WHERE m.account = $1 AND ($2::text IS NULL OR left(c.value, length($2)) = $2)"
			  " ORDER BY name LIMIT $3::bigint OFFSET $4::bigint",
			  PG_ARGS(PG_TEXT(account), PG_TEXT(prefix), PG_INT(limit), PG_INT(offset)), 1,
			  names_r, error_r);
}

static int pg_event_prune(void *db, time_t before, size_t limit, uint64_t *deleted_r,
			  const char **error_r)
{
	*deleted_r = 0;
	return pg_write(db, "DELETE FROM events WHERE id IN (SELECT id FROM events"
			" WHERE time < $1 ORDER BY id LIMIT $2::bigint)", "pruning events",
			PG_ARGS(PG_INT(before), PG_INT(limit)), deleted_r, NULL, error_r);
}

static int pg_message_prune(void *db, time_t before, size_t limit, uint64_t *deleted_r,
			    const char **error_r)
{
	*deleted_r = 0;
	return pg_write(db, "DELETE FROM messages WHERE (account, queue_id) IN"
			" (SELECT account, queue_id FROM messages m WHERE time < $1 AND NOT EXISTS"
			" (SELECT 1 FROM events e WHERE e.queue_id = m.queue_id"
			" AND e.account = m.account) LIMIT $2::bigint)", "pruning messages",
			PG_ARGS(PG_INT(before), PG_INT(limit)), deleted_r, NULL, error_r);
}

/* ---- DMARC evaluations -------------------------------------------------------------------- */

static int pg_dmarc_eval_add(void *db, const struct store_dmarc_eval *e, const char **error_r)
{
	return pg_write(db, "INSERT INTO dmarc_evaluations (" DMARC_EVAL_COLUMNS ")"
			" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::int::boolean,"
			" $10::int::boolean, $11, $12, $13, $14)", "recording a DMARC evaluation",
			PG_ARGS(PG_INT(e->time), PG_TEXT(e->policy_domain), PG_TEXT(e->source_ip),
				PG_TEXT(e->header_from), PG_TEXT(e->envelope_from),
				PG_TEXT(e->spf_domain), PG_TEXT(e->spf_result), PG_TEXT(e->dkim),
				PG_INT(e->spf_aligned), PG_INT(e->dkim_aligned),
				PG_TEXT(e->disposition), PG_TEXT(e->policy), PG_TEXT(e->rua),
				PG_TEXT(e->override)), NULL, NULL, error_r);
}

/* dmarc_eval_row - row I of an "id, " DMARC_EVAL_COLUMNS result */
static void *dmarc_eval_row(const PGresult *res, int i)
{
	struct store_dmarc_eval *e = xcalloc(1, sizeof(*e));
	e->id = val_int(res, i, 0);
	e->time = (time_t)val_int(res, i, 1);
	e->policy_domain = val_dup(res, i, 2);
	e->source_ip = val_dup(res, i, 3);
	e->header_from = val_dup(res, i, 4);
	e->envelope_from = val_dup(res, i, 5);
	e->spf_domain = val_dup(res, i, 6);
	e->spf_result = val_dup(res, i, 7);
	e->dkim = val_dup(res, i, 8);
	e->spf_aligned = val_bool(res, i, 9);
	e->dkim_aligned = val_bool(res, i, 10);
	e->disposition = val_dup(res, i, 11);
	e->policy = val_dup(res, i, 12);
	e->rua = val_dup(res, i, 13);
	e->override = val_dup(res, i, 14);
	return e;
}

static int pg_dmarc_eval_list(void *db, time_t begin, time_t end,
			      struct store_dmarc_eval ***evals_r, size_t *count_r,
			      const char **error_r)
{
	void **v = list_query(db, "SELECT id, " DMARC_EVAL_COLUMNS " FROM dmarc_evaluations"
			      " WHERE time >= $1 AND time < $2"
			      " ORDER BY policy_domain COLLATE \"C\", id",
			      "listing DMARC evaluations", PG_ARGS(PG_INT(begin), PG_INT(end)),
			      dmarc_eval_row, 0, count_r, error_r);
	if (!v)
		return -1;
	*evals_r = (struct store_dmarc_eval **)v;
	return 0;
}

static int pg_dmarc_eval_prune(void *db, time_t before, uint64_t *deleted_r,
			       const char **error_r)
{
	*deleted_r = 0;
	return pg_write(db, "DELETE FROM dmarc_evaluations WHERE time < $1",
			"pruning DMARC evaluations", PG_ARGS(PG_INT(before)), deleted_r, NULL,
			error_r);
}

/* pg_dmarc_report_claim - the first node to insert the row makes the report */
static int pg_dmarc_report_claim(void *db, const char *policy_domain, time_t begin,
				 time_t now, bool *claimed_r, const char **error_r)
{
	uint64_t changes = 0;
	int rc = pg_write(db, "INSERT INTO dmarc_reports (policy_domain, begin_time, made)"
			  " VALUES ($1, $2, $3) ON CONFLICT DO NOTHING", "recording a DMARC report",
			  PG_ARGS(PG_TEXT(policy_domain), PG_INT(begin), PG_INT(now)), &changes,
			  NULL, error_r);
	*claimed_r = rc == 0 && changes > 0;
	return rc;
}

/* ---- suppressions ---------------------------------------------------------------------------- */

static int pg_suppression_add(void *db, const char *account,
			      const struct store_suppression *e, const char **error_r)
{
	const char *state;
	if (pg_write(db, "INSERT INTO suppressions (account, email, list, created, reason, status)"
		     " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (account, email, list)"
		     " DO UPDATE SET created = excluded.created, reason = excluded.reason,"
		     " status = excluded.status", "adding a suppression",
		     PG_ARGS(PG_TEXT(account), PG_TEXT(e->email), PG_INT(e->list),
			     PG_INT(e->created), PG_TEXT(e->reason), PG_TEXT(e->status)),
		     NULL, &state, error_r) == 0)
		return 0;
	if (sqlstate_is(state, PG_FOREIGN_KEY_VIOLATION)) {
		*error_r = store_error("no account %s", account);
		return STORE_NOT_FOUND;
	}
	return -1;
}

static int pg_suppression_remove(void *db, const char *account, int list, const char *email,
				 uint64_t *removed_r, const char **error_r)
{
	*removed_r = 0;
	return pg_write(db, "DELETE FROM suppressions WHERE account = $1 AND list = $2"
			" AND ($3::text IS NULL OR email = $3)", "removing suppressions",
			PG_ARGS(PG_TEXT(account), PG_INT(list), PG_TEXT(email)), removed_r, NULL,
			error_r);
}

/* suppression_row - row I of a suppression list */
static void *suppression_row(const PGresult *res, int i)
{
	struct store_suppression *e = xcalloc(1, sizeof(*e));
	e->list = (enum store_suppression_list)val_int(res, i, 0);
	e->email = val_dup(res, i, 1);
	e->created = (time_t)val_int(res, i, 2);
	e->reason = val_dup(res, i, 3);
	e->status = val_dup(res, i, 4);
	return e;
}

static int pg_suppression_list(void *db, const char *account, int list, const char *email,
			       const struct store_suppression_range *range,
			       struct store_suppression ***entries_r, size_t *count_r,
			       const char **error_r)
{
	char limit[PG_NUM_MAX];
	snprintf(limit, sizeof(limit), "%" PRIu64, range->limit < INT64_MAX ? range->limit : 0);
	int64_t offset = range->offset < INT64_MAX ? (int64_t)range->offset : INT64_MAX;
	/* LIMIT NULL: no limit */
	void **v = list_query(db, "SELECT list, email, created, reason, status FROM suppressions"
			      " WHERE account = $1 AND list = $2 AND ($3::text IS NULL OR email = $3)"
			      " AND created >= $4 AND ($5::bigint = 0 OR created <= $5)"
			      " ORDER BY created DESC, email COLLATE \"C\" LIMIT $6::bigint"
			      " OFFSET $7::bigint", "listing suppressions",
			      PG_ARGS(PG_TEXT(account), PG_INT(list), PG_TEXT(email),
				      PG_INT(range->start), PG_INT(range->end),
				      PG_TEXT(range->limit && range->limit < INT64_MAX ? limit : NULL),
				      PG_INT(offset)), suppression_row, 0, count_r, error_r);
	if (!v)
		return -1;
	*entries_r = (struct store_suppression **)v;
	return 0;
}

/* pg_suppression_match - the addresses as one array parameter: one
 * statement for any number of them */
static int pg_suppression_match(void *db, const char *account, char *const *emails, size_t n,
				char ***rows_r, const char **error_r)
{
	struct buf array;
	buf_init(&array);
	for (size_t i = 0; i < n; i++)
		array_add(&array, emails[i]);
	buf_append_str(&array, "}");   /* N > 0: store.c asks for none without */
	int rc = strv_query(db, "SELECT email, list FROM suppressions WHERE account = $1"
			    " AND email = ANY($2::text[])", PG_ARGS(PG_TEXT(account),
			    PG_TEXT(array.data)), 2, rows_r, error_r);
	buf_free(&array);
	return rc;
}

/* ---- event webhooks ---------------------------------------------------------------------------- */

#define WEBHOOK_COLUMNS "account, enabled, url, events, sign, sent_id, updated"

/* webhook_row - row I of WEBHOOK_COLUMNS */
static void *webhook_row(const PGresult *res, int i)
{
	struct store_webhook *h = xcalloc(1, sizeof(*h));
	h->account = val_dup(res, i, 0);
	h->enabled = val_bool(res, i, 1);
	h->url = val_dup(res, i, 2);
	h->events = (uint32_t)val_int(res, i, 3);
	h->sign = val_bool(res, i, 4);
	h->sent_id = val_int(res, i, 5);
	h->updated = (time_t)val_int(res, i, 6);
	return h;
}

static int pg_webhook_get(void *db, const char *account, struct store_webhook **hook_r,
			  const char **error_r)
{
	return one_row_query(db, "SELECT " WEBHOOK_COLUMNS " FROM webhooks WHERE account = $1",
			     "reading a webhook", "webhook for", account, webhook_row,
			     (void **)hook_r, error_r);
}

/* pg_webhook_set - turned on: from the newest event on */
static int pg_webhook_set(void *db, const char *account, const struct store_webhook *h,
			  time_t now, const char **error_r)
{
	const char *state;
	if (pg_write(db, "INSERT INTO webhooks (account, enabled, url, events, sign, sent_id,"
		     " updated) VALUES ($1, $2::int::boolean, $3, $4, $5::int::boolean,"
		     " (SELECT coalesce(max(id), 0) FROM events), $6) ON CONFLICT (account)"
		     " DO UPDATE SET enabled = excluded.enabled, url = excluded.url,"
		     " events = excluded.events, sign = excluded.sign,"
		     " sent_id = CASE WHEN excluded.enabled AND NOT webhooks.enabled"
		     " THEN excluded.sent_id ELSE webhooks.sent_id END, updated = excluded.updated",
		     "setting a webhook",
		     PG_ARGS(PG_TEXT(account), PG_INT(h->enabled), PG_TEXT(h->url),
			     PG_INT(h->events), PG_INT(h->sign), PG_INT(now)),
		     NULL, &state, error_r) == 0)
		return 0;
	if (sqlstate_is(state, PG_FOREIGN_KEY_VIOLATION)) {
		*error_r = store_error("no account %s", account);
		return STORE_NOT_FOUND;
	}
	return -1;
}

static int pg_webhook_list_enabled(void *db, struct store_webhook ***hooks_r, size_t *count_r,
				   const char **error_r)
{
	void **v = list_query(db, "SELECT " WEBHOOK_COLUMNS " FROM webhooks"
			      " WHERE enabled AND url <> '' ORDER BY account COLLATE \"C\"",
			      "listing webhooks", PG_NO_ARGS, webhook_row, 0, count_r, error_r);
	if (!v)
		return -1;
	*hooks_r = (struct store_webhook **)v;
	return 0;
}

static int pg_webhook_advance(void *db, const char *account, int64_t from, int64_t to,
			      const char **error_r)
{
	uint64_t changes = 0;
	if (pg_write(db, "UPDATE webhooks SET sent_id = $3 WHERE account = $1 AND sent_id = $2",
		     "advancing a webhook", PG_ARGS(PG_TEXT(account), PG_INT(from), PG_INT(to)),
		     &changes, NULL, error_r) != 0)
		return -1;
	if (changes == 0) {
		*error_r = store_error("the webhook of %s is not at event %lld", account,
				       (long long)from);
		return STORE_NOT_FOUND;
	}
	return 0;
}

/* ---- the web pages' secrets ---- */

static int pg_web_secret_add(void *db, int kind, const char *hash, const char *account,
			     const char *csrf, time_t expires, const char **error_r)
{
	const char *state = "";
	if (pg_write(db, "DELETE FROM web_secrets WHERE expires <= $1",
		     "deleting expired web secrets", PG_ARGS(PG_INT(time(NULL))), NULL, NULL,
		     error_r) < 0)
		return -1;
	if (pg_write(db, "INSERT INTO web_secrets (hash, kind, account, csrf, expires)"
		     " VALUES ($1, $2, $3, $4, $5)", "adding a web secret",
		     PG_ARGS(PG_TEXT(hash), PG_INT(kind), PG_TEXT(account), PG_TEXT(csrf),
			     PG_INT(expires)), NULL, &state, error_r) == 0)
		return 0;
	if (sqlstate_is(state, PG_FOREIGN_KEY_VIOLATION)) {
		*error_r = store_error("no account %s", account);
		return STORE_NOT_FOUND;
	}
	return -1;
}

static int pg_web_secret_get(void *db, int kind, const char *hash, time_t now, bool take,
			     char **account_r, char **csrf_r, const char **error_r)
{
	char **rows = NULL;
	if (strv_query(db, take ? "DELETE FROM web_secrets WHERE hash = $1 AND kind = $2"
		       " AND expires > $3 RETURNING account, csrf"
		       : "SELECT account, csrf FROM web_secrets WHERE hash = $1 AND kind = $2"
		       " AND expires > $3", PG_ARGS(PG_TEXT(hash), PG_INT(kind), PG_INT(now)), 2,
		       &rows, error_r) < 0)
		return -1;
	int rc = 0;
	if (rows[0]) {
		*account_r = xstrdup(rows[0]);
		if (csrf_r)
			*csrf_r = xstrdup(rows[1]);
	} else {
		*error_r = store_error("no such web secret");
		rc = STORE_NOT_FOUND;
	}
	store_strv_free(&rows);
	return rc;
}

/* pg_web_rate_take - one statement: concurrent nodes counting the same
 * key meet on its row's lock, each sees the other's count */
static int pg_web_rate_take(void *db, const char *hash, time_t now, unsigned limit,
			    unsigned window, bool *allowed_r, const char **error_r)
{
	char **rows = NULL;
	if (pg_write(db, "DELETE FROM web_rates WHERE start <= $1::bigint - $2::bigint",
		     "deleting past web rate windows", PG_ARGS(PG_INT(now), PG_INT(window)), NULL,
		     NULL, error_r) < 0 ||
	    strv_query(db, "INSERT INTO web_rates (hash, start, count) VALUES ($1, $2, 1)"
		       " ON CONFLICT (hash) DO UPDATE SET"
		       " start = CASE WHEN web_rates.start <= $2::bigint - $3::bigint THEN $2"
		       " ELSE web_rates.start END,"
		       " count = CASE WHEN web_rates.start <= $2::bigint - $3::bigint THEN 1"
		       " ELSE web_rates.count + 1 END RETURNING count",
		       PG_ARGS(PG_TEXT(hash), PG_INT(now), PG_INT(window)), 1, &rows, error_r) < 0)
		return -1;
	*allowed_r = rows[0] && strtoll(rows[0], NULL, 10) <= (long long)limit;
	store_strv_free(&rows);
	return 0;
}

static int pg_web_secret_remove(void *db, int kind, const char *hash, const char *account,
				const char **error_r)
{
	return pg_write(db, "DELETE FROM web_secrets WHERE kind = $1 AND"
			" (hash = $2 OR ($2::text IS NULL AND account = $3))",
			"removing web secrets", PG_ARGS(PG_INT(kind), PG_TEXT(hash), PG_TEXT(account)),
			NULL, NULL, error_r);
}

/* ---- credentials ([store] credentials_url) ------------------------------------------------ */

static void *pg_credentials_open(const struct store_settings *settings, const char **error_r)
{
	return pg_db_open(settings, &PG_CREDENTIALS_SCHEMA, error_r);
}

/* res_wipe - overwrite RES's values (hashes, SCRAM keys) before PQclear
 * frees them; then PQclear it */
static void res_wipe(PGresult *res)
{
	if (!res)
		return;
	for (int i = 0; i < PQntuples(res); i++)
		for (int k = 0; k < PQnfields(res); k++)
			OPENSSL_cleanse(PQgetvalue(res, i, k), (size_t)PQgetlength(res, i, k));
	PQclear(res);
}

static int pg_credentials_get(void *cdb, const char *name, char **hash_r, char **scram_r,
			      const char **error_r)
{
	PGresult *res = pg_query(cdb, "SELECT password_hash, scram FROM credentials"
				 " WHERE name = $1", "reading credentials",
				 PG_ARGS(PG_TEXT(name)), error_r);
	if (!res)
		return -1;
	int rc = 0;
	if (PQntuples(res) == 1) {
		*hash_r = val_dup(res, 0, 0);
		*scram_r = val_dup(res, 0, 1);
	} else {
		*error_r = store_error("no credentials for %s", name);
		rc = STORE_NOT_FOUND;
	}
	res_wipe(res);
	return rc;
}

static int pg_credentials_set(void *cdb, const char *name, const char *hash,
			      const char *scram, const char **error_r)
{
	return pg_write(cdb, "INSERT INTO credentials (name, password_hash, scram)"
			" VALUES ($1, $2, $3) ON CONFLICT (name) DO UPDATE"
			" SET password_hash = excluded.password_hash, scram = excluded.scram",
			"setting credentials", PG_ARGS(PG_TEXT(name), PG_TEXT(hash),
						       PG_TEXT(scram)), NULL, NULL, error_r);
}

static int pg_credentials_remove(void *cdb, const char *name, const char **error_r)
{
	return row_remove(cdb, "DELETE FROM credentials WHERE name = $1", "removing credentials",
			  "credentials for", name, error_r);
}

/* pg_credentials_scram_replace - compare and set in one statement: an
 * administrator's change made meanwhile, on any node, is never overwritten */
static int pg_credentials_scram_replace(void *cdb, const char *name, const char *old_scram,
					const char *new_scram, bool *replaced_r,
					const char **error_r)
{
	uint64_t changes = 0;
	int rc = pg_write(cdb, "UPDATE credentials SET scram = $3 WHERE name = $1 AND scram = $2",
			  "updating SCRAM credentials", PG_ARGS(PG_TEXT(name), PG_TEXT(old_scram),
								PG_TEXT(new_scram)),
			  &changes, NULL, error_r);
	*replaced_r = rc == 0 && changes > 0;
	return rc;
}

/* pg_credentials_add_missing - ROWS' names not present yet, in one
 * transaction (this database never took secrets from an old petrel.db:
 * nothing to mark) */
static int pg_credentials_add_missing(void *cdb, char *const *rows, size_t n,
				      const char **error_r)
{
	if (n == 0)
		return 0;
	struct pg_db *d = cdb;
	struct pg_conn *c = conn_take(d, error_r);
	if (!c)
		return -1;
	int rc = pg_do(c, "BEGIN", "starting a transaction", PG_NO_ARGS, error_r);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		const char *hash = rows[3 * i + 1], *scram = rows[3 * i + 2];
		rc = pg_do(c, "INSERT INTO credentials (name, password_hash, scram)"
			   " VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING",
			   "copying credentials", PG_ARGS(PG_TEXT(rows[3 * i]),
							  PG_TEXT(hash ? hash : ""),
							  PG_TEXT(scram ? scram : "")), error_r);
	}
	if (rc == 0)
		rc = pg_do(c, "COMMIT", "committing", PG_NO_ARGS, error_r);
	if (rc != 0)
		pg_rollback(c);
	conn_give(d, c);
	return rc;
}

static int pg_credentials_list(void *cdb, char ***rows_r, size_t *n_r, const char **error_r)
{
	PGresult *res = pg_query(cdb, "SELECT name, password_hash, scram FROM credentials"
				 " ORDER BY name COLLATE \"C\"", "reading credentials", PG_NO_ARGS,
				 error_r);
	*rows_r = NULL;
	*n_r = 0;
	if (!res)
		return -1;
	*rows_r = (char **)rows_read(res, NULL, 3, n_r);
	res_wipe(res);
	return 0;
}

/* One AUTH failure of $1 at $2, as policy/throttle.c counts in memory: the
 * count restarts when its window ($3 seconds from the first failure) has
 * passed or a lockout has ended; reaching $4 (0: never) locks the address
 * out until $2 + $5.  One statement: the row lock serialises the nodes. */
#define PG_RESTART "((f.locked_until <> 0 AND f.locked_until <= $2::bigint)" \
	" OR $2::bigint - f.first_failure > $3::bigint)"
#define PG_NEW_FAILURES "(CASE WHEN " PG_RESTART " THEN 1 ELSE f.failures + 1 END)"
#define SQL_AUTH_FAILURE_ADD \
	"INSERT INTO auth_failures AS f (client, failures, first_failure, locked_until)" \
	" VALUES ($1, 1, $2::bigint, CASE WHEN $4::bigint > 0 AND 1 >= $4::bigint" \
	" THEN $2::bigint + $5::bigint ELSE 0 END)" \
	" ON CONFLICT (client) DO UPDATE SET failures = " PG_NEW_FAILURES "," \
	" first_failure = CASE WHEN " PG_RESTART " THEN $2::bigint ELSE f.first_failure END," \
	" locked_until = CASE WHEN f.locked_until > $2::bigint THEN f.locked_until" \
	" WHEN $4::bigint > 0 AND " PG_NEW_FAILURES " >= $4::bigint" \
	" THEN $2::bigint + $5::bigint ELSE 0 END" \
	" RETURNING failures, locked_until"
/* rows nobody needs any more: the window over and no lockout running
 * (at most two per failure counted, oldest first: bounded work) */
#define SQL_AUTH_FAILURE_PRUNE \
	"DELETE FROM auth_failures WHERE client IN (SELECT client FROM auth_failures" \
	" WHERE first_failure < $1::bigint - $2::bigint AND locked_until <= $1::bigint" \
	" ORDER BY first_failure LIMIT 2)"

static int pg_auth_failure_add(void *cdb, const char *client, time_t now,
			       const struct store_auth_throttle *limits, unsigned *failures_r,
			       time_t *locked_until_r, const char **error_r)
{
	struct pg_db *d = cdb;
	struct pg_conn *c = conn_take(d, error_r);
	if (!c)
		return -1;
	PGresult *res = pg_exec(c, SQL_AUTH_FAILURE_ADD, "counting an AUTH failure",
				PG_ARGS(PG_TEXT(client), PG_INT(now), PG_INT(limits->window),
					PG_INT(limits->lockout_after), PG_INT(limits->lockout_time)),
				NULL, error_r);
	int rc = res && PQntuples(res) == 1 ? 0 : -1;
	if (rc == 0) {
		*failures_r = (unsigned)val_int(res, 0, 0);
		*locked_until_r = (time_t)val_int(res, 0, 1);
	} else if (res) {
		*error_r = "counting an AUTH failure: no row";
	}
	PQclear(res);
	if (rc == 0) {
		/* tidying only: the failure has counted whatever happens here */
		const char *ignored;
		(void)pg_do(c, SQL_AUTH_FAILURE_PRUNE, "pruning AUTH failures",
			    PG_ARGS(PG_INT(now), PG_INT(limits->window)), &ignored);
	}
	conn_give(d, c);
	return rc;
}

static int pg_auth_locked(void *cdb, const char *client, time_t now, time_t *until_r,
			  const char **error_r)
{
	PGresult *res = pg_query(cdb, "SELECT locked_until FROM auth_failures WHERE client = $1"
				 " AND locked_until > $2::bigint", "reading an AUTH lockout",
				 PG_ARGS(PG_TEXT(client), PG_INT(now)), error_r);
	if (!res)
		return -1;
	*until_r = PQntuples(res) > 0 ? (time_t)val_int(res, 0, 0) : 0;
	PQclear(res);
	return 0;
}

static int pg_apikey_add(void *cdb, const char *const row[6], const char **error_r)
{
	const char *state;
	if (pg_write(cdb, "INSERT INTO apikeys (id, account, name, scopes, hash, created)"
		     " VALUES ($1, $2, $3, $4, $5, $6)", "adding an API key",
		     PG_ARGS(PG_TEXT(row[0]), PG_TEXT(row[1]), PG_TEXT(row[2]), PG_TEXT(row[3]),
			     PG_TEXT(row[4]), PG_TEXT(row[5])), NULL, &state, error_r) == 0)
		return 0;
	if (sqlstate_is(state, PG_UNIQUE_VIOLATION)) {
		*error_r = store_error("API key %s exists already", row[0]);
		return STORE_EXISTS;
	}
	return -1;
}

static int pg_apikey_rows(void *cdb, const char *id, const char *account, char ***rows_r,
			  size_t *n_r, const char **error_r)
{
	*n_r = 0;
	*rows_r = (char **)list_query(cdb, id ?
				      "SELECT id, account, name, scopes, hash, created FROM apikeys"
				      " WHERE id = $1" :
				      "SELECT id, account, name, scopes, hash, created FROM apikeys"
				      " WHERE account = $1 ORDER BY created, id COLLATE \"C\"",
				      "reading API keys", PG_ARGS(PG_TEXT(id ? id : account)), NULL,
				      6, n_r, error_r);
	return *rows_r ? 0 : -1;
}

static int pg_apikey_remove(void *cdb, const char *id, const char **error_r)
{
	return row_remove(cdb, "DELETE FROM apikeys WHERE id = $1", "removing an API key",
			  "API key", id, error_r);
}

static int pg_apikey_update(void *cdb, const char *id, const char *name, const char *scopes,
			    const char **error_r)
{
	uint64_t changes = 0;
	if (pg_write(cdb, "UPDATE apikeys SET name = coalesce($2, name),"
		     " scopes = coalesce($3, scopes) WHERE id = $1", "updating an API key",
		     PG_ARGS(PG_TEXT(id), PG_TEXT(name), PG_TEXT(scopes)), &changes, NULL,
		     error_r) != 0)
		return -1;
	if (changes == 0) {
		*error_r = store_error("no API key %s", id);
		return STORE_NOT_FOUND;
	}
	return 0;
}

const struct store_credentials_backend store_credentials_pg = {
	.name = "postgresql",
	.open = pg_credentials_open,
	.close = pg_close,
	.schema_version = pg_schema_version,
	.get = pg_credentials_get,
	.set = pg_credentials_set,
	.remove = pg_credentials_remove,
	.scram_replace = pg_credentials_scram_replace,
	.add_missing = pg_credentials_add_missing,
	.list = pg_credentials_list,
	.apikey_add = pg_apikey_add,
	.apikey_rows = pg_apikey_rows,
	.apikey_remove = pg_apikey_remove,
	.apikey_update = pg_apikey_update,
	.auth_failure_add = pg_auth_failure_add,
	.auth_locked = pg_auth_locked,
};

/* ---- nodes ---------------------------------------------------------------------------------- */

/* node_is_live_elsewhere - the row (owner, stopped, age) of RES is a node
 * that another owner than OWNER runs, and it reported within STALE_AFTER */
static bool node_is_live_elsewhere(const PGresult *res, const char *owner, unsigned stale_after)
{
	return !val_bool(res, 0, 1) && val_int(res, 0, 2) < (int64_t)stale_after &&
	       strcmp(PQgetvalue(res, 0, 0), owner) != 0;
}

/* pg_node_register - one transaction holding a lock on the table that
 * registrations take in turn (SHARE ROW EXCLUSIVE conflicts with itself,
 * not with readers): the liveness check and the number taken cannot
 * interleave with another node's */
static int pg_node_register(void *db, struct store_node *node, unsigned stale_after,
			    const char **error_r)
{
	struct pg_db *d = db;
	struct pg_conn *c = conn_take(d, error_r);
	if (!c)
		return -1;
	int rc = pg_do(c, "BEGIN", "starting a transaction", PG_NO_ARGS, error_r);
	if (rc == 0)
		rc = pg_do(c, "LOCK TABLE nodes IN SHARE ROW EXCLUSIVE MODE", "locking the nodes",
			   PG_NO_ARGS, error_r);
	PGresult *res = NULL;
	if (rc == 0 && !(res = pg_exec(c, "SELECT owner, stopped, " PG_NOW " - reported"
				       " FROM nodes WHERE name = $1", "reading a node",
				       PG_ARGS(PG_TEXT(node->name)), NULL, error_r)))
		rc = -1;
	bool known = false;
	if (rc == 0) {
		known = PQntuples(res) > 0;
		if (known && node_is_live_elsewhere(res, node->owner, stale_after)) {
			*error_r = store_error("node %s is running elsewhere (%s, last report %s s"
					       " ago): give this server another [server] node, or"
					       " stop that one (its name is free once it stopped or"
					       " after %u s without a report)", node->name,
					       PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 2),
					       stale_after);
			rc = STORE_EXISTS;
		}
		PQclear(res);
		res = NULL;
	}
	const struct pg_arg args[] = {
		PG_TEXT(node->name), PG_TEXT(node->owner), PG_TEXT(node->version),
		PG_TEXT(node->listeners), PG_TEXT(node->mail_address),
		PG_TEXT(node->imap_address), PG_TEXT(node->pop3_address),
		PG_INT(STORE_NODE_NUMBERS - 1),
	};
	if (rc == 0 && known)
		res = pg_exec(c, "UPDATE nodes SET owner = $2, version = $3, listeners = $4,"
			      " mail_address = $5, imap_address = $6, pop3_address = $7, generation = generation + 1, started = " PG_NOW ","
			      " reported = " PG_NOW ", stopped = false, queue_active = 0"
			      " WHERE name = $1 RETURNING number, generation, started",
			      "registering a node", args, 7, NULL, error_r);
	else if (rc == 0)
		res = pg_exec(c, "INSERT INTO nodes (name, owner, version, listeners, mail_address,"
			      " imap_address, pop3_address, number, generation, started, reported)"
			      " SELECT $1, $2, $3, $4, $5, $6, $7, free, 1, " PG_NOW ", " PG_NOW
			      " FROM (SELECT min(x) AS free FROM generate_series(0, $8::int) x"
			      " WHERE x NOT IN (SELECT number FROM nodes)) f WHERE free IS NOT NULL"
			      " RETURNING number, generation, started",
			      "registering a node", args, 8, NULL, error_r);
	if (rc == 0 && !res)
		rc = -1;
	if (rc == 0 && PQntuples(res) == 0) {
		*error_r = store_error("every node number (%d) is taken: `petrel nodes forget` a"
				       " node that is gone", STORE_NODE_NUMBERS);
		rc = -1;
	}
	if (rc == 0) {
		node->number = (unsigned)val_int(res, 0, 0);
		node->generation = val_int(res, 0, 1);
		node->started = node->reported = (time_t)val_int(res, 0, 2);
		rc = pg_do(c, "COMMIT", "committing", PG_NO_ARGS, error_r);
	}
	PQclear(res);
	if (rc != 0)
		pg_rollback(c);
	conn_give(d, c);
	return rc;
}

/* node_update - SQL (WHAT) on NODE's row, $1 name $2 generation $3 queue
 * size: STORE_NOT_FOUND when the row is gone or registered again */
static int node_update(void *db, const struct store_node *node, const char *sql,
		       const char *what, const char **error_r)
{
	uint64_t changes = 0;
	if (pg_write(db, sql, what, PG_ARGS(PG_TEXT(node->name), PG_INT(node->generation),
					    PG_INT(node->queue_active)), &changes, NULL,
		     error_r) != 0)
		return -1;
	if (changes > 0)
		return 0;
	*error_r = store_error("node %s was registered again by another server, or forgotten",
			       node->name);
	return STORE_NOT_FOUND;
}

static int pg_node_report(void *db, const struct store_node *node, const char **error_r)
{
	return node_update(db, node, "UPDATE nodes SET reported = " PG_NOW ", queue_active = $3"
			   " WHERE name = $1 AND generation = $2", "reporting", error_r);
}

static int pg_node_stop(void *db, const struct store_node *node, const char **error_r)
{
	return node_update(db, node, "UPDATE nodes SET reported = " PG_NOW ", queue_active = $3,"
			   " stopped = true WHERE name = $1 AND generation = $2",
			   "recording the stop", error_r);
}

/* node_columns - NODE_COLUMNS from column FIRST of RES's row I into N */
static void node_columns(const PGresult *res, int i, int first, struct store_node *n)
{
	n->name = val_dup(res, i, first);
	n->owner = val_dup(res, i, first + 1);
	n->number = (unsigned)val_int(res, i, first + 2);
	n->generation = val_int(res, i, first + 3);
	n->version = val_dup(res, i, first + 4);
	n->started = (time_t)val_int(res, i, first + 5);
	n->reported = (time_t)val_int(res, i, first + 6);
	n->age = val_int(res, i, first + 7);
	n->stopped = val_bool(res, i, first + 8);
	n->listeners = val_dup(res, i, first + 9);
	n->queue_active = (uint64_t)val_int(res, i, first + 10);
	n->mail_address = val_dup(res, i, first + 11);
	n->imap_address = val_dup(res, i, first + 12);
	n->pop3_address = val_dup(res, i, first + 13);
}

/* node_row - row I of a NODE_COLUMNS result */
static void *node_row(const PGresult *res, int i)
{
	struct store_node *e = xcalloc(1, sizeof(*e));
	node_columns(res, i, 0, e);
	return e;
}

static int pg_node_list(void *db, struct store_node ***nodes_r, size_t *count_r,
			const char **error_r)
{
	void **v = list_query(db, "SELECT " NODE_COLUMNS " FROM nodes ORDER BY name COLLATE \"C\"",
			      "listing nodes", PG_NO_ARGS, node_row, 0, count_r, error_r);
	if (!v)
		return -1;
	*nodes_r = (struct store_node **)v;
	return 0;
}

static int pg_node_forget(void *db, const char *name, unsigned stale_after,
			  const char **error_r)
{
	uint64_t changes = 0;
	if (pg_write(db, "DELETE FROM nodes WHERE name = $1 AND (stopped OR reported <= "
		     PG_NOW " - $2)", "forgetting a node", PG_ARGS(PG_TEXT(name),
		     PG_INT(stale_after)), &changes, NULL, error_r) != 0)
		return -1;
	if (changes > 0)
		return 0;
	struct pg_conn *c = conn_take(db, error_r);
	if (!c)
		return -1;
	int rc = row_exists(c, "SELECT 1 FROM nodes WHERE name = $1", "reading a node", "node",
			    name, error_r);
	conn_give(db, c);
	if (rc == 0) {
		*error_r = store_error("node %s is live: stop it first", name);
		rc = STORE_EXISTS;
	}
	return rc;
}

/* node_known - 0 if the store knows node NAME; -1 with a clear error */
static int node_known(struct pg_conn *c, const char *name, const char **error_r)
{
	int rc = row_exists(c, "SELECT 1 FROM nodes WHERE name = $1", "reading a node", "node",
			    name, error_r);
	if (rc == STORE_NOT_FOUND) {
		*error_r = store_error("unknown node %s: a node is known once it has started"
				       " (`petrel nodes` lists them)", name);
		rc = -1;
	}
	return rc;
}

static int pg_account_set_home(void *db, const char *account, const char *node,
			       const char **error_r)
{
	struct pg_db *d = db;
	struct pg_conn *c = conn_take(d, error_r);
	if (!c)
		return -1;
	int rc = node ? node_known(c, node, error_r) : 0;
	PGresult *res = NULL;
	if (rc == 0 && !(res = pg_exec(c, "UPDATE accounts SET home_node = $2 WHERE name = $1",
				       "setting an account's home",
				       PG_ARGS(PG_TEXT(account), PG_TEXT(node)), NULL, error_r)))
		rc = -1;
	conn_give(d, c);
	if (rc == 0 && res_changes(res) == 0) {
		*error_r = store_error("no account %s", account);
		rc = STORE_NOT_FOUND;
	}
	PQclear(res);
	return rc;
}

/* home_columns - the home node of row 0: its name (column FIRST), then its
 * NODE_COLUMNS row, NULL when it has no home; a node forgotten since has
 * no row: its name only, stopped, age -1 */
static struct store_node *home_columns(const PGresult *res, int first)
{
	if (PQgetisnull(res, 0, first))
		return NULL;
	struct store_node *home = xcalloc(1, sizeof(*home));
	if (!PQgetisnull(res, 0, first + 1)) {
		node_columns(res, 0, first + 1, home);
	} else {
		home->name = val_dup(res, 0, first);
		home->stopped = true; /* forgotten since */
		home->age = -1;
	}
	return home;
}

/* pg_account_home - the home's name, then its row (none left when it was
 * forgotten) */
static int pg_account_home(void *db, const char *account, struct store_node **home_r,
			   const char **error_r)
{
	PGresult *res = pg_query(db, "SELECT a.home_node, n.* FROM accounts a LEFT JOIN"
				 " (SELECT " NODE_COLUMNS " FROM nodes) n ON n.name = a.home_node"
				 " WHERE a.name = $1", "reading an account's home",
				 PG_ARGS(PG_TEXT(account)), error_r);
	if (!res)
		return -1;
	int rc = 0;
	if (PQntuples(res) == 0) {
		*error_r = store_error("no account %s", account);
		rc = STORE_NOT_FOUND;
	} else {
		*home_r = home_columns(res, 0);
	}
	PQclear(res);
	return rc;
}

/* pg_address_route - the domain's existence, the account's home name and
 * the home's row in one statement: always one row, the account's columns
 * NULL when there is no such account */
static int pg_address_route(void *db, const char *address, const char *domain,
			    bool *domain_r, struct store_node **home_r, const char **error_r)
{
	PGresult *res = pg_query(db, "SELECT EXISTS (SELECT 1 FROM domains WHERE name = $2),"
				 " a.home_node, n.* FROM (SELECT 1) one"
				 " LEFT JOIN accounts a ON a.name = $1 LEFT JOIN"
				 " (SELECT " NODE_COLUMNS " FROM nodes) n ON n.name = a.home_node",
				 "reading a recipient's domain and home",
				 PG_ARGS(PG_TEXT(address), PG_TEXT(domain)), error_r);
	if (!res)
		return -1;
	*domain_r = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	*home_r = home_columns(res, 1);
	PQclear(res);
	return 0;
}

const struct store_backend store_backend_pg = {
	.name = "postgresql",
	.open = pg_open,
	.close = pg_close,
	.schema_version = pg_schema_version,
	.domain_add = pg_domain_add,
	.domain_remove = pg_domain_remove,
	.domain_exists = pg_domain_exists,
	.domain_list = pg_domain_list,
	.plan_set = pg_plan_set,
	.plan_get = pg_plan_get,
	.account_plan_get = pg_account_plan_get,
	.plan_list = pg_plan_list,
	.account_add = pg_account_add,
	.account_get = pg_account_get,
	.account_update = pg_account_update,
	.legacy_secrets_move = pg_legacy_secrets_move,
	.account_remove = pg_account_remove,
	.account_list = pg_account_list,
	.account_set_home = pg_account_set_home,
	.account_home = pg_account_home,
	.address_route = pg_address_route,
	.sender_set = pg_sender_set,
	.sender_remove = pg_sender_remove,
	.sender_list = pg_sender_list,
	.alias_add = pg_alias_add,
	.alias_remove = pg_alias_remove,
	.alias_list = pg_alias_list,
	.alias_targets = pg_alias_targets,
	.counter_reserve = pg_counter_reserve,
	.counter_release = pg_counter_release,
	.counter_get = pg_counter_get,
	.event_add = pg_event_add,
	.event_list = pg_event_list,
	.event_search = pg_event_search,
	.event_newest_after = pg_event_newest_after,
	.event_count_days = pg_event_count_days,
	.event_prune = pg_event_prune,
	.message_prune = pg_message_prune,
	.event_count_category_days = pg_event_count_category_days,
	.category_list = pg_category_list,
	.node_register = pg_node_register,
	.node_report = pg_node_report,
	.node_stop = pg_node_stop,
	.node_list = pg_node_list,
	.node_forget = pg_node_forget,
	.dmarc_eval_add = pg_dmarc_eval_add,
	.dmarc_eval_list = pg_dmarc_eval_list,
	.dmarc_eval_prune = pg_dmarc_eval_prune,
	.dmarc_report_claim = pg_dmarc_report_claim,
	.suppression_add = pg_suppression_add,
	.suppression_remove = pg_suppression_remove,
	.suppression_list = pg_suppression_list,
	.suppression_match = pg_suppression_match,
	.webhook_get = pg_webhook_get,
	.webhook_set = pg_webhook_set,
	.webhook_list_enabled = pg_webhook_list_enabled,
	.webhook_advance = pg_webhook_advance,
	.web_secret_add = pg_web_secret_add,
	.web_secret_get = pg_web_secret_get,
	.web_secret_remove = pg_web_secret_remove,
	.web_rate_take = pg_web_rate_take,
};
