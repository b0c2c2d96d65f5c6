/* test-queue-id - queue IDs: format, uniqueness and order in one thread,
 * uniqueness across threads, and the node bits: IDs of two nodes never
 * collide, even made in the same millisecond. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "queue/queue.h"

#define ID_COUNT 100000
#define THREADS 8
#define PER_THREAD 25000

static int id_cmp(const void *a, const void *b)
{
	return memcmp(a, b, QUEUE_ID_LEN + 1);
}

static void test_valid_format(void **state)
{
	(void)state;
	char id[QUEUE_ID_LEN + 1];
	queue_id_new(id);
	assert_int_equal(strlen(id), QUEUE_ID_LEN);
	assert_true(queue_id_is_valid(id));
	assert_true(queue_id_is_valid("0123456789ABCDEF"));
	assert_false(queue_id_is_valid(NULL));
	assert_false(queue_id_is_valid(""));
	assert_false(queue_id_is_valid("0123456789abcdef"));
	assert_false(queue_id_is_valid("0123456789ABCDE"));
	assert_false(queue_id_is_valid("0123456789ABCDEF0"));
	assert_false(queue_id_is_valid("0123456789ABCDEG"));
	assert_false(queue_id_is_valid("../../etc/passwd"));
	assert_false(queue_id_is_valid("0123456789ABCDE/"));
}

/* IDs from one thread are unique and strictly increasing */
static void test_unique_ordered(void **state)
{
	(void)state;
	char (*ids)[QUEUE_ID_LEN + 1] = malloc(ID_COUNT * sizeof(*ids));
	for (size_t i = 0; i < ID_COUNT; i++) {
		queue_id_new(ids[i]);
		assert_true(queue_id_is_valid(ids[i]));
		if (i > 0 && memcmp(ids[i - 1], ids[i], QUEUE_ID_LEN) >= 0)
			fail_msg("not increasing: %s then %s", ids[i - 1], ids[i]);
	}
	free(ids);
}

static void *thread_main(void *arg)
{
	char (*ids)[QUEUE_ID_LEN + 1] = arg;
	for (size_t i = 0; i < PER_THREAD; i++)
		queue_id_new(ids[i]);
	return NULL;
}

/* ids_from_threads - THREADS * PER_THREAD IDs made at once by THREADS
 * threads (the caller frees them) */
static char (*ids_from_threads(void))[QUEUE_ID_LEN + 1]
{
	char (*ids)[QUEUE_ID_LEN + 1] = malloc(THREADS * PER_THREAD * sizeof(*ids));
	pthread_t threads[THREADS];
	for (int t = 0; t < THREADS; t++)
		assert_int_equal(pthread_create(&threads[t], NULL, thread_main, ids + t * PER_THREAD), 0);
	for (int t = 0; t < THREADS; t++)
		assert_int_equal(pthread_join(threads[t], NULL), 0);
	return ids;
}

static void test_unique_threads(void **state)
{
	(void)state;
	char (*ids)[QUEUE_ID_LEN + 1] = ids_from_threads();
	qsort(ids, THREADS * PER_THREAD, sizeof(*ids), id_cmp);
	for (size_t i = 1; i < THREADS * PER_THREAD; i++) {
		if (memcmp(ids[i - 1], ids[i], QUEUE_ID_LEN) == 0)
			fail_msg("duplicate %s", ids[i]);
	}
	free(ids);
}

#define STAMPS 1000

/* Every node number with the same stamps (as if all 256 nodes made IDs in
 * the same milliseconds with the same sequence): all different, and each
 * reads back its node and time */
static void test_nodes_never_collide(void **state)
{
	(void)state;
	size_t n = (size_t)QUEUE_ID_NODES * STAMPS;
	char (*ids)[QUEUE_ID_LEN + 1] = malloc(n * sizeof(*ids));
	uint64_t base = (uint64_t)200000000000ULL << 14;  /* 2026, sequence 0 */
	for (unsigned node = 0; node < QUEUE_ID_NODES; node++) {
		for (size_t k = 0; k < STAMPS; k++) {
			char *id = ids[node * STAMPS + k];
			queue_id_format(base + k, node, id);
			unsigned got = 999;
			time_t t = 0;
			assert_true(queue_id_node(id, &got));
			assert_int_equal(got, node);
			assert_true(queue_id_time(id, &t));
			assert_int_equal(t, (time_t)((1577836800000ULL + 200000000000ULL) / 1000));
		}
	}
	qsort(ids, n, sizeof(*ids), id_cmp);
	for (size_t i = 1; i < n; i++) {
		if (memcmp(ids[i - 1], ids[i], QUEUE_ID_LEN) == 0)
			fail_msg("duplicate %s", ids[i]);
	}
	free(ids);
	char a[QUEUE_ID_LEN + 1], b[QUEUE_ID_LEN + 1];
	queue_id_format(1, 1, a);
	queue_id_format(1, 2, b);
	assert_string_equal(a, "0000000000000101");
	assert_string_equal(b, "0000000000000102");
	unsigned got;
	assert_false(queue_id_node("0123456789abcdef", &got));
}

/* once the node number is set, every new ID carries it, from every thread */
static void test_set_node(void **state)
{
	(void)state;
	queue_id_set_node(0xA7);
	char (*ids)[QUEUE_ID_LEN + 1] = ids_from_threads();
	for (size_t i = 0; i < THREADS * PER_THREAD; i++) {
		unsigned node = 0;
		assert_true(queue_id_node(ids[i], &node));
		if (node != 0xA7)
			fail_msg("%s: node %u", ids[i], node);
	}
	free(ids);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_format),
		cmocka_unit_test(test_unique_ordered),
		cmocka_unit_test(test_unique_threads),
		cmocka_unit_test(test_nodes_never_collide),
		cmocka_unit_test(test_set_node),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
