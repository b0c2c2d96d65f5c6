/* pop3/proxy - a POP3 login for an account whose mailbox lives on another
 * node (issue 11): this node took the client's USER/PASS or AUTH; it logs
 * in on the home node with the ticket its auth process gave
 * (authd/ticket.h), answers the client +OK, and from then on relays the
 * octets both ways unchanged (net/backend.c), QUIT's UPDATE included: the
 * home node keeps the maildrop and its lock.
 *
 * The dialogue with the home node, within [cluster] proxy_timeout each step
 * (authd/proxy.c connects and sends the login):
 *
 *     S: +OK ...                                   (its greeting)
 *     C: AUTH PLAIN base64(account NUL petrel-cluster NUL ticket)
 *     S: +OK ...
 *
 * A home node that is stopped, stale, without a POP3 address, unreachable
 * or refusing gets the client -ERR [SYS/TEMP] (RFC 3206): it may try again.
 * The relay ends when either side closes or both are silent for [pop3]
 * idle_timeout (RFC 1939 3's autologout); the session then closes.
 */
#include "pop3/session.h"

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
/* a backend line: RFC 2449 4's 512 octets, with room for a longer text */
#define PROXY_LINE_MAX 4096

static int proxy_line_cb(void *ctx, const char *line, size_t len);
static void proxy_fail_cb(void *ctx, const char *reason);
static void proxy_end_cb(void *ctx, const char *reason);
static void proxy_refuse(struct pop3_session *s, const char *node, const char *account,
			 const char *reason);

void pop3_proxy_start(struct pop3_session *s, const char *account, struct store_node *home,
		      const char *ticket)
{
	const struct authd_proxy_target target = {
		.base = s->server->base,
		.home = home,
		.address = home->pop3_address,
		.account = account,
		.ticket = ticket,
		.stale_after = s->config->node_stale_after,
		.timeout = s->config->cluster.proxy_timeout,
		.line_max = PROXY_LINE_MAX,
	};
	const char *why = NULL, *error = NULL;
	s->proxy = authd_proxy_open(&target, proxy_line_cb, proxy_fail_cb, s, &why, &error);
	if (error)
		log_warn("proxy-failed", "session=%s account=%s node=%s address=%s error=\"%s\"",
			 s->sid, account, home->name, home->pop3_address, error);
	if (!s->proxy)
		proxy_refuse(s, home->name, account, why);
	store_node_free(&home);
}

bool pop3_proxy_is_relaying(const struct pop3_session *s)
{
	return s->proxy && s->proxy->relaying;
}

void pop3_proxy_free(struct pop3_session *s)
{
	authd_proxy_free(&s->proxy);
}

/* proxy_refuse - the login's -ERR [SYS/TEMP]: the client may try again */
static void proxy_refuse(struct pop3_session *s, const char *node, const char *account,
			 const char *reason)
{
	log_warn("proxy-refused", "session=%s client=%s account=%s node=%s reason=%s", s->sid,
		 s->client, account, node, reason);
	pop3_reply_err(s, "[SYS/TEMP] The server that keeps this mailbox is not available now, "
		       "try again later");
	pop3_command_done(s);
}

/* proxy_line_cb - the home node's greeting, then its answer to the login */
static int proxy_line_cb(void *ctx, const char *line, size_t len)
{
	struct pop3_session *s = ctx;
	struct authd_proxy *p = s->proxy;
	bool ok = len >= 3 && strncmp(line, "+OK", 3) == 0;
	if (!p->greeted && ok) {
		authd_proxy_send_login(p, "AUTH PLAIN ");
		return 0;
	}
	if (!ok) {
		char text[200];
		log_escape(text, sizeof(text), line, len < 120 ? len : 120);
		log_warn("proxy-login-refused", "session=%s account=%s node=%s answer=%s", s->sid,
			 p->account, p->node, text);
		proxy_fail_cb(s, p->greeted ? "login-refused" : "bad-greeting");
		return -1;
	}
	/* logged in there: the session is the home node's from now on */
	s->account = xstrdup(p->account);
	s->state = POP3_STATE_TRANSACTION;
	log_info("pop3-login", "session=%s client=%s account=%s proxied=%s", s->sid, s->client,
		 s->account, p->node);
	p->relaying = true;
	pop3_reply_ok(s, "Logged in");
	pop3_command_done(s);
	net_backend_relay(p->backend, s->conn.bev, s->config->pop3.idle_timeout,
			  PROXY_OUTPUT_HIGH, proxy_end_cb);
	return -1;
}

/* proxy_fail_cb - the home node could not be reached or logged in on */
static void proxy_fail_cb(void *ctx, const char *reason)
{
	struct pop3_session *s = ctx;
	struct authd_proxy *p = s->proxy;
	s->proxy = NULL;
	proxy_refuse(s, p->node, p->account, reason);
	authd_proxy_free(&p);
}

/* proxy_end_cb - the relay is over: the session ends */
static void proxy_end_cb(void *ctx, const char *reason)
{
	struct pop3_session *s = ctx;
	log_info("proxy-end", "session=%s account=%s node=%s reason=%s", s->sid, s->account,
		 s->proxy->node, reason);
	pop3_proxy_free(s);
	pop3_session_relay_ended(s, strncmp(reason, "client-", 7) == 0);
}
