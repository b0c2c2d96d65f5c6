/* imap/cmd-mailbox - the commands on an account's folders: LIST (RFC 9051
 * 6.3.9, RFC 5258 LIST-EXTENDED, RFC 5819 LIST-STATUS, RFC 6154
 * SPECIAL-USE), LSUB (RFC 3501 6.3.9), CREATE (RFC 6154 3 USE), DELETE,
 * RENAME, SUBSCRIBE, UNSUBSCRIBE and STATUS.  Each runs as one mailbox job
 * (cmd-select.c) on the store's folder calls; the LIST logic is folder.c's.
 */
#include "imap/session.h"

#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "mailbox/mailbox.h"
#include "util/buf.h"
#include "util/xalloc.h"

enum folder_op {
	FOLDER_LIST,
	FOLDER_CREATE,
	FOLDER_DELETE,
	FOLDER_RENAME,
	FOLDER_SUBSCRIBE,
	FOLDER_UNSUBSCRIBE,
	FOLDER_STATUS,
};

struct folder_job {
	struct imap_mbox_job m;        /* first */
	enum folder_op op;
	char *name;
	char *new_name;                /* RENAME */
	char *selected;                /* the session's selected folder, or NULL */
	unsigned use;                  /* CREATE's special uses */
	unsigned status_items;         /* STATUS */
	struct imap_list list;         /* LIST, LSUB */
	bool unselected;               /* DELETE of the selected folder */
};

/* The SPECIAL-USE folder names mailbox_account_prepare makes (RFC 6154):
 * CREATE can give a use only to its own folder */
static const struct {
	const char *name;
	unsigned attr;
} special_names[] = {
	{ "Sent", MAILBOX_FOLDER_SENT },   { "Drafts", MAILBOX_FOLDER_DRAFTS },
	{ "Junk", MAILBOX_FOLDER_JUNK },   { "Trash", MAILBOX_FOLDER_TRASH },
	{ "Archive", MAILBOX_FOLDER_ARCHIVE },
};

static void folder_work(struct imap_job *job);
static void folder_done(struct imap_session *s, struct imap_job *job);
static void folder_free(struct imap_job *job);
static void folder_start(struct imap_session *s, struct folder_job *j);
static struct folder_job *folder_job_new(struct imap_session *s, enum folder_op op);
static void list_work(struct folder_job *j);
static bool status_one(struct folder_job *j, const char *name, unsigned items);
static char *name_arg(struct imap_session *s, const struct imap_arg *arg);

static char *name_arg(struct imap_session *s, const struct imap_arg *arg)
{
	char *name;
	if (imap_mailbox_name_decode(arg, (s->enabled & IMAP_ENABLED_UTF8_NAMES) != 0, &name) != 0)
		return NULL;
	return name;
}

static struct folder_job *folder_job_new(struct imap_session *s, enum folder_op op)
{
	struct folder_job *j = xcalloc(1, sizeof(*j));
	imap_mbox_job_init(s, &j->m, true, folder_work, folder_done, folder_free);
	j->op = op;
	j->selected = s->mailbox_name ? xstrdup(s->mailbox_name) : NULL;
	return j;
}

static void folder_start(struct imap_session *s, struct folder_job *j)
{
	imap_session_async(s, &j->m.base);
}

static void folder_free(struct imap_job *job)
{
	struct folder_job *j = (struct folder_job *)job;
	/* the session's view was freed on the worker: a session that went
	 * away meanwhile must not free it again (DONE did not run) */
	if (j->unselected)
		job->session->view = NULL;
	free(j->name);
	free(j->new_name);
	free(j->selected);
	imap_list_free(&j->list);
	imap_mbox_job_fields_free(&j->m);
	free(j);
}

/* status_one - "* STATUS" of folder NAME into the job's output; false if
 * it cannot be opened (the error is the job's reply) */
static bool status_one(struct folder_job *j, const char *name, unsigned items)
{
	struct mailbox *mailbox = NULL;
	struct mailbox_error error;
	struct mailbox_status st;

	if (mailbox_open(j->m.data_dir, j->m.account, name, &mailbox, &error) != 0) {
		imap_mbox_job_error(&j->m, "status", &error, false);
		return false;
	}
	mailbox_status_get(mailbox, &st);
	mailbox_unref(&mailbox);
	imap_status_append(&j->m.out, name, items, &st,
			   (j->m.enabled & IMAP_ENABLED_UTF8_NAMES) != 0);
	return true;
}

/* list_work - LIST and LSUB: the folders, filtered and described by
 * folder.c, with STATUS lines after those that want them (RFC 5819) */
static void list_work(struct folder_job *j)
{
	struct mailbox_folder *folders;
	struct imap_list_entry *entries;
	struct mailbox_error error;
	size_t count;
	bool utf8 = (j->m.enabled & IMAP_ENABLED_UTF8_NAMES) != 0;

	if (imap_list_wants_root(&j->list)) {
		/* RFC 3501 6.3.8: the delimiter and the root */
		buf_printf(&j->m.out, "* %s (\\Noselect) \"/\" \"\"\r\n", j->list.lsub ? "LSUB" : "LIST");
		return;
	}
	if (mailbox_folder_list(j->m.data_dir, j->m.account, &folders, &count, &error) != 0) {
		imap_mbox_job_error(&j->m, "list", &error, false);
		return;
	}
	size_t n = imap_list_select(&j->list, folders, count, &entries);
	for (size_t i = 0; i < n; i++) {
		imap_list_entry_append(&j->m.out, &j->list, &entries[i], utf8);
		if (imap_list_entry_wants_status(&j->list, &entries[i])) {
			struct mailbox *mailbox = NULL;
			struct mailbox_status st;
			/* a folder deleted meanwhile gets no STATUS line */
			if (mailbox_open(j->m.data_dir, j->m.account, entries[i].folder->name,
					 &mailbox, &error) == 0) {
				mailbox_status_get(mailbox, &st);
				mailbox_unref(&mailbox);
				imap_status_append(&j->m.out, entries[i].folder->name,
						   j->list.status_items, &st, utf8);
			}
		}
	}
	free(entries);
	mailbox_folders_free(folders, count);
}

static void folder_work(struct imap_job *job)
{
	struct folder_job *j = (struct folder_job *)job;
	struct mailbox_error error;
	int r = 0;

	switch (j->op) {
	case FOLDER_LIST:
		list_work(j);
		break;
	case FOLDER_CREATE:
		if (j->use) {
			/* RFC 6154 3: a use this folder cannot have is refused
			 * before anything is made */
			unsigned own = 0;
			for (size_t i = 0; i < sizeof(special_names) / sizeof(special_names[0]); i++)
				if (strcmp(j->name, special_names[i].name) == 0)
					own = special_names[i].attr;
			if ((j->use & ~own) != 0) {
				imap_mbox_job_reply(&j->m, IMAP_NO, "USEATTR",
						    "That special use is not available for this name");
				break;
			}
		}
		r = mailbox_folder_create(j->m.data_dir, j->m.account, j->name, &error);
		break;
	case FOLDER_DELETE:
		r = mailbox_folder_delete(j->m.data_dir, j->m.account, j->name, &error);
		break;
	case FOLDER_RENAME:
		r = mailbox_folder_rename(j->m.data_dir, j->m.account, j->name, j->new_name, &error);
		break;
	case FOLDER_SUBSCRIBE:
	case FOLDER_UNSUBSCRIBE:
		r = mailbox_folder_subscribe(j->m.data_dir, j->m.account, j->name,
					     j->op == FOLDER_SUBSCRIBE, &error);
		break;
	case FOLDER_STATUS:
		status_one(j, j->name, j->status_items);
		break;
	}
	if (r != 0)
		imap_mbox_job_error(&j->m, "folder", &error, false);
	if (j->op == FOLDER_DELETE && r == 0 && j->m.view && j->selected &&
	    strcmp(j->selected, j->name) == 0) {
		/* this session deleted its own selected folder: it is
		 * unselected, not told BYE as others are */
		mailbox_view_free(&j->m.view);
		j->unselected = true;
	}
	imap_mbox_job_updates(&j->m);
}

static void folder_done(struct imap_session *s, struct imap_job *job)
{
	struct folder_job *j = (struct folder_job *)job;
	if (j->unselected) {
		s->view = NULL;
		free(s->mailbox_name);
		s->mailbox_name = NULL;
		s->read_only = false;
		s->state = IMAP_STATE_AUTHENTICATED;
	} else if (j->op == FOLDER_RENAME && j->m.status == IMAP_OK && s->mailbox_name &&
		   strcmp(s->mailbox_name, j->name) == 0) {
		/* the view followed the folder (mailbox_folder_rename) */
		free(s->mailbox_name);
		s->mailbox_name = xstrdup(j->new_name);
	}
	imap_mbox_job_done(s, job);
}

/* ---- the commands ---------------------------------------------------------------- */

static void list_common(struct imap_session *s, const struct imap_command *cmd, bool lsub)
{
	const char *error;
	struct folder_job *j = folder_job_new(s, FOLDER_LIST);
	if (imap_list_parse(cmd->args, cmd->count, lsub, (s->enabled & IMAP_ENABLED_UTF8_NAMES) != 0,
			    &j->list, &error) != 0) {
		folder_free(&j->m.base);
		imap_reply_bad(s, NULL, "%s", error);
		return;
	}
	imap_mbox_job_reply(&j->m, IMAP_OK, NULL, "%s completed", lsub ? "LSUB" : "LIST");
	folder_start(s, j);
}

void imap_cmd_list(struct imap_session *s, const struct imap_command *cmd, bool uid)
{
	(void)uid;
	list_common(s, cmd, false);
}

void imap_cmd_lsub(struct imap_session *s, const struct imap_command *cmd, bool uid)
{
	(void)uid;
	list_common(s, cmd, true);
}

/* one_name - a command whose only argument is a mailbox name */
static void one_name(struct imap_session *s, const struct imap_command *cmd, enum folder_op op,
		     const char *what)
{
	char *name = cmd->count == 1 ? name_arg(s, &cmd->args[0]) : NULL;
	if (!name) {
		imap_reply_bad(s, NULL, "%s takes a mailbox name", what);
		return;
	}
	struct folder_job *j = folder_job_new(s, op);
	j->name = name;
	imap_mbox_job_reply(&j->m, IMAP_OK, NULL, "%s completed", what);
	folder_start(s, j);
}

void imap_cmd_create(struct imap_session *s, const struct imap_command *cmd, bool uid)
{
	const char *error = "CREATE takes a mailbox name and optional parameters";
	char *name = cmd->count >= 1 && cmd->count <= 2 ? name_arg(s, &cmd->args[0]) : NULL;
	unsigned use = 0;

	(void)uid;
	if (name && cmd->count == 2) {
		/* RFC 4466 create-params; RFC 6154 3: USE (attributes) */
		const struct imap_arg *p = &cmd->args[1];
		if (p->type != IMAP_ARG_LIST || p->count != 2 || !imap_arg_atom_is(&p->list[0], "USE") ||
		    imap_special_use_parse(&p->list[1], &use, &error) != 0) {
			free(name);
			name = NULL;
		}
	}
	if (!name) {
		imap_reply_bad(s, NULL, "%s", error);
		return;
	}
	/* RFC 9051 6.3.4: a trailing delimiter says children will follow */
	size_t len = strlen(name);
	if (len > 1 && name[len - 1] == '/')
		name[len - 1] = '\0';
	struct folder_job *j = folder_job_new(s, FOLDER_CREATE);
	j->name = name;
	j->use = use;
	imap_mbox_job_reply(&j->m, IMAP_OK, NULL, "CREATE completed");
	folder_start(s, j);
}

void imap_cmd_delete(struct imap_session *s, const struct imap_command *cmd, bool uid)
{
	(void)uid;
	one_name(s, cmd, FOLDER_DELETE, "DELETE");
}

void imap_cmd_rename(struct imap_session *s, const struct imap_command *cmd, bool uid)
{
	char *old_name = cmd->count == 2 ? name_arg(s, &cmd->args[0]) : NULL;
	char *new_name = old_name ? name_arg(s, &cmd->args[1]) : NULL;
	(void)uid;
	if (!new_name) {
		free(old_name);
		imap_reply_bad(s, NULL, "RENAME takes two mailbox names");
		return;
	}
	struct folder_job *j = folder_job_new(s, FOLDER_RENAME);
	j->name = old_name;
	j->new_name = new_name;
	imap_mbox_job_reply(&j->m, IMAP_OK, NULL, "RENAME completed");
	folder_start(s, j);
}

void imap_cmd_subscribe(struct imap_session *s, const struct imap_command *cmd, bool uid)
{
	(void)uid;
	one_name(s, cmd, FOLDER_SUBSCRIBE, "SUBSCRIBE");
}

void imap_cmd_unsubscribe(struct imap_session *s, const struct imap_command *cmd, bool uid)
{
	(void)uid;
	one_name(s, cmd, FOLDER_UNSUBSCRIBE, "UNSUBSCRIBE");
}

void imap_cmd_status(struct imap_session *s, const struct imap_command *cmd, bool uid)
{
	const char *error = "STATUS takes a mailbox name and a list of items";
	char *name = cmd->count == 2 ? name_arg(s, &cmd->args[0]) : NULL;
	unsigned items;
	(void)uid;
	if (!name || imap_status_items_parse(&cmd->args[1], &items, &error) != 0) {
		free(name);
		imap_reply_bad(s, NULL, "%s", error);
		return;
	}
	struct folder_job *j = folder_job_new(s, FOLDER_STATUS);
	j->name = name;
	j->status_items = items;
	imap_mbox_job_reply(&j->m, IMAP_OK, NULL, "STATUS completed");
	folder_start(s, j);
}
