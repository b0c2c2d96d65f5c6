/* tests/unit/imap/test-folder - LIST patterns and answers, mailbox names,
 * STATUS items and flag lists (imap/folder.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap/imap.h"
#include "imap/parse.h"
#include "mailbox/mailbox.h"
#include "util/buf.h"

struct parsed {
	char *text;
	struct imap_command cmd;
};

/* parse - "a CMD ARGS\r\n" through the real argument parser */
static void parse(struct parsed *p, const char *line)
{
	const char *tag, *error;
	p->text = NULL;
	size_t len = strlen(line) + 2;
	p->text = malloc(len + 1);
	snprintf(p->text, len + 1, "%s\r\n", line);
	assert_int_equal(imap_command_parse(p->text, len, NULL, &p->cmd, &tag, &error), 0);
}

static void parsed_free(struct parsed *p)
{
	imap_command_free(&p->cmd);
	free(p->text);
}

static void test_match(void **state)
{
	(void)state;
	static const struct {
		const char *pattern, *name;
		bool match;
	} cases[] = {
		{ "*", "INBOX", true },         { "*", "A/B/C", true },
		{ "%", "A", true },             { "%", "A/B", false },
		{ "%/%", "A/B", true },         { "%/%", "A/B/C", false },
		{ "A/*", "A/B/C", true },       { "A/*", "A", false },
		{ "A*", "A", true },            { "A*", "AB/C", true },
		{ "A%", "AB/C", false },        { "inbox", "INBOX", true },
		{ "InBoX/%", "INBOX/x", true }, { "inbox", "Inbox2", false },
		{ "sent", "Sent", false },      { "S%t", "Sent", true },
		{ "inbox%", "INBOX", true },    { "inb*/x", "INBOX/x", true },
		{ "", "INBOX", false },         { "*a*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false },
		{ "caf\xc3\xa9", "caf\xc3\xa9", true }, { "caf%", "caf\xc3\xa9", true },
		{ "%%/%", "ab/c", true },       { "*/", "a/", true },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (imap_list_match(cases[i].pattern, cases[i].name) != cases[i].match)
			fail_msg("pattern '%s' name '%s': expected %d", cases[i].pattern,
				 cases[i].name, cases[i].match);
	}
}

static void test_names(void **state)
{
	(void)state;
	struct parsed p;
	char *name;

	parse(&p, "a SELECT caf&AOk-/x");
	assert_int_equal(imap_mailbox_name_decode(&p.cmd.args[0], false, &name), 0);
	assert_string_equal(name, "caf\xc3\xa9/x");
	free(name);
	/* after UTF8=ACCEPT "&" is itself */
	assert_int_equal(imap_mailbox_name_decode(&p.cmd.args[0], true, &name), 0);
	assert_string_equal(name, "caf&AOk-/x");
	free(name);
	parsed_free(&p);

	parse(&p, "a SELECT inbox/Sub \"caf\xc3\xa9\" &Jjo \"\"");
	assert_int_equal(imap_mailbox_name_decode(&p.cmd.args[0], false, &name), 0);
	assert_string_equal(name, "INBOX/Sub");
	free(name);
	/* 8-bit without UTF8=ACCEPT, bad modified UTF-7 */
	assert_int_equal(imap_mailbox_name_decode(&p.cmd.args[1], false, &name), -1);
	assert_null(name);
	assert_int_equal(imap_mailbox_name_decode(&p.cmd.args[1], true, &name), 0);
	free(name);
	assert_int_equal(imap_mailbox_name_decode(&p.cmd.args[2], false, &name), -1);
	assert_int_equal(imap_mailbox_name_decode(&p.cmd.args[3], false, &name), 0);
	assert_string_equal(name, "");
	free(name);
	parsed_free(&p);

	struct buf out;
	buf_init(&out);
	imap_mailbox_name_append(&out, "caf\xc3\xa9 \"x\"", false);
	buf_append(&out, "", 1);
	assert_string_equal(out.data, "\"caf&AOk- \\\"x\\\"\"");
	buf_reset(&out);
	imap_mailbox_name_append(&out, "caf\xc3\xa9", true);
	buf_append(&out, "", 1);
	assert_string_equal(out.data, "\"caf\xc3\xa9\"");
	buf_free(&out);
}

static void test_list_parse(void **state)
{
	(void)state;
	struct parsed p;
	struct imap_list list;
	const char *error;

	parse(&p, "a LIST \"\" *");
	assert_int_equal(imap_list_parse(p.cmd.args, p.cmd.count, false, false, &list, &error), 0);
	assert_false(list.extended);
	assert_int_equal(list.pattern_count, 1);
	assert_string_equal(list.patterns[0], "*");
	imap_list_free(&list);
	parsed_free(&p);

	parse(&p, "a LIST Work/ %");
	assert_int_equal(imap_list_parse(p.cmd.args, p.cmd.count, false, false, &list, &error), 0);
	assert_string_equal(list.patterns[0], "Work/%");
	imap_list_free(&list);
	parsed_free(&p);

	parse(&p, "a LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (inbox% \"S*\") "
		  "RETURN (CHILDREN STATUS (MESSAGES UIDNEXT SIZE))");
	assert_int_equal(imap_list_parse(p.cmd.args, p.cmd.count, false, false, &list, &error), 0);
	assert_true(list.extended);
	assert_int_equal(list.select, IMAP_LIST_SELECT_SUBSCRIBED | IMAP_LIST_SELECT_RECURSIVEMATCH);
	assert_int_equal(list.ret, IMAP_LIST_RETURN_SUBSCRIBED | IMAP_LIST_RETURN_CHILDREN |
					   IMAP_LIST_RETURN_STATUS);
	assert_int_equal(list.status_items,
			 IMAP_STATUS_MESSAGES | IMAP_STATUS_UIDNEXT | IMAP_STATUS_SIZE);
	assert_int_equal(list.pattern_count, 2);
	assert_string_equal(list.patterns[0], "inbox%");   /* matched in any case */
	assert_string_equal(list.patterns[1], "S*");
	imap_list_free(&list);
	parsed_free(&p);

	parse(&p, "a LIST \"\" \"\"");
	assert_int_equal(imap_list_parse(p.cmd.args, p.cmd.count, false, false, &list, &error), 0);
	assert_true(imap_list_wants_root(&list));
	imap_list_free(&list);
	parsed_free(&p);

	static const char *const bad[] = {
		"a LIST", "a LIST \"\"", "a LIST (RECURSIVEMATCH) \"\" *", "a LIST (FOO) \"\" *",
		"a LIST \"\" * RETURN (FOO)", "a LIST \"\" * RETURN", "a LIST \"\" * extra",
		"a LIST \"\" ()", "a LIST \"\" * RETURN (STATUS (FOO))",
		"a LIST \"\" * RETURN (STATUS)", "a LIST \"\" &Jjo",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		parse(&p, bad[i]);
		if (imap_list_parse(p.cmd.args, p.cmd.count, false, false, &list, &error) != -1)
			fail_msg("accepted: %s", bad[i]);
		parsed_free(&p);
	}
	/* LSUB takes neither options nor several patterns */
	parse(&p, "a LSUB \"\" (a b)");
	assert_int_equal(imap_list_parse(p.cmd.args, p.cmd.count, true, false, &list, &error), -1);
	parsed_free(&p);
}

/* answer - the LIST or LSUB lines for LINE over FOLDERS */
static char *answer(const char *line, bool lsub, struct mailbox_folder *folders, size_t n)
{
	struct parsed p;
	struct imap_list list;
	struct imap_list_entry *entries;
	const char *error;
	struct buf out;

	parse(&p, line);
	assert_int_equal(imap_list_parse(p.cmd.args, p.cmd.count, lsub, false, &list, &error), 0);
	size_t count = imap_list_select(&list, folders, n, &entries);
	buf_init(&out);
	for (size_t i = 0; i < count; i++) {
		imap_list_entry_append(&out, &list, &entries[i], false);
		if (imap_list_entry_wants_status(&list, &entries[i]))
			buf_append_str(&out, "+STATUS\r\n");
	}
	buf_append(&out, "", 1);
	free(entries);
	imap_list_free(&list);
	parsed_free(&p);
	return out.data;
}

static void test_list_answers(void **state)
{
	(void)state;
	struct mailbox_folder folders[] = {
		{ "INBOX", MAILBOX_FOLDER_SUBSCRIBED },
		{ "Archive", MAILBOX_FOLDER_ARCHIVE },
		{ "Gone", MAILBOX_FOLDER_SUBSCRIBED | MAILBOX_FOLDER_NONEXISTENT },
		{ "Sent", MAILBOX_FOLDER_SENT | MAILBOX_FOLDER_SUBSCRIBED },
		{ "Work", MAILBOX_FOLDER_NOSELECT | MAILBOX_FOLDER_HAS_CHILDREN },
		{ "Work/2026", MAILBOX_FOLDER_SUBSCRIBED },
		{ "caf\xc3\xa9", 0 },
	};
	size_t n = sizeof(folders) / sizeof(folders[0]);
	char *s;

	s = answer("a LIST \"\" %", false, folders, n);
	assert_string_equal(s, "* LIST (\\HasNoChildren) \"/\" \"INBOX\"\r\n"
			       "* LIST (\\HasNoChildren \\Archive) \"/\" \"Archive\"\r\n"
			       "* LIST (\\HasNoChildren \\Sent) \"/\" \"Sent\"\r\n"
			       "* LIST (\\Noselect \\HasChildren) \"/\" \"Work\"\r\n"
			       "* LIST (\\HasNoChildren) \"/\" \"caf&AOk-\"\r\n");
	free(s);

	s = answer("a LIST \"\" Work/*", false, folders, n);
	assert_string_equal(s, "* LIST (\\HasNoChildren) \"/\" \"Work/2026\"\r\n");
	free(s);

	s = answer("a LIST (SUBSCRIBED) \"\" *", false, folders, n);
	assert_string_equal(s, "* LIST (\\HasNoChildren \\Subscribed) \"/\" \"INBOX\"\r\n"
			       "* LIST (\\NonExistent \\Subscribed) \"/\" \"Gone\"\r\n"
			       "* LIST (\\HasNoChildren \\Subscribed \\Sent) \"/\" \"Sent\"\r\n"
			       "* LIST (\\HasNoChildren \\Subscribed) \"/\" \"Work/2026\"\r\n");
	free(s);

	/* RFC 5258 3.5: Work is not subscribed but its child is */
	s = answer("a LIST (SUBSCRIBED RECURSIVEMATCH) \"\" %", false, folders, n);
	assert_string_equal(s, "* LIST (\\HasNoChildren \\Subscribed) \"/\" \"INBOX\"\r\n"
			       "* LIST (\\NonExistent \\Subscribed) \"/\" \"Gone\"\r\n"
			       "* LIST (\\HasNoChildren \\Subscribed \\Sent) \"/\" \"Sent\"\r\n"
			       "* LIST (\\Noselect \\HasChildren) \"/\" \"Work\" "
			       "(\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n");
	free(s);

	s = answer("a LIST (SPECIAL-USE) \"\" * RETURN (STATUS (MESSAGES))", false, folders, n);
	assert_string_equal(s, "* LIST (\\HasNoChildren \\Archive) \"/\" \"Archive\"\r\n+STATUS\r\n"
			       "* LIST (\\HasNoChildren \\Sent) \"/\" \"Sent\"\r\n+STATUS\r\n");
	free(s);

	/* STATUS only for selectable folders */
	s = answer("a LIST \"\" W* RETURN (STATUS (MESSAGES))", false, folders, n);
	assert_string_equal(s, "* LIST (\\Noselect \\HasChildren) \"/\" \"Work\"\r\n"
			       "* LIST (\\HasNoChildren) \"/\" \"Work/2026\"\r\n+STATUS\r\n");
	free(s);

	/* RFC 3501 6.3.9: LSUB "%" shows the unsubscribed parent as \Noselect */
	s = answer("a LSUB \"\" %", true, folders, n);
	assert_string_equal(s, "* LSUB () \"/\" \"INBOX\"\r\n"
			       "* LSUB () \"/\" \"Gone\"\r\n"
			       "* LSUB () \"/\" \"Sent\"\r\n"
			       "* LSUB (\\Noselect) \"/\" \"Work\"\r\n");
	free(s);
	s = answer("a LSUB \"\" *", true, folders, n);
	assert_string_equal(s, "* LSUB () \"/\" \"INBOX\"\r\n"
			       "* LSUB () \"/\" \"Gone\"\r\n"
			       "* LSUB () \"/\" \"Sent\"\r\n"
			       "* LSUB () \"/\" \"Work/2026\"\r\n");
	free(s);
}

static void test_status_and_flags(void **state)
{
	(void)state;
	struct parsed p;
	const char *error;
	unsigned items;
	struct buf out;

	parse(&p, "a STATUS x (UIDNEXT messages RECENT HIGHESTMODSEQ SIZE DELETED UNSEEN UIDVALIDITY) (FOO) ()");
	assert_int_equal(imap_status_items_parse(&p.cmd.args[1], &items, &error), 0);
	assert_int_equal(imap_status_items_parse(&p.cmd.args[2], &items, &error), -1);
	assert_int_equal(imap_status_items_parse(&p.cmd.args[3], &items, &error), -1);
	assert_int_equal(imap_status_items_parse(&p.cmd.args[0], &items, &error), -1);
	assert_int_equal(imap_status_items_parse(&p.cmd.args[1], &items, &error), 0);
	struct mailbox_status st = { .uidvalidity = 7, .uidnext = 5, .highestmodseq = 9000000000ull,
				     .messages = 4, .unseen = 2, .deleted = 1, .recent = 3,
				     .size = 1234 };
	buf_init(&out);
	imap_status_append(&out, "Sent", items, &st, false);
	buf_append(&out, "", 1);
	assert_string_equal(out.data, "* STATUS \"Sent\" (MESSAGES 4 UIDNEXT 5 UIDVALIDITY 7 "
				      "UNSEEN 2 DELETED 1 SIZE 1234 HIGHESTMODSEQ 9000000000 "
				      "RECENT 3)\r\n");
	parsed_free(&p);

	uint32_t flags;
	const struct imap_arg **kw;
	size_t nkw;
	parse(&p, "a APPEND x (\\Seen \\answered $Forwarded Work $Junk) (\\Recent) (\\Foo) \\Draft ()");
	assert_int_equal(imap_flag_list_parse(&p.cmd.args[1], &flags, &kw, &nkw, &error), 0);
	assert_int_equal(flags, MAILBOX_FLAG_SEEN | MAILBOX_FLAG_ANSWERED | MAILBOX_FLAG_FORWARDED);
	assert_int_equal(nkw, 2);
	assert_string_equal(kw[0]->data, "Work");
	assert_string_equal(kw[1]->data, "$Junk");
	free(kw);
	assert_int_equal(imap_flag_list_parse(&p.cmd.args[2], &flags, &kw, &nkw, &error), -1);
	assert_null(kw);
	assert_int_equal(imap_flag_list_parse(&p.cmd.args[3], &flags, &kw, &nkw, &error), -1);
	assert_int_equal(imap_flag_list_parse(&p.cmd.args[4], &flags, &kw, &nkw, &error), 0);
	assert_int_equal(flags, MAILBOX_FLAG_DRAFT);
	assert_int_equal(imap_flag_list_parse(&p.cmd.args[5], &flags, &kw, &nkw, &error), 0);
	assert_int_equal(flags, 0);
	assert_int_equal(nkw, 0);
	parsed_free(&p);

	char *names[] = { "Work", "$Junk", "Later" };
	buf_reset(&out);
	imap_flags_append(&out, MAILBOX_FLAG_SEEN | MAILBOX_FLAG_DELETED | MAILBOX_FLAG_FORWARDED,
			  0x5, names, 3, true);
	buf_append(&out, "", 1);
	assert_string_equal(out.data, "(\\Deleted \\Seen $Forwarded \\Recent Work Later)");
	buf_reset(&out);
	imap_flags_append(&out, 0, 0, names, 3, false);
	buf_append(&out, "", 1);
	assert_string_equal(out.data, "()");
	buf_free(&out);

	static const uint32_t uids[] = { 1, 2, 3, 5, 7, 8, 4294967295u };
	buf_init(&out);
	imap_uidset_append(&out, uids, 7);
	buf_append(&out, "", 1);
	assert_string_equal(out.data, "1:3,5,7:8,4294967295");
	buf_reset(&out);
	imap_uidset_append(&out, uids + 3, 1);
	buf_append(&out, "", 1);
	assert_string_equal(out.data, "5");
	buf_free(&out);

	unsigned attrs;
	parse(&p, "a CREATE x (USE (\\Sent \\trash)) (\\Foo)");
	assert_int_equal(imap_special_use_parse(&p.cmd.args[1].list[1], &attrs, &error), 0);
	assert_int_equal(attrs, MAILBOX_FOLDER_SENT | MAILBOX_FOLDER_TRASH);
	assert_int_equal(imap_special_use_parse(&p.cmd.args[2], &attrs, &error), -1);
	parsed_free(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_match),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_list_parse),
		cmocka_unit_test(test_list_answers),
		cmocka_unit_test(test_status_and_flags),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
