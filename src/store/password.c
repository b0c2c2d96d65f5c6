/* store/password - password hashes (libcrypt, yescrypt by default) and
 * SCRAM-SHA-256 credentials (RFC 5802, RFC 7677).
 *
 * Copies of a password are wiped with OPENSSL_cleanse before they are freed;
 * nothing here logs.  crypt_ra's scratch area holds intermediate state of the
 * hash and is wiped too.
 */
#include "store/store.h"
#include "store/store-private.h"

#include "util/fileio.h"
#include "util/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

static char *crypt_copy(const char *password, const char *setting);
static char *base64(const unsigned char *data, size_t len);
static void secret_derive(const unsigned char secret[STORE_AUTH_SECRET_LEN], const char *label,
			  const char *user, unsigned char out[SHA256_DIGEST_LENGTH]);
static bool secret_parse(const char *text, size_t len, unsigned char secret[STORE_AUTH_SECRET_LEN]);

/* crypt_copy - crypt(PASSWORD, SETTING) as a malloc'd string; NULL on failure */
static char *crypt_copy(const char *password, const char *setting)
{
	void *data = NULL;
	int size = 0;
	char *out = crypt_ra(password, setting, &data, &size);
	char *copy = NULL;
	/* libxcrypt returns a string starting with '*' instead of NULL on
	 * failure (the "failure token"); never accept it as a hash */
	if (out && out[0] != '*' && out[0] != '\0')
		copy = xstrdup(out);
	if (data) {
		OPENSSL_cleanse(data, (size_t)size);
		free(data);
	}
	return copy;
}

char *store_password_hash(const char *password, const char **error_r)
{
	char *setting = crypt_gensalt_ra("$y$", 0, NULL, 0);
	if (!setting) {
		*error_r = "cannot make a yescrypt salt (crypt_gensalt_ra failed)";
		return NULL;
	}
	char *hash = crypt_copy(password, setting);
	free(setting);
	if (!hash)
		*error_r = "password hashing failed";
	return hash;
}

bool store_password_verify(const char *password, const char *hash)
{
	if (!password || !hash || hash[0] == '\0' || hash[0] == '!' || hash[0] == '*')
		return false;
	char *out = crypt_copy(password, hash);
	if (!out)
		return false;
	size_t hlen = strlen(hash), olen = strlen(out);
	/* lengths first: they depend on the method and salt only, not the password */
	bool ok = hlen == olen && CRYPTO_memcmp(out, hash, hlen) == 0;
	OPENSSL_cleanse(out, olen);
	free(out);
	return ok;
}

bool store_password_hash_is_valid(const char *hash)
{
	bool valid = false;
	if (hash && hash[0] != '\0' && hash[0] != '*' && hash[0] != '!') {
		int check = crypt_checksalt(hash);
		if (check == CRYPT_SALT_OK || check == CRYPT_SALT_METHOD_LEGACY ||
		    check == CRYPT_SALT_TOO_CHEAP) {
			/* a complete hash: hashing anything with it as the setting
			 * gives a string of the same length */
			char *out = crypt_copy("petrel-hash-check", hash);
			valid = out && strlen(out) == strlen(hash);
			free(out);
		}
	}
	return valid;
}

const char *store_password_method(const char *hash)
{
	static const struct { const char *prefix; const char *name; } methods[] = {
		{ "$y$", "yescrypt" },
		{ "$gy$", "gost-yescrypt" },
		{ "$7$", "scrypt" },
		{ "$2b$", "bcrypt" },
		{ "$2a$", "bcrypt" },
		{ "$2y$", "bcrypt" },
		{ "$2x$", "bcrypt" },
		{ "$6$", "sha512-crypt" },
		{ "$5$", "sha256-crypt" },
		{ "$sha1$", "sha1-crypt" },
		{ "$md5", "sun-md5-crypt" },
		{ "$1$", "md5-crypt" },
		{ "_", "bsdicrypt" },
	};
	if (!hash || hash[0] == '\0')
		return "none";
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (strncmp(hash, methods[i].prefix, strlen(methods[i].prefix)) == 0)
			return methods[i].name;
	if (hash[0] == '$')
		return "unknown";
	return strlen(hash) == 13 ? "descrypt" : "unknown";
}

/* base64 - standard base64 (with padding) of DATA, malloc'd */
static char *base64(const unsigned char *data, size_t len)
{
	char *out = xmalloc(4 * ((len + 2) / 3) + 1);
	EVP_EncodeBlock((unsigned char *)out, data, (int)len);
	return out;
}

char *store_scram_credentials_salt(const char *password, const unsigned char *salt,
				   size_t salt_len, unsigned iterations)
{
	unsigned char salted[SHA256_DIGEST_LENGTH];
	unsigned char client_key[SHA256_DIGEST_LENGTH];
	unsigned char stored_key[SHA256_DIGEST_LENGTH];
	unsigned char server_key[SHA256_DIGEST_LENGTH];
	unsigned int len = 0;
	char *result = NULL;

	/* RFC 5802 3: SaltedPassword := Hi(Normalize(password), salt, i), Hi
	 * being PBKDF2 with HMAC; SASLprep is not applied (see docs/accounts.md) */
	if (iterations == 0 || salt_len == 0 ||
	    PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, (int)salt_len,
			      (int)iterations, EVP_sha256(), sizeof(salted), salted) != 1)
		goto out;
	if (!HMAC(EVP_sha256(), salted, sizeof(salted), (const unsigned char *)"Client Key",
		  10, client_key, &len) || len != sizeof(client_key))
		goto out;
	if (!SHA256(client_key, sizeof(client_key), stored_key))
		goto out;
	if (!HMAC(EVP_sha256(), salted, sizeof(salted), (const unsigned char *)"Server Key",
		  10, server_key, &len) || len != sizeof(server_key))
		goto out;

	char *salt_b64 = base64(salt, salt_len);
	char *stored_b64 = base64(stored_key, sizeof(stored_key));
	char *server_b64 = base64(server_key, sizeof(server_key));
	result = xasprintf("%u:%s:%s:%s", iterations, salt_b64, stored_b64, server_b64);
	free(salt_b64);
	free(stored_b64);
	free(server_b64);
out:
	OPENSSL_cleanse(salted, sizeof(salted));
	OPENSSL_cleanse(client_key, sizeof(client_key));
	OPENSSL_cleanse(server_key, sizeof(server_key));
	return result;
}

char *store_scram_credentials(const char *password, unsigned iterations)
{
	unsigned char salt[STORE_SCRAM_SALT_LEN];
	if (RAND_bytes(salt, sizeof(salt)) != 1)
		return NULL;
	return store_scram_credentials_salt(password, salt, sizeof(salt), iterations);
}

/* secret_derive - HMAC-SHA-256(SECRET, LABEL NUL lower-case USER) */
static void secret_derive(const unsigned char secret[STORE_AUTH_SECRET_LEN], const char *label,
			  const char *user, unsigned char out[SHA256_DIGEST_LENGTH])
{
	size_t llen = strlen(label), ulen = strlen(user);
	unsigned char *msg = xmalloc(llen + 1 + ulen);
	memcpy(msg, label, llen);
	msg[llen] = '\0';
	for (size_t i = 0; i < ulen; i++) {
		unsigned char c = (unsigned char)user[i];
		msg[llen + 1 + i] = c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
	}
	unsigned int len = 0;
	if (!HMAC(EVP_sha256(), secret, STORE_AUTH_SECRET_LEN, msg, llen + 1 + ulen, out, &len))
		abort(); /* HMAC-SHA-256 with a fixed key cannot fail but for lack of memory */
	free(msg);
}

char *store_scram_fake_credentials(const unsigned char secret[STORE_AUTH_SECRET_LEN],
				   const char *user, unsigned iterations)
{
	unsigned char salt[SHA256_DIGEST_LENGTH], stored[SHA256_DIGEST_LENGTH],
		server[SHA256_DIGEST_LENGTH];
	secret_derive(secret, "scram-salt", user, salt);
	secret_derive(secret, "scram-stored-key", user, stored);
	secret_derive(secret, "scram-server-key", user, server);
	char *salt_b64 = base64(salt, STORE_SCRAM_SALT_LEN);
	char *stored_b64 = base64(stored, sizeof(stored));
	char *server_b64 = base64(server, sizeof(server));
	char *result = xasprintf("%u:%s:%s:%s", iterations, salt_b64, stored_b64, server_b64);
	free(salt_b64);
	free(stored_b64);
	free(server_b64);
	OPENSSL_cleanse(stored, sizeof(stored));
	OPENSSL_cleanse(server, sizeof(server));
	return result;
}

/* secret_parse - 64 hex digits (and an optional newline) into SECRET */
static bool secret_parse(const char *text, size_t len, unsigned char secret[STORE_AUTH_SECRET_LEN])
{
	if (len == 2 * STORE_AUTH_SECRET_LEN + 1 && text[len - 1] == '\n')
		len--;
	if (len != 2 * STORE_AUTH_SECRET_LEN)
		return false;
	for (size_t i = 0; i < STORE_AUTH_SECRET_LEN; i++) {
		unsigned v = 0;
		for (size_t k = 0; k < 2; k++) {
			char c = text[2 * i + k];
			unsigned d = c >= '0' && c <= '9' ? (unsigned)(c - '0') :
				     c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10) :
				     c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10) : 16;
			if (d == 16)
				return false;
			v = v * 16 + d;
		}
		secret[i] = (unsigned char)v;
	}
	return true;
}

char *store_auth_dir(const char *data_dir, const char **error_r)
{
	char *dir = xasprintf("%s/auth", data_dir);
	struct stat st;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		*error_r = store_error("%s: %s", dir, strerror(errno));
	} else if (lstat(dir, &st) < 0) {
		*error_r = store_error("%s: %s", dir, strerror(errno));
	} else if (!S_ISDIR(st.st_mode)) {
		*error_r = store_error("%s: not a folder%s", dir,
				       S_ISLNK(st.st_mode) ? " (a symlink is refused)" : "");
	} else {
		return dir;
	}
	free(dir);
	return NULL;
}

/* secret_move_old - DATA_DIR/auth-secret (where versions before the auth
 * folder kept it) to PATH, unless PATH exists: RENAME_NOREPLACE never
 * replaces a secret already in place, so two racing starts cannot lose one */
static int secret_move_old(const char *data_dir, const char *path, const char **error_r)
{
	char *old = xasprintf("%s/auth-secret", data_dir);
	int rc = 0;
	if (renameat2(AT_FDCWD, old, AT_FDCWD, path, RENAME_NOREPLACE) != 0 &&
	    errno != ENOENT && errno != EEXIST) {
		*error_r = store_error("moving %s to %s: %s", old, path, strerror(errno));
		rc = -1;
	}
	free(old);
	return rc;
}

int store_auth_secret_load(const char *data_dir, unsigned char secret[STORE_AUTH_SECRET_LEN],
			   const char **error_r)
{
	char *dir = store_auth_dir(data_dir, error_r);
	if (!dir)
		return -1;
	char *path = xasprintf("%s/auth-secret", dir);
	free(dir);
	int rc = secret_move_old(data_dir, path, error_r);
	if (rc == 0)
		rc = store_secret_load(path, secret, error_r);
	free(path);
	return rc;
}

int store_secret_load(const char *path, unsigned char secret[STORE_AUTH_SECRET_LEN],
		      const char **error_r)
{
	char text[2 * STORE_AUTH_SECRET_LEN + 2];
	int rc = -1, fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT) {
		/* first start: make one; O_EXCL so two racing starts cannot mix */
		unsigned char fresh[STORE_AUTH_SECRET_LEN];
		if (getrandom(fresh, sizeof(fresh), 0) != (ssize_t)sizeof(fresh)) {
			*error_r = store_error("%s: no random bytes", path);
			goto out;
		}
		for (size_t i = 0; i < sizeof(fresh); i++)
			snprintf(text + 2 * i, 3, "%02x", fresh[i]);
		text[2 * STORE_AUTH_SECRET_LEN] = '\n';
		OPENSSL_cleanse(fresh, sizeof(fresh));
		int wfd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (wfd < 0 && errno != EEXIST) {
			*error_r = store_error("%s: %s", path, strerror(errno));
			goto out;
		}
		if (wfd >= 0) {
			int werr = fd_write_all(wfd, text, sizeof(text) - 1) != 0 || fsync(wfd) != 0
				   ? errno : 0;
			if (close(wfd) != 0 && werr == 0)
				werr = errno;
			if (werr != 0) {
				*error_r = store_error("%s: %s", path, strerror(werr));
				unlink(path);
				goto out;
			}
		}
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	}
	if (fd < 0) {
		*error_r = store_error("%s: %s", path, strerror(errno));
		goto out;
	}
	ssize_t n = read(fd, text, sizeof(text));
	int rerr = n < 0 ? errno : 0;
	if (close(fd) != 0 && rerr == 0)
		rerr = errno;
	if (rerr != 0)
		*error_r = store_error("%s: %s", path, strerror(rerr));
	else if (!secret_parse(text, (size_t)n, secret))
		*error_r = store_error("%s: expected 64 hex digits (32 random bytes); remove it "
				       "to have a new one made", path);
	else
		rc = 0;
out:
	OPENSSL_cleanse(text, sizeof(text));
	return rc;
}
