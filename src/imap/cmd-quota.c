/* imap/cmd-quota - the QUOTA extension (RFC 9208): GETQUOTA, GETQUOTAROOT
 * and SETQUOTA, for the authenticated and selected states.
 *
 * An account has one quota root, named "" (RFC 9208 3.2: a server may
 * share one root among all of a user's mailboxes), holding every folder of
 * the account.  Its resources are STORAGE (in KiB, RFC 9208 5.1) and MESSAGE
 * (5.2), with the limits of the account's plan or [mailbox] quota_default
 * (mailbox_quota_get); a resource without a limit is not listed, and an
 * account without any limit has no quota root.  Limits are the operator's
 * (petrel plan set): SETQUOTA is refused, and QUOTASET not offered.
 * Usage and limits are read on the pool (the mailbox store and the store).
 */
#include "imap/session.h"

#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "mailbox/mailbox.h"
#include "util/buf.h"
#include "util/xalloc.h"

/* the one quota root of an account */
#define QUOTA_ROOT ""

struct quota_job {
	struct imap_mbox_job m;
	char *mailbox;           /* GETQUOTAROOT's folder (mailbox.h form), else NULL */
};

static void quota_work(struct imap_job *job);
static void quota_free(struct imap_job *job);
static void quota_response_append(struct buf *out, const struct mailbox_quota *usage,
				  const struct mailbox_quota *limit);
static void quota_start(struct imap_session *s, char *mailbox);

/* quota_response_append - RFC 9208 4.2.1 "QUOTA "" (STORAGE u l MESSAGE
 * u l)": storage in KiB, the usage rounded up and the limit down, so that a
 * client never reads room that is not there */
static void quota_response_append(struct buf *out, const struct mailbox_quota *usage,
				  const struct mailbox_quota *limit)
{
	const char *sep = "";
	buf_append_str(out, "QUOTA \"" QUOTA_ROOT "\" (");
	if (limit->bytes) {
		buf_printf(out, "STORAGE %llu %llu", (unsigned long long)((usage->bytes + 1023) / 1024),
			   (unsigned long long)(limit->bytes / 1024));
		sep = " ";
	}
	if (limit->messages)
		buf_printf(out, "%sMESSAGE %llu %llu", sep, (unsigned long long)usage->messages,
			   (unsigned long long)limit->messages);
	buf_append_str(out, ")");
}

/* quota_work - (worker) QUOTAROOT and QUOTA lines into the job's output,
 * then the selected mailbox's updates */
static void quota_work(struct imap_job *job)
{
	struct quota_job *j = (struct quota_job *)job;
	struct mailbox_quota usage, limit;
	struct mailbox_error error;
	const char *what = j->mailbox ? "GETQUOTAROOT" : "GETQUOTA";

	if (j->mailbox) {
		/* RFC 9208 4.3.2: the mailbox must exist */
		struct mailbox *mb = NULL;
		if (mailbox_open(j->m.data_dir, j->m.account, j->mailbox, &mb, &error) != 0) {
			imap_mbox_job_error(&j->m, "getquotaroot", &error, false);
			goto updates;
		}
		mailbox_unref(&mb);
	}
	if (mailbox_quota_get(j->m.data_dir, j->m.account, &usage, &limit, &error) != 0) {
		imap_mbox_job_error(&j->m, "getquota", &error, false);
		goto updates;
	}
	bool limited = limit.bytes || limit.messages;
	if (j->mailbox) {
		/* RFC 9208 4.3.2: QUOTAROOT, then QUOTA for each root listed */
		buf_append_str(&j->m.out, "* QUOTAROOT ");
		imap_mailbox_name_append(&j->m.out, j->mailbox,
					 (j->m.enabled & IMAP_ENABLED_UTF8_NAMES) != 0);
		if (limited)
			buf_append_str(&j->m.out, " \"" QUOTA_ROOT "\"");
		buf_append_str(&j->m.out, "\r\n");
	}
	if (limited || !j->mailbox) {
		buf_append_str(&j->m.out, "* ");
		quota_response_append(&j->m.out, &usage, &limit);
		buf_append_str(&j->m.out, "\r\n");
	}
	imap_mbox_job_reply(&j->m, IMAP_OK, NULL, "%s completed", what);
updates:
	imap_mbox_job_updates(&j->m);
}

static void quota_free(struct imap_job *job)
{
	struct quota_job *j = (struct quota_job *)job;
	free(j->mailbox);
	imap_mbox_job_fields_free(&j->m);
	free(j);
}

/* quota_start - read the account's usage and limits on the pool (MAILBOX:
 * GETQUOTAROOT's folder, owned by the job; NULL: GETQUOTA "") */
static void quota_start(struct imap_session *s, char *mailbox)
{
	struct quota_job *j = xcalloc(1, sizeof(*j));
	imap_mbox_job_init(s, &j->m, true, quota_work, NULL, quota_free);
	j->mailbox = mailbox;
	imap_session_async(s, &j->m.base);
}

/* imap_cmd_getquota - RFC 9208 4.2: GETQUOTA root */
void imap_cmd_getquota(struct imap_session *s, const struct imap_command *cmd, bool uid)
{
	(void)uid;
	if (cmd->count != 1 || !imap_arg_is_astring(&cmd->args[0])) {
		imap_reply_bad(s, NULL, "GETQUOTA takes a quota root");
		return;
	}
	if (cmd->args[0].len != 0) {
		imap_reply_no(s, "NONEXISTENT", "No such quota root; the account's is \"\"");
		return;
	}
	quota_start(s, NULL);
}

/* imap_cmd_getquotaroot - RFC 9208 4.3: GETQUOTAROOT mailbox */
void imap_cmd_getquotaroot(struct imap_session *s, const struct imap_command *cmd, bool uid)
{
	(void)uid;
	char *name = NULL;
	if (cmd->count != 1 || !imap_arg_is_astring(&cmd->args[0])) {
		imap_reply_bad(s, NULL, "GETQUOTAROOT takes a mailbox name");
		return;
	}
	if (imap_mailbox_name_decode(&cmd->args[0], (s->enabled & IMAP_ENABLED_UTF8_NAMES) != 0,
				     &name) != 0) {
		imap_reply_no(s, "NONEXISTENT", "No such mailbox");
		return;
	}
	quota_start(s, name);
}

/* imap_cmd_setquota - RFC 9208 4.1.3: limits are the operator's (the
 * account's plan), so QUOTASET is not offered and SETQUOTA always fails */
void imap_cmd_setquota(struct imap_session *s, const struct imap_command *cmd, bool uid)
{
	(void)uid;
	if (cmd->count != 2 || !imap_arg_is_astring(&cmd->args[0]) ||
	    cmd->args[1].type != IMAP_ARG_LIST) {
		imap_reply_bad(s, NULL, "SETQUOTA takes a quota root and a list of limits");
		return;
	}
	imap_reply_no(s, "NOPERM", "Quotas are set by the server's operator (the account's plan)");
}
