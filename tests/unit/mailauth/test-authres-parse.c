/* tests/unit/mailauth/test-authres-parse - mailauth_ar_parse (RFC 8601 2.2),
 * table driven: what each field body parses into, or that it is refused;
 * every prefix of every case parsed too, in a buffer of its exact size (an
 * over-read is ASan's to catch). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailauth/mailauth.h"

struct ar_case {
	const char *in;
	const char *id;        /* NULL: must be refused */
	const char *expect;    /* the results written back: "method=result[reason]{p.q=v,...};" */
};

static const struct ar_case ar_cases[] = {
	{ "mx.petrel.test; spf=pass smtp.mailfrom=a@ok.test; dkim=pass header.d=example.org "
	  "header.s=sel header.b=abcdefgh; dmarc=pass (p=reject dis=none) header.from=example.org",
	  "mx.petrel.test",
	  "spf=pass{smtp.mailfrom=a@ok.test};dkim=pass{header.d=example.org,header.s=sel,"
	  "header.b=abcdefgh};dmarc=pass{header.from=example.org};" },
	/* comments, folding, case, a quoted reason */
	{ " mx.example (our server);\r\n\tSPF = Fail (sender IP is 192.0.2.1)\r\n"
	  "  Smtp.MailFrom=x@y.test reason=\"not permitted\" ; dkim=none",
	  "mx.example", "spf=fail[not permitted]{smtp.mailfrom=x@y.test};dkim=none{};" },
	/* a version, none */
	{ "example.com 1; none", "example.com", "" },
	{ "example.com (c) 1 (c); none;", "example.com", "" },
	/* method version, header.i=@domain, a quoted local part */
	{ "example.com; dkim/1=pass header.i=@example.org; spf=pass "
	  "smtp.mailfrom=\"a b\"@x.test",
	  "example.com",
	  "dkim=pass{header.i=@example.org};spf=pass{smtp.mailfrom=\"a b\"@x.test};" },
	/* a quoted authserv-id, a trailing ";" */
	{ "\"mx one\"; arc=pass;", "mx one", "arc=pass{};" },
	{ "x; dmarc=fail reason=\"p=reject\" policy.dmarc=reject header.from=example.com",
	  "x", "dmarc=fail[p=reject]{policy.dmarc=reject,header.from=example.com};" },
	{ "x", "x", "" },
	/* refused */
	{ "", NULL, NULL },
	{ "; spf=pass", NULL, NULL },
	{ "x; spf", NULL, NULL },
	{ "x; spf=", NULL, NULL },
	{ "x; =pass", NULL, NULL },
	{ "x; spf=pass (unterminated", NULL, NULL },
	{ "x (unterminated; spf=pass", NULL, NULL },
	{ "x; spf=pass junk", NULL, NULL },
	{ "x; spf=pass smtp.mailfrom", NULL, NULL },
	{ "x; spf=pass smtp.mailfrom=", NULL, NULL },
	{ "x; spf=pass reason=", NULL, NULL },
	{ "x; spf=pass reason=\"open", NULL, NULL },
	{ "x 2; spf=pass", NULL, NULL },
	{ "x; none; spf=pass", NULL, NULL },
	{ "x junk", NULL, NULL },
};

/* ar_describe - the results as the table writes them */
static char *ar_describe(const struct mailauth_ar *ar)
{
	size_t size = 4096;
	char *out = calloc(1, size);
	for (size_t i = 0; i < ar->count; i++) {
		const struct mailauth_ar_result *r = &ar->results[i];
		size_t n = strlen(out);
		n += (size_t)snprintf(out + n, size - n, "%s=%s", r->method, r->result);
		if (r->reason)
			n += (size_t)snprintf(out + n, size - n, "[%s]", r->reason);
		n += (size_t)snprintf(out + n, size - n, "{");
		for (size_t k = 0; k < r->prop_count; k++)
			n += (size_t)snprintf(out + n, size - n, "%s%s.%s=%s", k ? "," : "",
					      r->props[k].ptype, r->props[k].property,
					      r->props[k].value);
		snprintf(out + n, size - n, "};");
	}
	return out;
}

static void test_parse(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(ar_cases) / sizeof(ar_cases[0]); i++) {
		const struct ar_case *t = &ar_cases[i];
		size_t len = strlen(t->in);
		char *in = malloc(len ? len : 1);
		memcpy(in, t->in, len);
		struct mailauth_ar ar;
		const char *error = NULL;
		int ret = mailauth_ar_parse(in, len, &ar, &error);
		if (!t->id) {
			if (ret != -1 || !error)
				fail_msg("%s: parsed, should be refused", t->in);
		} else {
			if (ret != 0)
				fail_msg("%s: refused (%s)", t->in, error);
			assert_string_equal(ar.authserv_id, t->id);
			char *got = ar_describe(&ar);
			if (strcmp(got, t->expect) != 0)
				fail_msg("%s:\n got %s\nwant %s", t->in, got, t->expect);
			assert_int_equal(ar.none, strstr(t->in, "; none") != NULL);
			free(got);
			mailauth_ar_free(&ar);
		}
		/* every prefix: parsed or refused, never read past */
		for (size_t k = 0; k < len; k++) {
			char *pre = malloc(k ? k : 1);
			memcpy(pre, t->in, k);
			if (mailauth_ar_parse(pre, k, &ar, &error) == 0)
				mailauth_ar_free(&ar);
			free(pre);
		}
		free(in);
	}
}

/* test_limits - results and properties past the MAX are dropped, not refused */
static void test_limits(void **state)
{
	(void)state;
	char text[8192] = "x";
	for (int i = 0; i < MAILAUTH_AR_RESULTS_MAX + 5; i++)
		strcat(text, "; spf=pass a.b=1 a.c=2 a.d=3 a.e=4 a.f=5 a.g=6 a.h=7 a.i=8 a.j=9");
	struct mailauth_ar ar;
	const char *error;
	assert_int_equal(mailauth_ar_parse(text, strlen(text), &ar, &error), 0);
	assert_int_equal(ar.count, MAILAUTH_AR_RESULTS_MAX);
	assert_int_equal(ar.results[0].prop_count, MAILAUTH_AR_PROPS_MAX);
	assert_string_equal(mailauth_ar_prop_find(&ar.results[0], "a", "h"), "7");
	assert_string_equal(mailauth_ar_prop_find(&ar.results[0], "a", "i"), "8");
	assert_null(mailauth_ar_prop_find(&ar.results[0], "a", "j"));
	mailauth_ar_free(&ar);
	/* a NUL byte refuses the field */
	assert_int_equal(mailauth_ar_parse("x; spf=pass\0", 12, &ar, &error), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
