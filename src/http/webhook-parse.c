/* http/webhook-parse - the event webhook's settings (PATCH bodies) and URL
 * (http/webhook.h); no I/O. */
#include "http/webhook.h"

#include <arpa/inet.h>
#include <string.h>

#include <jansson.h>

static const char *const EVENT_NAMES[HTTP_WEBHOOK_EVENTS] = {
	[HTTP_WEBHOOK_PROCESSED] = "processed",
	[HTTP_WEBHOOK_DELIVERED] = "delivered",
	[HTTP_WEBHOOK_DEFERRED] = "deferred",
	[HTTP_WEBHOOK_BOUNCE] = "bounce",
	[HTTP_WEBHOOK_DROPPED] = "dropped",
	[HTTP_WEBHOOK_OPEN] = "open",
	[HTTP_WEBHOOK_CLICK] = "click",
	[HTTP_WEBHOOK_SPAM_REPORT] = "spam_report",
	[HTTP_WEBHOOK_UNSUBSCRIBE] = "unsubscribe",
	[HTTP_WEBHOOK_GROUP_UNSUBSCRIBE] = "group_unsubscribe",
	[HTTP_WEBHOOK_GROUP_RESUBSCRIBE] = "group_resubscribe",
};

static int object_load(const char *body, size_t len, json_t **root_r, const char **error_r);
static int settings_events(json_t *root, uint32_t *events, const char **error_r,
			   const char **field_r);
static int settings_url(json_t *root, char *url, const char **error_r, const char **field_r);
static int url_authority(const char *p, const char *end, struct http_webhook_url *out,
			 const char **error_r);
static bool host_is_loopback(const char *host);

const char *http_webhook_event_name(enum http_webhook_event event)
{
	return (unsigned)event < HTTP_WEBHOOK_EVENTS ? EVENT_NAMES[event] : "?";
}

/* object_load - BODY as a JSON object (duplicate names refused) */
static int object_load(const char *body, size_t len, json_t **root_r, const char **error_r)
{
	json_error_t jerr;
	*root_r = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (json_is_object(*root_r))
		return 0;
	json_decref(*root_r);
	*root_r = NULL;
	*error_r = "the body is not a JSON object";
	return -1;
}

/* settings_events - each event's field of ROOT (a boolean, or null) into
 * *EVENTS */
static int settings_events(json_t *root, uint32_t *events, const char **error_r,
			   const char **field_r)
{
	for (int i = 0; i < HTTP_WEBHOOK_EVENTS; i++) {
		json_t *v = json_object_get(root, EVENT_NAMES[i]);
		if (!v || json_is_null(v))
			continue;
		if (!json_is_boolean(v)) {
			*error_r = "must be a boolean";
			*field_r = EVENT_NAMES[i];
			return -1;
		}
		if (json_is_true(v))
			*events |= 1u << i;
		else
			*events &= ~(1u << i);
	}
	return 0;
}

/* settings_url - ROOT's "url" (a URL, "", or null: unchanged) into URL */
static int settings_url(json_t *root, char *url, const char **error_r, const char **field_r)
{
	json_t *v = json_object_get(root, "url");
	if (!v || json_is_null(v))
		return 0;
	struct http_webhook_url parsed;
	size_t n = json_string_length(v);
	if (!json_is_string(v) ||
	    (n > 0 && http_webhook_url_parse(json_string_value(v), n, &parsed, error_r) != 0)) {
		if (!json_is_string(v))
			*error_r = "must be a string";
		*field_r = "url";
		return -1;
	}
	memcpy(url, json_string_value(v), n + 1);
	return 0;
}

int http_webhook_settings_parse(const char *body, size_t len,
				struct http_webhook_settings *settings, const char **error_r,
				const char **field_r)
{
	*field_r = NULL;
	json_t *root;
	if (object_load(body, len, &root, error_r) != 0)
		return -1;
	struct http_webhook_settings s = *settings;
	json_t *enabled = json_object_get(root, "enabled");
	int rc = -1;
	if (enabled && !json_is_null(enabled) && !json_is_boolean(enabled)) {
		*error_r = "must be a boolean";
		*field_r = "enabled";
	} else if (settings_events(root, &s.events, error_r, field_r) == 0 &&
		   settings_url(root, s.url, error_r, field_r) == 0) {
		if (enabled && !json_is_null(enabled))
			s.enabled = json_is_true(enabled);
		if (s.enabled && s.url[0] == '\0') {
			*error_r = "a URL is required to enable the webhook";
			*field_r = "url";
		} else {
			*settings = s;
			rc = 0;
		}
	}
	json_decref(root);
	return rc;
}

int http_webhook_signed_parse(const char *body, size_t len, bool *enabled_r,
			      const char **error_r, const char **field_r)
{
	*field_r = NULL;
	json_t *root;
	if (object_load(body, len, &root, error_r) != 0)
		return -1;
	json_t *enabled = json_object_get(root, "enabled");
	int rc = -1;
	if (!json_is_boolean(enabled)) {
		*error_r = "must be a boolean";
		*field_r = "enabled";
	} else {
		*enabled_r = json_is_true(enabled);
		rc = 0;
	}
	json_decref(root);
	return rc;
}

/* host_is_loopback - HOST is "localhost", an address of 127.0.0.0/8 or ::1 */
static bool host_is_loopback(const char *host)
{
	unsigned char a[16];
	if (strcmp(host, "localhost") == 0)
		return true;
	if (inet_pton(AF_INET, host, a) == 1)
		return a[0] == 127;
	return inet_pton(AF_INET6, host, a) == 1 && memcmp(a, &in6addr_loopback, 16) == 0;
}

/* url_authority - P..END ("host[:port]" or "[v6][:port]") into OUT's host
 * and port */
static int url_authority(const char *p, const char *end, struct http_webhook_url *out,
			 const char **error_r)
{
	const char *host = p, *host_end;
	*error_r = "the URL's host is not valid";
	if (p < end && *p == '[') {
		host = ++p;
		while (p < end && *p != ']')
			p++;
		if (p == end)
			return -1;
		host_end = p++;
	} else {
		while (p < end && *p != ':')
			p++;
		host_end = p;
		for (const char *c = host; c < host_end; c++)
			if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
			      (*c >= '0' && *c <= '9') || *c == '-' || *c == '.'))
				return -1;
	}
	size_t n = (size_t)(host_end - host);
	if (n == 0 || n > HTTP_WEBHOOK_HOST_MAX)
		return -1;
	memcpy(out->host, host, n);
	out->host[n] = '\0';
	unsigned char a[16];
	if (host[-1] == '[' && inet_pton(AF_INET6, out->host, a) != 1)
		return -1;
	out->port = out->tls ? 443 : 80;
	if (p == end)
		return 0;
	*error_r = "the URL's port is not valid";
	if (*p++ != ':' || p == end || end - p > 5)
		return -1;
	unsigned port = 0;
	for (; p < end; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		port = port * 10 + (unsigned)(*p - '0');
	}
	if (port == 0 || port > 65535)
		return -1;
	out->port = (uint16_t)port;
	return 0;
}

int http_webhook_url_parse(const char *url, size_t len, struct http_webhook_url *out,
			   const char **error_r)
{
	static const char HTTP[] = "http://", HTTPS[] = "https://";
	memset(out, 0, sizeof(*out));
	*error_r = "the URL is not valid";
	if (len == 0 || len > HTTP_WEBHOOK_URL_MAX)
		return -1;
	for (size_t i = 0; i < len; i++)
		if (url[i] <= 0x20 || url[i] >= 0x7f || url[i] == '#' || url[i] == '@')
			return -1;   /* no fragment, no user information */
	const char *p;
	if (len > sizeof(HTTPS) - 1 && strncmp(url, HTTPS, sizeof(HTTPS) - 1) == 0) {
		out->tls = true;
		p = url + sizeof(HTTPS) - 1;
	} else if (len > sizeof(HTTP) - 1 && strncmp(url, HTTP, sizeof(HTTP) - 1) == 0) {
		p = url + sizeof(HTTP) - 1;
	} else {
		*error_r = "the URL must start with https:// (http:// for a loopback address)";
		return -1;
	}
	const char *end = url + len, *path = p;
	while (path < end && *path != '/' && *path != '?')
		path++;
	if (url_authority(p, path, out, error_r) != 0)
		return -1;
	out->loopback = host_is_loopback(out->host);
	if (!out->tls && !out->loopback) {
		*error_r = "the URL must start with https:// (http:// for a loopback address)";
		return -1;
	}
	size_t n = (size_t)(end - path);
	if (n == 0 || *path == '?')
		out->target[0] = '/';
	memcpy(out->target + (n == 0 || *path == '?'), path, n);
	return 0;
}
