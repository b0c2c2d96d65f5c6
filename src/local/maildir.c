/* local/maildir - delivery into <data_dir>/mail/<domain>/<local>/ Maildirs.
 *
 * Follows the Maildir spec (cr.yp.to/proto/maildir.html): write tmp/<unique>,
 * make it durable, link into new/, unlink tmp/<unique>, then make new/
 * durable so the entry survives a crash before we report success to the
 * queue.  "Durable" is a group commit (util/syncer) between the steps
 * (local.h's local_delivery_*): the queue writes the files of many
 * deliveries, waits for one syncfs holding no thread, links them all, waits
 * for the next, and only then records any as delivered.  The sandbox's
 * blocking delivery waits on its worker instead, lazily (syncer_wait_lazy):
 * up to its SYNC_DELAY_MS ([queue] local_sync_delay) for a syncfs that an
 * accepted message starts anyway.  Without a syncer (NULL), or for a mailbox on another file system
 * than the syncer's, each step fsyncs the file or new/ itself.  Directories are
 * created 0700 and their parents fsync'ed when created.  Two first deliveries
 * to the same new mailbox at once may see EEXIST from the other's mkdir and
 * not fsync that parent themselves; the creator fsyncs it moments later.
 *
 * Names come from envelopes, which come from peers: the domain must be a plain
 * domain name and the local part a single safe path component (no '/', no
 * leading '.', no control bytes or spaces); anything else is refused, and the
 * refusal is permanent.  Disk errors are temporary.
 */
#include "local/local.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/domain.h"
#include "util/fileio.h"
#include "util/log.h"
#include "util/syncer.h"
#include "util/xalloc.h"

#define LOCAL_PART_MAX 255

static bool local_part_is_safe(const char *local, size_t len);
static int maildir_ensure(const char *path);
static bool error_is_temporary(int err);
static int maildir_deliver(struct syncer *syncer, unsigned sync_delay_ms, char *path,
			   const char *folder, const char *hostname, const char *sender,
			   const char *delivered_to, const char *data, size_t len,
			   char **filename_r, bool *temporary_r, const char **error_r);

static _Atomic unsigned long maildir_counter;

/* local_part_is_safe - one path component that cannot escape or hide */
static bool local_part_is_safe(const char *local, size_t len)
{
	bool ok = len > 0 && len <= LOCAL_PART_MAX && local[0] != '.';
	for (size_t i = 0; ok && i < len; i++) {
		unsigned char c = (unsigned char)local[i];
		ok = c > 0x20 && c != 0x7f && c != '/' && c != '\\';
	}
	return ok;
}

char *local_mailbox_path(const char *data_dir, const char *address)
{
	const char *at = strrchr(address, '@');
	char *local = NULL, *domain = NULL, *path = NULL;

	if (!at || at == address)
		goto out;
	for (const char *p = address; *p; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			goto out;
	}
	size_t local_len = (size_t)(at - address);
	const char *plus = memchr(address, '+', local_len);
	if (plus)
		local_len = (size_t)(plus - address);
	local = xstrndup(address, local_len);
	domain = xstrdup(at + 1);
	for (char *p = local; *p; p++) {
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	}
	for (char *p = domain; *p; p++) {
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	}
	if (!local_part_is_safe(local, strlen(local)) ||
	    !domain_name_is_valid(domain, strlen(domain), DOMAIN_NAME_ULABEL))
		goto out;
	path = xasprintf("%s/mail/%s/%s", data_dir, domain, local);
out:
	free(local);
	free(domain);
	return path;
}

static bool error_is_temporary(int err)
{
	/* the disk and the admin can fix everything we can meet here */
	(void)err;
	return true;
}

/* maildir_ensure - the Maildir PATH, made (local_maildir_create) unless its
 * new/ is there: an existing one needs no mkdir at all */
static int maildir_ensure(const char *path)
{
	char *probe = xasprintf("%s/new", path);
	struct stat st;
	bool exists = stat(probe, &st) == 0 && S_ISDIR(st.st_mode);
	free(probe);
	return exists ? 0 : local_maildir_create(path);
}

int local_maildir_create(const char *path)
{
	/* cur/ last: the mailbox store takes a folder with cur/ for whole,
	 * local delivery one with new/ for ready (it needs tmp/ and new/) */
	static const char *const subdirs[] = { "tmp", "new", "cur" };
	char *copy = xstrdup(path);
	int ret = -1;

	/* every missing ancestor, each parent fsync'ed when it changed */
	for (char *p = copy + 1; ; p++) {
		bool end = *p == '\0';
		if (*p != '/' && !end)
			continue;
		*p = '\0';
		if (mkdir(copy, 0700) == 0) {
			char *slash = strrchr(copy, '/');
			char *parent = slash == copy ? xstrdup("/") : xstrndup(copy, (size_t)(slash - copy));
			int r = path_fsync(parent);
			free(parent);
			if (r != 0)
				goto out;
		} else if (errno != EEXIST) {
			goto out;
		}
		if (end)
			break;
		*p = '/';
	}
	/* a Maildir++ subfolder holds an empty "maildirfolder" (Courier,
	 * Dovecot), made before the subfolders that tell a folder whole */
	const char *last = strrchr(path, '/');
	if (last && last[1] == '.') {
		char *marker = xasprintf("%s/maildirfolder", path);
		int fd = open(marker, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		free(marker);
		if (fd < 0 || close(fd) != 0)
			goto out;
	}
	for (int i = 0; i < 3; i++) {
		char *sub = xasprintf("%s/%s", path, subdirs[i]);
		int r = mkdir(sub, 0700);
		free(sub);
		if (r != 0 && errno != EEXIST)
			goto out;
	}
	ret = path_fsync(path);
out:
	free(copy);
	return ret;
}

/* local_maildir_unique_name - see local.h */
void local_maildir_unique_name(const char *hostname, struct buf *out)
{
	struct timeval tv;
	char host[256];
	if (!hostname || !*hostname) {
		if (gethostname(host, sizeof(host)) != 0)
			strcpy(host, "localhost");
		host[sizeof(host) - 1] = '\0';
		hostname = host;
	}
	gettimeofday(&tv, NULL);
	unsigned long n = atomic_fetch_add(&maildir_counter, 1) + 1;
	buf_printf(out, "%lld.M%ldP%ldQ%lu.", (long long)tv.tv_sec, (long)tv.tv_usec,
		   (long)getpid(), n);
	for (const char *p = hostname; *p; p++) {
		if (*p == '/')
			buf_append_str(out, "\\057");
		else if (*p == ':')
			buf_append_str(out, "\\072");
		else if ((unsigned char)*p > 0x20 && *p != 0x7f)
			buf_append(out, p, 1);
	}
}

int local_deliver_blocking(struct syncer *syncer, unsigned sync_delay_ms, const char *data_dir,
			   const char *hostname, const char *sender, const char *address,
			   const char *folder, const char *data, size_t len,
			   char **filename_r, bool *temporary_r, const char **error_r)
{
	return maildir_deliver(syncer, sync_delay_ms, local_mailbox_path(data_dir, address),
			       folder, hostname, sender, address, data, len, filename_r,
			       temporary_r, error_r);
}

int local_deliver_sandbox_blocking(struct syncer *syncer, unsigned sync_delay_ms,
				   const char *data_dir, const char *hostname,
				   const char *sender, const char *account,
				   const char *recipients, const char *data, size_t len,
				   char **filename_r, bool *temporary_r, const char **error_r)
{
	char *path = local_account_mailbox_path(data_dir, account);
	const char *folder = strchr(account, '@') ? LOCAL_SANDBOX_MAILDIR : NULL;
	return maildir_deliver(syncer, sync_delay_ms, path, folder, hostname, sender,
			       recipients, data, len, filename_r, temporary_r, error_r);
}

char *local_account_mailbox_path(const char *data_dir, const char *name)
{
	if (strchr(name, '@'))
		return local_mailbox_path(data_dir, name);
	char *login = xstrdup(name);
	for (char *p = login; *p; p++) {
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	}
	char *path = local_part_is_safe(login, strlen(login)) ?
		xasprintf("%s/mail/%s/%s", data_dir, LOCAL_SANDBOX_FOLDER, login) : NULL;
	free(login);
	return path;
}

/* the steps' state: where the file is, and whether it is in new/ yet */
struct local_delivery {
	char *tmp_path;
	char *new_path;
	char *new_dir;
};

/* local_delivery_free - (on failure) the file out of tmp/ and new/, which
 * a failed step had not made durable */
static void local_delivery_free(struct local_delivery **dp)
{
	struct local_delivery *d = *dp;
	if (!d)
		return;
	int err = errno;
	if (d->tmp_path && unlink(d->tmp_path) != 0 && errno != ENOENT)
		log_warn("maildir_tmp", "error=\"%s\"", strerror(errno));
	if (d->new_path && unlink(d->new_path) != 0 && errno != ENOENT)
		log_warn("maildir_new", "error=\"%s\"", strerror(errno));
	errno = err;
	free(d->tmp_path);
	free(d->new_path);
	free(d->new_dir);
	free(d);
	*dp = NULL;
}

/* maildir_step_failed - a step's common failure: the file taken back out,
 * *temporary_r and ERROR (ENOSPC and EDQUOT say so) set from errno */
static int maildir_step_failed(struct local_delivery **dp, const char *error,
			       bool *temporary_r, const char **error_r)
{
	*temporary_r = error_is_temporary(errno);
	*error_r = errno == ENOSPC || errno == EDQUOT ? "insufficient system storage" : error;
	local_delivery_free(dp);
	return -1;
}

/* maildir_fsync_uncovered - fsync FD (a file, or new/) unless SYNCER's
 * syncfs covers it: a mailbox on another file system (a mount point under
 * mail/), or no syncer at all */
static int maildir_fsync_uncovered(struct syncer *syncer, int fd)
{
	return syncer && syncer_covers(syncer, fd) ? 0 : fsync(fd);
}

/* maildir_write - the first step into PATH (<data_dir>/mail/<folder>/<name>,
 * owned and freed here; NULL = refused name), or into its Maildir++ FOLDER
 * (NULL: none): the Maildir made if needed, tmp/<unique> written and closed */
static struct local_delivery *maildir_write(struct syncer *syncer, char *path,
					    const char *folder, const char *hostname,
					    const char *sender, const char *delivered_to,
					    const char *data, size_t len,
					    bool *temporary_r, const char **error_r)
{
	struct local_delivery *d = NULL;
	char *maildir = NULL;
	struct buf name, head;
	buf_init(&name);
	buf_init(&head);
	if (!path) {
		*temporary_r = false;
		*error_r = "invalid mailbox name";
		goto out;
	}
	/* the INBOX, then its FOLDER (local_maildir_create makes a folder's
	 * parents, not the INBOX's tmp/, new/ and cur/) */
	maildir = folder ? xasprintf("%s/%s", path, folder) : xstrdup(path);
	int r = maildir_ensure(path);
	if (r == 0 && folder)
		r = maildir_ensure(maildir);
	if (r != 0) {
		maildir_step_failed(&d, "cannot create the mailbox", temporary_r, error_r);
		goto out;
	}
	local_maildir_unique_name(hostname, &name);
	d = xcalloc(1, sizeof(*d));
	d->new_dir = xasprintf("%s/new", maildir);

	/* RFC 5321 4.4: Return-Path; sender bytes that could break the header
	 * (a hostile spool file) are replaced */
	buf_append_str(&head, "Return-Path: <");
	for (const char *p = sender ? sender : ""; *p; p++) {
		char c = (unsigned char)*p < 0x20 || *p == 0x7f ? '?' : *p;
		buf_append(&head, &c, 1);
	}
	buf_append_str(&head, ">\r\nDelivered-To: ");
	for (const char *p = delivered_to; *p; p++) {
		char c = (unsigned char)*p < 0x20 || *p == 0x7f ? '?' : *p;
		buf_append(&head, &c, 1);
	}
	buf_append_str(&head, "\r\n");

	char *tmp_path = xasprintf("%s/tmp/%s", maildir, name.data);
	int fd = open(tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		free(tmp_path);
		maildir_step_failed(&d, "cannot create the mailbox file", temporary_r, error_r);
		goto out;
	}
	d->tmp_path = tmp_path;
	d->new_path = xasprintf("%s/new/%s", maildir, name.data);
	bool written = fd_write_all(fd, head.data, head.len) == 0 &&
		fd_write_all(fd, data, len) == 0 && maildir_fsync_uncovered(syncer, fd) == 0;
	int err = errno;
	if (close(fd) != 0)
		written = false;
	else
		errno = err;
	if (!written) {
		free(d->new_path);
		d->new_path = NULL;  /* never linked */
		maildir_step_failed(&d, "cannot write the mailbox file", temporary_r, error_r);
	}
out:
	free(path);
	free(maildir);
	buf_free(&name);
	buf_free(&head);
	return d;
}

struct local_delivery *local_delivery_write(struct syncer *syncer, const char *data_dir,
					    const char *hostname, const char *sender,
					    const char *address, const char *folder,
					    const char *data, size_t len,
					    bool *temporary_r, const char **error_r)
{
	return maildir_write(syncer, local_mailbox_path(data_dir, address), folder, hostname,
			     sender, address, data, len, temporary_r, error_r);
}

int local_delivery_link(struct local_delivery **dp, struct syncer *syncer, int sync_err,
			bool *temporary_r, const char **error_r)
{
	struct local_delivery *d = *dp;
	if (sync_err != 0) {
		free(d->new_path);
		d->new_path = NULL;  /* never linked */
		errno = sync_err;
		return maildir_step_failed(dp, "cannot write the mailbox file", temporary_r,
					   error_r);
	}
	if (link(d->tmp_path, d->new_path) != 0) {
		int err = errno;
		free(d->new_path);
		d->new_path = NULL;  /* not ours: EEXIST must not unlink it */
		errno = err;
		return maildir_step_failed(dp, "cannot move the mailbox file into new/",
					   temporary_r, error_r);
	}
	/* the message is in new/ now; a stale link left in tmp/ is harmless
	 * (Maildir readers clean tmp/), so a failed unlink does not fail delivery */
	if (unlink(d->tmp_path) != 0)
		log_warn("maildir_tmp", "error=\"%s\"", strerror(errno));
	free(d->tmp_path);
	d->tmp_path = NULL;
	int dir_fd = open(d->new_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	bool synced = dir_fd >= 0 && maildir_fsync_uncovered(syncer, dir_fd) == 0;
	int err = errno;
	if (dir_fd >= 0 && close(dir_fd) != 0)
		synced = false;
	else
		errno = err;
	if (!synced)  /* not durable: take it back out, the queue retries */
		return maildir_step_failed(dp, "cannot sync the mailbox's new/ directory",
					   temporary_r, error_r);
	return 0;
}

int local_delivery_finish(struct local_delivery **dp, int sync_err, char **filename_r,
			  bool *temporary_r, const char **error_r)
{
	struct local_delivery *d = *dp;
	if (sync_err != 0) {
		errno = sync_err;
		return maildir_step_failed(dp, "cannot sync the mailbox's new/ directory",
					   temporary_r, error_r);
	}
	*filename_r = d->new_path;
	d->new_path = NULL;
	local_delivery_free(dp);
	return 0;
}

/* maildir_sync_wait - a step's blocking group commit: 0, or the errno of
 * the failed sync (none without a syncer: each step fsync'ed itself) */
static int maildir_sync_wait(struct syncer *syncer, unsigned delay_ms)
{
	int err = 0;
	if (syncer && syncer_wait_lazy(syncer, delay_ms, &err) != 0)
		return err;
	return 0;
}

/* maildir_deliver - the three steps, waiting for each sync on this thread */
static int maildir_deliver(struct syncer *syncer, unsigned sync_delay_ms, char *path,
			   const char *folder, const char *hostname, const char *sender,
			   const char *delivered_to, const char *data, size_t len,
			   char **filename_r, bool *temporary_r, const char **error_r)
{
	*filename_r = NULL;
	struct local_delivery *d = maildir_write(syncer, path, folder, hostname, sender,
						 delivered_to, data, len, temporary_r, error_r);
	if (!d || local_delivery_link(&d, syncer, maildir_sync_wait(syncer, sync_delay_ms),
				      temporary_r, error_r) != 0)
		return -1;
	return local_delivery_finish(&d, maildir_sync_wait(syncer, sync_delay_ms), filename_r,
				     temporary_r, error_r);
}
