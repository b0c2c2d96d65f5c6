/* queue/queue - the running queue: durable submission, group commit, recovery.
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
 * Delivery attempts, retries and bounces are scheduler.c's; a committed or
 * recovered message joins its FIFO here.
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
#include "queue/queue-int.h"
#include "util/log.h"
#include "util/pool.h"
#include "util/xalloc.h"

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

static void queue_submit_work(void *arg);
static void queue_submit_done(void *arg);
static void queue_submit_job_free(struct queue_submit_job *job);
static void queue_sync_start(struct queue *queue);
static void queue_sync_work(void *arg);
static void queue_sync_done(void *arg);

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
	queue->max_active = config->queue.concurrency;
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

void queue_set_delivery(struct queue *queue, struct delivery *delivery)
{
	queue->delivery = delivery;
}

void queue_msg_removed(struct queue *queue, struct queue_msg *msg)
{
	char id[QUEUE_ID_LEN + 1];
	memcpy(id, msg->id, sizeof(id));
	log_info("removed", "queue_id=%s", id);
	queue_msg_free(queue, msg);
	if (queue->removed_cb)
		queue->removed_cb(queue->removed_ctx, id);
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
	for (struct queue_msg *msg = queue->msgs; msg; msg = msg->next)
		queue_msg_cancel_retry(msg);
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
struct queue_msg *queue_msg_add(struct queue *queue, const char *id)
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

void queue_msg_free(struct queue *queue, struct queue_msg *msg)
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
