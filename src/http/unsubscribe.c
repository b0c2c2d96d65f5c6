/* http/unsubscribe - RFC 8058 one-click unsubscribe links (docs/http.md
 * "One-click unsubscribe"): /unsubscribe/TOKEN, the URL Petrel writes in
 * the List-Unsubscribe field of mail sent with subscription tracking.
 *
 * GET (and HEAD) shows a small page with a button and changes nothing:
 * mail scanners and link previews follow links (RFC 8058 1).  POST with
 * the body List-Unsubscribe=One-Click (unsubscribe-parse.c) puts the
 * token's recipient on its account's unsubscribes list (store_suppression_
 * add, on the workers); the queue then drops that account's later mail to
 * the address, as it does for bounces.  A token that does not check out is
 * 404, whether malformed or forged; a POST without the one-click body 400.
 * No API key: the token is the authorization.
 */
#include "http/session.h"
#include "http/unsubscribe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"
#include "util/log.h"
#include "util/markup.h"
#include "util/pool.h"
#include "util/xalloc.h"

#define PAGE_TYPE "text/html; charset=utf-8"

struct unsub_job {
	struct http_job_origin origin;   /* the request it answers */
	char *account, *recipient;
	int status;
};

static bool unsub_token(struct http_session *s, char **account_r, char **recipient_r);
static void unsub_page(struct http_session *s, int status, const char *title,
		       const char *text, const char *recipient, bool button);
static void unsub_work(void *arg);
static void unsub_done(void *arg);

/* unsub_token - the path's token checked: true with its addresses, or
 * false once S is answered 404 */
static bool unsub_token(struct http_session *s, char **account_r, char **recipient_r)
{
	size_t prefix = strlen(UNSUBSCRIBE_PATH);
	const char *token = s->head + s->req.path.off + prefix;
	size_t len = s->req.path.len - prefix;
	const char *reason = NULL;
	const unsigned char *secret = s->server->unsubscribe_secret;
	if (s->server->has_unsubscribe_secret &&
	    unsubscribe_token_check(secret, token, len, account_r, recipient_r, &reason) == 0)
		return true;
	log_info("http-unsubscribe", "session=%s status=404 reason=%s", s->sid,
		 reason ? reason : "disabled");
	unsub_page(s, 404, "Link not valid", "This unsubscribe link is not valid.", NULL,
		   false);
	return false;
}

/* unsub_page - a small page: TITLE, TEXT and RECIPIENT (escaped), and the
 * one-click form when BUTTON */
static void unsub_page(struct http_session *s, int status, const char *title,
		       const char *text, const char *recipient, bool button)
{
	struct buf page;
	buf_init(&page);
	buf_append_str(&page, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
		       "<meta name=\"viewport\" content=\"width=device-width\"><title>");
	markup_escape(&page, title, strlen(title));
	buf_append_str(&page, "</title></head>\n<body><main><h1>");
	markup_escape(&page, title, strlen(title));
	buf_append_str(&page, "</h1>\n<p>");
	markup_escape(&page, text, strlen(text));
	if (recipient) {
		buf_append_str(&page, " <strong>");
		markup_escape(&page, recipient, strlen(recipient));
		buf_append_str(&page, "</strong>");
	}
	buf_append_str(&page, "</p>\n");
	if (button)
		buf_append_str(&page, "<form method=\"post\"><input type=\"hidden\" "
			       "name=\"List-Unsubscribe\" value=\"One-Click\">"
			       "<button type=\"submit\">Unsubscribe</button></form>\n");
	buf_append_str(&page, "</main></body></html>\n");
	http_session_add_header(s, "Cache-Control", "no-store");
	http_session_respond_text(s, status, PAGE_TYPE, page.data, page.len);
	buf_free(&page);
}

void http_route_unsubscribe_get(struct http_session *s)
{
	char *account = NULL, *recipient = NULL;
	if (!unsub_token(s, &account, &recipient))
		return;
	unsub_page(s, 200, "Unsubscribe", "Stop this sender's mail to", recipient, true);
	free(account);
	free(recipient);
}

void http_route_unsubscribe_post(struct http_session *s)
{
	char *account = NULL, *recipient = NULL;
	if (!unsub_token(s, &account, &recipient))
		return;
	const char *ct = s->head + s->req.content_type.off;
	if (!unsubscribe_body_is_one_click(ct, s->req.content_type.len, s->body ? s->body : "",
					   s->body ? s->body_len : 0)) {
		log_info("http-unsubscribe", "session=%s status=400 reason=body", s->sid);
		unsub_page(s, 400, "Not unsubscribed", "The request did not say "
			   "List-Unsubscribe=One-Click.", NULL, false);
		free(account);
		free(recipient);
		return;
	}
	if (!s->server->store) {
		http_session_respond_error(s, 503, "the store is not available", NULL);
		free(account);
		free(recipient);
		return;
	}
	struct unsub_job *j = xcalloc(1, sizeof(*j));
	http_job_origin_init(&j->origin, s);
	j->account = account;
	j->recipient = recipient;
	pool_submit(s->server->pool, unsub_work, unsub_done, j);
}

/* unsub_work - (worker) the recipient on the account's unsubscribes list */
static void unsub_work(void *arg)
{
	struct unsub_job *j = arg;
	struct store_suppression entry = {
		.list = STORE_SUPPRESSION_UNSUBSCRIBES,
		.email = j->recipient,
		.reason = (char *)"one-click unsubscribe (RFC 8058)",
		.status = (char *)"",
	};
	const char *error = NULL;
	int rc = store_suppression_add(j->origin.server->store, j->account, &entry, &error);
	if (rc == STORE_NOT_FOUND) {
		j->status = 404;  /* the account is gone */
	} else if (rc != 0) {
		log_error("store-failed", "op=suppression_add session=%s error=\"%s\"", j->origin.sid,
			  error ? error : "");
		j->status = 503;
	} else {
		j->status = 200;
	}
}

/* unsub_done - (loop) the answer, if the client is still there */
static void unsub_done(void *arg)
{
	struct unsub_job *j = arg;
	struct http_session *s = http_job_origin_session(&j->origin);
	log_info("http-unsubscribe", "session=%s account=%s to=%s status=%d", j->origin.sid, j->account,
		 j->recipient, j->status);
	if (s && !s->conn.dead) {
		if (j->status == 200)
			unsub_page(s, 200, "Unsubscribed", "No more mail from this sender will go to",
				   j->recipient, false);
		else if (j->status == 404)
			unsub_page(s, 404, "Link not valid", "This unsubscribe link is not valid.",
				   NULL, false);
		else
			http_session_respond_error(s, 503, "the store is not available now, try "
						   "again later", NULL);
	}
	free(j->account);
	free(j->recipient);
	free(j);
}
