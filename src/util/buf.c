/* util/buf - growable byte buffer (see buf.h). */
#include "util/buf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"

void buf_reserve(struct buf *buf, size_t extra)
{
	if (extra >= SIZE_MAX - buf->len - 1)
		abort();
	size_t need = buf->len + extra + 1;
	if (need <= buf->cap)
		return;
	size_t cap = buf->cap ? buf->cap : 256;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	buf->data = xrealloc(buf->data, cap);
	buf->cap = cap;
}

void buf_init(struct buf *buf)
{
	buf->data = NULL;
	buf->len = 0;
	buf->cap = 0;
}

void buf_free(struct buf *buf)
{
	free(buf->data);
	buf_init(buf);
}

void buf_reset(struct buf *buf)
{
	buf->len = 0;
	if (buf->data)
		buf->data[0] = '\0';
}

void buf_append(struct buf *buf, const void *data, size_t len)
{
	buf_reserve(buf, len);
	if (len)
		memcpy(buf->data + buf->len, data, len);
	buf->len += len;
	buf->data[buf->len] = '\0';
}

void buf_append_str(struct buf *buf, const char *s)
{
	buf_append(buf, s, strlen(s));
}

void buf_vprintf(struct buf *buf, const char *fmt, va_list ap)
{
	va_list ap2;
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		abort();
	buf_reserve(buf, (size_t)n);
	vsnprintf(buf->data + buf->len, (size_t)n + 1, fmt, ap);
	buf->len += (size_t)n;
}

void buf_printf(struct buf *buf, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(buf, fmt, ap);
	va_end(ap);
}
