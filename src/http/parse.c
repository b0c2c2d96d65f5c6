/* http/parse - the head of an HTTP/1.1 request, checked line by line over
 * cur/end offsets (see parse.h for the contract and the RFC 9112 rules it
 * enforces).  Nothing here allocates: the spans it returns point into the
 * caller's bytes. */
#include "http/parse.h"

#include <string.h>
#include <strings.h>

/* the fields the server reads; the others are checked and skipped */
struct head_fields {
	unsigned host;
	unsigned content_length;
	unsigned authorization;
	unsigned cookie;
	unsigned origin;
	bool transfer_encoding;
	unsigned chunked;       /* times "chunked" is among the transfer codings */
	bool last_chunked;      /* ... and it is the last one */
	bool other_coding;      /* a transfer coding other than chunked */
	bool expect_continue;
	bool close;
	bool keep_alive;
};

static int parse_refuse(struct http_request *req, int status, const char *text,
			const char **error_r);
static bool is_tchar(unsigned char c);
static bool is_field_vchar(unsigned char c);
static const char *incomplete_head_error(const char *data, size_t start, size_t len,
					 size_t checked, const struct http_limits *limits,
					 int *status_r);
static const char *parse_request_line(const char *data, size_t cur, size_t eol,
				      struct http_request *req, int *status_r);
static const char *parse_target(const char *data, struct http_request *req);
static const char *parse_field(const char *data, size_t cur, size_t eol,
			       const struct http_limits *limits, struct http_request *req,
			       struct head_fields *fields);
static const char *parse_content_length(const char *data, struct http_span value,
					const struct http_limits *limits,
					struct http_request *req, bool repeated);
static bool list_next(const char *data, size_t *cur, size_t end, struct http_span *item_r);
static void parse_connection(const char *data, struct http_span value,
			     struct head_fields *fields);
static void parse_transfer_encoding(const char *data, struct http_span value,
				    struct head_fields *fields);
static const char *transfer_encoding_error(struct http_request *req,
					   const struct head_fields *fields, int *status_r);
static const char *check_fields(const struct http_limits *limits, struct http_request *req,
				const struct head_fields *fields, int *status_r);

/* parse_refuse - the -1 exit: STATUS and TEXT for the caller */
static int parse_refuse(struct http_request *req, int status, const char *text,
			const char **error_r)
{
	req->status = status;
	*error_r = text;
	return -1;
}

/* is_tchar - RFC 9110 5.6.2 token characters */
static bool is_tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		(c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* is_field_vchar - RFC 9110 5.5: VCHAR, obs-text, SP, HTAB inside a value */
static bool is_field_vchar(unsigned char c)
{
	return c == ' ' || c == '\t' || (c >= 0x21 && c != 0x7f);
}

int http_request_parse(const char *data, size_t len, size_t checked,
		       const struct http_limits *limits, struct http_request *req,
		       const char **error_r)
{
	memset(req, 0, sizeof(*req));
	int status = 400;
	/* RFC 9112 2.2: empty lines before the request line are ignored */
	size_t start = 0;
	while (start + 2 <= len && data[start] == '\r' && data[start + 1] == '\n')
		start += 2;
	size_t window = len < limits->header_size ? len : limits->header_size;
	/* the octets an earlier call read held no end: resume 3 octets back,
	 * where an end may begin */
	size_t from = checked > start + 3 ? checked - 3 : start;
	const char *end = from < window ? memmem(data + from, window - from, "\r\n\r\n", 4)
		: NULL;
	if (end == NULL) {
		const char *error = incomplete_head_error(data, start, len, checked, limits,
							  &status);
		return error ? parse_refuse(req, status, error, error_r) : 0;
	}
	req->head_len = (size_t)(end - data) + 4;
	size_t eol = (size_t)((const char *)memmem(data + start, req->head_len - start, "\r\n", 2)
			      - data);
	const char *error = parse_request_line(data, start, eol, req, &status);
	struct head_fields fields = { 0 };
	for (size_t cur = eol + 2; error == NULL && cur + 2 < req->head_len; cur = eol + 2) {
		eol = (size_t)((const char *)memmem(data + cur, req->head_len - cur, "\r\n", 2) -
			       data);
		error = parse_field(data, cur, eol, limits, req, &fields);
		if (error && req->status != 0)
			status = req->status;
	}
	if (error == NULL)
		error = check_fields(limits, req, &fields, &status);
	return error ? parse_refuse(req, status, error, error_r) : 1;
}

/* incomplete_head_error - no empty line in the first header_size octets:
 * a bare CR or LF already there is 400, so many octets 431 (414 if the
 * request line has not ended); NULL if the client may still send the rest */
static const char *incomplete_head_error(const char *data, size_t start, size_t len,
					 size_t checked, const struct http_limits *limits,
					 int *status_r)
{
	/* an earlier call found none before CHECKED, except a CR it could not
	 * judge yet: its last octet */
	for (size_t i = checked > start + 1 ? checked - 1 : start; i < len; i++) {
		bool bare_lf = data[i] == '\n' && (i == start || data[i - 1] != '\r');
		bool bare_cr = data[i] == '\r' && i + 1 < len && data[i + 1] != '\n';
		if (bare_lf || bare_cr) {
			*status_r = 400;
			return "a line ends in a bare CR or LF";
		}
	}
	if (len < limits->header_size)
		return NULL;
	/* RFC 9112 3: a request-target longer than the server parses is 414 */
	if (start >= limits->header_size ||
	    memmem(data + start, limits->header_size - start, "\r\n", 2) == NULL) {
		*status_r = 414;
		return "request line too long";
	}
	*status_r = 431;
	return "request header too large";
}

/* parse_request_line - method SP request-target SP HTTP-version (RFC 9112 3) */
static const char *parse_request_line(const char *data, size_t cur, size_t eol,
				      struct http_request *req, int *status_r)
{
	size_t p = cur;
	while (p < eol && is_tchar((unsigned char)data[p]))
		p++;
	if (p == cur || p == eol || data[p] != ' ')
		return "bad method";
	req->method = (struct http_span){ cur, p - cur };
	size_t t = ++p;
	while (p < eol && data[p] > 0x20 && data[p] < 0x7f)
		p++;
	if (p == t || p == eol || data[p] != ' ')
		return "bad request target";
	req->target = (struct http_span){ t, p - t };
	p++;
	if (eol - p != 8 || memcmp(data + p, "HTTP/", 5) != 0 || data[p + 6] != '.' ||
	    data[p + 5] < '0' || data[p + 5] > '9' || data[p + 7] < '0' || data[p + 7] > '9')
		return "bad HTTP version";
	if (data[p + 5] != '1') {
		*status_r = 505;
		return "HTTP version not supported";
	}
	/* RFC 9110 2.5: HTTP/1.2 and above are read as the highest minor
	 * version the server implements, 1.1 */
	req->version_minor = data[p + 7] == '0' ? 0 : 1;
	return parse_target(data, req);
}

/* parse_target - origin-form "/path?query", absolute-form with a path, or
 * "*" (RFC 9112 3.2) into path and query */
static const char *parse_target(const char *data, struct http_request *req)
{
	struct http_span t = req->target;
	size_t path = t.off;
	if (t.len == 1 && data[t.off] == '*') {
		req->path = t;
		return NULL;
	}
	if (data[t.off] != '/') {
		const char *sep = memmem(data + t.off, t.len, "://", 3);
		size_t after = sep ? (size_t)(sep + 3 - (data + t.off)) : t.len;
		const char *slash = memchr(data + t.off + after, '/', t.len - after);
		if (slash == NULL)
			return "bad request target";
		path = (size_t)(slash - data);
	}
	const char *q = memchr(data + path, '?', t.len - (path - t.off));
	size_t path_end = q ? (size_t)(q - data) : t.off + t.len;
	req->path = (struct http_span){ path, path_end - path };
	if (q)
		req->query = (struct http_span){ path_end + 1, t.off + t.len - path_end - 1 };
	return NULL;
}

/* parse_field - one "name: value" line (RFC 9112 5); 431 past the count */
static const char *parse_field(const char *data, size_t cur, size_t eol,
			       const struct http_limits *limits, struct http_request *req,
			       struct head_fields *fields)
{
	if (++req->header_count > limits->header_count) {
		req->status = 431;
		return "too many header fields";
	}
	if (data[cur] == ' ' || data[cur] == '\t')
		return "a header field folded over lines";
	size_t p = cur;
	while (p < eol && is_tchar((unsigned char)data[p]))
		p++;
	if (p == cur || p == eol || data[p] != ':')
		return "bad header field name";
	struct http_span name = { cur, p - cur };
	size_t v = p + 1, ve = eol;
	while (v < ve && (data[v] == ' ' || data[v] == '\t'))
		v++;
	while (ve > v && (data[ve - 1] == ' ' || data[ve - 1] == '\t'))
		ve--;
	for (size_t i = v; i < ve; i++)
		if (!is_field_vchar((unsigned char)data[i]))
			return "bad character in a header field";
	struct http_span value = { v, ve - v };
	const char *error = NULL;
	if (http_span_equals(data, name, "host", true)) {
		fields->host++;
		req->host = value;
		if (memchr(data + v, ' ', value.len) || memchr(data + v, '\t', value.len))
			error = "bad Host";
	} else if (http_span_equals(data, name, "content-length", true)) {
		error = parse_content_length(data, value, limits, req, fields->content_length++ > 0);
	} else if (http_span_equals(data, name, "transfer-encoding", true)) {
		parse_transfer_encoding(data, value, fields);
	} else if (http_span_equals(data, name, "expect", true)) {
		fields->expect_continue = http_span_equals(data, value, "100-continue", true);
	} else if (http_span_equals(data, name, "connection", true)) {
		parse_connection(data, value, fields);
	} else if (http_span_equals(data, name, "authorization", true)) {
		if (fields->authorization++ > 0)
			error = "Authorization repeated";
		req->authorization = value;
	} else if (http_span_equals(data, name, "cookie", true)) {
		/* RFC 6265 5.4: a user agent sends one Cookie field */
		if (fields->cookie++ > 0)
			error = "Cookie repeated";
		req->cookie = value;
	} else if (http_span_equals(data, name, "origin", true)) {
		if (fields->origin++ > 0)
			error = "Origin repeated";
		req->origin = value;
	} else if (http_span_equals(data, name, "content-type", true)) {
		if (req->content_type.len == 0)
			req->content_type = value;
	}
	return error;
}

/* parse_content_length - 1*DIGIT (RFC 9112 6.3); a repeated field must say
 * the same; a value over body_size is noted for 413 (check_fields) */
static const char *parse_content_length(const char *data, struct http_span value,
					const struct http_limits *limits,
					struct http_request *req, bool repeated)
{
	uint64_t n = 0;
	if (value.len == 0)
		return "bad Content-Length";
	for (size_t i = 0; i < value.len; i++) {
		char c = data[value.off + i];
		if (c < '0' || c > '9')
			return "bad Content-Length";
		if (n <= limits->body_size)
			n = n * 10 + (uint64_t)(c - '0');
	}
	if (repeated && n != req->content_length)
		return "conflicting Content-Length fields";
	req->content_length = n;
	return NULL;
}

/* list_next - the next non-empty member of a comma-separated list (RFC
 * 9110 5.6.1) in DATA[*CUR, END), without the whitespace around it; false
 * at the end */
static bool list_next(const char *data, size_t *cur, size_t end, struct http_span *item_r)
{
	size_t p = *cur;
	while (p < end && (data[p] == ' ' || data[p] == '\t' || data[p] == ','))
		p++;
	size_t t = p;
	while (p < end && data[p] != ',')
		p++;
	size_t e = p;
	while (e > t && (data[e - 1] == ' ' || data[e - 1] == '\t'))
		e--;
	*cur = p;
	*item_r = (struct http_span){ t, e - t };
	return e > t;
}

/* parse_connection - the "close" and "keep-alive" options (RFC 9112 9.3, 9.6) */
static void parse_connection(const char *data, struct http_span value,
			     struct head_fields *fields)
{
	size_t p = value.off;
	struct http_span option;
	while (list_next(data, &p, value.off + value.len, &option)) {
		if (http_span_equals(data, option, "close", true))
			fields->close = true;
		else if (http_span_equals(data, option, "keep-alive", true))
			fields->keep_alive = true;
	}
}

/* parse_transfer_encoding - the codings of one Transfer-Encoding field
 * line, after those of the lines before it (RFC 9110 5.3: one list) */
static void parse_transfer_encoding(const char *data, struct http_span value,
				    struct head_fields *fields)
{
	size_t p = value.off;
	struct http_span coding;
	fields->transfer_encoding = true;
	while (list_next(data, &p, value.off + value.len, &coding)) {
		fields->last_chunked = http_span_equals(data, coding, "chunked", true);
		if (fields->last_chunked)
			fields->chunked++;
		else
			fields->other_coding = true;
	}
}

/* transfer_encoding_error - a body in transfer codings and no
 * Content-Length.  Its end cannot be known in HTTP/1.0 (RFC 9112 6.1) nor
 * when chunked is not the last coding, once only (6.3): 400.  A coding
 * other than chunked is not implemented: 501 (6.1).  Chunked alone is
 * read (http/chunked.c): NULL, REQ->chunked. */
static const char *transfer_encoding_error(struct http_request *req,
					   const struct head_fields *fields, int *status_r)
{
	if (req->version_minor == 0)
		return "Transfer-Encoding in HTTP/1.0";
	if (!fields->last_chunked || fields->chunked != 1)
		return "chunked is not the last transfer coding, once";
	if (fields->other_coding) {
		*status_r = 501;
		return "transfer coding not implemented";
	}
	req->chunked = true;
	return NULL;
}

/* check_fields - what holds across the fields: Host, the body's framing */
static const char *check_fields(const struct http_limits *limits, struct http_request *req,
				const struct head_fields *fields, int *status_r)
{
	const char *error = NULL;
	if (fields->host > 1 || (fields->host == 0 && req->version_minor == 1)) {
		error = "exactly one Host field is required";
	} else if (fields->transfer_encoding && fields->content_length > 0) {
		error = "Transfer-Encoding with Content-Length";
	} else if (fields->transfer_encoding) {
		error = transfer_encoding_error(req, fields, status_r);
	} else if (req->content_length > limits->body_size) {
		*status_r = 413;
		error = "request body too large";
	}
	req->expect_continue = fields->expect_continue && req->version_minor == 1;
	req->keep_alive = !fields->close && (req->version_minor == 1 || fields->keep_alive);
	return error;
}

bool http_span_equals(const char *data, struct http_span span, const char *text, bool nocase)
{
	size_t n = strlen(text);
	if (span.len != n)
		return false;
	return nocase ? strncasecmp(data + span.off, text, n) == 0
		: memcmp(data + span.off, text, n) == 0;
}

bool http_query_param(const char *data, struct http_span query, const char *name,
		      struct http_span *value_r)
{
	size_t pos = 0;
	return http_query_param_next(data, query, name, &pos, value_r);
}

bool http_query_param_next(const char *data, struct http_span query, const char *name,
			   size_t *pos_r, struct http_span *value_r)
{
	size_t n = strlen(name);
	size_t pos = *pos_r > query.off ? *pos_r : query.off, end = query.off + query.len;
	while (pos < end) {
		const char *amp = memchr(data + pos, '&', end - pos);
		size_t field_end = amp ? (size_t)(amp - data) : end;
		if (field_end - pos > n && data[pos + n] == '=' && memcmp(data + pos, name, n) == 0) {
			*value_r = (struct http_span){ pos + n + 1, field_end - pos - n - 1 };
			*pos_r = field_end + 1;
			return true;
		}
		pos = field_end + 1;
	}
	*pos_r = end;
	return false;
}

const char *http_status_reason(int status)
{
	static const struct {
		int status;
		const char *reason;
	} reasons[] = {
		{ 200, "OK" }, { 201, "Created" }, { 202, "Accepted" }, { 204, "No Content" },
		{ 400, "Bad Request" }, { 401, "Unauthorized" }, { 403, "Forbidden" },
		{ 404, "Not Found" }, { 405, "Method Not Allowed" }, { 408, "Request Timeout" },
		{ 411, "Length Required" }, { 413, "Content Too Large" }, { 414, "URI Too Long" },
		{ 415, "Unsupported Media Type" }, { 429, "Too Many Requests" },
		{ 431, "Request Header Fields Too Large" }, { 500, "Internal Server Error" },
		{ 501, "Not Implemented" }, { 503, "Service Unavailable" },
		{ 505, "HTTP Version Not Supported" },
	};
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (reasons[i].status == status)
			return reasons[i].reason;
	return "Unknown";
}

bool http_method_is_known(const char *data, struct http_span method)
{
	static const char *const methods[] = {
		"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
	};
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (http_span_equals(data, method, methods[i], false))
			return true;
	return false;
}
