/* pop3/server - accepts POP3 connections (listeners of role pop3 and
 * pop3s) under the connection limits and throttle the other servers share,
 * and keeps the table of open sessions. */
#include "pop3/session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "config/config.h"
#include "net/net.h"
#include "policy/policy.h"
#include "util/log.h"
#include "util/xalloc.h"

struct pop3_server *pop3_server_create(struct event_base *base,
				       const struct pop3_server_settings *settings)
{
	struct pop3_server *server = xcalloc(1, sizeof(*server));
	server->base = base;
	server->config = settings->config;
	server->tls = settings->tls;
	server->auth = settings->auth;
	server->pool = settings->pool;
	server->limits = settings->limits;
	server->throttle = settings->throttle;
	server->sessions = net_sessions_create(base, POP3_SESSION_BUCKETS, &pop3_session_table_ops);
	return server;
}

void pop3_server_accept(void *ctx, const struct config_listener *listener, int fd,
			const struct sockaddr *sa, socklen_t salen)
{
	struct pop3_server *server = ctx;
	enum policy_admission admission = policy_connection_admit(server->throttle, server->limits,
								   server->sessions, sa);
	if (admission != POLICY_ADMITTED) {
		/* "-ERR" instead of a greeting */
		char line[200];
		snprintf(line, sizeof(line), "-ERR [SYS/TEMP] %s\r\n",
			 policy_admission_text(admission));
		net_refuse(fd, sa, listener, line, policy_admission_reason(admission));
		return;
	}
	pop3_session_start(server, listener, fd, sa, salen);
}

size_t pop3_server_session_count(const struct pop3_server *server)
{
	return net_sessions_count(server->sessions);
}

const struct net_session_stats *pop3_server_session_stats(const struct pop3_server *server)
{
	return net_sessions_stats(server->sessions);
}

void pop3_server_drain(struct pop3_server *server, void (*drained)(void *ctx), void *ctx)
{
	net_sessions_drain(server->sessions, drained, ctx);
}

void pop3_server_close_sessions(struct pop3_server *server)
{
	net_sessions_close(server->sessions);
}

void pop3_server_free(struct pop3_server **serverp)
{
	struct pop3_server *server = *serverp;
	if (!server)
		return;
	net_sessions_free(&server->sessions);
	free(server);
	*serverp = NULL;
}
