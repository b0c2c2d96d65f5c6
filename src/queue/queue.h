/* queue - the durable spool, queue IDs, recovery and the delivery scheduler.
 *
 * Invariant (DESIGN "250 means durable"): queue_submit() calls its callback
 * with status 0 only after the message file (envelope + body) and its
 * directory entry are on stable storage: a syncfs of the spool's file system
 * that began after the file was written (util/syncer), shared by every
 * message written meanwhile (group commit), so concurrent sessions share
 * the cost.
 *
 * Spool layout, under <data_dir>/queue/ (spool.c, docs/operations.md):
 *   new/<ID>        accepted, not yet tried, or being tried
 *   defer/<T>/<ID>  waiting for its next attempt, due at unix time T
 *   hold/<ID>       held by the administrator
 *   corrupt/<ID>    unreadable, moved aside
 * Each file: envelope (text records), a blank line, the body, then the
 * message's state log (recipients' results, hold, next attempt) appended as
 * things happen.
 *
 * Threads: queue_* functions whose names end in _blocking may block on the
 * disk and run on a worker; everything else runs on the loop thread.
 * Ownership: queue_submit takes ownership of ENV and BODY.  Errors: -1 and
 * *error_r (static text) for the caller to log once.
 */
#ifndef PETREL_QUEUE_H
#define PETREL_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "store/store.h"
#include "util/buf.h"
#include "util/histogram.h"

struct event_base;
struct pool;
struct config;
struct store;

#define QUEUE_ID_LEN 16  /* e.g. "4F2A9C31B7D0E812": time-ordered, unique per host */

enum queue_rcpt_state {
	QUEUE_RCPT_PENDING = 0,
	QUEUE_RCPT_DELIVERED,
	QUEUE_RCPT_DEFERRED,   /* temporary failure; will be retried (later issue) */
	QUEUE_RCPT_FAILED,     /* permanent failure; to be bounced (later issue) */
};

/* The values of RFC 3461 NOTIFY bits, RFC 3461 RET and RFC 6152 BODY as the
 * envelope keeps them (the same as wire/wire.h's and smtp/parse.h's;
 * smtp/cmd-mail.c checks). */
#define QUEUE_NOTIFY_NEVER   0x1u
#define QUEUE_NOTIFY_SUCCESS 0x2u
#define QUEUE_NOTIFY_FAILURE 0x4u
#define QUEUE_NOTIFY_DELAY   0x8u
#define QUEUE_RET_HDRS 2
#define QUEUE_BODY_8BITMIME 2

struct queue_recipient {
	char *address;        /* "local@domain" as given in RCPT TO, without <> */
	unsigned notify;      /* QUEUE_NOTIFY_* bits from RCPT NOTIFY=, 0 = not given */
	char *orcpt;          /* "rfc822;addr" decoded, or NULL */
	enum queue_rcpt_state state;
	char *last_reply;     /* last result text, or NULL */
	/* in memory only: failed, but its bounce is not durable yet, so its
	 * "failed" line is not in the message's log and it stays queued */
	bool bounce_owed;
};

struct queue_envelope {
	char id[QUEUE_ID_LEN + 1];
	time_t arrival;
	char *sender;         /* "" for the null sender <> */
	char *srs_sender;     /* the return path of remote deliveries of forwarded
				 mail (SRS0/SRS1 at our domain), or NULL: sender */
	int body;             /* enum smtp_body (0 unspecified, 1 7BIT, 2 8BITMIME, 3 BINARYMIME) */
	bool smtputf8;
	int ret;              /* enum smtp_ret: 0 unspecified, 1 FULL, 2 HDRS */
	char *envid;          /* decoded, or NULL */
	char *client_address; /* "192.0.2.1" */
	char *helo;           /* as the client gave it (EHLO/HELO argument) */
	char *listener;       /* name of the listener it came in on */
	char *account;        /* the authenticated account that sent it, or NULL */
	bool sandbox;         /* the account is sandboxed: keep it, never relay it */
	bool junk;            /* DMARC said quarantine (RFC 7489 6.3): local copies
				 go to the mailbox's Junk folder */
	time_t send_at;       /* not tried before this time (the HTTP API's
				 send_at), 0 = at once; its lifetime and delay
				 notice count from it, not from arrival */
	struct queue_recipient *rcpts;
	size_t rcpt_count;
	uint64_t size;        /* body bytes */
	uint32_t body_crc;    /* CRC-32C of the body, as the spool file records it */
	bool has_body_crc;    /* false in files written before it existed */
	/* from the state log after the body, not the envelope text */
	bool held;            /* `petrel queue hold`: no delivery attempts */
	bool delay_notified;  /* the one delay notice has been sent */
	time_t next_attempt;  /* when a deferred message is tried again; 0 = unknown */
};

/* queue_id_new - a fresh unique ID, NUL-terminated into ID_R (thread-safe) */
void queue_id_new(char id_r[QUEUE_ID_LEN + 1]);
/* queue_id_is_valid - 16 upper-case hex digits; used on every file name read */
bool queue_id_is_valid(const char *id);
/* queue_id_time - when ID was made (its top 42 bits, to the second); false
 * if ID is not valid */
bool queue_id_time(const char *id, time_t *time_r);
/* The low 8 bits of an ID: the node's number (queue-id.c has the layout). */
#define QUEUE_ID_NODES 256
/* queue_id_set_node - from now on IDs carry NUMBER (< QUEUE_ID_NODES, the
 * number the store gave this node's name) instead of the process's salt;
 * call it at start, before the first ID */
void queue_id_set_node(unsigned number);
/* queue_id_node - the node bits of ID; false if ID is not valid */
bool queue_id_node(const char *id, unsigned *node_r);
/* queue_id_format - the ID of STAMP (milliseconds << 14 | sequence, the
 * top 56 bits) made by NODE: what queue_id_new writes (tests) */
void queue_id_format(uint64_t stamp, unsigned node, char id_r[QUEUE_ID_LEN + 1]);

struct queue_envelope *queue_envelope_new(void);
/* queue_envelope_add_rcpt - copy ADDRESS and ORCPT (may be NULL) */
void queue_envelope_add_rcpt(struct queue_envelope *env, const char *address,
			     unsigned notify, const char *orcpt);
void queue_envelope_free(struct queue_envelope **env);
/* queue_envelope_rcpt_lines - ENV's recipient addresses, one per line (LF
 * after each; malloc'd): what an "accepted" event records of them
 * (store_event's recipients) */
char *queue_envelope_rcpt_lines(const struct queue_envelope *env);

/* queue_envelope_serialize - the text form written before the body */
void queue_envelope_serialize(const struct queue_envelope *env, struct buf *out);
/* queue_crc32c - CRC-32C (Castagnoli) of DATA[0..LEN), continuing from CRC
 * (0 to start): the spool's check that a file holds the body it was given */
uint32_t queue_crc32c(uint32_t crc, const void *data, size_t len);

/* queue_envelope_parse - parse DATA[0..LEN) up to the blank line; on success
 * *body_offset_r is where the body starts.  NULL and *error_r if malformed. */
struct queue_envelope *queue_envelope_parse(const char *data, size_t len,
					    size_t *body_offset_r, const char **error_r);

/* ---- the running queue (loop thread) ---------------------------------- */

struct queue;

/* queue_create - open <data_dir>/queue (creating it), convert the layout of
 * earlier versions, and list the times of queue/defer/: no message file is
 * read.  Recovery after a restart or a crash runs once the loop does
 * (queue_start): new/ is read back in batches on the workers, and each
 * defer/<T>/ when T comes.  NULL and *error_r on failure (start-up error). */
struct queue *queue_create(struct event_base *base, struct pool *pool,
			   const struct config *config, const char **error_r);
/* queue_start - begin delivering (after queue_set_store/queue_set_delivery) */
void queue_start(struct queue *queue);
/* queue_stop - shutting down: start no new delivery or retry; jobs in flight
 * finish.  It runs the event loop (EVLOOP_ONCE) until the queue's pool jobs
 * are done, so every pending queue_submit gets its callback (after its dir
 * sync); call it on the loop thread before pool_free().  Later queue_submit
 * calls fail at once with "queue is shutting down".  Idempotent. */
void queue_stop(struct queue *queue);
/* queue_free - queue_stop() if not done yet, then free the queue; safe after
 * pool_free() when queue_stop() ran before it */
void queue_free(struct queue **queue);

/* queue_removed_cb - every recipient of QUEUE_ID reached a final state and
 * the message left the spool (loop thread) */
typedef void queue_removed_cb(void *ctx, const char *queue_id);
/* queue_set_store - domains added with `petrel domain add` count as local,
 * and deliveries are recorded as events (call before the loop runs) */
struct store_events;
void queue_set_store(struct queue *queue, struct store *store, struct store_events *events);
/* queue_set_delivery - remote recipients go out through DELIVERY (NULL:
 * they stay queued); call before the loop runs */
struct delivery;
void queue_set_delivery(struct queue *queue, struct delivery *delivery);
/* queue_sign_fn - (on a worker; it may wait) add signatures on top of
 * MESSAGE, a delivery status notice the queue made; MESSAGE is left as it
 * is when there is nothing to sign with or signing fails */
typedef void queue_sign_fn(void *ctx, struct buf *message);
/* queue_set_signer - bounces and delay notices are signed with FN before
 * they are written (call before the loop runs) */
void queue_set_signer(struct queue *queue, queue_sign_fn *fn, void *ctx);
/* queue_set_removed_cb - tell CB whenever a message leaves the spool */
void queue_set_removed_cb(struct queue *queue, queue_removed_cb *cb, void *ctx);

/* queue_submit_cb - STATUS 0: durable, QUEUE_ID is the ID; -1: not stored,
 * ERROR says why (ENOSPC becomes a temporary failure for the client) */
typedef void queue_submit_cb(void *ctx, int status, const char *queue_id,
			     const char *error);
/* queue_submit - store ENV + BODY durably (group commit), then deliver.
 * Takes ownership of ENV and of BODY's bytes (BODY is reset). CB runs on the
 * loop thread, exactly once. */
void queue_submit(struct queue *queue, struct queue_envelope *env, struct buf *body,
		  queue_submit_cb *cb, void *ctx);

/* ---- administration (petrel queue flush|hold|release|delete|bounce) ---- */

enum queue_op {
	QUEUE_OP_FLUSH,    /* try now: ID, or every message when ID is NULL */
	QUEUE_OP_HOLD,     /* no delivery attempts until released (kept across restarts) */
	QUEUE_OP_RELEASE,  /* undo HOLD and try now */
	QUEUE_OP_DELETE,   /* remove without any notice to the sender */
	QUEUE_OP_BOUNCE,   /* fail every recipient not yet delivered: DSN to the sender */
};
/* queue_op_cb - STATUS 0 done (TEXT says what, e.g. "3 messages flushed"),
 * 1 no such message, -1 failed (TEXT says why) */
typedef void queue_op_cb(void *ctx, int status, const char *text);
/* queue_op - run OP on ID (only FLUSH takes NULL = all); CB runs on the loop
 * thread exactly once, maybe before queue_op returns */
void queue_op(struct queue *queue, enum queue_op op, const char *id, queue_op_cb *cb,
	      void *ctx);

/* queue_message_count - messages in memory right now, the active set (at
 * most [queue] active_limit, plus what the administrator brings in) */
size_t queue_message_count(const struct queue *queue);

/* What `petrel queue stats` shows (over the control socket).  Counts
 * since the server started, and the queue's state right now. */
struct queue_stats {
	size_t messages;                  /* messages in memory */
	size_t bodies;                    /* of them, with their body in memory */
	unsigned long long body_bytes;    /* the bytes of those bodies */
	size_t buckets;                   /* defer/<T>/ folders known (their times) */
	unsigned long long queue_syncs;   /* the spool's group commits (syncfs) */
	unsigned long long queue_waits;   /* writes of the spool they covered */
	unsigned long long mail_syncs;    /* local delivery's group commits */
	unsigned long long mail_waits;    /* Maildir writes they covered */
	bool syncer_shared;               /* mail/ is on the spool's file system: one
					     syncer for both, counted in queue_*;
					     mail_* stay 0 */
	unsigned long long accepted;      /* messages queued by queue_submit */
	unsigned long long delivered;     /* recipients delivered, mailbox or relay */
	unsigned long long deferred;      /* recipients' attempts that failed for now */
	unsigned long long bounced;       /* recipients failed for good */
	/* messages by state, each in one: in memory, READY waiting for a
	 * delivery slot, DELIVERING, RETRYING on a timer (an unreadable file,
	 * a bounce owed); on disk only, DEFERRED in defer/<T>/ and HELD in
	 * hold/ (new/ beyond the messages in memory is not counted) */
	size_t ready, delivering, retrying;
	unsigned long long deferred_on_disk, held_on_disk;
	struct histogram attempt_seconds; /* delivery attempts, start to end */
};
/* queue_stats - a snapshot (loop thread) */
void queue_stats(const struct queue *queue, struct queue_stats *stats_r);

/* queue_reply_is_block - REPLY, a remote server's 5xx refusal ("550 5.7.1
 * ..."), is about the sender, the message or a policy (SendGrid's "block":
 * an enhanced code 5.6.X or 5.7.X, or with none or 5.0.X, a text naming a
 * block list) rather than about the address (5.1.X, 5.2.X: a "bounce").
 * False for NULL and for anything not 5xx. */
bool queue_reply_is_block(const char *reply);

/* queue_drop_reason - the reason of a "dropped" event (SendGrid's words,
 * "Bounced Address"...) for a recipient on the account's suppression list
 * LIST; NULL for no list */
const char *queue_drop_reason(enum store_suppression_list list);

/* ---- reading the spool offline (CLI: petrel queue list/show) ----------- */

/* The state of a message as `petrel queue list --state` names it: the
 * folder it is in (a file of the legacy layout, queue/<ID>: from its log),
 * or scheduled: waiting in new/ or defer/ for its send_at (then neither
 * new nor deferred) */
enum queue_list_state {
	QUEUE_LIST_NEW = 1u << 0,       /* queue/new/: not tried yet, or being tried */
	QUEUE_LIST_DEFERRED = 1u << 1,  /* queue/defer/<T>/: next attempt at T */
	QUEUE_LIST_HELD = 1u << 2,      /* queue/hold/ */
	QUEUE_LIST_CORRUPT = 1u << 3,   /* queue/corrupt/: unreadable, moved aside */
	QUEUE_LIST_SCHEDULED = 1u << 4, /* not held, its send_at still ahead */
};

/* Which messages `petrel queue list` prints; zeroed: all of them.  The
 * strings point into the caller's memory (argv). */
struct queue_list_filter {
	unsigned long long limit;       /* at most this many; 0: no limit */
	unsigned states;                /* QUEUE_LIST_* bits; 0: any state */
	unsigned long long older_than;  /* seconds since the message came; 0: any */
	const char *sender;             /* this envelope sender ("": <>), or NULL */
	size_t sender_len;
	const char *domain;             /* a recipient in this domain, or NULL */
	size_t domain_len;
};

/* queue_list_filter_set - apply OPTION ("--limit", "--state", "--older-than",
 * "--sender" or "--domain") with VALUE to FILTER: 0; -1 and *error_r
 * (static text naming the option) if VALUE is bad or NULL (not given); 1 if
 * OPTION is none of these.  No I/O. */
int queue_list_filter_set(struct queue_list_filter *filter, const char *option,
			  const char *value, const char **error_r);
/* queue_list_filter_match - ENV's sender and recipients pass FILTER's
 * --sender and --domain (the rest needs no envelope) */
bool queue_list_filter_match(const struct queue_list_filter *filter,
			     const struct queue_envelope *env);

/* queue_list_print - one line (JSON: one array element a line) per message
 * in DATA_DIR's spool that passes FILTER, to stdout as it is found: reads
 * folder by folder, never the whole list first, and only the envelope and
 * the state log of a message it prints (see queue-print.c).  0, or -1 and
 * *error_r. */
int queue_list_print(const char *data_dir, const struct queue_list_filter *filter, bool json,
		     const char **error_r);
/* queue_show_print - the envelope and per-recipient state of ID, then the
 * headers of the message.  0; 1 if no such ID; -1 and *error_r. */
int queue_show_print(const char *data_dir, const char *id, bool json, const char **error_r);

#endif
