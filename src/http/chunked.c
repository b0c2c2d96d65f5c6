/* http/chunked - a request body in the chunked transfer coding (RFC 9112
 * 7.1), decoded as its octets arrive: the state is kept between calls, so
 * each octet is read once however the body is cut.  No I/O. */
#include "http/parse.h"

#include <stdbool.h>

enum {
	CHUNK_SIZE,        /* the chunk-size's hex digits */
	CHUNK_EXT,         /* BWS and chunk extensions, up to the CR */
	CHUNK_SIZE_LF,
	CHUNK_DATA,
	CHUNK_DATA_CR,     /* the CRLF after a chunk's data */
	CHUNK_DATA_LF,
	CHUNK_TRAILER,     /* a trailer field line, or the empty line */
	CHUNK_TRAILER_LF,
	CHUNK_END_LF,      /* the LF of the empty line that ends the body */
	CHUNK_DONE,
};

#define CHUNK_SIZE_DIGITS 16   /* a uint64_t */

static const char *chunked_step(struct http_chunked *c, unsigned char ch,
				const struct http_limits *limits, int *status_r);
static const char *chunk_size_end(struct http_chunked *c, const struct http_limits *limits,
				  int *status_r);
static int hex_value(unsigned char ch);

int http_chunked_read(struct http_chunked *c, const char *data, size_t len,
		      const struct http_limits *limits, size_t *used_r, size_t *body_r,
		      int *status_r, const char **error_r)
{
	*used_r = 0;
	*body_r = 0;
	if (c->state == CHUNK_DATA) {
		size_t n = len < c->left ? len : (size_t)c->left;
		c->left -= n;
		if (c->left == 0)
			c->state = CHUNK_DATA_CR;
		*used_r = *body_r = n;
		return 0;
	}
	size_t i = 0;
	while (i < len && c->state != CHUNK_DATA && c->state != CHUNK_DONE) {
		*status_r = 400;
		const char *error = chunked_step(c, (unsigned char)data[i++], limits, status_r);
		if (error) {
			*used_r = i;
			*error_r = error;
			return -1;
		}
	}
	*used_r = i;
	return c->state == CHUNK_DONE ? 1 : 0;
}

/* chunked_step - one octet of the framing; an error (status in *STATUS_R) */
static const char *chunked_step(struct http_chunked *c, unsigned char ch,
				const struct http_limits *limits, int *status_r)
{
	switch (c->state) {
	case CHUNK_SIZE:
		if (hex_value(ch) >= 0) {
			if (++c->digits > CHUNK_SIZE_DIGITS) {
				*status_r = 413;
				return "chunk size too large";
			}
			c->left = c->left * 16 + (uint64_t)hex_value(ch);
			return NULL;
		}
		if (c->digits == 0)
			return "a chunk size is hex digits";
		c->state = ch == '\r' ? CHUNK_SIZE_LF : CHUNK_EXT;
		/* RFC 9112 7.1.1: BWS, then ";" extensions */
		return ch == '\r' || ch == ';' || ch == ' ' || ch == '\t' ? NULL
			: "a chunk size is hex digits";
	case CHUNK_EXT:
		if (ch == '\r') {
			c->state = CHUNK_SIZE_LF;
			return NULL;
		}
		if (ch == '\n' || ch == '\0')
			return "a line ends in a bare CR or LF";
		if (++c->line > limits->header_size) {
			*status_r = 431;
			return "chunk extensions too large";
		}
		return NULL;
	case CHUNK_SIZE_LF:
		return ch == '\n' ? chunk_size_end(c, limits, status_r)
			: "a line ends in a bare CR or LF";
	case CHUNK_DATA_CR:
		c->state = CHUNK_DATA_LF;
		return ch == '\r' ? NULL : "chunk data is not followed by CRLF";
	case CHUNK_DATA_LF:
		c->state = CHUNK_SIZE;
		c->digits = 0;
		c->line = 0;
		return ch == '\n' ? NULL : "chunk data is not followed by CRLF";
	case CHUNK_TRAILER:
		if (ch == '\r') {
			c->state = c->line == 0 ? CHUNK_END_LF : CHUNK_TRAILER_LF;
			return NULL;
		}
		if (ch == '\n')
			return "a line ends in a bare CR or LF";
		c->line++;
		if (++c->trailer_size > limits->header_size) {
			*status_r = 431;
			return "trailer section too large";
		}
		return NULL;
	case CHUNK_TRAILER_LF:
		c->state = CHUNK_TRAILER;
		c->line = 0;
		return ch == '\n' ? NULL : "a line ends in a bare CR or LF";
	case CHUNK_END_LF:
		c->state = CHUNK_DONE;
		return ch == '\n' ? NULL : "a line ends in a bare CR or LF";
	default:
		return "chunked body already read";
	}
}

/* chunk_size_end - the chunk-size line has ended: its data, or (size 0)
 * the trailer section; the body's total within [http] body_size (413) */
static const char *chunk_size_end(struct http_chunked *c, const struct http_limits *limits,
				  int *status_r)
{
	c->line = 0;
	if (c->left == 0) {
		c->state = CHUNK_TRAILER;
		return NULL;
	}
	if (c->left > limits->body_size - c->total) {
		*status_r = 413;
		return "request body too large";
	}
	c->total += c->left;
	c->state = CHUNK_DATA;
	return NULL;
}

/* hex_value - HEXDIG's value, or -1 */
static int hex_value(unsigned char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}
