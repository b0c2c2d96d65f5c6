/* imap/proxy - an IMAP login for an account whose mailbox lives on another
 * node (issue 11): this node took the client's login; it logs in on the
 * home node with the ticket its auth process gave (authd/ticket.h), answers
 * the client's LOGIN or AUTHENTICATE with the home node's capabilities
 * (RFC 9051 6.2.3: they are the backend's once logged in), and from then on
 * relays the octets both ways unchanged (net/backend.c): IDLE, literals
 * and a COMPRESS negotiated later pass through, between the client and the
 * home node.
 *
 * The dialogue with the home node, within [cluster] proxy_timeout each step
 * (authd/proxy.c connects and sends the login):
 *
 *     S: * OK ...                                  (its greeting)
 *     C: p1 AUTHENTICATE PLAIN base64(account NUL petrel-cluster NUL ticket)
 *     S: p1 OK [CAPABILITY ...] ...
 *
 * A home node that is stopped, stale, without an IMAP address, unreachable
 * or refusing gets the client NO [UNAVAILABLE]: it may try again.  The
 * relay ends when either side closes or both are silent for [imap]
 * idle_timeout (the autologout); the session then closes.
 */
#include "imap/session.h"

#include <stdlib.h>
#include <string.h>

#include "authd/client.h"
#include "config/config.h"
#include "net/net.h"
#include "store/store.h"
#include "util/log.h"
#include "util/xalloc.h"

/* octets waiting for one side before the other is read no more */
#define PROXY_OUTPUT_HIGH (256u * 1024u)
/* untagged lines the home node may send before its answer to the login */
#define PROXY_UNTAGGED_MAX 100
#define PROXY_TAG "p1"

static int proxy_line_cb(void *ctx, const char *line, size_t len);
static void proxy_fail_cb(void *ctx, const char *reason);
static void proxy_end_cb(void *ctx, const char *reason);
static void proxy_refuse(struct imap_session *s, const char *node, const char *account,
			 const char *reason);
static void proxy_logged_in(struct imap_session *s, const char *line, size_t len);

void imap_proxy_start(struct imap_session *s, const char *account, struct store_node *home,
		      const char *ticket)
{
	const struct authd_proxy_target target = {
		.base = s->server->base,
		.home = home,
		.address = home->imap_address,
		.account = account,
		.ticket = ticket,
		.stale_after = s->config->node_stale_after,
		.timeout = s->config->cluster.proxy_timeout,
		.line_max = s->config->imap.command_line,
	};
	const char *why = NULL, *error = NULL;
	s->proxy = authd_proxy_open(&target, proxy_line_cb, proxy_fail_cb, s, &why, &error);
	if (error)
		log_warn("proxy-failed", "session=%s account=%s node=%s address=%s error=\"%s\"",
			 s->sid, account, home->name, home->imap_address, error);
	if (!s->proxy)
		proxy_refuse(s, home->name, account, why);
	store_node_free(&home);
}

bool imap_proxy_is_relaying(const struct imap_session *s)
{
	return s->proxy && s->proxy->relaying;
}

void imap_proxy_free(struct imap_session *s)
{
	authd_proxy_free(&s->proxy);
}

/* proxy_refuse - the login's NO [UNAVAILABLE]: the client may try again */
static void proxy_refuse(struct imap_session *s, const char *node, const char *account,
			 const char *reason)
{
	log_warn("proxy-refused", "session=%s client=%s account=%s node=%s reason=%s", s->sid,
		 s->client, account, node, reason);
	imap_reply_no(s, "UNAVAILABLE", "The server that keeps this mailbox is not available "
		      "now, try again later");
}

/* proxy_line_cb - the home node's greeting, then its answer to the login */
static int proxy_line_cb(void *ctx, const char *line, size_t len)
{
	struct imap_session *s = ctx;
	struct authd_proxy *p = s->proxy;
	if (!p->greeted) {
		if (len < 4 || strncmp(line, "* OK", 4) != 0) {
			proxy_fail_cb(s, "bad-greeting");
			return -1;
		}
		authd_proxy_send_login(p, PROXY_TAG " AUTHENTICATE PLAIN ");
		return 0;
	}
	if (len >= 2 && line[0] == '*' && line[1] == ' ') {
		if (++p->lines > PROXY_UNTAGGED_MAX) {
			proxy_fail_cb(s, "too-many-lines");
			return -1;
		}
		return 0;
	}
	if (len >= sizeof(PROXY_TAG " OK") - 1 &&
	    strncmp(line, PROXY_TAG " OK", sizeof(PROXY_TAG " OK") - 1) == 0) {
		proxy_logged_in(s, line, len);
		return -1;
	}
	char text[200];
	log_escape(text, sizeof(text), line, len < 120 ? len : 120);
	log_warn("proxy-login-refused", "session=%s account=%s node=%s answer=%s", s->sid,
		 p->account, p->node, text);
	proxy_fail_cb(s, "login-refused");
	return -1;
}

/* proxy_logged_in - the home node took the login (LINE is its tagged OK):
 * the client's OK with the home node's capabilities, then the relay */
static void proxy_logged_in(struct imap_session *s, const char *line, size_t len)
{
	struct authd_proxy *p = s->proxy;
	static const char key[] = "[CAPABILITY ";
	const char *end = line + len;
	const char *code = memmem(line, len, key, sizeof(key) - 1);
	const char *close = code ? memchr(code, ']', (size_t)(end - code)) : NULL;
	char *caps = close ? xstrndup(code + 1, (size_t)(close - code - 1)) : NULL;
	s->account = xstrdup(p->account);
	imap_session_logged_in(s);
	log_info("login", "session=%s client=%s account=%s proxied=%s", s->sid, s->client,
		 s->account, p->node);
	p->relaying = true;
	imap_reply_ok(s, caps, "Logged in");
	free(caps);
	net_backend_relay(p->backend, s->conn.bev, s->config->imap.idle_timeout,
			  PROXY_OUTPUT_HIGH, proxy_end_cb);
}

/* proxy_fail_cb - the home node could not be reached or logged in on */
static void proxy_fail_cb(void *ctx, const char *reason)
{
	struct imap_session *s = ctx;
	struct authd_proxy *p = s->proxy;
	s->proxy = NULL;
	proxy_refuse(s, p->node, p->account, reason);
	authd_proxy_free(&p);
}

/* proxy_end_cb - the relay is over: the session ends (what the home node
 * said last is written first, unless the client is gone) */
static void proxy_end_cb(void *ctx, const char *reason)
{
	struct imap_session *s = ctx;
	log_info("proxy-end", "session=%s account=%s node=%s reason=%s", s->sid, s->account,
		 s->proxy->node, reason);
	imap_proxy_free(s);
	imap_session_relay_ended(s, strncmp(reason, "client-", 7) == 0);
}
