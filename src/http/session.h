/* http/session - one HTTP connection; internal to the http module.
 *
 * The session reads a request's head (http/parse.h) and then its body,
 * both within [http]'s limits and under one timer per request, and hands
 * the request to its route (routes.c).  It is "busy" from then until the
 * handler answers (http_session_respond*), at once on the loop or later
 * from the worker pool; it reads nothing meanwhile, so pipelined requests
 * are answered in order (RFC 9112 9.3.2).  A refused request is answered
 * with "Connection: close" and the connection closes once the answer is
 * written.
 */
#ifndef PETREL_HTTP_SESSION_H
#define PETREL_HTTP_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <jansson.h>
#include <openssl/ssl.h>

#include "http/http.h"
#include "http/parse.h"
#include "net/net.h"

struct authd_login;
struct authd_outcome;
struct event;
struct evbuffer;
struct policy_account;
struct http_session;
struct http_web_request;
struct http_signup_job;

/* what a handler does once its request is authorized (http_session_authorize) */
typedef void http_authorized_fn(struct http_session *s);

#define HTTP_SESSION_BUCKETS 1024u

struct http_server {
	struct event_base *base;
	const struct config *config;
	struct http_limits limits;
	SSL_CTX *tls;
	struct store *store;
	struct pool *pool;
	struct authd_client *auth;
	struct net_conn_limits *conn_limits;
	struct policy_throttle *throttle;
	struct net_sessions *sessions;   /* open connections by id, the dead, the drain */
	size_t body_memory_used;         /* octets the sessions' bodies reserve (loop) */
	http_metrics_fn *metrics;
	void *metrics_ctx;
	struct queue *queue;             /* POST /v3/mail/send (mailsend.c) */
	struct store_events *events;
	struct keysd_signer *signer;
	unsigned char unsubscribe_secret[32];  /* unsubscribe.c's links */
	bool has_unsubscribe_secret;
	struct http_webhook_dispatcher *webhook;  /* POST /v3/user/webhooks/event/test */
	struct dns_resolver *dns;        /* /dashboard/domains' checks; NULL: none */
	unsigned domain_pages;           /* /dashboard/domains loads checking now */
	const struct mailauth_psl *psl;
	struct http_signup_job *web_signups;  /* sign-ups whose password the auth process
						 sets now (web-signup.c) */
};

enum http_session_state {
	HTTP_STATE_IDLE,      /* between requests: the idle timer */
	HTTP_STATE_READING,   /* a request's first octet came: the request timer */
	HTTP_STATE_BUSY,      /* its handler runs: no timer, nothing read */
	HTTP_STATE_LINGER,    /* refused: the answer written, then the rest of what the
				 client sends read and dropped until it closes or the idle
				 timer runs out (RFC 9112 9.6), so that a reset does not
				 destroy the answer before the client reads it */
};

struct http_session {
	struct net_conn conn;            /* in server->sessions; conn.link.id == id */
	struct http_server *server;
	const struct config_listener *listener;
	uint64_t id;
	char sid[24];
	struct sockaddr_storage addr;
	char client[64];

	enum http_session_state state;
	bool processing;        /* session_process_input is on the stack */
	bool continue_sent;     /* "100 Continue" sent for the current request */
	bool refused;           /* the current request is refused: linger after the answer */
	bool write_shut;        /* lingering: our side of the TCP connection is shut */
	struct event *timer;    /* the request or idle timer */

	/* the request being answered: its head (copied out of the input),
	 * what the parser found in it, and its body */
	char *head;
	size_t head_checked;    /* octets of the input read for a head without its end */
	struct http_request req;
	char *body;
	size_t body_len;
	struct http_chunked chunked;       /* a chunked body's reading (req.chunked) */
	struct evbuffer *chunked_body;     /* its data so far */
	size_t body_reserved;              /* of server->body_memory_used, for the body */
	struct evbuffer *response_headers; /* extra fields of the answer */
	/* the Bearer key's check (auth.c), and what it gave */
	struct authd_login *login;
	http_authorized_fn *authorized;
	struct policy_account *account;
	char *scopes;
	uint32_t apikey_call;   /* an IPC_AUTH_APIKEY_* (apikeys.c) or PASSWORD_SET (web-reset.c)
				   call pending, or 0 */
	struct http_web_request *web;  /* a logged-in page's request (web-session.h) */
};

extern const struct net_session_ops http_session_table_ops;

void http_session_start(struct http_server *server, const struct config_listener *listener,
			int fd, const struct sockaddr *sa, socklen_t salen);
/* http_session_find - the open session with ID, or NULL (for late answers) */
struct http_session *http_session_find(struct http_server *server, uint64_t id);

/* A pool job's way back to the request it answers.  The session may close
 * while the job runs, so the job keeps this, not the session, and its
 * done callback finds the session again (NULL: gone, the answer dropped). */
struct http_job_origin {
	struct http_server *server;
	uint64_t session_id;
	char sid[24];                  /* the session's id, for the log */
};
/* http_job_origin_init - ORIGIN names S's current request */
void http_job_origin_init(struct http_job_origin *origin, const struct http_session *s);
/* http_job_origin_session - the session still open, or NULL */
struct http_session *http_job_origin_session(const struct http_job_origin *origin);
/* http_session_take_body - the request's body moved to the caller (to
 * free), its length in *LEN_R; NULL (length 0) when it had none */
char *http_session_take_body(struct http_session *s, size_t *len_r);

/* http_session_add_header - a field for the answer about to be given */
void http_session_add_header(struct http_session *s, const char *name, const char *value);
/* http_session_respond - answer the current request with STATUS and BODY
 * (a JSON value, stolen; NULL: no body) and read the next one */
void http_session_respond(struct http_session *s, int status, json_t *body);
/* http_session_respond_text - answer with STATUS and LEN octets of TEXT
 * as CONTENT_TYPE, and read the next request */
void http_session_respond_text(struct http_session *s, int status, const char *content_type,
			       const char *text, size_t len);
/* http_session_respond_error - STATUS with SendGrid's error list:
 * {"errors":[{"message":MESSAGE,"field":FIELD,"help":null}]} (FIELD NULL: null) */
void http_session_respond_error(struct http_session *s, int status, const char *message,
				const char *field);
/* http_error_body - that error list, to add to or send */
json_t *http_error_body(const char *message, const char *field);

/* auth.c: http_session_authorize - check the request's "Authorization:
 * Bearer KEY" (an API key, by the auth process, RFC 6750) for SCOPE ("":
 * any key); then AUTHORIZED(S) with s->account and s->scopes set, or the
 * answer SendGrid gives: 401 (none, unknown, revoked, or a disabled
 * account's), 403 (a key without SCOPE), 429 (the address locked out after
 * failures), 503 (the auth process cannot answer) */
void http_session_authorize(struct http_session *s, const char *scope,
			    http_authorized_fn *authorized);
/* http_session_auth_clear - forget the request's authorization (a pending
 * check is cancelled) */
void http_session_auth_clear(struct http_session *s);

/* metrics.c: http_route_metrics - GET /metrics (Prometheus' text format)
 * for a client in [http] metrics_from, 403 for any other */
void http_route_metrics(struct http_session *s);

/* mailsend.c: http_route_mail_send - SendGrid's POST /v3/mail/send */
void http_route_mail_send(struct http_session *s);

/* stats.c: http_route_stats - SendGrid's GET /v3/stats */
void http_route_stats(struct http_session *s);
/* stats.c: SendGrid's GET /v3/categories/stats, /v3/categories/stats/sums
 * and /v3/categories */
void http_route_category_stats(struct http_session *s);
void http_route_category_sums(struct http_session *s);
void http_route_categories(struct http_session *s);

/* suppression-route.c: http_route_suppression - SendGrid's
 * /v3/suppression/LIST[/EMAIL] (any method; it answers 404 and 405 itself) */
void http_route_suppression(struct http_session *s);

/* apikeys.c: SendGrid's /v3/api_keys (GET, POST) and /v3/api_keys/ID
 * (GET, DELETE, PATCH, PUT) */
void http_route_api_keys_list(struct http_session *s);
void http_route_api_keys_create(struct http_session *s);
void http_route_api_key_get(struct http_session *s);
void http_route_api_key_delete(struct http_session *s);
/* PATCH (its name) and PUT (its name and scopes) of /v3/api_keys/ID */
void http_route_api_key_update(struct http_session *s);
/* http_scopes_json - LEN octets of space-separated SCOPES as a JSON list */
json_t *http_scopes_json(const char *scopes, size_t len);

/* webhook-route.c: SendGrid's /v3/user/webhooks/event/settings (GET;
 * PATCH, any other update method 405) */
void http_route_webhook_settings_get(struct http_session *s);
void http_route_webhook_settings_update(struct http_session *s);
/* ... and its /settings/signed (GET; PATCH, others 405) */
void http_route_webhook_signed_get(struct http_session *s);
void http_route_webhook_signed_update(struct http_session *s);
/* webhook-route.c: SendGrid's POST /v3/user/webhooks/event/test */
void http_route_webhook_test(struct http_session *s);

/* unsubscribe.c: RFC 8058 one-click unsubscribe, /unsubscribe/TOKEN: GET
 * a page with a button (it changes nothing), POST the unsubscription */
void http_route_unsubscribe_get(struct http_session *s);
void http_route_unsubscribe_post(struct http_session *s);

/* web-signup.c: GET and POST /signup, GET and POST /verify/TOKEN (docs/web.md) */
void http_route_signup_page(struct http_session *s);
void http_route_signup_post(struct http_session *s);
void http_route_verify_page(struct http_session *s);
void http_route_verify_post(struct http_session *s);
/* web-reset.c: GET and POST /reset, GET and POST /reset/TOKEN (docs/web.md) */
void http_route_reset_page(struct http_session *s);
void http_route_reset_post(struct http_session *s);
void http_route_reset_token_page(struct http_session *s);
void http_route_reset_token_post(struct http_session *s);
/* web-login.c: GET /login (the form), POST /login (docs/web.md) */
void http_route_login_page(struct http_session *s);
void http_route_login_post(struct http_session *s);

/* web-session.c: http_route_logout - POST /logout (docs/web.md) */
void http_route_logout(struct http_session *s);
/* web-dashboard.c: http_route_dashboard - GET /dashboard (docs/web.md) */
void http_route_dashboard(struct http_session *s);
/* web-dash-keys.c: GET, POST /dashboard/api-keys, POST .../delete */
void http_route_web_api_keys(struct http_session *s);
void http_route_web_api_key_create(struct http_session *s);
void http_route_web_api_key_delete(struct http_session *s);
/* web-dash-activity.c: GET /dashboard/activity */
void http_route_web_activity(struct http_session *s);
/* web-dash-suppressions.c: GET /dashboard/suppressions, POST .../delete */
void http_route_web_suppressions(struct http_session *s);
void http_route_web_suppression_delete(struct http_session *s);
/* web-dash-senders.c: GET /dashboard/senders (docs/web.md) */
void http_route_web_senders(struct http_session *s);
/* web-dash-domains.c: GET /dashboard/domains (docs/web.md) */
void http_route_web_domains(struct http_session *s);
/* web-dash-webhook.c: GET and POST /dashboard/webhook (docs/web.md) */
void http_route_web_webhook(struct http_session *s);
/* web-dash-operator.c: GET /operator (docs/web.md) */
void http_route_web_operator(struct http_session *s);
/* web-dash-sandbox.c: GET /dashboard/sandbox, /dashboard/sandbox/message, .../part */
void http_route_web_sandbox(struct http_session *s);
void http_route_web_sandbox_message(struct http_session *s);
void http_route_web_sandbox_part(struct http_session *s);

/* routes.c: http_route_dispatch - run the handler of the current request */
void http_route_dispatch(struct http_session *s);

#endif
