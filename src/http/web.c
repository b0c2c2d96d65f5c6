/* http/web - the web pages' shared parts (http/web.h, docs/web.md),
 * written with the layout of http/page.h: the answer, the cookies, the
 * pre-login CSRF token (double submit: a hidden field and a cookie, new on
 * each form), the reading of a pre-login POST (http_web_form_read checks
 * the two and the Origin field before a handler sees a field), and the
 * mail the pages send (http_web_mail: through the queue, as a DSN is). */
#include "http/web.h"
#include "http/page.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>

#include "config/config.h"
#include "message/message.h"
#include "queue/queue.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/markup.h"
#include "util/xalloc.h"

static bool web_span_is(const struct http_session *s, struct http_span span, const char *a,
			size_t alen, const char *b, size_t blen);
static bool web_csrf_matches(const struct http_session *s, const struct http_form *form);
static void web_refuse(struct http_session *s, int status, const char *why, const char *text);
static void web_mail_queued(void *ctx, int status, const char *queue_id, const char *error);


bool http_web_is_https(const struct http_session *s)
{
	return s->listener->role == LISTENER_ROLE_HTTPS;
}

void http_web_respond(struct http_session *s, int status, const char *title,
		      struct buf *main_html)
{
	struct buf page;
	buf_init(&page);
	buf_append(main_html, "", 1);
	http_page_render(&page, title, main_html->data);
	buf_free(main_html);
	http_session_add_header(s, "Cache-Control", "no-store");
	http_session_add_header(s, "X-Frame-Options", "DENY");
	http_session_add_header(s, "X-Content-Type-Options", "nosniff");
	http_session_add_header(s, "Content-Security-Policy",
				"default-src 'none'; style-src 'unsafe-inline'; form-action 'self';"
				" frame-ancestors 'none'; base-uri 'none'");
	http_session_respond_text(s, status, "text/html; charset=utf-8", page.data, page.len);
	buf_free(&page);
}

void http_web_set_cookie(struct http_session *s, const char *name, const char *value,
			 long max_age)
{
	bool https = http_web_is_https(s);
	struct buf cookie;
	buf_init(&cookie);
	buf_printf(&cookie, "%s%s=%s; Path=/; HttpOnly; SameSite=Strict%s", https ? "__Host-" : "",
		   name, value, https ? "; Secure" : "");
	if (max_age != 0)
		buf_printf(&cookie, "; Max-Age=%ld", max_age > 0 ? max_age : 0L);
	buf_append(&cookie, "", 1);
	http_session_add_header(s, "Set-Cookie", cookie.data);
	buf_free(&cookie);
}

int http_web_csrf_issue(struct http_session *s, char token[STORE_WEB_SECRET_LEN + 1])
{
	if (store_web_secret_make(token) < 0)
		return -1;
	http_web_set_cookie(s, HTTP_WEB_CSRF_COOKIE, token, 0);
	return 0;
}

char *http_web_cookie(const struct http_session *s, const char *name)
{
	char *value = NULL;
	const char *error = NULL;
	struct buf full;
	buf_init(&full);
	buf_printf(&full, "%s%s", http_web_is_https(s) ? "__Host-" : "", name);
	buf_append(&full, "", 1);
	if (s->req.cookie.len > 0 &&
	    http_cookie_get(s->head + s->req.cookie.off, s->req.cookie.len, full.data, &value,
			    &error) != 1)
		value = NULL;
	buf_free(&full);
	return value;
}

/* web_span_is - SPAN of the request is A[0..ALEN) followed by B[0..BLEN),
 * in any case (a scheme and a host name are) */
static bool web_span_is(const struct http_session *s, struct http_span span, const char *a,
			size_t alen, const char *b, size_t blen)
{
	const char *v = s->head + span.off;
	return span.len == alen + blen && strncasecmp(v, a, alen) == 0 &&
		strncasecmp(v + alen, b, blen) == 0;
}

bool http_web_origin_is_ours(const struct http_session *s)
{
	struct http_span origin = s->req.origin;
	if (origin.len == 0)
		return true;
	const char *scheme = http_web_is_https(s) ? "https://" : "http://";
	const char *url = s->server->config->http.public_url;
	if (url && web_span_is(s, origin, url, strlen(url), "", 0))
		return true;
	return s->req.host.len > 0 &&
		web_span_is(s, origin, scheme, strlen(scheme), s->head + s->req.host.off,
			    s->req.host.len);
}

/* web_csrf_matches - FORM's "csrf" is the CSRF cookie's value (constant
 * time: the comparison tells nothing of how much matched) */
static bool web_csrf_matches(const struct http_session *s, const struct http_form *form)
{
	const char *field = http_form_get(form, "csrf");
	char *cookie = http_web_cookie(s, HTTP_WEB_CSRF_COOKIE);
	bool ok = field && cookie && strlen(cookie) == STORE_WEB_SECRET_LEN &&
		strlen(field) == STORE_WEB_SECRET_LEN &&
		CRYPTO_memcmp(field, cookie, STORE_WEB_SECRET_LEN) == 0;
	free(cookie);
	return ok;
}

/* web_refuse - STATUS with a page saying TEXT; WHY in the log */
static void web_refuse(struct http_session *s, int status, const char *why, const char *text)
{
	struct buf main_html;
	buf_init(&main_html);
	log_info("http-web-refused", "session=%s client=%s status=%d reason=%s", s->sid,
		 s->client, status, why);
	http_web_message(&main_html, text);
	http_web_respond(s, status, status == 403 ? "Form refused" : "Bad request", &main_html);
}

bool http_web_form_read(struct http_session *s, struct http_form *form_r)
{
	const struct config_web *web = &s->server->config->web;
	struct http_form_limits limits = { .fields = web->form_fields,
					   .field_size = web->form_field_size };
	const char *error = NULL;
	memset(form_r, 0, sizeof(*form_r));
	if (!http_web_origin_is_ours(s)) {
		web_refuse(s, 403, "origin", "This form was sent from another site.");
		return false;
	}
	if (http_form_parse(s->body ? s->body : "", s->body ? s->body_len : 0, &limits, form_r,
			    &error) != 0) {
		web_refuse(s, 400, "form", "The form could not be read.");
		return false;
	}
	if (!web_csrf_matches(s, form_r)) {
		http_form_clear(form_r);
		web_refuse(s, 403, "csrf", "This form has expired or was not sent from this"
			   " site: go back, reload the page and try again.");
		return false;
	}
	return true;
}

bool http_web_path_token(struct http_session *s, const char *prefix,
			 char token[STORE_WEB_SECRET_LEN + 1])
{
	size_t n = strlen(prefix);
	const char *t = s->head + s->req.path.off + n;
	bool ok = s->req.path.len - n == STORE_WEB_SECRET_LEN;
	for (size_t i = 0; ok && i < STORE_WEB_SECRET_LEN; i++)
		ok = (t[i] >= '0' && t[i] <= '9') || (t[i] >= 'a' && t[i] <= 'f');
	if (!ok) {
		struct buf main_html;
		buf_init(&main_html);
		http_web_message(&main_html, HTTP_WEB_LINK_NOT_VALID);
		http_web_respond(s, 404, "Link not valid", &main_html);
		return false;
	}
	memcpy(token, t, STORE_WEB_SECRET_LEN);
	token[STORE_WEB_SECRET_LEN] = '\0';
	return true;
}

int http_web_link_make(struct store *store, enum store_web_kind kind, const char *account,
		       time_t expires, char secret[STORE_WEB_SECRET_LEN + 1], const char **error_r)
{
	if (store_web_secret_make(secret) < 0) {
		*error_r = "no random secret";
		return -1;
	}
	return store_web_secret_add(store, kind, secret, account, NULL, expires, error_r);
}

bool http_web_form_open(struct http_session *s, struct buf *main_html, const char *action,
			const char *error)
{
	char token[STORE_WEB_SECRET_LEN + 1];
	if (http_web_csrf_issue(s, token) < 0) {
		buf_free(main_html);
		buf_init(main_html);
		http_web_message(main_html, "The server cannot make a form now: try again later.");
		http_web_respond(s, 503, "Try again later", main_html);
		return false;
	}
	if (error) {
		buf_append_str(main_html, "<p role=\"alert\"><strong>");
		markup_escape(main_html, error, strlen(error));
		buf_append_str(main_html, "</strong></p>\n");
	}
	buf_append_str(main_html, "<form method=\"post\"");
	if (action)
		buf_printf(main_html, " action=\"%s\"", action);
	buf_append_str(main_html, ">\n<input type=\"hidden\" name=\"csrf\" value=\"");
	markup_escape(main_html, token, strlen(token));
	buf_append_str(main_html, "\">\n");
	OPENSSL_cleanse(token, sizeof(token));
	return true;
}

void http_web_message(struct buf *main_html, const char *text)
{
	buf_append_str(main_html, "<p>");
	markup_escape(main_html, text, strlen(text));
	buf_append_str(main_html, "</p>\n");
}

void http_web_mail(struct http_server *server, const char *to, const char *subject,
		   const char *text, const char *why)
{
	const struct config *config = server->config;
	if (!server->queue) {
		log_warn("http-web-mail", "to=%s why=%s error=\"no queue\"", to, why);
		return;
	}
	struct queue_envelope *env = queue_envelope_new();
	struct buf body;
	char date[64];
	time_t now = time(NULL);
	buf_init(&body);
	queue_id_new(env->id);
	env->arrival = now;
	free(env->sender);
	env->sender = xstrdup("");  /* RFC 5321 4.5.5: nothing answers a notice */
	env->client_address = xstrdup("127.0.0.1");
	env->helo = xstrdup(config->hostname);
	env->listener = xstrdup("web");
	queue_envelope_add_rcpt(env, to, 0, NULL);
	message_date_format(now, date, sizeof(date));
	buf_printf(&body, "Date: %s\r\nFrom: <%s>\r\nTo: <%s>\r\nSubject: %s\r\n"
		   "Message-ID: <%s@%s>\r\nAuto-Submitted: auto-generated\r\n"
		   "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
		   "Content-Transfer-Encoding: 8bit\r\n\r\n%s", date, config->web.mail_from, to,
		   subject, env->id, config->hostname, text);
	env->size = body.len;
	log_info("http-web-mail", "queue_id=%s to=%s why=%s", env->id, to, why);
	queue_submit(server->queue, env, &body, web_mail_queued, NULL);
	buf_free(&body);
}

/* web_mail_queued - the queue's answer for a page's mail */
static void web_mail_queued(void *ctx, int status, const char *queue_id, const char *error)
{
	(void)ctx;
	if (status == 0)
		log_info("queued", "queue_id=%s", queue_id);
	else
		log_warn("queue-failed", "queue_id=%s error=\"%s\"", queue_id ? queue_id : "-",
			 error ? error : "");
}
