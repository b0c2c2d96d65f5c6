/* http/server - accepts HTTP connections (listeners of role http and
 * https) under the connection limits and throttle the other servers share,
 * and keeps the table of open connections. */
#include "http/session.h"
#include "http/web.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "config/config.h"
#include "policy/policy.h"
#include "util/log.h"
#include "util/xalloc.h"

static void server_refuse(int fd, const struct sockaddr *sa,
			  const struct config_listener *listener, enum policy_admission admission);

struct http_server *http_server_create(struct event_base *base,
				       const struct http_server_settings *settings)
{
	const struct config_http *c = &settings->config->http;
	struct http_server *server = xcalloc(1, sizeof(*server));
	server->base = base;
	server->config = settings->config;
	server->limits = (struct http_limits){
		.header_size = c->header_size,
		.header_count = c->header_count,
		.body_size = c->body_size,
		.body_memory = c->body_memory,
		.request_timeout = c->request_timeout,
		.idle_timeout = c->idle_timeout,
	};
	server->tls = settings->tls;
	server->store = settings->store;
	server->pool = settings->pool;
	server->auth = settings->auth;
	server->conn_limits = settings->limits;
	server->throttle = settings->throttle;
	server->metrics = settings->metrics;
	server->metrics_ctx = settings->metrics_ctx;
	server->queue = settings->queue;
	server->events = settings->events;
	server->signer = settings->signer;
	if (settings->unsubscribe_secret) {
		memcpy(server->unsubscribe_secret, settings->unsubscribe_secret,
		       sizeof(server->unsubscribe_secret));
		server->has_unsubscribe_secret = true;
	}
	server->webhook = settings->webhook;
	server->dns = settings->dns;
	server->psl = settings->psl;
	server->sessions = net_sessions_create(base, HTTP_SESSION_BUCKETS, &http_session_table_ops);
	return server;
}

/* server_refuse - the answer to a connection ADMISSION refuses (503, or
 * 429 for a throttled address) instead of reading a request, and close
 * (on https nothing can be said before TLS: net_refuse just closes) */
static void server_refuse(int fd, const struct sockaddr *sa,
			  const struct config_listener *listener, enum policy_admission admission)
{
	static const struct {
		int status;
		const char *text;
	} answers[] = {
		[POLICY_REFUSED_SHUTDOWN] = { 503, "server shutting down" },
		[POLICY_REFUSED_LOCKED_OUT] = { 429, "too many authentication failures" },
		[POLICY_REFUSED_RATE] = { 429, "too many connections too fast" },
		[POLICY_REFUSED_CONNECTIONS] = { 503, "too many connections" },
	};
	int status = answers[admission].status;
	const char *text = answers[admission].text;
	char reply[400];
	int body = snprintf(NULL, 0, "{\"errors\":[{\"message\":\"%s\",\"field\":null,"
			    "\"help\":null}]}\n", text);
	snprintf(reply, sizeof(reply), "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
		 "Content-Length: %d\r\nConnection: close\r\n\r\n{\"errors\":[{\"message\":"
		 "\"%s\",\"field\":null,\"help\":null}]}\n", status, http_status_reason(status),
		 body, text);
	net_refuse(fd, sa, listener, reply, policy_admission_reason(admission));
}

void http_server_accept(void *ctx, const struct config_listener *listener, int fd,
			const struct sockaddr *sa, socklen_t salen)
{
	struct http_server *server = ctx;
	enum policy_admission admission = policy_connection_admit(server->throttle,
								   server->conn_limits,
								   server->sessions, sa);
	if (admission != POLICY_ADMITTED) {
		server_refuse(fd, sa, listener, admission);
		return;
	}
	http_session_start(server, listener, fd, sa, salen);
}

size_t http_server_session_count(const struct http_server *server)
{
	return net_sessions_count(server->sessions);
}

const struct net_session_stats *http_server_session_stats(const struct http_server *server)
{
	return net_sessions_stats(server->sessions);
}

void http_server_drain(struct http_server *server, void (*drained)(void *ctx), void *ctx)
{
	net_sessions_drain(server->sessions, drained, ctx);
}

void http_server_close_sessions(struct http_server *server)
{
	net_sessions_close(server->sessions);
}

void http_server_free(struct http_server **serverp)
{
	struct http_server *server = *serverp;
	if (!server)
		return;
	net_sessions_free(&server->sessions);
	OPENSSL_cleanse(server->unsubscribe_secret, sizeof(server->unsubscribe_secret));
	http_web_signups_free(server);
	free(server);
	*serverp = NULL;
}
