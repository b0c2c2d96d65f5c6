/* fuzz/fuzz-headers - message_headers_parse, find, count, unfold.
 * Invariants: fields lie inside the input, one after another from offset 0;
 * the body starts after them (unless truncated) and at or before the end;
 * each field's value lies inside it; find and count agree; unfolded values
 * are no longer than the raw ones and have no line ends before WSP. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-input.h"
#include "message/message.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in = fuzz_input_copy(data, size);
	struct message_headers h;
	size_t next = 0;

	message_headers_parse(in, size, &h);
	assert(h.body_offset <= size);
	assert(h.count <= MESSAGE_HEADER_MAX);
	assert(!h.truncated || h.count == MESSAGE_HEADER_MAX);
	for (size_t i = 0; i < h.count; i++) {
		const struct message_header *f = &h.fields[i];
		assert(f->offset == next);
		assert(f->length > 0 && f->offset + f->length <= size);
		assert(f->name == in + f->offset && f->name_len > 0);
		for (size_t k = 0; k < f->name_len; k++)
			assert(f->name[k] > 32 && f->name[k] < 127 && f->name[k] != ':');
		assert(f->value > f->name + f->name_len && f->value[-1] == ':');
		assert(f->value + f->value_len <= in + f->offset + f->length);
		next += f->length;

		char *u = message_header_unfold(f);
		size_t ulen = strlen(u);
		assert(ulen <= f->value_len);
		/* a NUL in the value ends the C string early: nothing to trim there */
		if (ulen > 0 && memchr(f->value, '\0', f->value_len) == NULL) {
			assert(u[0] != ' ' && u[0] != '\t');
			assert(u[ulen - 1] != ' ' && u[ulen - 1] != '\t');
		}
		free(u);
	}
	if (!h.truncated) {
		assert(h.body_offset >= next);
		if (!h.malformed && h.body_offset < size)
			assert(h.body_offset > 0 && in[h.body_offset - 1] == '\n');
	}
	if (h.malformed)
		assert(h.body_offset < size);
	if (h.count > 0) {
		/* find and count agree for the first field's name */
		char *name = malloc(h.fields[0].name_len + 1);
		assert(name != NULL);
		memcpy(name, h.fields[0].name, h.fields[0].name_len);
		name[h.fields[0].name_len] = '\0';
		size_t n = message_header_count(&h, name);
		assert(n >= 1);
		assert(message_header_find(&h, name, 0) == &h.fields[0]);
		assert(message_header_find(&h, name, n - 1) != NULL);
		assert(message_header_find(&h, name, n) == NULL);
		free(name);
	}
	message_headers_free(&h);
	free(in);
	return 0;
}
