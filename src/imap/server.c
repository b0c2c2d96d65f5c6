/* imap/server - accepts IMAP connections (listeners of role imap and imaps)
 * under the connection limits and throttle the SMTP server shares, and
 * keeps the table of open sessions by id. */
#include "imap/session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "config/config.h"
#include "net/net.h"
#include "policy/policy.h"
#include "util/log.h"
#include "util/xalloc.h"

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
	server->sessions = net_sessions_create(base, IMAP_SESSION_BUCKETS, &imap_session_table_ops);
	return server;
}

void imap_server_accept(void *ctx, const struct config_listener *listener, int fd,
			const struct sockaddr *sa, socklen_t salen)
{
	struct imap_server *server = ctx;
	enum policy_admission admission = policy_connection_admit(server->throttle, server->limits,
								   server->sessions, sa);
	if (admission != POLICY_ADMITTED) {
		/* RFC 9051 7.1.5: BYE instead of a greeting */
		char line[200];
		snprintf(line, sizeof(line), "* BYE %s\r\n", policy_admission_text(admission));
		net_refuse(fd, sa, listener, line, policy_admission_reason(admission));
		return;
	}
	imap_session_start(server, listener, fd, sa, salen);
}

size_t imap_server_session_count(const struct imap_server *server)
{
	return net_sessions_count(server->sessions);
}

const struct net_session_stats *imap_server_session_stats(const struct imap_server *server)
{
	return net_sessions_stats(server->sessions);
}

struct imap_session *imap_server_session_find(struct imap_server *server, uint64_t id)
{
	return net_sessions_find(server->sessions, id);
}

void imap_server_drain(struct imap_server *server, void (*drained)(void *ctx), void *ctx)
{
	net_sessions_drain(server->sessions, drained, ctx);
}

void imap_server_close_sessions(struct imap_server *server)
{
	net_sessions_close(server->sessions);
}

void imap_server_free(struct imap_server **serverp)
{
	struct imap_server *server = *serverp;
	if (!server)
		return;
	net_sessions_free(&server->sessions);
	imap_idle_hub_free(&server->idle_hub);
	free(server);
	*serverp = NULL;
}
