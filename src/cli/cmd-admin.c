/* cli/cmd-admin - what the administrator commands share: options, the
 * store, JSON strings, times and passwords. */
#include "cli/cmd-admin.h"

#include "cli/cli.h"
#include "config/config.h"
#include "util/utf8.h"
#include "util/xalloc.h"

#include <ctype.h>
#include <stdbool.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/crypto.h>

#define PASSWORD_MAX 4096
#define LIMIT_MAX 1000000000L

static bool parse_limit(const char *s, bool allow_plan, long *v_r);

/* the ranges of [mailbox] quota_default and quota_messages_default */
#define QUOTA_BYTES_MAX 1125899906842624ULL
#define QUOTA_MESSAGES_MAX 2147483647ULL
static char *read_line_fd(FILE *in, int *status_r);
static char *read_tty_password(const char *prompt, int *status_r);
static void db_precreate_as_owner(const char *data_dir);
static int credentials_precreate_as_owner(const struct config *config);

int admin_usage(const char *usage)
{
	fputs(usage, stderr);
	return 2;
}

int admin_fail(int status, const char *fmt, ...)
{
	va_list ap;
	fputs("petrel: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return status;
}

int admin_status(int rc, const char *const *error)
{
	if (rc == 0)
		return 0;
	admin_fail(1, "%s", *error ? *error : "failed");
	return 1;
}

/* parse_limit - a count 0..LIMIT_MAX, or "plan" (-1) if ALLOW_PLAN */
static bool parse_limit(const char *s, bool allow_plan, long *v_r)
{
	if (allow_plan && strcmp(s, "plan") == 0) {
		*v_r = -1;
		return true;
	}
	if (!isdigit((unsigned char)s[0]))
		return false;
	errno = 0;
	char *end;
	long v = strtol(s, &end, 10);
	if (errno || *end != '\0' || v < 0 || v > LIMIT_MAX)
		return false;
	*v_r = v;
	return true;
}

int admin_args_parse(int argc, char **argv, unsigned allowed, const char *usage,
		     struct admin_args *a)
{
	memset(a, 0, sizeof(*a));
	a->config = CLI_DEFAULT_CONFIG;
	a->sandbox = -1;
	a->any_from = -1;
	for (int i = 1; i < argc; i++) {
		const char *o = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		bool takes = false;      /* the option takes the next argument */
		unsigned need = 0;
		if (o[0] != '-' || strcmp(o, "-") == 0) {
			if (a->npos == ADMIN_POSITIONAL_MAX)
				return admin_fail(2, "too many arguments");
			a->pos[a->npos++] = o;
			continue;
		}
		if (strcmp(o, "-c") == 0 || strcmp(o, "--config") == 0) {
			takes = true;
			if (v)
				a->config = v;
		} else if (strcmp(o, "--json") == 0) {
			need = ADMIN_OPT_JSON;
			a->json = true;
		} else if (strcmp(o, "--password-stdin") == 0) {
			need = ADMIN_OPT_PASSWORD_STDIN;
			a->password_stdin = true;
		} else if (strcmp(o, "--password-hash") == 0) {
			need = ADMIN_OPT_PASSWORD_HASH;
			takes = true;
			a->password_hash = v;
		} else if (strcmp(o, "--plan") == 0) {
			need = ADMIN_OPT_PLAN;
			takes = true;
			a->plan = v;
		} else if (strcmp(o, "--daily-limit") == 0 || strcmp(o, "--per-minute") == 0) {
			bool daily = o[2] == 'd';
			need = daily ? ADMIN_OPT_DAILY_LIMIT : ADMIN_OPT_PER_MINUTE;
			takes = true;
			long n = 0;
			bool plan = (allowed & ADMIN_OPT_LIMIT_PLAN) != 0;
			if ((allowed & need) && v && !parse_limit(v, plan, &n))
				return admin_fail(2, "%s: expected a number from 0 (unlimited) to"
						  " %ld%s, not '%s'", o, LIMIT_MAX,
						  plan ? " or 'plan'" : "", v);
			if (daily) {
				a->has_daily_limit = true;
				a->daily_limit = n;
			} else {
				a->has_per_minute = true;
				a->per_minute = n;
			}
		} else if (strcmp(o, "--quota") == 0 || strcmp(o, "--quota-messages") == 0) {
			/* RFC 9208 STORAGE (a size) and MESSAGE (a count); "default":
			 * [mailbox] quota_default / quota_messages_default */
			bool bytes = o[7] == '\0';
			need = ADMIN_OPT_QUOTA;
			takes = true;
			unsigned long long n = 0;
			bool ok = v && (strcmp(v, "default") == 0 ||
					(bytes ? config_size_parse(v, &n) && n <= QUOTA_BYTES_MAX
					       : config_size_parse(v, &n) && strspn(v, "0123456789") == strlen(v) &&
						 n <= QUOTA_MESSAGES_MAX));
			if ((allowed & need) && v && !ok)
				return admin_fail(2, "%s: expected %s, 0 (none) or 'default', not '%s'", o,
						  bytes ? "a size (with k, M or G) up to 1P"
							: "a number up to 2147483647", v);
			int64_t q = v && strcmp(v, "default") == 0 ? -1 : (int64_t)n;
			if (bytes) {
				a->has_quota = true;
				a->quota_bytes = q;
			} else {
				a->has_quota_messages = true;
				a->quota_messages = q;
			}
		} else if (strcmp(o, "--sandbox") == 0 || strcmp(o, "--no-sandbox") == 0) {
			need = ADMIN_OPT_SANDBOX;
			a->sandbox = o[2] != 'n';
		} else if (strcmp(o, "--any-from") == 0 || strcmp(o, "--no-any-from") == 0) {
			need = ADMIN_OPT_ANY_FROM;
			a->any_from = o[2] != 'n';
		} else if (strcmp(o, "--account") == 0) {
			need = ADMIN_OPT_ACCOUNT;
			takes = true;
			a->account = v;
		} else if (strcmp(o, "--scope") == 0) {
			need = ADMIN_OPT_SCOPE;
			takes = true;
			if (v && a->nscopes == ADMIN_SCOPES_MAX)
				return admin_fail(2, "too many --scope options");
			if (v)
				a->scopes[a->nscopes++] = v;
		} else if (strcmp(o, "--name") == 0) {
			need = ADMIN_OPT_NAME;
			takes = true;
			a->name = v;
		} else if (strcmp(o, "--home") == 0) {
			need = ADMIN_OPT_HOME;
			takes = true;
			a->home = v;
		} else if (strcmp(o, "--clear") == 0) {
			need = ADMIN_OPT_CLEAR;
			a->clear = true;
		} else if (strcmp(o, "--type") == 0) {
			need = ADMIN_OPT_TYPE;
			takes = true;
			a->type = v;
		} else if (strcmp(o, "--reason") == 0) {
			need = ADMIN_OPT_REASON;
			takes = true;
			a->reason = v;
		} else if (strcmp(o, "--all") == 0) {
			need = ADMIN_OPT_ALL;
			a->all = true;
		} else if (strcmp(o, "--since") == 0) {
			need = ADMIN_OPT_SINCE;
			takes = true;
			a->since = v;
		} else if (strcmp(o, "--follow") == 0 || strcmp(o, "-f") == 0) {
			need = ADMIN_OPT_FOLLOW;
			a->follow = true;
		} else if (strcmp(o, "--limit") == 0) {
			need = ADMIN_OPT_LIMIT;
			takes = true;
			if (v && (allowed & need) && (!parse_limit(v, false, &a->limit)))
				return admin_fail(2, "--limit: expected a number, not '%s'", v);
		} else {
			admin_fail(2, "unknown option '%s'", o);
			return admin_usage(usage);
		}
		if (need && !(allowed & need)) {
			admin_fail(2, "option '%s' does not apply here", o);
			return admin_usage(usage);
		}
		if (takes) {
			if (!v)
				return admin_fail(2, "option '%s' needs a value", o);
			i++;
		}
	}
	return 0;
}

/* db_precreate_as_owner - run as root, create petrel.db owned by the owner
 * of the data folder (the petrel user), so the server can still write it;
 * SQLite gives the -wal and -shm files the database file's owner */
static void db_precreate_as_owner(const char *data_dir)
{
	struct stat st;
	if (geteuid() != 0 || stat(data_dir, &st) < 0 || st.st_uid == 0)
		return;
	char *path = xasprintf("%s/petrel.db", data_dir);
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (fd >= 0) {
		if (fchown(fd, st.st_uid, st.st_gid) < 0)
			admin_fail(0, "%s: chown: %s", path, strerror(errno));
		if (close(fd) < 0)
			admin_fail(0, "%s: %s", path, strerror(errno));
	}
	free(path);
}

void admin_store_settings(const struct config *config, struct store_settings *settings_r)
{
	bool pg = config->store.backend == STORE_BACKEND_POSTGRESQL;
	*settings_r = (struct store_settings){
		.data_dir = config->data_dir,
		.url = pg ? config->store.url : NULL,
		.statement_timeout = config->store.statement_timeout,
		.connections = config->store.connections,
	};
}

void admin_credentials_settings(const struct config *config, struct store_settings *settings_r)
{
	admin_store_settings(config, settings_r);
	settings_r->url = config->store.credentials_url[0] != '\0' ? config->store.credentials_url
								    : NULL;
}

struct store *admin_open(const char *file, struct config **config_r, int *status_r)
{
	const char *error = NULL;
	struct config *config = config_load(file, &error);
	if (!config) {
		*status_r = admin_fail(2, "%s", error);
		return NULL;
	}
	struct store_settings settings;
	admin_store_settings(config, &settings);
	if (!settings.url)
		db_precreate_as_owner(config->data_dir);
	struct store *store = store_open_settings(&settings, &error);
	if (!store) {
		*status_r = settings.url
			? admin_fail(1, "cannot open the store (postgresql): %s", error)
			: admin_fail(1, "cannot open the store in %s: %s", config->data_dir, error);
		config_free(&config);
	}
	*config_r = config;
	return store;
}

/* credentials_precreate_as_owner - run as root: DATA_DIR/auth (made 0700
 * if missing) becomes [server] auth_user's (the data folder's owner's when
 * no such user exists, as for petrel.db), and a new credentials.db the owner
 * of DATA_DIR/auth's, so that the server can still open them.  An existing
 * auth/ owned by the network process's user ([server] user) is refused:
 * that user owns the data folder, so a compromised network process can swap
 * in a folder of its own, and a hash written there would be its to read.
 * Through descriptors with O_NOFOLLOW: whoever owns the data folder cannot
 * have root chown a file of their choosing by swapping in a symlink.
 * -1 after printing why. */
static int credentials_precreate_as_owner(const struct config *config)
{
	struct stat st, ast;
	if (geteuid() != 0 || stat(config->data_dir, &st) < 0)
		return 0;
	uid_t uid = st.st_uid, network_uid = 0;
	gid_t gid = st.st_gid;
	bool network_known = false;
	const struct passwd *pw = getpwnam(config->auth_user);
	if (pw) {
		uid = pw->pw_uid;
		gid = pw->pw_gid;
	}
	if (config->user[0] != '\0' && (pw = getpwnam(config->user)) != NULL) {
		network_uid = pw->pw_uid;
		network_known = true;
	}
	int ret = 0;
	char *dir = xasprintf("%s/auth", config->data_dir);
	bool made = mkdir(dir, 0700) == 0;
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0 || fstat(dfd, &ast) < 0)
		goto out;   /* store_credentials_open says what is wrong */
	if (made && uid != 0) {
		if (fchown(dfd, uid, gid) < 0)
			admin_fail(0, "%s: chown: %s", dir, strerror(errno));
		ast.st_uid = uid;
		ast.st_gid = gid;
	}
	if (network_known && network_uid != uid && ast.st_uid == network_uid) {
		ret = -1;
		admin_fail(1, "%s is owned by %s, the network process's user ([server] user), "
			   "not by %s: refusing to write password hashes where it can read "
			   "them (see what is in it and remove it; petrel serve makes it again)",
			   dir, config->user, config->auth_user);
		goto out;
	}
	if (ast.st_uid == 0)
		goto out;
	int fd = openat(dfd, "credentials.db", O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
			0600);
	if (fd >= 0) {
		if (fchown(fd, ast.st_uid, ast.st_gid) < 0)
			admin_fail(0, "%s/credentials.db: chown: %s", dir, strerror(errno));
		if (close(fd) < 0)
			admin_fail(0, "%s/credentials.db: %s", dir, strerror(errno));
	}
out:
	if (dfd >= 0 && close(dfd) < 0)
		admin_fail(0, "%s: %s", dir, strerror(errno));
	free(dir);
	return ret;
}

struct store_credentials *admin_credentials_open(const struct config *config,
						 struct store *store, int *status_r)
{
	const char *error = NULL;
	struct store_settings settings;
	admin_credentials_settings(config, &settings);
	if (!settings.url && credentials_precreate_as_owner(config) != 0) {
		*status_r = 1;
		return NULL;
	}
	struct store_credentials *sc = store_credentials_open_settings(&settings, &error);
	if (!sc) {
		*status_r = settings.url
			? admin_fail(1, "cannot open the credentials (postgresql): %s", error)
			: admin_fail(1, "cannot open the credentials in %s/auth: %s",
				     config->data_dir, error);
		return NULL;
	}
	if (store_credentials_migrate(store, sc, &error) != 0) {
		*status_r = admin_fail(1, "moving the password hashes out of petrel.db: %s", error);
		store_credentials_close(&sc);
	}
	return sc;
}

#define MIGRATE_USAGE "usage: petrel migrate [-c FILE]\n"

/* cmd_migrate - bring the store's schema to this petrel's version (what
 * petrel serve does at start, under the same lock) and say where it is;
 * with [store] credentials_url, the credentials' tables too (their own
 * version, on a line of their own) */
int cmd_migrate(int argc, char **argv)
{
	struct admin_args a;
	if (admin_args_parse(argc, argv, 0, MIGRATE_USAGE, &a) != 0)
		return 2;
	if (a.npos != 0)
		return admin_usage(MIGRATE_USAGE);
	int status = 0;
	struct config *config = NULL;
	struct store *store = admin_open(a.config, &config, &status);
	if (!store)
		return status;
	printf("store=%s schema_version=%d\n", store_backend_name(store),
	       store_schema_version(store));
	if (config->store.credentials_url[0] != '\0') {
		struct store_credentials *sc = admin_credentials_open(config, store, &status);
		if (sc)
			printf("credentials=%s schema_version=%d\n",
			       store_credentials_backend_name(sc),
			       store_credentials_schema_version(sc));
		store_credentials_close(&sc);
	}
	store_close(&store);
	config_free(&config);
	return status;
}

struct store *admin_store_open(const char *file, int *status_r)
{
	struct config *config = NULL;
	struct store *store = admin_open(file, &config, status_r);
	config_free(&config);
	return store;
}

bool admin_domain_is_local(struct store *store, const struct config *config,
			   const char *domain, int *status_r)
{
	bool exists = config_is_local_domain(config, domain);
	const char *error = NULL;
	if (!exists && store_domain_exists(store, domain, &exists, &error) != 0) {
		*status_r = admin_status(-1, &error);
		exists = false;
	}
	return exists;
}

bool admin_event_account_is_valid(const char *name)
{
	/* "uid:N": what smtp/session.c names a local (unix socket) session */
	if (strncmp(name, "uid:", 4) == 0)
		return name[4] != '\0' && strlen(name + 4) <= 10 &&
		       strspn(name + 4, "0123456789") == strlen(name + 4);
	return store_account_name_is_valid(name);
}

void cli_json_string(FILE *out, const char *s)
{
	if (!s) {
		fputs("null", out);
		return;
	}
	/* invalid UTF-8 (peer text in events) is written byte by byte as
	 * \u00XX so the document always parses */
	bool utf8 = utf8_is_valid(s, strlen(s));
	fputc('"', out);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(out, "\\%c", *p);
		else if (*p == '\n')
			fputs("\\n", out);
		else if (*p == '\t')
			fputs("\\t", out);
		else if (*p < 0x20 || *p == 0x7f || (*p >= 0x80 && !utf8))
			fprintf(out, "\\u%04x", *p);
		else
			fputc(*p, out);
	}
	fputc('"', out);
}

void cli_json_list_open(bool json)
{
	if (json)
		fputc('[', stdout);
}

void cli_json_list_close(bool json)
{
	if (json)
		fputs("]\n", stdout);
}

void cli_json_entry_open(size_t i, const char *key)
{
	printf("%s{\"%s\":", i ? "," : "", key);
}

char *admin_time_format(time_t t, char *buf, size_t size)
{
	struct tm tm;
	if (!gmtime_r(&t, &tm) || strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, size, "%lld", (long long)t);
	return buf;
}

bool admin_time_parse(const char *s, time_t now, time_t *t_r)
{
	static const char *const formats[] = {
		"%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S",
		"%Y-%m-%dT%H:%MZ", "%Y-%m-%dT%H:%M", "%Y-%m-%d",
	};
	/* relative: a number and a unit */
	if (isdigit((unsigned char)s[0])) {
		char *end;
		errno = 0;
		long n = strtol(s, &end, 10);
		long unit = 0;
		if (!errno && end[0] != '\0' && end[1] == '\0') {
			switch (end[0]) {
			case 's': unit = 1; break;
			case 'm': unit = 60; break;
			case 'h': unit = 3600; break;
			case 'd': unit = 86400; break;
			case 'w': unit = 7 * 86400; break;
			default: break;
			}
		}
		if (unit && n >= 0 && n <= LONG_MAX / unit / 2) {
			*t_r = now - (time_t)(n * unit);
			return true;
		}
	}
	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
		struct tm tm;
		memset(&tm, 0, sizeof(tm));
		const char *end = strptime(s, formats[i], &tm);
		if (end && *end == '\0') {
			/* strptime takes any day 1..31 in any month: timegm would
			 * make 2026-02-30 March 2nd; a date that does not come
			 * back unchanged does not exist */
			struct tm want = tm, back;
			time_t t = timegm(&tm);
			if (!gmtime_r(&t, &back) || back.tm_year != want.tm_year ||
			    back.tm_mon != want.tm_mon || back.tm_mday != want.tm_mday ||
			    back.tm_hour != want.tm_hour || back.tm_min != want.tm_min ||
			    back.tm_sec != want.tm_sec)
				return false;
			*t_r = t;
			return true;
		}
	}
	return false;
}

/* read_line_fd - the first line of IN without its line end */
static char *read_line_fd(FILE *in, int *status_r)
{
	char *buf = xmalloc(PASSWORD_MAX + 2);
	char *result = NULL;
	if (!fgets(buf, PASSWORD_MAX + 2, in)) {
		*status_r = admin_fail(2, "no password on standard input");
		goto out;
	}
	size_t len = strlen(buf);
	if (len > PASSWORD_MAX) {
		*status_r = admin_fail(2, "password longer than %d bytes", PASSWORD_MAX);
		goto out;
	}
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		buf[--len] = '\0';
	if (len == 0) {
		*status_r = admin_fail(2, "empty password");
		goto out;
	}
	result = xstrdup(buf);
out:
	OPENSSL_cleanse(buf, PASSWORD_MAX + 2);
	free(buf);
	return result;
}

/* read_tty_password - PROMPT on stderr, then a line from the terminal on
 * stdin with echo off */
static char *read_tty_password(const char *prompt, int *status_r)
{
	struct termios old, quiet;
	if (tcgetattr(STDIN_FILENO, &old) < 0) {
		*status_r = admin_fail(1, "terminal: %s", strerror(errno));
		return NULL;
	}
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK | ECHONL);
	/* Echo off (dropping typeahead) before the prompt, never after it: a
	 * password typed or pasted as soon as the prompt shows must not be
	 * flushed away, nor echoed. */
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) < 0) {
		*status_r = admin_fail(1, "terminal: %s", strerror(errno));
		return NULL;
	}
	fputs(prompt, stderr);
	fflush(stderr);
	char *pw = read_line_fd(stdin, status_r);
	if (tcsetattr(STDIN_FILENO, TCSANOW, &old) < 0 && pw) {
		*status_r = admin_fail(1, "terminal: %s", strerror(errno));
		admin_password_free(&pw);
		return NULL;
	}
	fputc('\n', stderr);
	return pw;
}

char *admin_read_password(bool from_stdin, int *status_r)
{
	if (from_stdin)
		return read_line_fd(stdin, status_r);
	if (!isatty(STDIN_FILENO)) {
		*status_r = admin_fail(2, "no password: give --password-stdin (or"
				       " --password-hash), or run on a terminal");
		return NULL;
	}
	char *first = read_tty_password("Password: ", status_r);
	if (!first)
		return NULL;
	char *second = read_tty_password("Retype password: ", status_r);
	if (!second) {
		admin_password_free(&first);
		return NULL;
	}
	bool same = strcmp(first, second) == 0;
	admin_password_free(&second);
	if (!same) {
		admin_password_free(&first);
		*status_r = admin_fail(1, "the passwords do not match");
		return NULL;
	}
	return first;
}

void admin_password_free(char **password)
{
	if (!*password)
		return;
	OPENSSL_cleanse(*password, strlen(*password));
	free(*password);
	*password = NULL;
}
