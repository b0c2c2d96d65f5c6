/* cli/cmd-admin - the administrator commands (domain, account, sender, plan,
 * alias, events) and what they share: one option parser, opening the store
 * of the configured data folder, JSON and time formatting, reading a
 * password.
 *
 * Every command returns the exit status: 0 done, 1 not found or failed at
 * run time, 2 usage error or invalid input.  Errors go to stderr as
 * "petrel: ..."; results to stdout (--json: one JSON document; events
 * --follow --json: one JSON object per line).
 */
#ifndef PETREL_CLI_CMD_ADMIN_H
#define PETREL_CLI_CMD_ADMIN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "config/config.h"
#include "store/store.h"

int cmd_domain(int argc, char **argv);
int cmd_account(int argc, char **argv);
int cmd_sender(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_alias(int argc, char **argv);
/* petrel apikey add|list|del (cmd-apikey.c) */
int cmd_apikey(int argc, char **argv);
int cmd_events(int argc, char **argv);
/* petrel migrate: the store's schema brought up to date */
int cmd_migrate(int argc, char **argv);
/* petrel store copy: a SQLite store copied to PostgreSQL (cmd-store.c) */
int cmd_store(int argc, char **argv);
/* petrel nodes: the servers sharing this store (cmd-nodes.c) */
int cmd_nodes(int argc, char **argv);
/* petrel suppression add|list|del: an account's suppression lists
 * (cmd-suppression.c) */
int cmd_suppression(int argc, char **argv);

/* options a command accepts (besides -c FILE, always accepted) */
enum admin_opt {
	ADMIN_OPT_JSON = 1 << 0,
	ADMIN_OPT_PASSWORD_STDIN = 1 << 1,
	ADMIN_OPT_PASSWORD_HASH = 1 << 2,
	ADMIN_OPT_PLAN = 1 << 3,
	ADMIN_OPT_DAILY_LIMIT = 1 << 4,
	ADMIN_OPT_PER_MINUTE = 1 << 5,
	ADMIN_OPT_SANDBOX = 1 << 6,     /* --sandbox, --no-sandbox */
	ADMIN_OPT_ANY_FROM = 1 << 7,    /* --any-from, --no-any-from */
	ADMIN_OPT_ACCOUNT = 1 << 8,
	ADMIN_OPT_SINCE = 1 << 9,
	ADMIN_OPT_FOLLOW = 1 << 10,
	ADMIN_OPT_LIMIT = 1 << 11,
	ADMIN_OPT_LIMIT_PLAN = 1 << 12, /* --daily-limit/--per-minute accept "plan" */
	ADMIN_OPT_QUOTA = 1 << 13,      /* --quota SIZE|default, --quota-messages N|default */
	ADMIN_OPT_SCOPE = 1 << 14,      /* --scope S, repeated (apikey add) */
	ADMIN_OPT_NAME = 1 << 15,       /* --name N (apikey add) */
	ADMIN_OPT_HOME = 1 << 16,       /* --home NODE (account add) */
	ADMIN_OPT_CLEAR = 1 << 17,      /* --clear (account home) */
	ADMIN_OPT_TYPE = 1 << 18,       /* --type LIST (suppression) */
	ADMIN_OPT_REASON = 1 << 19,     /* --reason TEXT (suppression add) */
	ADMIN_OPT_ALL = 1 << 20,        /* --all (suppression del) */
};

#define ADMIN_SCOPES_MAX 32

#define ADMIN_POSITIONAL_MAX 64

struct admin_args {
	const char *config;        /* -c FILE */
	bool json;
	bool password_stdin;
	const char *password_hash;
	const char *plan;
	bool has_daily_limit;
	long daily_limit;          /* -1: "plan" (the plan's) */
	bool has_per_minute;
	long per_minute;
	int sandbox;               /* -1 not given, 0, 1 */
	int any_from;
	const char *account;
	const char *since;
	bool follow;
	long limit;                /* --limit N, 0 none */
	bool has_quota;
	int64_t quota_bytes;       /* --quota: -1 "default", 0 none */
	bool has_quota_messages;
	int64_t quota_messages;    /* --quota-messages: -1 "default", 0 none */
	unsigned scram_iterations; /* [auth] scram_iterations (account: set from the
				      configuration admin_open loaded) */
	const char *scopes[ADMIN_SCOPES_MAX]; /* --scope, in order */
	int nscopes;
	const char *name;          /* --name */
	const char *home;          /* --home */
	bool clear;                /* --clear */
	const char *type;          /* --type */
	const char *reason;        /* --reason */
	bool all;                  /* --all */
	const char *pos[ADMIN_POSITIONAL_MAX];
	int npos;
};

/* admin_args_parse - ARGV[1..] (ARGV[0] is the command) into A; 0, or 2
 * after printing the problem and USAGE */
int admin_args_parse(int argc, char **argv, unsigned allowed, const char *usage,
		     struct admin_args *a);
/* admin_usage - print USAGE to stderr; returns 2 */
int admin_usage(const char *usage);
/* admin_fail - print "petrel: MESSAGE" to stderr; returns STATUS */
int admin_fail(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* admin_store_settings - where CONFIG's store lives ([server] data_dir,
 * [store]); the strings stay CONFIG's */
struct store_settings;
void admin_store_settings(const struct config *config, struct store_settings *settings_r);
/* admin_credentials_settings - where CONFIG's password secrets live: url
 * [store] credentials_url, or NULL for DATA_DIR/auth/credentials.db */
void admin_credentials_settings(const struct config *config, struct store_settings *settings_r);
/* admin_store_open - the store of FILE's data folder; NULL and *status_r
 * (2 bad config, 1 cannot open) after printing why */
struct store *admin_store_open(const char *file, int *status_r);
/* admin_open - as admin_store_open, and the loaded configuration in
 * *CONFIG_R (the caller frees both) */
struct store *admin_open(const char *file, struct config **config_r, int *status_r);
/* admin_credentials_open - the password secrets of CONFIG's data folder
 * (DATA_DIR/auth/credentials.db, or [store] credentials_url), with those an older petrel kept in STORE
 * moved in (store_credentials_migrate).  Run as root, a new DATA_DIR/auth
 * gets [server] auth_user as its owner (the data folder's when that user
 * does not exist) and a new credentials.db the owner of DATA_DIR/auth, so
 * that the server can still open them; an auth/ owned by [server] user (the
 * network process's) is refused.  NULL and *status_r (1) after printing why. */
struct store_credentials *admin_credentials_open(const struct config *config,
						 struct store *store, int *status_r);
/* admin_domain_is_local - DOMAIN is in [domains] local or in the store (the
 * two places a domain becomes local); false and *status_r after printing
 * why, if the store cannot say */
bool admin_domain_is_local(struct store *store, const struct config *config,
			   const char *domain, int *status_r);
/* admin_event_account_is_valid - an account name as events carry it: a
 * store account name, or "uid:N" for petrel sendmail's local sessions */
bool admin_event_account_is_valid(const char *name);
/* admin_status - exit status for a store result RC, printing *ERROR if not
 * 0 (a pointer, so it is read after the store call that sets it) */
int admin_status(int rc, const char *const *error);

/* cli_json_string - S as a JSON string ("null" for NULL) */
void cli_json_string(FILE *out, const char *s);
/* cli_json_list_open, cli_json_list_close - a --json list's "[" and "]\n" on stdout;
 * nothing when not JSON (the text form) */
void cli_json_list_open(bool json);
void cli_json_list_close(bool json);
/* cli_json_entry_open - entry I (from 0) of a JSON list on stdout: "{" (",{"
 * after the first) and the name of its first member, "\"KEY\":" */
void cli_json_entry_open(size_t i, const char *key);
/* admin_time_format - T as "2026-11-29T10:31:00Z" into BUF (>= 21) */
char *admin_time_format(time_t t, char *buf, size_t size);
/* admin_time_parse - "2026-11-29T10:00:00Z", "2026-11-29", or a relative
 * "30s", "10m", "2h", "1d", "1w" before NOW; false if none of these */
bool admin_time_parse(const char *s, time_t now, time_t *t_r);
/* admin_read_password - from stdin's first line (FROM_STDIN), else from the
 * terminal without echo, asked twice; NULL and *status_r after printing why.
 * The caller wipes and frees it with admin_password_free. */
char *admin_read_password(bool from_stdin, int *status_r);
void admin_password_free(char **password);

#endif
