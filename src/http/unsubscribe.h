/* http/unsubscribe - RFC 8058 one-click unsubscribe (docs/http.md
 * "One-click unsubscribe"): the tokens of the links Petrel writes in
 * List-Unsubscribe, and the body a mail provider POSTs to them.
 *
 * A token names an (account, recipient) pair and cannot be forged:
 *
 *     B64URL(account NUL recipient) "." B64URL(MAC)
 *
 * base64url without padding (RFC 4648 5), both addresses lower-cased, MAC
 * = HMAC-SHA256(secret, "petrel-unsubscribe-v1" NUL account NUL recipient)
 * (util/hmac.h), the secret DATA_DIR/unsubscribe-secret's (docs/security.md).
 * A token does not expire: a link in an old message must still work.
 *
 * The functions here do no I/O: the handler (unsubscribe.c), the unit
 * tests and fuzz/fuzz-unsubscribe.c call them.  Strings they return are the
 * caller's (free).
 */
#ifndef PETREL_HTTP_UNSUBSCRIBE_H
#define PETREL_HTTP_UNSUBSCRIBE_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"

/* the path the links are under */
#define UNSUBSCRIBE_PATH "/unsubscribe/"
/* octets of a token at most: two addresses of 254 and the MAC, encoded */
#define UNSUBSCRIBE_TOKEN_MAX 760
/* octets of an address in a token at most (RFC 5321 4.5.3.1.3's path) */
#define UNSUBSCRIBE_ADDRESS_MAX 254
#define UNSUBSCRIBE_SECRET_LEN 32

/* unsubscribe_token_make - the token of ACCOUNT and RECIPIENT (any case;
 * each 1..UNSUBSCRIBE_ADDRESS_MAX octets without NUL: assert), appended to
 * OUT */
void unsubscribe_token_make(const unsigned char secret[UNSUBSCRIBE_SECRET_LEN],
			    const char *account, const char *recipient, struct buf *out);
/* unsubscribe_token_check - TEXT[0..LEN) (from the network) is a token
 * made with SECRET: 0 with *ACCOUNT_R and *RECIPIENT_R (lower case), or -1
 * and *REASON_R (static: "malformed", "forged"); the MAC is compared in
 * constant time */
int unsubscribe_token_check(const unsigned char secret[UNSUBSCRIBE_SECRET_LEN],
			    const char *text, size_t len, char **account_r, char **recipient_r,
			    const char **reason_r);

/* unsubscribe_body_is_one_click - BODY[0..LEN), sent as CONTENT_TYPE
 * (CT_LEN octets; 0: none, read as a form), says "List-Unsubscribe=
 * One-Click" (RFC 8058 3.1): one field of an
 * application/x-www-form-urlencoded body, or a part named
 * List-Unsubscribe of a multipart/form-data body */
bool unsubscribe_body_is_one_click(const char *content_type, size_t ct_len, const char *body,
				   size_t len);

#endif
