/* cli/cmd-dkim - petrel dkim verify [FILE] [--json] [-c FILE]: verify the
 * DKIM signatures of a message (FILE, or stdin) as the server would, with
 * the keys looked up through petrel.conf's [dns] and the limits of its
 * [dkim].  The message is read in chunks and never kept whole; the key
 * lookups start as soon as the header section has been read.
 *
 * One line per signature: RESULT d=D s=S a=A [(REASON)] [testing]; or with
 * --json one object.  Exit status: 0 if a signature passes, 1 if none does
 * (or the file cannot be read), 2 on a usage or configuration error.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/cmd-admin.h"
#include "config/config.h"
#include "dns/dns.h"
#include "mailauth/mailauth.h"

static int dkim_usage(void);
static void dkim_print(const struct dkim_verify *verify, unsigned limit);
static void dkim_print_json(const struct dkim_verify *verify);

static int dkim_usage(void)
{
	fputs("usage: petrel dkim verify [FILE] [--json] [-c FILE]\n"
	      "       petrel dkim keygen|list|remove ... (petrel help)\n", stderr);
	return 2;
}

static void dkim_print(const struct dkim_verify *verify, unsigned limit)
{
	size_t count = dkim_verify_count(verify);
	if (dkim_verify_error(verify) != NULL)
		printf("none (%s)\n", dkim_verify_error(verify));
	else if (count == 0)
		printf("none (no DKIM-Signature)\n");
	for (size_t i = 0; i < count; i++) {
		const struct dkim_signature_report *r = dkim_verify_report(verify, i);
		printf("%s d=%s s=%s a=%s", dkim_result_name(r->result),
		       r->domain ? r->domain : "-", r->selector ? r->selector : "-",
		       r->algorithm ? r->algorithm : "-");
		if (r->reason != NULL)
			printf(" (%s)", r->reason);
		if (r->testing)
			printf(" testing");
		putchar('\n');
	}
	if (dkim_verify_ignored(verify) > 0)
		printf("note: %zu more signature(s) ignored ([dkim] verify_signatures = %u)\n",
		       dkim_verify_ignored(verify), limit);
}

static void dkim_print_json(const struct dkim_verify *verify)
{
	printf("{\"result\":");
	cli_json_string(stdout, dkim_result_name(dkim_verify_result(verify)));
	printf(",\"error\":");
	cli_json_string(stdout, dkim_verify_error(verify));
	printf(",\"ignored\":%zu,\"signatures\":[", dkim_verify_ignored(verify));
	for (size_t i = 0; i < dkim_verify_count(verify); i++) {
		const struct dkim_signature_report *r = dkim_verify_report(verify, i);
		printf("%s{\"d\":", i ? "," : "");
		cli_json_string(stdout, r->domain);
		printf(",\"s\":");
		cli_json_string(stdout, r->selector);
		printf(",\"a\":");
		cli_json_string(stdout, r->algorithm);
		printf(",\"i\":");
		cli_json_string(stdout, r->identity);
		printf(",\"result\":");
		cli_json_string(stdout, dkim_result_name(r->result));
		printf(",\"reason\":");
		cli_json_string(stdout, r->reason);
		printf(",\"testing\":%s}", r->testing ? "true" : "false");
	}
	printf("]}\n");
}

/* the verifier of cli_verify_message (cli.h) */
static void *dkim_create(const struct config *config)
{
	struct dkim_verify_settings settings = {
		.max_signatures = config->dkim.verify_signatures,
		.max_header_size = config->dkim.verify_header_size,
		.now = (long long)time(NULL),
	};
	return dkim_verify_create(&settings);
}

static void dkim_feed(void *verify, const void *data, size_t len)
{
	dkim_verify_feed(verify, data, len);
}

static bool dkim_headers_done(const void *verify)
{
	return dkim_verify_headers_done(verify);
}

static struct dkim_key_lookup *dkim_lookup_keys(void *verify, struct dns_resolver *resolver,
						void (*cb)(void *ctx), void *ctx)
{
	return dkim_verify_lookup_keys(verify, resolver, cb, ctx);
}

static void dkim_finish(void *verify)
{
	dkim_verify_finish(verify);
}

static int dkim_print_status(void *verify, const struct config *config, bool json)
{
	if (json)
		dkim_print_json(verify);
	else
		dkim_print(verify, config->dkim.verify_signatures);
	return dkim_verify_result(verify) == DKIM_RESULT_PASS ? 0 : 1;
}

static void dkim_free(void *verify)
{
	struct dkim_verify *v = verify;
	dkim_verify_free(&v);
}

int cmd_dkim(int argc, char **argv)
{
	static const struct cli_verifier ops = {
		.usage = dkim_usage, .create = dkim_create, .feed = dkim_feed,
		.headers_done = dkim_headers_done, .lookup_keys = dkim_lookup_keys,
		.finish = dkim_finish, .print = dkim_print_status, .free = dkim_free,
	};
	if (argc >= 2 && (strcmp(argv[1], "keygen") == 0 || strcmp(argv[1], "list") == 0 ||
			  strcmp(argv[1], "remove") == 0))
		return cmd_dkim_keys(argc - 1, argv + 1);
	if (argc < 2 || strcmp(argv[1], "verify") != 0)
		return dkim_usage();
	return cli_verify_message(argc, argv, &ops);
}
