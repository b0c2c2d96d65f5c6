/* net/listener - bind the configured listeners, read the PROXY protocol
 * header on those that expect one, and count connections per client address.
 *
 * "*:25" binds 0.0.0.0 and [::] (IPv6-only) so both families are served;
 * "[::1]:2525" and "127.0.0.1:2525" bind one address.  Binding happens
 * before privileges are dropped (DESIGN: least privilege).
 *
 * On a listener with proxy_protocol on, a connection is handed on only once
 * its PROXY header (net/proxy.c) has been read, with the address the header
 * names in place of the balancer's, so that every role's greeting, TLS,
 * logs, Received: field, SPF, throttles and per-address limits see the real
 * client.  A connection from outside proxy_from, or whose header is bad,
 * missing or late ([timeouts] proxy_header), is closed without a word and
 * logged as proxy-refused.  The header is read with MSG_PEEK and then only
 * its own octets are taken, so that what follows (an implicit-TLS
 * ClientHello) stays in the socket for the session.
 */
#include "net/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "config/config.h"
#include "net/proxy.h"
#include "util/log.h"
#include "util/siphash.h"
#include "util/xalloc.h"

struct net_listener {
	struct evconnlistener *evl;
	const struct config_listener *config;
	struct net_listeners *owner;
};

/* a connection whose PROXY header is being read */
struct proxy_pending {
	struct proxy_pending *next, *prev;
	struct net_listener *listener;
	struct event *ev;               /* readable, or the header timeout */
	struct timeval deadline;        /* for the whole header, not each read */
	int fd;
	struct sockaddr_storage peer;   /* the balancer */
	socklen_t peer_len;
	size_t taken;                   /* header octets read from the socket */
	unsigned char buf[NET_PROXY_PEEK_MAX];
	struct net_proxy_header header; /* once complete: TLVs left to drop */
	bool complete;
};

struct net_listeners {
	struct net_listener *items;
	size_t count;
	net_accept_fn *accept_cb;
	void *ctx;
	struct event_base *base;
	struct timeval proxy_timeout;
	struct proxy_pending *pending;  /* list of headers being read */
};

static char listener_error[512];

static int listener_split_address(const char *address, char *host, size_t hostsize,
				  char *port, size_t portsize);
static int listener_bind_one(struct event_base *base, struct net_listeners *ls,
			     const struct config_listener *cl, const struct addrinfo *ai);
static int listener_bind_unix(struct event_base *base, struct net_listeners *ls,
			      const struct config_listener *cl, const char *path);
static int listener_add(struct event_base *base, struct net_listeners *ls,
			const struct config_listener *cl, int fd);
static void listener_accept_cb(struct evconnlistener *evl, evutil_socket_t fd,
			       struct sockaddr *sa, int salen, void *arg);
static void listener_error_cb(struct evconnlistener *evl, void *arg);
static void proxy_pending_start(struct net_listener *l, int fd, const struct sockaddr *sa,
				socklen_t salen);
static void proxy_pending_read_cb(evutil_socket_t fd, short what, void *arg);
static int proxy_pending_read(struct proxy_pending *pp, const char **error_r);
static void proxy_pending_free(struct proxy_pending **ppp, bool close_fd);

/* listener_split_address - "host:port", "[v6]:port" or "*:port" */
static int listener_split_address(const char *address, char *host, size_t hostsize,
				  char *port, size_t portsize)
{
	const char *colon;
	const char *h = address;
	size_t hlen;
	if (address[0] == '[') {
		const char *close = strchr(address, ']');
		if (!close || close[1] != ':')
			return -1;
		h = address + 1;
		hlen = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(address, ':');
		if (!colon)
			return -1;
		hlen = (size_t)(colon - address);
	}
	if (hlen == 0 || hlen >= hostsize || strlen(colon + 1) >= portsize || colon[1] == '\0')
		return -1;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	strcpy(port, colon + 1);
	return 0;
}

/* listener_bind_one - one socket for one resolved address */
static int listener_bind_one(struct event_base *base, struct net_listeners *ls,
			     const struct config_listener *cl, const struct addrinfo *ai)
{
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
			ai->ai_protocol);
	if (fd < 0)
		goto fail;
	int on = 1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0)
		goto fail;
	if (ai->ai_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) != 0)
		goto fail;
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0)
		goto fail;
	if (listener_add(base, ls, cl, fd) != 0)
		goto fail;
	return 0;
fail:
	snprintf(listener_error, sizeof(listener_error), "listener %s: cannot listen on %s: %s",
		 cl->name, cl->address, strerror(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}

/* listener_add - listen on the bound FD; on failure the caller closes FD */
static int listener_add(struct event_base *base, struct net_listeners *ls,
			const struct config_listener *cl, int fd)
{
	struct net_listener *l = &ls->items[ls->count];
	l->config = cl;
	l->owner = ls;
	l->evl = evconnlistener_new(base, listener_accept_cb, l,
				    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 1024, fd);
	if (!l->evl)
		return -1;
	evconnlistener_set_error_cb(l->evl, listener_error_cb);
	ls->count++;
	return 0;
}

/* listener_bind_unix - a unix socket every local user may connect to (the
 * sendmail command's way in); a stale socket file is replaced */
static int listener_bind_unix(struct event_base *base, struct net_listeners *ls,
			      const struct config_listener *cl, const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = -1;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		errno = ENAMETOOLONG;
		goto fail;
	}
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	if (unlink(path) != 0 && errno != ENOENT)
		goto fail;
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0 || chmod(path, 0666) != 0)
		goto fail;
	if (listener_add(base, ls, cl, fd) != 0)
		goto fail;
	return 0;
fail:
	snprintf(listener_error, sizeof(listener_error), "listener %s: cannot listen on %s: %s",
		 cl->name, cl->address, strerror(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}

struct net_listeners *net_listeners_open(struct event_base *base, const struct config *config,
					 net_accept_fn *accept_cb, void *ctx,
					 const char **error_r)
{
	struct net_listeners *ls = xcalloc(1, sizeof(*ls));
	ls->accept_cb = accept_cb;
	ls->ctx = ctx;
	ls->base = base;
	ls->proxy_timeout.tv_sec = config->timeouts.proxy_header;
	/* At most two sockets per listener ("*" = IPv4 + IPv6). */
	ls->items = xcalloc(config->listener_count * 2 + 1, sizeof(*ls->items));

	for (size_t i = 0; i < config->listener_count; i++) {
		const struct config_listener *cl = &config->listeners[i];
		char host[256], port[16];
		if (strncmp(cl->address, "unix:", 5) == 0) {
			if (listener_bind_unix(base, ls, cl, cl->address + 5) != 0)
				goto fail;
			continue;
		}
		if (listener_split_address(cl->address, host, sizeof(host), port, sizeof(port)) != 0) {
			snprintf(listener_error, sizeof(listener_error),
				 "listener %s: bad address '%s'", cl->name, cl->address);
			goto fail;
		}
		bool any = strcmp(host, "*") == 0;
		const char *hosts[2] = { any ? "0.0.0.0" : host, any ? "::" : NULL };
		for (size_t h = 0; h < 2 && hosts[h]; h++) {
			struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
						  .ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV };
			struct addrinfo *res = NULL;
			int gai = getaddrinfo(hosts[h], port, &hints, &res);
			if (gai != 0) {
				snprintf(listener_error, sizeof(listener_error),
					 "listener %s: bad address '%s': %s", cl->name, cl->address,
					 gai_strerror(gai));
				goto fail;
			}
			int rc = listener_bind_one(base, ls, cl, res);
			freeaddrinfo(res);
			if (rc != 0)
				goto fail;
		}
	}
	return ls;
fail:
	*error_r = listener_error;
	net_listeners_free(&ls);
	return NULL;
}

static void listener_accept_cb(struct evconnlistener *evl, evutil_socket_t fd,
			       struct sockaddr *sa, int salen, void *arg)
{
	struct net_listener *l = arg;
	(void)evl;
	if (l->config->proxy_protocol)
		proxy_pending_start(l, fd, sa, (socklen_t)salen);
	else
		l->owner->accept_cb(l->owner->ctx, l->config, fd, sa, (socklen_t)salen);
}

/* proxy_pending_start - check the balancer's address, then wait for its header */
static void proxy_pending_start(struct net_listener *l, int fd, const struct sockaddr *sa,
				socklen_t salen)
{
	char client[64];
	if (!net_address_in_networks(sa, l->config->proxy_from, l->config->proxy_from_count)) {
		net_address_format(sa, client, sizeof(client));
		log_info("proxy-refused", "listener=%s client=%s reason=\"not in proxy_from\"",
			 l->config->name, client);
		if (close(fd) != 0)
			log_warn("close-failed", "client=%s error=\"%s\"", client, strerror(errno));
		return;
	}
	struct proxy_pending *pp = xcalloc(1, sizeof(*pp));
	pp->listener = l;
	pp->fd = fd;
	memcpy(&pp->peer, sa, salen < sizeof(pp->peer) ? salen : sizeof(pp->peer));
	pp->peer_len = salen;
	struct timeval now;
	/* not EV_PERSIST: a persistent event's timeout restarts at each read,
	 * and a header sent an octet at a time would never time out */
	pp->ev = event_new(l->owner->base, fd, EV_READ, proxy_pending_read_cb, pp);
	if (pp->ev == NULL || event_base_gettimeofday_cached(l->owner->base, &now) != 0 ||
	    event_add(pp->ev, &l->owner->proxy_timeout) != 0)
		abort(); /* allocation failure (STYLE: errors) */
	evutil_timeradd(&now, &l->owner->proxy_timeout, &pp->deadline);
	pp->next = l->owner->pending;
	if (pp->next)
		pp->next->prev = pp;
	l->owner->pending = pp;
}

/* proxy_pending_read_cb - more of the header, its end, or the timeout */
static void proxy_pending_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct proxy_pending *pp = arg;
	struct net_listener *l = pp->listener;
	const char *error = "PROXY header timed out";
	char client[64];
	(void)fd;
	struct timeval now, left;
	int rc = (what & EV_TIMEOUT) ? -1 : proxy_pending_read(pp, &error);
	if (rc == 0) {
		/* wait for more with what is left of the header's time */
		if (event_base_gettimeofday_cached(l->owner->base, &now) != 0)
			abort();
		evutil_timersub(&pp->deadline, &now, &left);
		if (left.tv_sec < 0)
			left = (struct timeval){ 0, 0 };
		if (event_add(pp->ev, &left) != 0)
			abort();
		return;
	}
	if (rc < 0) {
		net_address_format((struct sockaddr *)&pp->peer, client, sizeof(client));
		log_info("proxy-refused", "listener=%s client=%s reason=\"%s\"", l->config->name,
			 client, error);
		proxy_pending_free(&pp, true);
		return;
	}
	struct sockaddr_storage sa = pp->peer;
	socklen_t salen = pp->peer_len;
	if (pp->header.has_source) {
		sa = pp->header.source;
		salen = pp->header.source_len;
	}
	char balancer[64];
	net_address_format((struct sockaddr *)&pp->peer, balancer, sizeof(balancer));
	net_address_format((struct sockaddr *)&sa, client, sizeof(client));
	log_debug("proxy-header", "listener=%s proxy=%s version=%d client=%s", l->config->name,
		  balancer, pp->header.version, client);
	int cfd = pp->fd;
	proxy_pending_free(&pp, false);
	l->owner->accept_cb(l->owner->ctx, l->config, cfd, (struct sockaddr *)&sa, salen);
}

/* proxy_pending_read - peek, parse, then take the header's own octets:
 * 1 = read whole, 0 = more to come, -1 = refuse (*ERROR_R) */
static int proxy_pending_read(struct proxy_pending *pp, const char **error_r)
{
	unsigned char drop[512];
	ssize_t n;
	if (pp->complete) { /* dropping the TLVs of a long v2 header */
		size_t want = pp->header.length - pp->taken;
		n = recv(pp->fd, drop, want < sizeof(drop) ? want : sizeof(drop), 0);
		if (n <= 0)
			goto closed;
		pp->taken += (size_t)n;
		return pp->taken == pp->header.length ? 1 : 0;
	}
	n = recv(pp->fd, pp->buf + pp->taken, sizeof(pp->buf) - pp->taken, MSG_PEEK);
	if (n <= 0)
		goto closed;
	size_t have = pp->taken + (size_t)n;
	int rc = net_proxy_parse(pp->buf, have, &pp->header, error_r);
	if (rc < 0)
		return -1;
	/* need more: every octet seen is the header's, so take them all (the
	 * socket then stops being readable until more come); done: take the
	 * header's octets only */
	size_t take = rc == 0 ? (size_t)n :
		      (pp->header.length < have ? pp->header.length : have) - pp->taken;
	if (take > 0 && recv(pp->fd, drop, take, 0) != (ssize_t)take) {
		*error_r = "PROXY header read failed";
		return -1;
	}
	pp->taken += take;
	if (rc == 0)
		return 0;
	pp->complete = true;
	return pp->taken == pp->header.length ? 1 : 0;
closed:
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return 0;
	*error_r = n == 0 ? "closed before the PROXY header ended" : strerror(errno);
	return -1;
}

/* proxy_pending_free - unlink and free, closing the socket unless handed on */
static void proxy_pending_free(struct proxy_pending **ppp, bool close_fd)
{
	struct proxy_pending *pp = *ppp;
	struct net_listeners *ls = pp->listener->owner;
	if (pp->prev)
		pp->prev->next = pp->next;
	else
		ls->pending = pp->next;
	if (pp->next)
		pp->next->prev = pp->prev;
	event_free(pp->ev);
	if (close_fd && close(pp->fd) != 0)
		log_warn("close-failed", "error=\"%s\"", strerror(errno));
	free(pp);
	*ppp = NULL;
}

/* listener_error_cb - accept() failed (EMFILE and the like): keep listening */
static void listener_error_cb(struct evconnlistener *evl, void *arg)
{
	struct net_listener *l = arg;
	(void)evl;
	fprintf(stderr, "petrel: listener %s: accept: %s\n", l->config->name, strerror(errno));
}

void net_listeners_disable(struct net_listeners *ls)
{
	for (size_t i = 0; i < ls->count; i++)
		evconnlistener_disable(ls->items[i].evl);
	/* no session yet to drain: a header still on its way is dropped */
	while (ls->pending) {
		struct proxy_pending *pp = ls->pending;
		proxy_pending_free(&pp, true);
	}
}

void net_listeners_free(struct net_listeners **lsp)
{
	struct net_listeners *ls = *lsp;
	if (!ls)
		return;
	while (ls->pending) {
		struct proxy_pending *pp = ls->pending;
		proxy_pending_free(&pp, true);
	}
	for (size_t i = 0; i < ls->count; i++)
		evconnlistener_free(ls->items[i].evl);
	free(ls->items);
	free(ls);
	*lsp = NULL;
}

void net_address_format(const struct sockaddr *sa, char *buf, size_t size)
{
	const void *addr = NULL;
	if (sa->sa_family == AF_INET)
		addr = &((const struct sockaddr_in *)(const void *)sa)->sin_addr;
	else if (sa->sa_family == AF_INET6)
		addr = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
	if (sa->sa_family == AF_UNIX)
		snprintf(buf, size, "local");
	else if (!addr || !inet_ntop(sa->sa_family, addr, buf, (socklen_t)size))
		snprintf(buf, size, "unknown");
}

/* ---- connection limits ------------------------------------------------- */

#define CONN_BUCKETS 4096u

struct conn_entry {
	struct conn_entry *next;
	unsigned char key[16];
	unsigned count;
};

struct net_conn_limits {
	unsigned total_max;
	unsigned per_address_max;
	unsigned total;
	/* Keyed, so that clients cannot pick addresses (an IPv6 /64 holds
	 * plenty) that all fall into one chain. */
	unsigned char hash_key[SIPHASH_KEY_LEN];
	struct conn_entry *buckets[CONN_BUCKETS];
};

static struct conn_entry **conn_find(struct net_conn_limits *limits, const unsigned char key[16]);

void net_address_key(const struct sockaddr *sa, unsigned char key[16])
{
	memset(key, 0, 16);
	if (sa->sa_family == AF_INET6) {
		memcpy(key, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, 16);
	} else if (sa->sa_family == AF_INET) {
		key[10] = key[11] = 0xff;
		memcpy(key + 12, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
	}
}

/* conn_find - the link that points at KEY's entry, or at the NULL ending its chain */
static struct conn_entry **conn_find(struct net_conn_limits *limits, const unsigned char key[16])
{
	uint64_t h = siphash24(limits->hash_key, key, 16);
	struct conn_entry **link = &limits->buckets[h % CONN_BUCKETS];
	while (*link && memcmp((*link)->key, key, 16) != 0)
		link = &(*link)->next;
	return link;
}

struct net_conn_limits *net_conn_limits_create(unsigned total, unsigned per_address)
{
	struct net_conn_limits *limits = xcalloc(1, sizeof(*limits));
	limits->total_max = total;
	limits->per_address_max = per_address;
	if (getrandom(limits->hash_key, sizeof(limits->hash_key), 0) !=
	    (ssize_t)sizeof(limits->hash_key))
		abort(); /* no randomness at all: TLS would not work either */
	return limits;
}

bool net_conn_limits_acquire(struct net_conn_limits *limits, const struct sockaddr *sa)
{
	unsigned char key[16];
	net_address_key(sa, key);
	if (limits->total >= limits->total_max)
		return false;
	struct conn_entry **link = conn_find(limits, key);
	if (*link && (*link)->count >= limits->per_address_max)
		return false;
	if (!*link) {
		*link = xcalloc(1, sizeof(**link));
		memcpy((*link)->key, key, 16);
	}
	(*link)->count++;
	limits->total++;
	return true;
}

void net_conn_limits_release(struct net_conn_limits *limits, const struct sockaddr *sa)
{
	unsigned char key[16];
	net_address_key(sa, key);
	struct conn_entry **link = conn_find(limits, key);
	struct conn_entry *e = *link;
	if (!e)
		return;
	limits->total--;
	if (--e->count == 0) {
		*link = e->next;
		free(e);
	}
}

unsigned net_conn_limits_total(const struct net_conn_limits *limits)
{
	return limits->total;
}

void net_conn_limits_free(struct net_conn_limits **limitsp)
{
	struct net_conn_limits *limits = *limitsp;
	if (!limits)
		return;
	for (unsigned i = 0; i < CONN_BUCKETS; i++) {
		struct conn_entry *e = limits->buckets[i];
		while (e) {
			struct conn_entry *next = e->next;
			free(e);
			e = next;
		}
	}
	free(limits);
	*limitsp = NULL;
}

void net_refuse(int fd, const struct sockaddr *sa, const struct config_listener *listener,
		const char *reply, const char *reason)
{
	char client[64];
	net_address_format(sa, client, sizeof(client));
	if (!listener_role_is_implicit_tls(listener->role)) {
		/* a fresh non-blocking socket takes it; the close is what matters */
		ssize_t w = write(fd, reply, strlen(reply));
		(void)w;
	}
	if (close(fd) != 0)
		log_warn("close-failed", "client=%s error=\"%s\"", client, strerror(errno));
	log_info("refused", "client=%s listener=%s reason=%s", client, listener->name, reason);
}
