/* test-syncer - util/syncer: a wait is covered only by a syncfs that began
 * after it; concurrent waits share syncfs calls; every wait succeeds on a
 * healthy file system; a lazy wait rides another caller's syncfs; requests
 * are answered by the syncer's own thread, lazy ones after their delay or
 * with another's syncfs, eager ones first; a caller may lead a syncfs on
 * its own thread when none runs. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/syncer.h"

#define THREADS 8
#define WAITS_PER_THREAD 50

static void test_open_missing_folder(void **state)
{
	(void)state;
	int err = 0;
	assert_null(syncer_open("/nonexistent/petrel-syncer", &err));
	assert_int_not_equal(err, 0);
}

/* one caller, one after the other: each wait needs a syncfs of its own,
 * since the previous one began before the call */
static void test_sequential_waits_each_sync(void **state)
{
	(void)state;
	int err = 0;
	struct syncer *s = syncer_open("/tmp", &err);
	assert_non_null(s);
	for (int i = 0; i < 5; i++)
		assert_int_equal(syncer_wait(s, &err), 0);
	struct syncer_stats st;
	syncer_stats(s, &st);
	assert_int_equal(st.syncs, 5);
	assert_int_equal(st.waits, 5);
	assert_false(syncer_failed(s));
	syncer_close(&s);
	assert_null(s);
}

static void *waiter(void *arg)
{
	struct syncer *s = arg;
	for (int i = 0; i < WAITS_PER_THREAD; i++) {
		int err = 0;
		if (syncer_wait(s, &err) != 0)
			return (void *)1;
	}
	return NULL;
}

/* many callers at once: all succeed, and never more syncfs calls than waits */
static void test_concurrent_waits_share(void **state)
{
	(void)state;
	int err = 0;
	struct syncer *s = syncer_open("/tmp", &err);
	assert_non_null(s);
	pthread_t t[THREADS];
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, waiter, s), 0);
	for (int i = 0; i < THREADS; i++) {
		void *rv = NULL;
		pthread_join(t[i], &rv);
		assert_null(rv);
	}
	struct syncer_stats st;
	syncer_stats(s, &st);
	assert_int_equal(st.waits, THREADS * WAITS_PER_THREAD);
	assert_true(st.syncs >= 1);
	assert_true(st.syncs <= st.waits);
	syncer_close(&s);
}

/* eager_after - an eager wait once the lazy waiter holds its ticket (the
 * waits counter says so): whatever the scheduling, the syncfs it leads
 * begins after the lazy ticket */
static void *eager_after(void *arg)
{
	struct syncer *s = arg;
	struct syncer_stats st;
	for (syncer_stats(s, &st); st.waits == 0; syncer_stats(s, &st))
		usleep(1000);
	int err = 0;
	return syncer_wait(s, &err) == 0 ? NULL : (void *)1;
}

/* a lazy wait alone starts its own syncfs once its delay has passed */
static void test_lazy_wait_alone_syncs_after_its_delay(void **state)
{
	(void)state;
	int err = 0;
	struct syncer *s = syncer_open("/tmp", &err);
	assert_non_null(s);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(syncer_wait_lazy(s, 20, &err), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	/* it waited its delay first (a lower bound only: never flaky) */
	long long ms = (t1.tv_sec - t0.tv_sec) * 1000LL + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	assert_true(ms >= 19);
	struct syncer_stats st;
	syncer_stats(s, &st);
	assert_int_equal(st.syncs, 1);
	syncer_close(&s);
}

/* a lazy wait is carried by an eager waiter's syncfs that began after it:
 * two waits, one syncfs */
static void test_lazy_wait_rides_an_eager_sync(void **state)
{
	(void)state;
	int err = 0;
	struct syncer *s = syncer_open("/tmp", &err);
	assert_non_null(s);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, eager_after, s), 0);
	assert_int_equal(syncer_wait_lazy(s, 10000, &err), 0);
	void *rv = (void *)1;
	pthread_join(t, &rv);
	assert_null(rv);
	struct syncer_stats st;
	syncer_stats(s, &st);
	assert_int_equal(st.waits, 2);
	assert_int_equal(st.syncs, 1);
	syncer_close(&s);
}

struct lazy_arg {
	struct syncer *syncer;
	unsigned delay_ms;
	long long started_ms;  /* now_ms() when it called syncer_wait_lazy */
	long long elapsed_ms;
	int rc;
};

static long long now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000LL + t.tv_nsec / 1000000;
}

static void *lazy_waiter(void *arg)
{
	struct lazy_arg *l = arg;
	int err = 0;
	l->started_ms = now_ms();
	l->rc = syncer_wait_lazy(l->syncer, l->delay_ms, &err);
	l->elapsed_ms = now_ms() - l->started_ms;
	return NULL;
}

/* run_lazy_waiters - N threads each in syncer_wait_lazy(DELAY_MS) on a
 * syncer that lets LAZY_MAX linger; the number of syncfs made */
static unsigned long long run_lazy_waiters(unsigned lazy_max, unsigned n, unsigned delay_ms,
					   struct lazy_arg *args)
{
	int err = 0;
	struct syncer *s = syncer_open("/tmp", &err);
	assert_non_null(s);
	syncer_set_lazy_max(s, lazy_max);
	pthread_t t[8];
	assert_true(n <= 8);
	for (unsigned i = 0; i < n; i++) {
		args[i] = (struct lazy_arg){ .syncer = s, .delay_ms = delay_ms, .rc = -1 };
		assert_int_equal(pthread_create(&t[i], NULL, lazy_waiter, &args[i]), 0);
	}
	for (unsigned i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	struct syncer_stats st;
	syncer_stats(s, &st);
	assert_int_equal(st.waits, n);
	syncer_close(&s);
	return st.syncs;
}

/* two lazy callers may linger together: no syncfs starts before the first
 * one's delay is out, so both return no earlier than that (a lower bound
 * only; the later one may return before its own delay, carried by the first
 * one's syncfs, by as much as the threads' start times differ), and one
 * syncfs covers them */
static void test_lazy_waiters_linger_together(void **state)
{
	(void)state;
	struct lazy_arg args[2];
	unsigned long long syncs = run_lazy_waiters(2, 2, 1500, args);
	long long first = args[0].started_ms < args[1].started_ms ? args[0].started_ms
		: args[1].started_ms;
	for (int i = 0; i < 2; i++) {
		assert_int_equal(args[i].rc, 0);
		assert_true(args[i].started_ms + args[i].elapsed_ms >= first + 1499);
	}
	/* the first to time out leads; the other started before that syncfs
	 * began unless it was held up past the whole delay */
	assert_true(syncs >= 1 && syncs <= 2);
}

/* one lazy caller more than lazy_max commits the group at once: nobody
 * waits for the (10 s) delay, one syncfs covers all three */
static void test_lazy_waiter_beyond_max_commits(void **state)
{
	(void)state;
	struct lazy_arg args[3];
	unsigned long long syncs = run_lazy_waiters(2, 3, 10000, args);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(args[i].rc, 0);
		assert_true(args[i].elapsed_ms < 9000);
	}
	assert_int_equal(syncs, 1);
}

struct answers {
	pthread_mutex_t lock;
	unsigned count;
	int first_err;
};

static void count_answer(void *arg, int err)
{
	struct answers *a = arg;
	pthread_mutex_lock(&a->lock);
	a->count++;
	if (err != 0 && a->first_err == 0)
		a->first_err = err;
	pthread_mutex_unlock(&a->lock);
}

static unsigned answers_count(struct answers *a)
{
	pthread_mutex_lock(&a->lock);
	unsigned n = a->count;
	pthread_mutex_unlock(&a->lock);
	return n;
}

/* requests do not wait: the syncer's thread answers each once a syncfs that
 * began after it is done; one syncfs may answer many */
static void test_requests_answered_by_the_syncer_thread(void **state)
{
	(void)state;
	int err = 0;
	struct syncer *s = syncer_open("/tmp", &err);
	assert_non_null(s);
	struct answers a = { .lock = PTHREAD_MUTEX_INITIALIZER };
	for (int i = 0; i < 100; i++)
		syncer_request(s, count_answer, &a);
	for (int i = 0; i < 10000 && answers_count(&a) < 100; i++)  /* at most 10 s */
		usleep(1000);
	assert_int_equal(answers_count(&a), 100);
	assert_int_equal(a.first_err, 0);
	struct syncer_stats st;
	syncer_stats(s, &st);
	assert_int_equal(st.waits, 100);
	assert_true(st.syncs >= 1 && st.syncs <= 100);
	/* and a blocking wait after them needs a syncfs of its own */
	assert_int_equal(syncer_wait(s, &err), 0);
	syncer_stats(s, &st);
	assert_int_equal(st.waits, 101);
	syncer_close(&s);
}

/* syncer_close answers the requests still waiting before it returns */
static void test_close_answers_waiting_requests(void **state)
{
	(void)state;
	int err = 0;
	struct syncer *s = syncer_open("/tmp", &err);
	assert_non_null(s);
	struct answers a = { .lock = PTHREAD_MUTEX_INITIALIZER };
	for (int i = 0; i < 50; i++)
		syncer_request(s, count_answer, &a);
	syncer_close(&s);
	assert_int_equal(a.count, 50);
	assert_int_equal(a.first_err, 0);
}

/* a lazy request alone starts no syncfs before its delay; one that an
 * eager request follows rides the eager one's syncfs long before its own
 * (10 s) delay: two answers, one syncfs */
static void test_lazy_request_waits_or_rides(void **state)
{
	(void)state;
	int err = 0;
	struct syncer *s = syncer_open("/tmp", &err);
	assert_non_null(s);
	struct answers a = { .lock = PTHREAD_MUTEX_INITIALIZER };
	long long t0 = now_ms();
	syncer_request_lazy(s, 300, count_answer, &a);
	while (answers_count(&a) < 1 && now_ms() - t0 < 10000)
		usleep(1000);
	assert_int_equal(answers_count(&a), 1);
	assert_true(now_ms() - t0 >= 299);  /* a lower bound only: never flaky */
	struct syncer_stats st;
	syncer_stats(s, &st);
	assert_int_equal(st.syncs, 1);

	t0 = now_ms();
	syncer_request_lazy(s, 10000, count_answer, &a);
	syncer_request(s, count_answer, &a);
	while (answers_count(&a) < 3 && now_ms() - t0 < 9000)
		usleep(1000);
	assert_int_equal(answers_count(&a), 3);
	assert_int_equal(a.first_err, 0);
	syncer_stats(s, &st);
	assert_int_equal(st.syncs, 2);
	syncer_close(&s);
}

/* order_answer - records the order of its answers: 'E' eager, 'L' lazy */
struct order {
	pthread_mutex_t lock;
	char seen[4];
	unsigned n;
};
struct order_arg {
	struct order *order;
	char tag;
};

static void order_answer(void *arg, int err)
{
	struct order_arg *o = arg;
	assert_int_equal(err, 0);
	pthread_mutex_lock(&o->order->lock);
	if (o->order->n < sizeof(o->order->seen) - 1)
		o->order->seen[o->order->n++] = o->tag;
	pthread_mutex_unlock(&o->order->lock);
}

static unsigned order_count(struct order *o)
{
	pthread_mutex_lock(&o->lock);
	unsigned n = o->n;
	pthread_mutex_unlock(&o->lock);
	return n;
}

/* one syncfs covers a lazy request and, after it, an eager one: the eager
 * one is answered first (someone waits on it: a 250), although it came
 * second */
static void test_eager_request_answered_first(void **state)
{
	(void)state;
	int err = 0;
	struct syncer *s = syncer_open("/tmp", &err);
	assert_non_null(s);
	struct order o = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct order_arg lazy = { &o, 'L' }, eager = { &o, 'E' };
	long long t0 = now_ms();
	syncer_request_lazy(s, 10000, order_answer, &lazy);
	syncer_request(s, order_answer, &eager);
	while (order_count(&o) < 2 && now_ms() - t0 < 9000)
		usleep(1000);
	assert_string_equal(o.seen, "EL");
	struct syncer_stats st;
	syncer_stats(s, &st);
	assert_int_equal(st.syncs, 1);
	syncer_close(&s);
}

/* syncer_lead_if_idle with no syncfs running leads one on the caller's
 * thread, which covers the caller and the requests waiting (a lazy one
 * rides it long before its own delay); with one running it returns at once
 * without a syncfs */
static void test_lead_if_idle(void **state)
{
	(void)state;
	int err = -1;
	struct syncer *s = syncer_open("/tmp", &err);
	assert_non_null(s);
	struct answers a = { .lock = PTHREAD_MUTEX_INITIALIZER };
	syncer_request_lazy(s, 10000, count_answer, &a);
	long long t0 = now_ms();
	assert_true(syncer_lead_if_idle(s, &err));
	assert_int_equal(err, 0);
	struct syncer_stats st;
	syncer_stats(s, &st);
	assert_int_equal(st.syncs, 1);
	assert_int_equal(st.waits, 2);
	while (answers_count(&a) < 1 && now_ms() - t0 < 9000)
		usleep(1000);
	assert_int_equal(answers_count(&a), 1);
	assert_int_equal(a.first_err, 0);

	/* many threads syncing at once: whoever finds a syncfs running is
	 * refused, never waits, and the syncfs calls never outnumber the
	 * callers that led them */
	pthread_t t[THREADS];
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, waiter, s), 0);
	unsigned led = 0;
	for (int i = 0; i < 100; i++) {
		if (syncer_lead_if_idle(s, &err)) {
			assert_int_equal(err, 0);
			led++;
		}
	}
	for (int i = 0; i < THREADS; i++) {
		void *rv = NULL;
		pthread_join(t[i], &rv);
		assert_null(rv);
	}
	syncer_stats(s, &st);
	assert_int_equal(st.waits, 2 + led + THREADS * WAITS_PER_THREAD);
	assert_true(st.syncs >= 1 + led);
	syncer_close(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_missing_folder),
		cmocka_unit_test(test_sequential_waits_each_sync),
		cmocka_unit_test(test_concurrent_waits_share),
		cmocka_unit_test(test_lazy_wait_alone_syncs_after_its_delay),
		cmocka_unit_test(test_lazy_wait_rides_an_eager_sync),
		cmocka_unit_test(test_lazy_waiters_linger_together),
		cmocka_unit_test(test_lazy_waiter_beyond_max_commits),
		cmocka_unit_test(test_requests_answered_by_the_syncer_thread),
		cmocka_unit_test(test_close_answers_waiting_requests),
		cmocka_unit_test(test_lazy_request_waits_or_rides),
		cmocka_unit_test(test_eager_request_answered_first),
		cmocka_unit_test(test_lead_if_idle),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
