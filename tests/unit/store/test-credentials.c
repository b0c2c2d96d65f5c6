/* test-credentials - the password secrets on real SQLite files in a
 * temporary folder (DATA_DIR/auth/credentials.db) or, with
 * PETREL_TEST_PG_URL set (with-postgresql.sh), in PostgreSQL ([store]
 * credentials_url).  Both: every function's success and error paths, many
 * threads at once, a copy from a node's SQLite file (store copy).  SQLite:
 * its folder and file modes, and store_credentials_migrate on a petrel.db
 * of schema version 2 (and 1) with password hashes in it, built here with
 * the old schema's own statements: the secrets move, the columns go
 * (leaving no hash in petrel.db's files), a second run changes nothing, a
 * failed copy leaves petrel.db as it was.  PostgreSQL: the credentials'
 * tables and version are their own (none of the store's). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>
#include <sqlite3.h>

#include "store/store.h"

struct fixture {
	char dir[64];
	struct store_credentials *sc;
};

/* the PostgreSQL database under test, or NULL: SQLite */
static const char *pg_url;

/* pg_count - the integer SQL returns, through a connection of the test's own */
static long pg_count(const char *sql)
{
	PGconn *c = PQconnectdb(pg_url);
	assert_int_equal(PQstatus(c), CONNECTION_OK);
	PGresult *r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_TUPLES_OK && PQresultStatus(r) != PGRES_COMMAND_OK)
		fail_msg("%s: %s", sql, PQerrorMessage(c));
	long n = PQntuples(r) > 0 ? strtol(PQgetvalue(r, 0, 0), NULL, 10) : 0;
	PQclear(r);
	PQfinish(c);
	return n;
}

static void rm_rf(const char *dir)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	strcpy(f->dir, "/tmp/petrel-test-cred-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	const char *error = NULL;
	/* PostgreSQL: each test on new tables */
	if (pg_url)
		(void)pg_count("SET client_min_messages = warning; DROP TABLE IF EXISTS"
			       " credentials, credentials_schema_version, auth_failures, apikeys");
	const struct store_settings settings = { .data_dir = f->dir, .url = pg_url };
	f->sc = store_credentials_open_settings(&settings, &error);
	if (!f->sc) {
		fprintf(stderr, "store_credentials_open_settings: %s\n", error);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	store_credentials_close(&f->sc);
	rm_rf(f->dir);
	free(f);
	return 0;
}

/* sql_exec - run SQL on DIR/FILE through a connection of its own */
static void sql_exec(const char *dir, const char *file, const char *sql)
{
	char path[160];
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", path, msg);
	sqlite3_close(db);
}

/* sql_int - the first column of SQL's first row on DIR/FILE */
static int sql_int(const char *dir, const char *file, const char *sql)
{
	char path[160];
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_stmt *q;
	if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	int n = sqlite3_column_int(q, 0);
	sqlite3_finalize(q);
	sqlite3_close(db);
	return n;
}

/* secret_columns - how many of password_hash and scram petrel.db's accounts has */
static int secret_columns(const char *dir)
{
	return sql_int(dir, "petrel.db", "SELECT count(*) FROM pragma_table_info('accounts')"
		       " WHERE name IN ('password_hash', 'scram')");
}

/* file_contains - whether the file at PATH (if any) holds the bytes of NEEDLE */
static bool file_contains(const char *path, const char *needle)
{
	FILE *fp = fopen(path, "rb");
	if (!fp)
		return false;
	size_t cap = 1 << 16, len = 0, n;
	char *buf = malloc(cap);
	while ((n = fread(buf + len, 1, cap - len, fp)) > 0) {
		len += n;
		if (len == cap)
			buf = realloc(buf, cap *= 2);
	}
	fclose(fp);
	bool found = memmem(buf, len, needle, strlen(needle)) != NULL;
	free(buf);
	return found;
}

/* expect - NAME's credentials are HASH and SCRAM */
static void expect(struct store_credentials *sc, const char *name, const char *hash,
		   const char *scram)
{
	char *h = NULL, *s = NULL;
	const char *error = NULL;
	int rc = store_credentials_get(sc, name, &h, &s, &error);
	if (rc != 0)
		fail_msg("get %s: %d %s", name, rc, error ? error : "");
	assert_string_equal(h, hash);
	assert_string_equal(s, scram);
	free(h);
	free(s);
}

/* ---- the folder and the file ------------------------------------------------------ */

static void test_open_modes(void **state)
{
	struct fixture *f = *state;
	char path[160];
	struct stat st;
	snprintf(path, sizeof(path), "%s/auth", f->dir);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0700);
	snprintf(path, sizeof(path), "%s/auth/credentials.db", f->dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);

	/* WAL, as another process sees it; the WAL file has the same mode */
	const char *error = NULL;
	assert_int_equal(store_credentials_set(f->sc, "a", "$6$x$y", NULL, &error), 0);
	char mode[8];
	snprintf(path, sizeof(path), "%s/auth/credentials.db", f->dir);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_stmt *q;
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &q, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	snprintf(mode, sizeof(mode), "%s", (const char *)sqlite3_column_text(q, 0));
	sqlite3_finalize(q);
	sqlite3_close(db);
	assert_string_equal(mode, "wal");
	snprintf(path, sizeof(path), "%s/auth/credentials.db-wal", f->dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);

	/* reopening an existing one finds the row; a file made 0644 by hand
	 * is put back to 0600 */
	store_credentials_close(&f->sc);
	assert_null(f->sc);
	snprintf(path, sizeof(path), "%s/auth/credentials.db", f->dir);
	assert_int_equal(chmod(path, 0644), 0);
	f->sc = store_credentials_open(f->dir, &error);
	assert_non_null(f->sc);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	expect(f->sc, "a", "$6$x$y", "");
	store_credentials_close(&f->sc);
	store_credentials_close(&f->sc);   /* twice: harmless */
}

static void test_open_errors(void **state)
{
	(void)state;
	const char *error = NULL;
	assert_null(store_credentials_open("/nonexistent-petrel/sub", &error));
	assert_non_null(error);

	/* DATA_DIR/auth a symlink (to a real folder): refused */
	char dir[] = "/tmp/petrel-test-cred-link-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char target[128], link[128];
	snprintf(target, sizeof(target), "%s/elsewhere", dir);
	snprintf(link, sizeof(link), "%s/auth", dir);
	assert_int_equal(mkdir(target, 0700), 0);
	assert_int_equal(symlink(target, link), 0);
	error = NULL;
	assert_null(store_credentials_open(dir, &error));
	assert_non_null(strstr(error, "symlink"));

	/* DATA_DIR/auth a file */
	assert_int_equal(unlink(link), 0);
	FILE *fp = fopen(link, "w");
	assert_non_null(fp);
	assert_int_equal(fclose(fp), 0);
	error = NULL;
	assert_null(store_credentials_open(dir, &error));
	assert_non_null(strstr(error, "not a folder"));

	/* a credentials.db that is not a database */
	assert_int_equal(unlink(link), 0);
	assert_int_equal(mkdir(link, 0700), 0);
	char path[160];
	snprintf(path, sizeof(path), "%s/credentials.db", link);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("this is not an SQLite database, not at all, no no no no no no no no\n", fp);
	assert_int_equal(fclose(fp), 0);
	error = NULL;
	assert_null(store_credentials_open(dir, &error));
	assert_non_null(error);
	rm_rf(dir);
}

/* ---- get, set, remove, scram_replace ----------------------------------------------- */

static void test_set_get_remove(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	char *h = (char *)"unset", *s = (char *)"unset";
	assert_int_equal(store_credentials_get(f->sc, "alice@example.org", &h, &s, &error),
			 STORE_NOT_FOUND);
	assert_null(h);
	assert_null(s);
	assert_non_null(strstr(error, "alice@example.org"));

	/* names in any case, stored lower-cased */
	assert_int_equal(store_credentials_set(f->sc, "Alice@Example.ORG", "$y$one", "4096:s:k:v",
					       &error), 0);
	expect(f->sc, "ALICE@example.org", "$y$one", "4096:s:k:v");
	const char *stored = "SELECT count(*) FROM credentials WHERE name = 'alice@example.org'";
	assert_int_equal(pg_url ? pg_count(stored) : sql_int(f->dir, "auth/credentials.db", stored),
			 1);
	/* set again: replaced, both fields; NULL SCRAM is "" */
	assert_int_equal(store_credentials_set(f->sc, "alice@example.org", "$6$two$x", NULL,
					       &error), 0);
	expect(f->sc, "alice@example.org", "$6$two$x", "");
	assert_int_equal(store_credentials_set(f->sc, "bob", "$y$bob", "1:b:c:d", &error), 0);

	/* invalid input */
	assert_int_equal(store_credentials_set(f->sc, "bad name", "$y$x", NULL, &error), -1);
	assert_non_null(strstr(error, "invalid account name"));
	assert_int_equal(store_credentials_set(f->sc, "carol", NULL, NULL, &error), -1);
	assert_non_null(strstr(error, "no password hash"));
	assert_int_equal(store_credentials_get(f->sc, "carol", &h, &s, &error), STORE_NOT_FOUND);

	assert_int_equal(store_credentials_remove(f->sc, "ALICE@example.org", &error), 0);
	assert_int_equal(store_credentials_remove(f->sc, "alice@example.org", &error),
			 STORE_NOT_FOUND);
	assert_int_equal(store_credentials_get(f->sc, "alice@example.org", &h, &s, &error),
			 STORE_NOT_FOUND);
	expect(f->sc, "bob", "$y$bob", "1:b:c:d");
}

/* test_apikey_update - a key's name and scopes changed, either kept when
 * NULL; an unknown id is STORE_NOT_FOUND */
static void test_apikey_update(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	char key[STORE_APIKEY_LEN + 1], id[STORE_APIKEY_ID_LEN + 1];
	assert_int_equal(store_apikey_create(f->sc, "alice@example.org", "ci", "mail.send", key,
					     id, &error), 0);
	assert_int_equal(store_apikey_update(f->sc, id, "deploy", NULL, &error), 0);
	struct store_apikey got;
	assert_int_equal(store_apikey_get(f->sc, id, &got, &error), 0);
	assert_string_equal(got.name, "deploy");
	assert_string_equal(got.scopes, "mail.send");
	store_apikey_clear(&got);
	assert_int_equal(store_apikey_update(f->sc, id, NULL, "stats.read", &error), 0);
	assert_int_equal(store_apikey_get(f->sc, id, &got, &error), 0);
	assert_string_equal(got.name, "deploy");
	assert_string_equal(got.scopes, "stats.read");
	store_apikey_clear(&got);
	assert_int_equal(store_apikey_update(f->sc, "0000000000000000", "x", NULL, &error),
			 STORE_NOT_FOUND);
}

/* test_apikeys - a key made, its row added, read by id, listed by account,
 * removed; its form read back; nothing of the key but its hash stored */
static void test_apikeys(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	char key[STORE_APIKEY_LEN + 1], id[STORE_APIKEY_ID_LEN + 1], hash[65];
	char id2[STORE_APIKEY_ID_LEN + 1], hash2[65];
	assert_int_equal(store_apikey_make(key, id, hash), 0);
	assert_int_equal(strlen(key), STORE_APIKEY_LEN);
	assert_true(store_apikey_parse(key, strlen(key), id2, hash2));
	assert_string_equal(id, id2);
	assert_string_equal(hash, hash2);
	assert_false(store_apikey_parse(key, strlen(key) - 1, id2, hash2));
	key[5] = 'X';
	assert_false(store_apikey_parse(key, strlen(key), id2, hash2));

	struct store_apikey row = { .id = id, .account = (char *)"alice@example.org",
				    .name = (char *)"ci", .scopes = (char *)"mail.send stats.read",
				    .hash = hash, .created = 1000 };
	assert_int_equal(store_apikey_add(f->sc, &row, &error), 0);
	assert_int_equal(store_apikey_add(f->sc, &row, &error), STORE_EXISTS);
	char other[STORE_APIKEY_LEN + 1], other_id[STORE_APIKEY_ID_LEN + 1], other_hash[65];
	assert_int_equal(store_apikey_make(other, other_id, other_hash), 0);
	struct store_apikey second = { .id = other_id, .account = (char *)"alice@example.org",
				       .scopes = (char *)"mail.send", .hash = other_hash,
				       .created = 2000 };
	assert_int_equal(store_apikey_add(f->sc, &second, &error), 0);

	struct store_apikey got;
	assert_int_equal(store_apikey_get(f->sc, id, &got, &error), 0);
	assert_string_equal(got.account, "alice@example.org");
	assert_string_equal(got.name, "ci");
	assert_string_equal(got.scopes, "mail.send stats.read");
	assert_string_equal(got.hash, hash);
	assert_int_equal(got.created, 1000);
	assert_true(store_apikey_has_scope(got.scopes, "stats.read"));
	assert_false(store_apikey_has_scope(got.scopes, "stats"));
	store_apikey_clear(&got);

	struct store_apikey *keys = NULL;
	size_t n = 0;
	assert_int_equal(store_apikey_list(f->sc, "alice@example.org", &keys, &n, &error), 0);
	assert_int_equal(n, 2);
	assert_string_equal(keys[0].id, id);
	assert_string_equal(keys[1].id, other_id);
	assert_string_equal(keys[1].name, "");
	for (size_t i = 0; i < n; i++)
		store_apikey_clear(&keys[i]);
	free(keys);
	assert_int_equal(store_apikey_list(f->sc, "bob", &keys, &n, &error), 0);
	assert_int_equal(n, 0);
	free(keys);

	assert_int_equal(store_apikey_remove(f->sc, id, &error), 0);
	assert_int_equal(store_apikey_remove(f->sc, id, &error), STORE_NOT_FOUND);
	assert_int_equal(store_apikey_get(f->sc, id, &got, &error), STORE_NOT_FOUND);

	/* the account's removal takes its keys: a name made again finds none */
	assert_int_equal(store_credentials_set(f->sc, "alice@example.org", "$y$a", NULL, &error),
			 0);
	assert_int_equal(store_credentials_remove(f->sc, "alice@example.org", &error), 0);
	assert_int_equal(store_apikey_get(f->sc, other_id, &got, &error), STORE_NOT_FOUND);
}

/* test_scram_replace - compare and set: only while the credentials are still
 * the ones read (an administrator's new password is never overwritten) */
static void test_scram_replace(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	assert_int_equal(store_credentials_set(f->sc, "Carol@example.org", "$y$c", "4096:x",
					       &error), 0);
	bool replaced = true;
	assert_int_equal(store_credentials_scram_replace(f->sc, "carol@example.org", "4096:old",
							 "100000:y", &replaced, &error), 0);
	assert_false(replaced);
	expect(f->sc, "carol@example.org", "$y$c", "4096:x");
	assert_int_equal(store_credentials_scram_replace(f->sc, "CAROL@example.org", "4096:x",
							 "100000:y", &replaced, &error), 0);
	assert_true(replaced);
	expect(f->sc, "carol@example.org", "$y$c", "100000:y");
	assert_int_equal(store_credentials_scram_replace(f->sc, "nobody@example.org", "",
							 "100000:y", &replaced, &error), 0);
	assert_false(replaced);
}

/* ---- threads: the auth process checks passwords on several at once ------------------ */

#define THREADS 8
#define ROUNDS 200

struct worker {
	struct store_credentials *sc;
	int id;
	int failures;
};

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	char name[32], hash[32];
	snprintf(name, sizeof(name), "user%d", w->id);
	for (int i = 0; i < ROUNDS; i++) {
		const char *error = NULL;
		snprintf(hash, sizeof(hash), "$y$%d", i);
		char *h = NULL, *s = NULL;
		if (store_credentials_set(w->sc, name, hash, "", &error) != 0 ||
		    store_credentials_get(w->sc, name, &h, &s, &error) != 0 || strcmp(h, hash) != 0)
			w->failures++;
		free(h);
		free(s);
		if (store_credentials_get(w->sc, "shared", &h, &s, &error) != 0 ||
		    strcmp(h, "$y$shared") != 0)
			w->failures++;
		free(h);
		free(s);
	}
	return NULL;
}

static void test_threads(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	assert_int_equal(store_credentials_set(f->sc, "shared", "$y$shared", "", &error), 0);
	pthread_t t[THREADS];
	struct worker w[THREADS];
	for (int i = 0; i < THREADS; i++) {
		w[i] = (struct worker){ .sc = f->sc, .id = i };
		assert_int_equal(pthread_create(&t[i], NULL, worker_run, &w[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(w[i].failures, 0);
	}
	const char *count = "SELECT count(*) FROM credentials";
	assert_int_equal(pg_url ? pg_count(count) : sql_int(f->dir, "auth/credentials.db", count),
			 THREADS + 1);
}

/* ---- the migration out of petrel.db ------------------------------------------------- */

/* petrel.db at schema version 2, as petrel wrote it before the split (git
 * 317b01c src/store/store-sqlite.c): the accounts table with password_hash
 * and scram */
static const char V2_SQL[] =
	"PRAGMA journal_mode = WAL;"
	"CREATE TABLE schema_version (version INTEGER PRIMARY KEY NOT NULL,"
	" applied INTEGER NOT NULL);"
	"INSERT INTO schema_version VALUES (1, 0), (2, 0);"
	"CREATE TABLE domains (name TEXT PRIMARY KEY NOT NULL) WITHOUT ROWID;"
	"CREATE TABLE plans (name TEXT PRIMARY KEY NOT NULL,"
	" daily_limit INTEGER NOT NULL, per_minute INTEGER NOT NULL) WITHOUT ROWID;"
	"INSERT INTO plans (name, daily_limit, per_minute) VALUES ('free', 100, 0);"
	"CREATE TABLE accounts (name TEXT PRIMARY KEY NOT NULL,"
	" password_hash TEXT NOT NULL, plan TEXT NOT NULL REFERENCES plans(name),"
	" daily_limit INTEGER NOT NULL DEFAULT -1, per_minute INTEGER NOT NULL DEFAULT -1,"
	" sandbox INTEGER NOT NULL DEFAULT 0, disabled INTEGER NOT NULL DEFAULT 0,"
	" any_from INTEGER NOT NULL DEFAULT 0, created INTEGER NOT NULL);"
	"CREATE TABLE senders (account TEXT NOT NULL REFERENCES accounts(name) ON DELETE CASCADE,"
	" pattern TEXT NOT NULL, allow INTEGER NOT NULL,"
	" PRIMARY KEY (account, pattern)) WITHOUT ROWID;"
	"CREATE TABLE aliases (address TEXT NOT NULL, target TEXT NOT NULL,"
	" PRIMARY KEY (address, target)) WITHOUT ROWID;"
	"ALTER TABLE accounts ADD COLUMN scram TEXT NOT NULL DEFAULT '';"
	"CREATE TABLE counters (account TEXT NOT NULL, win TEXT NOT NULL,"
	" used INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (account, win)) WITHOUT ROWID;"
	"CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" time INTEGER NOT NULL, type TEXT NOT NULL, account TEXT, queue_id TEXT,"
	" recipient TEXT, code INTEGER NOT NULL DEFAULT 0, reason TEXT);"
	"CREATE INDEX events_account ON events (account, id);"
	"CREATE INDEX events_time ON events (time);"
	"INSERT INTO accounts (name, password_hash, plan, sandbox, created, scram) VALUES"
	" ('alice@old.test', '$y$j9T$OLDSECRETHASHALICE', 'free', 1, 1000,"
	"  '4096:c2FsdA==:STOREDKEYALICE:SERVERKEYALICE'),"
	" ('bob', '$6$OLDSECRETHASHBOB', 'free', 0, 2000, ''),"
	" ('carol@old.test', '$6$OLDSECRETHASHCAROL', 'free', 0, 3000, '');"
	"INSERT INTO senders VALUES ('alice@old.test', '@old.test', 1);";

/* old_data_dir - a data folder in DIR with V2_SQL's petrel.db, as SQLite
 * left it (the WAL checkpointed into the file at close) */
static void old_data_dir(char *dir)
{
	assert_non_null(mkdtemp(dir));
	sql_exec(dir, "petrel.db", V2_SQL);
	assert_int_equal(secret_columns(dir), 2);
}

static void test_migrate(void **state)
{
	(void)state;
	char dir[] = "/tmp/petrel-test-cred-mig-XXXXXX";
	old_data_dir(dir);
	const char *error = NULL;
	struct store *store = store_open(dir, &error);
	if (!store)
		fail_msg("store_open: %s", error);
	assert_int_equal(store_schema_version(store), 12);
	/* store_open alone keeps the secrets where they are ... */
	assert_int_equal(secret_columns(dir), 2);
	/* ... and no account can be added while they remain */
	struct store_account add = { .name = (char *)"dave", .daily_limit = -1, .per_minute = -1 };
	assert_int_equal(store_account_add(store, &add, &error), -1);
	assert_non_null(strstr(error, "store_credentials_migrate"));

	struct store_credentials *sc = store_credentials_open(dir, &error);
	assert_non_null(sc);
	/* carol already has credentials (a copy that committed before a crash,
	 * then a new password): the copy must not overwrite them */
	assert_int_equal(store_credentials_set(sc, "carol@old.test", "$y$NEWCAROL", "1:n:e:w",
					       &error), 0);
	if (store_credentials_migrate(store, sc, &error) != 0)
		fail_msg("migrate: %s", error);
	expect(sc, "alice@old.test", "$y$j9T$OLDSECRETHASHALICE",
	       "4096:c2FsdA==:STOREDKEYALICE:SERVERKEYALICE");
	expect(sc, "bob", "$6$OLDSECRETHASHBOB", "");
	expect(sc, "carol@old.test", "$y$NEWCAROL", "1:n:e:w");
	assert_int_equal(secret_columns(dir), 0);

	/* the rest of each account is as it was */
	struct store_account *a = NULL;
	assert_int_equal(store_account_get(store, "alice@old.test", &a, &error), 0);
	assert_true(a->sandbox);
	assert_int_equal(a->created, 1000);
	assert_string_equal(a->plan, "free");
	store_account_free(&a);
	bool allowed = false;
	assert_int_equal(store_sender_is_allowed(store, "alice@old.test", "x@old.test", &allowed,
						 &error), 0);
	assert_true(allowed);

	/* again: nothing to do, nothing changes (not even a newer password) */
	assert_int_equal(store_credentials_set(sc, "bob", "$y$NEWBOB", "", &error), 0);
	assert_int_equal(store_credentials_migrate(store, sc, &error), 0);
	expect(sc, "bob", "$y$NEWBOB", "");
	assert_int_equal(sql_int(dir, "auth/credentials.db",
				 "SELECT count(*) FROM credentials"), 3);
	assert_int_equal(secret_columns(dir), 0);

	/* accounts can be added again, and the old hashes are nowhere in
	 * petrel.db's files (overwritten, not just unlinked from the table) */
	assert_int_equal(store_account_add(store, &add, &error), 0);
	store_credentials_close(&sc);
	store_close(&store);
	static const char *const FILES[] = { "petrel.db", "petrel.db-wal" };
	for (size_t i = 0; i < sizeof(FILES) / sizeof(FILES[0]); i++) {
		char path[160];
		snprintf(path, sizeof(path), "%s/%s", dir, FILES[i]);
		if (file_contains(path, "OLDSECRETHASH") || file_contains(path, "STOREDKEYALICE"))
			fail_msg("%s still holds an old secret", path);
	}
	/* a store opened afterwards finds version 3 without the columns */
	store = store_open(dir, &error);
	assert_non_null(store);
	assert_int_equal(secret_columns(dir), 0);
	store_close(&store);
	rm_rf(dir);
}

/* test_migrate_copy_fails - when the copy cannot commit, petrel.db keeps its
 * columns and the secrets in them; a later run moves them */
static void test_migrate_copy_fails(void **state)
{
	(void)state;
	char dir[] = "/tmp/petrel-test-cred-fail-XXXXXX";
	old_data_dir(dir);
	const char *error = NULL;
	struct store *store = store_open(dir, &error);
	assert_non_null(store);
	struct store_credentials *sc = store_credentials_open(dir, &error);
	assert_non_null(sc);
	/* the credentials table goes missing under the open database */
	sql_exec(dir, "auth/credentials.db", "DROP TABLE credentials");
	error = NULL;
	assert_int_equal(store_credentials_migrate(store, sc, &error), -1);
	assert_non_null(error);
	assert_int_equal(secret_columns(dir), 2);
	assert_int_equal(sql_int(dir, "petrel.db", "SELECT count(*) FROM accounts"
				 " WHERE password_hash LIKE '%OLDSECRETHASH%'"), 3);
	store_credentials_close(&sc);

	/* a new credentials database: the rerun copies and drops */
	char path[160];
	snprintf(path, sizeof(path), "rm -f '%s'/auth/credentials.db*", dir);
	assert_int_equal(system(path), 0);
	sc = store_credentials_open(dir, &error);
	assert_non_null(sc);
	assert_int_equal(store_credentials_migrate(store, sc, &error), 0);
	expect(sc, "bob", "$6$OLDSECRETHASHBOB", "");
	assert_int_equal(secret_columns(dir), 0);
	store_credentials_close(&sc);
	store_close(&store);
	rm_rf(dir);
}

/* test_migrate_from_version_1 - a petrel.db of the first schema (no scram
 * column) goes through versions 2 and 3: its hash moves, with SCRAM "" */
static void test_migrate_from_version_1(void **state)
{
	(void)state;
	char dir[] = "/tmp/petrel-test-cred-v1-XXXXXX";
	assert_non_null(mkdtemp(dir));
	sql_exec(dir, "petrel.db",
		 "CREATE TABLE schema_version (version INTEGER PRIMARY KEY NOT NULL,"
		 " applied INTEGER NOT NULL);"
		 "INSERT INTO schema_version VALUES (1, 0);"
		 "CREATE TABLE domains (name TEXT PRIMARY KEY NOT NULL) WITHOUT ROWID;"
		 "CREATE TABLE plans (name TEXT PRIMARY KEY NOT NULL,"
		 " daily_limit INTEGER NOT NULL, per_minute INTEGER NOT NULL) WITHOUT ROWID;"
		 "INSERT INTO plans (name, daily_limit, per_minute) VALUES ('free', 100, 0);"
		 "CREATE TABLE accounts (name TEXT PRIMARY KEY NOT NULL,"
		 " password_hash TEXT NOT NULL, plan TEXT NOT NULL REFERENCES plans(name),"
		 " daily_limit INTEGER NOT NULL DEFAULT -1, per_minute INTEGER NOT NULL DEFAULT -1,"
		 " sandbox INTEGER NOT NULL DEFAULT 0, disabled INTEGER NOT NULL DEFAULT 0,"
		 " any_from INTEGER NOT NULL DEFAULT 0, created INTEGER NOT NULL);"
		 "CREATE TABLE senders (account TEXT NOT NULL REFERENCES accounts(name)"
		 " ON DELETE CASCADE, pattern TEXT NOT NULL, allow INTEGER NOT NULL,"
		 " PRIMARY KEY (account, pattern)) WITHOUT ROWID;"
		 "CREATE TABLE aliases (address TEXT NOT NULL, target TEXT NOT NULL,"
		 " PRIMARY KEY (address, target)) WITHOUT ROWID;"
		 "INSERT INTO accounts (name, password_hash, plan, created)"
		 " VALUES ('old@old.test', '$6$a$b', 'free', 1000);");
	const char *error = NULL;
	struct store *store = store_open(dir, &error);
	assert_non_null(store);
	struct store_credentials *sc = store_credentials_open(dir, &error);
	assert_non_null(sc);
	assert_int_equal(store_credentials_migrate(store, sc, &error), 0);
	expect(sc, "old@old.test", "$6$a$b", "");
	assert_int_equal(secret_columns(dir), 0);
	store_credentials_close(&sc);
	store_close(&store);
	rm_rf(dir);
}

/* test_migrate_without_accounts - an old petrel.db without any account loses
 * the columns at store_open already (there is nothing to move); migrate
 * then has nothing to do */
static void test_migrate_without_accounts(void **state)
{
	(void)state;
	char dir[] = "/tmp/petrel-test-cred-empty-XXXXXX";
	old_data_dir(dir);
	sql_exec(dir, "petrel.db", "DELETE FROM senders; DELETE FROM accounts;");
	const char *error = NULL;
	struct store *store = store_open(dir, &error);
	assert_non_null(store);
	assert_int_equal(secret_columns(dir), 0);
	struct store_credentials *sc = store_credentials_open(dir, &error);
	assert_non_null(sc);
	assert_int_equal(store_credentials_migrate(store, sc, &error), 0);
	assert_int_equal(sql_int(dir, "auth/credentials.db",
				 "SELECT count(*) FROM credentials"), 0);
	store_credentials_close(&sc);
	store_close(&store);
	rm_rf(dir);
}

/* ---- copy: petrel store copy moves a node's secrets --------------------------------- */

/* test_copy - a node's credentials.db into this (empty) store, every row
 * as it was; a second copy into the now full one is refused */
static void test_copy(void **state)
{
	struct fixture *f = *state;
	char dir[] = "/tmp/petrel-test-cred-from-XXXXXX";
	assert_non_null(mkdtemp(dir));
	const char *error = NULL;
	struct store_credentials *from = store_credentials_open(dir, &error);
	assert_non_null(from);
	assert_int_equal(store_credentials_set(from, "a@example.org", "$y$a", "4096:a", &error),
			 0);
	assert_int_equal(store_credentials_set(from, "b", "$y$b", NULL, &error), 0);
	/* b's API key goes with it */
	char key[STORE_APIKEY_LEN + 1], id[STORE_APIKEY_ID_LEN + 1], hash[65];
	assert_int_equal(store_apikey_make(key, id, hash), 0);
	struct store_apikey row = { .id = id, .account = (char *)"b", .name = (char *)"n",
				    .scopes = (char *)"mail.send", .hash = hash, .created = 7 };
	assert_int_equal(store_apikey_add(from, &row, &error), 0);
	size_t copied = 9;
	assert_int_equal(store_credentials_copy(from, f->sc, &copied, &error), 0);
	assert_int_equal(copied, 2);
	expect(f->sc, "a@example.org", "$y$a", "4096:a");
	expect(f->sc, "b", "$y$b", "");
	struct store_apikey got;
	assert_int_equal(store_apikey_get(f->sc, id, &got, &error), 0);
	assert_string_equal(got.account, "b");
	assert_string_equal(got.hash, hash);
	assert_int_equal(got.created, 7);
	store_apikey_clear(&got);
	assert_int_equal(store_credentials_copy(from, f->sc, &copied, &error), 1);
	assert_int_equal(copied, 0);
	assert_non_null(strstr(error, "already holds credentials"));
	store_credentials_close(&from);
	rm_rf(dir);
}

/* test_pg_tables_apart - the credentials' database gets its own tables and
 * version table, none of the store's (accounts, schema_version), so that
 * it can share a database with the store under another schema and role */
static void test_pg_tables_apart(void **state)
{
	struct fixture *f = *state;
	assert_string_equal(store_credentials_backend_name(f->sc), "postgresql");
	assert_int_equal(store_credentials_schema_version(f->sc), 3);
	assert_int_equal(pg_count("SELECT count(*) FROM credentials_schema_version"), 3);
	assert_int_equal(pg_count("SELECT count(*) FROM pg_tables WHERE tablename IN"
				  " ('accounts', 'schema_version')"), 0);
	/* opened again (another node): migrated once */
	const char *error = NULL;
	const struct store_settings settings = { .data_dir = f->dir, .url = pg_url };
	struct store_credentials *again = store_credentials_open_settings(&settings, &error);
	assert_non_null(again);
	assert_int_equal(pg_count("SELECT count(*) FROM credentials_schema_version"), 3);
	store_credentials_close(&again);
}

/* ---- the shared AUTH throttle (PostgreSQL) ----------------------------------------- */

/* test_pg_auth_failures - failures through two handles (two nodes) add up:
 * the lockout comes at lockout_after in total and lasts lockout_time; after
 * it, and after the window, the count starts again; rows past both go */
static void test_pg_auth_failures(void **state)
{
	struct fixture *f = *state;
	const struct store_auth_throttle limits = { .lockout_after = 5, .window = 100,
						    .lockout_time = 50 };
	const char *error = NULL;
	const struct store_settings settings = { .data_dir = f->dir, .url = pg_url };
	struct store_credentials *other = store_credentials_open_settings(&settings, &error);
	assert_non_null(other);
	assert_true(store_credentials_shares_failures(f->sc));
	unsigned failures = 0;
	time_t until = 1;
	for (unsigned i = 1; i <= 5; i++) {
		assert_int_equal(store_auth_failure_add(i % 2 ? f->sc : other, "c1", 1000 + i, &limits,
							&failures, &until, &error), 0);
		assert_int_equal(failures, i);
		assert_int_equal(until, i < 5 ? 0 : 1055);
	}
	assert_int_equal(store_auth_locked(other, "c1", 1054, &until, &error), 0);
	assert_int_equal(until, 1055);
	assert_int_equal(store_auth_locked(f->sc, "c2", 1054, &until, &error), 0);
	assert_int_equal(until, 0);
	assert_int_equal(store_auth_locked(f->sc, "c1", 1055, &until, &error), 0);
	assert_int_equal(until, 0);
	/* the lockout over: a fresh count */
	assert_int_equal(store_auth_failure_add(f->sc, "c1", 1060, &limits, &failures, &until,
						&error), 0);
	assert_int_equal(failures, 1);
	assert_int_equal(until, 0);
	assert_int_equal(store_auth_failure_add(f->sc, "c1", 1100, &limits, &failures, &until,
						&error), 0);
	assert_int_equal(failures, 2);
	/* the window (from the first failure) over: a fresh count */
	assert_int_equal(store_auth_failure_add(other, "c1", 1161, &limits, &failures, &until,
						&error), 0);
	assert_int_equal(failures, 1);
	/* c1's row is past its window and unlocked at 1300: a failure of c3 prunes it */
	assert_int_equal(store_auth_failure_add(other, "c3", 1300, &limits, &failures, &until,
						&error), 0);
	assert_int_equal(pg_count("SELECT count(*) FROM auth_failures WHERE client = 'c1'"), 0);
	store_credentials_close(&other);
}

/* test_pg_bad_url - a credentials URL that a password's '@' splits is
 * refused under its own setting's name, the password left out */
static void test_pg_bad_url(void **state)
{
	(void)state;
	const char *error = NULL;
	const struct store_settings settings = {
		.data_dir = "/nonexistent", .url = "postgresql://auth:se@cret@db.example/cr"
	};
	assert_null(store_credentials_open_settings(&settings, &error));
	assert_non_null(strstr(error, "[store] credentials_url: a '@' in the host"));
	assert_null(strstr(error, "cret"));
}

#define FAILURE_THREADS 8
#define FAILURE_ROUNDS 25

static void *failure_worker(void *arg)
{
	struct store_credentials *sc = arg;
	const struct store_auth_throttle limits = { .window = 3600, .lockout_time = 60 };
	long bad = 0;
	for (int i = 0; i < FAILURE_ROUNDS; i++) {
		unsigned failures;
		time_t until;
		const char *error = NULL;
		if (store_auth_failure_add(sc, "busy", 5000, &limits, &failures, &until, &error) != 0)
			bad++;
	}
	return (void *)bad;
}

/* test_pg_auth_failures_concurrent - eight threads on two handles count one
 * address at once: no failure is lost (an upsert, not a read then a write) */
static void test_pg_auth_failures_concurrent(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	const struct store_settings settings = { .data_dir = f->dir, .url = pg_url };
	struct store_credentials *other = store_credentials_open_settings(&settings, &error);
	assert_non_null(other);
	pthread_t t[FAILURE_THREADS];
	for (int i = 0; i < FAILURE_THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, failure_worker, i % 2 ? f->sc : other),
				 0);
	for (int i = 0; i < FAILURE_THREADS; i++) {
		void *bad = NULL;
		assert_int_equal(pthread_join(t[i], &bad), 0);
		assert_null(bad);
	}
	assert_int_equal(pg_count("SELECT failures FROM auth_failures WHERE client = 'busy'"),
			 FAILURE_THREADS * FAILURE_ROUNDS);
	store_credentials_close(&other);
}

/* test_sqlite_no_shared_failures - one node's file keeps no shared count:
 * the auth process's memory is the whole throttle */
static void test_sqlite_no_shared_failures(void **state)
{
	struct fixture *f = *state;
	const struct store_auth_throttle limits = { .lockout_after = 5, .window = 100 };
	const char *error = NULL;
	unsigned failures = 1;
	time_t until = 1;
	assert_false(store_credentials_shares_failures(f->sc));
	assert_int_equal(store_auth_failure_add(f->sc, "c1", 1000, &limits, &failures, &until,
						&error), -1);
	assert_int_equal(failures, 0);
	assert_int_equal(store_auth_locked(f->sc, "c1", 1000, &until, &error), -1);
}

int main(void)
{
	/* the same tests of every function on both backends */
#define COMMON_TESTS \
		cmocka_unit_test_setup_teardown(test_set_get_remove, setup, teardown), \
		cmocka_unit_test_setup_teardown(test_apikeys, setup, teardown), \
		cmocka_unit_test_setup_teardown(test_apikey_update, setup, teardown), \
		cmocka_unit_test_setup_teardown(test_scram_replace, setup, teardown), \
		cmocka_unit_test_setup_teardown(test_threads, setup, teardown), \
		cmocka_unit_test_setup_teardown(test_copy, setup, teardown)
	const struct CMUnitTest sqlite_tests[] = {
		cmocka_unit_test_setup_teardown(test_open_modes, setup, teardown),
		cmocka_unit_test(test_open_errors),
		COMMON_TESTS,
		cmocka_unit_test(test_migrate),
		cmocka_unit_test(test_migrate_copy_fails),
		cmocka_unit_test(test_migrate_from_version_1),
		cmocka_unit_test(test_migrate_without_accounts),
		cmocka_unit_test_setup_teardown(test_sqlite_no_shared_failures, setup, teardown),
	};
	const struct CMUnitTest pg_tests[] = {
		cmocka_unit_test_setup_teardown(test_pg_tables_apart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pg_auth_failures, setup, teardown),
		cmocka_unit_test(test_pg_bad_url),
		cmocka_unit_test_setup_teardown(test_pg_auth_failures_concurrent, setup, teardown),
		COMMON_TESTS,
	};
	pg_url = getenv("PETREL_TEST_PG_URL");
	if (pg_url && *pg_url)
		return cmocka_run_group_tests_name("credentials-postgresql", pg_tests, NULL, NULL);
	pg_url = NULL;
	return cmocka_run_group_tests_name("credentials-sqlite", sqlite_tests, NULL, NULL);
}
