/* imap/format - IMAP response data that is more than text: strings (quoted
 * or literal), ENVELOPE and BODY / BODYSTRUCTURE (RFC 9051 7.5.2), built
 * from message/'s header and MIME parsers.  No I/O.
 *
 * A string goes quoted when it can (no CR, LF or NUL, not too long, 8-bit
 * only as valid UTF-8 once the client enabled it, RFC 6855 3), else as a
 * literal.
 * Header values are sent as they are in the message, unfolded, RFC 2047
 * encoded words left for the client to decode, as servers do.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap/imap.h"
#include "message/message.h"
#include "util/buf.h"
#include "util/utf8.h"
#include "util/xalloc.h"

#define QUOTED_MAX 1024   /* longer strings go as literals */

static void address_list_append(struct buf *out, const struct message_headers *headers,
				const char *name, const char *fallback, bool utf8);
static void address_append(struct buf *out, const struct message_address *a, bool utf8);
static void header_nstring_append(struct buf *out, const struct message_headers *headers,
				  const char *name, bool utf8);
static void part_append(struct buf *out, const struct message_part *part, bool extended,
			bool utf8);
static void params_append(struct buf *out, const struct message_content_type *ct, bool utf8);
static void disposition_append(struct buf *out, const struct message_part *part, bool utf8);
static void part_extension_append(struct buf *out, const struct message_part *part, bool utf8);
static void language_append(struct buf *out, const struct message_headers *headers, bool utf8);

/* string_can_be_quoted - S[0..LEN) as a quoted string (RFC 9051 9 quoted:
 * TEXT-CHAR, and UTF-8 once enabled) */
static bool string_can_be_quoted(const char *s, size_t len, bool utf8)
{
	if (len > QUOTED_MAX)
		return false;
	bool eight_bit = false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\0' || c == '\r' || c == '\n')
			return false;
		eight_bit |= c >= 0x80;
	}
	/* 8-bit only as UTF-8, and only to a client that takes it */
	return !eight_bit || (utf8 && utf8_is_valid(s, len));
}

void imap_string_append(struct buf *out, const char *s, size_t len, bool utf8)
{
	if (!string_can_be_quoted(s, len, utf8)) {
		buf_printf(out, "{%zu}\r\n", len);
		buf_append(out, s, len);
		return;
	}
	buf_append(out, "\"", 1);
	size_t start = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '"' || s[i] == '\\') {
			buf_append(out, s + start, i - start);
			buf_append(out, "\\", 1);
			start = i;
		}
	}
	buf_append(out, s + start, len - start);
	buf_append(out, "\"", 1);
}

void imap_nstring_append(struct buf *out, const char *s, bool utf8)
{
	if (s == NULL)
		buf_append(out, "NIL", 3);
	else
		imap_string_append(out, s, strlen(s), utf8);
}

/* header_nstring_append - the first field NAME, unfolded, or NIL */
static void header_nstring_append(struct buf *out, const struct message_headers *headers,
				  const char *name, bool utf8)
{
	const struct message_header *f = message_header_find(headers, name, 0);
	char *value = f ? message_header_unfold(f) : NULL;
	imap_nstring_append(out, value, utf8);
	free(value);
}

void imap_envelope_append(struct buf *out, const struct message_headers *headers, bool utf8)
{
	buf_append(out, "(", 1);
	header_nstring_append(out, headers, "Date", utf8);
	buf_append(out, " ", 1);
	header_nstring_append(out, headers, "Subject", utf8);
	buf_append(out, " ", 1);
	address_list_append(out, headers, "From", NULL, utf8);
	buf_append(out, " ", 1);
	/* RFC 3501 7.4.2: Sender and Reply-To absent or empty are From */
	address_list_append(out, headers, "Sender", "From", utf8);
	buf_append(out, " ", 1);
	address_list_append(out, headers, "Reply-To", "From", utf8);
	buf_append(out, " ", 1);
	address_list_append(out, headers, "To", NULL, utf8);
	buf_append(out, " ", 1);
	address_list_append(out, headers, "Cc", NULL, utf8);
	buf_append(out, " ", 1);
	address_list_append(out, headers, "Bcc", NULL, utf8);
	buf_append(out, " ", 1);
	header_nstring_append(out, headers, "In-Reply-To", utf8);
	buf_append(out, " ", 1);
	header_nstring_append(out, headers, "Message-ID", utf8);
	buf_append(out, ")", 1);
}

/* address_list_parse - the addresses of the first field NAME, or NULL
 * (absent, empty or not an address list) */
static struct message_address *address_list_parse(const struct message_headers *headers,
						  const char *name, size_t *count_r)
{
	const struct message_header *f = message_header_find(headers, name, 0);
	*count_r = 0;
	return f ? message_address_list_parse_full(f->value, f->value_len, count_r) : NULL;
}

/* address_list_append - "(" address... ")" of field NAME, or FALLBACK's
 * when NAME has none, or NIL */
static void address_list_append(struct buf *out, const struct message_headers *headers,
				const char *name, const char *fallback, bool utf8)
{
	size_t count;
	struct message_address *list = address_list_parse(headers, name, &count);
	if ((list == NULL || count == 0) && fallback != NULL) {
		message_addresses_free(list, count);
		list = address_list_parse(headers, fallback, &count);
	}
	if (list == NULL || count == 0) {
		buf_append(out, "NIL", 3);
	} else {
		buf_append(out, "(", 1);
		for (size_t i = 0; i < count; i++)
			address_append(out, &list[i], utf8);
		buf_append(out, ")", 1);
	}
	message_addresses_free(list, count);
}

/* address_append - (name adl mailbox host); a group is (NIL NIL name NIL)
 * before its members and (NIL NIL NIL NIL) after (RFC 9051 7.5.2) */
static void address_append(struct buf *out, const struct message_address *a, bool utf8)
{
	if (a->kind == MESSAGE_ADDRESS_GROUP_START) {
		buf_append(out, "(NIL NIL ", 9);
		imap_nstring_append(out, a->name, utf8);
		buf_append(out, " NIL)", 5);
		return;
	}
	if (a->kind == MESSAGE_ADDRESS_GROUP_END) {
		buf_append(out, "(NIL NIL NIL NIL)", 17);
		return;
	}
	buf_append(out, "(", 1);
	imap_nstring_append(out, a->name, utf8);
	buf_append(out, " ", 1);
	imap_nstring_append(out, a->route, utf8);
	buf_append(out, " ", 1);
	/* a quoted local part goes without its quotes and escapes */
	size_t len = strlen(a->local);
	if (len >= 2 && a->local[0] == '"' && a->local[len - 1] == '"') {
		struct buf local;
		buf_init(&local);
		for (size_t i = 1; i + 1 < len; i++) {
			if (a->local[i] == '\\' && i + 2 < len)
				i++;
			buf_append(&local, &a->local[i], 1);
		}
		imap_string_append(out, local.data ? local.data : "", local.len, utf8);
		buf_free(&local);
	} else {
		imap_string_append(out, a->local, len, utf8);
	}
	buf_append(out, " ", 1);
	imap_nstring_append(out, a->domain, utf8);
	buf_append(out, ")", 1);
}

void imap_bodystructure_append(struct buf *out, const struct message_part *root, bool extended,
			       bool utf8)
{
	part_append(out, root, extended, utf8);
}

/* params_append - ("name" "value" ...) or NIL */
static void params_append(struct buf *out, const struct message_content_type *ct, bool utf8)
{
	if (ct->param_count == 0) {
		buf_append(out, "NIL", 3);
		return;
	}
	buf_append(out, "(", 1);
	for (size_t i = 0; i < ct->param_count; i++) {
		if (i > 0)
			buf_append(out, " ", 1);
		imap_nstring_append(out, ct->params[i].name, utf8);
		buf_append(out, " ", 1);
		imap_string_append(out, ct->params[i].value, ct->params[i].value_len, utf8);
	}
	buf_append(out, ")", 1);
}

/* disposition_append - ("type" (params)) or NIL (RFC 9051 9 body-fld-dsp) */
static void disposition_append(struct buf *out, const struct message_part *part, bool utf8)
{
	if (part->disposition.type == NULL) {
		buf_append(out, "NIL", 3);
		return;
	}
	buf_append(out, "(", 1);
	imap_nstring_append(out, part->disposition.type, utf8);
	buf_append(out, " ", 1);
	params_append(out, &part->disposition, utf8);
	buf_append(out, ")", 1);
}

/* part_extension_append - the extension data common to both kinds of part:
 * SP disposition SP language SP location (RFC 9051 9 body-ext-1part,
 * body-ext-mpart, after their first member) */
static void part_extension_append(struct buf *out, const struct message_part *part, bool utf8)
{
	buf_append(out, " ", 1);
	disposition_append(out, part, utf8);
	buf_append(out, " ", 1);
	language_append(out, &part->headers, utf8);
	buf_append(out, " ", 1);
	header_nstring_append(out, &part->headers, "Content-Location", utf8);
}

/* language_append - body-fld-lang (RFC 9051 9) from Content-Language, a
 * comma-separated list of language tags (RFC 3282 2): NIL, one string,
 * or a list of them when there are several; comments are dropped */
static void language_append(struct buf *out, const struct message_headers *headers, bool utf8)
{
	const struct message_header *f = message_header_find(headers, "Content-Language", 0);
	char *value = f ? message_header_unfold(f) : NULL;
	struct buf tags;
	size_t count = 0;

	buf_init(&tags);
	/* comments out first (nested, with quoted-pairs), so a comma in one
	 * splits nothing */
	if (value != NULL) {
		char *o = value;
		int depth = 0;
		for (const char *c = value; *c != '\0'; c++) {
			if (depth > 0 && *c == '\\' && c[1] != '\0')
				c++;
			else if (*c == '(')
				depth++;
			else if (*c == ')' && depth > 0)
				depth--;
			else if (depth == 0)
				*o++ = *c;
		}
		*o = '\0';
	}
	for (char *p = value; p != NULL && *p != '\0';) {
		char *comma = strchr(p, ',');
		char *end = comma ? comma : p + strlen(p);
		char *stop = end;
		while (p < stop && (*p == ' ' || *p == '\t'))
			p++;
		while (stop > p && (stop[-1] == ' ' || stop[-1] == '\t'))
			stop--;
		if (stop > p) {
			if (count++ > 0)
				buf_append(&tags, " ", 1);
			imap_string_append(&tags, p, (size_t)(stop - p), utf8);
		}
		p = comma ? comma + 1 : end;
	}
	if (count == 0)
		buf_append(out, "NIL", 3);
	else if (count == 1)
		buf_append(out, tags.data, tags.len);
	else
		buf_printf(out, "(%.*s)", (int)tags.len, tags.data);
	buf_free(&tags);
	free(value);
}

/* part_append - one body (RFC 9051 9 body): a multipart with its parts,
 * or a single part; a multipart without parts (no boundary line found, or
 * past the parser's limits) is shown as an empty text/plain part */
static void part_append(struct buf *out, const struct message_part *part, bool extended,
			bool utf8)
{
	const struct message_content_type *ct = &part->content_type;
	buf_append(out, "(", 1);
	if (part->is_multipart && part->children != NULL) {
		for (const struct message_part *c = part->children; c != NULL; c = c->next)
			part_append(out, c, extended, utf8);
		buf_append(out, " ", 1);
		imap_nstring_append(out, ct->subtype, utf8);
		if (extended) {
			buf_append(out, " ", 1);
			params_append(out, ct, utf8);
			part_extension_append(out, part, utf8);
		}
		buf_append(out, ")", 1);
		return;
	}
	if (part->is_multipart) {
		buf_append_str(out, "\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0)");
		return;
	}
	imap_nstring_append(out, ct->type, utf8);
	buf_append(out, " ", 1);
	imap_nstring_append(out, ct->subtype, utf8);
	buf_append(out, " ", 1);
	params_append(out, ct, utf8);
	buf_append(out, " ", 1);
	header_nstring_append(out, &part->headers, "Content-ID", utf8);
	buf_append(out, " ", 1);
	header_nstring_append(out, &part->headers, "Content-Description", utf8);
	buf_append(out, " ", 1);
	/* the parsed token, without the comments around it; another one
	 * than RFC 2045's as written */
	if (part->encoding != MESSAGE_ENCODING_UNKNOWN) {
		imap_nstring_append(out, message_encoding_name(part->encoding), utf8);
	} else {
		const struct message_header *cte =
			message_header_find(&part->headers, "Content-Transfer-Encoding", 0);
		char *encoding = cte ? message_header_unfold(cte) : xstrdup("7bit");
		imap_nstring_append(out, encoding, utf8);
		free(encoding);
	}
	buf_printf(out, " %zu", part->body_size);
	bool message_type = strcmp(ct->type, "message") == 0 &&
			    (strcmp(ct->subtype, "rfc822") == 0 || strcmp(ct->subtype, "global") == 0);
	if (part->is_message || message_type) {
		/* RFC 9051 9 body-type-msg: envelope SP body SP body-fld-lines;
		 * a message the parser kept opaque (encoded, or past its
		 * limits) has no child: an empty envelope and body stand for
		 * it, so the grammar still holds */
		buf_append(out, " ", 1);
		if (part->children != NULL) {
			imap_envelope_append(out, &part->children->headers, utf8);
			buf_append(out, " ", 1);
			part_append(out, part->children, extended, utf8);
		} else {
			buf_append_str(out, "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) "
				       "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL "
				       "\"7bit\" 0 0)");
		}
		buf_printf(out, " %zu", part->body_lines);
	} else if (strcmp(ct->type, "text") == 0) {
		buf_printf(out, " %zu", part->body_lines);
	}
	if (extended) {
		buf_append(out, " ", 1);
		header_nstring_append(out, &part->headers, "Content-MD5", utf8);
		part_extension_append(out, part, utf8);
	}
	buf_append(out, ")", 1);
}
