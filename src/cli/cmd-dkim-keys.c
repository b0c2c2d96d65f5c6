/* cli/cmd-dkim-keys - the DKIM signing keys of DATA_DIR/dkim/:
 *
 *   petrel dkim keygen DOMAIN [--selector S] [--algorithm rsa-2048|rsa-3072|
 *                      rsa-4096|ed25519] [-c FILE]
 *   petrel dkim list [-c FILE]
 *   petrel dkim remove DOMAIN [--selector S] [-c FILE]
 *
 * A key that signs DOMAIN's mail with selector S is the file
 * DATA_DIR/dkim/S._domainkey.DOMAIN.pem (keysd/signer.c), the rules of the
 * keys process (keysd.c): a PEM private key, mode 0600, one name, in the
 * folder owned by [server] keys_user; run as root, the file becomes that
 * user's too, as petrel serve would make it.  keygen writes the key under a
 * temporary name, syncs it, and links it to its name (an existing key is
 * never replaced), then prints the TXT record to publish, in strings of at
 * most 255 octets (RFC 1035 3.3.14).  keygen and remove then ask a running
 * server to start its keys process again (control socket: keys-reload), so
 * that it signs with the keys as they now are; without a server they are
 * read when it starts.  list reads the files (root, or keys_user, may).
 *
 * Default selectors: "petrel" for RSA, "petrel-ed25519" for Ed25519, so
 * that a domain can have one of each (RFC 8463 suggests signing with both
 * while verifiers learn Ed25519).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "cli/cli.h"
#include "config/config.h"
#include "keysd/keysd.h"
#include "mailauth/mailauth.h"
#include "queue/control.h"
#include "util/domain.h"
#include "util/xalloc.h"

#define KEYS_FILE_MAX (64 * 1024)

struct keys_args {
	const char *config_file;
	const char *domain;
	const char *selector;
	const char *algorithm;
};

static int keys_usage(void);
static int keys_parse(int argc, char **argv, bool with_domain, bool with_alg,
		      struct keys_args *args);
static char *keys_domain(const char *domain);
static int keys_dir_open(const struct config *config, bool create);
static int keys_keygen(const struct config *config, const struct keys_args *args);
static int keys_list(const struct config *config);
static int keys_remove(const struct config *config, const struct keys_args *args);
static int keys_write(int dfd, const char *name, const char *pem, size_t len,
		      const struct config *config, const char **error_r);
static int keys_describe(EVP_PKEY *pkey, struct keysd_public *pub);
static EVP_PKEY *keys_read(int dfd, const char *name);
static void keys_reload(const struct config *config);

static int keys_usage(void)
{
	fputs("usage: petrel dkim keygen DOMAIN [--selector S] [--algorithm rsa-2048|rsa-3072|"
	      "rsa-4096|ed25519] [-c FILE]\n"
	      "       petrel dkim list [-c FILE]\n"
	      "       petrel dkim remove DOMAIN [--selector S] [-c FILE]\n", stderr);
	return 2;
}

/* keys_parse - ARGV[1..] (ARGV[0] is the action) */
static int keys_parse(int argc, char **argv, bool with_domain, bool with_alg,
		      struct keys_args *args)
{
	memset(args, 0, sizeof(*args));
	args->config_file = CLI_DEFAULT_CONFIG;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			args->config_file = argv[++i];
		else if (with_domain && strcmp(argv[i], "--selector") == 0 && i + 1 < argc)
			args->selector = argv[++i];
		else if (with_alg && strcmp(argv[i], "--algorithm") == 0 && i + 1 < argc)
			args->algorithm = argv[++i];
		else if (with_domain && argv[i][0] != '-' && !args->domain)
			args->domain = argv[i];
		else
			return -1;
	}
	return with_domain && !args->domain ? -1 : 0;
}

/* keys_domain - DOMAIN in lower case without a trailing dot, or NULL if it
 * is no domain name (A-labels: DKIM's d= is ASCII, RFC 6376 3.5) */
static char *keys_domain(const char *domain)
{
	size_t len = strlen(domain);
	if (len > 1 && domain[len - 1] == '.')
		len--;
	if (!domain_name_is_valid(domain, len, 0))
		return NULL;
	char *d = xstrndup(domain, len);
	for (char *p = d; *p; p++)
		*p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
	return d;
}

/* keys_dir_open - DATA_DIR/dkim/, made (0700, keys_user's as root) when
 * CREATE and missing; -1 after printing why */
static int keys_dir_open(const struct config *config, bool create)
{
	char *dir = xasprintf("%s/dkim", config->data_dir);
	int fd = -1;
	if (create && mkdir(dir, 0700) == 0 && geteuid() == 0) {
		struct passwd *pw = config->keys_user[0] ? getpwnam(config->keys_user) : NULL;
		if (pw && chown(dir, pw->pw_uid, pw->pw_gid) != 0)
			fprintf(stderr, "petrel: cannot give %s to %s: %s\n", dir,
				config->keys_user, strerror(errno));
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		fprintf(stderr, "petrel: %s: %s\n", dir, strerror(errno));
	free(dir);
	return fd;
}

/* keys_describe - PKEY's public half as keysd_public_describe says it */
static int keys_describe(EVP_PKEY *pkey, struct keysd_public *pub)
{
	unsigned char *spki = NULL;
	const char *error = NULL;
	int len = i2d_PUBKEY(pkey, &spki);
	int ret = len > 0 ? keysd_public_describe(spki, (size_t)len, pub, &error) : -1;
	OPENSSL_free(spki);
	return ret;
}

/* keys_write - PEM[0..LEN) as DFD/NAME: a temporary file first (0600,
 * synced), then linked to NAME (EEXIST if there is one), the temporary
 * name removed and the folder synced */
static int keys_write(int dfd, const char *name, const char *pem, size_t len,
		      const struct config *config, const char **error_r)
{
	static char error[300];
	char tmp[64];
	int ret = -1;
	snprintf(tmp, sizeof(tmp), ".keygen-%ld.tmp", (long)getpid());
	int fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(error, sizeof(error), "cannot create %s: %s", tmp, strerror(errno));
		*error_r = error;
		return -1;
	}
	size_t done = 0;
	while (done < len) {
		ssize_t n = write(fd, pem + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(error, sizeof(error), "cannot write the key: %s", strerror(errno));
			goto out;
		}
		done += (size_t)n;
	}
	if (geteuid() == 0 && config->keys_user[0]) {
		struct passwd *pw = getpwnam(config->keys_user);
		if (pw && fchown(fd, pw->pw_uid, pw->pw_gid) != 0) {
			snprintf(error, sizeof(error), "cannot give the key to %s: %s",
				 config->keys_user, strerror(errno));
			goto out;
		}
	}
	if (fsync(fd) != 0) {
		snprintf(error, sizeof(error), "cannot sync the key: %s", strerror(errno));
		goto out;
	}
	if (linkat(dfd, tmp, dfd, name, 0) != 0) {
		snprintf(error, sizeof(error), errno == EEXIST ? "%s exists already (remove it "
			 "first, or choose another --selector)" : "cannot name it %s: %s", name,
			 strerror(errno));
		goto out;
	}
	ret = 0;
out:
	if (ret != 0)
		*error_r = error;
	if (close(fd) != 0 && ret == 0) {
		snprintf(error, sizeof(error), "cannot close the key: %s", strerror(errno));
		*error_r = error;
		ret = -1;
	}
	if (unlinkat(dfd, tmp, 0) != 0 && ret == 0) {
		snprintf(error, sizeof(error), "cannot remove %s: %s", tmp, strerror(errno));
		*error_r = error;
		ret = -1;
	}
	if (ret == 0 && fsync(dfd) != 0) {
		snprintf(error, sizeof(error), "cannot sync the folder: %s", strerror(errno));
		*error_r = error;
		ret = -1;
	}
	return ret;
}

/* keys_reload - a running server starts its keys process again */
static void keys_reload(const struct config *config)
{
	char *sock = xasprintf("%s/%s", config->data_dir, CONTROL_SOCKET_NAME);
	struct stat st;
	bool running = stat(sock, &st) == 0 && S_ISSOCK(st.st_mode);
	free(sock);
	if (!running || cli_control_request(config->data_dir, "keys-reload", NULL) != 0)
		printf("no running server was told: petrel serve reads the keys when it "
		       "starts\n");
}

static int keys_keygen(const struct config *config, const struct keys_args *args)
{
	const char *alg = args->algorithm ? args->algorithm : "rsa-2048";
	int bits = strcmp(alg, "rsa-2048") == 0 ? 2048 : strcmp(alg, "rsa-3072") == 0 ? 3072 :
		strcmp(alg, "rsa-4096") == 0 ? 4096 : strcmp(alg, "ed25519") == 0 ? 0 : -1;
	if (bits < 0) {
		fprintf(stderr, "petrel: unknown --algorithm %s (rsa-2048, rsa-3072, rsa-4096, "
			"ed25519)\n", alg);
		return 2;
	}
	const char *selector = args->selector ? args->selector :
		bits == 0 ? "petrel-ed25519" : "petrel";
	char *domain = keys_domain(args->domain);
	if (!domain) {
		fprintf(stderr, "petrel: %s is not a domain name (A-labels)\n", args->domain);
		return 2;
	}
	char *id = xasprintf("%s._domainkey.%s", selector, domain);
	char *name = xasprintf("%s.pem", id);
	int rc = 1, dfd = -1;
	EVP_PKEY *pkey = NULL;
	BIO *bio = NULL;
	struct keysd_public pub = { 0 };
	const char *sel_end = NULL;
	char sel_check[KEYSD_ID_MAX + 1];
	if (!keysd_id_is_valid(id, strlen(id)) ||
	    !keysd_id_dkim(id, sel_check, sizeof(sel_check), &sel_end) ||
	    strcmp(sel_check, selector) != 0) {
		fprintf(stderr, "petrel: bad selector '%s' (labels of letters, digits, '-' and '_' "
			"separated by dots; %s._domainkey.%s at most %d octets)\n", selector,
			selector, domain, KEYSD_ID_MAX);
		rc = 2;
		goto out;
	}
	pkey = bits == 0 ? EVP_PKEY_Q_keygen(NULL, NULL, "ED25519") :
		EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits);
	bio = BIO_new(BIO_s_mem());
	if (!pkey || !bio || PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL) != 1 ||
	    keys_describe(pkey, &pub) != 0) {
		fprintf(stderr, "petrel: cannot make the key\n");
		goto out;
	}
	dfd = keys_dir_open(config, true);
	if (dfd < 0)
		goto out;
	char *pem = NULL;
	long pem_len = BIO_get_mem_data(bio, &pem);
	const char *error = NULL;
	if (pem_len <= 0 || keys_write(dfd, name, pem, (size_t)pem_len, config, &error) != 0) {
		fprintf(stderr, "petrel: %s/dkim/%s: %s\n", config->data_dir, name,
			error ? error : "no key to write");
		goto out;
	}
	printf("wrote %s/dkim/%s (%s, %d bits); publish:\n", config->data_dir, name,
	       pub.algorithm, pub.bits);
	char *txt = domain_check_txt_record(id, pub.dns);  /* the id is the record's name */
	puts(txt);
	free(txt);
	keys_reload(config);
	rc = 0;
out:
	if (dfd >= 0 && close(dfd) != 0)
		fprintf(stderr, "petrel: close: %s\n", strerror(errno));
	keysd_public_free(&pub);
	BIO_free(bio);
	EVP_PKEY_free(pkey);
	free(name);
	free(id);
	free(domain);
	return rc;
}

/* keys_read - the private key in DFD/NAME (the CLI runs as root or the keys
 * user), or NULL */
static EVP_PKEY *keys_read(int dfd, const char *name)
{
	int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	EVP_PKEY *pkey = NULL;
	char *data = xmalloc(KEYS_FILE_MAX);
	size_t got = 0;
	ssize_t n;
	while (got < KEYS_FILE_MAX && (n = read(fd, data + got, KEYS_FILE_MAX - got)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			got = 0;
			break;
		}
		got += (size_t)n;
	}
	if (close(fd) != 0)
		got = 0;
	BIO *bio = got > 0 && got < KEYS_FILE_MAX ? BIO_new_mem_buf(data, (int)got) : NULL;
	if (bio)
		pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, (void *)"");
	BIO_free(bio);
	OPENSSL_cleanse(data, KEYS_FILE_MAX);
	free(data);
	return pkey;
}

/* keys_list - DOMAIN SELECTOR ALGORITHM BITS RECORD, one signing key a line */
static int keys_list(const struct config *config)
{
	int dfd = keys_dir_open(config, false);
	if (dfd < 0)
		return errno == ENOENT ? 0 : 1;
	DIR *d = fdopendir(dfd);
	if (!d) {
		fprintf(stderr, "petrel: %s/dkim: %s\n", config->data_dir, strerror(errno));
		if (close(dfd) != 0)
			fprintf(stderr, "petrel: close: %s\n", strerror(errno));
		return 1;
	}
	int rc = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		size_t n = strlen(de->d_name);
		if (de->d_name[0] == '.' || n <= 4 || strcmp(de->d_name + n - 4, ".pem") != 0)
			continue;
		char id[KEYSD_ID_MAX + 1], selector[KEYSD_ID_MAX + 1];
		const char *domain = NULL;
		if (n - 4 > KEYSD_ID_MAX)
			continue;
		memcpy(id, de->d_name, n - 4);
		id[n - 4] = '\0';
		if (!keysd_id_is_valid(id, n - 4) ||
		    !keysd_id_dkim(id, selector, sizeof(selector), &domain))
			continue;  /* not a signing key: `petrel keys list` shows it */
		EVP_PKEY *pkey = keys_read(dirfd(d), de->d_name);
		struct keysd_public pub = { 0 };
		if (!pkey || keys_describe(pkey, &pub) != 0) {
			fprintf(stderr, "petrel: %s/dkim/%s: not a key the keys process uses\n",
				config->data_dir, de->d_name);
			rc = 1;
		} else {
			printf("%s %s %s %d %s\n", domain, selector, pub.algorithm, pub.bits,
			       pub.dns);
		}
		keysd_public_free(&pub);
		EVP_PKEY_free(pkey);
	}
	if (closedir(d) != 0)
		fprintf(stderr, "petrel: closedir: %s\n", strerror(errno));
	return rc;
}

/* keys_remove - the domain's key with that selector, or all its keys */
static int keys_remove(const struct config *config, const struct keys_args *args)
{
	char *domain = keys_domain(args->domain);
	if (!domain) {
		fprintf(stderr, "petrel: %s is not a domain name (A-labels)\n", args->domain);
		return 2;
	}
	int dfd = keys_dir_open(config, false);
	if (dfd < 0) {
		free(domain);
		return 1;
	}
	DIR *d = fdopendir(dfd);
	if (!d) {
		fprintf(stderr, "petrel: %s/dkim: %s\n", config->data_dir, strerror(errno));
		if (close(dfd) != 0)
			fprintf(stderr, "petrel: close: %s\n", strerror(errno));
		free(domain);
		return 1;
	}
	int rc = 0;
	size_t removed = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		size_t n = strlen(de->d_name);
		char id[KEYSD_ID_MAX + 1], selector[KEYSD_ID_MAX + 1];
		const char *key_domain = NULL;
		if (de->d_name[0] == '.' || n <= 4 || n - 4 > KEYSD_ID_MAX ||
		    strcmp(de->d_name + n - 4, ".pem") != 0)
			continue;
		memcpy(id, de->d_name, n - 4);
		id[n - 4] = '\0';
		if (!keysd_id_dkim(id, selector, sizeof(selector), &key_domain) ||
		    strcasecmp(key_domain, domain) != 0 ||
		    (args->selector && strcmp(selector, args->selector) != 0))
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) != 0) {
			fprintf(stderr, "petrel: cannot remove %s/dkim/%s: %s\n", config->data_dir,
				de->d_name, strerror(errno));
			rc = 1;
			continue;
		}
		printf("removed %s/dkim/%s (its TXT record %s._domainkey.%s may go once mail "
		       "signed with it is delivered)\n", config->data_dir, de->d_name, selector,
		       domain);
		removed++;
	}
	if (removed > 0 && fsync(dirfd(d)) != 0) {
		fprintf(stderr, "petrel: cannot sync %s/dkim: %s\n", config->data_dir,
			strerror(errno));
		rc = 1;
	}
	if (closedir(d) != 0)
		fprintf(stderr, "petrel: closedir: %s\n", strerror(errno));
	if (removed == 0 && rc == 0) {
		fprintf(stderr, "petrel: no key of %s%s%s\n", domain,
			args->selector ? " with selector " : "", args->selector ? args->selector : "");
		rc = 1;
	}
	if (removed > 0)
		keys_reload(config);
	free(domain);
	return rc;
}

int cmd_dkim_keys(int argc, char **argv)
{
	const char *action = argv[0];
	bool keygen = strcmp(action, "keygen") == 0, list = strcmp(action, "list") == 0;
	struct keys_args args;
	if (keys_parse(argc, argv, !list, keygen, &args) != 0)
		return keys_usage();
	const char *error = NULL;
	struct config *config = config_load(args.config_file, &error);
	if (!config) {
		fprintf(stderr, "petrel: %s\n", error);
		return 2;
	}
	int rc = keygen ? keys_keygen(config, &args) : list ? keys_list(config) :
		keys_remove(config, &args);
	config_free(&config);
	return rc;
}
