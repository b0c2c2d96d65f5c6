/* util/heap - give freed heap back to the kernel after large work.
 *
 * glibc keeps what a process frees in its arenas (and with worker threads
 * there are several): a 100,000-message folder's load, or a FETCH over all
 * of it, left the network process 11 to 19 MiB larger than it needed to be
 * (bench/README.md, "Memory of a large folder").  After such work a worker
 * calls heap_trim_after(), which runs malloc_trim(0) when the work went over
 * at least [server] malloc_trim_messages messages, at most once a second on
 * average in the process (three in a row at most).  Thread-safe; call it on a worker, never on the event loop.
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

#endif
