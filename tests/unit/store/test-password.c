/* test-password - libcrypt hashes (yescrypt made here, $6$ and bcrypt
 * imported), constant-time verification's answers, hash checks for import,
 * and SCRAM-SHA-256 credentials against the RFC 7677 section 3 example. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <crypt.h>
#include <openssl/evp.h>

#include "store/store.h"
#include "store/store-private.h"

/* crypt_with - crypt(PASSWORD, SETTING) copied */
static char *crypt_with(const char *password, const char *setting)
{
	void *data = NULL;
	int size = 0;
	char *out = crypt_ra(password, setting, &data, &size);
	assert_non_null(out);
	assert_true(out[0] != '*');
	char *copy = strdup(out);
	free(data);
	return copy;
}

static void test_yescrypt_hash_and_verify(void **state)
{
	(void)state;
	const char *error = NULL;
	char *h = store_password_hash("correct horse", &error);
	assert_non_null(h);
	assert_true(strncmp(h, "$y$", 3) == 0);
	assert_string_equal(store_password_method(h), "yescrypt");
	assert_true(store_password_hash_is_valid(h));
	assert_true(store_password_verify("correct horse", h));
	assert_false(store_password_verify("correct horsE", h));
	assert_false(store_password_verify("", h));
	assert_false(store_password_verify("correct horse ", h));

	/* a fresh salt each time */
	char *h2 = store_password_hash("correct horse", &error);
	assert_non_null(h2);
	assert_string_not_equal(h, h2);
	assert_true(store_password_verify("correct horse", h2));
	free(h);
	free(h2);
}

static void test_imported_sha512_crypt(void **state)
{
	(void)state;
	char *h = crypt_with("imported-secret", "$6$abcdefgh12345678$");
	assert_true(strncmp(h, "$6$", 3) == 0);
	assert_string_equal(store_password_method(h), "sha512-crypt");
	assert_true(store_password_hash_is_valid(h));
	assert_true(store_password_verify("imported-secret", h));
	assert_false(store_password_verify("imported-secreT", h));
	free(h);

	/* with rounds= in the setting */
	h = crypt_with("pw", "$6$rounds=5000$saltsaltsalt$");
	assert_true(store_password_verify("pw", h));
	assert_true(store_password_hash_is_valid(h));
	free(h);
}

static void test_imported_bcrypt(void **state)
{
	(void)state;
	char *setting = crypt_gensalt_ra("$2b$", 4, NULL, 0);
	assert_non_null(setting);
	char *h = crypt_with("bcrypt-pw", setting);
	free(setting);
	assert_string_equal(store_password_method(h), "bcrypt");
	assert_true(store_password_hash_is_valid(h));
	assert_true(store_password_verify("bcrypt-pw", h));
	assert_false(store_password_verify("bcrypt-pX", h));
	free(h);
}

static void test_verify_rejects_bad_hashes(void **state)
{
	(void)state;
	assert_false(store_password_verify("x", NULL));
	assert_false(store_password_verify("x", ""));
	assert_false(store_password_verify("x", "*"));
	assert_false(store_password_verify("x", "!"));
	assert_false(store_password_verify("x", "!$6$abc$def"));
	assert_false(store_password_verify("x", "$6$"));
	assert_false(store_password_verify("x", "$y$"));
	assert_false(store_password_verify("x", "$unknown$aaa$bbb"));
	assert_false(store_password_verify(NULL, "$6$abc$def"));
}

static void test_hash_is_valid(void **state)
{
	(void)state;
	static const char *const invalid[] = {
		"", "*", "!", "!!", "garbage", "$6$", "$6$salt", "$y$", "$y$j9T$",
		"$2b$04$tooshort", "$zz$abc$def", "$1", "x y",
	};
	for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
		if (store_password_hash_is_valid(invalid[i]))
			fail_msg("accepted as a hash: '%s'", invalid[i]);
	}
	assert_false(store_password_hash_is_valid(NULL));
}

static void test_method_names(void **state)
{
	(void)state;
	assert_string_equal(store_password_method(""), "none");
	assert_string_equal(store_password_method(NULL), "none");
	assert_string_equal(store_password_method("$5$x$y"), "sha256-crypt");
	assert_string_equal(store_password_method("$1$x$y"), "md5-crypt");
	assert_string_equal(store_password_method("$2a$05$x"), "bcrypt");
	assert_string_equal(store_password_method("$gy$x"), "gost-yescrypt");
	assert_string_equal(store_password_method("$7$x"), "scrypt");
	assert_string_equal(store_password_method("$q$x"), "unknown");
	assert_string_equal(store_password_method("abcdefghijklm"), "descrypt");
}

/* RFC 7677 section 3: user "user", password "pencil", salt
 * W22ZaJ0SNY7soEsUEjb6gQ==, i=4096.  StoredKey and ServerKey follow from
 * the example's ClientProof and ServerSignature. */
static void test_scram_rfc7677_vector(void **state)
{
	(void)state;
	unsigned char salt[32];
	int n = EVP_DecodeBlock(salt, (const unsigned char *)"W22ZaJ0SNY7soEsUEjb6gQ==", 24);
	assert_int_equal(n, 18);   /* EVP_DecodeBlock counts the padding */
	char *s = store_scram_credentials_salt("pencil", salt, 16, 4096);
	assert_non_null(s);
	assert_string_equal(s, "4096:W22ZaJ0SNY7soEsUEjb6gQ==:"
			       "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
			       "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=");
	free(s);

	assert_null(store_scram_credentials_salt("pencil", salt, 16, 0));
	assert_null(store_scram_credentials_salt("pencil", salt, 0, 4096));
}

static void test_scram_random_salt(void **state)
{
	(void)state;
	char *a = store_scram_credentials("pencil", 4096);
	char *b = store_scram_credentials("pencil", 4096);
	assert_non_null(a);
	assert_non_null(b);
	assert_string_not_equal(a, b);
	/* "4096:" + 24 (16 bytes) + ":" + 44 + ":" + 44 */
	assert_int_equal(strlen(a), 5 + 24 + 1 + 44 + 1 + 44);
	assert_true(strncmp(a, "4096:", 5) == 0);
	free(a);
	free(b);
	a = store_scram_credentials("pencil", 100000);
	assert_true(strncmp(a, "100000:", 7) == 0);
	free(a);
}

/* test_scram_parse - credentials as stored, taken apart; anything else refused */
static void test_scram_parse(void **state)
{
	(void)state;
	struct store_scram k;
	const unsigned char salt[16] = { 0x5b, 0x6d, 0x99, 0x68, 0x9d, 0x12, 0x35, 0x8e,
					 0xec, 0xa0, 0x4b, 0x14, 0x12, 0x36, 0xfa, 0x81 };
	assert_int_equal(store_scram_parse("4096:W22ZaJ0SNY7soEsUEjb6gQ==:"
		"WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
		"wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=", &k), 0);
	assert_int_equal(k.iterations, 4096);
	assert_int_equal(k.salt_len, 16);
	assert_memory_equal(k.salt, salt, 16);
	assert_int_equal(k.stored_key[0], 0x58);
	assert_int_equal(k.server_key[31], 0xd5);
	/* what store_scram_credentials and the fake ones make parses too */
	unsigned char secret[STORE_AUTH_SECRET_LEN] = { 1 };
	char *fake = store_scram_fake_credentials(secret, "nobody", 100000);
	assert_int_equal(store_scram_parse(fake, &k), 0);
	assert_int_equal(k.iterations, 100000);
	free(fake);
	static const char *const bad[] = {
		"",
		"4096",
		"4096:W22ZaJ0SNY7soEsUEjb6gQ==:WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=",
		"0:W22ZaJ0SNY7soEsUEjb6gQ==:WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
			"wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
		"-1:W22ZaJ0SNY7soEsUEjb6gQ==:WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
			"wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
		"99999999999:W22ZaJ0SNY7soEsUEjb6gQ==:WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
			"wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
		"4096::WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
			"wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
		/* a 31-byte key */
		"4096:W22ZaJ0SNY7soEsUEjb6gQ==:WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4g==:"
			"wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
		"4096:W22ZaJ0S NY7soEsUEjb6gQ==:WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
			"wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
		"4096:W22ZaJ0SNY7soEsUEjb6gQ==:WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
			"wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=:",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(store_scram_parse(bad[i], &k), -1);
}

/* test_scram_fake_credentials - the same for one user name in any case and
 * one secret, different for another name or secret; shaped like real ones */
static void test_scram_fake_credentials(void **state)
{
	(void)state;
	unsigned char secret[STORE_AUTH_SECRET_LEN], other[STORE_AUTH_SECRET_LEN];
	memset(secret, 7, sizeof(secret));
	memset(other, 8, sizeof(other));
	char *a = store_scram_fake_credentials(secret, "nobody@example.test", 100000);
	char *b = store_scram_fake_credentials(secret, "NoBody@Example.TEST", 100000);
	char *c = store_scram_fake_credentials(secret, "nobody2@example.test", 100000);
	char *d = store_scram_fake_credentials(other, "nobody@example.test", 100000);
	char *real = store_scram_credentials("pencil", 100000);
	assert_string_equal(a, b);
	assert_int_equal(strlen(a), strlen(real));
	assert_true(strncmp(a, "100000:", 7) == 0);
	/* the salt (field 2) differs with the name and with the secret */
	assert_true(strncmp(a, c, 7 + 24) != 0);
	assert_true(strncmp(a, d, 7 + 24) != 0);
	free(a);
	free(b);
	free(c);
	free(d);
	free(real);
}

/* test_auth_secret_file - made once in DATA_DIR/auth (0700) as auth-secret
 * (0600, 64 hex digits), then read back the same; a damaged file is an
 * error, never silently replaced */
static void test_auth_secret_file(void **state)
{
	(void)state;
	char dir[] = "/tmp/petrel-test-secret-XXXXXX";
	assert_non_null(mkdtemp(dir));
	unsigned char s1[STORE_AUTH_SECRET_LEN], s2[STORE_AUTH_SECRET_LEN];
	const char *error = NULL;
	assert_int_equal(store_auth_secret_load(dir, s1, &error), 0);
	assert_int_equal(store_auth_secret_load(dir, s2, &error), 0);
	assert_memory_equal(s1, s2, sizeof(s1));
	char path[128], auth[96];
	snprintf(auth, sizeof(auth), "%s/auth", dir);
	snprintf(path, sizeof(path), "%s/auth/auth-secret", dir);
	struct stat st;
	assert_int_equal(lstat(auth, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(st.st_size, 65);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("not hex\n", f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(store_auth_secret_load(dir, s2, &error), -1);
	assert_non_null(strstr(error, "64 hex digits"));
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(auth), 0);
	assert_int_equal(rmdir(dir), 0);
}

/* secret_write - TEXT into PATH, mode 0600 */
static void secret_write(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, 0600), 0);
}

#define OLD_SECRET "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n"
#define NEW_SECRET "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100\n"

/* test_auth_secret_moved - DATA_DIR/auth-secret, where petrel kept it before
 * the auth folder, is moved (not copied, not replaced by a new one) so that
 * an unknown user's SCRAM salt is the same after the upgrade; when
 * DATA_DIR/auth/auth-secret exists already, that one is used and the old
 * file is left alone */
static void test_auth_secret_moved(void **state)
{
	(void)state;
	char dir[] = "/tmp/petrel-test-secret-mv-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char old[128], path[128], auth[96];
	snprintf(old, sizeof(old), "%s/auth-secret", dir);
	snprintf(auth, sizeof(auth), "%s/auth", dir);
	snprintf(path, sizeof(path), "%s/auth/auth-secret", dir);
	secret_write(old, OLD_SECRET);
	unsigned char s[STORE_AUTH_SECRET_LEN];
	const char *error = NULL;
	assert_int_equal(store_auth_secret_load(dir, s, &error), 0);
	assert_int_equal(s[0], 0x00);
	assert_int_equal(s[1], 0x11);
	assert_int_equal(s[31], 0xff);
	struct stat st;
	assert_int_equal(stat(old, &st), -1);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	/* and again: the moved one */
	assert_int_equal(store_auth_secret_load(dir, s, &error), 0);
	assert_int_equal(s[1], 0x11);

	/* both there: the new place wins, the old file stays as it was */
	secret_write(old, NEW_SECRET);
	assert_int_equal(store_auth_secret_load(dir, s, &error), 0);
	assert_int_equal(s[1], 0x11);
	assert_int_equal(stat(old, &st), 0);
	assert_int_equal(unlink(old), 0);
	assert_int_equal(unlink(path), 0);

	/* the auth folder a symlink: refused, and nothing moved into it */
	char target[128];
	snprintf(target, sizeof(target), "%s/elsewhere", dir);
	assert_int_equal(rmdir(auth), 0);
	assert_int_equal(mkdir(target, 0700), 0);
	assert_int_equal(symlink(target, auth), 0);
	secret_write(old, OLD_SECRET);
	error = NULL;
	assert_int_equal(store_auth_secret_load(dir, s, &error), -1);
	assert_non_null(strstr(error, "symlink"));
	assert_int_equal(stat(old, &st), 0);
	assert_int_equal(unlink(old), 0);
	assert_int_equal(unlink(auth), 0);
	assert_int_equal(rmdir(target), 0);
	assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_yescrypt_hash_and_verify),
		cmocka_unit_test(test_imported_sha512_crypt),
		cmocka_unit_test(test_imported_bcrypt),
		cmocka_unit_test(test_verify_rejects_bad_hashes),
		cmocka_unit_test(test_hash_is_valid),
		cmocka_unit_test(test_method_names),
		cmocka_unit_test(test_scram_rfc7677_vector),
		cmocka_unit_test(test_scram_random_salt),
		cmocka_unit_test(test_scram_parse),
		cmocka_unit_test(test_scram_fake_credentials),
		cmocka_unit_test(test_auth_secret_file),
		cmocka_unit_test(test_auth_secret_moved),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
