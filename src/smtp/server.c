/* smtp/server - accepts connections, enforces connection limits, and keeps
 * the table of open sessions by id. */
#include "smtp/session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "config/config.h"
#include "net/net.h"
#include "policy/policy.h"
#include "util/log.h"
#include "util/xalloc.h"

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
	server->sessions = net_sessions_create(base, SMTP_SESSION_BUCKETS, &smtp_session_table_ops);
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

void smtp_server_accept(void *ctx, const struct config_listener *listener, int fd,
			const struct sockaddr *sa, socklen_t salen)
{
	struct smtp_server *server = ctx;
	enum policy_admission admission = policy_connection_admit(server->throttle, server->limits,
								   server->sessions, sa);
	if (admission != POLICY_ADMITTED) {
		/* RFC 5321 3.1: a server may answer 421 and close at once */
		char line[320];
		snprintf(line, sizeof(line), "421 4.7.0 %s %s\r\n", server->config->hostname,
			 policy_admission_text(admission));
		net_refuse(fd, sa, listener, line, policy_admission_reason(admission));
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
	return net_sessions_count(server->sessions);
}

const struct net_session_stats *smtp_server_session_stats(const struct smtp_server *server)
{
	return net_sessions_stats(server->sessions);
}

const struct histogram *smtp_server_accept_latency(const struct smtp_server *server)
{
	return &server->accept_latency;
}

struct smtp_session *smtp_server_session_find(struct smtp_server *server, uint64_t id)
{
	return net_sessions_find(server->sessions, id);
}

void smtp_server_drain(struct smtp_server *server, void (*drained)(void *ctx), void *ctx)
{
	net_sessions_drain(server->sessions, drained, ctx);
}

void smtp_server_close_sessions(struct smtp_server *server)
{
	net_sessions_close(server->sessions);
}

void smtp_server_free(struct smtp_server **serverp)
{
	struct smtp_server *server = *serverp;
	if (!server)
		return;
	net_sessions_free(&server->sessions);
	smtp_verifier_free(server);
	net_conn_limits_free(&server->limits);
	free(server);
	*serverp = NULL;
}
