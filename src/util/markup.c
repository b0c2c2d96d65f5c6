/* util/markup - escaping text for XML and HTML (see markup.h). */
#include "util/markup.h"

#include <stdbool.h>

#include "util/utf8.h"

static void escape(struct buf *out, const char *s, size_t len, bool lines);

void markup_escape(struct buf *out, const char *s, size_t len)
{
	escape(out, s, len, false);
}

void markup_escape_lines(struct buf *out, const char *s, size_t len)
{
	escape(out, s, len, true);
}

/* escape - the five specials as entities; a control character as '?',
 * unless LINES and it is LF, TAB or the CR of a CRLF (dropped) */
static void escape(struct buf *out, const char *s, size_t len, bool lines)
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
		case '\n': case '\t':
			buf_append_str(out, lines ? (c == '\n' ? "\n" : "\t") : "?");
			break;
		case '\r':
			if (!lines || i + 1 >= len || s[i + 1] != '\n')
				buf_append_str(out, "?");
			break;
		default:
			buf_append(out, n == 0 || c < 0x20 || c == 0x7f ? "?" : (const char *)&s[i], 1);
		}
		i++;
	}
}
