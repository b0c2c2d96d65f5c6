/* imap/parse-fetch - what FETCH asks for (RFC 9051 6.4.5 and 9 fetch-att;
 * RFC 3516 BINARY; RFC 7162 MODSEQ, CHANGEDSINCE, VANISHED), from the
 * argument tree imap_command_parse made.
 *
 * An item with a section arrives as one atom whose bracketed part holds the
 * section ("BODY.PEEK[1.2.HEADER.FIELDS (From "To")]<0.100>"); the section
 * is read here: part numbers, then HEADER, HEADER.FIELDS[.NOT] with its
 * list of names (atoms or quoted strings), TEXT or MIME, then the partial
 * range.  Each item gets the name its FETCH response carries (RFC 9051
 * 7.5.2: BODY[section]<origin>, the keywords in upper case).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap/parse.h"
#include "util/buf.h"
#include "util/xalloc.h"

struct cursor {
	const char *p, *end;
};

static int fetch_item_add(struct imap_fetch *fetch, const struct imap_arg *arg,
			  const char **error_r);
static int fetch_item_parse(const char *text, size_t len, struct imap_fetch_item *item,
			    const char **error_r);
static int section_parse(struct cursor *c, struct imap_fetch_item *item, bool binary,
			 const char **error_r);
static int fields_parse(struct cursor *c, struct imap_fetch_item *item, const char **error_r);
static int partial_parse(struct cursor *c, struct imap_fetch_item *item, const char **error_r);
static int modifiers_parse(const struct imap_arg *arg, struct imap_fetch *fetch,
			   const char **error_r);
static bool cursor_word(struct cursor *c, const char *word);
static bool cursor_number(struct cursor *c, bool nonzero, uint64_t max, uint64_t *n_r);
static void item_name_build(struct imap_fetch_item *item, const char *base);
static void item_free(struct imap_fetch_item *item);
static bool field_char_is_valid(char c);

static const struct {
	const char *name;
	enum imap_fetch_kind kind;
	bool peek;
} simple_items[] = {
	{ "ENVELOPE", IMAP_FETCH_ENVELOPE, true },
	{ "FLAGS", IMAP_FETCH_FLAGS, true },
	{ "INTERNALDATE", IMAP_FETCH_INTERNALDATE, true },
	{ "RFC822.SIZE", IMAP_FETCH_RFC822_SIZE, true },
	{ "RFC822", IMAP_FETCH_RFC822, false },
	{ "RFC822.HEADER", IMAP_FETCH_RFC822_HEADER, true },
	{ "RFC822.TEXT", IMAP_FETCH_RFC822_TEXT, false },
	{ "BODY", IMAP_FETCH_BODY, true },
	{ "BODYSTRUCTURE", IMAP_FETCH_BODYSTRUCTURE, true },
	{ "UID", IMAP_FETCH_UID, true },
	{ "MODSEQ", IMAP_FETCH_MODSEQ, true },
};

/* RFC 9051 6.4.5 macros */
static const char *const macro_all[] = { "FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE" };
static const char *const macro_full[] = { "FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE",
					  "BODY" };

int imap_fetch_parse(const struct imap_arg *args, size_t count, struct imap_fetch *fetch_r,
		     const char **error_r)
{
	memset(fetch_r, 0, sizeof(*fetch_r));
	if (count == 0 || count > 2) {
		*error_r = count == 0 ? "FETCH needs the items to fetch"
				      : "Junk after the FETCH items";
		return -1;
	}
	const struct imap_arg *what = &args[0];
	const char *const *macro = NULL;
	size_t macro_len = 0;
	if (imap_arg_atom_is(what, "ALL")) {
		macro = macro_all;
		macro_len = 4;
	} else if (imap_arg_atom_is(what, "FAST")) {
		macro = macro_all;
		macro_len = 3;
	} else if (imap_arg_atom_is(what, "FULL")) {
		macro = macro_full;
		macro_len = 5;
	}
	int ret = 0;
	if (macro != NULL) {
		for (size_t i = 0; i < macro_len; i++) {
			struct imap_arg atom = { .type = IMAP_ARG_ATOM, .data = macro[i],
						 .len = strlen(macro[i]) };
			fetch_item_add(fetch_r, &atom, error_r);
		}
	} else if (what->type == IMAP_ARG_LIST) {
		if (what->count == 0) {
			*error_r = "Empty list of FETCH items";
			ret = -1;
		}
		for (size_t i = 0; ret == 0 && i < what->count; i++)
			ret = fetch_item_add(fetch_r, &what->list[i], error_r);
	} else {
		ret = fetch_item_add(fetch_r, what, error_r);
	}
	if (ret == 0 && count == 2)
		ret = modifiers_parse(&args[1], fetch_r, error_r);
	if (ret < 0)
		imap_fetch_free(fetch_r);
	return ret;
}

void imap_fetch_free(struct imap_fetch *fetch)
{
	for (size_t i = 0; i < fetch->count; i++)
		item_free(&fetch->items[i]);
	free(fetch->items);
	memset(fetch, 0, sizeof(*fetch));
}

static void item_free(struct imap_fetch_item *item)
{
	for (size_t i = 0; i < item->field_count; i++)
		free(item->fields[i]);
	free(item->fields);
	free(item->name);
	memset(item, 0, sizeof(*item));
}

/* fetch_item_add - one fetch-att atom into FETCH */
static int fetch_item_add(struct imap_fetch *fetch, const struct imap_arg *arg,
			  const char **error_r)
{
	if (arg->type != IMAP_ARG_ATOM) {
		*error_r = "Invalid FETCH item";
		return -1;
	}
	struct imap_fetch_item item;
	memset(&item, 0, sizeof(item));
	if (fetch_item_parse(arg->data, arg->len, &item, error_r) < 0) {
		item_free(&item);
		return -1;
	}
	/* items are few: a list of them is bounded by the command's arguments */
	fetch->items = xrealloc(fetch->items, (fetch->count + 1) * sizeof(*fetch->items));
	fetch->items[fetch->count++] = item;
	return 0;
}

/* fetch_item_parse - TEXT[0..LEN) as one fetch-att */
static int fetch_item_parse(const char *text, size_t len, struct imap_fetch_item *item,
			    const char **error_r)
{
	const char *bracket = memchr(text, '[', len);
	size_t name_len = bracket ? (size_t)(bracket - text) : len;
	if (bracket == NULL) {
		for (size_t i = 0; i < sizeof(simple_items) / sizeof(simple_items[0]); i++) {
			if (strlen(simple_items[i].name) == len &&
			    strncasecmp(simple_items[i].name, text, len) == 0) {
				item->kind = simple_items[i].kind;
				item->peek = simple_items[i].peek;
				item->name = xstrdup(simple_items[i].name);
				return 0;
			}
		}
		*error_r = "Unknown FETCH item";
		return -1;
	}
	static const struct {
		const char *name;
		enum imap_fetch_kind kind;
		bool peek;
		const char *response;
	} section_items[] = {
		{ "BODY", IMAP_FETCH_SECTION, false, "BODY" },
		{ "BODY.PEEK", IMAP_FETCH_SECTION, true, "BODY" },
		{ "BINARY", IMAP_FETCH_BINARY, false, "BINARY" },
		{ "BINARY.PEEK", IMAP_FETCH_BINARY, true, "BINARY" },
		{ "BINARY.SIZE", IMAP_FETCH_BINARY_SIZE, true, "BINARY.SIZE" },
	};
	const char *response = NULL;
	for (size_t i = 0; i < sizeof(section_items) / sizeof(section_items[0]); i++) {
		if (strlen(section_items[i].name) == name_len &&
		    strncasecmp(section_items[i].name, text, name_len) == 0) {
			item->kind = section_items[i].kind;
			item->peek = section_items[i].peek;
			response = section_items[i].response;
		}
	}
	if (response == NULL) {
		*error_r = "Unknown FETCH item";
		return -1;
	}
	struct cursor c = { bracket + 1, text + len };
	if (section_parse(&c, item, item->kind != IMAP_FETCH_SECTION, error_r) < 0)
		return -1;
	if (c.p < c.end && *c.p == '<') {
		if (item->kind == IMAP_FETCH_BINARY_SIZE) {
			*error_r = "BINARY.SIZE takes no partial range";
			return -1;
		}
		if (partial_parse(&c, item, error_r) < 0)
			return -1;
	}
	if (c.p != c.end) {
		*error_r = "Junk after a FETCH section";
		return -1;
	}
	item_name_build(item, response);
	return 0;
}

/* section_parse - from after '[' to after ']': part numbers, then for BODY
 * a section text (RFC 9051 9 section-spec; BINARY takes parts only) */
static int section_parse(struct cursor *c, struct imap_fetch_item *item, bool binary,
			 const char **error_r)
{
	*error_r = "Invalid FETCH section";
	uint64_t n;
	while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
		if (item->parts == IMAP_SECTION_DEPTH_MAX || !cursor_number(c, true, UINT32_MAX, &n))
			return -1;
		item->part[item->parts++] = (uint32_t)n;
		if (c->p < c->end && *c->p == '.' && c->end - c->p > 1 && c->p[1] >= '0' &&
		    c->p[1] <= '9')
			c->p++;
		else
			break;
	}
	if (c->p < c->end && *c->p == ']') {
		c->p++;
		return 0;
	}
	if (binary)
		return -1;
	if (item->parts > 0) {
		if (c->p >= c->end || *c->p != '.')
			return -1;
		c->p++;
	}
	if (cursor_word(c, "HEADER.FIELDS.NOT")) {
		item->text = IMAP_SECTION_HEADER_FIELDS_NOT;
	} else if (cursor_word(c, "HEADER.FIELDS")) {
		item->text = IMAP_SECTION_HEADER_FIELDS;
	} else if (cursor_word(c, "HEADER")) {
		item->text = IMAP_SECTION_HEADER;
	} else if (cursor_word(c, "TEXT")) {
		item->text = IMAP_SECTION_TEXT;
	} else if (item->parts > 0 && cursor_word(c, "MIME")) {
		item->text = IMAP_SECTION_MIME;
	} else {
		return -1;
	}
	if (item->text == IMAP_SECTION_HEADER_FIELDS ||
	    item->text == IMAP_SECTION_HEADER_FIELDS_NOT) {
		if (fields_parse(c, item, error_r) < 0)
			return -1;
	}
	if (c->p >= c->end || *c->p != ']') {
		*error_r = "Invalid FETCH section";
		return -1;
	}
	c->p++;
	return 0;
}

/* field_char_is_valid - a header field name's character (RFC 5322 ftext)
 * that is also an atom's, so that the name needs no quoting when echoed */
static bool field_char_is_valid(char c)
{
	return c > 0x20 && c < 0x7f && c != ':' && !strchr("()\"\\%*]{", c);
}

/* fields_parse - SP "(" name *(SP name) ")", each name an atom or a quoted
 * string of header field name characters */
static int fields_parse(struct cursor *c, struct imap_fetch_item *item, const char **error_r)
{
	*error_r = "Invalid header field list in a FETCH section";
	if (c->end - c->p < 2 || c->p[0] != ' ' || c->p[1] != '(')
		return -1;
	c->p += 2;
	for (;;) {
		bool quoted = c->p < c->end && *c->p == '"';
		if (quoted)
			c->p++;
		const char *start = c->p;
		while (c->p < c->end && field_char_is_valid(*c->p))
			c->p++;
		size_t len = (size_t)(c->p - start);
		if (quoted) {
			if (c->p >= c->end || *c->p != '"')
				return -1;
			c->p++;
		}
		if (len == 0)
			return -1;
		if (item->field_count == IMAP_SECTION_FIELDS_MAX) {
			*error_r = "Too many header fields in a FETCH section";
			return -1;
		}
		item->fields = xrealloc(item->fields, (item->field_count + 1) * sizeof(char *));
		item->fields[item->field_count++] = xstrndup(start, len);
		if (c->p < c->end && *c->p == ')') {
			c->p++;
			return 0;
		}
		if (c->p >= c->end || *c->p != ' ')
			return -1;
		c->p++;
	}
}

/* partial_parse - "<" number64 "." nz-number64 ">" (RFC 9051 9 partial) */
static int partial_parse(struct cursor *c, struct imap_fetch_item *item, const char **error_r)
{
	c->p++;
	if (!cursor_number(c, false, INT64_MAX, &item->offset) || c->p >= c->end ||
	    *c->p != '.') {
		*error_r = "Invalid partial range in a FETCH item";
		return -1;
	}
	c->p++;
	if (!cursor_number(c, true, INT64_MAX, &item->length) || c->p >= c->end ||
	    *c->p != '>') {
		*error_r = "Invalid partial range in a FETCH item";
		return -1;
	}
	c->p++;
	item->partial = true;
	return 0;
}

/* modifiers_parse - "(" modifier *(SP modifier) ")": CHANGEDSINCE n, VANISHED */
static int modifiers_parse(const struct imap_arg *arg, struct imap_fetch *fetch,
			   const char **error_r)
{
	*error_r = "Invalid FETCH modifiers";
	if (arg->type != IMAP_ARG_LIST || arg->count == 0)
		return -1;
	for (size_t i = 0; i < arg->count; i++) {
		const struct imap_arg *m = &arg->list[i];
		if (imap_arg_atom_is(m, "VANISHED") && !fetch->vanished) {
			fetch->vanished = true;
		} else if (imap_arg_atom_is(m, "CHANGEDSINCE") && !fetch->changedsince_set &&
			   i + 1 < arg->count && arg->list[i + 1].type == IMAP_ARG_ATOM) {
			const struct imap_arg *v = &arg->list[++i];
			struct cursor c = { v->data, v->data + v->len };
			/* RFC 7162 7: mod-sequence-valzer is 0 or more, up to 2^63-1 */
			if (!cursor_number(&c, false, INT64_MAX, &fetch->changedsince) ||
			    c.p != c.end)
				return -1;
			fetch->changedsince_set = true;
		} else {
			return -1;
		}
	}
	/* RFC 7162 3.2.6: VANISHED only together with CHANGEDSINCE */
	if (fetch->vanished && !fetch->changedsince_set) {
		*error_r = "VANISHED needs CHANGEDSINCE (RFC 7162 3.2.6)";
		return -1;
	}
	return 0;
}

/* cursor_word - WORD (case-insensitive) at the cursor, not followed by
 * more of a word ('.' and letters) */
static bool cursor_word(struct cursor *c, const char *word)
{
	size_t n = strlen(word);
	if ((size_t)(c->end - c->p) < n || strncasecmp(c->p, word, n) != 0)
		return false;
	if (c->p + n < c->end && (c->p[n] == '.' || (c->p[n] >= 'A' && c->p[n] <= 'Z') ||
				  (c->p[n] >= 'a' && c->p[n] <= 'z')))
		return false;
	c->p += n;
	return true;
}

/* cursor_number - decimal digits, no leading zero but "0" itself, at most
 * MAX, non-zero if NONZERO */
static bool cursor_number(struct cursor *c, bool nonzero, uint64_t max, uint64_t *n_r)
{
	const char *start = c->p;
	uint64_t n = 0;
	while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
		if (c->p > start && *start == '0')
			return false;
		uint64_t d = (uint64_t)(*c->p - '0');
		if (n > (max - d) / 10)
			return false;
		n = n * 10 + d;
		c->p++;
	}
	if (c->p == start || (nonzero && n == 0))
		return false;
	*n_r = n;
	return true;
}

/* item_name_build - "BASE[section]<origin>" as the response names it */
static void item_name_build(struct imap_fetch_item *item, const char *base)
{
	static const char *const texts[] = {
		[IMAP_SECTION_WHOLE] = "", [IMAP_SECTION_HEADER] = "HEADER",
		[IMAP_SECTION_HEADER_FIELDS] = "HEADER.FIELDS",
		[IMAP_SECTION_HEADER_FIELDS_NOT] = "HEADER.FIELDS.NOT",
		[IMAP_SECTION_TEXT] = "TEXT", [IMAP_SECTION_MIME] = "MIME",
	};
	struct buf b;
	buf_init(&b);
	buf_printf(&b, "%s[", base);
	for (unsigned i = 0; i < item->parts; i++)
		buf_printf(&b, "%s%u", i ? "." : "", item->part[i]);
	if (item->text != IMAP_SECTION_WHOLE)
		buf_printf(&b, "%s%s", item->parts ? "." : "", texts[item->text]);
	if (item->field_count > 0) {
		buf_append(&b, " (", 2);
		for (size_t i = 0; i < item->field_count; i++)
			buf_printf(&b, "%s%s", i ? " " : "", item->fields[i]);
		buf_append(&b, ")", 1);
	}
	buf_append(&b, "]", 1);
	if (item->partial)
		buf_printf(&b, "<%llu>", (unsigned long long)item->offset);
	item->name = b.data;
}
