/* http/web - what every web page shares (docs/web.md): the answer with the
 * headers that keep a page out of frames and caches and allow no script,
 * the cookies (Secure and __Host- prefixed on an https listener), the
 * pre-login CSRF token (double submit: a hidden field and a cookie) and
 * the check of a pre-login form's POST (the token, the Origin field).
 * The pages before login: /signup (web.c), /login (web-login.c). */
#ifndef PETREL_HTTP_WEB_H
#define PETREL_HTTP_WEB_H

#include <stdbool.h>

#include "http/form.h"
#include "http/session.h"
#include "store/store.h"
#include "util/buf.h"

#define HTTP_WEB_CSRF_COOKIE "petrel_csrf"
/* the login's session (docs/web.md): a store_web_secret_make secret, its
 * STORE_WEB_SESSION row holding the account and the session's CSRF token */
#define HTTP_WEB_SESSION_COOKIE "petrel_session"

/* http_web_respond - STATUS with the page TITLE around MAIN_HTML (freed),
 * with the page headers (no-store, DENY, nosniff, the CSP) */
void http_web_respond(struct http_session *s, int status, const char *title,
		      struct buf *main_html);
/* http_web_is_https - the page is served over TLS: its cookies are Secure
 * and __Host- prefixed (RFC 6265bis 4.1.3.2) */
bool http_web_is_https(const struct http_session *s);
/* http_web_set_cookie - Set-Cookie: NAME=VALUE for Path=/, HttpOnly,
 * SameSite=Strict, and on https __Host-NAME and Secure; MAX_AGE seconds
 * when > 0, 0: a session cookie, < 0: expire it now */
void http_web_set_cookie(struct http_session *s, const char *name, const char *value,
			 long max_age);
/* http_web_csrf_issue - a new pre-login CSRF token into TOKEN, set as the
 * cookie HTTP_WEB_CSRF_COOKIE too; -1 if the random source fails */
int http_web_csrf_issue(struct http_session *s, char token[STORE_WEB_SECRET_LEN + 1]);
/* http_web_cookie - the value of the cookie NAME (__Host-NAME on https) the
 * request carries, malloc'd; NULL when there is none or the Cookie field
 * names it twice or badly (http_cookie_get) */
char *http_web_cookie(const struct http_session *s, const char *name);
/* http_web_origin_is_ours - the request has no Origin field, or one that
 * names this server: the listener's scheme and the Host field, or [http]
 * public_url (RFC 6454 7: a browser sends it with every POST) */
bool http_web_origin_is_ours(const struct http_session *s);
/* http_web_form_read - the POST's form (at most [web] form_fields pairs of
 * form_field_size octets) into FORM_R, once its pre-login CSRF check
 * passed: a field "csrf" equal, in constant time, to the cookie
 * HTTP_WEB_CSRF_COOKIE, and an Origin naming this server.  False once S is
 * answered: 400 (not a form) or 403 (the check failed); FORM_R then holds
 * nothing. */
bool http_web_form_read(struct http_session *s, struct http_form *form_r);
/* http_web_message - MAIN_HTML gets the paragraph TEXT (escaped) */
void http_web_message(struct buf *main_html, const char *text);

#endif
