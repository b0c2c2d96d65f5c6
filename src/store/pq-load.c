/* store/pq-load - libpq loaded on demand (pq-load.h says why; the loading
 * itself is util/dl-load's) */
#include "store/pq-load.h"

#include <dlfcn.h>
#include <stdio.h>

#include "util/dl-load.h"

struct pq_load_functions pq_load_functions;

/* pq_load_symbols - every PQ_LOAD_FUNCTIONS entry of LIB in the table */
static bool pq_load_symbols(void *lib, char *error, size_t error_len)
{
#define PQ_LOAD_SYMBOL(name)                                                            \
	DL_LOAD_SYMBOL(lib, pq_load_functions, pq_fn_##name, #name, error, error_len,   \
		       PQ_LOAD_SONAME);
	PQ_LOAD_FUNCTIONS(PQ_LOAD_SYMBOL)
#undef PQ_LOAD_SYMBOL
	return true;
}

static struct dl_library pq_library = DL_LIBRARY(PQ_LOAD_SONAME, pq_load_symbols);

int pq_load(const char **error_r)
{
	return dl_library_load(&pq_library, error_r);
}
