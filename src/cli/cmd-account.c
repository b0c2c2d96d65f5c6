/* cli/cmd-account - petrel account add|set|list|show|remove|disable|enable|
 * approve|passwd|home: the accounts that log in to submit mail, and read it.  home
 * sets the node its Maildir is on (docs/scaling.md, "Mailboxes across
 * nodes").  Passwords come from
 * stdin (--password-stdin), the terminal without echo, or as an existing
 * crypt(5) hash (--password-hash, for imports); they are never printed.
 * An account is a row in the store and its secrets a row in
 * auth/credentials.db, or in the database of [store] credentials_url, which
 * every node's auth process reads (store_credentials_*): add writes the
 * account first,
 * so that an existing one is never given a new password by mistake. */
#include "cli/cmd-admin.h"
#include "config/config.h"

#include "util/xalloc.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

static const char ACCOUNT_USAGE[] =
	"usage: petrel account add USER [--password-stdin | --password-hash HASH]\n"
	"                          [--plan NAME] [--daily-limit N|plan] [--per-minute N|plan]\n"
	"                          [--sandbox|--no-sandbox] [--any-from|--no-any-from]\n"
	"                          [--home NODE]\n"
	"       petrel account set USER [--plan NAME] [--daily-limit N|plan]\n"
	"                          [--per-minute N|plan] [--sandbox|--no-sandbox]\n"
	"                          [--any-from|--no-any-from]\n"
	"       petrel account passwd USER [--password-stdin | --password-hash HASH]\n"
	"       petrel account show USER [--json]\n"
	"       petrel account list [--json]\n"
	"       petrel account disable|enable|approve|remove USER\n"
	"       petrel account home USER NODE|--clear\n"
	"  every form takes -c FILE (default /etc/petrel/petrel.conf)\n";

#define ACCOUNT_SETTINGS (ADMIN_OPT_PLAN | ADMIN_OPT_DAILY_LIMIT | ADMIN_OPT_PER_MINUTE | \
			  ADMIN_OPT_SANDBOX | ADMIN_OPT_ANY_FROM | ADMIN_OPT_LIMIT_PLAN)
#define ACCOUNT_PASSWORD (ADMIN_OPT_PASSWORD_STDIN | ADMIN_OPT_PASSWORD_HASH)

/* What an action works on: the two databases and the options. */
struct account_ctx {
	struct store *store;
	struct store_credentials *sc;  /* NULL for an action without secrets */
	const struct admin_args *a;
};

static int credentials_make(const struct admin_args *a, char **hash_r, char **scram_r);
static void secret_free(char **secret);
static void settings_apply(const struct admin_args *a, struct store_account *acct);
static int account_add(const struct account_ctx *x);
static int account_set(const struct account_ctx *x, int flag);
static int account_passwd(const struct account_ctx *x);
static int password_read(struct store_credentials *sc, const char *name, const char **method_r,
			 bool *scram_r, const char **error_r);
static int account_show(const struct account_ctx *x);
static int account_list(const struct account_ctx *x);
static int account_update_only(const struct account_ctx *x);
static int account_disable(const struct account_ctx *x);
static int account_enable(const struct account_ctx *x);
static int account_approve(const struct account_ctx *x);
static int account_remove(const struct account_ctx *x);
static int account_home(const struct account_ctx *x);
static long limit_effective(long own, unsigned plan_value, bool has_plan);
static void limit_print_text(const char *label, long own, unsigned plan_value, bool has_plan);
static void limit_print_json(const char *key, long own, unsigned plan_value, bool has_plan);
static void account_print_json(const struct store_account *acct,
			       const struct store_plan *plan, const char *method, bool scram);

/* credentials_make - the hash and SCRAM credentials for A's password
 * option; 0 or an exit status after printing why */
static int credentials_make(const struct admin_args *a, char **hash_r, char **scram_r)
{
	*hash_r = NULL;
	*scram_r = NULL;
	if (a->password_hash && a->password_stdin)
		return admin_fail(2, "--password-hash and --password-stdin exclude each other");
	if (a->password_hash) {
		if (!store_password_hash_is_valid(a->password_hash))
			return admin_fail(2, "--password-hash: not a crypt(5) hash this system"
					  " can verify");
		*hash_r = xstrdup(a->password_hash);
		*scram_r = xstrdup("");   /* SCRAM needs the password itself */
		return 0;
	}
	int status = 0;
	char *password = admin_read_password(a->password_stdin, &status);
	if (!password)
		return status;
	const char *error = NULL;
	*hash_r = store_password_hash(password, &error);
	if (*hash_r)
		*scram_r = store_scram_credentials(password, a->scram_iterations);
	admin_password_free(&password);
	if (!*hash_r)
		return admin_fail(1, "%s", error);
	if (!*scram_r) {
		free(*hash_r);
		*hash_r = NULL;
		return admin_fail(1, "cannot make SCRAM-SHA-256 credentials");
	}
	return 0;
}

/* secret_free - wipe and free a hash or SCRAM credentials; null *SECRET */
static void secret_free(char **secret)
{
	if (!*secret)
		return;
	OPENSSL_cleanse(*secret, strlen(*secret));
	free(*secret);
	*secret = NULL;
}

/* settings_apply - the options given in A onto ACCT */
static void settings_apply(const struct admin_args *a, struct store_account *acct)
{
	if (a->plan) {
		free(acct->plan);
		acct->plan = xstrdup(a->plan);
	}
	if (a->has_daily_limit)
		acct->daily_limit = a->daily_limit;
	if (a->has_per_minute)
		acct->per_minute = a->per_minute;
	if (a->sandbox >= 0)
		acct->sandbox = a->sandbox == 1;
	if (a->any_from >= 0)
		acct->any_from = a->any_from == 1;
}

/* account_add - the account, then its secrets; if these cannot be written
 * the account goes again (an account without them cannot log in anyway) */
static int account_add(const struct account_ctx *x)
{
	const struct admin_args *a = x->a;
	struct store_account acct = {
		.name = xstrdup(a->pos[1]),
		.daily_limit = -1,
		.per_minute = -1,
		.home_node = (char *)a->home,
	};
	settings_apply(a, &acct);
	char *hash = NULL, *scram = NULL;
	const char *error = NULL;
	int status = credentials_make(a, &hash, &scram);
	if (status == 0)
		status = admin_status(store_account_add(x->store, &acct, &error), &error);
	if (status == 0) {
		status = admin_status(store_credentials_set(x->sc, acct.name, hash, scram, &error),
				      &error);
		if (status != 0 && store_account_remove(x->store, acct.name, &error) != 0)
			admin_fail(1, "account %s is left without a password: %s", acct.name,
				   error);
	}
	if (status == 0)
		printf("added account %s\n", a->pos[1]);
	free(acct.name);
	free(acct.plan);
	secret_free(&hash);
	secret_free(&scram);
	return status;
}

/* account_set - apply the settings in A, and FLAG: 'd' disable, 'e' enable,
 * 'a' approve (a sign-up's pending account may send once verified) */
static int account_set(const struct account_ctx *x, int flag)
{
	const struct admin_args *a = x->a;
	struct store *store = x->store;
	struct store_account *acct = NULL;
	const char *error = NULL;
	int status = admin_status(store_account_get(store, a->pos[1], &acct, &error), &error);
	if (status != 0)
		return status;
	settings_apply(a, acct);
	if (flag == 'd' || flag == 'e')
		acct->disabled = flag == 'd';
	if (flag == 'a')
		acct->pending = false;
	status = admin_status(store_account_update(store, acct, &error), &error);
	if (status == 0)
		printf("%s account %s\n", flag == 'd' ? "disabled" : flag == 'e' ? "enabled" :
		       flag == 'a' ? "approved" : "updated", acct->name);
	store_account_free(&acct);
	return status;
}

static int account_passwd(const struct account_ctx *x)
{
	struct store_account *acct = NULL;
	const char *error = NULL;
	int status = admin_status(store_account_get(x->store, x->a->pos[1], &acct, &error),
				  &error);
	if (status != 0)
		return status;
	char *hash = NULL, *scram = NULL;
	status = credentials_make(x->a, &hash, &scram);
	if (status == 0)
		status = admin_status(store_credentials_set(x->sc, acct->name, hash, scram, &error),
				      &error);
	if (status == 0)
		printf("changed the password of %s\n", acct->name);
	secret_free(&hash);
	secret_free(&scram);
	store_account_free(&acct);
	return status;
}

/* password_read - NAME's password method (store_password_method; "none"
 * without credentials) and whether it has SCRAM credentials; never the
 * secrets themselves, which are wiped at once */
static int password_read(struct store_credentials *sc, const char *name, const char **method_r,
			 bool *scram_r, const char **error_r)
{
	char *hash = NULL, *scram = NULL;
	int rc = store_credentials_get(sc, name, &hash, &scram, error_r);
	if (rc < 0)
		return -1;
	*method_r = store_password_method(rc == 0 ? hash : "");
	*scram_r = rc == 0 && scram[0] != '\0';
	secret_free(&hash);
	secret_free(&scram);
	return 0;
}

/* limit_effective - the limit that applies: the account's own, else the plan's */
static long limit_effective(long own, unsigned plan_value, bool has_plan)
{
	if (own >= 0)
		return own;
	return has_plan ? (long)plan_value : -1;
}

static void limit_print_text(const char *label, long own, unsigned plan_value, bool has_plan)
{
	long v = limit_effective(own, plan_value, has_plan);
	printf("%-12s ", label);
	if (v < 0)
		printf("?");
	else if (v == 0)
		printf("unlimited");
	else
		printf("%ld", v);
	printf(own >= 0 ? " (account)\n" : " (plan)\n");
}

static void limit_print_json(const char *key, long own, unsigned plan_value, bool has_plan)
{
	printf(",\"%s\":%ld,\"%s_source\":\"%s\"", key,
	       limit_effective(own, plan_value, has_plan), key, own >= 0 ? "account" : "plan");
}

static void account_print_json(const struct store_account *acct,
			       const struct store_plan *plan, const char *method, bool scram)
{
	char when[32];
	fputs("{\"name\":", stdout);
	cli_json_string(stdout, acct->name);
	fputs(",\"password\":", stdout);
	cli_json_string(stdout, method);
	printf(",\"scram\":%s", scram ? "true" : "false");
	fputs(",\"plan\":", stdout);
	cli_json_string(stdout, acct->plan);
	limit_print_json("daily_limit", acct->daily_limit, plan ? plan->daily_limit : 0,
			 plan != NULL);
	limit_print_json("per_minute", acct->per_minute, plan ? plan->per_minute : 0,
			 plan != NULL);
	printf(",\"sandbox\":%s,\"disabled\":%s,\"verified\":%s,\"pending\":%s,"
	       "\"any_from\":%s,\"created\":\"%s\"",
	       acct->sandbox ? "true" : "false", acct->disabled ? "true" : "false",
	       acct->unverified ? "false" : "true", acct->pending ? "true" : "false",
	       acct->any_from ? "true" : "false",
	       admin_time_format(acct->created, when, sizeof(when)));
	fputs(",\"home_node\":", stdout);
	if (acct->home_node)
		cli_json_string(stdout, acct->home_node);
	else
		fputs("null", stdout);
}

static int account_show(const struct account_ctx *x)
{
	struct store *store = x->store;
	const struct admin_args *a = x->a;
	struct store_account *acct = NULL;
	struct store_plan *plan = NULL;
	struct store_sender *senders = NULL;
	size_t nsenders = 0;
	const char *error = NULL;
	int status = admin_status(store_account_get(store, a->pos[1], &acct, &error), &error);
	if (status != 0)
		return status;
	if (store_plan_get(store, acct->plan, &plan, &error) != 0)
		plan = NULL;
	status = admin_status(store_sender_list(store, acct->name, &senders, &nsenders, &error), &error);
	char day[STORE_WINDOW_MAX];
	uint64_t today = 0;
	store_window_day(time(NULL), day);
	if (status == 0)
		status = admin_status(store_counter_get(store, acct->name, day, &today, &error), &error);
	const char *method = NULL;
	bool scram = false;
	if (status == 0)
		status = admin_status(password_read(x->sc, acct->name, &method, &scram, &error),
				      &error);
	if (status != 0)
		goto out;

	if (a->json) {
		account_print_json(acct, plan, method, scram);
		printf(",\"sent_today\":%" PRIu64 ",\"senders\":[", today);
		/* as in the text: an account named like an address may send as
		 * itself (smtp.md), without a sender rule */
		bool own = strchr(acct->name, '@') != NULL;
		if (own) {
			fputs("{\"pattern\":", stdout);
			cli_json_string(stdout, acct->name);
			fputs(",\"rule\":\"allow\",\"own_name\":true}", stdout);
		}
		for (size_t i = 0; i < nsenders; i++) {
			cli_json_entry_open(i + own, "pattern");
			cli_json_string(stdout, senders[i].pattern);
			printf(",\"rule\":\"%s\",\"own_name\":false}",
			       senders[i].allow ? "allow" : "deny");
		}
		fputs("]}\n", stdout);
		goto out;
	}
	char when[32];
	printf("%-12s %s\n", "account:", acct->name);
	/* never the hash itself: only whether there is one and its method */
	if (strcmp(method, "none") != 0)
		printf("%-12s set (%s)\n", "password:", method);
	else
		printf("%-12s not set\n", "password:");
	printf("%-12s %s\n", "scram:", scram ? "yes" :
	       "no (imported hash; set a password to enable SCRAM-SHA-256)");
	printf("%-12s %s%s\n", "plan:", acct->plan, plan ? "" : " (missing)");
	limit_print_text("daily limit:", acct->daily_limit, plan ? plan->daily_limit : 0,
			 plan != NULL);
	limit_print_text("per minute:", acct->per_minute, plan ? plan->per_minute : 0,
			 plan != NULL);
	printf("%-12s %" PRIu64 " (UTC day %s)\n", "sent today:", today, day + 2);
	printf("%-12s %s\n", "sandbox:", acct->sandbox ? "yes" : "no");
	printf("%-12s %s\n", "disabled:", acct->disabled ? "yes" : "no");
	printf("%-12s %s\n", "verified:", acct->unverified ?
	       "no (the sign-up's link not followed yet: may not send)" : "yes");
	printf("%-12s %s\n", "pending:", acct->pending ?
	       "yes (petrel account approve lets it send)" : "no");
	printf("%-12s %s\n", "any from:", acct->any_from ? "yes" : "no");
	printf("%-12s %s\n", "home:", acct->home_node ? acct->home_node
						     : "none (delivered where received)");
	printf("%-12s %s\n", "created:", admin_time_format(acct->created, when, sizeof(when)));
	printf("%-12s", "senders:");
	if (strchr(acct->name, '@'))
		printf(" %s (own name)", acct->name);
	for (size_t i = 0; i < nsenders; i++)
		printf("%s %s %s", i || strchr(acct->name, '@') ? "," : "",
		       senders[i].allow ? "allow" : "deny", senders[i].pattern);
	if (nsenders == 0 && !strchr(acct->name, '@'))
		printf(" none");
	putchar('\n');
out:
	store_sender_list_free(&senders, nsenders);
	store_plan_free(&plan);
	store_account_free(&acct);
	return status;
}

static int account_list(const struct account_ctx *x)
{
	struct store *store = x->store;
	const struct admin_args *a = x->a;
	struct store_account **accts = NULL;
	struct store_plan **plans = NULL;
	size_t n = 0, nplans = 0;
	const char *error = NULL;
	int status = admin_status(store_account_list(store, &accts, &n, &error), &error);
	if (status == 0)
		status = admin_status(store_plan_list(store, &plans, &nplans, &error), &error);
	if (status != 0)
		goto out;
	if (a->json)
		fputc('[', stdout);
	else if (n > 0)
		printf("%-32s %-10s %-9s %-9s %-7s %-10s %s\n", "NAME", "PLAN", "DAILY", "MINUTE",
		       "SANDBOX", "STATE", "HOME");
	for (size_t i = 0; i < n; i++) {
		const struct store_plan *plan = NULL;
		for (size_t j = 0; j < nplans; j++)
			if (strcmp(plans[j]->name, accts[i]->plan) == 0)
				plan = plans[j];
		if (a->json) {
			const char *method = NULL;
			bool scram = false;
			status = admin_status(password_read(x->sc, accts[i]->name, &method, &scram,
							    &error), &error);
			if (status != 0)
				goto out;
			if (i)
				fputc(',', stdout);
			account_print_json(accts[i], plan, method, scram);
			fputc('}', stdout);
			continue;
		}
		char daily[24], minute[24];
		long d = limit_effective(accts[i]->daily_limit, plan ? plan->daily_limit : 0,
					 plan != NULL);
		long m = limit_effective(accts[i]->per_minute, plan ? plan->per_minute : 0,
					 plan != NULL);
		snprintf(daily, sizeof(daily), d == 0 ? "unlimited" : "%ld", d);
		snprintf(minute, sizeof(minute), m == 0 ? "unlimited" : "%ld", m);
		printf("%-32s %-10s %-9s %-9s %-7s %-10s %s\n", accts[i]->name, accts[i]->plan,
		       daily, minute, accts[i]->sandbox ? "yes" : "no",
		       accts[i]->disabled ? "disabled" : accts[i]->pending ? "pending" :
		       accts[i]->unverified ? "unverified" : "active",
		       accts[i]->home_node ? accts[i]->home_node : "-");
	}
	cli_json_list_close(a->json);
out:
	store_account_list_free(&accts, n);
	store_plan_list_free(&plans, nplans);
	return status;
}

static int account_update_only(const struct account_ctx *x)
{
	return account_set(x, 0);
}

static int account_disable(const struct account_ctx *x)
{
	return account_set(x, 'd');
}

static int account_enable(const struct account_ctx *x)
{
	return account_set(x, 'e');
}

static int account_approve(const struct account_ctx *x)
{
	return account_set(x, 'a');
}

/* account_remove - the account and its secrets; secrets left without an
 * account (by an add that failed half-way) go too, though the command still
 * says there was no such account */
static int account_remove(const struct account_ctx *x)
{
	const char *name = x->a->pos[1];
	const char *error = NULL;
	int rc = store_account_remove(x->store, name, &error);
	int status = rc == STORE_NOT_FOUND ? 0 : admin_status(rc, &error);
	if (status == 0) {
		int crc = store_credentials_remove(x->sc, name, &error);
		status = admin_status(crc == STORE_NOT_FOUND ? 0 : crc, &error);
	}
	if (status == 0 && rc == STORE_NOT_FOUND)
		status = admin_fail(1, "no account %s", name);
	else if (status == 0)
		printf("removed account %s\n", name);
	return status;
}

/* account_home - USER's Maildir is on NODE from now on, or (--clear) on
 * whichever node receives its mail */
static int account_home(const struct account_ctx *x)
{
	const struct admin_args *a = x->a;
	const char *node = a->clear ? NULL : a->pos[2];
	const char *error = NULL;
	int status = admin_status(store_account_set_home(x->store, a->pos[1], node, &error),
				  &error);
	if (status == 0 && node)
		printf("account %s is homed on node %s\n", a->pos[1], node);
	else if (status == 0)
		printf("account %s has no home node\n", a->pos[1]);
	return status;
}

static const struct account_action {
	const char *name;
	unsigned opts;       /* options it accepts */
	bool user;           /* takes USER */
	bool secrets;        /* opens auth/credentials.db (list: with --json only) */
	int (*run)(const struct account_ctx *x);
} ACCOUNT_ACTIONS[] = {
	{ "add", ACCOUNT_SETTINGS | ACCOUNT_PASSWORD | ADMIN_OPT_HOME, true, true, account_add },
	{ "set", ACCOUNT_SETTINGS, true, false, account_update_only },
	{ "passwd", ACCOUNT_PASSWORD, true, true, account_passwd },
	{ "show", ADMIN_OPT_JSON, true, true, account_show },
	{ "list", ADMIN_OPT_JSON, false, false, account_list },
	{ "disable", 0, true, false, account_disable },
	{ "enable", 0, true, false, account_enable },
	{ "approve", 0, true, false, account_approve },
	{ "remove", 0, true, true, account_remove },
	{ "home", ADMIN_OPT_CLEAR, true, false, account_home },
};

int cmd_account(int argc, char **argv)
{
	/* the action decides which options are allowed: find it first (the
	 * first argument that is neither an option nor -c's value) */
	const char *action = NULL;
	for (int i = 1; i < argc && !action; i++)
		if (argv[i][0] != '-' && (strcmp(argv[i - 1], "-c") != 0 &&
					  strcmp(argv[i - 1], "--config") != 0))
			action = argv[i];
	const struct account_action *act = NULL;
	for (size_t i = 0; action && i < sizeof(ACCOUNT_ACTIONS) / sizeof(ACCOUNT_ACTIONS[0]); i++)
		if (strcmp(action, ACCOUNT_ACTIONS[i].name) == 0)
			act = &ACCOUNT_ACTIONS[i];
	if (!act)
		return admin_usage(ACCOUNT_USAGE);
	struct admin_args a;
	if (admin_args_parse(argc, argv, act->opts, ACCOUNT_USAGE, &a) != 0)
		return 2;
	/* home takes NODE too, unless --clear */
	int npos = (act->user ? 2 : 1) + (act->run == account_home && !a.clear);
	if (a.npos != npos || strcmp(a.pos[0], act->name) != 0)
		return admin_usage(ACCOUNT_USAGE);
	if (act->run == account_add && !store_account_name_is_valid(a.pos[1]))
		return admin_fail(2, "invalid account name '%s': expected an address"
				  " (user@domain) or a plain login", a.pos[1]);
	if (act->run == account_update_only && !a.plan && !a.has_daily_limit &&
	    !a.has_per_minute && a.sandbox < 0 && a.any_from < 0)
		return admin_fail(2, "account set: nothing to change");

	int status = 0;
	struct config *config = NULL;
	struct account_ctx x = { .a = &a };
	x.store = admin_open(a.config, &config, &status);
	if (!x.store)
		return status;
	a.scram_iterations = config->auth.scram_iterations;
	/* only what needs them opens the secrets: the data folder's owner
	 * (the network process's user) may run the others, but cannot open
	 * auth/ (accounts.md) */
	bool secrets = act->secrets || (act->run == account_list && a.json);
	if (secrets)
		x.sc = admin_credentials_open(config, x.store, &status);
	config_free(&config);
	if (x.sc || !secrets)
		status = act->run(&x);
	store_credentials_close(&x.sc);
	store_close(&x.store);
	return status;
}
