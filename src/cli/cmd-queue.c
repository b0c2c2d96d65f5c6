/* cli/cmd-queue - petrel queue: list|show read the spool of a data folder
 * directly (server running or not); flush|hold|release|delete|bounce ask the
 * running server over its control socket (queue/control.h). */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "config/config.h"
#include "queue/control.h"
#include "queue/queue.h"

static int queue_usage(void);
static bool queue_action_is_op(const char *action, bool *id_optional_r);

static int queue_usage(void)
{
	fputs("usage: petrel queue list [-c FILE] [--json]\n"
	      "       petrel queue show ID [-c FILE] [--json]\n"
	      "       petrel queue flush [ID] [-c FILE]\n"
	      "       petrel queue hold|release|delete|bounce ID [-c FILE]\n", stderr);
	return 2;
}

/* queue_action_is_op - one of the operations the running server performs */
static bool queue_action_is_op(const char *action, bool *id_optional_r)
{
	static const char *const ops[] = { "hold", "release", "delete", "bounce" };
	*id_optional_r = strcmp(action, "flush") == 0;
	if (*id_optional_r)
		return true;
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (strcmp(action, ops[i]) == 0)
			return true;
	return false;
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
	bool id_optional = false;
	bool is_op = queue_action_is_op(action, &id_optional);
	if ((!is_list && !is_show && !is_op) || (is_list && id) || (is_show && !id) ||
	    (is_op && !id && !id_optional) || (is_op && json))
		return queue_usage();
	char id_upper[QUEUE_ID_LEN + 1];
	if (id && strlen(id) == QUEUE_ID_LEN) {
		/* IDs are shown upper-case; accept them typed in either case */
		for (size_t i = 0; i <= QUEUE_ID_LEN; i++)
			id_upper[i] = (char)toupper((unsigned char)id[i]);
		id = id_upper;
	}
	if (id && !queue_id_is_valid(id)) {
		fprintf(stderr, "petrel: bad queue ID '%s' (16 upper-case hexadecimal digits)\n", id);
		return 2;
	}

	const char *error = NULL;
	struct config *config = config_load(file, &error);
	if (!config) {
		fprintf(stderr, "petrel: %s\n", error);
		return 2;
	}
	int rc;
	if (is_op) {
		char request[CONTROL_LINE_MAX + 1], notfound[64];
		snprintf(request, sizeof(request), "%s%s%s", action, id ? " " : "", id ? id : "");
		/* worded as `queue show` words it */
		snprintf(notfound, sizeof(notfound), "no message %s in the queue", id ? id : "");
		rc = cli_control_request(config->data_dir, request, id ? notfound : NULL);
	} else if (is_list) {
		rc = queue_list_print(config->data_dir, json, &error);
	} else {
		rc = queue_show_print(config->data_dir, id, json, &error);
		if (rc == 1)
			fprintf(stderr, "petrel: not found: no message %s in the queue\n", id);
	}
	if (rc < 0)
		fprintf(stderr, "petrel: %s\n", error);
	config_free(&config);
	return rc == 0 ? 0 : 1;
}
