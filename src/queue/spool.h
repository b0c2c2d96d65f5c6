/* queue/spool - blocking file operations on <data_dir>/queue (internal).
 *
 * Every function here may block on the disk: in the running server they are
 * called from pool work functions only (queue_create's legacy conversion and
 * its listing of defer/ are the exception, before the loop runs).  They are thread-safe: the spool holds
 * only directory descriptors, and the *at() calls on them need no lock.
 * Errors: -1 and *error_r (static text); *errno_r where a caller needs it.
 * Not part of the queue's public interface: only src/queue/ includes this.
 */
#ifndef PETREL_QUEUE_SPOOL_H
#define PETREL_QUEUE_SPOOL_H

#include <stdbool.h>
#include <pthread.h>
#include <stddef.h>
#include <time.h>

#include "queue/queue.h"
#include "util/buf.h"
#include "util/pool.h"

/* largest envelope section accepted from a spool file */
#define SPOOL_ENVELOPE_MAX (4u * 1024 * 1024)
/* largest header section `petrel queue show` prints */
#define SPOOL_HEADER_MAX (256u * 1024)

struct syncer;

/* the folders under queue/ (spool.c's head comment) */
#define SPOOL_NEW_DIR "new"
#define SPOOL_DEFER_DIR "defer"
#define SPOOL_HOLD_DIR "hold"
#define SPOOL_CORRUPT_DIR "corrupt"
/* longest path of a message below queue/: "defer/<T>/<ID>" */
#define SPOOL_PATH_MAX 64

enum spool_folder {
	SPOOL_NEW,    /* new/<ID> */
	SPOOL_DEFER,  /* defer/<T>/<ID> */
	SPOOL_HOLD,   /* hold/<ID> */
};

/* where a message's file is */
struct spool_loc {
	enum spool_folder folder;
	long long t;  /* SPOOL_DEFER: the folder's time; else 0 */
};

struct spool {
	char *dir;    /* <data_dir>/queue */
	int dir_fd;   /* O_DIRECTORY descriptor of dir */
	/* group commit (util/syncer): one syncfs covers every file written,
	 * and every directory entry made, before it began */
	struct syncer *syncer;
	/* a sync failed: nothing is acknowledged until a restart */
	_Atomic bool failed;
	/* message files in defer/ and in hold/: counted by spool_count_waiting,
	 * then kept up by spool_move, spool_remove and spool_move_corrupt */
	_Atomic long long deferred_files;
	_Atomic long long held_files;
};

/* spool_open - make <data_dir>/queue and its new/, defer/ and hold/ (mode
 * 0700, fsyncing the parents of what it creates) and open it; with CREATE
 * false only open */
struct spool *spool_open(const char *data_dir, bool create, const char **error_r);
void spool_close(struct spool **spool);

/* spool_error_text - static text for an errno from writing the spool */
const char *spool_error_text(int err);

/* spool_loc_path - "new/<ID>", "defer/<T>/<ID>" or "hold/<ID>" */
void spool_loc_path(const struct spool_loc *loc, const char *id, char out[SPOOL_PATH_MAX]);

/* spool_convert_legacy - (start-up) move the layout of earlier versions,
 * queue/<ID> and queue/<ID>.rcpt, into new/: each log appended to its
 * message, one sync, then the renames and the logs' unlinks; incomplete
 * files and orphan logs are removed.  *COUNT_R: messages converted. */
int spool_convert_legacy(struct spool *spool, size_t *count_r, const char **error_r);

/* spool_list_defer - the times T of the folders defer/<T>/ (unsorted);
 * none if there is no defer/ */
int spool_list_defer(struct spool *spool, long long **times_r, size_t *count_r,
		     const char **error_r);
/* spool_count_waiting - (start-up, before anything moves a file) count
 * the complete message files in hold/ and in the defer/<T>/ of TIMES (from
 * spool_list_defer) into spool->held_files and deferred_files */
int spool_count_waiting(struct spool *spool, const long long *times, size_t ntimes,
			const char **error_r);
/* spool_locate - find ID's file: new/, hold/, then each defer/<T>/.  0 and
 * *LOC_R, 1 if there is none, -1 and *error_r. */
int spool_locate(struct spool *spool, const char *id, struct spool_loc *loc_r,
		 const char **error_r);

/* A folder read in batches: spool_dir_open (NULL and *errno_r: ENOENT if
 * it does not exist), spool_dir_read (up to MAX complete messages' IDs per
 * call; *END_R at the end; an incomplete file older than REMOVE_BEFORE is
 * removed, one from a crash), spool_dir_close.  One thread at a time. */
struct spool_dir;
struct spool_dir *spool_dir_open(struct spool *spool, const struct spool_loc *loc, int *errno_r);
int spool_dir_read(struct spool_dir *dir, size_t max, time_t remove_before,
		   char (*ids)[QUEUE_ID_LEN + 1], size_t *count_r, bool *end_r, int *errno_r);
void spool_dir_close(struct spool_dir **dir);

/* spool_write_message - new/<ID>: ENVELOPE, BODY; mark complete (mode
 * 0700), close.  Not durable until spool_commit_later / spool_sync_dir.  On
 * error the file is gone. */
int spool_write_message(struct spool *spool, const char *id, const struct buf *envelope,
			const char *body, size_t body_len, int *errno_r, const char **error_r);
/* spool_commit_later - make a file just written durable, data and entry (a
 * syncfs that begins after the call), for a pool job, without holding its
 * worker: the job waits for the sync (util/pool's pool_then_sync), then
 * goes on with NEXT on a worker, or with its DONE on the loop (NEXT NULL);
 * spool_commit_result(*SYNC_ERR_R) then tells how it went.  -1 with
 * *errno_r and *error_r at once if the spool has failed already. */
int spool_commit_later(struct spool *spool, pool_work_fn *next, int *sync_err_r,
		       int *errno_r, const char **error_r);
/* spool_commit_result - a spool_commit_later's outcome (SYNC_ERR: 0 or the
 * sync's errno) as spool_sync_dir returns it; a failure marks the spool
 * failed for good */
int spool_commit_result(struct spool *spool, int sync_err, int *errno_r, const char **error_r);
/* spool_sync_dir - the same group commit, waiting on the caller's thread:
 * makes earlier writes and new entries durable.
 * One failure marks the spool failed for good (see spool.c): this and every
 * later spool_sync_dir, spool_commit_later, spool_log_append and
 * spool_write_message fail. */
int spool_sync_dir(struct spool *spool, int *errno_r, const char **error_r);

/* spool_read_message - read ID's file at LOC (at most MAX bytes), parse its
 * envelope, check its body and apply its state log; the body goes into BODY
 * (appended) when BODY is non-NULL */
struct queue_envelope *spool_read_message(struct spool *spool, const struct spool_loc *loc,
					  const char *id, size_t max, struct buf *body,
					  const char **error_r);
/* spool_log_append - append TEXT ("index state reply" and "M" lines) to
 * the state log of ID's file at LOC and make it durable (group commit) */
int spool_log_append(struct spool *spool, const struct spool_loc *loc, const char *id,
		     const struct buf *text, const char **error_r);
/* spool_rcpt_log_line - append one log line for recipient INDEX to OUT */
void spool_rcpt_log_line(struct buf *out, size_t index, enum queue_rcpt_state state,
			 const char *reply);
/* spool_move - rename ID's file from FROM to TO (defer/<T>/ made on demand,
 * an emptied defer/<T>/ removed); not synced (see spool.c) */
int spool_move(struct spool *spool, const char *id, const struct spool_loc *from,
	       const struct spool_loc *to, const char **error_r);
/* spool_remove - unlink ID's file at LOC (not synced: see queue.c) */
int spool_remove(struct spool *spool, const struct spool_loc *loc, const char *id,
		 const char **error_r);

/* spool_file_age - seconds since ID's file at LOC was written (its mtime)
 * into *AGE_R; 1 if there is no such file */
int spool_file_age(struct spool *spool, const struct spool_loc *loc, const char *id, time_t now,
		   time_t *age_r, const char **error_r);
/* spool_move_corrupt - move ID's file at LOC into queue/corrupt/, created
 * on demand, and make it durable */
int spool_move_corrupt(struct spool *spool, const struct spool_loc *loc, const char *id,
		       const char **error_r);
/* spool_state_log_parse - apply the state log DATA[0..LEN) ("INDEX STATE
 * REPLY" and "M key value" lines, as in <ID>.rcpt or after the body) to
 * ENV; a torn last line is ignored; the number of lines that did not parse.
 * No I/O: `petrel queue list` reads the log itself, the queue through
 * spool_read_message. */
int spool_state_log_parse(struct queue_envelope *env, const char *data, size_t len);

/* queue_rcpt_state_name - "pending", "delivered", "deferred", "failed" */
const char *queue_rcpt_state_name(enum queue_rcpt_state state);

#endif
