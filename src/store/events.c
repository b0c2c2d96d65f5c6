/* store/events - the batched event writer (see store.h).
 *
 * Posted events wait on a list under a mutex.  A worker that posts becomes
 * the writer when nobody is writing: it takes the whole list, writes it in
 * one transaction, and goes on until the list is empty (group commit, as the
 * queue does for its directory).  The loop thread never writes: it schedules
 * one pool job that does the same.  Write errors are logged and the batch is
 * dropped: events are a record, not mail.
 */
#include "store/store.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
};

static void events_write_all(struct store_events *ev);
static void events_job_work(void *arg);
static void events_job_done(void *arg);
static void event_node_free(struct event_node *n);

#define EVENTS_BATCH_MAX 500

struct store_events *store_events_create(struct store *store, struct pool *pool)
{
	struct store_events *ev = xcalloc(1, sizeof(*ev));
	ev->store = store;
	ev->pool = pool;
	pthread_mutex_init(&ev->lock, NULL);
	ev->tail = &ev->head;
	return ev;
}

static void event_node_free(struct event_node *n)
{
	free(n->event.type);
	free(n->event.account);
	free(n->event.queue_id);
	free(n->event.recipient);
	free(n->event.reason);
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

	bool write_now = false, schedule = false;
	pthread_mutex_lock(&ev->lock);
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
	pthread_mutex_destroy(&ev->lock);
	free(ev);
	*evp = NULL;
}
