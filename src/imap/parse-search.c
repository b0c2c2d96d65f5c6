/* imap/parse-search - SEARCH criteria (RFC 9051 6.4.4 and 9 search-key;
 * RFC 4731 RETURN; RFC 7162 MODSEQ; RFC 5032 OLDER/YOUNGER; RFC 5182 "$")
 * as a tree of keys, from the argument tree imap_command_parse made.
 *
 * The keys of a command, and of a parenthesized list, are an AND.  Keys
 * that are shorthands become the tree they stand for (UNSEEN is NOT SEEN,
 * NEW is RECENT and NOT SEEN, FROM x is HEADER From x), so that whoever
 * evaluates the tree knows a handful of kinds.  Values point into the
 * command's arguments.  Recursion (NOT, OR, lists) is bounded by
 * IMAP_SEARCH_DEPTH_MAX.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap/parse.h"
#include "util/xalloc.h"

struct search_parser {
	const struct imap_arg *args;
	size_t count;
	size_t pos;
	const char *error;
};

static int search_key(struct search_parser *p, unsigned depth, struct imap_search_key *key);
static int search_keys(struct search_parser *p, unsigned depth, struct imap_search_key *and);
static int return_options(const struct imap_arg *arg, unsigned *options_r);
static const struct imap_arg *next_arg(struct search_parser *p);
static const struct imap_arg *next_astring(struct search_parser *p);
static int next_date(struct search_parser *p, time_t *date_r);
static int next_number(struct search_parser *p, uint64_t max, uint64_t *n_r);
static struct imap_search_key *key_children(struct imap_search_key *key, size_t count);
static void key_flag(struct imap_search_key *key, const char *flag, bool negate);
static void key_free(struct imap_search_key *key);
static int fail(struct search_parser *p, const char *error);

static const struct {
	const char *name;
	const char *flag;
	bool negate;
} flag_keys[] = {
	{ "ANSWERED", "\\Answered", false }, { "DELETED", "\\Deleted", false },
	{ "DRAFT", "\\Draft", false }, { "FLAGGED", "\\Flagged", false },
	{ "SEEN", "\\Seen", false }, { "RECENT", "\\Recent", false },
	{ "UNANSWERED", "\\Answered", true }, { "UNDELETED", "\\Deleted", true },
	{ "UNDRAFT", "\\Draft", true }, { "UNFLAGGED", "\\Flagged", true },
	{ "UNSEEN", "\\Seen", true }, { "OLD", "\\Recent", true },
};

static const struct {
	const char *name;
	enum imap_search_kind kind;
} date_keys[] = {
	{ "BEFORE", IMAP_SEARCH_BEFORE }, { "ON", IMAP_SEARCH_ON },
	{ "SINCE", IMAP_SEARCH_SINCE }, { "SENTBEFORE", IMAP_SEARCH_SENTBEFORE },
	{ "SENTON", IMAP_SEARCH_SENTON }, { "SENTSINCE", IMAP_SEARCH_SENTSINCE },
};

static const char *const header_keys[] = { "BCC", "CC", "FROM", "SUBJECT", "TO" };
static const char *const header_names[] = { "Bcc", "Cc", "From", "Subject", "To" };

static int fail(struct search_parser *p, const char *error)
{
	if (p->error == NULL)
		p->error = error;
	return -1;
}

int imap_search_parse(const struct imap_arg *args, size_t count, struct imap_search *search_r,
		      const char **error_r)
{
	memset(search_r, 0, sizeof(*search_r));
	search_r->root.kind = IMAP_SEARCH_AND;
	struct search_parser p = { .args = args, .count = count };
	if (p.pos < count && imap_arg_atom_is(&args[p.pos], "RETURN")) {
		p.pos++;
		if (p.pos >= count || return_options(&args[p.pos], &search_r->return_options) < 0) {
			*error_r = "Invalid SEARCH RETURN options";
			return -1;
		}
		search_r->return_given = true;
		p.pos++;
	}
	if (p.pos < count && imap_arg_atom_is(&args[p.pos], "CHARSET")) {
		p.pos++;
		const struct imap_arg *cs = next_astring(&p);
		if (cs == NULL) {
			*error_r = "CHARSET needs a charset name";
			return -1;
		}
		search_r->charset = cs->data;
	}
	if (p.pos == count) {
		*error_r = "SEARCH needs search criteria";
		return -1;
	}
	if (search_keys(&p, 0, &search_r->root) < 0) {
		imap_search_free(search_r);
		*error_r = p.error;
		return -1;
	}
	return 0;
}

void imap_search_free(struct imap_search *search)
{
	key_free(&search->root);
	memset(search, 0, sizeof(*search));
}

static void key_free(struct imap_search_key *key)
{
	for (size_t i = 0; i < key->count; i++)
		key_free(&key->children[i]);
	free(key->children);
	imap_seqset_free(&key->set);
	memset(key, 0, sizeof(*key));
}

/* return_options - "(" [option *(SP option)] ")" (RFC 4731 3.1, RFC 5182) */
static int return_options(const struct imap_arg *arg, unsigned *options_r)
{
	static const struct { const char *name; unsigned bit; } options[] = {
		{ "MIN", IMAP_SEARCH_RETURN_MIN }, { "MAX", IMAP_SEARCH_RETURN_MAX },
		{ "ALL", IMAP_SEARCH_RETURN_ALL }, { "COUNT", IMAP_SEARCH_RETURN_COUNT },
		{ "SAVE", IMAP_SEARCH_RETURN_SAVE },
	};
	if (arg->type != IMAP_ARG_LIST)
		return -1;
	unsigned bits = 0;
	for (size_t i = 0; i < arg->count; i++) {
		unsigned bit = 0;
		for (size_t k = 0; k < sizeof(options) / sizeof(options[0]); k++)
			if (imap_arg_atom_is(&arg->list[i], options[k].name))
				bit = options[k].bit;
		if (bit == 0)
			return -1;
		bits |= bit;
	}
	*options_r = bits ? bits : IMAP_SEARCH_RETURN_ALL;  /* RFC 4731 3.1: () is ALL */
	return 0;
}

/* search_keys - every remaining argument of P as children of AND */
static int search_keys(struct search_parser *p, unsigned depth, struct imap_search_key *and)
{
	while (p->pos < p->count) {
		/* keys are at most as many as the arguments left */
		and->children = xrealloc(and->children, (and->count + 1) * sizeof(*and->children));
		struct imap_search_key *key = &and->children[and->count++];
		memset(key, 0, sizeof(*key));
		if (search_key(p, depth, key) < 0)
			return -1;
	}
	return 0;
}

static const struct imap_arg *next_arg(struct search_parser *p)
{
	return p->pos < p->count ? &p->args[p->pos++] : NULL;
}

static const struct imap_arg *next_astring(struct search_parser *p)
{
	const struct imap_arg *a = next_arg(p);
	return a != NULL && imap_arg_is_astring(a) ? a : NULL;
}

/* next_date - a date, bare or quoted (RFC 9051 9 date) */
static int next_date(struct search_parser *p, time_t *date_r)
{
	const struct imap_arg *a = next_arg(p);
	if (a == NULL || (a->type != IMAP_ARG_ATOM && a->type != IMAP_ARG_STRING) ||
	    imap_date_parse(a->data, a->len, date_r) < 0)
		return fail(p, "Invalid date in SEARCH (d-Mon-yyyy)");
	return 0;
}

/* next_number - a decimal number up to MAX */
static int next_number(struct search_parser *p, uint64_t max, uint64_t *n_r)
{
	const struct imap_arg *a = next_arg(p);
	uint64_t n = 0;
	if (a == NULL || a->type != IMAP_ARG_ATOM || a->len == 0 || a->len > 20)
		return fail(p, "Invalid number in SEARCH");
	for (size_t i = 0; i < a->len; i++) {
		if (a->data[i] < '0' || a->data[i] > '9')
			return fail(p, "Invalid number in SEARCH");
		uint64_t d = (uint64_t)(a->data[i] - '0');
		if (n > (max - d) / 10)
			return fail(p, "Number too large in SEARCH");
		n = n * 10 + d;
	}
	*n_r = n;
	return 0;
}

static struct imap_search_key *key_children(struct imap_search_key *key, size_t count)
{
	key->children = xcalloc(count, sizeof(*key->children));
	key->count = count;
	return key->children;
}

/* key_flag - KEY is the flag FLAG, or NOT the flag */
static void key_flag(struct imap_search_key *key, const char *flag, bool negate)
{
	if (negate) {
		key->kind = IMAP_SEARCH_NOT;
		key = key_children(key, 1);
	}
	key->kind = IMAP_SEARCH_FLAG;
	key->value = flag;
	key->value_len = strlen(flag);
}

/* search_key - one search-key at P's position */
static int search_key(struct search_parser *p, unsigned depth, struct imap_search_key *key)
{
	if (depth >= IMAP_SEARCH_DEPTH_MAX)
		return fail(p, "SEARCH criteria nested too deep");
	const struct imap_arg *a = next_arg(p);
	if (a->type == IMAP_ARG_LIST) {
		if (a->count == 0)
			return fail(p, "Empty list in SEARCH");
		struct search_parser sub = { .args = a->list, .count = a->count };
		key->kind = IMAP_SEARCH_AND;
		int ret = search_keys(&sub, depth + 1, key);
		if (ret < 0)
			fail(p, sub.error);
		return ret;
	}
	if (a->type != IMAP_ARG_ATOM)
		return fail(p, "Invalid SEARCH key");
	for (size_t i = 0; i < sizeof(flag_keys) / sizeof(flag_keys[0]); i++) {
		if (imap_arg_atom_is(a, flag_keys[i].name)) {
			key_flag(key, flag_keys[i].flag, flag_keys[i].negate);
			return 0;
		}
	}
	for (size_t i = 0; i < sizeof(date_keys) / sizeof(date_keys[0]); i++) {
		if (imap_arg_atom_is(a, date_keys[i].name)) {
			key->kind = date_keys[i].kind;
			return next_date(p, &key->date);
		}
	}
	for (size_t i = 0; i < sizeof(header_keys) / sizeof(header_keys[0]); i++) {
		if (imap_arg_atom_is(a, header_keys[i])) {
			const struct imap_arg *v = next_astring(p);
			if (v == NULL)
				return fail(p, "SEARCH key needs a string");
			key->kind = IMAP_SEARCH_HEADER;
			key->field = header_names[i];
			key->value = v->data;
			key->value_len = v->len;
			return 0;
		}
	}
	if (imap_arg_atom_is(a, "ALL")) {
		key->kind = IMAP_SEARCH_ALL;
		return 0;
	}
	if (imap_arg_atom_is(a, "NEW")) {
		/* RECENT and not SEEN */
		key->kind = IMAP_SEARCH_AND;
		struct imap_search_key *c = key_children(key, 2);
		key_flag(&c[0], "\\Recent", false);
		key_flag(&c[1], "\\Seen", true);
		return 0;
	}
	if (imap_arg_atom_is(a, "KEYWORD") || imap_arg_atom_is(a, "UNKEYWORD")) {
		bool negate = a->data[0] == 'U' || a->data[0] == 'u';
		const struct imap_arg *v = next_arg(p);
		/* flag-keyword = "$MDNSent" / "$Forwarded" / ... / atom (no '\') */
		if (v == NULL || v->type != IMAP_ARG_ATOM || v->data[0] == '\\' ||
		    memchr(v->data, ']', v->len) != NULL)
			return fail(p, "KEYWORD needs a keyword");
		key_flag(key, v->data, negate);   /* an atom: NUL-terminated, no NUL in it */
		return 0;
	}
	if (imap_arg_atom_is(a, "HEADER")) {
		const struct imap_arg *f = next_astring(p);
		const struct imap_arg *v = f ? next_astring(p) : NULL;
		if (v == NULL)
			return fail(p, "HEADER needs a field name and a string");
		key->kind = IMAP_SEARCH_HEADER;
		key->field = f->data;
		key->value = v->data;
		key->value_len = v->len;
		return 0;
	}
	if (imap_arg_atom_is(a, "BODY") || imap_arg_atom_is(a, "TEXT")) {
		const struct imap_arg *v = next_astring(p);
		if (v == NULL)
			return fail(p, "SEARCH key needs a string");
		key->kind = (a->data[0] | 0x20) == 'b' ? IMAP_SEARCH_BODY : IMAP_SEARCH_TEXT;
		key->value = v->data;
		key->value_len = v->len;
		return 0;
	}
	if (imap_arg_atom_is(a, "LARGER") || imap_arg_atom_is(a, "SMALLER")) {
		key->kind = (a->data[0] | 0x20) == 'l' ? IMAP_SEARCH_LARGER : IMAP_SEARCH_SMALLER;
		return next_number(p, UINT32_MAX, &key->number);
	}
	if (imap_arg_atom_is(a, "OLDER") || imap_arg_atom_is(a, "YOUNGER")) {
		key->kind = (a->data[0] | 0x20) == 'o' ? IMAP_SEARCH_OLDER : IMAP_SEARCH_YOUNGER;
		if (next_number(p, UINT32_MAX, &key->number) < 0)
			return -1;
		return key->number > 0 ? 0 : fail(p, "OLDER and YOUNGER need a number of seconds");
	}
	if (imap_arg_atom_is(a, "MODSEQ")) {
		/* RFC 7162 3.1.5: [entry-name entry-type] mod-sequence-valzer */
		if (p->count - p->pos >= 3 && p->args[p->pos].type == IMAP_ARG_STRING) {
			const struct imap_arg *type = &p->args[p->pos + 1];
			if (!imap_arg_atom_is(type, "priv") && !imap_arg_atom_is(type, "shared") &&
			    !imap_arg_atom_is(type, "all"))
				return fail(p, "Invalid MODSEQ entry type");
			p->pos += 2;
		}
		key->kind = IMAP_SEARCH_MODSEQ;
		return next_number(p, INT64_MAX, &key->number);
	}
	if (imap_arg_atom_is(a, "NOT")) {
		if (p->pos == p->count)
			return fail(p, "NOT needs a SEARCH key");
		key->kind = IMAP_SEARCH_NOT;
		return search_key(p, depth + 1, key_children(key, 1));
	}
	if (imap_arg_atom_is(a, "OR")) {
		if (p->count - p->pos < 2)
			return fail(p, "OR needs two SEARCH keys");
		key->kind = IMAP_SEARCH_OR;
		struct imap_search_key *c = key_children(key, 2);
		if (search_key(p, depth + 1, &c[0]) < 0)
			return -1;
		if (p->pos == p->count)
			return fail(p, "OR needs two SEARCH keys");
		return search_key(p, depth + 1, &c[1]);
	}
	const char *error = NULL;
	if (imap_arg_atom_is(a, "UID")) {
		const struct imap_arg *v = next_arg(p);
		if (v == NULL || v->type != IMAP_ARG_ATOM ||
		    imap_seqset_parse(v->data, v->len, &key->set, &error) < 0)
			return fail(p, "UID needs a sequence set");
		key->kind = IMAP_SEARCH_UID;
		return 0;
	}
	if (imap_seqset_parse(a->data, a->len, &key->set, &error) == 0) {
		key->kind = IMAP_SEARCH_SEQSET;
		return 0;
	}
	return fail(p, "Unknown SEARCH key");
}
