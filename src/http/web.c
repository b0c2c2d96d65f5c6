/* http/web - the web pages' shared parts (http/web.h) and the sign-up's
 * page (docs/web.md), written with the layout of http/page.h.  GET /signup
 * so far: the form, with a CSRF token both in a hidden field and in a
 * cookie (double submit: the form's POST must carry the two, equal), or,
 * with [web] signup = closed, 403 and a page that says so.  A pre-login
 * POST is read by http_web_form_read, which checks the two and the Origin
 * field before the handler sees a field. */
#include "http/web.h"
#include "http/page.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "config/config.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/markup.h"

static bool web_span_is(const struct http_session *s, struct http_span span, const char *a,
			size_t alen, const char *b, size_t blen);
static bool web_csrf_matches(const struct http_session *s, const struct http_form *form);
static void web_refuse(struct http_session *s, int status, const char *why, const char *text);

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

void http_web_message(struct buf *main_html, const char *text)
{
	buf_append_str(main_html, "<p>");
	markup_escape(main_html, text, strlen(text));
	buf_append_str(main_html, "</p>\n");
}

void http_route_signup_page(struct http_session *s)
{
	struct buf main_html;
	buf_init(&main_html);
	unsigned mode = s->server->config->web.signup;
	if (mode == CONFIG_WEB_SIGNUP_CLOSED) {
		buf_append_str(&main_html, "<p>Sign-up is closed on this server: ask its operator"
			       " for an account.</p>\n");
		http_web_respond(s, 403, "Sign-up is closed", &main_html);
		return;
	}
	char token[STORE_WEB_SECRET_LEN + 1];
	if (http_web_csrf_issue(s, token) < 0) {
		buf_append_str(&main_html, "<p>The server cannot make a form now: try again"
			       " later.</p>\n");
		http_web_respond(s, 503, "Try again later", &main_html);
		return;
	}
	if (mode == CONFIG_WEB_SIGNUP_APPROVAL)
		buf_append_str(&main_html, "<p>An operator approves each new account before it"
			       " can send mail.</p>\n");
	buf_append_str(&main_html, "<form method=\"post\" action=\"/signup\">\n"
		       "<input type=\"hidden\" name=\"csrf\" value=\"");
	markup_escape(&main_html, token, strlen(token));
	buf_append_str(&main_html, "\">\n"
		       "<label for=\"email\">Email address</label>\n"
		       "<input id=\"email\" name=\"email\" type=\"email\" autocomplete=\"email\""
		       " maxlength=\"254\" required>\n"
		       "<label for=\"password\">Password</label>\n"
		       "<input id=\"password\" name=\"password\" type=\"password\""
		       " autocomplete=\"new-password\" minlength=\"10\" maxlength=\"256\" required>\n"
		       "<button type=\"submit\">Sign up</button>\n</form>\n");
	OPENSSL_cleanse(token, sizeof(token));
	http_web_respond(s, 200, "Sign up", &main_html);
}
