/* delivery/delivery - requests, destinations and routing for the outbound
 * SMTP client (see delivery.h; one connection is delivery/client.c).
 *
 * A destination is a recipient domain (MX routing) or a smarthost
 * ("relay:host:port").  Every request holds a "slot" from the moment it
 * starts (DNS, connecting, sending) until it finishes; an idle connection
 * kept for reuse holds one too.  A destination has at most
 * max_per_destination slots, the whole object max_connections.  Requests
 * wait in one FIFO in submission order; each time a slot or an idle
 * connection frees up the queue is scanned from its head, so requests for
 * one destination start in order and a busy destination does not hold up
 * the others.  When the global limit is reached and some other destination
 * has an idle connection, that connection is closed to make room.
 *
 * A message with a route of its own (delivery_message.route: another
 * node) goes there, like a smarthost, whatever its recipients' domains.
 *
 * Routing (RFC 5321 5.1): the MX hosts in order, each host's addresses in
 * order.  Connection failures, a greeting other than 220, EHLO/HELO
 * failure, required TLS not offered or failing, and AUTH failure move on
 * to the next address.  Recipients refused with 4xx to MAIL or RCPT are
 * tried at the next MX host, if there is one.  When every address fails,
 * recipients get a temporary result with the last error; DNS permanent
 * answers (NXDOMAIN, null MX, no address) are permanent.
 */
#include "delivery/delivery.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>
#include <openssl/ssl.h>

#include "delivery/delivery-int.h"
#include "dns/dns.h"
#include "util/log.h"
#include "util/xalloc.h"

struct delivery_dest {
	struct delivery_dest *next;
	char *key;
	char *domain;                    /* MX routing, or NULL */
	const struct delivery_relay *relay;
	struct delivery_relay route;     /* a message's own route: its copy, */
	char *route_host;                /* which relay points to, and its host */
	enum delivery_tls tls;
	unsigned port;
	unsigned slots;
	unsigned refs;                   /* requests + idle connections */
	struct delivery_conn *idle;      /* most recently used first */
};

struct route_host {
	char *name;
	char **addrs;
	size_t count;
};

struct delivery_request {
	struct delivery_request *next, *prev;  /* waiting queue or active list */
	struct delivery *d;
	struct delivery_dest *dest;
	struct delivery_message msg;
	delivery_cb *cb;
	void *ctx;
	bool waiting;
	bool slot;

	struct delivery_rcpt_result *results;
	bool *done;
	bool *retry_next;
	size_t *index;
	struct delivery_txn txn;

	struct dns_query *queries[2];
	struct route_host *hosts;
	size_t host_count, host_i, addr_i;
	bool routed;
	enum dns_status relay_status[2];
	struct delivery_error last;
	struct delivery_conn *conn;
	char *mx_host, *mx_address, *tls;
};

struct request_list {
	struct delivery_request *head, *tail;
};

struct delivery {
	struct event_base *base;
	struct dns_resolver *dns;
	struct delivery_settings settings;
	SSL_CTX *own_ctx;
	SSL_CTX *ctx;
	struct event *kick;
	struct delivery_dest *dests;
	struct request_list waiting, active;
	struct delivery_conn *conns;     /* every connection, for the final free */
	unsigned active_slots;
};

static void list_append(struct request_list *l, struct delivery_request *r);
static void list_remove(struct request_list *l, struct delivery_request *r);
static void delivery_kick(struct delivery *d);
static void delivery_kick_cb(evutil_socket_t fd, short what, void *arg);
static struct delivery_dest *dest_get(struct delivery *d, const struct delivery_message *msg);
static void dest_unref(struct delivery *d, struct delivery_dest *dest);
static void dest_free(struct delivery_dest *dest);
static void slot_release(struct delivery *d, struct delivery_dest *dest);
static bool close_some_idle(struct delivery *d, struct delivery_dest *except);
static void request_start(struct delivery_request *r);
static void request_route(struct delivery_request *r);
static void request_mx_cb(void *ctx, const struct dns_mx_result *result);
static void request_relay_cb(struct delivery_request *r, int which,
			     const struct dns_records *records);
static void request_relay_aaaa_cb(void *ctx, const struct dns_records *records);
static void request_relay_a_cb(void *ctx, const struct dns_records *records);
static void request_try_next(struct delivery_request *r);
static void request_open(struct delivery_request *r, const char *host, const char *address,
			 enum delivery_tls tls, bool fallback);
static void request_note_no_tls(struct delivery_request *r);
static void request_send(struct delivery_request *r, struct delivery_conn *conn);
static void request_conn_cb(void *ctx, struct delivery_conn *conn,
			    enum delivery_conn_event event);
static void request_txn_done(struct delivery_request *r, struct delivery_conn *conn);
static void request_fail_pending(struct delivery_request *r, enum delivery_outcome outcome,
				 const struct delivery_error *e, bool keep_remote);
static void request_complete(struct delivery_request *r);
static void request_free_routes(struct delivery_request *r);
static void request_note_conn(struct delivery_request *r, struct delivery_conn *conn);
static bool is_ip_literal(const char *s);

/* ---- lists --------------------------------------------------------------------- */

static void list_append(struct request_list *l, struct delivery_request *r)
{
	r->next = NULL;
	r->prev = l->tail;
	if (l->tail)
		l->tail->next = r;
	else
		l->head = r;
	l->tail = r;
}

static void list_remove(struct request_list *l, struct delivery_request *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else
		l->head = r->next;
	if (r->next)
		r->next->prev = r->prev;
	else
		l->tail = r->prev;
	r->next = r->prev = NULL;
}

static bool is_ip_literal(const char *s)
{
	unsigned char tmp[16];
	return inet_pton(AF_INET, s, tmp) == 1 || inet_pton(AF_INET6, s, tmp) == 1;
}

/* ---- the object ------------------------------------------------------------------ */

struct delivery *delivery_create(struct event_base *base, struct dns_resolver *dns,
				 const struct delivery_settings *settings)
{
	struct delivery *d = xcalloc(1, sizeof(*d));
	struct delivery_settings *s = &d->settings;

	d->base = base;
	d->dns = dns;
	*s = *settings;
	if (!s->helo_name || !*s->helo_name)
		s->helo_name = "localhost";
	if (!s->max_connections)
		s->max_connections = 100;
	if (!s->max_per_destination)
		s->max_per_destination = 10;
	if (!s->port)
		s->port = 25;
	/* RFC 5321 4.5.3.2; the connect timeout is ours */
	if (!s->connect_timeout)
		s->connect_timeout = 30;
	if (!s->greeting_timeout)
		s->greeting_timeout = 300;
	if (!s->ehlo_timeout)
		s->ehlo_timeout = 300;
	if (!s->mail_timeout)
		s->mail_timeout = 300;
	if (!s->rcpt_timeout)
		s->rcpt_timeout = 300;
	if (!s->data_timeout)
		s->data_timeout = 120;
	if (!s->block_timeout)
		s->block_timeout = 180;
	if (!s->final_timeout)
		s->final_timeout = 600;
	if (!s->idle_reuse_seconds)
		s->idle_reuse_seconds = 5;
	d->ctx = s->tls_ctx;
	if (!d->ctx) {
		d->own_ctx = delivery_tls_client_ctx();
		d->ctx = d->own_ctx;
	}
	d->kick = event_new(base, -1, 0, delivery_kick_cb, d);
	if (!d->kick)
		abort();
	return d;
}

unsigned delivery_active(const struct delivery *d)
{
	return d->active_slots;
}

void delivery_free(struct delivery **dp)
{
	struct delivery *d = *dp;
	struct delivery_error e = { 0 };

	if (!d)
		return;
	*dp = NULL;
	delivery_error_set(&e, 451, "4.3.2", false, "delivery shutting down");
	for (int pass = 0; pass < 2; pass++) {
		struct request_list *l = pass == 0 ? &d->active : &d->waiting;
		while (l->head) {
			struct delivery_request *r = l->head;
			for (int i = 0; i < 2; i++)
				if (r->queries[i]) {
					dns_cancel(r->queries[i]);
					r->queries[i] = NULL;
				}
			if (r->conn) {
				delivery_conn_close(r->conn);
				r->conn = NULL;
			}
			request_fail_pending(r, DELIVERY_TEMPORARY, &e, false);
			request_complete(r);
		}
	}
	delivery_error_clear(&e);
	delivery_conn_free_all(&d->conns);
	while (d->dests) {
		struct delivery_dest *dest = d->dests;
		d->dests = dest->next;
		dest_free(dest);
	}
	event_free(d->kick);
	if (d->own_ctx)
		SSL_CTX_free(d->own_ctx);
	free(d);
}

/* ---- destinations and slots ------------------------------------------------------- */

static struct delivery_dest *dest_get(struct delivery *d, const struct delivery_message *msg)
{
	const struct delivery_policy *policy = NULL;
	char key[300];

	for (size_t i = 0; i < d->settings.policy_count; i++) {
		const struct delivery_policy *p = &d->settings.policies[i];
		if (strcmp(p->domain, "*") == 0 || strcasecmp(p->domain, msg->domain) == 0) {
			policy = p;
			break;
		}
	}
	const struct delivery_relay *relay = policy ? policy->relay : NULL;
	if (msg->route)
		snprintf(key, sizeof(key), "route:%s:%u", msg->route->host, msg->route->port);
	else if (relay)
		snprintf(key, sizeof(key), "relay:%s:%u", relay->host, relay->port);
	else
		snprintf(key, sizeof(key), "%s", msg->domain);
	for (struct delivery_dest *dest = d->dests; dest; dest = dest->next)
		if (strcasecmp(dest->key, key) == 0) {
			dest->refs++;
			return dest;
		}
	struct delivery_dest *dest = xcalloc(1, sizeof(*dest));
	dest->key = xstrdup(key);
	dest->relay = relay;
	if (msg->route) {
		/* the message's route outlives it here (idle connections) */
		dest->route_host = xstrdup(msg->route->host);
		dest->route = (struct delivery_relay){ .host = dest->route_host,
						       .port = msg->route->port,
						       .tls = msg->route->tls };
		dest->relay = &dest->route;
		dest->tls = msg->route->tls;
		dest->port = msg->route->port;
	} else if (relay) {
		dest->tls = relay->tls;
		dest->port = relay->port ? relay->port : 25;
	} else {
		dest->domain = xstrdup(msg->domain);
		dest->tls = policy ? policy->tls : DELIVERY_TLS_MAY;
		dest->port = d->settings.port;
	}
	dest->refs = 1;
	dest->next = d->dests;
	d->dests = dest;
	return dest;
}

/* dest_unref - a destination with no request and no idle connection goes */
static void dest_unref(struct delivery *d, struct delivery_dest *dest)
{
	if (--dest->refs > 0)
		return;
	for (struct delivery_dest **pp = &d->dests; *pp; pp = &(*pp)->next)
		if (*pp == dest) {
			*pp = dest->next;
			break;
		}
	dest_free(dest);
}

static void dest_free(struct delivery_dest *dest)
{
	free(dest->key);
	free(dest->domain);
	free(dest->route_host);
	free(dest);
}

static void slot_release(struct delivery *d, struct delivery_dest *dest)
{
	dest->slots--;
	d->active_slots--;
	delivery_kick(d);
}

/* close_some_idle - make room under the global limit */
static bool close_some_idle(struct delivery *d, struct delivery_dest *except)
{
	for (struct delivery_dest *dest = d->dests; dest; dest = dest->next) {
		if (dest == except || !dest->idle)
			continue;
		struct delivery_conn *c = dest->idle;
		dest->idle = delivery_conn_public(c)->idle_next;
		delivery_conn_quit(c);
		dest->slots--;
		d->active_slots--;
		dest_unref(d, dest);
		return true;
	}
	return false;
}

/* ---- scheduling ------------------------------------------------------------------ */

void delivery_submit(struct delivery *d, const struct delivery_message *msg,
		     delivery_cb *cb, void *ctx)
{
	struct delivery_request *r = xcalloc(1, sizeof(*r));
	size_t n = msg->rcpt_count ? msg->rcpt_count : 1;

	r->d = d;
	r->msg = *msg;
	r->cb = cb;
	r->ctx = ctx;
	r->results = xcalloc(n, sizeof(*r->results));
	r->done = xcalloc(n, sizeof(bool));
	r->retry_next = xcalloc(n, sizeof(bool));
	r->index = xcalloc(n, sizeof(size_t));
	r->dest = dest_get(d, msg);
	r->waiting = true;
	list_append(&d->waiting, r);
	delivery_kick(d);
}

/* delivery_kick - look at the waiting queue from the loop (never from inside
 * delivery_submit: the callback must not run before submit returns) */
static void delivery_kick(struct delivery *d)
{
	event_active(d->kick, EV_TIMEOUT, 0);
}

static void delivery_kick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct delivery *d = arg;
	(void)fd;
	(void)what;
	struct delivery_request *next;
	for (struct delivery_request *r = d->waiting.head; r; r = next) {
		next = r->next;
		struct delivery_dest *dest = r->dest;
		if (r->msg.rcpt_count == 0) {
			list_remove(&d->waiting, r);
			r->waiting = false;
			list_append(&d->active, r);
			request_complete(r);
			continue;
		}
		if (dest->idle) {
			struct delivery_conn *c = dest->idle;
			dest->idle = delivery_conn_public(c)->idle_next;
			dest_unref(d, dest);     /* the idle connection's reference */
			list_remove(&d->waiting, r);
			r->waiting = false;
			list_append(&d->active, r);
			r->slot = true;          /* the connection's slot is ours now */
			request_send(r, c);
			continue;
		}
		if (dest->slots >= d->settings.max_per_destination)
			continue;
		if (d->active_slots >= d->settings.max_connections &&
		    !close_some_idle(d, dest))
			continue;
		dest->slots++;
		d->active_slots++;
		r->slot = true;
		list_remove(&d->waiting, r);
		r->waiting = false;
		list_append(&d->active, r);
		request_start(r);
	}
}

static void request_start(struct delivery_request *r)
{
	request_route(r);
}

/* ---- routing ------------------------------------------------------------------------ */

static void request_free_routes(struct delivery_request *r)
{
	for (size_t i = 0; i < r->host_count; i++) {
		for (size_t j = 0; j < r->hosts[i].count; j++)
			free(r->hosts[i].addrs[j]);
		free(r->hosts[i].addrs);
		free(r->hosts[i].name);
	}
	free(r->hosts);
	r->hosts = NULL;
	r->host_count = r->host_i = r->addr_i = 0;
	r->routed = false;
}

static void request_route(struct delivery_request *r)
{
	struct delivery *d = r->d;
	struct delivery_dest *dest = r->dest;
	struct delivery_error e = { 0 };

	request_free_routes(r);
	if (dest->relay) {
		const char *host = dest->relay->host;
		char lit[64];
		size_t hl = strlen(host);
		/* "[192.0.2.1]" is an address too */
		if (hl > 2 && hl < sizeof(lit) && host[0] == '[' && host[hl - 1] == ']') {
			memcpy(lit, host + 1, hl - 2);
			lit[hl - 2] = '\0';
			host = lit;
		}
		if (is_ip_literal(host)) {
			r->hosts = xcalloc(1, sizeof(*r->hosts));
			r->hosts[0].name = xstrdup(host);
			r->hosts[0].addrs = xcalloc(1, sizeof(char *));
			r->hosts[0].addrs[0] = xstrdup(host);
			r->hosts[0].count = 1;
			r->host_count = 1;
			r->routed = true;
			request_try_next(r);
			return;
		}
		if (!d->dns) {
			delivery_error_set(&e, 451, "4.4.3", false, "no DNS resolver for %s", host);
			goto fail;
		}
		r->hosts = xcalloc(1, sizeof(*r->hosts));
		r->hosts[0].name = xstrdup(host);
		r->host_count = 1;
		r->relay_status[0] = r->relay_status[1] = DNS_TEMPFAIL;
		r->queries[0] = dns_lookup(d->dns, host, DNS_TYPE_AAAA, request_relay_aaaa_cb, r);
		r->queries[1] = dns_lookup(d->dns, host, DNS_TYPE_A, request_relay_a_cb, r);
		if (!r->queries[0] && !r->queries[1]) {
			delivery_error_set(&e, 451, "4.4.3", false,
					   "DNS lookup of %s could not start", host);
			goto fail;
		}
		return;
	}
	if (!d->dns) {
		delivery_error_set(&e, 451, "4.4.3", false, "no DNS resolver for %s",
				   dest->domain);
		goto fail;
	}
	r->queries[0] = dns_resolve_mx(d->dns, dest->domain, request_mx_cb, r);
	if (!r->queries[0]) {
		delivery_error_set(&e, 451, "4.4.3", false, "DNS lookup of %s could not start",
				   dest->domain);
		goto fail;
	}
	return;
fail:
	request_fail_pending(r, DELIVERY_TEMPORARY, &e, true);
	delivery_error_clear(&e);
	request_complete(r);
}

static void request_mx_cb(void *ctx, const struct dns_mx_result *res)
{
	struct delivery_request *r = ctx;
	struct delivery_error e = { 0 };
	const char *domain = r->dest->domain;
	enum delivery_outcome outcome = DELIVERY_PERMANENT;

	r->queries[0] = NULL;
	enum dns_status status = res->status;
	/* MX records whose exchanges do not exist: that is "no address"
	 * (checked below), not "no such domain" */
	if ((status == DNS_NXDOMAIN || status == DNS_NODATA) && res->host_count > 0)
		status = DNS_OK;
	switch (status) {
	case DNS_NXDOMAIN:
		delivery_error_set(&e, 550, "5.1.2", false, "Domain %s not found (DNS NXDOMAIN)",
				   domain);
		goto fail;
	case DNS_NULL_MX:
		/* RFC 7505 3 */
		delivery_error_set(&e, 556, "5.1.10", false,
				   "Domain %s does not accept mail (null MX, RFC 7505)", domain);
		goto fail;
	case DNS_TEMPFAIL:
		outcome = DELIVERY_TEMPORARY;
		delivery_error_set(&e, 451, "4.4.3", false, "DNS temporary failure for %s",
				   domain);
		goto fail;
	case DNS_NODATA:
		delivery_error_set(&e, 550, "5.4.4", false,
				   "Unable to route: no MX or address for %s", domain);
		goto fail;
	case DNS_OK:
		break;
	}
	bool any_temp = false;
	r->hosts = xcalloc(res->host_count ? res->host_count : 1, sizeof(*r->hosts));
	for (size_t i = 0; i < res->host_count; i++) {
		const struct dns_mx_host *h = &res->hosts[i];
		struct route_host *rh = &r->hosts[r->host_count++];
		rh->name = xstrdup(h->name);
		rh->addrs = xcalloc(h->address_count ? h->address_count : 1, sizeof(char *));
		for (size_t j = 0; j < h->address_count; j++)
			rh->addrs[rh->count++] = xstrdup(h->addresses[j]);
		if (h->address_count == 0 && h->status == DNS_TEMPFAIL)
			any_temp = true;
	}
	size_t addresses = 0;
	for (size_t i = 0; i < r->host_count; i++)
		addresses += r->hosts[i].count;
	if (addresses == 0) {
		if (any_temp) {
			outcome = DELIVERY_TEMPORARY;
			delivery_error_set(&e, 451, "4.4.3", false,
					   "DNS temporary failure for the MX hosts of %s", domain);
		} else {
			delivery_error_set(&e, 550, "5.4.4",
					   false, "Unable to route: no address for the MX hosts of %s",
					   domain);
		}
		goto fail;
	}
	r->routed = true;
	/* an exchange whose addresses failed temporarily: that is the error
	 * if nothing else works */
	if (any_temp)
		delivery_error_set(&r->last, 451, "4.4.3", false,
				   "DNS temporary failure for an MX host of %s", domain);
	request_try_next(r);
	return;
fail:
	log_debug("delivery-dns", "queue_id=%s domain=%s status=%s", r->msg.queue_id, domain,
		  dns_status_name(res->status));
	request_fail_pending(r, outcome, &e, false);
	delivery_error_clear(&e);
	request_complete(r);
}

static void request_relay_aaaa_cb(void *ctx, const struct dns_records *records)
{
	request_relay_cb(ctx, 0, records);
}

static void request_relay_a_cb(void *ctx, const struct dns_records *records)
{
	request_relay_cb(ctx, 1, records);
}

/* request_relay_cb - the smarthost's AAAA (0) and A (1) answers */
static void request_relay_cb(struct delivery_request *r, int which,
			     const struct dns_records *records)
{
	struct route_host *h = &r->hosts[0];
	r->queries[which] = NULL;
	r->relay_status[which] = records->status;
	if (records->status == DNS_OK && records->count > 0) {
		h->addrs = xrealloc(h->addrs, (h->count + records->count) * sizeof(char *));
		/* AAAA first, as MX hosts */
		if (which == 0 && h->count > 0) {
			memmove(h->addrs + records->count, h->addrs, h->count * sizeof(char *));
			for (size_t i = 0; i < records->count; i++)
				h->addrs[i] = xstrdup(records->items[i]);
		} else {
			for (size_t i = 0; i < records->count; i++)
				h->addrs[h->count + i] = xstrdup(records->items[i]);
		}
		h->count += records->count;
	}
	if (r->queries[0] || r->queries[1])
		return;
	if (h->count == 0) {
		struct delivery_error e = { 0 };
		bool temp = r->relay_status[0] == DNS_TEMPFAIL || r->relay_status[1] == DNS_TEMPFAIL;
		/* a smarthost that does not resolve is a configuration problem:
		 * keep the mail (temporary) either way */
		delivery_error_set(&e, 451, "4.4.3", false, "relay host %s: %s", h->name,
				   temp ? "DNS temporary failure" : "no address");
		request_fail_pending(r, DELIVERY_TEMPORARY, &e, false);
		delivery_error_clear(&e);
		request_complete(r);
		return;
	}
	r->routed = true;
	request_try_next(r);
}

/* request_try_next - the next address of this host, or the next host */
static void request_try_next(struct delivery_request *r)
{
	while (r->host_i < r->host_count) {
		struct route_host *h = &r->hosts[r->host_i];
		if (r->addr_i < h->count) {
			request_open(r, h->name, h->addrs[r->addr_i++], r->dest->tls, false);
			return;
		}
		r->host_i++;
		r->addr_i = 0;
	}
	if (!r->last.text)
		delivery_error_set(&r->last, 451, "4.4.1", false, "no host could be reached");
	request_fail_pending(r, DELIVERY_TEMPORARY, &r->last, true);
	request_complete(r);
}

/* ---- connections ------------------------------------------------------------------- */

/* request_open - connect to ADDRESS of HOST with TLS policy TLS; FALLBACK:
 * a second try without TLS after a failed handshake there */
static void request_open(struct delivery_request *r, const char *host, const char *address,
			 enum delivery_tls tls, bool fallback)
{
	struct delivery *d = r->d;
	struct delivery_conn_params p = {
		.host = host,
		.address = address,
		.port = r->dest->port,
		.tls = tls,
		.relay = r->dest->relay,
		.settings = &d->settings,
		.ssl_ctx = d->ctx,
	};
	r->conn = delivery_conn_open(d->base, &p, &d->conns, request_conn_cb, d);
	struct delivery_conn_public *pub = delivery_conn_public(r->conn);
	pub->request = r;
	pub->dest = r->dest;
	pub->tls_fallback = fallback;
}

/* request_note_no_tls - the transaction went over a plaintext fallback
 * connection: say so in the result of each recipient it delivered (the
 * delivered event and log carry that text) */
static void request_note_no_tls(struct delivery_request *r)
{
	for (size_t k = 0; k < r->txn.count; k++) {
		struct delivery_rcpt_result *x = &r->results[r->index[k]];
		if (x->outcome != DELIVERY_DELIVERED || !x->text)
			continue;
		char *text = xasprintf("%s (sent without TLS: the TLS handshake had failed)",
				       x->text);
		free(x->text);
		x->text = text;
	}
}

static void request_note_conn(struct delivery_request *r, struct delivery_conn *conn)
{
	struct delivery_conn_public *p = delivery_conn_public(conn);
	free(r->mx_host);
	free(r->mx_address);
	free(r->tls);
	r->mx_host = xstrdup(p->host);
	r->mx_address = xstrdup(p->address);
	r->tls = p->tls[0] ? xstrdup(p->tls) : NULL;
}

/* request_send - a transaction for the recipients still pending */
static void request_send(struct delivery_request *r, struct delivery_conn *conn)
{
	struct delivery_conn_public *p = delivery_conn_public(conn);
	const struct delivery_error *err = NULL;
	size_t n = 0;

	r->conn = conn;
	p->request = r;
	p->dest = r->dest;
	request_note_conn(r, conn);
	for (size_t i = 0; i < r->msg.rcpt_count; i++) {
		r->retry_next[i] = false;
		if (!r->done[i])
			r->index[n++] = i;
	}
	r->txn = (struct delivery_txn){
		.msg = &r->msg,
		.rcpt_index = r->index,
		.count = n,
		.results = r->results,
		.retry_next = r->retry_next,
	};
	if (delivery_conn_transaction(conn, &r->txn, &err) == 0)
		return;
	/* refused before sending (SIZE, SMTPUTF8, 8BITMIME): permanent */
	request_fail_pending(r, DELIVERY_PERMANENT, err, false);
	/* the connection stays usable: give it to the destination */
	r->conn = NULL;
	p->request = NULL;
	p->idle_next = r->dest->idle;
	r->dest->idle = conn;
	r->dest->refs++;
	r->slot = false;
	delivery_conn_idle(conn, r->d->settings.idle_reuse_seconds);
	delivery_kick(r->d);
	request_complete(r);
}

/* request_conn_cb - events of every connection; CTX is the delivery */
static void request_conn_cb(void *ctx, struct delivery_conn *conn,
			    enum delivery_conn_event event)
{
	struct delivery *d = ctx;
	struct delivery_conn_public *p = delivery_conn_public(conn);
	struct delivery_request *r = p->request;

	if (!r) {
		/* an idle connection closed: leave the idle list */
		struct delivery_dest *dest = p->dest;
		for (struct delivery_conn **pp = &dest->idle; *pp;
		     pp = &delivery_conn_public(*pp)->idle_next)
			if (*pp == conn) {
				*pp = p->idle_next;
				break;
			}
		slot_release(d, dest);
		dest_unref(d, dest);
		return;
	}
	switch (event) {
	case DELIVERY_CONN_READY:
		request_send(r, conn);
		break;
	case DELIVERY_CONN_FAILED: {
		char reason[600];
		log_escape(reason, sizeof(reason), p->error.text, strlen(p->error.text));
		log_info("delivery-attempt", "queue_id=%s relay=%s[%s]:%u status=failed code=%d "
			 "reason=%s", r->msg.queue_id ? r->msg.queue_id : "-", p->host, p->address,
			 p->port, p->error.code, reason);
		request_note_conn(r, conn);
		delivery_error_set(&r->last, p->error.code, p->error.enhanced, p->error.remote,
				   "%s", p->error.text);
		r->conn = NULL;
		p->request = NULL;
		if (p->tls_failed && r->dest->tls == DELIVERY_TLS_MAY) {
			/* RFC 7435: opportunistic TLS that fails is no reason
			 * to keep the mail; this address once more, in plaintext */
			log_info("delivery-tls-fallback", "queue_id=%s relay=%s[%s]:%u "
				 "action=\"retrying without TLS\" reason=%s",
				 r->msg.queue_id ? r->msg.queue_id : "-", p->host, p->address,
				 p->port, reason);
			request_open(r, p->host, p->address, DELIVERY_TLS_NONE, true);
			break;
		}
		request_try_next(r);
		break;
	}
	case DELIVERY_CONN_DONE:
		request_txn_done(r, conn);
		break;
	case DELIVERY_CONN_CLOSED:
		break;
	}
}

static void request_txn_done(struct delivery_request *r, struct delivery_conn *conn)
{
	struct delivery *d = r->d;
	struct delivery_conn_public *p = delivery_conn_public(conn);
	bool failover = false;

	r->conn = NULL;
	p->request = NULL;
	if (r->txn.stale) {
		/* a reused connection the server had dropped: start afresh */
		log_debug("delivery-stale", "queue_id=%s relay=%s[%s]:%u", r->msg.queue_id,
			  p->host, p->address, p->port);
		delivery_conn_close(conn);
		request_route(r);
		return;
	}
	if (p->tls_fallback)
		request_note_no_tls(r);
	for (size_t k = 0; k < r->txn.count; k++) {
		size_t i = r->index[k];
		r->done[i] = true;
		/* RFC 5321 5.1: a temporary refusal may be tried at the next MX */
		if (r->retry_next[i] && r->routed && r->host_i + 1 < r->host_count) {
			r->done[i] = false;
			failover = true;
		}
	}
	if (failover) {
		delivery_conn_quit(conn);
		r->host_i++;
		r->addr_i = 0;
		request_try_next(r);
		return;
	}
	if (p->usable) {
		p->idle_next = r->dest->idle;
		r->dest->idle = conn;
		r->dest->refs++;
		r->slot = false;
		delivery_conn_idle(conn, d->settings.idle_reuse_seconds);
		delivery_kick(d);
	} else {
		delivery_conn_quit(conn);
	}
	request_complete(r);
}

/* ---- results ------------------------------------------------------------------------ */

/* request_fail_pending - E for every recipient without a final result;
 * KEEP_REMOTE keeps a remote reply already there (a 4xx from an MX host
 * tells more than the next host's connection failure) */
static void request_fail_pending(struct delivery_request *r, enum delivery_outcome outcome,
				 const struct delivery_error *e, bool keep_remote)
{
	for (size_t i = 0; i < r->msg.rcpt_count; i++) {
		if (r->done[i])
			continue;
		if (!(keep_remote && r->results[i].text && r->results[i].remote))
			delivery_result_set(&r->results[i], outcome, e);
		r->done[i] = true;
	}
}

static void request_complete(struct delivery_request *r)
{
	struct delivery *d = r->d;
	struct delivery_result res = {
		.rcpts = r->results,
		.rcpt_count = r->msg.rcpt_count,
		.mx_host = r->mx_host,
		.mx_address = r->mx_address,
		.tls = r->tls,
	};

	list_remove(r->waiting ? &d->waiting : &d->active, r);
	for (size_t i = 0; i < r->msg.rcpt_count; i++) {
		const struct delivery_rcpt_result *x = &r->results[i];
		char to[300], reply[600];
		static const char *const names[] = { "sent", "deferred", "bounced" };
		log_escape(to, sizeof(to), r->msg.rcpts[i].address,
			   strlen(r->msg.rcpts[i].address));
		log_escape(reply, sizeof(reply), x->text ? x->text : "",
			   x->text ? strlen(x->text) : 0);
		log_info("delivery", "queue_id=%s to=%s relay=%s[%s]:%u status=%s code=%d "
			 "enhanced=%s reply=%s tls=\"%s\"", r->msg.queue_id ? r->msg.queue_id : "-",
			 to, r->mx_host ? r->mx_host : "none", r->mx_address ? r->mx_address : "",
			 r->dest->port, names[x->outcome], x->code,
			 x->enhanced[0] ? x->enhanced : "-", reply, r->tls ? r->tls : "");
	}
	r->cb(r->ctx, &res);
	if (r->slot)
		slot_release(d, r->dest);
	dest_unref(d, r->dest);
	for (size_t i = 0; i < r->msg.rcpt_count; i++)
		free(r->results[i].text);
	request_free_routes(r);
	delivery_error_clear(&r->last);
	free(r->results);
	free(r->done);
	free(r->retry_next);
	free(r->index);
	free(r->mx_host);
	free(r->mx_address);
	free(r->tls);
	free(r);
}
