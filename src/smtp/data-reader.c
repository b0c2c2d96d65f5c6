/* smtp/data-reader - the DATA body: dot-unstuffing, end detection, counting.
 *
 * RFC 5321 4.1.1.4 and 4.5.2.  The reader is a byte-at-a-time state machine
 * whose whole state lives in struct smtp_data_reader, so any split of the
 * input gives the same output and findings.  Only CRLF "." CRLF ends the
 * data (RFC 5321 2.3.8; the SMTP smuggling defence): after a bare LF or a
 * bare CR we are not at the start of a line, so a "." there is neither
 * stuffing nor an end.  The DATA command's own CRLF counts as the CRLF before
 * the first line, so a body of just "." CRLF is empty.
 *
 * A CR is held back until the next byte shows whether it starts a CRLF; a
 * "." at the start of a line is held until we know whether it ends the data.
 *
 * BDAT bodies (RFC 3030 2) go through the same machine with raw set: no
 * stuffing and no end line, so that both commands make the same checks
 * (bare CR and LF, NUL, 8-bit, line length) with one tested, fuzzed code.
 *
 * For the line length limit a bare LF does end a line: with bare_newline =
 * accept, mail written with Unix line ends is common and its lines are short,
 * while the data as a whole is one long run without CRLF.
 */
#include "smtp/parse.h"

#include <string.h>

enum data_state {
	DATA_LINE_START = 0,  /* after CRLF (or at the start of the body) */
	DATA_DOT,             /* "." at line start, dropped (stuffing or end) */
	DATA_DOT_CR,          /* "." CR at line start: end if LF follows */
	DATA_TEXT,            /* inside a line */
	DATA_CR,              /* inside a line, CR held */
	DATA_DONE,            /* CRLF "." CRLF seen */
};

static void data_emit(struct smtp_data_reader *reader, struct buf *out,
		      const char *data, size_t len);
static void data_flag_byte(struct smtp_data_reader *reader, unsigned char c);

/* data_emit - count message bytes; keep them while under max_size */
static void data_emit(struct smtp_data_reader *reader, struct buf *out,
		      const char *data, size_t len)
{
	if (reader->size < reader->max_size) {
		uint64_t room = reader->max_size - reader->size;
		buf_append(out, data, len < room ? len : (size_t)room);
	}
	reader->size += len;
	if (reader->size > reader->max_size)
		reader->too_big = true;
}

/* data_flag_byte - line length and byte findings for one wire byte */
static void data_flag_byte(struct smtp_data_reader *reader, unsigned char c)
{
	/* RFC 5321 4.5.3.1.6: a text line is at most 1000 octets with CRLF;
	 * counted on the wire, stuffing dot included. */
	reader->line_len++;
	if (reader->max_line != 0 && reader->line_len > reader->max_line)
		reader->line_too_long = true;
	if (c == '\0')
		reader->nul = true;
	else if (c >= 0x80)
		reader->eight_bit = true;
}

void smtp_data_reader_init(struct smtp_data_reader *reader, size_t max_size,
			   size_t max_line)
{
	memset(reader, 0, sizeof(*reader));
	reader->max_size = max_size;
	reader->max_line = max_line;
	reader->state = DATA_LINE_START;
}

/* smtp_data_feed - run IN through the state machine until CRLF.CRLF */
int smtp_data_feed(struct smtp_data_reader *reader, const char *in, size_t len,
		   size_t *consumed_r, struct buf *out)
{
	size_t i = 0;

	if (reader->state == DATA_DONE) {
		*consumed_r = 0;
		return 1;
	}
	while (i < len) {
		unsigned char c = (unsigned char)in[i];

		if (reader->state == DATA_TEXT) {
			/* Fast path: a run of bytes with no CR or LF. */
			size_t run = i;
			while (run < len && in[run] != '\r' && in[run] != '\n') {
				data_flag_byte(reader, (unsigned char)in[run]);
				run++;
			}
			if (run > i) {
				data_emit(reader, out, in + i, run - i);
				i = run;
				continue;
			}
		}
		data_flag_byte(reader, c);
		i++;

		switch (reader->state) {
		case DATA_LINE_START:
			if (c == '.' && !reader->raw) {
				reader->state = DATA_DOT;
				break;
			}
			goto text;  /* an ordinary first byte */
		case DATA_TEXT:
		text:
			if (c == '\r') {
				reader->state = DATA_CR;
			} else {
				if (c == '\n') {
					/* never an end of data, but an end of
					 * line for the length limit */
					reader->bare_lf = true;
					reader->line_len = 0;
				}
				data_emit(reader, out, (const char *)&in[i - 1], 1);
				reader->state = DATA_TEXT;
			}
			break;
		case DATA_DOT:
			/* RFC 5321 4.5.2: the leading dot is dropped. */
			if (c == '\r') {
				reader->state = DATA_DOT_CR;
				break;
			}
			goto text;
		case DATA_DOT_CR:
			if (c == '\n') {
				reader->state = DATA_DONE;
				*consumed_r = i;
				return 1;
			}
			reader->bare_cr = true;
			data_emit(reader, out, "\r", 1);
			goto text;
		case DATA_CR:
			if (c == '\n') {
				data_emit(reader, out, "\r\n", 2);
				reader->line_len = 0;
				reader->state = DATA_LINE_START;
				break;
			}
			reader->bare_cr = true;
			data_emit(reader, out, "\r", 1);
			goto text;
		default:
			break;
		}
	}
	*consumed_r = len;
	return 0;
}

/* smtp_data_finish - a raw body ends: emit and flag a held CR */
void smtp_data_finish(struct smtp_data_reader *reader, struct buf *out)
{
	if (reader->state == DATA_CR) {
		reader->bare_cr = true;
		data_emit(reader, out, "\r", 1);
		reader->state = DATA_TEXT;
	}
}
