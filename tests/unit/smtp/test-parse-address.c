/* tests/unit/smtp/test-parse-address - smtp_path_parse, table driven, with
 * every prefix of every case checked for over-reads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>

#include "smtp/parse.h"
#include "test-util.h"

#define NUL_OK   SMTP_PATH_ALLOW_NULL
#define UTF8     SMTP_PATH_ALLOW_UTF8
#define PM       SMTP_PATH_POSTMASTER
#define SENDER   SMTP_PATH_SENDER

struct path_case {
	const char *in;
	unsigned flags;
	int ret;              /* 0 or the error code */
	const char *result;   /* address on success, enhanced code on error */
	size_t local_len;
	bool is_utf8;
	size_t consumed;      /* 0 = the whole input */
};

/* 64-octet local part, 63-octet labels */
#define L64 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define D63 "ddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"
/* 1 + 1 + 252 + 2 brackets = 256 octets */
#define D252 D63 "." D63 "." D63 "." "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"

static const struct path_case path_cases[] = {
	/* valid */
	{ "<a@b.com>", 0, 0, "a@b.com", 1, false, 0 },
	{ "<A.B@Example.COM>", 0, 0, "A.B@Example.COM", 3, false, 0 },
	{ "<a+tag/x=y!#$%&'*-?^_`{|}~@x-y.example>", 0, 0,
	  "a+tag/x=y!#$%&'*-?^_`{|}~@x-y.example", 25, false, 0 },
	{ "<\"a b\"@x.org>", 0, 0, "\"a b\"@x.org", 5, false, 0 },
	{ "<\"a\\\"b@c\"@x.org>", 0, 0, "\"a\\\"b@c\"@x.org", 8, false, 0 },
	{ "<\"\"@x.org>", 0, 0, "\"\"@x.org", 2, false, 0 },
	{ "<\"a>b\"@x.org> SIZE=1", 0, 0, "\"a>b\"@x.org", 5, false, 13 },
	{ "<@r1.example,@r2.example:u@d.example>", 0, 0, "u@d.example", 1,
	  false, 0 },
	{ "<@r1.example:u@d.example>", 0, 0, "u@d.example", 1, false, 0 },
	{ "<u@[192.0.2.1]>", 0, 0, "u@[192.0.2.1]", 1, false, 0 },
	{ "<u@[255.255.0.0]>", 0, 0, "u@[255.255.0.0]", 1, false, 0 },
	{ "<u@[IPv6:2001:db8::1]>", 0, 0, "u@[IPv6:2001:db8::1]", 1, false, 0 },
	{ "<u@[ipv6:::1]>", 0, 0, "u@[ipv6:::1]", 1, false, 0 },
	{ "<u@[IPv6:::ffff:192.0.2.1]>", 0, 0, "u@[IPv6:::ffff:192.0.2.1]", 1,
	  false, 0 },
	{ "<u@123.example>", 0, 0, "u@123.example", 1, false, 0 },
	{ "<u@localhost>", 0, 0, "u@localhost", 1, false, 0 },
	{ "<>", NUL_OK, 0, "", 0, false, 0 },
	{ "<> SIZE=10", NUL_OK, 0, "", 0, false, 2 },
	{ "<a@b>trailing", 0, 0, "a@b", 1, false, 5 },
	{ "<Postmaster>", PM, 0, "Postmaster", 10, false, 0 },
	{ "<postMASTER>", PM, 0, "postMASTER", 10, false, 0 },
	{ "<Postmaster@example.org>", PM, 0, "Postmaster@example.org", 10,
	  false, 0 },
	{ "<jos\xc3\xa9@ex\xc3\xa4mple.org>", UTF8, 0,
	  "jos\xc3\xa9@ex\xc3\xa4mple.org", 5, true, 0 },
	{ "<\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf"
	  "\xe5\x91\x8a>", UTF8, 0,
	  "\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf"
	  "\xe5\x91\x8a", 6, true, 0 },
	{ "<\"\xf0\x9f\x98\x80 x\"@x.org>", UTF8, 0,
	  "\"\xf0\x9f\x98\x80 x\"@x.org", 8, true, 0 },
	{ "<a@b.com>", UTF8, 0, "a@b.com", 1, false, 0 },
	{ "<" L64 "@x.org>", 0, 0, L64 "@x.org", 64, false, 0 },
	{ "<a@" D63 ".org>", 0, 0, "a@" D63 ".org", 1, false, 0 },
	{ "<a@" D252 ">", 0, 0, "a@" D252, 1, false, 0 },
	/* a quoted local part that needs no quotes is stored unquoted
	 * (RFC 5321 4.1.2, RFC 5322 3.4.1); one that does keeps them, with
	 * only DQUOTE and backslash escaped */
	{ "<\"you\"@x.org>", 0, 0, "you@x.org", 3, false, 0 },
	{ "<\"y\\ou\"@x.org>", 0, 0, "you@x.org", 3, false, 0 },
	{ "<\"a.b+c\"@x.org> SIZE=1", 0, 0, "a.b+c@x.org", 5, false, 15 },
	{ "<\"Postmaster\"@example.org>", PM, 0, "Postmaster@example.org", 10,
	  false, 0 },
	{ "<\"a\\ b\"@x.org>", 0, 0, "\"a b\"@x.org", 5, false, 0 },
	{ "<\"a..b\"@x.org>", 0, 0, "\"a..b\"@x.org", 6, false, 0 },
	{ "<\".a\"@x.org>", 0, 0, "\".a\"@x.org", 4, false, 0 },
	{ "<\"a@b\"@x.org>", 0, 0, "\"a@b\"@x.org", 5, false, 0 },
	{ "<\"\\\\\"@x.org>", 0, 0, "\"\\\\\"@x.org", 4, false, 0 },
	{ "<\"jos\xc3\xa9\"@x.org>", UTF8, 0, "jos\xc3\xa9@x.org", 5, true, 0 },
	/* one trailing dot of the domain is dropped (RFC 1034 3.1 absolute
	 * name); two are an empty label */
	{ "<a@b.com.>", 0, 0, "a@b.com", 1, false, 0 },
	{ "<a@b.com.> SIZE=1", 0, 0, "a@b.com", 1, false, 10 },
	{ "<\"you\"@Example.TEST.>", 0, 0, "you@Example.TEST", 3, false, 0 },
	{ "<Postmaster@example.org.>", PM, 0, "Postmaster@example.org", 10,
	  false, 0 },

	/* invalid */
	{ "", 0, 501, "5.1.3", 0, false, 0 },
	{ "<", 0, 501, "5.1.3", 0, false, 0 },
	{ "<a@b", 0, 501, "5.1.3", 0, false, 0 },
	{ "<a@b", SENDER, 501, "5.1.7", 0, false, 0 },
	{ "a@b", 0, 501, "5.1.3", 0, false, 0 },
	{ "<@>", 0, 501, "5.1.3", 0, false, 0 },
	{ "<a@>", 0, 501, "5.1.3", 0, false, 0 },
	{ "<@b>", 0, 501, "5.1.3", 0, false, 0 },
	{ "<a>", 0, 501, "5.1.3", 0, false, 0 },
	{ "<a@-b.com>", 0, 501, "5.1.3", 0, false, 0 },
	{ "<a@b-.com>", 0, 501, "5.1.3", 0, false, 0 },
	{ "<a@b_c.com>", 0, 501, "5.1.3", 0, false, 0 },
	{ "<a..b@c>", 0, 501, "5.1.3", 0, false, 0 },
	{ "<.a@c>", 0, 501, "5.1.3", 0, false, 0 },
	{ "<a.@c>", 0, 501, "5.1.3", 0, false, 0 },
	{ "<a b@c>", 0, 501, "5.1.3", 0, false, 0 },
	{ "<a(b)@c>", 0, 501, "5.1.3", 0, false, 0 },
	{ "<\"unterminated@x>", 0, 501, "5.1.3", 0, false, 0 },
	{ "<\"a\\\x01\"@x>", 0, 501, "5.1.3", 0, false, 0 },
	{ "<\"a\tb\"@x>", 0, 501, "5.1.3", 0, false, 0 },
	{ "<a@b.com..>", 0, 501, "5.1.3", 0, false, 0 },
	{ "<a@b.com..>", SENDER, 501, "5.1.7", 0, false, 0 },
	{ "<a@.>", 0, 501, "5.1.3", 0, false, 0 },
	{ "<a@b.com.", 0, 501, "5.1.3", 0, false, 0 },
	{ "<a@b.com. >", 0, 501, "5.1.3", 0, false, 0 },
	{ "<@r.example.:u@d.example>", 0, 501, "5.1.3", 0, false, 0 },
	{ "<a@[1.2.3.4].>", 0, 501, "5.1.3", 0, false, 0 },
	{ "<a@b..com>", 0, 501, "5.1.3", 0, false, 0 },
	{ "<a@.b.com>", 0, 501, "5.1.3", 0, false, 0 },
	{ "<a@b@c>", 0, 501, "5.1.3", 0, false, 0 },
	{ "<>", 0, 501, "5.1.3", 0, false, 0 },
	{ "<>", SENDER, 501, "5.1.7", 0, false, 0 },
	{ "< a@b>", 0, 501, "5.1.3", 0, false, 0 },
	{ "<a@b >", 0, 501, "5.1.3", 0, false, 0 },
	{ "<a@[1.2.3]>", 0, 501, "5.1.3", 0, false, 0 },
	{ "<a@[1.2.3.4.5]>", 0, 501, "5.1.3", 0, false, 0 },
	{ "<a@[256.1.1.1]>", 0, 501, "5.1.3", 0, false, 0 },
	{ "<a@[1111.1.1.1]>", 0, 501, "5.1.3", 0, false, 0 },
	{ "<a@[]>", 0, 501, "5.1.3", 0, false, 0 },
	{ "<a@[1.2.3.4>", 0, 501, "5.1.3", 0, false, 0 },
	{ "<a@[IPv6:zz::1]>", 0, 501, "5.1.3", 0, false, 0 },
	{ "<a@[IPv6:1:2:3:4:5:6:7:8:9]>", 0, 501, "5.1.3", 0, false, 0 },
	{ "<a@[IPv6:]>", 0, 501, "5.1.3", 0, false, 0 },
	{ "<a@[foo:bar]>", 0, 501, "5.1.3", 0, false, 0 },
	{ "<a@[1.2.3.4].com>", 0, 501, "5.1.3", 0, false, 0 },
	{ "<@a:b@c", 0, 501, "5.1.3", 0, false, 0 },
	{ "<@a,b:c@d>", 0, 501, "5.1.3", 0, false, 0 },
	{ "<@a,@b c@d>", 0, 501, "5.1.3", 0, false, 0 },
	{ "<@:c@d>", 0, 501, "5.1.3", 0, false, 0 },
	{ "<Postmaster>", 0, 501, "5.1.3", 0, false, 0 },
	{ "<Postmaster >", PM, 501, "5.1.3", 0, false, 0 },
	{ "<jos\xc3\xa9@x.org>", 0, 553, "5.6.7", 0, false, 0 },
	{ "<a@ex\xc3\xa4mple.org>", SENDER, 553, "5.6.7", 0, false, 0 },
	{ "<jos\xc3@x.org>", UTF8, 501, "5.1.3", 0, false, 0 },
	{ "<jos\xc3@x.org>", 0, 501, "5.1.3", 0, false, 0 },
	{ "<\xc0\xaf@x.org>", UTF8, 501, "5.1.3", 0, false, 0 },
	{ "<\xe0\x80\xaf@x.org>", UTF8, 501, "5.1.3", 0, false, 0 },
	{ "<\xed\xa0\x80@x.org>", UTF8, 501, "5.1.3", 0, false, 0 },
	{ "<\xf4\x90\x80\x80@x.org>", UTF8, 501, "5.1.3", 0, false, 0 },
	{ "<\xf8\x88\x80\x80\x80@x.org>", UTF8, 501, "5.1.3", 0, false, 0 },
	{ "<a@b\xff>", UTF8, 501, "5.1.3", 0, false, 0 },
	{ "<a@" D63 "d.org>", 0, 501, "5.1.3", 0, false, 0 },
	{ "<" L64 "a@x.org>", 0, 501, "5.1.3", 0, false, 0 },
	{ "<" L64 "a@x.org>", SENDER, 501, "5.1.7", 0, false, 0 },
	{ "<ab@" D252 ">", 0, 501, "5.1.3", 0, false, 0 },
};

/* test_path_parse - each case whole */
static void test_path_parse(void **state)
{
	for (size_t i = 0; i < sizeof(path_cases) / sizeof(path_cases[0]); i++) {
		const struct path_case *t = &path_cases[i];
		size_t len = strlen(t->in);
		char *in = test_dup_exact(t->in, len);
		struct smtp_path path;
		struct smtp_error err = { 0, NULL, NULL };
		size_t consumed = 99;

		printf("path case %zu: %s\n", i, t->in);
		int ret = smtp_path_parse(in, len, t->flags, &path, &consumed,
					  &err);
		if (t->ret == 0) {
			assert_int_equal(ret, 0);
			assert_string_equal(path.address, t->result);
			assert_int_equal(path.local_len, t->local_len);
			assert_ptr_equal(path.domain,
				path.address + (t->result[0] == '\0' ||
				path.local_len == strlen(t->result) ?
				path.local_len : path.local_len + 1));
			assert_int_equal(path.is_utf8, t->is_utf8);
			assert_int_equal(consumed, t->consumed ? t->consumed : len);
			smtp_path_clear(&path);
			assert_null(path.address);
		} else {
			assert_int_equal(ret, -1);
			assert_int_equal(err.code, t->ret);
			assert_string_equal(err.enhanced, t->result);
			assert_non_null(err.text);
			if (strstr(t->in, L64 "a") != NULL ||
			    strstr(t->in, "ab@" D252) != NULL)
				assert_non_null(strstr(err.text, "too long"));
			else if (t->ret == 501)
				assert_null(strstr(err.text, "too long"));
		}
		free(in);
	}
}

/* test_path_prefixes - no prefix is read past its end; a prefix only
 * succeeds if it holds the whole path */
static void test_path_prefixes(void **state)
{
	for (size_t i = 0; i < sizeof(path_cases) / sizeof(path_cases[0]); i++) {
		const struct path_case *t = &path_cases[i];
		size_t len = strlen(t->in);
		for (size_t k = 0; k < len; k++) {
			char *in = test_dup_exact(t->in, k);
			struct smtp_path path;
			struct smtp_error err;
			size_t consumed;
			if (smtp_path_parse(in, k, t->flags, &path, &consumed,
					    &err) == 0) {
				assert_true(consumed <= k);
				assert_int_equal(t->ret, 0);
				smtp_path_clear(&path);
			}
			free(in);
		}
	}
}

struct helo_case {
	const char *in;
	bool valid;
};

static const struct helo_case helo_cases[] = {
	{ "mail.example.org", true },
	{ "laptop", true },                 /* one label is a Domain */
	{ "a-1.example", true },
	{ "[192.0.2.1]", true },
	{ "[IPv6:2001:db8::1]", true },
	{ "[ipv6:::1]", true },
	{ "b\xc3\xbc" "cher.example", true },   /* U-label (RFC 6531) */
	{ "", false },
	{ "mail.example.org.", false },     /* no trailing dot in RFC 5321's Domain */
	{ "under_score.example", false },
	{ "-lead.example", false },
	{ "a..b", false },
	{ "192.0.2.1", true },              /* digits are a valid (all-numeric) Domain */
	{ "[192.0.2.256]", false },
	{ "[192.0.2.1", false },
	{ "[192.0.2.1]x", false },
	{ "[IPv6:1::2::3]", false },
	{ "[tag:general]", false },         /* General-address-literal: no tag is standard */
	{ "two words", false },
	{ "b\xc3(bad.example", false },       /* not UTF-8 */
};

/* test_helo - RFC 5321 4.1.4's Domain / address-literal, every prefix of a
 * case read within its bounds */
static void test_helo(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(helo_cases) / sizeof(helo_cases[0]); i++) {
		const struct helo_case *t = &helo_cases[i];
		size_t len = strlen(t->in);
		char *in = test_dup_exact(t->in, len);
		if (smtp_helo_is_valid(in, len) != t->valid)
			fail_msg("%s: expected %s", t->in, t->valid ? "valid" : "invalid");
		free(in);
		for (size_t k = 0; k < len; k++) {
			in = test_dup_exact(t->in, k);
			(void)smtp_helo_is_valid(in, k);
			free(in);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_path_parse),
		cmocka_unit_test(test_path_prefixes),
		cmocka_unit_test(test_helo),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
