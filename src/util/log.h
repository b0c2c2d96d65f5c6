/* util/log - one key=value line per event, to stderr and optionally syslog.
 *
 *   log_info("queued", "session=%s queue_id=%s size=%zu", sid, qid, size);
 * prints
 *   2026-11-29T09:31:52.123Z info queued session=... queue_id=... size=...
 *
 * Peer-supplied text must go through log_escape() first (printable ASCII only,
 * quotes and backslashes escaped, truncated).  Credentials are never logged.
 * Thread-safe: each line is written with one write(2).  After
 * log_async_start() lines go through a bounded in-memory ring that a thread
 * of the log's own writes out, so a slow or blocked stderr or syslog never
 * stalls the caller; when the ring is full lines are dropped and counted,
 * and a "log-dropped count=N" line says so.
 */
#ifndef PETREL_UTIL_LOG_H
#define PETREL_UTIL_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum log_level {
	LOG_LEVEL_DEBUG = 0,
	LOG_LEVEL_INFO,
	LOG_LEVEL_WARN,
	LOG_LEVEL_ERROR,
};

/* log_init - set the minimum level and whether to copy lines to syslog */
void log_init(const char *ident, enum log_level min_level, bool use_syslog);
/* log_async_start - from now on, queue lines in a ring of BUFFER_SIZE
 * bytes (>= 2051) drained by a thread; -1 if it cannot start (lines are
 * then still written directly) */
int log_async_start(size_t buffer_size);
/* log_async_stop - write out what is queued and stop the thread, waiting at
 * most WAIT_MS; false if stderr or syslog did not take it all in time (the
 * thread is left blocked, lines keep being queued or dropped) */
bool log_async_stop(unsigned wait_ms);
/* log_level_parse - "debug"|"info"|"warn"|"error"; -1 if unknown */
int log_level_parse(const char *name);
bool log_is_enabled(enum log_level level);

void log_event(enum log_level level, const char *event, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
#define log_debug(event, ...) log_event(LOG_LEVEL_DEBUG, event, __VA_ARGS__)
#define log_info(event, ...)  log_event(LOG_LEVEL_INFO, event, __VA_ARGS__)
#define log_warn(event, ...)  log_event(LOG_LEVEL_WARN, event, __VA_ARGS__)
#define log_error(event, ...) log_event(LOG_LEVEL_ERROR, event, __VA_ARGS__)

/* log_escape - write SRC[0..LEN) into DST as a double-quoted, escaped value,
 * truncated to fit DSTSIZE (>= 8), always NUL-terminated; returns DST */
char *log_escape(char *dst, size_t dstsize, const char *src, size_t len);

#endif
