/* keysd - the keys process (privilege separation, issue 13): the only
 * process that holds DKIM private keys.
 *
 * As root it loads every DATA_DIR/dkim/ID.pem (PEM private key: RSA of at
 * least KEYSD_RSA_BITS_MIN bits or Ed25519; ID a key name as keysd_id_is_valid
 * says; the file a regular file that neither group nor others may access).
 * Anything else is logged as key-skipped with the reason and left alone.
 * The folder must be keys_user's (privsep_dir_check: the network process's
 * user owns DATA_DIR and could put a folder of its own there); the files
 * are opened relative to it as checked.
 * Then it drops to [server] keys_user (privsep_drop), starts the log thread,
 * loads its seccomp filter (privsep_sandbox: from then on no file can be
 * opened and no socket made) and answers the network process on FD, one
 * request at a time, on a single-threaded libevent loop:
 *
 *   IPC_KEYS_LIST [index u32]   -> R_OK(id, algorithm, SubjectPublicKeyInfo
 *                                  DER) x at most KEYSD_LIST_PAGE keys
 *   IPC_KEYS_SIGN id, algorithm, SHA-256 digest (32 bytes)
 *                               -> R_OK(signature) | R_FAIL(reason)
 *   IPC_KEYS_WEBHOOK_KEY, IPC_KEYS_WEBHOOK_SIGN: the event webhook's
 *                                  per-account keys (webhook.c)
 *
 * Signatures (what DKIM needs, RFC 6376 3.3 and RFC 8463 3): rsa-sha256 is
 * RSASSA-PKCS1-v1_5 over the DER DigestInfo of SHA-256 with the given
 * digest (RFC 8017 8.2, 9.2); ed25519-sha256 is the PureEdDSA signature of
 * the 32 digest bytes themselves (RFC 8032 5.1.6).  Signing takes at most a
 * few milliseconds (RSA 4096) and this loop serves only that: it may run on
 * the loop.
 *
 * Every field of a request is checked; a request that does not fit its type
 * gets IPC_R_BAD and a keys-bad-request log line, never a signature.  A
 * malformed frame closes the channel (ipc_server logs it), which ends the
 * process like EOF does: exit 0, and the supervisor starts a fresh one.
 * SIGTERM: exit 0.  SIGINT is ignored (the supervisor decides).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "config/config.h"
#include "ipc/ipc.h"
#include "keysd/keysd.h"
#include "privsep/privsep.h"
#include "util/log.h"
#include "util/xalloc.h"

#define KEYSD_FILE_MAX (64 * 1024)   /* a PEM key file; RSA 16384 is ~12 KB */
#define KEYSD_SUFFIX ".pem"

struct keysd_key {
	char *id;
	EVP_PKEY *pkey;
	const char *algorithm;       /* KEYSD_ALG_RSA or KEYSD_ALG_ED25519 */
	unsigned char *spki;         /* public half, SubjectPublicKeyInfo DER */
	size_t spki_len;
};

struct keysd {
	struct event_base *base;
	struct ipc_server *server;
	struct keysd_key *keys;      /* sorted by id */
	size_t count;
	unsigned char webhook_secret[KEYSD_WEBHOOK_SECRET_LEN];
	bool has_webhook_secret;
};

static int keysd_keys_load(struct keysd *kd, const struct config *config,
			   const char **error_r);
static int keysd_key_load(int dfd, const char *name, struct keysd_key *key,
			  const char **reason_r);
static int keysd_key_cmp(const void *a, const void *b);
static int keysd_pem_no_password(char *buf, int size, int rwflag, void *u);
static void keysd_request_cb(void *ctx, struct ipc_server *server, const struct ipc_msg *req);
static void keysd_list(struct keysd *kd, const struct ipc_msg *req);
static void keysd_sign(struct keysd *kd, const struct ipc_msg *req);
static int keysd_sign_digest(const struct keysd_key *key, const unsigned char *digest,
			     unsigned char *sig, size_t *sig_len);
static void keysd_reply_text(struct keysd *kd, uint32_t id, uint8_t type, const char *text);
static void keysd_bad(struct keysd *kd, const struct ipc_msg *req, const char *reason);
static void keysd_closed_cb(void *ctx);
static void keysd_signal_cb(evutil_socket_t sig, short what, void *arg);
static void keysd_free_keys(struct keysd *kd);

/* keysd_pem_no_password - an encrypted key is refused, never prompted for */
static int keysd_pem_no_password(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

static int keysd_key_cmp(const void *a, const void *b)
{
	const struct keysd_key *ka = a, *kb = b;
	return strcmp(ka->id, kb->id);
}

/* keysd_key_load - NAME (ID.pem) in the folder open as DFD into KEY; -1
 * and a static *reason_r if it is not a key this process serves */
static int keysd_key_load(int dfd, const char *name, struct keysd_key *key,
			  const char **reason_r)
{
	static char reason[160];
	size_t len = strlen(name) - strlen(KEYSD_SUFFIX);
	int ret = -1;
	char *pem = NULL;
	BIO *bio = NULL;
	EVP_PKEY *pkey = NULL;
	struct stat st;

	memset(key, 0, sizeof(*key));
	if (!keysd_id_is_valid(name, len)) {
		*reason_r = "bad key id (1 to 240 letters, digits, '-', '_' in labels "
			    "separated by single dots)";
		return -1;
	}
	/* O_NOFOLLOW and a regular file: a link could point at any file root reads */
	int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		snprintf(reason, sizeof(reason), "cannot open: %s", strerror(errno));
		*reason_r = reason;
		return -1;
	}
	if (fstat(fd, &st) != 0) {
		snprintf(reason, sizeof(reason), "cannot stat: %s", strerror(errno));
		*reason_r = reason;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		*reason_r = "not a regular file";
		goto out;
	}
	/* A hard link to a file elsewhere (which the keys user can make where
	 * fs.protected_hardlinks is off) would have root read, and this
	 * process sign with, a private key that is not for DKIM at all. */
	if (st.st_nlink != 1) {
		snprintf(reason, sizeof(reason), "%lu links: a file with another name elsewhere "
			 "may be someone else's", (unsigned long)st.st_nlink);
		*reason_r = reason;
		goto out;
	}
	/* As OpenSSH does with private keys: a key others may read (or replace)
	 * is no longer private; say so rather than use it. */
	if ((st.st_mode & 077) != 0) {
		snprintf(reason, sizeof(reason), "group or others have access (mode %04o): "
			 "chmod 600 it", (unsigned)(st.st_mode & 07777));
		*reason_r = reason;
		goto out;
	}
	if (st.st_size <= 0 || st.st_size > KEYSD_FILE_MAX) {
		snprintf(reason, sizeof(reason), "size %lld is not 1..%d bytes",
			 (long long)st.st_size, KEYSD_FILE_MAX);
		*reason_r = reason;
		goto out;
	}
	size_t size = (size_t)st.st_size, got = 0;
	pem = xmalloc(size);
	while (got < size) {
		ssize_t n = read(fd, pem + got, size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(reason, sizeof(reason), "cannot read: %s",
				 n == 0 ? "file shrank" : strerror(errno));
			*reason_r = reason;
			goto out;
		}
		got += (size_t)n;
	}
	bio = BIO_new_mem_buf(pem, (int)size);
	if (!bio)
		abort();
	pkey = PEM_read_bio_PrivateKey(bio, NULL, keysd_pem_no_password, NULL);
	if (!pkey) {
		*reason_r = "not an unencrypted PEM private key";
		goto out;
	}
	switch (EVP_PKEY_get_base_id(pkey)) {
	case EVP_PKEY_RSA:
		if (EVP_PKEY_get_bits(pkey) < KEYSD_RSA_BITS_MIN ||
		    EVP_PKEY_get_bits(pkey) > KEYSD_RSA_BITS_MAX) {
			/* RFC 8301 3.2: signers MUST use at least 1024 bits; the
			 * upper bound keeps a signature within KEYSD_SIG_MAX */
			snprintf(reason, sizeof(reason), "RSA key of %d bits (%d to %d)",
				 EVP_PKEY_get_bits(pkey), KEYSD_RSA_BITS_MIN, KEYSD_RSA_BITS_MAX);
			*reason_r = reason;
			goto out;
		}
		key->algorithm = KEYSD_ALG_RSA;
		break;
	case EVP_PKEY_ED25519:
		key->algorithm = KEYSD_ALG_ED25519;
		break;
	default:
		snprintf(reason, sizeof(reason), "key type %s (only RSA and Ed25519)",
			 OBJ_nid2sn(EVP_PKEY_get_base_id(pkey)));
		*reason_r = reason;
		goto out;
	}
	int der_len = i2d_PUBKEY(pkey, &key->spki);
	if (der_len <= 0) {
		*reason_r = "cannot encode the public key";
		goto out;
	}
	key->spki_len = (size_t)der_len;
	key->id = xstrndup(name, len);
	key->pkey = pkey;
	pkey = NULL;
	ret = 0;
out:
	EVP_PKEY_free(pkey);
	BIO_free(bio);
	if (pem) {
		OPENSSL_cleanse(pem, size);
		free(pem);
	}
	if (close(fd) != 0 && ret == 0)
		log_warn("close-failed", "what=dkim-key error=\"%s\"", strerror(errno));
	return ret;
}

/* keysd_keys_load - every DATA_DIR/dkim/ *.pem that is a usable key; the
 * others are logged and skipped.  A missing folder means no keys (the
 * supervisor creates it); one that cannot be read is an error. */
static int keysd_keys_load(struct keysd *kd, const struct config *config,
			   const char **error_r)
{
	static char error[300];
	char *dir = xasprintf("%s/dkim", config->data_dir);
	int ret = -1;
	size_t cap = 0;
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d = NULL;
	if (dfd < 0 && errno == ENOENT) {
		log_warn("keys-none", "dir=%s reason=\"no such folder\"", dir);
		ret = 0;
		goto out;
	}
	if (dfd < 0 || !(d = fdopendir(dfd))) {
		snprintf(error, sizeof(error), "cannot open %s: %s", dir, strerror(errno));
		*error_r = error;
		if (dfd >= 0 && close(dfd) != 0)
			log_warn("close-failed", "path=%s error=\"%s\"", dir, strerror(errno));
		goto out;
	}
	/* the folder itself, as opened: the files are opened relative to it */
	if (privsep_dir_check(config, PRIVSEP_KEYS, dfd, dir) != 0) {
		snprintf(error, sizeof(error), "%s is not the keys user's own", dir);
		*error_r = error;
		goto out;
	}
	for (;;) {
		errno = 0;
		struct dirent *de = readdir(d);
		if (!de) {
			if (errno != 0) {
				snprintf(error, sizeof(error), "cannot read %s: %s", dir,
					 strerror(errno));
				*error_r = error;
				goto out;
			}
			break;
		}
		size_t n = strlen(de->d_name);
		if (de->d_name[0] == '.')
			continue;
		char *path = xasprintf("%s/%s", dir, de->d_name);
		char esc[300];
		log_escape(esc, sizeof(esc), path, strlen(path));
		free(path);
		if (n <= strlen(KEYSD_SUFFIX) ||
		    strcmp(de->d_name + n - strlen(KEYSD_SUFFIX), KEYSD_SUFFIX) != 0) {
			log_warn("key-skipped", "file=%s reason=\"not named ID.pem\"", esc);
			continue;
		}
		if (kd->count == cap) {
			cap = cap ? cap * 2 : 8;
			kd->keys = xrealloc(kd->keys, cap * sizeof(*kd->keys));
		}
		const char *reason = NULL;
		if (keysd_key_load(dirfd(d), de->d_name, &kd->keys[kd->count], &reason) != 0) {
			log_warn("key-skipped", "file=%s reason=\"%s\"", esc, reason);
			continue;
		}
		struct keysd_key *k = &kd->keys[kd->count++];
		log_info("key-loaded", "id=%s algorithm=%s bits=%d", k->id, k->algorithm,
			 EVP_PKEY_get_bits(k->pkey));
	}
	if (kd->count > 1)
		qsort(kd->keys, kd->count, sizeof(*kd->keys), keysd_key_cmp);
	ret = 0;
out:
	if (d && closedir(d) != 0)
		log_warn("close-failed", "path=%s error=\"%s\"", dir, strerror(errno));
	free(dir);
	return ret;
}

static void keysd_free_keys(struct keysd *kd)
{
	for (size_t i = 0; i < kd->count; i++) {
		free(kd->keys[i].id);
		EVP_PKEY_free(kd->keys[i].pkey);
		OPENSSL_free(kd->keys[i].spki);
	}
	free(kd->keys);
	kd->keys = NULL;
	kd->count = 0;
}

/* keysd_reply_text - a reply with one text field */
static void keysd_reply_text(struct keysd *kd, uint32_t id, uint8_t type, const char *text)
{
	struct ipc_field f = ipc_text(text);
	ipc_server_reply(kd->server, id, type, 1, &f);
}

/* keysd_bad - log a request that does not fit its type and answer R_BAD */
static void keysd_bad(struct keysd *kd, const struct ipc_msg *req, const char *reason)
{
	log_warn("keys-bad-request", "type=%u id=%u fields=%u reason=\"%s\"",
		 (unsigned)req->type, (unsigned)req->id, req->count, reason);
	keysd_reply_text(kd, req->id, IPC_R_BAD, reason);
}

/* keysd_request_cb - one well-formed frame from the network process */
static void keysd_request_cb(void *ctx, struct ipc_server *server, const struct ipc_msg *req)
{
	struct keysd *kd = ctx;
	(void)server;
	switch (req->type) {
	case IPC_KEYS_LIST:
		keysd_list(kd, req);
		break;
	case IPC_KEYS_SIGN:
		keysd_sign(kd, req);
		break;
	case IPC_KEYS_WEBHOOK_KEY:
	case IPC_KEYS_WEBHOOK_SIGN:
		keysd_webhook_request(kd->server, kd->has_webhook_secret ? kd->webhook_secret :
				      NULL, req);
		break;
	default:
		keysd_bad(kd, req, "not a request the keys process serves");
		break;
	}
}

/* keysd_list - IPC_KEYS_LIST [index]: a page of keys from INDEX on; fewer
 * than KEYSD_LIST_PAGE (none at or past the end) means the last page */
static void keysd_list(struct keysd *kd, const struct ipc_msg *req)
{
	uint32_t index = 0;
	if (req->count > 1 || (req->count == 1 && !ipc_field_u32(req, 0, &index))) {
		keysd_bad(kd, req, "list takes at most one field, a u32 index");
		return;
	}
	struct ipc_field f[IPC_FIELDS_MAX];
	unsigned n = 0;
	for (size_t i = index; i < kd->count && n + 3 <= KEYSD_LIST_PAGE * 3; i++) {
		f[n++] = ipc_text(kd->keys[i].id);
		f[n++] = ipc_text(kd->keys[i].algorithm);
		f[n++] = (struct ipc_field){ kd->keys[i].spki, kd->keys[i].spki_len };
	}
	ipc_server_reply(kd->server, req->id, IPC_R_OK, n, f);
}

/* keysd_sign - IPC_KEYS_SIGN id, algorithm, digest */
static void keysd_sign(struct keysd *kd, const struct ipc_msg *req)
{
	char *id = NULL, *alg = NULL;
	const void *digest = NULL;
	unsigned char sig[KEYSD_SIG_MAX];
	size_t sig_len = sizeof(sig);
	if (req->count != 3 || !ipc_field_text(req, 0, KEYSD_ID_MAX, &id) ||
	    !keysd_id_is_valid(id, strlen(id)) || !ipc_field_text(req, 1, 32, &alg) ||
	    (strcmp(alg, KEYSD_ALG_RSA) != 0 && strcmp(alg, KEYSD_ALG_ED25519) != 0) ||
	    !ipc_field_bytes(req, 2, KEYSD_DIGEST_LEN, &digest)) {
		keysd_bad(kd, req, "sign takes a key id, rsa-sha256 or ed25519-sha256, and a "
			  "32-byte SHA-256 digest");
		goto out;
	}
	struct keysd_key probe = { .id = id };
	const struct keysd_key *key = kd->count == 0 ? NULL :
		bsearch(&probe, kd->keys, kd->count, sizeof(*kd->keys), keysd_key_cmp);
	if (!key) {
		log_warn("keys-sign-refused", "key=%s reason=\"no such key\"", id);
		keysd_reply_text(kd, req->id, IPC_R_FAIL, "no such key");
		goto out;
	}
	if (strcmp(alg, key->algorithm) != 0) {
		log_warn("keys-sign-refused", "key=%s algorithm=%s reason=\"the key is %s\"", id,
			 alg, key->algorithm);
		keysd_reply_text(kd, req->id, IPC_R_FAIL, "the key does not use that algorithm");
		goto out;
	}
	if (keysd_sign_digest(key, digest, sig, &sig_len) != 0) {
		log_error("keys-sign-failed", "key=%s algorithm=%s", id, alg);
		keysd_reply_text(kd, req->id, IPC_R_FAIL, "signing failed");
		goto out;
	}
	log_debug("keys-signed", "key=%s algorithm=%s", id, alg);
	struct ipc_field f = { sig, sig_len };
	ipc_server_reply(kd->server, req->id, IPC_R_OK, 1, &f);
out:
	free(id);
	free(alg);
}

/* keysd_sign_digest - KEY's signature of the SHA-256 DIGEST into SIG
 * (*sig_len: its size in, the signature's length out) */
static int keysd_sign_digest(const struct keysd_key *key, const unsigned char *digest,
			     unsigned char *sig, size_t *sig_len)
{
	int ret = -1;
	size_t need = 0;
	if (strcmp(key->algorithm, KEYSD_ALG_ED25519) == 0) {
		/* RFC 8463 3: Ed25519 (pure) over the SHA-256 hash itself */
		EVP_MD_CTX *md = EVP_MD_CTX_new();
		if (!md)
			abort();
		if (EVP_DigestSignInit(md, NULL, NULL, NULL, key->pkey) == 1 &&
		    EVP_DigestSign(md, NULL, &need, digest, KEYSD_DIGEST_LEN) == 1 &&
		    need <= *sig_len &&
		    EVP_DigestSign(md, sig, sig_len, digest, KEYSD_DIGEST_LEN) == 1)
			ret = 0;
		EVP_MD_CTX_free(md);
		return ret;
	}
	/* RFC 6376 3.3.1: RSASSA-PKCS1-v1_5 with SHA-256; OpenSSL wraps the
	 * digest in its DigestInfo because the signature md is set */
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(key->pkey, NULL);
	if (!ctx)
		abort();
	if (EVP_PKEY_sign_init(ctx) == 1 &&
	    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) > 0 &&
	    EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) > 0 &&
	    EVP_PKEY_sign(ctx, NULL, &need, digest, KEYSD_DIGEST_LEN) == 1 &&
	    need <= *sig_len && EVP_PKEY_sign(ctx, sig, sig_len, digest, KEYSD_DIGEST_LEN) == 1)
		ret = 0;
	EVP_PKEY_CTX_free(ctx);
	return ret;
}

/* keysd_closed_cb - EOF or a malformed frame from the network process */
static void keysd_closed_cb(void *ctx)
{
	struct keysd *kd = ctx;
	log_info("keys-channel-closed", "keys=%zu", kd->count);
	event_base_loopexit(kd->base, NULL);
}

static void keysd_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct keysd *kd = arg;
	(void)what;
	log_info("keys-stopping", "signal=%d", (int)sig);
	event_base_loopexit(kd->base, NULL);
}

int keysd_main(const struct config *config, int fd)
{
	struct keysd kd = { 0 };
	struct event *sigterm = NULL;
	const char *error = NULL;
	int rc = 1;

	signal(SIGINT, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	if (keysd_keys_load(&kd, config, &error) != 0) {
		fprintf(stderr, "petrel: keys: %s\n", error);
		goto out;
	}
	/* without it only the webhook's signatures fail (logged at each) */
	if (keysd_webhook_secret_load(config, kd.webhook_secret, &error) == 0)
		kd.has_webhook_secret = true;
	else
		log_error("keys-webhook-secret", "error=\"%s\"", error);
	if (privsep_drop(config, PRIVSEP_KEYS) != 0)
		goto out;
	/* the log thread is made before the filter: it then allows no clone */
	if (log_async_start(config->log_buffer) != 0)
		fputs("petrel: keys: cannot start the log thread; logging directly\n", stderr);
	kd.base = event_base_new();
	if (!kd.base) {
		fputs("petrel: keys: cannot create the event loop\n", stderr);
		goto out;
	}
	sigterm = evsignal_new(kd.base, SIGTERM, keysd_signal_cb, &kd);
	if (!sigterm || event_add(sigterm, NULL) != 0) {
		fputs("petrel: keys: cannot watch SIGTERM\n", stderr);
		goto out;
	}
	kd.server = ipc_server_create(kd.base, "keys", fd, keysd_request_cb, keysd_closed_cb, &kd);
	fd = -1;
	if (privsep_sandbox(PRIVSEP_KEYS, 0) != 0)
		goto out;
	log_info("keys-ready", "keys=%zu", kd.count);
	if (event_base_dispatch(kd.base) != 0) {
		fputs("petrel: keys: event loop failed\n", stderr);
		goto out;
	}
	rc = 0;
out:
	ipc_server_free(&kd.server);
	if (fd >= 0 && close(fd) != 0)
		log_warn("close-failed", "what=keys-channel error=\"%s\"", strerror(errno));
	if (sigterm)
		event_free(sigterm);
	/* finishing: the supervisor's SIGTERM must not turn the exit into a
	 * signal death now that the event gave SIGTERM its default back */
	signal(SIGTERM, SIG_IGN);
	if (kd.base)
		event_base_free(kd.base);
	keysd_free_keys(&kd);
	OPENSSL_cleanse(kd.webhook_secret, sizeof(kd.webhook_secret));
	(void)log_async_stop(2000);
	return rc;
}
