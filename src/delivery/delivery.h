/* delivery - the outbound SMTP client: takes one message for the recipients
 * of one domain to that domain's mail servers (or a smarthost) and reports a
 * result per recipient.
 *
 * Runs on the loop thread with libevent bufferevents (+ OpenSSL for TLS) and
 * dns/ for MX lookups.  delivery_submit() returns at once; the callback runs
 * later on the loop thread exactly once (also when the delivery object is
 * freed: then every recipient gets a temporary "shutting down" result).
 * The caller keeps MSG's strings and data alive until the callback; the
 * callback does not own RESULT (freed when it returns).
 *
 * What it does (RFC 5321 + extensions): MX order from dns/ (next MX / next
 * address on connection failure, 4xx/5xx greeting or EHLO failure), EHLO with
 * HELO fallback, STARTTLS per TLS policy (none|may|encrypt|verify), AUTH
 * PLAIN/LOGIN to smarthosts, PIPELINING, SIZE (never sends what the peer
 * refuses by SIZE: 552 5.3.4 result), 8BITMIME, SMTPUTF8 (a message that
 * needs it to a peer without it: permanent 553 5.6.7; see docs/delivery.md), DSN
 * parameters passed on when the peer offers DSN, RFC 5321 4.5.3.2 client
 * timeouts, connection reuse for several messages to the same destination,
 * a global and a per-destination connection limit (requests wait in order).
 */
#ifndef PETREL_DELIVERY_H
#define PETREL_DELIVERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

struct event_base;
struct dns_resolver;
struct delivery;

enum delivery_tls {
	DELIVERY_TLS_NONE,     /* never STARTTLS */
	DELIVERY_TLS_MAY,      /* STARTTLS when offered, any certificate; plaintext otherwise */
	DELIVERY_TLS_ENCRYPT,  /* TLS required, any certificate */
	DELIVERY_TLS_VERIFY,   /* TLS required, certificate verified against the host name */
	DELIVERY_TLS_IMPLICIT, /* TLS from the first byte (port 465 smarthosts), verified */
};

/* A smarthost: all mail for some domains (or all domains) goes there. */
struct delivery_relay {
	const char *host;      /* name or address */
	unsigned port;         /* 25, 587, 465 ... */
	enum delivery_tls tls;
	const char *username;  /* NULL: no AUTH */
	const char *password;
};

struct delivery_policy {
	const char *domain;    /* recipient domain this applies to; "*" = default */
	enum delivery_tls tls;
	const struct delivery_relay *relay; /* NULL: MX lookup */
};

struct delivery_settings {
	const char *helo_name;          /* our host name for EHLO */
	unsigned max_connections;       /* global; 0 = 100 */
	unsigned max_per_destination;   /* per domain (or relay); 0 = 10 */
	unsigned port;                  /* port for MX deliveries; 0 = 25 (tests use others) */
	const char *source_address;     /* bind outgoing connections to this; NULL = any */
	/* RFC 5321 4.5.3.2 client timeouts in seconds; 0 = the RFC's default */
	unsigned connect_timeout, greeting_timeout, ehlo_timeout, mail_timeout, rcpt_timeout,
		 data_timeout, block_timeout, final_timeout;
	unsigned idle_reuse_seconds;    /* keep a finished connection this long; 0 = 5 */
	const struct delivery_policy *policies; /* first match wins; may be NULL */
	size_t policy_count;
	SSL_CTX *tls_ctx;               /* client context (verify paths set), not owned */
};

struct delivery_recipient {
	const char *address;
	unsigned notify;                /* WIRE_NOTIFY_* bits; 0 = not given */
	const char *orcpt;              /* "rfc822;addr" or NULL */
};

struct delivery_message {
	const char *queue_id;
	const char *sender;             /* "" = <> */
	const char *domain;             /* every recipient is in this domain */
	const struct delivery_recipient *rcpts;
	size_t rcpt_count;
	const char *data;               /* the message, CRLF lines, not dot-stuffed */
	size_t size;
	bool eight_bit;                 /* BODY=8BITMIME needed */
	bool smtputf8;                  /* SMTPUTF8 needed */
	int ret;                        /* 0, 1 FULL, 2 HDRS: DSN RET= */
	const char *envid;              /* DSN ENVID= or NULL */
	/* a destination of its own instead of the policies' and the MX: the
	 * home node of the recipients (queue/), whatever their domains; its
	 * host an IP literal, no AUTH; NULL = route by DOMAIN */
	const struct delivery_relay *route;
	/* with ROUTE: the recipients' copies go to their Junk folder (DMARC
	 * quarantine here), said with X-PETREL-JUNK where the node offers it */
	bool junk;
};

enum delivery_outcome {
	DELIVERY_DELIVERED,   /* 2xx after DATA for this recipient */
	DELIVERY_TEMPORARY,   /* retry later */
	DELIVERY_PERMANENT,   /* bounce */
};

struct delivery_rcpt_result {
	enum delivery_outcome outcome;
	int code;                       /* remote reply code, or ours (e.g. 451 for DNS) */
	char enhanced[16];              /* "5.1.1", or "" */
	char *text;                     /* the reply as received, lines joined with " / ",
					   or our explanation ("DNS: NXDOMAIN for ...") */
	bool remote;                    /* the reply came from the remote server */
};

struct delivery_result {
	const struct delivery_rcpt_result *rcpts;  /* rcpt_count of them, in order */
	size_t rcpt_count;
	const char *mx_host;            /* the host that gave the final answer, or NULL */
	const char *mx_address;
	const char *tls;                /* "version=TLSv1.3 cipher=..." or NULL */
};

typedef void delivery_cb(void *ctx, const struct delivery_result *result);

struct delivery *delivery_create(struct event_base *base, struct dns_resolver *dns,
				 const struct delivery_settings *settings);
void delivery_submit(struct delivery *delivery, const struct delivery_message *msg,
		     delivery_cb *cb, void *ctx);
/* delivery_active - connection slots in use now (tests, stats): requests
 * resolving, connecting or sending, plus idle connections kept for reuse */
unsigned delivery_active(const struct delivery *delivery);
/* delivery_free - every waiting or running request gets its callback now
 * (temporary "delivery shutting down"); idle connections get a best-effort
 * QUIT.  libevent finalises freed TLS bufferevents from the loop: run the
 * loop once (EVLOOP_NONBLOCK) before event_base_free. */
void delivery_free(struct delivery **delivery);

/* delivery_relay_preset - the built-in smarthost for NAME ("gmail", "outlook",
 * "yahoo", "icloud", "aol", "att", "comcast", "sendgrid"), or NULL */
const struct delivery_relay *delivery_relay_preset(const char *name);

/* delivery_tls_client_ctx - a default client context (system trust store,
 * TLS 1.2 at least); the caller's to free.  Each loads the whole system
 * trust store: `petrel serve` makes one, for delivery and the event webhook */
SSL_CTX *delivery_tls_client_ctx(void);

#endif
