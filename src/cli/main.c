/* cli/main - the petrel command: dispatch to subcommands. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static void usage(FILE *out);

static void usage(FILE *out)
{
	fputs("usage: petrel COMMAND [OPTIONS]\n"
	      "\n"
	      "commands:\n"
	      "  serve [-c FILE]                  run the mail server in the foreground\n"
	      "  queue list [-c FILE] [--json]    list the messages in the queue\n"
	      "  queue show ID [-c FILE] [--json] show one message's envelope and headers\n"
	      "  version                          print the version\n"
	      "  help                             print this help\n"
	      "\n"
	      "FILE defaults to " CLI_DEFAULT_CONFIG ".\n", out);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "serve") == 0)
		return cmd_serve(argc - 1, argv + 1);
	if (strcmp(cmd, "queue") == 0)
		return cmd_queue(argc - 1, argv + 1);
	if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
		printf("petrel %s\n", PETREL_VERSION);
		return 0;
	}
	if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "petrel: unknown command '%s'\n", cmd);
	usage(stderr);
	return 2;
}
