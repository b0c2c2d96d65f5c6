/* http/suppression-parse - the path and the JSON body of SendGrid's
 * suppression endpoints (suppression.h); no I/O. */
#include "http/suppression.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "util/xalloc.h"
#include "wire/wire.h"

#define LIST_NAME_MAX 32

int http_suppression_path_parse(const char *path, size_t len, char **list_r, char **email_r,
				const char **error_r)
{
	size_t prefix = strlen(HTTP_SUPPRESSION_PREFIX);
	*list_r = NULL;
	*email_r = NULL;
	*error_r = "not found";
	if (len <= prefix || memcmp(path, HTTP_SUPPRESSION_PREFIX, prefix) != 0)
		return -1;
	const char *p = path + prefix, *end = path + len;
	size_t name = 0;
	while (p + name < end && ((p[name] >= 'a' && p[name] <= 'z') || p[name] == '_'))
		name++;
	if (name == 0 || name > LIST_NAME_MAX || (p + name < end && p[name] != '/'))
		return -1;
	const char *email = p + name + 1;
	char *decoded = NULL;
	if (p + name < end) {
		if (email < end) {
			decoded = xmalloc((size_t)(end - email) + 1);
			if (!wire_percent_decode(email, (size_t)(end - email), decoded) ||
			    strchr(decoded, '/')) {
				free(decoded);
				decoded = NULL;
			}
		}
		if (!decoded || decoded[0] == '\0' || strlen(decoded) > HTTP_SUPPRESSION_EMAIL_MAX) {
			free(decoded);
			*error_r = "not a valid email address in the path";
			return -1;
		}
	}
	*list_r = xmalloc(name + 1);
	memcpy(*list_r, p, name);
	(*list_r)[name] = '\0';
	*email_r = decoded;
	return 0;
}

int http_suppression_query_parse(const char *query, size_t len,
				 struct http_suppression_query *out, const char **error_r)
{
	static const char *const names[] = { "start_time", "end_time", "limit", "offset" };
	uint64_t *fields[] = { &out->start_time, &out->end_time, &out->limit, &out->offset };
	memset(out, 0, sizeof(*out));
	const char *p = query, *end = query + len;
	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *stop = amp ? amp : end;
		const char *eq = memchr(p, '=', (size_t)(stop - p));
		for (size_t k = 0; eq && k < sizeof(names) / sizeof(names[0]); k++) {
			if ((size_t)(eq - p) != strlen(names[k]) || memcmp(p, names[k], strlen(names[k])))
				continue;
			const char *v = eq + 1;
			size_t n = (size_t)(stop - v);
			uint64_t value = 0;
			size_t digits = 0;
			while (digits < n && digits <= 15 && v[digits] >= '0' && v[digits] <= '9')
				value = value * 10 + (uint64_t)(v[digits++] - '0');
			if (n == 0 || n > 15 || digits != n) {
				*error_r = names[k];
				return -1;
			}
			*fields[k] = value;
		}
		p = amp ? amp + 1 : end;
	}
	return 0;
}

int http_suppression_body_parse(const char *body, size_t len, bool delete_all_ok,
				bool reason_ok, struct http_suppression_body *out,
				const char **error_r)
{
	memset(out, 0, sizeof(*out));
	json_error_t jerr;
	json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	json_t *all = json_object_get(root, "delete_all");
	json_t *emails = json_object_get(root, "emails");
	json_t *reason = json_object_get(root, "reason");
	int rc = -1;
	if (!json_is_object(root)) {
		*error_r = "the body is not a JSON object";
	} else if (all && (!delete_all_ok || !json_is_true(all) || emails)) {
		*error_r = delete_all_ok ? "delete_all: true, or emails, not both"
					 : "delete_all is not taken here";
	} else if (all) {
		out->delete_all = true;
		rc = 0;
	} else if (!json_is_array(emails) || json_array_size(emails) == 0) {
		*error_r = "emails: an array of one or more addresses is required";
	} else if (reason && (!reason_ok || !json_is_string(reason) ||
			      strlen(json_string_value(reason)) != json_string_length(reason))) {
		*error_r = reason_ok ? "reason: a string" : "reason is not taken here";
	} else {
		rc = 0;
		size_t n = json_array_size(emails);
		out->emails = xcalloc(n, sizeof(*out->emails));
		for (size_t i = 0; rc == 0 && i < n; i++) {
			json_t *e = json_array_get(emails, i);
			size_t elen = json_string_length(e);
			if (!json_is_string(e) || elen == 0 || elen > HTTP_SUPPRESSION_EMAIL_MAX ||
			    strlen(json_string_value(e)) != elen) {
				*error_r = "emails: each an address of at most 254 octets";
				rc = -1;
			} else {
				out->emails[out->count++] = xstrdup(json_string_value(e));
			}
		}
		if (rc == 0 && reason)
			out->reason = xstrdup(json_string_value(reason));
	}
	json_decref(root);
	if (rc != 0)
		http_suppression_body_clear(out);
	return rc;
}

void http_suppression_body_clear(struct http_suppression_body *body)
{
	for (size_t i = 0; i < body->count; i++)
		free(body->emails[i]);
	free(body->emails);
	free(body->reason);
	memset(body, 0, sizeof(*body));
}
