/* imap/cmd-store - STORE and UID STORE (RFC 9051 6.4.6, 6.4.9): FLAGS,
 * +FLAGS, -FLAGS and their .SILENT forms, and RFC 7162's UNCHANGEDSINCE
 * (3.1.3: the messages changed since are left alone and named in
 * [MODIFIED]).  A mailbox job (cmd-select.c) around mailbox_store_flags.
 *
 * Each message asked for gets an untagged FETCH with its flags as they now
 * are (with UID for UID STORE, MODSEQ once CONDSTORE is on), unless
 * .SILENT; under CONDSTORE a .SILENT STORE still reports the MODSEQ of the
 * messages it changed (RFC 7162 3.1.3 and its example).
 */
#include "imap/session.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mailbox/mailbox.h"
#include "util/buf.h"
#include "util/xalloc.h"

struct store_job {
	struct imap_mbox_job m;    /* first */
	struct imap_seqset set;
	bool uid;
	bool silent;
	enum mailbox_store_mode mode;
	uint32_t flags;
	char **keywords;
	size_t keyword_count;
	bool unchangedsince_set;
	uint64_t unchangedsince;
};

static void store_work(struct imap_job *job);
static void store_free(struct imap_job *job);
static int store_keywords(struct store_job *j, uint64_t *keywords_r);

static int u32_compare(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* imap_cmd_store - STORE's arguments checked on the loop: the set, the
 * modifiers, the item, the flags; the change runs on a worker */
void imap_cmd_store(struct imap_session *s, const struct imap_command *cmd, bool uid)
{
	const char *error = "STORE takes a message set, an item and flags";
	struct imap_seqset set = { 0 };
	const struct imap_arg **keywords = NULL;
	size_t nkw = 0, pos = 1;
	uint32_t flags = 0;
	bool unchangedsince_set = false;
	uint64_t unchangedsince = 0;

	if (cmd->count < 3 || cmd->args[0].type != IMAP_ARG_ATOM ||
	    imap_seqset_parse(cmd->args[0].data, cmd->args[0].len, &set, &error) != 0)
		goto bad;
	/* RFC 7162 3.1.3: store-modifiers, "(UNCHANGEDSINCE n)" */
	if (cmd->args[1].type == IMAP_ARG_LIST) {
		const struct imap_arg *mods = &cmd->args[1];
		if (mods->count != 2 || !imap_arg_atom_is(&mods->list[0], "UNCHANGEDSINCE") ||
		    mods->list[1].type != IMAP_ARG_ATOM) {
			error = "Unknown STORE modifier";
			goto bad;
		}
		char *end;
		const char *n = mods->list[1].data;
		unchangedsince = strtoull(n, &end, 10);
		if (*n < '0' || *n > '9' || *end != '\0' || mods->list[1].len > 19) {
			error = "Invalid UNCHANGEDSINCE";
			goto bad;
		}
		unchangedsince_set = true;
		pos = 2;
	}
	if (cmd->count != pos + 2 || cmd->args[pos].type != IMAP_ARG_ATOM)
		goto bad;
	const char *item = cmd->args[pos].data;
	enum mailbox_store_mode mode = MAILBOX_STORE_SET;
	if (*item == '+' || *item == '-') {
		mode = *item == '+' ? MAILBOX_STORE_ADD : MAILBOX_STORE_REMOVE;
		item++;
	}
	bool silent = strcasecmp(item, "FLAGS.SILENT") == 0;
	if (!silent && strcasecmp(item, "FLAGS") != 0) {
		error = "STORE's item is FLAGS, +FLAGS or -FLAGS (.SILENT)";
		goto bad;
	}
	if (imap_flag_list_parse(&cmd->args[pos + 1], &flags, &keywords, &nkw, &error) != 0)
		goto bad;
	if (s->read_only) {
		imap_seqset_free(&set);
		free(keywords);
		imap_reply_no(s, "READ-ONLY", "The mailbox is read-only (EXAMINE)");
		return;
	}
	if (unchangedsince_set)   /* RFC 7162 3.1: CONDSTORE-enabling */
		s->enabled |= IMAP_ENABLED_CONDSTORE;
	struct store_job *j = xcalloc(1, sizeof(*j));
	/* RFC 9051 7.4.1: no EXPUNGE during STORE by sequence numbers */
	imap_mbox_job_init(s, &j->m, uid, store_work, NULL, store_free);
	j->set = set;
	j->uid = uid;
	j->silent = silent;
	j->mode = mode;
	j->flags = flags;
	j->keywords = xcalloc(nkw ? nkw : 1, sizeof(*j->keywords));
	for (size_t k = 0; k < nkw; k++)
		j->keywords[j->keyword_count++] = xstrndup(keywords[k]->data, keywords[k]->len);
	free(keywords);
	j->unchangedsince_set = unchangedsince_set;
	j->unchangedsince = unchangedsince;
	imap_session_async(s, &j->m.base);
	return;
bad:
	if (set.ranges)
		imap_seqset_free(&set);
	imap_reply_bad(s, NULL, "%s", error);
}

static void store_free(struct imap_job *job)
{
	struct store_job *j = (struct store_job *)job;
	imap_seqset_free(&j->set);
	for (size_t i = 0; i < j->keyword_count; i++)
		free(j->keywords[i]);
	free(j->keywords);
	imap_mbox_job_fields_free(&j->m);
	free(j);
}

/* store_keywords - (worker) the bits of the job's keywords: new ones are
 * made for FLAGS and +FLAGS; -FLAGS ignores those the folder does not have */
static int store_keywords(struct store_job *j, uint64_t *keywords_r)
{
	struct mailbox *mailbox = mailbox_view_mailbox(j->m.view);
	struct mailbox_error error;
	*keywords_r = 0;
	for (size_t i = 0; i < j->keyword_count; i++) {
		unsigned index;
		bool create = j->mode != MAILBOX_STORE_REMOVE;
		if (mailbox_keyword_find(mailbox, j->keywords[i], create, &index, &error) != 0) {
			if (!create && error.code == MAILBOX_ERROR_NONEXISTENT)
				continue;
			imap_mbox_job_error(&j->m, "store", &error, false);
			return -1;
		}
		*keywords_r |= (uint64_t)1 << index;
	}
	return 0;
}

/* store_work - (worker) the messages of the set, their flags changed, the
 * untagged FETCH answers and [MODIFIED] */
static void store_work(struct imap_job *job)
{
	struct store_job *j = (struct store_job *)job;
	struct mailbox_view *view = j->m.view;
	uint32_t count = mailbox_view_count(view);
	uint32_t *uids = NULL;
	struct mailbox_store_result result = { 0 };
	struct mailbox_error error;
	uint64_t keywords;
	size_t n = 0, keyword_count = 0;
	char **names = NULL;
	bool updated = false;
	bool condstore = (j->m.enabled & (IMAP_ENABLED_CONDSTORE | IMAP_ENABLED_QRESYNC)) != 0;

	imap_mbox_job_seqset_resolve(&j->m, &j->set, j->uid);
	if (!j->uid) {
		for (size_t r = 0; r < j->set.count; r++) {
			if (j->set.ranges[r].lo == 0 || j->set.ranges[r].hi > count) {
				imap_mbox_job_reply(&j->m, IMAP_BAD, NULL,
						    "Invalid message sequence number");
				goto out;
			}
		}
	}
	uids = imap_mbox_job_set_uids(&j->m, &j->set, j->uid, &n);
	if (store_keywords(j, &keywords) != 0)
		goto out;
	if (j->unchangedsince_set && j->unchangedsince == 0) {
		/* RFC 7162 3.1.3: every message has a MODSEQ above 0, so
		 * none may be changed; mailbox/ takes 0 as no condition */
		result.modified_uids = xcalloc(n ? n : 1, sizeof(*result.modified_uids));
		memcpy(result.modified_uids, uids, n * sizeof(*uids));
		result.modified_count = n;
	} else if (n > 0 && mailbox_store_flags(view, uids, n, j->mode, j->flags, keywords,
					       j->unchangedsince_set ? j->unchangedsince : 0,
					       &result, &error) != 0) {
		imap_mbox_job_error(&j->m, "store", &error, false);
		goto out;
	}
	/* what changed meanwhile first: a new keyword's FLAGS before the
	 * answers that name it (RFC 9051 7.3.5) */
	imap_mbox_job_updates(&j->m);
	updated = true;
	names = mailbox_keywords_get(mailbox_view_mailbox(view), &keyword_count);
	for (size_t i = 0; i < result.stored_count; i++) {
		const struct mailbox_flag_change *c = &result.stored[i];
		uint32_t seq = mailbox_view_seq(view, c->uid);
		if (seq == 0)
			continue;
		if (j->silent) {
			/* RFC 7162 3.1.3: MODSEQ of what changed, even when silent */
			if (condstore && j->unchangedsince_set && j->uid)
				buf_printf(&j->m.out, "* %u FETCH (UID %u MODSEQ (%llu))\r\n", seq,
					   c->uid, (unsigned long long)c->modseq);
			else if (condstore && j->unchangedsince_set)
				buf_printf(&j->m.out, "* %u FETCH (MODSEQ (%llu))\r\n", seq,
					   (unsigned long long)c->modseq);
			continue;
		}
		buf_printf(&j->m.out, "* %u FETCH (", seq);
		if (j->uid)
			buf_printf(&j->m.out, "UID %u ", c->uid);
		buf_append_str(&j->m.out, "FLAGS ");
		struct mailbox_message msg;
		bool recent = !(j->m.enabled & IMAP_ENABLED_REV2) &&
			      mailbox_view_message(view, seq, &msg) == 0 && msg.recent;
		imap_flags_append(&j->m.out, c->flags, c->keywords, names, keyword_count, recent);
		if (condstore)
			buf_printf(&j->m.out, " MODSEQ (%llu)", (unsigned long long)c->modseq);
		buf_append_str(&j->m.out, ")\r\n");
	}
	const char *prefix = j->uid ? "UID " : "";
	if (result.modified_count > 0) {
		/* RFC 7162 3.1.3: [MODIFIED set] names them (UIDs for UID STORE) */
		uint32_t *ids = xcalloc(result.modified_count, sizeof(*ids));
		size_t m = 0;
		for (size_t i = 0; i < result.modified_count; i++) {
			uint32_t id = j->uid ? result.modified_uids[i]
					     : mailbox_view_seq(view, result.modified_uids[i]);
			if (id != 0)
				ids[m++] = id;
		}
		qsort(ids, m, sizeof(*ids), u32_compare);
		struct buf code;
		buf_init(&code);
		buf_append_str(&code, "MODIFIED ");
		imap_uidset_append(&code, ids, m);
		imap_mbox_job_reply(&j->m, IMAP_OK, code.data, "Conditional %sSTORE failed for some",
				    prefix);
		buf_free(&code);
		free(ids);
	} else {
		imap_mbox_job_reply(&j->m, IMAP_OK, NULL, "%sSTORE completed", prefix);
	}
out:
	for (size_t i = 0; i < keyword_count; i++)
		free(names[i]);
	free(names);
	if (result.stored || result.modified_uids)
		mailbox_store_result_free(&result);
	free(uids);
	if (!updated)
		imap_mbox_job_updates(&j->m);
}
