/* tests/unit/mailauth/test-dkim-parse - the DKIM-Signature field (RFC 6376
 * 3.5) and key record (3.6.1, RFC 8463) parsers: valid forms with what they
 * read, and every way to be refused with its reason.  Each text is parsed
 * from an exactly-sized copy so that AddressSanitizer catches an overread. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mailauth/dkim-int.h"

#define BH "bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;"
#define B "b=dGVzdA==;"

static int parse_sig(const char *text, struct dkim_signature *sig, const char **error)
{
	size_t len = strlen(text);
	char *copy = malloc(len ? len : 1);
	assert_non_null(copy);
	memcpy(copy, text, len);
	*error = NULL;
	int ret = dkim_signature_parse(copy, len, sig, error);
	/* the b= span is checked on the original: offsets are the same */
	free(copy);
	return ret;
}

static void test_signature_valid(void **state)
{
	(void)state;
	struct dkim_signature sig;
	const char *error;
	static const char text[] = " v=1; a=rsa-sha256; c=relaxed/simple;\r\n d=Example.COM;"
		" s=sel-1_x; i=joe@mail.example.com;\r\n h=From : To:subject:from; l=120;"
		" q=dns/txt; t=100; x=200; z=From:foo;\r\n " BH "\r\n b=dGVz\r\n\tdA== ";
	assert_int_equal(parse_sig(text, &sig, &error), 0);
	assert_int_equal(sig.algorithm, DKIM_ALGORITHM_RSA_SHA256);
	assert_int_equal(sig.header_canon, DKIM_CANON_RELAXED);
	assert_int_equal(sig.body_canon, DKIM_CANON_SIMPLE);
	assert_string_equal(sig.domain, "Example.COM");
	assert_string_equal(sig.selector, "sel-1_x");
	assert_string_equal(sig.identity, "joe@mail.example.com");
	assert_int_equal(sig.header_count, 4);
	assert_string_equal(sig.headers[0], "From");
	assert_string_equal(sig.headers[1], "To");
	assert_string_equal(sig.headers[2], "subject");
	assert_string_equal(sig.headers[3], "from");
	assert_int_equal(sig.length, 120);
	assert_int_equal(sig.timestamp, 100);
	assert_int_equal(sig.expiration, 200);
	assert_int_equal(sig.b_len, 4);
	assert_memory_equal(sig.b, "test", 4);
	assert_string_equal(sig.b_text, "dGVzdA==");
	/* the b= span: from just after "b=" to the end, FWS included */
	const char *b = strstr(text, " b=") + 3;
	assert_int_equal(sig.b_start, (size_t)(b - text));
	assert_int_equal(sig.b_end, strlen(text));
	dkim_signature_free(&sig);

	/* defaults: c=simple/simple, i=@d, no l=, t=, x=; b= in the middle */
	assert_int_equal(parse_sig("v=1; a=ed25519-sha256; b = dGVzdA== ; d=example.org; s=s;"
				   " h=from; " BH, &sig, &error), 0);
	assert_int_equal(sig.algorithm, DKIM_ALGORITHM_ED25519_SHA256);
	assert_int_equal(sig.header_canon, DKIM_CANON_SIMPLE);
	assert_int_equal(sig.body_canon, DKIM_CANON_SIMPLE);
	assert_string_equal(sig.identity, "@example.org");
	assert_int_equal(sig.length, -1);
	assert_int_equal(sig.timestamp, -1);
	assert_int_equal(sig.expiration, -1);
	assert_int_equal(sig.b_start, strlen("v=1; a=ed25519-sha256; b ="));
	assert_int_equal(sig.b_end, strlen("v=1; a=ed25519-sha256; b = dGVzdA== "));
	dkim_signature_free(&sig);

	/* c=relaxed alone: the body's stays simple */
	assert_int_equal(parse_sig("v=1; a=rsa-sha256; c=relaxed; d=e.org; s=s; h=From; "
				   BH B, &sig, &error), 0);
	assert_int_equal(sig.header_canon, DKIM_CANON_RELAXED);
	assert_int_equal(sig.body_canon, DKIM_CANON_SIMPLE);
	dkim_signature_free(&sig);
}

struct bad_case {
	const char *text;
	const char *error;      /* a part of the reason */
	const char *domain;     /* still read for the report, or NULL */
};

static const struct bad_case bad_signatures[] = {
	{ "", "required tag", NULL },
	{ "v=1; a=rsa-sha256; d=e.org; s=s; h=from; " BH, "required tag", "e.org" },
	{ "v=1; a=rsa-sha256; d=e.org; s=s; " BH B, "required tag", "e.org" },
	{ "v=2; a=rsa-sha256; d=e.org; s=s; h=from; " BH B, "v= is not 1", "e.org" },
	{ "v=1; a=rsa-sha1; d=e.org; s=s; h=from; " BH B, "RFC 8301", "e.org" },
	{ "v=1; a=rsa-sha512; d=e.org; s=s; h=from; " BH B, "unsupported algorithm", "e.org" },
	{ "v=1; a=rsa-sha256; d=e..org; s=s; h=from; " BH B, "d= is not", "e..org" },
	{ "v=1; a=rsa-sha256; d=e.org; s=s/x; h=from; " BH B, "s= is not", "e.org" },
	{ "v=1; a=rsa-sha256; d=e.org; s=s; h=from; " BH "b=dGVzdA=;", "b= is not", "e.org" },
	{ "v=1; a=rsa-sha256; d=e.org; s=s; h=from; " BH "b=;", "b= is not", "e.org" },
	{ "v=1; a=rsa-sha256; d=e.org; s=s; h=from; bh=dGVzdA==; " B, "bh= is not", "e.org" },
	{ "v=1; a=rsa-sha256; c=relaxed/fancy; d=e.org; s=s; h=from; " BH B,
	  "canonicalization", "e.org" },
	{ "v=1; a=rsa-sha256; c=; d=e.org; s=s; h=from; " BH B, "canonicalization", "e.org" },
	{ "v=1; a=rsa-sha256; d=e.org; s=s; h=to:subject; " BH B, "From", "e.org" },
	{ "v=1; a=rsa-sha256; d=e.org; s=s; h=from::to; " BH B, "empty header name", "e.org" },
	{ "v=1; a=rsa-sha256; d=e.org; s=s; h=from; i=joe@other.org; " BH B, "i= is not",
	  "e.org" },
	{ "v=1; a=rsa-sha256; d=e.org; s=s; h=from; i=joe@xe.org; " BH B, "i= is not", "e.org" },
	{ "v=1; a=rsa-sha256; d=e.org; s=s; h=from; i=joe; " BH B, "i= is not", "e.org" },
	{ "v=1; a=rsa-sha256; d=e.org; s=s; h=from; l=12a; " BH B, "l= is not", "e.org" },
	{ "v=1; a=rsa-sha256; d=e.org; s=s; h=from; l=99999999999999999999; " BH B, "l= is not",
	  "e.org" },
	{ "v=1; a=rsa-sha256; d=e.org; s=s; h=from; q=http/x; " BH B, "q=", "e.org" },
	{ "v=1; a=rsa-sha256; d=e.org; s=s; h=from; t=1234567890123; " BH B, "t= is not",
	  "e.org" },
	{ "v=1; a=rsa-sha256; d=e.org; s=s; h=from; x=-1; " BH B, "x= is not", "e.org" },
	{ "v=1; a=rsa-sha256; d=e.org; s=s; h=from; t=200; x=100; " BH B, "x= is not after",
	  "e.org" },
	{ "v=1; a=rsa-sha256; d=e.org; s=s; h=from; t=200; x=200; " BH B, "x= is not after",
	  "e.org" },
	/* the tag list itself: a duplicate tag, no "=" */
	{ "v=1; v=1; a=rsa-sha256; d=e.org; s=s; h=from; " BH B, "duplicate", NULL },
	{ "v=1; a; d=e.org", "'='", NULL },
};

static void test_signature_invalid(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_signatures) / sizeof(bad_signatures[0]); i++) {
		const struct bad_case *c = &bad_signatures[i];
		struct dkim_signature sig;
		const char *error;
		if (parse_sig(c->text, &sig, &error) != -1)
			fail_msg("accepted \"%s\"", c->text);
		if (error == NULL || strstr(error, c->error) == NULL)
			fail_msg("\"%s\": error \"%s\", not \"%s\"", c->text,
				 error ? error : "(none)", c->error);
		if (c->domain != NULL)
			assert_string_equal(sig.domain, c->domain);
		dkim_signature_free(&sig);
	}
}

static int parse_key(const char *text, struct dkim_key *key, const char **error)
{
	size_t len = strlen(text);
	char *copy = malloc(len ? len : 1);
	assert_non_null(copy);
	memcpy(copy, text, len);
	*error = NULL;
	int ret = dkim_key_parse(copy, len, key, error);
	free(copy);
	return ret;
}

static void test_key_records(void **state)
{
	(void)state;
	struct dkim_key key;
	const char *error;
	assert_int_equal(parse_key("v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIa"
				   "aPcHURo=", &key, &error), 0);
	assert_int_equal(key.type, DKIM_KEY_ED25519);
	assert_int_equal(key.data_len, 32);
	assert_false(key.revoked);
	assert_false(key.testing);
	dkim_key_free(&key);

	assert_int_equal(parse_key("p=dGVz dA==; t=y:s; h=sha1:sha256; s=email; g=*", &key,
				   &error), 0);
	assert_int_equal(key.type, DKIM_KEY_RSA);
	assert_int_equal(key.data_len, 4);
	assert_true(key.testing);
	assert_true(key.strict);
	dkim_key_free(&key);

	assert_int_equal(parse_key("v=DKIM1; k=rsa; p=", &key, &error), 0);
	assert_true(key.revoked);
	dkim_key_free(&key);

	assert_int_equal(parse_key("s=*; t=s; p=dGVzdA==", &key, &error), 0);
	assert_false(key.testing);
	assert_true(key.strict);
	dkim_key_free(&key);

	static const struct { const char *text, *error; } bad[] = {
		{ "k=rsa; v=DKIM1; p=dGVzdA==", "v=" },
		{ "v=DKIM2; p=dGVzdA==", "v=" },
		{ "k=dsa; p=dGVzdA==", "k=" },
		{ "h=sha1; p=dGVzdA==", "sha256" },
		{ "s=tlsrpt; p=dGVzdA==", "not for email" },
		{ "v=DKIM1; k=rsa", "no p=" },
		{ "p=dGVzdA=", "not base64" },
		{ "p=dGVzdA==; p=dGVzdA==", "duplicate" },
		{ "", "no p=" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse_key(bad[i].text, &key, &error) != -1)
			fail_msg("accepted key \"%s\"", bad[i].text);
		if (error == NULL || strstr(error, bad[i].error) == NULL)
			fail_msg("key \"%s\": error \"%s\", not \"%s\"", bad[i].text,
				 error ? error : "(none)", bad[i].error);
		dkim_key_free(&key);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_signature_valid),
		cmocka_unit_test(test_signature_invalid),
		cmocka_unit_test(test_key_records),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
