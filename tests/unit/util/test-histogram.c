/* tests/unit/util/test-histogram - src/util/histogram.c: a value on a
 * bucket's bound counts in that bucket (Prometheus' "le"), one above the
 * last bound only in +Inf; the cumulative counts, sum and count. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "util/histogram.h"

static void test_histogram_bounds_ascending(void **state)
{
	(void)state;
	for (size_t i = 1; i < HISTOGRAM_BOUNDS; i++)
		assert_true(histogram_bounds[i - 1] < histogram_bounds[i]);
}

static void test_histogram_buckets(void **state)
{
	(void)state;
	struct histogram h;
	memset(&h, 0, sizeof(h));
	histogram_observe(&h, 0);                       /* first bucket */
	histogram_observe(&h, histogram_bounds[0]);     /* on the bound: le */
	histogram_observe(&h, 0.003);                   /* (0.0025, 0.005] */
	histogram_observe(&h, histogram_bounds[HISTOGRAM_BOUNDS - 1] + 1);  /* +Inf only */
	assert_int_equal(h.count, 4);
	assert_int_equal(histogram_cumulative(&h, 0), 2);
	assert_int_equal(histogram_cumulative(&h, 1), 2);
	assert_int_equal(histogram_cumulative(&h, 2), 3);
	assert_int_equal(histogram_cumulative(&h, HISTOGRAM_BOUNDS - 1), 3);
	assert_int_equal(histogram_cumulative(&h, HISTOGRAM_BOUNDS), 4);
	double expected = histogram_bounds[0] + 0.003 + histogram_bounds[HISTOGRAM_BOUNDS - 1] + 1;
	assert_true(h.sum > expected - 1e-9 && h.sum < expected + 1e-9);
}

static void test_histogram_observe_since(void **state)
{
	(void)state;
	struct histogram h;
	struct timespec start;
	memset(&h, 0, sizeof(h));
	clock_gettime(CLOCK_MONOTONIC, &start);
	start.tv_sec -= 2;   /* two seconds ago: (1, 2.5] */
	histogram_observe_since(&h, &start);
	assert_int_equal(h.count, 1);
	assert_true(h.sum >= 2 && h.sum < 2.5);
	size_t one = 9, two_and_a_half = 10;   /* the bounds 1 and 2.5 */
	assert_true(histogram_bounds[one] == 1 && histogram_bounds[two_and_a_half] == 2.5);
	assert_int_equal(histogram_cumulative(&h, one), 0);
	assert_int_equal(histogram_cumulative(&h, two_and_a_half), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_histogram_bounds_ascending),
		cmocka_unit_test(test_histogram_buckets),
		cmocka_unit_test(test_histogram_observe_since),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
