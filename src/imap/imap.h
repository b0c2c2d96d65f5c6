/* imap - the IMAP server (RFC 9051, RFC 3501 and the extensions issue 10
 * lists).  Its parsers of client input are in imap/parse.h; this header
 * gathers the rest of the module's interface.  For now that is the
 * response data built from messages (format.c), with no I/O; the session
 * and the server that use it come next (see docs when they land).
 */
#ifndef PETREL_IMAP_IMAP_H
#define PETREL_IMAP_IMAP_H

#include <stdbool.h>
#include <stddef.h>

struct buf;
struct message_headers;
struct message_part;

/* ---- response data (format.c) -------------------------------------------- */

/* imap_string_append - S[0..LEN) as an IMAP string: quoted when it has no
 * CR, LF or NUL, is at most 1024 octets and (unless UTF8: the client
 * enabled UTF8=ACCEPT or IMAP4rev2, RFC 6855 3) is ASCII (else valid
 * UTF-8); else a literal */
void imap_string_append(struct buf *out, const char *s, size_t len, bool utf8);
/* imap_nstring_append - the C string S as above, or NIL when S is NULL */
void imap_nstring_append(struct buf *out, const char *s, bool utf8);

/* imap_envelope_append - the ENVELOPE of a message whose header section is
 * HEADERS (RFC 9051 7.5.2): date, subject, from, sender, reply-to, to, cc,
 * bcc, in-reply-to, message-id; each address list NIL when absent or not
 * parsable; sender and reply-to are from's when absent (RFC 3501 7.4.2) */
void imap_envelope_append(struct buf *out, const struct message_headers *headers, bool utf8);

/* imap_bodystructure_append - BODY (EXTENDED false) or BODYSTRUCTURE
 * (EXTENDED: with the extension data) of the MIME tree ROOT (message/'s
 * structure parser) */
void imap_bodystructure_append(struct buf *out, const struct message_part *root, bool extended,
			       bool utf8);

#endif
