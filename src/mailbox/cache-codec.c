/* mailbox/cache-codec - the petrel.cache codec (no I/O; cache.c reads and
 * writes the file).
 *
 * Layout, little-endian (docs/mailbox.md):
 *   header, 32 bytes:
 *     0  "PTRLCCH\0"   8  u32 version (3)  12 u32 UIDVALIDITY
 *     16 8 zero bytes  24 u64 checksum of bytes 0-23
 *   records, one after another, each:
 *     0  u64 checksum of bytes 16 .. the end of the record
 *     8  u64 checksum of bytes 16 .. the end of the ENVELOPE text
 *     16 u32 UID       20 u32 length of the header section
 *     24 u64 size of the message file (the index's)
 *     32 u32 length of the ENVELOPE text (0: none yet)   36 4 zero bytes
 *     40 the ENVELOPE text (imap/format.c's, without UTF8=ACCEPT)
 *     then the message's header section (up to and including its empty line)
 * The second checksum lets FETCH ENVELOPE read and check the head and the
 * ENVELOPE alone.  Versions 1 (24-byte heads, no ENVELOPE) and 2 (the
 * ENVELOPE after the header section, one checksum) are not read: their
 * file starts anew.
 * Checksums are SipHash-2-4 under a fixed key: they find torn and damaged
 * records, they are no signature.  (The fuzz target's build,
 * FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION, skips their comparison so that
 * mutated inputs reach the checks after it.)
 */
#include "mailbox/mailbox.h"

#include <string.h>

#include "util/buf.h"
#include "util/le.h"
#include "util/siphash.h"

#define CACHE_CHECKSUM_AT 24
static const char cache_magic[8] = "PTRLCCH";
static const unsigned char cache_key[SIPHASH_KEY_LEN] = "petrel.cache.v3";
#define RECORD_FIELDS_AT 16

/* checksum_matches - SUM is the checksum of DATA[0..LEN) */
static bool checksum_matches(const unsigned char *data, size_t len, uint64_t sum)
{
	bool ok = siphash24(cache_key, data, len) == sum;
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
	ok = true;
#endif
	return ok;
}

int mailbox_cache_header_parse(const void *data, size_t len, uint32_t *uidvalidity_r)
{
	const unsigned char *p = data;
	if (len < MAILBOX_CACHE_HEADER_SIZE || memcmp(p, cache_magic, 8) != 0 ||
	    le32_get(p + 8) != MAILBOX_CACHE_VERSION || le64_get(p + 16) != 0 ||
	    !checksum_matches(p, CACHE_CHECKSUM_AT, le64_get(p + CACHE_CHECKSUM_AT)))
		return -1;
	*uidvalidity_r = le32_get(p + 12);
	return *uidvalidity_r != 0 ? 0 : -1;
}

void mailbox_cache_header_encode(uint32_t uidvalidity, struct buf *out)
{
	unsigned char head[MAILBOX_CACHE_HEADER_SIZE] = { 0 };
	memcpy(head, cache_magic, 8);
	le32_put(head + 8, MAILBOX_CACHE_VERSION);
	le32_put(head + 12, uidvalidity);
	le64_put(head + CACHE_CHECKSUM_AT, siphash24(cache_key, head, CACHE_CHECKSUM_AT));
	buf_append(out, head, sizeof(head));
}

int mailbox_cache_head_parse(const void *data, size_t len, struct mailbox_cache_entry *entry_r)
{
	const unsigned char *p = data;
	if (len < MAILBOX_CACHE_RECORD_HEADER)
		return 0;
	uint32_t uid = le32_get(p + 16), hlen = le32_get(p + 20), elen = le32_get(p + 32);
	if (uid == 0 || hlen == 0 || hlen > MAILBOX_CACHE_ENTRY_MAX ||
	    elen > MAILBOX_CACHE_ENVELOPE_MAX || le32_get(p + 36) != 0)
		return -1;
	*entry_r = (struct mailbox_cache_entry){ .uid = uid, .len = hlen, .envelope_len = elen,
						 .size = le64_get(p + 24) };
	return 1;
}

int mailbox_cache_envelope_parse(const void *data, size_t len, struct mailbox_cache_entry *entry_r)
{
	const unsigned char *p = data;
	struct mailbox_cache_entry entry;
	int r = mailbox_cache_head_parse(data, len, &entry);
	if (r != 1)
		return r;
	if (len - MAILBOX_CACHE_RECORD_HEADER < entry.envelope_len)
		return 0;
	if (!checksum_matches(p + RECORD_FIELDS_AT,
			      MAILBOX_CACHE_RECORD_HEADER - RECORD_FIELDS_AT + (size_t)entry.envelope_len,
			      le64_get(p + 8)))
		return -1;
	*entry_r = entry;
	return 1;
}

int mailbox_cache_record_parse(const void *data, size_t len, struct mailbox_cache_entry *entry_r)
{
	const unsigned char *p = data;
	struct mailbox_cache_entry entry;
	int r = mailbox_cache_envelope_parse(data, len, &entry);
	if (r != 1)
		return r;
	size_t body = (size_t)entry.len + entry.envelope_len;
	if (len - MAILBOX_CACHE_RECORD_HEADER < body)
		return 0;
	if (!checksum_matches(p + RECORD_FIELDS_AT,
			      MAILBOX_CACHE_RECORD_HEADER - RECORD_FIELDS_AT + body, le64_get(p)))
		return -1;
	*entry_r = entry;
	return 1;
}

void mailbox_cache_record_encode(uint32_t uid, uint64_t size, const char *header, size_t len,
				 const char *envelope, size_t envelope_len, struct buf *out)
{
	size_t start = out->len;
	unsigned char head[MAILBOX_CACHE_RECORD_HEADER] = { 0 };
	le32_put(head + 16, uid);
	le32_put(head + 20, (uint32_t)len);
	le64_put(head + 24, size);
	le32_put(head + 32, (uint32_t)envelope_len);
	buf_append(out, head, sizeof(head));
	if (envelope_len > 0)
		buf_append(out, envelope, envelope_len);
	buf_append(out, header, len);
	unsigned char *fields = (unsigned char *)out->data + start + RECORD_FIELDS_AT;
	size_t head_rest = MAILBOX_CACHE_RECORD_HEADER - RECORD_FIELDS_AT;
	le64_put(fields - 8, siphash24(cache_key, fields, head_rest + envelope_len));
	le64_put(fields - 16, siphash24(cache_key, fields, head_rest + envelope_len + len));
}

size_t mailbox_header_length(const char *data, size_t len, bool *complete_r)
{
	*complete_r = true;
	if (len >= 1 && data[0] == '\n')
		return 1;
	if (len >= 2 && data[0] == '\r' && data[1] == '\n')
		return 2;
	for (const char *p = data; (p = memchr(p, '\n', len - (size_t)(p - data))) != NULL;) {
		size_t at = (size_t)(p - data) + 1;
		if (at < len && data[at] == '\n')
			return at + 1;
		if (at + 1 < len && data[at] == '\r' && data[at + 1] == '\n')
			return at + 2;
		p++;
	}
	*complete_r = false;
	return len;
}
