/* authd - the auth process: the only one that reads password hashes and
 * SCRAM keys; answers the network process's IPC_AUTH_* requests (ipc.h) on
 * FD and applies the AUTH failure throttle itself.  Never sees client
 * protocol text. */
#ifndef PETREL_AUTHD_H
#define PETREL_AUTHD_H

struct config;

/* authd_main - run until FD reaches EOF or SIGTERM; the exit status */
int authd_main(const struct config *config, int fd);

#endif
