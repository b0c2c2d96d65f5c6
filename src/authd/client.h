/* authd/client - the login path SMTP, IMAP and POP3 share, in the network
 * process, on its event loop.
 *
 * This process never sees a password hash or a SCRAM key.  A login parses
 * the client's SASL messages (authd/sasl.h), asks the auth process
 * (authd.c, over the ipc client given to authd_client_create) whether the
 * password or the SCRAM proof is right, and then reads the account, without
 * secrets, on the worker pool.  The session reads nothing from its client
 * while it waits for the callback.
 *
 * Outcomes (struct authd_outcome), each through the login's callback:
 *
 *   AUTHD_CHALLENGE   send DATA (LEN bytes, raw: base64 it) as the
 *                     protocol's continuation ("334 ", "+ "), read the
 *                     client's answer and hand it, base64-decoded, to
 *                     authd_login_step.  A client that cancels ("*") or
 *                     sends what does not decode: authd_login_free and
 *                     the protocol's reply; the login knows nothing of it.
 *   AUTHD_OK          ACCOUNT is the session's from now on (it frees it
 *                     with policy_account_free); so is HOME, the node the
 *                     account's mailbox lives on when the peer asked for it
 *                     (want_home) and it is set (store_node_free), with
 *                     TICKET, when the auth process holds a [cluster]
 *                     secret, for logging in there on its behalf
 *                     (authd/ticket.h).  A login by ticket (BY_TICKET,
 *                     another node's on the account's behalf) has neither:
 *                     it is served here.
 *   AUTHD_WRONG       wrong password or proof, unknown user, disabled or
 *                     vanished account: one answer for all, so that the
 *                     reply tells nothing (RFC 4954 6).  The throttle's
 *                     delay has already passed: reply at once.
 *   AUTHD_TRY_LATER   the auth process did not answer within
 *                     auth.helper_timeout (down, restarting, slow), its
 *                     check queue (auth.hash_queue) was full (BUSY: then
 *                     the callback comes a second late, so that a flood
 *                     costs one reply a second per connection), or the
 *                     store failed.  Never a success.
 *   AUTHD_LOCKED_OUT  the client's address is locked out (auth.lockout_after
 *                     failures within auth.failure_window; auth.lockout_time)
 *   AUTHD_MALFORMED   a response the mechanism does not allow (PLAIN
 *                     without its NULs, a bad SCRAM message, a user or
 *                     password longer than AUTHD_USER_MAX /
 *                     AUTHD_PASSWORD_MAX): SMTP's 501, IMAP's BAD, POP3's
 *                     -ERR.
 * After any outcome but CHALLENGE the login is over: authd_login_free it.
 *
 * An IMAP session, for example:
 *
 *	AUTHENTICATE PLAIN [ir]  ->  s->login = authd_login_sasl(auth, &peer,
 *	                                 AUTHD_MECH_PLAIN, ir, ir_len, has_ir, cb, s);
 *	LOGIN user password      ->  s->login = authd_login_password(auth, &peer,
 *	                                 user, password, cb, s);
 *	cb(s, o): CHALLENGE -> "+ " base64(o->data), the next line to
 *	          authd_login_step; anything else -> the tagged reply, then
 *	          authd_login_free(&s->login)
 *	the session closes       ->  authd_login_free(&s->login)
 *
 * Rules of the callback: it runs on the loop, never inside the authd_login_*
 * call that caused it, exactly once per authd_login_sasl, _password or _step
 * (unless the login is freed first: then never).  It may free the login.
 * OUTCOME and its DATA, USER and REASON live during the callback only.
 *
 * The throttle (policy.h) is the network process's one per-address
 * throttle, shared by every listener: a login refuses a locked-out address
 * before any check, counts every WRONG it gives (a disabled account's right
 * password included: only this process knows it failed, and its answer
 * must wait and lock out like a wrong one's) and remembers the lockouts the
 * auth process reports; listeners refuse a locked-out address at connect
 * with policy_throttle_is_locked.
 *
 * Logs (key=value, with the session id and client of struct authd_peer):
 * auth (success), auth-failed, auth-refused (locked out, busy, tempfail),
 * auth-unavailable (no usable answer); callers do not log outcomes again.
 * Passwords and proofs are wiped once sent and never logged.
 *
 * All functions run on the loop thread.
 */
#ifndef PETREL_AUTHD_CLIENT_H
#define PETREL_AUTHD_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "ipc/ipc.h"
#include "net/net.h"

struct event_base;
struct ipc_client;
struct policy_account;
struct policy_throttle;
struct pool;
struct store;
struct store_node;
struct authd_client;
struct authd_login;

enum authd_mech {
	AUTHD_MECH_NONE = 0,
	AUTHD_MECH_PLAIN,          /* RFC 4616 */
	AUTHD_MECH_LOGIN,          /* draft-murchison-sasl-login: "Username:", "Password:" */
	AUTHD_MECH_SCRAM_SHA_256,  /* RFC 5802, RFC 7677 */
};

/* authd_mech_find - the mechanism NAME (LEN bytes, any case), or NONE */
enum authd_mech authd_mech_find(const char *name, size_t len);
/* authd_mech_name - "PLAIN", "LOGIN", "SCRAM-SHA-256" */
const char *authd_mech_name(enum authd_mech mech);

enum authd_result {
	AUTHD_CHALLENGE,
	AUTHD_OK,
	AUTHD_WRONG,
	AUTHD_TRY_LATER,
	AUTHD_LOCKED_OUT,
	AUTHD_MALFORMED,
};

struct authd_outcome {
	enum authd_result result;
	const unsigned char *data;      /* CHALLENGE: the server's message (may be empty) */
	size_t len;
	struct policy_account *account; /* OK: now the caller's */
	const char *user;               /* WRONG: the name tried, as the client sent it
					   (an "auth-failed" event's account) */
	const char *reason;             /* WRONG: bad-password, no-such-account, disabled, ...;
					   TRY_LATER: busy, no-answer, store-error, ... */
	bool busy;                      /* TRY_LATER: the auth process's queue was full */
	const char *apikey_scopes;      /* OK by an API key (user "apikey"): its scopes;
					   NULL for a password */
	const char *ticket;             /* OK: a ticket for the account, or NULL */
	struct store_node *home;        /* OK with want_home: the account's home node,
					   now the caller's; NULL: none set */
	bool by_ticket;                 /* OK: another node logged in with a ticket */
};

typedef void authd_login_fn(void *ctx, const struct authd_outcome *outcome);

/* Who is logging in: copied by the login. */
struct authd_peer {
	const char *session;                 /* the session's id in the logs */
	const char *client;                  /* the address as logged (< 64 bytes) */
	const struct sockaddr_storage *addr; /* the throttle's key */
	const char *apikey_scope;            /* user "apikey": the scope the key must
						have (SMTP: "mail.send"; "": any key);
						NULL: API keys are refused (IMAP, POP3) */
	bool cluster;                        /* the client is a node ([cluster] from):
						PLAIN with authzid ACCOUNT, authcid
						AUTHD_CLUSTER_USER and a ticket is
						taken; from others that is a wrong
						password */
	bool want_home;                      /* read the account's home node after a
						login (IMAP, POP3 in a cluster) */
};

/* authd_client_create - logins ask the auth process through IPC (made with
 * auth.helper_timeout: a call not answered by then is TRY_LATER), count
 * failures in THROTTLE, read accounts from STORE on POOL.  The caller keeps
 * all four alive until authd_client_free, and frees every login first. */
struct authd_client *authd_client_create(struct ipc_client *ipc, struct policy_throttle *throttle,
					 struct store *store, struct pool *pool,
					 struct event_base *base);
void authd_client_free(struct authd_client **client);

/* authd_login_sasl - start a SASL exchange with MECH for PEER.  With
 * HAS_INITIAL the client sent an initial response (RFC 4954 4, RFC 4959,
 * RFC 5034; INITIAL, decoded, LEN bytes, may be empty, and NULL when LEN is
 * 0): it is the first step; without, the first outcome is an (empty, or
 * LOGIN's "Username:") CHALLENGE.  A locked-out address gets LOCKED_OUT. */
struct authd_login *authd_login_sasl(struct authd_client *client, const struct authd_peer *peer,
				     enum authd_mech mech, const void *initial, size_t len,
				     bool has_initial, authd_login_fn *cb, void *ctx);
/* authd_login_step - the client's decoded answer (LEN bytes, may be empty;
 * DATA may be NULL when LEN is 0) to the last CHALLENGE; only after one */
void authd_login_step(struct authd_login *login, const void *data, size_t len);
/* authd_login_password - check USER's PASSWORD (NUL-terminated, not kept:
 * the caller wipes its own copy), as IMAP LOGIN (RFC 9051 6.2.3) and POP3
 * USER/PASS (RFC 1939 7) give them; never a CHALLENGE */
struct authd_login *authd_login_password(struct authd_client *client,
					 const struct authd_peer *peer, const char *user,
					 const char *password, authd_login_fn *cb, void *ctx);
/* authd_apikey_call - an IPC_AUTH_APIKEY_* request (ipc.h: TYPE with COUNT
 * FIELDS) for an account the caller has authorized (http/apikeys.c); CB
 * gets the auth process's reply as an ipc_reply_fn (NULL: no answer).
 * Returns the call's id for authd_apikey_cancel. */
uint32_t authd_apikey_call(struct authd_client *client, uint8_t type, unsigned count,
			   const struct ipc_field *fields, ipc_reply_fn *cb, void *ctx);
/* authd_password_set - IPC_AUTH_PASSWORD_SET: the auth process hashes
 * PASSWORD (NUL-terminated, not kept: the caller wipes its copy) and makes
 * it ACCOUNT's (the web sign-up and reset, http/web-signup.c,
 * web-reset.c); CB as for authd_apikey_call: R_OK(account), R_TEMPFAIL, or NULL.
 * Returns the call's id for authd_apikey_cancel. */
uint32_t authd_password_set(struct authd_client *client, const char *account,
			    const char *password, ipc_reply_fn *cb, void *ctx);
/* authd_apikey_cancel - CB of call ID will not run; 0: nothing */
void authd_apikey_cancel(struct authd_client *client, uint32_t id);

/* ---- a login proxied to the account's home node (proxy.c) -------------------
 * IMAP and POP3 (imap/proxy.c, pop3/proxy.c): after an OK whose HOME is
 * another node, connect there (net/backend.c), read its greeting, send the
 * ticket login (authd_proxy_send_login), read its answer, then relay. */

struct authd_proxy {
	struct net_backend *backend;
	char node[64];                 /* the home node's name */
	char *account;
	char *ticket;                  /* wiped once sent */
	bool greeted;                  /* the login was sent */
	bool relaying;                 /* the protocol set it: only octets from now on */
	unsigned lines;                /* the protocol's count of lines read */
};

struct authd_proxy_target {
	struct event_base *base;
	const struct store_node *home; /* the OK's */
	const char *address;           /* the protocol's address of HOME (imap_address ...) */
	const char *account;
	const char *ticket;            /* the OK's; NULL: no [cluster] secret here */
	unsigned stale_after;          /* [server] node_stale_after */
	unsigned timeout;              /* [cluster] proxy_timeout */
	size_t line_max;               /* octets of a line of the home node's, CRLF included */
};

/* authd_proxy_open - connect to TARGET's home node (lines to LINE_CB, a
 * failure to FAIL_CB, with CTX: net.h); NULL when it cannot take the login,
 * *why_r saying why (no-ticket: this node's auth process has no [cluster]
 * secret; node-stopped; node-stale; node-without-address; bad-address, with
 * *error_r) */
struct authd_proxy *authd_proxy_open(const struct authd_proxy_target *target,
				     net_backend_line_fn *line_cb, net_backend_fail_fn *fail_cb,
				     void *ctx, const char **why_r, const char **error_r);
/* authd_proxy_send_login - PREFIX ("p1 AUTHENTICATE PLAIN ", "AUTH PLAIN ")
 * then the ticket's PLAIN message in base64 and CRLF to the home node; the
 * ticket is wiped */
void authd_proxy_send_login(struct authd_proxy *proxy, const char *prefix);
/* authd_proxy_free - close the connection; NULL or *PROXY NULL: nothing */
void authd_proxy_free(struct authd_proxy **proxy);
/* authd_login_free - end the login: a pending ipc call, account read or
 * delayed outcome is cancelled and no callback follows; secrets are wiped.
 * NULL or *LOGIN NULL: nothing. */
void authd_login_free(struct authd_login **login);

#endif
