/* test-ticket - the login tickets nodes give each other (src/authd/ticket.c):
 * a good one, a forged one (another secret, another account, a changed
 * field), an expired one, and text that is no ticket. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "authd/ticket.h"

static const unsigned char secret[32] = "0123456789abcdef0123456789abcdef";
static const unsigned char other[32] = "0123456789abcdef0123456789abcdeF";

static int check(const unsigned char *key, const char *account, const char *text, time_t now,
		 const char **reason)
{
	struct authd_ticket t;
	*reason = NULL;
	return authd_ticket_check(key, 32, account, text, strlen(text), now, &t, reason);
}

static void test_ticket_good(void **state)
{
	(void)state;
	char text[AUTHD_TICKET_MAX];
	struct authd_ticket t;
	const char *reason = NULL;
	authd_ticket_make(secret, sizeof(secret), "Alice@Example.test", "node-a", 1000, text);
	assert_int_equal(strncmp(text, "v1:1000:node-a:", 15), 0);
	assert_int_equal(strlen(text), 15 + 64);
	/* the account in any case; until its expiry, included */
	assert_int_equal(authd_ticket_check(secret, 32, "alice@example.test", text, strlen(text),
					    940, &t, &reason), 0);
	assert_string_equal(t.node, "node-a");
	assert_true(t.expiry == 1000);
	assert_int_equal(check(secret, "ALICE@EXAMPLE.TEST", text, 1000, &reason), 0);
}

static void test_ticket_forged(void **state)
{
	(void)state;
	char text[AUTHD_TICKET_MAX];
	const char *reason = NULL;
	authd_ticket_make(other, sizeof(other), "alice@example.test", "node-a", 1000, text);
	assert_int_equal(check(secret, "alice@example.test", text, 990, &reason), -1);
	assert_string_equal(reason, "ticket-forged");
	authd_ticket_make(secret, sizeof(secret), "alice@example.test", "node-a", 1000, text);
	/* a later expiry written in: the MAC no longer fits */
	char changed[AUTHD_TICKET_MAX];
	snprintf(changed, sizeof(changed), "v1:9000%s", text + 7);
	assert_int_equal(check(secret, "alice@example.test", changed, 990, &reason), -1);
	assert_string_equal(reason, "ticket-forged");
	/* another node's name */
	snprintf(changed, sizeof(changed), "v1:1000:node-b%s", text + 14);
	assert_int_equal(check(secret, "alice@example.test", changed, 990, &reason), -1);
	assert_string_equal(reason, "ticket-forged");
	/* a flipped MAC digit */
	snprintf(changed, sizeof(changed), "%s", text);
	changed[strlen(changed) - 1] = changed[strlen(changed) - 1] == '0' ? '1' : '0';
	assert_int_equal(check(secret, "alice@example.test", changed, 990, &reason), -1);
	assert_string_equal(reason, "ticket-forged");
}

static void test_ticket_wrong_account(void **state)
{
	(void)state;
	char text[AUTHD_TICKET_MAX];
	const char *reason = NULL;
	authd_ticket_make(secret, sizeof(secret), "alice@example.test", "node-a", 1000, text);
	assert_int_equal(check(secret, "bob@example.test", text, 990, &reason), -1);
	assert_string_equal(reason, "ticket-forged");
	/* the NUL between the fields: no shift of octets between them passes */
	assert_int_equal(check(secret, "alice@example.tes", text, 990, &reason), -1);
}

static void test_ticket_expired(void **state)
{
	(void)state;
	char text[AUTHD_TICKET_MAX];
	const char *reason = NULL;
	authd_ticket_make(secret, sizeof(secret), "alice@example.test", "node-a", 1000, text);
	assert_int_equal(check(secret, "alice@example.test", text, 1001, &reason), -1);
	assert_string_equal(reason, "ticket-expired");
}

static void test_ticket_malformed(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"",
		"v1:",
		"v2:1000:node-a:00",
		"v1::node-a:0000000000000000000000000000000000000000000000000000000000000000",
		"v1:1000::0000000000000000000000000000000000000000000000000000000000000000",
		"v1:1000:node a:0000000000000000000000000000000000000000000000000000000000000000",
		"v1:1000:node-a:000000000000000000000000000000000000000000000000000000000000000",
		"v1:1000:node-a:00000000000000000000000000000000000000000000000000000000000000000",
		"v1:1000:node-a:000000000000000000000000000000000000000000000000000000000000000G",
		"v1:1000:node-a:000000000000000000000000000000000000000000000000000000000000000A",
		"v1:12345678901234567890:n:0000000000000000000000000000000000000000000000000000000000000000",
		("v1:1000:nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn:"
		 "0000000000000000000000000000000000000000000000000000000000000000"),
		"a password",
	};
	struct authd_ticket t;
	const char *reason = NULL;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(authd_ticket_parse(bad[i], strlen(bad[i]), &t), -1);
		assert_int_equal(check(secret, "alice@example.test", bad[i], 0, &reason), -1);
		assert_string_equal(reason, "ticket-malformed");
	}
	/* a NUL inside: the length decides, not the C string */
	static const char nul[] =
		"v1:1000:node-a:0000000000000000000000000000000000000000000000000000000000000000";
	char copy[sizeof(nul)];
	memcpy(copy, nul, sizeof(nul));
	assert_int_equal(authd_ticket_parse(copy, sizeof(nul) - 1, &t), 0);
	copy[20] = '\0';
	assert_int_equal(authd_ticket_parse(copy, sizeof(nul) - 1, &t), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ticket_good),
		cmocka_unit_test(test_ticket_forged),
		cmocka_unit_test(test_ticket_wrong_account),
		cmocka_unit_test(test_ticket_expired),
		cmocka_unit_test(test_ticket_malformed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
