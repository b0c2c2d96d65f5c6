/* test-queue-id - queue IDs: format, uniqueness and order in one thread,
 * uniqueness across threads. */
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

static void test_unique_threads(void **state)
{
	(void)state;
	char (*ids)[QUEUE_ID_LEN + 1] = malloc(THREADS * PER_THREAD * sizeof(*ids));
	pthread_t threads[THREADS];
	for (int t = 0; t < THREADS; t++)
		assert_int_equal(pthread_create(&threads[t], NULL, thread_main, ids + t * PER_THREAD), 0);
	for (int t = 0; t < THREADS; t++)
		assert_int_equal(pthread_join(threads[t], NULL), 0);
	qsort(ids, THREADS * PER_THREAD, sizeof(*ids), id_cmp);
	for (size_t i = 1; i < THREADS * PER_THREAD; i++) {
		if (memcmp(ids[i - 1], ids[i], QUEUE_ID_LEN) == 0)
			fail_msg("duplicate %s", ids[i]);
	}
	free(ids);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_format),
		cmocka_unit_test(test_unique_ordered),
		cmocka_unit_test(test_unique_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
