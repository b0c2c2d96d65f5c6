/* tests/unit/imap/test-args - IMAP commands as tag, name and argument
 * trees: a table of valid commands with the tree each gives, and of
 * invalid ones with the reason and the tag the BAD reply carries. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap/parse.h"
#include "util/buf.h"

#define S(x) x, sizeof(x) - 1

struct args_case {
	const char *in;
	size_t len;
	const char *want;     /* "tag|name|args" (see dump), or "!tag|error" */
};

static const struct args_case cases[] = {
	{ S("a1 NOOP\r\n"), "a1|NOOP|" },
	{ S("a1 login bob \"pa\\\"s\\\\s\"\r\n"), "a1|login|A(bob) S(pa\"s\\s)" },
	{ S("a1 LOGIN {3}\r\nbob {4+}\r\npass\r\n"), "a1|LOGIN|L(bob) L(pass)" },
	{ S("a FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (From \"To\")]<0.100>)\r\n"),
	  "a|FETCH|A(1:*) (A(FLAGS) A(BODY.PEEK[HEADER.FIELDS (From \"To\")]<0.100>))" },
	{ S("a STORE 1 +FLAGS.SILENT (\\Seen \\Deleted $Label)\r\n"),
	  "a|STORE|A(1) A(+FLAGS.SILENT) (A(\\Seen) A(\\Deleted) A($Label))" },
	{ S("a SELECT nil\r\n"), "a|SELECT|NIL(nil)" },
	{ S("a LIST \"\" %\r\n"), "a|LIST|S() A(%)" },
	{ S("a LIST \"\" *\r\n"), "a|LIST|S() A(*)" },
	{ S("a X ()\r\n"), "a|X|()" },
	{ S("a X ((a)(b) c)\r\n"), "a|X|((A(a)) (A(b)) A(c))" },
	{ S("a X ((a) (b c) \"\")\r\n"), "a|X|((A(a)) (A(b) A(c)) S())" },
	{ S("a X ({1}\r\n))\r\n"), "a|X|(L()))" },
	{ S("a X ({1}\r\n )\r\n"), "a|X|(L( ))" },
	{ S("a X ({1}\r\n)\r\n"), "!a|Missing ')'" },
	{ S("a APPEND x ~{3}\r\n\0\1\2\r\n"), "a|APPEND|A(x) L8(3)" },
	{ S("a SEARCH CHARSET UTF-8 SUBJECT \"\xc3\xa9t\xc3\xa9\"\r\n"),
	  "a|SEARCH|A(CHARSET) A(UTF-8) A(SUBJECT) S(\xc3\xa9t\xc3\xa9)" },
	{ S("a SELECT [Gmail]/Sent\r\n"), "a|SELECT|A([Gmail]/Sent)" },
	{ S("a SELECT [Gmail\r\n"), "a|SELECT|A([Gmail)" },
	{ S("a UID FETCH 1:3 BODY[]\r\n"), "a|UID|A(FETCH) A(1:3) A(BODY[])" },
	{ S("tag.with]odd~chars NOOP\r\n"), "tag.with]odd~chars|NOOP|" },

	{ S("\r\n"), "!|Empty command line" },
	{ S("a\r\n"), "!|Missing or invalid tag" },
	{ S("+ NOOP\r\n"), "!|Missing or invalid tag" },
	{ S("a* NOOP\r\n"), "!|Missing or invalid tag" },
	{ S("a \r\n"), "!a|Missing command name" },
	{ S("a NOOP \r\n"), "!a|Space at the end of the command" },
	{ S("a X b \r\n"), "!a|Missing argument (a space at the end?)" },
	{ S("a X  b\r\n"), "!a|Two spaces between arguments" },
	{ S("a X (b\r\n"), "!a|Missing ')'" },
	{ S("a X b)\r\n"), "!a|Missing space between arguments" },
	{ S("a X (b)c\r\n"), "!a|Missing space between arguments" },
	{ S("a X )\r\n"), "!a|Unexpected ')'" },
	{ S("a X (b )\r\n"), "!a|Unexpected ')'" },
	{ S("a X \"b\r\n"), "!a|Invalid character in a quoted string" },
	{ S("a X \"b\r\n\""), "!a|Invalid character in a quoted string" },
	{ S("a X \"b\\n\"\r\n"), "!a|Invalid escape in a quoted string" },
	{ S("a X \"\xff\"\r\n"), "!a|Invalid character in a quoted string" },
	{ S("a X \"\xc3\"\r\n"), "!a|Invalid character in a quoted string" },
	{ S("a X {3}\r\na\0b\r\n"), "!a|NUL in a literal (only a literal8 may hold one, RFC 3516)" },
	{ S("a X {9}\r\nab\r\n"), "!a|Literal longer than the command" },
	{ S("a X {3}ab\r\n"), "!a|Invalid literal" },
	{ S("a X b\x01\r\n"), "!a|Missing space between arguments" },
	{ S("a X \x01\r\n"), "!a|Invalid characters in an argument" },
	{ S("a NOOP\nb\r\n"), "!a|Invalid command name" },
	{ S("a NO\xc3\xa9P\r\n"), "!a|Invalid command name" },
	{ S("a NOOP\r\nb NOOP\r\n"), "!a|Junk after the command" },
	{ S("a X b\r\nc\r\n"), "!a|Junk after the command" },
};

/* dump - ARGS as text: A(atom) S(string) L(literal) L8(length) NIL(text) (list) */
static void dump(const struct imap_arg *args, size_t count, struct buf *out)
{
	for (size_t i = 0; i < count; i++) {
		const struct imap_arg *a = &args[i];
		if (i > 0)
			buf_append(out, " ", 1);
		switch (a->type) {
		case IMAP_ARG_ATOM: buf_printf(out, "A(%s)", a->data); break;
		case IMAP_ARG_STRING: buf_printf(out, "S(%s)", a->data); break;
		case IMAP_ARG_LITERAL: buf_printf(out, "L(%s)", a->data); break;
		case IMAP_ARG_LITERAL8: buf_printf(out, "L8(%zu)", a->len); break;
		case IMAP_ARG_NIL: buf_printf(out, "NIL(%s)", a->data); break;
		case IMAP_ARG_LIST:
			buf_append(out, "(", 1);
			dump(a->list, a->count, out);
			buf_append(out, ")", 1);
			break;
		}
		if (a->type != IMAP_ARG_LIST && a->type != IMAP_ARG_LITERAL8)
			assert_int_equal(strlen(a->data), a->len);
	}
}

static void test_args_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct args_case *c = &cases[i];
		/* an exact-size copy: AddressSanitizer sees a read past it */
		char *data = malloc(c->len);
		assert_non_null(data);
		memcpy(data, c->in, c->len);
		struct imap_command cmd;
		const char *tag = NULL, *error = NULL;
		struct buf out;
		buf_init(&out);
		if (imap_command_parse(data, c->len, NULL, &cmd, &tag, &error) == 0) {
			buf_printf(&out, "%s|%s|", cmd.tag, cmd.name);
			dump(cmd.args, cmd.count, &out);
			imap_command_free(&cmd);
		} else {
			buf_printf(&out, "!%s|%s", tag ? tag : "", error);
		}
		if (strcmp(out.data, c->want) != 0) {
			print_error("case %zu: got \"%s\"\n    want \"%s\"\n", i, out.data, c->want);
			fail();
		}
		buf_free(&out);
		free(data);
	}
}

/* test_args_limits - depth and argument count limits */
static void test_args_limits(void **state)
{
	(void)state;
	struct imap_parse_limits limits = { .depth_max = 3, .args_max = 4 };
	struct imap_command cmd;
	const char *tag, *error;
	char ok[] = "a X (((b)))\r\n";
	assert_int_equal(imap_command_parse(ok, sizeof(ok) - 1, &limits, &cmd, &tag, &error), 0);
	imap_command_free(&cmd);
	char deep[] = "a X ((((b))))\r\n";
	assert_int_equal(imap_command_parse(deep, sizeof(deep) - 1, &limits, &cmd, &tag,
					    &error), -1);
	assert_string_equal(error, "Lists nested too deep");
	assert_string_equal(tag, "a");
	char many[] = "a X 1 2 (3 4)\r\n";
	assert_int_equal(imap_command_parse(many, sizeof(many) - 1, &limits, &cmd, &tag,
					    &error), -1);
	assert_string_equal(error, "Too many arguments");
	char four[] = "a X 1 2 (3)\r\n";
	assert_int_equal(imap_command_parse(four, sizeof(four) - 1, &limits, &cmd, &tag,
					    &error), 0);
	assert_true(imap_arg_atom_is(&cmd.args[0], "1"));
	assert_false(imap_arg_is_astring(&cmd.args[2]));
	imap_command_free(&cmd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_args_cases),
		cmocka_unit_test(test_args_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
