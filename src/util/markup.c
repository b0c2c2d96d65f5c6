/* util/markup - escaping text for XML and HTML (see markup.h). */
#include "util/markup.h"

#include "util/utf8.h"

void markup_escape(struct buf *out, const char *s, size_t len)
{
	for (size_t i = 0; i < len;) {
		unsigned char c = (unsigned char)s[i];
		size_t n = utf8_sequence_length(s + i, len - i);
		if (n > 1) {
			buf_append(out, s + i, n);
			i += n;
			continue;
		}
		switch (c) {
		case '&': buf_append_str(out, "&amp;"); break;
		case '<': buf_append_str(out, "&lt;"); break;
		case '>': buf_append_str(out, "&gt;"); break;
		case '"': buf_append_str(out, "&quot;"); break;
		case '\'': buf_append_str(out, "&apos;"); break;
		default:
			buf_append(out, n == 0 || c < 0x20 || c == 0x7f ? "?" : (const char *)&s[i], 1);
		}
		i++;
	}
}
