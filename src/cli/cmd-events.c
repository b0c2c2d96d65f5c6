/* cli/cmd-events - petrel events [--account A] [--since T] [--follow]
 * [--json] [--limit N]: the event log (acceptances, rejections, deliveries,
 * deferrals, bounces, sandboxing, AUTH failures), oldest first; --limit N
 * prints the newest N (still oldest first), then --follow goes on from there.
 *
 * Text: one line per event, "time node type account queue_id recipient code
 * reason", "-" for an empty field (node: the [server] node that recorded it).  --json: an array; with --follow one
 * object per line.  --follow polls every 0.5 s for rows with a larger id
 * until SIGINT or SIGTERM (exit 0), which works while the server writes:
 * WAL readers never block the writer. */
#include "cli/cmd-admin.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#define EVENTS_POLL_NS 500000000L
#define EVENTS_BATCH 1000

static const char EVENTS_USAGE[] =
	"usage: petrel events [--account A] [--since T] [--follow] [--json] [--limit N]"
	" [-c FILE]\n"
	"  T: 2026-11-29T10:00:00Z, 2026-11-29, or relative: 30s, 10m, 2h, 1d, 1w\n";

static volatile sig_atomic_t events_stop;

static void events_on_signal(int sig);
static void field_print(const char *s);
static void event_print(const struct store_event *e, bool json);

static void events_on_signal(int sig)
{
	(void)sig;
	events_stop = 1;
}

/* field_print - S as one space-free text field: "-" if empty, control
 * characters and spaces replaced */
static void field_print(const char *s)
{
	if (!s || !*s) {
		fputc('-', stdout);
		return;
	}
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		fputc(*p <= ' ' || *p == 0x7f ? '_' : *p, stdout);
}

static void event_print(const struct store_event *e, bool json)
{
	char when[32];
	admin_time_format(e->time, when, sizeof(when));
	if (json) {
		printf("{\"id\":%lld,\"time\":\"%s\",\"type\":", (long long)e->id, when);
		cli_json_string(stdout, e->type);
		fputs(",\"account\":", stdout);
		cli_json_string(stdout, e->account);
		fputs(",\"queue_id\":", stdout);
		cli_json_string(stdout, e->queue_id);
		fputs(",\"recipient\":", stdout);
		cli_json_string(stdout, e->recipient);
		printf(",\"code\":%d,\"reason\":", e->code);
		cli_json_string(stdout, e->reason);
		fputs(",\"node\":", stdout);
		cli_json_string(stdout, e->node);
		fputc('}', stdout);
		return;
	}
	printf("%s ", when);
	field_print(e->node);
	fputc(' ', stdout);
	field_print(e->type);
	fputc(' ', stdout);
	field_print(e->account);
	fputc(' ', stdout);
	field_print(e->queue_id);
	fputc(' ', stdout);
	field_print(e->recipient);
	if (e->code)
		printf(" %d ", e->code);
	else
		fputs(" - ", stdout);
	/* the reason is the last field: spaces stay, control characters go */
	if (!e->reason || !e->reason[0])
		fputc('-', stdout);
	for (const unsigned char *p = (const unsigned char *)e->reason; p && *p; p++)
		fputc(*p < ' ' || *p == 0x7f ? '?' : *p, stdout);
	fputc('\n', stdout);
}

int cmd_events(int argc, char **argv)
{
	struct admin_args a;
	unsigned opts = ADMIN_OPT_JSON | ADMIN_OPT_ACCOUNT | ADMIN_OPT_SINCE | ADMIN_OPT_FOLLOW |
			ADMIN_OPT_LIMIT;
	if (admin_args_parse(argc, argv, opts, EVENTS_USAGE, &a) != 0)
		return 2;
	if (a.npos != 0)
		return admin_usage(EVENTS_USAGE);
	time_t since = 0;
	if (a.since && !admin_time_parse(a.since, time(NULL), &since))
		return admin_fail(2, "--since: expected 2026-11-29T10:00:00Z, 2026-11-29 or a"
				  " relative time such as 10m, 2h, 1d; not '%s'", a.since);
	if (a.account && !admin_event_account_is_valid(a.account))
		return admin_fail(2, "invalid account name '%s'", a.account);

	int status = 0;
	struct store *store = admin_store_open(a.config, &status);
	if (!store)
		return status;

	if (a.follow) {
		struct sigaction sa;
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = events_on_signal;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		signal(SIGPIPE, SIG_IGN);
	}
	/* --limit N: the newest N (then, with --follow, what comes next) */
	int64_t after = 0;
	const char *error = NULL;
	if (a.limit)
		status = admin_status(store_event_newest_after(store, a.account, since,
							       (size_t)a.limit, &after, &error),
				      &error);
	size_t printed = 0;
	bool first = true;
	if (a.json && !a.follow && status == 0)
		fputc('[', stdout);
	while (status == 0 && !events_stop) {
		struct store_event **v = NULL;
		size_t n = 0;
		size_t want = EVENTS_BATCH;
		if (a.limit && !a.follow && (size_t)a.limit - printed < want)
			want = (size_t)a.limit - printed;
		if (want == 0)
			break;
		status = admin_status(store_event_list(store, a.account, since, after, want, &v,
						       &n, &error), &error);
		if (status != 0)
			break;
		for (size_t i = 0; i < n; i++) {
			if (a.json && !a.follow && !first)
				fputc(',', stdout);
			event_print(v[i], a.json);
			if (a.json && a.follow)
				fputc('\n', stdout);
			first = false;
			after = v[i]->id;
		}
		printed += n;
		store_event_list_free(&v, n);
		if (fflush(stdout) == EOF) {
			status = errno == EPIPE ? 0 : 1;
			break;
		}
		if (n == want)
			continue;        /* more may be waiting already */
		if (!a.follow)
			break;
		struct timespec ts = { 0, EVENTS_POLL_NS };
		nanosleep(&ts, NULL);    /* EINTR: the loop checks events_stop */
	}
	if (a.json && !a.follow && status == 0)
		fputs("]\n", stdout);
	store_close(&store);
	return status;
}
