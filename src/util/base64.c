/* util/base64 - strict RFC 4648 base64 (see base64.h). */
#include "util/base64.h"

#include <stdint.h>

static int base64_value(unsigned char c);

static const char base64_chars[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* base64_value - the 6 bits of alphabet character C, or -1 */
static int base64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int base64_decode(const char *in, size_t len, struct buf *out)
{
	if (len % 4 != 0)
		return -1;
	for (size_t i = 0; i < len; i += 4) {
		int v[4];
		size_t pad = 0;
		for (int k = 0; k < 4; k++) {
			unsigned char c = (unsigned char)in[i + (size_t)k];
			if (c == '=' && i + 4 == len && k >= 2) {
				v[k] = 0;
				pad++;
			} else if (pad > 0 || (v[k] = base64_value(c)) < 0) {
				return -1;
			}
		}
		/* RFC 4648 3.5: the bits past the data must be zero (canonical) */
		if ((pad == 1 && (v[2] & 3)) || (pad == 2 && (v[1] & 15)))
			return -1;
		unsigned char bytes[3] = {
			(unsigned char)((v[0] << 2) | (v[1] >> 4)),
			(unsigned char)(((v[1] & 15) << 4) | (v[2] >> 2)),
			(unsigned char)(((v[2] & 3) << 6) | v[3]),
		};
		buf_append(out, bytes, 3 - pad);
	}
	return 0;
}

void base64_encode(const void *in, size_t len, struct buf *out)
{
	const unsigned char *p = in;
	for (size_t i = 0; i < len; i += 3) {
		uint32_t n = (uint32_t)p[i] << 16;
		if (i + 1 < len)
			n |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < len)
			n |= p[i + 2];
		char quad[4] = { base64_chars[(n >> 18) & 63], base64_chars[(n >> 12) & 63],
				 i + 1 < len ? base64_chars[(n >> 6) & 63] : '=',
				 i + 2 < len ? base64_chars[n & 63] : '=' };
		buf_append(out, quad, 4);
	}
	if (len == 0)
		buf_append(out, "", 0);
}

void base64url_encode(const void *in, size_t len, struct buf *out)
{
	size_t start = out->len;
	base64_encode(in, len, out);
	while (out->len > start && out->data[out->len - 1] == '=')
		out->len--;
	for (size_t i = start; i < out->len; i++)
		out->data[i] = out->data[i] == '+' ? '-' : out->data[i] == '/' ? '_' : out->data[i];
	out->data[out->len] = '\0';
}

int base64url_decode(const char *in, size_t len, struct buf *out)
{
	if (len % 4 == 1)
		return -1;
	struct buf std;
	buf_init(&std);
	int rc = 0;
	for (size_t i = 0; i < len && rc == 0; i++) {
		char c = in[i] == '-' ? '+' : in[i] == '_' ? '/' : in[i];
		if (in[i] == '+' || in[i] == '/' || in[i] == '=')
			rc = -1;
		buf_append(&std, &c, 1);
	}
	while (rc == 0 && std.len % 4 != 0)
		buf_append(&std, "=", 1);
	if (rc == 0)
		rc = base64_decode(std.data ? std.data : "", std.len, out);
	buf_free(&std);
	return rc;
}
