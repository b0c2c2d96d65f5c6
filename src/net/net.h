/* net - listening sockets, TLS contexts, per-client-address connection limits,
 * and the table of open sessions the SMTP, IMAP and POP3 servers share.
 *
 * net_listeners_open() binds every configured listener before privileges are
 * dropped; accepted sockets are handed to the callback non-blocking, with
 * the client's address (on a proxy_protocol listener, the one its PROXY
 * header names: net/proxy.h).  The
 * callback owns the fd.  Errors at start-up come back as -1 and *error_r
 * (static or per-call text in a buffer owned by the net module, valid until the
 * next call), for the caller to print and exit.
 */
#ifndef PETREL_NET_H
#define PETREL_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <openssl/ssl.h>

struct bufferevent;
struct event_base;
struct config;
struct config_listener;

/* ---- listeners -------------------------------------------------------- */

struct net_listeners;

typedef void net_accept_fn(void *ctx, const struct config_listener *listener,
			   int fd, const struct sockaddr *sa, socklen_t salen);

struct net_listeners *net_listeners_open(struct event_base *base, const struct config *config,
					 net_accept_fn *accept_cb, void *ctx,
					 const char **error_r);
/* net_listeners_disable - stop accepting (shutdown); sockets stay bound;
 * connections whose PROXY header is still on its way are closed */
void net_listeners_disable(struct net_listeners *listeners);
void net_listeners_free(struct net_listeners **listeners);

/* net_address_format - "192.0.2.1" or "2001:db8::1" (no port) into BUF */
void net_address_format(const struct sockaddr *sa, char *buf, size_t size);

/* net_address_key - the client address as 16 bytes (IPv4 as v4-mapped IPv6;
 * unix sockets all zero), for tables keyed by client address */
void net_address_key(const struct sockaddr *sa, unsigned char key[16]);

/* ---- TLS (OpenSSL 3) -------------------------------------------------- */

/* net_tls_server_ctx - TLS 1.2+ server context from PEM CERT and KEY files */
SSL_CTX *net_tls_server_ctx(const char *cert, const char *key, const char **error_r);
/* net_tls_describe - "version=TLSv1.3 cipher=TLS_AES_256_GCM_SHA384 bits=256" */
void net_tls_describe(SSL *ssl, char *buf, size_t size);
/* net_tls_close_notify - end TLS on BEV (a bufferevent_openssl, on a socket or
 * filtering one) with a close_notify alert (RFC 8446 6.1), written to the
 * socket at once with one non-blocking write; for an orderly close only (never
 * after a TLS error), once BEV's output is empty.  Best effort: the caller
 * closes the socket next whatever happens.  Once per connection. */
void net_tls_close_notify(struct bufferevent *bev);
/* net_bufferevent_write_now - one non-blocking write of a socket
 * bufferevent's pending output, from outside its callbacks (a last word
 * before the socket is closed) */
void net_bufferevent_write_now(struct bufferevent *bev);
/* net_bufferevent_pending - output octets not yet handed to the kernel:
 * BEV's, and those of every bufferevent under it (a TLS or compression
 * filter keeps what it made in the one below) */
size_t net_bufferevent_pending(struct bufferevent *bev);

/* ---- connection counting per client address --------------------------- */

struct net_conn_limits;

struct net_conn_limits *net_conn_limits_create(unsigned total, unsigned per_address);
/* net_conn_limits_acquire - count a new connection from SA; false (and
 * nothing counted) if the total or the per-address limit would be exceeded */
bool net_conn_limits_acquire(struct net_conn_limits *limits, const struct sockaddr *sa);
void net_conn_limits_release(struct net_conn_limits *limits, const struct sockaddr *sa);
unsigned net_conn_limits_total(const struct net_conn_limits *limits);
void net_conn_limits_free(struct net_conn_limits **limits);

/* ---- the table of a server's open sessions ---------------------------- */

/* A server (SMTP, IMAP, POP3) keeps its open sessions in a net_sessions
 * table by id, so that a late answer from a worker finds its session or
 * nothing.  Each session embeds a net_session_link.  The table also keeps
 * the sessions that died inside one of their callbacks until the loop frees
 * them (STYLE: freed later), and runs the shutdown drain.  The table never
 * owns a session's memory: OPS->free does. */

struct net_sessions;

struct net_session_link {
	struct net_session_link *next;   /* bucket chain, then the dead list */
	uint64_t id;
	void *session;
};

struct net_session_ops {
	/* shutdown, orderly: a last reply now, or when the running command
	 * ends; the session may leave the table (or die) at once */
	void (*drain)(void *session);
	/* close now; the session must leave the table */
	void (*shutdown)(void *session);
	/* free a session put on the dead list (net_sessions_bury) */
	void (*free)(void *session);
};

/* net_sessions_create - an empty table of BUCKETS chains; ids from 1 */
struct net_sessions *net_sessions_create(struct event_base *base, unsigned buckets,
					 const struct net_session_ops *ops);
/* net_sessions_add - put SESSION (with its LINK) in the table; its new id */
uint64_t net_sessions_add(struct net_sessions *table, struct net_session_link *link,
			  void *session);
/* net_sessions_remove - take LINK out of the table (nothing if it is not
 * in); the drained callback runs from the loop once a drain empties it */
void net_sessions_remove(struct net_sessions *table, struct net_session_link *link);
/* net_sessions_bury - remove LINK and free its session from the loop later
 * (OPS->free), for a session whose callback is running */
void net_sessions_bury(struct net_sessions *table, struct net_session_link *link);
/* net_sessions_reap - free the buried sessions now (not from their callbacks) */
void net_sessions_reap(struct net_sessions *table);
/* net_sessions_find - the session in the table with ID, or NULL */
void *net_sessions_find(const struct net_sessions *table, uint64_t id);
size_t net_sessions_count(const struct net_sessions *table);
/* net_sessions_each - FN(session, CTX) on every session in the table; FN
 * must not add or remove sessions */
void net_sessions_each(const struct net_sessions *table,
		       void (*fn)(void *session, void *ctx), void *ctx);
/* net_sessions_drain - OPS->drain every session; DRAINED(CTX) runs from
 * the loop once the table is empty (at once if it is) */
void net_sessions_drain(struct net_sessions *table, void (*drained)(void *ctx), void *ctx);
bool net_sessions_is_draining(const struct net_sessions *table);
/* net_sessions_close - OPS->shutdown every session, then reap */
void net_sessions_close(struct net_sessions *table);
/* net_sessions_free - close every session and free the table */
void net_sessions_free(struct net_sessions **table);

#endif
