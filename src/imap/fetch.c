/* imap/fetch - the FETCH response of one message (RFC 9051 6.4.5 and 7.5.2,
 * RFC 3516 BINARY, RFC 7162 MODSEQ), from its index record and its file's
 * bytes.  No I/O of its own: the file is read through the caller's
 * struct imap_fetch_source, in chunks of FETCH_CHUNK octets, and the
 * response is made in two steps so that its memory does not grow with the
 * message.  imap_fetch_message_start builds what is small (the items'
 * names, ENVELOPE, BODYSTRUCTURE, HEADER.FIELDS) and a list of segments for
 * the section data, whose literal sizes are known up front: a range of the
 * file, or a range decoded (BINARY, RFC 3516), whose size a first pass over
 * the part measures, chunk by chunk.  imap_fetch_stream_next then writes
 * the response a bounded piece at a time, reading the file by offsets.
 *
 * Sections are found in message/'s MIME tree (RFC 9051 6.4.5), parsed (fed
 * chunk by chunk) only when an item needs it: part numbers name the parts
 * of a multipart, a message that is not multipart has one part (1, its
 * body), and the numbers after a message/rfc822 part name the parts of the
 * message inside it; HEADER, HEADER.FIELDS[.NOT] and TEXT after a part
 * number need that part to be a message/rfc822; MIME is a part's own
 * header.  The bytes are those of the file as they are (the store keeps
 * CRLF line ends; a file another MDA wrote with bare LFs goes out so, and
 * its literal sizes count what is sent).
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
#include "util/xalloc.h"

/* octets of the file read at a time */
#define FETCH_CHUNK 65536u

enum segment_kind {
	SEGMENT_TEXT,      /* the stream's text[offset .. offset+length) */
	SEGMENT_FILE,      /* the file's octets [offset .. offset+length) */
	SEGMENT_DECODED,   /* the file's [offset .. offset+length) decoded with
			      ENCODING, of which the octets [skip .. skip+take) */
};

struct fetch_segment {
	enum segment_kind kind;
	size_t offset, length;
	enum message_encoding encoding;
	size_t skip, take;
};

/* The response of one message, built and being written */
struct imap_fetch_stream {
	struct buf text;              /* the parts built in memory */
	size_t text_mark;             /* TEXT not yet in a segment starts here */
	struct fetch_segment *segments;
	size_t count, cap;
	char *chunk;                  /* FETCH_CHUNK octets read from the file */

	/* progress of imap_fetch_stream_next */
	size_t seg;                   /* the segment being written */
	size_t pos;                   /* its octets written (TEXT, FILE) or read (DECODED) */
	bool dec_started, dec_finished;
	struct message_decoder dec;   /* DECODED */
	struct buf decoded;           /* DECODED: the last chunk decoded */
	size_t decoded_from;          /* ... of which the octets still to write */
	size_t produced;              /* DECODED: octets decoded so far */
	size_t sent;                  /* DECODED: octets of the window written */
};

/* What of the message file an item reads */
enum item_reads {
	READS_NOTHING,     /* the index record has it */
	READS_HEADER,      /* the header section alone (ENVELOPE) */
	READS_FILE,
};

/* What the building of one response works with */
struct fetch_build {
	struct imap_fetch_stream *st;
	const struct imap_fetch_source *src;
	struct message_part *root;    /* the MIME tree, once an item needed it */
	bool read_failed;
};

static int source_read(const struct imap_fetch_source *src, size_t offset, char *buf, size_t len);
static const struct message_part *fetch_tree(struct fetch_build *b);
static int item_append(struct fetch_build *b, const struct imap_fetch_item *item,
		       const struct imap_fetch_context *ctx, const struct mailbox_message *msg,
		       const char **error_r);
static int section_append(struct fetch_build *b, const struct imap_fetch_item *item,
			  const char **error_r);
static const struct message_part *part_find(const struct message_part *root,
					    const uint32_t *numbers, unsigned count);
static void fields_append(struct buf *out, const struct message_part *part,
			  const struct imap_fetch_item *item);
static bool field_is_listed(const struct message_header *field, const struct imap_fetch_item *item);
static void segment_add(struct imap_fetch_stream *st, const struct fetch_segment *segment);
static void partial_window(const struct imap_fetch_item *item, size_t len, size_t *from_r,
			   size_t *n_r);
static void file_literal_append(struct fetch_build *b, const struct imap_fetch_item *item,
				size_t offset, size_t len);
static int decoded_measure(struct fetch_build *b, size_t offset, size_t len,
			   enum message_encoding encoding, size_t *size_r, bool *nul_r);
static int stream_decoded(struct imap_fetch_stream *st, const struct fetch_segment *seg,
			  const struct imap_fetch_source *src, struct buf *out, size_t max,
			  size_t *written);
static ssize_t memory_read(void *ctx, size_t offset, char *buf, size_t len);
static enum item_reads item_reads(const struct imap_fetch_item *item);

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

static enum item_reads item_reads(const struct imap_fetch_item *item)
{
	switch (item->kind) {
	case IMAP_FETCH_FLAGS:
	case IMAP_FETCH_UID:
	case IMAP_FETCH_INTERNALDATE:
	case IMAP_FETCH_RFC822_SIZE:
	case IMAP_FETCH_MODSEQ:
		return READS_NOTHING;
	case IMAP_FETCH_ENVELOPE:
		return READS_HEADER;
	default:
		return READS_FILE;
	}
}

bool imap_fetch_needs_file(const struct imap_fetch *fetch)
{
	for (size_t i = 0; i < fetch->count; i++)
		if (item_reads(&fetch->items[i]) != READS_NOTHING)
			return true;
	return false;
}

bool imap_fetch_header_only(const struct imap_fetch *fetch)
{
	for (size_t i = 0; i < fetch->count; i++)
		if (item_reads(&fetch->items[i]) == READS_FILE)
			return false;
	return true;
}

bool imap_fetch_sets_seen(const struct imap_fetch *fetch)
{
	for (size_t i = 0; i < fetch->count; i++)
		if (!fetch->items[i].peek)
			return true;
	return false;
}

/* source_read - exactly LEN octets at OFFSET (the source's size is known:
 * fewer means the file changed); 0 or -1 */
static int source_read(const struct imap_fetch_source *src, size_t offset, char *buf, size_t len)
{
	if (len == 0)
		return 0;
	if (offset > src->size || len > src->size - offset)
		return -1;
	ssize_t n = src->read(src->ctx, offset, buf, len);
	return n >= 0 && (size_t)n == len ? 0 : -1;
}

/* fetch_tree - the MIME tree, parsed at the first need from the file read
 * chunk by chunk (the parser keeps header sections, never bodies); NULL
 * when the file cannot be read */
static const struct message_part *fetch_tree(struct fetch_build *b)
{
	if (b->root == NULL && !b->read_failed) {
		struct message_mime_parser *parser = message_mime_parser_create(NULL);
		for (size_t off = 0; off < b->src->size; off += FETCH_CHUNK) {
			size_t n = b->src->size - off;
			if (n > FETCH_CHUNK)
				n = FETCH_CHUNK;
			if (source_read(b->src, off, b->st->chunk, n) != 0) {
				b->read_failed = true;
				break;
			}
			message_mime_parser_feed(parser, b->st->chunk, n);
		}
		b->root = message_mime_parser_finish(&parser);
		if (b->read_failed)
			message_part_free(&b->root);
	}
	return b->root;
}

/* segment_add - the text written since the last segment, then SEGMENT */
static void segment_add(struct imap_fetch_stream *st, const struct fetch_segment *segment)
{
	for (int i = 0; i < 2; i++) {
		struct fetch_segment text = { .kind = SEGMENT_TEXT, .offset = st->text_mark,
					      .length = st->text.len - st->text_mark };
		const struct fetch_segment *add = i == 0 ? &text : segment;
		if (add == NULL || add->length == 0 ||
		    (add->kind == SEGMENT_DECODED && add->take == 0))
			continue;
		if (st->count == st->cap) {
			st->cap = st->cap ? 2 * st->cap : 8;
			st->segments = xrealloc(st->segments, st->cap * sizeof(*st->segments));
		}
		st->segments[st->count++] = *add;
	}
	st->text_mark = st->text.len;
}

int imap_fetch_message_start(const struct imap_fetch *fetch,
			     const struct imap_fetch_context *ctx, uint32_t seq,
			     const struct mailbox_message *msg, const struct imap_fetch_source *src,
			     struct imap_fetch_stream **stream_r, const char **error_r)
{
	struct imap_fetch_stream *st = xcalloc(1, sizeof(*st));
	struct fetch_build b = { .st = st, .src = src };
	struct buf *out = &st->text;
	bool has_uid = false, has_flags = false, has_modseq = false;
	int ret = -1;

	buf_init(&st->text);
	buf_init(&st->decoded);
	st->chunk = xmalloc(FETCH_CHUNK);
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
		if (item_append(&b, &fetch->items[i], ctx, msg, error_r) < 0)
			goto out;
		if (b.read_failed) {
			*error_r = "[UNAVAILABLE] Cannot read the message";
			goto out;
		}
	}
	if (ctx->flags && !has_flags) {
		buf_append_str(out, " FLAGS ");
		imap_flags_append(out, msg->flags, msg->keywords, ctx->keywords, ctx->keyword_count,
				  ctx->recent && msg->recent);
	}
	if (ctx->modseq && !has_modseq)
		buf_printf(out, " MODSEQ (%llu)", (unsigned long long)msg->modseq);
	buf_append(out, ")\r\n", 3);
	segment_add(st, NULL);
	ret = 0;
out:
	message_part_free(&b.root);
	if (ret < 0)
		imap_fetch_stream_free(&st);
	*stream_r = st;
	return ret;
}

void imap_fetch_stream_free(struct imap_fetch_stream **stream)
{
	struct imap_fetch_stream *st = *stream;
	if (st == NULL)
		return;
	buf_free(&st->text);
	buf_free(&st->decoded);
	free(st->segments);
	free(st->chunk);
	free(st);
	*stream = NULL;
}

int imap_fetch_stream_next(struct imap_fetch_stream *st, const struct imap_fetch_source *src,
			   struct buf *out, size_t max, const char **error_r)
{
	size_t written = 0;
	while (st->seg < st->count && written < max) {
		const struct fetch_segment *seg = &st->segments[st->seg];
		size_t n = seg->length - st->pos;
		switch (seg->kind) {
		case SEGMENT_TEXT:
			buf_append(out, st->text.data + seg->offset + st->pos, n);
			st->pos += n;
			written += n;
			break;
		case SEGMENT_FILE:
			if (n > FETCH_CHUNK)
				n = FETCH_CHUNK;
			if (source_read(src, seg->offset + st->pos, st->chunk, n) != 0) {
				*error_r = "Cannot read the message";
				return -1;
			}
			buf_append(out, st->chunk, n);
			st->pos += n;
			written += n;
			break;
		case SEGMENT_DECODED: {
			int r = stream_decoded(st, seg, src, out, max - written, &written);
			if (r < 0) {
				*error_r = "Cannot read the message";
				return -1;
			}
			if (r == 0)
				continue;
			st->pos = seg->length;
			break;
		}
		}
		if (st->pos == seg->length) {
			st->seg++;
			st->pos = 0;
		}
	}
	return st->seg == st->count ? 1 : 0;
}

/* stream_decoded - write up to about MAX octets of SEG's window, decoding
 * the part a chunk at a time (a window's start is found by decoding what
 * comes before it); 1 when the window is all written, 0 when more is to
 * come, -1 when the file cannot be read or decodes shorter than measured
 * (it changed) */
static int stream_decoded(struct imap_fetch_stream *st, const struct fetch_segment *seg,
			  const struct imap_fetch_source *src, struct buf *out, size_t max,
			  size_t *written)
{
	size_t done = 0;
	if (!st->dec_started) {
		message_decoder_init(&st->dec, seg->encoding);
		st->dec_started = true;
		st->dec_finished = false;
		st->produced = 0;
		st->sent = 0;
		st->decoded_from = 0;
		buf_reset(&st->decoded);
	}
	while (st->sent < seg->take && done < max) {
		if (st->decoded_from < st->decoded.len) {
			size_t n = st->decoded.len - st->decoded_from;
			if (n > seg->take - st->sent)
				n = seg->take - st->sent;
			buf_append(out, st->decoded.data + st->decoded_from, n);
			st->decoded_from += n;
			st->sent += n;
			done += n;
			continue;
		}
		if (st->dec_finished)
			return -1;
		buf_reset(&st->decoded);
		if (st->pos < seg->length) {
			size_t n = seg->length - st->pos;
			if (n > FETCH_CHUNK)
				n = FETCH_CHUNK;
			if (source_read(src, seg->offset + st->pos, st->chunk, n) != 0)
				return -1;
			message_decoder_feed(&st->dec, st->chunk, n, &st->decoded);
			st->pos += n;
		}
		if (st->pos == seg->length) {
			message_decoder_finish(&st->dec, &st->decoded);
			st->dec_finished = true;
		}
		size_t at = st->produced, len = st->decoded.len;
		st->produced += len;
		if (at + len <= seg->skip)
			st->decoded_from = len;           /* all before the window */
		else
			st->decoded_from = at >= seg->skip ? 0 : seg->skip - at;
	}
	*written += done;
	if (st->sent < seg->take)
		return 0;
	st->dec_started = false;
	buf_reset(&st->decoded);
	st->decoded_from = 0;
	return 1;
}

static ssize_t memory_read(void *ctx, size_t offset, char *buf, size_t len)
{
	const struct imap_fetch_memory *mem = ctx;
	if (offset >= mem->len)
		return 0;
	if (len > mem->len - offset)
		len = mem->len - offset;
	memcpy(buf, mem->data + offset, len);
	return (ssize_t)len;
}

void imap_fetch_source_memory(struct imap_fetch_source *src_r, struct imap_fetch_memory *mem,
			      const char *data, size_t len)
{
	*mem = (struct imap_fetch_memory){ .data = data != NULL ? data : "",
					   .len = data != NULL ? len : 0 };
	*src_r = (struct imap_fetch_source){ .size = mem->len, .read = memory_read, .ctx = mem };
}

int imap_fetch_message_append(struct buf *out, const struct imap_fetch *fetch,
			      const struct imap_fetch_context *ctx, uint32_t seq,
			      const struct mailbox_message *msg, const char *data, size_t len,
			      const char **error_r)
{
	struct imap_fetch_memory bytes;
	struct imap_fetch_source src;
	struct imap_fetch_stream *st;
	imap_fetch_source_memory(&src, &bytes, data, len);
	if (imap_fetch_message_start(fetch, ctx, seq, msg, &src, &st, error_r) != 0)
		return -1;
	int r = imap_fetch_stream_next(st, &src, out, SIZE_MAX, error_r);
	imap_fetch_stream_free(&st);
	return r == 1 ? 0 : -1;
}

/* item_append - one "name value" of the response */
static int item_append(struct fetch_build *b, const struct imap_fetch_item *item,
		       const struct imap_fetch_context *ctx, const struct mailbox_message *msg,
		       const char **error_r)
{
	struct buf *out = &b->st->text;
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
		if (b->src->envelope != NULL) {
			buf_append_str(out, "ENVELOPE ");
			buf_append(out, b->src->envelope, b->src->envelope_len);
			return 0;
		}
		if ((root = fetch_tree(b)) == NULL)
			return 0;
		buf_append_str(out, "ENVELOPE ");
		size_t at = out->len;
		imap_envelope_append(out, &root->headers, ctx->utf8);
		if (b->src->envelope_built != NULL)
			buf_append(b->src->envelope_built, out->data + at, out->len - at);
		return 0;
	case IMAP_FETCH_BODY:
	case IMAP_FETCH_BODYSTRUCTURE:
		if ((root = fetch_tree(b)) == NULL)
			return 0;
		buf_printf(out, "%s ", item->name);
		imap_bodystructure_append(out, root, item->kind == IMAP_FETCH_BODYSTRUCTURE,
					  ctx->utf8);
		return 0;
	case IMAP_FETCH_RFC822:
		buf_append_str(out, "RFC822 ");
		file_literal_append(b, item, 0, b->src->size);
		return 0;
	case IMAP_FETCH_RFC822_HEADER:
		if ((root = fetch_tree(b)) == NULL)
			return 0;
		buf_append_str(out, "RFC822.HEADER ");
		file_literal_append(b, item, 0, root->header_size);
		return 0;
	case IMAP_FETCH_RFC822_TEXT:
		if ((root = fetch_tree(b)) == NULL)
			return 0;
		buf_append_str(out, "RFC822.TEXT ");
		file_literal_append(b, item, root->body_offset, b->src->size - root->body_offset);
		return 0;
	case IMAP_FETCH_SECTION:
	case IMAP_FETCH_BINARY:
	case IMAP_FETCH_BINARY_SIZE:
		buf_printf(out, "%s ", item->name);
		return section_append(b, item, error_r);
	}
	return 0;
}

/* section_is_whole - ITEM is the whole message (BODY[], BINARY[]): its
 * size is the file's, no tree needed */
static bool section_is_whole(const struct imap_fetch_item *item)
{
	return item->parts == 0 && item->text == IMAP_SECTION_WHOLE;
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
static int section_append(struct fetch_build *b, const struct imap_fetch_item *item,
			  const char **error_r)
{
	struct buf *out = &b->st->text;
	size_t file_size = b->src->size;
	const struct message_part *root = NULL, *part = NULL, *inner = NULL;
	size_t offset = 0, size = file_size;

	if (!section_is_whole(item)) {
		if ((root = fetch_tree(b)) == NULL)
			return 0;
		part = inner = part_find(root, item->part, item->parts);
		if (part == NULL) {
			buf_append_str(out, item->kind == IMAP_FETCH_BINARY_SIZE ? "0" : "NIL");
			return 0;
		}
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
		if (item->parts > 0) {
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
		size = inner == root && offset <= file_size ? file_size - offset : inner->body_size;
		break;
	case IMAP_SECTION_HEADER_FIELDS:
	case IMAP_SECTION_HEADER_FIELDS_NOT: {
		struct buf fields;
		size_t from, n;
		buf_init(&fields);
		fields_append(&fields, inner, item);
		partial_window(item, fields.len, &from, &n);
		buf_printf(out, "{%zu}\r\n", n);
		buf_append(out, fields.data + from, n);
		buf_free(&fields);
		return 0;
	}
	}
	if (offset > file_size)
		offset = file_size;
	if (size > file_size - offset)
		size = file_size - offset;
	if (item->kind == IMAP_FETCH_SECTION) {
		file_literal_append(b, item, offset, size);
		return 0;
	}
	/* BINARY: a leaf part's content decoded; the whole message, a
	 * multipart or a message/rfc822 are 7bit, 8bit or binary (RFC 2045
	 * 6.4) and go as they are (RFC 3516 4.2) */
	enum message_encoding encoding = MESSAGE_ENCODING_BINARY;
	if (item->parts > 0 && !part->is_multipart && !part->is_message) {
		if (part->encoding == MESSAGE_ENCODING_UNKNOWN) {
			*error_r = "[UNKNOWN-CTE] The part's Content-Transfer-Encoding is unknown";
			return -1;
		}
		encoding = part->encoding;
	}
	size_t decoded = 0;
	bool nul = false;
	if (decoded_measure(b, offset, size, encoding, &decoded, &nul) != 0)
		return 0;
	if (item->kind == IMAP_FETCH_BINARY_SIZE) {
		buf_printf(out, "%zu", decoded);
		return 0;
	}
	size_t from, n;
	partial_window(item, decoded, &from, &n);
	/* literal8 when the data holds a NUL (RFC 3516 4.3) */
	buf_printf(out, "%s{%zu}\r\n", nul ? "~" : "", n);
	struct fetch_segment seg = { .kind = SEGMENT_DECODED, .offset = offset, .length = size,
				     .encoding = encoding, .skip = from, .take = n };
	if (encoding == MESSAGE_ENCODING_BINARY || encoding == MESSAGE_ENCODING_7BIT ||
	    encoding == MESSAGE_ENCODING_8BIT)
		seg = (struct fetch_segment){ .kind = SEGMENT_FILE, .offset = offset + from,
					      .length = n };
	segment_add(b->st, &seg);
	return 0;
}

/* decoded_measure - the size of the file's [OFFSET, OFFSET+LEN) decoded
 * with ENCODING, and whether it holds a NUL: decoded a chunk at a time and
 * counted; -1 (read_failed) when the file cannot be read */
static int decoded_measure(struct fetch_build *b, size_t offset, size_t len,
			   enum message_encoding encoding, size_t *size_r, bool *nul_r)
{
	struct message_decoder dec;
	struct buf decoded;
	int ret = 0;

	message_decoder_init(&dec, encoding);
	buf_init(&decoded);
	*size_r = 0;
	*nul_r = false;
	for (size_t pos = 0; pos <= len; pos += FETCH_CHUNK) {
		size_t n = len - pos < FETCH_CHUNK ? len - pos : FETCH_CHUNK;
		if (source_read(b->src, offset + pos, b->st->chunk, n) != 0) {
			b->read_failed = true;
			ret = -1;
			break;
		}
		message_decoder_feed(&dec, b->st->chunk, n, &decoded);
		if (pos + n == len)
			message_decoder_finish(&dec, &decoded);
		*size_r += decoded.len;
		*nul_r |= decoded.len > 0 && memchr(decoded.data, '\0', decoded.len) != NULL;
		buf_reset(&decoded);
		if (pos + n == len)
			break;
	}
	buf_free(&decoded);
	return ret;
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

/* partial_window - the octets of a LEN-octet section that ITEM's
 * <offset.length> asks for, all when it has none: from *FROM_R, *N_R of
 * them; an origin past the end gives the empty string (RFC 9051 6.4.5) */
static void partial_window(const struct imap_fetch_item *item, size_t len, size_t *from_r,
			   size_t *n_r)
{
	size_t from = 0, n = len;
	if (item->partial) {
		from = item->offset < len ? (size_t)item->offset : len;
		n = len - from;
		if (item->length < n)
			n = (size_t)item->length;
	}
	*from_r = from;
	*n_r = n;
}

/* file_literal_append - the file's [OFFSET, OFFSET+LEN), or its
 * <offset.length> slice, as a literal whose data is read when written */
static void file_literal_append(struct fetch_build *b, const struct imap_fetch_item *item,
				size_t offset, size_t len)
{
	size_t from, n;
	partial_window(item, len, &from, &n);
	buf_printf(&b->st->text, "{%zu}\r\n", n);
	struct fetch_segment seg = { .kind = SEGMENT_FILE, .offset = offset + from, .length = n };
	segment_add(b->st, &seg);
}
