/* cli/cmd-domain - petrel domain add|list|remove: the domains Petrel
 * receives mail for: those added here (kept in the store) and those of
 * petrel.conf's [domains] local, which list shows too.  `add` also says
 * where the new domain's postmaster mail will go (RFC 5321 4.5.1). */
#include "cli/cmd-admin.h"

#include "policy/policy.h"
#include "util/xalloc.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static int postmaster_say(struct store *store, const struct config *config,
			  const char *domain);

/* postmaster_say - print where mail for postmaster@DOMAIN goes, by the rule
 * the server follows (policy_postmaster_resolve_blocking) */
static int postmaster_say(struct store *store, const struct config *config,
			  const char *domain)
{
	const char *error = NULL;
	char *d = xstrdup(domain);
	for (char *p = d; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	char **boxes = NULL;
	const char *source = NULL;
	int status = admin_status(policy_postmaster_resolve_blocking(store, config, d, &boxes,
								     &source, &error), &error);
	if (status == 0 && strcmp(source, "own mailbox") == 0) {
		printf("postmaster@%s: mail goes to the mailbox %s/mail/%s/postmaster/ (no "
		       "account needed; set [domains] postmaster in petrel.conf, or add an "
		       "alias, to send it elsewhere)\n", d, config->data_dir, d);
	} else if (status == 0) {
		printf("postmaster@%s: mail goes to", d);
		for (size_t i = 0; boxes[i]; i++)
			printf("%s %s", i ? "," : "", boxes[i]);
		printf(" (%s%s)\n", source,
		       strcmp(source, "[domains] postmaster") == 0 ? " in petrel.conf" : "");
	}
	store_strv_free(&boxes);
	free(d);
	return status;
}

static const char DOMAIN_USAGE[] =
	"usage: petrel domain add DOMAIN [-c FILE]\n"
	"       petrel domain remove DOMAIN [-c FILE]\n"
	"       petrel domain list [-c FILE] [--json]\n";

static int domain_cmp(const void *a, const void *b);
static int domain_list(struct store *store, const struct config *config, bool json);

static int domain_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* domain_list - the local domains, from petrel.conf's [domains] local and
 * from the store, sorted, once each, saying where each comes from */
static int domain_list(struct store *store, const struct config *config, bool json)
{
	char **stored = NULL;
	const char *error = NULL;
	int status = admin_status(store_domain_list(store, &stored, &error), &error);
	if (status != 0)
		return status;
	size_t nstored = 0;
	while (stored[nstored])
		nstored++;
	size_t n = 0;
	char **all = xcalloc(nstored + config->local_domain_count + 1, sizeof(char *));
	for (size_t i = 0; i < nstored; i++)
		all[n++] = stored[i];
	for (size_t i = 0; i < config->local_domain_count; i++) {
		bool seen = false;
		for (size_t j = 0; j < nstored && !seen; j++)
			seen = strcmp(stored[j], config->local_domains[i]) == 0;
		if (!seen)
			all[n++] = config->local_domains[i];
	}
	qsort(all, n, sizeof(char *), domain_cmp);
	cli_json_list_open(json);
	for (size_t i = 0; i < n; i++) {
		bool in_config = config_is_local_domain(config, all[i]);
		bool in_store = false;
		for (size_t j = 0; j < nstored && !in_store; j++)
			in_store = stored[j] == all[i] || strcmp(stored[j], all[i]) == 0;
		if (json) {
			cli_json_entry_open(i, "name");
			cli_json_string(stdout, all[i]);
			printf(",\"config\":%s,\"store\":%s}", in_config ? "true" : "false",
			       in_store ? "true" : "false");
		} else {
			printf("%s%s%s\n", all[i], in_config ? " config" : "",
			       in_store ? " store" : "");
		}
	}
	cli_json_list_close(json);
	free(all);
	store_strv_free(&stored);
	return 0;
}

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
	struct config *config = NULL;
	struct store *store = admin_open(a.config, &config, &status);
	if (!store)
		return status;
	const char *error = NULL;
	if (is_add) {
		status = admin_status(store_domain_add(store, a.pos[1], &error), &error);
		if (status == 0)
			status = postmaster_say(store, config, a.pos[1]);
	} else if (is_remove) {
		status = store_domain_remove(store, a.pos[1], &error);
		if (status == STORE_NOT_FOUND && config_is_local_domain(config, a.pos[1]))
			status = admin_fail(1, "%s is in [domains] local of %s: remove it there",
					    a.pos[1], config->path);
		else
			status = admin_status(status, &error);
	} else {
		status = domain_list(store, config, a.json);
	}
	store_close(&store);
	config_free(&config);
	return status;
}
