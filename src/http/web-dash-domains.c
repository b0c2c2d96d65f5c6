/* http/web-dash-domains - the dashboard's domains page (docs/web.md): GET
 * /dashboard/domains checks the DNS records of the account's domains as
 * `petrel check-domain` does (mailauth's domain check: MX, SPF, DKIM,
 * DMARC, MTA-STS, TLS-RPT) and shows each record's status in words, what
 * is wrong, and the exact records to publish.
 *
 * The domains: the one of the account's own address, then those its
 * sender identities allow (an address or a whole @domain; the operator's
 * domains are shown only so, where the account may send from them), by
 * name, at most [web] domain_checks of them.  The store and the dkim
 * folder's file names are read on the session's worker job; the checks
 * run on the loop through the server's resolver, all at once.  DKIM is
 * checked for the selectors this server signs the domain's mail with: the
 * keys process's list (the signer's, fetched again if it is not current,
 * waited for at most KEYS_WAIT_MS), which also gives each key's record to
 * publish; without it, the dkim folder's names.  The page answers when
 * every check has ended, or at [web] domain_check_timeout with those that
 * did, saying which did not answer in time.  At most [web]
 * domain_check_pages loads check at once, server-wide (each may start
 * domain_checks checks of many lookups): one more is 503, Retry-After.
 *
 * Lifetime: the page's data (struct domains_data) is the request's
 * (s->web->data) and dies with it: when the session closes (the client
 * went away, the server stops) its free cancels the checks, the key-list
 * wait and the timer, so no callback outlives it.  The callbacks find the
 * session again by id before they answer.
 */
#include "http/web-session.h"
#include "http/web.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>

#include "keysd/keysd.h"
#include "mailauth/mailauth.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/domain.h"
#include "util/log.h"
#include "util/xalloc.h"

/* how long the page waits for the keys process's key list before it checks
 * with the dkim folder's names instead (a keys process answers in ms) */
#define KEYS_WAIT_MS 1000

struct domains_data;

/* one domain of the page */
struct domain_item {
	struct domains_data *d;
	char *name;                     /* lower case */
	bool receives;                  /* this server receives mail for it */
	char **folder_selectors;        /* DATA_DIR/dkim/'s names for it (worker) */
	size_t folder_count;
	struct domain_check *check;     /* running or over */
	bool over;
};

struct domains_data {
	int rc;                         /* of the store's read */
	struct domain_item *items;
	size_t count;
	size_t more;                    /* domains over [web] domain_checks */
	/* on the loop */
	struct http_job_origin origin;
	struct event *timer;            /* the key-list wait, then the checks' */
	struct keysd_signer_watch *keys_watch;
	bool checking;                  /* the checks have started */
	bool counted;                   /* in the server's domain_pages */
	size_t pending;                 /* checks not over */
	bool answered;
};

static void domains_work(struct http_web_request *r);
static void domains_add(struct domains_data *d, const char *domain);
static int domain_item_cmp(const void *a, const void *b);
static void domains_done(struct http_session *s, struct http_web_request *r);
static void keys_listed(void *ctx);
static void timer_cb(evutil_socket_t fd, short what, void *arg);
static void checks_start(struct domains_data *d);
static void check_over(void *ctx, struct domain_check *check);
static void domains_answer(struct domains_data *d);
static void render_domain(struct buf *out, const struct domain_item *item, unsigned timeout);
static void render_section(struct buf *out, const struct domain_check_section *s);
static void render_publish(struct buf *out, const struct domain_check *check);
static void domains_data_free(void *data);

static const struct http_web_page DOMAINS_PAGE = {
	.name = "domains", .work = domains_work, .done = domains_done,
	.free_data = domains_data_free,
};

static const char *const LEVEL_WORDS[] = { "OK", "WARN", "ERROR" };

void http_route_web_domains(struct http_session *s)
{
	http_web_session_run(s, &DOMAINS_PAGE, xcalloc(1, sizeof(struct domains_data)));
}

/* domains_work - (worker) the account's domains: its own address's, then
 * those its allowing sender rules name, by name; each one's dkim folder
 * selectors */
static void domains_work(struct http_web_request *r)
{
	struct domains_data *d = r->data;
	const struct config *config = r->origin.server->config;
	struct store_sender *rules = NULL;
	size_t rule_count = 0;
	const char *error = NULL;
	d->rc = store_sender_list(r->origin.server->store, r->account, &rules, &rule_count,
				  &error);
	if (d->rc != 0) {
		log_error("http-web", "session=%s page=domains account=%s error=\"%s\"",
			  r->origin.sid, r->account, error);
		return;
	}
	const char *at = strrchr(r->account, '@');
	if (at)
		domains_add(d, at + 1);
	size_t own = d->count;
	for (size_t i = 0; i < rule_count; i++) {
		const char *rule_at = strrchr(rules[i].pattern, '@');
		if (rules[i].allow && rule_at)
			domains_add(d, rule_at + 1);
	}
	store_sender_list_free(&rules, rule_count);
	qsort(d->items + own, d->count - own, sizeof(*d->items), domain_item_cmp);
	size_t limit = config->web.domain_checks;
	for (size_t i = limit; i < d->count; i++)
		free(d->items[i].name);
	if (d->count > limit) {
		d->more = d->count - limit;
		d->count = limit;
	}
	for (size_t i = 0; i < d->count; i++) {
		struct domain_item *item = &d->items[i];
		item->receives = config_is_local_domain(config, item->name);
		item->folder_count = keysd_dkim_selectors(config->data_dir, item->name,
							  &item->folder_selectors);
	}
}

/* domains_add - DOMAIN (lower-cased) unless the list has it or it is no
 * domain name */
static void domains_add(struct domains_data *d, const char *domain)
{
	size_t len = strlen(domain);
	if (len == 0 || len >= MAILAUTH_DOMAIN_SIZE || !domain_name_is_valid(domain, len, 0))
		return;
	for (size_t i = 0; i < d->count; i++)
		if (strcasecmp(d->items[i].name, domain) == 0)
			return;
	d->items = xrealloc(d->items, (d->count + 1) * sizeof(*d->items));
	char *name = xstrdup(domain);
	for (char *p = name; *p; p++)
		*p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
	d->items[d->count++] = (struct domain_item){ .d = d, .name = name };
}

static int domain_item_cmp(const void *a, const void *b)
{
	return strcmp(((const struct domain_item *)a)->name,
		      ((const struct domain_item *)b)->name);
}

/* domains_done - (loop) the store is read: wait for the key list if the
 * signer's is not current, then check */
static void domains_done(struct http_session *s, struct http_web_request *r)
{
	struct domains_data *d = r->data;
	struct http_server *server = s->server;
	if (d->rc != 0) {
		http_web_notice(s, r, 503, "Try again later",
				"The account's domains cannot be read now.", "/dashboard/domains");
		return;
	}
	if (d->count > 0 && (server->dns == NULL || server->psl == NULL)) {
		http_web_notice(s, r, 503, "Try again later",
				"This server cannot look up DNS records now.", NULL);
		return;
	}
	if (d->count > 0 && server->domain_pages >= server->config->web.domain_check_pages) {
		log_info("http-web", "session=%s page=domains result=busy running=%u",
			 r->origin.sid, server->domain_pages);
		http_session_add_header(s, "Retry-After", "5");
		http_web_notice(s, r, 503, "Try again later", "Too many domain checks are running"
				" on this server: try again in a few seconds.", "/dashboard/domains");
		return;
	}
	d->origin = r->origin;
	if (d->count > 0) {
		server->domain_pages++;
		d->counted = true;
	}
	d->timer = evtimer_new(server->base, timer_cb, d);
	if (d->timer == NULL)
		abort();
	if (d->count > 0 && server->signer)
		d->keys_watch = keysd_signer_list_wait(server->signer, keys_listed, d);
	if (d->keys_watch == NULL) {
		checks_start(d);
		return;
	}
	struct timeval wait = { KEYS_WAIT_MS / 1000, (KEYS_WAIT_MS % 1000) * 1000 };
	if (evtimer_add(d->timer, &wait) != 0)
		abort();
}

/* keys_listed - the signer has the current key list */
static void keys_listed(void *ctx)
{
	struct domains_data *d = ctx;
	d->keys_watch = NULL;
	checks_start(d);
}

/* timer_cb - no key list in time: check with the dkim folder's names; or
 * the checks' time is over: answer with those that ended */
static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct domains_data *d = arg;
	if (!d->checking) {
		keysd_signer_watch_cancel(d->origin.server->signer, &d->keys_watch);
		checks_start(d);
		return;
	}
	log_info("http-web", "session=%s page=domains timeout=%u unanswered=%zu", d->origin.sid,
		 d->origin.server->config->web.domain_check_timeout, d->pending);
	domains_answer(d);
}

/* checks_start - every domain's check at once, and the page's timer */
static void checks_start(struct domains_data *d)
{
	struct http_server *server = d->origin.server;
	const struct config *config = server->config;
	evtimer_del(d->timer);
	d->checking = true;
	for (size_t i = 0; i < d->count; i++) {
		struct domain_item *item = &d->items[i];
		struct keysd_dkim_key *keys = NULL;
		size_t key_count = server->signer ?
			keysd_signer_domain_keys(server->signer, item->name, &keys) : 0;
		size_t n = key_count ? key_count : item->folder_count;
		const char **selectors = xcalloc(n + 1, sizeof(*selectors));
		const char **records = xcalloc(n + 1, sizeof(*records));
		for (size_t j = 0; j < n; j++) {
			selectors[j] = key_count ? keys[j].selector : item->folder_selectors[j];
			records[j] = key_count ? keys[j].record : NULL;
		}
		struct domain_check_settings settings = {
			.hostname = config->hostname,
			.source_address = config->delivery.source_address,
			.receives = item->receives,
			.spf_void_lookups = config->auth.spf_void_lookups,
			.spf_timeout_ms = config->auth.spf_timeout * 1000,
			.selectors = selectors, .selector_records = records, .selector_count = n,
			.selectors_local = n > 0, .psl = server->psl,
		};
		d->pending++;
		item->check = domain_check_start(server->base, server->dns, &settings, item->name,
						 check_over, item);
		free(selectors);
		free(records);
		keysd_dkim_keys_free(&keys, key_count);
	}
	if (d->pending == 0) {
		domains_answer(d);
		return;
	}
	struct timeval limit = { (time_t)config->web.domain_check_timeout, 0 };
	if (evtimer_add(d->timer, &limit) != 0)
		abort();
}

static void check_over(void *ctx, struct domain_check *check)
{
	struct domain_item *item = ctx;
	struct domains_data *d = item->d;
	item->over = true;
	if (--d->pending == 0)
		domains_answer(d);
}

/* domains_answer - the page, with what came back.  Answering ends the
 * request, whose free ends D (and the check whose callback this may be:
 * nothing of either is touched after). */
static void domains_answer(struct domains_data *d)
{
	struct http_session *s = http_job_origin_session(&d->origin);
	if (d->answered || s == NULL || s->conn.dead || s->web == NULL || s->web->data != d)
		return;
	d->answered = true;
	const struct http_web_request *r = s->web;
	unsigned timeout = s->server->config->web.domain_check_timeout;
	struct buf html;
	buf_init(&html);
	http_web_nav(&html, r);
	buf_append_str(&html, "<p>The DNS records that make your mail trusted, looked up now:"
		       " where mail for each domain goes (MX), which servers may send it (SPF),"
		       " the keys that sign it (DKIM), what receivers do with mail that fails"
		       " (DMARC), and the optional MTA-STS and TLS-RPT. Each record is OK, WARN"
		       " (works, could be better) or ERROR (receivers may refuse or lose your"
		       " mail); publish the records shown, at your DNS provider, to fix it.</p>\n");
	if (d->count == 0)
		buf_append_str(&html, "<p id=\"no-domains\">This account has no domain to check.</p>\n");
	for (size_t i = 0; i < d->count; i++)
		render_domain(&html, &d->items[i], timeout);
	if (d->more > 0)
		buf_printf(&html, "<p id=\"more-domains\">%zu more domain%s not checked: a page checks"
			   " %zu at most. <code>petrel check-domain DOMAIN</code> checks any"
			   " one.</p>\n", d->more, d->more == 1 ? " is" : "s are", d->count);
	http_web_respond(s, 200, "Domains", &html);
}

/* render_domain - ITEM's status, its records' table and what to publish */
static void render_domain(struct buf *out, const struct domain_item *item, unsigned timeout)
{
	buf_append_str(out, "<section class=\"domain\">\n<h2>");
	http_web_text(out, item->name);
	if (!item->over) {
		buf_printf(out, ": <span class=\"status\">NO ANSWER</span></h2>\n<p class=\"timeout\">"
			   "The DNS did not answer in time (%u s): reload the page to check"
			   " again.</p>\n</section>\n", timeout);
		return;
	}
	enum domain_check_level worst = domain_check_worst(item->check);
	buf_printf(out, ": <span class=\"status status-%s\">%s</span></h2>\n",
		   domain_check_level_name(worst), LEVEL_WORDS[worst]);
	buf_append_str(out, "<table class=\"checks\">\n<caption>Records of ");
	http_web_text(out, item->name);
	buf_append_str(out, "</caption>\n<thead><tr><th scope=\"col\">Record</th>"
		       "<th scope=\"col\">Status</th><th scope=\"col\">Published</th>"
		       "<th scope=\"col\">Findings</th></tr></thead>\n<tbody>\n");
	size_t count = 0;
	const struct domain_check_section *sections = domain_check_sections(item->check, &count);
	for (size_t i = 0; i < count; i++)
		render_section(out, &sections[i]);
	buf_append_str(out, "</tbody>\n</table>\n");
	render_publish(out, item->check);
	buf_append_str(out, "</section>\n");
}

/* render_section - one record's row: its status in words, the records
 * found, each finding with its level */
static void render_section(struct buf *out, const struct domain_check_section *s)
{
	buf_printf(out, "<tr class=\"check-%s\"><th scope=\"row\">", s->name);
	for (const char *p = s->name; *p; p++)
		buf_printf(out, "%c", *p >= 'a' && *p <= 'z' ? *p - 32 : *p);
	buf_printf(out, "</th><td class=\"status-%s\">%s</td><td>",
		   domain_check_level_name(s->status), LEVEL_WORDS[s->status]);
	for (size_t i = 0; i < s->record_count; i++) {
		buf_append_str(out, i ? "<br><code>" : "<code>");
		http_web_text(out, s->records[i]);
		buf_append_str(out, "</code>");
	}
	buf_append_str(out, "</td><td><ul>");
	for (size_t i = 0; i < s->finding_count; i++) {
		buf_printf(out, "<li>%s: ", LEVEL_WORDS[s->findings[i].level]);
		http_web_text(out, s->findings[i].text);
		buf_append_str(out, "</li>");
	}
	buf_append_str(out, "</ul></td></tr>\n");
}

/* render_publish - the records to publish: name, type and value to copy
 * into a DNS provider's form, and the same as zone file lines */
static void render_publish(struct buf *out, const struct domain_check *check)
{
	size_t count = 0, records = 0;
	const struct domain_check_section *sections = domain_check_sections(check, &count);
	for (size_t i = 0; i < count; i++)
		records += sections[i].publish_count;
	if (records == 0) {
		buf_append_str(out, "<p class=\"nothing-to-publish\">Nothing to publish.</p>\n");
		return;
	}
	buf_append_str(out, "<table class=\"publish\">\n<caption>Records to publish</caption>\n"
		       "<thead><tr><th scope=\"col\">Name</th><th scope=\"col\">Type</th>"
		       "<th scope=\"col\">Value</th></tr></thead>\n<tbody>\n");
	for (size_t i = 0; i < count; i++) {
		for (size_t j = 0; j < sections[i].publish_count; j++) {
			const struct domain_check_record *p = &sections[i].publish[j];
			buf_append_str(out, "<tr><td><code>");
			http_web_text(out, p->name);
			buf_printf(out, "</code></td><td>%s</td><td><code>", p->type);
			http_web_text(out, p->value);
			buf_append_str(out, "</code></td></tr>\n");
		}
	}
	buf_append_str(out, "</tbody>\n</table>\n<p>As zone file lines:</p>\n<pre class=\"zone\">");
	for (size_t i = 0; i < count; i++) {
		for (size_t j = 0; j < sections[i].publish_count; j++) {
			http_web_text(out, sections[i].publish[j].zone);
			buf_append_str(out, "\n");
		}
	}
	buf_append_str(out, "</pre>\n");
}

static void domains_data_free(void *data)
{
	struct domains_data *d = data;
	if (d->counted)
		d->origin.server->domain_pages--;
	if (d->keys_watch)
		keysd_signer_watch_cancel(d->origin.server->signer, &d->keys_watch);
	if (d->timer)
		event_free(d->timer);
	for (size_t i = 0; i < d->count; i++) {
		domain_check_free(&d->items[i].check);
		free(d->items[i].name);
		keysd_dkim_selectors_free(&d->items[i].folder_selectors, d->items[i].folder_count);
	}
	free(d->items);
	free(d);
}
