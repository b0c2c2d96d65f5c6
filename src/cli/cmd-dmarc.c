/* cli/cmd-dmarc - petrel dmarc check FROM-DOMAIN [--spf RESULT --spf-domain D]
 * [--dkim RESULT --dkim-domain D ...] [--json] [-c FILE]: the DMARC
 * evaluation (RFC 7489) the server would make of a message whose From
 * domain is FROM-DOMAIN, given the SPF and DKIM results, with the records
 * found through the resolver petrel.conf's [dns] section sets up (as
 * `petrel serve` does) and the Public Suffix List of [auth].
 *
 * Prints the record found and where, the organizational domain, the
 * alignment of each identifier, the result, the policy that applies and the
 * disposition after pct= sampling, and whether it would be enforced
 * ([auth] dmarc_enforce).  Exit status 0 once a result is known (whatever
 * it is), 2 on a usage or configuration error.
 *
 * Also here: the loading of the Public Suffix List that `petrel serve`
 * checks at start.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "cli/cli.h"
#include "cli/cmd-admin.h"
#include "config/config.h"
#include "dns/dns.h"
#include "mailauth/mailauth.h"
#include "util/xalloc.h"

struct dmarc_cli {
	bool json;
	struct dmarc_params params;
	struct event_base *base;
	struct dmarc_discovery *discovery;
};

static int dmarc_usage(void);
static bool parse_spf_result(const char *s, enum spf_result *result_r);
static bool parse_dkim_result(const char *s, enum dkim_result *result_r);
static void dmarc_cli_done(void *ctx, struct dmarc_discovery *discovery);
static void dmarc_print(const struct dmarc_cli *cli, const struct dmarc_found *found,
			const struct dmarc_outcome *o);
static void dmarc_print_json(const struct dmarc_cli *cli, const struct dmarc_found *found,
			     const struct dmarc_outcome *o);

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

static int dmarc_usage(void)
{
	fputs("usage: petrel dmarc check FROM-DOMAIN [--spf RESULT --spf-domain DOMAIN]\n"
	      "         [--dkim RESULT --dkim-domain DOMAIN ...] [--json] [-c FILE]\n"
	      "  SPF RESULT: pass fail softfail neutral none temperror permerror (none if\n"
	      "  not given); DKIM RESULT: pass fail none temperror permerror, one --dkim and\n"
	      "  one --dkim-domain per signature, in the same order\n", stderr);
	return 2;
}

static bool parse_spf_result(const char *s, enum spf_result *result_r)
{
	for (int r = SPF_RESULT_NONE; r <= SPF_RESULT_PERMERROR; r++) {
		if (strcmp(s, spf_result_name((enum spf_result)r)) == 0) {
			*result_r = (enum spf_result)r;
			return true;
		}
	}
	return false;
}

static bool parse_dkim_result(const char *s, enum dkim_result *result_r)
{
	for (int r = DKIM_RESULT_NONE; r <= DKIM_RESULT_PERMERROR; r++) {
		if (strcmp(s, dkim_result_name((enum dkim_result)r)) == 0) {
			*result_r = (enum dkim_result)r;
			return true;
		}
	}
	return false;
}

int cmd_dmarc(int argc, char **argv)
{
	const char *file = CLI_DEFAULT_CONFIG;
	const char *args[2] = { NULL, NULL };
	size_t nargs = 0, dkim_results = 0, dkim_domains = 0;
	struct dmarc_cli cli = { 0 };
	struct dmarc_dkim_input *dkim = xcalloc((size_t)argc, sizeof(*dkim));
	cli.params.spf = SPF_RESULT_NONE;
	int rc = 2;
	if (argc >= 2 && strcmp(argv[1], "report") == 0) {
		free(dkim);
		return cmd_dmarc_report(argc, argv);
	}
	for (int i = 1; i < argc; i++) {
		bool has_value = i + 1 < argc;
		if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) && has_value) {
			file = argv[++i];
		} else if (strcmp(argv[i], "--spf") == 0 && has_value) {
			if (!parse_spf_result(argv[++i], &cli.params.spf)) {
				fprintf(stderr, "petrel: unknown SPF result '%s'\n", argv[i]);
				goto usage;
			}
		} else if (strcmp(argv[i], "--spf-domain") == 0 && has_value) {
			cli.params.spf_domain = argv[++i];
		} else if (strcmp(argv[i], "--dkim") == 0 && has_value) {
			if (!parse_dkim_result(argv[++i], &dkim[dkim_results++].result)) {
				fprintf(stderr, "petrel: unknown DKIM result '%s'\n", argv[i]);
				goto usage;
			}
		} else if (strcmp(argv[i], "--dkim-domain") == 0 && has_value) {
			dkim[dkim_domains++].domain = argv[++i];
		} else if (strcmp(argv[i], "--json") == 0) {
			cli.json = true;
		} else if ((argv[i][0] == '-' && argv[i][1] != '\0') || nargs == 2) {
			goto usage;
		} else {
			args[nargs++] = argv[i];
		}
	}
	if (nargs != 2 || strcmp(args[0], "check") != 0 || dkim_results != dkim_domains)
		goto usage;
	cli.params.dkim = dkim;
	cli.params.dkim_count = dkim_results;
	/* an address is taken for its domain */
	const char *from = strrchr(args[1], '@') ? strrchr(args[1], '@') + 1 : args[1];

	const char *error = NULL;
	struct config *config = config_load(file, &error);
	if (!config) {
		fprintf(stderr, "petrel: %s\n", error);
		goto out_args;
	}
	struct dns_resolver *dns = NULL;
	struct mailauth_psl *psl = cli_psl_load(config);
	if (!psl)
		goto out;
	rc = 1;
	cli.params.psl = psl;
	cli.params.enforce = config->auth.dmarc_enforce;
	cli.base = event_base_new();
	if (cli.base == NULL) {
		fputs("petrel: cannot create the event loop\n", stderr);
		goto out;
	}
	dns = cli_dns_create(cli.base, config);
	if (dns == NULL)
		goto out;
	(void)dmarc_request_start(cli.base, dns, psl, from, dmarc_cli_done, &cli);
	if (event_base_dispatch(cli.base) < 0 || !cli.discovery) {
		fputs("petrel: the event loop stopped before the check ended\n", stderr);
		goto out;
	}
	const struct dmarc_found *found = dmarc_discovery_found(cli.discovery);
	struct dmarc_outcome outcome;
	dmarc_evaluate(found, &cli.params, &outcome);
	if (cli.json)
		dmarc_print_json(&cli, found, &outcome);
	else
		dmarc_print(&cli, found, &outcome);
	rc = 0;
out:
	dmarc_discovery_free(&cli.discovery);
	dns_resolver_free(&dns);
	if (cli.base)
		event_base_free(cli.base);
	mailauth_psl_free(&psl);
	config_free(&config);
out_args:
	free(dkim);
	return rc;
usage:
	free(dkim);
	return dmarc_usage();
}

static void dmarc_cli_done(void *ctx, struct dmarc_discovery *discovery)
{
	struct dmarc_cli *cli = ctx;
	cli->discovery = discovery;
	event_base_loopbreak(cli->base);
}

static const char *alignment_name(enum dmarc_alignment a)
{
	return a == DMARC_ALIGN_STRICT ? "strict" : "relaxed";
}

/* dmarc_print - the human form */
static void dmarc_print(const struct dmarc_cli *cli, const struct dmarc_found *found,
			const struct dmarc_outcome *o)
{
	const struct dmarc_record *r = found->record;
	printf("dmarc=%s", dmarc_result_name(o->result));
	if (o->reason)
		printf(" (%s)", o->reason);
	printf("\nfrom domain: %s; organizational domain: %s\n", found->from_domain,
	       found->org_domain);
	if (found->record_text)
		printf("record at _dmarc.%s: %s\n", found->record_domain, found->record_text);
	else if (found->status != DMARC_FOUND_BAD_DOMAIN)
		printf("record: none found (%s)\n", found->problem);
	if (r && r->ignored[0])
		printf("invalid values ignored (defaults used): %s\n", r->ignored);
	if (r && r->p_fallback)
		printf("p= (or sp=) missing or invalid: p=none, for the sake of rua= "
		       "(RFC 7489 6.6.3)\n");
	printf("spf: %s%s%s, %s alignment: %s\n", spf_result_name(cli->params.spf),
	       cli->params.spf_domain ? " for " : "",
	       cli->params.spf_domain ? cli->params.spf_domain : "",
	       alignment_name(r ? r->aspf : DMARC_ALIGN_RELAXED),
	       o->spf_aligned ? "aligned" : "not aligned");
	printf("dkim: %zu signature%s, %s alignment: ", cli->params.dkim_count,
	       cli->params.dkim_count == 1 ? "" : "s",
	       alignment_name(r ? r->adkim : DMARC_ALIGN_RELAXED));
	if (o->dkim_aligned)
		printf("aligned (d=%s)\n", o->dkim_domain);
	else
		printf("not aligned\n");
	if (found->status != DMARC_FOUND_RECORD)
		return;
	printf("policy: %s (%s)", dmarc_policy_name(o->policy), o->subdomain_policy ?
	       "sp=, the organizational domain's policy for its subdomains" : "p=");
	if (r->pct < 100)
		printf(", pct=%u", r->pct);
	printf("\ndisposition: %s", dmarc_policy_name(o->disposition));
	if (o->sampled_out)
		printf(" (outside the pct=%u sample: the next policy down)", r->pct);
	if (o->disposition != DMARC_POLICY_NONE)
		printf(o->enforced ? ", enforced" : ", only recorded ([auth] dmarc_enforce = false)");
	printf("\n");
}

static void json_field(const char *key, const char *value)
{
	printf(", \"%s\": ", key);
	cli_json_string(stdout, value);
}

static void json_bool(const char *key, bool value)
{
	printf(", \"%s\": %s", key, value ? "true" : "false");
}

/* dmarc_print_json - one object, for scripts and tests */
static void dmarc_print_json(const struct dmarc_cli *cli, const struct dmarc_found *found,
			     const struct dmarc_outcome *o)
{
	static const char *const status_names[] = {
		[DMARC_FOUND_RECORD] = "record", [DMARC_FOUND_NONE] = "none",
		[DMARC_FOUND_SEVERAL] = "several", [DMARC_FOUND_INVALID] = "invalid",
		[DMARC_FOUND_TEMPFAIL] = "tempfail", [DMARC_FOUND_BAD_DOMAIN] = "bad-domain",
	};
	const struct dmarc_record *r = found->record;
	printf("{\"result\": ");
	cli_json_string(stdout, dmarc_result_name(o->result));
	json_field("reason", o->reason);
	json_field("from_domain", found->from_domain);
	json_field("org_domain", found->org_domain);
	json_field("discovery", status_names[found->status]);
	json_field("record_domain", found->record_domain);
	json_field("record", found->record_text);
	json_field("problem", found->problem);
	json_field("spf", spf_result_name(cli->params.spf));
	json_field("spf_domain", cli->params.spf_domain);
	json_bool("spf_aligned", o->spf_aligned);
	json_bool("dkim_aligned", o->dkim_aligned);
	json_field("dkim_domain", o->dkim_domain);
	if (r) {
		json_field("p", dmarc_policy_name(r->p));
		json_field("sp", dmarc_policy_name(r->sp));
		json_bool("p_fallback", r->p_fallback);
		json_field("adkim", r->adkim == DMARC_ALIGN_STRICT ? "s" : "r");
		json_field("aspf", r->aspf == DMARC_ALIGN_STRICT ? "s" : "r");
		printf(", \"pct\": %u", r->pct);
		printf(", \"rua\": [");
		for (size_t i = 0; i < r->rua_count; i++) {
			printf(i ? ", " : "");
			cli_json_string(stdout, r->rua[i].uri);
		}
		printf("]");
		json_field("ignored", r->ignored);
		json_field("policy", dmarc_policy_name(o->policy));
	} else {
		json_field("policy", NULL);
	}
	json_bool("subdomain_policy", o->subdomain_policy);
	json_field("disposition", dmarc_policy_name(o->disposition));
	json_bool("sampled_out", o->sampled_out);
	json_bool("enforced", o->enforced);
	printf("}\n");
}
