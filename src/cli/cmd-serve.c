/* cli/cmd-serve - petrel serve: load the configuration, lock the data folder
 * (before anything in it is touched), bind the listeners,
 * drop privileges, recover the queue and run the event loop until SIGTERM or
 * SIGINT. */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/crypto.h>

#include "cli/cli.h"
#include "config/config.h"
#include "net/net.h"
#include "queue/control.h"
#include "queue/queue.h"
#include "smtp/smtp.h"
#include "delivery/delivery.h"
#include "dns/dns.h"
#include "util/xalloc.h"
#include "store/store.h"
#include "util/log.h"
#include "util/pool.h"

struct serve_state {
	struct event_base *base;
	struct net_listeners *listeners;
	struct smtp_server *server;
	const struct config *config;
	bool draining;
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

static int serve_parse_args(int argc, char **argv, const char **file_r);
static void serve_raise_nofile(void);
static int serve_prepare_data_dir(const struct config *config);
static int serve_check_user(const struct config *config);
static int serve_lock_data_dir(const struct config *config, int *fd_r);
static int serve_drop_privileges(const struct config *config, int lock_fd);
static void serve_signal_cb(evutil_socket_t sig, short what, void *arg);
static void serve_drained(void *ctx);
static enum delivery_tls serve_tls_policy(const char *name);
static int serve_outbound_setup(const struct config *config, struct serve_outbound *out,
				const char **error_r);
static void serve_outbound_free(struct serve_outbound *out);

static int serve_parse_args(int argc, char **argv, const char **file_r)
{
	*file_r = CLI_DEFAULT_CONFIG;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
			*file_r = argv[++i];
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

/* serve_prepare_data_dir - create the data folder (0750) if missing */
static int serve_prepare_data_dir(const struct config *config)
{
	if (mkdir(config->data_dir, 0750) != 0 && errno != EEXIST) {
		fprintf(stderr, "petrel: cannot create data folder %s: %s\n", config->data_dir,
			strerror(errno));
		return -1;
	}
	return 0;
}

/* serve_check_user - before any work: started as root, [server] user must
 * say who to become (an empty value would silently keep root; "root" keeps
 * it on purpose), and that user must exist */
static int serve_check_user(const struct config *config)
{
	int line = config_key_line(config, "server", "user");

	if (geteuid() != 0)
		return 0;
	if (config->user[0] == '\0') {
		fprintf(stderr, "petrel: %s:%d: 'user' is empty and petrel was started as root, "
			"so it would keep running as root: set 'user = root' to mean that, or "
			"name an unprivileged user (such as petrel)\n", config->path, line);
		return -1;
	}
	errno = 0;
	if (getpwnam(config->user) == NULL) {
		if (line != 0)
			fprintf(stderr, "petrel: %s:%d: 'user': no user named '%s' (%s)\n",
				config->path, line, config->user,
				errno != 0 ? strerror(errno) : "not in the user database");
		else
			fprintf(stderr, "petrel: %s: no user named '%s' (the default of "
				"[server] user): create it or set 'user'\n", config->path,
				config->user);
		return -1;
	}
	return 0;
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

/* serve_drop_privileges - DESIGN: bind and read keys as root, then run as
 * USER; the data folder and its lock file become USER's */
static int serve_drop_privileges(const struct config *config, int lock_fd)
{
	if (config->user[0] == '\0') /* not root: serve_check_user */
		return 0;
	if (geteuid() != 0) {
		log_warn("privileges", "user=%s reason=\"not root; running as the current user\"",
			 config->user);
		return 0;
	}
	struct passwd *pw = getpwnam(config->user);
	if (!pw) {
		fprintf(stderr, "petrel: user '%s' (server.user) does not exist\n", config->user);
		return -1;
	}
	if (pw->pw_uid == 0) {
		log_warn("privileges", "user=%s uid=0 reason=\"user = root: no privilege drop\"",
			 config->user);
		return 0;
	}
	if (chown(config->data_dir, pw->pw_uid, pw->pw_gid) != 0 ||
	    fchown(lock_fd, pw->pw_uid, pw->pw_gid) != 0 || setgroups(1, &pw->pw_gid) != 0 ||
	    setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0) {
		fprintf(stderr, "petrel: cannot drop privileges to %s: %s\n", config->user,
			strerror(errno));
		return -1;
	}
	log_info("privileges", "user=%s uid=%u", config->user, (unsigned)pw->pw_uid);
	return 0;
}

/* serve_signal_cb - SIGTERM/SIGINT: stop accepting, give every session its
 * 421 and an orderly close (answers of messages being stored first), and
 * leave the loop when none is left or after timeouts.shutdown seconds; a
 * second signal leaves at once */
static void serve_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct serve_state *st = arg;
	(void)what;
	log_info("shutdown", "signal=%d sessions=%zu", (int)sig,
		 smtp_server_session_count(st->server));
	net_listeners_disable(st->listeners);
	if (st->draining) {
		event_base_loopexit(st->base, NULL);
		return;
	}
	st->draining = true;
	struct timeval grace = { .tv_sec = st->config->timeouts.shutdown, .tv_usec = 0 };
	event_base_loopexit(st->base, &grace);
	smtp_server_drain(st->server, serve_drained, st);
}

/* serve_drained - the last session of the shutdown is closed */
static void serve_drained(void *ctx)
{
	struct serve_state *st = ctx;
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
	smtp_server_accept(st->server, listener, fd, sa, salen);
}

int cmd_serve(int argc, char **argv)
{
	const char *file;
	if (serve_parse_args(argc, argv, &file) != 0)
		return 2;
	const char *error = NULL;
	struct config *config = config_load(file, &error);
	if (!config) {
		fprintf(stderr, "petrel: %s\n", error);
		return 2;
	}
	int level = log_level_parse(config->log_level);
	log_init("petrel", level < 0 ? LOG_LEVEL_INFO : (enum log_level)level, config->syslog);
	/* from here on a slow or blocked stderr or syslog never stalls the loop */
	if (log_async_start(config->log_buffer) != 0)
		fputs("petrel: cannot start the log thread; logging directly\n", stderr);

	int rc = 2;
	struct serve_state st = { .config = config };
	SSL_CTX *tls = NULL;
	struct pool *pool = NULL;
	struct queue *queue = NULL;
	struct queue_control *control = NULL;
	struct store *store = NULL;
	struct store_credentials *credentials = NULL;
	struct store_events *events = NULL;
	struct dns_resolver *dns = NULL;
	struct delivery *delivery = NULL;
	struct serve_outbound outbound = { 0 };
	struct event *sigterm = NULL, *sigint = NULL;
	unsigned char auth_secret[STORE_AUTH_SECRET_LEN];
	int lock_fd = -1;

	/* Everything the configuration says is checked before anything is
	 * touched: a bad setting exits 2 with FILE:LINE and no side effect. */
	if (serve_check_user(config) != 0)
		goto out;
	if (serve_outbound_setup(config, &outbound, &error) != 0) {
		fprintf(stderr, "petrel: %s\n", error);
		goto out;
	}
	/* [tls] names files: one that cannot be loaded is a setting to fix */
	if (config->tls_certificate) {
		tls = net_tls_server_ctx(config->tls_certificate, config->tls_key, &error);
		if (!tls) {
			fprintf(stderr, "petrel: %s:%d: [tls]: %s\n", config->path,
				config_key_line(config, "tls", "certificate"), error);
			goto out;
		}
	}
	rc = 1;
	signal(SIGPIPE, SIG_IGN);
	serve_raise_nofile();
	if (serve_prepare_data_dir(config) != 0 || serve_lock_data_dir(config, &lock_fd) != 0)
		goto out;
	st.base = event_base_new();
	if (!st.base) {
		fputs("petrel: cannot create the event loop\n", stderr);
		goto out;
	}
	st.listeners = net_listeners_open(st.base, config, serve_accept, &st, &error);
	if (!st.listeners) {
		fprintf(stderr, "petrel: %s\n", error);
		goto out;
	}
	if (serve_drop_privileges(config, lock_fd) != 0)
		goto out;

	store = store_open(config->data_dir, &error);
	if (!store) {
		fprintf(stderr, "petrel: store: %s\n", error);
		goto out;
	}
	credentials = store_credentials_open(config->data_dir, &error);
	if (!credentials || store_credentials_migrate(store, credentials, &error) != 0) {
		fprintf(stderr, "petrel: credentials: %s\n", error);
		goto out;
	}
	if (store_auth_secret_load(config->data_dir, auth_secret, &error) != 0) {
		fprintf(stderr, "petrel: %s\n", error);
		goto out;
	}
	struct dns_settings dns_settings = {
		.forwarder = config->dns.resolver[0] ? config->dns.resolver : NULL,
		.special_zones = config->dns.special_zones[0] ? config->dns.special_zones : NULL,
		.timeout_ms = config->dns.timeout * 1000,
	};
	dns = dns_resolver_create(st.base, &dns_settings, &error);
	if (!dns) {
		fprintf(stderr, "petrel: dns: %s\n", error);
		goto out;
	}
	pool = pool_create(st.base, config->workers);
	queue = queue_create(st.base, pool, config, &error);
	if (!queue) {
		fprintf(stderr, "petrel: queue: %s\n", error);
		goto out;
	}
	struct store_events_settings events_settings = {
		.max_pending = config->events.max_pending,
		.retention = config->events.retention,
	};
	events = store_events_create(store, pool, st.base, &events_settings);
	queue_set_store(queue, store, events);
	delivery = delivery_create(st.base, dns, &outbound.settings);
	queue_set_delivery(queue, delivery);
	queue_start(queue);
	control = queue_control_open(st.base, queue, config->data_dir, &error);
	if (!control) {
		fprintf(stderr, "petrel: control socket: %s\n", error);
		goto out;
	}
	st.server = smtp_server_create(st.base, config, queue, tls, store, events, pool);
	smtp_server_set_auth_secret(st.server, auth_secret);
	smtp_server_set_credentials(st.server, credentials);
	OPENSSL_cleanse(auth_secret, sizeof(auth_secret));
	sigterm = evsignal_new(st.base, SIGTERM, serve_signal_cb, &st);
	sigint = evsignal_new(st.base, SIGINT, serve_signal_cb, &st);
	if (!sigterm || !sigint || event_add(sigterm, NULL) != 0 || event_add(sigint, NULL) != 0) {
		fputs("petrel: cannot install signal handlers\n", stderr);
		goto out;
	}
	log_info("started", "version=%s hostname=%s data_dir=%s listeners=%zu workers=%u",
		 PETREL_VERSION, config->hostname, config->data_dir, config->listener_count,
		 config->workers);
	for (size_t i = 0; i < config->listener_count; i++)
		log_info("listening", "listener=%s role=%s address=%s", config->listeners[i].name,
			 listener_role_name(config->listeners[i].role), config->listeners[i].address);

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
	queue_control_free(&control);
	/* Remote deliveries in flight end now (as temporary failures); their
	 * results are recorded by queue_stop. */
	delivery_free(&delivery);
	if (queue)
		queue_stop(queue);
	dns_resolver_free(&dns);
	pool_free(&pool);
	queue_free(&queue);
	smtp_server_free(&st.server);
	store_events_free(&events);
	store_credentials_close(&credentials);
	store_close(&store);
	serve_outbound_free(&outbound);
	if (sigterm)
		event_free(sigterm);
	if (sigint)
		event_free(sigint);
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
		log_info("stopped", "status=0");
	/* a stderr nobody reads must not keep the process from ending */
	(void)log_async_stop(2000);
	config_free(&config);
	return rc;
}
