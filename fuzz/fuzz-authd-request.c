/* fuzz/fuzz-authd-request - what the auth process accepts of a request
 * (src/authd/request.c) after the frame codec: any bytes as one frame, then
 * authd_request_parse.  Invariants: a request is accepted only for the
 * request types the auth process serves (password, SCRAM, ticket, API keys,
 * password set); what it accepts keeps every limit of authd.h (names and
 * passwords without NUL, bounded lengths, a 32-byte proof); a refusal comes
 * with a reason and leaves nothing allocated (ASan's leak check). */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "authd/request.h"
#include "ipc/ipc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_text(const char *s, size_t max)
{
	assert(s != NULL);
	size_t len = strlen(s);
	assert(len >= 1 && len <= max);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ipc_msg msg;
	if (ipc_decode(data, size, &msg) != 0)
		return 0;
	struct authd_request r;
	const char *reason = NULL;
	if (authd_request_parse(&msg, &r, &reason) != 0) {
		assert(reason != NULL && reason[0] != '\0');
		return 0;
	}
	assert(msg.type == IPC_AUTH_PASSWORD || msg.type == IPC_AUTH_SCRAM_START ||
	       msg.type == IPC_AUTH_SCRAM_PROOF || msg.type == IPC_AUTH_TICKET ||
	       msg.type == IPC_AUTH_APIKEY_LIST || msg.type == IPC_AUTH_APIKEY_ADD ||
	       msg.type == IPC_AUTH_APIKEY_DEL || msg.type == IPC_AUTH_APIKEY_SET ||
	       msg.type == IPC_AUTH_PASSWORD_SET);
	assert(r.type == msg.type);
	check_text(r.user, AUTHD_USER_MAX);
	if (msg.type == IPC_AUTH_PASSWORD) {
		check_text(r.password, AUTHD_PASSWORD_MAX);
		check_text(r.client, AUTHD_CLIENT_MAX);
	}
	if (msg.type == IPC_AUTH_PASSWORD_SET)
		check_text(r.password, AUTHD_PASSWORD_MAX);
	if (msg.type == IPC_AUTH_SCRAM_PROOF) {
		check_text(r.client, AUTHD_CLIENT_MAX);
		assert(r.auth_message != NULL && r.auth_message_len >= 1 &&
		       r.auth_message_len <= AUTHD_AUTH_MESSAGE_MAX);
	}
	if (msg.type == IPC_AUTH_APIKEY_ADD) {
		check_text(r.apikey_name, AUTHD_APIKEY_NAME_MAX);
		check_text(r.apikey_scopes, AUTHD_SCOPES_MAX);
		for (const char *c = r.apikey_name; *c; c++)
			assert((unsigned char)*c >= 0x20 && *c != 0x7f);
	}
	if (msg.type == IPC_AUTH_APIKEY_DEL || msg.type == IPC_AUTH_APIKEY_SET)
		check_text(r.apikey_id, 16);
	if (msg.type == IPC_AUTH_APIKEY_SET)
		check_text(r.apikey_name, AUTHD_APIKEY_NAME_MAX);
	if (msg.type >= IPC_AUTH_APIKEY_LIST && msg.type <= IPC_AUTH_APIKEY_SET)
		assert(r.client == NULL);
	authd_request_clear(&r);
	return 0;
}
