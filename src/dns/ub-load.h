/* dns/ub-load - libunbound, loaded when a resolver is made.
 *
 * Only the network process and the CLI commands that look things up
 * resolve names; libunbound and what it links that nothing else does
 * (nettle, hogweed, GMP) took some 0.6 MiB of resident memory in each of
 * the supervisor, auth and keys processes, mapped and relocated for
 * nothing.  So the binary does not link it: ub_load (util/dl-load)
 * dlopens libunbound.so.8 at the first dns_resolver_create, as
 * store/pq-load does libpq, and fills a table with the functions dns.c
 * calls.
 *
 * unbound.h still gives the types and constants; the macros at the end
 * of this header turn dns.c's calls of ub_ctx_create() and the rest into
 * calls through the table, so include this header instead of unbound.h,
 * and only call ub_ functions after ub_load succeeded.  A function left
 * out of UB_LOAD_FUNCTIONS is not linked: calling it fails the link.
 */
#ifndef PETREL_DNS_UB_LOAD_H
#define PETREL_DNS_UB_LOAD_H

#include <unbound.h>

/* the soname loaded (libunbound8's, in Debian) */
#define UB_LOAD_SONAME "libunbound.so.8"

/* X(name) for each libunbound function dns.c calls */
#define UB_LOAD_FUNCTIONS(X) \
	X(ub_cancel) X(ub_ctx_async) X(ub_ctx_config) X(ub_ctx_create) X(ub_ctx_delete) \
	X(ub_ctx_resolvconf) X(ub_ctx_set_fwd) X(ub_ctx_set_option) X(ub_fd) X(ub_process) \
	X(ub_resolve_async) X(ub_resolve_free)

/* the functions' addresses in the loaded library; ub_fn_ub_fd is ub_fd */
#define UB_LOAD_MEMBER(name) __typeof__(name) *ub_fn_##name;
struct ub_load_functions {
	UB_LOAD_FUNCTIONS(UB_LOAD_MEMBER)
};
#undef UB_LOAD_MEMBER

extern struct ub_load_functions ub_load_functions;

/* ub_load - load libunbound and fill ub_load_functions, once per process
 * (thread-safe).  0, or -1 and *error_r (a static string: the loader's
 * reason) if the library or one of its functions cannot be found. */
int ub_load(const char **error_r);

#define ub_cancel (ub_load_functions.ub_fn_ub_cancel)
#define ub_ctx_async (ub_load_functions.ub_fn_ub_ctx_async)
#define ub_ctx_config (ub_load_functions.ub_fn_ub_ctx_config)
#define ub_ctx_create (ub_load_functions.ub_fn_ub_ctx_create)
#define ub_ctx_delete (ub_load_functions.ub_fn_ub_ctx_delete)
#define ub_ctx_resolvconf (ub_load_functions.ub_fn_ub_ctx_resolvconf)
#define ub_ctx_set_fwd (ub_load_functions.ub_fn_ub_ctx_set_fwd)
#define ub_ctx_set_option (ub_load_functions.ub_fn_ub_ctx_set_option)
#define ub_fd (ub_load_functions.ub_fn_ub_fd)
#define ub_process (ub_load_functions.ub_fn_ub_process)
#define ub_resolve_async (ub_load_functions.ub_fn_ub_resolve_async)
#define ub_resolve_free (ub_load_functions.ub_fn_ub_resolve_free)

#endif
