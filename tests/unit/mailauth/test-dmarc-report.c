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
#include "util/buf.h"
#include "util/utf8.h"

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
	/* a record holding a NUL octet (dns/ keeps it, with its length) is no
	 * DMARC record, here as in DMARC discovery */
	char *nul[] = { "v=DMARC1\0; p=none" };
	size_t nul_len[] = { 17 };
	r = (struct dns_records){ .status = DNS_OK, .items = nul, .lengths = nul_len, .count = 1 };
	assert_int_equal(dmarc_rua_auth_answer(&r), 0);
}

/* test_report_xml - identical evaluations grouped with their count, the
 * policy's defaults, text escaped, SPF's scope helo for the null sender
 * (python's xml.etree reads the same output in test_dmarc_report.py) */
static void test_report_xml(void **state)
{
	(void)state;
	const struct dmarc_report_eval pass = {
		.source_ip = "192.0.2.1", .header_from = "example.com",
		.envelope_from = "example.com", .spf_domain = "example.com",
		.spf_result = "pass", .dkim = "example.com s1 pass", .spf_aligned = true,
		.dkim_aligned = true, .disposition = "none",
	};
	const struct dmarc_report_eval fail = {
		.source_ip = "198.51.100.7", .header_from = "example.com", .envelope_from = "",
		.spf_domain = "evil<&>.test", .spf_result = "fail",
		.dkim = "example.com s1 fail\nevil.test x pass", .disposition = "quarantine",
		.override = "sampled_out",
	};
	const struct dmarc_report_eval evals[] = { pass, fail, pass, pass };
	const struct dmarc_report_meta meta = {
		.org_name = "Petrel \"test\"", .email = "dmarc@mx.example.org",
		.report_id = "r1", .begin = 1000, .end = 86399, .domain = "example.com",
		.policy = "p=reject; adkim=s",
	};
	struct buf out;
	buf_init(&out);
	assert_int_equal(dmarc_report_xml(&meta, evals, 4, &out), 2);
	const char *x = out.data;
	assert_non_null(strstr(x, "<org_name>Petrel &quot;test&quot;</org_name>"));
	assert_non_null(strstr(x, "<begin>1000</begin>"));
	assert_non_null(strstr(x, "<end>86399</end>"));
	assert_non_null(strstr(x, "<domain>example.com</domain>\n    <adkim>s</adkim>\n"
				  "    <aspf>r</aspf>\n    <p>reject</p>\n    <sp>reject</sp>\n"
				  "    <pct>100</pct>\n    <fo>0</fo>"));
	assert_non_null(strstr(x, "<source_ip>192.0.2.1</source_ip>\n      <count>3</count>"));
	assert_non_null(strstr(x, "<source_ip>198.51.100.7</source_ip>\n      <count>1</count>"));
	assert_non_null(strstr(x, "<reason>\n          <type>sampled_out</type>"));
	assert_non_null(strstr(x, "<domain>evil&lt;&amp;&gt;.test</domain>\n"
				  "        <scope>helo</scope>"));
	assert_non_null(strstr(x, "<domain>evil.test</domain>\n        <selector>x</selector>\n"
				  "        <result>pass</result>"));
	assert_non_null(strstr(x, "<scope>mfrom</scope>"));
	assert_non_null(strstr(x, "</feedback>\n"));
	buf_free(&out);
}

/* test_report_xml_utf8 - text from the peer that is not UTF-8 (a DKIM d=
 * or s= as the signature wrote it) becomes '?' in the XML, which must be
 * well-formed UTF-8 (XML 1.0 2.2); well-formed UTF-8 stays as it is */
static void test_report_xml_utf8(void **state)
{
	(void)state;
	const struct dmarc_report_eval e = {
		.source_ip = "192.0.2.1", .header_from = "example.com",
		.envelope_from = "example.com", .spf_domain = "example.com",
		.spf_result = "pass", .dkim = "bad\xff\xc3.test s\xe9l fail\n\xc3\xa9t\xc3\xa9.test s1 pass",
		.disposition = "none",
	};
	const struct dmarc_report_meta meta = {
		.org_name = "Petrel", .email = "dmarc@mx.example.org", .report_id = "r1",
		.begin = 0, .end = 86399, .domain = "example.com", .policy = "p=none",
	};
	struct buf out;
	buf_init(&out);
	assert_int_equal(dmarc_report_xml(&meta, &e, 1, &out), 1);
	assert_true(utf8_is_valid(out.data, out.len));
	assert_non_null(strstr(out.data, "<domain>bad??.test</domain>\n        "
				     "<selector>s?l</selector>"));
	assert_non_null(strstr(out.data, "<domain>\xc3\xa9t\xc3\xa9.test</domain>"));
	buf_free(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mailto),
		cmocka_unit_test(test_external),
		cmocka_unit_test(test_auth_name),
		cmocka_unit_test(test_auth_answer),
		cmocka_unit_test(test_report_xml),
		cmocka_unit_test(test_report_xml_utf8),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
