/* tests/unit/util/test-domain - domain_name_is_valid: one table of names,
 * each judged under every flag set its callers use (the configuration: none
 * or ABSOLUTE; the store and Maildir paths: ULABEL; SMTP paths:
 * ULABEL|ANY_LENGTH, with ABSOLUTE before '>'), each name in a block of
 * exactly its size. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/domain.h"

#define U DOMAIN_NAME_ULABEL
#define A DOMAIN_NAME_ABSOLUTE
#define N DOMAIN_NAME_ANY_LENGTH

/* The flag sets tried on every name, in the order of the columns below. */
static const unsigned flag_sets[] = { 0, A, U, U | N, U | N | A };
#define SETS (sizeof(flag_sets) / sizeof(flag_sets[0]))

struct domain_case {
	const char *name;     /* NULL: built by the test (long names) */
	bool ok[SETS];        /* -, A, U, U|N, U|N|A */
};

static const struct domain_case cases[] = {
	{ "example.test",        { 1, 1, 1, 1, 1 } },
	{ "a",                   { 1, 1, 1, 1, 1 } },
	{ "0.9-x.y",             { 1, 1, 1, 1, 1 } },  /* digits first (RFC 1123) */
	{ "a-b.c",               { 1, 1, 1, 1, 1 } },
	{ "Example.TEST",        { 1, 1, 1, 1, 1 } },
	{ "example.test.",       { 0, 1, 0, 0, 1 } },
	{ "example.test..",      { 0, 0, 0, 0, 0 } },
	{ ".",                   { 0, 0, 0, 0, 0 } },
	{ "",                    { 0, 0, 0, 0, 0 } },
	{ ".example",            { 0, 0, 0, 0, 0 } },
	{ "a..b",                { 0, 0, 0, 0, 0 } },
	{ "-a.b",                { 0, 0, 0, 0, 0 } },
	{ "a-.b",                { 0, 0, 0, 0, 0 } },
	{ "a.-b",                { 0, 0, 0, 0, 0 } },
	{ "a.b-",                { 0, 0, 0, 0, 0 } },
	{ "a.b-.",               { 0, 0, 0, 0, 0 } },
	{ "a_b.c",               { 0, 0, 0, 0, 0 } },
	{ "a b",                 { 0, 0, 0, 0, 0 } },
	{ "a@b",                 { 0, 0, 0, 0, 0 } },
	{ "caf\xc3\xa9.test",    { 0, 0, 1, 1, 1 } },  /* U-label */
	{ "\xc3\xa9-x.test",     { 0, 0, 1, 1, 1 } },
	{ "caf\xc3.test",        { 0, 0, 0, 0, 0 } },  /* cut short */
	{ "\xed\xa0\x80.test",   { 0, 0, 0, 0, 0 } },  /* surrogate */
	{ "\xc0\xaf.test",       { 0, 0, 0, 0, 0 } },  /* overlong */
	{ "caf\xc3\xa9.test.",   { 0, 0, 0, 0, 1 } },
};

static void check(const char *name, size_t len, const bool ok[SETS])
{
	char *s = malloc(len ? len : 1);
	assert_non_null(s);
	memcpy(s, name, len);
	for (size_t k = 0; k < SETS; k++) {
		if (domain_name_is_valid(s, len, flag_sets[k]) != ok[k])
			fail_msg("\"%.*s\" flags %#x: want %d", (int)len, name, flag_sets[k],
				 ok[k]);
	}
	free(s);
}

static void test_domain_table(void **state)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check(cases[i].name, strlen(cases[i].name), cases[i].ok);
	/* a NUL is never part of a name, even with a length around it */
	check("a\0b", 3, (bool[SETS]){ 0, 0, 0, 0, 0 });
}

/* test_domain_lengths - labels of 63 and 64 octets; names of 253 and 254
 * octets (255 with a trailing dot), which only ANY_LENGTH lets through */
static void test_domain_lengths(void **state)
{
	char name[300];

	memset(name, 'a', 63);
	check(name, 63, (bool[SETS]){ 1, 1, 1, 1, 1 });
	memset(name, 'a', 64);
	check(name, 64, (bool[SETS]){ 0, 0, 0, 0, 0 });
	/* four labels: 63.63.63.61 = 253 octets */
	for (size_t i = 0; i < 253; i++)
		name[i] = (i == 63 || i == 127 || i == 191) ? '.' : 'b';
	check(name, 253, (bool[SETS]){ 1, 1, 1, 1, 1 });
	name[253] = '.';
	check(name, 254, (bool[SETS]){ 0, 1, 0, 0, 1 });
	name[253] = 'b';
	check(name, 254, (bool[SETS]){ 0, 0, 0, 1, 1 });
	name[254] = '.';
	check(name, 255, (bool[SETS]){ 0, 0, 0, 0, 1 });
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_domain_table),
		cmocka_unit_test(test_domain_lengths),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
