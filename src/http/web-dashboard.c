/* http/web-dashboard - GET /dashboard (docs/web.md): what a logged-in
 * account needs to send mail: the SMTP settings to paste into a client
 * (the host of [http] public_url or the server's hostname, the mail
 * listeners this server really has, the user name, an API key as the
 * password of user "apikey"), today's use against the daily limit, and
 * the account's state (unverified, pending, sandbox, disabled) in words,
 * and a first message through the send API as a curl command to paste
 * ([http] public_url, the account's own address as sender and recipient,
 * the key in $PETREL_API_KEY).  The account, its plan and today's counter are read on the session's
 * worker job (web-session.h). */
#include "http/web-session.h"
#include "http/web.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "config/config.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/markup.h"
#include "util/xalloc.h"

struct dashboard_data {
	struct store_account *account;
	long daily_limit;          /* recipients a day; 0: no limit */
	uint64_t sent_today;
	int rc;
};

static void dashboard_work(struct http_web_request *r);
static void dashboard_done(struct http_session *s, struct http_web_request *r);
static void dashboard_data_free(void *data);
static void render_state(struct buf *out, const struct store_account *a);
static void render_usage(struct buf *out, const struct dashboard_data *d);
static void render_smtp(struct buf *out, const struct config *config, const char *account);
static void render_api(struct buf *out, const struct config *config, const char *account);
static void shell_quote(struct buf *out, const char *text);
static void smtp_host(const struct config *config, struct buf *host_r);
static const char *listener_port(const struct config_listener *l);
static bool listener_shown_before(const struct config *config, size_t i);

static const struct http_web_page DASHBOARD_PAGE = {
	.name = "dashboard", .work = dashboard_work, .done = dashboard_done,
	.free_data = dashboard_data_free,
};

void http_route_dashboard(struct http_session *s)
{
	http_web_session_run(s, &DASHBOARD_PAGE, xcalloc(1, sizeof(struct dashboard_data)));
}

/* dashboard_work - (worker) the account, its day's limit (its own, or its
 * plan's) and today's counter (the window the policy reserves in) */
static void dashboard_work(struct http_web_request *r)
{
	struct dashboard_data *d = r->data;
	struct store *store = r->origin.server->store;
	const char *error = NULL;
	struct store_plan *plan = NULL;
	char window[STORE_WINDOW_MAX];
	store_window_day(r->now, window);
	d->rc = store_account_get(store, r->account, &d->account, &error);
	if (d->rc == 0 && d->account->daily_limit < 0)
		d->rc = store_plan_get(store, d->account->plan, &plan, &error);
	if (d->rc == 0)
		d->rc = store_counter_get(store, r->account, window, &d->sent_today, &error);
	if (d->rc == 0)
		d->daily_limit = plan ? (long)plan->daily_limit : d->account->daily_limit;
	else
		log_error("http-web", "session=%s page=dashboard account=%s error=\"%s\"",
			  r->origin.sid, r->account, error ? error : "no such account or plan");
	store_plan_free(&plan);
}

static void dashboard_done(struct http_session *s, struct http_web_request *r)
{
	struct dashboard_data *d = r->data;
	struct buf html;
	buf_init(&html);
	http_web_nav(&html, r);
	if (d->rc != 0) {
		buf_append_str(&html, "<p>The account cannot be read now: try again later.</p>\n");
		http_web_respond(s, 503, "Dashboard", &html);
		return;
	}
	render_state(&html, d->account);
	render_usage(&html, d);
	render_smtp(&html, s->server->config, r->account);
	render_api(&html, s->server->config, r->account);
	http_web_respond(s, 200, "Dashboard", &html);
}

/* render_state - what the account may do, said plainly */
static void render_state(struct buf *out, const struct store_account *a)
{
	buf_append_str(out, "<h2>Account</h2>\n<ul class=\"state\">\n");
	if (a->disabled)
		buf_append_str(out, "<li><strong>Disabled</strong>: the account may not send"
			       " mail. Ask the operator.</li>\n");
	if (a->unverified)
		buf_append_str(out, "<li><strong>Unverified</strong>: open the link mailed to"
			       " your address; until then the account may not send mail.</li>\n");
	if (a->pending)
		buf_append_str(out, "<li><strong>Pending approval</strong>: an operator approves"
			       " each new account before it may send mail.</li>\n");
	if (a->sandbox)
		buf_append_str(out, "<li><strong>Sandbox</strong>: mail is accepted and kept"
			       " here, never delivered.</li>\n");
	if (!a->disabled && !a->unverified && !a->pending && !a->sandbox)
		buf_append_str(out, "<li><strong>Active</strong>: the account may send"
			       " mail.</li>\n");
	buf_append_str(out, "<li>Plan: ");
	http_web_text(out, a->plan);
	buf_append_str(out, "</li>\n</ul>\n");
}

/* render_usage - today's recipients (UTC day) against the day's limit */
static void render_usage(struct buf *out, const struct dashboard_data *d)
{
	buf_append_str(out, "<h2>Today's usage</h2>\n");
	if (d->daily_limit <= 0) {
		buf_printf(out, "<p><span id=\"sent-today\">%llu</span> recipients today (UTC);"
			   " the plan has no daily limit.</p>\n",
			   (unsigned long long)d->sent_today);
		return;
	}
	buf_printf(out, "<p><span id=\"sent-today\">%llu</span> of <span id=\"daily-limit\">"
		   "%ld</span> recipients today (UTC; the count starts again at 00:00"
		   " UTC).</p>\n<meter min=\"0\" max=\"%ld\" value=\"%llu\" aria-label=\"Today's"
		   " usage\">%llu of %ld</meter>\n", (unsigned long long)d->sent_today,
		   d->daily_limit, d->daily_limit, (unsigned long long)d->sent_today,
		   (unsigned long long)d->sent_today, d->daily_limit);
}

/* render_smtp - the settings to paste into a mail client, one row per
 * mail listener this server has (ports as configured) */
static void render_smtp(struct buf *out, const struct config *config, const char *account)
{
	struct buf host;
	buf_init(&host);
	smtp_host(config, &host);
	buf_append_str(out, "<h2>SMTP settings</h2>\n<dl class=\"smtp\">\n<dt>Server</dt><dd>"
		       "<code id=\"smtp-host\">");
	markup_escape(out, host.data, host.len);
	buf_append_str(out, "</code></dd>\n<dt>User name</dt><dd><code id=\"smtp-user\">");
	http_web_text(out, account);
	buf_append_str(out, "</code></dd>\n<dt>Password</dt><dd>your password, or an API key"
		       " (below)</dd>\n</dl>\n<table class=\"ports\">\n<caption>Ports</caption>\n"
		       "<thead><tr><th scope=\"col\">Port</th><th scope=\"col\">Security</th>"
		       "<th scope=\"col\">Use</th></tr></thead>\n<tbody>\n");
	for (size_t i = 0; i < config->listener_count; i++) {
		const struct config_listener *l = &config->listeners[i];
		const char *port = listener_port(l);
		const char *security = l->role == LISTENER_ROLE_SUBMISSIONS ? "TLS from the start"
			" (implicit TLS)" : "STARTTLS";
		const char *use = l->role == LISTENER_ROLE_MX ? "mail between servers (many"
			" networks block port 25 for clients)"
			: "sending from a mail client or app";
		if (!port || (l->role != LISTENER_ROLE_SUBMISSION &&
			      l->role != LISTENER_ROLE_SUBMISSIONS && l->role != LISTENER_ROLE_MX) ||
		    listener_shown_before(config, i))
			continue;
		buf_append_str(out, "<tr><td>");
		http_web_text(out, port);
		buf_printf(out, "</td><td>%s</td><td>%s</td></tr>\n", security, use);
	}
	buf_append_str(out, "</tbody>\n</table>\n");
	buf_free(&host);
}

/* render_api - how to send with an API key: as the SMTP password of user
 * "apikey", and over HTTP, a curl command sending the account a first
 * message through POST /v3/mail/send (its JSON made by jansson, then
 * quoted for the shell, then escaped for the page) */
static void render_api(struct buf *out, const struct config *config, const char *account)
{
	json_t *body = json_pack("{s:[{s:[{s:s}]}],s:{s:s},s:s,s:[{s:s,s:s}]}",
				 "personalizations", "to", "email", account,
				 "from", "email", account, "subject", "Hello from Petrel",
				 "content", "type", "text/plain", "value",
				 "My first message through the API.");
	char *json = json_dumps(body, JSON_COMPACT | JSON_ENSURE_ASCII);
	char *url = xasprintf("%s/v3/mail/send", config->http.public_url);
	struct buf command;
	buf_init(&command);
	buf_append_str(&command, "export PETREL_API_KEY='the key made on the API keys page'\n"
		       "curl -sS -i ");
	shell_quote(&command, url);
	buf_append_str(&command, " \\\n  -H \"Authorization: Bearer"
		       " $PETREL_API_KEY\" \\\n  -H 'Content-Type: application/json' \\\n  -d ");
	shell_quote(&command, json);
	buf_append_str(out, "<h2>Sending with an API key</h2>\n<p>Create a key on the <a"
		       " href=\"/dashboard/api-keys\">API keys</a> page. Use it as the SMTP"
		       " password with the user name <code>apikey</code>, or over HTTP as"
		       " <code>Authorization: Bearer KEY</code>: this command sends you a first"
		       " message through the send API (SendGrid's v3 <code>POST"
		       " /v3/mail/send</code>; its client libraries work with their base URL set"
		       " to this server's) and shows the answer, <code>202 Accepted</code>:</p>\n"
		       "<pre><code id=\"api-example\">");
	markup_escape_lines(out, command.data, command.len);
	buf_append_str(out, "</code></pre>\n");
	buf_free(&command);
	free(url);
	free(json);
	json_decref(body);
}

/* shell_quote - TEXT in single quotes for a POSIX shell ('\'' for each ') */
static void shell_quote(struct buf *out, const char *text)
{
	buf_append_str(out, "'");
	for (const char *p = text; *p; p++) {
		if (*p == '\'')
			buf_append_str(out, "'\\''");
		else
			buf_append(out, p, 1);
	}
	buf_append_str(out, "'");
}

/* smtp_host - the host part of [http] public_url ("https://HOST[:PORT]/"),
 * or the server's hostname without one */
static void smtp_host(const struct config *config, struct buf *host_r)
{
	const char *url = config->http.public_url;
	const char *start = url ? strstr(url, "://") : NULL;
	if (!start || !start[3]) {
		buf_append_str(host_r, config->hostname);
		return;
	}
	start += 3;
	size_t len = start[0] == '[' ? strcspn(start, "]") + 1 : strcspn(start, ":/?#");
	buf_append(host_r, start, len);
}

/* listener_port - the port of a listener's address ("*:587", "[::1]:25"),
 * NULL for a unix socket */
static const char *listener_port(const struct config_listener *l)
{
	if (strncmp(l->address, "unix:", 5) == 0)
		return NULL;
	const char *colon = strrchr(l->address, ':');
	return colon && colon[1] ? colon + 1 : NULL;
}

/* listener_shown_before - a listener before listener I has its role and
 * port (the same port on IPv4 and IPv6, or on two addresses): one row */
static bool listener_shown_before(const struct config *config, size_t i)
{
	const struct config_listener *l = &config->listeners[i];
	for (size_t j = 0; j < i; j++) {
		const struct config_listener *k = &config->listeners[j];
		const char *port = listener_port(k);
		if (k->role == l->role && port && strcmp(port, listener_port(l)) == 0)
			return true;
	}
	return false;
}

static void dashboard_data_free(void *data)
{
	struct dashboard_data *d = data;
	store_account_free(&d->account);
	free(d);
}
