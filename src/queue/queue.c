/* queue/queue - the running queue: durable submission, group commit, recovery.
 *
 * Everything here runs on the loop thread; every open/write/sync/rename/
 * readdir runs in pool work functions (spool.c, local/maildir.c), except the
 * start-up work in queue_create, which runs before the loop does.
 *
 * Submission and group commit.  queue_submit() hands the message to a worker,
 * which writes queue/new/<ID>, marks it complete and closes it; it is
 * durable once a syncfs that began after that has completed
 * (spool_commit_later, util/syncer): the job then gives its worker back and
 * waits for the syncer's own thread, whose next syncfs covers every file
 * finished meanwhile, so under load one sync serves many messages and no
 * worker sits waiting for it.  The callback reports success only after that
 * sync (DESIGN "250 means durable").
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
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "config/config.h"
#include "local/local.h"
#include "mailbox/mailbox.h"
#include "store/store.h"
#include "queue/queue-int.h"
#include "util/log.h"
#include "util/pool.h"
#include "util/siphash.h"
#include "util/syncer.h"
#include "util/xalloc.h"

struct queue_submit_job {
	struct queue_submit_job *next;  /* in its queue->submitting slot */
	struct queue *queue;
	struct queue_envelope *env;
	struct buf body;
	queue_submit_cb *cb;
	void *ctx;
	const char *error;              /* NULL: file written and synced */
	bool syncing;                   /* written; DONE comes after its sync */
	int sync_err;                   /* that sync's outcome (pool_then_sync) */
};


static void queue_submit_work(void *arg);
static void queue_submit_done(void *arg);
static void queue_submit_undo_work(void *arg);
static void queue_submit_job_free(struct queue_submit_job *job);
static void submitting_add(struct queue *queue, struct queue_submit_job *job);
static void submitting_remove(struct queue *queue, struct queue_submit_job *job);
static bool submitting_has(struct queue *queue, const char *id);
static struct syncer *queue_mail_syncer_open(const char *data_dir, struct spool *spool,
					     bool *shared_r, const char **error_r);
static void queue_mail_syncer_close(struct queue *queue);
static void queue_bucket_cb(evutil_socket_t fd, short what, void *arg);

/* queue_mail_syncer_open - the group commit of local deliveries, on
 * <data_dir>/mail (made here, mode 0700, if it does not exist yet).  When
 * mail/ is on the queue's file system (the usual case) it is the spool's
 * own syncer, *SHARED_R true: one syncfs then covers accepted messages and
 * Maildir files together, the fewest flushes. */
static struct syncer *queue_mail_syncer_open(const char *data_dir, struct spool *spool,
					     bool *shared_r, const char **error_r)
{
	char *mail = xasprintf("%s/mail", data_dir);
	int err = 0;
	struct syncer *syncer = NULL;
	struct stat mail_st, spool_st;
	if (mkdir(mail, 0700) == 0) {
		int fd = open(data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0 || fsync(fd) != 0)
			log_warn("mail_dir", "error=\"cannot sync the data folder: %s\"",
				 strerror(errno));
		if (fd >= 0)
			close(fd);
	}
	*shared_r = stat(mail, &mail_st) == 0 && fstat(spool->dir_fd, &spool_st) == 0 &&
		mail_st.st_dev == spool_st.st_dev;
	syncer = *shared_r ? spool->syncer : syncer_open(mail, &err);
	if (!syncer)
		*error_r = "cannot open the mail folder";
	free(mail);
	return syncer;
}

/* queue_mail_syncer_close - close the mail folder's syncer if it is its own */
static void queue_mail_syncer_close(struct queue *queue)
{
	mailbox_cache_size_set(0);
	mailbox_setup(NULL, NULL);
	if (queue->mail_syncer_shared)
		queue->mail_syncer = NULL;
	else
		syncer_close(&queue->mail_syncer);
}

static int time_compare(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;
	return x < y ? -1 : x > y;
}

struct queue *queue_create(struct event_base *base, struct pool *pool,
			   const struct config *config, const char **error_r)
{
	struct queue *queue = xcalloc(1, sizeof(*queue));
	long long *times = NULL;
	size_t ntimes = 0, legacy = 0;

	queue->base = base;
	queue->pool = pool;
	queue->config = config;
	queue->max_active = config->queue.concurrency;
	queue->file_max = QUEUE_FILE_MAX;
	queue->start_time = time(NULL);
	if (getrandom(queue->hash_key, sizeof(queue->hash_key), 0) !=
	    (ssize_t)sizeof(queue->hash_key)) {
		*error_r = "cannot get random bytes for the queue's tables";
		goto fail;
	}
	queue->hash_size = 1024;
	queue->hash = xcalloc(queue->hash_size, sizeof(*queue->hash));
	queue->spool = spool_open(config->data_dir, true, error_r);
	if (!queue->spool)
		goto fail;
	queue->mail_syncer = queue_mail_syncer_open(config->data_dir, queue->spool,
						    &queue->mail_syncer_shared, error_r);
	if (!queue->mail_syncer)
		goto fail;
	/* deliveries linger for the syncs of accepted messages; half the
	 * workers may, the other half stays free for those accepted messages */
	syncer_set_lazy_max(queue->mail_syncer, config->workers / 2);
	/* the mailbox store (IMAP/POP3 appends, copies) commits with it too */
	mailbox_setup(queue->mail_syncer, config->hostname);
	mailbox_cache_size_set(config->mailbox.cache_size);
	mailbox_header_cache_max_set(config->mailbox.header_cache_max);
	/* blocking, but before the loop runs: recovery */
	if (spool_convert_legacy(queue->spool, &legacy, error_r) != 0)
		goto fail;
	if (legacy > 0)
		log_info("queue_converted", "count=%zu to=queue/" SPOOL_NEW_DIR, legacy);
	/* no message file is read here: the names of defer/'s folders, and
	 * new/ to go through; the loader does the rest once the loop runs */
	if (spool_list_defer(queue->spool, &times, &ntimes, error_r) != 0)
		goto fail;
	/* in order, so that each is added at the end: no quadratic start with
	 * many folders (retry_max up to a week makes hundreds of thousands) */
	if (ntimes > 1)
		qsort(times, ntimes, sizeof(*times), time_compare);
	for (size_t i = 0; i < ntimes; i++)
		queue_bucket_add(queue, times[i]);
	/* for GET /metrics: the waiting messages' names counted (no stat),
	 * before anything can move one */
	if (spool_count_waiting(queue->spool, times, ntimes, error_r) != 0)
		goto fail;
	free(times);
	queue->backlog = true;
	queue->bucket_ev = evtimer_new(base, queue_bucket_cb, queue);
	if (!queue->bucket_ev) {
		*error_r = "cannot make the queue's timer";
		goto fail;
	}
	return queue;
fail:
	free(times);
	free(queue->buckets);
	free(queue->hash);
	queue_mail_syncer_close(queue);
	spool_close(&queue->spool);
	free(queue);
	return NULL;
}

void queue_start(struct queue *queue)
{
	queue->started = true;
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

void queue_set_signer(struct queue *queue, queue_sign_fn *fn, void *ctx)
{
	queue->sign = fn;
	queue->sign_ctx = ctx;
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
	if (queue->bucket_ev)
		event_del(queue->bucket_ev);
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
	if (queue->bucket_ev)
		event_free(queue->bucket_ev);
	spool_dir_close(&queue->new_dir);
	spool_dir_close(&queue->bucket_dir);
	free(queue->buckets);
	free(queue->hash);
	queue_mail_syncer_close(queue);
	spool_close(&queue->spool);
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
	long long in_defer = 0, in_hold = 0;
	for (const struct queue_msg *msg = queue->msgs; msg; msg = msg->next) {
		stats_r->bodies += msg->body_loaded;
		stats_r->ready += msg->state == QUEUE_MSG_READY;
		stats_r->delivering += msg->state == QUEUE_MSG_DELIVERING;
		stats_r->retrying += msg->state == QUEUE_MSG_WAITING;
		in_defer += msg->loc.folder == SPOOL_DEFER;
		in_hold += msg->loc.folder == SPOOL_HOLD;
	}
	/* a worker moves a file before the loop learns where it went: never
	 * below zero in between */
	long long deferred = atomic_load(&queue->spool->deferred_files) - in_defer;
	long long held = atomic_load(&queue->spool->held_files) - in_hold;
	stats_r->deferred_on_disk = deferred > 0 ? (unsigned long long)deferred : 0;
	stats_r->held_on_disk = held > 0 ? (unsigned long long)held : 0;
	stats_r->attempt_seconds = queue->attempt_seconds;
	stats_r->body_bytes = queue->body_bytes;
	stats_r->buckets = queue->nbuckets;
	syncer_stats(queue->spool->syncer, &sync);
	stats_r->queue_syncs = sync.syncs;
	stats_r->queue_waits = sync.waits;
	stats_r->syncer_shared = queue->mail_syncer_shared;
	if (!queue->mail_syncer_shared) {
		syncer_stats(queue->mail_syncer, &sync);
		stats_r->mail_syncs = sync.syncs;
		stats_r->mail_waits = sync.waits;
	}
	stats_r->accepted = queue->accepted;
	stats_r->delivered = atomic_load(&queue->delivered);
	stats_r->deferred = atomic_load(&queue->deferred);
	stats_r->bounced = atomic_load(&queue->bounced);
}

/* ---- messages ---------------------------------------------------------- */

/* id_hash - where ID goes in the queue's tables: util/siphash under the
 * queue's random key, as the other tables of the server */
static size_t id_hash(const struct queue *queue, const char *id)
{
	return (size_t)siphash24(queue->hash_key, id, QUEUE_ID_LEN);
}

/* hash_grow - double the table when it is fuller than one per slot */
static void hash_grow(struct queue *queue)
{
	size_t size = queue->hash_size * 2;
	struct queue_msg **hash = xcalloc(size, sizeof(*hash));
	for (struct queue_msg *m = queue->msgs; m; m = m->next) {
		size_t k = id_hash(queue, m->id) & (size - 1);
		m->hash_next = hash[k];
		hash[k] = m;
	}
	free(queue->hash);
	queue->hash = hash;
	queue->hash_size = size;
}

struct queue_msg *queue_msg_find(struct queue *queue, const char *id)
{
	for (struct queue_msg *m = queue->hash[id_hash(queue, id) & (queue->hash_size - 1)]; m;
	     m = m->hash_next)
		if (memcmp(m->id, id, QUEUE_ID_LEN) == 0)
			return m;
	return NULL;
}

/* queue_msg_add - a new message record in memory (the caller made sure no
 * other has its ID) */
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
	if (queue->msg_count > queue->hash_size)
		hash_grow(queue);  /* links MSG too */
	else {
		size_t k = id_hash(queue, id) & (queue->hash_size - 1);
		msg->hash_next = queue->hash[k];
		queue->hash[k] = msg;
	}
	return msg;
}

void queue_msg_free(struct queue *queue, struct queue_msg *msg)
{
	struct queue_msg **link = &queue->hash[id_hash(queue, msg->id) & (queue->hash_size - 1)];
	while (*link && *link != msg)
		link = &(*link)->hash_next;
	if (*link)
		*link = msg->hash_next;
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
	queue_body_drop(queue, msg);
	free(msg);
}

void queue_body_drop(struct queue *queue, struct queue_msg *msg)
{
	if (msg->body_loaded)
		queue->body_bytes -= msg->body.len;
	buf_free(&msg->body);
	msg->body_loaded = false;
}

void queue_msg_forget(struct queue *queue, struct queue_msg *msg)
{
	if (msg->loc.folder == SPOOL_DEFER)
		queue_bucket_add(queue, msg->loc.t);
	else if (msg->loc.folder == SPOOL_NEW)
		queue_backlog_add(queue);
	queue_msg_free(queue, msg);
}

/* ---- the loader: messages on disk come back into memory ---------------- */

/* The active set has room for active_limit messages.  Whatever is not in
 * it waits on disk: defer/<T>/ folders, each due at its T (their times are
 * in queue->buckets, one timer armed for the earliest), and the new/
 * backlog (messages accepted when there was no room, and everything in
 * new/ after a start).  One loader job at a time reads up to
 * QUEUE_LOAD_BATCH names from one folder on a worker and the loop adds
 * those not in memory yet; a folder is read in a pass of such jobs, its
 * stream kept open between them.  Due folders come first, oldest first,
 * then new/.  A message that leaves a folder while it is being read may
 * still be named by the pass (readdir may or may not show changes made
 * after opendir): its attempt then finds it gone and looks it up again
 * (attempt_unreadable).  One that enters a folder during its pass may be
 * missed, so the pass is run again (again, backlog_again). */

struct queue_load_job {
	struct queue *queue;
	struct spool_loc loc;
	struct spool_dir *dir;          /* the pass's folder, NULL to open it */
	size_t max;
	time_t remove_before;           /* incomplete files older are removed */
	char (*ids)[QUEUE_ID_LEN + 1];
	size_t count;
	bool end;                       /* the pass is over */
	int err;
};

static int bucket_compare(const void *a, const void *b)
{
	const struct queue_bucket *x = a, *y = b;
	return x->t < y->t ? -1 : x->t > y->t;
}

static struct queue_bucket *bucket_find(struct queue *queue, long long t)
{
	struct queue_bucket key = { .t = t };
	if (queue->nbuckets == 0)
		return NULL;
	return bsearch(&key, queue->buckets, queue->nbuckets, sizeof(key), bucket_compare);
}

/* queue_bucket_add - note defer/<T>/ in the sorted list (once); one being
 * read right now is read again when its pass ends */
void queue_bucket_add(struct queue *queue, long long t)
{
	struct queue_bucket *b = bucket_find(queue, t);
	if (b) {
		if (queue->bucket_pass && queue->bucket_t == t)
			b->again = true;
		queue_load_next(queue);
		return;
	}
	if (queue->nbuckets == queue->buckets_alloc) {
		queue->buckets_alloc = queue->buckets_alloc ? queue->buckets_alloc * 2 : 16;
		queue->buckets = xrealloc(queue->buckets,
					  queue->buckets_alloc * sizeof(*queue->buckets));
	}
	size_t k = queue->nbuckets;
	while (k > 0 && queue->buckets[k - 1].t > t) {
		queue->buckets[k] = queue->buckets[k - 1];
		k--;
	}
	queue->buckets[k] = (struct queue_bucket){ .t = t };
	queue->nbuckets++;
	queue_load_next(queue);
}

static void bucket_remove(struct queue *queue, long long t)
{
	struct queue_bucket *b = bucket_find(queue, t);
	if (!b)
		return;
	size_t k = (size_t)(b - queue->buckets);
	memmove(b, b + 1, (queue->nbuckets - k - 1) * sizeof(*b));
	queue->nbuckets--;
}

void queue_backlog_add(struct queue *queue)
{
	if (queue->new_pass)
		queue->backlog_again = true;
	else
		queue->backlog = true;
	queue_load_next(queue);
}

size_t queue_flush_all(struct queue *queue)
{
	for (size_t i = 0; i < queue->nbuckets; i++)
		queue->buckets[i].due_now = true;
	queue_load_next(queue);
	return queue->nbuckets;
}

static void queue_bucket_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	queue_load_next(arg);
}

/* queue_load_work - (worker) the next batch of names of one folder */
static void queue_load_work(void *arg)
{
	struct queue_load_job *j = arg;
	if (!j->dir) {
		j->dir = spool_dir_open(j->queue->spool, &j->loc, &j->err);
		if (!j->dir) {
			j->end = true;
			if (j->err == ENOENT)
				j->err = 0;  /* emptied and removed meanwhile */
			return;
		}
	}
	j->ids = xcalloc(j->max, sizeof(*j->ids));
	if (spool_dir_read(j->dir, j->max, j->remove_before, j->ids, &j->count, &j->end,
			   &j->err) != 0)
		j->end = true;
	if (j->end)
		spool_dir_close(&j->dir);
}

/* queue_load_done - (loop) add what is not in memory yet; end a pass */
static void queue_load_done(void *arg)
{
	struct queue_load_job *j = arg;
	struct queue *queue = j->queue;
	bool is_new = j->loc.folder == SPOOL_NEW;
	queue->jobs--;
	queue->loading = false;
	if (j->err != 0) {
		char path[SPOOL_PATH_MAX];
		spool_loc_path(&j->loc, "", path);
		log_error("queue_load", "folder=queue/%s error=\"%s\"", path, strerror(j->err));
	}
	bool skipped = false;
	for (size_t i = 0; i < j->count && !queue->stopping; i++) {
		/* a file whose submission is still in flight is its
		 * submission's: it may not be durable yet, and that
		 * submission takes it into memory (or into the backlog) */
		if (queue_msg_find(queue, j->ids[i]) || submitting_has(queue, j->ids[i]))
			continue;
		if (queue_op_on_disk(queue, j->ids[i])) {
			/* the administrator's operation finishes first; the
			 * message stays due (it may be back in new/) */
			skipped = true;
			continue;
		}
		if (queue->msg_count >= queue->config->queue.active_limit) {
			/* submissions took the room meanwhile: read it again later */
			skipped = true;
			continue;
		}
		struct queue_msg *msg = queue_msg_add(queue, j->ids[i]);
		msg->loc = j->loc;
		log_debug(is_new && !queue->recovered ? "recovered" : "loaded", "queue_id=%s "
			  "folder=%s in_memory=%zu", msg->id, is_new ? SPOOL_NEW_DIR : SPOOL_DEFER_DIR,
			  queue->msg_count);
		if (is_new && !queue->recovered)
			queue->recovered_count++;
		queue_msg_ready(queue, msg);
	}
	if (is_new)
		queue->new_dir = j->dir;
	else
		queue->bucket_dir = j->dir;
	if (skipped && is_new) {
		queue->backlog_again = true;
	} else if (skipped) {
		struct queue_bucket *b = bucket_find(queue, j->loc.t);
		if (b)
			b->again = b->short_of_room = true;
	}
	if (j->err != 0) {
		/* a folder that could not be read (EMFILE, EIO ...) is read
		 * again after a pause, never dropped: its messages stay due */
		queue->load_retry_at = time(NULL) + QUEUE_LOAD_RETRY;
		if (is_new)
			queue->backlog_again = true;
	}
	if (j->end && is_new) {
		queue->new_pass = false;
		queue->backlog = queue->backlog_again;
		queue->backlog_again = false;
		if (!queue->recovered && !queue->stopping) {
			queue->recovered = true;
			log_info("recovered", "count=%zu", queue->recovered_count);
		}
	} else if (j->end) {
		struct queue_bucket *b = bucket_find(queue, j->loc.t);
		queue->bucket_pass = false;
		if (b && (b->again || j->err != 0)) {
			/* read it again: due at its T, or now if it is left
			 * for want of room */
			b->again = false;
			b->due_now = b->due_now && b->short_of_room;
			b->short_of_room = false;
		} else if (b) {
			/* every message it held is in memory (or gone) */
			bucket_remove(queue, j->loc.t);
		}
	}
	free(j->ids);
	free(j);
	queue_deliveries_start(queue);
}

/* bucket_timer_arm - wake up when the earliest defer/<T>/ is due */
static void bucket_timer_arm(struct queue *queue, time_t now)
{
	if (queue->nbuckets == 0 || !queue->bucket_ev)
		return;
	long long t = queue->buckets[0].t;
	struct timeval tv = { t > (long long)now ? (time_t)(t - (long long)now) : 0, 0 };
	if (evtimer_add(queue->bucket_ev, &tv) != 0)
		log_error("queue_retry", "error=\"cannot arm the timer of queue/" SPOOL_DEFER_DIR
			  "/%lld\"", t);
}

/* queue_load_next - (loop) the loader's next job: the defer/<T>/ being read,
 * else the oldest due one, else new/ when it may hold messages not in
 * memory; none while another runs or while the active set is full (a
 * message leaving memory calls here again); with nothing to do, the timer
 * waits for the earliest defer/<T>/ */
void queue_load_next(struct queue *queue)
{
	time_t now = time(NULL);
	size_t limit = queue->config->queue.active_limit;
	if (!queue->started || queue->stopping || queue->loading)
		return;
	if ((long long)now < queue->load_retry_at) {
		/* after a failed read: the timer comes back */
		struct timeval tv = { (time_t)(queue->load_retry_at - (long long)now), 0 };
		if (queue->bucket_ev && evtimer_add(queue->bucket_ev, &tv) != 0)
			log_error("queue_retry", "error=\"cannot arm the loader's timer\"");
		return;
	}
	struct spool_loc loc = { SPOOL_NEW, 0 };
	struct queue_bucket *due = NULL;
	if (queue->bucket_pass) {
		due = bucket_find(queue, queue->bucket_t);
	} else {
		for (size_t i = 0; i < queue->nbuckets && !due; i++)
			if (queue->buckets[i].due_now || queue->buckets[i].t <= (long long)now)
				due = &queue->buckets[i];
	}
	if (!due && !queue->backlog && !queue->new_pass) {
		bucket_timer_arm(queue, now);
		return;
	}
	if (queue->msg_count >= limit)
		return;  /* again when a message leaves memory */
	struct queue_load_job *j = xcalloc(1, sizeof(*j));
	j->queue = queue;
	j->max = limit - queue->msg_count < QUEUE_LOAD_BATCH ? limit - queue->msg_count :
		QUEUE_LOAD_BATCH;
	j->remove_before = queue->start_time;
	if (due) {
		loc = (struct spool_loc){ SPOOL_DEFER, due->t };
		if (!queue->bucket_pass) {
			queue->bucket_pass = true;
			queue->bucket_t = due->t;
			due->again = false;
		}
		j->dir = queue->bucket_dir;
		queue->bucket_dir = NULL;
	} else {
		if (!queue->new_pass) {
			queue->new_pass = true;
			queue->backlog = false;
		}
		j->dir = queue->new_dir;
		queue->new_dir = NULL;
	}
	j->loc = loc;
	queue->loading = true;
	queue->jobs++;
	pool_submit(queue->pool, queue_load_work, queue_load_done, j);
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
	submitting_add(queue, job);
	queue->jobs++;
	pool_submit(queue->pool, queue_submit_work, queue_submit_done, job);
}

/* submitting_add, submitting_remove, submitting_has - the submissions in
 * flight by ID (loop thread) */
static void submitting_add(struct queue *queue, struct queue_submit_job *job)
{
	struct queue_submit_job **slot =
		&queue->submitting[id_hash(queue, job->env->id) % QUEUE_SUBMITTING_SLOTS];
	job->next = *slot;
	*slot = job;
}

static void submitting_remove(struct queue *queue, struct queue_submit_job *job)
{
	struct queue_submit_job **link =
		&queue->submitting[id_hash(queue, job->env->id) % QUEUE_SUBMITTING_SLOTS];
	while (*link && *link != job)
		link = &(*link)->next;
	if (*link)
		*link = job->next;
}

static bool submitting_has(struct queue *queue, const char *id)
{
	for (struct queue_submit_job *j = queue->submitting[id_hash(queue, id) % QUEUE_SUBMITTING_SLOTS];
	     j; j = j->next)
		if (memcmp(j->env->id, id, QUEUE_ID_LEN) == 0)
			return true;
	return false;
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
	} else if (spool_commit_later(job->queue->spool, NULL, &job->sync_err, &err,
				      &job->error) != 0) {
		queue_submit_undo_work(job);
	} else {
		job->syncing = true;  /* DONE runs after the sync */
	}
	buf_free(&text);
}

/* queue_submit_undo_work - (worker) not durable: take the file back out, the
 * client is told it failed */
static void queue_submit_undo_work(void *arg)
{
	struct queue_submit_job *job = arg;
	const char *error;
	log_error("queue_sync", "queue_id=%s error=\"%s\"", job->env->id, job->error);
	struct spool_loc loc = { SPOOL_NEW, 0 };
	if (spool_remove(job->queue->spool, &loc, job->env->id, &error) != 0)
		log_error("queue_remove", "queue_id=%s error=\"%s\"", job->env->id, error);
}

/* queue_submit_done - (loop) durable or failed: report, then deliver */
static void queue_submit_done(void *arg)
{
	struct queue_submit_job *job = arg;
	struct queue *queue = job->queue;

	if (job->syncing) {
		int err;
		job->syncing = false;
		if (spool_commit_result(queue->spool, job->sync_err, &err, &job->error) != 0) {
			pool_submit(queue->pool, queue_submit_undo_work, queue_submit_done, job);
			return;
		}
	}
	queue->jobs--;
	submitting_remove(queue, job);
	if (job->error) {
		job->cb(job->ctx, -1, NULL, job->error);
	} else {
		char id[QUEUE_ID_LEN + 1];
		memcpy(id, job->env->id, sizeof(id));
		queue->accepted++;
		if (queue_msg_find(queue, id)) {
			/* the loader met its file in new/ first */
		} else if (queue->msg_count >= queue->config->queue.active_limit) {
			/* no room: it waits in new/ for the loader */
			log_debug("queued", "queue_id=%s kept=no in_memory=%zu", id, queue->msg_count);
			queue_backlog_add(queue);
		} else {
			struct queue_msg *msg = queue_msg_add(queue, id);
			msg->env = job->env;
			job->env = NULL;
			if (queue->body_bytes + job->body.len <= queue->config->queue.memory_limit) {
				/* kept for the first attempt, within [queue] memory_limit */
				msg->body = job->body;
				buf_init(&job->body);
				msg->body_loaded = true;
				queue->body_bytes += msg->body.len;
			}
			log_debug("queued", "queue_id=%s kept=yes body=%s in_memory=%zu", id,
				  msg->body_loaded ? "yes" : "no", queue->msg_count);
			queue_msg_ready(queue, msg);
		}
		job->cb(job->ctx, 0, id, NULL);
		queue_deliveries_start(queue);
	}
	queue_submit_job_free(job);
}
