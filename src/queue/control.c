/* queue/control - the control socket: one request line, one reply line.
 * See control.h for the protocol and its limits. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "queue/control.h"
#include "queue/queue.h"
#include "util/log.h"
#include "util/xalloc.h"

enum control_state {
	CONTROL_READING,    /* the request line */
	CONTROL_WAITING,    /* for queue_op's callback */
	CONTROL_REPLYING,   /* the reply is being written */
	CONTROL_DRAINING,   /* reply sent, our side shut: discard input until EOF */
};

struct control_client {
	struct queue_control *control;
	uint64_t id;                 /* 0 = free slot */
	struct bufferevent *bev;
	uid_t uid;
	enum control_state state;
};

/* One queue_op in flight.  It names its client by id: the client may have
 * gone, or the whole control server may be freed (then CONTROL is NULL),
 * before the queue answers. */
struct control_request {
	struct queue_control *control;
	uint64_t client_id;
	enum queue_op op;
	char id[QUEUE_ID_LEN + 1];
	struct control_request *next;
};

struct queue_control {
	struct event_base *base;
	struct queue *queue;
	char *path;
	int fd;
	struct event *accept_ev;
	bool accept_paused;          /* every client slot is taken */
	struct control_client clients[CONTROL_CLIENTS_MAX];
	uint64_t next_id;
	struct control_request *requests;  /* in flight */
};

static const struct {
	const char *verb;
	enum queue_op op;
	bool id_optional;
} control_verbs[] = {
	{ "flush", QUEUE_OP_FLUSH, true },
	{ "hold", QUEUE_OP_HOLD, false },
	{ "release", QUEUE_OP_RELEASE, false },
	{ "delete", QUEUE_OP_DELETE, false },
	{ "bounce", QUEUE_OP_BOUNCE, false },
};

static char control_error[256];

static int control_bind(struct queue_control *qc, const char **error_r);
static void control_accept_cb(evutil_socket_t fd, short what, void *arg);
static void control_refuse(int fd, const char *reply);
static void control_read_cb(struct bufferevent *bev, void *arg);
static void control_write_cb(struct bufferevent *bev, void *arg);
static void control_event_cb(struct bufferevent *bev, short what, void *arg);
static int control_parse(const char *line, size_t len, enum queue_op *op_r,
			 char id_r[QUEUE_ID_LEN + 1], const char **error_r);
static void control_op_cb(void *ctx, int status, const char *text);
static struct control_client *control_client_find(struct queue_control *qc, uint64_t id);
static void control_client_start(struct control_client *c, const char *line, size_t len);
static void control_client_reply(struct control_client *c, const char *status,
				 const char *text);
static void control_client_free(struct control_client *c);
static const char *control_op_name(enum queue_op op);

/* control_bind - create the socket file with mode 0600.  Not by umask():
 * it is per process and worker threads may be creating Maildir folders right
 * now.  Between bind() and chmod() the data folder (0750) and the uid check
 * on accept still keep others out. */
static int control_bind(struct queue_control *qc, const char **error_r)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	if (strlen(qc->path) >= sizeof(sun.sun_path)) {
		snprintf(control_error, sizeof(control_error),
			 "control socket path %s is too long (at most %zu bytes)", qc->path,
			 sizeof(sun.sun_path) - 1);
		*error_r = control_error;
		return -1;
	}
	strcpy(sun.sun_path, qc->path);
	qc->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (qc->fd < 0)
		goto fail;
	/* A socket file left by a crashed server is replaced; one that answers
	 * belongs to a server running on this data folder. */
	int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (probe < 0)
		goto fail;
	if (connect(probe, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
		close(probe);
		snprintf(control_error, sizeof(control_error),
			 "%s: another server is running on this data folder", qc->path);
		*error_r = control_error;
		return -1;
	}
	close(probe);
	if (unlink(qc->path) != 0 && errno != ENOENT)
		goto fail;
	if (bind(qc->fd, (struct sockaddr *)&sun, sizeof(sun)) != 0 || chmod(qc->path, 0600) != 0 || listen(qc->fd, CONTROL_CLIENTS_MAX) != 0)
		goto fail;
	return 0;
fail:
	snprintf(control_error, sizeof(control_error), "cannot listen on %s: %s", qc->path,
		 strerror(errno));
	*error_r = control_error;
	return -1;
}

struct queue_control *queue_control_open(struct event_base *base, struct queue *queue,
					 const char *data_dir, const char **error_r)
{
	struct queue_control *qc = xcalloc(1, sizeof(*qc));
	qc->base = base;
	qc->queue = queue;
	qc->fd = -1;
	qc->next_id = 1;
	qc->path = xasprintf("%s/%s", data_dir, CONTROL_SOCKET_NAME);
	if (control_bind(qc, error_r) != 0)
		goto fail;
	qc->accept_ev = event_new(base, qc->fd, EV_READ | EV_PERSIST, control_accept_cb, qc);
	if (!qc->accept_ev || event_add(qc->accept_ev, NULL) != 0) {
		*error_r = "cannot watch the control socket";
		goto fail;
	}
	log_info("control-listening", "path=%s", qc->path);
	return qc;
fail:
	queue_control_free(&qc);
	return NULL;
}

void queue_control_free(struct queue_control **control)
{
	struct queue_control *qc = *control;
	if (!qc)
		return;
	*control = NULL;
	for (struct control_request *r = qc->requests; r; r = r->next)
		r->control = NULL;  /* freed by control_op_cb when the queue answers */
	for (size_t i = 0; i < CONTROL_CLIENTS_MAX; i++)
		if (qc->clients[i].id != 0)
			control_client_free(&qc->clients[i]);
	if (qc->accept_ev)
		event_free(qc->accept_ev);
	if (qc->fd >= 0) {
		if (close(qc->fd) != 0)
			log_warn("close-failed", "path=%s error=\"%s\"", qc->path, strerror(errno));
		/* Only the file we created: a failed open (another server's
		 * socket, or a bind error) leaves what is there alone. */
		if (qc->accept_ev && unlink(qc->path) != 0 && errno != ENOENT)
			log_warn("control-unlink-failed", "path=%s error=\"%s\"", qc->path,
				 strerror(errno));
	}
	free(qc->path);
	free(qc);
}

/* control_refuse - best-effort one-line answer to a client we will not serve */
static void control_refuse(int fd, const char *reply)
{
	ssize_t n = send(fd, reply, strlen(reply), MSG_DONTWAIT | MSG_NOSIGNAL);
	(void)n;
	if (close(fd) != 0)
		log_warn("close-failed", "what=control error=\"%s\"", strerror(errno));
}

/* control_accept_cb - take a client if there is a free slot and it is root
 * or our own user (the file mode already says so; this is the second lock).
 * With every slot taken, accepting pauses: the next clients wait in the
 * listen backlog (bounded by the kernel) until one leaves or times out. */
static void control_accept_cb(evutil_socket_t lfd, short what, void *arg)
{
	struct queue_control *qc = arg;
	(void)what;
	struct control_client *c = NULL;
	for (size_t i = 0; i < CONTROL_CLIENTS_MAX && !c; i++)
		if (qc->clients[i].id == 0)
			c = &qc->clients[i];
	if (!c) {
		log_info("control-busy", "clients=%d", CONTROL_CLIENTS_MAX);
		event_del(qc->accept_ev);
		qc->accept_paused = true;
		return;
	}
	int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			log_warn("control-accept-failed", "error=\"%s\"", strerror(errno));
		return;
	}
	struct ucred cred = { .uid = (uid_t)-1 };
	socklen_t len = sizeof(cred);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 ||
	    (cred.uid != 0 && cred.uid != geteuid())) {
		log_warn("control-refused", "uid=%ld reason=\"not root or the server's user\"",
			 (long)(int)cred.uid);
		control_refuse(fd, "error permission denied\n");
		return;
	}
	c->bev = bufferevent_socket_new(qc->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!c->bev) {
		log_error("control-failed", "error=\"cannot create bufferevent\"");
		control_refuse(fd, "error out of resources\n");
		return;
	}
	c->control = qc;
	c->id = qc->next_id++;
	c->uid = cred.uid;
	c->state = CONTROL_READING;
	struct timeval tv = { .tv_sec = CONTROL_TIMEOUT, .tv_usec = 0 };
	bufferevent_set_timeouts(c->bev, &tv, &tv);
	/* Read at most one byte past the limit: enough to know it is too long. */
	bufferevent_setwatermark(c->bev, EV_READ, 0, CONTROL_LINE_MAX + 1);
	bufferevent_setcb(c->bev, control_read_cb, control_write_cb, control_event_cb, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

static struct control_client *control_client_find(struct queue_control *qc, uint64_t id)
{
	for (size_t i = 0; i < CONTROL_CLIENTS_MAX; i++)
		if (qc->clients[i].id == id)
			return &qc->clients[i];
	return NULL;
}

/* control_read_cb - wait for the whole request line (bounded), then act */
static void control_read_cb(struct bufferevent *bev, void *arg)
{
	struct control_client *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	if (c->state == CONTROL_DRAINING) {
		evbuffer_drain(in, evbuffer_get_length(in));
		return;
	}
	if (c->state != CONTROL_READING)
		return;
	size_t avail = evbuffer_get_length(in);
	char line[CONTROL_LINE_MAX + 1];
	size_t n = avail < sizeof(line) ? avail : sizeof(line);
	if (evbuffer_copyout(in, line, n) != (ev_ssize_t)n) {
		control_client_reply(c, "error", "internal error");
		return;
	}
	char *lf = memchr(line, '\n', n);
	if (!lf) {
		/* "Too long" is the same error with or without a terminator. */
		if (n > CONTROL_LINE_MAX - 1)
			control_client_reply(c, "error", "request line too long");
		return;  /* else: need more */
	}
	size_t len = (size_t)(lf - line);
	if (len + 1 > CONTROL_LINE_MAX) {
		control_client_reply(c, "error", "request line too long");
		return;
	}
	if (len > 0 && line[len - 1] == '\r')
		len--;
	control_client_start(c, line, len);
}

/* control_client_start - parse LINE[0..LEN) and hand it to queue_op */
static void control_client_start(struct control_client *c, const char *line, size_t len)
{
	struct queue_control *qc = c->control;
	enum queue_op op;
	char id[QUEUE_ID_LEN + 1];
	const char *error = NULL;
	bufferevent_disable(c->bev, EV_READ);
	if (control_parse(line, len, &op, id, &error) != 0) {
		char esc[96];
		log_warn("control-bad-request", "uid=%ld request=%s error=\"%s\"", (long)c->uid,
			 log_escape(esc, sizeof(esc), line, len), error);
		control_client_reply(c, "error", error);
		return;
	}
	log_info("queue-op-start", "op=%s queue_id=%s uid=%ld", control_op_name(op),
		 id[0] ? id : "all", (long)c->uid);
	struct control_request *r = xcalloc(1, sizeof(*r));
	r->control = qc;
	r->client_id = c->id;
	r->op = op;
	memcpy(r->id, id, sizeof(r->id));
	r->next = qc->requests;
	qc->requests = r;
	c->state = CONTROL_WAITING;
	/* The callback may run before queue_op returns, and may free C's slot:
	 * nothing touches C after this call. */
	queue_op(qc->queue, op, id[0] ? id : NULL, control_op_cb, r);
}

/* control_parse - "VERB [ID]"; ID_R is "" when not given.  One success exit. */
static int control_parse(const char *line, size_t len, enum queue_op *op_r,
			 char id_r[QUEUE_ID_LEN + 1], const char **error_r)
{
	const size_t nverbs = sizeof(control_verbs) / sizeof(control_verbs[0]);
	const char *sp = memchr(line, ' ', len);
	size_t verb_len = sp ? (size_t)(sp - line) : len;
	const char *arg = sp ? sp + 1 : NULL;
	size_t arg_len = sp ? len - verb_len - 1 : 0;
	size_t v;
	id_r[0] = '\0';
	for (v = 0; v < nverbs; v++)
		if (strlen(control_verbs[v].verb) == verb_len &&
		    memcmp(control_verbs[v].verb, line, verb_len) == 0)
			break;
	if (v == nverbs) {
		*error_r = "unknown command (flush, hold, release, delete, bounce)";
		return -1;
	}
	if (!arg && !control_verbs[v].id_optional) {
		*error_r = "a queue ID is required";
		return -1;
	}
	if (arg) {
		if (arg_len != QUEUE_ID_LEN || memchr(arg, '\0', arg_len)) {
			*error_r = "bad queue ID (16 hexadecimal digits)";
			return -1;
		}
		memcpy(id_r, arg, QUEUE_ID_LEN);
		id_r[QUEUE_ID_LEN] = '\0';
		if (!queue_id_is_valid(id_r)) {
			id_r[0] = '\0';
			*error_r = "bad queue ID (16 hexadecimal digits)";
			return -1;
		}
	}
	*op_r = control_verbs[v].op;
	return 0;
}

/* control_op_cb - the queue's answer: reply to the client if it is still there */
static void control_op_cb(void *ctx, int status, const char *text)
{
	struct control_request *r = ctx;
	struct queue_control *qc = r->control;
	const char *id = r->id[0] ? r->id : "all";
	char esc[256];
	if (!text)
		text = "";
	log_escape(esc, sizeof(esc), text, strlen(text));
	log_info("queue-op", "op=%s queue_id=%s result=%s text=%s", control_op_name(r->op), id,
		 status == 0 ? "ok" : status == 1 ? "notfound" : "error", esc);
	if (qc) {
		for (struct control_request **p = &qc->requests; *p; p = &(*p)->next) {
			if (*p == r) {
				*p = r->next;
				break;
			}
		}
		struct control_client *c = control_client_find(qc, r->client_id);
		if (c)
			control_client_reply(c, status == 0 ? "ok" : status == 1 ? "notfound" : "error",
					     text);
	}
	free(r);
}

/* control_client_reply - one line, then close once it is written.  Control
 * characters in TEXT become spaces, so a reply is always exactly one line. */
static void control_client_reply(struct control_client *c, const char *status,
				 const char *text)
{
	char clean[512];
	size_t n = 0;
	for (; text[n] && n < sizeof(clean) - 1; n++)
		clean[n] = ((unsigned char)text[n] < 0x20 || text[n] == 0x7f) ? ' ' : text[n];
	clean[n] = '\0';
	bufferevent_disable(c->bev, EV_READ);
	c->state = CONTROL_REPLYING;  /* one request per connection */
	evbuffer_add_printf(bufferevent_get_output(c->bev), "%s %s\n", status, clean);
	bufferevent_enable(c->bev, EV_WRITE);
}

/* control_write_cb - the reply is out: shut our side, then read and discard
 * until the client closes (or the timeout), so that unread input never
 * turns into a reset that destroys the reply before the client reads it */
static void control_write_cb(struct bufferevent *bev, void *arg)
{
	struct control_client *c = arg;
	if (c->state != CONTROL_REPLYING || evbuffer_get_length(bufferevent_get_output(bev)) != 0)
		return;
	c->state = CONTROL_DRAINING;
	if (shutdown(bufferevent_getfd(bev), SHUT_WR) != 0) {
		control_client_free(c);
		return;
	}
	struct evbuffer *in = bufferevent_get_input(bev);
	evbuffer_drain(in, evbuffer_get_length(in));
	bufferevent_setwatermark(bev, EV_READ, 0, 0);
	bufferevent_enable(bev, EV_READ);
}

/* control_event_cb - EOF, error or timeout: drop the client.  An operation
 * in flight goes on; its answer finds no client by this id. */
static void control_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct control_client *c = arg;
	(void)bev;
	if ((what & BEV_EVENT_TIMEOUT) && c->state != CONTROL_DRAINING)
		log_info("control-timeout", "uid=%ld state=%d", (long)c->uid, (int)c->state);
	control_client_free(c);
}

/* control_client_free - close and free the slot; resume accepting if paused */
static void control_client_free(struct control_client *c)
{
	struct queue_control *qc = c->control;
	if (c->bev)
		bufferevent_free(c->bev);
	memset(c, 0, sizeof(*c));
	if (qc && qc->accept_paused) {
		qc->accept_paused = false;
		if (event_add(qc->accept_ev, NULL) != 0)
			log_error("control-failed", "error=\"cannot resume accepting\"");
	}
}

static const char *control_op_name(enum queue_op op)
{
	for (size_t v = 0; v < sizeof(control_verbs) / sizeof(control_verbs[0]); v++)
		if (control_verbs[v].op == op)
			return control_verbs[v].verb;
	return "?";
}
