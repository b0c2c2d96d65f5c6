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
 *
 * A session's connection (struct net_conn, conn.c) holds the plumbing the
 * servers share: the bufferevents and (IMAP, POP3, HTTP) their callbacks,
 * the read-on from the loop, the orderly close, the free-later and the
 * disconnect.
 */
#ifndef PETREL_NET_H
#define PETREL_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <openssl/ssl.h>

struct bufferevent;
struct event;
struct event_base;
struct evbuffer_cb_entry;
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
/* net_refuse - (an accept callback) REPLY written once to the new socket
 * FD, best effort, unless LISTENER is TLS from the first octet (nothing
 * may be said before the handshake, RFC 8314 3.3); then FD closed and the
 * refusal logged with REASON */
void net_refuse(int fd, const struct sockaddr *sa, const struct config_listener *listener,
		const char *reply, const char *reason);

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

/* What a table counts for GET /metrics (http/metrics.c) since it was made,
 * on the loop: TLS handshakes done by version (net_conn_handshake_done),
 * and logins refused for wrong credentials (the server calls
 * net_sessions_count_auth_failure) */
enum net_tls_version {
	NET_TLS_1_0,
	NET_TLS_1_1,
	NET_TLS_1_2,
	NET_TLS_1_3,
	NET_TLS_OTHER,
	NET_TLS_VERSIONS
};
struct net_session_stats {
	unsigned long long tls_handshakes[NET_TLS_VERSIONS];
	unsigned long long auth_failures;
};
/* net_tls_version_name - "TLSv1.3" (OpenSSL's SSL_get_version names), or
 * "other" */
const char *net_tls_version_name(enum net_tls_version version);
/* net_sessions_count_tls - one handshake done with OpenSSL's protocol
 * version SSL_VERSION (SSL_version) */
void net_sessions_count_tls(struct net_sessions *table, int ssl_version);
void net_sessions_count_auth_failure(struct net_sessions *table);
const struct net_session_stats *net_sessions_stats(const struct net_sessions *table);
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

/* ---- a session's connection ------------------------------------------- */

/* Each session of the SMTP, IMAP, POP3 and HTTP servers embeds a net_conn: its
 * place in the server's net_sessions table, its bufferevents and where the
 * connection is in its life.  The orderly close: net_conn_close stops
 * reading; once the queued output is written (the session's write callback
 * calls net_conn_written; under a filter the socket's buffer is watched
 * too), a TLS connection sends its close_notify and the session is buried
 * (net_conn_free_later): the table's OPS->free frees it from the loop,
 * which calls net_conn_disconnect first. */

struct net_conn_ops {
	/* the socket under a filter wrote, the connection not closing (a
	 * session that waits for its output to drain); may be NULL */
	void (*written)(void *session);
	/* for a session whose bufferevent net_conn_setcb drives (NULL for
	 * one that sets its own callbacks): what the client sent is there
	 * (conn->bev's read callback, or net_conn_resume_input from the
	 * loop); conn->bev wrote its output and the connection is neither
	 * dead nor closing (its write callback after net_conn_written); and
	 * its events (BEV_EVENT_*) */
	void (*input)(void *session);
	void (*output_written)(void *session);
	void (*event)(void *session, short what);
};

struct net_conn {
	struct net_session_link link;     /* in TABLE; link.id is the session's id */
	struct net_sessions *table;
	const struct net_conn_ops *ops;   /* may be NULL */
	void *session;
	const char *sid;                  /* the session's, for the logs */
	const char *client;
	/* the layers: bev on top (what replies are written to); once a filter
	 * is stacked (STARTTLS, COMPRESS), the socket's plain_bev below */
	struct bufferevent *bev;
	struct bufferevent *plain_bev;
	struct bufferevent *tls_bev;      /* the one doing TLS (close_notify), or NULL */
	struct evbuffer_cb_entry *plain_drain_cb;
	struct event *resume_ev;          /* OPS->input from the loop; with OPS->input */
	bool tls;
	bool handshaking;                 /* TLS handshake under way */
	bool closing;                     /* last reply queued; free once it is written */
	bool dead;                        /* out of the table; freed by the loop later */
};

/* net_conn_init - put SESSION (embedding CONN) in TABLE; its new id.  SID
 * and CLIENT are the session's strings for the logs (filled in later) */
uint64_t net_conn_init(struct net_conn *conn, struct net_sessions *table,
		       const struct net_conn_ops *ops, void *session,
		       const char *sid, const char *client);
/* net_conn_open - the bufferevent of socket FD (owned from now on if it
 * succeeds): with TLS from the first octet (handshaking) if TLS is set;
 * and, with OPS->input, the event of net_conn_resume_input; -1 if they
 * cannot be made (FD is the caller's to close if conn->bev is NULL) */
int net_conn_open(struct net_conn *conn, struct event_base *base, int fd, SSL_CTX *tls);
/* net_conn_setcb - conn->bev's callbacks (again after a filter is pushed)
 * are OPS->input, OPS->output_written and OPS->event */
void net_conn_setcb(struct net_conn *conn);
/* net_conn_resume_input - OPS->input from the loop, soon, not on the
 * caller's stack (a command ended: read the next one); nothing once
 * disconnected */
void net_conn_resume_input(struct net_conn *conn);
/* net_conn_push_filter - FILTER (made over conn->bev) on top from now on;
 * the one below stops writing into the socket's above OUTPUT_HIGH (0: no
 * mark).  The caller sets the callbacks of the new conn->bev. */
void net_conn_push_filter(struct net_conn *conn, struct bufferevent *filter, size_t output_high);
/* net_conn_start_tls - a TLS filter (STARTTLS, STLS) pushed, handshaking;
 * -1 (logged) if it cannot be made */
int net_conn_start_tls(struct net_conn *conn, struct event_base *base, SSL_CTX *tls,
		       size_t output_high);
/* net_conn_handshake_done - (BEV_EVENT_CONNECTED) log the TLS parameters,
 * also put in INFO, and count the handshake in the table's stats */
void net_conn_handshake_done(struct net_conn *conn, char *info, size_t size);
/* net_conn_log_error - (BEV_EVENT_ERROR) log the TLS or socket error */
void net_conn_log_error(struct net_conn *conn);
/* net_conn_close - stop reading; free once the queued output is written */
void net_conn_close(struct net_conn *conn);
/* net_conn_written - (the write callback of conn->bev) true if the session
 * must do nothing more: dead, or closing (freed if all is written) */
bool net_conn_written(struct net_conn *conn);
/* net_conn_drain_silent - (a shutdown drain) true if the session has
 * nothing to say: closing or dead, or still in the TLS handshake (then
 * freed later) */
bool net_conn_drain_silent(struct net_conn *conn);
/* net_conn_goodbye - (shutdown) a last line, written at once, best effort;
 * nothing if closing, dead or before the TLS handshake is done */
void net_conn_goodbye(struct net_conn *conn, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* net_conn_free_later - mark dead, leave the table now, free from the loop
 * (STYLE: an object whose callback is running is freed later) */
void net_conn_free_later(struct net_conn *conn);
/* net_conn_disconnect - (freeing the session) out of the table, logged,
 * the bufferevents freed and the socket closed */
void net_conn_disconnect(struct net_conn *conn);

/* ---- a proxied login's connection to the home node (backend.c) ---------- */

/* The node that takes an IMAP or POP3 login for an account homed on
 * another node logs in there (imap/proxy.c, pop3/proxy.c) and then relays
 * the octets both ways.  The callbacks run on the loop, never inside the
 * call that caused them. */
struct net_backend;

/* net_backend_line_fn - one line from the backend (LINE, LEN octets, its
 * CRLF removed, NUL-terminated, valid during the call); return 0 for the
 * next one, -1 once the backend was freed or handed to the relay */
typedef int net_backend_line_fn(void *ctx, const char *line, size_t len);
/* net_backend_fail_fn - the connection failed, closed, timed out, or sent
 * a line over its limit (REASON, static): free the backend */
typedef void net_backend_fail_fn(void *ctx, const char *reason);
/* net_backend_end_fn - the relay ended (REASON: client-closed,
 * client-error, backend-closed, backend-error, timeout): the client's
 * bufferevent has its callbacks cleared and no timeouts; what the backend
 * sent before is in its output.  Free the backend. */
typedef void net_backend_end_fn(void *ctx, const char *reason);

/* net_backend_open - connect to ADDRESS ("192.0.2.1:143", "[2001:db8::1]:143":
 * a literal address and port, no DNS), without waiting: lines come to
 * LINE_CB, a failure to FAIL_CB; the connection and each line within
 * TIMEOUT seconds, LINE_MAX octets with the CRLF.  NULL and a static
 * *error_r when it cannot even start (not an address). */
struct net_backend *net_backend_open(struct event_base *base, const char *address,
				     unsigned timeout, size_t line_max,
				     net_backend_line_fn *line_cb, net_backend_fail_fn *fail_cb,
				     void *ctx, const char **error_r);
/* net_backend_send - LEN octets of DATA to the backend */
void net_backend_send(struct net_backend *backend, const void *data, size_t len);
/* net_backend_relay - from now on every octet CLIENT (the session's top
 * bufferevent, whose callbacks it takes) reads goes to the backend and back,
 * unchanged, what either holds already first; END_CB (with the CTX of
 * net_backend_open) when either side closes or both were silent IDLE
 * seconds; each side stops being read while over HIGH octets wait for the
 * other */
void net_backend_relay(struct net_backend *backend, struct bufferevent *client, unsigned idle,
		       size_t high, net_backend_end_fn *end_cb);
/* net_backend_free - close the backend connection (no callback follows; a
 * relayed client's bufferevent gets its callbacks cleared); NULL or *BACKEND
 * NULL: nothing */
void net_backend_free(struct net_backend **backend);
/* net_local_address_is - socket FD was reached at ADDRESS ("HOST:PORT", a
 * literal address): the listener a [cluster] imap or pop3 setting names */
bool net_local_address_is(int fd, const char *address);

#endif
