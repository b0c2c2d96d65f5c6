/* http/web-dash-keys - the dashboard's API keys page (docs/web.md):
 * GET /dashboard/api-keys lists the account's keys (name, scopes, id;
 * never a key: only its hash is kept), POST /dashboard/api-keys makes one
 * and shows it this once, POST /dashboard/api-keys/delete deletes one.
 * The keys live with the credentials, which only the auth process opens:
 * each operation is the IPC_AUTH_APIKEY_* request POST and DELETE
 * /v3/api_keys make (authd_apikey_call, the same code makes the key), its
 * answer found again by the session (ctx) and its request (s->web); the
 * call is cancelled if the session ends first.  The forms carry the
 * session's CSRF token (web-session.h). */
#include "http/web-session.h"
#include "http/web.h"

#include <stdlib.h>
#include <string.h>

#include "authd/client.h"
#include "http/apikeys-parse.h"
#include "ipc/ipc.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/markup.h"

#define KEYS_PAGE "/dashboard/api-keys"   /* the list, where each form leads back */
#define KEY_SCOPES_DEFAULT "mail.send"

static void keys_list_done(struct http_session *s, struct http_web_request *r);
static void keys_create_done(struct http_session *s, struct http_web_request *r);
static void keys_delete_done(struct http_session *s, struct http_web_request *r);
static void keys_call(struct http_session *s, uint8_t type, unsigned count,
		      const struct ipc_field *fields, ipc_reply_fn *cb);
static struct http_session *keys_reply_session(void *ctx, const struct ipc_msg *reply);
static void keys_list_reply(void *ctx, const struct ipc_msg *reply);
static void keys_create_reply(void *ctx, const struct ipc_msg *reply);
static void keys_delete_reply(void *ctx, const struct ipc_msg *reply);
static bool scopes_are_valid(const char *scopes);
static void render_key_rows(struct buf *out, const struct http_web_request *r,
			    const char *lines, size_t len);
static void render_create_form(struct buf *out, const struct http_web_request *r);

static const struct http_web_page KEYS_LIST_PAGE = {
	.name = "api-keys", .done = keys_list_done,
};
static const struct http_web_page KEYS_CREATE_PAGE = {
	.name = "api-keys-create", .done = keys_create_done,
};
static const struct http_web_page KEYS_DELETE_PAGE = {
	.name = "api-keys-delete", .done = keys_delete_done,
};

void http_route_web_api_keys(struct http_session *s)
{
	http_web_session_run(s, &KEYS_LIST_PAGE, NULL);
}

void http_route_web_api_key_create(struct http_session *s)
{
	http_web_session_run(s, &KEYS_CREATE_PAGE, NULL);
}

void http_route_web_api_key_delete(struct http_session *s)
{
	http_web_session_run(s, &KEYS_DELETE_PAGE, NULL);
}

/* keys_call - ask the auth process; CB answers S (apikeys.c's way) */
static void keys_call(struct http_session *s, uint8_t type, unsigned count,
		      const struct ipc_field *fields, ipc_reply_fn *cb)
{
	if (!s->server->auth) {
		http_web_notice(s, s->web, 503, "Try again later",
				"API keys are not available now.", KEYS_PAGE);
		return;
	}
	s->apikey_call = authd_apikey_call(s->server->auth, type, count, fields, cb, s);
}

/* keys_reply_session - the session of a reply, or NULL once it is
 * answered (503: no answer, or the auth process could not) */
static struct http_session *keys_reply_session(void *ctx, const struct ipc_msg *reply)
{
	struct http_session *s = ctx;
	s->apikey_call = 0;
	if (!reply || reply->type == IPC_R_TEMPFAIL || reply->type == IPC_R_BAD) {
		log_warn("http-web", "session=%s page=api-keys account=%s error=\"%s\"", s->sid,
			 s->web->account, reply ? "the auth process refused" : "no answer");
		http_web_notice(s, s->web, 503, "Try again later", "API keys are not available"
				" now: try again later.", KEYS_PAGE);
		return NULL;
	}
	return s;
}

static void keys_list_done(struct http_session *s, struct http_web_request *r)
{
	struct ipc_field f = ipc_text(r->account);
	keys_call(s, IPC_AUTH_APIKEY_LIST, 1, &f, keys_list_reply);
}

/* keys_list_reply - the table of keys (one line each from the auth
 * process: "ID\tSCOPES\tNAME\n"), each with its delete form, and the
 * form that makes one */
static void keys_list_reply(void *ctx, const struct ipc_msg *reply)
{
	struct http_session *s = keys_reply_session(ctx, reply);
	if (!s)
		return;
	struct http_web_request *r = s->web;
	struct buf html;
	buf_init(&html);
	http_web_nav(&html, r);
	if (reply->count == 1 && reply->field[0].len > 0) {
		buf_append_str(&html, "<table class=\"keys\">\n<caption>Your API keys</caption>\n"
			       "<thead><tr><th scope=\"col\">Name</th><th scope=\"col\">Scopes</th>"
			       "<th scope=\"col\">Id</th><th scope=\"col\">Action</th></tr>"
			       "</thead>\n"
			       "<tbody>\n");
		render_key_rows(&html, r, reply->field[0].data, reply->field[0].len);
		buf_append_str(&html, "</tbody>\n</table>\n");
	} else {
		buf_append_str(&html, "<p id=\"no-keys\">The account has no API key yet.</p>\n");
	}
	render_create_form(&html, r);
	http_web_respond(s, 200, "API keys", &html);
}

static void render_key_rows(struct buf *out, const struct http_web_request *r,
			    const char *lines, size_t len)
{
	const char *p = lines, *end = lines + len;
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *tab1 = eol ? memchr(p, '\t', (size_t)(eol - p)) : NULL;
		const char *tab2 = tab1 ? memchr(tab1 + 1, '\t', (size_t)(eol - tab1 - 1)) : NULL;
		if (!tab2)
			break;  /* the auth process writes whole lines: never */
		buf_append_str(out, "<tr><td>");
		markup_escape(out, tab2 + 1, (size_t)(eol - tab2 - 1));
		buf_append_str(out, "</td><td>");
		markup_escape(out, tab1 + 1, (size_t)(tab2 - tab1 - 1));
		buf_append_str(out, "</td><td><code>");
		markup_escape(out, p, (size_t)(tab1 - p));
		buf_append_str(out, "</code></td><td><form method=\"post\""
			       " action=\"/dashboard/api-keys/delete\">\n");
		http_web_csrf_field(out, r);
		buf_append_str(out, "<input type=\"hidden\" name=\"id\" value=\"");
		markup_escape(out, p, (size_t)(tab1 - p));
		buf_append_str(out, "\">\n<button type=\"submit\">Delete</button></form></td>"
			       "</tr>\n");
		p = eol + 1;
	}
}

static void render_create_form(struct buf *out, const struct http_web_request *r)
{
	buf_append_str(out, "<h2>New key</h2>\n<form method=\"post\""
		       " action=\"/dashboard/api-keys\">\n");
	http_web_csrf_field(out, r);
	buf_printf(out, "<label for=\"name\">Name</label>\n<input id=\"name\" name=\"name\""
		   " maxlength=\"%d\" required>\n<label for=\"scopes\">Scopes (separated by"
		   " spaces)</label>\n<input id=\"scopes\" name=\"scopes\" value=\"%s\""
		   " maxlength=\"1000\" required>\n<button type=\"submit\">Create key</button>\n"
		   "</form>\n", HTTP_APIKEY_NAME_MAX, KEY_SCOPES_DEFAULT);
}

/* scopes_are_valid - SCOPES is one or more space-separated scopes */
static bool scopes_are_valid(const char *scopes)
{
	bool any = false;
	for (const char *p = scopes; *p;) {
		size_t n = strcspn(p, " ");
		char scope[128];
		if (n >= sizeof(scope))
			return false;
		memcpy(scope, p, n);
		scope[n] = '\0';
		if (n > 0 && !store_apikey_scope_is_valid(scope))
			return false;
		any = any || n > 0;
		p += n;
		p += strspn(p, " ");
	}
	return any;
}

/* keys_create_done - the name and scopes checked (400 with the form
 * again), then the auth process makes the key */
static void keys_create_done(struct http_session *s, struct http_web_request *r)
{
	const char *name = http_form_get(&r->form, "name");
	const char *scopes = http_form_get(&r->form, "scopes");
	if (!name || !*name || strlen(name) > HTTP_APIKEY_NAME_MAX || !scopes ||
	    !scopes_are_valid(scopes)) {
		http_web_notice(s, r, 400, "API keys", "A key needs a name of at most 100"
				" characters and one or more scopes (letters, digits, '.', '_',"
				" '-'), separated by spaces.", KEYS_PAGE);
		return;
	}
	struct ipc_field f[3] = { ipc_text(r->account), ipc_text(name), ipc_text(scopes) };
	keys_call(s, IPC_AUTH_APIKEY_ADD, 3, f, keys_create_reply);
}

/* keys_create_reply - the key, shown this once (the page is no-store) */
static void keys_create_reply(void *ctx, const struct ipc_msg *reply)
{
	struct http_session *s = keys_reply_session(ctx, reply);
	if (!s)
		return;
	struct http_web_request *r = s->web;
	if (reply->type == IPC_R_FAIL) {
		http_web_notice(s, r, 400, "API keys", "The account has as many API keys as it"
				" may: delete one first.", KEYS_PAGE);
		return;
	}
	if (reply->type != IPC_R_OK || reply->count != 4) {
		http_web_notice(s, r, 503, "Try again later", "API keys are not available now.",
				KEYS_PAGE);
		return;
	}
	const struct ipc_field *f = reply->field;
	log_info("http-web-api-key-created", "session=%s account=%s id=%.*s", s->sid,
		 r->account, (int)f[0].len, (const char *)f[0].data);
	struct buf html;
	buf_init(&html);
	http_web_nav(&html, r);
	buf_append_str(&html, "<p>Copy the key now: it is shown this once and cannot be"
		       " read again.</p>\n<p><code id=\"new-key\">");
	markup_escape(&html, f[1].data, f[1].len);
	buf_append_str(&html, "</code></p>\n<p>Name: ");
	markup_escape(&html, f[2].data, f[2].len);
	buf_append_str(&html, "; scopes: ");
	markup_escape(&html, f[3].data, f[3].len);
	buf_append_str(&html, "</p>\n<p><a href=\"/dashboard/api-keys\">Back to the"
		       " keys</a></p>\n");
	http_web_respond(s, 201, "New API key", &html);
}

static void keys_delete_done(struct http_session *s, struct http_web_request *r)
{
	const char *id = http_form_get(&r->form, "id");
	if (!id || strlen(id) != STORE_APIKEY_ID_LEN ||
	    strspn(id, "0123456789abcdef") != STORE_APIKEY_ID_LEN) {
		http_web_notice(s, r, 404, "Not found", "There is no such key.", KEYS_PAGE);
		return;
	}
	struct ipc_field f[2] = { ipc_text(r->account), ipc_text(id) };
	keys_call(s, IPC_AUTH_APIKEY_DEL, 2, f, keys_delete_reply);
}

/* keys_delete_reply - back to the list (303), or 404 for a key that is
 * not the account's */
static void keys_delete_reply(void *ctx, const struct ipc_msg *reply)
{
	struct http_session *s = keys_reply_session(ctx, reply);
	if (!s)
		return;
	if (reply->type != IPC_R_OK) {
		http_web_notice(s, s->web, 404, "Not found", "There is no such key.", KEYS_PAGE);
		return;
	}
	log_info("http-web-api-key-deleted", "session=%s account=%s id=%s", s->sid,
		 s->web->account, http_form_get(&s->web->form, "id"));
	http_web_redirect(s, KEYS_PAGE);
}

