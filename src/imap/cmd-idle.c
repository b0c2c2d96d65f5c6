/* imap/cmd-idle - IDLE (RFC 2177, RFC 9051 6.3.13): the session tells the
 * client of changes to its selected mailbox as they happen, until DONE.
 *
 * A mailbox watch (mailbox.h) fires on the worker that made a change, with
 * the mailbox's lock released; all it may do is hand the news over.  It
 * puts the session's id on the server's wake list and writes an eventfd;
 * the loop then finds the session by id (a session gone meanwhile is
 * simply not found) and runs an update job, which sends what changed
 * (EXISTS, EXPUNGE or VANISHED, FETCH FLAGS); while the client has not
 * read the replies before, the job waits (imap_session_async_written).  The session's autologout
 * timer keeps running: a client idling past it is logged out, as RFC 2177
 * 3 expects clients to re-issue IDLE well before 30 minutes.
 */
#include "imap/session.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "mailbox/mailbox.h"
#include "util/log.h"
#include "util/xalloc.h"

#define IDLE_LINE_MAX 1024   /* "DONE" is all a client may send */

/* the server's list of sessions to wake, filled by watches on workers */
struct imap_idle_hub {
	struct imap_server *server;
	pthread_mutex_t lock;
	int fd;
	struct event *ev;
	uint64_t *ids;
	size_t count, cap;
};

/* a watch's argument: which session, through which hub */
struct idle_wake {
	struct imap_idle_hub *hub;
	uint64_t session_id;
};

struct imap_idle {
	struct mailbox_watch *watch;
	struct idle_wake *wake;
	bool job_running;     /* an update job is out */
	bool woken;           /* woken while it ran: run another */
	bool ending;          /* DONE (or bad input) came while it ran */
	bool bad;             /* it was not DONE */
};

static void hub_cb(evutil_socket_t fd, short what, void *arg);
static void idle_watch_fn(void *arg);
static void idle_kick(struct imap_session *s);
static void idle_update_done(struct imap_session *s, struct imap_job *job);
static void idle_update_work(struct imap_job *job);
static void idle_end(struct imap_session *s);

/* ---- the hub ---------------------------------------------------------------------- */

static struct imap_idle_hub *hub_get(struct imap_server *server)
{
	if (server->idle_hub)
		return server->idle_hub;
	struct imap_idle_hub *hub = xcalloc(1, sizeof(*hub));
	hub->server = server;
	pthread_mutex_init(&hub->lock, NULL);
	hub->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (hub->fd < 0) {
		log_error("imap-idle-eventfd", "errno=%d", errno);
		abort();
	}
	hub->ev = event_new(server->base, hub->fd, EV_READ | EV_PERSIST, hub_cb, hub);
	event_add(hub->ev, NULL);
	server->idle_hub = hub;
	return hub;
}

void imap_idle_hub_free(struct imap_idle_hub **hubp)
{
	struct imap_idle_hub *hub = *hubp;
	if (!hub)
		return;
	event_free(hub->ev);
	if (close(hub->fd) != 0)
		log_warn("imap-idle-close", "errno=%d", errno);
	pthread_mutex_destroy(&hub->lock);
	free(hub->ids);
	free(hub);
	*hubp = NULL;
}

/* idle_watch_fn - (any thread) the mailbox changed: queue the session */
static void idle_watch_fn(void *arg)
{
	struct idle_wake *wake = arg;
	struct imap_idle_hub *hub = wake->hub;
	uint64_t one = 1;

	pthread_mutex_lock(&hub->lock);
	if (hub->count == hub->cap) {
		hub->cap = hub->cap ? hub->cap * 2 : 16;
		hub->ids = xrealloc(hub->ids, hub->cap * sizeof(*hub->ids));
	}
	hub->ids[hub->count++] = wake->session_id;
	pthread_mutex_unlock(&hub->lock);
	/* EAGAIN only when the counter is full: the loop is woken anyway */
	if (write(hub->fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("imap-idle-wake", "errno=%d", errno);
}

/* hub_cb - (loop) wake the sessions the watches named */
static void hub_cb(evutil_socket_t fd, short what, void *arg)
{
	struct imap_idle_hub *hub = arg;
	uint64_t value;
	(void)what;
	if (read(fd, &value, sizeof(value)) < 0 && errno != EAGAIN)
		log_warn("imap-idle-read", "errno=%d", errno);
	pthread_mutex_lock(&hub->lock);
	uint64_t *ids = hub->ids;
	size_t count = hub->count;
	hub->ids = NULL;
	hub->count = hub->cap = 0;
	pthread_mutex_unlock(&hub->lock);
	for (size_t i = 0; i < count; i++) {
		struct imap_session *s = imap_server_session_find(hub->server, ids[i]);
		if (s && s->idle && !s->conn.dead && !s->conn.closing)
			idle_kick(s);
	}
	free(ids);
}

/* ---- updates ------------------------------------------------------------------------ */

static void idle_update_work(struct imap_job *job)
{
	imap_mbox_job_updates((struct imap_mbox_job *)job);
}

/* idle_update_done - send what changed; then end, or look again */
static void idle_update_done(struct imap_session *s, struct imap_job *job)
{
	struct imap_mbox_job *j = (struct imap_mbox_job *)job;
	struct imap_idle *idle = s->idle;
	imap_reply_buf(s, &j->out);
	idle->job_running = false;
	if (s->conn.closing)
		return;
	if (j->deleted) {
		imap_session_bye(s, "The selected mailbox was deleted");
		return;
	}
	if (idle->ending)
		idle_end(s);
	else if (idle->woken)
		idle_kick(s);
}

/* idle_kick - run an update job, or one more after the running one */
static void idle_kick(struct imap_session *s)
{
	struct imap_idle *idle = s->idle;
	if (idle->job_running || !s->view) {
		idle->woken = idle->job_running;
		return;
	}
	idle->woken = false;
	idle->job_running = true;
	struct imap_mbox_job *j = xcalloc(1, sizeof(*j));
	imap_mbox_job_init(s, j, true, idle_update_work, idle_update_done, NULL);
	/* a client that does not read gets no more until it has: the update
	 * then tells what changed meanwhile, at most one line per message */
	imap_session_async_written(s, &j->base);
}

/* ---- the command -------------------------------------------------------------------- */

void imap_cmd_idle(struct imap_session *s, const struct imap_command *cmd, bool uid)
{
	(void)uid;
	if (cmd->count != 0) {
		imap_reply_bad(s, NULL, "IDLE takes no arguments");
		return;
	}
	struct imap_idle *idle = xcalloc(1, sizeof(*idle));
	s->idle = idle;
	if (s->view) {
		idle->wake = xcalloc(1, sizeof(*idle->wake));
		idle->wake->hub = hub_get(s->server);
		idle->wake->session_id = s->id;
		/* only the watch lock is taken: no disk, no mailbox lock */
		idle->watch = mailbox_watch_add(mailbox_view_mailbox(s->view), idle_watch_fn,
						idle->wake);
	}
	imap_reply_continue(s, "idling");
	/* what changed since the last command goes out now */
	idle_kick(s);
	/* DONE may have come with IDLE: no read event would tell of it */
	imap_idle_input(s);
}

void imap_idle_input(struct imap_session *s)
{
	struct imap_idle *idle = s->idle;
	struct evbuffer *in = bufferevent_get_input(s->conn.bev);
	if (idle->ending)
		return;   /* what follows DONE waits for the tagged reply */
	size_t len;
	char *line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF_STRICT);
	if (!line) {
		if (evbuffer_get_length(in) > IDLE_LINE_MAX)
			imap_session_bye(s, "Expected DONE");
		return;
	}
	idle->bad = !(len == 4 && strncasecmp(line, "DONE", 4) == 0);
	free(line);
	idle->ending = true;
	if (!idle->job_running)
		idle_end(s);
}

/* idle_end - stop watching and end the command (RFC 2177 3) */
static void idle_end(struct imap_session *s)
{
	struct imap_idle *idle = s->idle;
	bool bad = idle->bad;
	imap_idle_free(s);
	if (bad)
		imap_reply_bad(s, NULL, "Expected DONE");
	else
		imap_reply_ok(s, NULL, "IDLE terminated");
}

void imap_idle_free(struct imap_session *s)
{
	struct imap_idle *idle = s->idle;
	if (!idle)
		return;
	/* once it returns the watch never runs again: its argument can go */
	mailbox_watch_remove(&idle->watch);
	free(idle->wake);
	free(idle);
	s->idle = NULL;
}
