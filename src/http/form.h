/* http/form - what the web pages read from a request (docs/web.md): an
 * application/x-www-form-urlencoded body (the HTML forms' POST; WHATWG URL
 * "application/x-www-form-urlencoded parsing") and one cookie of the Cookie
 * header (RFC 6265 4.2.1, 5.4).  No I/O: the pages, the unit tests
 * (tests/unit/http/test-form.c) and the fuzz target (fuzz/fuzz-form.c)
 * call them on octets they do not own and never keep.
 *
 * Both are strict where leniency would let two readers disagree: a field
 * or a cookie named twice is refused (a forged duplicate must not win over
 * the real one, whichever a reader picks), so is a '%' not followed by two
 * hex digits, a decoded NUL or control character, or text that is not
 * UTF-8.  A refusal is -1 with *ERROR_R a static reason; the page answers
 * 400 (a form) or takes the request as carrying no cookie.
 */
#ifndef PETREL_HTTP_FORM_H
#define PETREL_HTTP_FORM_H

#include <stdbool.h>
#include <stddef.h>

/* struct http_form_limits - the bounds of a form ([web] in petrel.conf) */
struct http_form_limits {
	unsigned fields;          /* name=value pairs: 16 */
	size_t field_size;        /* octets of a name or a value, as sent: 1024 */
};

struct http_form_field {
	char *name;               /* decoded, NUL-terminated */
	char *value;              /* decoded, NUL-terminated (may be empty) */
};

/* struct http_form - owns its fields; http_form_clear frees them */
struct http_form {
	struct http_form_field *fields;
	size_t count;
};

/* http_form_parse - DATA[0..LEN) ("a=1&b=x+y%21") into *FORM_R: '&'
 * separates pairs, empty pairs are passed over, '+' is a space, "%XX" an
 * octet; a pair without '=' has the empty value.  Returns 0, or -1 (FORM_R
 * then holds nothing): more than LIMITS->fields pairs, a name or value over
 * LIMITS->field_size octets, an empty name, a name given twice, a bad '%',
 * a decoded control character (tab, CR and LF included: the forms have no
 * textarea), or a name or value that is not UTF-8. */
int http_form_parse(const char *data, size_t len, const struct http_form_limits *limits,
		    struct http_form *form_r, const char **error_r);
/* http_form_get - the value of NAME, or NULL; lives as long as FORM */
const char *http_form_get(const struct http_form *form, const char *name);
/* http_form_clear - wipe the values (passwords) and free them; FORM is
 * then empty */
void http_form_clear(struct http_form *form);

/* http_cookie_get - the value of the cookie NAME in the Cookie header's
 * value DATA[0..LEN) ("a=1; b=2"): pairs separated by ';' and optional
 * white space, the value as sent (cookie-octets, optionally in double
 * quotes, which are removed: RFC 6265 4.1.1).  Returns 1 and a malloc'd
 * copy in *VALUE_R, 0 if there is none, -1 if the header names it twice or
 * its value holds an octet outside cookie-octet (RFC 6265 4.1.1). */
int http_cookie_get(const char *data, size_t len, const char *name, char **value_r,
		    const char **error_r);

#endif
