/* mailauth/spf-dns - runs the SPF evaluator (spf.c) on dns/'s asynchronous
 * resolver, on the libevent loop: each query the evaluator asks for goes to
 * dns_lookup, each answer back into the evaluator, until the outcome is
 * known; then the callback, once.
 *
 * A deadline (spf_params.timeout_ms) bounds the whole check: when it
 * passes, the query in flight is cancelled and the check expired
 * (temperror, RFC 7208 4.6.4).
 *
 * A request that ends without a query in flight (no DNS needed, or a query
 * that could not start) calls back from a zero-delay timer, never from
 * inside spf_request_start.  spf_request_cancel frees the request at once
 * (no callback after it); on a request whose callback is running it does
 * nothing, and the request is freed when the callback returns.
 */
#include "mailauth/mailauth.h"

#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "dns/dns.h"
#include "util/xalloc.h"

struct spf_request {
	struct dns_resolver *resolver;
	struct spf_check *check;
	struct dns_query *query;      /* in flight, or NULL */
	enum spf_dns_type type;       /* of the query in flight */
	struct event *later;          /* the deferred end, when no query is in flight */
	struct event *deadline;       /* the time limit of the whole check */
	spf_request_cb *cb;
	void *ctx;
	bool in_callback;
};

static void spf_request_run(struct spf_request *request, bool deferred);
static void spf_request_answer(void *ctx, const struct dns_records *records);
static void spf_request_later(evutil_socket_t fd, short what, void *arg);
static void spf_request_deadline(evutil_socket_t fd, short what, void *arg);
static void spf_request_finish(struct spf_request *request);
static void spf_request_destroy(struct spf_request *request);
static char *spf_query_name(const char *name);
static char *spf_answer_name(const char *text);

struct spf_request *spf_request_start(struct event_base *base, struct dns_resolver *resolver,
				      const struct spf_params *params, spf_request_cb *cb,
				      void *ctx)
{
	struct spf_request *request = xcalloc(1, sizeof(*request));
	request->resolver = resolver;
	request->cb = cb;
	request->ctx = ctx;
	request->check = spf_check_new(params);
	request->later = evtimer_new(base, spf_request_later, request);
	request->deadline = evtimer_new(base, spf_request_deadline, request);
	if (request->later == NULL || request->deadline == NULL)
		abort();
	unsigned ms = params->timeout_ms ? params->timeout_ms : SPF_TIMEOUT_MS;
	struct timeval limit = { ms / 1000, (ms % 1000) * 1000 };
	evtimer_add(request->deadline, &limit);
	spf_request_run(request, true);
	return request;
}

void spf_request_cancel(struct spf_request *request)
{
	if (request == NULL || request->in_callback)
		return;
	spf_request_destroy(request);
}

/* spf_request_run - ask the evaluator for its next step until it needs an
 * answer that is on its way or is done; a query dns/ cannot start is a
 * temporary failure.  DEFERRED: the end must wait for the loop. */
static void spf_request_run(struct spf_request *request, bool deferred)
{
	struct spf_query query;
	while (spf_check_next(request->check, &query) == 0) {
		static const enum dns_type types[] = {
			[SPF_DNS_TXT] = DNS_TYPE_TXT, [SPF_DNS_A] = DNS_TYPE_A,
			[SPF_DNS_AAAA] = DNS_TYPE_AAAA, [SPF_DNS_MX] = DNS_TYPE_MX,
			[SPF_DNS_PTR] = DNS_TYPE_PTR,
		};
		char *name = spf_query_name(query.name);
		request->type = query.type;
		request->query = dns_lookup(request->resolver, name, types[query.type],
					    spf_request_answer, request);
		free(name);
		if (request->query != NULL)
			return;
		spf_check_answer(request->check, SPF_DNS_TEMPFAIL, NULL, NULL, 0);
	}
	if (deferred) {
		struct timeval now = { 0, 0 };
		evtimer_add(request->later, &now);
		return;
	}
	spf_request_finish(request);
}

static void spf_request_answer(void *ctx, const struct dns_records *records)
{
	struct spf_request *request = ctx;
	request->query = NULL;
	enum spf_dns_status status;
	switch (records->status) {
	case DNS_OK: status = SPF_DNS_OK; break;
	case DNS_NODATA: status = SPF_DNS_NODATA; break;
	case DNS_NXDOMAIN: status = SPF_DNS_NXDOMAIN; break;
	default: status = SPF_DNS_TEMPFAIL; break;
	}
	int type = request->type;
	if (status == SPF_DNS_OK && (type == SPF_DNS_MX || type == SPF_DNS_PTR)) {
		/* host names come in presentation form: the evaluator wants octets */
		char **names = xcalloc(records->count + 1, sizeof(char *));
		for (size_t i = 0; i < records->count; i++)
			names[i] = spf_answer_name(records->items[i]);
		spf_check_answer(request->check, status, (const char *const *)names, NULL,
				 records->count);
		for (size_t i = 0; i < records->count; i++)
			free(names[i]);
		free(names);
	} else {
		spf_check_answer(request->check, status, (const char *const *)records->items,
				 records->lengths, records->count);
	}
	spf_request_run(request, false);
}

static void spf_request_later(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	spf_request_finish(arg);
}

/* spf_request_deadline - the whole check took too long: temperror */
static void spf_request_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct spf_request *request = arg;
	(void)fd;
	(void)what;
	dns_cancel(request->query);
	request->query = NULL;
	spf_check_expire(request->check);
	spf_request_finish(request);
}

static void spf_request_finish(struct spf_request *request)
{
	request->in_callback = true;
	request->cb(request->ctx, spf_check_outcome(request->check));
	spf_request_destroy(request);
}

static void spf_request_destroy(struct spf_request *request)
{
	dns_cancel(request->query);
	event_free(request->later);
	event_free(request->deadline);
	spf_check_free(&request->check);
	free(request);
}

/* spf_query_name - NAME in the presentation form libunbound parses:
 * macros can put any octet in a label, so '\' and octets outside
 * 0x21-0x7e are written as \DDD (RFC 1035 5.1) */
static char *spf_query_name(const char *name)
{
	size_t len = strlen(name);
	char *out = xmalloc(len * 4 + 1), *p = out;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c == '\\' || c <= 0x20 || c >= 0x7f || c == '"' || c == ';' ||
		    c == '(' || c == ')') {
			*p++ = '\\';
			*p++ = (char)('0' + c / 100);
			*p++ = (char)('0' + c / 10 % 10);
			*p++ = (char)('0' + c % 10);
		} else {
			*p++ = (char)c;
		}
	}
	*p = '\0';
	return out;
}

/* spf_answer_name - a name of an MX ("PREF NAME") or PTR answer, which dns/
 * writes in presentation form (RFC 1035 5.1: \DDD, \X), back to its octets;
 * an escaped dot stays escaped, since a dot inside a label has no other
 * spelling */
static char *spf_answer_name(const char *text)
{
	size_t len = strlen(text);
	char *out = xmalloc(len + 1), *p = out;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];
		if (c != '\\' || i + 1 == len) {
			*p++ = (char)c;
			continue;
		}
		const char *e = text + i + 1;
		if (i + 3 < len && e[0] >= '0' && e[0] <= '2' && e[1] >= '0' && e[1] <= '9' &&
		    e[2] >= '0' && e[2] <= '9') {
			unsigned v = (unsigned)(e[0] - '0') * 100 + (unsigned)(e[1] - '0') * 10 +
				     (unsigned)(e[2] - '0');
			if (v == 0 || v > 255 || v == '.') {
				*p++ = (char)c;   /* kept as written */
				continue;
			}
			*p++ = (char)v;
			i += 3;
		} else if (*e == '.') {
			*p++ = (char)c;
		} else {
			*p++ = *e;
			i++;
		}
	}
	*p = '\0';
	return out;
}
