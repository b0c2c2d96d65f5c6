/* smtp/session - one ESMTP server session over a libevent bufferevent.
 *
 * Input is processed in one of four modes: command lines, skipping the rest
 * of an overlong line, a DATA body (through the dot-unstuffing reader), or a
 * BDAT chunk (raw bytes).  While the queue is storing a message the session
 * is "waiting": it reads no further input until the queue answers, so
 * pipelined commands after DATA are answered in order (RFC 2920).  The
 * queue's answer finds the session by id; a session closed meanwhile is
 * simply not found.
 *
 * Only CRLF ends a line (RFC 5321 2.3.8); see docs/smtp.md for what happens
 * to bare CR and LF.
 */
#include "smtp/session.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>

#include "config/config.h"
#include "net/net.h"
#include "queue/queue.h"
#include "smtp/parse.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/xalloc.h"

/* Replies queued but not yet sent above this stop reading (back-pressure). */
#define SESSION_OUTPUT_HIGH (64u * 1024u)
/* Input read ahead of processing, at most (libevent read watermark). */
#define SESSION_INPUT_HIGH (256u * 1024u)

enum session_mode {
	MODE_COMMAND,
	MODE_SKIP_LINE,  /* discarding an overlong command line up to its CRLF */
	MODE_DATA,
	MODE_BDAT,
};

/* bare CR/LF, NUL and line-length findings on a BDAT body */
struct bdat_scan {
	bool prev_cr;
	size_t line_len;
	bool bare_lf, bare_cr, nul, line_too_long;
};

struct smtp_session {
	struct smtp_session *next;  /* server's table chain */
	struct smtp_server *server;
	const struct config *config;
	const struct config_listener *listener;
	uint64_t id;
	char sid[24];
	struct bufferevent *bev;
	struct bufferevent *plain_bev;   /* under a STARTTLS filter, else NULL */
	struct evbuffer_cb_entry *plain_drain_cb;
	struct sockaddr_storage addr;
	char client[64];

	enum session_mode mode;
	bool closing;     /* last reply queued; free once it is written */
	bool dead;        /* freed by the loop later */
	bool waiting;     /* the queue is storing our message */
	unsigned errors;

	char *helo;       /* NULL before HELO/EHLO */
	bool esmtp;
	bool tls;
	char tls_info[160];

	/* transaction */
	bool has_mail;
	struct smtp_path from;
	struct smtp_mail_params mail;
	struct queue_envelope *env;
	unsigned rcpt_tried;
	bool bdat_used;
	struct smtp_data_reader reader;
	struct buf body;
	uint64_t bdat_left;
	uint64_t bdat_size;            /* octets in the current chunk */
	bool bdat_last;
	bool bdat_discard;             /* consume the chunk, then reply the error */
	struct smtp_error bdat_error;
	struct bdat_scan scan;
};

struct session_command {
	enum smtp_verb verb;
	void (*handler)(struct smtp_session *s, const struct smtp_command *cmd);
};

static void session_read_cb(struct bufferevent *bev, void *arg);
static void session_write_cb(struct bufferevent *bev, void *arg);
static void session_event_cb(struct bufferevent *bev, short what, void *arg);
static void session_setup_bev(struct smtp_session *s);
static void session_process_input(struct smtp_session *s);
static bool session_read_command(struct smtp_session *s, struct evbuffer *in);
static bool session_skip_line(struct smtp_session *s, struct evbuffer *in);
static bool session_read_data(struct smtp_session *s, struct evbuffer *in);
static bool session_read_bdat(struct smtp_session *s, struct evbuffer *in);
static void session_dispatch(struct smtp_session *s, const struct smtp_command *cmd);
static void session_reply(struct smtp_session *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void session_reply_error(struct smtp_session *s, const struct smtp_error *err);
static void session_count_error(struct smtp_session *s);
static void session_close(struct smtp_session *s);
static void session_free_later(struct smtp_session *s);
static size_t session_pending_output(struct smtp_session *s);
static void session_plain_drained_cb(struct evbuffer *buf,
				     const struct evbuffer_cb_info *info, void *arg);
static void session_free(struct smtp_session *s);
static void session_set_timeout(struct smtp_session *s, unsigned seconds);
static void session_transaction_reset(struct smtp_session *s);
static void session_message_complete(struct smtp_session *s, bool too_big, bool nul,
				     bool line_too_long, bool bare_newline);
static void session_queue_done(void *ctx, int status, const char *queue_id,
			       const char *error);
static void session_received_header(struct smtp_session *s,
				    const struct queue_envelope *env, struct buf *out);
static bool helo_is_valid(const char *arg, size_t len);
static void session_set_helo(struct smtp_session *s, const struct smtp_command *cmd, bool esmtp);
static bool session_can_take_body(struct smtp_session *s);
static unsigned session_count_received(const struct buf *body);
static void bdat_scan_bytes(struct bdat_scan *scan, const char *p, size_t len, size_t max_line);

static void cmd_helo(struct smtp_session *s, const struct smtp_command *cmd);
static void cmd_ehlo(struct smtp_session *s, const struct smtp_command *cmd);
static void cmd_mail(struct smtp_session *s, const struct smtp_command *cmd);
static void cmd_rcpt(struct smtp_session *s, const struct smtp_command *cmd);
static void cmd_data(struct smtp_session *s, const struct smtp_command *cmd);
static void cmd_bdat(struct smtp_session *s, const struct smtp_command *cmd);
static void cmd_rset(struct smtp_session *s, const struct smtp_command *cmd);
static void cmd_noop(struct smtp_session *s, const struct smtp_command *cmd);
static void cmd_quit(struct smtp_session *s, const struct smtp_command *cmd);
static void cmd_vrfy(struct smtp_session *s, const struct smtp_command *cmd);
static void cmd_expn(struct smtp_session *s, const struct smtp_command *cmd);
static void cmd_help(struct smtp_session *s, const struct smtp_command *cmd);
static void cmd_starttls(struct smtp_session *s, const struct smtp_command *cmd);
static void cmd_auth(struct smtp_session *s, const struct smtp_command *cmd);

static const struct session_command session_commands[] = {
	{ SMTP_VERB_HELO, cmd_helo },
	{ SMTP_VERB_EHLO, cmd_ehlo },
	{ SMTP_VERB_MAIL, cmd_mail },
	{ SMTP_VERB_RCPT, cmd_rcpt },
	{ SMTP_VERB_DATA, cmd_data },
	{ SMTP_VERB_BDAT, cmd_bdat },
	{ SMTP_VERB_RSET, cmd_rset },
	{ SMTP_VERB_NOOP, cmd_noop },
	{ SMTP_VERB_QUIT, cmd_quit },
	{ SMTP_VERB_VRFY, cmd_vrfy },
	{ SMTP_VERB_EXPN, cmd_expn },
	{ SMTP_VERB_HELP, cmd_help },
	{ SMTP_VERB_STARTTLS, cmd_starttls },
	{ SMTP_VERB_AUTH, cmd_auth },
};

/* ---- life cycle ---------------------------------------------------------- */

uint64_t smtp_session_id(const struct smtp_session *s)
{
	return s->id;
}

struct smtp_session **smtp_session_next_link(struct smtp_session *s)
{
	return &s->next;
}

void smtp_session_start(struct smtp_server *server, const struct config_listener *listener,
			int fd, const struct sockaddr *sa, socklen_t salen)
{
	struct smtp_session *s = xcalloc(1, sizeof(*s));
	s->server = server;
	s->config = server->config;
	s->listener = listener;
	s->id = server->next_id++;
	snprintf(s->sid, sizeof(s->sid), "%llx", (unsigned long long)s->id);
	memcpy(&s->addr, sa, salen < sizeof(s->addr) ? salen : sizeof(s->addr));
	net_address_format(sa, s->client, sizeof(s->client));
	buf_init(&s->body);
	smtp_server_session_add(server, s);

	if (listener->role == LISTENER_ROLE_SUBMISSIONS) {
		/* RFC 8314 3.3: TLS first, then the greeting inside it. */
		SSL *ssl = SSL_new(server->tls);
		s->bev = bufferevent_openssl_socket_new(server->base, fd, ssl,
							BUFFEREVENT_SSL_ACCEPTING,
							BEV_OPT_CLOSE_ON_FREE);
		s->tls = true;
	} else {
		s->bev = bufferevent_socket_new(server->base, fd, BEV_OPT_CLOSE_ON_FREE);
	}
	if (!s->bev) {
		log_error("session-failed", "session=%s client=%s error=\"cannot create bufferevent\"",
			  s->sid, s->client);
		if (close(fd) != 0)
			log_warn("close-failed", "session=%s error=\"%s\"", s->sid, strerror(errno));
		net_conn_limits_release(server->limits, (const struct sockaddr *)&s->addr);
		smtp_server_session_remove(server, s);
		buf_free(&s->body);
		free(s);
		return;
	}
	session_setup_bev(s);
	log_info("connect", "session=%s client=%s listener=%s role=%s", s->sid, s->client,
		 listener->name, listener_role_name(listener->role));
	session_reply(s, "220 %s ESMTP Petrel", s->config->hostname);
}

/* session_setup_bev - callbacks, watermarks and timeouts for s->bev */
static void session_setup_bev(struct smtp_session *s)
{
	bufferevent_setcb(s->bev, session_read_cb, session_write_cb, session_event_cb, s);
	bufferevent_setwatermark(s->bev, EV_READ, 0, SESSION_INPUT_HIGH);
	if (s->tls)
		bufferevent_openssl_set_allow_dirty_shutdown(s->bev, 1);
	session_set_timeout(s, s->config->timeouts.command);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
}

static void session_set_timeout(struct smtp_session *s, unsigned seconds)
{
	struct timeval rtv = { .tv_sec = seconds, .tv_usec = 0 };
	struct timeval wtv = { .tv_sec = s->config->timeouts.command, .tv_usec = 0 };
	bufferevent_set_timeouts(s->bev, &rtv, &wtv);
}

void smtp_session_shutdown(struct smtp_session *s)
{
	if (!s->dead) {
		struct evbuffer *out = bufferevent_get_output(s->bev);
		evbuffer_add_printf(out, "421 4.3.2 %s Service shutting down\r\n",
				    s->config->hostname);
		/* Best effort: one non-blocking flush attempt of the socket. */
		if (!s->tls)
			evbuffer_write(out, bufferevent_getfd(s->bev));
	}
	session_free(s);
}

/* session_close - stop reading; free once the queued replies are written */
static void session_close(struct smtp_session *s)
{
	if (s->closing || s->dead)
		return;
	s->closing = true;
	bufferevent_disable(s->bev, EV_READ);
	if (session_pending_output(s) == 0)
		session_free_later(s);
}

/* session_pending_output - reply bytes not yet handed to the kernel; under a
 * STARTTLS filter the ciphertext waits in the plain socket's buffer too */
static size_t session_pending_output(struct smtp_session *s)
{
	size_t n = evbuffer_get_length(bufferevent_get_output(s->bev));
	if (s->plain_bev)
		n += evbuffer_get_length(bufferevent_get_output(s->plain_bev));
	return n;
}

/* session_plain_drained_cb - the socket under TLS wrote: free if closing */
static void session_plain_drained_cb(struct evbuffer *buf,
				     const struct evbuffer_cb_info *info, void *arg)
{
	struct smtp_session *s = arg;
	(void)buf;
	if (info->n_deleted > 0 && s->closing && session_pending_output(s) == 0)
		session_free_later(s);
}

/* session_free_later - mark dead, leave the table now, free from the loop
 * (STYLE: an object whose callback is running is freed later) */
static void session_free_later(struct smtp_session *s)
{
	if (s->dead)
		return;
	s->dead = true;
	smtp_server_session_remove(s->server, s);
	bufferevent_disable(s->bev, EV_READ | EV_WRITE);
	s->next = s->server->dead;
	s->server->dead = s;
	event_active(s->server->reaper, EV_TIMEOUT, 0);
}

void smtp_session_free_dead(struct smtp_server *server)
{
	while (server->dead) {
		struct smtp_session *s = server->dead;
		server->dead = s->next;
		session_free(s);
	}
}

/* session_free - release everything; the session must not be in a callback */
static void session_free(struct smtp_session *s)
{
	if (!s->dead)
		smtp_server_session_remove(s->server, s);
	log_info("disconnect", "session=%s client=%s", s->sid, s->client);
	net_conn_limits_release(s->server->limits, (const struct sockaddr *)&s->addr);
	session_transaction_reset(s);
	if (s->plain_drain_cb)
		evbuffer_remove_cb_entry(bufferevent_get_output(s->plain_bev), s->plain_drain_cb);
	bufferevent_free(s->bev);
	free(s->helo);
	buf_free(&s->body);
	free(s);
}

/* ---- replies ---------------------------------------------------------------- */

static void session_reply(struct smtp_session *s, const char *fmt, ...)
{
	struct evbuffer *out = bufferevent_get_output(s->bev);
	va_list ap;
	va_start(ap, fmt);
	evbuffer_add_vprintf(out, fmt, ap);
	va_end(ap);
	evbuffer_add(out, "\r\n", 2);
}

static void session_reply_error(struct smtp_session *s, const struct smtp_error *err)
{
	session_reply(s, "%d %s %s", err->code, err->enhanced, err->text);
	if (err->code >= 500)
		session_count_error(s);
}

/* session_count_error - RFC 5321 7.8 resistance: close after too many errors */
static void session_count_error(struct smtp_session *s)
{
	if (++s->errors < s->config->limits.errors)
		return;
	session_reply(s, "421 4.7.0 %s Too many errors, closing connection",
		      s->config->hostname);
	log_info("too-many-errors", "session=%s client=%s errors=%u", s->sid, s->client,
		 s->errors);
	session_close(s);
}

/* ---- libevent callbacks ---------------------------------------------------- */

static void session_read_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	session_process_input(arg);
}

static void session_write_cb(struct bufferevent *bev, void *arg)
{
	struct smtp_session *s = arg;
	(void)bev;
	if (s->closing) {
		if (session_pending_output(s) == 0)
			session_free_later(s);
		return;
	}
	/* Output drained: resume reading if back-pressure had stopped it. */
	if (!s->dead && !s->waiting)
		session_process_input(s);
}

static void session_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct smtp_session *s = arg;
	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		/* bufferevent_openssl: the TLS handshake has completed. */
		SSL *ssl = bufferevent_openssl_get_ssl(s->bev);
		if (ssl) {
			net_tls_describe(ssl, s->tls_info, sizeof(s->tls_info));
			log_info("tls", "session=%s client=%s %s", s->sid, s->client, s->tls_info);
		}
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		if (s->closing) {
			session_free_later(s);
			return;
		}
		log_info("timeout", "session=%s client=%s mode=%d", s->sid, s->client, s->mode);
		session_reply(s, "421 4.4.2 %s Timeout, closing connection", s->config->hostname);
		session_close(s);
		/* The write timeout still guards the final flush. */
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
	} else if (what & BEV_EVENT_EOF) {
		if (s->has_mail || s->mode == MODE_DATA || s->mode == MODE_BDAT)
			log_info("lost", "session=%s client=%s reason=\"disconnected in transaction\"",
				 s->sid, s->client);
	}
	session_free_later(s);
}

/* ---- input ------------------------------------------------------------------ */

/* session_process_input - handle buffered input until it runs out or we must wait */
static void session_process_input(struct smtp_session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	while (!s->waiting && !s->closing && !s->dead && evbuffer_get_length(in) > 0) {
		if (evbuffer_get_length(bufferevent_get_output(s->bev)) > SESSION_OUTPUT_HIGH)
			break; /* resumed by session_write_cb once the client reads */
		bool progressed = false;
		switch (s->mode) {
		case MODE_COMMAND:
			progressed = session_read_command(s, in);
			break;
		case MODE_SKIP_LINE:
			progressed = session_skip_line(s, in);
			break;
		case MODE_DATA:
			progressed = session_read_data(s, in);
			break;
		case MODE_BDAT:
			progressed = session_read_bdat(s, in);
			break;
		}
		if (!progressed)
			break;
	}
}

/* session_read_command - one command line; false if it is incomplete */
static bool session_read_command(struct smtp_session *s, struct evbuffer *in)
{
	size_t max = s->config->limits.command_line;
	size_t avail = evbuffer_get_length(in);
	size_t want = avail < max + 1 ? avail : max + 1;
	const char *data = (const char *)evbuffer_pullup(in, (ev_ssize_t)want);
	size_t line_len = 0, consumed = 0;
	unsigned flags = 0;
	enum smtp_line_status st = smtp_line_find(data, want, max, &line_len, &consumed, &flags);
	if (st == SMTP_LINE_NEED_MORE)
		return false;
	if (st == SMTP_LINE_TOO_LONG || consumed > max) {
		s->mode = MODE_SKIP_LINE;
		return true;
	}
	if (flags & (SMTP_LINE_BARE_LF | SMTP_LINE_BARE_CR)) {
		evbuffer_drain(in, consumed);
		session_reply(s, "500 5.5.2 Bare CR or LF in command line (only CRLF ends a line)");
		session_count_error(s);
		return true;
	}
	/* Copy the line: handlers may drain the buffer (BDAT, STARTTLS checks). */
	char line[1024];
	char *copy = line_len < sizeof(line) ? line : xmalloc(line_len + 1);
	memcpy(copy, data, line_len);
	copy[line_len] = '\0';
	evbuffer_drain(in, consumed);

	struct smtp_command cmd;
	struct smtp_error err;
	if (flags & SMTP_LINE_NUL) {
		session_reply(s, "500 5.5.2 NUL character in command line");
		session_count_error(s);
	} else if (smtp_command_parse(copy, line_len, &cmd, &err) != 0) {
		session_reply_error(s, &err);
	} else {
		session_dispatch(s, &cmd);
	}
	if (copy != line)
		free(copy);
	return true;
}

/* session_skip_line - drop an overlong command line, then reply once */
static bool session_skip_line(struct smtp_session *s, struct evbuffer *in)
{
	size_t avail = evbuffer_get_length(in);
	size_t want = avail < 4096 ? avail : 4096;
	const char *data = (const char *)evbuffer_pullup(in, (ev_ssize_t)want);
	size_t consumed = 0;
	bool found = smtp_line_skip(data, want, &consumed);
	evbuffer_drain(in, consumed);
	if (found) {
		s->mode = MODE_COMMAND;
		/* RFC 5321 4.5.3.1.4 */
		session_reply(s, "500 5.5.2 Line too long (limit %zu octets)",
			      s->config->limits.command_line);
		session_count_error(s);
	}
	return consumed > 0;
}

/* session_read_data - feed DATA bytes to the unstuffing reader */
static bool session_read_data(struct smtp_session *s, struct evbuffer *in)
{
	struct evbuffer_iovec vec[8];
	int n = evbuffer_peek(in, -1, NULL, vec, 8);
	if (n > 8)
		n = 8;
	size_t total = 0;
	for (int i = 0; i < n; i++) {
		size_t consumed = 0;
		int done = smtp_data_feed(&s->reader, vec[i].iov_base, vec[i].iov_len,
					  &consumed, &s->body);
		total += consumed;
		if (done == 1) {
			evbuffer_drain(in, total);
			s->mode = MODE_COMMAND;
			session_set_timeout(s, s->config->timeouts.command);
			session_message_complete(s, s->reader.too_big, s->reader.nul,
						 s->reader.line_too_long,
						 s->reader.bare_lf || s->reader.bare_cr);
			return true;
		}
	}
	evbuffer_drain(in, total);
	return total > 0;
}

/* bdat_scan_bytes - the checks the DATA reader makes, for raw BDAT bytes */
static void bdat_scan_bytes(struct bdat_scan *scan, const char *p, size_t len, size_t max_line)
{
	for (size_t i = 0; i < len; i++) {
		char c = p[i];
		if (scan->prev_cr && c != '\n')
			scan->bare_cr = true;
		if (c == '\n' && !scan->prev_cr)
			scan->bare_lf = true;
		if (c == '\0')
			scan->nul = true;
		if (c == '\n' && scan->prev_cr) {
			scan->line_len = 0;
		} else if (++scan->line_len + 1 > max_line) {
			scan->line_too_long = true;
		}
		scan->prev_cr = c == '\r';
	}
}

/* session_read_bdat - take raw chunk bytes (RFC 3030 2: no dot-stuffing) */
static bool session_read_bdat(struct smtp_session *s, struct evbuffer *in)
{
	size_t avail = evbuffer_get_length(in);
	size_t take = s->bdat_left < avail ? (size_t)s->bdat_left : avail;
	if (take == 0)
		return false;
	if (!s->bdat_discard) {
		size_t max = s->config->limits.message_size;
		if (s->body.len + take > max) {
			s->bdat_discard = true;
			s->bdat_error = (struct smtp_error){ 552, "5.3.4",
				"Message size exceeds fixed maximum message size" };
		}
	}
	while (take > 0) {
		struct evbuffer_iovec vec;
		if (evbuffer_peek(in, (ev_ssize_t)take, NULL, &vec, 1) < 1)
			break;
		size_t n = vec.iov_len < take ? vec.iov_len : take;
		if (!s->bdat_discard) {
			bdat_scan_bytes(&s->scan, vec.iov_base, n, s->config->limits.text_line);
			buf_append(&s->body, vec.iov_base, n);
		}
		evbuffer_drain(in, n);
		s->bdat_left -= n;
		take -= n;
	}
	if (s->bdat_left > 0)
		return true;

	/* The whole chunk is in. */
	s->mode = MODE_COMMAND;
	session_set_timeout(s, s->config->timeouts.command);
	if (s->bdat_discard) {
		session_reply_error(s, &s->bdat_error);
		session_transaction_reset(s);
		return true;
	}
	if (!s->bdat_last) {
		session_reply(s, "250 2.0.0 %llu octets received",
			      (unsigned long long)s->bdat_size);
		return true;
	}
	bool bare = s->scan.bare_lf || s->scan.bare_cr || (s->scan.prev_cr);
	session_message_complete(s, false, s->scan.nul, s->scan.line_too_long, bare);
	return true;
}

/* ---- commands ----------------------------------------------------------------- */

static void session_dispatch(struct smtp_session *s, const struct smtp_command *cmd)
{
	for (size_t i = 0; i < sizeof(session_commands) / sizeof(session_commands[0]); i++) {
		if (session_commands[i].verb == cmd->verb) {
			session_commands[i].handler(s, cmd);
			return;
		}
	}
	char name[64];
	log_escape(name, sizeof(name), cmd->name, cmd->name_len);
	log_debug("unknown-command", "session=%s verb=%s", s->sid, name);
	session_reply(s, "500 5.5.1 Command unrecognized");
	session_count_error(s);
}

/* session_transaction_reset - forget MAIL, RCPTs and any body (RSET, RFC 5321 4.1.1.5) */
static void session_transaction_reset(struct smtp_session *s)
{
	s->has_mail = false;
	smtp_path_clear(&s->from);
	smtp_mail_params_clear(&s->mail);
	queue_envelope_free(&s->env);
	s->rcpt_tried = 0;
	s->bdat_used = false;
	s->bdat_discard = false;
	memset(&s->scan, 0, sizeof(s->scan));
	/* A big body's memory is returned; a small one is kept for reuse. */
	if (s->body.cap > 65536)
		buf_free(&s->body);
	else
		buf_reset(&s->body);
}

/* helo_is_valid - a domain or address literal: printable ASCII, no spaces */
static bool helo_is_valid(const char *arg, size_t len)
{
	bool ok = len > 0 && len <= 255;
	for (size_t i = 0; ok && i < len; i++) {
		unsigned char c = (unsigned char)arg[i];
		if (c <= 0x20 || c >= 0x7f)
			ok = false;
	}
	return ok;
}

static void session_set_helo(struct smtp_session *s, const struct smtp_command *cmd, bool esmtp)
{
	session_transaction_reset(s); /* RFC 5321 4.1.4: HELO/EHLO implies RSET */
	free(s->helo);
	s->helo = xstrndup(cmd->args, cmd->args_len);
	s->esmtp = esmtp;
}

static void cmd_helo(struct smtp_session *s, const struct smtp_command *cmd)
{
	if (!helo_is_valid(cmd->args, cmd->args_len)) {
		session_reply(s, "501 5.5.4 Syntax: HELO hostname");
		session_count_error(s);
		return;
	}
	session_set_helo(s, cmd, false);
	session_reply(s, "250 %s", s->config->hostname);
}

static void cmd_ehlo(struct smtp_session *s, const struct smtp_command *cmd)
{
	if (!helo_is_valid(cmd->args, cmd->args_len)) {
		session_reply(s, "501 5.5.4 Syntax: EHLO hostname");
		session_count_error(s);
		return;
	}
	session_set_helo(s, cmd, true);
	struct evbuffer *out = bufferevent_get_output(s->bev);
	evbuffer_add_printf(out, "250-%s Hello %s [%s]\r\n", s->config->hostname, s->helo,
			    s->client);
	evbuffer_add_printf(out, "250-PIPELINING\r\n");
	evbuffer_add_printf(out, "250-SIZE %zu\r\n", s->config->limits.message_size);
	evbuffer_add_printf(out, "250-8BITMIME\r\n");
	evbuffer_add_printf(out, "250-SMTPUTF8\r\n");
	evbuffer_add_printf(out, "250-ENHANCEDSTATUSCODES\r\n");
	evbuffer_add_printf(out, "250-CHUNKING\r\n");
	if (s->server->tls && !s->tls)
		evbuffer_add_printf(out, "250-STARTTLS\r\n");
	evbuffer_add_printf(out, "250 DSN\r\n");
}

static void cmd_mail(struct smtp_session *s, const struct smtp_command *cmd)
{
	if (!s->helo) {
		session_reply(s, "503 5.5.1 Send EHLO or HELO first");
		session_count_error(s);
		return;
	}
	if (s->has_mail) {
		session_reply(s, "503 5.5.1 Nested MAIL command");
		session_count_error(s);
		return;
	}
	struct smtp_error err;
	struct smtp_path path = { 0 };
	struct smtp_mail_params params = { 0 };
	if (smtp_mail_args_parse(cmd->args, cmd->args_len, &path, &params, &err) != 0) {
		session_reply_error(s, &err);
		return;
	}
	if (!s->esmtp && (params.size || params.body || params.smtputf8 || params.ret ||
			  params.envid || params.auth)) {
		/* RFC 5321 4.1.1.11: parameters need EHLO. */
		smtp_path_clear(&path);
		smtp_mail_params_clear(&params);
		session_reply(s, "555 5.5.4 MAIL parameters require EHLO");
		session_count_error(s);
		return;
	}
	if (params.size > s->config->limits.message_size) {
		smtp_path_clear(&path);
		smtp_mail_params_clear(&params);
		/* RFC 1870 6.1 */
		session_reply(s, "552 5.3.4 Message size exceeds fixed maximum message size");
		return;
	}
	s->from = path;
	s->mail = params;
	s->has_mail = true;
	s->env = queue_envelope_new();
	free(s->env->sender);
	s->env->sender = xstrdup(path.address);
	session_reply(s, "250 2.1.0 Ok");
}

static void cmd_rcpt(struct smtp_session *s, const struct smtp_command *cmd)
{
	if (!s->has_mail) {
		session_reply(s, "503 5.5.1 Need MAIL before RCPT");
		session_count_error(s);
		return;
	}
	if (s->bdat_used) {
		session_reply(s, "503 5.5.1 RCPT after BDAT");
		session_count_error(s);
		return;
	}
	s->rcpt_tried++;
	struct smtp_error err;
	struct smtp_path path = { 0 };
	struct smtp_rcpt_params params = { 0 };
	if (smtp_rcpt_args_parse(cmd->args, cmd->args_len, s->mail.smtputf8, &path, &params,
				 &err) != 0) {
		session_reply_error(s, &err);
		return;
	}
	char *address = NULL;
	if (path.domain[0] == '\0') {
		/* <Postmaster> (RFC 5321 4.5.1): the first local domain's postmaster */
		if (s->config->local_domain_count > 0)
			address = xasprintf("postmaster@%s", s->config->local_domains[0]);
	} else if (config_is_local_domain(s->config, path.domain)) {
		address = xstrdup(path.address);
	}
	if (!address) {
		char to[300];
		log_escape(to, sizeof(to), path.address, strlen(path.address));
		log_info("rejected", "session=%s client=%s to=%s code=554 reason=relay-denied",
			 s->sid, s->client, to);
		session_reply(s, "554 5.7.1 <%s>: Relaying denied", path.address);
		smtp_path_clear(&path);
		smtp_rcpt_params_clear(&params);
		session_count_error(s);
		return;
	}
	if (s->env->rcpt_count >= s->config->limits.recipients) {
		/* RFC 5321 4.5.3.1.10: 452, and the client sends the rest later. */
		session_reply(s, "452 4.5.3 Too many recipients");
	} else {
		queue_envelope_add_rcpt(s->env, address, params.notify, params.orcpt);
		session_reply(s, "250 2.1.5 Ok");
	}
	free(address);
	smtp_path_clear(&path);
	smtp_rcpt_params_clear(&params);
}

/* session_can_take_body - the checks DATA and BDAT share; replies on failure */
static bool session_can_take_body(struct smtp_session *s)
{
	if (!s->has_mail) {
		session_reply(s, "503 5.5.1 Need MAIL command");
		session_count_error(s);
		return false;
	}
	if (s->env->rcpt_count == 0) {
		if (s->rcpt_tried > 0)
			session_reply(s, "554 5.5.1 No valid recipients");
		else
			session_reply(s, "503 5.5.1 Need RCPT command");
		session_count_error(s);
		return false;
	}
	return true;
}

static void cmd_data(struct smtp_session *s, const struct smtp_command *cmd)
{
	if (cmd->args_len > 0) {
		session_reply(s, "501 5.5.4 Syntax: DATA");
		session_count_error(s);
		return;
	}
	if (s->bdat_used) {
		/* RFC 3030 2: DATA and BDAT may not be mixed in one transaction. */
		session_reply(s, "503 5.5.1 DATA not allowed after BDAT");
		session_count_error(s);
		return;
	}
	if (!session_can_take_body(s))
		return;
	smtp_data_reader_init(&s->reader, s->config->limits.message_size,
			      s->config->limits.text_line);
	buf_reset(&s->body);
	s->mode = MODE_DATA;
	session_set_timeout(s, s->config->timeouts.data_block);
	session_reply(s, "354 End data with <CR><LF>.<CR><LF>");
}

static void cmd_bdat(struct smtp_session *s, const struct smtp_command *cmd)
{
	uint64_t size = 0;
	bool last = false;
	struct smtp_error err;
	if (smtp_bdat_args_parse(cmd->args, cmd->args_len, &size, &last, &err) != 0) {
		/* Without a size the chunk cannot be skipped: the stream is lost. */
		session_reply_error(s, &err);
		session_reply(s, "421 4.5.0 %s Unparseable BDAT size, closing connection",
			      s->config->hostname);
		session_close(s);
		return;
	}
	s->bdat_left = size;
	s->bdat_size = size;
	s->bdat_last = last;
	s->bdat_discard = false;
	if (!s->has_mail) {
		s->bdat_discard = true;
		s->bdat_error = (struct smtp_error){ 503, "5.5.1", "Need MAIL command" };
	} else if (s->env->rcpt_count == 0) {
		s->bdat_discard = true;
		s->bdat_error = s->rcpt_tried ?
			(struct smtp_error){ 554, "5.5.1", "No valid recipients" } :
			(struct smtp_error){ 503, "5.5.1", "Need RCPT command" };
	}
	if (!s->bdat_discard)
		s->bdat_used = true;
	s->mode = MODE_BDAT;
	session_set_timeout(s, s->config->timeouts.data_block);
	if (size == 0) {
		/* A zero-length chunk is complete at once. */
		s->mode = MODE_COMMAND;
		session_set_timeout(s, s->config->timeouts.command);
		if (s->bdat_discard) {
			session_reply_error(s, &s->bdat_error);
			session_transaction_reset(s);
		} else if (!last) {
			session_reply(s, "250 2.0.0 0 octets received");
		} else {
			session_message_complete(s, false, s->scan.nul, s->scan.line_too_long,
						 s->scan.bare_lf || s->scan.bare_cr || s->scan.prev_cr);
		}
	}
}

static void cmd_rset(struct smtp_session *s, const struct smtp_command *cmd)
{
	(void)cmd;
	session_transaction_reset(s);
	session_reply(s, "250 2.0.0 Ok");
}

static void cmd_noop(struct smtp_session *s, const struct smtp_command *cmd)
{
	(void)cmd;
	session_reply(s, "250 2.0.0 Ok");
}

static void cmd_quit(struct smtp_session *s, const struct smtp_command *cmd)
{
	(void)cmd;
	session_reply(s, "221 2.0.0 %s Bye", s->config->hostname);
	session_close(s);
}

static void cmd_vrfy(struct smtp_session *s, const struct smtp_command *cmd)
{
	(void)cmd;
	/* RFC 5321 3.5.3: 252 when the server will not verify. */
	session_reply(s, "252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery");
}

static void cmd_expn(struct smtp_session *s, const struct smtp_command *cmd)
{
	(void)cmd;
	session_reply(s, "502 5.5.1 EXPN not supported");
}

static void cmd_help(struct smtp_session *s, const struct smtp_command *cmd)
{
	(void)cmd;
	session_reply(s, "214-2.0.0 Commands supported:");
	session_reply(s, "214-2.0.0   EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP%s",
		      s->server->tls && !s->tls ? " STARTTLS" : "");
	session_reply(s, "214 2.0.0 See RFC 5321");
}

static void cmd_auth(struct smtp_session *s, const struct smtp_command *cmd)
{
	(void)cmd;
	session_reply(s, "502 5.5.1 AUTH not available");
	session_count_error(s);
}

static void cmd_starttls(struct smtp_session *s, const struct smtp_command *cmd)
{
	if (cmd->args_len > 0) {
		session_reply(s, "501 5.5.4 Syntax: STARTTLS");
		session_count_error(s);
		return;
	}
	if (s->tls) {
		session_reply(s, "503 5.5.1 TLS already active");
		session_count_error(s);
		return;
	}
	if (!s->server->tls) {
		session_reply(s, "502 5.5.1 STARTTLS not available");
		session_count_error(s);
		return;
	}
	if (evbuffer_get_length(bufferevent_get_input(s->bev)) > 0) {
		/* CVE-2011-0411 class: plaintext sent after STARTTLS must never be
		 * read as if it came over TLS.  Refuse and close. */
		log_info("rejected", "session=%s client=%s reason=pipelined-after-starttls",
			 s->sid, s->client);
		session_reply(s, "554 5.5.1 Commands pipelined after STARTTLS are refused");
		session_close(s);
		return;
	}
	session_reply(s, "220 2.0.0 Ready to start TLS");
	SSL *ssl = SSL_new(s->server->tls);
	struct bufferevent *tls_bev = bufferevent_openssl_filter_new(
		s->server->base, s->bev, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (!tls_bev) {
		SSL_free(ssl);
		log_error("tls-failed", "session=%s error=\"cannot create TLS filter\"", s->sid);
		session_close(s);
		return;
	}
	s->plain_bev = s->bev;
	s->plain_drain_cb = evbuffer_add_cb(bufferevent_get_output(s->plain_bev),
					    session_plain_drained_cb, s);
	s->bev = tls_bev;
	s->tls = true;
	/* RFC 3207 4.2: forget everything learnt before TLS, EHLO again. */
	session_transaction_reset(s);
	free(s->helo);
	s->helo = NULL;
	s->esmtp = false;
	session_setup_bev(s);
}

/* ---- end of a message ----------------------------------------------------------- */

/* session_count_received - Received: header fields in the header section */
static unsigned session_count_received(const struct buf *body)
{
	unsigned count = 0;
	const char *p = body->data;
	const char *end = body->data + body->len;
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		size_t len = eol ? (size_t)(eol - p) : (size_t)(end - p);
		if (len == 0 || (len == 1 && p[0] == '\r'))
			break; /* end of the header section */
		if (len >= 9 && strncasecmp(p, "Received:", 9) == 0)
			count++;
		if (!eol)
			break;
		p = eol + 1;
	}
	return count;
}

/* session_message_complete - the body is in: check it, then queue it */
static void session_message_complete(struct smtp_session *s, bool too_big, bool nul,
				     bool line_too_long, bool bare_newline)
{
	const char *reject = NULL;
	if (too_big)
		reject = "552 5.3.4 Message size exceeds fixed maximum message size";
	else if (bare_newline && s->config->limits.bare_newline == BARE_NEWLINE_REJECT)
		reject = "550 5.5.2 Message contains bare CR or LF (only CRLF may end a line)";
	else if (nul)
		reject = "554 5.6.0 Message contains NUL characters";
	else if (line_too_long)
		reject = "554 5.6.0 Message contains a line longer than the limit (RFC 5321 4.5.3.1.6)";
	else if (session_count_received(&s->body) >= s->config->limits.received_headers)
		reject = "554 5.4.6 Too many Received headers: mail loop detected";
	if (reject) {
		log_info("rejected", "session=%s client=%s size=%zu reply=\"%.3s\" reason=\"%s\"",
			 s->sid, s->client, s->body.len, reject, reject + 10);
		session_reply(s, "%s", reject);
		session_count_error(s);
		session_transaction_reset(s);
		return;
	}

	struct queue_envelope *env = s->env;
	s->env = NULL;
	queue_id_new(env->id);
	env->arrival = time(NULL);
	env->body = (int)s->mail.body;
	env->smtputf8 = s->mail.smtputf8;
	env->ret = (int)s->mail.ret;
	env->envid = s->mail.envid ? xstrdup(s->mail.envid) : NULL;
	env->client_address = xstrdup(s->client);
	env->helo = xstrdup(s->helo ? s->helo : "");
	env->listener = xstrdup(s->listener->name);

	struct buf message;
	buf_init(&message);
	session_received_header(s, env, &message);
	buf_append(&message, s->body.data, s->body.len);
	env->size = message.len;
	log_info("received", "session=%s queue_id=%s size=%zu nrcpt=%zu", s->sid, env->id,
		 message.len, env->rcpt_count);

	uint64_t *ctx = xmalloc(2 * sizeof(*ctx));
	ctx[0] = s->id;
	ctx[1] = (uint64_t)(uintptr_t)s->server;
	s->waiting = true;
	session_transaction_reset(s);
	queue_submit(s->server->queue, env, &message, session_queue_done, ctx);
	buf_free(&message);
}

/* session_queue_done - the queue's answer; the session may be gone */
static void session_queue_done(void *arg, int status, const char *queue_id, const char *error)
{
	uint64_t *ctx = arg;
	struct smtp_server *server = (struct smtp_server *)(uintptr_t)ctx[1];
	struct smtp_session *s = smtp_server_session_find(server, ctx[0]);
	free(ctx);
	if (status == 0)
		log_info("queued", "session=%s queue_id=%s", s ? s->sid : "closed", queue_id);
	else
		log_warn("queue-failed", "session=%s error=\"%s\"", s ? s->sid : "closed", error);
	if (!s || s->dead)
		return;
	s->waiting = false;
	if (status == 0)
		session_reply(s, "250 2.0.0 Ok: queued as %s", queue_id);
	else if (error && strstr(error, "storage"))
		session_reply(s, "452 4.3.1 Insufficient system storage");
	else
		session_reply(s, "451 4.3.0 Temporary failure storing the message, try again later");
	session_process_input(s);
}

/* session_received_header - RFC 5321 4.4 trace field, RFC 3848 protocol names */
static void session_received_header(struct smtp_session *s,
				    const struct queue_envelope *env, struct buf *out)
{
	const char *proto;
	if (!s->esmtp)
		proto = "SMTP";
	else if (s->mail.smtputf8)
		proto = s->tls ? "UTF8SMTPS" : "UTF8SMTP";
	else
		proto = s->tls ? "ESMTPS" : "ESMTP";

	char date[64];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);

	buf_printf(out, "Received: from %s ([%s])\r\n\tby %s (Petrel) with %s id %s",
		   s->helo ? s->helo : "unknown", s->client, s->config->hostname, proto, env->id);
	if (s->tls && s->tls_info[0])
		buf_printf(out, "\r\n\t(%s)", s->tls_info);
	if (env->rcpt_count == 1)
		buf_printf(out, "\r\n\tfor <%s>", env->rcpts[0].address);
	buf_printf(out, ";\r\n\t%s\r\n", date);
}
