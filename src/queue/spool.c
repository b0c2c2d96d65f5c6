/* queue/spool - blocking, thread-safe file operations on the spool.
 *
 * A message is created in the spool under its final name <ID> (O_EXCL, so an
 * ID collision can never replace an accepted message) with mode 0600,
 * written, marked complete by setting its owner-execute bit (mode 0700, as
 * Postfix marks finished queue files) and closed (close checked: NFS and
 * some file systems report write errors only there); then the group commit
 * (util/syncer: one syncfs shared by every message written meanwhile) makes
 * its data and its entry durable.  The mark is set before that sync, so a
 * power cut during it can leave a file marked complete whose data never
 * reached the disk (cut short, or with blocks that read as zeros).  Such a
 * file was never acknowledged (the 250 waits for the sync), and it is never
 * trusted either: its envelope
 * records the body's length and CRC-32C, and every read checks both
 * (spool_read_message), recovery's first attempt included.  A file that
 * fails the check is unreadable: the scheduler retries it with backoff and
 * then moves it to queue/corrupt/ (spool_move_corrupt).  Checking costs a
 * CRC per read; a second sync per message to order the mark would cost a
 * journal commit per message, which is the thing group commit saves.  A
 * file without the execute bit was never acknowledged: readers skip it and
 * recovery at start removes it.
 *
 * A failed sync is final for this process.  Linux reports
 * a writeback error once, to the fsync that runs after it: a second fsync
 * that succeeds does not mean the entries of the first are on disk (the
 * pages may have been dropped, "fsyncgate").  So the first failure marks the
 * spool failed: from then on every new message, notice and log creation is
 * refused (SMTP gets 451 4.3.0) and nothing more is acknowledged, until a
 * restart re-reads and re-verifies every file in the spool (recovery).
 *
 * <ID>.rcpt is an append-only log of "INDEX STATE REPLY" lines (REPLY xtext,
 * "-" for none).  A crash may leave a torn last line: readers skip lines that
 * do not parse, and writers start a new line if the file does not end with
 * one, so a torn record costs at most a redelivery, never the message.
 */
#include "queue/spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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

/* largest .rcpt log read back */
#define SPOOL_RCPT_LOG_MAX (16u * 1024 * 1024)

static int mkdir_durable(const char *path);
static int fsync_parent(const char *path);
static int read_at(int dir_fd, const char *name, size_t max, bool whole, struct buf *out,
		   int *errno_r);
static int id_compare(const void *a, const void *b);
static int rcpt_log_parse_line(struct queue_envelope *env, const char *line, size_t len);

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

struct spool *spool_open(const char *data_dir, bool create, const char **error_r)
{
	struct spool *spool = xcalloc(1, sizeof(*spool));

	spool->dir = xasprintf("%s/queue", data_dir);
	spool->dir_fd = -1;
	if (create && (mkdir_durable(data_dir) != 0 || mkdir_durable(spool->dir) != 0)) {
		*error_r = "cannot create the queue directories";
		goto fail;
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

int spool_list(struct spool *spool, bool remove_orphans, char (**ids_r)[QUEUE_ID_LEN + 1],
	       size_t *count_r, const char **error_r)
{
	DIR *dir = opendir(spool->dir);
	char (*ids)[QUEUE_ID_LEN + 1] = NULL, (*logs)[QUEUE_ID_LEN + 1] = NULL;
	size_t count = 0, alloc = 0, nlogs = 0, logs_alloc = 0;
	struct dirent *de;
	char name[QUEUE_ID_LEN + 1];
	int ret = -1;

	if (!dir) {
		*error_r = "cannot read the queue directory";
		goto out;
	}
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
			memcpy(logs[nlogs++], name, sizeof(name));
		} else {
			struct stat st;
			if (fstatat(spool->dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
			    !S_ISREG(st.st_mode))
				goto next;
			if (!(st.st_mode & S_IXUSR)) {
				/* being written, or never finished: not acknowledged */
				if (remove_orphans && unlinkat(spool->dir_fd, name, 0) != 0 &&
				    errno != ENOENT)
					log_warn("queue_incomplete", "file=%s error=\"%s\"", name,
						 strerror(errno));
				goto next;
			}
			if (count == alloc) {
				alloc = alloc ? alloc * 2 : 64;
				ids = xrealloc(ids, alloc * sizeof(*ids));
			}
			memcpy(ids[count++], name, sizeof(name));
		}
next:
		errno = 0;
	}
	if (errno != 0) {
		*error_r = "cannot read the queue directory";
		goto out;
	}
	if (count > 0)
		qsort(ids, count, sizeof(*ids), id_compare);
	for (size_t i = 0; remove_orphans && i < nlogs; i++) {
		if (count > 0 && bsearch(logs[i], ids, count, sizeof(*ids), id_compare))
			continue;
		/* the message went first (spool_remove); finish the job */
		char *log_name = xasprintf("%s.rcpt", logs[i]);
		if (unlinkat(spool->dir_fd, log_name, 0) != 0 && errno != ENOENT)
			log_warn("queue_orphan", "file=%s error=\"%s\"", log_name, strerror(errno));
		free(log_name);
	}
	*ids_r = ids;
	*count_r = count;
	ids = NULL;
	ret = 0;
out:
	if (dir && closedir(dir) != 0 && ret == 0) {
		*error_r = "cannot close the queue directory";
		ret = -1;
	}
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
	fd = openat(spool->dir_fd, id, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
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
	if (ret != 0 && created && unlinkat(spool->dir_fd, id, 0) != 0)
		log_warn("queue_write", "queue_id=%s unlink_error=\"%s\"", id, strerror(errno));
	if (ret != 0) {
		*errno_r = err;
		*error_r = spool_error_text(err);
	}
	return ret;
}

int spool_commit_dir(struct spool *spool, int *errno_r, const char **error_r)
{
	return spool_sync_dir(spool, errno_r, error_r);
}

int spool_sync_dir(struct spool *spool, int *errno_r, const char **error_r)
{
	if (atomic_load(&spool->failed)) {
		*errno_r = ESTALE;
		*error_r = spool_error_text(ESTALE);
		return -1;
	}
	int err = 0;
	if (syncer_wait(spool->syncer, &err) != 0) {
		/* see the head comment: a later success would prove nothing */
		if (!atomic_exchange(&spool->failed, true))
			log_error("spool-failed", "dir=queue error=\"%s\" action=\"no mail is "
				  "accepted until a restart\"", strerror(err));
		*errno_r = err;
		*error_r = spool_error_text(err);
		return -1;
	}
	return 0;
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

int spool_read_prefix(struct spool *spool, const char *id, size_t max, struct buf *out,
		      const char **error_r)
{
	int err;
	int ret = read_at(spool->dir_fd, id, max, false, out, &err);
	if (ret < 0)
		*error_r = err == EINVAL ? "not a regular file" : "cannot read the queue file";
	return ret;
}

struct queue_envelope *spool_read_message(struct spool *spool, const char *id, size_t max,
					  struct buf *body, const char **error_r)
{
	struct buf data;
	struct queue_envelope *env = NULL;
	size_t off;
	int err;

	buf_init(&data);
	int r = read_at(spool->dir_fd, id, max, true, &data, &err);
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
	if (env->size != data.len - off) {
		*error_r = "body size does not match the envelope";
		goto fail;
	}
	if (env->has_body_crc && queue_crc32c(0, data.data + off, data.len - off) != env->body_crc) {
		*error_r = "body checksum does not match the envelope";
		goto fail;
	}
	if (spool_rcpt_log_apply(spool, env, error_r) != 0)
		goto fail;
	if (body)
		buf_append(body, data.data + off, data.len - off);
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

int spool_rcpt_log_apply(struct spool *spool, struct queue_envelope *env, const char **error_r)
{
	struct buf data;
	char *name = xasprintf("%s.rcpt", env->id);
	int err, ret = -1;
	size_t bad = 0;

	buf_init(&data);
	int r = read_at(spool->dir_fd, name, SPOOL_RCPT_LOG_MAX, true, &data, &err);
	if (r < 0) {
		*error_r = "cannot read the recipient log";
		goto out;
	}
	env->rcpt_log = r == 0;
	for (size_t pos = 0; pos < data.len;) {
		const char *lf = memchr(data.data + pos, '\n', data.len - pos);
		if (!lf)
			break;  /* torn last line: its fsync never finished */
		size_t len = (size_t)(lf - (data.data + pos));
		if (len > 0 && rcpt_log_parse_line(env, data.data + pos, len) != 0)
			bad++;
		pos += len + 1;
	}
	if (bad > 0)
		log_warn("queue_rcpt_log", "queue_id=%s skipped_lines=%zu", env->id, bad);
	ret = 0;
out:
	buf_free(&data);
	free(name);
	return ret;
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

int spool_rcpt_log_append(struct spool *spool, const char *id, const struct buf *text,
			  const char **error_r)
{
	char *name = xasprintf("%s.rcpt", id);
	int fd = -1, ret = -1;
	struct stat st;
	char last;

	fd = openat(spool->dir_fd, name, O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT) {
		/* a new directory entry could never be made durable once the
		 * spool has failed (see the head comment): refuse to create one */
		if (atomic_load(&spool->failed)) {
			errno = ESTALE;
			goto fail;
		}
		fd = openat(spool->dir_fd, name, O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC,
			    0600);
	}
	if (fd < 0 || fstat(fd, &st) != 0)
		goto fail;
	if (st.st_size > 0) {
		ssize_t n = pread(fd, &last, 1, st.st_size - 1);
		if (n != 1)
			goto fail;
		if (last != '\n' && fd_write_all(fd, "\n", 1) != 0)
			goto fail;
	}
	if (fd_write_all(fd, text->data, text->len) != 0)
		goto fail;
	int fd_closing = fd;
	fd = -1;
	if (close(fd_closing) != 0)
		goto fail;
	/* the lines, and the log's entry when it is new: one group commit */
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
	free(name);
	return ret;
}

int spool_remove(struct spool *spool, const char *id, bool has_log, const char **error_r)
{
	char *name = xasprintf("%s.rcpt", id);
	int ret = -1;

	/* the message first: a crash in between leaves an orphan log, which
	 * spool_list removes, never a message without its log */
	if (unlinkat(spool->dir_fd, id, 0) != 0 && errno != ENOENT) {
		*error_r = "cannot remove the message file";
		goto out;
	}
	if (has_log && unlinkat(spool->dir_fd, name, 0) != 0 && errno != ENOENT) {
		*error_r = "cannot remove the recipient log";
		goto out;
	}
	ret = 0;
out:
	free(name);
	return ret;
}

int spool_file_age(struct spool *spool, const char *id, time_t now, time_t *age_r,
		   const char **error_r)
{
	struct stat st;
	if (fstatat(spool->dir_fd, id, &st, AT_SYMLINK_NOFOLLOW) != 0) {
		if (errno == ENOENT)
			return 1;
		*error_r = "cannot stat the message file";
		return -1;
	}
	*age_r = now > st.st_mtime ? now - st.st_mtime : 0;
	return 0;
}

int spool_move_corrupt(struct spool *spool, const char *id, const char **error_r)
{
	char *log_name = xasprintf("%s.rcpt", id);
	int fd = -1, ret = -1, err;

	/* the queue directory's fsyncs go through spool_sync_dir: a failure
	 * there marks the spool failed, as any directory fsync does */
	if (mkdirat(spool->dir_fd, SPOOL_CORRUPT_DIR, 0700) == 0) {
		if (spool_sync_dir(spool, &err, error_r) != 0)
			goto out;
	} else if (errno != EEXIST) {
		*error_r = "cannot create queue/" SPOOL_CORRUPT_DIR;
		goto out;
	}
	fd = openat(spool->dir_fd, SPOOL_CORRUPT_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC |
		    O_NOFOLLOW);
	if (fd < 0) {
		*error_r = "cannot open queue/" SPOOL_CORRUPT_DIR;
		goto out;
	}
	/* the message first: a crash in between leaves an orphan log, which
	 * recovery removes, never a message in the queue without its log */
	if (renameat(spool->dir_fd, id, fd, id) != 0 ||
	    (renameat(spool->dir_fd, log_name, fd, log_name) != 0 && errno != ENOENT)) {
		*error_r = "cannot move the file into queue/" SPOOL_CORRUPT_DIR;
		goto out;
	}
	if (fsync(fd) != 0) {
		*error_r = "cannot sync queue/" SPOOL_CORRUPT_DIR;
		goto out;
	}
	if (spool_sync_dir(spool, &err, error_r) != 0)
		goto out;
	ret = 0;
out:
	if (fd >= 0 && close(fd) != 0 && ret == 0) {
		*error_r = "cannot close queue/" SPOOL_CORRUPT_DIR;
		ret = -1;
	}
	free(log_name);
	return ret;
}

int spool_list_corrupt(struct spool *spool, char (**ids_r)[QUEUE_ID_LEN + 1], size_t *count_r,
		       const char **error_r)
{
	char (*ids)[QUEUE_ID_LEN + 1] = NULL;
	size_t count = 0, alloc = 0;
	DIR *dir = NULL;
	struct dirent *de;
	int ret = -1;
	int fd = openat(spool->dir_fd, SPOOL_CORRUPT_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC |
			O_NOFOLLOW);
	if (fd < 0) {
		ret = errno == ENOENT ? 0 : -1;
		if (ret != 0)
			*error_r = "cannot open queue/" SPOOL_CORRUPT_DIR;
		goto out;
	}
	dir = fdopendir(fd);
	if (!dir) {
		*error_r = "cannot read queue/" SPOOL_CORRUPT_DIR;
		if (close(fd) != 0)
			log_warn("queue_corrupt", "close_error=\"%s\"", strerror(errno));
		goto out;
	}
	errno = 0;
	while ((de = readdir(dir)) != NULL) {
		if (strlen(de->d_name) == QUEUE_ID_LEN && queue_id_is_valid(de->d_name)) {
			if (count == alloc) {
				alloc = alloc ? alloc * 2 : 16;
				ids = xrealloc(ids, alloc * sizeof(*ids));
			}
			memcpy(ids[count++], de->d_name, QUEUE_ID_LEN + 1);
		}
		errno = 0;
	}
	if (errno != 0) {
		*error_r = "cannot read queue/" SPOOL_CORRUPT_DIR;
		goto out;
	}
	if (count > 0)
		qsort(ids, count, sizeof(*ids), id_compare);
	ret = 0;
out:
	if (dir && closedir(dir) != 0 && ret == 0) {
		*error_r = "cannot close queue/" SPOOL_CORRUPT_DIR;
		ret = -1;
	}
	if (ret == 0) {
		*ids_r = ids;
		*count_r = count;
		ids = NULL;
	}
	free(ids);
	return ret;
}
