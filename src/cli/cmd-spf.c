/* cli/cmd-spf - petrel spf check IP SENDER [--helo NAME] [--json] [-c FILE]:
 * the SPF check (RFC 7208) the server would make of a client at IP sending
 * from SENDER, with the resolver petrel.conf's [dns] section sets up, as
 * `petrel serve` does.  SENDER "" checks the HELO identity (postmaster@NAME).
 *
 * Prints the result, the term that decided it and in whose record, the
 * explanation of a fail (exp=), why for none and the errors, and the DNS
 * lookups counted against the limits.  Exit status 0 once a result is
 * known (whatever it is), 2 on a usage or configuration error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "cli/cli.h"
#include "cli/cmd-admin.h"
#include "config/config.h"
#include "dns/dns.h"
#include "mailauth/mailauth.h"

struct spf_cli {
	bool json;
	unsigned void_max;
	const char *ip, *sender, *helo;
	struct event_base *base;
	bool done;
};

static int spf_usage(void);
static void spf_cli_done(void *ctx, const struct spf_outcome *outcome);
static void spf_print_json_field(const char *key, const char *value);

/* cli_dns_create - the resolver of the commands that look things up */
struct dns_resolver *cli_dns_create(struct event_base *base, const struct config *config)
{
	const char *error = NULL;
	struct dns_settings settings = {
		.forwarder = config->dns.resolver[0] ? config->dns.resolver : NULL,
		.special_zones = config->dns.special_zones[0] ? config->dns.special_zones : NULL,
		.timeout_ms = config->dns.timeout * 1000,
	};
	struct dns_resolver *dns = dns_resolver_create(base, &settings, &error);
	if (dns == NULL)
		fprintf(stderr, "petrel: dns: %s\n", error);
	return dns;
}

static int spf_usage(void)
{
	fputs("usage: petrel spf check IP SENDER [--helo NAME] [--json] [-c FILE]\n"
	      "  SENDER \"\" checks the HELO identity (postmaster@NAME)\n", stderr);
	return 2;
}

int cmd_spf(int argc, char **argv)
{
	const char *file = CLI_DEFAULT_CONFIG;
	const char *args[3] = { NULL, NULL, NULL };
	size_t nargs = 0;
	struct spf_cli cli = { 0 };
	for (int i = 1; i < argc; i++) {
		if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) &&
		    i + 1 < argc)
			file = argv[++i];
		else if (strcmp(argv[i], "--helo") == 0 && i + 1 < argc)
			cli.helo = argv[++i];
		else if (strcmp(argv[i], "--json") == 0)
			cli.json = true;
		else if ((argv[i][0] == '-' && argv[i][1] != '\0') || nargs == 3)
			return spf_usage();
		else
			args[nargs++] = argv[i];
	}
	if (nargs != 3 || strcmp(args[0], "check") != 0)
		return spf_usage();
	cli.ip = args[1];
	cli.sender = args[2];

	const char *error = NULL;
	struct config *config = config_load(file, &error);
	if (!config) {
		fprintf(stderr, "petrel: %s\n", error);
		return 2;
	}
	int rc = 1;
	struct dns_resolver *dns = NULL;
	cli.base = event_base_new();
	if (cli.base == NULL) {
		fputs("petrel: cannot create the event loop\n", stderr);
		goto out;
	}
	dns = cli_dns_create(cli.base, config);
	if (dns == NULL)
		goto out;
	struct spf_params params = {
		.ip = cli.ip, .sender = cli.sender, .helo = cli.helo,
		.receiver = config->hostname, .now = (long long)time(NULL),
		.void_lookups_max = config->auth.spf_void_lookups,
		.timeout_ms = config->auth.spf_timeout * 1000,
	};
	cli.void_max = config->auth.spf_void_lookups;
	/* never cancelled: the loop runs until its callback */
	spf_request_start(cli.base, dns, &params, spf_cli_done, &cli);
	if (event_base_dispatch(cli.base) < 0 || !cli.done) {
		fputs("petrel: the event loop stopped before the check ended\n", stderr);
		goto out;
	}
	rc = 0;
out:
	dns_resolver_free(&dns);
	if (cli.base)
		event_base_free(cli.base);
	config_free(&config);
	return rc;
}

static void spf_cli_done(void *ctx, const struct spf_outcome *o)
{
	struct spf_cli *cli = ctx;
	cli->done = true;
	const char *identity = cli->sender[0] ? "mailfrom" : "helo";
	if (cli->json) {
		printf("{");
		spf_print_json_field("result", spf_result_name(o->result));
		spf_print_json_field("identity", identity);
		spf_print_json_field("mechanism", o->mechanism);
		spf_print_json_field("domain", o->domain);
		spf_print_json_field("explanation", o->explanation);
		spf_print_json_field("problem", o->problem);
		printf("\"lookups\": %u, \"void_lookups\": %u, \"queries\": %u}\n", o->lookups,
		       o->void_lookups, o->queries);
	} else {
		printf("%s", spf_result_name(o->result));
		if (o->mechanism)
			printf(" (%s in the record of %s)", o->mechanism, o->domain);
		else if (o->problem)
			printf(" (%s)", o->problem);
		printf("\n");
		if (o->explanation)
			printf("explanation: %s\n", o->explanation);
		printf("identity: %s; DNS lookups: %u of %d, void lookups: %u of %u, "
		       "queries: %u\n", identity, o->lookups, SPF_LOOKUP_MAX, o->void_lookups,
		       cli->void_max, o->queries);
	}
	event_base_loopbreak(cli->base);
}

/* spf_print_json_field - "KEY": VALUE (NULL: null) and the comma after it */
static void spf_print_json_field(const char *key, const char *value)
{
	printf("\"%s\": ", key);
	cli_json_string(stdout, value);
	printf(", ");
}
