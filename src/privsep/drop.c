/* privsep/drop - what every process the supervisor starts gives up once it
 * has opened, as root, what it needs (docs/security.md, "Processes").
 *
 * Order matters:
 *   1. setgroups(0, NULL), setgid, setuid: the role's user with its own group
 *      and no supplementary group (a group such as adm or shadow would give
 *      back what the user change took away).  As root, setuid sets the real,
 *      effective and saved uid at once; that there is no way back is checked
 *      (setuid(0) must fail).
 *   2. PR_SET_NO_NEW_PRIVS: nothing the process could still exec gains
 *      privileges (set-uid binaries, file capabilities); the seccomp filters
 *      of the helpers need it too.
 *   3. PR_SET_PDEATHSIG(SIGKILL): the kernel clears it on a credential
 *      change, so it is set after the last one.  If the supervisor died
 *      before that, no signal will come: the parent is checked against the
 *      pid the supervisor put in PRIVSEP_SUPERVISOR_ENV, and a process whose
 *      supervisor is gone stops here.
 * Not started as root, or with the role's user root: no user change (logged
 * once, by the network process), everything else the same.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"
#include "privsep/privsep.h"
#include "util/log.h"

static const char *const role_names[] = {
	[PRIVSEP_SUPERVISOR] = "supervisor",
	[PRIVSEP_NETWORK] = "network",
	[PRIVSEP_AUTH] = "auth",
	[PRIVSEP_KEYS] = "keys",
};

static const char *drop_user(const struct config *config, enum privsep_role role);
static int drop_credentials(const char *name, const char *user, const struct passwd *pw);

const char *privsep_role_name(enum privsep_role role)
{
	return role_names[role];
}

bool privsep_role_parse(const char *name, enum privsep_role *role_r)
{
	bool found = false;

	for (enum privsep_role r = PRIVSEP_NETWORK; r <= PRIVSEP_KEYS; r++) {
		if (strcmp(name, role_names[r]) == 0) {
			*role_r = r;
			found = true;
		}
	}
	return found;
}

int privsep_supervisor_pid(pid_t *pid_r)
{
	const char *text = getenv(PRIVSEP_SUPERVISOR_ENV);
	char *end = NULL;
	long pid;

	if (text == NULL || *text < '1' || *text > '9')
		return -1;
	errno = 0;
	pid = strtol(text, &end, 10);
	if (errno != 0 || *end != '\0' || pid <= 1 || (long)(pid_t)pid != pid)
		return -1;
	*pid_r = (pid_t)pid;
	return 0;
}

/* drop_user - the configured user of ROLE */
static const char *drop_user(const struct config *config, enum privsep_role role)
{
	switch (role) {
	case PRIVSEP_AUTH:
		return config->auth_user;
	case PRIVSEP_KEYS:
		return config->keys_user;
	case PRIVSEP_NETWORK:
	case PRIVSEP_SUPERVISOR:
		break;
	}
	return config->user;
}

/* drop_credentials - become PW for good: no supplementary group, its group,
 * its uid (real, effective and saved), then check that root is out of reach */
static int drop_credentials(const char *name, const char *user, const struct passwd *pw)
{
	uid_t ruid, euid, suid;
	gid_t rgid, egid, sgid;

	if (setgroups(0, NULL) != 0 || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0) {
		fprintf(stderr, "petrel: %s: cannot become %s: %s\n", name, user, strerror(errno));
		return -1;
	}
	if (getresuid(&ruid, &euid, &suid) != 0 || getresgid(&rgid, &egid, &sgid) != 0 ||
	    ruid != pw->pw_uid || euid != pw->pw_uid || suid != pw->pw_uid ||
	    rgid != pw->pw_gid || egid != pw->pw_gid || sgid != pw->pw_gid ||
	    getgroups(0, NULL) != 0) {
		fprintf(stderr, "petrel: %s: the user change to %s did not take\n", name, user);
		return -1;
	}
	if (setuid(0) != -1) {
		fprintf(stderr, "petrel: %s: could become root again after becoming %s\n",
			name, user);
		return -1;
	}
	log_info("privileges", "process=%s user=%s uid=%u gid=%u", name, user,
		 (unsigned)pw->pw_uid, (unsigned)pw->pw_gid);
	return 0;
}

int privsep_drop(const struct config *config, enum privsep_role role)
{
	const char *name = privsep_role_name(role);
	const char *user = drop_user(config, role);
	/* the user-root and not-root cases are the network process's to tell:
	 * its user decides the helpers' defaults, and one line says it all */
	enum log_level level = role == PRIVSEP_NETWORK ? LOG_LEVEL_WARN : LOG_LEVEL_DEBUG;
	pid_t supervisor;

	if (privsep_supervisor_pid(&supervisor) != 0) {
		fprintf(stderr, "petrel: %s: not started by petrel serve (%s is not set)\n",
			name, PRIVSEP_SUPERVISOR_ENV);
		return -1;
	}
	if (geteuid() != 0) {
		if (user[0] != '\0')
			log_event(level, "privileges", "process=%s user=%s reason=\"not root; "
				  "running as the current user\"", name, user);
	} else if (user[0] == '\0') {
		/* the supervisor refuses this at start; the config may have changed */
		fprintf(stderr, "petrel: %s: no user to become: the %s user is empty\n", name,
			name);
		return -1;
	} else {
		errno = 0;
		struct passwd *pw = getpwnam(user);
		if (pw == NULL) {
			fprintf(stderr, "petrel: %s: no user named '%s' (%s)\n", name, user,
				errno != 0 ? strerror(errno) : "not in the user database");
			return -1;
		}
		if (pw->pw_uid == 0)
			log_event(level, "privileges", "process=%s user=%s uid=0 "
				  "reason=\"user = root: no privilege drop\"", name, user);
		else if (drop_credentials(name, user, pw) != 0)
			return -1;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
	    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) {
		fprintf(stderr, "petrel: %s: prctl: %s\n", name, strerror(errno));
		return -1;
	}
	/* after PDEATHSIG: a supervisor that dies from now on takes us along */
	if (getppid() != supervisor) {
		fprintf(stderr, "petrel: %s: the supervisor (pid %ld) is gone\n", name,
			(long)supervisor);
		return -1;
	}
	return 0;
}

int privsep_dir_check(const struct config *config, enum privsep_role role, int fd,
		      const char *path)
{
	const char *name = privsep_role_name(role);
	const char *user = drop_user(config, role);
	struct stat st;

	if (geteuid() != 0 || user[0] == '\0')
		return 0;
	errno = 0;
	struct passwd *pw = getpwnam(user);
	if (pw == NULL || pw->pw_uid == 0)
		return 0;   /* privsep_drop says what is wrong, or changes no user */
	if (fstat(fd, &st) != 0) {
		fprintf(stderr, "petrel: %s: %s: %s\n", name, path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode) || st.st_uid != pw->pw_uid || (st.st_mode & 022) != 0) {
		fprintf(stderr, "petrel: %s: %s belongs to uid %u, not to %s (uid %u), or others "
			"may write in it: refusing to read it\n", name, path, (unsigned)st.st_uid,
			user, (unsigned)pw->pw_uid);
		return -1;
	}
	return 0;
}
