/* util/markup - text for an XML or HTML document: the five specials as
 * entities, control characters and broken UTF-8 as '?' (line ends kept on
 * request).  No I/O. */
#ifndef PETREL_UTIL_MARKUP_H
#define PETREL_UTIL_MARKUP_H

#include <stddef.h>

#include "util/buf.h"

/* markup_escape - S[0..LEN) escaped, appended to OUT */
void markup_escape(struct buf *out, const char *s, size_t len);
/* markup_escape_lines - as markup_escape, but lines kept: LF and TAB as they
 * are, the CR of a CRLF dropped (text for a <pre>, or the srcdoc of a frame) */
void markup_escape_lines(struct buf *out, const char *s, size_t len);

#endif
