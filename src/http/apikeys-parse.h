/* http/apikeys-parse - the body of SendGrid's POST /v3/api_keys read and
 * checked (apikeys-parse.c); no I/O.  What it returns is the caller's
 * (http_apikey_body_clear); errors are static text and a field name. */
#ifndef PETREL_HTTP_APIKEYS_PARSE_H
#define PETREL_HTTP_APIKEYS_PARSE_H

#include <stddef.h>

#define HTTP_APIKEY_NAME_MAX 100     /* octets of a key's name (authd's AUTHD_APIKEY_NAME_MAX) */
#define HTTP_APIKEY_SCOPES_COUNT 100 /* scopes listed in one request */
#define HTTP_APIKEY_SCOPE_MAX 64     /* octets of one scope */

struct http_apikey_body {
	char *name;     /* 1..HTTP_APIKEY_NAME_MAX octets, no control characters */
	char *scopes;   /* valid scopes, each once, space-separated; NULL: none given */
};

/* http_apikey_body_parse - BODY (LEN octets) into *R; 0, or -1 with
 * *message_r and *field_r ("name", "scopes", or NULL for the whole body) */
int http_apikey_body_parse(const char *body, size_t len, struct http_apikey_body *r,
			   const char **field_r, const char **message_r);
void http_apikey_body_clear(struct http_apikey_body *r);

#endif
