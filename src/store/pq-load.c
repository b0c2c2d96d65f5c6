/* store/pq-load - libpq loaded on demand (pq-load.h says why).
 *
 * RTLD_NOW: a libpq without one of its own dependencies fails here, at
 * start, not at the first query; RTLD_LOCAL: its symbols stay out of the
 * global namespace (Petrel does not link it, so nothing else resolves to
 * it).  Loaded once under a mutex: a store and a credentials store may be
 * opened by different threads.
 */
#include "store/pq-load.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>

struct pq_load_functions pq_load_functions;

static pthread_mutex_t pq_load_lock = PTHREAD_MUTEX_INITIALIZER;
static bool pq_load_done;
static char pq_load_error[512];

static bool pq_load_symbols(void *lib);

/* pq_load_symbols - every PQ_LOAD_FUNCTIONS entry of LIB in the table;
 * false and pq_load_error naming the first one missing */
static bool pq_load_symbols(void *lib)
{
#define PQ_LOAD_SYMBOL(name)                                                            \
	pq_load_functions.pq_fn_##name =                                                \
		(__typeof__(pq_load_functions.pq_fn_##name))dlsym(lib, #name);          \
	if (!pq_load_functions.pq_fn_##name) {                                          \
		snprintf(pq_load_error, sizeof(pq_load_error), "%s has no %s",          \
			 PQ_LOAD_SONAME, #name);                                        \
		return false;                                                           \
	}
	PQ_LOAD_FUNCTIONS(PQ_LOAD_SYMBOL)
#undef PQ_LOAD_SYMBOL
	return true;
}

int pq_load(const char **error_r)
{
	pthread_mutex_lock(&pq_load_lock);
	if (!pq_load_done) {
		pq_load_done = true;
		void *lib = dlopen(PQ_LOAD_SONAME, RTLD_NOW | RTLD_LOCAL);
		if (!lib) {
			const char *why = dlerror();
			snprintf(pq_load_error, sizeof(pq_load_error), "%s",
				 why ? why : PQ_LOAD_SONAME ": not found");
		} else if (!pq_load_symbols(lib)) {
			dlclose(lib);
		}
	}
	bool failed = pq_load_error[0] != '\0';
	pthread_mutex_unlock(&pq_load_lock);
	if (failed)
		*error_r = pq_load_error;
	return failed ? -1 : 0;
}
