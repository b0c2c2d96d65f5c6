/* util/heap - malloc_trim after large work, rate-limited (heap.h) */
#include "util/heap.h"
#include "util/log.h"
#include "util/xalloc.h"

#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

/* a transparent huge page on x86-64 and arm64 (4 KiB base pages) */
#define HEAP_HUGE_PAGE ((size_t)2 << 20)

/* at most one trim a second on average, up to HEAP_TRIM_BURST in a row
 * (a folder's load, then the first SELECT's listing of its cur/) */
#define HEAP_TRIM_INTERVAL_MS 1000
#define HEAP_TRIM_BURST 3

/* the last mapping heap_big_free was given, of at most HEAP_SPARE_MAX bytes,
 * kept (its pages resident) for the next heap_big_alloc of about its size:
 * the next SELECT's view then takes no fault (heap.h) */
#define HEAP_SPARE_MAX ((size_t)8 << 20)

static pthread_mutex_t spare_lock = PTHREAD_MUTEX_INITIALIZER;
static void *spare;
static size_t spare_bytes;

static _Atomic size_t trim_messages;
static _Atomic size_t big_from;
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

void heap_big_setup(size_t bytes)
{
	atomic_store(&big_from, bytes);
}

/* is_big - BYTES (as heap_big_alloc rounded them) are in a mapping */
static bool is_big(size_t bytes)
{
	size_t from = atomic_load(&big_from);
	return from != 0 && bytes >= from && bytes % HEAP_HUGE_PAGE == 0;
}

/* huge_map - BYTES (a multiple of HEAP_HUGE_PAGE) of zeroed memory aligned
 * to a huge page, advised to use them */
static void *huge_map(size_t bytes)
{
	size_t span = bytes + HEAP_HUGE_PAGE;
	char *m = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		xalloc_die();
	char *p = (char *)(((uintptr_t)m + HEAP_HUGE_PAGE - 1) & ~(uintptr_t)(HEAP_HUGE_PAGE - 1));
	if (p > m)
		munmap(m, (size_t)(p - m));
	if (m + span > p + bytes)
		munmap(p + bytes, (size_t)(m + span - (p + bytes)));
	/* where huge pages are off (or "never") this fails: small pages then */
	(void)madvise(p, bytes, MADV_HUGEPAGE);
	return p;
}

/* spare_take - the spare when it holds BYTES (rounded) and not twice as
 * many, zeroed; its size in *BYTES (NULL: none fits) */
static void *spare_take(size_t *bytes)
{
	void *p = NULL;
	pthread_mutex_lock(&spare_lock);
	if (spare && spare_bytes >= *bytes && spare_bytes - *bytes < *bytes) {
		p = spare;
		*bytes = spare_bytes;
		spare = NULL;
		spare_bytes = 0;
	}
	pthread_mutex_unlock(&spare_lock);
	if (p)
		memset(p, 0, *bytes);
	return p;
}

/* spare_keep - P of BYTES (a mapping) becomes the spare; the one before it
 * is unmapped */
static void spare_keep(void *p, size_t bytes)
{
	pthread_mutex_lock(&spare_lock);
	void *old = spare;
	size_t old_bytes = spare_bytes;
	spare = p;
	spare_bytes = bytes;
	pthread_mutex_unlock(&spare_lock);
	if (old)
		munmap(old, old_bytes);
}

void *heap_big_alloc(size_t *bytes)
{
	size_t n = *bytes ? *bytes : 1, from = atomic_load(&big_from);
	if (from == 0 || n < from)
		return xcalloc(1, n);
	if (n > SIZE_MAX / 2)
		xalloc_die();
	*bytes = (n + HEAP_HUGE_PAGE - 1) & ~(HEAP_HUGE_PAGE - 1);
	void *p = spare_take(bytes);
	return p ? p : huge_map(*bytes);
}

void *heap_big_resize(void *p, size_t old_bytes, size_t *bytes)
{
	if (!is_big(old_bytes)) {
		size_t n = *bytes ? *bytes : 1;
		size_t from = atomic_load(&big_from);
		if (from == 0 || n < from) {
			/* both small: realloc, the rest zeroed as heap_big_alloc's */
			char *q = xrealloc(p, n);
			if (n > old_bytes)
				memset(q + old_bytes, 0, n - old_bytes);
			*bytes = n;
			return q;
		}
	}
	void *q = heap_big_alloc(bytes);
	memcpy(q, p, old_bytes < *bytes ? old_bytes : *bytes);
	heap_big_free(p, old_bytes);
	return q;
}

void heap_big_free(void *p, size_t bytes)
{
	if (!p)
		return;
	if (!is_big(bytes))
		free(p);
	else if (bytes <= HEAP_SPARE_MAX)
		spare_keep(p, bytes);
	else
		munmap(p, bytes);
}
