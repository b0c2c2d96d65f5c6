/* net/conn - a client connection as the SMTP, IMAP, POP3 and HTTP
 * sessions hold it: the stack of bufferevents (the socket's, a TLS or
 * other filter over it), their callbacks handed on to the session's ops
 * (net_conn_setcb) and the read-on from the loop, the orderly close (the
 * last replies written, then a TLS close_notify), the free-later of a
 * session whose callback is running (buried in the server's net_sessions
 * table) and the disconnect.  What the servers do differently stays in
 * their session.c. */
#include "net/net.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>

#include "util/log.h"

static void conn_close_done(struct net_conn *conn);
static void conn_read_cb(struct bufferevent *bev, void *arg);
static void conn_write_cb(struct bufferevent *bev, void *arg);
static void conn_event_cb(struct bufferevent *bev, short what, void *arg);
static void conn_resume_cb(evutil_socket_t fd, short what, void *arg);
static void conn_plain_drained_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info,
				  void *arg);

uint64_t net_conn_init(struct net_conn *conn, struct net_sessions *table,
		       const struct net_conn_ops *ops, void *session,
		       const char *sid, const char *client)
{
	conn->table = table;
	conn->ops = ops;
	conn->session = session;
	conn->sid = sid;
	conn->client = client;
	return net_sessions_add(table, &conn->link, session);
}

int net_conn_open(struct net_conn *conn, struct event_base *base, int fd, SSL_CTX *tls)
{
	if (conn->ops && conn->ops->input) {
		conn->resume_ev = event_new(base, -1, 0, conn_resume_cb, conn);
		if (!conn->resume_ev)
			return -1;
	}
	if (tls) {
		/* RFC 8314 3.3: TLS first, then the greeting inside it */
		SSL *ssl = SSL_new(tls);
		conn->bev = bufferevent_openssl_socket_new(base, fd, ssl,
							   BUFFEREVENT_SSL_ACCEPTING,
							   BEV_OPT_CLOSE_ON_FREE);
		conn->tls = true;
		conn->tls_bev = conn->bev;
		conn->handshaking = true;
	} else {
		conn->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	}
	return conn->bev ? 0 : -1;
}

void net_conn_setcb(struct net_conn *conn)
{
	bufferevent_setcb(conn->bev, conn_read_cb, conn_write_cb, conn_event_cb, conn);
}

void net_conn_resume_input(struct net_conn *conn)
{
	if (conn->resume_ev)  /* not once disconnected */
		event_active(conn->resume_ev, EV_TIMEOUT, 0);
}

static void conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct net_conn *conn = arg;
	(void)bev;
	conn->ops->input(conn->session);
}

static void conn_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct net_conn *conn = arg;
	(void)fd;
	(void)what;
	conn->ops->input(conn->session);
}

static void conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct net_conn *conn = arg;
	(void)bev;
	if (!net_conn_written(conn))
		conn->ops->output_written(conn->session);
}

static void conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct net_conn *conn = arg;
	(void)bev;
	conn->ops->event(conn->session, what);
}

void net_conn_push_filter(struct net_conn *conn, struct bufferevent *filter, size_t output_high)
{
	struct bufferevent *under = conn->bev;
	if (!conn->plain_bev) {
		conn->plain_bev = under;
		conn->plain_drain_cb = evbuffer_add_cb(bufferevent_get_output(under),
						       conn_plain_drained_cb, conn);
	}
	/* the filter stops above this, so that the session's own output
	 * (and its back-pressure) reflects what the client has not read */
	if (output_high > 0)
		bufferevent_setwatermark(under, EV_WRITE, 0, output_high);
	conn->bev = filter;
}

int net_conn_start_tls(struct net_conn *conn, struct event_base *base, SSL_CTX *tls,
		       size_t output_high)
{
	SSL *ssl = SSL_new(tls);
	struct bufferevent *tls_bev = ssl ? bufferevent_openssl_filter_new(
		base, conn->bev, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE)
		: NULL;
	if (!tls_bev) {
		if (ssl)
			SSL_free(ssl);
		log_error("tls-failed", "session=%s error=\"cannot create TLS filter\"", conn->sid);
		return -1;
	}
	net_conn_push_filter(conn, tls_bev, output_high);
	conn->tls_bev = tls_bev;
	conn->tls = true;
	conn->handshaking = true;
	return 0;
}

void net_conn_handshake_done(struct net_conn *conn, char *info, size_t size)
{
	SSL *ssl = bufferevent_openssl_get_ssl(conn->bev);
	if (ssl) {
		net_tls_describe(ssl, info, size);
		log_info("tls", "session=%s client=%s %s", conn->sid, conn->client, info);
		net_sessions_count_tls(conn->table, SSL_version(ssl));
	}
	conn->handshaking = false;
}

void net_conn_log_error(struct net_conn *conn)
{
	unsigned long tls_err = conn->tls ? bufferevent_get_openssl_error(conn->bev) : 0;
	if (tls_err) {
		char detail[200];
		ERR_error_string_n(tls_err, detail, sizeof(detail));
		log_info("tls-failed", "session=%s client=%s error=\"%s\"", conn->sid,
			 conn->client, detail);
	} else {
		log_info("connection-error", "session=%s client=%s error=\"%s\"", conn->sid,
			 conn->client, strerror(errno));
	}
}

void net_conn_close(struct net_conn *conn)
{
	if (conn->closing || conn->dead)
		return;
	conn->closing = true;
	bufferevent_disable(conn->bev, EV_READ);
	if (net_bufferevent_pending(conn->bev) == 0)
		conn_close_done(conn);
}

/* conn_close_done - the last reply is written: end TLS with a close_notify
 * (a client such as Exim logs a bare TCP close as an attack on the
 * connection), then free */
static void conn_close_done(struct net_conn *conn)
{
	if (conn->tls_bev && !conn->handshaking)
		net_tls_close_notify(conn->tls_bev);
	net_conn_free_later(conn);
}

bool net_conn_written(struct net_conn *conn)
{
	if (conn->dead)
		return true;
	if (!conn->closing)
		return false;
	if (net_bufferevent_pending(conn->bev) == 0)
		conn_close_done(conn);
	return true;
}

/* conn_plain_drained_cb - the socket under a filter wrote: free if closing,
 * else tell the session (OPS->written) */
static void conn_plain_drained_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info,
				  void *arg)
{
	struct net_conn *conn = arg;
	(void)buf;
	if (info->n_deleted == 0 || conn->dead)
		return;
	if (conn->closing) {
		if (net_bufferevent_pending(conn->bev) == 0)
			conn_close_done(conn);
	} else if (conn->ops && conn->ops->written) {
		conn->ops->written(conn->session);
	}
}

bool net_conn_drain_silent(struct net_conn *conn)
{
	if (conn->dead || conn->closing)
		return true;
	if (conn->handshaking) {
		/* nothing can be said before the TLS handshake is done */
		net_conn_free_later(conn);
		return true;
	}
	return false;
}

void net_conn_goodbye(struct net_conn *conn, const char *fmt, ...)
{
	if (conn->dead || conn->closing || conn->handshaking)
		return;
	va_list ap;
	va_start(ap, fmt);
	evbuffer_add_vprintf(bufferevent_get_output(conn->bev), fmt, ap);
	va_end(ap);
	/* one non-blocking write of the socket (a drain is the orderly way);
	 * under a filter that is no TLS (COMPRESS) it has put its octets in
	 * the socket's buffer already */
	if (!conn->tls)
		net_bufferevent_write_now(conn->plain_bev ? conn->plain_bev : conn->bev);
}

void net_conn_free_later(struct net_conn *conn)
{
	if (conn->dead)
		return;
	conn->dead = true;
	bufferevent_disable(conn->bev, EV_READ | EV_WRITE);
	net_sessions_bury(conn->table, &conn->link);
}

void net_conn_disconnect(struct net_conn *conn)
{
	if (!conn->dead)
		net_sessions_remove(conn->table, &conn->link);
	conn->dead = true;
	log_info("disconnect", "session=%s client=%s", conn->sid, conn->client);
	if (conn->plain_drain_cb)
		evbuffer_remove_cb_entry(bufferevent_get_output(conn->plain_bev),
					 conn->plain_drain_cb);
	conn->plain_drain_cb = NULL;
	if (conn->resume_ev)
		event_free(conn->resume_ev);
	conn->resume_ev = NULL;
	if (conn->bev)
		bufferevent_free(conn->bev);
	conn->bev = NULL;
	conn->plain_bev = NULL;
	conn->tls_bev = NULL;
}
