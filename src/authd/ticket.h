/* authd/ticket - the tickets one node's auth process gives another's for a
 * login it has checked (issue 11: IMAP and POP3 logins proxied to the
 * account's home node).
 *
 * A ticket is the password of a PLAIN login whose authzid is the account
 * and whose authcid is AUTHD_CLUSTER_USER, sent by the node that took the
 * client's login to the account's home node.  Its text:
 *
 *     v1:EXPIRY:NODE:MAC
 *
 * EXPIRY the Unix time it ends (decimal), NODE the issuing node's name (1-63
 * octets of letters, digits, '.', '-', '_'), MAC 64 lower-case hex digits of
 * HMAC-SHA256(secret, "petrel-ticket-v1" NUL account NUL NODE NUL EXPIRY),
 * the account lower-cased.  The secret is [cluster] secret_file's, which
 * only the auth process reads: the network process carries tickets, never
 * makes or checks one.  A ticket can be used again until it expires (at most
 * [cluster] ticket_lifetime, 60 s): what limits its use is the [cluster]
 * from networks a ticket login must come from.
 *
 * Pure functions, no I/O: the unit tests and fuzz/fuzz-ticket.c call them.
 */
#ifndef PETREL_AUTHD_TICKET_H
#define PETREL_AUTHD_TICKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* the authcid of a ticket login (no account has this name: names are addresses) */
#define AUTHD_CLUSTER_USER "petrel-cluster"
/* octets of a ticket's text, NUL included */
#define AUTHD_TICKET_MAX 160
/* the longest [cluster] ticket_lifetime may be, in seconds */
#define AUTHD_TICKET_LIFETIME_MAX 60
/* octets of the secret the MAC uses at least, and at most */
#define AUTHD_TICKET_SECRET_MIN 32
#define AUTHD_TICKET_SECRET_MAX 1024

struct authd_ticket {
	uint64_t expiry;
	char node[64];
	unsigned char mac[32];
};

/* authd_ticket_make - a ticket for ACCOUNT (any case) issued by NODE (a valid
 * name: assert), good until EXPIRY, into OUT */
void authd_ticket_make(const unsigned char *secret, size_t secret_len, const char *account,
		       const char *node, time_t expiry, char out[AUTHD_TICKET_MAX]);
/* authd_ticket_parse - TEXT (LEN octets, from the network) into T; 0, or
 * -1 when it is no ticket */
int authd_ticket_parse(const char *text, size_t len, struct authd_ticket *t);
/* authd_ticket_check - TEXT (LEN octets) is a ticket for ACCOUNT made with
 * SECRET and not expired at NOW: 0 with its issuing node in T, or -1 with a
 * static *reason_r (ticket-malformed, ticket-forged, ticket-expired).  The
 * MAC is compared in constant time. */
int authd_ticket_check(const unsigned char *secret, size_t secret_len, const char *account,
		       const char *text, size_t len, time_t now, struct authd_ticket *t,
		       const char **reason_r);

/* authd_ticket_plain - the base64 PLAIN message (RFC 4616 2) of a ticket
 * login for ACCOUNT, appended to OUT (the caller wipes it once sent) */
struct buf;
void authd_ticket_plain(const char *account, const char *ticket, struct buf *out);

#endif
