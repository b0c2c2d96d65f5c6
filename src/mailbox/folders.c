/* mailbox/folders - an account's folders: list, create, delete, rename,
 * subscriptions, the SPECIAL-USE folders (RFC 6154) and quota usage.
 *
 * A folder is a Maildir++ subfolder ".A.B" of the account's Maildir (the
 * IMAP name "A/B", each level modified UTF-7): it exists when its cur/
 * does.  A parent needs no folder of its own: "A" without ".A" lists as
 * \Noselect while ".A.B" exists.  Every name goes through
 * mailbox_name_to_disk first, so no name reaches a path unchecked.
 * Changes to the folder set are serialized by one lock (they are rare);
 * delete and rename also hold the registry's, so no open interleaves.
 */
#include "mailbox/internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "local/local.h"
#include "util/buf.h"
#include "util/fileio.h"
#include "util/log.h"
#include "util/xalloc.h"

static const struct {
	const char *name;
	unsigned attr;
} special_folders[] = {
	{ "Sent", MAILBOX_FOLDER_SENT },     { "Drafts", MAILBOX_FOLDER_DRAFTS },
	{ "Junk", MAILBOX_FOLDER_JUNK },     { "Trash", MAILBOX_FOLDER_TRASH },
	{ "Archive", MAILBOX_FOLDER_ARCHIVE },
};
#define SPECIAL_FOLDER_COUNT (sizeof(special_folders) / sizeof(special_folders[0]))

static pthread_mutex_t folders_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic unsigned long deleted_counter;

static bool folder_exists(const char *path);
static int disk_folders(const char *account, char ***names_r, size_t *count_r);
static int subscriptions_read(const char *account, char ***names_r, size_t *count_r);
static int subscriptions_write(const char *account, char **names, size_t count);
static int subscription_change(const char *account, const char *name, bool subscribe);
static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw);
static void strings_free(char **s, size_t n);
static int inbox_rename(const char *data_dir, const char *address, const char *new_name,
			struct mailbox_error *error_r);
static int resolve(const char *data_dir, const char *address, const char *name,
		   char **account_r, char **disk_r, struct mailbox_error *error_r);

static void strings_free(char **s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(s[i]);
	free(s);
}

static bool folder_exists(const char *path)
{
	struct stat st;
	char *cur = xasprintf("%s/cur", path);
	bool ok = stat(cur, &st) == 0 && S_ISDIR(st.st_mode);
	free(cur);
	return ok;
}

/* resolve - the account's Maildir and NAME's folder name on disk */
static int resolve(const char *data_dir, const char *address, const char *name,
		   char **account_r, char **disk_r, struct mailbox_error *error_r)
{
	*account_r = mailbox_account_path(data_dir, address);
	*disk_r = NULL;
	if (!*account_r)
		return mailbox_error_set(error_r, MAILBOX_ERROR_BAD_NAME, "invalid account address", 0);
	if (name) {
		*disk_r = mailbox_name_to_disk(name);
		if (!*disk_r) {
			free(*account_r);
			*account_r = NULL;
			return mailbox_error_set(error_r, MAILBOX_ERROR_BAD_NAME, "invalid folder name", 0);
		}
	}
	return 0;
}

/* disk_folders - the ".X" entries of ACCOUNT that are Maildirs (names on disk) */
static int disk_folders(const char *account, char ***names_r, size_t *count_r)
{
	DIR *dir = opendir(account);
	struct dirent *de;
	char **names = NULL;
	size_t count = 0;

	*names_r = NULL;
	*count_r = 0;
	if (!dir)
		return errno == ENOENT ? 0 : -1;
	errno = 0;
	while ((de = readdir(dir)) != NULL) {
		if (de->d_name[0] != '.' || strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		char *path = xasprintf("%s/%s", account, de->d_name);
		bool ok = folder_exists(path);
		free(path);
		if (ok) {
			names = xrealloc(names, (count + 1) * sizeof(*names));
			names[count++] = xstrdup(de->d_name);
		}
		errno = 0;
	}
	int err = errno;
	if (closedir(dir) != 0 && err == 0)
		err = errno;
	if (err) {
		strings_free(names, count);
		errno = err;
		return -1;
	}
	*names_r = names;
	*count_r = count;
	return 0;
}

/* subscriptions_read - petrel.subscriptions: one IMAP name a line */
static int subscriptions_read(const char *account, char ***names_r, size_t *count_r)
{
	char *path = xasprintf("%s/%s", account, MAILBOX_SUBSCRIPTIONS_FILE), *data = NULL;
	size_t len, count = 0;
	char **names = NULL;

	*names_r = NULL;
	*count_r = 0;
	int r = mailbox_file_read(path, &data, &len);
	free(path);
	if (r != 0)
		return errno == ENOENT ? 0 : -1;
	char *save = NULL;
	for (char *line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		names = xrealloc(names, (count + 1) * sizeof(*names));
		names[count++] = xstrdup(line);
	}
	free(data);
	*names_r = names;
	*count_r = count;
	return 0;
}

static int subscriptions_write(const char *account, char **names, size_t count)
{
	struct buf text;
	buf_init(&text);
	for (size_t i = 0; i < count; i++)
		buf_printf(&text, "%s\n", names[i]);
	int r = mailbox_file_write(account, MAILBOX_SUBSCRIPTIONS_FILE, text.data ? text.data : "",
				   text.len, true);
	buf_free(&text);
	return r;
}

/* subscription_change - add or remove NAME; folders_lock held */
static int subscription_change(const char *account, const char *name, bool subscribe)
{
	char **names;
	size_t count, w = 0;
	bool found = false;

	if (subscriptions_read(account, &names, &count) != 0)
		return -1;
	for (size_t i = 0; i < count; i++) {
		bool same = strcmp(names[i], name) == 0;
		found = found || same;
		if (same && !subscribe)
			free(names[i]);
		else
			names[w++] = names[i];
	}
	count = w;
	int r = 0;
	if (subscribe && !found) {
		names = xrealloc(names, (count + 1) * sizeof(*names));
		names[count++] = xstrdup(name);
	}
	if (subscribe != found)
		r = subscriptions_write(account, names, count);
	strings_free(names, count);
	return r;
}

int mailbox_folder_subscribe(const char *data_dir, const char *address, const char *name,
			     bool subscribe, struct mailbox_error *error_r)
{
	char *account, *disk;
	if (resolve(data_dir, address, name, &account, &disk, error_r) != 0)
		return -1;
	/* one spelling of INBOX */
	const char *stored = *disk ? name : "INBOX";
	pthread_mutex_lock(&folders_lock);
	int r = subscription_change(account, stored, subscribe);
	pthread_mutex_unlock(&folders_lock);
	if (r != 0)
		mailbox_error_sys(error_r, "cannot write the subscriptions");
	free(account);
	free(disk);
	return r;
}

int mailbox_account_prepare(const char *data_dir, const char *address,
			    struct mailbox_error *error_r)
{
	char *account = mailbox_account_path(data_dir, address);
	int ret = -1;

	if (!account)
		return mailbox_error_set(error_r, MAILBOX_ERROR_BAD_NAME, "invalid account address", 0);
	pthread_mutex_lock(&folders_lock);
	if (!folder_exists(account) && local_maildir_create(account) != 0) {
		mailbox_error_sys(error_r, "cannot create the mailbox");
		goto out;
	}
	for (size_t i = 0; i < SPECIAL_FOLDER_COUNT; i++) {
		char *path = xasprintf("%s/.%s", account, special_folders[i].name);
		bool exists = folder_exists(path);
		int r = exists ? 0 : local_maildir_create(path);
		free(path);
		if (r == 0 && !exists)
			r = subscription_change(account, special_folders[i].name, true);
		if (r != 0) {
			mailbox_error_sys(error_r, "cannot create the account's folders");
			goto out;
		}
	}
	ret = 0;
out:
	pthread_mutex_unlock(&folders_lock);
	free(account);
	return ret;
}

static int folder_cmp(const void *a, const void *b)
{
	const struct mailbox_folder *x = a, *y = b;
	bool xi = strcmp(x->name, "INBOX") == 0, yi = strcmp(y->name, "INBOX") == 0;
	if (xi != yi)
		return xi ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* folder_add - NAME with ATTRS into the list, or ATTRS added to it */
static void folder_add(struct mailbox_folder **folders, size_t *count, const char *name,
		       unsigned attrs)
{
	for (size_t i = 0; i < *count; i++) {
		if (strcmp((*folders)[i].name, name) == 0) {
			(*folders)[i].attrs |= attrs;
			return;
		}
	}
	*folders = xrealloc(*folders, (*count + 1) * sizeof(**folders));
	(*folders)[*count] = (struct mailbox_folder){ .name = xstrdup(name), .attrs = attrs };
	(*count)++;
}

int mailbox_folder_list(const char *data_dir, const char *address,
			struct mailbox_folder **folders_r, size_t *count_r,
			struct mailbox_error *error_r)
{
	char *account, *disk;
	char **names = NULL, **subs = NULL;
	size_t nnames = 0, nsubs = 0, count = 0;
	struct mailbox_folder *folders = NULL;

	*folders_r = NULL;
	*count_r = 0;
	if (resolve(data_dir, address, NULL, &account, &disk, error_r) != 0)
		return -1;
	pthread_mutex_lock(&folders_lock);
	int r = disk_folders(account, &names, &nnames);
	if (r == 0)
		r = subscriptions_read(account, &subs, &nsubs);
	pthread_mutex_unlock(&folders_lock);
	if (r != 0) {
		strings_free(names, nnames);
		free(account);
		return mailbox_error_sys(error_r, "cannot list the folders");
	}
	folder_add(&folders, &count, "INBOX", 0);
	for (size_t i = 0; i < nnames; i++) {
		char *name = mailbox_name_from_disk(names[i]);
		if (!name)
			continue;   /* not a name we could have made: not shown */
		unsigned attrs = 0;
		for (size_t s = 0; s < SPECIAL_FOLDER_COUNT; s++) {
			if (strcmp(name, special_folders[s].name) == 0)
				attrs |= special_folders[s].attr;
		}
		folder_add(&folders, &count, name, attrs);
		/* parents that are no folders of their own */
		for (char *slash = strrchr(name, '/'); slash; slash = strrchr(name, '/')) {
			*slash = '\0';
			folder_add(&folders, &count, name, 0);
		}
		free(name);
	}
	/* parents added above are NOSELECT unless they are folders themselves */
	for (size_t i = 1; i < count; i++) {
		char *d = mailbox_name_to_disk(folders[i].name);
		char *path = d ? xasprintf("%s/%s", account, d) : NULL;
		if (!path || !folder_exists(path))
			folders[i].attrs |= MAILBOX_FOLDER_NOSELECT;
		free(d);
		free(path);
	}
	size_t real = count;
	for (size_t i = 0; i < real; i++) {
		size_t len = strlen(folders[i].name);
		for (size_t j = 0; j < real; j++) {
			if (strncmp(folders[j].name, folders[i].name, len) == 0 &&
			    folders[j].name[len] == '/')
				folders[i].attrs |= MAILBOX_FOLDER_HAS_CHILDREN;
		}
	}
	for (size_t i = 0; i < nsubs; i++) {
		bool known = false;
		for (size_t j = 0; j < real; j++) {
			if (strcmp(folders[j].name, subs[i]) == 0) {
				known = !(folders[j].attrs & MAILBOX_FOLDER_NOSELECT);
				folders[j].attrs |= MAILBOX_FOLDER_SUBSCRIBED;
			}
		}
		if (!known)
			folder_add(&folders, &count, subs[i],
				   MAILBOX_FOLDER_SUBSCRIBED | MAILBOX_FOLDER_NONEXISTENT);
	}
	qsort(folders, count, sizeof(*folders), folder_cmp);
	strings_free(names, nnames);
	strings_free(subs, nsubs);
	free(account);
	*folders_r = folders;
	*count_r = count;
	return 0;
}

void mailbox_folders_free(struct mailbox_folder *folders, size_t count)
{
	for (size_t i = 0; i < count; i++)
		free(folders[i].name);
	free(folders);
}

int mailbox_folder_create(const char *data_dir, const char *address, const char *name,
			  struct mailbox_error *error_r)
{
	char *account, *disk;
	int ret = -1;

	if (resolve(data_dir, address, name, &account, &disk, error_r) != 0)
		return -1;
	pthread_mutex_lock(&folders_lock);
	if (!*disk) {
		mailbox_error_set(error_r, MAILBOX_ERROR_EXISTS, "INBOX exists", 0);
		goto out;
	}
	char *path = xasprintf("%s/%s", account, disk);
	bool exists = folder_exists(path);
	free(path);
	if (exists) {
		mailbox_error_set(error_r, MAILBOX_ERROR_EXISTS, "the folder exists", 0);
		goto out;
	}
	if (!folder_exists(account) && local_maildir_create(account) != 0) {
		mailbox_error_sys(error_r, "cannot create the mailbox");
		goto out;
	}
	/* RFC 3501 6.3.3: the superior names too, each a folder (".A", ".A.B") */
	for (char *dot = strchr(disk + 1, '.');; dot = strchr(dot + 1, '.')) {
		char *level = dot ? xstrndup(disk, (size_t)(dot - disk)) : xstrdup(disk);
		char *p = xasprintf("%s/%s", account, level);
		int r = folder_exists(p) ? 0 : local_maildir_create(p);
		free(p);
		free(level);
		if (r != 0) {
			mailbox_error_sys(error_r, "cannot create the folder");
			goto out;
		}
		if (!dot)
			break;
	}
	ret = 0;
out:
	pthread_mutex_unlock(&folders_lock);
	free(account);
	free(disk);
	return ret;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	int r = flag == FTW_DP ? rmdir(path) : unlink(path);
	if (r != 0)
		log_warn("mailbox_folder_remove", "path=%s error=\"%s\"", path, strerror(errno));
	return 0;
}

int mailbox_folder_delete(const char *data_dir, const char *address, const char *name,
			  struct mailbox_error *error_r)
{
	char *account, *disk, *path = NULL, *trash = NULL;
	int ret = -1;

	if (resolve(data_dir, address, name, &account, &disk, error_r) != 0)
		return -1;
	pthread_mutex_lock(&folders_lock);
	if (!*disk) {
		mailbox_error_set(error_r, MAILBOX_ERROR_CANNOT, "INBOX cannot be deleted", 0);
		goto out;
	}
	path = xasprintf("%s/%s", account, disk);
	if (!folder_exists(path)) {
		mailbox_error_set(error_r, MAILBOX_ERROR_NONEXISTENT, "no such folder", 0);
		goto out;
	}
	/* out of the folder list at once (a rename into the account's tmp/,
	 * where a crash would leave it for Maildir's tmp/ cleaning), then
	 * removed file by file */
	trash = xasprintf("%s/tmp/deleted.%lld.%lu", account, (long long)time(NULL),
			  atomic_fetch_add(&deleted_counter, 1));
	mailbox_registry_lock();
	int r = rename(path, trash);
	if (r == 0)
		mailbox_registry_folder_deleted(path);
	mailbox_registry_unlock();
	if (r != 0) {
		mailbox_error_sys(error_r, "cannot delete the folder");
		goto out;
	}
	mailbox_account_folder_forget(mailbox_account_get(account), path);
	if (path_fsync(account) != 0)
		log_warn("mailbox_folder_delete_sync", "path=%s error=\"%s\"", account, strerror(errno));
	(void)nftw(trash, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	ret = 0;
out:
	pthread_mutex_unlock(&folders_lock);
	free(account);
	free(disk);
	free(path);
	free(trash);
	return ret;
}

/* inbox_rename - RFC 3501 6.3.5: renaming INBOX moves its messages into
 * a new folder NEW_NAME and leaves INBOX empty (its subfolders stay) */
static int inbox_rename(const char *data_dir, const char *address, const char *new_name,
			struct mailbox_error *error_r)
{
	struct mailbox *inbox = NULL, *dest = NULL;
	struct mailbox_view *view = NULL;
	uint32_t *uids = NULL, *src = NULL, *dst = NULL;
	size_t copied = 0;
	int ret = -1;

	if (mailbox_folder_create(data_dir, address, new_name, error_r) != 0 ||
	    mailbox_open(data_dir, address, "INBOX", &inbox, error_r) != 0 ||
	    mailbox_open(data_dir, address, new_name, &dest, error_r) != 0 ||
	    mailbox_view_open(inbox, &view, error_r) != 0)
		goto out;
	uint32_t n = mailbox_view_count(view);
	uids = xcalloc(n + 1, sizeof(*uids));
	for (uint32_t i = 0; i < n; i++)
		uids[i] = mailbox_view_uid(view, i + 1);
	if (n && mailbox_move(view, uids, n, dest, &src, &dst, &copied, error_r) != 0)
		goto out;
	ret = 0;
out:
	free(uids);
	free(src);
	free(dst);
	mailbox_view_free(&view);
	mailbox_unref(&dest);
	mailbox_unref(&inbox);
	return ret;
}

int mailbox_folder_rename(const char *data_dir, const char *address, const char *old_name,
			  const char *new_name, struct mailbox_error *error_r)
{
	char *account = NULL, *old_disk = NULL, *new_disk = NULL, *account2 = NULL;
	char **names = NULL;
	size_t nnames = 0, nmoves = 0;
	int ret = -1;

	if (resolve(data_dir, address, old_name, &account, &old_disk, error_r) != 0)
		return -1;
	if (resolve(data_dir, address, new_name, &account2, &new_disk, error_r) != 0)
		goto unlocked;
	pthread_mutex_lock(&folders_lock);
	if (!*old_disk) {
		pthread_mutex_unlock(&folders_lock);
		ret = inbox_rename(data_dir, address, new_name, error_r);
		goto unlocked;
	}
	if (!*new_disk) {
		mailbox_error_set(error_r, MAILBOX_ERROR_EXISTS, "INBOX exists", 0);
		goto out;
	}
	size_t old_len = strlen(old_disk), new_len = strlen(new_disk);
	if (strcmp(old_disk, new_disk) == 0 ||
	    (new_len > old_len && strncmp(new_disk, old_disk, old_len) == 0 && new_disk[old_len] == '.')) {
		mailbox_error_set(error_r, MAILBOX_ERROR_CANNOT, "cannot rename a folder into itself", 0);
		goto out;
	}
	if (disk_folders(account, &names, &nnames) != 0) {
		mailbox_error_sys(error_r, "cannot list the folders");
		goto out;
	}
	/* the folder and its subfolders; none of their new names may exist */
	for (size_t i = 0; i < nnames; i++) {
		if (strncmp(names[i], new_disk, new_len) == 0 &&
		    (names[i][new_len] == '\0' || names[i][new_len] == '.')) {
			mailbox_error_set(error_r, MAILBOX_ERROR_EXISTS, "the new name exists", 0);
			goto out;
		}
	}
	for (size_t i = 0; i < nnames; i++) {
		if (strncmp(names[i], old_disk, old_len) == 0 &&
		    (names[i][old_len] == '\0' || names[i][old_len] == '.')) {
			char *t = names[nmoves];
			names[nmoves++] = names[i];
			names[i] = t;
		}
	}
	if (nmoves == 0) {
		mailbox_error_set(error_r, MAILBOX_ERROR_NONEXISTENT, "no such folder", 0);
		goto out;
	}
	for (size_t i = 0; i < nmoves; i++) {
		if (strlen(names[i]) - old_len + new_len > 255) {
			mailbox_error_set(error_r, MAILBOX_ERROR_BAD_NAME, "the new name is too long", 0);
			goto out;
		}
	}
	struct mailbox_account *acct = mailbox_account_get(account);
	mailbox_registry_lock();
	for (size_t i = 0; i < nmoves; i++) {
		char *from = xasprintf("%s/%s", account, names[i]);
		char *to = xasprintf("%s/%s%s", account, new_disk, names[i] + old_len);
		int r = rename(from, to);
		if (r == 0) {
			mailbox_registry_folder_renamed(from, to);
			mailbox_account_folder_forget(acct, from);
		}
		free(from);
		free(to);
		if (r != 0) {
			/* what moved stays moved: each level is a folder of its own */
			mailbox_registry_unlock();
			mailbox_error_sys(error_r, "cannot rename the folder");
			goto out;
		}
	}
	mailbox_registry_unlock();
	if (path_fsync(account) != 0) {
		mailbox_error_sys(error_r, "cannot sync the account folder");
		goto out;
	}
	ret = 0;
out:
	pthread_mutex_unlock(&folders_lock);
unlocked:
	strings_free(names, nnames);
	free(account);
	free(account2);
	free(old_disk);
	free(new_disk);
	return ret;
}

/* ---- quota ---- */

static mailbox_quota_limit_fn *quota_limit_fn;
static void *quota_limit_arg;

void mailbox_quota_setup(mailbox_quota_limit_fn *fn, void *arg)
{
	quota_limit_fn = fn;
	quota_limit_arg = arg;
}

/* account_usage - the sum over ACCOUNT's folders (see mailbox_quota_usage) */
static int account_usage(const char *account, struct mailbox_quota *usage_r,
			 struct mailbox_error *error_r)
{
	char **names = NULL;
	size_t nnames = 0;
	int ret = -1;

	usage_r->bytes = 0;
	usage_r->messages = 0;
	struct mailbox_account *acct = mailbox_account_get(account);
	if (disk_folders(account, &names, &nnames) != 0) {
		mailbox_error_sys(error_r, "cannot list the folders");
		goto out;
	}
	for (size_t i = 0; i <= nnames; i++) {
		const char *d = i == 0 ? "" : names[i - 1];
		char *path = *d ? xasprintf("%s/%s", account, d) : xstrdup(account);
		uint64_t bytes = 0, messages = 0;
		bool known = mailbox_account_folder_get(acct, path, &bytes, &messages);
		if (!known && (i > 0 || folder_exists(path))) {
			/* not read yet in this process: open it (the open publishes) */
			struct mailbox *mb;
			struct mailbox_error error;
			if (mailbox_open_path(account, d, &mb, &error) == 0) {
				struct mailbox_status st;
				mailbox_status_get(mb, &st);
				bytes = st.size;
				messages = st.messages;
				mailbox_unref(&mb);
			} else if (error.code != MAILBOX_ERROR_NONEXISTENT) {
				free(path);
				if (error_r)
					*error_r = error;
				goto out;
			}
		}
		free(path);
		usage_r->bytes += bytes;
		usage_r->messages += messages;
	}
	ret = 0;
out:
	strings_free(names, nnames);
	return ret;
}

/* account_limit - the limits of the account whose Maildir is ACCOUNT
 * (".../mail/<domain>/<local>": the address "<local>@<domain>") */
static int account_limit(const char *account, struct mailbox_quota *limit_r,
			 struct mailbox_error *error_r)
{
	limit_r->bytes = 0;
	limit_r->messages = 0;
	if (!quota_limit_fn)
		return 0;
	const char *local = strrchr(account, '/');
	const char *domain = local;
	while (domain && domain > account && domain[-1] != '/')
		domain--;
	if (!local || !domain || domain == local)
		return mailbox_error_set(error_r, MAILBOX_ERROR_BAD_NAME, "invalid account folder", 0);
	/* a plain login's mailbox is mail/sandbox/<login> (local.h) */
	size_t domain_len = (size_t)(local - domain);
	bool login = domain_len == strlen(LOCAL_SANDBOX_FOLDER) &&
		     memcmp(domain, LOCAL_SANDBOX_FOLDER, domain_len) == 0;
	char *address = login ? xstrdup(local + 1) :
		xasprintf("%s@%.*s", local + 1, (int)domain_len, domain);
	int r = quota_limit_fn(quota_limit_arg, address, limit_r);
	free(address);
	if (r != 0)
		return mailbox_error_set(error_r, MAILBOX_ERROR_TEMPORARY,
					 "cannot read the account's quota", 0);
	return 0;
}

/* quota_check_path - mailbox_quota_check_path, and *LIMITED_R (if not
 * NULL) whether the account has a limit at all */
static int quota_check_path(const char *account_path, uint64_t bytes, uint64_t messages,
			    bool *limited_r, struct mailbox_error *error_r)
{
	struct mailbox_quota limit, usage;
	if (account_limit(account_path, &limit, error_r) != 0)
		return -1;
	if (limited_r)
		*limited_r = limit.bytes != 0 || limit.messages != 0;
	if (limit.bytes == 0 && limit.messages == 0)
		return 0;   /* no limit: no need to count */
	if (account_usage(account_path, &usage, error_r) != 0)
		return -1;
	if ((limit.bytes && (usage.bytes > limit.bytes || bytes > limit.bytes - usage.bytes)) ||
	    (limit.messages && (usage.messages > limit.messages ||
				messages > limit.messages - usage.messages)))
		return mailbox_error_set(error_r, MAILBOX_ERROR_OVERQUOTA,
					 "the mailbox is over its quota", 0);
	return 0;
}

int mailbox_quota_usage(const char *data_dir, const char *address, uint64_t *bytes_r,
			uint64_t *messages_r, struct mailbox_error *error_r)
{
	char *account, *disk;
	struct mailbox_quota usage = { 0, 0 };

	*bytes_r = 0;
	*messages_r = 0;
	if (resolve(data_dir, address, NULL, &account, &disk, error_r) != 0)
		return -1;
	int ret = account_usage(account, &usage, error_r);
	free(account);
	*bytes_r = usage.bytes;
	*messages_r = usage.messages;
	return ret;
}

int mailbox_quota_get(const char *data_dir, const char *address, struct mailbox_quota *usage_r,
		      struct mailbox_quota *limit_r, struct mailbox_error *error_r)
{
	char *account, *disk;

	usage_r->bytes = usage_r->messages = 0;
	limit_r->bytes = limit_r->messages = 0;
	if (resolve(data_dir, address, NULL, &account, &disk, error_r) != 0)
		return -1;
	int ret = account_limit(account, limit_r, error_r) == 0 &&
		  account_usage(account, usage_r, error_r) == 0 ? 0 : -1;
	free(account);
	return ret;
}

int mailbox_quota_check_path(const char *account_path, uint64_t bytes, uint64_t messages,
			     struct mailbox_error *error_r)
{
	return quota_check_path(account_path, bytes, messages, NULL, error_r);
}

int mailbox_quota_check(const char *data_dir, const char *address, uint64_t bytes,
			uint64_t messages, struct mailbox_error *error_r)
{
	bool limited;
	return mailbox_quota_check_limited(data_dir, address, bytes, messages, &limited, error_r);
}

int mailbox_quota_check_limited(const char *data_dir, const char *address, uint64_t bytes,
				uint64_t messages, bool *limited_r, struct mailbox_error *error_r)
{
	char *account, *disk;
	*limited_r = true;
	if (resolve(data_dir, address, NULL, &account, &disk, error_r) != 0)
		return -1;
	int ret = quota_check_path(account, bytes, messages, limited_r, error_r);
	free(account);
	return ret;
}
