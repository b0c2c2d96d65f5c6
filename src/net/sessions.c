/* net/sessions - the table of a server's open sessions by id, the reaper of
 * sessions that died in their own callbacks, and the shutdown drain: one
 * copy for the SMTP, IMAP and POP3 servers. */
#include "net/net.h"

#include <stdlib.h>

#include <event2/event.h>

#include "util/xalloc.h"

struct net_sessions {
	const struct net_session_ops *ops;
	unsigned buckets;
	struct net_session_link **chains;
	size_t count;
	uint64_t next_id;
	struct net_session_link *dead;   /* buried, freed by the reaper event */
	struct event *reaper;
	bool draining;
	struct event *drained_ev;        /* runs DRAINED once no session is left */
	void (*drained)(void *ctx);
	void *drained_ctx;
	struct net_session_stats stats;
};

static void sessions_reaper_cb(evutil_socket_t fd, short what, void *arg);
static void sessions_drained_cb(evutil_socket_t fd, short what, void *arg);

static void sessions_reaper_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	net_sessions_reap(arg);
}

/* sessions_drained_cb - the last session of a drain is gone */
static void sessions_drained_cb(evutil_socket_t fd, short what, void *arg)
{
	struct net_sessions *table = arg;
	(void)fd;
	(void)what;
	if (table->drained)
		table->drained(table->drained_ctx);
}

struct net_sessions *net_sessions_create(struct event_base *base, unsigned buckets,
					 const struct net_session_ops *ops)
{
	struct net_sessions *table = xcalloc(1, sizeof(*table));
	table->ops = ops;
	table->buckets = buckets ? buckets : 1;
	table->chains = xcalloc(table->buckets, sizeof(*table->chains));
	table->next_id = 1;
	table->reaper = event_new(base, -1, 0, sessions_reaper_cb, table);
	table->drained_ev = event_new(base, -1, 0, sessions_drained_cb, table);
	if (!table->reaper || !table->drained_ev)
		abort();
	return table;
}

uint64_t net_sessions_add(struct net_sessions *table, struct net_session_link *link,
			  void *session)
{
	link->id = table->next_id++;
	link->session = session;
	struct net_session_link **head = &table->chains[link->id % table->buckets];
	link->next = *head;
	*head = link;
	table->count++;
	return link->id;
}

void net_sessions_remove(struct net_sessions *table, struct net_session_link *link)
{
	struct net_session_link **p = &table->chains[link->id % table->buckets];
	while (*p && *p != link)
		p = &(*p)->next;
	if (!*p)
		return;
	*p = link->next;
	link->next = NULL;
	table->count--;
	if (table->draining && table->count == 0)
		event_active(table->drained_ev, EV_TIMEOUT, 0);
}

void net_sessions_bury(struct net_sessions *table, struct net_session_link *link)
{
	net_sessions_remove(table, link);
	link->next = table->dead;
	table->dead = link;
	event_active(table->reaper, EV_TIMEOUT, 0);
}

void net_sessions_reap(struct net_sessions *table)
{
	while (table->dead) {
		struct net_session_link *link = table->dead;
		table->dead = link->next;
		link->next = NULL;
		table->ops->free(link->session);
	}
}

void *net_sessions_find(const struct net_sessions *table, uint64_t id)
{
	const struct net_session_link *link = table->chains[id % table->buckets];
	while (link && link->id != id)
		link = link->next;
	return link ? link->session : NULL;
}

size_t net_sessions_count(const struct net_sessions *table)
{
	return table->count;
}

const char *net_tls_version_name(enum net_tls_version version)
{
	static const char *const names[NET_TLS_VERSIONS] = {
		[NET_TLS_1_0] = "TLSv1",
		[NET_TLS_1_1] = "TLSv1.1",
		[NET_TLS_1_2] = "TLSv1.2",
		[NET_TLS_1_3] = "TLSv1.3",
		[NET_TLS_OTHER] = "other",
	};
	return version < NET_TLS_VERSIONS ? names[version] : names[NET_TLS_OTHER];
}

void net_sessions_count_tls(struct net_sessions *table, int ssl_version)
{
	enum net_tls_version v;
	switch (ssl_version) {
	case TLS1_VERSION:
		v = NET_TLS_1_0;
		break;
	case TLS1_1_VERSION:
		v = NET_TLS_1_1;
		break;
	case TLS1_2_VERSION:
		v = NET_TLS_1_2;
		break;
	case TLS1_3_VERSION:
		v = NET_TLS_1_3;
		break;
	default:
		v = NET_TLS_OTHER;
		break;
	}
	table->stats.tls_handshakes[v]++;
}

void net_sessions_count_auth_failure(struct net_sessions *table)
{
	table->stats.auth_failures++;
}

const struct net_session_stats *net_sessions_stats(const struct net_sessions *table)
{
	return &table->stats;
}

void net_sessions_each(const struct net_sessions *table,
		       void (*fn)(void *session, void *ctx), void *ctx)
{
	for (unsigned i = 0; i < table->buckets; i++)
		for (const struct net_session_link *l = table->chains[i]; l; l = l->next)
			fn(l->session, ctx);
}

bool net_sessions_is_draining(const struct net_sessions *table)
{
	return table->draining;
}

void net_sessions_drain(struct net_sessions *table, void (*drained)(void *ctx), void *ctx)
{
	table->draining = true;
	table->drained = drained;
	table->drained_ctx = ctx;
	/* A drained session may take others out of the table (or die): take
	 * the ids first, then find each one. */
	size_t n = table->count, k = 0;
	uint64_t *ids = xcalloc(n ? n : 1, sizeof(*ids));
	for (unsigned i = 0; i < table->buckets; i++)
		for (const struct net_session_link *l = table->chains[i]; l && k < n; l = l->next)
			ids[k++] = l->id;
	for (size_t i = 0; i < k; i++) {
		void *session = net_sessions_find(table, ids[i]);
		if (session)
			table->ops->drain(session);
	}
	free(ids);
	if (table->count == 0)
		event_active(table->drained_ev, EV_TIMEOUT, 0);
}

void net_sessions_close(struct net_sessions *table)
{
	for (unsigned i = 0; i < table->buckets; i++)
		while (table->chains[i])
			table->ops->shutdown(table->chains[i]->session);
	net_sessions_reap(table);
}

void net_sessions_free(struct net_sessions **tablep)
{
	struct net_sessions *table = *tablep;
	if (!table)
		return;
	net_sessions_close(table);
	event_free(table->reaper);
	event_free(table->drained_ev);
	free(table->chains);
	free(table);
	*tablep = NULL;
}
