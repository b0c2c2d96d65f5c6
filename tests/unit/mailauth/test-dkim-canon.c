/* tests/unit/mailauth/test-dkim-canon - DKIM canonicalization (RFC 6376 3.4).
 * The expected forms of the body table are dkimpy's (dkim.canonicalization,
 * python3-dkim 1.1.4) for the CRLF inputs; LF inputs must give what their
 * CRLF twins give.  Each body is hashed fed whole, one byte at a time, and
 * split in two at every offset: all must equal SHA-256 of the expected form. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/sha.h>

#include "mailauth/dkim-int.h"

struct body_case {
	const char *input;
	const char *simple;
	const char *relaxed;
};

static const struct body_case body_cases[] = {
	{ "", "\r\n", "" },
	{ "\r\n", "\r\n", "" },
	{ "\r\n\r\n", "\r\n", "" },
	{ "a", "a\r\n", "a\r\n" },
	{ "a\r\n", "a\r\n", "a\r\n" },
	{ "a\r\n\r\n\r\n", "a\r\n", "a\r\n" },
	{ " a  b \t\r\n", " a  b \t\r\n", " a b\r\n" },
	{ "  \r\nx\r\n", "  \r\nx\r\n", "\r\nx\r\n" },
	{ "a\rb\r\n", "a\rb\r\n", "a\rb\r\n" },
	{ "a \r", "a \r\r\n", "a \r\r\n" },
	{ "\r\n \r\n\t\r\n", "\r\n \r\n\t\r\n", "" },
	{ "x\r\n\r\n \r\n", "x\r\n\r\n \r\n", "x\r\n" },
	{ "x\r\n\r\ny\r\n\r\n", "x\r\n\r\ny\r\n", "x\r\n\r\ny\r\n" },
	{ "a\t\tb  \t c\r\n\r\n", "a\t\tb  \t c\r\n", "a b c\r\n" },
	/* LF line ends (stored messages) count as CRLF */
	{ "\n", "\r\n", "" },
	{ "a\nb\n\n\n", "a\r\nb\r\n", "a\r\nb\r\n" },
	{ " a  b \t\n", " a  b \t\r\n", " a b\r\n" },
	{ "  \nx\n", "  \r\nx\r\n", "\r\nx\r\n" },
	{ "a\r\nb\nc\r\n", "a\r\nb\r\nc\r\n", "a\r\nb\r\nc\r\n" },
	{ "\r\r\n", "\r\r\n", "\r\r\n" },
};

static void sha256_of(const char *s, size_t len, unsigned char out[DKIM_HASH_LEN])
{
	SHA256((const unsigned char *)s, len, out);
}

/* hash_split - hash INPUT fed in chunks of CHUNK bytes (0: whole), the first
 * chunk being FIRST bytes long when FIRST is not 0 */
static uint64_t hash_split(enum dkim_canon canon, int64_t limit, const char *input, size_t len,
			   size_t first, size_t chunk, unsigned char out[DKIM_HASH_LEN])
{
	struct dkim_body body;
	dkim_body_init(&body, canon, limit);
	size_t off = 0;
	if (first > 0 && first <= len) {
		dkim_body_update(&body, input, first);
		off = first;
	}
	while (off < len) {
		size_t n = chunk == 0 || chunk > len - off ? len - off : chunk;
		/* an exactly-sized copy: AddressSanitizer sees an overread */
		char *copy = malloc(n);
		assert_non_null(copy);
		memcpy(copy, input + off, n);
		dkim_body_update(&body, copy, n);
		free(copy);
		off += n;
	}
	dkim_body_final(&body, out);
	uint64_t length = body.length;
	dkim_body_free(&body);
	return length;
}

static void check_body(enum dkim_canon canon, const char *input, const char *expect)
{
	unsigned char want[DKIM_HASH_LEN], got[DKIM_HASH_LEN];
	size_t len = strlen(input);
	sha256_of(expect, strlen(expect), want);
	uint64_t length = hash_split(canon, -1, input, len, 0, 0, got);
	if (memcmp(want, got, sizeof(want)) != 0)
		fail_msg("canon %d of \"%s\" (whole) is not \"%s\"", canon, input, expect);
	assert_int_equal(length, strlen(expect));
	hash_split(canon, -1, input, len, 0, 1, got);
	if (memcmp(want, got, sizeof(want)) != 0)
		fail_msg("canon %d of \"%s\" (byte by byte) is not \"%s\"", canon, input, expect);
	for (size_t first = 1; first < len; first++) {
		hash_split(canon, -1, input, len, first, 0, got);
		if (memcmp(want, got, sizeof(want)) != 0)
			fail_msg("canon %d of \"%s\" split at %zu", canon, input, first);
	}
}

static void test_body_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(body_cases) / sizeof(body_cases[0]); i++) {
		check_body(DKIM_CANON_SIMPLE, body_cases[i].input, body_cases[i].simple);
		check_body(DKIM_CANON_RELAXED, body_cases[i].input, body_cases[i].relaxed);
	}
}

/* l=: only the first LIMIT canonical bytes are hashed; the length counts all */
static void test_body_limit(void **state)
{
	(void)state;
	static const char input[] = "Hello  world\r\n\r\nmore text\r\n\r\n";
	static const char relaxed[] = "Hello world\r\n\r\nmore text\r\n";
	unsigned char want[DKIM_HASH_LEN], got[DKIM_HASH_LEN];
	for (int64_t limit = 0; limit <= (int64_t)strlen(relaxed); limit++) {
		sha256_of(relaxed, (size_t)limit, want);
		uint64_t length = hash_split(DKIM_CANON_RELAXED, limit, input, strlen(input), 0, 1,
					     got);
		assert_memory_equal(want, got, sizeof(want));
		assert_int_equal(length, strlen(relaxed));
		hash_split(DKIM_CANON_RELAXED, limit, input, strlen(input), 0, 0, got);
		assert_memory_equal(want, got, sizeof(want));
	}
	/* l=0 of an empty simple body hashes nothing, the length is the CRLF */
	sha256_of("", 0, want);
	assert_int_equal(hash_split(DKIM_CANON_SIMPLE, 0, "", 0, 0, 0, got), 2);
	assert_memory_equal(want, got, sizeof(want));
}

/* a body much larger than the staging buffer, with long runs of empty lines
 * held back in the middle: chunked in odd sizes, the same hash */
static void test_body_large(void **state)
{
	(void)state;
	struct buf in, out;
	buf_init(&in);
	buf_init(&out);
	for (int i = 0; i < 5000; i++) {
		buf_printf(&in, "line %d \t with  text\r\n", i);
		buf_printf(&out, "line %d with text\r\n", i);
		if (i % 1000 == 0) {
			buf_append_str(&in, "\r\n\r\n \r\n");
			buf_append_str(&out, "\r\n\r\n\r\n");
		}
	}
	buf_append_str(&in, "\r\n\r\n\r\n");
	unsigned char want[DKIM_HASH_LEN], got[DKIM_HASH_LEN];
	sha256_of(out.data, out.len, want);
	static const size_t chunks[] = { 0, 1, 7, 1023, 1024, 1025, 65536 };
	for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		hash_split(DKIM_CANON_RELAXED, -1, in.data, in.len, 0, chunks[i], got);
		assert_memory_equal(want, got, sizeof(want));
	}
	buf_free(&in);
	buf_free(&out);
}

struct header_case {
	const char *field;     /* without its final line end */
	size_t name_len;
	const char *simple;
	const char *relaxed;
};

static const struct header_case header_cases[] = {
	{ "Subject: hello", 7, "Subject: hello", "subject:hello" },
	{ "SubJect : a  \r\n b \t", 7, "SubJect : a  \r\n b \t", "subject:a b" },
	{ "X:\r\n b", 1, "X:\r\n b", "x:b" },
	{ "X-Long:  one\r\n\ttwo \r\n  three", 6, "X-Long:  one\r\n\ttwo \r\n  three",
	  "x-long:one two three" },
	{ "Empty:", 5, "Empty:", "empty:" },
	{ "Empty:  \t ", 5, "Empty:  \t ", "empty:" },
	/* a stored message: LF stands for CRLF */
	{ "To: a\n b", 2, "To: a\r\n b", "to:a b" },
	/* a bare CR is an ordinary byte */
	{ "X: a\rb", 1, "X: a\rb", "x:a\rb" },
};

static void test_header_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(header_cases) / sizeof(header_cases[0]); i++) {
		const struct header_case *c = &header_cases[i];
		struct buf out;
		buf_init(&out);
		dkim_canon_header(DKIM_CANON_SIMPLE, c->field, strlen(c->field), c->name_len, &out);
		assert_int_equal(out.len, strlen(c->simple));
		assert_memory_equal(out.data, c->simple, out.len);
		buf_reset(&out);
		dkim_canon_header(DKIM_CANON_RELAXED, c->field, strlen(c->field), c->name_len, &out);
		if (out.len != strlen(c->relaxed) || memcmp(out.data, c->relaxed, out.len) != 0)
			fail_msg("relaxed \"%s\" gave \"%s\"", c->field, out.data);
		buf_free(&out);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_body_table),
		cmocka_unit_test(test_body_limit),
		cmocka_unit_test(test_body_large),
		cmocka_unit_test(test_header_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
