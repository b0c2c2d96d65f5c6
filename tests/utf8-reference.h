/* tests/utf8-reference - a UTF-8 decoder written the other way round from
 * util/utf8 (decode by the bit patterns, then judge the code point: refuse
 * overlongs, surrogates and code points above U+10FFFF), for the unit test
 * (tests/unit/util/test-utf8.c) and the fuzz target (fuzz/fuzz-utf8.c) to
 * check util/utf8 against.  Header only: both include it by relative path. */
#ifndef PETREL_TESTS_UTF8_REFERENCE_H
#define PETREL_TESTS_UTF8_REFERENCE_H

#include <stddef.h>
#include <stdint.h>

/* utf8_reference_length - the length of the well-formed character at
 * P[0..LEN), or 0: what utf8_sequence_length must return */
static inline size_t utf8_reference_length(const unsigned char *p, size_t len)
{
	size_t n;
	uint32_t cp, min;

	if (len == 0)
		return 0;
	if (p[0] < 0x80)
		return 1;
	if ((p[0] & 0xe0) == 0xc0) {
		n = 2, cp = p[0] & 0x1fu, min = 0x80;
	} else if ((p[0] & 0xf0) == 0xe0) {
		n = 3, cp = p[0] & 0x0fu, min = 0x800;
	} else if ((p[0] & 0xf8) == 0xf0) {
		n = 4, cp = p[0] & 0x07u, min = 0x10000;
	} else {
		return 0;
	}
	if (len < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3fu);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

#endif
