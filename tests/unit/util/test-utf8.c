/* tests/unit/util/test-utf8 - UTF-8 well-formedness: a table of RFC 3629
 * cases (each in a block of exactly its size), then every 1- to 3-byte input
 * and the 4-byte ones across all lead and second bytes checked against a
 * decoder written the other way round (tests/utf8-reference.h, shared with
 * fuzz/fuzz-utf8.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "util/utf8.h"
#include "../../utf8-reference.h"

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

static void test_utf8_table(void **state)
{
	static const struct { const char *s; bool ok; } cases[] = {
		{ "", true }, { "abc", true }, { "\xc3\xa9", true },
		{ "\xe2\x82\xac", true }, { "\xf0\x9f\x98\x80", true },
		{ "\xef\xbf\xbf", true }, { "\xf4\x8f\xbf\xbf", true },
		{ "\xc3", false }, { "\xc0\x80", false }, { "\xc1\xbf", false },
		{ "\xe0\x9f\xbf", false }, { "\xed\xa0\x80", false },
		{ "\xed\xbf\xbf", false }, { "\xf0\x8f\xbf\xbf", false },
		{ "\xf4\x90\x80\x80", false }, { "\xf5\x80\x80\x80", false },
		{ "\x80", false }, { "\xe2\x82", false }, { "\xff", false },
		{ "a\xe2\x28\xa1", false }, { "\xc3\xa9\xc3", false },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = strlen(cases[i].s);
		char *in = dup_exact(cases[i].s, len);
		assert_int_equal(utf8_is_valid(in, len), cases[i].ok);
		free(in);
	}
	/* a NUL is ASCII: the length says where the input ends */
	assert_true(utf8_is_valid("a\0b", 3));
	assert_int_equal(utf8_sequence_length("\0", 1), 1);
	assert_int_equal(utf8_sequence_length("\xc3\xa9", 1), 0);
	assert_int_equal(utf8_sequence_length("\xc3\xa9", 0), 0);
	assert_int_equal(utf8_sequence_length("\xf0\x9f\x98\x80z", 5), 4);
}

/* test_utf8_every_short_input - all inputs of 1 to 3 bytes */
static void test_utf8_every_short_input(void **state)
{
	unsigned char b[3];
	for (uint32_t v = 0; v < (1u << 24); v++) {
		b[0] = (unsigned char)(v >> 16);
		b[1] = (unsigned char)(v >> 8);
		b[2] = (unsigned char)v;
		for (size_t len = 1; len <= 3; len++) {
			if (len < 3 && (v & ((1u << (8 * (3 - len))) - 1)) != 0)
				continue;
			size_t want = utf8_reference_length(b, len);
			if (utf8_sequence_length((const char *)b, len) != want)
				fail_msg("%02x %02x %02x len %zu", b[0], b[1], b[2], len);
		}
	}
}

/* test_utf8_four_bytes - every lead and second byte, with third and fourth
 * bytes at the edges of the continuation range and just outside it */
static void test_utf8_four_bytes(void **state)
{
	static const unsigned char edge[] = { 0x00, 0x7f, 0x80, 0xbf, 0xc0, 0xff };
	unsigned char b[4];
	for (unsigned lead = 0xe0; lead <= 0xff; lead++) {
		for (unsigned second = 0; second <= 0xff; second++) {
			for (size_t i = 0; i < sizeof(edge); i++) {
				for (size_t j = 0; j < sizeof(edge); j++) {
					b[0] = (unsigned char)lead;
					b[1] = (unsigned char)second;
					b[2] = edge[i];
					b[3] = edge[j];
					size_t want = utf8_reference_length(b, 4);
					assert_int_equal(utf8_sequence_length((const char *)b, 4),
							 want);
					assert_int_equal(utf8_is_valid((const char *)b, 4),
							 want == 4 || (want > 0 && want < 4 &&
							 utf8_is_valid((const char *)b + want,
								       4 - want)));
				}
			}
		}
	}
}

/* test_utf8_encode - every scalar value encodes to one well-formed
 * character of the expected length, which decodes back to it */
static void test_utf8_encode(void **state)
{
	(void)state;
	for (uint32_t cp = 0; cp <= 0x10ffff; cp++) {
		if (cp >= 0xd800 && cp <= 0xdfff)
			continue;
		char b[4];
		size_t n = utf8_encode(cp, b);
		assert_int_equal(n, cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4);
		assert_int_equal(utf8_sequence_length(b, n), n);
		uint32_t back = n == 1 ? (unsigned char)b[0]
				       : (unsigned char)b[0] & (0xffu >> (n + 1));
		for (size_t k = 1; k < n; k++)
			back = (back << 6) | ((unsigned char)b[k] & 0x3f);
		assert_int_equal(back, cp);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_utf8_table),
		cmocka_unit_test(test_utf8_every_short_input),
		cmocka_unit_test(test_utf8_four_bytes),
		cmocka_unit_test(test_utf8_encode),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
