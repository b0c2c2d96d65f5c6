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

struct config;

enum privsep_role { PRIVSEP_SUPERVISOR, PRIVSEP_NETWORK, PRIVSEP_AUTH, PRIVSEP_KEYS };

/* privsep_drop - become ROLE's user (empty supplementary groups, setgid,
 * setuid), set PR_SET_NO_NEW_PRIVS and PR_SET_PDEATHSIG; 0, or -1 with a
 * message on stderr */
int privsep_drop(const struct config *config, enum privsep_role role);
/* privsep_sandbox - the seccomp filter of ROLE (auth and keys): only the
 * system calls it needs; 0, or -1 with a message on stderr */
int privsep_sandbox(enum privsep_role role);

#endif
