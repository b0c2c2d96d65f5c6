/* http/apikeys-parse - the JSON body of SendGrid's POST /v3/api_keys:
 * {"name": "...", "scopes": ["mail.send", ...]}.  No I/O: the fuzz target
 * links it alone (with util/ and store/apikey-key.c). */
#include "http/apikeys-parse.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "store/store.h"
#include "util/buf.h"
#include "util/xalloc.h"

static bool name_is_valid(const char *name, size_t len);
static bool scopes_read(json_t *list, struct buf *out, const char **message_r);

/* name_is_valid - 1..HTTP_APIKEY_NAME_MAX octets, no control characters */
static bool name_is_valid(const char *name, size_t len)
{
	bool ok = len > 0 && len <= HTTP_APIKEY_NAME_MAX && strlen(name) == len;
	for (size_t i = 0; ok && i < len; i++)
		ok = (unsigned char)name[i] >= 0x20 && name[i] != 0x7f;
	return ok;
}

/* scopes_read - LIST's scopes, each valid and once, space-separated into OUT */
static bool scopes_read(json_t *list, struct buf *out, const char **message_r)
{
	size_t i;
	json_t *v;
	if (!json_is_array(list) || json_array_size(list) == 0 ||
	    json_array_size(list) > HTTP_APIKEY_SCOPES_COUNT) {
		*message_r = "must be a list of 1 to 100 scopes";
		return false;
	}
	json_array_foreach(list, i, v) {
		const char *scope = json_string_value(v);
		if (!scope || strlen(scope) > HTTP_APIKEY_SCOPE_MAX ||
		    !store_apikey_scope_is_valid(scope)) {
			*message_r = "is not a valid scope";
			return false;
		}
		if (out->len > 0 && store_apikey_has_scope(out->data, scope))
			continue;
		buf_printf(out, "%s%s", out->len ? " " : "", scope);
	}
	return true;
}

int http_apikey_body_parse(const char *body, size_t len, struct http_apikey_body *r,
			   const char **field_r, const char **message_r)
{
	int rc = -1;
	struct buf scopes;
	buf_init(&scopes);
	memset(r, 0, sizeof(*r));
	*field_r = NULL;
	json_error_t jerr;
	json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	json_t *name = root ? json_object_get(root, "name") : NULL;
	json_t *list = root ? json_object_get(root, "scopes") : NULL;
	if (!json_is_object(root)) {
		*message_r = "the request body is not a JSON object";
	} else if (!json_is_string(name) ||
		   !name_is_valid(json_string_value(name), json_string_length(name))) {
		*field_r = "name";
		*message_r = "must be 1 to 100 characters";
	} else if (list && !scopes_read(list, &scopes, message_r)) {
		*field_r = "scopes";
	} else {
		r->name = xstrdup(json_string_value(name));
		r->scopes = list ? xstrdup(scopes.data) : NULL;
		rc = 0;
	}
	json_decref(root);
	buf_free(&scopes);
	return rc;
}

void http_apikey_body_clear(struct http_apikey_body *r)
{
	free(r->name);
	free(r->scopes);
	memset(r, 0, sizeof(*r));
}
