/* message - RFC 5322 header parsing and the MIME pieces shared by policy/
 * (From: checks), dkim/ (later), imap/ (later) and the queue's bounces.
 *
 * Parsers do no I/O, are bounded (MESSAGE_HEADER_MAX fields, lines as
 * given), never read past LEN, and accept CRLF or LF line ends in stored
 * messages.  Returned arrays are owned by the caller (free with the matching
 * _free); pointers into DATA stay valid as long as DATA does.
 */
#ifndef PETREL_MESSAGE_H
#define PETREL_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "util/buf.h"

#define MESSAGE_HEADER_MAX 1000  /* header fields parsed at most */

struct message_header {
	const char *name;      /* into DATA */
	size_t name_len;
	const char *value;     /* into DATA: after the colon, folding kept, no final CRLF */
	size_t value_len;
	size_t offset;         /* where the field starts in DATA */
	size_t length;         /* the field's bytes including its final line end */
};

struct message_headers {
	struct message_header *fields;
	size_t count;
	size_t body_offset;    /* first byte after the empty line (or LEN) */
	bool truncated;        /* more than MESSAGE_HEADER_MAX fields (body_offset still exact) */
	bool malformed;        /* a line that is neither a field nor a continuation */
};

/* message_headers_parse - split the header section of DATA[0..LEN).
 * The section ends at the first empty line (body_offset just past it), at
 * LEN if there is none, or at the first line that is neither a field nor a
 * continuation (malformed; body_offset = that line: the rest is body).
 * WSP between a field name and its colon is accepted and left out of the
 * name (RFC 5322 4.5.8).  Allocates only HEADERS_R->fields. */
void message_headers_parse(const char *data, size_t len, struct message_headers *headers_r);
void message_headers_free(struct message_headers *headers);
/* message_header_find - the Nth (0-based) field named NAME (case-insensitive), or NULL */
const struct message_header *message_header_find(const struct message_headers *headers,
						 const char *name, size_t nth);
/* message_header_count - how many fields are named NAME */
size_t message_header_count(const struct message_headers *headers, const char *name);
/* message_header_unfold - VALUE with folding removed and trimmed, allocated.
 * NUL bytes in the value are kept: as a C string it ends at the first one. */
char *message_header_unfold(const struct message_header *field);

/* message_address_list_parse - the addr-specs of an RFC 5322 address-list
 * (From:, To:, Sender:): display names, comments, quoted strings, angle
 * addresses, groups; obsolete forms tolerated.  Lower-cases nothing.
 * Each entry is "local@domain" as written (quotes kept, CFWS and folding
 * removed); UTF-8 accepted (RFC 6532), entries are valid UTF-8.
 * NULL-terminated array (free with message_strv_free); NULL if malformed or
 * empty; an empty array for a list of empty groups ("undisclosed:;"). */
char **message_address_list_parse(const char *value, size_t len);

/* message_address_canonical - ADDRESS ("local@domain", its syntax already
 * checked by the caller) in the form in which equal mailboxes compare equal
 * (case aside): a quoted local part whose content is a valid dot-string loses
 * its quotes and backslashes ("you"@d and "y\ou"@d are you@d: RFC 5321 4.1.2,
 * RFC 5322 3.4.1 say the forms are the same and the unquoted one is to be
 * used); another quoted local part is written with only DQUOTE and backslash
 * escaped ("a\ b"@d is "a b"@d); one trailing dot of the domain is dropped.
 * Case is kept.  Never longer than ADDRESS.  Allocated: free() it. */
char *message_address_canonical(const char *address);
void message_strv_free(char ***strv);

/* message_date_format - RFC 5322 date-time of T in UTC into BUF (>= 40) */
void message_date_format(time_t t, char *buf, size_t size);

/* ---- delivery status notifications (RFC 3464, RFC 6522, RFC 3461, RFC 6533) ---- */

/* Larger originals are returned as their header section only (and the
 * text part says so), whatever RET asked for. */
#define DSN_ORIGINAL_MAX (10u * 1024 * 1024)

struct dsn_recipient {
	const char *final_recipient;    /* "user@example.org" */
	const char *original_recipient; /* ORCPT "rfc822;user@example.org", or NULL */
	const char *action;             /* "failed", "delayed", "delivered", "relayed", "expanded" */
	const char *status;             /* "5.1.1" */
	const char *remote_mta;         /* host name, or NULL */
	const char *diagnostic;         /* remote reply text ("550 5.1.1 no such user"), or NULL */
	time_t last_attempt;            /* 0 = omit */
	time_t will_retry_until;        /* delayed only; 0 = omit */
};

struct dsn_report {
	const char *reporting_mta;      /* our host name */
	const char *from;               /* "MAILER-DAEMON@<hostname>" */
	const char *to;                 /* the envelope sender being notified */
	const char *envid;              /* ENVID, or NULL */
	const char *queue_id;
	const char *received_from;      /* client address/HELO of the original, or NULL */
	time_t arrival;
	bool delay;                     /* a delay warning (not a failure) */
	bool headers_only;              /* RET=HDRS: include only the header section */
	const char *original;           /* the original message as queued */
	size_t original_len;
	bool smtputf8;                  /* use message/global-delivery-status (RFC 6533) */
};

/* dsn_build - a complete multipart/report message (headers + body, CRLF)
 * with a human-readable part, the message/delivery-status part and the
 * original (text/rfc822-headers for HDRS, else message/rfc822), Auto-Submitted:
 * auto-replied, a fresh Message-ID and Date.  Appends to OUT.
 * Subject: "Delayed Mail (still being retried)" when DELAY, "Successful Mail
 * Delivery Report" when every action is delivered/relayed/expanded, else
 * "Undelivered Mail Returned to Sender".  Peer text is sanitised (controls
 * become spaces, 8-bit becomes '?' where not allowed) and folded; no line
 * exceeds 998 octets.  Non-ASCII final recipients use the utf-8 address type
 * (RFC 6533 3), xtext-encoded unless SMTPUTF8. */
void dsn_build(const struct dsn_report *report, const struct dsn_recipient *rcpts,
	       size_t rcpt_count, struct buf *out);

#endif
