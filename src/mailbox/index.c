/* mailbox/index - the petrel.index codec (no I/O).
 *
 * Layout, little-endian (docs/mailbox.md):
 *   header, 64 bytes:
 *     0  "PTRLIDX\0"          8  u32 version        12 u32 uidvalidity
 *     16 u32 uidnext          20 u32 record count   24 u64 highestmodseq
 *     32 u32 name table size  36 u32 zero           40 u64 checksum
 *     48 i64 cur/'s settled mtime, seconds   56 u32 its nanoseconds
 *     60 4 zero bytes  (version 1: 48-63 zero)
 *   records, 48 bytes each, ascending UIDs:
 *     0 u32 uid  4 u32 flags  8 u64 modseq  16 u64 size  24 i64 internal date
 *     32 u64 keywords  40 u32 name offset  44 u32 name length
 *   the name table: the file names, one after another.
 * The checksum is SipHash-2-4 (a fixed key: it finds torn and damaged
 * files, it is no signature) of the whole file with its own 8 bytes zero.
 * (The fuzz target's build, FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION, skips
 * that comparison so that mutated inputs reach the checks below it.)
 * The parser trusts nothing: the size must match the counts exactly, and
 * every record must be consistent, or the caller rebuilds from the names.
 */
#include "mailbox/mailbox.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/le.h"
#include "util/siphash.h"
#include "util/xalloc.h"

#define INDEX_HEADER_SIZE 64
#define INDEX_RECORD_SIZE 48
#define INDEX_CHECKSUM_AT MAILBOX_INDEX_CHECKSUM_AT
static const char index_magic[8] = "PTRLIDX";
static const unsigned char index_key[SIPHASH_KEY_LEN] = "petrel.index.v1";

static uint64_t index_checksum(const unsigned char *data, size_t len);

/* index_checksum - SipHash of DATA (at least a header) with the checksum
 * field read as zero: in pieces, not on a copy (11 MB at 100,000 messages) */
static uint64_t index_checksum(const unsigned char *data, size_t len)
{
	static const unsigned char zero[8];
	struct siphash sip;
	siphash24_init(&sip, index_key);
	siphash24_update(&sip, data, INDEX_CHECKSUM_AT);
	siphash24_update(&sip, zero, sizeof(zero));
	siphash24_update(&sip, data + INDEX_CHECKSUM_AT + 8, len - INDEX_CHECKSUM_AT - 8);
	return siphash24_final(&sip);
}

int mailbox_index_parse(const void *data, size_t len, struct mailbox_index *index_r,
			const char **error_r)
{
	const unsigned char *p = data;
	struct mailbox_index index = { 0 };
	int ret = -1;

	if (len < INDEX_HEADER_SIZE || memcmp(p, index_magic, 8) != 0) {
		*error_r = "not an index (magic)";
		goto out;
	}
	uint32_t version = le32_get(p + 8);
	if (version != 1 && version != MAILBOX_INDEX_VERSION) {
		*error_r = "unknown index version";
		goto out;
	}
	uint32_t count = le32_get(p + 20), names_len = le32_get(p + 32);
	if (((uint64_t)count * INDEX_RECORD_SIZE + names_len + INDEX_HEADER_SIZE) != len) {
		*error_r = "index size does not match its counts (torn write?)";
		goto out;
	}
	bool zero = le32_get(p + 36) == 0;
	for (int i = version == 1 ? 48 : 60; i < INDEX_HEADER_SIZE; i++)
		zero = zero && p[i] == 0;
	if (!zero) {
		*error_r = "index header has non-zero reserved bytes";
		goto out;
	}
	if (le32_get(p + 56) >= 1000000000) {
		*error_r = "index with an invalid cur/ mtime";
		goto out;
	}
	bool sum_ok = index_checksum(p, len) == le64_get(p + INDEX_CHECKSUM_AT);
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
	/* the fuzzer's build: let mutated inputs reach the record checks */
	sum_ok = true;
#endif
	if (!sum_ok) {
		*error_r = "index checksum mismatch";
		goto out;
	}
	index.uidvalidity = le32_get(p + 12);
	index.uidnext = le32_get(p + 16);
	index.highestmodseq = le64_get(p + 24);
	index.cur_mtime_sec = (int64_t)le64_get(p + 48);
	index.cur_mtime_nsec = le32_get(p + 56);
	if (index.uidvalidity == 0 || index.uidnext == 0) {
		*error_r = "index with UIDVALIDITY or UIDNEXT 0";
		goto out;
	}
	index.records = xcalloc(count ? count : 1, sizeof(*index.records));
	const unsigned char *names = p + INDEX_HEADER_SIZE + (size_t)count * INDEX_RECORD_SIZE;
	uint32_t prev_uid = 0;
	for (uint32_t i = 0; i < count; i++) {
		const unsigned char *r = p + INDEX_HEADER_SIZE + (size_t)i * INDEX_RECORD_SIZE;
		struct mailbox_index_record *rec = &index.records[i];
		rec->uid = le32_get(r);
		rec->flags = le32_get(r + 4);
		rec->modseq = le64_get(r + 8);
		rec->size = le64_get(r + 16);
		rec->internal_date = (int64_t)le64_get(r + 24);
		rec->keywords = le64_get(r + 32);
		uint32_t off = le32_get(r + 40), nlen = le32_get(r + 44);
		if (rec->uid <= prev_uid || rec->uid >= index.uidnext ||
		    (rec->flags & ~MAILBOX_FLAGS_ALL) || rec->modseq > index.highestmodseq ||
		    nlen == 0 || off > names_len || nlen > names_len - off ||
		    memchr(names + off, '/', nlen) || memchr(names + off, '\0', nlen) ||
		    names[off] == '.') {
			*error_r = "inconsistent index record";
			index.count = i;
			goto out;
		}
		rec->name = xstrndup((const char *)names + off, nlen);
		prev_uid = rec->uid;
	}
	index.count = count;
	*index_r = index;
	ret = 0;
out:
	if (ret != 0)
		mailbox_index_free(&index);
	return ret;
}

/* record_of_array - mailbox_index_record_fn of an index's own records */
static void record_of_array(void *arg, size_t i, struct mailbox_index_record *rec_r)
{
	const struct mailbox_index *index = arg;
	*rec_r = index->records[i];
}

void mailbox_index_encoder_init(struct mailbox_index_encoder *enc,
				const struct mailbox_index *index,
				mailbox_index_record_fn *record, void *arg)
{
	*enc = (struct mailbox_index_encoder){ .index = *index, .record = record, .arg = arg };
	enc->index.records = NULL;
	for (size_t i = 0; i < index->count; i++) {
		struct mailbox_index_record rec;
		record(arg, i, &rec);
		enc->names_len += strlen(rec.name);
	}
	siphash24_init(&enc->sip, index_key);
}

/* encode_head - the header, its checksum zero */
static void encode_head(const struct mailbox_index_encoder *enc, struct buf *out)
{
	unsigned char head[INDEX_HEADER_SIZE] = { 0 };
	memcpy(head, index_magic, 8);
	le32_put(head + 8, MAILBOX_INDEX_VERSION);
	le32_put(head + 12, enc->index.uidvalidity);
	le32_put(head + 16, enc->index.uidnext);
	le32_put(head + 20, (uint32_t)enc->index.count);
	le64_put(head + 24, enc->index.highestmodseq);
	le32_put(head + 32, (uint32_t)enc->names_len);
	le64_put(head + 48, (uint64_t)enc->index.cur_mtime_sec);
	le32_put(head + 56, enc->index.cur_mtime_nsec);
	buf_append(out, head, sizeof(head));
}

bool mailbox_index_encoder_next(struct mailbox_index_encoder *enc, struct buf *out, size_t limit)
{
	size_t start = out->len, count = enc->index.count;
	if (enc->phase == 0) {
		encode_head(enc, out);
		enc->phase = 1;
	}
	for (; enc->phase == 1 && enc->next < count && out->len - start < limit; enc->next++) {
		struct mailbox_index_record rec;
		unsigned char r[INDEX_RECORD_SIZE];
		enc->record(enc->arg, enc->next, &rec);
		uint32_t nlen = (uint32_t)strlen(rec.name);
		le32_put(r, rec.uid);
		le32_put(r + 4, rec.flags);
		le64_put(r + 8, rec.modseq);
		le64_put(r + 16, rec.size);
		le64_put(r + 24, (uint64_t)rec.internal_date);
		le64_put(r + 32, rec.keywords);
		le32_put(r + 40, enc->name_off);
		le32_put(r + 44, nlen);
		enc->name_off += nlen;
		buf_append(out, r, sizeof(r));
	}
	if (enc->phase == 1 && enc->next == count) {
		enc->phase = 2;
		enc->next = 0;
	}
	for (; enc->phase == 2 && enc->next < count && out->len - start < limit; enc->next++) {
		struct mailbox_index_record rec;
		enc->record(enc->arg, enc->next, &rec);
		buf_append_str(out, rec.name);
	}
	siphash24_update(&enc->sip, out->data + start, out->len - start);
	if (enc->phase == 2 && enc->next == count)
		enc->phase = 3;
	return out->len > start;
}

uint64_t mailbox_index_encoder_checksum(struct mailbox_index_encoder *enc)
{
	return siphash24_final(&enc->sip);
}

void mailbox_index_encode(const struct mailbox_index *index, struct buf *out)
{
	struct mailbox_index_encoder enc;
	size_t start = out->len;
	mailbox_index_encoder_init(&enc, index, record_of_array, (void *)index);
	/* one allocation: doubling a 100,000-message index's 11 MB copied
	 * and faulted in twice as much */
	buf_reserve(out, INDEX_HEADER_SIZE + index->count * INDEX_RECORD_SIZE + enc.names_len);
	while (mailbox_index_encoder_next(&enc, out, SIZE_MAX))
		;
	le64_put((unsigned char *)out->data + start + INDEX_CHECKSUM_AT,
		 mailbox_index_encoder_checksum(&enc));
}

void mailbox_index_free(struct mailbox_index *index)
{
	for (size_t i = 0; i < index->count; i++)
		free(index->records[i].name);
	free(index->records);
	index->records = NULL;
	index->count = 0;
}
