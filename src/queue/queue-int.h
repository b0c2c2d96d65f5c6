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

struct event;
struct delivery;
struct syncer;

/* headroom over the message size limit when reading a spool file back:
 * the envelope, and headers the server added (Received:, DKIM...) */
#define QUEUE_FILE_SLACK (SPOOL_ENVELOPE_MAX + 64u * 1024 * 1024)
/* largest spool file read back: the largest message_size the configuration
 * accepts, plus the slack.  Not the message_size in force: a file accepted
 * before the limit was lowered must still be delivered. */
#define QUEUE_FILE_MAX (2147483648ULL + QUEUE_FILE_SLACK)

enum queue_msg_state {
	QUEUE_MSG_READY,       /* in the FIFO, waiting for a delivery slot */
	QUEUE_MSG_DELIVERING,  /* a delivery job owns env and body */
	QUEUE_MSG_WAITING,     /* retry timer armed, or held */
};

struct queue_msg {
	struct queue_msg *prev, *next;  /* every message in the spool */
	struct queue_msg *ready_next;
	char id[QUEUE_ID_LEN + 1];
	enum queue_msg_state state;
	struct spool_loc loc;           /* where its file is */
	struct queue_envelope *env;     /* NULL until first read from disk */
	struct buf body;                /* fresh messages only, until the first attempt */
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
	const struct config *config;
	struct spool *spool;
	struct syncer *mail_syncer;     /* group commit of local deliveries (mail/) */
	size_t file_max;
	unsigned jobs;                  /* pool jobs not yet done */
	bool stopping;

	struct queue_msg *msgs;
	size_t msg_count;
	struct queue_msg *ready_head, *ready_tail;
	unsigned active, max_active;

	struct store *store;            /* domains; may be NULL */
	struct store_events *events;    /* event writer; may be NULL */
	struct delivery *delivery;      /* remote delivery; NULL: remote stays queued */
	queue_removed_cb *removed_cb;
	void *removed_ctx;

	/* since start, for queue_stats: ACCEPTED on the loop, DELIVERED on
	 * the workers that deliver */
	unsigned long long accepted;
	_Atomic unsigned long long delivered;
};

/* queue.c */
struct queue_msg *queue_msg_add(struct queue *queue, const char *id);
void queue_msg_free(struct queue *queue, struct queue_msg *msg);
/* queue_msg_removed - the message left the spool: log, tell, forget */
void queue_msg_removed(struct queue *queue, struct queue_msg *msg);

/* scheduler.c */
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
