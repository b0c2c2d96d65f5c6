/* cli/cmd-dmarc-report - petrel dmarc report [--date YYYY-MM-DD] [--domain D]
 * [--xml | --json] [--send] [-c FILE]: the DMARC aggregate reports (RFC 7489
 * 7.2) of one UTC day (default: yesterday) made from the evaluations the
 * server recorded.  Without --send they are printed and nothing is
 * recorded: one line per policy domain, or each report's XML, or one JSON
 * array (XML included).  --send asks the running server (control socket)
 * to make and mail them, as [auth] dmarc_reports = daily does; a report
 * already sent for that day is not sent again.
 *
 * Exit status: 0 done (also with no report to make), 1 the store or the
 * server failed, 2 usage or configuration error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/cmd-admin.h"
#include "config/config.h"
#include "reports/reports.h"
#include "store/store.h"
#include "util/buf.h"

static int report_usage(void);
static void report_print_json(const struct dmarc_report *reports, size_t count);

static int report_usage(void)
{
	fputs("usage: petrel dmarc report [--date YYYY-MM-DD] [--domain DOMAIN] [--xml | --json]\n"
	      "                           [--send] [-c FILE]\n"
	      "  the DMARC aggregate reports of one UTC day (default yesterday); --send\n"
	      "  has the running server mail them to each rua= address\n", stderr);
	return 2;
}

int cmd_dmarc_report(int argc, char **argv)
{
	const char *file = CLI_DEFAULT_CONFIG, *date = NULL, *domain = NULL;
	bool xml = false, json = false, send = false;
	for (int i = 2; i < argc; i++) {
		bool has_value = i + 1 < argc;
		if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) && has_value)
			file = argv[++i];
		else if (strcmp(argv[i], "--date") == 0 && has_value)
			date = argv[++i];
		else if (strcmp(argv[i], "--domain") == 0 && has_value)
			domain = argv[++i];
		else if (strcmp(argv[i], "--xml") == 0)
			xml = true;
		else if (strcmp(argv[i], "--json") == 0)
			json = true;
		else if (strcmp(argv[i], "--send") == 0)
			send = true;
		else
			return report_usage();
	}
	if ((xml && json) || (send && (xml || json || domain)))
		return report_usage();
	time_t begin;
	if (date) {
		if (!dmarc_report_day_parse(date, &begin)) {
			fprintf(stderr, "petrel: bad date '%s' (YYYY-MM-DD)\n", date);
			return 2;
		}
	} else {
		time_t now = time(NULL);
		begin = now - now % DMARC_REPORT_PERIOD - DMARC_REPORT_PERIOD;
	}
	char day[16];
	struct tm tm;
	gmtime_r(&begin, &tm);
	strftime(day, sizeof(day), "%Y-%m-%d", &tm);

	int status = 0;
	if (send) {
		const char *error = NULL;
		struct config *config = config_load(file, &error);
		if (!config) {
			fprintf(stderr, "petrel: %s\n", error);
			return 2;
		}
		char request[64];
		snprintf(request, sizeof(request), "dmarc-report %s", day);
		status = cli_control_request(config->data_dir, request, NULL);
		config_free(&config);
		return status;
	}
	struct config *config = NULL;
	struct store *store = admin_open(file, &config, &status);
	if (!store)
		return status;
	struct dmarc_reports_settings settings;
	char email[320];
	dmarc_reports_settings_from(config, &settings, email, sizeof(email));
	struct dmarc_report *reports = NULL;
	size_t count = 0;
	const char *error = NULL;
	status = 1;
	if (dmarc_reports_make(store, &settings, begin, domain, false, time(NULL), &reports,
			       &count, &error) < 0) {
		fprintf(stderr, "petrel: %s\n", error);
		goto out;
	}
	status = 0;
	if (json) {
		report_print_json(reports, count);
	} else if (xml) {
		for (size_t i = 0; i < count; i++)
			fwrite(reports[i].xml.data, 1, reports[i].xml.len, stdout);
	} else {
		for (size_t i = 0; i < count; i++) {
			const struct dmarc_report *r = &reports[i];
			printf("%s %s: %zu messages, %zu records, %zu bytes gzip, to", day, r->domain,
			       r->messages, r->records, r->gz.len);
			for (size_t k = 0; k < r->dest_count; k++)
				printf(" %s", r->dests[k].address);
			printf(r->dest_count ? "\n" : " nobody (no rua=mailto:)\n");
			if (r->problem)
				printf("  not served: %s\n", r->problem);
		}
		printf("%zu reports for %s\n", count, day);
	}
out:
	dmarc_reports_free(&reports, count);
	store_close(&store);
	config_free(&config);
	return status;
}

static void report_print_json(const struct dmarc_report *reports, size_t count)
{
	printf("[");
	for (size_t i = 0; i < count; i++) {
		const struct dmarc_report *r = &reports[i];
		printf("%s{\"domain\": ", i ? ", " : "");
		cli_json_string(stdout, r->domain);
		printf(", \"report_id\": ");
		cli_json_string(stdout, r->report_id);
		printf(", \"filename\": ");
		cli_json_string(stdout, r->filename);
		printf(", \"begin\": %lld, \"end\": %lld, \"messages\": %zu, \"records\": %zu, "
		       "\"gzip_size\": %zu, \"rua\": [", (long long)r->begin, (long long)r->end,
		       r->messages, r->records, r->gz.len);
		for (size_t k = 0; k < r->dest_count; k++) {
			printf(k ? ", " : "");
			cli_json_string(stdout, r->dests[k].address);
		}
		printf("], \"message_sizes\": [");
		for (size_t k = 0; k < r->dest_count; k++)
			printf("%s%zu", k ? ", " : "", r->dests[k].message.len);
		printf("], \"problem\": ");
		cli_json_string(stdout, r->problem);
		printf(", \"xml\": ");
		cli_json_string(stdout, r->xml.data);
		printf("}");
	}
	printf("]\n");
}
