/* cli/cmd-domain - petrel domain add|list|remove: the domains Petrel
 * receives mail for, kept in the store. */
#include "cli/cmd-admin.h"

#include <string.h>

static const char DOMAIN_USAGE[] =
	"usage: petrel domain add DOMAIN [-c FILE]\n"
	"       petrel domain remove DOMAIN [-c FILE]\n"
	"       petrel domain list [-c FILE] [--json]\n";

int cmd_domain(int argc, char **argv)
{
	struct admin_args a;
	if (admin_args_parse(argc, argv, ADMIN_OPT_JSON, DOMAIN_USAGE, &a) != 0)
		return 2;
	if (a.npos < 1)
		return admin_usage(DOMAIN_USAGE);
	const char *action = a.pos[0];
	bool is_list = strcmp(action, "list") == 0;
	bool is_add = strcmp(action, "add") == 0;
	bool is_remove = strcmp(action, "remove") == 0;
	if ((!is_list && !is_add && !is_remove) || a.npos != (is_list ? 1 : 2) ||
	    (a.json && !is_list))
		return admin_usage(DOMAIN_USAGE);
	if (is_add && !store_domain_is_valid(a.pos[1]))
		return admin_fail(2, "invalid domain name '%s'", a.pos[1]);

	int status = 0;
	struct store *store = admin_store_open(a.config, &status);
	if (!store)
		return status;
	const char *error = NULL;
	if (is_add) {
		status = admin_status(store_domain_add(store, a.pos[1], &error), &error);
	} else if (is_remove) {
		status = admin_status(store_domain_remove(store, a.pos[1], &error), &error);
	} else {
		char **domains = NULL;
		status = admin_status(store_domain_list(store, &domains, &error), &error);
		if (status == 0) {
			if (a.json)
				fputc('[', stdout);
			for (size_t i = 0; domains[i]; i++) {
				if (a.json) {
					fputs(i ? ",{\"name\":" : "{\"name\":", stdout);
					json_string(stdout, domains[i]);
					fputc('}', stdout);
				} else {
					printf("%s\n", domains[i]);
				}
			}
			if (a.json)
				fputs("]\n", stdout);
			store_strv_free(&domains);
		}
	}
	store_close(&store);
	return status;
}
