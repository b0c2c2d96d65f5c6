/* mailbox/cache - petrel.cache, each folder's cache of its messages' header
 * sections, so that FETCH ENVELOPE and SEARCH by header (and SENT*) read
 * one file the folder keeps open instead of opening every message; beside
 * each, once a FETCH built it, the message's ENVELOPE text, so that the
 * next FETCH ENVELOPE does not parse the header section again, and reads
 * and checks only the record's head and ENVELOPE (a checksum of their own).
 *
 * The file (cache-codec.c) is a header and records appended in the order
 * messages were first read; in memory, a table from UID to the record's
 * place (slots in UID order, 16 bytes each).  A record is used only when
 * its head, read back, names the UID and the size the index has now;
 * anything else is a miss: the message's file is read, and a new record
 * appended.  So a lost, torn, damaged or foreign
 * petrel.cache costs reads, never a wrong answer:
 *   - the file is read at the first lookup; a header that is not ours or of
 *     another UIDVALIDITY starts the file anew, and the records are read up
 *     to the first that is torn or damaged (checksums), where the file is
 *     cut.  Records are checked then, once per load, not at each read: the
 *     file is ours, appended to and read back under the cache's lock.  A
 *     parked file (below) is loaded and checked again when its inode,
 *     size, mtime or ctime changed while it was closed; when its ctime is
 *     within PARK_RACY_NS of the park, a write since might not show in it
 *     (file times tick coarsely), so each record is checked again at its
 *     first use after the reopen;
 *   - reads go through a window of CACHE_WINDOW bytes of the file, so a
 *     FETCH or SEARCH over the folder, in record order, makes one pread for
 *     many records;
 *   - new records wait in memory (up to CACHE_PENDING_MAX bytes) and are
 *     written without fsync: a crash loses or tears the last ones;
 *   - records of expunged messages stay until the folder's last user closes
 *     it, when a file mostly made of them is written anew (beside, renamed
 *     over).  Each message has one live record, its header section and
 *     ENVELOPE text each of at most [mailbox] header_cache_max bytes: the
 *     file stays within four times that per message the folder held while
 *     it was open.
 * Called on workers (mailbox.c's mailbox_message_header); the cache's lock
 * is taken with no other held.
 */
#include "mailbox/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/fileio.h"
#include "util/log.h"
#include "util/xalloc.h"

#define CACHE_PENDING_MAX (256u * 1024u)   /* new records kept before a write */
#define CACHE_READ_CHUNK (1024u * 1024u)   /* bytes read at a time when loading */
#define CACHE_WINDOW (256u * 1024u)        /* bytes read at a time for lookups */
#define PARK_RACY_NS 1000000000LL          /* ctime this close to a park: not trusted */

/* what of a record has been checked since the file was loaded or reopened */
enum {
	SLOT_CHECKED_ENVELOPE = 1,   /* the head and ENVELOPE (second checksum) */
	SLOT_CHECKED_WHOLE = 2,      /* the whole record (both checksums) */
};

static _Atomic size_t header_cache_max = 65536;

/* where a record is: the message it holds and its offset in the file;
 * 16 bytes.  The table is an array of them in UID order (1.6 MB for a
 * 100,000-message folder, where a hash table at most half full took 6
 * MiB), and beside it up to TAIL_MAX slots of UIDs that came out of order
 * (below the array's last), in UID order too, merged into it when full:
 * a folder read backwards moves the array once every TAIL_MAX records */
#define SLOT_OFFSET_BITS 44
#define TAIL_MAX 1024
struct cache_slot {
	uint32_t uid;
	uint32_t len : 30;                  /* of the header section */
	uint32_t checked : 2;               /* SLOT_CHECKED_* */
	uint64_t offset : SLOT_OFFSET_BITS; /* of the record's head (16 TiB at most:
					     * records past it are not kept) */
	uint64_t envelope_len : 20;         /* of the ENVELOPE text after it */
};
_Static_assert(MAILBOX_CACHE_ENTRY_MAX < (1u << 30) && MAILBOX_CACHE_ENVELOPE_MAX < (1u << 20),
	       "a record's lengths fit its slot");
_Static_assert(sizeof(struct cache_slot) == 16, "a slot is 16 bytes");

/* slot_offset_fits - a record at AT can have a slot */
static bool slot_offset_fits(uint64_t at)
{
	return at < (UINT64_C(1) << SLOT_OFFSET_BITS);
}

struct header_cache {
	pthread_mutex_t lock;
	char *path;              /* petrel.cache as it was when opened */
	int fd;                  /* -1: off (failed) */
	bool loaded;
	bool parked;             /* file closed by header_cache_park, table kept */
	struct stat parked_st;   /* the file it closed */
	struct timespec parked_at;
	uint32_t uidvalidity;    /* of the records; 0 before the load */
	struct cache_slot *slots;   /* [0, used) in UID order */
	size_t cap, used;
	struct cache_slot *tail;    /* [0, tail_used) in UID order, of UIDs not in
				     * slots (TAIL_MAX of them, made at the first) */
	size_t tail_used;
	uint64_t slot_bytes;     /* the records of the used slots, in the file */
	/* the last park's count of the live records: at the folder's
	 * REMOVALS (header_cache_park), SLOT_BYTES less DEAD_BYTES */
	bool scanned;
	uint64_t scanned_removals, dead_bytes;
	uint64_t end;            /* the file's bytes: pending records go here */
	struct buf pending;
	char *window;            /* the file's bytes from window_at (records read) */
	size_t window_len, window_cap;
	uint64_t window_at;
	uint64_t hits, misses;
};

static void cache_load(struct header_cache *cache, uint32_t uidvalidity);
static void cache_restart(struct header_cache *cache, uint32_t uidvalidity);
static void cache_off(struct header_cache *cache, const char *what);
static void window_drop(struct header_cache *cache);
static bool same_file(const struct stat *a, const struct stat *b);
static bool changed_near_park(const struct header_cache *cache);
static bool cache_flush(struct header_cache *cache);
static struct cache_slot *slot_find(struct header_cache *cache, uint32_t uid);
static size_t slot_count(const struct header_cache *cache);
static struct cache_slot *slot_nth(struct header_cache *cache, size_t i);
static size_t slot_record_length(const struct cache_slot *slot);
static void slot_set(struct header_cache *cache, const struct cache_slot *slot);
static void cache_compact(struct header_cache *cache, const char *folder_path,
			  header_cache_live_fn *live, void *arg);

void mailbox_header_cache_max_set(size_t bytes)
{
	header_cache_max = bytes < MAILBOX_CACHE_ENTRY_MAX ? bytes : MAILBOX_CACHE_ENTRY_MAX;
}

struct header_cache *header_cache_open(const char *folder_path)
{
	if (header_cache_max == 0)
		return NULL;
	struct header_cache *cache = xcalloc(1, sizeof(*cache));
	pthread_mutex_init(&cache->lock, NULL);
	cache->path = xasprintf("%s/%s", folder_path, MAILBOX_CACHE_FILE);
	cache->fd = -1;
	buf_init(&cache->pending);
	return cache;
}

/* slots_search - the slot of UID among SLOTS[0..N) (in UID order), or
 * NULL and where it would go in *AT_R */
static struct cache_slot *slots_search(struct cache_slot *slots, size_t n, uint32_t uid,
				       size_t *at_r)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (slots[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	*at_r = lo;
	return lo < n && slots[lo].uid == uid ? &slots[lo] : NULL;
}

/* slot_find - the slot of UID, or NULL */
static struct cache_slot *slot_find(struct header_cache *cache, uint32_t uid)
{
	size_t at;
	struct cache_slot *s = slots_search(cache->slots, cache->used, uid, &at);
	return s != NULL ? s : slots_search(cache->tail, cache->tail_used, uid, &at);
}

/* slot_count - the slots in the table */
static size_t slot_count(const struct header_cache *cache)
{
	return cache->used + cache->tail_used;
}

/* slot_nth - the table's slot I (below slot_count), in no useful order */
static struct cache_slot *slot_nth(struct header_cache *cache, size_t i)
{
	return i < cache->used ? &cache->slots[i] : &cache->tail[i - cache->used];
}

/* slot_record_length - the bytes of SLOT's record in the file */
static size_t slot_record_length(const struct cache_slot *slot)
{
	return MAILBOX_CACHE_RECORD_HEADER + (size_t)slot->len + slot->envelope_len;
}

/* slots_room - the array has room for N slots (grown by half) */
static void slots_room(struct header_cache *cache, size_t n)
{
	if (n <= cache->cap)
		return;
	size_t cap = cache->cap < 1024 ? 1024 : cache->cap + cache->cap / 2;
	if (cap < n)
		cap = n;
	cache->slots = xrealloc(cache->slots, cap * sizeof(*cache->slots));
	cache->cap = cap;
}

/* tail_merge - the tail's slots into the array, both in UID order, merged
 * from the end */
static void tail_merge(struct header_cache *cache)
{
	slots_room(cache, cache->used + cache->tail_used);
	size_t i = cache->used, j = cache->tail_used, k = cache->used + cache->tail_used;
	while (j > 0) {
		if (i > 0 && cache->slots[i - 1].uid > cache->tail[j - 1].uid)
			cache->slots[--k] = cache->slots[--i];
		else
			cache->slots[--k] = cache->tail[--j];
	}
	cache->used += cache->tail_used;
	cache->tail_used = 0;
}

/* slot_set - SLOT in the table, replacing its UID's */
static void slot_set(struct header_cache *cache, const struct cache_slot *slot)
{
	struct cache_slot *s = slot_find(cache, slot->uid);
	if (s != NULL) {
		/* the same UID is the same message (an ENVELOPE added, or a
		 * record of another size when its file changed): as live as
		 * before */
		cache->slot_bytes -= slot_record_length(s);
	} else if (cache->used == 0 || slot->uid > cache->slots[cache->used - 1].uid) {
		slots_room(cache, cache->used + 1);
		s = &cache->slots[cache->used++];
	} else {
		if (cache->tail == NULL)
			cache->tail = xcalloc(TAIL_MAX, sizeof(*cache->tail));
		if (cache->tail_used == TAIL_MAX)
			tail_merge(cache);
		size_t at;
		(void)slots_search(cache->tail, cache->tail_used, slot->uid, &at);
		memmove(&cache->tail[at + 1], &cache->tail[at],
			(cache->tail_used - at) * sizeof(*cache->tail));
		cache->tail_used++;
		s = &cache->tail[at];
	}
	*s = *slot;
	cache->slot_bytes += slot_record_length(s);
}

/* slots_clear - (lock held) the table emptied */
static void slots_clear(struct header_cache *cache)
{
	cache->used = 0;
	cache->tail_used = 0;
	cache->slot_bytes = 0;
	cache->scanned = false;
}

/* window_drop - (lock held) forget the bytes read ahead: the file is cut
 * or started anew, and what follows may differ */
static void window_drop(struct header_cache *cache)
{
	free(cache->window);
	cache->window = NULL;
	cache->window_len = cache->window_cap = 0;
	cache->window_at = 0;
}

/* cache_off - stop using the file for this open (a disk error) */
static void cache_off(struct header_cache *cache, const char *what)
{
	log_warn("mailbox-cache-failed", "path=%s what=%s error=\"%s\"", cache->path, what,
		 strerror(errno));
	if (cache->fd >= 0)
		close(cache->fd);
	cache->fd = -1;
	slots_clear(cache);
	window_drop(cache);
	buf_reset(&cache->pending);
}

/* cache_restart - an empty file for UIDVALIDITY */
static void cache_restart(struct header_cache *cache, uint32_t uidvalidity)
{
	slots_clear(cache);
	buf_reset(&cache->pending);
	window_drop(cache);
	cache->uidvalidity = uidvalidity;
	if (ftruncate(cache->fd, 0) != 0) {
		cache_off(cache, "truncate");
		return;
	}
	cache->end = 0;
	mailbox_cache_header_encode(uidvalidity, &cache->pending);
}

/* same_file - A and B are one file, unchanged: device, inode, size,
 * mtime and ctime (a write or truncate in place changes the last two) */
static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* changed_near_park - the parked file's ctime is not at least
 * PARK_RACY_NS before the park: a write after the park, within the
 * same tick of the file clock, could have left its times as they were */
static bool changed_near_park(const struct header_cache *cache)
{
	const struct timespec *c = &cache->parked_st.st_ctim, *p = &cache->parked_at;
	long long ns = ((long long)p->tv_sec - (long long)c->tv_sec) * 1000000000LL +
		       (p->tv_nsec - c->tv_nsec);
	return ns < PARK_RACY_NS;
}

/* cache_unpark - (lock held) the parked file opened again; read and
 * checked anew (cache_load) when it is not the one parked, as it was */
static void cache_unpark(struct header_cache *cache)
{
	cache->parked = false;
	struct stat st;
	cache->fd = open(cache->path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (cache->fd >= 0 && fstat(cache->fd, &st) == 0 && same_file(&st, &cache->parked_st) &&
	    (uint64_t)st.st_size == cache->end) {
		if (changed_near_park(cache))
			for (size_t i = 0; i < slot_count(cache); i++)
				slot_nth(cache, i)->checked = 0;
		return;
	}
	if (cache->fd >= 0)
		close(cache->fd);
	cache->fd = -1;
	slots_clear(cache);
	window_drop(cache);
	cache->loaded = false;
}

/* cache_load - (lock held) the file's records into the table; a file of
 * another UIDVALIDITY, or not ours, starts again; a torn or damaged record
 * ends it */
static void cache_load(struct header_cache *cache, uint32_t uidvalidity)
{
	cache->loaded = true;
	window_drop(cache);
	cache->fd = open(cache->path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (cache->fd < 0) {
		cache_off(cache, "open");
		return;
	}
	char *data = xmalloc(CACHE_READ_CHUNK + MAILBOX_CACHE_RECORD_MAX);
	uint32_t file_uidvalidity = 0;
	ssize_t n = fd_pread_full(cache->fd, data, MAILBOX_CACHE_HEADER_SIZE, 0);
	if (n != MAILBOX_CACHE_HEADER_SIZE ||
	    mailbox_cache_header_parse(data, (size_t)n, &file_uidvalidity) != 0 ||
	    file_uidvalidity != uidvalidity) {
		cache_restart(cache, uidvalidity);
		goto out;
	}
	cache->uidvalidity = uidvalidity;
	/* DATA[pos..have) holds the file from offset AT */
	uint64_t at = MAILBOX_CACHE_HEADER_SIZE;
	size_t pos = 0, have = 0;
	bool eof = false;
	for (;;) {
		struct mailbox_cache_entry entry;
		int r = mailbox_cache_record_parse(data + pos, have - pos, &entry);
		if (r == 1 && !slot_offset_fits(at))
			break;   /* the rest is cut as if torn */
		if (r == 1) {
			size_t len = MAILBOX_CACHE_RECORD_HEADER + entry.len + entry.envelope_len;
			slot_set(cache, &(struct cache_slot){
						.uid = entry.uid, .len = entry.len,
						.envelope_len = entry.envelope_len,
						.checked = SLOT_CHECKED_ENVELOPE | SLOT_CHECKED_WHOLE,
						.offset = at });
			pos += len;
			at += len;
			continue;
		}
		if (r < 0 || eof)
			break;
		/* the record's start to the front, then more of the file */
		memmove(data, data + pos, have - pos);
		have -= pos;
		pos = 0;
		n = fd_pread_full(cache->fd, data + have, CACHE_READ_CHUNK, (off_t)(at + have));
		if (n < 0) {
			cache_off(cache, "read");
			goto out;
		}
		eof = (size_t)n < CACHE_READ_CHUNK;
		have += (size_t)n;
	}
	/* a torn or damaged tail: cut, so that new records follow good ones */
	cache->end = at;
	if (have > pos && ftruncate(cache->fd, (off_t)at) != 0)
		cache_off(cache, "truncate");
out:
	free(data);
}

/* record_copy - the header section (OUT not NULL) and ENVELOPE text
 * (ENVELOPE not NULL) of the record at RECORD to OUT and ENVELOPE */
static void record_copy(const char *record, const struct cache_slot *slot, struct buf *out,
			struct buf *envelope)
{
	const char *text = record + MAILBOX_CACHE_RECORD_HEADER;
	if (envelope != NULL && slot->envelope_len > 0)
		buf_append(envelope, text, slot->envelope_len);
	if (out != NULL)
		buf_append(out, text + slot->envelope_len, slot->len);
}

/* window_get - (lock held) the file's LEN bytes at OFFSET (all in the
 * file, before cache->end), from the window, read again from OFFSET on
 * (CACHE_WINDOW bytes, or LEN if more) when it does not hold them; NULL
 * on a read error or a short file */
static const char *window_get(struct header_cache *cache, uint64_t offset, size_t len)
{
	if (cache->window_len > 0 && offset >= cache->window_at &&
	    offset + len <= cache->window_at + cache->window_len)
		return cache->window + (offset - cache->window_at);
	size_t want = len > CACHE_WINDOW ? len : CACHE_WINDOW;
	if (cache->end - offset < want)
		want = (size_t)(cache->end - offset);
	if (want > cache->window_cap) {
		free(cache->window);
		cache->window = xmalloc(want);
		cache->window_cap = want;
	}
	cache->window_len = 0;
	ssize_t n = fd_pread_full(cache->fd, cache->window, want, (off_t)offset);
	if (n < 0 || (size_t)n < len)
		return NULL;
	cache->window_len = (size_t)n;
	cache->window_at = offset;
	return cache->window;
}

/* record_parse - the record at RECORD[0..LEN), whole or (WHOLE false) its
 * head and ENVELOPE: its checksums checked unless SLOT says they were
 * since the load (SLOT updated), else its head's fields alone */
static int record_parse(struct cache_slot *slot, const char *record, size_t len, bool whole,
			struct mailbox_cache_entry *entry_r)
{
	uint8_t need = whole ? SLOT_CHECKED_WHOLE : SLOT_CHECKED_ENVELOPE;
	if (slot->checked & need)
		return mailbox_cache_head_parse(record, len, entry_r);
	int r = whole ? mailbox_cache_record_parse(record, len, entry_r)
		      : mailbox_cache_envelope_parse(record, len, entry_r);
	if (r == 1)
		slot->checked |= whole ? SLOT_CHECKED_ENVELOPE | SLOT_CHECKED_WHOLE
				       : SLOT_CHECKED_ENVELOPE;
	return r;
}

/* record_names - the head ENTRY read back names SLOT's UID and lengths,
 * and SIZE */
static bool record_names(const struct mailbox_cache_entry *entry, const struct cache_slot *slot,
			 uint64_t size)
{
	return entry->uid == slot->uid && entry->len == slot->len &&
	       entry->envelope_len == slot->envelope_len && entry->size == size;
}

/* record_read - (lock held) SLOT's record, whole or (WHOLE false) its head
 * and ENVELOPE only, from the file to the buffers record_copy fills, when
 * its head names SLOT's UID and lengths and SIZE (and its checksums match,
 * when not yet checked since the load: record_parse) */
static bool record_read(struct header_cache *cache, struct cache_slot *slot, uint64_t size,
			bool whole, struct buf *out, struct buf *envelope)
{
	size_t len = whole ? slot_record_length(slot)
			   : MAILBOX_CACHE_RECORD_HEADER + (size_t)slot->envelope_len;
	struct mailbox_cache_entry entry;
	const char *record = window_get(cache, slot->offset, len);
	bool ok = record != NULL && record_parse(slot, record, len, whole, &entry) == 1 &&
		  record_names(&entry, slot, size);
	if (ok)
		record_copy(record, slot, out, envelope);
	return ok;
}

bool header_cache_get(struct header_cache *cache, uint32_t uidvalidity, uint32_t uid,
		      uint64_t size, struct buf *out, struct buf *envelope)
{
	bool hit = false;
	pthread_mutex_lock(&cache->lock);
	if (cache->parked)
		cache_unpark(cache);
	if (!cache->loaded)
		cache_load(cache, uidvalidity);
	if (cache->fd >= 0 && cache->uidvalidity != uidvalidity)
		cache_restart(cache, uidvalidity);
	struct cache_slot *slot = slot_find(cache, uid);
	if (cache->fd < 0 || slot == NULL || (out == NULL && slot->envelope_len == 0))
		goto out;
	if (slot->offset >= cache->end) {
		/* still pending: ours, in memory, its head's fields alone */
		const char *record = cache->pending.data + (slot->offset - cache->end);
		struct mailbox_cache_entry entry;
		hit = mailbox_cache_head_parse(record, slot_record_length(slot), &entry) == 1 &&
		      record_names(&entry, slot, size);
		if (hit)
			record_copy(record, slot, out, envelope);
		goto out;
	}
	hit = record_read(cache, slot, size, out != NULL, out, envelope);
out:
	/* a miss is a message read from its file: not an ENVELOPE not kept */
	if (hit)
		cache->hits++;
	else if (out != NULL)
		cache->misses++;
	pthread_mutex_unlock(&cache->lock);
	return hit;
}

void header_cache_put(struct header_cache *cache, uint32_t uidvalidity, uint32_t uid,
		      uint64_t size, const char *header, size_t len, const char *envelope,
		      size_t envelope_len)
{
	if (len == 0 || len > header_cache_max || envelope_len > header_cache_max)
		return;
	pthread_mutex_lock(&cache->lock);
	if (cache->parked)
		cache_unpark(cache);
	if (!cache->loaded)
		cache_load(cache, uidvalidity);
	if (cache->fd >= 0 && cache->uidvalidity != uidvalidity)
		cache_restart(cache, uidvalidity);
	if (cache->fd >= 0 && slot_offset_fits(cache->end + cache->pending.len)) {
		/* the message's record just appended (its header section read
		 * from the file, its ENVELOPE built after): replaced in place */
		const struct cache_slot *old = slot_find(cache, uid);
		if (old != NULL && old->offset >= cache->end &&
		    old->offset + slot_record_length(old) == cache->end + cache->pending.len)
			cache->pending.len = (size_t)(old->offset - cache->end);
		uint64_t offset = cache->end + cache->pending.len;
		mailbox_cache_record_encode(uid, size, header, len, envelope, envelope_len,
					    &cache->pending);
		slot_set(cache, &(struct cache_slot){
					.uid = uid, .len = (uint32_t)len,
					.envelope_len = (uint32_t)envelope_len,
					.checked = SLOT_CHECKED_ENVELOPE | SLOT_CHECKED_WHOLE,
					.offset = offset });
		if (cache->pending.len >= CACHE_PENDING_MAX)
			(void)cache_flush(cache);
	}
	pthread_mutex_unlock(&cache->lock);
}

/* cache_flush - (lock held) the pending records written at the end */
static bool cache_flush(struct header_cache *cache)
{
	if (cache->fd < 0 || cache->pending.len == 0)
		return cache->fd >= 0;
	if (lseek(cache->fd, (off_t)cache->end, SEEK_SET) < 0 ||
	    fd_write_all(cache->fd, cache->pending.data, cache->pending.len) != 0) {
		cache_off(cache, "write");
		return false;
	}
	cache->end += cache->pending.len;
	buf_reset(&cache->pending);
	return true;
}

/* slot_offset_cmp - records in file order */
static int slot_offset_cmp(const void *a, const void *b)
{
	const struct cache_slot *x = a, *y = b;
	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* live_slots - (lock held) the slots of messages LIVE names into KEEP
 * (room for slot_count), their count; *BYTES_R the file they would make */
static size_t live_slots(struct header_cache *cache, header_cache_live_fn *live, void *arg,
			 struct cache_slot *keep, uint64_t *bytes_r)
{
	size_t count = 0;
	*bytes_r = MAILBOX_CACHE_HEADER_SIZE;
	for (size_t i = 0; i < slot_count(cache); i++) {
		const struct cache_slot *s = slot_nth(cache, i);
		if (live(arg, s->uid)) {
			if (keep != NULL)
				keep[count] = *s;
			count++;
			*bytes_r += slot_record_length(s);
		}
	}
	return count;
}

/* cache_compact - (lock held, pending written) the file anew with the
 * records of messages LIVE names, when they are less than half of it:
 * written beside, in file order, then renamed over */
static void cache_compact(struct header_cache *cache, const char *folder_path,
			  header_cache_live_fn *live, void *arg)
{
	size_t n = slot_count(cache);
	struct cache_slot *keep = xcalloc(n ? n : 1, sizeof(*keep));
	uint64_t live_bytes;
	size_t count = live_slots(cache, live, arg, keep, &live_bytes);
	if (live_bytes * 2 >= cache->end) {
		free(keep);
		return;
	}
	qsort(keep, count, sizeof(*keep), slot_offset_cmp);
	char *tmp = xasprintf("%s/%s.tmp", folder_path, MAILBOX_CACHE_FILE);
	char *path = xasprintf("%s/%s", folder_path, MAILBOX_CACHE_FILE);
	char *record = xmalloc(MAILBOX_CACHE_RECORD_MAX);
	struct buf out;
	buf_init(&out);
	mailbox_cache_header_encode(cache->uidvalidity, &out);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	bool ok = fd >= 0;
	for (size_t i = 0; i <= count && ok; i++) {
		if (out.len >= CACHE_PENDING_MAX || i == count) {
			ok = fd_write_all(fd, out.data, out.len) == 0;
			buf_reset(&out);
		}
		if (i == count || !ok)
			break;
		size_t len = slot_record_length(&keep[i]);
		ok = fd_pread_full(cache->fd, record, len, (off_t)keep[i].offset) == (ssize_t)len;
		buf_append(&out, record, len);
	}
	if (fd >= 0 && close(fd) != 0)
		ok = false;
	if (!ok || rename(tmp, path) != 0) {
		log_warn("mailbox-cache-failed", "path=%s what=compact error=\"%s\"", cache->path,
			 strerror(errno));
		(void)unlink(tmp);
	} else {
		log_debug("mailbox-cache-compacted", "path=%s records=%zu", cache->path, count);
	}
	buf_free(&out);
	free(record);
	free(path);
	free(tmp);
	free(keep);
}

/* live_bytes_known - (lock held) the file the live records would make, as
 * of the folder's REMOVALS: counted again (every slot asked of LIVE) only
 * when a message left the folder since the last count, or the table was
 * emptied or a slot replaced by one of another size since.  Slots added
 * since are of messages then in the folder, and a message that left since
 * then counts in REMOVALS.  A folder's close holds its lock while it
 * parks: with 100,000 records the count took 3 to 5 ms, and the next
 * SELECT waited for it */
static uint64_t live_bytes_known(struct header_cache *cache, header_cache_live_fn *live,
				 void *arg, uint64_t removals)
{
	if (!cache->scanned || cache->scanned_removals != removals) {
		uint64_t bytes;
		(void)live_slots(cache, live, arg, NULL, &bytes);
		cache->scanned = true;
		cache->scanned_removals = removals;
		cache->dead_bytes = MAILBOX_CACHE_HEADER_SIZE + cache->slot_bytes - bytes;
	}
	return MAILBOX_CACHE_HEADER_SIZE + cache->slot_bytes - cache->dead_bytes;
}

bool header_cache_park(struct header_cache *cache, header_cache_live_fn *live, void *arg,
		       uint64_t removals)
{
	if (cache == NULL)
		return false;
	pthread_mutex_lock(&cache->lock);
	struct stat st;
	uint64_t live_bytes = 0;
	if (!cache->parked && cache->loaded && cache->fd >= 0 && cache_flush(cache)) {
		live_bytes = live_bytes_known(cache, live, arg, removals);
		/* (the compaction's own test: its close does it) */
		if (live_bytes * 2 >= cache->end && fstat(cache->fd, &st) == 0) {
			/* what header_cache_close logs, for this use of the table */
			log_debug("mailbox-cache", "path=%s hits=%llu misses=%llu records=%zu",
				  cache->path, (unsigned long long)cache->hits,
				  (unsigned long long)cache->misses, slot_count(cache));
			cache->hits = cache->misses = 0;
			cache->parked_st = st;
			(void)clock_gettime(CLOCK_REALTIME, &cache->parked_at);
			close(cache->fd);
			cache->fd = -1;
			cache->parked = true;
			window_drop(cache);
		}
	}
	bool parked = cache->parked;
	pthread_mutex_unlock(&cache->lock);
	return parked;
}

size_t header_cache_bytes(const struct header_cache *cache)
{
	return cache == NULL ? 0 : sizeof(*cache) + strlen(cache->path) + 1 +
				   cache->cap * sizeof(*cache->slots) +
				   (cache->tail ? TAIL_MAX * sizeof(*cache->tail) : 0) + cache->pending.cap +
				   cache->window_cap;
}

void header_cache_close(struct header_cache **cache_p, const char *folder_path,
			header_cache_live_fn *live, void *arg)
{
	struct header_cache *cache = *cache_p;
	if (cache == NULL)
		return;
	*cache_p = NULL;
	pthread_mutex_lock(&cache->lock);
	if (cache->loaded) {
		log_debug("mailbox-cache", "path=%s hits=%llu misses=%llu records=%zu", cache->path,
			  (unsigned long long)cache->hits, (unsigned long long)cache->misses,
			  slot_count(cache));
		if (cache_flush(cache) && live != NULL)
			cache_compact(cache, folder_path, live, arg);
	}
	if (cache->fd >= 0)
		close(cache->fd);
	pthread_mutex_unlock(&cache->lock);
	pthread_mutex_destroy(&cache->lock);
	buf_free(&cache->pending);
	free(cache->window);
	free(cache->slots);
	free(cache->tail);
	free(cache->path);
	free(cache);
}

/* header_read - append the header section of the file FD to OUT (the
 * whole file when it has no empty line); 0, or -1 with errno */
static int header_read(int fd, struct buf *out)
{
	size_t start = out->len, len;
	char chunk[16384];
	bool complete = false;
	for (;;) {
		ssize_t n = fd_pread_full(fd, chunk, sizeof(chunk), (off_t)(out->len - start));
		if (n < 0)
			return -1;
		buf_append(out, chunk, (size_t)n);
		len = mailbox_header_length(out->data + start, out->len - start, &complete);
		if (complete || (size_t)n < sizeof(chunk))
			break;
	}
	out->len = start + len;
	if (out->data != NULL)
		out->data[out->len] = '\0';
	return 0;
}

int mailbox_message_header(struct mailbox_view *view, uint32_t uid, struct buf *out,
			   struct buf *envelope, struct mailbox_error *error_r)
{
	struct header_cache *cache = NULL;
	uint32_t uidvalidity;
	uint64_t size;
	if (mailbox_header_cache_of(view, uid, &cache, &uidvalidity, &size, error_r) != 0)
		return -1;
	if (cache != NULL && header_cache_get(cache, uidvalidity, uid, size, out, envelope))
		return 0;
	int fd;
	if (mailbox_message_open(view, uid, &fd, error_r) != 0)
		return -1;
	size_t start = out->len;
	int ret = header_read(fd, out);
	if (ret != 0)
		mailbox_error_sys(error_r, "cannot read the message");
	(void)close(fd);
	if (ret == 0 && cache != NULL)
		header_cache_put(cache, uidvalidity, uid, size, out->data + start, out->len - start,
				 NULL, 0);
	return ret;
}

int mailbox_message_envelope(struct mailbox_view *view, uint32_t uid, struct buf *envelope,
			     struct mailbox_error *error_r)
{
	struct header_cache *cache = NULL;
	uint32_t uidvalidity;
	uint64_t size;
	if (mailbox_header_cache_of(view, uid, &cache, &uidvalidity, &size, error_r) != 0)
		return -1;
	return cache != NULL && header_cache_get(cache, uidvalidity, uid, size, NULL, envelope);
}

void mailbox_message_envelope_put(struct mailbox_view *view, uint32_t uid, const char *header,
				  size_t len, const char *envelope, size_t envelope_len)
{
	struct header_cache *cache = NULL;
	uint32_t uidvalidity;
	uint64_t size;
	if (mailbox_header_cache_of(view, uid, &cache, &uidvalidity, &size, NULL) == 0 &&
	    cache != NULL)
		header_cache_put(cache, uidvalidity, uid, size, header, len, envelope, envelope_len);
}
