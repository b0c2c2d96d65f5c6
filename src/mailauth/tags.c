/* mailauth/tags - tag=value lists (RFC 6376 3.2), the syntax of DKIM-Signature
 * fields, DKIM key records and DMARC records.
 *
 *   tag-list  = tag-spec *( ";" tag-spec ) [ ";" ]
 *   tag-spec  = [FWS] tag-name [FWS] "=" [FWS] tag-value [FWS]
 *   tag-name  = ALPHA *ALNUMPUNC          ; ALPHA / DIGIT / "_"
 *   tag-value = [ tval *( 1*(WSP / FWS) tval ) ]
 *   tval      = 1*VALCHAR                 ; %x21-3A / %x3C-7E
 *
 * FWS is WSP with optional line breaks, each break followed by WSP (RFC 5322
 * 3.2.2); a bare LF counts as a line break, as message/ accepts bare-LF
 * headers.  Octets >= 0x80 are accepted in values: RFC 8616 (EAI) lets
 * UTF-8 appear there; the caller judges each value's own syntax.  FWS after
 * the final ";" is accepted: "v=DMARC1; p=none; " is what many domains
 * publish, and it is only the trailing ";" followed by the FWS that a
 * following tag-spec would start with.
 */
#include <string.h>

#include "mailauth/mailauth.h"

static size_t fws_span(const char *p, const char *end);
static bool is_alpha(unsigned char c);
static bool is_alnumpunc(unsigned char c);
static bool is_valchar(unsigned char c);

/* fws_span - the length of the FWS at P (0 if none) */
static size_t fws_span(const char *p, const char *end)
{
	const char *start = p;
	while (p < end) {
		if (*p == ' ' || *p == '\t') {
			p++;
			continue;
		}
		/* a line break counts only when WSP follows it */
		size_t brk = 0;
		if (*p == '\r' && end - p >= 2 && p[1] == '\n')
			brk = 2;
		else if (*p == '\n')
			brk = 1;
		if (brk == 0 || end - p <= (ptrdiff_t)brk || (p[brk] != ' ' && p[brk] != '\t'))
			break;
		p += brk;
	}
	return (size_t)(p - start);
}

static bool is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_alnumpunc(unsigned char c)
{
	return is_alpha(c) || (c >= '0' && c <= '9') || c == '_';
}

static bool is_valchar(unsigned char c)
{
	return (c >= 0x21 && c <= 0x7e && c != ';') || c >= 0x80;
}

/* mailauth_tags_parse - split TEXT[0..LEN) into tags (RFC 6376 3.2) */
int mailauth_tags_parse(const char *text, size_t len, struct mailauth_tag *tags_r,
			size_t max, const char **error_r)
{
	const char *p = text, *end = text + len;
	size_t count = 0;

	for (;;) {
		p += fws_span(p, end);
		/* the end after a ";" (or of an empty list: RFC 6376's grammar
		 * wants one tag-spec, but an empty list is the same as a list
		 * without the tags the caller needs, and it says so) */
		if (p == end)
			break;
		if (!is_alpha((unsigned char)*p)) {
			*error_r = *p == ';' ? "empty tag" : "tag name does not start with a letter";
			return -1;
		}
		const char *name = p;
		while (p < end && is_alnumpunc((unsigned char)*p))
			p++;
		size_t name_len = (size_t)(p - name);
		p += fws_span(p, end);
		if (p == end || *p != '=') {
			*error_r = "tag name not followed by '='";
			return -1;
		}
		p++;
		p += fws_span(p, end);
		const char *value = p, *value_end = p;
		while (p < end && *p != ';') {
			size_t ws = fws_span(p, end);
			if (ws > 0) {
				p += ws;
				continue;
			}
			if (!is_valchar((unsigned char)*p)) {
				*error_r = "invalid character in tag value";
				return -1;
			}
			p++;
			value_end = p;
		}
		/* RFC 6376 3.2: a duplicate tag name makes the whole list invalid */
		for (size_t i = 0; i < count; i++) {
			if (tags_r[i].name_len == name_len &&
			    memcmp(tags_r[i].name, name, name_len) == 0) {
				*error_r = "duplicate tag";
				return -1;
			}
		}
		if (count == max) {
			*error_r = "too many tags";
			return -1;
		}
		tags_r[count++] = (struct mailauth_tag){
			.name = name, .name_len = name_len,
			.value = value, .value_len = (size_t)(value_end - value),
		};
		if (p == end)
			break;
		p++; /* the ";" */
	}
	return (int)count;
}

/* mailauth_tags_find - the tag named NAME (case-sensitive, RFC 6376 3.2) */
const struct mailauth_tag *mailauth_tags_find(const struct mailauth_tag *tags, size_t count,
					      const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; i < count; i++) {
		if (tags[i].name_len == n && memcmp(tags[i].name, name, n) == 0)
			return &tags[i];
	}
	return NULL;
}
