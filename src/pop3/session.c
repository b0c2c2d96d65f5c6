/* pop3/session - one POP3 session over a libevent bufferevent (see
 * session.h).  Only CRLF ends a line; a line over [pop3] command_line gets
 * "-ERR Line too long" and is skipped up to its CRLF.  A command runs to its
 * reply before the next line is read (RFC 2449 6.6 PIPELINING: the replies
 * come in order). */
#include "pop3/session.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/crypto.h>

#include "config/config.h"
#include "net/net.h"
#include "net/proxy.h"
#include "util/log.h"
#include "util/pool.h"
#include "util/xalloc.h"

/* Replies queued but not yet sent above this stop reading (back-pressure). */
#define SESSION_OUTPUT_HIGH (256u * 1024u)

static void session_setup_bev(struct pop3_session *s);
static void session_arm_timeout(struct pop3_session *s);
static void session_output_written(void *session);
static void session_event(void *session, short what);
static void session_process_input(void *session);
static bool session_read_line(struct pop3_session *s);
static void session_line(struct pop3_session *s, const char *line, size_t len);
static void session_too_long(struct pop3_session *s);
static void session_command(struct pop3_session *s, const struct pop3_command *cmd);
static void session_written(void *session);
static void session_free(struct pop3_session *s);
static void session_drain(void *session);
static void session_shutdown(void *session);
static void session_free_memory(struct pop3_session *s);
static void session_resume_parked(struct pop3_session *s);

static const struct net_conn_ops session_conn_ops = {
	.written = session_written,
	.input = session_process_input,
	.output_written = session_output_written,
	.event = session_event,
};

/* ---- life cycle ------------------------------------------------------------- */

void pop3_session_start(struct pop3_server *server, const struct config_listener *listener,
			int fd, const struct sockaddr *sa, socklen_t salen)
{
	struct pop3_session *s = xcalloc(1, sizeof(*s));
	s->server = server;
	s->config = server->config;
	s->listener = listener;
	s->id = net_conn_init(&s->conn, server->sessions, &session_conn_ops, s, s->sid,
			      s->client);
	snprintf(s->sid, sizeof(s->sid), "p%llx", (unsigned long long)s->id);
	memcpy(&s->addr, sa, salen < sizeof(s->addr) ? salen : sizeof(s->addr));
	net_address_format(sa, s->client, sizeof(s->client));
	s->state = POP3_STATE_AUTHORIZATION;
	/* RFC 8314 3.3: pop3s is TLS first, then the greeting inside it */
	net_conn_open(&s->conn, server->base, fd,
		      listener->role == LISTENER_ROLE_POP3S ? server->tls : NULL);
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
	s->cluster_listener = s->cluster_peer && net_local_address_is(fd, cluster->pop3);
	log_info("connect", "session=%s client=%s listener=%s role=%s", s->sid, s->client,
		 listener->name, listener_role_name(listener->role));
	/* RFC 1939 4 (no APOP timestamp: APOP is not offered) */
	pop3_reply_ok(s, "%s Petrel POP3 server ready", s->config->hostname);
}

static void session_setup_bev(struct pop3_session *s)
{
	net_conn_setcb(&s->conn);
	/* a line at most, plus what a pipelining client sends ahead */
	bufferevent_setwatermark(s->conn.bev, EV_READ, 0, s->config->pop3.command_line + 65536);
	if (s->conn.tls)
		bufferevent_openssl_set_allow_dirty_shutdown(s->conn.bev, 1);
	session_arm_timeout(s);
	bufferevent_enable(s->conn.bev, EV_READ | EV_WRITE);
}

/* session_arm_timeout - the TLS handshake's timeout, else the inactivity
 * timer (RFC 1939 3, [pop3] idle_timeout) */
static void session_arm_timeout(struct pop3_session *s)
{
	unsigned seconds = s->conn.handshaking ? s->config->timeouts.tls_handshake
		: s->config->pop3.idle_timeout;
	struct timeval tv = { .tv_sec = seconds, .tv_usec = 0 };
	bufferevent_set_timeouts(s->conn.bev, &tv, &tv);
}

void pop3_session_close(struct pop3_session *s)
{
	net_conn_close(&s->conn);
}

/* session_written - the socket under STLS wrote: a parked job may go on */
static void session_written(void *session)
{
	session_resume_parked(session);
}

bool pop3_session_offers_stls(const struct pop3_session *s)
{
	return s->server->tls && !s->conn.tls && s->listener->role == LISTENER_ROLE_POP3 &&
		s->state == POP3_STATE_AUTHORIZATION;
}

/* pop3_session_login_allowed - also from a node of [cluster] from on the
 * listener of [cluster] pop3 (another node proxying a login, proxy.c) */
bool pop3_session_login_allowed(const struct pop3_session *s)
{
	return s->server->auth &&
		(s->conn.tls || (s->config->auth.plaintext_loopback && pop3_session_is_loopback(s)) ||
		 s->cluster_listener);
}

void pop3_session_relay_ended(struct pop3_session *s, bool client_gone)
{
	if (client_gone) {
		net_conn_free_later(&s->conn);
		return;
	}
	session_setup_bev(s);
	pop3_session_close(s);
}

void pop3_session_start_tls(struct pop3_session *s)
{
	if (net_conn_start_tls(&s->conn, s->server->base, s->server->tls,
			       SESSION_OUTPUT_HIGH) != 0) {
		pop3_session_close(s);
		return;
	}
	session_setup_bev(s);
}

/* session_drain - shutdown: "-ERR" now, or once the running command
 * has answered (session_process_input); deletions are not applied */
static void session_drain(void *session)
{
	struct pop3_session *s = session;
	if (net_conn_drain_silent(&s->conn))
		return;
	if (s->proxy) {
		/* a relay is cut where it is (an -ERR could land inside a
		 * message); a login on the home node under way is answered */
		bool relaying = pop3_proxy_is_relaying(s);
		pop3_proxy_free(s);
		if (relaying) {
			pop3_session_relay_ended(s, false);
			return;
		}
		s->busy = false;
	}
	if (s->login) {
		/* a login's outcome still awaited: not any more */
		pop3_auth_clear(s);
		s->busy = false;
	}
	if (!s->busy) {
		pop3_reply_err(s, "[SYS/TEMP] Server shutting down");
		pop3_session_close(s);
	}
}

/* session_shutdown - a last "-ERR" (best effort) and free now */
static void session_shutdown(void *session)
{
	struct pop3_session *s = session;
	net_conn_goodbye(&s->conn, "-ERR [SYS/TEMP] Server shutting down\r\n");
	session_free(s);
}

static void session_table_free(void *session)
{
	session_free(session);
}

const struct net_session_ops pop3_session_table_ops = {
	.drain = session_drain,
	.shutdown = session_shutdown,
	.free = session_table_free,
};

/* session_free - close the connection; the memory goes now, or when the
 * running pool job is done (its WORK may still use the session's view) */
static void session_free(struct pop3_session *s)
{
	pop3_proxy_free(s);  /* before the client's bufferevent goes */
	net_conn_disconnect(&s->conn);
	net_conn_limits_release(s->server->limits, (const struct sockaddr *)&s->addr);
	pop3_auth_clear(s);
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

/* session_free_memory - the rest; a maildrop still held is given back on
 * the pool without applying deletions (RFC 1939 6: only QUIT does) */
static void session_free_memory(struct pop3_session *s)
{
	pop3_maildrop_release(s);
	pop3_messages_free(s);
	free(s->account);
	free(s);
}

/* ---- replies ---------------------------------------------------------------- */

void pop3_reply_ok(struct pop3_session *s, const char *fmt, ...)
{
	struct evbuffer *out = bufferevent_get_output(s->conn.bev);
	va_list ap;
	evbuffer_add(out, "+OK ", 4);
	va_start(ap, fmt);
	evbuffer_add_vprintf(out, fmt, ap);
	va_end(ap);
	evbuffer_add(out, "\r\n", 2);
}

void pop3_reply_err(struct pop3_session *s, const char *fmt, ...)
{
	struct evbuffer *out = bufferevent_get_output(s->conn.bev);
	va_list ap;
	evbuffer_add(out, "-ERR ", 5);
	va_start(ap, fmt);
	evbuffer_add_vprintf(out, fmt, ap);
	va_end(ap);
	evbuffer_add(out, "\r\n", 2);
	if (++s->errors >= s->config->limits.errors && !s->conn.closing) {
		log_info("too-many-errors", "session=%s client=%s errors=%u", s->sid, s->client,
			 s->errors);
		evbuffer_add_printf(out, "-ERR Too many errors, closing\r\n");
		pop3_session_close(s);
	}
}

void pop3_reply_raw(struct pop3_session *s, const void *data, size_t len)
{
	evbuffer_add(bufferevent_get_output(s->conn.bev), data, len);
}

void pop3_command_done(struct pop3_session *s)
{
	s->busy = false;
	if (!s->processing)
		net_conn_resume_input(&s->conn);
}

/* ---- libevent callbacks ----------------------------------------------------- */

/* session_output_written - a parked job, or the input back-pressure
 * stopped, goes on */
static void session_output_written(void *session)
{
	struct pop3_session *s = session;
	if (s->parked) {
		session_resume_parked(s);
		return;
	}
	if (!s->busy)
		session_process_input(s);
}

static void session_event(void *session, short what)
{
	struct pop3_session *s = session;
	if (what & BEV_EVENT_CONNECTED) {
		/* the TLS handshake has completed */
		char info[160];
		net_conn_handshake_done(&s->conn, info, sizeof(info));
		session_arm_timeout(s);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		if ((what & BEV_EVENT_READING) && s->busy && !s->sasl && !s->conn.handshaking &&
		    !s->conn.closing) {
			/* the client waits for an answer (a long RETR it is
			 * reading): not idle; the write timeout guards a client
			 * that reads nothing */
			bufferevent_enable(s->conn.bev, EV_READ);
			return;
		}
		if (s->conn.handshaking || s->conn.closing) {
			log_info("timeout", "session=%s client=%s handshaking=%d", s->sid,
				 s->client, s->conn.handshaking);
			net_conn_free_later(&s->conn);
			return;
		}
		/* RFC 1939 3: the autologout timer "expires, the session does NOT
		 * enter the UPDATE state--the server should close the TCP
		 * connection without removing any messages or sending any
		 * response to the client" (what was written before goes out) */
		log_info("timeout", "session=%s client=%s seconds=%u", s->sid, s->client,
			 s->config->pop3.idle_timeout);
		pop3_session_close(s);
		bufferevent_enable(s->conn.bev, EV_WRITE);
		return;
	}
	if (what & BEV_EVENT_ERROR)
		net_conn_log_error(&s->conn);
	net_conn_free_later(&s->conn);
}

/* ---- input ------------------------------------------------------------------ */

/* session_process_input - run the complete lines, one command at a time,
 * until input runs out, a command is running or replies pile up */
static void session_process_input(void *session)
{
	struct pop3_session *s = session;
	if (pop3_proxy_is_relaying(s))
		return;  /* the relay reads the input (proxy.c) */
	if (s->conn.dead || s->conn.closing || s->busy || s->processing)
		return;
	if (net_sessions_is_draining(s->server->sessions) && !s->conn.handshaking) {
		pop3_reply_err(s, "[SYS/TEMP] Server shutting down");
		pop3_session_close(s);
		return;
	}
	s->processing = true;
	while (!s->busy && !s->conn.closing && !s->conn.dead) {
		if (evbuffer_get_length(bufferevent_get_output(s->conn.bev)) > SESSION_OUTPUT_HIGH)
			break;  /* resumed by session_output_written once the client reads */
		if (!session_read_line(s))
			break;
	}
	s->processing = false;
}

/* session_read_line - one line (or the end of an overlong one) taken from
 * the input and handled; false when no whole line is there */
static bool session_read_line(struct pop3_session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->conn.bev);
	size_t max = s->config->pop3.command_line;
	size_t eol_len = 0;
	struct evbuffer_ptr eol = evbuffer_search_eol(in, NULL, &eol_len,
						      EVBUFFER_EOL_CRLF_STRICT);
	if (eol.pos < 0) {
		size_t avail = evbuffer_get_length(in);
		if (avail + 1 > max) {
			/* too long already: drop all but a last CR (its LF may come) */
			if (!s->skipping)
				session_too_long(s);
			s->skipping = true;
			evbuffer_drain(in, avail - 1);
		}
		return false;
	}
	size_t len = (size_t)eol.pos;
	if (s->skipping || len + 2 > max) {
		evbuffer_drain(in, len + 2);
		if (!s->skipping)
			session_too_long(s);
		s->skipping = false;
		return true;
	}
	char *line = xmalloc(len + 1);
	evbuffer_remove(in, line, len);
	line[len] = '\0';
	evbuffer_drain(in, 2);
	session_line(s, line, len);
	OPENSSL_cleanse(line, len);  /* it may have been a password */
	free(line);
	return true;
}

/* session_too_long - the same answer with or without the CRLF seen yet;
 * an AUTH exchange cannot go on without its response */
static void session_too_long(struct pop3_session *s)
{
	if (s->sasl) {
		pop3_auth_clear(s);
		pop3_reply_err(s, "Authentication cancelled: line too long");
	} else {
		pop3_reply_err(s, "Line too long");
	}
}

static void session_line(struct pop3_session *s, const char *line, size_t len)
{
	s->busy = true;
	if (s->sasl) {
		pop3_auth_line(s, line, len);
		return;
	}
	struct pop3_command cmd;
	const char *error = NULL;
	if (pop3_command_parse(line, len, &cmd, &error) != 0) {
		pop3_reply_err(s, "%s", error);
		pop3_command_done(s);
		return;
	}
	session_command(s, &cmd);
}

/* session_command - CMD in the state it came in (RFC 1939 4-6) */
static void session_command(struct pop3_session *s, const struct pop3_command *cmd)
{
	switch (cmd->verb) {
	case POP3_VERB_CAPA:
		pop3_cmd_capa(s);
		return;
	case POP3_VERB_QUIT:
		pop3_cmd_quit(s);
		return;
	case POP3_VERB_UTF8:
		pop3_reply_err(s, "UTF8 is not supported");
		pop3_command_done(s);
		return;
	case POP3_VERB_STLS:
	case POP3_VERB_USER:
	case POP3_VERB_PASS:
	case POP3_VERB_AUTH:
		if (s->state != POP3_STATE_AUTHORIZATION) {
			pop3_reply_err(s, "Already logged in");
			pop3_command_done(s);
		} else if (cmd->verb == POP3_VERB_STLS) {
			pop3_cmd_stls(s);
		} else if (cmd->verb == POP3_VERB_USER) {
			pop3_cmd_user(s, cmd);
		} else if (cmd->verb == POP3_VERB_PASS) {
			pop3_cmd_pass(s, cmd);
		} else {
			pop3_cmd_auth(s, cmd);
		}
		return;
	default:
		break;
	}
	if (s->state != POP3_STATE_TRANSACTION) {
		pop3_reply_err(s, "Log in first (USER and PASS, or AUTH)");
		pop3_command_done(s);
		return;
	}
	pop3_cmd_transaction(s, cmd);
}

/* ---- work on the pool for a session --------------------------------------------- */

static void session_job_work(void *arg)
{
	struct pop3_job *job = arg;
	job->work(job);
}

static void session_job_done(void *arg)
{
	struct pop3_job *job = arg;
	struct pop3_session *s = job->session;
	s->job = NULL;
	if (!s->conn.dead)
		job->done(s, job);
	job->free(job);
	if (s->orphan)
		session_free_memory(s);
}

void pop3_session_async(struct pop3_session *s, struct pop3_job *job)
{
	job->session = s;
	s->job = job;
	pool_submit(s->server->pool, session_job_work, session_job_done, job);
}

void pop3_session_async_written(struct pop3_session *s, struct pop3_job *job)
{
	job->session = s;
	s->parked = job;
	session_resume_parked(s);
}

/* session_resume_parked - the parked job goes to the pool once the output
 * is below the back-pressure mark (called as the output drains) */
static void session_resume_parked(struct pop3_session *s)
{
	if (!s->parked || net_bufferevent_pending(s->conn.bev) >= SESSION_OUTPUT_HIGH)
		return;
	struct pop3_job *job = s->parked;
	s->parked = NULL;
	pop3_session_async(s, job);
}

bool pop3_session_is_loopback(const struct pop3_session *s)
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
