/* fuzz/fuzz-http-request - HTTP request heads (src/http/parse.c) on
 * arbitrary input: an accepted head lies inside the input, its spans inside
 * the head, within the limits; a refusal has a status and a reason; and a
 * prefix of an accepted head is never accepted nor refused otherwise than
 * the whole.  A query parameter found lies inside the query. */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_span(struct http_span span, size_t head_len)
{
	assert(span.off <= head_len && span.len <= head_len - span.off);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct http_limits limits = {
		.header_size = 512, .header_count = 8, .body_size = 4096,
		.request_timeout = 1, .idle_timeout = 1,
	};
	char *copy = malloc(size ? size : 1);
	assert(copy != NULL);
	memcpy(copy, data, size);
	struct http_request req;
	const char *error = NULL;
	int rc = http_request_parse(copy, size, &limits, &req, &error);
	if (rc == 1) {
		assert(req.head_len >= 4 && req.head_len <= size && req.head_len <= limits.header_size);
		assert(memcmp(copy + req.head_len - 4, "\r\n\r\n", 4) == 0);
		check_span(req.method, req.head_len);
		check_span(req.target, req.head_len);
		check_span(req.path, req.head_len);
		check_span(req.query, req.head_len);
		check_span(req.authorization, req.head_len);
		struct http_span value;
		if (http_query_param(copy, req.query, "start_date", &value)) {
			assert(value.off >= req.query.off &&
			       value.off + value.len <= req.query.off + req.query.len);
			assert(memcmp(copy + value.off - 11, "start_date=", 11) == 0);
		}
		assert(req.method.len > 0 && req.path.len > 0);
		assert(req.header_count <= limits.header_count);
		assert(req.content_length <= limits.body_size);
		assert(req.version_minor <= 1);
		/* the same head, cut one octet short, is incomplete */
		struct http_request shorter;
		assert(http_request_parse(copy, req.head_len - 1, &limits, &shorter, &error) == 0);
	} else if (rc == -1) {
		assert(error != NULL && req.status >= 400 && req.status < 600);
	} else {
		assert(rc == 0 && size < limits.header_size);
	}
	free(copy);
	return 0;
}
