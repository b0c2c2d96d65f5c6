/* imap/cmd-auth - the not-authenticated state's commands (RFC 9051 6.2):
 * STARTTLS, LOGIN, AUTHENTICATE (PLAIN, LOGIN, SCRAM-SHA-256; SASL-IR,
 * RFC 4959) through the login path SMTP and POP3 share (authd/client.h) */
#include "imap/session.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <openssl/crypto.h>

#include "authd/client.h"
#include "config/config.h"
#include "mailbox/mailbox.h"
#include "policy/policy.h"
#include "store/store.h"
#include "util/base64.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/xalloc.h"

/* imap_session_login_allowed - a password may be sent now: under TLS, or
 * from loopback with [auth] plaintext_loopback (as SMTP's AUTH), or from a
 * node of [cluster] from on the listener of [cluster] imap */
bool imap_session_login_allowed(const struct imap_session *s)
{
	/* another node proxying a login to its home node (proxy.c) */
	return s->conn.tls || (s->config->auth.plaintext_loopback && imap_session_is_loopback(s)) ||
		s->cluster_listener;
}

bool imap_session_offers_login(const struct imap_session *s)
{
	return s->state == IMAP_STATE_NOT_AUTHENTICATED && imap_session_login_allowed(s) &&
		s->server->auth && s->server->store;
}

/* imap_cmd_starttls - RFC 9051 6.2.1: OK, then the TLS handshake; what the
 * client learnt before (capabilities) it must ask again */
void imap_cmd_starttls(struct imap_session *s, const struct imap_command *cmd, bool uid)
{
	(void)uid;
	if (cmd->count != 0) {
		imap_reply_bad(s, NULL, "STARTTLS takes no arguments");
		return;
	}
	if (s->conn.tls) {
		imap_reply_bad(s, NULL, "TLS is already active");
		return;
	}
	if (!imap_session_offers_starttls(s)) {
		imap_reply_bad(s, NULL, "STARTTLS is not available");
		return;
	}
	if (evbuffer_get_length(bufferevent_get_input(s->conn.bev)) > 0) {
		/* CVE-2011-0411 class: what was sent in plain text after
		 * STARTTLS must never be read as if it came over TLS */
		log_info("rejected", "session=%s client=%s reason=pipelined-after-starttls",
			 s->sid, s->client);
		imap_reply_bad(s, NULL, "Commands pipelined after STARTTLS are refused");
		imap_session_bye(s, "Pipelining after STARTTLS");
		return;
	}
	imap_reply_ok(s, NULL, "Begin TLS negotiation now");
	imap_session_start_tls(s);
}

/* ---- LOGIN and AUTHENTICATE ---------------------------------------------------- */

struct prepare_job {
	struct imap_job job;
	char *data_dir;
	char *address;
	int rc;
	struct mailbox_error error;
};

static void login_cb(void *ctx, const struct authd_outcome *outcome);
static void login_accept(struct imap_session *s, const struct authd_outcome *outcome);
static unsigned login_account_sessions(const struct imap_session *s, const char *address);
static void login_start_peer(struct imap_session *s, struct authd_peer *peer);
static void prepare_work(struct imap_job *job);
static void prepare_done(struct imap_session *s, struct imap_job *job);
static void prepare_free(struct imap_job *job);

/* login_available - the checks before any password is looked at; false if
 * the command was answered */
static bool login_available(struct imap_session *s, const char *verb)
{
	if (!imap_session_login_allowed(s)) {
		/* RFC 9051 6.2.3, RFC 5530 */
		imap_reply_no(s, "PRIVACYREQUIRED", "%s is disabled before TLS (STARTTLS first)",
			      verb);
		return false;
	}
	if (!s->server->auth || !s->server->store) {
		imap_reply_no(s, "UNAVAILABLE", "Logins are not available");
		return false;
	}
	return true;
}

static void login_start_peer(struct imap_session *s, struct authd_peer *peer)
{
	peer->session = s->sid;
	peer->client = s->client;
	peer->addr = &s->addr;
	peer->apikey_scope = NULL;  /* API keys do not open mailboxes */
	peer->cluster = s->cluster_peer;
	const char *secret = s->config->cluster.secret_file;
	peer->want_home = secret && secret[0] != '\0';
}

/* arg_wipe - a password's octets, in the command buffer, once sent on */
static void arg_wipe(const struct imap_arg *arg)
{
	if (arg->data && arg->len)
		OPENSSL_cleanse((char *)arg->data, arg->len);
}

/* imap_cmd_login - RFC 9051 6.2.3: LOGIN user password */
void imap_cmd_login(struct imap_session *s, const struct imap_command *cmd, bool uid)
{
	(void)uid;
	if (cmd->count != 2 || !imap_arg_is_astring(&cmd->args[0]) ||
	    !imap_arg_is_astring(&cmd->args[1]) || cmd->args[0].type == IMAP_ARG_NIL ||
	    cmd->args[1].type == IMAP_ARG_NIL) {
		if (cmd->count == 2)
			arg_wipe(&cmd->args[1]);
		imap_reply_bad(s, NULL, "LOGIN takes a user name and a password");
		return;
	}
	if (!login_available(s, "LOGIN")) {
		arg_wipe(&cmd->args[1]);
		return;
	}
	struct authd_peer peer;
	login_start_peer(s, &peer);
	s->login = authd_login_password(s->server->auth, &peer, cmd->args[0].data,
					cmd->args[1].data, login_cb, s);
	arg_wipe(&cmd->args[1]);
}

/* imap_cmd_authenticate - RFC 9051 6.2.2 with SASL-IR (RFC 4959):
 * AUTHENTICATE mechanism [initial-response] */
void imap_cmd_authenticate(struct imap_session *s, const struct imap_command *cmd, bool uid)
{
	(void)uid;
	if (cmd->count < 1 || cmd->count > 2 || cmd->args[0].type != IMAP_ARG_ATOM ||
	    (cmd->count == 2 && cmd->args[1].type != IMAP_ARG_ATOM)) {
		if (cmd->count == 2)
			arg_wipe(&cmd->args[1]);
		imap_reply_bad(s, NULL, "AUTHENTICATE takes a mechanism and an initial response");
		return;
	}
	enum authd_mech mech = authd_mech_find(cmd->args[0].data, cmd->args[0].len);
	if (mech == AUTHD_MECH_NONE) {
		if (cmd->count == 2)
			arg_wipe(&cmd->args[1]);
		imap_reply_no(s, "CANNOT", "Unsupported authentication mechanism");
		return;
	}
	if (!login_available(s, "AUTHENTICATE")) {
		if (cmd->count == 2)
			arg_wipe(&cmd->args[1]);
		return;
	}
	struct buf initial;
	buf_init(&initial);
	bool has_initial = cmd->count == 2;
	if (has_initial) {
		const struct imap_arg *ir = &cmd->args[1];
		/* RFC 4959 3: "=" is an empty initial response */
		bool empty = ir->len == 1 && ir->data[0] == '=';
		int rc = empty ? 0 : base64_decode(ir->data, ir->len, &initial);
		arg_wipe(ir);
		if (rc != 0) {
			buf_free(&initial);
			imap_reply_bad(s, NULL, "The initial response is not base64");
			return;
		}
	}
	struct authd_peer peer;
	login_start_peer(s, &peer);
	s->login = authd_login_sasl(s->server->auth, &peer, mech, initial.data, initial.len,
				    has_initial, login_cb, s);
	if (initial.data)
		OPENSSL_cleanse(initial.data, initial.len);
	buf_free(&initial);
}

/* imap_session_sasl_line - the client's answer to a "+ " challenge
 * (LINE[0..LEN), its CRLF removed): "*" cancels (RFC 9051 6.2.2),
 * anything else is base64 for the login's next step */
void imap_session_sasl_line(struct imap_session *s, char *line, size_t len)
{
	struct buf answer;
	buf_init(&answer);
	s->sasl_line = false;
	if (len == 1 && line[0] == '*') {
		authd_login_free(&s->login);
		imap_reply_bad(s, NULL, "Authentication cancelled");
	} else if (base64_decode(line, len, &answer) != 0) {
		authd_login_free(&s->login);
		imap_reply_bad(s, NULL, "The response is not base64");
	} else {
		authd_login_step(s->login, answer.data ? answer.data : "", answer.len);
	}
	OPENSSL_cleanse(line, len);
	if (answer.data)
		OPENSSL_cleanse(answer.data, answer.len);
	buf_free(&answer);
}

/* login_cb - the login's outcome, on the loop */
static void login_cb(void *ctx, const struct authd_outcome *outcome)
{
	struct imap_session *s = ctx;
	if (outcome->result == AUTHD_CHALLENGE) {
		/* RFC 9051 7.5: "+ " and the challenge in base64 */
		struct buf b;
		buf_init(&b);
		base64_encode(outcome->data, outcome->len, &b);
		imap_reply_continue(s, "%.*s", (int)b.len, b.data ? b.data : "");
		buf_free(&b);
		s->sasl_line = true;
		imap_session_read_on(s);
		return;
	}
	/* OUTCOME lives as long as the login: freed once it is used */
	struct authd_login *login = s->login;
	s->login = NULL;
	switch (outcome->result) {
	case AUTHD_OK:
		login_accept(s, outcome);
		break;
	case AUTHD_WRONG:
		net_sessions_count_auth_failure(s->conn.table);
		imap_reply_no(s, "AUTHENTICATIONFAILED", "Authentication failed");
		break;
	case AUTHD_TRY_LATER:
		imap_reply_no(s, "UNAVAILABLE", "Authentication is not available now, "
			      "try again later");
		break;
	case AUTHD_LOCKED_OUT:
		imap_reply_no(s, "UNAVAILABLE", "Too many authentication failures, "
			      "try again later");
		imap_session_bye(s, "Too many authentication failures");
		break;
	case AUTHD_MALFORMED:
		imap_reply_bad(s, NULL, "Malformed authentication exchange");
		break;
	case AUTHD_CHALLENGE:
		break;
	}
	authd_login_free(&login);
}

struct account_count {
	const struct imap_session *self;
	const char *address;
	unsigned n;
};

static void login_count_session(void *session, void *ctx)
{
	const struct imap_session *o = session;
	struct account_count *c = ctx;
	if (o != c->self && o->account && strcasecmp(o->account, c->address) == 0)
		c->n++;
}

/* login_account_sessions - sessions of ADDRESS logged in (or logging in) */
static unsigned login_account_sessions(const struct imap_session *s, const char *address)
{
	struct account_count c = { .self = s, .address = address, .n = 0 };
	net_sessions_each(s->server->sessions, login_count_session, &c);
	return c.n;
}

/* login_accept - the password was right: within [imap]
 * sessions_per_account, on the account's home node if it is another
 * (proxy.c); here, make sure the account's INBOX and special-use folders
 * exist (on the pool), then the authenticated state */
static void login_accept(struct imap_session *s, const struct authd_outcome *outcome)
{
	struct policy_account *account = outcome->account;
	struct store_node *home = outcome->home;
	unsigned max = s->config->imap.sessions_per_account;
	if (login_account_sessions(s, account->name) >= max) {
		log_info("login-refused", "session=%s client=%s account=%s reason=sessions max=%u",
			 s->sid, s->client, account->name, max);
		policy_account_free(&account);
		store_node_free(&home);
		imap_reply_no(s, "LIMIT", "Too many sessions of this account");
		return;
	}
	if (home && strcmp(home->name, s->config->node) != 0) {
		imap_proxy_start(s, account->name, home, outcome->ticket);
		policy_account_free(&account);
		return;
	}
	store_node_free(&home);
	s->account = xstrdup(account->name);
	policy_account_free(&account);
	struct prepare_job *job = xcalloc(1, sizeof(*job));
	job->job.work = prepare_work;
	job->job.done = prepare_done;
	job->job.free = prepare_free;
	job->data_dir = xstrdup(s->config->data_dir);
	job->address = xstrdup(s->account);
	imap_session_async(s, &job->job);
}

static void prepare_work(struct imap_job *job)
{
	struct prepare_job *p = (struct prepare_job *)job;
	p->rc = mailbox_account_prepare(p->data_dir, p->address, &p->error);
}

static void prepare_done(struct imap_session *s, struct imap_job *job)
{
	struct prepare_job *p = (struct prepare_job *)job;
	if (p->rc != 0) {
		log_error("login-failed", "session=%s account=%s error=\"%s\" errno=%d", s->sid,
			  s->account, p->error.text, p->error.sys_errno);
		free(s->account);
		s->account = NULL;
		imap_reply_no(s, "UNAVAILABLE", "The mailbox is not available now, "
			      "try again later");
		return;
	}
	imap_session_logged_in(s);
	log_info("login", "session=%s client=%s account=%s", s->sid, s->client, s->account);
	/* RFC 9051 6.2.3: the capabilities may change at login */
	struct buf code;
	buf_init(&code);
	buf_append_str(&code, "CAPABILITY ");
	imap_capability_append(s, &code);
	buf_append(&code, "", 1);
	imap_reply_ok(s, code.data, "Logged in");
	buf_free(&code);
}

static void prepare_free(struct imap_job *job)
{
	struct prepare_job *p = (struct prepare_job *)job;
	free(p->data_dir);
	free(p->address);
	free(p);
}
