/* test-siphash - SipHash-2-4 (src/util/siphash.c) against the paper's test
 * vectors: key 00 01 .. 0f, messages 00 01 .. (n-1); the 15-byte one is the
 * worked example of the paper's appendix A (a129ca6149be45e5). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "util/siphash.h"

static void test_siphash_vectors(void **state)
{
	(void)state;
	static const struct {
		size_t len;
		uint64_t out;
	} cases[] = {
		{ 0, 0x726fdb47dd0e0e31ULL },
		{ 1, 0x74f839c593dc67fdULL },
		{ 2, 0x0d6c8009d9a94f5aULL },
		{ 7, 0xab0200f58b01d137ULL },
		{ 8, 0x93f5f5799a932462ULL },
		{ 15, 0xa129ca6149be45e5ULL },
		{ 63, 0x958a324ceb064572ULL },
	};
	unsigned char key[SIPHASH_KEY_LEN], msg[64];
	for (unsigned i = 0; i < sizeof(key); i++)
		key[i] = (unsigned char)i;
	for (unsigned i = 0; i < sizeof(msg); i++)
		msg[i] = (unsigned char)i;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_true(siphash24(key, msg, cases[i].len) == cases[i].out);
}

static void test_siphash_key_matters(void **state)
{
	(void)state;
	unsigned char k1[SIPHASH_KEY_LEN] = { 0 }, k2[SIPHASH_KEY_LEN] = { 1 };
	assert_true(siphash24(k1, "abc", 3) != siphash24(k2, "abc", 3));
}

/* pieces of every split of the 63-byte vector, and one byte at a time,
 * give the one-call hash */
static void test_siphash_pieces(void **state)
{
	(void)state;
	unsigned char key[SIPHASH_KEY_LEN], msg[64];
	for (unsigned i = 0; i < sizeof(key); i++)
		key[i] = (unsigned char)i;
	for (unsigned i = 0; i < sizeof(msg); i++)
		msg[i] = (unsigned char)i;
	struct siphash sip;
	for (size_t a = 0; a <= 63; a++) {
		for (size_t b = a; b <= 63; b++) {
			siphash24_init(&sip, key);
			siphash24_update(&sip, msg, a);
			siphash24_update(&sip, msg + a, b - a);
			siphash24_update(&sip, msg + b, 63 - b);
			assert_true(siphash24_final(&sip) == 0x958a324ceb064572ULL);
		}
	}
	for (size_t len = 0; len <= 15; len++) {
		siphash24_init(&sip, key);
		for (size_t i = 0; i < len; i++)
			siphash24_update(&sip, msg + i, 1);
		assert_true(siphash24_final(&sip) == siphash24(key, msg, len));
	}
	assert_true(siphash24(key, msg, 15) == 0xa129ca6149be45e5ULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_siphash_vectors),
		cmocka_unit_test(test_siphash_key_matters),
		cmocka_unit_test(test_siphash_pieces),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
