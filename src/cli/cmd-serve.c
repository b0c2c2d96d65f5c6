/* cli/cmd-serve - petrel serve.
 *
 * Without --process it is the supervisor (privsep/supervisor.c): it loads and
 * checks the configuration (a bad setting: exit 2 with FILE:LINE and nothing
 * touched), checks the users exist, locks the data folder (before anything in
 * it is touched), prepares it as root (auth/ and dkim/ with their owners and
 * modes), then starts and watches the other processes, each of which is this
 * binary again with the hidden arguments `--process ROLE`:
 *   network: bind the listeners, drop privileges, recover the queue and run
 *            the event loop until SIGTERM (from the supervisor);
 *   auth, keys: authd_main, keysd_main on their channel (fd 3).
 * See docs/security.md, "Processes". */
#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <malloc.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/crypto.h>

#include "authd/authd.h"
#include "authd/client.h"
#include "cli/cli.h"
#include "cli/cmd-admin.h"
#include "config/config.h"
#include "ipc/ipc.h"
#include "keysd/keysd.h"
#include "mailbox/mailbox.h"
#include "mailauth/mailauth.h"
#include "net/net.h"
#include "policy/policy.h"
#include "queue/control.h"
#include "queue/queue.h"
#include "smtp/smtp.h"
#include "delivery/delivery.h"
#include "dns/dns.h"
#include "imap/imap.h"
#include "pop3/pop3.h"
#include "http/http.h"
#include "http/webhook.h"
#include "privsep/privsep.h"
#include "reports/reports.h"
#include "util/xalloc.h"
#include "store/store.h"
#include "util/log.h"
#include "util/heap.h"
#include "util/pool.h"

struct serve_state {
	struct event_base *base;
	struct net_listeners *listeners;
	struct smtp_server *server;
	struct imap_server *imap;
	struct pop3_server *pop3;
	struct http_server *http;
	struct queue *queue;        /* for GET /metrics */
	struct pool *pool;
	const struct config *config;
	bool draining;
	unsigned draining_servers;  /* servers whose sessions are not all closed */
};

/* What struct delivery_settings points at, owned here for the server's life. */
struct serve_outbound {
	struct delivery_settings settings;
	struct delivery_policy *policies;
	size_t policy_count;
	struct delivery_relay relay;
	char *relay_host;
	char **relay_domains;
};

/* The owner a folder or file of the data folder gets (as root only). */
struct serve_owner {
	bool set;
	uid_t uid;
	gid_t gid;
};

static int serve_parse_args(int argc, char **argv, const char **file_r,
			    enum privsep_role *role_r);
static void serve_malloc_setup(const struct config *config);
static int serve_supervisor(const struct config *config, const char *file);
static int serve_network(const struct config *config);
static void serve_raise_nofile(void);
static int serve_check_users(const struct config *config);
static int serve_check_user(const struct config *config, const char *key, const char *user);
static int serve_owner_of(const char *user, struct serve_owner *owner);
static int serve_make_data_dir(const struct config *config);
static void serve_sign_notice(void *ctx, struct buf *message);
static int serve_prepare_data_dir(const struct config *config, int lock_fd);
static int serve_prepare_subdir(const struct config *config, int dir_fd, const char *name,
				const struct serve_owner *owner, const struct serve_owner *refused);
static int serve_own_files(const struct config *config);
static int serve_own_files_in(const struct config *config, int dir_fd, const char *name,
			      const struct serve_owner *owner);
static int serve_lock_data_dir(const struct config *config, int *fd_r);
static int serve_prepare_auth(const char *file);
static void serve_signal_cb(evutil_socket_t sig, short what, void *arg);
static void serve_drained(void *ctx);
static void serve_metrics(void *ctx, struct http_metrics *metrics_r);
static enum delivery_tls serve_tls_policy(const char *name);
static int serve_outbound_setup(const struct config *config, struct serve_outbound *out,
				const char **error_r);
static void serve_outbound_free(struct serve_outbound *out);
static int serve_unsubscribe_secret(const struct config *config,
				    unsigned char secret[STORE_AUTH_SECRET_LEN]);
static int serve_srs_setup(const struct config *config, struct srs_settings *srs,
			   char **secret_r);

/* serve_parse_args - [-c FILE]; the supervisor adds --process ROLE for the
 * processes it starts (not for people: it is not in the usage) */
static int serve_parse_args(int argc, char **argv, const char **file_r,
			    enum privsep_role *role_r)
{
	*file_r = CLI_DEFAULT_CONFIG;
	*role_r = PRIVSEP_SUPERVISOR;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
			*file_r = argv[++i];
		} else if (strcmp(argv[i], "--process") == 0 && i + 1 < argc &&
			   privsep_role_parse(argv[i + 1], role_r)) {
			i++;
		} else {
			fputs("usage: petrel serve [-c FILE]\n", stderr);
			return -1;
		}
	}
	return 0;
}

/* serve_raise_nofile - one descriptor per connection: allow as many as the hard limit */
static void serve_raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			log_warn("rlimit-failed", "error=\"%s\"", strerror(errno));
	}
}

/* serve_check_users - started as root, each process's user must say who
 * to become and exist */
static int serve_check_users(const struct config *config)
{
	if (geteuid() != 0)
		return 0;
	if (serve_check_user(config, "user", config->user) != 0 ||
	    serve_check_user(config, "auth_user", config->auth_user) != 0 ||
	    serve_check_user(config, "keys_user", config->keys_user) != 0)
		return -1;
	return 0;
}

/* serve_check_user - [server] KEY = USER: an empty value would silently keep
 * root ("root" keeps it on purpose), and the user must exist */
static int serve_check_user(const struct config *config, const char *key, const char *user)
{
	int line = config_key_line(config, "server", key);

	if (user[0] == '\0') {
		fprintf(stderr, "petrel: %s:%d: '%s' is empty and petrel was started as root, "
			"so it would keep running as root: set '%s = root' to mean that, or "
			"name an unprivileged user (such as %s)\n", config->path, line, key, key,
			strcmp(key, "user") == 0 ? "petrel" : strcmp(key, "auth_user") == 0 ?
			"petrel-auth" : "petrel-keys");
		return -1;
	}
	errno = 0;
	if (getpwnam(user) == NULL) {
		if (line != 0)
			fprintf(stderr, "petrel: %s:%d: '%s': no user named '%s' (%s)\n",
				config->path, line, key, user,
				errno != 0 ? strerror(errno) : "not in the user database");
		else
			fprintf(stderr, "petrel: %s: no user named '%s' (the default of "
				"[server] %s): create it (scripts/install-deps.sh does) or set "
				"'%s'\n", config->path, user, key, key);
		return -1;
	}
	return 0;
}

/* serve_owner_of - as root, USER's uid and gid; otherwise nothing to set */
static int serve_owner_of(const char *user, struct serve_owner *owner)
{
	memset(owner, 0, sizeof(*owner));
	if (geteuid() != 0)
		return 0;
	errno = 0;
	struct passwd *pw = getpwnam(user);
	if (pw == NULL) {
		fprintf(stderr, "petrel: no user named '%s' (%s)\n", user,
			errno != 0 ? strerror(errno) : "not in the user database");
		return -1;
	}
	owner->set = true;
	owner->uid = pw->pw_uid;
	owner->gid = pw->pw_gid;
	return 0;
}

/* serve_make_data_dir - create the data folder (0750) if missing */
static int serve_make_data_dir(const struct config *config)
{
	if (mkdir(config->data_dir, 0750) != 0 && errno != EEXIST) {
		fprintf(stderr, "petrel: cannot create data folder %s: %s\n", config->data_dir,
			strerror(errno));
		return -1;
	}
	return 0;
}

/* serve_sign_notice - (queue_sign_fn, on a worker) a bounce or delay notice
 * signed with its From: domain's keys (the host name's); unsigned when it
 * cannot be, as mail from accounts */
static void serve_sign_notice(void *ctx, struct buf *message)
{
	const char *error = NULL;
	int n = keysd_signer_sign_blocking(ctx, message, (long long)time(NULL), &error);
	if (n < 0)
		log_warn("dkim-sign-failed", "what=notice action=unsigned reason=\"%s\"", error);
	else if (n > 0)
		log_info("dkim-signed", "what=notice signatures=%d", n);
}

/* serve_prepare_data_dir - as root, before any other process runs: the data
 * folder and its lock belong to [server] user (the network process writes
 * the queue, the Maildirs and petrel.db); auth/ (credentials) to auth_user
 * and dkim/ (private keys) and webhook/ (the webhook keys' secret) to
 * keys_user, mode 0700, so that the network
 * process's user cannot even list them (the files in them: serve_own_files).
 * Not root: only the folders and their modes. */
static int serve_prepare_data_dir(const struct config *config, int lock_fd)
{
	struct serve_owner network, auth, keys;
	int ret = -1;
	int dir_fd = open(config->data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (dir_fd < 0) {
		fprintf(stderr, "petrel: cannot open data folder %s: %s\n", config->data_dir,
			strerror(errno));
		return -1;
	}
	if (serve_owner_of(config->user, &network) != 0 ||
	    serve_owner_of(config->auth_user, &auth) != 0 ||
	    serve_owner_of(config->keys_user, &keys) != 0)
		goto out;
	if (network.set && (fchown(dir_fd, network.uid, network.gid) != 0 ||
			    fchown(lock_fd, network.uid, network.gid) != 0)) {
		fprintf(stderr, "petrel: cannot give %s to %s: %s\n", config->data_dir,
			config->user, strerror(errno));
		goto out;
	}
	/* the network process's user owns the data folder: an auth/ or dkim/
	 * of its own is one it put there (it may rename the real one away),
	 * with a credentials.db of its choosing, or keys that the keys process
	 * would parse as root and sign with in place of the real ones */
	if (serve_prepare_subdir(config, dir_fd, "auth", &auth, &network) != 0 ||
	    serve_prepare_subdir(config, dir_fd, "dkim", &keys, &network) != 0 ||
	    serve_prepare_subdir(config, dir_fd, "webhook", &keys, &network) != 0)
		goto out;
	ret = 0;
out:
	if (close(dir_fd) != 0)
		log_warn("close-failed", "path=%s error=\"%s\"", config->data_dir,
			 strerror(errno));
	return ret;
}

/* serve_prepare_subdir - DATA_DIR/NAME: created if missing, refused if it is
 * a symbolic link or not a folder (the owner change would otherwise land
 * wherever it points) or, when REFUSED is not NULL and is another user than
 * OWNER, if REFUSED owns it; mode 0700, owned by OWNER (as root) */
static int serve_prepare_subdir(const struct config *config, int dir_fd, const char *name,
				const struct serve_owner *owner, const struct serve_owner *refused)
{
	struct stat st;
	int ret = -1;

	if (mkdirat(dir_fd, name, 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "petrel: cannot create %s/%s: %s\n", config->data_dir, name,
			strerror(errno));
		return -1;
	}
	if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
		fprintf(stderr, "petrel: %s/%s: %s\n", config->data_dir, name, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "petrel: %s/%s is %s, not a folder: refusing to start\n",
			config->data_dir, name, S_ISLNK(st.st_mode) ? "a symbolic link" :
			"something else");
		return -1;
	}
	/* O_NOFOLLOW: a link put there since the check is refused too */
	int fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "petrel: cannot open %s/%s: %s\n", config->data_dir, name,
			strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0) {
		fprintf(stderr, "petrel: %s/%s: %s\n", config->data_dir, name, strerror(errno));
	} else if (refused && refused->set && owner->set && refused->uid != owner->uid &&
		   st.st_uid == refused->uid) {
		fprintf(stderr, "petrel: %s/%s is owned by %s, the network process's user "
			"([server] user), not by its own: refusing to start (see what is in it, "
			"and remove it: it is made again)\n", config->data_dir, name,
			config->user);
	} else if ((owner->set && fchown(fd, owner->uid, owner->gid) != 0) ||
		   fchmod(fd, 0700) != 0) {
		fprintf(stderr, "petrel: cannot set the owner and mode of %s/%s: %s\n",
			config->data_dir, name, strerror(errno));
	} else {
		ret = 0;
	}
	if (close(fd) != 0)
		log_warn("close-failed", "path=%s/%s error=\"%s\"", config->data_dir, name,
			 strerror(errno));
	return ret;
}

/* serve_own_files - as root, the files in auth/ and dkim/ become their
 * process's user's: those serve_prepare_auth made, those a version before
 * the split or an operator left there */
static int serve_own_files(const struct config *config)
{
	struct serve_owner auth, keys;
	int ret = -1;

	if (geteuid() != 0)
		return 0;
	int dir_fd = open(config->data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir_fd < 0) {
		fprintf(stderr, "petrel: cannot open data folder %s: %s\n", config->data_dir,
			strerror(errno));
		return -1;
	}
	if (serve_owner_of(config->auth_user, &auth) == 0 &&
	    serve_owner_of(config->keys_user, &keys) == 0 &&
	    serve_own_files_in(config, dir_fd, "auth", &auth) == 0 &&
	    serve_own_files_in(config, dir_fd, "dkim", &keys) == 0 &&
	    serve_own_files_in(config, dir_fd, "webhook", &keys) == 0)
		ret = 0;
	if (close(dir_fd) != 0)
		log_warn("close-failed", "path=%s error=\"%s\"", config->data_dir,
			 strerror(errno));
	return ret;
}

/* serve_own_files_in - each regular file in DATA_DIR/NAME becomes OWNER's;
 * a link is left alone (AT_SYMLINK_NOFOLLOW), and so is the folder if it
 * became a link since serve_prepare_subdir (O_NOFOLLOW), and a file with
 * more than one name (a hard link to a file elsewhere) */
static int serve_own_files_in(const struct config *config, int dir_fd, const char *name,
			      const struct serve_owner *owner)
{
	struct stat st;
	int ret = -1;
	int fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *dir = fd < 0 ? NULL : fdopendir(fd);

	if (dir == NULL) {
		fprintf(stderr, "petrel: cannot list %s/%s: %s\n", config->data_dir, name,
			strerror(errno));
		if (fd >= 0 && close(fd) != 0)
			log_warn("close-failed", "path=%s/%s error=\"%s\"", config->data_dir,
				 name, strerror(errno));
		return -1;
	}
	/* fd now belongs to DIR */
	for (struct dirent *de; (errno = 0, de = readdir(dir)) != NULL;) {
		if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
		    !S_ISREG(st.st_mode) || (st.st_uid == owner->uid && st.st_gid == owner->gid))
			continue;
		/* through a descriptor: the file checked is the file given */
		int ffd = openat(fd, de->d_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		int err = 0;
		if (ffd < 0 || fstat(ffd, &st) != 0) {
			err = errno;
		} else if (!S_ISREG(st.st_mode)) {
			/* replaced since the check: nothing to give */
		} else if (st.st_nlink != 1) {
			/* another name elsewhere: it may be anyone's (a hard link
			 * its user made, where fs.protected_hardlinks is off) */
			fprintf(stderr, "petrel: %s/%s/%s has %lu links: left to its owner\n",
				config->data_dir, name, de->d_name, (unsigned long)st.st_nlink);
		} else if (fchown(ffd, owner->uid, owner->gid) != 0) {
			err = errno;
		}
		if (ffd >= 0 && close(ffd) != 0)
			log_warn("close-failed", "path=%s/%s/%s error=\"%s\"", config->data_dir,
				 name, de->d_name, strerror(errno));
		if (err != 0) {
			fprintf(stderr, "petrel: cannot give %s/%s/%s to its user: %s\n",
				config->data_dir, name, de->d_name, strerror(err));
			goto out;
		}
	}
	if (errno != 0) {
		fprintf(stderr, "petrel: cannot list %s/%s: %s\n", config->data_dir, name,
			strerror(errno));
		goto out;
	}
	ret = 0;
out:
	if (closedir(dir) != 0)
		log_warn("close-failed", "path=%s/%s error=\"%s\"", config->data_dir, name,
			 strerror(errno));
	return ret;
}

/* serve_prepare_auth - as root, before any other process runs, what the
 * auth process will open: the password secrets an older petrel kept in
 * petrel.db move to auth/credentials.db (store_credentials_migrate; a new
 * one is made with the owner of auth/: admin_credentials_open), and the
 * auth secret is made (or moved into auth/).  Files made here get their
 * owner from serve_own_files, so that none is left root's. */
static int serve_prepare_auth(const char *file)
{
	unsigned char secret[STORE_AUTH_SECRET_LEN];
	struct config *config = NULL;
	struct store_credentials *credentials = NULL;
	const char *error = NULL;
	int status = 0;
	int ret = -1;
	struct store *store = admin_open(file, &config, &status);

	if (store == NULL)
		goto out;
	credentials = admin_credentials_open(config, store, &status);
	if (credentials == NULL)
		goto out;
	if (store_auth_secret_load(config->data_dir, secret, &error) != 0) {
		fprintf(stderr, "petrel: %s\n", error);
		goto out;
	}
	OPENSSL_cleanse(secret, sizeof(secret));
	ret = 0;
out:
	store_credentials_close(&credentials);
	store_close(&store);
	config_free(&config);
	return ret;
}

/* serve_lock_data_dir - take DATA_DIR/petrel.lock (flock, exclusive) for the
 * server's life, before anything in the folder is read or written: a second
 * server on the same folder must not run recovery on a live queue.  The
 * kernel drops the lock when the process ends, however it ends. */
static int serve_lock_data_dir(const struct config *config, int *fd_r)
{
	char *path = xasprintf("%s/petrel.lock", config->data_dir);
	int ret = -1;
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		fprintf(stderr, "petrel: cannot open %s: %s\n", path, strerror(errno));
		goto out;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno == EWOULDBLOCK)
			fprintf(stderr, "petrel: %s: another server is running on this data "
				"folder\n", path);
		else
			fprintf(stderr, "petrel: cannot lock %s: %s\n", path, strerror(errno));
		goto out;
	}
	*fd_r = fd;
	fd = -1;
	ret = 0;
out:
	if (fd >= 0 && close(fd) != 0)
		log_warn("close-failed", "path=%s error=\"%s\"", path, strerror(errno));
	free(path);
	return ret;
}

/* serve_signal_cb - SIGTERM/SIGINT: stop accepting, give every session its
 * 421 and an orderly close (answers of messages being stored first), and
 * leave the loop when none is left or after timeouts.shutdown seconds; a
 * second signal leaves at once */
static void serve_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct serve_state *st = arg;
	(void)what;
	log_info("shutdown", "signal=%d sessions=%zu imap_sessions=%zu pop3_sessions=%zu "
		 "http_sessions=%zu", (int)sig, smtp_server_session_count(st->server),
		 imap_server_session_count(st->imap), pop3_server_session_count(st->pop3),
		 http_server_session_count(st->http));
	net_listeners_disable(st->listeners);
	if (st->draining) {
		event_base_loopexit(st->base, NULL);
		return;
	}
	st->draining = true;
	struct timeval grace = { .tv_sec = st->config->timeouts.shutdown, .tv_usec = 0 };
	event_base_loopexit(st->base, &grace);
	st->draining_servers = 4;
	smtp_server_drain(st->server, serve_drained, st);
	imap_server_drain(st->imap, serve_drained, st);
	pop3_server_drain(st->pop3, serve_drained, st);
	http_server_drain(st->http, serve_drained, st);
}

/* serve_metrics - an http_metrics_fn: the counters GET /metrics reports */
static void serve_metrics(void *ctx, struct http_metrics *metrics_r)
{
	const struct serve_state *st = ctx;
	queue_stats(st->queue, &metrics_r->queue);
	metrics_r->sessions[HTTP_METRICS_SMTP] = smtp_server_session_count(st->server);
	metrics_r->sessions[HTTP_METRICS_IMAP] = imap_server_session_count(st->imap);
	metrics_r->sessions[HTTP_METRICS_POP3] = pop3_server_session_count(st->pop3);
	metrics_r->sessions[HTTP_METRICS_HTTP] = http_server_session_count(st->http);
	metrics_r->session_stats[HTTP_METRICS_SMTP] = *smtp_server_session_stats(st->server);
	metrics_r->session_stats[HTTP_METRICS_IMAP] = *imap_server_session_stats(st->imap);
	metrics_r->session_stats[HTTP_METRICS_POP3] = *pop3_server_session_stats(st->pop3);
	metrics_r->session_stats[HTTP_METRICS_HTTP] = *http_server_session_stats(st->http);
	metrics_r->smtp_accept_seconds = *smtp_server_accept_latency(st->server);
	metrics_r->pool_pending = pool_pending(st->pool);
}

/* serve_drained - the last session of one server is closed: leave the loop
 * once every server is done */
static void serve_drained(void *ctx)
{
	struct serve_state *st = ctx;
	if (st->draining_servers > 0 && --st->draining_servers == 0)
		event_base_loopexit(st->base, NULL);
}

static enum delivery_tls serve_tls_policy(const char *name)
{
	if (strcmp(name, "none") == 0)
		return DELIVERY_TLS_NONE;
	if (strcmp(name, "encrypt") == 0)
		return DELIVERY_TLS_ENCRYPT;
	if (strcmp(name, "verify") == 0)
		return DELIVERY_TLS_VERIFY;
	if (strcmp(name, "implicit") == 0)
		return DELIVERY_TLS_IMPLICIT;
	return DELIVERY_TLS_MAY;
}

/* serve_outbound_setup - [delivery], [tls-policy] and [relay] as delivery
 * settings (first match wins): per-domain TLS policies for MX delivery (so a
 * domain named in [tls-policy] goes by MX even with [relay] domains = *, as
 * configuration.md says), then the relay's domains (or "*": everything else
 * goes to the smarthost), then the default TLS policy */
static int serve_outbound_setup(const struct config *config, struct serve_outbound *out,
				const char **error_r)
{
	static char error[300];
	memset(out, 0, sizeof(*out));
	size_t max = config->tls_policy_count + 64 + 1;
	out->policies = xcalloc(max, sizeof(*out->policies));
	for (size_t i = 0; i < config->tls_policy_count; i++) {
		out->policies[out->policy_count].domain = config->tls_policies[i].domain;
		out->policies[out->policy_count++].tls =
			serve_tls_policy(config->tls_policies[i].policy);
	}
	if (config->relay.host[0]) {
		const struct delivery_relay *preset = delivery_relay_preset(config->relay.host);
		if (preset) {
			out->relay = *preset;
		} else {
			const char *colon = strrchr(config->relay.host, ':');
			char *end = NULL;
			unsigned long port = colon ? strtoul(colon + 1, &end, 10) : 0;
			if (!colon || colon == config->relay.host || !end || *end || port == 0 ||
			    port > 65535) {
				snprintf(error, sizeof(error), "%s:%d: [relay] host '%s' is "
					 "neither a preset (gmail, outlook, yahoo, icloud, aol, att, "
					 "comcast, sendgrid) nor HOST:PORT", config->path,
					 config_key_line(config, "relay", "host"), config->relay.host);
				*error_r = error;
				return -1;
			}
			out->relay_host = xstrndup(config->relay.host,
						   (size_t)(colon - config->relay.host));
			out->relay.host = out->relay_host;
			out->relay.port = (unsigned)port;
			out->relay.tls = port == 465 ? DELIVERY_TLS_IMPLICIT : DELIVERY_TLS_VERIFY;
		}
		if (config->relay.tls[0])
			out->relay.tls = serve_tls_policy(config->relay.tls);
		out->relay.username = config->relay.username[0] ? config->relay.username : NULL;
		out->relay.password = config->relay.password[0] ? config->relay.password : NULL;
		/* "domains = *" or a list separated by commas or spaces */
		char *list = xstrdup(config->relay.domains);
		char *save = NULL;
		size_t n = 0;
		out->relay_domains = xcalloc(64 + 1, sizeof(char *));
		for (char *tok = strtok_r(list, ", \t", &save); tok && n < 64;
		     tok = strtok_r(NULL, ", \t", &save)) {
			out->relay_domains[n] = xstrdup(tok);
			out->policies[out->policy_count].domain = out->relay_domains[n++];
			out->policies[out->policy_count++].relay = &out->relay;
		}
		free(list);
	}
	out->policies[out->policy_count].domain = "*";
	out->policies[out->policy_count++].tls = serve_tls_policy(config->delivery.tls);
	out->settings = (struct delivery_settings){
		.helo_name = config->hostname,
		.max_connections = config->delivery.max_connections,
		.max_per_destination = config->delivery.max_per_destination,
		.port = config->delivery.port,
		.source_address = config->delivery.source_address[0] ?
			config->delivery.source_address : NULL,
		.policies = out->policies,
		.policy_count = out->policy_count,
	};
	return 0;
}

static void serve_outbound_free(struct serve_outbound *out)
{
	for (size_t i = 0; out->relay_domains && out->relay_domains[i]; i++)
		free(out->relay_domains[i]);
	free(out->relay_domains);
	free(out->relay_host);
	free(out->policies);
}

/* serve_accept - listeners are bound before the server exists (root first,
 * then the rest as the unprivileged user); forward accepted sockets to it */
static void serve_accept(void *ctx, const struct config_listener *listener, int fd,
			 const struct sockaddr *sa, socklen_t salen)
{
	struct serve_state *st = ctx;
	if (listener->role == LISTENER_ROLE_IMAP || listener->role == LISTENER_ROLE_IMAPS)
		imap_server_accept(st->imap, listener, fd, sa, salen);
	else if (listener->role == LISTENER_ROLE_POP3 || listener->role == LISTENER_ROLE_POP3S)
		pop3_server_accept(st->pop3, listener, fd, sa, salen);
	else if (listener->role == LISTENER_ROLE_HTTP || listener->role == LISTENER_ROLE_HTTPS)
		http_server_accept(st->http, listener, fd, sa, salen);
	else
		smtp_server_accept(st->server, listener, fd, sa, salen);
}

/* malloc_option - glibc's mallopt(PARAM, VALUE), a refusal logged (but in
 * a sanitizer build, whose allocator replaces glibc's and refuses them all:
 * nothing to say, and these lines come before the log thread, written
 * directly, where a syslog nobody reads would hold the start) */
static void malloc_option(int param, const char *name, size_t value)
{
	bool set = value <= INT_MAX && mallopt(param, (int)value) == 1;
#ifdef PETREL_SANITIZER
	(void)set;
	(void)name;
#else
	if (!set)
		log_warn("malloc-option", "error=\"mallopt refused %s=%zu\"", name, value);
#endif
}

/* serve_malloc_setup - at most [server] malloc_arenas glibc arenas in this
 * process (each role calls it): every thread that allocates gets an arena
 * of its own up to glibc's limit (8 per core), and each keeps its peak;
 * what large work freed is given back after it ([server]
 * malloc_trim_messages, util/heap); large arrays in huge pages ([server]
 * huge_pages_from); allocations of [server] malloc_mmap_from or more in
 * mappings of their own, and a pool's free top beyond that given back at
 * once.  glibc's own threshold slides up to the largest mapped allocation
 * freed (the lists of a large folder's first load: 4 MiB), and the free
 * top of a worker's pool stayed resident up to twice that: 2 to 4 MiB of
 * the network process after a FETCH over 100,000 messages */
static void serve_malloc_setup(const struct config *config)
{
	heap_trim_setup(config->malloc_trim_messages);
	heap_big_setup(config->huge_pages_from);
	if (config->malloc_arenas != 0)
		malloc_option(M_ARENA_MAX, "M_ARENA_MAX", config->malloc_arenas);
	if (config->malloc_mmap_from != 0) {
		malloc_option(M_MMAP_THRESHOLD, "M_MMAP_THRESHOLD", config->malloc_mmap_from);
		malloc_option(M_TRIM_THRESHOLD, "M_TRIM_THRESHOLD", config->malloc_mmap_from);
	}
}

int cmd_serve(int argc, char **argv)
{
	const char *file;
	enum privsep_role role;
	if (serve_parse_args(argc, argv, &file, &role) != 0)
		return 2;
	const char *error = NULL;
	struct config *config = config_load(file, &error);
	if (!config) {
		fprintf(stderr, "petrel: %s\n", error);
		return 2;
	}
	int level = log_level_parse(config->log_level);
	log_init("petrel", level < 0 ? LOG_LEVEL_INFO : (enum log_level)level, config->syslog);
	serve_malloc_setup(config);
	int rc = 1;
	pid_t supervisor;
	if (role != PRIVSEP_SUPERVISOR && privsep_supervisor_pid(&supervisor) != 0) {
		fprintf(stderr, "petrel: --process %s: not started by petrel serve (%s is not "
			"set)\n", privsep_role_name(role), PRIVSEP_SUPERVISOR_ENV);
		config_free(&config);
		return 2;
	}
	switch (role) {
	case PRIVSEP_SUPERVISOR:
		rc = serve_supervisor(config, file);
		break;
	case PRIVSEP_NETWORK:
		/* the credentials' URL may carry the auth role's password: the
		 * process that parses client input does not keep it */
		explicit_bzero(config->store.credentials_url, strlen(config->store.credentials_url));
		rc = serve_network(config);
		break;
	case PRIVSEP_AUTH:
		/* each helper drops its privileges and starts its log thread
		 * itself, once it has opened what it needs */
		rc = authd_main(config, PRIVSEP_FD_CHANNEL);
		break;
	case PRIVSEP_KEYS:
		rc = keysd_main(config, PRIVSEP_FD_CHANNEL);
		break;
	}
	config_free(&config);
	return rc;
}

/* serve_load_settings - what the configuration names beyond its own syntax:
 * the outbound settings ([delivery], [tls-policy], [relay]), the Public
 * Suffix List ([auth]) and the [tls] files; a failure is a setting to fix
 * (the caller exits 2).  The supervisor checks them before anything is
 * touched, the network process loads them again for itself. */
static int serve_load_settings(const struct config *config, struct serve_outbound *outbound,
			       SSL_CTX **tls_r)
{
	const char *error = NULL;
	if (serve_outbound_setup(config, outbound, &error) != 0) {
		fprintf(stderr, "petrel: %s\n", error);
		return -1;
	}
	const char *seal_key = config->auth.arc_seal_key;
	if (seal_key[0] && !keysd_id_is_valid(seal_key, strlen(seal_key))) {
		fprintf(stderr, "petrel: %s:%d: [auth] arc_seal_key: '%.64s' is not a key id "
			"(letters, digits, '-', '_' and dots, as `petrel keys list` shows)\n",
			config->path, config_key_line(config, "auth", "arc_seal_key"), seal_key);
		return -1;
	}
	/* DMARC's organizational domains: the list must read (the network
	 * process loads it again for its mx listeners) */
	struct mailauth_psl *psl = cli_psl_load(config);
	if (!psl)
		return -1;
	mailauth_psl_free(&psl);
	if (config->tls_certificate) {
		*tls_r = net_tls_server_ctx(config->tls_certificate, config->tls_key, &error);
		if (!*tls_r) {
			fprintf(stderr, "petrel: %s:%d: [tls]: %s\n", config->path,
				config_key_line(config, "tls", "certificate"), error);
			return -1;
		}
	}
	return 0;
}

/* serve_unsubscribe_secret - the secret of one-click unsubscribe links
 * (http/unsubscribe.h): DATA_DIR/unsubscribe-secret, made at the first
 * start; on several nodes the same file on each (docs/security.md) */
static int serve_unsubscribe_secret(const struct config *config,
				    unsigned char secret[STORE_AUTH_SECRET_LEN])
{
	const char *error = NULL;
	char *path = xasprintf("%s/unsubscribe-secret", config->data_dir);
	int rc = store_secret_load(path, secret, &error);
	if (rc != 0)
		fprintf(stderr, "petrel: %s\n", error);
	free(path);
	return rc;
}

/* serve_srs_setup - [srs]: the secret (secret_file, or DATA_DIR/srs.secret
 * made at the first start) and the domain; nothing when disabled */
static int serve_srs_setup(const struct config *config, struct srs_settings *srs,
			   char **secret_r)
{
	if (!config->srs.enabled)
		return 0;
	const char *error = NULL;
	size_t len = 0;
	if (srs_secret_load(config->srs.secret_file, config->data_dir, secret_r, &len,
			    &error) != 0) {
		int line = config_key_line(config, "srs", "secret_file");
		if (line > 0)
			fprintf(stderr, "petrel: %s:%d: [srs] secret_file: %s\n", config->path, line,
				error);
		else
			fprintf(stderr, "petrel: [srs]: %s\n", error);
		return -1;
	}
	*srs = (struct srs_settings){
		.secret = *secret_r,
		.secret_len = len,
		.domain = config->srs.domain ? config->srs.domain : config->hostname,
		.max_age = config->srs.max_age,
	};
	log_info("srs", "domain=%s max_age=%u secret=%s", srs->domain, srs->max_age,
		 config->srs.secret_file ? config->srs.secret_file : "srs.secret");
	return 0;
}

/* The control socket's dmarc-report requests, answered when the run ends;
 * the reporter is freed before the control socket, so a late answer never
 * reaches a freed one. */
struct serve_report_glue {
	struct dmarc_reporter *reporter;
	struct queue_control *control;
};

struct serve_report_request {
	struct queue_control *control;
	uint64_t token;
};

static void serve_report_done(void *ctx, int status, const char *text)
{
	struct serve_report_request *req = ctx;
	queue_control_answer(req->control, req->token, status, text);
	free(req);
}

/* serve_report_request - "dmarc-report [YYYY-MM-DD]": that day (UTC), else
 * the day before today */
static void serve_report_request(void *ctx, const char *args, uint64_t token)
{
	struct serve_report_glue *glue = ctx;
	time_t begin;
	if (args[0] == '\0') {
		time_t now = time(NULL);
		begin = now - now % DMARC_REPORT_PERIOD - DMARC_REPORT_PERIOD;
	} else if (!dmarc_report_day_parse(args, &begin)) {
		queue_control_answer(glue->control, token, -1, "the day must be YYYY-MM-DD");
		return;
	}
	struct serve_report_request *req = xcalloc(1, sizeof(*req));
	req->control = glue->control;
	req->token = token;
	dmarc_reporter_run(glue->reporter, begin, serve_report_done, req);
}

/* serve_check - serve_supervisor's first step: the settings (2 when one
 * is to fix) */
static int serve_check(const struct config *config, const char *file, int lock_fd)
{
	struct serve_outbound outbound = { 0 };
	SSL_CTX *tls = NULL;
	(void)file;
	(void)lock_fd;
	int rc = serve_check_users(config) != 0 || serve_load_settings(config, &outbound, &tls) != 0
		 ? 2 : 0;
	serve_outbound_free(&outbound);
	if (tls)
		SSL_CTX_free(tls);
	return rc;
}

/* serve_prepare - serve_supervisor's step under the data folder's lock
 * (LOCK_FD): its folders and files as root (1 when one cannot be) */
static int serve_prepare(const struct config *config, const char *file, int lock_fd)
{
	if (serve_prepare_data_dir(config, lock_fd) != 0 || serve_prepare_auth(file) != 0 ||
	    serve_own_files(config) != 0)
		return 1;
	return 0;
}

/* serve_in_child - STEP run in a child process, waited for: what it
 * touches (OpenSSL's and SQLite's code and tables, the public suffix list,
 * the store) stays out of the supervisor, which only starts and waits for
 * processes (some 3 MiB of resident memory less for its whole life).  The
 * step's exit status: 0 when it succeeded */
static int serve_in_child(int (*step)(const struct config *, const char *, int),
			  const struct config *config, const char *file, int lock_fd)
{
	int status;
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "petrel: cannot start a process: %s\n", strerror(errno));
		return 1;
	}
	if (pid == 0) {
		int rc = step(config, file, lock_fd);
		fflush(NULL);
		_exit(rc);
	}
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			fprintf(stderr, "petrel: waitpid: %s\n", strerror(errno));
			return 1;
		}
	}
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	fprintf(stderr, "petrel: the start's checks ended by signal %d\n", WTERMSIG(status));
	return 1;
}

/* serve_supervisor - check everything the configuration says before
 * anything is touched (a bad setting exits 2 with FILE:LINE and no side
 * effect), lock and prepare the data folder as root, then run the
 * processes.  The checks and the preparation run in child processes
 * (serve_in_child).  Logs synchronously: no log thread across fork. */
static int serve_supervisor(const struct config *config, const char *file)
{
	int lock_fd = -1;
	int rc = serve_in_child(serve_check, config, file, -1);

	if (rc != 0)
		goto out;
	rc = 1;
	signal(SIGPIPE, SIG_IGN);
	/* the limit is inherited by the processes started from here */
	serve_raise_nofile();
	if (serve_make_data_dir(config) != 0 || serve_lock_data_dir(config, &lock_fd) != 0)
		goto out;
	if (serve_in_child(serve_prepare, config, file, lock_fd) != 0)
		goto out;
	rc = privsep_supervise(config, file, lock_fd);
out:
	/* the last thing: the folder is ours until every process is gone */
	if (lock_fd >= 0 && close(lock_fd) != 0)
		log_warn("close-failed", "what=petrel.lock error=\"%s\"", strerror(errno));
	if (rc == 0)
		log_info("stopped", "status=0");
	return rc;
}

/* serve_network - the network process: bind the listeners as root, drop
 * privileges, recover the queue and serve until SIGTERM.  The data folder's
 * lock is held through fd 6 (the supervisor's, dup'd). */
static int serve_network(const struct config *config)
{
	const char *error = NULL;
	/* from here on a slow or blocked stderr or syslog never stalls the loop */
	if (log_async_start(config->log_buffer) != 0)
		fputs("petrel: cannot start the log thread; logging directly\n", stderr);

	int rc = 2;
	struct serve_state st = { .config = config };
	SSL_CTX *tls = NULL;
	struct pool *pool = NULL;
	struct policy_quota quota = { 0 };
	struct queue *queue = NULL;
	struct queue_control *control = NULL;
	struct dmarc_reporter *reporter = NULL;
	struct mailauth_psl *psl = NULL;
	struct store *store = NULL;
	struct store_events *events = NULL;
	struct serve_node *node = NULL;
	struct dns_resolver *dns = NULL;
	struct delivery *delivery = NULL;
	struct ipc_client *auth_client = NULL, *keys_client = NULL;
	struct policy_throttle *throttle = NULL;
	struct authd_client *logins = NULL;
	struct keysd_signer *signer = NULL;
	struct http_webhook_dispatcher *webhook = NULL;
	SSL_CTX *client_tls = NULL;
	struct privsep_channels *channels = NULL;
	struct serve_outbound outbound = { 0 };
	struct event *sigterm = NULL;
	int lock_fd = PRIVSEP_FD_LOCK;
	struct srs_settings srs = { 0 };
	char *srs_secret = NULL;
	unsigned char unsubscribe_secret[STORE_AUTH_SECRET_LEN];
	bool has_unsubscribe_secret = false;

	/* the supervisor checked these; the file may have changed since */
	if (serve_load_settings(config, &outbound, &tls) != 0)
		goto out;
	rc = 1;
	signal(SIGPIPE, SIG_IGN);
	if (fcntl(lock_fd, F_SETFD, FD_CLOEXEC) != 0) {
		fprintf(stderr, "petrel: the data folder's lock (fd %d): %s\n", lock_fd,
			strerror(errno));
		lock_fd = -1;
		goto out;
	}
	st.base = event_base_new();
	if (!st.base) {
		fputs("petrel: cannot create the event loop\n", stderr);
		goto out;
	}
	unsigned helper_timeout_ms = config->auth.helper_timeout * 1000;
	auth_client = ipc_client_create(st.base, "auth", helper_timeout_ms);
	keys_client = ipc_client_create(st.base, "keys", helper_timeout_ms);
	channels = privsep_channels_open(st.base, auth_client, keys_client, &error);
	if (!channels) {
		fprintf(stderr, "petrel: %s\n", error);
		goto out;
	}
	st.listeners = net_listeners_open(st.base, config, serve_accept, &st, &error);
	if (!st.listeners) {
		fprintf(stderr, "petrel: %s\n", error);
		goto out;
	}
	/* read (or made) while still root: the file may be root's alone */
	if (serve_srs_setup(config, &srs, &srs_secret) != 0)
		goto out;
	if (serve_unsubscribe_secret(config, unsubscribe_secret) != 0)
		goto out;
	has_unsubscribe_secret = true;
	/* DMARC's organizational domains, for the mx listeners' checks and the
	 * aggregate reports: read as root, like the supervisor read it */
	psl = cli_psl_load(config);
	if (!psl)
		goto out;
	if (privsep_drop(config, PRIVSEP_NETWORK) != 0)
		goto out;
	struct store_settings store_settings;
	admin_store_settings(config, &store_settings);
	store = store_open_settings(&store_settings, &error);
	if (!store) {
		fprintf(stderr, "petrel: store: %s\n", error);
		goto out;
	}
	/* before anything makes a queue ID: they carry the node's number */
	node = serve_node_register(store, config, &error);
	if (!node) {
		fprintf(stderr, "petrel: [server] node: %s\n", error);
		goto out;
	}
	/* mailbox quotas: the account's plan, else [mailbox] quota_default */
	quota.store = store;
	quota.config = config;
	mailbox_quota_setup(policy_quota_limit_blocking, &quota);
	dns = cli_dns_create(st.base, config);
	if (dns == NULL)
		goto out;
	pool = pool_create(st.base, config->workers);
	queue = queue_create(st.base, pool, config, &error);
	if (!queue) {
		fprintf(stderr, "petrel: queue: %s\n", error);
		goto out;
	}
	struct store_events_settings events_settings = {
		.max_pending = config->events.max_pending,
		.retention = config->events.retention,
		.write_delay_ms = config->events.write_delay,
		.node = serve_node_name(node),
	};
	events = store_events_create(store, pool, st.base, &events_settings);
	queue_set_store(queue, store, events);
	/* one client context for outbound delivery and the event webhook:
	 * each context loads the whole system trust store (about 0.7 MiB of
	 * this process's heap), and neither changes the context after this */
	client_tls = delivery_tls_client_ctx();
	outbound.settings.tls_ctx = client_tls;
	delivery = delivery_create(st.base, dns, &outbound.settings);
	queue_set_delivery(queue, delivery);
	queue_start(queue);
	if (serve_node_start(node, st.base, pool, queue, config->node_report_interval) != 0)
		goto out;
	control = queue_control_open(st.base, queue, config->data_dir, &error);
	if (!control) {
		fprintf(stderr, "petrel: control socket: %s\n", error);
		goto out;
	}
	/* one per-address throttle for every listener and login: connection
	 * rate, AUTH failures, lockouts */
	struct policy_throttle_settings throttle_settings;
	policy_throttle_settings_load(config, &throttle_settings);
	throttle = policy_throttle_create(&throttle_settings);
	logins = authd_client_create(auth_client, throttle, store, pool, st.base);
	st.server = smtp_server_create(st.base, config, queue, tls, store, events, pool, throttle);
	/* AUTH asks the auth process; the control socket's `petrel keys`
	 * asks the keys process */
	smtp_server_set_auth_client(st.server, logins);
	smtp_server_set_keys_client(st.server, keys_client);
	if (srs_secret)
		smtp_server_set_srs(st.server, &srs);
	smtp_server_set_mailauth(st.server, dns, psl);
	queue_control_set_keys(control, keys_client);
	/* DKIM signing: workers hash, the keys process signs; one worker at
	 * least is never waiting for it (the queue's writes need one) */
	signer = keysd_signer_create(st.base, keys_client, helper_timeout_ms,
				     config->workers > 1 ? config->workers - 1 : 1);
	smtp_server_set_signer(st.server, signer);
	queue_set_signer(queue, serve_sign_notice, signer);
	/* DMARC aggregate reports: daily by setting, and `petrel dmarc report
	 * --send` over the control socket */
	reporter = dmarc_reporter_create(st.base, pool, store, queue, dns, psl, config);
	smtp_server_set_reporter(st.server, reporter);
	struct imap_server_settings imap_settings = {
		.config = config,
		.tls = tls,
		.store = store,
		.pool = pool,
		.limits = smtp_server_limits(st.server),
		.throttle = throttle,
		.auth = logins,
	};
	st.imap = imap_server_create(st.base, &imap_settings);
	struct pop3_server_settings pop3_settings = {
		.config = config,
		.tls = tls,
		.auth = logins,
		.pool = pool,
		.limits = smtp_server_limits(st.server),
		.throttle = throttle,
	};
	st.pop3 = pop3_server_create(st.base, &pop3_settings);
	/* the event webhook: this process has the store, the loop, the
	 * resolver and outbound connections (docs/http.md "Event webhook") */
	struct http_webhook_dispatcher_settings webhook_settings = {
		.config = config, .store = store, .pool = pool, .dns = dns, .tls = client_tls,
		.keys = keys_client,
	};
	webhook = http_webhook_dispatcher_create(st.base, &webhook_settings);
	struct http_server_settings http_settings = {
		.config = config,
		.tls = tls,
		.store = store,
		.pool = pool,
		.auth = logins,
		.limits = smtp_server_limits(st.server),
		.throttle = throttle,
		.metrics = serve_metrics,
		.metrics_ctx = &st,
		.queue = queue,
		.events = events,
		.signer = signer,
		.unsubscribe_secret = unsubscribe_secret,
		.webhook = webhook,
		.dns = dns,
		.psl = psl,
	};
	st.queue = queue;
	st.pool = pool;
	st.http = http_server_create(st.base, &http_settings);
	struct serve_report_glue glue = { .reporter = reporter, .control = control };
	queue_control_set_handler(control, "dmarc-report", serve_report_request, &glue);
	/* SIGTERM comes from the supervisor; SIGINT (a terminal's ^C reaches
	 * the whole process group) is ignored: the supervisor decides */
	sigterm = evsignal_new(st.base, SIGTERM, serve_signal_cb, &st);
	if (!sigterm || event_add(sigterm, NULL) != 0) {
		fputs("petrel: cannot install signal handlers\n", stderr);
		goto out;
	}
	log_info("started", "version=%s hostname=%s node=%s data_dir=%s listeners=%zu"
		 " workers=%u", PETREL_VERSION, config->hostname, serve_node_name(node),
		 config->data_dir, config->listener_count, config->workers);
	for (size_t i = 0; i < config->listener_count; i++)
		log_info("listening", "listener=%s role=%s address=%s%s", config->listeners[i].name,
			 listener_role_name(config->listeners[i].role), config->listeners[i].address,
			 config->listeners[i].role == LISTENER_ROLE_MX &&
			 !config->listeners[i].receiving_checks ? " receiving_checks=off" : "");

	if (event_base_dispatch(st.base) != 0) {
		fputs("petrel: event loop failed\n", stderr);
		goto out;
	}
	rc = 0;
out:
	/* Order matters: sessions go first (they answer 421), then the pool runs
	 * the answers of finished jobs, which may still reach the queue. */
	if (st.server) {
		net_listeners_disable(st.listeners);
		smtp_server_close_sessions(st.server);
	}
	if (st.imap)
		imap_server_close_sessions(st.imap);
	if (st.pop3)
		pop3_server_close_sessions(st.pop3);
	if (st.http)
		http_server_close_sessions(st.http);
	/* its posts end now, before the resolver goes */
	http_webhook_dispatcher_stop(webhook);
	if (st.server)
		smtp_server_set_reporter(st.server, NULL);
	dmarc_reporter_free(&reporter);
	queue_control_free(&control);
	/* Remote deliveries in flight end now (as temporary failures); their
	 * results are recorded by queue_stop. */
	delivery_free(&delivery);
	if (queue)
		queue_stop(queue);
	/* the queue has stopped: its size is final (blocking; the loop is done) */
	serve_node_stop(node);
	dns_resolver_free(&dns);
	/* workers waiting for a signature give up now, not at their timeout */
	keysd_signer_stop(signer);
	pool_free(&pool);
	keysd_signer_free(&signer);
	http_webhook_dispatcher_free(&webhook);
	if (client_tls)
		SSL_CTX_free(client_tls);
	queue_free(&queue);
	imap_server_free(&st.imap);
	pop3_server_free(&st.pop3);
	http_server_free(&st.http);
	smtp_server_free(&st.server);
	authd_client_free(&logins);
	policy_throttle_free(&throttle);
	mailauth_psl_free(&psl);
	store_events_free(&events);
	serve_node_free(&node);
	mailbox_quota_setup(NULL, NULL);
	store_close(&store);
	serve_outbound_free(&outbound);
	if (srs_secret) {
		OPENSSL_cleanse(srs_secret, srs.secret_len);
		free(srs_secret);
	}
	if (has_unsubscribe_secret)
		OPENSSL_cleanse(unsubscribe_secret, sizeof(unsubscribe_secret));
	if (sigterm)
		event_free(sigterm);
	/* freeing the event gave SIGTERM back its default action: a second
	 * SIGTERM from the supervisor (petrel serve signalled again) must not
	 * kill a process that is already finishing, with exit status "signal" */
	signal(SIGTERM, SIG_IGN);
	privsep_channels_free(&channels);
	ipc_client_free(&auth_client);
	ipc_client_free(&keys_client);
	net_listeners_free(&st.listeners);
	/* bufferevents with TLS finish freeing themselves on the loop's next
	 * pass (libevent defers it): give it that pass before the base goes */
	if (st.base) {
		event_base_loop(st.base, EVLOOP_NONBLOCK);
		event_base_free(st.base);
	}
	if (tls)
		SSL_CTX_free(tls);
	/* the last thing: the folder is ours until everything in it is closed */
	if (lock_fd >= 0 && close(lock_fd) != 0)
		log_warn("close-failed", "what=petrel.lock error=\"%s\"", strerror(errno));
	if (rc == 0)
		log_info("stopped", "process=network status=0");
	/* a stderr nobody reads must not keep the process from ending */
	(void)log_async_stop(2000);
	return rc;
}
