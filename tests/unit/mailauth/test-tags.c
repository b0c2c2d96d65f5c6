/* tests/unit/mailauth/test-tags - mailauth_tags_parse and mailauth_tags_find
 * (RFC 6376 3.2).  Each case is parsed from an exactly-sized copy, so that
 * AddressSanitizer catches an overread, and every prefix of it is parsed too
 * (a prefix may be valid or not; it must not overread). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mailauth/mailauth.h"

#define MAX_TAGS 8

struct tag_case {
	const char *input;
	int count;                  /* -1: invalid */
	const char *tags[MAX_TAGS][2];
};

static const struct tag_case cases[] = {
	{ "v=1", 1, { { "v", "1" } } },
	{ "v=DMARC1; p=none", 2, { { "v", "DMARC1" }, { "p", "none" } } },
	/* a trailing ";", and FWS after it */
	{ "v=DMARC1; p=none;", 2, { { "v", "DMARC1" }, { "p", "none" } } },
	{ "v=DMARC1; p=none; ", 2, { { "v", "DMARC1" }, { "p", "none" } } },
	/* FWS around "=" and ";" is trimmed, inner FWS kept */
	{ " a = b c ;\tb_1=\r\n x\r\n\ty ", 2, { { "a", "b c" }, { "b_1", "x\r\n\ty" } } },
	{ "a=b\n c", 1, { { "a", "b\n c" } } },
	/* empty values */
	{ "a=;b=", 2, { { "a", "" }, { "b", "" } } },
	{ "a=  ; b=", 2, { { "a", "" }, { "b", "" } } },
	/* VALCHAR: "=" and all printable ASCII but ";" */
	{ "p=MIGf+/==; h=from:to", 2, { { "p", "MIGf+/==" }, { "h", "from:to" } } },
	{ "n=!\"#$%&'()*+,-./:<=>?@[\\]^_`{|}~", 1,
	  { { "n", "!\"#$%&'()*+,-./:<=>?@[\\]^_`{|}~" } } },
	/* RFC 8616: UTF-8 in values */
	{ "i=\xc3\xa9@example.com", 1, { { "i", "\xc3\xa9@example.com" } } },
	/* names are case-sensitive: these are two tags */
	{ "a=1; A=2", 2, { { "a", "1" }, { "A", "2" } } },
	{ "abc_9=x", 1, { { "abc_9", "x" } } },
	/* empty and all-FWS lists have no tags */
	{ "", 0, { { 0 } } },
	{ " \r\n ", 0, { { 0 } } },
	/* invalid */
	{ "a=1; a=2", -1, { { 0 } } },          /* duplicate */
	{ "a", -1, { { 0 } } },
	{ "a b=1", -1, { { 0 } } },
	{ "=1", -1, { { 0 } } },
	{ "1a=1", -1, { { 0 } } },
	{ "_a=1", -1, { { 0 } } },
	{ "a-b=1", -1, { { 0 } } },
	{ "a=1;;b=2", -1, { { 0 } } },          /* empty tag-spec */
	{ ";", -1, { { 0 } } },
	{ "a=1;;", -1, { { 0 } } },
	{ "a=1\r\n", -1, { { 0 } } },           /* CRLF without WSP after it */
	{ "a=1\r\n;b=2", -1, { { 0 } } },
	{ "a=1\rb", -1, { { 0 } } },            /* bare CR */
	{ "a=b\x7f", -1, { { 0 } } },
	{ "a=b\x01", -1, { { 0 } } },
	{ "a\r\n=b", -1, { { 0 } } },
	/* nine tags, one more than MAX_TAGS */
	{ "a=1;b=2;c=3;d=4;e=5;f=6;g=7;h=8;i=9", -1, { { 0 } } },
	{ "a=1;b=2;c=3;d=4;e=5;f=6;g=7;h=8", 8,
	  { { "a", "1" }, { "b", "2" }, { "c", "3" }, { "d", "4" }, { "e", "5" }, { "f", "6" },
	    { "g", "7" }, { "h", "8" } } },
};

static char *dup_exact(const char *s, size_t len)
{
	char *p = malloc(len ? len : 1);
	assert_non_null(p);
	if (len)
		memcpy(p, s, len);
	return p;
}

static void test_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct tag_case *c = &cases[i];
		size_t len = strlen(c->input);
		char *text = dup_exact(c->input, len);
		struct mailauth_tag tags[MAX_TAGS];
		const char *error = NULL;
		int n = mailauth_tags_parse(text, len, tags, MAX_TAGS, &error);
		if (n != c->count)
			fail_msg("case %zu \"%s\": %d tags, expected %d (%s)", i, c->input, n,
				 c->count, error ? error : "");
		if (n < 0)
			assert_non_null(error);
		for (int k = 0; k < n; k++) {
			const char *name = c->tags[k][0], *value = c->tags[k][1];
			if (tags[k].name_len != strlen(name) ||
			    memcmp(tags[k].name, name, tags[k].name_len) != 0 ||
			    tags[k].value_len != strlen(value) ||
			    memcmp(tags[k].value, value, tags[k].value_len) != 0)
				fail_msg("case %zu \"%s\": tag %d is \"%.*s\"=\"%.*s\"", i,
					 c->input, k, (int)tags[k].name_len, tags[k].name,
					 (int)tags[k].value_len, tags[k].value);
		}
		free(text);
		/* every prefix, exactly sized: no overread, and the count
		 * never exceeds the whole input's */
		for (size_t plen = 0; plen < len; plen++) {
			char *prefix = dup_exact(c->input, plen);
			n = mailauth_tags_parse(prefix, plen, tags, MAX_TAGS, &error);
			assert_true(n <= MAX_TAGS);
			free(prefix);
		}
	}
}

static void test_find(void **state)
{
	(void)state;
	const char *text = "v=DKIM1; k=rsa; p=abc; P=upper";
	struct mailauth_tag tags[MAX_TAGS];
	const char *error = NULL;
	int n = mailauth_tags_parse(text, strlen(text), tags, MAX_TAGS, &error);
	assert_int_equal(n, 4);
	const struct mailauth_tag *t = mailauth_tags_find(tags, (size_t)n, "p");
	assert_non_null(t);
	assert_int_equal(t->value_len, 3);
	assert_memory_equal(t->value, "abc", 3);
	t = mailauth_tags_find(tags, (size_t)n, "P");
	assert_non_null(t);
	assert_memory_equal(t->value, "upper", 5);
	assert_null(mailauth_tags_find(tags, (size_t)n, "h"));
	/* a prefix of a name is not the name */
	assert_null(mailauth_tags_find(tags, (size_t)n, ""));
	n = mailauth_tags_parse("kk=1", 4, tags, MAX_TAGS, &error);
	assert_int_equal(n, 1);
	assert_null(mailauth_tags_find(tags, 1, "k"));
	assert_null(mailauth_tags_find(tags, 0, "kk"));
}

/* a NUL inside the text is data, not its end */
static void test_embedded_nul(void **state)
{
	(void)state;
	struct mailauth_tag tags[MAX_TAGS];
	const char *error = NULL;
	assert_int_equal(mailauth_tags_parse("a=1\0b=2", 7, tags, MAX_TAGS, &error), -1);
	assert_int_equal(mailauth_tags_parse("a=1;\0", 5, tags, MAX_TAGS, &error), -1);
	assert_int_equal(mailauth_tags_parse("a=1;b=2", 3, tags, MAX_TAGS, &error), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_find),
		cmocka_unit_test(test_embedded_nul),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
