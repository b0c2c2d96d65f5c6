/* cli/cmd-apikey - petrel apikey add|list|del: API keys, the SMTP password
 * of user "apikey" and the HTTP API's Bearer token (docs/security.md).  A
 * new key is printed once on stdout and never kept: its SHA-256 goes with
 * the credentials (store/apikey.c), which only the auth process and these
 * commands open. */
#include "cli/cmd-admin.h"

#include <string.h>

#include <openssl/crypto.h>

static const char APIKEY_USAGE[] =
	"usage: petrel apikey add ACCOUNT [--scope SCOPE]... [--name NAME] [-c FILE]\n"
	"       petrel apikey list ACCOUNT [--json] [-c FILE]\n"
	"       petrel apikey del ID [-c FILE]\n";

/* the scope a key gets when none is named: sending mail */
#define APIKEY_DEFAULT_SCOPE "mail.send"
#define APIKEY_SCOPES_MAX 512
#define APIKEY_NAME_MAX 100

static int apikey_add(struct store *store, struct store_credentials *sc,
		      const struct admin_args *a);
static int apikey_list(struct store_credentials *sc, const char *account, bool json);

static int apikey_add(struct store *store, struct store_credentials *sc,
		      const struct admin_args *a)
{
	const char *error = NULL;
	struct store_account *account = NULL;
	int status = admin_status(store_account_get(store, a->pos[1], &account, &error), &error);
	if (status != 0)
		return status;
	char scopes[APIKEY_SCOPES_MAX] = APIKEY_DEFAULT_SCOPE;
	for (int i = 0; i < a->nscopes; i++) {
		size_t used = i == 0 ? 0 : strlen(scopes);
		snprintf(scopes + used, sizeof(scopes) - used, "%s%s", i ? " " : "", a->scopes[i]);
	}
	char key[STORE_APIKEY_LEN + 1], id[STORE_APIKEY_ID_LEN + 1];
	status = admin_status(store_apikey_create(sc, account->name, a->name ? a->name : "",
						  scopes, key, id, &error), &error);
	if (status == 0) {
		fprintf(stderr, "petrel: API key %s for %s, scopes %s: shown once, keep it now\n",
			id, account->name, scopes);
		printf("%s\n", key);
	}
	OPENSSL_cleanse(key, sizeof(key));
	store_account_free(&account);
	return status;
}

static int apikey_list(struct store_credentials *sc, const char *account, bool json)
{
	struct store_apikey *keys = NULL;
	size_t n = 0;
	const char *error = NULL;
	int status = admin_status(store_apikey_list(sc, account, &keys, &n, &error), &error);
	if (status != 0)
		return status;
	cli_json_list_open(json);
	for (size_t i = 0; i < n; i++) {
		char when[32];
		admin_time_format(keys[i].created, when, sizeof(when));
		if (json) {
			cli_json_entry_open(i, "id");
			cli_json_string(stdout, keys[i].id);
			fputs(",\"name\":", stdout);
			cli_json_string(stdout, keys[i].name);
			fputs(",\"scopes\":", stdout);
			cli_json_string(stdout, keys[i].scopes);
			printf(",\"created\":\"%s\"}", when);
		} else {
			printf("%s scopes=%s created=%s%s%s\n", keys[i].id, keys[i].scopes,
			       when, keys[i].name[0] ? " name=" : "",
			       keys[i].name);
		}
		store_apikey_clear(&keys[i]);
	}
	cli_json_list_close(json);
	free(keys);
	return 0;
}

int cmd_apikey(int argc, char **argv)
{
	struct admin_args a;
	unsigned opts = ADMIN_OPT_JSON | ADMIN_OPT_SCOPE | ADMIN_OPT_NAME;
	if (admin_args_parse(argc, argv, opts, APIKEY_USAGE, &a) != 0)
		return 2;
	bool is_add = a.npos == 2 && strcmp(a.pos[0], "add") == 0;
	bool is_list = a.npos == 2 && strcmp(a.pos[0], "list") == 0;
	bool is_del = a.npos == 2 && strcmp(a.pos[0], "del") == 0;
	if ((!is_add && !is_list && !is_del) || (a.json && !is_list) ||
	    ((a.nscopes || a.name) && !is_add))
		return admin_usage(APIKEY_USAGE);
	for (int i = 0; i < a.nscopes; i++)
		if (!store_apikey_scope_is_valid(a.scopes[i]))
			return admin_fail(2, "invalid scope '%s'", a.scopes[i]);
	if (a.name && strlen(a.name) > APIKEY_NAME_MAX)
		return admin_fail(2, "--name: at most %d characters", APIKEY_NAME_MAX);

	int status = 0;
	struct config *config = NULL;
	struct store *store = admin_open(a.config, &config, &status);
	if (!store)
		return status;
	struct store_credentials *sc = admin_credentials_open(config, store, &status);
	config_free(&config);
	const char *error = NULL;
	if (sc && is_add)
		status = apikey_add(store, sc, &a);
	else if (sc && is_list)
		status = apikey_list(sc, a.pos[1], a.json);
	else if (sc)
		status = admin_status(store_apikey_remove(sc, a.pos[1], &error), &error);
	store_credentials_close(&sc);
	store_close(&store);
	return status;
}
