/* util/xalloc - allocation that aborts on failure (STYLE: allocation failure
 * aborts), and small string helpers that allocate. Callers free with free(). */
#ifndef PETREL_UTIL_XALLOC_H
#define PETREL_UTIL_XALLOC_H

#include <stdarg.h>
#include <stddef.h>

/* xalloc_die - report that memory ran out, and abort */
void xalloc_die(void) __attribute__((noreturn));
void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *xvasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

#endif
