/* http - the HTTP/1.1 server (RFC 9110, 9112) of Petrel's web face (issue
 * 12, docs/http.md) on listeners of role http and https (TLS from the first
 * octet, with [tls]'s certificate), in the network process and on its event
 * loop, beside SMTP, IMAP and POP3.  Requests are read within [http]'s
 * limits (http/parse.h: struct http_limits), answered with JSON (jansson)
 * in SendGrid v3's error shape; a handler that touches the store runs on
 * the worker pool, never on the loop.
 *
 * Created once on the loop thread; the caller keeps everything it hands in
 * alive until http_server_free.  All functions run on the loop thread.
 */
#ifndef PETREL_HTTP_H
#define PETREL_HTTP_H

#include <stddef.h>
#include <sys/socket.h>

#include <openssl/ssl.h>

#include "net/net.h"
#include "queue/queue.h"
#include "util/histogram.h"

struct authd_client;
struct config;
struct config_listener;
struct dns_resolver;
struct event_base;
struct http_server;
struct http_webhook_dispatcher;
struct keysd_signer;
struct mailauth_psl;
struct net_conn_limits;
struct policy_throttle;
struct pool;
struct store;
struct store_events;

/* struct http_metrics - what GET /metrics reports (docs/http.md),
 * gathered from memory on the loop by the server's owner */
enum http_metrics_protocol {
	HTTP_METRICS_SMTP,
	HTTP_METRICS_IMAP,
	HTTP_METRICS_POP3,
	HTTP_METRICS_HTTP,
	HTTP_METRICS_PROTOCOLS
};
struct http_metrics {
	struct queue_stats queue;
	size_t sessions[HTTP_METRICS_PROTOCOLS];  /* open connections */
	/* TLS handshakes and AUTH failures since the start */
	struct net_session_stats session_stats[HTTP_METRICS_PROTOCOLS];
	struct histogram smtp_accept_seconds;     /* end of data to its 250 */
	unsigned pool_pending;                    /* worker pool jobs not done */
};
typedef void http_metrics_fn(void *ctx, struct http_metrics *metrics_r);

/* struct http_server_settings - TLS NULL: https listeners cannot exist
 * (config refuses them).  LIMITS and THROTTLE are the network process's,
 * shared with the other servers. */
struct http_server_settings {
	const struct config *config;
	SSL_CTX *tls;
	struct store *store;
	struct pool *pool;
	struct authd_client *auth;
	struct net_conn_limits *limits;
	struct policy_throttle *throttle;
	http_metrics_fn *metrics;    /* NULL: GET /metrics answers 404 */
	void *metrics_ctx;
	/* POST /v3/mail/send (mailsend.c): QUEUE NULL answers 503; EVENTS and
	 * SIGNER may be NULL (no events, no DKIM signatures) */
	struct queue *queue;
	struct store_events *events;
	struct keysd_signer *signer;
	/* one-click unsubscribe links (unsubscribe.c): their secret (32
	 * octets, copied), or NULL: no links written, /unsubscribe/ is 404 */
	const unsigned char *unsubscribe_secret;
	/* POST /v3/user/webhooks/event/test: NULL answers 503 */
	struct http_webhook_dispatcher *webhook;
	/* /dashboard/domains (web-dash-domains.c): NULL answers 503 */
	struct dns_resolver *dns;
	const struct mailauth_psl *psl;
};

struct http_server *http_server_create(struct event_base *base,
				       const struct http_server_settings *settings);
/* http_server_accept - a net_accept_fn for listeners of role http and
 * https: CTX is the http_server; owns FD */
void http_server_accept(void *ctx, const struct config_listener *listener, int fd,
			const struct sockaddr *sa, socklen_t salen);
size_t http_server_session_count(const struct http_server *server);
/* http_server_session_stats - TLS handshakes and AUTH failures since the
 * start (net.h) */
struct net_session_stats;
const struct net_session_stats *http_server_session_stats(const struct http_server *server);
/* http_server_drain - shutdown: idle connections close now, a request
 * being answered gets its answer (with "Connection: close") first;
 * DRAINED(CTX) runs from the loop once none is left */
void http_server_drain(struct http_server *server, void (*drained)(void *ctx), void *ctx);
/* http_server_close_sessions - close every connection now */
void http_server_close_sessions(struct http_server *server);
void http_server_free(struct http_server **server);

#endif
