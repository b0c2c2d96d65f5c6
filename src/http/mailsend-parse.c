/* http/mailsend-parse - SendGrid v3 mail/send's JSON read and validated
 * (mailsend.h).  Every problem is gathered, with its field's path, into
 * one error list, as SendGrid answers; the messages are SendGrid's where
 * it has one, so that its clients' users recognize them.  No I/O. */
#include "http/mailsend.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/base64.h"
#include "util/domain.h"
#include "util/dot-atom.h"
#include "util/xalloc.h"

/* Errors listed at most: a request with a million bad addresses gets an
 * answer of bounded size. */
#define MAILSEND_ERRORS_MAX 100
#define MAILSEND_LOCAL_MAX 64
#define MAILSEND_ADDRESS_MAX 254
#define MAILSEND_CATEGORY_MAX 255
#define MAILSEND_LINE_MAX 998      /* RFC 5322 2.1.1 */
#define MAILSEND_PATH_MAX 48       /* "personalizations.999.to" */
#define MAILSEND_FIELD_MAX 128      /* a path and what follows it */

struct parse_ctx {
	const struct mailsend_limits *limits;
	json_t *errors;             /* the "errors" array */
	size_t error_count;
};

static void parse_error(struct parse_ctx *c, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static bool email_is_valid(const char *email);
static bool text_is_clean(const char *s, bool allow_tab);
static bool field_name_is_valid(const char *name);
static bool mime_type_is_valid(const char *type);
static bool header_is_reserved(const char *name);
static char *string_member(struct parse_ctx *c, json_t *obj, const char *key,
			   const char *path, bool required);
static bool parse_address(struct parse_ctx *c, json_t *v, const char *path,
			  struct mailsend_address *out);
static size_t parse_address_list(struct parse_ctx *c, json_t *v, const char *path,
				 struct mailsend_address **list_r);
static size_t parse_fields(struct parse_ctx *c, json_t *v, const char *path, bool headers,
			   struct mailsend_field **fields_r);
static void fields_check_size(struct parse_ctx *c, const struct mailsend_field *fields,
			      size_t n, size_t max, const char *path);
static bool recipients_are_unique(struct parse_ctx *c, const struct mailsend_personalization *p,
				  size_t index);
static void parse_personalization(struct parse_ctx *c, json_t *v, size_t index, time_t now,
				  struct mailsend_personalization *p);
static void parse_personalizations(struct parse_ctx *c, json_t *root, time_t now,
				   struct mailsend_request *r);
static void parse_contents(struct parse_ctx *c, json_t *v, struct mailsend_request *r);
static void parse_attachment(struct parse_ctx *c, json_t *v, size_t index,
			     struct mailsend_attachment *a);
static void parse_attachments(struct parse_ctx *c, json_t *v, struct mailsend_request *r);
static void parse_categories(struct parse_ctx *c, json_t *v, struct mailsend_request *r);
static void parse_send_at(struct parse_ctx *c, json_t *v, const char *path, time_t now,
			  time_t *send_at_r);
static void parse_reply_to(struct parse_ctx *c, json_t *root, struct mailsend_request *r);
static void parse_unsupported(struct parse_ctx *c, json_t *root);
static void parse_tracking(struct parse_ctx *c, json_t *root, struct mailsend_request *r);
static void fields_check_unsubscribe(struct parse_ctx *c, const struct mailsend_field *fields,
				     size_t n, const char *path);
static void parse_request(struct parse_ctx *c, json_t *root, time_t now,
			  struct mailsend_request *r);
static void fields_free(struct mailsend_field *fields, size_t n);
static void addresses_free(struct mailsend_address *list, size_t n);

/* parse_error - one more entry of the list; FIELD NULL: "field": null */
static void parse_error(struct parse_ctx *c, const char *field, const char *fmt, ...)
{
	if (c->error_count++ >= MAILSEND_ERRORS_MAX)
		return;
	char message[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	json_array_append_new(c->errors, json_pack("{s:s, s:s?, s:n}", "message", message,
						   "field", field, "help"));
}

/* email_is_valid - "local@domain": a dot-atom local part (RFC 5322 3.2.3)
 * and a host name, ASCII (an IDN as A-labels), as SMTP carries without
 * SMTPUTF8 */
static bool email_is_valid(const char *email)
{
	const char *at = strrchr(email, '@');
	size_t len = strlen(email);
	bool ok = at != NULL && len <= MAILSEND_ADDRESS_MAX;
	if (ok) {
		size_t local = (size_t)(at - email);
		ok = local <= MAILSEND_LOCAL_MAX && dot_atom_is_valid(email, local, 0) &&
		     domain_name_is_valid(at + 1, len - local - 1, 0);
	}
	return ok;
}

/* text_is_clean - no control characters (but TAB if ALLOW_TAB): what may
 * stand in a header field once encoded */
static bool text_is_clean(const char *s, bool allow_tab)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if ((*p < 0x20 && !(allow_tab && *p == '\t')) || *p == 0x7f)
			return false;
	return true;
}

/* field_name_is_valid - RFC 5322 3.6.8 ftext: printable ASCII but ':' */
static bool field_name_is_valid(const char *name)
{
	if (!*name || strlen(name) > 76)
		return false;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		if (*p <= 32 || *p >= 127 || *p == ':')
			return false;
	return true;
}

/* mime_type_is_valid - "type/subtype", both RFC 2045 5.1 tokens */
static bool mime_type_is_valid(const char *type)
{
	static const char tspecials[] = "()<>@,;:\\\"/[]?=";
	size_t slashes = 0, len = strlen(type);
	if (len == 0 || len > 127 || type[0] == '/' || type[len - 1] == '/')
		return false;
	for (const unsigned char *p = (const unsigned char *)type; *p; p++) {
		if (*p == '/')
			slashes++;
		else if (*p <= 32 || *p >= 127 || strchr(tspecials, *p))
			return false;
	}
	return slashes == 1;
}

/* header_is_reserved - SendGrid's reserved headers, and those the message
 * gets from the request's own fields or from Petrel */
static bool header_is_reserved(const char *name)
{
	static const char *const reserved[] = {
		"x-sg-id", "x-sg-eid", "received", "dkim-signature", "content-type",
		"content-transfer-encoding", "to", "from", "subject", "reply-to", "cc", "bcc",
		"mime-version", "date", "return-path", "sender",
	};
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
		if (strcasecmp(name, reserved[i]) == 0)
			return true;
	return false;
}

/* string_member - OBJ[KEY] copied if it is a string; NULL if absent (an
 * error if REQUIRED) or not a string (an error) */
static char *string_member(struct parse_ctx *c, json_t *obj, const char *key,
			   const char *path, bool required)
{
	json_t *v = json_object_get(obj, key);
	char field[MAILSEND_FIELD_MAX];
	snprintf(field, sizeof(field), "%s%s%s", path, *path ? "." : "", key);
	if (v == NULL || json_is_null(v)) {
		if (required)
			parse_error(c, field, "The %s parameter is required.", key);
		return NULL;
	}
	if (!json_is_string(v)) {
		parse_error(c, field, "The %s parameter must be a string.", key);
		return NULL;
	}
	return xstrndup(json_string_value(v), json_string_length(v));
}

/* parse_address - {"email": ..., "name": ...} at PATH; false if invalid */
static bool parse_address(struct parse_ctx *c, json_t *v, const char *path,
			  struct mailsend_address *out)
{
	char field[MAILSEND_FIELD_MAX];
	memset(out, 0, sizeof(*out));
	if (!json_is_object(v)) {
		parse_error(c, path, "The email object must be an object with an email "
			    "parameter.");
		return false;
	}
	out->email = string_member(c, v, "email", path, true);
	out->name = string_member(c, v, "name", path, false);
	snprintf(field, sizeof(field), "%s.email", path);
	if (out->email && !email_is_valid(out->email)) {
		parse_error(c, field, "Does not contain a valid address.");
		free(out->email);
		out->email = NULL;
	}
	if (out->name && (strlen(out->name) > MAILSEND_LINE_MAX / 2 ||
			  !text_is_clean(out->name, false))) {
		snprintf(field, sizeof(field), "%s.name", path);
		parse_error(c, field, "The name must be at most %d characters without line "
			    "breaks.", MAILSEND_LINE_MAX / 2);
	}
	if (out->name && !*out->name) {
		free(out->name);
		out->name = NULL;
	}
	return out->email != NULL;
}

/* parse_address_list - an array of email objects at PATH: the number read
 * (0 if absent; an empty array is an error) */
static size_t parse_address_list(struct parse_ctx *c, json_t *v, const char *path,
				 struct mailsend_address **list_r)
{
	*list_r = NULL;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_array(v) || json_array_size(v) == 0) {
		parse_error(c, path, "The %s array must have at least one email object.",
			    strrchr(path, '.') ? strrchr(path, '.') + 1 : path);
		return 0;
	}
	size_t n = json_array_size(v);
	*list_r = xcalloc(n, sizeof(**list_r));
	for (size_t i = 0; i < n; i++) {
		char field[MAILSEND_FIELD_MAX];
		snprintf(field, sizeof(field), "%s.%zu", path, i);
		parse_address(c, json_array_get(v, i), field, &(*list_r)[i]);
	}
	return n;
}

/* parse_fields - an object of string values at PATH (headers when HEADERS:
 * names and values checked for a header section) */
static size_t parse_fields(struct parse_ctx *c, json_t *v, const char *path, bool headers,
			   struct mailsend_field **fields_r)
{
	*fields_r = NULL;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_object(v)) {
		parse_error(c, path, "The %s parameter must be an object of strings.", path);
		return 0;
	}
	*fields_r = xcalloc(json_object_size(v) + 1, sizeof(**fields_r));
	size_t n = 0;
	const char *key;
	json_t *value;
	json_object_foreach(v, key, value) {
		char field[MAILSEND_FIELD_MAX];
		snprintf(field, sizeof(field), "%s.%.40s", path, key);
		if (!json_is_string(value)) {
			parse_error(c, field, "The value of %.40s must be a string.", key);
			continue;
		}
		if (headers && !field_name_is_valid(key)) {
			parse_error(c, field, "Invalid header name.");
			continue;
		}
		if (headers && header_is_reserved(key)) {
			parse_error(c, field, "The following header is reserved and cannot be "
				    "set: %.40s", key);
			continue;
		}
		const char *s = json_string_value(value);
		if (headers && (strlen(key) + 2 + strlen(s) > MAILSEND_LINE_MAX ||
				!text_is_clean(s, true))) {
			parse_error(c, field, "A header value must fit a line of %d characters "
				    "and hold no line break.", MAILSEND_LINE_MAX);
			continue;
		}
		(*fields_r)[n].name = xstrdup(key);
		(*fields_r)[n].value = xstrndup(s, json_string_length(value));
		n++;
	}
	return n;
}

/* fields_check_size - the N FIELDS' names and values together within MAX
 * octets */
static void fields_check_size(struct parse_ctx *c, const struct mailsend_field *fields,
			      size_t n, size_t max, const char *path)
{
	size_t size = 0;
	for (size_t i = 0; i < n; i++)
		size += strlen(fields[i].name) + strlen(fields[i].value);
	if (size > max)
		parse_error(c, path, "The %s cannot exceed %zu bytes.", strrchr(path, '.') ?
			    strrchr(path, '.') + 1 : path, max);
}

/* recipients_are_unique - SendGrid's rule: an address appears once among a
 * personalization's to, cc and bcc (case aside) */
static bool recipients_are_unique(struct parse_ctx *c, const struct mailsend_personalization *p,
				  size_t index)
{
	const struct mailsend_address *lists[3] = { p->to, p->cc, p->bcc };
	const size_t counts[3] = { p->to_count, p->cc_count, p->bcc_count };
	static const char *const names[3] = { "to", "cc", "bcc" };
	for (size_t l = 0; l < 3; l++) {
		for (size_t i = 0; i < counts[l]; i++) {
			const char *e = lists[l][i].email;
			for (size_t m = 0; e && m <= l; m++) {
				size_t end = m == l ? i : counts[m];
				for (size_t j = 0; j < end; j++) {
					if (!lists[m][j].email || strcasecmp(e, lists[m][j].email) != 0)
						continue;
					char field[MAILSEND_FIELD_MAX];
					snprintf(field, sizeof(field), "personalizations.%zu.%s", index,
						 names[l]);
					parse_error(c, field, "Each email address in the personalization "
						    "block should be unique between to, cc, and bcc. We "
						    "found the first duplicate instance of [%s] in the %s "
						    "field.", e, field);
					return false;
				}
			}
		}
	}
	return true;
}

static void parse_personalization(struct parse_ctx *c, json_t *v, size_t index, time_t now,
				  struct mailsend_personalization *p)
{
	char path[MAILSEND_PATH_MAX], field[MAILSEND_FIELD_MAX];
	snprintf(path, sizeof(path), "personalizations.%zu", index);
	if (!json_is_object(v)) {
		parse_error(c, path, "A personalization must be an object.");
		return;
	}
	snprintf(field, sizeof(field), "%s.to", path);
	p->to_count = parse_address_list(c, json_object_get(v, "to"), field, &p->to);
	if (p->to_count == 0 && !json_object_get(v, "to"))
		parse_error(c, field, "The to array is required for all personalization "
			    "objects, and must have at least one email object with a valid email "
			    "address.");
	snprintf(field, sizeof(field), "%s.cc", path);
	p->cc_count = parse_address_list(c, json_object_get(v, "cc"), field, &p->cc);
	snprintf(field, sizeof(field), "%s.bcc", path);
	p->bcc_count = parse_address_list(c, json_object_get(v, "bcc"), field, &p->bcc);
	recipients_are_unique(c, p, index);
	json_t *from = json_object_get(v, "from");
	snprintf(field, sizeof(field), "%s.from", path);
	if (from && !json_is_null(from))
		parse_address(c, from, field, &p->from);
	p->subject = string_member(c, v, "subject", path, false);
	if (p->subject && !text_is_clean(p->subject, true)) {
		snprintf(field, sizeof(field), "%s.subject", path);
		parse_error(c, field, "The subject cannot hold line breaks.");
	}
	if (p->subject && !*p->subject) {
		free(p->subject);
		p->subject = NULL;
	}
	snprintf(field, sizeof(field), "%s.headers", path);
	p->header_count = parse_fields(c, json_object_get(v, "headers"), field, true,
				       &p->headers);
	snprintf(field, sizeof(field), "%s.substitutions", path);
	p->substitution_count = parse_fields(c, json_object_get(v, "substitutions"), field,
					     false, &p->substitutions);
	for (size_t i = 0; i < p->substitution_count; i++)
		if (!*p->substitutions[i].name)
			parse_error(c, field, "A substitution key cannot be empty.");
	snprintf(field, sizeof(field), "%s.custom_args", path);
	p->custom_arg_count = parse_fields(c, json_object_get(v, "custom_args"), field, false,
					   &p->custom_args);
	snprintf(field, sizeof(field), "%s.send_at", path);
	parse_send_at(c, json_object_get(v, "send_at"), field, now, &p->send_at);
	if (json_object_get(v, "dynamic_template_data")) {
		snprintf(field, sizeof(field), "%s.dynamic_template_data", path);
		parse_error(c, field, "Dynamic templates are not supported by this server.");
	}
}

static void parse_personalizations(struct parse_ctx *c, json_t *root, time_t now,
				   struct mailsend_request *r)
{
	json_t *v = json_object_get(root, "personalizations");
	size_t n = json_is_array(v) ? json_array_size(v) : 0;
	if (n == 0) {
		parse_error(c, "personalizations", "The personalizations field is required and "
			    "must have at least one personalization.");
		return;
	}
	if (n > c->limits->personalizations) {
		parse_error(c, "personalizations", "The personalizations field can have at most "
			    "%zu personalizations.", c->limits->personalizations);
		return;
	}
	r->personalizations = xcalloc(n, sizeof(*r->personalizations));
	r->personalization_count = n;
	for (size_t i = 0; i < n; i++) {
		struct mailsend_personalization *p = &r->personalizations[i];
		parse_personalization(c, json_array_get(v, i), i, now, p);
		r->recipient_count += p->to_count + p->cc_count + p->bcc_count;
		char field[MAILSEND_FIELD_MAX];
		snprintf(field, sizeof(field), "personalizations.%zu.custom_args", i);
		fields_check_size(c, p->custom_args, p->custom_arg_count,
				  c->limits->custom_args_size, field);
		snprintf(field, sizeof(field), "personalizations.%zu.substitutions", i);
		fields_check_size(c, p->substitutions, p->substitution_count,
				  c->limits->substitutions_size, field);
	}
	if (r->recipient_count > c->limits->recipients)
		parse_error(c, "personalizations", "The total number of recipients must be no "
			    "more than %zu.", c->limits->recipients);
}

/* parse_contents - SendGrid's rules: at least one block, each a type and a
 * non-empty value; text/plain first, then text/html, each at most once */
static void parse_contents(struct parse_ctx *c, json_t *v, struct mailsend_request *r)
{
	size_t n = json_is_array(v) ? json_array_size(v) : 0;
	if (n == 0) {
		parse_error(c, "content", "Unless a valid template_id is provided, the content "
			    "parameter is required. There must be at least one defined content "
			    "block. We typically suggest both text/plain and text/html blocks are "
			    "included, but only one block is required.");
		return;
	}
	r->contents = xcalloc(n, sizeof(*r->contents));
	r->content_count = n;
	int last_rank = -1;
	for (size_t i = 0; i < n; i++) {
		char path[MAILSEND_PATH_MAX], field[MAILSEND_FIELD_MAX];
		snprintf(path, sizeof(path), "content.%zu", i);
		json_t *block = json_array_get(v, i);
		if (!json_is_object(block)) {
			parse_error(c, path, "A content block must be an object.");
			continue;
		}
		struct mailsend_content *ct = &r->contents[i];
		ct->type = string_member(c, block, "type", path, true);
		ct->value = string_member(c, block, "value", path, true);
		snprintf(field, sizeof(field), "%s.type", path);
		if (ct->type && !mime_type_is_valid(ct->type)) {
			parse_error(c, field, "The content type must be a MIME type such as "
				    "text/plain.");
			continue;
		}
		snprintf(field, sizeof(field), "%s.value", path);
		if (ct->value && !*ct->value)
			parse_error(c, field, "The content value must be a string at least one "
				    "character in length.");
		if (!ct->type)
			continue;
		int rank = strcasecmp(ct->type, "text/plain") == 0 ? 0 :
			strcasecmp(ct->type, "text/html") == 0 ? 1 : 2;
		if (rank < 2 && rank == last_rank)
			parse_error(c, "content", "If present, text/plain and text/html may only "
				    "be provided once.");
		else if (rank < last_rank)
			parse_error(c, "content", "If present, text/plain content must be first, "
				    "followed by text/html, followed by any other content.");
		if (rank > last_rank)
			last_rank = rank;
	}
}

static void parse_attachment(struct parse_ctx *c, json_t *v, size_t index,
			     struct mailsend_attachment *a)
{
	char path[MAILSEND_PATH_MAX], field[MAILSEND_FIELD_MAX];
	snprintf(path, sizeof(path), "attachments.%zu", index);
	buf_init(&a->content);
	if (!json_is_object(v)) {
		parse_error(c, path, "An attachment must be an object.");
		return;
	}
	json_t *content = json_object_get(v, "content");
	snprintf(field, sizeof(field), "%s.content", path);
	if (!json_is_string(content) || json_string_length(content) == 0)
		parse_error(c, field, "The attachment content is required and must be a "
			    "base64 encoded string.");
	else if (base64_decode(json_string_value(content), json_string_length(content),
			       &a->content) != 0)
		parse_error(c, field, "The attachment content must be base64 encoded.");
	a->filename = string_member(c, v, "filename", path, true);
	snprintf(field, sizeof(field), "%s.filename", path);
	if (a->filename && (!*a->filename || strlen(a->filename) > 255 ||
			    !text_is_clean(a->filename, false)))
		parse_error(c, field, "The attachment filename must be 1 to 255 characters "
			    "without control characters.");
	a->type = string_member(c, v, "type", path, false);
	snprintf(field, sizeof(field), "%s.type", path);
	if (a->type && !mime_type_is_valid(a->type))
		parse_error(c, field, "The attachment type must be a MIME type.");
	char *disposition = string_member(c, v, "disposition", path, false);
	snprintf(field, sizeof(field), "%s.disposition", path);
	if (disposition && strcmp(disposition, "inline") == 0)
		a->is_inline = true;
	else if (disposition && strcmp(disposition, "attachment") != 0)
		parse_error(c, field, "The disposition of an attachment must be inline or "
			    "attachment.");
	free(disposition);
	a->content_id = string_member(c, v, "content_id", path, false);
	snprintf(field, sizeof(field), "%s.content_id", path);
	bool cid_ok = a->content_id && *a->content_id && strlen(a->content_id) <= 255 &&
		strpbrk(a->content_id, "<> \t\"") == NULL && text_is_clean(a->content_id, false);
	for (const char *p = a->content_id; cid_ok && *p; p++)
		cid_ok = (unsigned char)*p < 0x80;
	if (a->content_id && !cid_ok)
		parse_error(c, field, "The content_id must be printable ASCII without spaces, "
			    "quotes or angle brackets.");
	else if (a->is_inline && !a->content_id)
		parse_error(c, field, "The content_id is required when the disposition is "
			    "inline.");
}

static void parse_attachments(struct parse_ctx *c, json_t *v, struct mailsend_request *r)
{
	if (v == NULL || json_is_null(v))
		return;
	if (!json_is_array(v)) {
		parse_error(c, "attachments", "The attachments parameter must be an array.");
		return;
	}
	r->attachment_count = json_array_size(v);
	r->attachments = xcalloc(r->attachment_count + 1, sizeof(*r->attachments));
	for (size_t i = 0; i < r->attachment_count; i++)
		parse_attachment(c, json_array_get(v, i), i, &r->attachments[i]);
}

static void parse_categories(struct parse_ctx *c, json_t *v, struct mailsend_request *r)
{
	if (v == NULL || json_is_null(v))
		return;
	if (!json_is_array(v)) {
		parse_error(c, "categories", "The categories parameter must be an array of "
			    "strings.");
		return;
	}
	if (json_array_size(v) > c->limits->categories) {
		parse_error(c, "categories", "You can have at most %zu categories per request.",
			    c->limits->categories);
		return;
	}
	r->categories = xcalloc(json_array_size(v) + 1, sizeof(*r->categories));
	for (size_t i = 0; i < json_array_size(v); i++) {
		json_t *cat = json_array_get(v, i);
		char field[MAILSEND_FIELD_MAX];
		snprintf(field, sizeof(field), "categories.%zu", i);
		if (!json_is_string(cat) || json_string_length(cat) == 0 ||
		    json_string_length(cat) > MAILSEND_CATEGORY_MAX) {
			parse_error(c, field, "A category must be a string of 1 to %d characters.",
				    MAILSEND_CATEGORY_MAX);
			continue;
		}
		r->categories[r->category_count++] = xstrdup(json_string_value(cat));
	}
}

/* parse_send_at - a UNIX time: one to come, within send_at_max (SendGrid:
 * "Emails can be scheduled up to 72 hours in advance"), holds the message
 * in the queue until then; one that has come means now */
static void parse_send_at(struct parse_ctx *c, json_t *v, const char *path, time_t now,
			  time_t *send_at_r)
{
	if (v == NULL || json_is_null(v))
		return;
	if (!json_is_integer(v) || json_integer_value(v) < 0) {
		parse_error(c, path, "The send_at parameter must be a UNIX timestamp.");
		return;
	}
	json_int_t t = json_integer_value(v);
	if (t > (json_int_t)now + (json_int_t)c->limits->send_at_max) {
		unsigned max = c->limits->send_at_max;
		bool hours = max > 0 && max % 3600 == 0;
		parse_error(c, path, "The send_at parameter cannot be more than %u %s in the "
			    "future.", hours ? max / 3600 : max, hours ? "hours" : "seconds");
		return;
	}
	*send_at_r = (time_t)t;
}

/* parse_reply_to - reply_to (an object) or reply_to_list (an array), not
 * both */
static void parse_reply_to(struct parse_ctx *c, json_t *root, struct mailsend_request *r)
{
	json_t *one = json_object_get(root, "reply_to");
	json_t *list = json_object_get(root, "reply_to_list");
	if (one && !json_is_null(one) && list && !json_is_null(list)) {
		parse_error(c, "reply_to", "The reply_to and reply_to_list parameters cannot be "
			    "used together.");
		return;
	}
	if (one && !json_is_null(one)) {
		r->reply_to = xcalloc(1, sizeof(*r->reply_to));
		r->reply_to_count = 1;
		parse_address(c, one, "reply_to", r->reply_to);
		return;
	}
	r->reply_to_count = parse_address_list(c, list, "reply_to_list", &r->reply_to);
}

/* parse_unsupported - what SendGrid does and this server does not: said,
 * rather than ignored, so that no one believes it was done */
static void parse_unsupported(struct parse_ctx *c, json_t *root)
{
	static const char *const keys[] = { "template_id", "asm", "batch_id" };
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (json_object_get(root, keys[i]) && !json_is_null(json_object_get(root, keys[i])))
			parse_error(c, keys[i], "The %s parameter is not supported by this server.",
				    keys[i]);
}

/* parse_tracking - tracking_settings.subscription_tracking.enable (a
 * boolean): Petrel writes the RFC 8058 fields itself then, so the
 * request's own List-Unsubscribe fields are refused (two would conflict) */
static void parse_tracking(struct parse_ctx *c, json_t *root, struct mailsend_request *r)
{
	json_t *v = json_object_get(json_object_get(json_object_get(root, "tracking_settings"),
						    "subscription_tracking"), "enable");
	if (v && !json_is_boolean(v)) {
		parse_error(c, "tracking_settings.subscription_tracking.enable",
			    "The enable parameter must be a boolean.");
		return;
	}
	r->subscription_tracking = json_is_true(v);
	if (!r->subscription_tracking)
		return;
	fields_check_unsubscribe(c, r->headers, r->header_count, "headers");
	for (size_t i = 0; i < r->personalization_count; i++) {
		char path[MAILSEND_PATH_MAX];
		snprintf(path, sizeof(path), "personalizations.%zu.headers", i);
		fields_check_unsubscribe(c, r->personalizations[i].headers,
					 r->personalizations[i].header_count, path);
	}
}

/* fields_check_unsubscribe - no List-Unsubscribe or List-Unsubscribe-Post
 * among FIELDS */
static void fields_check_unsubscribe(struct parse_ctx *c, const struct mailsend_field *fields,
				     size_t n, const char *path)
{
	for (size_t i = 0; i < n; i++) {
		if (strncasecmp(fields[i].name, "List-Unsubscribe", 16) != 0 ||
		    (fields[i].name[16] != '\0' && strcasecmp(fields[i].name + 16, "-Post") != 0))
			continue;
		char field[MAILSEND_FIELD_MAX];
		snprintf(field, sizeof(field), "%s.%s", path, fields[i].name);
		parse_error(c, field, "The %s header cannot be given with subscription tracking "
			    "enabled: this server writes it.", fields[i].name);
	}
}

static void parse_request(struct parse_ctx *c, json_t *root, time_t now,
			  struct mailsend_request *r)
{
	parse_personalizations(c, root, now, r);
	json_t *from = json_object_get(root, "from");
	if (!from || json_is_null(from))
		parse_error(c, "from.email", "The from object must be provided for every email "
			    "send. It is an object that requires the email parameter, but may also "
			    "contain a name parameter.");
	else
		parse_address(c, from, "from", &r->from);
	parse_reply_to(c, root, r);
	r->subject = string_member(c, root, "subject", "", false);
	if (r->subject && !text_is_clean(r->subject, true))
		parse_error(c, "subject", "The subject cannot hold line breaks.");
	if (r->subject && !*r->subject) {
		free(r->subject);
		r->subject = NULL;
	}
	bool every_subject = r->personalization_count > 0;
	for (size_t i = 0; i < r->personalization_count; i++)
		every_subject = every_subject && r->personalizations[i].subject;
	if (!r->subject && !every_subject)
		parse_error(c, "subject", "The subject is required. You can get around this "
			    "requirement if you use a template with a subject defined or if every "
			    "personalization has a subject defined.");
	parse_contents(c, json_object_get(root, "content"), r);
	parse_attachments(c, json_object_get(root, "attachments"), r);
	r->header_count = parse_fields(c, json_object_get(root, "headers"), "headers", true,
				       &r->headers);
	parse_categories(c, json_object_get(root, "categories"), r);
	r->custom_arg_count = parse_fields(c, json_object_get(root, "custom_args"),
					   "custom_args", false, &r->custom_args);
	fields_check_size(c, r->custom_args, r->custom_arg_count, c->limits->custom_args_size,
			  "custom_args");
	parse_send_at(c, json_object_get(root, "send_at"), "send_at", now, &r->send_at);
	json_t *sandbox = json_object_get(json_object_get(json_object_get(root, "mail_settings"),
							  "sandbox_mode"), "enable");
	r->sandbox = json_is_true(sandbox);
	parse_tracking(c, root, r);
	parse_unsupported(c, root);
}

int mailsend_parse(const char *json, size_t len, const struct mailsend_limits *limits,
		   time_t now, struct mailsend_request **request_r, json_t **errors_r)
{
	struct parse_ctx c = { .limits = limits, .errors = json_array() };
	struct mailsend_request *r = xcalloc(1, sizeof(*r));
	json_error_t jerr;
	json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(root))
		parse_error(&c, NULL, "Bad Request");
	else
		parse_request(&c, root, now, r);
	json_decref(root);
	*request_r = NULL;
	*errors_r = NULL;
	int rc = 0;
	if (c.error_count > 0) {
		*errors_r = json_pack("{s:o}", "errors", c.errors);
		mailsend_request_free(&r);
		rc = -1;
	} else {
		json_decref(c.errors);
		*request_r = r;
	}
	return rc;
}

static void fields_free(struct mailsend_field *fields, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(fields[i].name);
		free(fields[i].value);
	}
	free(fields);
}

static void addresses_free(struct mailsend_address *list, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(list[i].email);
		free(list[i].name);
	}
	free(list);
}

void mailsend_request_free(struct mailsend_request **requestp)
{
	struct mailsend_request *r = *requestp;
	if (!r)
		return;
	for (size_t i = 0; i < r->personalization_count; i++) {
		struct mailsend_personalization *p = &r->personalizations[i];
		addresses_free(p->to, p->to_count);
		addresses_free(p->cc, p->cc_count);
		addresses_free(p->bcc, p->bcc_count);
		free(p->from.email);
		free(p->from.name);
		free(p->subject);
		fields_free(p->headers, p->header_count);
		fields_free(p->substitutions, p->substitution_count);
		fields_free(p->custom_args, p->custom_arg_count);
	}
	free(r->personalizations);
	free(r->from.email);
	free(r->from.name);
	addresses_free(r->reply_to, r->reply_to_count);
	free(r->subject);
	for (size_t i = 0; i < r->content_count; i++) {
		free(r->contents[i].type);
		free(r->contents[i].value);
	}
	free(r->contents);
	for (size_t i = 0; i < r->attachment_count; i++) {
		free(r->attachments[i].filename);
		free(r->attachments[i].type);
		free(r->attachments[i].content_id);
		buf_free(&r->attachments[i].content);
	}
	free(r->attachments);
	fields_free(r->headers, r->header_count);
	for (size_t i = 0; i < r->category_count; i++)
		free(r->categories[i]);
	free(r->categories);
	fields_free(r->custom_args, r->custom_arg_count);
	free(r);
	*requestp = NULL;
}

const char *mailsend_sender(const struct mailsend_request *request, size_t index)
{
	const struct mailsend_personalization *p = &request->personalizations[index];
	return p->from.email ? p->from.email : request->from.email;
}

time_t mailsend_send_at(const struct mailsend_request *request, size_t index)
{
	const struct mailsend_personalization *p = &request->personalizations[index];
	return p->send_at ? p->send_at : request->send_at;
}
