/* mailbox/internal - what mailbox.c (the registry, sync, views, changes)
 * and folders.c (the account's folders, quota) share.  Private to
 * src/mailbox/: everyone else includes mailbox.h only.
 *
 * Locks, always taken in this order: the registry's, then a mailbox's,
 * then an account's.  A watch list has its own lock, taken with no other.
 */
#ifndef PETREL_MAILBOX_INTERNAL_H
#define PETREL_MAILBOX_INTERNAL_H

#include "mailbox/mailbox.h"

/* the file that holds UIDVALIDITY and the UID and MODSEQ leases */
#define MAILBOX_UIDVALIDITY_FILE "petrel.uidvalidity"
#define MAILBOX_INDEX_FILE "petrel.index"
#define MAILBOX_KEYWORDS_FILE "petrel.keywords"
#define MAILBOX_SUBSCRIPTIONS_FILE "petrel.subscriptions"
#define MAILBOX_CACHE_FILE "petrel.cache"

/* mailbox_error_set - fill *ERROR_R (may be NULL) and return -1 */
int mailbox_error_set(struct mailbox_error *error_r, enum mailbox_error_code code,
		      const char *text, int sys_errno);
/* mailbox_error_sys - a disk error: TEMPORARY with errno */
int mailbox_error_sys(struct mailbox_error *error_r, const char *text);

/* mailbox_account_path - the account's INBOX Maildir for ADDRESS (or a
 * plain login's, local_account_mailbox_path), NULL when ADDRESS names no
 * safe folder (caller frees) */
char *mailbox_account_path(const char *data_dir, const char *address);

/* mailbox_open_path - open the folder whose Maildir is ACCOUNT_PATH +
 * DISK_NAME ("" for INBOX, created if missing; ".A.B") */
int mailbox_open_path(const char *account_path, const char *disk_name,
		      struct mailbox **mailbox_r, struct mailbox_error *error_r);

/* mailbox_registry_folder_deleted - the open folder at PATH (if any) is
 * gone: its views see it deleted; registry lock held */
void mailbox_registry_folder_deleted(const char *path);
/* mailbox_registry_folder_renamed - open folders at OLD_PATH and under
 * OLD_PATH + "." move to NEW_PATH (a registry key change); registry lock held */
void mailbox_registry_folder_renamed(const char *old_path, const char *new_path);
/* mailbox_registry_lock / _unlock - hold the registry across a delete or
 * rename on disk, so that no open of the folder interleaves */
void mailbox_registry_lock(void);
void mailbox_registry_unlock(void);

/* quota: an account's per-folder totals, kept by the registry */
struct mailbox_account;
struct mailbox_account *mailbox_account_get(const char *account_path);
/* mailbox_account_folder_get - FOLDER_PATH's totals if known (true) */
bool mailbox_account_folder_get(struct mailbox_account *account, const char *folder_path,
				uint64_t *bytes_r, uint64_t *messages_r);
void mailbox_account_folder_set(struct mailbox_account *account, const char *folder_path,
				uint64_t bytes, uint64_t messages);
void mailbox_account_folder_forget(struct mailbox_account *account, const char *folder_path);
/* mailbox_account_folder_add - BYTES and MESSAGES more in FOLDER_PATH, if
 * its totals are known (a delivery into a folder nobody has open) */
void mailbox_account_folder_add(struct mailbox_account *account, const char *folder_path,
				uint64_t bytes, uint64_t messages);

/* mailbox_quota_check_path - mailbox_quota_check for the account whose
 * INBOX Maildir is ACCOUNT_PATH (no folder lock may be held) */
int mailbox_quota_check_path(const char *account_path, uint64_t bytes, uint64_t messages,
			     struct mailbox_error *error_r);

/* mailbox_file_write - DIR/NAME holds DATA (written beside, renamed
 * over); DURABLE: the file and DIR fsync'ed too */
int mailbox_file_write(const char *dir, const char *name, const void *data, size_t len,
		       bool durable);
/* mailbox_file_read - the whole of PATH (at most 64 MiB), NUL-terminated */
int mailbox_file_read(const char *path, char **data_r, size_t *len_r);

/* ---- a folder's file names (name-arena.c) ----
 * One buffer of NUL-terminated names, each known by its offset.  Adding a
 * name may move the buffer: a pointer from name_arena_get is good until
 * the next add or compact. */
#define NAME_ARENA_MAX UINT32_MAX
struct name_arena {
	char *data;
	size_t len, cap;
	size_t dead;      /* bytes of names dropped */
};
void name_arena_init(struct name_arena *arena);
void name_arena_free(struct name_arena *arena);
/* name_arena_reserve - room for BYTES more without moving */
void name_arena_reserve(struct name_arena *arena, size_t bytes);
/* name_arena_add - a copy of NAME; its offset */
uint32_t name_arena_add(struct name_arena *arena, const char *name);
const char *name_arena_get(const struct name_arena *arena, uint32_t at);
/* name_arena_drop - the name at AT is no longer used */
void name_arena_drop(struct name_arena *arena, uint32_t at);
/* name_arena_recount - the dead bytes counted anew: all but the COUNT names
 * at NAMES (offsets STRIDE bytes apart), for an arena whose other names
 * were never dropped one by one (a folder's first listing) */
void name_arena_recount(struct name_arena *arena, const uint32_t *names, size_t count,
			size_t stride);
/* name_arena_fit - give back the room past the last name when it is over
 * an eighth of the names (after a load) */
void name_arena_fit(struct name_arena *arena);
/* name_arena_compact - when dropped names are half of ARENA or more (and
 * 4 KiB), copy the live ones, COUNT offsets at NAMES (one every STRIDE
 * bytes: a field of an array of structs), into a buffer of their size and
 * update the offsets (true); else nothing (false) */
bool name_arena_compact(struct name_arena *arena, uint32_t *names, size_t count, size_t stride);

/* ---- the header cache of a folder (cache.c), petrel.cache ----
 * One per struct mailbox, made at the first need under the mailbox's lock,
 * used without it (it has its own lock, taken with no other), closed when
 * the folder's last user closes it. */
struct header_cache;
/* mailbox_header_cache_of - (mailbox.c) VIEW's folder's cache (NULL when
 * off), UIDVALIDITY and the size the index has for message UID;
 * MAILBOX_ERROR_EXPUNGED if it is gone */
int mailbox_header_cache_of(struct mailbox_view *view, uint32_t uid,
			    struct header_cache **cache_r, uint32_t *uidvalidity_r,
			    uint64_t *size_r, struct mailbox_error *error_r);
/* header_cache_open - the cache of the Maildir FOLDER_PATH (the file is
 * read at the first lookup); NULL when the cache is off */
struct header_cache *header_cache_open(const char *folder_path);
/* header_cache_get - append message UID's header section to OUT, and its
 * ENVELOPE text, if it has one, to ENVELOPE (may be NULL), if the cache
 * holds it for UIDVALIDITY and a file of SIZE bytes (true).  OUT NULL:
 * the ENVELOPE alone (only its part of the record is read),
 * true only when the record has one */
bool header_cache_get(struct header_cache *cache, uint32_t uidvalidity, uint32_t uid,
		      uint64_t size, struct buf *out, struct buf *envelope);
/* header_cache_put - keep HEADER[0..LEN) as message UID's (file of SIZE
 * bytes), with ENVELOPE[0..ENVELOPE_LEN) (maybe none), if neither is
 * longer than [mailbox] header_cache_max; it replaces the message's record (in place when that one is the
 * last not yet written) */
void header_cache_put(struct header_cache *cache, uint32_t uidvalidity, uint32_t uid,
		      uint64_t size, const char *header, size_t len, const char *envelope,
		      size_t envelope_len);
/* header_cache_live_fn - message UID is still in the folder */
typedef bool header_cache_live_fn(void *arg, uint32_t uid);
/* header_cache_close - write what is pending; when most of the file is
 * records of messages LIVE says are gone, write it anew without them
 * (FOLDER_PATH: where it is now); free *CACHE and null it.  LIVE NULL:
 * only write what is pending. */
void header_cache_close(struct header_cache **cache, const char *folder_path,
			header_cache_live_fn *live, void *arg);
/* header_cache_park - for a folder kept in memory after its last close:
 * write what is pending and close the file, keeping the table, so that
 * the next open of the folder does not read and check the whole file
 * again; the file is opened again at the next lookup, and read anew if it
 * is no longer the one parked (another inode, size, mtime or ctime).  False (nothing
 * done) when the cache should be closed instead: not loaded, off, or
 * mostly records of messages LIVE says are gone (header_cache_close
 * compacts it).  REMOVALS counts the messages that ever left the folder:
 * LIVE is asked of every record only when it changed since the last park
 * (or the table was read anew).  Logs the hits and misses since it was
 * last parked, as header_cache_close does */
bool header_cache_park(struct header_cache *cache, header_cache_live_fn *live, void *arg,
		       uint64_t removals);
/* header_cache_bytes - what CACHE (may be NULL) holds in memory */
size_t header_cache_bytes(const struct header_cache *cache);

#endif
