/* cli/cmd-arc - petrel arc verify [FILE] [--json] [-c FILE]: validate the
 * ARC chain (RFC 8617) of a message (FILE, or stdin) as the server would,
 * with the keys looked up through petrel.conf's [dns] and the header size
 * limit of its [dkim].  The message is read in chunks and never kept whole.
 *
 * One line: RESULT [i=N d=SEALER s=SELECTOR] [(REASON)], then the newest
 * ARC-Authentication-Results when there is a chain; or with --json one
 * object.  Exit status: 0 if the chain passes, 1 if it fails or there is
 * none (or the file cannot be read), 2 on a usage or configuration error.
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

#define ARC_READ_CHUNK 65536

struct arc_cli {
	struct event_base *base;
	bool keys_done;
};

static int arc_usage(void);
static void arc_keys_done(void *ctx);
static int arc_read(FILE *in, const char *name, struct arc_verify *verify,
		    struct dns_resolver *resolver, struct arc_cli *cli,
		    struct dkim_key_lookup **lookup_r);
static void arc_print(const struct arc_outcome *o, bool json);

static int arc_usage(void)
{
	fputs("usage: petrel arc verify [FILE] [--json] [-c FILE]\n", stderr);
	return 2;
}

static void arc_keys_done(void *ctx)
{
	struct arc_cli *cli = ctx;
	cli->keys_done = true;
	event_base_loopbreak(cli->base);
}

/* arc_read - feed IN to VERIFY in chunks; the key lookups start once the
 * header section is in.  0, or 1 after printing why not. */
static int arc_read(FILE *in, const char *name, struct arc_verify *verify,
		    struct dns_resolver *resolver, struct arc_cli *cli,
		    struct dkim_key_lookup **lookup_r)
{
	static char chunk[ARC_READ_CHUNK];
	bool started = false;
	for (;;) {
		size_t n = fread(chunk, 1, sizeof(chunk), in);
		if (n > 0)
			arc_verify_feed(verify, chunk, n);
		if (!started && arc_verify_headers_done(verify)) {
			started = true;
			*lookup_r = arc_verify_lookup_keys(verify, resolver, arc_keys_done, cli);
		}
		if (n < sizeof(chunk)) {
			if (ferror(in)) {
				fprintf(stderr, "petrel: %s: %s\n", name, strerror(errno));
				return 1;
			}
			break;
		}
	}
	arc_verify_finish(verify);
	if (!started)
		*lookup_r = arc_verify_lookup_keys(verify, resolver, arc_keys_done, cli);
	return 0;
}

static void arc_print(const struct arc_outcome *o, bool json)
{
	if (json) {
		printf("{\"result\":");
		json_string(stdout, arc_result_name(o->result));
		printf(",\"reason\":");
		json_string(stdout, o->reason);
		printf(",\"instances\":%u,\"sealer\":", o->instances);
		json_string(stdout, o->sealer);
		printf(",\"selector\":");
		json_string(stdout, o->selector);
		printf(",\"results\":");
		json_string(stdout, o->results);
		printf("}\n");
		return;
	}
	printf("%s", arc_result_name(o->result));
	if (o->instances > 0)
		printf(" i=%u d=%s s=%s", o->instances, o->sealer ? o->sealer : "-",
		       o->selector ? o->selector : "-");
	if (o->reason)
		printf(" (%s)", o->reason);
	else if (o->result == ARC_RESULT_NONE)
		printf(" (no ARC set)");
	putchar('\n');
	if (o->results)
		printf("results: %s\n", o->results);
}

int cmd_arc(int argc, char **argv)
{
	const char *file = CLI_DEFAULT_CONFIG, *input = NULL;
	bool json = false;
	if (argc < 2 || strcmp(argv[1], "verify") != 0)
		return arc_usage();
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			file = argv[++i];
		else if (strcmp(argv[i], "--json") == 0)
			json = true;
		else if ((argv[i][0] == '-' && argv[i][1] != '\0') || input != NULL)
			return arc_usage();
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
	struct arc_verify *verify = NULL;
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
		.max_header_size = config->dkim.verify_header_size,
		.now = (long long)time(NULL),
	};
	verify = arc_verify_create(&settings);
	struct arc_cli cli = { .base = base };
	if (arc_read(in, input ? input : "stdin", verify, resolver, &cli, &lookup) != 0)
		goto out;
	if (lookup != NULL && (event_base_dispatch(base) != 0 || !cli.keys_done)) {
		fprintf(stderr, "petrel: the event loop stopped before the keys came\n");
		goto out;
	}
	lookup = NULL;  /* freed after its callback */
	const struct arc_outcome *o = arc_verify_outcome(verify);
	arc_print(o, json);
	status = o->result == ARC_RESULT_PASS ? 0 : 1;
out:
	dkim_key_lookup_cancel(&lookup);
	arc_verify_free(&verify);
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
