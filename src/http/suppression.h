/* http/suppression - SendGrid v3's suppression endpoints (docs/http.md,
 * "Suppressions"): /v3/suppression/LIST and /v3/suppression/LIST/EMAIL
 * read from the request's path, and the JSON body of POST and DELETE.
 *
 * Both parsers do no I/O and keep no state: the handler
 * (suppression-route.c) calls them (the body on a worker), the fuzz target
 * fuzz/fuzz-suppression.c directly.  What they return is the caller's
 * (free, http_suppression_body_clear).  Errors: -1 and *error_r (static
 * text, SendGrid's message for a 400 or 404).
 */
#ifndef PETREL_HTTP_SUPPRESSION_H
#define PETREL_HTTP_SUPPRESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_SUPPRESSION_PREFIX "/v3/suppression/"
#define HTTP_SUPPRESSION_EMAIL_MAX 254   /* RFC 5321 4.5.3.1.3 path, less the <> */

/* http_suppression_path_parse - PATH[0..LEN) (the target up to '?'),
 * which starts with HTTP_SUPPRESSION_PREFIX: the list's name (1-32 of
 * a-z and '_') into *LIST_R, and the EMAIL after one more '/' (RFC 3986
 * percent-decoded, 1-254 octets, none a control character or '/') into
 * *EMAIL_R, or NULL when there is none.  -1 for any other form. */
int http_suppression_path_parse(const char *path, size_t len, char **list_r, char **email_r,
				const char **error_r);

/* struct http_suppression_query - SendGrid's GET parameters: start_time
 * and end_time (UNIX seconds, both included), limit, offset; 0 = not given */
struct http_suppression_query {
	uint64_t start_time, end_time, limit, offset;
};
/* http_suppression_query_parse - QUERY[0..LEN) (what follows '?':
 * "name=value&..."): those four as decimal numbers of 1 to 15 digits;
 * other names are passed over.  -1 and *error_r (the name of the field)
 * for a value that is not such a number */
int http_suppression_query_parse(const char *query, size_t len,
				 struct http_suppression_query *out, const char **error_r);

/* struct http_suppression_body - what a POST or DELETE body says:
 * {"emails":["a@example.net",...]} (POST: also "reason"), or for DELETE
 * {"delete_all":true} */
struct http_suppression_body {
	bool delete_all;
	char **emails;      /* COUNT strings, each as sent (checked by the store) */
	size_t count;
	char *reason;       /* or NULL */
};
/* http_suppression_body_parse - BODY[0..LEN) (JSON) into *OUT: an object
 * with delete_all true (when DELETE_ALL_OK), or with "emails", an array of
 * 1 or more strings of at most HTTP_SUPPRESSION_EMAIL_MAX octets, and
 * (REASON_OK) an optional "reason" string.  -1 and *error_r otherwise */
int http_suppression_body_parse(const char *body, size_t len, bool delete_all_ok,
				bool reason_ok, struct http_suppression_body *out,
				const char **error_r);
void http_suppression_body_clear(struct http_suppression_body *body);

#endif
