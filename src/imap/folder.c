/* imap/folder - the I/O-free parts of the mailbox commands: mailbox names
 * on the wire, LIST / LSUB (RFC 3501 6.3.8-9, RFC 5258 LIST-EXTENDED,
 * RFC 5819 LIST-STATUS, RFC 6154 SPECIAL-USE), STATUS items and flag lists.
 *
 * Names are UTF-8 with "/" between levels inside Petrel (mailbox.h); a
 * client that has not enabled UTF8=ACCEPT (RFC 6855 3) sends and receives
 * them in modified UTF-7 (RFC 3501 5.1.3).  LIST patterns are matched
 * against the UTF-8 names: "*" matches anything, "%" anything but the
 * delimiter (RFC 3501 6.3.8), in time proportional to the product of the
 * two lengths whatever the pattern (no backtracking).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap/imap.h"
#include "imap/parse.h"
#include "mailbox/mailbox.h"
#include "util/buf.h"
#include "util/utf8.h"
#include "util/xalloc.h"

static bool name_is_inbox_prefixed(const char *name, size_t len);
static char ascii_lower(char c);
static void inbox_normalize(char *name);
static bool list_matches_any(const struct imap_list *list, const char *name);
static bool folder_has_selected_child(const struct imap_list *list,
				      const struct mailbox_folder *folders, size_t count,
				      size_t index);
static int list_options_parse(const struct imap_arg *arg, bool selection, struct imap_list *list,
			      const char **error_r);

static const struct {
	const char *name;
	unsigned attr;
} special_use_attrs[] = {
	{ "\\Sent", MAILBOX_FOLDER_SENT },   { "\\Drafts", MAILBOX_FOLDER_DRAFTS },
	{ "\\Junk", MAILBOX_FOLDER_JUNK },   { "\\Trash", MAILBOX_FOLDER_TRASH },
	{ "\\Archive", MAILBOX_FOLDER_ARCHIVE },
};
#define SPECIAL_USE_COUNT (sizeof(special_use_attrs) / sizeof(special_use_attrs[0]))

static const struct {
	const char *name;
	unsigned item;
} status_items[] = {
	{ "MESSAGES", IMAP_STATUS_MESSAGES }, { "UIDNEXT", IMAP_STATUS_UIDNEXT },
	{ "UIDVALIDITY", IMAP_STATUS_UIDVALIDITY }, { "UNSEEN", IMAP_STATUS_UNSEEN },
	{ "DELETED", IMAP_STATUS_DELETED }, { "SIZE", IMAP_STATUS_SIZE },
	{ "HIGHESTMODSEQ", IMAP_STATUS_HIGHESTMODSEQ }, { "RECENT", IMAP_STATUS_RECENT },
};
#define STATUS_ITEM_COUNT (sizeof(status_items) / sizeof(status_items[0]))

static const struct {
	const char *name;
	uint32_t flag;
} system_flags[] = {
	{ "\\Answered", MAILBOX_FLAG_ANSWERED }, { "\\Flagged", MAILBOX_FLAG_FLAGGED },
	{ "\\Deleted", MAILBOX_FLAG_DELETED },   { "\\Seen", MAILBOX_FLAG_SEEN },
	{ "\\Draft", MAILBOX_FLAG_DRAFT },       { "$Forwarded", MAILBOX_FLAG_FORWARDED },
};
#define SYSTEM_FLAG_COUNT (sizeof(system_flags) / sizeof(system_flags[0]))

/* ---- mailbox names ---------------------------------------------------------- */

/* name_is_inbox_prefixed - NAME[0..LEN) is "INBOX" or "INBOX/...", any case */
static bool name_is_inbox_prefixed(const char *name, size_t len)
{
	return len >= 5 && strncasecmp(name, "INBOX", 5) == 0 && (len == 5 || name[5] == '/');
}

static char ascii_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* inbox_normalize - "inbox" as a first level is INBOX (RFC 3501 5.1) */
static void inbox_normalize(char *name)
{
	if (name_is_inbox_prefixed(name, strlen(name)))
		memcpy(name, "INBOX", 5);
}

int imap_mailbox_name_decode(const struct imap_arg *arg, bool utf8, char **name_r)
{
	*name_r = NULL;
	if (!imap_arg_is_astring(arg) || memchr(arg->data, '\0', arg->len))
		return -1;
	char *name;
	if (utf8) {
		if (!utf8_is_valid(arg->data, arg->len))
			return -1;
		name = xstrndup(arg->data, arg->len);
	} else {
		name = mailbox_mutf7_decode(arg->data, arg->len);
		if (!name)
			return -1;
	}
	inbox_normalize(name);
	*name_r = name;
	return 0;
}

void imap_mailbox_name_append(struct buf *out, const char *name, bool utf8)
{
	if (utf8) {
		imap_string_append(out, name, strlen(name), true);
		return;
	}
	char *enc = mailbox_mutf7_encode(name, strlen(name));
	imap_string_append(out, enc, strlen(enc), false);
	free(enc);
}

/* ---- LIST patterns ------------------------------------------------------------ */

bool imap_list_match(const char *pattern, const char *name)
{
	size_t plen = strlen(pattern), nlen = strlen(name);
	/* INBOX's five letters match in any case (RFC 3501 5.1) */
	size_t fold = name_is_inbox_prefixed(name, nlen) ? 5 : 0;
	/* the positions of PATTERN that the name's prefix so far can reach (an
	 * NFA run): a wildcard may always match nothing */
	bool *cur = xcalloc(plen + 1, 1), *next = xcalloc(plen + 1, 1);
	cur[0] = true;
	for (size_t j = 0; j < plen; j++)
		if (cur[j] && (pattern[j] == '*' || pattern[j] == '%'))
			cur[j + 1] = true;
	for (size_t i = 0; i < nlen; i++) {
		char c = name[i];
		bool any = false;
		memset(next, 0, plen + 1);
		for (size_t j = 0; j < plen; j++) {
			if (!cur[j])
				continue;
			char p = pattern[j];
			if (p == '*' || (p == '%' && c != '/')) {
				next[j] = true;
			} else if (p == c || (i < fold && ascii_lower(p) == ascii_lower(c))) {
				next[j + 1] = true;
			}
		}
		for (size_t j = 0; j < plen; j++) {
			if (next[j] && (pattern[j] == '*' || pattern[j] == '%'))
				next[j + 1] = true;
			any |= next[j];
		}
		any |= next[plen];
		bool *t = cur;
		cur = next;
		next = t;
		if (!any)
			break;
	}
	bool ok = cur[plen];
	free(cur);
	free(next);
	return ok;
}

/* ---- LIST arguments ---------------------------------------------------------- */

/* list_options_parse - a selection (RFC 5258 list-select-opts) or return
 * (list-return-opts) option list into LIST */
static int list_options_parse(const struct imap_arg *arg, bool selection, struct imap_list *list,
			      const char **error_r)
{
	if (arg->type != IMAP_ARG_LIST) {
		*error_r = "LIST options must be a parenthesized list";
		return -1;
	}
	for (size_t i = 0; i < arg->count; i++) {
		const struct imap_arg *o = &arg->list[i];
		if (selection && imap_arg_atom_is(o, "SUBSCRIBED")) {
			list->select |= IMAP_LIST_SELECT_SUBSCRIBED;
		} else if (selection && imap_arg_atom_is(o, "REMOTE")) {
			list->select |= IMAP_LIST_SELECT_REMOTE;
		} else if (selection && imap_arg_atom_is(o, "RECURSIVEMATCH")) {
			list->select |= IMAP_LIST_SELECT_RECURSIVEMATCH;
		} else if (selection && imap_arg_atom_is(o, "SPECIAL-USE")) {
			list->select |= IMAP_LIST_SELECT_SPECIAL_USE;
		} else if (!selection && imap_arg_atom_is(o, "SUBSCRIBED")) {
			list->ret |= IMAP_LIST_RETURN_SUBSCRIBED;
		} else if (!selection && imap_arg_atom_is(o, "CHILDREN")) {
			list->ret |= IMAP_LIST_RETURN_CHILDREN;
		} else if (!selection && imap_arg_atom_is(o, "SPECIAL-USE")) {
			list->ret |= IMAP_LIST_RETURN_SPECIAL_USE;
		} else if (!selection && imap_arg_atom_is(o, "STATUS") && i + 1 < arg->count) {
			/* RFC 5819 4: STATUS (items) */
			if (imap_status_items_parse(&arg->list[++i], &list->status_items,
						    error_r) != 0)
				return -1;
			list->ret |= IMAP_LIST_RETURN_STATUS;
		} else {
			/* RFC 5258 3: unknown options are a BAD */
			*error_r = selection ? "unknown LIST selection option" :
					       "unknown LIST return option";
			return -1;
		}
	}
	return 0;
}

int imap_list_parse(const struct imap_arg *args, size_t count, bool lsub, bool utf8,
		    struct imap_list *list_r, const char **error_r)
{
	size_t i = 0;
	char *reference = NULL;
	const struct imap_arg *patterns;

	memset(list_r, 0, sizeof(*list_r));
	list_r->lsub = lsub;
	if (!lsub && i < count && args[i].type == IMAP_ARG_LIST) {
		if (list_options_parse(&args[i], true, list_r, error_r) != 0)
			goto fail;
		list_r->extended = true;
		i++;
	}
	if (count - i < 2) {
		*error_r = "LIST needs a reference and a mailbox pattern";
		goto fail;
	}
	if (imap_mailbox_name_decode(&args[i], utf8, &reference) != 0) {
		*error_r = "invalid LIST reference";
		goto fail;
	}
	i++;
	patterns = &args[i];
	size_t npatterns = 1;
	if (patterns->type == IMAP_ARG_LIST) {
		if (lsub || patterns->count == 0) {
			*error_r = "invalid LIST mailbox pattern";
			goto fail;
		}
		list_r->extended = true;
		npatterns = patterns->count;
		patterns = patterns->list;
	}
	i++;
	list_r->patterns = xcalloc(npatterns, sizeof(*list_r->patterns));
	for (size_t p = 0; p < npatterns; p++) {
		char *pattern;
		if (imap_mailbox_name_decode(&patterns[p], utf8, &pattern) != 0) {
			*error_r = "invalid LIST mailbox pattern";
			goto fail;
		}
		/* RFC 3501 6.3.8: the reference and the pattern read as one
		 * name; a pattern from the root ("/x") is not ours to join */
		list_r->patterns[p] = pattern[0] == '\0' ? xstrdup("") :
				      xasprintf("%s%s", reference, pattern);
		list_r->pattern_count++;
		free(pattern);
		inbox_normalize(list_r->patterns[p]);
	}
	if (!lsub && i < count && imap_arg_atom_is(&args[i], "RETURN") && i + 1 < count) {
		if (list_options_parse(&args[i + 1], false, list_r, error_r) != 0)
			goto fail;
		list_r->extended = true;
		i += 2;
	}
	if (i != count) {
		*error_r = "unexpected LIST arguments";
		goto fail;
	}
	/* RFC 5258 3: RECURSIVEMATCH alone, or with only REMOTE, is a BAD */
	if ((list_r->select & IMAP_LIST_SELECT_RECURSIVEMATCH) &&
	    !(list_r->select & (IMAP_LIST_SELECT_SUBSCRIBED | IMAP_LIST_SELECT_SPECIAL_USE))) {
		*error_r = "RECURSIVEMATCH needs another selection option";
		goto fail;
	}
	/* RFC 5258 3: the SUBSCRIBED selection implies the return option */
	if (list_r->select & IMAP_LIST_SELECT_SUBSCRIBED)
		list_r->ret |= IMAP_LIST_RETURN_SUBSCRIBED;
	free(reference);
	return 0;
fail:
	free(reference);
	imap_list_free(list_r);
	return -1;
}

void imap_list_free(struct imap_list *list)
{
	for (size_t i = 0; i < list->pattern_count; i++)
		free(list->patterns[i]);
	free(list->patterns);
	list->patterns = NULL;
	list->pattern_count = 0;
}

/* ---- LIST answers ------------------------------------------------------------- */

static bool list_matches_any(const struct imap_list *list, const char *name)
{
	for (size_t i = 0; i < list->pattern_count; i++)
		if (list->patterns[i][0] != '\0' && imap_list_match(list->patterns[i], name))
			return true;
	return false;
}

bool imap_list_wants_root(const struct imap_list *list)
{
	return !list->extended && list->pattern_count == 1 && list->patterns[0][0] == '\0';
}

/* folder_selected - FOLDER meets LIST's selection options (RFC 5258 3) */
static bool folder_selected(const struct imap_list *list, const struct mailbox_folder *folder)
{
	if (list->lsub || (list->select & IMAP_LIST_SELECT_SUBSCRIBED))
		return folder->attrs & MAILBOX_FOLDER_SUBSCRIBED;
	if (folder->attrs & MAILBOX_FOLDER_NONEXISTENT)
		return false;   /* only subscribed: no folder and no parent */
	if (list->select & IMAP_LIST_SELECT_SPECIAL_USE)
		return folder->attrs & MAILBOX_FOLDER_SPECIAL_USE;
	return true;
}

/* folder_has_selected_child - a descendant of folder INDEX meets the
 * selection options and is not matched itself (RFC 5258 3 RECURSIVEMATCH's
 * CHILDINFO; RFC 3501 6.3.9's LSUB parent under "%") */
static bool folder_has_selected_child(const struct imap_list *list,
				      const struct mailbox_folder *folders, size_t count,
				      size_t index)
{
	const char *name = folders[index].name;
	size_t len = strlen(name);
	for (size_t j = 0; j < count; j++) {
		if (strncmp(folders[j].name, name, len) == 0 && folders[j].name[len] == '/' &&
		    folder_selected(list, &folders[j]) && !list_matches_any(list, folders[j].name))
			return true;
	}
	return false;
}

size_t imap_list_select(const struct imap_list *list, const struct mailbox_folder *folders,
			size_t count, struct imap_list_entry **entries_r)
{
	struct imap_list_entry *entries = NULL;
	size_t n = 0;
	bool recursive = list->lsub || (list->select & IMAP_LIST_SELECT_RECURSIVEMATCH);

	for (size_t i = 0; i < count; i++) {
		if (!list_matches_any(list, folders[i].name))
			continue;
		bool selected = folder_selected(list, &folders[i]);
		bool childinfo = recursive && folder_has_selected_child(list, folders, count, i);
		if (!selected && !childinfo)
			continue;
		entries = xrealloc(entries, (n + 1) * sizeof(*entries));
		entries[n++] = (struct imap_list_entry){
			.folder = &folders[i],
			.selected = selected,
			.childinfo = childinfo && !list->lsub,
		};
	}
	*entries_r = entries;
	return n;
}

void imap_list_entry_append(struct buf *out, const struct imap_list *list,
			    const struct imap_list_entry *entry, bool utf8)
{
	unsigned attrs = entry->folder->attrs;
	const char *sep = "";

	buf_printf(out, "* %s (", list->lsub ? "LSUB" : "LIST");
	if (list->lsub) {
		/* RFC 3501 6.3.9: a parent that is not subscribed itself */
		if (!entry->selected || (attrs & MAILBOX_FOLDER_NOSELECT))
			buf_append_str(out, "\\Noselect");
	} else {
		if (attrs & MAILBOX_FOLDER_NONEXISTENT) {
			/* RFC 5258 3.4: \NonExistent implies \Noselect */
			buf_append_str(out, "\\NonExistent");
			sep = " ";
		} else if (attrs & MAILBOX_FOLDER_NOSELECT) {
			buf_append_str(out, "\\Noselect");
			sep = " ";
		}
		/* RFC 3348 / RFC 5258 4: children, sent whether asked or not */
		if (!(attrs & MAILBOX_FOLDER_NONEXISTENT) ||
		    (list->ret & IMAP_LIST_RETURN_CHILDREN)) {
			buf_printf(out, "%s%s", sep, (attrs & MAILBOX_FOLDER_HAS_CHILDREN) ?
							     "\\HasChildren" : "\\HasNoChildren");
			sep = " ";
		}
		if ((list->ret & IMAP_LIST_RETURN_SUBSCRIBED) && entry->selected &&
		    (attrs & MAILBOX_FOLDER_SUBSCRIBED)) {
			buf_printf(out, "%s\\Subscribed", sep);
			sep = " ";
		}
		/* RFC 6154 2: special uses, in plain LIST as in extended */
		for (size_t i = 0; i < SPECIAL_USE_COUNT; i++) {
			if (attrs & special_use_attrs[i].attr) {
				buf_printf(out, "%s%s", sep, special_use_attrs[i].name);
				sep = " ";
			}
		}
	}
	buf_append_str(out, ") \"/\" ");
	imap_mailbox_name_append(out, entry->folder->name, utf8);
	if (entry->childinfo)
		buf_append_str(out, " (\"CHILDINFO\" (\"SUBSCRIBED\"))");
	buf_append_str(out, "\r\n");
}

bool imap_list_entry_wants_status(const struct imap_list *list,
				  const struct imap_list_entry *entry)
{
	/* RFC 5819 2: only for selectable mailboxes the selection returned */
	return (list->ret & IMAP_LIST_RETURN_STATUS) && entry->selected &&
	       !(entry->folder->attrs & (MAILBOX_FOLDER_NOSELECT | MAILBOX_FOLDER_NONEXISTENT));
}

int imap_special_use_parse(const struct imap_arg *arg, unsigned *attrs_r, const char **error_r)
{
	*attrs_r = 0;
	if (arg->type != IMAP_ARG_LIST) {
		*error_r = "USE needs a list of special-use attributes";
		return -1;
	}
	for (size_t i = 0; i < arg->count; i++) {
		size_t s = 0;
		while (s < SPECIAL_USE_COUNT && !imap_arg_atom_is(&arg->list[i], special_use_attrs[s].name))
			s++;
		if (s == SPECIAL_USE_COUNT) {
			*error_r = "unknown special-use attribute";
			return -1;
		}
		*attrs_r |= special_use_attrs[s].attr;
	}
	return 0;
}

/* ---- STATUS -------------------------------------------------------------------- */

int imap_status_items_parse(const struct imap_arg *arg, unsigned *items_r, const char **error_r)
{
	*items_r = 0;
	if (arg->type != IMAP_ARG_LIST || arg->count == 0) {
		*error_r = "STATUS needs a list of items";
		return -1;
	}
	for (size_t i = 0; i < arg->count; i++) {
		size_t s = 0;
		while (s < STATUS_ITEM_COUNT && !imap_arg_atom_is(&arg->list[i], status_items[s].name))
			s++;
		if (s == STATUS_ITEM_COUNT) {
			*error_r = "unknown STATUS item";
			return -1;
		}
		*items_r |= status_items[s].item;
	}
	return 0;
}

void imap_status_append(struct buf *out, const char *name, unsigned items,
			const struct mailbox_status *status, bool utf8)
{
	const char *sep = "";
	buf_append_str(out, "* STATUS ");
	imap_mailbox_name_append(out, name, utf8);
	buf_append_str(out, " (");
	for (size_t i = 0; i < STATUS_ITEM_COUNT; i++) {
		unsigned item = status_items[i].item;
		if (!(items & item))
			continue;
		uint64_t v = item == IMAP_STATUS_MESSAGES      ? status->messages :
			     item == IMAP_STATUS_UIDNEXT       ? status->uidnext :
			     item == IMAP_STATUS_UIDVALIDITY   ? status->uidvalidity :
			     item == IMAP_STATUS_UNSEEN        ? status->unseen :
			     item == IMAP_STATUS_DELETED       ? status->deleted :
			     item == IMAP_STATUS_SIZE          ? status->size :
			     item == IMAP_STATUS_HIGHESTMODSEQ ? status->highestmodseq :
								 status->recent;
		buf_printf(out, "%s%s %llu", sep, status_items[i].name, (unsigned long long)v);
		sep = " ";
	}
	buf_append_str(out, ")\r\n");
}

/* ---- flags ---------------------------------------------------------------------- */

int imap_flag_list_parse(const struct imap_arg *arg, uint32_t *flags_r,
			 const struct imap_arg ***keywords_r, size_t *keyword_count_r,
			 const char **error_r)
{
	const struct imap_arg *items = arg;
	size_t count = 1;

	*flags_r = 0;
	*keywords_r = NULL;
	*keyword_count_r = 0;
	if (arg->type == IMAP_ARG_LIST) {
		items = arg->list;
		count = arg->count;
	}
	for (size_t i = 0; i < count; i++) {
		const struct imap_arg *f = &items[i];
		if (f->type != IMAP_ARG_ATOM) {
			*error_r = "flags must be atoms";
			goto fail;
		}
		size_t s = 0;
		while (s < SYSTEM_FLAG_COUNT && !imap_arg_atom_is(f, system_flags[s].name))
			s++;
		if (s < SYSTEM_FLAG_COUNT) {
			*flags_r |= system_flags[s].flag;
			continue;
		}
		/* RFC 9051 2.3.2: \Recent cannot be set; other "\" words are
		 * no flags (flag-extension is reserved) */
		if (f->data[0] == '\\' || strpbrk(f->data, "[]")) {
			*error_r = "invalid flag";
			goto fail;
		}
		*keywords_r = xrealloc(*keywords_r, (*keyword_count_r + 1) * sizeof(**keywords_r));
		(*keywords_r)[(*keyword_count_r)++] = f;
	}
	return 0;
fail:
	free(*keywords_r);
	*keywords_r = NULL;
	*keyword_count_r = 0;
	return -1;
}

void imap_flags_append(struct buf *out, uint32_t flags, uint64_t keywords,
		       char *const *keyword_names, size_t keyword_count, bool recent)
{
	const char *sep = "";
	buf_append_str(out, "(");
	for (size_t i = 0; i < SYSTEM_FLAG_COUNT; i++) {
		if (flags & system_flags[i].flag) {
			buf_printf(out, "%s%s", sep, system_flags[i].name);
			sep = " ";
		}
	}
	if (recent) {
		buf_printf(out, "%s\\Recent", sep);
		sep = " ";
	}
	for (size_t i = 0; i < keyword_count && i < 64; i++) {
		if (keywords & ((uint64_t)1 << i)) {
			buf_printf(out, "%s%s", sep, keyword_names[i]);
			sep = " ";
		}
	}
	buf_append_str(out, ")");
}

void imap_uidset_append(struct buf *out, const uint32_t *uids, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t k = i;
		while (k + 1 < n && uids[k + 1] == uids[k] + 1)
			k++;
		buf_printf(out, "%s%u", i ? "," : "", uids[i]);
		if (k > i)
			buf_printf(out, ":%u", uids[k]);
		i = k + 1;
	}
}
