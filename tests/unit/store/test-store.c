/* test-store - the store on a real SQLite database in a temporary folder,
 * or, with PETREL_TEST_PG_URL set (tests/unit/store/with-postgresql.sh
 * starts a throwaway cluster and sets it), on PostgreSQL: the same tests of
 * every function, plus each backend's own schema tests.  SQLite: schema
 * creation and migration of a hand-made version 1 database, every
 * function's success and error paths, sender rule precedence, recipient
 * resolution, counters (also reserved by many threads through two handles
 * at once, never over the limit) and events (pruned in batches; the batch
 * writer's bound when SQLite is held up). */
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
#include <event2/event.h>
#include <libpq-fe.h>
#include <sqlite3.h>

#include "store/store.h"
#include "util/pool.h"

struct fixture {
	char dir[64];
	struct store *store;
};

/* the PostgreSQL database under test, or NULL: SQLite */
static const char *pg_url;

/* pg_sql - run SQL on a connection of the test's own; fails the test if it
 * fails */
static void pg_sql(const char *sql)
{
	PGconn *c = PQconnectdb(pg_url);
	if (PQstatus(c) != CONNECTION_OK)
		fail_msg("connecting to %s: %s", pg_url, PQerrorMessage(c));
	PGresult *r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", sql, PQerrorMessage(c));
	PQclear(r);
	PQfinish(c);
}

/* store_reopen - another handle on F's store (as another process or node
 * would have) */
static struct store *store_reopen(struct fixture *f, const char **error_r)
{
	if (!pg_url)
		return store_open(f->dir, error_r);
	const struct store_settings settings = { .data_dir = f->dir, .url = pg_url };
	return store_open_settings(&settings, error_r);
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
	strcpy(f->dir, "/tmp/petrel-test-store-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	const char *error = NULL;
	/* each test starts from an empty database */
	if (pg_url)
		pg_sql("SET client_min_messages = warning;"
		       " DROP SCHEMA public CASCADE; CREATE SCHEMA public");
	f->store = store_reopen(f, &error);
	if (!f->store) {
		fprintf(stderr, "store_open: %s\n", error);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	store_close(&f->store);
	rm_rf(f->dir);
	free(f);
	return 0;
}

/* add_account - an account with the default limits */
static void add_account(struct store *s, const char *name, const char *plan)
{
	struct store_account a = {
		.name = (char *)name,
		.plan = (char *)plan,
		.daily_limit = -1,
		.per_minute = -1,
	};
	const char *error = NULL;
	int rc = store_account_add(s, &a, &error);
	if (rc != 0)
		fail_msg("account_add %s: %d %s", name, rc, error);
}

/* sender_set - a sender rule for ACCOUNT, which must be accepted */
static void sender_set(struct store *s, const char *account, const char *pattern, bool allow)
{
	const char *error = NULL;
	int rc = store_sender_set(s, account, pattern, allow, &error);
	if (rc != 0)
		fail_msg("sender_set %s %s: %d %s", account, pattern, rc, error);
}

/* sender_is_allowed - whether ACCOUNT may send as ADDRESS; the question
 * itself must succeed */
static bool sender_is_allowed(struct store *s, const char *account, const char *address)
{
	const char *error = NULL;
	bool allowed = false;
	assert_int_equal(store_sender_is_allowed(s, account, address, &allowed, &error), 0);
	return allowed;
}

/* events_read_all - every event of S, oldest first, their number in *N_R;
 * the call itself must succeed */
static struct store_event **events_read_all(struct store *s, size_t *n_r)
{
	const char *error = NULL;
	struct store_event **v = NULL;
	*n_r = 0;
	assert_int_equal(store_event_list(s, NULL, 0, 0, 0, &v, n_r, &error), 0);
	return v;
}

/* assert_no_sender_rules - ACCOUNT exists and has no sender rule */
static void assert_no_sender_rules(struct store *s, const char *account)
{
	const char *error = NULL;
	struct store_sender *rules = NULL;
	size_t n = 9;
	assert_int_equal(store_sender_list(s, account, &rules, &n, &error), 0);
	assert_int_equal(n, 0);
	store_sender_list_free(&rules, n);
}

/* column_count - how many of the columns password_hash and scram the
 * accounts table of DIR/petrel.db has, read through a connection of its own */
static int column_count(const char *dir)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/petrel.db", dir);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_stmt *q;
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM pragma_table_info('accounts')"
					    " WHERE name IN ('password_hash', 'scram')", -1, &q,
					    NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	int n = sqlite3_column_int(q, 0);
	sqlite3_finalize(q);
	sqlite3_close(db);
	return n;
}

static size_t strv_len(char **v)
{
	size_t n = 0;
	while (v[n])
		n++;
	return n;
}

/* ---- schema ---------------------------------------------------------------- */

static void test_open_creates_schema(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(store_schema_version(f->store), 12);
	/* a new database holds no secrets: nothing to move, the columns are gone */
	assert_int_equal(column_count(f->dir), 0);

	char path[128];
	snprintf(path, sizeof(path), "%s/petrel.db", f->dir);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0137, 0);   /* at most 0640 */

	/* WAL mode, as another process sees it */
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_stmt *q;
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &q, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(q, 0), "wal");
	sqlite3_finalize(q);
	sqlite3_close(db);

	/* the built-in plan */
	struct store_plan *p = NULL;
	const char *error = NULL;
	assert_int_equal(store_plan_get(f->store, "free", &p, &error), 0);
	assert_int_equal(p->daily_limit, 100);
	assert_int_equal(p->per_minute, 0);
	/* the default quota ([mailbox] quota_default) */
	assert_int_equal(p->quota_bytes, -1);
	assert_int_equal(p->quota_messages, -1);
	store_plan_free(&p);
	assert_null(p);

	/* reopening an up-to-date database changes nothing */
	struct store *again = store_open(f->dir, &error);
	assert_non_null(again);
	assert_int_equal(store_schema_version(again), 12);
	store_close(&again);
	assert_null(again);
}

/* the version 1 schema exactly as the first petrel wrote it */
static const char V1_SQL[] =
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
	"CREATE TABLE senders (account TEXT NOT NULL REFERENCES accounts(name) ON DELETE CASCADE,"
	" pattern TEXT NOT NULL, allow INTEGER NOT NULL,"
	" PRIMARY KEY (account, pattern)) WITHOUT ROWID;"
	"CREATE TABLE aliases (address TEXT NOT NULL, target TEXT NOT NULL,"
	" PRIMARY KEY (address, target)) WITHOUT ROWID;"
	"INSERT INTO domains VALUES ('old.test');"
	"INSERT INTO accounts (name, password_hash, plan, created)"
	" VALUES ('old@old.test', '$6$a$b', 'free', 1000);"
	"INSERT INTO senders VALUES ('old@old.test', '@old.test', 1);";

static void make_db(const char *dir, const char *sql)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/petrel.db", dir);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s", msg);
	sqlite3_close(db);
}

static void test_migrate_from_version_1(void **state)
{
	(void)state;
	char dir[] = "/tmp/petrel-test-store-v1-XXXXXX";
	assert_non_null(mkdtemp(dir));
	make_db(dir, V1_SQL);

	const char *error = NULL;
	struct store *s = store_open(dir, &error);
	if (!s)
		fail_msg("store_open: %s", error);
	assert_int_equal(store_schema_version(s), 12);

	/* the old rows are there; the hash stays in petrel.db (store_open has
	 * nowhere to move it) until store_credentials_migrate */
	struct store_account *a = NULL;
	assert_int_equal(store_account_get(s, "old@old.test", &a, &error), 0);
	assert_int_equal(a->created, 1000);
	store_account_free(&a);
	assert_int_equal(column_count(dir), 2);
	bool exists = false;
	assert_int_equal(store_domain_exists(s, "old.test", &exists, &error), 0);
	assert_true(exists);
	assert_true(sender_is_allowed(s, "old@old.test", "x@old.test"));

	/* an old plan has the default quota (migration 5) */
	struct store_plan *p = NULL;
	assert_int_equal(store_plan_get(s, "free", &p, &error), 0);
	assert_int_equal(p->quota_bytes, -1);
	assert_int_equal(p->quota_messages, -1);
	store_plan_free(&p);

	/* and the new tables work */
	struct store_event e = { .type = (char *)"accepted", .account = (char *)"old@old.test" };
	assert_int_equal(store_event_add(s, &e, &error), 0);
	bool ok = false;
	uint64_t count = 0;
	assert_int_equal(store_counter_reserve(s, "old@old.test", "d:20260101", 1, 100, &ok,
					       &count, &error), 0);
	assert_true(ok);
	store_close(&s);

	/* the version table records both steps */
	char path[128];
	snprintf(path, sizeof(path), "%s/petrel.db", dir);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_stmt *q;
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*), max(version) FROM schema_version",
					    -1, &q, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(q, 0), 12);
	assert_int_equal(sqlite3_column_int(q, 1), 12);
	sqlite3_finalize(q);
	sqlite3_close(db);
	rm_rf(dir);
}

static void test_newer_schema_refused(void **state)
{
	(void)state;
	char dir[] = "/tmp/petrel-test-store-v99-XXXXXX";
	assert_non_null(mkdtemp(dir));
	make_db(dir, "CREATE TABLE schema_version (version INTEGER PRIMARY KEY NOT NULL,"
		     " applied INTEGER NOT NULL); INSERT INTO schema_version VALUES (99, 0);");
	const char *error = NULL;
	struct store *s = store_open(dir, &error);
	assert_null(s);
	assert_non_null(strstr(error, "99"));
	rm_rf(dir);
}

static void test_open_errors(void **state)
{
	(void)state;
	const char *error = NULL;
	assert_null(store_open("/nonexistent-petrel/sub/dir", &error));
	assert_non_null(error);

	/* a data folder that is a file */
	char file[] = "/tmp/petrel-test-store-file-XXXXXX";
	int fd = mkstemp(file);
	assert_true(fd >= 0);
	close(fd);
	error = NULL;
	assert_null(store_open(file, &error));
	assert_non_null(error);

	/* a petrel.db that is not a database */
	char dir[] = "/tmp/petrel-test-store-junk-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[128];
	snprintf(path, sizeof(path), "%s/petrel.db", dir);
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("this is not an SQLite database, not at all, no no no no no no no no\n", fp);
	assert_int_equal(fclose(fp), 0);
	error = NULL;
	assert_null(store_open(dir, &error));
	assert_non_null(error);
	unlink(file);
	rm_rf(dir);
}

/* ---- checks ----------------------------------------------------------------- */

static void test_input_checks(void **state)
{
	(void)state;
	static const char *const good_domains[] = {
		"example.org", "EXAMPLE.org", "a.b-c.d", "x", "xn--bcher-kva.example", "1.2.3.4",
	};
	static const char *const bad_domains[] = {
		"", ".", "example.org.", ".example.org", "a..b", "-a.b", "a-.b", "a_b.c",
		"ex ample.org", "a@b", "[127.0.0.1]",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.org",
	};
	for (size_t i = 0; i < sizeof(good_domains) / sizeof(*good_domains); i++)
		if (!store_domain_is_valid(good_domains[i]))
			fail_msg("rejected domain '%s'", good_domains[i]);
	for (size_t i = 0; i < sizeof(bad_domains) / sizeof(*bad_domains); i++)
		if (store_domain_is_valid(bad_domains[i]))
			fail_msg("accepted domain '%s'", bad_domains[i]);
	assert_false(store_domain_is_valid(NULL));

	static const char *const good_addresses[] = {
		"a@b.c", "first.last@example.org", "user+tag@example.org", "o'brien@x.y",
		"UPPER@Example.ORG",
	};
	static const char *const bad_addresses[] = {
		"", "@example.org", "user@", "user", "a..b@example.org", ".a@example.org",
		"a.@example.org", "a b@example.org", "\"q\"@example.org", "a@b@c.d",
		"a@-b.c", "a@b.c.",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@b.c",
	};
	for (size_t i = 0; i < sizeof(good_addresses) / sizeof(*good_addresses); i++)
		if (!store_address_is_valid(good_addresses[i]))
			fail_msg("rejected address '%s'", good_addresses[i]);
	for (size_t i = 0; i < sizeof(bad_addresses) / sizeof(*bad_addresses); i++)
		if (store_address_is_valid(bad_addresses[i]))
			fail_msg("accepted address '%s'", bad_addresses[i]);

	assert_true(store_account_name_is_valid("alice"));
	assert_true(store_account_name_is_valid("alice@example.org"));
	assert_true(store_account_name_is_valid("app-1.prod"));
	assert_false(store_account_name_is_valid(""));
	assert_false(store_account_name_is_valid("al ice"));
	assert_false(store_account_name_is_valid("alice@"));
	assert_false(store_account_name_is_valid(NULL));

	/* the domain is after the last '@' (quoted local parts may hold one) */
	assert_string_equal(store_address_domain("a@example.org"), "example.org");
	assert_string_equal(store_address_domain("\"a@b\"@example.org"), "example.org");
	assert_string_equal(store_address_domain("a@"), "");
	assert_string_equal(store_address_domain("postmaster"), "");
}

/* ---- domains ---------------------------------------------------------------- */

static void test_domains(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	assert_int_equal(store_domain_add(f->store, "Example.ORG", &error), 0);
	assert_int_equal(store_domain_add(f->store, "b.example", &error), 0);
	assert_int_equal(store_domain_add(f->store, "example.org", &error), STORE_EXISTS);
	assert_non_null(strstr(error, "exists"));
	assert_int_equal(store_domain_add(f->store, "bad..domain", &error), -1);
	assert_non_null(strstr(error, "invalid"));

	bool exists = false;
	assert_int_equal(store_domain_exists(f->store, "EXAMPLE.org.", &exists, &error), 0);
	assert_true(exists);
	assert_int_equal(store_domain_exists(f->store, "other.org", &exists, &error), 0);
	assert_false(exists);

	char **list = NULL;
	assert_int_equal(store_domain_list(f->store, &list, &error), 0);
	assert_int_equal(strv_len(list), 2);
	assert_string_equal(list[0], "b.example");
	assert_string_equal(list[1], "example.org");
	store_strv_free(&list);
	assert_null(list);

	assert_int_equal(store_domain_remove(f->store, "EXAMPLE.ORG", &error), 0);
	assert_int_equal(store_domain_remove(f->store, "example.org", &error), STORE_NOT_FOUND);
	assert_int_equal(store_domain_exists(f->store, "example.org", &exists, &error), 0);
	assert_false(exists);
	assert_int_equal(store_domain_list(f->store, &list, &error), 0);
	assert_int_equal(strv_len(list), 1);
	store_strv_free(&list);
}

/* ---- plans ------------------------------------------------------------------- */

static void test_plans(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	struct store_plan pro = { .name = (char *)"Pro", .daily_limit = 5000, .per_minute = 60,
				  .quota_bytes = INT64_C(5) << 30, .quota_messages = -1 };
	assert_int_equal(store_plan_set(f->store, &pro, &error), 0);
	struct store_plan *p = NULL;
	assert_int_equal(store_plan_get(f->store, "pro", &p, &error), 0);
	assert_string_equal(p->name, "pro");
	assert_int_equal(p->daily_limit, 5000);
	assert_int_equal(p->per_minute, 60);
	assert_int_equal(p->quota_bytes, INT64_C(5) << 30);
	assert_int_equal(p->quota_messages, -1);
	store_plan_free(&p);

	/* set again: replaced; the built-in plan can be changed too */
	pro.daily_limit = 0;
	assert_int_equal(store_plan_set(f->store, &pro, &error), 0);
	struct store_plan free_plan = { .name = (char *)"free", .daily_limit = 50 };
	assert_int_equal(store_plan_set(f->store, &free_plan, &error), 0);

	struct store_plan **plans = NULL;
	size_t n = 0;
	assert_int_equal(store_plan_list(f->store, &plans, &n, &error), 0);
	assert_int_equal(n, 2);
	assert_string_equal(plans[0]->name, "free");
	assert_int_equal(plans[0]->daily_limit, 50);
	assert_string_equal(plans[1]->name, "pro");
	assert_int_equal(plans[1]->daily_limit, 0);
	store_plan_list_free(&plans, n);
	assert_null(plans);

	assert_int_equal(store_plan_get(f->store, "gold", &p, &error), STORE_NOT_FOUND);
	struct store_plan bad = { .name = (char *)"no good" };
	assert_int_equal(store_plan_set(f->store, &bad, &error), -1);
	bad.name = (char *)"";
	assert_int_equal(store_plan_set(f->store, &bad, &error), -1);
	bad.name = NULL;
	assert_int_equal(store_plan_set(f->store, &bad, &error), -1);
}

/* test_account_plan - an account's plan in one read: the quota the mailbox
 * checks at RCPT, DATA and delivery */
static void test_account_plan(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	struct store_plan pro = { .name = (char *)"pro", .daily_limit = 5000,
				  .quota_bytes = INT64_C(5) << 30, .quota_messages = 70 };
	assert_int_equal(store_plan_set(f->store, &pro, &error), 0);
	add_account(f->store, "big@example.org", "pro");
	add_account(f->store, "small@example.org", NULL);
	struct store_plan *p = NULL;
	assert_int_equal(store_account_plan_get(f->store, "Big@Example.ORG", &p, &error), 0);
	assert_string_equal(p->name, "pro");
	assert_int_equal(p->daily_limit, 5000);
	assert_int_equal(p->quota_bytes, INT64_C(5) << 30);
	assert_int_equal(p->quota_messages, 70);
	store_plan_free(&p);
	assert_int_equal(store_account_plan_get(f->store, "small@example.org", &p, &error), 0);
	assert_string_equal(p->name, "free");
	assert_int_equal(p->quota_bytes, -1);
	store_plan_free(&p);
	assert_int_equal(store_account_plan_get(f->store, "nobody@example.org", &p, &error),
			 STORE_NOT_FOUND);
	assert_null(p);
}

/* ---- accounts ------------------------------------------------------------------ */

static void test_accounts(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	struct store_account a = {
		.name = (char *)"Alice@Example.ORG",
		.daily_limit = -1,
		.per_minute = 10,
		.sandbox = true,
	};
	time_t before = time(NULL);
	assert_int_equal(store_account_add(f->store, &a, &error), 0);
	assert_int_equal(store_account_add(f->store, &a, &error), STORE_EXISTS);

	struct store_account *got = NULL;
	assert_int_equal(store_account_get(f->store, "ALICE@example.org", &got, &error), 0);
	assert_string_equal(got->name, "alice@example.org");
	assert_string_equal(got->plan, "free");
	assert_int_equal(got->daily_limit, -1);
	assert_int_equal(got->per_minute, 10);
	assert_true(got->sandbox);
	assert_false(got->disabled);
	assert_false(got->any_from);
	assert_false(got->unverified);   /* `petrel account add`'s: verified */
	assert_false(got->pending);
	assert_true(got->created >= before && got->created <= time(NULL));

	/* update every field but name and created */
	struct store_plan pro = { .name = (char *)"pro", .daily_limit = 1000 };
	assert_int_equal(store_plan_set(f->store, &pro, &error), 0);
	time_t created = got->created;
	free(got->plan);
	got->plan = strdup("pro");
	got->disabled = true;
	got->sandbox = false;
	got->any_from = true;
	got->unverified = true;
	got->pending = true;
	got->daily_limit = 7;
	got->created = 1;
	assert_int_equal(store_account_update(f->store, got, &error), 0);
	store_account_free(&got);
	assert_null(got);
	assert_int_equal(store_account_get(f->store, "alice@example.org", &got, &error), 0);
	assert_string_equal(got->plan, "pro");
	assert_true(got->disabled);
	assert_false(got->sandbox);
	assert_true(got->any_from);
	assert_true(got->unverified);
	assert_true(got->pending);
	assert_int_equal(got->daily_limit, 7);
	assert_int_equal(got->created, created);

	/* errors */
	free(got->plan);
	got->plan = strdup("gold");
	assert_int_equal(store_account_update(f->store, got, &error), -1);
	assert_non_null(strstr(error, "no plan gold"));
	store_account_free(&got);
	struct store_account ghost = { .name = (char *)"ghost", .daily_limit = -1,
				       .per_minute = -1 };
	assert_int_equal(store_account_update(f->store, &ghost, &error), STORE_NOT_FOUND);
	assert_int_equal(store_account_get(f->store, "ghost", &got, &error), STORE_NOT_FOUND);
	ghost.plan = (char *)"gold";
	assert_int_equal(store_account_add(f->store, &ghost, &error), -1);
	assert_non_null(strstr(error, "no plan gold"));
	ghost.plan = NULL;
	ghost.name = (char *)"bad name";
	assert_int_equal(store_account_add(f->store, &ghost, &error), -1);
	ghost.name = (char *)"ok";
	ghost.daily_limit = -5;
	assert_int_equal(store_account_add(f->store, &ghost, &error), -1);

	/* list, sorted */
	add_account(f->store, "bob", NULL);
	struct store_account **list = NULL;
	size_t n = 0;
	assert_int_equal(store_account_list(f->store, &list, &n, &error), 0);
	assert_int_equal(n, 2);
	assert_string_equal(list[0]->name, "alice@example.org");
	assert_string_equal(list[1]->name, "bob");
	store_account_list_free(&list, n);
	assert_null(list);

	/* a page: LIMIT and OFFSET, and the total */
	add_account(f->store, "carol", NULL);
	uint64_t total = 0;
	assert_int_equal(store_account_list_page(f->store, 1, 1, &list, &n, &total, &error), 0);
	assert_int_equal(n, 1);
	assert_int_equal(total, 3);
	assert_string_equal(list[0]->name, "bob");
	store_account_list_free(&list, n);
	assert_int_equal(store_account_list_page(f->store, 1, 5, &list, &n, &total, &error), 0);
	assert_int_equal(n, 2);
	assert_string_equal(list[1]->name, "carol");
	store_account_list_free(&list, n);
	assert_int_equal(store_account_list_page(f->store, 3, 5, &list, &n, &total, &error), 0);
	assert_int_equal(n, 0);
	assert_int_equal(total, 3);
	store_account_list_free(&list, n);
	assert_int_equal(store_account_list_page(f->store, UINT64_MAX, UINT64_MAX, &list, &n,
						 &total, &error), 0);
	assert_int_equal(n, 0);
	store_account_list_free(&list, n);
	assert_int_equal(store_account_remove(f->store, "carol", &error), 0);

	/* remove takes the sender rules and counters along */
	sender_set(f->store, "alice@example.org", "@example.org", true);
	bool ok;
	uint64_t count;
	assert_int_equal(store_counter_reserve(f->store, "alice@example.org", "d:20261129", 3, 0,
					       &ok, &count, &error), 0);
	assert_int_equal(store_account_remove(f->store, "Alice@example.org", &error), 0);
	assert_int_equal(store_account_remove(f->store, "alice@example.org", &error),
			 STORE_NOT_FOUND);
	assert_int_equal(store_counter_get(f->store, "alice@example.org", "d:20261129", &count,
					   &error), 0);
	assert_int_equal(count, 0);
	add_account(f->store, "alice@example.org", NULL);
	assert_no_sender_rules(f->store, "alice@example.org");
}

/* test_web_rates - a key is allowed LIMIT counts in its window, then
 * refused until the window (begun at its first count) is over; keys count
 * apart; a second store on the same database (another node) counts in the
 * same rows */
static void test_web_rates(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	bool allowed = false;
	time_t now = 1000000;
	for (int i = 0; i < 3; i++) {
		assert_int_equal(store_web_rate_take(f->store, "client 192.0.2.1", now + i, 3, 60,
						     &allowed, &error), 0);
		assert_true(allowed);
	}
	assert_int_equal(store_web_rate_take(f->store, "client 192.0.2.1", now + 10, 3, 60,
					     &allowed, &error), 0);
	assert_false(allowed);
	assert_int_equal(store_web_rate_take(f->store, "client 192.0.2.2", now + 10, 3, 60,
					     &allowed, &error), 0);
	assert_true(allowed);
	/* 59 s after the first count: still its window; 60 s: a new one */
	assert_int_equal(store_web_rate_take(f->store, "client 192.0.2.1", now + 59, 3, 60,
					     &allowed, &error), 0);
	assert_false(allowed);
	assert_int_equal(store_web_rate_take(f->store, "client 192.0.2.1", now + 60, 3, 60,
					     &allowed, &error), 0);
	assert_true(allowed);
	/* another node's store on the same database sees the counts */
	struct store *other = store_reopen(f, &error);
	assert_non_null(other);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(store_web_rate_take(other, "client 192.0.2.1", now + 61, 3, 60,
						     &allowed, &error), 0);
		assert_true(allowed);
	}
	assert_int_equal(store_web_rate_take(f->store, "client 192.0.2.1", now + 62, 3, 60,
					     &allowed, &error), 0);
	assert_false(allowed);
	store_close(&other);
}

/* ---- the web pages' secrets -------------------------------------------------- */

/* test_web_secrets - a session is found until it expires or is removed,
 * by its secret and kind only; a link is taken once; an account's
 * secrets go with it */
static void test_web_secrets(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	add_account(f->store, "alice@example.org", NULL);
	char session[STORE_WEB_SECRET_LEN + 1], link[STORE_WEB_SECRET_LEN + 1];
	assert_int_equal(store_web_secret_make(session), 0);
	assert_int_equal(store_web_secret_make(link), 0);
	assert_int_equal(strlen(session), STORE_WEB_SECRET_LEN);
	assert_string_not_equal(session, link);
	time_t now = time(NULL);
	assert_int_equal(store_web_secret_add(f->store, STORE_WEB_SESSION, session,
					      "Alice@example.org", "csrf1", now + 60, &error), 0);
	assert_int_equal(store_web_secret_add(f->store, STORE_WEB_VERIFY, link,
					      "alice@example.org", NULL, now + 60, &error), 0);
	char other[STORE_WEB_SECRET_LEN + 1];
	assert_int_equal(store_web_secret_make(other), 0);
	assert_int_equal(store_web_secret_add(f->store, STORE_WEB_SESSION, other, "nobody",
					      NULL, now + 60, &error), STORE_NOT_FOUND);

	char *account = NULL, *csrf = NULL;
	assert_int_equal(store_web_secret_get(f->store, STORE_WEB_SESSION, session, now,
					      &account, &csrf, &error), 0);
	assert_string_equal(account, "alice@example.org");
	assert_string_equal(csrf, "csrf1");
	free(account);
	free(csrf);
	/* another kind, another secret, or past its expiry: none */
	assert_int_equal(store_web_secret_get(f->store, STORE_WEB_RESET, session, now, &account,
					      &csrf, &error), STORE_NOT_FOUND);
	assert_int_equal(store_web_secret_get(f->store, STORE_WEB_SESSION, link, now, &account,
					      &csrf, &error), STORE_NOT_FOUND);
	assert_int_equal(store_web_secret_get(f->store, STORE_WEB_SESSION, session, now + 60,
					      &account, &csrf, &error), STORE_NOT_FOUND);

	/* a link works once */
	assert_int_equal(store_web_secret_take(f->store, STORE_WEB_RESET, link, now, &account,
					       &error), STORE_NOT_FOUND);
	assert_int_equal(store_web_secret_take(f->store, STORE_WEB_VERIFY, link, now, &account,
					       &error), 0);
	assert_string_equal(account, "alice@example.org");
	free(account);
	assert_int_equal(store_web_secret_take(f->store, STORE_WEB_VERIFY, link, now, &account,
					       &error), STORE_NOT_FOUND);

	/* removed: by itself (logout), by account (after a reset) */
	assert_int_equal(store_web_secret_remove(f->store, STORE_WEB_SESSION, session, NULL,
						 &error), 0);
	assert_int_equal(store_web_secret_get(f->store, STORE_WEB_SESSION, session, now,
					      &account, &csrf, &error), STORE_NOT_FOUND);
	assert_int_equal(store_web_secret_add(f->store, STORE_WEB_SESSION, session,
					      "alice@example.org", "c", now + 60, &error), 0);
	assert_int_equal(store_web_secret_add(f->store, STORE_WEB_RESET, link,
					      "alice@example.org", NULL, now + 60, &error), 0);
	assert_int_equal(store_web_secret_remove(f->store, STORE_WEB_SESSION, NULL,
						 "ALICE@example.org", &error), 0);
	assert_int_equal(store_web_secret_get(f->store, STORE_WEB_SESSION, session, now,
					      &account, &csrf, &error), STORE_NOT_FOUND);
	assert_int_equal(store_web_secret_get(f->store, STORE_WEB_RESET, link, now, &account,
					      &csrf, &error), 0);
	free(account);
	free(csrf);
	/* the account's removal takes its secrets along */
	assert_int_equal(store_account_remove(f->store, "alice@example.org", &error), 0);
	add_account(f->store, "alice@example.org", NULL);
	assert_int_equal(store_web_secret_get(f->store, STORE_WEB_RESET, link, now, &account,
					      &csrf, &error), STORE_NOT_FOUND);
}

/* ---- sender rules ------------------------------------------------------------- */

static void test_sender_rules(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	add_account(f->store, "alice@example.org", NULL);
	add_account(f->store, "app", NULL);

	sender_set(f->store, "alice@example.org", "@Example.net", true);
	sender_set(f->store, "alice@example.org", "boss@example.net", false);
	sender_set(f->store, "alice@example.org", "@example.com", false);
	sender_set(f->store, "alice@example.org", "ok@example.com", true);
	sender_set(f->store, "app", "noreply@example.org", true);

	static const struct {
		const char *account, *address;
		bool allowed;
	} cases[] = {
		{ "alice@example.org", "alice@example.org", true },   /* own name */
		{ "ALICE@example.org", "Alice@Example.ORG", true },   /* any case */
		{ "alice@example.org", "bob@example.org", false },    /* no rule */
		{ "alice@example.org", "anyone@example.net", true },  /* domain allow */
		{ "alice@example.org", "boss@example.net", false },   /* address deny beats domain */
		{ "alice@example.org", "x@example.com", false },      /* domain deny */
		{ "alice@example.org", "ok@example.com", true },      /* address allow beats domain */
		{ "alice@example.org", "x@sub.example.net", false },  /* not subdomains */
		{ "alice@example.org", "", false },                   /* null sender: never */
		{ "alice@example.org", "not-an-address", false },
		{ "app", "noreply@example.org", true },
		{ "app", "app", false },
		{ "app", "other@example.org", false },
		{ "nobody", "nobody@example.org", false },            /* unknown account */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bool allowed = sender_is_allowed(f->store, cases[i].account, cases[i].address);
		if (allowed != cases[i].allowed)
			fail_msg("%s as %s: %d, expected %d", cases[i].account, cases[i].address,
				 allowed, cases[i].allowed);
	}

	/* a deny rule for the own name overrides it */
	sender_set(f->store, "alice@example.org", "alice@example.org", false);
	assert_false(sender_is_allowed(f->store, "alice@example.org", "alice@example.org"));
	/* setting the same pattern again replaces the rule */
	sender_set(f->store, "alice@example.org", "alice@example.org", true);
	assert_true(sender_is_allowed(f->store, "alice@example.org", "alice@example.org"));

	struct store_sender *s = NULL;
	size_t n = 0;
	assert_int_equal(store_sender_list(f->store, "alice@example.org", &s, &n, &error), 0);
	assert_int_equal(n, 5);
	assert_string_equal(s[0].pattern, "@example.com");
	assert_false(s[0].allow);
	assert_string_equal(s[1].pattern, "@example.net");
	assert_true(s[1].allow);
	store_sender_list_free(&s, n);
	assert_null(s);

	/* remove */
	assert_int_equal(store_sender_remove(f->store, "alice@example.org", "@EXAMPLE.net",
					     &error), 0);
	assert_int_equal(store_sender_remove(f->store, "alice@example.org", "@example.net",
					     &error), STORE_NOT_FOUND);
	assert_false(sender_is_allowed(f->store, "alice@example.org", "anyone@example.net"));

	/* errors */
	assert_int_equal(store_sender_set(f->store, "nobody", "@example.org", true, &error),
			 STORE_NOT_FOUND);
	assert_int_equal(store_sender_set(f->store, "app", "example.org", true, &error), -1);
	assert_int_equal(store_sender_set(f->store, "app", "@", true, &error), -1);
	assert_int_equal(store_sender_set(f->store, "app", "a@b@c", true, &error), -1);
	assert_int_equal(store_sender_list(f->store, "nobody", &s, &n, &error), STORE_NOT_FOUND);
}

/* ---- aliases and recipients ----------------------------------------------------- */

static void test_aliases(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	assert_int_equal(store_alias_add(f->store, "Sales@example.org", "alice@example.org",
					 &error), 0);
	assert_int_equal(store_alias_add(f->store, "sales@example.org", "bob@elsewhere.test",
					 &error), 0);
	assert_int_equal(store_alias_add(f->store, "info@example.org", "alice@example.org",
					 &error), 0);
	assert_int_equal(store_alias_add(f->store, "sales@example.org", "ALICE@example.org",
					 &error), STORE_EXISTS);
	assert_int_equal(store_alias_add(f->store, "bad", "alice@example.org", &error), -1);
	assert_int_equal(store_alias_add(f->store, "x@example.org", "bad", &error), -1);
	assert_int_equal(store_alias_add(f->store, "x@example.org", NULL, &error), -1);

	char **list = NULL;
	assert_int_equal(store_alias_list(f->store, &list, &error), 0);
	assert_int_equal(strv_len(list), 6);
	assert_string_equal(list[0], "info@example.org");
	assert_string_equal(list[1], "alice@example.org");
	assert_string_equal(list[2], "sales@example.org");
	assert_string_equal(list[3], "alice@example.org");
	assert_string_equal(list[4], "sales@example.org");
	assert_string_equal(list[5], "bob@elsewhere.test");
	store_strv_free(&list);

	assert_int_equal(store_alias_remove(f->store, "sales@example.org", "bob@elsewhere.test",
					    &error), 0);
	assert_int_equal(store_alias_remove(f->store, "sales@example.org", "bob@elsewhere.test",
					    &error), STORE_NOT_FOUND);
	assert_int_equal(store_alias_remove(f->store, "info@example.org", NULL, &error), 0);
	assert_int_equal(store_alias_remove(f->store, "info@example.org", NULL, &error),
			 STORE_NOT_FOUND);
	assert_int_equal(store_alias_list(f->store, &list, &error), 0);
	assert_int_equal(strv_len(list), 2);
	store_strv_free(&list);
}

/* suppression_add - ENTRY on ACCOUNT's LIST; fails the test otherwise */
static void suppression_add(struct store *s, const char *account,
			    enum store_suppression_list list, const char *email, time_t created,
			    const char *reason, const char *status)
{
	const char *error = NULL;
	struct store_suppression e = { .list = list, .email = (char *)email, .created = created,
				       .reason = (char *)reason, .status = (char *)status };
	int rc = store_suppression_add(s, account, &e, &error);
	if (rc != 0)
		fail_msg("suppression_add %s %s: %d %s", account, email, rc, error);
}

static void test_suppressions(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	add_account(f->store, "alice@example.org", NULL);
	add_account(f->store, "bob@example.org", NULL);
	suppression_add(f->store, "Alice@example.org", STORE_SUPPRESSION_BOUNCES,
			"Gone@Example.NET", 1000, "550 5.1.1 no such user", "5.1.1");
	suppression_add(f->store, "alice@example.org", STORE_SUPPRESSION_BOUNCES,
			"old@example.net", 900, NULL, NULL);
	suppression_add(f->store, "alice@example.org", STORE_SUPPRESSION_UNSUBSCRIBES,
			"gone@example.net", 1100, NULL, NULL);
	suppression_add(f->store, "bob@example.org", STORE_SUPPRESSION_SPAM_REPORTS,
			"angry@example.net", 0, NULL, NULL);
	/* the same address again: its reply and time replaced, one entry */
	suppression_add(f->store, "alice@example.org", STORE_SUPPRESSION_BOUNCES,
			"gone@example.net", 1200, "550 5.1.2 bad domain", "5.1.2");

	struct store_suppression bad = { .list = STORE_SUPPRESSION_BLOCKS, .email = "nobody" };
	assert_int_equal(store_suppression_add(f->store, "alice@example.org", &bad, &error), -1);
	bad.email = "x@example.net";
	assert_int_equal(store_suppression_add(f->store, "carol@example.org", &bad, &error),
			 STORE_NOT_FOUND);
	bad.list = STORE_SUPPRESSION_LISTS;
	assert_int_equal(store_suppression_add(f->store, "alice@example.org", &bad, &error), -1);

	struct store_suppression **v = NULL;
	size_t n = 0;
	assert_int_equal(store_suppression_list(f->store, "alice@example.org",
						STORE_SUPPRESSION_BOUNCES, NULL, &v, &n, &error), 0);
	assert_int_equal(n, 2);   /* newest first */
	assert_string_equal(v[0]->email, "gone@example.net");
	assert_int_equal(v[0]->created, 1200);
	assert_string_equal(v[0]->reason, "550 5.1.2 bad domain");
	assert_string_equal(v[0]->status, "5.1.2");
	assert_int_equal(v[0]->list, STORE_SUPPRESSION_BOUNCES);
	assert_string_equal(v[1]->email, "old@example.net");
	assert_string_equal(v[1]->reason, "");
	store_suppression_list_free(&v, n);
	assert_int_equal(store_suppression_list(f->store, "alice@example.org",
						STORE_SUPPRESSION_BOUNCES, "OLD@example.net", &v, &n,
						&error), 0);
	assert_int_equal(n, 1);
	store_suppression_list_free(&v, n);
	/* SendGrid's window: times both included, newest first, offset, limit */
	const struct {
		struct store_suppression_range range;
		const char *first;
		size_t n;
	} pages[] = {
		{ { .start = 1000 }, "gone@example.net", 1 },
		{ { .end = 1000 }, "old@example.net", 1 },
		{ { .start = 900, .end = 1200 }, "gone@example.net", 2 },
		{ { .limit = 1 }, "gone@example.net", 1 },
		{ { .limit = 1, .offset = 1 }, "old@example.net", 1 },
		{ { .offset = 1 }, "old@example.net", 1 },
		{ { .offset = 5 }, NULL, 0 },
		{ { .limit = UINT64_MAX, .offset = UINT64_MAX }, NULL, 0 },
	};
	for (size_t k = 0; k < sizeof(pages) / sizeof(pages[0]); k++) {
		assert_int_equal(store_suppression_page(f->store, "alice@example.org",
							STORE_SUPPRESSION_BOUNCES, &pages[k].range,
							&v, &n, &error), 0);
		if (n != pages[k].n)
			fail_msg("page %zu: %zu entries, expected %zu", k, n, pages[k].n);
		if (n > 0)
			assert_string_equal(v[0]->email, pages[k].first);
		store_suppression_list_free(&v, n);
	}
	assert_int_equal(store_suppression_list(f->store, "bob@example.org",
						STORE_SUPPRESSION_SPAM_REPORTS, NULL, &v, &n, &error), 0);
	assert_int_equal(n, 1);
	assert_true(v[0]->created > 1000000000);   /* 0: now */
	store_suppression_list_free(&v, n);

	/* the queue's match: per address, the first list it is on */
	const char *const rcpts[] = { "GONE@example.net", "angry@example.net", "x@example.net",
				      "old@EXAMPLE.net" };
	int lists[4];
	assert_int_equal(store_suppression_match(f->store, "alice@example.org", rcpts, 4, lists,
						 &error), 0);
	assert_int_equal(lists[0], STORE_SUPPRESSION_BOUNCES);
	assert_int_equal(lists[1], -1);   /* bob's, not alice's */
	assert_int_equal(lists[2], -1);
	assert_int_equal(lists[3], STORE_SUPPRESSION_BOUNCES);
	assert_int_equal(store_suppression_match(f->store, "bob@example.org", rcpts, 4, lists,
						 &error), 0);
	assert_int_equal(lists[0], -1);
	assert_int_equal(lists[1], STORE_SUPPRESSION_SPAM_REPORTS);
	/* an address JSON or an array literal would have to escape */
	const char *const odd[] = { "\"a,b\\\"}\"@example.net" };
	assert_int_equal(store_suppression_match(f->store, "alice@example.org", odd, 1, lists,
						 &error), 0);
	assert_int_equal(lists[0], -1);

	uint64_t removed = 0;
	assert_int_equal(store_suppression_remove(f->store, "alice@example.org",
						  STORE_SUPPRESSION_BOUNCES, "Gone@example.net",
						  &removed, &error), 0);
	assert_int_equal(removed, 1);
	assert_int_equal(store_suppression_remove(f->store, "alice@example.org",
						  STORE_SUPPRESSION_BOUNCES, "gone@example.net",
						  &removed, &error), STORE_NOT_FOUND);
	assert_int_equal(store_suppression_match(f->store, "alice@example.org", rcpts, 1, lists,
						 &error), 0);
	assert_int_equal(lists[0], STORE_SUPPRESSION_UNSUBSCRIBES);   /* still there */
	assert_int_equal(store_suppression_remove(f->store, "alice@example.org",
						  STORE_SUPPRESSION_BOUNCES, NULL, &removed, &error),
			 0);
	assert_int_equal(removed, 1);
	/* an account removed takes its lists along */
	assert_int_equal(store_account_remove(f->store, "bob@example.org", &error), 0);
	add_account(f->store, "bob@example.org", NULL);
	assert_int_equal(store_suppression_list(f->store, "bob@example.org",
						STORE_SUPPRESSION_SPAM_REPORTS, NULL, &v, &n, &error), 0);
	assert_int_equal(n, 0);
	store_suppression_list_free(&v, n);

	enum store_suppression_list list;
	assert_true(store_suppression_list_parse("spam_reports", &list));
	assert_int_equal(list, STORE_SUPPRESSION_SPAM_REPORTS);
	assert_false(store_suppression_list_parse("spam", &list));
	assert_string_equal(store_suppression_list_name(STORE_SUPPRESSION_BLOCKS), "blocks");
}

static void expect_resolve(struct store *s, const char *address, const char *const *want)
{
	char **got = NULL;
	const char *error = NULL;
	assert_int_equal(store_recipient_resolve(s, address, &got, &error), 0);
	size_t n = 0;
	while (want[n])
		n++;
	if (strv_len(got) != n)
		fail_msg("%s: %zu mailboxes, expected %zu", address, strv_len(got), n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(got[i], want[i]);
	store_strv_free(&got);
}

static void test_recipient_resolve(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	add_account(f->store, "alice@example.org", NULL);
	add_account(f->store, "bob@example.org", NULL);
	add_account(f->store, "c+d@example.org", NULL);
	assert_int_equal(store_alias_add(f->store, "team@example.org", "alice@example.org",
					 &error), 0);
	assert_int_equal(store_alias_add(f->store, "team@example.org", "bob@example.org",
					 &error), 0);
	assert_int_equal(store_alias_add(f->store, "out@example.org", "someone@remote.test",
					 &error), 0);
	/* one level: the target of an alias is not expanded again */
	assert_int_equal(store_alias_add(f->store, "all@example.org", "team@example.org",
					 &error), 0);
	/* an alias wins over an account of the same name */
	assert_int_equal(store_alias_add(f->store, "bob@example.org", "alice@example.org",
					 &error), 0);

	expect_resolve(f->store, "alice@example.org", (const char *[]){ "alice@example.org", NULL });
	expect_resolve(f->store, "ALICE@Example.org", (const char *[]){ "alice@example.org", NULL });
	expect_resolve(f->store, "alice+news@example.org",
		       (const char *[]){ "alice@example.org", NULL });
	expect_resolve(f->store, "alice+a+b@example.org",
		       (const char *[]){ "alice@example.org", NULL });
	expect_resolve(f->store, "team@example.org",
		       (const char *[]){ "alice@example.org", "bob@example.org", NULL });
	expect_resolve(f->store, "team+x@example.org",
		       (const char *[]){ "alice@example.org", "bob@example.org", NULL });
	expect_resolve(f->store, "out@example.org", (const char *[]){ "someone@remote.test", NULL });
	expect_resolve(f->store, "all@example.org", (const char *[]){ "team@example.org", NULL });
	expect_resolve(f->store, "bob@example.org", (const char *[]){ "alice@example.org", NULL });
	expect_resolve(f->store, "c+d@example.org", (const char *[]){ "c+d@example.org", NULL });
	expect_resolve(f->store, "nobody@example.org", (const char *[]){ NULL });
	expect_resolve(f->store, "nobody+alice@example.org", (const char *[]){ NULL });
	expect_resolve(f->store, "+alice@example.org", (const char *[]){ NULL });
	expect_resolve(f->store, "alice@example.net", (const char *[]){ NULL });
	expect_resolve(f->store, "not-an-address", (const char *[]){ NULL });
}

/* ---- counters --------------------------------------------------------------------- */

static void test_counters(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	bool ok = false;
	uint64_t count = 99;

	assert_int_equal(store_counter_get(f->store, "a", "d:20261129", &count, &error), 0);
	assert_int_equal(count, 0);

	assert_int_equal(store_counter_reserve(f->store, "a", "d:20261129", 60, 100, &ok, &count,
					       &error), 0);
	assert_true(ok);
	assert_int_equal(count, 60);
	assert_int_equal(store_counter_reserve(f->store, "A", "d:20261129", 40, 100, &ok, &count,
					       &error), 0);
	assert_true(ok);
	assert_int_equal(count, 100);
	/* the 101st is refused, and the count stays */
	assert_int_equal(store_counter_reserve(f->store, "a", "d:20261129", 1, 100, &ok, &count,
					       &error), 0);
	assert_false(ok);
	assert_int_equal(count, 100);
	/* release, then there is room again */
	assert_int_equal(store_counter_release(f->store, "a", "d:20261129", 2, &error), 0);
	assert_int_equal(store_counter_get(f->store, "a", "d:20261129", &count, &error), 0);
	assert_int_equal(count, 98);
	assert_int_equal(store_counter_reserve(f->store, "a", "d:20261129", 3, 100, &ok, &count,
					       &error), 0);
	assert_false(ok);
	assert_int_equal(store_counter_reserve(f->store, "a", "d:20261129", 2, 100, &ok, &count,
					       &error), 0);
	assert_true(ok);
	/* releasing more than reserved stops at 0 */
	assert_int_equal(store_counter_release(f->store, "a", "d:20261129", 1000, &error), 0);
	assert_int_equal(store_counter_get(f->store, "a", "d:20261129", &count, &error), 0);
	assert_int_equal(count, 0);
	/* releasing a counter that does not exist is harmless */
	assert_int_equal(store_counter_release(f->store, "zz", "d:20261129", 1, &error), 0);

	/* limit 0: unlimited */
	assert_int_equal(store_counter_reserve(f->store, "b", "m:202611291031", 1000000, 0, &ok,
					       &count, &error), 0);
	assert_true(ok);
	assert_int_equal(count, 1000000);
	/* a request larger than the limit on its own */
	assert_int_equal(store_counter_reserve(f->store, "c", "d:20261129", 101, 100, &ok, &count,
					       &error), 0);
	assert_false(ok);
	assert_int_equal(count, 0);

	/* windows are separate per account and window; a new window of the same
	 * kind drops the older ones of that account */
	assert_int_equal(store_counter_reserve(f->store, "a", "d:20261129", 5, 0, &ok, &count,
					       &error), 0);
	assert_int_equal(store_counter_reserve(f->store, "a", "m:202611291031", 5, 0, &ok,
					       &count, &error), 0);
	assert_int_equal(store_counter_reserve(f->store, "a", "d:20261130", 1, 0, &ok, &count,
					       &error), 0);
	assert_int_equal(count, 1);
	assert_int_equal(store_counter_get(f->store, "a", "d:20261129", &count, &error), 0);
	assert_int_equal(count, 0);
	assert_int_equal(store_counter_get(f->store, "a", "m:202611291031", &count, &error), 0);
	assert_int_equal(count, 5);
	assert_int_equal(store_counter_get(f->store, "b", "m:202611291031", &count, &error), 0);
	assert_int_equal(count, 1000000);
}

static void test_windows(void **state)
{
	(void)state;
	char w[STORE_WINDOW_MAX];
	store_window_day(1795948260, w);   /* 2026-11-29T10:31:00Z */
	assert_string_equal(w, "d:20261129");
	store_window_minute(1795948260, w);
	assert_string_equal(w, "m:202611291031");
	store_window_day(1795996799, w);   /* 23:59:59 the same day */
	assert_string_equal(w, "d:20261129");
	store_window_day(1795996800, w);   /* 00:00:00 UTC: the next window */
	assert_string_equal(w, "d:20261130");
}

#define RACE_THREADS 8
#define RACE_TRIES 40
#define RACE_LIMIT 100

struct race {
	struct store *store;
	unsigned granted;
	unsigned errors;
	uint64_t max_seen;
};

static void *race_thread(void *arg)
{
	struct race *r = arg;
	for (int i = 0; i < RACE_TRIES; i++) {
		bool ok = false;
		uint64_t count = 0;
		const char *error = NULL;
		if (store_counter_reserve(r->store, "racer", "d:20261129", 1, RACE_LIMIT, &ok,
					  &count, &error) != 0) {
			r->errors++;
			continue;
		}
		if (ok)
			r->granted++;
		if (count > r->max_seen)
			r->max_seen = count;
	}
	return NULL;
}

/* Eight threads, half on this process's first handle and half on a second
 * one (as the CLI and the server would be), 320 tries for a limit of 100:
 * exactly 100 granted, never a count above 100. */
static void test_counter_concurrency(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	struct store *second = store_reopen(f, &error);
	assert_non_null(second);
	pthread_t threads[RACE_THREADS];
	struct race races[RACE_THREADS];
	for (int i = 0; i < RACE_THREADS; i++) {
		races[i] = (struct race){ .store = i % 2 ? second : f->store };
		assert_int_equal(pthread_create(&threads[i], NULL, race_thread, &races[i]), 0);
	}
	unsigned granted = 0, errors = 0;
	uint64_t max_seen = 0;
	/* every thread joined before any assertion: a failure must not free
	 * the store under threads still running */
	for (int i = 0; i < RACE_THREADS; i++) {
		assert_int_equal(pthread_join(threads[i], NULL), 0);
		granted += races[i].granted;
		errors += races[i].errors;
		if (races[i].max_seen > max_seen)
			max_seen = races[i].max_seen;
	}
	assert_true(max_seen <= RACE_LIMIT);
	assert_int_equal(errors, 0);
	assert_int_equal(granted, RACE_LIMIT);
	uint64_t count = 0;
	assert_int_equal(store_counter_get(second, "racer", "d:20261129", &count, &error), 0);
	assert_int_equal(count, RACE_LIMIT);
	store_close(&second);
}

/* ---- events ----------------------------------------------------------------------- */

/* webhook_event - one event of TYPE for ACCOUNT; fails the test otherwise */
static void webhook_event(struct store *s, const char *account)
{
	const char *error = NULL;
	struct store_event e = { .time = 1000, .type = (char *)"delivered",
				 .account = (char *)account };
	assert_int_equal(store_event_add(s, &e, &error), 0);
}

static void test_webhooks(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	struct store_webhook *h = NULL, **v = NULL;
	size_t n = 0;
	add_account(f->store, "alice@example.org", NULL);
	add_account(f->store, "bob@example.org", NULL);
	assert_int_equal(store_webhook_get(f->store, "alice@example.org", &h, &error),
			 STORE_NOT_FOUND);
	webhook_event(f->store, "alice@example.org");

	/* set for the first time while on: from the newest event on */
	struct store_webhook in = { .enabled = true, .url = (char *)"https://hooks.test/e",
				    .events = 0x15, .sign = false };
	assert_int_equal(store_webhook_set(f->store, "Alice@Example.org", &in, &error), 0);
	assert_int_equal(store_webhook_get(f->store, "alice@example.org", &h, &error), 0);
	assert_string_equal(h->account, "alice@example.org");
	assert_true(h->enabled);
	assert_string_equal(h->url, "https://hooks.test/e");
	assert_int_equal(h->events, 0x15);
	assert_false(h->sign);
	assert_true(h->updated > 1000000000);
	int64_t first = h->sent_id;
	assert_true(first > 0);
	store_webhook_free(&h);
	assert_null(h);

	/* advanced only from where it is */
	webhook_event(f->store, "alice@example.org");
	assert_int_equal(store_webhook_advance(f->store, "alice@example.org", first, first + 1,
					       &error), 0);
	assert_int_equal(store_webhook_advance(f->store, "alice@example.org", first, first + 2,
					       &error), STORE_NOT_FOUND);
	/* a change that leaves it on keeps its place */
	in.sign = true;
	in.events = 0x3;
	assert_int_equal(store_webhook_set(f->store, "alice@example.org", &in, &error), 0);
	assert_int_equal(store_webhook_get(f->store, "alice@example.org", &h, &error), 0);
	assert_int_equal(h->sent_id, first + 1);
	assert_true(h->sign);
	assert_int_equal(h->events, 0x3);
	store_webhook_free(&h);
	/* off, events meanwhile, on again: from the newest event on */
	in.enabled = false;
	assert_int_equal(store_webhook_set(f->store, "alice@example.org", &in, &error), 0);
	webhook_event(f->store, "alice@example.org");
	webhook_event(f->store, "alice@example.org");
	assert_int_equal(store_webhook_get(f->store, "alice@example.org", &h, &error), 0);
	assert_int_equal(h->sent_id, first + 1);
	store_webhook_free(&h);
	in.enabled = true;
	assert_int_equal(store_webhook_set(f->store, "alice@example.org", &in, &error), 0);
	assert_int_equal(store_webhook_get(f->store, "alice@example.org", &h, &error), 0);
	assert_int_equal(h->sent_id, first + 3);
	store_webhook_free(&h);

	/* listed: on and with a URL */
	struct store_webhook off = { .enabled = false, .url = (char *)"http://127.0.0.1/x" };
	assert_int_equal(store_webhook_set(f->store, "bob@example.org", &off, &error), 0);
	assert_int_equal(store_webhook_list_enabled(f->store, &v, &n, &error), 0);
	assert_int_equal(n, 1);
	assert_string_equal(v[0]->account, "alice@example.org");
	store_webhook_list_free(&v, n);
	struct store_webhook no_url = { .enabled = true };   /* url NULL: "" */
	assert_int_equal(store_webhook_set(f->store, "bob@example.org", &no_url, &error), 0);
	assert_int_equal(store_webhook_list_enabled(f->store, &v, &n, &error), 0);
	assert_int_equal(n, 1);
	store_webhook_list_free(&v, n);
	off.enabled = true;
	assert_int_equal(store_webhook_set(f->store, "bob@example.org", &off, &error), 0);
	assert_int_equal(store_webhook_list_enabled(f->store, &v, &n, &error), 0);
	assert_int_equal(n, 2);
	assert_string_equal(v[1]->account, "bob@example.org");
	store_webhook_list_free(&v, n);

	/* refused: no account, a URL too long */
	assert_int_equal(store_webhook_set(f->store, "carol@example.org", &in, &error),
			 STORE_NOT_FOUND);
	char *long_url = malloc(STORE_WEBHOOK_URL_MAX + 2);
	memset(long_url, 'a', STORE_WEBHOOK_URL_MAX + 1);
	long_url[STORE_WEBHOOK_URL_MAX + 1] = '\0';
	in.url = long_url;
	assert_int_equal(store_webhook_set(f->store, "alice@example.org", &in, &error), -1);
	free(long_url);
	/* an account removed takes its webhook along */
	assert_int_equal(store_account_remove(f->store, "bob@example.org", &error), 0);
	assert_int_equal(store_webhook_get(f->store, "bob@example.org", &h, &error),
			 STORE_NOT_FOUND);
}

static void test_events(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	struct store_event e = {
		.time = 1000, .type = (char *)"accepted", .account = (char *)"Alice@example.org",
		.queue_id = (char *)"0123456789ABCDEF", .recipient = (char *)"x@remote.test",
		.code = 250, .reason = (char *)"ok", .node = (char *)"node-a",
	};
	assert_int_equal(store_event_add(f->store, &e, &error), 0);
	e = (struct store_event){ .time = 2000, .type = (char *)"rejected",
				  .account = (char *)"bob", .code = 550,
				  .reason = (char *)"5.7.1 sender not allowed" };
	assert_int_equal(store_event_add(f->store, &e, &error), 0);
	e = (struct store_event){ .time = 3000, .type = (char *)"delivered",
				  .account = (char *)"alice@example.org" };
	assert_int_equal(store_event_add(f->store, &e, &error), 0);
	time_t now = time(NULL);
	e = (struct store_event){ .type = (char *)"auth-failed" };   /* time 0: now */
	assert_int_equal(store_event_add(f->store, &e, &error), 0);
	e = (struct store_event){ .type = NULL };
	assert_int_equal(store_event_add(f->store, &e, &error), -1);
	e.type = (char *)"";
	assert_int_equal(store_event_add(f->store, &e, &error), -1);

	size_t n;
	struct store_event **v = events_read_all(f->store, &n);
	assert_int_equal(n, 4);
	assert_string_equal(v[0]->type, "accepted");
	assert_string_equal(v[0]->account, "alice@example.org");
	assert_string_equal(v[0]->queue_id, "0123456789ABCDEF");
	assert_string_equal(v[0]->recipient, "x@remote.test");
	assert_int_equal(v[0]->code, 250);
	assert_string_equal(v[0]->reason, "ok");
	assert_int_equal(v[0]->time, 1000);
	assert_string_equal(v[0]->node, "node-a");
	assert_null(v[1]->node);
	assert_null(v[1]->queue_id);
	assert_null(v[3]->account);
	assert_true(v[3]->time >= now);
	assert_true(v[0]->id < v[1]->id && v[1]->id < v[2]->id);
	int64_t second_id = v[1]->id;
	store_event_list_free(&v, n);
	assert_null(v);

	assert_int_equal(store_event_list(f->store, "ALICE@example.org", 0, 0, 0, &v, &n, &error),
			 0);
	assert_int_equal(n, 2);
	assert_string_equal(v[1]->type, "delivered");
	store_event_list_free(&v, n);

	assert_int_equal(store_event_list(f->store, NULL, 2000, 0, 0, &v, &n, &error), 0);
	assert_int_equal(n, 3);
	store_event_list_free(&v, n);

	assert_int_equal(store_event_list(f->store, NULL, 0, second_id, 0, &v, &n, &error), 0);
	assert_int_equal(n, 2);
	assert_string_equal(v[0]->type, "delivered");
	store_event_list_free(&v, n);

	assert_int_equal(store_event_list(f->store, NULL, 0, 0, 1, &v, &n, &error), 0);
	assert_int_equal(n, 1);
	store_event_list_free(&v, n);

	assert_int_equal(store_event_list(f->store, "nobody", 0, 0, 0, &v, &n, &error), 0);
	assert_int_equal(n, 0);
	store_event_list_free(&v, n);
}

/* test_event_search - one account's events found by recipient (any
 * case), type or queue id, newest first, a page at a time; a value that
 * looks like SQL is only a value (bound parameters) */
static void test_event_search(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	static const struct { const char *type, *account, *queue_id, *recipient; } rows[] = {
		{ "accepted", "erin@example.org", "QA", "x@remote.test" },
		{ "delivered", "erin@example.org", "QA", "X@Remote.test" },
		{ "accepted", "erin@example.org", "QB", "y@remote.test" },
		{ "bounced", "erin@example.org", "QB", "y@remote.test" },
		{ "accepted", "frank@example.org", "QC", "x@remote.test" },  /* another's */
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct store_event e = { .time = 1000 + (time_t)i, .type = (char *)rows[i].type,
					 .account = (char *)rows[i].account,
					 .queue_id = (char *)rows[i].queue_id,
					 .recipient = (char *)rows[i].recipient };
		assert_int_equal(store_event_add(f->store, &e, &error), 0);
	}
	struct store_event **v;
	size_t n;
	struct store_event_filter all = { 0 };
	assert_int_equal(store_event_search(f->store, "Erin@example.org", &all, 10, &v, &n,
					    &error), 0);
	assert_int_equal(n, 4);
	assert_string_equal(v[0]->type, "bounced");     /* newest first */
	assert_string_equal(v[3]->type, "accepted");
	int64_t second = v[1]->id;
	store_event_list_free(&v, n);

	struct store_event_filter page = { .before_id = second };
	assert_int_equal(store_event_search(f->store, "erin@example.org", &page, 1, &v, &n,
					    &error), 0);
	assert_int_equal(n, 1);
	assert_string_equal(v[0]->type, "delivered");
	store_event_list_free(&v, n);

	struct store_event_filter rcpt = { .recipient = "x@REMOTE.test" };
	assert_int_equal(store_event_search(f->store, "erin@example.org", &rcpt, 10, &v, &n,
					    &error), 0);
	assert_int_equal(n, 2);   /* not frank's */
	store_event_list_free(&v, n);

	struct store_event_filter both = { .type = "accepted", .queue_id = "QB" };
	assert_int_equal(store_event_search(f->store, "erin@example.org", &both, 10, &v, &n,
					    &error), 0);
	assert_int_equal(n, 1);
	assert_string_equal(v[0]->recipient, "y@remote.test");
	store_event_list_free(&v, n);

	static const char *const injections[] = {
		"x' OR '1'='1", "QA' OR 1=1 --", "'; DELETE FROM events; --",
		"x@remote.test' UNION SELECT * FROM events --",
	};
	for (size_t i = 0; i < sizeof(injections) / sizeof(injections[0]); i++) {
		struct store_event_filter bad = { .recipient = injections[i] };
		assert_int_equal(store_event_search(f->store, "erin@example.org", &bad, 10, &v, &n,
						    &error), 0);
		assert_int_equal(n, 0);
		store_event_list_free(&v, n);
		bad = (struct store_event_filter){ .queue_id = injections[i],
						   .type = injections[i] };
		assert_int_equal(store_event_search(f->store, "erin@example.org", &bad, 10, &v,
						    &n, &error), 0);
		assert_int_equal(n, 0);
		store_event_list_free(&v, n);
	}
	assert_int_equal(store_event_search(f->store, "erin@example.org", &all, 10, &v, &n,
					    &error), 0);
	assert_int_equal(n, 4);   /* nothing was deleted */
	store_event_list_free(&v, n);
}

/* test_event_count_days - one account's events counted by UTC day and
 * type, and by reason for dropped and bounced events only, within [begin,
 * end) */
static void test_event_count_days(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	static const struct {
		time_t time;
		const char *type, *account, *reason;
	} rows[] = {
		{ 86400 * 20000 - 1, "accepted", "carol@example.org", NULL },   /* day 19999 */
		{ 86400 * 20000, "accepted", "carol@example.org", NULL },       /* day 20000 */
		{ 86400 * 20000 + 5, "accepted", "carol@example.org", "queued" },  /* no group */
		{ 86400 * 20000 + 9, "delivered", "carol@example.org", NULL },
		{ 86400 * 20000 + 9, "accepted", "dave@example.org", NULL },    /* another account */
		{ 86400 * 20002 + 3, "bounced", "carol@example.org", "550 5.1.1 no" },  /* day 20002 */
		{ 86400 * 20002 + 4, "bounced", "carol@example.org", "550 5.1.1 no" },
		{ 86400 * 20002 + 5, "bounced", "carol@example.org", "550 5.7.1 policy" },
		{ 86400 * 20002 + 6, "dropped", "carol@example.org", "Bounced Address" },
		{ 86400 * 20003, "deferred", "carol@example.org", NULL },       /* at END: out */
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct store_event e = { .time = rows[i].time, .type = (char *)rows[i].type,
					 .account = (char *)rows[i].account,
					 .reason = (char *)rows[i].reason };
		assert_int_equal(store_event_add(f->store, &e, &error), 0);
	}
	struct store_event_count **v = NULL;
	size_t n = 0;
	assert_int_equal(store_event_count_days(f->store, "Carol@example.org", 86400 * 20000,
						86400 * 20003, &v, &n, &error), 0);
	assert_int_equal(n, 5);
	assert_int_equal(v[0]->day, 20000);
	assert_string_equal(v[0]->type, "accepted");
	assert_null(v[0]->reason);
	assert_int_equal(v[0]->count, 2);
	assert_int_equal(v[1]->day, 20000);
	assert_string_equal(v[1]->type, "delivered");
	assert_int_equal(v[1]->count, 1);
	assert_int_equal(v[2]->day, 20002);
	assert_string_equal(v[2]->type, "bounced");
	assert_string_equal(v[2]->reason, "550 5.1.1 no");
	assert_int_equal(v[2]->count, 2);
	assert_string_equal(v[3]->type, "bounced");
	assert_string_equal(v[3]->reason, "550 5.7.1 policy");
	assert_int_equal(v[3]->count, 1);
	assert_int_equal(v[4]->day, 20002);
	assert_string_equal(v[4]->type, "dropped");
	assert_string_equal(v[4]->reason, "Bounced Address");
	assert_int_equal(v[4]->count, 1);
	store_event_counts_free(&v, n);
	assert_null(v);

	assert_int_equal(store_event_count_days(f->store, "nobody", 0, (time_t)86400 * 30000, &v, &n,
						&error), 0);
	assert_int_equal(n, 0);
	store_event_counts_free(&v, n);
}

/* batch_events - a batch of EVENTS_IN_BATCH events with every field set or
 * NULL, and text an array literal would have to quote */
#define EVENTS_IN_BATCH 4
static const struct store_event batch_events[EVENTS_IN_BATCH] = {
	{ .time = 1000, .type = (char *)"accepted", .account = (char *)"a@example.org",
	  .queue_id = (char *)"0123456789ABCDEF", .recipient = (char *)"x@remote.test",
	  .code = 250, .reason = (char *)"ok", .node = (char *)"node-a" },
	{ .time = 1001, .type = (char *)"rejected", .code = 550,
	  .reason = (char *)"5.7.1 \"quoted\", a back\\slash, {braces}, NULL" },
	{ .time = 1002, .type = (char *)"delivered", .account = (char *)"b@example.org",
	  .queue_id = (char *)"NULL", .recipient = (char *)"", .code = -1,
	  .reason = (char *)"caf\xc3\xa9 ,\t\n", .node = (char *)"n\"ode" },
	{ .time = 1003, .type = (char *)"auth-failed" },
};

static void assert_text_equal(const char *a, const char *b)
{
	if (!a || !b)
		assert_ptr_equal(a, b);
	else
		assert_string_equal(a, b);
}

/* test_events_batch - a batch of several events, added at once, reads back
 * exactly and in its order */
static void test_events_batch(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	assert_int_equal(store_event_add_many(f->store, batch_events, EVENTS_IN_BATCH, &error), 0);
	size_t n;
	struct store_event **v = events_read_all(f->store, &n);
	assert_int_equal(n, EVENTS_IN_BATCH);
	for (size_t i = 0; i < n; i++) {
		const struct store_event *e = &batch_events[i];
		assert_true(i == 0 || v[i - 1]->id < v[i]->id);
		assert_int_equal(v[i]->time, e->time);
		assert_string_equal(v[i]->type, e->type);
		assert_text_equal(v[i]->account, e->account);
		assert_text_equal(v[i]->queue_id, e->queue_id);
		assert_text_equal(v[i]->recipient, e->recipient);
		assert_int_equal(v[i]->code, e->code);
		assert_text_equal(v[i]->reason, e->reason);
		assert_text_equal(v[i]->node, e->node);
	}
	store_event_list_free(&v, n);
}

/* test_dmarc_evals - DMARC evaluations kept for aggregate reports: listed
 * by period and policy domain, domains lower-cased, pruned by age; a report
 * is claimed once */
static void test_dmarc_evals(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	struct store_dmarc_eval e = {
		.time = 1000, .policy_domain = "B.example", .source_ip = "192.0.2.1",
		.header_from = "b.example", .envelope_from = "", .spf_domain = "helo.example",
		.spf_result = "pass", .dkim = "b.example s1 pass\nother.example s2 fail",
		.dkim_aligned = true, .disposition = "none",
		.policy = "p=reject; sp=reject; adkim=r; aspf=r; pct=100; fo=0",
		.rua = "mailto:d@b.example!10m",
	};
	assert_int_equal(store_dmarc_eval_add(f->store, &e, &error), 0);
	e.time = 1500;
	e.policy_domain = "a.example";
	e.override = "sampled_out";
	assert_int_equal(store_dmarc_eval_add(f->store, &e, &error), 0);
	e.time = 2000;
	assert_int_equal(store_dmarc_eval_add(f->store, &e, &error), 0);
	e.policy_domain = NULL;
	assert_int_equal(store_dmarc_eval_add(f->store, &e, &error), -1);

	struct store_dmarc_eval **list = NULL;
	size_t n = 0;
	assert_int_equal(store_dmarc_eval_list(f->store, 1000, 2000, &list, &n, &error), 0);
	assert_int_equal(n, 2);
	assert_string_equal(list[0]->policy_domain, "a.example");
	assert_string_equal(list[0]->override, "sampled_out");
	assert_string_equal(list[1]->policy_domain, "b.example");
	assert_null(list[1]->override);
	assert_string_equal(list[1]->envelope_from, "");
	assert_string_equal(list[1]->dkim, "b.example s1 pass\nother.example s2 fail");
	assert_true(list[1]->dkim_aligned);
	assert_false(list[1]->spf_aligned);
	assert_string_equal(list[1]->rua, "mailto:d@b.example!10m");
	store_dmarc_eval_list_free(&list, n);

	uint64_t deleted = 0;
	assert_int_equal(store_dmarc_eval_prune(f->store, 1500, &deleted, &error), 0);
	assert_int_equal(deleted, 1);
	assert_int_equal(store_dmarc_eval_list(f->store, 0, 3000, &list, &n, &error), 0);
	assert_int_equal(n, 2);
	store_dmarc_eval_list_free(&list, n);

	bool claimed = false;
	assert_int_equal(store_dmarc_report_claim(f->store, "A.example", 0, &claimed, &error), 0);
	assert_true(claimed);
	assert_int_equal(store_dmarc_report_claim(f->store, "a.example", 0, &claimed, &error), 0);
	assert_false(claimed);
	assert_int_equal(store_dmarc_report_claim(f->store, "a.example", 86400, &claimed,
						  &error), 0);
	assert_true(claimed);
}

/* test_event_prune - only events older than the cut go, across several
 * batches of STORE_EVENT_PRUNE_BATCH */
static void test_event_prune(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	size_t old_n = 2 * STORE_EVENT_PRUNE_BATCH + 7;
	struct store_event *batch = calloc(old_n + 3, sizeof(*batch));
	for (size_t i = 0; i < old_n + 3; i++) {
		batch[i].type = (char *)"accepted";
		batch[i].time = i < old_n ? 1000 + (time_t)i : 1000000 + (time_t)i;
	}
	assert_int_equal(store_event_add_many(f->store, batch, old_n + 3, &error), 0);
	free(batch);
	uint64_t deleted = 0;
	assert_int_equal(store_event_prune(f->store, 1000000, &deleted, &error), 0);
	assert_int_equal(deleted, old_n);
	size_t n;
	struct store_event **v = events_read_all(f->store, &n);
	assert_int_equal(n, 3);
	assert_true(v[0]->time >= 1000000);
	store_event_list_free(&v, n);
	assert_int_equal(store_event_prune(f->store, 1000000, &deleted, &error), 0);
	assert_int_equal(deleted, 0);
}

/* an accepted message's recipients, categories and custom args come back
 * on each of its events, with each deferral's attempt number; they go
 * once the message's events are pruned (failed before: no messages table) */
static void test_event_messages(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	struct store_event ev[] = {
		{ .time = 1000, .type = (char *)"accepted", .account = (char *)"A@example.test",
		  .queue_id = (char *)"Q1", .recipients = (char *)"r1@x.test\nr2@x.test\n",
		  .categories = (char *)"[\"news\"]", .custom_args = (char *)"{\"u\":\"1\"}" },
		{ .time = 1001, .type = (char *)"deferred", .account = (char *)"a@example.test",
		  .queue_id = (char *)"Q1", .recipient = (char *)"r1@x.test" },
		{ .time = 1002, .type = (char *)"deferred", .account = (char *)"a@example.test",
		  .queue_id = (char *)"Q1", .recipient = (char *)"r2@x.test" },
		{ .time = 1003, .type = (char *)"deferred", .account = (char *)"a@example.test",
		  .queue_id = (char *)"Q1", .recipient = (char *)"r1@x.test" },
		{ .time = 1004, .type = (char *)"delivered", .account = (char *)"b@example.test",
		  .queue_id = (char *)"Q1", .recipient = (char *)"r1@x.test" },
		{ .time = 2000000, .type = (char *)"accepted", .account = (char *)"a@example.test",
		  .queue_id = (char *)"Q2", .custom_args = (char *)"{\"v\":\"2\"}" },
	};
	assert_int_equal(store_event_add_many(f->store, ev, 5, &error), 0);
	assert_int_equal(store_event_add(f->store, &ev[5], &error), 0);  /* alone, too */
	size_t n;
	struct store_event **v = events_read_all(f->store, &n);
	assert_int_equal(n, 6);
	assert_string_equal(v[0]->recipients, "r1@x.test\nr2@x.test\n");
	for (size_t i = 0; i < 4; i++) {
		assert_string_equal(v[i]->categories, "[\"news\"]");
		assert_string_equal(v[i]->custom_args, "{\"u\":\"1\"}");
	}
	assert_int_equal(v[0]->attempt, 0);
	assert_int_equal(v[1]->attempt, 1);
	assert_int_equal(v[2]->attempt, 1);
	assert_int_equal(v[3]->attempt, 2);
	assert_null(v[4]->categories);   /* another account's Q1 */
	assert_null(v[5]->categories);
	assert_string_equal(v[5]->custom_args, "{\"v\":\"2\"}");
	store_event_list_free(&v, n);
	uint64_t deleted = 0;
	assert_int_equal(store_event_prune(f->store, 1003, &deleted, &error), 0);
	assert_int_equal(deleted, 3);
	v = events_read_all(f->store, &n);
	assert_int_equal(n, 3);
	assert_string_equal(v[0]->categories, "[\"news\"]");   /* Q1 has an event left */
	store_event_list_free(&v, n);
	assert_int_equal(store_event_prune(f->store, 1000000, &deleted, &error), 0);
	assert_int_equal(deleted, 2);
	struct store_event again = ev[3];
	again.time = 3000000;
	assert_int_equal(store_event_add(f->store, &again, &error), 0);
	v = events_read_all(f->store, &n);
	assert_int_equal(n, 2);
	assert_null(v[1]->categories);   /* Q1's message went with its events */
	assert_string_equal(v[0]->custom_args, "{\"v\":\"2\"}");
	store_event_list_free(&v, n);
}

/* events counted per category of their message, only the account's, the
 * categories asked for bound as one JSON parameter (a name shaped like SQL
 * is a name); the account's categories listed (failed before: no such
 * functions) */
static void test_event_count_categories(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	struct store_event ev[] = {
		{ .time = 86400 * 10, .type = (char *)"accepted", .account = (char *)"a@example.test",
		  .queue_id = (char *)"Q1", .categories = (char *)"[\"news\",\"x'); DROP TABLE events; --\"]" },
		{ .time = 86400 * 10 + 5, .type = (char *)"delivered", .account = (char *)"a@example.test",
		  .queue_id = (char *)"Q1", .recipient = (char *)"r@x.test" },
		{ .time = 86400 * 11, .type = (char *)"accepted", .account = (char *)"a@example.test",
		  .queue_id = (char *)"Q2", .categories = (char *)"[\"weekly\"]" },
		{ .time = 86400 * 11, .type = (char *)"accepted", .account = (char *)"b@example.test",
		  .queue_id = (char *)"Q3", .categories = (char *)"[\"news\"]" },
		{ .time = 86400 * 11, .type = (char *)"accepted", .account = (char *)"a@example.test",
		  .queue_id = (char *)"Q4" },
	};
	assert_int_equal(store_event_add_many(f->store, ev, 5, &error), 0);
	struct store_event_count **c = NULL;
	size_t n = 0;
	if (store_event_count_category_days(f->store, "A@example.test",
		"[\"news\",\"x'); DROP TABLE events; --\",\"nothing\"]", 0, 86400 * 20, &c, &n,
		&error) != 0)
		fail_msg("counting: %s", error);
	assert_int_equal(n, 4);   /* news: accepted, delivered; the other name: the same */
	assert_string_equal(c[0]->category, "news");
	assert_string_equal(c[0]->type, "accepted");
	assert_int_equal(c[0]->day, 10);
	assert_int_equal(c[0]->count, 1);
	assert_string_equal(c[1]->category, "news");
	assert_string_equal(c[1]->type, "delivered");
	assert_string_equal(c[2]->category, "x'); DROP TABLE events; --");
	store_event_counts_free(&c, n);
	assert_int_equal(store_event_count_category_days(f->store, "a@example.test", NULL, 0,
							 86400 * 20, &c, &n, &error), 0);
	assert_int_equal(n, 5);   /* with weekly's acceptance */
	assert_string_equal(c[2]->category, "weekly");
	store_event_counts_free(&c, n);
	assert_int_equal(store_event_count_category_days(f->store, "a@example.test", NULL, 0,
							 86400 * 11, &c, &n, &error), 0);
	assert_int_equal(n, 4);   /* the range's end is left out */
	store_event_counts_free(&c, n);
	char **names = NULL;
	assert_int_equal(store_category_list(f->store, "a@example.test", NULL, 10, 0, &names,
					     &error), 0);
	assert_non_null(names[2]);
	assert_string_equal(names[0], "news");
	assert_string_equal(names[1], "weekly");
	assert_string_equal(names[2], "x'); DROP TABLE events; --");
	assert_null(names[3]);
	store_strv_free(&names);
	assert_int_equal(store_category_list(f->store, "a@example.test", "we", 10, 0, &names,
					     &error), 0);
	assert_string_equal(names[0], "weekly");
	assert_null(names[1]);
	store_strv_free(&names);
	assert_int_equal(store_category_list(f->store, "a@example.test", NULL, 1, 1, &names,
					     &error), 0);
	assert_string_equal(names[0], "weekly");
	assert_null(names[1]);
	store_strv_free(&names);
}

/* assert_writer_bounded - 2 * 5 + 1 events posted to a writer of S
 * (max_pending 5) while another connection keeps it from writing; then
 * UNBLOCK(BLOCKER) ends that connection's lock.  At least one, at most six,
 * are dropped, and all the others are written. */
static void assert_writer_bounded(struct store *s, void (*unblock)(void *blocker),
				  void *blocker)
{
	struct event_base *base = event_base_new();
	struct pool *pool = pool_create(base, 1);
	struct store_events_settings settings = { .max_pending = 5, .retention = 0 };
	struct store_events *ev = store_events_create(s, pool, NULL, &settings);
	for (int i = 0; i < 11; i++) {
		struct store_event e = { .time = 5000 + i, .type = (char *)"accepted" };
		store_events_post(ev, &e);
	}
	unsigned long long dropped = store_events_dropped(ev);
	unblock(blocker);
	assert_true(dropped >= 1 && dropped <= 6);
	pool_free(&pool);
	store_events_free(&ev);
	event_base_free(base);

	size_t n;
	struct store_event **v = events_read_all(s, &n);
	assert_int_equal(n, 11 - dropped);
	store_event_list_free(&v, n);
}

/* sqlite_unblock - commits and closes the SQLite connection BLOCKER */
static void sqlite_unblock(void *blocker)
{
	assert_int_equal(sqlite3_exec(blocker, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(blocker);
}

/* test_events_writer_bound - while another connection holds SQLite's write
 * lock the writer cannot empty its list: past max_pending events are
 * dropped and counted, never queued without bound.  The writer may take one
 * list (at most max_pending) before it blocks, so of 2 * 5 + 1 posted at
 * least one is dropped whatever the threads' timing. */
static void test_events_writer_bound(void **state)
{
	struct fixture *f = *state;
	char path[128];
	snprintf(path, sizeof(path), "%s/petrel.db", f->dir);
	sqlite3 *blocker;
	assert_int_equal(sqlite3_open(path, &blocker), SQLITE_OK);
	assert_int_equal(sqlite3_exec(blocker, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	assert_writer_bounded(f->store, sqlite_unblock, blocker);
}

/* ---- nodes ------------------------------------------------------------------------ */

static struct store_node node_of(const char *name, const char *owner)
{
	return (struct store_node){ .name = (char *)name, .owner = (char *)owner,
				    .version = (char *)"0.1.0",
				    .listeners = (char *)"mx=127.0.0.1:25" };
}

/* node_find - NAME's row in a fresh list (the caller frees it), or NULL */
static struct store_node *node_find(struct store *s, const char *name)
{
	struct store_node **v = NULL, *found = NULL;
	size_t n = 0;
	const char *error = NULL;
	assert_int_equal(store_node_list(s, &v, &n, &error), 0);
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i]->name, name) == 0) {
			found = v[i];
			v[i] = NULL;
		}
	store_node_list_free(&v, n);
	return found;
}

/* Registration: numbers, liveness, takeover by the same owner, reports of
 * a replaced registration refused, stop, forget */
static void test_nodes(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	struct store_node a = node_of("Node-A", "m1:/var/a");
	assert_int_equal(store_node_register(f->store, &a, 30, &error), 0);
	assert_int_equal(a.number, 0);
	assert_int_equal(a.generation, 1);
	assert_true(a.started > 0);
	struct store_node b = node_of("node-b", "m1:/var/b");
	assert_int_equal(store_node_register(f->store, &b, 30, &error), 0);
	assert_int_equal(b.number, 1);

	/* the same live name from another data folder: refused */
	struct store_node other = node_of("node-a", "m2:/var/a");
	assert_int_equal(store_node_register(f->store, &other, 30, &error), STORE_EXISTS);
	assert_non_null(strstr(error, "node-a"));
	assert_non_null(strstr(error, "m1:/var/a"));
	/* the same owner again (its last process has ended): taken over at once */
	struct store_node a2 = node_of("node-a", "m1:/var/a");
	assert_int_equal(store_node_register(f->store, &a2, 30, &error), 0);
	assert_int_equal(a2.number, 0);
	assert_int_equal(a2.generation, 2);
	/* the older registration's reports are refused */
	a.queue_active = 3;
	assert_int_equal(store_node_report(f->store, &a, &error), STORE_NOT_FOUND);
	a2.queue_active = 7;
	assert_int_equal(store_node_report(f->store, &a2, &error), 0);
	struct store_node *row = node_find(f->store, "node-a");
	assert_non_null(row);
	assert_int_equal(row->queue_active, 7);
	assert_int_equal(row->number, 0);
	assert_false(row->stopped);
	assert_true(row->age >= 0 && row->age <= 2);
	assert_string_equal(row->version, "0.1.0");
	assert_string_equal(row->listeners, "mx=127.0.0.1:25");
	assert_string_equal(row->owner, "m1:/var/a");
	store_node_free(&row);
	assert_null(row);

	/* live: not forgotten; stopped: free for another owner, same number */
	assert_int_equal(store_node_forget(f->store, "node-a", 30, &error), STORE_EXISTS);
	assert_int_equal(store_node_stop(f->store, &a2, &error), 0);
	row = node_find(f->store, "node-a");
	assert_true(row->stopped);
	store_node_free(&row);
	assert_int_equal(store_node_register(f->store, &other, 30, &error), 0);
	assert_int_equal(other.number, 0);
	assert_int_equal(other.generation, 3);
	assert_int_equal(store_node_stop(f->store, &other, &error), 0);
	assert_int_equal(store_node_forget(f->store, "NODE-A", 30, &error), 0);
	assert_int_equal(store_node_forget(f->store, "node-a", 30, &error), STORE_NOT_FOUND);
	/* a new name takes the smallest free number */
	struct store_node c = node_of("node-c", "m3:/var/c");
	assert_int_equal(store_node_register(f->store, &c, 30, &error), 0);
	assert_int_equal(c.number, 0);

	/* stale (silent for STALE_AFTER, here 0 s): another owner takes it over,
	 * and the stale one's reports are refused from then on */
	struct store_node b2 = node_of("node-b", "m9:/var/b");
	assert_int_equal(store_node_register(f->store, &b2, 0, &error), 0);
	assert_int_equal(b2.number, 1);
	assert_int_equal(store_node_report(f->store, &b, &error), STORE_NOT_FOUND);
	assert_int_equal(store_node_forget(f->store, "node-b", 0, &error), 0);

	struct store_node bad = node_of("a b", "m1:/x");
	assert_int_equal(store_node_register(f->store, &bad, 30, &error), -1);
	assert_false(store_node_is_valid_name(""));
	assert_false(store_node_is_valid_name("a/b"));
	assert_true(store_node_is_valid_name("mx1.example.org"));
}

/* Homes: an account's home node, set, read with the node's record, cleared;
 * unknown accounts and nodes refused; the [cluster] addresses registered */
static void test_account_homes(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	struct store_node b = node_of("node-b", "m1:/var/b");
	b.mail_address = (char *)"127.0.0.22:2527";
	b.imap_address = (char *)"[::1]:1143";
	assert_int_equal(store_node_register(f->store, &b, 30, &error), 0);
	struct store_node *row = node_find(f->store, "node-b");
	assert_string_equal(row->mail_address, "127.0.0.22:2527");
	assert_string_equal(row->imap_address, "[::1]:1143");
	assert_null(row->pop3_address);
	store_node_free(&row);

	/* added with a home; a home the store does not know is refused */
	struct store_account acct = { .name = (char *)"U@example.test", .daily_limit = -1,
				      .per_minute = -1, .home_node = (char *)"Node-B" };
	assert_int_equal(store_account_add(f->store, &acct, &error), 0);
	struct store_account bad = acct;
	bad.name = (char *)"v@example.test";
	bad.home_node = (char *)"node-x";
	assert_int_equal(store_account_add(f->store, &bad, &error), -1);
	assert_non_null(strstr(error, "unknown node node-x"));
	struct store_account *got = NULL;
	assert_int_equal(store_account_get(f->store, "u@example.test", &got, &error), 0);
	assert_string_equal(got->home_node, "node-b");
	store_account_free(&got);

	struct store_node *home = NULL;
	assert_int_equal(store_account_home(f->store, "u@EXAMPLE.test", &home, &error), 0);
	assert_non_null(home);
	assert_string_equal(home->name, "node-b");
	assert_string_equal(home->mail_address, "127.0.0.22:2527");
	assert_string_equal(home->owner, "m1:/var/b");
	assert_false(home->stopped);
	assert_true(home->age >= 0 && home->age <= 2);
	store_node_free(&home);

	/* the queue's read: the domain and the home at once; no account, no home */
	bool domain = false;
	assert_int_equal(store_domain_add(f->store, "Example.test", &error), 0);
	assert_int_equal(store_address_route(f->store, "U@example.TEST", &domain, &home, &error),
			 0);
	assert_true(domain);
	assert_non_null(home);
	assert_string_equal(home->mail_address, "127.0.0.22:2527");
	assert_true(home->age >= 0 && home->age <= 2);
	store_node_free(&home);
	assert_int_equal(store_address_route(f->store, "nobody@example.test", &domain, &home,
					     &error), 0);
	assert_true(domain);
	assert_null(home);
	assert_int_equal(store_address_route(f->store, "u@elsewhere.test", &domain, &home,
					     &error), 0);
	assert_false(domain);
	assert_null(home);

	/* set_home: unknown node, unknown account, clear */
	assert_int_equal(store_account_set_home(f->store, "u@example.test", "node-x", &error),
			 -1);
	assert_non_null(strstr(error, "unknown node node-x"));
	assert_int_equal(store_account_set_home(f->store, "nobody", "node-b", &error),
			 STORE_NOT_FOUND);
	assert_int_equal(store_account_home(f->store, "nobody", &home, &error), STORE_NOT_FOUND);
	assert_int_equal(store_account_set_home(f->store, "u@example.test", "a b", &error), -1);
	assert_int_equal(store_account_set_home(f->store, "u@example.test", NULL, &error), 0);
	assert_int_equal(store_account_home(f->store, "u@example.test", &home, &error), 0);
	assert_null(home);
	/* the other fields' update leaves the home alone */
	assert_int_equal(store_account_set_home(f->store, "u@example.test", "NODE-B", &error), 0);
	assert_int_equal(store_account_get(f->store, "u@example.test", &got, &error), 0);
	got->sandbox = true;
	assert_int_equal(store_account_update(f->store, got, &error), 0);
	store_account_free(&got);

	/* stopped, then forgotten: the record says so */
	assert_int_equal(store_node_stop(f->store, &b, &error), 0);
	assert_int_equal(store_account_home(f->store, "u@example.test", &home, &error), 0);
	assert_true(home->stopped);
	assert_string_equal(home->mail_address, "127.0.0.22:2527");
	store_node_free(&home);
	assert_int_equal(store_node_forget(f->store, "node-b", 30, &error), 0);
	assert_int_equal(store_account_home(f->store, "u@example.test", &home, &error), 0);
	assert_string_equal(home->name, "node-b");
	assert_true(home->stopped);
	assert_int_equal(home->age, -1);
	assert_null(home->mail_address);
	assert_null(home->owner);
	store_node_free(&home);
	assert_int_equal(store_address_route(f->store, "u@example.test", &domain, &home, &error),
			 0);
	assert_string_equal(home->name, "node-b");
	assert_int_equal(home->age, -1);
	store_node_free(&home);
}

#define NODE_THREADS 8
#define NODES_PER_THREAD 8

struct node_registrar {
	struct store *store;
	int first;
	unsigned numbers[NODES_PER_THREAD];
	int rc;
};

static void *node_register_thread(void *arg)
{
	struct node_registrar *r = arg;
	for (int i = 0; i < NODES_PER_THREAD && r->rc == 0; i++) {
		char name[32], owner[32];
		snprintf(name, sizeof(name), "node%d", r->first + i);
		snprintf(owner, sizeof(owner), "m:/var/%d", r->first + i);
		struct store_node n = node_of(name, owner);
		const char *error = NULL;
		r->rc = store_node_register(r->store, &n, 30, &error);
		r->numbers[i] = n.number;
	}
	return NULL;
}

/* Nodes registering at once get different numbers; when every number is
 * taken, a new name is refused */
static void test_nodes_concurrent_numbers(void **state)
{
	struct fixture *f = *state;
	pthread_t threads[NODE_THREADS];
	struct node_registrar regs[NODE_THREADS];
	for (int t = 0; t < NODE_THREADS; t++) {
		regs[t] = (struct node_registrar){ .store = f->store, .first = t * NODES_PER_THREAD };
		assert_int_equal(pthread_create(&threads[t], NULL, node_register_thread, &regs[t]),
				 0);
	}
	bool seen[STORE_NODE_NUMBERS] = { false };
	for (int t = 0; t < NODE_THREADS; t++) {
		assert_int_equal(pthread_join(threads[t], NULL), 0);
		assert_int_equal(regs[t].rc, 0);
		for (int i = 0; i < NODES_PER_THREAD; i++) {
			unsigned k = regs[t].numbers[i];
			assert_true(k < NODE_THREADS * NODES_PER_THREAD);
			if (seen[k])
				fail_msg("number %u given twice", k);
			seen[k] = true;
		}
	}
	const char *error = NULL;
	for (int i = NODE_THREADS * NODES_PER_THREAD; i < STORE_NODE_NUMBERS; i++) {
		char name[32];
		snprintf(name, sizeof(name), "node%d", i);
		struct store_node n = node_of(name, "m:/var");
		assert_int_equal(store_node_register(f->store, &n, 30, &error), 0);
		assert_int_equal(n.number, (unsigned)i);
	}
	struct store_node full = node_of("one-too-many", "m:/var");
	assert_int_equal(store_node_register(f->store, &full, 30, &error), -1);
	assert_non_null(strstr(error, "every node number"));
}

/* the event writer records its node in each event posted without one */
static void test_events_writer_node(void **state)
{
	struct fixture *f = *state;
	struct event_base *base = event_base_new();
	struct pool *pool = pool_create(base, 1);
	struct store_events_settings settings = { .max_pending = 10, .node = "mx1" };
	struct store_events *ev = store_events_create(f->store, pool, NULL, &settings);
	struct store_event e = { .time = 5000, .type = (char *)"accepted" };
	store_events_post(ev, &e);
	e.node = (char *)"other";
	store_events_post(ev, &e);
	pool_free(&pool);
	store_events_free(&ev);
	event_base_free(base);
	size_t n;
	struct store_event **v = events_read_all(f->store, &n);
	assert_int_equal(n, 2);
	assert_string_equal(v[0]->node, "mx1");
	assert_string_equal(v[1]->node, "other");
	store_event_list_free(&v, n);
}

/* the writer lets events wait write_delay for others before it writes them
 * (failed before: a worker's post wrote at once), and writes what waits at
 * once when freed */
static void test_events_writer_delay(void **state)
{
	struct fixture *f = *state;
	struct event_base *base = event_base_new();
	struct pool *pool = pool_create(base, 1);
	struct store_events_settings settings = { .max_pending = 10, .write_delay_ms = 400 };
	struct store_events *ev = store_events_create(f->store, pool, NULL, &settings);
	struct store_event e = { .time = 5000, .type = (char *)"accepted" };
	store_events_post(ev, &e);
	store_events_post(ev, &e);
	size_t n;
	struct store_event **v = events_read_all(f->store, &n);
	assert_int_equal(n, 0);
	store_event_list_free(&v, n);
	for (int i = 0; i < 300 && n < 2; i++) {  /* written within 3 s */
		usleep(10000);
		v = events_read_all(f->store, &n);
		store_event_list_free(&v, n);
	}
	assert_int_equal(n, 2);

	settings.write_delay_ms = 10000;  /* freed long before it is due */
	struct store_events *ev2 = store_events_create(f->store, pool, NULL, &settings);
	store_events_post(ev2, &e);
	store_events_free(&ev2);
	v = events_read_all(f->store, &n);
	assert_int_equal(n, 3);
	store_event_list_free(&v, n);
	pool_free(&pool);
	store_events_free(&ev);
	event_base_free(base);
}

/* ---- PostgreSQL's own ------------------------------------------------------------ */

/* pg_count - the integer SQL returns, through a connection of the test's own */
static long pg_count(const char *sql)
{
	PGconn *c = PQconnectdb(pg_url);
	assert_int_equal(PQstatus(c), CONNECTION_OK);
	PGresult *r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", sql, PQerrorMessage(c));
	long n = strtol(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	PQfinish(c);
	return n;
}

/* test_pg_events_batch_one_statement - a batch of events is one statement:
 * the rows of one statement share the transaction (xmin) and the command
 * (cmin) that inserted them; one INSERT per row gives each its own */
static void test_pg_events_batch_one_statement(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	assert_int_equal(store_event_add_many(f->store, batch_events, EVENTS_IN_BATCH, &error), 0);
	assert_int_equal(pg_count("SELECT count(*) FROM events"), EVENTS_IN_BATCH);
	assert_int_equal(pg_count("SELECT count(DISTINCT (xmin::text, cmin::text)) FROM events"),
			 1);
}

/* pg_log_size - how long the cluster's server log (server.log in the
 * socket folder the URL's host= names, as with-postgresql.sh starts it) is
 * now; PATH gets its name */
static long pg_log_size(char path[256])
{
	const char *host = strstr(pg_url, "host=");
	assert_non_null(host);
	host += strlen("host=");
	snprintf(path, 256, "%.*s/server.log", (int)strcspn(host, "&"), host);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	return (long)st.st_size;
}

/* pg_log_statements - how many statements the server log shows from
 * offset FROM on (log_statement = all logs each as "execute" or "statement") */
static int pg_log_statements(const char *path, long from)
{
	FILE *fp = fopen(path, "r");
	assert_non_null(fp);
	assert_int_equal(fseek(fp, from, SEEK_SET), 0);
	char line[4096];
	int n = 0;
	while (fgets(line, sizeof(line), fp))
		if (strstr(line, "LOG:  execute ") || strstr(line, "LOG:  statement: "))
			n++;
	fclose(fp);
	return n;
}

/* test_pg_sender_check_one_statement - a sender check is one round trip:
 * the account's existence and its rules in one statement (it was three:
 * the account's row, its existence again, its rules) */
static void test_pg_sender_check_one_statement(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	add_account(f->store, "alice@example.org", NULL);
	add_account(f->store, "bob@example.org", NULL);
	sender_set(f->store, "alice@example.org", "@example.net", true);
	pg_sql("ALTER ROLE petrel SET log_statement = 'all'");
	struct store *s = store_reopen(f, &error);   /* connections with the setting */
	assert_non_null(s);
	/* the first call opens the connection (and sets its statement_timeout) */
	(void)sender_is_allowed(s, "alice@example.org", "a@example.net");
	char path[256];
	long from = pg_log_size(path);
	bool allowed = sender_is_allowed(s, "alice@example.org", "b@example.net");
	int statements = pg_log_statements(path, from);
	assert_true(allowed);
	/* an account without rules: none listed, its own address allowed */
	assert_no_sender_rules(s, "bob@example.org");
	assert_true(sender_is_allowed(s, "bob@example.org", "bob@example.org"));
	store_close(&s);
	pg_sql("ALTER ROLE petrel RESET log_statement");
	assert_int_equal(statements, 1);
}

/* the queue asks once per message, whatever its number of recipients */
static void test_pg_suppression_match_one_statement(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	add_account(f->store, "alice@example.org", NULL);
	suppression_add(f->store, "alice@example.org", STORE_SUPPRESSION_BOUNCES,
			"b@example.net", 0, NULL, NULL);
	pg_sql("ALTER ROLE petrel SET log_statement = 'all'");
	struct store *s = store_reopen(f, &error);
	assert_non_null(s);
	const char *const rcpts[] = { "a@example.net", "b@example.net", "c@example.net" };
	int lists[3];
	assert_int_equal(store_suppression_match(s, "alice@example.org", rcpts, 1, lists, &error),
			 0);
	char path[256];
	long from = pg_log_size(path);
	assert_int_equal(store_suppression_match(s, "alice@example.org", rcpts, 3, lists, &error),
			 0);
	int statements = pg_log_statements(path, from);
	store_close(&s);
	pg_sql("ALTER ROLE petrel RESET log_statement");
	assert_int_equal(lists[1], STORE_SUPPRESSION_BOUNCES);
	assert_int_equal(statements, 1);
}

static void test_pg_open_creates_schema(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	assert_string_equal(store_backend_name(f->store), "postgresql");
	assert_int_equal(store_schema_version(f->store), 8);
	assert_int_equal(pg_count("SELECT count(*) FROM schema_version"), 8);
	/* no password secret in this database: they are the auth process's */
	assert_int_equal(pg_count("SELECT count(*) FROM information_schema.columns"
				  " WHERE column_name IN ('password_hash', 'scram')"), 0);
	struct store_plan *p = NULL;
	assert_int_equal(store_plan_get(f->store, "free", &p, &error), 0);
	assert_int_equal(p->daily_limit, 100);
	assert_int_equal(p->quota_bytes, -1);
	store_plan_free(&p);
	/* reopening an up-to-date database changes nothing */
	struct store *again = store_reopen(f, &error);
	assert_non_null(again);
	assert_int_equal(store_schema_version(again), 8);
	store_close(&again);
	assert_int_equal(pg_count("SELECT count(*) FROM schema_version"), 8);
	assert_int_equal(pg_count("SELECT count(*) FROM plans"), 1);
}

static void test_pg_newer_schema_refused(void **state)
{
	struct fixture *f = *state;
	pg_sql("INSERT INTO schema_version VALUES (99, 0)");
	const char *error = NULL;
	struct store *s = store_reopen(f, &error);
	assert_null(s);
	assert_non_null(strstr(error, "99"));
}

#define OPEN_THREADS 6

struct opener {
	struct fixture *f;
	struct store *store;
	const char *error;
};

static void *open_thread(void *arg)
{
	struct opener *o = arg;
	o->store = store_reopen(o->f, &o->error);
	return NULL;
}

/* Nodes starting at once on an empty database: the advisory lock lets one
 * migrate; every open succeeds and the steps are applied once. */
static void test_pg_concurrent_open_migrates_once(void **state)
{
	struct fixture *f = *state;
	store_close(&f->store);
	pg_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public");
	pthread_t threads[OPEN_THREADS];
	struct opener openers[OPEN_THREADS];
	for (int i = 0; i < OPEN_THREADS; i++) {
		openers[i] = (struct opener){ .f = f };
		assert_int_equal(pthread_create(&threads[i], NULL, open_thread, &openers[i]), 0);
	}
	for (int i = 0; i < OPEN_THREADS; i++) {
		assert_int_equal(pthread_join(threads[i], NULL), 0);
		if (!openers[i].store)
			fail_msg("open %d: %s", i, openers[i].error);
		assert_int_equal(store_schema_version(openers[i].store), 8);
		store_close(&openers[i].store);
	}
	assert_int_equal(pg_count("SELECT count(*) FROM schema_version"), 8);
	assert_int_equal(pg_count("SELECT count(*) FROM plans"), 1);
	const char *error = NULL;
	f->store = store_reopen(f, &error);
	assert_non_null(f->store);
}

static void test_pg_open_errors(void **state)
{
	(void)state;
	const char *error = NULL;
	const struct store_settings bad = {
		.data_dir = "/nonexistent", .url = "postgresql://petrel:sekrit@/petrel?host=/nonexistent",
	};
	assert_null(store_open_settings(&bad, &error));
	assert_non_null(strstr(error, "connecting to PostgreSQL"));
	/* the URL, password and all, is not in the message */
	assert_null(strstr(error, "sekrit"));
}

/* test_pg_url_parameters_win - what the URL says (application_name here;
 * connect_timeout likewise) wins over Petrel's defaults for the parameters
 * it sets on its own */
static void test_pg_url_parameters_win(void **state)
{
	struct fixture *f = *state;
	char url[512];
	/* with-postgresql.sh's URL has a query already (?host=) */
	snprintf(url, sizeof(url), "%s&application_name=petrel-node-7", pg_url);
	const struct store_settings settings = { .data_dir = f->dir, .url = url };
	const char *error = NULL;
	struct store *s = store_open_settings(&settings, &error);
	if (!s)
		fail_msg("%s", error);
	assert_int_equal(pg_count("SELECT count(*) FROM pg_stat_activity"
				  " WHERE application_name = 'petrel-node-7'"), 1);
	store_close(&s);
}

/* test_pg_url_password_not_shown - a URL libpq cannot parse, or one a
 * password with an unencoded '@', '/' or a bad escape splits in the wrong
 * places, is refused without any part of the password in the message:
 * libpq's own messages quote the text they stumbled on (the whole URI for
 * some), and a host or port cut from the password would be quoted by the
 * connection's error.  No server is needed. */
static void test_pg_url_password_not_shown(void **state)
{
	(void)state;
	static const char *const urls[] = {
		"postgresql://petrel:sekrit@[::1/petrel",           /* unclosed IPv6 bracket */
		"postgresql://petrel:sek%zzrit@localhost/petrel",   /* bad percent escape */
		"postgresql://petrel:sek@rit@localhost/petrel",     /* '@' in the password */
		"postgresql://petrel:sek/rit@localhost/petrel",     /* '/' in the password */
		"postgresql://petrel:sekrit@localhost/petrel?sekrit=1", /* unknown parameter */
	};
	for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
		const char *error = NULL;
		const struct store_settings bad = { .data_dir = "/nonexistent", .url = urls[i] };
		assert_null(store_open_settings(&bad, &error));
		assert_non_null(error);
		if (strstr(error, "sek") || strstr(error, "rit"))
			fail_msg("%s: %s", urls[i], error);
		assert_non_null(strstr(error, "url"));
	}
}

/* A statement held up longer than statement_timeout fails (the caller
 * answers 451) instead of holding its worker: a counter whose table another
 * transaction has locked. */
static void test_pg_statement_timeout(void **state)
{
	struct fixture *f = *state;
	const struct store_settings settings = {
		.data_dir = f->dir, .url = pg_url, .statement_timeout = 1, .connections = 1,
	};
	const char *error = NULL;
	struct store *s = store_open_settings(&settings, &error);
	assert_non_null(s);
	PGconn *blocker = PQconnectdb(pg_url);
	assert_int_equal(PQstatus(blocker), CONNECTION_OK);
	PQclear(PQexec(blocker, "BEGIN; LOCK TABLE counters IN ACCESS EXCLUSIVE MODE"));
	bool ok = true;
	uint64_t count = 0;
	assert_int_equal(store_counter_reserve(s, "a", "d:20261129", 1, 10, &ok, &count, &error),
			 -1);
	assert_false(ok);
	assert_non_null(strstr(error, "statement timeout"));
	PQclear(PQexec(blocker, "COMMIT"));
	PQfinish(blocker);
	/* the connection stays usable */
	assert_int_equal(store_counter_reserve(s, "a", "d:20261129", 1, 10, &ok, &count, &error),
			 0);
	assert_true(ok);
	store_close(&s);
}

/* pg_end_petrel_connection - the server ends the store's one connection
 * (pg_terminate_backend); WAIT_GONE: until its backend has exited, so that
 * its FATAL message is on the socket (bounded) */
static void pg_end_petrel_connection(bool wait_gone)
{
	assert_int_equal(pg_count("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
				  " WHERE application_name = 'petrel'"), 1);
	for (int i = 0; wait_gone && i < 100 && pg_count("SELECT count(*) FROM pg_stat_activity"
							 " WHERE application_name = 'petrel'") > 0;
	     i++)
		usleep(50000);
}

/* A connection the server dropped is replaced: the call that met it may
 * fail, the next one works. */
static void test_pg_reconnect(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	bool exists = false;
	assert_int_equal(store_domain_exists(f->store, "example.org", &exists, &error), 0);
	pg_end_petrel_connection(false);
	(void)store_domain_exists(f->store, "example.org", &exists, &error);
	assert_int_equal(store_domain_add(f->store, "example.org", &error), 0);
	assert_int_equal(store_domain_exists(f->store, "example.org", &exists, &error), 0);
	assert_true(exists);
}

/* A connection the server ended while it was idle (a restart, an
 * administrator) is replaced when taken: the next call succeeds, instead of
 * failing once on the dead connection (failed before: -1, "terminating
 * connection due to administrator command") */
static void test_pg_dead_idle_connection_replaced(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	bool exists = true;
	assert_int_equal(store_domain_exists(f->store, "example.org", &exists, &error), 0);
	pg_end_petrel_connection(true);
	if (store_domain_exists(f->store, "example.org", &exists, &error) != 0)
		fail_msg("the first call after the server ended the connection: %s", error);
	assert_false(exists);
}

/* pg_unblock - commits and closes the PostgreSQL connection BLOCKER */
static void pg_unblock(void *blocker)
{
	PQclear(PQexec(blocker, "COMMIT"));
	PQfinish(blocker);
}

/* test_pg_events_writer_bound - test_events_writer_bound with the events
 * table locked by another transaction */
static void test_pg_events_writer_bound(void **state)
{
	struct fixture *f = *state;
	PGconn *blocker = PQconnectdb(pg_url);
	assert_int_equal(PQstatus(blocker), CONNECTION_OK);
	PQclear(PQexec(blocker, "BEGIN; LOCK TABLE events IN ACCESS EXCLUSIVE MODE"));
	assert_writer_bounded(f->store, pg_unblock, blocker);
}

int main(void)
{
	/* the same tests of every function on both backends */
#define COMMON_TESTS \
		cmocka_unit_test(test_input_checks), \
		cmocka_unit_test(test_pg_url_password_not_shown), \
		cmocka_unit_test_setup_teardown(test_domains, setup, teardown), \
		cmocka_unit_test_setup_teardown(test_plans, setup, teardown), \
		cmocka_unit_test_setup_teardown(test_account_plan, setup, teardown), \
		cmocka_unit_test_setup_teardown(test_accounts, setup, teardown), \
		cmocka_unit_test_setup_teardown(test_web_secrets, setup, teardown), \
		cmocka_unit_test_setup_teardown(test_web_rates, setup, teardown), \
		cmocka_unit_test_setup_teardown(test_sender_rules, setup, teardown), \
		cmocka_unit_test_setup_teardown(test_aliases, setup, teardown), \
		cmocka_unit_test_setup_teardown(test_suppressions, setup, teardown), \
		cmocka_unit_test_setup_teardown(test_webhooks, setup, teardown), \
		cmocka_unit_test_setup_teardown(test_recipient_resolve, setup, teardown), \
		cmocka_unit_test_setup_teardown(test_counters, setup, teardown), \
		cmocka_unit_test(test_windows), \
		cmocka_unit_test_setup_teardown(test_counter_concurrency, setup, teardown), \
		cmocka_unit_test_setup_teardown(test_events, setup, teardown), \
		cmocka_unit_test_setup_teardown(test_event_count_days, setup, teardown), \
		cmocka_unit_test_setup_teardown(test_event_search, setup, teardown), \
		cmocka_unit_test_setup_teardown(test_events_batch, setup, teardown), \
		cmocka_unit_test_setup_teardown(test_event_prune, setup, teardown), \
		cmocka_unit_test_setup_teardown(test_event_messages, setup, teardown), \
		cmocka_unit_test_setup_teardown(test_event_count_categories, setup, teardown), \
		cmocka_unit_test_setup_teardown(test_dmarc_evals, setup, teardown), \
		cmocka_unit_test_setup_teardown(test_nodes, setup, teardown), \
		cmocka_unit_test_setup_teardown(test_account_homes, setup, teardown), \
		cmocka_unit_test_setup_teardown(test_nodes_concurrent_numbers, setup, teardown), \
		cmocka_unit_test_setup_teardown(test_events_writer_node, setup, teardown), \
		cmocka_unit_test_setup_teardown(test_events_writer_delay, setup, teardown)
	const struct CMUnitTest sqlite_tests[] = {
		cmocka_unit_test_setup_teardown(test_open_creates_schema, setup, teardown),
		cmocka_unit_test(test_migrate_from_version_1),
		cmocka_unit_test(test_newer_schema_refused),
		cmocka_unit_test(test_open_errors),
		COMMON_TESTS,
		cmocka_unit_test_setup_teardown(test_events_writer_bound, setup, teardown),
	};
	const struct CMUnitTest pg_tests[] = {
		cmocka_unit_test_setup_teardown(test_pg_open_creates_schema, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pg_newer_schema_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pg_concurrent_open_migrates_once, setup,
						teardown),
		cmocka_unit_test(test_pg_open_errors),
		cmocka_unit_test_setup_teardown(test_pg_statement_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pg_reconnect, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pg_dead_idle_connection_replaced, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_pg_url_parameters_win, setup, teardown),
		COMMON_TESTS,
		cmocka_unit_test_setup_teardown(test_pg_events_writer_bound, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pg_events_batch_one_statement, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_pg_suppression_match_one_statement, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_pg_sender_check_one_statement, setup,
						teardown),
	};
	pg_url = getenv("PETREL_TEST_PG_URL");
	if (pg_url && *pg_url)
		return cmocka_run_group_tests_name("store-postgresql", pg_tests, NULL, NULL);
	pg_url = NULL;
	return cmocka_run_group_tests_name("store-sqlite", sqlite_tests, NULL, NULL);
}
