/* fuzz/fuzz-mailbox-cache - the petrel.cache reader (src/mailbox/
 * cache-codec.c), walked as cache.c's load walks the file: any bytes are
 * refused or decoded without reading past them; a record that decodes
 * (its header section and ENVELOPE text) encodes again to the same bytes, and the header-section scanner stays
 * within its input.  Checksums would stop every mutated input early, so
 * this target is built with FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION, which
 * skips their comparison (the unit test, tests/unit/mailbox/test-cache.c,
 * covers it). */
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
	bool complete;
	size_t hlen = mailbox_header_length((const char *)copy, size, &complete);
	assert(hlen <= size && (complete || hlen == size));
	uint32_t uidvalidity = 0;
	size_t at = MAILBOX_CACHE_HEADER_SIZE;
	if (mailbox_cache_header_parse(copy, size, &uidvalidity) != 0) {
		free(copy);
		return 0;
	}
	assert(uidvalidity != 0);
	struct mailbox_cache_entry entry;
	while (mailbox_cache_record_parse(copy + at, size - at, &entry) == 1) {
		size_t len = MAILBOX_CACHE_RECORD_HEADER + entry.len + entry.envelope_len;
		assert(entry.uid != 0 && entry.len > 0 && entry.len <= MAILBOX_CACHE_ENTRY_MAX);
		assert(entry.envelope_len <= MAILBOX_CACHE_ENVELOPE_MAX);
		assert(len <= size - at);
		const char *envelope = (const char *)copy + at + MAILBOX_CACHE_RECORD_HEADER;
		struct mailbox_cache_entry head;
		assert(mailbox_cache_envelope_parse(copy + at, size - at, &head) == 1);
		assert(head.uid == entry.uid && head.len == entry.len &&
		       head.envelope_len == entry.envelope_len && head.size == entry.size);
		struct buf again;
		buf_init(&again);
		mailbox_cache_record_encode(entry.uid, entry.size, envelope + entry.envelope_len,
					    entry.len, envelope, entry.envelope_len, &again);
		assert(again.len == len);
		/* the checksums differ where the fuzzer's build let wrong ones by */
		assert(memcmp(again.data + 16, copy + at + 16, len - 16) == 0);
		buf_free(&again);
		at += len;
	}
	free(copy);
	return 0;
}
