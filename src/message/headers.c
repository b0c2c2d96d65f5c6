/* message/headers - split an RFC 5322 header section into fields.
 *
 * One forward pass over DATA[0..LEN): never reads past LEN, stores at most
 * MESSAGE_HEADER_MAX fields (then keeps scanning only to find where the body
 * starts), accepts CRLF or bare LF line ends.  A line that is neither a
 * field, a continuation nor the empty line ends the header section there and
 * sets malformed: the rest is treated as body, as most MTAs do.
 */
#include "message/message.h"

#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"

static size_t line_end(const char *data, size_t pos, size_t len, size_t *content_end_r);
static bool is_wsp(char c);
static bool is_ftext(unsigned char c);
static size_t field_name_end(const char *data, size_t pos, size_t len, size_t *colon_r);
static bool name_equals(const struct message_header *field, const char *name, size_t name_len);

static bool is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* is_ftext - RFC 5322 3.6.8: printable US-ASCII except ':' */
static bool is_ftext(unsigned char c)
{
	return c >= 33 && c <= 126 && c != ':';
}

/* line_end - offset just past the line starting at POS (its LF, or LEN);
 * *CONTENT_END_R is where the line's text stops (before CRLF or LF) */
static size_t line_end(const char *data, size_t pos, size_t len, size_t *content_end_r)
{
	const char *lf = memchr(data + pos, '\n', len - pos);

	if (lf == NULL) {
		*content_end_r = len;
		return len;
	}
	size_t at = (size_t)(lf - data);
	*content_end_r = (at > pos && data[at - 1] == '\r') ? at - 1 : at;
	return at + 1;
}

/* field_name_end - end of the field name at POS, 0 if the line is no field.
 * RFC 5322 4.5.8 (obs-optional): WSP between the name and the colon is
 * obsolete but must be accepted; it is not part of the name. */
static size_t field_name_end(const char *data, size_t pos, size_t len, size_t *colon_r)
{
	size_t p = pos;

	while (p < len && is_ftext((unsigned char)data[p]))
		p++;
	if (p == pos)
		return 0;
	size_t name_end = p;
	while (p < len && is_wsp(data[p]))
		p++;
	if (p >= len || data[p] != ':')
		return 0;
	*colon_r = p;
	return name_end;
}

/* message_headers_parse - split the header section of DATA[0..LEN) */
void message_headers_parse(const char *data, size_t len, struct message_headers *headers_r)
{
	size_t pos = 0, cap = 0;

	memset(headers_r, 0, sizeof(*headers_r));
	headers_r->body_offset = len;
	while (pos < len) {
		size_t content_end, next, colon = 0, name_end;

		/* the empty line ends the header section (RFC 5322 2.1) */
		if (data[pos] == '\n') {
			headers_r->body_offset = pos + 1;
			return;
		}
		if (data[pos] == '\r' && pos + 1 < len && data[pos + 1] == '\n') {
			headers_r->body_offset = pos + 2;
			return;
		}
		/* a continuation line with no field before it is malformed too */
		name_end = field_name_end(data, pos, len, &colon);
		if (name_end == 0) {
			headers_r->malformed = true;
			headers_r->body_offset = pos;
			return;
		}
		/* the field's first line, then its continuation lines (2.2.3) */
		next = line_end(data, pos, len, &content_end);
		while (next < len && is_wsp(data[next]))
			next = line_end(data, next, len, &content_end);
		if (headers_r->count == MESSAGE_HEADER_MAX) {
			headers_r->truncated = true;
		} else {
			if (headers_r->count == cap) {
				cap = cap ? cap * 2 : 16;
				if (cap > MESSAGE_HEADER_MAX)
					cap = MESSAGE_HEADER_MAX;
				headers_r->fields = xrealloc(headers_r->fields,
							     cap * sizeof(*headers_r->fields));
			}
			struct message_header *f = &headers_r->fields[headers_r->count++];
			f->name = data + pos;
			f->name_len = name_end - pos;
			f->value = data + colon + 1;
			f->value_len = content_end >= colon + 1 ? content_end - (colon + 1) : 0;
			f->offset = pos;
			f->length = next - pos;
		}
		pos = next;
	}
}

void message_headers_free(struct message_headers *headers)
{
	free(headers->fields);
	headers->fields = NULL;
	headers->count = 0;
}

/* name_equals - ASCII case-insensitive comparison, independent of the locale */
static bool name_equals(const struct message_header *field, const char *name, size_t name_len)
{
	if (field->name_len != name_len)
		return false;
	for (size_t i = 0; i < name_len; i++) {
		unsigned char a = (unsigned char)field->name[i], b = (unsigned char)name[i];
		if (a >= 'A' && a <= 'Z')
			a = (unsigned char)(a - 'A' + 'a');
		if (b >= 'A' && b <= 'Z')
			b = (unsigned char)(b - 'A' + 'a');
		if (a != b)
			return false;
	}
	return true;
}

const struct message_header *message_header_find(const struct message_headers *headers,
						 const char *name, size_t nth)
{
	size_t name_len = strlen(name);

	for (size_t i = 0; i < headers->count; i++) {
		if (name_equals(&headers->fields[i], name, name_len)) {
			if (nth == 0)
				return &headers->fields[i];
			nth--;
		}
	}
	return NULL;
}

size_t message_header_count(const struct message_headers *headers, const char *name)
{
	size_t name_len = strlen(name), n = 0;

	for (size_t i = 0; i < headers->count; i++)
		if (name_equals(&headers->fields[i], name, name_len))
			n++;
	return n;
}

/* message_header_unfold - RFC 5322 2.2.3: remove each CRLF (or LF) that is
 * followed by WSP, keep the WSP, then trim WSP at both ends. */
char *message_header_unfold(const struct message_header *field)
{
	const char *v = field->value;
	size_t len = field->value_len, start = 0, end = len, o = 0;
	char *out = xmalloc(len + 1);

	for (size_t i = 0; i < len; i++) {
		if (v[i] == '\r' && i + 1 < len && v[i + 1] == '\n')
			continue;
		if (v[i] == '\n')
			continue;
		out[o++] = v[i];
	}
	end = o;
	while (start < end && (is_wsp(out[start]) || out[start] == '\r'))
		start++;
	while (end > start && (is_wsp(out[end - 1]) || out[end - 1] == '\r'))
		end--;
	memmove(out, out + start, end - start);
	out[end - start] = '\0';
	return out;
}
