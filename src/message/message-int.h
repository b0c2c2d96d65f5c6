/* message/message-int - what message/'s own files share (not a public API). */
#ifndef PETREL_MESSAGE_INT_H
#define PETREL_MESSAGE_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"

#define MESSAGE_CHARSET_NAME_MAX 64

/* message_charset_is_known - CHARSET[0..LEN) (an RFC 2978 name, any case)
 * can be converted to UTF-8: UTF-8 and US-ASCII always, others if glibc's
 * iconv has them */
bool message_charset_is_known(const char *charset, size_t len);
/* message_charset_to_utf8 - IN[0..LEN) in CHARSET to UTF-8, appended to OUT;
 * bytes that do not convert become U+FFFD; false (OUT untouched) if the
 * charset is unknown */
bool message_charset_to_utf8(const char *charset, size_t charset_len, const char *in,
			     size_t len, struct buf *out);
/* message_utf8_append - IN[0..LEN) appended with each byte that does not
 * start a well-formed UTF-8 character replaced by U+FFFD */
void message_utf8_append(const char *in, size_t len, struct buf *out);

#endif
