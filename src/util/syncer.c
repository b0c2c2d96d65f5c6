/* util/syncer - group commit with syncfs(2); see syncer.h.
 *
 * Tickets: each syncer_wait() takes the next ticket under the lock.  A
 * leader (the first waiter when no syncfs runs) notes the last ticket
 * handed out, drops the lock, calls syncfs(), and on return marks every
 * ticket up to that mark done.  A waiter whose ticket is not done waits on
 * the condition variable, and becomes the next leader when the running
 * syncfs finishes without covering it (its ticket came after the mark: its
 * writes may have finished after that syncfs began).
 *
 * A lazy waiter (syncer_wait_lazy) takes a ticket the same way but does
 * not lead until its delay has passed: any syncfs that begins after its
 * ticket, led by an eager waiter, covers it (the leader's mark is the last
 * ticket handed out, lazy ones included).  At most lazy_max callers linger
 * at once (1 unless syncer_set_lazy_max says more): a lingering thread is a
 * worker the others may need (a pool whose workers all lingered would have
 * none left to start the syncfs they wait for), so one lazy caller too many
 * commits the group at once.  An eager caller always leads or rides the
 * running syncfs: lingering lazy callers ride it too.
 *
 * A lazy request (syncer_request_lazy) holds no thread, so any number may
 * linger: the syncer's thread leads only once one request is eager or past
 * its due time, and meanwhile rides any syncfs a blocking caller leads.
 * Once a syncfs ends, the requests it covered are answered eager ones
 * first.
 *
 * syncer_lead_if_idle leads like syncer_wait, but only when no syncfs
 * runs (it never waits for one): its mark covers the requests waiting too,
 * and syncer_lead wakes the syncer's thread to answer them.
 */
#include "util/syncer.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/timespec.h"
#include "util/xalloc.h"

struct syncer {
	int fd;
	dev_t dev;                   /* the file system syncfs(fd) flushes */
	pthread_mutex_t lock;
	pthread_cond_t done_cond;
	unsigned long long issued;   /* last ticket handed out */
	unsigned long long covered;  /* every ticket <= covered is durable */
	bool running;                /* a leader is in syncfs() */
	unsigned lingering;          /* lazy callers still waiting out their delay */
	unsigned lazy_max;           /* more lingering callers than this: sync now */
	int error;                   /* first failure's errno, 0 if none */
	/* syncer_request: callers that do not wait, and the thread that syncs
	 * for them (started by the first request) */
	struct syncer_request *req_head, *req_tail;
	pthread_cond_t req_cond;
	pthread_t thread;
	bool thread_started;
	bool stopping;
	_Atomic unsigned long long syncs;
	_Atomic unsigned long long waits;
};

struct syncer_request {
	struct syncer_request *next;
	unsigned long long ticket;
	struct timespec due;  /* CLOCK_MONOTONIC: no syncfs need start before */
	bool eager;           /* no delay: someone waits on it (a 250) */
	syncer_done_fn *fn;
	void *arg;
};

static void *syncer_thread_main(void *arg);

struct syncer *syncer_open(const char *path, int *errno_r)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		*errno_r = errno;
		return NULL;
	}
	struct stat st;
	if (fstat(fd, &st) != 0) {
		*errno_r = errno;
		close(fd);
		return NULL;
	}
	struct syncer *s = xcalloc(1, sizeof(*s));
	s->fd = fd;
	s->dev = st.st_dev;
	s->lazy_max = 1;
	pthread_mutex_init(&s->lock, NULL);
	/* the lazy wait's deadline on the monotonic clock: a step of the
	 * wall clock must not stretch it */
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&s->done_cond, &attr);
	pthread_cond_init(&s->req_cond, &attr);
	pthread_condattr_destroy(&attr);
	return s;
}

void syncer_close(struct syncer **syncerp)
{
	struct syncer *s = *syncerp;
	if (!s)
		return;
	if (s->thread_started) {
		/* it answers every request made so far, then ends */
		pthread_mutex_lock(&s->lock);
		s->stopping = true;
		pthread_cond_signal(&s->req_cond);
		pthread_mutex_unlock(&s->lock);
		pthread_join(s->thread, NULL);
	}
	close(s->fd);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->done_cond);
	pthread_cond_destroy(&s->req_cond);
	free(s);
	*syncerp = NULL;
}

/* syncer_lead - (lock held) run one syncfs covering every ticket issued so
 * far; returns with the lock held again */
static void syncer_lead(struct syncer *s)
{
	unsigned long long mark = s->issued;
	s->running = true;
	pthread_mutex_unlock(&s->lock);
	int rc = syncfs(s->fd);
	int err = rc == 0 ? 0 : errno;
	atomic_fetch_add(&s->syncs, 1);
	pthread_mutex_lock(&s->lock);
	s->running = false;
	if (err != 0 && s->error == 0)
		s->error = err;
	s->covered = mark;
	pthread_cond_broadcast(&s->done_cond);
	pthread_cond_signal(&s->req_cond);  /* lazy requests it covered */
}

/* syncer_stop_lingering - (lock held) a lazy caller becomes an eager one */
static void syncer_stop_lingering(struct syncer *s, bool *lazy)
{
	*lazy = false;
	s->lingering--;
}

void syncer_set_lazy_max(struct syncer *s, unsigned lazy_max)
{
	pthread_mutex_lock(&s->lock);
	s->lazy_max = lazy_max ? lazy_max : 1;
	pthread_mutex_unlock(&s->lock);
}

int syncer_wait(struct syncer *s, int *errno_r)
{
	return syncer_wait_lazy(s, 0, errno_r);
}

int syncer_wait_lazy(struct syncer *s, unsigned delay_ms, int *errno_r)
{
	struct timespec until;
	timespec_after_ms(CLOCK_MONOTONIC, delay_ms, &until);
	bool lazy = delay_ms > 0;
	pthread_mutex_lock(&s->lock);
	unsigned long long ticket = ++s->issued;
	atomic_fetch_add(&s->waits, 1);
	if (lazy)
		s->lingering++;
	while (s->error == 0 && s->covered < ticket) {
		if (lazy && s->lingering > s->lazy_max)
			syncer_stop_lingering(s, &lazy);  /* one too many: commit the group now */
		if (s->running)
			pthread_cond_wait(&s->done_cond, &s->lock);
		else if (lazy && pthread_cond_timedwait(&s->done_cond, &s->lock, &until) != 0)
			syncer_stop_lingering(s, &lazy);  /* nobody synced meanwhile: lead */
		else if (!lazy)
			syncer_lead(s);
	}
	if (lazy)
		s->lingering--;
	int err = s->error;
	pthread_mutex_unlock(&s->lock);
	if (err != 0) {
		*errno_r = err;
		return -1;
	}
	return 0;
}

bool syncer_lead_if_idle(struct syncer *s, int *err_r)
{
	pthread_mutex_lock(&s->lock);
	if (s->error == 0 && s->running) {
		pthread_mutex_unlock(&s->lock);
		return false;
	}
	if (s->error == 0) {
		++s->issued;  /* this caller's ticket: the syncfs below covers it */
		atomic_fetch_add(&s->waits, 1);
		syncer_lead(s);
	}
	*err_r = s->error;
	pthread_mutex_unlock(&s->lock);
	return true;
}

void syncer_request(struct syncer *s, syncer_done_fn *fn, void *arg)
{
	syncer_request_lazy(s, 0, fn, arg);
}

void syncer_request_lazy(struct syncer *s, unsigned delay_ms, syncer_done_fn *fn, void *arg)
{
	struct timespec due;
	timespec_after_ms(CLOCK_MONOTONIC, delay_ms, &due);
	pthread_mutex_lock(&s->lock);
	int err = s->error;
	if (err == 0) {
		if (!s->thread_started) {
			int rc = pthread_create(&s->thread, NULL, syncer_thread_main, s);
			if (rc != 0) {
				fprintf(stderr, "petrel: pthread_create: error %d\n", rc);
				abort();
			}
			s->thread_started = true;
		}
		struct syncer_request *r = xmalloc(sizeof(*r));
		r->next = NULL;
		r->ticket = ++s->issued;
		r->due = due;
		r->eager = delay_ms == 0;
		r->fn = fn;
		r->arg = arg;
		if (s->req_tail)
			s->req_tail->next = r;
		else
			s->req_head = r;
		s->req_tail = r;
		atomic_fetch_add(&s->waits, 1);
		pthread_cond_signal(&s->req_cond);
	}
	pthread_mutex_unlock(&s->lock);
	if (err != 0)
		fn(arg, err);  /* an earlier syncfs failed: nothing is durable */
}

/* syncer_requests_answer - (lock held) take the requests a completed syncfs
 * covers (all of them after a failure); the lock is dropped while their
 * callbacks run, the eager ones' first: someone waits on those (a 250),
 * while a lazy one's next step (a Maildir link) may wait its turn for a CPU */
static void syncer_requests_answer(struct syncer *s)
{
	struct syncer_request *eager = NULL, **eager_tail = &eager;
	struct syncer_request *lazy = NULL, **lazy_tail = &lazy;
	while (s->req_head && (s->error != 0 || s->req_head->ticket <= s->covered)) {
		struct syncer_request *r = s->req_head;
		s->req_head = r->next;
		r->next = NULL;
		if (r->eager) {
			*eager_tail = r;
			eager_tail = &r->next;
		} else {
			*lazy_tail = r;
			lazy_tail = &r->next;
		}
	}
	if (!s->req_head)
		s->req_tail = NULL;
	if (!eager && !lazy)
		return;
	*eager_tail = lazy;
	int err = s->error;
	pthread_mutex_unlock(&s->lock);
	while (eager) {
		struct syncer_request *r = eager;
		eager = r->next;
		r->fn(r->arg, err);
		free(r);
	}
	pthread_mutex_lock(&s->lock);
}

/* syncer_requests_due - (lock held) the earliest due time of the waiting
 * requests into *DUE_R; true if it has come (or the syncer is closing) */
static bool syncer_requests_due(struct syncer *s, struct timespec *due_r)
{
	*due_r = s->req_head->due;
	for (struct syncer_request *r = s->req_head->next; r; r = r->next) {
		if (timespec_before(&r->due, due_r))
			*due_r = r->due;
	}
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return s->stopping || !timespec_before(&now, due_r);
}

/* syncer_thread_main - sync for the requests: lead a syncfs whenever some
 * wait, one of them is due, and none runs (a running one, led by a blocking
 * caller, may have begun before them: wait for its end, then lead the
 * next); until one is due, wait for it or for a syncfs that covers them */
static void *syncer_thread_main(void *arg)
{
	struct syncer *s = arg;
	struct timespec due;
	pthread_mutex_lock(&s->lock);
	for (;;) {
		syncer_requests_answer(s);
		if (!s->req_head) {
			if (s->stopping)
				break;
			pthread_cond_wait(&s->req_cond, &s->lock);
		} else if (s->running) {
			pthread_cond_wait(&s->done_cond, &s->lock);
		} else if (!syncer_requests_due(s, &due)) {
			(void)pthread_cond_timedwait(&s->req_cond, &s->lock, &due);
		} else {
			syncer_lead(s);
		}
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

bool syncer_covers(struct syncer *s, int fd)
{
	struct stat st;
	return fstat(fd, &st) == 0 && st.st_dev == s->dev;
}

bool syncer_failed(struct syncer *s)
{
	pthread_mutex_lock(&s->lock);
	bool failed = s->error != 0;
	pthread_mutex_unlock(&s->lock);
	return failed;
}

void syncer_stats(struct syncer *s, struct syncer_stats *stats_r)
{
	stats_r->syncs = atomic_load(&s->syncs);
	stats_r->waits = atomic_load(&s->waits);
}
