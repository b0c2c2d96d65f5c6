/* wire/xtext - RFC 3461 4 xtext, for ENVID, ORCPT and AUTH= on the wire and
 * for the string values of queue files, and RFC 3986's percent-encoding of
 * HTTP paths and queries (see wire.h). */
#include "wire/wire.h"

#include <stdlib.h>

#include "util/xalloc.h"

static bool xtext_is_plain(unsigned char c);

/* xtext_is_plain - xchar: bytes written as themselves; the rest are +HH */
static bool xtext_is_plain(unsigned char c)
{
	return c >= 0x21 && c <= 0x7e && c != '+' && c != '=';
}

int wire_hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

char *wire_xtext_decode(const char *s, size_t len)
{
	char *out = xmalloc(len + 1);
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '+') {
			int hi, lo;
			if (len - i < 3 || (hi = wire_hex_value(s[i + 1])) < 0 ||
			    (lo = wire_hex_value(s[i + 2])) < 0 || (hi | lo) == 0)
				goto fail;
			out[n++] = (char)(hi * 16 + lo);
			i += 2;
		} else if (xtext_is_plain(c)) {
			out[n++] = (char)c;
		} else {
			goto fail;
		}
	}
	out[n] = '\0';
	return out;
fail:
	free(out);
	return NULL;
}

void wire_xtext_append(struct buf *out, const char *s, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (xtext_is_plain(c)) {
			buf_append(out, &s[i], 1);
		} else {
			char enc[3] = { '+', hex[c >> 4], hex[c & 0xf] };
			buf_append(out, enc, sizeof(enc));
		}
	}
}

char *wire_xtext_encode(const char *s, size_t len)
{
	struct buf out;

	buf_init(&out);
	buf_append(&out, "", 0);
	wire_xtext_append(&out, s, len);
	return out.data;
}

bool wire_percent_decode(const char *s, size_t len, char *out)
{
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '%') {
			int hi = i + 2 < len ? wire_hex_value(s[i + 1]) : -1;
			int lo = i + 2 < len ? wire_hex_value(s[i + 2]) : -1;
			if (hi < 0 || lo < 0)
				return false;
			c = (unsigned char)(hi * 16 + lo);
			i += 2;
		}
		if (c < 0x20 || c == 0x7f)
			return false;
		out[n++] = (char)c;
	}
	out[n] = '\0';
	return true;
}
