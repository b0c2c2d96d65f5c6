/* authd/request - the checks of a request's fields (see request.h). */
#include "authd/request.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include <openssl/crypto.h>

#include "authd/ticket.h"
#include "ipc/ipc.h"
#include "store/store.h"
#include "util/xalloc.h"

static bool request_address(const char *text, struct sockaddr_storage *ss);
static bool request_apikey_name(const char *name);
static bool request_apikey_scopes(const char *scopes);

/* request_address - TEXT as net_address_format writes it ("local" for the
 * unix socket) into SS; false for anything else */
static bool request_address(const char *text, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in *in4 = (struct sockaddr_in *)(void *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)(void *)ss;
	if (strcmp(text, "local") == 0) {
		ss->ss_family = AF_UNIX;
		return true;
	}
	if (inet_pton(AF_INET, text, &in4->sin_addr) == 1) {
		ss->ss_family = AF_INET;
		return true;
	}
	if (inet_pton(AF_INET6, text, &in6->sin6_addr) == 1) {
		ss->ss_family = AF_INET6;
		return true;
	}
	return false;
}

/* request_apikey_name - no control characters (the list reply's lines
 * and fields are split on LF and TAB) */
static bool request_apikey_name(const char *name)
{
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return false;
	return true;
}

/* request_apikey_scopes - one or more valid scopes, each after one space */
static bool request_apikey_scopes(const char *scopes)
{
	char *copy = xstrdup(scopes);
	bool ok = copy[0] != '\0';
	for (char *save = NULL, *p = copy; ok; p = NULL) {
		char *scope = strtok_r(p, " ", &save);
		if (!scope)
			break;
		ok = store_apikey_scope_is_valid(scope);
	}
	ok = ok && scopes[0] != ' ' && scopes[strlen(scopes) - 1] != ' ' && !strstr(scopes, "  ");
	free(copy);
	return ok;
}

int authd_request_parse(const struct ipc_msg *req, struct authd_request *r,
			const char **reason_r)
{
	const void *proof = NULL;
	int rc = -1;
	memset(r, 0, sizeof(*r));
	r->type = req->type;
	switch (req->type) {
	case IPC_AUTH_PASSWORD:
		if (req->count != 3 || !ipc_field_text(req, 0, AUTHD_USER_MAX, &r->user) ||
		    !ipc_field_text(req, 1, AUTHD_PASSWORD_MAX, &r->password) ||
		    !ipc_field_text(req, 2, AUTHD_CLIENT_MAX, &r->client) ||
		    !request_address(r->client, &r->addr)) {
			*reason_r = "password takes a user, a password and a client address";
			goto out;
		}
		break;
	case IPC_AUTH_TICKET:
		if (req->count != 3 || !ipc_field_text(req, 0, AUTHD_USER_MAX, &r->user) ||
		    !ipc_field_text(req, 1, AUTHD_TICKET_MAX - 1, &r->password) ||
		    !ipc_field_text(req, 2, AUTHD_CLIENT_MAX, &r->client) ||
		    !request_address(r->client, &r->addr)) {
			*reason_r = "ticket takes an account, a ticket and a client address";
			goto out;
		}
		break;
	case IPC_AUTH_SCRAM_START:
		if (req->count != 1 || !ipc_field_text(req, 0, AUTHD_USER_MAX, &r->user)) {
			*reason_r = "scram-start takes a user";
			goto out;
		}
		break;
	case IPC_AUTH_SCRAM_PROOF:
		if (req->count != 4 || !ipc_field_text(req, 0, AUTHD_USER_MAX, &r->user) ||
		    !ipc_field_text(req, 1, AUTHD_CLIENT_MAX, &r->client) ||
		    !request_address(r->client, &r->addr) ||
		    req->field[2].len == 0 || req->field[2].len > AUTHD_AUTH_MESSAGE_MAX ||
		    !ipc_field_bytes(req, 3, AUTHD_PROOF_LEN, &proof)) {
			*reason_r = "scram-proof takes a user, a client address, an AuthMessage "
				    "and a 32-byte ClientProof";
			goto out;
		}
		r->auth_message_len = req->field[2].len;
		r->auth_message = xmalloc(r->auth_message_len);
		memcpy(r->auth_message, req->field[2].data, r->auth_message_len);
		memcpy(r->proof, proof, AUTHD_PROOF_LEN);
		break;
	case IPC_AUTH_APIKEY_LIST:
		if (req->count != 1 || !ipc_field_text(req, 0, AUTHD_USER_MAX, &r->user)) {
			*reason_r = "apikey-list takes an account";
			goto out;
		}
		break;
	case IPC_AUTH_APIKEY_ADD:
		if (req->count != 3 || !ipc_field_text(req, 0, AUTHD_USER_MAX, &r->user) ||
		    !ipc_field_text(req, 1, AUTHD_APIKEY_NAME_MAX, &r->apikey_name) ||
		    !request_apikey_name(r->apikey_name) ||
		    !ipc_field_text(req, 2, AUTHD_SCOPES_MAX, &r->apikey_scopes) ||
		    !request_apikey_scopes(r->apikey_scopes)) {
			*reason_r = "apikey-add takes an account, a name and scopes";
			goto out;
		}
		break;
	case IPC_AUTH_APIKEY_DEL:
		if (req->count != 2 || !ipc_field_text(req, 0, AUTHD_USER_MAX, &r->user) ||
		    !ipc_field_text(req, 1, STORE_APIKEY_ID_LEN, &r->apikey_id)) {
			*reason_r = "apikey-del takes an account and a key id";
			goto out;
		}
		break;
	case IPC_AUTH_APIKEY_SET:
		if ((req->count != 3 && req->count != 4) ||
		    !ipc_field_text(req, 0, AUTHD_USER_MAX, &r->user) ||
		    !ipc_field_text(req, 1, STORE_APIKEY_ID_LEN, &r->apikey_id) ||
		    !ipc_field_text(req, 2, AUTHD_APIKEY_NAME_MAX, &r->apikey_name) ||
		    !request_apikey_name(r->apikey_name) ||
		    (req->count == 4 &&
		     (!ipc_field_text(req, 3, AUTHD_SCOPES_MAX, &r->apikey_scopes) ||
		      !request_apikey_scopes(r->apikey_scopes)))) {
			*reason_r = "apikey-set takes an account, a key id, a name and scopes";
			goto out;
		}
		break;
	case IPC_AUTH_PASSWORD_SET:
		if (req->count != 2 || !ipc_field_text(req, 0, AUTHD_USER_MAX, &r->user) ||
		    !ipc_field_text(req, 1, AUTHD_PASSWORD_MAX, &r->password)) {
			*reason_r = "password-set takes an account and a password";
			goto out;
		}
		break;
	default:
		*reason_r = "not a request the auth process serves";
		goto out;
	}
	rc = 0;
out:
	if (rc != 0)
		authd_request_clear(r);
	return rc;
}

void authd_request_clear(struct authd_request *r)
{
	free(r->user);
	if (r->password) {
		OPENSSL_cleanse(r->password, strlen(r->password));
		free(r->password);
	}
	free(r->client);
	free(r->auth_message);
	free(r->apikey_name);
	free(r->apikey_scopes);
	free(r->apikey_id);
	OPENSSL_cleanse(r->proof, sizeof(r->proof));
	memset(r, 0, sizeof(*r));
}
