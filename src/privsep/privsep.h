/* privsep - Petrel's processes (issue 13): the supervisor that starts and
 * restarts them, and what each does to give up what it does not need.
 *
 * Roles: the supervisor (root when started as root; starts the others, holds
 * the data folder's lock), the network process (every listener, parser,
 * queue and delivery; [server] user), the auth process (the only reader of
 * password hashes and SCRAM keys; [server] auth_user) and the keys process
 * (the only holder of DKIM private keys; [server] keys_user).  See
 * docs/security.md.
 */
#ifndef PETREL_PRIVSEP_H
#define PETREL_PRIVSEP_H

#include <stdbool.h>
#include <sys/types.h>

struct config;
struct event_base;
struct ipc_client;

enum privsep_role { PRIVSEP_SUPERVISOR, PRIVSEP_NETWORK, PRIVSEP_AUTH, PRIVSEP_KEYS };

/* The descriptors a process finds open when the supervisor starts it (each
 * `petrel serve -c FILE --process ROLE`; every other one above 2 is closed):
 *   network: 3 the supervisor's channel (new helper channels arrive on it),
 *            4 the auth channel, 5 the keys channel, 6 a dup of petrel.lock;
 *   auth, keys: 3 the channel to the network process. */
#define PRIVSEP_FD_CONTROL 3
#define PRIVSEP_FD_AUTH 4
#define PRIVSEP_FD_KEYS 5
#define PRIVSEP_FD_LOCK 6
#define PRIVSEP_FD_CHANNEL 3
/* The tag of a channel end sent over the control channel (ipc_fd_send). */
#define PRIVSEP_TAG_AUTH 'a'
#define PRIVSEP_TAG_KEYS 'k'
/* The supervisor's pid, in the environment of the processes it starts: a
 * process whose parent is no longer that pid must not run on its own. */
#define PRIVSEP_SUPERVISOR_ENV "PETREL_SUPERVISOR_PID"

/* privsep_role_name - "supervisor", "network", "auth", "keys" */
const char *privsep_role_name(enum privsep_role role);
/* privsep_role_parse - the role a process NAME (not the supervisor); false
 * if it names none */
bool privsep_role_parse(const char *name, enum privsep_role *role_r);
/* privsep_supervisor_pid - from PRIVSEP_SUPERVISOR_ENV; -1 if it is missing
 * or not a pid */
int privsep_supervisor_pid(pid_t *pid_r);

/* privsep_supervise - run the supervisor: start the auth and keys processes,
 * then the network process (with LOCK_FD, held, as its descriptor 6), by
 * fork and exec of its own executable (/proc/self/exe, opened at start) with
 * `serve -c CONFIG_FILE --process ROLE`;
 * restart a helper that dies; on SIGTERM or SIGINT stop the network process,
 * then the helpers.  Returns petrel serve's exit status: the network
 * process's after SIGTERM (1 for a signal death), 1 when it ended on its own
 * or could not start.  Logs synchronously (no log thread) and rarely. */
int privsep_supervise(const struct config *config, const char *config_file, int lock_fd);

/* The network process's end of the supervisor's channel. */
struct privsep_channels;
/* privsep_channels_open - give AUTH and KEYS their first channels (fds 4
 * and 5) and watch fd 3 for the channels of restarted helpers, which replace
 * the old ones (ipc_client_set_fd; logged as helper-connected).  The clients
 * must outlive the result.  NULL and *error_r (static text) on failure. */
struct privsep_channels *privsep_channels_open(struct event_base *base, struct ipc_client *auth,
					       struct ipc_client *keys, const char **error_r);
/* privsep_channels_free - stop watching and close fd 3 (the clients keep
 * theirs) */
void privsep_channels_free(struct privsep_channels **channels);

/* privsep_drop - become ROLE's user (empty supplementary groups, setgid,
 * setuid), set PR_SET_NO_NEW_PRIVS and PR_SET_PDEATHSIG; 0, or -1 with a
 * message on stderr */
int privsep_drop(const struct config *config, enum privsep_role role);
/* privsep_dir_check - before a helper started as root reads its folder
 * (DATA_DIR/auth, DATA_DIR/dkim) as root: FD, that folder opened with
 * O_NOFOLLOW, must belong to ROLE's user and be writable by no one else.
 * The network process's user owns the data folder and can put a folder of
 * its own in the place of either.  Nothing to check when not root or when
 * ROLE's user is root.  0, or -1 with a message (naming PATH) on stderr */
int privsep_dir_check(const struct config *config, enum privsep_role role, int fd,
		      const char *path);
/* privsep_confine - Landlock: from now on this process opens files only
 * beneath DIR_FD (read and write: PATH, already checked with
 * privsep_dir_check) and, read only, beneath the system's folders (/etc,
 * /usr, /lib, /lib64, /proc, /sys; /dev read and write): a folder swapped in
 * for PATH later is out of reach, whatever its name.  Sets no_new_privs.
 * 0; 1 when the kernel has no Landlock (the caller logs it and goes on); -1
 * with a message on stderr */
int privsep_confine(enum privsep_role role, int dir_fd, const char *path);
/* privsep_sandbox - the seccomp filter of ROLE (auth and keys): only the
 * system calls it needs, and with PRIVSEP_SANDBOX_DATABASE (auth with
 * [store] credentials_url) those of a PostgreSQL client's sockets too; 0,
 * or -1 with a message on stderr */
#define PRIVSEP_SANDBOX_DATABASE 1u
int privsep_sandbox(enum privsep_role role, unsigned flags);

#endif
