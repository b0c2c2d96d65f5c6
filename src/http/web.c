/* http/web - the web pages' shared parts (http/web.h) and the sign-up's
 * page (docs/web.md), written with the layout of http/page.h.  GET /signup
 * so far: the form, with a CSRF token both in a hidden field and in a
 * cookie (double submit: the form's POST must carry the two, equal), or,
 * with [web] signup = closed, 403 and a page that says so. */
#include "http/web.h"
#include "http/page.h"

#include <string.h>

#include <openssl/crypto.h>

#include "config/config.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/markup.h"

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
