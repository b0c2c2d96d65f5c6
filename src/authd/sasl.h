/* authd/sasl - the SASL mechanisms of every protocol's login (SMTP AUTH,
 * RFC 4954; IMAP AUTHENTICATE; POP3 AUTH, RFC 5034): PLAIN (RFC 4616), and
 * the server side of SCRAM-SHA-256 (RFC 5802, RFC 7677).
 *
 * Pure functions over decoded client responses (no I/O), used by
 * authd/client.c and shared with the unit tests and the fuzz target.
 * Results are allocated and owned by the caller; the state is wiped
 * (OPENSSL_cleanse) when it is cleared.  Returns 0 on success, -1 on
 * malformed input (the protocol's "malformed response" reply).
 */
#ifndef PETREL_AUTHD_SASL_H
#define PETREL_AUTHD_SASL_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"

/* a base64 response line: RFC 4954 4 has SMTP servers accept 12288 octets */
#define SASL_LINE_MAX 12288

/* sasl_plain_parse - "[authzid] NUL authcid NUL passwd" (RFC 4616 2).
 * An authzid different from authcid is refused (-1): no proxy logins. */
int sasl_plain_parse(const char *data, size_t len, char **user_r, char **password_r);
/* sasl_plain_parse_authzid - the same, with an authzid other than the
 * authcid in *authzid_r (1..255 bytes; NULL when none or the same): the
 * login of one node on another's behalf (authd/ticket.h) */
int sasl_plain_parse_authzid(const char *data, size_t len, char **authzid_r, char **user_r,
			     char **password_r);

/* ---- SCRAM-SHA-256, server side -------------------------------------------- */

/* The network process's half of the exchange: it parses and checks the
 * client's messages; the proof itself is checked by the auth process, which
 * holds StoredKey and ServerKey (store_scram_proof_check). */
#define SASL_SCRAM_PROOF_LEN 32
#define SASL_SCRAM_SALT_MAX 64

struct sasl_scram {
	char *user;               /* from n= in client-first, unescaped */
	char *client_first_bare;  /* "n=...,r=..." */
	char *gs2_header;         /* "n,," or "y,,", or with the authzid: "n,a=USER," */
	char *nonce;              /* client nonce + server nonce */
	char *server_first;       /* "r=...,s=...,i=..." */
};

/* sasl_scram_client_first - parse "n,,n=user,r=nonce" (channel binding "p="
 * is refused: -1) */
int sasl_scram_client_first(struct sasl_scram *scram, const char *msg, size_t len);
/* sasl_scram_server_first - with the account's ITERATIONS (>= 1) and SALT
 * (1..SASL_SCRAM_SALT_MAX bytes), add a server nonce and write the
 * server-first message "r=...,s=...,i=..." into OUT; -1 when out of range
 * or without random bytes */
int sasl_scram_server_first(struct sasl_scram *scram, unsigned iterations, const void *salt,
			    size_t salt_len, struct buf *out);
/* sasl_scram_client_final - parse "c=...,r=...,p=proof" and check its
 * channel binding and nonce: 0 with the AuthMessage (RFC 5802 3) appended to
 * AUTH_MESSAGE and the ClientProof in PROOF, -1 when malformed or not ours */
int sasl_scram_client_final(struct sasl_scram *scram, const char *msg, size_t len,
			    struct buf *auth_message, unsigned char proof[SASL_SCRAM_PROOF_LEN]);
/* sasl_scram_server_final - "v=" base64(SIGNATURE), the ServerSignature the
 * auth process returned, into OUT */
void sasl_scram_server_final(const unsigned char signature[SASL_SCRAM_PROOF_LEN],
			     struct buf *out);
void sasl_scram_clear(struct sasl_scram *scram);

#endif
