/* tests/unit/util/test-markup - markup_escape and markup_escape_lines: the
 * five specials, control characters and broken UTF-8, and the line ends
 * the second keeps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <string.h>

#include "util/buf.h"
#include "util/markup.h"

static void check(const char *in, size_t len, bool lines, const char *want)
{
	struct buf out;
	buf_init(&out);
	if (lines)
		markup_escape_lines(&out, in, len);
	else
		markup_escape(&out, in, len);
	buf_append(&out, "", 1);
	assert_string_equal(out.data, want);
	buf_free(&out);
}

static void test_markup(void **state)
{
	static const struct {
		const char *in;
		const char *plain, *lines;
	} cases[] = {
		{ "<a href=\"x\">&'</a>", "&lt;a href=&quot;x&quot;&gt;&amp;&apos;&lt;/a&gt;",
		  "&lt;a href=&quot;x&quot;&gt;&amp;&apos;&lt;/a&gt;" },
		{ "a\r\nb\nc\td", "a??b?c?d", "a\nb\nc\td" },
		{ "bare\rcr\r", "bare?cr?", "bare?cr?" },
		{ "\x01\x7f caf\xc3\xa9 \xc3(", "?? caf\xc3\xa9 ?(", "?? caf\xc3\xa9 ?(" },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		check(cases[i].in, strlen(cases[i].in), false, cases[i].plain);
		check(cases[i].in, strlen(cases[i].in), true, cases[i].lines);
	}
	check("a\0b", 3, true, "a?b");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_markup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
