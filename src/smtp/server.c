/* smtp/server - accepts connections, enforces connection limits, and keeps
 * the table of open sessions by id. */
#include "smtp/session.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "config/config.h"
#include "net/net.h"
#include "policy/policy.h"
#include "util/log.h"
#include "util/xalloc.h"

static void server_refuse(struct smtp_server *server, int fd, const char *client,
			  const char *text, const char *reason);
static void server_reaper_cb(evutil_socket_t fd, short what, void *arg);
static void server_drained_cb(evutil_socket_t fd, short what, void *arg);

/* server_drained_cb - the last session of a drain is gone */
static void server_drained_cb(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_server *server = arg;
	(void)fd;
	(void)what;
	if (server->drained)
		server->drained(server->drained_ctx);
}

static void server_reaper_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	smtp_session_free_dead(arg);
}

struct smtp_server *smtp_server_create(struct event_base *base, const struct config *config,
				       struct queue *queue, SSL_CTX *tls, struct store *store,
				       struct store_events *events, struct pool *pool,
				       struct policy_throttle *throttle)
{
	struct smtp_server *server = xcalloc(1, sizeof(*server));
	server->base = base;
	server->config = config;
	server->queue = queue;
	server->tls = tls;
	server->limits = net_conn_limits_create(config->limits.connections,
						config->limits.connections_per_ip);
	server->store = store;
	server->events = events;
	server->pool = pool;
	server->throttle = throttle;
	server->next_id = 1;
	server->reaper = event_new(base, -1, 0, server_reaper_cb, server);
	server->drained_ev = event_new(base, -1, 0, server_drained_cb, server);
	if (!server->reaper || !server->drained_ev)
		abort();
	return server;
}

void smtp_server_set_auth_client(struct smtp_server *server, struct authd_client *client)
{
	server->auth = client;
}

void smtp_server_set_mailauth(struct smtp_server *server, struct dns_resolver *dns,
			      const struct mailauth_psl *psl)
{
	server->dns = dns;
	server->psl = psl;
}

void smtp_server_set_reporter(struct smtp_server *server, struct dmarc_reporter *reporter)
{
	server->reporter = reporter;
}

void smtp_server_set_signer(struct smtp_server *server, struct keysd_signer *signer)
{
	server->signer = signer;
}

/* server_refuse - RFC 5321 3.1: a server may answer 421 and close at once */
static void server_refuse(struct smtp_server *server, int fd, const char *client,
			  const char *text, const char *reason)
{
	char line[320];
	int n = snprintf(line, sizeof(line), "421 4.7.0 %s %s\r\n", server->config->hostname,
			 text);
	/* Best effort on a fresh non-blocking socket; the close is what matters. */
	ssize_t w = write(fd, line, (size_t)n);
	(void)w;
	if (close(fd) != 0)
		log_warn("close-failed", "client=%s error=\"%s\"", client, strerror(errno));
	log_info("refused", "client=%s reason=%s", client, reason);
}

void smtp_server_accept(void *ctx, const struct config_listener *listener, int fd,
			const struct sockaddr *sa, socklen_t salen)
{
	struct smtp_server *server = ctx;
	char client[64];
	time_t now = time(NULL), until;
	if (policy_throttle_is_locked(server->throttle, sa, now, &until)) {
		net_address_format(sa, client, sizeof(client));
		server_refuse(server, fd, client, "Too many authentication failures, try again later",
			      "auth-lockout");
		return;
	}
	/* local users on the sendmail socket share no address to throttle */
	if (sa->sa_family != AF_UNIX && !policy_throttle_connect(server->throttle, sa, now)) {
		net_address_format(sa, client, sizeof(client));
		server_refuse(server, fd, client, "Too many connections too fast, slow down",
			      "connection-rate");
		return;
	}
	if (!net_conn_limits_acquire(server->limits, sa)) {
		net_address_format(sa, client, sizeof(client));
		server_refuse(server, fd, client, "Too many connections, try again later",
			      "too-many-connections");
		return;
	}
	smtp_session_start(server, listener, fd, sa, salen);
}

struct net_conn_limits *smtp_server_limits(struct smtp_server *server)
{
	return server->limits;
}

size_t smtp_server_session_count(const struct smtp_server *server)
{
	return server->session_count;
}

void smtp_server_session_add(struct smtp_server *server, struct smtp_session *session)
{
	struct smtp_session **head = &server->sessions[smtp_session_id(session) % SMTP_SESSION_BUCKETS];
	*smtp_session_next_link(session) = *head;
	*head = session;
	server->session_count++;
}

void smtp_server_session_remove(struct smtp_server *server, struct smtp_session *session)
{
	struct smtp_session **link = &server->sessions[smtp_session_id(session) % SMTP_SESSION_BUCKETS];
	while (*link && *link != session)
		link = smtp_session_next_link(*link);
	if (!*link)
		return;
	*link = *smtp_session_next_link(session);
	server->session_count--;
	if (server->draining && server->session_count == 0)
		event_active(server->drained_ev, EV_TIMEOUT, 0);
}

struct smtp_session *smtp_server_session_find(struct smtp_server *server, uint64_t id)
{
	struct smtp_session *s = server->sessions[id % SMTP_SESSION_BUCKETS];
	while (s && smtp_session_id(s) != id)
		s = *smtp_session_next_link(s);
	return s;
}

void smtp_server_drain(struct smtp_server *server, void (*drained)(void *ctx), void *ctx)
{
	server->draining = true;
	server->drained = drained;
	server->drained_ctx = ctx;
	/* A session may leave the table while it is drained: take the ids
	 * first, then find each one. */
	size_t n = server->session_count, k = 0;
	uint64_t *ids = xcalloc(n ? n : 1, sizeof(*ids));
	for (unsigned i = 0; i < SMTP_SESSION_BUCKETS; i++)
		for (struct smtp_session *s = server->sessions[i]; s && k < n;
		     s = *smtp_session_next_link(s))
			ids[k++] = smtp_session_id(s);
	for (size_t i = 0; i < k; i++) {
		struct smtp_session *s = smtp_server_session_find(server, ids[i]);
		if (s)
			smtp_session_drain(s);
	}
	free(ids);
	if (server->session_count == 0)
		event_active(server->drained_ev, EV_TIMEOUT, 0);
}

void smtp_server_close_sessions(struct smtp_server *server)
{
	for (unsigned i = 0; i < SMTP_SESSION_BUCKETS; i++) {
		while (server->sessions[i])
			smtp_session_shutdown(server->sessions[i]);
	}
	smtp_session_free_dead(server);
}

void smtp_server_free(struct smtp_server **serverp)
{
	struct smtp_server *server = *serverp;
	if (!server)
		return;
	smtp_server_close_sessions(server);
	event_free(server->reaper);
	event_free(server->drained_ev);
	smtp_verifier_free(server);
	net_conn_limits_free(&server->limits);
	free(server);
	*serverp = NULL;
}
