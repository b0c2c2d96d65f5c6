/* tests/unit/http/test-form - HTML form bodies and cookies (http/form.h):
 * tables of accepted and refused inputs, each read from a buffer of
 * exactly its length (ASan sees a read past it), and every prefix of
 * each accepted one read too: a parser that looks past its end or keeps
 * state between calls shows there. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/form.h"

static const struct http_form_limits limits = { .fields = 4, .field_size = 16 };

struct form_case {
	const char *body;
	const char *want;     /* accepted: "name=value|..." decoded; NULL: refused */
};

static const struct form_case forms[] = {
	{ "", "" },
	{ "&&", "" },
	{ "a=1", "a=1|" },
	{ "a=1&b=x+y%21", "a=1|b=x y!|" },
	{ "email=a%40b.example&password=p%26q%3Dr", "email=a@b.example|password=p&q=r|" },
	{ "a", "a=|" },
	{ "a=", "a=|" },
	{ "a==", "a==|" },
	{ "&a=1&&b=2&", "a=1|b=2|" },
	{ "n%61me=%C3%A9", "name=\xc3\xa9|" },
	{ "a=%3c%2FB%3E", "a=</B>|" },
	{ "a=1&b=2&c=3&d=4", "a=1|b=2|c=3|d=4|" },
	{ "a=0123456789abcdef", "a=0123456789abcdef|" },
	{ "a=1&b=2&c=3&d=4&e=5", NULL },        /* over the count */
	{ "a=0123456789abcdefg", NULL },         /* over the size, as sent */
	{ "=1", NULL },
	{ "a=1&a=2", NULL },
	{ "a=1&%61=2", NULL },                    /* the same name once decoded */
	{ "a=%", NULL },
	{ "a=%4", NULL },
	{ "a=%4g", NULL },
	{ "a=%00", NULL },
	{ "a=%0D%0A", NULL },
	{ "a=%09", NULL },
	{ "a=\x01", NULL },
	{ "a=%7F", NULL },
	{ "a=%C3", NULL },                        /* a truncated UTF-8 sequence */
	{ "a=%C0%AF", NULL },                     /* overlong */
	{ "a=\xff", NULL },
};

/* describe - the form as the table writes it */
static void describe(const struct http_form *form, char *buf, size_t size)
{
	size_t n = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < form->count; i++)
		n += (size_t)snprintf(buf + n, size - n, "%s=%s|", form->fields[i].name,
				      form->fields[i].value);
}

/* parse_exact - BODY[0..LEN) parsed from a buffer of exactly LEN octets */
static int parse_exact(const char *body, size_t len, struct http_form *form,
		       const char **error)
{
	char *copy = malloc(len ? len : 1);
	memcpy(copy, body, len);
	int rc = http_form_parse(copy, len, &limits, form, error);
	free(copy);
	return rc;
}

static void test_forms(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		const struct form_case *c = &forms[i];
		struct http_form form;
		const char *error = NULL;
		int rc = parse_exact(c->body, strlen(c->body), &form, &error);
		if (!c->want) {
			if (rc != -1)
				fail_msg("accepted: %s", c->body);
			assert_non_null(error);
			continue;
		}
		if (rc != 0)
			fail_msg("refused: %s (%s)", c->body, error);
		char got[256];
		describe(&form, got, sizeof(got));
		assert_string_equal(got, c->want);
		http_form_clear(&form);
		assert_int_equal(form.count, 0);
	}
}

/* test_form_prefixes - every prefix of an accepted body is read (or
 * refused) on its own, without reading past it */
static void test_form_prefixes(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		if (!forms[i].want)
			continue;
		for (size_t len = 0; len <= strlen(forms[i].body); len++) {
			struct http_form form;
			const char *error = NULL;
			if (parse_exact(forms[i].body, len, &form, &error) == 0)
				http_form_clear(&form);
			else
				assert_non_null(error);
		}
	}
}

static void test_form_get(void **state)
{
	(void)state;
	struct http_form form;
	const char *error = NULL;
	assert_int_equal(http_form_parse("a=1&bb=&c=%20", 13, &limits, &form, &error), 0);
	assert_string_equal(http_form_get(&form, "a"), "1");
	assert_string_equal(http_form_get(&form, "bb"), "");
	assert_string_equal(http_form_get(&form, "c"), " ");
	assert_null(http_form_get(&form, "b"));
	assert_null(http_form_get(&form, "A"));
	http_form_clear(&form);
}

struct cookie_case {
	const char *header;
	const char *name;
	int rc;
	const char *value;
};

static const struct cookie_case cookies[] = {
	{ "s=abc", "s", 1, "abc" },
	{ "a=1; s=abc; b=2", "s", 1, "abc" },
	{ "a=1;s=abc", "s", 1, "abc" },
	{ "a=1 ;  s=abc  ", "s", 1, "abc" },
	{ "s=\"abc\"", "s", 1, "abc" },
	{ "s=", "s", 1, "" },
	{ "__Host-s=x.y-z_1", "__Host-s", 1, "x.y-z_1" },
	{ "ss=1; xs=2", "s", 0, NULL },
	{ "s", "s", 0, NULL },
	{ "S=1", "s", 0, NULL },
	{ "", "s", 0, NULL },
	{ " ; ;", "s", 0, NULL },
	{ "a=1; s=abc; s=abd", "s", -1, NULL },
	{ "s=1; s=1", "s", -1, NULL },
	{ "s=a b", "s", -1, NULL },
	{ "s=a\"b", "s", -1, NULL },
	{ "s=a\\b", "s", -1, NULL },
	{ "s=a,b", "s", -1, NULL },
	{ "s=\x80", "s", -1, NULL },
	{ "s=\"", "s", -1, NULL },
	{ "t=a b; s=ok", "s", 1, "ok" },          /* another cookie's value is not ours to judge */
};

static void test_cookies(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cookies) / sizeof(cookies[0]); i++) {
		const struct cookie_case *c = &cookies[i];
		size_t len = strlen(c->header);
		char *copy = malloc(len ? len : 1);
		memcpy(copy, c->header, len);
		char *value = NULL;
		const char *error = NULL;
		int rc = http_cookie_get(copy, len, c->name, &value, &error);
		free(copy);
		if (rc != c->rc)
			fail_msg("%s: %d, not %d", c->header, rc, c->rc);
		if (rc == 1)
			assert_string_equal(value, c->value);
		if (rc == -1)
			assert_non_null(error);
		free(value);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_forms),
		cmocka_unit_test(test_form_prefixes),
		cmocka_unit_test(test_form_get),
		cmocka_unit_test(test_cookies),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
