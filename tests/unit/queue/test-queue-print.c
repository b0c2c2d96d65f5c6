/* test-queue-print - what `petrel queue list` parses without I/O: its filter
 * options, the match of an envelope against them, the time in a queue ID,
 * and the state log that follows the body (spool_state_log_parse). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "queue/queue.h"
#include "queue/spool.h"

/* set - one option on a fresh filter: its return value */
static int set(struct queue_list_filter *f, const char *option, const char *value)
{
	const char *error = NULL;
	memset(f, 0, sizeof(*f));
	int r = queue_list_filter_set(f, option, value, &error);
	if (r < 0)
		assert_non_null(error);
	return r;
}

static void test_filter_valid(void **state)
{
	(void)state;
	struct queue_list_filter f;
	static const struct {
		const char *value;
		unsigned long long seconds;
	} ages[] = {
		{ "0", 0 }, { "45", 45 }, { "45s", 45 }, { "30m", 1800 }, { "2h", 7200 },
		{ "3d", 259200 },
	};
	for (size_t i = 0; i < sizeof(ages) / sizeof(ages[0]); i++) {
		assert_int_equal(set(&f, "--older-than", ages[i].value), 0);
		assert_int_equal(f.older_than, ages[i].seconds);
	}
	assert_int_equal(set(&f, "--limit", "1"), 0);
	assert_int_equal(f.limit, 1);
	assert_int_equal(set(&f, "--limit", "1000000"), 0);
	assert_int_equal(f.limit, 1000000);
	assert_int_equal(set(&f, "--state", "new"), 0);
	assert_int_equal(f.states, QUEUE_LIST_NEW);
	assert_int_equal(queue_list_filter_set(&f, "--state", "held", &(const char *){ NULL }), 0);
	assert_int_equal(f.states, QUEUE_LIST_NEW | QUEUE_LIST_HELD);  /* repeated: either */
	assert_int_equal(set(&f, "--state", "deferred"), 0);
	assert_int_equal(f.states, QUEUE_LIST_DEFERRED);
	assert_int_equal(set(&f, "--state", "corrupt"), 0);
	assert_int_equal(f.states, QUEUE_LIST_CORRUPT);
	assert_int_equal(set(&f, "--sender", "<a@b.test>"), 0);
	assert_int_equal(f.sender_len, 8);
	assert_memory_equal(f.sender, "a@b.test", 8);
	assert_int_equal(set(&f, "--sender", "<>"), 0);
	assert_int_equal(f.sender_len, 0);
	assert_non_null(f.sender);
	assert_int_equal(set(&f, "--domain", "@Example.COM"), 0);
	assert_int_equal(f.domain_len, 11);
	assert_memory_equal(f.domain, "Example.COM", 11);
}

static void test_filter_invalid(void **state)
{
	(void)state;
	struct queue_list_filter f;
	static const char *const bad[][2] = {
		{ "--older-than", "" }, { "--older-than", "2x" }, { "--older-than", "-1h" },
		{ "--older-than", "h" }, { "--older-than", "1.5h" }, { "--older-than", " 2h" },
		{ "--older-than", "99999999999999999999" },
		{ "--limit", "0" }, { "--limit", "" }, { "--limit", "-1" }, { "--limit", "+1" },
		{ "--limit", "1x" }, { "--limit", "99999999999999999999999" },
		{ "--state", "" }, { "--state", "New" }, { "--state", "frozen" },
		{ "--sender", "a<b" }, { "--sender", "<a@b" },
		{ "--domain", "" }, { "--domain", "@" }, { "--domain", "a@b.test" },
		{ "--limit", NULL }, { "--domain", NULL },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (set(&f, bad[i][0], bad[i][1]) != -1)
			fail_msg("%s '%s' accepted", bad[i][0], bad[i][1] ? bad[i][1] : "(none)");
	assert_int_equal(set(&f, "--json", "1"), 1);
	assert_int_equal(set(&f, "--limits", "1"), 1);
	assert_int_equal(set(&f, "-c", NULL), 1);
}

static struct queue_envelope *envelope(const char *sender, const char *const *rcpts)
{
	struct queue_envelope *env = queue_envelope_new();
	free(env->sender);
	env->sender = strdup(sender);
	for (; *rcpts; rcpts++)
		queue_envelope_add_rcpt(env, *rcpts, 0, NULL);
	return env;
}

static void test_filter_match(void **state)
{
	(void)state;
	struct queue_list_filter f;
	static const char *const rcpts[] = { "x@Gmail.test", "y@sub.gmail.test", "z@@odd", NULL };
	struct queue_envelope *env = envelope("Alice@A.test", rcpts);
	struct queue_envelope *null = envelope("", rcpts);

	memset(&f, 0, sizeof(f));
	assert_true(queue_list_filter_match(&f, env));
	assert_int_equal(set(&f, "--sender", "alice@a.TEST"), 0);
	assert_true(queue_list_filter_match(&f, env));
	assert_false(queue_list_filter_match(&f, null));
	assert_int_equal(set(&f, "--sender", "alice@a.tes"), 0);
	assert_false(queue_list_filter_match(&f, env));
	assert_int_equal(set(&f, "--sender", "<>"), 0);
	assert_false(queue_list_filter_match(&f, env));
	assert_true(queue_list_filter_match(&f, null));
	assert_int_equal(set(&f, "--domain", "gmail.test"), 0);
	assert_true(queue_list_filter_match(&f, env));
	assert_int_equal(set(&f, "--domain", "mail.test"), 0);  /* whole domains only */
	assert_false(queue_list_filter_match(&f, env));
	assert_int_equal(set(&f, "--domain", "odd"), 0);  /* after the last @ */
	assert_true(queue_list_filter_match(&f, env));
	assert_int_equal(set(&f, "--domain", "SUB.gmail.test"), 0);
	assert_true(queue_list_filter_match(&f, env));
	queue_envelope_free(&env);
	queue_envelope_free(&null);
}

static void test_id_time(void **state)
{
	(void)state;
	time_t t = 0;
	/* 2020-01-01T00:00:00Z is 0; one second is 1000 << 22 */
	assert_true(queue_id_time("0000000000000000", &t));
	assert_int_equal(t, 1577836800);
	assert_true(queue_id_time("00000000FA0000FF", &t));
	assert_int_equal(t, 1577836801);
	assert_true(queue_id_time("00000000F9FFFFFF", &t));  /* 999 ms: the same second */
	assert_int_equal(t, 1577836800);
	assert_false(queue_id_time("0000000000000zzz", &t));
	char id[QUEUE_ID_LEN + 1];
	time_t before = time(NULL);
	queue_id_new(id);
	assert_true(queue_id_time(id, &t));
	assert_true(t >= before && t <= time(NULL));
}

static void test_state_log_after_body(void **state)
{
	(void)state;
	static const char *const rcpts[] = { "a@x.test", "b@x.test", "c@x.test", NULL };
	struct queue_envelope *env = envelope("s@x.test", rcpts);
	static const char log[] =
		"0 deferred 451+20later\n"
		"M next 1700000000\n"
		"garbage\n"
		"9 delivered -\n"          /* no such recipient */
		"0 delivered 250+20ok\n"
		"0 deferred -\n"           /* final stays final */
		"M hold 1\n"
		"2 failed 550+20no\n"
		"1 delivered 250";        /* torn: its sync never finished */
	assert_int_equal(spool_state_log_parse(env, log, sizeof(log) - 1), 2);
	assert_int_equal(env->rcpts[0].state, QUEUE_RCPT_DELIVERED);
	assert_int_equal(env->rcpts[1].state, QUEUE_RCPT_PENDING);
	assert_int_equal(env->rcpts[2].state, QUEUE_RCPT_FAILED);
	assert_string_equal(env->rcpts[2].last_reply, "550 no");
	assert_int_equal(env->next_attempt, 1700000000);
	assert_true(env->held);
	/* fed one byte at a time (a log cut anywhere), every prefix parses */
	for (size_t n = 0; n < sizeof(log); n++) {
		struct queue_envelope *e = envelope("s@x.test", rcpts);
		assert_true(spool_state_log_parse(e, log, n) <= 2);
		queue_envelope_free(&e);
	}
	queue_envelope_free(&env);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_filter_valid),
		cmocka_unit_test(test_filter_invalid),
		cmocka_unit_test(test_filter_match),
		cmocka_unit_test(test_id_time),
		cmocka_unit_test(test_state_log_after_body),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
