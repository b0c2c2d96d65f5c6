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
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "cli/cli.h"
#include "cli/cmd-admin.h"
#include "config/config.h"
#include "dns/dns.h"
#include "mailauth/mailauth.h"

#define DKIM_READ_CHUNK 65536

struct dkim_cli {
	struct event_base *base;
	bool keys_done;
};

static int dkim_usage(void);
static void dkim_keys_done(void *ctx);
static int dkim_read(FILE *in, const char *name, struct dkim_verify *verify,
		     struct dns_resolver *resolver, struct dkim_cli *cli,
		     struct dkim_key_lookup **lookup_r);
static void dkim_print(const struct dkim_verify *verify, unsigned limit);
static void dkim_print_json(const struct dkim_verify *verify);

static int dkim_usage(void)
{
	fputs("usage: petrel dkim verify [FILE] [--json] [-c FILE]\n"
	      "       petrel dkim keygen|list|remove ... (petrel help)\n", stderr);
	return 2;
}

static void dkim_keys_done(void *ctx)
{
	struct dkim_cli *cli = ctx;
	cli->keys_done = true;
	event_base_loopbreak(cli->base);
}

/* dkim_read - feed IN to VERIFY in chunks; the key lookups start once the
 * header section is in.  0, or 1 after printing why not. */
static int dkim_read(FILE *in, const char *name, struct dkim_verify *verify,
		     struct dns_resolver *resolver, struct dkim_cli *cli,
		     struct dkim_key_lookup **lookup_r)
{
	static char chunk[DKIM_READ_CHUNK];
	bool started = false;
	for (;;) {
		size_t n = fread(chunk, 1, sizeof(chunk), in);
		if (n > 0)
			dkim_verify_feed(verify, chunk, n);
		if (!started && dkim_verify_headers_done(verify)) {
			started = true;
			*lookup_r = dkim_verify_lookup_keys(verify, resolver, dkim_keys_done, cli);
		}
		if (n < sizeof(chunk)) {
			if (ferror(in)) {
				fprintf(stderr, "petrel: %s: %s\n", name, strerror(errno));
				return 1;
			}
			break;
		}
	}
	dkim_verify_finish(verify);
	if (!started)
		*lookup_r = dkim_verify_lookup_keys(verify, resolver, dkim_keys_done, cli);
	return 0;
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
	json_string(stdout, dkim_result_name(dkim_verify_result(verify)));
	printf(",\"error\":");
	json_string(stdout, dkim_verify_error(verify));
	printf(",\"ignored\":%zu,\"signatures\":[", dkim_verify_ignored(verify));
	for (size_t i = 0; i < dkim_verify_count(verify); i++) {
		const struct dkim_signature_report *r = dkim_verify_report(verify, i);
		printf("%s{\"d\":", i ? "," : "");
		json_string(stdout, r->domain);
		printf(",\"s\":");
		json_string(stdout, r->selector);
		printf(",\"a\":");
		json_string(stdout, r->algorithm);
		printf(",\"i\":");
		json_string(stdout, r->identity);
		printf(",\"result\":");
		json_string(stdout, dkim_result_name(r->result));
		printf(",\"reason\":");
		json_string(stdout, r->reason);
		printf(",\"testing\":%s}", r->testing ? "true" : "false");
	}
	printf("]}\n");
}

int cmd_dkim(int argc, char **argv)
{
	const char *file = CLI_DEFAULT_CONFIG, *input = NULL;
	bool json = false;
	if (argc >= 2 && (strcmp(argv[1], "keygen") == 0 || strcmp(argv[1], "list") == 0 ||
			  strcmp(argv[1], "remove") == 0))
		return cmd_dkim_keys(argc - 1, argv + 1);
	if (argc < 2 || strcmp(argv[1], "verify") != 0)
		return dkim_usage();
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			file = argv[++i];
		else if (strcmp(argv[i], "--json") == 0)
			json = true;
		else if ((argv[i][0] == '-' && argv[i][1] != '\0') || input != NULL)
			return dkim_usage();
		else
			input = argv[i];
	}
	const char *error = NULL;
	struct config *config = config_load(file, &error);
	if (config == NULL) {
		fprintf(stderr, "petrel: %s\n", error);
		return 2;
	}
	int status = 1;
	FILE *in = stdin;
	struct event_base *base = NULL;
	struct dns_resolver *resolver = NULL;
	struct dkim_verify *verify = NULL;
	struct dkim_key_lookup *lookup = NULL;
	if (input != NULL && strcmp(input, "-") != 0) {
		in = fopen(input, "rb");
		if (in == NULL) {
			fprintf(stderr, "petrel: %s: %s\n", input, strerror(errno));
			goto out;
		}
	}
	base = event_base_new();
	if (base == NULL) {
		fprintf(stderr, "petrel: cannot create the event loop\n");
		goto out;
	}
	resolver = cli_dns_create(base, config);
	if (resolver == NULL) {
		status = 2;
		goto out;
	}
	struct dkim_verify_settings settings = {
		.max_signatures = config->dkim.verify_signatures,
		.max_header_size = config->dkim.verify_header_size,
		.now = (long long)time(NULL),
	};
	verify = dkim_verify_create(&settings);
	struct dkim_cli cli = { .base = base };
	if (dkim_read(in, input ? input : "stdin", verify, resolver, &cli, &lookup) != 0)
		goto out;
	if (lookup != NULL && (event_base_dispatch(base) != 0 || !cli.keys_done)) {
		fprintf(stderr, "petrel: the event loop stopped before the keys came\n");
		goto out;
	}
	lookup = NULL;  /* freed after its callback */
	if (json)
		dkim_print_json(verify);
	else
		dkim_print(verify, config->dkim.verify_signatures);
	status = dkim_verify_result(verify) == DKIM_RESULT_PASS ? 0 : 1;
out:
	dkim_key_lookup_cancel(&lookup);
	dkim_verify_free(&verify);
	dns_resolver_free(&resolver);
	if (base != NULL)
		event_base_free(base);
	if (in != NULL && in != stdin && fclose(in) != 0 && status == 0) {
		fprintf(stderr, "petrel: %s: %s\n", input, strerror(errno));
		status = 1;
	}
	config_free(&config);
	return status;
}
