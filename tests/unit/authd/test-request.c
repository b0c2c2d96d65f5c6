/* test-request - what the auth process accepts of a request
 * (src/authd/request.c): every field of IPC_AUTH_PASSWORD, SCRAM_START,
 * SCRAM_PROOF, TICKET and APIKEY_* within its limits, anything else refused with nothing kept.
 * Frames are made with ipc_encode and decoded as the server does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "authd/request.h"
#include "authd/ticket.h"
#include "ipc/ipc.h"
#include "util/buf.h"

#define F(s) ((struct ipc_field){ (s), sizeof(s) - 1 })

/* parse - encode TYPE with FIELDS, decode it and hand it to the parser */
static int parse(uint8_t type, unsigned count, const struct ipc_field *fields,
		 struct authd_request *r)
{
	struct buf frame;
	struct ipc_msg msg;
	const char *reason = NULL;
	buf_init(&frame);
	assert_int_equal(ipc_encode(&frame, type, 7, count, fields), 0);
	assert_int_equal(ipc_decode((const unsigned char *)frame.data, frame.len, &msg), 0);
	int rc = authd_request_parse(&msg, r, &reason);
	if (rc != 0) {
		assert_non_null(reason);
		assert_null(r->user);
		assert_null(r->password);
		assert_null(r->auth_message);
		assert_null(r->apikey_name);
		assert_null(r->apikey_scopes);
		assert_null(r->apikey_id);
	}
	buf_free(&frame);
	return rc;
}

static void test_password(void **state)
{
	(void)state;
	struct authd_request r;
	struct ipc_field f[3] = { F("Alice@Example.test"), F("pencil"), F("127.0.0.1") };
	assert_int_equal(parse(IPC_AUTH_PASSWORD, 3, f, &r), 0);
	assert_string_equal(r.user, "Alice@Example.test");
	assert_string_equal(r.password, "pencil");
	assert_int_equal(r.addr.ss_family, AF_INET);
	authd_request_clear(&r);
	f[2] = F("::1");
	assert_int_equal(parse(IPC_AUTH_PASSWORD, 3, f, &r), 0);
	assert_int_equal(r.addr.ss_family, AF_INET6);
	authd_request_clear(&r);
	f[2] = F("local");
	assert_int_equal(parse(IPC_AUTH_PASSWORD, 3, f, &r), 0);
	assert_int_equal(r.addr.ss_family, AF_UNIX);
	authd_request_clear(&r);

	/* the longest name and password that fit */
	char user[AUTHD_USER_MAX + 1], pass[AUTHD_PASSWORD_MAX + 1];
	memset(user, 'u', sizeof(user));
	memset(pass, 'p', sizeof(pass));
	struct ipc_field g[3] = { { user, AUTHD_USER_MAX }, { pass, AUTHD_PASSWORD_MAX },
				  F("127.0.0.1") };
	assert_int_equal(parse(IPC_AUTH_PASSWORD, 3, g, &r), 0);
	authd_request_clear(&r);

	static const struct {
		struct ipc_field f[3];
		unsigned count;
	} bad[] = {
		{ { F("alice"), F("pencil") }, 2 },                          /* no address */
		{ { F("alice"), F("pencil"), F("127.0.0.1") }, 2 },
		{ { F(""), F("pencil"), F("127.0.0.1") }, 3 },               /* empty user */
		{ { F("alice"), F(""), F("127.0.0.1") }, 3 },                /* empty password */
		{ { F("ali\0ce"), F("pencil"), F("127.0.0.1") }, 3 },        /* NUL in the name */
		{ { F("alice"), F("pen\0cil"), F("127.0.0.1") }, 3 },        /* NUL in the password */
		{ { F("alice"), F("pencil"), F("127.0.0.1\0") }, 3 },
		{ { F("alice"), F("pencil"), F("") }, 3 },
		{ { F("alice"), F("pencil"), F("example.test") }, 3 },       /* not an address */
		{ { F("alice"), F("pencil"), F("127.0.0.1:25") }, 3 },
		{ { F("alice"), F("pencil"), F("unknown") }, 3 },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(parse(IPC_AUTH_PASSWORD, bad[i].count, bad[i].f, &r), -1);
	/* one byte too long */
	g[0].len = AUTHD_USER_MAX + 1;
	assert_int_equal(parse(IPC_AUTH_PASSWORD, 3, g, &r), -1);
	g[0].len = AUTHD_USER_MAX;
	g[1].len = AUTHD_PASSWORD_MAX + 1;
	assert_int_equal(parse(IPC_AUTH_PASSWORD, 3, g, &r), -1);
	/* four fields */
	struct ipc_field h[4] = { F("alice"), F("pencil"), F("127.0.0.1"), F("x") };
	assert_int_equal(parse(IPC_AUTH_PASSWORD, 4, h, &r), -1);
}

static void test_scram_start(void **state)
{
	(void)state;
	struct authd_request r;
	struct ipc_field f[2] = { F("alice"), F("127.0.0.1") };
	assert_int_equal(parse(IPC_AUTH_SCRAM_START, 1, f, &r), 0);
	assert_string_equal(r.user, "alice");
	authd_request_clear(&r);
	assert_int_equal(parse(IPC_AUTH_SCRAM_START, 2, f, &r), -1);
	assert_int_equal(parse(IPC_AUTH_SCRAM_START, 0, f, &r), -1);
	f[0] = F("al\0ice");
	assert_int_equal(parse(IPC_AUTH_SCRAM_START, 1, f, &r), -1);
}

static void test_scram_proof(void **state)
{
	(void)state;
	struct authd_request r;
	unsigned char proof[AUTHD_PROOF_LEN + 1];
	memset(proof, 0xa5, sizeof(proof));
	static char message[AUTHD_AUTH_MESSAGE_MAX + 1];
	memset(message, 'm', sizeof(message));
	struct ipc_field f[4] = { F("alice"), F("192.0.2.1"), F("n=alice,r=x,r=xy,s=c2FsdA==,"
				  "i=4096,c=biws,r=xy"), { proof, AUTHD_PROOF_LEN } };
	assert_int_equal(parse(IPC_AUTH_SCRAM_PROOF, 4, f, &r), 0);
	assert_string_equal(r.user, "alice");
	assert_int_equal(r.auth_message_len, f[2].len);
	assert_memory_equal(r.auth_message, f[2].data, f[2].len);
	assert_memory_equal(r.proof, proof, AUTHD_PROOF_LEN);
	authd_request_clear(&r);
	/* an AuthMessage is opaque bytes: a NUL in it is no reason to refuse */
	f[2] = F("a\0b");
	assert_int_equal(parse(IPC_AUTH_SCRAM_PROOF, 4, f, &r), 0);
	authd_request_clear(&r);
	f[2] = (struct ipc_field){ message, AUTHD_AUTH_MESSAGE_MAX };
	assert_int_equal(parse(IPC_AUTH_SCRAM_PROOF, 4, f, &r), 0);
	authd_request_clear(&r);

	f[2].len = AUTHD_AUTH_MESSAGE_MAX + 1;
	assert_int_equal(parse(IPC_AUTH_SCRAM_PROOF, 4, f, &r), -1);
	f[2].len = 0;
	assert_int_equal(parse(IPC_AUTH_SCRAM_PROOF, 4, f, &r), -1);
	f[2] = F("n=alice");
	f[3].len = AUTHD_PROOF_LEN - 1;         /* the proof is exactly 32 bytes */
	assert_int_equal(parse(IPC_AUTH_SCRAM_PROOF, 4, f, &r), -1);
	f[3].len = AUTHD_PROOF_LEN + 1;
	assert_int_equal(parse(IPC_AUTH_SCRAM_PROOF, 4, f, &r), -1);
	f[3].len = AUTHD_PROOF_LEN;
	assert_int_equal(parse(IPC_AUTH_SCRAM_PROOF, 3, f, &r), -1);
	f[1] = F("nowhere");
	assert_int_equal(parse(IPC_AUTH_SCRAM_PROOF, 4, f, &r), -1);
}

/* test_ticket - TICKET: an account, a ticket shorter than AUTHD_TICKET_MAX
 * (what the network process sends on), a client address */
static void test_ticket(void **state)
{
	(void)state;
	struct authd_request r;
	struct ipc_field f[3] = { F("alice@example.test"), F("v1:1:node-a:00"), F("127.0.0.1") };
	assert_int_equal(parse(IPC_AUTH_TICKET, 3, f, &r), 0);
	assert_string_equal(r.user, "alice@example.test");
	assert_string_equal(r.password, "v1:1:node-a:00");
	assert_int_equal(r.addr.ss_family, AF_INET);
	authd_request_clear(&r);
	char tk[AUTHD_TICKET_MAX];
	memset(tk, 't', sizeof(tk));
	f[1] = (struct ipc_field){ tk, AUTHD_TICKET_MAX - 1 };
	assert_int_equal(parse(IPC_AUTH_TICKET, 3, f, &r), 0);
	authd_request_clear(&r);
	f[1] = (struct ipc_field){ tk, AUTHD_TICKET_MAX };
	assert_int_equal(parse(IPC_AUTH_TICKET, 3, f, &r), -1);
	f[1] = F("v1");
	assert_int_equal(parse(IPC_AUTH_TICKET, 2, f, &r), -1);
	f[2] = F("not an address");
	assert_int_equal(parse(IPC_AUTH_TICKET, 3, f, &r), -1);
}

/* test_apikey - APIKEY_LIST: an account; APIKEY_ADD: an account, a name
 * without control characters, valid scopes once spaced; APIKEY_DEL: an
 * account and a key id.  No client address: nothing to throttle. */
static void test_apikey(void **state)
{
	(void)state;
	struct authd_request r;
	struct ipc_field f[3] = { F("alice@example.test"), F("ci key"), F("mail.send stats.read") };
	assert_int_equal(parse(IPC_AUTH_APIKEY_LIST, 1, f, &r), 0);
	assert_string_equal(r.user, "alice@example.test");
	assert_null(r.client);
	authd_request_clear(&r);
	assert_int_equal(parse(IPC_AUTH_APIKEY_LIST, 2, f, &r), -1);
	assert_int_equal(parse(IPC_AUTH_APIKEY_ADD, 3, f, &r), 0);
	assert_string_equal(r.apikey_name, "ci key");
	assert_string_equal(r.apikey_scopes, "mail.send stats.read");
	authd_request_clear(&r);
	static const struct ipc_field bad_names[] = { F("a\tb"), F("a\nb"), F("") };
	for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
		f[1] = bad_names[i];
		assert_int_equal(parse(IPC_AUTH_APIKEY_ADD, 3, f, &r), -1);
	}
	char name[AUTHD_APIKEY_NAME_MAX + 1];
	memset(name, 'n', sizeof(name));
	f[1] = (struct ipc_field){ name, AUTHD_APIKEY_NAME_MAX };
	assert_int_equal(parse(IPC_AUTH_APIKEY_ADD, 3, f, &r), 0);
	authd_request_clear(&r);
	f[1] = (struct ipc_field){ name, AUTHD_APIKEY_NAME_MAX + 1 };
	assert_int_equal(parse(IPC_AUTH_APIKEY_ADD, 3, f, &r), -1);
	f[1] = F("ci");
	static const struct ipc_field bad_scopes[] = { F("Mail.send"), F(" mail.send"),
						      F("mail.send "), F("a  b"), F("") };
	for (size_t i = 0; i < sizeof(bad_scopes) / sizeof(bad_scopes[0]); i++) {
		f[2] = bad_scopes[i];
		assert_int_equal(parse(IPC_AUTH_APIKEY_ADD, 3, f, &r), -1);
	}
	f[1] = F("0123456789abcdef");
	assert_int_equal(parse(IPC_AUTH_APIKEY_DEL, 2, f, &r), 0);
	assert_string_equal(r.apikey_id, "0123456789abcdef");
	authd_request_clear(&r);
	f[1] = F("0123456789abcdef0");
	assert_int_equal(parse(IPC_AUTH_APIKEY_DEL, 2, f, &r), -1);
	struct ipc_field set[4] = { F("alice@example.test"), F("0123456789abcdef"), F("ci"),
				    F("mail.send") };
	assert_int_equal(parse(IPC_AUTH_APIKEY_SET, 3, set, &r), 0);
	assert_null(r.apikey_scopes);
	authd_request_clear(&r);
	assert_int_equal(parse(IPC_AUTH_APIKEY_SET, 4, set, &r), 0);
	assert_string_equal(r.apikey_scopes, "mail.send");
	authd_request_clear(&r);
	set[3] = F("mail.send ");
	assert_int_equal(parse(IPC_AUTH_APIKEY_SET, 4, set, &r), -1);
	assert_int_equal(parse(IPC_AUTH_APIKEY_SET, 2, set, &r), -1);
}

/* test_password_set - an account and a password within AUTHD_PASSWORD_MAX;
 * no client address (nothing to throttle), no third field */
static void test_password_set(void **state)
{
	(void)state;
	struct authd_request r;
	static char long_pw[AUTHD_PASSWORD_MAX + 1];
	memset(long_pw, 'p', sizeof(long_pw));
	struct ipc_field f[3] = { F("new@example.test"), F("a-new-password"), F("127.0.0.1") };
	assert_int_equal(parse(IPC_AUTH_PASSWORD_SET, 2, f, &r), 0);
	assert_string_equal(r.user, "new@example.test");
	assert_string_equal(r.password, "a-new-password");
	assert_null(r.client);
	authd_request_clear(&r);
	assert_int_equal(parse(IPC_AUTH_PASSWORD_SET, 3, f, &r), -1);
	assert_int_equal(parse(IPC_AUTH_PASSWORD_SET, 1, f, &r), -1);
	f[1] = (struct ipc_field){ long_pw, AUTHD_PASSWORD_MAX };
	assert_int_equal(parse(IPC_AUTH_PASSWORD_SET, 2, f, &r), 0);
	authd_request_clear(&r);
	f[1] = (struct ipc_field){ long_pw, AUTHD_PASSWORD_MAX + 1 };
	assert_int_equal(parse(IPC_AUTH_PASSWORD_SET, 2, f, &r), -1);
	f[1] = F("");
	assert_int_equal(parse(IPC_AUTH_PASSWORD_SET, 2, f, &r), -1);
	f[1] = (struct ipc_field){ "a\0b", 3 };
	assert_int_equal(parse(IPC_AUTH_PASSWORD_SET, 2, f, &r), -1);
}

/* test_other_types - replies and the keys' requests are not the auth process's */
static void test_other_types(void **state)
{
	(void)state;
	struct authd_request r;
	struct ipc_field f[3] = { F("alice"), F("pencil"), F("127.0.0.1") };
	static const uint8_t types[] = { IPC_KEYS_LIST, IPC_KEYS_SIGN, IPC_R_OK, IPC_R_FAIL,
					 IPC_R_BAD };
	for (size_t i = 0; i < sizeof(types); i++)
		assert_int_equal(parse(types[i], 3, f, &r), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_password),
		cmocka_unit_test(test_scram_start),
		cmocka_unit_test(test_scram_proof),
		cmocka_unit_test(test_ticket),
		cmocka_unit_test(test_apikey),
		cmocka_unit_test(test_password_set),
		cmocka_unit_test(test_other_types),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
