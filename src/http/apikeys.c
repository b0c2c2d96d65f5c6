/* http/apikeys - SendGrid's /v3/api_keys: list (GET), create (POST), read
 * one (GET /v3/api_keys/ID) and delete (DELETE /v3/api_keys/ID) the keys of
 * the request's account.  The request's own key is checked first
 * (http_session_authorize, scope api_keys.read, .create or .delete); the
 * rows live with the credentials, which only the auth process opens, so
 * each operation is an IPC_AUTH_APIKEY_* request to it (authd_apikey_call),
 * answered on the loop: nothing here waits.  A new key is made there by
 * the code `petrel apikey add` uses (store_apikey_create) and shown once,
 * in the 201; it may not hold a scope the key that creates it lacks.  PATCH
 * /v3/api_keys/ID renames a key, PUT sets its name and scopes (scope
 * api_keys.update, and again no scope the request's key lacks). */
#include "http/session.h"

#include <stdlib.h>
#include <string.h>

#include "authd/client.h"
#include "http/apikeys-parse.h"
#include "ipc/ipc.h"
#include "policy/policy.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/xalloc.h"

#define APIKEYS_PREFIX "/v3/api_keys/"

static void list_authorized(struct http_session *s);
static void create_authorized(struct http_session *s);
static void get_authorized(struct http_session *s);
static void delete_authorized(struct http_session *s);
static void update_authorized(struct http_session *s);
static void update_reply_cb(void *ctx, const struct ipc_msg *reply);
static bool scopes_allowed(struct http_session *s, const char *scopes);
static bool path_key_id(struct http_session *s, char id_r[STORE_APIKEY_ID_LEN + 1]);
static bool scopes_within(const char *asked, const char *held, const char **missing_r,
			  size_t *len_r);
static void apikeys_call(struct http_session *s, uint8_t type, unsigned count,
			 const struct ipc_field *fields);
static struct http_session *reply_session(void *ctx, const struct ipc_msg *reply);
static void list_reply_cb(void *ctx, const struct ipc_msg *reply);
static void create_reply_cb(void *ctx, const struct ipc_msg *reply);
static void delete_reply_cb(void *ctx, const struct ipc_msg *reply);

void http_route_api_keys_list(struct http_session *s)
{
	http_session_authorize(s, "api_keys.read", list_authorized);
}

void http_route_api_keys_create(struct http_session *s)
{
	http_session_authorize(s, "api_keys.create", create_authorized);
}

void http_route_api_key_get(struct http_session *s)
{
	http_session_authorize(s, "api_keys.read", get_authorized);
}

void http_route_api_key_delete(struct http_session *s)
{
	http_session_authorize(s, "api_keys.delete", delete_authorized);
}

void http_route_api_key_update(struct http_session *s)
{
	http_session_authorize(s, "api_keys.update", update_authorized);
}

/* path_key_id - the ID of /v3/api_keys/ID when it has a key id's form */
static bool path_key_id(struct http_session *s, char id_r[STORE_APIKEY_ID_LEN + 1])
{
	size_t prefix = strlen(APIKEYS_PREFIX);
	struct http_span p = s->req.path;
	if (p.len != prefix + STORE_APIKEY_ID_LEN)
		return false;
	const char *id = s->head + p.off + prefix;
	if (strspn(id, "0123456789abcdef") < STORE_APIKEY_ID_LEN)
		return false;
	memcpy(id_r, id, STORE_APIKEY_ID_LEN);
	id_r[STORE_APIKEY_ID_LEN] = '\0';
	return true;
}

/* apikeys_call - ask the auth process; the answer comes to the session
 * by id (a late one for a closed session is dropped: the call is
 * cancelled when the session ends, http_session_auth_clear) */
static void apikeys_call(struct http_session *s, uint8_t type, unsigned count,
			 const struct ipc_field *fields)
{
	ipc_reply_fn *cb = type == IPC_AUTH_APIKEY_ADD ? create_reply_cb :
		type == IPC_AUTH_APIKEY_DEL ? delete_reply_cb :
		type == IPC_AUTH_APIKEY_SET ? update_reply_cb : list_reply_cb;
	s->apikey_call = authd_apikey_call(s->server->auth, type, count, fields, cb, s);
}

/* reply_session - the session of a reply; NULL once answered (503 when
 * the auth process did not answer or could not) */
static struct http_session *reply_session(void *ctx, const struct ipc_msg *reply)
{
	struct http_session *s = ctx;
	s->apikey_call = 0;
	if (!reply || reply->type == IPC_R_TEMPFAIL || reply->type == IPC_R_BAD) {
		log_warn("http-api-keys", "session=%s account=%s error=\"%s\"", s->sid,
			 s->account->name, reply ? "the auth process refused" : "no answer");
		http_session_respond_error(s, 503, "API keys are not available now, "
					   "try again later", NULL);
		return NULL;
	}
	return s;
}

static void list_authorized(struct http_session *s)
{
	struct ipc_field f = ipc_text(s->account->name);
	apikeys_call(s, IPC_AUTH_APIKEY_LIST, 1, &f);
}

static void get_authorized(struct http_session *s)
{
	char id[STORE_APIKEY_ID_LEN + 1];
	if (!path_key_id(s, id)) {
		http_session_respond_error(s, 404, "not found", NULL);
		return;
	}
	list_authorized(s);
}

/* list_reply_cb - the account's keys: GET /v3/api_keys lists them all,
 * GET /v3/api_keys/ID the one with its scopes (404 if not the account's) */
static void list_reply_cb(void *ctx, const struct ipc_msg *reply)
{
	struct http_session *s = reply_session(ctx, reply);
	if (!s)
		return;
	char want[STORE_APIKEY_ID_LEN + 1];
	bool one = path_key_id(s, want);
	json_t *result = json_array();
	const char *p = reply->count == 1 ? reply->field[0].data : "";
	const char *end = p + (reply->count == 1 ? reply->field[0].len : 0);
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *tab1 = eol ? memchr(p, '\t', (size_t)(eol - p)) : NULL;
		const char *tab2 = tab1 ? memchr(tab1 + 1, '\t', (size_t)(eol - tab1 - 1)) : NULL;
		if (!tab2)
			break;  /* the auth process writes whole lines: never */
		bool match = (size_t)(tab1 - p) == STORE_APIKEY_ID_LEN &&
			memcmp(p, want, STORE_APIKEY_ID_LEN) == 0;
		json_t *key = json_pack("{s:s%, s:s%}", "name", tab2 + 1, (size_t)(eol - tab2 - 1),
					"api_key_id", p, (size_t)(tab1 - p));
		if (one && match)
			json_object_set_new(key, "scopes",
					    http_scopes_json(tab1 + 1, (size_t)(tab2 - tab1 - 1)));
		if (!one || match)
			json_array_append_new(result, key);
		else
			json_decref(key);
		p = eol + 1;
	}
	if (one && json_array_size(result) == 0) {
		json_decref(result);
		http_session_respond_error(s, 404, "not found", NULL);
		return;
	}
	http_session_respond(s, 200, json_pack("{s:o}", "result", result));
}

json_t *http_scopes_json(const char *scopes, size_t len)
{
	json_t *list = json_array();
	for (size_t i = 0; i < len;) {
		size_t n = 0;
		while (i + n < len && scopes[i + n] != ' ')
			n++;
		if (n > 0)
			json_array_append_new(list, json_stringn(scopes + i, n));
		i += n + 1;
	}
	return list;
}

/* scopes_within - every scope of ASKED is in HELD; else the first that is
 * not, as *missing_r (LEN octets, in ASKED) */
static bool scopes_within(const char *asked, const char *held, const char **missing_r,
			  size_t *len_r)
{
	for (const char *p = asked; *p;) {
		size_t n = strcspn(p, " ");
		char *scope = xmalloc(n + 1);
		memcpy(scope, p, n);
		scope[n] = '\0';
		bool ok = store_apikey_has_scope(held, scope);
		free(scope);
		if (!ok) {
			*missing_r = p;
			*len_r = n;
			return false;
		}
		p += n;
		p += strspn(p, " ");
	}
	return true;
}

/* scopes_allowed - the request's key holds every one of SCOPES; else
 * false once the 403 is answered */
static bool scopes_allowed(struct http_session *s, const char *scopes)
{
	const char *missing = NULL;
	size_t missing_len = 0;
	if (scopes_within(scopes, s->scopes, &missing, &missing_len))
		return true;
	struct buf text;
	buf_init(&text);
	buf_printf(&text, "the key lacks the scope %.*s it would grant", (int)missing_len,
		   missing);
	http_session_respond_error(s, 403, text.data, "scopes");
	buf_free(&text);
	return false;
}

/* create_authorized - the body read; scopes default to the creator's */
static void create_authorized(struct http_session *s)
{
	struct http_apikey_body body;
	const char *field = NULL, *message = NULL;
	if (http_apikey_body_parse(s->body ? s->body : "", s->body_len, &body, &field,
				   &message) != 0) {
		http_session_respond_error(s, 400, message, field);
		return;
	}
	const char *scopes = body.scopes ? body.scopes : s->scopes;
	if (!scopes_allowed(s, scopes)) {
		http_apikey_body_clear(&body);
		return;
	}
	struct ipc_field f[3] = { ipc_text(s->account->name), ipc_text(body.name),
				  ipc_text(scopes) };
	apikeys_call(s, IPC_AUTH_APIKEY_ADD, 3, f);
	http_apikey_body_clear(&body);
}

/* create_reply_cb - 201 with the key, shown this once, and the name and
 * scopes the auth process stored; 400 when the account holds as many keys
 * as [auth] apikeys_per_account allows */
static void create_reply_cb(void *ctx, const struct ipc_msg *reply)
{
	struct http_session *s = reply_session(ctx, reply);
	if (!s)
		return;
	if (reply->type == IPC_R_FAIL) {
		http_session_respond_error(s, 400, "the account has as many API keys as it may",
					   NULL);
		return;
	}
	if (reply->type != IPC_R_OK || reply->count != 4) {
		log_warn("http-api-keys", "session=%s account=%s error=\"unexpected reply %u\"",
			 s->sid, s->account->name, (unsigned)reply->type);
		http_session_respond_error(s, 503, "API keys are not available now, "
					   "try again later", NULL);
		return;
	}
	const struct ipc_field *f = reply->field;
	json_t *answer = json_pack("{s:s%, s:s%, s:s%, s:o}",
				   "api_key", f[1].data, f[1].len,
				   "api_key_id", f[0].data, f[0].len,
				   "name", f[2].data, f[2].len,
				   "scopes", http_scopes_json(f[3].data, f[3].len));
	log_info("http-api-key-created", "session=%s account=%s id=%.*s", s->sid,
		 s->account->name, (int)f[0].len, (const char *)f[0].data);
	http_session_respond(s, 201, answer);
}

static void delete_authorized(struct http_session *s)
{
	char id[STORE_APIKEY_ID_LEN + 1];
	if (!path_key_id(s, id)) {
		http_session_respond_error(s, 404, "not found", NULL);
		return;
	}
	struct ipc_field f[2] = { ipc_text(s->account->name), ipc_text(id) };
	apikeys_call(s, IPC_AUTH_APIKEY_DEL, 2, f);
}

/* delete_reply_cb - 204, or 404 for a key that is not the account's */
static void delete_reply_cb(void *ctx, const struct ipc_msg *reply)
{
	struct http_session *s = reply_session(ctx, reply);
	if (!s)
		return;
	if (reply->type != IPC_R_OK) {
		http_session_respond_error(s, 404, "not found", NULL);
		return;
	}
	http_session_respond(s, 204, NULL);
}

/* update_authorized - PATCH: {"name"}; PUT: {"name", "scopes"} (both
 * required, as SendGrid's) */
static void update_authorized(struct http_session *s)
{
	char id[STORE_APIKEY_ID_LEN + 1];
	struct http_apikey_body body;
	const char *field = NULL, *message = NULL;
	bool put = http_span_equals(s->head, s->req.method, "PUT", false);
	if (!path_key_id(s, id)) {
		http_session_respond_error(s, 404, "not found", NULL);
		return;
	}
	if (http_apikey_body_parse(s->body ? s->body : "", s->body_len, &body, &field,
				   &message) != 0) {
		http_session_respond_error(s, 400, message, field);
		return;
	}
	if (put && !body.scopes) {
		http_session_respond_error(s, 400, "missing required argument", "scopes");
	} else if (!put || scopes_allowed(s, body.scopes)) {
		struct ipc_field f[4] = { ipc_text(s->account->name), ipc_text(id),
					  ipc_text(body.name), ipc_text(put ? body.scopes : "") };
		apikeys_call(s, IPC_AUTH_APIKEY_SET, put ? 4 : 3, f);
	}
	http_apikey_body_clear(&body);
}

/* update_reply_cb - the key as it is now: PUT with its scopes */
static void update_reply_cb(void *ctx, const struct ipc_msg *reply)
{
	struct http_session *s = reply_session(ctx, reply);
	if (!s)
		return;
	char id[STORE_APIKEY_ID_LEN + 1];
	if (reply->type != IPC_R_OK || reply->count != 2 || !path_key_id(s, id)) {
		http_session_respond_error(s, 404, "not found", NULL);
		return;
	}
	json_t *answer = json_pack("{s:s, s:s%}", "api_key_id", id, "name",
				   reply->field[0].data, reply->field[0].len);
	if (http_span_equals(s->head, s->req.method, "PUT", false))
		json_object_set_new(answer, "scopes",
				    http_scopes_json(reply->field[1].data, reply->field[1].len));
	http_session_respond(s, 200, answer);
}
