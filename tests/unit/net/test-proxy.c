/* Unit tests of net/proxy.c: PROXY protocol v1 and v2 headers, each fed
 * whole and one octet at a time, and the proxy_from network match. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "config/config.h"
#include "net/proxy.h"

#define SIG "\r\n\r\n\0\r\nQUIT\n"

struct valid_case {
	const char *data;
	size_t size;
	int version;
	const char *source;  /* NULL: no address (UNKNOWN, LOCAL) */
	unsigned port;
	size_t length;       /* the header's */
	size_t decided;      /* octets the parser needs to be done, if fewer (v2) */
};

struct invalid_case {
	const char *data;
	size_t size;
};

#define S(x) x, sizeof(x) - 1

static const struct valid_case valid_cases[] = {
	{ S("PROXY TCP4 192.0.2.1 198.51.100.2 56324 25\r\n"), 1, "192.0.2.1", 56324, 44, 0 },
	{ S("PROXY TCP4 192.0.2.1 198.51.100.2 56324 25\r\nEHLO x\r\n"), 1, "192.0.2.1",
	  56324, 44, 0 },
	{ S("PROXY TCP6 2001:db8::1 2001:db8::2 0 65535\r\n"), 1, "2001:db8::1", 0, 44, 0 },
	{ S("PROXY UNKNOWN\r\n"), 1, NULL, 0, 15, 0 },
	{ S("PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n"), 1, NULL, 0, 59, 0 },
	/* the longest a v1 line can be: 107 octets */
	{ S("PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n"), 1,
	  "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535, 104, 0 },
	{ S(SIG "\x21\x11\x00\x0c" "\xc0\x00\x02\x01" "\xc6\x33\x64\x02" "\xdc\x04\x00\x19"),
	  2, "192.0.2.1", 56324, 28, 0 },
	/* a TLV after the addresses: the length covers it, the parser skips it */
	{ S(SIG "\x21\x11\x00\x11" "\xc0\x00\x02\x01" "\xc6\x33\x64\x02" "\xdc\x04\x00\x19"
	    "\x02\x00\x02" "ab"), 2, "192.0.2.1", 56324, 33, 28 },
	{ S(SIG "\x21\x21\x00\x24"
	    "\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01"
	    "\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02"
	    "\x01\xbb\x03\xe3"), 2, "2001:db8::1", 443, 52, 0 },
	/* LOCAL: a health check; whatever address block there is, is dropped */
	{ S(SIG "\x20\x00\x00\x00"), 2, NULL, 0, 16, 0 },
	{ S(SIG "\x20\x11\x00\x0c" "\xc0\x00\x02\x01" "\xc6\x33\x64\x02" "\xdc\x04\x00\x19"),
	  2, NULL, 0, 28, 16 },
};

static const struct invalid_case invalid_cases[] = {
	{ S("EHLO client.example\r\n") },
	{ S("\x16\x03\x01\x02\x00") },                       /* a TLS ClientHello */
	{ S("proxy TCP4 192.0.2.1 198.51.100.2 1 2\r\n") },
	{ S("PROXY TCP5 192.0.2.1 198.51.100.2 1 2\r\n") },
	{ S("PROXY TCP4 192.0.2.1 198.51.100.2 1 2\n") },      /* bare LF */
	{ S("PROXY TCP4 192.0.2.1 198.51.100.2 1 2\r\r\n") },
	{ S("PROXY TCP4  192.0.2.1 198.51.100.2 1 2\r\n") },   /* two spaces */
	{ S("PROXY TCP4 192.0.2.1 198.51.100.2 1 2 \r\n") },
	{ S("PROXY TCP4 192.0.2.1 198.51.100.2 1\r\n") },
	{ S("PROXY TCP4 192.0.2.256 198.51.100.2 1 2\r\n") },
	{ S("PROXY TCP4 2001:db8::1 198.51.100.2 1 2\r\n") },  /* family mismatch */
	{ S("PROXY TCP6 192.0.2.1 2001:db8::2 1 2\r\n") },
	{ S("PROXY TCP4 192.0.2.1 198.51.100.2 65536 2\r\n") },
	{ S("PROXY TCP4 192.0.2.1 198.51.100.2 025 2\r\n") },  /* leading zero */
	{ S("PROXY TCP4 192.0.2.1 198.51.100.2 -1 2\r\n") },
	{ S("PROXY UNKNOWNX\r\n") },
	{ S("PROXY \r\n") },
	/* no CRLF within 107 octets */
	{ S("PROXY UNKNOWN xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n") },
	{ S("\r\n\r\n\0\r\nQUIX\n\x21\x11\x00\x0c") },                /* signature */
	{ S(SIG "\x11\x11\x00\x0c") },                            /* version 1 */
	{ S(SIG "\x22\x11\x00\x0c") },                            /* command 2 */
	{ S(SIG "\x21\x12\x00\x0c" "\xc0\x00\x02\x01" "\xc6\x33\x64\x02" "\xdc\x04\x00\x19") },
	{ S(SIG "\x21\x31\x00\xd8") },                            /* AF_UNIX */
	{ S(SIG "\x21\x01\x00\x00") },                            /* PROXY, UNSPEC */
	{ S(SIG "\x21\x11\x00\x0b" "\xc0\x00\x02\x01" "\xc6\x33\x64\x02" "\xdc\x04\x00") },
	{ S(SIG "\x21\x21\x00\x0c" "\xc0\x00\x02\x01" "\xc6\x33\x64\x02" "\xdc\x04\x00\x19") },
};

/* check_valid - C whole; every shorter prefix needs more, or (v2) is done
 * from DECIDED octets on */
static void check_valid(const struct valid_case *c)
{
	struct net_proxy_header h;
	const char *error = NULL;
	char buf[INET6_ADDRSTRLEN];

	size_t decided = c->decided != 0 ? c->decided : c->length;
	for (size_t n = 0; n < c->length; n++)
		assert_int_equal(net_proxy_parse((const unsigned char *)c->data, n, &h, &error),
				 n < decided ? 0 : 1);
	assert_int_equal(net_proxy_parse((const unsigned char *)c->data, c->size, &h, &error), 1);
	assert_int_equal(h.version, c->version);
	assert_int_equal(h.length, c->length);
	assert_int_equal(h.has_source, c->source != NULL);
	if (c->source == NULL)
		return;
	const void *addr;
	unsigned port;
	if (h.source.ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)(void *)&h.source;
		addr = &sin->sin_addr;
		port = ntohs(sin->sin_port);
		assert_int_equal(h.source_len, sizeof(*sin));
	} else {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)(void *)&h.source;
		assert_int_equal(h.source.ss_family, AF_INET6);
		addr = &sin6->sin6_addr;
		port = ntohs(sin6->sin6_port);
		assert_int_equal(h.source_len, sizeof(*sin6));
	}
	assert_non_null(inet_ntop(h.source.ss_family, addr, buf, sizeof(buf)));
	assert_string_equal(buf, c->source);
	assert_int_equal(port, c->port);
}

static void test_valid(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(valid_cases) / sizeof(valid_cases[0]); i++)
		check_valid(&valid_cases[i]);
}

/* test_invalid - refused whole; fed octet by octet, refused at some prefix
 * and never accepted before */
static void test_invalid(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(invalid_cases) / sizeof(invalid_cases[0]); i++) {
		const struct invalid_case *c = &invalid_cases[i];
		struct net_proxy_header h;
		const char *error = NULL;
		int rc = 0;
		for (size_t n = 1; n <= c->size && rc == 0; n++)
			rc = net_proxy_parse((const unsigned char *)c->data, n, &h, &error);
		if (rc != -1)
			fail_msg("case %zu: %d", i, rc);
		assert_non_null(error);
		assert_int_equal(net_proxy_parse((const unsigned char *)c->data, c->size, &h,
						 &error), -1);
	}
}

/* test_v1_too_long - no CRLF in the first 107 octets: refused at 107 */
static void test_v1_too_long(void **state)
{
	unsigned char buf[200];
	struct net_proxy_header h;
	const char *error = NULL;
	(void)state;
	memset(buf, 'x', sizeof(buf));
	memcpy(buf, "PROXY UNKNOWN ", 14);
	assert_int_equal(net_proxy_parse(buf, 106, &h, &error), 0);
	assert_int_equal(net_proxy_parse(buf, 107, &h, &error), -1);
	buf[105] = '\r';
	buf[106] = '\n';
	assert_int_equal(net_proxy_parse(buf, 107, &h, &error), 1);
	assert_int_equal(h.length, 107);
	buf[105] = 'x';
	buf[106] = '\r';
	buf[107] = '\n';  /* 108 octets */
	assert_int_equal(net_proxy_parse(buf, 108, &h, &error), -1);
}

/* test_v2_long_tlvs - the parser decides from the addresses; the length
 * tells the caller how much to drop */
static void test_v2_long_tlvs(void **state)
{
	unsigned char buf[NET_PROXY_PEEK_MAX];
	struct net_proxy_header h;
	const char *error = NULL;
	(void)state;
	memset(buf, 0, sizeof(buf));
	memcpy(buf, SIG "\x21\x11\xff\xff" "\xc0\x00\x02\x01", 20);
	assert_int_equal(net_proxy_parse(buf, 27, &h, &error), 0);
	assert_int_equal(net_proxy_parse(buf, 28, &h, &error), 1);
	assert_int_equal(h.length, 16 + 65535);
}

static void test_networks(void **state)
{
	struct config_network nw[2] = {
		{ .address = { [10] = 0xff, [11] = 0xff, 192, 0, 2, 0 }, .bits = 96 + 25 },
		{ .address = { 0x20, 0x01, 0x0d, 0xb8 }, .bits = 32 },
	};
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };
	(void)state;
	assert_int_equal(inet_pton(AF_INET, "192.0.2.127", &sin.sin_addr), 1);
	assert_true(net_address_in_networks((struct sockaddr *)&sin, nw, 2));
	assert_int_equal(inet_pton(AF_INET, "192.0.2.128", &sin.sin_addr), 1);
	assert_false(net_address_in_networks((struct sockaddr *)&sin, nw, 2));
	assert_int_equal(inet_pton(AF_INET, "192.0.3.1", &sin.sin_addr), 1);
	assert_false(net_address_in_networks((struct sockaddr *)&sin, nw, 2));
	assert_int_equal(inet_pton(AF_INET6, "2001:db8:ffff::1", &sin6.sin6_addr), 1);
	assert_true(net_address_in_networks((struct sockaddr *)&sin6, nw, 2));
	assert_int_equal(inet_pton(AF_INET6, "2001:db9::1", &sin6.sin6_addr), 1);
	assert_false(net_address_in_networks((struct sockaddr *)&sin6, nw, 2));
	/* an IPv4 client on a dual-stack socket matches the IPv4 network */
	assert_int_equal(inet_pton(AF_INET6, "::ffff:192.0.2.1", &sin6.sin6_addr), 1);
	assert_true(net_address_in_networks((struct sockaddr *)&sin6, nw, 2));
	assert_false(net_address_in_networks((struct sockaddr *)&sin6, nw, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_v1_too_long),
		cmocka_unit_test(test_v2_long_tlvs),
		cmocka_unit_test(test_networks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
