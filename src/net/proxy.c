/* net/proxy - PROXY protocol v1 and v2 headers (haproxy's
 * doc/proxy-protocol.txt); see proxy.h for the contract.
 *
 * The parser is stateless and forward-only over the octets it is given:
 * it decides from the first octet which version it reads ('P' or the
 * v2 signature's CR), refuses at the first octet that cannot belong to a
 * header, and asks for more only while everything so far is a valid prefix.
 */
#include "net/proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>

#include "config/config.h"
#include "net/net.h"

/* spec 2.2: the 12-octet signature of a v2 header */
static const unsigned char proxy_v2_signature[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};

static int proxy_v1_parse(const unsigned char *data, size_t size,
			  struct net_proxy_header *header_r, const char **error_r);
static int proxy_v2_parse(const unsigned char *data, size_t size,
			  struct net_proxy_header *header_r, const char **error_r);
static bool proxy_v1_field(const unsigned char **cur, const unsigned char *end,
			   char *buf, size_t bufsize);
static bool proxy_port_parse(const char *s, uint16_t *port_r);

int net_proxy_parse(const unsigned char *data, size_t size,
		    struct net_proxy_header *header_r, const char **error_r)
{
	memset(header_r, 0, sizeof(*header_r));
	if (size == 0)
		return 0;
	if (data[0] == 'P')
		return proxy_v1_parse(data, size, header_r, error_r);
	if (data[0] == proxy_v2_signature[0])
		return proxy_v2_parse(data, size, header_r, error_r);
	*error_r = "no PROXY protocol header";
	return -1;
}

/* proxy_v1_field - the next space-separated field of the line before its
 * CR into BUF; false if it is empty or too long */
static bool proxy_v1_field(const unsigned char **cur, const unsigned char *end,
			   char *buf, size_t bufsize)
{
	size_t n = 0;
	while (*cur < end && **cur != ' ' && **cur != '\r') {
		if (n + 1 >= bufsize)
			return false;
		buf[n++] = (char)**cur;
		(*cur)++;
	}
	buf[n] = '\0';
	return n > 0;
}

/* proxy_port_parse - decimal 0..65535 without a leading zero (spec 2.1) */
static bool proxy_port_parse(const char *s, uint16_t *port_r)
{
	unsigned long v = 0;
	size_t i = 0;
	for (; s[i] != '\0'; i++) {
		if (s[i] < '0' || s[i] > '9' || i >= 5)
			return false;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (i == 0 || (i > 1 && s[0] == '0') || v > 65535)
		return false;
	*port_r = (uint16_t)v;
	return true;
}

/* proxy_v1_parse - "PROXY TCP4|TCP6 SRC DST SPORT DPORT\r\n" or
 * "PROXY UNKNOWN ...\r\n", at most 107 octets (spec 2.1) */
static int proxy_v1_parse(const unsigned char *data, size_t size,
			  struct net_proxy_header *header_r, const char **error_r)
{
	static const char prefix[] = "PROXY ";
	size_t n = size < sizeof(prefix) - 1 ? size : sizeof(prefix) - 1;
	if (memcmp(data, prefix, n) != 0) {
		*error_r = "bad PROXY v1 header";
		return -1;
	}
	const unsigned char *lf = memchr(data, '\n', size < NET_PROXY_V1_MAX ? size :
					 NET_PROXY_V1_MAX);
	if (lf == NULL) {
		if (size >= NET_PROXY_V1_MAX) {
			*error_r = "PROXY v1 header longer than 107 octets";
			return -1;
		}
		return 0;
	}
	size_t len = (size_t)(lf - data) + 1;
	if (len < sizeof(prefix) - 1 + 2 || lf[-1] != '\r') {
		*error_r = "PROXY v1 header not ended by CRLF";
		return -1;
	}
	const unsigned char *cur = data + sizeof(prefix) - 1;
	const unsigned char *end = lf - 1; /* the CR */
	if (memchr(cur, '\r', (size_t)(end - cur)) != NULL) {
		*error_r = "bare CR in PROXY v1 header";
		return -1;
	}
	char proto[8], src[48], dst[48], sport[8], dport[8];
	if (!proxy_v1_field(&cur, end, proto, sizeof(proto))) {
		*error_r = "bad PROXY v1 protocol";
		return -1;
	}
	header_r->version = 1;
	header_r->length = len;
	if (strcmp(proto, "UNKNOWN") == 0) {
		/* the rest of the line is to be ignored (spec 2.1) */
		if (cur != end && *cur != ' ') {
			*error_r = "bad PROXY v1 protocol";
			return -1;
		}
		return 1;
	}
	int family = strcmp(proto, "TCP4") == 0 ? AF_INET :
		     strcmp(proto, "TCP6") == 0 ? AF_INET6 : AF_UNSPEC;
	bool ok = family != AF_UNSPEC;
	char *fields[4] = { src, dst, sport, dport };
	size_t sizes[4] = { sizeof(src), sizeof(dst), sizeof(sport), sizeof(dport) };
	for (size_t i = 0; ok && i < 4; i++) {
		ok = cur < end && *cur == ' ';
		cur++;
		ok = ok && proxy_v1_field(&cur, end, fields[i], sizes[i]);
	}
	uint16_t sp = 0, dp = 0;
	unsigned char addr[16];
	ok = ok && cur == end && proxy_port_parse(sport, &sp) && proxy_port_parse(dport, &dp) &&
	     inet_pton(family, dst, addr) == 1 && inet_pton(family, src, addr) == 1;
	if (!ok) {
		*error_r = "bad PROXY v1 addresses";
		return -1;
	}
	header_r->has_source = true;
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)(void *)&header_r->source;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(sp);
		memcpy(&sin->sin_addr, addr, 4);
		header_r->source_len = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)(void *)&header_r->source;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(sp);
		memcpy(&sin6->sin6_addr, addr, 16);
		header_r->source_len = sizeof(*sin6);
	}
	return 1;
}

/* proxy_v2_parse - signature, version and command, family and transport,
 * length, then the address block (spec 2.2); TLVs are left to skip */
static int proxy_v2_parse(const unsigned char *data, size_t size,
			  struct net_proxy_header *header_r, const char **error_r)
{
	size_t n = size < sizeof(proxy_v2_signature) ? size : sizeof(proxy_v2_signature);
	if (memcmp(data, proxy_v2_signature, n) != 0) {
		*error_r = "bad PROXY v2 signature";
		return -1;
	}
	if (size < 13)
		return 0;
	unsigned version = data[12] >> 4, command = data[12] & 0x0f;
	if (version != 2 || command > 1) {
		*error_r = "bad PROXY v2 version or command";
		return -1;
	}
	if (size < NET_PROXY_V2_FIXED)
		return 0;
	unsigned family = data[13] >> 4, transport = data[13] & 0x0f;
	size_t len = ((size_t)data[14] << 8) | data[15];
	header_r->version = 2;
	header_r->length = NET_PROXY_V2_FIXED + len;
	if (command == 0) /* LOCAL: the address block, if any, is ignored */
		return 1;
	size_t need = family == 1 ? 12 : family == 2 ? 36 : 0;
	if (need == 0 || transport != 1) {
		*error_r = "PROXY v2 header is not TCP over IPv4 or IPv6";
		return -1;
	}
	if (len < need) {
		*error_r = "PROXY v2 address block too short";
		return -1;
	}
	if (size < NET_PROXY_V2_FIXED + need)
		return 0;
	const unsigned char *a = data + NET_PROXY_V2_FIXED;
	header_r->has_source = true;
	if (family == 1) {
		struct sockaddr_in *sin = (struct sockaddr_in *)(void *)&header_r->source;
		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, a, 4);
		memcpy(&sin->sin_port, a + 8, 2);
		header_r->source_len = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)(void *)&header_r->source;
		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, a, 16);
		memcpy(&sin6->sin6_port, a + 32, 2);
		header_r->source_len = sizeof(*sin6);
	}
	return 1;
}

bool net_address_in_networks(const struct sockaddr *sa, const struct config_network *networks,
			     size_t count)
{
	unsigned char key[16];
	if (sa->sa_family != AF_INET && sa->sa_family != AF_INET6)
		return false;
	net_address_key(sa, key);
	for (size_t i = 0; i < count; i++) {
		const struct config_network *nw = &networks[i];
		unsigned full = nw->bits / 8, rest = nw->bits % 8;
		if (memcmp(key, nw->address, full) != 0)
			continue;
		if (rest != 0 && ((key[full] ^ nw->address[full]) & (0xff00u >> rest) & 0xff) != 0)
			continue;
		return true;
	}
	return false;
}
