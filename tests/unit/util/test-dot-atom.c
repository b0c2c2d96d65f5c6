/* tests/unit/util/test-dot-atom - dot_atom_is_valid with and without
 * DOT_ATOM_UTF8, each text in a block of exactly its size. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "util/dot-atom.h"

static bool dot_atom_check(const char *text, unsigned flags)
{
	size_t len = strlen(text);
	char *copy = malloc(len ? len : 1);
	assert_non_null(copy);
	memcpy(copy, text, len);
	bool ok = dot_atom_is_valid(copy, len, flags);
	free(copy);
	return ok;
}

static void test_dot_atom(void **state)
{
	static const struct {
		const char *text;
		bool ascii, utf8;
	} cases[] = {
		{ "you", true, true },
		{ "first.last", true, true },
		{ "a!#$%&'*+-/=?^_`{|}~z", true, true },
		{ "x", true, true },
		{ "", false, false },
		{ ".you", false, false },
		{ "you.", false, false },
		{ "a..b", false, false },
		{ ".", false, false },
		{ "a b", false, false },
		{ "a@b", false, false },
		{ "a\"b", false, false },
		{ "a(b)", false, false },
		{ "j\xc3\xb6rg", false, true },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(dot_atom_check(cases[i].text, 0), cases[i].ascii);
		assert_int_equal(dot_atom_check(cases[i].text, DOT_ATOM_UTF8), cases[i].utf8);
	}
	/* a NUL inside is not atext */
	assert_false(dot_atom_is_valid("a\0b", 3, DOT_ATOM_UTF8));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dot_atom),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
