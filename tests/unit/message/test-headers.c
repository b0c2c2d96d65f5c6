/* tests/unit/message/test-headers - message_headers_parse, find, count,
 * unfold.  Each case is parsed whole, and every prefix of it is parsed from
 * an exactly-sized copy so that AddressSanitizer catches an overread. */
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

/* the table leaves input_len out where it is 0 */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

struct field_case {
	const char *name;
	const char *value;    /* raw, folding kept */
	const char *unfolded;
};

struct header_case {
	const char *input;
	size_t field_count;
	struct field_case fields[4];
	long body_offset;     /* -1: the input's length */
	bool malformed;
	size_t input_len;     /* 0: strlen(input); else holds a NUL, values unchecked */
};

static const struct header_case cases[] = {
	{ "From: a@b\r\nTo: c@d\r\n\r\nbody\r\n", 2,
	  { { "From", " a@b", "a@b" }, { "To", " c@d", "c@d" } }, 22, false },
	{ "From: a@b\nTo: c@d\n\nbody\n", 2,
	  { { "From", " a@b", "a@b" }, { "To", " c@d", "c@d" } }, 19, false },
	{ "Subject: hello\r\n world\r\n\tagain \r\nX: y\r\n\r\n", 2,
	  { { "Subject", " hello\r\n world\r\n\tagain ", "hello world\tagain" },
	    { "X", " y", "y" } }, -1, false },
	{ "Subject: hello\n world\nX:y\n\n", 2,
	  { { "Subject", " hello\n world", "hello world" }, { "X", "y", "y" } }, -1, false },
	/* a line that is neither ends the header section */
	{ "From: a\r\nthis is not a header\r\nTo: b\r\n\r\n", 1,
	  { { "From", " a", "a" } }, 9, true },
	{ " x\r\nFrom: a\r\n\r\n", 0, { { 0 } }, 0, true },
	{ "From a@b Sat Jan  3 01:05:34 1996\nX: y\n\n", 0, { { 0 } }, 0, true },
	{ "Bad Name: x\r\n\r\n", 0, { { 0 } }, 0, true },
	{ ": no name\r\n\r\n", 0, { { 0 } }, 0, true },
	{ "A: 1\r\nB\r\n\r\n", 1, { { "A", " 1", "1" } }, 6, true },
	{ "A: 1\r\n\x80: x\r\n\r\n", 1, { { "A", " 1", "1" } }, 6, true },
	/* no empty line: everything is header */
	{ "From: a\r\nTo: b", 2, { { "From", " a", "a" }, { "To", " b", "b" } }, -1, false },
	{ "From: a\r\n", 1, { { "From", " a", "a" } }, -1, false },
	{ "From: a\r\n continued", 1, { { "From", " a\r\n continued", "a continued" } },
	  -1, false },
	{ "", 0, { { 0 } }, 0, false },
	{ "\r\nbody", 0, { { 0 } }, 2, false },
	{ "\nbody", 0, { { 0 } }, 1, false },
	{ "\r", 0, { { 0 } }, 0, true },
	/* RFC 5322 4.5.8: WSP before the colon */
	{ "Subject : x\r\n\r\n", 1, { { "Subject", " x", "x" } }, -1, false },
	{ "X:\r\nY:  \r\n\r\n", 2, { { "X", "", "" }, { "Y", "  ", "" } }, -1, false },
	/* bare CR stays in the value; CR CR LF keeps one CR */
	{ "A: b\rc\r\n\r\n", 1, { { "A", " b\rc", "b\rc" } }, -1, false },
	{ "A: b\r\r\n\r\n", 1, { { "A", " b\r", "b" } }, -1, false },
	/* mixed line ends */
	{ "A: 1\nB: 2\r\n\n", 2, { { "A", " 1", "1" }, { "B", " 2", "2" } }, -1, false },
	/* a whitespace-only line continues the field (obs-FWS) */
	{ "A: 1\r\n \r\n 2\r\n\r\n", 1, { { "A", " 1\r\n \r\n 2", "1  2" } }, -1, false },
	{ "A: x\0y\r\n\r\n", 1, { { "A", NULL, NULL } }, -1, false, 10 },
};

/* check_invariants - what must hold for any input */
static void check_invariants(const char *data, size_t len, const struct message_headers *h)
{
	size_t expect_offset = 0;

	assert_true(h->body_offset <= len);
	assert_true(h->count <= MESSAGE_HEADER_MAX);
	for (size_t i = 0; i < h->count; i++) {
		const struct message_header *f = &h->fields[i];
		assert_int_equal(f->offset, expect_offset);
		assert_true(f->length > 0 && f->offset + f->length <= len);
		assert_ptr_equal(f->name, data + f->offset);
		assert_true(f->name_len > 0);
		assert_true(f->value >= f->name + f->name_len);
		assert_true(f->value + f->value_len <= data + f->offset + f->length);
		expect_offset += f->length;
		char *u = message_header_unfold(f);
		assert_true(strlen(u) <= f->value_len);
		free(u);
	}
	if (!h->truncated)
		assert_true(h->body_offset >= expect_offset);
}

static void test_cases(void **state)
{
	(void)state;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		const struct header_case *tc = &cases[c];
		size_t len = tc->input_len ? tc->input_len : strlen(tc->input);
		struct message_headers h;

		char *data = test_dup_exact(tc->input, len);
		message_headers_parse(data, len, &h);
		check_invariants(data, len, &h);
		if (h.count != tc->field_count)
			fail_msg("case %zu: %zu fields, expected %zu", c, h.count, tc->field_count);
		for (size_t i = 0; i < tc->field_count; i++) {
			const struct message_header *f = &h.fields[i];
			assert_int_equal(f->name_len, strlen(tc->fields[i].name));
			assert_memory_equal(f->name, tc->fields[i].name, f->name_len);
			if (tc->fields[i].value != NULL) {
				assert_int_equal(f->value_len, strlen(tc->fields[i].value));
				assert_memory_equal(f->value, tc->fields[i].value, f->value_len);
				char *u = message_header_unfold(f);
				assert_string_equal(u, tc->fields[i].unfolded);
				free(u);
			}
		}
		size_t body = tc->body_offset < 0 ? len : (size_t)tc->body_offset;
		if (h.body_offset != body)
			fail_msg("case %zu: body at %zu, expected %zu", c, h.body_offset, body);
		assert_int_equal(h.malformed, tc->malformed);
		assert_false(h.truncated);
		message_headers_free(&h);
		assert_null(h.fields);
		free(data);
	}
}

/* test_prefixes - every prefix of every case, in an exactly-sized buffer */
static void test_prefixes(void **state)
{
	(void)state;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		size_t len = cases[c].input_len ? cases[c].input_len : strlen(cases[c].input);
		for (size_t n = 0; n <= len; n++) {
			struct message_headers h;
			char *data = test_dup_exact(cases[c].input, n);
			message_headers_parse(data, n, &h);
			check_invariants(data, n, &h);
			message_headers_free(&h);
			free(data);
		}
	}
}

static void test_truncated(void **state)
{
	struct buf b;
	struct message_headers h;

	(void)state;
	buf_init(&b);
	for (int i = 0; i < MESSAGE_HEADER_MAX + 5; i++)
		buf_printf(&b, "X-Field-%d: value %d\r\n", i, i);
	buf_append_str(&b, " continued\r\n\r\nbody\r\n");
	char *data = test_dup_exact(b.data, b.len);
	message_headers_parse(data, b.len, &h);
	check_invariants(data, b.len, &h);
	assert_int_equal(h.count, MESSAGE_HEADER_MAX);
	assert_true(h.truncated);
	assert_false(h.malformed);
	assert_int_equal(h.body_offset, b.len - strlen("body\r\n"));
	const struct message_header *f = message_header_find(&h, "x-field-999", 0);
	assert_non_null(f);
	assert_int_equal(f->value_len, strlen(" value 999"));
	assert_null(message_header_find(&h, "X-Field-1000", 0));
	message_headers_free(&h);
	free(data);

	/* exactly MESSAGE_HEADER_MAX fields is not truncated */
	buf_reset(&b);
	for (int i = 0; i < MESSAGE_HEADER_MAX; i++)
		buf_printf(&b, "X: %d\n", i);
	buf_append_str(&b, "\n");
	message_headers_parse(b.data, b.len, &h);
	assert_int_equal(h.count, MESSAGE_HEADER_MAX);
	assert_false(h.truncated);
	assert_int_equal(h.body_offset, b.len);
	assert_int_equal(message_header_count(&h, "x"), MESSAGE_HEADER_MAX);
	message_headers_free(&h);

	/* truncated, then a malformed line: body starts there */
	buf_reset(&b);
	for (int i = 0; i < MESSAGE_HEADER_MAX + 1; i++)
		buf_printf(&b, "X: %d\n", i);
	size_t bad = b.len;
	buf_append_str(&b, "garbage\n\n");
	message_headers_parse(b.data, b.len, &h);
	assert_true(h.truncated && h.malformed);
	assert_int_equal(h.body_offset, bad);
	message_headers_free(&h);
	buf_free(&b);
}

static void test_find_count(void **state)
{
	const char *msg = "Received: one\r\nFROM: a@b\r\nreceived: two\r\n"
			  "Received : three\r\nX: y\r\n\r\nReceived: body\r\n";
	struct message_headers h;

	(void)state;
	message_headers_parse(msg, strlen(msg), &h);
	assert_int_equal(h.count, 5);
	assert_int_equal(message_header_count(&h, "received"), 3);
	assert_int_equal(message_header_count(&h, "RECEIVED"), 3);
	assert_int_equal(message_header_count(&h, "from"), 1);
	assert_int_equal(message_header_count(&h, "Receive"), 0);
	assert_int_equal(message_header_count(&h, "Subject"), 0);
	const struct message_header *f = message_header_find(&h, "Received", 1);
	assert_non_null(f);
	assert_memory_equal(f->value, " two", 4);
	f = message_header_find(&h, "Received", 2);
	assert_non_null(f);
	assert_memory_equal(f->value, " three", 6);
	assert_int_equal(f->offset, strlen("Received: one\r\nFROM: a@b\r\nreceived: two\r\n"));
	assert_null(message_header_find(&h, "Received", 3));
	assert_ptr_equal(message_header_find(&h, "from", 0), &h.fields[1]);
	message_headers_free(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_prefixes),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_find_count),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
