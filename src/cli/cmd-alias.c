/* cli/cmd-alias - petrel alias add|remove|list: local addresses that deliver
 * to other addresses (one level; a target may be local or remote). */
#include "cli/cmd-admin.h"

#include <string.h>

static const char ALIAS_USAGE[] =
	"usage: petrel alias add ADDRESS TARGET... [-c FILE]\n"
	"       petrel alias remove ADDRESS [TARGET] [-c FILE]\n"
	"       petrel alias list [-c FILE] [--json]\n";

static int alias_list(struct store *store, bool json);

static int alias_list(struct store *store, bool json)
{
	char **list = NULL;
	const char *error = NULL;
	int status = admin_status(store_alias_list(store, &list, &error), &error);
	if (status != 0)
		return status;
	/* the pairs come sorted by address: group the targets of each */
	cli_json_list_open(json);
	for (size_t i = 0; list[i]; i += 2) {
		bool first = i == 0 || strcmp(list[i], list[i - 2]) != 0;
		bool last = !list[i + 2] || strcmp(list[i], list[i + 2]) != 0;
		if (json) {
			if (first) {
				cli_json_entry_open(i, "address");
				cli_json_string(stdout, list[i]);
				fputs(",\"targets\":[", stdout);
			} else {
				fputc(',', stdout);
			}
			cli_json_string(stdout, list[i + 1]);
			if (last)
				fputs("]}", stdout);
		} else {
			if (first)
				printf("%s ->", list[i]);
			printf(" %s", list[i + 1]);
			if (last)
				putchar('\n');
		}
	}
	cli_json_list_close(json);
	store_strv_free(&list);
	return 0;
}

int cmd_alias(int argc, char **argv)
{
	struct admin_args a;
	if (admin_args_parse(argc, argv, ADMIN_OPT_JSON, ALIAS_USAGE, &a) != 0)
		return 2;
	if (a.npos < 1)
		return admin_usage(ALIAS_USAGE);
	bool is_list = strcmp(a.pos[0], "list") == 0;
	bool is_add = strcmp(a.pos[0], "add") == 0;
	bool is_remove = strcmp(a.pos[0], "remove") == 0;
	if ((!is_list && !is_add && !is_remove) || (is_list && a.npos != 1) ||
	    (is_add && a.npos < 3) || (is_remove && (a.npos < 2 || a.npos > 3)) ||
	    (a.json && !is_list))
		return admin_usage(ALIAS_USAGE);
	if (!is_list && !store_address_is_valid(a.pos[1]))
		return admin_fail(2, "invalid alias address '%s'", a.pos[1]);
	for (int i = 2; is_add && i < a.npos; i++)
		if (!store_address_is_valid(a.pos[i]))
			return admin_fail(2, "invalid target address '%s'", a.pos[i]);

	int status = 0;
	struct config *config = NULL;
	struct store *store = admin_open(a.config, &config, &status);
	if (!store)
		return status;
	const char *error = NULL;
	const char *domain = is_add ? strrchr(a.pos[1], '@') + 1 : NULL;
	if (is_add && !admin_domain_is_local(store, config, domain, &status)) {
		/* mail to a remote address never reaches the alias table */
		if (status == 0)
			status = admin_fail(1, "%s is not a local domain: add it with 'petrel "
					    "domain add %s' or to [domains] local", domain, domain);
	} else if (is_list) {
		status = alias_list(store, a.json);
	} else if (is_remove) {
		status = admin_status(store_alias_remove(store, a.pos[1],
							 a.npos == 3 ? a.pos[2] : NULL, &error), &error);
	} else {
		/* every target is tried; one that fails (exists already) makes
		 * the exit status 1 but does not stop the others */
		for (int i = 2; i < a.npos; i++) {
			int s = admin_status(store_alias_add(store, a.pos[1], a.pos[i], &error), &error);
			if (s == 0)
				printf("alias %s -> %s\n", a.pos[1], a.pos[i]);
			else
				status = s;
		}
	}
	store_close(&store);
	config_free(&config);
	return status;
}
