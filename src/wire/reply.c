/* wire/reply - resumable SMTP reply parser (see wire.h). */
#include "wire/wire.h"

#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"

static bool reply_code_valid(const char *s);
static int reply_line_end(struct wire_reply_parser *p, const char **error_r);

void wire_reply_parser_init(struct wire_reply_parser *p,
			    const struct wire_reply_limits *limits)
{
	memset(p, 0, sizeof(*p));
	if (limits)
		p->limits = *limits;
	if (p->limits.max_line < 8)
		p->limits.max_line = p->limits.max_line ? 8 : WIRE_REPLY_MAX_LINE;
	if (p->limits.max_lines == 0)
		p->limits.max_lines = WIRE_REPLY_MAX_LINES;
	buf_init(&p->line);
	buf_init(&p->reply.text);
}

void wire_reply_parser_reset(struct wire_reply_parser *p)
{
	buf_reset(&p->line);
	buf_reset(&p->reply.text);
	p->reply.code = 0;
	p->reply.enhanced[0] = '\0';
	p->reply.lines = 0;
	p->done = false;
}

void wire_reply_parser_free(struct wire_reply_parser *p)
{
	buf_free(&p->line);
	buf_free(&p->reply.text);
	p->done = false;
}

/* reply_code_valid - "ddd" with 2..5, 0..5, 0..9 (RFC 5321 4.2.1) */
static bool reply_code_valid(const char *s)
{
	return s[0] >= '2' && s[0] <= '5' && s[1] >= '0' && s[1] <= '5' &&
	       s[2] >= '0' && s[2] <= '9';
}

size_t wire_enhanced_parse(const char *s, size_t len, char out[16])
{
	/* RFC 3463 2: class "." subject "." detail; class 2, 4 or 5; subject
	 * and detail 1-3 digits without leading zeros beyond one digit. */
	size_t i = 0;
	if (len < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.')
		return 0;
	i = 2;
	for (int part = 0; part < 2; part++) {
		size_t start = i;
		while (i < len && s[i] >= '0' && s[i] <= '9' && i - start < 4)
			i++;
		if (i == start || i - start > 3)
			return 0;
		if (part == 0) {
			if (i >= len || s[i] != '.')
				return 0;
			i++;
		}
	}
	if (i < len && s[i] != ' ')
		return 0;
	memcpy(out, s, i);
	out[i] = '\0';
	return i;
}

/* reply_line_end - one complete line in p->line: check and add it */
static int reply_line_end(struct wire_reply_parser *p, const char **error_r)
{
	const char *s = p->line.data;
	size_t len = p->line.len;
	bool last;

	if (len < 3 || !reply_code_valid(s)) {
		*error_r = "malformed reply code";
		return -1;
	}
	if (len == 3 || s[3] == ' ') {
		last = true;
	} else if (s[3] == '-') {
		last = false;
	} else {
		*error_r = "malformed reply line";
		return -1;
	}
	int code = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
	if (p->reply.lines > 0 && code != p->reply.code) {
		*error_r = "reply lines with different codes";
		return -1;
	}
	if (++p->reply.lines > p->limits.max_lines) {
		*error_r = "reply has too many lines";
		return -1;
	}
	p->reply.code = code;
	if (p->reply.lines > 1)
		buf_append(&p->reply.text, "\n", 1);
	if (len > 4) {
		const char *text = s + 4;
		size_t text_len = len - 4;
		if (p->reply.lines == 1 && s[0] != '3' && text[0] == s[0])
			(void)wire_enhanced_parse(text, text_len, p->reply.enhanced);
		size_t start = p->reply.text.len;
		buf_append(&p->reply.text, text, text_len);
		for (size_t i = start; i < p->reply.text.len; i++) {
			unsigned char c = (unsigned char)p->reply.text.data[i];
			if (c < 0x20 || c >= 0x7f)
				p->reply.text.data[i] = '?';
		}
	}
	buf_reset(&p->line);
	if (last)
		p->done = true;
	return last ? 1 : 0;
}

int wire_reply_parser_feed(struct wire_reply_parser *p, const char *data,
			   size_t len, size_t *consumed_r, const char **error_r)
{
	size_t pos = 0;
	/* a line's bytes before its CRLF: max_line counts the CRLF */
	size_t max_body = p->limits.max_line - 2;

	*consumed_r = 0;
	if (p->done)
		return 1;
	while (pos < len) {
		const char *nl = memchr(data + pos, '\n', len - pos);
		size_t take = nl ? (size_t)(nl - (data + pos)) : len - pos;
		/* a CR just before the LF is part of the terminator */
		size_t room = max_body + 1 - p->line.len; /* +1: a trailing CR */
		if (take > room) {
			*consumed_r = pos + room;
			*error_r = "reply line too long";
			return -1;
		}
		buf_append(&p->line, data + pos, take);
		pos += take;
		size_t body = p->line.len;
		if (body > 0 && p->line.data[body - 1] == '\r')
			body--;
		if (body > max_body) {
			/* only a CR that may still be the terminator rides
			 * past the limit */
			*consumed_r = pos;
			*error_r = "reply line too long";
			return -1;
		}
		if (!nl)
			break;
		pos++; /* the LF */
		p->line.len = body;
		p->line.data[body] = '\0';
		int r = reply_line_end(p, error_r);
		if (r != 0) {
			*consumed_r = pos;
			return r;
		}
	}
	*consumed_r = pos;
	return 0;
}

char *wire_reply_format(const struct wire_reply *reply)
{
	struct buf out;
	const char *s = reply->text.data ? reply->text.data : "";
	const char *end = s + reply->text.len;

	buf_init(&out);
	for (size_t i = 0; i < reply->lines; i++) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		const char *line_end = nl ? nl : end;
		if (i > 0)
			buf_append_str(&out, " / ");
		buf_printf(&out, "%d", reply->code);
		if (line_end > s) {
			buf_append(&out, " ", 1);
			buf_append(&out, s, (size_t)(line_end - s));
		}
		s = nl ? nl + 1 : end;
	}
	if (reply->lines == 0)
		buf_printf(&out, "%d", reply->code);
	char *r = xstrdup(out.data ? out.data : "");
	buf_free(&out);
	return r;
}
