/* http/auth - a request's "Authorization: Bearer KEY" (RFC 6750 2.1), an
 * API key checked by the auth process as the SMTP password of user
 * "apikey" is (authd/client.h): the key's SHA-256 is compared there, the
 * account read on the workers, the AUTH throttle counts the failures.  The
 * answers to a refusal are SendGrid v3's. */
#include "http/session.h"
#include "http/web-session.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "authd/authd.h"
#include "authd/client.h"
#include "policy/policy.h"
#include "util/log.h"
#include "util/xalloc.h"

static bool bearer_token(const struct http_session *s, char **token_r);
static void auth_login_cb(void *ctx, const struct authd_outcome *outcome);
static void auth_refuse(struct http_session *s, int status, const char *message);

/* bearer_token - the token of "Bearer TOKEN" (the scheme in any case, one
 * or more spaces), copied; false if the field is missing or not so */
static bool bearer_token(const struct http_session *s, char **token_r)
{
	struct http_span a = s->req.authorization;
	const char *v = s->head + a.off;
	if (a.len < 8 || strncasecmp(v, "Bearer ", 7) != 0)
		return false;
	size_t skip = 7;
	while (skip < a.len && v[skip] == ' ')
		skip++;
	if (skip == a.len || a.len - skip > AUTHD_PASSWORD_MAX ||
	    memchr(v + skip, ' ', a.len - skip) != NULL)
		return false;
	*token_r = xmalloc(a.len - skip + 1);
	memcpy(*token_r, v + skip, a.len - skip);
	(*token_r)[a.len - skip] = '\0';
	return true;
}

void http_session_authorize(struct http_session *s, const char *scope,
			    http_authorized_fn *authorized)
{
	char *token = NULL;
	if (!s->server->auth) {
		auth_refuse(s, 503, "authorization is not available");
		return;
	}
	if (!bearer_token(s, &token)) {
		auth_refuse(s, 401, "authorization required");
		return;
	}
	struct authd_peer peer = { .session = s->sid, .client = s->client, .addr = &s->addr,
				   .apikey_scope = scope };
	s->authorized = authorized;
	s->login = authd_login_password(s->server->auth, &peer, AUTHD_APIKEY_USER, token,
					auth_login_cb, s);
	OPENSSL_cleanse(token, strlen(token));
	free(token);
}

/* auth_login_cb - the auth process's and the store's answer */
static void auth_login_cb(void *ctx, const struct authd_outcome *outcome)
{
	struct http_session *s = ctx;
	/* OUTCOME lives as long as the login: what is kept is taken first */
	if (outcome->result == AUTHD_OK) {
		s->account = outcome->account;
		s->scopes = xstrdup(outcome->apikey_scopes ? outcome->apikey_scopes : "");
	}
	bool forbidden = outcome->result == AUTHD_WRONG && outcome->reason &&
		strcmp(outcome->reason, "api-key-scope") == 0;
	enum authd_result result = outcome->result;
	authd_login_free(&s->login);
	switch (result) {
	case AUTHD_OK:
		s->authorized(s);
		return;
	case AUTHD_WRONG:
		if (forbidden) {
			auth_refuse(s, 403, "access forbidden");
		} else {
			net_sessions_count_auth_failure(s->conn.table);
			auth_refuse(s, 401, "The provided authorization grant is invalid, "
				    "expired, or revoked");
		}
		return;
	case AUTHD_LOCKED_OUT:
		auth_refuse(s, 429, "too many authentication failures");
		return;
	case AUTHD_MALFORMED:
		auth_refuse(s, 401, "authorization required");
		return;
	default:
		auth_refuse(s, 503, "authorization is not available now, try again later");
		return;
	}
}

/* auth_refuse - STATUS with SendGrid's error list; 401 says how to
 * authenticate (RFC 6750 3) */
static void auth_refuse(struct http_session *s, int status, const char *message)
{
	if (status == 401)
		http_session_add_header(s, "WWW-Authenticate", "Bearer");
	http_session_respond_error(s, status, message, NULL);
}

void http_session_auth_clear(struct http_session *s)
{
	authd_login_free(&s->login);
	if (s->server->auth)
		authd_apikey_cancel(s->server->auth, s->apikey_call);
	s->apikey_call = 0;
	policy_account_free(&s->account);
	free(s->scopes);
	s->scopes = NULL;
	s->authorized = NULL;
	http_web_request_free(&s->web);
}
