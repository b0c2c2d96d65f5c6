/* smtp/cmd-auth - the AUTH command (RFC 4954) with PLAIN (RFC 4616), LOGIN
 * and SCRAM-SHA-256 (RFC 5802, RFC 7677): SMTP's wording and reply codes on
 * the login path every protocol shares (authd/client.h).
 *
 * AUTH is offered only under TLS, or on loopback when auth.plaintext_loopback
 * allows it.  The login asks the auth process whether the password, or the
 * SCRAM proof, is right, reads the account on the worker pool, and applies
 * the per-address throttle; the session reads nothing until its outcome
 * comes.  A wrong password, an unknown user and a disabled or vanished
 * account all get 535 5.7.8 (RFC 4954 6), after the throttle's delay; no
 * answer from the auth process (down, restarting or slower than
 * auth.helper_timeout), a full check queue (a second later: "server busy")
 * or a store failure gets 454 4.7.0, never success; a locked-out address
 * gets 454 without a check (and 421 at connect: server.c).  Every 535 is an
 * auth-failed event.  A session that closes while its login is pending
 * cancels it (smtp_auth_clear).
 */
#include "smtp/session.h"

#include <string.h>

#include <event2/buffer.h>
#include <openssl/crypto.h>

#include "authd/client.h"
#include "authd/sasl.h"
#include "config/config.h"
#include "policy/policy.h"
#include "util/base64.h"
#include "util/xalloc.h"

static void auth_login_cb(void *ctx, const struct authd_outcome *o);
static void auth_outcome(struct smtp_session *s, const struct authd_outcome *o);
static void auth_step(struct smtp_session *s, const char *line, size_t len);
static void auth_malformed(struct smtp_session *s);
static int auth_response_decode(const char *in, size_t len, struct buf *out);
static struct authd_peer auth_peer(const struct smtp_session *s);

const char *smtp_auth_mechanisms(const struct smtp_session *s)
{
	if (!s->server->store || !s->server->auth)
		return NULL;
	if (s->conn.tls || (s->config->auth.plaintext_loopback && smtp_session_is_loopback(s)))
		return "PLAIN LOGIN SCRAM-SHA-256";
	return NULL;
}

void smtp_auth_clear(struct smtp_session *s)
{
	authd_login_free(&s->login);
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
		if (s->server->store && !s->conn.tls)
			/* RFC 4954 6 */
			smtp_session_reply(s, "538 5.7.11 Encryption required for requested "
					   "authentication mechanism");
		else
			smtp_session_reply(s, "502 5.5.1 AUTH not available");
		smtp_session_count_error(s);
		return;
	}
	const char *sp = memchr(cmd->args, ' ', cmd->args_len);
	size_t mech_len = sp ? (size_t)(sp - cmd->args) : cmd->args_len;
	enum authd_mech mech = authd_mech_find(cmd->args, mech_len);
	if (mech == AUTHD_MECH_NONE) {
		smtp_session_reply(s, "504 5.5.4 Unrecognized authentication type");
		smtp_session_count_error(s);
		return;
	}
	const char *initial = sp ? sp + 1 : NULL;
	size_t initial_len = sp ? cmd->args_len - mech_len - 1 : 0;
	if (initial && initial_len == 1 && initial[0] == '*') {
		smtp_session_reply(s, "501 5.0.0 Authentication cancelled");
		return;
	}
	struct buf decoded;
	buf_init(&decoded);
	if (initial && auth_response_decode(initial, initial_len, &decoded) != 0) {
		buf_free(&decoded);
		auth_malformed(s);
		return;
	}
	struct authd_peer peer = auth_peer(s);
	s->waiting = true;
	s->login = authd_login_sasl(s->server->auth, &peer, mech,
				    decoded.data ? decoded.data : "", decoded.len, initial != NULL,
				    auth_login_cb, s);
	if (decoded.data)
		OPENSSL_cleanse(decoded.data, decoded.len);
	buf_free(&decoded);
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
		auth_step(s, line, line_len);
	}
	OPENSSL_cleanse(line, line_len);
	free(line);
	return true;
}

/* auth_step - a response line (base64) to the login's last challenge */
static void auth_step(struct smtp_session *s, const char *line, size_t len)
{
	struct buf decoded;
	buf_init(&decoded);
	if (auth_response_decode(line, len, &decoded) != 0) {
		auth_malformed(s);
	} else {
		s->waiting = true;
		authd_login_step(s->login, decoded.data ? decoded.data : "", decoded.len);
	}
	if (decoded.data)
		OPENSSL_cleanse(decoded.data, decoded.len);
	buf_free(&decoded);
}

/* auth_malformed - RFC 4954 4: 501 for a response that cannot be decoded */
static void auth_malformed(struct smtp_session *s)
{
	smtp_auth_clear(s);
	smtp_session_reply(s, "501 5.5.2 Malformed SASL response");
	smtp_session_count_error(s);
}

/* auth_response_decode - a client's response: strict base64, and "=" alone
 * is an empty response (RFC 4954 4) */
static int auth_response_decode(const char *in, size_t len, struct buf *out)
{
	if (len == 1 && in[0] == '=')
		return 0;
	return base64_decode(in, len, out);
}

static struct authd_peer auth_peer(const struct smtp_session *s)
{
	/* an API key (user "apikey", as SendGrid's clients set it) sends mail
	 * only with its mail.send scope */
	struct authd_peer peer = { .session = s->sid, .client = s->client, .addr = &s->addr,
				   .apikey_scope = "mail.send" };
	return peer;
}

/* auth_login_cb - the login's outcome; then go on with buffered input */
static void auth_login_cb(void *ctx, const struct authd_outcome *o)
{
	struct smtp_session *s = ctx;
	if (s->conn.dead) {
		authd_login_free(&s->login);
		return;
	}
	s->waiting = false;
	auth_outcome(s, o);
	if (!s->conn.dead)
		smtp_session_process_input(s);
}

/* auth_outcome - SMTP's reply to an outcome (RFC 4954 4 and 6) */
static void auth_outcome(struct smtp_session *s, const struct authd_outcome *o)
{
	switch (o->result) {
	case AUTHD_CHALLENGE: {
		struct buf b64;
		buf_init(&b64);
		base64_encode(o->data, o->len, &b64);
		s->mode = MODE_AUTH;
		smtp_session_reply(s, "334 %s", b64.data ? b64.data : "");
		buf_free(&b64);
		return;
	}
	case AUTHD_OK:
		smtp_auth_clear(s);
		s->account = o->account;
		smtp_session_reply(s, "235 2.7.0 Authentication successful");
		return;
	case AUTHD_WRONG:
		/* before the login (and O with it) is freed */
		smtp_session_event(s, "auth-failed", o->user, NULL, 535, o->reason);
		net_sessions_count_auth_failure(s->conn.table);
		smtp_auth_clear(s);
		smtp_session_reply(s, "535 5.7.8 Authentication credentials invalid");
		smtp_session_count_error(s);
		return;
	case AUTHD_TRY_LATER: {
		bool busy = o->busy;
		smtp_auth_clear(s);
		if (busy)
			smtp_session_reply(s, "454 4.7.0 Temporary authentication failure: server "
					   "busy, try again later");
		else
			smtp_session_reply(s, "454 4.7.0 Temporary authentication failure");
		return;
	}
	case AUTHD_LOCKED_OUT:
		smtp_auth_clear(s);
		smtp_session_reply(s, "454 4.7.0 Temporary authentication failure: too many "
				   "failures from your address, try again later");
		return;
	case AUTHD_MALFORMED:
		auth_malformed(s);
		return;
	}
}
