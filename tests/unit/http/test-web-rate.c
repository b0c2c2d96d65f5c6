/* tests/unit/http/test-web-rate - the pages' mail counts (http/web.h,
 * web-rate.c): LIMIT per key within a window, keys counted apart, a new
 * window after the old one, and a full table forgetting the key whose
 * window began first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <time.h>

#include "http/web.h"

/* test_limit_per_key - 3 per 60 s: the fourth is refused, another key is not */
static void test_limit_per_key(void **state)
{
	(void)state;
	struct http_web_rate *rate = http_web_rate_create(16);
	assert_non_null(rate);
	for (int i = 0; i < 3; i++)
		assert_true(http_web_rate_take(rate, "client 192.0.2.1", 1000 + i, 3, 60));
	assert_false(http_web_rate_take(rate, "client 192.0.2.1", 1010, 3, 60));
	assert_true(http_web_rate_take(rate, "client 192.0.2.2", 1010, 3, 60));
	/* the window began at 1000: at 1060 a new one begins */
	assert_false(http_web_rate_take(rate, "client 192.0.2.1", 1059, 3, 60));
	assert_true(http_web_rate_take(rate, "client 192.0.2.1", 1060, 3, 60));
	http_web_rate_free(&rate);
	assert_null(rate);
	http_web_rate_free(&rate);
}

/* test_full_table - 2 entries: a third key takes the oldest one's place */
static void test_full_table(void **state)
{
	(void)state;
	struct http_web_rate *rate = http_web_rate_create(2);
	assert_true(http_web_rate_take(rate, "a", 100, 1, 3600));
	assert_true(http_web_rate_take(rate, "b", 200, 1, 3600));
	assert_false(http_web_rate_take(rate, "a", 300, 1, 3600));
	assert_true(http_web_rate_take(rate, "c", 300, 1, 3600));  /* "a" forgotten */
	assert_false(http_web_rate_take(rate, "b", 300, 1, 3600));
	assert_false(http_web_rate_take(rate, "c", 300, 1, 3600));
	assert_true(http_web_rate_take(rate, "a", 400, 1, 3600));  /* "b" forgotten now */
	http_web_rate_free(&rate);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_limit_per_key),
		cmocka_unit_test(test_full_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
