/* ipc/ipc-server - a helper's side of its channel to the network process
 * (see ipc.h): frames are read from a bufferevent, each well-formed one goes
 * to request_cb, replies are queued with ipc_server_reply.
 *
 * The peer is the process that parses client input, so it is not trusted: a
 * malformed frame is logged (ipc-malformed) and ends the connection before
 * any part of it is acted on.  Input holds at most one frame (the read high
 * watermark); output beyond IPC_OUTPUT_MAX means the peer stopped reading,
 * and ends the connection too (ipc-overflow).  closed_cb always runs from
 * its own event, so that no callback of the owner runs inside another of
 * its calls; a callback that frees the server is handled by marking it dead
 * and freeing it when the read loop unwinds.
 */
#include "ipc/ipc.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/util.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "util/xalloc.h"

struct ipc_server {
	char *name;
	struct bufferevent *bev;
	struct event *closed_ev;    /* runs closed_cb from the loop */
	ipc_request_fn *request_cb;
	ipc_closed_fn *closed_cb;
	void *ctx;
	struct buf scratch;         /* one reply being encoded */
	bool closed;                /* closed_cb ran or is scheduled */
	bool busy;                  /* inside request_cb */
	bool dead;                  /* freed inside request_cb */
};

static void ipc_server_read_cb(struct bufferevent *bev, void *arg);
static void ipc_server_event_cb(struct bufferevent *bev, short what, void *arg);
static void ipc_server_closed_cb(evutil_socket_t fd, short what, void *arg);
static void ipc_server_close(struct ipc_server *server);
static void ipc_server_destroy(struct ipc_server *server);

struct ipc_server *ipc_server_create(struct event_base *base, const char *name, int fd,
				     ipc_request_fn *request_cb, ipc_closed_fn *closed_cb,
				     void *ctx)
{
	struct ipc_server *server = xcalloc(1, sizeof(*server));
	server->name = xstrdup(name);
	server->request_cb = request_cb;
	server->closed_cb = closed_cb;
	server->ctx = ctx;
	buf_init(&server->scratch);
	server->closed_ev = evtimer_new(base, ipc_server_closed_cb, server);
	if (evutil_make_socket_nonblocking(fd) != 0)
		abort();
	server->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	/* allocation failures: STYLE aborts on them */
	if (!server->closed_ev || !server->bev)
		abort();
	bufferevent_setwatermark(server->bev, EV_READ, 0, 4 + IPC_FRAME_MAX);
	bufferevent_setcb(server->bev, ipc_server_read_cb, NULL, ipc_server_event_cb, server);
	if (bufferevent_enable(server->bev, EV_READ | EV_WRITE) != 0)
		abort();
	return server;
}

/* ipc_server_read_cb - every whole frame in the input, in order */
static void ipc_server_read_cb(struct bufferevent *bev, void *arg)
{
	struct ipc_server *server = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	while (!server->closed) {
		size_t avail = evbuffer_get_length(in);
		size_t n = avail < 4 + (size_t)IPC_FRAME_MAX ? avail : 4 + (size_t)IPC_FRAME_MAX;
		if (n < 4)
			return;
		const unsigned char *p = evbuffer_pullup(in, (ev_ssize_t)n);
		size_t flen = 0;
		enum ipc_frame_status st = ipc_frame_find(p, n, &flen);
		if (st == IPC_FRAME_NEED_MORE)
			return;
		struct ipc_msg req;
		if (st == IPC_FRAME_MALFORMED || ipc_decode(p, flen, &req) != 0) {
			log_warn("ipc-malformed", "process=%s side=server bytes=%zu reason=\"%s\"",
				 server->name, avail,
				 st == IPC_FRAME_MALFORMED ? "frame length out of range"
							   : "frame does not decode");
			ipc_server_close(server);
			return;
		}
		server->busy = true;
		server->request_cb(server->ctx, server, &req);
		server->busy = false;
		if (server->dead) {
			ipc_server_destroy(server);
			return;
		}
		if (evbuffer_drain(in, flen) != 0)
			abort();
	}
}

/* ipc_server_event_cb - EOF or an error: the peer is gone */
static void ipc_server_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct ipc_server *server = arg;
	(void)bev;
	if (what & BEV_EVENT_ERROR)
		log_warn("ipc-disconnected", "process=%s side=server error=\"%s\"", server->name,
			 evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	else
		log_debug("ipc-eof", "process=%s side=server", server->name);
	ipc_server_close(server);
}

/* ipc_server_close - stop reading and writing, and have closed_cb run from
 * the loop; the descriptor stays open until ipc_server_free */
static void ipc_server_close(struct ipc_server *server)
{
	if (server->closed)
		return;
	server->closed = true;
	bufferevent_disable(server->bev, EV_READ | EV_WRITE);
	struct timeval now = { 0, 0 };
	if (evtimer_add(server->closed_ev, &now) != 0)
		abort();
}

static void ipc_server_closed_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ipc_server *server = arg;
	(void)fd;
	(void)what;
	server->closed_cb(server->ctx);
}

void ipc_server_reply(struct ipc_server *server, uint32_t id, uint8_t type, unsigned count,
		      const struct ipc_field *fields)
{
	if (server->closed)
		return;
	buf_reset(&server->scratch);
	if (ipc_encode(&server->scratch, type, id, count, fields) != 0) {
		log_error("ipc-reply-failed", "process=%s id=%u type=%u fields=%u "
			  "reason=\"cannot be encoded\"", server->name, (unsigned)id,
			  (unsigned)type, count);
		struct ipc_field why = ipc_text("reply too large");
		buf_reset(&server->scratch);
		if (ipc_encode(&server->scratch, IPC_R_TEMPFAIL, id, 1, &why) != 0)
			abort();
	}
	struct evbuffer *out = bufferevent_get_output(server->bev);
	if (evbuffer_add(out, server->scratch.data, server->scratch.len) != 0)
		abort();
	if (evbuffer_get_length(out) > IPC_OUTPUT_MAX) {
		log_warn("ipc-overflow", "process=%s side=server queued=%zu", server->name,
			 evbuffer_get_length(out));
		ipc_server_close(server);
	}
}

void ipc_server_free(struct ipc_server **serverp)
{
	struct ipc_server *server = *serverp;
	if (!server)
		return;
	*serverp = NULL;
	if (server->busy)
		server->dead = true;
	else
		ipc_server_destroy(server);
}

static void ipc_server_destroy(struct ipc_server *server)
{
	bufferevent_free(server->bev);
	event_free(server->closed_ev);
	buf_free(&server->scratch);
	free(server->name);
	free(server);
}
