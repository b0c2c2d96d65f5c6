/* authd/request - what the auth process accepts of a request: every field
 * of IPC_AUTH_PASSWORD, IPC_AUTH_SCRAM_START, IPC_AUTH_SCRAM_PROOF and
 * IPC_AUTH_TICKET, IPC_AUTH_APIKEY_* and IPC_AUTH_PASSWORD_SET (ipc.h)
 * checked and copied out of the frame.  No I/O: the unit tests drive it.
 *
 * The network process checks the same limits before it asks (a longer name
 * or password is a malformed SASL response there), so a request that fails
 * here never comes from a working network process: the auth process answers
 * it IPC_R_BAD and logs auth-bad-request, never a success.
 */
#ifndef PETREL_AUTHD_REQUEST_H
#define PETREL_AUTHD_REQUEST_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "authd/authd.h"

struct ipc_msg;

struct authd_request {
	uint8_t type;                  /* IPC_AUTH_* */
	char *user;                    /* 1..AUTHD_USER_MAX bytes, no NUL */
	char *password;                /* PASSWORD, PASSWORD_SET: 1..AUTHD_PASSWORD_MAX bytes,
					  no NUL (PASSWORD_SET: USER is the account);
					  TICKET: the ticket, < AUTHD_TICKET_MAX bytes */
	char *client;                  /* PASSWORD, SCRAM_PROOF, TICKET: the address as logged;
					  NULL for the others */
	struct sockaddr_storage addr;  /* ... as an address: the throttle's key */
	unsigned char *auth_message;   /* SCRAM_PROOF: 1..AUTHD_AUTH_MESSAGE_MAX bytes */
	size_t auth_message_len;
	unsigned char proof[AUTHD_PROOF_LEN];   /* SCRAM_PROOF */
	/* APIKEY_*: USER is the account; ADD: a name (control characters
	 * refused) and valid scopes; DEL: a key id; SET: a key id, a name and
	 * maybe scopes (NULL: kept) */
	char *apikey_name, *apikey_scopes, *apikey_id;
};

/* authd_request_parse - REQ into *R (all fields copied: R outlives the
 * frame); 0, or -1 with a static *reason_r (R then holds nothing) */
int authd_request_parse(const struct ipc_msg *req, struct authd_request *r,
			const char **reason_r);
/* authd_request_clear - wipe the password and proof, free the copies */
void authd_request_clear(struct authd_request *r);

#endif
