/* net - listening sockets, TLS contexts and per-client-address connection limits.
 *
 * net_listeners_open() binds every configured listener before privileges are
 * dropped; accepted sockets are handed to the callback non-blocking.  The
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
/* net_listeners_disable - stop accepting (shutdown); sockets stay bound */
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

/* ---- connection counting per client address --------------------------- */

struct net_conn_limits;

struct net_conn_limits *net_conn_limits_create(unsigned total, unsigned per_address);
/* net_conn_limits_acquire - count a new connection from SA; false (and
 * nothing counted) if the total or the per-address limit would be exceeded */
bool net_conn_limits_acquire(struct net_conn_limits *limits, const struct sockaddr *sa);
void net_conn_limits_release(struct net_conn_limits *limits, const struct sockaddr *sa);
unsigned net_conn_limits_total(const struct net_conn_limits *limits);
void net_conn_limits_free(struct net_conn_limits **limits);

#endif
