/* fuzz-mime - the streaming MIME structure parser (src/message/mime.c).
 * The first two bytes pick the limits (small ones reach the depth, part and
 * header limits) and a seed for piece sizes; the rest is the message,
 * parsed whole and in pieces of random sizes.  Invariants: both give the
 * same tree; every part lies inside its parent's body and inside the input,
 * header_offset + header_size == body_offset, siblings do not overlap, the
 * kept header is no longer than the section, body lines at most body bytes,
 * depth and part count within the limits. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "message/message.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t check(const struct message_part *part, const struct message_mime_limits *limits,
		    size_t start, size_t end, unsigned depth)
{
	size_t count = 0;
	for (; part != NULL; part = part->next, count++) {
		assert(part->depth == depth && depth <= limits->max_depth);
		assert(part->header_offset >= start);
		assert(part->header_offset + part->header_size == part->body_offset);
		assert(part->body_offset + part->body_size <= end);
		assert(part->header_len <= part->header_size);
		assert(part->header_len <= limits->max_header_size);
		assert(part->body_lines <= part->body_size);
		assert(part->content_type.type != NULL && part->content_type.subtype != NULL);
		assert(part->children == NULL || part->is_multipart || part->is_message);
		assert(!part->is_message || (part->children && !part->children->next));
		if (part->next != NULL)
			assert(part->body_offset + part->body_size <= part->next->header_offset);
		count += check(part->children, limits, part->body_offset,
			       part->body_offset + part->body_size, depth + 1);
	}
	return count;
}

/* same - two trees are equal in everything they report */
static void same(const struct message_part *a, const struct message_part *b)
{
	for (; a != NULL || b != NULL; a = a->next, b = b->next) {
		assert(a != NULL && b != NULL);
		assert(a->header_offset == b->header_offset && a->header_size == b->header_size);
		assert(a->body_offset == b->body_offset && a->body_size == b->body_size);
		assert(a->body_lines == b->body_lines && a->headers.count == b->headers.count);
		assert(a->header_len == b->header_len &&
		       memcmp(a->header_data, b->header_data, a->header_len) == 0);
		assert(a->is_multipart == b->is_multipart && a->is_message == b->is_message);
		assert(a->closed == b->closed && a->limit_hit == b->limit_hit);
		assert(a->header_truncated == b->header_truncated);
		assert(a->header_malformed == b->header_malformed);
		assert(a->encoding == b->encoding);
		assert(strcmp(a->content_type.type, b->content_type.type) == 0);
		assert(strcmp(a->content_type.subtype, b->content_type.subtype) == 0);
		assert(a->content_type.param_count == b->content_type.param_count);
		same(a->children, b->children);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	struct message_mime_limits limits = MESSAGE_MIME_LIMITS_DEFAULT;
	if (data[0] & 1)
		limits = (struct message_mime_limits){ 1 + (data[0] >> 1) % 4,
						       1 + (data[0] >> 3) % 8,
						       (size_t)(data[0] >> 5) * 40 };
	unsigned seed = data[1];
	const char *in = (const char *)data + 2;
	size_t len = size - 2;

	struct message_mime_parser *p = message_mime_parser_create(&limits);
	message_mime_parser_feed(p, in, len);
	struct message_part *whole = message_mime_parser_finish(&p);
	assert(p == NULL);
	assert(whole->header_offset == 0);
	size_t parts = 1 + check(whole->children, &limits, whole->body_offset,
				 whole->body_offset + whole->body_size, 1);
	check(whole, &limits, 0, len, 0);
	assert(parts <= limits.max_parts);

	p = message_mime_parser_create(&limits);
	for (size_t i = 0; i < len;) {
		size_t n = 1 + (size_t)rand_r(&seed) % (seed & 1 ? 5 : 200);
		if (n > len - i)
			n = len - i;
		message_mime_parser_feed(p, in + i, n);
		i += n;
	}
	struct message_part *pieces = message_mime_parser_finish(&p);
	same(whole, pieces);
	message_part_free(&whole);
	message_part_free(&pieces);
	return 0;
}
