/* tests/unit/mailauth/test-dmarc-report - the I/O-free pieces of DMARC
 * aggregate reports (RFC 7489 7.1): rua= mailto: addresses, external
 * destinations by organizational domain, the consent record's name and the
 * reading of its answer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dns/dns.h"
#include "mailauth/mailauth.h"

static struct mailauth_psl *psl;

static int setup(void **state)
{
	(void)state;
	static const char list[] = "com\nnet\nco.uk\ngithub.io\n";
	size_t line;
	const char *error;
	psl = mailauth_psl_parse(list, sizeof(list) - 1, &line, &error);
	return psl ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	mailauth_psl_free(&psl);
	return 0;
}

static void test_mailto(void **state)
{
	(void)state;
	static const struct { const char *uri, *address; } cases[] = {
		{ "mailto:dmarc@example.com", "dmarc@example.com" },
		{ "MAILTO:dmarc@example.com", "dmarc@example.com" },
		{ "mailto:d%6Darc@example.com", "dmarc@example.com" },
		{ "mailto:rua@example.com?subject=x", "rua@example.com" },
		{ "mailto:a+b@sub.example.co.uk", "a+b@sub.example.co.uk" },
		/* not an address Petrel sends to */
		{ "https://example.com/rua", "" },
		{ "mailto:", "" },
		{ "mailto:noat.example.com", "" },
		{ "mailto:@example.com", "" },
		{ "mailto:a@b@example.com", "" },
		{ "mailto:a@exa mple.com", "" },
		{ "mailto:a@example..com", "" },
		{ "mailto:a%2@example.com", "" },
		{ "mailto:a%2Cb@example.com", "" },
		{ "mailto:a%00@example.com", "" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char out[64];
		bool ok = dmarc_rua_mailto(cases[i].uri, out, sizeof(out));
		if (ok != (cases[i].address[0] != '\0'))
			fail_msg("%s: %s", cases[i].uri, ok ? "taken" : "refused");
		assert_int_equal(ok, cases[i].address[0] != '\0');
		assert_string_equal(out, cases[i].address);
	}
	/* too long for the caller's buffer */
	char small[8];
	assert_false(dmarc_rua_mailto("mailto:dmarc@example.com", small, sizeof(small)));
	assert_string_equal(small, "");
}

static void test_external(void **state)
{
	(void)state;
	assert_false(dmarc_rua_is_external(psl, "example.com", "example.com"));
	assert_false(dmarc_rua_is_external(psl, "mail.example.com", "reports.example.com"));
	assert_false(dmarc_rua_is_external(psl, "Example.COM", "example.com"));
	assert_true(dmarc_rua_is_external(psl, "example.com", "example.net"));
	assert_true(dmarc_rua_is_external(psl, "example.com", "example.com.evil.net"));
	assert_true(dmarc_rua_is_external(psl, "a.github.io", "b.github.io"));
	assert_true(dmarc_rua_is_external(psl, "example.co.uk", "other.co.uk"));
}

static void test_auth_name(void **state)
{
	(void)state;
	char name[MAILAUTH_DOMAIN_SIZE];
	assert_true(dmarc_rua_auth_name("example.com", "reports.example.net", name));
	assert_string_equal(name, "example.com._report._dmarc.reports.example.net");
	char longer[231];   /* 230 octets: with the rest, over 253 */
	memset(longer, 'a', sizeof(longer) - 1);
	longer[63] = longer[127] = longer[191] = '.';
	longer[sizeof(longer) - 1] = '\0';
	assert_false(dmarc_rua_auth_name(longer, "example.net", name));
}

static void test_auth_answer(void **state)
{
	(void)state;
	char *yes[] = { "something else", "v=DMARC1" };
	char *no[] = { "v=spf1 -all", "v=DMARC2" };
	struct dns_records r = { .status = DNS_OK, .items = yes, .count = 2 };
	assert_int_equal(dmarc_rua_auth_answer(&r), 1);
	r.items = no;
	assert_int_equal(dmarc_rua_auth_answer(&r), 0);
	r = (struct dns_records){ .status = DNS_NXDOMAIN };
	assert_int_equal(dmarc_rua_auth_answer(&r), 0);
	r.status = DNS_NODATA;
	assert_int_equal(dmarc_rua_auth_answer(&r), 0);
	r.status = DNS_TEMPFAIL;
	assert_int_equal(dmarc_rua_auth_answer(&r), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mailto),
		cmocka_unit_test(test_external),
		cmocka_unit_test(test_auth_name),
		cmocka_unit_test(test_auth_answer),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
