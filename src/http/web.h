/* http/web - what every web page shares (docs/web.md): the answer with the
 * headers that keep a page out of frames and caches and allow no script,
 * the cookies (Secure and __Host- prefixed on an https listener), the
 * pre-login CSRF token (double submit: a hidden field and a cookie) and
 * the check of a pre-login form's POST (the token, the Origin field).
 * The pages before login: /signup and /verify (web-signup.c), /login
 * (web-login.c), /reset (web-reset.c). */
#ifndef PETREL_HTTP_WEB_H
#define PETREL_HTTP_WEB_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "http/form.h"
#include "http/session.h"
#include "store/store.h"
#include "util/buf.h"

#define HTTP_WEB_CSRF_COOKIE "petrel_csrf"
/* the login's session (docs/web.md): a store_web_secret_make secret, its
 * STORE_WEB_SESSION row holding the account and the session's CSRF token */
#define HTTP_WEB_SESSION_COOKIE "petrel_session"
/* what a link used, expired or mangled answers (404) */
#define HTTP_WEB_LINK_NOT_VALID "This link is not valid: it was used already, it has" \
	" expired, or it was copied incompletely."

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
/* ---- web-rate.c: how often the pages may mail ---- */
struct config_web;
/* a mailing request's rate counts (struct http_job_origin's job keeps one) */
struct http_web_rate_job {
	char *client;            /* the client's address */
	bool client_over;        /* past the client's rate: nothing else was done */
	bool mail;               /* the address is within its rate: mail it */
};
/* http_web_rate_init - (loop) RATE for a request of S's client */
void http_web_rate_init(struct http_web_rate_job *rate, const struct http_session *s);
/* http_web_rate_clear - what RATE holds freed */
void http_web_rate_clear(struct http_web_rate_job *rate);
/* http_web_rate_work - (worker; BLOCKS) count the request against its
 * client's rate, then, unless that is past, ADDRESS's (RATE->mail): at
 * most [web] signup_rate of each within rate_window, in the store (every
 * node of a shared store counts in the same rows); -1 if the store fails */
int http_web_rate_work(struct http_web_rate_job *rate, struct store *store,
		       const struct config_web *web, const char *address, time_t now);
/* http_web_rate_refuse - (loop) the request of ORIGIN (WHAT: "signup",
 * "reset") was past its client's rate: logged, and S (NULL or gone:
 * nothing) answered 429 */
void http_web_rate_refuse(struct http_session *s, const struct http_job_origin *origin,
			  const struct http_web_rate_job *rate, const char *what);
/* http_web_address_lower - EMAIL lower-cased (malloc'd): the key of its
 * counts and the account name it would have */
char *http_web_address_lower(const char *email);

/* http_web_mail - TEXT (the body: lines of UTF-8 ending in CRLF, none
 * over 998 octets) mailed to TO from [web] mail_from with SUBJECT (ASCII),
 * through the queue from the null sender, as a DSN is (SERVER's queue,
 * loop thread); WHY names it in the log */
void http_web_mail(struct http_server *server, const char *to, const char *subject,
		   const char *text, const char *why);
/* http_web_signups_free - (web-signup.c) the sign-ups still waiting for
 * the auth process are dropped: the server stops (their accounts stay,
 * without a password; logged) */
void http_web_signups_free(struct http_server *server);
/* http_web_path_token - the link's secret after PREFIX ("/verify/") in
 * the path into TOKEN when it has the shape of one (64 lower-case hex
 * digits); else false once S is answered 404 */
bool http_web_path_token(struct http_session *s, const char *prefix,
			 char token[STORE_WEB_SECRET_LEN + 1]);
/* http_web_link_make - a new one-time link of KIND for ACCOUNT until
 * EXPIRES: its secret into SECRET, its row in STORE (worker; BLOCKS);
 * store_web_secret_add's result */
int http_web_link_make(struct store *store, enum store_web_kind kind, const char *account,
		       time_t expires, char secret[STORE_WEB_SECRET_LEN + 1], const char **error_r);
/* http_web_form_open - onto MAIN_HTML: ERROR (NULL: none) as an alert,
 * then the start of a POST form to ACTION (NULL: the page's own address)
 * with a new pre-login CSRF token in its hidden field (and its cookie).
 * False once S is answered 503 (no random token; MAIN_HTML freed). */
bool http_web_form_open(struct http_session *s, struct buf *main_html, const char *action,
			const char *error);
/* http_web_message - MAIN_HTML gets the paragraph TEXT (escaped) */
void http_web_message(struct buf *main_html, const char *text);

#endif
