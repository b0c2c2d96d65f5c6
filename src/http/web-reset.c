/* http/web-reset - the password reset (docs/web.md "Resetting a
 * password"): /reset asks for an address, /reset/TOKEN for a new password.
 *
 * POST /reset (CSRF-checked, counted per client address as a sign-up is)
 * answers the same page whatever the address: a worker looks the account
 * up and, when there is one that is not disabled, adds a STORE_WEB_RESET
 * link for [web] reset_lifetime, which is mailed through the queue (within
 * the address's [web] signup_rate).  GET /reset/TOKEN shows the form and
 * changes nothing; its POST takes the link (store_web_secret_take: once),
 * has the auth process set the password (IPC_AUTH_PASSWORD_SET, the call
 * tied to the session as an API key call is: cancelled if it closes), then
 * removes every session of the account (store_web_secret_remove), so that
 * whoever held one is logged out. */
#include "http/web.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "authd/authd.h"
#include "authd/client.h"
#include "config/config.h"
#include "ipc/ipc.h"
#include "store/store.h"
#include "util/log.h"
#include "util/markup.h"
#include "util/pool.h"
#include "util/xalloc.h"

#define RESET_PATH "/reset/"
#define RESET_SENT "If this address has an account, a message is on its way to it with a" \
	" link to choose a new password."

enum reset_result { RESET_FAILED, RESET_DONE, RESET_NO_ACCOUNT, RESET_NO_LINK,
		    RESET_RATE_LIMITED };

struct reset_job {
	struct http_job_origin origin;
	char *address;           /* POST /reset: the address; /reset/TOKEN: the account */
	char *password;          /* POST /reset/TOKEN: the new one, wiped */
	struct http_web_rate_job rate;   /* POST /reset's counts */
	time_t expires;
	char secret[STORE_WEB_SECRET_LEN + 1];
	enum reset_result result;
};

static void reset_page(struct http_session *s, int status, const char *title,
		       const char *text);
static void reset_form(struct http_session *s, int status, const char *error);
static void reset_password_form(struct http_session *s, int status, const char *error);
static struct reset_job *reset_job_new(struct http_session *s, const char *address);
static void reset_job_free(struct reset_job *j);
static void reset_request_work(void *arg);
static void reset_request_done(void *arg);
static void reset_take_work(void *arg);
static void reset_take_done(void *arg);
static void reset_password_set(void *ctx, const struct ipc_msg *reply);
static void reset_sessions_work(void *arg);
static void reset_sessions_done(void *arg);

/* reset_page - STATUS with TITLE and the paragraph TEXT */
static void reset_page(struct http_session *s, int status, const char *title,
		       const char *text)
{
	struct buf main_html;
	buf_init(&main_html);
	http_web_message(&main_html, text);
	http_web_respond(s, status, title, &main_html);
}

/* reset_form - STATUS with the address form, ERROR above it (NULL: none) */
static void reset_form(struct http_session *s, int status, const char *error)
{
	struct buf main_html;
	buf_init(&main_html);
	buf_append_str(&main_html, "<p>Enter the address of your account: a link to choose a"
		       " new password is mailed to it.</p>\n");
	if (!http_web_form_open(s, &main_html, "/reset", error))
		return;
	buf_append_str(&main_html, "<label for=\"email\">Email address</label>\n"
		       "<input id=\"email\" name=\"email\" type=\"email\" autocomplete=\"email\""
		       " maxlength=\"254\" required>\n"
		       "<button type=\"submit\">Mail me a link</button>\n</form>\n");
	http_web_respond(s, status, "Reset your password", &main_html);
}

/* reset_password_form - STATUS with the new password's form (it posts to
 * the page's own address), ERROR above it */
static void reset_password_form(struct http_session *s, int status, const char *error)
{
	const struct config_web *web = &s->server->config->web;
	struct buf main_html;
	buf_init(&main_html);
	if (!http_web_form_open(s, &main_html, NULL, error))
		return;
	buf_printf(&main_html, "<label for=\"password\">New password (%u to %u"
		   " characters)</label>\n<input id=\"password\" name=\"password\""
		   " type=\"password\" autocomplete=\"new-password\" minlength=\"%u\""
		   " maxlength=\"%u\" required>\n<button type=\"submit\">Set the password"
		   "</button>\n</form>\n", web->password_min, web->password_max,
		   web->password_min, web->password_max);
	http_web_respond(s, status, "Choose a new password", &main_html);
}

static struct reset_job *reset_job_new(struct http_session *s, const char *address)
{
	struct reset_job *j = xcalloc(1, sizeof(*j));
	http_job_origin_init(&j->origin, s);
	j->address = address ? xstrdup(address) : NULL;
	return j;
}

static void reset_job_free(struct reset_job *j)
{
	OPENSSL_cleanse(j->secret, sizeof(j->secret));
	if (j->password) {
		OPENSSL_cleanse(j->password, strlen(j->password));
		free(j->password);
	}
	http_web_rate_clear(&j->rate);
	free(j->address);
	free(j);
}

void http_route_reset_page(struct http_session *s)
{
	reset_form(s, 200, NULL);
}

void http_route_reset_post(struct http_session *s)
{
	struct http_form form;
	if (!http_web_form_read(s, &form))
		return;
	const char *email = http_form_get(&form, "email");
	if (!s->server->store) {
		reset_page(s, 503, "Try again later", "Resetting a password is not possible now:"
			   " try again later.");
	} else if (!email || strlen(email) > 254 || !store_address_is_valid(email)) {
		reset_form(s, 400, "Enter an email address (name@example.com).");
	} else {
		struct reset_job *j = reset_job_new(s, NULL);
		http_web_rate_init(&j->rate, s);
		j->address = http_web_address_lower(email);
		j->expires = time(NULL) + (time_t)s->server->config->web.reset_lifetime;
		pool_submit(s->server->pool, reset_request_work, reset_request_done, j);
	}
	http_form_clear(&form);
}

/* reset_request_work - (worker) a link for the address's account, if it
 * has one that may log in */
static void reset_request_work(void *arg)
{
	struct reset_job *j = arg;
	struct store *store = j->origin.server->store;
	struct store_account *a = NULL;
	const char *error = NULL;
	j->result = RESET_FAILED;
	if (http_web_rate_work(&j->rate, store, &j->origin.server->config->web, j->address,
			       time(NULL)) != 0)
		return;
	if (j->rate.client_over) {
		j->result = RESET_RATE_LIMITED;
		return;
	}
	int rc = store_account_get(store, j->address, &a, &error);
	bool usable = rc == 0 && !a->disabled;
	store_account_free(&a);
	if (rc == STORE_NOT_FOUND || (rc == 0 && !usable)) {
		j->result = RESET_NO_ACCOUNT;
		return;
	}
	if (rc == 0)
		rc = http_web_link_make(store, STORE_WEB_RESET, j->address, j->expires, j->secret,
					&error);
	if (rc != 0)
		log_error("store-failed", "op=reset session=%s error=\"%s\"", j->origin.sid,
			  error ? error : "");
	else
		j->result = RESET_DONE;
}

/* reset_request_done - (loop) the same page for every address; the link
 * mailed when one was made */
static void reset_request_done(void *arg)
{
	struct reset_job *j = arg;
	struct http_server *server = j->origin.server;
	struct http_session *s = http_job_origin_session(&j->origin);
	if (j->result == RESET_RATE_LIMITED) {
		http_web_rate_refuse(s, &j->origin, &j->rate, "reset");
		reset_job_free(j);
		return;
	}
	log_info("http-web-reset", "session=%s account=%s result=%s mail=%s", j->origin.sid,
		 j->address, j->result == RESET_DONE ? "link" : j->result == RESET_NO_ACCOUNT ?
		 "no-account" : "failed", j->rate.mail ? "yes" : "rate-limited");
	if (s && !s->conn.dead && j->result == RESET_FAILED)
		reset_page(s, 503, "Try again later", "Resetting a password is not possible now:"
			   " try again later.");
	else if (s && !s->conn.dead)
		reset_page(s, 200, "Check your mail", RESET_SENT);
	if (j->result == RESET_DONE && j->rate.mail) {
		const char *url = server->config->http.public_url;
		struct buf text;
		buf_init(&text);
		buf_printf(&text, "Someone, you we hope, asked for a new password for this"
			   " address's account\r\nat %s.\r\n\r\nTo choose one, open this link:\r\n"
			   "\r\n%s%s%s\r\n\r\nThe link works once, within %u minutes. If you did not"
			   " ask, ignore this\r\nmessage: your password stays as it is.\r\n", url, url,
			   RESET_PATH, j->secret, server->config->web.reset_lifetime / 60);
		buf_append(&text, "", 1);
		http_web_mail(server, j->address, "Choose a new password", text.data, "reset");
		OPENSSL_cleanse(text.data, text.len);
		buf_free(&text);
	}
	reset_job_free(j);
}

void http_route_reset_token_page(struct http_session *s)
{
	char token[STORE_WEB_SECRET_LEN + 1];
	if (!http_web_path_token(s, RESET_PATH, token))
		return;
	OPENSSL_cleanse(token, sizeof(token));
	reset_password_form(s, 200, NULL);
}

void http_route_reset_token_post(struct http_session *s)
{
	const struct config_web *web = &s->server->config->web;
	struct http_form form;
	char token[STORE_WEB_SECRET_LEN + 1];
	if (!http_web_path_token(s, RESET_PATH, token) || !http_web_form_read(s, &form))
		return;
	const char *password = http_form_get(&form, "password");
	size_t n = password ? strlen(password) : 0;
	if (!s->server->store || !s->server->auth) {
		reset_page(s, 503, "Try again later", "Resetting a password is not possible now:"
			   " try again later.");
	} else if (n < web->password_min || n > web->password_max) {
		char text[128];
		snprintf(text, sizeof(text), "Choose a password of %u to %u characters.",
			 web->password_min, web->password_max);
		reset_password_form(s, 400, text);
	} else {
		struct reset_job *j = reset_job_new(s, NULL);
		j->password = xstrdup(password);
		memcpy(j->secret, token, sizeof(token));
		pool_submit(s->server->pool, reset_take_work, reset_take_done, j);
	}
	OPENSSL_cleanse(token, sizeof(token));
	http_form_clear(&form);
}

/* reset_take_work - (worker) the link taken: its account */
static void reset_take_work(void *arg)
{
	struct reset_job *j = arg;
	const char *error = NULL;
	int rc = store_web_secret_take(j->origin.server->store, STORE_WEB_RESET, j->secret,
				       time(NULL), &j->address, &error);
	j->result = rc == 0 ? RESET_DONE : rc == STORE_NOT_FOUND ? RESET_NO_LINK : RESET_FAILED;
	if (rc < 0)
		log_error("store-failed", "op=reset_take session=%s error=\"%s\"", j->origin.sid,
			  error ? error : "");
}

/* reset_take_done - (loop) the password to the auth process, the call
 * tied to the session (http_session_auth_clear cancels it) */
static void reset_take_done(void *arg)
{
	struct reset_job *j = arg;
	struct http_session *s = http_job_origin_session(&j->origin);
	if (!s || s->conn.dead) {
		log_info("http-web-reset", "session=%s result=client-gone", j->origin.sid);
	} else if (j->result == RESET_NO_LINK) {
		reset_page(s, 404, "Link not valid", HTTP_WEB_LINK_NOT_VALID);
	} else if (j->result != RESET_DONE) {
		reset_page(s, 503, "Try again later", "Resetting a password is not possible now:"
			   " try again later.");
	} else {
		s->apikey_call = authd_password_set(s->server->auth, j->address, j->password,
						    reset_password_set, s);
	}
	reset_job_free(j);
}

/* reset_password_set - the auth process's answer: then the account's
 * sessions go */
static void reset_password_set(void *ctx, const struct ipc_msg *reply)
{
	struct http_session *s = ctx;
	char *account = NULL;
	s->apikey_call = 0;
	if (!reply || reply->type != IPC_R_OK ||
	    !ipc_field_text(reply, 0, AUTHD_USER_MAX, &account)) {
		log_error("http-web-reset", "session=%s error=\"the auth process did not set the"
			  " password\"", s->sid);
		reset_page(s, 503, "Try again later", "The password could not be set: ask for a"
			   " new link and try again later.");
		return;
	}
	struct reset_job *j = reset_job_new(s, account);
	free(account);
	pool_submit(s->server->pool, reset_sessions_work, reset_sessions_done, j);
}

/* reset_sessions_work - (worker) every session of the account removed */
static void reset_sessions_work(void *arg)
{
	struct reset_job *j = arg;
	const char *error = NULL;
	j->result = RESET_DONE;
	if (store_web_secret_remove(j->origin.server->store, STORE_WEB_SESSION, NULL, j->address,
				    &error) != 0) {
		log_error("store-failed", "op=web_secret_remove session=%s error=\"%s\"",
			  j->origin.sid, error ? error : "");
		j->result = RESET_FAILED;
	}
}

/* reset_sessions_done - (loop) the answer */
static void reset_sessions_done(void *arg)
{
	struct reset_job *j = arg;
	struct http_session *s = http_job_origin_session(&j->origin);
	log_info("http-web-reset", "session=%s account=%s result=password-set sessions=%s",
		 j->origin.sid, j->address, j->result == RESET_DONE ? "removed" : "kept");
	if (s && !s->conn.dead) {
		struct buf main_html;
		buf_init(&main_html);
		http_web_message(&main_html, "Your password is changed, and every session of the"
				 " account is logged out.");
		buf_append_str(&main_html, "<p><a href=\"/login\">Log in</a></p>\n");
		http_web_respond(s, 200, "Password changed", &main_html);
	}
	reset_job_free(j);
}
