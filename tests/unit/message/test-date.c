/* tests/unit/message/test-date - message_date_format, in the C locale and
 * whatever TZ says. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "message/message.h"

static void test_format(void **state)
{
	static const struct {
		time_t t;
		const char *expect;
	} cases[] = {
		{ 0, "Thu, 01 Jan 1970 00:00:00 +0000" },
		{ 1795946399, "Sun, 29 Nov 2026 09:59:59 +0000" },
		{ 1795946400, "Sun, 29 Nov 2026 10:00:00 +0000" },
		{ 951782400, "Tue, 29 Feb 2000 00:00:00 +0000" },
		{ 1704067199, "Sun, 31 Dec 2023 23:59:59 +0000" },
		{ 1718454896, "Sat, 15 Jun 2024 12:34:56 +0000" },
		{ 4102444800, "Fri, 01 Jan 2100 00:00:00 +0000" },
		{ -86400, "Wed, 31 Dec 1969 00:00:00 +0000" },
	};
	char buf[40];

	(void)state;
	setenv("TZ", "America/New_York", 1);
	tzset();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(buf, 'x', sizeof(buf));
		message_date_format(cases[i].t, buf, sizeof(buf));
		assert_string_equal(buf, cases[i].expect);
	}
}

static void test_small_buffer(void **state)
{
	char buf[8];

	(void)state;
	message_date_format(0, buf, sizeof(buf));
	assert_string_equal(buf, "Thu, 01");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_small_buffer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
