/* cli/cmd-store - petrel store copy --from sqlite:DATA_DIR [--to postgresql://...]
 * [--credentials-to postgresql://...] [-c FILE]: a single node's store moved
 * to PostgreSQL (without --to, the [store] url of FILE, which must say
 * backend = postgresql), and its password secrets (DATA_DIR/auth/
 * credentials.db) to the credentials' database (--credentials-to, or
 * without --to the [store] credentials_url of FILE when it has one).
 *
 * Through the store's public interface on both sides, so it copies what
 * that interface reads: domains, plans, accounts (their creation times
 * kept), sender rules, aliases, events (times kept, new ids, oldest first)
 * and DMARC evaluations.  Not copied: the sending counters (they restart
 * at zero on the new database) and which DMARC reports were already made.
 * Password secrets are not in the store: they go only to a credentials
 * database, which must hold none (copied in one transaction, before the
 * store).  The target must hold no domain, account, alias or event, so that
 * a rerun after a failure cannot merge two copies: empty it (or make a new
 * database) and run again.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "cli/cmd-admin.h"
#include "config/config.h"
#include "store/store.h"
#include "util/xalloc.h"

#define STORE_USAGE "usage: petrel store copy --from sqlite:DATA_DIR [--to postgresql://...]" \
	" [--credentials-to postgresql://...] [-c FILE]\n"
/* events read and written per transaction */
#define COPY_EVENT_BATCH 1000

struct copy_counts {
	size_t domains, plans, accounts, senders, aliases, events, dmarc;
};

static int target_is_empty(struct store *to, const char **error_r);
static int copy_domains(struct store *from, struct store *to, struct copy_counts *n,
			const char **error_r);
static int copy_plans_accounts(struct store *from, struct store *to, struct copy_counts *n,
			       const char **error_r);
static int copy_aliases(struct store *from, struct store *to, struct copy_counts *n,
			const char **error_r);
static int copy_events(struct store *from, struct store *to, struct copy_counts *n,
		       const char **error_r);
static int copy_dmarc(struct store *from, struct store *to, struct copy_counts *n,
		      const char **error_r);
static int copy_credentials(const char *from_dir, const char *to_url, size_t *copied_r,
			    const char **error_r);

/* target_is_empty - 0 if TO holds no domain, account, alias or event; 1 if
 * it does (*error_r says what); -1 */
static int target_is_empty(struct store *to, const char **error_r)
{
	char **domains = NULL, **aliases = NULL;
	struct store_account **accounts = NULL;
	struct store_event **events = NULL;
	size_t n_accounts = 0, n_events = 0;
	int rc = -1;
	if (store_domain_list(to, &domains, error_r) != 0 ||
	    store_account_list(to, &accounts, &n_accounts, error_r) != 0 ||
	    store_alias_list(to, &aliases, error_r) != 0 ||
	    store_event_list(to, NULL, 0, 0, 1, &events, &n_events, error_r) != 0)
		goto out;
	rc = 0;
	if (domains[0] || n_accounts > 0 || aliases[0] || n_events > 0) {
		*error_r = "the target store is not empty (it holds domains, accounts, aliases or"
			   " events): copy into a new database";
		rc = 1;
	}
out:
	store_strv_free(&domains);
	store_strv_free(&aliases);
	store_account_list_free(&accounts, n_accounts);
	store_event_list_free(&events, n_events);
	return rc;
}

static int copy_domains(struct store *from, struct store *to, struct copy_counts *n,
			const char **error_r)
{
	char **domains = NULL;
	int rc = store_domain_list(from, &domains, error_r);
	for (size_t i = 0; rc == 0 && domains[i]; i++, n->domains++)
		rc = store_domain_add(to, domains[i], error_r);
	store_strv_free(&domains);
	return rc;
}

/* copy_plans_accounts - plans first (accounts name them), then each
 * account with its sender rules */
static int copy_plans_accounts(struct store *from, struct store *to, struct copy_counts *n,
			       const char **error_r)
{
	struct store_plan **plans = NULL;
	struct store_account **accounts = NULL;
	size_t n_plans = 0, n_accounts = 0;
	int rc = store_plan_list(from, &plans, &n_plans, error_r);
	for (size_t i = 0; rc == 0 && i < n_plans; i++, n->plans++)
		rc = store_plan_set(to, plans[i], error_r);
	if (rc == 0)
		rc = store_account_list(from, &accounts, &n_accounts, error_r);
	for (size_t i = 0; rc == 0 && i < n_accounts; i++, n->accounts++) {
		struct store_sender *senders = NULL;
		size_t n_senders = 0;
		/* a home names a node the target does not know yet: set it again
		 * there with `petrel account home` */
		struct store_account account = *accounts[i];
		account.home_node = NULL;
		rc = store_account_add(to, &account, error_r);
		if (rc == 0)
			rc = store_sender_list(from, accounts[i]->name, &senders, &n_senders,
					       error_r);
		for (size_t k = 0; rc == 0 && k < n_senders; k++, n->senders++)
			rc = store_sender_set(to, accounts[i]->name, senders[k].pattern,
					      senders[k].allow, error_r);
		store_sender_list_free(&senders, n_senders);
	}
	store_plan_list_free(&plans, n_plans);
	store_account_list_free(&accounts, n_accounts);
	return rc;
}

static int copy_aliases(struct store *from, struct store *to, struct copy_counts *n,
			const char **error_r)
{
	char **pairs = NULL;
	int rc = store_alias_list(from, &pairs, error_r);
	for (size_t i = 0; rc == 0 && pairs[i]; i += 2, n->aliases++)
		rc = store_alias_add(to, pairs[i], pairs[i + 1], error_r);
	store_strv_free(&pairs);
	return rc;
}

/* copy_events - in batches of COPY_EVENT_BATCH, one transaction each */
static int copy_events(struct store *from, struct store *to, struct copy_counts *n,
		       const char **error_r)
{
	int64_t after = 0;
	for (;;) {
		struct store_event **v = NULL;
		size_t count = 0;
		if (store_event_list(from, NULL, 0, after, COPY_EVENT_BATCH, &v, &count,
				     error_r) != 0)
			return -1;
		if (count == 0) {
			store_event_list_free(&v, count);
			return 0;
		}
		struct store_event *batch = xcalloc(count, sizeof(*batch));
		for (size_t i = 0; i < count; i++)
			batch[i] = *v[i];
		after = v[count - 1]->id;
		int rc = store_event_add_many(to, batch, count, error_r);
		free(batch);
		store_event_list_free(&v, count);
		if (rc != 0)
			return -1;
		n->events += count;
	}
}

static int copy_dmarc(struct store *from, struct store *to, struct copy_counts *n,
		      const char **error_r)
{
	struct store_dmarc_eval **v = NULL;
	size_t count = 0;
	/* every row: time >= 0 and < the largest time_t */
	int rc = store_dmarc_eval_list(from, 0, (time_t)INT64_MAX, &v, &count, error_r);
	for (size_t i = 0; rc == 0 && i < count; i++, n->dmarc++)
		rc = store_dmarc_eval_add(to, v[i], error_r);
	store_dmarc_eval_list_free(&v, count);
	return rc;
}

/* copy_credentials - FROM_DIR/auth/credentials.db into the empty
 * credentials database at TO_URL */
static int copy_credentials(const char *from_dir, const char *to_url, size_t *copied_r,
			    const char **error_r)
{
	const struct store_settings settings = { .data_dir = from_dir, .url = to_url };
	struct store_credentials *from = store_credentials_open(from_dir, error_r);
	if (!from)
		return -1;
	struct store_credentials *to = store_credentials_open_settings(&settings, error_r);
	int rc = to ? store_credentials_copy(from, to, copied_r, error_r) : -1;
	store_credentials_close(&from);
	store_credentials_close(&to);
	return rc;
}

/* store_copy - see the head of this file; CREDENTIALS_URL NULL: no secrets */
static int store_copy(const char *from_dir, const char *to_url, const char *credentials_url)
{
	char *db = xasprintf("%s/petrel.db", from_dir);
	struct stat st;
	bool found = stat(db, &st) == 0 && S_ISREG(st.st_mode);
	free(db);
	if (!found)
		return admin_fail(1, "%s/petrel.db: no SQLite store there", from_dir);
	const char *error = NULL;
	struct store *from = store_open(from_dir, &error);
	if (!from)
		return admin_fail(1, "cannot open the store in %s: %s", from_dir, error);
	const struct store_settings settings = { .data_dir = from_dir, .url = to_url };
	struct store *to = store_open_settings(&settings, &error);
	if (!to) {
		store_close(&from);
		return admin_fail(1, "cannot open the store (postgresql): %s", error);
	}
	struct copy_counts n = { 0 };
	size_t credentials = 0;
	int rc = target_is_empty(to, &error);
	if (rc == 0 && credentials_url)
		rc = copy_credentials(from_dir, credentials_url, &credentials, &error);
	if (rc == 0)
		rc = copy_domains(from, to, &n, &error);
	if (rc == 0)
		rc = copy_plans_accounts(from, to, &n, &error);
	if (rc == 0)
		rc = copy_aliases(from, to, &n, &error);
	if (rc == 0)
		rc = copy_events(from, to, &n, &error);
	if (rc == 0)
		rc = copy_dmarc(from, to, &n, &error);
	store_close(&from);
	store_close(&to);
	if (rc != 0)
		return admin_fail(1, "store copy: %s", error);
	printf("copied domains=%zu plans=%zu accounts=%zu senders=%zu aliases=%zu events=%zu"
	       " dmarc_evaluations=%zu", n.domains, n.plans, n.accounts, n.senders, n.aliases,
	       n.events, n.dmarc);
	if (credentials_url)
		printf(" credentials=%zu", credentials);
	putchar('\n');
	return 0;
}

int cmd_store(int argc, char **argv)
{
	const char *from = NULL, *to = NULL, *credentials = NULL, *file = CLI_DEFAULT_CONFIG;
	if (argc < 2 || strcmp(argv[1], "copy") != 0)
		return admin_usage(STORE_USAGE);
	for (int i = 2; i < argc; i += 2) {
		if (i + 1 >= argc)
			return admin_usage(STORE_USAGE);
		if (strcmp(argv[i], "--from") == 0)
			from = argv[i + 1];
		else if (strcmp(argv[i], "--to") == 0)
			to = argv[i + 1];
		else if (strcmp(argv[i], "--credentials-to") == 0)
			credentials = argv[i + 1];
		else if (strcmp(argv[i], "-c") == 0)
			file = argv[i + 1];
		else
			return admin_usage(STORE_USAGE);
	}
	if (!from)
		return admin_usage(STORE_USAGE);
	if (strncmp(from, "sqlite:", 7) != 0 || from[7] == '\0')
		return admin_fail(2, "--from must be sqlite:DATA_DIR (the folder of petrel.db)");
	struct config *config = NULL;
	if (!to) {
		const char *error = NULL;
		config = config_load(file, &error);
		if (!config)
			return admin_fail(2, "%s", error);
		if (config->store.backend != STORE_BACKEND_POSTGRESQL) {
			config_free(&config);
			return admin_fail(2, "no --to, and %s does not say [store] backend ="
					  " postgresql", file);
		}
		to = config->store.url;
		if (!credentials && config->store.credentials_url[0] != '\0')
			credentials = config->store.credentials_url;
	}
	int status = !config_url_is_postgresql(to)
		? admin_fail(2, "--to must be a postgresql:// URL")
		: credentials && !config_url_is_postgresql(credentials)
		? admin_fail(2, "--credentials-to must be a postgresql:// URL")
		: credentials && strcmp(credentials, to) == 0
		? admin_fail(2, "--credentials-to must not be the store's URL: the network process"
			     " would reach the password hashes")
		: store_copy(from + 7, to, credentials);
	config_free(&config);
	return status;
}
