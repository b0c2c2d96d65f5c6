/* util/heap - malloc_trim after large work, rate-limited (heap.h) */
#include "util/heap.h"
#include "util/log.h"

#include <malloc.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

/* at most one trim a second on average, up to HEAP_TRIM_BURST in a row
 * (a folder's load, then the first SELECT's listing of its cur/) */
#define HEAP_TRIM_INTERVAL_MS 1000
#define HEAP_TRIM_BURST 3

static _Atomic size_t trim_messages;
/* when the next trim would be on time (the generic cell rate algorithm):
 * a trim is allowed while this is less than HEAP_TRIM_BURST - 1 intervals
 * ahead of now */
static _Atomic int64_t trim_due_ms = INT64_MIN / 2;

void heap_trim_setup(size_t messages)
{
	atomic_store(&trim_messages, messages);
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* trim_allowed - take a trim's turn (false: too many lately) */
static bool trim_allowed(void)
{
	int64_t now = now_ms(), due = atomic_load(&trim_due_ms);
	for (;;) {
		int64_t from = due > now ? due : now;
		if (from - now > (int64_t)(HEAP_TRIM_BURST - 1) * HEAP_TRIM_INTERVAL_MS)
			return false;
		if (atomic_compare_exchange_weak(&trim_due_ms, &due, from + HEAP_TRIM_INTERVAL_MS))
			return true;
	}
}

bool heap_trim_after(size_t messages)
{
	size_t min = atomic_load(&trim_messages);
	if (min == 0 || messages < min || !trim_allowed())
		return false;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int freed = malloc_trim(0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	log_debug("heap-trim", "messages=%zu freed=%s ms=%.2f", messages, freed ? "yes" : "no",
		  (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
	return true;
}
