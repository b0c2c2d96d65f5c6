/* http/web-dash-senders - the dashboard's sender identities page
 * (docs/web.md): GET /dashboard/senders shows what the account may send as
 * (docs/accounts.md, "Sender identities"): its own name, unless a rule
 * denies it, and its rules, an address or a whole @domain, allowed or
 * denied, with what each means.  The rules are the operator's (`petrel
 * sender allow|deny`): the page reads them, it does not change them.  The
 * store's work runs on the session's worker job (web-session.h). */
#include "http/web-session.h"
#include "http/web.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "store/store.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/xalloc.h"

struct senders_data {
	struct store_sender *rules;
	size_t count;
	int rc;
};

static void senders_work(struct http_web_request *r);
static void senders_done(struct http_session *s, struct http_web_request *r);
static bool own_name_denied(const struct senders_data *d, const char *account);
static void render_rule(struct buf *out, const struct store_sender *rule);
static void senders_data_free(void *data);

static const struct http_web_page SENDERS_PAGE = {
	.name = "senders", .work = senders_work, .done = senders_done,
	.free_data = senders_data_free,
};

void http_route_web_senders(struct http_session *s)
{
	http_web_session_run(s, &SENDERS_PAGE, xcalloc(1, sizeof(struct senders_data)));
}

/* senders_work - (worker) the account's rules */
static void senders_work(struct http_web_request *r)
{
	struct senders_data *d = r->data;
	const char *error = NULL;
	d->rc = store_sender_list(r->origin.server->store, r->account, &d->rules, &d->count,
				  &error);
	if (d->rc != 0)
		log_error("http-web", "session=%s page=senders account=%s error=\"%s\"",
			  r->origin.sid, r->account, error);
}

static void senders_done(struct http_session *s, struct http_web_request *r)
{
	struct senders_data *d = r->data;
	if (d->rc != 0) {
		http_web_notice(s, r, 503, "Try again later",
				"The sender identities cannot be read now.", "/dashboard/senders");
		return;
	}
	struct buf html;
	buf_init(&html);
	http_web_nav(&html, r);
	buf_append_str(&html, "<p>The addresses this account may use as the sender (<code>MAIL"
		       " FROM</code>) and in the <code>From:</code> field. Others are refused"
		       " (<code>553 5.7.1</code>). The operator of this server sets them; ask"
		       " them for another address or a whole domain.</p>\n"
		       "<table class=\"senders\">\n<caption>Sender identities</caption>\n"
		       "<thead><tr><th scope=\"col\">Address or domain</th>"
		       "<th scope=\"col\">May send</th><th scope=\"col\">Why</th></tr></thead>\n"
		       "<tbody>\n<tr id=\"own-name\"><td>");
	http_web_text(&html, r->account);
	buf_printf(&html, "</td><td>%s</td><td>the account's own address%s</td></tr>\n",
		   own_name_denied(d, r->account) ? "no" : "yes",
		   own_name_denied(d, r->account) ? ", denied by a rule below" : "");
	for (size_t i = 0; i < d->count; i++)
		render_rule(&html, &d->rules[i]);
	buf_append_str(&html, "</tbody>\n</table>\n<p>A rule for an address comes before a"
		       " rule for its domain; a domain's rule does not cover its subdomains.</p>\n");
	http_web_respond(s, 200, "Sender identities", &html);
}

/* own_name_denied - a rule for exactly the account's address denies it */
static bool own_name_denied(const struct senders_data *d, const char *account)
{
	for (size_t i = 0; i < d->count; i++)
		if (!d->rules[i].allow && strcasecmp(d->rules[i].pattern, account) == 0)
			return true;
	return false;
}

/* render_rule - one rule's row: the pattern, allowed or not, what it covers */
static void render_rule(struct buf *out, const struct store_sender *rule)
{
	bool domain = rule->pattern[0] == '@';
	buf_append_str(out, "<tr><td>");
	http_web_text(out, rule->pattern);
	buf_printf(out, "</td><td>%s</td><td>%s</td></tr>\n", rule->allow ? "yes" : "no",
		   domain ? (rule->allow ? "every address of the domain"
			     : "no address of the domain, unless a rule allows it")
			  : (rule->allow ? "this address" : "this address is denied"));
}

static void senders_data_free(void *data)
{
	struct senders_data *d = data;
	store_sender_list_free(&d->rules, d->count);
	free(d);
}
