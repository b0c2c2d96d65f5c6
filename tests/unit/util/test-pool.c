/* test-pool - util/pool: a job that asks for a sync (pool_then_sync) gives
 * its worker back, goes on with its next step once the sync is done, and
 * its DONE runs on the loop last; pool_free waits for jobs waiting so; when
 * no syncfs runs, the worker leads it itself and goes on with the next step
 * (no hand-over to another thread). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "util/pool.h"
#include "util/syncer.h"

struct step_job {
	struct syncer *syncer;
	pthread_t first_thread, second_thread;  /* the workers that ran each step */
	int steps;           /* work functions run, in order */
	int sync_err;
	int done;            /* DONE ran (on the loop) */
	bool chain;          /* a second step after the sync */
	int *done_count;
	struct event_base *base;
};

static void second_step(void *arg)
{
	struct step_job *j = arg;
	assert_int_equal(j->steps, 1);
	j->steps = 2;
	j->second_thread = pthread_self();
}

static void first_step(void *arg)
{
	struct step_job *j = arg;
	j->steps = 1;
	j->first_thread = pthread_self();
	pool_then_sync(j->syncer, j->chain ? second_step : NULL, &j->sync_err);
	j->sync_err = -1;  /* set again when the sync is done */
}

static void step_done(void *arg)
{
	struct step_job *j = arg;
	j->done++;
	if (j->done_count && ++*j->done_count == 20)
		event_base_loopbreak(j->base);
	else if (!j->done_count)
		event_base_loopbreak(j->base);
}

static void run_loop(struct event_base *base)
{
	struct timeval limit = { 10, 0 };
	event_base_loopexit(base, &limit);
	event_base_dispatch(base);
}

static void test_then_sync_runs_the_next_step_then_done(void **state)
{
	(void)state;
	int err = 0;
	struct event_base *base = event_base_new();
	struct syncer *syncer = syncer_open("/tmp", &err);
	assert_non_null(syncer);
	struct pool *pool = pool_create(base, 2);
	struct step_job j = { .syncer = syncer, .chain = true, .base = base };
	pool_submit(pool, first_step, step_done, &j);
	run_loop(base);
	assert_int_equal(j.done, 1);
	assert_int_equal(j.steps, 2);
	assert_int_equal(j.sync_err, 0);
	struct syncer_stats st;
	syncer_stats(syncer, &st);
	assert_int_equal(st.waits, 1);
	assert_int_equal(st.syncs, 1);
	pool_free(&pool);
	syncer_close(&syncer);
	event_base_free(base);
}

/* jobs one after the other on a pool of four: no syncfs runs when each asks
 * for one, so its worker leads it and runs the next step itself (before,
 * the syncer's thread synced and another worker, woken for it, went on) */
static void test_idle_sync_stays_on_the_worker(void **state)
{
	(void)state;
	int err = 0;
	struct event_base *base = event_base_new();
	struct syncer *syncer = syncer_open("/tmp", &err);
	assert_non_null(syncer);
	struct pool *pool = pool_create(base, 4);
	for (int i = 0; i < 20; i++) {
		struct step_job j = { .syncer = syncer, .chain = true, .base = base };
		pool_submit(pool, first_step, step_done, &j);
		run_loop(base);
		assert_int_equal(j.done, 1);
		assert_int_equal(j.steps, 2);
		assert_int_equal(j.sync_err, 0);
		assert_true(pthread_equal(j.first_thread, j.second_thread));
	}
	struct syncer_stats st;
	syncer_stats(syncer, &st);
	assert_int_equal(st.waits, 20);
	assert_int_equal(st.syncs, 20);
	pool_free(&pool);
	syncer_close(&syncer);
	event_base_free(base);
}

/* twenty jobs on one worker, each waiting for a sync: all of them end, each
 * with its DONE once */
static void test_many_waiting_jobs_on_one_worker(void **state)
{
	(void)state;
	int err = 0, count = 0;
	struct event_base *base = event_base_new();
	struct syncer *syncer = syncer_open("/tmp", &err);
	struct pool *pool = pool_create(base, 1);
	struct step_job j[20];
	for (int i = 0; i < 20; i++) {
		j[i] = (struct step_job){ .syncer = syncer, .done_count = &count, .base = base };
		pool_submit(pool, first_step, step_done, &j[i]);
	}
	run_loop(base);
	assert_int_equal(count, 20);
	for (int i = 0; i < 20; i++) {
		assert_int_equal(j[i].done, 1);
		assert_int_equal(j[i].sync_err, 0);
	}
	pool_free(&pool);
	syncer_close(&syncer);
	event_base_free(base);
}

/* pool_free while jobs wait for their sync: each still runs its next step
 * and its DONE before pool_free returns */
static void test_free_waits_for_waiting_jobs(void **state)
{
	(void)state;
	int err = 0;
	struct event_base *base = event_base_new();
	struct syncer *syncer = syncer_open("/tmp", &err);
	struct pool *pool = pool_create(base, 2);
	struct step_job j[10];
	for (int i = 0; i < 10; i++) {
		j[i] = (struct step_job){ .syncer = syncer, .chain = true, .base = base };
		pool_submit(pool, first_step, step_done, &j[i]);
	}
	pool_free(&pool);
	for (int i = 0; i < 10; i++) {
		assert_int_equal(j[i].steps, 2);
		assert_int_equal(j[i].done, 1);
		assert_int_equal(j[i].sync_err, 0);
	}
	syncer_close(&syncer);
	event_base_free(base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_then_sync_runs_the_next_step_then_done),
		cmocka_unit_test(test_idle_sync_stays_on_the_worker),
		cmocka_unit_test(test_many_waiting_jobs_on_one_worker),
		cmocka_unit_test(test_free_waits_for_waiting_jobs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
