/* queue/queue - the running queue: durable submission, recovery, delivery.
 *
 * Everything here runs on the loop thread; every open/write/fsync/rename/
 * readdir runs in pool work functions (spool.c, local/maildir.c), except the
 * start-up scan in queue_create, which runs before the loop does.
 *
 * Submission and group commit.  queue_submit() hands the message to a worker,
 * which writes queue/<ID>, marks it complete, fsyncs and closes it (a "file
 * job").  Its name is durable only once queue/ itself is fsync'ed.  When a
 * file job finishes, its message joins the "waiting for dir sync" list; if no
 * dir-sync job is running, one is started for everything on the list.
 * Messages whose file finishes while a dir sync runs wait for the next one,
 * which starts as soon as the running one ends.  So under load one directory
 * fsync covers many messages, and each callback reports success only after
 * the fsync that covers its directory entry (DESIGN "250 means durable").
 *
 * Delivery (this issue: local Maildirs only).  A committed or recovered
 * message waits in a FIFO for one of QUEUE_DELIVERY_SLOTS_PER_WORKER * workers
 * delivery slots, so recovering a huge spool never holds more than that many
 * bodies in memory: recovered messages are read from disk when their slot
 * comes; fresh ones keep their body in memory until their first attempt.
 * The delivery job delivers every pending recipient of a local domain, and
 * then either removes the message (all recipients final) or appends their new
 * states to <ID>.rcpt with fsync.  Temporary failures are retried after
 * QUEUE_RETRY_SECONDS; recipients of other domains stay pending.
 *
 * At-least-once, by choice: a recipient's Maildir file is fsync'ed before its
 * state is logged, so a crash between the two delivers it again after the
 * restart; and the final unlink of <ID> and <ID>.rcpt is not fsync'ed: if a
 * crash loses it, recovery finds the message with every recipient final in
 * its log and removes it again (or, if the log was never needed, delivers it
 * again).  A duplicate is better than a loss; no path loses a message.
 */
#include "queue/queue.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "config/config.h"
#include "local/local.h"
#include "store/store.h"
#include "queue/spool.h"
#include "util/log.h"
#include "util/pool.h"
#include "util/xalloc.h"

/* fixed retry interval for temporary failures; the real retry schedule
 * (backoff, expiry, bounces) belongs to the scheduler issue */
#define QUEUE_RETRY_SECONDS 60
/* concurrent delivery jobs per worker thread */
#define QUEUE_DELIVERY_SLOTS_PER_WORKER 2
/* headroom over the message size limit when reading a spool file back:
 * the envelope, and headers the server added (Received:, DKIM...) */
#define QUEUE_FILE_SLACK (SPOOL_ENVELOPE_MAX + 64u * 1024 * 1024)

enum queue_msg_state {
	QUEUE_MSG_READY,       /* in the FIFO, waiting for a delivery slot */
	QUEUE_MSG_DELIVERING,  /* a delivery job owns env and body */
	QUEUE_MSG_WAITING,     /* retry timer, or nothing we can do yet */
};

struct queue_msg {
	struct queue_msg *prev, *next;  /* every message in the spool */
	struct queue_msg *ready_next;
	char id[QUEUE_ID_LEN + 1];
	enum queue_msg_state state;
	struct queue_envelope *env;     /* NULL until first read from disk */
	struct buf body;                /* fresh messages only, until the first attempt */
	bool body_loaded;
	bool remote_logged;
	struct event *retry_ev;
	struct queue *queue;
};

struct queue_submit_job {
	struct queue_submit_job *next;
	struct queue *queue;
	struct queue_envelope *env;
	struct buf body;
	queue_submit_cb *cb;
	void *ctx;
	const char *error;              /* NULL: file written and renamed */
};

struct queue_sync_job {
	struct queue *queue;
	struct queue_submit_job *batch;
	const char *error;
};

struct queue_delivery_job {
	struct queue *queue;
	struct queue_msg *msg;
	char id[QUEUE_ID_LEN + 1];
	struct queue_envelope *env;
	struct buf body;
	bool body_loaded;
	/* results */
	const char *error;              /* the message could not be read */
	bool removed;
	bool local_pending;             /* a local recipient must be retried */
	size_t remote;                  /* recipients of other domains */
};

struct queue {
	struct event_base *base;
	struct pool *pool;
	const struct config *config;
	struct spool *spool;
	size_t file_max;
	unsigned jobs;                  /* pool jobs not yet done */
	bool stopping;

	struct queue_submit_job *waiting_head, **waiting_tail;
	bool syncing;

	struct queue_msg *msgs;
	size_t msg_count;
	struct queue_msg *ready_head, *ready_tail;
	unsigned active, max_active;

	struct store *store;            /* domains and events; may be NULL */
	queue_removed_cb *removed_cb;
	void *removed_ctx;
};

static struct queue_msg *queue_msg_add(struct queue *queue, const char *id);
static void queue_msg_free(struct queue *queue, struct queue_msg *msg);
static void queue_msg_ready(struct queue *queue, struct queue_msg *msg);
static void queue_retry_cb(evutil_socket_t fd, short what, void *arg);
static void queue_deliveries_start(struct queue *queue);
static void queue_delivery_work(void *arg);
static void queue_delivery_done(void *arg);
static void queue_submit_work(void *arg);
static void queue_submit_done(void *arg);
static void queue_submit_job_free(struct queue_submit_job *job);
static void queue_sync_start(struct queue *queue);
static void queue_sync_work(void *arg);
static void queue_sync_done(void *arg);
static bool queue_address_is_local(struct queue *queue, const char *address);
static void queue_event(struct queue *queue, const char *type, const struct queue_envelope *env,
			const char *recipient, int code, const char *reason);
static void queue_deliver_sandbox(struct queue_delivery_job *job);

struct queue *queue_create(struct event_base *base, struct pool *pool,
			   const struct config *config, const char **error_r)
{
	struct queue *queue = xcalloc(1, sizeof(*queue));
	char (*ids)[QUEUE_ID_LEN + 1] = NULL;
	size_t count = 0;

	queue->base = base;
	queue->pool = pool;
	queue->config = config;
	queue->waiting_tail = &queue->waiting_head;
	queue->max_active = (config->workers ? config->workers : 1) *
		QUEUE_DELIVERY_SLOTS_PER_WORKER;
	queue->file_max = config->limits.message_size + QUEUE_FILE_SLACK;
	queue->spool = spool_open(config->data_dir, true, error_r);
	if (!queue->spool)
		goto fail;
	/* blocking, but before the loop runs: recovery */
	if (spool_list(queue->spool, true, &ids, &count, error_r) != 0)
		goto fail;
	for (size_t i = 0; i < count; i++) {
		struct queue_msg *msg = queue_msg_add(queue, ids[i]);
		log_debug("recovered", "queue_id=%s", msg->id);
		queue_msg_ready(queue, msg);
	}
	log_info("recovered", "count=%zu", count);
	free(ids);
	queue_deliveries_start(queue);
	return queue;
fail:
	free(ids);
	spool_close(&queue->spool);
	free(queue);
	return NULL;
}

void queue_set_store(struct queue *queue, struct store *store)
{
	queue->store = store;
}

void queue_set_removed_cb(struct queue *queue, queue_removed_cb *cb, void *ctx)
{
	queue->removed_cb = cb;
	queue->removed_ctx = ctx;
}

void queue_stop(struct queue *queue)
{
	queue->stopping = true;
	queue->ready_head = queue->ready_tail = NULL;
	for (struct queue_msg *msg = queue->msgs; msg; msg = msg->next) {
		if (msg->retry_ev) {
			event_free(msg->retry_ev);
			msg->retry_ev = NULL;
		}
	}
	/* let running jobs finish: submissions still get their callback (and
	 * their dir sync), deliveries record what they did */
	while (queue->jobs > 0) {
		if (event_base_loop(queue->base, EVLOOP_ONCE) < 0)
			break;
	}
}

void queue_free(struct queue **queuep)
{
	struct queue *queue = *queuep;
	if (!queue)
		return;
	queue_stop(queue);
	while (queue->msgs)
		queue_msg_free(queue, queue->msgs);
	spool_close(&queue->spool);
	free(queue);
	*queuep = NULL;
}

size_t queue_message_count(const struct queue *queue)
{
	return queue->msg_count;
}

/* ---- messages ---------------------------------------------------------- */

/* queue_msg_add - a new message record, linked into the spool's list */
static struct queue_msg *queue_msg_add(struct queue *queue, const char *id)
{
	struct queue_msg *msg = xcalloc(1, sizeof(*msg));
	memcpy(msg->id, id, QUEUE_ID_LEN + 1);
	buf_init(&msg->body);
	msg->queue = queue;
	msg->state = QUEUE_MSG_WAITING;
	msg->next = queue->msgs;
	if (queue->msgs)
		queue->msgs->prev = msg;
	queue->msgs = msg;
	queue->msg_count++;
	return msg;
}

static void queue_msg_free(struct queue *queue, struct queue_msg *msg)
{
	if (msg->prev)
		msg->prev->next = msg->next;
	else
		queue->msgs = msg->next;
	if (msg->next)
		msg->next->prev = msg->prev;
	queue->msg_count--;
	if (msg->retry_ev)
		event_free(msg->retry_ev);
	queue_envelope_free(&msg->env);
	buf_free(&msg->body);
	free(msg);
}

/* queue_msg_ready - wait in the FIFO for a delivery slot */
static void queue_msg_ready(struct queue *queue, struct queue_msg *msg)
{
	msg->state = QUEUE_MSG_READY;
	msg->ready_next = NULL;
	if (queue->ready_tail)
		queue->ready_tail->ready_next = msg;
	else
		queue->ready_head = msg;
	queue->ready_tail = msg;
}

static void queue_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct queue_msg *msg = arg;
	struct queue *queue = msg->queue;
	(void)fd;
	(void)what;
	if (queue->stopping)
		return;
	queue_msg_ready(queue, msg);
	queue_deliveries_start(queue);
}

/* ---- delivery ----------------------------------------------------------- */

/* queue_deliveries_start - fill the free delivery slots from the FIFO */
static void queue_deliveries_start(struct queue *queue)
{
	while (!queue->stopping && queue->active < queue->max_active && queue->ready_head) {
		struct queue_msg *msg = queue->ready_head;
		queue->ready_head = msg->ready_next;
		if (!queue->ready_head)
			queue->ready_tail = NULL;
		msg->ready_next = NULL;
		msg->state = QUEUE_MSG_DELIVERING;

		struct queue_delivery_job *job = xcalloc(1, sizeof(*job));
		job->queue = queue;
		job->msg = msg;
		memcpy(job->id, msg->id, sizeof(job->id));
		job->env = msg->env;
		msg->env = NULL;
		job->body = msg->body;
		buf_init(&msg->body);
		job->body_loaded = msg->body_loaded;
		msg->body_loaded = false;
		queue->active++;
		queue->jobs++;
		pool_submit(queue->pool, queue_delivery_work, queue_delivery_done, job);
	}
}

/* queue_address_is_local - (worker) the domain after the last '@' is one of
 * ours: in the config, or added to the store with `petrel domain add` */
static bool queue_address_is_local(struct queue *queue, const char *address)
{
	const char *at = strrchr(address, '@');
	if (!at || at[1] == '\0' || at[1] == '[')
		return false;
	if (config_is_local_domain(queue->config, at + 1))
		return true;
	bool exists = false;
	const char *error = NULL;
	if (queue->store && store_domain_exists(queue->store, at + 1, &exists, &error) != 0)
		log_error("store-failed", "op=domain_exists error=\"%s\"", error);
	return exists;
}

/* queue_event - (worker) record an event for the account that sent ENV */
static void queue_event(struct queue *queue, const char *type, const struct queue_envelope *env,
			const char *recipient, int code, const char *reason)
{
	if (!queue->store)
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
	const char *error = NULL;
	if (store_event_add(queue->store, &ev, &error) != 0)
		log_error("store-failed", "op=event_add error=\"%s\"", error);
}

/* queue_deliver_sandbox - (worker) a sandboxed account's message is kept once
 * in its test Maildir and never relayed: every recipient is done with it */
static void queue_deliver_sandbox(struct queue_delivery_job *job)
{
	struct queue *queue = job->queue;
	struct queue_envelope *env = job->env;
	struct buf rcpts;
	buf_init(&rcpts);
	for (size_t i = 0; i < env->rcpt_count; i++)
		buf_printf(&rcpts, "%s%s", i ? ", " : "", env->rcpts[i].address);
	char *file = NULL;
	bool temporary = true;
	const char *error = NULL;
	int rc = local_deliver_sandbox_blocking(queue->config->data_dir, queue->config->hostname,
						env->sender, env->account ? env->account : "unknown",
						rcpts.data ? rcpts.data : "",
						job->body.data ? job->body.data : "", job->body.len,
						&file, &temporary, &error);
	for (size_t i = 0; i < env->rcpt_count; i++) {
		struct queue_recipient *r = &env->rcpts[i];
		if (r->state == QUEUE_RCPT_DELIVERED || r->state == QUEUE_RCPT_FAILED)
			continue;
		free(r->last_reply);
		if (rc == 0) {
			r->state = QUEUE_RCPT_DELIVERED;
			r->last_reply = xstrdup("kept in the sandbox, not relayed");
			queue_event(queue, "sandboxed", env, r->address, 250, file);
		} else {
			r->state = temporary ? QUEUE_RCPT_DEFERRED : QUEUE_RCPT_FAILED;
			r->last_reply = xstrdup(error);
			if (temporary)
				job->local_pending = true;
		}
	}
	if (rc == 0)
		log_info("sandboxed", "queue_id=%s account=%s file=%s", job->id,
			 env->account ? env->account : "-", file);
	else
		log_warn("deferred", "queue_id=%s account=%s reason=\"%s\"", job->id,
			 env->account ? env->account : "-", error);
	free(file);
	buf_free(&rcpts);
}

/* queue_delivery_work - (worker) deliver the local recipients, record them */
static void queue_delivery_work(void *arg)
{
	struct queue_delivery_job *job = arg;
	struct queue *queue = job->queue;
	const struct config *config = queue->config;
	struct buf log;
	char to[256], why[256];
	bool all_final = true;

	buf_init(&log);
	if (!job->env || !job->body_loaded) {
		struct queue_envelope *env;
		buf_reset(&job->body);
		env = spool_read_message(queue->spool, job->id, queue->file_max, &job->body,
					 &job->error);
		if (!env)
			goto out;
		if (job->env)
			queue_envelope_free(&env);  /* the one in memory is newer */
		else
			job->env = env;
		job->body_loaded = true;
	}
	struct queue_envelope *env = job->env;
	time_t now = time(NULL);
	if (env->sandbox)
		queue_deliver_sandbox(job);
	for (size_t i = 0; i < env->rcpt_count; i++) {
		struct queue_recipient *r = &env->rcpts[i];
		char *file = NULL;
		bool temporary = true;
		const char *error = NULL;

		if (r->state == QUEUE_RCPT_DELIVERED || r->state == QUEUE_RCPT_FAILED)
			continue;
		if (!queue_address_is_local(queue, r->address)) {
			job->remote++;
			continue;
		}
		log_escape(to, sizeof(to), r->address, strlen(r->address));
		if (local_deliver_blocking(config->data_dir, config->hostname, env->sender,
					   r->address, job->body.data ? job->body.data : "",
					   job->body.len, &file, &temporary, &error) == 0) {
			r->state = QUEUE_RCPT_DELIVERED;
			free(r->last_reply);
			r->last_reply = xstrdup("delivered to mailbox");
			log_escape(why, sizeof(why), file, strlen(file));
			log_info("delivered", "queue_id=%s to=%s mailbox=local file=%s delay=%lld",
				 job->id, to, why, (long long)(now - env->arrival));
			queue_event(queue, "delivered", env, r->address, 250, "local mailbox");
			free(file);
		} else {
			r->state = temporary ? QUEUE_RCPT_DEFERRED : QUEUE_RCPT_FAILED;
			free(r->last_reply);
			r->last_reply = xstrdup(error);
			log_escape(why, sizeof(why), error, strlen(error));
			queue_event(queue, temporary ? "deferred" : "failed", env, r->address,
				    temporary ? 451 : 550, error);
			if (temporary) {
				job->local_pending = true;
				log_info("deferred", "queue_id=%s to=%s reason=%s", job->id, to, why);
			} else {
				/* bounces come with the scheduler issue */
				log_warn("failed", "queue_id=%s to=%s reason=%s", job->id, to, why);
			}
		}
		spool_rcpt_log_line(&log, i, r->state, r->last_reply);
	}
	for (size_t i = 0; i < env->rcpt_count; i++) {
		if (env->rcpts[i].state != QUEUE_RCPT_DELIVERED &&
		    env->rcpts[i].state != QUEUE_RCPT_FAILED)
			all_final = false;
	}
	const char *error = NULL;
	if (all_final) {
		if (spool_remove(queue->spool, job->id, &error) == 0) {
			job->removed = true;
		} else {
			log_error("queue_remove", "queue_id=%s error=\"%s\"", job->id, error);
			job->local_pending = true;  /* try again later */
		}
	} else if (log.len > 0 &&
		   spool_rcpt_log_append(queue->spool, job->id, &log, &error) != 0) {
		/* the states stay in memory; a crash now means redelivery */
		log_error("queue_rcpt_log", "queue_id=%s error=\"%s\"", job->id, error);
	}
out:
	buf_free(&log);
}

/* queue_delivery_done - (loop) take the results back, retry or forget */
static void queue_delivery_done(void *arg)
{
	struct queue_delivery_job *job = arg;
	struct queue *queue = job->queue;
	struct queue_msg *msg = job->msg;

	queue->jobs--;
	queue->active--;
	msg->state = QUEUE_MSG_WAITING;
	msg->env = job->env;  /* the envelope stays: it is small and newest */
	job->env = NULL;
	if (job->error) {
		/* EIO may pass; a damaged file stays for the admin, retried and
		 * logged at the retry interval rather than silently forgotten */
		log_error("queue_unreadable", "queue_id=%s error=\"%s\"", msg->id, job->error);
		job->local_pending = true;
	}
	if (job->removed) {
		char id[QUEUE_ID_LEN + 1];
		memcpy(id, msg->id, sizeof(id));
		log_info("removed", "queue_id=%s", id);
		queue_msg_free(queue, msg);
		if (queue->removed_cb)
			queue->removed_cb(queue->removed_ctx, id);
		goto out;
	}
	if (job->remote > 0 && !msg->remote_logged) {
		msg->remote_logged = true;
		log_warn("deferred", "queue_id=%s nrcpt=%zu reason=\"remote delivery not available\"",
			 msg->id, job->remote);
	}
	if (job->local_pending && !queue->stopping) {
		struct timeval tv = { QUEUE_RETRY_SECONDS, 0 };
		if (!msg->retry_ev)
			msg->retry_ev = evtimer_new(queue->base, queue_retry_cb, msg);
		if (!msg->retry_ev || evtimer_add(msg->retry_ev, &tv) != 0)
			log_error("queue_retry", "queue_id=%s error=\"cannot arm the retry timer\"",
				  msg->id);
	}
out:
	queue_envelope_free(&job->env);
	buf_free(&job->body);
	free(job);
	queue_deliveries_start(queue);
}

/* ---- submission and group commit -------------------------------------- */

void queue_submit(struct queue *queue, struct queue_envelope *env, struct buf *body,
		  queue_submit_cb *cb, void *ctx)
{
	struct queue_submit_job *job;

	if (queue->stopping) {
		/* shutting down: the pool may be gone, so answer now */
		queue_envelope_free(&env);
		buf_free(body);
		cb(ctx, -1, NULL, "queue is shutting down");
		return;
	}
	job = xcalloc(1, sizeof(*job));
	if (!queue_id_is_valid(env->id))
		queue_id_new(env->id);
	if (env->arrival == 0)
		env->arrival = time(NULL);
	for (size_t i = 0; i < env->rcpt_count; i++)
		env->rcpts[i].state = QUEUE_RCPT_PENDING;
	job->queue = queue;
	job->env = env;
	job->body = *body;
	buf_init(body);
	env->size = job->body.len;
	job->cb = cb;
	job->ctx = ctx;
	queue->jobs++;
	pool_submit(queue->pool, queue_submit_work, queue_submit_done, job);
}

static void queue_submit_job_free(struct queue_submit_job *job)
{
	queue_envelope_free(&job->env);
	buf_free(&job->body);
	free(job);
}

/* queue_submit_work - (worker) write queue/<ID>, mark complete, fsync, close */
static void queue_submit_work(void *arg)
{
	struct queue_submit_job *job = arg;
	struct buf text;
	int err;

	if (job->env->rcpt_count == 0) {
		job->error = "no recipients";
		return;
	}
	buf_init(&text);
	queue_envelope_serialize(job->env, &text);
	if (spool_write_message(job->queue->spool, job->env->id, &text,
				job->body.data ? job->body.data : "", job->body.len,
				&err, &job->error) != 0)
		log_error("queue_write", "queue_id=%s error=\"%s\"", job->env->id, job->error);
	buf_free(&text);
}

/* queue_submit_done - (loop) wait for a directory sync, or report failure */
static void queue_submit_done(void *arg)
{
	struct queue_submit_job *job = arg;
	struct queue *queue = job->queue;

	queue->jobs--;
	if (job->error) {
		job->cb(job->ctx, -1, NULL, job->error);
		queue_submit_job_free(job);
		return;
	}
	job->next = NULL;
	*queue->waiting_tail = job;
	queue->waiting_tail = &job->next;
	queue_sync_start(queue);
}

/* queue_sync_start - one dir sync for everything waiting, unless one runs */
static void queue_sync_start(struct queue *queue)
{
	if (queue->syncing || !queue->waiting_head)
		return;
	struct queue_sync_job *sync = xcalloc(1, sizeof(*sync));
	sync->queue = queue;
	sync->batch = queue->waiting_head;
	if (log_is_enabled(LOG_LEVEL_DEBUG)) {
		size_t n = 0;
		for (struct queue_submit_job *job = sync->batch; job; job = job->next)
			n++;
		log_debug("queue_sync", "messages=%zu", n);
	}
	queue->waiting_head = NULL;
	queue->waiting_tail = &queue->waiting_head;
	queue->syncing = true;
	queue->jobs++;
	pool_submit(queue->pool, queue_sync_work, queue_sync_done, sync);
}

/* queue_sync_work - (worker) fsync queue/; on failure take the batch back
 * out, since its senders will be told the messages were not accepted */
static void queue_sync_work(void *arg)
{
	struct queue_sync_job *sync = arg;
	int err;

	if (spool_sync_dir(sync->queue->spool, &err, &sync->error) == 0)
		return;
	log_error("queue_sync", "error=\"%s\"", sync->error);
	for (struct queue_submit_job *job = sync->batch; job; job = job->next) {
		const char *error;
		if (spool_remove(sync->queue->spool, job->env->id, &error) != 0)
			log_error("queue_remove", "queue_id=%s error=\"%s\"", job->env->id, error);
	}
}

/* queue_sync_done - (loop) the batch is durable: report, then deliver */
static void queue_sync_done(void *arg)
{
	struct queue_sync_job *sync = arg;
	struct queue *queue = sync->queue;
	struct queue_submit_job *job = sync->batch;

	queue->jobs--;
	queue->syncing = false;
	while (job) {
		struct queue_submit_job *next = job->next;
		if (sync->error) {
			job->cb(job->ctx, -1, NULL, sync->error);
		} else {
			struct queue_msg *msg = queue_msg_add(queue, job->env->id);
			msg->env = job->env;
			job->env = NULL;
			msg->body = job->body;
			buf_init(&job->body);
			msg->body_loaded = true;
			queue_msg_ready(queue, msg);
			job->cb(job->ctx, 0, msg->id, NULL);
		}
		queue_submit_job_free(job);
		job = next;
	}
	free(sync);
	queue_sync_start(queue);
	queue_deliveries_start(queue);
}
