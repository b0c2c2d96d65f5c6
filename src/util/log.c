/* util/log - key=value event lines to stderr and syslog (see log.h).
 *
 * Until log_async_start() every line is written where it is made, with one
 * write(2).  After it, log_event() only formats the line and copies it into
 * a bounded ring under a mutex; one thread of its own drains the ring to
 * stderr (in batches, one write per batch) and to syslog.  A stderr that is
 * a pipe nobody reads, or a syslog daemon that stopped reading, then blocks
 * that thread alone: the event loop and the workers never wait for it.
 * When the ring is full a line is dropped and counted; the thread logs
 * "log-dropped count=N" once it can write again.
 *
 * Waking the thread costs a futex call and a context switch, so it is not
 * woken for every line: only a line that finds it idle (the ring was empty)
 * wakes it, and it then lingers LOG_LINGER_MS to take the lines that follow
 * in the same write.  A ring half full, or log_async_stop(), cuts the linger
 * short.  Under load that is one wake-up and one write(2) per LOG_LINGER_MS
 * instead of one per line; a line reaches stderr at most that much later.
 *
 * Ring records: 2 bytes of length, 1 byte of level, then the line with its
 * '\n'.  A record may wrap around the end of the ring.  A ring drained to
 * empty starts again at its first byte: a process that logs steadily keeps
 * resident only the pages its largest backlog reached (a few KiB while
 * stderr keeps up), not the whole [server] log_buffer (1 MiB in each of
 * the network, auth and keys processes) that records marching round the
 * ring would touch.
 */
#include "util/log.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "util/timespec.h"

#define LOG_LINE_MAX 2048
#define LOG_RECORD_HEAD 3
#define LOG_BATCH_MAX 65536   /* bytes the thread takes out of the ring at once */
#define LOG_TIMESTAMP_LEN 25  /* "2026-11-29T09:31:52.123Z " */
#define LOG_LINGER_MS 10      /* how long the woken thread gathers lines */

static enum log_level log_min_level = LOG_LEVEL_INFO;
static bool log_use_syslog;

static const char *const log_level_names[] = { "debug", "info", "warn", "error" };
static const int log_syslog_prio[] = { LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR };

static struct log_ring {
	pthread_mutex_t mutex;
	pthread_cond_t wake;     /* the thread: lines are waiting, or stop */
	pthread_cond_t drained;  /* log_async_stop: the ring is empty */
	pthread_t thread;
	char *buf;
	size_t cap, head, used;  /* bytes; records start at head */
	uint64_t dropped;        /* lines dropped since the thread last said so */
	bool running;            /* lines go through the ring */
	bool stopping;
	bool busy;               /* the thread is writing a batch it took out */
	bool idle;               /* the thread waits for a first line, no timeout */
} log_ring = {
	.mutex = PTHREAD_MUTEX_INITIALIZER,
	.wake = PTHREAD_COND_INITIALIZER,
	.drained = PTHREAD_COND_INITIALIZER,
};

static void log_write_all(const char *p, size_t len);
static void log_output(enum log_level level, char *line, size_t len);
static size_t log_format(char *line, size_t size, enum log_level level, const char *event,
			 const char *fmt, va_list ap);
static size_t log_format_line(char *line, size_t size, enum log_level level,
			      const char *event, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static void log_ring_copy_in(const void *src, size_t len);
static void log_ring_copy_out(void *dst, size_t len);
static void *log_ring_thread(void *arg);
static void log_ring_linger(void);

void log_init(const char *ident, enum log_level min_level, bool use_syslog)
{
	log_min_level = min_level;
	log_use_syslog = use_syslog;
	if (use_syslog)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

int log_level_parse(const char *name)
{
	for (int i = 0; i <= LOG_LEVEL_ERROR; i++)
		if (strcmp(name, log_level_names[i]) == 0)
			return i;
	return -1;
}

bool log_is_enabled(enum log_level level)
{
	return level >= log_min_level;
}

/* log_write_all - LEN bytes to stderr, waiting while it is full; a failed
 * write to stderr has nowhere to be reported, so the rest is given up */
static void log_write_all(const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(STDERR_FILENO, p, len);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			/* stderr shared with a non-blocking owner: wait, do not spin */
			struct pollfd pfd = { .fd = STDERR_FILENO, .events = POLLOUT };
			(void)poll(&pfd, 1, 1000);
		} else {
			return;
		}
	}
}

/* log_output - LINE (ending in '\n', LEN bytes) to stderr and syslog */
static void log_output(enum log_level level, char *line, size_t len)
{
	log_write_all(line, len);
	if (log_use_syslog && len > LOG_TIMESTAMP_LEN) {
		line[len - 1] = '\0';
		syslog(log_syslog_prio[level], "%s", line + LOG_TIMESTAMP_LEN);
		line[len - 1] = '\n';
	}
}

/* log_format - "TIME LEVEL EVENT key=value...\n" into LINE; its length
 * (0 if the head alone does not fit) */
static size_t log_format(char *line, size_t size, enum log_level level, const char *event,
			 const char *fmt, va_list ap)
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	int head = snprintf(line, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s ",
			    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
			    tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
			    log_level_names[level], event);
	if (head < 0 || (size_t)head >= size - 1)
		return 0;
	int body = vsnprintf(line + head, size - (size_t)head - 1, fmt, ap);
	size_t len = (size_t)head;
	if (body > 0)
		len += (size_t)body < size - (size_t)head - 1 ?
			(size_t)body : size - (size_t)head - 2;
	line[len++] = '\n';
	return len;
}

static size_t log_format_line(char *line, size_t size, enum log_level level,
			      const char *event, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	size_t len = log_format(line, size, level, event, fmt, ap);
	va_end(ap);
	return len;
}

/* log_event - format one line; write it now, or queue it for the thread */
void log_event(enum log_level level, const char *event, const char *fmt, ...)
{
	if (level < log_min_level)
		return;

	char line[LOG_LINE_MAX];
	va_list ap;
	va_start(ap, fmt);
	size_t len = log_format(line, sizeof(line), level, event, fmt, ap);
	va_end(ap);
	if (len == 0)
		return;

	pthread_mutex_lock(&log_ring.mutex);
	if (!log_ring.running) {
		pthread_mutex_unlock(&log_ring.mutex);
		log_output(level, line, len);
		return;
	}
	if (log_ring.cap - log_ring.used < LOG_RECORD_HEAD + len) {
		log_ring.dropped++;
	} else {
		unsigned char rec[LOG_RECORD_HEAD] = { (unsigned char)(len >> 8),
						       (unsigned char)len, (unsigned char)level };
		log_ring_copy_in(rec, sizeof(rec));
		log_ring_copy_in(line, len);
		if (log_ring.idle || log_ring.used > log_ring.cap / 2)
			pthread_cond_signal(&log_ring.wake);
	}
	pthread_mutex_unlock(&log_ring.mutex);
}

/* log_ring_copy_in - append LEN bytes after the used part (the caller
 * holds the mutex and checked the room) */
static void log_ring_copy_in(const void *src, size_t len)
{
	size_t tail = (log_ring.head + log_ring.used) % log_ring.cap;
	size_t first = log_ring.cap - tail < len ? log_ring.cap - tail : len;
	memcpy(log_ring.buf + tail, src, first);
	memcpy(log_ring.buf, (const char *)src + first, len - first);
	log_ring.used += len;
}

/* log_ring_copy_out - take LEN bytes from the head (mutex held) */
static void log_ring_copy_out(void *dst, size_t len)
{
	size_t first = log_ring.cap - log_ring.head < len ? log_ring.cap - log_ring.head : len;
	memcpy(dst, log_ring.buf + log_ring.head, first);
	memcpy((char *)dst + first, log_ring.buf, len - first);
	log_ring.head = (log_ring.head + len) % log_ring.cap;
	log_ring.used -= len;
	/* empty: the next record starts at the first byte again, so that only
	 * the pages of the largest backlog are ever touched (resident) */
	if (log_ring.used == 0)
		log_ring.head = 0;
}

/* log_ring_linger - (mutex held) wait LOG_LINGER_MS, or less if the ring
 * fills to half or the log stops, so that one write takes the lines that
 * follow the one that woke the thread */
static void log_ring_linger(void)
{
	struct timespec until;
	timespec_after_ms(CLOCK_REALTIME, LOG_LINGER_MS, &until);
	while (!log_ring.stopping && log_ring.used <= log_ring.cap / 2 &&
	       pthread_cond_timedwait(&log_ring.wake, &log_ring.mutex, &until) == 0)
		;
}

/* log_ring_thread - take whole records out in batches and write them with
 * the mutex released; say how many lines were dropped */
static void *log_ring_thread(void *arg)
{
	static char batch[LOG_BATCH_MAX];
	(void)arg;
	pthread_mutex_lock(&log_ring.mutex);
	for (;;) {
		while (log_ring.used == 0 && log_ring.dropped == 0 && !log_ring.stopping) {
			log_ring.idle = true;
			pthread_cond_wait(&log_ring.wake, &log_ring.mutex);
			log_ring.idle = false;
		}
		if (log_ring.used == 0 && log_ring.dropped == 0)
			break; /* stopping, and nothing left */
		if (!log_ring.stopping && log_ring.used <= log_ring.cap / 2)
			log_ring_linger();
		size_t n = 0;
		while (log_ring.used > 0) {
			unsigned char rec[LOG_RECORD_HEAD];
			size_t save_head = log_ring.head, save_used = log_ring.used;
			log_ring_copy_out(rec, sizeof(rec));
			size_t len = ((size_t)rec[0] << 8) | rec[1];
			if (n + sizeof(rec) + len > sizeof(batch)) {
				log_ring.head = save_head; /* next batch */
				log_ring.used = save_used;
				break;
			}
			memcpy(batch + n, rec, sizeof(rec));
			log_ring_copy_out(batch + n + sizeof(rec), len);
			n += sizeof(rec) + len;
		}
		uint64_t dropped = log_ring.dropped;
		log_ring.dropped = 0;
		log_ring.busy = true;
		pthread_mutex_unlock(&log_ring.mutex);

		/* stderr: the lines of the batch side by side, one write */
		size_t out = 0;
		for (size_t i = 0; i < n;) {
			size_t len = ((size_t)(unsigned char)batch[i] << 8) |
				     (unsigned char)batch[i + 1];
			enum log_level level = (enum log_level)batch[i + 2];
			if (log_use_syslog) {
				batch[i + LOG_RECORD_HEAD + len - 1] = '\0';
				syslog(log_syslog_prio[level], "%s",
				       batch + i + LOG_RECORD_HEAD + LOG_TIMESTAMP_LEN);
				batch[i + LOG_RECORD_HEAD + len - 1] = '\n';
			}
			memmove(batch + out, batch + i + LOG_RECORD_HEAD, len);
			out += len;
			i += LOG_RECORD_HEAD + len;
		}
		log_write_all(batch, out);
		if (dropped > 0) {
			char line[256];
			size_t len = log_format_line(line, sizeof(line), LOG_LEVEL_WARN,
						     "log-dropped", "count=%llu reason=\"log "
						     "buffer full: stderr or syslog too slow\"",
						     (unsigned long long)dropped);
			if (len > 0 && LOG_LEVEL_WARN >= log_min_level)
				log_output(LOG_LEVEL_WARN, line, len);
		}

		pthread_mutex_lock(&log_ring.mutex);
		log_ring.busy = false;
		if (log_ring.used == 0)
			pthread_cond_broadcast(&log_ring.drained);
	}
	pthread_mutex_unlock(&log_ring.mutex);
	return NULL;
}

int log_async_start(size_t buffer_size)
{
	int ret = -1;
	pthread_mutex_lock(&log_ring.mutex);
	if (log_ring.running || buffer_size < LOG_RECORD_HEAD + LOG_LINE_MAX)
		goto out;
	log_ring.buf = malloc(buffer_size);
	if (log_ring.buf == NULL)
		goto out;
	log_ring.cap = buffer_size;
	log_ring.head = log_ring.used = 0;
	log_ring.dropped = 0;
	log_ring.stopping = false;
	if (pthread_create(&log_ring.thread, NULL, log_ring_thread, NULL) != 0) {
		free(log_ring.buf);
		log_ring.buf = NULL;
		goto out;
	}
	log_ring.running = true;
	ret = 0;
out:
	pthread_mutex_unlock(&log_ring.mutex);
	return ret;
}

bool log_async_stop(unsigned wait_ms)
{
	struct timespec deadline;
	bool done = true;

	pthread_mutex_lock(&log_ring.mutex);
	if (!log_ring.running) {
		pthread_mutex_unlock(&log_ring.mutex);
		return true;
	}
	log_ring.stopping = true;
	pthread_cond_signal(&log_ring.wake);
	timespec_after_ms(CLOCK_REALTIME, wait_ms, &deadline);
	while (done && (log_ring.used > 0 || log_ring.busy || log_ring.dropped > 0))
		done = pthread_cond_timedwait(&log_ring.drained, &log_ring.mutex,
					      &deadline) == 0;
	pthread_mutex_unlock(&log_ring.mutex);
	if (!done) {
		/* stderr is stuck: leave the thread blocked in its write and
		 * the ring in place (later lines are counted as dropped); the
		 * process is about to end anyway */
		pthread_detach(log_ring.thread);
		return false;
	}
	pthread_join(log_ring.thread, NULL);
	pthread_mutex_lock(&log_ring.mutex);
	log_ring.running = false;
	free(log_ring.buf);
	log_ring.buf = NULL;
	pthread_mutex_unlock(&log_ring.mutex);
	return true;
}

char *log_escape(char *dst, size_t dstsize, const char *src, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	size_t room = dstsize - 5; /* closing quote, "...", NUL fit after room */
	dst[o++] = '"';
	size_t i;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)src[i];
		char tmp[4];
		size_t n;
		if (c == '"' || c == '\\') {
			tmp[0] = '\\'; tmp[1] = (char)c; n = 2;
		} else if (c >= 0x20 && c < 0x7f) {
			tmp[0] = (char)c; n = 1;
		} else {
			tmp[0] = '\\'; tmp[1] = 'x'; tmp[2] = hex[c >> 4];
			tmp[3] = hex[c & 15]; n = 4;
		}
		if (o + n > room)
			break;
		memcpy(dst + o, tmp, n);
		o += n;
	}
	if (i < len && o + 3 <= dstsize - 2) {
		memcpy(dst + o, "...", 3);
		o += 3;
	}
	dst[o++] = '"';
	dst[o] = '\0';
	return dst;
}
