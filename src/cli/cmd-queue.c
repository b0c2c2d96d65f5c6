/* cli/cmd-queue - petrel queue list|show: read the spool of a data folder. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "config/config.h"
#include "queue/queue.h"

static int queue_usage(void);

static int queue_usage(void)
{
	fputs("usage: petrel queue list [-c FILE] [--json]\n"
	      "       petrel queue show ID [-c FILE] [--json]\n", stderr);
	return 2;
}

int cmd_queue(int argc, char **argv)
{
	const char *file = CLI_DEFAULT_CONFIG;
	const char *action = NULL;
	const char *id = NULL;
	bool json = false;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			file = argv[++i];
		else if (strcmp(argv[i], "--json") == 0)
			json = true;
		else if (argv[i][0] == '-')
			return queue_usage();
		else if (!action)
			action = argv[i];
		else if (!id)
			id = argv[i];
		else
			return queue_usage();
	}
	if (!action)
		return queue_usage();
	bool is_list = strcmp(action, "list") == 0;
	bool is_show = strcmp(action, "show") == 0;
	if ((!is_list && !is_show) || (is_list && id) || (is_show && !id))
		return queue_usage();

	const char *error = NULL;
	struct config *config = config_load(file, &error);
	if (!config) {
		fprintf(stderr, "petrel: %s\n", error);
		return 2;
	}
	int rc;
	if (is_list) {
		rc = queue_list_print(config->data_dir, json, &error);
	} else {
		rc = queue_show_print(config->data_dir, id, json, &error);
		if (rc == 1)
			fprintf(stderr, "petrel: no message %s in the queue\n", id);
	}
	if (rc < 0)
		fprintf(stderr, "petrel: %s\n", error);
	config_free(&config);
	return rc == 0 ? 0 : 1;
}
