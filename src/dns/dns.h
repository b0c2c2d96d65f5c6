/* dns - asynchronous DNS on libunbound, driven by the libevent loop.
 *
 * One resolver per process, created on the loop thread.  Queries return at
 * once; the callback runs later on the loop thread, exactly once, unless the
 * query is cancelled (dns_cancel) or the resolver freed first (then never).
 * The callback does not own RESULT: it is freed when the callback returns.
 *
 * Status of every answer:
 *   DNS_OK        records found
 *   DNS_NODATA    the name exists, no records of that type
 *   DNS_NXDOMAIN  the name does not exist          (permanent)
 *   DNS_TEMPFAIL  SERVFAIL, timeout, network error (temporary)
 *   DNS_NULL_MX   the domain publishes a null MX (RFC 7505; permanent)
 * A cache honours TTLs (libunbound's own cache).
 */
#ifndef PETREL_DNS_H
#define PETREL_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct event_base;
struct dns_resolver;
struct dns_query;

enum dns_status {
	DNS_OK = 0,
	DNS_NODATA,
	DNS_NXDOMAIN,
	DNS_TEMPFAIL,
	DNS_NULL_MX,
};

struct dns_settings {
	const char *forwarder;   /* "127.0.0.1@5353"; NULL = /etc/resolv.conf */
	/* zones answered by the resolver even though RFC 6761 reserves them
	 * ("test", "invalid", "localhost" ...), comma separated; NULL = none */
	const char *special_zones;
	unsigned timeout_ms;     /* per query; 0 = 10000 */
};

struct dns_resolver *dns_resolver_create(struct event_base *base,
					 const struct dns_settings *settings,
					 const char **error_r);
void dns_resolver_free(struct dns_resolver **resolver);

/* ---- mail routing (RFC 5321 section 5) ---------------------------------- */

struct dns_mx_host {
	char *name;            /* exchange host name, no trailing dot */
	unsigned preference;
	char **addresses;      /* "2001:db8::1", "192.0.2.1": the AAAA answers
				  then the A answers, each in answer order;
				  at most 20 */
	size_t address_count;
	enum dns_status status;/* of its address lookups (TEMPFAIL if all failed) */
};

struct dns_mx_result {
	enum dns_status status;   /* overall */
	bool implicit;            /* no MX: the domain's own A/AAAA (RFC 5321 5.1) */
	struct dns_mx_host *hosts;/* in delivery order: preference, random among equals;
				     at most 20 */
	size_t host_count;
};

typedef void dns_mx_cb(void *ctx, const struct dns_mx_result *result);
/* dns_resolve_mx - MX of DOMAIN, then A/AAAA of each exchange, following
 * CNAMEs; null MX -> DNS_NULL_MX; no MX -> implicit MX from A/AAAA;
 * an exchange without addresses is kept with its status so the caller can
 * tell "temporary" from "permanent".  Returns NULL only if the query cannot
 * be started (then CB is never called). */
struct dns_query *dns_resolve_mx(struct dns_resolver *resolver, const char *domain,
				 dns_mx_cb *cb, void *ctx);

/* ---- single lookups (SPF, DKIM, DMARC, DANE later) ------------------------ */

struct dns_records {
	enum dns_status status;
	uint32_t ttl;
	char **items;             /* TXT: strings of one record joined; A/AAAA: text form;
				     PTR/CNAME: names without trailing dot */
	size_t *lengths;          /* octets of each item; only a TXT text may hold a NUL
				     octet, so that its length is not strlen()'s */
	size_t count;
};
typedef void dns_records_cb(void *ctx, const struct dns_records *records);

/* dns_records_length - the octets of item I: LENGTHS' entry, or strlen()
 * when LENGTHS is NULL (records a test or a caller built by hand) */
static inline size_t dns_records_length(const struct dns_records *records, size_t i)
{
	return records->lengths ? records->lengths[i] : strlen(records->items[i]);
}

enum dns_type { DNS_TYPE_A = 1, DNS_TYPE_AAAA = 28, DNS_TYPE_TXT = 16, DNS_TYPE_PTR = 12,
		DNS_TYPE_MX = 15, DNS_TYPE_CNAME = 5 };
/* dns_lookup - one query of TYPE for NAME; MX items are "pref name".
 * For PTR, NAME may be an IP literal ("192.0.2.1", "2001:db8::1"): the
 * in-addr.arpa / ip6.arpa name is built here.  Returns NULL only if the
 * query cannot be started (then CB is never called). */
struct dns_query *dns_lookup(struct dns_resolver *resolver, const char *name,
			     enum dns_type type, dns_records_cb *cb, void *ctx);

/* dns_cancel - the callback will not be called; QUERY is freed.  A query
 * pointer is valid until its callback returns or it is cancelled; calling
 * dns_cancel on it from inside its own callback does nothing.
 * dns_resolver_free may be called from any callback. */
void dns_cancel(struct dns_query *query);

const char *dns_status_name(enum dns_status status);

#endif
