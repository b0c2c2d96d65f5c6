/* pop3/parse - the POP3 server's parsing of client input and the writing of
 * multi-line responses, with no I/O (RFC 1939, RFC 2449 CAPA, RFC 2595 STLS,
 * RFC 5034 AUTH, RFC 6856 UTF8).
 *
 * A command is one CRLF-terminated line: a keyword of 3 or 4 letters in
 * any case, then arguments separated by single spaces (RFC 1939 3; RFC
 * 2449 4 raises their length to 255 octets and the line's to 255 octets
 * with its CRLF).  Each verb's argument count is checked here, so the
 * session only checks the state.  PASS takes the rest of the line as one
 * argument: passwords may hold spaces (RFC 1939 7).
 *
 * The message writer streams a stored message (CRLF lines) into the body
 * of a RETR or TOP response: lines starting with "." get another one
 * (RFC 1939 3), a last line without its CRLF gets one, and TOP stops after
 * the header section and N lines of the body (RFC 1939 7).  The caller adds
 * the final ".\r\n".
 */
#ifndef PETREL_POP3_PARSE_H
#define PETREL_POP3_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;

#define POP3_LINE_MAX 255   /* a command line with its CRLF (RFC 2449 4) */
#define POP3_ARG_MAX 255    /* one argument (RFC 2449 4) */

enum pop3_verb {
	POP3_VERB_UNKNOWN = 0,
	POP3_VERB_USER, POP3_VERB_PASS, POP3_VERB_AUTH, POP3_VERB_STLS, POP3_VERB_CAPA,
	POP3_VERB_STAT, POP3_VERB_LIST, POP3_VERB_RETR, POP3_VERB_DELE, POP3_VERB_NOOP,
	POP3_VERB_RSET, POP3_VERB_TOP, POP3_VERB_UIDL, POP3_VERB_QUIT, POP3_VERB_UTF8,
};

struct pop3_command {
	enum pop3_verb verb;
	const char *args[2];  /* into the line, not NUL-terminated */
	size_t arg_lens[2];
	unsigned argc;
};

/* pop3_command_parse - LINE[0..LEN) without its CRLF.  0, or -1 and
 * *ERROR_R (static text for "-ERR TEXT"): an empty line, an unknown
 * keyword, a wrong number of arguments, an empty or overlong argument, or
 * control characters.  Pointers in *CMD_R point into LINE. */
int pop3_command_parse(const char *line, size_t len, struct pop3_command *cmd_r,
		       const char **error_r);

/* pop3_number_parse - S[0..LEN) as a message number (1..UINT32_MAX-1,
 * decimal, no sign, RFC 1939 msg) or, with ZERO_OK, a count of lines
 * (TOP's n: 0 allowed); 0 or -1 */
int pop3_number_parse(const char *s, size_t len, bool zero_ok, uint32_t *n_r);

/* The writer of a message into a multi-line response. */
struct pop3_writer {
	bool line_start;      /* the next octet begins a line */
	uint64_t line_len;    /* octets of the current line so far */
	bool cr;              /* the last octet was a CR (its LF may follow) */
	bool in_body;         /* past the header section's empty line */
	bool top;             /* TOP: stop after body_lines lines of the body */
	uint32_t body_lines;  /* TOP: body lines still to write */
	bool done;            /* TOP has written all it must */
};

/* pop3_writer_init - for RETR (TOP false) or TOP with LINES body lines */
void pop3_writer_init(struct pop3_writer *w, bool top, uint32_t lines);
/* pop3_writer_feed - the next DATA[0..LEN) of the message, dot-stuffed
 * into OUT; chunks may end anywhere.  A bare LF or bare CR is written as
 * it is (the stored message has CRLF line ends). */
void pop3_writer_feed(struct pop3_writer *w, const char *data, size_t len, struct buf *out);
/* pop3_writer_finish - end the last line if it had no CRLF, then ".\r\n" */
void pop3_writer_finish(struct pop3_writer *w, struct buf *out);

#endif
