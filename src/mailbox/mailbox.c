/* mailbox/mailbox - the registry of open folders, their sync with the
 * Maildir, sessions' views, and the changes: append, flags, expunge, copy.
 *
 * What is authoritative where (docs/mailbox.md has the long form):
 *   - the message files in cur/ and their names: which messages exist, their
 *     UIDs (",U=") and sizes (",S="), their flags and keywords 0-25 (":2,");
 *     a file another writer left in cur/ keeps a name without ",U=" until
 *     its first flag change: its UID is then only in petrel.index, written
 *     durably by the sync that gave it;
 *   - petrel.uidvalidity: UIDVALIDITY, and leases on UIDs and MODSEQs: no UID
 *     at or above the lease U and no MODSEQ above the lease M is handed out
 *     before a new lease is durable, so a rebuild that starts at the leases
 *     can never reuse a UID nor go back in MODSEQ (RFC 3501 2.3.1.1, RFC 7162
 *     3.1.2.1) whatever index was lost;
 *   - petrel.index: per-message MODSEQs, keywords 26-63, the UIDs of names
 *     without one, a fast open.  It is
 *     rewritten (new file, rename) once changes add up (INDEX_DIRTY_MIN
 *     plus one per 16 messages), durably at the last close, else not
 *     fsync'ed: a
 *     crash leaves the old index, a new one, or a torn one that the checksum
 *     refuses; the sync after it folds the names back in, a rebuild starts
 *     from the names and the leases.
 * One process (this one) owns a mail folder: all sessions and local
 * delivery share its struct mailbox objects.  Other programs may drop files
 * into new/, rename or remove files in cur/: each sync folds that in.
 *
 * A folder whose last reference goes is kept, whole and as it is, in the
 * registry as cached, within mailbox_cache_size_set's byte budget, least
 * recently closed evicted first; its index and exact leases are written
 * when it leaves memory (eviction, shutdown), as a close that does not keep
 * the folder writes them.  A crash while it is kept is the unclean case
 * above: nothing acknowledged is lost, the leases keep UIDs and MODSEQs
 * from going back.  An open that finds it takes it back after the sync every open
 * does (new/, and cur/ unless its mtime is the settled one), so what other
 * programs changed meanwhile is seen; a petrel.uidvalidity that is no
 * longer the file it closed with (the folder removed and made again) means
 * a fresh load.
 */
#include "mailbox/internal.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "local/local.h"
#include "util/buf.h"
#include "util/fileio.h"
#include "util/log.h"
#include "util/heap.h"
#include "util/le.h"
#include "util/syncer.h"
#include "util/xalloc.h"

/* how far a lease reaches beyond what is handed out (see the head) */
#define UID_LEASE 1024u
#define MODSEQ_LEASE 65536u
#define FILE_READ_MAX (64u << 20)
/* changes before the index is rewritten: this many plus 1/16 of the messages */
#define INDEX_DIRTY_MIN 32u

/* a message of the folder: 40 bytes */
#define MSG_SIZE_BITS 56
struct mailbox_msg {
	uint32_t uid;
	uint32_t name;           /* the file's name in cur/: in the mailbox's names */
	uint64_t keywords;
	uint64_t modseq;
	int64_t internal_date;
	uint64_t size : MSG_SIZE_BITS;   /* 64 PiB: no file is larger */
	uint64_t flags : 8;              /* MAILBOX_FLAGS_ALL */
};
_Static_assert(MAILBOX_FLAGS_ALL < (1u << 8), "the flags fit a message's 8 bits");
_Static_assert(offsetof(struct mailbox_msg, uid) == 0, "a message begins with its UID");

struct mailbox_watch {
	struct mailbox *mailbox;
	mailbox_watch_fn *fn;
	void *arg;
	struct mailbox_watch *next;
};

struct mailbox {
	pthread_mutex_t lock;
	/* under the registry lock */
	unsigned refs;
	unsigned closing;           /* mailbox_unref calls writing it after the last ref */
	bool cached;                /* closed, kept for a reopen (refs 0, closing 0) */
	uint64_t cache_stamp;       /* when it was cached: the least is evicted first */
	size_t cache_bytes;         /* its memory, counted against the budget */
	ino_t lease_ino;            /* petrel.uidvalidity as the close left it */
	struct timespec lease_mtime;
	struct mailbox *next;
	bool unlisted;              /* deleted or failed to load: opens pass it by */
	/* under both locks to change, either to read */
	char *path;
	/* under the mailbox lock */
	bool loaded, broken, deleted;
	bool exclusive;             /* mailbox_exclusive_take */
	bool cur_settled;           /* cur/ had cur_mtime, a second old, at the last scan */
	bool cur_own;               /* cur_mtime is of this process's own change to cur/
	                             * (an APPEND's or COPY's link, new/ adopted) made
	                             * in step with msgs: a change by another program
	                             * in that clock tick would not show, so the first
	                             * sync a second later reads cur/ once more
	                             * (cur_own_note) */
	struct timespec cur_mtime;
	struct timespec index_cur_mtime;  /* what petrel.index records of cur/ (0: nothing) */
	struct mailbox_error load_error;
	uint32_t uidvalidity, uidnext, uid_lease;
	uint32_t recent_uid;        /* the first UID no view was told of yet */
	uint64_t highestmodseq, modseq_lease;
	uint64_t removals;          /* messages that left msgs, and loads (the
	                             * header cache's park counts its records
	                             * again when this changed) */
	struct mailbox_msg *msgs;
	size_t count, cap;
	struct name_arena names;    /* the messages' file names */
	uint64_t total_size;
	char *keywords[MAILBOX_KEYWORDS_MAX];
	size_t keyword_count;
	struct mailbox_account *account;
	char *account_path;
	unsigned index_dirty;       /* changes since the index was written */
	bool dates_read;            /* internal dates read (msg_date) since then */
	uint32_t keep_from;         /* for the next sync: UIDs from here on in
	                             * names unknown to the index are kept */
	_Atomic uint64_t change_seq;
	struct header_cache *header_cache;   /* petrel.cache, made at the first need */
	struct mailbox_view *lazy_views;     /* views without entries of their own */
	/* the flag counts of msgs at change_seq status_seq, with status_count
	 * messages and HIGHESTMODSEQ status_modseq (status_locked) */
	bool status_valid;
	uint64_t status_seq, status_modseq;
	size_t status_count;
	uint32_t status_unseen, status_deleted, status_first_unseen;
	/* under watch_lock */
	pthread_mutex_t watch_lock;
	struct mailbox_watch *watches;
};

/* a message as the session knows it: 16 bytes, one per message of each
 * selected folder.  Its flags, size and date are the folder's table's; the
 * MODSEQ it was last told of says whether its flags changed since (every
 * change of a message's flags takes a new MODSEQ) */
struct view_entry {
	uint32_t uid;
	bool recent;
	bool expunged;           /* gone from the folder, not yet reported */
	uint64_t modseq;
};
/* heap_big_alloc's rounding keeps whole entries */
_Static_assert(((size_t)2 << 20) % sizeof(struct view_entry) == 0, "view entry size");
_Static_assert(offsetof(struct view_entry, uid) == 0, "a view entry begins with its UID");

struct mailbox_view {
	struct mailbox *mailbox;
	/* NULL while lazy: until the view's first use, or the folder's first
	 * removal of a message, its entries are the folder's table (view_own) */
	struct view_entry *entries;
	size_t count, cap;
	_Atomic bool lazy;                  /* set under the folder's lock only */
	uint32_t recent_from;               /* while lazy: \Recent from this UID on */
	uint64_t removals;                  /* while lazy: the folder's at the open */
	struct mailbox_view *lazy_next;     /* in the folder's lazy_views */
	size_t keyword_count;
	uint64_t seen_change_seq;
	bool deleted_seen;
	uint32_t uidvalidity, uidnext;      /* as of the last open or update */
	size_t pending_expunges;            /* entries marked expunged, not yet reported */
	uint64_t highestmodseq;
	bool peek;                          /* takes no \Recent (mailbox_view_select) */
};

struct account_folder {
	char *path;
	uint64_t bytes, messages;
};

struct mailbox_account {
	pthread_mutex_t lock;
	char *path;
	struct account_folder *folders;
	size_t count, cap;
	struct mailbox_account *next;
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct mailbox *registry;
static pthread_mutex_t accounts_lock = PTHREAD_MUTEX_INITIALIZER;
static struct mailbox_account *accounts;
static struct syncer *mailbox_syncer;
/* closed folders kept (under the registry lock): budget, use, clock */
static size_t cache_budget, cache_used;
static uint64_t cache_clock;
static const char *mailbox_hostname;

/* a name dir_list found: 12 bytes */
struct dir_name {
	uint32_t at;         /* its text in the listing's arena */
	uint32_t unique_len; /* of its unique part (unique_len), found once */
	bool regular;        /* the listing says a regular file (DT_REG) */
};

/* what dir_list found: the names, their text in an arena as a folder's
 * (name-arena.c), which a folder's first listing of cur/ becomes
 * (sync_locked): a 100,000-message folder's 4.9 MB of names are then not
 * copied again (they took 6.4 MB as one allocation each, then a copy) */
struct dir_listing {
	struct dir_name *names;
	size_t count;
	struct name_arena text;
};

/* a name adopt_file is given that the folder's arena does not hold */
#define NAME_NOT_HELD UINT32_MAX

static int dir_list(const char *path, struct dir_listing *list);
static size_t unique_len(const char *name);
static void listing_free(struct dir_listing *list);
static int make_durable(int fd);
static int lease_write(struct mailbox *mb);
static int lease_read(struct mailbox *mb, bool *found_r);
static int mailbox_load(struct mailbox *mb, struct mailbox_error *error_r);
static int keywords_load(struct mailbox *mb);
static int index_write(struct mailbox *mb, bool durable);
static void index_changed(struct mailbox *mb);
static int uid_next(struct mailbox *mb, uint32_t *uid_r);
static int modseq_next(struct mailbox *mb, uint64_t *modseq_r);
static int sync_locked(struct mailbox *mb, bool rebuild, struct mailbox_error *error_r);
static void views_fill_lazy(struct mailbox *mb);
static struct mailbox_msg *msg_find(struct mailbox *mb, uint32_t uid);
static void msg_add(struct mailbox *mb, const struct mailbox_msg *msg);
static void msgs_room(struct mailbox *mb, size_t n);
static void msgs_fit(struct mailbox *mb);
static void totals_publish(struct mailbox *mb);
static void watches_fire(struct mailbox *mb);
static void mailbox_close_write(struct mailbox *mb);
static void mailbox_free(struct mailbox *mb);
static char *cur_path(struct mailbox *mb, const char *name);
static int expunge_locked(struct mailbox *mb, const uint32_t *uids, size_t n, bool force,
			  uint32_t **expunged_r, size_t *count_r, struct mailbox_error *error_r);
static int dir_sync_path(const char *path);
static size_t mailbox_bytes(const struct mailbox *mb);
static void registry_remove(struct mailbox *mb);
static struct mailbox **cache_evict(size_t budget);
static void evicted_write(struct mailbox **evicted);
static void close_finish(struct mailbox *mb, bool keep, size_t bytes);
static bool is_unwritten(const struct mailbox *mb);
static void mailbox_free_list(struct mailbox *list);
static bool msg_is_live(void *arg, uint32_t uid);
static void cur_own_note(struct mailbox *mb, bool in_step);
static bool cur_mtime_is(const struct mailbox *mb, const struct timespec *t);

int mailbox_error_set(struct mailbox_error *error_r, enum mailbox_error_code code,
		      const char *text, int sys_errno)
{
	if (error_r) {
		error_r->code = code;
		error_r->text = text;
		error_r->sys_errno = sys_errno;
	}
	return -1;
}

int mailbox_error_sys(struct mailbox_error *error_r, const char *text)
{
	int err = errno;
	return mailbox_error_set(error_r, MAILBOX_ERROR_TEMPORARY, text, err);
}

void mailbox_setup(struct syncer *syncer, const char *hostname)
{
	mailbox_syncer = syncer;
	mailbox_hostname = hostname;
}

char *mailbox_account_path(const char *data_dir, const char *address)
{
	return local_account_mailbox_path(data_dir, address);
}

/* ---- small file helpers ---- */

/* dir_list - the names in PATH that do not start with '.' into LIST (given
 * zeroed), and whether each is a regular file by the listing's file type
 * (not known where the file system gives none: DT_UNKNOWN); LIST freed on
 * error */
static int dir_list(const char *path, struct dir_listing *list)
{
	DIR *dir = opendir(path);
	struct dirent *de;
	size_t cap = 0;

	if (!dir)
		return -1;
	errno = 0;
	while ((de = readdir(dir)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (list->count == UINT32_MAX) {   /* (a sync's lists count in 32 bits) */
			errno = EOVERFLOW;
			break;
		}
		if (list->count == cap) {
			cap = cap ? cap * 2 : 64;
			list->names = xrealloc(list->names, cap * sizeof(*list->names));
		}
		list->names[list->count++] = (struct dir_name){
			.at = name_arena_add(&list->text, de->d_name),
			.unique_len = (uint32_t)unique_len(de->d_name),
			.regular = de->d_type == DT_REG,
		};
		errno = 0;
	}
	int err = errno;
	if (closedir(dir) != 0 && err == 0)
		err = errno;
	if (err != 0) {
		listing_free(list);
		errno = err;
		return -1;
	}
	return 0;
}

static void listing_free(struct dir_listing *list)
{
	name_arena_free(&list->text);
	free(list->names);
	*list = (struct dir_listing){ 0 };
}

/* make_durable - FD's writes on stable storage: the syncer's group commit
 * when it covers FD, else fsync */
static int make_durable(int fd)
{
	if (!mailbox_syncer || !syncer_covers(mailbox_syncer, fd))
		return fsync(fd);
	int err = 0;
	if (syncer_wait(mailbox_syncer, &err) != 0) {
		errno = err;
		return -1;
	}
	return 0;
}

/* dir_sync_path - make PATH's (a folder's) entries durable */
static int dir_sync_path(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int r = make_durable(fd);
	int err = errno;
	if (close(fd) != 0 && r == 0)
		return -1;
	errno = err;
	return r;
}

/* file_write_begin - a file to be written beside DIR/NAME (*TMP_R, caller
 * frees) and put in its place by file_write_end; -1 with errno */
static int file_write_begin(const char *dir, const char *name, char **tmp_r)
{
	*tmp_r = xasprintf("%s/%s.tmp", dir, name);
	return open(*tmp_r, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
}

/* file_write_end - FD (from file_write_begin, closed here) becomes DIR/NAME
 * if OK (false: written in part, it is removed); DURABLE: the file and DIR
 * fsync'ed too; -1 with errno */
static int file_write_end(int fd, char *tmp, const char *dir, const char *name, bool ok,
			  bool durable)
{
	int ret = -1, err = errno;   /* (the write's, when not OK) */
	char *path = xasprintf("%s/%s", dir, name);
	if (!ok || (durable && fsync(fd) != 0)) {
		if (ok)
			err = errno;
		(void)close(fd);
		errno = err;
		goto fail;
	}
	if (close(fd) != 0 || rename(tmp, path) != 0)
		goto fail;
	if (durable && path_fsync(dir) != 0)
		goto fail;
	ret = 0;
	goto out;
fail:
	err = errno;
	(void)unlink(tmp);
	errno = err;
out:
	free(tmp);
	free(path);
	return ret;
}

/* mailbox_file_write - DIR/NAME holds DATA: written to DIR/NAME.tmp and
 * renamed over; with DURABLE the file and DIR are fsync'ed */
int mailbox_file_write(const char *dir, const char *name, const void *data, size_t len,
		       bool durable)
{
	char *tmp;
	int fd = file_write_begin(dir, name, &tmp);
	if (fd < 0) {
		int err = errno;
		free(tmp);
		errno = err;
		return -1;
	}
	return file_write_end(fd, tmp, dir, name, fd_write_all(fd, data, len) == 0, durable);
}

/* mailbox_file_read - the whole of PATH (at most FILE_READ_MAX bytes), NUL-terminated */
int mailbox_file_read(const char *path, char **data_r, size_t *len_r)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct buf b;
	char chunk[65536];
	ssize_t n;

	if (fd < 0)
		return -1;
	buf_init(&b);
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || b.len + (size_t)n > FILE_READ_MAX) {
			int err = n < 0 ? errno : EFBIG;
			buf_free(&b);
			(void)close(fd);
			errno = err;
			return -1;
		}
		buf_append(&b, chunk, (size_t)n);
	}
	if (close(fd) != 0) {
		buf_free(&b);
		return -1;
	}
	*data_r = b.data ? b.data : xstrdup("");
	*len_r = b.len;
	return 0;
}

/* ---- leases, keywords, index ---- */

/* lease_write - petrel.uidvalidity: "V <uidvalidity>\nU <uid lease>\nM
 * <modseq lease>\n", durable before any UID or MODSEQ under it is used */
static int lease_write(struct mailbox *mb)
{
	char text[128];
	int n = snprintf(text, sizeof(text), "V %lu\nU %lu\nM %llu\n",
			 (unsigned long)mb->uidvalidity, (unsigned long)mb->uid_lease,
			 (unsigned long long)mb->modseq_lease);
	return mailbox_file_write(mb->path, MAILBOX_UIDVALIDITY_FILE, text, (size_t)n, true);
}

static int lease_read(struct mailbox *mb, bool *found_r)
{
	char *path = xasprintf("%s/%s", mb->path, MAILBOX_UIDVALIDITY_FILE), *data = NULL;
	size_t len;
	unsigned long v = 0, u = 0;
	unsigned long long m = 0;

	*found_r = false;
	int r = mailbox_file_read(path, &data, &len);
	free(path);
	if (r != 0)
		return errno == ENOENT ? 0 : -1;
	/* a damaged file counts as missing: the index, or a new UIDVALIDITY */
	if (sscanf(data, "V %lu\nU %lu\nM %llu", &v, &u, &m) == 3 && v > 0 && v <= UINT32_MAX &&
	    u <= UINT32_MAX) {
		mb->uidvalidity = (uint32_t)v;
		mb->uid_lease = (uint32_t)u;
		mb->modseq_lease = m;
		*found_r = true;
	}
	free(data);
	return 0;
}

/* keywords_load - petrel.keywords: one keyword a line, line N keyword N */
static int keywords_load(struct mailbox *mb)
{
	char *path = xasprintf("%s/%s", mb->path, MAILBOX_KEYWORDS_FILE), *data = NULL;
	size_t len;
	int r = mailbox_file_read(path, &data, &len);
	free(path);
	if (r != 0)
		return errno == ENOENT ? 0 : -1;
	char *save = NULL;
	for (char *line = strtok_r(data, "\n", &save); line && mb->keyword_count < MAILBOX_KEYWORDS_MAX;
	     line = strtok_r(NULL, "\n", &save))
		mb->keywords[mb->keyword_count++] = xstrdup(line);
	free(data);
	return 0;
}

/* index_record_of - mailbox_index_record_fn of a folder's table (lock held) */
static void index_record_of(void *arg, size_t i, struct mailbox_index_record *rec_r)
{
	const struct mailbox *mb = arg;
	const struct mailbox_msg *m = &mb->msgs[i];
	*rec_r = (struct mailbox_index_record){
		.uid = m->uid, .flags = m->flags, .modseq = m->modseq, .size = m->size,
		.internal_date = m->internal_date, .keywords = m->keywords,
		.name = (char *)name_arena_get(&mb->names, m->name),
	};
}

/* index_stream - write MB's index to FD a piece at a time (256 KiB: not
 * the 11 MB of a 100,000-message folder's index at once), its checksum
 * last; -1 with errno */
static int index_stream(struct mailbox *mb, const struct mailbox_index *head, int fd)
{
	struct mailbox_index_encoder enc;
	struct buf piece;
	int ret = 0;
	mailbox_index_encoder_init(&enc, head, index_record_of, mb);
	buf_init(&piece);
	while (ret == 0 && mailbox_index_encoder_next(&enc, &piece, 256u << 10)) {
		ret = fd_write_all(fd, piece.data, piece.len);
		piece.len = 0;
	}
	buf_free(&piece);
	if (ret != 0)
		return -1;
	unsigned char sum[8];
	le64_put(sum, mailbox_index_encoder_checksum(&enc));
	ssize_t n = pwrite(fd, sum, sizeof(sum), MAILBOX_INDEX_CHECKSUM_AT);
	if (n != (ssize_t)sizeof(sum)) {
		if (n >= 0)
			errno = EIO;
		return -1;
	}
	return 0;
}

/* index_write - petrel.index from the messages; DURABLE when the folder
 * is closed (see the head) */
static int index_write(struct mailbox *mb, bool durable)
{
	struct mailbox_index head = {
		.uidvalidity = mb->uidvalidity, .uidnext = mb->uidnext,
		.highestmodseq = mb->highestmodseq, .count = mb->count,
	};
	struct timespec recorded = { 0 };

	/* cur/ as the last scan found it settled: the next load need not read
	 * cur/ again while its mtime stays the same.  A change made since by
	 * this process (a flag's rename, an APPEND, an expunge) changed the
	 * mtime too, so the record is then merely stale, never wrong */
	if (mb->cur_settled)
		recorded = mb->cur_mtime;
	head.cur_mtime_sec = (int64_t)recorded.tv_sec;
	head.cur_mtime_nsec = (uint32_t)recorded.tv_nsec;

	char *tmp;
	int r = -1, fd = file_write_begin(mb->path, MAILBOX_INDEX_FILE, &tmp);
	if (fd >= 0)
		r = file_write_end(fd, tmp, mb->path, MAILBOX_INDEX_FILE,
				   index_stream(mb, &head, fd) == 0, durable);
	else
		free(tmp);
	if (r != 0) {
		log_warn("mailbox_index_write", "path=%s error=\"%s\"", mb->path, strerror(errno));
	} else {
		mb->index_dirty = 0;
		mb->dates_read = false;
		mb->index_cur_mtime = recorded;
	}
	return r;
}

/* index_changed - count a change; rewrite the index once they are many
 * against its size (a large folder is not rewritten at every STORE: what
 * a crash takes from an old index, the next sync takes from the names) */
static void index_changed(struct mailbox *mb)
{
	if (++mb->index_dirty >= INDEX_DIRTY_MIN + mb->count / 16)
		(void)index_write(mb, false);
}

/* uid_next - the next UID, renewing the lease first when it is used up */
static int uid_next(struct mailbox *mb, uint32_t *uid_r)
{
	if (mb->uidnext == UINT32_MAX) {
		errno = EOVERFLOW;
		return -1;
	}
	if (mb->uidnext >= mb->uid_lease) {
		uint32_t old = mb->uid_lease;
		mb->uid_lease = mb->uidnext > UINT32_MAX - UID_LEASE ? UINT32_MAX
								    : mb->uidnext + UID_LEASE;
		if (lease_write(mb) != 0) {
			mb->uid_lease = old;
			return -1;
		}
	}
	*uid_r = mb->uidnext++;
	return 0;
}

static int modseq_next(struct mailbox *mb, uint64_t *modseq_r)
{
	if (mb->highestmodseq + 1 > mb->modseq_lease) {
		uint64_t old = mb->modseq_lease;
		mb->modseq_lease = mb->highestmodseq + MODSEQ_LEASE;
		if (lease_write(mb) != 0) {
			mb->modseq_lease = old;
			return -1;
		}
	}
	*modseq_r = ++mb->highestmodseq;
	return 0;
}

/* mailbox_load - UIDVALIDITY, leases, keywords and the index of a folder
 * just opened; a missing or refused index means a rebuild from the names */
static int mailbox_load(struct mailbox *mb, struct mailbox_error *error_r)
{
	bool have_lease = false, rebuild = true;
	char *path = NULL, *data = NULL;
	size_t len = 0;
	struct mailbox_index index = { 0 };
	const char *why = "missing";

	if (lease_read(mb, &have_lease) != 0 || keywords_load(mb) != 0)
		return mailbox_error_sys(error_r, "cannot read the folder's state");
	path = xasprintf("%s/%s", mb->path, MAILBOX_INDEX_FILE);
	bool had_index = false;
	if (mailbox_file_read(path, &data, &len) == 0) {
		had_index = true;
		if (mailbox_index_parse(data, len, &index, &why) == 0) {
			if (!have_lease || index.uidvalidity == mb->uidvalidity) {
				rebuild = false;
			} else {
				why = "UIDVALIDITY differs from petrel.uidvalidity";
				mailbox_index_free(&index);
			}
		}
	} else if (errno != ENOENT) {
		free(path);
		return mailbox_error_sys(error_r, "cannot read the index");
	}
	free(path);
	free(data);
	if (!rebuild) {
		mb->uidvalidity = index.uidvalidity;
		mb->uidnext = index.uidnext;
		mb->highestmodseq = index.highestmodseq;
		/* not closed cleanly (the leases are not exactly the index's):
		 * UIDs and MODSEQs may have been handed out after this index was
		 * written, so go on from the leases, above all of them */
		if (have_lease && (mb->uid_lease != mb->uidnext ||
				   mb->modseq_lease != mb->highestmodseq)) {
			/* files named after the index was written keep their UIDs */
			mb->keep_from = mb->uidnext;
			if (mb->uid_lease > mb->uidnext)
				mb->uidnext = mb->uid_lease;
			if (mb->modseq_lease > mb->highestmodseq)
				mb->highestmodseq = mb->modseq_lease;
		}
		mb->msgs = xcalloc(index.count ? index.count : 1, sizeof(*mb->msgs));
		mb->cap = index.count ? index.count : 1;
		size_t names_len = 0;
		for (size_t i = 0; i < index.count; i++)
			names_len += strlen(index.records[i].name) + 1;
		name_arena_reserve(&mb->names, names_len);
		for (size_t i = 0; i < index.count; i++) {
			struct mailbox_index_record *r = &index.records[i];
			mb->msgs[i] = (struct mailbox_msg){
				.uid = r->uid, .flags = r->flags, .keywords = r->keywords,
				.modseq = r->modseq, .size = r->size,
				.internal_date = r->internal_date,
				.name = name_arena_add(&mb->names, r->name),
			};
			mb->total_size += r->size;
		}
		mb->count = index.count;
		mb->removals++;
		/* the records are cur/ as it was at this mtime: if it still has
		 * it, the sync below need not read cur/ (only new/) */
		if (index.cur_mtime_sec != 0 || index.cur_mtime_nsec != 0) {
			mb->cur_mtime.tv_sec = (time_t)index.cur_mtime_sec;
			mb->cur_mtime.tv_nsec = (long)index.cur_mtime_nsec;
			mb->index_cur_mtime = mb->cur_mtime;
			mb->cur_settled = true;
		}
		mailbox_index_free(&index);
		if (!have_lease || mb->uid_lease < mb->uidnext || mb->modseq_lease < mb->highestmodseq) {
			if (mb->uid_lease < mb->uidnext)
				mb->uid_lease = mb->uidnext;
			if (mb->modseq_lease < mb->highestmodseq)
				mb->modseq_lease = mb->highestmodseq;
			if (lease_write(mb) != 0)
				return mailbox_error_sys(error_r, "cannot write the folder's UIDVALIDITY");
		}
		/* \Recent from here on: what this load finds in new/ */
		mb->recent_uid = mb->uidnext;
		if (sync_locked(mb, false, error_r) != 0)
			return -1;
		totals_publish(mb);
		return 0;
	}
	/* rebuild: UIDs from the names, UIDNEXT and MODSEQ from the leases */
	if (!have_lease) {
		mb->uidvalidity = (uint32_t)time(NULL);
		mb->uid_lease = 1;
		mb->modseq_lease = 0;
	}
	if (had_index || have_lease)
		log_warn("mailbox_index_rebuild", "path=%s reason=\"%s\"", mb->path, why);
	mb->uidnext = mb->uid_lease > 0 ? mb->uid_lease : 1;
	mb->highestmodseq = mb->modseq_lease;
	if (!have_lease && lease_write(mb) != 0)
		return mailbox_error_sys(error_r, "cannot write the folder's UIDVALIDITY");
	mb->recent_uid = mb->uidnext;
	return sync_locked(mb, true, error_r);
}

/* ---- the sync ---- */

static size_t unique_len(const char *name)
{
	return strcspn(name, ",:");
}

static int unique_cmp(const char *a, const char *b)
{
	size_t la = unique_len(a), lb = unique_len(b);
	int c = memcmp(a, b, la < lb ? la : lb);
	return c ? c : (la < lb ? -1 : la > lb);
}

/* names_cmp - listed names by unique part, then whole: the unique parts'
 * lengths found at the listing (a strcspn of both names at each of the
 * 1.7 million comparisons of a 100,000-name cur/ was a tenth of a first
 * SELECT) */
static int names_cmp(const void *a, const void *b, void *text)
{
	const struct dir_name *x = a, *y = b;
	const char *xn = name_arena_get(text, x->at), *yn = name_arena_get(text, y->at);
	uint32_t la = x->unique_len, lb = y->unique_len;
	int c = memcmp(xn, yn, la < lb ? la : lb);
	if (c == 0)
		c = la < lb ? -1 : la > lb;
	return c ? c : strcmp(xn, yn);
}

static int order_cmp(const void *a, const void *b, void *mailbox)
{
	const struct mailbox *mb = mailbox;
	return unique_cmp(name_arena_get(&mb->names, mb->msgs[*(const size_t *)a].name),
			  name_arena_get(&mb->names, mb->msgs[*(const size_t *)b].name));
}

static int msg_uid_cmp(const void *a, const void *b)
{
	const struct mailbox_msg *x = a, *y = b;
	return x->uid < y->uid ? -1 : x->uid > y->uid;
}

static char *cur_path(struct mailbox *mb, const char *name)
{
	return xasprintf("%s/cur/%s", mb->path, name);
}

/* msg_name - M's file name (good until the next name is added) */
static const char *msg_name(const struct mailbox *mb, const struct mailbox_msg *m)
{
	return name_arena_get(&mb->names, m->name);
}

/* names_tidy - the names of messages renamed or gone reclaimed, when
 * they are half the buffer (lock held) */
static void names_tidy(struct mailbox *mb)
{
	if (mb->count == 0)
		name_arena_free(&mb->names);
	else
		(void)name_arena_compact(&mb->names, &mb->msgs[0].name, mb->count,
					 sizeof(*mb->msgs));
}

/* msg_path - M's file in cur/ (caller frees) */
static char *msg_path(struct mailbox *mb, const struct mailbox_msg *m)
{
	return cur_path(mb, msg_name(mb, m));
}

/* a file of cur/ the index does not know: 12 bytes (a 100,000-message
 * folder's first open lists them all); its name parsed again when adopted */
struct foreign {
	uint32_t at;       /* its name in the listing */
	uint32_t uid;      /* the UID its name claims (has_uid) */
	bool has_uid;
	bool dup;          /* same unique as another file: needs a new unique */
	bool regular;      /* a regular file, says the listing */
	bool keep_uid;
};

/* the listing the foreign files are in, for foreign_cmp */
struct foreign_order {
	const struct dir_name *names;
	const struct name_arena *text;
};

/* foreign_cmp - (qsort_r with a struct foreign_order) those that keep
 * their UID first, by UID, then the rest by name */
static int foreign_cmp(const void *a, const void *b, void *order)
{
	const struct foreign *x = a, *y = b;
	const struct foreign_order *o = order;
	if (x->keep_uid != y->keep_uid)
		return x->keep_uid ? -1 : 1;
	if (x->keep_uid && x->uid != y->uid)
		return x->uid < y->uid ? -1 : 1;
	return strcmp(name_arena_get(o->text, o->names[x->at].at),
		      name_arena_get(o->text, o->names[y->at].at));
}

/* uid_reserve - one lease (petrel.uidvalidity written once) for all the
 * UIDs a sync is about to hand out: the NFOREIGN files of cur/, those
 * that keep the UID of their name up to the highest, and NFRESH of new/ */
static int uid_reserve(struct mailbox *mb, const struct foreign *foreign, size_t nforeign,
		       size_t nfresh)
{
	uint64_t next = mb->uidnext, needed = nfresh;
	for (size_t i = 0; i < nforeign; i++) {
		if (!foreign[i].keep_uid)
			needed++;
		else if ((uint64_t)foreign[i].uid + 1 > next)
			next = (uint64_t)foreign[i].uid + 1;
	}
	if (next + needed <= mb->uid_lease)
		return 0;
	uint32_t old = mb->uid_lease;
	uint64_t lease = next + needed + UID_LEASE;
	mb->uid_lease = lease > UINT32_MAX ? UINT32_MAX : (uint32_t)lease;
	if (lease_write(mb) != 0) {
		mb->uid_lease = old;
		return -1;
	}
	return 0;
}

/* file_move - FROM renamed to TO, never replacing a file of that name
 * (RENAME_NOREPLACE; link and unlink where the file system lacks it) */
static int file_move(const char *from, const char *to)
{
	if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	if (link(from, to) != 0)
		return -1;
	return unlink(from);
}

/* adopt_named - adopt_file's way for a file of cur/ that the listing
 * calls regular and whose name has its size and needs no rename (it
 * claims no UID, or UID and this size already): taken as it is, with no
 * lstat (a large folder's first open was one per file); its internal
 * date is read at the first need (msg_date).  False when it is not such
 * a file */
static bool adopt_named(struct mailbox *mb, const char *name, uint32_t held,
			const struct mailbox_filename *f, bool regular, uint32_t uid,
			uint64_t modseq, struct mailbox_msg *msg)
{
	if (!regular || !f->has_size || f->size >> MSG_SIZE_BITS != 0)
		return false;   /* (a size no file has: lstat it) */
	if (f->has_uid) {
		struct buf same;
		buf_init(&same);
		mailbox_filename_format(&same, name, f->unique_len, f->size, uid, f->flags,
					f->keywords);
		bool named = strcmp(same.data, name) == 0;
		buf_free(&same);
		if (!named)
			return false;
	}
	*msg = (struct mailbox_msg){
		.uid = uid, .flags = f->flags, .keywords = f->keywords, .modseq = modseq,
		.size = f->size, .internal_date = MAILBOX_DATE_UNKNOWN,
		.name = held != NAME_NOT_HELD ? held : name_arena_add(&mb->names, name),
	};
	return true;
}

/* adopt_file - give file DIR/NAME (in new/ or cur/) its place in cur/
 * under UID: moved from new/ (or renamed in cur/: a copied unique, a name
 * claiming another UID) with UID and size in its name, or left as it is in
 * cur/ when its name claims no UID; REGULAR: the listing says a regular
 * file; fills *MSG.  HELD: where the folder's arena holds NAME already
 * (its first listing; NAME points there, and the message takes it if it
 * keeps its name), or NAME_NOT_HELD.  1 done, 0 the file vanished, -1
 * error */
static int adopt_file(struct mailbox *mb, const char *dir, const char *name, uint32_t held,
		      const struct mailbox_filename *f, bool new_unique, bool regular,
		      uint32_t uid, uint64_t modseq, struct mailbox_msg *msg)
{
	if (strcmp(dir, "cur") == 0 && !new_unique &&
	    adopt_named(mb, name, held, f, regular, uid, modseq, msg))
		return 1;
	char *from = xasprintf("%s/%s/%s", mb->path, dir, name);
	struct stat st;
	struct buf to_name;
	int ret = -1;

	buf_init(&to_name);
	if (lstat(from, &st) != 0) {
		ret = errno == ENOENT ? 0 : -1;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = 0;   /* not a message: left alone */
		goto out;
	}
	if (new_unique)
		local_maildir_unique_name(mailbox_hostname, &to_name);
	else
		buf_append(&to_name, name, f->unique_len);
	char *unique = xstrdup(to_name.data);
	buf_reset(&to_name);
	mailbox_filename_format(&to_name, unique, strlen(unique), (uint64_t)st.st_size, uid,
				f->flags, f->keywords);
	free(unique);
	/* a file of cur/ whose name claims no UID keeps its name: its UID is
	 * in the index, which the sync writes durably (renaming every file of
	 * a large folder another program filled was most of its first open) */
	bool keep_name = strcmp(dir, "cur") == 0 && !new_unique && !f->has_uid;
	if (keep_name) {
		buf_reset(&to_name);
		buf_append_str(&to_name, name);
	} else if (strcmp(dir, "cur") != 0 || strcmp(name, to_name.data) != 0) {
		char *to = cur_path(mb, to_name.data);
		int r = file_move(from, to);
		int err = errno;
		free(to);
		if (r != 0) {
			ret = err == ENOENT ? 0 : -1;
			errno = err;
			goto out;
		}
	}
	/* (NAME, if held, is read before the arena grows) */
	bool same = held != NAME_NOT_HELD && strcmp(to_name.data, name) == 0;
	*msg = (struct mailbox_msg){
		.uid = uid, .flags = f->flags, .keywords = f->keywords, .modseq = modseq,
		.size = (uint64_t)st.st_size, .internal_date = (int64_t)st.st_mtime,
		.name = same ? held : name_arena_add(&mb->names, to_name.data),
	};
	ret = 1;
out:
	free(from);
	buf_free(&to_name);
	return ret;
}

/* sync_locked - see mailbox_sync; REBUILD: there are no messages yet and
 * every UID in a name is taken unless two files claim it */
static int sync_locked(struct mailbox *mb, bool rebuild, struct mailbox_error *error_r)
{
	struct dir_listing cur_list = { 0 }, fresh_list = { 0 };
	bool names_taken = false;   /* cur_list's names are the folder's */
	struct dir_name *cur = NULL, *fresh = NULL;
	size_t ncur = 0, nfresh = 0, nforeign = 0, nadded = 0, nunnamed = 0;
	size_t *order = NULL;
	bool *seen = NULL, changed = rebuild;
	struct foreign *foreign = NULL;
	uint64_t modseq = 0;
	int ret = -1;

	if (mb->deleted)
		return mailbox_error_set(error_r, MAILBOX_ERROR_DELETED, "the folder was deleted", 0);
	uint32_t keep_from = mb->keep_from ? mb->keep_from : mb->uidnext;
	char *cur_dir = xasprintf("%s/cur", mb->path), *new_dir = xasprintf("%s/new", mb->path);
	struct stat cur_st;
	struct timespec now;
	if (dir_list(new_dir, &fresh_list) != 0 || clock_gettime(CLOCK_REALTIME, &now) != 0 ||
	    stat(cur_dir, &cur_st) != 0)
		goto list_fail;
	fresh = fresh_list.names;
	nfresh = fresh_list.count;
	/* nothing new and cur/ as it was at a scan that found it settled
	 * (unchanged for over a second, so a change since would show in its
	 * mtime), or as our own last change left it: no need to read cur/
	 * again, the costly part of a large folder */
	bool cur_same = (mb->cur_settled || mb->cur_own) &&
			cur_st.st_mtim.tv_sec == mb->cur_mtime.tv_sec &&
			cur_st.st_mtim.tv_nsec == mb->cur_mtime.tv_nsec;
	/* our own change's time, now a second old: read cur/ once to see
	 * what another program may have done in the same tick */
	if (cur_same && mb->cur_own && cur_st.st_mtim.tv_sec < now.tv_sec - 1)
		cur_same = false;
	if (!rebuild && cur_same && nfresh == 0) {
		ret = 0;
		goto out;
	}
	mb->cur_settled = false;
	mb->cur_own = false;
	/* only new/ has something: cur/ is as msgs says, and what is adopted
	 * from new/ is this process's own change to it (cur_own_note below) */
	bool cur_skip = !rebuild && cur_same;
	if (!cur_skip && dir_list(cur_dir, &cur_list) != 0) {
list_fail:
		if (errno == ENOENT) {
			mailbox_error_set(error_r, MAILBOX_ERROR_NONEXISTENT, "the folder is gone", 0);
			goto out;
		}
		mailbox_error_sys(error_r, "cannot read the folder");
		goto out;
	}
	cur = cur_list.names;
	ncur = cur_list.count;
	/* a folder with no messages yet (its first listing): the listing's
	 * names become the folder's, so those adopted as they are (all of a
	 * folder another program filled) are not copied; what no message
	 * took is counted dead at the end (names_tidy) */
	names_taken = ncur > 0 && mb->count == 0 && mb->names.len == 0;
	if (names_taken) {
		name_arena_free(&mb->names);
		mb->names = cur_list.text;
		name_arena_init(&cur_list.text);
	}
	struct name_arena *cur_text = names_taken ? &mb->names : &cur_list.text;
	/* match cur/ against the messages by unique name */
	if (ncur > 1)
		qsort_r(cur, ncur, sizeof(*cur), names_cmp, cur_text);
	order = xcalloc(mb->count + 1, sizeof(*order));
	seen = xcalloc(mb->count + 1, sizeof(*seen));
	for (size_t i = 0; i < mb->count; i++) {
		order[i] = i;
		seen[i] = cur_skip;
	}
	if (mb->count > 1 && !cur_skip)
		qsort_r(order, mb->count, sizeof(*order), order_cmp, mb);
	foreign = xcalloc(ncur + 1, sizeof(*foreign));
	size_t k = 0;
	const char *prev = NULL;   /* cur[i - 1], which may have moved into a message */
	for (size_t i = 0; i < ncur; i++) {
		const char *name = name_arena_get(cur_text, cur[i].at);
		int c = 1;
		while (k < mb->count &&
		       (c = unique_cmp(name, name_arena_get(&mb->names, mb->msgs[order[k]].name))) > 0)
			k++;
		bool dup = prev && unique_cmp(prev, name) == 0;
		prev = name;
		if (k < mb->count && c == 0 && !seen[order[k]]) {
			struct mailbox_msg *m = &mb->msgs[order[k]];
			seen[order[k]] = true;
			if (strcmp(name_arena_get(&mb->names, m->name), name) != 0) {
				struct mailbox_filename f;
				(void)mailbox_filename_parse(name, &f);
				uint64_t kw = (m->keywords & ~UINT64_C(0x3ffffff)) | f.keywords;
				if (f.flags != m->flags || kw != m->keywords) {
					if (!modseq && modseq_next(mb, &modseq) != 0)
						goto sys_fail;
					m->flags = f.flags;
					m->keywords = kw;
					m->modseq = modseq;
				}
				name_arena_drop(&mb->names, m->name);
				m->name = name_arena_add(&mb->names, name);
				changed = true;
			}
			continue;
		}
		struct mailbox_filename f;
		if (!mailbox_filename_parse(name, &f))
			continue;
		foreign[nforeign++] = (struct foreign){ .at = (uint32_t)i, .uid = f.uid,
							.has_uid = f.has_uid, .dup = dup,
							.regular = cur[i].regular };
	}
	/* messages whose file is gone were expunged by another program */
	size_t w = 0;
	for (size_t i = 0; i < mb->count; i++) {
		if (seen[i]) {
			mb->msgs[w++] = mb->msgs[i];
			continue;
		}
		/* (a MODSEQ at the first removal, before anything changed:
		 * a failure leaves the table as it was) */
		if (!modseq && modseq_next(mb, &modseq) != 0)
			goto sys_fail;
		if (w == i)   /* the first removal: the table still whole */
			views_fill_lazy(mb);
		mb->total_size -= mb->msgs[i].size;
		name_arena_drop(&mb->names, mb->msgs[i].name);
		mb->removals++;
		changed = true;
	}
	mb->count = w;
	/* files in cur/ unknown to the index: keep their UID when it can be
	 * theirs (above UIDNEXT, or any unclaimed one in a rebuild) */
	for (size_t i = 0; i < nforeign; i++) {
		struct foreign *fo = &foreign[i];
		fo->keep_uid = fo->has_uid && !fo->dup && (rebuild || fo->uid >= keep_from);
	}
	struct foreign_order forder = { cur, cur_text };
	if (nforeign > 1)
		qsort_r(foreign, nforeign, sizeof(*foreign), foreign_cmp, &forder);
	for (size_t i = 1; i < nforeign; i++) {
		if (foreign[i].keep_uid && foreign[i - 1].keep_uid &&
		    foreign[i].uid == foreign[i - 1].uid)
			foreign[i].keep_uid = false;
	}
	if (nforeign + nfresh > 0 && !modseq && modseq_next(mb, &modseq) != 0)
		goto sys_fail;
	if (uid_reserve(mb, foreign, nforeign, nfresh) != 0)
		goto sys_fail;
	/* what is adopted goes right after the table's messages (room made
	 * for all at once; nothing else adds to the table meanwhile), in UID
	 * order, and counts in it at the end */
	msgs_room(mb, mb->count + nforeign + nfresh);
	for (size_t i = 0; i < nforeign; i++) {
		struct foreign *fo = &foreign[i];
		struct mailbox_filename f;
		if (!fo->keep_uid)
			continue;
		if (fo->uid >= mb->uidnext)
			mb->uidnext = fo->uid + 1;
		const char *name = name_arena_get(cur_text, cur[fo->at].at);
		(void)mailbox_filename_parse(name, &f);
		int r = adopt_file(mb, "cur", name, names_taken ? cur[fo->at].at : NAME_NOT_HELD,
				   &f, false, fo->regular, fo->uid, modseq,
				   &mb->msgs[mb->count + nadded]);
		if (r < 0)
			goto sys_fail;
		nadded += (size_t)r;
	}
	for (size_t i = 0; i < nforeign; i++) {
		struct foreign *fo = &foreign[i];
		struct mailbox_filename f;
		uint32_t uid;
		if (fo->keep_uid)
			continue;
		if (uid_next(mb, &uid) != 0)
			goto sys_fail;
		const char *name = name_arena_get(cur_text, cur[fo->at].at);
		(void)mailbox_filename_parse(name, &f);
		int r = adopt_file(mb, "cur", name, names_taken ? cur[fo->at].at : NAME_NOT_HELD,
				   &f, fo->dup, fo->regular, uid, modseq,
				   &mb->msgs[mb->count + nadded]);
		if (r < 0)
			goto sys_fail;
		nadded += (size_t)r;
		nunnamed += r == 1 && !fo->dup && !fo->has_uid;
	}
	/* new/ in name order (names begin with the arrival time) */
	if (nfresh > 1)
		qsort_r(fresh, nfresh, sizeof(*fresh), names_cmp, &fresh_list.text);
	for (size_t i = 0; i < nfresh; i++) {
		struct mailbox_filename f;
		uint32_t uid;
		const char *name = name_arena_get(&fresh_list.text, fresh[i].at);
		if (!mailbox_filename_parse(name, &f))
			continue;
		if (uid_next(mb, &uid) != 0)
			goto sys_fail;
		int r = adopt_file(mb, "new", name, NAME_NOT_HELD, &f, false, false, uid, modseq,
				   &mb->msgs[mb->count + nadded]);
		if (r < 0)
			goto sys_fail;
		nadded += (size_t)r;
	}
	mb->keep_from = 0;
	mb->cur_mtime = cur_st.st_mtim;
	mb->cur_settled = cur_st.st_mtim.tv_sec < now.tv_sec - 1;
	/* what this sync put into cur/ (or renamed there) is its own change,
	 * msgs in step with it, whether or not it read cur/: without this a
	 * sync that read cur/ and adopted files recorded cur/'s mtime from
	 * before them, so the next one read cur/ again, and again at each
	 * delivery after it (115 ms of the network process for each delivery
	 * into a 100,000-message INBOX with an IDLE session).  One that read
	 * cur/ and moved nothing there (every file taken as it was named: a
	 * folder another program filled) leaves cur/ as it read it, settled
	 * or not: noted as its own change, the next sync read all of cur/
	 * again (a second listing of 100,000 names in the first SELECT) */
	if (cur_skip || (nadded > 0 && !cur_mtime_is(mb, &cur_st.st_mtim)))
		cur_own_note(mb, true);
	ret = 0;
	goto done;
sys_fail:
	mailbox_error_sys(error_r, "cannot update the folder");
done:
	/* what was adopted is in cur/ under its UID: keep it, failure or not */
	if (nadded > 1)
		qsort(mb->msgs + mb->count, nadded, sizeof(*mb->msgs), msg_uid_cmp);
	for (size_t i = 0; i < nadded; i++)
		mb->total_size += mb->msgs[mb->count + i].size;
	mb->count += nadded;
	changed |= nadded > 0;
	if (names_taken && mb->count > 0)
		name_arena_recount(&mb->names, &mb->msgs[0].name, mb->count, sizeof(*mb->msgs));
	if (changed) {
		/* UIDs that no file name holds are only in the index: durable
		 * before anyone is told of them */
		if (nunnamed > 0 && index_write(mb, true) != 0 && ret == 0)
			ret = mailbox_error_sys(error_r, "cannot write the index");
		else if (nunnamed == 0 && rebuild)
			(void)index_write(mb, false);
		else if (nunnamed == 0)
			index_changed(mb);
		atomic_fetch_add(&mb->change_seq, 1);
		totals_publish(mb);
	}
out:
	names_tidy(mb);
	free(foreign);
	free(order);
	free(seen);
	listing_free(&cur_list);
	listing_free(&fresh_list);
	free(cur_dir);
	free(new_dir);
	/* the names of a large listing go back (the listing took far longer
	 * than the trim, so holding the lock through it costs little) */
	(void)heap_trim_after(ncur + nfresh);
	return ret;
}

/* msgs_fit - after a load: the table and the names no larger than they
 * need be, give or take an eighth (their growth left up to half more) */
static void msgs_fit(struct mailbox *mb)
{
	name_arena_fit(&mb->names);
	if (mb->count > 0 && mb->cap - mb->count > mb->count / 8) {
		mb->msgs = xrealloc(mb->msgs, mb->count * sizeof(*mb->msgs));
		mb->cap = mb->count;
	}
}

/* msgs_room - room in the table for N messages: N when it grows from
 * empty (a folder's first listing), else half as much again, or 64 */
static void msgs_room(struct mailbox *mb, size_t n)
{
	if (n <= mb->cap)
		return;
	size_t cap = mb->cap == 0 ? n : mb->cap + mb->cap / 2;
	if (cap < n)
		cap = n;
	if (cap < 64)
		cap = 64;
	mb->msgs = xrealloc(mb->msgs, cap * sizeof(*mb->msgs));
	mb->cap = cap;
}

static void msg_add(struct mailbox *mb, const struct mailbox_msg *msg)
{
	msgs_room(mb, mb->count + 1);
	mb->msgs[mb->count++] = *msg;
	mb->total_size += msg->size;
}

/* msg_find - the message of UID (lock held), NULL: none.  UIDs are mostly
 * dense, so the first look is where an even spread would put UID: one
 * access instead of a binary search's 17 at 100,000 messages (the close of
 * a large folder asks for each message of its header cache, in hash order;
 * 10 to 16 ms of misses that a SELECT right after waited for) */
static struct mailbox_msg *msg_find(struct mailbox *mb, uint32_t uid)
{
	size_t lo = 0, hi = mb->count;
	if (hi == 0 || uid < mb->msgs[0].uid || uid > mb->msgs[hi - 1].uid)
		return NULL;
	uint32_t first = mb->msgs[0].uid, span = mb->msgs[hi - 1].uid - first;
	size_t guess = span ? (size_t)((uint64_t)(uid - first) * (hi - 1) / span) : 0;
	if (mb->msgs[guess].uid == uid)
		return &mb->msgs[guess];
	if (mb->msgs[guess].uid < uid)
		lo = guess + 1;
	else
		hi = guess;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (mb->msgs[mid].uid == uid)
			return &mb->msgs[mid];
		if (mb->msgs[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* totals_publish - the folder's size and count into its account's quota */
static void totals_publish(struct mailbox *mb)
{
	mailbox_account_folder_set(mb->account, mb->path, mb->total_size, mb->count);
}

/* watches_fire - tell every watch (mailbox lock not held) */
static void watches_fire(struct mailbox *mb)
{
	pthread_mutex_lock(&mb->watch_lock);
	for (struct mailbox_watch *w = mb->watches; w; w = w->next)
		w->fn(w->arg);
	pthread_mutex_unlock(&mb->watch_lock);
}

/* ---- the registry ---- */

void mailbox_registry_lock(void)
{
	pthread_mutex_lock(&registry_lock);
}

void mailbox_registry_unlock(void)
{
	pthread_mutex_unlock(&registry_lock);
}

int mailbox_open(const char *data_dir, const char *address, const char *name,
		 struct mailbox **mailbox_r, struct mailbox_error *error_r)
{
	char *account = mailbox_account_path(data_dir, address), *disk = NULL;
	int ret;

	*mailbox_r = NULL;
	if (!account)
		return mailbox_error_set(error_r, MAILBOX_ERROR_BAD_NAME, "invalid account address", 0);
	disk = mailbox_name_to_disk(name);
	if (!disk)
		ret = mailbox_error_set(error_r, MAILBOX_ERROR_BAD_NAME, "invalid folder name", 0);
	else
		ret = mailbox_open_path(account, disk, mailbox_r, error_r);
	free(account);
	free(disk);
	return ret;
}

int mailbox_open_path(const char *account_path, const char *disk_name,
		      struct mailbox **mailbox_r, struct mailbox_error *error_r)
{
	char *path = *disk_name ? xasprintf("%s/%s", account_path, disk_name) : xstrdup(account_path);
	struct mailbox *mb;
	bool fresh = false;
	int ret = -1;

	*mailbox_r = NULL;
	bool exists = false;
	struct mailbox *stale = NULL;
	pthread_mutex_lock(&registry_lock);
	for (mb = registry; mb && (mb->unlisted || strcmp(mb->path, path) != 0); mb = mb->next)
		;
	if (mb && mb->cached) {
		/* kept since its close: still the folder it closed as? */
		char *lease = xasprintf("%s/%s", path, MAILBOX_UIDVALIDITY_FILE);
		struct stat st;
		bool same = stat(lease, &st) == 0 && st.st_ino == mb->lease_ino &&
			    st.st_mtim.tv_sec == mb->lease_mtime.tv_sec &&
			    st.st_mtim.tv_nsec == mb->lease_mtime.tv_nsec;
		free(lease);
		mb->cached = false;
		cache_used -= mb->cache_bytes;
		/* \Recent as after a load: what this open's sync finds in new/
		 * (nobody else holds a kept object, so no lock is needed) */
		mb->recent_uid = mb->uidnext;
		if (!same) {
			registry_remove(mb);
			stale = mb;
			mb = NULL;
		}
	}
	if (mb) {
		mb->refs++;
	} else {
		struct stat st;
		char *cur = xasprintf("%s/cur", path);
		exists = stat(cur, &st) == 0 && S_ISDIR(st.st_mode);
		free(cur);
		if (!exists && *disk_name) {
			pthread_mutex_unlock(&registry_lock);
			free(path);
			return mailbox_error_set(error_r, MAILBOX_ERROR_NONEXISTENT, "no such folder", 0);
		}
		/* a new object, locked before others can find it: they wait
		 * for its load in their own sync */
		mb = xcalloc(1, sizeof(*mb));
		pthread_mutex_init(&mb->lock, NULL);
		pthread_mutex_init(&mb->watch_lock, NULL);
		mb->refs = 1;
		mb->path = xstrdup(path);
		mb->account_path = xstrdup(account_path);
		mb->account = mailbox_account_get(account_path);
		mb->next = registry;
		registry = mb;
		pthread_mutex_lock(&mb->lock);
		fresh = true;
	}
	pthread_mutex_unlock(&registry_lock);
	if (stale) {
		stale->next = NULL;
		mailbox_free_list(stale);
	}
	if (fresh) {
		if (!exists && local_maildir_create(path) != 0)
			mailbox_error_sys(&mb->load_error, "cannot create the mailbox");
		else if (mailbox_load(mb, &mb->load_error) == 0)
			mb->loaded = true;
		if (!mb->loaded) {
			mb->broken = true;
			if (error_r)
				*error_r = mb->load_error;
			pthread_mutex_unlock(&mb->lock);
			pthread_mutex_lock(&registry_lock);
			mb->unlisted = true;
			pthread_mutex_unlock(&registry_lock);
			mailbox_unref(&mb);
			free(path);
			return -1;
		}
		ret = 0;
	} else {
		pthread_mutex_lock(&mb->lock);
		if (mb->broken) {
			if (error_r)
				*error_r = mb->load_error;
		} else {
			ret = sync_locked(mb, false, error_r);
		}
	}
	size_t loaded = fresh ? mb->count : 0;
	if (fresh)
		msgs_fit(mb);
	pthread_mutex_unlock(&mb->lock);
	free(path);
	if (ret != 0) {
		mailbox_unref(&mb);
		return -1;
	}
	/* a load reads the index or lists cur/: what it freed goes back */
	(void)heap_trim_after(loaded);
	*mailbox_r = mb;
	return 0;
}

void mailbox_ref(struct mailbox *mailbox)
{
	pthread_mutex_lock(&registry_lock);
	mailbox->refs++;
	pthread_mutex_unlock(&registry_lock);
}

void mailbox_unref(struct mailbox **mailbox)
{
	struct mailbox *mb = *mailbox;
	if (!mb)
		return;
	*mailbox = NULL;
	pthread_mutex_lock(&registry_lock);
	bool last = --mb->refs == 0;
	if (last)
		mb->closing++;
	size_t budget = cache_budget;
	pthread_mutex_unlock(&registry_lock);
	if (!last)
		return;
	/* still in the registry while its index and leases are written: an
	 * open meanwhile takes this object (and waits for its lock) rather
	 * than loading a second one from the files being rewritten, which
	 * would then write the same files (petrel.index.tmp) at once */
	pthread_mutex_lock(&mb->lock);
	/* a folder that may be kept is written when it leaves memory
	 * (close_finish, eviction, shutdown), not at each close: rewriting a
	 * large index durably whenever its last session went (an APPEND to a
	 * folder nobody has selected) made the close cost grow with the folder */
	bool keep = budget > 0 && mb->loaded && !mb->broken && !mb->deleted;
	if (!keep)
		mailbox_close_write(mb);
	/* a kept folder keeps its header cache's table (its file closed):
	 * the next open need not read and check the whole file again */
	if (!keep || !header_cache_park(mb->header_cache, msg_is_live, mb, mb->removals))
		header_cache_close(&mb->header_cache, mb->path, mb->deleted ? NULL : msg_is_live,
				   mb);
	size_t bytes = 0;
	if (keep) {
		char *lease = xasprintf("%s/%s", mb->path, MAILBOX_UIDVALIDITY_FILE);
		struct stat st;
		keep = stat(lease, &st) == 0;
		free(lease);
		if (keep) {
			mb->lease_ino = st.st_ino;
			mb->lease_mtime = st.st_mtim;
			bytes = mailbox_bytes(mb);
		}
	}
	pthread_mutex_unlock(&mb->lock);
	close_finish(mb, keep, bytes);
}

/* is_unwritten - MB holds what its index and leases do not (lock held) */
static bool is_unwritten(const struct mailbox *mb)
{
	return mb->loaded && !mb->deleted &&
	       (mb->uid_lease != mb->uidnext || mb->modseq_lease != mb->highestmodseq ||
		mb->index_dirty != 0);
}

/* close_finish - the end of a close whose mb->closing the caller holds:
 * kept (KEEP, BYTES within the budget), or freed once nobody uses it,
 * written first if it holds what its files do not.  An object reopened
 * meanwhile is left to its new users' close */
static void close_finish(struct mailbox *mb, bool keep, size_t bytes)
{
	for (bool wrote = false;; wrote = true) {
		struct mailbox **evicted = NULL;
		bool gone = false, write = false;
		pthread_mutex_lock(&registry_lock);
		if (--mb->closing == 0 && mb->refs == 0 && !mb->cached) {
			if (keep && !mb->unlisted && bytes <= cache_budget) {
				mb->cached = true;
				mb->cache_bytes = bytes;
				mb->cache_stamp = ++cache_clock;
				cache_used += bytes;
				evicted = cache_evict(cache_budget);
			} else {
				/* registry, then mailbox: the lock order */
				pthread_mutex_lock(&mb->lock);
				write = !wrote && is_unwritten(mb);
				pthread_mutex_unlock(&mb->lock);
				if (write)
					mb->closing++;
				else
					registry_remove(mb);
				gone = !write;
			}
		}
		pthread_mutex_unlock(&registry_lock);
		evicted_write(evicted);
		if (gone)
			mailbox_free(mb);
		if (!write)
			return;
		pthread_mutex_lock(&mb->lock);
		mailbox_close_write(mb);
		pthread_mutex_unlock(&mb->lock);
		keep = false;
	}
}

/* evicted_write - each object of the NULL-ended array EVICTED (from
 * cache_evict) written as its close would have and freed; the array too */
static void evicted_write(struct mailbox **evicted)
{
	for (size_t i = 0; evicted && evicted[i]; i++) {
		struct mailbox *mb = evicted[i];
		pthread_mutex_lock(&mb->lock);
		mailbox_close_write(mb);
		pthread_mutex_unlock(&mb->lock);
		close_finish(mb, false, 0);
	}
	free(evicted);
}

/* mailbox_bytes - about what MB's state takes in memory (lock held) */
static size_t mailbox_bytes(const struct mailbox *mb)
{
	size_t bytes = sizeof(*mb) + strlen(mb->path) + strlen(mb->account_path) + 2 +
		       mb->cap * sizeof(*mb->msgs) + mb->names.cap;
	for (size_t i = 0; i < mb->keyword_count; i++)
		bytes += strlen(mb->keywords[i]) + 1;
	return bytes + header_cache_bytes(mb->header_cache);
}

/* registry_remove - MB out of the registry (registry lock held) */
static void registry_remove(struct mailbox *mb)
{
	for (struct mailbox **p = &registry; *p; p = &(*p)->next) {
		if (*p == mb) {
			*p = mb->next;
			return;
		}
	}
}

/* cache_evict - cached folders no longer kept, least recently closed
 * first, until the kept ones take at most BUDGET bytes (registry lock
 * held).  They stay in the registry, closing, until evicted_write (called
 * once the lock is released) has written them: an open meanwhile takes
 * the object rather than reading files being rewritten.  Returns a
 * NULL-ended array, or NULL when none */
static struct mailbox **cache_evict(size_t budget)
{
	struct mailbox **evicted = NULL;
	size_t n = 0;
	while (cache_used > budget) {
		struct mailbox *oldest = NULL;
		for (struct mailbox *mb = registry; mb; mb = mb->next)
			if (mb->cached && (!oldest || mb->cache_stamp < oldest->cache_stamp))
				oldest = mb;
		if (!oldest)
			break;
		oldest->cached = false;
		oldest->closing++;
		cache_used -= oldest->cache_bytes;
		evicted = xrealloc(evicted, (n + 2) * sizeof(*evicted));
		evicted[n++] = oldest;
		evicted[n] = NULL;
	}
	return evicted;
}

size_t mailbox_cache_used(void)
{
	pthread_mutex_lock(&registry_lock);
	size_t used = cache_used;
	pthread_mutex_unlock(&registry_lock);
	return used;
}

/* mailbox_free_list - free the objects chained by next */
static void mailbox_free_list(struct mailbox *list)
{
	while (list) {
		struct mailbox *next = list->next;
		mailbox_free(list);
		list = next;
	}
}

void mailbox_cache_size_set(size_t bytes)
{
	pthread_mutex_lock(&registry_lock);
	cache_budget = bytes;
	struct mailbox **evicted = cache_evict(bytes);
	pthread_mutex_unlock(&registry_lock);
	evicted_write(evicted);
}

/* mailbox_close_write - (lock held) the last reference is gone: a clean
 * close, the index durable, then the leases shrunk to exactly UIDNEXT and
 * HIGHESTMODSEQ, which tells the next load the index is whole.  The
 * object may be opened again after it (it stays as it was, whole) */
static void mailbox_close_write(struct mailbox *mb)
{
	bool clean = mb->uid_lease == mb->uidnext && mb->modseq_lease == mb->highestmodseq &&
		     mb->index_dirty == 0;
	/* (exact leases: nothing was handed out since a clean load or close,
	 * every change takes a MODSEQ and so a new lease first) */
	if (mb->loaded && !mb->deleted && !clean) {
		uint32_t uid_lease = mb->uid_lease;
		uint64_t modseq_lease = mb->modseq_lease;
		mb->uid_lease = mb->uidnext;
		mb->modseq_lease = mb->highestmodseq;
		if (index_write(mb, true) != 0 || lease_write(mb) != 0) {
			mb->uid_lease = uid_lease;
			mb->modseq_lease = modseq_lease;
			log_warn("mailbox_close", "path=%s error=\"%s\"", mb->path, strerror(errno));
		}
	} else if (mb->loaded && !mb->deleted &&
		   (mb->dates_read ||
		    (mb->cur_settled && (mb->cur_mtime.tv_sec != mb->index_cur_mtime.tv_sec ||
					 mb->cur_mtime.tv_nsec != mb->index_cur_mtime.tv_nsec)))) {
		/* unchanged, but cur/ has settled since the index was written
		 * or internal dates were read: record them, so that the next
		 * open neither reads cur/ (a large folder's costly part) nor
		 * stats those files again.  Not durable: a lost write only
		 * costs that work */
		(void)index_write(mb, false);
	}
}

/* mailbox_free - the object, out of the registry, with no reference (every
 * watch holds one) and no close running */
static void mailbox_free(struct mailbox *mb)
{
	header_cache_close(&mb->header_cache, mb->path, NULL, NULL);
	name_arena_free(&mb->names);
	for (size_t i = 0; i < mb->keyword_count; i++)
		free(mb->keywords[i]);
	free(mb->msgs);
	free(mb->path);
	free(mb->account_path);
	pthread_mutex_destroy(&mb->lock);
	pthread_mutex_destroy(&mb->watch_lock);
	free(mb);
}

void mailbox_registry_folder_deleted(const char *path)
{
	/* the caller holds the registry lock */
	for (struct mailbox *mb = registry, *next; mb; mb = next) {
		next = mb->next;
		if (mb->unlisted || strcmp(mb->path, path) != 0)
			continue;
		if (mb->cached) {
			/* nobody has it: gone with the folder */
			mb->cached = false;
			cache_used -= mb->cache_bytes;
			registry_remove(mb);
			mailbox_account_folder_forget(mb->account, mb->path);
			mailbox_free(mb);
			continue;
		}
		mb->unlisted = true;
		pthread_mutex_lock(&mb->lock);
		views_fill_lazy(mb);
		mb->deleted = true;
		name_arena_free(&mb->names);
		mb->count = 0;
		mb->removals++;
		mb->total_size = 0;
		atomic_fetch_add(&mb->change_seq, 1);
		pthread_mutex_unlock(&mb->lock);
		mailbox_account_folder_forget(mb->account, mb->path);
		watches_fire(mb);
	}
}

void mailbox_registry_folder_renamed(const char *old_path, const char *new_path)
{
	/* the caller holds the registry lock */
	size_t len = strlen(old_path);
	for (struct mailbox *mb = registry; mb; mb = mb->next) {
		if (mb->unlisted || strncmp(mb->path, old_path, len) != 0 ||
		    (mb->path[len] && mb->path[len] != '.'))
			continue;
		char *moved = xasprintf("%s%s", new_path, mb->path + len);
		pthread_mutex_lock(&mb->lock);
		mailbox_account_folder_forget(mb->account, mb->path);
		free(mb->path);
		mb->path = moved;
		totals_publish(mb);
		pthread_mutex_unlock(&mb->lock);
	}
}

/* ---- status, keywords ---- */

int mailbox_sync(struct mailbox *mailbox, struct mailbox_error *error_r)
{
	pthread_mutex_lock(&mailbox->lock);
	uint64_t before = atomic_load(&mailbox->change_seq);
	int r = sync_locked(mailbox, false, error_r);
	bool changed = atomic_load(&mailbox->change_seq) != before;
	pthread_mutex_unlock(&mailbox->lock);
	if (changed)
		watches_fire(mailbox);
	return r;
}

/* uid_lower_bound - the index of the first of COUNT items of SIZE bytes at
 * ITEMS, in UID order, each beginning with its uint32_t UID, whose UID is
 * >= UID (the folder's messages, a view's entries) */
static size_t uid_lower_bound(const void *items, size_t count, size_t size, uint32_t uid)
{
	const unsigned char *base = items;
	size_t lo = 0, hi = count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (*(const uint32_t *)(const void *)(base + mid * size) < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* status_locked - the folder's status (lock held).  The flag counts come
 * from a pass over the table kept until the folder changes (change_seq,
 * the count, and HIGHESTMODSEQ, which every flag change raises): SELECTs
 * and STATUSes of a folder at rest do not count again */
static void status_locked(struct mailbox *mb, struct mailbox_status *status_r)
{
	uint64_t seq = atomic_load(&mb->change_seq);
	if (!mb->status_valid || mb->status_seq != seq || mb->status_count != mb->count ||
	    mb->status_modseq != mb->highestmodseq) {
		uint32_t unseen = 0, deleted = 0, first_unseen = 0;
		for (size_t i = 0; i < mb->count; i++) {
			unsigned flags = mb->msgs[i].flags;
			if (!(flags & MAILBOX_FLAG_SEEN)) {
				if (unseen == 0)
					first_unseen = (uint32_t)i + 1;
				unseen++;
			}
			deleted += (flags & MAILBOX_FLAG_DELETED) != 0;
		}
		mb->status_unseen = unseen;
		mb->status_deleted = deleted;
		mb->status_first_unseen = first_unseen;
		mb->status_seq = seq;
		mb->status_count = mb->count;
		mb->status_modseq = mb->highestmodseq;
		mb->status_valid = true;
	}
	*status_r = (struct mailbox_status){
		.uidvalidity = mb->uidvalidity, .uidnext = mb->uidnext,
		.highestmodseq = mb->highestmodseq, .messages = (uint32_t)mb->count,
		.unseen = mb->status_unseen, .deleted = mb->status_deleted,
		.first_unseen = mb->status_first_unseen,
		.recent = (uint32_t)(mb->count - uid_lower_bound(mb->msgs, mb->count, sizeof(*mb->msgs),
							      mb->recent_uid)),
		.size = mb->total_size,
	};
}

void mailbox_status_get(struct mailbox *mailbox, struct mailbox_status *status_r)
{
	pthread_mutex_lock(&mailbox->lock);
	status_locked(mailbox, status_r);
	pthread_mutex_unlock(&mailbox->lock);
}

char *mailbox_path(struct mailbox *mailbox)
{
	pthread_mutex_lock(&mailbox->lock);
	char *path = xstrdup(mailbox->path);
	pthread_mutex_unlock(&mailbox->lock);
	return path;
}

/* keyword_is_valid - an IMAP atom without the flag specials (RFC 9051 9:
 * flag-keyword = atom), not a \system flag */
static bool keyword_is_valid(const char *name)
{
	bool ok = *name != '\0' && strlen(name) <= 128;
	for (const char *p = name; ok && *p; p++) {
		unsigned char c = (unsigned char)*p;
		ok = c > 0x20 && c < 0x7f && !strchr("(){%*\"\\]", c);
	}
	return ok;
}

int mailbox_keyword_find(struct mailbox *mailbox, const char *name, bool create,
			 unsigned *index_r, struct mailbox_error *error_r)
{
	int ret = -1;

	if (!keyword_is_valid(name))
		return mailbox_error_set(error_r, MAILBOX_ERROR_BAD_NAME, "invalid keyword", 0);
	pthread_mutex_lock(&mailbox->lock);
	for (size_t i = 0; i < mailbox->keyword_count; i++) {
		if (strcasecmp(mailbox->keywords[i], name) == 0) {
			*index_r = (unsigned)i;
			ret = 0;
			goto out;
		}
	}
	if (!create) {
		mailbox_error_set(error_r, MAILBOX_ERROR_NONEXISTENT, "no such keyword", 0);
		goto out;
	}
	if (mailbox->keyword_count == MAILBOX_KEYWORDS_MAX) {
		mailbox_error_set(error_r, MAILBOX_ERROR_LIMIT, "too many keywords in this folder", 0);
		goto out;
	}
	struct buf text;
	buf_init(&text);
	for (size_t i = 0; i < mailbox->keyword_count; i++)
		buf_printf(&text, "%s\n", mailbox->keywords[i]);
	buf_printf(&text, "%s\n", name);
	/* durable before any file name carries its letter */
	int r = mailbox_file_write(mailbox->path, MAILBOX_KEYWORDS_FILE, text.data, text.len, true);
	buf_free(&text);
	if (r != 0) {
		mailbox_error_sys(error_r, "cannot write the keywords");
		goto out;
	}
	*index_r = (unsigned)mailbox->keyword_count;
	mailbox->keywords[mailbox->keyword_count++] = xstrdup(name);
	atomic_fetch_add(&mailbox->change_seq, 1);
	ret = 0;
out:
	pthread_mutex_unlock(&mailbox->lock);
	return ret;
}

char **mailbox_keywords_get(struct mailbox *mailbox, size_t *count_r)
{
	pthread_mutex_lock(&mailbox->lock);
	char **names = xcalloc(mailbox->keyword_count + 1, sizeof(*names));
	for (size_t i = 0; i < mailbox->keyword_count; i++)
		names[i] = xstrdup(mailbox->keywords[i]);
	*count_r = mailbox->keyword_count;
	pthread_mutex_unlock(&mailbox->lock);
	return names;
}

/* ---- views ----
 * A view opens lazy: it copies nothing of the folder's table, so that a
 * SELECT of a large folder costs no pass over it.  Until the folder removes
 * a message, the view's entries can be had from the table at any time:
 * the messages below the view's UIDNEXT (later ones have UIDs from there
 * on), \Recent from the folder's recent_uid at the open, and each one's
 * MODSEQ when it is not above the view's HIGHESTMODSEQ (a higher one
 * changed since the open: 0, which the next update reports).  The view
 * takes them at its first use (view_own), or the folder gives them to it
 * right before it removes a message (views_fill_lazy). */

/* view_entry_set - E for message M, \Recent when no view was told of it
 * before (lock held) */
static void view_entry_set(struct view_entry *e, const struct mailbox_msg *m,
			   const struct mailbox *mb)
{
	*e = (struct view_entry){
		.uid = m->uid, .modseq = m->modseq, .recent = m->uid >= mb->recent_uid,
	};
}

/* lazy_unlink - VIEW is not in MB's lazy_views (lock held) */
static void lazy_unlink(struct mailbox *mb, struct mailbox_view *view)
{
	for (struct mailbox_view **p = &mb->lazy_views; *p; p = &(*p)->lazy_next) {
		if (*p == view) {
			*p = view->lazy_next;
			break;
		}
	}
	view->lazy_next = NULL;
}

/* view_fill_locked - lazy VIEW's entries of its own (its folder MB's lock held) */
static void view_fill_locked(struct mailbox *mb, struct mailbox_view *view)
{
	/* in huge pages when large: a fresh view's pages do not fault one by
	 * one (util/heap.h) */
	size_t bytes = (view->count ? view->count : 16) * sizeof(*view->entries);
	view->entries = heap_big_alloc(&bytes);
	view->cap = bytes / sizeof(*view->entries);
	assert(mb->removals == view->removals);
	size_t n = 0;
	for (size_t i = 0; i < mb->count && n < view->count; i++) {
		const struct mailbox_msg *m = &mb->msgs[i];
		if (m->uid >= view->uidnext)
			break;
		view->entries[n++] = (struct view_entry){
			.uid = m->uid, .recent = m->uid >= view->recent_from,
			.modseq = m->modseq <= view->highestmodseq ? m->modseq : 0,
		};
	}
	assert(n == view->count);
	lazy_unlink(mb, view);
	/* release: the view's owner reads the entries without the lock once
	 * it sees the view is no longer lazy */
	atomic_store_explicit(&view->lazy, false, memory_order_release);
}

/* views_fill_lazy - every lazy view of MB takes its entries (lock held):
 * right before MB removes a message */
static void views_fill_lazy(struct mailbox *mb)
{
	while (mb->lazy_views)
		view_fill_locked(mb, mb->lazy_views);
}

/* view_own_locked - VIEW has entries of its own (its folder's lock held) */
static void view_own_locked(struct mailbox_view *view)
{
	if (atomic_load_explicit(&view->lazy, memory_order_relaxed))
		view_fill_locked(view->mailbox, view);
}

/* view_own - VIEW has entries of its own (its folder's lock not held) */
static void view_own(struct mailbox_view *view)
{
	if (!atomic_load_explicit(&view->lazy, memory_order_acquire))
		return;
	pthread_mutex_lock(&view->mailbox->lock);
	view_own_locked(view);
	pthread_mutex_unlock(&view->mailbox->lock);
}

static int view_open(struct mailbox *mailbox, bool peek, struct mailbox_view **view_r,
		     struct mailbox_status *status_r, struct mailbox_error *error_r);

int mailbox_view_open(struct mailbox *mailbox, struct mailbox_view **view_r,
		      struct mailbox_error *error_r)
{
	return view_open(mailbox, false, view_r, NULL, error_r);
}

int mailbox_view_select(struct mailbox *mailbox, bool peek, struct mailbox_view **view_r,
			struct mailbox_status *status_r, struct mailbox_error *error_r)
{
	return view_open(mailbox, peek, view_r, status_r, error_r);
}

/* view_open - a lazy view; PEEK leaves \Recent to the next view that does
 * not; with STATUS_R, its mailbox_view_status (the folder's, as the view
 * has every message of it) */
static int view_open(struct mailbox *mailbox, bool peek, struct mailbox_view **view_r,
		     struct mailbox_status *status_r, struct mailbox_error *error_r)
{
	struct mailbox_view *view;

	*view_r = NULL;
	pthread_mutex_lock(&mailbox->lock);
	if (sync_locked(mailbox, false, error_r) != 0) {
		pthread_mutex_unlock(&mailbox->lock);
		return -1;
	}
	view = xcalloc(1, sizeof(*view));
	view->mailbox = mailbox;
	if (status_r)
		status_locked(mailbox, status_r);
	atomic_init(&view->lazy, true);
	view->recent_from = mailbox->recent_uid;
	view->removals = mailbox->removals;
	view->lazy_next = mailbox->lazy_views;
	mailbox->lazy_views = view;
	view->peek = peek;
	if (!peek)
		mailbox->recent_uid = mailbox->uidnext;
	view->count = mailbox->count;
	view->keyword_count = mailbox->keyword_count;
	view->uidvalidity = mailbox->uidvalidity;
	view->uidnext = mailbox->uidnext;
	view->highestmodseq = mailbox->highestmodseq;
	view->seen_change_seq = atomic_load(&mailbox->change_seq);
	pthread_mutex_unlock(&mailbox->lock);
	mailbox_ref(mailbox);
	*view_r = view;
	return 0;
}

void mailbox_view_free(struct mailbox_view **view)
{
	if (!*view)
		return;
	size_t count = (*view)->count;
	struct mailbox *mb = (*view)->mailbox;
	if (atomic_load_explicit(&(*view)->lazy, memory_order_acquire)) {
		pthread_mutex_lock(&mb->lock);   /* (the folder may fill it meanwhile) */
		lazy_unlink(mb, *view);
		pthread_mutex_unlock(&mb->lock);
	}
	mailbox_unref(&(*view)->mailbox);
	if ((*view)->entries)
		heap_big_free((*view)->entries, (*view)->cap * sizeof(*(*view)->entries));
	free(*view);
	*view = NULL;
	(void)heap_trim_after(count);
}

struct mailbox *mailbox_view_mailbox(struct mailbox_view *view)
{
	return view->mailbox;
}

void mailbox_view_status(struct mailbox_view *view, struct mailbox_status *status_r)
{
	struct mailbox *mb = view->mailbox;
	*status_r = (struct mailbox_status){
		.uidvalidity = view->uidvalidity, .uidnext = view->uidnext,
		.highestmodseq = view->highestmodseq, .messages = (uint32_t)view->count,
	};
	pthread_mutex_lock(&mb->lock);
	view_own_locked(view);
	/* the view and the folder both in UID order: the flags and sizes of the
	 * folder's */
	for (size_t i = 0, j = 0; i < view->count; i++) {
		const struct view_entry *e = &view->entries[i];
		status_r->recent += e->recent;
		while (j < mb->count && mb->msgs[j].uid < e->uid)
			j++;
		if (j == mb->count || mb->msgs[j].uid != e->uid)
			continue;
		const struct mailbox_msg *m = &mb->msgs[j];
		if (!(m->flags & MAILBOX_FLAG_SEEN) && status_r->unseen == 0)
			status_r->first_unseen = (uint32_t)i + 1;
		status_r->unseen += !(m->flags & MAILBOX_FLAG_SEEN);
		status_r->deleted += (m->flags & MAILBOX_FLAG_DELETED) != 0;
		status_r->size += m->size;
	}
	pthread_mutex_unlock(&mb->lock);
}

uint32_t mailbox_view_count(const struct mailbox_view *view)
{
	return (uint32_t)view->count;
}

uint32_t mailbox_view_uid(struct mailbox_view *view, uint32_t seq)
{
	view_own(view);
	return seq >= 1 && seq <= view->count ? view->entries[seq - 1].uid : 0;
}

/* view_lower_bound - the first entry with a UID >= UID */
static size_t view_lower_bound(const struct mailbox_view *view, uint32_t uid)
{
	return uid_lower_bound(view->entries, view->count, sizeof(*view->entries), uid);
}

uint32_t mailbox_view_seq(struct mailbox_view *view, uint32_t uid)
{
	view_own(view);
	size_t i = view_lower_bound(view, uid);
	return i < view->count && view->entries[i].uid == uid ? (uint32_t)(i + 1) : 0;
}

bool mailbox_view_seq_range(struct mailbox_view *view, uint32_t first_uid,
			    uint32_t last_uid, uint32_t *first_r, uint32_t *last_r)
{
	view_own(view);
	if (first_uid > last_uid) {
		uint32_t t = first_uid;
		first_uid = last_uid;
		last_uid = t;
	}
	size_t a = view_lower_bound(view, first_uid);
	size_t b = last_uid == UINT32_MAX ? view->count : view_lower_bound(view, last_uid + 1);
	if (a >= b)
		return false;
	*first_r = (uint32_t)(a + 1);
	*last_r = (uint32_t)b;
	return true;
}

/* msg_date - message UID's internal date (lock held): its file's mtime,
 * read now if the scan took the file from its name alone (adopt_named).
 * A file renamed by another program since the last sync: sync, once.
 * MAILBOX_DATE_UNKNOWN when the message or its file is gone */
static int64_t msg_date(struct mailbox *mb, uint32_t uid)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		if (attempt == 1 && sync_locked(mb, false, NULL) != 0)
			break;
		struct mailbox_msg *m = msg_find(mb, uid);
		if (!m || m->internal_date != MAILBOX_DATE_UNKNOWN)
			return m ? m->internal_date : MAILBOX_DATE_UNKNOWN;
		char *path = msg_path(mb, m);
		struct stat st;
		int r = lstat(path, &st);
		free(path);
		if (r == 0) {
			m->internal_date = (int64_t)st.st_mtime;
			mb->dates_read = true;
			return m->internal_date;
		}
	}
	return MAILBOX_DATE_UNKNOWN;
}

int mailbox_view_message(struct mailbox_view *view, uint32_t seq, struct mailbox_message *msg_r)
{
	if (seq < 1 || seq > view->count)
		return -1;
	struct mailbox *mb = view->mailbox;
	pthread_mutex_lock(&mb->lock);
	view_own_locked(view);
	const struct view_entry *e = &view->entries[seq - 1];
	const struct mailbox_msg *m = msg_find(mb, e->uid);
	int64_t known = m ? m->internal_date : MAILBOX_DATE_UNKNOWN;
	if (m && known == MAILBOX_DATE_UNKNOWN) {
		known = msg_date(mb, e->uid);
		m = msg_find(mb, e->uid);   /* msg_date may have synced */
	}
	/* (a date still unknown: the file went before anyone read it) */
	time_t date = known == MAILBOX_DATE_UNKNOWN ? 0 : (time_t)known;
	if (m)
		*msg_r = (struct mailbox_message){
			.uid = m->uid, .flags = m->flags, .keywords = m->keywords,
			.modseq = m->modseq, .size = m->size, .internal_date = date,
			.recent = e->recent,
		};
	else   /* gone: no flags, size nor date any more (callers skip it) */
		*msg_r = (struct mailbox_message){
			.uid = e->uid, .modseq = e->modseq, .recent = e->recent, .expunged = true,
		};
	pthread_mutex_unlock(&mb->lock);
	return 0;
}

int mailbox_message_open(struct mailbox_view *view, uint32_t uid, int *fd_r,
			 struct mailbox_error *error_r)
{
	struct mailbox *mb = view->mailbox;
	int ret = -1;

	pthread_mutex_lock(&mb->lock);
	/* a file renamed by another program since the last sync: sync, once */
	for (int attempt = 0; attempt < 2 && ret != 0; attempt++) {
		if (attempt == 1 && sync_locked(mb, false, error_r) != 0)
			break;
		struct mailbox_msg *m = msg_find(mb, uid);
		if (!m) {
			mailbox_error_set(error_r, MAILBOX_ERROR_EXPUNGED, "the message was expunged", 0);
			break;
		}
		char *path = msg_path(mb, m);
		int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		free(path);
		if (fd >= 0) {
			*fd_r = fd;
			ret = 0;
		} else if (errno != ENOENT) {
			mailbox_error_sys(error_r, "cannot open the message");
			break;
		} else {
			mailbox_error_set(error_r, MAILBOX_ERROR_EXPUNGED, "the message was expunged", 0);
		}
	}
	pthread_mutex_unlock(&mb->lock);
	return ret;
}

int mailbox_header_cache_of(struct mailbox_view *view, uint32_t uid,
			    struct header_cache **cache_r, uint32_t *uidvalidity_r,
			    uint64_t *size_r, struct mailbox_error *error_r)
{
	struct mailbox *mb = view->mailbox;
	pthread_mutex_lock(&mb->lock);
	const struct mailbox_msg *m = msg_find(mb, uid);
	if (m) {
		if (mb->header_cache == NULL && !mb->deleted)
			mb->header_cache = header_cache_open(mb->path);
		*cache_r = mb->header_cache;
		*uidvalidity_r = mb->uidvalidity;
		*size_r = m->size;
	}
	pthread_mutex_unlock(&mb->lock);
	if (!m)
		return mailbox_error_set(error_r, MAILBOX_ERROR_EXPUNGED, "the message was expunged", 0);
	return 0;
}

/* msg_is_live - (header_cache_live_fn; MB's lock held) MB has message UID */
static bool msg_is_live(void *arg, uint32_t uid)
{
	return msg_find(arg, uid) != NULL;
}

int mailbox_message_unique(struct mailbox_view *view, uint32_t uid, char **unique_r,
			   struct mailbox_error *error_r)
{
	struct mailbox *mb = view->mailbox;
	int ret = -1;

	pthread_mutex_lock(&mb->lock);
	const struct mailbox_msg *m = msg_find(mb, uid);
	if (m) {
		*unique_r = xstrndup(msg_name(mb, m), unique_len(msg_name(mb, m)));
		ret = 0;
	} else {
		mailbox_error_set(error_r, MAILBOX_ERROR_EXPUNGED, "the message was expunged", 0);
	}
	pthread_mutex_unlock(&mb->lock);
	return ret;
}

bool mailbox_exclusive_take(struct mailbox *mailbox)
{
	pthread_mutex_lock(&mailbox->lock);
	bool taken = !mailbox->exclusive;
	mailbox->exclusive = true;
	pthread_mutex_unlock(&mailbox->lock);
	return taken;
}

void mailbox_exclusive_release(struct mailbox *mailbox)
{
	pthread_mutex_lock(&mailbox->lock);
	mailbox->exclusive = false;
	pthread_mutex_unlock(&mailbox->lock);
}

static uint32_t *u32_push(uint32_t *a, size_t n, uint32_t v)
{
	if ((n & (n - 1)) == 0)
		a = xrealloc(a, (n ? n * 2 : 1) * sizeof(*a));
	a[n] = v;
	return a;
}

int mailbox_view_update(struct mailbox_view *view, bool expunges,
			struct mailbox_changes *changes_r, struct mailbox_error *error_r)
{
	struct mailbox *mb = view->mailbox;
	struct mailbox_changes ch = { 0 };
	size_t flag_cap = 0;
	uint64_t before;

	memset(changes_r, 0, sizeof(*changes_r));
	pthread_mutex_lock(&mb->lock);
	view_own_locked(view);
	before = atomic_load(&mb->change_seq);
	if (mb->deleted) {
		ch.deleted = !view->deleted_seen;
		view->deleted_seen = true;
		view->count = 0;
		view->seen_change_seq = atomic_load(&mb->change_seq);
		pthread_mutex_unlock(&mb->lock);
		*changes_r = ch;
		return 0;
	}
	if (sync_locked(mb, false, error_r) != 0) {
		pthread_mutex_unlock(&mb->lock);
		return -1;
	}
	bool fire = atomic_load(&mb->change_seq) != before;
	if (atomic_load(&mb->change_seq) == view->seen_change_seq && !(expunges && view->pending_expunges)) {
		/* nothing changed since this view last looked */
		ch.exists = (uint32_t)view->count;
		ch.uidnext = mb->uidnext;
		ch.highestmodseq = mb->highestmodseq;
		pthread_mutex_unlock(&mb->lock);
		*changes_r = ch;
		return 0;
	}
	/* walk the view and the mailbox together (both in UID order) */
	size_t j = 0, w = 0, old_count = view->count;
	for (size_t i = 0; i < old_count; i++) {
		struct view_entry *e = &view->entries[i];
		while (j < mb->count && mb->msgs[j].uid < e->uid)
			j++;
		if (j < mb->count && mb->msgs[j].uid == e->uid) {
			const struct mailbox_msg *m = &mb->msgs[j];
			if (m->modseq != e->modseq) {
				e->modseq = m->modseq;
				if (ch.flag_change_count == flag_cap) {
					flag_cap = flag_cap ? flag_cap * 2 : 16;
					ch.flag_changes = xrealloc(ch.flag_changes,
								   flag_cap * sizeof(*ch.flag_changes));
				}
				ch.flag_changes[ch.flag_change_count++] = (struct mailbox_flag_change){
					.seq = (uint32_t)(w + 1), .uid = e->uid, .flags = m->flags,
					.keywords = m->keywords, .modseq = e->modseq,
				};
			}
			view->entries[w++] = *e;
			continue;
		}
		if (!expunges) {
			view->pending_expunges += !e->expunged;
			e->expunged = true;
			view->entries[w++] = *e;
			continue;
		}
		ch.expunged_seqs = u32_push(ch.expunged_seqs, ch.expunged_count, (uint32_t)(i + 1));
		ch.expunged_uids = u32_push(ch.expunged_uids, ch.expunged_count, e->uid);
		ch.expunged_count++;
	}
	view->count = w;
	if (expunges)
		view->pending_expunges = 0;
	/* descending: each EXPUNGE's number is right when it is sent */
	for (size_t a = 0, b = ch.expunged_count; a + 1 < b; a++, b--) {
		uint32_t t = ch.expunged_seqs[a];
		ch.expunged_seqs[a] = ch.expunged_seqs[b - 1];
		ch.expunged_seqs[b - 1] = t;
		t = ch.expunged_uids[a];
		ch.expunged_uids[a] = ch.expunged_uids[b - 1];
		ch.expunged_uids[b - 1] = t;
	}
	/* new messages: above every UID the view has */
	uint32_t last = view->count ? view->entries[view->count - 1].uid : 0;
	size_t first_new = 0;
	while (first_new < mb->count && mb->msgs[first_new].uid <= last)
		first_new++;
	if (first_new < mb->count || ch.expunged_count) {
		size_t need = view->count + (mb->count - first_new);
		if (need > view->cap) {
			size_t bytes = need * 2 * sizeof(*view->entries);
			view->entries = heap_big_resize(view->entries,
							view->cap * sizeof(*view->entries), &bytes);
			view->cap = bytes / sizeof(*view->entries);
		}
		for (size_t i = first_new; i < mb->count; i++)
			view_entry_set(&view->entries[view->count++], &mb->msgs[i], mb);
		if (!view->peek)
			mb->recent_uid = mb->uidnext;
		ch.exists_changed = first_new < mb->count;
	}
	ch.exists = (uint32_t)view->count;
	ch.keywords_changed = mb->keyword_count != view->keyword_count;
	view->keyword_count = mb->keyword_count;
	ch.uidnext = view->uidnext = mb->uidnext;
	ch.highestmodseq = view->highestmodseq = mb->highestmodseq;
	view->seen_change_seq = atomic_load(&mb->change_seq);
	pthread_mutex_unlock(&mb->lock);
	if (fire)
		watches_fire(mb);
	*changes_r = ch;
	return 0;
}

void mailbox_changes_free(struct mailbox_changes *changes)
{
	free(changes->expunged_seqs);
	free(changes->expunged_uids);
	free(changes->flag_changes);
	memset(changes, 0, sizeof(*changes));
}

bool mailbox_view_has_changes(const struct mailbox_view *view)
{
	return atomic_load(&view->mailbox->change_seq) != view->seen_change_seq;
}

/* ---- changes ---- */

/* tmp_write - a new file in PATH/tmp/ holding DATA with mtime DATE, durable;
 * its name into UNIQUE */
static int tmp_write(const char *path, const char *data, size_t len, time_t date,
		     struct buf *unique, char **tmp_path_r)
{
	local_maildir_unique_name(mailbox_hostname, unique);
	char *tmp = xasprintf("%s/tmp/%s", path, unique->data);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	int err;

	if (fd < 0) {
		free(tmp);
		return -1;
	}
	struct timespec times[2] = { { .tv_sec = date }, { .tv_sec = date } };
	if (fd_write_all(fd, data, len) != 0 || futimens(fd, times) != 0 || make_durable(fd) != 0) {
		err = errno;
		(void)close(fd);
		goto fail;
	}
	if (close(fd) != 0) {
		err = errno;
		goto fail;
	}
	*tmp_path_r = tmp;
	return 0;
fail:
	(void)unlink(tmp);
	free(tmp);
	errno = err;
	return -1;
}

/* cur_stat - stat MB's cur/ */
static int cur_stat(const struct mailbox *mb, struct stat *st_r)
{
	char *cur = xasprintf("%s/cur", mb->path);
	int r = stat(cur, st_r);
	free(cur);
	return r;
}

/* cur_mtime_is - cur/'s mtime is T */
static bool cur_mtime_is(const struct mailbox *mb, const struct timespec *t)
{
	struct stat st;
	return cur_stat(mb, &st) == 0 && st.st_mtim.tv_sec == t->tv_sec &&
	       st.st_mtim.tv_nsec == t->tv_nsec;
}

/* cur_in_step - (lock held) cur/ has not changed since the last sync read
 * it (or the index or our own last change told its mtime): msgs is cur/,
 * but for a change by another program within that mtime's clock tick */
static bool cur_in_step(struct mailbox *mb)
{
	return cur_mtime_is(mb, &mb->cur_mtime);
}

/* cur_own_note - (lock held) this process just changed cur/ (IN_STEP: msgs
 * was cur/ right before): the next sync need not read cur/ for it.
 * Without this an APPEND's own link made the next open's sync read the
 * whole of cur/, a cost that grew with the folder: 10,000 APPENDs into one
 * new folder by 10 clients ran at 170-180 msg/s, now 2,000-2,900 */
static void cur_own_note(struct mailbox *mb, bool in_step)
{
	struct stat st;
	if (in_step && cur_stat(mb, &st) == 0) {
		mb->cur_mtime = st.st_mtim;
		mb->cur_own = true;
		mb->cur_settled = false;
	}
}

/* commit_tmp - link TMP (a file in some tmp/) into MB's cur/ under a new
 * UID with its flags; lock held.  The file stays in tmp/ on failure. */
static int commit_tmp(struct mailbox *mb, const char *tmp, const char *unique, uint64_t size,
		      uint32_t flags, uint64_t keywords, time_t date, uint64_t modseq,
		      uint32_t *uid_r)
{
	struct buf name;
	uint32_t uid;

	if (uid_next(mb, &uid) != 0)
		return -1;
	buf_init(&name);
	mailbox_filename_format(&name, unique, strlen(unique), size, uid, flags, keywords);
	char *to = cur_path(mb, name.data);
	bool in_step = cur_in_step(mb);
	int r = link(tmp, to);
	free(to);
	if (r != 0) {
		buf_free(&name);
		return -1;
	}
	cur_own_note(mb, in_step);
	if (unlink(tmp) != 0)
		log_warn("mailbox_tmp_unlink", "path=%s error=\"%s\"", tmp, strerror(errno));
	struct mailbox_msg m = {
		.uid = uid, .flags = flags, .keywords = keywords, .modseq = modseq,
		.size = size, .internal_date = (int64_t)date, .name = name_arena_add(&mb->names, name.data),
	};
	msg_add(mb, &m);
	buf_free(&name);
	*uid_r = uid;
	return 0;
}

int mailbox_append(struct mailbox *mailbox, const char *data, size_t len, uint32_t flags,
		   uint64_t keywords, time_t internal_date, uint32_t *uid_r,
		   struct mailbox_error *error_r)
{
	struct mailbox *mb = mailbox;
	struct buf unique;
	char *path = mailbox_path(mb), *tmp = NULL, *cur = NULL;
	uint64_t modseq;
	int ret = -1;

	buf_init(&unique);
	if (internal_date == 0)
		internal_date = time(NULL);
	flags &= MAILBOX_FLAGS_ALL;
	/* RFC 9208 4.3: refused whole, before anything is written */
	if (mailbox_quota_check_path(mb->account_path, len, 1, error_r) != 0)
		goto out;
	if (tmp_write(path, data, len, internal_date, &unique, &tmp) != 0) {
		mailbox_error_sys(error_r, "cannot write the message");
		goto out;
	}
	pthread_mutex_lock(&mb->lock);
	if (mb->deleted || strcmp(mb->path, path) != 0) {
		/* deleted or renamed while we wrote: the file is in the old place */
		pthread_mutex_unlock(&mb->lock);
		mailbox_error_set(error_r, mb->deleted ? MAILBOX_ERROR_DELETED : MAILBOX_ERROR_TEMPORARY,
				  "the folder was deleted or renamed", 0);
		goto out;
	}
	if (modseq_next(mb, &modseq) != 0 ||
	    commit_tmp(mb, tmp, unique.data, len, flags, keywords, internal_date, modseq, uid_r) != 0) {
		pthread_mutex_unlock(&mb->lock);
		mailbox_error_sys(error_r, "cannot store the message");
		goto out;
	}
	free(tmp);
	tmp = NULL;
	index_changed(mb);
	atomic_fetch_add(&mb->change_seq, 1);
	totals_publish(mb);
	pthread_mutex_unlock(&mb->lock);
	watches_fire(mb);
	cur = xasprintf("%s/cur", path);
	if (dir_sync_path(cur) != 0) {
		/* visible but not durable: say so; the client may append again */
		mailbox_error_sys(error_r, "cannot sync the folder");
		goto out;
	}
	ret = 0;
out:
	if (tmp && unlink(tmp) != 0 && errno != ENOENT)
		log_warn("mailbox_tmp_unlink", "path=%s error=\"%s\"", tmp, strerror(errno));
	free(tmp);
	free(cur);
	free(path);
	buf_free(&unique);
	return ret;
}

int mailbox_store_flags(struct mailbox_view *view, const uint32_t *uids, size_t n,
			enum mailbox_store_mode mode, uint32_t flags, uint64_t keywords,
			uint64_t unchangedsince, struct mailbox_store_result *result_r,
			struct mailbox_error *error_r)
{
	struct mailbox *mb = view->mailbox;
	struct mailbox_store_result res = { 0 };
	struct buf name;
	uint64_t modseq = 0;
	bool changed = false;
	int ret = -1;

	memset(result_r, 0, sizeof(*result_r));
	flags &= MAILBOX_FLAGS_ALL;
	buf_init(&name);
	res.stored = xcalloc(n + 1, sizeof(*res.stored));
	pthread_mutex_lock(&mb->lock);
	view_own_locked(view);   /* (mailbox_view_seq below, under the lock) */
	if (mb->deleted) {
		mailbox_error_set(error_r, MAILBOX_ERROR_DELETED, "the folder was deleted", 0);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		struct mailbox_msg *m = msg_find(mb, uids[i]);
		if (!m) {
			res.expunged_count++;
			continue;
		}
		if (unchangedsince && m->modseq > unchangedsince) {
			res.modified_uids = u32_push(res.modified_uids, res.modified_count, m->uid);
			res.modified_count++;
			continue;
		}
		uint32_t nf = mode == MAILBOX_STORE_SET ? flags :
			      mode == MAILBOX_STORE_ADD ? m->flags | flags : m->flags & ~flags;
		uint64_t nk = mode == MAILBOX_STORE_SET ? keywords :
			      mode == MAILBOX_STORE_ADD ? m->keywords | keywords : m->keywords & ~keywords;
		if (nf != m->flags || nk != m->keywords) {
			if (!modseq && modseq_next(mb, &modseq) != 0) {
				mailbox_error_sys(error_r, "cannot store flags");
				goto out;
			}
			buf_reset(&name);
			const char *old = msg_name(mb, m);
			mailbox_filename_format(&name, old, unique_len(old), m->size, m->uid, nf, nk);
			if (strcmp(name.data, old) != 0) {
				char *from = msg_path(mb, m), *to = cur_path(mb, name.data);
				int r = rename(from, to);
				int err = errno;
				free(from);
				free(to);
				if (r != 0 && err == ENOENT) {
					/* removed by another program: the next sync says so */
					res.expunged_count++;
					continue;
				}
				if (r != 0) {
					errno = err;
					mailbox_error_sys(error_r, "cannot store flags");
					goto out;
				}
				name_arena_drop(&mb->names, m->name);
				m->name = name_arena_add(&mb->names, name.data);
			}
			m->flags = nf;
			m->keywords = nk;
			m->modseq = modseq;
			changed = true;
		}
		res.stored[res.stored_count++] = (struct mailbox_flag_change){
			.seq = mailbox_view_seq(view, m->uid), .uid = m->uid, .flags = m->flags,
			.keywords = m->keywords, .modseq = m->modseq,
		};
		/* the session answers for its own change: not reported again */
		uint32_t seq = mailbox_view_seq(view, m->uid);
		if (seq)
			view->entries[seq - 1].modseq = m->modseq;
	}
	ret = 0;
out:
	if (changed) {
		names_tidy(mb);
		index_changed(mb);
		atomic_fetch_add(&mb->change_seq, 1);
	}
	pthread_mutex_unlock(&mb->lock);
	buf_free(&name);
	if (changed)
		watches_fire(mb);
	if (ret == 0)
		*result_r = res;
	else
		mailbox_store_result_free(&res);
	return ret;
}

void mailbox_store_result_free(struct mailbox_store_result *result)
{
	free(result->stored);
	free(result->modified_uids);
	memset(result, 0, sizeof(*result));
}

static int u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* expunge_locked - remove the messages with UIDS (NULL: all) that have
 * \Deleted (FORCE: whatever their flags); lock held */
static int expunge_locked(struct mailbox *mb, const uint32_t *uids, size_t n, bool force,
			  uint32_t **expunged_r, size_t *count_r, struct mailbox_error *error_r)
{
	uint32_t *sorted = NULL, *gone = NULL;
	size_t ngone = 0, w = 0;
	uint64_t modseq = 0;
	int ret = -1;

	if (mb->deleted)
		return mailbox_error_set(error_r, MAILBOX_ERROR_DELETED, "the folder was deleted", 0);
	if (uids) {
		sorted = xmalloc((n + 1) * sizeof(*sorted));
		memcpy(sorted, uids, n * sizeof(*sorted));
		if (n > 1)
			qsort(sorted, n, sizeof(*sorted), u32_cmp);
	}
	size_t k = 0;
	for (size_t i = 0; i < mb->count; i++) {
		struct mailbox_msg *m = &mb->msgs[i];
		bool chosen = !uids;
		if (uids) {
			while (k < n && sorted[k] < m->uid)
				k++;
			chosen = k < n && sorted[k] == m->uid;
		}
		if (chosen && (force || (m->flags & MAILBOX_FLAG_DELETED))) {
			if (!modseq && modseq_next(mb, &modseq) != 0) {
				mailbox_error_sys(error_r, "cannot expunge");
				goto keep_rest;
			}
			char *path = msg_path(mb, m);
			int r = unlink(path);
			free(path);
			if (r != 0 && errno != ENOENT) {
				mailbox_error_sys(error_r, "cannot expunge");
				goto keep_rest;
			}
			if (ngone == 0)   /* the first removal: the table still whole */
				views_fill_lazy(mb);
			gone = u32_push(gone, ngone++, m->uid);
			mb->removals++;
			mb->total_size -= m->size;
			name_arena_drop(&mb->names, m->name);
			continue;
		}
		mb->msgs[w++] = *m;
		continue;
keep_rest:
		/* stop here: keep this message and the ones after it */
		for (; i < mb->count; i++)
			mb->msgs[w++] = mb->msgs[i];
		mb->count = w;
		goto out;
	}
	mb->count = w;
	ret = 0;
out:
	if (ngone) {
		names_tidy(mb);
		index_changed(mb);
		atomic_fetch_add(&mb->change_seq, 1);
		totals_publish(mb);
	}
	free(sorted);
	if (expunged_r)
		*expunged_r = gone;
	else
		free(gone);
	if (count_r)
		*count_r = ngone;
	return ret;
}

int mailbox_expunge(struct mailbox_view *view, const uint32_t *uids, size_t n,
		    uint32_t **expunged_r, size_t *expunged_count_r,
		    struct mailbox_error *error_r)
{
	struct mailbox *mb = view->mailbox;
	uint32_t *gone = NULL;
	size_t ngone = 0;

	pthread_mutex_lock(&mb->lock);
	int ret = expunge_locked(mb, uids, n, false, &gone, &ngone, error_r);
	char *cur = xasprintf("%s/cur", mb->path);
	pthread_mutex_unlock(&mb->lock);
	if (ngone) {
		watches_fire(mb);
		if (dir_sync_path(cur) != 0 && ret == 0)
			ret = mailbox_error_sys(error_r, "cannot sync the folder");
	}
	free(cur);
	if (expunged_r)
		*expunged_r = gone;
	else
		free(gone);
	if (expunged_count_r)
		*expunged_count_r = ngone;
	return ret;
}

struct copy_item {
	uint32_t src_uid;
	uint64_t size;
	uint32_t flags;
	uint64_t keywords;
	int64_t date;
	char *src_path;
	char *tmp_path;
	struct buf unique;
};

/* copy_to_tmp - ITEM's file into DEST_PATH/tmp/: a hard link, or the bytes
 * when the two are on different file systems */
static int copy_to_tmp(struct copy_item *item, const char *dest_path)
{
	local_maildir_unique_name(mailbox_hostname, &item->unique);
	item->tmp_path = xasprintf("%s/tmp/%s", dest_path, item->unique.data);
	if (link(item->src_path, item->tmp_path) == 0)
		return 0;
	if (errno != EXDEV)
		return -1;
	char *data = NULL;
	size_t len;
	if (mailbox_file_read(item->src_path, &data, &len) != 0)
		return -1;
	buf_reset(&item->unique);
	free(item->tmp_path);
	item->tmp_path = NULL;
	int r = tmp_write(dest_path, data, len, (time_t)item->date, &item->unique, &item->tmp_path);
	free(data);
	return r;
}

/* copy_or_move - mailbox_copy, and with MOVE the source's expunge */
static int copy_or_move(struct mailbox_view *view, const uint32_t *uids, size_t n,
			struct mailbox *dest, bool move, uint32_t **src_uids_r,
			uint32_t **dest_uids_r, size_t *count_r, struct mailbox_error *error_r)
{
	struct mailbox *src = view->mailbox;
	struct copy_item *items = xcalloc(n + 1, sizeof(*items));
	uint32_t *src_uids = xcalloc(n + 1, sizeof(uint32_t)), *dest_uids = xcalloc(n + 1, sizeof(uint32_t));
	size_t nitems = 0, ncopied = 0;
	char *dest_path = mailbox_path(dest), *dest_cur = xasprintf("%s/cur", dest_path);
	uint64_t modseq;
	int ret = -1;

	*src_uids_r = NULL;
	*dest_uids_r = NULL;
	*count_r = 0;
	if (move && src == dest) {
		mailbox_error_set(error_r, MAILBOX_ERROR_CANNOT, "cannot move into the same folder", 0);
		goto out;
	}
	/* the files, resolved under the source's lock, linked into dest's tmp/
	 * without it (never two folders' locks at once); a file renamed
	 * meanwhile (flags) is resolved again after a sync, once */
	for (size_t i = 0; i < n; i++) {
		items[i].src_uid = uids[i];
		buf_init(&items[i].unique);
	}
	nitems = n;
	for (int attempt = 0; attempt < 2; attempt++) {
		bool retry = false;
		pthread_mutex_lock(&src->lock);
		if (attempt == 1 && sync_locked(src, false, error_r) != 0) {
			pthread_mutex_unlock(&src->lock);
			goto out;
		}
		for (size_t i = 0; i < n; i++) {
			struct copy_item *it = &items[i];
			if (it->tmp_path)
				continue;
			struct mailbox_msg *m = msg_find(src, it->src_uid);
			free(it->src_path);
			it->src_path = m ? msg_path(src, m) : NULL;
			if (m) {
				it->size = m->size;
				it->flags = m->flags;
				it->keywords = m->keywords;
				int64_t date = msg_date(src, it->src_uid);
				it->date = date == MAILBOX_DATE_UNKNOWN ? time(NULL) : date;
			}
		}
		pthread_mutex_unlock(&src->lock);
		for (size_t i = 0; i < n; i++) {
			struct copy_item *it = &items[i];
			if (!it->src_path || it->tmp_path)
				continue;
			if (copy_to_tmp(it, dest_path) == 0)
				continue;
			int err = errno;
			free(it->tmp_path);
			it->tmp_path = NULL;
			buf_reset(&it->unique);
			if (err != ENOENT) {
				errno = err;
				mailbox_error_sys(error_r, "cannot copy the message");
				goto out;
			}
			retry = true;
		}
		if (!retry)
			break;
	}
	/* RFC 9208 4.3: a COPY that would pass the quota copies nothing; a
	 * move within one account changes no usage */
	if (!move || strcmp(src->account_path, dest->account_path) != 0) {
		uint64_t bytes = 0, messages = 0;
		for (size_t i = 0; i < nitems; i++) {
			if (items[i].tmp_path) {
				bytes += items[i].size;
				messages++;
			}
		}
		if (messages &&
		    mailbox_quota_check_path(dest->account_path, bytes, messages, error_r) != 0)
			goto out;
	}
	/* keywords are numbered per folder: copy them by name */
	uint64_t kw_map[MAILBOX_KEYWORDS_MAX] = { 0 };
	size_t nkw = 0;
	char **kw_names = mailbox_keywords_get(src, &nkw);
	for (size_t i = 0; i < nkw; i++) {
		unsigned idx;
		if (mailbox_keyword_find(dest, kw_names[i], true, &idx, NULL) == 0)
			kw_map[i] = UINT64_C(1) << idx;
		free(kw_names[i]);
	}
	free(kw_names);
	pthread_mutex_lock(&dest->lock);
	if (dest->deleted) {
		pthread_mutex_unlock(&dest->lock);
		mailbox_error_set(error_r, MAILBOX_ERROR_NONEXISTENT, "the folder was deleted", 0);
		goto out;
	}
	if (modseq_next(dest, &modseq) != 0) {
		pthread_mutex_unlock(&dest->lock);
		mailbox_error_sys(error_r, "cannot copy the message");
		goto out;
	}
	for (size_t i = 0; i < nitems; i++) {
		struct copy_item *it = &items[i];
		if (!it->tmp_path)
			continue;
		uint64_t kw = 0;
		for (size_t b = 0; b < nkw; b++) {
			if (it->keywords & (UINT64_C(1) << b))
				kw |= kw_map[b];
		}
		uint32_t uid;
		if (commit_tmp(dest, it->tmp_path, it->unique.data, it->size, it->flags, kw,
			       (time_t)it->date, modseq, &uid) != 0) {
			mailbox_error_sys(error_r, "cannot copy the message");
			/* RFC 3501 6.4.7: a failed COPY leaves the destination as it was */
			(void)expunge_locked(dest, dest_uids, ncopied, true, NULL, NULL, NULL);
			ncopied = 0;
			break;
		}
		free(it->tmp_path);
		it->tmp_path = NULL;
		src_uids[ncopied] = it->src_uid;
		dest_uids[ncopied++] = uid;
	}
	if (ncopied) {
		index_changed(dest);
		atomic_fetch_add(&dest->change_seq, 1);
		totals_publish(dest);
	}
	bool all = true;
	for (size_t i = 0; i < nitems; i++)
		all = all && !items[i].tmp_path;
	pthread_mutex_unlock(&dest->lock);
	if (ncopied)
		watches_fire(dest);
	if (!all)
		goto out;
	if (ncopied && dir_sync_path(dest_cur) != 0) {
		mailbox_error_sys(error_r, "cannot sync the folder");
		goto out;
	}
	if (move && ncopied) {
		pthread_mutex_lock(&src->lock);
		int r = expunge_locked(src, src_uids, ncopied, true, NULL, NULL, error_r);
		char *src_cur = xasprintf("%s/cur", src->path);
		pthread_mutex_unlock(&src->lock);
		watches_fire(src);
		if (r == 0 && dir_sync_path(src_cur) != 0)
			r = mailbox_error_sys(error_r, "cannot sync the folder");
		free(src_cur);
		if (r != 0)
			goto out;
	}
	ret = 0;
out:
	for (size_t i = 0; i < n; i++) {
		if (items[i].tmp_path)
			(void)unlink(items[i].tmp_path);
		free(items[i].tmp_path);
		free(items[i].src_path);
		buf_free(&items[i].unique);
	}
	free(items);
	free(dest_path);
	free(dest_cur);
	if (ret == 0) {
		*src_uids_r = src_uids;
		*dest_uids_r = dest_uids;
		*count_r = ncopied;
	} else {
		free(src_uids);
		free(dest_uids);
	}
	return ret;
}

int mailbox_copy(struct mailbox_view *view, const uint32_t *uids, size_t n,
		 struct mailbox *dest, uint32_t **src_uids_r, uint32_t **dest_uids_r,
		 size_t *count_r, struct mailbox_error *error_r)
{
	return copy_or_move(view, uids, n, dest, false, src_uids_r, dest_uids_r, count_r, error_r);
}

int mailbox_move(struct mailbox_view *view, const uint32_t *uids, size_t n,
		 struct mailbox *dest, uint32_t **src_uids_r, uint32_t **dest_uids_r,
		 size_t *count_r, struct mailbox_error *error_r)
{
	return copy_or_move(view, uids, n, dest, true, src_uids_r, dest_uids_r, count_r, error_r);
}

/* ---- watches and notification ---- */

struct mailbox_watch *mailbox_watch_add(struct mailbox *mailbox, mailbox_watch_fn *fn, void *arg)
{
	struct mailbox_watch *w = xcalloc(1, sizeof(*w));
	w->mailbox = mailbox;
	w->fn = fn;
	w->arg = arg;
	mailbox_ref(mailbox);
	pthread_mutex_lock(&mailbox->watch_lock);
	w->next = mailbox->watches;
	mailbox->watches = w;
	pthread_mutex_unlock(&mailbox->watch_lock);
	return w;
}

void mailbox_watch_remove(struct mailbox_watch **watch)
{
	struct mailbox_watch *w = *watch;
	if (!w)
		return;
	*watch = NULL;
	struct mailbox *mb = w->mailbox;
	pthread_mutex_lock(&mb->watch_lock);
	for (struct mailbox_watch **p = &mb->watches; *p; p = &(*p)->next) {
		if (*p == w) {
			*p = w->next;
			break;
		}
	}
	pthread_mutex_unlock(&mb->watch_lock);
	free(w);
	mailbox_unref(&mb);
}

void mailbox_notify_new(const char *path)
{
	/* <maildir>/new/<file> or <maildir> */
	char *maildir = xstrdup(path);
	size_t len = strlen(maildir);
	while (len > 1 && maildir[len - 1] == '/')
		maildir[--len] = '\0';
	char *slash = strrchr(maildir, '/');
	if (slash && slash > maildir) {
		*slash = '\0';
		char *parent = strrchr(maildir, '/');
		if (parent && strcmp(parent + 1, "new") == 0)
			*parent = '\0';
		else
			*slash = '/';
	}
	struct mailbox *mb;
	pthread_mutex_lock(&registry_lock);
	for (mb = registry; mb && (mb->unlisted || strcmp(mb->path, maildir) != 0); mb = mb->next)
		;
	/* a cached folder counts as not open: its next open's sync adopts
	 * the file (a sync now would also write its index at the close) */
	if (mb && mb->cached)
		mb = NULL;
	if (mb)
		mb->refs++;
	pthread_mutex_unlock(&registry_lock);
	if (!mb) {
		/* nobody has it open: the quota total is stale until the next open */
		char *account = xstrdup(maildir);
		char *last = strrchr(account, '/');
		if (last && last[1] == '.')
			*last = '\0';
		pthread_mutex_lock(&accounts_lock);
		struct mailbox_account *a;
		for (a = accounts; a && strcmp(a->path, account) != 0; a = a->next)
			;
		pthread_mutex_unlock(&accounts_lock);
		/* the file is in new/: counted as it is, without reading the
		 * folder again (its next sync counts it anew) */
		struct stat st;
		if (a && stat(path, &st) == 0 && S_ISREG(st.st_mode))
			mailbox_account_folder_add(a, maildir, (uint64_t)st.st_size, 1);
		else if (a)
			mailbox_account_folder_forget(a, maildir);
		free(account);
		free(maildir);
		return;
	}
	struct mailbox_error error;
	if (mailbox_sync(mb, &error) != 0 && error.code != MAILBOX_ERROR_DELETED)
		log_warn("mailbox_notify_sync", "path=%s error=\"%s\" errno=%d", maildir, error.text,
			 error.sys_errno);
	mailbox_unref(&mb);
	free(maildir);
}

/* ---- accounts (quota totals) ---- */

struct mailbox_account *mailbox_account_get(const char *account_path)
{
	struct mailbox_account *a;
	/* called with or without the registry lock: accounts have their own */
	pthread_mutex_lock(&accounts_lock);
	for (a = accounts; a && strcmp(a->path, account_path) != 0; a = a->next)
		;
	if (!a) {
		a = xcalloc(1, sizeof(*a));
		pthread_mutex_init(&a->lock, NULL);
		a->path = xstrdup(account_path);
		a->next = accounts;
		accounts = a;
	}
	pthread_mutex_unlock(&accounts_lock);
	return a;
}

static struct account_folder *account_folder_find(struct mailbox_account *a, const char *path)
{
	for (size_t i = 0; i < a->count; i++) {
		if (strcmp(a->folders[i].path, path) == 0)
			return &a->folders[i];
	}
	return NULL;
}

bool mailbox_account_folder_get(struct mailbox_account *account, const char *folder_path,
				uint64_t *bytes_r, uint64_t *messages_r)
{
	pthread_mutex_lock(&account->lock);
	struct account_folder *f = account_folder_find(account, folder_path);
	if (f) {
		*bytes_r = f->bytes;
		*messages_r = f->messages;
	}
	pthread_mutex_unlock(&account->lock);
	return f != NULL;
}

void mailbox_account_folder_set(struct mailbox_account *account, const char *folder_path,
				uint64_t bytes, uint64_t messages)
{
	pthread_mutex_lock(&account->lock);
	struct account_folder *f = account_folder_find(account, folder_path);
	if (!f) {
		if (account->count == account->cap) {
			account->cap = account->cap ? account->cap * 2 : 8;
			account->folders = xrealloc(account->folders,
						    account->cap * sizeof(*account->folders));
		}
		f = &account->folders[account->count++];
		f->path = xstrdup(folder_path);
	}
	f->bytes = bytes;
	f->messages = messages;
	pthread_mutex_unlock(&account->lock);
}

void mailbox_account_folder_forget(struct mailbox_account *account, const char *folder_path)
{
	pthread_mutex_lock(&account->lock);
	struct account_folder *f = account_folder_find(account, folder_path);
	if (f) {
		free(f->path);
		*f = account->folders[--account->count];
	}
	pthread_mutex_unlock(&account->lock);
}

void mailbox_account_folder_add(struct mailbox_account *account, const char *folder_path,
				uint64_t bytes, uint64_t messages)
{
	pthread_mutex_lock(&account->lock);
	struct account_folder *f = account_folder_find(account, folder_path);
	if (f) {
		f->bytes += bytes;
		f->messages += messages;
	}
	pthread_mutex_unlock(&account->lock);
}
