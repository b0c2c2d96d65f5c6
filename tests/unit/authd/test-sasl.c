/* test-sasl - PLAIN and the server side of SCRAM-SHA-256
 * (src/authd/sasl.c), SCRAM against the RFC 7677 section 3 exchange with the
 * auth process's proof check (src/store/scram.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "authd/sasl.h"
#include "store/store.h"
#include "util/xalloc.h"

static void test_plain(void **state)
{
	(void)state;
	char *user, *pass;
	assert_int_equal(sasl_plain_parse("\0user\0pass", 10, &user, &pass), 0);
	assert_string_equal(user, "user");
	assert_string_equal(pass, "pass");
	free(user);
	free(pass);
	/* the same authzid as the user is fine; another one is not */
	assert_int_equal(sasl_plain_parse("user\0user\0pw", 12, &user, &pass), 0);
	free(user);
	free(pass);
	assert_int_equal(sasl_plain_parse("admin\0user\0pw", 13, &user, &pass), -1);
	assert_int_equal(sasl_plain_parse("\0\0pw", 4, &user, &pass), -1);      /* no user */
	assert_int_equal(sasl_plain_parse("\0user\0", 6, &user, &pass), -1);    /* no password */
	assert_int_equal(sasl_plain_parse("\0user", 5, &user, &pass), -1);      /* one NUL */
	assert_int_equal(sasl_plain_parse("\0u\0p\0q", 7, &user, &pass), -1);  /* NUL in password */
	assert_null(user);
}

/* RFC 7677 3: user "user", password "pencil"; end to end through the split:
 * this side parses, the auth side (store_scram_proof_check) checks */
/* PLAIN with another authzid: the login of a node on an account's behalf
 * (authd/ticket.h), parsed apart; the same as the authcid, or none: NULL */
static void test_plain_authzid(void **state)
{
	(void)state;
	char *authzid, *user, *pass;
	assert_int_equal(sasl_plain_parse_authzid("a@example.test\0petrel-cluster\0v1:1", 34,
						  &authzid, &user, &pass), 0);
	assert_string_equal(authzid, "a@example.test");
	assert_string_equal(user, "petrel-cluster");
	assert_string_equal(pass, "v1:1");
	free(authzid);
	free(user);
	free(pass);
	assert_int_equal(sasl_plain_parse_authzid("user\0user\0pw", 12, &authzid, &user, &pass),
			 0);
	assert_null(authzid);
	free(user);
	free(pass);
	assert_int_equal(sasl_plain_parse_authzid("\0user\0pw", 8, &authzid, &user, &pass), 0);
	assert_null(authzid);
	free(user);
	free(pass);
	/* the same limits: no empty password, no authcid */
	assert_int_equal(sasl_plain_parse_authzid("a\0user\0", 7, &authzid, &user, &pass), -1);
	assert_int_equal(sasl_plain_parse_authzid("a\0\0pw", 5, &authzid, &user, &pass), -1);
	assert_null(authzid);
	assert_null(user);
}

static void test_scram_rfc7677(void **state)
{
	(void)state;
	static const char first[] = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
	static const char creds[] = "4096:W22ZaJ0SNY7soEsUEjb6gQ==:"
		"WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
		"wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=";
	static const char nonce[] = "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
	static const char final[] = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
		"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
	struct sasl_scram scram;
	memset(&scram, 0, sizeof(scram));
	assert_int_equal(sasl_scram_client_first(&scram, first, strlen(first)), 0);
	assert_string_equal(scram.user, "user");

	/* what the auth process answers to SCRAM_START: iterations and salt */
	struct store_scram keys;
	assert_int_equal(store_scram_parse(creds, &keys), 0);
	assert_int_equal(keys.iterations, 4096);
	assert_int_equal(keys.salt_len, 16);
	struct buf out;
	buf_init(&out);
	assert_int_equal(sasl_scram_server_first(&scram, keys.iterations, keys.salt,
						 keys.salt_len, &out), 0);
	assert_non_null(strstr(out.data, ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"));
	assert_int_equal(strncmp(out.data, "r=rOprNGfwEbeRWgbNEkqO", 22), 0);
	assert_true(strlen(scram.nonce) > strlen("rOprNGfwEbeRWgbNEkqO"));
	/* only once per exchange */
	assert_int_equal(sasl_scram_server_first(&scram, 4096, keys.salt, keys.salt_len, &out), -1);
	/* the RFC's server nonce instead of our random one */
	free(scram.nonce);
	free(scram.server_first);
	scram.nonce = xstrdup(nonce);
	scram.server_first = xasprintf("r=%s,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", nonce);

	struct buf auth;
	buf_init(&auth);
	unsigned char proof[SASL_SCRAM_PROOF_LEN], signature[STORE_SCRAM_KEY_LEN];
	assert_int_equal(sasl_scram_client_final(&scram, final, strlen(final), &auth, proof), 0);
	char *expected = xasprintf("n=user,r=rOprNGfwEbeRWgbNEkqO,%s,c=biws,r=%s",
				   scram.server_first, nonce);
	assert_int_equal(auth.len, strlen(expected));
	assert_memory_equal(auth.data, expected, auth.len);
	free(expected);
	assert_int_equal(store_scram_proof_check(&keys, auth.data, auth.len, proof, signature), 0);
	buf_reset(&out);
	sasl_scram_server_final(signature, &out);
	assert_string_equal(out.data, "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");

	/* one bit off in the proof: parsed, but the auth side refuses it */
	char bad[sizeof(final)];
	memcpy(bad, final, sizeof(final));
	bad[sizeof(final) - 3] = bad[sizeof(final) - 3] == 'A' ? 'B' : 'A';
	buf_reset(&auth);
	assert_int_equal(sasl_scram_client_final(&scram, bad, strlen(bad), &auth, proof), 0);
	assert_int_equal(store_scram_proof_check(&keys, auth.data, auth.len, proof, signature), 1);
	/* the right proof over another AuthMessage: refused */
	buf_reset(&auth);
	assert_int_equal(sasl_scram_client_final(&scram, final, strlen(final), &auth, proof), 0);
	auth.data[0] ^= 1;
	assert_int_equal(store_scram_proof_check(&keys, auth.data, auth.len, proof, signature), 1);
	/* a nonce that is not ours, or a channel binding we did not offer */
	static const char wrong_nonce[] = "c=biws,r=rOprNGfwEbeRWgbNEkqOX,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
	static const char wrong_cbind[] = "c=eSws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
		"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
	/* a proof that is not 32 bytes */
	static const char short_proof[] = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
		"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndQ==";
	buf_reset(&auth);
	assert_int_equal(sasl_scram_client_final(&scram, wrong_nonce, strlen(wrong_nonce), &auth,
						 proof), -1);
	assert_int_equal(sasl_scram_client_final(&scram, wrong_cbind, strlen(wrong_cbind), &auth,
						 proof), -1);
	assert_int_equal(sasl_scram_client_final(&scram, short_proof, strlen(short_proof), &auth,
						 proof), -1);
	assert_int_equal(auth.len, 0);
	buf_free(&auth);
	buf_free(&out);
	store_scram_clear(&keys);
	sasl_scram_clear(&scram);
}

static void test_scram_malformed(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"p=tls-unique,,n=user,r=abc",   /* channel binding: not offered */
		"n,,r=abc",                      /* no user */
		"n,,n=,r=abc",
		"n,,n=us=3Fer,r=abc",            /* bad escape */
		"n,,n=user",                     /* no nonce */
		"n,,n=user,r=a,b",               /* ',' in the nonce is the next attribute */
		"x,,n=user,r=abc",
		"",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sasl_scram scram;
		memset(&scram, 0, sizeof(scram));
		int rc = sasl_scram_client_first(&scram, bad[i], strlen(bad[i]));
		if (i == 5)
			assert_int_equal(rc, 0);  /* trailing extensions are tolerated */
		else
			assert_int_equal(rc, -1);
		sasl_scram_clear(&scram);
	}
	struct sasl_scram scram;
	memset(&scram, 0, sizeof(scram));
	assert_int_equal(sasl_scram_client_first(&scram, "n,,n=a=2Cb=3Dc,r=xyz", 20), 0);
	assert_string_equal(scram.user, "a,b=c");
	struct buf out;
	buf_init(&out);
	unsigned char proof[SASL_SCRAM_PROOF_LEN];
	/* client-final before server-first */
	assert_int_equal(sasl_scram_client_final(&scram, "c=biws", 6, &out, proof), -1);
	/* iterations and salt out of range */
	assert_int_equal(sasl_scram_server_first(&scram, 0, "salt", 4, &out), -1);
	assert_int_equal(sasl_scram_server_first(&scram, 4096, "salt", 0, &out), -1);
	static const unsigned char long_salt[SASL_SCRAM_SALT_MAX + 1];
	assert_int_equal(sasl_scram_server_first(&scram, 4096, long_salt, sizeof(long_salt),
						 &out), -1);
	assert_int_equal(out.len, 0);
	assert_int_equal(sasl_scram_server_first(&scram, 4096, "salt", 4, &out), 0);
	assert_non_null(strstr(out.data, ",s=c2FsdA==,i=4096"));
	assert_int_equal(sasl_scram_client_final(&scram, "c=biws", 6, &out, proof), -1);
	buf_free(&out);
	sasl_scram_clear(&scram);
}

/* RFC 5802 7: a gs2-header authzid is taken when it names the authenticating user
 * itself (mbsync sends "n,a=USER,"), and the header with it is what c= must carry */
static void test_scram_authzid(void **state)
{
	(void)state;
	struct sasl_scram scram;
	memset(&scram, 0, sizeof(scram));
	static const char first[] = "n,a=u=2Cx,n=u=2Cx,r=abc";
	assert_int_equal(sasl_scram_client_first(&scram, first, strlen(first)), 0);
	assert_string_equal(scram.user, "u,x");
	assert_string_equal(scram.gs2_header, "n,a=u=2Cx,");
	assert_string_equal(scram.client_first_bare, "n=u=2Cx,r=abc");
	struct buf out;
	buf_init(&out);
	unsigned char proof[SASL_SCRAM_PROOF_LEN];
	assert_int_equal(sasl_scram_server_first(&scram, 4096, "salt", 4, &out), 0);
	/* c= of "n,," instead of the header sent: refused */
	char *final = xasprintf("c=biws,r=%s,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
				scram.nonce);
	buf_reset(&out);
	assert_int_equal(sasl_scram_client_final(&scram, final, strlen(final), &out, proof), -1);
	free(final);
	/* base64("n,a=u=2Cx,") */
	final = xasprintf("c=bixhPXU9MkN4LA==,r=%s,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
			  scram.nonce);
	buf_reset(&out);
	assert_int_equal(sasl_scram_client_final(&scram, final, strlen(final), &out, proof), 0);
	free(final);
	buf_free(&out);
	sasl_scram_clear(&scram);

	static const char *const bad[] = {
		"n,a=admin,n=user,r=abc",   /* acting as somebody else: not supported */
		"n,a=,n=user,r=abc",        /* empty authzid */
		"n,a=user",                 /* header never ends */
		"n,a=us=3Fer,n=us=3Fer,r=abc", /* bad escape */
		"n,b=user,n=user,r=abc",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&scram, 0, sizeof(scram));
		assert_int_equal(sasl_scram_client_first(&scram, bad[i], strlen(bad[i])), -1);
		sasl_scram_clear(&scram);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_plain_authzid),
		cmocka_unit_test(test_scram_rfc7677),
		cmocka_unit_test(test_scram_malformed),
		cmocka_unit_test(test_scram_authzid),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
