/* cli/cmd-dmarc - DMARC (RFC 7489) from the command line, and the loading of
 * the Public Suffix List that `petrel serve` checks at start. */
#include <stdio.h>

#include "cli/cli.h"
#include "config/config.h"
#include "mailauth/mailauth.h"

/* cli_psl_load - the list named by [auth] public_suffix_list */
struct mailauth_psl *cli_psl_load(const struct config *config)
{
	const char *error = NULL;
	struct mailauth_psl *psl = mailauth_psl_load(config->auth.public_suffix_list, &error);
	if (psl)
		return psl;
	int line = config_key_line(config, "auth", "public_suffix_list");
	if (line > 0)
		fprintf(stderr, "petrel: %s:%d: [auth] public_suffix_list: %s\n", config->path,
			line, error);
	else
		fprintf(stderr, "petrel: %s: [auth] public_suffix_list (the default): %s\n",
			config->path, error);
	return NULL;
}
