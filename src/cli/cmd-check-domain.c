/* cli/cmd-check-domain - petrel check-domain DOMAIN [--selector S ...]
 * [--json] [-c FILE]: the DNS records a domain publishes for mail (MX, SPF,
 * DKIM, DMARC, and MTA-STS and TLS-RPT when present), each judged OK, WARN
 * or ERROR with what exactly is wrong and the record to publish, looked up
 * through the resolver petrel.conf's [dns] section sets up (as `petrel
 * serve` does).  docs/dns-records.md explains every record.  The lookups
 * and the judging are mailauth's (domain-check.c, which the dashboard's
 * domains page runs too); this command reads its arguments and prints.
 *
 * DKIM is checked for the selectors given, else for those of the domain's
 * signing keys in DATA_DIR/dkim/ (`petrel dkim list`; only their file names
 * are read, S._domainkey.DOMAIN.pem, when the folder may be read).
 *
 * Exit status: 0 when every finding is OK, 1 when any is WARN or ERROR (or
 * the check could not run), 2 on a usage or configuration error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "cli/cli.h"
#include "cli/cmd-admin.h"
#include "config/config.h"
#include "dns/dns.h"
#include "keysd/keysd.h"
#include "mailauth/mailauth.h"
#include "util/domain.h"
#include "util/xalloc.h"

/* the loop's run: over once the check has judged */
struct check_run {
	struct event_base *base;
	bool over;
};

static int check_usage(void);
static void check_over(void *ctx, struct domain_check *check);
static void print_human(const struct domain_check *check);
static void print_json(const struct domain_check *check);

static int check_usage(void)
{
	fputs("usage: petrel check-domain DOMAIN [--selector S ...] [--json] [-c FILE]\n"
	      "  the MX, SPF, DKIM (the keys of the selectors given), DMARC, MTA-STS and\n"
	      "  TLS-RPT records of DOMAIN: what is wrong and the records to publish\n",
	      stderr);
	return 2;
}

int cmd_check_domain(int argc, char **argv)
{
	const char *file = CLI_DEFAULT_CONFIG;
	const char *domain = NULL;
	bool json = false;
	const char **selectors = xcalloc((size_t)argc, sizeof(*selectors));
	size_t selector_count = 0;
	struct config *config = NULL;
	struct mailauth_psl *psl = NULL;
	struct event_base *base = NULL;
	struct dns_resolver *dns = NULL;
	struct domain_check *check = NULL;
	char **local = NULL;
	size_t local_count = 0;
	char name[MAILAUTH_DOMAIN_SIZE];
	struct check_run run = { 0 };
	int rc = 2;

	for (int i = 1; i < argc; i++) {
		bool has_value = i + 1 < argc;
		if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) && has_value) {
			file = argv[++i];
		} else if ((strcmp(argv[i], "--selector") == 0 || strcmp(argv[i], "-s") == 0) &&
			   has_value) {
			const char *s = argv[++i];
			if (!domain_name_is_valid(s, strlen(s), 0)) {
				fprintf(stderr, "petrel: bad selector '%s' (labels of letters, "
					"digits and hyphens)\n", s);
				goto out;
			}
			selectors[selector_count++] = s;
		} else if (strcmp(argv[i], "--json") == 0) {
			json = true;
		} else if ((argv[i][0] == '-' && argv[i][1] != '\0') || domain != NULL) {
			rc = check_usage();
			goto out;
		} else {
			domain = argv[i];
		}
	}
	if (domain == NULL) {
		rc = check_usage();
		goto out;
	}
	size_t len = strlen(domain);
	if (len > 0 && domain[len - 1] == '.')
		len--;
	if (!domain_name_is_valid(domain, len, 0)) {
		fprintf(stderr, "petrel: '%s' is not a domain name (ASCII labels of letters, "
			"digits and hyphens; write an international name in its xn-- form)\n",
			domain);
		goto out;
	}
	memcpy(name, domain, len);
	name[len] = '\0';

	const char *error = NULL;
	config = config_load(file, &error);
	if (!config) {
		fprintf(stderr, "petrel: %s\n", error);
		goto out;
	}
	psl = cli_psl_load(config);
	if (!psl)
		goto out;
	rc = 1;
	bool selectors_local = false;
	if (selector_count == 0) {
		local_count = keysd_dkim_selectors(config->data_dir, name, &local);
		selectors = xrealloc(selectors, (local_count + 1) * sizeof(*selectors));
		for (size_t i = 0; i < local_count; i++)
			selectors[selector_count++] = local[i];
		selectors_local = selector_count > 0;
	}
	base = event_base_new();
	if (base == NULL) {
		fputs("petrel: cannot create the event loop\n", stderr);
		goto out;
	}
	dns = cli_dns_create(base, config);
	if (dns == NULL)
		goto out;
	struct domain_check_settings settings = {
		.hostname = config->hostname,
		.source_address = config->delivery.source_address,
		.receives = config_is_local_domain(config, name),
		.spf_void_lookups = config->auth.spf_void_lookups,
		.spf_timeout_ms = config->auth.spf_timeout * 1000,
		.selectors = selectors, .selector_count = selector_count,
		.selectors_local = selectors_local, .selector_option = "--selector S",
		.psl = psl,
	};
	run.base = base;
	check = domain_check_start(base, dns, &settings, name, check_over, &run);
	if (event_base_dispatch(base) < 0 || !run.over) {
		fputs("petrel: the event loop stopped before the check ended\n", stderr);
		goto out;
	}
	if (json)
		print_json(check);
	else
		print_human(check);
	rc = domain_check_worst(check) == DOMAIN_CHECK_OK ? 0 : 1;
out:
	domain_check_free(&check);
	dns_resolver_free(&dns);
	if (base)
		event_base_free(base);
	mailauth_psl_free(&psl);
	config_free(&config);
	free(selectors);
	keysd_dkim_selectors_free(&local, local_count);
	return rc;
}

/* check_over - the check has judged: stop the loop */
static void check_over(void *ctx, struct domain_check *check)
{
	struct check_run *run = ctx;
	run->over = true;
	event_base_loopbreak(run->base);
	(void)check;
}

/* ---- output ----------------------------------------------------------------- */

static void print_human(const struct domain_check *check)
{
	size_t count = 0;
	const struct domain_check_section *sections = domain_check_sections(check, &count);
	size_t counts[3] = { 0 };
	for (size_t i = 0; i < count; i++)
		counts[sections[i].status]++;
	printf("%s: %s (%zu ok, %zu warn, %zu error)\n", domain_check_domain(check),
	       counts[DOMAIN_CHECK_ERROR] ? "ERROR" : counts[DOMAIN_CHECK_WARN] ? "WARN" : "OK",
	       counts[DOMAIN_CHECK_OK], counts[DOMAIN_CHECK_WARN], counts[DOMAIN_CHECK_ERROR]);
	static const char *const upper[] = { "OK", "WARN", "ERROR" };
	for (size_t i = 0; i < count; i++) {
		const struct domain_check_section *s = &sections[i];
		printf("\n%-8s %s\n", s->name, upper[s->status]);
		for (size_t j = 0; j < s->record_count; j++)
			printf("  record:  %s\n", s->records[j]);
		for (size_t j = 0; j < s->finding_count; j++)
			printf("  %-7s  %s\n", domain_check_level_name(s->findings[j].level),
			       s->findings[j].text);
		for (size_t j = 0; j < s->publish_count; j++)
			printf("  publish: %s\n", s->publish[j].zone);
	}
}

static void print_json(const struct domain_check *check)
{
	size_t count = 0;
	const struct domain_check_section *sections = domain_check_sections(check, &count);
	printf("{\"domain\": ");
	cli_json_string(stdout, domain_check_domain(check));
	printf(", \"status\": \"%s\", \"sections\": [",
	       domain_check_level_name(domain_check_worst(check)));
	for (size_t i = 0; i < count; i++) {
		const struct domain_check_section *s = &sections[i];
		printf("%s{\"name\": \"%s\", \"status\": \"%s\", \"records\": [", i ? ", " : "",
		       s->name, domain_check_level_name(s->status));
		for (size_t j = 0; j < s->record_count; j++) {
			printf(j ? ", " : "");
			cli_json_string(stdout, s->records[j]);
		}
		printf("], \"findings\": [");
		for (size_t j = 0; j < s->finding_count; j++) {
			printf("%s{\"level\": \"%s\", \"text\": ", j ? ", " : "",
			       domain_check_level_name(s->findings[j].level));
			cli_json_string(stdout, s->findings[j].text);
			printf("}");
		}
		printf("], \"publish\": [");
		for (size_t j = 0; j < s->publish_count; j++) {
			printf(j ? ", " : "");
			cli_json_string(stdout, s->publish[j].zone);
		}
		printf("]}");
	}
	printf("]}\n");
}
