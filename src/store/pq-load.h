/* store/pq-load - libpq, loaded when a PostgreSQL store is opened.
 *
 * Petrel's default store is SQLite; libpq and what it links (Kerberos,
 * GSSAPI, LDAP, SASL, GnuTLS: about 2.75 MiB RSS and 0.35 MiB of anonymous
 * memory in each process, and their constructors run at start) are needed
 * only by a node whose [store] url or credentials_url names PostgreSQL.  So
 * the binary does not link libpq: pq_load dlopens libpq.so.5 the first time
 * such a store is opened (store-pg.c's pg_db_open, in the server and in the
 * CLI commands alike) and fills a table with the functions store-pg.c
 * calls, as Dovecot loads its SQL drivers as plugins.
 *
 * libpq-fe.h still gives the types and constants; the macros at the end of
 * this header turn store-pg.c's calls of PQexec() and the rest into calls
 * through the table, so include this header instead of libpq-fe.h, and only
 * call PQ functions after pq_load succeeded.  The library is never
 * unloaded.  A libpq function left out of the list below is not linked:
 * calling it fails the link, so add it to PQ_LOAD_FUNCTIONS and to the
 * macros when store-pg.c comes to need it.
 */
#ifndef PETREL_STORE_PQ_LOAD_H
#define PETREL_STORE_PQ_LOAD_H

#include <libpq-fe.h>

/* the soname loaded (libpq5's, in Debian) */
#define PQ_LOAD_SONAME "libpq.so.5"

/* X(name) for each libpq function store-pg.c calls */
#define PQ_LOAD_FUNCTIONS(X) \
	X(PQclear) X(PQcmdTuples) X(PQconnectdbParams) X(PQconninfoFree) \
	X(PQconninfoParse) X(PQconsumeInput) X(PQerrorMessage) X(PQexec) \
	X(PQexecParams) X(PQfinish) X(PQfreemem) X(PQgetisnull) X(PQgetlength) \
	X(PQgetvalue) X(PQnfields) X(PQntuples) X(PQresultErrorField) \
	X(PQresultStatus) X(PQsetNoticeProcessor) X(PQstatus) X(PQtransactionStatus)

/* the functions' addresses in the loaded library; pq_fn_PQexec is PQexec */
#define PQ_LOAD_MEMBER(name) __typeof__(name) *pq_fn_##name;
struct pq_load_functions {
	PQ_LOAD_FUNCTIONS(PQ_LOAD_MEMBER)
};
#undef PQ_LOAD_MEMBER

extern struct pq_load_functions pq_load_functions;

/* pq_load - load libpq and fill pq_load_functions, once per process
 * (thread-safe; later calls return the first one's result).  0, or -1 and
 * *error_r (a static string: the loader's reason) if the library or one of
 * its functions cannot be found. */
int pq_load(const char **error_r);

#define PQclear (pq_load_functions.pq_fn_PQclear)
#define PQcmdTuples (pq_load_functions.pq_fn_PQcmdTuples)
#define PQconnectdbParams (pq_load_functions.pq_fn_PQconnectdbParams)
#define PQconninfoFree (pq_load_functions.pq_fn_PQconninfoFree)
#define PQconninfoParse (pq_load_functions.pq_fn_PQconninfoParse)
#define PQconsumeInput (pq_load_functions.pq_fn_PQconsumeInput)
#define PQerrorMessage (pq_load_functions.pq_fn_PQerrorMessage)
#define PQexec (pq_load_functions.pq_fn_PQexec)
#define PQexecParams (pq_load_functions.pq_fn_PQexecParams)
#define PQfinish (pq_load_functions.pq_fn_PQfinish)
#define PQfreemem (pq_load_functions.pq_fn_PQfreemem)
#define PQgetisnull (pq_load_functions.pq_fn_PQgetisnull)
#define PQgetlength (pq_load_functions.pq_fn_PQgetlength)
#define PQgetvalue (pq_load_functions.pq_fn_PQgetvalue)
#define PQnfields (pq_load_functions.pq_fn_PQnfields)
#define PQntuples (pq_load_functions.pq_fn_PQntuples)
#define PQresultErrorField (pq_load_functions.pq_fn_PQresultErrorField)
#define PQresultStatus (pq_load_functions.pq_fn_PQresultStatus)
#define PQsetNoticeProcessor (pq_load_functions.pq_fn_PQsetNoticeProcessor)
#define PQstatus (pq_load_functions.pq_fn_PQstatus)
#define PQtransactionStatus (pq_load_functions.pq_fn_PQtransactionStatus)

#endif
