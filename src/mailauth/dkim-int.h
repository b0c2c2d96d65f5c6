/* mailauth/dkim-int - what the DKIM files share and the unit tests and fuzz
 * targets reach: canonicalization (RFC 6376 3.4), the DKIM-Signature and key
 * record parsers (3.5, 3.6.1).  No I/O here; errors are static strings. */
#ifndef PETREL_MAILAUTH_DKIM_INT_H
#define PETREL_MAILAUTH_DKIM_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/evp.h>

#include "util/buf.h"

#define DKIM_HASH_LEN 32          /* SHA-256, the only hash accepted (RFC 8301) */

enum dkim_canon { DKIM_CANON_SIMPLE, DKIM_CANON_RELAXED };

/* ---- canonicalization (dkim-canon.c) ---------------------------------------- */

/* dkim_canon_header - append the canonical form of one header field (RFC 6376
 * 3.4.1 simple, 3.4.2 relaxed) to OUT, without a final CRLF.  FIELD[0..LEN) is
 * the field as it stands in the message, from its name up to (not including)
 * its final line end; NAME_LEN is the length of the name (WSP before the
 * colon left out).  A bare LF inside (a message stored with LF line ends)
 * counts as CRLF. */
void dkim_canon_header(enum dkim_canon canon, const char *field, size_t len,
		       size_t name_len, struct buf *out);

/* A body canonicalizer and SHA-256 hash (RFC 6376 3.4.3, 3.4.4, 3.7), fed the
 * body in chunks of any size: a CRLF may be split between chunks, empty lines
 * are held back until content follows (so trailing ones are never hashed),
 * and only the first LIMIT canonical bytes are hashed (l=).  A bare LF counts
 * as CRLF; a bare CR is an ordinary byte. */
struct dkim_body {
	enum dkim_canon canon;
	int64_t limit;            /* l= or -1 */
	uint64_t length;          /* canonical bytes so far, hashed or not */
	EVP_MD_CTX *md;
	size_t empty_lines;       /* held back */
	bool cr;                  /* the last byte was a CR, its LF may follow */
	bool wsp;                 /* relaxed: WSP seen since the last content byte */
	bool content;             /* the current line has content */
	size_t out_len;
	unsigned char out[1024];  /* canonical bytes on their way to the hash */
};

void dkim_body_init(struct dkim_body *body, enum dkim_canon canon, int64_t limit);
void dkim_body_update(struct dkim_body *body, const void *data, size_t len);
/* dkim_body_final - end of the body: DIGEST_R gets the hash; LENGTH is then
 * the whole canonical body's length (to compare with l=) */
void dkim_body_final(struct dkim_body *body, unsigned char digest_r[DKIM_HASH_LEN]);
void dkim_body_free(struct dkim_body *body);

#endif
