/* imap/cmd-append - APPEND (RFC 9051 6.3.12) with UIDPLUS's APPENDUID (RFC
 * 4315), LITERAL+ and APPENDLIMIT (RFC 7888, RFC 7889: the reader refuses
 * a literal over the limit with NO [TOOBIG]), binary literals (RFC 3516),
 * and the account's quota (NO [OVERQUOTA], RFC 9208 4.3); COPY and MOVE
 * (RFC 9051 6.4.7, RFC 6851) with COPYUID.  Both run as mailbox jobs
 * (cmd-select.c): the message is written and made durable on a worker.
 */
#include "imap/session.h"

#include <stdlib.h>
#include <string.h>

#include "mailbox/mailbox.h"
#include "util/buf.h"
#include "util/xalloc.h"

struct append_job {
	struct imap_mbox_job m;        /* first */
	char *name;
	char *data;
	size_t len;
	uint32_t flags;
	char **keywords;
	size_t keyword_count;
	time_t date;                   /* 0: now */
};

struct copy_job {
	struct imap_mbox_job m;
	char *dest;
	struct imap_seqset set;
	bool uid;
	bool move;
};

static void append_work(struct imap_job *job);
static void append_free(struct imap_job *job);
static void copy_work(struct imap_job *job);
static void copy_free(struct imap_job *job);

static void append_work(struct imap_job *job)
{
	struct append_job *j = (struct append_job *)job;
	struct mailbox *mailbox = NULL;
	struct mailbox_error error;
	struct mailbox_status st;
	uint64_t keywords = 0;
	uint32_t uid;

	/* RFC 9051 6.3.12: TRYCREATE when the folder does not exist */
	if (mailbox_open(j->m.data_dir, j->m.account, j->name, &mailbox, &error) != 0) {
		imap_mbox_job_error(&j->m, "append", &error, true);
		goto out;
	}
	for (size_t i = 0; i < j->keyword_count; i++) {
		unsigned index;
		if (mailbox_keyword_find(mailbox, j->keywords[i], true, &index, &error) != 0) {
			imap_mbox_job_error(&j->m, "append", &error, false);
			goto out;
		}
		keywords |= (uint64_t)1 << index;
	}
	if (mailbox_append(mailbox, j->data, j->len, j->flags, keywords, j->date, &uid,
			   &error) != 0) {
		imap_mbox_job_error(&j->m, "append", &error, false);
		goto out;
	}
	mailbox_status_get(mailbox, &st);
	imap_mbox_job_reply(&j->m, IMAP_OK, NULL, "APPEND completed");
	snprintf(j->m.code, sizeof(j->m.code), "APPENDUID %u %u", st.uidvalidity, uid);
out:
	mailbox_unref(&mailbox);
	/* appending to the selected folder: its EXISTS comes now */
	imap_mbox_job_updates(&j->m);
}

static void append_free(struct imap_job *job)
{
	struct append_job *j = (struct append_job *)job;
	free(j->name);
	free(j->data);
	for (size_t i = 0; i < j->keyword_count; i++)
		free(j->keywords[i]);
	free(j->keywords);
	imap_mbox_job_fields_free(&j->m);
	free(j);
}

/* imap_cmd_append - APPEND mailbox [flags] [date-time] literal, or after
 * ENABLE UTF8=ACCEPT also "UTF8 (literal8)" (RFC 6855 4) */
void imap_cmd_append(struct imap_session *s, const struct imap_command *cmd, bool uid)
{
	const struct imap_arg **keywords = NULL;
	const char *error = "APPEND takes a mailbox, optional flags and date, and a literal";
	size_t nkw = 0, i = 1;
	uint32_t flags = 0;
	time_t date = 0;
	char *name = NULL;

	(void)uid;
	if (cmd->count < 2 || cmd->count > 5 ||
	    imap_mailbox_name_decode(&cmd->args[0], (s->enabled & IMAP_ENABLED_UTF8_NAMES) != 0,
				     &name) != 0)
		goto bad;
	if (cmd->args[i].type == IMAP_ARG_LIST) {
		if (imap_flag_list_parse(&cmd->args[i], &flags, &keywords, &nkw, &error) != 0)
			goto bad;
		i++;
	}
	if (i + 1 < cmd->count && !imap_arg_atom_is(&cmd->args[i], "UTF8")) {
		const struct imap_arg *d = &cmd->args[i];
		if (d->type != IMAP_ARG_STRING || imap_date_time_parse(d->data, d->len, &date) != 0) {
			error = "invalid APPEND date-time";
			goto bad;
		}
		i++;
	}
	const struct imap_arg *msg = &cmd->args[i];
	if (i + 2 == cmd->count && imap_arg_atom_is(msg, "UTF8") &&
	    (s->enabled & IMAP_ENABLED_UTF8) && cmd->args[i + 1].type == IMAP_ARG_LIST &&
	    cmd->args[i + 1].count == 1) {
		msg = &cmd->args[i + 1].list[0];
		i++;
	}
	if (i + 1 != cmd->count || (msg->type != IMAP_ARG_LITERAL && msg->type != IMAP_ARG_LITERAL8))
		goto bad;

	struct append_job *j = xcalloc(1, sizeof(*j));
	imap_mbox_job_init(s, &j->m, true, append_work, NULL, append_free);
	j->name = name;
	j->len = msg->len;
	j->data = xmalloc(msg->len ? msg->len : 1);
	memcpy(j->data, msg->data, msg->len);
	j->flags = flags;
	j->date = date;
	j->keywords = xcalloc(nkw ? nkw : 1, sizeof(*j->keywords));
	for (size_t k = 0; k < nkw; k++)
		j->keywords[j->keyword_count++] = xstrndup(keywords[k]->data, keywords[k]->len);
	free(keywords);
	imap_session_async(s, &j->m.base);
	return;
bad:
	free(keywords);
	free(name);
	imap_reply_bad(s, NULL, "%s", error);
}

/* ---- COPY, MOVE ------------------------------------------------------------------ */

static void copy_work(struct imap_job *job)
{
	struct copy_job *j = (struct copy_job *)job;
	struct mailbox_view *view = j->m.view;
	struct mailbox *dest = NULL;
	struct mailbox_error error;
	struct mailbox_status st;
	uint32_t count = mailbox_view_count(view);
	uint32_t *uids = NULL;
	uint32_t *src_uids = NULL, *dest_uids = NULL;
	size_t n = 0, copied = 0;

	imap_mbox_job_seqset_resolve(&j->m, &j->set, j->uid);
	if (!j->uid) {
		/* RFC 9051 6.4.7: numbers beyond the mailbox are an error */
		for (size_t r = 0; r < j->set.count; r++) {
			if (j->set.ranges[r].hi > count || j->set.ranges[r].lo == 0) {
				imap_mbox_job_reply(&j->m, IMAP_BAD, NULL, "Invalid message sequence number");
				goto out;
			}
		}
	}
	uids = imap_mbox_job_set_uids(&j->m, &j->set, j->uid, &n);
	if (mailbox_open(j->m.data_dir, j->m.account, j->dest, &dest, &error) != 0) {
		imap_mbox_job_error(&j->m, j->move ? "move" : "copy", &error, true);
		goto out;
	}
	if (j->move && dest == mailbox_view_mailbox(view)) {
		imap_mbox_job_reply(&j->m, IMAP_NO, "CANNOT", "Cannot move into the same mailbox");
		goto out;
	}
	if (n && (j->move ? mailbox_move : mailbox_copy)(view, uids, n, dest, &src_uids, &dest_uids,
						       &copied, &error) != 0) {
		imap_mbox_job_error(&j->m, j->move ? "move" : "copy", &error, false);
		goto out;
	}
	mailbox_status_get(dest, &st);
	const char *what = j->move ? "MOVE" : "COPY";
	const char *prefix = j->uid ? "UID " : "";
	struct buf code;
	buf_init(&code);
	if (copied) {
		/* RFC 4315 3: the source and destination UIDs, in the same order */
		buf_printf(&code, "COPYUID %u ", st.uidvalidity);
		imap_uidset_append(&code, src_uids, copied);
		buf_append_str(&code, " ");
		imap_uidset_append(&code, dest_uids, copied);
	}
	buf_append(&code, "", 1);
	if (j->move && copied) {
		/* RFC 6851 4.3: COPYUID in an untagged OK before the expunges */
		buf_printf(&j->m.out, "* OK [%s] Moved\r\n", code.data);
		imap_mbox_job_reply(&j->m, IMAP_OK, NULL, "%s%s completed", prefix, what);
	} else if (copied) {
		imap_mbox_job_reply(&j->m, IMAP_OK, code.data, "%s%s completed", prefix, what);
	} else {
		/* nothing matched (UIDs gone): still OK (RFC 9051 6.4.9) */
		imap_mbox_job_reply(&j->m, IMAP_OK, NULL, "%s%s completed, nothing to do", prefix,
				    what);
	}
	buf_free(&code);
out:
	free(uids);
	free(src_uids);
	free(dest_uids);
	mailbox_unref(&dest);
	imap_mbox_job_updates(&j->m);
}

static void copy_free(struct imap_job *job)
{
	struct copy_job *j = (struct copy_job *)job;
	free(j->dest);
	if (j->set.ranges)
		imap_seqset_free(&j->set);
	imap_mbox_job_fields_free(&j->m);
	free(j);
}

static void copy_common(struct imap_session *s, const struct imap_command *cmd, bool uid,
			bool move)
{
	const char *error;
	char *dest = NULL;
	struct imap_seqset set = { 0 };

	if (cmd->count != 2 || cmd->args[0].type != IMAP_ARG_ATOM ||
	    imap_seqset_parse(cmd->args[0].data, cmd->args[0].len, &set, &error) != 0 ||
	    imap_mailbox_name_decode(&cmd->args[1], (s->enabled & IMAP_ENABLED_UTF8_NAMES) != 0,
				     &dest) != 0) {
		if (set.ranges)
			imap_seqset_free(&set);
		free(dest);
		imap_reply_bad(s, NULL, "%s takes a message set and a mailbox", move ? "MOVE" : "COPY");
		return;
	}
	if (move && s->read_only) {
		imap_seqset_free(&set);
		free(dest);
		imap_reply_no(s, "READ-ONLY", "The mailbox is read-only (EXAMINE)");
		return;
	}
	struct copy_job *j = xcalloc(1, sizeof(*j));
	/* RFC 9051 7.4.1: no EXPUNGE during a command on sequence numbers,
	 * but MOVE's own are its answer (RFC 6851 3.3) */
	imap_mbox_job_init(s, &j->m, uid || move, copy_work, NULL, copy_free);
	j->dest = dest;
	j->set = set;
	j->uid = uid;
	j->move = move;
	imap_session_async(s, &j->m.base);
}

void imap_cmd_copy(struct imap_session *s, const struct imap_command *cmd, bool uid)
{
	copy_common(s, cmd, uid, false);
}

void imap_cmd_move(struct imap_session *s, const struct imap_command *cmd, bool uid)
{
	copy_common(s, cmd, uid, true);
}
