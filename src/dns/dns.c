/* dns - asynchronous DNS on libunbound, driven by the libevent loop.
 *
 * libunbound resolves in its own thread (ub_ctx_async(ctx, 1)) and reports
 * through a pipe, ub_fd(); a persistent EV_READ event on that fd runs
 * ub_process(), which calls our per-query callbacks on the loop thread.
 *
 * A struct dns_query is what the caller holds; it owns one or more
 * struct dns_sub, each one libunbound query with its own timeout timer
 * (libunbound has no per-query deadline).  dns_lookup uses one sub;
 * dns_resolve_mx one for the MX, then two (AAAA and A) per exchange, all in
 * flight at once.  A query leaves the resolver's list before its callback
 * runs, so the callback may cancel other queries or free the resolver.
 */
#include "dns/dns.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "dns/rdata.h"
#include "dns/ub-load.h"
#include "util/xalloc.h"

#define DNS_TIMEOUT_DEFAULT_MS 10000
#define DNS_MX_HOSTS_MAX 20
#define DNS_HOST_ADDRESSES_MAX 20
#define DNS_CLASS_IN 1
#define DNS_RCODE_NOERROR 0
#define DNS_RCODE_NXDOMAIN 3

enum dns_query_kind {
	DNS_QUERY_LOOKUP,
	DNS_QUERY_MX,
};

/* one libunbound query */
struct dns_sub {
	struct dns_query *query;
	struct dns_sub *next;     /* in query->subs */
	struct event *timer;
	int async_id;
	int rrtype;
	size_t host;              /* MX address lookups: index into mx.hosts */
	bool running;
};

/* what one exchange's AAAA and A lookups found */
struct dns_mx_found {
	enum dns_status status6, status4;
	char **addr6, **addr4;
	size_t count6, count4;
};

struct dns_query {
	struct dns_resolver *resolver;
	struct dns_query *prev, *next;  /* in resolver->queries while pending */
	enum dns_query_kind kind;
	char *name;
	int rrtype;
	dns_records_cb *records_cb;
	dns_mx_cb *mx_cb;
	void *ctx;
	struct dns_sub *subs;
	unsigned running;
	bool finished;                  /* callback running or done */
	struct dns_mx_result mx;
	struct dns_mx_found *found;     /* one per mx.hosts */
};

struct dns_resolver {
	struct event_base *base;
	struct ub_ctx *ctx;
	struct event *ub_event;
	unsigned timeout_ms;
	struct dns_query *queries;
	unsigned processing;            /* depth of ub_process() calls */
	bool dead;                      /* freed inside ub_process(): finish later */
};

static int dns_ctx_configure(struct ub_ctx *ctx, const struct dns_settings *settings,
			     const char **error_r);
static int dns_write_config(const char *special_zones, char *path, size_t pathsize,
			    const char **error_r);
static void dns_ub_readable(evutil_socket_t fd, short what, void *arg);
static void dns_resolver_destroy(struct dns_resolver *resolver);
static struct dns_query *dns_query_new(struct dns_resolver *resolver, enum dns_query_kind kind,
				       const char *name, int rrtype);
static int dns_sub_start(struct dns_query *query, const char *name, int rrtype, size_t host);
static void dns_sub_answer(void *arg, int err, struct ub_result *result);
static void dns_sub_timeout(evutil_socket_t fd, short what, void *arg);
static void dns_sub_done(struct dns_sub *sub, enum dns_status status,
			 const struct ub_result *result);
static enum dns_status dns_result_status(int err, const struct ub_result *result);
static void dns_lookup_answer(struct dns_query *query, enum dns_status status,
			      const struct ub_result *result);
static void dns_mx_answer(struct dns_query *query, enum dns_status status,
			  const struct ub_result *result);
static void dns_mx_address_answer(struct dns_query *query, struct dns_sub *sub,
				  enum dns_status status, const struct ub_result *result);
static void dns_mx_order(struct dns_mx_host *hosts, size_t count);
static void dns_mx_finish(struct dns_query *query);
static void dns_query_detach(struct dns_query *query);
static void dns_query_destroy(struct dns_query *query);
static void dns_strv_free(char **v, size_t n);

const char *dns_status_name(enum dns_status status)
{
	switch (status) {
	case DNS_OK: return "ok";
	case DNS_NODATA: return "nodata";
	case DNS_NXDOMAIN: return "nxdomain";
	case DNS_TEMPFAIL: return "tempfail";
	case DNS_NULL_MX: return "null-mx";
	}
	return "unknown";
}

/* ---- resolver ------------------------------------------------------------ */

struct dns_resolver *dns_resolver_create(struct event_base *base,
					 const struct dns_settings *settings,
					 const char **error_r)
{
	if (ub_load(error_r) != 0)
		return NULL;
	struct ub_ctx *ctx = ub_ctx_create();
	if (ctx == NULL) {
		*error_r = "dns: ub_ctx_create failed";
		return NULL;
	}
	if (dns_ctx_configure(ctx, settings, error_r) < 0) {
		ub_ctx_delete(ctx);
		return NULL;
	}
	int fd = ub_fd(ctx);
	if (fd < 0) {
		*error_r = "dns: libunbound has no result descriptor";
		ub_ctx_delete(ctx);
		return NULL;
	}
	struct dns_resolver *resolver = xcalloc(1, sizeof(*resolver));
	resolver->base = base;
	resolver->ctx = ctx;
	resolver->timeout_ms = settings->timeout_ms ? settings->timeout_ms
						    : DNS_TIMEOUT_DEFAULT_MS;
	resolver->ub_event = event_new(base, fd, EV_READ | EV_PERSIST, dns_ub_readable, resolver);
	if (resolver->ub_event == NULL || event_add(resolver->ub_event, NULL) != 0) {
		*error_r = "dns: cannot watch libunbound's descriptor";
		if (resolver->ub_event)
			event_free(resolver->ub_event);
		ub_ctx_delete(ctx);
		free(resolver);
		return NULL;
	}
	return resolver;
}

/* dns_ctx_configure - threads, special zones, forwarders; order matters:
 * ub_ctx_config() replaces earlier settings, so it comes first */
static int dns_ctx_configure(struct ub_ctx *ctx, const struct dns_settings *settings,
			     const char **error_r)
{
	if (ub_ctx_async(ctx, 1) != 0) {
		*error_r = "dns: libunbound cannot run in a thread";
		return -1;
	}
	/* "local-zone: ... nodefault" is honoured only from a config file:
	 * ub_ctx_set_option() accepts it and changes nothing (TESTING.md). */
	char path[4096];
	if (dns_write_config(settings->special_zones, path, sizeof(path), error_r) < 0)
		return -1;
	int err = ub_ctx_config(ctx, path);
	if (unlink(path) != 0 && err == 0) {
		*error_r = "dns: cannot remove the temporary unbound config";
		return -1;
	}
	if (err != 0) {
		*error_r = "dns: libunbound refused its config (bad special_zones?)";
		return -1;
	}
	if (settings->forwarder == NULL || settings->forwarder[0] == '\0') {
		if (ub_ctx_resolvconf(ctx, NULL) != 0) {
			*error_r = "dns: cannot read /etc/resolv.conf";
			return -1;
		}
		return 0;
	}
	/* "127.0.0.1@5353", or several separated by commas or spaces */
	const char *p = settings->forwarder;
	while (*p != '\0') {
		size_t skip = strspn(p, ", \t");
		p += skip;
		size_t n = strcspn(p, ", \t");
		if (n == 0)
			break;
		char addr[128];
		if (n >= sizeof(addr)) {
			*error_r = "dns: forwarder address too long";
			return -1;
		}
		memcpy(addr, p, n);
		addr[n] = '\0';
		if (ub_ctx_set_fwd(ctx, addr) != 0) {
			*error_r = "dns: invalid forwarder address (want IP or IP@port)";
			return -1;
		}
		p += n;
	}
	return 0;
}

/* dns_write_config - a temporary unbound config with the special zones;
 * the caller loads and removes it */
static int dns_write_config(const char *special_zones, char *path, size_t pathsize,
			    const char **error_r)
{
	const char *dir = getenv("TMPDIR");
	if (dir == NULL || dir[0] == '\0')
		dir = "/tmp";
	if ((size_t)snprintf(path, pathsize, "%s/petrel-unbound-XXXXXX", dir) >= pathsize) {
		*error_r = "dns: TMPDIR too long";
		return -1;
	}
	int fd = mkstemp(path);
	if (fd < 0) {
		*error_r = "dns: cannot create a temporary unbound config";
		return -1;
	}
	FILE *f = fdopen(fd, "w");
	if (f == NULL) {
		close(fd);
		unlink(path);
		*error_r = "dns: cannot create a temporary unbound config";
		return -1;
	}
	/* "do-not-query-localhost: no" is not needed: libunbound 1.17 queries
	 * a forwarder on 127.0.0.1 anyway (tests/unit/dns runs that way), and
	 * keeping the default stops a delegation to 127.0.0.1 from reaching
	 * local services if we ever recurse without a forwarder. */
	fputs("server:\n", f);
	const char *p = special_zones ? special_zones : "";
	int ret = 0;
	while (*p != '\0') {
		p += strspn(p, ", \t");
		size_t n = strcspn(p, ", \t");
		if (n == 0)
			break;
		/* only host-name characters: nothing can escape the quotes */
		if (strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			      "0123456789-_.") < n || n > 253) {
			*error_r = "dns: invalid name in special_zones";
			ret = -1;
			break;
		}
		bool dot = p[n - 1] == '.';
		fprintf(f, "\tlocal-zone: \"%.*s%s\" nodefault\n", (int)n, p, dot ? "" : ".");
		p += n;
	}
	if (fclose(f) != 0 && ret == 0) {
		*error_r = "dns: cannot write a temporary unbound config";
		ret = -1;
	}
	if (ret < 0)
		unlink(path);
	return ret;
}

static void dns_ub_readable(evutil_socket_t fd, short what, void *arg)
{
	struct dns_resolver *resolver = arg;
	(void)fd;
	(void)what;
	resolver->processing++;
	/* An error here means a broken pipe to the resolver thread; the
	 * queries then end by their timers as TEMPFAIL. */
	(void)ub_process(resolver->ctx);
	resolver->processing--;
	if (resolver->dead && resolver->processing == 0)
		dns_resolver_destroy(resolver);
}

void dns_resolver_free(struct dns_resolver **resolverp)
{
	struct dns_resolver *resolver = *resolverp;
	if (resolver == NULL)
		return;
	*resolverp = NULL;
	while (resolver->queries != NULL) {
		struct dns_query *query = resolver->queries;
		dns_query_detach(query);
		dns_query_destroy(query);
	}
	/* Inside ub_process() (a callback freeing the resolver) the context
	 * must outlive the call; every query is cancelled already. */
	if (resolver->processing > 0)
		resolver->dead = true;
	else
		dns_resolver_destroy(resolver);
}

static void dns_resolver_destroy(struct dns_resolver *resolver)
{
	event_free(resolver->ub_event);
	ub_ctx_delete(resolver->ctx);
	free(resolver);
}

/* ---- queries ------------------------------------------------------------- */

static struct dns_query *dns_query_new(struct dns_resolver *resolver, enum dns_query_kind kind,
				       const char *name, int rrtype)
{
	struct dns_query *query = xcalloc(1, sizeof(*query));
	query->resolver = resolver;
	query->kind = kind;
	size_t len = strlen(name);
	if (len > 1 && name[len - 1] == '.')
		len--;
	query->name = xstrndup(name, len);
	query->rrtype = rrtype;
	query->next = resolver->queries;
	if (resolver->queries)
		resolver->queries->prev = query;
	resolver->queries = query;
	return query;
}

struct dns_query *dns_lookup(struct dns_resolver *resolver, const char *name,
			     enum dns_type type, dns_records_cb *cb, void *ctx)
{
	if (resolver == NULL || resolver->dead || name == NULL || name[0] == '\0')
		return NULL;
	struct dns_query *query = dns_query_new(resolver, DNS_QUERY_LOOKUP, name, (int)type);
	query->records_cb = cb;
	query->ctx = ctx;
	char *reverse = NULL;
	/* PTR of an IP literal: the caller need not build in-addr.arpa names */
	if (type == DNS_TYPE_PTR && dns_reverse_name(query->name, &reverse) == 0) {
		free(query->name);
		query->name = reverse;
	}
	if (dns_sub_start(query, query->name, (int)type, 0) < 0) {
		dns_query_detach(query);
		dns_query_destroy(query);
		return NULL;
	}
	return query;
}

struct dns_query *dns_resolve_mx(struct dns_resolver *resolver, const char *domain,
				 dns_mx_cb *cb, void *ctx)
{
	if (resolver == NULL || resolver->dead || domain == NULL || domain[0] == '\0')
		return NULL;
	struct dns_query *query = dns_query_new(resolver, DNS_QUERY_MX, domain, DNS_TYPE_MX);
	query->mx_cb = cb;
	query->ctx = ctx;
	if (dns_sub_start(query, query->name, DNS_TYPE_MX, 0) < 0) {
		dns_query_detach(query);
		dns_query_destroy(query);
		return NULL;
	}
	return query;
}

void dns_cancel(struct dns_query *query)
{
	if (query == NULL || query->finished)
		return;       /* inside its own callback: nothing left to cancel */
	dns_query_detach(query);
	dns_query_destroy(query);
}

/* dns_sub_start - one libunbound query for QUERY, with its timer */
static int dns_sub_start(struct dns_query *query, const char *name, int rrtype, size_t host)
{
	struct dns_resolver *resolver = query->resolver;
	struct dns_sub *sub = xcalloc(1, sizeof(*sub));
	sub->query = query;
	sub->rrtype = rrtype;
	sub->host = host;
	sub->timer = evtimer_new(resolver->base, dns_sub_timeout, sub);
	if (sub->timer == NULL)
		abort();
	if (ub_resolve_async(resolver->ctx, name, rrtype, DNS_CLASS_IN, sub, dns_sub_answer,
			     &sub->async_id) != 0) {
		event_free(sub->timer);
		free(sub);
		return -1;
	}
	struct timeval tv = { resolver->timeout_ms / 1000, (resolver->timeout_ms % 1000) * 1000 };
	evtimer_add(sub->timer, &tv);
	sub->running = true;
	sub->next = query->subs;
	query->subs = sub;
	query->running++;
	return 0;
}

static void dns_sub_answer(void *arg, int err, struct ub_result *result)
{
	struct dns_sub *sub = arg;
	enum dns_status status = dns_result_status(err, result);
	dns_sub_done(sub, status, result);
	if (result != NULL)
		ub_resolve_free(result);
}

static void dns_sub_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct dns_sub *sub = arg;
	(void)fd;
	(void)what;
	/* libunbound keeps trying on its own schedule; we stop listening */
	(void)ub_cancel(sub->query->resolver->ctx, sub->async_id);
	dns_sub_done(sub, DNS_TEMPFAIL, NULL);
}

/* dns_sub_done - SUB ended with STATUS (RESULT is NULL after a timeout) */
static void dns_sub_done(struct dns_sub *sub, enum dns_status status,
			 const struct ub_result *result)
{
	struct dns_query *query = sub->query;
	sub->running = false;
	evtimer_del(sub->timer);
	query->running--;
	if (query->kind == DNS_QUERY_LOOKUP)
		dns_lookup_answer(query, status, result);
	else if (sub->rrtype == DNS_TYPE_MX)
		dns_mx_answer(query, status, result);
	else
		dns_mx_address_answer(query, sub, status, result);
}

/* dns_result_status - libunbound's answer as one of ours.  Bogus DNSSEC is
 * temporary: a later answer may validate (RFC 4035 5.5). */
static enum dns_status dns_result_status(int err, const struct ub_result *result)
{
	if (err != 0 || result == NULL || result->bogus)
		return DNS_TEMPFAIL;
	if (result->rcode == DNS_RCODE_NXDOMAIN || result->nxdomain)
		return DNS_NXDOMAIN;
	if (result->rcode != DNS_RCODE_NOERROR)
		return DNS_TEMPFAIL;
	return result->havedata ? DNS_OK : DNS_NODATA;
}

/* dns_lookup_answer - decode every record; a record that does not decode is
 * skipped, and an answer with none left is TEMPFAIL (a broken server) */
static void dns_lookup_answer(struct dns_query *query, enum dns_status status,
			      const struct ub_result *result)
{
	struct dns_records records = { .status = status };
	if (result != NULL && result->ttl > 0)
		records.ttl = (uint32_t)result->ttl;
	if (status == DNS_OK) {
		size_t n = 0;
		while (result->data[n] != NULL)
			n++;
		records.items = xcalloc(n + 1, sizeof(*records.items));
		records.lengths = xcalloc(n + 1, sizeof(*records.lengths));
		for (size_t i = 0; i < n; i++) {
			const unsigned char *data = (const unsigned char *)result->data[i];
			size_t len = (size_t)result->len[i];
			char *item = NULL, *name = NULL;
			size_t item_len = 0;
			unsigned pref;
			int ret = -1;
			switch (query->rrtype) {
			case DNS_TYPE_A:
			case DNS_TYPE_AAAA:
				ret = dns_rdata_address(data, len, &item);
				break;
			case DNS_TYPE_TXT:
				ret = dns_rdata_txt(data, len, &item, &item_len);
				break;
			case DNS_TYPE_MX:
				ret = dns_rdata_mx(data, len, &pref, &name);
				if (ret == 0) {
					item = xasprintf("%u %s", pref, name);
					free(name);
				}
				break;
			default:   /* PTR, CNAME: one name */
				ret = dns_rdata_name(data, len, NULL, &item);
				break;
			}
			if (ret == 0) {
				records.lengths[records.count] =
					query->rrtype == DNS_TYPE_TXT ? item_len : strlen(item);
				records.items[records.count++] = item;
			}
		}
		if (records.count == 0)
			records.status = DNS_TEMPFAIL;
	}
	dns_query_detach(query);
	query->records_cb(query->ctx, &records);
	dns_strv_free(records.items, records.count);
	free(records.lengths);
	dns_query_destroy(query);
}

/* dns_mx_answer - RFC 5321 5.1: MX records, else the domain itself */
static void dns_mx_answer(struct dns_query *query, enum dns_status status,
			  const struct ub_result *result)
{
	struct dns_mx_result *mx = &query->mx;

	if (status == DNS_TEMPFAIL || status == DNS_NXDOMAIN) {
		mx->status = status;
		dns_mx_finish(query);
		return;
	}
	if (status == DNS_NODATA) {
		mx->implicit = true;
		mx->hosts = xcalloc(1, sizeof(*mx->hosts));
		mx->hosts[0].name = xstrdup(query->name);
		mx->host_count = 1;
	} else {
		size_t n = 0;
		while (result->data[n] != NULL)
			n++;
		struct dns_mx_host *hosts = xcalloc(n + 1, sizeof(*hosts));
		size_t count = 0;
		for (size_t i = 0; i < n; i++) {
			if (dns_rdata_mx((const unsigned char *)result->data[i],
					 (size_t)result->len[i], &hosts[count].preference,
					 &hosts[count].name) == 0)
				count++;
		}
		if (count > 0 && dns_mx_is_null(count, hosts[0].preference, hosts[0].name)) {
			free(hosts[0].name);
			free(hosts);
			mx->status = DNS_NULL_MX;
			dns_mx_finish(query);
			return;
		}
		/* "." among other MX records breaks RFC 7505 3; the real ones
		 * still route mail, so only the "." entries are dropped */
		size_t kept = 0;
		for (size_t i = 0; i < count; i++) {
			if (strcmp(hosts[i].name, ".") == 0)
				free(hosts[i].name);
			else
				hosts[kept++] = hosts[i];
		}
		if (kept == 0) {
			free(hosts);
			mx->status = DNS_TEMPFAIL;  /* nothing decodable: broken answer */
			dns_mx_finish(query);
			return;
		}
		dns_mx_order(hosts, kept);
		for (size_t i = DNS_MX_HOSTS_MAX; i < kept; i++)
			free(hosts[i].name);
		mx->hosts = hosts;
		mx->host_count = kept < DNS_MX_HOSTS_MAX ? kept : DNS_MX_HOSTS_MAX;
	}
	query->found = xcalloc(mx->host_count, sizeof(*query->found));
	for (size_t i = 0; i < mx->host_count; i++) {
		/* a failed start counts as a temporary failure of that lookup */
		query->found[i].status6 = query->found[i].status4 = DNS_TEMPFAIL;
		(void)dns_sub_start(query, mx->hosts[i].name, DNS_TYPE_AAAA, i);
		(void)dns_sub_start(query, mx->hosts[i].name, DNS_TYPE_A, i);
	}
	if (query->running == 0)
		dns_mx_finish(query);
}

static void dns_mx_address_answer(struct dns_query *query, struct dns_sub *sub,
				  enum dns_status status, const struct ub_result *result)
{
	struct dns_mx_found *found = &query->found[sub->host];
	char ***addrs = sub->rrtype == DNS_TYPE_AAAA ? &found->addr6 : &found->addr4;
	size_t *count = sub->rrtype == DNS_TYPE_AAAA ? &found->count6 : &found->count4;

	if (status == DNS_OK) {
		size_t n = 0;
		while (result->data[n] != NULL)
			n++;
		*addrs = xcalloc(n + 1, sizeof(**addrs));
		for (size_t i = 0; i < n; i++) {
			if (dns_rdata_address((const unsigned char *)result->data[i],
					      (size_t)result->len[i], &(*addrs)[*count]) == 0)
				(*count)++;
		}
		if (*count == 0)
			status = DNS_TEMPFAIL;
	}
	if (sub->rrtype == DNS_TYPE_AAAA)
		found->status6 = status;
	else
		found->status4 = status;
	if (query->running == 0)
		dns_mx_finish(query);
}

/* dns_mx_order - RFC 5321 5.1: lowest preference first, and "randomize
 * them to spread the load" among equal preferences: shuffle, then a stable
 * sort (at most a few dozen records: insertion sort) */
static void dns_mx_order(struct dns_mx_host *hosts, size_t count)
{
	for (size_t i = count; i > 1; i--) {
		size_t j = arc4random_uniform((uint32_t)i);
		struct dns_mx_host tmp = hosts[i - 1];
		hosts[i - 1] = hosts[j];
		hosts[j] = tmp;
	}
	for (size_t i = 1; i < count; i++) {
		struct dns_mx_host tmp = hosts[i];
		size_t j = i;
		while (j > 0 && hosts[j - 1].preference > tmp.preference) {
			hosts[j] = hosts[j - 1];
			j--;
		}
		hosts[j] = tmp;
	}
}

/* dns_mx_finish - addresses per host (AAAA then A, at most 20), statuses,
 * then the callback */
static void dns_mx_finish(struct dns_query *query)
{
	struct dns_mx_result *mx = &query->mx;

	if (query->found != NULL) {
		bool any_ok = false, any_temp = false, all_nx = true;
		for (size_t i = 0; i < mx->host_count; i++) {
			struct dns_mx_host *host = &mx->hosts[i];
			struct dns_mx_found *found = &query->found[i];
			size_t total = found->count6 + found->count4;
			if (total > DNS_HOST_ADDRESSES_MAX)
				total = DNS_HOST_ADDRESSES_MAX;
			host->addresses = xcalloc(total + 1, sizeof(*host->addresses));
			for (size_t k = 0; k < found->count6; k++) {
				if (host->address_count < total)
					host->addresses[host->address_count++] = found->addr6[k];
				else
					free(found->addr6[k]);
			}
			for (size_t k = 0; k < found->count4; k++) {
				if (host->address_count < total)
					host->addresses[host->address_count++] = found->addr4[k];
				else
					free(found->addr4[k]);
			}
			free(found->addr6);
			free(found->addr4);
			found->addr6 = found->addr4 = NULL;
			found->count6 = found->count4 = 0;
			if (host->address_count > 0)
				host->status = DNS_OK;
			else if (found->status6 == DNS_TEMPFAIL || found->status4 == DNS_TEMPFAIL)
				host->status = DNS_TEMPFAIL;
			else if (found->status6 == DNS_NXDOMAIN || found->status4 == DNS_NXDOMAIN)
				host->status = DNS_NXDOMAIN;
			else
				host->status = DNS_NODATA;
			any_ok |= host->status == DNS_OK;
			any_temp |= host->status == DNS_TEMPFAIL;
			all_nx &= host->status == DNS_NXDOMAIN;
		}
		if (any_ok)
			mx->status = DNS_OK;
		else if (any_temp)
			mx->status = DNS_TEMPFAIL;
		else
			mx->status = all_nx ? DNS_NXDOMAIN : DNS_NODATA;
	}
	dns_query_detach(query);
	query->mx_cb(query->ctx, mx);
	dns_query_destroy(query);
}

/* dns_query_detach - out of the resolver's list, every sub cancelled; after
 * this nothing but the caller reaches QUERY */
static void dns_query_detach(struct dns_query *query)
{
	struct dns_resolver *resolver = query->resolver;
	query->finished = true;
	for (struct dns_sub *sub = query->subs; sub != NULL; sub = sub->next) {
		if (sub->running) {
			(void)ub_cancel(resolver->ctx, sub->async_id);
			sub->running = false;
			query->running--;
		}
		evtimer_del(sub->timer);
	}
	if (query->prev)
		query->prev->next = query->next;
	else
		resolver->queries = query->next;
	if (query->next)
		query->next->prev = query->prev;
	query->prev = query->next = NULL;
}

static void dns_query_destroy(struct dns_query *query)
{
	struct dns_sub *sub = query->subs;
	while (sub != NULL) {
		struct dns_sub *next = sub->next;
		event_free(sub->timer);
		free(sub);
		sub = next;
	}
	if (query->found != NULL) {
		for (size_t i = 0; i < query->mx.host_count; i++) {
			dns_strv_free(query->found[i].addr6, query->found[i].count6);
			dns_strv_free(query->found[i].addr4, query->found[i].count4);
		}
		free(query->found);
	}
	for (size_t i = 0; i < query->mx.host_count; i++) {
		free(query->mx.hosts[i].name);
		dns_strv_free(query->mx.hosts[i].addresses, query->mx.hosts[i].address_count);
	}
	free(query->mx.hosts);
	free(query->name);
	free(query);
}

static void dns_strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}
