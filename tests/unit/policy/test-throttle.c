/* test-throttle - the AUTH failure and connection-rate throttle
 * (src/policy/throttle.c), I/O-free with a clock the test turns: slow-down
 * and lockout counts, a fresh start after a lockout ends, IPv6 counted per
 * configured prefix, and the table's bound; the shared throttle's key text
 * and delay. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "policy/policy.h"

static const struct policy_throttle_settings defaults = {
	.auth_slow_after = 3,
	.auth_lockout_after = 10,
	.auth_window = 900,
	.lockout_time = 60,     /* shorter than the window: the case that went wrong */
	.connect_rate = 0,
	.ipv6_prefix = 64,
	.max_entries = 1000,
};

static struct sockaddr_storage addr(const char *text)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	if (strchr(text, ':')) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
		sin6->sin6_family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, text, &sin6->sin6_addr), 1);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		sin->sin_family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, text, &sin->sin_addr), 1);
	}
	return ss;
}

#define SA(ss) ((const struct sockaddr *)&(ss))

/* fail_n - N failures from SS at NOW; the delay of the last */
static unsigned fail_n(struct policy_throttle *t, const struct sockaddr_storage *ss, unsigned n,
		     time_t now)
{
	unsigned delay = 0;
	for (unsigned i = 0; i < n; i++)
		delay = policy_throttle_auth_failed(t, (const struct sockaddr *)ss, now);
	return delay;
}

static void test_slow_and_lockout(void **state)
{
	(void)state;
	struct policy_throttle *t = policy_throttle_create(&defaults);
	struct sockaddr_storage a = addr("192.0.2.1");
	time_t until, now = 1000000;
	assert_int_equal(fail_n(t, &a, 3, now), 0);
	assert_int_equal(fail_n(t, &a, 1, now), 1);
	assert_int_equal(fail_n(t, &a, 1, now), 2);
	assert_false(policy_throttle_is_locked(t, SA(a), now, &until));
	fail_n(t, &a, 5, now);
	assert_true(policy_throttle_is_locked(t, SA(a), now, &until));
	assert_int_equal(until, now + 60);
	struct sockaddr_storage other = addr("192.0.2.2");
	assert_false(policy_throttle_is_locked(t, SA(other), now, &until));
	policy_throttle_free(&t);
	assert_null(t);
}

/* After a lockout ends the address has lockout_after tries again, not one. */
static void test_fresh_start_after_lockout(void **state)
{
	(void)state;
	struct policy_throttle *t = policy_throttle_create(&defaults);
	struct sockaddr_storage a = addr("192.0.2.1");
	time_t until, now = 1000000;
	fail_n(t, &a, 10, now);
	assert_true(policy_throttle_is_locked(t, SA(a), now + 59, &until));
	now += 61; /* the lockout is over, the 900 s window is not */
	assert_false(policy_throttle_is_locked(t, SA(a), now, &until));
	assert_int_equal(fail_n(t, &a, 1, now), 0);
	assert_false(policy_throttle_is_locked(t, SA(a), now, &until));
	assert_int_equal(fail_n(t, &a, 2, now), 0);
	assert_int_equal(fail_n(t, &a, 1, now), 1);
	fail_n(t, &a, 5, now);
	assert_false(policy_throttle_is_locked(t, SA(a), now, &until));
	fail_n(t, &a, 1, now); /* the 10th since the lockout ended */
	assert_true(policy_throttle_is_locked(t, SA(a), now, &until));
	policy_throttle_free(&t);
}

/* IPv6 addresses in one /64 share a counter; another /64 does not. */
/* test_lock_reported - the network process's cache: a lockout it was told
 * holds until its end, for the address (or IPv6 prefix), and a later end wins */
static void test_lock_reported(void **state)
{
	(void)state;
	struct policy_throttle *t = policy_throttle_create(&defaults);
	struct sockaddr_storage a = addr("192.0.2.7"), b = addr("192.0.2.8"),
		c = addr("2001:db8::1"), d = addr("2001:db8::2");
	time_t until = 0;
	assert_false(policy_throttle_is_locked(t, SA(a), 1000, &until));
	policy_throttle_lock(t, SA(a), 1000, 1900);
	assert_true(policy_throttle_is_locked(t, SA(a), 1000, &until));
	assert_int_equal(until, 1900);
	assert_false(policy_throttle_is_locked(t, SA(b), 1000, &until));
	/* an earlier end told later does not shorten it */
	policy_throttle_lock(t, SA(a), 1001, 1500);
	assert_true(policy_throttle_is_locked(t, SA(a), 1600, &until));
	assert_int_equal(until, 1900);
	assert_false(policy_throttle_is_locked(t, SA(a), 1900, &until));
	policy_throttle_lock(t, SA(c), 1000, 2000);
	assert_true(policy_throttle_is_locked(t, SA(d), 1999, &until));
	policy_throttle_free(&t);
}

static void test_ipv6_prefix(void **state)
{
	(void)state;
	struct policy_throttle *t = policy_throttle_create(&defaults);
	struct sockaddr_storage a = addr("2001:db8:1:2::1");
	struct sockaddr_storage b = addr("2001:db8:1:2:ffff:ffff:ffff:ffff");
	struct sockaddr_storage c = addr("2001:db8:1:3::1");
	time_t until, now = 1000000;
	fail_n(t, &a, 5, now);
	assert_int_equal(fail_n(t, &b, 1, now), 3); /* the 6th failure of the /64 */
	fail_n(t, &b, 4, now);
	assert_true(policy_throttle_is_locked(t, SA(a), now, &until));
	assert_true(policy_throttle_is_locked(t, SA(b), now, &until));
	assert_false(policy_throttle_is_locked(t, SA(c), now, &until));
	assert_int_equal(policy_throttle_count(t), 1);
	policy_throttle_free(&t);

	/* prefix 128: every address on its own; 48: a wider net */
	struct policy_throttle_settings s = defaults;
	s.ipv6_prefix = 128;
	t = policy_throttle_create(&s);
	fail_n(t, &a, 10, now);
	assert_true(policy_throttle_is_locked(t, SA(a), now, &until));
	assert_false(policy_throttle_is_locked(t, SA(b), now, &until));
	policy_throttle_free(&t);
	s.ipv6_prefix = 47;
	t = policy_throttle_create(&s);
	struct sockaddr_storage d = addr("2001:db8:1:ffff::1");  /* same /47 as a */
	struct sockaddr_storage e = addr("2001:db8:2::1");       /* next /47 */
	fail_n(t, &a, 10, now);
	assert_true(policy_throttle_is_locked(t, SA(d), now, &until));
	assert_false(policy_throttle_is_locked(t, SA(e), now, &until));
	policy_throttle_free(&t);
}

/* IPv4, also when it arrives v4-mapped on an IPv6 socket, is never cut. */
static void test_ipv4_not_cut(void **state)
{
	(void)state;
	struct policy_throttle *t = policy_throttle_create(&defaults);
	struct sockaddr_storage a = addr("198.51.100.7");
	struct sockaddr_storage mapped = addr("::ffff:198.51.100.7");
	struct sockaddr_storage neighbour = addr("::ffff:198.51.100.8");
	time_t until, now = 1000000;
	fail_n(t, &a, 10, now);
	assert_true(policy_throttle_is_locked(t, SA(mapped), now, &until));
	assert_false(policy_throttle_is_locked(t, SA(neighbour), now, &until));
	policy_throttle_free(&t);
}

/* The table never holds more than max_entries; the least recently seen
 * address goes first, and expired entries are reaped as new ones come. */
static void test_bounded_table(void **state)
{
	(void)state;
	struct policy_throttle_settings s = defaults;
	s.max_entries = 100;
	s.connect_rate = 1000;
	struct policy_throttle *t = policy_throttle_create(&s);
	time_t until, now = 1000000;
	struct sockaddr_storage first = addr("10.0.0.1");
	fail_n(t, &first, 10, now);
	for (unsigned i = 0; i < 5000; i++) {
		char text[32];
		snprintf(text, sizeof(text), "10.1.%u.%u", i / 256, i % 256);
		struct sockaddr_storage x = addr(text);
		policy_throttle_connect(t, SA(x), now);
		/* a lookup keeps FIRST recently seen until i = 1000 */
		if (i < 1000)
			assert_true(policy_throttle_is_locked(t, SA(first), now, &until));
		assert_true(policy_throttle_count(t) <= 100);
	}
	assert_int_equal(policy_throttle_count(t), 100);
	assert_false(policy_throttle_is_locked(t, SA(first), now, &until));

	/* an hour later every entry has expired: inserts reap them two at a time */
	now += 3600;
	for (unsigned i = 0; i < 10; i++) {
		char text[32];
		snprintf(text, sizeof(text), "10.2.0.%u", i);
		struct sockaddr_storage x = addr(text);
		policy_throttle_connect(t, SA(x), now);
	}
	assert_int_equal(policy_throttle_count(t), 100 - 20 + 10);
	policy_throttle_free(&t);
}

/* test_key_text - the shared throttle's row name: the key as hex, IPv6
 * cut to the prefix (two addresses of one /64 share it), IPv4 whole */
static void test_key_text(void **state)
{
	(void)state;
	struct policy_throttle *t = policy_throttle_create(&defaults);
	char a[POLICY_THROTTLE_KEY_TEXT], b[POLICY_THROTTLE_KEY_TEXT];
	struct sockaddr_storage v4 = addr("192.0.2.7"), x = addr("2001:db8:1:2::5"),
				y = addr("2001:db8:1:2:ffff::9"), z = addr("2001:db8:1:3::5");
	policy_throttle_key_text(t, SA(v4), a);
	assert_string_equal(a, "00000000000000000000ffffc0000207");
	policy_throttle_key_text(t, SA(x), a);
	policy_throttle_key_text(t, SA(y), b);
	assert_string_equal(a, "20010db8000100020000000000000000");
	assert_string_equal(a, b);
	policy_throttle_key_text(t, SA(z), b);
	assert_string_not_equal(a, b);
	/* the delay of a count kept elsewhere: as the memory's own */
	assert_int_equal(policy_throttle_delay(t, 3), 0);
	assert_int_equal(policy_throttle_delay(t, 4), 1);
	assert_int_equal(policy_throttle_delay(t, 100), 5);
	policy_throttle_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_slow_and_lockout),
		cmocka_unit_test(test_fresh_start_after_lockout),
		cmocka_unit_test(test_lock_reported),
		cmocka_unit_test(test_ipv6_prefix),
		cmocka_unit_test(test_ipv4_not_cut),
		cmocka_unit_test(test_bounded_table),
		cmocka_unit_test(test_key_text),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
