/* cli/cmd-sender - petrel sender allow|deny|remove|list: which MAIL FROM
 * addresses an account may use (user@domain or @domain rules; the account's
 * own name when it is an address is always allowed unless denied). */
#include "cli/cmd-admin.h"

#include <string.h>

static const char SENDER_USAGE[] =
	"usage: petrel sender allow ACCOUNT ADDRESS|@DOMAIN [-c FILE]\n"
	"       petrel sender deny ACCOUNT ADDRESS|@DOMAIN [-c FILE]\n"
	"       petrel sender remove ACCOUNT ADDRESS|@DOMAIN [-c FILE]\n"
	"       petrel sender list ACCOUNT [-c FILE] [--json]\n";

static int sender_list(struct store *store, const char *account, bool json);

static int sender_list(struct store *store, const char *account, bool json)
{
	struct store_sender *s = NULL;
	size_t n = 0;
	const char *error = NULL;
	int status = admin_status(store_sender_list(store, account, &s, &n, &error), &error);
	if (status != 0)
		return status;
	cli_json_list_open(json);
	for (size_t i = 0; i < n; i++) {
		if (json) {
			cli_json_entry_open(i, "pattern");
			cli_json_string(stdout, s[i].pattern);
			printf(",\"rule\":\"%s\"}", s[i].allow ? "allow" : "deny");
		} else {
			printf("%s %s\n", s[i].allow ? "allow" : "deny", s[i].pattern);
		}
	}
	cli_json_list_close(json);
	store_sender_list_free(&s, n);
	return 0;
}

int cmd_sender(int argc, char **argv)
{
	struct admin_args a;
	if (admin_args_parse(argc, argv, ADMIN_OPT_JSON, SENDER_USAGE, &a) != 0)
		return 2;
	if (a.npos < 1)
		return admin_usage(SENDER_USAGE);
	const char *action = a.pos[0];
	bool is_list = strcmp(action, "list") == 0;
	bool is_allow = strcmp(action, "allow") == 0;
	bool is_deny = strcmp(action, "deny") == 0;
	bool is_remove = strcmp(action, "remove") == 0;
	if ((!is_list && !is_allow && !is_deny && !is_remove) || a.npos != (is_list ? 2 : 3) ||
	    (a.json && !is_list))
		return admin_usage(SENDER_USAGE);
	if (!is_list) {
		const char *p = a.pos[2];
		bool valid = p[0] == '@' ? store_domain_is_valid(p + 1) : store_address_is_valid(p);
		if (!valid)
			return admin_fail(2, "invalid sender '%s': expected user@domain or @domain",
					  p);
	}

	int status = 0;
	struct store *store = admin_store_open(a.config, &status);
	if (!store)
		return status;
	const char *error = NULL;
	if (is_list) {
		status = sender_list(store, a.pos[1], a.json);
	} else if (is_remove) {
		status = admin_status(store_sender_remove(store, a.pos[1], a.pos[2], &error), &error);
	} else {
		status = admin_status(store_sender_set(store, a.pos[1], a.pos[2], is_allow,
						       &error), &error);
		if (status == 0)
			printf("%s %s for %s\n", is_allow ? "allowed" : "denied", a.pos[2],
			       a.pos[1]);
	}
	store_close(&store);
	return status;
}
