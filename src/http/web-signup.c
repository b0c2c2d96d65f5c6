/* http/web-signup - the sign-up (docs/web.md "Signing up"): GET /signup,
 * the form; POST /signup, the account; /verify/TOKEN, the link mailed to
 * its address.
 *
 * POST /signup, once http_web_form_read has checked the CSRF token and the
 * Origin: the address (store_address_is_valid) and the password ([web]
 * password_min..password_max octets) are checked, the client address is
 * counted ([web] signup_rate within rate_window: 429 over it), then a
 * worker reads the store: a new address becomes an account (plan "free",
 * unverified, and pending with signup = approval) with a verification link
 * ([web] verify_lifetime).  The page is answered then, the same for a new
 * address and a taken one (no account enumeration, and both cost one store
 * job), and the rest goes on without the client: the auth process hashes
 * the password and makes it the account's (IPC_AUTH_PASSWORD_SET), then
 * the link is mailed through the queue (http_web_mail); an address taken
 * already gets a note saying so instead.  The address mailed is counted
 * too: over the rate, the page is the same and nothing is mailed.  If the
 * password cannot be set, the account is removed again (logged).
 *
 * /verify/TOKEN: GET shows a button and changes nothing (mail scanners
 * follow links); its POST (CSRF-checked) takes the link
 * (store_web_secret_take: once) and clears the account's unverified flag. */
#include "http/web.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "authd/client.h"
#include "config/config.h"
#include "ipc/ipc.h"
#include "store/store.h"
#include "util/log.h"
#include "util/markup.h"
#include "util/pool.h"
#include "util/xalloc.h"

#define VERIFY_PATH "/verify/"
#define SIGNUP_SENT "If this address can sign up, a message is on its way to it with a" \
	" link to confirm it. Follow the link to finish."

enum signup_result { SIGNUP_FAILED, SIGNUP_NEW, SIGNUP_TAKEN, SIGNUP_VERIFIED, SIGNUP_NO_LINK,
		     SIGNUP_RATE_LIMITED };

struct http_signup_job {
	struct http_job_origin origin;
	char *address;           /* lower-cased */
	char *password;          /* wiped once handed to the auth process */
	bool pending;            /* [web] signup = approval */
	struct http_web_rate_job rate;
	time_t expires;          /* the link's end */
	char secret[STORE_WEB_SECRET_LEN + 1];
	enum signup_result result;
	/* while the auth process sets the password: in server->web_signups */
	struct http_signup_job *prev, *next;
	uint32_t call;
};

static void signup_form(struct http_session *s, int status, const char *error);
static bool signup_is_closed(struct http_session *s);
static bool signup_check(struct http_session *s, const char *email, const char *password);
static void signup_work(void *arg);
static void signup_done(void *arg);
static void signup_password_set(void *ctx, const struct ipc_msg *reply);
static void signup_unlink(struct http_signup_job *j);
static void signup_undo_work(void *arg);
static void signup_mail(struct http_signup_job *j);
static void signup_job_free(void *arg);
static void signup_page(struct http_session *s, int status, const char *title,
			const char *text);
static void verify_work(void *arg);
static void verify_done(void *arg);

/* signup_page - STATUS with TITLE and the paragraph TEXT */
static void signup_page(struct http_session *s, int status, const char *title,
			const char *text)
{
	struct buf main_html;
	buf_init(&main_html);
	http_web_message(&main_html, text);
	http_web_respond(s, status, title, &main_html);
}

/* signup_is_closed - [web] signup = closed: S is answered 403 */
static bool signup_is_closed(struct http_session *s)
{
	if (s->server->config->web.signup != CONFIG_WEB_SIGNUP_CLOSED)
		return false;
	signup_page(s, 403, "Sign-up is closed", "Sign-up is closed on this server: ask its"
		    " operator for an account.");
	return true;
}

/* signup_form - STATUS with the form (a new CSRF token), ERROR above it
 * (NULL: none) */
static void signup_form(struct http_session *s, int status, const char *error)
{
	const struct config_web *web = &s->server->config->web;
	struct buf main_html;
	buf_init(&main_html);
	if (web->signup == CONFIG_WEB_SIGNUP_APPROVAL)
		buf_append_str(&main_html, "<p>An operator approves each new account before it"
			       " can send mail.</p>\n");
	if (!http_web_form_open(s, &main_html, "/signup", error))
		return;
	buf_printf(&main_html, "<label for=\"email\">Email address</label>\n"
		   "<input id=\"email\" name=\"email\" type=\"email\" autocomplete=\"email\""
		   " maxlength=\"254\" required>\n"
		   "<label for=\"password\">Password (%u to %u characters)</label>\n"
		   "<input id=\"password\" name=\"password\" type=\"password\""
		   " autocomplete=\"new-password\" minlength=\"%u\" maxlength=\"%u\" required>\n"
		   "<button type=\"submit\">Sign up</button>\n</form>\n", web->password_min,
		   web->password_max, web->password_min, web->password_max);
	http_web_respond(s, status, "Sign up", &main_html);
}

void http_route_signup_page(struct http_session *s)
{
	if (!signup_is_closed(s))
		signup_form(s, 200, NULL);
}

/* signup_check - EMAIL and PASSWORD are acceptable; else S is answered 400
 * with the form and what is wrong */
static bool signup_check(struct http_session *s, const char *email, const char *password)
{
	const struct config_web *web = &s->server->config->web;
	size_t n = password ? strlen(password) : 0;
	if (!email || strlen(email) > 254 || !store_address_is_valid(email)) {
		signup_form(s, 400, "Enter an email address (name@example.com).");
		return false;
	}
	if (n < web->password_min || n > web->password_max) {
		char text[128];
		snprintf(text, sizeof(text), "Choose a password of %u to %u characters.",
			 web->password_min, web->password_max);
		signup_form(s, 400, text);
		return false;
	}
	return true;
}

void http_route_signup_post(struct http_session *s)
{
	const struct config_web *web = &s->server->config->web;
	struct http_form form;
	if (signup_is_closed(s) || !http_web_form_read(s, &form))
		return;
	const char *email = http_form_get(&form, "email");
	const char *password = http_form_get(&form, "password");
	if (!s->server->store || !s->server->auth) {
		signup_page(s, 503, "Try again later", "Signing up is not possible now: try"
			    " again later.");
	} else if (signup_check(s, email, password)) {
		struct http_signup_job *j = xcalloc(1, sizeof(*j));
		http_job_origin_init(&j->origin, s);
		http_web_rate_init(&j->rate, s);
		j->address = http_web_address_lower(email);
		j->password = xstrdup(password);
		j->pending = web->signup == CONFIG_WEB_SIGNUP_APPROVAL;
		j->expires = time(NULL) + (time_t)web->verify_lifetime;
		pool_submit(s->server->pool, signup_work, signup_done, j);
	}
	http_form_clear(&form);
}

/* signup_work - (worker) the rates counted; then the account and its
 * link, unless the address is one already */
static void signup_work(void *arg)
{
	struct http_signup_job *j = arg;
	struct store *store = j->origin.server->store;
	struct store_account *old = NULL;
	const char *error = NULL;
	j->result = SIGNUP_FAILED;
	if (http_web_rate_work(&j->rate, store, &j->origin.server->config->web, j->address,
			       time(NULL)) != 0)
		return;
	if (j->rate.client_over) {
		j->result = SIGNUP_RATE_LIMITED;
		return;
	}
	int rc = store_account_get(store, j->address, &old, &error);
	store_account_free(&old);
	if (rc == 0) {
		j->result = SIGNUP_TAKEN;
		return;
	}
	if (rc == STORE_NOT_FOUND) {
		struct store_account a = { .name = j->address, .daily_limit = -1,
					   .per_minute = -1, .unverified = true,
					   .pending = j->pending };
		rc = store_account_add(store, &a, &error);
		if (rc == STORE_EXISTS) {
			j->result = SIGNUP_TAKEN;
			return;
		}
	}
	if (rc == 0) {
		rc = http_web_link_make(store, STORE_WEB_VERIFY, j->address, j->expires,
					j->secret, &error);
		const char *ignored = NULL;
		if (rc != 0)  /* no link would ever verify it */
			(void)store_account_remove(store, j->address, &ignored);
	}
	if (rc != 0)
		log_error("store-failed", "op=signup session=%s error=\"%s\"", j->origin.sid,
			  error ? error : "");
	else
		j->result = SIGNUP_NEW;
}

/* signup_done - (loop) the page, the same for a new and a taken address;
 * then the password and the mail, whether the client waits or not */
static void signup_done(void *arg)
{
	struct http_signup_job *j = arg;
	struct http_session *s = http_job_origin_session(&j->origin);
	bool here = s && !s->conn.dead;
	if (j->result == SIGNUP_RATE_LIMITED) {
		http_web_rate_refuse(s, &j->origin, &j->rate, "signup");
		signup_job_free(j);
		return;
	}
	log_info("http-web-signup", "session=%s account=%s result=%s mail=%s", j->origin.sid,
		 j->address, j->result == SIGNUP_NEW ? "new" : j->result == SIGNUP_TAKEN ?
		 "taken" : "failed", j->rate.mail ? "yes" : "rate-limited");
	if (here && j->result == SIGNUP_FAILED)
		signup_page(s, 503, "Try again later", "Signing up is not possible now: try"
			    " again later.");
	else if (here)
		signup_page(s, 200, "Check your mail", SIGNUP_SENT);
	if (j->result == SIGNUP_NEW) {
		struct http_server *server = j->origin.server;
		j->next = server->web_signups;
		if (j->next)
			j->next->prev = j;
		server->web_signups = j;
		j->call = authd_password_set(server->auth, j->address, j->password,
					     signup_password_set, j);
		OPENSSL_cleanse(j->password, strlen(j->password));
		return;
	}
	if (j->result == SIGNUP_TAKEN)
		signup_mail(j);
	signup_job_free(j);
}

/* signup_password_set - the auth process's answer: the link is mailed, or
 * the account, which no password opens, goes again */
static void signup_password_set(void *ctx, const struct ipc_msg *reply)
{
	struct http_signup_job *j = ctx;
	signup_unlink(j);
	if (reply && reply->type == IPC_R_OK) {
		signup_mail(j);
		signup_job_free(j);
		return;
	}
	log_error("http-web-signup", "session=%s account=%s error=\"the auth process did not"
		  " set the password\" action=removed", j->origin.sid, j->address);
	pool_submit(j->origin.server->pool, signup_undo_work, signup_job_free, j);
}

/* signup_unlink - J is no longer waiting for the auth process */
static void signup_unlink(struct http_signup_job *j)
{
	struct http_server *server = j->origin.server;
	if (j->prev)
		j->prev->next = j->next;
	else
		server->web_signups = j->next;
	if (j->next)
		j->next->prev = j->prev;
	j->prev = j->next = NULL;
}

void http_web_signups_free(struct http_server *server)
{
	while (server->web_signups) {
		struct http_signup_job *j = server->web_signups;
		signup_unlink(j);
		if (server->auth)
			authd_apikey_cancel(server->auth, j->call);
		log_warn("http-web-signup", "session=%s account=%s error=\"stopped before its"
			 " password was set\"", j->origin.sid, j->address);
		signup_job_free(j);
	}
}

/* signup_undo_work - (worker) the account made for J removed */
static void signup_undo_work(void *arg)
{
	struct http_signup_job *j = arg;
	const char *error = NULL;
	if (store_account_remove(j->origin.server->store, j->address, &error) < 0)
		log_error("store-failed", "op=account_remove session=%s error=\"%s\"", j->origin.sid,
			  error ? error : "");
}

/* signup_mail - the link to a new account's address, or the note to a
 * taken one's; nothing over the address's rate */
static void signup_mail(struct http_signup_job *j)
{
	struct http_server *server = j->origin.server;
	const struct config *config = server->config;
	const char *url = config->http.public_url;
	struct buf text;
	if (!j->rate.mail)
		return;
	buf_init(&text);
	if (j->result == SIGNUP_NEW) {
		buf_printf(&text, "Someone, you we hope, signed up at %s with this address.\r\n"
			   "\r\nTo confirm it, open this link and press the button on its page:"
			   "\r\n\r\n%s%s%s\r\n\r\nThe link works once, within %u hours. If you did"
			   " not sign up,\r\nignore this message: the account sends nothing until"
			   " its address\r\nis confirmed.\r\n", url, url, VERIFY_PATH, j->secret,
			   config->web.verify_lifetime / 3600);
		buf_append(&text, "", 1);
		http_web_mail(server, j->address, "Confirm your address", text.data, "verify");
	} else {
		buf_printf(&text, "Someone, you perhaps, tried to sign up at %s with this address,"
			   "\r\nwhich has an account already: nothing was changed.\r\n\r\nIf you"
			   " forgot its password, you can set a new one at\r\n\r\n%s/reset\r\n", url,
			   url);
		buf_append(&text, "", 1);
		http_web_mail(server, j->address, "You already have an account", text.data,
			      "signup-taken");
	}
	buf_free(&text);
}

/* signup_job_free - wipe the secrets, free J */
static void signup_job_free(void *arg)
{
	struct http_signup_job *j = arg;
	OPENSSL_cleanse(j->secret, sizeof(j->secret));
	if (j->password) {
		OPENSSL_cleanse(j->password, strlen(j->password));
		free(j->password);
	}
	http_web_rate_clear(&j->rate);
	free(j->address);
	free(j);
}

/* ---- /verify/TOKEN ------------------------------------------------------------- */

void http_route_verify_page(struct http_session *s)
{
	char token[STORE_WEB_SECRET_LEN + 1];
	struct buf main_html;
	if (!http_web_path_token(s, VERIFY_PATH, token))
		return;
	OPENSSL_cleanse(token, sizeof(token));
	buf_init(&main_html);
	buf_append_str(&main_html, "<p>Press the button to confirm your address.</p>\n");
	if (!http_web_form_open(s, &main_html, NULL, NULL))
		return;
	buf_append_str(&main_html, "<button type=\"submit\">Confirm my address</button>\n"
		       "</form>\n");
	http_web_respond(s, 200, "Confirm your address", &main_html);
}

void http_route_verify_post(struct http_session *s)
{
	struct http_form form;
	char token[STORE_WEB_SECRET_LEN + 1];
	if (!http_web_path_token(s, VERIFY_PATH, token) || !http_web_form_read(s, &form))
		return;
	http_form_clear(&form);
	if (!s->server->store) {
		signup_page(s, 503, "Try again later", "Confirming is not possible now: try"
			    " again later.");
		return;
	}
	struct http_signup_job *j = xcalloc(1, sizeof(*j));
	http_job_origin_init(&j->origin, s);
	memcpy(j->secret, token, sizeof(token));
	OPENSSL_cleanse(token, sizeof(token));
	pool_submit(s->server->pool, verify_work, verify_done, j);
}

/* verify_work - (worker) the link taken, its account verified */
static void verify_work(void *arg)
{
	struct http_signup_job *j = arg;
	struct store *store = j->origin.server->store;
	struct store_account *a = NULL;
	const char *error = NULL;
	j->result = SIGNUP_FAILED;
	int rc = store_web_secret_take(store, STORE_WEB_VERIFY, j->secret, time(NULL),
				       &j->address, &error);
	if (rc == STORE_NOT_FOUND) {
		j->result = SIGNUP_NO_LINK;
		return;
	}
	if (rc == 0)
		rc = store_account_get(store, j->address, &a, &error);
	if (rc == 0) {
		a->unverified = false;
		rc = store_account_update(store, a, &error);
	}
	store_account_free(&a);
	if (rc == STORE_NOT_FOUND)
		j->result = SIGNUP_NO_LINK;   /* the account went meanwhile */
	else if (rc != 0)
		log_error("store-failed", "op=verify session=%s error=\"%s\"", j->origin.sid,
			  error ? error : "");
	else
		j->result = SIGNUP_VERIFIED;
}

/* verify_done - (loop) the answer, if the client is still there */
static void verify_done(void *arg)
{
	struct http_signup_job *j = arg;
	struct http_session *s = http_job_origin_session(&j->origin);
	log_info("http-web-verify", "session=%s account=%s result=%s", j->origin.sid,
		 j->address ? j->address : "-", j->result == SIGNUP_VERIFIED ? "verified" :
		 j->result == SIGNUP_NO_LINK ? "no-link" : "failed");
	if (s && !s->conn.dead) {
		if (j->result == SIGNUP_VERIFIED)
			signup_page(s, 200, "Address confirmed", j->origin.server->config->web.signup ==
				    CONFIG_WEB_SIGNUP_APPROVAL ? "Your address is confirmed. The"
				    " account sends mail once an operator has approved it." :
				    "Your address is confirmed: the account can send mail now.");
		else if (j->result == SIGNUP_NO_LINK)
			signup_page(s, 404, "Link not valid", HTTP_WEB_LINK_NOT_VALID);
		else
			signup_page(s, 503, "Try again later", "Confirming is not possible now:"
				    " try again later.");
	}
	signup_job_free(j);
}
