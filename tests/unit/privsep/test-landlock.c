/* tests/unit/privsep/test-landlock - privsep_confine for real, in forked
 * children (a Landlock domain cannot be left): the confined folder is
 * readable and writable, a folder next to it is not, and once the folder is
 * renamed away and another put in its place, the name leads nowhere the
 * child may open while the renamed folder stays reachable: what is allowed
 * follows the inode, not the name (the network process's user owns the data
 * folder and could swap DATA_DIR/auth at any moment). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "privsep/privsep.h"
#include "util/xalloc.h"

/* child exit codes: which check failed */
enum {
	CONFINE_OK = 0,
	CONFINE_UNAVAILABLE = 10,
	CONFINE_FAILED,
	CONFINE_OWN_READ,
	CONFINE_OWN_CREATE,
	CONFINE_OTHER_OPENED,
	CONFINE_SYNC,
	CONFINE_SWAPPED_OPENED,
	CONFINE_RENAMED_LOST,
	CONFINE_SYSTEM_READ,
};

static char *root;

static int setup(void **state)
{
	(void)state;
	char tmpl[] = "/tmp/petrel-landlock-XXXXXX";
	assert_non_null(mkdtemp(tmpl));
	root = xstrdup(tmpl);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char *cmd = xasprintf("rm -rf '%s'", root);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	free(root);
	return 0;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
}

/* can_open - PATH opens for reading */
static int can_open(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	close(fd);
	return 1;
}

static void test_confined_to_the_folder_by_inode(void **state)
{
	(void)state;
	char *auth = xasprintf("%s/auth", root);
	char *other = xasprintf("%s/other", root);
	char *renamed = xasprintf("%s/auth.moved", root);
	char *secret = xasprintf("%s/auth/secret", root);
	char *created = xasprintf("%s/auth/new", root);
	char *other_file = xasprintf("%s/other/file", root);
	char *moved_secret = xasprintf("%s/auth.moved/secret", root);
	assert_int_equal(mkdir(auth, 0700), 0);
	assert_int_equal(mkdir(other, 0700), 0);
	write_file(secret, "real\n");
	write_file(other_file, "other\n");
	int go[2], ready[2];
	assert_int_equal(pipe(go), 0);
	assert_int_equal(pipe(ready), 0);

	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char c = 0;
		int dfd = open(auth, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		int rc = dfd < 0 ? -1 : privsep_confine(PRIVSEP_AUTH, dfd, auth);
		if (rc > 0)
			_exit(CONFINE_UNAVAILABLE);
		if (rc < 0)
			_exit(CONFINE_FAILED);
		close(dfd);
		if (!can_open(secret))
			_exit(CONFINE_OWN_READ);
		int fd = open(created, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0)
			_exit(CONFINE_OWN_CREATE);
		close(fd);
		if (can_open(other_file) || errno != EACCES)
			_exit(CONFINE_OTHER_OPENED);
		if (!can_open("/etc/passwd"))
			_exit(CONFINE_SYSTEM_READ);
		/* the parent swaps the folder now */
		if (write(ready[1], "r", 1) != 1 || read(go[0], &c, 1) != 1)
			_exit(CONFINE_SYNC);
		if (can_open(secret) || errno != EACCES)
			_exit(CONFINE_SWAPPED_OPENED);
		if (!can_open(moved_secret))
			_exit(CONFINE_RENAMED_LOST);
		_exit(CONFINE_OK);
	}
	/* only the child's ends stay open: a child that ends early is EOF here */
	close(ready[1]);
	close(go[0]);
	char c = 0;
	if (read(ready[0], &c, 1) == 1) {
		assert_int_equal(rename(auth, renamed), 0);
		assert_int_equal(mkdir(auth, 0700), 0);
		write_file(secret, "planted\n");
		assert_int_equal(write(go[1], "g", 1), 1);
	}
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == CONFINE_UNAVAILABLE) {
		print_message("# SKIP reason: the kernel has no Landlock\n");
		skip();
	}
	assert_int_equal(WEXITSTATUS(status), CONFINE_OK);
	close(go[1]);
	close(ready[0]);
	free(auth);
	free(other);
	free(renamed);
	free(secret);
	free(created);
	free(other_file);
	free(moved_secret);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_confined_to_the_folder_by_inode, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
