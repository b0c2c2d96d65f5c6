/* dns/rdata - bounded decoders for TXT, MX, A/AAAA and name RDATA.
 *
 * Every read is checked against the end of the record first; a decoder
 * either consumes the record exactly or rejects it.
 */
#include "dns/rdata.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"

#define DNS_WIRE_NAME_MAX 255  /* RFC 1035 3.1, length octets included */

static bool name_octet_is_plain(unsigned char c);

static bool name_octet_is_plain(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_' || c == '*';
}

int dns_rdata_name(const unsigned char *data, size_t len, size_t *used_r, char **name_r)
{
	char out[DNS_RDATA_NAME_MAX];
	size_t outlen = 0;
	size_t pos = 0;

	for (;;) {
		if (pos >= len || pos >= DNS_WIRE_NAME_MAX)
			return -1;
		unsigned label = data[pos++];
		if (label == 0)
			break;
		if (label > 63)        /* 0xc0 compression, 0x40/0x80 extended types */
			return -1;
		if (label > len - pos || pos + label >= DNS_WIRE_NAME_MAX)
			return -1;
		if (outlen > 0)
			out[outlen++] = '.';
		for (unsigned i = 0; i < label; i++) {
			unsigned char c = data[pos + i];
			/* at most 255 octets * 4 chars < sizeof(out): checked anyway */
			if (outlen + 5 > sizeof(out))
				return -1;
			if (name_octet_is_plain(c)) {
				out[outlen++] = (char)c;
			} else {
				snprintf(out + outlen, 5, "\\%03u", c);
				outlen += 4;
			}
		}
		pos += label;
	}
	if (used_r != NULL)
		*used_r = pos;
	else if (pos != len)
		return -1;
	if (outlen == 0)
		out[outlen++] = '.';
	*name_r = xstrndup(out, outlen);
	return 0;
}

int dns_rdata_txt(const unsigned char *data, size_t len, char **text_r, size_t *len_r)
{
	size_t pos = 0, total = 0;

	/* first pass: validate, and size the result */
	while (pos < len) {
		size_t n = data[pos++];
		if (n > len - pos)
			return -1;
		total += n;
		pos += n;
	}
	char *text = xmalloc(total + 1);
	size_t outlen = 0;
	for (pos = 0; pos < len;) {
		size_t n = data[pos++];
		memcpy(text + outlen, data + pos, n);
		outlen += n;
		pos += n;
	}
	text[outlen] = '\0';
	*text_r = text;
	*len_r = outlen;
	return 0;
}

int dns_rdata_mx(const unsigned char *data, size_t len, unsigned *pref_r, char **name_r)
{
	if (len < 3)
		return -1;
	unsigned pref = ((unsigned)data[0] << 8) | data[1];
	if (dns_rdata_name(data + 2, len - 2, NULL, name_r) < 0)
		return -1;
	*pref_r = pref;
	return 0;
}

int dns_rdata_address(const unsigned char *data, size_t len, char **text_r)
{
	char buf[INET6_ADDRSTRLEN];
	int af;

	if (len == 4)
		af = AF_INET;
	else if (len == 16)
		af = AF_INET6;
	else
		return -1;
	if (inet_ntop(af, data, buf, sizeof(buf)) == NULL)
		return -1;
	*text_r = xstrdup(buf);
	return 0;
}

bool dns_mx_is_null(size_t count, unsigned pref, const char *exchange)
{
	return count == 1 && pref == 0 && strcmp(exchange, ".") == 0;
}

int dns_reverse_name(const char *address, char **name_r)
{
	unsigned char a[16];

	if (inet_pton(AF_INET, address, a) == 1) {
		*name_r = xasprintf("%u.%u.%u.%u.in-addr.arpa", a[3], a[2], a[1], a[0]);
		return 0;
	}
	if (inet_pton(AF_INET6, address, a) == 1) {
		static const char hex[] = "0123456789abcdef";
		char buf[16 * 4 + sizeof("ip6.arpa")];
		size_t n = 0;
		for (int i = 15; i >= 0; i--) {
			buf[n++] = hex[a[i] & 0xf];
			buf[n++] = '.';
			buf[n++] = hex[a[i] >> 4];
			buf[n++] = '.';
		}
		memcpy(buf + n, "ip6.arpa", sizeof("ip6.arpa"));
		*name_r = xstrdup(buf);
		return 0;
	}
	return -1;
}
