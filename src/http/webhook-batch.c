/* http/webhook-batch - what the event webhook posts (http/webhook.h): the
 * store's events as SendGrid's JSON array, and the status line of the
 * receiver's answer; no I/O. */
#include "http/webhook.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "store/store.h"

#define STATUS_LINE_MAX 1024

static const struct {
	const char *type;
	enum http_webhook_event event;
} TYPES[] = {
	{ "accepted", HTTP_WEBHOOK_PROCESSED },
	{ "delivered", HTTP_WEBHOOK_DELIVERED },
	{ "deferred", HTTP_WEBHOOK_DEFERRED },
	{ "bounced", HTTP_WEBHOOK_BOUNCE },
	{ "dropped", HTTP_WEBHOOK_DROPPED },
};

static json_t *event_json(const struct store_event *e, enum http_webhook_event event,
			  const char *hostname);
static void set_text(json_t *o, const char *name, const char *text);
static void set_status(json_t *o, const char *reply);

int http_webhook_event_of(const char *type)
{
	for (size_t i = 0; type && i < sizeof(TYPES) / sizeof(TYPES[0]); i++)
		if (strcmp(type, TYPES[i].type) == 0)
			return (int)TYPES[i].event;
	return -1;
}

/* set_text - NAME: TEXT, when TEXT is UTF-8 (a remote reply may not be:
 * then its bytes above 0x7f become '?') */
static void set_text(json_t *o, const char *name, const char *text)
{
	if (!text)
		return;
	json_t *v = json_string(text);
	if (!v) {
		char *copy = strdup(text);
		if (!copy)
			abort();
		for (char *p = copy; *p; p++)
			if ((unsigned char)*p >= 0x80)
				*p = '?';
		v = json_string(copy);
		free(copy);
	}
	json_object_set_new(o, name, v);
}

/* set_status - "status": the enhanced status code (RFC 3463) of REPLY
 * ("550 5.1.1 no such user"), when it has one */
static void set_status(json_t *o, const char *reply)
{
	const char *p = reply ? strchr(reply, ' ') : NULL;
	if (!p)
		return;
	p++;
	size_t n = strspn(p, "0123456789.");
	if (n < 5 || n > 11 || (p[0] != '2' && p[0] != '4' && p[0] != '5') || p[1] != '.')
		return;
	char status[12];
	memcpy(status, p, n);
	status[n] = '\0';
	json_object_set_new(o, "status", json_string(status));
}

static json_t *event_json(const struct store_event *e, enum http_webhook_event event,
			  const char *hostname)
{
	char id[24];
	snprintf(id, sizeof(id), "%" PRId64, e->id);
	json_t *o = json_object();
	set_text(o, "email", e->recipient);
	json_object_set_new(o, "timestamp", json_integer((json_int_t)e->time));
	json_object_set_new(o, "event", json_string(http_webhook_event_name(event)));
	json_object_set_new(o, "sg_event_id", json_string(id));
	if (e->queue_id) {
		set_text(o, "sg_message_id", e->queue_id);
		char *smtp_id = NULL;
		if (asprintf(&smtp_id, "<%s@%s>", e->queue_id, hostname) < 0)
			abort();
		set_text(o, "smtp-id", smtp_id);
		free(smtp_id);
	}
	if (event == HTTP_WEBHOOK_DELIVERED || event == HTTP_WEBHOOK_DEFERRED) {
		set_text(o, "response", e->reason);
	} else if (event == HTTP_WEBHOOK_BOUNCE) {
		set_text(o, "reason", e->reason);
		set_status(o, e->reason);
		json_object_set_new(o, "type", json_string("bounce"));
	} else if (event == HTTP_WEBHOOK_DROPPED) {
		set_text(o, "reason", e->reason);
	}
	return o;
}

char *http_webhook_batch(struct store_event *const *events, size_t n, uint32_t mask,
			 const char *hostname, size_t *count_r, size_t *len_r)
{
	json_t *array = json_array();
	for (size_t i = 0; i < n; i++) {
		int event = http_webhook_event_of(events[i]->type);
		if (event >= 0 && (mask & (1u << event)))
			json_array_append_new(array, event_json(events[i], event, hostname));
	}
	*count_r = json_array_size(array);
	*len_r = 0;
	char *text = NULL;
	if (*count_r > 0) {
		text = json_dumps(array, JSON_COMPACT);
		if (!text)
			abort();
		*len_r = strlen(text);
	}
	json_decref(array);
	return text;
}

int http_webhook_status_parse(const char *data, size_t len, int *code_r)
{
	static const char PREFIX[] = "HTTP/1.";
	size_t k = sizeof(PREFIX) - 1;
	for (size_t i = 0; i < len && i < k; i++)
		if (data[i] != PREFIX[i])
			return -1;
	/* "HTTP/1.x DDD" then a space or the end of the line */
	const char *line_end = memchr(data, '\n', len < STATUS_LINE_MAX ? len : STATUS_LINE_MAX);
	if (!line_end)
		return len >= STATUS_LINE_MAX ? -1 : 0;
	size_t n = (size_t)(line_end - data);
	if (n > 0 && data[n - 1] == '\r')
		n--;
	if (n < k + 5 || data[k] < '0' || data[k] > '9' || data[k + 1] != ' ')
		return -1;
	const char *c = data + k + 2;
	for (int i = 0; i < 3; i++)
		if (c[i] < '0' || c[i] > '9')
			return -1;
	if (n > k + 5 && c[3] != ' ')
		return -1;
	int code = (c[0] - '0') * 100 + (c[1] - '0') * 10 + (c[2] - '0');
	if (code < 100 || code > 599)
		return -1;
	*code_r = code;
	return 1;
}
