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
			  const char *email, size_t part, const char *hostname);
static void set_text(json_t *o, const char *name, const char *text);
static void set_status(json_t *o, const char *reply);
static void set_message_fields(json_t *o, const struct store_event *e);
static size_t event_parts(const struct store_event *e, uint32_t mask);
static const char *recipient_line(const char *lines, size_t k);

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

/* set_message_fields - what E's message keeps (store_event): "category"
 * (an array) and each custom arg as a field of its own, SendGrid's
 * fields first (a custom arg named like one is passed over) */
static void set_message_fields(json_t *o, const struct store_event *e)
{
	json_t *categories = e->categories ? json_loads(e->categories, 0, NULL) : NULL;
	if (json_is_array(categories))
		json_object_set(o, "category", categories);
	json_decref(categories);
	json_t *args = e->custom_args ? json_loads(e->custom_args, 0, NULL) : NULL;
	const char *name;
	json_t *value;
	if (json_is_object(args))
		json_object_foreach(args, name, value)
			if (!json_object_get(o, name))
				json_object_set(o, name, value);
	json_decref(args);
}

/* event_json - E as SendGrid's EVENT, for the recipient EMAIL (NULL:
 * E's); PART (1, 2, ...) of an event posted once per recipient, its id
 * "ID-PART" (sg_event_id is unique per posted event), else 0 */
static json_t *event_json(const struct store_event *e, enum http_webhook_event event,
			  const char *email, size_t part, const char *hostname)
{
	char id[48];
	if (part > 0)
		snprintf(id, sizeof(id), "%" PRId64 "-%zu", e->id, part);
	else
		snprintf(id, sizeof(id), "%" PRId64, e->id);
	json_t *o = json_object();
	set_text(o, "email", email ? email : e->recipient);
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
	if (event == HTTP_WEBHOOK_DEFERRED && e->attempt > 0) {
		char attempt[16];   /* a string in SendGrid's posts */
		snprintf(attempt, sizeof(attempt), "%d", e->attempt);
		json_object_set_new(o, "attempt", json_string(attempt));
	}
	set_message_fields(o, e);
	return o;
}

/* event_parts - how many events of the batch E makes: none when MASK does
 * not take it; an acceptance with its recipients, one "processed" each */
static size_t event_parts(const struct store_event *e, uint32_t mask)
{
	int event = http_webhook_event_of(e->type);
	if (event < 0 || !(mask & (1u << event)))
		return 0;
	if (event != HTTP_WEBHOOK_PROCESSED || !e->recipients)
		return 1;
	size_t n = 0;
	for (const char *p = e->recipients; (p = strchr(p, '\n')) != NULL; p++)
		n++;
	return n > 0 ? n : 1;
}

/* recipient_line - where line K of LINES (LF after each) starts, or NULL
 * when there is none (an acceptance recorded without recipients) */
static const char *recipient_line(const char *lines, size_t k)
{
	const char *p = lines;
	for (size_t i = 0; p && i < k; i++) {
		p = strchr(p, '\n');
		p = p ? p + 1 : NULL;
	}
	return p;
}

char *http_webhook_batch(struct store_event *const *events, size_t n, uint32_t mask,
			 const char *hostname, size_t max, struct http_webhook_batch_span *span,
			 size_t *count_r, size_t *len_r)
{
	json_t *array = json_array();
	size_t first = span->skip;
	span->events = 0;
	span->part = 0;
	for (size_t i = 0; i < n; i++, first = 0) {
		size_t parts = event_parts(events[i], mask), k = first;
		int event = http_webhook_event_of(events[i]->type);
		const char *line = event == HTTP_WEBHOOK_PROCESSED && events[i]->recipients
			? recipient_line(events[i]->recipients, k) : NULL;
		for (; k < parts && json_array_size(array) < max; k++) {
			const char *end = line ? strchr(line, '\n') : NULL;
			char *email = end ? strndup(line, (size_t)(end - line)) : NULL;
			if (end && !email)
				abort();
			json_array_append_new(array, event_json(events[i], event, email,
								email ? k + 1 : 0, hostname));
			free(email);
			line = end ? end + 1 : NULL;
		}
		if (k < parts) {   /* full: the rest of it in the next batch */
			span->part = k;
			break;
		}
		span->events++;
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
