/* http/web-dash-webhook - the dashboard's event webhook page (docs/web.md):
 * GET /dashboard/webhook shows the account's event webhook (http.md,
 * "Event webhook") as a form: on or off, its URL, which of the events
 * Petrel makes it posts, signed or not; POST /dashboard/webhook (csrf)
 * saves it as PATCH /v3/user/webhooks/event/settings would: the URL is
 * checked by http_webhook_url_parse (https, or http to a loopback host),
 * a webhook turned on needs one, and the events the form does not show
 * (open, click, ...) are kept as they were.  A refused form is answered
 * 400 with the reason and nothing saved; a saved one 303 back.  The
 * store's work runs on the session's worker job (web-session.h). */
#include "http/web-session.h"
#include "http/web.h"
#include "http/webhook.h"

#include <stdlib.h>
#include <string.h>

#include "store/store.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/xalloc.h"

#define WEBHOOK_PAGE "/dashboard/webhook"
/* the events Petrel makes, the form's checkboxes */
#define WEBHOOK_FORM_EVENTS 5

struct webhook_data {
	struct store_webhook *hook;   /* as stored (or as the form had it, refused) */
	int rc;                       /* -1: the store failed */
	const char *refused;          /* why the form was not saved (static) */
};

static void webhook_work(struct http_web_request *r);
static void webhook_done(struct http_session *s, struct http_web_request *r);
static int webhook_read(struct http_web_request *r, struct webhook_data *d);
static const char *webhook_from_form(const struct http_form *form, struct store_webhook *hook);
static void render_form(struct buf *out, const struct http_web_request *r,
			const struct store_webhook *hook);
static void webhook_data_free(void *data);

static const struct http_web_page WEBHOOK = {
	.name = "webhook", .work = webhook_work, .done = webhook_done,
	.free_data = webhook_data_free,
};

void http_route_web_webhook(struct http_session *s)
{
	http_web_session_run(s, &WEBHOOK, xcalloc(1, sizeof(struct webhook_data)));
}

/* webhook_work - (worker) the webhook as stored; a POST's form checked,
 * applied to it and saved */
static void webhook_work(struct http_web_request *r)
{
	struct webhook_data *d = r->data;
	const char *error = NULL;
	if (webhook_read(r, d) != 0 || !r->post)
		return;
	d->refused = webhook_from_form(&r->form, d->hook);
	if (d->refused)
		return;
	if (store_webhook_set(r->origin.server->store, r->account, d->hook, &error) != 0) {
		d->rc = -1;
		log_error("http-web", "session=%s page=webhook account=%s error=\"%s\"",
			  r->origin.sid, r->account, error);
		return;
	}
	log_info("http-web", "session=%s page=webhook account=%s saved enabled=%s",
		 r->origin.sid, r->account, d->hook->enabled ? "yes" : "no");
}

/* webhook_read - the account's webhook into d->hook (all off when it never
 * had one); -1 (d->rc) when the store fails */
static int webhook_read(struct http_web_request *r, struct webhook_data *d)
{
	const char *error = NULL;
	int rc = store_webhook_get(r->origin.server->store, r->account, &d->hook, &error);
	if (rc == STORE_NOT_FOUND) {
		d->hook = xcalloc(1, sizeof(*d->hook));
		d->hook->url = xstrdup("");
		return 0;
	}
	if (rc != 0) {
		d->rc = -1;
		log_error("http-web", "session=%s page=webhook account=%s error=\"%s\"",
			  r->origin.sid, r->account, error);
	}
	return rc == 0 ? 0 : -1;
}

/* webhook_from_form - FORM's fields applied to HOOK: NULL, or why they
 * cannot be saved (HOOK then shows the form as it was sent) */
static const char *webhook_from_form(const struct http_form *form, struct store_webhook *hook)
{
	const char *url = http_form_get(form, "url");
	url = url ? url : "";
	free(hook->url);
	hook->url = xstrdup(url);
	hook->enabled = http_form_get(form, "enabled") != NULL;
	hook->sign = http_form_get(form, "signed") != NULL;
	for (int i = 0; i < WEBHOOK_FORM_EVENTS; i++) {
		if (http_form_get(form, http_webhook_event_name((enum http_webhook_event)i)))
			hook->events |= 1u << i;
		else
			hook->events &= ~(1u << i);
	}
	struct http_webhook_url parsed;
	const char *error = NULL;
	if (url[0] && http_webhook_url_parse(url, strlen(url), &parsed, &error) != 0)
		return error;
	if (hook->enabled && !url[0])
		return "a URL is required to turn the webhook on";
	return NULL;
}

static void webhook_done(struct http_session *s, struct http_web_request *r)
{
	struct webhook_data *d = r->data;
	if (d->rc != 0) {
		http_web_notice(s, r, 503, "Try again later",
				"The event webhook cannot be read or saved now.", WEBHOOK_PAGE);
		return;
	}
	if (r->post && !d->refused) {
		http_web_redirect(s, WEBHOOK_PAGE);
		return;
	}
	struct buf html;
	buf_init(&html);
	http_web_nav(&html, r);
	if (d->refused) {
		buf_append_str(&html, "<p id=\"refused\" role=\"alert\">Not saved: ");
		http_web_text(&html, d->refused);
		buf_append_str(&html, ".</p>\n");
	}
	render_form(&html, r, d->hook);
	http_web_respond(s, d->refused ? 400 : 200, "Event webhook", &html);
}

/* render_form - the webhook as a form, each field labelled */
static void render_form(struct buf *out, const struct http_web_request *r,
			const struct store_webhook *hook)
{
	buf_append_str(out, "<p>Petrel posts what happens to this account's mail to this URL,"
		       " in batches, as SendGrid's event webhook does (a JSON array; retried"
		       " with a growing delay while the receiver fails). Signed batches carry"
		       " <code>X-Twilio-Email-Event-Webhook-Signature</code>; the public key to"
		       " check it is the answer of <code>GET"
		       " /v3/user/webhooks/event/settings/signed</code>.</p>\n"
		       "<form method=\"post\" action=\"" WEBHOOK_PAGE "\">\n");
	http_web_csrf_field(out, r);
	buf_printf(out, "<label><input type=\"checkbox\" id=\"enabled\" name=\"enabled\"%s> On"
		   "</label>\n<label for=\"url\">URL (https, or http to this machine)</label>\n"
		   "<input id=\"url\" name=\"url\" type=\"url\" maxlength=\"%d\" value=\"",
		   hook->enabled ? " checked" : "", HTTP_WEBHOOK_URL_MAX);
	http_web_text(out, hook->url);
	buf_append_str(out, "\">\n<fieldset><legend>Events</legend>\n");
	for (int i = 0; i < WEBHOOK_FORM_EVENTS; i++) {
		const char *name = http_webhook_event_name((enum http_webhook_event)i);
		buf_printf(out, "<label><input type=\"checkbox\" id=\"%s\" name=\"%s\"%s> %s</label>\n",
			   name, name, hook->events & (1u << i) ? " checked" : "", name);
	}
	buf_printf(out, "</fieldset>\n<label><input type=\"checkbox\" id=\"signed\" name=\"signed\"%s>"
		   " Signed</label>\n<button type=\"submit\">Save</button>\n</form>\n",
		   hook->sign ? " checked" : "");
}

static void webhook_data_free(void *data)
{
	struct webhook_data *d = data;
	store_webhook_free(&d->hook);
	free(d);
}
