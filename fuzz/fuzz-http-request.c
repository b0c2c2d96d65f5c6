/* fuzz/fuzz-http-request - HTTP request heads (src/http/parse.c) on
 * arbitrary input: an accepted head lies inside the input, its spans inside
 * the head, within the limits; a refusal has a status and a reason; and a
 * prefix of an accepted head is never accepted nor refused otherwise than
 * the whole; read in two calls (the second resuming where the first, which
 * asked for more, stopped) the answer is the one read in one.  A query
 * parameter found lies inside the query.  What follows a chunked head is
 * decoded as a chunked body: its data within body_size, and the same read
 * in one call as in octet-by-octet calls. */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* check_resumed - the answer for DATA[0..SIZE) read after a first call on
 * its first half that asked for more is RC's, with the same head or status */
static void check_resumed(const char *data, size_t size, const struct http_limits *limits,
			  int rc, const struct http_request *whole)
{
	struct http_request first, second;
	const char *error = NULL;
	size_t half = size / 2;
	if (http_request_parse(data, half, 0, limits, &first, &error) != 0)
		return;
	assert(http_request_parse(data, size, half, limits, &second, &error) == rc);
	if (rc == 1)
		assert(second.head_len == whole->head_len);
	if (rc == -1)
		assert(second.status == whole->status);
}

/* decode_chunked - DATA[0..LEN) as a chunked body arriving STEP octets at
 * a time (0: all at once): the number of data octets; the answer in *RC_R */
static size_t decode_chunked(const char *data, size_t len, size_t step,
			     const struct http_limits *limits, int *rc_r)
{
	struct http_chunked c = { 0 };
	size_t pos = 0, total = 0, arrived = step ? 0 : len;
	int rc = 0, status = 0;
	const char *error = NULL;
	for (;;) {
		if (pos == arrived) {
			if (arrived == len)
				break;
			arrived = arrived + step < len ? arrived + step : len;
		}
		size_t used, body;
		rc = http_chunked_read(&c, data + pos, arrived - pos, limits, &used, &body, &status,
				       &error);
		assert(used <= arrived - pos && body <= used);
		total += body;
		pos += used;
		if (rc != 0)
			break;
	}
	assert(total <= limits->body_size);
	assert(rc != -1 || (error != NULL && status >= 400 && status < 500));
	*rc_r = rc;
	return total;
}

static void check_chunked_body(const char *data, size_t len, const struct http_limits *limits)
{
	int whole_rc, step_rc;
	size_t whole = decode_chunked(data, len, 0, limits, &whole_rc);
	size_t stepped = decode_chunked(data, len, 1, limits, &step_rc);
	assert(whole_rc == step_rc && (whole_rc == -1 || whole == stepped));
}

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
	int rc = http_request_parse(copy, size, 0, &limits, &req, &error);
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
		/* each repeated categories= in turn, inside the query, forward */
		size_t pos = 0, last = 0;
		while (http_query_param_next(copy, req.query, "categories", &pos, &value)) {
			assert(value.off >= req.query.off && value.off >= last &&
			       value.off + value.len <= req.query.off + req.query.len);
			assert(memcmp(copy + value.off - 11, "categories=", 11) == 0);
			last = value.off + value.len;
		}
		assert(req.method.len > 0 && req.path.len > 0);
		assert(req.header_count <= limits.header_count);
		assert(req.content_length <= limits.body_size);
		assert(req.version_minor <= 1);
		if (req.chunked)
			check_chunked_body(copy + req.head_len, size - req.head_len, &limits);
		/* the same head, cut one octet short, is incomplete */
		struct http_request shorter;
		assert(http_request_parse(copy, req.head_len - 1, 0, &limits, &shorter, &error) == 0);
	} else if (rc == -1) {
		assert(error != NULL && req.status >= 400 && req.status < 600);
	} else {
		assert(rc == 0 && size < limits.header_size);
	}
	check_resumed(copy, size, &limits, rc, &req);
	free(copy);
	return 0;
}
