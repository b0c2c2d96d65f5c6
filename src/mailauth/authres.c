/* mailauth/authres - reading incoming Authentication-Results fields (RFC
 * 8601): the authserv-id a field claims, so that a receiver can remove the
 * ones naming itself (RFC 8601 5).  I/O-free; the field body is network
 * input, read forward over cur/end and never past LEN.
 */
#include "mailauth/mailauth.h"

#include <stdbool.h>
#include <stddef.h>

#define COMMENT_DEPTH_MAX 32   /* nested comments followed; deeper: no id */

static bool skip_cfws(const char **cur, const char *end);
static bool is_token_char(unsigned char c);

/* is_token_char - RFC 2045 5.1 token characters: printable US-ASCII but
 * the tspecials and SPACE; octets of UTF-8 too (RFC 6532 3.2) */
static bool is_token_char(unsigned char c)
{
	if (c >= 0x80)
		return true;
	if (c <= 0x20 || c == 0x7f)
		return false;
	switch (c) {
	case '(': case ')': case '<': case '>': case '@': case ',': case ';': case ':':
	case '\\': case '"': case '/': case '[': case ']': case '?': case '=':
		return false;
	default:
		return true;
	}
}

/* skip_cfws - RFC 5322 3.2.2 CFWS: white space, line breaks of folding,
 * and comments (nested, with quoted-pairs); false if a comment is not
 * closed or nests deeper than COMMENT_DEPTH_MAX */
static bool skip_cfws(const char **cur, const char *end)
{
	const char *p = *cur;
	unsigned depth = 0;
	while (p < end) {
		char c = *p;
		if (depth == 0 && c != ' ' && c != '\t' && c != '\r' && c != '\n' && c != '(')
			break;
		if (c == '(') {
			if (++depth > COMMENT_DEPTH_MAX)
				return false;
		} else if (c == ')' && depth > 0) {
			depth--;
		} else if (c == '\\' && depth > 0) {
			if (++p == end)
				return false;
		}
		p++;
	}
	*cur = p;
	return depth == 0;
}

/* mailauth_authres_id - [CFWS] authserv-id (RFC 8601 2.2) */
bool mailauth_authres_id(const char *value, size_t len, char *out_r, size_t size)
{
	const char *p = value, *end = value + len;
	size_t n = 0;
	bool ok = false;
	if (size == 0 || !skip_cfws(&p, end) || p == end)
		goto out;
	if (*p == '"') {
		/* quoted-string: qtext, quoted-pairs, FWS (unfolded: CR LF dropped) */
		for (p++; p < end && *p != '"'; p++) {
			char c = *p;
			if (c == '\r' || c == '\n')
				continue;
			if (c == '\\' && ++p == end)
				goto out;
			if (*p == '\0' || n + 1 >= size)
				goto out;
			out_r[n++] = *p;
		}
		if (p == end || n == 0)
			goto out;
	} else {
		for (; p < end && is_token_char((unsigned char)*p); p++) {
			if (n + 1 >= size)
				goto out;
			out_r[n++] = *p;
		}
		if (n == 0)
			goto out;
	}
	ok = true;
out:
	if (size > 0)
		out_r[ok ? n : 0] = '\0';
	return ok;
}
