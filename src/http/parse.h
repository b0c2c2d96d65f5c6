/* http/parse - the head of an HTTP/1.1 request (RFC 9112 2-6): request
 * line, header fields, and what the server needs from them (Content-Length,
 * Host, Connection, Authorization, Cookie, Origin).  No I/O: the session, the unit tests
 * and the fuzz target call it on bytes it does not own and never keeps.
 *
 * http_request_parse() reads DATA[0..LEN), the start of what the client
 * sent; CHECKED is the LEN of an earlier call on the same octets that
 * returned 0 (0 the first time): the search for the end resumes there, so
 * a head that arrives an octet at a time costs its length, not its square.
 * It returns
 *   1  a whole head is there: REQ describes it, REQ->head_len octets long
 *      (up to and including the empty line that ends it);
 *   0  no empty line yet, and nothing wrong so far: read more (the caller
 *      refuses once LEN reaches LIMITS->header_size: 431);
 *  -1  refused: REQ->status is the reply's code (400, 411, 413, 414, 431,
 *      501, 505) and *ERROR_R a short reason (static text).
 * "Too long" is the same answer with or without the end seen (STYLE): a
 * head of LIMITS->header_size octets or more, or with more than
 * LIMITS->header_count fields, gets 431 either way; 414 if the request line
 * itself has not ended within LIMITS->header_size (RFC 9112 3).  Only CRLF
 * ends a line (RFC 9112 2.2 lets a server refuse a bare LF; DESIGN's
 * invariant): a bare LF or CR, a field folded over lines (obs-fold, 5.2), a
 * space before a field's colon (5.1), a missing, repeated or bad Host
 * (3.2), conflicting Content-Length fields (6.3), a repeated Authorization, Cookie
 * (RFC 6265 5.4) or Origin field, or Transfer-Encoding with
 * Content-Length (6.1, request smuggling) is 400.  Transfer-Encoding without
 * Content-Length: 400 in HTTP/1.0 (6.1) or if chunked is not the last
 * coding, once (6.3); 501 for a coding other than chunked (6.1); chunked
 * alone sets REQ->chunked: the body is read by http_chunked_read.  A
 * Content-Length over LIMITS->body_size is 413 before the body is read.  HTTP/1.2 and above are read as HTTP/1.1 (RFC
 * 9110 2.5); another major version is 505.
 *
 * Spans in REQ are offsets into DATA, valid for any copy of its first
 * head_len octets.
 */
#ifndef PETREL_HTTP_PARSE_H
#define PETREL_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* struct http_limits - the bounds of one request, [http] in petrel.conf */
struct http_limits {
	size_t header_size;        /* octets of request line and fields: 16384 */
	unsigned header_count;     /* header fields: 100 */
	size_t body_size;          /* octets of a body (Content-Length): 32 MiB */
	size_t body_memory;        /* octets of all sessions' bodies together: 256 MiB */
	unsigned request_timeout;  /* seconds from a request's first octet to its last: 30 */
	unsigned idle_timeout;     /* seconds a kept-alive connection waits for the next: 60 */
};

/* a part of the parsed data: DATA + off, len octets */
struct http_span {
	size_t off;
	size_t len;
};

struct http_request {
	struct http_span method;
	struct http_span target;      /* as sent: origin-form "/path?query" usually */
	struct http_span path;        /* target up to '?' */
	struct http_span query;       /* after '?', empty if none */
	struct http_span authorization; /* the Authorization field's value; len 0: none */
	struct http_span content_type;
	struct http_span cookie;      /* the Cookie field's value (http/form.h); len 0: none */
	struct http_span origin;      /* the Origin field's value (RFC 6454 7); len 0: none */
	struct http_span host;        /* the Host field's value (exactly one: check_fields) */
	unsigned version_minor;       /* HTTP/1.0: 0; HTTP/1.1 and above: 1 */
	unsigned header_count;
	uint64_t content_length;      /* 0 without the field */
	bool keep_alive;              /* 1.1 without "close", 1.0 with "keep-alive" */
	bool expect_continue;         /* HTTP/1.1 "Expect: 100-continue" (RFC 9110 10.1.1) */
	bool chunked;                 /* the body is in the chunked coding, its length unknown */
	size_t head_len;
	int status;                   /* with -1: the reply's code */
};

int http_request_parse(const char *data, size_t len, size_t checked,
		       const struct http_limits *limits, struct http_request *req,
		       const char **error_r);

/* struct http_chunked - where a chunked body's reading is (http/chunked.c);
 * all zero before its first octet */
struct http_chunked {
	int state;
	unsigned digits;         /* of the chunk size read */
	uint64_t left;           /* the chunk size, then its octets not yet read */
	uint64_t total;          /* data octets of the chunks begun */
	size_t line;             /* octets of the extensions or trailer line */
	size_t trailer_size;     /* octets of the trailer section */
};

/* http_chunked_read - go on reading a chunked body (RFC 9112 7.1) with
 * DATA[0..LEN), the octets that follow what earlier calls used.  Uses
 * *USED_R octets of it: framing, or, when *BODY_R is not 0, that many
 * octets of the body's data (the first *BODY_R of DATA; a call returns
 * data or framing, never both).  Returns 1 when the body has ended (its
 * last chunk, trailer fields, which are not kept, and the empty line), 0
 * to call again with the octets after *USED_R (or once more arrive), -1
 * refused: *STATUS_R 400 (bad framing, a bare CR or LF), 413 (data over
 * LIMITS->body_size in total) or 431 (extensions of one chunk, or the
 * trailer section, over LIMITS->header_size), *ERROR_R a short reason. */
int http_chunked_read(struct http_chunked *c, const char *data, size_t len,
		      const struct http_limits *limits, size_t *used_r, size_t *body_r,
		      int *status_r, const char **error_r);

/* http_span_equals - the span of DATA is TEXT, case-insensitively if NOCASE */
bool http_span_equals(const char *data, struct http_span span, const char *text, bool nocase);

/* http_query_param - the value of the first NAME=VALUE of QUERY (a span of
 * DATA, "a=1&b=2"), as sent (not percent-decoded), into *VALUE_R; false if
 * NAME is not there */
bool http_query_param(const char *data, struct http_span query, const char *name,
		      struct http_span *value_r);
/* http_query_param_next - as http_query_param, from offset *POS of DATA on
 * (0: QUERY's start), *POS moved past the one found: each of a repeated
 * NAME ("categories=a&categories=b") in turn */
bool http_query_param_next(const char *data, struct http_span query, const char *name,
			   size_t *pos, struct http_span *value_r);

/* http_method_is_known - METHOD (case-sensitive, RFC 9110 9.1) is one of
 * RFC 9110's (GET, HEAD, POST, PUT, DELETE, CONNECT, OPTIONS, TRACE) or
 * PATCH (RFC 5789): a route answers it, or 405 with Allow; any other is
 * 501 Not Implemented */
bool http_method_is_known(const char *data, struct http_span method);

/* http_status_reason - "Not Found" for 404, ... ("Unknown" for codes it lacks) */
const char *http_status_reason(int status);

#endif
