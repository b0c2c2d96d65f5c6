/* cli/cmd-plan - petrel plan set|list: named sending limits and mailbox
 * quotas.  The plan "free" (100 recipients a UTC day, the default quota)
 * always exists and may be changed. */
#include "cli/cmd-admin.h"

#include <string.h>

static const char PLAN_USAGE[] =
	"usage: petrel plan set NAME [--daily-limit N] [--per-minute N]\n"
	"                            [--quota SIZE] [--quota-messages N] [-c FILE]\n"
	"       petrel plan list [-c FILE] [--json]\n"
	"  N is recipients per UTC day / per minute; 0 means unlimited\n"
	"  --quota: bytes (k, M, G) over all folders of each mailbox, --quota-messages:\n"
	"  messages; 0 means none, 'default' [mailbox] quota_default (the default)\n";

static int plan_set(struct store *store, const struct admin_args *a);
static int plan_list(struct store *store, bool json);
static const char *quota_text(int64_t quota, bool bytes, char *out, size_t size);

/* quota_text - a plan's quota as people read it: "default", "none", 5G, 1000 */
static const char *quota_text(int64_t quota, bool bytes, char *out, size_t size)
{
	static const char units[] = "kMG";
	if (quota < 0)
		return "default";
	if (quota == 0)
		return "none";
	int u = -1;
	while (bytes && u < 2 && quota % 1024 == 0) {
		quota /= 1024;
		u++;
	}
	snprintf(out, size, "%lld%.*s", (long long)quota, u >= 0 ? 1 : 0, u >= 0 ? units + u : "");
	return out;
}

static int plan_set(struct store *store, const struct admin_args *a)
{
	const char *error = NULL;
	struct store_plan *old = NULL;
	int rc = store_plan_get(store, a->pos[1], &old, &error);
	if (rc != 0 && rc != STORE_NOT_FOUND)
		return admin_status(rc, &error);
	if (!old && !a->has_daily_limit)
		return admin_fail(2, "a new plan needs --daily-limit N (0 for unlimited)");
	struct store_plan p = {
		.name = (char *)a->pos[1],
		.daily_limit = a->has_daily_limit ? (unsigned)a->daily_limit : old->daily_limit,
		.per_minute = a->has_per_minute ? (unsigned)a->per_minute :
			      old ? old->per_minute : 0,
		.quota_bytes = a->has_quota ? a->quota_bytes : old ? old->quota_bytes : -1,
		.quota_messages = a->has_quota_messages ? a->quota_messages :
				  old ? old->quota_messages : -1,
	};
	store_plan_free(&old);
	int status = admin_status(store_plan_set(store, &p, &error), &error);
	char q1[32], q2[32];
	if (status == 0)
		printf("plan %s: %u a day, %u a minute (0 = unlimited), quota %s, %s messages\n",
		       p.name, p.daily_limit, p.per_minute,
		       quota_text(p.quota_bytes, true, q1, sizeof(q1)),
		       quota_text(p.quota_messages, false, q2, sizeof(q2)));
	return status;
}

static int plan_list(struct store *store, bool json)
{
	struct store_plan **plans = NULL;
	size_t n = 0;
	const char *error = NULL;
	int status = admin_status(store_plan_list(store, &plans, &n, &error), &error);
	if (status != 0)
		return status;
	if (json)
		fputc('[', stdout);
	else
		printf("%-16s %-10s %-10s %-8s %s\n", "NAME", "DAILY", "PER-MINUTE", "QUOTA",
		       "MESSAGES");
	for (size_t i = 0; i < n; i++) {
		if (json) {
			cli_json_entry_open(i, "name");
			cli_json_string(stdout, plans[i]->name);
			printf(",\"daily_limit\":%u,\"per_minute\":%u,\"quota_bytes\":%lld,"
			       "\"quota_messages\":%lld}", plans[i]->daily_limit,
			       plans[i]->per_minute, (long long)plans[i]->quota_bytes,
			       (long long)plans[i]->quota_messages);
			continue;
		}
		char daily[16], minute[16];
		snprintf(daily, sizeof(daily), plans[i]->daily_limit ? "%u" : "unlimited",
			 plans[i]->daily_limit);
		snprintf(minute, sizeof(minute), plans[i]->per_minute ? "%u" : "unlimited",
			 plans[i]->per_minute);
		char q1[32], q2[32];
		printf("%-16s %-10s %-10s %-8s %s\n", plans[i]->name, daily, minute,
		       quota_text(plans[i]->quota_bytes, true, q1, sizeof(q1)),
		       quota_text(plans[i]->quota_messages, false, q2, sizeof(q2)));
	}
	cli_json_list_close(json);
	store_plan_list_free(&plans, n);
	return 0;
}

int cmd_plan(int argc, char **argv)
{
	struct admin_args a;
	unsigned opts = ADMIN_OPT_JSON | ADMIN_OPT_DAILY_LIMIT | ADMIN_OPT_PER_MINUTE |
			ADMIN_OPT_QUOTA;
	if (admin_args_parse(argc, argv, opts, PLAN_USAGE, &a) != 0)
		return 2;
	if (a.npos < 1)
		return admin_usage(PLAN_USAGE);
	bool is_list = strcmp(a.pos[0], "list") == 0;
	bool is_set = strcmp(a.pos[0], "set") == 0;
	if ((!is_list && !is_set) || a.npos != (is_list ? 1 : 2) || (a.json && !is_list) ||
	    (is_list && (a.has_daily_limit || a.has_per_minute || a.has_quota ||
			 a.has_quota_messages)))
		return admin_usage(PLAN_USAGE);
	if (is_set && (strchr(a.pos[1], '@') || strchr(a.pos[1], ' ') || !a.pos[1][0] ||
		       strlen(a.pos[1]) > 64))
		return admin_fail(2, "invalid plan name '%s'", a.pos[1]);

	int status = 0;
	struct store *store = admin_store_open(a.config, &status);
	if (!store)
		return status;
	status = is_list ? plan_list(store, a.json) : plan_set(store, &a);
	store_close(&store);
	return status;
}
