/* smtp/parse - the SMTP server's parsers of network input, with no I/O.
 *
 * Everything here works on bytes handed in by the caller, is resumable at any
 * byte where it says so, never reads past the length it is given (no strlen on
 * wire data), and reports errors as a reply code, an enhanced status code and a
 * text that the session sends as is.  Used by smtp/session, the unit tests and
 * the fuzz targets.
 *
 * Line ends (RFC 5321 2.3.8): only CRLF ends a line.  A bare LF or bare CR is
 * never a line end; it is a byte of the line and is flagged so the caller can
 * reject the command or the message.
 */
#ifndef PETREL_SMTP_PARSE_H
#define PETREL_SMTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "wire/wire.h"

/* An error to send: "CODE ENHANCED TEXT". */
struct smtp_error {
	int code;             /* 500, 501, 552, 553, 555 ... */
	const char *enhanced; /* "5.5.2" */
	const char *text;     /* static string */
};

/* ---- command lines ---------------------------------------------------- */

enum smtp_line_status {
	SMTP_LINE_NEED_MORE = 0,  /* no CRLF yet and under the limit */
	SMTP_LINE_OK = 1,         /* a complete line, CRLF stripped */
	SMTP_LINE_TOO_LONG = 2,   /* over the limit; skip to the next CRLF */
};

/* smtp_line_find - find the first CRLF-terminated line in DATA[0..LEN).
 * MAX is the longest line including CRLF.  On SMTP_LINE_OK, *line_len_r is the
 * length without CRLF and *consumed_r includes CRLF.  On SMTP_LINE_TOO_LONG,
 * *consumed_r is how many bytes to discard: up to and including the CRLF if one
 * is in DATA, otherwise all of LEN but a final CR (it may begin the CRLF); the
 * caller keeps discarding (calling smtp_line_skip) until the CRLF arrives, then
 * replies once.  TOO_LONG is decided on the line's bytes alone, so it comes
 * whether or not the CRLF has arrived.  *flags_r gets
 * SMTP_LINE_BARE_LF / SMTP_LINE_BARE_CR / SMTP_LINE_NUL if the line has them. */
#define SMTP_LINE_BARE_LF 0x1u
#define SMTP_LINE_BARE_CR 0x2u
#define SMTP_LINE_NUL     0x4u
enum smtp_line_status smtp_line_find(const char *data, size_t len, size_t max,
				     size_t *line_len_r, size_t *consumed_r,
				     unsigned *flags_r);
/* smtp_line_skip - while discarding an overlong line: bytes of DATA to drop;
 * returns true when the CRLF was found (the drop includes it).  A CR at the very
 * end of DATA is not consumed, so that a CRLF split across reads is found. */
bool smtp_line_skip(const char *data, size_t len, size_t *consumed_r);

enum smtp_verb {
	SMTP_VERB_UNKNOWN = 0,
	SMTP_VERB_HELO, SMTP_VERB_EHLO, SMTP_VERB_MAIL, SMTP_VERB_RCPT,
	SMTP_VERB_DATA, SMTP_VERB_BDAT, SMTP_VERB_RSET, SMTP_VERB_NOOP,
	SMTP_VERB_QUIT, SMTP_VERB_VRFY, SMTP_VERB_EXPN, SMTP_VERB_HELP,
	SMTP_VERB_STARTTLS, SMTP_VERB_AUTH,
};

struct smtp_command {
	enum smtp_verb verb;
	const char *name;  /* the verb as sent, in LINE; name_len bytes */
	size_t name_len;
	const char *args;  /* after the verb and one SP, in LINE; may be empty */
	size_t args_len;
};

/* smtp_command_parse - split a line (no CRLF) into verb and arguments; case
 * insensitive verb.  The verb ends at the first SP; all spaces after it and
 * trailing spaces are dropped from args.  Returns 0, or -1 with *error_r
 * (500 5.5.2 for an empty line, a line starting with SP, or a verb with
 * control or non-ASCII bytes).  An unknown verb (or one over 20 bytes) is not
 * an error here: verb = UNKNOWN. */
int smtp_command_parse(const char *line, size_t len, struct smtp_command *cmd_r,
		       struct smtp_error *error_r);

/* ---- addresses (RFC 5321 4.1.2, RFC 6531) ----------------------------- */

struct smtp_path {
	char *address;     /* "local@domain" as it should be stored, NUL-terminated;
			      "" for the null path <>; quoted local parts keep quotes.
			      Allocated, owned by the struct; free with smtp_path_clear */
	size_t local_len;  /* length of the local part in address (before '@') */
	const char *domain;/* points into address after '@'; "" for <> and for
			      <Postmaster> without a domain */
	bool is_utf8;      /* has non-ASCII bytes (needs SMTPUTF8) */
};
void smtp_path_clear(struct smtp_path *path);

#define SMTP_PATH_ALLOW_NULL 0x1u  /* MAIL FROM:<> */
#define SMTP_PATH_ALLOW_UTF8 0x2u  /* SMTPUTF8 given on MAIL FROM */
#define SMTP_PATH_POSTMASTER 0x4u  /* RCPT TO:<Postmaster> without domain */
#define SMTP_PATH_SENDER     0x8u  /* errors are about the sender (5.1.7),
				      else about a recipient (5.1.3) */
/* smtp_path_parse - parse "<...>" at the start of S[0..LEN): optional source
 * route "@a,@b:" (ignored, RFC 5321 C), dot-string or quoted-string local part,
 * domain or address literal ([1.2.3.4], [IPv6:...]).  UTF-8 accepted (and
 * validated as UTF-8) only with SMTP_PATH_ALLOW_UTF8.  Limits: local part 64,
 * domain 255, path 256 octets (RFC 5321 4.5.3.1).  On success fills *path_r,
 * sets *consumed_r to the bytes up to and including '>' and returns 0; else -1
 * and *error_r: 501 5.1.7 (with SMTP_PATH_SENDER) or 501 5.1.3 for bad syntax,
 * a path too long or a refused <>; 553 5.6.7 for a path that is valid only
 * with SMTPUTF8 when ALLOW_UTF8 is not given (RFC 6531 3.7.4.1).  Address
 * literals: IPv4 and IPv6 only. */
int smtp_path_parse(const char *s, size_t len, unsigned flags,
		    struct smtp_path *path_r, size_t *consumed_r,
		    struct smtp_error *error_r);

/* smtp_helo_is_valid - S[0..LEN) is what RFC 5321 4.1.4 allows after HELO
 * and EHLO: a Domain (U-labels accepted, RFC 6531 3.7.1; no trailing dot)
 * or an IPv4 or "IPv6:" address literal.  The whole argument: nothing
 * may follow it. */
bool smtp_helo_is_valid(const char *s, size_t len);

/* ---- MAIL and RCPT parameters (RFC 1870, 6152, 6531, 3461, 3030, 4954) - */

enum smtp_body { SMTP_BODY_UNSPECIFIED = 0, SMTP_BODY_7BIT, SMTP_BODY_8BITMIME,
		 SMTP_BODY_BINARYMIME };
enum smtp_ret { SMTP_RET_UNSPECIFIED = 0, SMTP_RET_FULL, SMTP_RET_HDRS };

struct smtp_mail_params {
	uint64_t size;          /* 0 = not given */
	enum smtp_body body;
	bool smtputf8;
	enum smtp_ret ret;
	char *envid;            /* decoded xtext, allocated or NULL */
	char *auth;             /* AUTH=<mailbox> as given (xtext decoded), or NULL */
	bool junk;              /* X-PETREL-JUNK: the node that received the message
				   put it in Junk (DMARC quarantine); the caller
				   takes it from Petrel's nodes only */
};
struct smtp_rcpt_params {
	unsigned notify;        /* WIRE_NOTIFY_* bits (wire/wire.h); 0 = not given */
	char *orcpt;            /* "type;addr", type as sent ("rfc822" or
				   "utf-8", any case), addr decoded from xtext
				   (RFC 3461) or utf-8-addr (RFC 6533, to
				   UTF-8); or NULL */
};
void smtp_mail_params_clear(struct smtp_mail_params *params);
void smtp_rcpt_params_clear(struct smtp_rcpt_params *params);

/* smtp_mail_args_parse - parse the arguments of MAIL ("FROM:<path> params").
 * Leading "FROM:" is case insensitive (else 501 5.5.4); spaces after the colon
 * are tolerated.  Unknown parameters: 555 5.5.4.  Repeated parameters and
 * malformed values: 501 5.5.4.  UTF8 addresses are allowed only when SMTPUTF8
 * is among the parameters (else 553 5.6.7).  Returns 0, or -1 with *error_r
 * and nothing left to free in *path_r and *params_r. */
int smtp_mail_args_parse(const char *args, size_t len, struct smtp_path *path_r,
			 struct smtp_mail_params *params_r,
			 struct smtp_error *error_r);
/* smtp_rcpt_args_parse - "TO:<path> params"; ALLOW_UTF8 if the transaction
 * has SMTPUTF8.  <Postmaster> (any case, no domain) is accepted; <> is not.
 * Errors as for MAIL, with 5.1.3 for the path.  On -1 nothing is left to
 * free in *path_r and *params_r. */
int smtp_rcpt_args_parse(const char *args, size_t len, bool allow_utf8,
			 struct smtp_path *path_r, struct smtp_rcpt_params *params_r,
			 struct smtp_error *error_r);

/* smtp_bdat_args_parse - "SIZE [LAST]" (RFC 3030); 501 5.5.4 if malformed */
int smtp_bdat_args_parse(const char *args, size_t len, uint64_t *size_r,
			 bool *last_r, struct smtp_error *error_r);

/* ---- DATA: streaming dot-unstuffing reader ---------------------------- */

struct smtp_data_reader {
	/* limits, set by the caller before feeding */
	size_t max_size;     /* message bytes kept; beyond that only counted */
	size_t max_line;     /* octets incl. CRLF (1000), counted on the wire
				with any stuffing dot; a bare LF also ends a
				line for this count; 0 = no limit */
	bool raw;            /* a BDAT body (RFC 3030 2): no dot-stuffing and
				no end line; the same findings as DATA; end
				it with smtp_data_finish */
	/* state */
	int state;           /* private */
	size_t line_len;     /* bytes in the current line so far */
	uint64_t size;       /* unstuffed bytes seen (counted past max_size too) */
	/* findings, valid once done */
	bool too_big;        /* size > max_size: reply 552 5.3.4 */
	bool line_too_long;  /* a line over max_line: reply 500 5.5.2? see session */
	bool bare_lf;        /* a LF not preceded by CR */
	bool bare_cr;        /* a CR not followed by LF */
	bool nul;            /* a NUL byte */
	bool eight_bit;      /* a byte >= 0x80 */
};

/* smtp_data_reader_init - set limits, reset state */
void smtp_data_reader_init(struct smtp_data_reader *reader, size_t max_size,
			   size_t max_line);
/* smtp_data_feed - consume IN[0..LEN) of a DATA body: remove dot-stuffing
 * (RFC 5321 4.5.2), append the message to OUT (never more than max_size bytes
 * in total), stop at CRLF.CRLF.  Returns 1 when the end-of-data line was seen
 * (*consumed_r counts up to and including its CRLF; bytes after it are the
 * next command, pipelined), 0 when all of LEN was consumed and more is needed.
 * The terminating CRLF.CRLF is not part of the message; the CRLF before the
 * dot is.  Only CRLF.CRLF ends the data: LF.LF, LF.CRLF, CR.CR and the like
 * are message bytes and set bare_lf/bare_cr.  With raw set, a "." is an
 * ordinary byte: all of LEN is message and it returns 0. */
int smtp_data_feed(struct smtp_data_reader *reader, const char *in, size_t len,
		   size_t *consumed_r, struct buf *out);
/* smtp_data_finish - the end of a raw (BDAT) body: a CR still held back is a
 * bare CR and a byte of the message. */
void smtp_data_finish(struct smtp_data_reader *reader, struct buf *out);

#endif
