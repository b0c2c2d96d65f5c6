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

#include "authd/client.h"
#include "authd/sasl.h"
#include "config/config.h"
#include "mailbox/mailbox.h"
#include "net/net.h"
#include "net/proxy.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/pool.h"
#include "util/xalloc.h"

/* Replies queued but not yet sent above this stop reading (back-pressure). */
#define SESSION_OUTPUT_HIGH (256u * 1024u)
/* Input read ahead of processing, at most (libevent read watermark). */
#define SESSION_INPUT_HIGH (256u * 1024u)

static void session_output_written(void *session);
static void session_event(void *session, short what);
static void session_setup_bev(struct imap_session *s);
static void session_arm_timeout(struct imap_session *s);
static void session_process_input(void *session);
static void session_command(struct imap_session *s);
static void session_refused(struct imap_session *s);
static bool session_sasl_line(struct imap_session *s, struct evbuffer *in);
static void session_dispatch(struct imap_session *s, const struct imap_command *cmd);
static void session_line(struct imap_session *s, const char *prefix, const char *fmt,
			 va_list ap) __attribute__((format(printf, 3, 0)));
static void session_tagged(struct imap_session *s, enum imap_status status, const char *code,
			   const char *fmt, va_list ap) __attribute__((format(printf, 4, 0)));
static void session_greeting(struct imap_session *s);
static void session_free(struct imap_session *s);
static void session_drain(void *session);
static void session_shutdown(void *session);
static void session_disconnect(struct imap_session *s);
static void session_free_memory(struct imap_session *s);

static const struct net_conn_ops session_conn_ops = {
	.input = session_process_input,
	.output_written = session_output_written,
	.event = session_event,
};

/* ---- life cycle ------------------------------------------------------------- */

void imap_session_start(struct imap_server *server, const struct config_listener *listener,
			int fd, const struct sockaddr *sa, socklen_t salen)
{
	struct imap_session *s = xcalloc(1, sizeof(*s));
	s->server = server;
	s->config = server->config;
	s->listener = listener;
	s->id = net_conn_init(&s->conn, server->sessions, &session_conn_ops, s, s->sid,
			      s->client);
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

	/* RFC 8314 3.3: imaps is TLS first, then the greeting inside it */
	net_conn_open(&s->conn, server->base, fd,
		      listener->role == LISTENER_ROLE_IMAPS ? server->tls : NULL);
	if (!s->conn.bev) {
		log_error("session-failed", "session=%s client=%s error=\"cannot create bufferevent\"",
			  s->sid, s->client);
		if (!s->conn.bev && close(fd) != 0)
			log_warn("close-failed", "session=%s error=\"%s\"", s->sid, strerror(errno));
		session_free(s);
		return;
	}
	session_setup_bev(s);
	const struct config_cluster *cluster = &s->config->cluster;
	s->cluster_peer = net_address_in_networks(sa, cluster->from, cluster->from_count);
	s->cluster_listener = s->cluster_peer && net_local_address_is(fd, cluster->imap);
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

/* session_setup_bev - callbacks, watermarks and timeouts for s->conn.bev */
static void session_setup_bev(struct imap_session *s)
{
	net_conn_setcb(&s->conn);
	bufferevent_setwatermark(s->conn.bev, EV_READ, 0, SESSION_INPUT_HIGH);
	if (s->conn.tls)
		bufferevent_openssl_set_allow_dirty_shutdown(s->conn.bev, 1);
	session_arm_timeout(s);
	bufferevent_enable(s->conn.bev, EV_READ | EV_WRITE);
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
	unsigned seconds = s->conn.handshaking ? s->config->timeouts.tls_handshake
		: session_autologout_seconds(s);
	struct timeval tv = { .tv_sec = seconds, .tv_usec = 0 };
	bufferevent_set_timeouts(s->conn.bev, &tv, &tv);
}

void imap_session_relay_ended(struct imap_session *s, bool client_gone)
{
	if (client_gone) {
		net_conn_free_later(&s->conn);
		return;
	}
	session_setup_bev(s);
	imap_session_close(s);
}

void imap_session_logged_in(struct imap_session *s)
{
	s->state = IMAP_STATE_AUTHENTICATED;
	if (!s->conn.handshaking)
		session_arm_timeout(s);
}

/* imap_session_close - stop reading; free once the queued replies are written */
void imap_session_close(struct imap_session *s)
{
	net_conn_close(&s->conn);
}

void imap_session_bye(struct imap_session *s, const char *text)
{
	imap_reply_untagged(s, "BYE %s", text);
	imap_session_close(s);
}

bool imap_session_offers_starttls(const struct imap_session *s)
{
	return s->server->tls && !s->conn.tls && s->listener->role == LISTENER_ROLE_IMAP &&
		s->state == IMAP_STATE_NOT_AUTHENTICATED;
}

void imap_session_start_tls(struct imap_session *s)
{
	if (net_conn_start_tls(&s->conn, s->server->base, s->server->tls,
			       SESSION_OUTPUT_HIGH) != 0) {
		imap_session_close(s);
		return;
	}
	session_setup_bev(s);
}

void imap_session_start_compress(struct imap_session *s)
{
	struct bufferevent *under = s->conn.bev;
	struct bufferevent *z = imap_compress_start(under);
	if (!z) {
		log_error("compress-failed", "session=%s error=\"cannot start DEFLATE\"", s->sid);
		imap_session_close(s);
		return;
	}
	if (s->conn.plain_bev)
		s->mid_bev = under;
	net_conn_push_filter(&s->conn, z, SESSION_OUTPUT_HIGH);
	s->compressed = true;
	session_setup_bev(s);
}

/* session_drain - shutdown: "* BYE" now, or once the running command
 * has answered (session_process_input) */
static void session_drain(void *session)
{
	struct imap_session *s = session;
	if (net_conn_drain_silent(&s->conn))
		return;
	if (s->proxy) {
		/* a relay is cut where it is (a BYE could land inside a literal);
		 * a login on the home node under way is answered */
		bool relaying = imap_proxy_is_relaying(s);
		imap_proxy_free(s);
		if (relaying) {
			imap_session_relay_ended(s, false);
			return;
		}
		imap_reply_no(s, "UNAVAILABLE", "Server shutting down");
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

/* session_shutdown - a last "* BYE" (best effort) and free now */
static void session_shutdown(void *session)
{
	struct imap_session *s = session;
	net_conn_goodbye(&s->conn, "* BYE Server shutting down\r\n");
	session_free(s);
}

static void session_table_free(void *session)
{
	session_free(session);
}

const struct net_session_ops imap_session_table_ops = {
	.drain = session_drain,
	.shutdown = session_shutdown,
	.free = session_table_free,
};

/* session_free - close the connection; the memory goes now, or when the
 * running pool job is done (its WORK may still use the session's view) */
static void session_free(struct imap_session *s)
{
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
	imap_proxy_free(s);  /* before the client's bufferevent goes */
	net_conn_disconnect(&s->conn);
	authd_login_free(&s->login);
	net_conn_limits_release(s->server->limits, (const struct sockaddr *)&s->addr);
	s->mid_bev = NULL;
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
	struct evbuffer *out = bufferevent_get_output(s->conn.bev);
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
	evbuffer_add(bufferevent_get_output(s->conn.bev), out->data, out->len);
}

/* session_tagged - the tagged reply that ends the running command; input
 * is read on from the loop (net_conn_resume_input) */
static void session_tagged(struct imap_session *s, enum imap_status status, const char *code,
			   const char *fmt, va_list ap)
{
	static const char *const names[] = { "OK", "NO", "BAD" };
	struct evbuffer *out = bufferevent_get_output(s->conn.bev);
	evbuffer_add_printf(out, "%s %s ", s->tag ? s->tag : "*", names[status]);
	if (code)
		evbuffer_add_printf(out, "[%s] ", code);
	evbuffer_add_vprintf(out, fmt, ap);
	evbuffer_add(out, "\r\n", 2);
	free(s->tag);
	s->tag = NULL;
	s->busy = false;
	if (!s->processing)
		net_conn_resume_input(&s->conn);
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
	if (++s->errors >= s->config->limits.errors && !s->conn.closing) {
		log_info("too-many-errors", "session=%s client=%s errors=%u", s->sid, s->client,
			 s->errors);
		imap_session_bye(s, "Too many invalid commands");
	}
}

/* ---- libevent callbacks ----------------------------------------------------- */

static void session_output_written(void *session)
{
	struct imap_session *s = session;
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

static void session_event(void *session, short what)
{
	struct imap_session *s = session;
	if (what & BEV_EVENT_CONNECTED) {
		/* bufferevent_openssl: the TLS handshake has completed */
		char info[160];
		net_conn_handshake_done(&s->conn, info, sizeof(info));
		session_arm_timeout(s);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		if ((what & BEV_EVENT_READING) && s->busy && !s->idle && !s->sasl_line &&
		    !s->conn.handshaking && !s->conn.closing) {
			/* the client waits for an answer (a long FETCH it is
			 * reading): not inactive (RFC 9051 5.4); the write
			 * timeout guards a client that reads nothing */
			bufferevent_enable(s->conn.bev, EV_READ);
			return;
		}
		if (s->conn.handshaking || s->conn.closing) {
			/* nothing can be said before the handshake; or the
			 * client does not read the last replies */
			log_info("timeout", "session=%s client=%s handshaking=%d", s->sid,
				 s->client, s->conn.handshaking);
			net_conn_free_later(&s->conn);
			return;
		}
		log_info("autologout", "session=%s client=%s seconds=%u", s->sid, s->client,
			 session_autologout_seconds(s));
		imap_session_bye(s, "Autologout; idle for too long");
		/* the write timeout still guards the final flush */
		bufferevent_enable(s->conn.bev, EV_WRITE);
		return;
	}
	if (what & BEV_EVENT_ERROR)
		net_conn_log_error(&s->conn);
	net_conn_free_later(&s->conn);
}

/* ---- input ------------------------------------------------------------------ */

/* session_process_input - feed buffered input to the reader and run the
 * commands it completes, until input runs out or a command is running */
static void session_process_input(void *session)
{
	struct imap_session *s = session;
	if (imap_proxy_is_relaying(s))
		return;  /* the relay reads the input (proxy.c) */
	if (s->idle && !s->conn.dead && !s->conn.closing && !s->processing) {
		/* IDLE reads its own input: only DONE may come (cmd-idle.c) */
		imap_idle_input(s);
		return;
	}
	if (s->conn.dead || s->conn.closing || (s->busy && !s->sasl_line) || s->processing)
		return;
	if (net_sessions_is_draining(s->server->sessions) && !s->conn.handshaking && !s->busy) {
		/* shutting down: what came after the last answer waits for the
		 * next server */
		imap_session_bye(s, "Server shutting down");
		return;
	}
	s->processing = true;
	/* (s->conn.bev changes under STARTTLS and COMPRESS: read its input anew) */
	struct evbuffer *in;
	while ((!s->busy || s->sasl_line) && !s->conn.closing && !s->conn.dead &&
	       evbuffer_get_length(in = bufferevent_get_input(s->conn.bev)) > 0) {
		if (evbuffer_get_length(bufferevent_get_output(s->conn.bev)) > SESSION_OUTPUT_HIGH)
			break;  /* resumed by session_output_written once the client reads */
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
	if (!s->processing)
		net_conn_resume_input(&s->conn);
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
	if (!s->conn.dead)
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
	if (net_bufferevent_pending(s->conn.bev) < SESSION_OUTPUT_HIGH) {
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
