/* imap/parse-reader - where an IMAP command ends: lines and the literals
 * between them (RFC 9051 2.2, 4.3; RFC 7888 LITERAL+; RFC 3516 literal8).
 *
 * The command's bytes go into one buffer as they come.  A line is done at
 * its CRLF; if it ends in a literal announcement the reader counts that
 * many octets into the buffer and goes on with the next line of the same
 * command.  Everything is bounded: the octets outside literals, each
 * literal, the literals' count and the whole command.
 *
 * A command over a limit is refused at once (the session replies while the
 * client may still be sending), and what the client still sends of it is
 * skipped: the rest of an overlong line, a non-synchronizing literal the
 * reader refused (the client sends it anyway, RFC 7888 4), and any line
 * after it.  A refused synchronizing literal needs no skipping: its client
 * waits for a continuation request that never comes, and the command ends
 * there.  While skipping, the last octets of each line are kept to see
 * whether it announces another literal to skip.
 */
#include <stdlib.h>
#include <string.h>

#include "imap/parse.h"
#include "util/buf.h"
#include "util/xalloc.h"

#define MARKER_TAIL 32   /* longest "~{N+}" with N of 20 digits, and room */
#define NUMBER_DIGITS_MAX 19   /* RFC 9051 9 number64: up to 2^63-1 */

enum reader_state {
	READER_LINE,          /* in a line of the command */
	READER_LITERAL,       /* in a literal of the command */
	READER_SKIP_LINE,     /* dropping the rest of a refused command's line */
	READER_SKIP_LITERAL,  /* dropping a refused command's literal */
};

struct imap_reader {
	struct imap_reader_limits limits;
	enum reader_state state;
	struct buf command;        /* the command's bytes so far */
	size_t line_start;         /* in COMMAND: where the current line starts */
	size_t outside;            /* octets of the command outside literals */
	unsigned literals;
	uint64_t remaining;        /* LITERAL / SKIP_LITERAL: octets still to come */
	bool done;                 /* COMMAND or REFUSED given: waiting for next() */
	enum reader_state after;   /* the state next() starts in */
	const char *error;
	bool too_big;
	char *tag;
	char tail[MARKER_TAIL];    /* SKIP_LINE: the last octets of the line */
	size_t tail_len;
	bool tail_cr;              /* SKIP_LINE: the last octet seen was CR */
};

struct literal_marker {
	uint64_t size;
	bool sync;
};

static enum imap_read reader_line(struct imap_reader *r, const char *data, size_t len,
				  size_t *used_r);
static enum imap_read reader_line_end(struct imap_reader *r);
static enum imap_read reader_refuse(struct imap_reader *r, const char *error, bool too_big,
				    enum reader_state after);
static size_t reader_literal(struct imap_reader *r, const char *data, size_t len);
static enum imap_read reader_skip_line(struct imap_reader *r, const char *data, size_t len,
				       size_t *used_r);
static void skip_line_start(struct imap_reader *r);
static int marker_find(const char *line, size_t len, struct literal_marker *marker_r);
static char *tag_find(const char *line, size_t len);

struct imap_reader *imap_reader_new(const struct imap_reader_limits *limits)
{
	struct imap_reader *r = xcalloc(1, sizeof(*r));
	r->limits = *limits;
	if (r->limits.line_max == 0)
		r->limits.line_max = IMAP_LINE_MAX_DEFAULT;
	if (r->limits.literals_max == 0)
		r->limits.literals_max = IMAP_LITERALS_MAX_DEFAULT;
	if (r->limits.command_max < r->limits.line_max)
		r->limits.command_max = r->limits.line_max;
	buf_init(&r->command);
	return r;
}

void imap_reader_free(struct imap_reader **reader)
{
	struct imap_reader *r = *reader;
	if (r == NULL)
		return;
	*reader = NULL;
	buf_free(&r->command);
	free(r->tag);
	free(r);
}

enum imap_read imap_reader_feed(struct imap_reader *r, const char *data, size_t len,
				size_t *used_r)
{
	size_t used = 0;
	if (r->done)
		abort();  /* the caller must call imap_reader_next first */
	while (used < len) {
		size_t n = 0;
		enum imap_read ev = IMAP_READ_MORE;
		switch (r->state) {
		case READER_LINE:
			ev = reader_line(r, data + used, len - used, &n);
			break;
		case READER_LITERAL:
			n = reader_literal(r, data + used, len - used);
			if (r->remaining == 0)
				r->state = READER_LINE;
			break;
		case READER_SKIP_LITERAL:
			n = len - used < r->remaining ? len - used : (size_t)r->remaining;
			r->remaining -= n;
			if (r->remaining == 0) {
				r->state = READER_SKIP_LINE;
				r->tail_len = 0;
				r->tail_cr = false;
			}
			break;
		case READER_SKIP_LINE:
			ev = reader_skip_line(r, data + used, len - used, &n);
			break;
		}
		used += n;
		if (ev != IMAP_READ_MORE) {
			*used_r = used;
			return ev;
		}
	}
	*used_r = used;
	return IMAP_READ_MORE;
}

/* reader_line - octets of a line up to its CRLF, within line_max */
static enum imap_read reader_line(struct imap_reader *r, const char *data, size_t len,
				  size_t *used_r)
{
	/* the CRLF may straddle two feeds: look for LF, check the octet before */
	const char *lf = memchr(data, '\n', len);
	size_t take = lf ? (size_t)(lf - data) + 1 : len;
	size_t room = r->limits.line_max - r->outside;
	/* after a literal the whole command's limit may be the nearer one;
	 * it also keeps command.len <= command_max for reader_line_end */
	bool whole = r->limits.command_max - r->command.len < room;
	if (whole)
		room = r->limits.command_max - r->command.len;
	if (take > room) {
		/* over the limit with or without its CRLF in sight (STYLE: the
		 * same error either way); keep the start for the tag */
		buf_append(&r->command, data, room);
		*used_r = room;
		r->tag = tag_find(r->command.data, r->command.len);
		skip_line_start(r);
		return reader_refuse(r, whole ? "Command too long" : "Command line too long", false,
				     READER_SKIP_LINE);
	}
	buf_append(&r->command, data, take);
	r->outside += take;
	*used_r = take;
	size_t end = r->command.len;
	if (lf == NULL || end - r->line_start < 2 || r->command.data[end - 2] != '\r')
		return IMAP_READ_MORE;
	return reader_line_end(r);
}

/* reader_line_end - a line is complete: the command ends, or a literal follows */
static enum imap_read reader_line_end(struct imap_reader *r)
{
	const char *line = r->command.data + r->line_start;
	size_t len = r->command.len - r->line_start - 2;
	struct literal_marker m;
	if (marker_find(line, len, &m) < 0) {
		r->done = true;
		r->after = READER_LINE;
		return IMAP_READ_COMMAND;
	}
	enum reader_state skip = m.sync ? READER_LINE : READER_SKIP_LITERAL;
	r->remaining = m.size;
	if (r->literals == r->limits.literals_max) {
		r->tag = tag_find(r->command.data, r->command.len);
		return reader_refuse(r, "Too many literals in one command", false, skip);
	}
	if (m.size > r->limits.literal_max ||
	    m.size > r->limits.command_max - r->command.len) {
		r->tag = tag_find(r->command.data, r->command.len);
		return reader_refuse(r, "Literal too big", true, skip);
	}
	r->literals++;
	r->line_start = r->command.len + (size_t)m.size;
	if (m.size > 0)
		r->state = READER_LITERAL;
	return m.sync ? IMAP_READ_CONTINUE : IMAP_READ_MORE;
}

/* reader_refuse - the command is refused; next() goes on in AFTER */
static enum imap_read reader_refuse(struct imap_reader *r, const char *error, bool too_big,
				    enum reader_state after)
{
	r->error = error;
	r->too_big = too_big;
	r->done = true;
	r->after = after;
	return IMAP_READ_REFUSED;
}

/* reader_literal - literal octets into the command */
static size_t reader_literal(struct imap_reader *r, const char *data, size_t len)
{
	size_t n = len < r->remaining ? len : (size_t)r->remaining;
	buf_append(&r->command, data, n);
	r->remaining -= n;
	return n;
}

/* reader_skip_line - drop octets up to the CRLF, keeping the line's tail */
static enum imap_read reader_skip_line(struct imap_reader *r, const char *data, size_t len,
				       size_t *used_r)
{
	for (size_t i = 0; i < len; i++) {
		char c = data[i];
		if (c == '\n' && r->tail_cr) {
			*used_r = i + 1;
			struct literal_marker m;
			/* the tail holds the CR last: the marker is before it */
			if (marker_find(r->tail, r->tail_len - 1, &m) == 0 && !m.sync) {
				r->remaining = m.size;
				r->state = m.size > 0 ? READER_SKIP_LITERAL : READER_SKIP_LINE;
				r->tail_len = 0;
				r->tail_cr = false;
				return IMAP_READ_MORE;
			}
			r->state = READER_LINE;
			return IMAP_READ_MORE;
		}
		r->tail_cr = c == '\r';
		if (r->tail_len == MARKER_TAIL) {
			memmove(r->tail, r->tail + 1, MARKER_TAIL - 1);
			r->tail_len--;
		}
		r->tail[r->tail_len++] = c;
	}
	*used_r = len;
	return IMAP_READ_MORE;
}

/* skip_line_start - the rest of the current line is to be dropped: its
 * tail so far seeds the one the skipping keeps, so that a literal marker
 * cut in two by the limit is still seen */
static void skip_line_start(struct imap_reader *r)
{
	size_t n = r->command.len - r->line_start;
	if (n > MARKER_TAIL)
		n = MARKER_TAIL;
	memcpy(r->tail, r->command.data + r->command.len - n, n);
	r->tail_len = n;
	r->tail_cr = n > 0 && r->tail[n - 1] == '\r';
}

/* marker_find - LINE[0..LEN) (no CRLF) ends in "{N}", "{N+}", "~{N}" or
 * "~{N+}": 0 and *MARKER_R, else -1 */
static int marker_find(const char *line, size_t len, struct literal_marker *marker_r)
{
	if (len < 3 || line[len - 1] != '}')
		return -1;
	size_t end = len - 1;
	bool sync = true;
	if (line[end - 1] == '+') {
		sync = false;
		end--;
	}
	size_t start = end;
	while (start > 0 && line[start - 1] >= '0' && line[start - 1] <= '9')
		start--;
	if (start == end || end - start > NUMBER_DIGITS_MAX || start == 0 ||
	    line[start - 1] != '{')
		return -1;
	uint64_t size = 0;
	for (size_t i = start; i < end; i++)
		size = size * 10 + (uint64_t)(line[i] - '0');
	if (size > INT64_MAX)
		return -1;
	marker_r->size = size;
	marker_r->sync = sync;
	return 0;
}

/* tag_find - a copy of the tag that begins LINE, if it is a valid one
 * followed by a space (RFC 9051 9: tag = 1*<any ASTRING-CHAR except "+">) */
static char *tag_find(const char *line, size_t len)
{
	size_t i = 0;
	while (i < len && imap_tag_char_is_valid(line[i]))
		i++;
	if (i == 0 || i == len || line[i] != ' ')
		return NULL;
	return xstrndup(line, i);
}

char *imap_reader_command(struct imap_reader *r, size_t *len_r)
{
	*len_r = r->command.len;
	return r->command.data ? r->command.data : (char *)"";
}

const char *imap_reader_error(const struct imap_reader *r)
{
	return r->error;
}

bool imap_reader_too_big(const struct imap_reader *r)
{
	return r->too_big;
}

const char *imap_reader_tag(const struct imap_reader *r)
{
	return r->tag;
}

void imap_reader_next(struct imap_reader *r)
{
	r->done = false;
	r->state = r->after;
	r->after = READER_LINE;
	r->error = NULL;
	r->too_big = false;
	free(r->tag);
	r->tag = NULL;
	buf_reset(&r->command);
	r->line_start = 0;
	r->outside = 0;
	r->literals = 0;
	if (r->state == READER_SKIP_LITERAL && r->remaining == 0)
		r->state = READER_SKIP_LINE;
}

uint64_t imap_reader_literal_pending(const struct imap_reader *r)
{
	return r->state == READER_LITERAL || r->state == READER_SKIP_LITERAL ? r->remaining : 0;
}
