/* delivery/client - one outbound SMTP connection: connect, greeting,
 * EHLO (HELO fallback), STARTTLS, AUTH, then transactions until it is told
 * to quit.  Its owner (delivery.c) picks the host and address and decides
 * what to do with results; see delivery-int.h for the callback contract.
 *
 * One timer per connection guards whatever we wait for, with the RFC 5321
 * 4.5.3.2 timeout of that step (the data block timeout is restarted each
 * time output drains).
 *
 * Replies are read with delivery/reply.c.  A transaction sends MAIL, every
 * RCPT and DATA in one write when the server offers PIPELINING (RFC 2920),
 * one at a time otherwise, and reads the replies in order.  A message is
 * counted delivered only when the 2xx reply to the final dot has been read.
 */
#include "delivery/delivery-int.h"
#include "net/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "util/buf.h"
#include "util/log.h"
#include "util/xalloc.h"
#include "wire/wire.h"

/* body bytes queued ahead of the socket, at most; refilled below LOW */
#define CONN_BODY_HIGH (256u * 1024u)
#define CONN_BODY_LOW (64u * 1024u)
#define CONN_BODY_BLOCK (64u * 1024u)
#define CONN_QUIT_TIMEOUT 10

enum conn_state {
	CS_CONNECTING,
	CS_TLS,          /* handshake (implicit or after STARTTLS) */
	CS_GREETING,
	CS_EHLO,
	CS_HELO,
	CS_STARTTLS,
	CS_AUTH,         /* AUTH PLAIN sent, or LOGIN's password */
	CS_AUTH_LOGIN,   /* AUTH LOGIN sent */
	CS_AUTH_USER,    /* LOGIN user name sent */
	CS_READY,
	CS_IDLE,
	CS_RSET,
	CS_TXN,          /* replies to MAIL, RCPT..., DATA */
	CS_BODY,         /* writing the message */
	CS_DOT,          /* waiting for the reply to the final dot */
	CS_DOT_DISCARD,  /* DATA got 354 with no recipient accepted: "." sent */
	CS_QUIT,
	CS_DEAD,
};

static const char *const state_names[] = {
	"connecting", "tls", "greeting", "ehlo", "helo", "starttls", "auth", "auth-login",
	"auth-user", "ready", "idle", "rset", "transaction", "body", "dot", "dot-discard",
	"quit", "dead",
};

struct conn_caps {
	bool esmtp, pipelining, eightbit, smtputf8, dsn, starttls, auth_plain, auth_login;
	bool petrel_junk;      /* X-PETREL-JUNK: a Petrel node's [cluster] mail */
	bool size_offered, size_known;
	unsigned long long size;
};

struct delivery_conn {
	struct delivery_conn_public pub;
	struct delivery_conn *all_next, **all_prev;
	struct event_base *base;
	struct delivery_conn_params params;
	const struct delivery_settings *settings;
	delivery_conn_cb *cb;
	void *ctx;
	unsigned id;

	struct bufferevent *bev;
	struct event *timer;
	struct event *reaper;
	enum conn_state state;
	bool tls_active;
	bool tls_done_starttls;
	bool quitting;         /* no more callbacks */
	bool needs_rset;
	bool open_failed;      /* report FAILED from the timer */
	bool broken;           /* lost mid-transaction: close, do not QUIT */
	struct conn_caps caps;
	struct wire_reply_parser parser;

	/* the transaction */
	struct delivery_txn *txn;
	bool *accepted;        /* by position in txn */
	size_t accepted_count;
	size_t replies;        /* replies read: 0 MAIL, 1..count RCPT, count+1 DATA */
	size_t sent;           /* commands written */
	bool mail_failed;
	struct delivery_error mail_error;
	size_t body_pos;
	bool body_line_start;
};

static unsigned conn_next_id;

static void conn_set_state(struct delivery_conn *c, enum conn_state state, unsigned timeout);
static void conn_send(struct delivery_conn *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void conn_read_cb(struct bufferevent *bev, void *arg);
static void conn_write_cb(struct bufferevent *bev, void *arg);
static void conn_event_cb(struct bufferevent *bev, short what, void *arg);
static void conn_timer_cb(evutil_socket_t fd, short what, void *arg);
static void conn_reap_cb(evutil_socket_t fd, short what, void *arg);
static void conn_setup_bev(struct delivery_conn *c);
static void conn_start_tls(struct delivery_conn *c);
static void conn_tls_done(struct delivery_conn *c);
static void conn_reply(struct delivery_conn *c, const struct wire_reply *reply);
static void conn_setup_reply(struct delivery_conn *c, const struct wire_reply *reply);
static void conn_txn_reply(struct delivery_conn *c, const struct wire_reply *reply);
static void conn_parse_ehlo(struct delivery_conn *c, const struct wire_reply *reply);
static void conn_after_ehlo(struct delivery_conn *c);
static void conn_auth(struct delivery_conn *c);
static void conn_send_b64(struct delivery_conn *c, const char *prefix, const void *data,
			  size_t len);
static void conn_txn_begin(struct delivery_conn *c);
static void conn_txn_send_next(struct delivery_conn *c);
static void conn_send_rcpt(struct delivery_conn *c, size_t k);
static void conn_body_fill(struct delivery_conn *c);
static void conn_txn_finish(struct delivery_conn *c, bool usable);
static void conn_txn_lost(struct delivery_conn *c, const struct delivery_error *why);
static void conn_fail(struct delivery_conn *c, const struct delivery_error *why);
static void conn_lost(struct delivery_conn *c, const char *what);
static void conn_finish(struct delivery_conn *c);
static void conn_free(struct delivery_conn *c);
static void conn_reply_error(struct delivery_conn *c, const struct wire_reply *reply,
			     struct delivery_error *e);
static bool has_ctl(const char *s);

/* ---- errors and results ------------------------------------------------------ */

void delivery_error_set(struct delivery_error *e, int code, const char *enhanced,
			bool remote, const char *fmt, ...)
{
	va_list ap;
	free(e->text);
	e->code = code;
	snprintf(e->enhanced, sizeof(e->enhanced), "%s", enhanced ? enhanced : "");
	e->remote = remote;
	struct buf b;
	buf_init(&b);
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	e->text = xstrdup(b.data ? b.data : "");
	buf_free(&b);
}

void delivery_error_clear(struct delivery_error *e)
{
	free(e->text);
	memset(e, 0, sizeof(*e));
}

void delivery_result_set(struct delivery_rcpt_result *r, enum delivery_outcome outcome,
			 const struct delivery_error *e)
{
	free(r->text);
	r->outcome = outcome;
	r->code = e->code;
	memcpy(r->enhanced, e->enhanced, sizeof(r->enhanced));
	r->text = xstrdup(e->text ? e->text : "");
	r->remote = e->remote;
}

/* conn_reply_error - a remote reply as an error */
static void conn_reply_error(struct delivery_conn *c, const struct wire_reply *reply,
			     struct delivery_error *e)
{
	(void)c;
	char *text = wire_reply_format(reply);
	delivery_error_set(e, reply->code, reply->enhanced, true, "%s", text);
	free(text);
}

struct delivery_conn_public *delivery_conn_public(struct delivery_conn *conn)
{
	return &conn->pub;
}

/* ---- set-up ------------------------------------------------------------------ */

struct delivery_conn *delivery_conn_open(struct event_base *base,
					 const struct delivery_conn_params *params,
					 struct delivery_conn **all,
					 delivery_conn_cb *cb, void *ctx)
{
	struct delivery_conn *c = xcalloc(1, sizeof(*c));
	struct sockaddr_storage ss;
	socklen_t sslen = 0;
	struct delivery_error err = { 0 };
	int fd = -1;

	c->base = base;
	c->params = *params;
	c->settings = params->settings;
	c->cb = cb;
	c->ctx = ctx;
	c->id = ++conn_next_id;
	snprintf(c->pub.host, sizeof(c->pub.host), "%s", params->host);
	snprintf(c->pub.address, sizeof(c->pub.address), "%s", params->address);
	c->params.host = c->pub.host;
	c->params.address = c->pub.address;
	c->pub.port = params->port;
	wire_reply_parser_init(&c->parser, NULL);
	c->timer = evtimer_new(base, conn_timer_cb, c);
	c->reaper = event_new(base, -1, 0, conn_reap_cb, c);
	if (!c->timer || !c->reaper)
		abort();
	c->all_next = *all;
	if (*all)
		(*all)->all_prev = &c->all_next;
	c->all_prev = all;
	*all = c;

	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, params->address, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)params->port);
		sslen = sizeof(*sin);
	} else if (inet_pton(AF_INET6, params->address, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)params->port);
		sslen = sizeof(*sin6);
	} else {
		delivery_error_set(&err, 451, "4.4.1", false, "bad address %s for %s",
				   params->address, params->host);
		goto fail;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		delivery_error_set(&err, 451, "4.4.1", false, "socket: %s", strerror(errno));
		goto fail;
	}
	if (c->settings->source_address && *c->settings->source_address) {
		struct sockaddr_storage src;
		memset(&src, 0, sizeof(src));
		src.ss_family = ss.ss_family;
		void *addr = ss.ss_family == AF_INET
			? (void *)&((struct sockaddr_in *)&src)->sin_addr
			: (void *)&((struct sockaddr_in6 *)&src)->sin6_addr;
		if (inet_pton(ss.ss_family, c->settings->source_address, addr) != 1) {
			/* source of the other family: let the kernel choose */
		} else if (bind(fd, (struct sockaddr *)&src, sslen) != 0) {
			delivery_error_set(&err, 451, "4.4.1", false, "bind to %s: %s",
					   c->settings->source_address, strerror(errno));
			goto fail;
		}
	}
	c->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!c->bev) {
		delivery_error_set(&err, 451, "4.3.0", false, "cannot create bufferevent");
		goto fail;
	}
	fd = -1; /* the bufferevent closes it */
	conn_setup_bev(c);
	conn_set_state(c, CS_CONNECTING, c->settings->connect_timeout);
	log_debug("delivery-connect", "conn=%u host=%s[%s]:%u", c->id, c->pub.host,
		  c->pub.address, c->pub.port);
	if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&ss, (int)sslen) != 0) {
		delivery_error_set(&err, 451, "4.4.1", false, "connect to %s[%s]:%u: %s",
				   c->pub.host, c->pub.address, c->pub.port, strerror(errno));
		goto fail;
	}
	return c;

fail:
	if (fd >= 0 && close(fd) != 0)
		log_warn("close-failed", "error=\"%s\"", strerror(errno));
	/* FAILED must not be reported from inside open: report from the loop */
	c->pub.error = err;
	c->state = CS_CONNECTING;
	event_active(c->timer, EV_TIMEOUT, 0);
	c->open_failed = true;
	return c;
}

static void conn_setup_bev(struct delivery_conn *c)
{
	bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
	bufferevent_setwatermark(c->bev, EV_WRITE, CONN_BODY_LOW, 0);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

static void conn_set_state(struct delivery_conn *c, enum conn_state state, unsigned timeout)
{
	if (c->state != state)
		log_debug("delivery-state", "conn=%u host=%s[%s]:%u state=%s", c->id,
			  c->pub.host, c->pub.address, c->pub.port, state_names[state]);
	c->state = state;
	evtimer_del(c->timer);
	if (timeout) {
		struct timeval tv = { .tv_sec = timeout, .tv_usec = 0 };
		evtimer_add(c->timer, &tv);
	}
}

static void conn_send(struct delivery_conn *c, const char *fmt, ...)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	va_list ap;
	va_start(ap, fmt);
	evbuffer_add_vprintf(out, fmt, ap);
	va_end(ap);
	evbuffer_add(out, "\r\n", 2);
}

static bool has_ctl(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

/* ---- libevent callbacks ------------------------------------------------------ */

static void conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct delivery_conn *c = arg;
	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		if (c->state == CS_CONNECTING) {
			log_debug("delivery-connected", "conn=%u host=%s[%s]:%u", c->id,
				  c->pub.host, c->pub.address, c->pub.port);
			if (c->params.tls == DELIVERY_TLS_IMPLICIT)
				conn_start_tls(c);
			else
				conn_set_state(c, CS_GREETING, c->settings->greeting_timeout);
		} else if (c->state == CS_TLS) {
			conn_tls_done(c);
		}
		return;
	}
	if (what & (BEV_EVENT_ERROR | BEV_EVENT_EOF)) {
		int e = errno;
		char detail[256];
		unsigned long tls_err = c->tls_active || c->state == CS_TLS
			? bufferevent_get_openssl_error(c->bev) : 0;
		if (c->state == CS_TLS) {
			SSL *ssl = bufferevent_openssl_get_ssl(c->bev);
			long v = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
			if (v != X509_V_OK)
				snprintf(detail, sizeof(detail), "certificate verification failed: %s",
					 X509_verify_cert_error_string(v));
			else if (tls_err)
				ERR_error_string_n(tls_err, detail, sizeof(detail));
			else
				snprintf(detail, sizeof(detail), "%s",
					 (what & BEV_EVENT_EOF) ? "connection closed" : strerror(e));
			struct delivery_error err = { 0 };
			delivery_error_set(&err, 451, "4.7.5", false,
					   "TLS handshake with %s[%s]:%u failed: %s", c->pub.host,
					   c->pub.address, c->pub.port, detail);
			conn_fail(c, &err);
			delivery_error_clear(&err);
			return;
		}
		if (tls_err)
			ERR_error_string_n(tls_err, detail, sizeof(detail));
		else if (what & BEV_EVENT_EOF)
			snprintf(detail, sizeof(detail), "connection closed");
		else
			snprintf(detail, sizeof(detail), "%s", strerror(e));
		conn_lost(c, detail);
	}
}

static void conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct delivery_conn *c = arg;
	(void)fd;
	(void)what;
	if (c->open_failed) {
		c->open_failed = false;
		/* delivery_conn_open failed: report it from the loop */
		struct delivery_error err = c->pub.error;
		memset(&c->pub.error, 0, sizeof(c->pub.error));
		conn_fail(c, &err);
		delivery_error_clear(&err);
		return;
	}
	if (c->state == CS_IDLE) {
		log_debug("delivery-idle-timeout", "conn=%u host=%s[%s]:%u", c->id, c->pub.host,
			  c->pub.address, c->pub.port);
		delivery_conn_cb *cb = c->cb;
		void *ctx = c->ctx;
		delivery_conn_quit(c);
		cb(ctx, c, DELIVERY_CONN_CLOSED);
		return;
	}
	if (c->state == CS_QUIT) {
		conn_finish(c);
		return;
	}
	if (c->state == CS_BODY) {
		/* the data block timeout: no progress writing */
		conn_lost(c, "timeout sending message data");
		return;
	}
	char what_s[64];
	snprintf(what_s, sizeof(what_s), "timeout in state %s", state_names[c->state]);
	conn_lost(c, what_s);
}

static void conn_reap_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	conn_free(arg);
}

static void conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct delivery_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	while (c->state != CS_DEAD && evbuffer_get_length(in) > 0) {
		struct evbuffer_iovec v;
		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			break;
		size_t used = 0;
		const char *error = NULL;
		int r = wire_reply_parser_feed(&c->parser, v.iov_base, v.iov_len, &used, &error);
		evbuffer_drain(in, used);
		if (r < 0) {
			char detail[128];
			snprintf(detail, sizeof(detail), "protocol error: %s", error);
			conn_lost(c, detail);
			return;
		}
		if (r == 0)
			continue;
		enum conn_state before = c->state;
		unsigned id = c->id;
		(void)id;
		conn_reply(c, &c->parser.reply);
		/* conn_reply may have ended in a callback: stop touching C if
		 * it is gone from the loop's point of view */
		if (c->state == CS_DEAD || c->quitting || before == CS_QUIT)
			return;
		wire_reply_parser_reset(&c->parser);
		if (c->state == CS_TLS)
			return; /* never read plaintext pipelined after STARTTLS */
		if (c->state == CS_READY || c->state == CS_IDLE) {
			if (evbuffer_get_length(in) > 0 && c->state == CS_IDLE) {
				conn_lost(c, "unexpected data from server");
				return;
			}
			return; /* the owner got DONE/READY and may have moved on */
		}
	}
}

static void conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct delivery_conn *c = arg;
	(void)bev;
	if (c->state == CS_BODY) {
		/* progress: restart the data block timeout */
		conn_set_state(c, CS_BODY, c->settings->block_timeout);
		conn_body_fill(c);
	}
}

/* ---- TLS --------------------------------------------------------------------- */

SSL_CTX *delivery_tls_client_ctx(void)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx)
		return NULL;
	if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
		/* no system trust store: "verify" will fail, others work */
		ERR_clear_error();
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	return ctx;
}

static bool is_ip_literal(const char *s)
{
	unsigned char tmp[16];
	return inet_pton(AF_INET, s, tmp) == 1 || inet_pton(AF_INET6, s, tmp) == 1;
}

/* conn_start_tls - wrap the socket in a TLS client filter (RFC 3207, RFC 8314) */
static void conn_start_tls(struct delivery_conn *c)
{
	struct delivery_error err = { 0 };
	SSL *ssl = c->params.ssl_ctx ? SSL_new(c->params.ssl_ctx) : NULL;
	if (!ssl) {
		delivery_error_set(&err, 451, "4.7.5", false, "no TLS client context");
		goto fail;
	}
	if (!is_ip_literal(c->pub.host))
		SSL_set_tlsext_host_name(ssl, c->pub.host);
	if (c->params.tls == DELIVERY_TLS_VERIFY || c->params.tls == DELIVERY_TLS_IMPLICIT) {
		/* RFC 6125 name check; an IP literal is checked against the
		 * certificate's IP addresses */
		int ok = is_ip_literal(c->pub.host)
			? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), c->pub.host)
			: SSL_set1_host(ssl, c->pub.host);
		if (ok != 1) {
			SSL_free(ssl);
			delivery_error_set(&err, 451, "4.7.5", false, "cannot set host name");
			goto fail;
		}
		SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		SSL_set_verify(ssl, SSL_VERIFY_PEER, NULL);
	} else {
		SSL_set_verify(ssl, SSL_VERIFY_NONE, NULL);
	}
	struct bufferevent *tls = bufferevent_openssl_filter_new(
		c->base, c->bev, ssl, BUFFEREVENT_SSL_CONNECTING,
		BEV_OPT_CLOSE_ON_FREE);
	if (!tls) {
		SSL_free(ssl);
		delivery_error_set(&err, 451, "4.7.5", false, "cannot create TLS filter");
		goto fail;
	}
	c->bev = tls;
	bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
	conn_setup_bev(c);
	conn_set_state(c, CS_TLS, c->settings->ehlo_timeout);
	return;
fail:
	conn_fail(c, &err);
	delivery_error_clear(&err);
}

static void conn_tls_done(struct delivery_conn *c)
{
	SSL *ssl = bufferevent_openssl_get_ssl(c->bev);
	c->tls_active = true;
	snprintf(c->pub.tls, sizeof(c->pub.tls), "version=%s cipher=%s",
		 SSL_get_version(ssl), SSL_get_cipher_name(ssl));
	log_debug("delivery-tls", "conn=%u host=%s[%s]:%u %s", c->id, c->pub.host,
		  c->pub.address, c->pub.port, c->pub.tls);
	if (c->params.tls == DELIVERY_TLS_IMPLICIT && !c->tls_done_starttls) {
		conn_set_state(c, CS_GREETING, c->settings->greeting_timeout);
		return;
	}
	/* RFC 3207 4.2: forget what was learnt before TLS, EHLO again */
	memset(&c->caps, 0, sizeof(c->caps));
	conn_send(c, "EHLO %s", c->settings->helo_name);
	conn_set_state(c, CS_EHLO, c->settings->ehlo_timeout);
}

/* ---- replies ------------------------------------------------------------------- */

static void conn_reply(struct delivery_conn *c, const struct wire_reply *reply)
{
	switch (c->state) {
	case CS_TXN:
	case CS_DOT:
	case CS_DOT_DISCARD:
	case CS_RSET:
	case CS_BODY:
		conn_txn_reply(c, reply);
		break;
	case CS_QUIT:
		/* the reply to QUIT: end TLS with a close_notify, then close */
		if (c->tls_active)
			net_tls_close_notify(c->bev);
		conn_finish(c);
		break;
	case CS_IDLE:
	case CS_READY: {
		/* e.g. "421 idle timeout" from the server */
		char *text = wire_reply_format(reply);
		char detail[300];
		snprintf(detail, sizeof(detail), "unexpected reply: %s", text);
		free(text);
		conn_lost(c, detail);
		break;
	}
	default:
		conn_setup_reply(c, reply);
		break;
	}
}

/* conn_setup_reply - greeting, EHLO/HELO, STARTTLS and AUTH */
static void conn_setup_reply(struct delivery_conn *c, const struct wire_reply *reply)
{
	struct delivery_error err = { 0 };
	int code = reply->code;

	switch (c->state) {
	case CS_GREETING:
		if (code != 220)
			goto remote_fail;
		conn_send(c, "EHLO %s", c->settings->helo_name);
		conn_set_state(c, CS_EHLO, c->settings->ehlo_timeout);
		return;
	case CS_EHLO:
		if (code == 250) {
			conn_parse_ehlo(c, reply);
			conn_after_ehlo(c);
			return;
		}
		/* RFC 5321 3.2: a server that does not know EHLO: HELO */
		if ((code == 500 || code == 502 || code == 504) && !c->tls_active) {
			conn_send(c, "HELO %s", c->settings->helo_name);
			conn_set_state(c, CS_HELO, c->settings->ehlo_timeout);
			return;
		}
		goto remote_fail;
	case CS_HELO:
		if (code != 250)
			goto remote_fail;
		memset(&c->caps, 0, sizeof(c->caps));
		conn_after_ehlo(c);
		return;
	case CS_STARTTLS:
		if (code != 220) {
			if (c->params.tls == DELIVERY_TLS_MAY) {
				/* opportunistic: carry on in plaintext */
				c->caps.starttls = false;
				c->tls_done_starttls = true;
				conn_after_ehlo(c);
				return;
			}
			goto remote_fail;
		}
		if (evbuffer_get_length(bufferevent_get_input(c->bev)) > 0) {
			/* CVE-2011-0411 class: data after the 220 is not TLS
			 * (a failed TLS start, as far as "may" is concerned) */
			c->pub.tls_failed = true;
			delivery_error_set(&err, 451, "4.7.5", false,
					   "%s[%s]:%u sent data after 220 to STARTTLS",
					   c->pub.host, c->pub.address, c->pub.port);
			goto fail;
		}
		c->tls_done_starttls = true;
		conn_start_tls(c);
		return;
	case CS_AUTH_LOGIN:
		if (code != 334)
			goto remote_fail;
		conn_send_b64(c, NULL, c->params.relay->username,
			      strlen(c->params.relay->username));
		conn_set_state(c, CS_AUTH_USER, c->settings->ehlo_timeout);
		return;
	case CS_AUTH_USER:
		if (code != 334)
			goto remote_fail;
		conn_send_b64(c, NULL, c->params.relay->password,
			      strlen(c->params.relay->password));
		conn_set_state(c, CS_AUTH, c->settings->ehlo_timeout);
		return;
	case CS_AUTH:
		if (code != 235)
			goto remote_fail;
		log_debug("delivery-auth", "conn=%u host=%s[%s]:%u result=ok", c->id,
			  c->pub.host, c->pub.address, c->pub.port);
		conn_set_state(c, CS_READY, 0);
		c->cb(c->ctx, c, DELIVERY_CONN_READY);
		return;
	default:
		delivery_error_set(&err, 451, "4.5.0", false, "unexpected reply in state %s",
				   state_names[c->state]);
		goto fail;
	}

remote_fail:
	conn_reply_error(c, reply, &err);
fail:
	conn_fail(c, &err);
	delivery_error_clear(&err);
}

/* conn_parse_ehlo - the extensions we use (RFC 5321 4.1.1.1) */
static void conn_parse_ehlo(struct delivery_conn *c, const struct wire_reply *reply)
{
	const char *s = reply->text.data ? reply->text.data : "";
	const char *end = s + reply->text.len;
	bool first = true;

	memset(&c->caps, 0, sizeof(c->caps));
	c->caps.esmtp = true;
	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		const char *le = nl ? nl : end;
		size_t len = (size_t)(le - s);
		char line[256];
		snprintf(line, sizeof(line), "%.*s", (int)(len < 255 ? len : 255), s);
		s = nl ? nl + 1 : end;
		if (first) { /* the server's name and greeting */
			first = false;
			continue;
		}
		char *kw = line;
		char *args = kw + strcspn(kw, " =");
		if (*args)
			*args++ = '\0';
		if (strcasecmp(kw, "PIPELINING") == 0) {
			c->caps.pipelining = true;
		} else if (strcasecmp(kw, "8BITMIME") == 0) {
			c->caps.eightbit = true;
		} else if (strcasecmp(kw, "SMTPUTF8") == 0) {
			c->caps.smtputf8 = true;
		} else if (strcasecmp(kw, "DSN") == 0) {
			c->caps.dsn = true;
		} else if (strcasecmp(kw, "X-PETREL-JUNK") == 0) {
			c->caps.petrel_junk = true;
		} else if (strcasecmp(kw, "STARTTLS") == 0) {
			c->caps.starttls = true;
		} else if (strcasecmp(kw, "SIZE") == 0) {
			char *e = NULL;
			c->caps.size_offered = true;
			errno = 0;
			unsigned long long n = strtoull(args, &e, 10);
			/* RFC 1870: SIZE 0 or no number means no fixed limit */
			if (e != args && errno == 0 && n > 0) {
				c->caps.size_known = true;
				c->caps.size = n;
			}
		} else if (strcasecmp(kw, "AUTH") == 0) {
			for (char *m = strtok(args, " "); m; m = strtok(NULL, " ")) {
				if (strcasecmp(m, "PLAIN") == 0)
					c->caps.auth_plain = true;
				else if (strcasecmp(m, "LOGIN") == 0)
					c->caps.auth_login = true;
			}
		}
	}
}

/* conn_after_ehlo - STARTTLS per policy, then AUTH, then ready */
static void conn_after_ehlo(struct delivery_conn *c)
{
	struct delivery_error err = { 0 };
	enum delivery_tls tls = c->params.tls;

	if (!c->tls_active && !c->tls_done_starttls && tls != DELIVERY_TLS_NONE) {
		if (c->caps.starttls) {
			conn_send(c, "STARTTLS");
			conn_set_state(c, CS_STARTTLS, c->settings->ehlo_timeout);
			return;
		}
		if (tls != DELIVERY_TLS_MAY) {
			delivery_error_set(&err, 451, "4.7.4", false,
					   "TLS required but not offered by %s[%s]:%u",
					   c->pub.host, c->pub.address, c->pub.port);
			goto fail;
		}
	}
	if (c->params.relay && c->params.relay->username && *c->params.relay->username) {
		if (!c->tls_active) {
			delivery_error_set(&err, 451, "4.7.0", false,
					   "not sending credentials to %s[%s]:%u without TLS",
					   c->pub.host, c->pub.address, c->pub.port);
			goto fail;
		}
		if (!c->caps.auth_plain && !c->caps.auth_login) {
			delivery_error_set(&err, 451, "4.7.0", false,
					   "%s[%s]:%u offers neither AUTH PLAIN nor LOGIN",
					   c->pub.host, c->pub.address, c->pub.port);
			goto fail;
		}
		conn_auth(c);
		return;
	}
	conn_set_state(c, CS_READY, 0);
	log_debug("delivery-ready", "conn=%u host=%s[%s]:%u esmtp=%d pipelining=%d tls=%d",
		  c->id, c->pub.host, c->pub.address, c->pub.port, c->caps.esmtp,
		  c->caps.pipelining, c->tls_active);
	c->cb(c->ctx, c, DELIVERY_CONN_READY);
	return;
fail:
	conn_fail(c, &err);
	delivery_error_clear(&err);
}

/* conn_auth - RFC 4954 with PLAIN (RFC 4616) or LOGIN */
static void conn_auth(struct delivery_conn *c)
{
	const struct delivery_relay *r = c->params.relay;
	const char *pass = r->password ? r->password : "";
	if (c->caps.auth_plain) {
		size_t ul = strlen(r->username), pl = strlen(pass);
		size_t len = ul + pl + 2;
		char *raw = xmalloc(len);
		raw[0] = '\0';
		memcpy(raw + 1, r->username, ul);
		raw[1 + ul] = '\0';
		memcpy(raw + 2 + ul, pass, pl);
		conn_send_b64(c, "AUTH PLAIN ", raw, len);
		OPENSSL_cleanse(raw, len);
		free(raw);
		conn_set_state(c, CS_AUTH, c->settings->ehlo_timeout);
	} else {
		conn_send(c, "AUTH LOGIN");
		conn_set_state(c, CS_AUTH_LOGIN, c->settings->ehlo_timeout);
	}
}

/* conn_send_b64 - PREFIX + base64(DATA) + CRLF; the plaintext is the
 * caller's to wipe, the encoded copy is wiped here */
static void conn_send_b64(struct delivery_conn *c, const char *prefix, const void *data,
			  size_t len)
{
	size_t cap = 4 * ((len + 2) / 3) + 1;
	unsigned char *b64 = xmalloc(cap);
	int n = EVP_EncodeBlock(b64, data, (int)len);
	struct evbuffer *out = bufferevent_get_output(c->bev);
	if (prefix)
		evbuffer_add(out, prefix, strlen(prefix));
	evbuffer_add(out, b64, (size_t)n);
	evbuffer_add(out, "\r\n", 2);
	OPENSSL_cleanse(b64, cap);
	free(b64);
}

/* ---- transactions ---------------------------------------------------------------- */

int delivery_conn_transaction(struct delivery_conn *c, struct delivery_txn *txn,
			      const struct delivery_error **error_r)
{
	const struct delivery_message *msg = txn->msg;

	delivery_error_clear(&c->pub.error);
	/* RFC 1870 6: never send what the server refuses by size */
	if (c->caps.size_known && msg->size > c->caps.size) {
		delivery_error_set(&c->pub.error, 552, "5.3.4", false,
				   "message size %zu exceeds the limit %llu of %s", msg->size,
				   c->caps.size, c->pub.host);
		*error_r = &c->pub.error;
		return -1;
	}
	/* RFC 6531 3.4: SMTPUTF8 mail to a server without it cannot go */
	if (msg->smtputf8 && !c->caps.smtputf8) {
		delivery_error_set(&c->pub.error, 553, "5.6.7", false,
				   "SMTPUTF8 not supported by %s", c->pub.host);
		*error_r = &c->pub.error;
		return -1;
	}
	/* RFC 6152 3: 8-bit data to a server without 8BITMIME: we do not
	 * downgrade to 7 bit, we bounce */
	if (msg->eight_bit && !c->caps.eightbit) {
		delivery_error_set(&c->pub.error, 554, "5.6.3",
				   false, "8BITMIME not supported by %s", c->pub.host);
		*error_r = &c->pub.error;
		return -1;
	}
	if (has_ctl(msg->sender)) {
		delivery_error_set(&c->pub.error, 553, "5.1.7", false, "invalid sender address");
		*error_r = &c->pub.error;
		return -1;
	}
	c->txn = txn;
	txn->stale = false;
	free(c->accepted);
	c->accepted = xcalloc(txn->count ? txn->count : 1, sizeof(bool));
	c->accepted_count = 0;
	c->replies = 0;
	c->sent = 0;
	c->mail_failed = false;
	delivery_error_clear(&c->mail_error);
	c->body_pos = 0;
	c->body_line_start = true;
	if (c->needs_rset) {
		conn_send(c, "RSET");
		conn_set_state(c, CS_RSET, c->settings->mail_timeout);
		return 0;
	}
	conn_txn_begin(c);
	return 0;
}

/* conn_txn_begin - MAIL (+ RCPTs + DATA with PIPELINING) */
static void conn_txn_begin(struct delivery_conn *c)
{
	const struct delivery_message *msg = c->txn->msg;
	struct buf cmd;

	buf_init(&cmd);
	buf_printf(&cmd, "MAIL FROM:<%s>", msg->sender);
	if (c->caps.size_offered) /* RFC 1870 6 */
		buf_printf(&cmd, " SIZE=%zu", msg->size);
	if (msg->eight_bit && c->caps.eightbit)
		buf_append_str(&cmd, " BODY=8BITMIME");
	if (msg->smtputf8 && c->caps.smtputf8)
		buf_append_str(&cmd, " SMTPUTF8");
	if (c->caps.dsn) {
		/* RFC 3461 4.3, 4.4 */
		if (msg->ret == 1)
			buf_append_str(&cmd, " RET=FULL");
		else if (msg->ret == 2)
			buf_append_str(&cmd, " RET=HDRS");
		if (msg->envid && *msg->envid) {
			char *x = wire_xtext_encode(msg->envid, strlen(msg->envid));
			buf_printf(&cmd, " ENVID=%s", x);
			free(x);
		}
	}
	if (msg->junk && c->caps.petrel_junk)
		buf_append_str(&cmd, " X-PETREL-JUNK");
	conn_send(c, "%s", cmd.data);
	buf_free(&cmd);
	c->sent = 1;
	conn_set_state(c, CS_TXN, c->settings->mail_timeout);
	if (c->caps.pipelining) {
		/* RFC 2920 3.1: DATA ends the group */
		for (size_t k = 0; k < c->txn->count; k++)
			conn_send_rcpt(c, k);
		conn_send(c, "DATA");
		c->sent = c->txn->count + 2;
	}
}

static void conn_send_rcpt(struct delivery_conn *c, size_t k)
{
	const struct delivery_recipient *r = &c->txn->msg->rcpts[c->txn->rcpt_index[k]];
	struct buf cmd;

	buf_init(&cmd);
	buf_printf(&cmd, "RCPT TO:<%s>", has_ctl(r->address) ? "" : r->address);
	if (c->caps.dsn && r->notify) {
		/* RFC 3461 4.1 */
		if (r->notify & WIRE_NOTIFY_NEVER) {
			buf_append_str(&cmd, " NOTIFY=NEVER");
		} else {
			const char *sep = " NOTIFY=";
			if (r->notify & WIRE_NOTIFY_SUCCESS) {
				buf_printf(&cmd, "%sSUCCESS", sep);
				sep = ",";
			}
			if (r->notify & WIRE_NOTIFY_FAILURE) {
				buf_printf(&cmd, "%sFAILURE", sep);
				sep = ",";
			}
			if (r->notify & WIRE_NOTIFY_DELAY)
				buf_printf(&cmd, "%sDELAY", sep);
		}
	}
	if (c->caps.dsn && r->orcpt && *r->orcpt) {
		/* RFC 3461 4.2: addr-type ";" xtext */
		const char *semi = strchr(r->orcpt, ';');
		if (semi) {
			char *x = wire_xtext_encode(semi + 1, strlen(semi + 1));
			buf_printf(&cmd, " ORCPT=%.*s;%s", (int)(semi - r->orcpt), r->orcpt, x);
			free(x);
		}
	}
	conn_send(c, "%s", cmd.data);
	buf_free(&cmd);
}

/* conn_txn_send_next - without PIPELINING: the next command, one at a time */
static void conn_txn_send_next(struct delivery_conn *c)
{
	size_t count = c->txn->count;
	if (c->sent <= count) {
		conn_send_rcpt(c, c->sent - 1);
		c->sent++;
		conn_set_state(c, CS_TXN, c->settings->rcpt_timeout);
		return;
	}
	/* every RCPT answered */
	if (c->accepted_count == 0) {
		c->needs_rset = true;
		conn_txn_finish(c, true);
		return;
	}
	conn_send(c, "DATA");
	c->sent++;
	conn_set_state(c, CS_TXN, c->settings->data_timeout);
}

/* conn_txn_reply - the replies of a transaction, in order (RFC 2920 3.1) */
static void conn_txn_reply(struct delivery_conn *c, const struct wire_reply *reply)
{
	struct delivery_txn *txn = c->txn;
	struct delivery_error err = { 0 };
	int code = reply->code;

	if (c->state == CS_RSET) {
		if (code != 250) {
			conn_reply_error(c, reply, &err);
			conn_txn_lost(c, &err);
			delivery_error_clear(&err);
			return;
		}
		c->needs_rset = false;
		conn_txn_begin(c);
		return;
	}
	if (c->state == CS_DOT || c->state == CS_DOT_DISCARD) {
		bool discard = c->state == CS_DOT_DISCARD;
		conn_reply_error(c, reply, &err);
		if (!discard) {
			enum delivery_outcome o = code < 300 ? DELIVERY_DELIVERED
				: code < 500 ? DELIVERY_TEMPORARY : DELIVERY_PERMANENT;
			for (size_t k = 0; k < txn->count; k++)
				if (c->accepted[k])
					delivery_result_set(&txn->results[txn->rcpt_index[k]], o, &err);
		}
		delivery_error_clear(&err);
		conn_txn_finish(c, code != 421);
		return;
	}
	if (c->state != CS_TXN) {
		/* a reply while we are still writing the body */
		conn_reply_error(c, reply, &err);
		conn_txn_lost(c, &err);
		delivery_error_clear(&err);
		return;
	}

	size_t k = c->replies++;
	if (k == 0) {
		/* MAIL */
		if (code == 421 && c->pub.reused) {
			/* an old connection the server is closing: start afresh */
			c->replies = 0;
			conn_reply_error(c, reply, &err);
			conn_txn_lost(c, &err);
			delivery_error_clear(&err);
			return;
		}
		if (code != 250) {
			c->mail_failed = true;
			conn_reply_error(c, reply, &c->mail_error);
			for (size_t i = 0; i < txn->count; i++) {
				size_t idx = txn->rcpt_index[i];
				delivery_result_set(&txn->results[idx], code >= 500
						    ? DELIVERY_PERMANENT : DELIVERY_TEMPORARY,
						    &c->mail_error);
				txn->retry_next[idx] = code >= 400 && code < 500;
			}
			if (code == 421) {
				conn_txn_finish(c, false);
				return;
			}
			if (!c->caps.pipelining) {
				c->needs_rset = true;
				conn_txn_finish(c, true);
				return;
			}
		} else if (!c->caps.pipelining) {
			conn_txn_send_next(c);
			return;
		}
		return; /* pipelined: the RCPT replies follow */
	}
	if (k <= txn->count) {
		/* RCPT number k - 1 */
		size_t idx = txn->rcpt_index[k - 1];
		if (!c->mail_failed) {
			if (code == 250 || code == 251) {
				c->accepted[k - 1] = true;
				c->accepted_count++;
			} else {
				conn_reply_error(c, reply, &err);
				delivery_result_set(&txn->results[idx], code >= 500
						    ? DELIVERY_PERMANENT : DELIVERY_TEMPORARY, &err);
				txn->retry_next[idx] = code >= 400 && code < 500;
				delivery_error_clear(&err);
			}
		}
		if (code == 421) {
			/* the server is closing: everyone not decided gets it */
			conn_reply_error(c, reply, &err);
			conn_txn_lost(c, &err);
			delivery_error_clear(&err);
			return;
		}
		if (!c->caps.pipelining)
			conn_txn_send_next(c);
		return;
	}
	/* DATA */
	if (code == 354 && (c->mail_failed || c->accepted_count == 0)) {
		/* RFC 2920 3.1: DATA accepted with nobody to deliver to */
		conn_send(c, ".");
		conn_set_state(c, CS_DOT_DISCARD, c->settings->final_timeout);
		return;
	}
	if (code != 354) {
		if (!c->mail_failed && c->accepted_count > 0) {
			conn_reply_error(c, reply, &err);
			for (size_t i = 0; i < txn->count; i++)
				if (c->accepted[i])
					delivery_result_set(&txn->results[txn->rcpt_index[i]],
							    code >= 500 ? DELIVERY_PERMANENT
							    : DELIVERY_TEMPORARY, &err);
			delivery_error_clear(&err);
		}
		c->needs_rset = true;
		conn_txn_finish(c, code != 421);
		return;
	}
	conn_set_state(c, CS_BODY, c->settings->block_timeout);
	conn_body_fill(c);
}

/* conn_body_fill - queue message data with dot-stuffing (RFC 5321 4.5.2)
 * until the output holds CONN_BODY_HIGH; the write callback calls again.
 * A '.' is doubled after every LF, bare ones included, so that no reading
 * of the line ends can see an end of data inside the message. */
static void conn_body_fill(struct delivery_conn *c)
{
	const struct delivery_message *msg = c->txn->msg;
	struct evbuffer *out = bufferevent_get_output(c->bev);

	while (c->body_pos < msg->size && evbuffer_get_length(out) < CONN_BODY_HIGH) {
		size_t end = c->body_pos + CONN_BODY_BLOCK;
		if (end > msg->size)
			end = msg->size;
		while (c->body_pos < end) {
			const char *p = msg->data + c->body_pos;
			size_t n = end - c->body_pos;
			if (c->body_line_start && *p == '.')
				evbuffer_add(out, ".", 1);
			const char *nl = memchr(p, '\n', n);
			size_t take = nl ? (size_t)(nl - p) + 1 : n;
			evbuffer_add(out, p, take);
			c->body_pos += take;
			c->body_line_start = nl != NULL;
		}
	}
	if (c->body_pos < msg->size)
		return;
	/* the message ends with CRLF; add one if it does not */
	if (msg->size > 0 && (msg->size < 2 || msg->data[msg->size - 2] != '\r' ||
			      msg->data[msg->size - 1] != '\n'))
		evbuffer_add(out, "\r\n", 2);
	evbuffer_add(out, ".\r\n", 3);
	conn_set_state(c, CS_DOT, c->settings->final_timeout);
}

/* conn_txn_finish - report DONE; the owner decides what comes next */
static void conn_txn_finish(struct delivery_conn *c, bool usable)
{
	c->txn = NULL;
	c->pub.usable = usable && c->state != CS_DEAD;
	c->pub.reused = true;
	/* not usable: the owner gets DONE and then quits or closes us */
	conn_set_state(c, CS_READY, 0);
	c->cb(c->ctx, c, DELIVERY_CONN_DONE);
}

/* conn_txn_lost - the connection broke (or 421) mid-transaction: whoever has
 * no result yet gets a temporary one; a reused connection that died before
 * MAIL got a reply is "stale" (the owner starts afresh) */
static void conn_txn_lost(struct delivery_conn *c, const struct delivery_error *why)
{
	struct delivery_txn *txn = c->txn;
	if (c->pub.reused && c->replies == 0 && (c->state == CS_RSET || c->state == CS_TXN)) {
		txn->stale = true;
	} else {
		for (size_t i = 0; i < txn->count; i++) {
			size_t idx = txn->rcpt_index[i];
			/* RCPT i is reply i + 1; a rejected one has its result */
			bool decided = c->mail_failed ||
				(i + 1 < c->replies && !c->accepted[i]);
			if (!decided)
				delivery_result_set(&txn->results[idx], DELIVERY_TEMPORARY, why);
		}
	}
	c->txn = NULL;
	c->pub.usable = false;
	c->pub.reused = true;
	c->broken = true;
	evtimer_del(c->timer);
	bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	c->state = CS_READY;
	c->cb(c->ctx, c, DELIVERY_CONN_DONE);
}

/* ---- the end of a connection ------------------------------------------------------- */

/* conn_lost - the connection broke or timed out in any state */
static void conn_lost(struct delivery_conn *c, const char *what)
{
	struct delivery_error err = { 0 };
	const char *after = state_names[c->state];
	delivery_error_set(&err, 451, c->state == CS_CONNECTING ? "4.4.1" : "4.4.2", false,
			   "%s with %s[%s]:%u in state %s", what, c->pub.host,
			   c->pub.address, c->pub.port, after);
	log_debug("delivery-lost", "conn=%u host=%s[%s]:%u state=%s reason=\"%s\"", c->id,
		  c->pub.host, c->pub.address, c->pub.port, after, what);
	switch (c->state) {
	case CS_TXN:
	case CS_BODY:
	case CS_DOT:
	case CS_DOT_DISCARD:
	case CS_RSET:
		if (c->txn) {
			conn_txn_lost(c, &err);
			break;
		}
		conn_finish(c);
		break;
	case CS_IDLE:
	case CS_READY: {
		delivery_conn_cb *cb = c->cb;
		void *ctx = c->ctx;
		bool quiet = c->quitting;
		conn_finish(c);
		if (!quiet)
			cb(ctx, c, DELIVERY_CONN_CLOSED);
		break;
	}
	case CS_QUIT:
	case CS_DEAD:
		conn_finish(c);
		break;
	default:
		conn_fail(c, &err);
		break;
	}
	delivery_error_clear(&err);
}

/* conn_fail - set-up failed: FAILED, then the connection frees itself */
static void conn_fail(struct delivery_conn *c, const struct delivery_error *why)
{
	log_debug("delivery-failed", "conn=%u host=%s[%s]:%u state=%s", c->id, c->pub.host,
		  c->pub.address, c->pub.port, state_names[c->state]);
	delivery_error_clear(&c->pub.error);
	c->pub.error = *why;
	c->pub.error.text = xstrdup(why->text ? why->text : "");
	/* the owner may try this address again without TLS (RFC 7435) */
	c->pub.tls_failed = c->pub.tls_failed || (c->state == CS_TLS && c->tls_done_starttls);
	bool quiet = c->quitting;
	/* be polite to a server that answered */
	if (c->bev && c->state != CS_CONNECTING && c->state != CS_TLS &&
	    c->state != CS_GREETING) {
		c->quitting = true;
		conn_send(c, "QUIT");
		conn_set_state(c, CS_QUIT, CONN_QUIT_TIMEOUT);
	} else {
		conn_finish(c);
	}
	if (!quiet)
		c->cb(c->ctx, c, DELIVERY_CONN_FAILED);
}

/* conn_finish - close the socket now; freed from the loop */
static void conn_finish(struct delivery_conn *c)
{
	if (c->state == CS_DEAD)
		return;
	log_debug("delivery-close", "conn=%u host=%s[%s]:%u", c->id, c->pub.host,
		  c->pub.address, c->pub.port);
	c->state = CS_DEAD;
	c->quitting = true;
	evtimer_del(c->timer);
	if (c->bev)
		bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	event_active(c->reaper, EV_TIMEOUT, 0);
}

void delivery_conn_idle(struct delivery_conn *c, unsigned seconds)
{
	conn_set_state(c, CS_IDLE, seconds);
	bufferevent_enable(c->bev, EV_READ);
}

void delivery_conn_quit(struct delivery_conn *c)
{
	if (c->state == CS_DEAD || c->state == CS_QUIT) {
		c->quitting = true;
		return;
	}
	c->quitting = true;
	if (!c->broken && (c->state == CS_READY || c->state == CS_IDLE)) {
		bufferevent_enable(c->bev, EV_READ | EV_WRITE);
		conn_send(c, "QUIT");
		conn_set_state(c, CS_QUIT, CONN_QUIT_TIMEOUT);
		return;
	}
	conn_finish(c);
}

void delivery_conn_close(struct delivery_conn *c)
{
	c->quitting = true;
	conn_finish(c);
}

static void conn_free(struct delivery_conn *c)
{
	if (c->all_next)
		c->all_next->all_prev = c->all_prev;
	*c->all_prev = c->all_next;
	if (c->bev)
		bufferevent_free(c->bev); /* a TLS filter is finalised from the loop */
	event_free(c->timer);
	event_free(c->reaper);
	wire_reply_parser_free(&c->parser);
	delivery_error_clear(&c->pub.error);
	delivery_error_clear(&c->mail_error);
	free(c->accepted);
	free(c);
}

void delivery_conn_free_all(struct delivery_conn **all)
{
	while (*all) {
		struct delivery_conn *c = *all;
		if ((c->state == CS_IDLE || c->state == CS_READY) && c->bev && !c->tls_active) {
			/* best effort: one non-blocking write of a QUIT */
			struct evbuffer *out = bufferevent_get_output(c->bev);
			evbuffer_add(out, "QUIT\r\n", 6);
			(void)evbuffer_write(out, bufferevent_getfd(c->bev));
		}
		conn_free(c);
	}
}
