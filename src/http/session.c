/* http/session - one HTTP/1.1 connection over a libevent bufferevent (see
 * session.h): the head read within [http] header_size and header_count,
 * the body within body_size, one timer per request ([http]
 * request_timeout: 408 when it runs out) and one between kept-alive
 * requests (idle_timeout: closed without a word, RFC 9112 9.8). */
#include "http/session.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>

#include "config/config.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/xalloc.h"

/* Answers queued but not yet sent above this stop reading (back-pressure). */
#define SESSION_OUTPUT_HIGH (256u * 1024u)

static void session_setup_bev(struct http_session *s);
static void session_arm_timer(struct http_session *s, unsigned seconds);
static void session_input(void *session);
static void session_output_written(void *session);
static void session_event(void *session, short what);
static void session_timer_cb(evutil_socket_t fd, short what, void *arg);
static void session_process_input(struct http_session *s);
static bool session_read_request(struct http_session *s);
static int session_read_head(struct http_session *s, struct evbuffer *in);
static bool session_read_body(struct http_session *s, struct evbuffer *in);
static bool session_read_chunked(struct http_session *s, struct evbuffer *in);
static void session_refuse(struct http_session *s, int status, const char *error);
static bool session_reserve_body(struct http_session *s, size_t len);
static void session_release_body(struct http_session *s);
static void session_write_head(struct http_session *s, int status, const char *content_type,
			       size_t body_len);
static void session_request_done(struct http_session *s);
static void session_linger(struct http_session *s);
static void session_log_request(struct http_session *s, int status);
static void session_free(struct http_session *s);
static void session_drain(void *session);
static void session_shutdown(void *session);
static void session_table_free(void *session);

static const struct net_conn_ops session_conn_ops = {
	.input = session_input,
	.output_written = session_output_written,
	.event = session_event,
};

const struct net_session_ops http_session_table_ops = {
	.drain = session_drain,
	.shutdown = session_shutdown,
	.free = session_table_free,
};

/* ---- life cycle ------------------------------------------------------------- */

void http_session_start(struct http_server *server, const struct config_listener *listener,
			int fd, const struct sockaddr *sa, socklen_t salen)
{
	struct http_session *s = xcalloc(1, sizeof(*s));
	s->server = server;
	s->listener = listener;
	s->id = net_conn_init(&s->conn, server->sessions, &session_conn_ops, s, s->sid,
			      s->client);
	snprintf(s->sid, sizeof(s->sid), "h%llx", (unsigned long long)s->id);
	memcpy(&s->addr, sa, salen < sizeof(s->addr) ? salen : sizeof(s->addr));
	net_address_format(sa, s->client, sizeof(s->client));
	s->timer = evtimer_new(server->base, session_timer_cb, s);
	s->response_headers = evbuffer_new();
	net_conn_open(&s->conn, server->base, fd,
		      listener->role == LISTENER_ROLE_HTTPS ? server->tls : NULL);
	if (!s->conn.bev || !s->timer || !s->response_headers) {
		log_error("session-failed", "session=%s client=%s error=\"cannot create bufferevent\"",
			  s->sid, s->client);
		if (!s->conn.bev && close(fd) != 0)
			log_warn("close-failed", "session=%s error=\"%s\"", s->sid, strerror(errno));
		session_free(s);
		return;
	}
	session_setup_bev(s);
	log_info("connect", "session=%s client=%s listener=%s role=%s", s->sid, s->client,
		 listener->name, listener_role_name(listener->role));
	/* the first request (and the TLS handshake before it) within the
	 * request timer: a connection that says nothing is not kept */
	s->state = HTTP_STATE_READING;
	session_arm_timer(s, server->limits.request_timeout);
}

static void session_setup_bev(struct http_session *s)
{
	/* a client that reads nothing of its answer is dropped */
	struct timeval tv = { .tv_sec = s->server->limits.request_timeout, .tv_usec = 0 };
	net_conn_setcb(&s->conn);
	bufferevent_setwatermark(s->conn.bev, EV_READ, 0, s->server->limits.header_size);
	bufferevent_set_timeouts(s->conn.bev, NULL, &tv);
	if (s->conn.tls)
		bufferevent_openssl_set_allow_dirty_shutdown(s->conn.bev, 1);
	bufferevent_enable(s->conn.bev, EV_READ | EV_WRITE);
}

static void session_arm_timer(struct http_session *s, unsigned seconds)
{
	struct timeval tv = { .tv_sec = seconds, .tv_usec = 0 };
	evtimer_add(s->timer, &tv);
}

struct http_session *http_session_find(struct http_server *server, uint64_t id)
{
	return net_sessions_find(server->sessions, id);
}

void http_job_origin_init(struct http_job_origin *origin, const struct http_session *s)
{
	origin->server = s->server;
	origin->session_id = s->id;
	snprintf(origin->sid, sizeof(origin->sid), "%s", s->sid);
}

struct http_session *http_job_origin_session(const struct http_job_origin *origin)
{
	return http_session_find(origin->server, origin->session_id);
}

char *http_session_take_body(struct http_session *s, size_t *len_r)
{
	char *body = s->body;
	*len_r = body ? s->body_len : 0;
	s->body = NULL;
	s->body_len = 0;
	return body;
}

/* session_drain - shutdown: a connection between requests (or in the
 * middle of one) closes now; a handler's answer goes out first */
static void session_drain(void *session)
{
	struct http_session *s = session;
	if (net_conn_drain_silent(&s->conn))
		return;
	if (s->state != HTTP_STATE_BUSY)
		net_conn_close(&s->conn);
}

static void session_shutdown(void *session)
{
	session_free(session);
}

static void session_table_free(void *session)
{
	session_free(session);
}

static void session_free(struct http_session *s)
{
	net_conn_disconnect(&s->conn);
	net_conn_limits_release(s->server->conn_limits, (const struct sockaddr *)&s->addr);
	if (s->timer)
		event_free(s->timer);
	if (s->response_headers)
		evbuffer_free(s->response_headers);
	http_session_auth_clear(s);
	free(s->head);
	free(s->body);
	session_release_body(s);
	if (s->chunked_body)
		evbuffer_free(s->chunked_body);
	free(s);
}

/* ---- libevent callbacks ----------------------------------------------------- */

/* session_input - what the client sent: a request, or (lingering) what
 * is dropped */
static void session_input(void *session)
{
	struct http_session *s = session;
	if (s->state == HTTP_STATE_LINGER) {
		struct evbuffer *in = bufferevent_get_input(s->conn.bev);
		evbuffer_drain(in, evbuffer_get_length(in));
		return;
	}
	session_process_input(s);
}

static void session_output_written(void *session)
{
	struct http_session *s = session;
	if (s->state == HTTP_STATE_LINGER) {
		if (!s->write_shut && net_bufferevent_pending(s->conn.bev) == 0) {
			s->write_shut = true;
			if (shutdown(bufferevent_getfd(s->conn.bev), SHUT_WR) != 0)
				net_conn_free_later(&s->conn);
		}
		return;
	}
	if (s->state != HTTP_STATE_BUSY)
		session_process_input(s);
}

static void session_event(void *session, short what)
{
	struct http_session *s = session;
	if (what & BEV_EVENT_CONNECTED) {
		char info[160];
		net_conn_handshake_done(&s->conn, info, sizeof(info));
		return;
	}
	if (what & BEV_EVENT_TIMEOUT)
		log_info("timeout", "session=%s client=%s writing=1", s->sid, s->client);
	else if (what & BEV_EVENT_ERROR)
		net_conn_log_error(&s->conn);
	net_conn_free_later(&s->conn);
}

/* session_timer_cb - the request timer (408, RFC 9110 15.5.9) or the idle
 * timer of a kept-alive connection (closed without a word) ran out */
static void session_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http_session *s = arg;
	(void)fd;
	(void)what;
	if (s->conn.dead || s->conn.closing || s->state == HTTP_STATE_BUSY)
		return;
	if (s->state == HTTP_STATE_LINGER) {
		net_conn_free_later(&s->conn);
		return;
	}
	if (s->state == HTTP_STATE_READING && !s->conn.handshaking) {
		log_info("timeout", "session=%s client=%s seconds=%u", s->sid, s->client,
			 s->server->limits.request_timeout);
		session_refuse(s, 408, "request timeout");
		return;
	}
	log_info("timeout", "session=%s client=%s idle=1 handshaking=%d", s->sid, s->client,
		 s->conn.handshaking);
	net_conn_close(&s->conn);
}

/* ---- requests --------------------------------------------------------------- */

/* session_process_input - read and dispatch requests one at a time until
 * input runs out, a handler is running or answers pile up */
static void session_process_input(struct http_session *s)
{
	if (s->conn.dead || s->conn.closing || s->state == HTTP_STATE_BUSY ||
	    s->state == HTTP_STATE_LINGER || s->processing)
		return;
	if (net_sessions_is_draining(s->server->sessions)) {
		net_conn_close(&s->conn);
		return;
	}
	s->processing = true;
	while (s->state != HTTP_STATE_BUSY && !s->conn.closing && !s->conn.dead) {
		if (evbuffer_get_length(bufferevent_get_output(s->conn.bev)) > SESSION_OUTPUT_HIGH)
			break;  /* resumed by session_output_written once the client reads */
		if (!session_read_request(s))
			break;
	}
	s->processing = false;
}

/* session_read_request - the head, then the body, of the next request; true
 * once it is handed to its route */
static bool session_read_request(struct http_session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->conn.bev);
	if (evbuffer_get_length(in) == 0)
		return false;
	if (s->state == HTTP_STATE_IDLE) {
		s->state = HTTP_STATE_READING;
		session_arm_timer(s, s->server->limits.request_timeout);
	}
	if (s->head == NULL && session_read_head(s, in) <= 0)
		return false;
	if (!session_read_body(s, in))
		return false;
	s->state = HTTP_STATE_BUSY;
	evtimer_del(s->timer);
	if (http_method_is_known(s->head, s->req.method))
		http_route_dispatch(s);
	else  /* RFC 9110 9.1 */
		http_session_respond_error(s, 501, "method not implemented", NULL);
	return true;
}

/* session_read_head - 1: the head is parsed and out of IN; 0: more to
 * read; -1: refused */
static int session_read_head(struct http_session *s, struct evbuffer *in)
{
	const struct http_limits *limits = &s->server->limits;
	size_t len = evbuffer_get_length(in);
	if (len > limits->header_size)
		len = limits->header_size;
	const char *data = (const char *)evbuffer_pullup(in, (ev_ssize_t)len);
	const char *error = NULL;
	int rc = http_request_parse(data, len, s->head_checked, limits, &s->req, &error);
	if (rc < 0) {
		session_refuse(s, s->req.status, error);
		return -1;
	}
	if (rc == 0) {
		s->head_checked = len;
		return 0;
	}
	s->head_checked = 0;
	s->head = xmalloc(s->req.head_len);
	evbuffer_remove(in, s->head, s->req.head_len);
	if (s->req.content_length > 0) {
		if (!session_reserve_body(s, (size_t)s->req.content_length))
			return -1;
		bufferevent_setwatermark(s->conn.bev, EV_READ, 0, s->req.content_length);
	}
	return 1;
}

/* session_reserve_body - LEN octets of [http] body_memory for S's body
 * (what it reserved already counted in); false once refused with 503 when
 * the sessions' bodies would pass it, the memory a server holds for bodies
 * bounded whatever the number of clients (RFC 9110 15.6.4) */
static bool session_reserve_body(struct http_session *s, size_t len)
{
	struct http_server *server = s->server;
	size_t others = server->body_memory_used - s->body_reserved;
	if (len > server->limits.body_memory - others) {
		log_warn("http-body-memory", "session=%s client=%s octets=%zu held=%zu limit=%zu",
			 s->sid, s->client, len, others, server->limits.body_memory);
		http_session_add_header(s, "Retry-After", "5");
		session_refuse(s, 503, "the server holds as many request bodies as it may, "
			       "try again later");
		return false;
	}
	server->body_memory_used = others + len;
	s->body_reserved = len;
	return true;
}

/* session_release_body - S's body no longer counted */
static void session_release_body(struct http_session *s)
{
	s->server->body_memory_used -= s->body_reserved;
	s->body_reserved = 0;
}

/* session_read_body - true once the body (Content-Length octets, or a
 * chunked body's data) is out of IN; tells a client that waits for it to go
 * on (RFC 9110 10.1.1) */
static bool session_read_body(struct http_session *s, struct evbuffer *in)
{
	size_t need = (size_t)s->req.content_length;
	bool whole = s->req.chunked ? session_read_chunked(s, in) : evbuffer_get_length(in) >= need;
	if (!whole) {
		if (s->req.expect_continue && !s->continue_sent && !s->refused) {
			evbuffer_add_printf(bufferevent_get_output(s->conn.bev),
					    "HTTP/1.1 100 Continue\r\n\r\n");
			s->continue_sent = true;
		}
		return false;
	}
	if (s->req.chunked) {
		need = evbuffer_get_length(s->chunked_body);
		in = s->chunked_body;
	}
	s->body = xmalloc(need + 1);
	evbuffer_remove(in, s->body, need);
	s->body[need] = '\0';
	s->body_len = need;
	bufferevent_setwatermark(s->conn.bev, EV_READ, 0, s->server->limits.header_size);
	return true;
}

/* session_read_chunked - true once a chunked body has ended: its data are
 * in S->chunked_body and its framing is out of IN; false to read more, or
 * refused (S->refused) */
static bool session_read_chunked(struct http_session *s, struct evbuffer *in)
{
	if (!s->chunked_body)
		s->chunked_body = evbuffer_new();
	if (!s->chunked_body) {
		session_refuse(s, 503, "out of memory");
		return false;
	}
	struct evbuffer_iovec v;
	while (evbuffer_peek(in, -1, NULL, &v, 1) > 0 && v.iov_len > 0) {
		size_t used, body;
		int status;
		const char *error;
		int rc = http_chunked_read(&s->chunked, v.iov_base, v.iov_len, &s->server->limits,
					   &used, &body, &status, &error);
		if (rc < 0) {
			session_refuse(s, status, error);
			return false;
		}
		if (body > 0 && !session_reserve_body(s, evbuffer_get_length(s->chunked_body) + body))
			return false;
		if (body > 0)
			evbuffer_remove_buffer(in, s->chunked_body, body);
		else
			evbuffer_drain(in, used);
		if (rc == 1)
			return true;
	}
	return false;
}

/* session_refuse - STATUS for a request that cannot be read, and close */
static void session_refuse(struct http_session *s, int status, const char *error)
{
	log_info("http-refused", "session=%s client=%s status=%d reason=\"%s\"", s->sid,
		 s->client, status, error);
	s->req.keep_alive = false;
	s->refused = true;
	s->state = HTTP_STATE_BUSY;
	evtimer_del(s->timer);
	http_session_respond_error(s, status, error, NULL);
}

/* ---- answers ---------------------------------------------------------------- */

void http_session_add_header(struct http_session *s, const char *name, const char *value)
{
	evbuffer_add_printf(s->response_headers, "%s: %s\r\n", name, value);
}

json_t *http_error_body(const char *message, const char *field)
{
	return json_pack("{s:[{s:s, s:s?, s:n}]}", "errors", "message", message, "field", field,
			 "help");
}

void http_session_respond_error(struct http_session *s, int status, const char *message,
				const char *field)
{
	http_session_respond(s, status, http_error_body(message, field));
}

void http_session_respond(struct http_session *s, int status, json_t *body)
{
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	struct buf line;
	buf_init(&line);
	if (text)
		buf_printf(&line, "%s\n", text);  /* with a final newline */
	free(text);
	http_session_respond_text(s, status, "application/json", line.data, line.len);
	buf_free(&line);
}

void http_session_respond_text(struct http_session *s, int status, const char *content_type,
			       const char *text, size_t len)
{
	session_write_head(s, status, content_type, len);
	bool head_only = s->head && http_span_equals(s->head, s->req.method, "HEAD", false);
	if (len > 0 && !head_only)
		evbuffer_add(bufferevent_get_output(s->conn.bev), text, len);
	session_log_request(s, status);
	session_request_done(s);
}

/* session_write_head - status line and fields (RFC 9112 4, 6; RFC 9110
 * 6.6.1: an origin server with a clock sends Date) */
static void session_write_head(struct http_session *s, int status, const char *content_type,
			       size_t body_len)
{
	struct evbuffer *out = bufferevent_get_output(s->conn.bev);
	char date[64];
	time_t now = time(NULL);
	struct tm tm;
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", gmtime_r(&now, &tm));
	bool closing = !s->req.keep_alive || net_sessions_is_draining(s->server->sessions);
	/* an HTTP/1.0 client keeps the connection only if told (RFC 9112 9.3) */
	const char *connection = closing ? "Connection: close\r\n"
		: s->req.version_minor == 0 ? "Connection: keep-alive\r\n" : "";
	evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\nDate: %s\r\n", status,
			    http_status_reason(status), date);
	if (body_len > 0)
		evbuffer_add_printf(out, "Content-Type: %s\r\n", content_type);
	/* RFC 9110 8.6: no Content-Length in a 204 */
	if (status == 204)
		evbuffer_add_printf(out, "%s", connection);
	else
		evbuffer_add_printf(out, "Content-Length: %zu\r\n%s", body_len, connection);
	evbuffer_add_buffer(out, s->response_headers);
	evbuffer_add(out, "\r\n", 2);
}

static void session_log_request(struct http_session *s, int status)
{
	char method[48], path[300];
	if (s->head) {
		log_escape(method, sizeof(method), s->head + s->req.method.off, s->req.method.len);
		log_escape(path, sizeof(path), s->head + s->req.path.off, s->req.path.len);
	} else {
		snprintf(method, sizeof(method), "-");
		snprintf(path, sizeof(path), "-");
	}
	log_info("http-request", "session=%s client=%s method=%s path=%s status=%d", s->sid,
		 s->client, method, path, status);
}

/* session_request_done - forget the request; close, or wait for the next
 * one (what a pipelining client sent already is read from the loop) */
static void session_request_done(struct http_session *s)
{
	bool keep_alive = s->req.keep_alive;
	http_session_auth_clear(s);
	free(s->head);
	free(s->body);
	s->head = NULL;
	s->body = NULL;
	s->body_len = 0;
	session_release_body(s);
	memset(&s->chunked, 0, sizeof(s->chunked));
	if (s->chunked_body)
		evbuffer_drain(s->chunked_body, evbuffer_get_length(s->chunked_body));
	s->continue_sent = false;
	memset(&s->req, 0, sizeof(s->req));
	if (s->refused && !s->conn.tls && !net_sessions_is_draining(s->server->sessions)) {
		session_linger(s);
		return;
	}
	if (!keep_alive || net_sessions_is_draining(s->server->sessions)) {
		net_conn_close(&s->conn);
		return;
	}
	s->state = HTTP_STATE_IDLE;
	session_arm_timer(s, s->server->limits.idle_timeout);
	if (!s->processing)
		net_conn_resume_input(&s->conn);
}

/* session_linger - after a refusal on a plain connection: the answer goes
 * out, then our side is shut (session_output_written) and what the client still
 * sends is dropped until it closes, for at most [http] idle_timeout.  (On
 * TLS the close_notify of an orderly close says the same.) */
static void session_linger(struct http_session *s)
{
	s->state = HTTP_STATE_LINGER;
	bufferevent_setwatermark(s->conn.bev, EV_READ, 0, 0);
	bufferevent_enable(s->conn.bev, EV_READ);
	session_arm_timer(s, s->server->limits.idle_timeout);
	if (!net_conn_written(&s->conn))
		session_output_written(s);
}
