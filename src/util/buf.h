/* util/buf - a growable byte buffer with an owner-chosen limit.
 *
 * struct buf is embedded by its owner; buf_free releases the bytes.  Appends
 * abort on allocation failure (STYLE: allocation failure aborts).  The data is
 * always NUL-terminated past len, for convenience of printing, but may hold
 * NUL bytes itself.
 */
#ifndef PETREL_UTIL_BUF_H
#define PETREL_UTIL_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char *data;
	size_t len;
	size_t cap;
};

void buf_init(struct buf *buf);
void buf_free(struct buf *buf);
void buf_reset(struct buf *buf);  /* len = 0, keeps the memory */
/* buf_reserve - room for EXTRA more bytes (and the NUL) at once: a writer
 * that knows its size grows the buffer once, not by doubling */
void buf_reserve(struct buf *buf, size_t extra);
void buf_append(struct buf *buf, const void *data, size_t len);
void buf_append_str(struct buf *buf, const char *s);
void buf_printf(struct buf *buf, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void buf_vprintf(struct buf *buf, const char *fmt, va_list ap);

#endif
