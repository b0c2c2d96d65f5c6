/* net/backend - the node side of a proxied login (issue 11: IMAP and POP3
 * logins taken on one node and served by the account's home node): a
 * non-blocking connection to the home node, read a line at a time while the
 * session logs in there, then the relay of every octet both ways between
 * the client and it (see net.h).
 *
 * During the login the backend's bufferevent has read and write timeouts
 * of TIMEOUT seconds (the write one bounds the connect); a line longer than
 * LINE_MAX, a close, an error or a timeout is a failure.  Relaying, neither
 * side has timeouts of its own: one timer of IDLE seconds, set again by
 * every read on either side, ends the relay when both have been silent that
 * long.  Each side stops being read while what it sent waits, unwritten,
 * over HIGH octets on the other (back-pressure), and is read again once
 * that is half written.
 */
#include "net/net.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/util.h>

#include "util/xalloc.h"

struct net_backend {
	struct event_base *base;
	struct bufferevent *bev;            /* the home node's connection */
	size_t line_max;
	net_backend_line_fn *line_cb;
	net_backend_fail_fn *fail_cb;
	void *ctx;
	/* relaying */
	struct bufferevent *client;         /* the session's (not ours) */
	struct event *idle;
	struct timeval idle_tv;
	size_t high;
	net_backend_end_fn *end_cb;
};

static void backend_read_cb(struct bufferevent *bev, void *arg);
static void backend_event_cb(struct bufferevent *bev, short what, void *arg);
static void relay_copy(struct net_backend *b, struct bufferevent *from, struct bufferevent *to);
static void relay_backend_read_cb(struct bufferevent *bev, void *arg);
static void relay_client_read_cb(struct bufferevent *bev, void *arg);
static void relay_backend_write_cb(struct bufferevent *bev, void *arg);
static void relay_client_write_cb(struct bufferevent *bev, void *arg);
static void relay_backend_event_cb(struct bufferevent *bev, short what, void *arg);
static void relay_client_event_cb(struct bufferevent *bev, short what, void *arg);
static void relay_idle_cb(evutil_socket_t fd, short what, void *arg);
static void relay_end(struct net_backend *b, const char *reason);
static unsigned address_port(const struct sockaddr *sa);

/* address_port - SA's port (IPv4 or IPv6), 0 for another family */
static unsigned address_port(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)(const void *)sa)->sin_port);
	if (sa->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)(const void *)sa)->sin6_port);
	return 0;
}

struct net_backend *net_backend_open(struct event_base *base, const char *address,
				     unsigned timeout, size_t line_max,
				     net_backend_line_fn *line_cb, net_backend_fail_fn *fail_cb,
				     void *ctx, const char **error_r)
{
	struct sockaddr_storage ss;
	int sslen = sizeof(ss);
	/* a literal address: a name would need DNS, which the loop does not wait for */
	if (!address || evutil_parse_sockaddr_port(address, (struct sockaddr *)&ss, &sslen) != 0 ||
	    address_port((struct sockaddr *)&ss) == 0) {
		*error_r = "not an address and port";
		return NULL;
	}
	struct net_backend *b = xcalloc(1, sizeof(*b));
	b->base = base;
	b->line_max = line_max;
	b->line_cb = line_cb;
	b->fail_cb = fail_cb;
	b->ctx = ctx;
	b->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (!b->bev) {
		free(b);
		*error_r = "cannot create a bufferevent";
		return NULL;
	}
	struct timeval tv = { .tv_sec = timeout, .tv_usec = 0 };
	bufferevent_set_timeouts(b->bev, &tv, &tv);
	bufferevent_setcb(b->bev, backend_read_cb, NULL, backend_event_cb, b);
	bufferevent_enable(b->bev, EV_READ | EV_WRITE);
	/* non-blocking: the outcome comes as an event (a refusal may come
	 * at once, as an error event from the loop) */
	if (bufferevent_socket_connect(b->bev, (struct sockaddr *)&ss, sslen) != 0) {
		bufferevent_free(b->bev);
		free(b);
		*error_r = "cannot connect";
		return NULL;
	}
	return b;
}

void net_backend_send(struct net_backend *b, const void *data, size_t len)
{
	bufferevent_write(b->bev, data, len);
}

void net_backend_free(struct net_backend **backend)
{
	struct net_backend *b = *backend;
	if (!b)
		return;
	*backend = NULL;
	if (b->client)
		bufferevent_setcb(b->client, NULL, NULL, NULL, NULL);
	if (b->idle)
		event_free(b->idle);
	bufferevent_free(b->bev);
	free(b);
}

/* backend_read_cb - the login's lines, one at a time, while the caller wants them */
static void backend_read_cb(struct bufferevent *bev, void *arg)
{
	struct net_backend *b = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	for (;;) {
		size_t eol_len = 0;
		struct evbuffer_ptr eol = evbuffer_search_eol(in, NULL, &eol_len,
							      EVBUFFER_EOL_CRLF_STRICT);
		size_t len = eol.pos < 0 ? evbuffer_get_length(in) : (size_t)eol.pos;
		if (len + 2 > b->line_max) {
			b->fail_cb(b->ctx, "line-too-long");
			return;
		}
		if (eol.pos < 0)
			return;
		char *line = xmalloc(len + 1);
		evbuffer_remove(in, line, len);
		evbuffer_drain(in, eol_len);
		line[len] = '\0';
		int rc = b->line_cb(b->ctx, line, len);
		free(line);
		if (rc != 0)
			return;  /* B is freed, or relaying */
	}
}

static void backend_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct net_backend *b = arg;
	(void)bev;
	if (what & BEV_EVENT_CONNECTED)
		return;
	b->fail_cb(b->ctx, (what & BEV_EVENT_TIMEOUT) ? "timeout" :
		   (what & BEV_EVENT_EOF) ? "closed" : "connect-failed");
}

/* ---- the relay ---------------------------------------------------------------- */

void net_backend_relay(struct net_backend *b, struct bufferevent *client, unsigned idle,
		       size_t high, net_backend_end_fn *end_cb)
{
	b->client = client;
	b->high = high;
	b->end_cb = end_cb;
	b->idle_tv = (struct timeval){ .tv_sec = idle, .tv_usec = 0 };
	b->idle = evtimer_new(b->base, relay_idle_cb, b);
	if (!b->idle)
		abort();
	evtimer_add(b->idle, &b->idle_tv);
	bufferevent_set_timeouts(b->bev, NULL, NULL);
	bufferevent_set_timeouts(client, NULL, NULL);
	bufferevent_setcb(b->bev, relay_backend_read_cb, relay_backend_write_cb,
			  relay_backend_event_cb, b);
	bufferevent_setcb(client, relay_client_read_cb, relay_client_write_cb,
			  relay_client_event_cb, b);
	bufferevent_setwatermark(client, EV_READ, 0, 0);
	bufferevent_enable(client, EV_READ | EV_WRITE);
	bufferevent_enable(b->bev, EV_READ | EV_WRITE);
	/* what either side sent already (a command pipelined after the login) */
	relay_copy(b, client, b->bev);
	relay_copy(b, b->bev, client);
}

/* relay_copy - everything FROM read goes to TO; FROM stops being read
 * while TO's output is over HIGH */
static void relay_copy(struct net_backend *b, struct bufferevent *from, struct bufferevent *to)
{
	struct evbuffer *in = bufferevent_get_input(from);
	if (evbuffer_get_length(in) == 0)
		return;
	evtimer_add(b->idle, &b->idle_tv);
	struct evbuffer *out = bufferevent_get_output(to);
	evbuffer_add_buffer(out, in);
	if (evbuffer_get_length(out) > b->high) {
		bufferevent_disable(from, EV_READ);
		bufferevent_setwatermark(to, EV_WRITE, b->high / 2, 0);
	}
}

static void relay_backend_read_cb(struct bufferevent *bev, void *arg)
{
	struct net_backend *b = arg;
	relay_copy(b, bev, b->client);
}

static void relay_client_read_cb(struct bufferevent *bev, void *arg)
{
	struct net_backend *b = arg;
	relay_copy(b, bev, b->bev);
}

/* the write callbacks run once the output is down to its low watermark:
 * the other side is read again */
static void relay_backend_write_cb(struct bufferevent *bev, void *arg)
{
	struct net_backend *b = arg;
	bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
	bufferevent_enable(b->client, EV_READ);
}

static void relay_client_write_cb(struct bufferevent *bev, void *arg)
{
	struct net_backend *b = arg;
	bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
	bufferevent_enable(b->bev, EV_READ);
}

/* relay_backend_event_cb - the home node closed: what it sent before is in
 * the client's output already (each read is copied whole) */
static void relay_backend_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct net_backend *b = arg;
	relay_copy(b, bev, b->client);
	relay_end(b, (what & BEV_EVENT_EOF) ? "backend-closed" : "backend-error");
}

static void relay_client_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct net_backend *b = arg;
	(void)bev;
	relay_end(b, (what & BEV_EVENT_EOF) ? "client-closed" : "client-error");
}

static void relay_idle_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	relay_end(arg, "timeout");
}

/* relay_end - give the client's bufferevent back, callbacks cleared, and
 * tell the caller, who frees B */
static void relay_end(struct net_backend *b, const char *reason)
{
	bufferevent_setcb(b->client, NULL, NULL, NULL, NULL);
	bufferevent_setwatermark(b->client, EV_WRITE, 0, 0);
	evtimer_del(b->idle);
	b->end_cb(b->ctx, reason);
}

bool net_local_address_is(int fd, const char *address)
{
	struct sockaddr_storage local, want;
	socklen_t local_len = sizeof(local);
	int want_len = sizeof(want);
	if (!address || address[0] == '\0' ||
	    evutil_parse_sockaddr_port(address, (struct sockaddr *)&want, &want_len) != 0 ||
	    getsockname(fd, (struct sockaddr *)&local, &local_len) != 0)
		return false;
	unsigned char a[16], b[16];
	net_address_key((struct sockaddr *)&local, a);
	net_address_key((struct sockaddr *)&want, b);
	return memcmp(a, b, sizeof(a)) == 0 &&
		address_port((struct sockaddr *)&local) == address_port((struct sockaddr *)&want);
}
