/* test-names - folder names, modified UTF-7, message file names and the
 * index codec of src/mailbox (no I/O). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mailbox/mailbox.h"
#include "util/buf.h"

static void test_mutf7(void **state)
{
	(void)state;
	/* RFC 3501 5.1.3's example */
	static const char utf8[] = "~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e";
	static const char mutf7[] = "~peter/mail/&U,BTFw-/&ZeVnLIqe-";
	char *s = mailbox_mutf7_encode(utf8, strlen(utf8));
	assert_string_equal(s, mutf7);
	free(s);
	s = mailbox_mutf7_decode(mutf7, strlen(mutf7));
	assert_string_equal(s, utf8);
	free(s);
	s = mailbox_mutf7_encode("a&b", 3);
	assert_string_equal(s, "a&-b");
	free(s);
	/* U+1F600, a surrogate pair, both ways */
	s = mailbox_mutf7_encode("\xf0\x9f\x98\x80", 4);
	assert_string_equal(s, "&2D3eAA-");
	char *back = mailbox_mutf7_decode(s, strlen(s));
	assert_string_equal(back, "\xf0\x9f\x98\x80");
	free(back);
	free(s);

	static const char *const bad[] = {
		"&",          /* unterminated */
		"&U,BTFw",    /* unterminated shift */
		"&AGE-",      /* "a" shifted: printable ASCII must not be */
		"&2D0-",      /* half a surrogate pair */
		"&U,BTF-",    /* leftover bits that are not zero */
		"&=-",        /* not base64 */
		"\x01",       /* control character */
		"\xc3\xa4",   /* 8-bit */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		s = mailbox_mutf7_decode(bad[i], strlen(bad[i]));
		if (s)
			fail_msg("accepted %s as %s", bad[i], s);
	}
	assert_null(mailbox_mutf7_encode("\xff", 1));
}

static void test_name_to_disk(void **state)
{
	(void)state;
	static const struct {
		const char *name, *disk;
	} good[] = {
		{ "INBOX", "" }, { "inbox", "" }, { "Sent", ".Sent" }, { "A/B", ".A.B" },
		{ "Inbox/x", ".INBOX.x" }, { "caf\xc3\xa9", ".caf&AOk-" }, { "a&b", ".a&-b" },
		{ "~x y", ".~x y" },
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		char *d = mailbox_name_to_disk(good[i].name);
		assert_non_null(d);
		assert_string_equal(d, good[i].disk);
		if (*d) {
			char *back = mailbox_name_from_disk(d);
			assert_non_null(back);
			if (strcmp(good[i].name, "Inbox/x") == 0)
				assert_string_equal(back, "INBOX/x");
			else
				assert_string_equal(back, good[i].name);
			free(back);
		}
		free(d);
	}
	/* names that could escape the account's folder or hide in it */
	static const char *const bad[] = {
		"", "/", "..", ".", "../x", "a/../b", "a/..", ".hidden", "a.b", "a//b", "/a", "a/",
		"a\\b", "a\x01", "a\x7f", "\xff", "a*", "a%b", "x/./y",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *d = mailbox_name_to_disk(bad[i]);
		if (d)
			fail_msg("accepted \"%s\" as \"%s\"", bad[i], d);
	}
	char long_name[300];
	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	assert_null(mailbox_name_to_disk(long_name));

	static const char *const bad_disk[] = {
		".", "..", "x", ".a..b", ".a.", ".INBOX", ".&AGE-", ".a/b", ".&", ".a\\b",
	};
	for (size_t i = 0; i < sizeof(bad_disk) / sizeof(bad_disk[0]); i++) {
		char *n = mailbox_name_from_disk(bad_disk[i]);
		if (n)
			fail_msg("accepted dir \"%s\" as \"%s\"", bad_disk[i], n);
	}
}

static void test_filename(void **state)
{
	(void)state;
	struct mailbox_filename f;
	assert_true(mailbox_filename_parse("123.M4P5Q6.host,S=1234,U=77:2,FSa", &f));
	assert_int_equal(f.unique_len, strlen("123.M4P5Q6.host"));
	assert_true(f.has_size && f.has_uid && f.has_info);
	assert_int_equal(f.size, 1234);
	assert_int_equal(f.uid, 77);
	assert_int_equal(f.flags, MAILBOX_FLAG_FLAGGED | MAILBOX_FLAG_SEEN);
	assert_int_equal(f.keywords, 1);

	assert_true(mailbox_filename_parse("1.M2.h", &f));
	assert_false(f.has_size || f.has_uid || f.has_info);
	assert_int_equal(f.unique_len, 6);
	/* Dovecot's W= is ignored; U=0 and overflowing numbers are no UIDs */
	assert_true(mailbox_filename_parse("u,W=10,U=0:2,", &f));
	assert_false(f.has_uid);
	assert_true(mailbox_filename_parse("u,U=4294967296", &f));
	assert_false(f.has_uid);
	assert_true(mailbox_filename_parse("u,U=4294967295", &f));
	assert_true(f.has_uid);
	assert_false(mailbox_filename_parse("", &f));
	assert_false(mailbox_filename_parse(".hidden", &f));
	assert_false(mailbox_filename_parse(",S=1", &f));

	struct buf b;
	buf_init(&b);
	mailbox_filename_format(&b, "uniq", 4, 10, 3,
				MAILBOX_FLAG_SEEN | MAILBOX_FLAG_DRAFT | MAILBOX_FLAG_DELETED |
				MAILBOX_FLAG_ANSWERED | MAILBOX_FLAG_FORWARDED | MAILBOX_FLAG_FLAGGED,
				(UINT64_C(1) << 2) | (UINT64_C(1) << 40));
	/* ASCII order, keywords past z only in the index */
	assert_string_equal(b.data, "uniq,S=10,U=3:2,DFPRSTc");
	assert_true(mailbox_filename_parse(b.data, &f));
	assert_int_equal(f.flags, MAILBOX_FLAGS_ALL);
	assert_int_equal(f.keywords, UINT64_C(1) << 2);
	buf_free(&b);
}

static void index_sample(struct mailbox_index *index, struct mailbox_index_record *recs)
{
	static char n1[] = "a,S=5,U=1:2,S", n2[] = "b,S=6,U=7:2,", n3[] = "c,S=7,U=9:2,FT";
	recs[0] = (struct mailbox_index_record){ 1, MAILBOX_FLAG_SEEN, 3, 5, 1700000000, 0, n1 };
	recs[1] = (struct mailbox_index_record){ 7, 0, 4, 6, 1700000001, UINT64_C(1) << 63, n2 };
	recs[2] = (struct mailbox_index_record){ 9, MAILBOX_FLAG_FLAGGED | MAILBOX_FLAG_DELETED, 5, 7,
						 -1, 3, n3 };
	*index = (struct mailbox_index){ .uidvalidity = 1234, .uidnext = 10, .highestmodseq = 5,
					 .records = recs, .count = 3 };
}

static void test_index_roundtrip(void **state)
{
	(void)state;
	struct mailbox_index_record recs[3];
	struct mailbox_index index, back;
	const char *error = NULL;
	struct buf b;

	index_sample(&index, recs);
	index.cur_mtime_sec = 1733000000;
	index.cur_mtime_nsec = 999999999;
	buf_init(&b);
	mailbox_index_encode(&index, &b);
	assert_int_equal(b.len, 64 + 3 * 48 + strlen(recs[0].name) + strlen(recs[1].name) +
				strlen(recs[2].name));
	assert_int_equal(mailbox_index_parse(b.data, b.len, &back, &error), 0);
	assert_int_equal(back.uidvalidity, 1234);
	assert_int_equal(back.uidnext, 10);
	assert_int_equal(back.highestmodseq, 5);
	assert_int_equal(back.cur_mtime_sec, 1733000000);
	assert_int_equal(back.cur_mtime_nsec, 999999999);
	assert_int_equal(back.count, 3);
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(back.records[i].uid, recs[i].uid);
		assert_int_equal(back.records[i].flags, recs[i].flags);
		assert_int_equal(back.records[i].modseq, recs[i].modseq);
		assert_int_equal(back.records[i].size, recs[i].size);
		assert_int_equal(back.records[i].internal_date, recs[i].internal_date);
		assert_int_equal(back.records[i].keywords, recs[i].keywords);
		assert_string_equal(back.records[i].name, recs[i].name);
	}
	mailbox_index_free(&back);
	buf_free(&b);
}

/* sample_record - mailbox_index_record_fn over the sample's records,
 * counting its calls */
static int sample_calls;
static void sample_record(void *arg, size_t i, struct mailbox_index_record *rec_r)
{
	const struct mailbox_index_record *recs = arg;
	sample_calls++;
	*rec_r = recs[i];
}

/* the index written a piece at a time (index_write: 256 KiB pieces), here
 * as small as they come (a record or a name each), is the same file as
 * the one encoded at once, checksum included: it parses back */
static void test_index_in_pieces(void **state)
{
	(void)state;
	struct mailbox_index_record recs[3];
	struct mailbox_index index, back;
	struct mailbox_index_encoder enc;
	const char *error = NULL;
	struct buf whole, pieces;

	index_sample(&index, recs);
	buf_init(&whole);
	mailbox_index_encode(&index, &whole);
	buf_init(&pieces);
	mailbox_index_encoder_init(&enc, &(struct mailbox_index){ .uidvalidity = 1234,
				   .uidnext = 10, .highestmodseq = 5, .count = 3 },
				   sample_record, recs);
	size_t n = 0, before = pieces.len;
	while (mailbox_index_encoder_next(&enc, &pieces, 1)) {
		assert_true(pieces.len > before);
		before = pieces.len;
		n++;
	}
	assert_int_equal(n, 1 + 3 + 3);   /* the header, 3 records, 3 names */
	assert_false(mailbox_index_encoder_next(&enc, &pieces, 1));
	unsigned char *p = (unsigned char *)pieces.data;
	uint64_t sum = mailbox_index_encoder_checksum(&enc);
	for (int i = 0; i < 8; i++)
		p[MAILBOX_INDEX_CHECKSUM_AT + i] = (unsigned char)(sum >> (8 * i));
	assert_int_equal(pieces.len, whole.len);
	assert_memory_equal(pieces.data, whole.data, whole.len);
	assert_int_equal(mailbox_index_parse(pieces.data, pieces.len, &back, &error), 0);
	assert_int_equal(back.count, 3);
	assert_int_equal(sample_calls, 3 + 3 + 3);   /* names' lengths, records, names */
	mailbox_index_free(&back);
	buf_free(&pieces);
	buf_free(&whole);
}

/* every prefix of an index (a torn write) and every single flipped byte
 * (a damaged block) is refused */
static void test_index_torn_and_corrupt(void **state)
{
	(void)state;
	struct mailbox_index_record recs[3];
	struct mailbox_index index, back;
	const char *error = NULL;
	struct buf b;

	index_sample(&index, recs);
	buf_init(&b);
	mailbox_index_encode(&index, &b);
	for (size_t len = 0; len < b.len; len++) {
		char *copy = malloc(len ? len : 1);
		memcpy(copy, b.data, len);
		if (mailbox_index_parse(copy, len, &back, &error) == 0)
			fail_msg("a prefix of %zu of %zu bytes was accepted", len, b.len);
		free(copy);
	}
	for (size_t i = 0; i < b.len; i++) {
		for (int bit = 0; bit < 8; bit += 7) {
			b.data[i] ^= (char)(1 << bit);
			if (mailbox_index_parse(b.data, b.len, &back, &error) == 0)
				fail_msg("byte %zu bit %d flipped was accepted", i, bit);
			b.data[i] ^= (char)(1 << bit);
		}
	}
	assert_int_equal(mailbox_index_parse(b.data, b.len, &back, &error), 0);
	mailbox_index_free(&back);
	buf_free(&b);

	/* a well-checksummed index that breaks the rules is refused too:
	 * UIDs not ascending, a UID at UIDNEXT, a name with '/' */
	static char up[] = "../../x";
	index_sample(&index, recs);
	recs[1].uid = 1;
	buf_init(&b);
	mailbox_index_encode(&index, &b);
	assert_int_equal(mailbox_index_parse(b.data, b.len, &back, &error), -1);
	buf_free(&b);
	index_sample(&index, recs);
	index.uidnext = 9;
	buf_init(&b);
	mailbox_index_encode(&index, &b);
	assert_int_equal(mailbox_index_parse(b.data, b.len, &back, &error), -1);
	buf_free(&b);
	index_sample(&index, recs);
	recs[2].name = up;
	buf_init(&b);
	mailbox_index_encode(&index, &b);
	assert_int_equal(mailbox_index_parse(b.data, b.len, &back, &error), -1);
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mutf7),
		cmocka_unit_test(test_name_to_disk),
		cmocka_unit_test(test_filename),
		cmocka_unit_test(test_index_roundtrip),
		cmocka_unit_test(test_index_in_pieces),
		cmocka_unit_test(test_index_torn_and_corrupt),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
