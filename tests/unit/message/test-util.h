/* tests/unit/message/test-util - helpers shared by the message tests. */
#ifndef PETREL_TEST_MESSAGE_UTIL_H
#define PETREL_TEST_MESSAGE_UTIL_H

#include <stdlib.h>
#include <string.h>

/* test_dup_exact - copy LEN bytes into a block of exactly that size, so that
 * AddressSanitizer catches a parser reading one byte too far. */
static inline char *test_dup_exact(const char *s, size_t len)
{
	char *p = malloc(len ? len : 1);
	if (p == NULL)
		abort();
	if (len)
		memcpy(p, s, len);
	return p;
}

#endif
