/* util/dl-load - a shared library loaded on demand, once (dl-load.h) */
#include "util/dl-load.h"

#include <dlfcn.h>
#include <stdio.h>

int dl_library_load(struct dl_library *lib, const char **error_r)
{
	pthread_mutex_lock(&lib->lock);
	if (!lib->done) {
		lib->done = true;
		void *handle = dlopen(lib->soname, RTLD_NOW | RTLD_LOCAL);
		if (!handle) {
			const char *why = dlerror();
			snprintf(lib->error, sizeof(lib->error), "%s%s", why ? why : lib->soname,
				 why ? "" : ": not found");
		} else if (!lib->symbols(handle, lib->error, sizeof(lib->error))) {
			dlclose(handle);
		}
	}
	bool failed = lib->error[0] != '\0';
	pthread_mutex_unlock(&lib->lock);
	if (failed)
		*error_r = lib->error;
	return failed ? -1 : 0;
}
