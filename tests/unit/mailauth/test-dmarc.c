/* tests/unit/mailauth/test-dmarc - DMARC records (RFC 7489 6.3, 6.4), policy
 * discovery on canned DNS answers (6.6.3), alignment and evaluation (6.6.2,
 * 6.6.4) with a fixed random source.  Records are parsed from exactly-sized
 * copies (AddressSanitizer catches an overread), and so is every prefix. */
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

#define DEBIAN_PSL "/usr/share/publicsuffix/public_suffix_list.dat"

/* the tables leave out what an invalid case does not have */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

static struct mailauth_psl *psl;

static int setup(void **state)
{
	(void)state;
	const char *error = NULL;
	psl = mailauth_psl_load(DEBIAN_PSL, &error);
	if (!psl) {
		fprintf(stderr, "%s\n", error);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	mailauth_psl_free(&psl);
	return 0;
}

static char *dup_exact(const char *s, size_t len)
{
	char *p = malloc(len ? len : 1);
	assert_non_null(p);
	if (len)
		memcpy(p, s, len);
	return p;
}

/* ---- records ------------------------------------------------------------ */

struct record_case {
	const char *text;
	bool valid;
	enum dmarc_policy p, sp;
	bool p_fallback;
	enum dmarc_alignment adkim, aspf;
	unsigned pct;
	const char *rua;        /* the valid URIs as "uri!size,uri" (size in bytes) */
	const char *fo, *rf;
	unsigned long ri;
	const char *ignored;
};

#define R DMARC_ALIGN_RELAXED
#define S DMARC_ALIGN_STRICT
#define NONE DMARC_POLICY_NONE
#define QUAR DMARC_POLICY_QUARANTINE
#define REJ DMARC_POLICY_REJECT

static const struct record_case records[] = {
	{ "v=DMARC1; p=none", true, NONE, NONE, false, R, R, 100, "", "0", "afrf", 86400, "" },
	{ "v=DMARC1; p=reject; sp=quarantine; adkim=s; aspf=s; pct=50; "
	  "rua=mailto:agg@example.com,mailto:x@example.net!10m; ruf=mailto:f@example.com!20k; "
	  "fo=1:d; rf=afrf; ri=3600",
	  true, REJ, QUAR, false, S, S, 50,
	  "mailto:agg@example.com,mailto:x@example.net!10485760", "1:d", "afrf", 3600, "" },
	/* keywords and tag names in any case; the version exactly */
	{ "v=DMARC1;P=Quarantine;ADKIM=S", true, QUAR, QUAR, false, S, R, 100, "", "0", "afrf",
	  86400, "" },
	{ "v=dmarc1; p=none", false },
	{ "V=DMARC1; p=none", true, NONE, NONE, false, R, R, 100, "", "0", "afrf", 86400, "" },
	/* WSP and a trailing ";" */
	{ "  v = DMARC1 ;  p = reject ;  ", true, REJ, REJ, false, R, R, 100, "", "0", "afrf",
	  86400, "" },
	/* v= must come first */
	{ "p=reject; v=DMARC1", false },
	{ "v=DMARC2; p=reject", false },
	{ "", false },
	/* p= missing or invalid: invalid, unless rua= has a valid URI
	 * (6.6.3 step 6: then p=none) */
	{ "v=DMARC1", false },
	{ "v=DMARC1; p=block", false },
	{ "v=DMARC1; rua=mailto:a@example.com", true, NONE, NONE, true, R, R, 100,
	  "mailto:a@example.com", "0", "afrf", 86400, "" },
	{ "v=DMARC1; p=block; rua=mailto:a@example.com", true, NONE, NONE, true, R, R, 100,
	  "mailto:a@example.com", "0", "afrf", 86400, "" },
	{ "v=DMARC1; p=reject; sp=bogus", false },
	{ "v=DMARC1; p=reject; sp=bogus; rua=mailto:a@example.com", true, NONE, NONE, true, R, R,
	  100, "mailto:a@example.com", "0", "afrf", 86400, "" },
	{ "v=DMARC1; p=block; rua=not a uri", false },
	/* other bad values: discarded for their defaults (6.3) */
	{ "v=DMARC1; p=reject; pct=101; adkim=x; aspf=; ri=-1; fo=2; rf=; rua=,",
	  true, REJ, REJ, false, R, R, 100, "", "0", "afrf", 86400,
	  "pct,adkim,aspf,ri,fo,rf,rua" },
	{ "v=DMARC1; p=reject; pct=0", true, REJ, REJ, false, R, R, 0, "", "0", "afrf", 86400, "" },
	{ "v=DMARC1; p=reject; pct=0100", true, REJ, REJ, false, R, R, 100, "", "0", "afrf", 86400,
	  "pct" },
	{ "v=DMARC1; p=reject; pct=1.5", true, REJ, REJ, false, R, R, 100, "", "0", "afrf", 86400,
	  "pct" },
	/* unknown tags are ignored */
	{ "v=DMARC1; p=quarantine; np=reject; x_y=1", true, QUAR, QUAR, false, R, R, 100, "", "0",
	  "afrf", 86400, "" },
	/* the tag list must parse: duplicates (in any case), bad names */
	{ "v=DMARC1; p=none; p=reject", false },
	{ "v=DMARC1; p=none; P=reject", false },
	{ "v=DMARC1; p=none;; pct=5", false },
	{ "v=DMARC1; 9p=none", false },
	/* URIs: sizes with units, WSP around commas, invalid ones dropped */
	{ "v=DMARC1; p=none; rua=mailto:a@x.com!1k , mailto:b@x.com!2G,bad uri,mailto:c@x.com!",
	  true, NONE, NONE, false, R, R, 100, "mailto:a@x.com!1024,mailto:b@x.com!2147483648",
	  "0", "afrf", 86400, "" },
	{ "v=DMARC1; p=none; rua=https://r.example/%2C?a=b!5t", true, NONE, NONE, false, R, R, 100,
	  "https://r.example/%2C?a=b!5497558138880", "0", "afrf", 86400, "" },
	{ "v=DMARC1; p=none; rua=mailto:a@x.com%2", true, NONE, NONE, false, R, R, 100, "", "0",
	  "afrf", 86400, "rua" },
	{ "v=DMARC1; p=none; rua=mailto:", true, NONE, NONE, false, R, R, 100, "", "0", "afrf",
	  86400, "rua" },
	{ "v=DMARC1; p=none; fo=0:1:d:s; rf=afrf,iodef", true, NONE, NONE, false, R, R, 100, "",
	  "0:1:d:s", "afrf,iodef", 86400, "" },
};

/* uri_list - the record's rua URIs written as the table writes them */
static void uri_list(const struct dmarc_record *r, char *out, size_t size)
{
	size_t n = 0;
	out[0] = '\0';
	for (size_t i = 0; i < r->rua_count; i++) {
		n += (size_t)snprintf(out + n, size - n, "%s%s", i ? "," : "", r->rua[i].uri);
		if (r->rua[i].max_size)
			n += (size_t)snprintf(out + n, size - n, "!%llu", r->rua[i].max_size);
	}
}

static void test_records(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(records) / sizeof(records[0]); i++) {
		const struct record_case *c = &records[i];
		size_t len = strlen(c->text);
		char *text = dup_exact(c->text, len);
		const char *error = NULL;
		struct dmarc_record *r = dmarc_record_parse(text, len, &error);
		if ((r != NULL) != c->valid)
			fail_msg("case %zu \"%s\": %s, expected %s (%s)", i, c->text,
				 r ? "valid" : "invalid", c->valid ? "valid" : "invalid",
				 error ? error : "");
		if (r) {
			char uris[512];
			uri_list(r, uris, sizeof(uris));
			if (r->p != c->p || r->sp != c->sp || r->p_fallback != c->p_fallback ||
			    r->adkim != c->adkim || r->aspf != c->aspf || r->pct != c->pct ||
			    strcmp(uris, c->rua) != 0 || strcmp(r->fo, c->fo) != 0 ||
			    strcmp(r->rf, c->rf) != 0 || r->ri != c->ri ||
			    strcmp(r->ignored, c->ignored) != 0)
				fail_msg("case %zu \"%s\": p=%d sp=%d fallback=%d adkim=%d aspf=%d "
					 "pct=%u rua=%s fo=%s rf=%s ri=%lu ignored=%s", i, c->text,
					 r->p, r->sp, r->p_fallback, r->adkim, r->aspf, r->pct, uris,
					 r->fo, r->rf, r->ri, r->ignored);
		} else {
			assert_non_null(error);
		}
		dmarc_record_free(&r);
		assert_null(r);
		free(text);
		for (size_t plen = 0; plen < len; plen++) {
			char *prefix = dup_exact(c->text, plen);
			r = dmarc_record_parse(prefix, plen, &error);
			dmarc_record_free(&r);
			(void)dmarc_record_is_dmarc(prefix, plen);
			free(prefix);
		}
	}
	assert_string_equal(dmarc_policy_name(DMARC_POLICY_QUARANTINE), "quarantine");
}

/* which TXT records count as DMARC records at all (6.6.3 step 3) */
static void test_is_dmarc(void **state)
{
	(void)state;
	static const struct { const char *text; bool is; } cases[] = {
		{ "v=DMARC1; p=none", true }, { "v=DMARC1", true }, { " v = DMARC1 ;", true },
		{ "V=DMARC1;p=none", true }, { "v=DMARC1 ", true },
		{ "v=DMARC10; p=none", false }, { "v=dmarc1; p=none", false },
		{ "v=spf1 -all", false }, { "p=none; v=DMARC1", false }, { "", false },
		{ "v=DMARC", false }, { "v=DMARC1x", false },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (dmarc_record_is_dmarc(cases[i].text, strlen(cases[i].text)) != cases[i].is)
			fail_msg("\"%s\"", cases[i].text);
	}
}

/* ---- discovery ------------------------------------------------------------ */

/* one canned answer: STATUS and up to 3 TXT records */
struct answer {
	const char *name;          /* the name that must be asked */
	enum dns_status status;
	const char *txt[3];
};

struct discovery_case {
	const char *from;
	struct answer answers[2];
	size_t answer_count;
	enum dmarc_found_status status;
	const char *org;
	const char *record_domain;   /* NULL: none */
};

static const struct discovery_case discoveries[] = {
	/* found at the From domain */
	{ "Example.COM.", { { "_dmarc.example.com", DNS_OK, { "v=DMARC1; p=reject" } } }, 1,
	  DMARC_FOUND_RECORD, "example.com", "example.com" },
	/* nothing at the From domain: the organizational domain's */
	{ "mail.example.com",
	  { { "_dmarc.mail.example.com", DNS_NXDOMAIN, { 0 } },
	    { "_dmarc.example.com", DNS_OK, { "v=spf1 -all", "v=DMARC1; p=none" } } }, 2,
	  DMARC_FOUND_RECORD, "example.com", "example.com" },
	{ "a.b.example.co.uk",
	  { { "_dmarc.a.b.example.co.uk", DNS_OK, { "v=spf1 -all", "something else" } },
	    { "_dmarc.example.co.uk", DNS_OK, { "v=DMARC1; p=quarantine" } } }, 2,
	  DMARC_FOUND_RECORD, "example.co.uk", "example.co.uk" },
	{ "mail.example.com",
	  { { "_dmarc.mail.example.com", DNS_NODATA, { 0 } },
	    { "_dmarc.example.com", DNS_NXDOMAIN, { 0 } } }, 2,
	  DMARC_FOUND_NONE, "example.com", NULL },
	/* the From domain is the organizational domain: one query */
	{ "example.com", { { "_dmarc.example.com", DNS_NXDOMAIN, { 0 } } }, 1,
	  DMARC_FOUND_NONE, "example.com", NULL },
	/* several: no policy, and no second query */
	{ "mail.example.com",
	  { { "_dmarc.mail.example.com", DNS_OK, { "v=DMARC1; p=none", "v=DMARC1; p=reject" } } },
	  1, DMARC_FOUND_SEVERAL, "example.com", "mail.example.com" },
	/* an invalid record stops the search too */
	{ "mail.example.com",
	  { { "_dmarc.mail.example.com", DNS_OK, { "v=DMARC1; p=nope" } } }, 1,
	  DMARC_FOUND_INVALID, "example.com", "mail.example.com" },
	/* a temporary failure at either name */
	{ "mail.example.com", { { "_dmarc.mail.example.com", DNS_TEMPFAIL, { 0 } } }, 1,
	  DMARC_FOUND_TEMPFAIL, "example.com", "mail.example.com" },
	{ "mail.example.com",
	  { { "_dmarc.mail.example.com", DNS_NXDOMAIN, { 0 } },
	    { "_dmarc.example.com", DNS_TEMPFAIL, { 0 } } }, 2,
	  DMARC_FOUND_TEMPFAIL, "example.com", "example.com" },
	/* not a domain name: no query at all */
	{ "exa mple.com", { { 0 } }, 0, DMARC_FOUND_BAD_DOMAIN, "", NULL },
	{ "", { { 0 } }, 0, DMARC_FOUND_BAD_DOMAIN, "", NULL },
};

static void test_discovery(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(discoveries) / sizeof(discoveries[0]); i++) {
		const struct discovery_case *c = &discoveries[i];
		struct dmarc_discovery *d = dmarc_discovery_new(psl, c->from, strlen(c->from));
		const char *name;
		size_t asked = 0;
		while (dmarc_discovery_next(d, &name) == 0) {
			if (asked == c->answer_count)
				fail_msg("case %zu: a query too many (%s)", i, name);
			const struct answer *a = &c->answers[asked++];
			if (strcmp(name, a->name) != 0)
				fail_msg("case %zu: asked %s, expected %s", i, name, a->name);
			char *items[3];
			size_t n = 0;
			while (n < 3 && a->txt[n])
				items[n] = (char *)a->txt[n], n++;
			struct dns_records rr = { .status = a->status, .items = items,
						  .count = a->status == DNS_OK ? n : 0 };
			dmarc_discovery_answer(d, &rr);
		}
		const struct dmarc_found *f = dmarc_discovery_found(d);
		if (asked != c->answer_count || f->status != c->status ||
		    (c->status != DMARC_FOUND_BAD_DOMAIN && strcmp(f->org_domain, c->org) != 0) ||
		    (c->record_domain == NULL) != (f->record_domain == NULL) ||
		    (c->record_domain && strcmp(c->record_domain, f->record_domain) != 0))
			fail_msg("case %zu: asked %zu, status %d, org %s, at %s", i, asked, f->status,
				 f->org_domain, f->record_domain ? f->record_domain : "-");
		assert_true((f->record != NULL) == (f->status == DMARC_FOUND_RECORD));
		assert_true((f->problem == NULL) == (f->status == DMARC_FOUND_RECORD));
		dmarc_discovery_free(&d);
		assert_null(d);
	}
}

/* ---- alignment and evaluation --------------------------------------------- */

static void test_alignment(void **state)
{
	(void)state;
	static const struct {
		const char *domain, *from;
		bool relaxed, strict;
	} cases[] = {
		{ "example.com", "example.com", true, true },
		{ "EXAMPLE.com.", "example.COM", true, true },
		{ "mail.example.com", "example.com", true, false },
		{ "example.com", "news.example.com", true, false },
		{ "a.example.com", "b.example.com", true, false },
		{ "example.net", "example.com", false, false },
		{ "example.co.uk", "other.co.uk", false, false },
		{ "a.example.co.uk", "example.co.uk", true, false },
		/* a private suffix separates its subdomains' owners */
		{ "alice.github.io", "bob.github.io", false, false },
		{ "www.alice.github.io", "alice.github.io", true, false },
		/* a public suffix aligns only with itself */
		{ "co.uk", "example.co.uk", false, false },
		{ "bad name", "example.com", false, false },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bool r = dmarc_domain_aligned(psl, cases[i].domain, cases[i].from, DMARC_ALIGN_RELAXED);
		bool s = dmarc_domain_aligned(psl, cases[i].domain, cases[i].from, DMARC_ALIGN_STRICT);
		if (r != cases[i].relaxed || s != cases[i].strict)
			fail_msg("%s vs %s: relaxed %d strict %d", cases[i].domain, cases[i].from, r, s);
	}
	assert_false(dmarc_domain_aligned(psl, NULL, "example.com", DMARC_ALIGN_RELAXED));
}

struct fixed_random {
	unsigned value;
	unsigned calls;
};

static unsigned fixed_percent(void *ctx)
{
	struct fixed_random *f = ctx;
	f->calls++;
	return f->value;
}

struct eval_case {
	const char *from;
	const char *record;          /* NULL: no record found */
	const char *record_domain;   /* where it was found */
	enum spf_result spf;
	const char *spf_domain;
	enum dkim_result dkim;       /* one signature, or DKIM_RESULT_NONE for none */
	const char *dkim_domain;
	unsigned random;             /* what the random source answers */
	enum dmarc_result result;
	bool spf_aligned, dkim_aligned;
	enum dmarc_policy policy;
	bool subdomain;
	enum dmarc_policy disposition;
	bool sampled_out;
	unsigned random_calls;
};

#define PASS SPF_RESULT_PASS
#define SFAIL SPF_RESULT_FAIL
#define DPASS DKIM_RESULT_PASS
#define DFAIL DKIM_RESULT_FAIL
#define DNONE DKIM_RESULT_NONE

static const struct eval_case evals[] = {
	/* pass through aligned SPF, relaxed */
	{ "example.com", "v=DMARC1; p=reject", "example.com", PASS, "bounce.example.com",
	  DNONE, NULL, 0, DMARC_RESULT_PASS, true, false, REJ, false, NONE, false, 0 },
	/* strict SPF alignment wants the same name */
	{ "example.com", "v=DMARC1; p=reject; aspf=s", "example.com", PASS, "bounce.example.com",
	  DNONE, NULL, 0, DMARC_RESULT_FAIL, false, false, REJ, false, REJ, false, 0 },
	/* pass through aligned DKIM */
	{ "example.com", "v=DMARC1; p=reject", "example.com", SFAIL, "example.net",
	  DPASS, "mail.example.com", 0, DMARC_RESULT_PASS, false, true, REJ, false, NONE, false, 0 },
	{ "example.com", "v=DMARC1; p=reject; adkim=s", "example.com", SFAIL, "example.net",
	  DPASS, "mail.example.com", 0, DMARC_RESULT_FAIL, false, false, REJ, false, REJ, false, 0 },
	{ "example.com", "v=DMARC1; p=reject; adkim=s", "example.com", SFAIL, "example.net",
	  DPASS, "example.com", 0, DMARC_RESULT_PASS, false, true, REJ, false, NONE, false, 0 },
	/* a passing but unaligned identifier, a failing aligned one */
	{ "example.com", "v=DMARC1; p=quarantine", "example.com", PASS, "example.net",
	  DFAIL, "example.com", 0, DMARC_RESULT_FAIL, false, false, QUAR, false, QUAR, false, 0 },
	{ "example.com", "v=DMARC1; p=none", "example.com", SFAIL, "example.com",
	  DNONE, NULL, 0, DMARC_RESULT_FAIL, false, false, NONE, false, NONE, false, 0 },
	/* sp= for a subdomain when the organizational domain's record is used */
	{ "mail.example.com", "v=DMARC1; p=reject; sp=quarantine", "example.com", SFAIL, NULL,
	  DNONE, NULL, 0, DMARC_RESULT_FAIL, false, false, QUAR, true, QUAR, false, 0 },
	{ "mail.example.com", "v=DMARC1; p=reject", "example.com", SFAIL, NULL,
	  DNONE, NULL, 0, DMARC_RESULT_FAIL, false, false, REJ, true, REJ, false, 0 },
	/* the subdomain's own record: its p= */
	{ "mail.example.com", "v=DMARC1; p=none; sp=reject", "mail.example.com", SFAIL, NULL,
	  DNONE, NULL, 0, DMARC_RESULT_FAIL, false, false, NONE, false, NONE, false, 0 },
	/* pct: inside the sample the policy, outside the next one down */
	{ "example.com", "v=DMARC1; p=reject; pct=30", "example.com", SFAIL, NULL,
	  DNONE, NULL, 29, DMARC_RESULT_FAIL, false, false, REJ, false, REJ, false, 1 },
	{ "example.com", "v=DMARC1; p=reject; pct=30", "example.com", SFAIL, NULL,
	  DNONE, NULL, 30, DMARC_RESULT_FAIL, false, false, REJ, false, QUAR, true, 1 },
	{ "example.com", "v=DMARC1; p=quarantine; pct=30", "example.com", SFAIL, NULL,
	  DNONE, NULL, 99, DMARC_RESULT_FAIL, false, false, QUAR, false, NONE, true, 1 },
	{ "example.com", "v=DMARC1; p=quarantine; pct=0", "example.com", SFAIL, NULL,
	  DNONE, NULL, 0, DMARC_RESULT_FAIL, false, false, QUAR, false, NONE, true, 1 },
	/* no sampling for pct=100, p=none, or a pass */
	{ "example.com", "v=DMARC1; p=reject", "example.com", SFAIL, NULL,
	  DNONE, NULL, 99, DMARC_RESULT_FAIL, false, false, REJ, false, REJ, false, 0 },
	{ "example.com", "v=DMARC1; p=none; pct=10", "example.com", SFAIL, NULL,
	  DNONE, NULL, 99, DMARC_RESULT_FAIL, false, false, NONE, false, NONE, false, 0 },
	{ "example.com", "v=DMARC1; p=reject; pct=10", "example.com", PASS, "example.com",
	  DNONE, NULL, 99, DMARC_RESULT_PASS, true, false, REJ, false, NONE, false, 0 },
	/* no record: none, alignment still shown */
	{ "example.com", NULL, NULL, PASS, "example.com",
	  DNONE, NULL, 0, DMARC_RESULT_NONE, true, false, NONE, false, NONE, false, 0 },
	/* the 6.6.3 fallback: p=none */
	{ "example.com", "v=DMARC1; p=bogus; rua=mailto:d@example.com", "example.com", SFAIL, NULL,
	  DNONE, NULL, 0, DMARC_RESULT_FAIL, false, false, NONE, false, NONE, false, 0 },
};

static void test_evaluate(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(evals) / sizeof(evals[0]); i++) {
		const struct eval_case *c = &evals[i];
		struct dmarc_discovery *d = dmarc_discovery_new(psl, c->from, strlen(c->from));
		const char *name;
		/* answer each query: the record at RECORD_DOMAIN, nothing elsewhere */
		while (dmarc_discovery_next(d, &name) == 0) {
			char *items[1] = { (char *)c->record };
			bool here = c->record && strcmp(name + 7, c->record_domain) == 0;
			struct dns_records rr = { .status = here ? DNS_OK : DNS_NXDOMAIN,
						  .items = items, .count = here ? 1 : 0 };
			dmarc_discovery_answer(d, &rr);
		}
		struct dmarc_dkim_input sig = { c->dkim, c->dkim_domain };
		struct fixed_random rnd = { c->random, 0 };
		struct dmarc_params params = {
			.psl = psl, .spf = c->spf, .spf_domain = c->spf_domain,
			.dkim = &sig, .dkim_count = c->dkim == DNONE ? 0 : 1,
			.enforce = i % 2 == 0, .random_percent = fixed_percent, .random_ctx = &rnd,
		};
		struct dmarc_outcome o;
		dmarc_evaluate(dmarc_discovery_found(d), &params, &o);
		if (o.result != c->result || o.spf_aligned != c->spf_aligned ||
		    o.dkim_aligned != c->dkim_aligned || o.policy != c->policy ||
		    o.subdomain_policy != c->subdomain || o.disposition != c->disposition ||
		    o.sampled_out != c->sampled_out || rnd.calls != c->random_calls ||
		    o.enforced != (i % 2 == 0))
			fail_msg("case %zu (%s, %s): %s spf_aligned=%d dkim_aligned=%d policy=%s "
				 "sub=%d disposition=%s sampled_out=%d random_calls=%u", i, c->from,
				 c->record ? c->record : "no record", dmarc_result_name(o.result),
				 o.spf_aligned, o.dkim_aligned, dmarc_policy_name(o.policy),
				 o.subdomain_policy, dmarc_policy_name(o.disposition), o.sampled_out,
				 rnd.calls);
		assert_true((o.reason == NULL) == (o.result == DMARC_RESULT_PASS));
		if (o.dkim_aligned)
			assert_string_equal(o.dkim_domain, c->dkim_domain);
		dmarc_discovery_free(&d);
	}
}

/* several signatures: any aligned pass is enough; the first is named */
static void test_evaluate_several_signatures(void **state)
{
	(void)state;
	struct dmarc_discovery *d = dmarc_discovery_new(psl, "example.com", 11);
	const char *name;
	assert_int_equal(dmarc_discovery_next(d, &name), 0);
	char *items[1] = { "v=DMARC1; p=reject" };
	struct dns_records rr = { .status = DNS_OK, .items = items, .count = 1 };
	dmarc_discovery_answer(d, &rr);
	assert_int_equal(dmarc_discovery_next(d, &name), 1);
	struct dmarc_dkim_input sigs[] = {
		{ DKIM_RESULT_PASS, "esp.example.net" }, { DKIM_RESULT_FAIL, "example.com" },
		{ DKIM_RESULT_PASS, NULL }, { DKIM_RESULT_PASS, "s.example.com" },
		{ DKIM_RESULT_PASS, "example.com" },
	};
	struct dmarc_params params = { .psl = psl, .spf = SPF_RESULT_NONE, .dkim = sigs,
				       .dkim_count = 5 };
	struct dmarc_outcome o;
	dmarc_evaluate(dmarc_discovery_found(d), &params, &o);
	assert_int_equal(o.result, DMARC_RESULT_PASS);
	assert_true(o.dkim_aligned);
	assert_string_equal(o.dkim_domain, "s.example.com");
	/* without the aligned passes: fail, and pct=100 needs no random source */
	params.dkim_count = 2;
	dmarc_evaluate(dmarc_discovery_found(d), &params, &o);
	assert_int_equal(o.result, DMARC_RESULT_FAIL);
	assert_int_equal(o.disposition, DMARC_POLICY_REJECT);
	dmarc_discovery_free(&d);
	assert_string_equal(dmarc_result_name(DMARC_RESULT_TEMPERROR), "temperror");
	assert_string_equal(dmarc_result_name(DMARC_RESULT_PERMERROR), "permerror");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_records),
		cmocka_unit_test(test_is_dmarc),
		cmocka_unit_test(test_discovery),
		cmocka_unit_test(test_alignment),
		cmocka_unit_test(test_evaluate),
		cmocka_unit_test(test_evaluate_several_signatures),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
