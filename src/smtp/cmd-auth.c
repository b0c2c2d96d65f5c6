/* smtp/cmd-auth - the AUTH command (RFC 4954) with PLAIN (RFC 4616), LOGIN
 * and SCRAM-SHA-256 (RFC 5802, RFC 7677).
 *
 * AUTH is offered only under TLS, or on loopback when auth.plaintext_loopback
 * allows it.  This process never sees a password hash or a SCRAM key: it
 * parses the client's SASL messages and asks the auth process (authd/, over
 * the ipc client of smtp_server_set_auth_client) whether the password, or the
 * SCRAM proof, is right; the session reads nothing until the answer comes.
 * After "right" the account is read here, without secrets, on the worker
 * pool; a disabled or vanished one gets the same 535 5.7.8 as a wrong
 * password, so the reply reveals nothing.  No answer (the auth process down,
 * restarting or slower than auth.helper_timeout) is 454 4.7.0, never success.
 *
 * The auth process counts failures per client address and answers with the
 * delay to wait before the 535 (past auth.slow_after) and, once the address
 * is locked out (auth.lockout_after), the lockout's end, which the server's
 * throttle remembers: the address then gets 454 at AUTH and 421 at connect
 * without a round trip, and a session that began AUTH before the lockout is
 * refused when it sends its password.  The server's throttle also counts
 * every 535 sent (auth_failed), a disabled account's included, which the
 * auth process cannot know of.  A full check queue (auth.hash_queue)
 * gets 454 a second later.  A session that closes while its call is pending
 * cancels it (smtp_auth_clear).
 */
#include "smtp/session.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/crypto.h>

#include "authd/authd.h"
#include "config/config.h"
#include "ipc/ipc.h"
#include "policy/policy.h"
#include "util/base64.h"
#include "util/log.h"
#include "util/xalloc.h"

struct auth_account_job {
	struct smtp_job job;
	char *name;
	struct policy_account *account;
	const char *reason;
};

static void auth_start(struct smtp_session *s, enum auth_mech mech, const char *initial,
		       size_t initial_len, bool has_initial);
static void auth_step(struct smtp_session *s, const char *data, size_t len);
static void auth_scram_step(struct smtp_session *s, const char *data, size_t len);
static void auth_check_password(struct smtp_session *s, char *user, char *password);
static void auth_call(struct smtp_session *s, uint8_t type, unsigned count,
		      const struct ipc_field *fields);
static void auth_reply_cb(void *ctx, const struct ipc_msg *reply);
static void auth_answer_ok(struct smtp_session *s, const struct ipc_msg *reply);
static void auth_answer_not_ok(struct smtp_session *s, const struct ipc_msg *reply);
static void auth_unavailable(struct smtp_session *s, const char *why);
static void auth_account_lookup(struct smtp_session *s, const char *name);
static void auth_account_work(struct smtp_job *job);
static void auth_account_done(struct smtp_session *s, struct smtp_job *job);
static void auth_account_free(struct smtp_job *job);
static bool auth_is_locked(struct smtp_session *s);
static void auth_challenge(struct smtp_session *s, const char *data, size_t len);
static void auth_succeeded(struct smtp_session *s, struct policy_account *account);
static void auth_failed(struct smtp_session *s, const char *reason, unsigned delay);
static void auth_fail_delay_cb(evutil_socket_t fd, short what, void *arg);
static void auth_refused(struct smtp_session *s, const char *reason);
static void auth_reply_later(struct smtp_session *s, unsigned delay, bool busy);
static void auth_malformed(struct smtp_session *s);
static int auth_response_decode(const char *in, size_t len, struct buf *out);

const char *smtp_auth_mechanisms(const struct smtp_session *s)
{
	if (!s->server->store || !s->server->auth)
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
	if (s->auth_call) {
		ipc_client_cancel(s->server->auth, s->auth_call);
		s->auth_call = 0;
	}
	sasl_scram_clear(&s->scram);
	OPENSSL_cleanse(s->scram_signature, sizeof(s->scram_signature));
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
	if (auth_is_locked(s))
		return;
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
		if (auth_response_decode(initial, initial_len, &decoded) != 0) {
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
		if (auth_response_decode(line, line_len, &decoded) != 0)
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
		/* the limits PLAIN has (and the auth process enforces) */
		if (len == 0 || memchr(data, '\0', len) ||
		    len > (s->auth_step == 0 ? AUTHD_USER_MAX : AUTHD_PASSWORD_MAX)) {
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
		auth_scram_step(s, data, len);
		return;
	case AUTH_MECH_NONE:
		break;
	}
	auth_malformed(s);
}

/* auth_scram_step - RFC 5802 5: client-first, client-final, then the
 * client's empty answer to server-final; the auth process gives the salt
 * and count (SCRAM_START) and checks the proof (SCRAM_PROOF) */
static void auth_scram_step(struct smtp_session *s, const char *data, size_t len)
{
	if (s->auth_step == 0) {
		if (sasl_scram_client_first(&s->scram, data, len) != 0 ||
		    strlen(s->scram.user) > AUTHD_USER_MAX) {
			auth_malformed(s);
			return;
		}
		s->auth_step = 1;
		struct ipc_field f = ipc_text(s->scram.user);
		auth_call(s, IPC_AUTH_SCRAM_START, 1, &f);
	} else if (s->auth_step == 2) {
		struct buf auth;
		unsigned char proof[SASL_SCRAM_PROOF_LEN];
		buf_init(&auth);
		if (sasl_scram_client_final(&s->scram, data, len, &auth, proof) != 0 ||
		    auth.len > AUTHD_AUTH_MESSAGE_MAX) {
			auth_malformed(s);
		} else if (!auth_is_locked(s)) {
			s->auth_step = 3;
			struct ipc_field f[4] = { ipc_text(s->scram.user), ipc_text(s->client),
						  { auth.data, auth.len }, { proof, sizeof(proof) } };
			auth_call(s, IPC_AUTH_SCRAM_PROOF, 4, f);
		}
		OPENSSL_cleanse(proof, sizeof(proof));
		buf_free(&auth);
	} else if (s->auth_step == 4) {
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
}

/* auth_response_decode - a client's response: strict base64, and "=" alone
 * is an empty response (RFC 4954 4) */
static int auth_response_decode(const char *in, size_t len, struct buf *out)
{
	if (len == 1 && in[0] == '=')
		return 0;
	return base64_decode(in, len, out);
}

/* auth_challenge - "334 base64(DATA)" */
static void auth_challenge(struct smtp_session *s, const char *data, size_t len)
{
	struct buf b64;
	buf_init(&b64);
	base64_encode(data, len, &b64);
	smtp_session_reply(s, "334 %s", b64.data ? b64.data : "");
	buf_free(&b64);
}

/* auth_is_locked - the address is locked out (as the auth process told us
 * earlier, here or in another session): 454 without asking; a refused check
 * costs no round trip and no hash */
static bool auth_is_locked(struct smtp_session *s)
{
	time_t until;
	if (!policy_throttle_is_locked(s->server->throttle, (const struct sockaddr *)&s->addr,
				       time(NULL), &until))
		return false;
	auth_refused(s, "locked-out");
	return true;
}

/* ---- the auth process ------------------------------------------------------------ */

/* auth_check_password - PLAIN and LOGIN: the auth process checks USER's
 * PASSWORD (both taken; the password is wiped here once it is sent) */
static void auth_check_password(struct smtp_session *s, char *user, char *password)
{
	if (!auth_is_locked(s)) {
		s->auth_user = user;
		user = NULL;
		struct ipc_field f[3] = { ipc_text(s->auth_user), ipc_text(password),
					  ipc_text(s->client) };
		auth_call(s, IPC_AUTH_PASSWORD, 3, f);
	}
	OPENSSL_cleanse(password, strlen(password));
	free(password);
	free(user);
}

/* auth_call - ask the auth process; the session reads nothing until the
 * answer (or its absence) comes back to auth_reply_cb.  A session that
 * closes meanwhile cancels the call (smtp_auth_clear). */
static void auth_call(struct smtp_session *s, uint8_t type, unsigned count,
		      const struct ipc_field *fields)
{
	s->waiting = true;
	s->auth_call = ipc_client_call(s->server->auth, type, count, fields, auth_reply_cb, s);
}

/* auth_reply_cb - the auth process answered, or could not (REPLY NULL) */
static void auth_reply_cb(void *ctx, const struct ipc_msg *reply)
{
	struct smtp_session *s = ctx;
	s->auth_call = 0;
	if (s->dead)
		return;
	s->waiting = false;
	if (!reply)
		auth_unavailable(s, "no-answer");
	else if (reply->type == IPC_R_OK)
		auth_answer_ok(s, reply);
	else
		auth_answer_not_ok(s, reply);
	if (!s->dead)
		smtp_session_process_input(s);
}

/* auth_unavailable - no usable answer from the auth process (down, timed
 * out, or an answer that does not fit): never a success */
static void auth_unavailable(struct smtp_session *s, const char *why)
{
	log_warn("auth-unavailable", "session=%s client=%s reason=%s", s->sid, s->client, why);
	smtp_auth_clear(s);
	smtp_session_reply(s, "454 4.7.0 Temporary authentication failure");
}

/* auth_answer_ok - R_OK to the request of step auth_step */
static void auth_answer_ok(struct smtp_session *s, const struct ipc_msg *reply)
{
	char *name = NULL;
	const void *signature = NULL;
	uint32_t iterations = 0;
	if (s->auth_mech == AUTH_MECH_SCRAM_SHA_256 && s->auth_step == 1) {
		/* SCRAM_START: iterations, salt */
		struct buf out;
		buf_init(&out);
		if (reply->count != 2 || !ipc_field_u32(reply, 0, &iterations) ||
		    reply->field[1].len == 0 || reply->field[1].len > SASL_SCRAM_SALT_MAX ||
		    sasl_scram_server_first(&s->scram, iterations, reply->field[1].data,
					    reply->field[1].len, &out) != 0) {
			auth_unavailable(s, "bad-reply");
		} else {
			s->auth_step = 2;
			auth_challenge(s, out.data, out.len);
		}
		buf_free(&out);
		return;
	}
	bool scram = s->auth_mech == AUTH_MECH_SCRAM_SHA_256;
	/* PASSWORD: name; SCRAM_PROOF: name, ServerSignature */
	if (reply->count != (scram ? 2u : 1u) ||
	    !ipc_field_text(reply, 0, AUTHD_USER_MAX, &name) ||
	    (scram && !ipc_field_bytes(reply, 1, SASL_SCRAM_PROOF_LEN, &signature))) {
		auth_unavailable(s, "bad-reply");
	} else {
		if (scram)
			memcpy(s->scram_signature, signature, SASL_SCRAM_PROOF_LEN);
		auth_account_lookup(s, name);
	}
	free(name);
}

/* auth_answer_not_ok - R_FAIL, R_LOCKED, R_TEMPFAIL (or R_BAD: as no answer) */
static void auth_answer_not_ok(struct smtp_session *s, const struct ipc_msg *reply)
{
	const struct sockaddr *sa = (const struct sockaddr *)&s->addr;
	char *reason = NULL;
	uint32_t delay = 0;
	uint64_t until = 0;
	if (reply->type == IPC_R_FAIL && reply->count == 3 &&
	    ipc_field_text(reply, 0, 64, &reason) && ipc_field_u32(reply, 1, &delay) &&
	    ipc_field_u64(reply, 2, &until)) {
		/* the lockout this failure began, remembered for 421 at connect */
		if (until != 0)
			policy_throttle_lock(s->server->throttle, sa, time(NULL), (time_t)until);
		auth_failed(s, reason, delay);
	} else if (reply->type == IPC_R_LOCKED && reply->count == 1 &&
		   ipc_field_u64(reply, 0, &until)) {
		policy_throttle_lock(s->server->throttle, sa, time(NULL), (time_t)until);
		auth_refused(s, "locked-out");
	} else if (reply->type == IPC_R_TEMPFAIL && reply->count == 1 &&
		   ipc_field_text(reply, 0, 64, &reason)) {
		auth_refused(s, strcmp(reason, "busy") == 0 ? "busy" : "auth-tempfail");
	} else {
		auth_unavailable(s, reply->type == IPC_R_BAD ? "bad-request" : "bad-reply");
	}
	free(reason);
}

/* ---- the account (without secrets), read once the auth process said yes ----- */

/* auth_account_lookup - read account NAME on the worker pool (the session waits) */
static void auth_account_lookup(struct smtp_session *s, const char *name)
{
	struct auth_account_job *j = xcalloc(1, sizeof(*j));
	j->job.work = auth_account_work;
	j->job.done = auth_account_done;
	j->job.free = auth_account_free;
	j->name = xstrdup(name);
	smtp_session_async(s, &j->job);
}

static void auth_account_work(struct smtp_job *job)
{
	struct auth_account_job *j = (struct auth_account_job *)job;
	j->account = policy_account_lookup_blocking(job->server->store, j->name, &j->reason);
}

/* auth_account_done - log in, or for SCRAM send server-final first; a
 * disabled or vanished account fails like a wrong password */
static void auth_account_done(struct smtp_session *s, struct smtp_job *job)
{
	struct auth_account_job *j = (struct auth_account_job *)job;
	if (!j->account && strcmp(j->reason, "store-error") == 0) {
		smtp_auth_clear(s);
		smtp_session_reply(s, "454 4.7.0 Temporary authentication failure");
	} else if (!j->account) {
		/* disabled, or removed since: the same 535 as a wrong password
		 * (RFC 4954 6), and no server-final for SCRAM */
		auth_failed(s, "disabled", 0);
	} else if (s->auth_mech == AUTH_MECH_SCRAM_SHA_256) {
		/* kept aside until the client's answer to server-final */
		struct buf out;
		buf_init(&out);
		sasl_scram_server_final(s->scram_signature, &out);
		policy_account_free(&s->auth_pending);
		s->auth_pending = j->account;
		j->account = NULL;
		s->auth_step = 4;
		auth_challenge(s, out.data, out.len);
		buf_free(&out);
	} else {
		auth_succeeded(s, j->account);
		j->account = NULL;
	}
}

static void auth_account_free(struct smtp_job *job)
{
	struct auth_account_job *j = (struct auth_account_job *)job;
	free(j->name);
	policy_account_free(&j->account);
	free(j);
}

/* ---- outcomes --------------------------------------------------------------------- */

static void auth_succeeded(struct smtp_session *s, struct policy_account *account)
{
	enum auth_mech mech = s->auth_mech;
	smtp_auth_clear(s);
	s->account = account;
	log_info("auth", "session=%s client=%s account=%s mechanism=%s", s->sid, s->client,
		 account->name, mech == AUTH_MECH_PLAIN ? "PLAIN" :
		 mech == AUTH_MECH_LOGIN ? "LOGIN" : "SCRAM-SHA-256");
	smtp_session_reply(s, "235 2.7.0 Authentication successful");
}

/* auth_refused - 454 without a check: the address is locked out, too many
 * password checks wait already, or the auth process failed temporarily */
static void auth_refused(struct smtp_session *s, const char *reason)
{
	smtp_auth_clear(s);
	log_info("auth-refused", "session=%s client=%s reason=%s", s->sid, s->client, reason);
	if (strcmp(reason, "locked-out") == 0) {
		smtp_session_reply(s, "454 4.7.0 Temporary authentication failure: too many "
				   "failures from your address, try again later");
	} else if (strcmp(reason, "busy") == 0) {
		/* Answered a second later, so that a flood that retries at once
		 * costs the loop one reply per second per connection, not thousands. */
		auth_reply_later(s, 1, true);
	} else {
		smtp_session_reply(s, "454 4.7.0 Temporary authentication failure");
	}
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

/* auth_failed - 535 5.7.8 (RFC 4954 6) for REASON, after DELAY seconds (the
 * auth process's slow-down, when it counted the failure) or later: every
 * 535 is counted here too, since a disabled account's right password is a
 * failure only this process can tell (the auth process said yes), and it
 * must wait, and lock the address out, like a wrong one, or its quick 535
 * would tell that the password is right */
static void auth_failed(struct smtp_session *s, const char *reason, unsigned delay)
{
	unsigned counted = policy_throttle_auth_failed(s->server->throttle,
						       (const struct sockaddr *)&s->addr, time(NULL));
	if (counted > delay)
		delay = counted;
	const char *user = s->auth_user ? s->auth_user : s->scram.user ? s->scram.user : "";
	char name[300];
	log_escape(name, sizeof(name), user, strlen(user));
	log_info("auth-failed", "session=%s client=%s user=%s reason=%s", s->sid, s->client, name,
		 reason);
	smtp_session_event(s, "auth-failed", user, NULL, 535, reason);
	smtp_auth_clear(s);
	if (delay == 0) {
		smtp_session_reply(s, "535 5.7.8 Authentication credentials invalid");
		smtp_session_count_error(s);
		return;
	}
	/* the same cap the throttle keeps, whatever the answer said */
	auth_reply_later(s, delay < 5 ? delay : 5, false);
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
