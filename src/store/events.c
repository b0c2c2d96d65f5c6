/* store/events - the batched event writer (see store.h).
 *
 * Posted events wait on a list under a mutex.  A worker that posts becomes
 * the writer when nobody is writing: it takes the whole list, writes it in
 * one transaction, and goes on until the list is empty (group commit, as the
 * queue does for its directory).  The loop thread never writes: it schedules
 * one pool job that does the same.  Write errors are logged and the batch is
 * dropped: events are a record, not mail.
 *
 * Bounds: when SQLite falls behind, at most max_pending events wait; further
 * ones are dropped rather than slowing down mail (no back-pressure: the
 * sessions and the queue must not wait for a record of what they did).
 * Drops are counted and logged twice, when they start (events-dropping) and
 * once the list has room again (events-dropped count=N).  Events older than
 * the retention are deleted by a pool job soon after start and every hour.
 */
#include "store/store.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "util/log.h"
#include "util/pool.h"
#include "util/xalloc.h"

struct event_node {
	struct event_node *next;
	struct store_event event;
};

struct store_events {
	struct store *store;
	struct pool *pool;
	pthread_mutex_t lock;
	struct event_node *head, **tail;
	size_t count;
	bool writing;          /* a writer is in events_write_all */
	bool job_scheduled;    /* a pool job will write */
	struct store_events_settings settings;
	unsigned long long dropped;        /* in total */
	unsigned long long dropped_run;    /* since dropping last started */
	bool dropping;                     /* the last post found the list full */
	struct event *prune_timer;         /* NULL: events are kept for ever */
	bool pruning;                      /* a prune job is queued or running (loop only) */
};

static void events_write_all(struct store_events *ev);
static void events_job_work(void *arg);
static void events_job_done(void *arg);
static void event_node_free(struct event_node *n);
static void events_prune_timer_cb(evutil_socket_t fd, short what, void *arg);
static void events_prune_work(void *arg);
static void events_prune_done(void *arg);

#define EVENTS_BATCH_MAX 500
#define EVENTS_PRUNE_FIRST 2      /* seconds after start */
#define EVENTS_PRUNE_EVERY 3600   /* seconds */

struct store_events *store_events_create(struct store *store, struct pool *pool,
					 struct event_base *base,
					 const struct store_events_settings *settings)
{
	struct store_events *ev = xcalloc(1, sizeof(*ev));
	ev->store = store;
	ev->pool = pool;
	ev->settings = *settings;
	pthread_mutex_init(&ev->lock, NULL);
	ev->tail = &ev->head;
	if (base && settings->retention > 0) {
		ev->prune_timer = evtimer_new(base, events_prune_timer_cb, ev);
		struct timeval first = { .tv_sec = EVENTS_PRUNE_FIRST };
		if (!ev->prune_timer || evtimer_add(ev->prune_timer, &first) != 0)
			log_error("events-prune", "error=\"cannot start the prune timer\"");
	}
	return ev;
}

unsigned long long store_events_dropped(struct store_events *ev)
{
	pthread_mutex_lock(&ev->lock);
	unsigned long long n = ev->dropped;
	pthread_mutex_unlock(&ev->lock);
	return n;
}

/* ---- retention ------------------------------------------------------------------ */

struct prune_job {
	struct store_events *ev;
	time_t before;
	uint64_t deleted;
	int rc;
	const char *error;
};

static void events_prune_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct store_events *ev = arg;
	(void)fd;
	(void)what;
	struct timeval next = { .tv_sec = EVENTS_PRUNE_EVERY };
	evtimer_add(ev->prune_timer, &next);
	if (ev->pruning)
		return;  /* the last one is still at it */
	ev->pruning = true;
	struct prune_job *j = xcalloc(1, sizeof(*j));
	j->ev = ev;
	j->before = time(NULL) - (time_t)ev->settings.retention;
	pool_submit(ev->pool, events_prune_work, events_prune_done, j);
}

static void events_prune_work(void *arg)
{
	struct prune_job *j = arg;
	j->rc = store_event_prune(j->ev->store, j->before, &j->deleted, &j->error);
	if (j->rc != 0)
		j->error = xstrdup(j->error); /* the store's buffer is this thread's */
}

static void events_prune_done(void *arg)
{
	struct prune_job *j = arg;
	j->ev->pruning = false;
	if (j->rc != 0)
		log_error("store-failed", "op=event_prune error=\"%s\"", j->error);
	else if (j->deleted > 0)
		log_info("events-pruned", "deleted=%llu before=%lld",
			 (unsigned long long)j->deleted, (long long)j->before);
	if (j->rc != 0)
		free((char *)j->error);
	free(j);
}

static void event_node_free(struct event_node *n)
{
	free(n->event.type);
	free(n->event.account);
	free(n->event.queue_id);
	free(n->event.recipient);
	free(n->event.reason);
	free(n->event.node);
	free(n->event.recipients);
	free(n->event.categories);
	free(n->event.custom_args);
	free(n);
}

void store_events_post(struct store_events *ev, const struct store_event *event, bool on_loop)
{
	struct event_node *n = xcalloc(1, sizeof(*n));
	n->event.time = event->time ? event->time : time(NULL);
	n->event.type = xstrdup(event->type);
	n->event.account = event->account ? xstrdup(event->account) : NULL;
	n->event.queue_id = event->queue_id ? xstrdup(event->queue_id) : NULL;
	n->event.recipient = event->recipient ? xstrdup(event->recipient) : NULL;
	n->event.code = event->code;
	n->event.reason = event->reason ? xstrdup(event->reason) : NULL;
	const char *node = event->node ? event->node : ev->settings.node;
	n->event.node = node ? xstrdup(node) : NULL;
	n->event.recipients = event->recipients ? xstrdup(event->recipients) : NULL;
	n->event.categories = event->categories ? xstrdup(event->categories) : NULL;
	n->event.custom_args = event->custom_args ? xstrdup(event->custom_args) : NULL;

	bool write_now = false, schedule = false, started_dropping = false;
	unsigned long long dropped_run = 0;
	pthread_mutex_lock(&ev->lock);
	if (ev->count >= ev->settings.max_pending) {
		ev->dropped++;
		ev->dropped_run++;
		started_dropping = !ev->dropping;
		ev->dropping = true;
		pthread_mutex_unlock(&ev->lock);
		event_node_free(n);
		if (started_dropping)
			log_warn("events-dropping", "pending=%u error=\"the store is behind; "
				 "events are dropped until it catches up\"", ev->settings.max_pending);
		return;
	}
	if (ev->dropping) {
		ev->dropping = false;
		dropped_run = ev->dropped_run;
		ev->dropped_run = 0;
	}
	*ev->tail = n;
	ev->tail = &n->next;
	ev->count++;
	if (!ev->writing) {
		if (!on_loop) {
			ev->writing = true;
			write_now = true;
		} else if (!ev->job_scheduled) {
			ev->job_scheduled = true;
			schedule = true;
		}
	}
	pthread_mutex_unlock(&ev->lock);
	if (dropped_run > 0)
		log_warn("events-dropped", "count=%llu", dropped_run);
	if (write_now)
		events_write_all(ev);
	else if (schedule)
		pool_submit(ev->pool, events_job_work, events_job_done, ev);
}

/* events_write_all - the writer: batches until the list is empty */
static void events_write_all(struct store_events *ev)
{
	for (;;) {
		pthread_mutex_lock(&ev->lock);
		struct event_node *list = ev->head;
		size_t n = ev->count;
		ev->head = NULL;
		ev->tail = &ev->head;
		ev->count = 0;
		if (!list)
			ev->writing = false;
		pthread_mutex_unlock(&ev->lock);
		if (!list)
			return;
		struct store_event *batch = xcalloc(n < EVENTS_BATCH_MAX ? n : EVENTS_BATCH_MAX,
						    sizeof(*batch));
		while (list) {
			size_t k = 0;
			struct event_node *first = list;
			for (struct event_node *p = list; p && k < EVENTS_BATCH_MAX; p = p->next)
				batch[k++] = p->event;
			const char *error = NULL;
			if (store_event_add_many(ev->store, batch, k, &error) != 0)
				log_error("store-failed", "op=event_add events=%zu error=\"%s\"", k,
					  error);
			for (size_t i = 0; i < k; i++) {
				struct event_node *next = first->next;
				event_node_free(first);
				first = next;
			}
			list = first;
		}
		free(batch);
	}
}

static void events_job_work(void *arg)
{
	struct store_events *ev = arg;
	pthread_mutex_lock(&ev->lock);
	ev->job_scheduled = false;
	bool mine = !ev->writing;
	if (mine)
		ev->writing = true;
	pthread_mutex_unlock(&ev->lock);
	if (mine)
		events_write_all(ev);
}

static void events_job_done(void *arg)
{
	(void)arg;
}

void store_events_free(struct store_events **evp)
{
	struct store_events *ev = *evp;
	if (!ev)
		return;
	pthread_mutex_lock(&ev->lock);
	bool idle = !ev->writing;
	ev->writing = true;
	pthread_mutex_unlock(&ev->lock);
	if (idle)
		events_write_all(ev);
	if (ev->prune_timer)
		event_free(ev->prune_timer);
	pthread_mutex_destroy(&ev->lock);
	free(ev);
	*evp = NULL;
}
