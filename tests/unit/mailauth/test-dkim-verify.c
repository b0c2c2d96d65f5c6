/* tests/unit/mailauth/test-dkim-verify - the verifier on RFC 8463 Appendix
 * A's message (python3-dkim's tests/data/rfc6376.signed.msg: an Ed25519 and
 * an RSA signature, stored with LF line ends) and its keys: fed whole, one
 * byte at a time, with CRLF line ends, with the keys handed in before or
 * after the body's end; tampered copies told apart; key answers mapped to
 * results; the limits. */
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

static const char message[] =
	"DKIM-Signature: v=1; a=ed25519-sha256; c=simple/simple; \n"
	" d=football.example.com; i=@football.example.com; \n"
	" q=dns/txt; s=brisbane; t=1518460054; h=from : to : \n"
	" subject : date : message-id : from : subject : date; \n"
	" bh=4bLNXImK9drULnmePzZNEBleUanJCX5PIsDIFoH4KTQ=; \n"
	" b=9/dsDChY0YMTtD5Eyw3wx7x22BlSJP7M5ECbJ7GWrR45nXlTCGb8l0YB\n"
	" o0wBLR++X5LqmsxXaOYLLJe46l10AQ==\n"
	"DKIM-Signature: v=1; a=rsa-sha256; c=simple/simple; \n"
	" d=football.example.com; i=@football.example.com; \n"
	" q=dns/txt; s=test; t=1527915362; h=from : to : subject : \n"
	" date : message-id : from : subject : date; \n"
	" bh=4bLNXImK9drULnmePzZNEBleUanJCX5PIsDIFoH4KTQ=; \n"
	" b=icKcLSEZYXJ95flvWE8FT6hl5iqd8MC/LEKYH0QjsqYy6MO/4pgVNCZH\n"
	" l/RAXAuADxE/40Fg7uTlxwwD1hjN2Ple6J//cJfslBdDOq6zTVbne1dqtl\n"
	" NOat7iamJ1AfRqyG+ja7a2AZsrpUuJ7VA6O+0zRYPqpwMEkEFIzI9i/Xk=\n"
	"From: Joe SixPack <joe@football.example.com>\n"
	"To: Suzie Q <suzie@shopping.example.net>\n"
	"Subject: Is dinner ready?\n"
	"Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\n"
	"Message-ID: <20030712040037.46341.5F8J@football.example.com>\n"
	"\n"
	"Hi.\n"
	"\n"
	"We lost the game.  Are you hungry yet?\n"
	"\n"
	"Joe.\n"
	"\n";

#define ED_NAME "brisbane._domainkey.football.example.com"
#define RSA_NAME "test._domainkey.football.example.com"
static char ed_key[] = "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
/* python3-dkim's tests/data/test.txt: a 1024-bit RSA key */
static char rsa_key[] = "v=DKIM1; g=*; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHl"
	"OQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/"
	"e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB";

#define NOW 1700000000LL

/* give_keys - answer each key name of V from the two records above, or
 * with STATUS when it is not DNS_OK */
static void give_keys(struct dkim_verify *v, enum dns_status status, char *override)
{
	for (size_t i = 0; i < dkim_verify_count(v); i++) {
		const char *name = dkim_verify_key_name(v, i);
		if (name == NULL)
			continue;
		char *item = override ? override : strcmp(name, ED_NAME) == 0 ? ed_key
			: strcmp(name, RSA_NAME) == 0 ? rsa_key : NULL;
		assert_non_null(item);
		struct dns_records records = { .status = status, .items = &item,
					       .count = status == DNS_OK ? 1 : 0 };
		dkim_verify_key(v, i, &records);
		assert_null(dkim_verify_key_name(v, i));
	}
}

/* run - verify TEXT fed in CHUNK-byte pieces (0: whole), the keys handed in
 * at the end of the headers (EARLY) or after the end of the body */
static struct dkim_verify *run(const char *text, size_t len, size_t chunk, bool early,
			       const struct dkim_verify_settings *settings)
{
	struct dkim_verify_settings defaults = { .now = NOW };
	struct dkim_verify *v = dkim_verify_create(settings ? settings : &defaults);
	bool keys = false;
	for (size_t off = 0; off < len;) {
		size_t n = chunk == 0 || chunk > len - off ? len - off : chunk;
		char *copy = malloc(n);
		assert_non_null(copy);
		memcpy(copy, text + off, n);
		dkim_verify_feed(v, copy, n);
		free(copy);
		off += n;
		if (early && !keys && dkim_verify_headers_done(v)) {
			assert_false(dkim_verify_is_done(v));
			give_keys(v, DNS_OK, NULL);
			keys = true;
		}
	}
	dkim_verify_finish(v);
	if (!keys)
		give_keys(v, DNS_OK, NULL);
	assert_true(dkim_verify_is_done(v));
	return v;
}

static void expect(struct dkim_verify *v, size_t index, enum dkim_result result,
		   const char *reason)
{
	const struct dkim_signature_report *r = dkim_verify_report(v, index);
	if (r->result != result || (reason == NULL) != (r->reason == NULL) ||
	    (reason != NULL && strstr(r->reason, reason) == NULL))
		fail_msg("signature %zu: %s (%s), expected %s (%s)", index,
			 dkim_result_name(r->result), r->reason ? r->reason : "-",
			 dkim_result_name(result), reason ? reason : "-");
}

static void crlf_of(const char *text, struct buf *out)
{
	for (const char *p = text; *p; p++) {
		if (*p == '\n')
			buf_append(out, "\r", 1);
		buf_append(out, p, 1);
	}
}

static void test_rfc8463_passes(void **state)
{
	(void)state;
	struct buf crlf;
	buf_init(&crlf);
	crlf_of(message, &crlf);
	static const size_t chunks[] = { 0, 1, 2, 3, 17, 100 };
	for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
		for (int early = 0; early < 2; early++) {
			for (int form = 0; form < 2; form++) {
				struct dkim_verify *v = form == 0
					? run(message, strlen(message), chunks[c], early, NULL)
					: run(crlf.data, crlf.len, chunks[c], early, NULL);
				assert_int_equal(dkim_verify_count(v), 2);
				expect(v, 0, DKIM_RESULT_PASS, NULL);
				expect(v, 1, DKIM_RESULT_PASS, NULL);
				assert_int_equal(dkim_verify_result(v), DKIM_RESULT_PASS);
				const struct dkim_signature_report *r = dkim_verify_report(v, 0);
				assert_string_equal(r->domain, "football.example.com");
				assert_string_equal(r->selector, "brisbane");
				assert_string_equal(r->algorithm, "ed25519-sha256");
				assert_string_equal(r->identity, "@football.example.com");
				assert_string_equal(r->b, "9/dsDChY0YMTtD5Eyw3wx7x22BlSJP7M5ECbJ7GWrR"
						    "45nXlTCGb8l0YBo0wBLR++X5LqmsxXaOYLLJe46l10AQ==");
				dkim_verify_free(&v);
				assert_null(v);
			}
		}
	}
	buf_free(&crlf);
}

/* replace - TEXT with its first FROM replaced by TO */
static char *replace(const char *text, const char *from, const char *to)
{
	const char *at = strstr(text, from);
	assert_non_null(at);
	struct buf out;
	buf_init(&out);
	buf_append(&out, text, (size_t)(at - text));
	buf_append_str(&out, to);
	buf_append_str(&out, at + strlen(from));
	return out.data;
}

static void test_tampered(void **state)
{
	(void)state;
	/* a body byte changed: the body hash tells */
	char *body = replace(message, "We lost", "We won!");
	for (size_t chunk = 0; chunk < 2; chunk++) {
		struct dkim_verify *v = run(body, strlen(body), chunk, false, NULL);
		expect(v, 0, DKIM_RESULT_FAIL, "body hash did not verify");
		expect(v, 1, DKIM_RESULT_FAIL, "body hash did not verify");
		assert_int_equal(dkim_verify_result(v), DKIM_RESULT_FAIL);
		dkim_verify_free(&v);
	}
	free(body);
	/* a signed header changed: the signature tells */
	char *header = replace(message, "dinner ready", "dinner late!");
	struct dkim_verify *v = run(header, strlen(header), 1, true, NULL);
	expect(v, 0, DKIM_RESULT_FAIL, "signature did not verify");
	expect(v, 1, DKIM_RESULT_FAIL, "signature did not verify");
	dkim_verify_free(&v);
	free(header);
	/* a second Subject added: over-signed (listed twice for one field) */
	char *added = replace(message, "Date: Fri", "Subject: Buy now\nDate: Fri");
	v = run(added, strlen(added), 0, false, NULL);
	expect(v, 0, DKIM_RESULT_FAIL, "signature did not verify");
	expect(v, 1, DKIM_RESULT_FAIL, "signature did not verify");
	dkim_verify_free(&v);
	free(added);
	/* an unsigned header added, and folding whitespace inside b=: still pass */
	char *unsigned_field = replace(message, "Date: Fri", "X-Mailer: x\nDate: Fri");
	v = run(unsigned_field, strlen(unsigned_field), 0, false, NULL);
	expect(v, 0, DKIM_RESULT_PASS, NULL);
	expect(v, 1, DKIM_RESULT_PASS, NULL);
	dkim_verify_free(&v);
	free(unsigned_field);
	/* the signature field's b= must be left out exactly: a changed
	 * tag elsewhere in the field breaks it */
	char *tag = replace(message, "t=1518460054", "t=1518460055");
	v = run(tag, strlen(tag), 0, false, NULL);
	expect(v, 0, DKIM_RESULT_FAIL, "signature did not verify");
	expect(v, 1, DKIM_RESULT_PASS, NULL);
	dkim_verify_free(&v);
	free(tag);
}

static void test_key_answers(void **state)
{
	(void)state;
	static const struct {
		enum dns_status status;
		char *record;
		enum dkim_result result;
		const char *reason;
	} cases[] = {
		{ DNS_NXDOMAIN, NULL, DKIM_RESULT_PERMERROR, "no key" },
		{ DNS_NODATA, NULL, DKIM_RESULT_PERMERROR, "no key" },
		{ DNS_TEMPFAIL, NULL, DKIM_RESULT_TEMPERROR, "temporarily" },
		{ DNS_OK, "v=DKIM1; k=ed25519; p=", DKIM_RESULT_PERMERROR, "revoked" },
		{ DNS_OK, "v=DKIM1; k=rsa; h=sha1; p=AAAA", DKIM_RESULT_PERMERROR, "sha256" },
		{ DNS_OK, "not a key", DKIM_RESULT_PERMERROR, "'='" },
		{ DNS_OK, "k=ed25519; p=AAAA", DKIM_RESULT_PERMERROR, "not an Ed25519 key" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dkim_verify_settings settings = { .now = NOW };
		struct dkim_verify *v = dkim_verify_create(&settings);
		dkim_verify_feed(v, message, strlen(message));
		dkim_verify_finish(v);
		assert_false(dkim_verify_is_done(v));
		for (size_t s = 0; s < 2; s++) {
			char *item = cases[i].record;
			struct dns_records records = { .status = cases[i].status,
						       .items = &item, .count = item ? 1 : 0 };
			dkim_verify_key(v, s, &records);
		}
		assert_true(dkim_verify_is_done(v));
		expect(v, 0, cases[i].result, cases[i].reason);
		dkim_verify_free(&v);
	}
	/* the RSA signature with an Ed25519 key; the Ed25519 one with t=s
	 * keys (i= is d= here: allowed) */
	struct dkim_verify_settings settings = { .now = NOW };
	struct dkim_verify *v = dkim_verify_create(&settings);
	dkim_verify_feed(v, message, strlen(message));
	dkim_verify_finish(v);
	char *strict = "v=DKIM1; k=ed25519; t=s; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
	struct dns_records records = { .status = DNS_OK, .items = &strict, .count = 1 };
	dkim_verify_key(v, 0, &records);
	dkim_verify_key(v, 1, &records);
	expect(v, 0, DKIM_RESULT_PASS, NULL);
	expect(v, 1, DKIM_RESULT_PERMERROR, "key type");
	dkim_verify_free(&v);
	/* several records: the first that parses is used */
	v = dkim_verify_create(&settings);
	dkim_verify_feed(v, message, strlen(message));
	char *two[] = { "v=spf1 -all", ed_key };
	records = (struct dns_records){ .status = DNS_OK, .items = two, .count = 2 };
	dkim_verify_key(v, 0, &records);
	dkim_verify_finish(v);
	expect(v, 0, DKIM_RESULT_PASS, NULL);
	assert_false(dkim_verify_is_done(v));
	dkim_verify_free(&v);
}

/* test_deferred_checks - with defer_checks a key handed in, before or
 * after the body's end, is only kept: dkim_verify_check decides (the SMTP
 * server runs it on a worker) */
static void test_deferred_checks(void **state)
{
	(void)state;
	for (int early = 0; early < 2; early++) {
		struct dkim_verify_settings settings = { .now = NOW, .defer_checks = true };
		struct dkim_verify *v = dkim_verify_create(&settings);
		dkim_verify_feed(v, message, strlen(message));
		if (early)
			give_keys(v, DNS_OK, NULL);
		dkim_verify_finish(v);
		if (!early)
			give_keys(v, DNS_OK, NULL);
		assert_false(dkim_verify_is_done(v));
		assert_int_equal(dkim_verify_report(v, 0)->result, DKIM_RESULT_NONE);
		dkim_verify_check(v);
		assert_true(dkim_verify_is_done(v));
		expect(v, 0, DKIM_RESULT_PASS, NULL);
		expect(v, 1, DKIM_RESULT_PASS, NULL);
		dkim_verify_free(&v);
	}
}

static void test_limits(void **state)
{
	(void)state;
	/* one signature verified, the other ignored */
	struct dkim_verify_settings one = { .now = NOW, .max_signatures = 1 };
	struct dkim_verify *v = run(message, strlen(message), 0, false, &one);
	assert_int_equal(dkim_verify_count(v), 1);
	assert_int_equal(dkim_verify_ignored(v), 1);
	expect(v, 0, DKIM_RESULT_PASS, NULL);
	dkim_verify_free(&v);
	/* a header section over the limit: nothing verified, and why */
	struct dkim_verify_settings small = { .now = NOW, .max_header_size = 200 };
	for (size_t chunk = 0; chunk < 2; chunk++) {
		v = run(message, strlen(message), chunk, false, &small);
		assert_int_equal(dkim_verify_count(v), 0);
		assert_non_null(dkim_verify_error(v));
		assert_int_equal(dkim_verify_result(v), DKIM_RESULT_NONE);
		dkim_verify_free(&v);
	}
	/* x= in the past: permerror without a key lookup */
	char *expired = replace(message, "t=1527915362;", "t=1527915362; x=1527915400;");
	v = run(expired, strlen(expired), 0, false, NULL);
	expect(v, 1, DKIM_RESULT_PERMERROR, "expired");
	dkim_verify_free(&v);
	free(expired);
	/* no signature, no body, no empty line */
	v = run("From: a@b.example\nSubject: x\n", 29, 1, false, NULL);
	assert_int_equal(dkim_verify_count(v), 0);
	assert_null(dkim_verify_error(v));
	assert_int_equal(dkim_verify_result(v), DKIM_RESULT_NONE);
	dkim_verify_free(&v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc8463_passes),
		cmocka_unit_test(test_tampered),
		cmocka_unit_test(test_key_answers),
		cmocka_unit_test(test_deferred_checks),
		cmocka_unit_test(test_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
