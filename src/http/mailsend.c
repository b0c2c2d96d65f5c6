/* http/mailsend - SendGrid v3's POST /v3/mail/send (docs/http.md).
 *
 * The request is authorized on the loop (auth.c: an API key with the
 * mail.send scope), then everything that reads JSON, asks the store or
 * signs runs in one job on the workers: the body read and written as one
 * message per personalization (mailsend-parse.c, mailsend-compose.c), the
 * sender checked as SMTP submission checks MAIL FROM and From:, each
 * recipient checked and one unit of the account's limits reserved for it
 * (policy/, as RCPT does), DKIM signatures added.  Back on the loop the
 * messages go to the queue through queue_submit, as SMTP's do, and 202 is
 * answered only once every one of them is durable ("202 means durable").
 * Units reserved for a message that is not queued are given back.
 */
#include "http/session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "config/config.h"
#include "http/mailsend.h"
#include "http/unsubscribe.h"
#include "keysd/keysd.h"
#include "message/message.h"
#include "policy/policy.h"
#include "queue/queue.h"
#include "store/store.h"
#include "util/log.h"
#include "util/pool.h"
#include "util/xalloc.h"

struct send_job;

/* One message of the request: a personalization written, with its envelope */
struct send_message {
	struct send_job *job;           /* the queue's answer finds the job by it */
	struct queue_envelope *env;     /* NULL once handed to the queue */
	char id[QUEUE_ID_LEN + 1];      /* its queue ID */
	bool sandbox;
	struct buf body;
	unsigned reserved;        /* sending-limit units its recipients took */
	/* what its "accepted" event keeps of it (store_event) */
	char *recipients;         /* one per line */
	char *categories;         /* JSON array, or NULL when none */
	char *custom_args;        /* JSON object, or NULL when none */
};

struct send_job {
	struct http_job_origin origin;   /* the request it answers */
	char client[64];
	bool tls;
	char *listener;
	struct policy_account *account;   /* a copy: the session may go */
	char *body;                       /* the request's, moved from the session */
	size_t body_len;
	struct mailsend_limits limits;
	size_t total_max;                 /* [http] send_total_size */
	time_t now;
	/* the worker's answer: STATUS 0 = messages to queue */
	int status;
	json_t *answer;                   /* the error list to send */
	unsigned rate_limit;              /* 429: X-RateLimit-Limit, -Reset */
	time_t rate_reset;
	struct send_message *messages;
	size_t count;
	/* the queue's answers, on the loop */
	size_t pending, failed;
};

/* A release of sending-limit units on a worker (a message not queued) */
struct send_release {
	struct store *store;
	struct policy_account *account;
	unsigned n;
	time_t at;
};

static void send_authorized(struct http_session *s);
static void send_work(void *arg);
static void send_done(void *arg);
static void send_fail(struct send_job *j, int status, const char *message, const char *field);
static bool send_check_sender(struct send_job *j, const struct mailsend_request *r,
			      size_t index);
static bool send_add_rcpt(struct send_job *j, struct send_message *m, const char *address,
			  size_t index, const char *list, size_t n);
static bool send_envelope(struct send_job *j, const struct mailsend_request *r, size_t index,
			  struct send_message *m);
static bool send_compose(struct send_job *j, const struct mailsend_request *r, size_t index,
			 struct send_message *m, size_t *total);
static bool send_check_from(struct send_job *j, struct send_message *m);
static void send_sign(struct send_job *j, struct send_message *m);
static void send_tags(const struct mailsend_request *r, size_t index, struct send_message *m);
static void send_received(const struct send_job *j, const struct queue_envelope *env,
			  struct buf *out);
static void send_unsubscribe_fields(const struct send_job *j, const struct mailsend_request *r,
				    size_t index, struct buf *out);
static void send_queued(void *ctx, int status, const char *queue_id, const char *error);
static void send_answer(struct send_job *j);
static void send_event(struct send_job *j, const struct send_message *m);
static void send_release_units(struct send_job *j, unsigned n);
static void release_work(void *arg);
static void release_done(void *arg);
static void send_job_free(struct send_job *j);

void http_route_mail_send(struct http_session *s)
{
	http_session_authorize(s, "mail.send", send_authorized);
}

/* send_authorized - the key may send: the rest on a worker */
static void send_authorized(struct http_session *s)
{
	const struct config *config = s->server->config;
	if (!s->server->queue || !s->server->store) {
		http_session_respond_error(s, 503, "sending is not available", NULL);
		return;
	}
	struct send_job *j = xcalloc(1, sizeof(*j));
	http_job_origin_init(&j->origin, s);
	snprintf(j->client, sizeof(j->client), "%s", s->client);
	j->tls = s->conn.tls;
	j->listener = xstrdup(s->listener->name);
	j->account = policy_account_copy(s->account);
	j->body = http_session_take_body(s, &j->body_len);
	if (!j->body)
		j->body = xstrdup("");
	j->limits = (struct mailsend_limits){
		.personalizations = config->http.send_personalizations,
		.recipients = config->http.send_recipients,
		.categories = config->http.send_categories,
		.custom_args_size = config->http.send_custom_args_size,
		.substitutions_size = config->http.send_substitutions_size,
		.message_size = config->limits.message_size,
		.send_at_max = config->http.send_at_max,
	};
	j->total_max = config->http.send_total_size;
	j->now = time(NULL);
	pool_submit(s->server->pool, send_work, send_done, j);
}

/* send_fail - the answer is STATUS with one error */
static void send_fail(struct send_job *j, int status, const char *message, const char *field)
{
	j->status = status;
	json_decref(j->answer);
	j->answer = http_error_body(message, field);
}

/* send_work - (worker) read, check, reserve, write and sign every message */
static void send_work(void *arg)
{
	struct send_job *j = arg;
	struct mailsend_request *r = NULL;
	if (mailsend_parse(j->body, j->body_len, &j->limits, j->now, &r, &j->answer) != 0) {
		j->status = 400;
		return;
	}
	free(j->body);
	j->body = NULL;
	j->messages = xcalloc(r->personalization_count, sizeof(*j->messages));
	size_t total = 0;
	for (size_t i = 0; i < r->personalization_count && j->status == 0; i++) {
		struct send_message *m = &j->messages[i];
		buf_init(&m->body);
		j->count++;
		if (send_check_sender(j, r, i) && send_envelope(j, r, i, m) &&
		    send_compose(j, r, i, m, &total) && send_check_from(j, m)) {
			send_sign(j, m);
			send_tags(r, i, m);
		}
	}
	if (j->status != 0) {
		unsigned n = 0;
		for (size_t i = 0; i < j->count; i++)
			n += j->messages[i].reserved;
		policy_release_blocking(j->origin.server->store, j->account, n, j->now);
		for (size_t i = 0; i < j->count; i++)
			j->messages[i].reserved = 0;
	}
	mailsend_request_free(&r);
}

/* send_check_sender - the From address as SMTP submission checks MAIL
 * FROM (policy_check_sender_blocking): one the account may use; SendGrid
 * answers 403 for a sender that is not a verified identity */
static bool send_check_sender(struct send_job *j, const struct mailsend_request *r,
			      size_t index)
{
	struct policy_reply reply = { 0 };
	const char *sender = mailsend_sender(r, index);
	policy_check_sender_blocking(j->origin.server->store, j->account, true, sender, &reply);
	if (reply.code == 0)
		return true;
	char field[64];
	if (r->personalizations[index].from.email)
		snprintf(field, sizeof(field), "personalizations.%zu.from.email", index);
	else
		snprintf(field, sizeof(field), "from.email");
	if (reply.code / 100 == 4)
		send_fail(j, 503, "temporary failure checking the sender, try again later", NULL);
	else if (j->account->unverified || j->account->pending)
		send_fail(j, 403, reply.text, NULL);   /* the account may send nothing yet */
	else
		send_fail(j, 403, "The from address does not match a verified Sender Identity.",
			  field);
	return false;
}

/* send_add_rcpt - RCPT's checks for ADDRESS (LIST.N of personalization
 * INDEX) and one unit of the account's limits; its mailboxes when it is
 * local, as SMTP's RCPT adds them (ORCPT keeps the address given) */
static bool send_add_rcpt(struct send_job *j, struct send_message *m, const char *address,
			  size_t index, const char *list, size_t n)
{
	struct policy_rcpt rcpt;
	policy_check_rcpt_blocking(j->origin.server->store, j->origin.server->config, j->account, address,
				   j->now, &rcpt);
	bool ok = rcpt.reply.code == 0;
	if (ok && rcpt.reserved)
		m->reserved++;
	if (ok && !rcpt.local) {
		queue_envelope_add_rcpt(m->env, address, 0, NULL);
	} else if (ok) {
		char *orcpt = xasprintf("rfc822;%s", address);
		for (size_t i = 0; rcpt.mailboxes && rcpt.mailboxes[i]; i++)
			queue_envelope_add_rcpt(m->env, rcpt.mailboxes[i], 0,
						strcasecmp(rcpt.mailboxes[i], address) == 0 ?
						NULL : orcpt);
		free(orcpt);
	} else if (rcpt.reply.code == 451 && rcpt.reply.limit > 0) {
		send_fail(j, 429, rcpt.reply.text, NULL);
		j->rate_limit = rcpt.reply.limit;
		j->rate_reset = rcpt.reply.reset;
	} else if (rcpt.reply.code / 100 == 4) {
		send_fail(j, 503, "temporary failure checking the recipients, try again later",
			  NULL);
	} else {
		char field[80];
		snprintf(field, sizeof(field), "personalizations.%zu.%s.%zu.email", index, list, n);
		send_fail(j, 400, rcpt.reply.text, field);
	}
	policy_rcpt_clear(&rcpt);
	return ok;
}

/* send_envelope - the envelope of personalization INDEX's message */
static bool send_envelope(struct send_job *j, const struct mailsend_request *r, size_t index,
			  struct send_message *m)
{
	const struct mailsend_personalization *p = &r->personalizations[index];
	struct queue_envelope *env = queue_envelope_new();
	m->env = env;
	queue_id_new(env->id);
	memcpy(m->id, env->id, sizeof(m->id));
	m->job = j;
	env->arrival = j->now;
	free(env->sender);
	env->sender = xstrdup(mailsend_sender(r, index));
	env->client_address = xstrdup(j->client);
	env->helo = xstrdup("");
	env->listener = xstrdup(j->listener);
	env->account = xstrdup(j->account->name);
	env->sandbox = j->account->sandbox || r->sandbox;
	time_t send_at = mailsend_send_at(r, index);
	env->send_at = send_at > j->now ? send_at : 0;
	m->sandbox = env->sandbox;
	const struct { const struct mailsend_address *list; size_t n; const char *name; } lists[] = {
		{ p->to, p->to_count, "to" }, { p->cc, p->cc_count, "cc" },
		{ p->bcc, p->bcc_count, "bcc" },
	};
	for (size_t l = 0; l < 3; l++)
		for (size_t i = 0; i < lists[l].n; i++)
			if (!send_add_rcpt(j, m, lists[l].list[i].email, index, lists[l].name, i))
				return false;
	return true;
}

/* send_compose - the message: a Received: field, then what the
 * personalization writes; the request's messages together within
 * send_total_size (413 past it) */
static bool send_compose(struct send_job *j, const struct mailsend_request *r, size_t index,
			 struct send_message *m, size_t *total)
{
	struct mailsend_stamp stamp = { .date = j->now, .id = m->env->id,
					.hostname = j->origin.server->config->hostname };
	const char *error = NULL;
	send_received(j, m->env, &m->body);
	if (r->subscription_tracking)
		send_unsubscribe_fields(j, r, index, &m->body);
	if (mailsend_compose(r, index, &j->limits, &stamp, &m->body, &error) != 0) {
		/* too large, or its substitutions too costly to make: either way
		 * more work than the server takes for one message */
		char message[160];
		snprintf(message, sizeof(message), "The message cannot be written: %s.", error);
		send_fail(j, 413, message, NULL);
		return false;
	}
	*total += m->body.len;
	if (*total > j->total_max) {
		send_fail(j, 413, "The messages of this request are larger than this server's "
			  "limit for one request.", NULL);
		return false;
	}
	m->env->size = m->body.len;
	return true;
}

/* send_check_from - the From: field of the message written, as SMTP
 * checks a submission's (policy_check_from_blocking) */
static bool send_check_from(struct send_job *j, struct send_message *m)
{
	struct policy_reply reply = { 0 };
	policy_check_from_blocking(j->origin.server->store, j->account, m->env->sender, m->body.data,
				   m->body.len, &reply);
	if (reply.code != 0)
		send_fail(j, 403, "The from address does not match a verified Sender Identity.",
			  "from.email");
	return reply.code == 0;
}

/* send_sign - DKIM signatures of the From: domain, as for SMTP
 * submissions; a keys process that cannot sign loses no mail */
static void send_sign(struct send_job *j, struct send_message *m)
{
	if (!j->origin.server->signer)
		return;
	const char *error = NULL;
	int n = keysd_signer_sign_blocking(j->origin.server->signer, &m->body, (long long)j->now, &error);
	if (n < 0)
		log_warn("dkim-sign-failed", "session=%s account=%s action=unsigned reason=\"%s\"",
			 j->origin.sid, j->account->name, error);
	m->env->size = m->body.len;
}

/* json_text - V as compact JSON text (malloc'd), V released; NULL when V
 * is empty */
static char *json_text(json_t *v)
{
	char *text = NULL;
	if ((json_is_array(v) && json_array_size(v) > 0) ||
	    (json_is_object(v) && json_object_size(v) > 0)) {
		text = json_dumps(v, JSON_COMPACT);
		if (!text)
			abort();
	}
	json_decref(v);
	return text;
}

/* send_tags - what M's "accepted" event keeps: its recipients, the
 * request's categories, and its custom args (the request's, and the
 * personalization's over them, as SendGrid merges them) */
static void send_tags(const struct mailsend_request *r, size_t index, struct send_message *m)
{
	const struct mailsend_personalization *p = &r->personalizations[index];
	m->recipients = queue_envelope_rcpt_lines(m->env);
	json_t *categories = json_array();
	for (size_t i = 0; i < r->category_count; i++) {
		bool seen = false;   /* the same one twice counts once */
		for (size_t k = 0; k < i && !seen; k++)
			seen = strcmp(r->categories[k], r->categories[i]) == 0;
		if (!seen)
			json_array_append_new(categories, json_string(r->categories[i]));
	}
	m->categories = json_text(categories);
	json_t *args = json_object();
	for (size_t i = 0; i < r->custom_arg_count; i++)
		json_object_set_new(args, r->custom_args[i].name,
				    json_string(r->custom_args[i].value));
	for (size_t i = 0; i < p->custom_arg_count; i++)
		json_object_set_new(args, p->custom_args[i].name,
				    json_string(p->custom_args[i].value));
	m->custom_args = json_text(args);
}

/* send_unsubscribe_fields - RFC 8058's List-Unsubscribe (a link of
 * /unsubscribe/, unsubscribe.h, for the account and the personalization's
 * first "to" address: a message per personalization, one link per
 * message) and List-Unsubscribe-Post; DKIM signs both (mailauth's default
 * h= has List-*) */
static void send_unsubscribe_fields(const struct send_job *j, const struct mailsend_request *r,
				    size_t index, struct buf *out)
{
	const struct http_server *server = j->origin.server;
	size_t account_len = strlen(j->account->name);
	if (!server->has_unsubscribe_secret || account_len == 0 ||
	    account_len > UNSUBSCRIBE_ADDRESS_MAX)
		return;  /* an account name longer than an address: no link */
	buf_printf(out, "List-Unsubscribe: <%s" UNSUBSCRIBE_PATH, server->config->http.public_url);
	unsubscribe_token_make(server->unsubscribe_secret, j->account->name,
			       r->personalizations[index].to[0].email, out);
	buf_append_str(out, ">\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n");
}

/* send_received - RFC 5321 4.4's trace field, for a message that came by
 * HTTP (its "with" says how) */
static void send_received(const struct send_job *j, const struct queue_envelope *env,
			  struct buf *out)
{
	char date[64];
	message_date_format(j->now, date, sizeof(date));
	buf_printf(out, "Received: from [%s]\r\n\tby %s (Petrel) with %s id %s;\r\n\t%s\r\n",
		   j->client, j->origin.server->config->hostname, j->tls ? "HTTPS" : "HTTP", env->id,
		   date);
}

/* send_done - (loop) answer a refusal, or hand the messages to the queue */
static void send_done(void *arg)
{
	struct send_job *j = arg;
	struct http_session *s = http_job_origin_session(&j->origin);
	if (j->status != 0 || !s || s->conn.dead) {
		if (j->status == 0)  /* the client left before its answer: nothing queued */
			for (size_t i = 0; i < j->count; i++)
				send_release_units(j, j->messages[i].reserved);
		send_answer(j);
		return;
	}
	/* the last queue_submit's answer may come before it returns, and
	 * free J: nothing of J is read after it */
	size_t count = j->count;
	j->pending = count;
	for (size_t i = 0; i < count; i++) {
		struct send_message *m = &j->messages[i];
		struct queue_envelope *env = m->env;
		m->env = NULL;
		log_info("received", "session=%s queue_id=%s size=%zu nrcpt=%zu account=%s "
			 "protocol=http%s", j->origin.sid, env->id, m->body.len, env->rcpt_count,
			 j->account->name, env->sandbox ? " sandbox=yes" : "");
		queue_submit(j->origin.server->queue, env, &m->body, send_queued, m);
	}
}

/* send_queued - the queue's answer for message CTX: its event once it is
 * durable, its units given back if it is not; the last answer answers */
static void send_queued(void *ctx, int status, const char *queue_id, const char *error)
{
	struct send_message *m = ctx;
	struct send_job *j = m->job;
	if (status == 0) {
		log_info("queued", "session=%s queue_id=%s", j->origin.sid, queue_id);
		send_event(j, m);
	} else {
		log_warn("queue-failed", "session=%s queue_id=%s error=\"%s\"", j->origin.sid, m->id,
			 error);
		send_release_units(j, m->reserved);
		j->failed++;
	}
	if (--j->pending > 0)
		return;
	if (j->failed > 0)
		send_fail(j, 503, "temporary failure storing the message, try again later", NULL);
	send_answer(j);
}

/* send_event - "accepted" (or "accepted-sandbox") for a message queued,
 * as SMTP records it */
static void send_event(struct send_job *j, const struct send_message *m)
{
	if (!j->origin.server->events)
		return;
	struct store_event ev = {
		.time = j->now,
		.type = (char *)(m->sandbox ? "accepted-sandbox" : "accepted"),
		.account = j->account->name,
		.queue_id = (char *)m->id,
		.code = 250,  /* as SMTP records an acceptance */
	};
	if (!m->sandbox) {   /* nothing reads a sandboxed message's */
		ev.recipients = m->recipients;
		ev.categories = m->categories;
		ev.custom_args = m->custom_args;
	}
	store_events_post(j->origin.server->events, &ev);
}

/* send_answer - the answer, if the session still waits for it; then the
 * job is done */
static void send_answer(struct send_job *j)
{
	struct http_session *s = http_job_origin_session(&j->origin);
	if (s && !s->conn.dead) {
		if (j->status == 429) {
			char limit[24], reset[24];
			snprintf(limit, sizeof(limit), "%u", j->rate_limit);
			snprintf(reset, sizeof(reset), "%lld", (long long)j->rate_reset);
			http_session_add_header(s, "X-RateLimit-Limit", limit);
			http_session_add_header(s, "X-RateLimit-Remaining", "0");
			http_session_add_header(s, "X-RateLimit-Reset", reset);
		}
		if (j->status != 0) {
			log_info("http-mail-send", "session=%s account=%s status=%d", j->origin.sid,
				 j->account->name, j->status);
			http_session_respond(s, j->status, j->answer);
			j->answer = NULL;
		} else {
			/* SendGrid's X-Message-Id: the first message's queue ID */
			http_session_add_header(s, "X-Message-Id", j->messages[0].id);
			log_info("http-mail-send", "session=%s account=%s status=202 messages=%zu "
				 "message_id=%s", j->origin.sid, j->account->name, j->count,
				 j->messages[0].id);
			http_session_respond(s, 202, NULL);
		}
	}
	send_job_free(j);
}

/* send_release_units - give back N units reserved at the request's time */
static void send_release_units(struct send_job *j, unsigned n)
{
	if (n == 0)
		return;
	struct send_release *r = xcalloc(1, sizeof(*r));
	r->store = j->origin.server->store;
	r->account = policy_account_copy(j->account);
	r->n = n;
	r->at = j->now;
	pool_submit(j->origin.server->pool, release_work, release_done, r);
}

static void release_work(void *arg)
{
	struct send_release *r = arg;
	policy_release_blocking(r->store, r->account, r->n, r->at);
}

static void release_done(void *arg)
{
	struct send_release *r = arg;
	policy_account_free(&r->account);
	free(r);
}

static void send_job_free(struct send_job *j)
{
	for (size_t i = 0; i < j->count; i++) {
		queue_envelope_free(&j->messages[i].env);
		buf_free(&j->messages[i].body);
		free(j->messages[i].recipients);
		free(j->messages[i].categories);
		free(j->messages[i].custom_args);
	}
	free(j->messages);
	json_decref(j->answer);
	policy_account_free(&j->account);
	free(j->listener);
	free(j->body);
	free(j);
}
