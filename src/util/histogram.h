/* util/histogram - a histogram of durations in seconds, in the shape
 * Prometheus reads (docs/http.md, "Metrics"): a count per bucket, their sum
 * and their number.  The buckets' upper bounds are fixed and the same for
 * every histogram (histogram_bounds), so a struct histogram is plain data
 * that a snapshot copies.  No locking: one thread (the loop) observes and
 * reads it. */
#ifndef PETREL_UTIL_HISTOGRAM_H
#define PETREL_UTIL_HISTOGRAM_H

#include <stddef.h>
#include <time.h>

/* the upper bounds, in seconds, ascending: 1 ms to 5 minutes */
#define HISTOGRAM_BOUNDS 16
extern const double histogram_bounds[HISTOGRAM_BOUNDS];

struct histogram {
	/* counts[i]: values <= histogram_bounds[i] and above the bound
	 * before it (not cumulative); counts[HISTOGRAM_BOUNDS]: above them all */
	unsigned long long counts[HISTOGRAM_BOUNDS + 1];
	double sum;                /* of every value observed */
	unsigned long long count;  /* values observed */
};

/* histogram_observe - count VALUE (seconds) */
void histogram_observe(struct histogram *h, double value);
/* histogram_observe_since - count the seconds since START, a time read
 * from CLOCK_MONOTONIC */
void histogram_observe_since(struct histogram *h, const struct timespec *start);
/* histogram_cumulative - values <= histogram_bounds[I] (I < HISTOGRAM_BOUNDS),
 * or all of them (I == HISTOGRAM_BOUNDS, Prometheus' "+Inf") */
unsigned long long histogram_cumulative(const struct histogram *h, size_t i);

#endif
