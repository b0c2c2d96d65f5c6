/* fuzz-ticket - the login ticket parser and check (src/authd/ticket.c), fed
 * the password of a PLAIN login from the network.  Invariants: a ticket
 * parsed has a node name and is printed back to the same text when it was
 * made with the secret; nothing but a made ticket passes the check. */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "authd/ticket.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned char secret[32] = "fuzz-secret-fuzz-secret-fuzz-sec";
	const char *text = (const char *)data;
	struct authd_ticket t;
	const char *reason = NULL;
	if (authd_ticket_parse(text, size, &t) == 0) {
		assert(t.node[0] != '\0');
		/* made again from what was parsed: passes only if it is the same text */
		char made[AUTHD_TICKET_MAX];
		authd_ticket_make(secret, sizeof(secret), "a@example.test", t.node,
				  (time_t)t.expiry, made);
		int rc = authd_ticket_check(secret, sizeof(secret), "a@example.test", text, size, 0,
					    &t, &reason);
		if (rc == 0)
			assert(strlen(made) == size && memcmp(made, text, size) == 0);
	} else {
		assert(authd_ticket_check(secret, sizeof(secret), "a@example.test", text, size, 0,
					  &t, &reason) == -1);
		assert(strcmp(reason, "ticket-malformed") == 0);
	}
	return 0;
}
