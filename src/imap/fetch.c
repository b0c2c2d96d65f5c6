/* imap/fetch - the FETCH response of one message (RFC 9051 6.4.5 and 7.5.2,
 * RFC 3516 BINARY, RFC 7162 MODSEQ), from its index record and its file's
 * bytes.  No I/O: the session reads the file on a worker and hands the bytes
 * in, one message at a time, so a FETCH of many messages never holds more
 * than one of them.
 *
 * Sections are found in message/'s MIME tree (RFC 9051 6.4.5): part numbers
 * name the parts of a multipart, a message that is not multipart has one
 * part (1, its body), and the numbers after a message/rfc822 part name the
 * parts of the message inside it; HEADER, HEADER.FIELDS[.NOT] and TEXT after
 * a part number need that part to be a message/rfc822; MIME is a part's own
 * header.  The bytes are those of the file as they are.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "imap/imap.h"
#include "imap/parse.h"
#include "mailbox/mailbox.h"
#include "message/message.h"
#include "util/buf.h"

/* A message being answered: its bytes and, once an item needed it, its tree */
struct fetch_message {
	const char *data;
	size_t len;
	struct message_part *root;
};

static const struct message_part *fetch_tree(struct fetch_message *m);
static int item_append(struct buf *out, const struct imap_fetch_item *item,
		       const struct imap_fetch_context *ctx, const struct mailbox_message *msg,
		       struct fetch_message *m, const char **error_r);
static int section_append(struct buf *out, const struct imap_fetch_item *item,
			  struct fetch_message *m, const char **error_r);
static const struct message_part *part_find(const struct message_part *root,
					    const uint32_t *numbers, unsigned count);
static void fields_append(struct buf *out, const struct message_part *part,
			  const struct imap_fetch_item *item);
static bool field_is_listed(const struct message_header *field, const struct imap_fetch_item *item);
static void partial_literal_append(struct buf *out, const struct imap_fetch_item *item,
				   const char *data, size_t len, bool literal8);

void imap_date_time_append(struct buf *out, time_t t)
{
	static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct tm tm;
	if (gmtime_r(&t, &tm) == NULL) {
		t = 0;
		(void)gmtime_r(&t, &tm);
	}
	buf_printf(out, "\"%02d-%s-%04d %02d:%02d:%02d +0000\"", tm.tm_mday, months[tm.tm_mon],
		   tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

bool imap_fetch_needs_file(const struct imap_fetch *fetch)
{
	for (size_t i = 0; i < fetch->count; i++) {
		switch (fetch->items[i].kind) {
		case IMAP_FETCH_FLAGS:
		case IMAP_FETCH_UID:
		case IMAP_FETCH_INTERNALDATE:
		case IMAP_FETCH_RFC822_SIZE:
		case IMAP_FETCH_MODSEQ:
			break;
		default:
			return true;
		}
	}
	return false;
}

bool imap_fetch_sets_seen(const struct imap_fetch *fetch)
{
	for (size_t i = 0; i < fetch->count; i++)
		if (!fetch->items[i].peek)
			return true;
	return false;
}

/* fetch_tree - M's MIME tree, parsed at the first need */
static const struct message_part *fetch_tree(struct fetch_message *m)
{
	if (m->root == NULL) {
		struct message_mime_parser *parser = message_mime_parser_create(NULL);
		message_mime_parser_feed(parser, m->data, m->len);
		m->root = message_mime_parser_finish(&parser);
	}
	return m->root;
}

int imap_fetch_message_append(struct buf *out, const struct imap_fetch *fetch,
			      const struct imap_fetch_context *ctx, uint32_t seq,
			      const struct mailbox_message *msg, const char *data, size_t len,
			      const char **error_r)
{
	struct fetch_message m = { .data = data != NULL ? data : "", .len = data ? len : 0 };
	size_t start = out->len;
	bool has_uid = false, has_flags = false, has_modseq = false;
	int ret = -1;

	buf_printf(out, "* %u FETCH (", seq);
	for (size_t i = 0; i < fetch->count; i++) {
		has_uid |= fetch->items[i].kind == IMAP_FETCH_UID;
		has_flags |= fetch->items[i].kind == IMAP_FETCH_FLAGS;
		has_modseq |= fetch->items[i].kind == IMAP_FETCH_MODSEQ;
	}
	/* what a UID command always answers first, as most servers put it */
	if (ctx->uid && !has_uid)
		buf_printf(out, "UID %u ", msg->uid);
	for (size_t i = 0; i < fetch->count; i++) {
		if (i > 0)
			buf_append(out, " ", 1);
		if (item_append(out, &fetch->items[i], ctx, msg, &m, error_r) < 0)
			goto out;
	}
	if (ctx->flags && !has_flags) {
		buf_append_str(out, " FLAGS ");
		imap_flags_append(out, msg->flags, msg->keywords, ctx->keywords, ctx->keyword_count,
				  ctx->recent && msg->recent);
	}
	if (ctx->modseq && !has_modseq)
		buf_printf(out, " MODSEQ (%llu)", (unsigned long long)msg->modseq);
	buf_append(out, ")\r\n", 3);
	ret = 0;
out:
	if (ret < 0) {
		out->len = start;
		if (out->data != NULL)
			out->data[start] = '\0';
	}
	message_part_free(&m.root);
	return ret;
}

/* item_append - one "name value" of the response */
static int item_append(struct buf *out, const struct imap_fetch_item *item,
		       const struct imap_fetch_context *ctx, const struct mailbox_message *msg,
		       struct fetch_message *m, const char **error_r)
{
	const struct message_part *root;

	switch (item->kind) {
	case IMAP_FETCH_FLAGS:
		buf_append_str(out, "FLAGS ");
		imap_flags_append(out, msg->flags, msg->keywords, ctx->keywords, ctx->keyword_count,
				  ctx->recent && msg->recent);
		return 0;
	case IMAP_FETCH_UID:
		buf_printf(out, "UID %u", msg->uid);
		return 0;
	case IMAP_FETCH_INTERNALDATE:
		buf_append_str(out, "INTERNALDATE ");
		imap_date_time_append(out, msg->internal_date);
		return 0;
	case IMAP_FETCH_RFC822_SIZE:
		buf_printf(out, "RFC822.SIZE %llu", (unsigned long long)msg->size);
		return 0;
	case IMAP_FETCH_MODSEQ:
		buf_printf(out, "MODSEQ (%llu)", (unsigned long long)msg->modseq);
		return 0;
	case IMAP_FETCH_ENVELOPE:
		buf_append_str(out, "ENVELOPE ");
		imap_envelope_append(out, &fetch_tree(m)->headers, ctx->utf8);
		return 0;
	case IMAP_FETCH_BODY:
	case IMAP_FETCH_BODYSTRUCTURE:
		buf_printf(out, "%s ", item->name);
		imap_bodystructure_append(out, fetch_tree(m), item->kind == IMAP_FETCH_BODYSTRUCTURE,
					  ctx->utf8);
		return 0;
	case IMAP_FETCH_RFC822:
		buf_append_str(out, "RFC822 ");
		partial_literal_append(out, item, m->data, m->len, false);
		return 0;
	case IMAP_FETCH_RFC822_HEADER:
		root = fetch_tree(m);
		buf_append_str(out, "RFC822.HEADER ");
		partial_literal_append(out, item, m->data, root->header_size, false);
		return 0;
	case IMAP_FETCH_RFC822_TEXT:
		root = fetch_tree(m);
		buf_append_str(out, "RFC822.TEXT ");
		partial_literal_append(out, item, m->data + root->body_offset,
				       m->len - root->body_offset, false);
		return 0;
	case IMAP_FETCH_SECTION:
	case IMAP_FETCH_BINARY:
	case IMAP_FETCH_BINARY_SIZE:
		buf_printf(out, "%s ", item->name);
		return section_append(out, item, m, error_r);
	}
	return 0;
}

/* part_find - the part NUMBERS[0..COUNT) name under ROOT, or NULL (RFC 9051
 * 6.4.5: a message that is not multipart has one part, its body) */
static const struct message_part *part_find(const struct message_part *root,
					    const uint32_t *numbers, unsigned count)
{
	const struct message_part *message = root, *part = root;

	for (unsigned i = 0; i < count; i++) {
		if (message == NULL)
			return NULL;
		if (message->is_multipart && message->children != NULL) {
			part = message->children;
			for (uint32_t n = 1; part != NULL && n < numbers[i]; n++)
				part = part->next;
			if (part == NULL)
				return NULL;
		} else if (numbers[i] == 1) {
			part = message;
		} else {
			return NULL;
		}
		/* what the next number counts in: the parts of a multipart, or
		 * of the message inside a message/rfc822 */
		if (part->is_multipart)
			message = part;
		else if (part->is_message && part != message)
			message = part->children;
		else
			message = NULL;
	}
	return part;
}

/* section_append - the value of BODY[...], BINARY[...] or BINARY.SIZE[...] */
static int section_append(struct buf *out, const struct imap_fetch_item *item,
			  struct fetch_message *m, const char **error_r)
{
	const struct message_part *root = fetch_tree(m);
	const struct message_part *part = part_find(root, item->part, item->parts);
	const struct message_part *inner = part;
	size_t offset = 0, size = 0;

	if (part == NULL) {
		buf_append_str(out, item->kind == IMAP_FETCH_BINARY_SIZE ? "0" : "NIL");
		return 0;
	}
	if (item->parts > 0 && item->text != IMAP_SECTION_WHOLE &&
	    item->text != IMAP_SECTION_MIME) {
		/* HEADER, TEXT ... of a part: of the message a message/rfc822 holds */
		inner = part->is_message ? part->children : NULL;
		if (inner == NULL) {
			buf_append_str(out, "NIL");
			return 0;
		}
	}
	switch (item->text) {
	case IMAP_SECTION_WHOLE:
		if (item->parts == 0) {
			size = m->len;
		} else {
			offset = part->body_offset;
			size = part->body_size;
		}
		break;
	case IMAP_SECTION_HEADER:
	case IMAP_SECTION_MIME:
		offset = inner->header_offset;
		size = inner->header_size;
		break;
	case IMAP_SECTION_TEXT:
		offset = inner->body_offset;
		/* the root's text runs to the end, past a multipart's epilogue */
		size = inner == root ? m->len - offset : inner->body_size;
		break;
	case IMAP_SECTION_HEADER_FIELDS:
	case IMAP_SECTION_HEADER_FIELDS_NOT: {
		struct buf fields;
		buf_init(&fields);
		fields_append(&fields, inner, item);
		partial_literal_append(out, item, fields.data, fields.len, false);
		buf_free(&fields);
		return 0;
	}
	}
	if (offset > m->len)
		offset = m->len;
	if (size > m->len - offset)
		size = m->len - offset;
	if (item->kind == IMAP_FETCH_SECTION) {
		partial_literal_append(out, item, m->data + offset, size, false);
		return 0;
	}
	/* BINARY: a leaf part's content decoded; the whole message, a
	 * multipart or a message/rfc822 are 7bit, 8bit or binary (RFC 2045
	 * 6.4) and go as they are (RFC 3516 4.2) */
	struct buf decoded;
	buf_init(&decoded);
	if (item->parts > 0 && !part->is_multipart && !part->is_message) {
		if (part->encoding == MESSAGE_ENCODING_UNKNOWN) {
			*error_r = "[UNKNOWN-CTE] The part's Content-Transfer-Encoding is unknown";
			return -1;
		}
		struct message_decoder dec;
		message_decoder_init(&dec, part->encoding);
		message_decoder_feed(&dec, m->data + offset, size, &decoded);
		message_decoder_finish(&dec, &decoded);
	} else {
		buf_append(&decoded, m->data + offset, size);
	}
	if (item->kind == IMAP_FETCH_BINARY_SIZE)
		buf_printf(out, "%zu", decoded.len);
	else
		partial_literal_append(out, item, decoded.data ? decoded.data : "", decoded.len,
				       memchr(decoded.data ? decoded.data : "", '\0',
					      decoded.len) != NULL);
	buf_free(&decoded);
	return 0;
}

/* field_is_listed - FIELD's name is one of ITEM's (case-insensitive) */
static bool field_is_listed(const struct message_header *field, const struct imap_fetch_item *item)
{
	for (size_t i = 0; i < item->field_count; i++)
		if (strlen(item->fields[i]) == field->name_len &&
		    strncasecmp(item->fields[i], field->name, field->name_len) == 0)
			return true;
	return false;
}

/* fields_append - HEADER.FIELDS[.NOT]: the fields of PART's header that
 * are (or are not) listed, as they are and in their order, then the empty
 * line (RFC 9051 6.4.5: the subset keeps the header's delimiting line) */
static void fields_append(struct buf *out, const struct message_part *part,
			  const struct imap_fetch_item *item)
{
	bool negate = item->text == IMAP_SECTION_HEADER_FIELDS_NOT;
	for (size_t i = 0; i < part->headers.count; i++) {
		const struct message_header *f = &part->headers.fields[i];
		if (field_is_listed(f, item) == negate)
			continue;
		buf_append(out, part->header_data + f->offset, f->length);
		/* the last field of a section that ends without a line break */
		if (f->length == 0 || part->header_data[f->offset + f->length - 1] != '\n')
			buf_append(out, "\r\n", 2);
	}
	buf_append(out, "\r\n", 2);
}

/* partial_literal_append - DATA[0..LEN), or its <offset.length> slice, as a
 * literal (literal8 "~{n}" when LITERAL8, RFC 3516 4.3); an origin past the
 * end gives the empty string (RFC 9051 6.4.5) */
static void partial_literal_append(struct buf *out, const struct imap_fetch_item *item,
				   const char *data, size_t len, bool literal8)
{
	size_t from = 0, n = len;
	if (item->partial) {
		from = item->offset < len ? (size_t)item->offset : len;
		n = len - from;
		if (item->length < n)
			n = (size_t)item->length;
	}
	buf_printf(out, "%s{%zu}\r\n", literal8 ? "~" : "", n);
	buf_append(out, data + from, n);
}
