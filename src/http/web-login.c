/* http/web-login - the web login (docs/web.md "Logging in"): GET /login
 * shows the form (address, password, the pre-login CSRF token); POST
 * /login, once http_web_form_read has checked the token and the Origin,
 * has the auth process check the password exactly as for SMTP AUTH
 * (authd_login_password: the same AUTH throttle, its delays and lockouts;
 * a disabled account's right password is a failure there), then makes the
 * session on a worker: a new secret (never one the browser brought: no
 * session fixation) and a new CSRF token in a STORE_WEB_SESSION row for
 * [web] session_lifetime, the secret in the cookie HTTP_WEB_SESSION_COOKIE,
 * and 303 to /dashboard.  Every failure (unknown address, wrong password,
 * disabled account, malformed input) answers the same: 403 and the form
 * again with one message (credentials given and found insufficient, RFC
 * 9110 15.5.4; 401 would owe a WWW-Authenticate challenge); a locked-out address 429; the auth process or
 * the store unavailable 503. */
#include "http/web.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "authd/client.h"
#include "config/config.h"
#include "policy/policy.h"
#include "store/store.h"
#include "util/log.h"
#include "util/markup.h"
#include "util/pool.h"
#include "util/xalloc.h"

#define LOGIN_FAILED "The address or the password is not right."

struct login_job {
	struct http_job_origin origin;
	char *account;
	time_t lifetime;
	char secret[STORE_WEB_SECRET_LEN + 1];
	char csrf[STORE_WEB_SECRET_LEN + 1];
	int rc;                  /* 0: the session is in the store */
};

static void login_form(struct http_session *s, int status, const char *error);
static void login_checked(void *ctx, const struct authd_outcome *outcome);
static void login_session_start(struct http_session *s, const char *account);
static void login_session_work(void *arg);
static void login_session_done(void *arg);
static void login_unavailable(struct http_session *s);

/* login_form - STATUS with the form (a new CSRF token) and ERROR above it
 * (NULL: none) */
static void login_form(struct http_session *s, int status, const char *error)
{
	struct buf main_html;
	buf_init(&main_html);
	if (!http_web_form_open(s, &main_html, "/login", error))
		return;
	buf_append_str(&main_html, "<label for=\"email\">Email address</label>\n"
		       "<input id=\"email\" name=\"email\" type=\"email\" autocomplete=\"username\""
		       " maxlength=\"254\" required>\n"
		       "<label for=\"password\">Password</label>\n"
		       "<input id=\"password\" name=\"password\" type=\"password\""
		       " autocomplete=\"current-password\" maxlength=\"1024\" required>\n"
		       "<button type=\"submit\">Log in</button>\n</form>\n");
	http_web_respond(s, status, "Log in", &main_html);
}

/* login_unavailable - 503: the auth process, the store or the random
 * source cannot serve the login now */
static void login_unavailable(struct http_session *s)
{
	struct buf main_html;
	buf_init(&main_html);
	http_web_message(&main_html, "Logging in is not possible now: try again later.");
	http_web_respond(s, 503, "Try again later", &main_html);
}

void http_route_login_page(struct http_session *s)
{
	login_form(s, 200, NULL);
}

void http_route_login_post(struct http_session *s)
{
	struct http_form form;
	if (!http_web_form_read(s, &form))
		return;
	const char *email = http_form_get(&form, "email");
	const char *password = http_form_get(&form, "password");
	if (!s->server->auth || !s->server->store) {
		login_unavailable(s);
	} else if (!email || !password || !email[0] || !password[0]) {
		login_form(s, 400, "Enter your address and your password.");
	} else {
		struct authd_peer peer = { .session = s->sid, .client = s->client,
					   .addr = &s->addr };
		s->login = authd_login_password(s->server->auth, &peer, email, password,
						login_checked, s);
	}
	http_form_clear(&form);
}

/* login_checked - the auth process's answer (and the account, read on a
 * worker, when it is OK) */
static void login_checked(void *ctx, const struct authd_outcome *outcome)
{
	struct http_session *s = ctx;
	enum authd_result result = outcome->result;
	struct policy_account *account = outcome->account;
	char *name = result == AUTHD_OK ? xstrdup(account->name) : NULL;
	policy_account_free(&account);
	authd_login_free(&s->login);
	struct buf main_html;
	switch (result) {
	case AUTHD_OK:
		login_session_start(s, name);
		break;
	case AUTHD_WRONG:
	case AUTHD_MALFORMED:
		net_sessions_count_auth_failure(s->conn.table);  /* /metrics, as a Bearer's */
		login_form(s, 403, LOGIN_FAILED);
		break;
	case AUTHD_LOCKED_OUT:
		buf_init(&main_html);
		http_web_message(&main_html, "Too many failed logins came from your address:"
				 " try again later.");
		http_web_respond(s, 429, "Too many failed logins", &main_html);
		break;
	default:
		login_unavailable(s);
		break;
	}
	free(name);
}

/* login_session_start - the session of ACCOUNT made on a worker */
static void login_session_start(struct http_session *s, const char *account)
{
	struct login_job *j = xcalloc(1, sizeof(*j));
	http_job_origin_init(&j->origin, s);
	j->account = xstrdup(account);
	j->lifetime = (time_t)s->server->config->web.session_lifetime;
	pool_submit(s->server->pool, login_session_work, login_session_done, j);
}

/* login_session_work - (worker) a new secret and CSRF token, their row */
static void login_session_work(void *arg)
{
	struct login_job *j = arg;
	const char *error = NULL;
	j->rc = -1;
	if (store_web_secret_make(j->secret) < 0 || store_web_secret_make(j->csrf) < 0) {
		log_error("http-web-login", "session=%s error=\"no random secret\"", j->origin.sid);
		return;
	}
	j->rc = store_web_secret_add(j->origin.server->store, STORE_WEB_SESSION, j->secret,
				     j->account, j->csrf, time(NULL) + j->lifetime, &error);
	if (j->rc != 0)
		log_error("store-failed", "op=web_secret_add session=%s error=\"%s\"",
			  j->origin.sid, error ? error : "");
}

/* login_session_done - (loop) the cookie and 303 to /dashboard, if the
 * client is still there */
static void login_session_done(void *arg)
{
	struct login_job *j = arg;
	struct http_session *s = http_job_origin_session(&j->origin);
	if (s && s->conn.dead)
		s = NULL;
	if (j->rc == 0)
		log_info("http-web-login", "session=%s account=%s", j->origin.sid, j->account);
	if (s && j->rc != 0) {
		login_unavailable(s);
	} else if (s) {
		struct buf main_html;
		buf_init(&main_html);
		http_web_set_cookie(s, HTTP_WEB_SESSION_COOKIE, j->secret, (long)j->lifetime);
		http_web_set_cookie(s, HTTP_WEB_CSRF_COOKIE, "", -1);
		http_session_add_header(s, "Location", "/dashboard");
		buf_append_str(&main_html, "<p><a href=\"/dashboard\">Go to the dashboard</a></p>\n");
		http_web_respond(s, 303, "Logged in", &main_html);
	}
	OPENSSL_cleanse(j->secret, sizeof(j->secret));
	OPENSSL_cleanse(j->csrf, sizeof(j->csrf));
	free(j->account);
	free(j);
}
