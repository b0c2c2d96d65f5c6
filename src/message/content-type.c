/* message/content-type - Content-Type (RFC 2045 5.1) and Content-Disposition
 * (RFC 2183) with RFC 2231 parameter continuations and charsets.
 *
 * Lenient where real mail needs it: a parameter value that is neither a
 * token nor a quoted string is taken up to the next ";" or white space
 * (boundary=----=_Part_1 is common), an unterminated quoted string or
 * comment ends at the end of the value, a malformed parameter is skipped.
 * The result is allocated (see message.h).
 */
#include "message/message.h"
#include "message/message-int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/xalloc.h"

#define RAW_PARAM_MAX 256  /* name=value pairs read per field, sections included */

/* A parameter as written, before RFC 2231 joining. */
struct raw_param {
	char *name;       /* lower-cased, without "*N*" */
	int section;      /* -1: no section number */
	bool extended;    /* a trailing "*": charset'language'%XX */
	struct buf value; /* unquoted */
};

static bool is_tspecial(unsigned char c);
static bool is_token_char(unsigned char c);
static void skip_cfws(const char *s, size_t len, size_t *pos);
static char *token_read(const char *s, size_t len, size_t *pos);
static void value_read(const char *s, size_t len, size_t *pos, struct buf *out);
static void lower(char *s);
static bool name_split(char *name, int *section_r, bool *extended_r);
static void params_parse(const char *s, size_t len, size_t pos, struct message_content_type *ct);
static void params_join(struct raw_param *raw, size_t count, struct message_content_type *ct);
static void percent_decode(const char *s, size_t len, struct buf *out);
static void param_add(struct message_content_type *ct, const char *name, const char *value,
		      size_t value_len);

/* is_tspecial - RFC 2045 5.1 tspecials */
static bool is_tspecial(unsigned char c)
{
	return c != 0 && strchr("()<>@,;:\\\"/[]?=", c) != NULL;
}

static bool is_token_char(unsigned char c)
{
	return c > ' ' && c < 127 && !is_tspecial(c);
}

/* skip_cfws - white space, line breaks and nested comments (RFC 5322 3.2.2) */
static void skip_cfws(const char *s, size_t len, size_t *pos)
{
	size_t p = *pos;
	int depth = 0;

	while (p < len) {
		char c = s[p];
		if (depth > 0) {
			if (c == '\\')
				p++;
			else if (c == '(')
				depth++;
			else if (c == ')')
				depth--;
		} else if (c == '(') {
			depth++;
		} else if (c != ' ' && c != '\t' && c != '\r' && c != '\n') {
			break;
		}
		p++;
	}
	*pos = p < len ? p : len;
}

/* token_read - a token at *POS (allocated, as written), or NULL */
static char *token_read(const char *s, size_t len, size_t *pos)
{
	size_t start = *pos, p = start;

	while (p < len && is_token_char((unsigned char)s[p]))
		p++;
	if (p == start)
		return NULL;
	*pos = p;
	return xstrndup(s + start, p - start);
}

/* value_read - a quoted string (quoted pairs undone) or, leniently, the
 * characters up to ";", white space or a comment */
static void value_read(const char *s, size_t len, size_t *pos, struct buf *out)
{
	size_t p = *pos;

	if (p < len && s[p] == '"') {
		for (p++; p < len && s[p] != '"'; p++) {
			if (s[p] == '\\' && p + 1 < len)
				p++;
			else if (s[p] == '\r' || s[p] == '\n')
				continue;  /* folding inside the string */
			buf_append(out, s + p, 1);
		}
		if (p < len)
			p++;  /* the closing quote */
	} else {
		size_t start = p;
		while (p < len && s[p] != ';' && s[p] != ' ' && s[p] != '\t' && s[p] != '\r' &&
		       s[p] != '\n' && s[p] != '(' && s[p] != '"')
			p++;
		buf_append(out, s + start, p - start);
	}
	*pos = p;
}

static void lower(char *s)
{
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

/* name_split - RFC 2231 3, 4: "name*N*", "name*N", "name*"; NAME loses the
 * suffix; false if the suffix is malformed */
static bool name_split(char *name, int *section_r, bool *extended_r)
{
	char *star = strchr(name, '*');

	*section_r = -1;
	*extended_r = false;
	if (star == NULL)
		return true;
	char *p = star + 1;
	if (*p >= '0' && *p <= '9') {
		int n = 0;
		for (; *p >= '0' && *p <= '9'; p++) {
			n = n * 10 + (*p - '0');
			if (n >= MESSAGE_PARAM_SECTIONS_MAX)
				return false;
		}
		*section_r = n;
		if (*p == '*') {
			*extended_r = true;
			p++;
		}
	} else {
		*extended_r = true;
	}
	if (*p != '\0' || star == name)
		return false;
	*star = '\0';
	return true;
}

/* params_parse - *(";" attribute "=" value) from POS */
static void params_parse(const char *s, size_t len, size_t pos, struct message_content_type *ct)
{
	struct raw_param raw[RAW_PARAM_MAX];
	size_t count = 0;

	for (;;) {
		skip_cfws(s, len, &pos);
		if (pos >= len)
			break;
		if (s[pos] != ';') {
			/* junk after a value: skip to the next parameter */
			while (pos < len && s[pos] != ';') {
				if (s[pos] == '"') {
					struct buf skip;
					buf_init(&skip);
					value_read(s, len, &pos, &skip);
					buf_free(&skip);
				} else {
					pos++;
				}
			}
			continue;
		}
		pos++;
		skip_cfws(s, len, &pos);
		char *name = token_read(s, len, &pos);
		if (name == NULL)
			continue;
		skip_cfws(s, len, &pos);
		int section;
		bool extended;
		if (pos >= len || s[pos] != '=' || count == RAW_PARAM_MAX ||
		    !name_split(name, &section, &extended)) {
			free(name);
			continue;
		}
		pos++;
		skip_cfws(s, len, &pos);
		lower(name);
		raw[count].name = name;
		raw[count].section = section;
		raw[count].extended = extended;
		buf_init(&raw[count].value);
		value_read(s, len, &pos, &raw[count].value);
		count++;
	}
	params_join(raw, count, ct);
	for (size_t i = 0; i < count; i++) {
		free(raw[i].name);
		buf_free(&raw[i].value);
	}
}

/* hex_value - a hexadecimal digit, either case, or -1 */
static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
		return (c | 0x20) - 'a' + 10;
	return -1;
}

/* percent_decode - RFC 2231 4: %XX is a byte; a "%" without two hex digits
 * is kept */
static void percent_decode(const char *s, size_t len, struct buf *out)
{
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c == '%' && i + 2 < len && hex_value(s[i + 1]) >= 0 &&
		    hex_value(s[i + 2]) >= 0) {
			c = (char)(hex_value(s[i + 1]) << 4 | hex_value(s[i + 2]));
			i += 2;
		}
		buf_append(out, &c, 1);
	}
}

/* param_add - NAME=VALUE unless NAME is there already or the list is full */
static void param_add(struct message_content_type *ct, const char *name, const char *value,
		      size_t value_len)
{
	if (ct->param_count == MESSAGE_PARAM_MAX || message_param_get(ct, name) != NULL)
		return;
	ct->params = xrealloc(ct->params, (ct->param_count + 1) * sizeof(*ct->params));
	struct message_param *p = &ct->params[ct->param_count++];
	p->name = xstrdup(name);
	p->value = xmalloc(value_len + 1);
	memcpy(p->value, value, value_len);
	p->value[value_len] = '\0';
	p->value_len = value_len;
}

/* params_join - RFC 2231 3 and 4: each name once, in the order of its first
 * appearance; the RFC 2231 form wins over a plain one of the same name;
 * sections are joined from 0 up to the first missing one, the extended ones
 * %-decoded and the whole converted from the charset of section 0 */
static void params_join(struct raw_param *raw, size_t count, struct message_content_type *ct)
{
	struct buf bytes, utf8;

	buf_init(&bytes);
	buf_init(&utf8);
	for (size_t i = 0; i < count; i++) {
		const char *name = raw[i].name;
		bool seen = false, rfc2231 = false;
		for (size_t j = 0; j < i && !seen; j++)
			seen = strcmp(raw[j].name, name) == 0;
		if (seen)
			continue;
		for (size_t j = i; j < count && !rfc2231; j++)
			rfc2231 = strcmp(raw[j].name, name) == 0 &&
				  (raw[j].section >= 0 || raw[j].extended);
		buf_reset(&bytes);
		buf_reset(&utf8);
		if (!rfc2231) {
			message_utf8_append(raw[i].value.data ? raw[i].value.data : "",
					    raw[i].value.len, &utf8);
			param_add(ct, name, utf8.data ? utf8.data : "", utf8.len);
			continue;
		}
		const char *charset = NULL;
		size_t charset_len = 0;
		/* "name*=" alone is section 0; then sections 0, 1, 2... */
		for (int section = 0; section < MESSAGE_PARAM_SECTIONS_MAX; section++) {
			struct raw_param *r = NULL;
			for (size_t j = i; j < count && r == NULL; j++)
				if (strcmp(raw[j].name, name) == 0 &&
				    (raw[j].section == section ||
				     (section == 0 && raw[j].section < 0 && raw[j].extended)))
					r = &raw[j];
			if (r == NULL)
				break;
			const char *v = r->value.data ? r->value.data : "";
			size_t vlen = r->value.len;
			if (!r->extended) {
				buf_append(&bytes, v, vlen);
				continue;
			}
			if (section == 0) {
				/* charset'language'text; either may be empty */
				const char *q1 = memchr(v, '\'', vlen);
				const char *q2 = q1 ? memchr(q1 + 1, '\'', vlen - (size_t)(q1 + 1 - v)) : NULL;
				if (q2 != NULL) {
					charset = v;
					charset_len = (size_t)(q1 - v);
					vlen -= (size_t)(q2 + 1 - v);
					v = q2 + 1;
				}
			}
			percent_decode(v, vlen, &bytes);
		}
		if (charset_len == 0 ||
		    !message_charset_to_utf8(charset, charset_len, bytes.data ? bytes.data : "",
					     bytes.len, &utf8))
			message_utf8_append(bytes.data ? bytes.data : "", bytes.len, &utf8);
		param_add(ct, name, utf8.data ? utf8.data : "", utf8.len);
	}
	buf_free(&bytes);
	buf_free(&utf8);
}

void message_content_type_default(struct message_content_type *ct_r, bool digest)
{
	memset(ct_r, 0, sizeof(*ct_r));
	ct_r->defaulted = true;
	if (digest) {
		ct_r->type = xstrdup("message");
		ct_r->subtype = xstrdup("rfc822");
		return;
	}
	ct_r->type = xstrdup("text");
	ct_r->subtype = xstrdup("plain");
	param_add(ct_r, "charset", "us-ascii", 8);
}

void message_content_type_parse(const char *value, size_t len,
				struct message_content_type *ct_r)
{
	size_t pos = 0;
	char *type = NULL, *subtype = NULL;

	memset(ct_r, 0, sizeof(*ct_r));
	if (value == NULL)
		goto invalid;
	skip_cfws(value, len, &pos);
	if ((type = token_read(value, len, &pos)) == NULL)
		goto invalid;
	skip_cfws(value, len, &pos);
	if (pos >= len || value[pos] != '/')
		goto invalid;
	pos++;
	skip_cfws(value, len, &pos);
	if ((subtype = token_read(value, len, &pos)) == NULL)
		goto invalid;
	lower(type);
	lower(subtype);
	ct_r->type = type;
	ct_r->subtype = subtype;
	params_parse(value, len, pos, ct_r);
	return;
invalid:
	/* RFC 2045 5.2: a missing or syntactically invalid Content-Type */
	free(type);
	free(subtype);
	message_content_type_default(ct_r, false);
}

bool message_disposition_parse(const char *value, size_t len, struct message_content_type *ct_r)
{
	size_t pos = 0;

	memset(ct_r, 0, sizeof(*ct_r));
	if (value == NULL)
		return false;
	skip_cfws(value, len, &pos);
	char *type = token_read(value, len, &pos);
	if (type == NULL)
		return false;
	lower(type);
	ct_r->type = type;
	params_parse(value, len, pos, ct_r);
	return true;
}

void message_content_type_free(struct message_content_type *ct)
{
	for (size_t i = 0; i < ct->param_count; i++) {
		free(ct->params[i].name);
		free(ct->params[i].value);
	}
	free(ct->params);
	free(ct->type);
	free(ct->subtype);
	memset(ct, 0, sizeof(*ct));
}

const char *message_param_get(const struct message_content_type *ct, const char *name)
{
	for (size_t i = 0; i < ct->param_count; i++)
		if (strcmp(ct->params[i].name, name) == 0)
			return ct->params[i].value;
	return NULL;
}
