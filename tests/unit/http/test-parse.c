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
	{ "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", 411, NULL },
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_heads_whole),
		cmocka_unit_test(test_heads_byte_by_byte),
		cmocka_unit_test(test_head_then_more),
		cmocka_unit_test(test_status_reasons),
		cmocka_unit_test(test_known_methods),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
