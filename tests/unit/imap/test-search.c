/* tests/unit/imap/test-search - SEARCH criteria from whole commands: the
 * tree each gives (shorthands expanded), RETURN and CHARSET, and the
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

struct search_case {
	const char *args;     /* what follows "a SEARCH " */
	const char *want;     /* the tree (see dump), or "!error" */
};

static const struct search_case cases[] = {
	{ "ALL", "AND(ALL)" },
	{ "unseen", "AND(NOT(FLAG(\\Seen)))" },
	{ "NEW", "AND(AND(FLAG(\\Recent) NOT(FLAG(\\Seen))))" },
	{ "OLD FLAGGED", "AND(NOT(FLAG(\\Recent)) FLAG(\\Flagged))" },
	{ "FROM alice SUBJECT \"hello world\"",
	  "AND(HEADER(From:alice) HEADER(Subject:hello world))" },
	{ "HEADER X-Tag {3}\r\nabc", "AND(HEADER(X-Tag:abc))" },
	{ "BODY x TEXT \"y\"", "AND(BODY(x) TEXT(y))" },
	{ "SINCE 1-Feb-1994 BEFORE \"2-Feb-1994\"", "AND(SINCE(760060800) BEFORE(760147200))" },
	{ "SENTON 1-Feb-1994", "AND(SENTON(760060800))" },
	{ "LARGER 100 SMALLER 4294967295", "AND(LARGER(100) SMALLER(4294967295))" },
	{ "1:3,5 UID 10:*", "AND(SEQ(1:3,5:5) UID(10:*))" },
	{ "UID $", "AND(UID($))" },
	{ "NOT NOT DELETED", "AND(NOT(NOT(FLAG(\\Deleted))))" },
	{ "OR SEEN (FROM a TO b)", "AND(OR(FLAG(\\Seen) AND(HEADER(From:a) HEADER(To:b))))" },
	{ "KEYWORD $Label1 UNKEYWORD Junk", "AND(FLAG($Label1) NOT(FLAG(Junk)))" },
	{ "MODSEQ 620162338", "AND(MODSEQ(620162338))" },
	{ "MODSEQ \"/flags/\\\\draft\" all 620162338", "AND(MODSEQ(620162338))" },
	{ "YOUNGER 3600 OLDER 60", "AND(YOUNGER(3600) OLDER(60))" },
	{ "CHARSET UTF-8 SUBJECT \"\xc3\xa9\"", "charset=UTF-8 AND(HEADER(Subject:\xc3\xa9))" },
	{ "RETURN (MIN COUNT) ALL", "return=9 AND(ALL)" },
	{ "RETURN () CHARSET US-ASCII ALL", "return=4 charset=US-ASCII AND(ALL)" },
	{ "RETURN (SAVE) SEEN", "return=16 AND(FLAG(\\Seen))" },

	{ "", "!SEARCH needs search criteria" },
	{ "CHARSET", "!CHARSET needs a charset name" },
	{ "CHARSET UTF-8", "!SEARCH needs search criteria" },
	{ "RETURN ALL", "!Invalid SEARCH RETURN options" },
	{ "RETURN (FOO) ALL", "!Invalid SEARCH RETURN options" },
	{ "FOO", "!Unknown SEARCH key" },
	{ "\"ALL\"", "!Invalid SEARCH key" },
	{ "()", "!Empty list in SEARCH" },
	{ "FROM", "!SEARCH key needs a string" },
	{ "FROM (a)", "!SEARCH key needs a string" },
	{ "HEADER X", "!HEADER needs a field name and a string" },
	{ "SINCE 30-Feb-2024", "!Invalid date in SEARCH (d-Mon-yyyy)" },
	{ "SINCE", "!Invalid date in SEARCH (d-Mon-yyyy)" },
	{ "LARGER x", "!Invalid number in SEARCH" },
	{ "LARGER 4294967296", "!Number too large in SEARCH" },
	{ "OLDER 0", "!OLDER and YOUNGER need a number of seconds" },
	{ "NOT", "!NOT needs a SEARCH key" },
	{ "OR SEEN", "!OR needs two SEARCH keys" },
	{ "OR (SEEN) (FOO)", "!Unknown SEARCH key" },
	{ "UID", "!UID needs a sequence set" },
	{ "UID 0", "!UID needs a sequence set" },
	{ "KEYWORD \\Seen", "!KEYWORD needs a keyword" },
	{ "MODSEQ \"x\" bogus 5", "!Invalid MODSEQ entry type" },
	{ "1:x", "!Unknown SEARCH key" },
};

static void dump_key(const struct imap_search_key *k, struct buf *out);

static void dump_children(const struct imap_search_key *k, struct buf *out)
{
	for (size_t i = 0; i < k->count; i++) {
		if (i > 0)
			buf_append(out, " ", 1);
		dump_key(&k->children[i], out);
	}
}

static void dump_set(const struct imap_seqset *set, struct buf *out)
{
	if (set->saved)
		buf_append(out, "$", 1);
	for (size_t i = 0; i < set->count; i++) {
		buf_printf(out, "%s", i ? "," : "");
		if (set->ranges[i].lo == IMAP_SEQ_STAR)
			buf_append(out, "*", 1);
		else
			buf_printf(out, "%u", set->ranges[i].lo);
		if (set->ranges[i].hi == IMAP_SEQ_STAR)
			buf_append(out, ":*", 2);
		else
			buf_printf(out, ":%u", set->ranges[i].hi);
	}
}

static void dump_key(const struct imap_search_key *k, struct buf *out)
{
	static const char *const dates[] = {
		[IMAP_SEARCH_BEFORE] = "BEFORE", [IMAP_SEARCH_ON] = "ON",
		[IMAP_SEARCH_SINCE] = "SINCE", [IMAP_SEARCH_SENTBEFORE] = "SENTBEFORE",
		[IMAP_SEARCH_SENTON] = "SENTON", [IMAP_SEARCH_SENTSINCE] = "SENTSINCE",
	};
	switch (k->kind) {
	case IMAP_SEARCH_AND:
	case IMAP_SEARCH_OR:
	case IMAP_SEARCH_NOT:
		buf_printf(out, "%s(", k->kind == IMAP_SEARCH_AND ? "AND" :
			   k->kind == IMAP_SEARCH_OR ? "OR" : "NOT");
		dump_children(k, out);
		buf_append(out, ")", 1);
		break;
	case IMAP_SEARCH_ALL: buf_append_str(out, "ALL"); break;
	case IMAP_SEARCH_FLAG: buf_printf(out, "FLAG(%.*s)", (int)k->value_len, k->value); break;
	case IMAP_SEARCH_HEADER:
		buf_printf(out, "HEADER(%s:%.*s)", k->field, (int)k->value_len, k->value);
		break;
	case IMAP_SEARCH_BODY: buf_printf(out, "BODY(%.*s)", (int)k->value_len, k->value); break;
	case IMAP_SEARCH_TEXT: buf_printf(out, "TEXT(%.*s)", (int)k->value_len, k->value); break;
	case IMAP_SEARCH_BEFORE:
	case IMAP_SEARCH_ON:
	case IMAP_SEARCH_SINCE:
	case IMAP_SEARCH_SENTBEFORE:
	case IMAP_SEARCH_SENTON:
	case IMAP_SEARCH_SENTSINCE:
		buf_printf(out, "%s(%lld)", dates[k->kind], (long long)k->date);
		break;
	case IMAP_SEARCH_LARGER: buf_printf(out, "LARGER(%llu)", (unsigned long long)k->number); break;
	case IMAP_SEARCH_SMALLER: buf_printf(out, "SMALLER(%llu)", (unsigned long long)k->number); break;
	case IMAP_SEARCH_MODSEQ: buf_printf(out, "MODSEQ(%llu)", (unsigned long long)k->number); break;
	case IMAP_SEARCH_OLDER: buf_printf(out, "OLDER(%llu)", (unsigned long long)k->number); break;
	case IMAP_SEARCH_YOUNGER: buf_printf(out, "YOUNGER(%llu)", (unsigned long long)k->number); break;
	case IMAP_SEARCH_SEQSET:
	case IMAP_SEARCH_UID:
		buf_append_str(out, k->kind == IMAP_SEARCH_UID ? "UID(" : "SEQ(");
		dump_set(&k->set, out);
		buf_append(out, ")", 1);
		break;
	}
}

static void test_search_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf line;
		buf_init(&line);
		buf_printf(&line, "a SEARCH%s%s\r\n", cases[i].args[0] ? " " : "", cases[i].args);
		struct imap_command cmd;
		const char *tag, *error = NULL;
		if (imap_command_parse(line.data, line.len, NULL, &cmd, &tag, &error) != 0) {
			print_error("case %zu: command: %s\n", i, error);
			fail();
		}
		struct imap_search search;
		struct buf out;
		buf_init(&out);
		if (imap_search_parse(cmd.args, cmd.count, &search, &error) == 0) {
			if (search.return_given)
				buf_printf(&out, "return=%u ", search.return_options);
			if (search.charset)
				buf_printf(&out, "charset=%s ", search.charset);
			dump_key(&search.root, &out);
			imap_search_free(&search);
		} else {
			buf_printf(&out, "!%s", error);
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

/* test_search_depth - NOT NOT ... and nested lists stop at the limit */
static void test_search_depth(void **state)
{
	(void)state;
	struct buf line;
	buf_init(&line);
	buf_append_str(&line, "a SEARCH");
	for (int i = 0; i < IMAP_SEARCH_DEPTH_MAX + 1; i++)
		buf_append_str(&line, " NOT");
	buf_append_str(&line, " SEEN\r\n");
	struct imap_command cmd;
	const char *tag, *error;
	assert_int_equal(imap_command_parse(line.data, line.len, NULL, &cmd, &tag, &error), 0);
	struct imap_search search;
	assert_int_equal(imap_search_parse(cmd.args, cmd.count, &search, &error), -1);
	assert_string_equal(error, "SEARCH criteria nested too deep");
	imap_command_free(&cmd);
	buf_free(&line);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_search_cases),
		cmocka_unit_test(test_search_depth),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
