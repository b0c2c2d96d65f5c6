/* smtp/cmd-auth - the AUTH command (RFC 4954) with PLAIN (RFC 4616), LOGIN
 * and SCRAM-SHA-256 (RFC 5802, RFC 7677).
 *
 * AUTH is offered only under TLS, or on loopback when auth.plaintext_loopback
 * allows it.  Password checks run on the server's hash pool (hashing is slow
 * on purpose; its own niced threads, so a flood of them never delays the
 * queue's work on the main pool); the session reads nothing meanwhile.  The
 * lockout is checked again just before a check is queued, and a full queue
 * (auth.hash_queue) gets 454 a second later, so neither costs a hash.  Failures are counted per
 * client address by the policy throttle: past auth.slow_after the 535 reply
 * is delayed, past auth.lockout_after the address gets 454 (and 421 at
 * connect) for auth.lockout_time.  Wrong password, unknown user and disabled
 * account all get the same 535 5.7.8, so the reply reveals nothing.
 */
#include "smtp/session.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/crypto.h>

#include "config/config.h"
#include "policy/policy.h"
#include "store/store.h"
#include "util/pool.h"
#include "util/log.h"
#include "util/xalloc.h"

struct auth_password_job {
	struct smtp_job job;
	char *user;
	char *password;
	struct policy_account *account;
	struct policy_reply reply;
	const char *reason;
};

struct auth_scram_job {
	struct smtp_job job;
	char *user;
	char *credentials;
	struct policy_account *account;
	const char *reason;
};

static void auth_start(struct smtp_session *s, enum auth_mech mech, const char *initial,
		       size_t initial_len, bool has_initial);
static void auth_step(struct smtp_session *s, const char *data, size_t len);
static void auth_check_password(struct smtp_session *s, char *user, char *password);
static void auth_password_work(struct smtp_job *job);
static void auth_password_done(struct smtp_session *s, struct smtp_job *job);
static void auth_password_free(struct smtp_job *job);
static void auth_scram_lookup(struct smtp_session *s);
static void auth_scram_work(struct smtp_job *job);
static void auth_scram_done(struct smtp_session *s, struct smtp_job *job);
static void auth_scram_free(struct smtp_job *job);
static void auth_challenge(struct smtp_session *s, const char *data, size_t len);
static void auth_succeeded(struct smtp_session *s, struct policy_account *account);
static void auth_failed(struct smtp_session *s, const char *user, const char *reason);
static void auth_fail_delay_cb(evutil_socket_t fd, short what, void *arg);
static void auth_refused(struct smtp_session *s, const char *reason);
static void auth_reply_later(struct smtp_session *s, unsigned delay, bool busy);
static void auth_malformed(struct smtp_session *s);

const char *smtp_auth_mechanisms(const struct smtp_session *s)
{
	if (!s->server->store)
		return NULL;
	if (s->tls || (s->config->auth.plaintext_loopback && smtp_session_is_loopback(s)))
		return "PLAIN LOGIN SCRAM-SHA-256";
	return NULL;
}

void smtp_auth_clear(struct smtp_session *s)
{
	s->auth_mech = AUTH_MECH_NONE;
	s->auth_step = 0;
	if (s->auth_user) {
		OPENSSL_cleanse(s->auth_user, strlen(s->auth_user));
		free(s->auth_user);
		s->auth_user = NULL;
	}
	sasl_scram_clear(&s->scram);
	store_scram_clear(&s->scram_keys);
	policy_account_free(&s->auth_pending);
	if (s->mode == MODE_AUTH)
		s->mode = MODE_COMMAND;
}

void smtp_cmd_auth(struct smtp_session *s, const struct smtp_command *cmd)
{
	if (!s->helo || !s->esmtp) {
		smtp_session_reply(s, "503 5.5.1 Send EHLO first");
		smtp_session_count_error(s);
		return;
	}
	if (s->account) {
		smtp_session_reply(s, "503 5.5.1 Already authenticated");
		smtp_session_count_error(s);
		return;
	}
	if (s->has_mail) {
		smtp_session_reply(s, "503 5.5.1 AUTH not allowed during a mail transaction");
		smtp_session_count_error(s);
		return;
	}
	if (!smtp_auth_mechanisms(s)) {
		if (s->server->store && !s->tls)
			/* RFC 4954 6 */
			smtp_session_reply(s, "538 5.7.11 Encryption required for requested "
					   "authentication mechanism");
		else
			smtp_session_reply(s, "502 5.5.1 AUTH not available");
		smtp_session_count_error(s);
		return;
	}
	time_t until;
	if (policy_throttle_is_locked(s->server->throttle, (const struct sockaddr *)&s->addr,
				      time(NULL), &until)) {
		auth_refused(s, "locked-out");
		return;
	}
	const char *sp = memchr(cmd->args, ' ', cmd->args_len);
	size_t mech_len = sp ? (size_t)(sp - cmd->args) : cmd->args_len;
	const char *initial = sp ? sp + 1 : NULL;
	size_t initial_len = sp ? cmd->args_len - mech_len - 1 : 0;
	enum auth_mech mech = AUTH_MECH_NONE;
	if (mech_len == 5 && strncasecmp(cmd->args, "PLAIN", 5) == 0)
		mech = AUTH_MECH_PLAIN;
	else if (mech_len == 5 && strncasecmp(cmd->args, "LOGIN", 5) == 0)
		mech = AUTH_MECH_LOGIN;
	else if (mech_len == 13 && strncasecmp(cmd->args, "SCRAM-SHA-256", 13) == 0)
		mech = AUTH_MECH_SCRAM_SHA_256;
	if (mech == AUTH_MECH_NONE) {
		smtp_session_reply(s, "504 5.5.4 Unrecognized authentication type");
		smtp_session_count_error(s);
		return;
	}
	auth_start(s, mech, initial, initial_len, sp != NULL);
}

/* auth_start - begin an exchange; an initial response is the first step */
static void auth_start(struct smtp_session *s, enum auth_mech mech, const char *initial,
		       size_t initial_len, bool has_initial)
{
	s->auth_mech = mech;
	s->auth_step = 0;
	s->mode = MODE_AUTH;
	if (has_initial) {
		if (initial_len == 1 && initial[0] == '*') {
			smtp_auth_clear(s);
			smtp_session_reply(s, "501 5.0.0 Authentication cancelled");
			return;
		}
		struct buf decoded;
		buf_init(&decoded);
		if (sasl_base64_decode(initial, initial_len, &decoded) != 0) {
			buf_free(&decoded);
			auth_malformed(s);
			return;
		}
		auth_step(s, decoded.data ? decoded.data : "", decoded.len);
		if (decoded.data)
			OPENSSL_cleanse(decoded.data, decoded.len);
		buf_free(&decoded);
		return;
	}
	if (mech == AUTH_MECH_LOGIN)
		smtp_session_reply(s, "334 VXNlcm5hbWU6"); /* "Username:" */
	else
		smtp_session_reply(s, "334 ");
}

bool smtp_auth_read_line(struct smtp_session *s, struct evbuffer *in)
{
	size_t avail = evbuffer_get_length(in);
	size_t want = avail < SASL_LINE_MAX + 1 ? avail : SASL_LINE_MAX + 1;
	const char *data = (const char *)evbuffer_pullup(in, (ev_ssize_t)want);
	size_t line_len = 0, consumed = 0;
	unsigned flags = 0;
	enum smtp_line_status st = smtp_line_find(data, want, SASL_LINE_MAX, &line_len,
						  &consumed, &flags);
	if (st == SMTP_LINE_NEED_MORE)
		return false;
	if (st == SMTP_LINE_TOO_LONG) {
		/* The response cannot be recovered: end the exchange, skip the line. */
		smtp_auth_clear(s);
		s->mode = MODE_SKIP_LINE;
		s->skip_limit = SASL_LINE_MAX;
		return true;
	}
	char *line = xstrndup(data, line_len);
	evbuffer_drain(in, consumed);
	if (flags & (SMTP_LINE_BARE_CR | SMTP_LINE_BARE_LF | SMTP_LINE_NUL)) {
		auth_malformed(s);
	} else if (line_len == 1 && line[0] == '*') {
		/* RFC 4954 4: the client cancels */
		smtp_auth_clear(s);
		smtp_session_reply(s, "501 5.0.0 Authentication cancelled");
	} else {
		struct buf decoded;
		buf_init(&decoded);
		if (sasl_base64_decode(line, line_len, &decoded) != 0)
			auth_malformed(s);
		else
			auth_step(s, decoded.data ? decoded.data : "", decoded.len);
		if (decoded.data)
			OPENSSL_cleanse(decoded.data, decoded.len);
		buf_free(&decoded);
	}
	OPENSSL_cleanse(line, line_len);
	free(line);
	return true;
}

/* auth_malformed - RFC 4954 4: 501 for a response that cannot be decoded */
static void auth_malformed(struct smtp_session *s)
{
	smtp_auth_clear(s);
	smtp_session_reply(s, "501 5.5.2 Malformed SASL response");
	smtp_session_count_error(s);
}

/* auth_step - one decoded client response, for the mechanism in progress */
static void auth_step(struct smtp_session *s, const char *data, size_t len)
{
	switch (s->auth_mech) {
	case AUTH_MECH_PLAIN: {
		char *user = NULL, *password = NULL;
		if (sasl_plain_parse(data, len, &user, &password) != 0) {
			auth_malformed(s);
			return;
		}
		auth_check_password(s, user, password);
		return;
	}
	case AUTH_MECH_LOGIN:
		if (len == 0 || memchr(data, '\0', len)) {
			auth_malformed(s);
		} else if (s->auth_step == 0) {
			s->auth_user = xstrndup(data, len);
			s->auth_step = 1;
			smtp_session_reply(s, "334 UGFzc3dvcmQ6"); /* "Password:" */
		} else {
			char *user = s->auth_user;
			s->auth_user = NULL;
			auth_check_password(s, user, xstrndup(data, len));
		}
		return;
	case AUTH_MECH_SCRAM_SHA_256:
		if (s->auth_step == 0) {
			if (sasl_scram_client_first(&s->scram, data, len) != 0) {
				auth_malformed(s);
				return;
			}
			s->auth_step = 1;
			auth_scram_lookup(s);
		} else if (s->auth_step == 2) {
			struct buf auth, out;
			buf_init(&auth);
			buf_init(&out);
			unsigned char proof[SASL_SCRAM_PROOF_LEN], signature[STORE_SCRAM_KEY_LEN];
			int rc = sasl_scram_client_final(&s->scram, data, len, &auth, proof);
			if (rc == 0)
				rc = store_scram_proof_check(&s->scram_keys, auth.data, auth.len,
							     proof, signature) == 0 ? 0 : 1;
			if (rc < 0) {
				auth_malformed(s);
			} else if (rc > 0) {
				char *user = xstrdup(s->scram.user);
				auth_failed(s, user, "bad-password");
				free(user);
			} else {
				s->auth_step = 3;
				sasl_scram_server_final(signature, &out);
				auth_challenge(s, out.data, out.len);
			}
			OPENSSL_cleanse(signature, sizeof(signature));
			buf_free(&auth);
			buf_free(&out);
		} else if (s->auth_step == 3) {
			/* The client's empty answer to our server-final message. */
			if (len != 0) {
				auth_malformed(s);
				return;
			}
			struct policy_account *account = s->auth_pending;
			s->auth_pending = NULL;
			auth_succeeded(s, account);
		} else {
			auth_malformed(s);
		}
		return;
	case AUTH_MECH_NONE:
		break;
	}
	auth_malformed(s);
}

/* auth_challenge - "334 base64(DATA)" */
static void auth_challenge(struct smtp_session *s, const char *data, size_t len)
{
	struct buf b64;
	buf_init(&b64);
	sasl_base64_encode(data, len, &b64);
	smtp_session_reply(s, "334 %s", b64.data ? b64.data : "");
	buf_free(&b64);
}

/* ---- PLAIN and LOGIN: check the password on a worker ----------------------- */

/* auth_check_password - hash and compare on the hash pool; but first the
 * throttle, which the exchange may have crossed since AUTH (other sessions
 * from the address failing meanwhile), and the pool's queue: a refused check
 * costs no hash */
static void auth_check_password(struct smtp_session *s, char *user, char *password)
{
	time_t until;
	const char *refusal = NULL;
	if (policy_throttle_is_locked(s->server->throttle, (const struct sockaddr *)&s->addr,
				      time(NULL), &until))
		refusal = "locked-out";
	else if (pool_pending(s->server->hash_pool) >= s->config->auth.hash_queue)
		refusal = "busy";
	if (refusal) {
		auth_refused(s, refusal);
		OPENSSL_cleanse(password, strlen(password));
		free(password);
		free(user);
		return;
	}
	struct auth_password_job *j = xcalloc(1, sizeof(*j));
	j->job.work = auth_password_work;
	j->job.done = auth_password_done;
	j->job.free = auth_password_free;
	j->user = user;
	j->password = password;
	smtp_session_async_on(s, s->server->hash_pool, &j->job);
}

static void auth_password_work(struct smtp_job *job)
{
	struct auth_password_job *j = (struct auth_password_job *)job;
	policy_auth_password_blocking(job->server->store, job->server->credentials, j->user,
				      j->password, job->server->config->auth.scram_iterations,
				      &j->account, &j->reply, &j->reason);
}

static void auth_password_done(struct smtp_session *s, struct smtp_job *job)
{
	struct auth_password_job *j = (struct auth_password_job *)job;
	if (j->reply.code == 0) {
		auth_succeeded(s, j->account);
		j->account = NULL;
	} else if (j->reply.code == 454) {
		smtp_auth_clear(s);
		smtp_session_reply(s, "454 %s %s", j->reply.enhanced, j->reply.text);
	} else {
		auth_failed(s, j->user, j->reason);
	}
}

static void auth_password_free(struct smtp_job *job)
{
	struct auth_password_job *j = (struct auth_password_job *)job;
	free(j->user);
	if (j->password) {
		OPENSSL_cleanse(j->password, strlen(j->password));
		free(j->password);
	}
	policy_account_free(&j->account);
	free(j);
}

/* ---- SCRAM: fetch the stored credentials on a worker ------------------------- */

static void auth_scram_lookup(struct smtp_session *s)
{
	struct auth_scram_job *j = xcalloc(1, sizeof(*j));
	j->job.work = auth_scram_work;
	j->job.done = auth_scram_done;
	j->job.free = auth_scram_free;
	j->user = xstrdup(s->scram.user);
	smtp_session_async(s, &j->job);
}

static void auth_scram_work(struct smtp_job *job)
{
	struct auth_scram_job *j = (struct auth_scram_job *)job;
	j->credentials = policy_scram_lookup_blocking(job->server->store, job->server->credentials,
						      j->user, &j->account, &j->reason);
	/* An unknown user (or one without SCRAM credentials) goes on to fail at
	 * the proof, with a salt and count that stay the same from try to try
	 * as a real account's do: the exchange does not tell which exists.
	 * Made here, not on the loop: it is three HMACs. */
	if (!j->credentials)
		j->credentials = store_scram_fake_credentials(job->server->auth_secret, j->user,
							      job->server->config->auth.scram_iterations);
}

static void auth_scram_done(struct smtp_session *s, struct smtp_job *job)
{
	struct auth_scram_job *j = (struct auth_scram_job *)job;
	char *credentials = j->credentials;
	struct buf out;
	buf_init(&out);
	if (store_scram_parse(credentials, &s->scram_keys) != 0 ||
	    sasl_scram_server_first(&s->scram, s->scram_keys.iterations, s->scram_keys.salt,
				    s->scram_keys.salt_len, &out) != 0) {
		smtp_auth_clear(s);
		smtp_session_reply(s, "454 4.7.0 Temporary authentication failure");
	} else {
		/* Kept aside, not authenticated, until the proof is checked. */
		policy_account_free(&s->auth_pending);
		s->auth_pending = j->account;
		j->account = NULL;
		s->auth_step = 2;
		auth_challenge(s, out.data, out.len);
	}
	buf_free(&out);
	OPENSSL_cleanse(credentials, strlen(credentials));
}

static void auth_scram_free(struct smtp_job *job)
{
	struct auth_scram_job *j = (struct auth_scram_job *)job;
	free(j->user);
	if (j->credentials) {
		OPENSSL_cleanse(j->credentials, strlen(j->credentials));
		free(j->credentials);
	}
	policy_account_free(&j->account);
	free(j);
}

/* ---- outcomes --------------------------------------------------------------------- */

static void auth_succeeded(struct smtp_session *s, struct policy_account *account)
{
	enum auth_mech mech = s->auth_mech;
	smtp_auth_clear(s);
	if (!account) {
		/* SCRAM proof right for an unknown user cannot happen; be safe. */
		auth_failed(s, "", "no-such-account");
		return;
	}
	s->account = account;
	log_info("auth", "session=%s client=%s account=%s mechanism=%s", s->sid, s->client,
		 account->name, mech == AUTH_MECH_PLAIN ? "PLAIN" :
		 mech == AUTH_MECH_LOGIN ? "LOGIN" : "SCRAM-SHA-256");
	smtp_session_reply(s, "235 2.7.0 Authentication successful");
}

/* auth_refused - 454 without checking anything: the address is locked out,
 * or too many password checks wait already */
static void auth_refused(struct smtp_session *s, const char *reason)
{
	smtp_auth_clear(s);
	log_info("auth-refused", "session=%s client=%s reason=%s", s->sid, s->client, reason);
	if (strcmp(reason, "locked-out") == 0) {
		smtp_session_reply(s, "454 4.7.0 Temporary authentication failure: too many "
				   "failures from your address, try again later");
		return;
	}
	/* Busy: answered a second later, so that a flood that retries at once
	 * costs the loop one reply per second per connection, not thousands. */
	auth_reply_later(s, 1, true);
}

/* auth_reply_later - the 535 (or with BUSY the 454 busy) after DELAY seconds;
 * the session reads nothing meanwhile, and the timer dies with it */
static void auth_reply_later(struct smtp_session *s, unsigned delay, bool busy)
{
	s->waiting = true;
	s->auth_delay_busy = busy;
	struct timeval tv = { .tv_sec = delay, .tv_usec = 0 };
	if (!s->auth_delay_ev)
		s->auth_delay_ev = evtimer_new(s->server->base, auth_fail_delay_cb, s);
	evtimer_add(s->auth_delay_ev, &tv);
}

static void auth_failed(struct smtp_session *s, const char *user, const char *reason)
{
	smtp_auth_clear(s);
	char name[300];
	log_escape(name, sizeof(name), user, strlen(user));
	log_info("auth-failed", "session=%s client=%s user=%s reason=%s", s->sid, s->client, name,
		 reason);
	smtp_session_event(s, "auth-failed", user, NULL, 535, reason);
	unsigned delay = policy_throttle_auth_failed(s->server->throttle,
						     (const struct sockaddr *)&s->addr, time(NULL));
	if (delay == 0) {
		smtp_session_reply(s, "535 5.7.8 Authentication credentials invalid");
		smtp_session_count_error(s);
		return;
	}
	auth_reply_later(s, delay, false);  /* slow the client down */
}

static void auth_fail_delay_cb(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_session *s = arg;
	(void)fd;
	(void)what;
	if (s->dead)
		return;
	s->waiting = false;
	if (s->auth_delay_busy) {
		smtp_session_reply(s, "454 4.7.0 Temporary authentication failure: server busy, "
				   "try again later");
	} else {
		smtp_session_reply(s, "535 5.7.8 Authentication credentials invalid");
		smtp_session_count_error(s);
	}
	smtp_session_process_input(s);
}
