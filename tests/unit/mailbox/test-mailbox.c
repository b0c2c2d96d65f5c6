/* test-mailbox - the mailbox store on real Maildirs in a temporary data
 * folder per test: UIDs, the index lost or torn, concurrent writers, files
 * from other writers, views, flags, expunge, copy/move, folders, quota. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "local/local.h"
#include "mailbox/mailbox.h"
#include "util/syncer.h"

#define ADDR "bob@example.org"

static char data_dir[256];
static char inbox[320];

static int setup(void **state)
{
	(void)state;
	strcpy(data_dir, "/tmp/petrel-test-mailbox-XXXXXX");
	if (!mkdtemp(data_dir))
		return -1;
	snprintf(inbox, sizeof(inbox), "%s/mail/example.org/bob", data_dir);
	mailbox_setup(NULL, "test.host");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[300];
	mailbox_cache_size_set(0);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", data_dir);
	return system(cmd) == 0 ? 0 : -1;
}

static struct mailbox *open_ok(const char *name)
{
	struct mailbox *mb = NULL;
	struct mailbox_error error;
	if (mailbox_open(data_dir, ADDR, name, &mb, &error) != 0)
		fail_msg("open %s: %s (%d)", name, error.text, error.sys_errno);
	return mb;
}

static uint32_t append_ok(struct mailbox *mb, const char *text, uint32_t flags)
{
	uint32_t uid = 0;
	struct mailbox_error error;
	if (mailbox_append(mb, text, strlen(text), flags, 0, 0, &uid, &error) != 0)
		fail_msg("append: %s (%d)", error.text, error.sys_errno);
	return uid;
}

/* inbox_dirs - INBOX's cur/, new/ and tmp/, as another program makes them */
static void inbox_dirs(void)
{
	char cmd[2000];
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s/cur' '%s/new' '%s/tmp'", inbox, inbox, inbox);
	assert_int_equal(system(cmd), 0);
}

/* drop_new - a file written into new/ by another program (another MDA) */
static void drop_new(const char *maildir, const char *name, const char *text)
{
	char path[600];
	snprintf(path, sizeof(path), "%s/new/%s", maildir, name);
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	assert_int_equal(fclose(fp), 0);
}

static int count_dir(const char *path)
{
	DIR *dir = opendir(path);
	struct dirent *de;
	int n = 0;
	if (!dir)
		return -1;
	while ((de = readdir(dir)) != NULL)
		n += de->d_name[0] != '.';
	closedir(dir);
	return n;
}

/* uids_of - the view's UIDs after an update, into UIDS (at most MAX) */
static size_t uids_of(struct mailbox *mb, uint32_t *uids, size_t max)
{
	struct mailbox_view *view;
	struct mailbox_error error;
	assert_int_equal(mailbox_view_open(mb, &view, &error), 0);
	size_t n = mailbox_view_count(view);
	assert_true(n <= max);
	for (size_t i = 0; i < n; i++)
		uids[i] = mailbox_view_uid(view, (uint32_t)i + 1);
	mailbox_view_free(&view);
	return n;
}

static void remove_file(const char *maildir, const char *name)
{
	char path[2200];
	snprintf(path, sizeof(path), "%s/%s", maildir, name);
	assert_int_equal(unlink(path), 0);
}

/* UIDs ascend in arrival order; new/ files and appends share the sequence */
static void test_uids_ascending(void **state)
{
	(void)state;
	struct mailbox *mb = open_ok("INBOX");
	struct mailbox_status st;
	mailbox_status_get(mb, &st);
	assert_int_equal(st.messages, 0);
	assert_int_equal(st.uidnext, 1);
	assert_true(st.uidvalidity > 0);

	drop_new(inbox, "1000.M1P1.x", "Subject: a\r\n\r\none\r\n");
	drop_new(inbox, "1001.M1P1.x", "Subject: b\r\n\r\ntwo\r\n");
	assert_int_equal(mailbox_sync(mb, NULL), 0);
	assert_int_equal(append_ok(mb, "Subject: c\r\n\r\n", MAILBOX_FLAG_SEEN), 3);
	/* a file in new/ gets its UID at the next sync, after an append
	 * that came between */
	drop_new(inbox, "1002.M1P1.x", "Subject: d\r\n\r\n");
	assert_int_equal(append_ok(mb, "Subject: e\r\n\r\n", 0), 4);

	uint32_t uids[8];
	assert_int_equal(uids_of(mb, uids, 8), 5);
	for (uint32_t i = 0; i < 5; i++)
		assert_int_equal(uids[i], i + 1);
	char cur[400];
	snprintf(cur, sizeof(cur), "%s/cur", inbox);
	assert_int_equal(count_dir(cur), 5);
	snprintf(cur, sizeof(cur), "%s/new", inbox);
	assert_int_equal(count_dir(cur), 0);
	mailbox_status_get(mb, &st);
	assert_int_equal(st.uidnext, 6);
	assert_int_equal(st.unseen, 4);
	assert_int_equal(st.size, strlen("Subject: a\r\n\r\none\r\n") * 2 + 14 * 3);
	mailbox_unref(&mb);
	assert_null(mb);

	/* a close after no change writes nothing (quota counts open and close
	 * folders); after a change, the index is written anew */
	char index[400];
	struct stat before, after;
	snprintf(index, sizeof(index), "%s/petrel.index", inbox);
	assert_int_equal(stat(index, &before), 0);
	mb = open_ok("INBOX");
	mailbox_unref(&mb);
	assert_int_equal(stat(index, &after), 0);
	assert_int_equal(before.st_ino, after.st_ino);
	mb = open_ok("INBOX");
	append_ok(mb, "f\r\n", 0);
	mailbox_unref(&mb);
	assert_int_equal(stat(index, &after), 0);
	assert_int_not_equal(before.st_ino, after.st_ino);
}

/* messages, UIDs, flags, UIDVALIDITY survive the index's loss; UIDNEXT and
 * HIGHESTMODSEQ never go back, even when the last message was expunged */
static void check_rebuild(bool truncate_mid_record)
{
	struct mailbox *mb = open_ok("INBOX");
	struct mailbox_status before, after;
	struct mailbox_view *view;
	struct mailbox_error error;

	for (int i = 0; i < 6; i++)
		append_ok(mb, "Subject: x\r\n\r\nbody\r\n", i % 2 ? MAILBOX_FLAG_SEEN : 0);
	assert_int_equal(mailbox_view_open(mb, &view, &error), 0);
	uint32_t flagged[] = { 2, 4 };
	struct mailbox_store_result res;
	assert_int_equal(mailbox_store_flags(view, flagged, 2, MAILBOX_STORE_ADD,
					     MAILBOX_FLAG_FLAGGED | MAILBOX_FLAG_DELETED, 0, 0, &res,
					     &error), 0);
	mailbox_store_result_free(&res);
	uint32_t gone[] = { 6 };
	assert_int_equal(mailbox_store_flags(view, gone, 1, MAILBOX_STORE_ADD,
					     MAILBOX_FLAG_DELETED, 0, 0, &res, &error), 0);
	mailbox_store_result_free(&res);
	/* expunge 4 and 6 (the highest UID) */
	uint32_t ex[] = { 4, 6 };
	assert_int_equal(mailbox_expunge(view, ex, 2, NULL, NULL, &error), 0);
	mailbox_view_free(&view);
	mailbox_status_get(mb, &before);
	assert_int_equal(before.messages, 4);
	assert_int_equal(before.uidnext, 7);
	mailbox_unref(&mb);

	char index[400];
	snprintf(index, sizeof(index), "%s/petrel.index", inbox);
	if (truncate_mid_record)
		assert_int_equal(truncate(index, 64 + 48 + 20), 0);
	else
		assert_int_equal(unlink(index), 0);

	mb = open_ok("INBOX");
	mailbox_status_get(mb, &after);
	assert_int_equal(after.uidvalidity, before.uidvalidity);
	assert_int_equal(after.messages, 4);
	assert_true(after.uidnext >= before.uidnext);
	assert_true(after.highestmodseq > before.highestmodseq);
	assert_int_equal(after.size, before.size);
	assert_int_equal(mailbox_view_open(mb, &view, &error), 0);
	static const uint32_t want[] = { 1, 2, 3, 5 };
	for (uint32_t i = 0; i < 4; i++) {
		struct mailbox_message msg;
		assert_int_equal(mailbox_view_message(view, i + 1, &msg), 0);
		assert_int_equal(msg.uid, want[i]);
		assert_int_equal(msg.size, strlen("Subject: x\r\n\r\nbody\r\n"));
		uint32_t flags = (want[i] - 1) % 2 ? MAILBOX_FLAG_SEEN : 0;
		if (want[i] == 2)
			flags |= MAILBOX_FLAG_FLAGGED | MAILBOX_FLAG_DELETED;
		assert_int_equal(msg.flags, flags);
		assert_true(msg.modseq <= after.highestmodseq);
	}
	mailbox_view_free(&view);
	/* the next UID is above every one handed out before */
	assert_true(append_ok(mb, "Subject: y\r\n\r\n", 0) >= 7);
	mailbox_unref(&mb);

	/* and the rebuilt index is read back as it is */
	mb = open_ok("INBOX");
	struct mailbox_status again;
	mailbox_status_get(mb, &again);
	assert_int_equal(again.messages, 5);
	assert_int_equal(again.uidvalidity, before.uidvalidity);
	mailbox_unref(&mb);
}

static void test_index_deleted(void **state)
{
	(void)state;
	check_rebuild(false);
}

static void test_index_truncated(void **state)
{
	(void)state;
	check_rebuild(true);
}

/* an index overwritten with garbage of the right size is refused too */
static void test_index_garbage(void **state)
{
	(void)state;
	struct mailbox *mb = open_ok("INBOX");
	append_ok(mb, "a\r\n", 0);
	append_ok(mb, "b\r\n", MAILBOX_FLAG_ANSWERED);
	mailbox_unref(&mb);
	char path[400];
	snprintf(path, sizeof(path), "%s/petrel.index", inbox);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	int fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	char junk[48];
	memset(junk, 0x5a, sizeof(junk));
	assert_int_equal(pwrite(fd, junk, sizeof(junk), 64), (ssize_t)sizeof(junk));
	assert_int_equal(close(fd), 0);
	mb = open_ok("INBOX");
	uint32_t uids[4];
	assert_int_equal(uids_of(mb, uids, 4), 2);
	assert_int_equal(uids[0], 1);
	assert_int_equal(uids[1], 2);
	mailbox_unref(&mb);
}

static void copy_file(const char *from, const char *to)
{
	char cmd[1000];
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", from, to);
	assert_int_equal(system(cmd), 0);
}

/* crash_image_open - the INBOX's files as they are now (what a kill -9
 * would leave, the page cache aside) copied to carol's, opened */
static struct mailbox *crash_image_open(void)
{
	char cmd[2000];
	snprintf(cmd, sizeof(cmd), "cp -a '%s' '%s/mail/example.org/carol'", inbox, data_dir);
	assert_int_equal(system(cmd), 0);
	struct mailbox *mb = NULL;
	struct mailbox_error error;
	assert_int_equal(mailbox_open(data_dir, "carol@example.org", "INBOX", &mb, &error), 0);
	return mb;
}

/* files another program left in cur/ without a UID in their name (a
 * Maildir copied in) keep their names: their UIDs are only in the index,
 * which is durable once the open returns, so a crash image taken while the
 * folder is still open (no close) gives the same UIDs back */
static void test_cur_files_keep_names(void **state)
{
	(void)state;
	char path[600];
	inbox_dirs();
	static const char *const names[] = {
		"1000.M1P1.other,S=3:2,S", "1001.M2P1.other:2,", "1002.M3P1.other:2,FS",
	};
	for (size_t i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/cur/%s", inbox, names[i]);
		FILE *fp = fopen(path, "w");
		assert_non_null(fp);
		fputs("a\r\n", fp);
		assert_int_equal(fclose(fp), 0);
	}
	struct mailbox *mb = open_ok("INBOX");
	uint32_t uids[4];
	assert_int_equal(uids_of(mb, uids, 4), 3);
	for (size_t i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/cur/%s", inbox, names[i]);
		assert_int_equal(access(path, F_OK), 0);   /* failed before: renamed */
	}
	/* the disk as a kill -9 would leave it now, folder still open */
	struct mailbox *crashed = crash_image_open();
	struct mailbox_error error;
	uint32_t again[4];
	assert_int_equal(uids_of(crashed, again, 4), 3);
	assert_memory_equal(uids, again, sizeof(uids[0]) * 3);
	/* a flag change gives the file its UID in its name */
	struct mailbox_view *view;
	struct mailbox_store_result res;
	assert_int_equal(mailbox_view_open(mb, &view, &error), 0);
	assert_int_equal(mailbox_store_flags(view, &uids[1], 1, MAILBOX_STORE_ADD,
					     MAILBOX_FLAG_FLAGGED, 0, 0, &res, &error), 0);
	mailbox_store_result_free(&res);
	mailbox_view_free(&view);
	snprintf(path, sizeof(path), "%s/cur/1001.M2P1.other,S=3,U=%u:2,F", inbox, uids[1]);
	assert_int_equal(access(path, F_OK), 0);
	mailbox_unref(&crashed);
	mailbox_unref(&mb);
}

/* put_cur - a file another program left in cur/ under NAME, holding TEXT,
 * with mtime DATE (its internal date) */
static void put_cur(const char *name, const char *text, time_t date)
{
	char path[600];
	snprintf(path, sizeof(path), "%s/cur/%s", inbox, name);
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	assert_int_equal(fclose(fp), 0);
	struct timeval tv[2] = { { date, 0 }, { date, 0 } };
	assert_int_equal(utimes(path, tv), 0);
}

/* inbox_messages - the messages of INBOX as an open of it finds them */
static uint32_t inbox_messages(void)
{
	struct mailbox *mb = open_ok("INBOX");
	struct mailbox_status st;
	mailbox_status_get(mb, &st);
	mailbox_unref(&mb);
	return st.messages;
}

/* message_at - message SEQ of a new view of MB */
static struct mailbox_message message_at(struct mailbox *mb, uint32_t seq)
{
	struct mailbox_view *view;
	struct mailbox_error error;
	struct mailbox_message msg;
	assert_int_equal(mailbox_view_open(mb, &view, &error), 0);
	assert_int_equal(mailbox_view_message(view, seq, &msg), 0);
	mailbox_view_free(&view);
	return msg;
}

/* a first open takes the files of cur/ whose names carry their size
 * from the names (no lstat each): sizes, flags and the internal dates
 * (the files' mtimes, read at the first need) as a stat would give them,
 * kept across a close and a load of the index; files added and removed
 * behind Petrel's back between opens are counted */
static void test_cur_files_from_names(void **state)
{
	(void)state;
	inbox_dirs();
	put_cur("1000.M1P1.other,S=5:2,S", "abc\r\n", 1000000000);
	put_cur("1001.M2P1.other:2,F", "abcdef\r\n", 1100000000);     /* no S= */
	put_cur("1002.M3P1.other,S=3,U=7:2,", "a\r\n", 1200000000);   /* as Petrel names */
	put_cur("1003.M4P1.other,S=3:2,RS", "a\r\n", 1300000000);
	mailbox_cache_size_set(0);
	for (int round = 0; round < 2; round++) {   /* built from the names, then loaded */
		struct mailbox *mb = open_ok("INBOX");
		struct mailbox_status st;
		mailbox_status_get(mb, &st);
		assert_int_equal(st.messages, 4);
		assert_int_equal(st.size, 5 + 8 + 3 + 3);
		static const time_t dates[] = { 1200000000, 1000000000, 1100000000, 1300000000 };
		static const uint64_t sizes[] = { 3, 5, 8, 3 };
		static const uint32_t flags[] = {
			0, MAILBOX_FLAG_SEEN, MAILBOX_FLAG_FLAGGED,
			MAILBOX_FLAG_ANSWERED | MAILBOX_FLAG_SEEN,
		};
		for (uint32_t seq = 1; seq <= 4; seq++) {
			struct mailbox_message msg = message_at(mb, seq);
			assert_int_equal(msg.internal_date, dates[seq - 1]);
			assert_int_equal(msg.size, sizes[seq - 1]);
			assert_int_equal(msg.flags, flags[seq - 1]);
		}
		assert_int_equal(message_at(mb, 1).uid, 7);
		mailbox_unref(&mb);
	}
	/* behind Petrel's back: one removed, two added, one of them with a
	 * date nobody read before it is removed too */
	remove_file(inbox, "cur/1000.M1P1.other,S=5:2,S");
	put_cur("1004.M5P1.other,S=4:2,", "ab\r\n", 1400000000);
	struct mailbox *mb = open_ok("INBOX");
	struct mailbox_status st;
	mailbox_status_get(mb, &st);
	assert_int_equal(st.messages, 4);
	assert_int_equal(st.size, 8 + 3 + 3 + 4);
	assert_int_equal(message_at(mb, 4).internal_date, 1400000000);
	put_cur("1005.M6P1.other,S=3:2,", "a\r\n", 1500000000);
	struct mailbox_view *view;
	struct mailbox_error error;
	struct mailbox_message msg;
	/* cur/'s mtime changed: the next view scans it */
	assert_int_equal(mailbox_view_open(mb, &view, &error), 0);
	assert_int_equal(mailbox_view_count(view), 5);
	remove_file(inbox, "cur/1005.M6P1.other,S=3:2,");
	assert_int_equal(mailbox_view_message(view, 5, &msg), 0);
	assert_true(msg.expunged);
	mailbox_view_free(&view);
	mailbox_status_get(mb, &st);
	assert_int_equal(st.messages, 4);
	mailbox_unref(&mb);
}

/* message_text - message UID's file as a view of MB reads it */
static void message_text(struct mailbox *mb, uint32_t uid, char *out, size_t size)
{
	struct mailbox_view *view;
	struct mailbox_error error;
	int fd;
	assert_int_equal(mailbox_view_open(mb, &view, &error), 0);
	assert_int_equal(mailbox_message_open(view, uid, &fd, &error), 0);
	ssize_t n = read(fd, out, size - 1);
	assert_true(n >= 0);
	out[n] = '\0';
	assert_int_equal(close(fd), 0);
	mailbox_view_free(&view);
}

/* index_holds - INBOX's petrel.index holds the bytes of NAME (its table of
 * names, one after another) */
static bool index_holds(const char *name)
{
	char path[400];
	snprintf(path, sizeof(path), "%s/petrel.index", inbox);
	FILE *fp = fopen(path, "rb");
	assert_non_null(fp);
	static char data[1 << 16];
	size_t n = fread(data, 1, sizeof(data), fp);
	fclose(fp);
	return memmem(data, n, name, strlen(name)) != NULL;
}

/* a folder's first listing of cur/ becomes its names: files taken as they
 * are keep their listed names, one renamed (it claims a UID another has)
 * and a folder in cur/ (not a message) leave theirs unused; every message
 * is read through its name, now and after the index is loaded again */
static void test_first_listing_names_taken(void **state)
{
	(void)state;
	char cmd[2000];
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s/cur/1003.M9P1.other,S=3:2,' '%s/new' '%s/tmp'",
		 inbox, inbox, inbox);
	assert_int_equal(system(cmd), 0);
	put_cur("1000.M1P1.other,S=3:2,S", "a\r\n", 1000000000);
	put_cur("1001.M2P1.other,S=3,U=5:2,", "b\r\n", 1100000000);
	put_cur("1002.M3P1.other,S=3,U=5:2,F", "c\r\n", 1200000000);   /* U=5 again */
	put_cur("1004.M4P1.other:2,", "d\r\n", 1300000000);            /* no S=: lstat */
	mailbox_cache_size_set(0);
	/* the index written at the close holds each file's name as it is now
	 * (before any read, which would sync again on a wrong one) */
	struct mailbox *first = open_ok("INBOX");
	mailbox_unref(&first);
	assert_true(index_holds("1000.M1P1.other,S=3:2,S"));
	assert_true(index_holds("1001.M2P1.other,S=3,U=5:2,"));
	assert_true(index_holds("1002.M3P1.other,S=3,U=6:2,F"));   /* renamed */
	assert_false(index_holds("1002.M3P1.other,S=3,U=5:2,F"));
	assert_true(index_holds("1004.M4P1.other:2,"));
	assert_false(index_holds("1003.M9P1"));
	static const char *const text[] = { "b\r\n", "c\r\n", "a\r\n", "d\r\n" };
	for (int round = 0; round < 2; round++) {   /* loaded, twice */
		struct mailbox *mb = open_ok("INBOX");
		uint32_t uids[5];
		assert_int_equal(uids_of(mb, uids, 5), 4);
		assert_int_equal(uids[0], 5);
		for (int i = 0; i < 4; i++) {
			char got[64];
			message_text(mb, uids[i], got, sizeof(got));
			assert_string_equal(got, text[i]);
		}
		mailbox_unref(&mb);
	}
}

/* set_cur_mtime - INBOX's cur/ given mtime DATE */
static void set_cur_mtime(time_t date)
{
	char path[400];
	snprintf(path, sizeof(path), "%s/cur", inbox);
	struct timeval tv[2] = { { date, 0 }, { date, 0 } };
	assert_int_equal(utimes(path, tv), 0);
}

/* a first listing of a cur/ settled long ago that takes every file as it
 * is named moves nothing: the next sync trusts cur/'s mtime and does not
 * read it again (a file slipped in with the mtime put back stays unseen;
 * the old code read cur/ again and found it), until cur/ changes */
static void test_first_listing_leaves_cur_settled(void **state)
{
	(void)state;
	inbox_dirs();
	put_cur("1000.M1P1.other,S=3:2,S", "a\r\n", 1000000000);
	put_cur("1001.M2P1.other,S=3:2,", "b\r\n", 1100000000);
	set_cur_mtime(1200000000);
	struct mailbox *mb = open_ok("INBOX");
	struct mailbox_view *view;
	struct mailbox_error error;
	struct mailbox_changes ch;
	put_cur("1002.M3P1.other,S=3:2,", "c\r\n", 1150000000);
	set_cur_mtime(1200000000);
	assert_int_equal(mailbox_view_open(mb, &view, &error), 0);
	assert_int_equal(mailbox_view_count(view), 2);   /* failed before: 3 */
	assert_int_equal(mailbox_view_update(view, true, &ch, &error), 0);
	assert_false(ch.exists_changed);
	mailbox_changes_free(&ch);
	set_cur_mtime(1300000000);          /* cur/ changed: read again */
	assert_int_equal(mailbox_view_update(view, true, &ch, &error), 0);
	assert_true(ch.exists_changed);
	assert_int_equal(ch.exists, 3);
	mailbox_changes_free(&ch);
	mailbox_view_free(&view);
	mailbox_unref(&mb);
}

/* two files of cur/ that claim one UID (another program copied a file
 * under a new unique, its U= kept): the first by name keeps it, the other
 * takes the next; a new open finds them as they were */
static void test_uid_claimed_twice(void **state)
{
	(void)state;
	inbox_dirs();
	put_cur("1001.M2P1.other,S=3,U=7:2,S", "b\r\n", 1100000000);
	put_cur("1000.M1P1.other,S=3,U=7:2,", "a\r\n", 1000000000);
	mailbox_cache_size_set(0);
	for (int round = 0; round < 2; round++) {
		struct mailbox *mb = open_ok("INBOX");
		uint32_t uids[3];
		assert_int_equal(uids_of(mb, uids, 3), 2);
		assert_int_equal(uids[0], 7);
		assert_int_equal(uids[1], 8);
		assert_int_equal(message_at(mb, 1).flags, 0);
		assert_int_equal(message_at(mb, 2).flags, MAILBOX_FLAG_SEEN);
		mailbox_unref(&mb);
	}
}

/* a crash (no clean close) with an index written mid-session: the files
 * written after it are found, and no UID handed out after it is reused */
static void test_unclean_stale_index(void **state)
{
	(void)state;
	struct mailbox *mb = open_ok("INBOX");
	struct mailbox_view *view;
	struct mailbox_error error;
	char index[400], lease[400], saved_index[400], saved_lease[400];
	snprintf(index, sizeof(index), "%s/petrel.index", inbox);
	snprintf(lease, sizeof(lease), "%s/petrel.uidvalidity", inbox);
	snprintf(saved_index, sizeof(saved_index), "%s/index.saved", data_dir);
	snprintf(saved_lease, sizeof(saved_lease), "%s/lease.saved", data_dir);

	for (int i = 0; i < 40; i++)
		append_ok(mb, "m\r\n", 0);
	/* the disk as a kill -9 would leave it now */
	copy_file(index, saved_index);
	copy_file(lease, saved_lease);
	assert_int_equal(append_ok(mb, "late\r\n", MAILBOX_FLAG_SEEN), 41);
	assert_int_equal(append_ok(mb, "later\r\n", MAILBOX_FLAG_DELETED), 42);
	assert_int_equal(mailbox_view_open(mb, &view, &error), 0);
	assert_int_equal(mailbox_expunge(view, NULL, 0, NULL, NULL, &error), 0);
	mailbox_view_free(&view);
	mailbox_unref(&mb);
	copy_file(saved_index, index);
	copy_file(saved_lease, lease);

	mb = open_ok("INBOX");
	struct mailbox_status st;
	mailbox_status_get(mb, &st);
	assert_int_equal(st.messages, 41);
	assert_int_equal(st.unseen, 40);
	assert_true(st.uidnext > 42);
	assert_true(append_ok(mb, "new\r\n", 0) > 42);
	mailbox_unref(&mb);
}

struct worker {
	int id;
	uint32_t uids[64];
	size_t count;
	int failures;
};

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	struct mailbox *mb = NULL;
	struct mailbox_view *view = NULL;
	struct mailbox_error error;
	char text[64];

	if (mailbox_open(data_dir, ADDR, "INBOX", &mb, &error) != 0 ||
	    mailbox_view_open(mb, &view, &error) != 0) {
		w->failures++;
		goto out;
	}
	for (int i = 0; i < 40; i++) {
		uint32_t uid;
		snprintf(text, sizeof(text), "Subject: %d-%d\r\n\r\n", w->id, i);
		if (mailbox_append(mb, text, strlen(text), 0, 0, 0, &uid, &error) != 0) {
			w->failures++;
			continue;
		}
		w->uids[w->count++] = uid;
		struct mailbox_changes ch;
		if (mailbox_view_update(view, true, &ch, &error) != 0) {
			w->failures++;
			continue;
		}
		mailbox_changes_free(&ch);
		/* flags on our own message and on the other thread's newest */
		uint32_t targets[2] = { uid, mailbox_view_uid(view, mailbox_view_count(view)) };
		struct mailbox_store_result res;
		uint32_t flag = w->id ? MAILBOX_FLAG_FLAGGED : MAILBOX_FLAG_SEEN;
		if (mailbox_store_flags(view, targets, 2, MAILBOX_STORE_ADD, flag, 0, 0, &res,
					&error) != 0) {
			w->failures++;
			continue;
		}
		if (res.stored_count != 2)
			w->failures++;
		mailbox_store_result_free(&res);
	}
out:
	mailbox_view_free(&view);
	mailbox_unref(&mb);
	return NULL;
}

#define CYCLE_THREADS 4
#define CYCLE_ROUNDS 100

struct cycler {
	int failures;
	uint32_t uids[CYCLE_ROUNDS];
	size_t count;
};

/* cycler_run - open the folder, append one message, close it, over and
 * over (as APPEND sessions and local delivery do) */
static void *cycler_run(void *arg)
{
	struct cycler *c = arg;
	unsigned seed = (unsigned)(uintptr_t)arg;
	for (int i = 0; i < CYCLE_ROUNDS; i++) {
		/* a pause of 0-2 ms between cycles, as between a client's
		 * commands: the folder is often closed by one thread just as
		 * another opens it */
		usleep((useconds_t)(rand_r(&seed) % 2000));
		struct mailbox *mb = NULL;
		struct mailbox_error error;
		uint32_t uid;
		if (mailbox_open(data_dir, ADDR, "INBOX", &mb, &error) != 0) {
			c->failures++;
			continue;
		}
		if (mailbox_append(mb, "x\r\n", 3, 0, 0, 0, &uid, &error) != 0)
			c->failures++;
		else
			c->uids[c->count++] = uid;
		mailbox_unref(&mb);
	}
	return NULL;
}

/* threads that each open, append to and close one folder at once: a
 * folder being closed (its index and leases written) while another thread
 * opens it is one folder, not two writing the same files; every append
 * succeeds with its own UID */
static void test_open_close_cycles(void **state)
{
	(void)state;
	struct cycler c[CYCLE_THREADS] = { 0 };
	pthread_t t[CYCLE_THREADS];
	for (int i = 0; i < CYCLE_THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, cycler_run, &c[i]), 0);
	for (int i = 0; i < CYCLE_THREADS; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	bool seen[CYCLE_THREADS * CYCLE_ROUNDS * 4 + 2] = { 0 };
	for (int i = 0; i < CYCLE_THREADS; i++) {
		assert_int_equal(c[i].failures, 0);
		assert_int_equal(c[i].count, CYCLE_ROUNDS);
		for (size_t j = 0; j < c[i].count; j++) {
			assert_true(c[i].uids[j] < sizeof(seen));
			assert_false(seen[c[i].uids[j]]);
			seen[c[i].uids[j]] = true;
		}
	}
	struct mailbox *mb = open_ok("INBOX");
	uint32_t uids[CYCLE_THREADS * CYCLE_ROUNDS + 1];
	assert_int_equal(uids_of(mb, uids, CYCLE_THREADS * CYCLE_ROUNDS + 1),
			 CYCLE_THREADS * CYCLE_ROUNDS);
	mailbox_unref(&mb);
}

/* two threads append and store flags on one mailbox at once: UIDs are
 * unique and ascending, every view ends up with the same messages and
 * flags, the disk agrees after a rebuild */
static void test_two_threads(void **state)
{
	(void)state;
	struct mailbox *mb = open_ok("INBOX");
	struct mailbox_view *view;
	struct mailbox_error error;
	assert_int_equal(mailbox_view_open(mb, &view, &error), 0);

	struct worker w[2] = { { .id = 0 }, { .id = 1 } };
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, worker_run, &w[i]), 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	assert_int_equal(w[0].failures + w[1].failures, 0);
	assert_int_equal(w[0].count, 40);
	assert_int_equal(w[1].count, 40);
	for (int i = 0; i < 2; i++) {
		for (size_t j = 1; j < w[i].count; j++)
			assert_true(w[i].uids[j] > w[i].uids[j - 1]);
	}

	/* the view opened before sees 80 new messages, UIDs 1..80 */
	struct mailbox_changes ch;
	assert_int_equal(mailbox_view_update(view, true, &ch, &error), 0);
	assert_true(ch.exists_changed);
	assert_int_equal(ch.exists, 80);
	assert_int_equal(ch.uidnext, 81);
	mailbox_changes_free(&ch);
	uint32_t flags_of[81] = { 0 };
	for (uint32_t seq = 1; seq <= 80; seq++) {
		struct mailbox_message msg;
		assert_int_equal(mailbox_view_message(view, seq, &msg), 0);
		assert_int_equal(msg.uid, seq);
		flags_of[seq] = msg.flags;
		/* each thread flagged its own message */
		bool own0 = false, own1 = false;
		for (size_t j = 0; j < 40; j++) {
			own0 = own0 || w[0].uids[j] == seq;
			own1 = own1 || w[1].uids[j] == seq;
		}
		assert_true(own0 != own1);
		if (own0)
			assert_true(msg.flags & MAILBOX_FLAG_SEEN);
		else
			assert_true(msg.flags & MAILBOX_FLAG_FLAGGED);
	}
	mailbox_view_free(&view);
	mailbox_unref(&mb);

	/* what the names say on disk is what the views said */
	char index[400];
	snprintf(index, sizeof(index), "%s/petrel.index", inbox);
	assert_int_equal(unlink(index), 0);
	mb = open_ok("INBOX");
	assert_int_equal(mailbox_view_open(mb, &view, &error), 0);
	assert_int_equal(mailbox_view_count(view), 80);
	for (uint32_t seq = 1; seq <= 80; seq++) {
		struct mailbox_message msg;
		assert_int_equal(mailbox_view_message(view, seq, &msg), 0);
		assert_int_equal(msg.uid, seq);
		assert_int_equal(msg.flags, flags_of[seq]);
	}
	mailbox_view_free(&view);
	mailbox_unref(&mb);
}

static atomic_int watch_fired;

static void on_change(void *arg)
{
	(void)arg;
	atomic_fetch_add(&watch_fired, 1);
}

/* a delivery into new/ by local delivery (or any other writer) reaches an
 * open view: the watch fires, the update says EXISTS with the new UID */
/* mailbox_view_select's status, from its one pass, is what
 * mailbox_view_status gives of the view it opened: for SELECT and for
 * EXAMINE, with seen, deleted, recent and sized messages */
static void test_view_select_status(void **state)
{
	(void)state;
	struct mailbox *mb = open_ok("INBOX");
	struct mailbox_error error;
	append_ok(mb, "one\r\n", MAILBOX_FLAG_SEEN);
	append_ok(mb, "two two\r\n", 0);
	append_ok(mb, "three\r\n", MAILBOX_FLAG_DELETED | MAILBOX_FLAG_SEEN);
	append_ok(mb, "four\r\n", MAILBOX_FLAG_DELETED);
	for (int peek = 1; peek >= 0; peek--) {
		struct mailbox_view *view;
		struct mailbox_status got, want;
		assert_int_equal(mailbox_view_select(mb, peek, &view, &got, &error), 0);
		mailbox_view_status(view, &want);
		assert_int_equal(got.messages, 4);
		assert_int_equal(got.unseen, 2);
		assert_int_equal(got.deleted, 2);
		assert_int_equal(got.recent, 4);      /* the peek left them recent */
		assert_int_equal(got.size, 5 + 9 + 7 + 6);
		assert_int_equal(got.messages, want.messages);
		assert_int_equal(got.unseen, want.unseen);
		assert_int_equal(got.deleted, want.deleted);
		assert_int_equal(got.recent, want.recent);
		assert_int_equal(got.size, want.size);
		assert_int_equal(got.uidvalidity, want.uidvalidity);
		assert_int_equal(got.uidnext, want.uidnext);
		assert_true(got.highestmodseq == want.highestmodseq);
		mailbox_view_free(&view);
	}
	struct mailbox_view *view;
	struct mailbox_status got;
	assert_int_equal(mailbox_view_select(mb, false, &view, &got, &error), 0);
	assert_int_equal(got.recent, 0);              /* the last view took them */
	mailbox_view_free(&view);
	mailbox_unref(&mb);
}

/* drop_cur_same_tick - a file another program put in CUR within the clock
 * tick of cur/'s last change: its mtime set back to what it was */
static void drop_cur_same_tick(const char *cur, const char *name, const char *text)
{
	char path[600];
	struct stat before;
	assert_int_equal(stat(cur, &before), 0);
	snprintf(path, sizeof(path), "%s/%s", cur, name);
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	assert_int_equal(fclose(fp), 0);
	struct timespec times[2] = { before.st_atim, before.st_mtim };
	assert_int_equal(utimensat(AT_FDCWD, cur, times, 0), 0);
}

/* inbox_with_own - INBOX open (held: each open syncs it) after COUNT
 * APPENDs of its own, its cur/ path in CUR */
static struct mailbox *inbox_with_own(int count, char *cur, size_t size)
{
	struct mailbox *mb = open_ok("INBOX");
	snprintf(cur, size, "%s/cur", inbox);
	for (int i = 0; i < count; i++)
		append_ok(mb, "Subject: own\r\n\r\nbody\r\n", 0);
	return mb;
}

/* past_settle - over the two seconds after which a change in cur/'s clock
 * tick is looked for again */
static void past_settle(void)
{
	nanosleep(&(struct timespec){ .tv_sec = 2, .tv_nsec = 100000000 }, NULL);
}

/* an APPEND's own link into cur/ does not make the next open read all of
 * cur/ again; a file another program put in cur/ within the same clock
 * tick (its mtime set back to the APPEND's here) is found by the first
 * sync a second later, and one put there later at once */
static void test_append_own_change_not_rescanned(void **state)
{
	(void)state;
	char cur[400];
	struct mailbox *mb = inbox_with_own(3, cur, sizeof(cur));
	drop_cur_same_tick(cur, "1000.M1P1.other,S=7:2,S", "hidden\n");
	assert_int_equal(inbox_messages(), 3);        /* synced: cur/ not read */
	past_settle();
	assert_int_equal(inbox_messages(), 4);        /* a second later: read once */
	append_ok(mb, "Subject: own\r\n\r\nbody\r\n", 0);
	nanosleep(&(struct timespec){ .tv_nsec = 20000000 }, NULL);
	put_cur("1001.M1P1.other,S=6:2,S", "later\n", time(NULL));
	assert_int_equal(inbox_messages(), 6);        /* another tick: seen at once */
	mailbox_unref(&mb);
}

/* a file delivered into new/ is adopted without reading cur/ again when
 * cur/ is as the last sync left it: a file another program put in cur/
 * within that tick (the mtime set back) shows a second later */
static void test_new_adopted_without_reading_cur(void **state)
{
	(void)state;
	char cur[400];
	struct mailbox *mb = inbox_with_own(1, cur, sizeof(cur));
	drop_cur_same_tick(cur, "1000.M1P1.other,S=7:2,S", "hidden\n");
	drop_new(inbox, "1001.M2P2.mda", "Subject: delivered\r\n\r\nhi\r\n");
	assert_int_equal(inbox_messages(), 2);        /* new/ adopted, cur/ not read */
	assert_int_equal(count_dir(cur), 3);
	past_settle();
	assert_int_equal(inbox_messages(), 3);
	mailbox_unref(&mb);
}

/* a sync that read cur/ (another program changed it) and adopted a file
 * from new/ leaves cur/ in step: the next delivery is adopted without
 * reading cur/ again (a file another program put in cur/ within that tick
 * shows a second later); it used to read all of cur/ at every delivery
 * from then on */
static void test_adopted_after_full_read_in_step(void **state)
{
	(void)state;
	char cur[400];
	struct mailbox *mb = inbox_with_own(1, cur, sizeof(cur));
	nanosleep(&(struct timespec){ .tv_nsec = 20000000 }, NULL);
	put_cur("1000.M1P1.other,S=7:2,S", "other\n", time(NULL));
	drop_new(inbox, "1001.M2P2.mda", "Subject: delivered\r\n\r\nhi\r\n");
	assert_int_equal(inbox_messages(), 3);        /* cur/ read, new/ adopted */
	drop_cur_same_tick(cur, "1002.M3P3.other,S=7:2,S", "hidden\n");
	drop_new(inbox, "1003.M4P4.mda", "Subject: delivered\r\n\r\nhi\r\n");
	assert_int_equal(inbox_messages(), 4);        /* new/ adopted, cur/ not read
						       * (failed before: 5) */
	past_settle();
	assert_int_equal(inbox_messages(), 5);
	mailbox_unref(&mb);
}

static void test_new_file_picked_up(void **state)
{
	(void)state;
	struct mailbox *mb = open_ok("INBOX");
	struct mailbox_view *view;
	struct mailbox_error error;
	append_ok(mb, "first\r\n", 0);
	assert_int_equal(mailbox_view_open(mb, &view, &error), 0);
	struct mailbox_watch *watch = mailbox_watch_add(mb, on_change, NULL);
	atomic_store(&watch_fired, 0);

	char *file = NULL;
	bool temporary = false;
	const char *why = NULL;
	assert_int_equal(local_deliver_blocking(NULL, 0, data_dir, "h", "a@example.net", ADDR, NULL,
						"Subject: hi\r\n\r\n", 15, &file, &temporary, &why), 0);
	assert_false(mailbox_view_has_changes(view));
	mailbox_notify_new(file);
	char delivered_name[256];
	snprintf(delivered_name, sizeof(delivered_name), "%s", strrchr(file, '/') + 1);
	free(file);
	assert_int_equal(atomic_load(&watch_fired), 1);
	assert_true(mailbox_view_has_changes(view));

	/* and a file another program dropped, found by the next update */
	drop_new(inbox, "2000.M1P2.other", "Subject: other\r\n\r\n");
	/* what the session was told is what its status says, though the
	 * folder has one more message already */
	struct mailbox_status vst, mst;
	mailbox_view_status(view, &vst);
	mailbox_status_get(mb, &mst);
	assert_int_equal(vst.messages, 1);
	assert_int_equal(vst.uidnext, 2);
	assert_int_equal(mst.messages, 2);
	assert_int_equal(mst.uidnext, 3);
	assert_int_equal(vst.uidvalidity, mst.uidvalidity);
	struct mailbox_changes ch;
	assert_int_equal(mailbox_view_update(view, true, &ch, &error), 0);
	assert_true(ch.exists_changed);
	assert_int_equal(ch.exists, 3);
	assert_int_equal(ch.expunged_count, 0);
	assert_int_equal(ch.uidnext, 4);
	mailbox_changes_free(&ch);
	assert_int_equal(mailbox_view_uid(view, 2), 2);
	assert_int_equal(mailbox_view_uid(view, 3), 3);
	struct mailbox_message msg;
	assert_int_equal(mailbox_view_message(view, 2, &msg), 0);
	int fd;
	assert_int_equal(mailbox_message_open(view, 2, &fd, &error), 0);
	char buf[256];
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_int_equal((size_t)n, msg.size);
	assert_non_null(strstr(buf, "Delivered-To: " ADDR));
	assert_int_equal(close(fd), 0);
	/* the POP3 UIDL: the name local delivery gave it, whatever came after */
	char *unique = NULL;
	assert_int_equal(mailbox_message_unique(view, 2, &unique, &error), 0);
	assert_string_equal(unique, delivered_name);
	free(unique);
	assert_int_equal(mailbox_message_unique(view, 99, &unique, &error), -1);
	assert_int_equal(error.code, MAILBOX_ERROR_EXPUNGED);
	/* one POP3 session at a time */
	assert_true(mailbox_exclusive_take(mb));
	assert_false(mailbox_exclusive_take(mb));
	mailbox_exclusive_release(mb);
	assert_true(mailbox_exclusive_take(mb));
	mailbox_exclusive_release(mb);
	assert_false(mailbox_view_has_changes(view));

	mailbox_watch_remove(&watch);
	assert_null(watch);
	mailbox_view_free(&view);
	mailbox_unref(&mb);

	/* DMARC quarantine's delivery into Junk reaches a session on Junk */
	assert_int_equal(mailbox_account_prepare(data_dir, ADDR, &error), 0);
	mb = open_ok("Junk");
	assert_int_equal(mailbox_view_open(mb, &view, &error), 0);
	watch = mailbox_watch_add(mb, on_change, NULL);
	atomic_store(&watch_fired, 0);
	assert_int_equal(local_deliver_blocking(NULL, 0, data_dir, "h", "a@example.net", ADDR,
						LOCAL_JUNK_FOLDER, "Subject: spam\r\n\r\n", 17,
						&file, &temporary, &why), 0);
	mailbox_notify_new(file);
	free(file);
	assert_int_equal(atomic_load(&watch_fired), 1);
	assert_int_equal(mailbox_view_update(view, true, &ch, &error), 0);
	assert_int_equal(ch.exists, 1);
	mailbox_changes_free(&ch);
	mailbox_watch_remove(&watch);
	mailbox_view_free(&view);
	mailbox_unref(&mb);
}

/* flags another session set and took back between two updates: the view
 * hears the message's new MODSEQ with its flags as they are (the views keep
 * MODSEQs, not flags); the session that stored them hears nothing */
static void test_flags_back_reported(void **state)
{
	(void)state;
	struct mailbox *mb = open_ok("INBOX");
	struct mailbox_view *view, *other;
	struct mailbox_error error;
	struct mailbox_store_result res;
	struct mailbox_changes ch;
	append_ok(mb, "m\r\n", 0);
	append_ok(mb, "n\r\n", 0);
	assert_int_equal(mailbox_view_open(mb, &view, &error), 0);
	assert_int_equal(mailbox_view_open(mb, &other, &error), 0);
	uint32_t uid = 1;
	assert_int_equal(mailbox_store_flags(other, &uid, 1, MAILBOX_STORE_ADD,
					     MAILBOX_FLAG_FLAGGED, 0, 0, &res, &error), 0);
	mailbox_store_result_free(&res);
	assert_int_equal(mailbox_store_flags(other, &uid, 1, MAILBOX_STORE_REMOVE,
					     MAILBOX_FLAG_FLAGGED, 0, 0, &res, &error), 0);
	mailbox_store_result_free(&res);
	struct mailbox_status st;
	mailbox_status_get(mb, &st);
	assert_int_equal(mailbox_view_update(view, true, &ch, &error), 0);
	assert_int_equal(ch.flag_change_count, 1);   /* failed before: 0 */
	assert_int_equal(ch.flag_changes[0].uid, 1);
	assert_int_equal(ch.flag_changes[0].flags, 0);
	assert_int_equal(ch.flag_changes[0].modseq, st.highestmodseq);
	mailbox_changes_free(&ch);
	assert_int_equal(mailbox_view_update(other, true, &ch, &error), 0);
	assert_int_equal(ch.flag_change_count, 0);
	mailbox_changes_free(&ch);
	mailbox_view_free(&other);
	mailbox_view_free(&view);
	mailbox_unref(&mb);
}

/* another program renames a file (flags) and removes one: one view hears
 * FETCH and EXPUNGE, but not during a command that forbids EXPUNGE */
static void test_external_changes(void **state)
{
	(void)state;
	struct mailbox *mb = open_ok("INBOX");
	struct mailbox_view *view;
	struct mailbox_error error;
	for (int i = 0; i < 4; i++)
		append_ok(mb, "m\r\n", 0);
	assert_int_equal(mailbox_view_open(mb, &view, &error), 0);

	char cur[400];
	snprintf(cur, sizeof(cur), "%s/cur", inbox);
	DIR *dir = opendir(cur);
	struct dirent *de;
	char names[4][256];
	int n = 0;
	while ((de = readdir(dir)) != NULL) {
		if (de->d_name[0] != '.')
			snprintf(names[n++], sizeof(names[0]), "%s", de->d_name);
	}
	closedir(dir);
	assert_int_equal(n, 4);
	for (int i = 0; i < 4; i++) {
		char from[2200], to[2200];
		snprintf(from, sizeof(from), "%s/%s", cur, names[i]);
		if (strstr(names[i], ",U=2:")) {
			snprintf(to, sizeof(to), "%s/%sS", cur, names[i]);
			assert_int_equal(rename(from, to), 0);
		}
		if (strstr(names[i], ",U=3:"))
			remove_file(cur, names[i]);
	}
	struct mailbox_changes ch;
	assert_int_equal(mailbox_view_update(view, false, &ch, &error), 0);
	assert_int_equal(ch.expunged_count, 0);
	assert_int_equal(ch.flag_change_count, 1);
	assert_int_equal(ch.flag_changes[0].uid, 2);
	assert_int_equal(ch.flag_changes[0].seq, 2);
	assert_int_equal(ch.flag_changes[0].flags, MAILBOX_FLAG_SEEN);
	assert_int_equal(mailbox_view_count(view), 4);
	struct mailbox_message msg;
	assert_int_equal(mailbox_view_message(view, 3, &msg), 0);
	assert_true(msg.expunged);
	mailbox_changes_free(&ch);

	/* nothing new since: an update without expunges reports nothing, and
	 * the one allowed to still reports the expunge it held back */
	assert_int_equal(mailbox_view_update(view, false, &ch, &error), 0);
	assert_int_equal(ch.expunged_count + ch.flag_change_count, 0);
	mailbox_changes_free(&ch);
	assert_int_equal(mailbox_view_update(view, true, &ch, &error), 0);
	assert_int_equal(ch.expunged_count, 1);
	assert_int_equal(ch.expunged_seqs[0], 3);
	assert_int_equal(ch.expunged_uids[0], 3);
	assert_int_equal(ch.flag_change_count, 0);
	assert_false(ch.exists_changed);
	assert_int_equal(mailbox_view_count(view), 3);
	assert_int_equal(mailbox_view_uid(view, 3), 4);
	mailbox_changes_free(&ch);
	mailbox_view_free(&view);
	mailbox_unref(&mb);
}

/* remove_uid_file - another program removes the file of message UID from
 * MAILDIR's cur/ */
static void remove_uid_file(const char *maildir, uint32_t uid)
{
	char cur[400], mark[32];
	snprintf(cur, sizeof(cur), "%s/cur", maildir);
	snprintf(mark, sizeof(mark), ",U=%u:", uid);
	DIR *dir = opendir(cur);
	assert_non_null(dir);
	struct dirent *de;
	int found = 0;
	while ((de = readdir(dir)) != NULL) {
		if (strstr(de->d_name, mark)) {
			remove_file(cur, de->d_name);
			found++;
		}
	}
	closedir(dir);
	assert_int_equal(found, 1);
}

/* a view opened and not used yet copies nothing of the folder (it is
 * lazy), and is still told of what happened since as any view: a file
 * removed by another program, which another session's sync found, is an
 * EXPUNGE at its sequence number, a flag change a FETCH, new mail EXISTS;
 * the deletion of its folder is reported.  The folder's status follows */
static void test_lazy_view_told_of_changes(void **state)
{
	(void)state;
	struct mailbox *mb = open_ok("INBOX");
	struct mailbox_view *view, *other;
	struct mailbox_error error;
	struct mailbox_changes ch;
	struct mailbox_status st;
	struct mailbox_store_result res;
	for (int i = 0; i < 4; i++)
		append_ok(mb, "m\r\n", i == 0 ? MAILBOX_FLAG_SEEN : 0);
	assert_int_equal(mailbox_view_select(mb, false, &view, &st, &error), 0);
	assert_int_equal(st.messages, 4);
	assert_int_equal(st.unseen, 3);
	assert_int_equal(st.first_unseen, 2);
	assert_int_equal(st.recent, 4);
	remove_uid_file(inbox, 3);
	assert_int_equal(mailbox_view_open(mb, &other, &error), 0);   /* its sync */
	uint32_t uid = 2;
	assert_int_equal(mailbox_store_flags(other, &uid, 1, MAILBOX_STORE_ADD,
					     MAILBOX_FLAG_SEEN, 0, 0, &res, &error), 0);
	mailbox_store_result_free(&res);
	append_ok(mb, "new\r\n", 0);
	mailbox_status_get(mb, &st);
	assert_int_equal(st.messages, 4);
	assert_int_equal(st.unseen, 2);
	assert_int_equal(st.first_unseen, 3);     /* UID 4 */
	assert_int_equal(st.recent, 1);

	assert_int_equal(mailbox_view_update(view, true, &ch, &error), 0);
	assert_int_equal(ch.expunged_count, 1);
	assert_int_equal(ch.expunged_seqs[0], 3);
	assert_int_equal(ch.expunged_uids[0], 3);
	assert_int_equal(ch.flag_change_count, 1);
	assert_int_equal(ch.flag_changes[0].uid, 2);
	assert_int_equal(ch.flag_changes[0].flags, MAILBOX_FLAG_SEEN);
	assert_true(ch.exists_changed);
	assert_int_equal(ch.exists, 4);
	mailbox_changes_free(&ch);
	assert_int_equal(mailbox_view_uid(view, 3), 4);
	assert_int_equal(mailbox_view_uid(view, 4), 5);
	struct mailbox_message msg;
	assert_int_equal(mailbox_view_message(view, 1, &msg), 0);
	assert_true(msg.recent);      /* this view was the first told of them */
	mailbox_view_free(&view);
	mailbox_view_free(&other);
	mailbox_unref(&mb);

	assert_int_equal(mailbox_folder_create(data_dir, ADDR, "Gone", &error), 0);
	mb = open_ok("Gone");
	append_ok(mb, "m\r\n", 0);
	assert_int_equal(mailbox_view_open(mb, &view, &error), 0);
	assert_int_equal(mailbox_folder_delete(data_dir, ADDR, "Gone", &error), 0);
	assert_int_equal(mailbox_view_update(view, true, &ch, &error), 0);
	assert_true(ch.deleted);
	mailbox_changes_free(&ch);
	mailbox_view_free(&view);
	mailbox_unref(&mb);
}

/* \Recent (RFC 3501 2.3.2): the first session told of a message has it */
static void test_recent(void **state)
{
	(void)state;
	struct mailbox_error error;
	struct mailbox_view *a, *b;
	struct mailbox_message msg;
	struct mailbox_status st;
	struct mailbox_changes ch;

	struct mailbox *mb = open_ok("INBOX");
	mailbox_unref(&mb);
	drop_new(inbox, "1.M1P1.x", "one\r\n");
	mb = open_ok("INBOX");
	mailbox_status_get(mb, &st);
	assert_int_equal(st.recent, 1);
	assert_int_equal(mailbox_view_open(mb, &a, &error), 0);
	assert_int_equal(mailbox_view_open(mb, &b, &error), 0);
	assert_int_equal(mailbox_view_message(a, 1, &msg), 0);
	assert_true(msg.recent);
	assert_int_equal(mailbox_view_message(b, 1, &msg), 0);
	assert_false(msg.recent);
	mailbox_status_get(mb, &st);
	assert_int_equal(st.recent, 0);

	append_ok(mb, "two\r\n", 0);
	assert_int_equal(mailbox_view_update(b, true, &ch, &error), 0);
	mailbox_changes_free(&ch);
	assert_int_equal(mailbox_view_update(a, true, &ch, &error), 0);
	mailbox_changes_free(&ch);
	assert_int_equal(mailbox_view_message(b, 2, &msg), 0);
	assert_true(msg.recent);
	assert_int_equal(mailbox_view_message(a, 2, &msg), 0);
	assert_false(msg.recent);
	mailbox_view_status(a, &st);
	assert_int_equal(st.recent, 1);
	mailbox_view_status(b, &st);
	assert_int_equal(st.recent, 1);
	mailbox_view_free(&a);
	mailbox_view_free(&b);
	mailbox_unref(&mb);

	/* after a close, what is found in new/ is recent again, the rest not */
	drop_new(inbox, "2.M1P1.x", "three\r\n");
	mb = open_ok("INBOX");
	mailbox_status_get(mb, &st);
	assert_int_equal(st.recent, 1);

	/* a peek (EXAMINE) sees \Recent and leaves it, at its open and its
	 * updates, to the next view */
	assert_int_equal(mailbox_view_select(mb, true, &a, NULL, &error), 0);
	mailbox_view_status(a, &st);
	assert_int_equal(st.recent, 1);
	append_ok(mb, "four\r\n", 0);
	assert_int_equal(mailbox_view_update(a, true, &ch, &error), 0);
	assert_true(ch.exists_changed);
	mailbox_changes_free(&ch);
	mailbox_view_status(a, &st);
	assert_int_equal(st.recent, 2);
	assert_int_equal(mailbox_view_open(mb, &b, &error), 0);
	mailbox_view_status(b, &st);
	assert_int_equal(st.recent, 2);
	mailbox_status_get(mb, &st);
	assert_int_equal(st.recent, 0);
	mailbox_view_free(&a);
	mailbox_view_free(&b);
	mailbox_unref(&mb);
}

/* a folder left alone for a while is not read again at each sync, yet a
 * change to it by another program is still seen */
static void test_settled_folder(void **state)
{
	(void)state;
	struct mailbox *mb = open_ok("INBOX");
	struct mailbox_view *view;
	struct mailbox_error error;
	append_ok(mb, "a\r\n", 0);
	append_ok(mb, "b\r\n", 0);
	assert_int_equal(mailbox_view_open(mb, &view, &error), 0);
	/* at least 2 s of wall time: cur/'s mtime is then over a second old
	 * at the next scan (a slower machine only makes it older) */
	sleep(3);
	struct mailbox_changes ch;
	assert_int_equal(mailbox_view_update(view, true, &ch, &error), 0);
	mailbox_changes_free(&ch);
	assert_int_equal(mailbox_view_update(view, true, &ch, &error), 0);
	assert_false(ch.exists_changed);
	mailbox_changes_free(&ch);

	char cur[400], from[700], to[700];
	snprintf(cur, sizeof(cur), "%s/cur", inbox);
	DIR *dir = opendir(cur);
	struct dirent *de;
	while ((de = readdir(dir)) != NULL) {
		if (strstr(de->d_name, ",U=1:2,")) {
			snprintf(from, sizeof(from), "%s/%s", cur, de->d_name);
			snprintf(to, sizeof(to), "%s/%sF", cur, de->d_name);
		}
	}
	closedir(dir);
	assert_int_equal(rename(from, to), 0);
	assert_int_equal(mailbox_view_update(view, true, &ch, &error), 0);
	assert_int_equal(ch.flag_change_count, 1);
	assert_int_equal(ch.flag_changes[0].flags, MAILBOX_FLAG_FLAGGED);
	mailbox_changes_free(&ch);

	sleep(3);
	assert_int_equal(mailbox_view_update(view, true, &ch, &error), 0);
	mailbox_changes_free(&ch);
	drop_new(inbox, "3000.M1P1.x", "c\r\n");
	assert_int_equal(mailbox_view_update(view, true, &ch, &error), 0);
	assert_true(ch.exists_changed);
	assert_int_equal(ch.exists, 3);
	mailbox_changes_free(&ch);
	mailbox_view_free(&view);
	mailbox_unref(&mb);
}

/* settled_flag_rename - in INBOX's cur/, the file of UID 1 gets the flag
 * LETTERS; with KEEP_MTIME cur/'s mtime is put back as it was, so that
 * only a full read of cur/ can see the change */
static void settled_flag_rename(const char *letters, bool keep_mtime)
{
	char cur[400], from[700] = "", to[700] = "";
	snprintf(cur, sizeof(cur), "%s/cur", inbox);
	struct stat before;
	assert_int_equal(stat(cur, &before), 0);
	DIR *dir = opendir(cur);
	struct dirent *de;
	while ((de = readdir(dir)) != NULL) {
		const char *at = strstr(de->d_name, ",U=1:2,");
		if (at) {
			snprintf(from, sizeof(from), "%s/%s", cur, de->d_name);
			snprintf(to, sizeof(to), "%s/%.*s%s", cur,
				 (int)(at + strlen(",U=1:2,") - de->d_name), de->d_name, letters);
		}
	}
	closedir(dir);
	assert_int_equal(rename(from, to), 0);
	if (keep_mtime) {
		struct timespec times[2] = { before.st_atim, before.st_mtim };
		assert_int_equal(utimensat(AT_FDCWD, cur, times, 0), 0);
	}
}

/* a settled folder closed and opened again is not read again (its index
 * records cur/'s mtime), yet a change to cur/ by another program is seen */
static void test_settled_folder_reopened(void **state)
{
	(void)state;
	struct mailbox *mb = open_ok("INBOX");
	struct mailbox_view *view;
	struct mailbox_error error;
	struct mailbox_message msg;
	append_ok(mb, "a\r\n", 0);
	append_ok(mb, "b\r\n", 0);
	/* at least 2 s of wall time: cur/'s mtime is then over a second old
	 * at the next scan, which finds the folder settled */
	sleep(3);
	assert_int_equal(mailbox_sync(mb, &error), 0);
	mailbox_unref(&mb);

	/* a rename in cur/ that leaves cur/'s mtime as it was: an open that
	 * trusts the index's record of cur/ does not see it */
	settled_flag_rename("F", true);
	mb = open_ok("INBOX");
	assert_int_equal(mailbox_view_open(mb, &view, &error), 0);
	assert_int_equal(mailbox_view_count(view), 2);
	assert_int_equal(mailbox_view_message(view, 1, &msg), 0);
	assert_int_equal(msg.flags, 0);
	mailbox_view_free(&view);
	mailbox_unref(&mb);

	/* a rename as another program makes it: seen at the next open */
	settled_flag_rename("FS", false);
	mb = open_ok("INBOX");
	assert_int_equal(mailbox_view_open(mb, &view, &error), 0);
	assert_int_equal(mailbox_view_message(view, 1, &msg), 0);
	assert_int_equal(msg.flags, MAILBOX_FLAG_FLAGGED | MAILBOX_FLAG_SEEN);
	mailbox_view_free(&view);
	mailbox_unref(&mb);
}

/* index_exists - whether MAILDIR's petrel.index is there */
static bool index_exists(const char *maildir)
{
	char path[600];
	struct stat st;
	snprintf(path, sizeof(path), "%s/petrel.index", maildir);
	return stat(path, &st) == 0;
}

static void index_remove(const char *maildir)
{
	remove_file(maildir, "petrel.index");
}

/* a folder closed by its last user and opened again within the cache does
 * not read petrel.index: with the file removed meanwhile, the reopen
 * neither rebuilds (which writes a new one) nor loses a message; with the
 * cache off the same reopen rebuilds */
static void test_cache_reopen_without_index(void **state)
{
	(void)state;
	uint32_t uids[8];
	mailbox_cache_size_set(1u << 20);
	struct mailbox *mb = open_ok("INBOX");
	append_ok(mb, "a\r\n", 0);
	append_ok(mb, "b\r\n", 0);
	append_ok(mb, "c\r\n", 0);
	mailbox_unref(&mb);
	assert_true(mailbox_cache_used() > 0);
	index_remove(inbox);

	mb = open_ok("INBOX");
	assert_int_equal(mailbox_cache_used(), 0);
	assert_false(index_exists(inbox));
	assert_int_equal(uids_of(mb, uids, 8), 3);
	assert_int_equal(uids[2], 3);
	assert_int_equal(append_ok(mb, "d\r\n", 0), 4);
	mailbox_unref(&mb);
	/* kept: its index is written when it leaves memory */
	assert_false(index_exists(inbox));

	/* off: the kept folder is written and dropped, the next open loads
	 * the files */
	mailbox_cache_size_set(0);
	assert_int_equal(mailbox_cache_used(), 0);
	assert_true(index_exists(inbox));
	index_remove(inbox);
	mb = open_ok("INBOX");
	assert_true(index_exists(inbox));
	assert_int_equal(uids_of(mb, uids, 8), 4);
	mailbox_unref(&mb);
}

/* a kept folder is not written at its close but when it leaves memory
 * (evicted, or the cache turned off at shutdown), durably, with exact
 * leases; a crash while it is kept (its files as they are then) loses no
 * message, reuses no UID and takes MODSEQ back nowhere */
static void test_cache_written_at_eviction(void **state)
{
	(void)state;
	char index[400], lease[400];
	snprintf(index, sizeof(index), "%s/petrel.index", inbox);
	snprintf(lease, sizeof(lease), "%s/petrel.uidvalidity", inbox);
	mailbox_cache_size_set(1u << 20);
	struct mailbox *mb = open_ok("INBOX");
	append_ok(mb, "a\r\n", 0);
	mailbox_unref(&mb);
	mailbox_cache_size_set(0);
	struct stat before, after;
	assert_int_equal(stat(index, &before), 0);

	mailbox_cache_size_set(1u << 20);
	mb = open_ok("INBOX");
	for (int i = 0; i < 5; i++)
		append_ok(mb, "b\r\n", MAILBOX_FLAG_SEEN);
	struct mailbox_status kept;
	mailbox_status_get(mb, &kept);
	mailbox_unref(&mb);
	assert_int_equal(stat(index, &after), 0);
	assert_int_equal(after.st_ino, before.st_ino);   /* failed before: rewritten */

	/* the disk as a kill -9 would leave it now, the folder kept */
	struct mailbox *crashed = crash_image_open();
	uint32_t uids[8];
	assert_int_equal(uids_of(crashed, uids, 8), 6);
	for (uint32_t i = 0; i < 6; i++)
		assert_int_equal(uids[i], i + 1);
	struct mailbox_status st;
	mailbox_status_get(crashed, &st);
	assert_true(st.highestmodseq >= kept.highestmodseq);
	assert_true(append_ok(crashed, "c\r\n", 0) >= kept.uidnext);
	mailbox_unref(&crashed);

	/* evicted: written, with the leases exactly UIDNEXT and HIGHESTMODSEQ */
	mailbox_cache_size_set(0);
	assert_int_equal(stat(index, &after), 0);
	assert_int_not_equal(after.st_ino, before.st_ino);
	FILE *fp = fopen(lease, "r");
	assert_non_null(fp);
	unsigned long v, u;
	unsigned long long m;
	assert_int_equal(fscanf(fp, "V %lu\nU %lu\nM %llu", &v, &u, &m), 3);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(u, kept.uidnext);
	assert_int_equal(m, kept.highestmodseq);
}

/* what another program does to a kept folder is seen at the reopen: a file
 * dropped into new/, one removed from cur/, the whole Maildir removed and
 * made again (a new UIDVALIDITY, not the kept state) */
static void test_cache_sees_other_writers(void **state)
{
	(void)state;
	uint32_t uids[8];
	struct mailbox_status st;
	mailbox_cache_size_set(1u << 20);
	struct mailbox *mb = open_ok("INBOX");
	append_ok(mb, "a\r\n", 0);
	append_ok(mb, "b\r\n", 0);
	mailbox_unref(&mb);
	assert_true(mailbox_cache_used() > 0);

	drop_new(inbox, "1700000000.M1P1.other", "x\r\n");
	char cur[400], victim[600] = "";
	snprintf(cur, sizeof(cur), "%s/cur", inbox);
	DIR *dir = opendir(cur);
	struct dirent *de;
	while ((de = readdir(dir)) != NULL)
		if (strstr(de->d_name, ",U=1:"))
			snprintf(victim, sizeof(victim), "cur/%s", de->d_name);
	closedir(dir);
	assert_true(victim[0] != '\0');
	remove_file(inbox, victim);

	mb = open_ok("INBOX");
	assert_int_equal(uids_of(mb, uids, 8), 2);
	assert_int_equal(uids[0], 2);
	assert_int_equal(uids[1], 3);
	mailbox_unref(&mb);

	char cmd[400];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", inbox);
	assert_int_equal(system(cmd), 0);
	mb = open_ok("INBOX");
	assert_int_equal(uids_of(mb, uids, 8), 0);
	mailbox_status_get(mb, &st);
	assert_int_equal(st.uidnext, 1);
	mailbox_unref(&mb);
}

/* the budget: the least recently closed folder goes first, one folder
 * larger than the budget is not kept, a smaller budget drops at once */
static void test_cache_budget_evicts(void **state)
{
	(void)state;
	char carol[400];
	snprintf(carol, sizeof(carol), "%s/mail/example.org/carol", data_dir);
	mailbox_cache_size_set(1u << 20);
	struct mailbox *mb = open_ok("INBOX");
	append_ok(mb, "a\r\n", 0);
	mailbox_unref(&mb);
	size_t one = mailbox_cache_used();
	assert_true(one > 0);

	/* room for one and a half: carol's close drops bob's */
	mailbox_cache_size_set(one + one / 2);
	struct mailbox_error error;
	assert_int_equal(mailbox_open(data_dir, "carol@example.org", "INBOX", &mb, &error), 0);
	append_ok(mb, "a\r\n", 0);
	mailbox_unref(&mb);
	assert_true(mailbox_cache_used() <= one + one / 2);
	index_remove(inbox);
	index_remove(carol);
	assert_int_equal(mailbox_open(data_dir, "carol@example.org", "INBOX", &mb, &error), 0);
	mailbox_unref(&mb);
	assert_false(index_exists(carol));      /* kept */
	mb = open_ok("INBOX");
	mailbox_unref(&mb);
	assert_true(index_exists(inbox));       /* dropped, so loaded and rebuilt */

	/* smaller than any folder: none kept */
	mailbox_cache_size_set(64);
	assert_int_equal(mailbox_cache_used(), 0);
	mb = open_ok("INBOX");
	mailbox_unref(&mb);
	assert_int_equal(mailbox_cache_used(), 0);
}

/* STORE: modes, UNCHANGEDSINCE, MODSEQ, a second view hearing of it, and
 * expunge reported in descending order */
static void test_store_and_expunge(void **state)
{
	(void)state;
	struct mailbox *mb = open_ok("INBOX");
	struct mailbox_view *a, *b;
	struct mailbox_error error;
	struct mailbox_store_result res;
	for (int i = 0; i < 5; i++)
		append_ok(mb, "m\r\n", 0);
	assert_int_equal(mailbox_view_open(mb, &a, &error), 0);
	assert_int_equal(mailbox_view_open(mb, &b, &error), 0);
	unsigned kw;
	assert_int_equal(mailbox_keyword_find(mb, "$Junk", false, &kw, &error), -1);
	assert_int_equal(error.code, MAILBOX_ERROR_NONEXISTENT);
	assert_int_equal(mailbox_keyword_find(mb, "$Junk", true, &kw, &error), 0);
	assert_int_equal(kw, 0);
	assert_int_equal(mailbox_keyword_find(mb, "bad word", true, &kw, &error), -1);

	struct mailbox_message m1;
	assert_int_equal(mailbox_view_message(a, 1, &m1), 0);
	uint32_t all[] = { 1, 2, 3, 4, 5, 99 };
	assert_int_equal(mailbox_store_flags(a, all, 6, MAILBOX_STORE_ADD, MAILBOX_FLAG_DELETED,
					     UINT64_C(1) << kw, 0, &res, &error), 0);
	assert_int_equal(res.stored_count, 5);
	assert_int_equal(res.expunged_count, 1);
	uint64_t modseq = res.stored[0].modseq;
	assert_true(modseq > m1.modseq);
	mailbox_store_result_free(&res);

	/* UNCHANGEDSINCE below the current MODSEQ: left alone, MODIFIED */
	uint32_t one[] = { 1, 2 };
	assert_int_equal(mailbox_store_flags(a, one, 1, MAILBOX_STORE_SET, MAILBOX_FLAG_SEEN, 0,
					     modseq - 1, &res, &error), 0);
	assert_int_equal(res.modified_count, 1);
	assert_int_equal(res.modified_uids[0], 1);
	assert_int_equal(res.stored_count, 0);
	mailbox_store_result_free(&res);
	assert_int_equal(mailbox_store_flags(a, one, 2, MAILBOX_STORE_REMOVE, MAILBOX_FLAG_DELETED,
					     0, modseq, &res, &error), 0);
	assert_int_equal(res.stored_count, 2);
	assert_int_equal(res.stored[0].flags, 0);
	assert_int_equal(res.stored[0].keywords, UINT64_C(1) << kw);
	assert_true(res.stored[0].modseq > modseq);
	mailbox_store_result_free(&res);

	/* A made these changes: not reported to A, reported to B */
	struct mailbox_changes ch;
	assert_int_equal(mailbox_view_update(a, true, &ch, &error), 0);
	assert_int_equal(ch.flag_change_count, 0);
	mailbox_changes_free(&ch);
	assert_int_equal(mailbox_view_update(b, true, &ch, &error), 0);
	assert_int_equal(ch.flag_change_count, 5);
	assert_true(ch.keywords_changed);
	mailbox_changes_free(&ch);

	/* EXPUNGE of 3, 4, 5 (\Deleted); B hears 5, 4, 3 */
	uint32_t *gone = NULL;
	size_t ngone = 0;
	assert_int_equal(mailbox_expunge(a, NULL, 0, &gone, &ngone, &error), 0);
	assert_int_equal(ngone, 3);
	assert_int_equal(gone[0], 3);
	assert_int_equal(gone[2], 5);
	free(gone);
	assert_int_equal(mailbox_view_update(b, true, &ch, &error), 0);
	assert_int_equal(ch.expunged_count, 3);
	assert_int_equal(ch.expunged_seqs[0], 5);
	assert_int_equal(ch.expunged_seqs[1], 4);
	assert_int_equal(ch.expunged_seqs[2], 3);
	assert_true(ch.highestmodseq > modseq);
	mailbox_changes_free(&ch);
	assert_int_equal(mailbox_view_count(b), 2);
	mailbox_view_free(&a);
	mailbox_view_free(&b);
	mailbox_unref(&mb);
}

static void test_copy_move(void **state)
{
	(void)state;
	struct mailbox_error error;
	assert_int_equal(mailbox_account_prepare(data_dir, ADDR, &error), 0);
	struct mailbox *in = open_ok("INBOX"), *arch = open_ok("Archive");
	struct mailbox_view *view;
	append_ok(in, "one\r\n", MAILBOX_FLAG_SEEN);
	append_ok(in, "two\r\n", MAILBOX_FLAG_FLAGGED);
	append_ok(in, "three\r\n", 0);
	append_ok(arch, "old\r\n", 0);
	assert_int_equal(mailbox_view_open(in, &view, &error), 0);

	uint32_t uids[] = { 1, 3 }, *src = NULL, *dst = NULL;
	size_t n = 0;
	assert_int_equal(mailbox_copy(view, uids, 2, arch, &src, &dst, &n, &error), 0);
	assert_int_equal(n, 2);
	assert_int_equal(src[0], 1);
	assert_int_equal(dst[0], 2);
	assert_int_equal(src[1], 3);
	assert_int_equal(dst[1], 3);
	free(src);
	free(dst);
	struct mailbox_status st;
	mailbox_status_get(arch, &st);
	assert_int_equal(st.messages, 3);
	assert_int_equal(st.unseen, 2);

	uint32_t mv[] = { 2 };
	assert_int_equal(mailbox_move(view, mv, 1, arch, &src, &dst, &n, &error), 0);
	assert_int_equal(n, 1);
	assert_int_equal(dst[0], 4);
	free(src);
	free(dst);
	struct mailbox_changes ch;
	assert_int_equal(mailbox_view_update(view, true, &ch, &error), 0);
	assert_int_equal(ch.expunged_count, 1);
	assert_int_equal(ch.expunged_uids[0], 2);
	mailbox_changes_free(&ch);
	mailbox_status_get(arch, &st);
	assert_int_equal(st.messages, 4);

	uint64_t bytes, messages;
	assert_int_equal(mailbox_quota_usage(data_dir, ADDR, &bytes, &messages, &error), 0);
	assert_int_equal(messages, 6);
	assert_int_equal(bytes, 5 + 7 + 5 + 5 + 7 + 5);
	mailbox_view_free(&view);
	mailbox_unref(&in);
	mailbox_unref(&arch);
}

static bool listed(struct mailbox_folder *f, size_t n, const char *name, unsigned *attrs_r);

/* quota_limit - a mailbox_quota_limit_fn: the limits in ARG, or a store
 * that cannot answer (NULL); the address asked for is kept */
static char quota_address[128];
static int quota_limit(void *arg, const char *address, struct mailbox_quota *limit_r)
{
	snprintf(quota_address, sizeof(quota_address), "%s", address);
	if (!arg)
		return -1;
	*limit_r = *(const struct mailbox_quota *)arg;
	return 0;
}

static void test_quota(void **state)
{
	(void)state;
	struct mailbox_error error;
	struct mailbox_quota limit = { .bytes = 20, .messages = 3 }, usage, got;
	mailbox_quota_setup(quota_limit, &limit);
	struct mailbox *in = open_ok("INBOX");
	append_ok(in, "12345\r\n", 0);
	append_ok(in, "12345\r\n", 0);
	assert_string_equal(quota_address, ADDR);
	/* 14 + 7 > 20: refused whole, nothing written */
	uint32_t uid = 0;
	assert_int_equal(mailbox_append(in, "12345\r\n", 7, 0, 0, 0, &uid, &error), -1);
	assert_int_equal(error.code, MAILBOX_ERROR_OVERQUOTA);
	struct mailbox_status st;
	mailbox_status_get(in, &st);
	assert_int_equal(st.messages, 2);
	char tmp[400];
	snprintf(tmp, sizeof(tmp), "%s/tmp", inbox);
	assert_int_equal(count_dir(tmp), 0);
	/* exactly at the limit fits */
	assert_int_equal(mailbox_quota_check(data_dir, ADDR, 6, 1, &error), 0);
	append_ok(in, "x\r\n", 0);
	/* three messages: full by count, whatever the size */
	assert_int_equal(mailbox_quota_check(data_dir, ADDR, 1, 1, &error), -1);
	assert_int_equal(error.code, MAILBOX_ERROR_OVERQUOTA);
	assert_int_equal(mailbox_quota_get(data_dir, ADDR, &usage, &got, &error), 0);
	assert_int_equal(usage.bytes, 17);
	assert_int_equal(usage.messages, 3);
	assert_int_equal(got.bytes, 20);
	assert_int_equal(got.messages, 3);

	/* a copy would pass it; a move within the account does not change it */
	assert_int_equal(mailbox_folder_create(data_dir, ADDR, "Archive", &error), 0);
	struct mailbox *arch = open_ok("Archive");
	struct mailbox_view *view;
	assert_int_equal(mailbox_view_open(in, &view, &error), 0);
	uint32_t one[] = { 1 }, *src = NULL, *dst = NULL;
	size_t n = 0;
	assert_int_equal(mailbox_copy(view, one, 1, arch, &src, &dst, &n, &error), -1);
	assert_int_equal(error.code, MAILBOX_ERROR_OVERQUOTA);
	mailbox_status_get(arch, &st);
	assert_int_equal(st.messages, 0);
	assert_int_equal(mailbox_move(view, one, 1, arch, &src, &dst, &n, &error), 0);
	assert_int_equal(n, 1);
	free(src);
	free(dst);
	mailbox_view_free(&view);

	/* a delivery into a folder nobody has open is counted (new/) */
	limit.messages = 0;
	mailbox_unref(&in);
	mailbox_unref(&arch);
	char *file = NULL;
	bool temporary = false;
	const char *text = NULL;
	assert_int_equal(local_deliver_blocking(NULL, 0, data_dir, "test.host", "a@b.example", ADDR,
						NULL, "hello\r\n", 7, &file, &temporary, &text), 0);
	mailbox_notify_new(file);
	struct stat fst;
	assert_int_equal(stat(file, &fst), 0);
	free(file);
	assert_int_equal(mailbox_quota_get(data_dir, ADDR, &usage, &got, &error), 0);
	assert_int_equal(usage.messages, 4);
	assert_int_equal(usage.bytes, 17 + (uint64_t)fst.st_size);
	/* over by bytes now: RCPT's check says full */
	assert_int_equal(mailbox_quota_check(data_dir, ADDR, 1, 1, &error), -1);
	assert_int_equal(error.code, MAILBOX_ERROR_OVERQUOTA);

	/* limits that cannot be read: a temporary failure, not a refusal */
	mailbox_quota_setup(quota_limit, NULL);
	in = open_ok("INBOX");
	assert_int_equal(mailbox_append(in, "y\r\n", 3, 0, 0, 0, &uid, &error), -1);
	assert_int_equal(error.code, MAILBOX_ERROR_TEMPORARY);
	/* no limit: anything goes */
	mailbox_quota_setup(NULL, NULL);
	append_ok(in, "y\r\n", 0);
	mailbox_unref(&in);
}

/* test_quota_follows_changes - the usage record follows expunges and
 * folder deletes without a rescan being needed */
static void test_quota_follows_changes(void **state)
{
	(void)state;
	struct mailbox_error error;
	uint64_t bytes, messages;
	struct mailbox *in = open_ok("INBOX");
	append_ok(in, "one\r\n", MAILBOX_FLAG_DELETED);
	append_ok(in, "two\r\n", 0);
	assert_int_equal(mailbox_folder_create(data_dir, ADDR, "Old", &error), 0);
	struct mailbox *old = open_ok("Old");
	append_ok(old, "three\r\n", 0);
	mailbox_unref(&old);
	assert_int_equal(mailbox_quota_usage(data_dir, ADDR, &bytes, &messages, &error), 0);
	assert_int_equal(messages, 3);
	assert_int_equal(bytes, 5 + 5 + 7);
	struct mailbox_view *view;
	assert_int_equal(mailbox_view_open(in, &view, &error), 0);
	assert_int_equal(mailbox_expunge(view, NULL, 0, NULL, NULL, &error), 0);
	mailbox_view_free(&view);
	assert_int_equal(mailbox_quota_usage(data_dir, ADDR, &bytes, &messages, &error), 0);
	assert_int_equal(messages, 2);
	assert_int_equal(bytes, 5 + 7);
	assert_int_equal(mailbox_folder_delete(data_dir, ADDR, "Old", &error), 0);
	assert_int_equal(mailbox_quota_usage(data_dir, ADDR, &bytes, &messages, &error), 0);
	assert_int_equal(messages, 1);
	assert_int_equal(bytes, 5);
	mailbox_unref(&in);
}

/* test_sandbox - a sandboxed account's kept mail is a folder the store
 * opens: "Sandbox" of an address account's mailbox, the INBOX of a plain
 * login's (mail/sandbox/<login>) */
static void test_sandbox(void **state)
{
	(void)state;
	struct mailbox_error error;
	char *file = NULL;
	bool temporary = false;
	const char *text = NULL;
	assert_int_equal(local_deliver_sandbox_blocking(NULL, 0, data_dir, "test.host", ADDR,
							"Bob@Example.ORG", "x@y.example, z@example.org",
							"Subject: kept\r\n\r\nhi\r\n", 21, &file,
							&temporary, &text), 0);
	char want[400];
	snprintf(want, sizeof(want), "%s/.Sandbox/new/", inbox);
	assert_memory_equal(file, want, strlen(want));
	mailbox_notify_new(file);
	free(file);
	struct mailbox *mb = NULL;
	assert_int_equal(mailbox_open(data_dir, ADDR, "Sandbox", &mb, &error), 0);
	struct mailbox_status st;
	mailbox_status_get(mb, &st);
	assert_int_equal(st.messages, 1);
	mailbox_unref(&mb);
	/* listed among the account's folders, INBOX untouched */
	struct mailbox_folder *f;
	size_t n;
	unsigned attrs;
	assert_int_equal(mailbox_folder_list(data_dir, ADDR, &f, &n, &error), 0);
	assert_true(listed(f, n, "Sandbox", &attrs));
	mailbox_folders_free(f, n);
	mb = open_ok("INBOX");
	mailbox_status_get(mb, &st);
	assert_int_equal(st.messages, 0);
	mailbox_unref(&mb);

	/* a plain login: its mailbox is mail/sandbox/<login>, the mail in INBOX */
	assert_int_equal(local_deliver_sandbox_blocking(NULL, 0, data_dir, "test.host", ADDR,
							"Billing-App", "x@y.example",
							"Subject: kept\r\n\r\nhi\r\n", 21, &file,
							&temporary, &text), 0);
	snprintf(want, sizeof(want), "%s/mail/sandbox/billing-app/new/", data_dir);
	assert_memory_equal(file, want, strlen(want));
	free(file);
	assert_int_equal(mailbox_open(data_dir, "billing-app", "INBOX", &mb, &error), 0);
	mailbox_status_get(mb, &st);
	assert_int_equal(st.messages, 1);
	mailbox_unref(&mb);
	/* its quota is looked up under the login's name */
	struct mailbox_quota limit = { .messages = 1 }, usage, got;
	mailbox_quota_setup(quota_limit, &limit);
	assert_int_equal(mailbox_quota_get(data_dir, "billing-app", &usage, &got, &error), 0);
	assert_string_equal(quota_address, "billing-app");
	assert_int_equal(usage.messages, 1);
	mailbox_quota_setup(NULL, NULL);
}

static bool listed(struct mailbox_folder *f, size_t n, const char *name, unsigned *attrs_r)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(f[i].name, name) == 0) {
			*attrs_r = f[i].attrs;
			return true;
		}
	}
	return false;
}

static void test_folders(void **state)
{
	(void)state;
	struct mailbox_error error;
	struct mailbox_folder *f;
	size_t n;
	unsigned attrs = 0;

	assert_int_equal(mailbox_account_prepare(data_dir, ADDR, &error), 0);
	assert_int_equal(mailbox_account_prepare(data_dir, ADDR, &error), 0);
	assert_int_equal(mailbox_folder_list(data_dir, ADDR, &f, &n, &error), 0);
	assert_int_equal(n, 6);
	assert_string_equal(f[0].name, "INBOX");
	assert_true(listed(f, n, "Sent", &attrs));
	assert_int_equal(attrs, MAILBOX_FOLDER_SENT | MAILBOX_FOLDER_SUBSCRIBED);
	assert_true(listed(f, n, "Junk", &attrs));
	assert_true(attrs & MAILBOX_FOLDER_JUNK);
	assert_true(listed(f, n, "Trash", &attrs) && (attrs & MAILBOX_FOLDER_TRASH));
	assert_true(listed(f, n, "Drafts", &attrs) && (attrs & MAILBOX_FOLDER_DRAFTS));
	assert_true(listed(f, n, "Archive", &attrs) && (attrs & MAILBOX_FOLDER_ARCHIVE));
	mailbox_folders_free(f, n);

	assert_int_equal(mailbox_folder_create(data_dir, ADDR, "Work/2026/caf\xc3\xa9", &error), 0);
	assert_int_equal(mailbox_folder_create(data_dir, ADDR, "Work", &error), -1);
	assert_int_equal(error.code, MAILBOX_ERROR_EXISTS);
	char path[600];
	snprintf(path, sizeof(path), "%s/.Work.2026.caf&AOk-/cur", inbox);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);

	/* names that could leave the account's folder are refused, and
	 * nothing is created anywhere */
	static const char *const bad[] = { "../x", "a/../../b", "..", ".hidden", "a.b", "x/",
					   "/etc", "a\\b", "\x01", "" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(mailbox_folder_create(data_dir, ADDR, bad[i], &error), -1);
		assert_int_equal(error.code, MAILBOX_ERROR_BAD_NAME);
		struct mailbox *mb = NULL;
		assert_int_equal(mailbox_open(data_dir, ADDR, bad[i], &mb, &error), -1);
		assert_int_equal(error.code, MAILBOX_ERROR_BAD_NAME);
	}
	assert_int_equal(mailbox_folder_create(data_dir, "../x@example.org", "A", &error), -1);
	assert_int_equal(error.code, MAILBOX_ERROR_BAD_NAME);
	char up[400];
	snprintf(up, sizeof(up), "%s/mail/x", data_dir);
	assert_int_equal(stat(up, &st), -1);

	/* rename carries the children and an open folder along */
	struct mailbox *mb = open_ok("Work/2026");
	append_ok(mb, "w\r\n", 0);
	assert_int_equal(mailbox_folder_rename(data_dir, ADDR, "Work", "Job", &error), 0);
	assert_int_equal(mailbox_folder_list(data_dir, ADDR, &f, &n, &error), 0);
	assert_false(listed(f, n, "Work", &attrs));
	assert_true(listed(f, n, "Job", &attrs));
	assert_true(attrs & MAILBOX_FOLDER_HAS_CHILDREN);
	assert_true(listed(f, n, "Job/2026/caf\xc3\xa9", &attrs));
	mailbox_folders_free(f, n);
	append_ok(mb, "w2\r\n", 0);
	mailbox_unref(&mb);
	mb = open_ok("Job/2026");
	struct mailbox_status s;
	mailbox_status_get(mb, &s);
	assert_int_equal(s.messages, 2);
	struct mailbox_view *view;
	assert_int_equal(mailbox_view_open(mb, &view, &error), 0);

	/* delete: the open view hears of it; the children stay, the name
	 * lists as their \Noselect parent */
	assert_int_equal(mailbox_folder_delete(data_dir, ADDR, "Job/2026", &error), 0);
	struct mailbox_changes ch;
	assert_int_equal(mailbox_view_update(view, true, &ch, &error), 0);
	assert_true(ch.deleted);
	mailbox_changes_free(&ch);
	mailbox_view_free(&view);
	mailbox_unref(&mb);
	assert_int_equal(mailbox_folder_list(data_dir, ADDR, &f, &n, &error), 0);
	assert_true(listed(f, n, "Job/2026", &attrs));
	assert_true(attrs & MAILBOX_FOLDER_NOSELECT);
	assert_true(listed(f, n, "Job/2026/caf\xc3\xa9", &attrs));
	mailbox_folders_free(f, n);
	assert_int_equal(mailbox_folder_delete(data_dir, ADDR, "INBOX", &error), -1);
	assert_int_equal(error.code, MAILBOX_ERROR_CANNOT);
	assert_int_equal(mailbox_folder_delete(data_dir, ADDR, "Nope", &error), -1);
	assert_int_equal(error.code, MAILBOX_ERROR_NONEXISTENT);
	mb = NULL;
	assert_int_equal(mailbox_open(data_dir, ADDR, "Job/2026", &mb, &error), -1);
	assert_int_equal(error.code, MAILBOX_ERROR_NONEXISTENT);

	/* a folder deleted while a session holds it and made again is a new,
	 * empty folder for the next open */
	assert_int_equal(mailbox_folder_create(data_dir, ADDR, "Tmp", &error), 0);
	struct mailbox *old = open_ok("Tmp");
	append_ok(old, "t\r\n", 0);
	assert_int_equal(mailbox_view_open(old, &view, &error), 0);
	assert_int_equal(mailbox_folder_delete(data_dir, ADDR, "Tmp", &error), 0);
	assert_int_equal(mailbox_folder_create(data_dir, ADDR, "Tmp", &error), 0);
	mb = open_ok("Tmp");
	assert_ptr_not_equal(mb, old);
	mailbox_status_get(mb, &s);
	assert_int_equal(s.messages, 0);
	append_ok(mb, "t2\r\n", 0);
	mailbox_unref(&mb);
	assert_int_equal(mailbox_append(old, "x\r\n", 3, 0, 0, 0, &s.uidnext, &error), -1);
	assert_int_equal(error.code, MAILBOX_ERROR_DELETED);
	mailbox_view_free(&view);
	mailbox_unref(&old);

	/* RENAME INBOX: its messages move to a new folder, INBOX stays */
	mb = open_ok("INBOX");
	append_ok(mb, "i1\r\n", MAILBOX_FLAG_SEEN);
	append_ok(mb, "i2\r\n", 0);
	assert_int_equal(mailbox_folder_rename(data_dir, ADDR, "INBOX", "Sent", &error), -1);
	assert_int_equal(error.code, MAILBOX_ERROR_EXISTS);
	assert_int_equal(mailbox_folder_rename(data_dir, ADDR, "inbox", "Old mail", &error), 0);
	mailbox_status_get(mb, &s);
	assert_int_equal(s.messages, 0);
	mailbox_unref(&mb);
	mb = open_ok("Old mail");
	mailbox_status_get(mb, &s);
	assert_int_equal(s.messages, 2);
	assert_int_equal(s.unseen, 1);
	mailbox_unref(&mb);

	/* subscriptions */
	assert_int_equal(mailbox_folder_subscribe(data_dir, ADDR, "Later", true, &error), 0);
	assert_int_equal(mailbox_folder_subscribe(data_dir, ADDR, "Sent", false, &error), 0);
	assert_int_equal(mailbox_folder_list(data_dir, ADDR, &f, &n, &error), 0);
	assert_true(listed(f, n, "Later", &attrs));
	assert_int_equal(attrs, MAILBOX_FOLDER_SUBSCRIBED | MAILBOX_FOLDER_NONEXISTENT);
	assert_true(listed(f, n, "Sent", &attrs));
	assert_int_equal(attrs, MAILBOX_FOLDER_SENT);
	mailbox_folders_free(f, n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_uids_ascending, setup, teardown),
		cmocka_unit_test_setup_teardown(test_view_select_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_append_own_change_not_rescanned, setup, teardown),
		cmocka_unit_test_setup_teardown(test_new_adopted_without_reading_cur, setup, teardown),
		cmocka_unit_test_setup_teardown(test_adopted_after_full_read_in_step, setup, teardown),
		cmocka_unit_test_setup_teardown(test_index_deleted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_index_truncated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_index_garbage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unclean_stale_index, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cur_files_keep_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cur_files_from_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_uid_claimed_twice, setup, teardown),
		cmocka_unit_test_setup_teardown(test_first_listing_names_taken, setup, teardown),
		cmocka_unit_test_setup_teardown(test_first_listing_leaves_cur_settled, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_threads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_new_file_picked_up, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flags_back_reported, setup, teardown),
		cmocka_unit_test_setup_teardown(test_external_changes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lazy_view_told_of_changes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_and_expunge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_settled_folder, setup, teardown),
		cmocka_unit_test_setup_teardown(test_settled_folder_reopened, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_close_cycles, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_copy_move, setup, teardown),
		cmocka_unit_test_setup_teardown(test_folders, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quota, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quota_follows_changes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sandbox, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache_reopen_without_index, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache_sees_other_writers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache_budget_evicts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache_written_at_eviction, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
