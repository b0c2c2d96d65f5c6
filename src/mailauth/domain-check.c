/* mailauth/domain-check - the records a domain publishes for mail, looked
 * up and judged (mailauth.h, "a domain's mail records checked"): what
 * `petrel check-domain` prints and the dashboard's domains page shows.
 *
 * Every lookup starts at once on the caller's loop; the answers are kept
 * as they come (struct domain_check) and judged when the last one is in,
 * so the order of the answers does not matter; the caller hears of it from
 * a zero timer, with nothing of the check's on the stack.  This server's
 * own addresses ([delivery] source_address, else the A and AAAA records of
 * [server] hostname) are checked against the domain's SPF record with the
 * SPF evaluator itself; the record's DNS lookup count comes from an
 * evaluation for an address no record names (100::1, RFC 6666's discard
 * prefix), which walks every term.  Every query and request in flight is
 * kept, so that domain_check_free cancels them: a page whose client went
 * away, or a server stopping, leaves no callback behind.
 */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/event.h>

#include "dns/dns.h"
#include "mailauth/mailauth.h"
#include "util/buf.h"
#include "util/xalloc.h"

#define DC_SERVER_ADDRS_MAX 8     /* of this server's addresses checked in SPF */
#define DC_SPF_PROBE_IP "100::1"  /* RFC 6666 discard prefix: matches nothing */
#define DC_TXT_STRING_MAX 255     /* octets of one TXT character-string (RFC 1035 3.3) */
#define DC_RSA_BITS_MIN 1024      /* RFC 8301 3.2: verifiers refuse shorter keys */
#define DC_RSA_BITS_GOOD 2048     /* RFC 8301 3.2: signers SHOULD use at least this */
#define DC_KEY_TAGS_MAX 16        /* tags of a DKIM key record read for its p= */

/* one TXT (or other) lookup's answer, copied out of its callback */
struct answer {
	struct domain_check *dc;
	char *name;                  /* what was asked */
	struct dns_query *query;     /* while it runs */
	bool done;
	enum dns_status status;
	char **items;
	size_t count;
};

struct server_addr {
	struct domain_check *dc;
	char *ip;
	struct spf_request *request; /* while it runs */
	bool done;
	enum spf_result result;
	char *mechanism;             /* the term that decided, or NULL */
};

struct mx_host {
	char *name;
	unsigned preference;
	size_t address_count;
	enum dns_status status;      /* of its address lookups */
	char *first_address;         /* for the report; NULL without any */
};

struct rua_dest {
	char *uri;
	char address[MAILAUTH_DOMAIN_SIZE + 64];
	bool external;
	struct answer auth;          /* <policy>._report._dmarc.<dest>, when external */
};

struct domain_check {
	struct event_base *base;
	struct dns_resolver *dns;
	const struct mailauth_psl *psl;
	char domain[MAILAUTH_DOMAIN_SIZE];
	char *hostname;
	bool receives;
	unsigned spf_void_lookups, spf_timeout_ms;
	domain_check_cb *cb;
	void *ctx;
	struct event *finish_ev;     /* calls CB once judged */
	bool started;                /* every first lookup is asked */
	unsigned pending;            /* lookups not answered yet */

	struct dns_query *mx_query;
	bool mx_done;
	enum dns_status mx_status;
	bool mx_implicit;
	struct mx_host *mx_hosts;
	size_t mx_count;

	struct answer spf_txt;
	struct spf_request *spf_probe;
	bool spf_probe_done;
	enum spf_result spf_probe_result;
	char *spf_probe_problem;
	unsigned spf_probe_lookups, spf_probe_void;

	struct answer host_a, host_aaaa;      /* [server] hostname's addresses */
	struct server_addr addrs[DC_SERVER_ADDRS_MAX];
	size_t addr_count;
	bool addrs_from_setting;              /* [delivery] source_address */
	bool hostname_private;                /* [server] hostname names no public host */

	struct answer *dkim;                  /* one per selector */
	char **selectors;
	char **selector_records;              /* each one's record to publish, or NULL */
	size_t selector_count;
	bool selectors_local;                 /* this server's keys', not the caller's */
	const char *selector_option;          /* settings' (kept) */

	struct dmarc_request *dmarc_request;
	struct dmarc_discovery *dmarc;
	struct rua_dest *rua;
	size_t rua_count;

	struct answer mta_sts, tls_rpt;

	struct domain_check_section sections[DOMAIN_CHECK_SECTIONS];
	size_t section_count;
};

static bool hostname_is_public(const char *name);
static void answer_start(struct domain_check *dc, struct answer *a, const char *name);
static void answer_done(void *ctx, const struct dns_records *records);
static void answer_free(struct answer *a);
static void check_done_one(struct domain_check *dc);
static void check_finish(struct domain_check *dc);
static void finish_cb(evutil_socket_t fd, short what, void *arg);
static void mx_done(void *ctx, const struct dns_mx_result *result);
static void spf_probe_done(void *ctx, const struct spf_outcome *outcome);
static void server_addr_add(struct domain_check *dc, const char *ip);
static void server_addr_done(void *ctx, const struct spf_outcome *outcome);
static void dmarc_done(void *ctx, struct dmarc_discovery *discovery);
static struct domain_check_section *section_new(struct domain_check *dc, const char *name);
static void section_add(struct domain_check_section *s, enum domain_check_level level,
			const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void section_record(struct domain_check_section *s, const char *text);
static void section_publish_txt(struct domain_check_section *s, const char *name,
				const char *text);
static void section_publish_mx(struct domain_check_section *s, const char *name,
			       const char *host);
static void judge_mx(struct domain_check *dc);
static void judge_spf(struct domain_check *dc);
static void judge_dkim(struct domain_check *dc);
static void dkim_publish(struct domain_check *dc, struct domain_check_section *s, size_t i);
static void dkim_key_p(const char *text, char *out, size_t size);
static bool dkim_same_key(const char *published, const char *ours);
static void judge_dmarc(struct domain_check *dc);
static void judge_tagged(struct domain_check *dc, const char *name, const struct answer *a,
			 const char *version, const char *what);
static void sections_free(struct domain_check *dc);

static const char *const level_names[] = { "ok", "warn", "error" };

struct domain_check *domain_check_start(struct event_base *base, struct dns_resolver *dns,
					const struct domain_check_settings *settings,
					const char *domain, domain_check_cb *cb, void *ctx)
{
	struct domain_check *dc = xcalloc(1, sizeof(*dc));
	size_t len = strlen(domain);
	assert(len < MAILAUTH_DOMAIN_SIZE);
	for (size_t i = 0; i < len; i++)
		dc->domain[i] = (char)(domain[i] >= 'A' && domain[i] <= 'Z' ? domain[i] + 32 :
				       domain[i]);
	dc->base = base;
	dc->dns = dns;
	dc->psl = settings->psl;
	dc->hostname = xstrdup(settings->hostname);
	dc->receives = settings->receives;
	dc->spf_void_lookups = settings->spf_void_lookups;
	dc->spf_timeout_ms = settings->spf_timeout_ms;
	dc->cb = cb;
	dc->ctx = ctx;
	dc->finish_ev = evtimer_new(base, finish_cb, dc);
	if (dc->finish_ev == NULL)
		abort();
	dc->selector_count = settings->selector_count;
	dc->selectors = xcalloc(dc->selector_count + 1, sizeof(*dc->selectors));
	dc->selector_records = xcalloc(dc->selector_count + 1, sizeof(*dc->selector_records));
	for (size_t i = 0; i < dc->selector_count; i++) {
		dc->selectors[i] = xstrdup(settings->selectors[i]);
		if (settings->selector_records && settings->selector_records[i])
			dc->selector_records[i] = xstrdup(settings->selector_records[i]);
	}
	dc->selectors_local = settings->selectors_local;
	dc->selector_option = settings->selector_option;

	/* every lookup at once; each answer counts down dc->pending */
	dc->pending++;
	dc->mx_query = dns_resolve_mx(dns, dc->domain, mx_done, dc);
	if (dc->mx_query == NULL) {
		dc->pending--;
		dc->mx_done = true;
		dc->mx_status = DNS_TEMPFAIL;
	}
	answer_start(dc, &dc->spf_txt, dc->domain);
	char sender[MAILAUTH_DOMAIN_SIZE + 16];
	snprintf(sender, sizeof(sender), "postmaster@%s", dc->domain);
	struct spf_params probe = {
		.ip = DC_SPF_PROBE_IP, .sender = sender, .helo = dc->hostname,
		.receiver = dc->hostname, .now = (long long)time(NULL),
		.void_lookups_max = dc->spf_void_lookups, .timeout_ms = dc->spf_timeout_ms,
	};
	dc->pending++;
	dc->spf_probe = spf_request_start(base, dns, &probe, spf_probe_done, dc);
	if (settings->source_address && settings->source_address[0] != '\0') {
		dc->addrs_from_setting = true;
		server_addr_add(dc, settings->source_address);
	} else if (!hostname_is_public(dc->hostname)) {
		dc->hostname_private = true;
	} else {
		answer_start(dc, &dc->host_a, dc->hostname);
		answer_start(dc, &dc->host_aaaa, dc->hostname);
	}
	dc->dkim = xcalloc(dc->selector_count + 1, sizeof(*dc->dkim));
	for (size_t i = 0; i < dc->selector_count; i++) {
		char name[2 * MAILAUTH_DOMAIN_SIZE + 16];
		snprintf(name, sizeof(name), "%s._domainkey.%s", dc->selectors[i], dc->domain);
		answer_start(dc, &dc->dkim[i], name);
	}
	dc->pending++;
	dc->dmarc_request = dmarc_request_start(base, dns, dc->psl, dc->domain, dmarc_done, dc);
	char name[MAILAUTH_DOMAIN_SIZE + 16];
	snprintf(name, sizeof(name), "_mta-sts.%s", dc->domain);
	answer_start(dc, &dc->mta_sts, name);
	snprintf(name, sizeof(name), "_smtp._tls.%s", dc->domain);
	answer_start(dc, &dc->tls_rpt, name);
	dc->started = true;
	if (dc->pending == 0)
		check_finish(dc);
	return dc;
}

const char *domain_check_domain(const struct domain_check *check)
{
	return check->domain;
}

const struct domain_check_section *domain_check_sections(const struct domain_check *check,
							 size_t *count_r)
{
	*count_r = check->section_count;
	return check->sections;
}

enum domain_check_level domain_check_worst(const struct domain_check *check)
{
	enum domain_check_level worst = DOMAIN_CHECK_OK;
	for (size_t i = 0; i < check->section_count; i++)
		if (check->sections[i].status > worst)
			worst = check->sections[i].status;
	return worst;
}

const char *domain_check_level_name(enum domain_check_level level)
{
	return level_names[level];
}

/* ---- the lookups ------------------------------------------------------------ */

static void check_done_one(struct domain_check *dc)
{
	if (--dc->pending == 0 && dc->started)
		check_finish(dc);
}

/* check_finish - every answer is in: judge them, and tell the caller from
 * the loop */
static void check_finish(struct domain_check *dc)
{
	judge_mx(dc);
	judge_spf(dc);
	judge_dkim(dc);
	judge_dmarc(dc);
	judge_tagged(dc, "mta-sts", &dc->mta_sts, "STSv1", "MTA-STS (RFC 8461)");
	judge_tagged(dc, "tls-rpt", &dc->tls_rpt, "TLSRPTv1", "TLS-RPT (RFC 8460)");
	struct timeval now = { 0, 0 };
	if (evtimer_add(dc->finish_ev, &now) != 0)
		abort();
}

static void finish_cb(evutil_socket_t fd, short what, void *arg)
{
	struct domain_check *dc = arg;
	dc->cb(dc->ctx, dc);
}

/* answer_start - look up NAME's TXT records (A or AAAA for the host
 * answers) into A */
static void answer_start(struct domain_check *dc, struct answer *a, const char *name)
{
	enum dns_type type = a == &dc->host_a ? DNS_TYPE_A :
			     a == &dc->host_aaaa ? DNS_TYPE_AAAA : DNS_TYPE_TXT;
	a->dc = dc;
	a->name = xstrdup(name);
	dc->pending++;
	a->query = dns_lookup(dc->dns, name, type, answer_done, a);
	if (a->query == NULL) {
		a->done = true;
		a->status = DNS_TEMPFAIL;
		dc->pending--;
	}
}

static void answer_done(void *ctx, const struct dns_records *records)
{
	struct answer *a = ctx;
	struct domain_check *dc = a->dc;
	a->query = NULL;
	a->done = true;
	a->status = records->status;
	if (records->status == DNS_OK && records->count > 0) {
		a->items = xcalloc(records->count, sizeof(*a->items));
		for (size_t i = 0; i < records->count; i++)
			a->items[i] = xstrdup(records->items[i]);
		a->count = records->count;
	}
	if (a == &dc->host_a || a == &dc->host_aaaa) {
		for (size_t i = 0; i < a->count; i++)
			server_addr_add(dc, a->items[i]);
	}
	check_done_one(dc);
}

static void answer_free(struct answer *a)
{
	if (a->query)
		dns_cancel(a->query);
	for (size_t i = 0; i < a->count; i++)
		free(a->items[i]);
	free(a->items);
	free(a->name);
	memset(a, 0, sizeof(*a));
}

static void mx_done(void *ctx, const struct dns_mx_result *result)
{
	struct domain_check *dc = ctx;
	dc->mx_query = NULL;
	dc->mx_done = true;
	dc->mx_status = result->status;
	dc->mx_implicit = result->implicit;
	if (result->host_count > 0) {
		dc->mx_hosts = xcalloc(result->host_count, sizeof(*dc->mx_hosts));
		for (size_t i = 0; i < result->host_count; i++) {
			const struct dns_mx_host *h = &result->hosts[i];
			dc->mx_hosts[i].name = xstrdup(h->name);
			dc->mx_hosts[i].preference = h->preference;
			dc->mx_hosts[i].address_count = h->address_count;
			dc->mx_hosts[i].status = h->status;
			if (h->address_count > 0)
				dc->mx_hosts[i].first_address = xstrdup(h->addresses[0]);
		}
		dc->mx_count = result->host_count;
	}
	check_done_one(dc);
}

static void spf_probe_done(void *ctx, const struct spf_outcome *o)
{
	struct domain_check *dc = ctx;
	dc->spf_probe = NULL;
	dc->spf_probe_done = true;
	dc->spf_probe_result = o->result;
	dc->spf_probe_problem = o->problem ? xstrdup(o->problem) : NULL;
	dc->spf_probe_lookups = o->lookups;
	dc->spf_probe_void = o->void_lookups;
	check_done_one(dc);
}

/* hostname_is_public - whether NAME can be the name receivers know this
 * server by: fully qualified (RFC 5321 2.3.5), and neither "localhost" nor
 * under it (RFC 6761 6.3), whose addresses are loopback ones that no SPF
 * record or MX should name */
static bool hostname_is_public(const char *name)
{
	size_t len = strlen(name);
	if (len > 0 && name[len - 1] == '.')
		len--;
	if (memchr(name, '.', len) == NULL)
		return false;
	static const char localhost[] = ".localhost";
	size_t n = sizeof(localhost) - 1;
	return !(len >= n && strncasecmp(name + len - n, localhost, n) == 0);
}

/* server_name - this server's name for the records to publish: [server]
 * hostname, or a placeholder when that names no public host */
static const char *server_name(const struct domain_check *dc)
{
	return dc->hostname_private ? "YOUR-MAIL-SERVER" : dc->hostname;
}

/* server_addr_add - check IP, one of this server's addresses, against the
 * domain's SPF record as a receiver would for mail from postmaster@DOMAIN */
static void server_addr_add(struct domain_check *dc, const char *ip)
{
	if (dc->addr_count == DC_SERVER_ADDRS_MAX)
		return;
	struct server_addr *a = &dc->addrs[dc->addr_count++];
	a->dc = dc;
	a->ip = xstrdup(ip);
	char sender[MAILAUTH_DOMAIN_SIZE + 16];
	snprintf(sender, sizeof(sender), "postmaster@%s", dc->domain);
	struct spf_params params = {
		.ip = ip, .sender = sender, .helo = dc->hostname,
		.receiver = dc->hostname, .now = (long long)time(NULL),
		.void_lookups_max = dc->spf_void_lookups,
		.timeout_ms = dc->spf_timeout_ms,
	};
	dc->pending++;
	a->request = spf_request_start(dc->base, dc->dns, &params, server_addr_done, a);
}

static void server_addr_done(void *ctx, const struct spf_outcome *o)
{
	struct server_addr *a = ctx;
	a->request = NULL;
	a->done = true;
	a->result = o->result;
	a->mechanism = o->mechanism ? xstrdup(o->mechanism) : NULL;
	check_done_one(a->dc);
}

/* dmarc_done - keep the discovery; ask each external rua= destination
 * whether it accepts the reports (RFC 7489 7.1) */
static void dmarc_done(void *ctx, struct dmarc_discovery *discovery)
{
	struct domain_check *dc = ctx;
	dc->dmarc_request = NULL;
	dc->dmarc = discovery;
	const struct dmarc_found *found = dmarc_discovery_found(discovery);
	if (found->status == DMARC_FOUND_RECORD && found->record->rua_count > 0) {
		const struct dmarc_record *r = found->record;
		dc->rua = xcalloc(r->rua_count, sizeof(*dc->rua));
		dc->rua_count = r->rua_count;
		for (size_t i = 0; i < r->rua_count; i++) {
			struct rua_dest *d = &dc->rua[i];
			d->uri = xstrdup(r->rua[i].uri);
			if (!dmarc_rua_mailto(d->uri, d->address, sizeof(d->address)))
				continue;
			const char *dest = strrchr(d->address, '@') + 1;
			d->external = dmarc_rua_is_external(dc->psl, found->record_domain, dest);
			char name[MAILAUTH_DOMAIN_SIZE];
			if (d->external && dmarc_rua_auth_name(found->record_domain, dest, name))
				answer_start(dc, &d->auth, name);
		}
	}
	check_done_one(dc);
}

/* ---- judging ---------------------------------------------------------------- */

static struct domain_check_section *section_new(struct domain_check *dc, const char *name)
{
	struct domain_check_section *s = &dc->sections[dc->section_count++];
	s->name = name;
	return s;
}

static void section_add(struct domain_check_section *s, enum domain_check_level level,
			const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *text = xvasprintf(fmt, ap);
	va_end(ap);
	s->findings = xrealloc(s->findings, (s->finding_count + 1) * sizeof(*s->findings));
	s->findings[s->finding_count++] = (struct domain_check_finding){ level, text };
	if (level > s->status)
		s->status = level;
}

static void section_record(struct domain_check_section *s, const char *text)
{
	s->records = xrealloc(s->records, (s->record_count + 1) * sizeof(*s->records));
	s->records[s->record_count++] = xstrdup(text);
}

/* domain_check_txt_record - mailauth.h */
char *domain_check_txt_record(const char *name, const char *text)
{
	struct buf b;
	buf_init(&b);
	buf_printf(&b, "%s. IN TXT", name);
	size_t len = strlen(text), off = 0;
	do {
		size_t n = len - off < DC_TXT_STRING_MAX ? len - off : DC_TXT_STRING_MAX;
		buf_printf(&b, " \"%.*s\"", (int)n, text + off);
		off += n;
	} while (off < len);
	char *record = xstrndup((const char *)b.data, b.len);
	buf_free(&b);
	return record;
}

/* section_publish - a record to publish: NAME's TYPE record VALUE, whose
 * zone file line is ZONE (taken) */
static void section_publish(struct domain_check_section *s, const char *name,
			    const char *type, const char *value, char *zone)
{
	s->publish = xrealloc(s->publish, (s->publish_count + 1) * sizeof(*s->publish));
	s->publish[s->publish_count++] = (struct domain_check_record){
		.name = xstrdup(name), .type = type, .value = xstrdup(value), .zone = zone,
	};
}

static void section_publish_txt(struct domain_check_section *s, const char *name,
				const char *text)
{
	section_publish(s, name, "TXT", text, domain_check_txt_record(name, text));
}

/* section_publish_mx - NAME's MX record naming HOST, preference 10 */
static void section_publish_mx(struct domain_check_section *s, const char *name,
			       const char *host)
{
	char *value = xasprintf("10 %s.", host);
	section_publish(s, name, "MX", value, xasprintf("%s. IN MX %s", name, value));
	free(value);
}

static const char *status_text(enum dns_status status)
{
	switch (status) {
	case DNS_NXDOMAIN: return "the name does not exist";
	case DNS_NODATA: return "no record";
	case DNS_TEMPFAIL: return "DNS temporary failure: could not be checked";
	case DNS_NULL_MX: return "null MX";
	case DNS_OK: break;
	}
	return "found";
}

/* judge_mx - RFC 5321 5.1 (MX, else the domain's own address), RFC 7505
 * (null MX); a domain this server receives for should name it */
static void judge_mx(struct domain_check *dc)
{
	struct domain_check_section *s = section_new(dc, "mx");
	const char *host = dc->hostname;
	const char *publish_host = server_name(dc);
	bool local = dc->receives;
	if (dc->mx_status == DNS_NULL_MX) {
		section_record(s, "0 .");
		section_add(s, local ? DOMAIN_CHECK_ERROR : DOMAIN_CHECK_WARN,
			    "null MX (RFC 7505): the domain receives no mail%s", local ?
			    ", yet this server receives mail for it" :
			    "; receivers refuse mail whose envelope sender uses it (RFC 7505 4.2)");
		if (local)
			section_publish_mx(s, dc->domain, publish_host);
		return;
	}
	/* with MX hosts, the overall status is their addresses' (judged below) */
	if (dc->mx_count == 0 && (dc->mx_status == DNS_TEMPFAIL ||
				  dc->mx_status == DNS_NXDOMAIN)) {
		section_add(s, DOMAIN_CHECK_ERROR, "%s: %s", dc->domain, status_text(dc->mx_status));
		return;
	}
	if (dc->mx_implicit || dc->mx_count == 0) {
		section_add(s, DOMAIN_CHECK_WARN, "no MX record: %s", dc->mx_count ?
			    "mail goes to the domain's own address (RFC 5321 5.1)" :
			    "and no address either: the domain receives no mail");
		section_publish_mx(s, dc->domain, local ? publish_host : "YOUR-MAIL-SERVER");
		return;
	}
	bool ours = false;
	for (size_t i = 0; i < dc->mx_count; i++) {
		const struct mx_host *h = &dc->mx_hosts[i];
		char *line = xasprintf("%u %s", h->preference, h->name);
		section_record(s, line);
		free(line);
		if (strcasecmp(h->name, host) == 0)
			ours = true;
		if (h->address_count == 0 && h->status == DNS_TEMPFAIL)
			section_add(s, DOMAIN_CHECK_ERROR, "MX host %s: %s", h->name,
				    status_text(h->status));
		else if (h->address_count == 0)
			section_add(s, DOMAIN_CHECK_ERROR, "MX host %s has no address (A or AAAA)",
				    h->name);
		else
			section_add(s, DOMAIN_CHECK_OK, "MX host %s (preference %u) at %s%s", h->name,
				    h->preference, h->first_address,
				    h->address_count > 1 ? " and more" : "");
	}
	if (local && !ours) {
		section_add(s, DOMAIN_CHECK_WARN, "this server (%s) receives mail for %s but is not "
			    "one of its MX hosts", host, dc->domain);
		section_publish_mx(s, dc->domain, publish_host);
	}
}

/* spf_suggest - the record to publish: RECORD (NULL: none) with this
 * server's addresses that did not pass put first and a permissive or
 * missing all ended with -all */
static char *spf_suggest(const struct domain_check *dc, const char *record)
{
	struct buf b;
	buf_init(&b);
	buf_append_str(&b, "v=spf1");
	bool have_end = false;
	for (size_t i = 0; i < dc->addr_count; i++) {
		const struct server_addr *a = &dc->addrs[i];
		if (record == NULL || a->result != SPF_RESULT_PASS)
			buf_printf(&b, " %s:%s", strchr(a->ip, ':') ? "ip6" : "ip4", a->ip);
	}
	if (record == NULL && dc->addr_count == 0)
		buf_append_str(&b, " mx");
	if (record != NULL) {
		const char *p = record + 6;   /* after "v=spf1" */
		while (*p) {
			while (*p == ' ')
				p++;
			const char *end = p;
			while (*end && *end != ' ')
				end++;
			if (end == p)
				break;
			size_t n = (size_t)(end - p);
			bool all = (n == 3 && strncasecmp(p, "all", 3) == 0) ||
				   (n == 4 && strncasecmp(p + 1, "all", 3) == 0);
			bool redirect = n > 9 && strncasecmp(p, "redirect=", 9) == 0;
			if (all && (*p == '+' || *p == '?' || n == 3)) {
				buf_append_str(&b, " -all");
			} else {
				buf_printf(&b, " %.*s", (int)n, p);
			}
			have_end |= all || redirect;
			p = end;
		}
	}
	if (!have_end)
		buf_append_str(&b, " -all");
	char *text = xstrndup((const char *)b.data, b.len);
	buf_free(&b);
	return text;
}

/* judge_spf - RFC 7208: one record (4.5), valid (4.6), within the ten
 * lookups (4.6.4), ending in -all or ~all, authorizing this server */
static void judge_spf(struct domain_check *dc)
{
	struct domain_check_section *s = section_new(dc, "spf");
	const struct answer *a = &dc->spf_txt;
	if (a->status == DNS_TEMPFAIL) {
		section_add(s, DOMAIN_CHECK_ERROR, "TXT %s: %s", dc->domain, status_text(a->status));
		return;
	}
	const char *record = NULL;
	size_t found = 0;
	for (size_t i = 0; i < a->count; i++) {
		if (!spf_record_is_spf(a->items[i], strlen(a->items[i])))
			continue;
		section_record(s, a->items[i]);
		record = a->items[i];
		found++;
	}
	if (found == 0) {
		section_add(s, DOMAIN_CHECK_ERROR, "no SPF record (TXT \"v=spf1 ...\" at %s): receivers "
			    "cannot tell which hosts send its mail", dc->domain);
		char *text = spf_suggest(dc, NULL);
		section_publish_txt(s, dc->domain, text);
		free(text);
		return;
	}
	if (found > 1) {
		section_add(s, DOMAIN_CHECK_ERROR, "%zu SPF records: receivers answer permerror (RFC "
			    "7208 4.5); merge them into one", found);
		return;
	}
	const char *error = NULL;
	struct spf_record *r = spf_record_parse(record, strlen(record), &error);
	if (r == NULL) {
		section_add(s, DOMAIN_CHECK_ERROR, "the record does not parse: %s (receivers answer "
			    "permerror, RFC 7208 4.6)", error);
		return;
	}
	const struct spf_term *all = NULL;
	for (size_t i = 0; i < r->term_count; i++) {
		const struct spf_term *t = &r->terms[i];
		if (t->mechanism == SPF_MECH_ALL)
			all = t;
		if (t->mechanism == SPF_MECH_PTR)
			section_add(s, DOMAIN_CHECK_WARN, "%.*s: the ptr mechanism is slow and "
				    "unreliable and should not be used (RFC 7208 5.5)",
				    (int)t->text_len, t->text);
	}
	bool fix = false;
	if (all == NULL && r->redirect == NULL) {
		section_add(s, DOMAIN_CHECK_WARN, "the record has no all mechanism: mail from other "
			    "hosts is neutral; end it with -all (or ~all)");
		fix = true;
	} else if (all != NULL && all->qualifier == SPF_RESULT_PASS) {
		section_add(s, DOMAIN_CHECK_ERROR, "%.*s lets every host on the Internet send as %s",
			    (int)all->text_len, all->text, dc->domain);
		fix = true;
	} else if (all != NULL && all->qualifier == SPF_RESULT_NEUTRAL) {
		section_add(s, DOMAIN_CHECK_WARN, "%.*s says nothing about other hosts; end the "
			    "record with -all (or ~all)", (int)all->text_len, all->text);
		fix = true;
	} else if (all != NULL) {
		section_add(s, DOMAIN_CHECK_OK, "ends in %.*s", (int)all->text_len, all->text);
	} else {
		section_add(s, DOMAIN_CHECK_OK, "ends in redirect=%.*s", (int)r->redirect_len,
			    r->redirect);
	}
	spf_record_free(&r);

	if (dc->spf_probe_result == SPF_RESULT_PERMERROR) {
		section_add(s, DOMAIN_CHECK_ERROR, "evaluation ends in permerror: %s",
			    dc->spf_probe_problem ? dc->spf_probe_problem : "unknown");
	} else if (dc->spf_probe_result == SPF_RESULT_TEMPERROR) {
		section_add(s, DOMAIN_CHECK_ERROR, "evaluation ends in temperror: %s",
			    dc->spf_probe_problem ? dc->spf_probe_problem : "DNS failure");
	} else {
		section_add(s, DOMAIN_CHECK_OK, "%u of %d DNS lookups, %u void", dc->spf_probe_lookups,
			    SPF_LOOKUP_MAX, dc->spf_probe_void);
	}

	if (dc->hostname_private) {
		section_add(s, DOMAIN_CHECK_WARN, "[server] hostname %s is not a public fully qualified "
			    "name: this server's addresses are not checked (set it to the name "
			    "receivers know this server by, or set [delivery] source_address)",
			    dc->hostname);
	} else if (dc->addr_count == 0) {
		section_add(s, DOMAIN_CHECK_WARN, "this server's addresses are unknown (%s has no A or "
			    "AAAA record and [delivery] source_address is not set): not checked",
			    dc->hostname);
	}
	for (size_t i = 0; i < dc->addr_count; i++) {
		const struct server_addr *sa = &dc->addrs[i];
		if (sa->result == SPF_RESULT_PASS) {
			section_add(s, DOMAIN_CHECK_OK, "this server's address %s passes (%s)", sa->ip,
				    sa->mechanism ? sa->mechanism : "");
		} else {
			section_add(s, DOMAIN_CHECK_ERROR, "this server's address %s (%s) is not "
				    "authorized: %s%s%s%s", sa->ip, dc->addrs_from_setting ?
				    "[delivery] source_address" : dc->hostname,
				    spf_result_name(sa->result), sa->mechanism ? " (" : "",
				    sa->mechanism ? sa->mechanism : "", sa->mechanism ? ")" : "");
			fix = true;
		}
	}
	if (fix) {
		char *text = spf_suggest(dc, record);
		section_publish_txt(s, dc->domain, text);
		free(text);
	}
}

/* dkim_publish - selector I's record to publish, when the caller knows it */
static void dkim_publish(struct domain_check *dc, struct domain_check_section *s, size_t i)
{
	if (dc->selector_records[i])
		section_publish_txt(s, dc->dkim[i].name, dc->selector_records[i]);
}

/* dkim_key_p - the p= value of the key record TEXT into OUT (SIZE octets),
 * its folding whitespace dropped (RFC 6376 3.6.1: base64 with FWS) */
static void dkim_key_p(const char *text, char *out, size_t size)
{
	struct mailauth_tag tags[DC_KEY_TAGS_MAX];
	const char *error = NULL;
	int n = mailauth_tags_parse(text, strlen(text), tags, DC_KEY_TAGS_MAX, &error);
	const struct mailauth_tag *p = n > 0 ? mailauth_tags_find(tags, (size_t)n, "p") : NULL;
	size_t len = 0;
	for (size_t i = 0; p && i < p->value_len && len + 1 < size; i++)
		if (p->value[i] != ' ' && p->value[i] != '\t' && p->value[i] != '\r' &&
		    p->value[i] != '\n')
			out[len++] = p->value[i];
	out[len] = '\0';
}

/* dkim_same_key - the published key record holds our record's key */
static bool dkim_same_key(const char *published, const char *ours)
{
	size_t size = strlen(published) + strlen(ours) + 1;
	char *a = xmalloc(size), *b = xmalloc(size);
	dkim_key_p(published, a, size);
	dkim_key_p(ours, b, size);
	bool same = strcmp(a, b) == 0;
	free(a);
	free(b);
	return same;
}

/* judge_dkim - each selector's key record (RFC 6376 3.6.1, RFC 8301 3.2) */
static void judge_dkim(struct domain_check *dc)
{
	struct domain_check_section *s = section_new(dc, "dkim");
	if (dc->selector_count == 0 && dc->selector_option) {
		section_add(s, DOMAIN_CHECK_WARN, "no selector given (%s) and no "
			    "signing key of %s in this server's data folder: DKIM not checked "
			    "(petrel dkim keygen %s makes one)", dc->selector_option, dc->domain,
			    dc->domain);
		return;
	}
	if (dc->selector_count == 0) {
		section_add(s, DOMAIN_CHECK_WARN, "this server has no DKIM signing key for %s, "
			    "so DKIM is not checked: ask its operator for one (petrel dkim keygen "
			    "%s); this page then shows the record to publish", dc->domain, dc->domain);
		return;
	}
	if (dc->selectors_local)
		section_add(s, DOMAIN_CHECK_OK, "the selectors of this server's keys for %s "
			    "(petrel dkim list)", dc->domain);
	for (size_t i = 0; i < dc->selector_count; i++) {
		const struct answer *a = &dc->dkim[i];
		if (a->status != DNS_OK) {
			section_add(s, DOMAIN_CHECK_ERROR, "selector %s: no key at %s (%s)%s",
				    dc->selectors[i], a->name, status_text(a->status),
				    dc->selectors_local ? "; publish the record petrel dkim list "
				    "prints for it" : "");
			dkim_publish(dc, s, i);
			continue;
		}
		const char *error = "no record";
		struct dkim_key_info info;
		size_t used = a->count;
		for (size_t j = 0; j < a->count && used == a->count; j++)
			if (dkim_key_describe(a->items[j], strlen(a->items[j]), &info, &error) == 0)
				used = j;
		for (size_t j = 0; j < a->count; j++)
			section_record(s, a->items[j]);
		if (used == a->count) {
			section_add(s, DOMAIN_CHECK_ERROR, "selector %s: the record at %s is no usable "
				    "key: %s", dc->selectors[i], a->name, error);
			dkim_publish(dc, s, i);
			continue;
		}
		if (info.revoked) {
			section_add(s, DOMAIN_CHECK_ERROR, "selector %s: the key is revoked (empty p=): "
				    "signatures with it fail", dc->selectors[i]);
			dkim_publish(dc, s, i);
			continue;
		}
		if (dc->selector_records[i] &&
		    !dkim_same_key(a->items[used], dc->selector_records[i])) {
			section_add(s, DOMAIN_CHECK_ERROR, "selector %s: the published key (p=) is not "
				    "the one this server signs with: its signatures fail",
				    dc->selectors[i]);
			dkim_publish(dc, s, i);
			continue;
		}
		enum domain_check_level level = DOMAIN_CHECK_OK;
		const char *note = "";
		if (strcmp(info.type, "rsa") == 0 && info.bits < DC_RSA_BITS_MIN) {
			level = DOMAIN_CHECK_ERROR;
			note = ": verifiers refuse RSA keys under 1024 bits (RFC 8301 3.2)";
		} else if (strcmp(info.type, "rsa") == 0 && info.bits < DC_RSA_BITS_GOOD) {
			level = DOMAIN_CHECK_WARN;
			note = ": RFC 8301 3.2 asks for 2048 bits or more";
		}
		section_add(s, level, "selector %s: %s key, %u bits%s", dc->selectors[i],
			    info.type, info.bits, note);
		if (info.testing)
			section_add(s, DOMAIN_CHECK_WARN, "selector %s: t=y, the domain is testing DKIM: "
				    "verifiers may treat failures as no signature",
				    dc->selectors[i]);
	}
}

/* judge_dmarc - RFC 7489 6.3: a record, a policy that protects, reports
 * asked for (rua=) and their destinations' consent (7.1) */
static void judge_dmarc(struct domain_check *dc)
{
	struct domain_check_section *s = section_new(dc, "dmarc");
	const struct dmarc_found *found = dmarc_discovery_found(dc->dmarc);
	char name[MAILAUTH_DOMAIN_SIZE + 8];
	snprintf(name, sizeof(name), "_dmarc.%s", dc->domain);
	char *suggest = xasprintf("v=DMARC1; p=quarantine; rua=mailto:postmaster@%s",
				  dc->domain);
	if (found->record_text)
		section_record(s, found->record_text);
	switch (found->status) {
	case DMARC_FOUND_RECORD:
		break;
	case DMARC_FOUND_NONE:
		section_add(s, DOMAIN_CHECK_ERROR, "no DMARC record (TXT \"v=DMARC1; ...\" at %s, nor at "
			    "the organizational domain %s): forged mail from %s is not refused, "
			    "and large mailbox providers expect one", name, found->org_domain,
			    dc->domain);
		section_publish_txt(s, name, suggest);
		goto out;
	case DMARC_FOUND_TEMPFAIL:
		section_add(s, DOMAIN_CHECK_ERROR, "_dmarc.%s: %s", found->record_domain,
			    status_text(DNS_TEMPFAIL));
		goto out;
	default:
		section_add(s, DOMAIN_CHECK_ERROR, "_dmarc.%s: %s: receivers apply no policy (RFC 7489 "
			    "6.6.3)", found->record_domain ? found->record_domain : dc->domain,
			    found->problem);
		section_publish_txt(s, name, suggest);
		goto out;
	}
	const struct dmarc_record *r = found->record;
	bool sub = strcmp(found->record_domain, dc->domain) != 0;
	enum dmarc_policy p = sub ? r->sp : r->p;
	if (sub)
		section_add(s, DOMAIN_CHECK_OK, "the record of the organizational domain %s applies "
			    "(its %s)", found->record_domain, r->sp_given ? "sp=" : "p=");
	if (r->p_fallback)
		section_add(s, DOMAIN_CHECK_ERROR, "p= (or sp=) is missing or invalid: receivers treat "
			    "the record as p=none (RFC 7489 6.6.3)");
	else if (p == DMARC_POLICY_NONE)
		section_add(s, DOMAIN_CHECK_WARN, "policy none: receivers deliver mail that fails "
			    "DMARC (monitoring only); use quarantine or reject once reports "
			    "show your mail passes");
	else
		section_add(s, DOMAIN_CHECK_OK, "policy %s", dmarc_policy_name(p));
	if (r->pct < 100)
		section_add(s, DOMAIN_CHECK_WARN, "pct=%u: the policy applies to %u%% of failing mail",
			    r->pct, r->pct);
	if (r->ignored[0])
		section_add(s, DOMAIN_CHECK_WARN, "invalid values ignored (defaults used): %s",
			    r->ignored);
	if (r->rua_count == 0)
		section_add(s, DOMAIN_CHECK_WARN, "no rua=: nobody sends you aggregate reports of who "
			    "sends mail as %s", dc->domain);
	for (size_t i = 0; i < dc->rua_count; i++) {
		const struct rua_dest *d = &dc->rua[i];
		if (d->address[0] == '\0') {
			section_add(s, DOMAIN_CHECK_WARN, "rua %s: not a mailto: address (Petrel and most "
				    "receivers send reports by mail only)", d->uri);
			continue;
		}
		if (!d->external) {
			section_add(s, DOMAIN_CHECK_OK, "reports go to %s", d->address);
			continue;
		}
		int auth = dmarc_rua_auth_answer(&(struct dns_records){
			.status = d->auth.status, .items = d->auth.items, .count = d->auth.count });
		if (!d->auth.done)
			auth = 0;
		if (auth == 1)
			section_add(s, DOMAIN_CHECK_OK, "reports go to %s, which accepts them (%s)",
				    d->address, d->auth.name);
		else if (auth < 0)
			section_add(s, DOMAIN_CHECK_ERROR, "reports to %s: %s: %s", d->address,
				    d->auth.name, status_text(DNS_TEMPFAIL));
		else {
			section_add(s, DOMAIN_CHECK_ERROR, "reports to %s are not sent: %s, outside %s, "
				    "does not accept them (no v=DMARC1 record at %s, RFC 7489 7.1)",
				    d->address, strrchr(d->address, '@') + 1, found->org_domain,
				    d->auth.name ? d->auth.name : "its _report._dmarc name");
			if (d->auth.name)
				section_publish_txt(s, d->auth.name, "v=DMARC1");
		}
	}
out:
	free(suggest);
}

/* judge_tagged - an optional tag=value record at A->name: MTA-STS (RFC 8461
 * 3.1: v=STSv1; id=1*32 letters and digits) or TLS-RPT (RFC 8460 3: v=
 * TLSRPTv1; rua=mailto: or https: URIs).  Several records: none applies. */
static void judge_tagged(struct domain_check *dc, const char *name, const struct answer *a,
			 const char *version, const char *what)
{
	struct domain_check_section *s = section_new(dc, name);
	if (a->status == DNS_TEMPFAIL) {
		section_add(s, DOMAIN_CHECK_ERROR, "%s: %s", a->name, status_text(a->status));
		return;
	}
	char prefix[32];
	snprintf(prefix, sizeof(prefix), "v=%s", version);
	size_t plen = strlen(prefix);
	const char *record = NULL;
	size_t found = 0;
	for (size_t i = 0; i < a->count; i++) {
		const char *t = a->items[i];
		if (strncmp(t, prefix, plen) == 0 && (t[plen] == ';' || t[plen] == ' ' ||
						       t[plen] == '\t' || t[plen] == '\0')) {
			record = t;
			found++;
			section_record(s, t);
		}
	}
	if (found == 0) {
		section_add(s, DOMAIN_CHECK_OK, "%s not published (optional)", what);
		return;
	}
	if (found > 1) {
		section_add(s, DOMAIN_CHECK_ERROR, "%zu %s records at %s: senders use none", found, what,
			    a->name);
		return;
	}
	struct mailauth_tag tags[16];
	const char *error = NULL;
	int n = mailauth_tags_parse(record, strlen(record), tags, 16, &error);
	if (n < 0) {
		section_add(s, DOMAIN_CHECK_ERROR, "the record does not parse: %s", error);
		return;
	}
	if (strcmp(version, "STSv1") == 0) {
		const struct mailauth_tag *id = mailauth_tags_find(tags, (size_t)n, "id");
		bool ok = id != NULL && id->value_len >= 1 && id->value_len <= 32;
		for (size_t i = 0; ok && i < id->value_len; i++) {
			char c = id->value[i];
			ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		}
		if (!ok)
			section_add(s, DOMAIN_CHECK_ERROR, "id= is missing or not 1 to 32 letters and "
				    "digits (RFC 8461 3.1)");
		else
			section_add(s, DOMAIN_CHECK_OK, "policy id %.*s; the policy itself is served at "
				    "https://mta-sts.%s/.well-known/mta-sts.txt (not fetched)",
				    (int)id->value_len, id->value, dc->domain);
		return;
	}
	const struct mailauth_tag *rua = mailauth_tags_find(tags, (size_t)n, "rua");
	if (rua == NULL || rua->value_len == 0) {
		section_add(s, DOMAIN_CHECK_ERROR, "rua= is missing: where reports go (RFC 8460 3)");
		return;
	}
	bool ok = true;
	const char *p = rua->value, *end = rua->value + rua->value_len;
	while (p < end) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		const char *next = comma ? comma : end;
		while (p < next && (*p == ' ' || *p == '\t'))
			p++;
		if (!((next - p > 7 && strncasecmp(p, "mailto:", 7) == 0) ||
		      (next - p > 8 && strncasecmp(p, "https://", 8) == 0))) {
			section_add(s, DOMAIN_CHECK_ERROR, "rua= %.*s is neither mailto: nor https: (RFC "
				    "8460 3)", (int)(next - p), p);
			ok = false;
		}
		p = comma ? comma + 1 : end;
	}
	if (ok)
		section_add(s, DOMAIN_CHECK_OK, "reports go to %.*s", (int)rua->value_len, rua->value);
}

/* ---- the end ---------------------------------------------------------------- */

void domain_check_free(struct domain_check **check)
{
	struct domain_check *dc = *check;
	if (dc == NULL)
		return;
	*check = NULL;
	if (dc->mx_query)
		dns_cancel(dc->mx_query);
	if (dc->spf_probe)
		spf_request_cancel(dc->spf_probe);
	if (dc->dmarc_request)
		dmarc_request_cancel(dc->dmarc_request);
	for (size_t i = 0; i < dc->mx_count; i++) {
		free(dc->mx_hosts[i].name);
		free(dc->mx_hosts[i].first_address);
	}
	free(dc->mx_hosts);
	answer_free(&dc->spf_txt);
	free(dc->spf_probe_problem);
	answer_free(&dc->host_a);
	answer_free(&dc->host_aaaa);
	for (size_t i = 0; i < dc->addr_count; i++) {
		if (dc->addrs[i].request)
			spf_request_cancel(dc->addrs[i].request);
		free(dc->addrs[i].ip);
		free(dc->addrs[i].mechanism);
	}
	for (size_t i = 0; i < dc->selector_count; i++) {
		answer_free(&dc->dkim[i]);
		free(dc->selectors[i]);
		free(dc->selector_records[i]);
	}
	free(dc->dkim);
	free(dc->selectors);
	free(dc->selector_records);
	dmarc_discovery_free(&dc->dmarc);
	for (size_t i = 0; i < dc->rua_count; i++) {
		free(dc->rua[i].uri);
		answer_free(&dc->rua[i].auth);
	}
	free(dc->rua);
	answer_free(&dc->mta_sts);
	answer_free(&dc->tls_rpt);
	sections_free(dc);
	event_free(dc->finish_ev);
	free(dc->hostname);
	free(dc);
}

static void sections_free(struct domain_check *dc)
{
	for (size_t i = 0; i < dc->section_count; i++) {
		struct domain_check_section *s = &dc->sections[i];
		for (size_t j = 0; j < s->record_count; j++)
			free(s->records[j]);
		free(s->records);
		for (size_t j = 0; j < s->finding_count; j++)
			free(s->findings[j].text);
		free(s->findings);
		for (size_t j = 0; j < s->publish_count; j++) {
			free(s->publish[j].name);
			free(s->publish[j].value);
			free(s->publish[j].zone);
		}
		free(s->publish);
	}
}
