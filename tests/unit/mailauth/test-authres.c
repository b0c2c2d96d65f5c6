/* tests/unit/mailauth/test-authres - mailauth_authres_id (RFC 8601 2.2):
 * the authserv-id an incoming Authentication-Results field claims.  Each
 * case is read from an exactly-sized copy (AddressSanitizer catches an
 * overread), and every prefix of it is read too (it must not overread). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mailauth/mailauth.h"

struct id_case {
	const char *value;
	const char *id;   /* NULL: none */
	size_t len;       /* 0: strlen(value) */
};

static const struct id_case cases[] = {
	{ " mx.example.org; spf=pass smtp.mailfrom=a@b.example", "mx.example.org", 0 },
	{ "mx.example.org;spf=pass", "mx.example.org", 0 },
	/* a version after the id (RFC 8601 2.2) */
	{ " mx.example.org 1; none", "mx.example.org", 0 },
	/* no result at all */
	{ " mx.example.org; none", "mx.example.org", 0 },
	{ "mx.example.org", "mx.example.org", 0 },
	/* folded, with comments before (nested, with a quoted-pair) */
	{ "\r\n\t(hi (there) \\) ) mx.example.org;\r\n\tdkim=pass", "mx.example.org", 0 },
	{ " (c)mx.example.org", "mx.example.org", 0 },
	/* quoted: the quotes and quoted-pairs removed, folding unfolded */
	{ " \"mx.example.org\"; spf=none", "mx.example.org", 0 },
	{ " \"mx.ex\\ample.org\"", "mx.example.org", 0 },
	{ " \"mx.example\r\n .org\"", "mx.example .org", 0 },
	/* case is kept: the caller compares without it */
	{ " MX.Example.ORG;", "MX.Example.ORG", 0 },
	/* UTF-8 (RFC 6532) */
	{ " m\xc3\xa9.example;", "m\xc3\xa9.example", 0 },
	/* the token ends at a tspecial */
	{ " mx.example.org/x", "mx.example.org", 0 },
	/* none */
	{ "", NULL, 0 },
	{ "   ", NULL, 0 },
	{ " ; spf=pass", NULL, 0 },
	{ " (unclosed comment mx.example.org", NULL, 0 },
	{ " (a) (b", NULL, 0 },
	{ " \"unclosed", NULL, 0 },
	{ " \"\"; spf=pass", NULL, 0 },
	{ " \"a\\", NULL, 0 },
	{ " \"a\0b\"", NULL, 6 },
	{ " =x", NULL, 0 },
};

static void test_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *value = cases[i].value;
		size_t len = cases[i].len ? cases[i].len : strlen(value);
		char *copy = malloc(len ? len : 1);
		assert_non_null(copy);
		memcpy(copy, value, len);
		char id[MAILAUTH_AUTHSERV_ID_MAX];
		bool ok = mailauth_authres_id(copy, len, id, sizeof(id));
		if (cases[i].id) {
			if (!ok)
				fail_msg("case %zu: no id", i);
			assert_string_equal(id, cases[i].id);
		} else if (ok) {
			fail_msg("case %zu: id '%s'", i, id);
		}
		for (size_t n = 0; n < len; n++) {
			char *prefix = malloc(n ? n : 1);
			assert_non_null(prefix);
			memcpy(prefix, value, n);
			(void)mailauth_authres_id(prefix, n, id, sizeof(id));
			free(prefix);
		}
		free(copy);
	}
}

/* test_size - an id that does not fit is no id; one that just fits is */
static void test_size(void **state)
{
	(void)state;
	char id[8];
	assert_true(mailauth_authres_id(" abcdefg;", 9, id, sizeof(id)));
	assert_string_equal(id, "abcdefg");
	assert_false(mailauth_authres_id(" abcdefgh;", 10, id, sizeof(id)));
	assert_string_equal(id, "");
	assert_false(mailauth_authres_id(" \"abcdefgh\"", 11, id, sizeof(id)));
	assert_false(mailauth_authres_id(" a", 2, id, 0));
	/* comments nested beyond the bound */
	char deep[80];
	memset(deep, '(', 40);
	memset(deep + 40, ')', 40);
	assert_false(mailauth_authres_id(deep, sizeof(deep), id, sizeof(id)));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_size),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
