/* imap/cmd-select - the selected mailbox: SELECT and EXAMINE (RFC 9051
 * 6.3.2-3, RFC 7162 CONDSTORE and QRESYNC), CLOSE, UNSELECT (RFC 3691),
 * EXPUNGE and UID EXPUNGE (RFC 4315), NOOP's poll, and the untagged
 * updates (EXISTS, EXPUNGE or VANISHED, FETCH FLAGS) every command run with
 * a mailbox selected ends with (RFC 9051 5.2 and 7.4.1).
 *
 * Every command here runs as a mailbox job (struct imap_mbox_job): its
 * disk work and the update of the session's view run on a pool worker,
 * which also writes the untagged lines into the job's buffer; the loop
 * only sends them and the tagged reply.
 */
#include "imap/session.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "mailbox/mailbox.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/xalloc.h"

struct select_job {
	struct imap_mbox_job m;        /* first */
	char *name;
	bool read_only;
	struct mailbox_view *old_view; /* the mailbox selected before, freed here */
	bool had_view;
	/* QRESYNC (RFC 7162 3.2.5): what the client knows */
	bool qresync;
	uint32_t known_uidvalidity;
	uint64_t known_modseq;
	struct imap_seqset known_uids; /* count 0: none given */
};

struct expunge_job {
	struct imap_mbox_job m;
	struct imap_seqset uids;       /* UID EXPUNGE's set, else count 0 */
	bool uid;
	bool close;                    /* CLOSE: expunge silently, then unselect */
	bool unselect;                 /* UNSELECT: unselect only */
};

static int number_parse(const struct imap_arg *arg, uint64_t *value_r);
static void select_work(struct imap_job *job);
static void select_done(struct imap_session *s, struct imap_job *job);
static void select_free(struct imap_job *job);
static void select_qresync_append(struct select_job *j, const struct mailbox_status *st);
static void select_list_append(struct select_job *j);
static int select_params_parse(struct imap_session *s, const struct imap_arg *arg,
			       struct select_job *j, const char **error_r);
static void expunge_work(struct imap_job *job);
static void expunge_done(struct imap_session *s, struct imap_job *job);
static void expunge_free(struct imap_job *job);
static void expunge_start(struct imap_session *s, struct expunge_job *j);
static void mbox_job_simple_free(struct imap_job *job);
static void flags_lines_append(struct buf *out, char *const *names, size_t count, bool read_only);

/* ---- mailbox jobs (session.h) ---------------------------------------------------- */

void imap_mbox_job_init(struct imap_session *s, struct imap_mbox_job *j, bool expunges,
			void (*work)(struct imap_job *), void (*done)(struct imap_session *,
								      struct imap_job *),
			void (*free_fn)(struct imap_job *))
{
	j->base.work = work;
	j->base.done = done ? done : imap_mbox_job_done;
	j->base.free = free_fn ? free_fn : mbox_job_simple_free;
	j->data_dir = xstrdup(s->config->data_dir);
	j->account = s->account ? xstrdup(s->account) : NULL;
	j->enabled = s->enabled;
	j->read_only = s->read_only;
	j->view = s->view;
	j->saved_uids = s->saved_uids;
	j->saved_count = s->saved_count;
	j->expunges = expunges;
	j->status = IMAP_OK;
	buf_init(&j->out);
}

void imap_mbox_job_fields_free(struct imap_mbox_job *j)
{
	free(j->data_dir);
	free(j->account);
	free(j->text);
	buf_free(&j->out);
}

static void mbox_job_simple_free(struct imap_job *job)
{
	struct imap_mbox_job *j = (struct imap_mbox_job *)job;
	imap_mbox_job_fields_free(j);
	free(j);
}

void imap_mbox_job_reply(struct imap_mbox_job *j, enum imap_status status, const char *code,
			 const char *fmt, ...)
{
	va_list ap;
	j->status = status;
	snprintf(j->code, sizeof(j->code), "%s", code ? code : "");
	free(j->text);
	va_start(ap, fmt);
	j->text = xvasprintf(fmt, ap);
	va_end(ap);
}

void imap_mbox_job_error(struct imap_mbox_job *j, const char *what,
			 const struct mailbox_error *error, bool trycreate)
{
	const char *code;
	switch (error->code) {
	case MAILBOX_ERROR_NONEXISTENT:
	case MAILBOX_ERROR_DELETED:
		/* RFC 9051 7.1: TRYCREATE where creating it would help */
		code = trycreate ? "TRYCREATE" : "NONEXISTENT";
		break;
	case MAILBOX_ERROR_EXISTS: code = "ALREADYEXISTS"; break;
	case MAILBOX_ERROR_BAD_NAME:
	case MAILBOX_ERROR_CANNOT: code = "CANNOT"; break;
	case MAILBOX_ERROR_EXPUNGED: code = "EXPUNGEISSUED"; break;
	case MAILBOX_ERROR_LIMIT: code = "LIMIT"; break;
	case MAILBOX_ERROR_OVERQUOTA: code = "OVERQUOTA"; break;
	default: code = "UNAVAILABLE"; break;
	}
	if (error->code == MAILBOX_ERROR_TEMPORARY)
		log_warn("imap-mailbox-error", "what=%s account=%s error=\"%s\" errno=%d", what,
			 j->account ? j->account : "-", error->text ? error->text : "",
			 error->sys_errno);
	imap_mbox_job_reply(j, IMAP_NO, code, "%s", error->text ? error->text : "failed");
}

/* saved_range_add - N (ascending) to the ranges of SET, merged with the
 * last range when it follows it */
static void saved_range_add(struct imap_seqset *set, size_t *cap, uint32_t n)
{
	if (set->count && set->ranges[set->count - 1].hi + 1 == n) {
		set->ranges[set->count - 1].hi = n;
		return;
	}
	if (set->count == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		set->ranges = xrealloc(set->ranges, *cap * sizeof(*set->ranges));
	}
	set->ranges[set->count].lo = n;
	set->ranges[set->count].hi = n;
	set->count++;
}

void imap_mbox_job_seqset_resolve(struct imap_mbox_job *j, struct imap_seqset *set, bool uid)
{
	uint32_t count = mailbox_view_count(j->view);
	if (set->saved) {
		/* RFC 5182 2.1: the saved UIDs, less those expunged since (the
		 * view's numbers ascend with its UIDs, so the set's do too) */
		size_t cap = 0;
		set->saved = false;
		for (size_t i = 0; i < j->saved_count; i++) {
			struct mailbox_message msg;
			uint32_t seq = mailbox_view_seq(j->view, j->saved_uids[i]);
			if (seq == 0 || mailbox_view_message(j->view, seq, &msg) != 0 || msg.expunged)
				continue;
			saved_range_add(set, &cap, uid ? msg.uid : seq);
		}
	}
	imap_seqset_resolve(set, uid ? (count ? mailbox_view_uid(j->view, count) : 0) : count);
}

struct imap_seq_range *imap_mbox_job_seq_runs(struct imap_mbox_job *j, struct imap_seqset *set,
					      bool uid, size_t *nruns_r, size_t *count_r)
{
	imap_seqset_normalize(set);
	/* sorted and disjoint: so are the sequence numbers of their UIDs */
	struct imap_seq_range *runs = xcalloc(set->count ? set->count : 1, sizeof(*runs));
	size_t nruns = 0, count = 0;
	for (size_t r = 0; r < set->count; r++) {
		uint32_t lo = set->ranges[r].lo, hi = set->ranges[r].hi;
		if (uid && !mailbox_view_seq_range(j->view, lo, hi, &lo, &hi))
			continue;
		runs[nruns++] = (struct imap_seq_range){ .lo = lo, .hi = hi };
		count += (size_t)(hi - lo) + 1;
	}
	*nruns_r = nruns;
	*count_r = count;
	return runs;
}

uint32_t *imap_mbox_job_set_uids(struct imap_mbox_job *j, struct imap_seqset *set, bool uid,
				 size_t *count_r)
{
	size_t nruns, count, n = 0;
	struct imap_seq_range *runs = imap_mbox_job_seq_runs(j, set, uid, &nruns, &count);
	uint32_t *uids = xcalloc(count ? count : 1, sizeof(*uids));
	for (size_t r = 0; r < nruns; r++)
		for (uint64_t seq = runs[r].lo; seq <= runs[r].hi; seq++)
			uids[n++] = mailbox_view_uid(j->view, (uint32_t)seq);
	free(runs);
	*count_r = n;
	return uids;
}

void imap_session_saved_reset(struct imap_session *s)
{
	free(s->saved_uids);
	s->saved_uids = NULL;
	s->saved_count = 0;
}

void imap_mbox_job_updates(struct imap_mbox_job *j)
{
	if (j->view)
		j->deleted = imap_changes_work(j->view, j->enabled, j->read_only, j->expunges,
					       &j->out);
}

void imap_mbox_job_done(struct imap_session *s, struct imap_job *job)
{
	struct imap_mbox_job *j = (struct imap_mbox_job *)job;
	imap_reply_buf(s, &j->out);
	if (j->deleted) {
		/* the selected folder was deleted by another session: there is
		 * nothing left to show (RFC 9051 7.1.5 allows BYE) */
		imap_session_bye(s, "The selected mailbox was deleted");
		return;
	}
	const char *code = j->code[0] ? j->code : NULL;
	const char *text = j->text ? j->text : "completed";
	if (j->status == IMAP_OK)
		imap_reply_ok(s, code, "%s", text);
	else if (j->status == IMAP_NO)
		imap_reply_no(s, code, "%s", text);
	else
		imap_reply_bad(s, code, "%s", text);
}

/* ---- untagged updates ------------------------------------------------------------ */

static int u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* flags_lines_append - FLAGS and PERMANENTFLAGS (RFC 9051 7.3.5, 7.1):
 * every system flag and known keyword; "\*" while keywords can be made */
static void flags_lines_append(struct buf *out, char *const *names, size_t count, bool read_only)
{
	uint64_t all = count >= 64 ? UINT64_MAX : ((uint64_t)1 << count) - 1;
	buf_append_str(out, "* FLAGS ");
	imap_flags_append(out, MAILBOX_FLAGS_ALL, all, names, count, false);
	buf_append_str(out, "\r\n* OK [PERMANENTFLAGS ");
	if (read_only) {
		buf_append_str(out, "()");
	} else {
		imap_flags_append(out, MAILBOX_FLAGS_ALL, all, names, count, false);
		if (count < MAILBOX_KEYWORDS_MAX) {
			out->len--;   /* the ")" */
			buf_append_str(out, " \\*)");
		}
	}
	buf_append_str(out, "] Flags permitted\r\n");
}

bool imap_changes_work(struct mailbox_view *view, unsigned enabled, bool read_only,
		       bool expunges, struct buf *out)
{
	struct mailbox_changes ch;
	struct mailbox_error error;
	char **names = NULL;
	size_t nnames = 0;

	if (mailbox_view_update(view, expunges, &ch, &error) != 0) {
		/* the next command tries again */
		log_warn("imap-update-failed", "error=\"%s\" errno=%d", error.text, error.sys_errno);
		return false;
	}
	if (ch.deleted) {
		mailbox_changes_free(&ch);
		return true;
	}
	if (ch.expunged_count && (enabled & IMAP_ENABLED_QRESYNC)) {
		/* RFC 7162 3.2.10: VANISHED instead of EXPUNGE */
		qsort(ch.expunged_uids, ch.expunged_count, sizeof(uint32_t), u32_cmp);
		buf_append_str(out, "* VANISHED ");
		imap_uidset_append(out, ch.expunged_uids, ch.expunged_count);
		buf_append_str(out, "\r\n");
	} else {
		for (size_t i = 0; i < ch.expunged_count; i++)
			buf_printf(out, "* %u EXPUNGE\r\n", ch.expunged_seqs[i]);
	}
	if (ch.keywords_changed || ch.flag_change_count)
		names = mailbox_keywords_get(mailbox_view_mailbox(view), &nnames);
	if (ch.keywords_changed)
		flags_lines_append(out, names, nnames, read_only);
	if (ch.exists_changed) {
		buf_printf(out, "* %u EXISTS\r\n", ch.exists);
		if (!(enabled & IMAP_ENABLED_REV2)) {
			struct mailbox_status st;
			mailbox_view_status(view, &st);
			buf_printf(out, "* %u RECENT\r\n", st.recent);
		}
	}
	for (size_t i = 0; i < ch.flag_change_count; i++) {
		const struct mailbox_flag_change *fc = &ch.flag_changes[i];
		struct mailbox_message msg;
		/* RFC 9051 2.3.2: IMAP4rev2 has no \Recent */
		bool recent = !(enabled & IMAP_ENABLED_REV2) &&
			      mailbox_view_message(view, fc->seq, &msg) == 0 && msg.recent;
		buf_printf(out, "* %u FETCH (", fc->seq);
		/* RFC 7162 3.2.4: with QRESYNC every FETCH carries the UID */
		if (enabled & IMAP_ENABLED_QRESYNC)
			buf_printf(out, "UID %u ", fc->uid);
		buf_append_str(out, "FLAGS ");
		imap_flags_append(out, fc->flags, fc->keywords, names, nnames, recent);
		/* RFC 7162 3.1.4: and with CONDSTORE its MODSEQ */
		if (enabled & (IMAP_ENABLED_CONDSTORE | IMAP_ENABLED_QRESYNC))
			buf_printf(out, " MODSEQ (%llu)", (unsigned long long)fc->modseq);
		buf_append_str(out, ")\r\n");
	}
	for (size_t i = 0; i < nnames; i++)
		free(names[i]);
	free(names);
	mailbox_changes_free(&ch);
	return false;
}

/* ---- SELECT, EXAMINE ----------------------------------------------------------- */

/* number_parse - an atom of 1 to 19 digits (RFC 9051 9 number64) */
static int number_parse(const struct imap_arg *arg, uint64_t *value_r)
{
	uint64_t v = 0;
	if (arg->type != IMAP_ARG_ATOM || arg->len == 0 || arg->len > 19)
		return -1;
	for (size_t i = 0; i < arg->len; i++) {
		if (arg->data[i] < '0' || arg->data[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(arg->data[i] - '0');
	}
	*value_r = v;
	return 0;
}

/* select_params_parse - SELECT's parameter list (RFC 4466 2.1): CONDSTORE
 * (RFC 7162 3.1.8) and QRESYNC (uidvalidity modseq [known-uids
 * [seq-match-data]], 3.2.5), the latter only once enabled */
static int select_params_parse(struct imap_session *s, const struct imap_arg *arg,
			       struct select_job *j, const char **error_r)
{
	for (size_t i = 0; i < arg->count; i++) {
		const struct imap_arg *p = &arg->list[i];
		if (imap_arg_atom_is(p, "CONDSTORE")) {
			j->m.enabled |= IMAP_ENABLED_CONDSTORE;
			continue;
		}
		if (!imap_arg_atom_is(p, "QRESYNC") || i + 1 >= arg->count ||
		    arg->list[i + 1].type != IMAP_ARG_LIST) {
			*error_r = "unknown SELECT parameter";
			return -1;
		}
		if (!(s->enabled & IMAP_ENABLED_QRESYNC)) {
			*error_r = "QRESYNC is not enabled";
			return -1;
		}
		const struct imap_arg *q = &arg->list[++i];
		uint64_t v, m;
		if (q->count < 2 || q->count > 4 || number_parse(&q->list[0], &v) != 0 ||
		    number_parse(&q->list[1], &m) != 0 || v == 0 || v > UINT32_MAX || m == 0) {
			*error_r = "invalid QRESYNC parameter";
			return -1;
		}
		j->qresync = true;
		j->known_uidvalidity = (uint32_t)v;
		j->known_modseq = m;
		if (q->count >= 3) {
			if (q->list[2].type != IMAP_ARG_ATOM ||
			    imap_seqset_parse(q->list[2].data, q->list[2].len, &j->known_uids,
					      error_r) != 0 || j->known_uids.saved) {
				imap_seqset_free(&j->known_uids);
				memset(&j->known_uids, 0, sizeof(j->known_uids));
				*error_r = "invalid QRESYNC known UIDs";
				return -1;
			}
		}
		/* seq-match-data (4th) is a hint we need not use (3.2.5.2) */
		j->m.enabled |= IMAP_ENABLED_CONDSTORE;
	}
	return 0;
}

static void select_common(struct imap_session *s, const struct imap_command *cmd, bool read_only)
{
	const char *error = "invalid SELECT arguments";
	char *name = NULL;

	if (cmd->count < 1 || cmd->count > 2 ||
	    imap_mailbox_name_decode(&cmd->args[0], (s->enabled & IMAP_ENABLED_UTF8_NAMES) != 0,
				     &name) != 0 ||
	    (cmd->count == 2 && cmd->args[1].type != IMAP_ARG_LIST)) {
		free(name);
		imap_reply_bad(s, NULL, "%s", error);
		return;
	}
	struct select_job *j = xcalloc(1, sizeof(*j));
	/* the old view goes with the job: the session has none meanwhile, and
	 * a failed SELECT leaves none (RFC 9051 6.3.2) */
	imap_mbox_job_init(s, &j->m, true, select_work, select_done, select_free);
	j->m.view = NULL;
	j->name = name;
	j->read_only = read_only;
	if (cmd->count == 2 && select_params_parse(s, &cmd->args[1], j, &error) != 0) {
		select_free(&j->m.base);
		imap_reply_bad(s, NULL, "%s", error);
		return;
	}
	/* RFC 5182 2.1: a new mailbox starts with nothing saved */
	imap_session_saved_reset(s);
	j->m.saved_uids = NULL;
	j->m.saved_count = 0;
	j->old_view = s->view;
	j->had_view = s->view != NULL;
	s->view = NULL;
	free(s->mailbox_name);
	s->mailbox_name = NULL;
	s->state = IMAP_STATE_AUTHENTICATED;
	imap_session_async(s, &j->m.base);
}

void imap_cmd_select(struct imap_session *s, const struct imap_command *cmd, bool uid)
{
	(void)uid;
	select_common(s, cmd, false);
}

void imap_cmd_examine(struct imap_session *s, const struct imap_command *cmd, bool uid)
{
	(void)uid;
	select_common(s, cmd, true);
}

static int range_cmp(const void *a, const void *b)
{
	const struct imap_seq_range *x = a, *y = b;
	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* gap_append - LO:HI (or LO) to a sequence set being written */
static void gap_append(struct buf *out, uint64_t lo, uint64_t hi)
{
	buf_printf(out, "%s%llu", out->len ? "," : "", (unsigned long long)lo);
	if (hi > lo)
		buf_printf(out, ":%llu", (unsigned long long)hi);
}

void imap_vanished_append(struct mailbox_view *view, const struct imap_seq_range *ranges,
			  size_t n, uint32_t top, struct buf *out)
{
	/* the gaps between the view's UIDs within the ranges, in time linear
	 * in the view and the ranges whatever the numbers */
	struct buf gone;
	buf_init(&gone);
	uint64_t next = 1;   /* UIDs below it are dealt with */
	for (size_t r = 0; r < n; r++) {
		uint64_t lo = ranges[r].lo > next ? ranges[r].lo : next;
		uint64_t hi = ranges[r].hi < top ? ranges[r].hi : top;
		uint32_t first, last;
		if (lo > hi)
			continue;
		if (mailbox_view_seq_range(view, (uint32_t)lo, (uint32_t)hi, &first, &last)) {
			for (uint32_t seq = first; seq <= last; seq++) {
				uint32_t uid = mailbox_view_uid(view, seq);
				if (uid > lo)
					gap_append(&gone, lo, uid - 1);
				lo = (uint64_t)uid + 1;
			}
		}
		if (lo <= hi)
			gap_append(&gone, lo, hi);
		next = hi + 1;
	}
	if (gone.len) {
		buf_append_str(out, "* VANISHED (EARLIER) ");
		buf_append(out, gone.data, gone.len);
		buf_append_str(out, "\r\n");
	}
	buf_free(&gone);
}

/* select_qresync_append - RFC 7162 3.2.5.1: the messages changed since the
 * client's MODSEQ (FETCH with UID, FLAGS, MODSEQ), then those of its known
 * UIDs (or all below UIDNEXT) that are gone (VANISHED (EARLIER)).  Expunges
 * are not remembered, so every missing UID is sent, as the RFC allows. */
static void select_qresync_append(struct select_job *j, const struct mailbox_status *st)
{
	struct mailbox_view *view = j->m.view;
	uint32_t count = mailbox_view_count(view);
	char **names;
	size_t nnames;
	struct imap_seqset *known = &j->known_uids;

	if (j->known_uidvalidity != st->uidvalidity)
		return;
	if (known->count)
		imap_seqset_resolve(known, st->uidnext ? st->uidnext - 1 : 0);
	names = mailbox_keywords_get(mailbox_view_mailbox(view), &nnames);
	/* VANISHED (EARLIER) comes first (3.2.5.1) */
	uint32_t top = st->uidnext ? st->uidnext - 1 : 0;
	struct imap_seq_range all = { 1, top };
	size_t nranges = known->count ? known->count : (top >= 1 ? 1 : 0);
	struct imap_seq_range *ranges = xcalloc(nranges ? nranges : 1, sizeof(*ranges));
	memcpy(ranges, known->count ? known->ranges : &all, nranges * sizeof(*ranges));
	qsort(ranges, nranges, sizeof(*ranges), range_cmp);
	imap_vanished_append(view, ranges, nranges, top, &j->m.out);
	free(ranges);
	for (uint32_t seq = 1; seq <= count; seq++) {
		struct mailbox_message msg;
		if (mailbox_view_message(view, seq, &msg) != 0 || msg.modseq <= j->known_modseq)
			continue;
		if (known->count && !imap_seqset_contains(known, msg.uid))
			continue;
		buf_printf(&j->m.out, "* %u FETCH (UID %u FLAGS ", seq, msg.uid);
		imap_flags_append(&j->m.out, msg.flags, msg.keywords, names, nnames,
				  msg.recent && !(j->m.enabled & IMAP_ENABLED_REV2));
		buf_printf(&j->m.out, " MODSEQ (%llu))\r\n", (unsigned long long)msg.modseq);
	}
	for (size_t i = 0; i < nnames; i++)
		free(names[i]);
	free(names);
}

/* select_list_append - (worker) RFC 9051 6.3.2: the LIST line of the
 * mailbox selected, its name as LIST gives it and the attributes LIST
 * gives it (children, special use) */
static void select_list_append(struct select_job *j)
{
	struct mailbox_folder *folders;
	struct mailbox_error error;
	size_t count;
	bool utf8 = (j->m.enabled & IMAP_ENABLED_UTF8_NAMES) != 0;

	if (mailbox_folder_list(j->m.data_dir, j->m.account, &folders, &count, &error) == 0) {
		for (size_t i = 0; i < count; i++) {
			unsigned none = MAILBOX_FOLDER_NOSELECT | MAILBOX_FOLDER_NONEXISTENT;
			if (strcmp(folders[i].name, j->name) != 0 || (folders[i].attrs & none))
				continue;
			struct imap_list plain = { 0 };
			struct imap_list_entry entry = { .folder = &folders[i], .selected = true };
			imap_list_entry_append(&j->m.out, &plain, &entry, utf8);
			mailbox_folders_free(folders, count);
			return;
		}
		mailbox_folders_free(folders, count);
	}
	/* the listing failed, or the folder went since it was opened: its
	 * name still (the answer must have a LIST line) */
	buf_append_str(&j->m.out, "* LIST () \"/\" ");
	imap_mailbox_name_append(&j->m.out, j->name, utf8);
	buf_append_str(&j->m.out, "\r\n");
}

static void select_work(struct imap_job *job)
{
	struct select_job *j = (struct select_job *)job;
	struct mailbox *mailbox = NULL;
	struct mailbox_error error;
	struct mailbox_status st;

	mailbox_view_free(&j->old_view);
	/* RFC 9051 6.3.2, RFC 7162 3.2.11: the old mailbox is closed */
	if (j->had_view)
		buf_append_str(&j->m.out, "* OK [CLOSED] Previous mailbox closed\r\n");
	if (mailbox_open(j->m.data_dir, j->m.account, j->name, &mailbox, &error) != 0 ||
	    mailbox_view_select(mailbox, j->read_only, &j->m.view, &st, &error) != 0) {
		mailbox_unref(&mailbox);
		imap_mbox_job_error(&j->m, "select", &error, false);
		return;
	}
	mailbox_unref(&mailbox);
	size_t nnames;
	char **names = mailbox_keywords_get(mailbox_view_mailbox(j->m.view), &nnames);
	flags_lines_append(&j->m.out, names, nnames, j->read_only);
	for (size_t i = 0; i < nnames; i++)
		free(names[i]);
	free(names);
	buf_printf(&j->m.out, "* %u EXISTS\r\n", st.messages);
	if (!(j->m.enabled & IMAP_ENABLED_REV2)) {
		/* IMAP4rev1 only (RFC 3501 6.3.1): RECENT and the first unseen */
		buf_printf(&j->m.out, "* %u RECENT\r\n", st.recent);
		if (st.first_unseen)
			buf_printf(&j->m.out, "* OK [UNSEEN %u] First unseen\r\n",
				   st.first_unseen);
	}
	buf_printf(&j->m.out, "* OK [UIDVALIDITY %u] UIDs valid\r\n", st.uidvalidity);
	buf_printf(&j->m.out, "* OK [UIDNEXT %u] Predicted next UID\r\n", st.uidnext);
	buf_printf(&j->m.out, "* OK [HIGHESTMODSEQ %llu] Highest\r\n",
		   (unsigned long long)st.highestmodseq);
	if (j->m.enabled & IMAP_ENABLED_REV2)
		select_list_append(j);
	if (j->qresync)
		select_qresync_append(j, &st);
	imap_mbox_job_reply(&j->m, IMAP_OK, j->read_only ? "READ-ONLY" : "READ-WRITE", "%s completed",
			    j->read_only ? "EXAMINE" : "SELECT");
}

static void select_done(struct imap_session *s, struct imap_job *job)
{
	struct select_job *j = (struct select_job *)job;
	if (j->m.status == IMAP_OK) {
		s->view = j->m.view;
		j->m.view = NULL;
		s->mailbox_name = j->name;
		j->name = NULL;
		s->read_only = j->read_only;
		s->enabled |= j->m.enabled & IMAP_ENABLED_CONDSTORE;
		s->state = IMAP_STATE_SELECTED;
	}
	imap_mbox_job_done(s, job);
}

static void select_free(struct imap_job *job)
{
	struct select_job *j = (struct select_job *)job;
	/* a view the session did not take because it went away: it frees the
	 * session's on a worker (session.h) */
	if (j->m.view && !job->session->view)
		job->session->view = j->m.view;
	assert(j->old_view == NULL);
	free(j->name);
	if (j->known_uids.ranges)
		imap_seqset_free(&j->known_uids);
	imap_mbox_job_fields_free(&j->m);
	free(j);
}

/* ---- CLOSE, UNSELECT, EXPUNGE --------------------------------------------------- */

static void expunge_work(struct imap_job *job)
{
	struct expunge_job *j = (struct expunge_job *)job;
	struct mailbox_error error;
	uint32_t *uids = NULL;
	size_t n = 0;

	if (j->unselect || (j->close && j->m.read_only)) {
		mailbox_view_free(&j->m.view);
		return;
	}
	if (j->uid) {
		imap_mbox_job_seqset_resolve(&j->m, &j->uids, true);
		uids = imap_mbox_job_set_uids(&j->m, &j->uids, true, &n);
	}
	int r = !j->uid || n ? mailbox_expunge(j->m.view, j->uid ? uids : NULL, n, NULL, NULL, &error)
			     : 0;
	free(uids);
	if (r != 0) {
		imap_mbox_job_error(&j->m, "expunge", &error, false);
		return;
	}
	if (j->close) {
		/* RFC 9051 6.4.1: CLOSE sends no EXPUNGE responses */
		mailbox_view_free(&j->m.view);
		return;
	}
	imap_mbox_job_updates(&j->m);
}

static void expunge_done(struct imap_session *s, struct imap_job *job)
{
	struct expunge_job *j = (struct expunge_job *)job;
	if (j->close || j->unselect) {
		/* the view is gone on any outcome: the session is unselected */
		free(s->mailbox_name);
		s->mailbox_name = NULL;
		s->read_only = false;
		s->state = IMAP_STATE_AUTHENTICATED;
	}
	imap_mbox_job_done(s, job);
}

static void expunge_free(struct imap_job *job)
{
	struct expunge_job *j = (struct expunge_job *)job;
	if (j->uids.ranges)
		imap_seqset_free(&j->uids);
	imap_mbox_job_fields_free(&j->m);
	free(j);
}

/* expunge_start - CLOSE and UNSELECT take the view from the session (the
 * job frees it); EXPUNGE uses it where it is */
static void expunge_start(struct imap_session *s, struct expunge_job *j)
{
	if (j->close || j->unselect)
		s->view = NULL;
	imap_session_async(s, &j->m.base);
}

void imap_cmd_close(struct imap_session *s, const struct imap_command *cmd, bool uid)
{
	(void)uid;
	if (cmd->count != 0) {
		imap_reply_bad(s, NULL, "CLOSE takes no arguments");
		return;
	}
	imap_session_saved_reset(s);   /* RFC 5182 2.1 */
	struct expunge_job *j = xcalloc(1, sizeof(*j));
	imap_mbox_job_init(s, &j->m, false, expunge_work, expunge_done, expunge_free);
	j->close = true;
	imap_mbox_job_reply(&j->m, IMAP_OK, NULL, "CLOSE completed");
	expunge_start(s, j);
}

void imap_cmd_unselect(struct imap_session *s, const struct imap_command *cmd, bool uid)
{
	(void)uid;
	if (cmd->count != 0) {
		imap_reply_bad(s, NULL, "UNSELECT takes no arguments");
		return;
	}
	imap_session_saved_reset(s);   /* RFC 5182 2.1 */
	struct expunge_job *j = xcalloc(1, sizeof(*j));
	imap_mbox_job_init(s, &j->m, false, expunge_work, expunge_done, expunge_free);
	j->unselect = true;
	imap_mbox_job_reply(&j->m, IMAP_OK, NULL, "UNSELECT completed");
	expunge_start(s, j);
}

void imap_cmd_expunge(struct imap_session *s, const struct imap_command *cmd, bool uid)
{
	const char *error;
	if (cmd->count != (uid ? 1u : 0u) || (uid && cmd->args[0].type != IMAP_ARG_ATOM)) {
		imap_reply_bad(s, NULL, uid ? "UID EXPUNGE takes a UID set" :
					      "EXPUNGE takes no arguments");
		return;
	}
	if (s->read_only) {
		imap_reply_no(s, "READ-ONLY", "The mailbox is read-only (EXAMINE)");
		return;
	}
	struct expunge_job *j = xcalloc(1, sizeof(*j));
	imap_mbox_job_init(s, &j->m, true, expunge_work, expunge_done, expunge_free);
	j->uid = uid;
	if (uid && imap_seqset_parse(cmd->args[0].data, cmd->args[0].len, &j->uids, &error) != 0) {
		if (j->uids.ranges)
			imap_seqset_free(&j->uids);
		memset(&j->uids, 0, sizeof(j->uids));
		expunge_free(&j->m.base);
		imap_reply_bad(s, NULL, "invalid UID set");
		return;
	}
	imap_mbox_job_reply(&j->m, IMAP_OK, NULL, "%sEXPUNGE completed", uid ? "UID " : "");
	expunge_start(s, j);
}

/* ---- NOOP's poll ------------------------------------------------------------------ */

static void poll_work(struct imap_job *job)
{
	imap_mbox_job_updates((struct imap_mbox_job *)job);
}

void imap_select_poll(struct imap_session *s, const char *text)
{
	struct imap_mbox_job *j = xcalloc(1, sizeof(*j));
	imap_mbox_job_init(s, j, true, poll_work, NULL, NULL);
	imap_mbox_job_reply(j, IMAP_OK, NULL, "%s", text);
	imap_session_async(s, &j->base);
}
