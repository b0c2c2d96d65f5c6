/* http/web-dash-operator - the operator's view (docs/web.md): GET
 * /operator, for the accounts listed in [web] operators only, shows the
 * queue (its messages by state, as `petrel queue stats` counts them) and
 * the accounts (name, state, plan, created) by name, [web] operator_rows to
 * a page (?page=N, from 1, with links to the previous and the next): only
 * that page's rows are read from the store (store_account_list_page), so
 * the page's memory does not grow with the accounts.  Any other account
 * gets 403.  The store's work runs on the session's worker job
 * (web-session.h); the queue's counts are read on the loop, where they are
 * kept. */
#include "http/web-session.h"
#include "http/web.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "config/config.h"
#include "queue/queue.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/xalloc.h"

#define OPERATOR_PAGE_MAX 1000000000ULL  /* a page number past it is 400 */

struct operator_data {
	bool allowed;                     /* the account is one of [web] operators */
	struct store_account **accounts;  /* the page's */
	size_t count;
	uint64_t total;                   /* accounts in the store */
	uint64_t page;                    /* from 1; 0: the query's page is not a number */
	size_t rows;                      /* [web] operator_rows */
	int rc;
};

static void operator_work(struct http_web_request *r);
static void operator_done(struct http_session *s, struct http_web_request *r);
static void render_queue(struct buf *out, const struct queue_stats *q);
static uint64_t page_read(const struct http_form *form);
static void render_accounts(struct buf *out, const struct operator_data *d);
static void render_pages(struct buf *out, const struct operator_data *d);
static const char *account_state(const struct store_account *a);
static void operator_data_free(void *data);

static const struct http_web_page OPERATOR_PAGE = {
	.name = "operator", .work = operator_work, .done = operator_done,
	.free_data = operator_data_free,
};

void http_route_web_operator(struct http_session *s)
{
	struct operator_data *d = xcalloc(1, sizeof(*d));
	d->rows = s->server->config->web.operator_rows;
	http_web_session_run(s, &OPERATOR_PAGE, d);
}

bool http_web_is_operator(const struct config *config, const char *account)
{
	const char *list = config->web.operators ? config->web.operators : "";
	size_t len = strlen(account);
	while (*list) {
		list += strspn(list, ", \t");
		size_t n = strcspn(list, ", \t");
		if (n == len && strncasecmp(list, account, n) == 0)
			return true;
		list += n;
	}
	return false;
}

/* operator_work - (worker) the page's accounts, for an operator only */
static void operator_work(struct http_web_request *r)
{
	struct operator_data *d = r->data;
	const char *error = NULL;
	d->allowed = http_web_is_operator(r->origin.server->config, r->account);
	d->page = page_read(&r->form);
	if (!d->allowed || d->page == 0)
		return;
	d->rc = store_account_list_page(r->origin.server->store, (d->page - 1) * d->rows,
					d->rows, &d->accounts, &d->count, &d->total, &error);
	if (d->rc != 0)
		log_error("http-web", "session=%s page=operator account=%s error=\"%s\"",
			  r->origin.sid, r->account, error);
}

static void operator_done(struct http_session *s, struct http_web_request *r)
{
	struct operator_data *d = r->data;
	if (!d->allowed) {
		http_web_notice(s, r, 403, "Operators only",
				"This page is for the operators of this server ([web] operators).",
				"/dashboard");
		return;
	}
	if (d->page == 0) {
		http_web_notice(s, r, 400, "Bad request", "The page number is not one.",
				"/operator");
		return;
	}
	if (d->rc != 0) {
		http_web_notice(s, r, 503, "Try again later", "The accounts cannot be read now.",
				"/operator");
		return;
	}
	struct buf html;
	buf_init(&html);
	http_web_nav(&html, r);
	struct queue_stats q = { 0 };
	if (s->server->queue)
		queue_stats(s->server->queue, &q);
	render_queue(&html, &q);
	render_accounts(&html, d);
	http_web_respond(s, 200, "Operator", &html);
}

/* render_queue - the queue's messages by state, as now */
static void render_queue(struct buf *out, const struct queue_stats *q)
{
	buf_printf(out, "<h2>Queue</h2>\n<table class=\"queue\">\n<caption>Messages by state"
		   "</caption>\n<thead><tr><th scope=\"col\">State</th><th scope=\"col\">Messages"
		   "</th></tr></thead>\n<tbody>\n"
		   "<tr><td>ready</td><td id=\"queue-ready\">%zu</td></tr>\n"
		   "<tr><td>delivering</td><td id=\"queue-delivering\">%zu</td></tr>\n"
		   "<tr><td>retrying</td><td id=\"queue-retrying\">%zu</td></tr>\n"
		   "<tr><td>deferred</td><td id=\"queue-deferred\">%llu</td></tr>\n"
		   "<tr><td>held</td><td id=\"queue-held\">%llu</td></tr>\n"
		   "</tbody>\n</table>\n<p>Since the start: <span id=\"queue-accepted\">%llu</span>"
		   " messages accepted, %llu recipients delivered, %llu bounced. The messages"
		   " themselves: <code>petrel queue list</code> (<code>docs/operations.md</code>)."
		   "</p>\n", q->ready, q->delivering, q->retrying, q->deferred_on_disk,
		   q->held_on_disk, q->accepted, q->delivered, q->bounced);
}

/* page_read - the query's page number (absent: 1); 0 when it is not one
 * from 1 to OPERATOR_PAGE_MAX */
static uint64_t page_read(const struct http_form *form)
{
	const char *v = http_form_get(form, "page");
	if (!v)
		return 1;
	char *end = NULL;
	unsigned long long n = strtoull(v, &end, 10);
	bool ok = v[0] >= '1' && v[0] <= '9' && *end == '\0' && n <= OPERATOR_PAGE_MAX;
	return ok ? n : 0;
}

/* render_accounts - the page's accounts, one row each, and the links to
 * the pages around it */
static void render_accounts(struct buf *out, const struct operator_data *d)
{
	uint64_t first = (d->page - 1) * d->rows;
	buf_printf(out, "<h2>Accounts</h2>\n<p><span id=\"accounts-count\">%llu</span> accounts",
		   (unsigned long long)d->total);
	if (d->count > 0 && d->count < d->total)
		buf_printf(out, "; by name, <span id=\"accounts-shown\">%llu to %llu</span> here"
			   " (page %llu; all: <code>petrel account list</code>)",
			   (unsigned long long)first + 1, (unsigned long long)(first + d->count),
			   (unsigned long long)d->page);
	buf_append_str(out, ".</p>\n<table class=\"accounts\">\n<caption>Accounts</caption>\n"
		       "<thead><tr><th scope=\"col\">Account</th><th scope=\"col\">State</th>"
		       "<th scope=\"col\">Plan</th><th scope=\"col\">Created (UTC)</th></tr>"
		       "</thead>\n<tbody>\n");
	for (size_t i = 0; i < d->count; i++) {
		const struct store_account *a = d->accounts[i];
		char when[32];
		http_web_utc(when, a->created, "%Y-%m-%d");
		buf_append_str(out, "<tr><td>");
		http_web_text(out, a->name);
		buf_printf(out, "</td><td>%s</td><td>", account_state(a));
		http_web_text(out, a->plan);
		buf_printf(out, "</td><td>%s</td></tr>\n", when);
	}
	buf_append_str(out, "</tbody>\n</table>\n");
	render_pages(out, d);
}

/* render_pages - links to the previous page and the next, where there are */
static void render_pages(struct buf *out, const struct operator_data *d)
{
	bool previous = d->page > 1;
	bool next = (d->page - 1) * d->rows + d->count < d->total && d->page < OPERATOR_PAGE_MAX;
	if (!previous && !next)
		return;
	buf_append_str(out, "<nav aria-label=\"Pages of accounts\"><p>");
	if (previous)
		buf_printf(out, "<a id=\"previous\" href=\"/operator?page=%llu\">Previous</a>",
			   (unsigned long long)d->page - 1);
	if (previous && next)
		buf_append_str(out, " &middot; ");
	if (next)
		buf_printf(out, "<a id=\"next\" href=\"/operator?page=%llu\">Next</a>",
			   (unsigned long long)d->page + 1);
	buf_append_str(out, "</p></nav>\n");
}

/* account_state - the one word that matters most */
static const char *account_state(const struct store_account *a)
{
	if (a->disabled)
		return "disabled";
	if (a->unverified)
		return "unverified";
	if (a->pending)
		return "pending";
	return a->sandbox ? "sandbox" : "active";
}

static void operator_data_free(void *data)
{
	struct operator_data *d = data;
	store_account_list_free(&d->accounts, d->count);
	free(d);
}
