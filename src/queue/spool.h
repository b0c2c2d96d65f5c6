/* queue/spool - blocking file operations on <data_dir>/queue (internal).
 *
 * Every function here may block on the disk: in the running server they are
 * called from pool work functions only (queue_create's start-up scan is the
 * exception, before the loop runs).  They are thread-safe: the spool holds
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

/* largest envelope section accepted from a spool file */
#define SPOOL_ENVELOPE_MAX (4u * 1024 * 1024)
/* largest header section `petrel queue show` prints */
#define SPOOL_HEADER_MAX (256u * 1024)

struct syncer;

struct spool {
	char *dir;    /* <data_dir>/queue */
	int dir_fd;   /* O_DIRECTORY descriptor of dir */
	/* group commit (util/syncer): one syncfs covers every file written,
	 * and every directory entry made, before it began */
	struct syncer *syncer;
	/* a directory fsync failed: nothing is acknowledged until a restart */
	_Atomic bool failed;
};

/* spool_open - make <data_dir>/queue (mode 0700, fsyncing the
 * parents of what it creates) and open them; with CREATE false only open */
struct spool *spool_open(const char *data_dir, bool create, const char **error_r);
void spool_close(struct spool **spool);

/* spool_error_text - static text for an errno from writing the spool */
const char *spool_error_text(int err);

/* spool_list - the IDs of complete messages in the spool, sorted (oldest
 * first); with REMOVE_ORPHANS (start-up only) incomplete messages and orphan
 * <ID>.rcpt logs are removed */
int spool_list(struct spool *spool, bool remove_orphans, char (**ids_r)[QUEUE_ID_LEN + 1],
	       size_t *count_r, const char **error_r);

/* spool_write_message - <ID>: ENVELOPE, BODY; mark complete (mode 0700),
 * close.  Not durable until spool_commit_dir / spool_sync_dir.  On error the file is gone. */
int spool_write_message(struct spool *spool, const char *id, const struct buf *envelope,
			const char *body, size_t body_len, int *errno_r, const char **error_r);
/* spool_commit_dir - make a file just written durable, data and entry: the
 * group commit of util/syncer (a syncfs that began after the call) */
int spool_commit_dir(struct spool *spool, int *errno_r, const char **error_r);
/* spool_sync_dir - the same group commit (spool_commit_dir is its name where
 * a new file is committed): makes earlier writes and new entries durable.
 * One failure marks the spool failed for good (see spool.c): this and every
 * later spool_sync_dir, spool_commit_dir and spool_write_message fail. */
int spool_sync_dir(struct spool *spool, int *errno_r, const char **error_r);

/* spool_read_message - read <ID> (at most MAX bytes), parse its envelope and
 * apply <ID>.rcpt; the body goes into BODY (appended) when BODY is non-NULL */
struct queue_envelope *spool_read_message(struct spool *spool, const char *id, size_t max,
					  struct buf *body, const char **error_r);
/* spool_read_prefix - up to MAX first bytes of <ID> into OUT; 1 if no such file */
int spool_read_prefix(struct spool *spool, const char *id, size_t max, struct buf *out,
		      const char **error_r);
/* spool_rcpt_log_apply - apply <ID>.rcpt (if any) to ENV's recipients */
int spool_rcpt_log_apply(struct spool *spool, struct queue_envelope *env,
			 const char **error_r);
/* spool_rcpt_log_append - append TEXT ("index state reply" lines) to
 * <ID>.rcpt and make it durable (group commit, spool_sync_dir) */
int spool_rcpt_log_append(struct spool *spool, const char *id, const struct buf *text,
			  const char **error_r);
/* spool_rcpt_log_line - append one log line for recipient INDEX to OUT */
void spool_rcpt_log_line(struct buf *out, size_t index, enum queue_rcpt_state state,
			 const char *reply);
/* spool_remove - unlink <ID>, then <ID>.rcpt when HAS_LOG (no fsync: see
 * queue.c); a log nobody wrote costs no failing unlink */
int spool_remove(struct spool *spool, const char *id, bool has_log, const char **error_r);

/* spool_file_age - seconds since <ID> was written (its mtime) into *AGE_R;
 * 1 if there is no such file */
int spool_file_age(struct spool *spool, const char *id, time_t now, time_t *age_r,
		   const char **error_r);
/* spool_move_corrupt - move <ID> (then <ID>.rcpt, if any) into
 * queue/corrupt/, created on demand, and make both directories durable */
int spool_move_corrupt(struct spool *spool, const char *id, const char **error_r);
/* spool_list_corrupt - the names of valid IDs in queue/corrupt/ (sorted);
 * none if the folder does not exist */
int spool_list_corrupt(struct spool *spool, char (**ids_r)[QUEUE_ID_LEN + 1], size_t *count_r,
		       const char **error_r);
#define SPOOL_CORRUPT_DIR "corrupt"

/* queue_rcpt_state_name - "pending", "delivered", "deferred", "failed" */
const char *queue_rcpt_state_name(enum queue_rcpt_state state);

#endif
