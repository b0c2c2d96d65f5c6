/* fuzz/fuzz-proxy - the PROXY protocol header parser (src/net/proxy.c) fed
 * every prefix of the input: while it needs more, each longer prefix must
 * agree (no prefix is refused once a longer one was accepted, the result
 * never changes once decided), a complete header's length covers what it
 * read, and nothing is read past the input (ASan). */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-input.h"
#include "net/proxy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct net_proxy_header whole, part;
	const char *error = NULL;
	if (size > NET_PROXY_PEEK_MAX + 64)
		size = NET_PROXY_PEEK_MAX + 64;
	unsigned char *copy = fuzz_input_copy(data, size);
	int rc = net_proxy_parse(copy, size, &whole, &error);
	assert(rc >= -1 && rc <= 1);
	if (rc == 1) {
		assert(whole.version == 1 || whole.version == 2);
		assert(whole.length >= 15);
		assert(whole.version == 2 || whole.length <= NET_PROXY_V1_MAX);
		assert(!whole.has_source || whole.source.ss_family == AF_INET ||
		       whole.source.ss_family == AF_INET6);
	}
	if (rc == 0)
		assert(size < NET_PROXY_PEEK_MAX);
	int last = 0;
	for (size_t n = 0; n <= size; n++) {
		unsigned char *p = malloc(n ? n : 1);
		assert(p != NULL);
		memcpy(p, copy, n);
		int r = net_proxy_parse(p, n, &part, &error);
		free(p);
		/* once decided, a longer prefix decides the same way */
		assert(last == 0 || r == last);
		if (r == 1 && last == 0) {
			assert(rc == 1);
			assert(part.length == whole.length && part.has_source == whole.has_source);
			assert(memcmp(&part.source, &whole.source, sizeof(part.source)) == 0);
		}
		last = r;
	}
	assert(last == rc);
	free(copy);
	return 0;
}
