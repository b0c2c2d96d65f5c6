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

#endif
