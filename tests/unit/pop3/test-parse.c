/* tests/unit/pop3/test-parse - POP3 command lines (valid and invalid, per
 * verb), message numbers, and the RETR/TOP writer fed whole and one byte
 * at a time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pop3/parse.h"
#include "util/buf.h"

struct command_case {
	const char *line;
	const char *want;     /* "VERB|arg|arg" (verb index), or "!error" */
};

static const struct command_case commands[] = {
	{ "USER alice", "1|alice" },
	{ "user alice@example.org", "1|alice@example.org" },
	{ "PASS secret with spaces ", "2|secret with spaces " },
	{ "AUTH", "3" },
	{ "AUTH PLAIN", "3|PLAIN" },
	{ "AUTH PLAIN AGFsaWNlAHNlY3JldA==", "3|PLAIN|AGFsaWNlAHNlY3JldA==" },
	{ "STLS", "4" },
	{ "capa", "5" },
	{ "STAT", "6" },
	{ "LIST", "7" },
	{ "LIST 3", "7|3" },
	{ "RETR 1", "8|1" },
	{ "DELE 2", "9|2" },
	{ "NOOP", "10" },
	{ "RSET", "11" },
	{ "TOP 1 10", "12|1|10" },
	{ "UIDL", "13" },
	{ "UIDL 4", "13|4" },
	{ "QUIT", "14" },
	{ "UTF8", "15" },

	{ "", "!Empty command" },
	{ " USER a", "!Command starts with a space" },
	{ "HELO", "!Unknown command" },
	{ "USERS a", "!Unknown command" },
	{ "USER", "!Missing argument" },
	{ "PASS", "!Missing argument" },
	{ "PASS ", "!Missing argument" },
	{ "USER a b", "!Too many arguments" },
	{ "USER  a", "!Empty argument (two spaces, or a space at the end)" },
	{ "STAT ", "!Empty argument (two spaces, or a space at the end)" },
	{ "STAT x", "!Too many arguments" },
	{ "TOP 1", "!Missing argument" },
	{ "RETR\t1", "!Control characters in the command" },
	{ "USER a\x01", "!Control characters in the command" },
};

static void test_commands(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		const char *line = commands[i].line;
		size_t len = strlen(line);
		char *copy = malloc(len ? len : 1);   /* exact size: ASan sees overreads */
		assert_non_null(copy);
		memcpy(copy, line, len);
		struct pop3_command cmd;
		const char *error = NULL;
		char out[600];
		if (pop3_command_parse(copy, len, &cmd, &error) == 0) {
			int o = snprintf(out, sizeof(out), "%d", (int)cmd.verb);
			for (unsigned k = 0; k < cmd.argc; k++)
				o += snprintf(out + o, sizeof(out) - (size_t)o, "|%.*s",
					      (int)cmd.arg_lens[k], cmd.args[k]);
		} else {
			snprintf(out, sizeof(out), "!%s", error);
		}
		if (strcmp(out, commands[i].want) != 0) {
			print_error("case %zu \"%s\": got \"%s\"\n", i, line, out);
			fail();
		}
		free(copy);
	}
	/* RFC 2449 4: arguments up to 255 octets */
	char line[300] = "USER ";
	memset(line + 5, 'a', 255);
	struct pop3_command cmd;
	const char *error;
	assert_int_equal(pop3_command_parse(line, 260, &cmd, &error), 0);
	line[260] = 'a';
	assert_int_equal(pop3_command_parse(line, 261, &cmd, &error), -1);
	assert_string_equal(error, "Argument too long");
}

static void test_numbers(void **state)
{
	(void)state;
	uint32_t n;
	assert_int_equal(pop3_number_parse("1", 1, false, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(pop3_number_parse("4294967294", 10, false, &n), 0);
	assert_int_equal(pop3_number_parse("0", 1, true, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(pop3_number_parse("0", 1, false, &n), -1);
	assert_int_equal(pop3_number_parse("4294967295", 10, false, &n), -1);
	assert_int_equal(pop3_number_parse("", 0, true, &n), -1);
	assert_int_equal(pop3_number_parse("-1", 2, true, &n), -1);
	assert_int_equal(pop3_number_parse("+1", 2, true, &n), -1);
	assert_int_equal(pop3_number_parse("12345678901", 11, true, &n), -1);
}

struct writer_case {
	const char *msg;
	bool top;
	uint32_t lines;
	const char *want;
};

static const struct writer_case writes[] = {
	{ "A: b\r\n\r\nline\r\n", false, 0, "A: b\r\n\r\nline\r\n.\r\n" },
	{ "A: b\r\n\r\n.dot\r\n..two\r\n.\r\n", false, 0,
	  "A: b\r\n\r\n..dot\r\n...two\r\n..\r\n.\r\n" },
	{ "A: b\r\n\r\nno end", false, 0, "A: b\r\n\r\nno end\r\n.\r\n" },
	{ "A: b\r\n\r\nends in CR\r", false, 0, "A: b\r\n\r\nends in CR\r\n.\r\n" },
	{ "", false, 0, ".\r\n" },
	{ "A: b\r\n\r\n1\r\n2\r\n3\r\n", true, 0, "A: b\r\n\r\n.\r\n" },
	{ "A: b\r\n\r\n1\r\n.2\r\n3\r\n", true, 2, "A: b\r\n\r\n1\r\n..2\r\n.\r\n" },
	{ "A: b\r\n\r\n1\r\n", true, 5, "A: b\r\n\r\n1\r\n.\r\n" },
	{ "A: b\r\nC: d\r\n", true, 0, "A: b\r\nC: d\r\n.\r\n" },
	{ ".A: b\r\n\r\nx", true, 1, "..A: b\r\n\r\nx\r\n.\r\n" },
};

static void test_writer(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(writes) / sizeof(writes[0]); i++) {
		const struct writer_case *c = &writes[i];
		size_t len = strlen(c->msg);
		for (int bytewise = 0; bytewise < 2; bytewise++) {
			struct pop3_writer w;
			struct buf out;
			buf_init(&out);
			pop3_writer_init(&w, c->top, c->lines);
			if (bytewise) {
				for (size_t k = 0; k < len; k++)
					pop3_writer_feed(&w, c->msg + k, 1, &out);
			} else {
				pop3_writer_feed(&w, c->msg, len, &out);
			}
			pop3_writer_finish(&w, &out);
			if (strcmp(out.data, c->want) != 0) {
				print_error("case %zu (bytewise %d): got \"%s\"\n", i, bytewise,
					    out.data);
				fail();
			}
			buf_free(&out);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_commands),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_writer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
