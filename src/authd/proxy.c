/* authd/proxy - the part of a proxied login IMAP and POP3 share (see
 * client.h): whether the account's home node can take it, the connection
 * to it (net/backend.c) and the ticket login sent there.  What the home
 * node's lines mean is the protocol's (imap/proxy.c, pop3/proxy.c). */
#include "authd/client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "authd/ticket.h"
#include "net/net.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/xalloc.h"

static const char *proxy_unusable(const struct store_node *home, const char *address,
				  unsigned stale_after, const char *ticket);

/* proxy_unusable - why HOME cannot take the login now, or NULL */
static const char *proxy_unusable(const struct store_node *home, const char *address,
				  unsigned stale_after, const char *ticket)
{
	if (!ticket)
		return "no-ticket";   /* this node's auth process has no [cluster] secret */
	if (home->stopped)
		return "node-stopped";
	if (home->age >= (int64_t)stale_after)
		return "node-stale";
	if (!address || address[0] == '\0')
		return "node-without-address";
	return NULL;
}

struct authd_proxy *authd_proxy_open(const struct authd_proxy_target *target,
				     net_backend_line_fn *line_cb, net_backend_fail_fn *fail_cb,
				     void *ctx, const char **why_r, const char **error_r)
{
	*error_r = NULL;
	*why_r = proxy_unusable(target->home, target->address, target->stale_after,
				target->ticket);
	if (*why_r)
		return NULL;
	struct authd_proxy *p = xcalloc(1, sizeof(*p));
	snprintf(p->node, sizeof(p->node), "%s", target->home->name);
	p->account = xstrdup(target->account);
	p->ticket = xstrdup(target->ticket);
	p->backend = net_backend_open(target->base, target->address, target->timeout,
				      target->line_max, line_cb, fail_cb, ctx, error_r);
	if (!p->backend) {
		authd_proxy_free(&p);
		*why_r = "bad-address";
	}
	return p;
}

void authd_proxy_send_login(struct authd_proxy *p, const char *prefix)
{
	struct buf cmd;
	buf_init(&cmd);
	buf_append_str(&cmd, prefix);
	authd_ticket_plain(p->account, p->ticket, &cmd);
	buf_append_str(&cmd, "\r\n");
	net_backend_send(p->backend, cmd.data, cmd.len);
	OPENSSL_cleanse(cmd.data, cmd.len);
	buf_free(&cmd);
	OPENSSL_cleanse(p->ticket, strlen(p->ticket));
	p->greeted = true;
}

void authd_proxy_free(struct authd_proxy **proxy)
{
	struct authd_proxy *p = *proxy;
	if (!p)
		return;
	*proxy = NULL;
	net_backend_free(&p->backend);
	OPENSSL_cleanse(p->ticket, strlen(p->ticket));
	free(p->ticket);
	free(p->account);
	free(p);
}
