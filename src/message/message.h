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

/* The structured form of an address-list, for IMAP's ENVELOPE (RFC 9051
 * 7.5.2): each mailbox with its display name, and groups as a start and an
 * end entry around their members. */
enum message_address_kind {
	MESSAGE_ADDRESS_MAILBOX,
	MESSAGE_ADDRESS_GROUP_START,   /* NAME is the group's display name */
	MESSAGE_ADDRESS_GROUP_END,
};
struct message_address {
	enum message_address_kind kind;
	char *name;     /* display name: quoted strings unquoted, words apart joined
			   by one space, RFC 2047 encoded words left as they are;
			   NULL if none */
	char *route;    /* obsolete source route ("@a,@b"), NULL if none */
	char *local;    /* local part as written (quotes kept) */
	char *domain;
};
/* message_address_list_parse_full - as message_address_list_parse, with
 * names and groups: an array of *COUNT_R entries (free with
 * message_addresses_free), NULL if malformed or empty */
struct message_address *message_address_list_parse_full(const char *value, size_t len,
							size_t *count_r);
void message_addresses_free(struct message_address *list, size_t count);

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

/* message_phrase_write - NAME (UTF-8, NUL-terminated) as an RFC 5322 3.2.5
 * phrase, a display name, appended to OUT: atoms as they are, other
 * printable ASCII as a quoted-string, anything else as RFC 2047 encoded
 * words (UTF-8, base64, never splitting a character) with FOLD ("\r\n " or
 * "\n ") between them (message/encode.c) */
void message_phrase_write(const char *name, const char *fold, struct buf *out);
/* message_unstructured_write - TEXT (UTF-8, NUL-terminated) as an
 * unstructured field body (RFC 5322 3.2.5; Subject:): as it is when it is
 * printable ASCII of at most MAX_LINE octets with no "=?", else RFC 2047
 * encoded words with FOLD between them */
void message_unstructured_write(const char *text, size_t max_line, const char *fold,
				struct buf *out);

struct message_part;

/* ---- MIME: transfer decodings (RFC 2045 6) ------------------------------------ */

enum message_encoding {
	MESSAGE_ENCODING_7BIT,            /* also when Content-Transfer-Encoding is absent */
	MESSAGE_ENCODING_8BIT,
	MESSAGE_ENCODING_BINARY,
	MESSAGE_ENCODING_QUOTED_PRINTABLE,
	MESSAGE_ENCODING_BASE64,
	MESSAGE_ENCODING_UNKNOWN,         /* another token: the body is opaque (RFC 2045 6.4) */
};

/* message_encoding_parse - the Content-Transfer-Encoding VALUE[0..LEN)
 * (case-insensitive, CFWS around it ignored) */
enum message_encoding message_encoding_parse(const char *value, size_t len);
/* message_encoding_name - "7bit", "quoted-printable", ...; "unknown" */
const char *message_encoding_name(enum message_encoding encoding);

/* A streaming decoder: fed the encoded body in chunks of any size, it gives
 * the same bytes as when fed whole (it keeps a partial base64 quantum, a cut
 * "=XX" escape and held trailing white space between calls).  Lenient, as
 * RFC 2045 asks of decoders:
 * - base64 (6.8): characters outside the alphabet (line breaks included) are
 *   ignored; the first "=" ends the data (the rest is ignored); an incomplete
 *   last quantum gives the whole bytes it holds;
 * - quoted-printable (6.7): "=" + line break is a soft line break (white
 *   space between them allowed), "=XX" with upper- or lower-case hex is the
 *   byte, any other "=" is kept literally with what follows; white space at
 *   the end of a line is removed (rule 3); line breaks are kept as written
 *   (CRLF or LF); an "=" at the very end is a soft line break;
 * - 7bit, 8bit, binary, unknown: copied.
 * Output never exceeds the input's length.  The struct is embedded by the
 * caller; it holds no allocation (no _free). */
struct message_decoder {
	enum message_encoding encoding;
	unsigned state;
	unsigned bits;          /* base64: the pending 6-bit groups */
	unsigned nbits;         /* base64: how many groups are pending (0..3) */
	bool ended;             /* base64: "=" seen, the rest is ignored */
	char hex;               /* quoted-printable: the first digit of "=XX" */
	size_t wsp_len;         /* quoted-printable: held white space */
	char wsp[76];
};

void message_decoder_init(struct message_decoder *dec, enum message_encoding encoding);
/* message_decoder_feed - decode DATA[0..LEN), appending to OUT */
void message_decoder_feed(struct message_decoder *dec, const char *data, size_t len,
			  struct buf *out);
/* message_decoder_finish - the end of the body: what is held is decoded or
 * dropped as described above; DEC may then be initialised again */
void message_decoder_finish(struct message_decoder *dec, struct buf *out);

/* message_part_body_decode - the body of PART, a part of the tree parsed
 * from DATA[0..LEN) (message_mime_parser_*), transfer-decoded (its
 * Content-Transfer-Encoding) and appended to OUT.  A body that reaches past
 * LEN (DATA is the message's start only) is decoded up to LEN and true is
 * returned. */
bool message_part_body_decode(const struct message_part *part, const char *data, size_t len,
			      struct buf *out);
/* message_part_text - as message_part_body_decode, then converted from the
 * part's charset parameter to UTF-8 (message_text_to_utf8) */
bool message_part_text(const struct message_part *part, const char *data, size_t len,
		       struct buf *out);

/* ---- MIME: encoded words in header fields (RFC 2047, RFC 2231 5) -------------- */

/* message_header_decode - VALUE[0..LEN) (an unfolded field body) to UTF-8,
 * appended to OUT, at most MAX bytes of it (cut at a character boundary).
 * Encoded words "=?charset[*lang]?B|Q?text?=" are decoded: charsets other
 * than UTF-8 and US-ASCII through iconv; an unknown charset or a malformed
 * word is kept as written; white space between two encoded words is dropped
 * (RFC 2047 6.2) and the bytes of adjacent words in the same charset are
 * converted together (a character split between words survives).  Like most
 * readers (and Python's email.header), a word need not be separated from the
 * text around it by white space.  Bytes that are not UTF-8, outside encoded
 * words or after conversion, become U+FFFD: OUT is always valid UTF-8.
 * Returns true if the output was cut at MAX. */
bool message_header_decode(const char *value, size_t len, size_t max, struct buf *out);

/* message_text_to_utf8 - IN[0..LEN), text in CHARSET[0..CHARSET_LEN) (a
 * text part's charset parameter; NULL for none), appended to OUT as UTF-8:
 * converted through iconv when the charset is known, else (unknown or
 * absent) taken as UTF-8; bytes that do not convert become U+FFFD.  For
 * readers of bodies such as IMAP SEARCH BODY. */
void message_text_to_utf8(const char *charset, size_t charset_len, const char *in, size_t len,
			  struct buf *out);

/* ---- MIME: Content-Type and Content-Disposition (RFC 2045 5, RFC 2183) ------- */

#define MESSAGE_PARAM_MAX 64          /* parameters kept per field (after RFC 2231 joining) */
#define MESSAGE_PARAM_SECTIONS_MAX 100 /* RFC 2231 continuation sections per parameter */

struct message_param {
	char *name;      /* lower-cased, without RFC 2231's "*" and section number */
	char *value;     /* unquoted; RFC 2231 sections joined and %XX decoded, charset
			    converted to UTF-8 (bytes that cannot be become U+FFFD) */
	size_t value_len;
};

/* A parsed Content-Type (TYPE/SUBTYPE) or Content-Disposition (TYPE only,
 * SUBTYPE NULL).  Everything is allocated and owned by the struct. */
struct message_content_type {
	char *type;      /* lower-cased: "text", "multipart"; "attachment", "inline" */
	char *subtype;   /* lower-cased: "plain", "mixed"; NULL for a disposition */
	struct message_param *params;
	size_t param_count;
	bool defaulted;  /* absent or invalid: the default was used (RFC 2045 5.2) */
};

/* message_content_type_parse - Content-Type VALUE[0..LEN) (folded or not):
 * type "/" subtype *(";" parameter), comments and quoted strings allowed,
 * RFC 2231 continuations ("name*0=", "name*1*=") and charset/language
 * ("name*=utf-8''%E2%82%AC") decoded; a later duplicate parameter is
 * ignored, and so is a malformed one (the others are kept).  Values are
 * not RFC 2047-decoded (callers may: some senders encode file names so).
 * VALUE NULL, or a type or subtype that is not a token: text/plain;
 * charset=us-ascii with DEFAULTED set (RFC 2045 5.2). */
void message_content_type_parse(const char *value, size_t len,
				struct message_content_type *ct_r);
/* message_content_type_default - text/plain; charset=us-ascii, or (DIGEST:
 * a part of a multipart/digest, RFC 2046 5.1.5) message/rfc822 */
void message_content_type_default(struct message_content_type *ct_r, bool digest);
/* message_disposition_parse - Content-Disposition VALUE[0..LEN) (RFC 2183):
 * as above with no subtype; false (and *CT_R empty) if VALUE is NULL or the
 * type is not a token */
bool message_disposition_parse(const char *value, size_t len, struct message_content_type *ct_r);
void message_content_type_free(struct message_content_type *ct);
/* message_param_get - the value of parameter NAME (lower-case), or NULL */
const char *message_param_get(const struct message_content_type *ct, const char *name);

/* ---- MIME: the structure of a message (RFC 2045, RFC 2046) ------------------ */

/* The structure parser is fed a message in pieces and returns a tree of
 * struct message_part.  Ownership: the caller owns the parser until
 * message_mime_parser_finish, and the tree it returns (message_part_free on
 * the root frees every part and everything a part points to).  Nothing in
 * the tree points into the bytes fed: a piece may be freed once fed, and
 * the offsets let a caller that kept the message (the spool file, an IMAP
 * mail file) read a part's header or body again.  Each part's header fields
 * point into its own header_data.  No I/O, no callbacks: a DKIM verifier or
 * an IMAP FETCH feeds the same bytes to its own consumers alongside.
 *
 * Limits of the structure parser; beyond them the rest of a part is an
 * opaque body, never an error: the message is still delivered as it came. */
struct message_mime_limits {
	unsigned max_depth;        /* nesting of multiparts and message/rfc822: 20 */
	unsigned max_parts;        /* parts in the tree, the message included: 1000 */
	size_t max_header_size;    /* bytes of one part's header section kept: 102400 */
};
#define MESSAGE_MIME_LIMITS_DEFAULT { 20, 1000, 102400 }
#define MESSAGE_MIME_BOUNDARY_MAX 200  /* RFC 2046 5.1.1 says 70; longer: not multipart */

/* One node of the tree: the message itself (the root), a body part of a
 * multipart, or the message inside a message/rfc822 part.  Offsets count
 * bytes of the stream fed to the parser from its first byte.
 *
 * header_offset + header_size == body_offset.  The header section includes
 * its empty line.  The body ends before the line break that precedes the
 * next boundary line (RFC 2046 5.1.1: it belongs to the boundary), or at the
 * end of the enclosing body.  body_lines counts the body's line feeds, plus
 * one if its last line has no line break (IMAP's body size in lines).
 * A multipart's body holds its preamble, its parts (children) and its
 * epilogue; a message/rfc822 part's body is its one child. */
struct message_part {
	struct message_part *parent;
	struct message_part *children;   /* first child */
	struct message_part *next;       /* next sibling */
	unsigned depth;                  /* the root is 0 */

	size_t header_offset, header_size;
	size_t body_offset, body_size;
	size_t body_lines;

	/* The header section as received (at most max_header_size bytes, whole
	 * lines) and its fields, which point into it. */
	char *header_data;
	size_t header_len;
	struct message_headers headers;
	bool header_truncated;           /* longer than max_header_size: fields lost */
	bool header_malformed;           /* ended by a line that was no field */

	struct message_content_type content_type;  /* defaulted when absent/invalid */
	struct message_content_type disposition;   /* type NULL when absent/invalid */
	enum message_encoding encoding;

	bool is_multipart;               /* children are its body parts */
	bool is_message;                 /* message/rfc822 (or global): one child */
	bool closed;                     /* multipart: its close delimiter was seen */
	bool limit_hit;                  /* depth or part limit: the body is opaque */
};

struct message_mime_parser;

/* message_mime_parser_create - LIMITS copied (NULL: the defaults) */
struct message_mime_parser *message_mime_parser_create(const struct message_mime_limits *limits);
/* message_mime_parser_feed - the next DATA[0..LEN) of the message; chunks of
 * any size, the same tree whatever the cut.  Keeps at most a line's first
 * bytes and the header sections (bounded), never the bodies. */
void message_mime_parser_feed(struct message_mime_parser *parser, const char *data, size_t len);
/* message_mime_parser_finish - the end of the message: every open part ends
 * there (a multipart without its close delimiter is tolerated: closed is
 * false).  Frees the parser, nulls *PARSER; returns the root, owned by the
 * caller (message_part_free). */
struct message_part *message_mime_parser_finish(struct message_mime_parser **parser);
/* message_part_free - the tree under *PART (which must be a root) */
void message_part_free(struct message_part **part);

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
	const char *note;               /* a line for people before it ("Message expired
					 * after 5 days in the queue."), or NULL */
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

/* dsn_duration_format - SECONDS for people, in the largest of days, hours,
 * minutes and seconds that divides it ("5 days", "1 hour", "90 seconds"),
 * NUL-terminated in OUT (SIZE bytes; 32 always suffice) */
void dsn_duration_format(unsigned seconds, char *out, size_t size);

#endif
