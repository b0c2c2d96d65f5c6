/* http/web - what every web page shares (docs/web.md): the answer with the
 * headers that keep a page out of frames and caches and allow no script,
 * the cookies (Secure and __Host- prefixed on an https listener) and the
 * pre-login CSRF token (double submit: a hidden field and a cookie). */
#ifndef PETREL_HTTP_WEB_H
#define PETREL_HTTP_WEB_H

#include <stdbool.h>

#include "http/session.h"
#include "store/store.h"
#include "util/buf.h"

#define HTTP_WEB_CSRF_COOKIE "petrel_csrf"

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

#endif
