/* tests/unit/privsep/test-sandbox - the helpers' seccomp filters, for real:
 * each case forks a child that sets no_new_privs (as privsep_drop does),
 * loads a role's filter with privsep_sandbox and then makes a call; a
 * forbidden call must kill the child with SIGSYS, an allowed one must let it
 * finish and exit 0 (in the sanitizer build: through LeakSanitizer's exit
 * check, which the filter must let run). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "privsep/privsep.h"

enum sandbox_try {
	TRY_NOTHING,        /* memory, a pipe, exit */
	TRY_OPEN,
	TRY_SOCKET,
	TRY_FORK,
	TRY_EXEC,
	TRY_THREAD,
	TRY_PTRACE_LIKE,    /* setuid: never in any list */
};

static void *sandbox_thread(void *arg)
{
	return arg;
}

/* sandbox_child - in the child: the filter of ROLE, then TRY; the exit
 * status says what happened when the call was not fatal */
static void sandbox_child(enum privsep_role role, unsigned flags, bool nnp,
			  enum sandbox_try try)
{
	if (nnp && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		_exit(10);
	if (privsep_sandbox(role, flags) != 0)
		exit(11);
	/* allowed in every helper: memory and I/O on descriptors it holds */
	char *p = malloc(100000);
	if (!p)
		_exit(12);
	memset(p, 'x', 100000);
	free(p);
	switch (try) {
	case TRY_NOTHING: {
		/* what a log line does: the first gmtime_r of a process makes
		 * glibc read /etc/localtime, which the filter must not have to
		 * allow (privsep_sandbox loads the zone before) */
		time_t now = time(NULL);
		struct tm tm;
		exit(gmtime_r(&now, &tm) != NULL ? 0 : 21);
	}
	case TRY_OPEN: {
		int fd = open("/etc/hostname", O_RDONLY | O_CLOEXEC);
		exit(fd >= 0 ? 0 : 20);
	}
	case TRY_SOCKET: {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		exit(fd >= 0 ? 0 : 22);
	}
	case TRY_FORK: {
		pid_t pid = fork();
		if (pid == 0)
			_exit(0);
		exit(23);
	}
	case TRY_EXEC: {
		char *argv[] = { "/bin/true", NULL };
		execv("/bin/true", argv);
		exit(24);
	}
	case TRY_THREAD: {
		pthread_t t;
		if (pthread_create(&t, NULL, sandbox_thread, NULL) != 0 ||
		    pthread_join(t, NULL) != 0)
			exit(25);
		exit(0);
	}
	case TRY_PTRACE_LIKE:
		(void)setuid(0);
		exit(26);
	}
	exit(30);
}

/* sandbox_run_flags - fork, run the case under ROLE's filter with FLAGS,
 * return the child's wait status */
static int sandbox_run_flags(enum privsep_role role, unsigned flags, bool nnp,
			     enum sandbox_try try)
{
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		sandbox_child(role, flags, nnp, try);
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

/* sandbox_run - as sandbox_run_flags without flags */
static int sandbox_run(enum privsep_role role, bool nnp, enum sandbox_try try)
{
	return sandbox_run_flags(role, 0, nnp, try);
}

static void assert_killed(int status)
{
	if (WIFEXITED(status))
		fail_msg("the child exited %d instead of being killed", WEXITSTATUS(status));
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGSYS);
}

static void assert_exit0(int status)
{
	if (WIFSIGNALED(status))
		fail_msg("the child was killed by signal %d", WTERMSIG(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_keys_allows_its_work(void **state)
{
	(void)state;
	assert_exit0(sandbox_run(PRIVSEP_KEYS, true, TRY_NOTHING));
}

#ifndef PETREL_SANITIZER
static void test_keys_open_kills(void **state)
{
	(void)state;
	assert_killed(sandbox_run(PRIVSEP_KEYS, true, TRY_OPEN));
}
#endif

static void test_keys_socket_kills(void **state)
{
	(void)state;
	assert_killed(sandbox_run(PRIVSEP_KEYS, true, TRY_SOCKET));
}

static void test_keys_setuid_kills(void **state)
{
	(void)state;
	assert_killed(sandbox_run(PRIVSEP_KEYS, true, TRY_PTRACE_LIKE));
}

#ifndef PETREL_SANITIZER
static void test_keys_fork_kills(void **state)
{
	(void)state;
	assert_killed(sandbox_run(PRIVSEP_KEYS, true, TRY_FORK));
}
#endif

#ifndef PETREL_SANITIZER
static void test_keys_exec_kills(void **state)
{
	(void)state;
	assert_killed(sandbox_run(PRIVSEP_KEYS, true, TRY_EXEC));
}
#endif

#ifndef PETREL_SANITIZER
static void test_keys_thread_kills(void **state)
{
	(void)state;
	assert_killed(sandbox_run(PRIVSEP_KEYS, true, TRY_THREAD));
}
#endif

static void test_auth_allows_open_and_threads(void **state)
{
	(void)state;
	assert_exit0(sandbox_run(PRIVSEP_AUTH, true, TRY_OPEN));
	assert_exit0(sandbox_run(PRIVSEP_AUTH, true, TRY_THREAD));
}

static void test_auth_socket_kills(void **state)
{
	(void)state;
	assert_killed(sandbox_run(PRIVSEP_AUTH, true, TRY_SOCKET));
}

/* test_auth_database_socket - with its credentials in PostgreSQL the auth
 * process makes client sockets; the keys process never does */
static void test_auth_database_socket(void **state)
{
	(void)state;
	assert_exit0(sandbox_run_flags(PRIVSEP_AUTH, PRIVSEP_SANDBOX_DATABASE, true, TRY_SOCKET));
	assert_killed(sandbox_run_flags(PRIVSEP_KEYS, PRIVSEP_SANDBOX_DATABASE, true,
					TRY_SOCKET));
}

#ifndef PETREL_SANITIZER
static void test_auth_fork_kills(void **state)
{
	(void)state;
	assert_killed(sandbox_run(PRIVSEP_AUTH, true, TRY_FORK));
}
#endif

#ifndef PETREL_SANITIZER
static void test_auth_exec_kills(void **state)
{
	(void)state;
	assert_killed(sandbox_run(PRIVSEP_AUTH, true, TRY_EXEC));
}
#endif

/* without no_new_privs the filter is refused, loudly, and nothing is loaded */
static void test_refused_without_no_new_privs(void **state)
{
	(void)state;
	int status = sandbox_run(PRIVSEP_KEYS, false, TRY_NOTHING);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 11);
}

static void test_no_filter_for_network(void **state)
{
	(void)state;
	int status = sandbox_run(PRIVSEP_NETWORK, true, TRY_NOTHING);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 11);
}

int main(void)
{
#ifdef PETREL_SANITIZER
	fputs("# sanitizer build: the open, fork, exec and thread cases are not built here "
	      "(the sanitizers need those calls, sandbox.c); test-privsep-sandbox-plain, "
	      "built without sanitizers, runs them against the production filter\n", stderr);
#endif
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keys_allows_its_work),
#ifndef PETREL_SANITIZER
		cmocka_unit_test(test_keys_open_kills),
#endif
		cmocka_unit_test(test_keys_socket_kills),
		cmocka_unit_test(test_keys_setuid_kills),
#ifndef PETREL_SANITIZER
		cmocka_unit_test(test_keys_fork_kills),
#endif
#ifndef PETREL_SANITIZER
		cmocka_unit_test(test_keys_exec_kills),
#endif
#ifndef PETREL_SANITIZER
		cmocka_unit_test(test_keys_thread_kills),
#endif
		cmocka_unit_test(test_auth_allows_open_and_threads),
		cmocka_unit_test(test_auth_socket_kills),
		cmocka_unit_test(test_auth_database_socket),
#ifndef PETREL_SANITIZER
		cmocka_unit_test(test_auth_fork_kills),
#endif
#ifndef PETREL_SANITIZER
		cmocka_unit_test(test_auth_exec_kills),
#endif
		cmocka_unit_test(test_refused_without_no_new_privs),
		cmocka_unit_test(test_no_filter_for_network),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
