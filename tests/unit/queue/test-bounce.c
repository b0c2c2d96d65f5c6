/* test-bounce - queue_reply_is_block: which remote refusals are SendGrid's
 * "blocks" (the sender, the message, a policy) and which are "bounces" (the
 * address), table-driven. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "queue/queue.h"

static void test_reply_is_block(void **state)
{
	(void)state;
	static const struct {
		const char *reply;
		bool block;
	} cases[] = {
		{ "550 5.7.1 message refused as spam", true },
		{ "554 5.7.26 unauthenticated mail is prohibited", true },
		{ "550 5.6.0 content rejected", true },
		{ "554 5.0.0 Client host blocked using zen.spamhaus.org", true },
		{ "554 Service unavailable; Client host [192.0.2.1] BLOCKED using a DNSBL", true },
		{ "550 sender blacklisted", true },
		{ "550 5.1.1 no such user", false },
		{ "552 5.2.2 mailbox full", false },
		{ "550 5.1.1 blocked? no: no such user", false },  /* the code decides */
		{ "550 no such user here", false },
		{ "451 4.7.1 greylisted, try again", false },
		{ "421 blocked for now", false },
		{ "", false },
		{ NULL, false },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (queue_reply_is_block(cases[i].reply) != cases[i].block)
			fail_msg("case %zu: \"%s\"", i, cases[i].reply ? cases[i].reply : "(null)");
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reply_is_block),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
