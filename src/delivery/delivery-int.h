/* delivery/delivery-int - what delivery.c (destinations, requests, routing)
 * and client.c (one SMTP client connection) tell each other.  Internal to
 * src/delivery.
 *
 * A connection reports to its owner through one callback:
 *   READY   greeting, EHLO/HELO, STARTTLS and AUTH are done: it can take a
 *           transaction (delivery_conn_transaction) or go idle or quit;
 *   FAILED  it could not be set up; conn->error says why; the connection is
 *           finished and frees itself: drop the pointer;
 *   DONE    the transaction ended; each recipient in it has a result;
 *           conn->usable says whether it can take another transaction;
 *   CLOSED  an idle connection timed out (QUIT sent) or the server closed
 *           it; it frees itself: drop the pointer.
 * The callback is always the last thing a connection does in an event
 * handler, so the owner may call any function on it from the callback.
 */
#ifndef PETREL_DELIVERY_INT_H
#define PETREL_DELIVERY_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "delivery/delivery.h"

struct event_base;

/* an error of ours or a remote reply, as it will go into a result */
struct delivery_error {
	int code;
	char enhanced[16];
	char *text;       /* allocated */
	bool remote;
};

void delivery_error_set(struct delivery_error *e, int code, const char *enhanced,
			bool remote, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void delivery_error_clear(struct delivery_error *e);
/* delivery_result_set - fill R (freeing its old text) from E, as OUTCOME */
void delivery_result_set(struct delivery_rcpt_result *r, enum delivery_outcome outcome,
			 const struct delivery_error *e);

struct delivery_conn_params {
	const char *host;      /* name for SNI, verification and logs */
	const char *address;   /* numeric address to connect to */
	unsigned port;
	enum delivery_tls tls;
	const struct delivery_relay *relay;        /* AUTH credentials or NULL */
	const struct delivery_settings *settings;  /* defaults filled in */
	SSL_CTX *ssl_ctx;
};

/* one transaction: the recipients RCPT_INDEX[0..COUNT) of MSG */
struct delivery_txn {
	const struct delivery_message *msg;
	const size_t *rcpt_index;
	size_t count;
	struct delivery_rcpt_result *results; /* by recipient index of MSG */
	bool *retry_next;    /* by recipient index: a 4xx to MAIL or RCPT, the
				next MX may be tried (RFC 5321 5.1) */
	bool stale;          /* out: the (reused) connection was dead before
				MAIL got any reply; no result was set */
};

enum delivery_conn_event {
	DELIVERY_CONN_READY,
	DELIVERY_CONN_FAILED,
	DELIVERY_CONN_DONE,
	DELIVERY_CONN_CLOSED,
};

struct delivery_conn;
typedef void delivery_conn_cb(void *ctx, struct delivery_conn *conn,
			      enum delivery_conn_event event);

/* the parts of a connection its owner reads and links */
struct delivery_conn_public {
	struct delivery_error error;   /* after FAILED */
	bool usable;                   /* after DONE */
	bool reused;                   /* has carried a transaction before */
	char host[256];
	char address[64];
	unsigned port;
	char tls[160];                 /* "" when not TLS */
	bool tls_failed;               /* after FAILED: the handshake after
					  STARTTLS failed (or timed out) */
	bool tls_fallback;             /* set by the owner: opened without TLS
					  because TLS had failed there */
	void *dest;                    /* delivery.c's destination */
	void *request;                 /* delivery.c's request, NULL when idle */
	struct delivery_conn *idle_next; /* delivery.c's idle list */
};

struct delivery_conn_public *delivery_conn_public(struct delivery_conn *conn);

/* delivery_conn_open - connect; CB reports READY or FAILED.  The connection
 * is kept on the list *ALL until it is freed (delivery_conn_free_all). */
struct delivery_conn *delivery_conn_open(struct event_base *base,
					 const struct delivery_conn_params *params,
					 struct delivery_conn **all,
					 delivery_conn_cb *cb, void *ctx);
/* delivery_conn_transaction - run TXN on a READY (or reused idle)
 * connection; DONE follows.  Returns -1 without starting when the message
 * cannot go to this server at all (SIZE, SMTPUTF8, 8BITMIME): *error_r is
 * the permanent error for every recipient; the connection stays usable. */
int delivery_conn_transaction(struct delivery_conn *conn, struct delivery_txn *txn,
			      const struct delivery_error **error_r);
/* delivery_conn_idle - keep it open; CLOSED after SECONDS or if the server
 * goes away (a new transaction cancels that) */
void delivery_conn_idle(struct delivery_conn *conn, unsigned seconds);
/* delivery_conn_quit - QUIT politely and free; no more callbacks */
void delivery_conn_quit(struct delivery_conn *conn);
/* delivery_conn_close - drop at once; no more callbacks */
void delivery_conn_close(struct delivery_conn *conn);
/* delivery_conn_free_all - at shutdown: one flush attempt of a QUIT for idle
 * connections, then free every connection on the list */
void delivery_conn_free_all(struct delivery_conn **all);


#endif
