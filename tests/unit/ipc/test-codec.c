/* tests/unit/ipc/test-codec - the frame codec of src/ipc: the exact bytes of
 * a frame, round trips, every malformed case (decoded whole, and found or
 * refused by ipc_frame_find), every valid frame fed to ipc_frame_find one
 * byte at a time, the limits of ipc_encode and the field readers' shapes.
 * Inputs sit in blocks of exactly their size so that AddressSanitizer
 * catches a read one byte too far. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "ipc/ipc.h"
#include "util/buf.h"

/* dup_exact - LEN bytes in a block of exactly that size */
static unsigned char *dup_exact(const void *s, size_t len)
{
	unsigned char *p = malloc(len ? len : 1);
	if (p == NULL)
		abort();
	if (len)
		memcpy(p, s, len);
	return p;
}

/* decode_exact - ipc_decode on a copy of exactly LEN bytes; the fields of
 * MSG are not used after (they would point into the freed copy) */
static int decode_exact(const void *frame, size_t len, struct ipc_msg *msg)
{
	unsigned char *p = dup_exact(frame, len);
	int r = ipc_decode(p, len, msg);
	free(p);
	return r;
}

static void test_exact_bytes(void **state)
{
	static const unsigned char want[] = {
		0, 0, 0, 19,            /* length */
		1,                      /* IPC_AUTH_PASSWORD */
		0x01, 0x02, 0x03, 0x04, /* id */
		3,                      /* count */
		0, 5, 'a', 'l', 'i', 'c', 'e',
		0, 2, 'p', 'w',
		0, 0,
	};
	struct ipc_field f[3] = { ipc_text("alice"), ipc_text("pw"), { NULL, 0 } };
	struct buf out;
	buf_init(&out);
	buf_append_str(&out, "x");
	assert_int_equal(ipc_encode(&out, IPC_AUTH_PASSWORD, 0x01020304, 3, f), 0);
	assert_int_equal(out.len, 1 + sizeof(want));
	assert_memory_equal(out.data + 1, want, sizeof(want));

	struct ipc_msg m;
	unsigned char *frame = dup_exact(want, sizeof(want));
	assert_int_equal(ipc_decode(frame, sizeof(want), &m), 0);
	assert_int_equal(m.type, IPC_AUTH_PASSWORD);
	assert_int_equal(m.id, 0x01020304);
	assert_int_equal(m.count, 3);
	assert_int_equal(m.field[0].len, 5);
	assert_memory_equal(m.field[0].data, "alice", 5);
	assert_int_equal(m.field[1].len, 2);
	assert_memory_equal(m.field[1].data, "pw", 2);
	assert_int_equal(m.field[2].len, 0);
	free(frame);
	buf_free(&out);
}

/* a set of valid messages used by the round trip and byte-by-byte tests */
static unsigned char big[65528];

struct sample {
	uint8_t type;
	uint32_t id;
	unsigned count;
	struct ipc_field f[IPC_FIELDS_MAX];
};

static const struct sample *samples(size_t *n_r)
{
	static struct sample s[8];
	static unsigned char u32b[8], u64b[8];
	memset(big, 0xa5, sizeof(big));
	s[0] = (struct sample){ IPC_KEYS_LIST, 1, 0, { { NULL, 0 } } };
	s[1] = (struct sample){ IPC_R_OK, 0xffffffff, 1, { ipc_u32(7, u32b) } };
	s[2] = (struct sample){ IPC_R_FAIL, 42, 3,
		{ ipc_text("bad password"), ipc_u32(1000, u32b), ipc_u64(UINT64_MAX - 1, u64b) } };
	s[3] = (struct sample){ IPC_AUTH_SCRAM_PROOF, 9, IPC_FIELDS_MAX,
		{ { "a", 1 }, { NULL, 0 }, { "\0\0", 2 }, { "xyz", 3 }, { NULL, 0 },
		  { "\xff", 1 }, { "0123456789abcdef0123456789abcdef", 32 }, { "z", 1 } } };
	/* the largest frame: 6 + 2 + 65528 = IPC_FRAME_MAX */
	s[4] = (struct sample){ IPC_KEYS_SIGN, 0, 1, { { big, sizeof(big) } } };
	s[5] = (struct sample){ IPC_R_BAD, 3, 1, { ipc_text("no") } };
	s[6] = (struct sample){ IPC_R_TEMPFAIL, 0x80000000, 2, { { big, 65535 - 10 }, { NULL, 0 } } };
	s[7] = (struct sample){ IPC_R_LOCKED, 5, 1, { ipc_u64(1234567890123ull, u64b) } };
	*n_r = sizeof(s) / sizeof(s[0]);
	return s;
}

static void assert_msg_equal(const struct ipc_msg *m, const struct sample *s)
{
	assert_int_equal(m->type, s->type);
	assert_int_equal(m->id, s->id);
	assert_int_equal(m->count, s->count);
	for (unsigned i = 0; i < s->count; i++) {
		assert_int_equal(m->field[i].len, s->f[i].len);
		if (s->f[i].len)
			assert_memory_equal(m->field[i].data, s->f[i].data, s->f[i].len);
	}
}

static void test_round_trip(void **state)
{
	size_t n;
	const struct sample *s = samples(&n);
	for (size_t i = 0; i < n; i++) {
		struct buf out, again;
		struct ipc_msg m;
		buf_init(&out);
		buf_init(&again);
		assert_int_equal(ipc_encode(&out, s[i].type, s[i].id, s[i].count, s[i].f), 0);
		unsigned char *frame = dup_exact(out.data, out.len);
		size_t flen = 0;
		assert_int_equal(ipc_frame_find(frame, out.len, &flen), IPC_FRAME_OK);
		assert_int_equal(flen, out.len);
		assert_int_equal(ipc_decode(frame, out.len, &m), 0);
		assert_msg_equal(&m, &s[i]);
		assert_int_equal(ipc_encode(&again, m.type, m.id, m.count, m.field), 0);
		assert_int_equal(again.len, out.len);
		assert_memory_equal(again.data, out.data, out.len);
		free(frame);
		buf_free(&out);
		buf_free(&again);
	}
}

/* every valid frame, all in one stream, offered to ipc_frame_find one more
 * byte at a time: NEED_MORE until the frame is whole, then OK with its exact
 * length, whatever follows it */
static void test_byte_by_byte(void **state)
{
	size_t n;
	const struct sample *s = samples(&n);
	struct buf stream;
	size_t *ends = calloc(n, sizeof(*ends));
	assert_non_null(ends);
	buf_init(&stream);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(ipc_encode(&stream, s[i].type, s[i].id, s[i].count, s[i].f), 0);
		ends[i] = stream.len;
	}
	size_t start = 0;
	for (size_t i = 0; i < n; i++) {
		size_t want = ends[i] - start;
		for (size_t avail = 0; avail < want; avail++) {
			/* only the first 64 and last 64 sizes of the big frames, and
			 * every size of the small ones */
			if (avail > 64 && avail + 64 < want)
				continue;
			unsigned char *p = dup_exact(stream.data + start, avail);
			size_t flen = 12345;
			assert_int_equal(ipc_frame_find(p, avail, &flen), IPC_FRAME_NEED_MORE);
			assert_int_equal(flen, 12345);
			free(p);
		}
		/* whole, then whole with the rest of the stream behind it */
		size_t rest = stream.len - start;
		for (int pass = 0; pass < 2; pass++) {
			size_t avail = pass ? rest : want;
			unsigned char *p = dup_exact(stream.data + start, avail);
			size_t flen = 0;
			struct ipc_msg m;
			assert_int_equal(ipc_frame_find(p, avail, &flen), IPC_FRAME_OK);
			assert_int_equal(flen, want);
			assert_int_equal(ipc_decode(p, flen, &m), 0);
			assert_msg_equal(&m, &s[i]);
			free(p);
		}
		start = ends[i];
	}
	buf_free(&stream);
	free(ends);
}

struct bad {
	const char *name;
	size_t len;
	unsigned char b[32];
	/* what ipc_frame_find says about it on its own */
	enum ipc_frame_status find;};

static void test_malformed(void **state)
{
	static const struct bad bad[] = {
		{ "length 0", 10, { 0, 0, 0, 0, 1, 0, 0, 0, 1, 0 }, IPC_FRAME_MALFORMED },
		{ "length 5", 9, { 0, 0, 0, 5, 1, 0, 0, 0, 1 }, IPC_FRAME_MALFORMED },
		{ "length 65537", 10, { 0, 1, 0, 1, 1, 0, 0, 0, 1, 0 }, IPC_FRAME_MALFORMED },
		{ "length 2^32-1", 10, { 0xff, 0xff, 0xff, 0xff, 1, 0, 0, 0, 1, 0 },
		  IPC_FRAME_MALFORMED },
		{ "length 2^31+6", 10, { 0x80, 0, 0, 6, 1, 0, 0, 0, 1, 0 }, IPC_FRAME_MALFORMED },
		{ "frame shorter than its length", 10, { 0, 0, 0, 7, 1, 0, 0, 0, 1, 0 },
		  IPC_FRAME_NEED_MORE },
		{ "byte after the frame", 11, { 0, 0, 0, 6, 1, 0, 0, 0, 1, 0, 0 }, IPC_FRAME_OK },
		{ "count 9", 10, { 0, 0, 0, 6, 1, 0, 0, 0, 1, 9 }, IPC_FRAME_OK },
		{ "count 9 with 9 empty fields", 28,
		  { 0, 0, 0, 24, 1, 0, 0, 0, 1, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		    0, 0, 0, 0 }, IPC_FRAME_OK },
		{ "count 255", 10, { 0, 0, 0, 6, 1, 0, 0, 0, 1, 255 }, IPC_FRAME_OK },
		{ "count 1, no field", 10, { 0, 0, 0, 6, 1, 0, 0, 0, 1, 1 }, IPC_FRAME_OK },
		{ "count 1, half a field length", 11, { 0, 0, 0, 7, 1, 0, 0, 0, 1, 1, 0 },
		  IPC_FRAME_OK },
		{ "field longer than the frame", 13, { 0, 0, 0, 9, 1, 0, 0, 0, 1, 1, 0, 2, 'a' },
		  IPC_FRAME_OK },
		{ "field length 65535 in a small frame", 13,
		  { 0, 0, 0, 9, 1, 0, 0, 0, 1, 1, 0xff, 0xff, 'a' }, IPC_FRAME_OK },
		{ "bytes after the last field", 14,
		  { 0, 0, 0, 10, 1, 0, 0, 0, 1, 1, 0, 1, 'a', 'b' }, IPC_FRAME_OK },
		{ "bytes after count 0", 11, { 0, 0, 0, 7, 1, 0, 0, 0, 1, 0, 'x' }, IPC_FRAME_OK },
		{ "second field cut", 17,
		  { 0, 0, 0, 13, 1, 0, 0, 0, 1, 2, 0, 1, 'a', 0, 3, 'b', 'c' }, IPC_FRAME_OK },
		{ "type 0", 10, { 0, 0, 0, 6, 0, 0, 0, 0, 1, 0 }, IPC_FRAME_OK },
		{ "type 10", 10, { 0, 0, 0, 6, 10, 0, 0, 0, 1, 0 }, IPC_FRAME_OK },
		{ "type 20", 10, { 0, 0, 0, 6, 20, 0, 0, 0, 1, 0 }, IPC_FRAME_OK },
		{ "type 127", 10, { 0, 0, 0, 6, 127, 0, 0, 0, 1, 0 }, IPC_FRAME_OK },
		{ "type 133", 10, { 0, 0, 0, 6, 133, 0, 0, 0, 1, 0 }, IPC_FRAME_OK },
		{ "type 255", 10, { 0, 0, 0, 6, 255, 0, 0, 0, 1, 0 }, IPC_FRAME_OK },
		{ "header cut", 9, { 0, 0, 0, 6, 1, 0, 0, 0, 1 }, IPC_FRAME_NEED_MORE },
		{ "length only", 4, { 0, 0, 0, 6 }, IPC_FRAME_NEED_MORE },
		{ "nothing", 0, { 0 }, IPC_FRAME_NEED_MORE },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct ipc_msg m;
		print_message("%s\n", bad[i].name);
		assert_int_equal(decode_exact(bad[i].b, bad[i].len, &m), -1);
		unsigned char *p = dup_exact(bad[i].b, bad[i].len);
		size_t flen = 0;
		assert_int_equal(ipc_frame_find(p, bad[i].len, &flen), bad[i].find);
		/* a frame found whole still fails to decode: the stream reader
		 * relies on ipc_decode, not on ipc_frame_find, for the fields;
		 * with bytes after it, the frame found is a valid one (what
		 * follows is the next frame's business) */
		if (bad[i].find == IPC_FRAME_OK)
			assert_int_equal(ipc_decode(p, flen, &m), flen < bad[i].len ? 0 : -1);
		free(p);
	}
	/* the valid neighbours of those cases decode */
	static const unsigned char good0[] = { 0, 0, 0, 6, 1, 0, 0, 0, 1, 0 };
	static const unsigned char good8[] = { 0, 0, 0, 22, 128, 0, 0, 0, 1, 8,
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
	struct ipc_msg m;
	assert_int_equal(decode_exact(good0, sizeof(good0), &m), 0);
	assert_int_equal(m.count, 0);
	assert_int_equal(decode_exact(good8, sizeof(good8), &m), 0);
	assert_int_equal(m.count, 8);
	assert_int_equal(m.type, IPC_R_OK);
}

/* the largest length is accepted, one more is refused, in both functions */
static void test_length_limit(void **state)
{
	size_t len = 4 + IPC_FRAME_MAX;
	unsigned char *p = calloc(1, len + 1);
	assert_non_null(p);
	/* IPC_R_OK, one field of IPC_FRAME_MAX - 8 bytes */
	p[0] = 0; p[1] = 1; p[2] = 0; p[3] = 0;
	p[4] = IPC_R_OK;
	p[9] = 1;
	p[10] = (IPC_FRAME_MAX - 8) >> 8;
	p[11] = (IPC_FRAME_MAX - 8) & 0xff;
	size_t flen = 0;
	struct ipc_msg m;
	assert_int_equal(ipc_frame_find(p, len, &flen), IPC_FRAME_OK);
	assert_int_equal(flen, len);
	assert_int_equal(ipc_decode(p, len, &m), 0);
	assert_int_equal(m.field[0].len, IPC_FRAME_MAX - 8);
	/* one byte more in the length and in the field */
	p[3] = 1;
	p[11]++;
	assert_int_equal(ipc_frame_find(p, len + 1, &flen), IPC_FRAME_MALFORMED);
	assert_int_equal(ipc_decode(p, len + 1, &m), -1);
	free(p);
}

static void test_encode_limits(void **state)
{
	struct buf out;
	struct ipc_field f[IPC_FIELDS_MAX + 1];
	buf_init(&out);
	buf_append_str(&out, "keep");
	for (unsigned i = 0; i <= IPC_FIELDS_MAX; i++)
		f[i] = (struct ipc_field){ "x", 1 };
	assert_int_equal(ipc_encode(&out, IPC_R_OK, 1, IPC_FIELDS_MAX + 1, f), -1);
	assert_int_equal(out.len, 4);

	unsigned char *huge = calloc(1, 70000);
	assert_non_null(huge);
	f[0] = (struct ipc_field){ huge, 65536 };
	assert_int_equal(ipc_encode(&out, IPC_R_OK, 1, 1, f), -1);
	/* one field of 65529 bytes makes a frame one byte too long */
	f[0] = (struct ipc_field){ huge, 65529 };
	assert_int_equal(ipc_encode(&out, IPC_R_OK, 1, 1, f), -1);
	/* two fields within 65535 each, together too long */
	f[0] = (struct ipc_field){ huge, 40000 };
	f[1] = (struct ipc_field){ huge, 40000 };
	assert_int_equal(ipc_encode(&out, IPC_R_OK, 1, 2, f), -1);
	/* a type outside enum ipc_type */
	assert_int_equal(ipc_encode(&out, 0, 1, 0, f), -1);
	assert_int_equal(ipc_encode(&out, 200, 1, 0, f), -1);
	assert_int_equal(out.len, 4);
	assert_memory_equal(out.data, "keep", 4);

	f[0] = (struct ipc_field){ huge, 65528 };
	assert_int_equal(ipc_encode(&out, IPC_R_OK, 1, 1, f), 0);
	assert_int_equal(out.len, 4 + 4 + IPC_FRAME_MAX);
	free(huge);
	buf_free(&out);
}

static void test_field_readers(void **state)
{
	unsigned char b32[8], b64[8];
	struct ipc_field f[8] = {
		ipc_u32(0xdeadbeef, b32), ipc_u64(0x0102030405060708ull, b64),
		ipc_text("alice"), { "a\0b", 3 }, { NULL, 0 }, { "\0", 1 },
		{ "abc", 3 }, { "abcd", 4 },
	};
	struct buf out;
	struct ipc_msg m;
	buf_init(&out);
	assert_int_equal(ipc_encode(&out, IPC_R_OK, 1, 8, f), 0);
	unsigned char *frame = dup_exact(out.data, out.len);
	assert_int_equal(ipc_decode(frame, out.len, &m), 0);

	uint32_t v32 = 0;
	uint64_t v64 = 0;
	assert_true(ipc_field_u32(&m, 0, &v32));
	assert_int_equal(v32, 0xdeadbeef);
	assert_true(ipc_field_u64(&m, 1, &v64));
	assert_true(v64 == 0x0102030405060708ull);
	assert_false(ipc_field_u32(&m, 1, &v32));      /* 8 bytes */
	assert_false(ipc_field_u32(&m, 6, &v32));      /* 3 bytes */
	assert_true(ipc_field_u32(&m, 7, &v32));       /* any 4 bytes */
	assert_int_equal(v32, 0x61626364);
	assert_false(ipc_field_u64(&m, 0, &v64));      /* 4 bytes */
	assert_false(ipc_field_u32(&m, 8, &v32));      /* missing */
	assert_false(ipc_field_u64(&m, 8, &v64));

	char *t = NULL;
	assert_true(ipc_field_text(&m, 2, 5, &t));
	assert_string_equal(t, "alice");
	free(t);
	t = NULL;
	assert_false(ipc_field_text(&m, 2, 4, &t));    /* longer than max */
	assert_false(ipc_field_text(&m, 3, 100, &t));  /* NUL inside */
	assert_false(ipc_field_text(&m, 4, 100, &t));  /* empty */
	assert_false(ipc_field_text(&m, 5, 100, &t));  /* a lone NUL */
	assert_false(ipc_field_text(&m, 8, 100, &t));  /* missing */
	assert_null(t);
	assert_true(ipc_field_text(&m, 0, 4, &t));     /* binary without NUL is text */
	assert_int_equal(strlen(t), 4);
	free(t);

	const void *d = NULL;
	assert_true(ipc_field_bytes(&m, 6, 3, &d));
	assert_ptr_equal(d, m.field[6].data);
	assert_false(ipc_field_bytes(&m, 6, 2, &d));
	assert_false(ipc_field_bytes(&m, 6, 4, &d));
	assert_true(ipc_field_bytes(&m, 4, 0, &d));
	assert_false(ipc_field_bytes(&m, 8, 0, &d));

	/* a message with fewer fields: index past count is missing even though
	 * the array has room */
	struct ipc_msg m2;
	static const unsigned char one[] = { 0, 0, 0, 10, 128, 0, 0, 0, 1, 1, 0, 2, 'h', 'i' };
	assert_int_equal(decode_exact(one, sizeof(one), &m2), 0);
	assert_false(ipc_field_bytes(&m2, 1, 0, &d));
	free(frame);
	buf_free(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exact_bytes),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_byte_by_byte),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_length_limit),
		cmocka_unit_test(test_encode_limits),
		cmocka_unit_test(test_field_readers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
