/* http/web-session - the session reader of the logged-in pages
 * (web-session.h), and POST /logout.  On the loop: the cookie and the
 * form are read (no store); on a worker: the session's row, the token's
 * check and the page's own work, in one job; on the loop again: the
 * answer. */
#include "http/web-session.h"
#include "http/web.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "config/config.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/markup.h"
#include "util/pool.h"
#include "util/xalloc.h"

static bool session_cookie(struct http_session *s, char secret[STORE_WEB_SECRET_LEN + 1]);
static bool request_form(struct http_session *s, struct http_web_request *r);
static bool token_matches(const char *sent, const char *csrf);
static void session_work(void *arg);
static void session_done(void *arg);
static void logout_work(struct http_web_request *r);
static void logout_done(struct http_session *s, struct http_web_request *r);

static const struct http_web_page LOGOUT_PAGE = {
	.name = "logout", .work = logout_work, .done = logout_done,
};

/* session_cookie - the session cookie's value, if it has a secret's form
 * (64 lower-case hex digits) */
static bool session_cookie(struct http_session *s, char secret[STORE_WEB_SECRET_LEN + 1])
{
	char *value = http_web_cookie(s, HTTP_WEB_SESSION_COOKIE);
	if (!value)
		return false;
	bool ok = strlen(value) == STORE_WEB_SECRET_LEN &&
		strspn(value, "0123456789abcdef") == STORE_WEB_SECRET_LEN;
	if (ok)
		memcpy(secret, value, STORE_WEB_SECRET_LEN + 1);
	OPENSSL_cleanse(value, strlen(value));
	free(value);
	return ok;
}

/* request_form - a POST's body or a GET's query into R->form, within
 * [web] form_fields and form_field_size; false once the 400 is answered
 * (a POST whose Origin names another site: 403) */
static bool request_form(struct http_session *s, struct http_web_request *r)
{
	const struct config_web *web = &s->server->config->web;
	const struct http_form_limits limits = { .fields = web->form_fields,
						 .field_size = web->form_field_size };
	const char *data = r->post ? (s->body ? s->body : "") : s->head + s->req.query.off;
	size_t len = r->post ? s->body_len : s->req.query.len;
	const char *error = NULL;
	if (r->post && !http_web_origin_is_ours(s)) {
		http_web_notice(s, NULL, 403, "Forbidden", "The form was sent from another site.",
				NULL);
		return false;
	}
	if (http_form_parse(data, len, &limits, &r->form, &error) == 0)
		return true;
	http_web_notice(s, NULL, 400, "Bad request", error, NULL);
	return false;
}

void http_web_session_run(struct http_session *s, const struct http_web_page *page, void *data)
{
	struct http_web_request *r = xcalloc(1, sizeof(*r));
	r->page = page;
	r->data = data;
	if (!s->server->store) {
		http_web_request_free(&r);
		http_web_notice(s, NULL, 503, "Try again later",
				"The pages are not available now.", NULL);
		return;
	}
	if (!session_cookie(s, r->secret)) {
		http_web_request_free(&r);
		http_web_redirect(s, "/login");
		return;
	}
	r->post = http_span_equals(s->head, s->req.method, "POST", false);
	if (!request_form(s, r)) {
		http_web_request_free(&r);
		return;
	}
	http_job_origin_init(&r->origin, s);
	r->now = time(NULL);
	pool_submit(s->server->pool, session_work, session_done, r);
}

/* token_matches - SENT is the session's CSRF token (constant time: the
 * comparison tells nothing of how much of it was right) */
static bool token_matches(const char *sent, const char *csrf)
{
	return sent && strlen(csrf) == STORE_WEB_SECRET_LEN &&
		strlen(sent) == STORE_WEB_SECRET_LEN &&
		CRYPTO_memcmp(sent, csrf, STORE_WEB_SECRET_LEN) == 0;
}

/* session_work - (worker) the session's row; then, a POST with its token,
 * or a GET, the page's work */
static void session_work(void *arg)
{
	struct http_web_request *r = arg;
	const char *error = NULL;
	r->rc = store_web_secret_get(r->origin.server->store, STORE_WEB_SESSION, r->secret, r->now,
				     &r->account, &r->csrf, &error);
	if (r->rc < 0)
		log_error("http-web", "session=%s page=%s error=\"%s\"", r->origin.sid,
			  r->page->name, error);
	if (r->rc != 0)
		return;
	r->forbidden = r->post && !token_matches(http_form_get(&r->form, "csrf"), r->csrf);
	if (!r->forbidden && r->page->work)
		r->page->work(r);
}

/* session_done - (loop) no session: 303 to /login, its cookie expired; a
 * bad token: 403; else the page's answer */
static void session_done(void *arg)
{
	struct http_web_request *r = arg;
	struct http_session *s = http_job_origin_session(&r->origin);
	if (!s || s->conn.dead) {
		http_web_request_free(&r);
		return;
	}
	if (r->rc == STORE_NOT_FOUND) {
		http_web_set_cookie(s, HTTP_WEB_SESSION_COOKIE, "", -1);
		http_web_request_free(&r);
		http_web_redirect(s, "/login");
	} else if (r->rc != 0) {
		http_web_request_free(&r);
		http_web_notice(s, NULL, 503, "Try again later",
				"The pages are not available now.", NULL);
	} else if (r->forbidden) {
		log_warn("http-web", "session=%s page=%s account=%s error=\"bad csrf token\"",
			 r->origin.sid, r->page->name, r->account);
		http_web_request_free(&r);
		http_web_notice(s, NULL, 403, "Forbidden", "The form was not sent from this"
				" session's page: open the page again and send it from there.",
				NULL);
	} else {
		http_web_request_free(&s->web);
		s->web = r;
		r->page->done(s, r);
	}
}

void http_web_redirect(struct http_session *s, const char *path)
{
	struct buf html;
	buf_init(&html);
	http_session_add_header(s, "Location", path);
	buf_append_str(&html, "<p><a href=\"");
	markup_escape(&html, path, strlen(path));
	buf_append_str(&html, "\">Continue</a></p>\n");
	http_web_respond(s, 303, "See other", &html);
}

void http_web_notice(struct http_session *s, const struct http_web_request *r, int status,
		     const char *title, const char *text, const char *back)
{
	struct buf html;
	buf_init(&html);
	if (r)
		http_web_nav(&html, r);
	http_web_message(&html, text);
	if (back) {
		buf_append_str(&html, "<p><a href=\"");
		http_web_text(&html, back);
		buf_append_str(&html, "\">Back</a></p>\n");
	}
	http_web_respond(s, status, title, &html);
}

void http_web_utc(char out[32], time_t t, const char *format)
{
	struct tm tm;
	gmtime_r(&t, &tm);
	if (strftime(out, 32, format, &tm) == 0)
		out[0] = '\0';
}

void http_web_text(struct buf *out, const char *text)
{
	markup_escape(out, text, strlen(text));
}

void http_web_csrf_field(struct buf *out, const struct http_web_request *r)
{
	buf_append_str(out, "<input type=\"hidden\" name=\"csrf\" value=\"");
	markup_escape(out, r->csrf, strlen(r->csrf));
	buf_append_str(out, "\">\n");
}

void http_web_nav(struct buf *out, const struct http_web_request *r)
{
	buf_append_str(out, "<nav aria-label=\"Dashboard\"><ul class=\"nav\">"
		       "<li><a href=\"/dashboard\">Overview</a></li>"
		       "<li><a href=\"/dashboard/activity\">Activity</a></li>"
		       "<li><a href=\"/dashboard/api-keys\">API keys</a></li>"
		       "<li><a href=\"/dashboard/senders\">Senders</a></li>"
		       "<li><a href=\"/dashboard/domains\">Domains</a></li>"
		       "<li><a href=\"/dashboard/suppressions\">Suppressions</a></li>"
		       "<li><a href=\"/dashboard/webhook\">Webhook</a></li>"
		       "<li><a href=\"/dashboard/sandbox\">Sandbox</a></li>");
	if (http_web_is_operator(r->origin.server->config, r->account))
		buf_append_str(out, "<li><a href=\"/operator\">Operator</a></li>");
	buf_append_str(out, "<li><form method=\"post\" action=\"/logout\">\n");
	http_web_csrf_field(out, r);
	buf_append_str(out, "<button type=\"submit\">Log out</button></form></li></ul></nav>\n"
		       "<p>Logged in as <strong>");
	markup_escape(out, r->account, strlen(r->account));
	buf_append_str(out, "</strong></p>\n");
}

void http_route_logout(struct http_session *s)
{
	http_web_session_run(s, &LOGOUT_PAGE, NULL);
}

/* logout_work - (worker) the session's row deleted: the cookie opens
 * nothing any more, whoever holds a copy */
static void logout_work(struct http_web_request *r)
{
	const char *error = NULL;
	if (store_web_secret_remove(r->origin.server->store, STORE_WEB_SESSION, r->secret, NULL,
				    &error) < 0) {
		r->rc = -1;
		log_error("http-web", "session=%s page=logout error=\"%s\"", r->origin.sid, error);
	}
}

static void logout_done(struct http_session *s, struct http_web_request *r)
{
	if (r->rc != 0) {
		http_web_notice(s, r, 503, "Try again later", "You could not be logged out now:"
				" try again.", NULL);
		return;
	}
	log_info("http-web-logout", "session=%s account=%s", r->origin.sid, r->account);
	http_web_set_cookie(s, HTTP_WEB_SESSION_COOKIE, "", -1);
	http_web_redirect(s, "/login");
}

void http_web_request_free(struct http_web_request **rp)
{
	struct http_web_request *r = *rp;
	if (!r)
		return;
	*rp = NULL;
	OPENSSL_cleanse(r->secret, sizeof(r->secret));
	http_form_clear(&r->form);
	free(r->account);
	if (r->csrf)
		OPENSSL_cleanse(r->csrf, strlen(r->csrf));
	free(r->csrf);
	if (r->page && r->page->free_data)
		r->page->free_data(r->data);
	else
		free(r->data);
	free(r);
}
