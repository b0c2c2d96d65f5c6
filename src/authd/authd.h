/* authd - the auth process: the only one that reads password hashes and
 * SCRAM keys; answers the network process's IPC_AUTH_* requests (ipc.h) on
 * FD and applies the AUTH failure throttle itself.  Never sees client
 * protocol text.
 *
 * The limits below bound every field of a request; the network process
 * checks them too before it asks (authd/client.c).
 */
#ifndef PETREL_AUTHD_H
#define PETREL_AUTHD_H

#define AUTHD_USER_MAX 255           /* bytes of a user name (as PLAIN allows) */
#define AUTHD_PASSWORD_MAX 1024      /* bytes of a password */
#define AUTHD_CLIENT_MAX 63          /* the client address as text, or "local" */
#define AUTHD_AUTH_MESSAGE_MAX 32768 /* a SCRAM AuthMessage: three SASL lines at most */
#define AUTHD_PROOF_LEN 32           /* ClientProof and ServerSignature (SHA-256) */
/* the user name that says the password is an API key (SendGrid's convention) */
#define AUTHD_APIKEY_USER "apikey"
#define AUTHD_SCOPES_MAX 1024        /* an API key's scopes, space-separated */
#define AUTHD_APIKEY_NAME_MAX 100    /* bytes of an API key's name */

struct config;

/* authd_main - run until FD reaches EOF or SIGTERM; the exit status */
int authd_main(const struct config *config, int fd);

#endif
