/* tests/unit/message/test-address - message_address_list_parse: a table of
 * valid and malformed address-lists, each parsed whole and, for overreads,
 * every prefix from an exactly-sized copy. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "message/message.h"
#include "test-util.h"

#define MALFORMED { NULL }

struct address_case {
	const char *input;
	bool ok;
	const char *expect[5];
};

static const struct address_case cases[] = {
	{ "a@b", true, { "a@b" } },
	{ "  user@example.org  ", true, { "user@example.org" } },
	{ "John Doe <john@example.org>", true, { "john@example.org" } },
	{ "<john@example.org>", true, { "john@example.org" } },
	{ "\"Doe, John\" <john@example.org>, jane@example.org", true,
	  { "john@example.org", "jane@example.org" } },
	{ "\"John \\\"JD\\\" Doe\" <jd@example.org>", true, { "jd@example.org" } },
	{ "John Q. Public <jqp@example.org>", true, { "jqp@example.org" } },  /* obs-phrase */
	{ "Mary Smith <mary@x.test>, jdoe@example.org, Who? <one@y.test>", true,
	  { "mary@x.test", "jdoe@example.org", "one@y.test" } },
	/* comments, nested, with quoted-pairs */
	{ "(comment) john@example.org (another)", true, { "john@example.org" } },
	{ "john(c1)@(c2)example.org", true, { "john@example.org" } },
	{ "Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>", true,
	  { "pete@silly.test" } },
	{ "a@b (nested (comments (three deep)))", true, { "a@b" } },
	/* quoted local parts are kept as written */
	{ "\"john doe\"@example.org", true, { "\"john doe\"@example.org" } },
	{ "\"a\\\"b\"@example.org", true, { "\"a\\\"b\"@example.org" } },
	{ "\"john\".doe@example.org", true, { "\"john\".doe@example.org" } },
	{ "\"folded\r\n quote\"@example.org", true, { "\"folded quote\"@example.org" } },
	/* domain literals */
	{ "user@[192.0.2.1]", true, { "user@[192.0.2.1]" } },
	{ "Admin <admin@[IPv6:2001:db8::1]>", true, { "admin@[IPv6:2001:db8::1]" } },
	/* groups */
	{ "A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;", true,
	  { "c@a.test", "joe@where.test", "jdoe@one.test" } },
	{ "Undisclosed recipients:;", true, { NULL } },
	{ "undisclosed-recipients: ;, x@y", true, { "x@y" } },
	{ "Team: a@b, c@d; , e@f", true, { "a@b", "c@d", "e@f" } },
	{ "Team: (nobody) ;", true, { NULL } },
	/* obsolete forms (RFC 5322 4.4) */
	{ "a@b, , c@d", true, { "a@b", "c@d" } },
	{ ",a@b,,", true, { "a@b" } },
	{ "<@x.test:a@b>", true, { "a@b" } },
	{ "Route <@x.test,@y.test:joe@example.org>", true, { "joe@example.org" } },
	{ "<,@x.test,,@y.test:joe@example.org>", true, { "joe@example.org" } },
	{ "john . doe @ example . org", true, { "john.doe@example.org" } },
	{ "a@b\r\n\t, c@d", true, { "a@b", "c@d" } },
	{ "Team: ,a@b,,c@d,;", true, { "a@b", "c@d" } },
	/* RFC 6532: UTF-8 */
	{ "Jöhn Dœ <jöhn@exämple.org>", true, { "jöhn@exämple.org" } },
	{ "\"Дмитрий\" <дмитрий@пример.рф>", true, { "дмитрий@пример.рф" } },
	{ "用户@例子.广告", true, { "用户@例子.广告" } },
	{ "J\xf6hn <john@example.org>", true, { "john@example.org" } },  /* Latin-1 name */
	/* malformed */
	{ "", false, MALFORMED },
	{ "   ", false, MALFORMED },
	{ ",,", false, MALFORMED },
	{ "(only a comment)", false, MALFORMED },
	{ "john", false, MALFORMED },
	{ "John Doe", false, MALFORMED },
	{ "John Doe john@example.org", false, MALFORMED },
	{ "a@", false, MALFORMED },
	{ "@b", false, MALFORMED },
	{ "a@b@c", false, MALFORMED },
	{ "a@b c@d", false, MALFORMED },
	{ "a.@b", false, MALFORMED },
	{ "a..b@c", false, MALFORMED },
	{ ".a@b", false, MALFORMED },
	{ "a@b.", false, MALFORMED },
	{ "a@.b", false, MALFORMED },
	{ "\"unterminated@example.org", false, MALFORMED },
	{ "\"ends in backslash\\", false, MALFORMED },
	{ "a@b (unterminated", false, MALFORMED },
	{ "a@b (a (b)", false, MALFORMED },
	{ "a@b )", false, MALFORMED },
	{ "John <john@example.org", false, MALFORMED },
	{ "John john@example.org>", false, MALFORMED },
	{ "<>", false, MALFORMED },
	{ "<john>", false, MALFORMED },
	{ "<<a@b>>", false, MALFORMED },
	{ "<@x.test a@b>", false, MALFORMED },
	{ "<@:a@b>", false, MALFORMED },
	{ "Group: a@b", false, MALFORMED },
	{ "G1: G2: a@b;;", false, MALFORMED },
	{ ": a@b;", false, MALFORMED },
	{ "a@[1.2.3.4", false, MALFORMED },
	{ "a@[1.2[3].4]", false, MALFORMED },
	{ "a@b; c@d", false, MALFORMED },
	{ "a\\b@c", false, MALFORMED },
	{ "\"a\\\r\n b\"@c", false, MALFORMED },   /* obs-qp of CR */
	{ "a@b\x01", false, MALFORMED },
	{ "J\xf6hn@example.org", false, MALFORMED },      /* not UTF-8 */
	{ "\xc0\xaf@example.org", false, MALFORMED },      /* overlong */
	{ "a@\xed\xa0\x80.org", false, MALFORMED },        /* surrogate */
	{ "a@[\xc3\xa4]", false, MALFORMED },
	{ "a@b (((((((((((((((((((((too deep)))))))))))))))))))))", false, MALFORMED },
};

static void check_result(size_t c, char **got)
{
	const struct address_case *tc = &cases[c];

	if (!tc->ok) {
		if (got != NULL)
			fail_msg("case %zu (%s): parsed, expected malformed", c, tc->input);
		return;
	}
	if (got == NULL)
		fail_msg("case %zu (%s): malformed, expected a list", c, tc->input);
	size_t i = 0;
	for (; tc->expect[i] != NULL; i++) {
		if (got[i] == NULL)
			fail_msg("case %zu: only %zu addresses", c, i);
		if (strcmp(got[i], tc->expect[i]) != 0)
			fail_msg("case %zu: got \"%s\", expected \"%s\"", c, got[i], tc->expect[i]);
	}
	if (got[i] != NULL)
		fail_msg("case %zu: extra address \"%s\"", c, got[i]);
}

static void test_cases(void **state)
{
	(void)state;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		size_t len = strlen(cases[c].input);
		char *data = test_dup_exact(cases[c].input, len);
		char **got = message_address_list_parse(data, len);
		check_result(c, got);
		message_strv_free(&got);
		assert_null(got);
		free(data);
	}
}

static void test_prefixes(void **state)
{
	(void)state;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		size_t len = strlen(cases[c].input);
		for (size_t n = 0; n <= len; n++) {
			char *data = test_dup_exact(cases[c].input, n);
			char **got = message_address_list_parse(data, n);
			if (got != NULL)
				for (char **s = got; *s != NULL; s++)
					assert_non_null(strchr(*s, '@'));
			message_strv_free(&got);
			free(data);
		}
	}
}

static void test_nul_and_depth(void **state)
{
	static const char nul[] = "a@b\0, c@d";
	char buf[200];
	char **got;

	(void)state;
	got = message_address_list_parse(nul, sizeof(nul) - 1);
	assert_null(got);
	/* exactly 20 nested comments are fine, 21 are not */
	for (int depth = 20; depth <= 21; depth++) {
		size_t o = 0;
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "x@y ");
		for (int i = 0; i < depth; i++)
			buf[o++] = '(';
		for (int i = 0; i < depth; i++)
			buf[o++] = ')';
		got = message_address_list_parse(buf, o);
		if (depth == 20) {
			assert_non_null(got);
			assert_string_equal(got[0], "x@y");
		} else {
			assert_null(got);
		}
		message_strv_free(&got);
	}
	/* long lists and long addresses are fine */
	struct buf b;
	buf_init(&b);
	for (int i = 0; i < 500; i++)
		buf_printf(&b, "%s\"User %d\" <user%d@example.org>", i ? ", " : "", i, i);
	got = message_address_list_parse(b.data, b.len);
	assert_non_null(got);
	for (int i = 0; i < 500; i++) {
		snprintf(buf, sizeof(buf), "user%d@example.org", i);
		assert_string_equal(got[i], buf);
	}
	assert_null(got[500]);
	message_strv_free(&got);
	buf_free(&b);
	message_strv_free(&got);  /* NULL is fine */
}

/* test_canonical - message_address_canonical: quotes dropped when not
 * needed, minimal escaping when they are, one trailing dot of the domain */
static void test_canonical(void **state)
{
	static const struct { const char *in, *out; } canonical_cases[] = {
		{ "you@example.test", "you@example.test" },
		{ "\"you\"@example.test", "you@example.test" },
		{ "\"y\\ou\"@Example.Test", "you@Example.Test" },
		{ "\"a.b\"@x", "a.b@x" },
		{ "\"a b\"@x", "\"a b\"@x" },
		{ "\"a\\ b\"@x", "\"a b\"@x" },
		{ "\"a\\\"b\"@x", "\"a\\\"b\"@x" },
		{ "\"a..b\"@x", "\"a..b\"@x" },
		{ "\".a\"@x", "\".a\"@x" },
		{ "\"a.\"@x", "\"a.\"@x" },
		{ "\"\"@x", "\"\"@x" },
		{ "\"a@b\"@x", "\"a@b\"@x" },
		{ "\"a\".\"b\"@x", "\"a\".\"b\"@x" },
		{ "\"jos\xc3\xa9\"@x", "jos\xc3\xa9@x" },
		{ "you@example.test.", "you@example.test" },
		{ "\"you\"@example.test.", "you@example.test" },
		{ "you@example.test..", "you@example.test.." },
		{ "you@.", "you@." },
		{ "Postmaster", "Postmaster" },
		{ "", "" },
	};
	for (size_t i = 0; i < sizeof(canonical_cases) / sizeof(canonical_cases[0]); i++) {
		char *in = test_dup_exact(canonical_cases[i].in, strlen(canonical_cases[i].in) + 1);
		char *out = message_address_canonical(in);
		printf("canonical case %zu: %s -> %s\n", i, canonical_cases[i].in, out);
		assert_string_equal(out, canonical_cases[i].out);
		assert_true(strlen(out) <= strlen(canonical_cases[i].in));
		free(out);
		free(in);
	}
}

/* test_full - display names, routes and groups, as IMAP's ENVELOPE wants
 * them: each entry written "kind|name|route|local|domain" */
static void test_full(void **state)
{
	(void)state;
	static const struct { const char *in; const char *want; } full_cases[] = {
		{ "a@b", "M|||a|b" },
		{ "Alice <alice@example.org>", "M|Alice||alice|example.org" },
		{ "\"Doe, John\" <j@x.org>, bob@y.org",
		  "M|Doe, John||j|x.org;M|||bob|y.org" },
		{ "John (the man)  Doe <j@x.org>", "M|John Doe||j|x.org" },
		{ "J. Smith <js@x.org>", "M|J. Smith||js|x.org" },
		{ "\"a\\\"b\" <c@d>", "M|a\"b||c|d" },
		{ "=?utf-8?q?Andr=C3=A9?= <a@b>", "M|=?utf-8?q?Andr=C3=A9?=||a|b" },
		{ "<@r1,@r2:a@b>", "M||@r1,@r2|a|b" },
		{ "\"john doe\"@x.org", "M|||\"john doe\"|x.org" },
		{ "Friends: a@b, C <c@d>;, e@f",
		  "G|Friends;M|||a|b;M|C||c|d;E;M|||e|f" },
		{ "undisclosed-recipients:;", "G|undisclosed-recipients;E" },
		{ "Al\r\n ice <a@b>", "M|Al ice||a|b" },
	};
	for (size_t i = 0; i < sizeof(full_cases) / sizeof(full_cases[0]); i++) {
		size_t n = 0;
		struct message_address *list = message_address_list_parse_full(
			full_cases[i].in, strlen(full_cases[i].in), &n);
		assert_non_null(list);
		char out[512] = "";
		size_t o = 0;
		for (size_t k = 0; k < n; k++) {
			const struct message_address *a = &list[k];
			const char *kind = a->kind == MESSAGE_ADDRESS_MAILBOX ? "M" :
				a->kind == MESSAGE_ADDRESS_GROUP_START ? "G" : "E";
			if (a->kind == MESSAGE_ADDRESS_MAILBOX)
				o += (size_t)snprintf(out + o, sizeof(out) - o, "%s%s|%s|%s|%s|%s",
						      k ? ";" : "", kind, a->name ? a->name : "",
						      a->route ? a->route : "", a->local, a->domain);
			else
				o += (size_t)snprintf(out + o, sizeof(out) - o, "%s%s%s%s",
						      k ? ";" : "", kind, a->name ? "|" : "",
						      a->name ? a->name : "");
		}
		if (strcmp(out, full_cases[i].want) != 0) {
			print_error("case %zu: got \"%s\"\n", i, out);
			fail();
		}
		message_addresses_free(list, n);
	}
	size_t n = 7;
	assert_null(message_address_list_parse_full("a@", 2, &n));
	assert_int_equal(n, 0);
	assert_null(message_address_list_parse_full("", 0, &n));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_prefixes),
		cmocka_unit_test(test_nul_and_depth),
		cmocka_unit_test(test_canonical),
		cmocka_unit_test(test_full),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
