/* mailauth/dmarc-record - the DMARC record (RFC 7489 6.3, 6.4): a tag list
 * (RFC 6376 3.2) that starts with v=DMARC1.
 *
 * Tag names and the keyword values are case-insensitive (6.4's ABNF quotes
 * them), except the version "DMARC1" (written there as %x44 %x4d ...).  The
 * tag list parser compares names case-sensitively, so duplicates that
 * differ in case are caught here.  What makes the record invalid and what is
 * only discarded is listed in mailauth.h.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mailauth/mailauth.h"
#include "util/xalloc.h"

static bool tag_is(const struct mailauth_tag *tag, const char *name);
static bool value_is(const struct mailauth_tag *tag, const char *word);
static bool parse_policy(const struct mailauth_tag *tag, enum dmarc_policy *policy_r);
static bool parse_number(const char *s, size_t len, unsigned long long max,
			 unsigned long long *value_r);
static bool uri_is_valid(const char *s, size_t len);
static bool parse_uri_list(const struct mailauth_tag *tag, struct dmarc_uri **uris_r,
			   size_t *count_r);
static bool list_is_valid(const char *s, size_t len, char sep, bool (*item)(const char *, size_t));
static bool fo_item_is_valid(const char *s, size_t len);
static bool rf_item_is_valid(const char *s, size_t len);
static void note_ignored(struct dmarc_record *record, const char *name);

static bool is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

static bool tag_is(const struct mailauth_tag *tag, const char *name)
{
	size_t n = strlen(name);
	return tag->name_len == n && strncasecmp(tag->name, name, n) == 0;
}

static bool value_is(const struct mailauth_tag *tag, const char *word)
{
	size_t n = strlen(word);
	return tag->value_len == n && strncasecmp(tag->value, word, n) == 0;
}

static bool parse_policy(const struct mailauth_tag *tag, enum dmarc_policy *policy_r)
{
	if (value_is(tag, "none"))
		*policy_r = DMARC_POLICY_NONE;
	else if (value_is(tag, "quarantine"))
		*policy_r = DMARC_POLICY_QUARANTINE;
	else if (value_is(tag, "reject"))
		*policy_r = DMARC_POLICY_REJECT;
	else
		return false;
	return true;
}

/* parse_number - 1*DIGIT up to MAX */
static bool parse_number(const char *s, size_t len, unsigned long long max,
			 unsigned long long *value_r)
{
	unsigned long long v = 0;
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned)(s[i] - '0');
		if (v > max)
			return false;
	}
	*value_r = v;
	return true;
}

/* uri_is_valid - an absolute URI (RFC 3986 3: scheme ":" and at least one
 * more character), of URI characters only; "," and "!" must be
 * percent-encoded in a DMARC URI (RFC 7489 6.4) */
static bool uri_is_valid(const char *s, size_t len)
{
	size_t i = 0;
	if (len == 0 || !((s[0] | 0x20) >= 'a' && (s[0] | 0x20) <= 'z'))
		return false;
	while (i < len && s[i] != ':') {
		char c = s[i];
		if (!((c | 0x20) >= 'a' && (c | 0x20) <= 'z') && !(c >= '0' && c <= '9') &&
		    c != '+' && c != '-' && c != '.')
			return false;
		i++;
	}
	if (i == len || i + 1 == len)
		return false;
	for (i++; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '%') {
			if (i + 2 >= len || !is_hex(s[i + 1]) || !is_hex(s[i + 2]))
				return false;
			i += 2;
			continue;
		}
		if (c <= 0x20 || c >= 0x7f || c == ',' || c == '!' || c == ';' ||
		    strchr("\"<>\\^`{|}", c) != NULL)
			return false;
	}
	return true;
}

/* parse_uri_list - dmarc-uri *(*WSP "," *WSP dmarc-uri), dmarc-uri = URI
 * [ "!" 1*DIGIT [ "k" / "m" / "g" / "t" ] ]; the valid URIs are kept, the
 * invalid ones dropped.  False if none is valid. */
static bool parse_uri_list(const struct mailauth_tag *tag, struct dmarc_uri **uris_r,
			   size_t *count_r)
{
	const char *p = tag->value, *end = tag->value + tag->value_len;
	size_t max = 1;
	for (const char *q = p; q < end; q++)
		max += *q == ',';
	struct dmarc_uri *uris = xcalloc(max, sizeof(*uris));
	size_t count = 0;
	while (p <= end) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		const char *item_end = comma ? comma : end;
		const char *s = p, *e = item_end;
		while (s < e && is_wsp(*s))
			s++;
		while (e > s && is_wsp(e[-1]))
			e--;
		const char *bang = memchr(s, '!', (size_t)(e - s));
		unsigned long long size = 0;
		bool ok = uri_is_valid(s, (size_t)((bang ? bang : e) - s));
		if (ok && bang) {
			static const char units[] = "kmgt";
			const char *digits_end = e;
			unsigned shift = 0;
			const char *u = digits_end > bang + 1 ?
				strchr(units, digits_end[-1] | 0x20) : NULL;
			if (u) {
				shift = 10u * (unsigned)(u - units + 1);
				digits_end--;
			}
			ok = parse_number(bang + 1, (size_t)(digits_end - bang - 1),
					  UINT64_MAX >> 40, &size);
			size <<= shift;
		}
		if (ok) {
			uris[count].uri = xstrndup(s, (size_t)((bang ? bang : e) - s));
			uris[count++].max_size = size;
		}
		if (!comma)
			break;
		p = comma + 1;
	}
	if (count == 0) {
		free(uris);
		return false;
	}
	*uris_r = uris;
	*count_r = count;
	return true;
}

/* list_is_valid - items separated by SEP with WSP around it, each ITEM */
static bool list_is_valid(const char *s, size_t len, char sep, bool (*item)(const char *, size_t))
{
	const char *p = s, *end = s + len;
	for (;;) {
		const char *next = memchr(p, sep, (size_t)(end - p));
		const char *a = p, *b = next ? next : end;
		while (a < b && is_wsp(*a))
			a++;
		while (b > a && is_wsp(b[-1]))
			b--;
		if (!item(a, (size_t)(b - a)))
			return false;
		if (!next)
			return true;
		p = next + 1;
	}
}

static bool fo_item_is_valid(const char *s, size_t len)
{
	return len == 1 && (s[0] == '0' || s[0] == '1' || (s[0] | 0x20) == 'd' ||
			    (s[0] | 0x20) == 's');
}

/* rf_item_is_valid - Format = keyword (RFC 7489 6.4: "afrf", IANA-registered) */
static bool rf_item_is_valid(const char *s, size_t len)
{
	if (len == 0 || !((s[0] | 0x20) >= 'a' && (s[0] | 0x20) <= 'z'))
		return false;
	for (size_t i = 1; i < len; i++) {
		char c = s[i];
		if (!((c | 0x20) >= 'a' && (c | 0x20) <= 'z') && !(c >= '0' && c <= '9') && c != '-')
			return false;
	}
	return true;
}

static void note_ignored(struct dmarc_record *record, const char *name)
{
	char *old = record->ignored;
	record->ignored = xasprintf("%s%s%s", old, *old ? "," : "", name);
	free(old);
}

bool dmarc_record_is_dmarc(const char *text, size_t len)
{
	const char *p = text, *end = text + len;
	while (p < end && is_wsp(*p))
		p++;
	if (p == end || (*p != 'v' && *p != 'V'))
		return false;
	for (p++; p < end && is_wsp(*p); p++)
		;
	if (p == end || *p != '=')
		return false;
	for (p++; p < end && is_wsp(*p); p++)
		;
	if (end - p < 6 || memcmp(p, "DMARC1", 6) != 0)
		return false;
	p += 6;
	while (p < end && is_wsp(*p))
		p++;
	return p == end || *p == ';';
}

/* dmarc_record_parse - RFC 7489 6.3 */
struct dmarc_record *dmarc_record_parse(const char *text, size_t len, const char **error_r)
{
	struct dmarc_record *record = NULL;
	size_t max = 1;
	for (size_t i = 0; i < len; i++)
		max += text[i] == ';';
	struct mailauth_tag *tags = xcalloc(max, sizeof(*tags));
	int n = mailauth_tags_parse(text, len, tags, max, error_r);
	if (n < 0)
		goto out;
	for (int i = 0; i < n; i++) {
		for (int j = 0; j < i; j++) {
			if (tags[i].name_len == tags[j].name_len &&
			    strncasecmp(tags[i].name, tags[j].name, tags[i].name_len) == 0) {
				*error_r = "duplicate tag";
				goto out;
			}
		}
	}
	if (n == 0 || !tag_is(&tags[0], "v") || tags[0].value_len != 6 ||
	    memcmp(tags[0].value, "DMARC1", 6) != 0) {
		*error_r = "the first tag is not v=DMARC1";
		goto out;
	}

	record = xcalloc(1, sizeof(*record));
	record->pct = 100;
	record->ri = 86400;
	record->fo = xstrdup("0");
	record->rf = xstrdup("afrf");
	record->ignored = xstrdup("");
	bool p_ok = false, sp_ok = true;
	for (int i = 1; i < n; i++) {
		const struct mailauth_tag *t = &tags[i];
		unsigned long long v;
		if (tag_is(t, "p")) {
			p_ok = parse_policy(t, &record->p);
		} else if (tag_is(t, "sp")) {
			sp_ok = parse_policy(t, &record->sp);
			record->sp_given = sp_ok;
		} else if (tag_is(t, "adkim") || tag_is(t, "aspf")) {
			enum dmarc_alignment *a = tag_is(t, "adkim") ? &record->adkim : &record->aspf;
			if (value_is(t, "r"))
				*a = DMARC_ALIGN_RELAXED;
			else if (value_is(t, "s"))
				*a = DMARC_ALIGN_STRICT;
			else
				note_ignored(record, tag_is(t, "adkim") ? "adkim" : "aspf");
		} else if (tag_is(t, "pct")) {
			/* 6.4: dmarc-percent = 1*3DIGIT, 0..100 */
			if (t->value_len <= 3 && parse_number(t->value, t->value_len, 100, &v))
				record->pct = (unsigned)v;
			else
				note_ignored(record, "pct");
		} else if (tag_is(t, "ri")) {
			if (parse_number(t->value, t->value_len, UINT32_MAX, &v))
				record->ri = (unsigned long)v;
			else
				note_ignored(record, "ri");
		} else if (tag_is(t, "rua") || tag_is(t, "ruf")) {
			bool rua = tag_is(t, "rua");
			if (!parse_uri_list(t, rua ? &record->rua : &record->ruf,
					    rua ? &record->rua_count : &record->ruf_count))
				note_ignored(record, rua ? "rua" : "ruf");
		} else if (tag_is(t, "fo") || tag_is(t, "rf")) {
			bool fo = tag_is(t, "fo");
			if (list_is_valid(t->value, t->value_len, fo ? ':' : ',',
					  fo ? fo_item_is_valid : rf_item_is_valid)) {
				char **s = fo ? &record->fo : &record->rf;
				free(*s);
				*s = xstrndup(t->value, t->value_len);
			} else {
				note_ignored(record, fo ? "fo" : "rf");
			}
		}
		/* 6.3: unknown tags MUST be ignored */
	}
	if (!p_ok || !sp_ok) {
		/* 6.6.3 step 6 */
		if (record->rua_count == 0) {
			*error_r = !p_ok ? "no valid p= tag (and no valid rua=)" :
				   "invalid sp= tag (and no valid rua=)";
			dmarc_record_free(&record);
			goto out;
		}
		record->p_fallback = true;
		record->p = DMARC_POLICY_NONE;
		record->sp_given = false;
	}
	if (!record->sp_given)
		record->sp = record->p;
out:
	free(tags);
	return record;
}

void dmarc_record_free(struct dmarc_record **record)
{
	struct dmarc_record *r = *record;
	if (!r)
		return;
	for (size_t i = 0; i < r->rua_count; i++)
		free(r->rua[i].uri);
	for (size_t i = 0; i < r->ruf_count; i++)
		free(r->ruf[i].uri);
	free(r->rua);
	free(r->ruf);
	free(r->fo);
	free(r->rf);
	free(r->ignored);
	free(r);
	*record = NULL;
}

const char *dmarc_policy_name(enum dmarc_policy policy)
{
	switch (policy) {
	case DMARC_POLICY_NONE:
		return "none";
	case DMARC_POLICY_QUARANTINE:
		return "quarantine";
	case DMARC_POLICY_REJECT:
		return "reject";
	}
	return "none";
}
