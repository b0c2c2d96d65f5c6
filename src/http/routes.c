/* http/routes - the table of paths the server answers, each with the
 * methods it takes and its handler.  A handler answers at once
 * (http_session_respond) when it needs nothing but the request, or
 * submits its work to the pool and answers from the job's done callback,
 * finding the session by id (session.h). */
#include "http/session.h"
#include "http/suppression.h"

#include <string.h>

#include "config/config.h"

typedef void http_handler_fn(struct http_session *s);

struct http_route {
	const char *path;         /* ending in '/': any path under it */
	const char *methods;      /* for Allow: "GET, HEAD" */
	http_handler_fn *get;     /* GET and HEAD */
	http_handler_fn *post;
	http_handler_fn *del;     /* DELETE */
	http_handler_fn *update;  /* PUT and PATCH: the handler tells them apart */
};

static bool route_matches(const struct http_session *s, const char *path);

static void route_healthz(struct http_session *s);
static void route_scopes(struct http_session *s);
static void scopes_answer(struct http_session *s);

static const struct http_route routes[] = {
	{ "/healthz", "GET, HEAD", .get = route_healthz },
	{ "/v3/scopes", "GET, HEAD", .get = route_scopes },
	{ "/metrics", "GET, HEAD", .get = http_route_metrics },
	{ "/v3/mail/send", "POST", .post = http_route_mail_send },
	{ "/signup", "GET, HEAD, POST", .get = http_route_signup_page,
	  .post = http_route_signup_post },
	{ "/verify/", "GET, HEAD, POST", .get = http_route_verify_page,
	  .post = http_route_verify_post },
	{ "/reset", "GET, HEAD, POST", .get = http_route_reset_page, .post = http_route_reset_post },
	{ "/reset/", "GET, HEAD, POST", .get = http_route_reset_token_page,
	  .post = http_route_reset_token_post },
	{ "/login", "GET, HEAD, POST", .get = http_route_login_page, .post = http_route_login_post },
	{ "/logout", "POST", .post = http_route_logout },
	{ "/dashboard", "GET, HEAD", .get = http_route_dashboard },
	{ "/dashboard/api-keys", "GET, HEAD, POST", .get = http_route_web_api_keys,
	  .post = http_route_web_api_key_create },
	{ "/dashboard/api-keys/delete", "POST", .post = http_route_web_api_key_delete },
	{ "/dashboard/activity", "GET, HEAD", .get = http_route_web_activity },
	{ "/dashboard/senders", "GET, HEAD", .get = http_route_web_senders },
	{ "/dashboard/domains", "GET, HEAD", .get = http_route_web_domains },
	{ "/dashboard/webhook", "GET, HEAD, POST", .get = http_route_web_webhook,
	  .post = http_route_web_webhook },
	{ "/operator", "GET, HEAD", .get = http_route_web_operator },
	{ "/dashboard/suppressions", "GET, HEAD", .get = http_route_web_suppressions },
	{ "/dashboard/sandbox", "GET, HEAD", .get = http_route_web_sandbox },
	{ "/dashboard/sandbox/message", "GET, HEAD", .get = http_route_web_sandbox_message },
	{ "/dashboard/sandbox/part", "GET, HEAD", .get = http_route_web_sandbox_part },
	{ "/dashboard/suppressions/delete", "POST", .post = http_route_web_suppression_delete },
	{ "/v3/stats", "GET, HEAD", .get = http_route_stats },
	{ "/v3/categories", "GET, HEAD", .get = http_route_categories },
	{ "/v3/categories/stats", "GET, HEAD", .get = http_route_category_stats },
	{ "/v3/categories/stats/sums", "GET, HEAD", .get = http_route_category_sums },
	{ "/v3/api_keys", "GET, HEAD, POST", .get = http_route_api_keys_list,
	  .post = http_route_api_keys_create },
	{ "/v3/api_keys/", "GET, HEAD, DELETE, PATCH, PUT", .get = http_route_api_key_get,
	  .del = http_route_api_key_delete, .update = http_route_api_key_update },
	{ "/unsubscribe/", "GET, HEAD, POST", .get = http_route_unsubscribe_get,
	  .post = http_route_unsubscribe_post },
	{ "/v3/user/webhooks/event/settings", "GET, HEAD, PATCH",
	  .get = http_route_webhook_settings_get, .update = http_route_webhook_settings_update },
	{ "/v3/user/webhooks/event/settings/signed", "GET, HEAD, PATCH",
	  .get = http_route_webhook_signed_get, .update = http_route_webhook_signed_update },
	{ "/v3/user/webhooks/event/test", "POST", .post = http_route_webhook_test },
};

/* route_matches - the request's path is PATH, or under it when PATH ends
 * in '/' */
static bool route_matches(const struct http_session *s, const char *path)
{
	size_t n = strlen(path);
	if (path[n - 1] != '/')
		return http_span_equals(s->head, s->req.path, path, false);
	return s->req.path.len > n && memcmp(s->head + s->req.path.off, path, n) == 0;
}

/* route_healthz - the process answers: its loop runs (a load balancer's
 * check; nothing is asked of the store) */
static void route_healthz(struct http_session *s)
{
	http_session_respond(s, 200, json_pack("{s:s, s:s}", "status", "ok", "hostname",
					      s->server->config->hostname));
}

/* route_scopes - SendGrid's GET /v3/scopes: the scopes of the API key the
 * request carries (any key) */
static void route_scopes(struct http_session *s)
{
	http_session_authorize(s, "", scopes_answer);
}

static void scopes_answer(struct http_session *s)
{
	http_session_respond(s, 200, json_pack("{s:o}", "scopes",
					      http_scopes_json(s->scopes, strlen(s->scopes))));
}

void http_route_dispatch(struct http_session *s)
{
	const char *data = s->head;
	bool get = http_span_equals(data, s->req.method, "GET", false) ||
		http_span_equals(data, s->req.method, "HEAD", false);
	bool post = http_span_equals(data, s->req.method, "POST", false);
	size_t prefix = strlen(HTTP_SUPPRESSION_PREFIX);
	if (s->req.path.len >= prefix &&
	    memcmp(data + s->req.path.off, HTTP_SUPPRESSION_PREFIX, prefix) == 0) {
		http_route_suppression(s);   /* /v3/suppression/LIST[/EMAIL] */
		return;
	}
	bool del = http_span_equals(data, s->req.method, "DELETE", false);
	bool update = http_span_equals(data, s->req.method, "PUT", false) ||
		http_span_equals(data, s->req.method, "PATCH", false);
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (!route_matches(s, routes[i].path))
			continue;
		http_handler_fn *handler = get ? routes[i].get : post ? routes[i].post :
			del ? routes[i].del : update ? routes[i].update : NULL;
		if (handler) {
			handler(s);
			return;
		}
		/* RFC 9110 15.5.6: 405 lists the methods the resource takes */
		http_session_add_header(s, "Allow", routes[i].methods);
		http_session_respond_error(s, 405, "method not allowed", NULL);
		return;
	}
	http_session_respond_error(s, 404, "not found", NULL);
}
