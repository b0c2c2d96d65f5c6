/* fuzz-encoded-words - the header value decoders of src/message: RFC 2047
 * encoded words (charset.c) and Content-Type / Content-Disposition with
 * RFC 2231 parameters (content-type.c).  The first byte is the output bound.
 * Invariants: the decoded text is valid UTF-8 and at most the bound, and a
 * prefix of the text decoded without a bound (cut at a character); a parsed
 * type, subtype and parameter names are lower-case tokens, values valid
 * UTF-8 of the length they claim, no name twice, at most MESSAGE_PARAM_MAX. */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "message/message.h"
#include "util/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_token(const char *s)
{
	assert(s != NULL && *s != '\0');
	for (; *s; s++)
		assert(*s > ' ' && *s < 127 && !(*s >= 'A' && *s <= 'Z'));
}

static void check_params(const struct message_content_type *ct)
{
	assert(ct->param_count <= MESSAGE_PARAM_MAX);
	for (size_t i = 0; i < ct->param_count; i++) {
		check_token(ct->params[i].name);
		assert(strlen(ct->params[i].value) <= ct->params[i].value_len);
		assert(utf8_is_valid(ct->params[i].value, ct->params[i].value_len));
		for (size_t j = 0; j < i; j++)
			assert(strcmp(ct->params[i].name, ct->params[j].name) != 0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t max = data[0];
	const char *in = (const char *)data + 1;
	size_t len = size - 1;
	struct buf all, cut;

	buf_init(&all);
	buf_init(&cut);
	assert(!message_header_decode(in, len, SIZE_MAX, &all));
	assert(utf8_is_valid(all.data ? all.data : "", all.len));
	bool truncated = message_header_decode(in, len, max, &cut);
	assert(cut.len <= max && truncated == (all.len > max));
	assert(cut.len == 0 || memcmp(cut.data, all.data, cut.len) == 0);
	assert(utf8_is_valid(cut.data ? cut.data : "", cut.len));
	assert(!truncated || max - cut.len < 4);
	buf_free(&all);
	buf_free(&cut);

	struct message_content_type ct;
	message_content_type_parse(in, len, &ct);
	check_token(ct.type);
	check_token(ct.subtype);
	check_params(&ct);
	assert(!ct.defaulted || strcmp(message_param_get(&ct, "charset"), "us-ascii") == 0);
	message_content_type_free(&ct);
	if (message_disposition_parse(in, len, &ct)) {
		check_token(ct.type);
		assert(ct.subtype == NULL);
		check_params(&ct);
	}
	message_content_type_free(&ct);
	return 0;
}
