/* fuzz/fuzz-suppression - the suppression endpoints' path and JSON body
 * (src/http/suppression-parse.c) and the query of a GET on arbitrary
 * input.  The first octet picks the parser (0x18: the query) (and for a body whether delete_all and reason are
 * taken); the rest is the input.  A path accepted has a list name of a-z
 * and '_' and an email without control characters or '/'; a body accepted
 * is delete_all or one or more addresses of at most 254 octets. */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-input.h"
#include "http/suppression.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_one(uint8_t selector, const char *in, size_t len)
{
	const char *error = NULL;
	if ((selector & 0x18) == 0x18) {
		struct http_suppression_query q;
		if (http_suppression_query_parse(in, len, &q, &error) == 0)
			assert(q.start_time < 1000000000000000ull && q.end_time < 1000000000000000ull &&
			       q.limit < 1000000000000000ull && q.offset < 1000000000000000ull);
		else
			assert(error != NULL);
		return;
	}
	if (selector & 1) {
		char *list = NULL, *email = NULL;
		if (http_suppression_path_parse(in, len, &list, &email, &error) == 0) {
			assert(list[0] != '\0' && strspn(list, "abcdefghijklmnopqrstuvwxyz_") ==
			       strlen(list));
			assert(!email || (email[0] != '\0' && strlen(email) <= 254 &&
					  !strchr(email, '/')));
			for (const char *p = email; p && *p; p++)
				assert((unsigned char)*p >= 0x20 && *p != 0x7f);
		} else {
			assert(!list && !email && error);
		}
		free(list);
		free(email);
		return;
	}
	struct http_suppression_body b;
	if (http_suppression_body_parse(in, len, selector & 2, selector & 4, &b, &error) == 0) {
		assert(b.delete_all ? b.count == 0 : b.count > 0);
		for (size_t i = 0; i < b.count; i++)
			assert(b.emails[i][0] != '\0' && strlen(b.emails[i]) <= 254);
		assert(!b.reason || (selector & 4));
		http_suppression_body_clear(&b);
	} else {
		assert(error && b.count == 0 && !b.emails && !b.reason);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_input_selected(data, size, fuzz_one);
}
