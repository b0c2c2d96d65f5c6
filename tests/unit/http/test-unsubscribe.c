/* tests/unit/http/test-unsubscribe - one-click unsubscribe tokens (made,
 * checked, forged, malformed) and the RFC 8058 POST bodies
 * (src/http/unsubscribe-parse.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/unsubscribe.h"

static const unsigned char secret[UNSUBSCRIBE_SECRET_LEN] = "0123456789abcdef0123456789abcdef";
static const unsigned char other[UNSUBSCRIBE_SECRET_LEN] = "0123456789abcdef0123456789abcdeF";

static void make(const char *account, const char *recipient, struct buf *out)
{
	buf_init(out);
	unsubscribe_token_make(secret, account, recipient, out);
}

static int check(const unsigned char *key, const char *text, size_t len, const char **reason)
{
	char *a = NULL, *r = NULL;
	int rc = unsubscribe_token_check(key, text, len, &a, &r, reason);
	assert_true((rc == 0) == (a != NULL && r != NULL));
	free(a);
	free(r);
	return rc;
}

static void test_round_trip(void **state)
{
	(void)state;
	struct buf t;
	make("Sender@Example.TEST", "Bob+news@example.org", &t);
	/* only URL-safe characters: it goes in a path as it is */
	assert_int_equal(strspn(t.data, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
				"0123456789-_."), t.len);
	char *a = NULL, *r = NULL;
	const char *reason = NULL;
	assert_int_equal(unsubscribe_token_check(secret, t.data, t.len, &a, &r, &reason), 0);
	assert_string_equal(a, "sender@example.test");
	assert_string_equal(r, "bob+news@example.org");
	free(a);
	free(r);
	/* the same pair in another case: the same token */
	struct buf u;
	make("sender@example.test", "bob+news@EXAMPLE.org", &u);
	assert_int_equal(t.len, u.len);
	assert_memory_equal(t.data, u.data, t.len);
	buf_free(&u);
	/* another secret: forged */
	assert_int_equal(check(other, t.data, t.len, &reason), -1);
	assert_string_equal(reason, "forged");
	buf_free(&t);
}

static void test_longest_fits(void **state)
{
	(void)state;
	char local[247], address[255];
	memset(local, 'x', sizeof(local) - 1);
	local[sizeof(local) - 1] = '\0';
	snprintf(address, sizeof(address), "%s@ex.test", local);
	assert_int_equal(strlen(address), UNSUBSCRIBE_ADDRESS_MAX);
	struct buf t;
	make(address, address, &t);
	assert_true(t.len <= UNSUBSCRIBE_TOKEN_MAX);
	const char *reason = NULL;
	assert_int_equal(check(secret, t.data, t.len, &reason), 0);
	buf_free(&t);
}

/* test_tampered - every one-octet change of a good token fails */
static void test_tampered(void **state)
{
	(void)state;
	struct buf t;
	make("a@example.test", "b@example.test", &t);
	for (size_t i = 0; i < t.len; i++) {
		char saved = t.data[i];
		t.data[i] = saved == 'A' ? 'B' : 'A';
		const char *reason = NULL;
		assert_int_equal(check(secret, t.data, t.len, &reason), -1);
		t.data[i] = saved;
	}
	for (size_t n = 0; n < t.len; n++) {
		const char *reason = NULL;
		assert_int_equal(check(secret, t.data, n, &reason), -1);  /* cut short */
	}
	buf_free(&t);
}

static void test_malformed(void **state)
{
	(void)state;
	static const char *const cases[] = {
		"", ".", "abc", "abc.", ".abc",
		".AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAEAAAA",   /* an empty payload */
		"YUBiAGJAYw.",                               /* no MAC */
		"YUBiAGJAYw.AAAA",                           /* a MAC too short */
		"YUBiAGJAYw==.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", /* padding */
		"YUBi+GJAYw.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",   /* not base64url */
		"YUBiYkBj.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",     /* no NUL: a@bb@c */
		"AGJAYw.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",       /* no account */
		"YUBiAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",       /* no recipient */
		"QUBiAGJAYw.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",   /* A@b: upper case */
		"YWIAY2Q.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",      /* no '@' */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *reason = NULL;
		if (check(secret, cases[i], strlen(cases[i]), &reason) != -1)
			fail_msg("case %zu accepted: %s", i, cases[i]);
		assert_string_equal(reason, "malformed");
	}
	/* a good payload with a wrong MAC is forged, not malformed */
	const char *reason = NULL;
	const char *forged = "YUBiAGJAYw.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
	assert_int_equal(check(secret, forged, strlen(forged), &reason), -1);
	assert_string_equal(reason, "forged");
}

struct body_case {
	const char *content_type;
	const char *body;
	bool one_click;
};

#define MP "multipart/form-data; boundary=XyZ"
static const struct body_case body_cases[] = {
	{ "application/x-www-form-urlencoded", "List-Unsubscribe=One-Click", true },
	{ NULL, "List-Unsubscribe=One-Click", true },
	{ "application/x-www-form-urlencoded", "List-Unsubscribe=One-Click\r\n", true },
	{ "application/x-www-form-urlencoded", "a=1&List-Unsubscribe=One-Click&b=2", true },
	{ "application/x-www-form-urlencoded", "List-Unsubscribe=One%2DClick", true },
	{ "application/x-www-form-urlencoded",
	  "List-Unsubscribe=One-Click&List-Unsubscribe=No", false },  /* named twice */
	{ "application/x-www-form-urlencoded", "", false },
	{ "application/x-www-form-urlencoded", "List-Unsubscribe=One-Click2", false },
	{ "application/x-www-form-urlencoded", "XList-Unsubscribe=One-Click", false },
	{ "application/x-www-form-urlencoded", "list-unsubscribe=one-click", false },
	{ "application/x-www-form-urlencoded", "List-Unsubscribe=", false },
	{ MP, "--XyZ\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\n"
	      "One-Click\r\n--XyZ--\r\n", true },
	{ "multipart/form-data; boundary=\"XyZ\"", "preamble\r\n--XyZ\r\nContent-Disposition: "
	  "form-data; name=\"a\"\r\n\r\n1\r\n--XyZ\r\nContent-Disposition: form-data; "
	  "name=\"List-Unsubscribe\"\r\n\r\nOne-Click\r\n--XyZ--", true },
	{ MP, "--XyZ\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\n"
	      "Two-Clicks\r\n--XyZ--\r\n", false },
	{ MP, "--XyZ\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\n"
	      "One-Click", false },                   /* no closing delimiter */
	{ MP, "List-Unsubscribe=One-Click", false },
	{ "multipart/form-data", "--XyZ\r\n\r\nOne-Click\r\n--XyZ--", false },
};

static void test_bodies(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(body_cases) / sizeof(body_cases[0]); i++) {
		const struct body_case *c = &body_cases[i];
		size_t ct_len = c->content_type ? strlen(c->content_type) : 0;
		bool got = unsubscribe_body_is_one_click(c->content_type ? c->content_type : "",
							 ct_len, c->body, strlen(c->body));
		if (got != c->one_click)
			fail_msg("case %zu: %s", i, c->body);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_longest_fits),
		cmocka_unit_test(test_tampered),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_bodies),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
