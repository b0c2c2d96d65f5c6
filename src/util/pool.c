/* util/pool - worker threads reporting back to the libevent loop.
 *
 * Submitted jobs wait on a FIFO guarded by a mutex; finished jobs go on a
 * second list and an eventfd wakes the loop, which runs their DONE callbacks.
 */
#include "util/pool.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#include <event2/event.h>

#include "util/syncer.h"
#include "util/xalloc.h"

struct pool_job {
	struct pool_job *next;
	struct pool *pool;
	pool_work_fn *work;
	pool_done_fn *done;
	void *arg;
	/* pool_then_sync: the sync to wait for once WORK returns, what runs
	 * after it, and where its outcome goes */
	struct syncer *then_syncer;
	unsigned then_delay_ms;  /* pool_then_sync_lazy's */
	pool_work_fn *then_next;
	int *then_err;
};

struct pool {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct pool_job *todo_head, *todo_tail;
	struct pool_job *done_head, *done_tail;
	bool stopping;
	bool stopped;            /* threads joined; submits run inline */
	unsigned pending;        /* loop thread only */
	unsigned parked;         /* jobs waiting for a sync (pool_then_sync) */
	pthread_t *threads;
	unsigned nthreads;
	int nice;                /* added by each thread to its own nice value */
	int wake_fd;
	struct event *wake_ev;
};

static void *pool_thread_main(void *arg);
static void pool_job_park(struct pool_job *job);
static bool pool_job_sync_inline(struct pool_job *job);
static void pool_job_resume(void *arg, int err);
static void pool_job_finished(struct pool *pool, struct pool_job *job);
static void pool_job_run_inline(struct pool_job *job);

/* the job a worker (or an inline run) is running: pool_then_sync's */
static _Thread_local struct pool_job *pool_current;
static void pool_wake_cb(evutil_socket_t fd, short what, void *arg);
static void pool_run_done(struct pool *pool);

struct pool *pool_create(struct event_base *base, unsigned threads)
{
	return pool_create_niced(base, threads, 0);
}

struct pool *pool_create_niced(struct event_base *base, unsigned threads, int nice)
{
	struct pool *pool = xcalloc(1, sizeof(*pool));
	pool->nice = nice;
	pthread_mutex_init(&pool->lock, NULL);
	pthread_cond_init(&pool->cond, NULL);
	pool->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (pool->wake_fd < 0) {
		perror("petrel: eventfd");
		exit(1);
	}
	pool->wake_ev = event_new(base, pool->wake_fd, EV_READ | EV_PERSIST, pool_wake_cb, pool);
	event_add(pool->wake_ev, NULL);
	pool->nthreads = threads ? threads : 1;
	pool->threads = xcalloc(pool->nthreads, sizeof(*pool->threads));
	for (unsigned i = 0; i < pool->nthreads; i++) {
		int err = pthread_create(&pool->threads[i], NULL, pool_thread_main, pool);
		if (err != 0) {
			fprintf(stderr, "petrel: pthread_create: error %d\n", err);
			exit(1);
		}
	}
	return pool;
}

void pool_submit(struct pool *pool, pool_work_fn *work, pool_done_fn *done, void *arg)
{
	struct pool_job *job = xcalloc(1, sizeof(*job));
	job->pool = pool;
	job->work = work;
	job->done = done;
	job->arg = arg;
	if (pool->stopped) {
		/* Shutting down: the loop no longer runs, so run the job here. */
		pool_job_run_inline(job);
		return;
	}
	pool->pending++;
	pthread_mutex_lock(&pool->lock);
	if (pool->todo_tail)
		pool->todo_tail->next = job;
	else
		pool->todo_head = job;
	pool->todo_tail = job;
	pthread_mutex_unlock(&pool->lock);
	pthread_cond_signal(&pool->cond);
}

unsigned pool_pending(const struct pool *pool)
{
	return pool->pending;
}

/* pool_thread_main - take jobs until the pool stops */
static void *pool_thread_main(void *arg)
{
	struct pool *pool = arg;
	/* Linux: the nice value is per thread, and PRIO_PROCESS with a thread
	 * id sets it.  Raising it needs no privilege; failing it is harmless. */
	if (pool->nice != 0) {
		errno = 0;
		int cur = getpriority(PRIO_PROCESS, (id_t)gettid());
		if (errno == 0 && setpriority(PRIO_PROCESS, (id_t)gettid(), cur + pool->nice) != 0)
			perror("petrel: setpriority");
	}
	pthread_mutex_lock(&pool->lock);
	for (;;) {
		/* a stopping pool still runs what parked jobs go on with */
		while (!pool->todo_head && (!pool->stopping || pool->parked > 0))
			pthread_cond_wait(&pool->cond, &pool->lock);
		struct pool_job *job = pool->todo_head;
		if (!job)
			break;
		pool->todo_head = job->next;
		if (!pool->todo_head)
			pool->todo_tail = NULL;
		pthread_mutex_unlock(&pool->lock);

		pool_current = job;
		job->work(job->arg);
		pool_current = NULL;
		while (job->then_syncer && pool_job_sync_inline(job)) {
			pool_current = job;
			job->work(job->arg);  /* its next step, on this worker */
			pool_current = NULL;
		}
		if (job->then_syncer) {
			pool_job_park(job);
			pthread_mutex_lock(&pool->lock);
			continue;
		}

		pthread_mutex_lock(&pool->lock);
		pool_job_finished(pool, job);
	}
	pthread_mutex_unlock(&pool->lock);
	return NULL;
}

/* pool_job_finished - (lock held) JOB's DONE is due on the loop */
static void pool_job_finished(struct pool *pool, struct pool_job *job)
{
	job->next = NULL;
	bool was_empty = pool->done_head == NULL;
	if (pool->done_tail)
		pool->done_tail->next = job;
	else
		pool->done_head = job;
	pool->done_tail = job;
	if (was_empty) {
		uint64_t one = 1;
		ssize_t n = write(pool->wake_fd, &one, sizeof(one));
		(void)n; /* EAGAIN means the counter is already set */
	}
}

void pool_then_sync(struct syncer *syncer, pool_work_fn *next, int *err_r)
{
	pool_then_sync_lazy(syncer, 0, next, err_r);
}

void pool_then_sync_lazy(struct syncer *syncer, unsigned delay_ms, pool_work_fn *next,
			 int *err_r)
{
	struct pool_job *job = pool_current;
	assert(job && !job->then_syncer);
	job->then_syncer = syncer;
	job->then_delay_ms = delay_ms;
	job->then_next = next;
	job->then_err = err_r;
}

/* pool_job_sync_inline - (worker) JOB asked for an eager sync and none
 * runs: lead it on this worker rather than wake the syncer's thread for it
 * (a lone message's 250 then waits for one thread hand-over less).  True
 * if it ran: its next step is JOB's work (true) or, without one, its DONE
 * is due on the loop (false, then_syncer cleared).  False otherwise: the
 * job parks. */
static bool pool_job_sync_inline(struct pool_job *job)
{
	int err = 0;
	if (job->then_delay_ms > 0 || !syncer_lead_if_idle(job->then_syncer, &err))
		return false;
	*job->then_err = err;
	job->then_syncer = NULL;
	if (!job->then_next)
		return false;
	job->work = job->then_next;
	job->then_next = NULL;
	return true;
}

/* pool_job_park - (worker) JOB asked for a sync: it waits for it holding
 * no thread */
static void pool_job_park(struct pool_job *job)
{
	struct pool *pool = job->pool;
	struct syncer *syncer = job->then_syncer;
	job->then_syncer = NULL;
	pthread_mutex_lock(&pool->lock);
	pool->parked++;
	pthread_mutex_unlock(&pool->lock);
	syncer_request_lazy(syncer, job->then_delay_ms, pool_job_resume, job);
}

/* pool_job_resume - (the syncer's thread) the sync a parked job waited for
 * is done: its next step goes to the workers, or its DONE to the loop */
static void pool_job_resume(void *arg, int err)
{
	struct pool_job *job = arg;
	struct pool *pool = job->pool;
	*job->then_err = err;
	pthread_mutex_lock(&pool->lock);
	pool->parked--;
	if (job->then_next) {
		job->work = job->then_next;
		job->then_next = NULL;
		job->next = NULL;
		if (pool->todo_tail)
			pool->todo_tail->next = job;
		else
			pool->todo_head = job;
		pool->todo_tail = job;
	} else {
		pool_job_finished(pool, job);
	}
	if (pool->stopping && pool->parked == 0)
		pthread_cond_broadcast(&pool->cond);  /* the workers may end once idle */
	else if (pool->todo_head)
		pthread_cond_signal(&pool->cond);
	pthread_mutex_unlock(&pool->lock);
}

/* pool_job_run_inline - a stopped pool's job, on the caller's thread: its
 * syncs are waited for here */
static void pool_job_run_inline(struct pool_job *job)
{
	struct pool_job *outer = pool_current;
	for (;;) {
		pool_current = job;
		job->work(job->arg);
		pool_current = outer;
		if (!job->then_syncer)
			break;
		int err = 0;
		*job->then_err = syncer_wait(job->then_syncer, &err) == 0 ? 0 : err;
		job->then_syncer = NULL;
		if (!job->then_next)
			break;
		job->work = job->then_next;
		job->then_next = NULL;
	}
	if (job->done)
		job->done(job->arg);
	free(job);
}

/* pool_run_done - run DONE for every finished job, on the loop thread */
static void pool_run_done(struct pool *pool)
{
	pthread_mutex_lock(&pool->lock);
	struct pool_job *job = pool->done_head;
	pool->done_head = pool->done_tail = NULL;
	pthread_mutex_unlock(&pool->lock);
	while (job) {
		struct pool_job *next = job->next;
		pool->pending--;
		if (job->done)
			job->done(job->arg);
		free(job);
		job = next;
	}
}

static void pool_wake_cb(evutil_socket_t fd, short what, void *arg)
{
	uint64_t count;
	ssize_t n = read(fd, &count, sizeof(count));
	(void)n;
	(void)what;
	pool_run_done(arg);
}

void pool_free(struct pool **poolp)
{
	struct pool *pool = *poolp;
	if (!pool)
		return;
	pthread_mutex_lock(&pool->lock);
	pool->stopping = true;
	pthread_cond_broadcast(&pool->cond);
	pthread_mutex_unlock(&pool->lock);
	for (unsigned i = 0; i < pool->nthreads; i++)
		pthread_join(pool->threads[i], NULL);
	pool->stopped = true;
	pool_run_done(pool);
	event_free(pool->wake_ev);
	if (close(pool->wake_fd) != 0 && errno != EINTR)
		perror("petrel: close eventfd");
	pthread_mutex_destroy(&pool->lock);
	pthread_cond_destroy(&pool->cond);
	free(pool->threads);
	free(pool);
	*poolp = NULL;
}
