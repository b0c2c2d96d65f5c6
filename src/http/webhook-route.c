/* http/webhook-route - SendGrid v3's event webhook settings (docs/http.md
 * "Event webhook"): GET and PATCH of /v3/user/webhooks/event/settings for
 * the account of the request's API key (scopes
 * "user.webhooks.event.settings.read" and ".update").  The body is read and
 * the store asked on a worker; the answer comes from the loop, finding the
 * session by id.  POST /v3/user/webhooks/event/test (scope
 * "user.webhooks.event.test.create") posts one made-up event to the body's
 * URL (read on a worker) through the dispatcher, and answers 204 once the
 * receiver has answered 2xx, 400 on the field "url" otherwise.
 * GET and PATCH ({"enabled": BOOL}) of /v3/user/webhooks/event/settings/
 * signed (scopes "user.webhooks.event.settings.signed.read" and
 * ".update") turn the batches' signatures on and off; the answer's
 * public_key (the account's, from the keys process, asked on the loop) is
 * "" while they are off. */
#include "http/session.h"
#include "http/webhook.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy.h"
#include "store/store.h"
#include "util/base64.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/pool.h"
#include "util/xalloc.h"

#define SCOPE_READ "user.webhooks.event.settings.read"
#define SCOPE_UPDATE "user.webhooks.event.settings.update"
#define SCOPE_TEST "user.webhooks.event.test.create"
#define SCOPE_SIGNED_READ "user.webhooks.event.settings.signed.read"
#define SCOPE_SIGNED_UPDATE "user.webhooks.event.settings.signed.update"

struct test_job {
	struct http_job_origin origin;   /* the request it answers */
	char *account;
	char *body;
	size_t body_len;
	struct http_webhook_url url;
	const char *error, *field;   /* the body's, static */
};

struct hook_job {
	struct http_job_origin origin;   /* the request it answers */
	char *account;
	bool update;                 /* PATCH */
	bool sign_route;             /* .../settings/signed */
	bool sign;                   /* the webhook is signed (as stored now) */
	char *body;
	size_t body_len;
	int status;                  /* the answer */
	json_t *answer;
};

static void hook_start(struct http_session *s, bool update, bool sign_route);
static void hook_read_authorized(struct http_session *s);
static void hook_update_authorized(struct http_session *s);
static void signed_read_authorized(struct http_session *s);
static void signed_update_authorized(struct http_session *s);
static void hook_submit(struct http_session *s, bool update, bool sign_route);
static void hook_work(void *arg);
static void hook_done(void *arg);
static void hook_job_free(struct hook_job *j);
static void signed_key_cb(void *ctx, const void *spki, size_t len, const char *error);
static int hook_current(struct hook_job *j, struct http_webhook_settings *settings);
static json_t *settings_json(const struct http_webhook_settings *settings);
static void hook_fail(struct hook_job *j, int status, const char *message, const char *field);
static void test_authorized(struct http_session *s);
static void test_work(void *arg);
static void test_parsed(void *arg);
static void test_posted(void *ctx, int status, const char *error);
static void test_answer(struct test_job *j, int status, const char *message);

void http_route_webhook_settings_get(struct http_session *s)
{
	hook_start(s, false, false);
}

void http_route_webhook_signed_get(struct http_session *s)
{
	hook_start(s, false, true);
}

void http_route_webhook_signed_update(struct http_session *s)
{
	hook_start(s, true, true);
}

void http_route_webhook_settings_update(struct http_session *s)
{
	hook_start(s, true, false);
}

/* hook_start - UPDATE: PATCH only (PUT gets 405) */
static void hook_start(struct http_session *s, bool update, bool sign_route)
{
	if (update && !http_span_equals(s->head, s->req.method, "PATCH", false)) {
		http_session_add_header(s, "Allow", "GET, HEAD, PATCH");
		http_session_respond_error(s, 405, "method not allowed", NULL);
		return;
	}
	if (!s->server->store || (sign_route && !s->server->webhook)) {
		http_session_respond_error(s, 503, "webhooks are not available", NULL);
		return;
	}
	if (sign_route)
		http_session_authorize(s, update ? SCOPE_SIGNED_UPDATE : SCOPE_SIGNED_READ,
				       update ? signed_update_authorized : signed_read_authorized);
	else
		http_session_authorize(s, update ? SCOPE_UPDATE : SCOPE_READ,
				       update ? hook_update_authorized : hook_read_authorized);
}

static void hook_read_authorized(struct http_session *s)
{
	hook_submit(s, false, false);
}

static void hook_update_authorized(struct http_session *s)
{
	hook_submit(s, true, false);
}

static void signed_read_authorized(struct http_session *s)
{
	hook_submit(s, false, true);
}

static void signed_update_authorized(struct http_session *s)
{
	hook_submit(s, true, true);
}

static void hook_submit(struct http_session *s, bool update, bool sign_route)
{
	struct hook_job *j = xcalloc(1, sizeof(*j));
	http_job_origin_init(&j->origin, s);
	j->account = xstrdup(s->account->name);
	j->update = update;
	j->sign_route = sign_route;
	j->body = http_session_take_body(s, &j->body_len);
	pool_submit(s->server->pool, hook_work, hook_done, j);
}

static void hook_fail(struct hook_job *j, int status, const char *message, const char *field)
{
	j->status = status;
	json_decref(j->answer);
	j->answer = http_error_body(message, field);
}

/* hook_current - (worker) the account's settings, or the defaults (off, no
 * URL, no event) when it has never set them; -1 when the store fails */
static int hook_current(struct hook_job *j, struct http_webhook_settings *settings)
{
	struct store_webhook *h = NULL;
	const char *error = NULL;
	memset(settings, 0, sizeof(*settings));
	int rc = store_webhook_get(j->origin.server->store, j->account, &h, &error);
	if (rc == STORE_NOT_FOUND)
		return 0;
	if (rc != 0) {
		log_error("store-failed", "op=webhook_get session=%s error=\"%s\"", j->origin.sid, error);
		return -1;
	}
	settings->enabled = h->enabled;
	snprintf(settings->url, sizeof(settings->url), "%s", h->url);
	settings->events = h->events;
	j->sign = h->sign;
	store_webhook_free(&h);
	return 0;
}

/* settings_json - SendGrid's shape: enabled, url and each event's boolean */
static json_t *settings_json(const struct http_webhook_settings *settings)
{
	json_t *o = json_pack("{s:b, s:s}", "enabled", settings->enabled, "url", settings->url);
	for (int i = 0; i < HTTP_WEBHOOK_EVENTS; i++)
		json_object_set_new(o, http_webhook_event_name(i),
				    json_boolean(settings->events & (1u << i)));
	return o;
}

/* hook_work - (worker) read, or apply the PATCH body and store */
static void hook_work(void *arg)
{
	struct hook_job *j = arg;
	struct http_webhook_settings settings;
	const char *error = NULL, *field = NULL;
	if (hook_current(j, &settings) != 0) {
		hook_fail(j, 503, "the store is not available now, try again later", NULL);
		return;
	}
	if (j->update) {
		int rc = j->sign_route ?
			http_webhook_signed_parse(j->body ? j->body : "", j->body_len, &j->sign,
						  &error, &field) :
			http_webhook_settings_parse(j->body ? j->body : "", j->body_len, &settings,
						    &error, &field);
		if (rc != 0) {
			hook_fail(j, 400, error, field);
			return;
		}
		struct store_webhook h = { .enabled = settings.enabled, .url = settings.url,
					   .events = settings.events, .sign = j->sign };
		if (store_webhook_set(j->origin.server->store, j->account, &h, &error) != 0) {
			log_error("store-failed", "op=webhook_set session=%s error=\"%s\"", j->origin.sid,
				  error);
			hook_fail(j, 503, "the store is not available now, try again later", NULL);
			return;
		}
	}
	j->status = 200;
	j->answer = j->sign_route ? NULL : settings_json(&settings);
}

/* hook_done - (loop) the answer, if the client is still there; a signed
 * webhook's public key first */
static void hook_done(void *arg)
{
	struct hook_job *j = arg;
	if (j->sign_route && j->status == 200) {
		if (!j->sign) {
			j->answer = json_pack("{s:s}", "public_key", "");
		} else {
			http_webhook_dispatcher_key(j->origin.server->webhook, j->account, signed_key_cb, j);
			return;
		}
	}
	struct http_session *s = http_job_origin_session(&j->origin);
	if (s && !s->conn.dead) {
		log_info("http-webhook-settings", "session=%s account=%s op=%s%s status=%d", j->origin.sid,
			 j->account, j->sign_route ? "signed-" : "", j->update ? "update" : "read",
			 j->status);
		http_session_respond(s, j->status, j->answer);
		j->answer = NULL;
	}
	hook_job_free(j);
}

/* signed_key_cb - (loop) the account's public key: {"public_key": BASE64
 * of its SubjectPublicKeyInfo DER}, or 503 */
static void signed_key_cb(void *ctx, const void *spki, size_t len, const char *error)
{
	struct hook_job *j = ctx;
	if (!spki) {
		log_error("http-webhook-key-failed", "session=%s account=%s error=\"%s\"", j->origin.sid,
			  j->account, error);
		hook_fail(j, 503, "the signing key is not available now, try again later", NULL);
		j->sign_route = false;   /* answered as it is */
		hook_done(j);
		return;
	}
	struct buf b64;
	buf_init(&b64);
	base64_encode(spki, len, &b64);
	j->answer = json_pack("{s:s}", "public_key", b64.data);
	buf_free(&b64);
	j->sign_route = false;
	hook_done(j);
}

static void hook_job_free(struct hook_job *j)
{
	json_decref(j->answer);
	free(j->account);
	free(j->body);
	free(j);
}

void http_route_webhook_test(struct http_session *s)
{
	if (!s->server->webhook) {
		http_session_respond_error(s, 503, "webhooks are not available", NULL);
		return;
	}
	http_session_authorize(s, SCOPE_TEST, test_authorized);
}

static void test_authorized(struct http_session *s)
{
	struct test_job *j = xcalloc(1, sizeof(*j));
	http_job_origin_init(&j->origin, s);
	j->account = xstrdup(s->account->name);
	j->body = http_session_take_body(s, &j->body_len);
	pool_submit(s->server->pool, test_work, test_parsed, j);
}

/* test_work - (worker) the body's URL: {"url": "..."}, other fields
 * passed over */
static void test_work(void *arg)
{
	struct test_job *j = arg;
	struct http_webhook_settings settings = { 0 };
	const char *error = NULL, *field = NULL;
	if (http_webhook_settings_parse(j->body ? j->body : "", j->body_len, &settings, &error,
					&field) != 0) {
		j->error = error;
		j->field = field;
	} else if (settings.url[0] == '\0' ||
		   http_webhook_url_parse(settings.url, strlen(settings.url), &j->url, &error) != 0) {
		j->error = settings.url[0] ? error : "a URL is required";
		j->field = "url";
	}
}

/* test_answer - STATUS (204, or an error with MESSAGE) if the client is
 * still there; then J is done */
static void test_answer(struct test_job *j, int status, const char *message)
{
	struct http_session *s = http_job_origin_session(&j->origin);
	if (s && !s->conn.dead) {
		log_info("http-webhook-test", "session=%s account=%s status=%d", j->origin.sid, j->account,
			 status);
		if (status == 204)
			http_session_respond(s, 204, NULL);
		else
			http_session_respond_error(s, status, message, status == 400 ? "url" : NULL);
	}
	free(j->account);
	free(j->body);
	free(j);
}

/* test_parsed - (loop) post the test event, or answer 400 */
static void test_parsed(void *arg)
{
	struct test_job *j = arg;
	if (j->error) {
		struct http_session *s = http_job_origin_session(&j->origin);
		if (s && !s->conn.dead)
			http_session_respond_error(s, 400, j->error, j->field);
		free(j->account);
		free(j->body);
		free(j);
		return;
	}
	http_webhook_dispatcher_test(j->origin.server->webhook, &j->url, test_posted, j);
}

static void test_posted(void *ctx, int status, const char *error)
{
	struct test_job *j = ctx;
	char message[128];
	if (status >= 200 && status < 300) {
		test_answer(j, 204, NULL);
		return;
	}
	if (status > 0)
		snprintf(message, sizeof(message), "the test post was answered %d", status);
	else
		snprintf(message, sizeof(message), "the test post failed: %s", error);
	test_answer(j, 400, message);
}
