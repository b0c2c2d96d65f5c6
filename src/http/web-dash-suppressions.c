/* http/web-dash-suppressions - the dashboard's suppressions page
 * (docs/web.md): GET /dashboard/suppressions shows the account's four
 * lists (bounces, blocks, unsubscribes, spam reports: the addresses its
 * mail is not sent to, store.h), newest first, the reason with each;
 * POST /dashboard/suppressions/delete (list, email, csrf) takes an address
 * off one, so that mail to it is sent again.  The store's work runs on
 * the session's worker job (web-session.h). */
#include "http/web-session.h"
#include "http/web.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/markup.h"
#include "util/xalloc.h"

#define LISTS_PAGE "/dashboard/suppressions"   /* the list, where each form leads back */

static const char *const LIST_TITLES[STORE_SUPPRESSION_LISTS] = {
	[STORE_SUPPRESSION_BOUNCES] = "Bounces",
	[STORE_SUPPRESSION_BLOCKS] = "Blocks",
	[STORE_SUPPRESSION_UNSUBSCRIBES] = "Unsubscribes",
	[STORE_SUPPRESSION_SPAM_REPORTS] = "Spam reports",
};

struct suppressions_data {
	struct store_suppression **entries[STORE_SUPPRESSION_LISTS];
	size_t count[STORE_SUPPRESSION_LISTS];
	int rc;                    /* STORE_NOT_FOUND: deleting what was not there */
};

static void list_work(struct http_web_request *r);
static void list_done(struct http_session *s, struct http_web_request *r);
static void delete_work(struct http_web_request *r);
static void delete_done(struct http_session *s, struct http_web_request *r);
static void render_list(struct buf *out, const struct http_web_request *r,
			enum store_suppression_list list, struct store_suppression **entries,
			size_t count);
static void suppressions_data_free(void *data);

static const struct http_web_page LIST_PAGE = {
	.name = "suppressions", .work = list_work, .done = list_done,
	.free_data = suppressions_data_free,
};
static const struct http_web_page DELETE_PAGE = {
	.name = "suppressions-delete", .work = delete_work, .done = delete_done,
	.free_data = suppressions_data_free,
};

void http_route_web_suppressions(struct http_session *s)
{
	http_web_session_run(s, &LIST_PAGE, xcalloc(1, sizeof(struct suppressions_data)));
}

void http_route_web_suppression_delete(struct http_session *s)
{
	http_web_session_run(s, &DELETE_PAGE, xcalloc(1, sizeof(struct suppressions_data)));
}

/* list_work - (worker) the newest of each list */
static void list_work(struct http_web_request *r)
{
	struct suppressions_data *d = r->data;
	const struct store_suppression_range range = {
		.limit = r->origin.server->config->web.dashboard_rows,
	};
	const char *error = NULL;
	for (int l = 0; d->rc == 0 && l < STORE_SUPPRESSION_LISTS; l++)
		d->rc = store_suppression_page(r->origin.server->store, r->account,
					       (enum store_suppression_list)l, &range,
					       &d->entries[l], &d->count[l], &error);
	if (d->rc != 0)
		log_error("http-web", "session=%s page=suppressions account=%s error=\"%s\"",
			  r->origin.sid, r->account, error);
}

static void list_done(struct http_session *s, struct http_web_request *r)
{
	struct suppressions_data *d = r->data;
	if (d->rc != 0) {
		http_web_notice(s, r, 503, "Try again later",
				"The suppressions cannot be read now.",
				LISTS_PAGE);
		return;
	}
	struct buf html;
	buf_init(&html);
	http_web_nav(&html, r);
	buf_append_str(&html, "<p>Mail of this account to an address on one of these lists is"
		       " not sent (event <code>dropped</code>). Take an address off to send to it"
		       " again.</p>\n");
	for (int l = 0; l < STORE_SUPPRESSION_LISTS; l++)
		render_list(&html, r, (enum store_suppression_list)l, d->entries[l], d->count[l]);
	http_web_respond(s, 200, "Suppressions", &html);
}

static void render_list(struct buf *out, const struct http_web_request *r,
			enum store_suppression_list list, struct store_suppression **entries,
			size_t count)
{
	const char *name = store_suppression_list_name(list);
	buf_printf(out, "<h2 id=\"%s\">%s</h2>\n", name, LIST_TITLES[list]);
	if (count == 0) {
		buf_append_str(out, "<p>None.</p>\n");
		return;
	}
	buf_printf(out, "<table class=\"suppressions\" aria-labelledby=\"%s\">\n<thead><tr>"
		   "<th scope=\"col\">Address</th><th scope=\"col\">Since (UTC)</th>"
		   "<th scope=\"col\">Reason</th><th scope=\"col\">Action</th></tr></thead>\n"
		   "<tbody>\n", name);
	for (size_t i = 0; i < count; i++) {
		const struct store_suppression *e = entries[i];
		char when[32];
		http_web_utc(when, e->created, "%Y-%m-%d %H:%M");
		buf_append_str(out, "<tr><td>");
		http_web_text(out, e->email);
		buf_printf(out, "</td><td>%s</td><td>", when);
		if (*e->status) {
			http_web_text(out, e->status);
			buf_append_str(out, " ");
		}
		http_web_text(out, e->reason);
		buf_append_str(out, "</td><td><form method=\"post\""
			       " action=\"/dashboard/suppressions/delete\">\n");
		http_web_csrf_field(out, r);
		buf_printf(out, "<input type=\"hidden\" name=\"list\" value=\"%s\">\n"
			   "<input type=\"hidden\" name=\"email\" value=\"", name);
		http_web_text(out, e->email);
		buf_append_str(out, "\">\n<button type=\"submit\">Remove</button></form></td>"
			       "</tr>\n");
	}
	buf_append_str(out, "</tbody>\n</table>\n");
}

/* delete_work - (worker) the form's address off the form's list of the
 * session's account (never another's: the account is the session's) */
static void delete_work(struct http_web_request *r)
{
	struct suppressions_data *d = r->data;
	const char *name = http_form_get(&r->form, "list");
	const char *email = http_form_get(&r->form, "email");
	enum store_suppression_list list;
	const char *error = NULL;
	if (!name || !email || !*email || !store_suppression_list_parse(name, &list)) {
		d->rc = STORE_NOT_FOUND;
		return;
	}
	d->rc = store_suppression_remove(r->origin.server->store, r->account, list, email, NULL,
					 &error);
	if (d->rc < 0)
		log_error("http-web", "session=%s page=suppressions-delete account=%s"
			  " error=\"%s\"", r->origin.sid, r->account, error);
}

static void delete_done(struct http_session *s, struct http_web_request *r)
{
	struct suppressions_data *d = r->data;
	if (d->rc == STORE_NOT_FOUND) {
		http_web_notice(s, r, 404, "Not found", "That address is not on that list.",
				LISTS_PAGE);
		return;
	}
	if (d->rc != 0) {
		http_web_notice(s, r, 503, "Try again later",
				"The address could not be removed now.",
				LISTS_PAGE);
		return;
	}
	log_info("http-web-suppression-removed", "session=%s account=%s list=%s",
		 r->origin.sid, r->account, http_form_get(&r->form, "list"));
	http_web_redirect(s, LISTS_PAGE);
}

static void suppressions_data_free(void *data)
{
	struct suppressions_data *d = data;
	for (int l = 0; l < STORE_SUPPRESSION_LISTS; l++)
		store_suppression_list_free(&d->entries[l], d->count[l]);
	free(d);
}
