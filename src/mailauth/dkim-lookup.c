/* mailauth/dkim-lookup - the asynchronous driver of DKIM (and ARC) key
 * lookups: one TXT query on dns/ per signature still waiting for its key,
 * each answer handed to the I/O-free verifier (dkim-verify.c, arc.c) as it
 * comes, one callback when the last is in.  Runs on the loop thread; cancelling cancels every
 * query still out, and no callback follows.
 */
#include <stdlib.h>

#include "dns/dns.h"
#include "mailauth/mailauth.h"
#include "util/xalloc.h"

struct lookup_query {
	struct dkim_key_lookup *lookup;
	size_t index;              /* the signature's */
	struct dns_query *query;   /* NULL once answered */
};

typedef void lookup_key_fn(void *verifier, size_t index, const struct dns_records *records);
typedef const char *lookup_name_fn(const void *verifier, size_t index);

struct dkim_key_lookup {
	void *verifier;
	lookup_key_fn *key;
	dkim_key_lookup_cb *cb;
	void *ctx;
	struct lookup_query *queries;
	size_t count, pending;
};

static void lookup_answer(void *ctx, const struct dns_records *records);
static void lookup_free(struct dkim_key_lookup *lookup);
static struct dkim_key_lookup *lookup_start(void *verifier, size_t count, lookup_name_fn *name,
					    lookup_key_fn *key, struct dns_resolver *resolver,
					    dkim_key_lookup_cb *cb, void *ctx);
static void dkim_key(void *verifier, size_t index, const struct dns_records *records);
static const char *dkim_name(const void *verifier, size_t index);
static void arc_key(void *verifier, size_t index, const struct dns_records *records);
static const char *arc_name(const void *verifier, size_t index);

static void lookup_free(struct dkim_key_lookup *lookup)
{
	free(lookup->queries);
	free(lookup);
}

/* lookup_answer - one key's TXT answer (dns callback) */
static void lookup_answer(void *ctx, const struct dns_records *records)
{
	struct lookup_query *q = ctx;
	struct dkim_key_lookup *lookup = q->lookup;
	q->query = NULL;  /* dns/ frees it when this returns */
	lookup->key(lookup->verifier, q->index, records);
	if (--lookup->pending > 0)
		return;
	lookup->cb(lookup->ctx);
	lookup_free(lookup);
}

static void dkim_key(void *verifier, size_t index, const struct dns_records *records)
{
	dkim_verify_key(verifier, index, records);
}

static const char *dkim_name(const void *verifier, size_t index)
{
	return dkim_verify_key_name(verifier, index);
}

static void arc_key(void *verifier, size_t index, const struct dns_records *records)
{
	arc_verify_key(verifier, index, records);
}

static const char *arc_name(const void *verifier, size_t index)
{
	return arc_verify_key_name(verifier, index);
}

/* dkim_verify_lookup_keys - start the TXT queries of the keys VERIFY needs */
struct dkim_key_lookup *dkim_verify_lookup_keys(struct dkim_verify *verify,
						struct dns_resolver *resolver,
						dkim_key_lookup_cb *cb, void *ctx)
{
	return lookup_start(verify, dkim_verify_count(verify), dkim_name, dkim_key, resolver, cb,
			    ctx);
}

/* arc_verify_lookup_keys - the same for an ARC chain's keys */
struct dkim_key_lookup *arc_verify_lookup_keys(struct arc_verify *verify,
					       struct dns_resolver *resolver,
					       dkim_key_lookup_cb *cb, void *ctx)
{
	return lookup_start(verify, arc_verify_key_count(verify), arc_name, arc_key, resolver, cb,
			    ctx);
}

/* lookup_start - a TXT query for each of the COUNT keys whose NAME is not
 * NULL; answers go to KEY */
static struct dkim_key_lookup *lookup_start(void *verifier, size_t count, lookup_name_fn *name_fn,
					    lookup_key_fn *key, struct dns_resolver *resolver,
					    dkim_key_lookup_cb *cb, void *ctx)
{
	struct dkim_key_lookup *lookup = xcalloc(1, sizeof(*lookup));
	lookup->verifier = verifier;
	lookup->key = key;
	lookup->cb = cb;
	lookup->ctx = ctx;
	lookup->queries = xcalloc(count ? count : 1, sizeof(*lookup->queries));
	for (size_t i = 0; i < count; i++) {
		const char *name = name_fn(verifier, i);
		if (name == NULL)
			continue;
		struct lookup_query *q = &lookup->queries[lookup->count++];
		q->lookup = lookup;
		q->index = i;
		q->query = dns_lookup(resolver, name, DNS_TYPE_TXT, lookup_answer, q);
		if (q->query == NULL) {
			/* not even started: as a server failure would be */
			struct dns_records tempfail = { .status = DNS_TEMPFAIL };
			key(verifier, i, &tempfail);
			continue;
		}
		lookup->pending++;
	}
	if (lookup->pending == 0) {
		lookup_free(lookup);
		return NULL;
	}
	return lookup;
}

/* dkim_key_lookup_cancel - cancel the queries still out; no callback */
void dkim_key_lookup_cancel(struct dkim_key_lookup **lookup_p)
{
	struct dkim_key_lookup *lookup = *lookup_p;
	if (lookup == NULL)
		return;
	*lookup_p = NULL;
	for (size_t i = 0; i < lookup->count; i++)
		if (lookup->queries[i].query != NULL)
			dns_cancel(lookup->queries[i].query);
	lookup_free(lookup);
}
