/* authd/client - the login path SMTP, IMAP and POP3 share (see client.h).
 *
 * A login is a small state machine over the mechanism's steps; each step
 * that needs an answer makes one ipc call to the auth process or one job on
 * the worker pool, and every outcome leaves through one timer (login_later),
 * so that the callback never runs inside the call that caused it, and the
 * throttle's delay and the busy second are the same timer with a delay.
 *
 * SCRAM-SHA-256 steps (RFC 5802 5): 0 client-first awaited, 1 SCRAM_START
 * asked, 2 client-final awaited (server-first sent), 3 SCRAM_PROOF asked
 * (then the account read), 4 the client's empty answer to server-final
 * awaited.  LOGIN: 0 the name awaited, 1 the password.  PLAIN: 0.
 */
#include "authd/client.h"

#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/event.h>
#include <openssl/crypto.h>

#include "authd/authd.h"
#include "authd/sasl.h"
#include "authd/ticket.h"
#include "ipc/ipc.h"
#include "policy/policy.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/pool.h"
#include "util/xalloc.h"

/* the longest the throttle makes a failure wait, whatever an answer says */
#define LOGIN_DELAY_MAX 5

struct authd_client {
	struct event_base *base;
	struct ipc_client *ipc;
	struct policy_throttle *throttle;
	struct store *store;
	struct pool *pool;
};

/* the account read on the pool; LOGIN NULL once the login is gone */
struct login_job {
	struct authd_login *login;
	struct store *store;
	char *name;
	struct policy_account *account;
	bool want_home;
	struct store_node *home;
	const char *reason;
};

struct authd_login {
	struct authd_client *client;
	enum authd_mech mech;          /* NONE: authd_login_password */
	unsigned step;
	bool over;                     /* a final outcome was given */
	char session[32];
	char peer[64];
	struct sockaddr_storage addr;
	char *user;                    /* the name being checked (logs, WRONG's user) */
	uint32_t call;                 /* the auth process's answer awaited (0: none) */
	struct login_job *job;         /* the account being read (NULL: none) */
	struct sasl_scram scram;
	unsigned char signature[SASL_SCRAM_PROOF_LEN]; /* from the auth process */
	struct policy_account *account; /* OK's; SCRAM: kept until server-final's answer */
	char *scope;                   /* the scope an API key must have (NULL: keys refused) */
	char *apikey_scopes;           /* an API key's, as the auth process said; else NULL */
	bool cluster;                  /* the peer's: ticket logins taken */
	bool want_home;                /* the peer's: the home node read after the account */
	bool by_ticket;                /* a ticket is being checked (TICKET) */
	char *ticket;                  /* OK's, from the auth process; else NULL */
	struct store_node *home;       /* OK's, with want_home */
	/* the outcome login_timer_cb gives */
	struct event *timer;
	enum authd_result result;
	char reason[65];
	bool busy;
	struct buf challenge;
	authd_login_fn *cb;
	void *ctx;
};

static struct authd_login *login_new(struct authd_client *client, const struct authd_peer *peer,
				     enum authd_mech mech, authd_login_fn *cb, void *ctx);
static const char *login_mech_name(const struct authd_login *l);
static void login_later(struct authd_login *l, enum authd_result result, const char *reason,
			unsigned delay);
static void login_timer_cb(evutil_socket_t fd, short what, void *arg);
static void login_challenge(struct authd_login *l, const void *data, size_t len);
static void login_malformed(struct authd_login *l);
static bool login_is_locked(struct authd_login *l);
static void login_refused(struct authd_login *l, const char *reason);
static void login_unavailable(struct authd_login *l, const char *why);
static void login_wrong(struct authd_login *l, const char *reason, unsigned delay);
static void login_succeeded(struct authd_login *l, struct policy_account *account);
static void login_scram_step(struct authd_login *l, const char *data, size_t len);
static void login_check_password(struct authd_login *l, char *user, const char *password);
static void login_check_ticket(struct authd_login *l, char *account, const char *ticket);
static void login_plain_step(struct authd_login *l, const char *data, size_t len);
static void login_call(struct authd_login *l, uint8_t type, unsigned count,
		      const struct ipc_field *fields);
static void login_reply_cb(void *ctx, const struct ipc_msg *reply);
static void login_answer_ok(struct authd_login *l, const struct ipc_msg *reply);
static void login_answer_not_ok(struct authd_login *l, const struct ipc_msg *reply);
static void login_account_read(struct authd_login *l, const char *name);
static void login_job_work(void *arg);
static void login_job_done(void *arg);
static void login_job_free(struct login_job *job);

enum authd_mech authd_mech_find(const char *name, size_t len)
{
	if (len == 5 && strncasecmp(name, "PLAIN", 5) == 0)
		return AUTHD_MECH_PLAIN;
	if (len == 5 && strncasecmp(name, "LOGIN", 5) == 0)
		return AUTHD_MECH_LOGIN;
	if (len == 13 && strncasecmp(name, "SCRAM-SHA-256", 13) == 0)
		return AUTHD_MECH_SCRAM_SHA_256;
	return AUTHD_MECH_NONE;
}

const char *authd_mech_name(enum authd_mech mech)
{
	switch (mech) {
	case AUTHD_MECH_PLAIN:
		return "PLAIN";
	case AUTHD_MECH_LOGIN:
		return "LOGIN";
	case AUTHD_MECH_SCRAM_SHA_256:
		return "SCRAM-SHA-256";
	case AUTHD_MECH_NONE:
		break;
	}
	return "none";
}

struct authd_client *authd_client_create(struct ipc_client *ipc, struct policy_throttle *throttle,
					 struct store *store, struct pool *pool,
					 struct event_base *base)
{
	struct authd_client *c = xcalloc(1, sizeof(*c));
	c->ipc = ipc;
	c->throttle = throttle;
	c->store = store;
	c->pool = pool;
	c->base = base;
	return c;
}

void authd_client_free(struct authd_client **client)
{
	free(*client);
	*client = NULL;
}

struct authd_login *authd_login_sasl(struct authd_client *client, const struct authd_peer *peer,
				     enum authd_mech mech, const void *initial, size_t len,
				     bool has_initial, authd_login_fn *cb, void *ctx)
{
	assert(mech != AUTHD_MECH_NONE);
	struct authd_login *l = login_new(client, peer, mech, cb, ctx);
	if (login_is_locked(l))
		return l;
	if (has_initial)
		authd_login_step(l, initial, len);
	else if (mech == AUTHD_MECH_LOGIN)
		login_challenge(l, "Username:", 9);
	else
		login_challenge(l, "", 0);
	return l;
}

struct authd_login *authd_login_password(struct authd_client *client,
					 const struct authd_peer *peer, const char *user,
					 const char *password, authd_login_fn *cb, void *ctx)
{
	struct authd_login *l = login_new(client, peer, AUTHD_MECH_NONE, cb, ctx);
	size_t user_len = strlen(user), password_len = strlen(password);
	/* the limits the auth process enforces (authd/request.c) */
	if (user_len == 0 || user_len > AUTHD_USER_MAX || password_len == 0 ||
	    password_len > AUTHD_PASSWORD_MAX)
		login_malformed(l);
	else
		login_check_password(l, xstrdup(user), password);
	return l;
}

void authd_login_step(struct authd_login *l, const void *data, size_t len)
{
	/* only after a CHALLENGE, and nothing pending */
	assert(!l->over && l->call == 0 && !l->job && !evtimer_pending(l->timer, NULL));
	/* an empty response may come without a buffer (an empty struct buf):
	 * the parsers below want a pointer to zero bytes, never NULL */
	const char *text = data && len > 0 ? data : "";
	switch (l->mech) {
	case AUTHD_MECH_PLAIN:
		login_plain_step(l, text, len);
		return;
	case AUTHD_MECH_LOGIN:
		/* the limits PLAIN has (and the auth process enforces) */
		if (len == 0 || memchr(text, '\0', len) ||
		    len > (l->step == 0 ? AUTHD_USER_MAX : AUTHD_PASSWORD_MAX)) {
			login_malformed(l);
		} else if (l->step == 0) {
			l->user = xstrndup(text, len);
			l->step = 1;
			login_challenge(l, "Password:", 9);
		} else {
			char *user = l->user, *password = xstrndup(text, len);
			l->user = NULL;
			login_check_password(l, user, password);
			OPENSSL_cleanse(password, len);
			free(password);
		}
		return;
	case AUTHD_MECH_SCRAM_SHA_256:
		login_scram_step(l, text, len);
		return;
	case AUTHD_MECH_NONE:
		break;
	}
	login_malformed(l);
}

void authd_login_free(struct authd_login **login)
{
	struct authd_login *l = *login;
	if (!l)
		return;
	*login = NULL;
	if (l->call)
		ipc_client_cancel(l->client->ipc, l->call);
	if (l->job)
		l->job->login = NULL;  /* its DONE frees it */
	event_free(l->timer);
	if (l->user) {
		OPENSSL_cleanse(l->user, strlen(l->user));
		free(l->user);
	}
	free(l->scope);
	free(l->apikey_scopes);
	if (l->ticket) {
		OPENSSL_cleanse(l->ticket, strlen(l->ticket));
		free(l->ticket);
	}
	store_node_free(&l->home);
	sasl_scram_clear(&l->scram);
	OPENSSL_cleanse(l->signature, sizeof(l->signature));
	policy_account_free(&l->account);
	buf_free(&l->challenge);
	free(l);
}

/* ---- the login's life ---------------------------------------------------------- */

static struct authd_login *login_new(struct authd_client *client, const struct authd_peer *peer,
				     enum authd_mech mech, authd_login_fn *cb, void *ctx)
{
	struct authd_login *l = xcalloc(1, sizeof(*l));
	l->client = client;
	l->mech = mech;
	snprintf(l->session, sizeof(l->session), "%s", peer->session);
	snprintf(l->peer, sizeof(l->peer), "%s", peer->client);
	l->addr = *peer->addr;
	l->scope = peer->apikey_scope ? xstrdup(peer->apikey_scope) : NULL;
	l->cluster = peer->cluster;
	l->want_home = peer->want_home;
	l->timer = evtimer_new(client->base, login_timer_cb, l);
	if (!l->timer)
		abort();
	buf_init(&l->challenge);
	l->cb = cb;
	l->ctx = ctx;
	return l;
}

static const char *login_mech_name(const struct authd_login *l)
{
	if (l->by_ticket)
		return "ticket";
	return l->mech == AUTHD_MECH_NONE ? "password" : authd_mech_name(l->mech);
}

/* login_later - give RESULT (for REASON) through the callback after DELAY
 * seconds (0: on the next pass of the loop); a final one ends the exchange
 * and wipes what it held */
static void login_later(struct authd_login *l, enum authd_result result, const char *reason,
			unsigned delay)
{
	l->result = result;
	snprintf(l->reason, sizeof(l->reason), "%s", reason ? reason : "");
	if (result != AUTHD_CHALLENGE) {
		l->over = true;
		sasl_scram_clear(&l->scram);
		OPENSSL_cleanse(l->signature, sizeof(l->signature));
	}
	struct timeval tv = { .tv_sec = delay, .tv_usec = 0 };
	evtimer_add(l->timer, &tv);
}

static void login_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct authd_login *l = arg;
	(void)fd;
	(void)what;
	struct authd_outcome o = {
		.result = l->result,
		.data = (const unsigned char *)(l->challenge.data ? l->challenge.data : ""),
		.len = l->challenge.len,
		.user = l->user ? l->user : "",
		.reason = l->reason,
		.busy = l->busy,
		.apikey_scopes = l->apikey_scopes,
		.ticket = l->ticket,
		.by_ticket = l->by_ticket,
	};
	if (l->result == AUTHD_OK) {
		o.account = l->account;
		l->account = NULL;
		o.home = l->home;
		l->home = NULL;
	}
	/* the callback may free L: nothing touches it afterwards */
	l->cb(l->ctx, &o);
}

/* login_challenge - DATA for the client, and its answer awaited */
static void login_challenge(struct authd_login *l, const void *data, size_t len)
{
	buf_reset(&l->challenge);
	buf_append(&l->challenge, data, len);
	login_later(l, AUTHD_CHALLENGE, NULL, 0);
}

static void login_malformed(struct authd_login *l)
{
	login_later(l, AUTHD_MALFORMED, "malformed", 0);
}

/* login_is_locked - the address is locked out (as the auth process told
 * us earlier, in this session or another, in any protocol): refused without
 * asking, so that a refused check costs no round trip and no hash */
static bool login_is_locked(struct authd_login *l)
{
	time_t until;
	if (!policy_throttle_is_locked(l->client->throttle, (const struct sockaddr *)&l->addr,
				       time(NULL), &until))
		return false;
	login_refused(l, "locked-out");
	return true;
}

/* login_refused - no check: the address is locked out, too many password
 * checks wait already (busy), or the auth process failed temporarily */
static void login_refused(struct authd_login *l, const char *reason)
{
	log_info("auth-refused", "session=%s client=%s reason=%s", l->session, l->peer, reason);
	if (strcmp(reason, "locked-out") == 0) {
		login_later(l, AUTHD_LOCKED_OUT, reason, 0);
	} else if (strcmp(reason, "busy") == 0) {
		/* a second later, so that a flood that retries at once costs
		 * the loop one reply per second per connection, not thousands */
		l->busy = true;
		login_later(l, AUTHD_TRY_LATER, reason, 1);
	} else {
		login_later(l, AUTHD_TRY_LATER, reason, 0);
	}
}

/* login_unavailable - no usable answer from the auth process (down, timed
 * out, or an answer that does not fit) or from the store: never a success */
static void login_unavailable(struct authd_login *l, const char *why)
{
	log_warn("auth-unavailable", "session=%s client=%s reason=%s", l->session, l->peer, why);
	login_later(l, AUTHD_TRY_LATER, why, 0);
}

/* login_wrong - WRONG for REASON after DELAY seconds (the auth process's
 * slow-down, when it counted the failure) or later: every failure is
 * counted here too, since a disabled account's right password is one only
 * this process can tell (the auth process said yes), and it must wait, and
 * lock the address out, like a wrong one, or its quick answer would tell
 * that the password is right */
static void login_wrong(struct authd_login *l, const char *reason, unsigned delay)
{
	unsigned counted = policy_throttle_auth_failed(
		l->client->throttle, (const struct sockaddr *)&l->addr, time(NULL));
	if (counted > delay)
		delay = counted;
	const char *user = l->user ? l->user : "";
	char name[300];
	log_escape(name, sizeof(name), user, strlen(user));
	log_info("auth-failed", "session=%s client=%s user=%s reason=%s", l->session, l->peer,
		 name, reason);
	/* the same cap the throttle keeps, whatever the answer said */
	login_later(l, AUTHD_WRONG, reason, delay < LOGIN_DELAY_MAX ? delay : LOGIN_DELAY_MAX);
}

static void login_succeeded(struct authd_login *l, struct policy_account *account)
{
	log_info("auth", "session=%s client=%s account=%s mechanism=%s", l->session, l->peer,
		 account->name, login_mech_name(l));
	policy_account_free(&l->account);
	l->account = account;
	login_later(l, AUTHD_OK, NULL, 0);
}

/* login_scram_step - RFC 5802 5: client-first, client-final, then the
 * client's empty answer to server-final; the auth process gives the salt
 * and count (SCRAM_START) and checks the proof (SCRAM_PROOF) */
static void login_scram_step(struct authd_login *l, const char *data, size_t len)
{
	if (l->step == 0) {
		if (sasl_scram_client_first(&l->scram, data, len) != 0 ||
		    strlen(l->scram.user) > AUTHD_USER_MAX) {
			login_malformed(l);
			return;
		}
		l->user = xstrdup(l->scram.user);
		l->step = 1;
		struct ipc_field f = ipc_text(l->scram.user);
		login_call(l, IPC_AUTH_SCRAM_START, 1, &f);
	} else if (l->step == 2) {
		struct buf auth;
		unsigned char proof[SASL_SCRAM_PROOF_LEN];
		buf_init(&auth);
		if (sasl_scram_client_final(&l->scram, data, len, &auth, proof) != 0 ||
		    auth.len > AUTHD_AUTH_MESSAGE_MAX) {
			login_malformed(l);
		} else if (!login_is_locked(l)) {
			l->step = 3;
			struct ipc_field f[4] = { ipc_text(l->scram.user), ipc_text(l->peer),
						  { auth.data, auth.len }, { proof, sizeof(proof) } };
			login_call(l, IPC_AUTH_SCRAM_PROOF, 4, f);
		}
		OPENSSL_cleanse(proof, sizeof(proof));
		buf_free(&auth);
	} else if (l->step == 4) {
		/* the client's empty answer to our server-final message */
		if (len != 0) {
			login_malformed(l);
			return;
		}
		struct policy_account *account = l->account;
		l->account = NULL;
		login_succeeded(l, account);
	} else {
		login_malformed(l);
	}
}

/* ---- the auth process ------------------------------------------------------------- */

/* login_check_password - the auth process checks USER's PASSWORD (USER
 * taken; PASSWORD the caller's, copied into the request) */
static void login_check_password(struct authd_login *l, char *user, const char *password)
{
	if (l->user) {
		OPENSSL_cleanse(l->user, strlen(l->user));
		free(l->user);
	}
	l->user = user;
	if (login_is_locked(l))
		return;
	struct ipc_field f[3] = { ipc_text(l->user), ipc_text(password), ipc_text(l->peer) };
	login_call(l, IPC_AUTH_PASSWORD, 3, f);
}

/* login_plain_step - PLAIN's message (RFC 4616 2): a password, or from a
 * node ([cluster] from) the authzid ACCOUNT with the authcid
 * AUTHD_CLUSTER_USER and a ticket.  Any other authzid is malformed; the
 * cluster's authcid from elsewhere is checked as a password, so it fails as
 * one (counted, delayed: nothing tells it apart). */
static void login_plain_step(struct authd_login *l, const char *data, size_t len)
{
	char *authzid = NULL, *user = NULL, *password = NULL;
	if (sasl_plain_parse_authzid(data, len, &authzid, &user, &password) != 0) {
		login_malformed(l);
		return;
	}
	if (authzid && strcasecmp(user, AUTHD_CLUSTER_USER) != 0) {
		login_malformed(l);
		free(user);
	} else if (authzid && l->cluster) {
		login_check_ticket(l, authzid, password);
		authzid = NULL;
		free(user);
	} else {
		login_check_password(l, user, password);
	}
	free(authzid);
	OPENSSL_cleanse(password, strlen(password));
	free(password);
}

/* login_check_ticket - the auth process checks TICKET for ACCOUNT (taken) */
static void login_check_ticket(struct authd_login *l, char *account, const char *ticket)
{
	free(l->user);
	l->user = account;
	l->by_ticket = true;
	if (login_is_locked(l))
		return;
	struct ipc_field f[3] = { ipc_text(l->user), ipc_text(ticket), ipc_text(l->peer) };
	login_call(l, IPC_AUTH_TICKET, 3, f);
}

/* login_call - ask the auth process; its answer (or its absence, after
 * auth.helper_timeout) comes to login_reply_cb */
static void login_call(struct authd_login *l, uint8_t type, unsigned count,
		       const struct ipc_field *fields)
{
	l->call = ipc_client_call(l->client->ipc, type, count, fields, login_reply_cb, l);
}

/* login_reply_cb - the auth process answered, or could not (REPLY NULL) */
static void login_reply_cb(void *ctx, const struct ipc_msg *reply)
{
	struct authd_login *l = ctx;
	l->call = 0;
	if (!reply)
		login_unavailable(l, "no-answer");
	else if (reply->type == IPC_R_OK)
		login_answer_ok(l, reply);
	else
		login_answer_not_ok(l, reply);
}

/* login_answer_ok - R_OK to the request of this step */
static void login_answer_ok(struct authd_login *l, const struct ipc_msg *reply)
{
	bool scram = l->mech == AUTHD_MECH_SCRAM_SHA_256;
	if (scram && l->step == 1) {
		/* SCRAM_START: iterations, salt */
		uint32_t iterations = 0;
		struct buf out;
		buf_init(&out);
		if (reply->count != 2 || !ipc_field_u32(reply, 0, &iterations) ||
		    reply->field[1].len == 0 || reply->field[1].len > SASL_SCRAM_SALT_MAX ||
		    sasl_scram_server_first(&l->scram, iterations, reply->field[1].data,
					    reply->field[1].len, &out) != 0) {
			login_unavailable(l, "bad-reply");
		} else {
			l->step = 2;
			login_challenge(l, out.data, out.len);
		}
		buf_free(&out);
		return;
	}
	/* PASSWORD: name, or an API key's account and scopes, or name, "" and
	 * a ticket; SCRAM_PROOF: name, ServerSignature and perhaps a ticket;
	 * TICKET: name */
	char *name = NULL;
	const void *signature = NULL;
	bool apikey = !scram && !l->by_ticket && reply->count == 2;
	bool ticket = !l->by_ticket && reply->count == 3;
	bool fits = l->by_ticket ? reply->count == 1 :
		scram ? reply->count == 2 || reply->count == 3 :
		reply->count >= 1 && reply->count <= 3;
	if (!fits || !ipc_field_text(reply, 0, AUTHD_USER_MAX, &name) ||
	    (scram && !ipc_field_bytes(reply, 1, SASL_SCRAM_PROOF_LEN, &signature)) ||
	    (apikey && !ipc_field_text(reply, 1, AUTHD_SCOPES_MAX, &l->apikey_scopes)) ||
	    (ticket && !scram && reply->field[1].len != 0) ||
	    (ticket && !ipc_field_text(reply, 2, AUTHD_TICKET_MAX - 1, &l->ticket))) {
		login_unavailable(l, "bad-reply");
	} else {
		if (scram)
			memcpy(l->signature, signature, SASL_SCRAM_PROOF_LEN);
		login_account_read(l, name);
	}
	free(name);
}

/* login_answer_not_ok - R_FAIL, R_LOCKED, R_TEMPFAIL (or R_BAD: as no answer) */
static void login_answer_not_ok(struct authd_login *l, const struct ipc_msg *reply)
{
	const struct sockaddr *sa = (const struct sockaddr *)&l->addr;
	struct policy_throttle *throttle = l->client->throttle;
	char *reason = NULL;
	uint32_t delay = 0;
	uint64_t until = 0;
	if (reply->type == IPC_R_FAIL && reply->count == 3 &&
	    ipc_field_text(reply, 0, 64, &reason) && ipc_field_u32(reply, 1, &delay) &&
	    ipc_field_u64(reply, 2, &until)) {
		/* the lockout this failure began, remembered for every listener */
		if (until != 0)
			policy_throttle_lock(throttle, sa, time(NULL), (time_t)until);
		login_wrong(l, reason, delay);
	} else if (reply->type == IPC_R_LOCKED && reply->count == 1 &&
		   ipc_field_u64(reply, 0, &until)) {
		policy_throttle_lock(throttle, sa, time(NULL), (time_t)until);
		login_refused(l, "locked-out");
	} else if (reply->type == IPC_R_TEMPFAIL && reply->count == 1 &&
		   ipc_field_text(reply, 0, 64, &reason)) {
		login_refused(l, strcmp(reason, "busy") == 0 ? "busy" : "auth-tempfail");
	} else {
		login_unavailable(l, reply->type == IPC_R_BAD ? "bad-request" : "bad-reply");
	}
	free(reason);
}

/* ---- the account (without secrets), read once the auth process said yes ------- */

/* login_account_read - read account NAME on the worker pool */
static void login_account_read(struct authd_login *l, const char *name)
{
	struct login_job *j = xcalloc(1, sizeof(*j));
	j->login = l;
	j->store = l->client->store;
	j->name = xstrdup(name);
	j->want_home = l->want_home && !l->by_ticket;
	l->job = j;
	pool_submit(l->client->pool, login_job_work, login_job_done, j);
}

static void login_job_work(void *arg)
{
	struct login_job *j = arg;
	j->account = policy_account_lookup_blocking(j->store, j->name, &j->reason);
	const char *error = NULL;
	int rc = 0;
	if (j->account && j->want_home)
		rc = store_account_home(j->store, j->account->name, &j->home, &error);
	if (rc < 0) {
		log_error("store-failed", "op=account_home account=%s error=\"%s\"",
			  j->account->name, error);
		j->reason = "store-error";
	} else if (rc == STORE_NOT_FOUND) {
		j->reason = "no-such-account";  /* removed meanwhile */
	}
	if (rc != 0)
		policy_account_free(&j->account);
}

/* login_job_done - log in, or for SCRAM send server-final first; a
 * disabled or vanished account fails like a wrong password (no
 * server-final for SCRAM) */
static void login_job_done(void *arg)
{
	struct login_job *j = arg;
	struct authd_login *l = j->login;
	if (!l) {
		login_job_free(j);
		return;
	}
	l->job = NULL;
	store_node_free(&l->home);
	l->home = j->home;
	j->home = NULL;
	if (!j->account && strcmp(j->reason, "store-error") == 0) {
		login_unavailable(l, "store-error");
	} else if (!j->account) {
		login_wrong(l, "disabled", 0);
	} else if (l->apikey_scopes &&
		   (!l->scope ||
		    (l->scope[0] != '\0' && !store_apikey_has_scope(l->apikey_scopes, l->scope)))) {
		/* a key may only do what its scopes say, and nothing where keys
		 * are not taken (IMAP, POP3) */
		login_wrong(l, "api-key-scope", 0);
	} else if (l->mech == AUTHD_MECH_SCRAM_SHA_256) {
		/* kept aside until the client's answer to server-final */
		struct buf out;
		buf_init(&out);
		sasl_scram_server_final(l->signature, &out);
		policy_account_free(&l->account);
		l->account = j->account;
		j->account = NULL;
		l->step = 4;
		login_challenge(l, out.data, out.len);
		buf_free(&out);
	} else {
		login_succeeded(l, j->account);
		j->account = NULL;
	}
	login_job_free(j);
}

static void login_job_free(struct login_job *job)
{
	free(job->name);
	policy_account_free(&job->account);
	store_node_free(&job->home);
	free(job);
}

uint32_t authd_apikey_call(struct authd_client *client, uint8_t type, unsigned count,
			   const struct ipc_field *fields, ipc_reply_fn *cb, void *ctx)
{
	return ipc_client_call(client->ipc, type, count, fields, cb, ctx);
}

uint32_t authd_password_set(struct authd_client *client, const char *account,
			    const char *password, ipc_reply_fn *cb, void *ctx)
{
	struct ipc_field f[2] = { ipc_text(account), ipc_text(password) };
	return ipc_client_call(client->ipc, IPC_AUTH_PASSWORD_SET, 2, f, cb, ctx);
}

void authd_apikey_cancel(struct authd_client *client, uint32_t id)
{
	if (id != 0)
		ipc_client_cancel(client->ipc, id);
}
