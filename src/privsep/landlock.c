/* privsep/landlock - the auth process's files, by inode, not by name
 * (docs/security.md, "The auth process").
 *
 * The network process's user owns the data folder, so it can rename
 * DATA_DIR/auth away and put a folder of its own in its place at any moment.
 * privsep_dir_check makes sure the folder a helper opens at start is the
 * right one, but SQLite opens files by name, at start and later (a new
 * connection, the -wal and -shm files): a swap at the right instant would
 * have the auth process read or write the network user's files.  Landlock
 * (Linux 5.13, ABI 1) ties what the process may open to inodes: the folder it
 * checked, read and write; the system's own folders (/etc, /usr, /lib,
 * /proc, /sys, /dev), which the network user cannot change, read only;
 * nothing else.  After a swap, the name DATA_DIR/auth leads outside what
 * was allowed and every open there fails with EACCES.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "privsep/privsep.h"

/* every right of ABI 1: what the ruleset handles (denies unless allowed) */
#define CONFINE_ALL_V1 ((1ULL << 13) - 1)
#define CONFINE_READ (LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR)
#define CONFINE_WRITE (LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_REMOVE_FILE | \
		       LANDLOCK_ACCESS_FS_MAKE_REG)

/* what the system folders give: read; in sanitizer builds also running
 * llvm-symbolizer for a report */
#ifdef PETREL_SANITIZER
#define CONFINE_SYSTEM (CONFINE_READ | LANDLOCK_ACCESS_FS_EXECUTE)
#else
#define CONFINE_SYSTEM CONFINE_READ
#endif

static const char *const confine_system_dirs[] = { "/etc", "/usr", "/lib", "/lib64", "/proc",
						   "/sys" };

static int confine_add(int ruleset, int dir_fd, __u64 access)
{
	struct landlock_path_beneath_attr attr = { .allowed_access = access,
						   .parent_fd = dir_fd };
	return (int)syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &attr, 0);
}

/* confine_add_path - PATH (if it exists) with ACCESS; a missing one is skipped */
static int confine_add_path(int ruleset, const char *path, __u64 access)
{
	int fd = open(path, O_PATH | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	int rc = confine_add(ruleset, fd, access);
	int saved = errno;
	close(fd);
	errno = saved;
	return rc;
}

int privsep_confine(enum privsep_role role, int dir_fd, const char *path)
{
	const char *name = privsep_role_name(role);
	struct landlock_ruleset_attr rs = { .handled_access_fs = CONFINE_ALL_V1 };
	int ruleset = (int)syscall(SYS_landlock_create_ruleset, &rs, sizeof(rs), 0);
	if (ruleset < 0) {
		if (errno == ENOSYS || errno == EOPNOTSUPP)
			return 1;
		fprintf(stderr, "petrel: %s: landlock: %s\n", name, strerror(errno));
		return -1;
	}
	int ret = -1;
	const char *what = path;
	if (confine_add(ruleset, dir_fd, CONFINE_READ | CONFINE_WRITE) != 0)
		goto out;
	for (size_t i = 0; i < sizeof(confine_system_dirs) / sizeof(*confine_system_dirs); i++) {
		what = confine_system_dirs[i];
		if (confine_add_path(ruleset, what, CONFINE_SYSTEM) != 0)
			goto out;
	}
	/* /dev/null, /dev/urandom (SQLite's randomness) */
	what = "/dev";
	if (confine_add_path(ruleset, what, CONFINE_READ | LANDLOCK_ACCESS_FS_WRITE_FILE) != 0)
		goto out;
	/* restrict_self needs no_new_privs (or CAP_SYS_ADMIN); privsep_drop
	 * sets it anyway */
	what = "restrict";
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
	    syscall(SYS_landlock_restrict_self, ruleset, 0) != 0)
		goto out;
	ret = 0;
out:
	if (ret != 0)
		fprintf(stderr, "petrel: %s: landlock (%s): %s\n", name, what, strerror(errno));
	close(ruleset);
	return ret;
}
