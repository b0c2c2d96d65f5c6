/* tests/unit/util/test-heap - src/util/heap.c: a trim only after work over
 * [server] malloc_trim_messages messages (never when 0), three in a row at
 * most, then one a second. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <time.h>

#include "util/heap.h"

static void test_heap_trim_threshold_and_rate(void **state)
{
	(void)state;
	assert_false(heap_trim_after(1000000));      /* off by default */
	heap_trim_setup(100);
	assert_false(heap_trim_after(99));
	assert_true(heap_trim_after(100));
	assert_true(heap_trim_after(100000));
	assert_true(heap_trim_after(100));
	assert_false(heap_trim_after(100));          /* the burst is spent */
	assert_false(heap_trim_after(100));
	struct timespec wait = { .tv_sec = 1, .tv_nsec = 50000000 };
	nanosleep(&wait, NULL);
	assert_true(heap_trim_after(100));           /* one more a second */
	assert_false(heap_trim_after(100));
	heap_trim_setup(0);
	nanosleep(&wait, NULL);
	assert_false(heap_trim_after(1000000));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_heap_trim_threshold_and_rate),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
