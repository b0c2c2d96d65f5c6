/* unit tests of src/dns/rdata.c: the decoders of untrusted RDATA */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dns/rdata.h"

#define RD(s) (const unsigned char *)(s), sizeof(s) - 1

static void test_name_valid(void **state)
{
	static const struct {
		const char *wire;
		size_t len;
		const char *text;
	} cases[] = {
		{ "\0", 1, "." },
		{ "\3com\0", 5, "com" },
		{ "\3mx1\7example\4test\0", 18, "mx1.example.test" },
		{ "\1*\3foo\0", 7, "*.foo" },
		{ "\3a.b\3c\\d\0", 9, "a\\046b.c\\092d" },
		{ "\2\x01 \0", 4, "\\001\\032" },
		{ "\5_dkim\0", 7, "_dkim" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *name = NULL;
		assert_int_equal(dns_rdata_name((const unsigned char *)cases[i].wire, cases[i].len,
						NULL, &name), 0);
		assert_string_equal(name, cases[i].text);
		free(name);
	}
}

static void test_name_invalid(void **state)
{
	static const struct {
		const char *wire;
		size_t len;
	} cases[] = {
		{ "", 0 },                    /* empty */
		{ "\3com", 4 },               /* no terminator */
		{ "\4com\0", 5 },             /* label past the end */
		{ "\xc0\x0c", 2 },            /* compression pointer */
		{ "\x40" "abc\0", 5 },        /* extended label type */
		{ "\x80" "abc\0", 5 },
		{ "\3com\0x", 6 },            /* trailing octet */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *name = NULL;
		assert_int_equal(dns_rdata_name((const unsigned char *)cases[i].wire, cases[i].len,
						NULL, &name), -1);
		assert_null(name);
	}
}

static void test_name_length_limit(void **state)
{
	/* 4 labels of 63 = 256 octets + root: over RFC 1035's 255 */
	unsigned char wire[300];
	size_t n = 0;
	for (int l = 0; l < 4; l++) {
		wire[n++] = 63;
		memset(wire + n, 'a', 63);
		n += 63;
	}
	wire[n++] = 0;
	char *name = NULL;
	assert_int_equal(dns_rdata_name(wire, n, NULL, &name), -1);
	/* 3 of 63 + one of 61 + root = 255: the longest legal name */
	wire[3 * 64] = 61;
	wire[3 * 64 + 62] = 0;
	assert_int_equal(dns_rdata_name(wire, 255, NULL, &name), 0);
	assert_int_equal(strlen(name), 63 * 3 + 61 + 3);
	free(name);
}

static void test_name_prefix(void **state)
{
	size_t used = 0;
	char *name = NULL;
	assert_int_equal(dns_rdata_name(RD("\1a\0rest"), &used, &name), 0);
	assert_int_equal(used, 3);
	assert_string_equal(name, "a");
	free(name);
}

static void test_txt(void **state)
{
	char *text = NULL;
	size_t len = 0;
	assert_int_equal(dns_rdata_txt(RD("\5v=spf\0041 -a\2ll"), &text, &len), 0);
	assert_string_equal(text, "v=spf1 -all");
	assert_int_equal(len, 11);
	free(text);
	assert_int_equal(dns_rdata_txt(RD("\0"), &text, &len), 0);   /* one empty string */
	assert_string_equal(text, "");
	assert_int_equal(len, 0);
	free(text);

	unsigned char big[3 * 256];
	size_t n = 0;
	for (int s = 0; s < 3; s++) {
		big[n++] = 255;
		memset(big + n, 'k' + s, 255);
		n += 255;
	}
	assert_int_equal(dns_rdata_txt(big, n, &text, &len), 0);
	assert_int_equal(len, 765);
	assert_int_equal(strlen(text), 765);
	assert_int_equal(text[254], 'k');
	assert_int_equal(text[255], 'l');
	free(text);

	text = NULL;
	assert_int_equal(dns_rdata_txt(RD("\6short"), &text, &len), -1);   /* string past end */
	assert_null(text);
	/* a NUL octet is kept and counted: SPF, DKIM and DMARC refuse it as syntax */
	assert_int_equal(dns_rdata_txt(RD("\3a\0b"), &text, &len), 0);
	assert_int_equal(len, 3);
	assert_memory_equal(text, "a\0b", 4);
	free(text);
}

static void test_mx(void **state)
{
	unsigned pref = 99;
	char *name = NULL;
	assert_int_equal(dns_rdata_mx(RD("\0\12\3mx1\4test\0"), &pref, &name), 0);
	assert_int_equal(pref, 10);
	assert_string_equal(name, "mx1.test");
	free(name);
	assert_int_equal(dns_rdata_mx(RD("\xff\xff\0"), &pref, &name), 0);
	assert_int_equal(pref, 65535);
	assert_string_equal(name, ".");
	free(name);
	name = NULL;
	assert_int_equal(dns_rdata_mx(RD("\0\12"), &pref, &name), -1);
	assert_int_equal(dns_rdata_mx(RD("\0\12\3mx1"), &pref, &name), -1);
	assert_int_equal(dns_rdata_mx(RD("\0\12\0\0"), &pref, &name), -1);
	assert_null(name);
}

/* RFC 7505 3: exactly one record, preference 0, exchange the root */
static void test_null_mx(void **state)
{
	unsigned pref;
	char *name = NULL;
	assert_int_equal(dns_rdata_mx(RD("\0\0\0"), &pref, &name), 0);
	assert_true(dns_mx_is_null(1, pref, name));
	assert_false(dns_mx_is_null(2, pref, name));
	assert_false(dns_mx_is_null(1, 10, name));
	free(name);
	assert_false(dns_mx_is_null(1, 0, "mx.test"));
}

static void test_address(void **state)
{
	char *text = NULL;
	assert_int_equal(dns_rdata_address(RD("\177\0\0\2"), &text), 0);
	assert_string_equal(text, "127.0.0.2");
	free(text);
	assert_int_equal(dns_rdata_address(
		RD("\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\1"), &text), 0);
	assert_string_equal(text, "2001:db8::1");
	free(text);
	text = NULL;
	assert_int_equal(dns_rdata_address(RD("\1\2\3"), &text), -1);
	assert_int_equal(dns_rdata_address(RD("\1\2\3\4\5"), &text), -1);
	assert_null(text);
}

static void test_reverse_name(void **state)
{
	char *name = NULL;
	assert_int_equal(dns_reverse_name("192.0.2.1", &name), 0);
	assert_string_equal(name, "1.2.0.192.in-addr.arpa");
	free(name);
	assert_int_equal(dns_reverse_name("2001:db8::1", &name), 0);
	assert_string_equal(name, "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0."
				  "8.b.d.0.1.0.0.2.ip6.arpa");
	free(name);
	assert_int_equal(dns_reverse_name("mx.test", &name), -1);
	assert_int_equal(dns_reverse_name("1.2.3", &name), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name_valid),
		cmocka_unit_test(test_name_invalid),
		cmocka_unit_test(test_name_length_limit),
		cmocka_unit_test(test_name_prefix),
		cmocka_unit_test(test_txt),
		cmocka_unit_test(test_mx),
		cmocka_unit_test(test_null_mx),
		cmocka_unit_test(test_address),
		cmocka_unit_test(test_reverse_name),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
