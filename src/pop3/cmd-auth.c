/* pop3/cmd-auth - the AUTHORIZATION state (RFC 1939 4, 7): CAPA (RFC
 * 2449), STLS (RFC 2595 4), USER and PASS, AUTH (RFC 5034) with PLAIN and
 * SCRAM-SHA-256, on the login path every protocol shares (authd/client.h).
 *
 * A password, in any form, is taken only under TLS, or from loopback when
 * [auth] plaintext_loopback allows it (as SMTP AUTH): before that CAPA
 * lists neither USER nor SASL, and USER, PASS and AUTH get -ERR.  A wrong
 * password, an unknown user and a disabled account get the same
 * "-ERR [AUTH]" after the throttle's delay; no answer from the auth process
 * or a locked-out address "-ERR [SYS/TEMP]" (RFC 3206).
 */
#include "pop3/session.h"

#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <openssl/crypto.h>

#include "authd/client.h"
#include "config/config.h"
#include "policy/policy.h"
#include "store/store.h"
#include "util/base64.h"
#include "util/buf.h"
#include "util/xalloc.h"

#define POP3_MECHANISMS "PLAIN SCRAM-SHA-256"

static bool auth_refuse_plaintext(struct pop3_session *s);
static void auth_login_cb(void *ctx, const struct authd_outcome *o);
static int auth_response_decode(const char *in, size_t len, struct buf *out);
static struct authd_peer auth_peer(const struct pop3_session *s);

void pop3_cmd_capa(struct pop3_session *s)
{
	/* RFC 2449 5 */
	struct buf out;
	buf_init(&out);
	buf_append_str(&out, "+OK Capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\n"
		       "AUTH-RESP-CODE\r\nPIPELINING\r\n");
	if (s->state == POP3_STATE_AUTHORIZATION) {
		if (pop3_session_login_allowed(s))
			buf_append_str(&out, "USER\r\nSASL " POP3_MECHANISMS "\r\n");
		if (pop3_session_offers_stls(s))
			buf_append_str(&out, "STLS\r\n");
	}
	buf_append_str(&out, "IMPLEMENTATION Petrel\r\n.\r\n");
	pop3_reply_raw(s, out.data, out.len);
	buf_free(&out);
	pop3_command_done(s);
}

void pop3_cmd_stls(struct pop3_session *s)
{
	if (!pop3_session_offers_stls(s)) {
		pop3_reply_err(s, s->conn.tls ? "Already under TLS" : "STLS is not available");
		pop3_command_done(s);
		return;
	}
	pop3_reply_ok(s, "Begin TLS negotiation");
	/* RFC 2595 4 (and the STARTTLS command injection, CVE-2011-0411):
	 * nothing sent before the handshake is taken as said under TLS */
	struct evbuffer *in = bufferevent_get_input(s->conn.bev);
	evbuffer_drain(in, evbuffer_get_length(in));
	pop3_auth_clear(s);
	pop3_session_start_tls(s);
	pop3_command_done(s);
}

/* auth_refuse_plaintext - -ERR when no password may be sent now */
static bool auth_refuse_plaintext(struct pop3_session *s)
{
	if (pop3_session_login_allowed(s))
		return false;
	if (!s->server->auth)
		pop3_reply_err(s, "Login is not available");
	else
		pop3_reply_err(s, "[AUTH] Plaintext login refused without TLS: use STLS first");
	pop3_command_done(s);
	return true;
}

void pop3_cmd_user(struct pop3_session *s, const struct pop3_command *cmd)
{
	if (auth_refuse_plaintext(s))
		return;
	pop3_auth_clear(s);
	s->user = xstrndup(cmd->args[0], cmd->arg_lens[0]);
	pop3_reply_ok(s, "Send PASS");
	pop3_command_done(s);
}

void pop3_cmd_pass(struct pop3_session *s, const struct pop3_command *cmd)
{
	if (auth_refuse_plaintext(s))
		return;
	if (!s->user) {
		pop3_reply_err(s, "Send USER first");
		pop3_command_done(s);
		return;
	}
	char *password = xstrndup(cmd->args[0], cmd->arg_lens[0]);
	struct authd_peer peer = auth_peer(s);
	s->login = authd_login_password(s->server->auth, &peer, s->user, password,
					auth_login_cb, s);
	OPENSSL_cleanse(password, cmd->arg_lens[0]);
	free(password);
}

void pop3_cmd_auth(struct pop3_session *s, const struct pop3_command *cmd)
{
	if (auth_refuse_plaintext(s))
		return;
	if (cmd->argc == 0) {
		/* the list older clients ask for (RFC 1734's AUTH without a name) */
		static const char list[] = "PLAIN\r\nSCRAM-SHA-256\r\n.\r\n";
		pop3_reply_ok(s, "Mechanisms follow");
		pop3_reply_raw(s, list, sizeof(list) - 1);
		pop3_command_done(s);
		return;
	}
	enum authd_mech mech = authd_mech_find(cmd->args[0], cmd->arg_lens[0]);
	if (mech != AUTHD_MECH_PLAIN && mech != AUTHD_MECH_SCRAM_SHA_256) {
		pop3_reply_err(s, "Unsupported authentication mechanism (" POP3_MECHANISMS ")");
		pop3_command_done(s);
		return;
	}
	pop3_auth_clear(s);
	struct buf decoded;
	buf_init(&decoded);
	bool initial = cmd->argc == 2;
	if (initial && auth_response_decode(cmd->args[1], cmd->arg_lens[1], &decoded) != 0) {
		buf_free(&decoded);
		pop3_reply_err(s, "Malformed initial response (base64 expected)");
		pop3_command_done(s);
		return;
	}
	struct authd_peer peer = auth_peer(s);
	s->login = authd_login_sasl(s->server->auth, &peer, mech,
				    decoded.data ? decoded.data : "", decoded.len, initial,
				    auth_login_cb, s);
	if (decoded.data)
		OPENSSL_cleanse(decoded.data, decoded.len);
	buf_free(&decoded);
}

void pop3_auth_line(struct pop3_session *s, const char *line, size_t len)
{
	if (len == 1 && line[0] == '*') {
		/* RFC 5034 4: the client cancels */
		pop3_auth_clear(s);
		pop3_reply_err(s, "Authentication cancelled");
		pop3_command_done(s);
		return;
	}
	struct buf decoded;
	buf_init(&decoded);
	if (auth_response_decode(line, len, &decoded) != 0) {
		pop3_auth_clear(s);
		pop3_reply_err(s, "Malformed authentication response (base64 expected)");
		pop3_command_done(s);
	} else {
		authd_login_step(s->login, decoded.data ? decoded.data : "", decoded.len);
	}
	if (decoded.data)
		OPENSSL_cleanse(decoded.data, decoded.len);
	buf_free(&decoded);
}

void pop3_auth_clear(struct pop3_session *s)
{
	authd_login_free(&s->login);
	s->sasl = false;
	if (s->user) {
		OPENSSL_cleanse(s->user, strlen(s->user));
		free(s->user);
		s->user = NULL;
	}
}

/* auth_response_decode - base64; "=" (an initial response, RFC 5034 4)
 * or nothing is an empty response */
static int auth_response_decode(const char *in, size_t len, struct buf *out)
{
	if (len == 0 || (len == 1 && in[0] == '='))
		return 0;
	return base64_decode(in, len, out);
}

static struct authd_peer auth_peer(const struct pop3_session *s)
{
	const char *secret = s->config->cluster.secret_file;
	struct authd_peer peer = { .session = s->sid, .client = s->client, .addr = &s->addr,
				   .cluster = s->cluster_peer,
				   .want_home = secret && secret[0] != '\0' };
	return peer;
}

/* auth_login_cb - the login's outcome (authd/client.h) */
static void auth_login_cb(void *ctx, const struct authd_outcome *o)
{
	struct pop3_session *s = ctx;
	if (s->conn.dead) {
		authd_login_free(&s->login);
		return;
	}
	switch (o->result) {
	case AUTHD_CHALLENGE: {
		/* RFC 5034 4: "+ " and the base64 challenge */
		struct buf b64;
		buf_init(&b64);
		base64_encode(o->data, o->len, &b64);
		s->sasl = true;
		pop3_reply_raw(s, "+ ", 2);
		if (b64.data)
			pop3_reply_raw(s, b64.data, b64.len);
		pop3_reply_raw(s, "\r\n", 2);
		buf_free(&b64);
		pop3_command_done(s);
		return;
	}
	case AUTHD_OK: {
		struct policy_account *account = o->account;
		struct store_node *home = o->home;
		/* O lives as long as the login: its ticket is used first */
		bool proxied = home && strcmp(home->name, s->config->node) != 0;
		if (proxied)
			pop3_proxy_start(s, account->name, home, o->ticket);
		else
			store_node_free(&home);
		pop3_auth_clear(s);
		if (!proxied)
			pop3_maildrop_open(s, xstrdup(account->name));
		policy_account_free(&account);
		return;
	}
	case AUTHD_WRONG:
		net_sessions_count_auth_failure(s->conn.table);
		pop3_auth_clear(s);
		pop3_reply_err(s, "[AUTH] Invalid user name or password");
		break;
	case AUTHD_TRY_LATER:
		pop3_auth_clear(s);
		pop3_reply_err(s, "[SYS/TEMP] Temporary authentication failure, try again later");
		break;
	case AUTHD_LOCKED_OUT:
		pop3_auth_clear(s);
		pop3_reply_err(s, "[SYS/TEMP] Too many authentication failures from your "
			       "address, try again later");
		break;
	case AUTHD_MALFORMED:
		pop3_auth_clear(s);
		pop3_reply_err(s, "Malformed authentication response");
		break;
	}
	pop3_command_done(s);
}
