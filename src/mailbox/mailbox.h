/* mailbox - the mailbox store that IMAP, POP3 and local delivery share.
 *
 * WHAT IT IS
 *   An account's mail lives in Maildirs under <data_dir>/mail/<domain>/<local>/
 *   (the folder local/ delivers into, local_mailbox_path; an account with
 *   a plain login name, no '@', has <data_dir>/mail/sandbox/<login>/,
 *   local_account_mailbox_path, where its sandboxed mail is kept; an
 *   address account's sandboxed mail is its folder "Sandbox"): that folder is
 *   INBOX, other folders are Maildir++ subfolders of it (".Sent", ".A.B" for
 *   "A/B"), their names modified UTF-7 on disk (RFC 3501 5.1.3).  Beside each
 *   folder's cur/ new/ tmp/ the store keeps petrel.index (UIDs, MODSEQs,
 *   flags, sizes, dates), petrel.cache (the messages' header sections, for
 *   FETCH ENVELOPE and SEARCH by header), petrel.keywords and
 *   petrel.uidvalidity; the account
 *   folder also holds petrel.subscriptions.  docs/mailbox.md gives the formats
 *   and what survives a crash, a lost index or another program's changes.
 *
 * THREADS AND BLOCKING
 *   Every function that takes a data_dir, a struct mailbox or a struct
 *   mailbox_view reads or writes the disk: call them from pool workers
 *   (util/pool), never on the event loop.  They are thread-safe: a process
 *   keeps one struct mailbox per folder (a registry), shared by every session
 *   and by local delivery, refcounted, with one mutex that each call holds
 *   for its changes.  A struct mailbox_view belongs to one session and must
 *   not be used by two threads at once (one command at a time, as a session
 *   runs them).  The pure functions at the end (names, file names, the index
 *   codec) do no I/O.
 *
 * OWNERSHIP
 *   mailbox_open returns a reference the caller gives back with
 *   mailbox_unref; a view holds its own reference.  Arrays and strings
 *   returned through _r pointers are the caller's (free them as each
 *   function says).  Pointers into a mailbox are never returned.
 *
 * ERRORS
 *   Actions return 0 or -1 and fill a struct mailbox_error: a code the
 *   protocols map to their responses (IMAP NO [NONEXISTENT], [ALREADYEXISTS],
 *   [OVERQUOTA] ..., RFC 5530) and static text to log once.
 *
 * UIDS, MODSEQ, CHANGES
 *   UIDs ascend in order of arrival and are never reused while UIDVALIDITY
 *   stays (RFC 3501 2.3.1.1).  Every change (new message, flags, expunge)
 *   takes a new MODSEQ above HIGHESTMODSEQ (RFC 7162 3.1).  A session
 *   learns what others changed through its view: mailbox_view_update says
 *   which messages came (EXISTS), went (EXPUNGE / VANISHED) and which flags
 *   changed, between commands, as RFC 3501 7.4.1 and RFC 9051 7.5.1 want;
 *   a watch (mailbox_watch_add) wakes an IDLE or selected session when
 *   anything changed.
 */
#ifndef PETREL_MAILBOX_MAILBOX_H
#define PETREL_MAILBOX_MAILBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "util/siphash.h"

struct buf;
struct mailbox;
struct mailbox_view;
struct mailbox_watch;
struct syncer;

/* ---- errors ---- */

enum mailbox_error_code {
	MAILBOX_ERROR_NONE = 0,
	MAILBOX_ERROR_NONEXISTENT,    /* no such folder (IMAP [NONEXISTENT]/[TRYCREATE]) */
	MAILBOX_ERROR_EXISTS,         /* the folder exists already ([ALREADYEXISTS]) */
	MAILBOX_ERROR_BAD_NAME,       /* a name that is not a safe folder name ([CANNOT]) */
	MAILBOX_ERROR_CANNOT,         /* not allowed on this folder, e.g. delete INBOX ([CANNOT]) */
	MAILBOX_ERROR_EXPUNGED,       /* a message asked for is gone ([EXPUNGEISSUED]) */
	MAILBOX_ERROR_LIMIT,          /* a per-folder limit, e.g. 64 keywords ([LIMIT]) */
	MAILBOX_ERROR_DELETED,        /* the folder was deleted under the session */
	MAILBOX_ERROR_TEMPORARY,      /* the disk failed (ENOSPC, EIO ...): retry later
	                               * ([SERVERBUG] / [UNAVAILABLE]); errno in sys_errno */
	MAILBOX_ERROR_OVERQUOTA,      /* the account's quota would be passed: IMAP APPEND,
	                               * COPY and MOVE answer NO [OVERQUOTA] (RFC 9208 4.3,
	                               * RFC 5530 3); delivery 452 4.2.2 (RFC 3463 3.3) */
};

struct mailbox_error {
	enum mailbox_error_code code;
	const char *text;   /* static text for the log and the NO response */
	int sys_errno;      /* for MAILBOX_ERROR_TEMPORARY, else 0 */
};

/* ---- set-up ---- */

/* mailbox_setup - process-wide settings, before the first mailbox_open:
 * SYNCER (the mail folder's group commit, util/syncer.h; NULL: fsync each
 * file and folder) and HOSTNAME (the host part of unique file names; NULL:
 * gethostname).  Neither is owned; both must outlive the last mailbox. */
void mailbox_setup(struct syncer *syncer, const char *hostname);

/* mailbox_cache_size_set - folders closed by their last user are kept in
 * memory, up to BYTES in all ([mailbox] cache_size), the least recently
 * closed dropped first; a reopen takes one back after its usual sync
 * instead of reading petrel.index.  0 (the default) keeps none and drops
 * those kept (as at shutdown). */
void mailbox_cache_size_set(size_t bytes);
/* mailbox_cache_used - bytes the folders kept take now */
size_t mailbox_cache_used(void);

/* ---- flags ---- */

/* System flags as a bitmask (RFC 9051 2.3.2).  \Recent (RFC 3501 2.3.2,
 * gone from RFC 9051) is no stored flag: a view reports it for the
 * messages it is the first session told of (mailbox_message.recent).  $Forwarded is a
 * flag here (Maildir's P), not a keyword: map it before the keyword calls. */
enum mailbox_flag {
	MAILBOX_FLAG_ANSWERED  = 1u << 0,   /* Maildir R */
	MAILBOX_FLAG_FLAGGED   = 1u << 1,   /* F */
	MAILBOX_FLAG_DELETED   = 1u << 2,   /* T */
	MAILBOX_FLAG_SEEN      = 1u << 3,   /* S */
	MAILBOX_FLAG_DRAFT     = 1u << 4,   /* D */
	MAILBOX_FLAG_FORWARDED = 1u << 5,   /* P: $Forwarded */
};
#define MAILBOX_FLAGS_ALL 0x3fu
/* at most this many keywords per folder; keywords 0-25 also live in the
 * file names (letters a-z, as Dovecot does), the others only in the index */
#define MAILBOX_KEYWORDS_MAX 64

/* ---- opening a folder ---- */

/* mailbox_open - the folder NAME (IMAP form: UTF-8, "/" between levels,
 * "INBOX" in any case for the account's Maildir) of ADDRESS's account
 * (local_account_mailbox_path's rules: an address, or a plain login)
 * under DATA_DIR, synchronized (mailbox_sync).
 * Another open of the same folder returns the same object.  INBOX is created
 * if missing (as delivery would); other folders must exist
 * (MAILBOX_ERROR_NONEXISTENT, mailbox_folder_create). */
int mailbox_open(const char *data_dir, const char *address, const char *name,
		 struct mailbox **mailbox_r, struct mailbox_error *error_r);
void mailbox_ref(struct mailbox *mailbox);
/* mailbox_unref - drop a reference; the last one frees the object (the
 * files stay) and nulls *MAILBOX */
void mailbox_unref(struct mailbox **mailbox);

/* mailbox_sync - bring the folder up to date with the disk: files in new/
 * move to cur/ with the next UIDs, files another program renamed (flags),
 * removed (expunged) or dropped into cur/ are folded in, and the index is
 * written if anything changed.  The other calls sync as they need to; a
 * session calls it (through mailbox_view_update) before each response. */
int mailbox_sync(struct mailbox *mailbox, struct mailbox_error *error_r);

struct mailbox_status {
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint64_t highestmodseq;
	uint32_t messages;
	uint32_t unseen;         /* messages without \Seen */
	uint32_t deleted;        /* messages with \Deleted */
	uint32_t recent;         /* RFC 3501 RECENT: no session told of them yet
	                          * (mailbox_status_get), or this session first
	                          * (mailbox_view_status) */
	uint64_t size;           /* sum of the message sizes (RFC 8438 STATUS SIZE) */
	uint32_t first_unseen;   /* the first message without \Seen (0: none):
	                          * its sequence number in the view
	                          * (mailbox_view_select, mailbox_view_status),
	                          * its place in the folder (mailbox_status_get);
	                          * RFC 3501 SELECT's UNSEEN */
};
/* mailbox_status_get - the folder's numbers as of its last sync (the
 * flag counts are kept from one call to the next while the folder does
 * not change) */
void mailbox_status_get(struct mailbox *mailbox, struct mailbox_status *status_r);

/* mailbox_path - the folder's Maildir (copy, caller frees); it changes
 * when the folder is renamed */
char *mailbox_path(struct mailbox *mailbox);

/* ---- keywords (RFC 9051 2.3.2 "keywords") ---- */

/* mailbox_keyword_find - the number (0..63) of keyword NAME (an IMAP atom,
 * compared case-insensitively); with CREATE a new keyword is added
 * (petrel.keywords), MAILBOX_ERROR_LIMIT past MAILBOX_KEYWORDS_MAX;
 * without it, MAILBOX_ERROR_NONEXISTENT when unknown */
int mailbox_keyword_find(struct mailbox *mailbox, const char *name, bool create,
			 unsigned *index_r, struct mailbox_error *error_r);
/* mailbox_keywords_get - the names of keywords 0..*COUNT_R-1 (an array of
 * strings; free each and the array) for FLAGS and PERMANENTFLAGS */
char **mailbox_keywords_get(struct mailbox *mailbox, size_t *count_r);

/* ---- views: one per session that has the folder selected ---- */

/* mailbox_view_open - a view of MAILBOX (synced first) holding its own
 * reference: message sequence numbers 1..count in UID order.  It copies
 * nothing of the folder's table until its first use (other than its
 * status) or the folder's first removal of a message */
int mailbox_view_open(struct mailbox *mailbox, struct mailbox_view **view_r,
		      struct mailbox_error *error_r);
/* mailbox_view_select - mailbox_view_open and, with STATUS_R (may be NULL),
 * what mailbox_view_status would then give, without a pass over the
 * folder's table when it did not change since its last status.  With
 * PEEK the view takes \Recent from no one: messages stay recent for the
 * next view that is not a peek (IMAP EXAMINE, RFC 3501 6.3.2) */
int mailbox_view_select(struct mailbox *mailbox, bool peek, struct mailbox_view **view_r,
			struct mailbox_status *status_r, struct mailbox_error *error_r);
void mailbox_view_free(struct mailbox_view **view);
struct mailbox *mailbox_view_mailbox(struct mailbox_view *view);

/* mailbox_view_status - the numbers as the session knows them, consistent
 * with its sequence numbers (SELECT's EXISTS, UIDNEXT, HIGHESTMODSEQ, RFC
 * 3501 6.3.1): messages is mailbox_view_count, UIDNEXT and HIGHESTMODSEQ as
 * of the view's last open or update, so no message below UIDNEXT is one
 * the session has not been told of; unseen, deleted and size count the
 * view's messages still in the folder.  No I/O. */
void mailbox_view_status(struct mailbox_view *view, struct mailbox_status *status_r);

/* mailbox_view_count - the session's EXISTS (messages expunged by others
 * but not yet reported stay counted until mailbox_view_update reports them) */
uint32_t mailbox_view_count(const struct mailbox_view *view);
/* mailbox_view_uid - the UID of sequence number SEQ (1..count), 0 if out of range */
uint32_t mailbox_view_uid(struct mailbox_view *view, uint32_t seq);
/* mailbox_view_seq - the sequence number of UID, 0 if the view has none */
uint32_t mailbox_view_seq(struct mailbox_view *view, uint32_t uid);
/* mailbox_view_seq_range - the sequence numbers FIRST_R..LAST_R of the
 * messages with UIDs in FIRST_UID..LAST_UID (a UID set's range, "*" being
 * the last UID); false if there are none */
bool mailbox_view_seq_range(struct mailbox_view *view, uint32_t first_uid,
			    uint32_t last_uid, uint32_t *first_r, uint32_t *last_r);

struct mailbox_message {
	uint32_t uid;
	uint32_t flags;          /* enum mailbox_flag bits */
	uint64_t keywords;       /* bit N = keyword N */
	uint64_t modseq;
	uint64_t size;           /* bytes of the file (CRLF line ends: RFC822.SIZE) */
	time_t internal_date;    /* RFC 3501 2.3.3; the file's mtime */
	bool recent;             /* \Recent: this view was the first told of it */
	bool expunged;           /* gone, not yet reported to this session: uid
	                          * and modseq are its last known state, flags,
	                          * keywords, size and internal_date 0 */
};
/* mailbox_view_message - message SEQ as the mailbox has it now; -1 when
 * SEQ is out of range */
int mailbox_view_message(struct mailbox_view *view, uint32_t seq, struct mailbox_message *msg_r);

/* mailbox_message_open - open message UID's file read-only (O_CLOEXEC);
 * the descriptor stays valid whatever happens to the file later (renames
 * for flags, expunge).  MAILBOX_ERROR_EXPUNGED if it is gone. */
int mailbox_message_open(struct mailbox_view *view, uint32_t uid, int *fd_r,
			 struct mailbox_error *error_r);

/* mailbox_message_header - append message UID's header section (its
 * bytes up to and including the first empty line; the whole file if it
 * has none) to OUT: from the folder's petrel.cache when it holds the
 * message (its UID and size as the index has them, the record's checksum
 * right), else read from the file and kept there (when no longer than
 * mailbox_header_cache_max_set's bound), for FETCH ENVELOPE and SEARCH by
 * header.  ENVELOPE (may be NULL): the ENVELOPE text the record keeps
 * beside it (mailbox_message_envelope_put) is appended to it, when it has
 * one.  MAILBOX_ERROR_EXPUNGED if the message is gone. */
int mailbox_message_header(struct mailbox_view *view, uint32_t uid, struct buf *out,
			   struct buf *envelope, struct mailbox_error *error_r);
/* mailbox_message_envelope - append the ENVELOPE text petrel.cache keeps
 * for message UID (mailbox_message_envelope_put) to ENVELOPE, reading and
 * checking only that part of its record: 1, or 0 when it keeps none (then
 * mailbox_message_header); -1 and MAILBOX_ERROR_EXPUNGED if it is gone */
int mailbox_message_envelope(struct mailbox_view *view, uint32_t uid, struct buf *envelope,
			     struct mailbox_error *error_r);
/* mailbox_message_envelope_put - keep ENVELOPE[0..ENVELOPE_LEN), the
 * ENVELOPE text imap/ built from HEADER[0..LEN) (what
 * mailbox_message_header gave for UID), in petrel.cache beside it, so
 * that later FETCH ENVELOPE need not parse the header again; nothing when
 * the cache is off, the message is gone or either is too long */
void mailbox_message_envelope_put(struct mailbox_view *view, uint32_t uid, const char *header,
				  size_t len, const char *envelope, size_t envelope_len);
/* mailbox_header_cache_max_set - the longest header section petrel.cache
 * keeps ([mailbox] header_cache_max, at most MAILBOX_CACHE_ENTRY_MAX; the
 * default 65536); 0: petrel.cache is neither read nor written */
void mailbox_header_cache_max_set(size_t bytes);

/* mailbox_message_unique - the unique part of message UID's file name
 * (before ",S=" and ":2,"): it stays the message's for its life, across
 * flag changes and index rebuilds (POP3 UIDL, RFC 1939 7).  Caller frees.
 * MAILBOX_ERROR_EXPUNGED if the message is gone. */
int mailbox_message_unique(struct mailbox_view *view, uint32_t uid, char **unique_r,
			   struct mailbox_error *error_r);

/* mailbox_exclusive_take - claim MAILBOX for one session alone, as POP3
 * holds its maildrop (RFC 1939 8); false if another session holds it.
 * Give it back with mailbox_exclusive_release.  Only other takers are kept
 * out: IMAP sessions and delivery go on. */
bool mailbox_exclusive_take(struct mailbox *mailbox);
void mailbox_exclusive_release(struct mailbox *mailbox);

/* One flag change another session (or program) made, to be sent as an
 * untagged FETCH (FLAGS ...) [MODSEQ] */
struct mailbox_flag_change {
	uint32_t seq;            /* after this update's expunges */
	uint32_t uid;
	uint32_t flags;
	uint64_t keywords;
	uint64_t modseq;
};

struct mailbox_changes {
	/* expunges, in the order to send EXPUNGE responses: each sequence
	 * number counts the ones sent before it (RFC 3501 7.4.1); UIDs for
	 * VANISHED (RFC 7162 3.2.10) in the same order */
	uint32_t *expunged_seqs;
	uint32_t *expunged_uids;
	size_t expunged_count;
	bool exists_changed;     /* new messages came: send EXISTS with exists */
	uint32_t exists;
	struct mailbox_flag_change *flag_changes;
	size_t flag_change_count;
	bool keywords_changed;   /* new keywords: send FLAGS and PERMANENTFLAGS again */
	uint32_t uidnext;
	uint64_t highestmodseq;
	bool deleted;            /* the folder was deleted: end the selection (BYE
	                          * or unselect); the view stays usable but empty */
};

/* mailbox_view_update - sync the mailbox, then report and apply what the
 * session has not been told.  EXPUNGES false (during FETCH, STORE and
 * SEARCH, RFC 3501 7.4.1) keeps expunged messages in the view, reported
 * later; new messages and flag changes are reported either way.  Flag
 * changes the session made itself through mailbox_store_flags are not
 * reported again.  Free with mailbox_changes_free. */
int mailbox_view_update(struct mailbox_view *view, bool expunges,
			struct mailbox_changes *changes_r, struct mailbox_error *error_r);
void mailbox_changes_free(struct mailbox_changes *changes);

/* mailbox_view_has_changes - something to report (cheap; for IDLE after a
 * watch fired, without syncing) */
bool mailbox_view_has_changes(const struct mailbox_view *view);

/* ---- changes ---- */

/* mailbox_append - a new message with DATA (as it will be read: CRLF line
 * ends), FLAGS, KEYWORDS and INTERNAL_DATE (0: now): written to tmp/, made
 * durable (group commit through the syncer, as local delivery does), linked
 * into cur/ under its UID, cur/ made durable; *UID_R its UID (APPENDUID,
 * RFC 4315).  MAILBOX_ERROR_OVERQUOTA, nothing written, when the message
 * would take the account past its quota (mailbox_quota_check). */
int mailbox_append(struct mailbox *mailbox, const char *data, size_t len, uint32_t flags,
		   uint64_t keywords, time_t internal_date, uint32_t *uid_r,
		   struct mailbox_error *error_r);

enum mailbox_store_mode {
	MAILBOX_STORE_SET,      /* FLAGS */
	MAILBOX_STORE_ADD,      /* +FLAGS */
	MAILBOX_STORE_REMOVE,   /* -FLAGS */
};

struct mailbox_store_result {
	/* messages whose flags are now as stored, changed or not (a STORE
	 * without .SILENT answers FETCH FLAGS for each); MODSEQ their current */
	struct mailbox_flag_change *stored;
	size_t stored_count;
	/* UIDs left alone because their MODSEQ was above UNCHANGEDSINCE
	 * (RFC 7162 3.1.3: the MODIFIED response code) */
	uint32_t *modified_uids;
	size_t modified_count;
	/* UIDs asked for that are expunged already (ignored, RFC 3501 6.4.6 allows) */
	size_t expunged_count;
};

/* mailbox_store_flags - change the flags of the messages with UIDS (N of
 * them, any order) in VIEW's mailbox: set, add or remove FLAGS and KEYWORDS.
 * With UNCHANGEDSINCE non-zero a message whose MODSEQ is above it is left
 * alone and listed in modified_uids (RFC 7162 3.1.3); UNCHANGEDSINCE 0 means
 * no condition.  Messages that change get one new MODSEQ.  The file is
 * renamed (flags in the name); this is not synced to disk: a crash may lose
 * the last flag changes, never a message.  Free with mailbox_store_result_free. */
int mailbox_store_flags(struct mailbox_view *view, const uint32_t *uids, size_t n,
			enum mailbox_store_mode mode, uint32_t flags, uint64_t keywords,
			uint64_t unchangedsince, struct mailbox_store_result *result_r,
			struct mailbox_error *error_r);
void mailbox_store_result_free(struct mailbox_store_result *result);

/* mailbox_expunge - remove the messages with \Deleted among UIDS (N of them;
 * UIDS NULL: every message with \Deleted, IMAP EXPUNGE / CLOSE), synced to
 * disk.  *EXPUNGED_R (may be NULL) gets the UIDs removed (caller frees), in
 * ascending order.  Every view, the caller's too, is told through
 * mailbox_view_update. */
int mailbox_expunge(struct mailbox_view *view, const uint32_t *uids, size_t n,
		    uint32_t **expunged_r, size_t *expunged_count_r,
		    struct mailbox_error *error_r);

/* mailbox_copy - copy the messages with UIDS (N, ascending) of VIEW's
 * mailbox into DEST (another folder, possibly of another account) with their
 * flags, keywords and dates; synced to disk before it returns.
 * MAILBOX_ERROR_OVERQUOTA, nothing copied, when the copies would take DEST's
 * account past its quota (a move within one account changes no usage).
 * The pairs copied come back in *SRC_UIDS_R and *DEST_UIDS_R (COPYUID, RFC 4315; the
 * caller frees both), *COUNT_R of them: UIDs already expunged are skipped.
 * DEST may be VIEW's own mailbox. */
int mailbox_copy(struct mailbox_view *view, const uint32_t *uids, size_t n,
		 struct mailbox *dest, uint32_t **src_uids_r, uint32_t **dest_uids_r,
		 size_t *count_r, struct mailbox_error *error_r);
/* mailbox_move - mailbox_copy, then expunge the copied messages from VIEW's
 * mailbox whatever their flags (RFC 6851); DEST must be another folder */
int mailbox_move(struct mailbox_view *view, const uint32_t *uids, size_t n,
		 struct mailbox *dest, uint32_t **src_uids_r, uint32_t **dest_uids_r,
		 size_t *count_r, struct mailbox_error *error_r);

/* ---- notification ---- */

/* A watch's FN(ARG) runs when the mailbox changed (a new message, flags,
 * expunge, delete), on the thread that made the change (a worker), after the
 * mailbox's lock is released.  It must only hand the news over, e.g.
 * event_active() on the session's event; never block, never call a mailbox
 * function.  The session then runs mailbox_view_update on a worker. */
typedef void mailbox_watch_fn(void *arg);
struct mailbox_watch *mailbox_watch_add(struct mailbox *mailbox, mailbox_watch_fn *fn,
					void *arg);
/* mailbox_watch_remove - once it returns, FN is not running and never runs
 * again; nulls *WATCH */
void mailbox_watch_remove(struct mailbox_watch **watch);

/* mailbox_notify_new - a writer (local delivery) put a message into a
 * Maildir's new/: PATH is the file's path (or the Maildir's).  If a process
 * holds that folder open it is synced now (the message gets its UID) and
 * its watches fire; otherwise the next open finds the file.  The account's
 * quota usage is updated.  Blocking (a worker's); never fails (a sync error
 * is logged and retried at the next sync). */
void mailbox_notify_new(const char *path);

/* ---- folders of an account ---- */

/* SPECIAL-USE (RFC 6154) and LIST attributes */
enum mailbox_folder_attr {
	MAILBOX_FOLDER_SENT         = 1u << 0,
	MAILBOX_FOLDER_DRAFTS       = 1u << 1,
	MAILBOX_FOLDER_JUNK         = 1u << 2,
	MAILBOX_FOLDER_TRASH        = 1u << 3,
	MAILBOX_FOLDER_ARCHIVE      = 1u << 4,
	MAILBOX_FOLDER_SUBSCRIBED   = 1u << 5,   /* \Subscribed (RFC 5258) */
	MAILBOX_FOLDER_HAS_CHILDREN = 1u << 6,   /* \HasChildren, else \HasNoChildren */
	MAILBOX_FOLDER_NOSELECT     = 1u << 7,   /* a parent that is no folder itself */
	MAILBOX_FOLDER_NONEXISTENT  = 1u << 8,   /* subscribed only (RFC 5258 \NonExistent) */
};
#define MAILBOX_FOLDER_SPECIAL_USE 0x1fu

struct mailbox_folder {
	char *name;        /* IMAP form, UTF-8, "/" separated; "INBOX" first */
	unsigned attrs;    /* enum mailbox_folder_attr bits */
};

/* mailbox_account_prepare - create the account's INBOX and its SPECIAL-USE
 * folders Sent, Drafts, Junk, Trash and Archive (subscribed) where missing;
 * call it at each login (cheap once they exist) */
int mailbox_account_prepare(const char *data_dir, const char *address,
			    struct mailbox_error *error_r);

/* mailbox_folder_list - every folder of the account, INBOX first then by
 * name, with parents that are no folders (NOSELECT) and subscriptions to
 * folders that do not exist (NONEXISTENT); the protocol filters by pattern.
 * Free with mailbox_folders_free. */
int mailbox_folder_list(const char *data_dir, const char *address,
			struct mailbox_folder **folders_r, size_t *count_r,
			struct mailbox_error *error_r);
void mailbox_folders_free(struct mailbox_folder *folders, size_t count);

/* mailbox_folder_create - a new folder NAME (and its missing parents,
 * RFC 3501 6.3.3); MAILBOX_ERROR_EXISTS if it exists, BAD_NAME for names
 * that are not safe (see mailbox_name_to_disk) */
int mailbox_folder_create(const char *data_dir, const char *address, const char *name,
			  struct mailbox_error *error_r);
/* mailbox_folder_delete - remove folder NAME and its messages; INBOX
 * cannot be (CANNOT).  Its subfolders stay, and NAME then lists as their
 * NOSELECT parent (RFC 3501 6.3.4).  Open views of it see it deleted
 * (mailbox_changes.deleted). */
int mailbox_folder_delete(const char *data_dir, const char *address, const char *name,
			  struct mailbox_error *error_r);
/* mailbox_folder_rename - rename folder OLD and its subfolders to NEW
 * (RFC 3501 6.3.5); sessions that have them open follow.  Renaming INBOX
 * moves its messages into a new folder NEW and leaves INBOX empty, its
 * subfolders where they are (RFC 3501 6.3.5, RFC 9051 6.3.6). */
int mailbox_folder_rename(const char *data_dir, const char *address, const char *old_name,
			  const char *new_name, struct mailbox_error *error_r);
/* mailbox_folder_subscribe - add NAME to (SUBSCRIBE true) or remove it from
 * the account's subscriptions (petrel.subscriptions); the folder need not
 * exist (RFC 3501 6.3.6) but the name must be valid */
int mailbox_folder_subscribe(const char *data_dir, const char *address, const char *name,
			     bool subscribe, struct mailbox_error *error_r);

/* ---- quota (RFC 9208 STORAGE and MESSAGE) ---- */

/* An account's limits, or its usage: STORAGE in bytes (RFC 9208 5.1 counts
 * KiB: the protocol divides) and MESSAGE (5.2); a limit of 0 is none. */
struct mailbox_quota {
	uint64_t bytes;
	uint64_t messages;
};

/* mailbox_quota_limit_fn - (worker) the limits of the account whose mailbox
 * is ADDRESS ("local@domain" as the mailbox's folder names it: lower-case,
 * no +tag) into *LIMIT_R; -1 when they cannot be read now (the store is
 * down): the caller's operation then fails TEMPORARY. */
typedef int mailbox_quota_limit_fn(void *arg, const char *address,
				   struct mailbox_quota *limit_r);

/* mailbox_quota_setup - where limits come from (the network process: the
 * account's plan, else [mailbox] quota_default; policy_quota_limit_blocking).
 * Before it, or with FN NULL, no account has a limit.  ARG must outlive it. */
void mailbox_quota_setup(mailbox_quota_limit_fn *fn, void *arg);

/* mailbox_quota_usage - bytes and messages over all the account's folders.
 * The first call for an account in a process reads each folder (its index);
 * later ones are kept up to date by the changes made through this module
 * and mailbox_notify_new, and a folder's count is taken again whenever it
 * is synced (which folds in what other programs changed).
 * The limits are mailbox_quota_setup's (mailbox_quota_get, mailbox_quota_check). */
int mailbox_quota_usage(const char *data_dir, const char *address, uint64_t *bytes_r,
			uint64_t *messages_r, struct mailbox_error *error_r);

/* mailbox_quota_get - ADDRESS's usage (mailbox_quota_usage) and limits
 * (mailbox_quota_setup's function) for GETQUOTA and the like */
int mailbox_quota_get(const char *data_dir, const char *address, struct mailbox_quota *usage_r,
		      struct mailbox_quota *limit_r, struct mailbox_error *error_r);

/* mailbox_quota_check - 0 when BYTES and MESSAGES more fit within ADDRESS's
 * limits; -1 with MAILBOX_ERROR_OVERQUOTA when they would pass one (usage +
 * added > limit), or TEMPORARY when the usage or the limits cannot be read.
 * With BYTES and MESSAGES 1: is the account full already (SMTP RCPT)?
 * A check, not a reservation: two deliveries at once may both fit and
 * together pass the limit by one message (as Dovecot's and Postfix's
 * checks do). */
int mailbox_quota_check(const char *data_dir, const char *address, uint64_t bytes,
			uint64_t messages, struct mailbox_error *error_r);
/* mailbox_quota_check_limited - mailbox_quota_check, and *LIMITED_R false
 * when ADDRESS's account has no limit at all (any message fits, whatever
 * its size); true when it has one or that cannot be told */
int mailbox_quota_check_limited(const char *data_dir, const char *address, uint64_t bytes,
				uint64_t messages, bool *limited_r, struct mailbox_error *error_r);

/* ---- pure helpers (no I/O): names, file names, the index codec ---- */

/* mailbox_name_to_disk - the Maildir++ folder name for IMAP name NAME
 * (UTF-8, "/" separated): "" for INBOX, ".Sent", ".A.B", each level in
 * modified UTF-7.  NULL when the name is refused: empty, an empty level
 * (leading, trailing or doubled "/"), a level holding "." or "\\", a
 * control character, invalid UTF-8, or longer than 255 bytes on disk.
 * Caller frees. */
char *mailbox_name_to_disk(const char *name);
/* mailbox_name_from_disk - the IMAP name of Maildir++ folder DIR (".A.B"),
 * NULL if it is not one (bad modified UTF-7, empty levels ...).  Caller frees. */
char *mailbox_name_from_disk(const char *dir);

/* mailbox_mutf7_encode / _decode - RFC 3501 5.1.3 modified UTF-7 from and
 * to UTF-8 (also for IMAP4rev1 clients without UTF8=ACCEPT).  Decode
 * refuses what the RFC forbids (a shift that is not needed, "&" unescaped,
 * bad base64, padding, non-shortest forms): NULL.  Caller frees. */
char *mailbox_mutf7_encode(const char *utf8, size_t len);
char *mailbox_mutf7_decode(const char *mutf7, size_t len);

/* A message file name "<unique>,S=<size>,U=<uid>:2,<flags>" taken apart
 * (other ",X=" fields are ignored; every part but the unique one optional) */
struct mailbox_filename {
	size_t unique_len;       /* the name's first bytes up to ',' or ':' */
	bool has_size, has_uid, has_info;
	uint64_t size;
	uint32_t uid;
	uint32_t flags;          /* from the letters after ":2," */
	uint64_t keywords;       /* letters a-z: keywords 0-25 */
};
/* mailbox_filename_parse - false if NAME cannot be a message file
 * (empty, starts with '.', holds '/') */
bool mailbox_filename_parse(const char *name, struct mailbox_filename *parsed_r);
/* mailbox_filename_format - append "<unique>,S=<size>,U=<uid>:2,<flags>" */
void mailbox_filename_format(struct buf *out, const char *unique, size_t unique_len,
			     uint64_t size, uint32_t uid, uint32_t flags, uint64_t keywords);

/* The index (petrel.index): a 64-byte header then COUNT 48-byte records
 * then the table of file names; little-endian; the checksum (SipHash-2-4
 * under a fixed key) covers every byte but its own.  docs/mailbox.md. */
#define MAILBOX_INDEX_VERSION 2

struct mailbox_index_record {
	uint32_t uid;
	uint32_t flags;
	uint64_t modseq;
	uint64_t size;
	int64_t internal_date;   /* MAILBOX_DATE_UNKNOWN: not read yet */
	uint64_t keywords;
	char *name;              /* the file's name in cur/ */
};
/* an internal date not read yet: a file a scan took from its name alone
 * (S= and the listing's file type), its mtime read at the first need */
#define MAILBOX_DATE_UNKNOWN INT64_MIN

struct mailbox_index {
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint64_t highestmodseq;
	/* cur/'s mtime at a scan that found it settled (over a second old),
	 * when the records are that scan's cur/; 0 and 0 when not known
	 * (version 1 has no such field) */
	int64_t cur_mtime_sec;
	uint32_t cur_mtime_nsec;
	struct mailbox_index_record *records;   /* ascending UIDs */
	size_t count;
};

/* mailbox_index_parse - decode an index file's bytes; -1 with *error_r when
 * they are not a whole, consistent index (torn, corrupt, other version):
 * the caller then rebuilds.  Free with mailbox_index_free. */
int mailbox_index_parse(const void *data, size_t len, struct mailbox_index *index_r,
			const char **error_r);
/* mailbox_index_encode - append INDEX's bytes to OUT */
void mailbox_index_encode(const struct mailbox_index *index, struct buf *out);

/* An index a piece at a time, its records from a function (a folder's
 * table: no array of records, no buffer of the whole file): the header,
 * with its checksum field zero, then the records, then the names; the
 * checksum, at the end, goes at MAILBOX_INDEX_CHECKSUM_AT. */
#define MAILBOX_INDEX_CHECKSUM_AT 40
/* mailbox_index_record_fn - record I (0..count-1) of the index being
 * encoded; its name stays valid until the encoder is done */
typedef void mailbox_index_record_fn(void *arg, size_t i, struct mailbox_index_record *rec_r);
struct mailbox_index_encoder {
	struct mailbox_index index;      /* the header's fields and count */
	mailbox_index_record_fn *record;
	void *arg;
	size_t names_len;
	int phase;                       /* 0 header, 1 records, 2 names, 3 done */
	size_t next;                     /* the next record or name */
	uint32_t name_off;
	struct siphash sip;
};
/* mailbox_index_encoder_init - to encode INDEX's fields and COUNT records
 * that RECORD gives (INDEX's own records are not read) */
void mailbox_index_encoder_init(struct mailbox_index_encoder *enc,
				const struct mailbox_index *index,
				mailbox_index_record_fn *record, void *arg);
/* mailbox_index_encoder_next - append the next piece, about LIMIT bytes
 * (whole records and names), to OUT; false when there was none left */
bool mailbox_index_encoder_next(struct mailbox_index_encoder *enc, struct buf *out, size_t limit);
/* mailbox_index_encoder_checksum - once every piece was given */
uint64_t mailbox_index_encoder_checksum(struct mailbox_index_encoder *enc);
void mailbox_index_free(struct mailbox_index *index);

/* The header cache (petrel.cache): a 32-byte header (magic, version,
 * UIDVALIDITY, checksum) then records appended one after another, each a
 * 40-byte head (checksums of the record and of the head and ENVELOPE, UID,
 * lengths, the message's size), a message's ENVELOPE text (maybe none)
 * and its header section; little-endian, SipHash-2-4 checksums.
 * docs/mailbox.md. */
#define MAILBOX_CACHE_VERSION 3
#define MAILBOX_CACHE_HEADER_SIZE 32
#define MAILBOX_CACHE_RECORD_HEADER 40
/* the longest header section a record may hold: what message/'s MIME
 * parser keeps of one (MESSAGE_MIME_LIMITS_DEFAULT) */
#define MAILBOX_CACHE_ENTRY_MAX 102400
/* the longest ENVELOPE text a record may hold (longer ones are not kept) */
#define MAILBOX_CACHE_ENVELOPE_MAX 102400
/* the longest record */
#define MAILBOX_CACHE_RECORD_MAX \
	(MAILBOX_CACHE_RECORD_HEADER + MAILBOX_CACHE_ENTRY_MAX + MAILBOX_CACHE_ENVELOPE_MAX)

struct mailbox_cache_entry {
	uint32_t uid;
	uint32_t len;            /* of the header section, after the record's head */
	uint32_t envelope_len;   /* of the ENVELOPE text after it; 0: none */
	uint64_t size;           /* the message file's, as the index had it */
};

/* mailbox_cache_header_parse - the file header's UIDVALIDITY; -1 when the
 * LEN bytes at DATA are no whole, valid header (another version's too) */
int mailbox_cache_header_parse(const void *data, size_t len, uint32_t *uidvalidity_r);
/* mailbox_cache_header_encode - append a file header for UIDVALIDITY */
void mailbox_cache_header_encode(uint32_t uidvalidity, struct buf *out);
/* mailbox_cache_head_parse - the head of the record at the start of
 * DATA[0..LEN), its checksums not checked (a record checked when its file
 * was loaded, read again): 1 and *ENTRY_R when its fields are valid, 0
 * when LEN ends before the head does, -1 as mailbox_cache_record_parse */
int mailbox_cache_head_parse(const void *data, size_t len, struct mailbox_cache_entry *entry_r);
/* mailbox_cache_envelope_parse - the head and ENVELOPE text of the record
 * at the start of DATA[0..LEN) (MAILBOX_CACHE_RECORD_HEADER +
 * entry_r->envelope_len bytes; the header section is neither needed nor
 * checked): 1 and *ENTRY_R when valid, 0 when LEN ends before the
 * ENVELOPE does, -1 as mailbox_cache_record_parse */
int mailbox_cache_envelope_parse(const void *data, size_t len, struct mailbox_cache_entry *entry_r);
/* mailbox_cache_record_parse - the record at the start of DATA[0..LEN):
 * 1 and *ENTRY_R when it is whole and valid (it takes
 * MAILBOX_CACHE_RECORD_HEADER + entry_r->envelope_len + entry_r->len
 * bytes: the ENVELOPE text, then the header section), 0 when LEN ends
 * before it does, -1 when it is invalid (UID 0, a length 0 or over
 * MAILBOX_CACHE_ENTRY_MAX, an ENVELOPE over MAILBOX_CACHE_ENVELOPE_MAX,
 * reserved bytes not zero, a wrong checksum) */
int mailbox_cache_record_parse(const void *data, size_t len, struct mailbox_cache_entry *entry_r);
/* mailbox_cache_record_encode - append the record of message UID (file of
 * SIZE bytes) whose header section is HEADER[0..LEN) (1..MAILBOX_CACHE_ENTRY_MAX)
 * and ENVELOPE text ENVELOPE[0..ENVELOPE_LEN) (0..MAILBOX_CACHE_ENVELOPE_MAX) */
void mailbox_cache_record_encode(uint32_t uid, uint64_t size, const char *header, size_t len,
				 const char *envelope, size_t envelope_len, struct buf *out);
/* mailbox_header_length - the length of the header section at the start
 * of DATA[0..LEN): up to and including the first empty line ("\n" or
 * "\r\n" after a line end, or at the start); without one, LEN and
 * *COMPLETE_R false (more of the file may hold it) */
size_t mailbox_header_length(const char *data, size_t len, bool *complete_r);

#endif
