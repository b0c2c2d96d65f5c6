/* http/form - HTML form bodies and the Cookie header (form.h); no I/O. */
#include "http/form.h"

#include <stdlib.h>
#include <string.h>

#include "util/utf8.h"
#include "util/xalloc.h"
#include "wire/wire.h"

static char *form_decode(const char *s, size_t len, const char **error_r);
static int form_add(struct http_form *form, const char *pair, size_t len,
		    const struct http_form_limits *limits, const char **error_r);
static bool is_cookie_octet(unsigned char c);

/* form_decode - S[0..LEN) with '+' as a space and "%XX" as an octet,
 * malloc'd; NULL (with *error_r) on a bad '%', a control character or
 * text that is not UTF-8 */
static char *form_decode(const char *s, size_t len, const char **error_r)
{
	char *out = xmalloc(len + 1);
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '+') {
			c = ' ';
		} else if (c == '%') {
			int hi = i + 2 < len ? wire_hex_value(s[i + 1]) : -1;
			int lo = i + 2 < len ? wire_hex_value(s[i + 2]) : -1;
			if (hi < 0 || lo < 0) {
				*error_r = "a '%' without two hex digits";
				goto fail;
			}
			c = (unsigned char)(hi * 16 + lo);
			i += 2;
		}
		if (c < 0x20 || c == 0x7f) {
			*error_r = "a control character";
			goto fail;
		}
		out[n++] = (char)c;
	}
	out[n] = '\0';
	if (!utf8_is_valid(out, n)) {
		*error_r = "not UTF-8";
		goto fail;
	}
	return out;
fail:
	explicit_bzero(out, n);
	free(out);
	return NULL;
}

/* form_add - one "name=value" pair (LEN octets, not empty) onto FORM */
static int form_add(struct http_form *form, const char *pair, size_t len,
		    const struct http_form_limits *limits, const char **error_r)
{
	const char *eq = memchr(pair, '=', len);
	size_t name_len = eq ? (size_t)(eq - pair) : len;
	size_t value_len = eq ? len - name_len - 1 : 0;
	if (form->count == limits->fields) {
		*error_r = "too many fields";
		return -1;
	}
	if (name_len == 0 || name_len > limits->field_size || value_len > limits->field_size) {
		*error_r = name_len == 0 ? "a field without a name" : "a field too long";
		return -1;
	}
	char *name = form_decode(pair, name_len, error_r);
	if (!name)
		return -1;
	if (http_form_get(form, name)) {
		*error_r = "a field named twice";
		free(name);
		return -1;
	}
	char *value = form_decode(eq ? eq + 1 : "", value_len, error_r);
	if (!value) {
		free(name);
		return -1;
	}
	form->fields = xrealloc(form->fields, (form->count + 1) * sizeof(*form->fields));
	form->fields[form->count].name = name;
	form->fields[form->count].value = value;
	form->count++;
	return 0;
}

int http_form_parse(const char *data, size_t len, const struct http_form_limits *limits,
		    struct http_form *form_r, const char **error_r)
{
	struct http_form form = { 0 };
	size_t start = 0;
	while (start <= len) {
		const char *amp = memchr(data + start, '&', len - start);
		size_t end = amp ? (size_t)(amp - data) : len;
		if (end > start && form_add(&form, data + start, end - start, limits,
					    error_r) < 0) {
			http_form_clear(&form);
			return -1;
		}
		start = end + 1;
	}
	*form_r = form;
	return 0;
}

const char *http_form_get(const struct http_form *form, const char *name)
{
	for (size_t i = 0; i < form->count; i++)
		if (strcmp(form->fields[i].name, name) == 0)
			return form->fields[i].value;
	return NULL;
}

void http_form_clear(struct http_form *form)
{
	for (size_t i = 0; i < form->count; i++) {
		explicit_bzero(form->fields[i].value, strlen(form->fields[i].value));
		free(form->fields[i].value);
		free(form->fields[i].name);
	}
	free(form->fields);
	form->fields = NULL;
	form->count = 0;
}

/* is_cookie_octet - RFC 6265 4.1.1: %x21 / %x23-2B / %x2D-3A / %x3C-5B /
 * %x5D-7E (no space, '"', ',', ';', '\\', controls or non-ASCII) */
static bool is_cookie_octet(unsigned char c)
{
	return c >= 0x21 && c <= 0x7e && c != '"' && c != ',' && c != ';' && c != '\\';
}

int http_cookie_get(const char *data, size_t len, const char *name, char **value_r,
		    const char **error_r)
{
	size_t name_len = strlen(name);
	const char *found = NULL;
	size_t found_len = 0;
	size_t cur = 0;
	while (cur < len) {
		while (cur < len && (data[cur] == ' ' || data[cur] == '\t' || data[cur] == ';'))
			cur++;
		const char *semi = memchr(data + cur, ';', len - cur);
		size_t end = semi ? (size_t)(semi - data) : len;
		size_t trim = end;
		while (trim > cur && (data[trim - 1] == ' ' || data[trim - 1] == '\t'))
			trim--;
		if (trim - cur > name_len && data[cur + name_len] == '=' &&
		    memcmp(data + cur, name, name_len) == 0) {
			if (found) {
				*error_r = "a cookie named twice";
				return -1;
			}
			found = data + cur + name_len + 1;
			found_len = trim - cur - name_len - 1;
		}
		cur = end;
	}
	if (!found)
		return 0;
	if (found_len >= 2 && found[0] == '"' && found[found_len - 1] == '"') {
		found++;
		found_len -= 2;
	}
	for (size_t i = 0; i < found_len; i++)
		if (!is_cookie_octet((unsigned char)found[i])) {
			*error_r = "a cookie's value with an octet outside cookie-octet";
			return -1;
		}
	*value_r = xmalloc(found_len + 1);
	memcpy(*value_r, found, found_len);
	(*value_r)[found_len] = '\0';
	return 1;
}
