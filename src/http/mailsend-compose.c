/* http/mailsend-compose - one personalization of a validated mail/send
 * request written as an RFC 5322 message with a MIME body (mailsend.h).
 *
 * The shape, from the outside in: multipart/mixed when there are
 * attachments, multipart/related when some are inline (referred to by
 * cid: URLs, RFC 2392), multipart/alternative when there are several
 * contents (RFC 2046 5.1.4: the plainest first, as SendGrid requires them).
 * A single part needs no multipart.  Contents get CRLF line ends and go as
 * 7bit when they are ASCII in lines of at most 998 octets, else in base64;
 * attachments in base64, as they are.
 * Boundaries are "=_" + the message's ID + a letter: "=_" never appears in
 * base64, and 7bit text that holds it goes as base64, so a boundary can
 * never be found inside a part.  No I/O.
 */
#include "http/mailsend.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "message/message.h"
#include "util/base64.h"

#define COMPOSE_FOLD "\r\n "
#define COMPOSE_LINE_MAX 998       /* RFC 5322 2.1.1 */
#define COMPOSE_BASE64_LINE 76     /* RFC 2045 6.8 */

/* Key comparisons substitutions may make, per octet of text they scan
 * (and a floor): a request built so that every octet starts every key
 * (10000 octets of keys all beginning "a", a body of "a"s) would otherwise
 * cost keys x octets comparisons, thousands per octet; an ordinary one
 * makes about one per octet where a key begins, none elsewhere. */
#define COMPOSE_COMPARES_PER_OCTET 8
#define COMPOSE_COMPARES_MIN 65536

struct compose_ctx {
	const struct mailsend_request *r;
	const struct mailsend_personalization *p;
	const struct mailsend_stamp *stamp;
	size_t max;
	bool starts[256];          /* an octet some substitution key begins with */
	size_t compares;           /* key comparisons made, and allowed */
	size_t compares_max;
	const char *error;         /* why the message could not be written */
};

static bool substitute(struct compose_ctx *c, const char *text, struct buf *out);
static void address_write(const struct mailsend_address *a, struct buf *out);
static void address_field(const char *name, const struct mailsend_address *list, size_t n,
			  struct buf *out);
static void header_field(const char *name, const char *value, struct buf *out);
static bool header_overridden(const struct mailsend_personalization *p, const char *name);
static void header_section(struct compose_ctx *c, struct buf *out);
static bool is_7bit(const char *data, size_t len);
static void crlf_normalize(const char *data, size_t len, struct buf *out);
static void base64_lines(const char *data, size_t len, struct buf *out);
static void quoted_param(const char *name, const char *value, struct buf *out);
static void content_part(struct compose_ctx *c, const struct mailsend_content *ct,
			 struct buf *out);
static void attachment_part(const struct mailsend_attachment *a, struct buf *out);
typedef void compose_part_fn(struct compose_ctx *c, struct buf *out);
static void alternative_part(struct compose_ctx *c, struct buf *out);
static void attachments_around(struct compose_ctx *c, const char *subtype, char letter,
			       bool is_inline, compose_part_fn *inner, struct buf *out);
static void related_part(struct compose_ctx *c, struct buf *out);
static void mixed_part(struct compose_ctx *c, struct buf *out);

/* substitute - TEXT with the personalization's substitutions made (each
 * key replaced where it occurs, the first key that matches at a position
 * winning), appended to OUT; false (and c->error) once OUT would pass the
 * size limit or the comparisons their bound */
static bool substitute(struct compose_ctx *c, const char *text, struct buf *out)
{
	const struct mailsend_personalization *p = c->p;
	const char *s = text;
	c->compares_max += strlen(text) * COMPOSE_COMPARES_PER_OCTET;
	while (*s && !c->error) {
		size_t k = p->substitution_count;
		if (c->starts[(unsigned char)*s]) {
			for (k = 0; k < p->substitution_count; k++) {
				const char *key = p->substitutions[k].name;
				if (key[0] != *s)
					continue;
				if (++c->compares > c->compares_max)
					c->error = "the substitutions would take too long to make";
				if (strncmp(s, key, strlen(key)) == 0)
					break;
			}
		}
		const char *piece = s;
		size_t len = 1;
		if (k < p->substitution_count) {
			piece = p->substitutions[k].value;
			len = strlen(piece);
			s += strlen(p->substitutions[k].name);
		} else {
			s++;
		}
		if (out->len + len > c->max)
			c->error = "the message is larger than the size limit";
		else
			buf_append(out, piece, len);
	}
	buf_append(out, "", 0);
	return c->error == NULL;
}

/* address_write - "Name <email>" or "email" */
static void address_write(const struct mailsend_address *a, struct buf *out)
{
	if (a->name) {
		message_phrase_write(a->name, COMPOSE_FOLD, out);
		buf_printf(out, " <%s>", a->email);
	} else {
		buf_append_str(out, a->email);
	}
}

/* address_field - NAME: the N addresses of LIST, one a line after the
 * first (RFC 5322 3.2.2 folding) */
static void address_field(const char *name, const struct mailsend_address *list, size_t n,
			  struct buf *out)
{
	if (n == 0)
		return;
	buf_printf(out, "%s: ", name);
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			buf_append_str(out, "," COMPOSE_FOLD);
		address_write(&list[i], out);
	}
	buf_append_str(out, "\r\n");
}

/* header_field - NAME: VALUE, VALUE encoded if it is not ASCII */
static void header_field(const char *name, const char *value, struct buf *out)
{
	buf_printf(out, "%s: ", name);
	message_unstructured_write(value, COMPOSE_LINE_MAX - strlen(name) - 2, COMPOSE_FOLD, out);
	buf_append_str(out, "\r\n");
}

/* header_overridden - the personalization sets header NAME itself */
static bool header_overridden(const struct mailsend_personalization *p, const char *name)
{
	for (size_t i = 0; i < p->header_count; i++)
		if (strcasecmp(p->headers[i].name, name) == 0)
			return true;
	return false;
}

static void header_section(struct compose_ctx *c, struct buf *out)
{
	const struct mailsend_request *r = c->r;
	const struct mailsend_personalization *p = c->p;
	address_field("From", p->from.email ? &p->from : &r->from, 1, out);
	address_field("Reply-To", r->reply_to, r->reply_to_count, out);
	address_field("To", p->to, p->to_count, out);
	address_field("Cc", p->cc, p->cc_count, out);
	struct buf subject;
	buf_init(&subject);
	if (substitute(c, p->subject ? p->subject : r->subject, &subject))
		header_field("Subject", subject.data, out);
	buf_free(&subject);
	char date[64];
	message_date_format(c->stamp->date, date, sizeof(date));
	buf_printf(out, "Date: %s\r\nMessage-ID: <%s@%s>\r\nMIME-Version: 1.0\r\n", date,
		   c->stamp->id, c->stamp->hostname);
	for (size_t i = 0; i < r->header_count; i++)
		if (!header_overridden(p, r->headers[i].name))
			header_field(r->headers[i].name, r->headers[i].value, out);
	for (size_t i = 0; i < p->header_count; i++)
		header_field(p->headers[i].name, p->headers[i].value, out);
}

/* is_7bit - ASCII without NUL or bare CR, lines of at most 998 octets once
 * LF ends are CRLF, and no "=_" (the boundaries' mark) */
static bool is_7bit(const char *data, size_t len)
{
	size_t line = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)data[i];
		if (ch == 0 || ch >= 0x80 || (ch == '\r' && (i + 1 == len || data[i + 1] != '\n')))
			return false;
		if (ch == '_' && i > 0 && data[i - 1] == '=')
			return false;
		if (ch == '\n')
			line = 0;
		else if (ch != '\r' && ++line > COMPOSE_LINE_MAX)
			return false;
	}
	return true;
}

/* crlf_normalize - DATA with every line end (CRLF, LF, CR) made CRLF, and
 * one at the end */
static void crlf_normalize(const char *data, size_t len, struct buf *out)
{
	size_t start = 0;
	for (size_t i = 0; i < len; i++) {
		if (data[i] != '\r' && data[i] != '\n')
			continue;
		buf_append(out, data + start, i - start);
		buf_append_str(out, "\r\n");
		if (data[i] == '\r' && i + 1 < len && data[i + 1] == '\n')
			i++;
		start = i + 1;
	}
	buf_append(out, data + start, len - start);
	if (len == 0 || (data[len - 1] != '\n' && data[len - 1] != '\r'))
		buf_append_str(out, "\r\n");
}

/* base64_lines - DATA in base64, lines of 76 characters (RFC 2045 6.8) */
static void base64_lines(const char *data, size_t len, struct buf *out)
{
	const size_t chunk = COMPOSE_BASE64_LINE / 4 * 3;
	for (size_t pos = 0; pos < len; pos += chunk) {
		base64_encode(data + pos, len - pos < chunk ? len - pos : chunk, out);
		buf_append_str(out, "\r\n");
	}
}

/* quoted_param - ; NAME="VALUE" (RFC 2045 5.1 quoted-string), or NAME*=
 * with RFC 2231 4's percent encoding when VALUE is not ASCII */
static void quoted_param(const char *name, const char *value, struct buf *out)
{
	bool ascii = true;
	for (const unsigned char *p = (const unsigned char *)value; *p; p++)
		ascii = ascii && *p < 0x80;
	if (ascii) {
		buf_printf(out, ";" COMPOSE_FOLD "%s=\"", name);
		for (const char *p = value; *p; p++) {
			if (*p == '"' || *p == '\\')
				buf_append(out, "\\", 1);
			buf_append(out, p, 1);
		}
		buf_append(out, "\"", 1);
		return;
	}
	buf_printf(out, ";" COMPOSE_FOLD "%s*=UTF-8''", name);
	for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
		if ((*p >= '0' && *p <= '9') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= 'a' && *p <= 'z') || strchr("!#$&+-.^_`|~", *p))
			buf_append(out, p, 1);
		else
			buf_printf(out, "%%%02X", *p);
	}
}

/* content_part - a content block's fields and body (substitutions made) */
static void content_part(struct compose_ctx *c, const struct mailsend_content *ct,
			 struct buf *out)
{
	struct buf text;
	buf_init(&text);
	struct buf lines;
	buf_init(&lines);
	if (substitute(c, ct->value, &text)) {
		/* RFC 2045 6.8: text is encoded in its canonical form, CRLF lines */
		crlf_normalize(text.data, text.len, &lines);
		bool plain = is_7bit(lines.data, lines.len);
		buf_printf(out, "Content-Type: %s%s\r\nContent-Transfer-Encoding: %s\r\n\r\n",
			   ct->type, strncasecmp(ct->type, "text/", 5) == 0 ?
			   "; charset=utf-8" : "", plain ? "7bit" : "base64");
		if (plain)
			buf_append(out, lines.data, lines.len);
		else
			base64_lines(lines.data, lines.len, out);
	}
	buf_free(&text);
	buf_free(&lines);
}

static void attachment_part(const struct mailsend_attachment *a, struct buf *out)
{
	buf_printf(out, "Content-Type: %s", a->type ? a->type : "application/octet-stream");
	quoted_param("name", a->filename, out);
	buf_printf(out, "\r\nContent-Disposition: %s", a->is_inline ? "inline" : "attachment");
	quoted_param("filename", a->filename, out);
	buf_append_str(out, "\r\nContent-Transfer-Encoding: base64\r\n");
	if (a->content_id)
		buf_printf(out, "Content-ID: <%s>\r\n", a->content_id);
	buf_append_str(out, "\r\n");
	base64_lines(a->content.data, a->content.len, out);
}

/* alternative_part - the contents: one part, or multipart/alternative */
static void alternative_part(struct compose_ctx *c, struct buf *out)
{
	const struct mailsend_request *r = c->r;
	if (r->content_count == 1) {
		content_part(c, &r->contents[0], out);
		return;
	}
	const char *id = c->stamp->id;
	buf_printf(out, "Content-Type: multipart/alternative;" COMPOSE_FOLD
		   "boundary=\"=_%s_a\"\r\n\r\n", id);
	for (size_t i = 0; i < r->content_count; i++) {
		buf_printf(out, "--=_%s_a\r\n", id);
		content_part(c, &r->contents[i], out);
	}
	buf_printf(out, "--=_%s_a--\r\n", id);
}

/* attachments_around - INNER's part with the attachments whose
 * disposition is inline (IS_INLINE) or not in a multipart/SUBTYPE (its
 * boundary ends in LETTER), or INNER's part alone when there are none */
static void attachments_around(struct compose_ctx *c, const char *subtype, char letter,
			       bool is_inline, compose_part_fn *inner, struct buf *out)
{
	const struct mailsend_request *r = c->r;
	bool any = false;
	for (size_t i = 0; i < r->attachment_count; i++)
		any = any || r->attachments[i].is_inline == is_inline;
	if (!any) {
		inner(c, out);
		return;
	}
	const char *id = c->stamp->id;
	buf_printf(out, "Content-Type: multipart/%s;" COMPOSE_FOLD
		   "boundary=\"=_%s_%c\"\r\n\r\n--=_%s_%c\r\n", subtype, id, letter, id, letter);
	inner(c, out);
	for (size_t i = 0; i < r->attachment_count; i++) {
		if (r->attachments[i].is_inline != is_inline)
			continue;
		buf_printf(out, "--=_%s_%c\r\n", id, letter);
		attachment_part(&r->attachments[i], out);
	}
	buf_printf(out, "--=_%s_%c--\r\n", id, letter);
}

/* related_part - the contents with the inline attachments they refer to
 * (RFC 2387) */
static void related_part(struct compose_ctx *c, struct buf *out)
{
	attachments_around(c, "related", 'r', true, alternative_part, out);
}

/* mixed_part - the body with the attachments that are not inline */
static void mixed_part(struct compose_ctx *c, struct buf *out)
{
	attachments_around(c, "mixed", 'm', false, related_part, out);
}

int mailsend_compose(const struct mailsend_request *request, size_t index,
		     const struct mailsend_limits *limits, const struct mailsend_stamp *stamp,
		     struct buf *out, const char **error_r)
{
	struct compose_ctx c = { .r = request, .p = &request->personalizations[index],
				 .stamp = stamp, .max = limits->message_size,
				 .compares_max = COMPOSE_COMPARES_MIN };
	for (size_t i = 0; i < c.p->substitution_count; i++)
		c.starts[(unsigned char)c.p->substitutions[i].name[0]] = true;
	size_t start = out->len;
	header_section(&c, out);
	/* the body's outermost part's fields end the header section */
	mixed_part(&c, out);
	int rc = 0;
	if (!c.error && out->len - start > limits->message_size)
		c.error = "the message is larger than the size limit";
	if (c.error) {
		*error_r = c.error;
		rc = -1;
	}
	return rc;
}
