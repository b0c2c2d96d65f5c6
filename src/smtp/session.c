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

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
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

#include "authd/sasl.h"
#include "config/config.h"
#include "net/net.h"
#include "net/proxy.h"
#include "policy/policy.h"
#include "queue/queue.h"
#include "store/store.h"
#include "smtp/parse.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/pool.h"
#include "util/xalloc.h"

/* Replies queued but not yet sent above this stop reading (back-pressure). */
#define SESSION_OUTPUT_HIGH (64u * 1024u)
/* Input read ahead of processing, at most (libevent read watermark). */
#define SESSION_INPUT_HIGH (256u * 1024u)

struct session_command {
	enum smtp_verb verb;
	void (*handler)(struct smtp_session *s, const struct smtp_command *cmd);
};

static void session_read_cb(struct bufferevent *bev, void *arg);
static void session_write_cb(struct bufferevent *bev, void *arg);
static void session_event_cb(struct bufferevent *bev, short what, void *arg);
static void session_setup_bev(struct smtp_session *s);
static void session_arm_timeout(struct smtp_session *s);
static void session_trust_local_user(struct smtp_session *s, int fd);
static bool session_read_command(struct smtp_session *s, struct evbuffer *in);
static bool session_skip_line(struct smtp_session *s, struct evbuffer *in);
static void session_dispatch(struct smtp_session *s, const struct smtp_command *cmd);
static void session_drain_reply(struct smtp_session *s);
static void session_free(struct smtp_session *s);
static void session_drain(void *session);
static void session_shutdown(void *session);
static void session_output_added_cb(struct evbuffer *buf,
				    const struct evbuffer_cb_info *info, void *arg);
static void session_flush_cb(evutil_socket_t fd, short what, void *arg);
static void session_direct_writes_stop(struct smtp_session *s);
static bool helo_is_valid(const char *arg, size_t len);
static bool session_offers_starttls(const struct smtp_session *s);
static void session_set_helo(struct smtp_session *s, const struct smtp_command *cmd, bool esmtp);

static void cmd_helo(struct smtp_session *s, const struct smtp_command *cmd);
static void cmd_ehlo(struct smtp_session *s, const struct smtp_command *cmd);
static void cmd_rset(struct smtp_session *s, const struct smtp_command *cmd);
static void cmd_noop(struct smtp_session *s, const struct smtp_command *cmd);
static void cmd_quit(struct smtp_session *s, const struct smtp_command *cmd);
static void cmd_vrfy(struct smtp_session *s, const struct smtp_command *cmd);
static void cmd_expn(struct smtp_session *s, const struct smtp_command *cmd);
static void cmd_help(struct smtp_session *s, const struct smtp_command *cmd);
static void cmd_starttls(struct smtp_session *s, const struct smtp_command *cmd);

static const struct session_command session_commands[] = {
	{ SMTP_VERB_HELO, cmd_helo },
	{ SMTP_VERB_EHLO, cmd_ehlo },
	{ SMTP_VERB_MAIL, smtp_cmd_mail },
	{ SMTP_VERB_RCPT, smtp_cmd_rcpt },
	{ SMTP_VERB_DATA, smtp_cmd_data },
	{ SMTP_VERB_BDAT, smtp_cmd_bdat },
	{ SMTP_VERB_RSET, cmd_rset },
	{ SMTP_VERB_NOOP, cmd_noop },
	{ SMTP_VERB_QUIT, cmd_quit },
	{ SMTP_VERB_VRFY, cmd_vrfy },
	{ SMTP_VERB_EXPN, cmd_expn },
	{ SMTP_VERB_HELP, cmd_help },
	{ SMTP_VERB_STARTTLS, cmd_starttls },
	{ SMTP_VERB_AUTH, smtp_cmd_auth },
};

/* ---- life cycle ---------------------------------------------------------- */


void smtp_session_start(struct smtp_server *server, const struct config_listener *listener,
			int fd, const struct sockaddr *sa, socklen_t salen)
{
	struct smtp_session *s = xcalloc(1, sizeof(*s));
	s->server = server;
	s->config = server->config;
	s->listener = listener;
	s->id = net_conn_init(&s->conn, server->sessions, NULL, s, s->sid, s->client);
	snprintf(s->sid, sizeof(s->sid), "%llx", (unsigned long long)s->id);
	memcpy(&s->addr, sa, salen < sizeof(s->addr) ? salen : sizeof(s->addr));
	net_address_format(sa, s->client, sizeof(s->client));
	buf_init(&s->body);

	/* RFC 8314 3.3: submissions is TLS first, then the greeting inside it */
	bool tls = listener->role == LISTENER_ROLE_SUBMISSIONS;
	net_conn_open(&s->conn, server->base, fd, tls ? server->tls : NULL);
	if (!tls && s->conn.bev) {
		s->flush_ev = event_new(server->base, -1, 0, session_flush_cb, s);
		s->flush_cb = evbuffer_add_cb(bufferevent_get_output(s->conn.bev),
					      session_output_added_cb, s);
	}
	if (!s->conn.bev) {
		log_error("session-failed", "session=%s client=%s error=\"cannot create bufferevent\"",
			  s->sid, s->client);
		if (close(fd) != 0)
			log_warn("close-failed", "session=%s error=\"%s\"", s->sid, strerror(errno));
		net_conn_limits_release(server->limits, (const struct sockaddr *)&s->addr);
		net_sessions_remove(server->sessions, &s->conn.link);
		buf_free(&s->body);
		free(s);
		return;
	}
	session_setup_bev(s);
	if (listener->role == LISTENER_ROLE_LOCAL)
		session_trust_local_user(s, fd);
	log_info("connect", "session=%s client=%s listener=%s role=%s", s->sid, s->client,
		 listener->name, listener_role_name(listener->role));
	smtp_checks_connect(s);
	smtp_session_reply(s, "220 %s ESMTP Petrel", s->config->hostname);
}

/* session_trust_local_user - the sendmail socket: the local user (by the
 * kernel's SO_PEERCRED) is trusted like an authenticated account */
static void session_trust_local_user(struct smtp_session *s, int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
		cred.uid = (uid_t)-1;
	s->account = xcalloc(1, sizeof(*s->account));
	s->account->name = xasprintf("uid:%ld", (long)(int)cred.uid);
	s->account->trusted = true;
	snprintf(s->client, sizeof(s->client), "local uid=%ld", (long)(int)cred.uid);
}

/* session_setup_bev - callbacks, watermarks and timeouts for s->conn.bev */
static void session_setup_bev(struct smtp_session *s)
{
	bufferevent_setcb(s->conn.bev, session_read_cb, session_write_cb, session_event_cb, s);
	bufferevent_setwatermark(s->conn.bev, EV_READ, 0, SESSION_INPUT_HIGH);
	if (s->conn.tls)
		bufferevent_openssl_set_allow_dirty_shutdown(s->conn.bev, 1);
	session_arm_timeout(s);
	/* with direct writes the write event is enabled only while a reply
	 * waits for the client to read (session_flush_cb) */
	if (s->flush_ev) {
		bufferevent_disable(s->conn.bev, EV_WRITE);  /* a new one has it enabled */
		bufferevent_enable(s->conn.bev, EV_READ);
	} else {
		bufferevent_enable(s->conn.bev, EV_READ | EV_WRITE);
	}
}

/* ---- direct writes ---------------------------------------------------------------
 * A bufferevent writes its output from a write event: each reply costs two
 * epoll_ctl calls (arm, disarm) and a pass of the loop.  On a plain socket
 * the replies queued while the loop handles one batch of input are written
 * at the end of that pass instead (a flush event made active, no system
 * call); only what the socket does not take at once (a client that does
 * not read) goes through the bufferevent's write event, with its timeout. */

/* session_output_added_cb - reply bytes queued: flush them this pass */
static void session_output_added_cb(struct evbuffer *buf,
				    const struct evbuffer_cb_info *info, void *arg)
{
	struct smtp_session *s = arg;
	(void)buf;
	if (info->n_added > 0 && !s->conn.dead)
		event_active(s->flush_ev, EV_WRITE, 0);
}

/* session_flush_cb - write the queued replies; the rest, if the socket is
 * full, through the write event (which calls session_write_cb once drained) */
static void session_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_session *s = arg;
	(void)fd;
	(void)what;
	if (s->conn.dead)
		return;
	net_bufferevent_write_now(s->conn.bev);
	if (evbuffer_get_length(bufferevent_get_output(s->conn.bev)) > 0)
		bufferevent_enable(s->conn.bev, EV_WRITE);
	else
		session_write_cb(s->conn.bev, s);
}

/* session_direct_writes_stop - STARTTLS: the TLS filter writes through the
 * socket's bufferevent from now on (flush_ev NULL: no direct writes) */
static void session_direct_writes_stop(struct smtp_session *s)
{
	if (s->flush_cb) {
		evbuffer_remove_cb_entry(bufferevent_get_output(s->conn.bev), s->flush_cb);
		s->flush_cb = NULL;
	}
	if (s->flush_ev) {
		event_free(s->flush_ev);
		s->flush_ev = NULL;
	}
}

/* session_arm_timeout - the timeout of the phase the session is in, for
 * reading and writing alike: the TLS handshake (on 465 or after STARTTLS),
 * then until the first command line (the greeting's), then the command one */
static void session_arm_timeout(struct smtp_session *s)
{
	const struct config_timeouts *t = &s->config->timeouts;
	unsigned seconds = s->conn.handshaking ? t->tls_handshake
		: !s->got_command ? t->greeting : t->command;
	struct timeval tv = { .tv_sec = seconds, .tv_usec = 0 };
	bufferevent_set_timeouts(s->conn.bev, &tv, &tv);
}

void smtp_session_set_timeout(struct smtp_session *s, unsigned seconds)
{
	struct timeval rtv = { .tv_sec = seconds, .tv_usec = 0 };
	struct timeval wtv = { .tv_sec = s->config->timeouts.command, .tv_usec = 0 };
	bufferevent_set_timeouts(s->conn.bev, &rtv, &wtv);
}

/* session_shutdown - a last 421 (best effort) and free now */
static void session_shutdown(void *session)
{
	struct smtp_session *s = session;
	net_conn_goodbye(&s->conn, "421 4.3.2 %s Service shutting down\r\n",
			 s->config->hostname);
	session_free(s);
}

/* session_drain - shutdown (operations.md): 421 4.3.2, then the orderly
 * close; a session whose message is being stored first gets the queue's
 * answer (smtp_session_process_input sends the 421 after it) */
static void session_drain(void *session)
{
	struct smtp_session *s = session;
	if (net_conn_drain_silent(&s->conn))
		return;
	if (s->login && s->waiting) {
		/* an AUTH outcome still awaited (the auth process's answer, or
		 * the throttle's delay): not any more, the 421 says enough */
		smtp_auth_clear(s);
		s->waiting = false;
	}
	if (!s->waiting)
		session_drain_reply(s);
}

/* session_drain_reply - the 421 of a shutdown, then close (mid-DATA too: a
 * message not yet acknowledged is dropped, the client sends it again) */
static void session_drain_reply(struct smtp_session *s)
{
	log_info("shutdown-close", "session=%s client=%s", s->sid, s->client);
	smtp_session_reply(s, "421 4.3.2 %s Service shutting down", s->config->hostname);
	smtp_session_close(s);
}

/* smtp_session_close - stop reading; free once the queued replies are written */
void smtp_session_close(struct smtp_session *s)
{
	net_conn_close(&s->conn);
}

static void session_table_free(void *session)
{
	session_free(session);
}

const struct net_session_ops smtp_session_table_ops = {
	.drain = session_drain,
	.shutdown = session_shutdown,
	.free = session_table_free,
};

/* session_free - release everything; the session must not be in a callback */
static void session_free(struct smtp_session *s)
{
	if (s->flush_cb)
		evbuffer_remove_cb_entry(bufferevent_get_output(s->conn.bev), s->flush_cb);
	if (s->flush_ev)
		event_free(s->flush_ev);
	net_conn_disconnect(&s->conn);
	net_conn_limits_release(s->server->limits, (const struct sockaddr *)&s->addr);
	smtp_session_transaction_reset(s);
	smtp_checks_free(s);
	smtp_auth_clear(s);
	policy_account_free(&s->account);
	free(s->helo);
	buf_free(&s->body);
	free(s);
}

/* ---- replies ---------------------------------------------------------------- */

void smtp_session_reply(struct smtp_session *s, const char *fmt, ...)
{
	struct evbuffer *out = bufferevent_get_output(s->conn.bev);
	va_list ap;
	va_start(ap, fmt);
	evbuffer_add_vprintf(out, fmt, ap);
	va_end(ap);
	evbuffer_add(out, "\r\n", 2);
}

void smtp_session_reply_error(struct smtp_session *s, const struct smtp_error *err)
{
	smtp_session_reply(s, "%d %s %s", err->code, err->enhanced, err->text);
	if (err->code >= 500)
		smtp_session_count_error(s);
}

/* smtp_session_count_error - RFC 5321 7.8 resistance: close after too many errors */
void smtp_session_count_error(struct smtp_session *s)
{
	if (++s->errors < s->config->limits.errors)
		return;
	smtp_session_reply(s, "421 4.7.0 %s Too many errors, closing connection",
		      s->config->hostname);
	log_info("too-many-errors", "session=%s client=%s errors=%u", s->sid, s->client,
		 s->errors);
	smtp_session_close(s);
}

/* ---- libevent callbacks ---------------------------------------------------- */

static void session_read_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	smtp_session_process_input(arg);
}

static void session_write_cb(struct bufferevent *bev, void *arg)
{
	struct smtp_session *s = arg;
	(void)bev;
	if (s->flush_ev && !s->conn.dead)
		bufferevent_disable(s->conn.bev, EV_WRITE);  /* drained: direct writes again */
	if (net_conn_written(&s->conn))
		return;
	/* Output drained: resume reading if back-pressure had stopped it. */
	if (!s->waiting)
		smtp_session_process_input(s);
}

static void session_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct smtp_session *s = arg;
	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		/* bufferevent_openssl: the TLS handshake has completed. */
		net_conn_handshake_done(&s->conn, s->tls_info, sizeof(s->tls_info));
		session_arm_timeout(s);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		if (s->conn.handshaking) {
			/* no reply can be sent before the handshake is done */
			log_info("tls-timeout", "session=%s client=%s seconds=%u", s->sid,
				 s->client, s->config->timeouts.tls_handshake);
			net_conn_free_later(&s->conn);
			return;
		}
		if (s->conn.closing) {
			net_conn_free_later(&s->conn);
			return;
		}
		log_info("timeout", "session=%s client=%s mode=%d", s->sid, s->client, s->mode);
		smtp_session_reply(s, "421 4.4.2 %s Timeout, closing connection", s->config->hostname);
		smtp_session_close(s);
		/* The write timeout still guards the final flush. */
		bufferevent_enable(s->conn.bev, EV_WRITE);
		return;
	}
	if (what & BEV_EVENT_ERROR) {
		net_conn_log_error(&s->conn);
	} else if (what & BEV_EVENT_EOF) {
		if (s->has_mail || s->mode == MODE_DATA || s->mode == MODE_BDAT)
			log_info("lost", "session=%s client=%s reason=\"disconnected in transaction\"",
				 s->sid, s->client);
	}
	net_conn_free_later(&s->conn);
}

/* ---- input ------------------------------------------------------------------ */

/* smtp_session_process_input - handle buffered input until it runs out or we must wait */
void smtp_session_process_input(struct smtp_session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->conn.bev);
	if (net_sessions_is_draining(s->server->sessions) && !s->waiting && !s->conn.closing && !s->conn.dead) {
		/* shutting down: whatever came after the last answer waits for
		 * the next server */
		session_drain_reply(s);
		return;
	}
	while (!s->waiting && s->releases_in_flight == 0 && !s->conn.closing && !s->conn.dead &&
	       evbuffer_get_length(in) > 0) {
		if (evbuffer_get_length(bufferevent_get_output(s->conn.bev)) > SESSION_OUTPUT_HIGH)
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
			progressed = smtp_data_read(s, in);
			break;
		case MODE_BDAT:
			progressed = smtp_bdat_read(s, in);
			break;
		case MODE_AUTH:
			progressed = smtp_auth_read_line(s, in);
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
	if (st == SMTP_LINE_TOO_LONG && want >= 5 && strncasecmp(data, "AUTH ", 5) == 0) {
		/* RFC 4954 4: an initial response may make AUTH longer than 512. */
		max = SASL_LINE_MAX;
		want = avail < max + 1 ? avail : max + 1;
		data = (const char *)evbuffer_pullup(in, (ev_ssize_t)want);
		st = smtp_line_find(data, want, max, &line_len, &consumed, &flags);
	}
	if (st == SMTP_LINE_NEED_MORE)
		return false;
	if (!s->got_command) {
		s->got_command = true;
		session_arm_timeout(s);
	}
	if (st == SMTP_LINE_TOO_LONG || consumed > max) {
		s->mode = MODE_SKIP_LINE;
		s->skip_limit = max;
		return true;
	}
	if (flags & (SMTP_LINE_BARE_LF | SMTP_LINE_BARE_CR)) {
		evbuffer_drain(in, consumed);
		smtp_session_reply(s, "500 5.5.2 Bare CR or LF in command line (only CRLF ends a line)");
		smtp_session_count_error(s);
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
		smtp_session_reply(s, "500 5.5.2 NUL character in command line");
		smtp_session_count_error(s);
	} else if (smtp_command_parse(copy, line_len, &cmd, &err) != 0) {
		smtp_session_reply_error(s, &err);
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
		smtp_session_reply(s, "500 5.5.2 Line too long (limit %zu octets)",
				   s->skip_limit ? s->skip_limit : s->config->limits.command_line);
		smtp_session_count_error(s);
	}
	return consumed > 0;
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
	smtp_session_reply(s, "500 5.5.1 Command unrecognized");
	smtp_session_count_error(s);
}

/* smtp_session_transaction_reset - forget MAIL, RCPTs and any body (RSET, RFC 5321 4.1.1.5) */
void smtp_session_transaction_reset(struct smtp_session *s)
{
	smtp_session_release_reserved(s);
	smtp_verify_free(&s->verify);
	s->has_mail = false;
	smtp_path_clear(&s->from);
	smtp_mail_params_clear(&s->mail);
	queue_envelope_free(&s->env);
	s->rcpt_tried = 0;
	s->rcpt_other = false;
	s->quota_mailbox_count = 0;
	s->quota_unlimited = false;
	smtp_quota_check_free(&s->quota_check);
	s->forwarded = false;
	s->bdat_used = false;
	s->verifier = false;
	s->bdat_discard = false;
	/* A big body's memory is returned; a small one is kept for reuse. */
	if (s->body.cap > 65536)
		buf_free(&s->body);
	else
		buf_reset(&s->body);
}

/* session_offers_starttls - RFC 3207 on mx and submission listeners with a
 * certificate; never on the local unix socket (nothing to protect there) */
static bool session_offers_starttls(const struct smtp_session *s)
{
	return s->server->tls && !s->conn.tls && s->listener->role != LISTENER_ROLE_LOCAL;
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
	smtp_session_transaction_reset(s); /* RFC 5321 4.1.4: HELO/EHLO implies RSET */
	free(s->helo);
	s->helo = xstrndup(cmd->args, cmd->args_len);
	s->esmtp = esmtp;
}

static void cmd_helo(struct smtp_session *s, const struct smtp_command *cmd)
{
	if (!helo_is_valid(cmd->args, cmd->args_len)) {
		smtp_session_reply(s, "501 5.5.4 Syntax: HELO hostname");
		smtp_session_count_error(s);
		return;
	}
	if (!smtp_checks_helo(s, cmd, "HELO"))
		return;
	session_set_helo(s, cmd, false);
	smtp_session_reply(s, "250 %s", s->config->hostname);
}

static void cmd_ehlo(struct smtp_session *s, const struct smtp_command *cmd)
{
	if (!helo_is_valid(cmd->args, cmd->args_len)) {
		smtp_session_reply(s, "501 5.5.4 Syntax: EHLO hostname");
		smtp_session_count_error(s);
		return;
	}
	if (!smtp_checks_helo(s, cmd, "EHLO"))
		return;
	session_set_helo(s, cmd, true);
	struct evbuffer *out = bufferevent_get_output(s->conn.bev);
	evbuffer_add_printf(out, "250-%s Hello %s [%s]\r\n", s->config->hostname, s->helo,
			    s->client);
	evbuffer_add_printf(out, "250-PIPELINING\r\n");
	evbuffer_add_printf(out, "250-SIZE %zu\r\n", s->config->limits.message_size);
	evbuffer_add_printf(out, "250-8BITMIME\r\n");
	evbuffer_add_printf(out, "250-SMTPUTF8\r\n");
	evbuffer_add_printf(out, "250-ENHANCEDSTATUSCODES\r\n");
	evbuffer_add_printf(out, "250-CHUNKING\r\n");
	if (session_offers_starttls(s))
		evbuffer_add_printf(out, "250-STARTTLS\r\n");
	const char *mechanisms = smtp_auth_mechanisms(s);
	if (mechanisms)
		evbuffer_add_printf(out, "250-AUTH %s\r\n", mechanisms);
	if (smtp_session_is_from_node(s)) /* docs/scaling.md: DMARC's Junk between nodes */
		evbuffer_add_printf(out, "250-X-PETREL-JUNK\r\n");
	evbuffer_add_printf(out, "250 DSN\r\n");
}






static void cmd_rset(struct smtp_session *s, const struct smtp_command *cmd)
{
	(void)cmd;
	smtp_session_transaction_reset(s);
	smtp_session_reply(s, "250 2.0.0 Ok");
}

static void cmd_noop(struct smtp_session *s, const struct smtp_command *cmd)
{
	(void)cmd;
	smtp_session_reply(s, "250 2.0.0 Ok");
}

static void cmd_quit(struct smtp_session *s, const struct smtp_command *cmd)
{
	(void)cmd;
	smtp_session_reply(s, "221 2.0.0 %s Bye", s->config->hostname);
	smtp_session_close(s);
}

static void cmd_vrfy(struct smtp_session *s, const struct smtp_command *cmd)
{
	(void)cmd;
	/* RFC 5321 3.5.3: 252 when the server will not verify. */
	smtp_session_reply(s, "252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery");
}

static void cmd_expn(struct smtp_session *s, const struct smtp_command *cmd)
{
	(void)cmd;
	smtp_session_reply(s, "502 5.5.1 EXPN not supported");
}

static void cmd_help(struct smtp_session *s, const struct smtp_command *cmd)
{
	(void)cmd;
	smtp_session_reply(s, "214-2.0.0 Commands supported:");
	smtp_session_reply(s, "214-2.0.0   EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP%s",
		      session_offers_starttls(s) ? " STARTTLS" : "");
	smtp_session_reply(s, "214 2.0.0 See RFC 5321");
}

static void cmd_starttls(struct smtp_session *s, const struct smtp_command *cmd)
{
	if (cmd->args_len > 0) {
		smtp_session_reply(s, "501 5.5.4 Syntax: STARTTLS");
		smtp_session_count_error(s);
		return;
	}
	if (s->conn.tls) {
		smtp_session_reply(s, "503 5.5.1 TLS already active");
		smtp_session_count_error(s);
		return;
	}
	if (!session_offers_starttls(s)) {
		smtp_session_reply(s, "502 5.5.1 STARTTLS not available");
		smtp_session_count_error(s);
		return;
	}
	if (evbuffer_get_length(bufferevent_get_input(s->conn.bev)) > 0) {
		/* CVE-2011-0411 class: plaintext sent after STARTTLS must never be
		 * read as if it came over TLS.  Refuse and close. */
		log_info("rejected", "session=%s client=%s reason=pipelined-after-starttls",
			 s->sid, s->client);
		smtp_session_reply(s, "554 5.5.1 Commands pipelined after STARTTLS are refused");
		smtp_session_close(s);
		return;
	}
	smtp_session_reply(s, "220 2.0.0 Ready to start TLS");
	session_direct_writes_stop(s);
	bufferevent_enable(s->conn.bev, EV_WRITE);  /* writes the 220, then the filter's output */
	if (net_conn_start_tls(&s->conn, s->server->base, s->server->tls, 0) != 0) {
		smtp_session_close(s);
		return;
	}
	/* RFC 3207 4.2: forget everything learnt before TLS, EHLO again. */
	smtp_session_transaction_reset(s);
	policy_account_free(&s->account);
	free(s->helo);
	s->helo = NULL;
	s->esmtp = false;
	session_setup_bev(s);
}

/* ---- end of a message ----------------------------------------------------------- */





/* ---- work on the pool for a session ---------------------------------------------- */

static void session_job_work(void *arg);
static void session_job_done(void *arg);

static void session_job_work(void *arg)
{
	struct smtp_job *job = arg;
	if (job->quota && smtp_quota_check_run(job->quota, job->server))
		return;  /* refused: nothing else to do */
	job->work(job);
}

/* session_job_done - back on the loop: find the session by id */
static void session_job_done(void *arg)
{
	struct smtp_job *job = arg;
	struct smtp_session *s = smtp_server_session_find(job->server, job->session_id);
	if (s && !s->conn.dead) {
		s->waiting = false;
		if (!job->quota || !smtp_quota_check_refuse(s, job->quota))
			job->done(s, job);
	}
	smtp_quota_check_free(&job->quota);
	job->free(job);
	if (s && !s->conn.dead)
		smtp_session_process_input(s);
}

void smtp_session_async(struct smtp_session *s, struct smtp_job *job)
{
	job->session_id = s->id;
	job->server = s->server;
	job->quota = s->quota_check;
	s->quota_check = NULL;
	s->waiting = true;
	pool_submit(s->server->pool, session_job_work, session_job_done, job);
}

void smtp_session_event(struct smtp_session *s, const char *type, const char *account,
			const char *recipient, int code, const char *reason)
{
	if (!s->server->events)
		return;
	struct store_event ev = {
		.time = time(NULL),
		.type = (char *)type,
		.account = (char *)(account ? account : s->account ? s->account->name : NULL),
		.recipient = (char *)recipient,
		.code = code,
	};
	ev.reason = (char *)reason;
	store_events_post(s->server->events, &ev);
}

void smtp_server_event_accepted(struct smtp_server *server, const char *account,
				const char *type, const char *queue_id, const char *recipients)
{
	if (!server->events)
		return;
	struct store_event ev = {
		.time = time(NULL),
		.type = (char *)type,
		.account = (char *)account,
		.queue_id = (char *)queue_id,
		.code = 250,
		.recipients = (char *)recipients,
	};
	store_events_post(server->events, &ev);
}

bool smtp_session_is_from_node(const struct smtp_session *s)
{
	return config_listener_is_cluster_mail(s->config, s->listener) &&
	       net_address_in_networks((const struct sockaddr *)&s->addr, s->config->cluster.from,
				       s->config->cluster.from_count);
}

bool smtp_session_is_loopback(const struct smtp_session *s)
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
