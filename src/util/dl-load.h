/* util/dl-load - a shared library loaded on demand, once per process.
 *
 * For the libraries only some processes need (libpq: a PostgreSQL store,
 * store/pq-load.h; libunbound: DNS, dns/ub-load.h): the binary does not
 * link them, so the others never map them nor what they link.  Each is
 * described by a struct dl_library; its SYMBOLS function fills the table
 * of the functions its callers use (typed pointers, one dlsym each).
 *
 * RTLD_NOW: a library without one of its own dependencies fails here, at
 * the first load, not at the first call; RTLD_LOCAL: its symbols stay out
 * of the global namespace (nothing else resolves to them).  Loaded once
 * under the library's mutex: several threads may need it; later calls
 * return the first one's result.  Never unloaded.
 */
#ifndef PETREL_UTIL_DL_LOAD_H
#define PETREL_UTIL_DL_LOAD_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

struct dl_library {
	const char *soname;
	/* the table filled from LIB; false and ERROR (of ERROR_LEN) naming
	 * the first function missing */
	bool (*symbols)(void *lib, char *error, size_t error_len);
	pthread_mutex_t lock;
	bool done;
	char error[512];
};

/* DL_LIBRARY(SONAME, SYMBOLS) - the initializer of a struct dl_library */
#define DL_LIBRARY(soname, symbols) { (soname), (symbols), PTHREAD_MUTEX_INITIALIZER, false, "" }

/* DL_LOAD_SYMBOL(LIB, TABLE, MEMBER, NAME, ERROR, ERROR_LEN, SONAME) - in a
 * SYMBOLS function: TABLE.MEMBER from LIB's NAME, or return false with
 * ERROR naming it ("SONAME has no NAME") */
#define DL_LOAD_SYMBOL(lib, table, member, name, error, error_len, soname)             \
	do {                                                                            \
		(table).member = (__typeof__((table).member))dlsym((lib), (name));      \
		if (!(table).member) {                                                  \
			snprintf((error), (error_len), "%s has no %s", (soname), (name)); \
			return false;                                                   \
		}                                                                       \
	} while (0)

/* dl_library_load - LIB loaded and its table filled, once per process;
 * 0, or -1 and *ERROR_R (the loader's reason, or the function missing) */
int dl_library_load(struct dl_library *lib, const char **error_r);

#endif
