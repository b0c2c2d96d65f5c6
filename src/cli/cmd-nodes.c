/* cli/cmd-nodes - petrel nodes [--json] | petrel nodes forget NAME: the
 * servers that share this store, as they registered and last reported
 * (store.h: store_node_register).
 *
 * Text: a header, then one line per node: "NAME NUMBER STATE REPORTED
 * ACTIVE VERSION STARTED CLUSTER LISTENERS", CLUSTER its [cluster] addresses
 * ("mail=HOST:PORT,imap=...,pop3=...", "-" for none), STATE being live, stale (silent longer than
 * [server] node_stale_after) or stopped, AGE the seconds since its last
 * report by the database's clock (REPORTED, "12s"), ACTIVE the messages in
 * its active queue then (deferred ones resting on disk are not counted:
 * `petrel queue list` on that node lists them all).  --json: an array of objects with the
 * same facts ("stale": true for stale and stopped ones).  `forget` removes
 * a node that is gone (stopped or stale), freeing its number for a new
 * name; a live one is refused (exit 1).
 */
#include "cli/cmd-admin.h"
#include "util/xalloc.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static const char NODES_USAGE[] =
	"usage: petrel nodes [--json] [-c FILE]\n"
	"       petrel nodes forget NAME [-c FILE]\n";

static const char *node_state(const struct store_node *n, unsigned stale_after);
static void node_print_json(const struct store_node *n, unsigned stale_after, size_t entry);
static int nodes_list(struct store *store, unsigned stale_after, bool json);
static char *node_cluster_text(const struct store_node *n);

/* node_cluster_text - "mail=A,imap=B,pop3=C" of the addresses N has, or "-" */
static char *node_cluster_text(const struct store_node *n)
{
	const char *keys[] = { "mail", "imap", "pop3" };
	const char *values[] = { n->mail_address, n->imap_address, n->pop3_address };
	char *s = xstrdup("");
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (!values[i])
			continue;
		char *next = xasprintf("%s%s%s=%s", s, s[0] ? "," : "", keys[i], values[i]);
		free(s);
		s = next;
	}
	if (!s[0]) {
		free(s);
		s = xstrdup("-");
	}
	return s;
}

/* node_state - "stopped", "stale" or "live" */
static const char *node_state(const struct store_node *n, unsigned stale_after)
{
	if (n->stopped)
		return "stopped";
	return n->age >= (int64_t)stale_after ? "stale" : "live";
}

/* node_print_json - N as entry ENTRY of the JSON list */
static void node_print_json(const struct store_node *n, unsigned stale_after, size_t entry)
{
	char started[32], reported[32];
	admin_time_format(n->started, started, sizeof(started));
	admin_time_format(n->reported, reported, sizeof(reported));
	cli_json_entry_open(entry, "name");
	cli_json_string(stdout, n->name);
	printf(",\"number\":%u,\"state\":\"%s\",\"stale\":%s,\"age\":%" PRId64
	       ",\"started\":\"%s\",\"reported\":\"%s\",\"queue_active\":%" PRIu64 ",\"version\":",
	       n->number, node_state(n, stale_after),
	       strcmp(node_state(n, stale_after), "live") != 0 ? "true" : "false", n->age,
	       started, reported, n->queue_active);
	cli_json_string(stdout, n->version);
	fputs(",\"owner\":", stdout);
	cli_json_string(stdout, n->owner);
	fputs(",\"listeners\":", stdout);
	cli_json_string(stdout, n->listeners);
	const char *keys[] = { "mail_address", "imap_address", "pop3_address" };
	const char *values[] = { n->mail_address, n->imap_address, n->pop3_address };
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		printf(",\"%s\":", keys[i]);
		if (values[i])
			cli_json_string(stdout, values[i]);
		else
			fputs("null", stdout);
	}
	fputc('}', stdout);
}

static int nodes_list(struct store *store, unsigned stale_after, bool json)
{
	struct store_node **v = NULL;
	size_t n = 0;
	const char *error = NULL;
	int status = admin_status(store_node_list(store, &v, &n, &error), &error);
	if (status != 0)
		return status;
	if (json)
		fputc('[', stdout);
	else
		printf("%-24s %-6s %-7s %-8s %-7s %-10s %-20s %-8s %s\n", "NAME", "NUMBER",
		       "STATE", "REPORTED", "ACTIVE", "VERSION", "STARTED", "CLUSTER", "LISTENERS");
	for (size_t i = 0; i < n; i++) {
		if (json) {
			node_print_json(v[i], stale_after, i);
			continue;
		}
		char started[32], ago[32];
		admin_time_format(v[i]->started, started, sizeof(started));
		snprintf(ago, sizeof(ago), "%" PRId64 "s", v[i]->age);
		char *cluster = node_cluster_text(v[i]);
		printf("%-24s %-6u %-7s %-8s %-7" PRIu64 " %-10s %-20s %-8s %s\n", v[i]->name,
		       v[i]->number, node_state(v[i], stale_after), ago, v[i]->queue_active,
		       v[i]->version, started, cluster,
		       v[i]->listeners[0] ? v[i]->listeners : "-");
		free(cluster);
	}
	cli_json_list_close(json);
	store_node_list_free(&v, n);
	return 0;
}

int cmd_nodes(int argc, char **argv)
{
	struct admin_args a;
	if (admin_args_parse(argc, argv, ADMIN_OPT_JSON, NODES_USAGE, &a) != 0)
		return 2;
	bool forget = a.npos == 2 && strcmp(a.pos[0], "forget") == 0;
	if ((a.npos != 0 && !forget) || (forget && a.json))
		return admin_usage(NODES_USAGE);
	if (forget && !store_node_is_valid_name(a.pos[1]))
		return admin_fail(2, "invalid node name '%s'", a.pos[1]);

	int status = 0;
	struct config *config = NULL;
	struct store *store = admin_open(a.config, &config, &status);
	if (!store)
		return status;
	if (forget) {
		const char *error = NULL;
		status = admin_status(store_node_forget(store, a.pos[1], config->node_stale_after,
							&error), &error);
	} else {
		status = nodes_list(store, config->node_stale_after, a.json);
	}
	store_close(&store);
	config_free(&config);
	return status;
}
