/* fuzz/fuzz-mailauth-tags - mailauth_tags_parse (RFC 6376 3.2) on any input:
 * nothing read past the input, every tag lies inside it with a well-formed
 * name and a trimmed value, no two names alike, and the list written back
 * as "name=value;" parses to the same tags. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-input.h"
#include "mailauth/mailauth.h"

#define MAX_TAGS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool is_wsp_or_break(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_input_copy(data, size);
	struct mailauth_tag tags[MAX_TAGS], again[MAX_TAGS];
	const char *error = NULL;
	int n = mailauth_tags_parse(text, size, tags, MAX_TAGS, &error);
	assert(n >= -1 && n <= MAX_TAGS);
	if (n < 0) {
		assert(error != NULL);
		free(text);
		return 0;
	}
	size_t out_len = 0;
	for (int i = 0; i < n; i++) {
		const struct mailauth_tag *t = &tags[i];
		assert(t->name >= text && t->name_len > 0 && t->name + t->name_len <= text + size);
		assert(t->value >= text && t->value + t->value_len <= text + size);
		assert((t->name[0] | 0x20) >= 'a' && (t->name[0] | 0x20) <= 'z');
		if (t->value_len > 0) {
			assert(!is_wsp_or_break(t->value[0]));
			assert(!is_wsp_or_break(t->value[t->value_len - 1]));
			assert(memchr(t->value, ';', t->value_len) == NULL);
		}
		for (int j = 0; j < i; j++)
			assert(tags[j].name_len != t->name_len ||
			       memcmp(tags[j].name, t->name, t->name_len) != 0);
		assert(mailauth_tags_find(tags, (size_t)n, "") == NULL);
		out_len += t->name_len + t->value_len + 2;
	}
	char *out = malloc(out_len ? out_len : 1), *p = out;
	assert(out != NULL);
	for (int i = 0; i < n; i++) {
		memcpy(p, tags[i].name, tags[i].name_len);
		p += tags[i].name_len;
		*p++ = '=';
		memcpy(p, tags[i].value, tags[i].value_len);
		p += tags[i].value_len;
		*p++ = ';';
	}
	assert(mailauth_tags_parse(out, out_len, again, MAX_TAGS, &error) == n);
	for (int i = 0; i < n; i++) {
		assert(again[i].name_len == tags[i].name_len &&
		       memcmp(again[i].name, tags[i].name, tags[i].name_len) == 0);
		assert(again[i].value_len == tags[i].value_len &&
		       memcmp(again[i].value, tags[i].value, tags[i].value_len) == 0);
	}
	free(out);
	free(text);
	return 0;
}
