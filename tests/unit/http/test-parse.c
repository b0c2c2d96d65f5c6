/* tests/unit/http/test-parse - request heads (valid and refused, with the
 * status each gets), each fed whole and one octet at a time: a prefix
 * never gives another answer than "read more" or the same refusal, and
 * fed octet by octet, each call resuming where the last stopped, the head
 * gets the answer it gets whole. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/parse.h"

static const struct http_limits limits = {
	.header_size = 256,
	.header_count = 4,
	.body_size = 1000,
	.request_timeout = 30,
	.idle_timeout = 60,
};

struct head_case {
	const char *head;
	int status;           /* 0: accepted */
	const char *want;     /* accepted: "METHOD|path|query|content_length|keep_alive" */
};

static const struct head_case cases[] = {
	{ "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n", 0, "GET|/healthz||0|1" },
	{ "\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 0, "GET|/||0|1" },
	{ "GET /a?b=c HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 0, "GET|/a|b=c|0|0" },
	{ "GET / HTTP/1.0\r\n\r\n", 0, "GET|/||0|0" },
	{ "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", 0, "GET|/||0|1" },
	{ "POST /v3/mail/send HTTP/1.1\r\nhost: a:8080\r\ncontent-length: 1000\r\n\r\n", 0,
	  "POST|/v3/mail/send||1000|1" },
	{ "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", 0,
	  "POST|/||5|1" },
	{ "GET http://a.example/x?y HTTP/1.1\r\nHost: a.example\r\n\r\n", 0, "GET|/x|y|0|1" },
	{ "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", 0, "OPTIONS|*||0|1" },
	{ "GET / HTTP/1.1\r\nHost: a\r\nX-Odd: \x80\xff value \r\n\r\n", 0, "GET|/||0|1" },
	{ "GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\nX-B: 2\r\nX-C: 3\r\n\r\n", 0, "GET|/||0|1" },
	{ "GET / HTTP/1.2\r\nHost: a\r\n\r\n", 0, "GET|/||0|1" },
	{ "GET / HTTP/1.9\r\nHost: a\r\nConnection: keep-alive, close\r\n\r\n", 0,
	  "GET|/||0|0" },
	{ "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", 0, "POST|/||0|1" },

	{ "GET / HTTP/1.1\nHost: a\n\n", 400, NULL },
	{ "GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", 400, NULL },
	{ "GET / HTTP/1.1\r\n\r\n", 400, NULL },
	{ "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400, NULL },
	{ "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400, NULL },
	{ "GET / HTTP/1.1\r\nHost: a\r\n x\r\n\r\n", 400, NULL },
	{ "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400, NULL },
	{ "GET / HTTP/1.1\r\n: a\r\nHost: a\r\n\r\n", 400, NULL },
	{ "GET / HTTP/1.1\r\nHost: a\x01\r\n\r\n", 400, NULL },
	{ "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400, NULL },
	{ "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400, NULL },
	{ "G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400, NULL },
	{ "GET x HTTP/1.1\r\nHost: a\r\n\r\n", 400, NULL },
	{ "GET http://a HTTP/1.1\r\nHost: a\r\n\r\n", 400, NULL },
	{ "GET / HTTX/1.1\r\nHost: a\r\n\r\n", 400, NULL },
	{ "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505, NULL },
	{ "GET / HTTP/0.9\r\nHost: a\r\n\r\n", 505, NULL },
	{ "GET / HTTP/1.10\r\nHost: a\r\n\r\n", 400, NULL },
	{ "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400,
	  NULL },
	{ "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400, NULL },
	{ "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n", 400, NULL },
	{ "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
	  400, NULL },
	{ "POST / HTTP/1.1\r\nHost: a\r\nAuthorization: a\r\nAuthorization: b\r\n\r\n", 400,
	  NULL },
	{ "GET / HTTP/1.1\r\nHost: a\r\nCookie: a=1\r\nCookie: b=2\r\n\r\n", 400, NULL },
	{ "POST / HTTP/1.1\r\nHost: a\r\nOrigin: http://a\r\nOrigin: http://a\r\n\r\n", 400,
	  NULL },
	{ "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip , Chunked\r\n\r\n", 501,
	  NULL },
	{ "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n"
	  "Transfer-Encoding: chunked\r\n\r\n", 501, NULL },
	{ "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 400, NULL },
	{ "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400,
	  NULL },
	{ "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
	  "Transfer-Encoding: identity\r\n\r\n", 400, NULL },
	{ "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 400,
	  NULL },
	{ "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ,\r\n\r\n", 400, NULL },
	{ "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400, NULL },
	{ "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1001\r\n\r\n", 413, NULL },
	{ "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n", 413,
	  NULL },
	{ "GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\nX-B: 2\r\nX-C: 3\r\nX-D: 4\r\n\r\n", 431, NULL },
	{ "GET / HTTP/1.1\r\nHost: a\r\nX-Long: "
	  "0123456789012345678901234567890123456789012345678901234567890123456789"
	  "0123456789012345678901234567890123456789012345678901234567890123456789"
	  "0123456789012345678901234567890123456789012345678901234567890123456789"
	  "0123456789\r\n\r\n", 431, NULL },
	{ "GET /0123456789012345678901234567890123456789012345678901234567890123456789"
	  "0123456789012345678901234567890123456789012345678901234567890123456789"
	  "0123456789012345678901234567890123456789012345678901234567890123456789"
	  "0123456789012345678901234567890123456789012345678901234567890123456789"
	  " HTTP/1.1\r\nHost: a\r\n\r\n", 414, NULL },
};

/* describe - the accepted request as the table writes it */
static void describe(const char *data, const struct http_request *req, char *buf, size_t size)
{
	snprintf(buf, size, "%.*s|%.*s|%.*s|%llu|%d", (int)req->method.len, data + req->method.off,
		 (int)req->path.len, data + req->path.off, (int)req->query.len,
		 data + req->query.off, (unsigned long long)req->content_length, req->keep_alive);
}

/* parse_prefix - the answer for the first LEN octets of HEAD (CHECKED of them
 * read by a call that asked for more), in a buffer of
 * exactly that size (so ASan sees any read past it) */
static int parse_prefix(const char *head, size_t len, size_t checked, struct http_request *req,
			const char **error)
{
	char *copy = malloc(len ? len : 1);
	memcpy(copy, head, len);
	int rc = http_request_parse(copy, len, checked, &limits, req, error);
	free(copy);
	return rc;
}

static void test_heads_whole(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct head_case *c = &cases[i];
		struct http_request req;
		const char *error = NULL;
		size_t len = strlen(c->head);
		char *copy = malloc(len);
		memcpy(copy, c->head, len);
		int rc = http_request_parse(copy, len, 0, &limits, &req, &error);
		if (c->status == 0) {
			char got[300];
			if (rc != 1)
				fail_msg("case %zu: refused %d (%s)", i, req.status, error);
			describe(copy, &req, got, sizeof(got));
			assert_string_equal(got, c->want);
			assert_int_equal(req.head_len, len);
		} else {
			if (rc != -1 || req.status != c->status)
				fail_msg("case %zu: rc %d status %d, expected %d", i, rc, req.status,
					 c->status);
			assert_non_null(error);
		}
		free(copy);
	}
}

/* every prefix of a head, each call resuming where the last asked for
 * more: "read more", or (a refused head) the same status; the whole head
 * read so gets the answer it gets in one call */
static void test_heads_byte_by_byte(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct head_case *c = &cases[i];
		size_t len = strlen(c->head);
		struct http_request req;
		const char *error;
		int rc = 0;
		for (size_t n = 0; n <= len && rc == 0; n++) {
			rc = parse_prefix(c->head, n, n ? n - 1 : 0, &req, &error);
			if (rc == 1 && n < len)
				fail_msg("case %zu: accepted after %zu of %zu octets", i, n, len);
			if (rc == -1 && req.status != c->status)
				fail_msg("case %zu: status %d after %zu octets, expected %d", i,
					 req.status, n, c->status);
		}
		if (c->status == 0 && (rc != 1 || req.head_len != len))
			fail_msg("case %zu: octet by octet rc %d, not accepted whole", i, rc);
		if (c->status != 0 && rc != -1)
			fail_msg("case %zu: octet by octet never refused", i);
	}
}

/* a pipelined second request after the first head is not part of it */
static void test_head_then_more(void **state)
{
	(void)state;
	const char *two = "GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n";
	struct http_request req;
	const char *error;
	assert_int_equal(http_request_parse(two, strlen(two), 0, &limits, &req, &error), 1);
	assert_int_equal(req.head_len, strlen(two) / 2);
	assert_true(http_span_equals(two, req.path, "/a", false));
}

/* ---- chunked bodies ---------------------------------------------------------- */

struct chunked_case {
	const char *body;     /* the octets after the head */
	int status;           /* 0: read whole */
	const char *data;     /* read whole: the body's data */
	size_t rest;          /* read whole: octets after the body's end */
};

static const struct chunked_case chunked_cases[] = {
	{ "0\r\n\r\n", 0, "", 0 },
	{ "5\r\nhello\r\n0\r\n\r\n", 0, "hello", 0 },
	{ "5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\nGET", 0, "hello, world", 3 },
	{ "A;name=value ; x=\"q\"\r\n0123456789\r\n0\r\nX-Trailer: 1\r\n\r\n", 0,
	  "0123456789", 0 },
	{ "00003 \r\nabc\r\n0 ;ext\r\n\r\n", 0, "abc", 0 },
	{ "\r\n", 400, NULL, 0 },                          /* no size */
	{ "g\r\n", 400, NULL, 0 },
	{ "5\nhello\r\n0\r\n\r\n", 400, NULL, 0 },    /* bare LF */
	{ "5\r\nhelloX\r\n0\r\n\r\n", 400, NULL, 0 }, /* data longer than its size */
	{ "5\r\nhello\r\n0\r\n\n", 400, NULL, 0 },
	{ "5\r\nhello\r\n0\r\nX: 1\n\r\n", 400, NULL, 0 },
	{ "10000000000000000\r\n", 413, NULL, 0 },          /* 17 digits */
	{ "3e9\r\n", 413, NULL, 0 },                        /* over body_size 1000 */
	{ "200\r\n", 0, NULL, 0 },                          /* 512: within; read more */
};

/* read_chunked - BODY arriving STEP octets at a time (0: all at once),
 * each call given what has arrived and not been used; the data into OUT;
 * returns the decoder's last answer */
static int read_chunked(const char *body, size_t step, char *out, size_t *out_len,
			size_t *rest, int *status)
{
	struct http_chunked c = { 0 };
	size_t len = strlen(body), pos = 0, arrived = step ? 0 : len;
	int rc = 0;
	*out_len = 0;
	for (;;) {
		if (pos == arrived) {
			if (arrived == len)
				break;
			arrived = arrived + step < len ? arrived + step : len;
		}
		size_t used, data;
		const char *error;
		rc = http_chunked_read(&c, body + pos, arrived - pos, &limits, &used, &data, status,
				       &error);
		assert_true(used <= arrived - pos && data <= used);
		if (rc < 0)
			assert_non_null(error);
		memcpy(out + *out_len, body + pos, data);
		*out_len += data;
		pos += used;
		if (rc != 0)
			break;
	}
	*rest = len - pos;
	return rc;
}

static void test_chunked_bodies(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(chunked_cases) / sizeof(chunked_cases[0]); i++) {
		const struct chunked_case *c = &chunked_cases[i];
		for (size_t step = 0; step <= 3; step++) {
			char out[1000];
			size_t out_len, rest;
			int status = 0;
			int rc = read_chunked(c->body, step, out, &out_len, &rest, &status);
			if (c->status != 0) {
				if (rc != -1 || status != c->status)
					fail_msg("case %zu step %zu: rc %d status %d, expected %d", i,
						 step, rc, status, c->status);
			} else if (c->data == NULL) {
				if (rc != 0)
					fail_msg("case %zu step %zu: rc %d, expected more", i, step, rc);
			} else {
				if (rc != 1)
					fail_msg("case %zu step %zu: rc %d status %d", i, step, rc, status);
				assert_int_equal(out_len, strlen(c->data));
				assert_memory_equal(out, c->data, out_len);
				assert_int_equal(rest, c->rest);
			}
		}
	}
}

/* a chunked request's head is accepted and says so; with HTTP/1.0 or
 * after another coding it is not */
static void test_chunked_heads(void **state)
{
	(void)state;
	const char *head = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
	struct http_request req;
	const char *error;
	assert_int_equal(http_request_parse(head, strlen(head), 0, &limits, &req, &error), 1);
	assert_true(req.chunked);
	assert_int_equal(req.content_length, 0);
	head = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n";
	assert_int_equal(http_request_parse(head, strlen(head), 0, &limits, &req, &error), 1);
	assert_false(req.chunked);
}

static void test_status_reasons(void **state)
{
	(void)state;
	assert_string_equal(http_status_reason(431), "Request Header Fields Too Large");
	assert_string_equal(http_status_reason(408), "Request Timeout");
	assert_string_equal(http_status_reason(299), "Unknown");
}

static void test_known_methods(void **state)
{
	(void)state;
	const char *data = "GETget PATCH FOO";
	assert_true(http_method_is_known(data, (struct http_span){ 0, 3 }));
	assert_false(http_method_is_known(data, (struct http_span){ 3, 3 }));
	assert_true(http_method_is_known(data, (struct http_span){ 7, 5 }));
	assert_false(http_method_is_known(data, (struct http_span){ 13, 3 }));
}

/* test_query_params - the first NAME=VALUE of a query, as sent; a name
 * that only starts or ends another, or has no '=', is not it */
static void test_query_params(void **state)
{
	(void)state;
	static const struct { const char *query, *name, *value; } params[] = {
		{ "start_date=2026-12-01", "start_date", "2026-12-01" },
		{ "a=1&start_date=2026-12-01&b=2", "start_date", "2026-12-01" },
		{ "start_date=&x=1", "start_date", "" },
		{ "start_date=1&start_date=2", "start_date", "1" },
		{ "xstart_date=1&start_datex=2", "start_date", NULL },
		{ "start_date&end_date=3", "start_date", NULL },
		{ "&&start_date=4&", "start_date", "4" },
		{ "", "start_date", NULL },
	};
	for (size_t i = 0; i < sizeof(params) / sizeof(params[0]); i++) {
		/* the query inside a larger buffer, as in a head */
		char data[128];
		snprintf(data, sizeof(data), "GET /v3/stats?%s HTTP/1.1", params[i].query);
		struct http_span q = { 14, strlen(params[i].query) }, v;
		bool found = http_query_param(data, q, params[i].name, &v);
		assert_int_equal(found, params[i].value != NULL);
		if (found) {
			assert_int_equal(v.len, strlen(params[i].value));
			assert_memory_equal(data + v.off, params[i].value, v.len);
		}
	}
}

/* test_cookie_origin_spans - the Cookie and Origin fields' values found
 * (the web pages read them, http/form.h), none when absent */
static void test_cookie_origin_spans(void **state)
{
	(void)state;
	const char *head = "POST /login HTTP/1.1\r\nHost: a\r\nCookie:  s=1; t=2 \r\n"
		"Origin: https://a.example\r\n\r\n";
	struct http_request req;
	const char *error = NULL;
	assert_int_equal(http_request_parse(head, strlen(head), 0, &limits, &req, &error), 1);
	assert_int_equal(req.cookie.len, strlen("s=1; t=2"));
	assert_memory_equal(head + req.cookie.off, "s=1; t=2", req.cookie.len);
	assert_true(http_span_equals(head, req.origin, "https://a.example", false));
	head = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
	assert_int_equal(http_request_parse(head, strlen(head), 0, &limits, &req, &error), 1);
	assert_int_equal(req.cookie.len, 0);
	assert_int_equal(req.origin.len, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_heads_whole),
		cmocka_unit_test(test_heads_byte_by_byte),
		cmocka_unit_test(test_head_then_more),
		cmocka_unit_test(test_chunked_bodies),
		cmocka_unit_test(test_chunked_heads),
		cmocka_unit_test(test_status_reasons),
		cmocka_unit_test(test_known_methods),
		cmocka_unit_test(test_query_params),
		cmocka_unit_test(test_cookie_origin_spans),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
