/* mailauth/authres-parse - read an Authentication-Results field body
 * (RFC 8601 2.2) back into its parts: the authserv-id, then each resinfo's
 * method, result, reason and properties.  The verifier (smtp/verifier.c)
 * reads what our own receiving checks wrote; since any header field of a
 * message is network input, the parser is bounded and strict about what it
 * keeps, lenient about what it skips:
 *
 * - CFWS (white space, folding, nested comments with quoted pairs) may stand
 *   between any two tokens, as the grammar allows; comments are dropped;
 * - a method's version ("dkim/1") is accepted and left out;
 * - a property value is a quoted string or a run of characters up to white
 *   space, ";" or "(" (RFC 8601's pvalue also allows local-part@domain);
 * - at most MAILAUTH_AR_RESULTS_MAX results and MAILAUTH_AR_PROPS_MAX
 *   properties per result are kept; further ones are parsed and dropped;
 * - method, result, ptype and property names are lower-cased (RFC 8601 2.2:
 *   they are case-insensitive); values are kept as written, quotes removed.
 *
 * Any syntax error makes the whole field invalid: -1 and *error_r.
 */
#include "mailauth/mailauth.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/xalloc.h"

#define AR_VALUE_MAX 1024  /* octets of one value kept; longer ones are an error */

struct ar_cursor {
	const char *cur;
	const char *end;
};

static bool ar_skip_cfws(struct ar_cursor *c);
static bool ar_keyword(struct ar_cursor *c, char **word_r);
static bool ar_value(struct ar_cursor *c, bool pvalue, char **value_r);
static bool ar_resinfo(struct ar_cursor *c, struct mailauth_ar *ar, const char **error_r);
static bool ar_is_tspecial(unsigned char ch);

/* ar_skip_cfws - RFC 5322 3.2.2 CFWS: white space, line folding and
 * (nested) comments; false on an unterminated comment */
static bool ar_skip_cfws(struct ar_cursor *c)
{
	while (c->cur < c->end) {
		unsigned char ch = (unsigned char)*c->cur;
		if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n') {
			c->cur++;
			continue;
		}
		if (ch != '(')
			break;
		unsigned depth = 0;
		do {
			ch = (unsigned char)*c->cur;
			if (ch == '\\' && c->cur + 1 < c->end)
				c->cur++;
			else if (ch == '(')
				depth++;
			else if (ch == ')')
				depth--;
			c->cur++;
		} while (depth > 0 && c->cur < c->end);
		if (depth > 0)
			return false;
	}
	return true;
}

/* ar_keyword - RFC 8601 2.2 Keyword (an ldh-str: letters, digits, "-"),
 * lower-cased; "_" and "." accepted inside as some writers use them */
static bool ar_keyword(struct ar_cursor *c, char **word_r)
{
	const char *start = c->cur;
	while (c->cur < c->end && (isalnum((unsigned char)*c->cur) || *c->cur == '-' ||
				   *c->cur == '_' || *c->cur == '.'))
		c->cur++;
	size_t len = (size_t)(c->cur - start);
	if (len == 0 || len > 64 || !isalnum((unsigned char)start[0]))
		return false;
	*word_r = xstrndup(start, len);
	for (char *p = *word_r; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return true;
}

/* ar_is_tspecial - RFC 2045 5.1 tspecials */
static bool ar_is_tspecial(unsigned char ch)
{
	return strchr("()<>@,;:\\\"/[]?=", ch) != NULL;
}

/* ar_value - RFC 2045 token or RFC 5322 quoted-string (quotes and quoted
 * pairs removed); with PVALUE, RFC 8601's [local-part "@"] domain too: any
 * run of visible characters but ";", "(" and '"' */
static bool ar_value(struct ar_cursor *c, bool pvalue, char **value_r)
{
	if (c->cur < c->end && *c->cur == '"') {
		struct buf out;
		buf_init(&out);
		c->cur++;
		bool closed = false;
		while (c->cur < c->end && !closed) {
			char ch = *c->cur++;
			if (ch == '"') {
				closed = true;
			} else if (ch == '\\' && c->cur < c->end) {
				buf_append(&out, c->cur++, 1);
			} else if (ch == '\r' || ch == '\n') {
				continue;  /* folding inside the string */
			} else if (ch == '\0') {
				break;
			} else {
				buf_append(&out, &ch, 1);
			}
		}
		if (closed && pvalue && c->cur < c->end && *c->cur == '@') {
			/* a quoted local-part "@" domain: keep it as written */
			struct buf whole;
			buf_init(&whole);
			buf_append(&whole, "\"", 1);
			for (size_t i = 0; i < out.len; i++) {
				if (out.data[i] == '"' || out.data[i] == '\\')
					buf_append(&whole, "\\", 1);
				buf_append(&whole, &out.data[i], 1);
			}
			buf_append(&whole, "\"", 1);
			while (c->cur < c->end && (unsigned char)*c->cur > 0x20 &&
			       *c->cur != 0x7f && *c->cur != ';' && *c->cur != '(' && *c->cur != '"')
				buf_append(&whole, c->cur++, 1);
			buf_free(&out);
			out = whole;
		}
		bool ok = closed && out.len <= AR_VALUE_MAX;
		buf_append(&out, "", 1);
		if (!ok) {
			buf_free(&out);
			return false;
		}
		*value_r = out.data;
		return true;
	}
	const char *start = c->cur;
	while (c->cur < c->end) {
		unsigned char ch = (unsigned char)*c->cur;
		if (ch <= 0x20 || ch == 0x7f || ch == ';' || ch == '(' || ch == '"')
			break;
		if (!pvalue && ar_is_tspecial(ch))
			break;
		c->cur++;
	}
	size_t len = (size_t)(c->cur - start);
	if (len == 0 || len > AR_VALUE_MAX)
		return false;
	*value_r = xstrndup(start, len);
	return true;
}

/* ar_resinfo - one "; method=result [reason=...] [ptype.property=value ...]"
 * with the cursor after the ";" */
static bool ar_resinfo(struct ar_cursor *c, struct mailauth_ar *ar, const char **error_r)
{
	struct mailauth_ar_result r = { 0 };
	bool ok = false;
	char *word = NULL;

	if (!ar_skip_cfws(c) || !ar_keyword(c, &r.method)) {
		*error_r = "a result without a method";
		goto out;
	}
	if (!ar_skip_cfws(c))
		goto unterminated;
	if (c->cur < c->end && *c->cur == '/') {
		/* method-version: accepted, dropped */
		c->cur++;
		if (!ar_skip_cfws(c))
			goto unterminated;
		while (c->cur < c->end && isdigit((unsigned char)*c->cur))
			c->cur++;
		if (!ar_skip_cfws(c))
			goto unterminated;
	}
	if (c->cur >= c->end || *c->cur != '=') {
		*error_r = "a method without \"=result\"";
		goto out;
	}
	c->cur++;
	if (!ar_skip_cfws(c) || !ar_keyword(c, &r.result)) {
		*error_r = "a method without a result";
		goto out;
	}
	for (;;) {
		if (!ar_skip_cfws(c))
			goto unterminated;
		if (c->cur >= c->end || *c->cur == ';')
			break;
		if (!ar_keyword(c, &word)) {
			*error_r = "junk after a result";
			goto out;
		}
		if (!ar_skip_cfws(c))
			goto unterminated;
		if (strcmp(word, "reason") == 0 && c->cur < c->end && *c->cur == '=') {
			c->cur++;
			char *reason = NULL;
			if (!ar_skip_cfws(c) || !ar_value(c, false, &reason)) {
				*error_r = "a reason without a value";
				goto out;
			}
			free(r.reason);
			r.reason = reason;
		} else {
			/* ptype "." property "=" pvalue (the keyword reader took the
			 * dot: split it there) */
			char *dot = strchr(word, '.');
			if (!dot || dot == word || dot[1] == '\0' || c->cur >= c->end ||
			    *c->cur != '=') {
				*error_r = "a property that is not ptype.property=value";
				goto out;
			}
			c->cur++;
			char *value = NULL;
			if (!ar_skip_cfws(c) || !ar_value(c, true, &value)) {
				*error_r = "a property without a value";
				goto out;
			}
			if (r.prop_count < MAILAUTH_AR_PROPS_MAX) {
				struct mailauth_ar_prop *p = &r.props[r.prop_count++];
				*dot = '\0';
				p->ptype = word;
				p->property = xstrdup(dot + 1);
				p->value = value;
				word = NULL;
			} else {
				free(value);
			}
		}
		free(word);
		word = NULL;
	}
	if (ar->count < MAILAUTH_AR_RESULTS_MAX) {
		ar->results[ar->count++] = r;
		memset(&r, 0, sizeof(r));
	}
	ok = true;
	goto out;
unterminated:
	*error_r = "an unterminated comment";
out:
	free(word);
	mailauth_ar_result_clear(&r);
	return ok;
}

int mailauth_ar_parse(const char *value, size_t len, struct mailauth_ar *ar_r,
		      const char **error_r)
{
	struct ar_cursor c = { value, value + len };
	memset(ar_r, 0, sizeof(*ar_r));
	ar_r->results = xcalloc(MAILAUTH_AR_RESULTS_MAX, sizeof(*ar_r->results));
	*error_r = NULL;

	if (memchr(value, '\0', len) != NULL) {
		*error_r = "a NUL byte";
	} else if (!ar_skip_cfws(&c) || !ar_value(&c, false, &ar_r->authserv_id)) {
		*error_r = "no authserv-id";
	} else if (!ar_skip_cfws(&c)) {
		*error_r = "an unterminated comment";
	} else {
		/* authres-version: digits before the first ";" */
		unsigned long version = 0;
		size_t digits = 0;
		while (c.cur < c.end && isdigit((unsigned char)*c.cur) && digits < 4) {
			version = version * 10 + (unsigned long)(*c.cur++ - '0');
			digits++;
		}
		if (digits > 0 && version != 1)
			*error_r = "an unknown authres-version";
		else if (!ar_skip_cfws(&c))
			*error_r = "an unterminated comment";
	}
	while (!*error_r && c.cur < c.end) {
		if (*c.cur != ';') {
			*error_r = "junk where \";\" was expected";
			break;
		}
		c.cur++;
		struct ar_cursor look = c;
		char *word = NULL;
		if (!ar_skip_cfws(&look)) {
			*error_r = "an unterminated comment";
			break;
		}
		if (look.cur >= look.end)
			break;  /* a trailing ";" */
		/* no-result: "; none" alone */
		if (ar_keyword(&look, &word) && strcmp(word, "none") == 0 && ar_skip_cfws(&look) &&
		    (look.cur >= look.end || *look.cur == ';') && ar_r->count == 0) {
			free(word);
			ar_r->none = true;
			c = look;
			continue;
		}
		free(word);
		if (!ar_resinfo(&c, ar_r, error_r))
			break;
		if (!ar_skip_cfws(&c))
			*error_r = "an unterminated comment";
	}
	if (!*error_r && ar_r->none && ar_r->count > 0)
		*error_r = "\"none\" beside results";
	if (*error_r) {
		mailauth_ar_free(ar_r);
		return -1;
	}
	return 0;
}

void mailauth_ar_result_clear(struct mailauth_ar_result *r)
{
	free(r->method);
	free(r->result);
	free(r->reason);
	for (size_t i = 0; i < r->prop_count; i++) {
		free(r->props[i].ptype);
		free(r->props[i].property);
		free(r->props[i].value);
	}
	memset(r, 0, sizeof(*r));
}

void mailauth_ar_free(struct mailauth_ar *ar)
{
	for (size_t i = 0; i < ar->count; i++)
		mailauth_ar_result_clear(&ar->results[i]);
	free(ar->results);
	free(ar->authserv_id);
	memset(ar, 0, sizeof(*ar));
}

const char *mailauth_ar_prop_find(const struct mailauth_ar_result *r, const char *ptype,
				  const char *property)
{
	for (size_t i = 0; i < r->prop_count; i++)
		if (strcmp(r->props[i].ptype, ptype) == 0 &&
		    strcmp(r->props[i].property, property) == 0)
			return r->props[i].value;
	return NULL;
}
