/* http/suppression-route - SendGrid v3's suppression endpoints
 * (docs/http.md "Suppressions"): GET, POST and DELETE on
 * /v3/suppression/{bounces,blocks,unsubscribes,spam_reports} and GET and
 * DELETE on /v3/suppression/LIST/EMAIL, for the account of the request's
 * API key.  The key needs SendGrid's scope for the list and the verb,
 * "suppression.bounces.read", or the one for every list,
 * "suppression.read" (create, delete likewise).  The store's work runs on
 * the workers; the answer comes from the loop, finding the session by id. */
#include "http/session.h"
#include "http/suppression.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy.h"
#include "store/store.h"
#include "util/log.h"
#include "util/pool.h"
#include "util/xalloc.h"

enum supp_op { SUPP_READ, SUPP_CREATE, SUPP_DELETE };

static const char *const OP_SCOPES[] = { "read", "create", "delete" };

struct supp_job {
	struct http_job_origin origin;   /* the request it answers */
	char *account;
	enum store_suppression_list list;
	char *email;                 /* the path's, or NULL */
	enum supp_op op;
	struct store_suppression_range range;  /* GET of the list: the query's */
	char *body;
	size_t body_len;
	int status;                  /* the answer */
	json_t *answer;
};

static bool supp_request(struct http_session *s, enum store_suppression_list *list_r,
			 char **email_r, enum supp_op *op_r);
static void supp_authorized(struct http_session *s);
static bool scope_allows(const char *scopes, enum store_suppression_list list, enum supp_op op);
static void supp_work(void *arg);
static void supp_done(void *arg);
static void supp_read(struct supp_job *j);
static void supp_create(struct supp_job *j);
static void supp_delete(struct supp_job *j);
static void supp_fail(struct supp_job *j, int status, const char *message, const char *field);
static json_t *text_value(const char *text);

/* supp_request - the list, the path's email and the verb of S's request;
 * false once S is answered (404, 405) */
static bool supp_request(struct http_session *s, enum store_suppression_list *list_r,
			 char **email_r, enum supp_op *op_r)
{
	const char *data = s->head, *error = NULL;
	char *name = NULL;
	*email_r = NULL;
	if (http_suppression_path_parse(data + s->req.path.off, s->req.path.len, &name, email_r,
					&error) < 0 || !store_suppression_list_parse(name, list_r)) {
		free(name);
		free(*email_r);
		*email_r = NULL;
		http_session_respond_error(s, 404, error ? error : "not found", NULL);
		return false;
	}
	free(name);
	bool one = *email_r != NULL;
	if (http_span_equals(data, s->req.method, "GET", false) ||
	    http_span_equals(data, s->req.method, "HEAD", false)) {
		*op_r = SUPP_READ;
	} else if (http_span_equals(data, s->req.method, "DELETE", false)) {
		*op_r = SUPP_DELETE;
	} else if (!one && http_span_equals(data, s->req.method, "POST", false)) {
		*op_r = SUPP_CREATE;
	} else {
		free(*email_r);
		*email_r = NULL;
		/* RFC 9110 15.5.6 */
		http_session_add_header(s, "Allow", one ? "GET, HEAD, DELETE"
							: "GET, HEAD, POST, DELETE");
		http_session_respond_error(s, 405, "method not allowed", NULL);
		return false;
	}
	return true;
}

void http_route_suppression(struct http_session *s)
{
	enum store_suppression_list list;
	enum supp_op op;
	char *email = NULL;
	if (!supp_request(s, &list, &email, &op))
		return;
	free(email);
	if (!s->server->store) {
		http_session_respond_error(s, 503, "suppressions are not available", NULL);
		return;
	}
	/* any key; its scopes are checked once known (two names for each) */
	http_session_authorize(s, "", supp_authorized);
}

/* scope_allows - SCOPES holds SendGrid's "suppression.OP" or
 * "suppression.LIST.OP" */
static bool scope_allows(const char *scopes, enum store_suppression_list list, enum supp_op op)
{
	char all[64], one[64];
	snprintf(all, sizeof(all), "suppression.%s", OP_SCOPES[op]);
	snprintf(one, sizeof(one), "suppression.%s.%s", store_suppression_list_name(list),
		 OP_SCOPES[op]);
	return store_apikey_has_scope(scopes, all) || store_apikey_has_scope(scopes, one);
}

static void supp_authorized(struct http_session *s)
{
	struct supp_job *j = xcalloc(1, sizeof(*j));
	if (!supp_request(s, &j->list, &j->email, &j->op)) {
		free(j);
		return;
	}
	if (!scope_allows(s->scopes, j->list, j->op)) {
		free(j->email);
		free(j);
		http_session_respond_error(s, 403, "access forbidden", NULL);
		return;
	}
	struct http_suppression_query q;
	const char *field = NULL;
	if (http_suppression_query_parse(s->head + s->req.query.off, s->req.query.len, &q,
					 &field) != 0) {
		free(j->email);
		free(j);
		http_session_respond_error(s, 400, "must be a number", field);
		return;
	}
	j->range = (struct store_suppression_range){ .start = (time_t)q.start_time,
		.end = (time_t)q.end_time, .limit = q.limit, .offset = q.offset };
	http_job_origin_init(&j->origin, s);
	j->account = xstrdup(s->account->name);
	j->body = http_session_take_body(s, &j->body_len);
	pool_submit(s->server->pool, supp_work, supp_done, j);
}

static void supp_fail(struct supp_job *j, int status, const char *message, const char *field)
{
	j->status = status;
	json_decref(j->answer);
	j->answer = http_error_body(message, field);
}

/* text_value - TEXT as a JSON string; "" when it is not UTF-8 (a remote
 * reply may not be) */
static json_t *text_value(const char *text)
{
	json_t *v = json_string(text ? text : "");
	return v ? v : json_string("");
}

/* supp_work - (worker) the store's part */
static void supp_work(void *arg)
{
	struct supp_job *j = arg;
	if (j->op == SUPP_READ)
		supp_read(j);
	else if (j->op == SUPP_CREATE)
		supp_create(j);
	else
		supp_delete(j);
}

/* supp_read - (worker) the list (within the query's range), or the path's
 * address's entry, in SendGrid's shapes: created (UNIX seconds) and email;
 * reason and status for bounces and blocks */
static void supp_read(struct supp_job *j)
{
	struct store_suppression **v = NULL;
	size_t n = 0;
	const char *error = NULL;
	int rc = j->email
		? store_suppression_list(j->origin.server->store, j->account, j->list, j->email, &v, &n,
					 &error)
		: store_suppression_page(j->origin.server->store, j->account, j->list, &j->range, &v, &n,
					 &error);
	if (rc != 0) {
		log_error("store-failed", "op=suppression_list session=%s error=\"%s\"", j->origin.sid,
			  error);
		supp_fail(j, 503, "the store is not available now, try again later", NULL);
		return;
	}
	bool detailed = j->list == STORE_SUPPRESSION_BOUNCES || j->list == STORE_SUPPRESSION_BLOCKS;
	json_t *list = json_array();
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_pack("{s:I, s:o}", "created", (json_int_t)v[i]->created, "email",
				      text_value(v[i]->email));
		if (detailed) {
			json_object_set_new(e, "reason", text_value(v[i]->reason));
			json_object_set_new(e, "status", text_value(v[i]->status));
		}
		json_array_append_new(list, e);
	}
	store_suppression_list_free(&v, n);
	j->status = 200;
	j->answer = list;
}

/* supp_create - (worker) POST {"emails":[...], "reason"}: every address
 * checked first, then each added (201 with the addresses) */
static void supp_create(struct supp_job *j)
{
	struct http_suppression_body b;
	const char *error = NULL;
	if (http_suppression_body_parse(j->body ? j->body : "", j->body_len, false, true, &b,
					&error) != 0) {
		supp_fail(j, 400, error, NULL);
		return;
	}
	for (size_t i = 0; i < b.count; i++) {
		if (!store_address_is_valid(b.emails[i])) {
			char field[48];
			snprintf(field, sizeof(field), "emails.%zu", i);
			supp_fail(j, 400, "Does not contain a valid address.", field);
			http_suppression_body_clear(&b);
			return;
		}
	}
	json_t *added = json_array();
	for (size_t i = 0; i < b.count && j->status == 0; i++) {
		struct store_suppression entry = { .list = j->list, .email = b.emails[i],
						   .reason = b.reason };
		if (store_suppression_add(j->origin.server->store, j->account, &entry, &error) != 0) {
			log_error("store-failed", "op=suppression_add session=%s error=\"%s\"",
				  j->origin.sid, error);
			supp_fail(j, 503, "the store is not available now, try again later", NULL);
		} else {
			json_array_append_new(added, text_value(b.emails[i]));
		}
	}
	if (j->status == 0) {
		j->status = 201;
		j->answer = json_pack("{s:o}", "emails", added);
	} else {
		json_decref(added);
	}
	http_suppression_body_clear(&b);
}

/* supp_delete - (worker) DELETE of the path's address (404 if it is not
 * listed), or with {"delete_all":true} or {"emails":[...]} (addresses not
 * listed are passed over, as SendGrid does): 204 */
static void supp_delete(struct supp_job *j)
{
	struct http_suppression_body b = { 0 };
	const char *error = NULL;
	int rc = 0;
	if (j->email) {
		rc = store_suppression_remove(j->origin.server->store, j->account, j->list, j->email, NULL,
					      &error);
	} else if (http_suppression_body_parse(j->body ? j->body : "", j->body_len, true, false,
					       &b, &error) != 0) {
		supp_fail(j, 400, error, NULL);
		return;
	} else if (b.delete_all) {
		rc = store_suppression_remove(j->origin.server->store, j->account, j->list, NULL, NULL,
					      &error);
	} else {
		for (size_t i = 0; i < b.count && rc >= 0; i++)
			rc = store_suppression_remove(j->origin.server->store, j->account, j->list,
						      b.emails[i], NULL, &error);
		if (rc == STORE_NOT_FOUND)
			rc = 0;
	}
	http_suppression_body_clear(&b);
	if (rc == STORE_NOT_FOUND) {
		supp_fail(j, 404, "not found", NULL);
	} else if (rc != 0) {
		log_error("store-failed", "op=suppression_remove session=%s error=\"%s\"", j->origin.sid,
			  error);
		supp_fail(j, 503, "the store is not available now, try again later", NULL);
	} else {
		j->status = 204;
	}
}

/* supp_done - (loop) the answer, if the client is still there */
static void supp_done(void *arg)
{
	struct supp_job *j = arg;
	struct http_session *s = http_job_origin_session(&j->origin);
	if (s && !s->conn.dead) {
		log_info("http-suppression", "session=%s account=%s list=%s op=%s status=%d",
			 j->origin.sid, j->account, store_suppression_list_name(j->list), OP_SCOPES[j->op],
			 j->status);
		http_session_respond(s, j->status, j->answer);
		j->answer = NULL;
	}
	json_decref(j->answer);
	free(j->account);
	free(j->email);
	free(j->body);
	free(j);
}
