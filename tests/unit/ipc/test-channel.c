/* tests/unit/ipc/test-channel - an ipc_client and an ipc_server (or a raw
 * socket playing the other side) over socketpair(2) on one event loop:
 * request and reply, many calls answered out of order, timeouts, a peer
 * that closes, swapping connections, cancelling, malformed frames each way,
 * the bounds (pending calls, queued output) and freeing from a callback.
 * Every wait is a loop run until a condition holds, bounded by a generous
 * deadline: nothing depends on how fast the machine is. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <event2/event.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ipc/ipc.h"
#include "util/buf.h"

#define WAIT_SECONDS 30

/* ---- the loop -------------------------------------------------------------- */

static struct event_base *base;
static bool deadline_passed;

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	deadline_passed = true;
}

/* run_until - run the loop until *FLAG (or *COUNT >= WANT) or the deadline */
static void run_until_count(const unsigned *count, unsigned want)
{
	struct timeval tv = { WAIT_SECONDS, 0 };
	struct event *deadline = evtimer_new(base, deadline_cb, NULL);
	assert_non_null(deadline);
	deadline_passed = false;
	assert_int_equal(evtimer_add(deadline, &tv), 0);
	while (*count < want && !deadline_passed)
		assert_int_not_equal(event_base_loop(base, EVLOOP_ONCE), -1);
	event_free(deadline);
	assert_false(deadline_passed);
}

static void run_until(const bool *flag)
{
	struct timeval tv = { WAIT_SECONDS, 0 };
	struct event *deadline = evtimer_new(base, deadline_cb, NULL);
	assert_non_null(deadline);
	deadline_passed = false;
	assert_int_equal(evtimer_add(deadline, &tv), 0);
	while (!*flag && !deadline_passed)
		assert_int_not_equal(event_base_loop(base, EVLOOP_ONCE), -1);
	event_free(deadline);
	assert_false(deadline_passed);
}

/* run_passes - a few passes of the loop without blocking */
static void run_passes(int n)
{
	for (int i = 0; i < n; i++)
		assert_int_not_equal(event_base_loop(base, EVLOOP_NONBLOCK), -1);
}

static void make_pair(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
}

/* wait_readable - run the loop (the client writes from it) until FD has
 * something to read, within the deadline */
static void wait_readable(int fd)
{
	time_t end = time(NULL) + WAIT_SECONDS;
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int r = poll(&p, 1, 10);
		assert_true(r >= 0 || errno == EINTR);
		if (r > 0)
			return;
		run_passes(1);
		assert_true(time(NULL) < end);
	}
}

/* ---- a server that answers as told ----------------------------------------- */

enum mode { ECHO, HOLD, SILENT, FREE_SELF, FLOOD, TOO_LARGE };

struct held {
	uint32_t id;
	struct buf payload;
};

struct srv {
	struct ipc_server *server;
	enum mode mode;
	unsigned requests;
	struct held *held;
	size_t nheld;
	bool closed;
};

static void srv_request_cb(void *ctx, struct ipc_server *server, const struct ipc_msg *req)
{
	struct srv *s = ctx;
	assert_ptr_equal(server, s->server);
	s->requests++;
	switch (s->mode) {
	case ECHO: {
		/* the fields back, as an R_OK with the request's type first */
		unsigned char tb[8];
		struct ipc_field f[IPC_FIELDS_MAX];
		f[0] = ipc_u32(req->type, tb);
		for (unsigned i = 0; i < req->count && i + 1 < IPC_FIELDS_MAX; i++)
			f[i + 1] = req->field[i];
		unsigned n = req->count + 1 < IPC_FIELDS_MAX ? req->count + 1 : IPC_FIELDS_MAX;
		ipc_server_reply(server, req->id, IPC_R_OK, n, f);
		break;
	}
	case HOLD:
	case SILENT:
		s->held = realloc(s->held, (s->nheld + 1) * sizeof(*s->held));
		assert_non_null(s->held);
		s->held[s->nheld].id = req->id;
		buf_init(&s->held[s->nheld].payload);
		if (req->count)
			buf_append(&s->held[s->nheld].payload, req->field[0].data,
				   req->field[0].len);
		s->nheld++;
		break;
	case FREE_SELF:
		ipc_server_free(&s->server);
		break;
	case FLOOD: {
		/* 20 replies of 60,000 bytes: more than IPC_OUTPUT_MAX at once */
		static unsigned char big[60000];
		struct ipc_field f = { big, sizeof(big) };
		for (int i = 0; i < 20; i++)
			ipc_server_reply(server, req->id, IPC_R_OK, 1, &f);
		break;
	}
	case TOO_LARGE: {
		static unsigned char big[40000];
		struct ipc_field f[2] = { { big, sizeof(big) }, { big, sizeof(big) } };
		ipc_server_reply(server, req->id, IPC_R_OK, 2, f);
		break;
	}
	}
}

static void srv_closed_cb(void *ctx)
{
	struct srv *s = ctx;
	assert_false(s->closed);
	s->closed = true;
}

static void srv_start(struct srv *s, int fd, enum mode mode)
{
	memset(s, 0, sizeof(*s));
	s->mode = mode;
	s->server = ipc_server_create(base, "test", fd, srv_request_cb, srv_closed_cb, s);
	assert_non_null(s->server);
}

/* srv_answer - reply R_OK(payload) to held request I */
static void srv_answer(struct srv *s, size_t i)
{
	struct ipc_field f = { s->held[i].payload.data, s->held[i].payload.len };
	ipc_server_reply(s->server, s->held[i].id, IPC_R_OK, 1, &f);
}

static void srv_stop(struct srv *s)
{
	ipc_server_free(&s->server);
	for (size_t i = 0; i < s->nheld; i++)
		buf_free(&s->held[i].payload);
	free(s->held);
	s->held = NULL;
	s->nheld = 0;
}

/* ---- calls and what they got ----------------------------------------------- */

struct got {
	bool done;
	bool null;
	uint8_t type;
	struct buf field[IPC_FIELDS_MAX];
	unsigned count;
	unsigned *counter;       /* incremented when done, if set */
	struct ipc_client **free_client;  /* freed from the callback, if set */
};

static bool inside_call;

static void got_cb(void *ctx, const struct ipc_msg *reply)
{
	struct got *g = ctx;
	assert_false(inside_call);
	assert_false(g->done);
	g->done = true;
	g->null = reply == NULL;
	if (reply) {
		assert_true(reply->type >= IPC_R_OK);
		g->type = reply->type;
		g->count = reply->count;
		for (unsigned i = 0; i < reply->count; i++) {
			buf_init(&g->field[i]);
			buf_append(&g->field[i], reply->field[i].data, reply->field[i].len);
		}
	}
	if (g->counter)
		++*g->counter;
	if (g->free_client)
		ipc_client_free(g->free_client);
}

static void got_free(struct got *g)
{
	for (unsigned i = 0; i < g->count; i++)
		buf_free(&g->field[i]);
	g->count = 0;
}

static uint32_t call(struct ipc_client *c, uint8_t type, unsigned count,
		     const struct ipc_field *f, struct got *g)
{
	inside_call = true;
	uint32_t id = ipc_client_call(c, type, count, f, got_cb, g);
	inside_call = false;
	assert_int_not_equal(id, 0);
	/* never answered inside the call */
	assert_false(g->done);
	return id;
}

static int setup(void **state)
{
	base = event_base_new();
	return base ? 0 : -1;
}

static int teardown(void **state)
{
	event_base_free(base);
	base = NULL;
	return 0;
}

/* ---- tests ------------------------------------------------------------------- */

static void test_request_reply(void **state)
{
	int sv[2];
	struct srv s;
	struct got g = { 0 };
	make_pair(sv);
	struct ipc_client *c = ipc_client_create(base, "test", 10000);
	assert_false(ipc_client_connected(c));
	ipc_client_set_fd(c, sv[0]);
	assert_true(ipc_client_connected(c));
	srv_start(&s, sv[1], ECHO);

	struct ipc_field f[3] = { ipc_text("alice"), ipc_text("secret"), { NULL, 0 } };
	call(c, IPC_AUTH_PASSWORD, 3, f, &g);
	run_until(&g.done);
	assert_false(g.null);
	assert_int_equal(g.type, IPC_R_OK);
	assert_int_equal(g.count, 4);
	assert_int_equal(g.field[0].len, 4);
	assert_memory_equal(g.field[0].data, "\0\0\0\1", 4);
	assert_string_equal(g.field[1].data, "alice");
	assert_string_equal(g.field[2].data, "secret");
	assert_int_equal(g.field[3].len, 0);
	assert_int_equal(s.requests, 1);
	assert_false(s.closed);
	got_free(&g);

	/* the client going away is EOF for the server */
	ipc_client_free(&c);
	assert_null(c);
	run_until(&s.closed);
	srv_stop(&s);
}

/* 1000 calls (the table grows past its first size many times), answered
 * in reverse and then odd ones first: each gets its own answer */
static void test_many_out_of_order(void **state)
{
	enum { N = 1000 };
	int sv[2];
	struct srv s;
	static struct got g[N];
	unsigned done = 0;
	uint32_t ids[N];
	make_pair(sv);
	struct ipc_client *c = ipc_client_create(base, "test", 60000);
	ipc_client_set_fd(c, sv[0]);
	srv_start(&s, sv[1], HOLD);

	memset(g, 0, sizeof(g));
	for (unsigned i = 0; i < N; i++) {
		unsigned char b[8];
		struct ipc_field f = ipc_u32(i, b);
		g[i].counter = &done;
		ids[i] = call(c, IPC_KEYS_SIGN, 1, &f, &g[i]);
		for (unsigned j = 0; j < i; j++)
			assert_int_not_equal(ids[j], ids[i]);
	}
	unsigned nheld_want = N;
	run_until_count(&s.requests, nheld_want);
	assert_int_equal(s.nheld, N);
	for (size_t k = s.nheld; k-- > 0;)
		if (k % 2 == 0)
			srv_answer(&s, k);
	for (size_t k = 0; k < s.nheld; k++)
		if (k % 2 == 1)
			srv_answer(&s, k);
	run_until_count(&done, N);
	for (unsigned i = 0; i < N; i++) {
		uint32_t v = 0;
		assert_true(g[i].done);
		assert_false(g[i].null);
		assert_int_equal(g[i].count, 1);
		assert_int_equal(g[i].field[0].len, 4);
		const unsigned char *b = (const unsigned char *)g[i].field[0].data;
		v = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
		assert_int_equal(v, i);
		got_free(&g[i]);
	}
	assert_false(s.closed);
	ipc_client_free(&c);
	srv_stop(&s);
}

/* a server that never answers: NULL after the timeout (50 ms; the check is
 * only that it comes, within the generous deadline) */
static void test_timeout(void **state)
{
	int sv[2];
	struct srv s;
	struct got g = { 0 };
	make_pair(sv);
	struct ipc_client *c = ipc_client_create(base, "test", 50);
	ipc_client_set_fd(c, sv[0]);
	srv_start(&s, sv[1], SILENT);

	unsigned char b[8];
	struct ipc_field f = ipc_u32(7, b);
	call(c, IPC_KEYS_LIST, 1, &f, &g);
	run_until(&g.done);
	assert_true(g.null);
	/* a timeout is not a broken connection (a late answer is dropped
	 * like a cancelled call's: test_cancel) */
	assert_true(ipc_client_connected(c));
	run_until_count(&s.requests, 1);
	assert_false(s.closed);
	ipc_client_free(&c);
	srv_stop(&s);
}

/* the server goes away with calls pending: every one gets NULL; later calls
 * get NULL too, on a later pass of the loop */
static void test_peer_closes(void **state)
{
	enum { N = 5 };
	int sv[2];
	struct srv s;
	struct got g[N], later = { 0 };
	unsigned done = 0;
	make_pair(sv);
	struct ipc_client *c = ipc_client_create(base, "test", 60000);
	ipc_client_set_fd(c, sv[0]);
	srv_start(&s, sv[1], SILENT);
	memset(g, 0, sizeof(g));
	for (unsigned i = 0; i < N; i++) {
		g[i].counter = &done;
		call(c, IPC_KEYS_LIST, 0, NULL, &g[i]);
	}
	run_until_count(&s.requests, N);
	srv_stop(&s);
	run_until_count(&done, N);
	for (unsigned i = 0; i < N; i++)
		assert_true(g[i].null);
	assert_false(ipc_client_connected(c));

	call(c, IPC_KEYS_LIST, 0, NULL, &later);
	run_until(&later.done);
	assert_true(later.null);
	ipc_client_free(&c);
}

/* a new connection: calls on the old one get NULL, the new server answers,
 * the old server sees EOF */
static void test_set_fd_swap(void **state)
{
	int sv1[2], sv2[2];
	struct srv s1, s2;
	struct got a = { 0 }, b = { 0 };
	make_pair(sv1);
	make_pair(sv2);
	struct ipc_client *c = ipc_client_create(base, "test", 60000);
	ipc_client_set_fd(c, sv1[0]);
	srv_start(&s1, sv1[1], SILENT);
	srv_start(&s2, sv2[1], ECHO);

	call(c, IPC_KEYS_LIST, 0, NULL, &a);
	run_until_count(&s1.requests, 1);
	inside_call = true;
	ipc_client_set_fd(c, sv2[0]);
	inside_call = false;
	assert_false(a.done);
	assert_true(ipc_client_connected(c));
	call(c, IPC_KEYS_LIST, 0, NULL, &b);
	run_until(&b.done);
	run_until(&a.done);
	assert_true(a.null);
	assert_false(b.null);
	assert_int_equal(b.type, IPC_R_OK);
	run_until(&s1.closed);
	assert_false(s2.closed);
	got_free(&b);

	/* -1: no connection at all */
	ipc_client_set_fd(c, -1);
	assert_false(ipc_client_connected(c));
	run_until(&s2.closed);
	ipc_client_free(&c);
	srv_stop(&s1);
	srv_stop(&s2);
}

static void test_cancel(void **state)
{
	int sv[2];
	struct srv s;
	struct got a = { 0 }, b = { 0 }, x = { 0 }, y = { 0 };
	make_pair(sv);
	struct ipc_client *c = ipc_client_create(base, "test", 60000);
	ipc_client_set_fd(c, sv[0]);
	srv_start(&s, sv[1], HOLD);

	uint32_t ida = call(c, IPC_KEYS_LIST, 0, NULL, &a);
	call(c, IPC_KEYS_LIST, 0, NULL, &b);
	run_until_count(&s.requests, 2);
	ipc_client_cancel(c, ida);
	ipc_client_cancel(c, 12345);    /* unknown: nothing happens */
	srv_answer(&s, 0);
	srv_answer(&s, 1);
	run_until(&b.done);
	assert_false(b.null);
	run_passes(3);
	assert_false(a.done);
	assert_true(ipc_client_connected(c));

	/* a call failing for want of a connection can be cancelled too */
	ipc_client_set_fd(c, -1);
	uint32_t idx = call(c, IPC_KEYS_LIST, 0, NULL, &x);
	call(c, IPC_KEYS_LIST, 0, NULL, &y);
	ipc_client_cancel(c, idx);
	run_until(&y.done);
	assert_true(y.null);
	run_passes(3);
	assert_false(x.done);
	got_free(&b);
	ipc_client_free(&c);
	srv_stop(&s);
}

/* raw bytes into a server: a valid frame is served, the malformed one after
 * it closes the connection and is not */
static void test_server_malformed(void **state)
{
	static const struct {
		const char *name;
		size_t len;
		unsigned char b[16];
	} bad[] = {
		{ "length 5", 9, { 0, 0, 0, 5, 1, 0, 0, 0, 1 } },
		{ "length 65537", 4, { 0, 1, 0, 1 } },
		{ "count 9", 10, { 0, 0, 0, 6, 1, 0, 0, 0, 1, 9 } },
		{ "field past the end", 13, { 0, 0, 0, 9, 1, 0, 0, 0, 1, 1, 0, 2, 'a' } },
		{ "byte after the fields", 14, { 0, 0, 0, 10, 1, 0, 0, 0, 1, 1, 0, 1, 'a', 'b' } },
		{ "unknown type", 10, { 0, 0, 0, 6, 99, 0, 0, 0, 1, 0 } },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int sv[2];
		struct srv s;
		struct buf raw;
		print_message("%s\n", bad[i].name);
		make_pair(sv);
		srv_start(&s, sv[1], SILENT);
		buf_init(&raw);
		assert_int_equal(ipc_encode(&raw, IPC_KEYS_LIST, 1, 0, NULL), 0);
		buf_append(&raw, bad[i].b, bad[i].len);
		assert_int_equal(write(sv[0], raw.data, raw.len), (ssize_t)raw.len);
		run_until(&s.closed);
		assert_int_equal(s.requests, 1);
		/* replies after closed_cb are dropped */
		ipc_server_reply(s.server, 1, IPC_R_OK, 0, NULL);
		srv_stop(&s);
		/* the server's end is closed (on the next pass): EOF here */
		char c;
		wait_readable(sv[0]);
		assert_int_equal(read(sv[0], &c, 1), 0);
		assert_int_equal(close(sv[0]), 0);
		buf_free(&raw);
	}
}

/* read_request - the next request frame from a raw fd: its id */
static uint32_t read_request(int fd)
{
	unsigned char b[4 + IPC_FRAME_MAX];
	size_t have = 0, flen = 0;
	for (;;) {
		enum ipc_frame_status st = ipc_frame_find(b, have, &flen);
		assert_int_not_equal(st, IPC_FRAME_MALFORMED);
		if (st == IPC_FRAME_OK)
			break;
		wait_readable(fd);
		/* only as much as the frame needs: frames after it stay */
		size_t want = have < 4 ? 4 - have : 4 + (((size_t)b[0] << 24 | (size_t)b[1] << 16 |
			      (size_t)b[2] << 8 | b[3])) - have;
		ssize_t n = read(fd, b + have, want);
		assert_true(n > 0);
		have += (size_t)n;
	}
	struct ipc_msg m;
	assert_int_equal(ipc_decode(b, flen, &m), 0);
	return m.id;
}

/* raw replies into a client: malformed, an id never sent, a request type */
static void test_client_malformed(void **state)
{
	enum { BAD_BYTES, NEVER_SENT, REQUEST_TYPE, CASES };
	for (int k = 0; k < CASES; k++) {
		int sv[2];
		struct got a = { 0 }, b = { 0 };
		struct buf raw;
		make_pair(sv);
		struct ipc_client *c = ipc_client_create(base, "test", 60000);
		ipc_client_set_fd(c, sv[0]);
		uint32_t ida = call(c, IPC_KEYS_LIST, 0, NULL, &a);
		uint32_t idb = call(c, IPC_KEYS_LIST, 0, NULL, &b);
		/* the requests leave when the loop runs (read_request runs it) */
		assert_int_equal(read_request(sv[1]), ida);
		assert_int_equal(read_request(sv[1]), idb);
		buf_init(&raw);
		/* a good answer to A first, then the bad frame */
		assert_int_equal(ipc_encode(&raw, IPC_R_OK, ida, 0, NULL), 0);
		if (k == BAD_BYTES) {
			static const unsigned char bad[] = { 0, 0, 0, 9, 128, 0, 0, 0, 2, 1, 0, 9, 'x' };
			buf_append(&raw, bad, sizeof(bad));
		} else if (k == NEVER_SENT) {
			assert_int_equal(ipc_encode(&raw, IPC_R_OK, idb + 1000, 0, NULL), 0);
		} else {
			assert_int_equal(ipc_encode(&raw, IPC_AUTH_PASSWORD, idb, 0, NULL), 0);
		}
		assert_int_equal(write(sv[1], raw.data, raw.len), (ssize_t)raw.len);
		run_until(&b.done);
		assert_true(a.done);
		assert_false(a.null);
		assert_true(b.null);
		assert_false(ipc_client_connected(c));
		char ch;
		wait_readable(sv[1]);
		assert_int_equal(read(sv[1], &ch, 1), 0);
		assert_int_equal(close(sv[1]), 0);
		buf_free(&raw);
		ipc_client_free(&c);
	}
}

/* over IPC_CLIENT_PENDING_MAX waiting calls, the next gets NULL at once (on
 * the next pass); the others are still waiting */
static void test_pending_limit(void **state)
{
	int sv[2];
	unsigned done = 0;
	struct got *g = calloc(IPC_CLIENT_PENDING_MAX + 1, sizeof(*g));
	assert_non_null(g);
	make_pair(sv);
	struct ipc_client *c = ipc_client_create(base, "test", 600000);
	ipc_client_set_fd(c, sv[0]);
	for (unsigned i = 0; i <= IPC_CLIENT_PENDING_MAX; i++) {
		g[i].counter = &done;
		call(c, IPC_KEYS_LIST, 0, NULL, &g[i]);
	}
	run_until(&g[IPC_CLIENT_PENDING_MAX].done);
	assert_true(g[IPC_CLIENT_PENDING_MAX].null);
	run_passes(3);
	assert_int_equal(done, 1);
	assert_true(ipc_client_connected(c));
	ipc_client_free(&c);
	assert_int_equal(done, 1);
	assert_int_equal(close(sv[1]), 0);
	free(g);
}

/* a helper that does not read: more than IPC_OUTPUT_MAX of requests waiting
 * ends the connection, and the calls get NULL */
static void test_client_overflow(void **state)
{
	enum { N = 20 };
	int sv[2];
	unsigned done = 0;
	struct got g[N];
	static unsigned char big[60000];
	struct ipc_field f = { big, sizeof(big) };
	make_pair(sv);
	struct ipc_client *c = ipc_client_create(base, "test", 600000);
	ipc_client_set_fd(c, sv[0]);
	memset(g, 0, sizeof(g));
	for (unsigned i = 0; i < N; i++) {
		g[i].counter = &done;
		call(c, IPC_KEYS_SIGN, 1, &f, &g[i]);
	}
	assert_false(ipc_client_connected(c));
	run_until_count(&done, N);
	for (unsigned i = 0; i < N; i++)
		assert_true(g[i].null);
	ipc_client_free(&c);
	assert_int_equal(close(sv[1]), 0);
}

/* a network process that does not read: more than IPC_OUTPUT_MAX of replies
 * waiting closes the server */
static void test_server_overflow(void **state)
{
	int sv[2];
	struct srv s;
	struct buf raw;
	make_pair(sv);
	srv_start(&s, sv[1], FLOOD);
	buf_init(&raw);
	assert_int_equal(ipc_encode(&raw, IPC_KEYS_LIST, 1, 0, NULL), 0);
	assert_int_equal(write(sv[0], raw.data, raw.len), (ssize_t)raw.len);
	run_until(&s.closed);
	assert_int_equal(s.requests, 1);
	srv_stop(&s);
	assert_int_equal(close(sv[0]), 0);
	buf_free(&raw);
}

/* a reply too large for a frame becomes R_TEMPFAIL, not silence */
static void test_reply_too_large(void **state)
{
	int sv[2];
	struct srv s;
	struct got g = { 0 };
	make_pair(sv);
	struct ipc_client *c = ipc_client_create(base, "test", 60000);
	ipc_client_set_fd(c, sv[0]);
	srv_start(&s, sv[1], TOO_LARGE);
	call(c, IPC_KEYS_LIST, 0, NULL, &g);
	run_until(&g.done);
	assert_false(g.null);
	assert_int_equal(g.type, IPC_R_TEMPFAIL);
	assert_int_equal(g.count, 1);
	assert_string_equal(g.field[0].data, "reply too large");
	got_free(&g);
	ipc_client_free(&c);
	srv_stop(&s);
}

/* a request too large for a frame: NULL on the next pass, nothing sent */
static void test_request_too_large(void **state)
{
	int sv[2];
	struct srv s;
	struct got g = { 0 }, ok = { 0 };
	static unsigned char big[40000];
	struct ipc_field f[2] = { { big, sizeof(big) }, { big, sizeof(big) } };
	make_pair(sv);
	struct ipc_client *c = ipc_client_create(base, "test", 60000);
	ipc_client_set_fd(c, sv[0]);
	srv_start(&s, sv[1], ECHO);
	call(c, IPC_KEYS_SIGN, 2, f, &g);
	call(c, IPC_KEYS_LIST, 0, NULL, &ok);
	run_until(&ok.done);
	run_until(&g.done);
	assert_true(g.null);
	assert_false(ok.null);
	assert_int_equal(s.requests, 1);
	got_free(&ok);
	ipc_client_free(&c);
	srv_stop(&s);
}

/* freeing the client from a callback with more answers and calls pending;
 * freeing the server from its request callback */
static void test_free_from_callback(void **state)
{
	int sv[2];
	struct srv s;
	struct got a = { 0 }, b = { 0 }, d = { 0 };
	make_pair(sv);
	struct ipc_client *c = ipc_client_create(base, "test", 60000);
	ipc_client_set_fd(c, sv[0]);
	srv_start(&s, sv[1], HOLD);
	a.free_client = &c;
	call(c, IPC_KEYS_LIST, 0, NULL, &a);
	call(c, IPC_KEYS_LIST, 0, NULL, &b);
	call(c, IPC_KEYS_LIST, 0, NULL, &d);
	run_until_count(&s.requests, 3);
	/* whether both answers come in one read or not, the second is
	 * never delivered */
	srv_answer(&s, 0);
	srv_answer(&s, 1);
	run_until(&a.done);
	assert_null(c);
	run_until(&s.closed);
	assert_false(b.done);
	assert_false(d.done);
	got_free(&a);
	srv_stop(&s);

	/* the server frees itself inside request_cb: no callback after */
	struct got e = { 0 };
	make_pair(sv);
	c = ipc_client_create(base, "test", 60000);
	ipc_client_set_fd(c, sv[0]);
	srv_start(&s, sv[1], FREE_SELF);
	call(c, IPC_KEYS_LIST, 0, NULL, &e);
	run_until(&e.done);
	assert_true(e.null);
	assert_null(s.server);
	assert_false(s.closed);
	ipc_client_free(&c);
	srv_stop(&s);
}

/* the failing pass: a callback that calls again while not connected gets its
 * answer on a later pass, so this cannot spin inside one pass */
struct again {
	struct ipc_client *c;
	unsigned calls;
	unsigned max;
};

static void again_cb(void *ctx, const struct ipc_msg *reply)
{
	struct again *a = ctx;
	assert_null(reply);
	if (++a->calls < a->max)
		assert_int_not_equal(ipc_client_call(a->c, IPC_KEYS_LIST, 0, NULL, again_cb, a), 0);
}

static void test_not_connected_again(void **state)
{
	struct again a = { ipc_client_create(base, "test", 60000), 0, 5 };
	assert_int_not_equal(ipc_client_call(a.c, IPC_KEYS_LIST, 0, NULL, again_cb, &a), 0);
	assert_int_equal(a.calls, 0);
	for (unsigned pass = 1; pass <= 5; pass++) {
		assert_int_not_equal(event_base_loop(base, EVLOOP_ONCE), -1);
		assert_int_equal(a.calls, pass);
	}
	ipc_client_free(&a.c);
}

int main(void)
{
	/* a peer's end may be closed while replies are on their way */
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_request_reply, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_out_of_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_peer_closes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set_fd_swap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_malformed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_malformed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pending_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_overflow, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_overflow, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reply_too_large, setup, teardown),
		cmocka_unit_test_setup_teardown(test_request_too_large, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_from_callback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_connected_again, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
