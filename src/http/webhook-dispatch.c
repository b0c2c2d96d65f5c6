/* http/webhook-dispatch - the event webhook's dispatcher (http/webhook.h):
 * rounds on a timer, the store read and moved on the workers, the posts on
 * the loop, a back-off per account kept in memory.
 *
 * At most one round is in flight; an account with a post in flight, or
 * waiting for its retry, is left out of the rounds meanwhile.  sent_id
 * moves only after the receiver's 2xx, by compare-and-set: a crash (or
 * a failed advance) between the two posts the batch again, never loses it;
 * two nodes sharing a store cannot both move it from the same place.
 *
 * A signed webhook's batch (docs/http.md "Signed event webhook") is hashed
 * on the worker that reads it (SHA-256 of the timestamp's decimal text and
 * then the body, as SendGrid signs) and signed by the keys process over the
 * loop's channel (IPC_KEYS_WEBHOOK_SIGN) before it is posted; no signature
 * (keys process down, slow, failing) counts as a failed post: retried, never
 * sent unsigned. */
#include "http/webhook.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <openssl/evp.h>

#include "config/config.h"
#include "ipc/ipc.h"
#include "keysd/keysd.h"
#include "store/store.h"
#include "util/base64.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/pool.h"
#include "util/xalloc.h"

/* an account the loop knows of: posting, or waiting to retry */
struct dispatch_account {
	char *name;
	bool busy;                   /* a post or its advance in flight */
	unsigned failures;           /* in a row */
	time_t retry_at;             /* monotonic seconds; 0: now */
	struct http_webhook_post *post;
	uint32_t sign_call;          /* IPC_KEYS_WEBHOOK_SIGN in flight, or 0 */
	struct dispatch_batch *batch;
	int64_t part_id;             /* an event posted in part (processed per
				      * recipient beyond batch_size), or 0 */
	size_t part_done;            /* how many of its parts were acknowledged */
	struct dispatch_account *next;
};

/* one account's batch: what a round read, what the loop posts */
struct dispatch_batch {
	struct http_webhook_dispatcher *d;
	char *account;
	struct http_webhook_url url;
	int64_t from, to;            /* sent_id now, and the last event posted whole */
	int64_t part_id;             /* the event posted in part, or 0 */
	size_t part_done;            /* its parts posted, up to this batch's */
	char *body;                  /* NULL: nothing to post, only to move past */
	size_t len, count;
	bool sign;                   /* signed: TIMESTAMP and DIGEST are set */
	char timestamp[24];          /* decimal seconds */
	unsigned char digest[KEYSD_DIGEST_LEN];   /* SHA-256(timestamp, body) */
	int rc;                      /* the advance's */
};

/* an account's event posted in part, for the worker that reads its next batch */
struct round_part {
	char *account;
	int64_t id;
	size_t done;
};

struct dispatch_round {
	struct http_webhook_dispatcher *d;
	char **skip;                 /* accounts left out (busy, waiting) */
	size_t n_skip;
	struct round_part *parts;    /* accounts with an event posted in part */
	size_t n_parts;
	struct dispatch_batch **batches;
	size_t n;
};

/* a public key asked for (http_webhook_dispatcher_key), on the
 * dispatcher's list until answered: stopping answers those still waiting */
struct key_call {
	struct http_webhook_dispatcher *d;
	uint32_t call;               /* the IPC_KEYS_WEBHOOK_KEY call, or 0 */
	http_webhook_key_fn *done;
	void *ctx;
	struct key_call *next;
};

/* a test post (http_webhook_dispatcher_test) and whom it answers */
struct dispatch_test {
	struct http_webhook_dispatcher *d;
	struct http_webhook_post *post;
	http_webhook_post_fn *done;
	void *ctx;
	struct dispatch_test *next;
};

struct http_webhook_dispatcher {
	struct event_base *base;
	struct http_webhook_dispatcher_settings settings;
	const struct config_webhook *cfg;
	struct event *timer;
	bool round_running;
	bool stopped;
	struct dispatch_account *accounts;
	struct dispatch_test *tests;
	struct key_call *key_calls;
};

static void dispatch_timer_cb(evutil_socket_t fd, short what, void *arg);
static void round_work(void *arg);
static void round_done(void *arg);
static struct dispatch_batch *batch_read(struct http_webhook_dispatcher *d,
					 const struct store_webhook *hook,
					 const struct dispatch_round *r);
static void round_free(struct dispatch_round *r);
static struct http_webhook_post_settings post_settings(const struct http_webhook_dispatcher *d);
static void batch_post(struct http_webhook_dispatcher *d, struct dispatch_batch *b,
		       const char *headers);
static void batch_sign(struct http_webhook_dispatcher *d, struct dispatch_batch *b);
static void batch_signed(void *ctx, const struct ipc_msg *reply);
static void batch_digest(struct dispatch_batch *b);
static void batch_posted(void *ctx, int status, const char *error);
static void batch_advance_work(void *arg);
static void batch_advance_done(void *arg);
static void batch_free(struct dispatch_batch *b);
static void test_posted(void *ctx, int status, const char *error);
static void key_reply(void *ctx, const struct ipc_msg *reply);
static void key_end(struct key_call *k, const void *spki, size_t len, const char *error);
static void test_end(struct dispatch_test *t, int status, const char *error);
static struct dispatch_account *account_get(struct http_webhook_dispatcher *d,
					    const char *name);
static void account_release(struct http_webhook_dispatcher *d, struct dispatch_account *a,
			    bool ok);
static time_t monotonic_now(void);

static time_t monotonic_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

struct http_webhook_dispatcher *http_webhook_dispatcher_create(
	struct event_base *base, const struct http_webhook_dispatcher_settings *settings)
{
	struct http_webhook_dispatcher *d = xcalloc(1, sizeof(*d));
	d->base = base;
	d->settings = *settings;
	d->cfg = &settings->config->webhook;
	d->timer = event_new(base, -1, EV_PERSIST, dispatch_timer_cb, d);
	struct timeval tv = { .tv_sec = d->cfg->interval };
	if (!d->timer || event_add(d->timer, &tv) != 0)
		abort();
	return d;
}

void http_webhook_dispatcher_stop(struct http_webhook_dispatcher *d)
{
	if (!d)
		return;
	d->stopped = true;
	if (d->timer)
		event_del(d->timer);
	while (d->tests) {
		http_webhook_post_cancel(&d->tests->post);
		test_end(d->tests, -1, "the server is stopping");
	}
	while (d->key_calls) {
		ipc_client_cancel(d->settings.keys, d->key_calls->call);
		key_end(d->key_calls, NULL, 0, "the server is stopping");
	}
	for (struct dispatch_account *a = d->accounts; a; a = a->next) {
		if (a->post || a->sign_call) {
			http_webhook_post_cancel(&a->post);
			if (a->sign_call)
				ipc_client_cancel(d->settings.keys, a->sign_call);
			a->sign_call = 0;
			batch_free(a->batch);
			a->batch = NULL;
		}
	}
}

void http_webhook_dispatcher_free(struct http_webhook_dispatcher **dp)
{
	struct http_webhook_dispatcher *d = *dp;
	if (!d)
		return;
	http_webhook_dispatcher_stop(d);
	while (d->accounts) {
		struct dispatch_account *a = d->accounts;
		d->accounts = a->next;
		free(a->name);
		free(a);
	}
	event_free(d->timer);
	free(d);
	*dp = NULL;
}

/* account_get - NAME's entry, made if there is none */
static struct dispatch_account *account_get(struct http_webhook_dispatcher *d,
					    const char *name)
{
	for (struct dispatch_account *a = d->accounts; a; a = a->next)
		if (strcmp(a->name, name) == 0)
			return a;
	struct dispatch_account *a = xcalloc(1, sizeof(*a));
	a->name = xstrdup(name);
	a->next = d->accounts;
	d->accounts = a;
	return a;
}

/* account_release - A's batch is over: OK resets its back-off, a failure
 * doubles it; an account with nothing to remember is forgotten */
static void account_release(struct http_webhook_dispatcher *d, struct dispatch_account *a,
			    bool ok)
{
	a->busy = false;
	a->post = NULL;
	a->batch = NULL;
	if (ok) {
		a->failures = 0;
		a->retry_at = 0;
		if (a->part_done > 0)
			return;   /* the rest of an event to post */
	} else {
		unsigned delay = d->cfg->retry_initial;
		for (unsigned i = 1; i < a->failures && delay < d->cfg->retry_max; i++)
			delay *= 2;
		a->failures++;
		a->retry_at = monotonic_now() + (delay < d->cfg->retry_max ? delay
									 : d->cfg->retry_max);
		return;
	}
	for (struct dispatch_account **pp = &d->accounts; *pp; pp = &(*pp)->next) {
		if (*pp == a) {
			*pp = a->next;
			free(a->name);
			free(a);
			return;
		}
	}
}

/* dispatch_timer_cb - a round, unless one is still running: the accounts
 * busy or waiting are named to the worker, which leaves them out */
static void dispatch_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http_webhook_dispatcher *d = arg;
	(void)fd;
	(void)what;
	if (d->round_running || d->stopped)
		return;
	struct dispatch_round *r = xcalloc(1, sizeof(*r));
	r->d = d;
	time_t now = monotonic_now();
	size_t n = 0;
	for (struct dispatch_account *a = d->accounts; a; a = a->next)
		n++;
	r->skip = xcalloc(n + 1, sizeof(*r->skip));
	r->parts = xcalloc(n + 1, sizeof(*r->parts));
	for (struct dispatch_account *a = d->accounts; a; a = a->next) {
		if (a->busy || a->retry_at > now)
			r->skip[r->n_skip++] = xstrdup(a->name);
		else if (a->part_done > 0)
			r->parts[r->n_parts++] = (struct round_part){ xstrdup(a->name), a->part_id,
								      a->part_done };
	}
	d->round_running = true;
	pool_submit(d->settings.pool, round_work, round_done, r);
}

/* batch_read - (worker) HOOK's account's events after its sent_id, as the
 * batch to post (without the parts of its first event that R says were
 * posted); NULL when there are none or the store fails */
static struct dispatch_batch *batch_read(struct http_webhook_dispatcher *d,
					 const struct store_webhook *hook,
					 const struct dispatch_round *r)
{
	struct dispatch_batch *b = xcalloc(1, sizeof(*b));
	const char *error = NULL;
	if (http_webhook_url_parse(hook->url, strlen(hook->url), &b->url, &error) != 0) {
		log_warn("webhook-skipped", "account=%s error=\"%s\"", hook->account, error);
		free(b);
		return NULL;
	}
	struct store_event **events = NULL;
	size_t n = 0;
	if (store_event_list(d->settings.store, hook->account, 0, hook->sent_id,
			     d->cfg->batch_size, &events, &n, &error) != 0) {
		log_error("store-failed", "op=webhook_events account=%s error=\"%s\"",
			  hook->account, error);
		free(b);
		return NULL;
	}
	if (n == 0) {
		store_event_list_free(&events, n);
		free(b);
		return NULL;
	}
	b->d = d;
	b->account = xstrdup(hook->account);
	b->from = hook->sent_id;
	struct http_webhook_batch_span span = { 0 };
	for (size_t i = 0; i < r->n_parts; i++)
		if (strcmp(r->parts[i].account, hook->account) == 0 &&
		    r->parts[i].id == events[0]->id)
			span.skip = r->parts[i].done;
	b->body = http_webhook_batch(events, n, hook->events, d->settings.config->hostname,
				     d->cfg->batch_size, &span, &b->count, &b->len);
	b->to = span.events > 0 ? events[span.events - 1]->id : b->from;
	if (span.part > 0) {
		b->part_id = events[span.events]->id;
		b->part_done = span.part;
	}
	store_event_list_free(&events, n);
	if (b->body && hook->sign) {
		b->sign = true;
		batch_digest(b);
	}
	return b;
}

/* round_work - (worker) the webhooks that are on, each one's batch */
static void round_work(void *arg)
{
	struct dispatch_round *r = arg;
	struct store_webhook **hooks = NULL;
	size_t n = 0;
	const char *error = NULL;
	if (store_webhook_list_enabled(r->d->settings.store, &hooks, &n, &error) != 0) {
		log_error("store-failed", "op=webhook_list error=\"%s\"", error);
		return;
	}
	r->batches = xcalloc(n + 1, sizeof(*r->batches));
	for (size_t i = 0; i < n; i++) {
		bool skip = false;
		for (size_t k = 0; k < r->n_skip && !skip; k++)
			skip = strcmp(r->skip[k], hooks[i]->account) == 0;
		struct dispatch_batch *b = skip ? NULL : batch_read(r->d, hooks[i], r);
		if (b)
			r->batches[r->n++] = b;
	}
	store_webhook_list_free(&hooks, n);
}

/* round_done - (loop) post each batch; one with nothing to post is only
 * moved past */
static void round_done(void *arg)
{
	struct dispatch_round *r = arg;
	struct http_webhook_dispatcher *d = r->d;
	d->round_running = false;
	for (size_t i = 0; i < r->n; i++) {
		struct dispatch_batch *b = r->batches[i];
		struct dispatch_account *a = d->stopped ? NULL : account_get(d, b->account);
		if (!a || a->busy) {
			batch_free(b);
			continue;
		}
		a->busy = true;
		a->batch = b;
		if (b->body && b->sign)
			batch_sign(d, b);
		else if (b->body)
			batch_post(d, b, NULL);
		else
			pool_submit(d->settings.pool, batch_advance_work, batch_advance_done, b);
	}
	round_free(r);
}

static void round_free(struct dispatch_round *r)
{
	for (size_t k = 0; k < r->n_skip; k++)
		free(r->skip[k]);
	free(r->skip);
	for (size_t k = 0; k < r->n_parts; k++)
		free(r->parts[k].account);
	free(r->parts);
	free(r->batches);
	free(r);
}

/* post_settings - how every post of D goes ([webhook]) */
static struct http_webhook_post_settings post_settings(const struct http_webhook_dispatcher *d)
{
	return (struct http_webhook_post_settings){
		.timeout_ms = d->cfg->timeout * 1000u,
		.response_max = d->cfg->response_size,
		.tls = d->settings.tls,
		.dns = d->settings.dns,
	};
}

/* batch_digest - (worker) B's timestamp, now, and what is signed: SendGrid
 * verifies ECDSA over SHA-256 of the timestamp's octets then the body's */
static void batch_digest(struct dispatch_batch *b)
{
	snprintf(b->timestamp, sizeof(b->timestamp), "%lld", (long long)time(NULL));
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned int len = 0;
	if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(md, b->timestamp, strlen(b->timestamp)) != 1 ||
	    EVP_DigestUpdate(md, b->body, b->len) != 1 ||
	    EVP_DigestFinal_ex(md, b->digest, &len) != 1 || len != KEYSD_DIGEST_LEN)
		abort();
	EVP_MD_CTX_free(md);
}

/* batch_sign - (loop) the keys process signs B's digest; posted then */
static void batch_sign(struct http_webhook_dispatcher *d, struct dispatch_batch *b)
{
	struct dispatch_account *a = account_get(d, b->account);
	if (!d->settings.keys) {
		log_warn("webhook-failed", "account=%s events=%zu error=\"no keys process to sign\""
			 " failures=%u", b->account, b->count, a->failures + 1);
		batch_free(b);
		account_release(d, a, false);
		return;
	}
	struct ipc_field f[2] = { ipc_text(b->account), { b->digest, sizeof(b->digest) } };
	a->sign_call = ipc_client_call(d->settings.keys, IPC_KEYS_WEBHOOK_SIGN, 2, f,
				       batch_signed, b);
}

/* batch_signed - (loop) the signature: post with it, or retry later */
static void batch_signed(void *ctx, const struct ipc_msg *reply)
{
	struct dispatch_batch *b = ctx;
	struct http_webhook_dispatcher *d = b->d;
	struct dispatch_account *a = account_get(d, b->account);
	a->sign_call = 0;
	if (!reply || reply->type != IPC_R_OK || reply->count != 1 ||
	    reply->field[0].len == 0 || reply->field[0].len > 128) {
		char *reason = NULL;
		if (reply && reply->type != IPC_R_OK)
			(void)ipc_field_text(reply, 0, 150, &reason);
		log_warn("webhook-failed", "account=%s events=%zu error=\"not signed: %s\""
			 " failures=%u", b->account, b->count,
			 reason ? reason : reply ? "unexpected answer" : "no answer from the keys "
			 "process", a->failures + 1);
		free(reason);
		batch_free(b);
		account_release(d, a, false);
		return;
	}
	struct buf headers;
	buf_init(&headers);
	buf_append_str(&headers, "X-Twilio-Email-Event-Webhook-Signature: ");
	base64_encode(reply->field[0].data, reply->field[0].len, &headers);
	buf_printf(&headers, "\r\nX-Twilio-Email-Event-Webhook-Timestamp: %s\r\n",
		   b->timestamp);
	batch_post(d, b, headers.data);
	buf_free(&headers);
}

static void batch_post(struct http_webhook_dispatcher *d, struct dispatch_batch *b,
		       const char *headers)
{
	struct http_webhook_post_settings ps = post_settings(d);
	struct dispatch_account *a = account_get(d, b->account);
	a->post = http_webhook_post_start(d->base, &ps, &b->url, headers, b->body, b->len,
					  batch_posted, b);
}

/* test_end - T off the list, its caller answered */
static void test_end(struct dispatch_test *t, int status, const char *error)
{
	for (struct dispatch_test **pp = &t->d->tests; *pp; pp = &(*pp)->next) {
		if (*pp == t) {
			*pp = t->next;
			break;
		}
	}
	http_webhook_post_fn *done = t->done;
	void *ctx = t->ctx;
	free(t);
	done(ctx, status, error);
}

static void test_posted(void *ctx, int status, const char *error)
{
	test_end(ctx, status, error);
}

void http_webhook_dispatcher_test(struct http_webhook_dispatcher *d,
				  const struct http_webhook_url *url, http_webhook_post_fn *done,
				  void *ctx)
{
	struct store_event e = { .id = 0, .time = time(NULL), .type = (char *)"accepted",
				 .recipient = (char *)"example@test.com",
				 .queue_id = (char *)"0000000000000000" };
	struct store_event *v[] = { &e };
	size_t count, len;
	struct http_webhook_batch_span span = { 0 };
	char *body = http_webhook_batch(v, 1, 1u << HTTP_WEBHOOK_PROCESSED,
					d->settings.config->hostname, 1, &span, &count, &len);
	struct http_webhook_post_settings ps = post_settings(d);
	struct dispatch_test *t = xcalloc(1, sizeof(*t));
	t->d = d;
	t->done = done;
	t->ctx = ctx;
	t->next = d->tests;
	d->tests = t;
	t->post = http_webhook_post_start(d->base, &ps, url, NULL, body, len, test_posted, t);
	free(body);
}

/* batch_posted - (loop) 2xx: move sent_id on a worker; else retry later */
static void batch_posted(void *ctx, int status, const char *error)
{
	struct dispatch_batch *b = ctx;
	struct http_webhook_dispatcher *d = b->d;
	struct dispatch_account *a = account_get(d, b->account);
	a->post = NULL;
	if (status >= 200 && status < 300) {
		a->part_id = b->part_id;
		a->part_done = b->part_done;
		log_info("webhook-posted", "account=%s url=%s events=%zu first=%lld last=%lld"
			 " status=%d", b->account, b->url.host, b->count, (long long)b->from + 1,
			 (long long)b->to, status);
		pool_submit(d->settings.pool, batch_advance_work, batch_advance_done, b);
		return;
	}
	log_warn("webhook-failed", "account=%s url=%s events=%zu status=%d error=\"%s\""
		 " failures=%u", b->account, b->url.host, b->count, status,
		 error ? error : "not 2xx", a->failures + 1);
	batch_free(b);
	account_release(d, a, false);
}

static void batch_advance_work(void *arg)
{
	struct dispatch_batch *b = arg;
	const char *error = NULL;
	b->rc = store_webhook_advance(b->d->settings.store, b->account, b->from, b->to, &error);
	if (b->rc == STORE_NOT_FOUND)
		log_info("webhook-moved", "account=%s from=%lld error=\"%s\"", b->account,
			 (long long)b->from, error);
	else if (b->rc != 0)
		log_error("store-failed", "op=webhook_advance account=%s error=\"%s\"", b->account,
			  error);
}

/* batch_advance_done - (loop) the account may have its next batch; a
 * store that failed is retried like a failed post (the batch goes again:
 * at least once, never lost) */
static void batch_advance_done(void *arg)
{
	struct dispatch_batch *b = arg;
	struct http_webhook_dispatcher *d = b->d;
	bool ok = b->rc != -1;
	if (!d->stopped)
		account_release(d, account_get(d, b->account), ok);
	batch_free(b);
}

static void batch_free(struct dispatch_batch *b)
{
	if (!b)
		return;
	free(b->account);
	free(b->body);
	free(b);
}

/* key_end - K off the list, its caller answered */
static void key_end(struct key_call *k, const void *spki, size_t len, const char *error)
{
	for (struct key_call **pp = &k->d->key_calls; *pp; pp = &(*pp)->next) {
		if (*pp == k) {
			*pp = k->next;
			break;
		}
	}
	http_webhook_key_fn *done = k->done;
	void *ctx = k->ctx;
	free(k);
	done(ctx, spki, len, error);
}

/* key_reply - (loop) the answer to http_webhook_dispatcher_key */
static void key_reply(void *ctx, const struct ipc_msg *reply)
{
	struct key_call *k = ctx;
	if (reply && reply->type == IPC_R_OK && reply->count == 1 && reply->field[0].len > 0)
		key_end(k, reply->field[0].data, reply->field[0].len, NULL);
	else
		key_end(k, NULL, 0, reply ? "the keys process has no key for it" :
			"no answer from the keys process");
}

void http_webhook_dispatcher_key(struct http_webhook_dispatcher *d, const char *account,
				 http_webhook_key_fn *done, void *ctx)
{
	struct key_call *k = xcalloc(1, sizeof(*k));
	k->d = d;
	k->done = done;
	k->ctx = ctx;
	k->next = d->key_calls;
	d->key_calls = k;
	if (!d->settings.keys || d->stopped) {
		key_reply(k, NULL);
		return;
	}
	struct ipc_field f = ipc_text(account);
	k->call = ipc_client_call(d->settings.keys, IPC_KEYS_WEBHOOK_KEY, 1, &f, key_reply, k);
}
