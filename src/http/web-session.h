/* http/web-session - the logged-in web pages' common path (docs/web.md):
 * the request's session cookie (petrel_session, __Host-petrel_session on
 * https) is looked up in the store on a worker (store_web_secret_get,
 * STORE_WEB_SESSION), never on the loop; without a live session the
 * answer is 303 to /login (and the cookie expired).  A POST's form must
 * carry the hidden field "csrf" equal to the session's synchronizer token
 * (compared in constant time), else 403 and nothing is done.
 *
 * A page is a struct http_web_page: WORK runs on the same worker job once
 * the session is found (and the token checked), DONE on the loop with the
 * session still open.  The request (struct http_web_request) is owned by
 * the http session from DONE on (s->web) until the request ends
 * (http_session_auth_clear frees it), so that a page waiting for the auth
 * process (IPC) finds it again from its callback; a late job for a closed
 * session is freed unseen.  The cookie's name is web.h's
 * HTTP_WEB_SESSION_COOKIE, which /login sets (web-login.c).
 */
#ifndef PETREL_HTTP_WEB_SESSION_H
#define PETREL_HTTP_WEB_SESSION_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "config/config.h"
#include "http/form.h"
#include "http/session.h"
#include "store/store.h"

struct http_web_request;

struct http_web_page {
	const char *name;                      /* for the log: "dashboard" */
	/* work - (worker) the page's store work; R->account is the session's */
	void (*work)(struct http_web_request *r);
	/* done - (loop) answer S, whose request R is (s->web == R) */
	void (*done)(struct http_session *s, struct http_web_request *r);
	/* free_data - R->data's destructor (NULL: free) */
	void (*free_data)(void *data);
};

struct http_web_request {
	struct http_job_origin origin;          /* server, session id, log id */
	const struct http_web_page *page;
	time_t now;
	char secret[STORE_WEB_SECRET_LEN + 1];  /* the cookie's (wiped when freed) */
	bool post;
	struct http_form form;                  /* a POST's fields, a GET's query's */
	/* the session, once found on the worker */
	char *account;
	char *csrf;
	int rc;                                 /* of the lookup: 0, STORE_NOT_FOUND, -1 */
	bool forbidden;                         /* a POST without the session's token */
	void *data;                             /* the page's */
};

/* http_web_session_run - answer S's request with PAGE for its session's
 * account; DATA (may be NULL) becomes r->data, freed with the request */
void http_web_session_run(struct http_session *s, const struct http_web_page *page, void *data);
/* http_web_redirect - 303 See Other to PATH (a path of this server) */
void http_web_redirect(struct http_session *s, const char *path);
/* http_web_nav - the logged-in pages' navigation and the logout form (with
 * R's token) onto OUT */
void http_web_nav(struct buf *out, const struct http_web_request *r);
/* http_web_notice - answer STATUS with a page TITLE saying TEXT (escaped),
 * R's navigation first when R is not NULL, and a link to BACK (NULL: none) */
void http_web_notice(struct http_session *s, const struct http_web_request *r, int status,
		      const char *title, const char *text, const char *back);
/* http_web_is_operator - ACCOUNT is one of [web] operators (any case) */
bool http_web_is_operator(const struct config *config, const char *account);
/* http_web_utc - T as FORMAT (strftime's) in UTC into OUT */
void http_web_utc(char out[32], time_t t, const char *format);
/* http_web_text - TEXT (NUL-terminated) escaped onto OUT */
void http_web_text(struct buf *out, const char *text);
/* http_web_csrf_field - the hidden csrf field of R's session onto OUT */
void http_web_csrf_field(struct buf *out, const struct http_web_request *r);
/* http_web_request_free - R and all it holds (NULL, *R NULL: nothing) */
void http_web_request_free(struct http_web_request **r);

#endif
