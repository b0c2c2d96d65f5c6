/* cli/cmd-suppression - petrel suppression list|add|del: an account's
 * suppression lists (SendGrid's bounces, blocks, unsubscribes and
 * spam_reports; docs/operations.md "Suppressions").  The queue adds hard
 * bounces itself and drops later mail to any listed address; these commands
 * show the lists and add or remove addresses by hand. */
#include "cli/cmd-admin.h"

#include <inttypes.h>
#include <string.h>

static const char SUPPRESSION_USAGE[] =
	"usage: petrel suppression list ACCOUNT [--type LIST] [--json] [-c FILE]\n"
	"       petrel suppression add ACCOUNT EMAIL [--type LIST] [--reason TEXT] [-c FILE]\n"
	"       petrel suppression del ACCOUNT EMAIL|--all [--type LIST] [-c FILE]\n"
	"LIST: bounces (the default), blocks, unsubscribes, spam_reports\n";

#define SUPPRESSION_REASON_MAX 1000

static int suppression_list(struct store *store, const char *account,
			    enum store_suppression_list list, bool json);
static int account_check(struct store *store, const char *account);

/* account_check - 0 when ACCOUNT exists, else the exit status after saying so */
static int account_check(struct store *store, const char *account)
{
	const char *error = NULL;
	struct store_account *a = NULL;
	int status = admin_status(store_account_get(store, account, &a, &error), &error);
	store_account_free(&a);
	return status;
}

static int suppression_list(struct store *store, const char *account,
			    enum store_suppression_list list, bool json)
{
	struct store_suppression **v = NULL;
	size_t n = 0;
	const char *error = NULL;
	int status = account_check(store, account);
	if (status == 0)
		status = admin_status(store_suppression_list(store, account, list, NULL, &v, &n,
							     &error), &error);
	if (status != 0)
		return status;
	cli_json_list_open(json);
	for (size_t i = 0; i < n; i++) {
		char when[32];
		if (json) {
			/* SendGrid's shape: created in UNIX seconds */
			cli_json_entry_open(i, "created");
			printf("%lld,\"email\":", (long long)v[i]->created);
			cli_json_string(stdout, v[i]->email);
			fputs(",\"reason\":", stdout);
			cli_json_string(stdout, v[i]->reason);
			fputs(",\"status\":", stdout);
			cli_json_string(stdout, v[i]->status);
			putchar('}');
		} else {
			printf("%s %s%s%s%s%s\n", v[i]->email,
			       admin_time_format(v[i]->created, when, sizeof(when)),
			       v[i]->status[0] ? " status=" : "", v[i]->status,
			       v[i]->reason[0] ? " reason=" : "", v[i]->reason);
		}
	}
	cli_json_list_close(json);
	store_suppression_list_free(&v, n);
	return 0;
}

int cmd_suppression(int argc, char **argv)
{
	struct admin_args a;
	unsigned opts = ADMIN_OPT_JSON | ADMIN_OPT_TYPE | ADMIN_OPT_REASON | ADMIN_OPT_ALL;
	if (admin_args_parse(argc, argv, opts, SUPPRESSION_USAGE, &a) != 0)
		return 2;
	bool is_list = a.npos == 2 && strcmp(a.pos[0], "list") == 0;
	bool is_add = a.npos == 3 && strcmp(a.pos[0], "add") == 0;
	bool is_del = strcmp(a.npos > 0 ? a.pos[0] : "", "del") == 0 &&
		      a.npos == (a.all ? 2 : 3);
	if ((!is_list && !is_add && !is_del) || (a.json && !is_list) ||
	    (a.reason && !is_add) || (a.all && !is_del))
		return admin_usage(SUPPRESSION_USAGE);
	enum store_suppression_list list = STORE_SUPPRESSION_BOUNCES;
	if (a.type && !store_suppression_list_parse(a.type, &list))
		return admin_fail(2, "--type: expected bounces, blocks, unsubscribes or"
				  " spam_reports, not '%s'", a.type);
	if (a.reason && strlen(a.reason) > SUPPRESSION_REASON_MAX)
		return admin_fail(2, "--reason: at most %d characters", SUPPRESSION_REASON_MAX);

	int status = 0;
	struct store *store = admin_store_open(a.config, &status);
	if (!store)
		return status;
	const char *error = NULL;
	const char *account = a.pos[1];
	if (is_list) {
		status = suppression_list(store, account, list, a.json);
	} else if (is_add) {
		struct store_suppression entry = { .list = list, .email = (char *)a.pos[2],
						   .reason = (char *)a.reason };
		status = admin_status(store_suppression_add(store, account, &entry, &error),
				      &error);
	} else {
		uint64_t removed = 0;
		status = account_check(store, account);
		if (status == 0)
			status = admin_status(store_suppression_remove(store, account, list,
					      a.all ? NULL : a.pos[2], &removed, &error), &error);
		if (status == 0 && a.all)
			fprintf(stderr, "petrel: %" PRIu64 " addresses removed from %s's %s\n",
				removed, account, store_suppression_list_name(list));
	}
	store_close(&store);
	return status;
}
