/* cli/cmd-queue - petrel queue: list|show read the spool of a data folder
 * directly (server running or not); flush|hold|release|delete|bounce and
 * stats ask the running server over its control socket (queue/control.h). */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "config/config.h"
#include "queue/control.h"
#include "queue/queue.h"
#include "util/buf.h"

static int queue_usage(void);
static int queue_bad_option(const char *action, const char *option, const char *error);
static bool queue_action_is_op(const char *action, bool *id_optional_r);
static int queue_stats_print(const char *data_dir, bool json);

static int queue_usage(void)
{
	fputs("usage: petrel queue list [-c FILE] [--json] [--limit N]\n"
	      "           [--state new|deferred|held|corrupt|scheduled]\n"
	      "           [--older-than DURATION]\n"
	      "           [--sender ADDRESS] [--domain DOMAIN]\n"
	      "       petrel queue show ID [-c FILE] [--json]\n"
	      "       petrel queue stats [-c FILE] [--json]\n"
	      "       petrel queue flush [ID] [-c FILE]\n"
	      "       petrel queue hold|release|delete|bounce ID [-c FILE]\n", stderr);
	return 2;
}

/* queue_bad_option - say what is wrong with OPTION, then the usage */
static int queue_bad_option(const char *action, const char *option, const char *error)
{
	if (error)
		fprintf(stderr, "petrel: queue %s: %s\n", action ? action : "", error);
	else
		fprintf(stderr, "petrel: queue %s: unknown option '%s'\n", action ? action : "",
			option);
	return queue_usage();
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

/* queue_stats_print - the running queue's counters: "NAME VALUE" lines as
 * the server sends them, or one JSON object of integers */
static int queue_stats_print(const char *data_dir, bool json)
{
	struct buf reply, out;
	int rc;

	buf_init(&reply);
	buf_init(&out);
	rc = cli_control_exchange(data_dir, "stats", &reply);
	if (rc != 0 || !json) {
		if (rc == 0)
			rc = cli_control_answer(reply.len ? reply.data : "", NULL);
		goto out;
	}
	/* data lines "NAME VALUE" (a word and digits), then the status line */
	const char *line = reply.len ? reply.data : "";
	buf_append_str(&out, "{");
	for (size_t n = 0;; n++) {
		const char *lf = strchr(line, '\n');
		if (!lf || strncmp(line, "data ", 5) != 0)
			break;
		const char *name = line + 5, *sp = memchr(name, ' ', (size_t)(lf - name));
		bool ok = sp && sp > name && sp + 1 < lf;
		for (const char *p = name; ok && p < sp; p++)
			ok = islower((unsigned char)*p) || *p == '_';
		for (const char *p = sp ? sp + 1 : lf; ok && p < lf; p++)
			ok = isdigit((unsigned char)*p);
		if (!ok) {
			fputs("petrel: malformed answer from the server\n", stderr);
			rc = 1;
			goto out;
		}
		buf_printf(&out, "%s\"%.*s\":%.*s", n ? "," : "", (int)(sp - name), name,
			   (int)(lf - sp - 1), sp + 1);
		line = lf + 1;
	}
	if (strncmp(line, "ok", 2) != 0 || (line[2] != ' ' && line[2] != '\n')) {
		rc = cli_control_answer(line, NULL);  /* the error, or "malformed" */
		if (rc == 0) {
			fputs("petrel: malformed answer from the server\n", stderr);
			rc = 1;
		}
		goto out;
	}
	buf_append_str(&out, "}\n");
	if (fwrite(out.data, 1, out.len, stdout) != out.len || fflush(stdout) != 0) {
		fputs("petrel: cannot write to standard output\n", stderr);
		rc = 1;
	}
out:
	buf_free(&reply);
	buf_free(&out);
	return rc;
}

int cmd_queue(int argc, char **argv)
{
	const char *file = CLI_DEFAULT_CONFIG;
	const char *action = NULL;
	const char *id = NULL;
	bool json = false, filtered = false;
	struct queue_list_filter filter = { 0 };
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i], *value = NULL, *error = NULL;
		char option[32];
		if (strcmp(arg, "-c") == 0 && i + 1 < argc) {
			file = argv[++i];
			continue;
		}
		if (strcmp(arg, "--json") == 0) {
			json = true;
			continue;
		}
		if (arg[0] != '-') {
			if (!action)
				action = arg;
			else if (!id)
				id = arg;
			else
				return queue_usage();
			continue;
		}
		/* a filter of `list`: --NAME VALUE or --NAME=VALUE */
		const char *eq = strchr(arg, '=');
		size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
		if (len >= sizeof(option))
			return queue_bad_option(action, arg, NULL);
		memcpy(option, arg, len);
		option[len] = '\0';
		/* the next argument, unless it is an option itself */
		value = eq ? eq + 1 : i + 1 < argc && argv[i + 1][0] != '-' ? argv[i + 1] : NULL;
		if (queue_list_filter_set(&filter, option, value, &error) != 0)
			return queue_bad_option(action, arg, error);
		if (!eq)
			i++;
		filtered = true;
	}
	if (!action)
		return queue_usage();
	bool is_list = strcmp(action, "list") == 0;
	bool is_show = strcmp(action, "show") == 0;
	bool is_stats = strcmp(action, "stats") == 0;
	bool id_optional = false;
	bool is_op = queue_action_is_op(action, &id_optional);
	if ((!is_list && !is_show && !is_stats && !is_op) || ((is_list || is_stats) && id) ||
	    (is_show && !id) || (is_op && !id && !id_optional) || (is_op && json))
		return queue_usage();
	if (filtered && !is_list) {
		fprintf(stderr, "petrel: queue %s: --limit, --state, --older-than, --sender and "
			"--domain are options of queue list\n", action);
		return queue_usage();
	}
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
	} else if (is_stats) {
		rc = queue_stats_print(config->data_dir, json);
	} else if (is_list) {
		rc = queue_list_print(config->data_dir, &filter, json, &error);
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
