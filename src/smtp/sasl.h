/* smtp/sasl - SASL mechanisms for SMTP AUTH (RFC 4954): strict base64, PLAIN
 * (RFC 4616), and the server side of SCRAM-SHA-256 (RFC 5802, RFC 7677).
 *
 * Pure functions over bytes the session hands in (no I/O), shared with the
 * unit tests and the fuzz target.  Results are allocated and owned by the
 * caller; secrets are wiped (OPENSSL_cleanse) when the state is cleared.
 * Returns 0 on success, -1 on malformed input (the session replies
 * 501 5.5.2), and for the SCRAM proof check 1 when the proof is wrong.
 */
#ifndef PETREL_SMTP_SASL_H
#define PETREL_SMTP_SASL_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"

#define SASL_LINE_MAX 12288  /* RFC 4954 4: a server must accept 12288 octets */

/* sasl_base64_decode - strict RFC 4648 base64 (padding required, no spaces);
 * appends to OUT; "=" alone is an empty response (RFC 4954 4) */
int sasl_base64_decode(const char *in, size_t len, struct buf *out);
void sasl_base64_encode(const void *in, size_t len, struct buf *out);

/* sasl_plain_parse - "[authzid] NUL authcid NUL passwd" (RFC 4616 2).
 * An authzid different from authcid is refused (-1): no proxy logins. */
int sasl_plain_parse(const char *data, size_t len, char **user_r, char **password_r);

/* ---- SCRAM-SHA-256, server side -------------------------------------------- */

struct sasl_scram {
	char *user;               /* from n= in client-first, unescaped */
	char *client_first_bare;  /* "n=...,r=..." */
	char *gs2_header;         /* "n,," or "y,," */
	char *nonce;              /* client nonce + server nonce */
	char *server_first;       /* "r=...,s=...,i=..." */
	unsigned char server_key[32];
	unsigned char stored_key[32];
};

/* sasl_scram_client_first - parse "n,,n=user,r=nonce" (channel binding "p="
 * is refused: -1) */
int sasl_scram_client_first(struct sasl_scram *scram, const char *msg, size_t len);
/* sasl_scram_server_first - from CREDENTIALS "iterations:salt_b64:storedkey_b64:
 * serverkey_b64" (as stored), write the server-first message into OUT */
int sasl_scram_server_first(struct sasl_scram *scram, const char *credentials, struct buf *out);
/* sasl_scram_client_final - check "c=...,r=...,p=proof"; 0 and the
 * server-final "v=..." in OUT when the proof is right, 1 when it is wrong,
 * -1 when malformed */
int sasl_scram_client_final(struct sasl_scram *scram, const char *msg, size_t len,
			    struct buf *out);
void sasl_scram_clear(struct sasl_scram *scram);

#endif
