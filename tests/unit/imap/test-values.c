/* tests/unit/imap/test-values - sequence sets and dates. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap/parse.h"

static void test_seqset(void **state)
{
	(void)state;
	struct imap_seqset set;
	const char *error;
	assert_int_equal(imap_seqset_parse("1", 1, &set, &error), 0);
	assert_int_equal(set.count, 1);
	assert_int_equal(set.ranges[0].lo, 1);
	assert_int_equal(set.ranges[0].hi, 1);
	imap_seqset_free(&set);

	assert_int_equal(imap_seqset_parse("4:2,7,*:9,10:*", 14, &set, &error), 0);
	assert_int_equal(set.count, 4);
	assert_int_equal(set.ranges[2].lo, IMAP_SEQ_STAR);
	imap_seqset_resolve(&set, 12);
	assert_int_equal(set.ranges[0].lo, 2);
	assert_int_equal(set.ranges[0].hi, 4);
	assert_int_equal(set.ranges[2].lo, 9);
	assert_int_equal(set.ranges[2].hi, 12);
	assert_true(imap_seqset_contains(&set, 3));
	assert_true(imap_seqset_contains(&set, 7));
	assert_true(imap_seqset_contains(&set, 12));
	assert_false(imap_seqset_contains(&set, 5));
	assert_false(imap_seqset_contains(&set, 13));
	imap_seqset_free(&set);

	/* "*" in an empty mailbox is 0: nothing matches */
	assert_int_equal(imap_seqset_parse("*", 1, &set, &error), 0);
	imap_seqset_resolve(&set, 0);
	assert_false(imap_seqset_contains(&set, 1));
	imap_seqset_free(&set);

	assert_int_equal(imap_seqset_parse("$", 1, &set, &error), 0);
	assert_true(set.saved);
	assert_int_equal(set.count, 0);
	imap_seqset_free(&set);

	assert_int_equal(imap_seqset_parse("4294967294", 10, &set, &error), 0);
	assert_int_equal(set.ranges[0].lo, 4294967294u);
	imap_seqset_free(&set);

	static const char *const bad[] = {
		"", "0", "01", "1:", ":1", ",1", "1,", "1,,2", "1:2:3", "a", "1 2", "$,1",
		"4294967295", "99999999999", "1:0", "-1", "*:", "**",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (imap_seqset_parse(bad[i], strlen(bad[i]), &set, &error) != -1) {
			print_error("\"%s\" parsed\n", bad[i]);
			fail();
		}
		assert_string_equal(error, "Invalid sequence set");
		assert_null(set.ranges);
	}
}

/* test_seqset_normalize - ranges in order, overlapping and adjacent ones
 * merged, membership by binary search: the same answers as before for every
 * number around the ranges' ends */
static void test_seqset_normalize(void **state)
{
	(void)state;
	struct imap_seqset set, plain;
	const char *error;
	const char *text = "20:25,3,9:4,1,26,*,2,30:28,40:41,41:42,100:*";
	assert_int_equal(imap_seqset_parse(text, strlen(text), &set, &error), 0);
	assert_int_equal(imap_seqset_parse(text, strlen(text), &plain, &error), 0);
	imap_seqset_resolve(&set, 99);
	imap_seqset_resolve(&plain, 99);
	imap_seqset_normalize(&set);
	/* 1:9, 20:26, 28:30, 40:42, 99:100 */
	assert_int_equal(set.count, 5);
	uint32_t want[][2] = { { 1, 9 }, { 20, 26 }, { 28, 30 }, { 40, 42 }, { 99, 100 } };
	for (size_t i = 0; i < 5; i++) {
		assert_int_equal(set.ranges[i].lo, want[i][0]);
		assert_int_equal(set.ranges[i].hi, want[i][1]);
	}
	for (uint32_t n = 0; n < 120; n++)
		assert_int_equal(imap_seqset_contains(&set, n), imap_seqset_contains(&plain, n));
	assert_false(imap_seqset_contains(&set, UINT32_MAX));
	imap_seqset_free(&set);
	imap_seqset_free(&plain);
	/* empty and single sets */
	assert_int_equal(imap_seqset_parse("$", 1, &set, &error), 0);
	imap_seqset_normalize(&set);
	assert_false(imap_seqset_contains(&set, 1));
	imap_seqset_free(&set);
}

static void test_date_time(void **state)
{
	(void)state;
	static const struct { const char *in; long long want; } ok[] = {
		{ "17-Jul-1996 02:44:25 -0700", 837596665 },
		{ " 1-Feb-2024 10:00:00 +0100", 1706778000 },
		{ "01-feb-2024 10:00:00 +0100", 1706778000 },
		{ "1-FEB-2024 09:00:00 +0000", 1706778000 },
		{ "29-Feb-2024 00:00:00 +0000", 1709164800 },
		{ "31-Dec-1969 23:59:59 +0000", -1 },
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		time_t t = 0;
		if (imap_date_time_parse(ok[i].in, strlen(ok[i].in), &t) != 0 ||
		    (long long)t != ok[i].want) {
			print_error("\"%s\": %lld\n", ok[i].in, (long long)t);
			fail();
		}
	}
	static const char *const bad[] = {
		"", "17-Jul-1996 02:44:25", "17-Jul-1996 02:44:25 0700", "30-Feb-2024 00:00:00 +0000",
		"29-Feb-2023 00:00:00 +0000", "17-Jux-1996 02:44:25 -0700",
		"17-Jul-96 02:44:25 -0700", "17-Jul-1996 24:00:00 -0700",
		"17-Jul-1996 02:44:25 -0760", "17-Jul-1996 02:44:25 -0700 ", "  1-Feb-2024 10:00:00 +0100",
		" 11-Feb-2024 10:00:00 +0100", "117-Jul-1996 02:44:25 -0700", "17-Jul-1996 2:44:25 -0700",
		"17-Jul-1996 02:44:25 +07000",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		time_t t;
		if (imap_date_time_parse(bad[i], strlen(bad[i]), &t) != -1) {
			print_error("\"%s\" parsed\n", bad[i]);
			fail();
		}
	}
}

static void test_date(void **state)
{
	(void)state;
	time_t t = 0;
	assert_int_equal(imap_date_parse("1-Feb-1994", 10, &t), 0);
	assert_int_equal((long long)t, 760060800);
	assert_int_equal(imap_date_parse("01-feb-1994", 11, &t), 0);
	assert_int_equal((long long)t, 760060800);
	static const char *const bad[] = {
		"", "1-Feb-94", "32-Jan-2000", "0-Jan-2000", "1-Feb-1994 ", "1 Feb 1994", "001-Feb-1994",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (imap_date_parse(bad[i], strlen(bad[i]), &t) != -1) {
			print_error("\"%s\" parsed\n", bad[i]);
			fail();
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seqset),
		cmocka_unit_test(test_seqset_normalize),
		cmocka_unit_test(test_date_time),
		cmocka_unit_test(test_date),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
