/* util/histogram - see histogram.h */
#include "util/histogram.h"

#include <assert.h>

/* Prometheus' default buckets (5 ms to 10 s) widened at both ends: an
 * SMTP accept takes about a millisecond on a fast disk, a delivery attempt
 * to a slow server minutes (its timeouts). */
const double histogram_bounds[HISTOGRAM_BOUNDS] = {
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
	0.5, 1, 2.5, 5, 10, 30, 60, 300,
};

void histogram_observe(struct histogram *h, double value)
{
	size_t i = 0;
	while (i < HISTOGRAM_BOUNDS && value > histogram_bounds[i])
		i++;
	h->counts[i]++;
	h->sum += value;
	h->count++;
}

void histogram_observe_since(struct histogram *h, const struct timespec *start)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	double seconds = (double)(now.tv_sec - start->tv_sec) +
			 (double)(now.tv_nsec - start->tv_nsec) / 1e9;
	histogram_observe(h, seconds < 0 ? 0 : seconds);
}

unsigned long long histogram_cumulative(const struct histogram *h, size_t i)
{
	assert(i <= HISTOGRAM_BOUNDS);
	unsigned long long n = 0;
	for (size_t k = 0; k <= i; k++)
		n += h->counts[k];
	return n;
}
