/* tests/unit/http/test-page - the web pages' layout (lang, charset, one h1 with the escaped
 * title, the main part as given). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "http/page.h"

static void test_layout(void **state)
{
	(void)state;
	struct buf out;
	buf_init(&out);
	http_page_render(&out, "Sign <up>", "<p>body</p>\n");
	buf_append(&out, "", 1);
	const char *page = out.data;
	assert_true(strncmp(page, "<!DOCTYPE html>\n<html lang=\"en\">", 32) == 0);
	assert_non_null(strstr(page, "<meta charset=\"utf-8\">"));
	assert_non_null(strstr(page, "<title>Sign &lt;up&gt; - Petrel</title>"));
	assert_non_null(strstr(page, "<h1>Sign &lt;up&gt;</h1>\n<p>body</p>\n</main>"));
	assert_null(strstr(page, "<up>"));
	assert_null(strstr(page, "<script"));
	assert_null(strstr(page, "http"));   /* nothing fetched from elsewhere */
	buf_free(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layout),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
