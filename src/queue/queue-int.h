/* queue/queue-int - what queue.c (spool, submission, recovery), scheduler.c
 * (delivery attempts, retries, administration) and bounce.c (DSNs) share.
 * Internal to src/queue/. */
#ifndef PETREL_QUEUE_INT_H
#define PETREL_QUEUE_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "queue/queue.h"
#include "queue/spool.h"
#include "util/buf.h"
#include "util/siphash.h"

struct event;
struct delivery;
struct syncer;
struct queue_submit_job;
struct queue_op_job;

#define QUEUE_SUBMITTING_SLOTS 256
#define QUEUE_LOAD_RETRY 10  /* seconds before a folder that failed is read again */

/* headroom over the message size limit when reading a spool file back:
 * the envelope, and headers the server added (Received:, DKIM...) */
#define QUEUE_FILE_SLACK (SPOOL_ENVELOPE_MAX + 64u * 1024 * 1024)
/* largest spool file read back: the largest message_size the configuration
 * accepts, plus the slack.  Not the message_size in force: a file accepted
 * before the limit was lowered must still be delivered. */
#define QUEUE_FILE_MAX (2147483648ULL + QUEUE_FILE_SLACK)

/* names read from a folder per loader job */
#define QUEUE_LOAD_BATCH 256

/* the reply a recipient that expired in the queue keeps (scheduler.c):
 * QUEUE_EXPIRED_HEAD "5 days" (dsn_duration_format) QUEUE_EXPIRED_LAST
 * "<the last attempt's reply, or none>"; bounce.c takes it apart again for
 * the DSN */
#define QUEUE_EXPIRED_HEAD "451 4.4.7 Message expired after "
#define QUEUE_EXPIRED_LAST " in the queue; last error: "

enum queue_msg_state {
	QUEUE_MSG_READY,       /* in the FIFO, waiting for a delivery slot */
	QUEUE_MSG_DELIVERING,  /* a delivery job owns env and body */
	QUEUE_MSG_WAITING,     /* retry timer armed (unreadable file), or no
				* delivery to hand remote recipients to */
};

/* In memory: only the active set (queue->config->queue.active_limit):
 * messages ready for an attempt or being delivered.  A deferred message
 * leaves memory for queue/defer/<T>/, a held one for queue/hold/; the
 * loader (queue.c) reads them back from disk when due. */
struct queue_msg {
	struct queue_msg *prev, *next;  /* every message in memory */
	struct queue_msg *hash_next;    /* queue->hash chain */
	struct queue_msg *ready_next;
	char id[QUEUE_ID_LEN + 1];
	enum queue_msg_state state;
	struct spool_loc loc;           /* where its file is */
	struct queue_envelope *env;     /* NULL until first read from disk */
	struct buf body;                /* fresh messages only, until the first attempt,
					 * within [queue] memory_limit */
	bool body_loaded;
	bool held;                      /* known once env was read; mirrors env->held */
	unsigned read_failures;         /* attempts in a row that could not read the file */
	time_t next_attempt;
	bool delete_requested;          /* `queue delete` while a job owned it */
	bool hold_requested;            /* `queue hold` while a job owned it */
	bool bounce_requested;          /* `queue bounce`: fail what is left */
	struct event *retry_ev;
	struct queue *queue;
};

struct queue {
	struct event_base *base;
	struct pool *pool;
	queue_sign_fn *sign;            /* DKIM-signs the notices (NULL: none) */
	void *sign_ctx;
	const struct config *config;
	struct spool *spool;
	struct syncer *mail_syncer;     /* group commit of local deliveries (mail/) */
	bool mail_syncer_shared;        /* it is spool->syncer (one file system) */
	size_t file_max;
	unsigned jobs;                  /* pool jobs not yet done */
	bool stopping;

	struct queue_msg *msgs;
	size_t msg_count;
	struct queue_msg **hash;        /* the messages in memory by ID */
	unsigned char hash_key[SIPHASH_KEY_LEN];  /* of these tables (id_hash) */
	size_t hash_size;               /* a power of two */
	/* submissions whose file may be in new/ but that are not acknowledged
	 * yet: the loader leaves them to their submission (by ID) */
	struct queue_submit_job *submitting[QUEUE_SUBMITTING_SLOTS];
	size_t body_bytes;              /* of the bodies kept in queue_msg.body */

	/* defer/<T>/ folders: their times, sorted; one timer for the earliest */
	struct queue_bucket *buckets;
	size_t nbuckets, buckets_alloc;
	struct event *bucket_ev;
	/* the loader: one job at a time reads a batch of names from a due
	 * defer/<T>/ (oldest first), else from new/ */
	bool started;                   /* queue_start ran */
	bool loading;                   /* a loader job is running */
	long long load_retry_at;        /* after a folder read failed: not before */
	/* administration of messages on disk only, in flight: the loader
	 * leaves their files alone until they are done */
	struct queue_op_job *disk_ops;
	bool backlog;                   /* new/ may hold messages not in memory */
	bool backlog_again;             /* ... since the running pass over new/ began */
	bool new_pass;                  /* a pass over new/ began and has not ended */
	struct spool_dir *new_dir;      /* that pass's folder, between jobs */
	bool bucket_pass;               /* a pass over defer/<bucket_t>/ ... */
	long long bucket_t;
	struct spool_dir *bucket_dir;
	bool recovered;                 /* the first pass over new/ is done */
	size_t recovered_count;
	time_t start_time;              /* incomplete files older are removed */
	struct queue_msg *ready_head, *ready_tail;
	unsigned active, max_active;

	struct store *store;            /* domains; may be NULL */
	struct store_events *events;    /* event writer; may be NULL */
	struct delivery *delivery;      /* remote delivery; NULL: remote stays queued */
	queue_removed_cb *removed_cb;
	void *removed_ctx;

	/* since start, for queue_stats: ACCEPTED on the loop, the others on
	 * the workers that deliver (queue_event) */
	unsigned long long accepted;
	_Atomic unsigned long long delivered;
	_Atomic unsigned long long deferred;
	_Atomic unsigned long long bounced;
	struct histogram attempt_seconds;  /* on the loop (attempt_complete) */
};

struct queue_bucket {
	long long t;                    /* defer/<t>/ */
	bool due_now;                   /* `queue flush`: due before t */
	bool again;                     /* a message moved in while it was read,
					 * or was left there for want of room */
	bool short_of_room;             /* ... the latter */
};

/* queue.c */
struct queue_msg *queue_msg_add(struct queue *queue, const char *id);
void queue_msg_free(struct queue *queue, struct queue_msg *msg);
/* queue_msg_find - the message ID in memory, or NULL */
struct queue_msg *queue_msg_find(struct queue *queue, const char *id);
/* queue_msg_forget - MSG is on disk only from now on (deferred, held):
 * free its record; a defer/<T>/ it went to is noted for the loader */
void queue_msg_forget(struct queue *queue, struct queue_msg *msg);
/* queue_body_drop - give up MSG's body in memory (its attempt reads it) */
void queue_body_drop(struct queue *queue, struct queue_msg *msg);
/* queue_bucket_add - defer/<T>/ holds a message not in memory */
void queue_bucket_add(struct queue *queue, long long t);
/* queue_backlog_add - new/ holds a message not in memory */
void queue_backlog_add(struct queue *queue);
/* queue_flush_all - every defer/<T>/ is due now; how many there are */
size_t queue_flush_all(struct queue *queue);
/* queue_load_next - start the loader's next job if there is room and work */
void queue_load_next(struct queue *queue);
/* queue_msg_removed - the message left the spool: log, tell, forget */
void queue_msg_removed(struct queue *queue, struct queue_msg *msg);

/* scheduler.c */
/* queue_op_on_disk - an administrator's operation on ID (not in memory)
 * is running: its file may be moving or going */
bool queue_op_on_disk(const struct queue *queue, const char *id);
void queue_msg_ready(struct queue *queue, struct queue_msg *msg);
void queue_deliveries_start(struct queue *queue);
void queue_msg_cancel_retry(struct queue_msg *msg);
/* queue_msg_retry_at - wait (WAITING) until WHEN, then join the FIFO */
void queue_msg_retry_at(struct queue *queue, struct queue_msg *msg, time_t when);

/* bounce.c */
/* queue_bounce_build_blocking - a DSN about ENV's recipients whose index is
 * in WHICH (DELAY: a delay notice), as a new envelope (sender <>, ID and
 * arrival set) and body; NULL when nothing should be sent (RCPT NOTIFY, the
 * null sender) */
struct queue_envelope *queue_bounce_build_blocking(const struct config *config,
						   const struct queue_envelope *env,
						   const char *body, size_t body_len,
						   const size_t *which, size_t count,
						   char *const *remote_mta, bool delay,
						   struct buf *out);

#endif
