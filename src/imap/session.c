/* imap/session - one IMAP session over a libevent bufferevent.
 *
 * Input goes through the command reader (imap/parse.h), which finds where a
 * command ends (lines and literals, within the limits) and tells when a
 * synchronizing literal needs its "+" continuation request.  Each complete
 * command is parsed, checked against the command table (state, UID) and
 * handed to its handler; the session is "busy" until the handler's tagged
 * reply, and reads nothing more meanwhile (commands are answered in order;
 * a pool job's DONE may come much later).  See session.h for the handlers'
 * side.
 */
#include "imap/session.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>

#include "authd/client.h"
#include "authd/sasl.h"
#include "config/config.h"
#include "mailbox/mailbox.h"
#include "net/net.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/pool.h"
#include "util/xalloc.h"

/* Replies queued but not yet sent above this stop reading (back-pressure). */
#define SESSION_OUTPUT_HIGH (256u * 1024u)
/* Input read ahead of processing, at most (libevent read watermark). */
#define SESSION_INPUT_HIGH (256u * 1024u)

static void session_read_cb(struct bufferevent *bev, void *arg);
static void session_write_cb(struct bufferevent *bev, void *arg);
static void session_event_cb(struct bufferevent *bev, short what, void *arg);
static void session_resume_cb(evutil_socket_t fd, short what, void *arg);
static void session_setup_bev(struct imap_session *s);
static void session_arm_timeout(struct imap_session *s);
static void session_process_input(struct imap_session *s);
static void session_command(struct imap_session *s);
static void session_refused(struct imap_session *s);
static bool session_sasl_line(struct imap_session *s, struct evbuffer *in);
static void session_dispatch(struct imap_session *s, const struct imap_command *cmd);
static void session_line(struct imap_session *s, const char *prefix, const char *fmt,
			 va_list ap) __attribute__((format(printf, 3, 0)));
static void session_tagged(struct imap_session *s, enum imap_status status, const char *code,
			   const char *fmt, va_list ap) __attribute__((format(printf, 4, 0)));
static void session_greeting(struct imap_session *s);
static void session_close_done(struct imap_session *s);
static void session_plain_drained_cb(struct evbuffer *buf,
				     const struct evbuffer_cb_info *info, void *arg);
static void session_free_later(struct imap_session *s);
static void session_free(struct imap_session *s);
static void session_disconnect(struct imap_session *s);
static void session_free_memory(struct imap_session *s);

/* ---- life cycle ------------------------------------------------------------- */

void imap_session_start(struct imap_server *server, const struct config_listener *listener,
			int fd, const struct sockaddr *sa, socklen_t salen)
{
	struct imap_session *s = xcalloc(1, sizeof(*s));
	s->server = server;
	s->config = server->config;
	s->listener = listener;
	s->id = net_sessions_add(server->sessions, &s->link, s);
	snprintf(s->sid, sizeof(s->sid), "i%llx", (unsigned long long)s->id);
	memcpy(&s->addr, sa, salen < sizeof(s->addr) ? salen : sizeof(s->addr));
	net_address_format(sa, s->client, sizeof(s->client));
	s->state = IMAP_STATE_NOT_AUTHENTICATED;
	const struct config_imap *settings = &s->config->imap;
	struct imap_reader_limits limits = {
		.line_max = settings->command_line,
		.literal_max = settings->literal_size,
		/* a command with its literals: one literal at the limit and the
		 * lines around it (APPEND) */
		.command_max = settings->literal_size + settings->command_line,
		.literals_max = IMAP_LITERALS_MAX_DEFAULT,
	};
	s->reader = imap_reader_new(&limits);
	s->resume_ev = event_new(server->base, -1, 0, session_resume_cb, s);

	if (listener->role == LISTENER_ROLE_IMAPS) {
		/* RFC 8314 3.3: TLS first, then the greeting inside it */
		SSL *ssl = SSL_new(server->tls);
		s->bev = bufferevent_openssl_socket_new(server->base, fd, ssl,
							BUFFEREVENT_SSL_ACCEPTING,
							BEV_OPT_CLOSE_ON_FREE);
		s->tls = true;
		s->tls_bev = s->bev;
		s->handshaking = true;
	} else {
		s->bev = bufferevent_socket_new(server->base, fd, BEV_OPT_CLOSE_ON_FREE);
	}
	if (!s->bev || !s->resume_ev) {
		log_error("session-failed", "session=%s client=%s error=\"cannot create bufferevent\"",
			  s->sid, s->client);
		if (!s->bev && close(fd) != 0)
			log_warn("close-failed", "session=%s error=\"%s\"", s->sid, strerror(errno));
		session_free(s);
		return;
	}
	session_setup_bev(s);
	log_info("connect", "session=%s client=%s listener=%s role=%s", s->sid, s->client,
		 listener->name, listener_role_name(listener->role));
	session_greeting(s);
}

/* session_greeting - RFC 9051 7.1.1: OK, with the capabilities (7.2.2) so
 * that a client need not ask */
static void session_greeting(struct imap_session *s)
{
	struct buf caps;
	buf_init(&caps);
	imap_capability_append(s, &caps);
	imap_reply_untagged(s, "OK [CAPABILITY %.*s] %s Petrel IMAP ready", (int)caps.len,
			    caps.data, s->config->hostname);
	buf_free(&caps);
}

/* session_setup_bev - callbacks, watermarks and timeouts for s->bev */
static void session_setup_bev(struct imap_session *s)
{
	bufferevent_setcb(s->bev, session_read_cb, session_write_cb, session_event_cb, s);
	bufferevent_setwatermark(s->bev, EV_READ, 0, SESSION_INPUT_HIGH);
	if (s->tls)
		bufferevent_openssl_set_allow_dirty_shutdown(s->bev, 1);
	session_arm_timeout(s);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
}

/* session_autologout_seconds - the autologout timer of the session's state
 * (RFC 9051 5.4: at least 30 minutes once logged in, [imap] idle_timeout;
 * before, [imap] login_timeout) */
static unsigned session_autologout_seconds(const struct imap_session *s)
{
	return s->state == IMAP_STATE_NOT_AUTHENTICATED ? s->config->imap.login_timeout
		: s->config->imap.idle_timeout;
}

/* session_arm_timeout - the TLS handshake's timeout, else the autologout
 * timer, for reading and writing alike */
static void session_arm_timeout(struct imap_session *s)
{
	unsigned seconds = s->handshaking ? s->config->timeouts.tls_handshake
		: session_autologout_seconds(s);
	struct timeval tv = { .tv_sec = seconds, .tv_usec = 0 };
	bufferevent_set_timeouts(s->bev, &tv, &tv);
}

void imap_session_logged_in(struct imap_session *s)
{
	s->state = IMAP_STATE_AUTHENTICATED;
	if (!s->handshaking)
		session_arm_timeout(s);
}

/* imap_session_close - stop reading; free once the queued replies are written */
void imap_session_close(struct imap_session *s)
{
	if (s->closing || s->dead)
		return;
	s->closing = true;
	bufferevent_disable(s->bev, EV_READ);
	if (net_bufferevent_pending(s->bev) == 0)
		session_close_done(s);
}

void imap_session_bye(struct imap_session *s, const char *text)
{
	imap_reply_untagged(s, "BYE %s", text);
	imap_session_close(s);
}

/* session_close_done - the last reply is written: end TLS with a
 * close_notify, then free */
static void session_close_done(struct imap_session *s)
{
	if (s->tls_bev && !s->handshaking)
		net_tls_close_notify(s->tls_bev);
	session_free_later(s);
}

/* session_plain_drained_cb - the socket under TLS wrote: free if closing */
static void session_plain_drained_cb(struct evbuffer *buf,
				     const struct evbuffer_cb_info *info, void *arg)
{
	struct imap_session *s = arg;
	(void)buf;
	if (info->n_deleted > 0 && s->closing && !s->dead && net_bufferevent_pending(s->bev) == 0)
		session_close_done(s);
}

bool imap_session_offers_starttls(const struct imap_session *s)
{
	return s->server->tls && !s->tls && s->listener->role == LISTENER_ROLE_IMAP &&
		s->state == IMAP_STATE_NOT_AUTHENTICATED;
}

void imap_session_start_tls(struct imap_session *s)
{
	SSL *ssl = SSL_new(s->server->tls);
	struct bufferevent *tls_bev = ssl ? bufferevent_openssl_filter_new(
		s->server->base, s->bev, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE)
		: NULL;
	if (!tls_bev) {
		if (ssl)
			SSL_free(ssl);
		log_error("tls-failed", "session=%s error=\"cannot create TLS filter\"", s->sid);
		imap_session_close(s);
		return;
	}
	s->plain_bev = s->bev;
	s->plain_drain_cb = evbuffer_add_cb(bufferevent_get_output(s->plain_bev),
					    session_plain_drained_cb, s);
	/* the filter stops above this, so that the session's own output
	 * (and its back-pressure) reflects what the client has not read */
	bufferevent_setwatermark(s->plain_bev, EV_WRITE, 0, SESSION_OUTPUT_HIGH);
	s->bev = tls_bev;
	s->tls_bev = tls_bev;
	s->tls = true;
	s->handshaking = true;
	session_setup_bev(s);
}

void imap_session_start_compress(struct imap_session *s)
{
	struct bufferevent *under = s->bev;
	struct bufferevent *z = imap_compress_start(under);
	if (!z) {
		log_error("compress-failed", "session=%s error=\"cannot start DEFLATE\"", s->sid);
		imap_session_close(s);
		return;
	}
	if (s->plain_bev) {
		s->mid_bev = under;
	} else {
		s->plain_bev = under;
		s->plain_drain_cb = evbuffer_add_cb(bufferevent_get_output(s->plain_bev),
						    session_plain_drained_cb, s);
	}
	bufferevent_setwatermark(under, EV_WRITE, 0, SESSION_OUTPUT_HIGH);  /* as for TLS */
	s->bev = z;
	s->compressed = true;
	session_setup_bev(s);
}

/* imap_session_drain - shutdown: "* BYE" now, or once the running command
 * has answered (session_process_input) */
void imap_session_drain(struct imap_session *s)
{
	if (s->dead || s->closing)
		return;
	if (s->handshaking) {
		/* nothing can be said before the TLS handshake is done */
		session_free_later(s);
		return;
	}
	if (s->sasl_line) {
		/* the client owes us a SASL line: the login ends here */
		s->sasl_line = false;
		authd_login_free(&s->login);
		s->busy = false;
	}
	/* an IDLE never ends by itself (RFC 2177) */
	if (!s->busy || s->idle)
		imap_session_bye(s, "Server shutting down");
}

void imap_session_shutdown(struct imap_session *s)
{
	if (!s->dead && !s->closing && !s->handshaking) {
		evbuffer_add_printf(bufferevent_get_output(s->bev), "* BYE Server shutting down\r\n");
		/* best effort: one non-blocking write of the socket (a drain is
		 * the orderly way); under COMPRESS the filter has put the
		 * deflated octets in the socket's buffer already */
		if (!s->tls)
			net_bufferevent_write_now(s->plain_bev ? s->plain_bev : s->bev);
	}
	session_free(s);
}

/* session_free_later - mark dead, leave the table now, free from the loop
 * (STYLE: an object whose callback is running is freed later) */
static void session_free_later(struct imap_session *s)
{
	if (s->dead)
		return;
	s->dead = true;
	bufferevent_disable(s->bev, EV_READ | EV_WRITE);
	net_sessions_bury(s->server->sessions, &s->link);
}

static void table_drain(void *session)
{
	imap_session_drain(session);
}

static void table_shutdown(void *session)
{
	imap_session_shutdown(session);
}

static void table_free(void *session)
{
	session_free(session);
}

const struct net_session_ops imap_session_table_ops = {
	.drain = table_drain,
	.shutdown = table_shutdown,
	.free = table_free,
};

/* session_free - close the connection; the memory goes now, or when the
 * running pool job is done (its WORK may still use the session's view) */
static void session_free(struct imap_session *s)
{
	if (!s->dead)
		net_sessions_remove(s->server->sessions, &s->link);
	s->dead = true;
	session_disconnect(s);
	if (s->parked) {
		s->parked->free(s->parked);
		s->parked = NULL;
	}
	if (s->job) {
		s->orphan = true;  /* session_job_done frees it */
		return;
	}
	session_free_memory(s);
}

/* session_disconnect - what belongs to the connection: the socket, the
 * connection count, the events */
static void session_disconnect(struct imap_session *s)
{
	log_info("disconnect", "session=%s client=%s", s->sid, s->client);
	authd_login_free(&s->login);
	net_conn_limits_release(s->server->limits, (const struct sockaddr *)&s->addr);
	if (s->plain_drain_cb)
		evbuffer_remove_cb_entry(bufferevent_get_output(s->plain_bev), s->plain_drain_cb);
	s->plain_drain_cb = NULL;
	if (s->bev)
		bufferevent_free(s->bev);
	s->bev = NULL;
	s->mid_bev = NULL;
	s->plain_bev = NULL;
	s->tls_bev = NULL;
	if (s->resume_ev)
		event_free(s->resume_ev);
	s->resume_ev = NULL;
}

struct view_free_job {
	struct mailbox_view *view;
};

static void view_free_work(void *arg)
{
	struct view_free_job *job = arg;
	mailbox_view_free(&job->view);
}

static void view_free_done(void *arg)
{
	free(arg);
}

/* session_free_memory - the rest; a selected mailbox's view is freed on
 * the pool (it may write the index) */
static void session_free_memory(struct imap_session *s)
{
	imap_idle_free(s);  /* its watch goes before the view */
	if (s->view) {
		struct view_free_job *job = xcalloc(1, sizeof(*job));
		job->view = s->view;
		pool_submit(s->server->pool, view_free_work, view_free_done, job);
	}
	imap_reader_free(&s->reader);
	free(s->tag);
	free(s->account);
	free(s->mailbox_name);
	free(s->saved_uids);
	free(s);
}

/* ---- replies ---------------------------------------------------------------- */

/* session_line - PREFIX ("* ", "+ "), FMT, CRLF */
static void session_line(struct imap_session *s, const char *prefix, const char *fmt, va_list ap)
{
	struct evbuffer *out = bufferevent_get_output(s->bev);
	evbuffer_add(out, prefix, strlen(prefix));
	evbuffer_add_vprintf(out, fmt, ap);
	evbuffer_add(out, "\r\n", 2);
}

void imap_reply_untagged(struct imap_session *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	session_line(s, "* ", fmt, ap);
	va_end(ap);
}

void imap_reply_continue(struct imap_session *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	session_line(s, "+ ", fmt, ap);
	va_end(ap);
}

void imap_reply_buf(struct imap_session *s, const struct buf *out)
{
	evbuffer_add(bufferevent_get_output(s->bev), out->data, out->len);
}

/* session_tagged - the tagged reply that ends the running command; input
 * is read on from the loop (session_resume_cb) */
static void session_tagged(struct imap_session *s, enum imap_status status, const char *code,
			   const char *fmt, va_list ap)
{
	static const char *const names[] = { "OK", "NO", "BAD" };
	struct evbuffer *out = bufferevent_get_output(s->bev);
	evbuffer_add_printf(out, "%s %s ", s->tag ? s->tag : "*", names[status]);
	if (code)
		evbuffer_add_printf(out, "[%s] ", code);
	evbuffer_add_vprintf(out, fmt, ap);
	evbuffer_add(out, "\r\n", 2);
	free(s->tag);
	s->tag = NULL;
	s->busy = false;
	if (!s->processing && s->resume_ev)
		event_active(s->resume_ev, EV_TIMEOUT, 0);
}

void imap_reply_ok(struct imap_session *s, const char *code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	session_tagged(s, IMAP_OK, code, fmt, ap);
	va_end(ap);
}

void imap_reply_no(struct imap_session *s, const char *code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	session_tagged(s, IMAP_NO, code, fmt, ap);
	va_end(ap);
}

void imap_reply_bad(struct imap_session *s, const char *code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	session_tagged(s, IMAP_BAD, code, fmt, ap);
	va_end(ap);
	if (++s->errors >= s->config->limits.errors && !s->closing) {
		log_info("too-many-errors", "session=%s client=%s errors=%u", s->sid, s->client,
			 s->errors);
		imap_session_bye(s, "Too many invalid commands");
	}
}

/* ---- libevent callbacks ----------------------------------------------------- */

static void session_read_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	session_process_input(arg);
}

static void session_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	session_process_input(arg);
}

static void session_write_cb(struct bufferevent *bev, void *arg)
{
	struct imap_session *s = arg;
	(void)bev;
	if (s->dead)
		return;
	if (s->closing) {
		if (net_bufferevent_pending(s->bev) == 0)
			session_close_done(s);
		return;
	}
	/* output drained: a batch that waited for it goes on */
	if (s->parked) {
		struct imap_job *job = s->parked;
		s->parked = NULL;
		imap_session_async(s, job);
		return;
	}
	/* read on if back-pressure had stopped it, from the loop: under
	 * COMPRESS a filter calls this while a reply is being written, and
	 * the input must not run in the middle of it */
	if (!s->busy)
		imap_session_read_on(s);
}

static void session_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct imap_session *s = arg;
	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		/* bufferevent_openssl: the TLS handshake has completed */
		SSL *ssl = bufferevent_openssl_get_ssl(s->bev);
		if (ssl) {
			char info[160];
			net_tls_describe(ssl, info, sizeof(info));
			log_info("tls", "session=%s client=%s %s", s->sid, s->client, info);
		}
		s->handshaking = false;
		session_arm_timeout(s);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		if ((what & BEV_EVENT_READING) && s->busy && !s->idle && !s->sasl_line &&
		    !s->handshaking && !s->closing) {
			/* the client waits for an answer (a long FETCH it is
			 * reading): not inactive (RFC 9051 5.4); the write
			 * timeout guards a client that reads nothing */
			bufferevent_enable(s->bev, EV_READ);
			return;
		}
		if (s->handshaking || s->closing) {
			/* nothing can be said before the handshake; or the
			 * client does not read the last replies */
			log_info("timeout", "session=%s client=%s handshaking=%d", s->sid,
				 s->client, s->handshaking);
			session_free_later(s);
			return;
		}
		log_info("autologout", "session=%s client=%s seconds=%u", s->sid, s->client,
			 session_autologout_seconds(s));
		imap_session_bye(s, "Autologout; idle for too long");
		/* the write timeout still guards the final flush */
		bufferevent_enable(s->bev, EV_WRITE);
		return;
	}
	if (what & BEV_EVENT_ERROR) {
		unsigned long tls_err = s->tls ? bufferevent_get_openssl_error(s->bev) : 0;
		if (tls_err) {
			char detail[200];
			ERR_error_string_n(tls_err, detail, sizeof(detail));
			log_info("tls-failed", "session=%s client=%s error=\"%s\"", s->sid,
				 s->client, detail);
		} else {
			log_info("connection-error", "session=%s client=%s error=\"%s\"", s->sid,
				 s->client, strerror(errno));
		}
	}
	session_free_later(s);
}

/* ---- input ------------------------------------------------------------------ */

/* session_process_input - feed buffered input to the reader and run the
 * commands it completes, until input runs out or a command is running */
static void session_process_input(struct imap_session *s)
{
	if (s->idle && !s->dead && !s->closing && !s->processing) {
		/* IDLE reads its own input: only DONE may come (cmd-idle.c) */
		imap_idle_input(s);
		return;
	}
	if (s->dead || s->closing || (s->busy && !s->sasl_line) || s->processing)
		return;
	if (net_sessions_is_draining(s->server->sessions) && !s->handshaking && !s->busy) {
		/* shutting down: what came after the last answer waits for the
		 * next server */
		imap_session_bye(s, "Server shutting down");
		return;
	}
	s->processing = true;
	/* (s->bev changes under STARTTLS and COMPRESS: read its input anew) */
	struct evbuffer *in;
	while ((!s->busy || s->sasl_line) && !s->closing && !s->dead &&
	       evbuffer_get_length(in = bufferevent_get_input(s->bev)) > 0) {
		if (evbuffer_get_length(bufferevent_get_output(s->bev)) > SESSION_OUTPUT_HIGH)
			break;  /* resumed by session_write_cb once the client reads */
		if (s->sasl_line) {
			if (!session_sasl_line(s, in))
				break;
			continue;
		}
		struct evbuffer_iovec vec;
		if (evbuffer_peek(in, -1, NULL, &vec, 1) < 1)
			break;
		size_t used = 0;
		enum imap_read r = imap_reader_feed(s->reader, vec.iov_base, vec.iov_len, &used);
		evbuffer_drain(in, used);
		switch (r) {
		case IMAP_READ_MORE:
			break;
		case IMAP_READ_CONTINUE:
			/* RFC 9051 7.5: the client may send the literal */
			imap_reply_continue(s, "Ready for literal data");
			break;
		case IMAP_READ_COMMAND:
			session_command(s);
			break;
		case IMAP_READ_REFUSED:
			session_refused(s);
			break;
		}
	}
	s->processing = false;
}

/* session_sasl_line - AUTHENTICATE's client line (RFC 9051 6.2.2); false
 * if it is not complete yet */
static bool session_sasl_line(struct imap_session *s, struct evbuffer *in)
{
	size_t eol_len = 0;
	struct evbuffer_ptr eol = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_CRLF_STRICT);
	/* too long: the same end with or without its CRLF in sight */
	if (eol.pos < 0 ? evbuffer_get_length(in) > SASL_LINE_MAX
	    : (size_t)eol.pos > SASL_LINE_MAX) {
		s->sasl_line = false;
		authd_login_free(&s->login);
		imap_reply_bad(s, NULL, "Authentication line too long");
		imap_session_bye(s, "Authentication line too long");
		return false;
	}
	if (eol.pos < 0)
		return false;
	size_t len = (size_t)eol.pos;
	char *line = xmalloc(len + 1);
	evbuffer_remove(in, line, len);
	evbuffer_drain(in, eol_len);
	line[len] = '\0';
	imap_session_sasl_line(s, line, len);
	free(line);
	return true;
}

void imap_session_read_on(struct imap_session *s)
{
	if (!s->processing && s->resume_ev)
		event_active(s->resume_ev, EV_TIMEOUT, 0);
}

/* session_refused - the reader refused the command (too long, a literal
 * over the limit, a malformed literal announcement) */
static void session_refused(struct imap_session *s)
{
	const char *tag = imap_reader_tag(s->reader);
	const char *error = imap_reader_error(s->reader);
	s->tag = tag ? xstrdup(tag) : NULL;
	s->busy = true;
	if (imap_reader_too_big(s->reader))
		imap_reply_no(s, "TOOBIG", "%s", error);  /* RFC 4469 5, RFC 7889 */
	else
		imap_reply_bad(s, NULL, "%s", error);
	imap_reader_next(s->reader);
}

/* session_command - a complete command: parse it and run it */
static void session_command(struct imap_session *s)
{
	size_t len = 0;
	char *data = imap_reader_command(s->reader, &len);
	const struct imap_parse_limits limits = {
		.depth_max = IMAP_DEPTH_MAX_DEFAULT,
		.args_max = IMAP_ARGS_MAX_DEFAULT,
	};
	struct imap_command cmd;
	const char *tag = NULL, *error = NULL;
	s->busy = true;
	if (imap_command_parse(data, len, &limits, &cmd, &tag, &error) != 0) {
		s->tag = tag ? xstrdup(tag) : NULL;
		imap_reply_bad(s, NULL, "%s", error);
	} else {
		s->tag = xstrdup(cmd.tag);
		session_dispatch(s, &cmd);
		imap_command_free(&cmd);
	}
	imap_reader_next(s->reader);
}

/* session_dispatch - find CMD in the table (through UID for the commands
 * that take it, RFC 9051 6.4.9) and run it if the state allows */
static void session_dispatch(struct imap_session *s, const struct imap_command *cmd)
{
	struct imap_command sub = *cmd;
	bool uid = false;
	if (strcasecmp(cmd->name, "UID") == 0) {
		if (cmd->count == 0 || cmd->args[0].type != IMAP_ARG_ATOM) {
			imap_reply_bad(s, NULL, "UID needs a command");
			return;
		}
		uid = true;
		sub.name = cmd->args[0].data;
		sub.args = cmd->args + 1;
		sub.count = cmd->count - 1;
	}
	const struct imap_command_def *def = imap_command_find(sub.name);
	if (!def || (uid && !(def->flags & IMAP_CMD_UID))) {
		char name[64];
		log_escape(name, sizeof(name), sub.name, strlen(sub.name));
		log_debug("unknown-command", "session=%s name=%s uid=%d", s->sid, name, uid);
		imap_reply_bad(s, NULL, "Unknown command");
		return;
	}
	if (!(def->states & (1u << s->state))) {
		imap_reply_bad(s, NULL, "%s is not valid in this state", def->name);
		return;
	}
	def->handler(s, &sub, uid);
}

/* ---- work on the pool for a session --------------------------------------------- */

static void session_job_work(void *arg)
{
	struct imap_job *job = arg;
	job->work(job);
}

/* session_job_done - back on the loop: DONE unless the client went away;
 * a session freed meanwhile was kept for this moment */
static void session_job_done(void *arg)
{
	struct imap_job *job = arg;
	struct imap_session *s = job->session;
	s->job = NULL;
	if (!s->dead)
		job->done(s, job);
	job->free(job);
	if (s->orphan)
		session_free_memory(s);
}

void imap_session_async(struct imap_session *s, struct imap_job *job)
{
	job->session = s;
	s->job = job;
	pool_submit(s->server->pool, session_job_work, session_job_done, job);
}

void imap_session_async_written(struct imap_session *s, struct imap_job *job)
{
	if (net_bufferevent_pending(s->bev) < SESSION_OUTPUT_HIGH) {
		imap_session_async(s, job);
		return;
	}
	job->session = s;
	s->parked = job;
}

bool imap_session_is_loopback(const struct imap_session *s)
{
	const struct sockaddr *sa = (const struct sockaddr *)&s->addr;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
		return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
	}
	return false;
}
