/* util/timespec - absolute deadlines for pthread_cond_timedwait().
 * Header only: used by the log thread and the syncer. */
#ifndef PETREL_UTIL_TIMESPEC_H
#define PETREL_UTIL_TIMESPEC_H

#include <stdbool.h>
#include <time.h>

/* timespec_after_ms - *TS_R = now on CLOCK (the clock the condition
 * variable waits on) plus MS milliseconds */
static inline void timespec_after_ms(clockid_t clock, unsigned ms, struct timespec *ts_r)
{
	clock_gettime(clock, ts_r);
	ts_r->tv_sec += ms / 1000;
	ts_r->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts_r->tv_nsec >= 1000000000L) {
		ts_r->tv_sec++;
		ts_r->tv_nsec -= 1000000000L;
	}
}

/* timespec_before - A is earlier than B */
static inline bool timespec_before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

#endif
