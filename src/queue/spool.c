/* queue/spool - blocking, thread-safe file operations on the spool.
 *
 * Layout, under <data_dir>/queue/ (docs/operations.md):
 *   new/<ID>        accepted, not yet tried, or being tried
 *   defer/<T>/<ID>  waiting: its next attempt is due at unix time T
 *   hold/<ID>       held by the administrator: never tried until released
 *   corrupt/<ID>    unreadable, moved aside
 * The state of a message is the folder it is in.  Moves between folders are
 * renames that are not synced: a lost rename leaves the message where it
 * was, still queued (at worst tried early, or again).  What must be durable,
 * a new file or a state line, goes through the group commit (util/syncer).
 *
 * One file per message: the envelope (text records), a blank line, the body
 * (exactly `size` bytes, CRC-32C in the envelope), then the message's state
 * log: "INDEX STATE REPLY" lines (REPLY xtext, "-" for none) and "M key
 * value" lines, appended as things happen.  Readers take the body as the
 * `size` bytes after the blank line; what follows is the log.  A crash may
 * leave a torn last line: readers skip lines that do not parse, and writers
 * start a new line if the file does not end with one (so an empty line may
 * follow a body without a final LF: skipped too), so a torn record costs at
 * most a redelivery, never the message.
 *
 * A message is created under its final name new/<ID> (O_EXCL, so an ID
 * collision can never replace an accepted message) with mode 0600, written,
 * marked complete by setting its owner-execute bit (mode 0700, as Postfix
 * marks finished queue files) and closed (close checked: NFS and some file
 * systems report write errors only there); then the group commit (one
 * syncfs shared by every message written meanwhile) makes its data and its
 * entry durable.  The mark is set before that sync, so a power cut during
 * it can leave a file marked complete whose data never reached the disk
 * (cut short, or with blocks that read as zeros).  Such a file was never
 * acknowledged (the 250 waits for the sync), and it is never trusted
 * either: every read checks the body's length and CRC-32C
 * (spool_read_message).  A file that fails the check is unreadable: the
 * scheduler retries it with backoff and then moves it to queue/corrupt/.  A
 * file without the execute bit was never acknowledged: readers skip it and
 * the first pass over new/ after a start removes it.
 *
 * A failed sync is final for this process.  Linux reports a writeback error
 * once, to the sync that runs after it: a second sync that succeeds does not
 * mean the entries of the first are on disk (the pages may have been
 * dropped, "fsyncgate").  So the first failure marks the spool failed: from
 * then on every new message, notice and state line is refused (SMTP gets
 * 451 4.3.0) and nothing more is acknowledged, until a restart re-reads and
 * re-verifies every file it tries.
 *
 * Legacy layout (earlier versions): queue/<ID> with its log in
 * queue/<ID>.rcpt; spool_convert_legacy moves them into the layout above.
 */
#include "queue/spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/fileio.h"
#include "util/log.h"
#include "util/syncer.h"
#include "util/xalloc.h"
#include "wire/wire.h"

/* largest state log read back by itself (legacy .rcpt, or `queue show`) */
#define SPOOL_RCPT_LOG_MAX (16u * 1024 * 1024)

static int mkdir_durable(const char *path);
static int fsync_parent(const char *path);
static int read_at(int dir_fd, const char *name, size_t max, bool whole, struct buf *out,
		   int *errno_r);
static int id_compare(const void *a, const void *b);
static int rcpt_log_parse_line(struct queue_envelope *env, const char *line, size_t len);
static int fd_append_record(int fd, const char *data, size_t len);
static int defer_name_parse(const char *name, long long *t_r);
static _Atomic long long *spool_counter(struct spool *spool, const struct spool_loc *loc);
static int spool_count_folder(struct spool *spool, const struct spool_loc *loc,
			      long long *count_r);
static void spool_count_moved(struct spool *spool, const struct spool_loc *from,
			      const struct spool_loc *to);

static const char *const state_names[] = { "pending", "delivered", "deferred", "failed" };

const char *queue_rcpt_state_name(enum queue_rcpt_state state)
{
	if ((unsigned)state < sizeof(state_names) / sizeof(state_names[0]))
		return state_names[state];
	return "unknown";
}

const char *spool_error_text(int err)
{
	switch (err) {
	case ENOSPC:
	case EDQUOT:
		return "insufficient system storage";
	case EFBIG:
		return "message too large for the queue file system";
	case EIO:
		return "I/O error on the queue file system";
	case EROFS:
		return "queue file system is read-only";
	case EEXIST:
		return "queue ID already in use";
	case ESTALE:
		return "the queue directory failed to sync earlier: no mail is accepted "
		       "until a restart";
	default:
		return "cannot write the queue file";
	}
}

/* fsync_parent - fsync the directory holding PATH */
static int fsync_parent(const char *path)
{
	char *parent = xstrdup(path);
	char *slash = strrchr(parent, '/');
	int fd = -1, ret = -1, err = 0;

	if (!slash)
		strcpy(parent, ".");
	else if (slash == parent)
		parent[1] = '\0';
	else
		*slash = '\0';
	fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) != 0) {
		err = errno;
		goto out;
	}
	ret = 0;
out:
	if (fd >= 0 && close(fd) != 0 && ret == 0) {
		err = errno;
		ret = -1;
	}
	free(parent);
	errno = err;
	return ret;
}

/* mkdir_durable - mkdir PATH 0700; when created, make its entry durable */
static int mkdir_durable(const char *path)
{
	if (mkdir(path, 0700) != 0)
		return errno == EEXIST ? 0 : -1;
	return fsync_parent(path);
}

void spool_loc_path(const struct spool_loc *loc, const char *id, char out[SPOOL_PATH_MAX])
{
	switch (loc->folder) {
	case SPOOL_DEFER:
		snprintf(out, SPOOL_PATH_MAX, SPOOL_DEFER_DIR "/%lld/%s", loc->t, id);
		break;
	case SPOOL_HOLD:
		snprintf(out, SPOOL_PATH_MAX, SPOOL_HOLD_DIR "/%s", id);
		break;
	case SPOOL_NEW:
	default:
		snprintf(out, SPOOL_PATH_MAX, SPOOL_NEW_DIR "/%s", id);
		break;
	}
}

struct spool *spool_open(const char *data_dir, bool create, const char **error_r)
{
	static const char *const subdirs[] = { SPOOL_NEW_DIR, SPOOL_DEFER_DIR, SPOOL_HOLD_DIR };
	struct spool *spool = xcalloc(1, sizeof(*spool));

	spool->dir = xasprintf("%s/queue", data_dir);
	spool->dir_fd = -1;
	if (create && (mkdir_durable(data_dir) != 0 || mkdir_durable(spool->dir) != 0)) {
		*error_r = "cannot create the queue directories";
		goto fail;
	}
	for (size_t i = 0; create && i < sizeof(subdirs) / sizeof(subdirs[0]); i++) {
		char *sub = xasprintf("%s/%s", spool->dir, subdirs[i]);
		int r = mkdir_durable(sub);
		free(sub);
		if (r != 0) {
			*error_r = "cannot create the queue directories";
			goto fail;
		}
	}
	spool->dir_fd = open(spool->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (spool->dir_fd < 0) {
		*error_r = errno == ENOENT ? "no queue directory" : "cannot open the queue directory";
		goto fail;
	}
	int err = 0;
	spool->syncer = syncer_open(spool->dir, &err);
	if (!spool->syncer) {
		*error_r = "cannot open the queue directory";
		goto fail;
	}
	return spool;
fail:
	spool_close(&spool);
	return NULL;
}

void spool_close(struct spool **spoolp)
{
	struct spool *spool = *spoolp;
	if (!spool)
		return;
	if (spool->dir_fd >= 0 && close(spool->dir_fd) != 0)
		log_warn("spool_close", "dir=queue error=\"%s\"", strerror(errno));
	syncer_close(&spool->syncer);
	free(spool->dir);
	free(spool);
	*spoolp = NULL;
}

static int id_compare(const void *a, const void *b)
{
	return memcmp(a, b, QUEUE_ID_LEN);
}

/* defer_name_parse - a defer/ folder's name: decimal seconds, no sign, no
 * leading zero; -1 if it is something else */
static int defer_name_parse(const char *name, long long *t_r)
{
	long long t = 0;
	size_t len = strlen(name);
	if (len == 0 || len > 18 || (name[0] == '0' && len > 1))
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (name[i] < '0' || name[i] > '9')
			return -1;
		t = t * 10 + (name[i] - '0');
	}
	*t_r = t;
	return 0;
}

struct spool_dir {
	DIR *dir;
	int fd;             /* dirfd(dir) */
};

struct spool_dir *spool_dir_open(struct spool *spool, const struct spool_loc *loc, int *errno_r)
{
	char path[SPOOL_PATH_MAX];
	if (loc->folder == SPOOL_DEFER)
		snprintf(path, sizeof(path), SPOOL_DEFER_DIR "/%lld", loc->t);
	else
		snprintf(path, sizeof(path), "%s",
			 loc->folder == SPOOL_HOLD ? SPOOL_HOLD_DIR : SPOOL_NEW_DIR);
	int fd = openat(spool->dir_fd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		*errno_r = errno;
		return NULL;
	}
	DIR *dir = fdopendir(fd);
	if (!dir) {
		*errno_r = errno;
		close(fd);
		return NULL;
	}
	struct spool_dir *d = xcalloc(1, sizeof(*d));
	d->dir = dir;
	d->fd = fd;
	return d;
}

int spool_dir_read(struct spool_dir *d, size_t max, time_t remove_before,
		   char (*ids)[QUEUE_ID_LEN + 1], size_t *count_r, bool *end_r, int *errno_r)
{
	struct dirent *de;
	size_t count = 0;
	*end_r = false;
	while (count < max) {
		errno = 0;
		de = readdir(d->dir);
		if (!de) {
			if (errno != 0) {
				*errno_r = errno;
				*count_r = count;
				return -1;
			}
			*end_r = true;
			break;
		}
		if (strlen(de->d_name) != QUEUE_ID_LEN || !queue_id_is_valid(de->d_name))
			continue;
		struct stat st;
		if (fstatat(d->fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		if (!(st.st_mode & S_IXUSR)) {
			/* being written, or never finished: not acknowledged; one
			 * older than this run of the server is left from a crash */
			if (st.st_mtime < remove_before && unlinkat(d->fd, de->d_name, 0) != 0 &&
			    errno != ENOENT)
				log_warn("queue_incomplete", "file=%s error=\"%s\"", de->d_name,
					 strerror(errno));
			continue;
		}
		memcpy(ids[count++], de->d_name, QUEUE_ID_LEN + 1);
	}
	*count_r = count;
	return 0;
}

void spool_dir_close(struct spool_dir **dp)
{
	struct spool_dir *d = *dp;
	if (!d)
		return;
	if (closedir(d->dir) != 0)
		log_warn("spool_dir", "close_error=\"%s\"", strerror(errno));
	free(d);
	*dp = NULL;
}

/* spool_counter - the count of LOC's folder, or NULL (new/ is not counted:
 * submissions write there while the start-up count runs) */
static _Atomic long long *spool_counter(struct spool *spool, const struct spool_loc *loc)
{
	if (loc->folder == SPOOL_DEFER)
		return &spool->deferred_files;
	if (loc->folder == SPOOL_HOLD)
		return &spool->held_files;
	return NULL;
}

/* spool_count_folder - the message files at LOC (defer/ or hold/) into
 * *COUNT_R, from their names alone: a file reaches those folders complete
 * (renamed there from new/), so no stat is needed, and a start with a
 * million waiting messages reads directories only; a missing folder has
 * none; -1 and errno if it cannot be read */
static int spool_count_folder(struct spool *spool, const struct spool_loc *loc,
			      long long *count_r)
{
	int err = 0;
	struct spool_dir *d = spool_dir_open(spool, loc, &err);
	*count_r = 0;
	if (!d) {
		errno = err;
		return err == ENOENT ? 0 : -1;
	}
	struct dirent *de;
	errno = 0;
	while ((de = readdir(d->dir)) != NULL) {
		if (strlen(de->d_name) == QUEUE_ID_LEN && queue_id_is_valid(de->d_name))
			(*count_r)++;
		errno = 0;
	}
	err = errno;
	spool_dir_close(&d);
	errno = err;
	return err != 0 ? -1 : 0;
}

int spool_count_waiting(struct spool *spool, const long long *times, size_t ntimes,
			const char **error_r)
{
	long long n = 0;
	struct spool_loc loc = { SPOOL_HOLD, 0 };
	if (spool_count_folder(spool, &loc, &n) != 0) {
		*error_r = "cannot read queue/" SPOOL_HOLD_DIR;
		return -1;
	}
	atomic_store(&spool->held_files, n);
	long long deferred = 0;
	for (size_t i = 0; i < ntimes; i++) {
		loc = (struct spool_loc){ SPOOL_DEFER, times[i] };
		if (spool_count_folder(spool, &loc, &n) != 0) {
			*error_r = "cannot read a folder of queue/" SPOOL_DEFER_DIR;
			return -1;
		}
		deferred += n;
	}
	atomic_store(&spool->deferred_files, deferred);
	return 0;
}

int spool_list_defer(struct spool *spool, long long **times_r, size_t *count_r,
		     const char **error_r)
{
	long long *times = NULL;
	size_t count = 0, alloc = 0;
	int ret = -1;
	int fd = openat(spool->dir_fd, SPOOL_DEFER_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC |
			O_NOFOLLOW);
	DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;
	if (fd < 0 && errno == ENOENT) {
		ret = 0;  /* a spool of an earlier version, not converted yet */
		goto out;
	}
	if (!dir) {
		if (fd >= 0)
			close(fd);
		*error_r = "cannot read queue/" SPOOL_DEFER_DIR;
		goto out;
	}
	errno = 0;
	while ((de = readdir(dir)) != NULL) {
		long long t;
		if (defer_name_parse(de->d_name, &t) == 0) {
			if (count == alloc) {
				alloc = alloc ? alloc * 2 : 16;
				times = xrealloc(times, alloc * sizeof(*times));
			}
			times[count++] = t;
		}
		errno = 0;
	}
	if (errno != 0) {
		*error_r = "cannot read queue/" SPOOL_DEFER_DIR;
		goto out;
	}
	ret = 0;
out:
	if (dir && closedir(dir) != 0 && ret == 0) {
		*error_r = "cannot close queue/" SPOOL_DEFER_DIR;
		ret = -1;
	}
	if (ret == 0) {
		*times_r = times;
		*count_r = count;
		times = NULL;
	}
	free(times);
	return ret;
}

int spool_locate(struct spool *spool, const char *id, struct spool_loc *loc_r,
		 const char **error_r)
{
	static const enum spool_folder plain[] = { SPOOL_NEW, SPOOL_HOLD };
	char path[SPOOL_PATH_MAX];
	struct stat st;
	long long *times = NULL;
	size_t ntimes = 0;
	int ret = 1;

	if (!queue_id_is_valid(id))
		return 1;
	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
		struct spool_loc loc = { plain[i], 0 };
		spool_loc_path(&loc, id, path);
		if (fstatat(spool->dir_fd, path, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISREG(st.st_mode) && (st.st_mode & S_IXUSR)) {
			*loc_r = loc;
			return 0;
		}
	}
	if (spool_list_defer(spool, &times, &ntimes, error_r) != 0)
		return -1;
	for (size_t i = 0; i < ntimes; i++) {
		struct spool_loc loc = { SPOOL_DEFER, times[i] };
		spool_loc_path(&loc, id, path);
		if (fstatat(spool->dir_fd, path, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISREG(st.st_mode)) {
			*loc_r = loc;
			ret = 0;
			break;
		}
	}
	free(times);
	return ret;
}

/* fd_append_record - append DATA to FD (opened O_APPEND) on a line of its
 * own: a newline first if the file does not end with one */
static int fd_append_record(int fd, const char *data, size_t len)
{
	struct stat st;
	char last;
	if (fstat(fd, &st) != 0)
		return -1;
	if (st.st_size > 0) {
		if (pread(fd, &last, 1, st.st_size - 1) != 1)
			return -1;
		if (last != '\n' && fd_write_all(fd, "\n", 1) != 0)
			return -1;
	}
	return fd_write_all(fd, data, len);
}

int spool_convert_legacy(struct spool *spool, size_t *count_r, const char **error_r)
{
	DIR *dir = NULL;
	struct dirent *de;
	char (*ids)[QUEUE_ID_LEN + 1] = NULL, (*logs)[QUEUE_ID_LEN + 1] = NULL;
	size_t count = 0, alloc = 0, nlogs = 0, logs_alloc = 0;
	char name[QUEUE_ID_LEN + 6], path[SPOOL_PATH_MAX];
	int fd = -1, ret = -1, err = 0;
	struct buf log;

	buf_init(&log);
	*count_r = 0;
	fd = dup(spool->dir_fd);
	if (fd < 0 || !(dir = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		*error_r = "cannot read the queue directory";
		goto out;
	}
	rewinddir(dir);
	errno = 0;
	while ((de = readdir(dir)) != NULL) {
		size_t len = strlen(de->d_name);
		bool is_log = len == QUEUE_ID_LEN + 5 &&
			strcmp(de->d_name + QUEUE_ID_LEN, ".rcpt") == 0;
		if (len != QUEUE_ID_LEN && !is_log)
			goto next;
		memcpy(name, de->d_name, QUEUE_ID_LEN);
		name[QUEUE_ID_LEN] = '\0';
		if (!queue_id_is_valid(name))
			goto next;
		if (is_log) {
			if (nlogs == logs_alloc) {
				logs_alloc = logs_alloc ? logs_alloc * 2 : 16;
				logs = xrealloc(logs, logs_alloc * sizeof(*logs));
			}
			memcpy(logs[nlogs++], name, QUEUE_ID_LEN + 1);
			goto next;
		}
		struct stat st;
		if (fstatat(spool->dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
		    !S_ISREG(st.st_mode))
			goto next;
		if (!(st.st_mode & S_IXUSR)) {
			/* never finished: never acknowledged */
			if (unlinkat(spool->dir_fd, name, 0) != 0 && errno != ENOENT)
				log_warn("queue_incomplete", "file=%s error=\"%s\"", name,
					 strerror(errno));
			goto next;
		}
		if (count == alloc) {
			alloc = alloc ? alloc * 2 : 64;
			ids = xrealloc(ids, alloc * sizeof(*ids));
		}
		memcpy(ids[count++], name, QUEUE_ID_LEN + 1);
next:
		errno = 0;
	}
	if (errno != 0) {
		*error_r = "cannot read the queue directory";
		goto out;
	}
	if (count > 0)
		qsort(ids, count, sizeof(*ids), id_compare);
	/* 1. each log after its message's body (a repeat after a crash adds
	 * lines already there: applying a line twice changes nothing) */
	bool appended = false;
	for (size_t i = 0; i < nlogs; i++) {
		if (count == 0 || !bsearch(logs[i], ids, count, sizeof(*ids), id_compare))
			continue;
		snprintf(name, sizeof(name), "%s.rcpt", logs[i]);
		buf_reset(&log);
		int r = read_at(spool->dir_fd, name, SPOOL_RCPT_LOG_MAX, true, &log, &err);
		if (r < 0) {
			*error_r = "cannot read a legacy recipient log";
			goto out;
		}
		if (r > 0 || log.len == 0)
			continue;
		int mfd = openat(spool->dir_fd, logs[i], O_RDWR | O_APPEND | O_CLOEXEC |
				 O_NOFOLLOW);
		if (mfd < 0 || fd_append_record(mfd, log.data, log.len) != 0) {
			*error_r = "cannot convert a legacy queue file";
			if (mfd >= 0)
				close(mfd);
			goto out;
		}
		if (close(mfd) != 0) {
			*error_r = "cannot convert a legacy queue file";
			goto out;
		}
		appended = true;
	}
	/* 2. durable before the logs go */
	if (appended && spool_sync_dir(spool, &err, error_r) != 0)
		goto out;
	/* 3. into new/ (not synced: a lost rename leaves it to convert again) */
	for (size_t i = 0; i < count; i++) {
		struct spool_loc loc = { SPOOL_NEW, 0 };
		spool_loc_path(&loc, ids[i], path);
		if (renameat(spool->dir_fd, ids[i], spool->dir_fd, path) != 0) {
			*error_r = "cannot move a legacy queue file into queue/" SPOOL_NEW_DIR;
			goto out;
		}
	}
	/* 4. the logs, now inside their messages, and orphan logs */
	for (size_t i = 0; i < nlogs; i++) {
		snprintf(name, sizeof(name), "%s.rcpt", logs[i]);
		if (unlinkat(spool->dir_fd, name, 0) != 0 && errno != ENOENT)
			log_warn("queue_legacy", "file=%s error=\"%s\"", name, strerror(errno));
	}
	*count_r = count;
	ret = 0;
out:
	if (dir && closedir(dir) != 0 && ret == 0) {
		*error_r = "cannot close the queue directory";
		ret = -1;
	}
	buf_free(&log);
	free(ids);
	free(logs);
	return ret;
}

int spool_write_message(struct spool *spool, const char *id, const struct buf *envelope,
			const char *body, size_t body_len, int *errno_r, const char **error_r)
{
	int fd = -1, ret = -1, err = 0;
	bool created = false;

	if (atomic_load(&spool->failed)) {
		err = ESTALE;
		goto out;
	}
	struct spool_loc loc = { SPOOL_NEW, 0 };
	char path[SPOOL_PATH_MAX];
	spool_loc_path(&loc, id, path);
	fd = openat(spool->dir_fd, path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		err = errno;
		goto out;
	}
	created = true;
	if (fd_write_all(fd, envelope->data, envelope->len) != 0 || fd_write_all(fd, "\n", 1) != 0 ||
	    fd_write_all(fd, body, body_len) != 0 || fchmod(fd, 0700) != 0) {
		err = errno;
		goto out;
	}
	int fd_closing = fd;
	fd = -1;
	if (close(fd_closing) != 0) {
		err = errno;
		goto out;
	}
	ret = 0;
out:
	if (fd >= 0 && close(fd) != 0)
		log_warn("queue_write", "queue_id=%s close_error=\"%s\"", id, strerror(errno));
	if (ret != 0 && created && unlinkat(spool->dir_fd, path, 0) != 0)
		log_warn("queue_write", "queue_id=%s unlink_error=\"%s\"", id, strerror(errno));
	if (ret != 0) {
		*errno_r = err;
		*error_r = spool_error_text(err);
	}
	return ret;
}

int spool_sync_dir(struct spool *spool, int *errno_r, const char **error_r)
{
	if (atomic_load(&spool->failed)) {
		*errno_r = ESTALE;
		*error_r = spool_error_text(ESTALE);
		return -1;
	}
	int err = 0;
	if (syncer_wait(spool->syncer, &err) != 0)
		return spool_commit_result(spool, err, errno_r, error_r);
	return 0;
}

int spool_commit_later(struct spool *spool, pool_work_fn *next, int *sync_err_r,
		       int *errno_r, const char **error_r)
{
	if (atomic_load(&spool->failed)) {
		*errno_r = ESTALE;
		*error_r = spool_error_text(ESTALE);
		return -1;
	}
	pool_then_sync(spool->syncer, next, sync_err_r);
	return 0;
}

int spool_commit_result(struct spool *spool, int sync_err, int *errno_r, const char **error_r)
{
	if (sync_err == 0)
		return 0;
	/* see the head comment: a later success would prove nothing */
	if (!atomic_exchange(&spool->failed, true))
		log_error("spool-failed", "dir=queue error=\"%s\" action=\"no mail is "
			  "accepted until a restart\"", strerror(sync_err));
	*errno_r = sync_err;
	*error_r = spool_error_text(sync_err);
	return -1;
}

/* read_at - read NAME under DIR_FD into OUT: WHOLE fails if it exceeds MAX,
 * otherwise the first MAX bytes.  1 if it does not exist. */
static int read_at(int dir_fd, const char *name, size_t max, bool whole, struct buf *out,
		   int *errno_r)
{
	int fd = -1, ret = -1, err = 0;
	struct stat st;
	char chunk[65536];
	size_t total = 0;

	fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		err = errno;
		ret = errno == ENOENT ? 1 : -1;
		goto out;
	}
	if (fstat(fd, &st) != 0) {
		err = errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode) || (whole && (uint64_t)st.st_size > max)) {
		err = S_ISREG(st.st_mode) ? EFBIG : EINVAL;
		goto out;
	}
	while (total < max) {
		size_t want = max - total < sizeof(chunk) ? max - total : sizeof(chunk);
		ssize_t n = read(fd, chunk, want);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			err = errno;
			goto out;
		}
		if (n == 0)
			break;
		buf_append(out, chunk, (size_t)n);
		total += (size_t)n;
	}
	ret = 0;
out:
	if (fd >= 0 && close(fd) != 0 && ret == 0) {
		err = errno;
		ret = -1;
	}
	*errno_r = err;
	return ret;
}

/* log_apply - apply the state log DATA[0..LEN) to ENV: a torn last line
 * (no newline: its sync never finished) and lines that do not parse are
 * skipped */
static void log_apply(struct queue_envelope *env, const char *data, size_t len)
{
	int bad = spool_state_log_parse(env, data, len);
	if (bad > 0)
		log_warn("queue_rcpt_log", "queue_id=%s skipped_lines=%d", env->id, bad);
}

struct queue_envelope *spool_read_message(struct spool *spool, const struct spool_loc *loc,
					  const char *id, size_t max, struct buf *body,
					  const char **error_r)
{
	struct buf data;
	struct queue_envelope *env = NULL;
	char path[SPOOL_PATH_MAX];
	size_t off;
	int err;

	buf_init(&data);
	spool_loc_path(loc, id, path);
	int r = read_at(spool->dir_fd, path, max, true, &data, &err);
	if (r != 0) {
		*error_r = r > 0 ? "message file vanished" :
			err == EFBIG ? "message file too large" : "cannot read the message file";
		goto fail;
	}
	env = queue_envelope_parse(data.data ? data.data : "", data.len, &off, error_r);
	if (!env)
		goto fail;
	if (strcmp(env->id, id) != 0) {
		*error_r = "envelope ID does not match the file name";
		goto fail;
	}
	/* a file marked complete whose data never reached the disk (see the
	 * head comment) is caught here, before anything trusts it */
	if (env->size > data.len - off) {
		*error_r = "body size does not match the envelope";
		goto fail;
	}
	size_t size = (size_t)env->size;
	if (env->has_body_crc && queue_crc32c(0, data.data + off, size) != env->body_crc) {
		*error_r = "body checksum does not match the envelope";
		goto fail;
	}
	log_apply(env, data.data + off + size, data.len - off - size);
	if (body)
		buf_append(body, data.data + off, size);
	buf_free(&data);
	return env;
fail:
	queue_envelope_free(&env);
	buf_free(&data);
	return NULL;
}

/* rcpt_log_parse_message_line - "M hold 0|1", "M notice-delay 1" or "M next UNIX" */
static int rcpt_log_parse_message_line(struct queue_envelope *env, const char *line, size_t len)
{
	if (len == 8 && memcmp(line, "M hold ", 7) == 0 && (line[7] == '0' || line[7] == '1')) {
		env->held = line[7] == '1';
		return 0;
	}
	if (len == 16 && memcmp(line, "M notice-delay 1", 16) == 0) {
		env->delay_notified = true;
		return 0;
	}
	if (len > 7 && len < 7 + 20 && memcmp(line, "M next ", 7) == 0) {
		long long t = 0;
		for (size_t i = 7; i < len; i++) {
			if (line[i] < '0' || line[i] > '9')
				return -1;
			t = t * 10 + (line[i] - '0');
		}
		env->next_attempt = (time_t)t;
		return 0;
	}
	return -1;
}

/* rcpt_log_parse_line - apply "INDEX STATE REPLY" (or a message line, "M
 * ..."); -1 if it does not parse */
static int rcpt_log_parse_line(struct queue_envelope *env, const char *line, size_t len)
{
	const char *end = line + len, *p = line;
	size_t index = 0;
	int state = -1;

	if (p != end && *p == 'M')
		return rcpt_log_parse_message_line(env, line, len);
	if (p == end || *p < '0' || *p > '9')
		return -1;
	for (; p < end && *p >= '0' && *p <= '9'; p++) {
		if (index > env->rcpt_count)
			return -1;
		index = index * 10 + (size_t)(*p - '0');
	}
	if (index >= env->rcpt_count || p == end || *p++ != ' ')
		return -1;
	const char *sp = memchr(p, ' ', (size_t)(end - p));
	if (!sp)
		return -1;
	for (int i = 0; i < (int)(sizeof(state_names) / sizeof(state_names[0])); i++) {
		if (strlen(state_names[i]) == (size_t)(sp - p) &&
		    memcmp(state_names[i], p, (size_t)(sp - p)) == 0)
			state = i;
	}
	if (state < 0)
		return -1;
	p = sp + 1;
	char *reply = NULL;
	if (!(end - p == 1 && *p == '-')) {
		reply = wire_xtext_decode(p, (size_t)(end - p));
		if (!reply)
			return -1;
	}
	struct queue_recipient *r = &env->rcpts[index];
	/* a final state is final: a later line never revives the recipient */
	if (r->state != QUEUE_RCPT_DELIVERED && r->state != QUEUE_RCPT_FAILED)
		r->state = (enum queue_rcpt_state)state;
	free(r->last_reply);
	r->last_reply = reply;
	return 0;
}

void spool_rcpt_log_line(struct buf *out, size_t index, enum queue_rcpt_state state,
			 const char *reply)
{
	buf_printf(out, "%zu %s ", index, queue_rcpt_state_name(state));
	if (reply && strcmp(reply, "-") != 0 && reply[0] != '\0')
		wire_xtext_append(out, reply, strlen(reply));
	else
		buf_append(out, "-", 1);
	buf_append(out, "\n", 1);
}

int spool_log_append(struct spool *spool, const struct spool_loc *loc, const char *id,
		     const struct buf *text, const char **error_r)
{
	char path[SPOOL_PATH_MAX];
	int fd = -1, ret = -1;

	if (atomic_load(&spool->failed)) {
		errno = ESTALE;
		goto fail;
	}
	spool_loc_path(loc, id, path);
	fd = openat(spool->dir_fd, path, O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ENOENT) {
			*error_r = "message file vanished";
			goto out;
		}
		goto fail;
	}
	if (fd_append_record(fd, text->data, text->len) != 0)
		goto fail;
	int fd_closing = fd;
	fd = -1;
	if (close(fd_closing) != 0)
		goto fail;
	int err;
	if (spool_sync_dir(spool, &err, error_r) != 0)
		goto out;
	ret = 0;
	goto out;
fail:
	*error_r = spool_error_text(errno);
out:
	if (fd >= 0 && close(fd) != 0)
		log_warn("queue_rcpt_log", "queue_id=%s close_error=\"%s\"", id, strerror(errno));
	return ret;
}

/* defer_dir_prune - remove defer/<T>/ if it is empty now (a folder still
 * holding messages, or already gone, is left as it is) */
static void defer_dir_prune(struct spool *spool, const struct spool_loc *loc)
{
	char path[SPOOL_PATH_MAX];
	if (loc->folder != SPOOL_DEFER)
		return;
	snprintf(path, sizeof(path), SPOOL_DEFER_DIR "/%lld", loc->t);
	if (unlinkat(spool->dir_fd, path, AT_REMOVEDIR) != 0 && errno != ENOTEMPTY &&
	    errno != EEXIST && errno != ENOENT)
		log_warn("queue_defer_dir", "dir=%s error=\"%s\"", path, strerror(errno));
}

/* spool_count_moved - a message file left FROM for TO (NULL: removed, or
 * out of the counted folders) */
static void spool_count_moved(struct spool *spool, const struct spool_loc *from,
			      const struct spool_loc *to)
{
	_Atomic long long *out = spool_counter(spool, from);
	_Atomic long long *in = to ? spool_counter(spool, to) : NULL;
	if (out)
		atomic_fetch_sub(out, 1);
	if (in)
		atomic_fetch_add(in, 1);
}

int spool_move(struct spool *spool, const char *id, const struct spool_loc *from,
	       const struct spool_loc *to, const char **error_r)
{
	char src[SPOOL_PATH_MAX], dst[SPOOL_PATH_MAX], dir[SPOOL_PATH_MAX];
	spool_loc_path(from, id, src);
	spool_loc_path(to, id, dst);
	if (from->folder == to->folder && from->t == to->t)
		return 0;
	/* a defer/<T>/ is made on demand and pruned when emptied, maybe by
	 * another worker between our mkdir and rename: try again */
	for (int tries = 0; tries < 4; tries++) {
		if (renameat(spool->dir_fd, src, spool->dir_fd, dst) == 0) {
			defer_dir_prune(spool, from);
			spool_count_moved(spool, from, to);
			return 0;
		}
		if (errno != ENOENT || to->folder != SPOOL_DEFER)
			break;
		struct stat st;
		if (fstatat(spool->dir_fd, src, &st, AT_SYMLINK_NOFOLLOW) != 0)
			break;  /* the source is what is missing */
		snprintf(dir, sizeof(dir), SPOOL_DEFER_DIR "/%lld", to->t);
		if (mkdirat(spool->dir_fd, dir, 0700) != 0 && errno != EEXIST)
			break;
	}
	*error_r = errno == ENOENT ? "message file vanished" : "cannot move the message file";
	return -1;
}

int spool_remove(struct spool *spool, const struct spool_loc *loc, const char *id,
		 const char **error_r)
{
	char path[SPOOL_PATH_MAX];
	spool_loc_path(loc, id, path);
	/* not synced: a lost unlink brings the message back with its log */
	if (unlinkat(spool->dir_fd, path, 0) != 0) {
		if (errno != ENOENT) {
			*error_r = "cannot remove the message file";
			return -1;
		}
	} else {
		spool_count_moved(spool, loc, NULL);
	}
	defer_dir_prune(spool, loc);
	return 0;
}

int spool_file_age(struct spool *spool, const struct spool_loc *loc, const char *id, time_t now,
		   time_t *age_r, const char **error_r)
{
	char path[SPOOL_PATH_MAX];
	struct stat st;
	spool_loc_path(loc, id, path);
	if (fstatat(spool->dir_fd, path, &st, AT_SYMLINK_NOFOLLOW) != 0) {
		if (errno == ENOENT)
			return 1;
		*error_r = "cannot stat the message file";
		return -1;
	}
	*age_r = now > st.st_mtime ? now - st.st_mtime : 0;
	return 0;
}

int spool_move_corrupt(struct spool *spool, const struct spool_loc *loc, const char *id,
		       const char **error_r)
{
	char src[SPOOL_PATH_MAX], dst[SPOOL_PATH_MAX];
	int ret = -1, err;

	/* the queue directory's syncs go through spool_sync_dir: a failure
	 * there marks the spool failed, as any sync does */
	if (mkdirat(spool->dir_fd, SPOOL_CORRUPT_DIR, 0700) != 0 && errno != EEXIST) {
		*error_r = "cannot create queue/" SPOOL_CORRUPT_DIR;
		goto out;
	}
	spool_loc_path(loc, id, src);
	snprintf(dst, sizeof(dst), SPOOL_CORRUPT_DIR "/%s", id);
	if (renameat(spool->dir_fd, src, spool->dir_fd, dst) != 0) {
		*error_r = "cannot move the file into queue/" SPOOL_CORRUPT_DIR;
		goto out;
	}
	spool_count_moved(spool, loc, NULL);
	defer_dir_prune(spool, loc);
	/* durable, so that it is not tried again after a restart */
	if (spool_sync_dir(spool, &err, error_r) != 0)
		goto out;
	ret = 0;
out:
	return ret;
}

int spool_state_log_parse(struct queue_envelope *env, const char *data, size_t len)
{
	int bad = 0;
	for (size_t pos = 0; pos < len;) {
		const char *lf = memchr(data + pos, '\n', len - pos);
		if (!lf)
			break;  /* torn last line: its sync never finished */
		size_t n = (size_t)(lf - (data + pos));
		if (n > 0 && rcpt_log_parse_line(env, data + pos, n) != 0)
			bad++;
		pos += n + 1;
	}
	return bad;
}
