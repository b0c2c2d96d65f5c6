/* message/mime - the streaming MIME structure parser (RFC 2045, RFC 2046).
 *
 * The message is read line by line as it is fed, in chunks of any size.  Of
 * a line only its first bytes are kept (enough to tell a boundary line,
 * RFC 2046 5.1.1) and, while a header section is read, the section itself
 * (at most max_header_size bytes per part).  Bodies are never kept: a part
 * records where its body starts and ends and how many lines it has.
 *
 * The open parts form a stack from the root to the current part.  A line is
 * first matched against the boundaries of the open multiparts, innermost
 * first (an outer boundary also ends the inner parts); else, in a header
 * section, it is a field, a continuation, the empty line that ends the
 * section, or a line that is none of these and starts the body (as
 * message_headers_parse decides); else it is body.
 */
#include "message/message.h"

#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"

/* the first bytes of a line kept: "--" boundary "--" and a CRLF */
#define PEEK_SIZE (2 + MESSAGE_MIME_BOUNDARY_MAX + 2 + 2)

/* What a header line is, decided on its first bytes (RFC 5322 2.2, 3.6.8). */
enum hline {
	HLINE_START,
	HLINE_NAME,       /* ftext so far */
	HLINE_NAME_WSP,   /* ftext then WSP (RFC 5322 4.5.8) */
	HLINE_FIELD,      /* name ":" */
	HLINE_CONT,       /* starts with WSP */
	HLINE_BAD,
};

/* What the parser keeps of an open part. */
struct open_part {
	struct message_part *part;
	struct message_part *last_child;
	char *boundary;             /* a multipart's, else NULL */
	size_t boundary_len;
	size_t body_lf_start;       /* line feeds before its body */
};

struct message_mime_parser {
	struct message_mime_limits limits;
	struct message_part *root;
	struct open_part *stack;    /* [0] the root ... [open_count - 1] the current part */
	size_t open_count, stack_cap;
	unsigned part_count;
	bool parts_full;            /* max_parts reached: no more boundaries are seen */
	size_t close_floor;         /* where the last part closed at a boundary ended */

	size_t offset;              /* bytes fed */
	size_t lf_count;            /* line feeds fed */
	char last_byte, before_last;

	/* the current line */
	size_t line_start, line_lf_before, line_len;
	char peek[PEEK_SIZE];
	size_t peek_len;
	int tail;                   /* past the peek: 0 white space, 1 then a CR, 2 other */
	enum hline hline;

	/* the line before it */
	size_t prev_len;
	bool prev_lf, prev_crlf;

	/* the current part's header section, while it is read */
	bool in_header;
	struct buf header;
	size_t header_line_start;   /* header.len when the line started */
	size_t header_lines;        /* lines accepted so far */
	bool header_full;
};

static bool is_wsp(char c);
static void line_bytes(struct message_mime_parser *p, const char *data, size_t len);
static void line_end(struct message_mime_parser *p);
static bool boundary_match(const struct message_mime_parser *p, const struct open_part *op,
			   bool *close_r);
static void boundary_line(struct message_mime_parser *p, size_t level, bool close);
static struct message_part *part_open(struct message_mime_parser *p, size_t header_offset);
static void header_end(struct message_mime_parser *p, size_t body_offset, size_t body_lf,
		       bool malformed, bool nested);
static void part_close_at_boundary(struct message_mime_parser *p, struct open_part *op);
static void part_close_at_end(struct message_mime_parser *p, struct open_part *op);
static bool equals(const char *a, const char *b);

static bool is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

static bool equals(const char *a, const char *b)
{
	return a != NULL && strcmp(a, b) == 0;
}

struct message_mime_parser *message_mime_parser_create(const struct message_mime_limits *limits)
{
	static const struct message_mime_limits defaults = MESSAGE_MIME_LIMITS_DEFAULT;
	struct message_mime_parser *p = xcalloc(1, sizeof(*p));

	p->limits = limits ? *limits : defaults;
	if (p->limits.max_parts == 0)
		p->limits.max_parts = 1;
	buf_init(&p->header);
	p->root = part_open(p, 0);
	return p;
}

/* part_open - a new part whose header starts at HEADER_OFFSET, child of the
 * current part (none for the root), made current; NULL at max_parts */
static struct message_part *part_open(struct message_mime_parser *p, size_t header_offset)
{
	if (p->part_count >= p->limits.max_parts)
		return NULL;
	struct message_part *part = xcalloc(1, sizeof(*part));
	part->header_offset = header_offset;
	part->body_offset = header_offset;
	if (p->open_count > 0) {
		struct open_part *parent = &p->stack[p->open_count - 1];
		part->parent = parent->part;
		part->depth = parent->part->depth + 1;
		if (parent->last_child != NULL)
			parent->last_child->next = part;
		else
			parent->part->children = part;
		parent->last_child = part;
	}
	if (p->open_count == p->stack_cap) {
		p->stack_cap = p->stack_cap ? p->stack_cap * 2 : 8;
		p->stack = xrealloc(p->stack, p->stack_cap * sizeof(*p->stack));
	}
	struct open_part *op = &p->stack[p->open_count++];
	memset(op, 0, sizeof(*op));
	op->part = part;
	p->part_count++;
	p->in_header = true;
	buf_reset(&p->header);
	p->header_line_start = 0;
	p->header_lines = 0;
	p->header_full = false;
	return part;
}

void message_mime_parser_feed(struct message_mime_parser *p, const char *data, size_t len)
{
	while (len > 0) {
		const char *lf = memchr(data, '\n', len);
		size_t n = lf ? (size_t)(lf - data) + 1 : len;
		line_bytes(p, data, n);
		if (lf != NULL) {
			p->lf_count++;
			line_end(p);
		}
		data += n;
		len -= n;
	}
}

/* line_bytes - the next bytes of the current line (its LF included) */
static void line_bytes(struct message_mime_parser *p, const char *data, size_t len)
{
	size_t i = 0;

	/* the line's first bytes, for boundaries */
	for (; i < len && p->peek_len < PEEK_SIZE; i++)
		p->peek[p->peek_len++] = data[i];
	/* the rest matters only to a line that may be a boundary */
	if (p->tail != 2 && p->peek_len >= 2 && p->peek[0] == '-' && p->peek[1] == '-') {
		for (; i < len && p->tail != 2; i++) {
			if (data[i] == '\n')
				break;  /* the line's end */
			if (p->tail == 1 || !(is_wsp(data[i]) || data[i] == '\r'))
				p->tail = 2;
			else if (data[i] == '\r')
				p->tail = 1;
		}
	}
	if (p->in_header) {
		for (size_t k = 0; k < len && p->hline != HLINE_FIELD && p->hline != HLINE_CONT &&
				   p->hline != HLINE_BAD; k++) {
			unsigned char c = (unsigned char)data[k];
			bool ftext = c >= 33 && c <= 126 && c != ':';
			switch (p->hline) {
			case HLINE_START:
				p->hline = is_wsp((char)c) ? HLINE_CONT : ftext ? HLINE_NAME : HLINE_BAD;
				break;
			case HLINE_NAME:
				p->hline = ftext ? HLINE_NAME : is_wsp((char)c) ? HLINE_NAME_WSP :
					   c == ':' ? HLINE_FIELD : HLINE_BAD;
				break;
			case HLINE_NAME_WSP:
				p->hline = is_wsp((char)c) ? HLINE_NAME_WSP :
					   c == ':' ? HLINE_FIELD : HLINE_BAD;
				break;
			default:
				break;
			}
		}
		if (!p->header_full) {
			if (p->header.len + len > p->limits.max_header_size) {
				/* whole lines only: this one is dropped, and the rest */
				p->header_full = true;
				p->header.len = p->header_line_start;
			} else {
				buf_append(&p->header, data, len);
			}
		}
	}
	p->line_len += len;
	p->offset += len;
	p->before_last = len >= 2 ? data[len - 2] : p->last_byte;
	p->last_byte = data[len - 1];
}

/* boundary_match - the current line is OP's delimiter line, or its close
 * delimiter (*CLOSE_R): "--" boundary ["--"], then only white space
 * (RFC 2046 5.1.1 transport padding) */
static bool boundary_match(const struct message_mime_parser *p, const struct open_part *op,
			   bool *close_r)
{
	size_t n = p->peek_len;

	/* the content: without the LF and a CR before it (when they are kept) */
	if (n == p->line_len) {
		if (n > 0 && p->peek[n - 1] == '\n')
			n--;
		if (n > 0 && p->peek[n - 1] == '\r')
			n--;
	} else if (p->tail == 2) {
		return false;
	}
	if (n < 2 + op->boundary_len || p->peek[0] != '-' || p->peek[1] != '-' ||
	    memcmp(p->peek + 2, op->boundary, op->boundary_len) != 0)
		return false;
	size_t i = 2 + op->boundary_len;
	*close_r = i + 2 <= n && p->peek[i] == '-' && p->peek[i + 1] == '-';
	if (*close_r)
		i += 2;
	for (; i < n; i++)
		if (!is_wsp(p->peek[i]))
			return false;
	return true;
}

/* line_end - the current line is complete (or the message ended in it) */
static void line_end(struct message_mime_parser *p)
{
	size_t level = p->open_count;
	bool close = false;
	bool lf = p->line_len > 0 && p->last_byte == '\n';
	bool crlf = lf && p->line_len >= 2 && p->before_last == '\r';
	size_t content = p->line_len - (lf ? 1 : 0) - (crlf ? 1 : 0);

	for (;;) {
		level = p->open_count;
		if (!p->parts_full) {
			while (level-- > 0) {
				struct open_part *op = &p->stack[level];
				if (op->boundary != NULL && !op->part->closed &&
				    boundary_match(p, op, &close))
					break;
			}
		}
		if (level < p->open_count) {
			if (p->in_header && !p->header_full)
				p->header.len = p->header_line_start;  /* not a header line */
			boundary_line(p, level, close);
			break;
		}
		if (!p->in_header)
			break;
		if (lf && content == 0) {
			/* the empty line: the body starts after it */
			header_end(p, p->offset, p->lf_count, false, true);
			break;
		}
		if (p->hline == HLINE_FIELD || (p->hline == HLINE_CONT && p->header_lines > 0)) {
			p->header_lines++;
			p->header_line_start = p->header.len;
			break;
		}
		/* neither a field nor a continuation: the body starts with this
		 * line, which is judged again as such (a boundary of the part if
		 * it is a multipart, the first line of a message/rfc822 part's
		 * message, where it ends an empty header section) */
		if (!p->header_full)
			p->header.len = p->header_line_start;
		header_end(p, p->line_start, p->line_lf_before, true, true);
	}
	p->prev_len = p->line_len;
	p->prev_lf = lf;
	p->prev_crlf = crlf;
	p->line_start = p->offset;
	p->line_lf_before = p->lf_count;
	p->line_len = 0;
	p->peek_len = 0;
	p->tail = 0;
	p->hline = HLINE_START;
}

/* boundary_line - the current line is a boundary of the multipart at LEVEL:
 * the parts inside it end before the line break that precedes the line; a
 * delimiter opens its next part after the line, a close delimiter starts
 * its epilogue */
static void boundary_line(struct message_mime_parser *p, size_t level, bool close)
{
	p->close_floor = 0;
	while (p->open_count > level + 1) {
		part_close_at_boundary(p, &p->stack[p->open_count - 1]);
		p->open_count--;
	}
	p->in_header = false;
	struct open_part *op = &p->stack[level];
	if (close) {
		op->part->closed = true;
	} else if (part_open(p, p->offset) == NULL) {
		/* max_parts: the rest of the message is this multipart's body */
		p->parts_full = true;
		op->part->limit_hit = true;
	}
}

/* header_end - the current part's header section ends at BODY_OFFSET (BODY_LF
 * line feeds before it): its fields are parsed and its kind decided; a
 * message/rfc822 part (NESTED) opens its message, which becomes current */
static void header_end(struct message_mime_parser *p, size_t body_offset, size_t body_lf,
		       bool malformed, bool nested)
{
	struct open_part *op = &p->stack[p->open_count - 1];
	struct message_part *part = op->part;
	const struct message_header *field;

	p->in_header = false;
	part->header_size = body_offset - part->header_offset;
	part->body_offset = body_offset;
	part->header_truncated = p->header_full;
	part->header_malformed = malformed;
	part->header_len = p->header.len;
	part->header_data = xmalloc(p->header.len + 1);
	memcpy(part->header_data, p->header.data ? p->header.data : "", p->header.len);
	part->header_data[p->header.len] = '\0';
	buf_reset(&p->header);
	message_headers_parse(part->header_data, part->header_len, &part->headers);
	op->body_lf_start = body_lf;

	if ((field = message_header_find(&part->headers, "Content-Type", 0)) != NULL) {
		char *value = message_header_unfold(field);
		message_content_type_parse(value, strlen(value), &part->content_type);
		free(value);
	} else {
		/* RFC 2046 5.1.5: in a digest, parts are messages by default */
		bool digest = part->parent != NULL && part->parent->is_multipart &&
			      equals(part->parent->content_type.subtype, "digest");
		message_content_type_default(&part->content_type, digest);
	}
	if ((field = message_header_find(&part->headers, "Content-Transfer-Encoding", 0)) != NULL)
		part->encoding = message_encoding_parse(field->value, field->value_len);
	if ((field = message_header_find(&part->headers, "Content-Disposition", 0)) != NULL) {
		char *value = message_header_unfold(field);
		(void)message_disposition_parse(value, strlen(value), &part->disposition);
		free(value);
	}

	const struct message_content_type *ct = &part->content_type;
	bool deeper = part->depth + 1 <= p->limits.max_depth;
	if (equals(ct->type, "multipart")) {
		const char *boundary = message_param_get(ct, "boundary");
		size_t blen = boundary ? strlen(boundary) : 0;
		if (blen == 0 || blen > MESSAGE_MIME_BOUNDARY_MAX)
			return;  /* no usable boundary: an opaque body */
		if (!deeper) {
			part->limit_hit = true;
			return;
		}
		part->is_multipart = true;
		op->boundary = xstrdup(boundary);
		op->boundary_len = blen;
	} else if (equals(ct->type, "message") &&
		   (equals(ct->subtype, "rfc822") || equals(ct->subtype, "global")) &&
		   part->encoding != MESSAGE_ENCODING_BASE64 &&
		   part->encoding != MESSAGE_ENCODING_QUOTED_PRINTABLE &&
		   part->encoding != MESSAGE_ENCODING_UNKNOWN) {
		/* an encoded message (RFC 2046 5.2.1 forbids it) stays opaque */
		if (!deeper || p->parts_full) {
			part->limit_hit = true;
			return;
		}
		if (!nested)
			return;
		part->is_message = true;
		if (part_open(p, body_offset) == NULL) {
			part->is_message = false;
			part->limit_hit = true;
			p->parts_full = true;
			p->in_header = false;
		}
	}
}

/* part_body_end - OP's body ends at END with LINES lines */
static void part_body_end(struct open_part *op, size_t end, size_t lines)
{
	struct message_part *part = op->part;

	part->body_size = end > part->body_offset ? end - part->body_offset : 0;
	part->body_lines = part->body_size > 0 ? lines : 0;
	free(op->boundary);
	op->boundary = NULL;
}

/* part_close_at_boundary - OP ends before the line break that precedes the
 * current (boundary) line; an unfinished header section ends at the line */
static void part_close_at_boundary(struct message_mime_parser *p, struct open_part *op)
{
	if (p->in_header && op == &p->stack[p->open_count - 1])
		header_end(p, p->line_start, p->line_lf_before, false, false);
	size_t brk = !p->prev_lf ? 0 : p->prev_crlf ? 2 : 1;
	size_t end = p->line_start - brk;
	size_t lines = 0;
	/* A part inside OP may end later: its header section's empty line was
	 * the line break before the boundary.  OP then ends with it, at the
	 * boundary line. */
	if (end < p->close_floor)
		end = p->close_floor;
	if (end < op->part->body_offset)
		end = op->part->body_offset;
	if (end > op->part->body_offset && end == p->line_start - brk) {
		/* the body's line feeds but the one that belongs to the boundary,
		 * plus its last line if that has text */
		lines = p->line_lf_before - op->body_lf_start - (brk > 0 ? 1 : 0);
		if (p->prev_len > brk)
			lines++;
	} else if (end > op->part->body_offset) {
		lines = p->line_lf_before - op->body_lf_start;
	}
	p->close_floor = end;
	part_body_end(op, end, lines);
}

/* part_close_at_end - OP ends where the message ends */
static void part_close_at_end(struct message_mime_parser *p, struct open_part *op)
{
	if (p->in_header && op == &p->stack[p->open_count - 1])
		header_end(p, p->offset, p->lf_count, false, false);
	size_t lines = p->lf_count - op->body_lf_start;
	if (p->offset > op->part->body_offset && p->last_byte != '\n')
		lines++;
	part_body_end(op, p->offset, lines);
}

struct message_part *message_mime_parser_finish(struct message_mime_parser **parser)
{
	struct message_mime_parser *p = *parser;

	if (p->line_len > 0)
		line_end(p);  /* a last line without a line break */
	/* A multipart without its close delimiter gets one at the end (as
	 * Python's email package does): the parts inside it end before the
	 * message's last line break. */
	size_t level = p->open_count;
	while (!p->parts_full && level-- > 0)
		if (p->stack[level].boundary != NULL && !p->stack[level].part->closed)
			break;
	if (!p->parts_full && level < p->open_count) {
		p->close_floor = 0;
		while (p->open_count > level + 1) {
			part_close_at_boundary(p, &p->stack[p->open_count - 1]);
			p->open_count--;
		}
		p->in_header = false;
	}
	while (p->open_count > 0) {
		part_close_at_end(p, &p->stack[p->open_count - 1]);
		p->open_count--;
	}
	struct message_part *root = p->root;
	buf_free(&p->header);
	free(p->stack);
	free(p);
	*parser = NULL;
	return root;
}

void message_part_free(struct message_part **part)
{
	struct message_part *part_ = *part;

	if (part_ == NULL)
		return;
	/* iterative: a deep tree does not recurse deeply */
	struct message_part *cur = part_;
	while (cur != NULL) {
		if (cur->children != NULL) {
			struct message_part *child = cur->children;
			cur->children = NULL;
			cur = child;
			continue;
		}
		struct message_part *next = cur->next ? cur->next : cur->parent;
		if (cur == part_)
			next = NULL;
		free(cur->header_data);
		message_headers_free(&cur->headers);
		message_content_type_free(&cur->content_type);
		message_content_type_free(&cur->disposition);
		free(cur);
		cur = next;
	}
	*part = NULL;
}
