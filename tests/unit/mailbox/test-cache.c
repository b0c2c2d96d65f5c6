/* test-cache - petrel.cache (src/mailbox/cache.c, cache-codec.c): the codec
 * byte by byte, then the cache on a real Maildir: headers served from it
 * once made, and a lost, truncated, damaged or foreign file never giving a
 * wrong header; records of expunged messages dropped at the close; the
 * ENVELOPE text kept beside a header section, and a file of the older
 * version (no ENVELOPE) read as a miss and made anew. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "mailbox/mailbox.h"
#include "util/buf.h"
#include "util/le.h"
#include "util/siphash.h"

#define ADDR "bob@example.org"

static char data_dir[256];
static char cache_path[400];

static int setup(void **state)
{
	(void)state;
	strcpy(data_dir, "/tmp/petrel-test-cache-XXXXXX");
	if (!mkdtemp(data_dir))
		return -1;
	snprintf(cache_path, sizeof(cache_path), "%s/mail/example.org/bob/petrel.cache", data_dir);
	mailbox_setup(NULL, "test.host");
	mailbox_header_cache_max_set(65536);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", data_dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* ---- the codec ---- */

static void test_codec_round_trip(void **state)
{
	(void)state;
	struct buf file;
	uint32_t uidvalidity = 0;
	struct mailbox_cache_entry entry;
	buf_init(&file);
	mailbox_cache_header_encode(1234, &file);
	assert_int_equal(file.len, MAILBOX_CACHE_HEADER_SIZE);
	assert_int_equal(mailbox_cache_header_parse(file.data, file.len, &uidvalidity), 0);
	assert_int_equal(uidvalidity, 1234);
	mailbox_cache_record_encode(7, 4096, "Subject: a\r\n\r\n", 14, NULL, 0, &file);
	const char *rec = file.data + MAILBOX_CACHE_HEADER_SIZE;
	size_t rec_len = file.len - MAILBOX_CACHE_HEADER_SIZE;
	assert_int_equal(rec_len, MAILBOX_CACHE_RECORD_HEADER + 14);
	assert_int_equal(mailbox_cache_record_parse(rec, rec_len, &entry), 1);
	assert_int_equal(entry.uid, 7);
	assert_int_equal(entry.len, 14);
	assert_int_equal(entry.size, 4096);
	assert_memory_equal(rec + MAILBOX_CACHE_RECORD_HEADER, "Subject: a\r\n\r\n", 14);
	/* every shorter prefix asks for more, none is taken */
	for (size_t n = 0; n < rec_len; n++)
		assert_int_equal(mailbox_cache_record_parse(rec, n, &entry), 0);
	/* any byte changed is refused */
	for (size_t i = 0; i < rec_len; i++) {
		char *copy = malloc(rec_len);
		memcpy(copy, rec, rec_len);
		copy[i] ^= 0x20;
		assert_int_not_equal(mailbox_cache_record_parse(copy, rec_len, &entry), 1);
		free(copy);
	}
	for (size_t i = 0; i < MAILBOX_CACHE_HEADER_SIZE; i++) {
		char copy[MAILBOX_CACHE_HEADER_SIZE];
		memcpy(copy, file.data, sizeof(copy));
		copy[i] ^= 0x01;
		assert_int_equal(mailbox_cache_header_parse(copy, sizeof(copy), &uidvalidity), -1);
	}
	assert_int_equal(mailbox_cache_header_parse(file.data, 31, &uidvalidity), -1);
	buf_free(&file);
}

/* a record with its ENVELOPE text: decoded whole, every prefix (one cut
 * in the ENVELOPE too) asks for more, any byte changed is refused */
static void test_codec_envelope(void **state)
{
	(void)state;
	static const char header[] = "Subject: a\r\n\r\n";
	static const char env[] = "(NIL \"a\" NIL NIL NIL NIL NIL NIL NIL NIL)";
	struct buf rec;
	struct mailbox_cache_entry entry;
	buf_init(&rec);
	mailbox_cache_record_encode(9, 77, header, strlen(header), env, strlen(env), &rec);
	assert_int_equal(rec.len, MAILBOX_CACHE_RECORD_HEADER + strlen(header) + strlen(env));
	assert_int_equal(mailbox_cache_record_parse(rec.data, rec.len, &entry), 1);
	assert_int_equal(entry.uid, 9);
	assert_int_equal(entry.size, 77);
	assert_int_equal(entry.len, strlen(header));
	assert_int_equal(entry.envelope_len, strlen(env));
	assert_memory_equal(rec.data + MAILBOX_CACHE_RECORD_HEADER, env, strlen(env));
	assert_memory_equal(rec.data + MAILBOX_CACHE_RECORD_HEADER + entry.envelope_len, header,
			    strlen(header));
	for (size_t n = 0; n < rec.len; n++)
		assert_int_equal(mailbox_cache_record_parse(rec.data, n, &entry), 0);
	/* the head and ENVELOPE alone: decoded without the header section,
	 * which they do not check; any byte of theirs changed is refused */
	size_t env_end = MAILBOX_CACHE_RECORD_HEADER + strlen(env);
	for (size_t n = 0; n < env_end; n++)
		assert_int_equal(mailbox_cache_envelope_parse(rec.data, n, &entry), 0);
	assert_int_equal(mailbox_cache_envelope_parse(rec.data, env_end, &entry), 1);
	assert_int_equal(entry.uid, 9);
	assert_int_equal(entry.envelope_len, strlen(env));
	rec.data[env_end] ^= 0x20;
	assert_int_equal(mailbox_cache_envelope_parse(rec.data, rec.len, &entry), 1);
	assert_int_equal(mailbox_cache_record_parse(rec.data, rec.len, &entry), -1);
	rec.data[env_end] ^= 0x20;
	for (size_t i = 8; i < env_end; i++) {
		rec.data[i] ^= 0x20;
		assert_int_not_equal(mailbox_cache_envelope_parse(rec.data, rec.len, &entry), 1);
		rec.data[i] ^= 0x20;
	}
	for (size_t i = 0; i < rec.len; i++) {
		rec.data[i] ^= 0x20;
		assert_int_not_equal(mailbox_cache_record_parse(rec.data, rec.len, &entry), 1);
		rec.data[i] ^= 0x20;
	}
	/* an ENVELOPE length over the bound is refused before any checksum */
	le32_put((unsigned char *)rec.data + 32, MAILBOX_CACHE_ENVELOPE_MAX + 1);
	assert_int_equal(mailbox_cache_record_parse(rec.data, rec.len, &entry), -1);
	buf_free(&rec);
}

/* v1_file - petrel.cache as version 1 wrote it (24-byte record heads, its
 * own key), for UIDVALIDITY, with a wrong header section for each message */
static void v1_file(uint32_t uidvalidity, struct buf *out)
{
	static const unsigned char key[SIPHASH_KEY_LEN] = "petrel.cache.v1";
	unsigned char head[32] = "PTRLCCH";
	le32_put(head + 8, 1);
	le32_put(head + 12, uidvalidity);
	le64_put(head + 24, siphash24(key, head, 24));
	buf_append(out, head, sizeof(head));
	for (uint32_t uid = 1; uid <= 4; uid++) {
		static const char wrong[] = "Subject: wrong\r\n\r\n";
		unsigned char rec[24 + sizeof(wrong) - 1] = { 0 };
		le32_put(rec + 8, uid);
		le32_put(rec + 12, sizeof(wrong) - 1);
		le64_put(rec + 16, 0);
		memcpy(rec + 24, wrong, sizeof(wrong) - 1);
		le64_put(rec, siphash24(key, rec + 8, sizeof(rec) - 8));
		buf_append(out, rec, sizeof(rec));
	}
}

static void test_codec_old_version(void **state)
{
	(void)state;
	struct buf file;
	uint32_t uidvalidity = 0;
	buf_init(&file);
	v1_file(1234, &file);
	assert_int_equal(mailbox_cache_header_parse(file.data, file.len, &uidvalidity), -1);
	buf_free(&file);
}

static void test_header_length(void **state)
{
	(void)state;
	bool complete;
	assert_int_equal(mailbox_header_length("A: b\r\n\r\nbody", 12, &complete), 8);
	assert_true(complete);
	assert_int_equal(mailbox_header_length("A: b\n\nbody", 10, &complete), 6);
	assert_true(complete);
	assert_int_equal(mailbox_header_length("\r\nbody", 6, &complete), 2);
	assert_true(complete);
	assert_int_equal(mailbox_header_length("A: b\r\n c\r\n", 10, &complete), 10);
	assert_false(complete);
	assert_int_equal(mailbox_header_length("A: b\r\n\r", 7, &complete), 7);
	assert_false(complete);
}

/* ---- the cache on a Maildir ---- */

static const char *messages[] = {
	"From: a@example.org\r\nSubject: one\r\n\r\nbody one\r\n",
	"From: b@example.org\r\nSubject: two\r\n\r\nbody two\r\n",
	"Subject: no body, no empty line\r\n",
	"\r\nno header at all\r\n",
};
#define MESSAGE_COUNT (sizeof(messages) / sizeof(messages[0]))

static struct mailbox *open_inbox(void)
{
	struct mailbox *mb = NULL;
	struct mailbox_error error;
	if (mailbox_open(data_dir, ADDR, "INBOX", &mb, &error) != 0)
		fail_msg("open: %s (%d)", error.text, error.sys_errno);
	return mb;
}

static void append_all(void)
{
	struct mailbox *mb = open_inbox();
	struct mailbox_error error;
	for (size_t i = 0; i < MESSAGE_COUNT; i++) {
		uint32_t uid;
		assert_int_equal(mailbox_append(mb, messages[i], strlen(messages[i]), 0, 0, 0, &uid,
						&error), 0);
		assert_int_equal(uid, i + 1);
	}
	mailbox_unref(&mb);
}

/* expected_header - the header section of message I */
static size_t expected_header(size_t i)
{
	const char *end = strstr(messages[i], "\r\n\r\n");
	if (messages[i][0] == '\r')
		return 2;
	return end ? (size_t)(end - messages[i]) + 4 : strlen(messages[i]);
}

/* check_headers - every message's header is right, read through a view */
static void check_headers(void)
{
	struct mailbox *mb = open_inbox();
	struct mailbox_view *view;
	struct mailbox_error error;
	struct buf out;
	buf_init(&out);
	assert_int_equal(mailbox_view_open(mb, &view, &error), 0);
	for (size_t i = 0; i < MESSAGE_COUNT; i++) {
		buf_reset(&out);
		assert_int_equal(mailbox_message_header(view, (uint32_t)i + 1, &out, NULL, &error), 0);
		assert_int_equal(out.len, expected_header(i));
		assert_memory_equal(out.data, messages[i], out.len);
	}
	buf_reset(&out);
	assert_int_equal(mailbox_message_header(view, 99, &out, NULL, &error), -1);
	assert_int_equal(error.code, MAILBOX_ERROR_EXPUNGED);
	mailbox_view_free(&view);
	mailbox_unref(&mb);
	buf_free(&out);
}

static off_t file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? st.st_size : -1;
}

/* message_path - the file of message UID in cur/ (found by its U=) */
static void message_path(uint32_t uid, char *path, size_t size)
{
	char cmd[600], pattern[32];
	snprintf(pattern, sizeof(pattern), ",U=%u:", uid);
	snprintf(cmd, sizeof(cmd), "ls %s/mail/example.org/bob/cur/ | grep -F '%s'", data_dir,
		 pattern);
	FILE *fp = popen(cmd, "r");
	char name[300];
	assert_non_null(fgets(name, sizeof(name), fp));
	pclose(fp);
	name[strcspn(name, "\n")] = '\0';
	snprintf(path, size, "%s/mail/example.org/bob/cur/%s", data_dir, name);
}

static void test_cache_made_and_used(void **state)
{
	(void)state;
	append_all();
	assert_int_equal(file_size(cache_path), -1);
	check_headers();
	off_t made = file_size(cache_path);
	assert_true(made > MAILBOX_CACHE_HEADER_SIZE);
	check_headers();
	assert_int_equal(file_size(cache_path), made);   /* nothing added: all hits */

	/* a file changed behind the index's back, same size: the cached header
	 * answers, which shows the file was not read */
	char path[700];
	message_path(1, path, sizeof(path));
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("From: a@example.org\r\nSubject: ONE\r\n\r\nbody one\r\n", fp);
	assert_int_equal(fclose(fp), 0);
	check_headers();
}

static void test_cache_off(void **state)
{
	(void)state;
	mailbox_header_cache_max_set(0);
	append_all();
	check_headers();
	assert_int_equal(file_size(cache_path), -1);
}

/* overwrite - LEN bytes of BYTES at OFFSET of the cache file */
static void overwrite(off_t offset, const char *bytes, size_t len)
{
	int fd = open(cache_path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, bytes, len, offset), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

static void test_cache_truncated(void **state)
{
	(void)state;
	append_all();
	check_headers();
	off_t made = file_size(cache_path);
	/* a crash tore the last records: cut in the middle of the second */
	off_t cut = MAILBOX_CACHE_HEADER_SIZE + MAILBOX_CACHE_RECORD_HEADER +
		    (off_t)expected_header(0) + 10;
	assert_int_equal(truncate(cache_path, cut), 0);
	check_headers();
	assert_int_equal(file_size(cache_path), made);   /* made whole again */
	assert_int_equal(truncate(cache_path, 5), 0);
	check_headers();
	assert_int_equal(file_size(cache_path), made);
	assert_int_equal(unlink(cache_path), 0);
	check_headers();
	assert_int_equal(file_size(cache_path), made);
}

static void test_cache_corrupt(void **state)
{
	(void)state;
	append_all();
	check_headers();
	/* a changed byte in the first record's header section */
	overwrite(MAILBOX_CACHE_HEADER_SIZE + MAILBOX_CACHE_RECORD_HEADER + 10, "X", 1);
	check_headers();
	/* garbage over the whole file */
	off_t size = file_size(cache_path);
	char *junk = malloc((size_t)size);
	memset(junk, 0x5a, (size_t)size);
	overwrite(0, junk, (size_t)size);
	free(junk);
	check_headers();
	assert_true(file_size(cache_path) > MAILBOX_CACHE_HEADER_SIZE);
}

/* a folder kept in memory after its last close keeps its cache's table,
 * the file closed (header_cache_park); the next open uses the table
 * without reading the file again, unless the file is no longer the one
 * parked: cut, removed, or damaged in place, each answer is still the
 * message's own */
static void test_cache_parked(void **state)
{
	(void)state;
	mailbox_cache_size_set(1u << 20);
	append_all();
	check_headers();                       /* made, then parked at the close */
	off_t made = file_size(cache_path);
	check_headers();                       /* from the parked table */
	assert_int_equal(file_size(cache_path), made);
	assert_int_equal(truncate(cache_path, 5), 0);
	check_headers();                       /* another size: read anew, remade */
	assert_int_equal(file_size(cache_path), made);
	assert_int_equal(unlink(cache_path), 0);
	check_headers();                       /* another file: the same */
	assert_int_equal(file_size(cache_path), made);
	/* the same file and size, a changed byte, right after the close that
	 * parked it: the file times may not have moved (their clock ticks
	 * coarsely), so each record is checked again at its first use */
	overwrite(MAILBOX_CACHE_HEADER_SIZE + MAILBOX_CACHE_RECORD_HEADER + 10, "X", 1);
	check_headers();
	check_headers();
	mailbox_cache_size_set(0);             /* evicted: the cache closed */
	check_headers();
}

/* a file of another UIDVALIDITY (the folder made anew), whose records are
 * valid but for other messages: none is used */
static void test_cache_other_uidvalidity(void **state)
{
	(void)state;
	append_all();
	struct buf file;
	buf_init(&file);
	mailbox_cache_header_encode(1, &file);
	for (uint32_t uid = 1; uid <= MESSAGE_COUNT; uid++) {
		const char *m = messages[uid - 1];
		mailbox_cache_record_encode(uid, strlen(m), "Subject: wrong\r\n\r\n", 18, NULL, 0, &file);
	}
	int fd = open(cache_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, file.data, file.len), (ssize_t)file.len);
	assert_int_equal(close(fd), 0);
	buf_free(&file);
	check_headers();
}

/* expunge_first_three - messages 1-3 of MB expunged through a view of it,
 * left open in *VIEW_R */
static void expunge_first_three(struct mailbox *mb, struct mailbox_view **view_r)
{
	struct mailbox_error error;
	struct mailbox_store_result result;
	uint32_t uids[] = { 1, 2, 3 };
	assert_int_equal(mailbox_view_open(mb, view_r, &error), 0);
	assert_int_equal(mailbox_store_flags(*view_r, uids, 3, MAILBOX_STORE_ADD,
					     MAILBOX_FLAG_DELETED, 0, 0, &result, &error), 0);
	mailbox_store_result_free(&result);
	assert_int_equal(mailbox_expunge(*view_r, NULL, 0, NULL, NULL, &error), 0);
}

/* records of expunged messages go when they are most of the file, at the
 * close of an open that read the cache */
static void test_cache_compacted(void **state)
{
	(void)state;
	append_all();
	check_headers();
	off_t made = file_size(cache_path);
	struct mailbox *mb = open_inbox();
	struct mailbox_view *view;
	struct mailbox_error error;
	expunge_first_three(mb, &view);
	/* the cache is read in this open: its close looks at what is left */
	struct buf out;
	buf_init(&out);
	assert_int_equal(mailbox_message_header(view, 4, &out, NULL, &error), 0);
	mailbox_view_free(&view);
	mailbox_unref(&mb);
	off_t after = file_size(cache_path);
	assert_int_equal(after, MAILBOX_CACHE_HEADER_SIZE + MAILBOX_CACHE_RECORD_HEADER +
				(off_t)expected_header(3));
	assert_true(after < made);
	mb = open_inbox();
	assert_int_equal(mailbox_view_open(mb, &view, &error), 0);
	buf_reset(&out);
	assert_int_equal(mailbox_message_header(view, 4, &out, NULL, &error), 0);
	assert_int_equal(out.len, 2);
	buf_free(&out);
	mailbox_view_free(&view);
	mailbox_unref(&mb);
	assert_int_equal(file_size(cache_path), after);
}

/* a folder kept in memory: its close parks the cache (the records all
 * live), and a later close after most of the messages were expunged
 * counts the records again rather than trusting the last count, and
 * compacts the file */
static void test_cache_parked_then_compacted(void **state)
{
	(void)state;
	mailbox_cache_size_set(1u << 20);
	append_all();
	check_headers();                       /* made, then parked */
	check_headers();                       /* parked again: nothing left */
	off_t made = file_size(cache_path);
	struct mailbox *mb = open_inbox();
	struct mailbox_view *view;
	struct mailbox_error error;
	expunge_first_three(mb, &view);
	mailbox_view_free(&view);
	mailbox_unref(&mb);
	assert_int_equal(file_size(cache_path), made);   /* not read in that open */
	mb = open_inbox();
	assert_int_equal(mailbox_view_open(mb, &view, &error), 0);
	struct buf out;
	buf_init(&out);
	assert_int_equal(mailbox_message_header(view, 4, &out, NULL, &error), 0);
	buf_free(&out);
	mailbox_view_free(&view);
	mailbox_unref(&mb);
	assert_int_equal(file_size(cache_path), MAILBOX_CACHE_HEADER_SIZE +
				MAILBOX_CACHE_RECORD_HEADER + (off_t)expected_header(3));
	mailbox_cache_size_set(0);
}

/* a file of several read chunks (records of about 50 KiB): all read back */
static void test_cache_large(void **state)
{
	(void)state;
	enum { COUNT = 40, FIELD = 50000 };
	struct mailbox *mb = open_inbox();
	struct mailbox_view *view;
	struct mailbox_error error;
	struct buf msg, out;
	buf_init(&msg);
	buf_init(&out);
	for (int i = 0; i < COUNT; i++) {
		buf_reset(&msg);
		buf_printf(&msg, "Subject: %d\r\nX-Long: ", i);
		for (int k = 0; k < FIELD / 10; k++)
			buf_append(&msg, "abcdefghi ", 10);
		buf_append_str(&msg, "\r\n\r\nbody\r\n");
		uint32_t uid;
		assert_int_equal(mailbox_append(mb, msg.data, msg.len, 0, 0, 0, &uid, &error), 0);
	}
	for (int pass = 0; pass < 2; pass++) {
		off_t before = file_size(cache_path);
		assert_int_equal(mailbox_view_open(mb, &view, &error), 0);
		for (uint32_t uid = 1; uid <= COUNT; uid++) {
			char want[32];
			buf_reset(&out);
			assert_int_equal(mailbox_message_header(view, uid, &out, NULL, &error), 0);
			assert_int_equal(out.len, strlen("Subject: \r\nX-Long: \r\n\r\n") + FIELD +
							 (uid > 10 ? 2 : 1));
			snprintf(want, sizeof(want), "Subject: %u\r\n", uid - 1);
			assert_memory_equal(out.data, want, strlen(want));
		}
		mailbox_view_free(&view);
		mailbox_unref(&mb);
		if (pass == 1)
			assert_int_equal(file_size(cache_path), before);   /* all hits */
		mb = open_inbox();
	}
	assert_true(file_size(cache_path) > 3 * 512 * 1024);   /* over a read chunk */
	mailbox_unref(&mb);
	buf_free(&msg);
	buf_free(&out);
}

/* envelope_check - through a view, message UID's header section is
 * right, and the ENVELOPE kept beside it is WANT (NULL: none); then, when
 * PUT, "ENV<uid>" is kept beside it in the same open (as a FETCH does) */
static void envelope_check(uint32_t uid, const char *want, bool put)
{
	struct mailbox *mb = open_inbox();
	struct mailbox_view *view;
	struct mailbox_error error;
	struct buf out, env;
	buf_init(&out);
	buf_init(&env);
	assert_int_equal(mailbox_view_open(mb, &view, &error), 0);
	assert_int_equal(mailbox_message_header(view, uid, &out, &env, &error), 0);
	assert_int_equal(out.len, expected_header(uid - 1));
	assert_memory_equal(out.data, messages[uid - 1], out.len);
	assert_int_equal(env.len, want ? strlen(want) : 0);
	if (want)
		assert_memory_equal(env.data, want, env.len);
	/* the ENVELOPE alone: the same */
	buf_reset(&env);
	assert_int_equal(mailbox_message_envelope(view, uid, &env, &error), want != NULL);
	assert_int_equal(env.len, want ? strlen(want) : 0);
	if (want)
		assert_memory_equal(env.data, want, env.len);
	if (put) {
		char text[16];
		snprintf(text, sizeof(text), "ENV%u", uid);
		mailbox_message_envelope_put(view, uid, out.data, out.len, text, strlen(text));
	}
	mailbox_view_free(&view);
	mailbox_unref(&mb);
	buf_free(&out);
	buf_free(&env);
}

/* the whole file: one record per message, each with its ENVELOPE */
static off_t envelope_file_size(void)
{
	off_t size = MAILBOX_CACHE_HEADER_SIZE;
	for (size_t i = 0; i < MESSAGE_COUNT; i++)
		size += MAILBOX_CACHE_RECORD_HEADER + (off_t)expected_header(i) + 4;
	return size;
}

static void test_cache_envelope(void **state)
{
	(void)state;
	append_all();
	for (uint32_t uid = 1; uid <= MESSAGE_COUNT; uid++)
		envelope_check(uid, NULL, true);
	/* each pending record was replaced in place, not appended again */
	assert_int_equal(file_size(cache_path), envelope_file_size());
	envelope_check(1, "ENV1", false);
	envelope_check(4, "ENV4", false);
	check_headers();
	assert_int_equal(file_size(cache_path), envelope_file_size());   /* all hits */
	/* the last record torn: that message is a miss, made again without an
	 * ENVELOPE; the others keep theirs */
	assert_int_equal(truncate(cache_path, envelope_file_size() - 2), 0);
	envelope_check(4, NULL, false);
	envelope_check(3, "ENV3", false);
	/* a changed byte in the first record's ENVELOPE: a miss too, and the
	 * file is cut there (the records after it are read again) */
	overwrite(MAILBOX_CACHE_HEADER_SIZE + MAILBOX_CACHE_RECORD_HEADER + 1, "X", 1);
	envelope_check(1, NULL, false);
	envelope_check(2, NULL, false);
}

/* cache_file_head - the first MAILBOX_CACHE_HEADER_SIZE bytes of petrel.cache */
static void cache_file_head(unsigned char *head)
{
	int fd = open(cache_path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, head, MAILBOX_CACHE_HEADER_SIZE), MAILBOX_CACHE_HEADER_SIZE);
	assert_int_equal(close(fd), 0);
}

/* a version 1 file, of the folder's own UIDVALIDITY, its records valid
 * under version 1: not read (the headers come from the files), and
 * started anew in version 2 */
static void test_cache_old_version(void **state)
{
	(void)state;
	append_all();
	check_headers();
	struct buf file;
	uint32_t uidvalidity = 0;
	buf_init(&file);
	unsigned char head[MAILBOX_CACHE_HEADER_SIZE];
	cache_file_head(head);
	assert_int_equal(mailbox_cache_header_parse(head, sizeof(head), &uidvalidity), 0);
	off_t made = file_size(cache_path);
	v1_file(uidvalidity, &file);
	int fd = open(cache_path, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, file.data, file.len), (ssize_t)file.len);
	assert_int_equal(close(fd), 0);
	buf_free(&file);
	check_headers();
	assert_int_equal(file_size(cache_path), made);
	cache_file_head(head);
	assert_int_equal(le32_get(head + 8), MAILBOX_CACHE_VERSION);
}

/* a file of the folder's own UIDVALIDITY whose records, valid, were made
 * for messages of another size than the index has: none is used */
static void test_cache_other_size(void **state)
{
	(void)state;
	append_all();
	check_headers();
	unsigned char head[MAILBOX_CACHE_HEADER_SIZE];
	uint32_t uidvalidity = 0;
	cache_file_head(head);
	assert_int_equal(mailbox_cache_header_parse(head, sizeof(head), &uidvalidity), 0);
	struct buf file;
	buf_init(&file);
	mailbox_cache_header_encode(uidvalidity, &file);
	for (uint32_t uid = 1; uid <= MESSAGE_COUNT; uid++) {
		const char *m = messages[uid - 1];
		mailbox_cache_record_encode(uid, strlen(m) + 1, "Subject: wrong\r\n\r\n", 18, NULL, 0,
					    &file);
	}
	int fd = open(cache_path, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, file.data, file.len), (ssize_t)file.len);
	assert_int_equal(close(fd), 0);
	check_headers();
	assert_true(file_size(cache_path) > (off_t)file.len);   /* the right ones added */
	buf_free(&file);
}

enum { MANY = 2600 };   /* over twice the table's 1,024 slots out of order */

/* many_header - message UID's header section (of the MANY) */
static void many_header(uint32_t uid, struct buf *out)
{
	buf_reset(out);
	buf_printf(out, "Subject: message %u\r\nX-Pad: %0*u\r\n\r\n", uid, (int)(uid % 40) + 1, uid);
}

/* read_many - every header of the MANY read through VIEW, in the order
 * UID(i) gives, each right */
static void read_many(struct mailbox_view *view, uint32_t (*uid_at)(uint32_t))
{
	struct mailbox_error error;
	struct buf out, want;
	buf_init(&out);
	buf_init(&want);
	for (uint32_t i = 0; i < MANY; i++) {
		uint32_t uid = uid_at(i);
		buf_reset(&out);
		assert_int_equal(mailbox_message_header(view, uid, &out, NULL, &error), 0);
		many_header(uid, &want);
		assert_int_equal(out.len, want.len);
		assert_memory_equal(out.data, want.data, want.len);
	}
	buf_free(&out);
	buf_free(&want);
}

static uint32_t backwards(uint32_t i)
{
	return MANY - i;
}

static uint32_t scattered(uint32_t i)
{
	return (uint32_t)(((uint64_t)i * 1543u) % MANY) + 1;   /* 1543 prime, not a factor */
}

static uint32_t forwards(uint32_t i)
{
	return i + 1;
}

/* headers read last to first (each out of order after the first), then
 * scattered, then first to last after the table was read back from the
 * file (its records last to first): every one the message's own, and
 * after the first pass every one a hit (the file does not grow) */
static void test_cache_out_of_order(void **state)
{
	(void)state;
	struct mailbox *mb = open_inbox();
	struct mailbox_view *view;
	struct mailbox_error error;
	struct buf msg;
	buf_init(&msg);
	for (uint32_t uid = 1; uid <= MANY; uid++) {
		many_header(uid, &msg);
		buf_append(&msg, "body\r\n", 6);
		uint32_t got;
		assert_int_equal(mailbox_append(mb, msg.data, msg.len, 0, 0, 0, &got, &error), 0);
		assert_int_equal(got, uid);
	}
	buf_free(&msg);
	assert_int_equal(mailbox_view_open(mb, &view, &error), 0);
	read_many(view, backwards);
	read_many(view, scattered);
	mailbox_view_free(&view);
	mailbox_unref(&mb);
	off_t made = file_size(cache_path);
	assert_true(made > MAILBOX_CACHE_HEADER_SIZE);
	mb = open_inbox();
	assert_int_equal(mailbox_view_open(mb, &view, &error), 0);
	read_many(view, forwards);
	read_many(view, scattered);
	mailbox_view_free(&view);
	mailbox_unref(&mb);
	assert_int_equal(file_size(cache_path), made);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_codec_round_trip),
		cmocka_unit_test(test_codec_envelope),
		cmocka_unit_test(test_codec_old_version),
		cmocka_unit_test(test_header_length),
		cmocka_unit_test_setup_teardown(test_cache_made_and_used, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache_off, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache_truncated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache_corrupt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache_parked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache_other_uidvalidity, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache_other_size, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache_out_of_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache_parked_then_compacted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache_compacted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache_large, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache_envelope, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache_old_version, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
