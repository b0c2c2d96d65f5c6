/* dns/ub-load - libunbound loaded on demand (ub-load.h says why; the
 * loading itself is util/dl-load's) */
#include "dns/ub-load.h"

#include <dlfcn.h>
#include <stdio.h>

#include "util/dl-load.h"

struct ub_load_functions ub_load_functions;

/* ub_load_symbols - every UB_LOAD_FUNCTIONS entry of LIB in the table */
static bool ub_load_symbols(void *lib, char *error, size_t error_len)
{
#define UB_LOAD_SYMBOL(name)                                                            \
	DL_LOAD_SYMBOL(lib, ub_load_functions, ub_fn_##name, #name, error, error_len,   \
		       UB_LOAD_SONAME);
	UB_LOAD_FUNCTIONS(UB_LOAD_SYMBOL)
#undef UB_LOAD_SYMBOL
	return true;
}

static struct dl_library ub_library = DL_LIBRARY(UB_LOAD_SONAME, ub_load_symbols);

int ub_load(const char **error_r)
{
	return dl_library_load(&ub_library, error_r);
}
