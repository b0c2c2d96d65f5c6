/* tests/unit/mailauth/test-arc-seal - the ARC sealer (arc-seal.c) against the
 * chain validator (arc.c): a message sealed once, then again by a second
 * forwarder, validates (cv=none then cv=pass, instances 1 and 2); the fields
 * come in the order and form RFC 8617 gives; a change after sealing fails
 * the chain.  The test signs the digests itself with an RSA key it makes
 * (the keys process does this in the server); dkimpy's arc_verify checks the
 * server's seals in tests/integration/test_forward_e2e.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "dns/dns.h"
#include "mailauth/mailauth.h"
#include "util/base64.h"
#include "util/buf.h"

static EVP_PKEY *key;
static char *record;   /* "v=DKIM1; k=rsa; p=..." */

static const char message[] =
	"Authentication-Results: mx.fwd1.test; spf=pass smtp.mailfrom=joe@origin.test\r\n"
	"From: Joe <joe@origin.test>\r\n"
	"To: list@fwd1.test\r\n"
	"Subject: sealed\r\n"
	"Date: Fri, 05 Dec 2025 10:00:00 +0000\r\n"
	"\r\n"
	"Body line one.\r\n"
	"Body line two.\r\n";

static int setup(void **state)
{
	(void)state;
	key = EVP_RSA_gen(2048);
	if (!key)
		return -1;
	unsigned char *der = NULL;
	int len = i2d_PUBKEY(key, &der);
	if (len <= 0)
		return -1;
	struct buf b;
	buf_init(&b);
	buf_append_str(&b, "v=DKIM1; k=rsa; p=");
	base64_encode(der, (size_t)len, &b);
	buf_append(&b, "", 1);
	record = b.data;
	OPENSSL_free(der);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	EVP_PKEY_free(key);
	free(record);
	return 0;
}

/* rsa_sign - RSASSA-PKCS1-v1_5 of a SHA-256 digest, as the keys process signs */
static size_t rsa_sign(const unsigned char digest[32], unsigned char sig[512])
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(key, NULL);
	size_t len = 512;
	assert_non_null(ctx);
	assert_int_equal(EVP_PKEY_sign_init(ctx), 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING), 1);
	assert_int_equal(EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()), 1);
	assert_int_equal(EVP_PKEY_sign(ctx, sig, &len, digest, 32), 1);
	EVP_PKEY_CTX_free(ctx);
	return len;
}

/* validate - the chain of TEXT, every key answered with RECORD */
static struct arc_verify *validate(const char *text)
{
	struct dkim_verify_settings settings = { .now = 1764928800 };
	struct arc_verify *v = arc_verify_create(&settings);
	arc_verify_feed(v, text, strlen(text));
	arc_verify_finish(v);
	char *item = record;
	size_t len = strlen(record);
	struct dns_records found = { .status = DNS_OK, .items = &item, .lengths = &len, .count = 1 };
	for (size_t i = 0; i < arc_verify_key_count(v); i++)
		if (arc_verify_key_name(v, i))
			arc_verify_key(v, i, &found);
	assert_true(arc_verify_is_done(v));
	return v;
}

/* seal - TEXT with an ARC set of DOMAIN on top (given its chain's outcome) */
static char *seal(const char *text, const char *domain, const struct arc_outcome *chain)
{
	struct arc_seal_params params = { .domain = domain, .selector = "arc",
					  .timestamp = 1764928800 };
	const char *error = NULL;
	char results[100];
	snprintf(results, sizeof(results), "mx.%s; spf=pass smtp.mailfrom=joe@origin.test", domain);
	struct arc_seal *s = arc_seal_new(&params, chain, results, &error);
	assert_non_null(s);
	/* in pieces of 7 bytes: the header section is kept across them */
	for (size_t off = 0; off < strlen(text); off += 7)
		arc_seal_feed(s, text + off, strlen(text) - off < 7 ? strlen(text) - off : 7);
	unsigned char digest[32], sig[512];
	assert_int_equal(arc_seal_message_digest(s, digest, &error), 0);
	arc_seal_message_signed(s, sig, rsa_sign(digest, sig));
	assert_int_equal(arc_seal_seal_digest(s, 1764928801, digest, &error), 0);
	char *fields = arc_seal_fields(s, sig, rsa_sign(digest, sig));
	arc_seal_free(&s);
	char *out = malloc(strlen(fields) + strlen(text) + 1);
	assert_non_null(out);
	strcpy(out, fields);
	strcat(out, text);
	free(fields);
	return out;
}

static void test_one_then_two(void **state)
{
	(void)state;
	struct arc_outcome none = { .result = ARC_RESULT_NONE };
	char *one = seal(message, "fwd1.test", &none);
	/* the set's three fields, seal first, each with i=1 */
	assert_true(strncmp(one, "ARC-Seal: i=1; a=rsa-sha256; t=1764928801; cv=none;\r\n"
			    "\td=fwd1.test; s=arc; b=", 75) == 0);
	assert_non_null(strstr(one, "\r\nARC-Message-Signature: i=1; a=rsa-sha256;"));
	assert_non_null(strstr(one, "\r\nARC-Authentication-Results: i=1; mx.fwd1.test; "
			       "spf=pass smtp.mailfrom=joe@origin.test\r\nAuthentication-Results:"));
	struct arc_verify *v = validate(one);
	const struct arc_outcome *o = arc_verify_outcome(v);
	assert_int_equal(o->result, ARC_RESULT_PASS);
	assert_int_equal(o->instances, 1);
	assert_string_equal(o->sealer, "fwd1.test");

	char *two = seal(one, "fwd2.test", o);
	arc_verify_free(&v);
	assert_true(strncmp(two, "ARC-Seal: i=2; a=rsa-sha256; t=1764928801; cv=pass;", 51) == 0);
	v = validate(two);
	o = arc_verify_outcome(v);
	assert_int_equal(o->result, ARC_RESULT_PASS);
	assert_int_equal(o->instances, 2);
	assert_string_equal(o->sealer, "fwd2.test");
	assert_string_equal(o->results, "mx.fwd2.test; spf=pass smtp.mailfrom=joe@origin.test");
	arc_verify_free(&v);

	/* the body changed after the second seal */
	char *bad = strdup(two);
	char *line = strstr(bad, "Body line two");
	line[0] = 'b';
	v = validate(bad);
	assert_int_equal(arc_verify_outcome(v)->result, ARC_RESULT_FAIL);
	assert_string_equal(arc_verify_outcome(v)->reason,
			    "ARC-Message-Signature: body hash did not verify");
	arc_verify_free(&v);
	/* the first forwarder's findings changed: only the seals cover them */
	strcpy(bad, two);
	char *aar = strstr(bad, "ARC-Authentication-Results: i=1; mx.fwd1.test; spf=pass");
	memcpy(aar + strlen("ARC-Authentication-Results: i=1; mx.fwd1.test; spf="), "fail", 4);
	v = validate(bad);
	assert_int_equal(arc_verify_outcome(v)->result, ARC_RESULT_FAIL);
	assert_string_equal(arc_verify_outcome(v)->reason, "ARC-Seal: signature did not verify");
	arc_verify_free(&v);
	free(bad);
	free(one);
	free(two);
}

/* test_deferred_checks - with defer_checks the keys are only kept: the
 * seals and the message signature are checked by arc_verify_check alone
 * (the SMTP server runs it on a worker) */
static void test_deferred_checks(void **state)
{
	(void)state;
	struct arc_outcome none = { .result = ARC_RESULT_NONE };
	char *one = seal(message, "fwd1.test", &none);
	struct arc_verify *first = validate(one);
	char *two = seal(one, "fwd2.test", arc_verify_outcome(first));
	arc_verify_free(&first);
	char *bad = strdup(two);
	char *aar = strstr(bad, "ARC-Authentication-Results: i=1; mx.fwd1.test; spf=pass");
	memcpy(aar + strlen("ARC-Authentication-Results: i=1; mx.fwd1.test; spf="), "fail", 4);
	const char *texts[] = { two, bad };
	for (size_t t = 0; t < 2; t++) {
		struct dkim_verify_settings settings = { .now = 1764928800, .defer_checks = true };
		struct arc_verify *v = arc_verify_create(&settings);
		arc_verify_feed(v, texts[t], strlen(texts[t]));
		arc_verify_finish(v);
		char *item = record;
		size_t len = strlen(record);
		struct dns_records found = { .status = DNS_OK, .items = &item, .lengths = &len,
					     .count = 1 };
		assert_int_equal(arc_verify_key_count(v), 3);
		for (size_t i = 0; i < arc_verify_key_count(v); i++)
			arc_verify_key(v, i, &found);
		assert_false(arc_verify_is_done(v));
		arc_verify_check(v);
		assert_true(arc_verify_is_done(v));
		assert_int_equal(arc_verify_outcome(v)->result, t == 0 ? ARC_RESULT_PASS :
				 ARC_RESULT_FAIL);
		arc_verify_free(&v);
	}
	free(bad);
	free(one);
	free(two);
}

/* test_older_set_read_as_validated - the sealer finds the older sets as
 * the validator does: an ARC-Authentication-Results "i = 1;" (RFC 8617
 * 4.1.1 allows FWS around "=") is instance 1 for both */
static void test_older_set_read_as_validated(void **state)
{
	(void)state;
	struct arc_outcome none = { .result = ARC_RESULT_NONE };
	char *one = seal(message, "fwd1.test", &none);
	char *aar = strstr(one, "ARC-Authentication-Results: i=1;");
	assert_non_null(aar);
	char *spaced = malloc(strlen(one) + 3);
	assert_non_null(spaced);
	size_t head = (size_t)(aar - one) + strlen("ARC-Authentication-Results: i");
	memcpy(spaced, one, head);
	strcpy(spaced + head, " = ");
	strcat(spaced, aar + strlen("ARC-Authentication-Results: i="));
	struct arc_outcome passed = { .result = ARC_RESULT_PASS, .instances = 1 };
	char *two = seal(spaced, "fwd2.test", &passed);  /* asserts the seal is made */
	assert_true(strncmp(two, "ARC-Seal: i=2;", 14) == 0);
	free(two);
	free(spaced);
	free(one);
}

static void test_failed_chain_and_limits(void **state)
{
	(void)state;
	struct arc_seal_params params = { .domain = "fwd.test", .selector = "arc",
					  .timestamp = -1 };
	const char *error = NULL;
	/* a chain at 50 sets gets no 51st */
	struct arc_outcome full = { .result = ARC_RESULT_PASS, .instances = 50 };
	assert_null(arc_seal_new(&params, &full, "x; none", &error));
	assert_non_null(error);
	/* a bad selector */
	struct arc_seal_params bad = { .domain = "fwd.test", .selector = "a b" };
	struct arc_outcome none = { .result = ARC_RESULT_NONE };
	assert_null(arc_seal_new(&bad, &none, "x; none", &error));
	/* no From field: nothing to sign */
	struct arc_seal *s = arc_seal_new(&params, &none, "x; none", &error);
	assert_non_null(s);
	arc_seal_feed(s, "Subject: x\r\n\r\nbody\r\n", 20);
	unsigned char digest[32];
	assert_int_equal(arc_seal_message_digest(s, digest, &error), -1);
	arc_seal_free(&s);
	/* a failed chain is sealed with cv=fail over its sets: but a chain whose
	 * sets are incomplete cannot be sealed at all */
	struct arc_outcome failed = { .result = ARC_RESULT_FAIL, .instances = 1 };
	s = arc_seal_new(&params, &failed, "x; arc=fail", &error);
	assert_non_null(s);
	arc_seal_feed(s, message, strlen(message));
	assert_int_equal(arc_seal_message_digest(s, digest, &error), 0);
	unsigned char sig[512];
	arc_seal_message_signed(s, sig, rsa_sign(digest, sig));
	assert_int_equal(arc_seal_seal_digest(s, 1, digest, &error), -1);
	assert_string_equal(error, "an older ARC set is incomplete: not sealed");
	arc_seal_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_then_two),
		cmocka_unit_test(test_deferred_checks),
		cmocka_unit_test(test_older_set_read_as_validated),
		cmocka_unit_test(test_failed_chain_and_limits),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
