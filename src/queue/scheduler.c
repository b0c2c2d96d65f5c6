/* queue/scheduler - delivery attempts, retries, expiry, bounces and the
 * administrator's queue operations.
 *
 * One attempt of one message goes through three phases:
 *   A (worker)  read the message if needed; drop the recipients on the
 *               sending account's suppression lists (one store statement;
 *               final, no DSN, a "dropped" event in C); keep a sandboxed
 *               account's mail in its test Maildir; deliver local
 *               recipients to Maildirs, but for an account homed on another
 *               node (the store's home_node, docs/scaling.md) note that node
 *               instead; note which recipients are remote.  The Maildir
 *               files are written, then the job waits (holding no worker)
 *               for a sync shared with every other attempt and accepted
 *               message, links them into new/, waits for the next sync,
 *               and only then marks those recipients delivered
 *               (local.h's steps): under load a few syncs cover many
 *               messages' deliveries.
 *   B (loop)    group the remote recipients by domain, and those for another
 *               node by node, and hand each group to delivery/ (MX lookup or
 *               the node's [cluster] mail address, SMTP); wait for every
 *               group's result.
 *   C (worker)  expire what has waited longer than queue.lifetime; write the
 *               bounce (failed recipients) and the one delay notice as new
 *               messages from <> (fsync'ed, like any message); then record
 *               the recipients' new states in the message's log (after
 *               its body) and move it to defer/<T>/ when it waits for a
 *               retry, or remove it when every recipient is done.  A failed recipient
 *               is recorded only once its bounce is durable: when the
 *               bounce cannot be written (disk full, I/O error) the message
 *               stays, its failed recipients owe a bounce (in memory), and
 *               the next attempt, on the retry schedule, writes it again.
 *               A recipient the remote server refused with a 5xx goes on the
 *               account's bounces list, or its blocks list when the refusal
 *               is about the sender or the message (5.7.X: store_suppression_add).
 * A message without remote recipients runs A and C in one worker job.
 *
 * Scheduled mail (the envelope's send_at, the HTTP API's send_at): phase A
 * of a message whose time has not come moves it to defer/<send_at>/ and
 * does nothing else, so the loader brings it back at that time, across
 * restarts; `queue flush` therefore never sends it early.  Its lifetime,
 * delay notice and retry schedule count from send_at (message_start).
 *
 * Retries: a message with deferred recipients is tried again after
 * queue.retry_initial seconds, doubling each time up to queue.retry_max, and
 * no later than its expiry (retry_delay_at: its age plus retry_initial, so
 * nothing to count); it waits in defer/<T>/, T being that time, across
 * restarts, and is tried where it is.  Delivered recipients are never tried
 * again: their state is in the message's log before the next attempt.
 *
 * A file that cannot be read (I/O error, cut short, failed checksum) is
 * retried on the same schedule, counted in msg->read_failures; after
 * queue.unreadable_attempts, or once older than queue.lifetime, it moves to
 * queue/corrupt/ (attempt_unreadable) and leaves the queue.
 *
 * Bounces never bounce: a failure of mail from <> is logged and dropped, or
 * sent to the postmaster (queue.double_bounce_to_postmaster).
 *
 * Homes: mail that another node relayed here (it came in on the listener of
 * [cluster] mail) is never relayed on: a recipient homed elsewhere by then
 * is deferred, not sent back, so no two nodes can pass a message to and
 * fro.  A home node that is stopped, stale or without a mail address
 * defers its recipients (4.4.x), retried like any deferral.
 */
#include "queue/queue-int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/event.h>

#include "config/config.h"
#include "delivery/delivery.h"
#include "local/local.h"
#include "mailbox/mailbox.h"
#include "message/message.h"
#include "store/store.h"
#include "util/log.h"
#include "util/pool.h"
#include "util/xalloc.h"
#include "wire/wire.h"

#define QUEUE_DSN_MAX 2  /* a bounce and a delay notice from one attempt */

struct queue_attempt {
	struct queue *queue;
	struct queue_msg *msg;
	char id[QUEUE_ID_LEN + 1];
	struct spool_loc loc;           /* where its file is (moved by phase C) */
	struct queue_envelope *env;
	struct buf body;
	bool body_loaded;
	bool admin_bounce;              /* `queue bounce`: fail what is left */
	struct timespec started;        /* CLOCK_MONOTONIC, for attempt_seconds */
	/* phase A */
	const char *error;              /* the message could not be read */
	unsigned read_failures;         /* the message's, before this attempt */
	bool vanished;                  /* its file is gone (deleted by hand) */
	bool relocated;                 /* ... from loc, but elsewhere now: loc says where */
	bool deferred;                  /* phase C moved it to defer/<T>/ (loc) */
	bool moved;                     /* unreadable too long: now in queue/corrupt/ */
	bool held;                      /* its log says held: no attempt */
	size_t nrcpt;                   /* recipients, for the arrays below */
	enum queue_rcpt_state *before;  /* states when the attempt began */
	bool *remote;                   /* per recipient: goes through delivery/ */
	struct store_node **home;       /* per recipient: the other node it is relayed
					   to (its account's home), or NULL */
	const char **dropped;           /* per recipient: on a suppression list of the
					   account, SendGrid's reason ("Bounced
					   Address"), or NULL */
	char **mta;                     /* per recipient: the host that answered */
	size_t remote_count;
	/* per recipient: its Maildir delivery between its steps (local.h), or
	 * NULL; all of them wait for the same syncs */
	struct local_delivery **local;
	size_t local_count;
	int sync_err;                   /* the last of those syncs (pool_then_sync) */
	bool finished;                  /* phase C already ran (no remote part) */
	/* phase B */
	unsigned groups_pending;
	/* phase C */
	bool removed;
	bool retry;
	struct queue_envelope *dsn_env[QUEUE_DSN_MAX];
	struct buf dsn_body[QUEUE_DSN_MAX];
	size_t dsn_count;
};

struct queue_group {
	struct queue_attempt *attempt;
	const struct store_node *home;  /* the node they are relayed to, or NULL */
	struct delivery_relay route;    /* its [cluster] mail address */
	char route_host[64];
	size_t *index;                  /* recipients of this domain (or node) */
	struct delivery_recipient *rcpts;
	size_t count;
	struct delivery_message message;
};

struct queue_op_job {
	struct queue_op_job *next;      /* in queue->disk_ops (on disk only) */
	struct queue *queue;
	enum queue_op op;
	char id[QUEUE_ID_LEN + 1];
	struct spool_loc loc;           /* where its file is; where it went */
	queue_op_cb *cb;
	void *ctx;
	const char *error;
	bool hold;
	/* not in memory: found on disk by the worker */
	bool on_disk;
	int status;                     /* 1: no such message; -1 with text */
	const char *text;
};

static void queue_retry_cb(evutil_socket_t fd, short what, void *arg);
static void queue_attempt_start(struct queue *queue, struct queue_msg *msg, bool admin_bounce);
static void attempt_local_work(void *arg);
static void attempt_local_link_work(void *arg);
static void attempt_local_record_work(void *arg);
static void attempt_local_end(struct queue_attempt *a);
static void attempt_local_failed(struct queue_attempt *a, size_t i, bool temporary,
				 const char *error);
static void attempt_local_done(void *arg);
static void attempt_remote_start(struct queue_attempt *a);
static void attempt_group_done(void *ctx, const struct delivery_result *result);
static void attempt_finish_work(void *arg);
static void attempt_finish_done(void *arg);
static void attempt_finish_blocking(struct queue_attempt *a);
static void notice_sign(struct queue *queue, struct queue_envelope *dsn, struct buf *body);
static void attempt_complete(struct queue_attempt *a);
static void attempt_free(struct queue_attempt *a);
static bool attempt_load(struct queue_attempt *a);
static void attempt_unreadable(struct queue_attempt *a);
static void attempt_deliver_local(struct queue_attempt *a, size_t i);
static void attempt_route_local(struct queue_attempt *a, size_t i, struct store_node *home);
static void attempt_defer_local(struct queue_attempt *a, size_t i, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static bool attempt_is_from_node(const struct queue_attempt *a);
static bool home_is_down(const struct config *config, const struct store_node *home,
			 char *why, size_t size);
static bool home_address_split(const char *address, char *host, size_t size,
			       unsigned *port_r);
static bool rcpt_same_route(const struct queue_attempt *a, size_t i, size_t j);
static void attempt_deliver_sandbox(struct queue_attempt *a);
static void attempt_write_dsns(struct queue_attempt *a, bool written[QUEUE_DSN_MAX]);
static int attempt_drop_suppressed(struct queue_attempt *a, const char **error_r);
static void rcpt_defer_store(struct queue_attempt *a, size_t i, const char *what,
			     const char *error);
static void suppress_hard_bounce(struct queue *queue, const struct queue_envelope *env,
				 const struct queue_recipient *r);
static int queue_address_is_local(struct queue *queue, const char *address,
				  struct store_node **home_r, const char **error_r);
static void queue_event(struct queue *queue, const char *type, const struct queue_envelope *env,
			const char *recipient, int code, const char *reason);
static void rcpt_set(struct queue_recipient *r, enum queue_rcpt_state state, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static bool rcpt_is_final(const struct queue_recipient *r);
static int reply_code(const char *reply);
static void queue_ready_remove(struct queue *queue, struct queue_msg *msg);
static void queue_op_work(void *arg);
static bool notify_allows(unsigned notify, unsigned what);
static time_t retry_delay(const struct config *config, unsigned n);
static time_t retry_delay_at(const struct config *config, time_t arrival, time_t now);
static time_t message_start(const struct queue_envelope *env);
static void attempt_schedule(struct queue_attempt *a);
static void queue_op_done(void *arg);

/* ---- the FIFO and timers ------------------------------------------------- */

/* queue_msg_ready - wait in the FIFO for a delivery slot */
void queue_msg_ready(struct queue *queue, struct queue_msg *msg)
{
	msg->state = QUEUE_MSG_READY;
	msg->ready_next = NULL;
	if (queue->ready_tail)
		queue->ready_tail->ready_next = msg;
	else
		queue->ready_head = msg;
	queue->ready_tail = msg;
}

/* queue_ready_remove - take MSG out of the FIFO (administration only) */
static void queue_ready_remove(struct queue *queue, struct queue_msg *msg)
{
	struct queue_msg **link = &queue->ready_head, *prev = NULL;
	while (*link && *link != msg) {
		prev = *link;
		link = &(*link)->ready_next;
	}
	if (!*link)
		return;
	*link = msg->ready_next;
	if (queue->ready_tail == msg)
		queue->ready_tail = prev;
	msg->ready_next = NULL;
	msg->state = QUEUE_MSG_WAITING;
}

void queue_msg_cancel_retry(struct queue_msg *msg)
{
	if (msg->retry_ev) {
		event_free(msg->retry_ev);
		msg->retry_ev = NULL;
	}
}

void queue_msg_retry_at(struct queue *queue, struct queue_msg *msg, time_t when)
{
	time_t now = time(NULL);
	msg->state = QUEUE_MSG_WAITING;
	msg->next_attempt = when;
	struct timeval tv = { when > now ? when - now : 0, 0 };
	if (!msg->retry_ev)
		msg->retry_ev = evtimer_new(queue->base, queue_retry_cb, msg);
	if (!msg->retry_ev || evtimer_add(msg->retry_ev, &tv) != 0)
		log_error("queue_retry", "queue_id=%s error=\"cannot arm the retry timer\"",
			  msg->id);
	else
		log_debug("retry", "queue_id=%s in=%lld", msg->id, (long long)tv.tv_sec);
}

static void queue_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct queue_msg *msg = arg;
	struct queue *queue = msg->queue;
	(void)fd;
	(void)what;
	if (queue->stopping || msg->held || msg->state != QUEUE_MSG_WAITING)
		return;
	queue_msg_ready(queue, msg);
	queue_deliveries_start(queue);
}

/* queue_deliveries_start - fill the free delivery slots from the FIFO, and
 * let the loader fill the room in memory */
void queue_deliveries_start(struct queue *queue)
{
	queue_load_next(queue);
	while (!queue->stopping && queue->active < queue->max_active && queue->ready_head) {
		struct queue_msg *msg = queue->ready_head;
		queue->ready_head = msg->ready_next;
		if (!queue->ready_head)
			queue->ready_tail = NULL;
		msg->ready_next = NULL;
		queue_attempt_start(queue, msg, false);
	}
}

/* queue_attempt_start - phase A on the pool */
static void queue_attempt_start(struct queue *queue, struct queue_msg *msg, bool admin_bounce)
{
	msg->state = QUEUE_MSG_DELIVERING;
	struct queue_attempt *a = xcalloc(1, sizeof(*a));
	a->queue = queue;
	a->msg = msg;
	a->admin_bounce = admin_bounce;
	clock_gettime(CLOCK_MONOTONIC, &a->started);
	a->read_failures = msg->read_failures;
	memcpy(a->id, msg->id, sizeof(a->id));
	a->loc = msg->loc;
	a->env = msg->env;
	msg->env = NULL;
	if (msg->body_loaded)
		queue->body_bytes -= msg->body.len;
	a->body = msg->body;
	buf_init(&msg->body);
	a->body_loaded = msg->body_loaded;
	msg->body_loaded = false;
	queue->active++;
	queue->jobs++;
	pool_submit(queue->pool, attempt_local_work, attempt_local_done, a);
}

/* ---- helpers ------------------------------------------------------------- */

static void rcpt_set(struct queue_recipient *r, enum queue_rcpt_state state, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *text = NULL;
	if (vasprintf(&text, fmt, ap) < 0)
		abort();
	va_end(ap);
	r->state = state;
	free(r->last_reply);
	r->last_reply = text;
}

static bool rcpt_is_final(const struct queue_recipient *r)
{
	return r->state == QUEUE_RCPT_DELIVERED || r->state == QUEUE_RCPT_FAILED;
}

/* reply_code - the 3-digit code a "NNN ..." reply starts with, or 0 */
static int reply_code(const char *reply)
{
	if (!reply || strlen(reply) < 3)
		return 0;
	for (int i = 0; i < 3; i++)
		if (reply[i] < '0' || reply[i] > '9')
			return 0;
	return atoi(reply);
}

/* queue_address_is_local - (worker) 1 if the domain after the last '@' is
 * one of ours (in the config, or added with `petrel domain add`), 0 if not,
 * -1 and *error_r if the store cannot tell: the caller defers, since
 * guessing "remote" would send local mail to the domain's MX.  On
 * PostgreSQL, *HOME_R = the home node of the account ADDRESS names (or
 * NULL), read in the same statement as the domain: homes mean something
 * only in a store the nodes share, and every attempt reads them afresh. */
static int queue_address_is_local(struct queue *queue, const char *address,
				  struct store_node **home_r, const char **error_r)
{
	*home_r = NULL;
	const char *at = strrchr(address, '@');
	if (!at || at[1] == '\0' || at[1] == '[')
		return 0;
	bool config_local = config_is_local_domain(queue->config, at + 1);
	bool exists = false;
	int rc = 0;
	if (!queue->store)
		return config_local ? 1 : 0;
	if (queue->config->store.backend == STORE_BACKEND_POSTGRESQL)
		rc = store_address_route(queue->store, address, &exists, home_r, error_r);
	else if (!config_local)
		rc = store_domain_exists(queue->store, at + 1, &exists, error_r);
	if (rc != 0) {
		log_error("store-failed", "op=address_route error=\"%s\"", *error_r);
		return -1;
	}
	if (!config_local && !exists)
		store_node_free(home_r);  /* an account of a domain no longer ours */
	return config_local || exists ? 1 : 0;
}

/* queue_event - (worker) record an event for the account that sent ENV */
static void queue_event(struct queue *queue, const char *type, const struct queue_envelope *env,
			const char *recipient, int code, const char *reason)
{
	if (strcmp(type, "delivered") == 0)
		atomic_fetch_add(&queue->delivered, 1);
	else if (strcmp(type, "deferred") == 0)
		atomic_fetch_add(&queue->deferred, 1);
	else if (strcmp(type, "bounced") == 0)
		atomic_fetch_add(&queue->bounced, 1);
	if (!queue->events)
		return;
	struct store_event ev = {
		.time = time(NULL),
		.type = (char *)type,
		.account = env->account,
		.queue_id = (char *)env->id,
		.recipient = (char *)recipient,
		.code = code,
		.reason = (char *)reason,
	};
	store_events_post(queue->events, &ev);
}

/* ---- phase A: local ------------------------------------------------------- */

/* attempt_load - (worker) read the message from the spool if not in memory */
static bool attempt_load(struct queue_attempt *a)
{
	if (a->env && a->body_loaded)
		return true;
	struct queue_envelope *env;
	buf_reset(&a->body);
	env = spool_read_message(a->queue->spool, &a->loc, a->id, a->queue->file_max, &a->body,
				 &a->error);
	if (!env)
		return false;
	if (a->env)
		queue_envelope_free(&env);  /* the one in memory is newer */
	else
		a->env = env;
	a->body_loaded = true;
	return true;
}

/* attempt_unreadable - (worker) the file could not be read or failed its
 * checks: gone means forget it; after queue.unreadable_attempts failures, or
 * once older than queue.lifetime (it can never be delivered in time, and
 * its sender cannot be told), move it aside to queue/corrupt/ */
static void attempt_unreadable(struct queue_attempt *a)
{
	const struct config *config = a->queue->config;
	const char *error = NULL;
	time_t age = 0;
	int r = spool_file_age(a->queue->spool, &a->loc, a->id, time(NULL), &age, &error);
	if (r > 0) {
		/* moved meanwhile (held, released, or named by a pass over a
		 * folder it had left: see queue.c's loader), or deleted */
		struct spool_loc loc;
		if (spool_locate(a->queue->spool, a->id, &loc, &error) == 0) {
			a->relocated = true;
			a->loc = loc;
		}
		a->vanished = true;
		return;
	}
	if (r == 0 && a->read_failures + 1 < config->queue.unreadable_attempts &&
	    age < (time_t)config->queue.lifetime)
		return;
	if (spool_move_corrupt(a->queue->spool, &a->loc, a->id, &error) != 0) {
		log_error("queue_corrupt", "queue_id=%s error=\"%s\" action=\"left in place\"",
			  a->id, error);
		return;
	}
	a->moved = true;
	log_error("queue_corrupt", "queue_id=%s error=\"%s\" failures=%u age=%lld "
		  "moved_to=queue/" SPOOL_CORRUPT_DIR "/%s", a->id, a->error, a->read_failures + 1,
		  (long long)age, a->id);
}

/* attempt_deliver_sandbox - (worker) a sandboxed account's message is kept
 * once in its test Maildir and never relayed: every recipient is done */
static void attempt_deliver_sandbox(struct queue_attempt *a)
{
	struct queue *queue = a->queue;
	struct queue_envelope *env = a->env;
	struct buf rcpts;
	buf_init(&rcpts);
	for (size_t i = 0; i < env->rcpt_count; i++)
		buf_printf(&rcpts, "%s%s", i ? ", " : "", env->rcpts[i].address);
	char *file = NULL;
	bool temporary = true;
	const char *error = NULL;
	int rc = local_deliver_sandbox_blocking(queue->mail_syncer,
						queue->config->queue.local_sync_delay,
						queue->config->data_dir, queue->config->hostname,
						env->sender, env->account ? env->account : "unknown",
						rcpts.data ? rcpts.data : "",
						a->body.data ? a->body.data : "", a->body.len,
						&file, &temporary, &error);
	for (size_t i = 0; i < env->rcpt_count; i++) {
		struct queue_recipient *r = &env->rcpts[i];
		if (rcpt_is_final(r))
			continue;
		if (rc == 0) {
			rcpt_set(r, QUEUE_RCPT_DELIVERED, "250 2.0.0 kept in the sandbox, not relayed");
			queue_event(queue, "sandboxed", env, r->address, 250, file);
		} else if (temporary) {
			rcpt_set(r, QUEUE_RCPT_DEFERRED, "451 4.2.0 sandbox: %s", error);
		} else {
			rcpt_set(r, QUEUE_RCPT_FAILED, "550 5.2.0 sandbox: %s", error);
		}
	}
	if (rc == 0) {
		log_info("sandboxed", "queue_id=%s account=%s file=%s", a->id,
			 env->account ? env->account : "-", file);
		/* a folder of the account's mailbox: IMAP sessions see it now */
		mailbox_notify_new(file);
	}
	else
		log_warn("deferred", "queue_id=%s account=%s reason=\"%s\"", a->id,
			 env->account ? env->account : "-", error);
	free(file);
	buf_free(&rcpts);
}

/* attempt_deliver_local - (worker) recipient I into its Maildir: its
 * quota checked, then the file written (the first step) */
static void attempt_deliver_local(struct queue_attempt *a, size_t i)
{
	struct queue *queue = a->queue;
	struct queue_envelope *env = a->env;
	struct queue_recipient *r = &env->rcpts[i];
	char to[256];
	bool temporary = true;
	const char *error = NULL;

	log_escape(to, sizeof(to), r->address, strlen(r->address));
	/* A mailbox over its quota (the account's plan, [mailbox]
	 * quota_default) is full for now: RFC 3463 3.3's 4.2.2, retried
	 * until the queue's lifetime, then bounced like any deferral.  A
	 * quota that cannot be read is a local fault (4.3.0), retried too.
	 * SMTP refused most of these before the 250 (smtp/cmd-mail.c); this
	 * catches the mailbox that filled up since, and aliases' targets. */
	struct mailbox_error qerr;
	/* the file's size: the message and the two fields delivery adds (local.h) */
	uint64_t bytes = a->body.len + sizeof("Return-Path: <>\r\nDelivered-To: \r\n") - 1 +
			 (env->sender ? strlen(env->sender) : 0) + strlen(r->address);
	if (mailbox_quota_check(queue->config->data_dir, r->address, bytes, 1, &qerr) != 0 &&
	    (qerr.code == MAILBOX_ERROR_OVERQUOTA || qerr.code == MAILBOX_ERROR_TEMPORARY)) {
		bool full = qerr.code == MAILBOX_ERROR_OVERQUOTA;
		if (full)
			rcpt_set(r, QUEUE_RCPT_DEFERRED, "452 4.2.2 Mailbox full: over its quota");
		else
			rcpt_set(r, QUEUE_RCPT_DEFERRED, "451 4.3.0 Cannot read the mailbox quota");
		queue_event(queue, "deferred", env, r->address, full ? 452 : 451, r->last_reply);
		log_info("deferred", "queue_id=%s to=%s reason=\"%s\"", a->id, to,
			 full ? "over quota" : qerr.text);
		return;
	}
	/* DMARC's quarantine (smtp/verify.c) delivers to the Junk folder;
	 * the file is durable, and the recipient delivered, only once the
	 * attempt's later steps are (attempt_local_link_work) */
	a->local[i] = local_delivery_write(queue->mail_syncer, queue->config->data_dir,
					   queue->config->hostname, env->sender, r->address,
					   env->junk ? LOCAL_JUNK_FOLDER : NULL,
					   a->body.data ? a->body.data : "", a->body.len,
					   &temporary, &error);
	if (a->local[i])
		a->local_count++;
	else
		attempt_local_failed(a, i, temporary, error);
}

/* attempt_local_failed - (worker) recipient I's Maildir delivery failed */
static void attempt_local_failed(struct queue_attempt *a, size_t i, bool temporary,
				 const char *error)
{
	struct queue_recipient *r = &a->env->rcpts[i];
	char to[256], why[256];
	log_escape(to, sizeof(to), r->address, strlen(r->address));
	if (temporary)
		rcpt_set(r, QUEUE_RCPT_DEFERRED, "451 4.2.0 %s", error);
	else
		rcpt_set(r, QUEUE_RCPT_FAILED, "550 5.1.1 %s", error);
	if (temporary)
		queue_event(a->queue, "deferred", a->env, r->address, 451, r->last_reply);
	log_escape(why, sizeof(why), error, strlen(error));
	log_info(temporary ? "deferred" : "failed", "queue_id=%s to=%s reason=%s", a->id, to, why);
}

/* attempt_local_delivered - (worker) recipient I is in FILE, durably */
static void attempt_local_delivered(struct queue_attempt *a, size_t i, const char *file)
{
	struct queue_envelope *env = a->env;
	struct queue_recipient *r = &env->rcpts[i];
	char to[256], why[256];
	rcpt_set(r, QUEUE_RCPT_DELIVERED, "250 2.0.0 delivered to mailbox");
	log_escape(to, sizeof(to), r->address, strlen(r->address));
	log_escape(why, sizeof(why), file, strlen(file));
	log_info("delivered", "queue_id=%s to=%s mailbox=local%s file=%s delay=%lld",
		 a->id, to, env->junk ? " folder=" LOCAL_JUNK_FOLDER : "", why,
		 (long long)(time(NULL) - env->arrival));
	/* sessions that have the folder open see it now (IDLE) */
	mailbox_notify_new(file);
	queue_event(a->queue, "delivered", env, r->address, 250, "local mailbox");
}

/* attempt_local_link_work - (worker) the Maildir files written in phase A
 * are durable (one sync for them all, and for whatever else was written
 * meanwhile): link them into new/, then wait for one more sync */
static void attempt_local_link_work(void *arg)
{
	struct queue_attempt *a = arg;
	for (size_t i = 0; i < a->nrcpt; i++) {
		bool temporary = true;
		const char *error = NULL;
		if (a->local[i] && local_delivery_link(&a->local[i], a->queue->mail_syncer,
						       a->sync_err, &temporary, &error) != 0) {
			a->local_count--;
			attempt_local_failed(a, i, temporary, error);
		}
	}
	if (a->local_count > 0) {
		pool_then_sync_lazy(a->queue->mail_syncer,
				    a->queue->config->queue.local_sync_delay,
				    attempt_local_record_work, &a->sync_err);
		return;
	}
	attempt_local_end(a);
}

/* attempt_local_record_work - (worker) their new/ entries are durable:
 * the recipients are delivered; phase A goes on */
static void attempt_local_record_work(void *arg)
{
	struct queue_attempt *a = arg;
	for (size_t i = 0; i < a->nrcpt; i++) {
		if (!a->local[i])
			continue;
		char *file = NULL;
		bool temporary = true;
		const char *error = NULL;
		if (local_delivery_finish(&a->local[i], a->sync_err, &file, &temporary,
					  &error) == 0)
			attempt_local_delivered(a, i, file);
		else
			attempt_local_failed(a, i, temporary, error);
		free(file);
	}
	a->local_count = 0;
	attempt_local_end(a);
}

/* attempt_defer_local - (worker) recipient I waits for a retry, for the
 * reason FMT says ("451 4.x.x ..."): recorded, logged and an event */
static void attempt_defer_local(struct queue_attempt *a, size_t i, const char *fmt, ...)
{
	struct queue_recipient *r = &a->env->rcpts[i];
	char text[512], to[256], why[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	rcpt_set(r, QUEUE_RCPT_DEFERRED, "%s", text);
	queue_event(a->queue, "deferred", a->env, r->address, reply_code(text), text);
	log_escape(to, sizeof(to), r->address, strlen(r->address));
	log_escape(why, sizeof(why), text, strlen(text));
	log_info("deferred", "queue_id=%s to=%s reason=%s", a->id, to, why);
}

/* attempt_is_from_node - the message came in on the listener of [cluster]
 * mail: another node relayed it here */
static bool attempt_is_from_node(const struct queue_attempt *a)
{
	const struct config *config = a->queue->config;
	const struct config_listener *l = config_listener_named(config, a->env->listener);
	return l && config_listener_is_cluster_mail(config, l);
}

/* home_is_down - HOME cannot take mail now (stopped, forgotten, or silent
 * for [server] node_stale_after): true with the reason in WHY */
static bool home_is_down(const struct config *config, const struct store_node *home,
			 char *why, size_t size)
{
	if (home->age < 0)
		snprintf(why, size, "the store no longer knows it (`petrel nodes forget`)");
	else if (home->stopped)
		snprintf(why, size, "it is stopped");
	else if (home->age >= (int64_t)config->node_stale_after)
		snprintf(why, size, "it has not reported for %lld s", (long long)home->age);
	else
		return false;
	return true;
}

/* home_address_split - "IPv4:PORT" or "[IPv6]:PORT" (as [cluster] mail is
 * written) into HOST (brackets kept: delivery/ reads them) and *PORT_R */
static bool home_address_split(const char *address, char *host, size_t size,
			       unsigned *port_r)
{
	const char *colon = address ? strrchr(address, ':') : NULL;
	if (!colon || colon == address || (size_t)(colon - address) >= size)
		return false;
	char *end = NULL;
	unsigned long port = strtoul(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end != '\0' || port == 0 || port > 65535)
		return false;
	memcpy(host, address, (size_t)(colon - address));
	host[colon - address] = '\0';
	*port_r = (unsigned)port;
	return true;
}

/* attempt_route_local - (worker) local recipient I: into its Maildir here,
 * or, when its account is homed on another node (HOME, taken over), to that
 * node in phase B (a recipient with no account, or no home, is delivered
 * here) */
static void attempt_route_local(struct queue_attempt *a, size_t i, struct store_node *home)
{
	const struct config *config = a->queue->config;
	char why[128], host[64];
	unsigned port = 0;
	if (!home || strcasecmp(home->name, config->node) == 0) {
		attempt_deliver_local(a, i);
	} else if (attempt_is_from_node(a)) {
		attempt_defer_local(a, i, "451 4.4.6 not relayed to home node %s: this message came"
				    " from another node, and mail relayed between nodes is not"
				    " relayed on", home->name);
	} else if (home_is_down(config, home, why, sizeof(why))) {
		attempt_defer_local(a, i, "451 4.4.1 not relayed to home node %s: %s", home->name,
				    why);
	} else if (!home_address_split(home->mail_address, host, sizeof(host), &port)) {
		attempt_defer_local(a, i, "451 4.4.4 not relayed to home node %s: it has no"
				    " [cluster] mail address", home->name);
	} else {
		a->home[i] = home;
		home = NULL;
		a->remote[i] = true;
		a->remote_count++;
	}
	store_node_free(&home);
}

/* rcpt_defer_store - (worker) recipient I deferred for a store failure:
 * RFC 3463 4.3.0, a local system fault, retried later */
static void rcpt_defer_store(struct queue_attempt *a, size_t i, const char *what,
			     const char *error)
{
	struct queue_recipient *r = &a->env->rcpts[i];
	char to[256];
	rcpt_set(r, QUEUE_RCPT_DEFERRED, "451 4.3.0 %s: %s", what, error);
	log_escape(to, sizeof(to), r->address, strlen(r->address));
	log_info("deferred", "queue_id=%s to=%s reason=\"store unavailable\"", a->id, to);
	queue_event(a->queue, "deferred", a->env, r->address, 451, r->last_reply);
}

const char *queue_drop_reason(enum store_suppression_list list)
{
	static const char *const reasons[STORE_SUPPRESSION_LISTS] = {
		[STORE_SUPPRESSION_BOUNCES] = "Bounced Address",
		[STORE_SUPPRESSION_BLOCKS] = "Blocked Address",
		[STORE_SUPPRESSION_UNSUBSCRIBES] = "Unsubscribed Address",
		[STORE_SUPPRESSION_SPAM_REPORTS] = "Spam Reporting Address",
	};
	return (unsigned)list < STORE_SUPPRESSION_LISTS ? reasons[list] : NULL;
}

/* attempt_drop_suppressed - (worker) the recipients not done yet that are
 * on a suppression list of the account that sent the message (one store
 * statement for all of them): final, not sent, and no DSN (phase C logs
 * them as dropped); -1 and *error_r when the store cannot tell */
static int attempt_drop_suppressed(struct queue_attempt *a, const char **error_r)
{
	struct queue_envelope *env = a->env;
	if (!env->account || !a->queue->store || env->rcpt_count == 0)
		return 0;
	const char **emails = xcalloc(env->rcpt_count, sizeof(*emails));
	size_t *index = xcalloc(env->rcpt_count, sizeof(*index));
	int *lists = xcalloc(env->rcpt_count, sizeof(*lists));
	size_t n = 0;
	for (size_t i = 0; i < env->rcpt_count; i++) {
		if (!rcpt_is_final(&env->rcpts[i])) {
			index[n] = i;
			emails[n++] = env->rcpts[i].address;
		}
	}
	int rc = store_suppression_match(a->queue->store, env->account, emails, n, lists,
					 error_r);
	if (rc != 0)
		log_error("store-failed", "op=suppression_match queue_id=%s error=\"%s\"", a->id,
			  *error_r);
	for (size_t k = 0; rc == 0 && k < n; k++) {
		if (lists[k] < 0)
			continue;
		struct queue_recipient *r = &env->rcpts[index[k]];
		enum store_suppression_list list = (enum store_suppression_list)lists[k];
		a->dropped[index[k]] = queue_drop_reason(list);
		rcpt_set(r, QUEUE_RCPT_FAILED, "550 5.7.1 not sent: on the sender's %s list (%s)",
			 store_suppression_list_name(list), queue_drop_reason(list));
	}
	free(emails);
	free(index);
	free(lists);
	return rc == 0 ? 0 : -1;
}

/* suppress_hard_bounce - (worker) R, refused for good by its remote server,
 * goes on a list of the account that sent ENV, with the reply and its
 * enhanced status code: blocks for a refusal of the sender, the message or
 * a policy (queue_reply_is_block), else bounces */
static void suppress_hard_bounce(struct queue *queue, const struct queue_envelope *env,
				 const struct queue_recipient *r)
{
	char status[16] = "";
	const char *reply = r->last_reply;
	if (strlen(reply) > 4)
		(void)wire_enhanced_parse(reply + 4, strlen(reply + 4), status);
	struct store_suppression entry = {
		.list = queue_reply_is_block(reply) ? STORE_SUPPRESSION_BLOCKS
						    : STORE_SUPPRESSION_BOUNCES,
		.email = r->address,
		.reason = (char *)reply,
		.status = status,
	};
	const char *error = NULL;
	if (store_suppression_add(queue->store, env->account, &entry, &error) != 0)
		log_error("store-failed", "op=suppression_add queue_id=%s error=\"%s\"", env->id,
			  error);
}

/* message_start - when ENV's time in the queue began: its send_at if it
 * was scheduled, else its arrival */
static time_t message_start(const struct queue_envelope *env)
{
	return env->send_at > env->arrival ? env->send_at : env->arrival;
}

/* attempt_schedule - (worker) a message whose send_at has not come waits
 * in defer/<send_at>/; nothing else is done */
static void attempt_schedule(struct queue_attempt *a)
{
	struct spool_loc to = { SPOOL_DEFER, (long long)a->env->send_at };
	const char *error = NULL;
	a->finished = true;
	if (spool_move(a->queue->spool, a->id, &a->loc, &to, &error) != 0) {
		log_error("queue_move", "queue_id=%s error=\"%s\"", a->id, error);
		a->retry = true;
		a->env->next_attempt = a->env->send_at;
		return;
	}
	a->loc = to;
	a->deferred = true;
	log_debug("scheduled", "queue_id=%s send_at=%lld", a->id, (long long)a->env->send_at);
}

/* attempt_local_work - (worker) phase A, and C too when nothing is remote */
static void attempt_local_work(void *arg)
{
	struct queue_attempt *a = arg;
	if (!attempt_load(a)) {
		attempt_unreadable(a);
		return;
	}
	struct queue_envelope *env = a->env;
	if (env->held && !a->admin_bounce) {
		/* held, but not in hold/ (a rename lost in a crash) */
		struct spool_loc hold = { SPOOL_HOLD, 0 };
		const char *error = NULL;
		a->held = true;
		if (a->loc.folder != SPOOL_HOLD) {
			if (spool_move(a->queue->spool, a->id, &a->loc, &hold, &error) == 0)
				a->loc = hold;
			else
				log_error("queue_move", "queue_id=%s error=\"%s\"", a->id, error);
		}
		return;
	}
	if (env->send_at > time(NULL) && !a->admin_bounce) {
		attempt_schedule(a);
		return;
	}
	a->nrcpt = env->rcpt_count;
	a->before = xcalloc(env->rcpt_count ? env->rcpt_count : 1, sizeof(*a->before));
	a->remote = xcalloc(env->rcpt_count ? env->rcpt_count : 1, sizeof(*a->remote));
	a->mta = xcalloc(env->rcpt_count ? env->rcpt_count : 1, sizeof(*a->mta));
	a->home = xcalloc(env->rcpt_count ? env->rcpt_count : 1, sizeof(*a->home));
	a->dropped = xcalloc(env->rcpt_count ? env->rcpt_count : 1, sizeof(*a->dropped));
	a->local = xcalloc(env->rcpt_count ? env->rcpt_count : 1, sizeof(*a->local));
	for (size_t i = 0; i < env->rcpt_count; i++)
		a->before[i] = env->rcpts[i].state;

	if (a->admin_bounce) {
		for (size_t i = 0; i < env->rcpt_count; i++)
			if (!rcpt_is_final(&env->rcpts[i]))
				rcpt_set(&env->rcpts[i], QUEUE_RCPT_FAILED,
					 "550 5.0.0 returned to the sender by the postmaster");
	} else if (env->sandbox) {
		attempt_deliver_sandbox(a);
	} else {
		const char *suppress_error = NULL;
		bool suppress_failed = attempt_drop_suppressed(a, &suppress_error) < 0;
		for (size_t i = 0; i < env->rcpt_count; i++) {
			if (rcpt_is_final(&env->rcpts[i]))
				continue;
			if (suppress_failed) {
				rcpt_defer_store(a, i, "cannot read the sender's suppression lists",
						 suppress_error);
				continue;
			}
			const char *error = NULL;
			struct store_node *home = NULL;
			int local = queue_address_is_local(a->queue, env->rcpts[i].address, &home,
							   &error);
			if (local < 0) {
				rcpt_defer_store(a, i, "cannot tell whether the domain is local",
						 error);
			} else if (local > 0) {
				attempt_route_local(a, i, home);
			} else {
				a->remote[i] = true;
				a->remote_count++;
			}
		}
	}
	if (a->local_count > 0) {
		/* the files of this and of concurrent attempts, one sync for all */
		pool_then_sync_lazy(a->queue->mail_syncer,
				    a->queue->config->queue.local_sync_delay,
				    attempt_local_link_work, &a->sync_err);
		return;
	}
	attempt_local_end(a);
}

/* attempt_local_end - (worker) the end of phase A: C too when nothing is
 * remote */
static void attempt_local_end(struct queue_attempt *a)
{
	if (a->remote_count == 0 || !a->queue->delivery) {
		attempt_finish_blocking(a);
		a->finished = true;
	}
}

/* attempt_local_done - (loop) go remote, or complete */
static void attempt_local_done(void *arg)
{
	struct queue_attempt *a = arg;
	a->queue->jobs--;
	if (a->error || a->held || a->finished || a->queue->stopping) {
		if (!a->finished && !a->error && !a->held) {
			/* shutting down before the remote part: record what was done */
			a->queue->jobs++;
			pool_submit(a->queue->pool, attempt_finish_work, attempt_finish_done, a);
			return;
		}
		attempt_complete(a);
		return;
	}
	attempt_remote_start(a);
}

/* ---- phase B: remote -------------------------------------------------------- */

/* attempt_remote_start - one delivery/ request per recipient domain */
static void attempt_remote_start(struct queue_attempt *a)
{
	struct queue_envelope *env = a->env;
	bool *grouped = xcalloc(env->rcpt_count, sizeof(*grouped));
	struct queue_group **groups = xcalloc(env->rcpt_count, sizeof(*groups));
	size_t ngroups = 0;

	for (size_t i = 0; i < env->rcpt_count; i++) {
		if (!a->remote[i] || grouped[i])
			continue;
		const char *domain = strrchr(env->rcpts[i].address, '@') + 1;
		struct queue_group *g = xcalloc(1, sizeof(*g));
		g->attempt = a;
		g->home = a->home[i];
		g->index = xcalloc(env->rcpt_count, sizeof(*g->index));
		g->rcpts = xcalloc(env->rcpt_count, sizeof(*g->rcpts));
		for (size_t j = i; j < env->rcpt_count; j++) {
			if (!a->remote[j] || grouped[j] || !rcpt_same_route(a, i, j))
				continue;
			grouped[j] = true;
			g->index[g->count] = j;
			g->rcpts[g->count].address = env->rcpts[j].address;
			g->rcpts[g->count].notify = env->rcpts[j].notify;
			g->rcpts[g->count].orcpt = env->rcpts[j].orcpt;
			g->count++;
		}
		g->message = (struct delivery_message){
			.queue_id = a->id,
			/* forwarded mail leaves with its SRS return path */
			.sender = env->srs_sender ? env->srs_sender : env->sender,
			.domain = domain,
			.rcpts = g->rcpts,
			.rcpt_count = g->count,
			.data = a->body.data ? a->body.data : "",
			.size = a->body.len,
			.eight_bit = env->body == QUEUE_BODY_8BITMIME,
			.smtputf8 = env->smtputf8,
			.ret = env->ret,
			.envid = env->envid,
		};
		if (g->home && home_address_split(g->home->mail_address, g->route_host,
						  sizeof(g->route_host), &g->route.port)) {
			/* our own domain's mail between our nodes: no SRS */
			g->route.host = g->route_host;
			g->route.tls = DELIVERY_TLS_MAY;
			g->message.route = &g->route;
			g->message.sender = env->sender;
			g->message.junk = env->junk;
		}
		groups[ngroups++] = g;
	}
	/* Count them all first: a callback may run before delivery_submit returns. */
	a->groups_pending = (unsigned)ngroups;
	for (size_t k = 0; k < ngroups; k++)
		delivery_submit(a->queue->delivery, &groups[k]->message, attempt_group_done, groups[k]);
	free(groups);
	free(grouped);
}

/* rcpt_same_route - recipients I and J go in one delivery/ request: to the
 * same home node, or both to none and in the same domain */
static bool rcpt_same_route(const struct queue_attempt *a, size_t i, size_t j)
{
	const struct store_node *hi = a->home[i], *hj = a->home[j];
	if (hi || hj)
		return hi && hj && strcmp(hi->name, hj->name) == 0;
	return strcasecmp(strrchr(a->env->rcpts[i].address, '@') + 1,
			  strrchr(a->env->rcpts[j].address, '@') + 1) == 0;
}

/* attempt_group_done - (loop) one domain's (or home node's) results */
static void attempt_group_done(void *ctx, const struct delivery_result *result)
{
	struct queue_group *g = ctx;
	struct queue_attempt *a = g->attempt;
	struct queue_envelope *env = a->env;

	for (size_t k = 0; k < g->count && k < result->rcpt_count; k++) {
		const struct delivery_rcpt_result *rr = &result->rcpts[k];
		struct queue_recipient *r = &env->rcpts[g->index[k]];
		const char *enh = rr->enhanced[0] ? rr->enhanced :
			rr->outcome == DELIVERY_DELIVERED ? "2.0.0" :
			rr->outcome == DELIVERY_TEMPORARY ? "4.0.0" : "5.0.0";
		enum queue_rcpt_state state = rr->outcome == DELIVERY_DELIVERED ? QUEUE_RCPT_DELIVERED :
			rr->outcome == DELIVERY_TEMPORARY ? QUEUE_RCPT_DEFERRED : QUEUE_RCPT_FAILED;
		const char *text = rr->text ? rr->text : "";
		/* "CODE ENHANCED text" leads, so a DSN can quote them; a remote
		 * reply usually has both already */
		char code[8];
		snprintf(code, sizeof(code), "%d ", rr->code);
		if (strncmp(text, code, strlen(code)) == 0)
			rcpt_set(r, state, "%s", text);
		else if (rr->enhanced[0] && strncmp(text, rr->enhanced, strlen(rr->enhanced)) == 0)
			rcpt_set(r, state, "%d %s", rr->code, text);
		else
			rcpt_set(r, state, "%d %s %s", rr->code, enh, text);
		if (g->home) {
			/* the DSN, the events and the log say where it went */
			char *reply = r->last_reply;
			r->last_reply = NULL;
			rcpt_set(r, state, "%s (relayed to home node %s)", reply, g->home->name);
			free(reply);
		}
		free(a->mta[g->index[k]]);
		a->mta[g->index[k]] = result->mx_host && rr->remote ? xstrdup(result->mx_host) : NULL;
	}
	free(g->index);
	free(g->rcpts);
	free(g);
	if (--a->groups_pending > 0)
		return;
	a->queue->jobs++;
	pool_submit(a->queue->pool, attempt_finish_work, attempt_finish_done, a);
}

/* ---- phase C: expiry, bounces, persistence ------------------------------------ */

static void attempt_finish_work(void *arg)
{
	attempt_finish_blocking(arg);
}

static void attempt_finish_done(void *arg)
{
	struct queue_attempt *a = arg;
	a->queue->jobs--;
	attempt_complete(a);
}

/* notify_allows - RCPT NOTIFY= (RFC 3461 4.1): not given means FAILURE and DELAY */
static bool notify_allows(unsigned notify, unsigned what)
{
	if (notify == 0)
		return what != QUEUE_NOTIFY_SUCCESS;
	return (notify & QUEUE_NOTIFY_NEVER) == 0 && (notify & what) != 0;
}

/* retry_delay_at - the wait after an attempt at NOW of a message that
 * arrived at ARRIVAL: its age plus queue.retry_initial, at most
 * queue.retry_max.  Attempts on time double it each time (retry_initial,
 * 2x, 4x...) with no count to keep: a message that left memory, or a
 * restart, does not reset its schedule. */
static time_t retry_delay_at(const struct config *config, time_t arrival, time_t now)
{
	unsigned long long age = now > arrival ? (unsigned long long)(now - arrival) : 0;
	unsigned long long delay = age + config->queue.retry_initial;
	return (time_t)(delay < config->queue.retry_max ? delay : config->queue.retry_max);
}

/* retry_delay - queue.retry_initial doubled N times, at most queue.retry_max */
static time_t retry_delay(const struct config *config, unsigned n)
{
	unsigned shift = n < 16 ? n : 16;
	unsigned long long delay = (unsigned long long)config->queue.retry_initial << shift;
	return (time_t)(delay < config->queue.retry_max ? delay : config->queue.retry_max);
}

/* attempt_finish_blocking - (worker) phase C */
/* notice_sign - a bounce or delay notice DKIM-signed (with its From:
 * domain's keys, if it has any) before it is written; the envelope's size
 * follows */
static void notice_sign(struct queue *queue, struct queue_envelope *dsn, struct buf *body)
{
	if (!queue->sign)
		return;
	queue->sign(queue->sign_ctx, body);
	dsn->size = body->len;
}

static void attempt_finish_blocking(struct queue_attempt *a)
{
	struct queue *queue = a->queue;
	const struct config *config = queue->config;
	struct queue_envelope *env = a->env;
	time_t now = time(NULL);
	size_t n = env->rcpt_count;
	size_t *failed = xcalloc(n ? n : 1, sizeof(*failed));
	size_t *delayed = xcalloc(n ? n : 1, sizeof(*delayed));
	size_t nfailed = 0, ndelayed = 0;
	time_t start = message_start(env);
	bool expired = now - start >= (time_t)config->queue.lifetime;
	struct buf log, failed_log;
	int bounce_k = -1, delay_k = -1;   /* their slots in a->dsn_env */
	bool delay_marked = false;         /* this attempt sends the delay notice */
	bool written[QUEUE_DSN_MAX] = { false };
	buf_init(&log);
	buf_init(&failed_log);

	for (size_t i = 0; i < n; i++) {
		struct queue_recipient *r = &env->rcpts[i];
		bool waiting = r->state == QUEUE_RCPT_DEFERRED ||
			(r->state == QUEUE_RCPT_PENDING && queue->delivery);
		if (waiting && expired) {
			/* RFC 3463 4.4.7: delivery time expired (its DSN
			 * reports the last reply's status: bounce.c) */
			char *last = r->last_reply ? xstrdup(r->last_reply) : xstrdup("none");
			char lifetime[32];
			dsn_duration_format(config->queue.lifetime, lifetime, sizeof(lifetime));
			rcpt_set(r, QUEUE_RCPT_FAILED, QUEUE_EXPIRED_HEAD "%s" QUEUE_EXPIRED_LAST "%s",
				 lifetime, last);
			free(last);
		}
		char to[256], why[300];
		log_escape(to, sizeof(to), r->address, strlen(r->address));
		bool reported = r->state == QUEUE_RCPT_FAILED &&
			notify_allows(r->notify, QUEUE_NOTIFY_FAILURE);
		if (r->bounce_owed) {
			/* failed earlier; its bounce could not be written then */
			spool_rcpt_log_line(&failed_log, i, r->state, r->last_reply);
			failed[nfailed++] = i;
			continue;
		}
		if (a->dropped[i]) {
			/* no DSN for a suppressed address: the sender's own list
			 * said not to send there (SendGrid's "dropped" sends none) */
			spool_rcpt_log_line(&log, i, r->state, r->last_reply);
			log_info("dropped", "queue_id=%s to=%s reason=\"%s\"", a->id, to,
				 a->dropped[i]);
			queue_event(queue, "dropped", env, r->address, 0, a->dropped[i]);
			continue;
		}
		if (r->state != a->before[i]) {
			/* a reported failure is recorded only once its bounce is durable */
			spool_rcpt_log_line(reported ? &failed_log : &log, i, r->state,
					    r->last_reply);
			log_escape(why, sizeof(why), r->last_reply ? r->last_reply : "",
				   r->last_reply ? strlen(r->last_reply) : 0);
			if (a->remote[i] && r->state == QUEUE_RCPT_DELIVERED) {
				log_info("delivered", "queue_id=%s to=%s relay=%s reply=%s", a->id, to,
					 a->mta[i] ? a->mta[i] : "-", why);
				queue_event(queue, "delivered", env, r->address, reply_code(r->last_reply),
					    r->last_reply);
			}
		}
		if (r->state == QUEUE_RCPT_FAILED && a->before[i] != QUEUE_RCPT_FAILED) {
			log_escape(why, sizeof(why), r->last_reply ? r->last_reply : "",
				   r->last_reply ? strlen(r->last_reply) : 0);
			log_info("bounced", "queue_id=%s to=%s reason=%s", a->id, to, why);
			/* a hard bounce: the remote server's own 5xx (an expiry is a 4xx) */
			if (a->remote[i] && a->mta[i] && !a->home[i] && env->account &&
			    queue->store && r->last_reply && r->last_reply[0] == '5')
				suppress_hard_bounce(queue, env, r);
			queue_event(queue, "bounced", env, r->address, reply_code(r->last_reply),
				    r->last_reply);
			if (reported)
				failed[nfailed++] = i;
		} else if (r->state == QUEUE_RCPT_DEFERRED) {
			a->retry = true;
			if (a->remote[i]) {
				log_escape(why, sizeof(why), r->last_reply ? r->last_reply : "",
					   r->last_reply ? strlen(r->last_reply) : 0);
				log_info("deferred", "queue_id=%s to=%s reason=%s", a->id, to, why);
				queue_event(queue, "deferred", env, r->address,
					    reply_code(r->last_reply), r->last_reply);
			}
			if (notify_allows(r->notify, QUEUE_NOTIFY_DELAY))
				delayed[ndelayed++] = i;
		}
	}

	/* RFC 3461: one DSN per message for the failed recipients */
	if (nfailed > 0) {
		struct buf body;
		buf_init(&body);
		struct queue_envelope *dsn = queue_bounce_build_blocking(config, env,
			a->body.data ? a->body.data : "", a->body.len, failed, nfailed, a->mta,
			false, &body);
		if (dsn)
			notice_sign(queue, dsn, &body);
		if (dsn) {
			bounce_k = (int)a->dsn_count;
			a->dsn_env[a->dsn_count] = dsn;
			a->dsn_body[a->dsn_count++] = body;
		} else {
			buf_free(&body);
		}
	}
	/* one delay notice, once the message has waited delay_warning */
	if (ndelayed > 0 && !env->delay_notified && config->queue.delay_warning > 0 &&
	    now - start >= (time_t)config->queue.delay_warning) {
		struct buf body;
		buf_init(&body);
		struct queue_envelope *dsn = queue_bounce_build_blocking(config, env,
			a->body.data ? a->body.data : "", a->body.len, delayed, ndelayed, a->mta,
			true, &body);
		if (dsn)
			notice_sign(queue, dsn, &body);
		if (dsn) {
			delay_k = (int)a->dsn_count;
			a->dsn_env[a->dsn_count] = dsn;
			a->dsn_body[a->dsn_count++] = body;
		} else {
			buf_free(&body);
		}
		env->delay_notified = true;
		delay_marked = true;
	}
	/* the notices are durable before the recipients are recorded as done */
	attempt_write_dsns(a, written);
	if (delay_marked && delay_k >= 0 && !written[delay_k])
		env->delay_notified = false;  /* the next attempt tries again */
	else if (delay_marked)
		buf_append_str(&log, "M notice-delay 1\n");
	/* Issue the bounce or keep the message: without a durable bounce the
	 * failed recipients stay owed (in memory; after a restart they are
	 * tried again, fail again and bounce), so the sender is always told. */
	bool bounce_ok = bounce_k < 0 || written[bounce_k];
	for (size_t k = 0; k < nfailed; k++)
		env->rcpts[failed[k]].bounce_owed = !bounce_ok;
	if (bounce_ok) {
		buf_append(&log, failed_log.data, failed_log.len);
	} else {
		log_error("bounce-failed", "queue_id=%s recipients=%zu action=\"message kept, "
			  "bounce retried\"", a->id, nfailed);
		a->retry = true;
	}

	bool all_final = true;
	for (size_t i = 0; i < n; i++)
		all_final = all_final && rcpt_is_final(&env->rcpts[i]) &&
			!env->rcpts[i].bounce_owed;
	bool deferring = a->retry && !all_final;
	if (deferring) {
		/* retry_initial, doubling per attempt up to retry_max, never past
		 * the expiry; kept in the log so `queue list` can show it */
		time_t expiry = start + (time_t)config->queue.lifetime;
		env->next_attempt = now + retry_delay_at(config, start, now);
		if (env->next_attempt > expiry)
			env->next_attempt = expiry > now ? expiry : now + 1;
		buf_printf(&log, "M next %lld\n", (long long)env->next_attempt);
	}
	const char *error = NULL;
	if (all_final) {
		if (spool_remove(queue->spool, &a->loc, a->id, &error) == 0) {
			a->removed = true;
		} else {
			log_error("queue_remove", "queue_id=%s error=\"%s\"", a->id, error);
			a->retry = true;
		}
		goto out;
	}
	if (log.len > 0 && spool_log_append(queue->spool, &a->loc, a->id, &log, &error) != 0) {
		/* the states stay in memory; a crash now means redelivery */
		log_error("queue_rcpt_log", "queue_id=%s error=\"%s\"", a->id, error);
		goto out;
	}
	if (deferring) {
		/* it waits in defer/<T>/ (not synced: a lost rename leaves it
		 * where it was, to be tried early) */
		struct spool_loc to = { SPOOL_DEFER, (long long)env->next_attempt };
		if (spool_move(queue->spool, a->id, &a->loc, &to, &error) == 0) {
			a->loc = to;
			a->deferred = true;
		} else {
			log_error("queue_move", "queue_id=%s error=\"%s\"", a->id, error);
		}
	}
out:
	buf_free(&log);
	buf_free(&failed_log);
	free(failed);
	free(delayed);
}

/* attempt_write_dsns - (worker) the notices become queued messages;
 * WRITTEN[k] says which are durable (written and covered by a directory
 * fsync).  The others are freed and, if written, taken back out. */
static void attempt_write_dsns(struct queue_attempt *a, bool written[QUEUE_DSN_MAX])
{
	size_t kept = 0, nwritten = 0;
	int err;
	const char *error = NULL;
	for (size_t k = 0; k < a->dsn_count; k++) {
		struct buf text;
		buf_init(&text);
		a->dsn_env[k]->body_crc = queue_crc32c(0, a->dsn_body[k].data ? a->dsn_body[k].data :
						       "", a->dsn_body[k].len);
		a->dsn_env[k]->has_body_crc = true;
		queue_envelope_serialize(a->dsn_env[k], &text);
		written[k] = spool_write_message(a->queue->spool, a->dsn_env[k]->id, &text,
						 a->dsn_body[k].data ? a->dsn_body[k].data : "",
						 a->dsn_body[k].len, &err, &error) == 0;
		if (!written[k])
			log_error("bounce-failed", "queue_id=%s error=\"%s\"", a->id, error);
		nwritten += written[k];
		buf_free(&text);
	}
	if (nwritten > 0 && spool_sync_dir(a->queue->spool, &err, &error) != 0) {
		log_error("bounce-failed", "queue_id=%s error=\"%s\"", a->id, error);
		for (size_t k = 0; k < a->dsn_count; k++) {
			struct spool_loc loc = { SPOOL_NEW, 0 };
			if (written[k] && spool_remove(a->queue->spool, &loc, a->dsn_env[k]->id,
						       &error) != 0)
				log_error("queue_remove", "queue_id=%s error=\"%s\"",
					  a->dsn_env[k]->id, error);
			written[k] = false;
		}
	}
	for (size_t k = 0; k < a->dsn_count; k++) {
		if (!written[k]) {
			queue_envelope_free(&a->dsn_env[k]);
			buf_free(&a->dsn_body[k]);
			continue;
		}
		log_info("notice", "queue_id=%s dsn_id=%s to=<%s>", a->id, a->dsn_env[k]->id,
			 a->dsn_env[k]->rcpts[0].address);
		a->dsn_env[kept] = a->dsn_env[k];
		a->dsn_body[kept++] = a->dsn_body[k];
	}
	a->dsn_count = kept;
}

/* attempt_complete - (loop) take the results back; retry, forget, or act on
 * what the administrator asked meanwhile */
static void attempt_complete(struct queue_attempt *a)
{
	struct queue *queue = a->queue;
	struct queue_msg *msg = a->msg;

	queue->active--;
	histogram_observe_since(&queue->attempt_seconds, &a->started);
	for (size_t k = 0; k < a->dsn_count; k++) {
		if (queue->msg_count >= queue->config->queue.active_limit ||
		    queue_msg_find(queue, a->dsn_env[k]->id)) {
			queue_backlog_add(queue);  /* it waits in new/ */
			continue;
		}
		struct queue_msg *dsn = queue_msg_add(queue, a->dsn_env[k]->id);
		dsn->env = a->dsn_env[k];
		a->dsn_env[k] = NULL;
		if (queue->body_bytes + a->dsn_body[k].len <= queue->config->queue.memory_limit) {
			dsn->body = a->dsn_body[k];
			buf_init(&a->dsn_body[k]);
			dsn->body_loaded = true;
			queue->body_bytes += dsn->body.len;
		}
		queue_msg_ready(queue, dsn);
	}
	msg->state = QUEUE_MSG_WAITING;
	msg->loc = a->loc;
	if (a->relocated) {
		/* it is elsewhere on disk: the loader finds it there; what the
		 * administrator asked meanwhile goes to it there (by ID) */
		enum queue_op op = msg->delete_requested ? QUEUE_OP_DELETE :
			msg->bounce_requested ? QUEUE_OP_BOUNCE : QUEUE_OP_HOLD;
		bool requested = msg->delete_requested || msg->bounce_requested ||
			msg->hold_requested;
		char id[QUEUE_ID_LEN + 1];
		memcpy(id, msg->id, sizeof(id));
		log_debug("queue_moved", "queue_id=%s", msg->id);
		queue_msg_forget(queue, msg);
		if (requested)
			queue_op(queue, op, id, NULL, NULL);
		goto out;
	}
	if (a->error && (a->vanished || a->moved)) {
		if (a->vanished)
			log_warn("queue_vanished", "queue_id=%s", msg->id);
		queue_msg_removed(queue, msg);
		goto out;
	}
	if (a->error) {
		/* retried with backoff, like a deferral, until attempt_unreadable
		 * moves it aside: a file cut short never gets better, but an I/O
		 * error may */
		msg->read_failures++;
		log_error("queue_unreadable", "queue_id=%s error=\"%s\" failures=%u", msg->id,
			  a->error, msg->read_failures);
		a->retry = true;
	} else {
		msg->read_failures = 0;
	}
	if (a->removed) {
		queue_msg_removed(queue, msg);
		goto out;
	}
	msg->env = a->env;  /* the envelope stays: it is small and newest */
	a->env = NULL;
	if (a->held)
		msg->held = true;
	if (msg->delete_requested || msg->bounce_requested || msg->hold_requested) {
		enum queue_op op = msg->delete_requested ? QUEUE_OP_DELETE :
			msg->bounce_requested ? QUEUE_OP_BOUNCE : QUEUE_OP_HOLD;
		msg->delete_requested = msg->bounce_requested = msg->hold_requested = false;
		if (op == QUEUE_OP_HOLD)
			msg->held = false;  /* queue_op holds it now */
		queue_op(queue, op, msg->id, NULL, NULL);
		goto out;
	}
	if (a->held && msg->loc.folder == SPOOL_HOLD) {
		queue_msg_forget(queue, msg);  /* in hold/ until released */
		goto out;
	}
	bool owes_bounce = false;
	for (size_t i = 0; msg->env && i < msg->env->rcpt_count; i++)
		owes_bounce = owes_bounce || msg->env->rcpts[i].bounce_owed;
	if (a->deferred && !owes_bounce) {
		/* it waits in defer/<T>/, on disk only: memory is for the
		 * active set (queue.c's loader brings it back when T comes).
		 * One that owes a bounce (known in memory only) stays. */
		time_t now = time(NULL);
		log_debug("retry", "queue_id=%s in=%lld", msg->id,
			  msg->loc.t > (long long)now ? msg->loc.t - (long long)now : 0);
		queue_msg_forget(queue, msg);
		goto out;
	}
	if (a->retry && !msg->held && !queue->stopping) {
		/* an unreadable file, a state log that could not be written,
		 * or a bounce owed: retried from memory */
		time_t now = time(NULL);
		time_t when = msg->env && msg->env->next_attempt > now ?
			msg->env->next_attempt : now + 1;
		if (a->error)
			when = now + retry_delay(queue->config, msg->read_failures - 1);
		queue_msg_retry_at(queue, msg, when);
	}
out:
	attempt_free(a);
	queue_deliveries_start(queue);
}

static void attempt_free(struct queue_attempt *a)
{
	for (size_t i = 0; a->mta && i < a->nrcpt; i++)
		free(a->mta[i]);
	free(a->mta);
	for (size_t i = 0; a->home && i < a->nrcpt; i++)
		store_node_free(&a->home[i]);
	free(a->home);
	free(a->dropped);
	free(a->local);  /* each one's steps ended before the attempt did */
	free(a->before);
	free(a->remote);
	for (size_t k = 0; k < a->dsn_count; k++) {
		queue_envelope_free(&a->dsn_env[k]);
		buf_free(&a->dsn_body[k]);
	}
	queue_envelope_free(&a->env);
	buf_free(&a->body);
	free(a);
}

/* ---- administration ------------------------------------------------------------ */

/* queue_op_work - (worker) remove a message, or record a hold flag and move
 * the message into hold/ (held) or new/ (released) */
static void queue_op_work(void *arg)
{
	struct queue_op_job *j = arg;
	if (j->on_disk) {
		/* new/, hold/, then each defer/<T>/ */
		int r = spool_locate(j->queue->spool, j->id, &j->loc, &j->error);
		if (r != 0) {
			j->status = r > 0 ? 1 : -1;
			j->text = r > 0 ? "no such message in the queue" : j->error;
			return;
		}
		bool held = j->loc.folder == SPOOL_HOLD;
		if (j->op == QUEUE_OP_FLUSH && held) {
			j->status = -1;
			j->text = "the message is held: release it first";
			return;
		}
		if (j->op == QUEUE_OP_RELEASE && !held) {
			j->text = "not held; nothing to release";
			return;
		}
		if (j->op == QUEUE_OP_FLUSH || j->op == QUEUE_OP_BOUNCE ||
		    (j->op == QUEUE_OP_HOLD && held))
			return;  /* the loop does the rest */
	}
	if (j->op == QUEUE_OP_DELETE) {
		if (spool_remove(j->queue->spool, &j->loc, j->id, &j->error) != 0)
			log_error("queue_remove", "queue_id=%s error=\"%s\"", j->id, j->error);
		return;
	}
	struct buf line;
	struct spool_loc to = { j->hold ? SPOOL_HOLD : SPOOL_NEW, 0 };
	buf_init(&line);
	buf_append_str(&line, j->hold ? "M hold 1\n" : "M hold 0\n");
	if (spool_log_append(j->queue->spool, &j->loc, j->id, &line, &j->error) != 0)
		log_error("queue_rcpt_log", "queue_id=%s error=\"%s\"", j->id, j->error);
	else if (spool_move(j->queue->spool, j->id, &j->loc, &to, &j->error) != 0)
		log_error("queue_move", "queue_id=%s error=\"%s\"", j->id, j->error);
	else
		j->loc = to;
	buf_free(&line);
}

static void queue_op_done(void *arg)
{
	struct queue_op_job *j = arg;
	struct queue *queue = j->queue;
	queue->jobs--;
	struct queue_msg *msg = queue_msg_find(queue, j->id);
	const char *text = j->op == QUEUE_OP_DELETE ? "deleted" : j->hold ? "held" : "released";
	if (msg)
		msg->loc = j->loc;
	if (!j->error && j->op == QUEUE_OP_DELETE && msg &&
	    msg->state == QUEUE_MSG_DELIVERING) {
		/* a flush started an attempt meanwhile: it owns MSG; the
		 * delete is done again once it is back */
		msg->delete_requested = true;
	} else if (!j->error && j->op == QUEUE_OP_DELETE && msg) {
		log_info("deleted", "queue_id=%s by=administrator", j->id);
		queue_ready_remove(queue, msg);
		queue_msg_removed(queue, msg);
	} else if (!j->error && j->op == QUEUE_OP_RELEASE && msg && !msg->held &&
		   msg->state == QUEUE_MSG_WAITING) {
		queue_msg_cancel_retry(msg);
		queue_msg_ready(queue, msg);
		queue_deliveries_start(queue);
	} else if (!j->error && j->op == QUEUE_OP_HOLD && msg && msg->held &&
		   msg->state == QUEUE_MSG_WAITING && msg->loc.folder == SPOOL_HOLD) {
		queue_msg_forget(queue, msg);  /* in hold/ until released */
		queue_deliveries_start(queue);
	}
	if (j->cb)
		j->cb(j->ctx, j->error ? -1 : 0, j->error ? j->error : text);
	free(j);
}

bool queue_op_on_disk(const struct queue *queue, const char *id)
{
	for (const struct queue_op_job *j = queue->disk_ops; j; j = j->next)
		if (memcmp(j->id, id, QUEUE_ID_LEN) == 0)
			return true;
	return false;
}

/* queue_op_disk_done - (loop) an operation on a message that was on disk
 * only: bring it into memory where it is to be tried */
static void queue_op_disk_done(void *arg)
{
	struct queue_op_job *j = arg;
	struct queue *queue = j->queue;
	const char *text = j->text;
	int status = j->status;
	queue->jobs--;
	for (struct queue_op_job **link = &queue->disk_ops; *link; link = &(*link)->next) {
		if (*link == j) {
			*link = j->next;
			break;
		}
	}
	if (status != 0 || j->error || text || queue->stopping) {
		if (j->error && !text) {
			status = -1;
			text = j->error;
		}
		goto out;
	}
	/* the loader may have brought it into memory meanwhile */
	struct queue_msg *msg = queue_msg_find(queue, j->id);
	switch (j->op) {
	case QUEUE_OP_FLUSH:
	case QUEUE_OP_RELEASE:
		if (!msg) {
			msg = queue_msg_add(queue, j->id);
			msg->loc = j->loc;
			log_debug("loaded", "queue_id=%s by=administrator in_memory=%zu", msg->id,
				  queue->msg_count);
			queue_msg_ready(queue, msg);
			queue_deliveries_start(queue);
		}
		text = j->op == QUEUE_OP_FLUSH ? "flushed" : "released";
		break;
	case QUEUE_OP_BOUNCE:
		if (msg) {
			queue_op(queue, QUEUE_OP_BOUNCE, j->id, j->cb, j->ctx);
			free(j);
			return;
		}
		msg = queue_msg_add(queue, j->id);
		msg->loc = j->loc;
		log_debug("loaded", "queue_id=%s by=administrator in_memory=%zu", msg->id,
			  queue->msg_count);
		queue_attempt_start(queue, msg, true);
		text = "returned to the sender";
		break;
	case QUEUE_OP_DELETE:
		log_info("deleted", "queue_id=%s by=administrator", j->id);
		if (msg && msg->state != QUEUE_MSG_DELIVERING) {
			queue_ready_remove(queue, msg);
			queue_msg_removed(queue, msg);
		} else if (!msg) {
			log_info("removed", "queue_id=%s", j->id);
			if (queue->removed_cb)
				queue->removed_cb(queue->removed_ctx, j->id);
		}
		text = "deleted";
		break;
	case QUEUE_OP_HOLD:
		if (msg && msg->state == QUEUE_MSG_READY) {
			queue_ready_remove(queue, msg);
			msg->loc = j->loc;
			queue_msg_forget(queue, msg);
		}
		text = "held";
		break;
	}
out:
	if (j->cb)
		j->cb(j->ctx, status, text);
	free(j);
}

void queue_op(struct queue *queue, enum queue_op op, const char *id, queue_op_cb *cb, void *ctx)
{
	char text[64];
	if (queue->stopping) {
		if (cb)
			cb(ctx, -1, "the queue is shutting down");
		return;
	}
	if (op == QUEUE_OP_FLUSH && !id) {
		size_t count = 0;
		for (struct queue_msg *m = queue->msgs; m; m = m->next) {
			if (m->state == QUEUE_MSG_WAITING && !m->held) {
				queue_msg_cancel_retry(m);
				queue_msg_ready(queue, m);
				count++;
			}
		}
		/* and every deferred message on disk, folder by folder */
		size_t folders = queue_flush_all(queue);
		queue_deliveries_start(queue);
		snprintf(text, sizeof(text), "%zu messages flushed, %zu deferred folders due now",
			 count, folders);
		if (cb)
			cb(ctx, 0, text);
		return;
	}
	if (!id || !queue_id_is_valid(id)) {
		if (cb)
			cb(ctx, 1, "no such message in the queue");
		return;
	}
	struct queue_msg *msg = queue_msg_find(queue, id);
	if (!msg) {
		/* on disk only: a worker finds it; the loader leaves it alone
		 * until it is done (queue_op_on_disk) */
		struct queue_op_job *j = xcalloc(1, sizeof(*j));
		j->queue = queue;
		j->op = op;
		j->hold = op == QUEUE_OP_HOLD;
		j->on_disk = true;
		memcpy(j->id, id, QUEUE_ID_LEN + 1);
		j->cb = cb;
		j->ctx = ctx;
		j->next = queue->disk_ops;
		queue->disk_ops = j;
		queue->jobs++;
		pool_submit(queue->pool, queue_op_work, queue_op_disk_done, j);
		return;
	}
	switch (op) {
	case QUEUE_OP_FLUSH:
		if (msg->held) {
			if (cb)
				cb(ctx, -1, "the message is held: release it first");
			return;
		}
		if (msg->state == QUEUE_MSG_WAITING) {
			queue_msg_cancel_retry(msg);
			queue_msg_ready(queue, msg);
			queue_deliveries_start(queue);
		}
		if (cb)
			cb(ctx, 0, msg->state == QUEUE_MSG_DELIVERING ? "being delivered now" : "flushed");
		return;
	case QUEUE_OP_BOUNCE:
		if (msg->state == QUEUE_MSG_DELIVERING) {
			msg->bounce_requested = true;
			if (cb)
				cb(ctx, 0, "will be returned to the sender after the current attempt");
			return;
		}
		queue_ready_remove(queue, msg);
		queue_msg_cancel_retry(msg);
		queue_attempt_start(queue, msg, true);
		if (cb)
			cb(ctx, 0, "returned to the sender");
		return;
	case QUEUE_OP_DELETE:
		if (msg->state == QUEUE_MSG_DELIVERING) {
			msg->delete_requested = true;
			if (cb)
				cb(ctx, 0, "will be deleted after the current attempt");
			return;
		}
		queue_ready_remove(queue, msg);
		queue_msg_cancel_retry(msg);
		break;
	case QUEUE_OP_HOLD:
		msg->held = true;
		if (msg->state == QUEUE_MSG_DELIVERING) {
			/* its file is the attempt's until it ends */
			msg->hold_requested = true;
			if (cb)
				cb(ctx, 0, "held after the current attempt");
			return;
		}
		if (msg->env)
			msg->env->held = true;
		queue_ready_remove(queue, msg);
		queue_msg_cancel_retry(msg);
		break;
	case QUEUE_OP_RELEASE:
		if (!msg->held && msg->env && !msg->env->held) {
			/* nothing to undo: no attempt, and no doubled backoff */
			if (cb)
				cb(ctx, 0, "not held; nothing to release");
			return;
		}
		msg->held = false;
		if (msg->hold_requested) {
			msg->hold_requested = false;
			if (cb)
				cb(ctx, 0, "released");
			return;
		}
		if (msg->env)
			msg->env->held = false;
		break;
	}
	struct queue_op_job *j = xcalloc(1, sizeof(*j));
	j->queue = queue;
	j->op = op;
	j->hold = op == QUEUE_OP_HOLD;
	memcpy(j->id, msg->id, sizeof(j->id));
	j->loc = msg->loc;
	j->cb = cb;
	j->ctx = ctx;
	queue->jobs++;
	pool_submit(queue->pool, queue_op_work, queue_op_done, j);
}
