/* pop3 - the POP3 server (RFC 1939) on listeners of role pop3 (STLS, RFC
 * 2595) and pop3s (implicit TLS, RFC 8314), with CAPA (RFC 2449), AUTH
 * (RFC 5034: PLAIN, SCRAM-SHA-256) and USER/PASS, both only under TLS (or
 * from loopback with [auth] plaintext_loopback).  A session serves the
 * account's INBOX (mailbox/), locked for it alone from login to the end
 * (RFC 1939 8); deletions happen at QUIT (the UPDATE state).
 *
 * Created once on the loop thread; the caller keeps everything it hands in
 * alive until pop3_server_free.  All functions run on the loop thread.
 */
#ifndef PETREL_POP3_H
#define PETREL_POP3_H

#include <stddef.h>
#include <sys/socket.h>

#include <openssl/ssl.h>

struct authd_client;
struct config;
struct config_listener;
struct event_base;
struct net_conn_limits;
struct policy_throttle;
struct pool;
struct pop3_server;

/* struct pop3_server_settings - TLS NULL: no STLS, and pop3s listeners
 * cannot exist (config refuses them).  AUTH NULL: no login at all.
 * LIMITS and THROTTLE are the network process's, shared with the other
 * servers (one count of connections, one per-address throttle). */
struct pop3_server_settings {
	const struct config *config;
	SSL_CTX *tls;
	struct authd_client *auth;
	struct pool *pool;
	struct net_conn_limits *limits;
	struct policy_throttle *throttle;
};

struct pop3_server *pop3_server_create(struct event_base *base,
				       const struct pop3_server_settings *settings);
/* pop3_server_accept - a net_accept_fn for listeners of role pop3 and
 * pop3s: CTX is the pop3_server; owns FD */
void pop3_server_accept(void *ctx, const struct config_listener *listener, int fd,
			const struct sockaddr *sa, socklen_t salen);
size_t pop3_server_session_count(const struct pop3_server *server);
/* pop3_server_session_stats - TLS handshakes and AUTH failures since the
 * start (net.h) */
struct net_session_stats;
const struct net_session_stats *pop3_server_session_stats(const struct pop3_server *server);
/* pop3_server_drain - shutdown: each session gets "-ERR" and is closed
 * once its running command has answered (no deletion is applied);
 * DRAINED(CTX) runs from the loop once none is left */
void pop3_server_drain(struct pop3_server *server, void (*drained)(void *ctx), void *ctx);
/* pop3_server_close_sessions - close every session now (best effort) */
void pop3_server_close_sessions(struct pop3_server *server);
void pop3_server_free(struct pop3_server **server);

#endif
