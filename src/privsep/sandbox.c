/* privsep/sandbox - the seccomp filters of the helpers (privsep.h).
 *
 * Each helper, once it has opened what it needs and dropped to its user,
 * loads an allow list of system calls; any other call kills the whole
 * process (SCMP_ACT_KILL_PROCESS: SIGSYS, and the kernel's audit log names
 * the call when auditing is on: SCMP_FLTATR_CTL_LOG).  The supervisor sees
 * the death and starts a fresh helper.  The lists were taken from
 * `strace -f -c` of the helpers under real work (docs/security.md says how
 * to find a missing one), not guessed:
 *
 * - keys: a single-threaded libevent loop (epoll) answering on one socket,
 *   plus the log thread made before the filter.  No open/openat, no socket,
 *   no clone, no exec: the keys are in memory before the filter.
 * - auth: SQLite in WAL mode (it opens the -wal/-shm files and may reopen
 *   them, locks with fcntl, maps the -shm), libcrypt's yescrypt (large
 *   anonymous maps), OpenSSL (getrandom), libevent with epoll, the worker
 *   threads and the log thread.  New threads only: clone must carry
 *   CLONE_THREAD (so no fork), and clone3, whose flags seccomp cannot see,
 *   fails with ENOSYS so that glibc falls back to clone.  With its
 *   credentials in PostgreSQL ([store] credentials_url) it also makes
 *   client sockets: libpq's connections (opened again after a failure) and
 *   glibc's name lookups for the server's host.  Still no bind, listen or
 *   accept: it serves no one but its channel.
 * - network: no filter (it runs everything else: listeners, TLS, DNS,
 *   delivery, Maildir, SQLite; its list would allow nearly everything).
 *
 * The filter applies to every thread of the process (SCMP_FLTATR_CTL_TSYNC):
 * threads started before it are covered too.  PR_SET_NO_NEW_PRIVS must be
 * set already (privsep_drop does it): refused loudly otherwise, never set
 * here behind the caller's back.
 *
 * Sanitizer builds (PETREL_SANITIZER, meson sets it when b_sanitize is on)
 * allow in addition what AddressSanitizer, UndefinedBehaviorSanitizer and
 * LeakSanitizer do at run time and at exit: LeakSanitizer's exit check
 * stops the world with a tracer thread (clone without CLONE_THREAD, ptrace,
 * wait4) and reads /proc/self/maps and /proc/self/task (open, getdents64);
 * reports read /proc and may start llvm-symbolizer.  The production build
 * has none of these.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>

#include <seccomp.h>

#include "privsep/privsep.h"

/* Every helper: its event loop on the descriptors it holds (the channel,
 * libevent's signal socket pair), memory, time, signals, the log thread's
 * mutex and writes, exit.  Besides: ioctl FIONREAD only (libevent sizes its
 * reads with it) and, for keys, newfstatat with AT_EMPTY_PATH (glibc's
 * fstat), both added in privsep_sandbox. */
static const int sandbox_common[] = {
	SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(readv), SCMP_SYS(writev),
	SCMP_SYS(recvfrom), SCMP_SYS(sendto), SCMP_SYS(close), SCMP_SYS(fstat),
	SCMP_SYS(epoll_wait), SCMP_SYS(epoll_pwait), SCMP_SYS(epoll_ctl), SCMP_SYS(poll),
	SCMP_SYS(ppoll),
	SCMP_SYS(brk), SCMP_SYS(mmap), SCMP_SYS(munmap), SCMP_SYS(mremap), SCMP_SYS(madvise),
	SCMP_SYS(mprotect),
	SCMP_SYS(futex), SCMP_SYS(clock_gettime), SCMP_SYS(gettimeofday),
	SCMP_SYS(rt_sigreturn), SCMP_SYS(rt_sigprocmask), SCMP_SYS(rt_sigaction),
	SCMP_SYS(getpid), SCMP_SYS(gettid), SCMP_SYS(getrandom),
	/* a thread made just before the filter may run its start-up after it */
	SCMP_SYS(set_robust_list), SCMP_SYS(rseq),
	SCMP_SYS(exit), SCMP_SYS(exit_group),
};

/* auth: SQLite (WAL) on its files, the worker pool, niced hash workers */
static const int sandbox_auth[] = {
	SCMP_SYS(openat), SCMP_SYS(newfstatat), SCMP_SYS(lseek), SCMP_SYS(pread64),
	SCMP_SYS(pwrite64), SCMP_SYS(fsync), SCMP_SYS(fdatasync), SCMP_SYS(fcntl),
	SCMP_SYS(ftruncate), SCMP_SYS(unlink), SCMP_SYS(access), SCMP_SYS(getuid),
	SCMP_SYS(geteuid), SCMP_SYS(fchown), SCMP_SYS(sched_yield), SCMP_SYS(getpriority),
	SCMP_SYS(setpriority), SCMP_SYS(clock_nanosleep), SCMP_SYS(nanosleep),
};

/* auth with PostgreSQL credentials: libpq's client socket (TCP or unix;
 * options, its own address for the error text) and glibc's resolver
 * (a UDP socket, sendmmsg, the nscd socket it tries first) */
static const int sandbox_database[] = {
	SCMP_SYS(socket), SCMP_SYS(connect), SCMP_SYS(getsockopt), SCMP_SYS(setsockopt),
	SCMP_SYS(getsockname), SCMP_SYS(getpeername), SCMP_SYS(sendmsg), SCMP_SYS(recvmsg),
	SCMP_SYS(sendmmsg), SCMP_SYS(shutdown), SCMP_SYS(uname),
};

#ifdef PETREL_SANITIZER
static const int sandbox_sanitizer[] = {
	SCMP_SYS(open), SCMP_SYS(openat), SCMP_SYS(getdents64), SCMP_SYS(readlink), SCMP_SYS(clone),
	SCMP_SYS(ptrace), SCMP_SYS(wait4), SCMP_SYS(prctl), SCMP_SYS(sched_yield),
	SCMP_SYS(sigaltstack), SCMP_SYS(getrlimit), SCMP_SYS(prlimit64), SCMP_SYS(gettid),
	SCMP_SYS(tgkill), SCMP_SYS(kill), SCMP_SYS(set_robust_list), SCMP_SYS(rseq),
	SCMP_SYS(getppid), SCMP_SYS(lseek), SCMP_SYS(pipe2), SCMP_SYS(execve),
	SCMP_SYS(dup2), SCMP_SYS(dup3), SCMP_SYS(uname), SCMP_SYS(getdents),
	SCMP_SYS(sched_getaffinity),
};
#endif

static int sandbox_allow(scmp_filter_ctx ctx, const int *calls, size_t n, const char **what_r);
static const char *sandbox_role_name(enum privsep_role role);

static const char *sandbox_role_name(enum privsep_role role)
{
	switch (role) {
	case PRIVSEP_AUTH:
		return "auth";
	case PRIVSEP_KEYS:
		return "keys";
	case PRIVSEP_NETWORK:
		return "network";
	case PRIVSEP_SUPERVISOR:
		return "supervisor";
	}
	return "?";
}

/* sandbox_allow - add an allow rule for each of CALLS[0..N) */
static int sandbox_allow(scmp_filter_ctx ctx, const int *calls, size_t n, const char **what_r)
{
	for (size_t i = 0; i < n; i++) {
		if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, calls[i], 0) != 0) {
			*what_r = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, calls[i]);
			return -1;
		}
	}
	return 0;
}

int privsep_sandbox(enum privsep_role role, unsigned flags)
{
	const char *name = sandbox_role_name(role);
	const char *what = NULL;
	int ret = -1;
	if (role != PRIVSEP_AUTH && role != PRIVSEP_KEYS) {
		fprintf(stderr, "petrel: %s: no seccomp filter for this process\n", name);
		return -1;
	}
	/* glibc reads the time zone (/etc/localtime) at the first gmtime_r of
	 * the process, which is the first log line: load it now, while files
	 * may still be opened (the keys filter allows no open) */
	tzset();
	/* privsep_drop sets it; a filter without it could be shed by exec'ing
	 * a set-uid program, and a missing drop is a bug to see */
	if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1) {
		fprintf(stderr, "petrel: %s: no_new_privs is not set: refusing to run without "
			"its seccomp filter\n", name);
		return -1;
	}
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	if (!ctx) {
		fprintf(stderr, "petrel: %s: seccomp_init failed\n", name);
		return -1;
	}
	if (seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0) != 0 ||
	    seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1) != 0 ||
	    seccomp_attr_set(ctx, SCMP_FLTATR_CTL_LOG, 1) != 0) {
		what = "filter attributes";
		goto out;
	}
	if (sandbox_allow(ctx, sandbox_common, sizeof(sandbox_common) / sizeof(int), &what) != 0)
		goto out;
	/* libevent sizes its reads with FIONREAD; no other ioctl */
	if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
			     SCMP_A1(SCMP_CMP_EQ, FIONREAD, 0)) != 0) {
		what = "ioctl";
		goto out;
	}
	/* keys: glibc's fstat is newfstatat(fd, "", AT_EMPTY_PATH), and only
	 * calls with that flag pass.  The filter cannot see the path (it is in
	 * memory): the flag acts only on an empty one, so a call with the flag
	 * and a path still stats that path (keys_user's view of the file
	 * system: whether a file exists, its owner, size and times). */
	if (role == PRIVSEP_KEYS &&
	    seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(newfstatat), 1,
			     SCMP_A3(SCMP_CMP_MASKED_EQ, AT_EMPTY_PATH, AT_EMPTY_PATH)) != 0) {
		what = "newfstatat";
		goto out;
	}
	if (role == PRIVSEP_AUTH) {
		if (sandbox_allow(ctx, sandbox_auth, sizeof(sandbox_auth) / sizeof(int), &what) != 0)
			goto out;
#ifndef PETREL_SANITIZER
		/* threads yes, processes no: every flag of a pthread_create */
		const scmp_datum_t thread = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND |
			CLONE_THREAD | CLONE_SYSVSEM;
		if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
				     SCMP_A0(SCMP_CMP_MASKED_EQ, thread, thread)) != 0) {
			what = "clone";
			goto out;
		}
#endif
		if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0) != 0) {
			what = "clone3";
			goto out;
		}
		if ((flags & PRIVSEP_SANDBOX_DATABASE) &&
		    sandbox_allow(ctx, sandbox_database, sizeof(sandbox_database) / sizeof(int),
				  &what) != 0)
			goto out;
	}
#ifdef PETREL_SANITIZER
	if (sandbox_allow(ctx, sandbox_sanitizer, sizeof(sandbox_sanitizer) / sizeof(int),
			  &what) != 0)
		goto out;
#endif
	int rc = seccomp_load(ctx);
	if (rc != 0) {
		what = strerror(-rc);
		goto out;
	}
	ret = 0;
out:
	if (ret != 0)
		fprintf(stderr, "petrel: %s: cannot build or load the seccomp filter (%s)\n",
			name, what ? what : "?");
	seccomp_release(ctx);
	return ret;
}
