/* cli/verify-message - what petrel dkim verify and petrel arc verify share:
 * their arguments ([FILE] [--json] [-c FILE]), petrel.conf, the message
 * (FILE, or stdin) read in chunks and never kept whole, the key lookups
 * started as soon as the header section is in, on a resolver of [dns],
 * and the event loop run until they are done.  Each command gives its
 * verifier as a struct cli_verifier (cli.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <event2/event.h>

#include "cli/cli.h"
#include "config/config.h"
#include "dns/dns.h"
#include "mailauth/mailauth.h"

#define VERIFY_READ_CHUNK 65536

struct verify_run {
	struct event_base *base;
	bool keys_done;
};

static void verify_keys_done(void *ctx);
static int verify_read(FILE *in, const char *name, const struct cli_verifier *ops, void *verify,
		       struct dns_resolver *resolver, struct verify_run *run,
		       struct dkim_key_lookup **lookup_r);

static void verify_keys_done(void *ctx)
{
	struct verify_run *run = ctx;
	run->keys_done = true;
	event_base_loopbreak(run->base);
}

/* verify_read - feed IN to VERIFY in chunks; the key lookups start once
 * the header section is in.  0, or 1 after printing why not. */
static int verify_read(FILE *in, const char *name, const struct cli_verifier *ops, void *verify,
		       struct dns_resolver *resolver, struct verify_run *run,
		       struct dkim_key_lookup **lookup_r)
{
	static char chunk[VERIFY_READ_CHUNK];
	bool started = false;
	for (;;) {
		size_t n = fread(chunk, 1, sizeof(chunk), in);
		if (n > 0)
			ops->feed(verify, chunk, n);
		if (!started && ops->headers_done(verify)) {
			started = true;
			*lookup_r = ops->lookup_keys(verify, resolver, verify_keys_done, run);
		}
		if (n < sizeof(chunk)) {
			if (ferror(in)) {
				fprintf(stderr, "petrel: %s: %s\n", name, strerror(errno));
				return 1;
			}
			break;
		}
	}
	ops->finish(verify);
	if (!started)
		*lookup_r = ops->lookup_keys(verify, resolver, verify_keys_done, run);
	return 0;
}

int cli_verify_message(int argc, char **argv, const struct cli_verifier *ops)
{
	const char *file = CLI_DEFAULT_CONFIG, *input = NULL;
	bool json = false;
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			file = argv[++i];
		else if (strcmp(argv[i], "--json") == 0)
			json = true;
		else if ((argv[i][0] == '-' && argv[i][1] != '\0') || input != NULL)
			return ops->usage();
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
	void *verify = NULL;
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
	verify = ops->create(config);
	struct verify_run run = { .base = base };
	if (verify_read(in, input ? input : "stdin", ops, verify, resolver, &run, &lookup) != 0)
		goto out;
	if (lookup != NULL && (event_base_dispatch(base) != 0 || !run.keys_done)) {
		fprintf(stderr, "petrel: the event loop stopped before the keys came\n");
		goto out;
	}
	lookup = NULL;  /* freed after its callback */
	status = ops->print(verify, config, json);
out:
	dkim_key_lookup_cancel(&lookup);
	if (verify != NULL)
		ops->free(verify);
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
