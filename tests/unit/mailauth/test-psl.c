/* tests/unit/mailauth/test-psl - the Public Suffix List and the
 * organizational domain (RFC 7489 3.2).
 *
 * test_vectors: the publicsuffix project's checkPublicSuffix cases
 * (tests/test_psl.txt: "the registrable domain of X is Y, or null"), written
 * here as a table and run against the list Debian ships, which both cases
 * assume whole (uk.com is a PRIVATE rule).  Their Unicode inputs appear in
 * A-label form, which is what this module takes; the Unicode forms must be
 * refused, not misread.  The other tests use small lists of their own. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "mailauth/mailauth.h"

#define DEBIAN_PSL "/usr/share/publicsuffix/public_suffix_list.dat"

struct psl_case {
	const char *domain;
	const char *registrable;   /* NULL: DOMAIN is a public suffix or not a name */
};

static const struct psl_case vectors[] = {
	/* mixed case */
	{ "COM", NULL },
	{ "example.COM", "example.com" },
	{ "WwW.example.COM", "example.com" },
	/* leading dot */
	{ ".com", NULL },
	{ ".example", NULL },
	{ ".example.com", NULL },
	{ ".example.example", NULL },
	/* unlisted TLD */
	{ "example", NULL },
	{ "example.example", "example.example" },
	{ "b.example.example", "example.example" },
	{ "a.b.example.example", "example.example" },
	/* TLD with only 1 rule */
	{ "biz", NULL },
	{ "domain.biz", "domain.biz" },
	{ "b.domain.biz", "domain.biz" },
	{ "a.b.domain.biz", "domain.biz" },
	/* TLD with some 2-level rules */
	{ "com", NULL },
	{ "example.com", "example.com" },
	{ "b.example.com", "example.com" },
	{ "a.b.example.com", "example.com" },
	{ "uk.com", NULL },
	{ "example.uk.com", "example.uk.com" },
	{ "b.example.uk.com", "example.uk.com" },
	{ "a.b.example.uk.com", "example.uk.com" },
	{ "test.ac", "test.ac" },
	/* TLD with only 1 (wildcard) rule */
	{ "mm", NULL },
	{ "c.mm", NULL },
	{ "b.c.mm", "b.c.mm" },
	{ "a.b.c.mm", "b.c.mm" },
	/* more complex TLD */
	{ "jp", NULL },
	{ "test.jp", "test.jp" },
	{ "www.test.jp", "test.jp" },
	{ "ac.jp", NULL },
	{ "test.ac.jp", "test.ac.jp" },
	{ "www.test.ac.jp", "test.ac.jp" },
	{ "kyoto.jp", NULL },
	{ "test.kyoto.jp", "test.kyoto.jp" },
	{ "ide.kyoto.jp", NULL },
	{ "b.ide.kyoto.jp", "b.ide.kyoto.jp" },
	{ "a.b.ide.kyoto.jp", "b.ide.kyoto.jp" },
	{ "c.kobe.jp", NULL },
	{ "b.c.kobe.jp", "b.c.kobe.jp" },
	{ "a.b.c.kobe.jp", "b.c.kobe.jp" },
	{ "city.kobe.jp", "city.kobe.jp" },
	{ "www.city.kobe.jp", "city.kobe.jp" },
	/* TLD with a wildcard rule and exceptions */
	{ "ck", NULL },
	{ "test.ck", NULL },
	{ "b.test.ck", "b.test.ck" },
	{ "a.b.test.ck", "b.test.ck" },
	{ "www.ck", "www.ck" },
	{ "www.www.ck", "www.ck" },
	/* US K12 */
	{ "us", NULL },
	{ "test.us", "test.us" },
	{ "www.test.us", "test.us" },
	{ "ak.us", NULL },
	{ "test.ak.us", "test.ak.us" },
	{ "www.test.ak.us", "test.ak.us" },
	{ "k12.ak.us", NULL },
	{ "test.k12.ak.us", "test.k12.ak.us" },
	{ "www.test.k12.ak.us", "test.k12.ak.us" },
	/* IDN labels, punycoded (the list writes 公司.cn and 中国 in Unicode) */
	{ "xn--85x722f.com.cn", "xn--85x722f.com.cn" },
	{ "xn--85x722f.xn--55qx5d.cn", "xn--85x722f.xn--55qx5d.cn" },
	{ "www.xn--85x722f.xn--55qx5d.cn", "xn--85x722f.xn--55qx5d.cn" },
	{ "shishi.xn--55qx5d.cn", "shishi.xn--55qx5d.cn" },
	{ "xn--55qx5d.cn", NULL },
	{ "xn--85x722f.xn--fiqs8s", "xn--85x722f.xn--fiqs8s" },
	{ "www.xn--85x722f.xn--fiqs8s", "xn--85x722f.xn--fiqs8s" },
	{ "shishi.xn--fiqs8s", "shishi.xn--fiqs8s" },
	{ "xn--fiqs8s", NULL },
	/* the same in Unicode: not taken (A-labels only) */
	{ "\xe9\xa3\x9f\xe7\x8b\xae.com.cn", NULL },
	{ "shishi.\xe4\xb8\xad\xe5\x9b\xbd", NULL },
	/* beyond the project's vectors: a trailing dot, Unicode rules with
	 * ASCII in them (aéroport.ci), a private wildcard-free rule */
	{ "example.com.", "example.com" },
	{ "www.Example.Co.UK.", "example.co.uk" },
	{ "x.xn--aroport-bya.ci", "x.xn--aroport-bya.ci" },
	{ "xn--aroport-bya.ci", NULL },
	{ "alice.github.io", "alice.github.io" },
	{ "www.alice.github.io", "alice.github.io" },
	{ "github.io", NULL },
	{ "", NULL },
	{ ".", NULL },
	{ "example..com", NULL },
	{ "exa mple.com", NULL },
	{ "under_score.com", NULL },
};

static struct mailauth_psl *load_debian(void)
{
	const char *error = NULL;
	struct mailauth_psl *psl = mailauth_psl_load(DEBIAN_PSL, &error);
	if (!psl)
		fail_msg("%s", error);
	return psl;
}

static void test_vectors(void **state)
{
	(void)state;
	struct mailauth_psl *psl = load_debian();
	assert_true(mailauth_psl_rule_count(psl) > 5000);
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		const struct psl_case *c = &vectors[i];
		char out[MAILAUTH_DOMAIN_SIZE];
		int r = mailauth_psl_registrable(psl, c->domain, strlen(c->domain), out);
		if (c->registrable == NULL && r == 1)
			fail_msg("\"%s\": registrable \"%s\", expected none", c->domain, out);
		if (c->registrable != NULL && (r != 1 || strcmp(out, c->registrable) != 0))
			fail_msg("\"%s\": %d \"%s\", expected \"%s\"", c->domain, r,
				 r == 1 ? out : "", c->registrable);
	}
	mailauth_psl_free(&psl);
	assert_null(psl);
}

/* the organizational domain: the registrable domain, or the name itself
 * when it is a public suffix; not a name -> false */
static void test_org_domain(void **state)
{
	(void)state;
	struct mailauth_psl *psl = load_debian();
	static const struct { const char *domain, *org; } cases[] = {
		{ "mail.example.com", "example.com" },
		{ "a.b.c.Example.COM.", "example.com" },
		{ "example.com", "example.com" },
		{ "com", "com" },
		{ "co.uk", "co.uk" },
		{ "x.y.example-dmarc.com", "example-dmarc.com" },
		{ "sub.example.test", "example.test" },
		{ "..", NULL },
		{ "-a.com", NULL },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char out[MAILAUTH_DOMAIN_SIZE];
		bool ok = mailauth_org_domain(psl, cases[i].domain, strlen(cases[i].domain), out);
		if (ok != (cases[i].org != NULL) || (ok && strcmp(out, cases[i].org) != 0))
			fail_msg("\"%s\": %d \"%s\"", cases[i].domain, ok, ok ? out : "");
	}
	/* not NUL-terminated: only LEN bytes are read */
	char out[MAILAUTH_DOMAIN_SIZE];
	assert_true(mailauth_org_domain(psl, "www.example.comXYZ", 15, out));
	assert_string_equal(out, "example.com");
	mailauth_psl_free(&psl);
}

/* a list of our own: kinds of rules on one name, comments, whitespace,
 * exceptions prevailing over a longer rule */
static void test_small_list(void **state)
{
	(void)state;
	const char *text =
		"// a comment\n"
		"\n"
		"tld\n"
		"  *.wild.tld   trailing words are ignored\r\n"
		"wild.tld\n"
		"!keep.wild.tld\n"
		"a.keep.wild.tld\n"
		"// ===BEGIN PRIVATE DOMAINS===\n"
		"Host.TLD\n"
		"caf\xc3\xa9.tld";   /* no newline at the end */
	size_t line = 99;
	const char *error = NULL;
	struct mailauth_psl *psl = mailauth_psl_parse(text, strlen(text), &line, &error);
	assert_non_null(psl);
	assert_int_equal(mailauth_psl_rule_count(psl), 7);
	static const struct psl_case cases[] = {
		{ "x.tld", "x.tld" },
		{ "wild.tld", NULL },
		{ "x.wild.tld", NULL },
		{ "y.x.wild.tld", "y.x.wild.tld" },
		{ "keep.wild.tld", "keep.wild.tld" },
		{ "z.keep.wild.tld", "keep.wild.tld" },
		/* the exception prevails over the longer rule a.keep.wild.tld */
		{ "b.a.keep.wild.tld", "keep.wild.tld" },
		{ "host.tld", NULL },
		{ "me.host.tld", "me.host.tld" },
		{ "me.xn--caf-dma.tld", "me.xn--caf-dma.tld" },
		{ "xn--caf-dma.tld", NULL },
		{ "other", NULL },
		{ "x.other", "x.other" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char out[MAILAUTH_DOMAIN_SIZE];
		int r = mailauth_psl_registrable(psl, cases[i].domain, strlen(cases[i].domain), out);
		if ((r == 1) != (cases[i].registrable != NULL) ||
		    (r == 1 && strcmp(out, cases[i].registrable) != 0))
			fail_msg("\"%s\": %d \"%s\"", cases[i].domain, r, r == 1 ? out : "");
	}
	mailauth_psl_free(&psl);
}

/* a bad rule names its line */
static void test_bad_lists(void **state)
{
	(void)state;
	static const struct { const char *text; size_t line; } cases[] = {
		{ "com\nfoo..bar\n", 2 },
		{ "com\n\n*\n", 3 },
		{ "a.*.com\n", 1 },
		{ "!com\n", 1 },
		{ "com\n!\n", 2 },
		{ "bad_label.com\n", 1 },
		{ "com\n\xff\xfe.com\n", 2 },
		{ "-a.com\n", 1 },
		{ "com.\n", 1 },
		/* no rules at all */
		{ "// only a comment\n\n", 0 },
		{ "", 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t line = 99;
		const char *error = NULL;
		struct mailauth_psl *psl = mailauth_psl_parse(cases[i].text, strlen(cases[i].text),
							      &line, &error);
		if (psl != NULL || error == NULL || line != cases[i].line)
			fail_msg("case %zu: line %zu (%s)", i, line, error ? error : "");
	}
	/* a NUL inside a rule */
	size_t line = 0;
	const char *error = NULL;
	assert_null(mailauth_psl_parse("com\nx\0y\n", 8, &line, &error));
	assert_int_equal(line, 2);
}

/* the loader's errors say the file, and the line when there is one */
static void test_load_errors(void **state)
{
	(void)state;
	const char *error = NULL;
	assert_null(mailauth_psl_load("/nonexistent/psl.dat", &error));
	assert_non_null(strstr(error, "/nonexistent/psl.dat: "));
	assert_null(mailauth_psl_load("/", &error));
	assert_non_null(strstr(error, "not a regular file"));

	char path[] = "/tmp/test-psl-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	FILE *f = fdopen(fd, "w");
	assert_non_null(f);
	fputs("com\norg\nnot..valid\n", f);
	assert_int_equal(fclose(f), 0);
	assert_null(mailauth_psl_load(path, &error));
	char expect[64];
	snprintf(expect, sizeof(expect), "%s:3: ", path);
	assert_non_null(strstr(error, expect));
	assert_int_equal(unlink(path), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_org_domain),
		cmocka_unit_test(test_small_list),
		cmocka_unit_test(test_bad_lists),
		cmocka_unit_test(test_load_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
