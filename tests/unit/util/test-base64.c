/* tests/unit/util/test-base64 - strict RFC 4648 base64 (src/util/base64.c):
 * a table of valid and invalid inputs, each in a block of exactly its size,
 * and encoding that decodes back for every length up to a few groups. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "util/base64.h"

/* dup_exact - LEN bytes in a block of exactly that size (ASan sees overreads) */
static char *dup_exact(const char *s, size_t len)
{
	char *p = malloc(len ? len : 1);
	assert_non_null(p);
	memcpy(p, s, len);
	return p;
}

static void test_base64_decode(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		int rc;
		const char *out;
		size_t len;
	} cases[] = {
		{ "AHVzZXIAcGFzcw==", 0, "\0user\0pass", 10 },
		{ "Zm9v", 0, "foo", 3 },
		{ "Zm8=", 0, "fo", 2 },
		{ "Zg==", 0, "f", 1 },
		{ "", 0, "", 0 },
		{ "=", -1, NULL, 0 },        /* SMTP AUTH's empty response is the caller's */
		{ "Zm9", -1, NULL, 0 },      /* not a multiple of 4 */
		{ "Zm 9v", -1, NULL, 0 },
		{ "Zg=a", -1, NULL, 0 },     /* data after padding */
		{ "Zg==Zm9v", -1, NULL, 0 }, /* padding before the end */
		{ "Z===", -1, NULL, 0 },
		{ "====", -1, NULL, 0 },
		{ "zXZ=", -1, NULL, 0 },     /* non-zero bits past the data */
		{ "Zh==", -1, NULL, 0 },
		{ "Zm9v\r\n", -1, NULL, 0 },
		{ "Zm-v", -1, NULL, 0 },     /* the URL alphabet is not base64 */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t in_len = strlen(cases[i].in);
		char *in = dup_exact(cases[i].in, in_len);
		struct buf out;
		buf_init(&out);
		int rc = base64_decode(in, in_len, &out);
		assert_int_equal(rc, cases[i].rc);
		if (rc == 0) {
			assert_int_equal(out.len, cases[i].len);
			if (out.len)
				assert_memory_equal(out.data, cases[i].out, out.len);
		}
		buf_free(&out);
		free(in);
	}
}

static void test_base64_encode(void **state)
{
	(void)state;
	struct buf enc;
	buf_init(&enc);
	base64_encode("\0user\0pass", 10, &enc);
	assert_string_equal(enc.data, "AHVzZXIAcGFzcw==");
	buf_reset(&enc);
	base64_encode("", 0, &enc);
	assert_non_null(enc.data);
	assert_string_equal(enc.data, "");
	/* every length of every byte value round-trips */
	unsigned char bytes[256];
	for (size_t i = 0; i < sizeof(bytes); i++)
		bytes[i] = (unsigned char)(255 - i);
	for (size_t len = 0; len <= sizeof(bytes); len++) {
		struct buf dec;
		buf_init(&dec);
		buf_reset(&enc);
		base64_encode(bytes, len, &enc);
		assert_int_equal(enc.len, (len + 2) / 3 * 4);
		assert_int_equal(base64_decode(enc.data, enc.len, &dec), 0);
		assert_int_equal(dec.len, len);
		if (len)
			assert_memory_equal(dec.data, bytes, len);
		buf_free(&dec);
	}
	buf_free(&enc);
}

/* test_base64url - RFC 4648 5: '-' and '_', no padding, strict */
static void test_base64url(void **state)
{
	(void)state;
	static const struct { const char *raw; size_t len; const char *text; } good[] = {
		{ "", 0, "" }, { "f", 1, "Zg" }, { "fo", 2, "Zm8" }, { "foo", 3, "Zm9v" },
		{ "\xfb\xff\xbf", 3, "-_-_" }, { "\xfb\xf0", 2, "-_A" },
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct buf out;
		buf_init(&out);
		base64url_encode(good[i].raw, good[i].len, &out);
		assert_string_equal(out.data, good[i].text);
		buf_reset(&out);
		assert_int_equal(base64url_decode(good[i].text, strlen(good[i].text), &out), 0);
		assert_int_equal(out.len, good[i].len);
		assert_memory_equal(out.data ? out.data : "", good[i].raw, good[i].len);
		buf_free(&out);
	}
	static const char *const bad[] = { "Zg==", "Zm8=", "+/+/", "Z", "Zh", "Zm9", "Zm 9v",
					   "Zm9v\n" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct buf out;
		buf_init(&out);
		if (base64url_decode(bad[i], strlen(bad[i]), &out) != -1)
			fail_msg("accepted: %s", bad[i]);
		buf_free(&out);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_base64_decode),
		cmocka_unit_test(test_base64_encode),
		cmocka_unit_test(test_base64url),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
