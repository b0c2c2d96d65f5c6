/* tests/fault/fault-inject - an LD_PRELOAD shim for integration tests: makes
 * fsync, fdatasync, write or file creation fail on chosen paths, to reach
 * the error paths a real disk reaches only when it breaks (EIO, ENOSPC).
 * Built by the test build only; never linked into petrel.
 *
 * PETREL_FAULT_RULES names a file the test writes and rewrites while the
 * server runs; it is read again at every intercepted call, so a test turns
 * faults on and off without a restart.  One rule per line:
 *
 *   OP ERRNO PATTERN
 *
 * OP is fsync (fsync, fdatasync, and syncfs of a descriptor on PATTERN's
 * folder: util/syncer syncs through the queue's or the mail folder's), write, or create (open/openat with
 * O_CREAT); ERRNO is EIO, ENOSPC, EDQUOT or EROFS; PATTERN is an fnmatch(3)
 * pattern for the absolute path (of the descriptor's file, from
 * /proc/self/fd, or of the file being created).  A missing or empty file
 * means no faults.  Each fault injected is noted on stderr.
 *
 * One more rule makes a disk slow instead of broken:
 *
 *   slow MS PATTERN
 *
 * a sync (as OP fsync) of PATTERN succeeds, then returns MS milliseconds
 * (1..10000) later, as if the flush had taken that long: what the disk did
 * not cover stays uncovered, so a caller that counts on a flush which began
 * before its write shows (tests/integration/test_durability_order.py).
 * Not noted on stderr.
 *
 * And one makes time pass faster than it does, for timers too long to wait:
 *
 *   clock SECONDS ROLE
 *
 * adds SECONDS (0..31536000) to what the monotonic clocks tell the process
 * of ROLE ("--process ROLE" in its arguments, else "supervisor"), and while
 * such a rule is there (even "clock 0") every epoll_wait of it waits 100 ms
 * at most, so that its event loop sees the jump and runs the timers it made
 * due (libevent's clock is CLOCK_MONOTONIC).  Only forward: a rule that
 * lowers SECONDS is ignored.  The rules file is read (at each epoll_wait)
 * only in the process whose role the environment's PETREL_FAULT_CLOCK names:
 * the sandboxed helpers may not open files.  Not noted on stderr.
 */
/* the build asks for 64-bit file offsets, which renames open() to open64():
 * this file defines both names itself */
#undef _FILE_OFFSET_BITS
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int fsync(int fd);
int fdatasync(int fd);
int syncfs(int fd);
ssize_t write(int fd, const void *buf, size_t count);
int open(const char *path, int flags, ...);
int open64(const char *path, int flags, ...);
int openat(int dir_fd, const char *path, int flags, ...);
int openat64(int dir_fd, const char *path, int flags, ...);
int clock_gettime(clockid_t id, struct timespec *ts);
int epoll_wait(int epfd, struct epoll_event *events, int max, int timeout);

static int fault_errno(const char *name)
{
	static const struct {
		const char *name;
		int value;
	} names[] = { { "EIO", EIO }, { "ENOSPC", ENOSPC }, { "EDQUOT", EDQUOT },
		      { "EROFS", EROFS } };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(names[i].name, name) == 0)
			return names[i].value;
	return EIO;
}

/* fault_rule - whether a rule for OP matches PATH; its second field into
 * ARG (ARG_SIZE >= 32).  Raw syscalls only: this runs inside write() and
 * open(). */
static bool fault_rule(const char *op, const char *path, char *arg, size_t arg_size)
{
	const char *rules = getenv("PETREL_FAULT_RULES");
	char text[4096];
	if (!rules || !path)
		return false;
	int fd = (int)syscall(SYS_openat, AT_FDCWD, rules, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = syscall(SYS_read, fd, text, sizeof(text) - 1);
	syscall(SYS_close, fd);
	if (n <= 0)
		return false;
	text[n] = '\0';
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char rop[32], rarg[32], pattern[1024];
		if (sscanf(line, "%31s %31s %1023s", rop, rarg, pattern) != 3)
			continue;
		if (strcmp(rop, op) == 0 && fnmatch(pattern, path, 0) == 0) {
			snprintf(arg, arg_size, "%s", rarg);
			return true;
		}
	}
	return false;
}

/* fault_match - the errno to fail OP on PATH with, or 0 */
static int fault_match(const char *op, const char *path)
{
	char rerr[32];
	if (!fault_rule(op, path, rerr, sizeof(rerr)))
		return 0;
	char note[1300];
	int len = snprintf(note, sizeof(note), "fault-inject: %s %s %s\n", op, rerr, path);
	if (len > 0)
		syscall(SYS_write, 2, note, (size_t)len < sizeof(note) ? (size_t)len : sizeof(note) - 1);
	return fault_errno(rerr);
}

/* fd_path - the path of FD into OUT; false if unknown */
static bool fd_path(int fd, char *out, size_t size)
{
	char link[64];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	/* readlink, not readlinkat: the helpers' seccomp filters of a sanitizer
	 * build allow that one (privsep/sandbox.c), and they write their log */
	ssize_t n = syscall(SYS_readlink, link, out, size - 1);
	if (n <= 0)
		return false;
	out[n] = '\0';
	return true;
}

static int fault_fd(const char *op, int fd)
{
	char path[4096];
	if (!getenv("PETREL_FAULT_RULES") || !fd_path(fd, path, sizeof(path)))
		return 0;
	return fault_match(op, path);
}

/* fault_create - the errno to fail creating PATH (relative to DIR_FD) with */
static int fault_create(int dir_fd, const char *path, int flags)
{
	char full[8192];
	if (!(flags & O_CREAT) || !getenv("PETREL_FAULT_RULES"))
		return 0;
	if (path[0] == '/') {
		snprintf(full, sizeof(full), "%s", path);
	} else {
		char dir[4096];
		if (dir_fd == AT_FDCWD) {
			if (!getcwd(dir, sizeof(dir)))
				return 0;
		} else if (!fd_path(dir_fd, dir, sizeof(dir))) {
			return 0;
		}
		snprintf(full, sizeof(full), "%s/%s", dir, path);
	}
	return fault_match("create", full);
}

/* fault_sync - fsync or fdatasync (NAME) of FD, or the fault a rule asks
 * for; *REAL caches the next definition of NAME */
static int fault_sync(const char *name, int (**real)(int), int fd)
{
	int err = fault_fd("fsync", fd);
	if (err) {
		errno = err;
		return -1;
	}
	if (!*real)
		*real = (int (*)(int))dlsym(RTLD_NEXT, name);
	int rc = (*real)(fd);
	int saved = errno;
	char path[4096], arg[32];
	if (getenv("PETREL_FAULT_RULES") && fd_path(fd, path, sizeof(path)) &&
	    fault_rule("slow", path, arg, sizeof(arg))) {
		long ms = strtol(arg, NULL, 10);
		if (ms >= 1 && ms <= 10000) {
			struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
			while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
				;
		}
	}
	errno = saved;
	return rc;
}

int fsync(int fd)
{
	static int (*real)(int);
	return fault_sync("fsync", &real, fd);
}

int fdatasync(int fd)
{
	static int (*real)(int);
	return fault_sync("fdatasync", &real, fd);
}

int syncfs(int fd)
{
	static int (*real)(int);
	return fault_sync("syncfs", &real, fd);
}

ssize_t write(int fd, const void *buf, size_t count)
{
	static ssize_t (*real)(int, const void *, size_t);
	struct stat st;
	/* regular files only: sockets and pipes (the log) are never failed */
	if (getenv("PETREL_FAULT_RULES") && fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
		int err = fault_fd("write", fd);
		if (err) {
			errno = err;
			return -1;
		}
	}
	if (!real)
		real = (ssize_t (*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
	return real(fd, buf, count);
}

/* open_real - the next definition of NAME, called with MODE when it matters */
static int open_real(const char *name, int dir_fd, const char *path, int flags, mode_t mode)
{
	int err = fault_create(dir_fd, path, flags);
	if (err) {
		errno = err;
		return -1;
	}
	if (strncmp(name, "openat", 6) == 0) {
		int (*real)(int, const char *, int, ...) =
			(int (*)(int, const char *, int, ...))dlsym(RTLD_NEXT, name);
		return real(dir_fd, path, flags, mode);
	}
	int (*real)(const char *, int, ...) = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT,
										     name);
	return real(path, flags, mode);
}

#define OPEN_MODE(flags, mode)                                   \
	do {                                                      \
		if ((flags) & (O_CREAT | O_TMPFILE)) {            \
			va_list ap;                               \
			va_start(ap, flags);                      \
			mode = (mode_t)va_arg(ap, int);           \
			va_end(ap);                               \
		}                                                 \
	} while (0)

int open(const char *path, int flags, ...)
{
	mode_t mode = 0;
	OPEN_MODE(flags, mode);
	return open_real("open", AT_FDCWD, path, flags, mode);
}

int open64(const char *path, int flags, ...)
{
	mode_t mode = 0;
	OPEN_MODE(flags, mode);
	return open_real("open64", AT_FDCWD, path, flags, mode);
}

int openat(int dir_fd, const char *path, int flags, ...)
{
	mode_t mode = 0;
	OPEN_MODE(flags, mode);
	return open_real("openat", dir_fd, path, flags, mode);
}

int openat64(int dir_fd, const char *path, int flags, ...)
{
	mode_t mode = 0;
	OPEN_MODE(flags, mode);
	return open_real("openat64", dir_fd, path, flags, mode);
}

/* the next clock_gettime and epoll_wait, looked up at load: dlsym() later
 * would make system calls a sandboxed helper may not */
static int (*real_clock_gettime)(clockid_t, struct timespec *);
static int (*real_epoll_wait)(int, struct epoll_event *, int, int);
/* the seconds a clock rule adds, and whether one was read */
static volatile long clock_skew;
static volatile int clock_ruled;
static char clock_role[64];    /* this process's role if PETREL_FAULT_CLOCK names it */

/* clock_role_load - at load, before a sandbox forbids reading
 * /proc/self/cmdline: this process's role into clock_role, if it is the one
 * PETREL_FAULT_CLOCK names */
__attribute__((constructor)) static void clock_role_load(void)
{
	real_clock_gettime = (int (*)(clockid_t, struct timespec *))dlsym(RTLD_NEXT,
									    "clock_gettime");
	real_epoll_wait = (int (*)(int, struct epoll_event *, int, int))dlsym(RTLD_NEXT,
									      "epoll_wait");
	const char *want = getenv("PETREL_FAULT_CLOCK");
	char argv[4096], role[64] = "supervisor";
	if (!want || !getenv("PETREL_FAULT_RULES"))
		return;
	int fd = (int)syscall(SYS_openat, AT_FDCWD, "/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	ssize_t n = syscall(SYS_read, fd, argv, sizeof(argv) - 1);
	syscall(SYS_close, fd);
	if (n <= 0)
		return;
	argv[n] = '\0';
	for (ssize_t i = 0; i < n; i += (ssize_t)strlen(argv + i) + 1) {
		if (strcmp(argv + i, "--process") == 0 && i + 10 < n) {
			snprintf(role, sizeof(role), "%s", argv + i + 10);
			break;
		}
	}
	if (strcmp(role, want) == 0)
		snprintf(clock_role, sizeof(clock_role), "%s", role);
}

int clock_gettime(clockid_t id, struct timespec *ts)
{
	int rc = real_clock_gettime(id, ts);
	if (rc == 0 && (id == CLOCK_MONOTONIC || id == CLOCK_MONOTONIC_COARSE ||
			id == CLOCK_MONOTONIC_RAW || id == CLOCK_BOOTTIME))
		ts->tv_sec += clock_skew;
	return rc;
}

int epoll_wait(int epfd, struct epoll_event *events, int max, int timeout)
{
	char arg[32];
	if (clock_role[0] && fault_rule("clock", clock_role, arg, sizeof(arg))) {
		long seconds = strtol(arg, NULL, 10);
		if (seconds >= 0 && seconds <= 31536000 && seconds >= clock_skew)
			clock_skew = seconds;
		clock_ruled = 1;
	}
	if (clock_ruled && (timeout < 0 || timeout > 100))
		timeout = 100;
	return real_epoll_wait(epfd, events, max, timeout);
}
