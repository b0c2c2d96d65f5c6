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
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/cmd-admin.h"
#include "config/config.h"
#include "dns/dns.h"
#include "mailauth/mailauth.h"

static int arc_usage(void);
static void arc_print(const struct arc_outcome *o, bool json);

static int arc_usage(void)
{
	fputs("usage: petrel arc verify [FILE] [--json] [-c FILE]\n", stderr);
	return 2;
}

static void arc_print(const struct arc_outcome *o, bool json)
{
	if (json) {
		printf("{\"result\":");
		cli_json_string(stdout, arc_result_name(o->result));
		printf(",\"reason\":");
		cli_json_string(stdout, o->reason);
		printf(",\"instances\":%u,\"sealer\":", o->instances);
		cli_json_string(stdout, o->sealer);
		printf(",\"selector\":");
		cli_json_string(stdout, o->selector);
		printf(",\"results\":");
		cli_json_string(stdout, o->results);
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

/* the verifier of cli_verify_message (cli.h) */
static void *arc_create(const struct config *config)
{
	struct dkim_verify_settings settings = {
		.max_header_size = config->dkim.verify_header_size,
		.now = (long long)time(NULL),
	};
	return arc_verify_create(&settings);
}

static void arc_feed(void *verify, const void *data, size_t len)
{
	arc_verify_feed(verify, data, len);
}

static bool arc_headers_done(const void *verify)
{
	return arc_verify_headers_done(verify);
}

static struct dkim_key_lookup *arc_lookup_keys(void *verify, struct dns_resolver *resolver,
					       void (*cb)(void *ctx), void *ctx)
{
	return arc_verify_lookup_keys(verify, resolver, cb, ctx);
}

static void arc_finish(void *verify)
{
	arc_verify_finish(verify);
}

static int arc_print_status(void *verify, const struct config *config, bool json)
{
	(void)config;
	const struct arc_outcome *o = arc_verify_outcome(verify);
	arc_print(o, json);
	return o->result == ARC_RESULT_PASS ? 0 : 1;
}

static void arc_free(void *verify)
{
	struct arc_verify *v = verify;
	arc_verify_free(&v);
}

int cmd_arc(int argc, char **argv)
{
	static const struct cli_verifier ops = {
		.usage = arc_usage, .create = arc_create, .feed = arc_feed,
		.headers_done = arc_headers_done, .lookup_keys = arc_lookup_keys,
		.finish = arc_finish, .print = arc_print_status, .free = arc_free,
	};
	if (argc < 2 || strcmp(argv[1], "verify") != 0)
		return arc_usage();
	return cli_verify_message(argc, argv, &ops);
}
