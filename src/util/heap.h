/* util/heap - give freed heap back to the kernel after large work.
 *
 * glibc keeps what a process frees in its arenas (and with worker threads
 * there are several): a 100,000-message folder's load, or a FETCH over all
 * of it, left the network process 11 to 19 MiB larger than it needed to be
 * (bench/README.md, "Memory of a large folder").  After such work a worker
 * calls heap_trim_after(), which runs malloc_trim(0) when the work went over
 * at least [server] malloc_trim_messages messages, at most once a second on
 * average in the process (three in a row at most).  Thread-safe; call it on a worker, never on the event loop.
 *
 * A large array that is made and freed again and again (a folder's view at
 * each SELECT) costs its page faults each time once a trim gave its pages
 * back, and a fault is dear on a virtual machine (16 us here: 6.5 ms for
 * the 1.6 MB view of a 100,000-message folder).  heap_big_alloc() puts an
 * array of at least [server] huge_pages_from bytes in a mapping of its own,
 * aligned and sized to 2 MiB transparent huge pages (madvise): one fault
 * for each 2 MiB.  The last such mapping freed, if of 8 MiB or less (the
 * view of a folder of up to 500,000 messages), is kept with its pages for
 * the next heap_big_alloc of about its size (not twice as large), which
 * zeroes it instead of faulting in new pages: a huge page's fault took 0.2
 * to 5 ms here, 30 ms at worst.  Any other is unmapped at once.
 */
#ifndef PETREL_UTIL_HEAP_H
#define PETREL_UTIL_HEAP_H

#include <stdbool.h>
#include <stddef.h>

/* heap_trim_setup - trim after work over MESSAGES messages or more; 0 (the
 * default before any call): never */
void heap_trim_setup(size_t messages);
/* heap_trim_after - work over MESSAGES messages has just freed its memory:
 * trim the heap when they are enough and the rate allows (true: trimmed) */
bool heap_trim_after(size_t messages);

/* heap_big_setup - arrays of BYTES or more in huge pages; 0 (the default
 * before any call): never */
void heap_big_setup(size_t bytes);
/* heap_big_alloc - zeroed memory for *BYTES bytes (at least one), which it
 * rounds up to what it gave (a multiple of 2 MiB in huge pages, the spare's
 * size when it takes the spare); aborts when out of memory, as xcalloc
 * does */
void *heap_big_alloc(size_t *bytes);
/* heap_big_resize - P (of OLD_BYTES from heap_big_alloc) moved to memory of
 * *BYTES bytes (rounded up as heap_big_alloc does), the first OLD_BYTES or
 * *BYTES, the smaller, kept; the rest zeroed */
void *heap_big_resize(void *p, size_t old_bytes, size_t *bytes);
/* heap_big_free - P from heap_big_alloc or heap_big_resize, of BYTES as it
 * rounded them (NULL: nothing) */
void heap_big_free(void *p, size_t bytes);

#endif
