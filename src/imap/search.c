/* imap/search - SEARCH criteria (parse-search.c's tree) evaluated against
 * one message, and the SEARCH and ESEARCH responses (RFC 9051 6.4.4, 7.3.4,
 * 7.3.5; RFC 4731; RFC 7162 3.1.5; RFC 5032).  No I/O: the session reads
 * each message's file on a worker when imap_search_needs_file says so (its
 * header section alone, which the folder caches, unless
 * imap_search_needs_body).
 *
 * Strings match as substrings after case folding (a simple folding of
 * ASCII, Latin-1, Latin Extended-A, Greek and Cyrillic capitals: what
 * i;unicode-casemap does for the scripts mail mostly holds), in UTF-8: the
 * criteria arrive in UTF-8 (CHARSET UTF-8, or UTF8=ACCEPT) or US-ASCII, and
 * header fields are decoded (RFC 2047) and bodies decoded (RFC 2045
 * transfer encoding, then their charset) before they are compared.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap/imap.h"
#include "imap/parse.h"
#include "mailbox/mailbox.h"
#include "message/message.h"
#include "util/buf.h"
#include "util/utf8.h"

#define DAY_SECONDS 86400
#define HEADER_DECODED_MAX (64 * 1024)   /* bytes of one decoded field compared */

/* The message being evaluated, its tree once a body key needed it, and
 * its header fields once a header key needed them */
struct search_eval {
	const struct imap_search_message *msg;
	struct message_part *root;
	struct message_headers headers;
	bool has_headers;
	struct buf haystack, needle;
};

/* what the MIME parser keeps of a header section: eval_headers parses the
 * section itself only when it is no longer, so its fields are the tree's */
static const struct message_mime_limits mime_limits = MESSAGE_MIME_LIMITS_DEFAULT;

static bool key_match(const struct imap_search_key *key, struct search_eval *e);
static bool flag_match(const char *flag, const struct imap_search_message *msg);
static const struct message_part *eval_tree(struct search_eval *e);
static const struct message_headers *eval_headers(struct search_eval *e);
static bool header_match(const char *field, const char *value, size_t len,
			 struct search_eval *e);
static bool body_match(const struct message_part *part, struct search_eval *e);
static bool text_contains(struct search_eval *e);
static void fold_append(struct buf *out, const char *s, size_t len);
static uint32_t fold_char(uint32_t c);
static int64_t day_of(time_t t);
static bool sent_day(const struct message_headers *headers, int64_t *day_r);
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d);

void imap_search_resolve(struct imap_search_key *key, uint32_t max_seq, uint32_t max_uid)
{
	if (key->kind == IMAP_SEARCH_SEQSET || key->kind == IMAP_SEARCH_UID) {
		imap_seqset_resolve(&key->set, key->kind == IMAP_SEARCH_UID ? max_uid : max_seq);
		imap_seqset_normalize(&key->set);
	}
	for (size_t i = 0; i < key->count; i++)
		imap_search_resolve(&key->children[i], max_seq, max_uid);
}

bool imap_search_needs_file(const struct imap_search_key *key)
{
	switch (key->kind) {
	case IMAP_SEARCH_HEADER:
	case IMAP_SEARCH_BODY:
	case IMAP_SEARCH_TEXT:
	case IMAP_SEARCH_SENTBEFORE:
	case IMAP_SEARCH_SENTON:
	case IMAP_SEARCH_SENTSINCE:
		return true;
	default:
		break;
	}
	for (size_t i = 0; i < key->count; i++)
		if (imap_search_needs_file(&key->children[i]))
			return true;
	return false;
}

bool imap_search_needs_body(const struct imap_search_key *key)
{
	if (key->kind == IMAP_SEARCH_BODY || key->kind == IMAP_SEARCH_TEXT)
		return true;
	for (size_t i = 0; i < key->count; i++)
		if (imap_search_needs_body(&key->children[i]))
			return true;
	return false;
}

bool imap_search_has_modseq(const struct imap_search_key *key)
{
	if (key->kind == IMAP_SEARCH_MODSEQ)
		return true;
	for (size_t i = 0; i < key->count; i++)
		if (imap_search_has_modseq(&key->children[i]))
			return true;
	return false;
}

bool imap_search_match(const struct imap_search_key *key, const struct imap_search_message *msg)
{
	struct search_eval e = { .msg = msg };
	buf_init(&e.haystack);
	buf_init(&e.needle);
	bool match = key_match(key, &e);
	message_part_free(&e.root);
	if (e.has_headers)
		message_headers_free(&e.headers);
	buf_free(&e.haystack);
	buf_free(&e.needle);
	return match;
}

/* eval_tree - the message's MIME tree, parsed at the first need */
static const struct message_part *eval_tree(struct search_eval *e)
{
	if (e->root == NULL) {
		struct message_mime_parser *parser = message_mime_parser_create(NULL);
		if (e->msg->data != NULL)
			message_mime_parser_feed(parser, e->msg->data, e->msg->len);
		e->root = message_mime_parser_finish(&parser);
	}
	return e->root;
}

/* eval_headers - the message's top-level header fields: the tree's when
 * a body key parsed it, else the header section split alone (HEADER, FROM,
 * SUBJECT, SENT*: no MIME parse of each message), unless the section is
 * longer than the MIME parser keeps, when the tree's fields are the ones
 * to match (the same answer either way) */
static const struct message_headers *eval_headers(struct search_eval *e)
{
	if (e->root != NULL)
		return &e->root->headers;
	if (!e->has_headers) {
		message_headers_parse(e->msg->data ? e->msg->data : "",
				      e->msg->data ? e->msg->len : 0, &e->headers);
		e->has_headers = true;
	}
	if (e->headers.body_offset > mime_limits.max_header_size)
		return &eval_tree(e)->headers;
	return &e->headers;
}

/* key_match - KEY against E's message */
static bool key_match(const struct imap_search_key *key, struct search_eval *e)
{
	const struct mailbox_message *r = e->msg->record;
	int64_t day;

	switch (key->kind) {
	case IMAP_SEARCH_AND:
		for (size_t i = 0; i < key->count; i++)
			if (!key_match(&key->children[i], e))
				return false;
		return true;
	case IMAP_SEARCH_OR:
		return key_match(&key->children[0], e) || key_match(&key->children[1], e);
	case IMAP_SEARCH_NOT:
		return !key_match(&key->children[0], e);
	case IMAP_SEARCH_ALL:
		return true;
	case IMAP_SEARCH_FLAG:
		return flag_match(key->value, e->msg);
	case IMAP_SEARCH_HEADER:
		return header_match(key->field, key->value, key->value_len, e);
	case IMAP_SEARCH_TEXT:
		if (header_match(NULL, key->value, key->value_len, e))
			return true;
		/* fall through */
	case IMAP_SEARCH_BODY:
		buf_reset(&e->needle);
		fold_append(&e->needle, key->value, key->value_len);
		return body_match(eval_tree(e), e);
	case IMAP_SEARCH_BEFORE:
		return day_of(r->internal_date) < day_of(key->date);
	case IMAP_SEARCH_ON:
		return day_of(r->internal_date) == day_of(key->date);
	case IMAP_SEARCH_SINCE:
		return day_of(r->internal_date) >= day_of(key->date);
	case IMAP_SEARCH_SENTBEFORE:
		return sent_day(eval_headers(e), &day) && day < day_of(key->date);
	case IMAP_SEARCH_SENTON:
		return sent_day(eval_headers(e), &day) && day == day_of(key->date);
	case IMAP_SEARCH_SENTSINCE:
		return sent_day(eval_headers(e), &day) && day >= day_of(key->date);
	case IMAP_SEARCH_LARGER:
		return r->size > key->number;
	case IMAP_SEARCH_SMALLER:
		return r->size < key->number;
	case IMAP_SEARCH_SEQSET:
		return imap_seqset_contains(&key->set, e->msg->seq);
	case IMAP_SEARCH_UID:
		return imap_seqset_contains(&key->set, r->uid);
	case IMAP_SEARCH_MODSEQ:
		return r->modseq >= key->number;
	case IMAP_SEARCH_OLDER:
		return e->msg->now - r->internal_date > (time_t)key->number;
	case IMAP_SEARCH_YOUNGER:
		return e->msg->now - r->internal_date <= (time_t)key->number;
	}
	return false;
}

/* flag_match - the message has FLAG: a system flag (RFC 9051 2.3.2),
 * \Recent, $Forwarded (a flag bit here) or a keyword of the folder */
static bool flag_match(const char *flag, const struct imap_search_message *msg)
{
	static const struct {
		const char *name;
		uint32_t bit;
	} flags[] = {
		{ "\\Answered", MAILBOX_FLAG_ANSWERED }, { "\\Flagged", MAILBOX_FLAG_FLAGGED },
		{ "\\Deleted", MAILBOX_FLAG_DELETED }, { "\\Seen", MAILBOX_FLAG_SEEN },
		{ "\\Draft", MAILBOX_FLAG_DRAFT }, { "$Forwarded", MAILBOX_FLAG_FORWARDED },
	};
	if (strcasecmp(flag, "\\Recent") == 0)
		return msg->record->recent;
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
		if (strcasecmp(flag, flags[i].name) == 0)
			return (msg->record->flags & flags[i].bit) != 0;
	for (size_t i = 0; i < msg->keyword_count && i < 64; i++)
		if (msg->keywords[i] != NULL && strcasecmp(flag, msg->keywords[i]) == 0)
			return (msg->record->keywords & ((uint64_t)1 << i)) != 0;
	return false;
}

/* header_match - a field named FIELD (any field when NULL: TEXT) whose
 * decoded value holds VALUE[0..LEN); with an empty VALUE, any field so
 * named (RFC 9051 6.4.4 HEADER) */
static bool header_match(const char *field, const char *value, size_t len,
			 struct search_eval *e)
{
	const struct message_headers *h = eval_headers(e);
	buf_reset(&e->needle);
	fold_append(&e->needle, value, len);
	for (size_t i = 0; i < h->count; i++) {
		const struct message_header *f = &h->fields[i];
		if (field != NULL && (strlen(field) != f->name_len ||
				      strncasecmp(field, f->name, f->name_len) != 0))
			continue;
		if (len == 0)
			return true;
		char *unfolded = message_header_unfold(f);
		struct buf decoded;
		buf_init(&decoded);
		(void)message_header_decode(unfolded, strlen(unfolded), HEADER_DECODED_MAX, &decoded);
		free(unfolded);
		buf_reset(&e->haystack);
		if (field == NULL) {
			/* TEXT: the whole field, "Name: value" */
			fold_append(&e->haystack, f->name, f->name_len);
			buf_append(&e->haystack, ": ", 2);
		}
		fold_append(&e->haystack, decoded.data ? decoded.data : "", decoded.len);
		buf_free(&decoded);
		if (text_contains(e))
			return true;
	}
	return false;
}

/* body_match - a text part under PART holds E's needle once decoded:
 * the parts of multiparts and the message inside a message/rfc822 are
 * looked into; other types (images, applications) are not text */
static bool body_match(const struct message_part *part, struct search_eval *e)
{
	if (part->is_multipart || (part->is_message && part->children != NULL)) {
		for (const struct message_part *c = part->children; c != NULL; c = c->next)
			if (body_match(c, e))
				return true;
		return false;
	}
	if (part->content_type.type == NULL || strcmp(part->content_type.type, "text") != 0)
		return false;
	struct buf text;
	buf_init(&text);
	message_part_text(part, e->msg->data != NULL ? e->msg->data : "", e->msg->len, &text);
	buf_reset(&e->haystack);
	fold_append(&e->haystack, text.data ? text.data : "", text.len);
	buf_free(&text);
	return text_contains(e);
}

/* text_contains - E's haystack holds its needle (both folded) */
static bool text_contains(struct search_eval *e)
{
	if (e->needle.len == 0)
		return true;
	return e->haystack.len >= e->needle.len &&
	       memmem(e->haystack.data, e->haystack.len, e->needle.data, e->needle.len) != NULL;
}

/* fold_append - S[0..LEN) case-folded into OUT; bytes that are not UTF-8
 * are copied */
static void fold_append(struct buf *out, const char *s, size_t len)
{
	size_t i = 0;
	while (i < len) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x80) {
			char lower = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
			buf_append(out, &lower, 1);
			i++;
			continue;
		}
		size_t n = utf8_sequence_length(s + i, len - i);
		if (n == 0) {
			buf_append(out, s + i, 1);
			i++;
			continue;
		}
		uint32_t cp = c & (0xff >> (n + 1));
		for (size_t k = 1; k < n; k++)
			cp = (cp << 6) | ((unsigned char)s[i + k] & 0x3f);
		char enc[4];
		buf_append(out, enc, utf8_encode(fold_char(cp), enc));
		i += n;
	}
}

/* fold_char - the small letter of capital C in the scripts folded, else C */
static uint32_t fold_char(uint32_t c)
{
	if ((c >= 0xC0 && c <= 0xDE && c != 0xD7) ||      /* Latin-1 */
	    (c >= 0x391 && c <= 0x3AB && c != 0x3A2) ||   /* Greek */
	    (c >= 0x410 && c <= 0x42F))                   /* Cyrillic */
		return c + 32;
	if (c >= 0x400 && c <= 0x40F)
		return c + 80;
	/* Latin Extended-A: pairs capital, small (even, odd) except where the
	 * pairs shift (0x139-0x148, 0x179-0x17E: odd, even) */
	if ((c >= 0x100 && c <= 0x137 && c % 2 == 0 && c != 0x130) ||
	    (c >= 0x14A && c <= 0x177 && c % 2 == 0))
		return c + 1;
	if ((c >= 0x139 && c <= 0x148 && c % 2 == 1) || (c >= 0x179 && c <= 0x17E && c % 2 == 1))
		return c + 1;
	if (c == 0x178)
		return 0xFF;
	if (c == 0x1E9E)   /* capital sharp s */
		return 0xDF;
	return c;
}

/* day_of - the day number of T in UTC */
static int64_t day_of(time_t t)
{
	int64_t s = (int64_t)t;
	return s >= 0 ? s / DAY_SECONDS : -((-s + DAY_SECONDS - 1) / DAY_SECONDS);
}

/* days_from_civil - the day number of Y-M-D (proleptic Gregorian) */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* sent_day - the day the first Date: field gives (RFC 5322 3.3: [day-of-week
 * ","] day month year ...; obsolete two- and three-digit years as 4.3 says),
 * as written, its time and zone disregarded (RFC 9051 6.4.4) */
static bool sent_day(const struct message_headers *headers, int64_t *day_r)
{
	static const char months[12][4] = { "jan", "feb", "mar", "apr", "may", "jun",
					    "jul", "aug", "sep", "oct", "nov", "dec" };
	const struct message_header *f = message_header_find(headers, "Date", 0);
	if (f == NULL)
		return false;
	const char *p = f->value, *end = f->value + f->value_len;
	unsigned day = 0, month = 0, digits = 0;
	int64_t year = 0;

	while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
		p++;
	const char *comma = memchr(p, ',', (size_t)(end - p));
	if (comma != NULL && comma - p <= 12)
		p = comma + 1;
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
		p++;
	for (digits = 0; p < end && *p >= '0' && *p <= '9' && digits < 2; digits++)
		day = day * 10 + (unsigned)(*p++ - '0');
	if (digits == 0 || day < 1 || day > 31)
		return false;
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n' || *p == '-'))
		p++;
	if (end - p < 3)
		return false;
	for (unsigned i = 0; i < 12 && month == 0; i++)
		if (strncasecmp(p, months[i], 3) == 0)
			month = i + 1;
	if (month == 0)
		return false;
	p += 3;
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n' || *p == '-'))
		p++;
	for (digits = 0; p < end && *p >= '0' && *p <= '9' && digits < 4; digits++)
		year = year * 10 + (*p++ - '0');
	if (digits < 2)
		return false;
	if (digits == 2)
		year += year < 50 ? 2000 : 1900;
	else if (digits == 3)
		year += 1900;
	*day_r = days_from_civil(year, month, day);
	return true;
}

void imap_search_response_append(struct buf *out, const uint32_t *results, size_t count,
				 uint64_t modseq)
{
	buf_append_str(out, "* SEARCH");
	for (size_t i = 0; i < count; i++)
		buf_printf(out, " %u", results[i]);
	if (modseq != 0 && count > 0)
		buf_printf(out, " (MODSEQ %llu)", (unsigned long long)modseq);
	buf_append(out, "\r\n", 2);
}

void imap_esearch_response_append(struct buf *out, const char *tag, bool uid, unsigned options,
				  const uint32_t *results, size_t count, uint64_t modseq)
{
	buf_append_str(out, "* ESEARCH (TAG ");
	imap_string_append(out, tag, strlen(tag), false);
	buf_append(out, ")", 1);
	if (uid)
		buf_append_str(out, " UID");
	if (count > 0 && (options & IMAP_SEARCH_RETURN_MIN))
		buf_printf(out, " MIN %u", results[0]);
	if (count > 0 && (options & IMAP_SEARCH_RETURN_MAX))
		buf_printf(out, " MAX %u", results[count - 1]);
	if (count > 0 && (options & IMAP_SEARCH_RETURN_ALL)) {
		buf_append_str(out, " ALL ");
		imap_uidset_append(out, results, count);
	}
	if (options & IMAP_SEARCH_RETURN_COUNT)
		buf_printf(out, " COUNT %zu", count);
	if (modseq != 0 && count > 0)
		buf_printf(out, " MODSEQ %llu", (unsigned long long)modseq);
	buf_append(out, "\r\n", 2);
}
