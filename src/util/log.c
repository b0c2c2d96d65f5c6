/* util/log - key=value event lines to stderr and syslog (see log.h). */
#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static enum log_level log_min_level = LOG_LEVEL_INFO;
static bool log_use_syslog;

static const char *const log_level_names[] = { "debug", "info", "warn", "error" };

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

/* log_event - format one line and write it in one write(2) */
void log_event(enum log_level level, const char *event, const char *fmt, ...)
{
	static const int syslog_prio[] = { LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR };
	if (level < log_min_level)
		return;

	char line[2048];
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	int head = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s ",
			    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
			    tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
			    log_level_names[level], event);
	if (head < 0 || (size_t)head >= sizeof(line))
		return;

	va_list ap;
	va_start(ap, fmt);
	int body = vsnprintf(line + head, sizeof(line) - (size_t)head - 1, fmt, ap);
	va_end(ap);
	size_t len = (size_t)head;
	if (body > 0)
		len += (size_t)body < sizeof(line) - (size_t)head - 1 ?
			(size_t)body : sizeof(line) - (size_t)head - 2;
	line[len++] = '\n';
	/* A failed write to stderr has nowhere to be reported. */
	ssize_t n = write(STDERR_FILENO, line, len);
	(void)n;
	if (log_use_syslog) {
		line[len - 1] = '\0';
		syslog(syslog_prio[level], "%s", line + 25);
	}
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
