/* tests/unit/imap/test-fetch - FETCH items from whole commands: the items
 * each gives with its section, partial range and response name, and the
 * errors of malformed ones. */
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

struct fetch_case {
	const char *args;     /* what follows "a FETCH 1 " */
	const char *want;     /* the items' response names (PEEK marked "~"), or "!error" */
};

static const struct fetch_case cases[] = {
	{ "FLAGS", "FLAGS~" },
	{ "ALL", "FLAGS~ INTERNALDATE~ RFC822.SIZE~ ENVELOPE~" },
	{ "fast", "FLAGS~ INTERNALDATE~ RFC822.SIZE~" },
	{ "FULL", "FLAGS~ INTERNALDATE~ RFC822.SIZE~ ENVELOPE~ BODY~" },
	{ "(uid rfc822.size Flags BODYSTRUCTURE)", "UID~ RFC822.SIZE~ FLAGS~ BODYSTRUCTURE~" },
	{ "(RFC822 RFC822.HEADER RFC822.TEXT)", "RFC822 RFC822.HEADER~ RFC822.TEXT" },
	{ "BODY[]", "BODY[]" },
	{ "body.peek[]<0.2048>", "BODY[]<0>~" },
	{ "BODY[1.2.3]", "BODY[1.2.3]" },
	{ "BODY[1.MIME]", "BODY[1.MIME]" },
	{ "BODY[2.TEXT]<10.5>", "BODY[2.TEXT]<10>" },
	{ "BODY.PEEK[HEADER]", "BODY[HEADER]~" },
	{ "(BODY.PEEK[HEADER.FIELDS (From To \"Subject\")])",
	  "BODY[HEADER.FIELDS (From To Subject)]~" },
	{ "BODY[1.HEADER.FIELDS.NOT (X-Spam)]", "BODY[1.HEADER.FIELDS.NOT (X-Spam)]" },
	{ "BINARY[1]", "BINARY[1]" },
	{ "BINARY.PEEK[]<0.100>", "BINARY[]<0>~" },
	{ "BINARY.SIZE[2]", "BINARY.SIZE[2]~" },
	{ "(FLAGS MODSEQ) (CHANGEDSINCE 12345)", "FLAGS~ MODSEQ~ changedsince=12345" },
	{ "(FLAGS) (CHANGEDSINCE 0 VANISHED)", "FLAGS~ changedsince=0 vanished" },

	{ "", "!FETCH needs the items to fetch" },
	{ "()", "!Empty list of FETCH items" },
	{ "FOO", "!Unknown FETCH item" },
	{ "BODY.PEAK[]", "!Unknown FETCH item" },
	{ "\"FLAGS\"", "!Invalid FETCH item" },
	{ "(FLAGS (UID))", "!Invalid FETCH item" },
	{ "BODY[MIME]", "!Invalid FETCH section" },
	{ "BODY[0]", "!Invalid FETCH section" },
	{ "BODY[01]", "!Invalid FETCH section" },
	{ "BODY[1.]", "!Invalid FETCH section" },
	{ "BODY[1..2]", "!Invalid FETCH section" },
	{ "BODY[HEADERS]", "!Invalid FETCH section" },
	{ "BODY[TEXT.X]", "!Invalid FETCH section" },
	{ "BINARY[TEXT]", "!Invalid FETCH section" },
	{ "BODY[HEADER.FIELDS]", "!Invalid header field list in a FETCH section" },
	{ "BODY[HEADER.FIELDS ()]", "!Invalid header field list in a FETCH section" },
	{ "BODY[HEADER.FIELDS (From:)]", "!Invalid header field list in a FETCH section" },
	{ "BODY[HEADER.FIELDS (From  To)]", "!Invalid header field list in a FETCH section" },
	{ "BODY[]<0.0>", "!Invalid partial range in a FETCH item" },
	{ "BODY[]<5>", "!Invalid partial range in a FETCH item" },
	{ "BODY[]<1.2>x", "!Junk after a FETCH section" },
	{ "BINARY.SIZE[1]<0.1>", "!BINARY.SIZE takes no partial range" },
	{ "FLAGS (VANISHED)", "!VANISHED needs CHANGEDSINCE (RFC 7162 3.2.6)" },
	{ "FLAGS (CHANGEDSINCE x)", "!Invalid FETCH modifiers" },
	{ "FLAGS (CHANGEDSINCE 1 CHANGEDSINCE 2)", "!Invalid FETCH modifiers" },
	{ "FLAGS UID", "!Invalid FETCH modifiers" },
	{ "FLAGS (X) Y", "!Junk after the FETCH items" },
};

static void test_fetch_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf line;
		buf_init(&line);
		buf_printf(&line, "a FETCH 1%s%s\r\n", cases[i].args[0] ? " " : "", cases[i].args);
		struct imap_command cmd;
		const char *tag, *error = NULL;
		assert_int_equal(imap_command_parse(line.data, line.len, NULL, &cmd, &tag, &error), 0);
		struct imap_fetch fetch;
		struct buf out;
		buf_init(&out);
		if (imap_fetch_parse(cmd.args + 1, cmd.count - 1, &fetch, &error) == 0) {
			for (size_t k = 0; k < fetch.count; k++)
				buf_printf(&out, "%s%s%s", k ? " " : "", fetch.items[k].name,
					   fetch.items[k].peek ? "~" : "");
			if (fetch.changedsince_set)
				buf_printf(&out, " changedsince=%llu",
					   (unsigned long long)fetch.changedsince);
			if (fetch.vanished)
				buf_append_str(&out, " vanished");
			imap_fetch_free(&fetch);
		} else {
			buf_printf(&out, "!%s", error);
			assert_null(fetch.items);
		}
		if (strcmp(out.data, cases[i].want) != 0) {
			print_error("case %zu (%s): got \"%s\"\n", i, cases[i].args, out.data);
			fail();
		}
		buf_free(&out);
		imap_command_free(&cmd);
		buf_free(&line);
	}
}

/* test_fetch_fields - the section's parts, text and field names */
static void test_fetch_fields(void **state)
{
	(void)state;
	char line[] = "a FETCH 1 BODY.PEEK[4.2.HEADER.FIELDS (From \"X-A\")]<7.9>\r\n";
	struct imap_command cmd;
	const char *tag, *error;
	assert_int_equal(imap_command_parse(line, sizeof(line) - 1, NULL, &cmd, &tag, &error), 0);
	struct imap_fetch fetch;
	assert_int_equal(imap_fetch_parse(cmd.args + 1, 1, &fetch, &error), 0);
	const struct imap_fetch_item *it = &fetch.items[0];
	assert_int_equal(it->kind, IMAP_FETCH_SECTION);
	assert_true(it->peek);
	assert_int_equal(it->parts, 2);
	assert_int_equal(it->part[0], 4);
	assert_int_equal(it->part[1], 2);
	assert_int_equal(it->text, IMAP_SECTION_HEADER_FIELDS);
	assert_int_equal(it->field_count, 2);
	assert_string_equal(it->fields[1], "X-A");
	assert_true(it->partial);
	assert_int_equal(it->offset, 7);
	assert_int_equal(it->length, 9);
	imap_fetch_free(&fetch);
	imap_command_free(&cmd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fetch_cases),
		cmocka_unit_test(test_fetch_fields),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
