/* mailauth - email authentication: SPF (RFC 7208), DKIM (RFC 6376, RFC 8463),
 * DMARC (RFC 7489); later ARC (RFC 8617), SRS and Authentication-Results
 * (RFC 8601).
 *
 * The parsers and evaluators here do no I/O: DNS answers are handed to them
 * (SPF asks for the lookups it needs one at a time), so unit tests and fuzz
 * targets call them directly; the asynchronous drivers on dns/ sit beside
 * them.  Errors travel out as text through error_r (static strings).
 */
#ifndef PETREL_MAILAUTH_H
#define PETREL_MAILAUTH_H

#include <stdbool.h>
#include <stddef.h>

/* ---- tag=value lists (RFC 6376 3.2; DKIM signatures and keys, DMARC) ---- */

/* ---- SPF (RFC 7208) ------------------------------------------------------ */

/* ---- DKIM (RFC 6376, RFC 8463) ------------------------------------------- */

/* ---- DMARC (RFC 7489) and the organizational domain ---------------------- */

#endif
