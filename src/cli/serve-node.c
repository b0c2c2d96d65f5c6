/* cli/serve-node - the server's node identity in the store: register
 * [server] node at start (refused while another server runs that name),
 * give the queue IDs the name's number, report every
 * [server] node_report_interval, record the stop.
 *
 * The registration and the stop block (start and end of `petrel serve`,
 * the loop not running); each report is a pool job started by a timer on
 * the loop, at most one at a time, so the loop never waits on the store.
 * A report that finds the name registered again by another server (this
 * one was silent longer than node_stale_after, and a second server took
 * the name and its number) is an error: both would make the same queue IDs,
 * so this server stops (SIGTERM to itself, the ordinary drain).
 */
#include "cli/cli.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "config/config.h"
#include "queue/queue.h"
#include "store/store.h"
#include "util/log.h"
#include "util/pool.h"
#include "util/xalloc.h"

#define MACHINE_ID_FILE "/etc/machine-id"
#define MACHINE_ID_MAX 128

_Static_assert(STORE_NODE_NUMBERS == QUEUE_ID_NODES,
	       "a node's number is its queue IDs' node bits");

struct serve_node {
	struct store *store;
	struct pool *pool;
	struct queue *queue;
	struct event *timer;
	struct store_node node;   /* name, generation: what a report names */
	unsigned stale_after;
	bool reporting;           /* a report job is queued or running (loop only) */
	bool replaced;            /* the name was taken over: no more reports */
};

/* One report, from the loop to a worker and back. */
struct node_report_job {
	struct serve_node *sn;
	uint64_t queue_active;
	int rc;
	char *error;
};

static char *node_owner(const struct config *config);
static char *node_listeners(const struct config *config);
static void node_timer_cb(evutil_socket_t fd, short what, void *arg);
static void node_report_work(void *arg);
static void node_report_done(void *arg);

/* node_owner - "MACHINE:DATA_DIR": the machine (its machine-id, else its
 * host name) and the data folder; the same owner registering again proves
 * the last server of the name has ended (it held the data folder's lock) */
static char *node_owner(const struct config *config)
{
	char machine[MACHINE_ID_MAX] = "";
	FILE *f = fopen(MACHINE_ID_FILE, "r");
	if (f) {
		if (!fgets(machine, sizeof(machine), f))
			machine[0] = '\0';
		machine[strcspn(machine, "\r\n")] = '\0';
		if (fclose(f) != 0)
			machine[0] = '\0';
	}
	if (machine[0] == '\0' && gethostname(machine, sizeof(machine)) != 0)
		snprintf(machine, sizeof(machine), "%s", config->hostname);
	machine[sizeof(machine) - 1] = '\0';
	return xasprintf("%s:%s", machine, config->data_dir);
}

/* node_listeners - "NAME=ADDRESS ..." of every listener */
static char *node_listeners(const struct config *config)
{
	char *s = xstrdup("");
	for (size_t i = 0; i < config->listener_count; i++) {
		char *next = xasprintf("%s%s%s=%s", s, i ? " " : "", config->listeners[i].name,
				       config->listeners[i].address);
		free(s);
		s = next;
	}
	return s;
}

struct serve_node *serve_node_register(struct store *store, const struct config *config,
				       const char **error_r)
{
	struct serve_node *sn = xcalloc(1, sizeof(*sn));
	sn->store = store;
	sn->stale_after = config->node_stale_after;
	sn->node.name = xstrdup(config->node);
	sn->node.owner = node_owner(config);
	sn->node.version = xstrdup(PETREL_VERSION);
	sn->node.listeners = node_listeners(config);
	/* [cluster]: where the other nodes reach this one */
	sn->node.mail_address = config->cluster.mail ? xstrdup(config->cluster.mail) : NULL;
	sn->node.imap_address = config->cluster.imap ? xstrdup(config->cluster.imap) : NULL;
	sn->node.pop3_address = config->cluster.pop3 ? xstrdup(config->cluster.pop3) : NULL;
	int rc = store_node_register(store, &sn->node, sn->stale_after, error_r);
	if (rc != 0) {
		serve_node_free(&sn);
		return NULL;
	}
	queue_id_set_node(sn->node.number);
	log_info("node-registered", "node=%s number=%u generation=%lld", sn->node.name,
		 sn->node.number, (long long)sn->node.generation);
	return sn;
}

int serve_node_start(struct serve_node *sn, struct event_base *base, struct pool *pool,
		     struct queue *queue, unsigned interval)
{
	sn->pool = pool;
	sn->queue = queue;
	sn->timer = event_new(base, -1, EV_PERSIST, node_timer_cb, sn);
	struct timeval every = { .tv_sec = interval };
	if (!sn->timer || event_add(sn->timer, &every) != 0) {
		log_error("node-report-failed", "error=\"cannot start the report timer\"");
		return -1;
	}
	return 0;
}

static void node_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct serve_node *sn = arg;
	(void)fd;
	(void)what;
	if (sn->reporting || sn->replaced)
		return;  /* the last one is still at it (a slow store) */
	sn->reporting = true;
	struct node_report_job *j = xcalloc(1, sizeof(*j));
	j->sn = sn;
	j->queue_active = sn->queue ? queue_message_count(sn->queue) : 0;
	pool_submit(sn->pool, node_report_work, node_report_done, j);
}

static void node_report_work(void *arg)
{
	struct node_report_job *j = arg;
	struct store_node node = j->sn->node;  /* name and generation: set at start */
	node.queue_active = j->queue_active;
	const char *error = NULL;
	j->rc = store_node_report(j->sn->store, &node, &error);
	if (j->rc != 0)
		j->error = xstrdup(error);
}

static void node_report_done(void *arg)
{
	struct node_report_job *j = arg;
	struct serve_node *sn = j->sn;
	sn->reporting = false;
	if (j->rc == STORE_NOT_FOUND) {
		sn->replaced = true;
		log_error("node-replaced", "node=%s error=\"%s; stopping: two servers with one"
			  " node number would make the same queue IDs\"", sn->node.name, j->error);
		raise(SIGTERM);
	} else if (j->rc != 0) {
		log_warn("node-report-failed", "node=%s error=\"%s\"", sn->node.name, j->error);
	}
	free(j->error);
	free(j);
}

void serve_node_stop(struct serve_node *sn)
{
	if (!sn || sn->replaced)
		return;
	if (sn->timer)
		event_del(sn->timer);
	struct store_node node = sn->node;
	node.queue_active = sn->queue ? queue_message_count(sn->queue) : 0;
	const char *error = NULL;
	if (store_node_stop(sn->store, &node, &error) != 0)
		log_warn("node-stop-failed", "node=%s error=\"%s\"", sn->node.name, error);
	else
		log_info("node-stopped", "node=%s", sn->node.name);
}

const char *serve_node_name(const struct serve_node *sn)
{
	return sn->node.name;
}

void serve_node_free(struct serve_node **snp)
{
	struct serve_node *sn = *snp;
	if (!sn)
		return;
	if (sn->timer)
		event_free(sn->timer);
	free(sn->node.name);
	free(sn->node.owner);
	free(sn->node.version);
	free(sn->node.listeners);
	free(sn->node.mail_address);
	free(sn->node.imap_address);
	free(sn->node.pop3_address);
	free(sn);
	*snp = NULL;
}
