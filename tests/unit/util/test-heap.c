/* tests/unit/util/test-heap - src/util/heap.c: a trim only after work over
 * [server] malloc_trim_messages messages (never when 0), three in a row at
 * most, then one a second; large arrays in mappings of whole 2 MiB huge
 * pages from [server] huge_pages_from bytes on, zeroed, resized keeping
 * their contents; the last one freed (8 MiB at most) kept for the next of
 * about its size, zeroed again. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
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

#define HUGE ((size_t)2 << 20)

static bool all_zero(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* mapping_size - bytes of the mapping P begins, from /proc/self/maps (0:
 * none begins there) */
static size_t mapping_size(const void *p)
{
	FILE *f = fopen("/proc/self/maps", "r");
	unsigned long lo, hi;
	size_t size = 0;
	char line[512];
	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%lx-%lx", &lo, &hi) == 2 && lo == (unsigned long)p)
			size = hi - lo;
	fclose(f);
	return size;
}

static void test_heap_big_small_below_the_setting(void **state)
{
	(void)state;
	size_t n = 3 * HUGE;
	heap_big_setup(0);                           /* never */
	unsigned char *p = heap_big_alloc(&n);
	assert_int_equal(n, 3 * HUGE);
	assert_true(all_zero(p, n));
	heap_big_free(p, n);
	heap_big_setup(1 << 20);
	n = (1 << 20) - 16;
	p = heap_big_alloc(&n);
	assert_int_equal(n, (1 << 20) - 16);         /* not rounded: the heap's */
	memset(p, 7, n);
	size_t m = 100;
	p = heap_big_resize(p, n, &m);               /* smaller: kept in front */
	assert_int_equal(m, 100);
	assert_int_equal(p[99], 7);
	heap_big_free(p, m);
	heap_big_free(NULL, 5);
	heap_big_setup(0);
}

static void test_heap_big_huge_mapping(void **state)
{
	(void)state;
	heap_big_setup(1 << 20);
	size_t n = 1600000;                          /* a 100,000-message view */
	unsigned char *p = heap_big_alloc(&n);
	assert_int_equal(n, HUGE);
	assert_int_equal((uintptr_t)p % HUGE, 0);
	assert_int_equal(mapping_size(p), HUGE);     /* a mapping of its own */
	assert_true(all_zero(p, n));
	memset(p, 9, n);
	/* from small to huge and on: contents kept, the rest zeroed */
	size_t m = 5 * HUGE + 1;
	unsigned char *q = heap_big_resize(p, n, &m);
	assert_int_equal(m, 6 * HUGE);
	assert_int_equal((uintptr_t)q % HUGE, 0);
	assert_int_equal(q[0], 9);
	assert_int_equal(q[HUGE - 1], 9);
	assert_true(all_zero(q + HUGE, m - HUGE));
	heap_big_free(q, m);
	size_t s = 1000;
	unsigned char *r = heap_big_alloc(&s);
	memset(r, 3, s);
	size_t t = 1 << 20;
	r = heap_big_resize(r, s, &t);
	assert_int_equal(t, HUGE);
	assert_int_equal(r[999], 3);
	assert_true(all_zero(r + 1000, t - 1000));
	assert_int_equal(mapping_size(r), HUGE);
	heap_big_free(r, t);
	heap_big_setup(0);
}

static void test_heap_big_spare_reused_zeroed(void **state)
{
	(void)state;
	heap_big_setup(1 << 20);
	size_t n = 1600000;
	unsigned char *p = heap_big_alloc(&n);
	memset(p, 5, n);
	heap_big_free(p, n);
	/* the same size again: the same pages, zeroed */
	size_t m = 1500000;
	unsigned char *q = heap_big_alloc(&m);
	assert_ptr_equal(q, p);
	assert_int_equal(m, HUGE);
	assert_true(all_zero(q, m));
	/* a spare of 4 MiB is not given for 1 MiB (it would hold twice
	 * what is asked), and stays until a later free replaces it */
	size_t four = 2 * HUGE;
	unsigned char *big = heap_big_alloc(&four);
	memset(big, 6, four);
	heap_big_free(big, four);
	size_t one = 1 << 20;
	unsigned char *small = heap_big_alloc(&one);
	assert_ptr_not_equal(small, big);
	assert_int_equal(one, HUGE);
	size_t three = 3 << 20;
	unsigned char *again = heap_big_alloc(&three);
	assert_ptr_equal(again, big);                /* 4 MiB for 3 */
	assert_int_equal(three, 2 * HUGE);
	assert_true(all_zero(again, three));
	/* larger than 8 MiB: unmapped at once, never kept */
	size_t ten = 5 * HUGE;
	unsigned char *huge = heap_big_alloc(&ten);
	heap_big_free(huge, ten);
	assert_int_equal(mapping_size(huge), 0);
	heap_big_free(again, three);
	heap_big_free(small, one);                   /* replaces it: unmapped */
	assert_int_equal(mapping_size(again), 0);
	heap_big_free(q, m);                         /* the last spare */
	heap_big_setup(0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_heap_trim_threshold_and_rate),
		cmocka_unit_test(test_heap_big_small_below_the_setting),
		cmocka_unit_test(test_heap_big_huge_mapping),
		cmocka_unit_test(test_heap_big_spare_reused_zeroed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
