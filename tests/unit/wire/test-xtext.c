/* tests/unit/wire/test-xtext - RFC 3461 4 xtext: a decoding table (each input
 * in a block of exactly its size), a round trip of every byte but NUL, and
 * the appending form the queue files use. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "wire/wire.h"

/* dup_exact - copy LEN bytes into a block of exactly that size, so that
 * AddressSanitizer catches a decoder reading one byte too far. */
static char *dup_exact(const char *s, size_t len)
{
	char *p = malloc(len ? len : 1);
	if (p == NULL)
		abort();
	if (len)
		memcpy(p, s, len);
	return p;
}

static void test_xtext(void **state)
{
	static const struct { const char *in; const char *out; } dec[] = {
		{ "", "" }, { "abc", "abc" }, { "a+2Bb", "a+b" },
		{ "+3D+2B", "=+" }, { "a+2bb", "a+b" }, { "+C3+A9", "\xc3\xa9" },
		{ "a+", NULL }, { "a+2", NULL }, { "a+2G", NULL }, { "a=b", NULL },
		{ "a b", NULL }, { "a+00", NULL }, { "\x7f", NULL },
		{ "\xc3\xa9", NULL },
	};
	for (size_t i = 0; i < sizeof(dec) / sizeof(dec[0]); i++) {
		size_t len = strlen(dec[i].in);
		char *in = dup_exact(dec[i].in, len);
		char *out = wire_xtext_decode(in, len);
		if (dec[i].out)
			assert_string_equal(out, dec[i].out);
		else
			assert_null(out);
		free(out);
		free(in);
	}

	/* round trip of every byte but NUL */
	char all[255];
	for (int c = 1; c < 256; c++)
		all[c - 1] = (char)c;
	char *enc = wire_xtext_encode(all, sizeof(all));
	for (const char *p = enc; *p; p++)
		assert_true(*p >= 0x21 && *p <= 0x7e && *p != '=');
	char *back = wire_xtext_decode(enc, strlen(enc));
	assert_non_null(back);
	assert_int_equal(strlen(back), sizeof(all));
	assert_memory_equal(back, all, sizeof(all));
	free(back);
	free(enc);

	enc = wire_xtext_encode("a+b=c d", 7);
	assert_string_equal(enc, "a+2Bb+3Dc+20d");
	free(enc);
	enc = wire_xtext_encode("", 0);
	assert_string_equal(enc, "");
	free(enc);
}

static void test_xtext_append(void **state)
{
	struct buf out;

	buf_init(&out);
	buf_append_str(&out, "reply ");
	wire_xtext_append(&out, "550 5.1.1 no\r\n", 14);
	assert_int_equal(out.len, strlen("reply 550+205.1.1+20no+0D+0A"));
	assert_memory_equal(out.data, "reply 550+205.1.1+20no+0D+0A", out.len);
	buf_free(&out);
}

static void test_hex_value(void **state)
{
	static const char digits[] = "0123456789abcdef";
	for (int v = 0; v < 16; v++) {
		assert_int_equal(wire_hex_value(digits[v]), v);
		assert_int_equal(wire_hex_value((char)(digits[v] >= 'a' ? digits[v] - 32 : digits[v])), v);
	}
	assert_int_equal(wire_hex_value('g'), -1);
	assert_int_equal(wire_hex_value('G'), -1);
	assert_int_equal(wire_hex_value('/'), -1);
	assert_int_equal(wire_hex_value(':'), -1);
	assert_int_equal(wire_hex_value('\0'), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_xtext),
		cmocka_unit_test(test_xtext_append),
		cmocka_unit_test(test_hex_value),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
