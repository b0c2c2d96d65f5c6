/* tests/unit/mailauth/test-spf - SPF (RFC 7208) without DNS: the record
 * parser on valid and invalid records (each in a block of exactly its size),
 * the macro expander on RFC 7208 7.4's examples, and check_host() driven
 * by canned answers from a table, the limits included. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mailauth/mailauth.h"

/* dup_exact - LEN bytes in a block of exactly that size (ASan sees overreads) */
static char *dup_exact(const char *s, size_t len)
{
	char *p = malloc(len ? len : 1);
	if (p == NULL)
		abort();
	if (len)
		memcpy(p, s, len);
	return p;
}

/* ---- the parser ---------------------------------------------------------- */

struct parse_case {
	const char *record;
	bool ok;
	size_t terms;           /* directives, when ok */
};

static const struct parse_case parse_cases[] = {
	{ "v=spf1", true, 0 },
	{ "V=SpF1 -ALL", true, 1 },
	{ "v=spf1  a   -all ", true, 2 },             /* several spaces, trailing space */
	{ "v=spf1 +all ~all ?all -all", true, 4 },
	{ "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 -all", true, 3 },
	{ "v=spf1 a mx ptr a:example.com/24 mx:example.com//64 a/24//64", true, 6 },
	{ "v=spf1 a:foo:bar/baz.example.com", true, 1 },  /* ':' and '/' in a domain-spec */
	{ "v=spf1 include:_spf.example.com exists:%{i}.%{l1r-}.x.example.com", true, 2 },
	{ "v=spf1 redirect=_spf.example.com", true, 0 },
	{ "v=spf1 exp=explain.%{d} -all", true, 1 },
	{ "v=spf1 moo.cow-far_out=man:dog/cat -all", true, 1 },  /* unknown modifier */
	{ "v=spf1 default=+", true, 0 },
	{ "v=spf1 a:macro%%percent%_%_space%-url.example.com", true, 1 },
	{ "v=spf1 a:foo.example.xn--zckzah", true, 1 },
	{ "v=spf1 ip4:1.1.1.1/0 ip6:::1.1.1.1/0", true, 2 },
	{ "v=spf10", false, 0 },                      /* not version 1 */
	{ "v=spf1 moo", false, 0 },                   /* unknown mechanism */
	{ "v=spf1 -all.", false, 0 },
	{ "v=spf1 -all:foo", false, 0 },
	{ "v=spf1 -all/8", false, 0 },
	{ "v=spf1 ptr/0", false, 0 },
	{ "v=spf1 ptr:", false, 0 },
	{ "v=spf1 a:", false, 0 },
	{ "v=spf1 a/33", false, 0 },
	{ "v=spf1 a//129", false, 0 },
	{ "v=spf1 a/24/64", false, 0 },
	{ "v=spf1 a/032", false, 0 },                 /* leading zero */
	{ "v=spf1 a:museum", false, 0 },               /* only a toplabel */
	{ "v=spf1 a:museum.", false, 0 },
	{ "v=spf1 a:111.222.33.44", false, 0 },        /* numeric toplabel */
	{ "v=spf1 a:example.-com", false, 0 },
	{ "v=spf1 a:example.com:8080", false, 0 },
	{ "v=spf1 include", false, 0 },
	{ "v=spf1 include:example.com/24", false, 0 },
	{ "v=spf1 exists", false, 0 },
	{ "v=spf1 ip4", false, 0 },
	{ "v=spf1 ip4:1.2.3", false, 0 },
	{ "v=spf1 ip4:1.2.3.4:8080", false, 0 },
	{ "v=spf1 ip4:1.2.3.4//32", false, 0 },
	{ "v=spf1 ip4:01.2.3.4", false, 0 },
	{ "v=spf1 ip4:1.2.3.4/33", false, 0 },
	{ "v=spf1 ip6::CAFE::BABE", false, 0 },
	{ "v=spf1 ip6:::1/129", false, 0 },
	{ "v=spf1 ip6:::1//33", false, 0 },
	{ "v=spf1 redirect:example.com", false, 0 },   /* a modifier, not a mechanism */
	{ "v=spf1 redirect=", false, 0 },
	{ "v=spf1 redirect=-all", false, 0 },
	{ "v=spf1 redirect=a.example.com redirect=b.example.com", false, 0 },
	{ "v=spf1 exp=a.example.com exp=b.example.com", false, 0 },
	{ "v=spf1 exp=", false, 0 },
	{ "v=spf1 1up=foo", false, 0 },                /* a name starts with a letter */
	{ "v=spf1 =all", false, 0 },
	{ "v=spf1 foo=%abc", false, 0 },               /* bad macro in an unknown modifier */
	{ "v=spf1 moo.cow/far_out=man:dog/cat", false, 0 },
	{ "v=spf1 a:%{a}.example.com", false, 0 },     /* no such macro letter */
	{ "v=spf1 exists:%{r}.example.com", false, 0 },/* r is for explanations only */
	{ "v=spf1 exists:%{d0}.example.com", false, 0 },
	{ "v=spf1 exists:%(ir).example.com", false, 0 },
	{ "v=spf1 exists:foo%.example.com", false, 0 },
	{ "v=spf1 a:ctrl.example.com\rptr -all", false, 0 },
	{ "v=spf1 ip4:192.0.2.5\n include:x.example.com", false, 0 },
	{ "v=spf1 \x80" "a:example.net -all", false, 0 },
	{ "v=spf1 ip4:1.2.3.4 -all moo", false, 0 },   /* an error anywhere (4.6) */
};

static void test_spf_parse_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
		const struct parse_case *c = &parse_cases[i];
		size_t len = strlen(c->record);
		char *text = dup_exact(c->record, len);
		const char *error = NULL;
		struct spf_record *record = spf_record_parse(text, len, &error);
		if ((record != NULL) != c->ok)
			fail_msg("'%s': expected %s, got %s (%s)", c->record,
				 c->ok ? "valid" : "invalid", record ? "valid" : "invalid",
				 error ? error : "");
		if (record != NULL)
			assert_int_equal(record->term_count, c->terms);
		else
			assert_non_null(error);
		spf_record_free(&record);
		free(text);
	}
}

static void test_spf_parse_fields(void **state)
{
	(void)state;
	const char *text = "v=spf1 ~a:mail.example.com/24//64 -ip4:192.0.2.128/25 "
			   "?ip6:2001:DB8::/32 mx//48 redirect=_spf.example.com exp=why.%{d}";
	const char *error;
	struct spf_record *r = spf_record_parse(text, strlen(text), &error);
	assert_non_null(r);
	assert_int_equal(r->term_count, 4);
	assert_int_equal(r->terms[0].mechanism, SPF_MECH_A);
	assert_int_equal(r->terms[0].qualifier, SPF_RESULT_SOFTFAIL);
	assert_int_equal(r->terms[0].spec_len, strlen("mail.example.com"));
	assert_memory_equal(r->terms[0].spec, "mail.example.com", r->terms[0].spec_len);
	assert_int_equal(r->terms[0].cidr4, 24);
	assert_int_equal(r->terms[0].cidr6, 64);
	assert_int_equal(r->terms[1].mechanism, SPF_MECH_IP4);
	assert_int_equal(r->terms[1].qualifier, SPF_RESULT_FAIL);
	assert_int_equal(r->terms[1].cidr4, 25);
	assert_memory_equal(r->terms[1].addr, "\xc0\x00\x02\x80", 4);
	assert_int_equal(r->terms[2].mechanism, SPF_MECH_IP6);
	assert_int_equal(r->terms[2].qualifier, SPF_RESULT_NEUTRAL);
	assert_int_equal(r->terms[2].cidr6, 32);
	assert_int_equal(r->terms[3].mechanism, SPF_MECH_MX);
	assert_null(r->terms[3].spec);
	assert_int_equal(r->terms[3].cidr4, 32);
	assert_int_equal(r->terms[3].cidr6, 48);
	assert_int_equal(r->redirect_len, strlen("_spf.example.com"));
	assert_memory_equal(r->redirect, "_spf.example.com", r->redirect_len);
	assert_memory_equal(r->exp, "why.%{d}", r->exp_len);
	spf_record_free(&r);
	assert_null(r);
}

/* ---- macros: RFC 7208 7.4 ------------------------------------------------ */

struct macro_case {
	const char *macro;
	const char *expansion;   /* NULL: a syntax error */
	unsigned flags;
};

static const struct macro_case macro_cases_v4[] = {
	{ "%{s}", "strong-bad@email.example.com", 0 },
	{ "%{o}", "email.example.com", 0 },
	{ "%{d}", "email.example.com", 0 },
	{ "%{d4}", "email.example.com", 0 },
	{ "%{d3}", "email.example.com", 0 },
	{ "%{d2}", "example.com", 0 },
	{ "%{d1}", "com", 0 },
	{ "%{dr}", "com.example.email", 0 },
	{ "%{d2r}", "example.email", 0 },
	{ "%{l}", "strong-bad", 0 },
	{ "%{l-}", "strong.bad", 0 },
	{ "%{lr}", "strong-bad", 0 },
	{ "%{lr-}", "bad.strong", 0 },
	{ "%{l1r-}", "strong", 0 },
	{ "%{ir}.%{v}._spf.%{d2}", "3.2.0.192.in-addr._spf.example.com", 0 },
	{ "%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com", 0 },
	{ "%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", "bad.strong.lp.3.2.0.192.in-addr._spf.example.com", 0 },
	{ "%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", "3.2.0.192.in-addr.strong.lp._spf.example.com", 0 },
	{ "%{d2}.trusted-domains.example.net", "example.com.trusted-domains.example.net", 0 },
	/* beyond 7.4: %% %_ %-, upper case, several delimiters, p h c r t */
	{ "a%%b%_c%-d", "a%b c%20d", 0 },
	{ "%{S}", "strong-bad%40email.example.com", 0 },
	{ "%{L}", "strong-bad", 0 },
	{ "%{l+-}", "strong.bad", 0 },
	{ "%{p}", "mx.example.org", 0 },
	{ "%{h}", "mx.example.org", 0 },
	{ "%{c} %{r} %{t}", "192.0.2.3 receiver.example.net 1700000000", SPF_MACRO_EXPLAIN },
	{ "%{c}", NULL, 0 },                  /* c r t only in explanations */
	{ "%{r}", NULL, 0 },
	{ "%{t}", NULL, 0 },
	{ "a b", NULL, 0 },                   /* spaces only in explanations */
	{ "a b", "a b", SPF_MACRO_EXPLAIN },
	{ "%{d0}", NULL, 0 },
	{ "%{x}", NULL, 0 },
	{ "%{d", NULL, 0 },
	{ "%", NULL, 0 },
	{ "%a", NULL, 0 },
	{ "%{d2r+}", "email.example.com", 0 },   /* only "+" splits */
	{ "%{d2r.+}", "example.email", 0 },
};

static void run_macro_cases(const struct macro_case *cases, size_t n,
			    const struct spf_macro_env *env, bool nocase)
{
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(cases[i].macro);
		char *text = dup_exact(cases[i].macro, len);
		char *out = NULL;
		const char *error = NULL;
		int ret = spf_macro_expand(text, len, env, cases[i].flags, &out, &error);
		if (cases[i].expansion == NULL) {
			if (ret != -1)
				fail_msg("'%s' expanded to '%s', expected an error",
					 cases[i].macro, out);
			assert_non_null(error);
			assert_false(spf_macro_check(text, len, cases[i].flags, NULL));
		} else {
			if (ret != 0)
				fail_msg("'%s': %s", cases[i].macro, error);
			bool same = nocase ? strcasecmp(out, cases[i].expansion) == 0
					   : strcmp(out, cases[i].expansion) == 0;
			if (!same)
				fail_msg("'%s' expanded to '%s', expected '%s'", cases[i].macro,
					 out, cases[i].expansion);
			assert_true(spf_macro_check(text, len, cases[i].flags, NULL));
		}
		free(out);
		free(text);
	}
}

static void test_spf_macro_rfc7208_ipv4(void **state)
{
	(void)state;
	struct spf_macro_env env = {
		.sender = "strong-bad@email.example.com", .local = "strong-bad",
		.sender_domain = "email.example.com", .domain = "email.example.com",
		.ip = "192.0.2.3", .ptr_name = "mx.example.org", .helo = "mx.example.org",
		.receiver = "receiver.example.net", .now = 1700000000,
	};
	run_macro_cases(macro_cases_v4, sizeof(macro_cases_v4) / sizeof(macro_cases_v4[0]),
			&env, false);
}

static void test_spf_macro_rfc7208_ipv6(void **state)
{
	(void)state;
	struct spf_macro_env env = {
		.sender = "strong-bad@email.example.com", .local = "strong-bad",
		.sender_domain = "email.example.com", .domain = "email.example.com",
		.ip = "2001:db8::cb01",
	};
	/* RFC 7208 7.4 prints the nibbles in lower case, RFC 4408 and the
	 * openspf suite's explanations in upper case (which Petrel writes);
	 * DNS names do not care */
	static const struct macro_case v6[] = {
		{ "%{ir}.%{v}._spf.%{d2}",
		  "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com",
		  0 },
		{ "%{c}", "2001:db8::cb01", SPF_MACRO_EXPLAIN },
		{ "%{p}", "unknown", 0 },
		{ "%{h}", "unknown", 0 },
	};
	run_macro_cases(v6, sizeof(v6) / sizeof(v6[0]), &env, true);
	char *out;
	const char *error;
	assert_int_equal(spf_macro_expand("%{i}", 4, &env, 0, &out, &error), 0);
	assert_string_equal(out, "2.0.0.1.0.D.B.8.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.C.B.0.1");
	free(out);
}

/* test_spf_macro_too_long - an expansion past SPF_EXPAND_MAX is an error,
 * not a truncation or an overflow */
static void test_spf_macro_too_long(void **state)
{
	(void)state;
	char local[200];
	memset(local, 'x', sizeof(local) - 1);
	local[sizeof(local) - 1] = '\0';
	struct spf_macro_env env = { .local = local, .ip = "192.0.2.3" };
	char text[400];
	size_t n = 0;
	while (n + 4 < sizeof(text)) {
		memcpy(text + n, "%{l}", 4);
		n += 4;
	}
	char *out = NULL;
	const char *error = NULL;
	assert_int_equal(spf_macro_expand(text, n, &env, 0, &out, &error), -1);
	assert_null(out);
	assert_string_equal(error, "macro expansion too long");
}

/* ---- check_host() on canned DNS ------------------------------------------ */

struct rr {
	const char *name;
	enum spf_dns_type type;
	enum spf_dns_status status;   /* OK: items; else the status */
	const char *items[12];
};

struct run {
	enum spf_result result;
	const char *mechanism, *explanation;
	unsigned lookups, void_lookups, queries;
};

static unsigned run_void_max;   /* spf_params.void_lookups_max of run_check */

/* run_check - check_host() with answers from ZONE (a name absent from it is
 * NXDOMAIN, a type absent NODATA), handed over in copies freed at once
 * (the evaluator keeps its own) */
static struct run run_check(const struct rr *zone, size_t zone_count, const char *ip,
			    const char *sender, const char *helo)
{
	struct spf_params params = { .ip = ip, .sender = sender, .helo = helo,
				     .receiver = "mx.receiver.test", .now = 1,
				     .void_lookups_max = run_void_max };
	struct spf_check *check = spf_check_new(&params);
	struct spf_query q;
	unsigned rounds = 0;
	while (spf_check_next(check, &q) == 0) {
		assert_true(++rounds <= SPF_QUERIES_MAX);
		assert_non_null(q.name);
		bool name_found = false;
		const struct rr *hit = NULL;
		for (size_t i = 0; i < zone_count; i++) {
			if (strcasecmp(zone[i].name, q.name) != 0)
				continue;
			name_found = true;
			if (zone[i].type == q.type)
				hit = &zone[i];
		}
		if (hit == NULL) {
			spf_check_answer(check, name_found ? SPF_DNS_NODATA : SPF_DNS_NXDOMAIN,
					 NULL, NULL, 0);
			continue;
		}
		size_t n = 0;
		char *copies[12];
		while (n < 12 && hit->items[n] != NULL) {
			copies[n] = strdup(hit->items[n]);
			n++;
		}
		spf_check_answer(check, hit->status, (const char *const *)copies, NULL, n);
		for (size_t i = 0; i < n; i++)
			free(copies[i]);
	}
	const struct spf_outcome *o = spf_check_outcome(check);
	static char mech[256], expl[256];
	struct run r = { .result = o->result, .lookups = o->lookups,
			 .void_lookups = o->void_lookups, .queries = o->queries };
	if (o->mechanism) {
		snprintf(mech, sizeof(mech), "%s", o->mechanism);
		r.mechanism = mech;
	}
	if (o->explanation) {
		snprintf(expl, sizeof(expl), "%s", o->explanation);
		r.explanation = expl;
	}
	spf_check_free(&check);
	assert_null(check);
	return r;
}

#define RUN(zone, ip, sender, helo) run_check(zone, sizeof(zone) / sizeof(zone[0]), ip, sender, helo)
#define T SPF_DNS_TXT
#define A SPF_DNS_A
#define AAAA SPF_DNS_AAAA
#define MX SPF_DNS_MX
#define PTR SPF_DNS_PTR
#define OK SPF_DNS_OK

static const struct rr basic_zone[] = {
	{ "example.test", T, OK, { "other text", "v=spf1 a mx:mail.example.test -ptr ~all "
				   "exp=why.example.test" } },
	{ "example.test", A, OK, { "192.0.2.1" } },
	{ "mail.example.test", MX, OK, { "10 mx1.example.test", "20 ." } },
	{ "mx1.example.test", A, OK, { "192.0.2.25" } },
	{ "mx1.example.test", AAAA, OK, { "2001:db8::25" } },
	{ "why.example.test", T, OK, { "%{i} may not send for %{d} (%{l})" } },
	{ "1.2.0.192.in-addr.arpa", PTR, OK, { "example.test" } },
	{ "7.2.0.192.in-addr.arpa", PTR, OK, { "bad.example.test" } },
	{ "bad.example.test", A, OK, { "192.0.2.7" } },
};

static void test_spf_check_basic(void **state)
{
	(void)state;
	struct run r = RUN(basic_zone, "192.0.2.1", "alice@example.test", "helo.example.test");
	assert_int_equal(r.result, SPF_RESULT_PASS);
	assert_string_equal(r.mechanism, "a");
	assert_int_equal(r.lookups, 1);

	r = RUN(basic_zone, "192.0.2.25", "alice@example.test", NULL);
	assert_int_equal(r.result, SPF_RESULT_PASS);
	assert_string_equal(r.mechanism, "mx:mail.example.test");
	assert_int_equal(r.lookups, 2);

	r = RUN(basic_zone, "2001:db8::25", "alice@example.test", NULL);
	assert_int_equal(r.result, SPF_RESULT_PASS);

	r = RUN(basic_zone, "::ffff:192.0.2.25", "alice@example.test", NULL);
	assert_int_equal(r.result, SPF_RESULT_PASS);   /* IPv4-mapped is IPv4 */

	r = RUN(basic_zone, "192.0.2.7", "alice@Example.Test", NULL);
	assert_int_equal(r.result, SPF_RESULT_FAIL);
	assert_string_equal(r.mechanism, "-ptr");
	assert_string_equal(r.explanation, "192.0.2.7 may not send for Example.Test (alice)");

	r = RUN(basic_zone, "192.0.2.99", "alice@example.test", NULL);
	assert_int_equal(r.result, SPF_RESULT_SOFTFAIL);
	assert_string_equal(r.mechanism, "~all");
	assert_null(r.explanation);
	assert_int_equal(r.lookups, 3);

	/* no record, a single label, an empty local part, a bad address */
	r = RUN(basic_zone, "192.0.2.1", "bob@nothing.test", NULL);
	assert_int_equal(r.result, SPF_RESULT_NONE);
	r = RUN(basic_zone, "192.0.2.1", "bob@localhost", NULL);
	assert_int_equal(r.result, SPF_RESULT_NONE);
	assert_int_equal(r.queries, 0);
	r = RUN(basic_zone, "192.0.2.1", "bob@a..example.test", NULL);
	assert_int_equal(r.result, SPF_RESULT_NONE);
	r = RUN(basic_zone, "192.0.2.7", "@example.test", NULL);
	assert_string_equal(r.explanation, "192.0.2.7 may not send for example.test (postmaster)");
	r = RUN(basic_zone, "192.0.2.300", "alice@example.test", NULL);
	assert_int_equal(r.result, SPF_RESULT_NONE);
}

/* test_spf_check_helo - an empty MAIL FROM checks postmaster@HELO (2.4) */
static void test_spf_check_helo(void **state)
{
	(void)state;
	struct run r = RUN(basic_zone, "192.0.2.7", "", "example.test");
	assert_int_equal(r.result, SPF_RESULT_FAIL);
	assert_string_equal(r.explanation, "192.0.2.7 may not send for example.test (postmaster)");
	r = RUN(basic_zone, "192.0.2.1", NULL, "example.test");
	assert_int_equal(r.result, SPF_RESULT_PASS);
	r = RUN(basic_zone, "192.0.2.1", "", "[192.0.2.1]");
	assert_int_equal(r.result, SPF_RESULT_NONE);
	r = RUN(basic_zone, "192.0.2.1", "", NULL);
	assert_int_equal(r.result, SPF_RESULT_NONE);
}

static const struct rr limit_zone[] = {
	/* 10 lookups: a pass; 11: a permerror (4.6.4) */
	{ "ten.test", T, OK, { "v=spf1 a a a a a include:five.test ip4:192.0.2.1 -all" } },
	{ "eleven.test", T, OK, { "v=spf1 a a a a a include:five.test a ip4:192.0.2.1 -all" } },
	{ "five.test", T, OK, { "v=spf1 a a a a" } },
	{ "ten.test", A, OK, { "198.51.100.1" } },
	{ "eleven.test", A, OK, { "198.51.100.1" } },
	{ "five.test", A, OK, { "198.51.100.1" } },
	/* 2 void lookups: fine; the 3rd: a permerror */
	{ "void2.test", T, OK, { "v=spf1 a:nx1.test a:nx2.test ?all" } },
	{ "void3.test", T, OK, { "v=spf1 a:nx1.test a:nx2.test a:nx3.test ?all" } },
	/* include of a domain without a record, redirect to one */
	{ "incnone.test", T, OK, { "v=spf1 include:norecord.test -all" } },
	{ "rednone.test", T, OK, { "v=spf1 redirect=norecord.test" } },
	{ "norecord.test", T, OK, { "just text" } },
	/* redirect loops, include loops */
	{ "loop.test", T, OK, { "v=spf1 redirect=loop.test" } },
	{ "inc1.test", T, OK, { "v=spf1 include:inc2.test" } },
	{ "inc2.test", T, OK, { "v=spf1 include:inc1.test" } },
	/* 11 MX records: a permerror */
	{ "mx11.test", T, OK, { "v=spf1 mx" } },
	{ "mx11.test", MX, OK, { "0 a.test", "1 a.test", "2 a.test", "3 a.test", "4 a.test",
				 "5 a.test", "6 a.test", "7 a.test", "8 a.test", "9 a.test",
				 "10 a.test" } },
	/* temporary errors */
	{ "temp.test", T, SPF_DNS_TEMPFAIL, { NULL } },
	{ "inctemp.test", T, OK, { "v=spf1 include:temp.test -all" } },
	{ "atemp.test", T, OK, { "v=spf1 a:temp.test -all" } },
	{ "temp.test", A, SPF_DNS_TEMPFAIL, { NULL } },
	/* two records */
	{ "two.test", T, OK, { "v=spf1 -all", "v=spf1 +all" } },
	/* syntax error */
	{ "bad.test", T, OK, { "v=spf1 ip4:192.0.2.1 -all moo" } },
};

static const struct rr names_zone[] = {
	/* ptr looks at the first 10 PTR names only (4.6.4): the 11th would match */
	{ "ptr.test", T, OK, { "v=spf1 ptr ?all" } },
	{ "9.2.0.192.in-addr.arpa", PTR, OK, { "n1.other.test", "n2.other.test", "n3.other.test",
					       "n4.other.test", "n5.other.test", "n6.other.test",
					       "n7.other.test", "n8.other.test", "n9.other.test",
					       "n10.other.test", "h.ptr.test" } },
	{ "8.2.0.192.in-addr.arpa", PTR, OK, { "n1.other.test", "h.ptr.test" } },
	{ "h.ptr.test", A, OK, { "192.0.2.9", "192.0.2.8" } },
	/* exists asks for A even for an IPv6 client (5.7); a asks for AAAA */
	{ "ex.test", T, OK, { "v=spf1 exists:%{ir}.%{v}.list.test a -all" } },
	{ "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.list.test", A, OK,
	  { "127.0.0.2" } },
	{ "ex.test", AAAA, OK, { "2001:db8::cb02" } },
	/* %{p} in a mechanism: the validated name under the current domain */
	{ "pm.test", T, OK, { "v=spf1 exists:%{p}.allow.test -all" } },
	{ "h.ptr.test.allow.test", A, OK, { "127.0.0.2" } },
};

static void test_spf_check_names(void **state)
{
	(void)state;
	struct run r = RUN(names_zone, "192.0.2.9", "x@ptr.test", NULL);
	assert_int_equal(r.result, SPF_RESULT_NEUTRAL);
	r = RUN(names_zone, "192.0.2.8", "x@ptr.test", NULL);
	assert_int_equal(r.result, SPF_RESULT_PASS);
	assert_string_equal(r.mechanism, "ptr");

	r = RUN(names_zone, "2001:db8::cb01", "x@ex.test", NULL);
	assert_int_equal(r.result, SPF_RESULT_PASS);
	assert_string_equal(r.mechanism, "exists:%{ir}.%{v}.list.test");
	r = RUN(names_zone, "2001:db8::cb02", "x@ex.test", NULL);
	assert_int_equal(r.result, SPF_RESULT_PASS);
	assert_string_equal(r.mechanism, "a");
	r = RUN(names_zone, "2001:db8::cb03", "x@ex.test", NULL);
	assert_int_equal(r.result, SPF_RESULT_FAIL);

	r = RUN(names_zone, "192.0.2.8", "x@pm.test", NULL);
	assert_int_equal(r.result, SPF_RESULT_PASS);
	r = RUN(names_zone, "192.0.2.7", "x@pm.test", NULL);   /* %{p} = unknown */
	assert_int_equal(r.result, SPF_RESULT_FAIL);
}

static void test_spf_check_limits(void **state)
{
	(void)state;
	struct run r = RUN(limit_zone, "192.0.2.1", "x@ten.test", NULL);
	assert_int_equal(r.result, SPF_RESULT_PASS);
	assert_int_equal(r.lookups, 10);
	r = RUN(limit_zone, "192.0.2.1", "x@eleven.test", NULL);
	assert_int_equal(r.result, SPF_RESULT_PERMERROR);
	assert_int_equal(r.lookups, 10);

	r = RUN(limit_zone, "192.0.2.1", "x@void2.test", NULL);
	assert_int_equal(r.result, SPF_RESULT_NEUTRAL);
	assert_int_equal(r.void_lookups, 2);
	r = RUN(limit_zone, "192.0.2.1", "x@void3.test", NULL);
	assert_int_equal(r.result, SPF_RESULT_PERMERROR);
	assert_int_equal(r.void_lookups, 3);

	run_void_max = 3;   /* the limit is a setting */
	r = RUN(limit_zone, "192.0.2.1", "x@void3.test", NULL);
	assert_int_equal(r.result, SPF_RESULT_NEUTRAL);
	run_void_max = 1;
	r = RUN(limit_zone, "192.0.2.1", "x@void2.test", NULL);
	assert_int_equal(r.result, SPF_RESULT_PERMERROR);
	run_void_max = 0;

	r = RUN(limit_zone, "192.0.2.1", "x@incnone.test", NULL);
	assert_int_equal(r.result, SPF_RESULT_PERMERROR);
	r = RUN(limit_zone, "192.0.2.1", "x@rednone.test", NULL);
	assert_int_equal(r.result, SPF_RESULT_PERMERROR);
	r = RUN(limit_zone, "192.0.2.1", "x@loop.test", NULL);
	assert_int_equal(r.result, SPF_RESULT_PERMERROR);
	assert_int_equal(r.lookups, 10);
	r = RUN(limit_zone, "192.0.2.1", "x@inc1.test", NULL);
	assert_int_equal(r.result, SPF_RESULT_PERMERROR);
	r = RUN(limit_zone, "192.0.2.1", "x@mx11.test", NULL);
	assert_int_equal(r.result, SPF_RESULT_PERMERROR);

	r = RUN(limit_zone, "192.0.2.1", "x@temp.test", NULL);
	assert_int_equal(r.result, SPF_RESULT_TEMPERROR);
	r = RUN(limit_zone, "192.0.2.1", "x@inctemp.test", NULL);
	assert_int_equal(r.result, SPF_RESULT_TEMPERROR);
	r = RUN(limit_zone, "192.0.2.1", "x@atemp.test", NULL);
	assert_int_equal(r.result, SPF_RESULT_TEMPERROR);
	r = RUN(limit_zone, "192.0.2.1", "x@two.test", NULL);
	assert_int_equal(r.result, SPF_RESULT_PERMERROR);
	r = RUN(limit_zone, "192.0.2.1", "x@bad.test", NULL);
	assert_int_equal(r.result, SPF_RESULT_PERMERROR);
}

static const struct rr exp_zone[] = {
	/* redirect: the target's exp= (6.2), not the redirecting record's */
	{ "r.test", T, OK, { "v=spf1 exp=no.test redirect=t.test" } },
	{ "t.test", T, OK, { "v=spf1 -all exp=yes.test" } },
	{ "no.test", T, OK, { "wrong" } },
	{ "yes.test", T, OK, { "right for %{d} from %{o}" } },
	/* include: a fail inside does not match, the includer's exp= counts */
	{ "i.test", T, OK, { "v=spf1 include:t.test -all exp=inc.test" } },
	{ "inc.test", T, OK, { "includer" } },
	/* unusable explanations leave the result alone */
	{ "e1.test", T, OK, { "v=spf1 -all exp=two.test" } },
	{ "two.test", T, OK, { "one", "two" } },
	{ "e2.test", T, OK, { "v=spf1 -all exp=tmp.test" } },
	{ "tmp.test", T, SPF_DNS_TEMPFAIL, { NULL } },
	{ "e3.test", T, OK, { "v=spf1 -all exp=bad.test" } },
	{ "bad.test", T, OK, { "100%" } },
	/* %{p} in an explanation: the validated name, chosen under the domain */
	{ "p.test", T, OK, { "v=spf1 -all exp=pexp.test" } },
	{ "pexp.test", T, OK, { "from %{p}" } },
	{ "9.2.0.192.in-addr.arpa", PTR, OK, { "host.other.test", "mx.p.test", "fake.p.test" } },
	{ "host.other.test", A, OK, { "192.0.2.9" } },
	{ "mx.p.test", A, OK, { "192.0.2.9" } },
	{ "fake.p.test", A, OK, { "192.0.2.10" } },
};

static void test_spf_check_explanation(void **state)
{
	(void)state;
	struct run r = RUN(exp_zone, "192.0.2.1", "x@r.test", NULL);
	assert_int_equal(r.result, SPF_RESULT_FAIL);
	assert_string_equal(r.explanation, "right for t.test from r.test");
	r = RUN(exp_zone, "192.0.2.1", "x@i.test", NULL);
	assert_int_equal(r.result, SPF_RESULT_FAIL);
	assert_string_equal(r.explanation, "includer");
	assert_int_equal(r.lookups, 1);
	r = RUN(exp_zone, "192.0.2.1", "x@e1.test", NULL);
	assert_int_equal(r.result, SPF_RESULT_FAIL);
	assert_null(r.explanation);
	r = RUN(exp_zone, "192.0.2.1", "x@e2.test", NULL);
	assert_int_equal(r.result, SPF_RESULT_FAIL);
	assert_null(r.explanation);
	r = RUN(exp_zone, "192.0.2.1", "x@e3.test", NULL);
	assert_int_equal(r.result, SPF_RESULT_FAIL);
	assert_null(r.explanation);
	r = RUN(exp_zone, "192.0.2.9", "x@p.test", NULL);
	assert_int_equal(r.result, SPF_RESULT_FAIL);
	assert_string_equal(r.explanation, "from mx.p.test");
	r = RUN(exp_zone, "192.0.2.8", "x@p.test", NULL);
	assert_string_equal(r.explanation, "from unknown");
}

/* test_spf_check_expire - the caller's time limit: temperror while
 * evaluating; during the explanation's fetch the fail stays, unexplained */
static void test_spf_check_expire(void **state)
{
	(void)state;
	struct spf_params params = { .ip = "192.0.2.7", .sender = "a@example.test" };
	struct spf_check *check = spf_check_new(&params);
	struct spf_query q;
	assert_int_equal(spf_check_next(check, &q), 0);
	assert_int_equal(q.type, SPF_DNS_TXT);
	spf_check_expire(check);
	assert_int_equal(spf_check_next(check, &q), 1);
	assert_int_equal(spf_check_outcome(check)->result, SPF_RESULT_TEMPERROR);
	assert_non_null(spf_check_outcome(check)->problem);
	spf_check_free(&check);

	check = spf_check_new(&params);
	const char *rec[] = { "v=spf1 -all exp=why.example.test" };
	assert_int_equal(spf_check_next(check, &q), 0);
	spf_check_answer(check, SPF_DNS_OK, rec, NULL, 1);
	assert_int_equal(spf_check_next(check, &q), 0);
	assert_string_equal(q.name, "why.example.test");
	spf_check_expire(check);
	assert_int_equal(spf_check_next(check, &q), 1);
	assert_int_equal(spf_check_outcome(check)->result, SPF_RESULT_FAIL);
	assert_null(spf_check_outcome(check)->explanation);
	assert_string_equal(spf_check_outcome(check)->mechanism, "-all");
	spf_check_free(&check);
}

/* test_spf_check_txt_with_nul - RFC 7208 a-null: a record holding a NUL
 * octet is a syntax error (permerror), not the record up to the NUL */
static void test_spf_check_txt_with_nul(void **state)
{
	(void)state;
	struct spf_params params = { .ip = "192.0.2.7", .sender = "a@example.test" };
	static const char rec[] = "v=spf1 a:foo.example.test\0 -all";
	const char *items[] = { rec };
	size_t lengths[] = { sizeof(rec) - 1 };
	struct spf_check *check = spf_check_new(&params);
	struct spf_query q;
	assert_int_equal(spf_check_next(check, &q), 0);
	spf_check_answer(check, SPF_DNS_OK, items, lengths, 1);
	assert_int_equal(spf_check_next(check, &q), 1);
	assert_int_equal(spf_check_outcome(check)->result, SPF_RESULT_PERMERROR);
	spf_check_free(&check);

	/* without the lengths the same text is the record before the NUL */
	check = spf_check_new(&params);
	assert_int_equal(spf_check_next(check, &q), 0);
	spf_check_answer(check, SPF_DNS_OK, items, NULL, 1);
	assert_int_equal(spf_check_next(check, &q), 0);
	assert_string_equal(q.name, "foo.example.test");
	spf_check_free(&check);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spf_parse_table),
		cmocka_unit_test(test_spf_parse_fields),
		cmocka_unit_test(test_spf_macro_rfc7208_ipv4),
		cmocka_unit_test(test_spf_macro_rfc7208_ipv6),
		cmocka_unit_test(test_spf_macro_too_long),
		cmocka_unit_test(test_spf_check_basic),
		cmocka_unit_test(test_spf_check_helo),
		cmocka_unit_test(test_spf_check_limits),
		cmocka_unit_test(test_spf_check_names),
		cmocka_unit_test(test_spf_check_explanation),
		cmocka_unit_test(test_spf_check_expire),
		cmocka_unit_test(test_spf_check_txt_with_nul),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
