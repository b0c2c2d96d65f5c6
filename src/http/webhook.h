/* http/webhook - SendGrid's event webhook (docs/http.md "Event webhook"):
 * the settings an account PATCHes to /v3/user/webhooks/event/settings and
 * /settings/signed, and the URL the events go to.
 *
 * The parsers do no I/O and keep no state: the handler (webhook-route.c)
 * calls them on a worker, the fuzz target fuzz/fuzz-webhook.c directly.
 * Errors: -1 and *error_r (static text: SendGrid's message for a 400) and
 * *field_r (the JSON field at fault, or NULL).
 */
#ifndef PETREL_HTTP_WEBHOOK_H
#define PETREL_HTTP_WEBHOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The events of SendGrid's settings, as bits of store_webhook's events.
 * Petrel makes the first five; the others are kept as set. */
enum http_webhook_event {
	HTTP_WEBHOOK_PROCESSED,
	HTTP_WEBHOOK_DELIVERED,
	HTTP_WEBHOOK_DEFERRED,
	HTTP_WEBHOOK_BOUNCE,
	HTTP_WEBHOOK_DROPPED,
	HTTP_WEBHOOK_OPEN,
	HTTP_WEBHOOK_CLICK,
	HTTP_WEBHOOK_SPAM_REPORT,
	HTTP_WEBHOOK_UNSUBSCRIBE,
	HTTP_WEBHOOK_GROUP_UNSUBSCRIBE,
	HTTP_WEBHOOK_GROUP_RESUBSCRIBE,
	HTTP_WEBHOOK_EVENTS
};
/* http_webhook_event_name - SendGrid's name of EVENT ("processed", ...,
 * "group_resubscribe"), the settings' field and the posted "event" */
const char *http_webhook_event_name(enum http_webhook_event event);

#define HTTP_WEBHOOK_URL_MAX 2048      /* STORE_WEBHOOK_URL_MAX */

/* struct http_webhook_settings - what GET answers and PATCH changes */
struct http_webhook_settings {
	bool enabled;
	char url[HTTP_WEBHOOK_URL_MAX + 1];   /* "" when none */
	uint32_t events;                      /* 1 << enum http_webhook_event */
};
/* http_webhook_settings_parse - BODY[0..LEN) (PATCH's JSON object) applied
 * to *SETTINGS: "enabled" and each event's name, booleans; "url", a string
 * that http_webhook_url_parse takes, or "" (none).  Fields it does not know
 * (friendly_name, oauth_*) are passed over; a field that is null is left as
 * it was.  On error *SETTINGS is unchanged.  An enabled webhook needs a URL. */
int http_webhook_settings_parse(const char *body, size_t len,
				struct http_webhook_settings *settings, const char **error_r,
				const char **field_r);
/* http_webhook_signed_parse - BODY[0..LEN) ({"enabled": BOOL}) into
 * *ENABLED_R */
int http_webhook_signed_parse(const char *body, size_t len, bool *enabled_r,
			      const char **error_r, const char **field_r);

/* struct http_webhook_url - an http or https URL (RFC 3986 3) split for a
 * client: no user information, no fragment */
#define HTTP_WEBHOOK_HOST_MAX 253
struct http_webhook_url {
	bool tls;                              /* https */
	char host[HTTP_WEBHOOK_HOST_MAX + 1];  /* a DNS name, or an IP address (no []) */
	uint16_t port;                         /* 80 or 443 when not given */
	bool loopback;                         /* host is 127.0.0.0/8, ::1 or localhost */
	char target[HTTP_WEBHOOK_URL_MAX + 1]; /* path and query; "/" when empty */
};
/* http_webhook_url_parse - URL[0..LEN) (at most HTTP_WEBHOOK_URL_MAX
 * octets of printable ASCII, no space) into *OUT: "https://" or, for a
 * loopback host only, "http://"; a host of letters, digits, '-', '.' or an
 * IPv6 literal in brackets; an optional port 1-65535 */
int http_webhook_url_parse(const char *url, size_t len, struct http_webhook_url *out,
			   const char **error_r);

/* ---- the batches posted (webhook-batch.c; no I/O) ----------------------------------- */
struct store_event;
/* http_webhook_event_of - the SendGrid event of a store event TYPE
 * ("accepted" -> processed, "delivered", "deferred", "bounced" -> bounce,
 * "dropped"); -1 for the others (never posted) */
int http_webhook_event_of(const char *type);
/* struct http_webhook_batch_span - which part of the events a batch holds:
 * an acceptance with its recipients makes one "processed" per recipient,
 * so one event may not fit in a batch whole */
struct http_webhook_batch_span {
	size_t skip;     /* in: the first event's parts posted already (0: none) */
	size_t events;   /* out: events whole in the batch (with the first's rest) */
	size_t part;     /* out: parts of event EVENTS (counting SKIP's) in it, the
			    rest for the next batch; 0 when the batch ends between events */
};
/* http_webhook_batch - EVENTS[0..N) as SendGrid's JSON array, those whose
 * event is in MASK (bits of enum http_webhook_event) only, in their order,
 * at most MAX of them (SPAN says where it stopped): email, timestamp,
 * event, sg_event_id (the event's id), sg_message_id (its queue id),
 * smtp-id ("<QUEUE_ID@HOSTNAME>"), and response (delivered, deferred) or
 * reason, status and type (bounce) or reason (dropped); attempt (deferred,
 * a string); the message's category (an array) and custom args.  An
 * acceptance is one "processed" per recipient, with its email.
 * *COUNT_R how many are in it; the text (malloc'd, *LEN_R octets), or NULL
 * when none is. */
char *http_webhook_batch(struct store_event *const *events, size_t n, uint32_t mask,
			 const char *hostname, size_t max, struct http_webhook_batch_span *span,
			 size_t *count_r, size_t *len_r);
/* http_webhook_status_parse - the status code of a response of which the
 * first LEN octets are DATA: 1 and *CODE_R (100-599) once its status line
 * (RFC 9112 4: "HTTP/1.x DDD", then anything up to CRLF) is whole, 0 while
 * it may still come, -1 when it is not one (or longer than 1024 octets) */
int http_webhook_status_parse(const char *data, size_t len, int *code_r);

/* ---- one POST on the loop (webhook-client.c) ------------------------------------------ */
struct event_base;
struct dns_resolver;
struct ssl_ctx_st;
struct http_webhook_post;
struct http_webhook_post_settings {
	unsigned timeout_ms;          /* resolve, connect, write and read the status line */
	size_t response_max;          /* octets of the answer read, at most */
	struct ssl_ctx_st *tls;       /* https: a client context that verifies (the caller's) */
	struct dns_resolver *dns;     /* host names (NULL: IP literals only) */
};
/* STATUS: the answer's status code (100-599), or -1 and ERROR (static text) */
typedef void http_webhook_post_fn(void *ctx, int status, const char *error);
/* http_webhook_post_start - POST LEN octets of BODY (JSON) to URL with the
 * extra header fields HEADERS ("Name: value\r\n"..., or NULL); DONE(CTX)
 * runs once, from the loop, unless the post is cancelled first; the post
 * is gone once DONE runs */
struct http_webhook_post *http_webhook_post_start(struct event_base *base,
						  const struct http_webhook_post_settings *settings,
						  const struct http_webhook_url *url,
						  const char *headers, const char *body, size_t len,
						  http_webhook_post_fn *done, void *ctx);
void http_webhook_post_cancel(struct http_webhook_post **post);

/* ---- the dispatcher (webhook-dispatch.c) ---------------------------------------------- */
/* It runs in the network process, on its loop: every [webhook] interval a
 * worker lists the webhooks that are on and reads each account's events
 * after its sent_id (at most batch_size); the loop posts each batch
 * (http_webhook_post_start) and, on a 2xx answer, a worker moves sent_id
 * to the batch's last event (store_webhook_advance); any other outcome is
 * retried after retry_initial seconds, doubled at each failure up to
 * retry_max, reading the same events again.  Delivery never waits for it:
 * it only reads the events table, on the workers. */
struct config;
struct pool;
struct store;
struct http_webhook_dispatcher;
struct ipc_client;
struct http_webhook_dispatcher_settings {
	const struct config *config;  /* [webhook], hostname */
	struct store *store;
	struct pool *pool;
	struct dns_resolver *dns;
	struct ssl_ctx_st *tls;       /* the caller's, alive until _free */
	struct ipc_client *keys;      /* signs the signed webhooks' batches (NULL: none
				       * can be signed: they wait) */
};
struct http_webhook_dispatcher *http_webhook_dispatcher_create(
	struct event_base *base, const struct http_webhook_dispatcher_settings *settings);
/* http_webhook_dispatcher_test - POST one made-up "processed" event to
 * URL, as the account's batches go (SendGrid's /v3/user/webhooks/event/
 * test); DONE(CTX) once, from the loop, as for http_webhook_post_start
 * (http_webhook_dispatcher_stop calls it with -1 for a post not done) */
void http_webhook_dispatcher_test(struct http_webhook_dispatcher *d,
				  const struct http_webhook_url *url, http_webhook_post_fn *done,
				  void *ctx);
/* http_webhook_dispatcher_key - ACCOUNT's signing key, from the keys
 * process: DONE(CTX, SPKI, LEN, NULL) with its SubjectPublicKeyInfo DER
 * (valid during the call), or DONE(CTX, NULL, 0, ERROR); from the loop,
 * never inside this call unless there is no keys process */
typedef void http_webhook_key_fn(void *ctx, const void *spki, size_t len, const char *error);
void http_webhook_dispatcher_key(struct http_webhook_dispatcher *d, const char *account,
				 http_webhook_key_fn *done, void *ctx);
/* http_webhook_dispatcher_stop - posts cancelled, no more rounds; before
 * pool_free (a job that ends later does nothing) */
void http_webhook_dispatcher_stop(struct http_webhook_dispatcher *d);
/* http_webhook_dispatcher_free - after pool_free */
void http_webhook_dispatcher_free(struct http_webhook_dispatcher **d);

#endif
