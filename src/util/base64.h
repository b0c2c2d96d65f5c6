/* util/base64 - RFC 4648 base64 (the standard alphabet, with padding).
 *
 * The strict decoder of protocol fields (SMTP AUTH responses, DKIM's b= and
 * p= once their FWS is removed) and the encoder.  MIME bodies, where line
 * breaks and stray characters are tolerated (RFC 2045 6.8), have their own
 * lenient, streaming decoder in message/; base64url (RFC 4648 5) is for
 * tokens in URLs.  No I/O; output is appended to a
 * buf owned by the caller.
 */
#ifndef PETREL_UTIL_BASE64_H
#define PETREL_UTIL_BASE64_H

#include <stddef.h>

#include "util/buf.h"

/* base64_decode - strict RFC 4648 base64 of IN[0..LEN): a multiple of 4
 * characters, padding only at the end, no spaces or line breaks, the bits past
 * the data zero (RFC 4648 3.5); appends the bytes to OUT.  0, or -1 (OUT then
 * holds what the groups before the error decoded to).  An empty IN is valid. */
int base64_decode(const char *in, size_t len, struct buf *out);

/* base64_encode - IN[0..LEN) in base64 with padding, appended to OUT (which is
 * allocated even when LEN is 0, so OUT->data is then "") */
void base64_encode(const void *in, size_t len, struct buf *out);

/* base64url_encode - IN[0..LEN) in RFC 4648 5's URL- and file-name-safe
 * alphabet ('-' and '_'), without padding, appended to OUT */
void base64url_encode(const void *in, size_t len, struct buf *out);
/* base64url_decode - strict base64url without padding of IN[0..LEN) (no
 * '=', no '+' or '/', the bits past the data zero); appends the bytes to
 * OUT.  0, or -1. */
int base64url_decode(const char *in, size_t len, struct buf *out);

#endif
