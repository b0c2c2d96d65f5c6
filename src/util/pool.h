/* util/pool - a worker pool for work that may block (fsync, SQLite, hashing).
 *
 * pool_submit() queues WORK(arg) for a worker thread; when it returns, DONE(arg)
 * runs on the event loop thread that owns the pool.  The pool never frees ARG:
 * DONE owns it.  A DONE for a session that has since closed must find the
 * session by id (STYLE: late answers are harmless), never by pointer.
 * Jobs run in no guaranteed order.  pool_free() waits for queued and running
 * jobs, runs the DONE callbacks of finished ones, and must be called on the
 * loop thread after the loop has stopped; a job submitted by one of those
 * callbacks runs inline (its owner should stop scheduling work first).
 */
#ifndef PETREL_UTIL_POOL_H
#define PETREL_UTIL_POOL_H

struct event_base;
struct pool;

typedef void pool_work_fn(void *arg);
typedef void pool_done_fn(void *arg);

struct pool *pool_create(struct event_base *base, unsigned threads);
/* pool_create_niced - as pool_create, with threads that run at NICE (added
 * to the process's nice value, Linux per-thread): for work that must not take
 * the CPU from the rest when it floods in, such as password hashing */
struct pool *pool_create_niced(struct event_base *base, unsigned threads, int nice);
void pool_submit(struct pool *pool, pool_work_fn *work, pool_done_fn *done, void *arg);
/* pool_then_sync - (inside a job's WORK, on its worker) when WORK returns, the
 * job gives its thread back and waits for SYNCER to make every write made so
 * far durable (syncer_request: a syncfs that begins after this call), or,
 * when no syncfs runs, leads that syncfs on its worker at once
 * (syncer_lead_if_idle: no hand-over to the syncer's thread); then
 * NEXT(arg) runs on a worker, or, NEXT being NULL, DONE on the loop.  *ERR_R
 * is set first: 0, or the errno of the failed sync.  Jobs waiting so are
 * counted pending, and pool_free waits for them too. */
struct syncer;
void pool_then_sync(struct syncer *syncer, pool_work_fn *next, int *err_r);
/* pool_then_sync_lazy - as pool_then_sync, with syncer_request_lazy's
 * DELAY_MS: no syncfs is started for it before then */
void pool_then_sync_lazy(struct syncer *syncer, unsigned delay_ms, pool_work_fn *next,
			 int *err_r);
/* pool_pending - jobs submitted and not yet done (for back-pressure and tests) */
unsigned pool_pending(const struct pool *pool);
void pool_free(struct pool **pool);

#endif
