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

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "ipc/ipc.h"
#include "keysd/keysd.h"
#include "queue/control.h"
#include "queue/queue.h"
#include "util/buf.h"
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

enum control_keys_verb { CONTROL_KEYS_LIST, CONTROL_KEYS_TEST, CONTROL_KEYS_SIGN };

/* One keys-* request in flight: first the keys are listed (page by page),
 * to show them or to find KEY's algorithm and public half; then, for test
 * and sign, KEY signs DIGEST.  Like control_request it names its client by
 * id; queue_control_free cancels its call to the keys process. */
struct control_keys {
	struct queue_control *control;
	uint64_t client_id;
	enum control_keys_verb verb;
	char key[KEYSD_ID_MAX + 1];
	unsigned char digest[KEYSD_DIGEST_LEN];
	uint32_t call;               /* the call to the keys process in flight */
	uint32_t index;              /* the next IPC_KEYS_LIST page starts here */
	size_t listed;               /* keys seen so far */
	bool signing;                /* the call is the IPC_KEYS_SIGN */
	char algorithm[16];          /* KEY's, once found */
	unsigned char *spki;         /* KEY's public half, once found */
	size_t spki_len;
	struct buf out;              /* "data ..." lines of the reply */
	struct control_keys *next;
};

struct queue_control {
	struct event_base *base;
	struct queue *queue;
	struct ipc_client *keys;     /* NULL: no keys process */
	struct control_keys *keys_requests;  /* in flight */
	char *path;
	int fd;
	struct event *accept_ev;
	bool accept_paused;          /* every client slot is taken */
	struct control_client clients[CONTROL_CLIENTS_MAX];
	uint64_t next_id;
	struct control_request *requests;  /* in flight */
	char *handler_verb;          /* queue_control_set_handler's, or NULL */
	queue_control_handler *handler;
	void *handler_ctx;
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
static void control_client_reply(struct control_client *c, const struct buf *data,
				 const char *status, const char *text);
static void control_client_free(struct control_client *c);
static void control_keys_start(struct control_client *c, const char *line, size_t len);
static void control_keys_reload(struct control_client *c);
static int control_keys_parse(const char *line, size_t len, struct control_keys *k,
			      const char **error_r);
static void control_keys_call(struct control_keys *k);
static void control_keys_reply_cb(void *ctx, const struct ipc_msg *reply);
static void control_keys_listed(struct control_keys *k, const struct ipc_msg *reply);
static void control_keys_signed(struct control_keys *k, const struct ipc_msg *reply);
static void control_keys_data(struct control_keys *k, const char *text);
static void control_keys_finish(struct control_keys *k, const char *status, const char *text);
static void control_keys_free(struct control_keys *k);
static const char *control_keys_verb_name(enum control_keys_verb verb);
static const char *control_op_name(enum queue_op op);
static void control_stats(struct control_client *c);

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
	while (qc->keys_requests) {
		struct control_keys *k = qc->keys_requests;
		qc->keys_requests = k->next;
		if (k->call != 0)
			ipc_client_cancel(qc->keys, k->call);
		control_keys_free(k);
	}
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
	free(qc->handler_verb);
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
		control_client_reply(c, NULL, "error", "internal error");
		return;
	}
	char *lf = memchr(line, '\n', n);
	if (!lf) {
		/* "Too long" is the same error with or without a terminator. */
		if (n > CONTROL_LINE_MAX - 1)
			control_client_reply(c, NULL, "error", "request line too long");
		return;  /* else: need more */
	}
	size_t len = (size_t)(lf - line);
	if (len + 1 > CONTROL_LINE_MAX) {
		control_client_reply(c, NULL, "error", "request line too long");
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
	if (len == 11 && memcmp(line, "keys-reload", 11) == 0) {
		control_keys_reload(c);
		return;
	}
	if (len >= 5 && memcmp(line, "keys-", 5) == 0) {
		control_keys_start(c, line, len);
		return;
	}
	if (len == 5 && memcmp(line, "stats", 5) == 0) {
		control_stats(c);
		return;
	}
	size_t hv = qc->handler_verb ? strlen(qc->handler_verb) : 0;
	if (hv > 0 && len >= hv && memcmp(line, qc->handler_verb, hv) == 0 &&
	    (len == hv || line[hv] == ' ')) {
		char *args = xstrndup(line + (len > hv ? hv + 1 : hv), len > hv ? len - hv - 1 : 0);
		log_info("control-request", "verb=%s uid=%ld", qc->handler_verb, (long)c->uid);
		c->state = CONTROL_WAITING;
		/* the handler may answer at once, freeing C's slot */
		qc->handler(qc->handler_ctx, args, c->id);
		free(args);
		return;
	}
	if (control_parse(line, len, &op, id, &error) != 0) {
		char esc[96];
		log_warn("control-bad-request", "uid=%ld request=%s error=\"%s\"", (long)c->uid,
			 log_escape(esc, sizeof(esc), line, len), error);
		control_client_reply(c, NULL, "error", error);
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

void queue_control_set_handler(struct queue_control *control, const char *verb,
			       queue_control_handler *fn, void *ctx)
{
	free(control->handler_verb);
	control->handler_verb = fn ? xstrdup(verb) : NULL;
	control->handler = fn;
	control->handler_ctx = ctx;
}

void queue_control_answer(struct queue_control *control, uint64_t token, int status,
			  const char *text)
{
	struct control_client *c = control_client_find(control, token);
	if (c)
		control_client_reply(c, NULL, status == 0 ? "ok" : "error", text ? text : "");
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
		*error_r = "unknown command (flush, hold, release, delete, bounce, stats)";
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
			control_client_reply(c, NULL, status == 0 ? "ok" : status == 1 ?
					     "notfound" : "error", text);
	}
	free(r);
}

/* control_client_reply - DATA's lines (or none), one status line, then
 * close once it is written.  Control characters in TEXT become spaces, so
 * the status is always exactly one line. */
static void control_client_reply(struct control_client *c, const struct buf *data,
				 const char *status, const char *text)
{
	char clean[512];
	size_t n = 0;
	for (; text[n] && n < sizeof(clean) - 1; n++)
		clean[n] = ((unsigned char)text[n] < 0x20 || text[n] == 0x7f) ? ' ' : text[n];
	clean[n] = '\0';
	bufferevent_disable(c->bev, EV_READ);
	c->state = CONTROL_REPLYING;  /* one request per connection */
	if (data && data->len > 0)
		evbuffer_add(bufferevent_get_output(c->bev), data->data, data->len);
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

/* control_stats - the queue's counters, one "data NAME VALUE" line each */
static void control_stats(struct control_client *c)
{
	struct queue_stats st;
	struct buf out;
	queue_stats(c->control->queue, &st);
	const struct {
		const char *name;
		unsigned long long value;
	} rows[] = {
		{ "messages", st.messages },
		{ "bodies", st.bodies },
		{ "body_bytes", st.body_bytes },
		{ "buckets", st.buckets },
		{ "queue_syncs", st.queue_syncs },
		{ "queue_waits", st.queue_waits },
		{ "mail_syncs", st.mail_syncs },
		{ "mail_waits", st.mail_waits },
		{ "syncer_shared", st.syncer_shared },
		{ "accepted", st.accepted },
		{ "delivered", st.delivered },
		{ "deferred", st.deferred },
		{ "bounced", st.bounced },
		{ "ready", st.ready },
		{ "delivering", st.delivering },
		{ "retrying", st.retrying },
		{ "deferred_on_disk", st.deferred_on_disk },
		{ "held_on_disk", st.held_on_disk },
	};
	buf_init(&out);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		buf_printf(&out, "data %s %llu\n", rows[i].name, rows[i].value);
	control_client_reply(c, &out, "ok", "");
	buf_free(&out);
}

static const char *control_op_name(enum queue_op op)
{
	for (size_t v = 0; v < sizeof(control_verbs) / sizeof(control_verbs[0]); v++)
		if (control_verbs[v].op == op)
			return control_verbs[v].verb;
	return "?";
}

void queue_control_set_keys(struct queue_control *control, struct ipc_client *keys)
{
	control->keys = keys;
}

/* control_keys_reload - keys-reload: the keys process reads DATA_DIR/dkim/
 * again.  It reads its keys only when it starts, so its channel is closed:
 * at EOF it exits, the supervisor starts a new one (privsep/supervisor.c)
 * and hands its channel over, and the DKIM signer lists the keys of the
 * new process before it signs again (keysd/signer.c). */
static void control_keys_reload(struct control_client *c)
{
	struct queue_control *qc = c->control;
	if (!qc->keys) {
		control_client_reply(c, NULL, "error", "no keys process");
		return;
	}
	log_info("keys-reload", "uid=%ld connected=%s", (long)c->uid,
		 ipc_client_connected(qc->keys) ? "yes" : "no");
	ipc_client_set_fd(qc->keys, -1);
	control_client_reply(c, NULL, "ok", "the keys process is restarting to read "
			     "DATA_DIR/dkim/ again");
}

/* control_keys_start - a keys-* request line: parse it, then ask the keys
 * process for its list (every verb starts there) */
static void control_keys_start(struct control_client *c, const char *line, size_t len)
{
	struct queue_control *qc = c->control;
	struct control_keys *k = xcalloc(1, sizeof(*k));
	const char *error = NULL;
	buf_init(&k->out);
	if (control_keys_parse(line, len, k, &error) != 0) {
		char esc[96];
		log_warn("control-bad-request", "uid=%ld request=%s error=\"%s\"", (long)c->uid,
			 log_escape(esc, sizeof(esc), line, len), error);
		control_client_reply(c, NULL, "error", error);
		control_keys_free(k);
		return;
	}
	log_info("keys-op-start", "op=%s key=%s uid=%ld", control_keys_verb_name(k->verb),
		 k->key[0] ? k->key : "all", (long)c->uid);
	if (!qc->keys || !ipc_client_connected(qc->keys)) {
		log_warn("keys-op", "op=%s key=%s result=error text=\"the keys process is not "
			 "reachable\"", control_keys_verb_name(k->verb), k->key[0] ? k->key : "all");
		control_client_reply(c, NULL, "error", "the keys process is not reachable");
		control_keys_free(k);
		return;
	}
	k->control = qc;
	k->client_id = c->id;
	k->next = qc->keys_requests;
	qc->keys_requests = k;
	c->state = CONTROL_WAITING;
	control_keys_call(k);
}

/* control_keys_parse - "keys-list" | "keys-test KEY" | "keys-sign KEY HEX";
 * one success exit */
static int control_keys_parse(const char *line, size_t len, struct control_keys *k,
			      const char **error_r)
{
	static const struct {
		const char *verb;
		enum control_keys_verb value;
		unsigned args;
	} verbs[] = {
		{ "keys-list", CONTROL_KEYS_LIST, 0 },
		{ "keys-test", CONTROL_KEYS_TEST, 1 },
		{ "keys-sign", CONTROL_KEYS_SIGN, 2 },
	};
	const char *sp = memchr(line, ' ', len);
	size_t verb_len = sp ? (size_t)(sp - line) : len;
	size_t v;
	for (v = 0; v < sizeof(verbs) / sizeof(verbs[0]); v++)
		if (strlen(verbs[v].verb) == verb_len && memcmp(verbs[v].verb, line, verb_len) == 0)
			break;
	if (v == sizeof(verbs) / sizeof(verbs[0])) {
		*error_r = "unknown command (keys-list, keys-test, keys-sign)";
		return -1;
	}
	const char *arg = sp ? sp + 1 : line + len;
	const char *end = line + len;
	const char *sp2 = memchr(arg, ' ', (size_t)(end - arg));
	size_t key_len = (size_t)((sp2 ? sp2 : end) - arg);
	if (verbs[v].args == 0 && sp) {
		*error_r = "keys-list takes no argument";
		return -1;
	}
	if (verbs[v].args >= 1 && (!sp || !keysd_id_is_valid(arg, key_len))) {
		*error_r = "bad key id (1 to 240 letters, digits, '-', '_', in labels separated "
			   "by dots)";
		return -1;
	}
	if ((verbs[v].args == 1 && sp2) || (verbs[v].args == 2 && !sp2)) {
		*error_r = verbs[v].args == 1 ? "keys-test takes one key id" :
			"keys-sign takes a key id and a SHA-256 digest in hex";
		return -1;
	}
	if (verbs[v].args == 2) {
		const char *hex = sp2 + 1;
		if ((size_t)(end - hex) != 2 * KEYSD_DIGEST_LEN) {
			*error_r = "the digest is 64 hexadecimal digits (SHA-256)";
			return -1;
		}
		for (size_t i = 0; i < KEYSD_DIGEST_LEN; i++) {
			int hi = OPENSSL_hexchar2int((unsigned char)hex[2 * i]);
			int lo = OPENSSL_hexchar2int((unsigned char)hex[2 * i + 1]);
			if (hi < 0 || lo < 0) {
				*error_r = "the digest is 64 hexadecimal digits (SHA-256)";
				return -1;
			}
			k->digest[i] = (unsigned char)(hi << 4 | lo);
		}
	}
	if (verbs[v].args >= 1)
		memcpy(k->key, arg, key_len);  /* NUL from xcalloc: key_len <= KEYSD_ID_MAX */
	k->verb = verbs[v].value;
	return 0;
}

/* control_keys_call - the next call: a list page, or KEY's signature */
static void control_keys_call(struct control_keys *k)
{
	struct queue_control *qc = k->control;
	unsigned char n[8];
	if (k->signing) {
		struct ipc_field f[3] = {
			ipc_text(k->key), ipc_text(k->algorithm),
			{ k->digest, sizeof(k->digest) },
		};
		k->call = ipc_client_call(qc->keys, IPC_KEYS_SIGN, 3, f, control_keys_reply_cb, k);
	} else {
		struct ipc_field f = ipc_u32(k->index, n);
		k->call = ipc_client_call(qc->keys, IPC_KEYS_LIST, 1, &f, control_keys_reply_cb, k);
	}
}

/* control_keys_reply_cb - the keys process's answer (NULL: none came) */
static void control_keys_reply_cb(void *ctx, const struct ipc_msg *reply)
{
	struct control_keys *k = ctx;
	k->call = 0;
	if (!reply) {
		control_keys_finish(k, "error", "the keys process is not reachable (no answer)");
		return;
	}
	if (reply->type == IPC_R_FAIL || reply->type == IPC_R_BAD) {
		char *reason = NULL;
		char text[200];
		if (!ipc_field_text(reply, 0, 150, &reason))
			reason = xstrdup("no reason given");
		snprintf(text, sizeof(text), "the keys process refused: %s", reason);
		free(reason);
		control_keys_finish(k, "error", text);
		return;
	}
	if (reply->type != IPC_R_OK) {
		control_keys_finish(k, "error", "unexpected answer from the keys process");
		return;
	}
	if (k->signing)
		control_keys_signed(k, reply);
	else
		control_keys_listed(k, reply);
}

/* control_keys_listed - one page of keys: show them (list) or look for KEY */
static void control_keys_listed(struct control_keys *k, const struct ipc_msg *reply)
{
	if (reply->count % 3 != 0 || reply->count > KEYSD_LIST_PAGE * 3) {
		control_keys_finish(k, "error", "malformed key list from the keys process");
		return;
	}
	for (unsigned i = 0; i < reply->count; i += 3) {
		char *id = NULL, *alg = NULL;
		struct keysd_public pub;
		const char *error = NULL;
		const struct ipc_field *der = &reply->field[i + 2];
		if (!ipc_field_text(reply, i, KEYSD_ID_MAX, &id) ||
		    !ipc_field_text(reply, i + 1, sizeof(k->algorithm) - 1, &alg) ||
		    keysd_public_describe(der->data, der->len, &pub, &error) != 0 ||
		    strcmp(pub.algorithm, alg) != 0) {
			free(id);
			free(alg);
			control_keys_finish(k, "error", "malformed key list from the keys process");
			return;
		}
		if (k->verb == CONTROL_KEYS_LIST) {
			char *line = xasprintf("%s %s %d %s", id, alg, pub.bits, pub.dns);
			control_keys_data(k, line);
			free(line);
		} else if (strcmp(id, k->key) == 0) {
			strcpy(k->algorithm, alg);
			k->spki = xmalloc(der->len);
			memcpy(k->spki, der->data, der->len);
			k->spki_len = der->len;
		}
		keysd_public_free(&pub);
		free(id);
		free(alg);
	}
	k->listed += reply->count / 3;
	if (k->out.len > CONTROL_OUTPUT_MAX) {
		control_keys_finish(k, "error", "too many keys to list");
		return;
	}
	if (!k->spki && reply->count == KEYSD_LIST_PAGE * 3) {
		k->index += KEYSD_LIST_PAGE;  /* a full page: there may be more */
		control_keys_call(k);
		return;
	}
	if (k->verb == CONTROL_KEYS_LIST) {
		control_keys_finish(k, "ok", k->listed == 0 ?
				    "no DKIM keys (they are DATA_DIR/dkim/ID.pem)" : "");
		return;
	}
	if (!k->spki) {
		char text[KEYSD_ID_MAX + 20];
		snprintf(text, sizeof(text), "no key named %s", k->key);
		control_keys_finish(k, "notfound", text);
		return;
	}
	if (k->verb == CONTROL_KEYS_TEST && RAND_bytes(k->digest, sizeof(k->digest)) != 1) {
		control_keys_finish(k, "error", "no random bytes for the test digest");
		return;
	}
	k->signing = true;
	control_keys_call(k);
}

/* control_keys_signed - KEY's signature: check it (test) or show it (sign) */
static void control_keys_signed(struct control_keys *k, const struct ipc_msg *reply)
{
	if (reply->count != 1 || reply->field[0].len == 0 ||
	    reply->field[0].len > KEYSD_SIG_MAX) {
		control_keys_finish(k, "error", "malformed signature from the keys process");
		return;
	}
	const struct ipc_field *sig = &reply->field[0];
	if (k->verb == CONTROL_KEYS_SIGN) {
		char *b64 = xmalloc(4 * ((sig->len + 2) / 3) + 1);
		EVP_EncodeBlock((unsigned char *)b64, sig->data, (int)sig->len);
		control_keys_data(k, b64);
		free(b64);
		control_keys_finish(k, "ok", "");
		return;
	}
	/* an RSA or Ed25519 check of one signature: microseconds, on the loop */
	const char *error = NULL;
	char text[KEYSD_ID_MAX + 200];
	if (keysd_public_verify(k->spki, k->spki_len, k->algorithm, k->digest, sig->data,
				sig->len, &error) != 0) {
		snprintf(text, sizeof(text), "%s %s: %s", k->key, k->algorithm, error);
		control_keys_finish(k, "error", text);
		return;
	}
	snprintf(text, sizeof(text), "%s %s: signed a random digest and the signature "
		 "verifies with the public key", k->key, k->algorithm);
	control_keys_finish(k, "ok", text);
}

/* control_keys_data - one "data" line of output; control characters become
 * spaces */
static void control_keys_data(struct control_keys *k, const char *text)
{
	buf_append_str(&k->out, "data ");
	size_t start = k->out.len;
	buf_append_str(&k->out, text);
	for (size_t i = start; i < k->out.len; i++)
		if ((unsigned char)k->out.data[i] < 0x20 || k->out.data[i] == 0x7f)
			k->out.data[i] = ' ';
	buf_append(&k->out, "\n", 1);
}

/* control_keys_finish - answer the client if it is still there, log, free */
static void control_keys_finish(struct control_keys *k, const char *status, const char *text)
{
	struct queue_control *qc = k->control;
	char esc[256];
	log_escape(esc, sizeof(esc), text, strlen(text));
	log_info("keys-op", "op=%s key=%s result=%s text=%s", control_keys_verb_name(k->verb),
		 k->key[0] ? k->key : "all", status, esc);
	for (struct control_keys **p = &qc->keys_requests; *p; p = &(*p)->next) {
		if (*p == k) {
			*p = k->next;
			break;
		}
	}
	struct control_client *c = control_client_find(qc, k->client_id);
	if (c)
		control_client_reply(c, strcmp(status, "ok") == 0 ? &k->out : NULL, status, text);
	control_keys_free(k);
}

static void control_keys_free(struct control_keys *k)
{
	buf_free(&k->out);
	free(k->spki);
	free(k);
}

static const char *control_keys_verb_name(enum control_keys_verb verb)
{
	switch (verb) {
	case CONTROL_KEYS_LIST:
		return "list";
	case CONTROL_KEYS_TEST:
		return "test";
	case CONTROL_KEYS_SIGN:
		return "sign";
	}
	return "?";
}
