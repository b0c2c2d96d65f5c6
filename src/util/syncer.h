/* util/syncer - group commit of a file system: one syncfs(2) shared by every
 * writer that finished its writes before it began.
 *
 * A worker that has written files (created, written, linked, renamed) and
 * needs them on stable storage calls syncer_wait().  It returns once a
 * syncfs() that *began after the call* has completed: every write, data and
 * directory entry alike, that the caller made before calling is then
 * durable (syncfs flushes the dirty data and inodes of the whole file
 * system, commits its journal and flushes the disk's cache).  Callers that
 * arrive while a syncfs is running wait for the next one, which then covers
 * them all: under load one syncfs serves many messages (leader/follower).
 * Callers that must not hold their thread meanwhile make a request instead
 * (syncer_request): the syncer's own thread syncs for them and calls back.
 *
 * Why syncfs and not fsync of each file: on ext4 each fsync() is its own
 * journal commit and cache flush; measured on this project's machine
 * (bench/README.md), 32 new 4 KiB files then one syncfs() reach about 21,000
 * files/s where an fsync() of each reaches about 5,000.  The price: a syncfs
 * also flushes whatever else is dirty on that file system, so the data
 * folder is best on a file system of its own (docs/operations.md).
 *
 * Errors are final, as for the spool ("fsyncgate"): Linux reports a
 * writeback error once (syncfs reports errors of the whole file system
 * since Linux 5.8, through the descriptor the syncer holds), so after one
 * failure every later syncer_wait() fails too, until a restart.
 *
 * Thread-safe; syncer_wait blocks: call it from pool workers only (or
 * before the loop); syncer_request does not.
 */
#ifndef PETREL_UTIL_SYNCER_H
#define PETREL_UTIL_SYNCER_H

#include <stdbool.h>

struct syncer;

struct syncer_stats {
	unsigned long long syncs;    /* syncfs calls made */
	unsigned long long waits;    /* syncer_wait(_lazy) calls that each covered a write */
};

/* syncer_open - a syncer for the file system that holds PATH (a folder that
 * exists).  NULL and *errno_r if PATH cannot be opened. */
struct syncer *syncer_open(const char *path, int *errno_r);
void syncer_close(struct syncer **syncer);

/* syncer_wait - return once the caller's earlier writes on the syncer's file
 * system are durable (see above): 0, or -1 with *errno_r (EIO ...) when that
 * syncfs failed or an earlier one had */
int syncer_wait(struct syncer *syncer, int *errno_r);

/* syncer_wait_lazy - as syncer_wait, for writes nobody is waiting on (a
 * delivery after the 250 was sent): rather than start a syncfs at once, wait
 * up to DELAY_MS for one that another caller starts, and start one only
 * then.  Under load the syncs made for accepted messages carry these writes
 * along; alone, it costs at most DELAY_MS of latency. */
int syncer_wait_lazy(struct syncer *syncer, unsigned delay_ms, int *errno_r);

/* syncer_request - as syncer_wait, without waiting: FN(ARG, ERR) runs once
 * a syncfs that began after this call has completed (ERR 0) or failed (ERR
 * its errno; also every later request's).  FN runs on the syncer's own
 * thread (started by the first request), or at once on the caller's when an
 * earlier syncfs had failed; it must only hand the outcome over (to the
 * pool, util/pool's pool_then_sync), never block.  The syncer's thread
 * leads a syncfs as soon as a request waits and none runs, so a group is
 * every request made while the previous syncfs ran, and no worker waits
 * for it.  syncer_close answers the requests still waiting first. */
typedef void syncer_done_fn(void *arg, int err);
void syncer_request(struct syncer *syncer, syncer_done_fn *fn, void *arg);
/* syncer_request_lazy - as syncer_request, for writes nobody is waiting on
 * yet (a delivery after the 250): the syncer's thread starts no syncfs for
 * it before DELAY_MS have passed, so that the syncs of accepted messages
 * (or a blocking caller's) carry it along; it holds no thread meanwhile,
 * so any number may wait together */
void syncer_request_lazy(struct syncer *syncer, unsigned delay_ms, syncer_done_fn *fn,
			 void *arg);

/* syncer_lead_if_idle - as syncer_wait, but only when no syncfs is running:
 * the caller leads one at once on its own thread (no hand-over to the
 * syncer's thread, whose wake-up a lone message would wait for) and gets
 * true with *ERR_R (0, or the errno of that syncfs or an earlier one).
 * With a syncfs running it returns false at once, having waited for
 * nothing: the caller then makes a request (syncer_request) and the group
 * forms behind the running syncfs as before.  For eager callers only (a
 * lazy one wants to ride others' syncs). */
bool syncer_lead_if_idle(struct syncer *syncer, int *err_r);

/* syncer_set_lazy_max - how many lazy callers may wait out their delay at
 * once (default 1): one more starts the syncfs at once.  Each lingering
 * caller holds a thread, so keep it below the number of workers that may
 * call syncer_wait (half of them leaves the rest to the eager callers). */
void syncer_set_lazy_max(struct syncer *syncer, unsigned lazy_max);

/* syncer_covers - FD (a file or folder) is on the syncer's file system, so
 * its syncfs covers it; a caller with a file elsewhere (a mount point under
 * the folder) must fsync it itself */
bool syncer_covers(struct syncer *syncer, int fd);

/* syncer_failed - an earlier syncfs failed: nothing is durable any more */
bool syncer_failed(struct syncer *syncer);

/* syncer_stats - counts since syncer_open (thread-safe snapshot) */
void syncer_stats(struct syncer *syncer, struct syncer_stats *stats_r);

#endif
