/* store/store-sqlite - the SQLite backend: <data_dir>/petrel.db in WAL mode,
 * and the credentials database <data_dir>/auth/credentials.db (the same
 * connections, statements and schema steps; its own file, folder and mode).
 *
 * Connections: a small pool (STORE_SQLITE_CONNECTIONS) opened on demand and
 * guarded by a mutex; a worker takes one, runs its statements and gives it
 * back, waiting on a condition variable when all are busy.  Each connection
 * keeps its prepared statements (SQLITE_PREPARE_PERSISTENT), so a query is
 * compiled once per connection; every value is a bound parameter.
 *
 * WAL lets the CLI and the server (two processes, or several connections of
 * one) read while one writes; writers wait for each other up to
 * busy_timeout.  synchronous=NORMAL in WAL mode is durable across process
 * crashes and consistent across power loss, which is enough for accounts and
 * counters (the mail itself is made durable by the queue).
 *
 * Schema: the schema_version table holds one row per migration applied;
 * store_open applies the missing steps of MIGRATIONS in one IMMEDIATE
 * transaction, so two processes opening a new database at once do not both
 * migrate it.  Steps are only ever appended.
 *
 * Secrets: versions 1-2 kept each account's password hash and SCRAM
 * credentials in petrel.db's accounts table; from version 3 they live in
 * credentials.db.  store_open cannot move them (it does not have the other
 * database), so step 3 leaves the two columns in place when accounts exist
 * and store_credentials_migrate drops them once their copy has committed
 * (legacy_secrets_move).  A database with no account yet (a new one) loses
 * them at once: there is nothing to move.  An account cannot be added
 * while they remain (password_hash is NOT NULL without a default), which
 * keeps every row with a secret within the migration's reach.
 */
#include "store/store.h"
#include "store/store-private.h"

#include "util/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <sqlite3.h>

#define STORE_SQLITE_CONNECTIONS 4
#define STORE_SQLITE_BUSY_MS 5000
#define STORE_SQLITE_FILE "petrel.db"
#define STORE_CREDENTIALS_FILE "credentials.db"

/* ---- schema ---------------------------------------------------------------------- */

static const char *const MIGRATIONS[] = {
	/* 1: domains, plans, accounts, sender rules, aliases */
	"CREATE TABLE domains (name TEXT PRIMARY KEY NOT NULL) WITHOUT ROWID;"
	"CREATE TABLE plans (name TEXT PRIMARY KEY NOT NULL,"
	" daily_limit INTEGER NOT NULL, per_minute INTEGER NOT NULL) WITHOUT ROWID;"
	"INSERT INTO plans (name, daily_limit, per_minute) VALUES ('free', 100, 0);"
	"CREATE TABLE accounts (name TEXT PRIMARY KEY NOT NULL,"
	" password_hash TEXT NOT NULL,"
	" plan TEXT NOT NULL REFERENCES plans(name),"
	" daily_limit INTEGER NOT NULL DEFAULT -1,"
	" per_minute INTEGER NOT NULL DEFAULT -1,"
	" sandbox INTEGER NOT NULL DEFAULT 0,"
	" disabled INTEGER NOT NULL DEFAULT 0,"
	" any_from INTEGER NOT NULL DEFAULT 0,"
	" created INTEGER NOT NULL);"
	"CREATE TABLE senders (account TEXT NOT NULL REFERENCES accounts(name) ON DELETE CASCADE,"
	" pattern TEXT NOT NULL, allow INTEGER NOT NULL,"
	" PRIMARY KEY (account, pattern)) WITHOUT ROWID;"
	"CREATE TABLE aliases (address TEXT NOT NULL, target TEXT NOT NULL,"
	" PRIMARY KEY (address, target)) WITHOUT ROWID;",

	/* 2: SCRAM credentials, sending counters, events */
	"ALTER TABLE accounts ADD COLUMN scram TEXT NOT NULL DEFAULT '';"
	"CREATE TABLE counters (account TEXT NOT NULL, win TEXT NOT NULL,"
	" used INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (account, win)) WITHOUT ROWID;"
	"CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" time INTEGER NOT NULL, type TEXT NOT NULL, account TEXT, queue_id TEXT,"
	" recipient TEXT, code INTEGER NOT NULL DEFAULT 0, reason TEXT);"
	"CREATE INDEX events_account ON events (account, id);"
	"CREATE INDEX events_time ON events (time);",

	/* 3: password hashes and SCRAM credentials belong to credentials.db;
	 * the columns go in legacy_drop (empty table) or legacy_secrets_move.
	 * The step itself changes no table: it keeps an older petrel, which
	 * would look for them, off this database. */
	"-- secrets moved to auth/credentials.db\n",

	/* 4: DMARC evaluations for aggregate reports (RFC 7489 7.2), and the
	 * reports made, one row per policy domain and period */
	"CREATE TABLE dmarc_evaluations (id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" time INTEGER NOT NULL, policy_domain TEXT NOT NULL, source_ip TEXT NOT NULL,"
	" header_from TEXT NOT NULL, envelope_from TEXT NOT NULL, spf_domain TEXT NOT NULL,"
	" spf_result TEXT NOT NULL, dkim TEXT NOT NULL, spf_aligned INTEGER NOT NULL,"
	" dkim_aligned INTEGER NOT NULL, disposition TEXT NOT NULL, policy TEXT NOT NULL,"
	" rua TEXT NOT NULL, override TEXT);"
	"CREATE INDEX dmarc_evaluations_time ON dmarc_evaluations (time);"
	"CREATE TABLE dmarc_reports (policy_domain TEXT NOT NULL, begin INTEGER NOT NULL,"
	" made INTEGER NOT NULL, PRIMARY KEY (policy_domain, begin)) WITHOUT ROWID;",

	/* 5: mailbox quota per plan (RFC 9208 STORAGE in bytes, MESSAGE);
	 * -1 = [mailbox] quota_default, 0 = none */
	("ALTER TABLE plans ADD COLUMN quota_bytes INTEGER NOT NULL DEFAULT -1;"
	 "ALTER TABLE plans ADD COLUMN quota_messages INTEGER NOT NULL DEFAULT -1;"),

	/* 6: node identity: the node that recorded each event, and the nodes
	 * (store.h: store_node_register) */
	("ALTER TABLE events ADD COLUMN node TEXT;"
	 "CREATE TABLE nodes (name TEXT PRIMARY KEY NOT NULL,"
	 " number INTEGER NOT NULL UNIQUE CHECK (number >= 0 AND number < 256),"
	 " owner TEXT NOT NULL, generation INTEGER NOT NULL, version TEXT NOT NULL,"
	 " started INTEGER NOT NULL, reported INTEGER NOT NULL,"
	 " stopped INTEGER NOT NULL DEFAULT 0, listeners TEXT NOT NULL DEFAULT '',"
	 " queue_active INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;"),

	/* 7: mailboxes across nodes: each account's home node, and where the
	 * nodes take mail and logins for the accounts homed there ([cluster]) */
	("ALTER TABLE accounts ADD COLUMN home_node TEXT;"
	 "ALTER TABLE nodes ADD COLUMN mail_address TEXT;"
	 "ALTER TABLE nodes ADD COLUMN imap_address TEXT;"
	 "ALTER TABLE nodes ADD COLUMN pop3_address TEXT;"),

	/* 8: suppression lists (SendGrid's bounces, blocks, unsubscribes,
	 * spam_reports as LIST 0-3), per account; the key serves the queue's
	 * match of a message's recipients */
	("CREATE TABLE suppressions (account TEXT NOT NULL REFERENCES accounts(name)"
	 " ON DELETE CASCADE, email TEXT NOT NULL, list INTEGER NOT NULL,"
	 " created INTEGER NOT NULL, reason TEXT NOT NULL DEFAULT '',"
	 " status TEXT NOT NULL DEFAULT '', PRIMARY KEY (account, email, list)) WITHOUT ROWID;"
	 "CREATE INDEX suppressions_list ON suppressions (account, list, created);"),

	/* 9: each account's event webhook (SendGrid's settings) and the id of
	 * the last event its receiver acknowledged */
	("CREATE TABLE webhooks (account TEXT PRIMARY KEY NOT NULL REFERENCES accounts(name)"
	 " ON DELETE CASCADE, enabled INTEGER NOT NULL, url TEXT NOT NULL,"
	 " events INTEGER NOT NULL, sign INTEGER NOT NULL, sent_id INTEGER NOT NULL,"
	 " updated INTEGER NOT NULL) WITHOUT ROWID;"),
	/* 10: the web sign-up (docs/web.md): an account's unproved address and
	 * pending approval, and the SHA-256 of its sessions and one-time
	 * links (KIND: enum store_web_kind) */
	("ALTER TABLE accounts ADD COLUMN unverified INTEGER NOT NULL DEFAULT 0;"
	 "ALTER TABLE accounts ADD COLUMN pending INTEGER NOT NULL DEFAULT 0;"
	 "CREATE TABLE web_secrets (hash TEXT PRIMARY KEY NOT NULL, kind INTEGER NOT NULL,"
	 " account TEXT NOT NULL REFERENCES accounts(name) ON DELETE CASCADE,"
	 " csrf TEXT NOT NULL DEFAULT '', expires INTEGER NOT NULL) WITHOUT ROWID;"
	 "CREATE INDEX web_secrets_account ON web_secrets (account, kind);"
	 "CREATE INDEX web_secrets_expires ON web_secrets (expires);"),
	/* 11: what an accepted message's events need from it (store_event's
	 * recipients, categories, custom_args), and its events found by queue
	 * id (a deferral's attempt number, a message's rows when pruning) */
	("CREATE TABLE messages (account TEXT NOT NULL, queue_id TEXT NOT NULL,"
	 " time INTEGER NOT NULL, recipients TEXT, categories TEXT, custom_args TEXT,"
	 " PRIMARY KEY (account, queue_id)) WITHOUT ROWID;"
	 "CREATE INDEX messages_time ON messages (time);"
	 "CREATE INDEX events_queue ON events (queue_id);"),
	/* 12: the web pages' rate counts (store_web_rate_take), shared by the
	 * nodes of one store: a key's SHA-256, its window's beginning, its
	 * count */
	("CREATE TABLE web_rates (hash TEXT PRIMARY KEY NOT NULL, start INTEGER NOT NULL,"
	 " count INTEGER NOT NULL) WITHOUT ROWID;"
	 "CREATE INDEX web_rates_start ON web_rates (start);"),
};
#define MIGRATION_COUNT ((int)(sizeof(MIGRATIONS) / sizeof(MIGRATIONS[0])))

static const char *const CREDENTIALS_MIGRATIONS[] = {
	/* 1: one row of secrets per account name (lower-cased, as in petrel.db) */
	"CREATE TABLE credentials (name TEXT PRIMARY KEY NOT NULL,"
	" password_hash TEXT NOT NULL, scram TEXT NOT NULL DEFAULT '') WITHOUT ROWID;",

	/* 2: API keys: the SHA-256 of each key, never the key (store/apikey.c) */
	"CREATE TABLE apikeys (id TEXT PRIMARY KEY NOT NULL, account TEXT NOT NULL,"
	" name TEXT NOT NULL DEFAULT '', scopes TEXT NOT NULL, hash TEXT NOT NULL,"
	" created INTEGER NOT NULL) WITHOUT ROWID;"
	"CREATE INDEX apikeys_account ON apikeys (account, created);",
};
#define CREDENTIALS_MIGRATION_COUNT \
	((int)(sizeof(CREDENTIALS_MIGRATIONS) / sizeof(CREDENTIALS_MIGRATIONS[0])))

/* ---- statements -------------------------------------------------------------------- */

enum sq_stmt {
	SQ_SCHEMA_VERSION,
	SQ_SCHEMA_APPLIED,
	SQ_BEGIN,
	SQ_COMMIT,
	SQ_ROLLBACK,
	SQ_DOMAIN_ADD,
	SQ_DOMAIN_REMOVE,
	SQ_DOMAIN_EXISTS,
	SQ_DOMAIN_LIST,
	SQ_PLAN_SET,
	SQ_PLAN_GET,
	SQ_ACCOUNT_PLAN_GET,
	SQ_PLAN_LIST,
	SQ_ACCOUNT_ADD,
	SQ_ACCOUNT_GET,
	SQ_ACCOUNT_UPDATE,
	SQ_ACCOUNT_REMOVE,
	SQ_ACCOUNT_LIST,
	SQ_ACCOUNT_COUNTERS_REMOVE,
	SQ_ACCOUNT_COUNT,
	SQ_ACCOUNT_SET_HOME,
	SQ_ACCOUNT_HOME,
	SQ_LEGACY_COLUMNS,
	SQ_LEGACY_SECRETS,
	SQ_SENDER_SET,
	SQ_SENDER_REMOVE,
	SQ_SENDER_LIST,
	SQ_ALIAS_ADD,
	SQ_ALIAS_REMOVE,
	SQ_ALIAS_REMOVE_ALL,
	SQ_ALIAS_LIST,
	SQ_ALIAS_TARGETS,
	SQ_COUNTER_CREATE,
	SQ_COUNTER_PRUNE,
	SQ_COUNTER_ADD,
	SQ_COUNTER_RELEASE,
	SQ_COUNTER_GET,
	SQ_EVENT_ADD,
	SQ_EVENT_LIST,
	SQ_EVENT_LIST_ACCOUNT,
	SQ_EVENT_SEARCH,
	SQ_EVENT_NEWEST_AFTER,
	SQ_EVENT_NEWEST_AFTER_ACCOUNT,
	SQ_EVENT_PRUNE,
	SQ_MESSAGE_ADD,
	SQ_EVENT_COUNT_CATEGORY_DAYS,
	SQ_CATEGORY_LIST,
	SQ_MESSAGE_PRUNE,
	SQ_EVENT_COUNT_DAYS,
	SQ_NODE_GET,
	SQ_NODE_RENEW,
	SQ_NODE_ADD,
	SQ_NODE_REPORT,
	SQ_NODE_STOP,
	SQ_NODE_LIST,
	SQ_NODE_FORGET,
	SQ_NODE_EXISTS,
	SQ_SUPPRESSION_ADD,
	SQ_SUPPRESSION_REMOVE,
	SQ_SUPPRESSION_CLEAR,
	SQ_SUPPRESSION_LIST,
	SQ_SUPPRESSION_MATCH,
	SQ_WEBHOOK_GET,
	SQ_WEBHOOK_SET,
	SQ_WEBHOOK_LIST_ENABLED,
	SQ_WEBHOOK_ADVANCE,
	SQ_DMARC_EVAL_ADD,
	SQ_DMARC_EVAL_LIST,
	SQ_DMARC_EVAL_PRUNE,
	SQ_DMARC_REPORT_CLAIM,
	SQ_CRED_GET,
	SQ_CRED_LIST,
	SQ_CRED_SET,
	SQ_CRED_ADD_MISSING,
	SQ_CRED_REMOVE,
	SQ_CRED_SCRAM_REPLACE,
	SQ_CRED_MOVED_GET,
	SQ_CRED_MOVED_SET,
	SQ_APIKEY_ADD,
	SQ_APIKEY_GET,
	SQ_APIKEY_LIST,
	SQ_APIKEY_REMOVE,
	SQ_APIKEY_UPDATE,
	SQ_WEB_SECRET_PRUNE,
	SQ_WEB_SECRET_ADD,
	SQ_WEB_SECRET_GET,
	SQ_WEB_SECRET_TAKE,
	SQ_WEB_SECRET_REMOVE,
	SQ_WEB_SECRET_REMOVE_ACCOUNT,
	SQ_WEB_RATE_PRUNE,
	SQ_WEB_RATE_TAKE,
	SQ_STMT_COUNT
};

#define ACCOUNT_COLUMNS \
	"name, plan, daily_limit, per_minute, sandbox, disabled, any_from, created, home_node,"\
	" unverified, pending"
#define EVENT_COLUMNS "id, time, type, account, queue_id, recipient, code, reason, node"
/* store_event_list's: the event, its message's (if any), and a deferral's
 * attempt number (events_queue) */
#define EVENT_LIST_COLUMNS "e.id, e.time, e.type, e.account, e.queue_id, e.recipient," \
	" e.code, e.reason, e.node, m.recipients, m.categories, m.custom_args," \
	" CASE WHEN e.type = 'deferred' THEN (SELECT count(*) FROM events p" \
	" WHERE p.queue_id = e.queue_id AND p.account = e.account AND p.type = 'deferred'" \
	" AND p.recipient IS e.recipient AND p.id <= e.id) ELSE 0 END"
#define EVENT_LIST_FROM "events e LEFT JOIN messages m" \
	" ON m.account = e.account AND m.queue_id = e.queue_id"
#define SQ_NOW "CAST(strftime('%s', 'now') AS INTEGER)"
#define NODE_COLUMNS "name, owner, number, generation, version, started, reported,"\
	" " SQ_NOW " - reported, stopped, listeners, queue_active, mail_address, imap_address,"\
	" pop3_address"
#define WEBHOOK_COLUMNS "account, enabled, url, events, sign, sent_id, updated"
#define DMARC_EVAL_INSERT_COLUMNS "time, policy_domain, source_ip, header_from,"\
	" envelope_from, spf_domain, spf_result, dkim, spf_aligned, dkim_aligned, disposition,"\
	" policy, rua, override"

static const char *const SQL[SQ_STMT_COUNT] = {
	[SQ_SCHEMA_VERSION] = "SELECT coalesce(max(version), 0) FROM schema_version",
	[SQ_SCHEMA_APPLIED] = "INSERT INTO schema_version (version, applied)"
		" VALUES (?1, strftime('%s', 'now'))",
	[SQ_BEGIN] = "BEGIN IMMEDIATE",
	[SQ_COMMIT] = "COMMIT",
	[SQ_ROLLBACK] = "ROLLBACK",
	[SQ_DOMAIN_ADD] = "INSERT INTO domains (name) VALUES (?1)",
	[SQ_DOMAIN_REMOVE] = "DELETE FROM domains WHERE name = ?1",
	[SQ_DOMAIN_EXISTS] = "SELECT 1 FROM domains WHERE name = ?1",
	[SQ_DOMAIN_LIST] = "SELECT name FROM domains ORDER BY name",
	[SQ_PLAN_SET] = "INSERT INTO plans (name, daily_limit, per_minute, quota_bytes,"
		" quota_messages) VALUES (?1, ?2, ?3, ?4, ?5)"
		" ON CONFLICT (name) DO UPDATE SET daily_limit = excluded.daily_limit,"
		" per_minute = excluded.per_minute, quota_bytes = excluded.quota_bytes,"
		" quota_messages = excluded.quota_messages",
	[SQ_PLAN_GET] = "SELECT name, daily_limit, per_minute, quota_bytes, quota_messages"
		" FROM plans WHERE name = ?1",
	[SQ_ACCOUNT_PLAN_GET] = "SELECT p.name, p.daily_limit, p.per_minute, p.quota_bytes,"
		" p.quota_messages FROM accounts a JOIN plans p ON p.name = a.plan"
		" WHERE a.name = ?1",
	[SQ_PLAN_LIST] = "SELECT name, daily_limit, per_minute, quota_bytes, quota_messages"
		" FROM plans ORDER BY name",
	[SQ_ACCOUNT_ADD] = "INSERT INTO accounts (" ACCOUNT_COLUMNS ")"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
	[SQ_ACCOUNT_GET] = "SELECT " ACCOUNT_COLUMNS " FROM accounts WHERE name = ?1",
	[SQ_ACCOUNT_UPDATE] = "UPDATE accounts SET plan = ?2, daily_limit = ?3, per_minute = ?4,"
		" sandbox = ?5, disabled = ?6, any_from = ?7, unverified = ?8, pending = ?9"
		" WHERE name = ?1",
	[SQ_ACCOUNT_REMOVE] = "DELETE FROM accounts WHERE name = ?1",
	[SQ_ACCOUNT_LIST] = "SELECT " ACCOUNT_COLUMNS " FROM accounts ORDER BY name"
		" LIMIT ?1 OFFSET ?2",
	[SQ_ACCOUNT_COUNTERS_REMOVE] = "DELETE FROM counters WHERE account = ?1",
	[SQ_ACCOUNT_COUNT] = "SELECT count(*) FROM accounts",
	[SQ_ACCOUNT_SET_HOME] = "UPDATE accounts SET home_node = ?2 WHERE name = ?1",
	/* the home's name, then its row: none left when it was forgotten */
	[SQ_ACCOUNT_HOME] = "SELECT a.home_node, n.* FROM accounts a LEFT JOIN"
		" (SELECT " NODE_COLUMNS " FROM nodes) n ON n.name = a.home_node"
		" WHERE a.name = ?1",
	/* whether a secret column of versions 1-2 is left */
	[SQ_LEGACY_COLUMNS] = "SELECT count(*) FROM pragma_table_info('accounts')"
		" WHERE name = ?1",
	/* prepared only while both columns exist (SQ_LEGACY_COLUMNS first) */
	[SQ_LEGACY_SECRETS] = "SELECT name, password_hash, scram FROM accounts ORDER BY name",
	[SQ_SENDER_SET] = "INSERT INTO senders (account, pattern, allow) VALUES (?1, ?2, ?3)"
		" ON CONFLICT (account, pattern) DO UPDATE SET allow = excluded.allow",
	[SQ_SENDER_REMOVE] = "DELETE FROM senders WHERE account = ?1 AND pattern = ?2",
	[SQ_SENDER_LIST] = "SELECT pattern, allow FROM senders WHERE account = ?1"
		" ORDER BY pattern",
	[SQ_ALIAS_ADD] = "INSERT INTO aliases (address, target) VALUES (?1, ?2)",
	[SQ_ALIAS_REMOVE] = "DELETE FROM aliases WHERE address = ?1 AND target = ?2",
	[SQ_ALIAS_REMOVE_ALL] = "DELETE FROM aliases WHERE address = ?1",
	[SQ_ALIAS_LIST] = "SELECT address, target FROM aliases ORDER BY address, target",
	[SQ_ALIAS_TARGETS] = "SELECT target FROM aliases WHERE address = ?1 ORDER BY target",
	[SQ_COUNTER_CREATE] = "INSERT INTO counters (account, win, used) VALUES (?1, ?2, 0)"
		" ON CONFLICT (account, win) DO NOTHING",
	/* older windows of the same kind and shape: they can no longer count */
	[SQ_COUNTER_PRUNE] = "DELETE FROM counters WHERE account = ?1 AND win < ?2"
		" AND substr(win, 1, 2) = substr(?2, 1, 2) AND length(win) = length(?2)",
	[SQ_COUNTER_ADD] = "UPDATE counters SET used = used + ?3"
		" WHERE account = ?1 AND win = ?2 AND (?4 = 0 OR used + ?3 <= ?4)",
	[SQ_COUNTER_RELEASE] = "UPDATE counters SET used = max(used - ?3, 0)"
		" WHERE account = ?1 AND win = ?2",
	[SQ_COUNTER_GET] = "SELECT used FROM counters WHERE account = ?1 AND win = ?2",
	[SQ_EVENT_ADD] = "INSERT INTO events (time, type, account, queue_id, recipient, code,"
		" reason, node) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	[SQ_EVENT_LIST] = "SELECT " EVENT_LIST_COLUMNS " FROM " EVENT_LIST_FROM
		" WHERE e.id > ?1 AND e.time >= ?2 ORDER BY e.id LIMIT ?3",
	[SQ_EVENT_LIST_ACCOUNT] = "SELECT " EVENT_LIST_COLUMNS " FROM " EVENT_LIST_FROM
		" WHERE e.account = ?4 AND e.id > ?1 AND e.time >= ?2 ORDER BY e.id LIMIT ?3",
	/* the dashboard's search: newest first through events_account */
	[SQ_EVENT_SEARCH] = "SELECT " EVENT_COLUMNS " FROM events WHERE account = ?1"
		" AND (?2 IS NULL OR lower(recipient) = ?2) AND (?3 IS NULL OR type = ?3)"
		" AND (?4 IS NULL OR queue_id = ?4) AND (?5 = 0 OR id < ?5)"
		" ORDER BY id DESC LIMIT ?6",
	/* the id just before the newest ?1 rows (none if there are no more) */
	[SQ_EVENT_NEWEST_AFTER] = "SELECT id FROM events WHERE time >= ?2"
		" ORDER BY id DESC LIMIT 1 OFFSET ?1",
	[SQ_EVENT_NEWEST_AFTER_ACCOUNT] = "SELECT id FROM events WHERE account = ?3"
		" AND time >= ?2 ORDER BY id DESC LIMIT 1 OFFSET ?1",
	/* through the time index; ids grow with time, so these are the oldest */
	[SQ_EVENT_PRUNE] = "DELETE FROM events WHERE id IN"
		" (SELECT id FROM events WHERE time < ?1 LIMIT ?2)",
	/* as SQ_EVENT_COUNT_DAYS, once per category of the event's message
	 * that is in the JSON array ?4 (NULL: any) */
	[SQ_EVENT_COUNT_CATEGORY_DAYS] = "SELECT e.time / 86400 AS day, e.type, "
		STORE_EVENT_COUNT_REASON_OF("e.") " AS why, count(*), c.value AS category"
		" FROM events e JOIN messages m ON m.account = e.account AND m.queue_id = e.queue_id"
		" JOIN json_each(m.categories) c WHERE e.account = ?1 AND e.time >= ?2"
		" AND e.time < ?3 AND (?4 IS NULL OR c.value IN (SELECT value FROM json_each(?4)))"
		" GROUP BY category, day, e.type, why ORDER BY category, day, e.type, why",
	[SQ_CATEGORY_LIST] = "SELECT DISTINCT c.value FROM messages m JOIN json_each(m.categories) c"
		" WHERE m.account = ?1 AND (?2 IS NULL OR substr(c.value, 1, length(?2)) = ?2)"
		" ORDER BY c.value LIMIT ?3 OFFSET ?4",
	[SQ_MESSAGE_ADD] = "INSERT OR REPLACE INTO messages (account, queue_id, time, recipients,"
		" categories, custom_args) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	/* through messages_time, then events_queue */
	[SQ_MESSAGE_PRUNE] = "DELETE FROM messages WHERE (account, queue_id) IN"
		" (SELECT account, queue_id FROM messages m WHERE time < ?1 AND NOT EXISTS"
		" (SELECT 1 FROM events e WHERE e.queue_id = m.queue_id"
		" AND e.account = m.account) LIMIT ?2)",
	/* one row per UTC day and type (and reason, for dropped and bounced);
	 * times before 1970 are not written */
	[SQ_EVENT_COUNT_DAYS] = "SELECT time / 86400 AS day, type, " STORE_EVENT_COUNT_REASON
		" AS why, count(*) FROM events WHERE account = ?1 AND time >= ?2 AND time < ?3"
		" GROUP BY day, type, why ORDER BY day, type, why",
	[SQ_NODE_GET] = "SELECT owner, stopped, " SQ_NOW " - reported FROM nodes WHERE name = ?1",
	[SQ_NODE_RENEW] = "UPDATE nodes SET owner = ?2, version = ?3, listeners = ?4,"
		" mail_address = ?5, imap_address = ?6, pop3_address = ?7, generation = generation + 1, started = " SQ_NOW ", reported = " SQ_NOW ","
		" stopped = 0, queue_active = 0 WHERE name = ?1 RETURNING number, generation, started",
	/* the smallest number no name holds */
	[SQ_NODE_ADD] = "WITH RECURSIVE n(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM n"
		" WHERE x < ?8) INSERT INTO nodes (name, owner, version, listeners, mail_address,"
		" imap_address, pop3_address, number, generation, started, reported)"
		" SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, free, 1, " SQ_NOW ","
		" " SQ_NOW " FROM (SELECT min(x) AS free FROM n WHERE x NOT IN"
		" (SELECT number FROM nodes)) WHERE free IS NOT NULL"
		" RETURNING number, generation, started",
	[SQ_NODE_REPORT] = "UPDATE nodes SET reported = " SQ_NOW ", queue_active = ?3"
		" WHERE name = ?1 AND generation = ?2",
	[SQ_NODE_STOP] = "UPDATE nodes SET reported = " SQ_NOW ", queue_active = ?3, stopped = 1"
		" WHERE name = ?1 AND generation = ?2",
	[SQ_NODE_LIST] = "SELECT " NODE_COLUMNS " FROM nodes ORDER BY name",
	[SQ_NODE_FORGET] = "DELETE FROM nodes WHERE name = ?1 AND (stopped OR reported <= "
		SQ_NOW " - ?2)",
	[SQ_NODE_EXISTS] = "SELECT 1 FROM nodes WHERE name = ?1",
	[SQ_SUPPRESSION_ADD] = "INSERT INTO suppressions (account, email, list, created, reason,"
		" status) VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (account, email, list)"
		" DO UPDATE SET created = excluded.created, reason = excluded.reason,"
		" status = excluded.status",
	[SQ_SUPPRESSION_REMOVE] = "DELETE FROM suppressions WHERE account = ?1 AND list = ?2"
		" AND email = ?3",
	[SQ_SUPPRESSION_CLEAR] = "DELETE FROM suppressions WHERE account = ?1 AND list = ?2",
	[SQ_SUPPRESSION_LIST] = "SELECT list, email, created, reason, status FROM suppressions"
		" WHERE account = ?1 AND list = ?2 AND (?3 IS NULL OR email = ?3)"
		" AND created >= ?4 AND (?5 = 0 OR created <= ?5)"
		" ORDER BY created DESC, email LIMIT ?6 OFFSET ?7",
	/* ?2: the addresses as a JSON array (one parameter for any number) */
	[SQ_SUPPRESSION_MATCH] = "SELECT email, list FROM suppressions WHERE account = ?1"
		" AND email IN (SELECT value FROM json_each(?2))",
	[SQ_WEBHOOK_GET] = "SELECT " WEBHOOK_COLUMNS " FROM webhooks WHERE account = ?1",
	/* turned on: from the newest event on */
	[SQ_WEBHOOK_SET] = "INSERT INTO webhooks (account, enabled, url, events, sign, sent_id,"
		" updated) VALUES (?1, ?2, ?3, ?4, ?5, (SELECT coalesce(max(id), 0) FROM events),"
		" ?6) ON CONFLICT (account) DO UPDATE SET enabled = excluded.enabled,"
		" url = excluded.url, events = excluded.events, sign = excluded.sign,"
		" sent_id = CASE WHEN excluded.enabled AND NOT webhooks.enabled"
		" THEN excluded.sent_id ELSE webhooks.sent_id END, updated = excluded.updated",
	[SQ_WEBHOOK_LIST_ENABLED] = "SELECT " WEBHOOK_COLUMNS " FROM webhooks"
		" WHERE enabled AND url <> '' ORDER BY account",
	[SQ_WEBHOOK_ADVANCE] = "UPDATE webhooks SET sent_id = ?3 WHERE account = ?1"
		" AND sent_id = ?2",
	[SQ_DMARC_EVAL_ADD] = "INSERT INTO dmarc_evaluations (" DMARC_EVAL_INSERT_COLUMNS ")"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
	[SQ_DMARC_EVAL_LIST] = "SELECT id, " DMARC_EVAL_INSERT_COLUMNS " FROM dmarc_evaluations"
		" WHERE time >= ?1 AND time < ?2 ORDER BY policy_domain, id",
	[SQ_DMARC_EVAL_PRUNE] = "DELETE FROM dmarc_evaluations WHERE time < ?1",
	[SQ_DMARC_REPORT_CLAIM] = "INSERT OR IGNORE INTO dmarc_reports (policy_domain, begin,"
		" made) VALUES (?1, ?2, ?3)",
	/* credentials.db */
	[SQ_CRED_GET] = "SELECT password_hash, scram FROM credentials WHERE name = ?1",
	[SQ_CRED_LIST] = "SELECT name, password_hash, scram FROM credentials ORDER BY name",
	[SQ_CRED_SET] = "INSERT INTO credentials (name, password_hash, scram) VALUES (?1, ?2, ?3)"
		" ON CONFLICT (name) DO UPDATE SET password_hash = excluded.password_hash,"
		" scram = excluded.scram",
	[SQ_CRED_ADD_MISSING] = "INSERT INTO credentials (name, password_hash, scram)"
		" VALUES (?1, ?2, ?3) ON CONFLICT (name) DO NOTHING",
	[SQ_CRED_REMOVE] = "DELETE FROM credentials WHERE name = ?1",
	[SQ_CRED_SCRAM_REPLACE] = "UPDATE credentials SET scram = ?3"
		" WHERE name = ?1 AND scram = ?2",
	/* 1 once petrel.db's old secrets have moved here, or were found gone:
	 * columns that come back later are not copied (sq_credentials_add_missing) */
	[SQ_CRED_MOVED_GET] = "PRAGMA user_version",
	[SQ_CRED_MOVED_SET] = "PRAGMA user_version = 1",
	[SQ_APIKEY_ADD] = "INSERT INTO apikeys (id, account, name, scopes, hash, created)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[SQ_APIKEY_GET] = "SELECT id, account, name, scopes, hash, created FROM apikeys"
		" WHERE id = ?1",
	[SQ_APIKEY_LIST] = "SELECT id, account, name, scopes, hash, created FROM apikeys"
		" WHERE account = ?1 ORDER BY created, id",
	[SQ_APIKEY_REMOVE] = "DELETE FROM apikeys WHERE id = ?1",
	[SQ_APIKEY_UPDATE] = "UPDATE apikeys SET name = coalesce(?2, name),"
		" scopes = coalesce(?3, scopes) WHERE id = ?1",
	[SQ_WEB_SECRET_PRUNE] = "DELETE FROM web_secrets WHERE expires <= ?1",
	[SQ_WEB_SECRET_ADD] = "INSERT INTO web_secrets (hash, kind, account, csrf, expires)"
		" VALUES (?1, ?2, ?3, ?4, ?5)",
	[SQ_WEB_SECRET_GET] = "SELECT account, csrf FROM web_secrets"
		" WHERE hash = ?1 AND kind = ?2 AND expires > ?3",
	[SQ_WEB_SECRET_TAKE] = "DELETE FROM web_secrets WHERE hash = ?1 AND kind = ?2"
		" AND expires > ?3 RETURNING account, csrf",
	[SQ_WEB_SECRET_REMOVE] = "DELETE FROM web_secrets WHERE hash = ?1 AND kind = ?2",
	[SQ_WEB_RATE_PRUNE] = "DELETE FROM web_rates WHERE start <= ?1 - ?2",
	/* a window over (it began WINDOW seconds ago or more) starts again */
	[SQ_WEB_RATE_TAKE] = "INSERT INTO web_rates (hash, start, count) VALUES (?1, ?2, 1)"
		" ON CONFLICT (hash) DO UPDATE SET"
		" start = CASE WHEN web_rates.start <= ?2 - ?3 THEN ?2 ELSE web_rates.start END,"
		" count = CASE WHEN web_rates.start <= ?2 - ?3 THEN 1 ELSE web_rates.count + 1 END"
		" RETURNING count",
	[SQ_WEB_SECRET_REMOVE_ACCOUNT] = "DELETE FROM web_secrets WHERE account = ?1"
		" AND kind = ?2",
};

/* ---- connections -------------------------------------------------------------------- */

struct sq_conn {
	sqlite3 *db;
	sqlite3_stmt *stmts[SQ_STMT_COUNT];
	struct sq_conn *next;   /* in the idle list */
};

struct sq_db {
	char *path;
	bool secret;           /* credentials.db: see db_open */
	int version;
	pthread_mutex_t lock;
	pthread_cond_t idle_cond;
	struct sq_conn *idle;
	unsigned opened;       /* connections in existence */
};

static struct sq_conn *conn_open(const char *path, bool secret, const char **error_r);
static void conn_close(struct sq_conn *c);
static struct sq_conn *conn_take(struct sq_db *d, const char **error_r);
static void conn_give(struct sq_db *d, struct sq_conn *c);

/* One bound parameter: text (NULL binds SQL NULL) or an integer.  Build
 * them with SQ_TEXT and SQ_INT inside SQ_ARGS, which passes the array and
 * its length. */
struct sq_arg {
	bool is_text;
	const char *text;
	int64_t num;
};
#define SQ_TEXT(s) { .is_text = true, .text = (s) }
#define SQ_INT(n) { .is_text = false, .num = (int64_t)(n) }
#define SQ_ARGS(...) (const struct sq_arg[]){ __VA_ARGS__ }, \
	(sizeof((const struct sq_arg[]){ __VA_ARGS__ }) / sizeof(struct sq_arg))
#define SQ_NO_ARGS NULL, 0

/* What sq_run calls for each result row. */
typedef void sq_row_fn(sqlite3_stmt *st, void *ctx);

/* Rows collected by rows_add: one MAKE(st) each, or without MAKE the text
 * of the first COLUMNS columns; NULL-terminated.  DROP frees one made row
 * (free() for text) when the list fails. */
struct sq_rows {
	void *(*make)(sqlite3_stmt *st);
	void (*drop)(void *row);
	int columns;
	void **v;
	size_t n, cap;
};

/* The first row, made by row_one. */
struct sq_one {
	void *(*make)(sqlite3_stmt *st);
	void *item;
};

/* Sender rules as the interface returns them: an array of structs. */
struct sender_rows {
	struct store_sender *v;
	size_t n, cap;
};

static sqlite3_stmt *stmt_get(struct sq_conn *c, enum sq_stmt id, const char **error_r);
static int sq_bind(sqlite3_stmt *st, const struct sq_arg *args, size_t n);
static int sq_run(struct sq_conn *c, enum sq_stmt id, const char *what,
		  const struct sq_arg *args, size_t n_args, sq_row_fn *row, void *ctx,
		  const char **error_r);
static int sq_do(struct sq_conn *c, enum sq_stmt id, const char *what,
		 const struct sq_arg *args, size_t n_args, const char **error_r);
static void sq_rollback(struct sq_conn *c);
static bool is_constraint(int r);
static char *col_dup(sqlite3_stmt *st, int col);
static sq_row_fn row_count, row_int, row_int64, row_one, rows_add, sender_add;
static int rows_list(struct sq_db *d, enum sq_stmt id, const char *what,
		     const struct sq_arg *args, size_t n_args, struct sq_rows *rows,
		     const char **error_r);
static int sq_write(struct sq_db *d, enum sq_stmt id, const char *what,
		    const struct sq_arg *args, size_t n_args, int *changes_r,
		    const char **error_r);
static int row_get(struct sq_db *d, enum sq_stmt id, const char *reading, const char *noun,
		   const char *name, void *(*make)(sqlite3_stmt *st), void (*drop)(void *row),
		   void **row_r, const char **error_r);
static int strv_query(struct sq_db *d, enum sq_stmt id, const struct sq_arg *args,
		      size_t n_args, bool pairs, char ***strv_r, const char **error_r);
static int exists_check(struct sq_conn *c, enum sq_stmt id, const char *reading,
			const char *noun, const char *name, const char **error_r);
static int counter_read(struct sq_conn *c, const char *account, const char *window,
			uint64_t *count_r, const char **error_r);
static void *plan_row(sqlite3_stmt *st);
static void *account_row(sqlite3_stmt *st);
static int account_count(struct sq_db *d, uint64_t *total_r, const char **error_r);
static int node_known(struct sq_conn *c, const char *name, const char **error_r);
static void *event_row(sqlite3_stmt *st);
static void plan_drop(void *row);
static void account_drop(void *row);
static void event_drop(void *row);
typedef int sq_finish_fn(struct sq_conn *c, const char **error_r);
static int schema_migrate(struct sq_conn *c, const char *const *migrations, int count,
			  sq_finish_fn *finish, int *version_r, const char **error_r);
static bool column_exists(struct sq_conn *c, const char *column, bool *exists_r,
			  const char **error_r);
static int legacy_drop(struct sq_conn *c, const char **error_r);
static sq_finish_fn legacy_drop_if_empty;
static struct sq_db *db_open(const char *dir, const char *file, mode_t mode,
			     bool secret, const char *const *migrations, int count,
			     sq_finish_fn *finish, const char **error_r);

/* conn_open - one configured connection; NULL and *error_r on failure */
static struct sq_conn *conn_open(const char *path, bool secret, const char **error_r)
{
	struct sq_conn *c = xcalloc(1, sizeof(*c));
	int r = sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				SQLITE_OPEN_NOMUTEX, NULL);
	if (r != SQLITE_OK) {
		*error_r = store_error("%s: %s", path,
				       c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(r));
		goto fail;
	}
	sqlite3_extended_result_codes(c->db, 1);
	sqlite3_busy_timeout(c->db, STORE_SQLITE_BUSY_MS);
	char *msg = NULL;
	/* journal_mode=WAL is persistent in the file; setting it again is a no-op */
	r = sqlite3_exec(c->db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
			 " PRAGMA foreign_keys = ON;", NULL, NULL, &msg);
	if (r != SQLITE_OK) {
		*error_r = store_error("%s: %s", path, msg ? msg : sqlite3_errstr(r));
		sqlite3_free(msg);
		goto fail;
	}
	if (secret && (r = sqlite3_exec(c->db, "PRAGMA secure_delete = ON;", NULL, NULL,
				       &msg)) != SQLITE_OK) {
		*error_r = store_error("%s: %s", path, msg ? msg : sqlite3_errstr(r));
		sqlite3_free(msg);
		goto fail;
	}
	return c;
fail:
	conn_close(c);
	return NULL;
}

static void conn_close(struct sq_conn *c)
{
	for (int i = 0; i < SQ_STMT_COUNT; i++)
		sqlite3_finalize(c->stmts[i]);
	sqlite3_close(c->db);
	free(c);
}

/* conn_take - an idle connection, a new one if fewer than the maximum
 * exist, else wait for one to come back */
static struct sq_conn *conn_take(struct sq_db *d, const char **error_r)
{
	struct sq_conn *c = NULL;
	bool open_new = false;
	pthread_mutex_lock(&d->lock);
	while (!d->idle && d->opened >= STORE_SQLITE_CONNECTIONS)
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
	if (open_new) {
		c = conn_open(d->path, d->secret, error_r);
		if (!c) {
			pthread_mutex_lock(&d->lock);
			d->opened--;
			pthread_cond_signal(&d->idle_cond);
			pthread_mutex_unlock(&d->lock);
		}
	}
	return c;
}

static void conn_give(struct sq_db *d, struct sq_conn *c)
{
	pthread_mutex_lock(&d->lock);
	c->next = d->idle;
	d->idle = c;
	pthread_cond_signal(&d->idle_cond);
	pthread_mutex_unlock(&d->lock);
}

/* stmt_get - the connection's prepared statement ID, ready to bind */
static sqlite3_stmt *stmt_get(struct sq_conn *c, enum sq_stmt id, const char **error_r)
{
	if (!c->stmts[id] &&
	    sqlite3_prepare_v3(c->db, SQL[id], -1, SQLITE_PREPARE_PERSISTENT, &c->stmts[id],
			       NULL) != SQLITE_OK) {
		*error_r = store_error("preparing a statement: %s", sqlite3_errmsg(c->db));
		c->stmts[id] = NULL;
		return NULL;
	}
	return c->stmts[id];
}

/* sq_bind - bind ARGS[0..N) to ?1..?N; SQLITE_OK or the failing code */
static int sq_bind(sqlite3_stmt *st, const struct sq_arg *args, size_t n)
{
	int r = SQLITE_OK;
	for (size_t i = 0; r == SQLITE_OK && i < n; i++) {
		int pos = (int)i + 1;
		if (args[i].is_text && args[i].text)
			/* the text outlives the step: sq_run steps before it returns */
			r = sqlite3_bind_text(st, pos, args[i].text, -1, SQLITE_STATIC);
		else if (args[i].is_text)
			r = sqlite3_bind_null(st, pos);
		else
			r = sqlite3_bind_int64(st, pos, args[i].num);
	}
	return r;
}

/* sq_run - the one way a statement runs: take the connection's prepared
 * statement ID, bind ARGS to ?1..?N, step to the end handing each row to
 * ROW(st, CTX) (ROW may be NULL), then reset it and clear its bindings.
 * Returns the last code: SQLITE_DONE when all went well (sqlite3_changes
 * then tells what a write did).  Any other code comes with *error_r set to
 * "WHAT: SQLite's message"; a caller that expects a constraint error puts
 * its own words there.  -1 if the statement could not be prepared. */
static int sq_run(struct sq_conn *c, enum sq_stmt id, const char *what,
		  const struct sq_arg *args, size_t n_args, sq_row_fn *row, void *ctx,
		  const char **error_r)
{
	sqlite3_stmt *st = stmt_get(c, id, error_r);
	if (!st)
		return -1;
	int r = sq_bind(st, args, n_args);
	if (r == SQLITE_OK) {
		while ((r = sqlite3_step(st)) == SQLITE_ROW) {
			if (row)
				row(st, ctx);
		}
	}
	if (r != SQLITE_DONE)
		*error_r = store_error("%s: %s", what, sqlite3_errmsg(c->db));
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return r;
}

/* sq_do - sq_run for a statement without rows: 0, or -1 with *error_r */
static int sq_do(struct sq_conn *c, enum sq_stmt id, const char *what,
		 const struct sq_arg *args, size_t n_args, const char **error_r)
{
	return sq_run(c, id, what, args, n_args, NULL, NULL, error_r) == SQLITE_DONE ? 0 : -1;
}

static bool is_constraint(int r)
{
	return r > 0 && (r & 0xff) == SQLITE_CONSTRAINT;
}

static void sq_rollback(struct sq_conn *c)
{
	const char *ignored;
	if (!sqlite3_get_autocommit(c->db))
		(void)sq_do(c, SQ_ROLLBACK, "rolling back", SQ_NO_ARGS, &ignored);
}

static char *col_dup(sqlite3_stmt *st, int col)
{
	const unsigned char *s = sqlite3_column_text(st, col);
	return s ? xstrdup((const char *)s) : NULL;
}

/* row_count - a sq_row_fn: counts rows in the size_t at CTX */
static void row_count(sqlite3_stmt *st, void *ctx)
{
	(void)st;
	(*(size_t *)ctx)++;
}

/* row_int - a sq_row_fn: column 0 of the row into the int at CTX */
static void row_int(sqlite3_stmt *st, void *ctx)
{
	*(int *)ctx = sqlite3_column_int(st, 0);
}

/* row_int64 - a sq_row_fn: column 0 of the row into the int64_t at CTX */
static void row_int64(sqlite3_stmt *st, void *ctx)
{
	*(int64_t *)ctx = sqlite3_column_int64(st, 0);
}

/* rows_add - a sq_row_fn: appends to the struct sq_rows at CTX one
 * MAKE(st) per row, or without MAKE the text of its first COLUMNS columns;
 * one NULL slot stays after the last entry */
static void rows_add(sqlite3_stmt *st, void *ctx)
{
	struct sq_rows *rows = ctx;
	int k = rows->make ? 1 : rows->columns;
	if (rows->n + (size_t)k + 1 > rows->cap) {
		rows->cap *= 2;
		rows->v = xrealloc(rows->v, rows->cap * sizeof(*rows->v));
	}
	if (rows->make)
		rows->v[rows->n++] = rows->make(st);
	else
		for (int i = 0; i < k; i++)
			rows->v[rows->n++] = col_dup(st, i);
	rows->v[rows->n] = NULL;
}

/* rows_list - every row of ID (with ARGS) into ROWS (its make, drop or
 * columns set by the caller; its array allocated here even when empty); on
 * -1 nothing is left in ROWS */
static int rows_list(struct sq_db *d, enum sq_stmt id, const char *what,
		     const struct sq_arg *args, size_t n_args, struct sq_rows *rows,
		     const char **error_r)
{
	struct sq_conn *c = conn_take(d, error_r);
	if (!c)
		return -1;
	rows->cap = 8;
	rows->n = 0;
	rows->v = xcalloc(rows->cap, sizeof(*rows->v));
	int rc = sq_run(c, id, what, args, n_args, rows_add, rows, error_r) == SQLITE_DONE
		 ? 0 : -1;
	conn_give(d, c);
	if (rc != 0) {
		for (size_t i = 0; i < rows->n; i++)
			rows->drop ? rows->drop(rows->v[i]) : free(rows->v[i]);
		free(rows->v);
		rows->v = NULL;
		rows->n = 0;
	}
	return rc;
}

/* sq_write - statement ID (with ARGS, no rows) on a connection of its own:
 * sq_run's code, and with CHANGES_R the rows it changed; -1 if no
 * connection could be had */
static int sq_write(struct sq_db *d, enum sq_stmt id, const char *what,
		    const struct sq_arg *args, size_t n_args, int *changes_r,
		    const char **error_r)
{
	struct sq_conn *c = conn_take(d, error_r);
	if (!c)
		return -1;
	int r = sq_run(c, id, what, args, n_args, NULL, NULL, error_r);
	if (changes_r)
		*changes_r = sqlite3_changes(c->db);
	conn_give(d, c);
	return r;
}

/* row_get - the row of ID for NAME, made by MAKE, into *ROW_R;
 * STORE_NOT_FOUND with *error_r = "no NOUN NAME"; or -1 (DROP frees a row
 * read before a failure) */
static int row_get(struct sq_db *d, enum sq_stmt id, const char *reading, const char *noun,
		   const char *name, void *(*make)(sqlite3_stmt *st), void (*drop)(void *row),
		   void **row_r, const char **error_r)
{
	struct sq_conn *c = conn_take(d, error_r);
	if (!c)
		return -1;
	struct sq_one one = { .make = make };
	int rc = sq_run(c, id, reading, SQ_ARGS(SQ_TEXT(name)), row_one, &one, error_r) ==
		 SQLITE_DONE ? 0 : -1;
	conn_give(d, c);
	if (rc == 0 && one.item) {
		*row_r = one.item;
	} else if (rc == 0) {
		*error_r = store_error("no %s %s", noun, name);
		rc = STORE_NOT_FOUND;
	} else if (one.item) {
		drop(one.item);
	}
	return rc;
}

/* schema_migrate - bring the schema to COUNT steps of MIGRATIONS in one
 * transaction, then FINISH (may be NULL) in the same transaction */
static int schema_migrate(struct sq_conn *c, const char *const *migrations, int count,
			  sq_finish_fn *finish, int *version_r, const char **error_r)
{
	char *msg = NULL;
	int version = 0;
	const char *failed; /* sq_run's text; the message below is SQLite's own */
	if (sqlite3_exec(c->db, "BEGIN IMMEDIATE;"
			 " CREATE TABLE IF NOT EXISTS schema_version ("
			 " version INTEGER PRIMARY KEY NOT NULL, applied INTEGER NOT NULL);",
			 NULL, NULL, &msg) != SQLITE_OK)
		goto out;
	if (sq_run(c, SQ_SCHEMA_VERSION, "reading the schema version", SQ_NO_ARGS,
		   row_int, &version, &failed) != SQLITE_DONE)
		goto out;
	if (version > count) {
		*error_r = store_error("the database is at schema version %d, newer than this"
				       " petrel knows (%d)", version, count);
		sq_rollback(c);
		return -1;
	}
	for (int v = version + 1; v <= count; v++) {
		if (sqlite3_exec(c->db, migrations[v - 1], NULL, NULL, &msg) != SQLITE_OK)
			goto out;
		if (sq_do(c, SQ_SCHEMA_APPLIED, "recording a migration", SQ_ARGS(SQ_INT(v)),
			  &failed) < 0)
			goto out;
	}
	if (finish && finish(c, &failed) != 0) {
		*error_r = store_error("migrating the schema from version %d: %s", version,
				       failed);
		sq_rollback(c);
		return -1;
	}
	if (sqlite3_exec(c->db, "COMMIT", NULL, NULL, &msg) != SQLITE_OK)
		goto out;
	*version_r = count;
	return 0;
out:
	*error_r = store_error("migrating the schema from version %d: %s", version,
			       msg ? msg : sqlite3_errmsg(c->db));
	sqlite3_free(msg);
	sq_rollback(c);
	return -1;
}

/* column_exists - whether petrel.db's accounts table has COLUMN; false
 * with *error_r if that cannot be read */
static bool column_exists(struct sq_conn *c, const char *column, bool *exists_r,
			  const char **error_r)
{
	int n = 0;
	if (sq_run(c, SQ_LEGACY_COLUMNS, "reading the accounts table", SQ_ARGS(SQ_TEXT(column)),
		   row_int, &n, error_r) != SQLITE_DONE)
		return false;
	*exists_r = n > 0;
	return true;
}

/* legacy_drop - drop the secret columns of versions 1-2 that are left,
 * inside the caller's transaction.  secure_delete zeroes the space the old
 * values leave, so that no hash stays readable in petrel.db's free space. */
static int legacy_drop(struct sq_conn *c, const char **error_r)
{
	static const char *const COLUMNS[] = { "password_hash", "scram" };
	static const char *const DROP[] = {
		"ALTER TABLE accounts DROP COLUMN password_hash",
		"ALTER TABLE accounts DROP COLUMN scram",
	};
	int rc = 0;
	bool read_failed = false;   /* column_exists has set *error_r */
	char *msg = NULL;
	if (sqlite3_exec(c->db, "PRAGMA secure_delete = ON", NULL, NULL, &msg) != SQLITE_OK)
		rc = -1;
	for (size_t i = 0; rc == 0 && i < sizeof(COLUMNS) / sizeof(COLUMNS[0]); i++) {
		bool exists = false;
		if (!column_exists(c, COLUMNS[i], &exists, error_r)) {
			read_failed = true;
			rc = -1;
		} else if (exists && sqlite3_exec(c->db, DROP[i], NULL, NULL, &msg) != SQLITE_OK) {
			rc = -1;
		}
	}
	if (rc != 0 && !read_failed)
		*error_r = store_error("dropping the password columns of petrel.db: %s",
				       msg ? msg : sqlite3_errmsg(c->db));
	sqlite3_free(msg);
	(void)sqlite3_exec(c->db, "PRAGMA secure_delete = OFF", NULL, NULL, NULL);
	return rc;
}

/* legacy_drop_if_empty - a sq_finish_fn for petrel.db: without any account
 * there is no secret to move, so the columns go at once (a new database,
 * or an old one without accounts) */
static int legacy_drop_if_empty(struct sq_conn *c, const char **error_r)
{
	int64_t accounts = 0;
	bool exists = false;
	if (!column_exists(c, "password_hash", &exists, error_r))
		return -1;
	if (!exists)
		return 0;
	if (sq_run(c, SQ_ACCOUNT_COUNT, "counting accounts", SQ_NO_ARGS, row_int64, &accounts,
		   error_r) != SQLITE_DONE)
		return -1;
	return accounts == 0 ? legacy_drop(c, error_r) : 0;
}

/* ---- open, close -------------------------------------------------------------------------- */

/* db_open - DIR/FILE, created with MODE if missing (SQLite would make it
 * 0644; the -wal and -shm files copy the database file's mode), migrated
 * with MIGRATIONS and FINISH; DIR must exist.  A SECRET database gets MODE
 * even if it existed with another, and its connections overwrite what they
 * delete (secure_delete: an old hash does not linger in free pages). */
static struct sq_db *db_open(const char *dir, const char *file, mode_t mode,
			     bool secret, const char *const *migrations, int count,
			     sq_finish_fn *finish, const char **error_r)
{
	char *path = xasprintf("%s/%s", dir, file);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0) {
		*error_r = store_error("%s: %s", path, strerror(errno));
		free(path);
		return NULL;
	}
	if (secret && fchmod(fd, mode) < 0) {
		*error_r = store_error("%s: chmod: %s", path, strerror(errno));
		(void)close(fd);
		free(path);
		return NULL;
	}
	if (close(fd) < 0) {
		*error_r = store_error("%s: %s", path, strerror(errno));
		free(path);
		return NULL;
	}
	struct sq_conn *c = conn_open(path, secret, error_r);
	int version = 0;
	if (!c || schema_migrate(c, migrations, count, finish, &version, error_r) < 0) {
		if (c)
			conn_close(c);
		free(path);
		return NULL;
	}
	struct sq_db *d = xcalloc(1, sizeof(*d));
	d->path = path;
	d->secret = secret;
	d->version = version;
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->idle_cond, NULL);
	d->idle = c;
	d->opened = 1;
	return d;
}

static void *sq_open(const struct store_settings *settings, const char **error_r)
{
	const char *data_dir = settings->data_dir;
	if (mkdir(data_dir, 0750) < 0 && errno != EEXIST) {
		*error_r = store_error("%s: %s", data_dir, strerror(errno));
		return NULL;
	}
	return db_open(data_dir, STORE_SQLITE_FILE, 0640, false, MIGRATIONS, MIGRATION_COUNT,
		       legacy_drop_if_empty, error_r);
}

static void sq_close(void *db)
{
	struct sq_db *d = db;
	/* every connection must have been given back: callers are done */
	while (d->idle) {
		struct sq_conn *c = d->idle;
		d->idle = c->next;
		conn_close(c);
	}
	pthread_mutex_destroy(&d->lock);
	pthread_cond_destroy(&d->idle_cond);
	free(d->path);
	free(d);
}

static int sq_schema_version(void *db)
{
	return ((struct sq_db *)db)->version;
}

/* ---- domains ---------------------------------------------------------------------------------- */

static int sq_domain_add(void *db, const char *domain, const char **error_r)
{
	int r = sq_write(db, SQ_DOMAIN_ADD, "adding a domain", SQ_ARGS(SQ_TEXT(domain)), NULL,
			 error_r);
	if (is_constraint(r)) {
		*error_r = store_error("domain %s exists already", domain);
		return STORE_EXISTS;
	}
	return r == SQLITE_DONE ? 0 : -1;
}

static int sq_domain_remove(void *db, const char *domain, const char **error_r)
{
	int changes;
	if (sq_write(db, SQ_DOMAIN_REMOVE, "removing a domain", SQ_ARGS(SQ_TEXT(domain)),
		     &changes, error_r) != SQLITE_DONE)
		return -1;
	if (changes == 0) {
		*error_r = store_error("no domain %s", domain);
		return STORE_NOT_FOUND;
	}
	return 0;
}

static int sq_domain_exists(void *db, const char *domain, bool *exists_r, const char **error_r)
{
	struct sq_db *d = db;
	struct sq_conn *c = conn_take(d, error_r);
	if (!c)
		return -1;
	size_t rows = 0;
	int rc = sq_run(c, SQ_DOMAIN_EXISTS, "looking up a domain", SQ_ARGS(SQ_TEXT(domain)),
			row_count, &rows, error_r) == SQLITE_DONE ? 0 : -1;
	if (rc == 0)
		*exists_r = rows > 0;
	conn_give(d, c);
	return rc;
}

/* strv_query - the first column of every row of ID (with ARGS) as a
 * NULL-terminated array; with PAIRS, the first two columns */
static int strv_query(struct sq_db *d, enum sq_stmt id, const struct sq_arg *args,
		      size_t n_args, bool pairs, char ***strv_r, const char **error_r)
{
	struct sq_rows rows = { .columns = pairs ? 2 : 1 };
	int rc = rows_list(d, id, "reading a list", args, n_args, &rows, error_r);
	if (rc == 0)
		*strv_r = (char **)rows.v;
	return rc;
}

static int sq_domain_list(void *db, char ***domains_r, const char **error_r)
{
	return strv_query(db, SQ_DOMAIN_LIST, SQ_NO_ARGS, false, domains_r, error_r);
}

/* ---- plans ----------------------------------------------------------------------------------- */

static int sq_plan_set(void *db, const struct store_plan *plan, const char **error_r)
{
	return sq_write(db, SQ_PLAN_SET, "setting a plan",
			SQ_ARGS(SQ_TEXT(plan->name), SQ_INT(plan->daily_limit),
				SQ_INT(plan->per_minute), SQ_INT(plan->quota_bytes),
				SQ_INT(plan->quota_messages)), NULL, error_r) == SQLITE_DONE ? 0 : -1;
}

static void plan_drop(void *row)
{
	struct store_plan *p = row;
	store_plan_free(&p);
}

/* plan_row - one row of SQ_PLAN_GET/LIST */
static void *plan_row(sqlite3_stmt *st)
{
	struct store_plan *p = xcalloc(1, sizeof(*p));
	p->name = col_dup(st, 0);
	p->daily_limit = (unsigned)sqlite3_column_int64(st, 1);
	p->per_minute = (unsigned)sqlite3_column_int64(st, 2);
	p->quota_bytes = sqlite3_column_int64(st, 3);
	p->quota_messages = sqlite3_column_int64(st, 4);
	return p;
}

/* row_one - a sq_row_fn: the first row made by the struct sq_one's MAKE */
static void row_one(sqlite3_stmt *st, void *ctx)
{
	struct sq_one *one = ctx;
	if (!one->item)
		one->item = one->make(st);
}

static int sq_plan_get(void *db, const char *name, struct store_plan **plan_r,
		       const char **error_r)
{
	void *row;
	int rc = row_get(db, SQ_PLAN_GET, "reading a plan", "plan", name, plan_row, plan_drop,
			 &row, error_r);
	if (rc == 0)
		*plan_r = row;
	return rc;
}

static int sq_account_plan_get(void *db, const char *account, struct store_plan **plan_r,
			       const char **error_r)
{
	void *row;
	int rc = row_get(db, SQ_ACCOUNT_PLAN_GET, "reading an account's plan", "account",
			 account, plan_row, plan_drop, &row, error_r);
	if (rc == 0)
		*plan_r = row;
	return rc;
}

static int sq_plan_list(void *db, struct store_plan ***plans_r, size_t *count_r,
			const char **error_r)
{
	struct sq_rows rows = { .make = plan_row, .drop = plan_drop };
	int rc = rows_list(db, SQ_PLAN_LIST, "listing plans", SQ_NO_ARGS, &rows, error_r);
	if (rc == 0) {
		*plans_r = (struct store_plan **)rows.v;
		*count_r = rows.n;
	}
	return rc;
}

/* ---- accounts ---------------------------------------------------------------------------------- */

static void account_drop(void *row)
{
	struct store_account *a = row;
	store_account_free(&a);
}

/* account_row - one row of SQ_ACCOUNT_GET/LIST */
static void *account_row(sqlite3_stmt *st)
{
	struct store_account *a = xcalloc(1, sizeof(*a));
	a->name = col_dup(st, 0);
	a->plan = col_dup(st, 1);
	a->daily_limit = (long)sqlite3_column_int64(st, 2);
	a->per_minute = (long)sqlite3_column_int64(st, 3);
	a->sandbox = sqlite3_column_int(st, 4) != 0;
	a->disabled = sqlite3_column_int(st, 5) != 0;
	a->any_from = sqlite3_column_int(st, 6) != 0;
	a->created = (time_t)sqlite3_column_int64(st, 7);
	a->home_node = col_dup(st, 8);
	a->unverified = sqlite3_column_int(st, 9) != 0;
	a->pending = sqlite3_column_int(st, 10) != 0;
	return a;
}

/* ACCOUNT_ARGS - ACCOUNT_COLUMNS' values from A, for ?1..?11 */
#define ACCOUNT_ARGS(a) \
	SQ_ARGS(SQ_TEXT((a)->name), SQ_TEXT((a)->plan), SQ_INT((a)->daily_limit), \
		SQ_INT((a)->per_minute), SQ_INT((a)->sandbox), SQ_INT((a)->disabled), \
		SQ_INT((a)->any_from), SQ_INT((a)->created), SQ_TEXT((a)->home_node), \
		SQ_INT((a)->unverified), SQ_INT((a)->pending))

/* exists_check - 0 if statement ID (READING it) finds a row for NAME;
 * STORE_NOT_FOUND with *error_r = "no NOUN NAME"; or -1 */
static int exists_check(struct sq_conn *c, enum sq_stmt id, const char *reading,
			const char *noun, const char *name, const char **error_r)
{
	size_t rows = 0;
	if (sq_run(c, id, reading, SQ_ARGS(SQ_TEXT(name)), row_count, &rows,
		   error_r) != SQLITE_DONE)
		return -1;
	if (rows > 0)
		return 0;
	*error_r = store_error("no %s %s", noun, name);
	return STORE_NOT_FOUND;
}

static int sq_account_add(void *db, const struct store_account *account, const char **error_r)
{
	struct sq_db *d = db;
	struct sq_conn *c = conn_take(d, error_r);
	if (!c)
		return -1;
	int rc = exists_check(c, SQ_PLAN_GET, "reading a plan", "plan", account->plan,
				   error_r) == 0 ? 0 : -1;
	if (rc == 0 && account->home_node)
		rc = node_known(c, account->home_node, error_r);
	if (rc == 0) {
		int r = sq_run(c, SQ_ACCOUNT_ADD, "adding an account", ACCOUNT_ARGS(account), NULL,
			       NULL, error_r);
		if (r == SQLITE_DONE) {
			rc = 0;
		} else if (r == SQLITE_CONSTRAINT_NOTNULL) {
			/* password_hash of versions 1-2, still there */
			*error_r = store_error("petrel.db still holds the password hashes of an"
					       " older version: store_credentials_migrate moves"
					       " them first");
			rc = -1;
		} else if (is_constraint(r) && r != SQLITE_CONSTRAINT_FOREIGNKEY) {
			*error_r = store_error("account %s exists already", account->name);
			rc = STORE_EXISTS;
		} else {
			rc = -1;
		}
	}
	conn_give(d, c);
	return rc;
}

static int sq_account_get(void *db, const char *name, struct store_account **account_r,
			  const char **error_r)
{
	void *row;
	int rc = row_get(db, SQ_ACCOUNT_GET, "reading an account", "account", name, account_row,
			 account_drop, &row, error_r);
	if (rc == 0)
		*account_r = row;
	return rc;
}

static int sq_account_update(void *db, const struct store_account *account,
			     const char **error_r)
{
	struct sq_db *d = db;
	struct sq_conn *c = conn_take(d, error_r);
	if (!c)
		return -1;
	int rc = exists_check(c, SQ_PLAN_GET, "reading a plan", "plan", account->plan,
				   error_r) == 0 ? 0 : -1;
	if (rc == 0)
		rc = sq_do(c, SQ_ACCOUNT_UPDATE, "updating an account",
			   SQ_ARGS(SQ_TEXT(account->name), SQ_TEXT(account->plan),
				   SQ_INT(account->daily_limit), SQ_INT(account->per_minute),
				   SQ_INT(account->sandbox), SQ_INT(account->disabled),
				   SQ_INT(account->any_from), SQ_INT(account->unverified),
				   SQ_INT(account->pending)), error_r);
	if (rc == 0 && sqlite3_changes(c->db) == 0) {
		*error_r = store_error("no account %s", account->name);
		rc = STORE_NOT_FOUND;
	}
	conn_give(d, c);
	return rc;
}

static int sq_account_remove(void *db, const char *name, const char **error_r)
{
	struct sq_db *d = db;
	struct sq_conn *c = conn_take(d, error_r);
	if (!c)
		return -1;
	int rc = sq_do(c, SQ_BEGIN, "starting a transaction", SQ_NO_ARGS, error_r);
	if (rc == 0)
		rc = sq_do(c, SQ_ACCOUNT_COUNTERS_REMOVE, "removing an account's counters",
			   SQ_ARGS(SQ_TEXT(name)), error_r);
	if (rc == 0)
		rc = sq_do(c, SQ_ACCOUNT_REMOVE, "removing an account", SQ_ARGS(SQ_TEXT(name)),
			   error_r);
	if (rc == 0 && sqlite3_changes(c->db) == 0) {
		*error_r = store_error("no account %s", name);
		rc = STORE_NOT_FOUND;
	}
	if (rc == 0)
		rc = sq_do(c, SQ_COMMIT, "committing", SQ_NO_ARGS, error_r);
	if (rc != 0)
		sq_rollback(c);
	conn_give(d, c);
	return rc;
}

static int sq_account_list(void *db, uint64_t offset, uint64_t limit,
			   struct store_account ***accounts_r, size_t *count_r, uint64_t *total_r,
			   const char **error_r)
{
	struct sq_rows rows = { .make = account_row, .drop = account_drop };
	/* LIMIT -1: none; INT64_MAX bounds what a uint64_t may say */
	int64_t max = limit && limit < INT64_MAX ? (int64_t)limit : -1;
	int64_t skip = offset < INT64_MAX ? (int64_t)offset : INT64_MAX;
	if (total_r && account_count(db, total_r, error_r) != 0)
		return -1;
	int rc = rows_list(db, SQ_ACCOUNT_LIST, "listing accounts",
			   SQ_ARGS(SQ_INT(max), SQ_INT(skip)), &rows, error_r);
	if (rc == 0) {
		*accounts_r = (struct store_account **)rows.v;
		*count_r = rows.n;
	}
	return rc;
}

/* account_count - how many accounts there are, into *TOTAL_R */
static int account_count(struct sq_db *d, uint64_t *total_r, const char **error_r)
{
	struct sq_conn *c = conn_take(d, error_r);
	if (!c)
		return -1;
	int64_t n = 0;
	int rc = sq_run(c, SQ_ACCOUNT_COUNT, "counting accounts", SQ_NO_ARGS, row_int64, &n,
			error_r) == SQLITE_DONE ? 0 : -1;
	conn_give(d, c);
	*total_r = n > 0 ? (uint64_t)n : 0;
	return rc;
}

/* sq_legacy_secrets_move - see struct store_backend.  The write lock is held
 * from the read to the drop: no account can change meanwhile, and the
 * columns go only after COPY has committed the rows elsewhere.  Once they
 * are gone (every open after the first) a plain read says so, without
 * taking the lock the running server's writers need. */
static int sq_legacy_secrets_move(void *db,
				  int (*copy)(void *ctx, char *const *rows, size_t n,
					      const char **error_r),
				  void *ctx, const char **error_r)
{
	struct sq_db *d = db;
	struct sq_conn *c = conn_take(d, error_r);
	if (!c)
		return -1;
	struct sq_rows rows = { .columns = 3, .cap = 8 };
	rows.v = xcalloc(rows.cap, sizeof(*rows.v));
	bool exists = false;
	int rc = column_exists(c, "password_hash", &exists, error_r) ? 0 : -1;
	if (rc == 0 && exists)
		rc = sq_do(c, SQ_BEGIN, "starting a transaction", SQ_NO_ARGS, error_r);
	if (rc == 0 && exists && !column_exists(c, "password_hash", &exists, error_r))
		rc = -1;
	if (rc == 0 && exists &&
	    sq_run(c, SQ_LEGACY_SECRETS, "reading the password hashes", SQ_NO_ARGS, rows_add,
		   &rows, error_r) != SQLITE_DONE)
		rc = -1;
	/* without the columns too: the credentials record that nothing is
	 * left to move */
	if (rc == 0)
		rc = copy(ctx, (char *const *)rows.v, rows.n / 3, error_r);
	if (rc == 0 && exists)
		rc = legacy_drop(c, error_r);
	if (rc == 0 && !sqlite3_get_autocommit(c->db))
		rc = sq_do(c, SQ_COMMIT, "committing", SQ_NO_ARGS, error_r);
	if (rc != 0)
		sq_rollback(c);
	/* the old pages, hashes and all, leave the WAL file too (best effort:
	 * a reader in another process may hold the checkpoint back) */
	if (rc == 0 && exists)
		(void)sqlite3_exec(c->db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
	conn_give(d, c);
	for (size_t i = 0; i < rows.n; i++) {
		if (rows.v[i])
			OPENSSL_cleanse(rows.v[i], strlen(rows.v[i]));
		free(rows.v[i]);
	}
	free(rows.v);
	return rc;
}

/* ---- sender rules ------------------------------------------------------------------------------ */

static int sq_sender_set(void *db, const char *account, const char *pattern, bool allow,
			 const char **error_r)
{
	int r = sq_write(db, SQ_SENDER_SET, "setting a sender rule",
			 SQ_ARGS(SQ_TEXT(account), SQ_TEXT(pattern), SQ_INT(allow)), NULL, error_r);
	if (r == SQLITE_CONSTRAINT_FOREIGNKEY) {
		*error_r = store_error("no account %s", account);
		return STORE_NOT_FOUND;
	}
	return r == SQLITE_DONE ? 0 : -1;
}

static int sq_sender_remove(void *db, const char *account, const char *pattern,
			    const char **error_r)
{
	int changes;
	if (sq_write(db, SQ_SENDER_REMOVE, "removing a sender rule",
		     SQ_ARGS(SQ_TEXT(account), SQ_TEXT(pattern)), &changes, error_r) != SQLITE_DONE)
		return -1;
	if (changes == 0) {
		*error_r = store_error("no sender rule %s for %s", pattern, account);
		return STORE_NOT_FOUND;
	}
	return 0;
}

/* sender_add - a sq_row_fn: one row of SQ_SENDER_LIST onto the struct
 * sender_rows at CTX (the interface returns an array of structs) */
static void sender_add(sqlite3_stmt *st, void *ctx)
{
	struct sender_rows *rows = ctx;
	if (rows->n + 1 >= rows->cap) {
		rows->cap *= 2;
		rows->v = xrealloc(rows->v, rows->cap * sizeof(*rows->v));
	}
	rows->v[rows->n].pattern = col_dup(st, 0);
	rows->v[rows->n].allow = sqlite3_column_int(st, 1) != 0;
	rows->n++;
}

static int sq_sender_list(void *db, const char *account, struct store_sender **senders_r,
			  size_t *count_r, const char **error_r)
{
	struct sq_db *d = db;
	struct sq_conn *c = conn_take(d, error_r);
	if (!c)
		return -1;
	struct sender_rows rows = { .cap = 4 };
	rows.v = xcalloc(rows.cap, sizeof(*rows.v));
	int rc = exists_check(c, SQ_ACCOUNT_GET, "reading an account", "account", account,
			      error_r);
	if (rc == 0 && sq_run(c, SQ_SENDER_LIST, "listing sender rules", SQ_ARGS(SQ_TEXT(account)),
			      sender_add, &rows, error_r) != SQLITE_DONE)
		rc = -1;
	conn_give(d, c);
	if (rc == 0) {
		*senders_r = rows.v;
		*count_r = rows.n;
	} else {
		store_sender_list_free(&rows.v, rows.n);
	}
	return rc;
}

/* ---- aliases ------------------------------------------------------------------------------------- */

static int sq_alias_add(void *db, const char *address, const char *target, const char **error_r)
{
	int r = sq_write(db, SQ_ALIAS_ADD, "adding an alias",
			 SQ_ARGS(SQ_TEXT(address), SQ_TEXT(target)), NULL, error_r);
	if (is_constraint(r)) {
		*error_r = store_error("alias %s -> %s exists already", address, target);
		return STORE_EXISTS;
	}
	return r == SQLITE_DONE ? 0 : -1;
}

static int sq_alias_remove(void *db, const char *address, const char *target,
			   const char **error_r)
{
	int changes;
	int r = target ? sq_write(db, SQ_ALIAS_REMOVE, "removing an alias",
				  SQ_ARGS(SQ_TEXT(address), SQ_TEXT(target)), &changes, error_r)
		       : sq_write(db, SQ_ALIAS_REMOVE_ALL, "removing an alias",
				  SQ_ARGS(SQ_TEXT(address)), &changes, error_r);
	if (r != SQLITE_DONE)
		return -1;
	if (changes == 0) {
		*error_r = target ? store_error("no alias %s -> %s", address, target)
				  : store_error("no alias %s", address);
		return STORE_NOT_FOUND;
	}
	return 0;
}

static int sq_alias_list(void *db, char ***list_r, const char **error_r)
{
	return strv_query(db, SQ_ALIAS_LIST, SQ_NO_ARGS, true, list_r, error_r);
}

static int sq_alias_targets(void *db, const char *address, char ***targets_r,
			    const char **error_r)
{
	return strv_query(db, SQ_ALIAS_TARGETS, SQ_ARGS(SQ_TEXT(address)), false, targets_r,
			  error_r);
}

/* ---- counters ----------------------------------------------------------------------------------- */

/* counter_read - the count of ACCOUNT in WINDOW, 0 if there is none */
static int counter_read(struct sq_conn *c, const char *account, const char *window,
			uint64_t *count_r, const char **error_r)
{
	int64_t count = 0;
	if (sq_run(c, SQ_COUNTER_GET, "reading a counter",
		   SQ_ARGS(SQ_TEXT(account), SQ_TEXT(window)), row_int64, &count,
		   error_r) != SQLITE_DONE)
		return -1;
	*count_r = (uint64_t)count;
	return 0;
}

/* The whole reservation is one IMMEDIATE transaction: the write lock is
 * taken at BEGIN, so no other connection (in this process or another) can
 * interleave between the check and the increment, and the count returned is
 * the one this reservation produced. */
static int sq_counter_reserve(void *db, const char *account, const char *window, unsigned n,
			      unsigned limit, bool *ok_r, uint64_t *count_r, const char **error_r)
{
	struct sq_db *d = db;
	struct sq_conn *c = conn_take(d, error_r);
	if (!c)
		return -1;
	*ok_r = false;
	int rc = sq_do(c, SQ_BEGIN, "starting a transaction", SQ_NO_ARGS, error_r);
	if (rc == 0)
		rc = sq_do(c, SQ_COUNTER_CREATE, "updating a counter",
			   SQ_ARGS(SQ_TEXT(account), SQ_TEXT(window)), error_r);
	if (rc == 0 && sqlite3_changes(c->db) == 1)
		rc = sq_do(c, SQ_COUNTER_PRUNE, "updating a counter",
			   SQ_ARGS(SQ_TEXT(account), SQ_TEXT(window)), error_r);
	if (rc == 0)
		rc = sq_do(c, SQ_COUNTER_ADD, "updating a counter",
			   SQ_ARGS(SQ_TEXT(account), SQ_TEXT(window), SQ_INT(n), SQ_INT(limit)),
			   error_r);
	if (rc == 0)
		*ok_r = sqlite3_changes(c->db) == 1;
	if (rc == 0)
		rc = counter_read(c, account, window, count_r, error_r);
	if (rc == 0)
		rc = sq_do(c, SQ_COMMIT, "committing", SQ_NO_ARGS, error_r);
	if (rc != 0) {
		*ok_r = false;
		sq_rollback(c);
	}
	conn_give(d, c);
	return rc;
}

static int sq_counter_release(void *db, const char *account, const char *window, unsigned n,
			      const char **error_r)
{
	return sq_write(db, SQ_COUNTER_RELEASE, "updating a counter",
			SQ_ARGS(SQ_TEXT(account), SQ_TEXT(window), SQ_INT(n)), NULL, error_r) ==
	       SQLITE_DONE ? 0 : -1;
}

static int sq_counter_get(void *db, const char *account, const char *window,
			  uint64_t *count_r, const char **error_r)
{
	struct sq_db *d = db;
	struct sq_conn *c = conn_take(d, error_r);
	if (!c)
		return -1;
	int rc = counter_read(c, account, window, count_r, error_r);
	conn_give(d, c);
	return rc;
}

/* ---- events ---------------------------------------------------------------------------------------- */

/* sq_event_add - N rows in one transaction (one WAL commit for a batch) */
static int sq_event_add(void *db, const struct store_event *events, size_t n,
			const char **error_r)
{
	struct sq_db *d = db;
	struct sq_conn *c = conn_take(d, error_r);
	if (!c)
		return -1;
	bool several = n > 1 || (n == 1 && store_event_has_message(&events[0]));
	int rc = several ? sq_do(c, SQ_BEGIN, "starting a transaction", SQ_NO_ARGS, error_r) : 0;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		const struct store_event *e = &events[i];
		rc = sq_do(c, SQ_EVENT_ADD, "adding an event",
			   SQ_ARGS(SQ_INT(e->time), SQ_TEXT(e->type), SQ_TEXT(e->account),
				   SQ_TEXT(e->queue_id), SQ_TEXT(e->recipient), SQ_INT(e->code),
				   SQ_TEXT(e->reason), SQ_TEXT(e->node)), error_r);
		if (rc == 0 && store_event_has_message(e))
			rc = sq_do(c, SQ_MESSAGE_ADD, "adding a message",
				   SQ_ARGS(SQ_TEXT(e->account), SQ_TEXT(e->queue_id),
					   SQ_INT(e->time), SQ_TEXT(e->recipients),
					   SQ_TEXT(e->categories), SQ_TEXT(e->custom_args)), error_r);
	}
	if (several && rc == 0)
		rc = sq_do(c, SQ_COMMIT, "committing", SQ_NO_ARGS, error_r);
	if (rc != 0)
		sq_rollback(c);
	conn_give(d, c);
	return rc;
}

static void event_drop(void *row)
{
	struct store_event *e = row;
	store_event_free(&e);
}

/* event_row - one row of EVENT_COLUMNS, or of EVENT_LIST_COLUMNS */
static void *event_row(sqlite3_stmt *st)
{
	struct store_event *e = xcalloc(1, sizeof(*e));
	e->id = sqlite3_column_int64(st, 0);
	e->time = (time_t)sqlite3_column_int64(st, 1);
	e->type = col_dup(st, 2);
	e->account = col_dup(st, 3);
	e->queue_id = col_dup(st, 4);
	e->recipient = col_dup(st, 5);
	e->code = sqlite3_column_int(st, 6);
	e->reason = col_dup(st, 7);
	e->node = col_dup(st, 8);
	if (sqlite3_column_count(st) > 9) {
		e->recipients = col_dup(st, 9);
		e->categories = col_dup(st, 10);
		e->custom_args = col_dup(st, 11);
		e->attempt = sqlite3_column_int(st, 12);
	}
	return e;
}

static int sq_event_list(void *db, const char *account, time_t since, int64_t after_id,
			 size_t limit, struct store_event ***events_r, size_t *count_r,
			 const char **error_r)
{
	struct sq_rows rows = { .make = event_row, .drop = event_drop };
	int64_t max = limit ? (int64_t)limit : -1;
	int rc = account
		? rows_list(db, SQ_EVENT_LIST_ACCOUNT, "listing events",
			    SQ_ARGS(SQ_INT(after_id), SQ_INT(since), SQ_INT(max), SQ_TEXT(account)),
			    &rows, error_r)
		: rows_list(db, SQ_EVENT_LIST, "listing events",
			    SQ_ARGS(SQ_INT(after_id), SQ_INT(since), SQ_INT(max)), &rows, error_r);
	if (rc == 0) {
		*events_r = (struct store_event **)rows.v;
		*count_r = rows.n;
	}
	return rc;
}

static int sq_event_search(void *db, const char *account, const struct store_event_filter *f,
			   size_t limit, struct store_event ***events_r, size_t *count_r,
			   const char **error_r)
{
	struct sq_rows rows = { .make = event_row, .drop = event_drop };
	int rc = rows_list(db, SQ_EVENT_SEARCH, "searching events",
			   SQ_ARGS(SQ_TEXT(account), SQ_TEXT(f->recipient), SQ_TEXT(f->type),
				   SQ_TEXT(f->queue_id), SQ_INT(f->before_id), SQ_INT(limit)),
			   &rows, error_r);
	if (rc == 0) {
		*events_r = (struct store_event **)rows.v;
		*count_r = rows.n;
	}
	return rc;
}

/* sq_event_newest_after - see store_event_newest_after */
static int sq_event_newest_after(void *db, const char *account, time_t since, size_t n,
				 int64_t *after_id_r, const char **error_r)
{
	struct sq_db *d = db;
	struct sq_conn *c = conn_take(d, error_r);
	if (!c)
		return -1;
	int64_t id = 0; /* no row: there are no more than N */
	int r = account
		? sq_run(c, SQ_EVENT_NEWEST_AFTER_ACCOUNT, "finding the newest events",
			 SQ_ARGS(SQ_INT(n), SQ_INT(since), SQ_TEXT(account)), row_int64, &id,
			 error_r)
		: sq_run(c, SQ_EVENT_NEWEST_AFTER, "finding the newest events",
			 SQ_ARGS(SQ_INT(n), SQ_INT(since)), row_int64, &id, error_r);
	conn_give(d, c);
	if (r != SQLITE_DONE)
		return -1;
	*after_id_r = id;
	return 0;
}

/* event_count_row - one row of SQ_EVENT_COUNT_DAYS */
static void *event_count_row(sqlite3_stmt *st)
{
	struct store_event_count *c = xcalloc(1, sizeof(*c));
	c->day = sqlite3_column_int64(st, 0);
	c->type = col_dup(st, 1);
	c->reason = col_dup(st, 2);
	c->count = (uint64_t)sqlite3_column_int64(st, 3);
	if (sqlite3_column_count(st) > 4)
		c->category = col_dup(st, 4);
	return c;
}

static void event_count_drop(void *row)
{
	struct store_event_count *c = row;
	free(c->type);
	free(c->reason);
	free(c->category);
	free(c);
}

static int sq_event_count_days(void *db, const char *account, time_t begin, time_t end,
			       struct store_event_count ***counts_r, size_t *n_r,
			       const char **error_r)
{
	struct sq_rows rows = { .make = event_count_row, .drop = event_count_drop };
	int rc = rows_list(db, SQ_EVENT_COUNT_DAYS, "counting events",
			   SQ_ARGS(SQ_TEXT(account), SQ_INT(begin), SQ_INT(end)), &rows, error_r);
	if (rc == 0) {
		*counts_r = (struct store_event_count **)rows.v;
		*n_r = rows.n;
	}
	return rc;
}

static int sq_event_count_category_days(void *db, const char *account, const char *categories,
					time_t begin, time_t end,
					struct store_event_count ***counts_r, size_t *n_r,
					const char **error_r)
{
	struct sq_rows rows = { .make = event_count_row, .drop = event_count_drop };
	int rc = rows_list(db, SQ_EVENT_COUNT_CATEGORY_DAYS, "counting events by category",
			   SQ_ARGS(SQ_TEXT(account), SQ_INT(begin), SQ_INT(end),
				   SQ_TEXT(categories)), &rows, error_r);
	if (rc == 0) {
		*counts_r = (struct store_event_count **)rows.v;
		*n_r = rows.n;
	}
	return rc;
}

static int sq_category_list(void *db, const char *account, const char *prefix, size_t limit,
			    size_t offset, char ***names_r, const char **error_r)
{
	return strv_query(db, SQ_CATEGORY_LIST, SQ_ARGS(SQ_TEXT(account), SQ_TEXT(prefix),
							SQ_INT(limit), SQ_INT(offset)),
			  false, names_r, error_r);
}

/* prune_rows - STMT (?1 BEFORE, ?2 LIMIT) is one statement, so one
 * transaction of at most LIMIT rows: other writers wait for no longer than
 * that takes */
static int prune_rows(void *db, enum sq_stmt stmt, const char *what, time_t before,
		      size_t limit, uint64_t *deleted_r, const char **error_r)
{
	struct sq_db *d = db;
	struct sq_conn *c = conn_take(d, error_r);
	if (!c)
		return -1;
	int rc = sq_do(c, stmt, what, SQ_ARGS(SQ_INT(before), SQ_INT(limit)), error_r);
	*deleted_r = rc == 0 ? (uint64_t)sqlite3_changes(c->db) : 0;
	conn_give(d, c);
	return rc;
}

static int sq_event_prune(void *db, time_t before, size_t limit, uint64_t *deleted_r,
			  const char **error_r)
{
	return prune_rows(db, SQ_EVENT_PRUNE, "pruning events", before, limit, deleted_r,
			  error_r);
}

static int sq_message_prune(void *db, time_t before, size_t limit, uint64_t *deleted_r,
			    const char **error_r)
{
	return prune_rows(db, SQ_MESSAGE_PRUNE, "pruning messages", before, limit, deleted_r,
			  error_r);
}

/* ---- DMARC evaluations ------------------------------------------------------------------------- */

static int sq_dmarc_eval_add(void *db, const struct store_dmarc_eval *e, const char **error_r)
{
	return sq_write(db, SQ_DMARC_EVAL_ADD, "recording a DMARC evaluation",
			SQ_ARGS(SQ_INT(e->time), SQ_TEXT(e->policy_domain), SQ_TEXT(e->source_ip),
				SQ_TEXT(e->header_from), SQ_TEXT(e->envelope_from),
				SQ_TEXT(e->spf_domain), SQ_TEXT(e->spf_result), SQ_TEXT(e->dkim),
				SQ_INT(e->spf_aligned), SQ_INT(e->dkim_aligned),
				SQ_TEXT(e->disposition), SQ_TEXT(e->policy), SQ_TEXT(e->rua),
				SQ_TEXT(e->override)), NULL, error_r) == SQLITE_DONE ? 0 : -1;
}

static void dmarc_eval_drop(void *row)
{
	struct store_dmarc_eval *e = row;
	store_dmarc_eval_free(&e);
}

/* dmarc_eval_row - one row of SQ_DMARC_EVAL_LIST */
static void *dmarc_eval_row(sqlite3_stmt *st)
{
	struct store_dmarc_eval *e = xcalloc(1, sizeof(*e));
	e->id = sqlite3_column_int64(st, 0);
	e->time = (time_t)sqlite3_column_int64(st, 1);
	e->policy_domain = col_dup(st, 2);
	e->source_ip = col_dup(st, 3);
	e->header_from = col_dup(st, 4);
	e->envelope_from = col_dup(st, 5);
	e->spf_domain = col_dup(st, 6);
	e->spf_result = col_dup(st, 7);
	e->dkim = col_dup(st, 8);
	e->spf_aligned = sqlite3_column_int(st, 9) != 0;
	e->dkim_aligned = sqlite3_column_int(st, 10) != 0;
	e->disposition = col_dup(st, 11);
	e->policy = col_dup(st, 12);
	e->rua = col_dup(st, 13);
	e->override = col_dup(st, 14);
	return e;
}

static int sq_dmarc_eval_list(void *db, time_t begin, time_t end,
			      struct store_dmarc_eval ***evals_r, size_t *count_r,
			      const char **error_r)
{
	struct sq_rows rows = { .make = dmarc_eval_row, .drop = dmarc_eval_drop };
	int rc = rows_list(db, SQ_DMARC_EVAL_LIST, "listing DMARC evaluations",
			   SQ_ARGS(SQ_INT(begin), SQ_INT(end)), &rows, error_r);
	if (rc == 0) {
		*evals_r = (struct store_dmarc_eval **)rows.v;
		*count_r = rows.n;
	}
	return rc;
}

static int sq_dmarc_eval_prune(void *db, time_t before, uint64_t *deleted_r,
			       const char **error_r)
{
	int changes = 0;
	int rc = sq_write(db, SQ_DMARC_EVAL_PRUNE, "pruning DMARC evaluations",
			  SQ_ARGS(SQ_INT(before)), &changes, error_r) == SQLITE_DONE ? 0 : -1;
	*deleted_r = rc == 0 ? (uint64_t)changes : 0;
	return rc;
}

static int sq_dmarc_report_claim(void *db, const char *policy_domain, time_t begin,
				 time_t now, bool *claimed_r, const char **error_r)
{
	int changes = 0;
	int rc = sq_write(db, SQ_DMARC_REPORT_CLAIM, "recording a DMARC report",
			  SQ_ARGS(SQ_TEXT(policy_domain), SQ_INT(begin), SQ_INT(now)), &changes,
			  error_r) == SQLITE_DONE ? 0 : -1;
	*claimed_r = rc == 0 && changes > 0;
	return rc;
}

/* ---- suppressions ----------------------------------------------------------------------------- */

static int sq_suppression_add(void *db, const char *account,
			      const struct store_suppression *e, const char **error_r)
{
	int r = sq_write(db, SQ_SUPPRESSION_ADD, "adding a suppression",
			 SQ_ARGS(SQ_TEXT(account), SQ_TEXT(e->email), SQ_INT(e->list),
				 SQ_INT(e->created), SQ_TEXT(e->reason), SQ_TEXT(e->status)),
			 NULL, error_r);
	if (r == SQLITE_CONSTRAINT_FOREIGNKEY) {
		*error_r = store_error("no account %s", account);
		return STORE_NOT_FOUND;
	}
	return r == SQLITE_DONE ? 0 : -1;
}

static int sq_suppression_remove(void *db, const char *account, int list, const char *email,
				 uint64_t *removed_r, const char **error_r)
{
	int changes = 0;
	int r = email ? sq_write(db, SQ_SUPPRESSION_REMOVE, "removing a suppression",
				 SQ_ARGS(SQ_TEXT(account), SQ_INT(list), SQ_TEXT(email)),
				 &changes, error_r)
		      : sq_write(db, SQ_SUPPRESSION_CLEAR, "clearing a suppression list",
				 SQ_ARGS(SQ_TEXT(account), SQ_INT(list)), &changes, error_r);
	*removed_r = r == SQLITE_DONE ? (uint64_t)changes : 0;
	return r == SQLITE_DONE ? 0 : -1;
}

static void suppression_drop(void *row)
{
	struct store_suppression *e = row;
	store_suppression_free(&e);
}

/* suppression_row - one row of SQ_SUPPRESSION_LIST */
static void *suppression_row(sqlite3_stmt *st)
{
	struct store_suppression *e = xcalloc(1, sizeof(*e));
	e->list = (enum store_suppression_list)sqlite3_column_int(st, 0);
	e->email = col_dup(st, 1);
	e->created = (time_t)sqlite3_column_int64(st, 2);
	e->reason = col_dup(st, 3);
	e->status = col_dup(st, 4);
	return e;
}

static int sq_suppression_list(void *db, const char *account, int list, const char *email,
			       const struct store_suppression_range *range,
			       struct store_suppression ***entries_r, size_t *count_r,
			       const char **error_r)
{
	struct sq_rows rows = { .make = suppression_row, .drop = suppression_drop };
	/* LIMIT -1: none; INT64_MAX bounds what a uint64_t may say */
	int64_t limit = range->limit && range->limit < INT64_MAX ? (int64_t)range->limit : -1;
	int64_t offset = range->offset < INT64_MAX ? (int64_t)range->offset : INT64_MAX;
	int rc = rows_list(db, SQ_SUPPRESSION_LIST, "listing suppressions",
			   SQ_ARGS(SQ_TEXT(account), SQ_INT(list), SQ_TEXT(email),
				   SQ_INT(range->start), SQ_INT(range->end), SQ_INT(limit),
				   SQ_INT(offset)), &rows, error_r);
	if (rc == 0) {
		*entries_r = (struct store_suppression **)rows.v;
		*count_r = rows.n;
	}
	return rc;
}

/* sq_suppression_match - the addresses go as one JSON array (jansson
 * escapes them); one that is not UTF-8 cannot be on a list (store.c checks
 * what is added) and is left out */
static int sq_suppression_match(void *db, const char *account, char *const *emails, size_t n,
				char ***rows_r, const char **error_r)
{
	json_t *array = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(array, json_string(emails[i]));
	char *text = json_dumps(array, JSON_COMPACT);
	json_decref(array);
	if (!text)
		abort();
	int rc = strv_query(db, SQ_SUPPRESSION_MATCH, SQ_ARGS(SQ_TEXT(account), SQ_TEXT(text)),
			    true, rows_r, error_r);
	free(text);
	return rc;
}

/* ---- event webhooks --------------------------------------------------------------------------- */

static void webhook_drop(void *row)
{
	struct store_webhook *h = row;
	store_webhook_free(&h);
}

/* webhook_row - one row of WEBHOOK_COLUMNS */
static void *webhook_row(sqlite3_stmt *st)
{
	struct store_webhook *h = xcalloc(1, sizeof(*h));
	h->account = col_dup(st, 0);
	h->enabled = sqlite3_column_int(st, 1) != 0;
	h->url = col_dup(st, 2);
	h->events = (uint32_t)sqlite3_column_int64(st, 3);
	h->sign = sqlite3_column_int(st, 4) != 0;
	h->sent_id = sqlite3_column_int64(st, 5);
	h->updated = (time_t)sqlite3_column_int64(st, 6);
	return h;
}

static int sq_webhook_get(void *db, const char *account, struct store_webhook **hook_r,
			  const char **error_r)
{
	void *row;
	int rc = row_get(db, SQ_WEBHOOK_GET, "reading a webhook", "webhook for", account,
			 webhook_row, webhook_drop, &row, error_r);
	if (rc == 0)
		*hook_r = row;
	return rc;
}

static int sq_webhook_set(void *db, const char *account, const struct store_webhook *h,
			  time_t now, const char **error_r)
{
	int r = sq_write(db, SQ_WEBHOOK_SET, "setting a webhook",
			 SQ_ARGS(SQ_TEXT(account), SQ_INT(h->enabled), SQ_TEXT(h->url),
				 SQ_INT(h->events), SQ_INT(h->sign), SQ_INT(now)), NULL, error_r);
	if (r == SQLITE_CONSTRAINT_FOREIGNKEY) {
		*error_r = store_error("no account %s", account);
		return STORE_NOT_FOUND;
	}
	return r == SQLITE_DONE ? 0 : -1;
}

static int sq_webhook_list_enabled(void *db, struct store_webhook ***hooks_r, size_t *count_r,
				   const char **error_r)
{
	struct sq_rows rows = { .make = webhook_row, .drop = webhook_drop };
	int rc = rows_list(db, SQ_WEBHOOK_LIST_ENABLED, "listing webhooks", SQ_NO_ARGS, &rows,
			   error_r);
	if (rc == 0) {
		*hooks_r = (struct store_webhook **)rows.v;
		*count_r = rows.n;
	}
	return rc;
}

static int sq_webhook_advance(void *db, const char *account, int64_t from, int64_t to,
			      const char **error_r)
{
	int changes = 0;
	if (sq_write(db, SQ_WEBHOOK_ADVANCE, "advancing a webhook",
		     SQ_ARGS(SQ_TEXT(account), SQ_INT(from), SQ_INT(to)), &changes,
		     error_r) != SQLITE_DONE)
		return -1;
	if (changes == 0) {
		*error_r = store_error("the webhook of %s is not at event %lld", account,
				       (long long)from);
		return STORE_NOT_FOUND;
	}
	return 0;
}

/* ---- the web pages' secrets ---- */

static int sq_web_secret_add(void *db, int kind, const char *hash, const char *account,
			     const char *csrf, time_t expires, const char **error_r)
{
	if (sq_write(db, SQ_WEB_SECRET_PRUNE, "deleting expired web secrets",
		     SQ_ARGS(SQ_INT(time(NULL))), NULL, error_r) != SQLITE_DONE)
		return -1;
	int r = sq_write(db, SQ_WEB_SECRET_ADD, "adding a web secret",
			 SQ_ARGS(SQ_TEXT(hash), SQ_INT(kind), SQ_TEXT(account), SQ_TEXT(csrf),
				 SQ_INT(expires)), NULL, error_r);
	if (r == SQLITE_CONSTRAINT_FOREIGNKEY) {
		*error_r = store_error("no account %s", account);
		return STORE_NOT_FOUND;
	}
	return r == SQLITE_DONE ? 0 : -1;
}

static int sq_web_secret_get(void *db, int kind, const char *hash, time_t now, bool take,
			     char **account_r, char **csrf_r, const char **error_r)
{
	char **rows = NULL;
	if (strv_query(db, take ? SQ_WEB_SECRET_TAKE : SQ_WEB_SECRET_GET,
		       SQ_ARGS(SQ_TEXT(hash), SQ_INT(kind), SQ_INT(now)), true, &rows,
		       error_r) < 0)
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

static int sq_web_rate_take(void *db, const char *hash, time_t now, unsigned limit,
			    unsigned window, bool *allowed_r, const char **error_r)
{
	char **rows = NULL;
	if (sq_write(db, SQ_WEB_RATE_PRUNE, "deleting past web rate windows",
		     SQ_ARGS(SQ_INT(now), SQ_INT(window)), NULL, error_r) != SQLITE_DONE ||
	    strv_query(db, SQ_WEB_RATE_TAKE, SQ_ARGS(SQ_TEXT(hash), SQ_INT(now), SQ_INT(window)),
		       false, &rows, error_r) < 0)
		return -1;
	*allowed_r = rows[0] && strtoll(rows[0], NULL, 10) <= (long long)limit;
	store_strv_free(&rows);
	return 0;
}

static int sq_web_secret_remove(void *db, int kind, const char *hash, const char *account,
				const char **error_r)
{
	int r = hash ? sq_write(db, SQ_WEB_SECRET_REMOVE, "removing a web secret",
				SQ_ARGS(SQ_TEXT(hash), SQ_INT(kind)), NULL, error_r)
		     : sq_write(db, SQ_WEB_SECRET_REMOVE_ACCOUNT, "removing web secrets",
				SQ_ARGS(SQ_TEXT(account), SQ_INT(kind)), NULL, error_r);
	return r == SQLITE_DONE ? 0 : -1;
}

/* ---- credentials.db ---------------------------------------------------------------------------- */

static void *sq_credentials_open(const struct store_settings *settings, const char **error_r)
{
	char *dir = store_auth_dir(settings->data_dir, error_r);
	if (!dir)
		return NULL;
	struct sq_db *d = db_open(dir, STORE_CREDENTIALS_FILE, 0600, true, CREDENTIALS_MIGRATIONS,
				  CREDENTIALS_MIGRATION_COUNT, NULL, error_r);
	free(dir);
	return d;
}

/* sq_credentials_list - every row, by name */
static int sq_credentials_list(void *cdb, char ***rows_r, size_t *n_r, const char **error_r)
{
	struct sq_rows rows = { .columns = 3 };
	int rc = rows_list(cdb, SQ_CRED_LIST, "reading credentials", SQ_NO_ARGS, &rows, error_r);
	*rows_r = (char **)rows.v;
	*n_r = rows.n / 3;
	return rc;
}

static int sq_credentials_get(void *cdb, const char *name, char **hash_r, char **scram_r,
			      const char **error_r)
{
	struct sq_rows rows = { .columns = 2 };
	int rc = rows_list(cdb, SQ_CRED_GET, "reading credentials", SQ_ARGS(SQ_TEXT(name)), &rows,
			   error_r);
	if (rc != 0)
		return rc;
	if (rows.n == 2) {
		*hash_r = rows.v[0];
		*scram_r = rows.v[1] ? rows.v[1] : xstrdup("");
	} else {
		*error_r = store_error("no credentials for %s", name);
		rc = STORE_NOT_FOUND;
	}
	free(rows.v);
	return rc;
}

static int sq_credentials_set(void *cdb, const char *name, const char *hash,
			      const char *scram, const char **error_r)
{
	return sq_write(cdb, SQ_CRED_SET, "setting credentials",
			SQ_ARGS(SQ_TEXT(name), SQ_TEXT(hash), SQ_TEXT(scram)), NULL, error_r) ==
	       SQLITE_DONE ? 0 : -1;
}

static int sq_credentials_remove(void *cdb, const char *name, const char **error_r)
{
	int changes;
	if (sq_write(cdb, SQ_CRED_REMOVE, "removing credentials", SQ_ARGS(SQ_TEXT(name)),
		     &changes, error_r) != SQLITE_DONE)
		return -1;
	if (changes == 0) {
		*error_r = store_error("no credentials for %s", name);
		return STORE_NOT_FOUND;
	}
	return 0;
}

/* sq_credentials_scram_replace - compare and set: an administrator's change
 * made meanwhile is never overwritten */
static int sq_credentials_scram_replace(void *cdb, const char *name, const char *old_scram,
					const char *new_scram, bool *replaced_r,
					const char **error_r)
{
	int changes = 0;
	int r = sq_write(cdb, SQ_CRED_SCRAM_REPLACE, "updating SCRAM credentials",
			 SQ_ARGS(SQ_TEXT(name), SQ_TEXT(old_scram), SQ_TEXT(new_scram)), &changes,
			 error_r);
	*replaced_r = r == SQLITE_DONE && changes > 0;
	return r == SQLITE_DONE ? 0 : -1;
}

/* sq_credentials_add_missing - the copy of the old secrets, once: the rows
 * and the mark that they have moved commit together, and a marked database
 * takes no more (petrel.db is the network process's user's to write: old
 * columns put back there are not a source of passwords) */
static int sq_credentials_add_missing(void *cdb, char *const *rows, size_t n,
				      const char **error_r)
{
	struct sq_db *d = cdb;
	struct sq_conn *c = conn_take(d, error_r);
	if (!c)
		return -1;
	int64_t moved = 0;
	int rc = sq_run(c, SQ_CRED_MOVED_GET, "reading the credentials' version", SQ_NO_ARGS,
			row_int64, &moved, error_r) == SQLITE_DONE ? 0 : -1;
	if (rc == 0 && moved != 0) {
		conn_give(d, c);
		return 0;
	}
	if (rc == 0)
		rc = sq_do(c, SQ_BEGIN, "starting a transaction", SQ_NO_ARGS, error_r);
	if (rc == 0 && sq_run(c, SQ_CRED_MOVED_GET, "reading the credentials' version",
			      SQ_NO_ARGS, row_int64, &moved, error_r) != SQLITE_DONE)
		rc = -1;
	for (size_t i = 0; rc == 0 && moved == 0 && i < n; i++) {
		const char *hash = rows[3 * i + 1], *scram = rows[3 * i + 2];
		rc = sq_do(c, SQ_CRED_ADD_MISSING, "copying credentials",
			   SQ_ARGS(SQ_TEXT(rows[3 * i]), SQ_TEXT(hash ? hash : ""),
				   SQ_TEXT(scram ? scram : "")), error_r);
	}
	if (rc == 0 && moved == 0)
		rc = sq_do(c, SQ_CRED_MOVED_SET, "marking the old secrets moved", SQ_NO_ARGS,
			   error_r);
	if (rc == 0)
		rc = sq_do(c, SQ_COMMIT, "committing", SQ_NO_ARGS, error_r);
	if (rc != 0)
		sq_rollback(c);
	conn_give(d, c);
	return rc;
}

static int sq_apikey_add(void *cdb, const char *const row[6], const char **error_r)
{
	int r = sq_write(cdb, SQ_APIKEY_ADD, "adding an API key",
			 SQ_ARGS(SQ_TEXT(row[0]), SQ_TEXT(row[1]), SQ_TEXT(row[2]), SQ_TEXT(row[3]),
				 SQ_TEXT(row[4]), SQ_INT(strtoll(row[5], NULL, 10))), NULL, error_r);
	if (is_constraint(r)) {
		*error_r = store_error("API key %s exists already", row[0]);
		return STORE_EXISTS;
	}
	return r == SQLITE_DONE ? 0 : -1;
}

static int sq_apikey_rows(void *cdb, const char *id, const char *account, char ***rows_r,
			  size_t *n_r, const char **error_r)
{
	struct sq_rows rows = { .columns = 6 };
	int rc = rows_list(cdb, id ? SQ_APIKEY_GET : SQ_APIKEY_LIST, "reading API keys",
			   SQ_ARGS(SQ_TEXT(id ? id : account)), &rows, error_r);
	*rows_r = (char **)rows.v;
	*n_r = rows.n / 6;
	return rc;
}

static int sq_apikey_remove(void *cdb, const char *id, const char **error_r)
{
	int changes;
	if (sq_write(cdb, SQ_APIKEY_REMOVE, "removing an API key", SQ_ARGS(SQ_TEXT(id)), &changes,
		     error_r) != SQLITE_DONE)
		return -1;
	if (changes == 0) {
		*error_r = store_error("no API key %s", id);
		return STORE_NOT_FOUND;
	}
	return 0;
}

static int sq_apikey_update(void *cdb, const char *id, const char *name, const char *scopes,
			    const char **error_r)
{
	int changes;
	if (sq_write(cdb, SQ_APIKEY_UPDATE, "updating an API key",
		     SQ_ARGS(SQ_TEXT(id), SQ_TEXT(name), SQ_TEXT(scopes)), &changes,
		     error_r) != SQLITE_DONE)
		return -1;
	if (changes == 0) {
		*error_r = store_error("no API key %s", id);
		return STORE_NOT_FOUND;
	}
	return 0;
}

const struct store_credentials_backend store_credentials_sqlite = {
	.name = "sqlite",
	.open = sq_credentials_open,
	.close = sq_close,
	.schema_version = sq_schema_version,
	.get = sq_credentials_get,
	.set = sq_credentials_set,
	.remove = sq_credentials_remove,
	.scram_replace = sq_credentials_scram_replace,
	.add_missing = sq_credentials_add_missing,
	.list = sq_credentials_list,
	.apikey_add = sq_apikey_add,
	.apikey_rows = sq_apikey_rows,
	.apikey_remove = sq_apikey_remove,
	.apikey_update = sq_apikey_update,
};

/* ---- nodes ----------------------------------------------------------------------------------- */

/* What SQ_NODE_GET reads of a node already known. */
struct node_state {
	bool known;
	char *owner;
	bool stopped;
	int64_t age;
};

/* node_state_row - a sq_row_fn: SQ_NODE_GET's row into the node_state at CTX */
static void node_state_row(sqlite3_stmt *st, void *ctx)
{
	struct node_state *ns = ctx;
	ns->known = true;
	ns->owner = col_dup(st, 0);
	ns->stopped = sqlite3_column_int(st, 1) != 0;
	ns->age = sqlite3_column_int64(st, 2);
}

/* node_numbers_row - a sq_row_fn: number, generation, started (RETURNING)
 * into the struct store_node at CTX (a generation of 0 left: no row) */
static void node_numbers_row(sqlite3_stmt *st, void *ctx)
{
	struct store_node *node = ctx;
	node->number = (unsigned)sqlite3_column_int(st, 0);
	node->generation = sqlite3_column_int64(st, 1);
	node->started = node->reported = (time_t)sqlite3_column_int64(st, 2);
	node->age = 0;
}

/* sq_node_register - one IMMEDIATE transaction: the liveness check and the
 * number taken cannot interleave with another registration */
static int sq_node_register(void *db, struct store_node *node, unsigned stale_after,
			    const char **error_r)
{
	struct sq_db *d = db;
	struct sq_conn *c = conn_take(d, error_r);
	if (!c)
		return -1;
	struct node_state ns = { 0 };
	int rc = sq_do(c, SQ_BEGIN, "starting a transaction", SQ_NO_ARGS, error_r);
	if (rc == 0 && sq_run(c, SQ_NODE_GET, "reading a node", SQ_ARGS(SQ_TEXT(node->name)),
			      node_state_row, &ns, error_r) != SQLITE_DONE)
		rc = -1;
	if (rc == 0 && ns.known && !ns.stopped && ns.age < (int64_t)stale_after &&
	    strcmp(ns.owner, node->owner) != 0) {
		*error_r = store_error("node %s is running elsewhere (%s, last report %lld s ago):"
				       " give this server another [server] node, or stop that one"
				       " (its name is free once it stopped or after %u s without"
				       " a report)", node->name, ns.owner, (long long)ns.age,
				       stale_after);
		rc = STORE_EXISTS;
	}
	node->generation = 0;
	const struct sq_arg args[] = {
		SQ_TEXT(node->name), SQ_TEXT(node->owner), SQ_TEXT(node->version),
		SQ_TEXT(node->listeners), SQ_TEXT(node->mail_address),
		SQ_TEXT(node->imap_address), SQ_TEXT(node->pop3_address),
		SQ_INT(STORE_NODE_NUMBERS - 1),
	};
	/* SQ_NODE_RENEW has no ?8 */
	if (rc == 0 && sq_run(c, ns.known ? SQ_NODE_RENEW : SQ_NODE_ADD, "registering a node",
			      args, ns.known ? 7 : 8, node_numbers_row, node,
			      error_r) != SQLITE_DONE)
		rc = -1;
	if (rc == 0 && node->generation == 0) {
		*error_r = store_error("every node number (%d) is taken: `petrel nodes forget` a"
				       " node that is gone", STORE_NODE_NUMBERS);
		rc = -1;
	}
	if (rc == 0)
		rc = sq_do(c, SQ_COMMIT, "committing", SQ_NO_ARGS, error_r);
	if (rc != 0)
		sq_rollback(c);
	conn_give(d, c);
	free(ns.owner);
	return rc;
}

/* node_update - ID on NODE's row (?1 name, ?2 generation, ?3 queue size):
 * STORE_NOT_FOUND when the row is gone or registered again */
static int node_update(void *db, const struct store_node *node, enum sq_stmt id,
		       const char *what, const char **error_r)
{
	int changes = 0;
	if (sq_write(db, id, what, SQ_ARGS(SQ_TEXT(node->name), SQ_INT(node->generation),
					   SQ_INT(node->queue_active)), &changes,
		     error_r) != SQLITE_DONE)
		return -1;
	if (changes > 0)
		return 0;
	*error_r = store_error("node %s was registered again by another server, or forgotten",
			       node->name);
	return STORE_NOT_FOUND;
}

static int sq_node_report(void *db, const struct store_node *node, const char **error_r)
{
	return node_update(db, node, SQ_NODE_REPORT, "reporting", error_r);
}

static int sq_node_stop(void *db, const struct store_node *node, const char **error_r)
{
	return node_update(db, node, SQ_NODE_STOP, "recording the stop", error_r);
}

static void node_drop(void *row)
{
	struct store_node *n = row;
	store_node_free(&n);
}

/* node_columns - NODE_COLUMNS from column FIRST of ST into N */
static void node_columns(sqlite3_stmt *st, int first, struct store_node *n)
{
	n->name = col_dup(st, first);
	n->owner = col_dup(st, first + 1);
	n->number = (unsigned)sqlite3_column_int(st, first + 2);
	n->generation = sqlite3_column_int64(st, first + 3);
	n->version = col_dup(st, first + 4);
	n->started = (time_t)sqlite3_column_int64(st, first + 5);
	n->reported = (time_t)sqlite3_column_int64(st, first + 6);
	n->age = sqlite3_column_int64(st, first + 7);
	n->stopped = sqlite3_column_int(st, first + 8) != 0;
	n->listeners = col_dup(st, first + 9);
	n->queue_active = (uint64_t)sqlite3_column_int64(st, first + 10);
	n->mail_address = col_dup(st, first + 11);
	n->imap_address = col_dup(st, first + 12);
	n->pop3_address = col_dup(st, first + 13);
}

/* node_row - one row of SQ_NODE_LIST */
static void *node_row(sqlite3_stmt *st)
{
	struct store_node *n = xcalloc(1, sizeof(*n));
	node_columns(st, 0, n);
	return n;
}

static int sq_node_list(void *db, struct store_node ***nodes_r, size_t *count_r,
			const char **error_r)
{
	struct sq_rows rows = { .make = node_row, .drop = node_drop };
	int rc = rows_list(db, SQ_NODE_LIST, "listing nodes", SQ_NO_ARGS, &rows, error_r);
	if (rc == 0) {
		*nodes_r = (struct store_node **)rows.v;
		*count_r = rows.n;
	}
	return rc;
}

static int sq_node_forget(void *db, const char *name, unsigned stale_after,
			  const char **error_r)
{
	struct sq_db *d = db;
	struct sq_conn *c = conn_take(d, error_r);
	if (!c)
		return -1;
	int rc = sq_do(c, SQ_NODE_FORGET, "forgetting a node",
		       SQ_ARGS(SQ_TEXT(name), SQ_INT(stale_after)), error_r);
	if (rc == 0 && sqlite3_changes(c->db) == 0) {
		rc = exists_check(c, SQ_NODE_EXISTS, "reading a node", "node", name, error_r);
		if (rc == 0) {
			*error_r = store_error("node %s is live: stop it first", name);
			rc = STORE_EXISTS;
		}
	}
	conn_give(d, c);
	return rc;
}

/* node_known - 0 if the store knows node NAME; -1 with a clear error */
static int node_known(struct sq_conn *c, const char *name, const char **error_r)
{
	int rc = exists_check(c, SQ_NODE_EXISTS, "reading a node", "node", name, error_r);
	if (rc == STORE_NOT_FOUND) {
		*error_r = store_error("unknown node %s: a node is known once it has started"
				       " (`petrel nodes` lists them)", name);
		rc = -1;
	}
	return rc;
}

static int sq_account_set_home(void *db, const char *account, const char *node,
			       const char **error_r)
{
	struct sq_db *d = db;
	struct sq_conn *c = conn_take(d, error_r);
	if (!c)
		return -1;
	int rc = node ? node_known(c, node, error_r) : 0;
	if (rc == 0)
		rc = sq_do(c, SQ_ACCOUNT_SET_HOME, "setting an account's home",
			   SQ_ARGS(SQ_TEXT(account), SQ_TEXT(node)), error_r);
	if (rc == 0 && sqlite3_changes(c->db) == 0) {
		*error_r = store_error("no account %s", account);
		rc = STORE_NOT_FOUND;
	}
	conn_give(d, c);
	return rc;
}

/* home_row - one row of SQ_ACCOUNT_HOME: a node with no name when the
 * account has no home */
static void *home_row(sqlite3_stmt *st)
{
	struct store_node *n = xcalloc(1, sizeof(*n));
	if (sqlite3_column_type(st, 1) != SQLITE_NULL) {
		node_columns(st, 1, n);
	} else if ((n->name = col_dup(st, 0)) != NULL) {
		n->stopped = true; /* forgotten since */
		n->age = -1;
	}
	return n;
}

static int sq_account_home(void *db, const char *account, struct store_node **home_r,
			   const char **error_r)
{
	void *row;
	int rc = row_get(db, SQ_ACCOUNT_HOME, "reading an account's home", "account", account,
			 home_row, node_drop, &row, error_r);
	struct store_node *home = rc == 0 ? row : NULL;
	if (home && !home->name)
		store_node_free(&home);
	*home_r = home;
	return rc;
}

/* sq_address_route - two reads: SQLite has no round trips to save */
static int sq_address_route(void *db, const char *address, const char *domain,
			    bool *domain_r, struct store_node **home_r, const char **error_r)
{
	int rc = sq_domain_exists(db, domain, domain_r, error_r);
	if (rc == 0)
		rc = sq_account_home(db, address, home_r, error_r);
	return rc == STORE_NOT_FOUND ? 0 : rc;
}

const struct store_backend store_backend_sqlite = {
	.name = "sqlite",
	.open = sq_open,
	.close = sq_close,
	.schema_version = sq_schema_version,
	.domain_add = sq_domain_add,
	.domain_remove = sq_domain_remove,
	.domain_exists = sq_domain_exists,
	.domain_list = sq_domain_list,
	.plan_set = sq_plan_set,
	.plan_get = sq_plan_get,
	.account_plan_get = sq_account_plan_get,
	.plan_list = sq_plan_list,
	.account_add = sq_account_add,
	.account_get = sq_account_get,
	.account_update = sq_account_update,
	.legacy_secrets_move = sq_legacy_secrets_move,
	.account_remove = sq_account_remove,
	.account_list = sq_account_list,
	.account_set_home = sq_account_set_home,
	.account_home = sq_account_home,
	.address_route = sq_address_route,
	.sender_set = sq_sender_set,
	.sender_remove = sq_sender_remove,
	.sender_list = sq_sender_list,
	.alias_add = sq_alias_add,
	.alias_remove = sq_alias_remove,
	.alias_list = sq_alias_list,
	.alias_targets = sq_alias_targets,
	.counter_reserve = sq_counter_reserve,
	.counter_release = sq_counter_release,
	.counter_get = sq_counter_get,
	.event_add = sq_event_add,
	.event_list = sq_event_list,
	.event_search = sq_event_search,
	.event_newest_after = sq_event_newest_after,
	.event_count_days = sq_event_count_days,
	.event_prune = sq_event_prune,
	.message_prune = sq_message_prune,
	.event_count_category_days = sq_event_count_category_days,
	.category_list = sq_category_list,
	.node_register = sq_node_register,
	.node_report = sq_node_report,
	.node_stop = sq_node_stop,
	.node_list = sq_node_list,
	.node_forget = sq_node_forget,
	.dmarc_eval_add = sq_dmarc_eval_add,
	.dmarc_eval_list = sq_dmarc_eval_list,
	.dmarc_eval_prune = sq_dmarc_eval_prune,
	.dmarc_report_claim = sq_dmarc_report_claim,
	.suppression_add = sq_suppression_add,
	.suppression_remove = sq_suppression_remove,
	.suppression_list = sq_suppression_list,
	.suppression_match = sq_suppression_match,
	.webhook_get = sq_webhook_get,
	.webhook_set = sq_webhook_set,
	.webhook_list_enabled = sq_webhook_list_enabled,
	.webhook_advance = sq_webhook_advance,
	.web_secret_add = sq_web_secret_add,
	.web_secret_get = sq_web_secret_get,
	.web_secret_remove = sq_web_secret_remove,
	.web_rate_take = sq_web_rate_take,
};
