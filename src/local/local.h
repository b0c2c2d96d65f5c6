/* local - delivery into Maildirs under <data_dir>/mail/<domain>/<local-part>/.
 *
 * A delivery runs in three steps on worker threads (local_delivery_*), with a
 * sync between them that the caller arranges, so that one syncfs can cover
 * many messages: local_delivery_write creates the Maildir (new/ cur/ tmp/) if
 * needed and writes the message into tmp/ under a unique name
 * (time.M<usec>P<pid>Q<counter>.<host>, per the Maildir spec);
 * after a sync of SYNCER (the mail folder's, util/syncer.h) that began after
 * it, local_delivery_link links it into new/; after one more,
 * local_delivery_finish gives its name.  A file or new/ that SYNCER does not
 * cover (another file system, or SYNCER NULL) is fsync'ed by its step.  The file starts with
 * "Return-Path: <SENDER>" and "Delivered-To: ADDRESS", then DATA as stored in
 * the queue (CRLF line ends, which Dovecot and other Maildir readers accept).  Only after
 * local_delivery_finish may the queue forget the recipient.  The local part is the address's local part
 * with any "+tag" removed, lower-cased; names that could escape the folder
 * ("", ".", "..", anything with '/' or a NUL) are refused.
 * Errors: -1, *error_r is static text; *temporary_r says whether retrying
 * can help (ENOSPC, EIO: yes; a bad name: no).
 */
#ifndef PETREL_LOCAL_H
#define PETREL_LOCAL_H

#include <stdbool.h>
#include <stddef.h>

struct buf;
struct syncer;

/* local_mailbox_path - "<data_dir>/mail/<domain>/<local>" for ADDRESS, or
 * NULL if the address cannot name a safe folder.  Caller frees. */
char *local_mailbox_path(const char *data_dir, const char *address);

/* local_deliver_blocking - the three steps below, each sync waited for on
 * this thread (lazily: syncer_wait_lazy, up to SYNC_DELAY_MS for a sync
 * that another caller starts), or each step's fsync with SYNCER NULL;
 * *FILENAME_R as local_delivery_finish's.  A delivery's sync need not start
 * at once: the client has its 250 already, and the accept path's syncs
 * carry it along ([queue] local_sync_delay, docs/configuration.md). */
int local_deliver_blocking(struct syncer *syncer, unsigned sync_delay_ms, const char *data_dir,
			   const char *hostname, const char *sender, const char *address,
			   const char *folder, const char *data, size_t len,
			   char **filename_r, bool *temporary_r, const char **error_r);

/* local_delivery_write - (worker) step 1 for ADDRESS, into its FOLDER (see
 * below): the file written into tmp/, not durable yet.  NULL on failure
 * (nothing left behind). */
struct local_delivery;
struct local_delivery *local_delivery_write(struct syncer *syncer, const char *data_dir,
					    const char *hostname, const char *sender,
					    const char *address, const char *folder,
					    const char *data, size_t len,
					    bool *temporary_r, const char **error_r);
/* local_delivery_link - (worker) step 2, once a sync of SYNCER that began
 * after step 1 has ended with SYNC_ERR (0: it succeeded): linked into new/.
 * -1 on failure, *DP freed and the file removed. */
int local_delivery_link(struct local_delivery **dp, struct syncer *syncer, int sync_err,
			bool *temporary_r, const char **error_r);
/* local_delivery_finish - (worker) step 3, once a sync that began after
 * step 2 has ended with SYNC_ERR: 0 and *FILENAME_R (new/'s file, caller
 * frees), the message delivered; -1, the file removed (not durable).  *DP
 * is freed either way. */
int local_delivery_finish(struct local_delivery **dp, int sync_err, char **filename_r,
			  bool *temporary_r, const char **error_r);

/* FOLDER: NULL for the inbox, or a Maildir++ folder of the mailbox
 * (<mailbox>/<FOLDER>/ with its own new/ cur/ tmp/ and an empty
 * maildirfolder file, as Dovecot and Courier lay folders out), made with
 * the mailbox if it is not there yet.  The Junk folder is where DMARC's
 * quarantine delivers. */
#define LOCAL_JUNK_FOLDER ".Junk"

/* local_maildir_create - (worker) mkdir PATH (0700, EEXIST fine) and its
 * missing ancestors, fsync'ing each parent that changed, then, when PATH's
 * last level starts with '.' (a Maildir++ folder), an empty maildirfolder
 * file, then tmp/, new/ and cur/ in that order (a folder with new/ can take
 * a delivery, one with cur/ is whole; a second call completes one a crash
 * cut short); PATH fsync'ed last.  0, or -1 with errno set.  The mailbox
 * store makes its folders with it too. */
int local_maildir_create(const char *path);

/* local_maildir_unique_name - a new file's unique name, appended to OUT:
 * "<sec>.M<usec>P<pid>Q<n>.<host>" (the Maildir spec; '/' and ':' in
 * HOSTNAME written as \057 and \072; NULL or "": gethostname's), N from
 * one counter of the process, so that the mailbox store's names and local
 * delivery's never meet */
void local_maildir_unique_name(const char *hostname, struct buf *out);

/* The mailboxes of accounts with a plain login name live in
 * <data_dir>/mail/sandbox/<login>/ (local_account_mailbox_path). */
#define LOCAL_SANDBOX_FOLDER "sandbox"
/* The Maildir++ folder of an address account's mailbox that keeps its
 * sandboxed mail (IMAP "Sandbox") */
#define LOCAL_SANDBOX_MAILDIR ".Sandbox"

/* local_account_mailbox_path - the mailbox (INBOX Maildir) of account NAME:
 * local_mailbox_path's for a name like an address; for a plain login (no
 * '@', "billing-app"), <data_dir>/mail/sandbox/<name> lower-cased, the
 * only mailbox such an account has (where its sandboxed mail is kept).
 * NULL if NAME cannot name a safe folder.  Caller frees. */
char *local_account_mailbox_path(const char *data_dir, const char *name);

/* local_deliver_sandbox_blocking - keep a sandboxed ACCOUNT's message once,
 * where the mailbox store (so IMAP) reads it: in the folder
 * LOCAL_SANDBOX_MAILDIR of its mailbox for an account named like an
 * address, in the INBOX of its mailbox for a plain login
 * (local_account_mailbox_path); Delivered-To: lists RECIPIENTS (comma
 * separated).  *FILENAME_R and errors as local_deliver_blocking's (for
 * mailbox_notify_new). */
int local_deliver_sandbox_blocking(struct syncer *syncer, unsigned sync_delay_ms,
				   const char *data_dir, const char *hostname,
				   const char *sender, const char *account,
				   const char *recipients, const char *data, size_t len,
				   char **filename_r, bool *temporary_r, const char **error_r);

#endif
