/* test-sessions - net/sessions: ids from 1 found until removed; a buried
 * session is freed by the loop, not at once; a drain reaches every session
 * even when draining one takes another out, and reports "drained" once,
 * from the loop, when the table is empty; close shuts every session. */
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>
#include <event2/event.h>

#include "net/net.h"

struct fake {
	struct net_session_link link;
	struct fake *partner;   /* drained along with this one, if set */
	bool busy;              /* a command runs: the drain leaves it open */
	unsigned drains, shutdowns, frees;
};

static struct net_sessions *table;   /* the one under test, for the ops */
static unsigned drained_calls;

static void fake_drain(void *session)
{
	struct fake *f = session;
	f->drains++;
	if (!f->busy)
		net_sessions_remove(table, &f->link);
	if (f->partner)
		net_sessions_remove(table, &f->partner->link);
}

static void fake_shutdown(void *session)
{
	struct fake *f = session;
	f->shutdowns++;
	net_sessions_remove(table, &f->link);
}

static void fake_free(void *session)
{
	((struct fake *)session)->frees++;
}

static const struct net_session_ops fake_ops = {
	.drain = fake_drain, .shutdown = fake_shutdown, .free = fake_free,
};

static void on_drained(void *ctx)
{
	(void)ctx;
	drained_calls++;
}

static void count_one(void *session, void *ctx)
{
	(void)session;
	(*(unsigned *)ctx)++;
}

static int setup(void **state)
{
	struct event_base *base = event_base_new();
	assert_non_null(base);
	table = net_sessions_create(base, 4, &fake_ops);
	drained_calls = 0;
	*state = base;
	return 0;
}

static int teardown(void **state)
{
	net_sessions_free(&table);
	assert_null(table);
	event_base_free(*state);
	return 0;
}

static void run_loop(struct event_base *base)
{
	assert_true(event_base_loop(base, EVLOOP_NONBLOCK) >= 0);
}

static void test_add_find_remove(void **state)
{
	(void)state;
	struct fake f[6] = { 0 };
	for (unsigned i = 0; i < 6; i++)
		assert_int_equal(net_sessions_add(table, &f[i].link, &f[i]), i + 1);
	assert_int_equal(net_sessions_count(table), 6);
	for (unsigned i = 0; i < 6; i++)
		assert_ptr_equal(net_sessions_find(table, i + 1), &f[i]);
	assert_null(net_sessions_find(table, 7));
	unsigned n = 0;
	net_sessions_each(table, count_one, &n);
	assert_int_equal(n, 6);
	/* 1 and 5 share a chain of the 4 */
	net_sessions_remove(table, &f[4].link);
	net_sessions_remove(table, &f[4].link);
	assert_int_equal(net_sessions_count(table), 5);
	assert_null(net_sessions_find(table, 5));
	assert_ptr_equal(net_sessions_find(table, 1), &f[0]);
	for (unsigned i = 0; i < 6; i++)
		net_sessions_remove(table, &f[i].link);
	assert_int_equal(net_sessions_count(table), 0);
	assert_int_equal(drained_calls, 0);
}

static void test_bury_frees_from_the_loop(void **state)
{
	struct fake a = { 0 }, b = { 0 };
	net_sessions_add(table, &a.link, &a);
	net_sessions_add(table, &b.link, &b);
	net_sessions_bury(table, &a.link);
	assert_null(net_sessions_find(table, 1));
	assert_int_equal(net_sessions_count(table), 1);
	assert_int_equal(a.frees, 0);
	run_loop(*state);
	assert_int_equal(a.frees, 1);
	assert_int_equal(b.frees, 0);
	net_sessions_remove(table, &b.link);
}

static void test_drain_reaches_every_session(void **state)
{
	struct fake f[5] = { 0 };
	for (unsigned i = 0; i < 5; i++)
		net_sessions_add(table, &f[i].link, &f[i]);
	/* draining 1 takes 5 out as well, and 5 takes 1 (they share a chain):
	 * whichever comes first, the other is not drained */
	f[0].partner = &f[4];
	f[4].partner = &f[0];
	net_sessions_drain(table, on_drained, NULL);
	assert_true(net_sessions_is_draining(table));
	assert_int_equal(f[0].drains + f[4].drains, 1);
	for (unsigned i = 1; i < 4; i++)
		assert_int_equal(f[i].drains, 1);
	assert_int_equal(net_sessions_count(table), 0);
	assert_int_equal(drained_calls, 0);   /* from the loop, not at once */
	run_loop(*state);
	assert_int_equal(drained_calls, 1);
}

static void test_drain_waits_for_the_last_session(void **state)
{
	struct fake a = { 0 }, busy = { .busy = true };
	net_sessions_add(table, &a.link, &a);
	net_sessions_add(table, &busy.link, &busy);
	net_sessions_drain(table, on_drained, NULL);
	run_loop(*state);
	assert_int_equal(a.drains, 1);
	assert_int_equal(busy.drains, 1);
	assert_int_equal(net_sessions_count(table), 1);
	assert_int_equal(drained_calls, 0);
	net_sessions_remove(table, &busy.link);   /* its command ended, it closed */
	run_loop(*state);
	assert_int_equal(drained_calls, 1);
}

static void test_drain_of_empty_table(void **state)
{
	net_sessions_drain(table, on_drained, NULL);
	assert_int_equal(drained_calls, 0);
	run_loop(*state);
	assert_int_equal(drained_calls, 1);
}

static void test_close_shuts_every_session(void **state)
{
	(void)state;
	struct fake f[3] = { 0 };
	for (unsigned i = 0; i < 3; i++)
		net_sessions_add(table, &f[i].link, &f[i]);
	net_sessions_bury(table, &f[1].link);
	net_sessions_close(table);
	assert_int_equal(f[0].shutdowns, 1);
	assert_int_equal(f[1].shutdowns, 0);
	assert_int_equal(f[1].frees, 1);   /* reaped by the close */
	assert_int_equal(f[2].shutdowns, 1);
	assert_int_equal(net_sessions_count(table), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_add_find_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bury_frees_from_the_loop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_drain_reaches_every_session, setup, teardown),
		cmocka_unit_test_setup_teardown(test_drain_waits_for_the_last_session, setup, teardown),
		cmocka_unit_test_setup_teardown(test_drain_of_empty_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_shuts_every_session, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
