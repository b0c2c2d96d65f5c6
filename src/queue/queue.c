/* queue/queue - the running queue: durable submission, group commit, recovery.
 *
 * Everything here runs on the loop thread; every open/write/sync/rename/
 * readdir runs in pool work functions (spool.c, local/maildir.c), except the
 * start-up work in queue_create, which runs before the loop does.
 *
 * Submission and group commit.  queue_submit() hands the message to a worker,
 * which writes queue/new/<ID>, marks it complete and closes it; it is
 * durable once a syncfs that began after that has completed
 * (spool_commit_dir, util/syncer): a worker whose file is written waits for
 * the sync in progress, and the next one covers every file finished
 * meanwhile, so under load one sync serves many messages.  The callback
 * reports success only after that sync (DESIGN "250 means durable").
 *
 * Delivery attempts, retries and bounces are scheduler.c's; a committed or
 * recovered message joins its FIFO here.
 *
 * At-least-once, by choice: a recipient's Maildir file is fsync'ed before its
 * state is logged, so a crash between the two delivers it again after the
 * restart; and the final unlink of the message's file is not synced: if a
 * crash loses it, recovery finds the message with every recipient final in
 * its log and removes it again (or, if the log was never needed, delivers it
 * again).  A duplicate is better than a loss; no path loses a message.
 */
#include "queue/queue.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "config/config.h"
#include "local/local.h"
#include "store/store.h"
#include "queue/queue-int.h"
#include "util/log.h"
#include "util/pool.h"
#include "util/syncer.h"
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


static void queue_submit_work(void *arg);
static void queue_submit_done(void *arg);
static void queue_submit_job_free(struct queue_submit_job *job);
static struct syncer *queue_mail_syncer_open(const char *data_dir, const char **error_r);

/* queue_mail_syncer_open - the group commit of local deliveries, on
 * <data_dir>/mail (made here, mode 0700, if it does not exist yet) */
static struct syncer *queue_mail_syncer_open(const char *data_dir, const char **error_r)
{
	char *mail = xasprintf("%s/mail", data_dir);
	int err = 0;
	struct syncer *syncer = NULL;
	if (mkdir(mail, 0700) == 0) {
		int fd = open(data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0 || fsync(fd) != 0)
			log_warn("mail_dir", "error=\"cannot sync the data folder: %s\"",
				 strerror(errno));
		if (fd >= 0)
			close(fd);
	}
	syncer = syncer_open(mail, &err);
	if (!syncer)
		*error_r = "cannot open the mail folder";
	free(mail);
	return syncer;
}

struct queue *queue_create(struct event_base *base, struct pool *pool,
			   const struct config *config, const char **error_r)
{
	struct queue *queue = xcalloc(1, sizeof(*queue));
	struct spool_entry *ids = NULL;
	size_t count = 0, legacy = 0;
	time_t now = time(NULL);

	queue->base = base;
	queue->pool = pool;
	queue->config = config;
	queue->max_active = config->queue.concurrency;
	queue->file_max = QUEUE_FILE_MAX;
	queue->spool = spool_open(config->data_dir, true, error_r);
	if (!queue->spool)
		goto fail;
	queue->mail_syncer = queue_mail_syncer_open(config->data_dir, error_r);
	if (!queue->mail_syncer)
		goto fail;
	/* blocking, but before the loop runs: recovery */
	if (spool_convert_legacy(queue->spool, &legacy, error_r) != 0)
		goto fail;
	if (legacy > 0)
		log_info("queue_converted", "count=%zu to=queue/" SPOOL_NEW_DIR, legacy);
	if (spool_list(queue->spool, &ids, &count, error_r) != 0)
		goto fail;
	for (size_t i = 0; i < count; i++) {
		struct queue_msg *msg = queue_msg_add(queue, ids[i].id);
		msg->loc = ids[i].loc;
		log_debug("recovered", "queue_id=%s", msg->id);
		if (msg->loc.folder == SPOOL_HOLD)
			msg->held = true;
		else if (msg->loc.folder == SPOOL_DEFER && msg->loc.t > (long long)now)
			queue_msg_retry_at(queue, msg, (time_t)msg->loc.t);
		else
			queue_msg_ready(queue, msg);
	}
	log_info("recovered", "count=%zu", count);
	free(ids);
	return queue;
fail:
	free(ids);
	spool_close(&queue->spool);
	syncer_close(&queue->mail_syncer);
	free(queue);
	return NULL;
}

void queue_start(struct queue *queue)
{
	queue_deliveries_start(queue);
}

void queue_set_store(struct queue *queue, struct store *store, struct store_events *events)
{
	queue->store = store;
	queue->events = events;
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
	/* let running jobs finish: submissions still get their callback (after
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
	syncer_close(&queue->mail_syncer);
	free(queue);
	*queuep = NULL;
}

size_t queue_message_count(const struct queue *queue)
{
	return queue->msg_count;
}

void queue_stats(const struct queue *queue, struct queue_stats *stats_r)
{
	struct syncer_stats sync;
	memset(stats_r, 0, sizeof(*stats_r));
	stats_r->messages = queue->msg_count;
	for (const struct queue_msg *msg = queue->msgs; msg; msg = msg->next) {
		if (msg->body_loaded) {
			stats_r->bodies++;
			stats_r->body_bytes += msg->body.len;
		}
	}
	syncer_stats(queue->spool->syncer, &sync);
	stats_r->queue_syncs = sync.syncs;
	stats_r->queue_waits = sync.waits;
	syncer_stats(queue->mail_syncer, &sync);
	stats_r->mail_syncs = sync.syncs;
	stats_r->mail_waits = sync.waits;
	stats_r->accepted = queue->accepted;
	stats_r->delivered = atomic_load(&queue->delivered);
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

/* queue_submit_work - (worker) write queue/<ID>, mark complete, fsync,
 * close, then the group-committed directory fsync */
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
	job->env->body_crc = queue_crc32c(0, job->body.data ? job->body.data : "", job->body.len);
	job->env->has_body_crc = true;
	queue_envelope_serialize(job->env, &text);
	if (spool_write_message(job->queue->spool, job->env->id, &text,
				job->body.data ? job->body.data : "", job->body.len,
				&err, &job->error) != 0) {
		log_error("queue_write", "queue_id=%s error=\"%s\"", job->env->id, job->error);
	} else if (spool_commit_dir(job->queue->spool, &err, &job->error) != 0) {
		/* not durable: take it back out, the client is told it failed */
		const char *error;
		log_error("queue_sync", "queue_id=%s error=\"%s\"", job->env->id, job->error);
		struct spool_loc loc = { SPOOL_NEW, 0 };
		if (spool_remove(job->queue->spool, &loc, job->env->id, &error) != 0)
			log_error("queue_remove", "queue_id=%s error=\"%s\"", job->env->id, error);
	}
	buf_free(&text);
}

/* queue_submit_done - (loop) durable or failed: report, then deliver */
static void queue_submit_done(void *arg)
{
	struct queue_submit_job *job = arg;
	struct queue *queue = job->queue;

	queue->jobs--;
	if (job->error) {
		job->cb(job->ctx, -1, NULL, job->error);
	} else {
		struct queue_msg *msg = queue_msg_add(queue, job->env->id);
		msg->env = job->env;
		job->env = NULL;
		msg->body = job->body;
		buf_init(&job->body);
		msg->body_loaded = true;
		queue->accepted++;
		queue_msg_ready(queue, msg);
		job->cb(job->ctx, 0, msg->id, NULL);
		queue_deliveries_start(queue);
	}
	queue_submit_job_free(job);
}
