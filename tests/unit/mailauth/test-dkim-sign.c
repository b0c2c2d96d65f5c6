/* tests/unit/mailauth/test-dkim-sign - the signer: fixed messages signed
 * with python3-dkim's 1024-bit test key (tests/data/test.private) and RFC
 * 8463 Appendix A's Ed25519 key give exactly the fields below, which
 * dkimpy's dkim.verify accepted when they were written (RSA PKCS#1 v1.5 and
 * Ed25519 are deterministic); the signed messages pass Petrel's own
 * verifier; feeding byte by byte or with LF line ends changes nothing; the
 * h= list (over-signed From, List-*, repeated fields, unsigned Received);
 * ARC-Message-Signature's form; the errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "dns/dns.h"
#include "mailauth/mailauth.h"
#include "util/buf.h"

static const char rsa_pem[] =
	"-----BEGIN RSA PRIVATE KEY-----\n"
	"MIICXQIBAAKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQi\n"
	"Y/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqM\n"
	"KrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB\n"
	"AoGAH0cxOhFZDgzXWhDhnAJDw5s4roOXN4OhjiXa8W7Y3rhX3FJqmJSPuC8N9vQm\n"
	"6SVbaLAE4SG5mLMueHlh4KXffEpuLEiNp9Ss3O4YfLiQpbRqE7Tm5SxKjvvQoZZe\n"
	"zHorimOaChRL2it47iuWxzxSiRMv4c+j70GiWdxXnxe4UoECQQDzJB/0U58W7RZy\n"
	"6enGVj2kWF732CoWFZWzi1FicudrBFoy63QwcowpoCazKtvZGMNlPWnC7x/6o8Gc\n"
	"uSe0ga2xAkEA8C7PipPm1/1fTRQvj1o/dDmZp243044ZNyxjg+/OPN0oWCbXIGxy\n"
	"WvmZbXriOWoSALJTjExEgraHEgnXssuk7QJBALl5ICsYMu6hMxO73gnfNayNgPxd\n"
	"WFV6Z7ULnKyV7HSVYF0hgYOHjeYe9gaMtiJYoo0zGN+L3AAtNP9huqkWlzECQE1a\n"
	"licIeVlo1e+qJ6Mgqr0Q7Aa7falZ448ccbSFYEPD6oFxiOl9Y9se9iYHZKKfIcst\n"
	"o7DUw1/hz2Ck4N5JrgUCQQCyKveNvjzkkd8HjYs0SwM0fPjK16//5qDZ2UiDGnOe\n"
	"uEzxBDAr518Z8VFbR41in3W4Y3yCDgQlLlcETrS+zYcL\n"
	"-----END RSA PRIVATE KEY-----\n";
static char rsa_record[] = "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHl"
	"OQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/"
	"e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB";
/* RFC 8463 Appendix A.2: the private key (seed) and its public half */
static const unsigned char ed_seed[32] = {
	0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a, 0xf4, 0x92, 0xec,
	0x2c, 0xc4, 0x44, 0x49, 0xc5, 0x69, 0x7b, 0x32, 0x69, 0x19, 0x70, 0x3b, 0xac, 0x03,
	0x1c, 0xae, 0x7f, 0x60,
};
static char ed_record[] = "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";

#define T 1764900000LL

static const char message[] =
	"Received: from client (localhost [127.0.0.1]) by mx.example.com\r\n"
	"From: Joe SixPack <joe@example.com>\r\n"
	"To: Suzie Q <suzie@example.net>,\r\n"
	"  other@example.org\r\n"
	"Subject:   Is dinner   ready?  \r\n"
	"Date: Fri, 11 Jul 2003 21:00:37 -0700\r\n"
	"Message-ID: <20030712040037.46341.5F8J@example.com>\r\n"
	"List-Id: Dinner <dinner.example.com>\r\n"
	"List-Unsubscribe: <mailto:leave@example.com>\r\n"
	"X-Mailer: not signed\r\n"
	"\r\n"
	"Hi.\r\n"
	"\r\n"
	"We lost the game.   Are you hungry yet?  \r\n"
	"\r\n"
	"Joe.\r\n"
	"\r\n"
	"\r\n";

/* dkimpy 1.1.4's dkim.verify (python3-dkim) accepted each of these on top of MESSAGE */
static const char rsa_field[] =
	"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.com; s=test;\r\n"
	"\tt=1764900000; h=from:subject:date:to:message-id:list-id:\r\n"
	"\tlist-unsubscribe:from;\r\n"
	"\tbh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n"
	"\tb=0K4p1Fxitsnj3hwav/GFvYGSD6X5IYLQZEPRUk2OtjtlKa06tOFNhsHj2aj/qnm0+oI1\r\n"
	"\tGXPBCyyl39bMBDeZVs9PJlOgtV+U0jZm5brttSOMga5xOHUaXRKP9ZVmio/8QPPpzrhusP\r\n"
	"\tXd8s2Yoctn1UKEnOb166dbRnJPxc0CYdI=\r\n";
static const char ed_field[] =
	"DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed; d=example.com;\r\n"
	"\ts=brisbane; t=1764900000; h=from:subject:date:to:message-id:list-id:\r\n"
	"\tlist-unsubscribe:from;\r\n"
	"\tbh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n"
	"\tb=vPlCK5Nv523W2AbTlGrjQFYlqDcBnzb32m7iRRnZuI/psrqjnlDD87gkszjfD28N6Y+E\r\n"
	"\twY4DIM44VnjzdaBBDQ==\r\n";

/* key_sign - what the keys process does with DIGEST: PKEY's signature */
static size_t key_sign(EVP_PKEY *pkey, bool rsa, const unsigned char *digest,
		       unsigned char *sig, size_t size)
{
	size_t len = size;
	if (rsa) {
		EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(pkey, NULL);
		assert_non_null(ctx);
		assert_int_equal(EVP_PKEY_sign_init(ctx), 1);
		assert_true(EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) > 0);
		assert_true(EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) > 0);
		assert_int_equal(EVP_PKEY_sign(ctx, sig, &len, digest, DKIM_SIGN_DIGEST_LEN), 1);
		EVP_PKEY_CTX_free(ctx);
	} else {
		EVP_MD_CTX *md = EVP_MD_CTX_new();
		assert_non_null(md);
		assert_int_equal(EVP_DigestSignInit(md, NULL, NULL, NULL, pkey), 1);
		assert_int_equal(EVP_DigestSign(md, sig, &len, digest, DKIM_SIGN_DIGEST_LEN), 1);
		EVP_MD_CTX_free(md);
	}
	return len;
}

static EVP_PKEY *test_key(bool rsa)
{
	if (!rsa)
		return EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, ed_seed,
						    sizeof(ed_seed));
	BIO *bio = BIO_new_mem_buf(rsa_pem, -1);
	assert_non_null(bio);
	EVP_PKEY *pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	assert_non_null(pkey);
	return pkey;
}

/* sign_with - TEXT signed per PARAMS, fed in CHUNK-byte pieces (0: whole);
 * the field, allocated */
static char *sign_with(const struct dkim_sign_params *params, const char *text, size_t len,
		       size_t chunk)
{
	const char *error = NULL;
	struct dkim_sign *s = dkim_sign_new(params, &error);
	assert_non_null(s);
	for (size_t off = 0; off < len;) {
		size_t n = chunk == 0 || chunk > len - off ? len - off : chunk;
		char *copy = malloc(n);  /* so that ASan sees reads past the piece */
		assert_non_null(copy);
		memcpy(copy, text + off, n);
		dkim_sign_feed(s, copy, n);
		free(copy);
		off += n;
	}
	unsigned char digest[DKIM_SIGN_DIGEST_LEN], sig[512];
	if (dkim_sign_digest(s, digest, &error) != 0)
		fail_msg("dkim_sign_digest: %s", error);
	bool rsa = params->algorithm == DKIM_SIGN_RSA_SHA256;
	EVP_PKEY *pkey = test_key(rsa);
	size_t sig_len = key_sign(pkey, rsa, digest, sig, sizeof(sig));
	EVP_PKEY_free(pkey);
	char *field = dkim_sign_field(s, sig, sig_len);
	dkim_sign_free(&s);
	assert_null(s);
	return field;
}

static char *sign_message(bool rsa, const char *text, size_t len, size_t chunk)
{
	struct dkim_sign_params params = {
		.domain = "example.com", .selector = rsa ? "test" : "brisbane",
		.algorithm = rsa ? DKIM_SIGN_RSA_SHA256 : DKIM_SIGN_ED25519_SHA256,
		.timestamp = T,
	};
	return sign_with(&params, text, len, chunk);
}

/* verify - FIELD on top of TEXT through Petrel's verifier, the key from RECORD */
static enum dkim_result verify(const char *field, const char *text, size_t len, char *record)
{
	struct dkim_verify_settings settings = { .now = T + 60 };
	struct dkim_verify *v = dkim_verify_create(&settings);
	dkim_verify_feed(v, field, strlen(field));
	dkim_verify_feed(v, text, len);
	dkim_verify_finish(v);
	assert_int_equal(dkim_verify_count(v), 1);
	struct dns_records records = { .status = DNS_OK, .items = &record, .count = 1 };
	dkim_verify_key(v, 0, &records);
	assert_true(dkim_verify_is_done(v));
	enum dkim_result r = dkim_verify_report(v, 0)->result;
	dkim_verify_free(&v);
	return r;
}

static void test_rsa_signs_and_verifies(void **state)
{
	(void)state;
	char *field = sign_message(true, message, sizeof(message) - 1, 0);
	assert_string_equal(field, rsa_field);
	assert_int_equal(verify(field, message, sizeof(message) - 1, rsa_record),
			 DKIM_RESULT_PASS);
	free(field);
}

static void test_ed25519_signs_and_verifies(void **state)
{
	(void)state;
	char *field = sign_message(false, message, sizeof(message) - 1, 0);
	assert_string_equal(field, ed_field);
	assert_int_equal(verify(field, message, sizeof(message) - 1, ed_record),
			 DKIM_RESULT_PASS);
	free(field);
}

/* the same fields whatever the pieces, and from LF line ends */
static void test_pieces_and_line_ends(void **state)
{
	(void)state;
	static const size_t chunks[] = { 1, 2, 3, 7, 64 };
	for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		char *field = sign_message(true, message, sizeof(message) - 1, chunks[i]);
		assert_string_equal(field, rsa_field);
		free(field);
		field = sign_message(false, message, sizeof(message) - 1, chunks[i]);
		assert_string_equal(field, ed_field);
		free(field);
	}
	struct buf lf;
	buf_init(&lf);
	for (const char *p = message; *p; p++)
		if (*p != '\r')
			buf_append(&lf, p, 1);
	for (size_t c = 0; c <= 1; c++) {
		char *field = sign_message(true, lf.data, lf.len, c);
		assert_string_equal(field, rsa_field);
		free(field);
	}
	buf_free(&lf);
}

/* a changed body or signed field fails; an unsigned field may change */
static void test_tampering(void **state)
{
	(void)state;
	char *field = sign_message(true, message, sizeof(message) - 1, 0);
	char *copy = strdup(message);
	assert_non_null(copy);
	char *p = strstr(copy, "hungry");
	p[1] = 'a';
	assert_int_equal(verify(field, copy, strlen(copy), rsa_record), DKIM_RESULT_FAIL);
	p[1] = 'u';
	p = strstr(copy, "Suzie");
	p[0] = 'X';
	assert_int_equal(verify(field, copy, strlen(copy), rsa_record), DKIM_RESULT_FAIL);
	p[0] = 'S';
	p = strstr(copy, "not signed");
	p[0] = 'N';
	assert_int_equal(verify(field, copy, strlen(copy), rsa_record), DKIM_RESULT_PASS);
	/* a second From: added on top breaks the over-signed one */
	struct buf more;
	buf_init(&more);
	buf_append_str(&more, "From: evil@example.org\r\n");
	buf_append_str(&more, message);
	assert_int_equal(verify(field, more.data, more.len, rsa_record), DKIM_RESULT_FAIL);
	buf_free(&more);
	free(copy);
	free(field);
}

/* dig_h - the h= value of FIELD, unfolded */
static void dig_h(const char *field, char *out, size_t size)
{
	const char *h = strstr(field, " h=");
	assert_non_null(h);
	size_t n = 0;
	for (h += 3; *h != ';'; h++)
		if (*h != '\r' && *h != '\n' && *h != '\t' && *h != ' ' && n + 1 < size)
			out[n++] = *h;
	out[n] = '\0';
}

/* h=: repeated fields as often as present, over-signing, "*" patterns, a
 * name matched twice listed once, the caller's own lists */
static void test_header_list(void **state)
{
	(void)state;
	static const char text[] =
		"from: a@example.com\r\n"
		"List-Post: <mailto:l@example.com>\r\n"
		"Received: x\r\n"
		"cc: one@example.com\r\n"
		"CC: two@example.com\r\n"
		"X-Tag: 1\r\n"
		"\r\n"
		"body\r\n";
	char h[512];
	char *field = sign_message(false, text, sizeof(text) - 1, 0);
	dig_h(field, h, sizeof(h));
	assert_string_equal(h, "from:cc:cc:list-post:from");
	assert_int_equal(verify(field, text, sizeof(text) - 1, ed_record), DKIM_RESULT_PASS);
	free(field);

	static const char *const headers[] = { "X-*", "From", "X-Tag", "Subject", NULL };
	static const char *const oversign[] = { "Subject", NULL };
	struct dkim_sign_params params = {
		.domain = "example.com", .selector = "brisbane",
		.algorithm = DKIM_SIGN_ED25519_SHA256, .timestamp = -1,
		.headers = headers, .oversign = oversign,
	};
	field = sign_with(&params, text, sizeof(text) - 1, 0);
	assert_null(strstr(field, " t="));
	dig_h(field, h, sizeof(h));
	assert_string_equal(h, "x-tag:from:subject");
	assert_int_equal(verify(field, text, sizeof(text) - 1, ed_record), DKIM_RESULT_PASS);
	free(field);
}

/* a message without a body (no empty line), an empty body, a body with
 * only empty lines: what the verifier and dkimpy see */
static void test_bodies(void **state)
{
	(void)state;
	static const char *const texts[] = {
		"From: a@example.com\r\n",
		"From: a@example.com\r\n\r\n",
		"From: a@example.com\r\n\r\n\r\n\r\n",
		"From: a@example.com\r\n\r\nno line end",
		"From: a@example.com\r\nbroken line\r\n\r\nbody\r\n",
	};
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		for (size_t c = 0; c <= 1; c++) {
			char *field = sign_message(true, texts[i], strlen(texts[i]), c);
			if (verify(field, texts[i], strlen(texts[i]), rsa_record) !=
			    DKIM_RESULT_PASS)
				fail_msg("text %zu chunk %zu does not verify", i, c);
			free(field);
		}
	}
}

/* RFC 8617 4.1.2: i= first, no v=, another name; the same hash otherwise */
static void test_arc_message_signature(void **state)
{
	(void)state;
	static const char *const headers[] = { "From", "Subject", "Date", "To", NULL };
	struct dkim_sign_params params = {
		.field_name = "ARC-Message-Signature", .first_tags = "i=1",
		.domain = "example.com", .selector = "test",
		.algorithm = DKIM_SIGN_RSA_SHA256, .timestamp = T, .headers = headers,
	};
	char *field = sign_with(&params, message, sizeof(message) - 1, 0);
	const char *want = "ARC-Message-Signature: i=1; a=rsa-sha256; c=relaxed/relaxed; "
		"d=example.com;\r\n"
		"\ts=test; t=1764900000; h=from:subject:date:to:from;\r\n"
		"\tbh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n\tb=";
	if (strncmp(field, want, strlen(want)) != 0)
		fail_msg("got:\n%s", field);
	free(field);
}

static void test_errors(void **state)
{
	(void)state;
	const char *error = NULL;
	struct dkim_sign_params params = {
		.domain = "example.com", .selector = "sel",
		.algorithm = DKIM_SIGN_RSA_SHA256, .timestamp = T,
	};
	static const char *const bad_names[] = { "From", "Sub ject", NULL };
	static const char *const bad_star[] = { "*X", NULL };
	struct { const char *domain, *selector; const char *const *headers, *const *over; }
	cases[] = {
		{ "exa mple.com", "sel", NULL, NULL },
		{ "", "sel", NULL, NULL },
		{ "example.com", "", NULL, NULL },
		{ "example.com", "a..b", NULL, NULL },
		{ "example.com", "sel;x=1", NULL, NULL },
		{ "example.com", "sel", bad_names, NULL },
		{ "example.com", "sel", bad_star, NULL },
		{ "example.com", "sel", NULL, bad_star },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		params.domain = cases[i].domain;
		params.selector = cases[i].selector;
		params.headers = cases[i].headers;
		params.oversign = cases[i].over;
		error = NULL;
		if (dkim_sign_new(&params, &error) != NULL || error == NULL)
			fail_msg("case %zu accepted", i);
	}
	params.domain = "example.com";
	params.selector = "sel";
	params.headers = params.oversign = NULL;
	unsigned char digest[DKIM_SIGN_DIGEST_LEN];

	/* no From: nothing to sign */
	struct dkim_sign *s = dkim_sign_new(&params, &error);
	assert_non_null(s);
	dkim_sign_feed(s, "To: a@example.com\r\n\r\nhi\r\n", 25);
	assert_int_equal(dkim_sign_digest(s, digest, &error), -1);
	assert_string_equal(error, "the message has no From field");
	dkim_sign_free(&s);

	/* a header section over the limit */
	s = dkim_sign_new(&params, &error);
	dkim_sign_feed(s, "From: a@example.com\r\nX: ", 24);
	char *big = malloc(DKIM_HEADER_SIZE_DEFAULT);
	assert_non_null(big);
	memset(big, 'x', DKIM_HEADER_SIZE_DEFAULT);
	dkim_sign_feed(s, big, DKIM_HEADER_SIZE_DEFAULT);
	free(big);
	dkim_sign_feed(s, "\r\n\r\nbody\r\n", 10);
	assert_int_equal(dkim_sign_digest(s, digest, &error), -1);
	assert_string_equal(error, "header section over its size limit");
	dkim_sign_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rsa_signs_and_verifies),
		cmocka_unit_test(test_ed25519_signs_and_verifies),
		cmocka_unit_test(test_pieces_and_line_ends),
		cmocka_unit_test(test_tampering),
		cmocka_unit_test(test_header_list),
		cmocka_unit_test(test_bodies),
		cmocka_unit_test(test_arc_message_signature),
		cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
