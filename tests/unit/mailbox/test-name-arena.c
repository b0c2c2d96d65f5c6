/* tests/unit/mailbox/test-name-arena - src/mailbox/name-arena.c: names
 * read back as added; a folder whose messages are renamed over and over
 * (flag changes) keeps a buffer of about its live names, the dead ones
 * reclaimed by name_arena_compact, which keeps every offset right; fit
 * gives back the room of the growth; a listing's arena that messages took
 * a part of counts the rest dead (recount), then compacts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "mailbox/internal.h"

#define MSGS 200

struct msg {
	uint32_t uid;
	uint32_t name;
	uint64_t other;
};

static void name_of(char *out, size_t len, unsigned i, unsigned round)
{
	snprintf(out, len, "1733000000.M%uP4242.bench.test,S=%u,U=%u:2,%s", i, 1000 + i, i + 1,
		 round % 2 ? "S" : "FS");
}

static void test_name_arena_add_get(void **state)
{
	(void)state;
	struct name_arena a;
	name_arena_init(&a);
	uint32_t x = name_arena_add(&a, "one"), y = name_arena_add(&a, ""),
		 z = name_arena_add(&a, "three:2,S");
	assert_string_equal(name_arena_get(&a, x), "one");
	assert_string_equal(name_arena_get(&a, y), "");
	assert_string_equal(name_arena_get(&a, z), "three:2,S");
	assert_int_equal(a.len, 4 + 1 + 10);
	name_arena_fit(&a);
	assert_int_equal(a.cap, a.len);
	assert_string_equal(name_arena_get(&a, z), "three:2,S");
	name_arena_free(&a);
}

static void test_name_arena_renames_reclaimed(void **state)
{
	(void)state;
	struct name_arena a;
	struct msg msgs[MSGS];
	char name[128];
	size_t live = 0, compactions = 0;
	name_arena_init(&a);
	for (unsigned i = 0; i < MSGS; i++) {
		name_of(name, sizeof(name), i, 0);
		msgs[i] = (struct msg){ .uid = i + 1, .name = name_arena_add(&a, name), .other = i };
		live += strlen(name) + 1;
	}
	size_t first = a.len;
	for (unsigned round = 1; round <= 100; round++) {
		for (unsigned i = 0; i < MSGS; i++) {
			name_of(name, sizeof(name), i, round);
			name_arena_drop(&a, msgs[i].name);
			msgs[i].name = name_arena_add(&a, name);
		}
		compactions += name_arena_compact(&a, &msgs[0].name, MSGS, sizeof(msgs[0]));
		/* never past twice the live names and their growth */
		assert_true(a.cap <= 3 * first);
		for (unsigned i = 0; i < MSGS; i++) {
			name_of(name, sizeof(name), i, round);
			assert_string_equal(name_arena_get(&a, msgs[i].name), name);
			assert_int_equal(msgs[i].uid, i + 1);
			assert_int_equal(msgs[i].other, i);
		}
	}
	assert_true(compactions >= 40);
	assert_true(a.len - a.dead <= live + MSGS);
	name_arena_free(&a);
}

static void test_name_arena_compact_not_yet(void **state)
{
	(void)state;
	struct name_arena a;
	struct msg msgs[MSGS];
	char name[128];
	name_arena_init(&a);
	for (unsigned i = 0; i < MSGS; i++) {
		name_of(name, sizeof(name), i, 0);
		msgs[i] = (struct msg){ .uid = i + 1, .name = name_arena_add(&a, name) };
	}
	/* a few renames: not worth a copy */
	for (unsigned i = 0; i < 10; i++) {
		name_of(name, sizeof(name), i, 1);
		name_arena_drop(&a, msgs[i].name);
		msgs[i].name = name_arena_add(&a, name);
	}
	uint32_t before = msgs[MSGS - 1].name;
	assert_false(name_arena_compact(&a, &msgs[0].name, MSGS, sizeof(msgs[0])));
	assert_int_equal(msgs[MSGS - 1].name, before);
	name_arena_free(&a);
}

/* a folder's first listing: every name added, messages take some of them
 * (no drops); recount makes the rest dead, and compact keeps the taken */
static void test_name_arena_recount(void **state)
{
	(void)state;
	struct name_arena a;
	struct msg msgs[MSGS];
	uint32_t listed[3 * MSGS];
	char name[128];
	size_t live = 0;
	name_arena_init(&a);
	for (unsigned i = 0; i < 3 * MSGS; i++) {
		name_of(name, sizeof(name), i, 0);
		listed[i] = name_arena_add(&a, name);
	}
	for (unsigned i = 0; i < MSGS; i++) {   /* every third listed name taken */
		msgs[i] = (struct msg){ .uid = i + 1, .name = listed[3 * i + 1] };
		live += strlen(name_arena_get(&a, listed[3 * i + 1])) + 1;
	}
	assert_int_equal(a.dead, 0);
	name_arena_recount(&a, &msgs[0].name, MSGS, sizeof(msgs[0]));
	assert_int_equal(a.len - a.dead, live);
	assert_true(name_arena_compact(&a, &msgs[0].name, MSGS, sizeof(msgs[0])));
	assert_int_equal(a.len, live);
	assert_int_equal(a.dead, 0);
	for (unsigned i = 0; i < MSGS; i++) {
		name_of(name, sizeof(name), 3 * i + 1, 0);
		assert_string_equal(name_arena_get(&a, msgs[i].name), name);
	}
	name_arena_free(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name_arena_add_get),
		cmocka_unit_test(test_name_arena_renames_reclaimed),
		cmocka_unit_test(test_name_arena_recount),
		cmocka_unit_test(test_name_arena_compact_not_yet),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
