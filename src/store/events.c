/* store/events - the batched event writer (see store.h).
 *
 * Posted events wait on a list under a mutex.  The writer, a thread of its
 * own, takes the whole list and writes it in one transaction, and goes on
 * until the list is empty (group commit, as the queue does for its
 * directory).  Before it takes a list it lets it fill for up to write_delay
 * milliseconds from its first event's post (or until EVENTS_BATCH_MAX wait):
 * at one message at a time each event would otherwise be a transaction of
 * its own, whose CPU and WAL pages cost more than the message's own work.
 * Posting never writes nor waits, on the loop or on a worker.  Write errors
 * are logged and the batch is dropped: events are a record, not mail.
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "util/timespec.h"

#include "util/log.h"
#include "util/pool.h"
#include "util/xalloc.h"

struct event_node {
	struct event_node *next;
	struct store_event event;
};

struct store_events {
	struct store *store;
	struct pool *pool;             /* the prune job's */
	pthread_mutex_t lock;
	pthread_cond_t cond;           /* (CLOCK_MONOTONIC) the writer waits on it */
	struct event_node *head, **tail;
	size_t count;
	struct timespec due;           /* CLOCK_MONOTONIC: the list's oldest event has
					  waited write_delay then */
	bool stopping;                 /* store_events_free: write what is left, then end */
	pthread_t writer;
	struct store_events_settings settings;
	unsigned long long dropped;        /* in total */
	unsigned long long dropped_run;    /* since dropping last started */
	bool dropping;                     /* the last post found the list full */
	struct event *prune_timer;         /* NULL: events are kept for ever */
	bool pruning;                      /* a prune job is queued or running (loop only) */
};

static void *events_writer_main(void *arg);
static void events_write_list(struct store_events *ev, struct event_node *list, size_t n);
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
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&ev->cond, &attr);
	pthread_condattr_destroy(&attr);
	ev->tail = &ev->head;
	int err = pthread_create(&ev->writer, NULL, events_writer_main, ev);
	if (err != 0) {
		fprintf(stderr, "petrel: pthread_create (event writer): error %d\n", err);
		exit(1);
	}
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

void store_events_post(struct store_events *ev, const struct store_event *event)
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

	bool started_dropping = false, wake = false;
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
	if (!ev->head)
		timespec_after_ms(CLOCK_MONOTONIC, ev->settings.write_delay_ms, &ev->due);
	*ev->tail = n;
	ev->tail = &n->next;
	ev->count++;
	/* the writer waits untimed for a first event, timed for a full batch */
	wake = ev->count == 1 || ev->count == EVENTS_BATCH_MAX;
	pthread_mutex_unlock(&ev->lock);
	if (wake)
		pthread_cond_signal(&ev->cond);
	if (dropped_run > 0)
		log_warn("events-dropped", "count=%llu", dropped_run);
}

/* events_linger - (writer, lock held) let the list fill: until write_delay
 * has passed since its first event's post, a batch is full, or the writer
 * stops */
static void events_linger(struct store_events *ev)
{
	for (;;) {
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (ev->stopping || ev->count >= EVENTS_BATCH_MAX || !timespec_before(&now, &ev->due))
			return;
		pthread_cond_timedwait(&ev->cond, &ev->lock, &ev->due);
	}
}

/* events_writer_main - the writer's thread: each list, once lingered, in
 * transactions of up to EVENTS_BATCH_MAX; what is left once stopping too */
static void *events_writer_main(void *arg)
{
	struct store_events *ev = arg;
	pthread_mutex_lock(&ev->lock);
	for (;;) {
		while (!ev->head && !ev->stopping)
			pthread_cond_wait(&ev->cond, &ev->lock);
		if (!ev->head)
			break;
		events_linger(ev);
		struct event_node *list = ev->head;
		size_t n = ev->count;
		ev->head = NULL;
		ev->tail = &ev->head;
		ev->count = 0;
		pthread_mutex_unlock(&ev->lock);
		events_write_list(ev, list, n);
		pthread_mutex_lock(&ev->lock);
	}
	pthread_mutex_unlock(&ev->lock);
	return NULL;
}

/* events_write_list - the N events of LIST, in transactions of up to
 * EVENTS_BATCH_MAX; LIST is freed */
static void events_write_list(struct store_events *ev, struct event_node *list, size_t n)
{
	struct store_event *batch = xcalloc(n < EVENTS_BATCH_MAX ? n : EVENTS_BATCH_MAX,
					    sizeof(*batch));
	while (list) {
		size_t k = 0;
		struct event_node *first = list;
		for (struct event_node *p = list; p && k < EVENTS_BATCH_MAX; p = p->next)
			batch[k++] = p->event;
		const char *error = NULL;
		if (store_event_add_many(ev->store, batch, k, &error) != 0)
			log_error("store-failed", "op=event_add events=%zu error=\"%s\"", k, error);
		for (size_t i = 0; i < k; i++) {
			struct event_node *next = first->next;
			event_node_free(first);
			first = next;
		}
		list = first;
	}
	free(batch);
}

void store_events_free(struct store_events **evp)
{
	struct store_events *ev = *evp;
	if (!ev)
		return;
	pthread_mutex_lock(&ev->lock);
	ev->stopping = true;
	pthread_mutex_unlock(&ev->lock);
	pthread_cond_signal(&ev->cond);
	pthread_join(ev->writer, NULL);
	if (ev->prune_timer)
		event_free(ev->prune_timer);
	pthread_cond_destroy(&ev->cond);
	pthread_mutex_destroy(&ev->lock);
	free(ev);
	*evp = NULL;
}
