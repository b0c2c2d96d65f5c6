/* tests/unit/message/test-encoded-words - RFC 2047 encoded words to UTF-8
 * (src/message/charset.c): a table of cases whose expected values were
 * checked against Python's email.header (decode_header + make_header) where
 * Python accepts the input, and the output bound; and the writers of
 * src/message/encode.c, octet by octet and decoded back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "message/message.h"
#include "test-util.h"

static void test_encoded_words(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		const char *out;
	} cases[] = {
		{ "=?UTF-8?B?w6lsw6h2ZQ==?=", "\xc3\xa9l\xc3\xa8ve" },
		{ "=?iso-8859-1?q?caf=E9?= au lait", "caf\xc3\xa9 au lait" },
		/* RFC 2047 6.2: white space between encoded words goes */
		{ "=?utf-8?q?a?= =?utf-8?q?b?=", "ab" },
		{ "=?utf-8?q?a?=  \t =?iso-8859-1?q?=E9?=", "a\xc3\xa9" },
		{ "x =?utf-8?q?a_b?= y", "x a b y" },
		/* a character split between two words of one charset */
		{ "=?utf-8?B?4oI=?= =?utf-8?B?rA==?=", "\xe2\x82\xac" },
		{ "=?ISO-2022-JP?B?GyRCJEskWyQzGyhC?=", "\xe3\x81\xab\xe3\x81\xbb\xe3\x81\x93" },
		{ "=?windows-1252?Q?=80_euro?=", "\xe2\x82\xac euro" },
		/* RFC 2231 5: a language (Python refuses it) */
		{ "=?utf-8*en?Q?hello?=", "hello" },
		{ "=?US-ASCII*en-US?B?aGk=?=", "hi" },
		/* unknown charset, unknown encoding, malformed: as written */
		{ "=?x-unknown?q?abc?= d", "=?x-unknown?q?abc?= d" },
		{ "=?x-unknown?q?a?= =?utf-8?q?b?=", "=?x-unknown?q?a?= b" },
		{ "=?utf-8?X?abc?=", "=?utf-8?X?abc?=" },
		{ "=?utf-8?q?a b?=", "=?utf-8?q?a b?=" },   /* Python: "a b" */
		{ "=?utf-8?q?abc", "=?utf-8?q?abc" },
		{ "=?" "?q?abc?=", "=?" "?q?abc?=" },
		{ "=?utf-8//TRANSLIT?q?a?=", "=?utf-8//TRANSLIT?q?a?=" },
		{ "=?utf-8*?q?a?=", "=?utf-8*?q?a?=" },
		{ "=?utf-8?b?a$b?=", "=?utf-8?b?a$b?=" },
		{ "=?utf-8?q?" "?=", "" },
		{ "=?utf-8?q?=ZZ=4?=", "=ZZ=4" },              /* a bad Q escape is kept */
		/* adjacent to text, and to each other without space */
		{ "re:=?utf-8?q?x?=!", "re:x!" },
		{ "=?utf-8?q?a?==?utf-8?q?b?=", "ab" },
		/* words separated by text keep the text */
		{ "=?utf-8?q?a?= - =?utf-8?q?b?=", "a - b" },
		/* bytes that are not UTF-8 become U+FFFD, inside and outside words */
		{ "=?utf-8?q?=FF?=", "\xef\xbf\xbd" },
		{ "caf\xe9", "caf\xef\xbf\xbd" },
		{ "=?utf-8?b?4oI=?= x", "\xef\xbf\xbd\xef\xbf\xbd x" },
		{ "plain text", "plain text" },
		{ "", "" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = strlen(cases[i].in);
		char *in = test_dup_exact(cases[i].in, len);
		struct buf out;
		buf_init(&out);
		assert_false(message_header_decode(in, len, 1000, &out));
		if (strcmp(out.data ? out.data : "", cases[i].out) != 0)
			fail_msg("\"%s\": got \"%s\", want \"%s\"", cases[i].in,
				 out.data ? out.data : "", cases[i].out);
		buf_free(&out);
		free(in);
	}
}

/* the output stops at MAX bytes, before a character that would not fit */
static void test_encoded_words_bound(void **state)
{
	(void)state;
	const char *in = "=?utf-8?q?=E2=82=AC=E2=82=AC?=";
	size_t len = strlen(in);
	struct buf out;
	buf_init(&out);
	assert_true(message_header_decode(in, len, 5, &out));
	assert_int_equal(out.len, 3);
	assert_memory_equal(out.data, "\xe2\x82\xac", 3);
	buf_reset(&out);
	assert_false(message_header_decode(in, len, 6, &out));
	assert_int_equal(out.len, 6);
	buf_reset(&out);
	assert_true(message_header_decode(in, len, 0, &out));
	assert_int_equal(out.len, 0);
	buf_free(&out);
}

/* test_phrase_unstructured_write - what message/encode.c writes, exactly,
 * and decoded back to the text it was given (unfolded as a reader does) */
static void test_phrase_unstructured_write(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		bool phrase;
		const char *want;
	} cases[] = {
		{ "Bob Smith", true, "Bob Smith" },
		{ "Smith, Bob", true, "\"Smith, Bob\"" },
		{ "say \"hi\" \\", true, "\"say \\\"hi\\\" \\\\\"" },
		{ "Zo\xc3\xab", true, "=?UTF-8?B?Wm/Dqw==?=" },
		{ "tab\there", true, "=?UTF-8?B?dGFiCWhlcmU=?=" },
		{ "Plain subject", false, "Plain subject" },
		{ "not =?x?B?eA==?= a word", false, "=?UTF-8?B?bm90ID0/eD9CP2VBPT0/PSBhIHdvcmQ=?=" },
		/* 46 octets of UTF-8: the split backs off to a character boundary */
		{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\xc3\xab", false,
		  "=?UTF-8?B?YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWE=?=\r\n"
		  " =?UTF-8?B?w6s=?=" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf out, back;
		buf_init(&out);
		buf_init(&back);
		if (cases[i].phrase)
			message_phrase_write(cases[i].text, "\r\n ", &out);
		else
			message_unstructured_write(cases[i].text, 998, "\r\n ", &out);
		buf_append(&out, "", 1);
		if (strcmp(out.data, cases[i].want) != 0)
			fail_msg("case %zu: got \"%s\", want \"%s\"", i, out.data, cases[i].want);
		if (strstr(out.data, "=?UTF-8?")) {
			/* a reader unfolds first (RFC 5322 2.2.3), then decodes */
			char *unfolded = strdup(out.data);
			char *w = unfolded;
			for (const char *r = unfolded; *r; r++)
				if (*r != '\r' && *r != '\n')
					*w++ = *r;
			*w = '\0';
			assert_false(message_header_decode(unfolded, strlen(unfolded), 1000, &back));
			buf_append(&back, "", 1);
			assert_string_equal(back.data, cases[i].text);
			free(unfolded);
		}
		buf_free(&out);
		buf_free(&back);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encoded_words),
		cmocka_unit_test(test_encoded_words_bound),
		cmocka_unit_test(test_phrase_unstructured_write),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
