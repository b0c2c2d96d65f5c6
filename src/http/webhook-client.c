/* http/webhook-client - one POST of the event webhook (http/webhook.h) on
 * the loop, never waiting: the host's address from the resolver (dns/,
 * asynchronous) unless it is a literal, a non-blocking connect, TLS with
 * the certificate checked against the host (https), the request written,
 * and the answer read until its status line is whole, at most
 * response_max octets of it.  One timer bounds it all.  The answer's rest
 * is not read: the status decides, and the connection is closed. */
#include "http/webhook.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "dns/dns.h"
#include "util/buf.h"
#include "util/xalloc.h"

struct http_webhook_post {
	struct event_base *base;
	struct http_webhook_post_settings settings;
	struct http_webhook_url url;
	struct buf request;
	struct event *timer;
	struct dns_query *query;
	bool tried_aaaa;
	struct bufferevent *bev;
	http_webhook_post_fn *done;
	void *ctx;
};

static void post_finish(struct http_webhook_post *p, int status, const char *error);
static void post_free(struct http_webhook_post *p);
static void post_timeout_cb(evutil_socket_t fd, short what, void *arg);
static void post_resolved(void *arg, const struct dns_records *records);
static void post_connect(struct http_webhook_post *p, const struct sockaddr *sa,
			 socklen_t salen);
static SSL *post_ssl(struct http_webhook_post *p);
static void post_read_cb(struct bufferevent *bev, void *arg);
static void post_answer(struct http_webhook_post *p, bool eof);
static void post_event_cb(struct bufferevent *bev, short what, void *arg);
static bool address_parse(const char *host, uint16_t port, struct sockaddr_storage *ss,
			  socklen_t *len_r);

/* address_parse - HOST, an IP literal, with PORT into SS */
static bool address_parse(const char *host, uint16_t port, struct sockaddr_storage *ss,
			  socklen_t *len_r)
{
	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in *in = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons(port);
		*len_r = sizeof(*in);
		return true;
	}
	if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		*len_r = sizeof(*in6);
		return true;
	}
	return false;
}

struct http_webhook_post *http_webhook_post_start(struct event_base *base,
						  const struct http_webhook_post_settings *settings,
						  const struct http_webhook_url *url,
						  const char *headers, const char *body, size_t len,
						  http_webhook_post_fn *done, void *ctx)
{
	struct http_webhook_post *p = xcalloc(1, sizeof(*p));
	p->base = base;
	p->settings = *settings;
	p->url = *url;
	p->done = done;
	p->ctx = ctx;
	bool v6 = strchr(url->host, ':') != NULL;
	buf_init(&p->request);
	buf_printf(&p->request, "POST %s HTTP/1.1\r\nHost: %s%s%s:%u\r\n"
		   "User-Agent: Petrel event webhook\r\nContent-Type: application/json\r\n"
		   "Content-Length: %zu\r\nConnection: close\r\n%s\r\n", url->target,
		   v6 ? "[" : "", url->host, v6 ? "]" : "", url->port, len, headers ? headers : "");
	buf_append(&p->request, body, len);
	p->timer = evtimer_new(base, post_timeout_cb, p);
	struct timeval tv = { .tv_sec = settings->timeout_ms / 1000,
			      .tv_usec = (settings->timeout_ms % 1000) * 1000 };
	if (!p->timer || evtimer_add(p->timer, &tv) != 0)
		abort();
	struct sockaddr_storage ss;
	socklen_t salen;
	if (address_parse(url->host, url->port, &ss, &salen)) {
		post_connect(p, (struct sockaddr *)&ss, salen);
	} else if (!settings->dns ||
		   !(p->query = dns_lookup(settings->dns, url->host, DNS_TYPE_A, post_resolved, p))) {
		/* answered from the loop, never from inside the caller */
		struct timeval now = { 0, 0 };
		p->settings.timeout_ms = 0;
		evtimer_add(p->timer, &now);
	}
	return p;
}

void http_webhook_post_cancel(struct http_webhook_post **post)
{
	if (*post)
		post_free(*post);
	*post = NULL;
}

static void post_free(struct http_webhook_post *p)
{
	if (p->query)
		dns_cancel(p->query);
	if (p->bev)
		bufferevent_free(p->bev);
	if (p->timer)
		event_free(p->timer);
	buf_free(&p->request);
	free(p);
}

/* post_finish - DONE(CTX, STATUS, ERROR) once, then P is gone */
static void post_finish(struct http_webhook_post *p, int status, const char *error)
{
	http_webhook_post_fn *done = p->done;
	void *ctx = p->ctx;
	post_free(p);
	done(ctx, status, error);
}

static void post_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http_webhook_post *p = arg;
	(void)fd;
	(void)what;
	post_finish(p, -1, p->settings.timeout_ms == 0 ? "cannot resolve the host" : "timed out");
}

/* post_resolved - the first address of the host (A, then AAAA) */
static void post_resolved(void *arg, const struct dns_records *records)
{
	struct http_webhook_post *p = arg;
	p->query = NULL;
	struct sockaddr_storage ss;
	socklen_t salen;
	if (records->status == DNS_OK && records->count > 0 &&
	    address_parse(records->items[0], p->url.port, &ss, &salen)) {
		post_connect(p, (struct sockaddr *)&ss, salen);
		return;
	}
	if (!p->tried_aaaa && records->status != DNS_TEMPFAIL && records->status != DNS_NXDOMAIN) {
		p->tried_aaaa = true;
		p->query = dns_lookup(p->settings.dns, p->url.host, DNS_TYPE_AAAA, post_resolved, p);
		if (p->query)
			return;
	}
	post_finish(p, -1, "cannot resolve the host");
}

/* post_ssl - a client connection that checks the certificate against the
 * URL's host (RFC 6125; an IP literal against its IP addresses) */
static SSL *post_ssl(struct http_webhook_post *p)
{
	SSL *ssl = p->settings.tls ? SSL_new(p->settings.tls) : NULL;
	if (!ssl)
		return NULL;
	unsigned char a[16];
	bool literal = inet_pton(AF_INET, p->url.host, a) == 1 ||
		inet_pton(AF_INET6, p->url.host, a) == 1;
	int ok = literal ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), p->url.host)
			 : SSL_set1_host(ssl, p->url.host) &&
			   SSL_set_tlsext_host_name(ssl, p->url.host);
	if (ok != 1) {
		SSL_free(ssl);
		return NULL;
	}
	SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	SSL_set_verify(ssl, SSL_VERIFY_PEER, NULL);
	return ssl;
}

static void post_connect(struct http_webhook_post *p, const struct sockaddr *sa,
			 socklen_t salen)
{
	const int opts = BEV_OPT_CLOSE_ON_FREE;
	if (p->url.tls) {
		SSL *ssl = post_ssl(p);
		if (!ssl) {
			post_finish(p, -1, "no TLS client context");
			return;
		}
		p->bev = bufferevent_openssl_socket_new(p->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
							opts);
	} else {
		p->bev = bufferevent_socket_new(p->base, -1, opts);
	}
	if (!p->bev) {
		post_finish(p, -1, "cannot make a connection");
		return;
	}
	bufferevent_setcb(p->bev, post_read_cb, NULL, post_event_cb, p);
	bufferevent_setwatermark(p->bev, EV_READ, 0, p->settings.response_max);
	if (bufferevent_enable(p->bev, EV_READ | EV_WRITE) != 0 ||
	    bufferevent_write(p->bev, p->request.data, p->request.len) != 0 ||
	    bufferevent_socket_connect(p->bev, sa, (int)salen) != 0)
		post_finish(p, -1, "cannot connect");
}

/* post_answer - the answer so far: done once its status line is whole,
 * or (EOF) once the peer has closed */
static void post_answer(struct http_webhook_post *p, bool eof)
{
	struct evbuffer *in = bufferevent_get_input(p->bev);
	size_t len = evbuffer_get_length(in);
	int code = 0;
	int rc = http_webhook_status_parse((const char *)evbuffer_pullup(in, -1), len, &code);
	if (rc > 0)
		post_finish(p, code, NULL);
	else if (rc < 0)
		post_finish(p, -1, "the answer is not HTTP");
	else if (len >= p->settings.response_max)
		post_finish(p, -1, "the answer is too long");
	else if (eof)
		post_finish(p, -1, "the connection closed before an answer");
}

static void post_read_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	post_answer(arg, false);
}

static void post_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct http_webhook_post *p = arg;
	(void)bev;
	if (what & BEV_EVENT_CONNECTED)
		return;
	if (what & BEV_EVENT_EOF)
		post_answer(p, true);
	else
		post_finish(p, -1, p->url.tls ? "connection or TLS failed" : "connection failed");
}
