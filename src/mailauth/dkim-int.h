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

/* dkim_header_take - the header section of a message fed in chunks, for the
 * verifiers and signers: DATA[0..LEN) is appended to HEADER (at most MAX
 * bytes in all) and scanned, from where the last call stopped (*LINE_START,
 * 0 at first), for the empty line that ends the section (CRLF CRLF; LF LF in
 * a file).  1: the section ended, HEADER holds it with its empty line and
 * *USED_R bytes of DATA went into it (the rest is body); 0: more is needed
 * (all of DATA taken); -1: the section is longer than MAX. */
int dkim_header_take(struct buf *header, size_t *line_start, size_t max, const void *data,
		     size_t len, size_t *used_r);

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

/* ---- DKIM-Signature and key records (dkim-parse.c) ------------------------- */

#define DKIM_SIGNED_HEADERS_MAX 256   /* names in h= */

enum dkim_algorithm { DKIM_ALGORITHM_RSA_SHA256, DKIM_ALGORITHM_ED25519_SHA256 };

/* A parsed DKIM-Signature (RFC 6376 3.5).  Strings are allocated and
 * NUL-terminated; dkim_signature_free releases them. */
struct dkim_signature {
	enum dkim_algorithm algorithm;
	enum dkim_canon header_canon, body_canon;
	char *algorithm_name;     /* a= as written (also when unsupported), or NULL */
	char *domain;             /* d=, as written */
	char *selector;           /* s= */
	char *identity;           /* i=, or "@" d= when absent */
	char **headers;           /* h=, in order */
	size_t header_count;
	unsigned char *b;         /* b= decoded */
	size_t b_len;
	char *b_text;             /* b= with its FWS removed (Authentication-Results
				     header.b names a signature by its start) */
	unsigned char bh[DKIM_HASH_LEN];
	int64_t length;           /* l=, or -1 */
	int64_t timestamp;        /* t=, or -1 */
	int64_t expiration;       /* x=, or -1 */
	/* where b='s value, with the FWS around it, lies in the parsed text:
	 * the signature is verified with it taken out (3.7) */
	size_t b_start, b_end;
	/* ARC (RFC 8617) only: i= the instance, and the seal's cv= */
	unsigned instance;
	int cv;                   /* enum dkim_arc_cv */
};

#define ARC_INSTANCES_MAX 50      /* RFC 8617 4.2.1 */

enum dkim_field_kind {
	DKIM_FIELD_SIGNATURE,     /* DKIM-Signature */
	DKIM_FIELD_ARC_MESSAGE,   /* ARC-Message-Signature */
	DKIM_FIELD_ARC_SEAL,      /* ARC-Seal */
};
enum dkim_arc_cv { DKIM_ARC_CV_NONE, DKIM_ARC_CV_PASS, DKIM_ARC_CV_FAIL };

/* dkim_field_parse - dkim_signature_parse for a field of KIND: an
 * ARC-Message-Signature is a DKIM-Signature without v= whose i= is its
 * instance (RFC 8617 4.1.2); an ARC-Seal has i=, a=, b=, d=, s=, cv= and
 * t=, no h= (4.1.3) and is always relaxed */
int dkim_field_parse(const char *text, size_t len, enum dkim_field_kind kind,
		     struct dkim_signature *sig_r, const char **error_r);

/* dkim_signature_parse - the value of a DKIM-Signature field, TEXT[0..LEN)
 * (after the colon, folding kept).  0, or -1 and *ERROR_R when the signature
 * is to be ignored (RFC 6376 6.1.1: a permanent error): syntax, a missing or
 * wrong tag, an unsupported algorithm.  Even then SIG_R holds what could be
 * read of d=, s= and a= (for the report) and must be freed. */
int dkim_signature_parse(const char *text, size_t len, struct dkim_signature *sig_r,
			 const char **error_r);
void dkim_signature_free(struct dkim_signature *sig);

enum dkim_key_type { DKIM_KEY_RSA, DKIM_KEY_ED25519 };

/* A parsed key record (RFC 6376 3.6.1, RFC 8463 4). */
struct dkim_key {
	enum dkim_key_type type;
	bool testing;             /* t=y */
	bool strict;              /* t=s: i= must be in d= itself */
	bool revoked;             /* p= empty */
	unsigned char *data;      /* p= decoded: SubjectPublicKeyInfo or RSAPublicKey
				     DER for RSA, the raw 32 bytes for Ed25519 */
	size_t data_len;
};

/* dkim_key_parse - one TXT record TEXT[0..LEN) as a DKIM key.  0, or -1 and
 * *ERROR_R (the key is unusable: syntax, v= not DKIM1, an unknown k=, h=
 * without sha256, s= without email).  A revoked key parses (REVOKED set).
 * KEY_R must be freed either way. */
int dkim_key_parse(const char *text, size_t len, struct dkim_key *key_r, const char **error_r);
void dkim_key_free(struct dkim_key *key);

/* dkim_selector_is_valid - S is a selector (RFC 6376 3.1): dot-separated
 * labels of letters, digits, '-' and '_', short enough for
 * S._domainkey.DOMAIN to fit in a name */
bool dkim_selector_is_valid(const char *s);

/* ---- verifying, shared with ARC (dkim-verify.c) ---------------------------- */

struct message_headers;
struct message_header;

/* dkim_header_hash - SHA-256 of what SIG signs of HEADERS: the fields of h=
 * picked from the bottom up (RFC 6376 5.4.2), then FIELD (the signature's
 * own) with b= emptied and without its final CRLF (3.7) */
void dkim_header_hash(const struct dkim_signature *sig, const struct message_headers *headers,
		      const struct message_header *field, unsigned char out[DKIM_HASH_LEN]);
/* dkim_key_pkey - KEY checked against SIG (revoked, type, t=s, RSA size;
 * RFC 6376 6.1.2, RFC 8301, RFC 8463) as an EVP_PKEY in *PKEY_R: 0, or -1
 * and *error_r (a permerror) */
int dkim_key_pkey(const struct dkim_signature *sig, const struct dkim_key *key,
		  EVP_PKEY **pkey_r, const char **error_r);
/* dkim_key_load - KEY's p= as an EVP_PKEY of its k= (RSA: SubjectPublicKeyInfo
 * or RSAPublicKey DER; Ed25519: 32 raw bytes), or NULL; no size check.  The
 * caller frees it.  dkim_key_pkey's loader, and the domain check's. */
EVP_PKEY *dkim_key_load(const struct dkim_key *key);
/* dkim_crypto_verify - B is PKEY's signature of HASH under ALGORITHM */
bool dkim_crypto_verify(EVP_PKEY *pkey, enum dkim_algorithm algorithm,
			const unsigned char hash[DKIM_HASH_LEN], const unsigned char *b,
			size_t b_len);

/* ---- ARC sets, shared by the validator and the sealer (arc.c) -------------- */

/* the ARC fields of one instance, found in the header section */
struct arc_set {
	const struct message_header *seal, *message, *results;
};

/* arc_collect - the ARC sets of HEADERS into SETS[1..N] (SETS has
 * ARC_INSTANCES_MAX + 1 zeroed entries; RFC 8617 5.2 steps 1 and 3.1-3.2):
 * 0 with *COUNT_R = N (0: no ARC field), or -1 and *error_r when a field
 * does not parse, two of a kind share an instance or a set is incomplete */
int arc_collect(const struct message_headers *headers, struct arc_set *sets, unsigned *count_r,
		const char **error_r);

/* ---- signing (dkim-sign.c) ------------------------------------------------- */

/* dkim_sign_fold_base64 - BYTES in base64 appended to FIELD as the value of
 * a tag that starts at column *COL (a TAB counts 8), folded with CRLF TAB
 * before a line passes 78 columns; *COL follows.  ARC-Seal's b= too. */
void dkim_sign_fold_base64(struct buf *field, size_t *col, const void *bytes, size_t len);

#endif
