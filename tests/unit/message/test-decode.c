/* tests/unit/message/test-decode - the streaming transfer decoders
 * (src/message/decode.c): a table of base64 and quoted-printable cases, each
 * fed whole, one byte at a time and cut in two at every offset, in blocks of
 * exactly their size; Content-Transfer-Encoding names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "message/message.h"
#include "test-util.h"

struct decode_case {
	enum message_encoding encoding;
	const char *in;
	const char *out;
	size_t out_len;  /* 0: strlen(out) */
};

static const struct decode_case cases[] = {
	/* base64, RFC 2045 6.8 */
	{ MESSAGE_ENCODING_BASE64, "Zm9vYmFy", "foobar", 0 },
	{ MESSAGE_ENCODING_BASE64, "Zm9v\r\nYmFy\r\n", "foobar", 0 },
	{ MESSAGE_ENCODING_BASE64, "Zm9vYg==", "foob", 0 },
	{ MESSAGE_ENCODING_BASE64, "Zm9vYmE=", "fooba", 0 },
	{ MESSAGE_ENCODING_BASE64, " Zm 9v\tYm\x01" "Fy!*", "foobar", 0 },  /* outside the alphabet: ignored */
	{ MESSAGE_ENCODING_BASE64, "Zm9vYg==Zm9v", "foob", 0 },         /* "=" ends the data */
	{ MESSAGE_ENCODING_BASE64, "Zm9vYg", "foob", 0 },               /* no padding: whole bytes */
	{ MESSAGE_ENCODING_BASE64, "Zm9vYmE", "fooba", 0 },
	{ MESSAGE_ENCODING_BASE64, "Zm9vY", "foo", 0 },                 /* 6 bits: no byte */
	{ MESSAGE_ENCODING_BASE64, "AAEC/w==", "\0\1\2\xff", 4 },
	{ MESSAGE_ENCODING_BASE64, "", "", 0 },
	{ MESSAGE_ENCODING_BASE64, "====", "", 0 },
	/* quoted-printable, RFC 2045 6.7 */
	{ MESSAGE_ENCODING_QUOTED_PRINTABLE, "caf=C3=A9\r\n", "caf\xc3\xa9\r\n", 0 },
	{ MESSAGE_ENCODING_QUOTED_PRINTABLE, "caf=c3=a9", "caf\xc3\xa9", 0 },  /* lower-case hex */
	{ MESSAGE_ENCODING_QUOTED_PRINTABLE, "soft=\r\nbreak=\nhere", "softbreakhere", 0 },
	{ MESSAGE_ENCODING_QUOTED_PRINTABLE, "pad= \t\r\nded", "padded", 0 },  /* "=" WSP CRLF */
	{ MESSAGE_ENCODING_QUOTED_PRINTABLE, "trailing  \r\nspace\t\nend ", "trailing\r\nspace\nend", 0 },
	{ MESSAGE_ENCODING_QUOTED_PRINTABLE, "in  side", "in  side", 0 },
	{ MESSAGE_ENCODING_QUOTED_PRINTABLE, "a =\r\nb", "a b", 0 },          /* WSP before "=" is text */
	{ MESSAGE_ENCODING_QUOTED_PRINTABLE, "1=3D2", "1=2", 0 },
	{ MESSAGE_ENCODING_QUOTED_PRINTABLE, "bad=XY=4", "bad=XY=4", 0 },     /* not escapes: kept */
	{ MESSAGE_ENCODING_QUOTED_PRINTABLE, "bad=4G", "bad=4G", 0 },
	{ MESSAGE_ENCODING_QUOTED_PRINTABLE, "eq= x", "eq= x", 0 },           /* "=" WSP text */
	{ MESSAGE_ENCODING_QUOTED_PRINTABLE, "last=", "last", 0 },            /* soft break at the end */
	{ MESSAGE_ENCODING_QUOTED_PRINTABLE, "last=A", "last=A", 0 },
	{ MESSAGE_ENCODING_QUOTED_PRINTABLE, "bare\rcr \rx", "bare\rcr \rx", 0 },
	{ MESSAGE_ENCODING_QUOTED_PRINTABLE, "eqcr=\rx", "eqcr=\rx", 0 },
	{ MESSAGE_ENCODING_QUOTED_PRINTABLE, "nul=00.", "nul\0.", 5 },
	{ MESSAGE_ENCODING_QUOTED_PRINTABLE, "ws \r", "ws \r", 0 },
	/* identity */
	{ MESSAGE_ENCODING_8BIT, "as=3D is \r\n", "as=3D is \r\n", 0 },
	{ MESSAGE_ENCODING_UNKNOWN, "Zm9v", "Zm9v", 0 },
};

/* decode_split - IN decoded fed as pieces of STEP bytes (0: whole), or cut
 * once at CUT when STEP is (size_t)-1 */
static void decode_split(const struct decode_case *c, size_t step, size_t cut, struct buf *out)
{
	size_t len = strlen(c->in);
	char *in = test_dup_exact(c->in, len);
	struct message_decoder dec;

	message_decoder_init(&dec, c->encoding);
	if (step == (size_t)-1) {
		char *a = test_dup_exact(in, cut), *b = test_dup_exact(in + cut, len - cut);
		message_decoder_feed(&dec, a, cut, out);
		message_decoder_feed(&dec, b, len - cut, out);
		free(a);
		free(b);
	} else if (step == 0) {
		message_decoder_feed(&dec, in, len, out);
	} else {
		for (size_t i = 0; i < len; i += step) {
			size_t n = len - i < step ? len - i : step;
			char *piece = test_dup_exact(in + i, n);
			message_decoder_feed(&dec, piece, n, out);
			free(piece);
		}
	}
	message_decoder_finish(&dec, out);
	free(in);
}

static void check(const struct decode_case *c, const struct buf *out)
{
	size_t want = c->out_len ? c->out_len : strlen(c->out);
	if (out->len != want || (want && memcmp(out->data, c->out, want) != 0))
		fail_msg("\"%s\": got \"%.*s\" (%zu bytes), want \"%s\"", c->in, (int)out->len,
			 out->data ? out->data : "", out->len, c->out);
}

static void test_decode_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct decode_case *c = &cases[i];
		size_t len = strlen(c->in);
		struct buf out;
		buf_init(&out);
		decode_split(c, 0, 0, &out);
		check(c, &out);
		buf_reset(&out);
		decode_split(c, 1, 0, &out);
		check(c, &out);
		for (size_t cut = 0; cut <= len; cut++) {
			buf_reset(&out);
			decode_split(c, (size_t)-1, cut, &out);
			check(c, &out);
		}
		assert_true(out.len <= len);
		buf_free(&out);
	}
}

/* a long quoted-printable text with long runs of white space and every
 * escape decodes the same in pieces of every size from 1 to 40 */
static void test_decode_chunk_sizes(void **state)
{
	(void)state;
	struct buf in, whole, pieces;
	buf_init(&in);
	buf_init(&whole);
	buf_init(&pieces);
	for (unsigned i = 0; i < 256; i++) {
		buf_printf(&in, "=%02X%s", i, i % 7 == 0 ? "=\r\n" : i % 5 == 0 ? "  \t\r\n" : "x");
		if (i % 50 == 0)
			for (int k = 0; k < 100; k++)
				buf_append(&in, " ", 1);
	}
	enum message_encoding encs[] = { MESSAGE_ENCODING_QUOTED_PRINTABLE,
					 MESSAGE_ENCODING_BASE64 };
	for (size_t e = 0; e < 2; e++) {
		struct message_decoder dec;
		buf_reset(&whole);
		message_decoder_init(&dec, encs[e]);
		message_decoder_feed(&dec, in.data, in.len, &whole);
		message_decoder_finish(&dec, &whole);
		assert_true(whole.len > 256 || encs[e] == MESSAGE_ENCODING_BASE64);
		for (size_t step = 1; step <= 40; step++) {
			buf_reset(&pieces);
			message_decoder_init(&dec, encs[e]);
			for (size_t i = 0; i < in.len; i += step)
				message_decoder_feed(&dec, in.data + i,
						     in.len - i < step ? in.len - i : step, &pieces);
			message_decoder_finish(&dec, &pieces);
			assert_int_equal(pieces.len, whole.len);
			assert_memory_equal(pieces.data, whole.data, whole.len);
		}
	}
	buf_free(&in);
	buf_free(&whole);
	buf_free(&pieces);
}

static void test_encoding_parse(void **state)
{
	(void)state;
	static const struct {
		const char *value;
		enum message_encoding encoding;
	} names[] = {
		{ "7bit", MESSAGE_ENCODING_7BIT },
		{ " Base64 ", MESSAGE_ENCODING_BASE64 },
		{ "(comment) quoted-printable (more)", MESSAGE_ENCODING_QUOTED_PRINTABLE },
		{ "8BIT", MESSAGE_ENCODING_8BIT },
		{ "binary", MESSAGE_ENCODING_BINARY },
		{ "", MESSAGE_ENCODING_7BIT },
		{ "x-uuencode", MESSAGE_ENCODING_UNKNOWN },
		{ "base64x", MESSAGE_ENCODING_UNKNOWN },
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		size_t len = strlen(names[i].value);
		char *v = test_dup_exact(names[i].value, len);
		assert_int_equal(message_encoding_parse(v, len), names[i].encoding);
		free(v);
	}
	assert_string_equal(message_encoding_name(MESSAGE_ENCODING_QUOTED_PRINTABLE),
			    "quoted-printable");
	assert_string_equal(message_encoding_name(MESSAGE_ENCODING_UNKNOWN), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decode_cases),
		cmocka_unit_test(test_decode_chunk_sizes),
		cmocka_unit_test(test_encoding_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
