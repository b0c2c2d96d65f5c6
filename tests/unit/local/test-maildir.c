/* test-maildir - local delivery into real Maildirs in a temporary folder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "local/local.h"
#include "util/syncer.h"

static char data_dir[256];

static int setup(void **state)
{
	(void)state;
	strcpy(data_dir, "/tmp/petrel-test-maildir-XXXXXX");
	return mkdtemp(data_dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", data_dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* count_files - entries in PATH other than . and ..; -1 if it cannot be read */
static int count_files(const char *path, char *first_r, size_t size)
{
	DIR *dir = opendir(path);
	struct dirent *de;
	int n = 0;
	if (!dir)
		return -1;
	while ((de = readdir(dir)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (n++ == 0 && first_r)
			snprintf(first_r, size, "%s", de->d_name);
	}
	closedir(dir);
	return n;
}

static char *read_all(const char *path, size_t *len_r)
{
	FILE *fp = fopen(path, "rb");
	assert_non_null(fp);
	char *data = malloc(65536);
	*len_r = fread(data, 1, 65535, fp);
	data[*len_r] = '\0';
	fclose(fp);
	return data;
}

static void test_mailbox_path(void **state)
{
	(void)state;
	char *p = local_mailbox_path("/d", "Bob+Tag@Example.ORG");
	assert_string_equal(p, "/d/mail/example.org/bob");
	free(p);
	p = local_mailbox_path("/d", "j\xc3\xb6rg@ex-ample.org");
	assert_string_equal(p, "/d/mail/ex-ample.org/j\xc3\xb6rg");
	free(p);
	p = local_mailbox_path("/d", "a.b@x.example");
	assert_string_equal(p, "/d/mail/x.example/a.b");
	free(p);

	static const char *const bad[] = {
		"", "bob", "@example.org", "bob@", "..@example.org", ".@example.org",
		".hidden@example.org", "../x@example.org", "a/b@example.org", "a/../../b@example.org",
		"+tag@example.org", "bob@..", "bob@.", "bob@../etc", "bob@exa/mple.org",
		"bob@.example.org", "bob@example..org", "bob@example.org.", "bob@-example.org",
		"bob@[127.0.0.1]", "bo b@example.org", "bob\r\n@example.org", "bob@exam ple.org",
		"bob@example.org\n", "a\\b@example.org", "bob@EXAMPLE_ORG",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		p = local_mailbox_path("/d", bad[i]);
		if (p)
			fail_msg("accepted \"%s\" as %s", bad[i], p);
	}
}

static void test_deliver(void **state)
{
	(void)state;
	const char msg[] = "Subject: hello\r\n\r\nbody\r\n";
	char *file = NULL;
	bool temporary = true;
	const char *error = NULL;

	int r = local_deliver_blocking(NULL, 0, data_dir, "mx/a:b", "alice@example.net",
				       "Bob+lists@Example.ORG", NULL, msg, sizeof(msg) - 1,
				       &file, &temporary, &error);
	assert_int_equal(r, 0);
	assert_non_null(file);

	char path[512], name[256];
	snprintf(path, sizeof(path), "%s/mail/example.org/bob/new", data_dir);
	assert_int_equal(count_files(path, name, sizeof(name)), 1);
	assert_non_null(strstr(file, "/mail/example.org/bob/new/"));
	assert_string_equal(strrchr(file, '/') + 1, name);
	/* <sec>.M<usec>P<pid>Q<n>.<host>, '/' and ':' escaped */
	assert_non_null(strstr(name, ".M"));
	assert_non_null(strstr(name, "mx\\057a\\072b"));
	assert_null(strchr(name, ':'));

	size_t len;
	char *content = read_all(file, &len);
	const char expect[] = "Return-Path: <alice@example.net>\r\n"
		"Delivered-To: Bob+lists@Example.ORG\r\nSubject: hello\r\n\r\nbody\r\n";
	assert_int_equal(len, sizeof(expect) - 1);
	assert_memory_equal(content, expect, len);
	free(content);
	free(file);

	snprintf(path, sizeof(path), "%s/mail/example.org/bob/tmp", data_dir);
	assert_int_equal(count_files(path, NULL, 0), 0);
	snprintf(path, sizeof(path), "%s/mail/example.org/bob/cur", data_dir);
	assert_int_equal(count_files(path, NULL, 0), 0);
	struct stat st;
	snprintf(path, sizeof(path), "%s/mail/example.org/bob", data_dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);

	/* a second delivery (null sender, other tag) lands beside it, made
	 * durable by the group commit this time */
	int err = 0;
	struct syncer *syncer = syncer_open(data_dir, &err);
	assert_non_null(syncer);
	r = local_deliver_blocking(syncer, 10, data_dir, "mx", "", "bob+other@example.org", NULL, msg,
				   sizeof(msg) - 1, &file, &temporary, &error);
	assert_int_equal(r, 0);
	struct syncer_stats sst;
	syncer_stats(syncer, &sst);
	assert_int_equal(sst.syncs, 2);  /* the file, then its entry in new/ */
	syncer_close(&syncer);
	content = read_all(file, &len);
	assert_memory_equal(content, "Return-Path: <>\r\n", 17);
	free(content);
	free(file);
	snprintf(path, sizeof(path), "%s/mail/example.org/bob/new", data_dir);
	assert_int_equal(count_files(path, NULL, 0), 2);
}

/* test_deliver_junk - a Maildir++ folder (the Junk folder of DMARC's
 * quarantine): made with its mailbox, marked with maildirfolder, the
 * message in its new/ and none in the inbox */
static void test_deliver_junk(void **state)
{
	(void)state;
	char *file = NULL;
	bool temporary = true;
	const char *error = NULL;
	int r = local_deliver_blocking(NULL, 0, data_dir, "mx", "a@b", "carol@example.org",
				       LOCAL_JUNK_FOLDER, "x\r\n", 3, &file, &temporary, &error);
	assert_int_equal(r, 0);
	assert_non_null(strstr(file, "/mail/example.org/carol/.Junk/new/"));
	free(file);
	char path[512];
	struct stat st;
	snprintf(path, sizeof(path), "%s/mail/example.org/carol/.Junk/maildirfolder", data_dir);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode) && st.st_size == 0);
	snprintf(path, sizeof(path), "%s/mail/example.org/carol/.Junk", data_dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	snprintf(path, sizeof(path), "%s/mail/example.org/carol/.Junk/new", data_dir);
	assert_int_equal(count_files(path, NULL, 0), 1);
	snprintf(path, sizeof(path), "%s/mail/example.org/carol/.Junk/tmp", data_dir);
	assert_int_equal(count_files(path, NULL, 0), 0);
	snprintf(path, sizeof(path), "%s/mail/example.org/carol/new", data_dir);
	assert_int_equal(count_files(path, NULL, 0), 0);
	/* a second one into the existing folder */
	r = local_deliver_blocking(NULL, 0, data_dir, "mx", "a@b", "carol@example.org",
				   LOCAL_JUNK_FOLDER, "y\r\n", 3, &file, &temporary, &error);
	assert_int_equal(r, 0);
	free(file);
	snprintf(path, sizeof(path), "%s/mail/example.org/carol/.Junk/new", data_dir);
	assert_int_equal(count_files(path, NULL, 0), 2);
}

static void test_bad_names_permanent(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"../evil@example.org", "a/b@example.org", ".hidden@example.org",
		"bob@../../etc", "..@example.org",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *file = NULL;
		bool temporary = true;
		const char *error = NULL;
		int r = local_deliver_blocking(NULL, 0, data_dir, "mx", "a@b", bad[i], NULL, "x\r\n", 3,
					       &file, &temporary, &error);
		assert_int_equal(r, -1);
		assert_false(temporary);
		assert_non_null(error);
		assert_null(file);
	}
	char path[512];
	snprintf(path, sizeof(path), "%s/mail", data_dir);
	assert_true(count_files(path, NULL, 0) <= 0);  /* nothing was created */
}

static void test_disk_error_temporary(void **state)
{
	(void)state;
	char path[512];
	snprintf(path, sizeof(path), "%s/mail", data_dir);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/mail/example.com", data_dir);
	FILE *fp = fopen(path, "w");  /* a file where the domain folder should be */
	assert_non_null(fp);
	fclose(fp);
	char *file = NULL;
	bool temporary = false;
	const char *error = NULL;
	int r = local_deliver_blocking(NULL, 0, data_dir, "mx", "a@b", "bob@example.com", NULL,
				       "x\r\n", 3, &file, &temporary, &error);
	assert_int_equal(r, -1);
	assert_true(temporary);
	assert_non_null(error);
	assert_null(file);
}

/* the steps: nothing is in new/ before local_delivery_link, and a failed
 * sync between them takes the file back out of tmp/ (after step 1) or of
 * new/ (after step 2), with a temporary error */
static void test_steps_and_failed_syncs(void **state)
{
	(void)state;
	const char msg[] = "Subject: steps\r\n\r\nbody\r\n";
	char tmp[512], new_dir[512];
	snprintf(tmp, sizeof(tmp), "%s/mail/example.org/dora/tmp", data_dir);
	snprintf(new_dir, sizeof(new_dir), "%s/mail/example.org/dora/new", data_dir);
	bool temporary = false;
	const char *error = NULL;
	char *file = NULL;

	struct local_delivery *d = local_delivery_write(NULL, data_dir, "mx", "a@b",
							"dora@example.org", NULL, msg,
							sizeof(msg) - 1, &temporary, &error);
	assert_non_null(d);
	assert_int_equal(count_files(tmp, NULL, 0), 1);
	assert_int_equal(count_files(new_dir, NULL, 0), 0);
	assert_int_equal(local_delivery_link(&d, NULL, 5 /* EIO */, &temporary, &error), -1);
	assert_null(d);
	assert_true(temporary);
	assert_int_equal(count_files(tmp, NULL, 0), 0);
	assert_int_equal(count_files(new_dir, NULL, 0), 0);

	d = local_delivery_write(NULL, data_dir, "mx", "a@b", "dora@example.org", NULL, msg,
				 sizeof(msg) - 1, &temporary, &error);
	assert_non_null(d);
	assert_int_equal(local_delivery_link(&d, NULL, 0, &temporary, &error), 0);
	assert_int_equal(count_files(tmp, NULL, 0), 0);
	assert_int_equal(count_files(new_dir, NULL, 0), 1);
	temporary = false;
	assert_int_equal(local_delivery_finish(&d, 5, &file, &temporary, &error), -1);
	assert_null(d);
	assert_null(file);
	assert_true(temporary);
	assert_int_equal(count_files(new_dir, NULL, 0), 0);

	d = local_delivery_write(NULL, data_dir, "mx", "a@b", "dora@example.org", NULL, msg,
				 sizeof(msg) - 1, &temporary, &error);
	assert_non_null(d);
	assert_int_equal(local_delivery_link(&d, NULL, 0, &temporary, &error), 0);
	assert_int_equal(local_delivery_finish(&d, 0, &file, &temporary, &error), 0);
	assert_null(d);
	assert_non_null(file);
	size_t len = 0;
	char *data = read_all(file, &len);
	assert_non_null(strstr(data, "Delivered-To: dora@example.org\r\nSubject: steps"));
	free(data);
	free(file);
	assert_int_equal(count_files(new_dir, NULL, 0), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mailbox_path),
		cmocka_unit_test_setup_teardown(test_deliver, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deliver_junk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_names_permanent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_disk_error_temporary, setup, teardown),
		cmocka_unit_test_setup_teardown(test_steps_and_failed_syncs, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
