/* tests/unit/privsep/test-drop - privsep_drop for real, in forked children
 * (a drop cannot be undone): the user change with no supplementary group and
 * no way back to root, no_new_privs, the parent-death signal, and the refusal
 * to run when the supervisor named in PETREL_SUPERVISOR_PID is not the
 * parent.  The user change needs root: as another user those cases skip with
 * the reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config/config.h"
#include "privsep/privsep.h"
#include "util/xalloc.h"

/* child exit codes: which check failed */
enum {
	DROP_OK = 0,
	DROP_REFUSED = 10,
	DROP_UIDS,
	DROP_GIDS,
	DROP_GROUPS,
	DROP_ROOT_AGAIN,
	DROP_NO_NNP,
	DROP_NO_PDEATHSIG,
};

/* drop_in_child - fork; the child sets the environment to SUPERVISOR (NULL:
 * unset), calls privsep_drop(ROLE) with USER as that role's user and checks
 * the result; the child's exit code */
static int drop_in_child(const char *supervisor, enum privsep_role role, const char *user)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct config *config = config_defaults();
		char **field = role == PRIVSEP_AUTH ? &config->auth_user :
			role == PRIVSEP_KEYS ? &config->keys_user : &config->user;
		free(*field);
		*field = xstrdup(user);
		/* a supplementary group to lose (the test may run without any) */
		gid_t root_group = 0;
		if (geteuid() == 0 && setgroups(1, &root_group) != 0)
			_exit(DROP_GROUPS);
		if (supervisor == NULL)
			unsetenv(PRIVSEP_SUPERVISOR_ENV);
		else
			setenv(PRIVSEP_SUPERVISOR_ENV, supervisor, 1);
		if (privsep_drop(config, role) != 0)
			_exit(DROP_REFUSED);
		struct passwd *pw = getpwnam(user);
		uid_t r, e, s;
		gid_t rg, eg, sg;
		int sig = 0;
		if (getresuid(&r, &e, &s) != 0 || r != pw->pw_uid || e != pw->pw_uid ||
		    s != pw->pw_uid)
			_exit(DROP_UIDS);
		if (getresgid(&rg, &eg, &sg) != 0 || rg != pw->pw_gid || eg != pw->pw_gid ||
		    sg != pw->pw_gid)
			_exit(DROP_GIDS);
		if (pw->pw_uid != 0 && getgroups(0, NULL) != 0)
			_exit(DROP_GROUPS);
		if (pw->pw_uid != 0 && setuid(0) == 0)
			_exit(DROP_ROOT_AGAIN);
		if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
			_exit(DROP_NO_NNP);
		if (prctl(PR_GET_PDEATHSIG, &sig, 0, 0, 0) != 0 || sig != SIGKILL)
			_exit(DROP_NO_PDEATHSIG);
		_exit(DROP_OK);   /* (config not freed: _exit, no leak check) */
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static char *self_pid(void)
{
	return xasprintf("%ld", (long)getpid());
}

static bool need_root(void)
{
	if (geteuid() == 0)
		return true;
	print_message("# SKIP reason: a user change needs root (running as uid %u)\n",
		      (unsigned)geteuid());
	return false;
}

/* test_drop_to_nobody - each role becomes its own user for good */
static void test_drop_to_nobody(void **state)
{
	(void)state;
	if (!need_root())
		skip();
	char *pid = self_pid();
	assert_int_equal(drop_in_child(pid, PRIVSEP_NETWORK, "nobody"), DROP_OK);
	assert_int_equal(drop_in_child(pid, PRIVSEP_AUTH, "nobody"), DROP_OK);
	assert_int_equal(drop_in_child(pid, PRIVSEP_KEYS, "nobody"), DROP_OK);
	free(pid);
}

/* test_drop_root_keeps_root - user = root: no change, the rest the same */
static void test_drop_root_keeps_root(void **state)
{
	(void)state;
	if (!need_root())
		skip();
	char *pid = self_pid();
	assert_int_equal(drop_in_child(pid, PRIVSEP_NETWORK, "root"), DROP_OK);
	free(pid);
}

/* test_drop_refused - no supervisor in the environment, a supervisor that is
 * not the parent (it died and the process was adopted), a user that does
 * not exist */
static void test_drop_refused(void **state)
{
	(void)state;
	char *pid = self_pid();
	const char *user = geteuid() == 0 ? "nobody" : getpwuid(geteuid())->pw_name;
	assert_int_equal(drop_in_child(NULL, PRIVSEP_NETWORK, user), DROP_REFUSED);
	assert_int_equal(drop_in_child("", PRIVSEP_NETWORK, user), DROP_REFUSED);
	assert_int_equal(drop_in_child("1", PRIVSEP_NETWORK, user), DROP_REFUSED);
	assert_int_equal(drop_in_child("12x", PRIVSEP_NETWORK, user), DROP_REFUSED);
	assert_int_equal(drop_in_child("-5", PRIVSEP_NETWORK, user), DROP_REFUSED);
	assert_int_equal(drop_in_child("99999999999999999999", PRIVSEP_NETWORK, user),
			 DROP_REFUSED);
	char *other = xasprintf("%ld", (long)getpid() + 1);
	assert_int_equal(drop_in_child(other, PRIVSEP_NETWORK, user), DROP_REFUSED);
	free(other);
	if (geteuid() == 0)
		assert_int_equal(drop_in_child(pid, PRIVSEP_AUTH, "no-such-user-petrel"),
				 DROP_REFUSED);
	free(pid);
}

/* test_role_names - the names --process takes; the supervisor is not one */
static void test_role_names(void **state)
{
	enum privsep_role role = PRIVSEP_SUPERVISOR;
	(void)state;
	for (enum privsep_role r = PRIVSEP_NETWORK; r <= PRIVSEP_KEYS; r++) {
		assert_true(privsep_role_parse(privsep_role_name(r), &role));
		assert_int_equal(role, r);
	}
	assert_string_equal(privsep_role_name(PRIVSEP_AUTH), "auth");
	assert_false(privsep_role_parse("supervisor", &role));
	assert_false(privsep_role_parse("Auth", &role));
	assert_false(privsep_role_parse("", &role));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_drop_to_nobody),
		cmocka_unit_test(test_drop_root_keeps_root),
		cmocka_unit_test(test_drop_refused),
		cmocka_unit_test(test_role_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
