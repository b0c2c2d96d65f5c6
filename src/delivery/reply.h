/* delivery/reply - a resumable parser of SMTP replies (RFC 5321 4.2), for the
 * outbound client.  Internal to src/delivery (and its tests and fuzz target).
 *
 * A reply is one or more lines "ddd-text" ending with a line "ddd text" (or
 * "ddd" alone); every line must carry the same code.  The enhanced status code
 * (RFC 2034, RFC 3463) is taken from the first line when it is well formed and
 * its class matches the reply code.
 *
 * Line ends: CRLF; a bare LF also ends a line (the CR before it is dropped):
 * replies are never relayed as mail, and refusing a server's bare-LF reply
 * would only turn good mail into retries.  Text is kept as received except
 * that bytes outside printable ASCII become '?', so reply text can go into
 * logs and DSNs as it is.
 *
 * Limits: a line of more than max_line bytes (counting its CRLF, with or
 * without the terminator having arrived) or a reply of more than max_lines
 * lines is an error; the caller then drops the connection (there is no way to
 * resynchronise with a server that does that).
 *
 * The parser owns its memory; a parsed reply is valid until the next
 * delivery_reply_parser_feed/reset/free.
 */
#ifndef PETREL_DELIVERY_REPLY_H
#define PETREL_DELIVERY_REPLY_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"

#define DELIVERY_REPLY_MAX_LINE 2048
#define DELIVERY_REPLY_MAX_LINES 100

struct delivery_reply_limits {
	size_t max_line;   /* bytes per line including CRLF; 0 = DELIVERY_REPLY_MAX_LINE */
	size_t max_lines;  /* lines per reply; 0 = DELIVERY_REPLY_MAX_LINES */
};

struct delivery_reply {
	int code;             /* 200..599 */
	char enhanced[16];    /* "5.1.1", or "" */
	struct buf text;      /* each line's text after "ddd-"/"ddd ", lines
				 separated by '\n' (never inside a line) */
	size_t lines;
};

struct delivery_reply_parser {
	struct delivery_reply_limits limits;
	struct buf line;      /* the current line, without its terminator */
	struct delivery_reply reply;
	bool done;            /* a complete reply is in .reply */
};

void delivery_reply_parser_init(struct delivery_reply_parser *p,
				const struct delivery_reply_limits *limits);
/* delivery_reply_parser_reset - forget the current reply, start the next */
void delivery_reply_parser_reset(struct delivery_reply_parser *p);
void delivery_reply_parser_free(struct delivery_reply_parser *p);

/* delivery_reply_parser_feed - parse DATA[0..LEN); *consumed_r tells how much
 * was used.  Returns 1 when a reply is complete (in p->reply; bytes after it
 * are not consumed; call delivery_reply_parser_reset before feeding more),
 * 0 when all input was consumed and more is needed, -1 on a malformed or
 * oversized reply (*error_r says which; static text). */
int delivery_reply_parser_feed(struct delivery_reply_parser *p, const char *data,
			       size_t len, size_t *consumed_r, const char **error_r);

/* delivery_reply_format - "550 5.1.1 text / 550 5.1.1 more", allocated */
char *delivery_reply_format(const struct delivery_reply *reply);

/* delivery_enhanced_parse - a well-formed "c.sss.ddd" at S[0..LEN) followed by
 * the end or a space; copies it to OUT (16 bytes) and returns its length, or 0 */
size_t delivery_enhanced_parse(const char *s, size_t len, char out[16]);

#endif
