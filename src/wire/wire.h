/* wire - the SMTP wire format shared by the server (smtp/) and the client
 * (delivery/), and by the queue that stands between them: xtext (RFC 3461 4),
 * the DSN NOTIFY bits, enhanced status codes (RFC 3463) and a resumable parser
 * of SMTP replies (RFC 5321 4.2).  No I/O: unit tests and fuzz targets link
 * wire_sources alone.  Below smtp/, queue/ and delivery/; it uses util/ only.
 *
 * ---- xtext ----------------------------------------------------------------
 *
 * RFC 3461 4: xchar is "!" to "~" but "+" and "="; every other byte is "+HH"
 * (upper case hex; lower case tolerated when decoding).  A decoded NUL is
 * refused since the result is a C string.
 *
 * ---- replies --------------------------------------------------------------
 *
 * A reply is one or more lines "ddd-text" ending with a line "ddd text" (or
 * "ddd" alone); every line must carry the same code.  The enhanced status code
 * (RFC 2034, RFC 3463) is taken from the first line when it is well formed and
 * its class matches the reply code.
 *
 * Line ends: CRLF; a bare LF also ends a line (the CR before it is dropped):
 * replies are never relayed as mail, and refusing a server's bare-LF reply
 * would only turn good mail into retries.  (The server's command lines are
 * stricter, only CRLF ends them: see smtp/parse.h.)  Text is kept as received
 * except that bytes outside printable ASCII become '?', so reply text can go
 * into logs and DSNs as it is.
 *
 * Limits: a line of more than max_line bytes (counting its CRLF, with or
 * without the terminator having arrived) or a reply of more than max_lines
 * lines is an error; the caller then drops the connection (there is no way to
 * resynchronise with a server that does that).
 *
 * The parser owns its memory; a parsed reply is valid until the next
 * wire_reply_parser_feed/reset/free.
 */
#ifndef PETREL_WIRE_WIRE_H
#define PETREL_WIRE_WIRE_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"

/* ---- xtext (RFC 3461 4) ------------------------------------------------ */

/* wire_hex_value - the value of the hex digit C (either case), or -1 */
int wire_hex_value(char c);
/* wire_xtext_decode - decode S[0..LEN); NULL if malformed or if it decodes a
 * NUL.  Returns allocated memory: free() it. */
char *wire_xtext_decode(const char *s, size_t len);
/* wire_xtext_append - append the xtext of S[0..LEN) to OUT */
void wire_xtext_append(struct buf *out, const char *s, size_t len);
/* wire_xtext_encode - the xtext of S[0..LEN), allocated: free() it */
char *wire_xtext_encode(const char *s, size_t len);
/* wire_percent_decode - S[0..LEN) with each "%XX" decoded (RFC 3986 2.1:
 * an HTTP path or query value) into OUT (LEN + 1 octets at least),
 * NUL-terminated; false if a '%' is not followed by two hex digits or the
 * result holds a control character */
bool wire_percent_decode(const char *s, size_t len, char *out);

/* ---- DSN NOTIFY (RFC 3461 4.1) ----------------------------------------- */

#define WIRE_NOTIFY_NEVER   0x1u
#define WIRE_NOTIFY_SUCCESS 0x2u
#define WIRE_NOTIFY_FAILURE 0x4u
#define WIRE_NOTIFY_DELAY   0x8u

/* ---- replies (RFC 5321 4.2) -------------------------------------------- */

#define WIRE_REPLY_MAX_LINE 2048
#define WIRE_REPLY_MAX_LINES 100

struct wire_reply_limits {
	size_t max_line;   /* bytes per line including CRLF; 0 = WIRE_REPLY_MAX_LINE */
	size_t max_lines;  /* lines per reply; 0 = WIRE_REPLY_MAX_LINES */
};

struct wire_reply {
	int code;             /* 200..599 */
	char enhanced[16];    /* "5.1.1", or "" */
	struct buf text;      /* each line's text after "ddd-"/"ddd ", lines
				 separated by '\n' (never inside a line) */
	size_t lines;
};

struct wire_reply_parser {
	struct wire_reply_limits limits;
	struct buf line;      /* the current line, without its terminator */
	struct wire_reply reply;
	bool done;            /* a complete reply is in .reply */
};

void wire_reply_parser_init(struct wire_reply_parser *p,
			    const struct wire_reply_limits *limits);
/* wire_reply_parser_reset - forget the current reply, start the next */
void wire_reply_parser_reset(struct wire_reply_parser *p);
void wire_reply_parser_free(struct wire_reply_parser *p);

/* wire_reply_parser_feed - parse DATA[0..LEN); *consumed_r tells how much
 * was used.  Returns 1 when a reply is complete (in p->reply; bytes after it
 * are not consumed; call wire_reply_parser_reset before feeding more),
 * 0 when all input was consumed and more is needed, -1 on a malformed or
 * oversized reply (*error_r says which; static text). */
int wire_reply_parser_feed(struct wire_reply_parser *p, const char *data,
			   size_t len, size_t *consumed_r, const char **error_r);

/* wire_reply_format - "550 5.1.1 text / 550 5.1.1 more", allocated */
char *wire_reply_format(const struct wire_reply *reply);

/* wire_enhanced_parse - a well-formed "c.sss.ddd" at S[0..LEN) followed by
 * the end or a space; copies it to OUT (16 bytes) and returns its length, or 0 */
size_t wire_enhanced_parse(const char *s, size_t len, char out[16]);

#endif
