/* mailauth/dmarc-dns - DMARC policy discovery (dmarc.c) on dns/'s
 * asynchronous resolver, on the libevent loop: each _dmarc name the
 * discovery asks for goes to dns_lookup, each answer back into it, until it
 * is done (at most two queries); then the callback, once, which takes the
 * discovery.
 *
 * A request that ends without a query in flight (a From domain that is no
 * domain name, or a query that could not start) calls back from a
 * zero-delay timer, never from inside dmarc_request_start.
 * dmarc_request_cancel frees the request at once (no callback after it); on
 * a request whose callback is running it does nothing, and the request is
 * freed when the callback returns.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "dns/dns.h"
#include "mailauth/mailauth.h"
#include "util/xalloc.h"

struct dmarc_request {
	struct dns_resolver *resolver;
	struct dmarc_discovery *discovery;
	struct dns_query *query;      /* in flight, or NULL */
	struct event *later;          /* the deferred end, when no query is in flight */
	dmarc_request_cb *cb;
	void *ctx;
	bool in_callback;
};

static void dmarc_request_run(struct dmarc_request *request, bool deferred);
static void dmarc_request_answer(void *ctx, const struct dns_records *records);
static void dmarc_request_later(evutil_socket_t fd, short what, void *arg);
static void dmarc_request_finish(struct dmarc_request *request);
static void dmarc_request_destroy(struct dmarc_request *request);

struct dmarc_request *dmarc_request_start(struct event_base *base,
					  struct dns_resolver *resolver,
					  const struct mailauth_psl *psl,
					  const char *from_domain, dmarc_request_cb *cb,
					  void *ctx)
{
	struct dmarc_request *request = xcalloc(1, sizeof(*request));
	request->resolver = resolver;
	request->cb = cb;
	request->ctx = ctx;
	request->discovery = dmarc_discovery_new(psl, from_domain, strlen(from_domain));
	request->later = evtimer_new(base, dmarc_request_later, request);
	if (request->later == NULL)
		abort();
	dmarc_request_run(request, true);
	return request;
}

void dmarc_request_cancel(struct dmarc_request *request)
{
	if (request == NULL || request->in_callback)
		return;
	dmarc_request_destroy(request);
}

/* dmarc_request_run - start the next query, or end; a query dns/ cannot
 * start is a temporary failure.  DEFERRED: the end must wait for the loop. */
static void dmarc_request_run(struct dmarc_request *request, bool deferred)
{
	const char *name;
	while (dmarc_discovery_next(request->discovery, &name) == 0) {
		request->query = dns_lookup(request->resolver, name, DNS_TYPE_TXT,
					    dmarc_request_answer, request);
		if (request->query != NULL)
			return;
		const struct dns_records failed = { .status = DNS_TEMPFAIL };
		dmarc_discovery_answer(request->discovery, &failed);
	}
	if (deferred) {
		struct timeval now = { 0, 0 };
		evtimer_add(request->later, &now);
		return;
	}
	dmarc_request_finish(request);
}

static void dmarc_request_answer(void *ctx, const struct dns_records *records)
{
	struct dmarc_request *request = ctx;
	request->query = NULL;
	dmarc_discovery_answer(request->discovery, records);
	dmarc_request_run(request, false);
}

static void dmarc_request_later(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	dmarc_request_finish(arg);
}

/* dmarc_request_finish - hand the discovery over, then free the rest */
static void dmarc_request_finish(struct dmarc_request *request)
{
	struct dmarc_discovery *discovery = request->discovery;
	request->discovery = NULL;
	request->in_callback = true;
	request->cb(request->ctx, discovery);
	dmarc_request_destroy(request);
}

static void dmarc_request_destroy(struct dmarc_request *request)
{
	dns_cancel(request->query);
	event_free(request->later);
	dmarc_discovery_free(&request->discovery);
	free(request);
}
