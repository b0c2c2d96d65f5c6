/* fuzz/fuzz-mailbox-index - the petrel.index reader (src/mailbox/index.c):
 * any bytes are refused or decoded without reading past them; what decodes
 * encodes again into an index that decodes to the same records (names,
 * UIDs ascending below UIDNEXT, MODSEQs at most HIGHESTMODSEQ).  The
 * checksum would stop every mutated input early, so this target is built
 * with FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION, which skips that one
 * comparison (the unit test covers it). */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-input.h"
#include "mailbox/mailbox.h"
#include "util/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *copy = fuzz_input_copy(data, size);
	struct mailbox_index index, again;
	const char *error = NULL;
	if (mailbox_index_parse(copy, size, &index, &error) == 0) {
		struct buf out;
		buf_init(&out);
		mailbox_index_encode(&index, &out);
		assert(mailbox_index_parse(out.data, out.len, &again, &error) == 0);
		assert(again.count == index.count && again.uidnext == index.uidnext &&
		       again.uidvalidity == index.uidvalidity &&
		       again.highestmodseq == index.highestmodseq);
		for (size_t i = 0; i < index.count; i++) {
			assert(index.records[i].uid < index.uidnext);
			assert(index.records[i].modseq <= index.highestmodseq);
			assert(i == 0 || index.records[i].uid > index.records[i - 1].uid);
			assert(strchr(index.records[i].name, '/') == NULL);
			assert(again.records[i].uid == index.records[i].uid);
			assert(strcmp(again.records[i].name, index.records[i].name) == 0);
		}
		mailbox_index_free(&again);
		mailbox_index_free(&index);
		buf_free(&out);
	} else {
		assert(error != NULL);
	}
	free(copy);
	return 0;
}
