/* imap/server - accepts IMAP connections (listeners of role imap and imaps)
 * under the connection limits and throttle the SMTP server shares, and
 * keeps the table of open sessions by id. */
#include "imap/session.h"

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

static void server_refuse(struct imap_server *server, int fd, const struct sockaddr *sa,
			  const struct config_listener *listener, const char *text,
			  const char *reason);
static void server_reaper_cb(evutil_socket_t fd, short what, void *arg);
static void server_drained_cb(evutil_socket_t fd, short what, void *arg);

static void server_reaper_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	imap_session_free_dead(arg);
}

/* server_drained_cb - the last session of a drain is gone */
static void server_drained_cb(evutil_socket_t fd, short what, void *arg)
{
	struct imap_server *server = arg;
	(void)fd;
	(void)what;
	if (server->drained)
		server->drained(server->drained_ctx);
}

struct imap_server *imap_server_create(struct event_base *base,
				       const struct imap_server_settings *settings)
{
	struct imap_server *server = xcalloc(1, sizeof(*server));
	server->base = base;
	server->config = settings->config;
	server->tls = settings->tls;
	server->store = settings->store;
	server->pool = settings->pool;
	server->auth = settings->auth;
	server->limits = settings->limits;
	server->throttle = settings->throttle;
	server->next_id = 1;
	server->reaper = event_new(base, -1, 0, server_reaper_cb, server);
	server->drained_ev = event_new(base, -1, 0, server_drained_cb, server);
	if (!server->reaper || !server->drained_ev)
		abort();
	return server;
}

/* server_refuse - RFC 9051 7.1.5: a server may send BYE instead of a
 * greeting and close.  On imaps nothing can be said before TLS: just close. */
static void server_refuse(struct imap_server *server, int fd, const struct sockaddr *sa,
			  const struct config_listener *listener, const char *text,
			  const char *reason)
{
	char client[64];
	net_address_format(sa, client, sizeof(client));
	if (listener->role != LISTENER_ROLE_IMAPS) {
		char line[200];
		int n = snprintf(line, sizeof(line), "* BYE %s\r\n", text);
		/* best effort on a fresh non-blocking socket; the close is what matters */
		ssize_t w = write(fd, line, (size_t)n);
		(void)w;
	}
	if (close(fd) != 0)
		log_warn("close-failed", "client=%s error=\"%s\"", client, strerror(errno));
	log_info("refused", "client=%s listener=%s reason=%s", client, listener->name, reason);
	(void)server;
}

void imap_server_accept(void *ctx, const struct config_listener *listener, int fd,
			const struct sockaddr *sa, socklen_t salen)
{
	struct imap_server *server = ctx;
	time_t now = time(NULL), until;
	if (server->draining) {
		server_refuse(server, fd, sa, listener, "Server shutting down", "shutdown");
		return;
	}
	if (server->throttle && policy_throttle_is_locked(server->throttle, sa, now, &until)) {
		server_refuse(server, fd, sa, listener,
			      "Too many authentication failures, try again later", "auth-lockout");
		return;
	}
	if (server->throttle && !policy_throttle_connect(server->throttle, sa, now)) {
		server_refuse(server, fd, sa, listener, "Too many connections too fast, slow down",
			      "connection-rate");
		return;
	}
	if (!net_conn_limits_acquire(server->limits, sa)) {
		server_refuse(server, fd, sa, listener, "Too many connections, try again later",
			      "too-many-connections");
		return;
	}
	imap_session_start(server, listener, fd, sa, salen);
}

size_t imap_server_session_count(const struct imap_server *server)
{
	return server->session_count;
}

void imap_server_session_add(struct imap_server *server, struct imap_session *s)
{
	struct imap_session **head = &server->sessions[s->id % IMAP_SESSION_BUCKETS];
	s->next = *head;
	*head = s;
	server->session_count++;
}

struct imap_session *imap_server_session_find(struct imap_server *server, uint64_t id)
{
	struct imap_session *s = server->sessions[id % IMAP_SESSION_BUCKETS];
	while (s && s->id != id)
		s = s->next;
	return s;
}

void imap_server_session_remove(struct imap_server *server, struct imap_session *s)
{
	struct imap_session **link = &server->sessions[s->id % IMAP_SESSION_BUCKETS];
	while (*link && *link != s)
		link = &(*link)->next;
	if (!*link)
		return;
	*link = s->next;
	s->next = NULL;
	server->session_count--;
	if (server->draining && server->session_count == 0)
		event_active(server->drained_ev, EV_TIMEOUT, 0);
}

void imap_server_drain(struct imap_server *server, void (*drained)(void *ctx), void *ctx)
{
	server->draining = true;
	server->drained = drained;
	server->drained_ctx = ctx;
	/* a session may leave the table while it is drained: collect first */
	size_t n = server->session_count, k = 0;
	struct imap_session **list = xcalloc(n ? n : 1, sizeof(*list));
	for (unsigned i = 0; i < IMAP_SESSION_BUCKETS; i++)
		for (struct imap_session *s = server->sessions[i]; s && k < n; s = s->next)
			list[k++] = s;
	for (size_t i = 0; i < k; i++)
		imap_session_drain(list[i]);
	free(list);
	if (server->session_count == 0)
		event_active(server->drained_ev, EV_TIMEOUT, 0);
}

void imap_server_close_sessions(struct imap_server *server)
{
	for (unsigned i = 0; i < IMAP_SESSION_BUCKETS; i++)
		while (server->sessions[i])
			imap_session_shutdown(server->sessions[i]);
	imap_session_free_dead(server);
}

void imap_server_free(struct imap_server **serverp)
{
	struct imap_server *server = *serverp;
	if (!server)
		return;
	imap_server_close_sessions(server);
	imap_idle_hub_free(&server->idle_hub);
	event_free(server->reaper);
	event_free(server->drained_ev);
	free(server);
	*serverp = NULL;
}
