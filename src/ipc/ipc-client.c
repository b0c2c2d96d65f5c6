/* ipc/ipc-client - the network process's side of its channel to a helper
 * (see ipc.h): numbered calls, each answered once, by its reply or by NULL.
 *
 * Calls waiting for a reply sit in a table indexed by the low bits of their
 * id (ids are handed out in sequence, skipping 0 and any whose slot is
 * taken, so a slot never holds two calls; the table doubles as it fills and
 * stays at most half full) and on a list in send order.  All calls share one
 * timeout, so that list is also in deadline order and one timer, set for its
 * head, serves them all.  Calls that get NULL without a reply (not
 * connected, too many pending, connection broken) move to a failing list
 * that a zero timer empties on the next pass of the loop: a callback never
 * runs inside ipc_client_call or ipc_client_set_fd, and a callback that
 * calls again gets its answer on a later pass, not in a loop.
 *
 * A reply whose call timed out or was cancelled is dropped (debug log): the
 * helper answers every request, and answering late is not a protocol error.
 * A reply with an id never sent on this connection, of a request type, or a
 * malformed frame closes the connection (ipc-malformed), and every pending
 * call gets NULL.  The helper is more trusted than we are, but a confused
 * channel must never answer one call with another's reply.
 *
 * A callback may call ipc_client_free: the client is then marked dead and
 * freed when the callback returns.
 */
#include "ipc/ipc.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/util.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include "util/log.h"
#include "util/xalloc.h"

#define IPC_CLIENT_TABLE_MIN 64

struct ipc_call {
	TAILQ_ENTRY(ipc_call) link;  /* on sent or failing */
	uint32_t id;
	uint64_t deadline_ms;        /* sent: monotonic */
	unsigned pass;               /* failing: the failing pass it waits for */
	ipc_reply_fn *cb;
	void *ctx;
};
TAILQ_HEAD(ipc_call_list, ipc_call);

struct ipc_client {
	struct event_base *base;
	char *name;
	unsigned timeout_ms;
	struct bufferevent *bev;     /* NULL: not connected */
	uint64_t conn;               /* connection number, to notice a swap */

	uint32_t next_id;            /* the last id handed out */
	uint32_t conn_first_id;      /* the first id handed out on this connection */
	uint64_t conn_ids;           /* ids handed out on this connection */

	struct ipc_call **table;     /* sent calls, at id & (table_size - 1) */
	size_t table_size;
	size_t pending;              /* calls in the table */
	struct ipc_call_list sent;   /* in deadline order */
	struct event *timeout_ev;

	struct ipc_call_list failing;
	unsigned fail_pass;
	struct event *fail_ev;

	struct buf scratch;          /* one request being encoded */
	bool busy;                   /* inside a callback */
	bool dead;                   /* freed inside a callback */
};

static uint64_t ipc_client_now_ms(void);
static uint32_t ipc_client_next_id(struct ipc_client *c);
static void ipc_client_table_grow(struct ipc_client *c);
static struct ipc_call *ipc_client_find(struct ipc_client *c, uint32_t id);
static void ipc_client_unsend(struct ipc_client *c, struct ipc_call *call);
static void ipc_client_fail_later(struct ipc_client *c, struct ipc_call *call);
static bool ipc_client_deliver(struct ipc_client *c, struct ipc_call *call,
			       const struct ipc_msg *reply);
static void ipc_client_disconnect(struct ipc_client *c, const char *event, const char *reason);
static void ipc_client_arm_timeout(struct ipc_client *c, uint64_t now);
static void ipc_client_read_cb(struct bufferevent *bev, void *arg);
static bool ipc_client_read_one(struct ipc_client *c, struct evbuffer *in, bool *more_r);
static void ipc_client_malformed(struct ipc_client *c, size_t bytes, const char *reason);
static void ipc_client_event_cb(struct bufferevent *bev, short what, void *arg);
static void ipc_client_timeout_cb(evutil_socket_t fd, short what, void *arg);
static void ipc_client_fail_cb(evutil_socket_t fd, short what, void *arg);
static void ipc_client_destroy(struct ipc_client *c);

static uint64_t ipc_client_now_ms(void)
{
	struct timespec ts;
	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		abort();
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct ipc_client *ipc_client_create(struct event_base *base, const char *name,
				     unsigned timeout_ms)
{
	struct ipc_client *c = xcalloc(1, sizeof(*c));
	/* a zero timeout would fail calls made by a timeout callback in the
	 * same pass, possibly forever */
	if (timeout_ms == 0)
		abort();
	c->base = base;
	c->name = xstrdup(name);
	c->timeout_ms = timeout_ms;
	c->table_size = IPC_CLIENT_TABLE_MIN;
	c->table = xcalloc(c->table_size, sizeof(*c->table));
	TAILQ_INIT(&c->sent);
	TAILQ_INIT(&c->failing);
	buf_init(&c->scratch);
	c->timeout_ev = evtimer_new(base, ipc_client_timeout_cb, c);
	c->fail_ev = evtimer_new(base, ipc_client_fail_cb, c);
	if (!c->timeout_ev || !c->fail_ev)
		abort();
	return c;
}

void ipc_client_set_fd(struct ipc_client *c, int fd)
{
	if (c->bev)
		ipc_client_disconnect(c, NULL, "replaced");
	if (fd < 0)
		return;
	if (evutil_make_socket_nonblocking(fd) != 0)
		abort();
	c->bev = bufferevent_socket_new(c->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!c->bev)
		abort();
	c->conn++;
	c->conn_first_id = c->next_id + 1;
	c->conn_ids = 0;
	bufferevent_setwatermark(c->bev, EV_READ, 0, 4 + IPC_FRAME_MAX);
	bufferevent_setcb(c->bev, ipc_client_read_cb, NULL, ipc_client_event_cb, c);
	if (bufferevent_enable(c->bev, EV_READ | EV_WRITE) != 0)
		abort();
	log_info("ipc-connected", "process=%s", c->name);
}

bool ipc_client_connected(const struct ipc_client *c)
{
	return c->bev != NULL;
}

uint64_t ipc_client_connection(const struct ipc_client *c)
{
	return c->conn;
}

/* ipc_client_next_id - a fresh id whose table slot is free (the table is at
 * most half full, so this takes a step or two) */
static uint32_t ipc_client_next_id(struct ipc_client *c)
{
	for (;;) {
		uint32_t id = ++c->next_id;
		if (c->bev)
			c->conn_ids++;
		if (id != 0 && c->table[id & (c->table_size - 1)] == NULL)
			return id;
	}
}

/* ipc_client_table_grow - double the table: calls in distinct slots stay in
 * distinct slots, since more low bits of their ids are used */
static void ipc_client_table_grow(struct ipc_client *c)
{
	size_t size = c->table_size * 2;
	struct ipc_call **table = xcalloc(size, sizeof(*table));
	for (size_t i = 0; i < c->table_size; i++) {
		struct ipc_call *call = c->table[i];
		if (call)
			table[call->id & (size - 1)] = call;
	}
	free(c->table);
	c->table = table;
	c->table_size = size;
}

uint32_t ipc_client_call(struct ipc_client *c, uint8_t type, unsigned count,
			 const struct ipc_field *fields, ipc_reply_fn *cb, void *ctx)
{
	if (c->pending + 1 > c->table_size / 2 && c->pending < IPC_CLIENT_PENDING_MAX)
		ipc_client_table_grow(c);
	struct ipc_call *call = xcalloc(1, sizeof(*call));
	call->id = ipc_client_next_id(c);
	call->cb = cb;
	call->ctx = ctx;

	if (!c->bev) {
		log_debug("ipc-call-failed", "process=%s id=%u reason=\"not connected\"",
			  c->name, (unsigned)call->id);
		ipc_client_fail_later(c, call);
		return call->id;
	}
	if (c->pending >= IPC_CLIENT_PENDING_MAX) {
		log_warn("ipc-call-failed", "process=%s id=%u reason=\"too many pending calls\" "
			 "pending=%zu", c->name, (unsigned)call->id, c->pending);
		ipc_client_fail_later(c, call);
		return call->id;
	}
	buf_reset(&c->scratch);
	if (ipc_encode(&c->scratch, type, call->id, count, fields) != 0) {
		log_warn("ipc-call-failed", "process=%s id=%u type=%u reason=\"request cannot be "
			 "encoded\"", c->name, (unsigned)call->id, (unsigned)type);
		ipc_client_fail_later(c, call);
		return call->id;
	}
	struct evbuffer *out = bufferevent_get_output(c->bev);
	if (evbuffer_add(out, c->scratch.data, c->scratch.len) != 0)
		abort();
	uint64_t now = ipc_client_now_ms();
	call->deadline_ms = now + c->timeout_ms;
	c->table[call->id & (c->table_size - 1)] = call;
	c->pending++;
	TAILQ_INSERT_TAIL(&c->sent, call, link);
	if (!evtimer_pending(c->timeout_ev, NULL))
		ipc_client_arm_timeout(c, now);
	if (evbuffer_get_length(out) > IPC_OUTPUT_MAX) {
		/* the helper stopped reading: closing makes it exit (EOF) and
		 * the supervisor start a fresh one */
		log_warn("ipc-overflow", "process=%s side=client queued=%zu", c->name,
			 evbuffer_get_length(out));
		ipc_client_disconnect(c, "ipc-disconnected", "helper not reading");
	}
	return call->id;
}

/* ipc_client_find - the sent call ID, or NULL */
static struct ipc_call *ipc_client_find(struct ipc_client *c, uint32_t id)
{
	struct ipc_call *call = c->table[id & (c->table_size - 1)];
	return call && call->id == id ? call : NULL;
}

/* ipc_client_unsend - take CALL out of the table and the sent list */
static void ipc_client_unsend(struct ipc_client *c, struct ipc_call *call)
{
	c->table[call->id & (c->table_size - 1)] = NULL;
	c->pending--;
	TAILQ_REMOVE(&c->sent, call, link);
}

/* ipc_client_fail_later - CALL gets NULL on the next pass of the loop */
static void ipc_client_fail_later(struct ipc_client *c, struct ipc_call *call)
{
	call->pass = c->fail_pass;
	TAILQ_INSERT_TAIL(&c->failing, call, link);
	struct timeval now = { 0, 0 };
	if (!evtimer_pending(c->fail_ev, NULL) && evtimer_add(c->fail_ev, &now) != 0)
		abort();
}

void ipc_client_cancel(struct ipc_client *c, uint32_t id)
{
	struct ipc_call *call = ipc_client_find(c, id);
	if (call) {
		ipc_client_unsend(c, call);
		free(call);
		return;
	}
	TAILQ_FOREACH(call, &c->failing, link) {
		if (call->id == id) {
			TAILQ_REMOVE(&c->failing, call, link);
			free(call);
			return;
		}
	}
}

/* ipc_client_deliver - run CALL's callback with REPLY and free CALL (already
 * off every list); false if the callback freed the client (then it is gone:
 * the caller must return without touching it) */
static bool ipc_client_deliver(struct ipc_client *c, struct ipc_call *call,
			       const struct ipc_msg *reply)
{
	ipc_reply_fn *cb = call->cb;
	void *ctx = call->ctx;
	free(call);
	c->busy = true;
	cb(ctx, reply);
	c->busy = false;
	if (c->dead) {
		ipc_client_destroy(c);
		return false;
	}
	return true;
}

/* ipc_client_disconnect - drop the connection; every sent call gets NULL on
 * the next pass.  EVENT (NULL: a swap, not a failure) is logged once. */
static void ipc_client_disconnect(struct ipc_client *c, const char *event, const char *reason)
{
	if (event)
		log_warn(event, "process=%s reason=\"%s\" pending=%zu", c->name, reason,
			 c->pending);
	bufferevent_free(c->bev);
	c->bev = NULL;
	struct ipc_call *call;
	while ((call = TAILQ_FIRST(&c->sent)) != NULL) {
		ipc_client_unsend(c, call);
		ipc_client_fail_later(c, call);
	}
	evtimer_del(c->timeout_ev);
}

/* ipc_client_arm_timeout - the timer for the oldest sent call */
static void ipc_client_arm_timeout(struct ipc_client *c, uint64_t now)
{
	struct ipc_call *head = TAILQ_FIRST(&c->sent);
	if (!head)
		return;
	uint64_t left = head->deadline_ms > now ? head->deadline_ms - now : 0;
	/* at least 1 ms: libevent may fire a little before our clock says */
	if (left == 0)
		left = 1;
	struct timeval tv = { .tv_sec = (time_t)(left / 1000),
			      .tv_usec = (suseconds_t)(left % 1000) * 1000 };
	if (evtimer_add(c->timeout_ev, &tv) != 0)
		abort();
}

static void ipc_client_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ipc_client *c = arg;
	(void)fd;
	(void)what;
	uint64_t now = ipc_client_now_ms();
	struct ipc_call *call;
	/* calls made by these callbacks have later deadlines: they wait */
	while ((call = TAILQ_FIRST(&c->sent)) != NULL && call->deadline_ms <= now) {
		log_warn("ipc-timeout", "process=%s id=%u timeout_ms=%u", c->name,
			 (unsigned)call->id, c->timeout_ms);
		ipc_client_unsend(c, call);
		if (!ipc_client_deliver(c, call, NULL))
			return;
	}
	/* a callback's new call may have armed the timer for its own, later
	 * deadline: set it for the oldest */
	ipc_client_arm_timeout(c, now);
}

static void ipc_client_fail_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ipc_client *c = arg;
	(void)fd;
	(void)what;
	/* only the calls failed before this pass: those failed by the
	 * callbacks below wait for the next one */
	unsigned pass = c->fail_pass++;
	struct ipc_call *call;
	while ((call = TAILQ_FIRST(&c->failing)) != NULL && call->pass == pass) {
		TAILQ_REMOVE(&c->failing, call, link);
		if (!ipc_client_deliver(c, call, NULL))
			return;
	}
}

static void ipc_client_read_cb(struct bufferevent *bev, void *arg)
{
	struct ipc_client *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	uint64_t conn = c->conn;
	bool more = true;
	/* stop when a callback swapped the connection or freed the client */
	while (more && c->bev && c->conn == conn)
		if (!ipc_client_read_one(c, in, &more))
			return;
}

/* ipc_client_read_one - take one whole frame from IN, if there is one, and
 * deliver it; false if the client was freed.  The frame is copied out of
 * the input first: the callback may free that by swapping the connection. */
static bool ipc_client_read_one(struct ipc_client *c, struct evbuffer *in, bool *more_r)
{
	size_t avail = evbuffer_get_length(in);
	size_t n = avail < 4 + (size_t)IPC_FRAME_MAX ? avail : 4 + (size_t)IPC_FRAME_MAX;
	*more_r = false;
	if (n < 4)
		return true;
	size_t flen = 0;
	enum ipc_frame_status st = ipc_frame_find(evbuffer_pullup(in, (ev_ssize_t)n), n, &flen);
	if (st == IPC_FRAME_NEED_MORE)
		return true;
	if (st == IPC_FRAME_MALFORMED) {
		ipc_client_malformed(c, avail, "frame length out of range");
		return true;
	}
	unsigned char *frame = xmalloc(flen);
	if (evbuffer_remove(in, frame, flen) != (int)flen)
		abort();
	struct ipc_msg reply;
	struct ipc_call *call = NULL;
	const char *bad = NULL;
	bool alive = true;
	if (ipc_decode(frame, flen, &reply) != 0)
		bad = "frame does not decode";
	else if (reply.type < IPC_R_OK)
		bad = "a request type in a reply";
	else if ((call = ipc_client_find(c, reply.id)) == NULL &&
		 (uint32_t)(reply.id - c->conn_first_id) >= c->conn_ids)
		bad = "reply to an id never sent";
	if (bad) {
		ipc_client_malformed(c, avail, bad);
	} else if (!call) {
		log_debug("ipc-late-reply", "process=%s id=%u", c->name, (unsigned)reply.id);
		*more_r = true;
	} else {
		ipc_client_unsend(c, call);
		alive = ipc_client_deliver(c, call, &reply);
		*more_r = true;
	}
	free(frame);
	return alive;
}

/* ipc_client_malformed - log a frame we cannot act on and drop the
 * connection: nothing after it on this stream can be trusted */
static void ipc_client_malformed(struct ipc_client *c, size_t bytes, const char *reason)
{
	log_warn("ipc-malformed", "process=%s side=client bytes=%zu reason=\"%s\"", c->name,
		 bytes, reason);
	ipc_client_disconnect(c, "ipc-disconnected", "malformed reply");
}

/* ipc_client_event_cb - EOF or an error: the helper is gone */
static void ipc_client_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct ipc_client *c = arg;
	(void)bev;
	ipc_client_disconnect(c, "ipc-disconnected",
			      (what & BEV_EVENT_EOF) ? "end of file"
			      : evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
}

void ipc_client_free(struct ipc_client **cp)
{
	struct ipc_client *c = *cp;
	if (!c)
		return;
	*cp = NULL;
	if (c->busy)
		c->dead = true;
	else
		ipc_client_destroy(c);
}

static void ipc_client_destroy(struct ipc_client *c)
{
	struct ipc_call *call;
	if (c->bev)
		bufferevent_free(c->bev);
	while ((call = TAILQ_FIRST(&c->sent)) != NULL) {
		TAILQ_REMOVE(&c->sent, call, link);
		free(call);
	}
	while ((call = TAILQ_FIRST(&c->failing)) != NULL) {
		TAILQ_REMOVE(&c->failing, call, link);
		free(call);
	}
	event_free(c->timeout_ev);
	event_free(c->fail_ev);
	buf_free(&c->scratch);
	free(c->table);
	free(c->name);
	free(c);
}
