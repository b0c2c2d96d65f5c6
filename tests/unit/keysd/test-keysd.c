/* tests/unit/keysd/test-keysd - the keys process for real, in-process: a
 * forked child runs keysd_main on one end of a socket pair (its own data
 * folder of generated keys, the real privilege drop and seccomp filter),
 * the test speaks ipc.h's frames on the other end.  Covers loading (the
 * keys it must skip, with their log lines), IPC_KEYS_LIST, IPC_KEYS_SIGN
 * checked with the generated keys themselves, every misfitting request
 * (IPC_R_BAD or R_FAIL and a log line, never a signature), and a malformed
 * frame (refused, logged, the channel closed, exit 0): the issue's
 * "malformed message on the helper socket is refused and logged".  The
 * event webhook's keys: IPC_KEYS_WEBHOOK_KEY and _SIGN (one P-256 key per
 * account, checked with OpenSSL), their misfits, and the derivation itself
 * (the same secret and account, the same key). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "config/config.h"
#include "ipc/ipc.h"
#include "keysd/keysd.h"
#include "privsep/privsep.h"
#include "util/buf.h"

struct fixture {
	char dir[64];
	char log[96];
	EVP_PKEY *rsa, *ed;
	pid_t pid;
	int fd;                  /* our end of the channel */
	uint32_t next_id;
};

static void write_key(const char *dir, const char *name, EVP_PKEY *pkey, mode_t mode)
{
	char path[160];
	snprintf(path, sizeof(path), "%s/dkim/%s", dir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL), 1);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, mode), 0);
}

static void write_file(const char *dir, const char *name, const char *text, mode_t mode)
{
	char path[160];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, mode), 0);
}

/* fixture_start - keys in DIR/dkim/, then keysd_main in a child */
static int fixture_start(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	assert_non_null(fx);
	strcpy(fx->dir, "/tmp/petrel-keysd-XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	snprintf(fx->log, sizeof(fx->log), "%s/log", fx->dir);
	char path[160];
	snprintf(path, sizeof(path), "%s/dkim", fx->dir);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/webhook", fx->dir);
	assert_int_equal(mkdir(path, 0700), 0);
	fx->rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	fx->ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	EVP_PKEY *weak = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)512);
	EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	assert_non_null(fx->rsa);
	assert_non_null(fx->ed);
	assert_non_null(weak);
	assert_non_null(ec);
	write_key(fx->dir, "sel-rsa.pem", fx->rsa, 0600);
	write_key(fx->dir, "2026.ed.pem", fx->ed, 0400);
	write_key(fx->dir, "weak.pem", weak, 0600);
	write_key(fx->dir, "ec.pem", ec, 0600);
	write_key(fx->dir, "open.pem", fx->ed, 0640);
	write_key(fx->dir, "bad..id.pem", fx->ed, 0600);
	/* a key with another name outside the folder: a hard link to a file
	 * that may not be the keys user's own */
	write_key(fx->dir, "linked.pem", fx->ed, 0600);
	snprintf(path, sizeof(path), "%s/dkim/linked.pem", fx->dir);
	char outside[160];
	snprintf(outside, sizeof(outside), "%s/outside.pem", fx->dir);
	assert_int_equal(link(path, outside), 0);
	write_file(fx->dir, "dkim/notes.txt", "not a key\n", 0600);
	write_file(fx->dir, "dkim/garbage.pem", "-----BEGIN PRIVATE KEY-----\nxx\n", 0600);
	EVP_PKEY_free(weak);
	EVP_PKEY_free(ec);
	snprintf(path, sizeof(path), "%s/petrel.conf", fx->dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	/* the test's own user for every process: the drop keeps it, the filter
	 * and no_new_privs are the real ones */
	fprintf(f, "[server]\nhostname = keysd.test\ndata_dir = %s\nuser = %s\n", fx->dir,
		geteuid() == 0 ? "root" : "");
	assert_int_equal(fclose(f), 0);
	const char *error = NULL;
	struct config *config = config_load(path, &error);
	if (!config)
		fail_msg("config: %s", error);

	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	fflush(NULL);
	fx->pid = fork();
	assert_true(fx->pid >= 0);
	if (fx->pid == 0) {
		/* privsep_drop checks that its parent is the supervisor: here, the test */
		char ppid[24];
		snprintf(ppid, sizeof(ppid), "%ld", (long)getppid());
		if (setenv(PRIVSEP_SUPERVISOR_ENV, ppid, 1) != 0)
			_exit(91);
		int log = open(fx->log, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
		if (log < 0 || dup2(log, 2) < 0 || close(sv[0]) != 0)
			_exit(90);
		exit(keysd_main(config, sv[1]));
	}
	config_free(&config);
	assert_int_equal(close(sv[1]), 0);
	fx->fd = sv[0];
	fx->next_id = 1;
	*state = fx;
	return 0;
}

/* fixture_stop - EOF on the channel: keysd exits 0 */
static int fixture_stop(void **state)
{
	struct fixture *fx = *state;
	int status = 0;
	if (fx->fd >= 0)
		close(fx->fd);
	assert_int_equal(waitpid(fx->pid, &status, 0), fx->pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		char cmd[200];
		snprintf(cmd, sizeof(cmd), "cat %s >&2", fx->log);
		if (system(cmd) != 0)
			fputs("(no log)\n", stderr);
		fail_msg("keysd ended with status 0x%x", status);
	}
	char cmd[120];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", fx->dir);
	assert_int_equal(system(cmd), 0);
	EVP_PKEY_free(fx->rsa);
	EVP_PKEY_free(fx->ed);
	free(fx);
	return 0;
}

static void send_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		assert_true(n > 0);
		p += n;
		len -= (size_t)n;
	}
}

/* request - send one frame, wait for its reply into BUF/MSG */
static void request(struct fixture *fx, uint8_t type, unsigned count,
		    const struct ipc_field *fields, struct buf *buf, struct ipc_msg *msg)
{
	struct buf out;
	buf_init(&out);
	uint32_t id = fx->next_id++;
	assert_int_equal(ipc_encode(&out, type, id, count, fields), 0);
	send_all(fx->fd, out.data, out.len);
	buf_free(&out);
	buf_reset(buf);
	size_t frame_len = 0;
	for (;;) {
		enum ipc_frame_status st = ipc_frame_find((unsigned char *)buf->data, buf->len,
							  &frame_len);
		assert_int_not_equal(st, IPC_FRAME_MALFORMED);
		if (st == IPC_FRAME_OK)
			break;
		char chunk[4096];
		ssize_t n = recv(fx->fd, chunk, sizeof(chunk), 0);
		if (n <= 0)
			fail_msg("the keys process closed the channel (%zd)", n);
		buf_append(buf, chunk, (size_t)n);
	}
	assert_int_equal(frame_len, buf->len);  /* one reply per request */
	assert_int_equal(ipc_decode((unsigned char *)buf->data, buf->len, msg), 0);
	assert_int_equal(msg->id, id);
}

/* log_has - the keys process's log has a line with TEXT; the log is written
 * by its own thread: wait for it (bounded) */
static bool log_has(struct fixture *fx, const char *text)
{
	for (int i = 0; i < 500; i++) {
		FILE *f = fopen(fx->log, "r");
		char line[1024];
		bool found = false;
		while (f && !found && fgets(line, sizeof(line), f))
			found = strstr(line, text) != NULL;
		if (f)
			fclose(f);
		if (found)
			return true;
		usleep(10000);
	}
	return false;
}

static void assert_spki(const struct ipc_field *f, EVP_PKEY *pkey)
{
	unsigned char *der = NULL;
	int len = i2d_PUBKEY(pkey, &der);
	assert_true(len > 0);
	assert_int_equal(f->len, (size_t)len);
	assert_memory_equal(f->data, der, (size_t)len);
	OPENSSL_free(der);
}

static void test_list(void **state)
{
	struct fixture *fx = *state;
	struct buf buf;
	struct ipc_msg msg;
	buf_init(&buf);
	request(fx, IPC_KEYS_LIST, 0, NULL, &buf, &msg);
	assert_int_equal(msg.type, IPC_R_OK);
	assert_int_equal(msg.count, 6);  /* the two good keys, sorted by id */
	assert_int_equal(msg.field[0].len, strlen("2026.ed"));
	assert_memory_equal(msg.field[0].data, "2026.ed", 7);
	assert_memory_equal(msg.field[1].data, KEYSD_ALG_ED25519, msg.field[1].len);
	assert_spki(&msg.field[2], fx->ed);
	assert_memory_equal(msg.field[3].data, "sel-rsa", msg.field[3].len);
	assert_memory_equal(msg.field[4].data, KEYSD_ALG_RSA, msg.field[4].len);
	assert_spki(&msg.field[5], fx->rsa);
	/* pages: from index 1, then past the end */
	unsigned char n[8];
	struct ipc_field f = ipc_u32(1, n);
	request(fx, IPC_KEYS_LIST, 1, &f, &buf, &msg);
	assert_int_equal(msg.type, IPC_R_OK);
	assert_int_equal(msg.count, 3);
	assert_memory_equal(msg.field[0].data, "sel-rsa", msg.field[0].len);
	f = ipc_u32(2, n);
	request(fx, IPC_KEYS_LIST, 1, &f, &buf, &msg);
	assert_int_equal(msg.type, IPC_R_OK);
	assert_int_equal(msg.count, 0);
	buf_free(&buf);

	assert_true(log_has(fx, "key-loaded id=2026.ed algorithm=ed25519-sha256"));
	assert_true(log_has(fx, "key-loaded id=sel-rsa algorithm=rsa-sha256 bits=2048"));
	assert_true(log_has(fx, "weak.pem\" reason=\"RSA key of 512 bits"));
	assert_true(log_has(fx, "ec.pem\" reason=\"key type"));
	assert_true(log_has(fx, "open.pem\" reason=\"group or others have access (mode 0640)"));
	assert_true(log_has(fx, "bad..id.pem\" reason=\"bad key id"));
	assert_true(log_has(fx, "linked.pem\" reason=\"2 links: a file with another name "
			    "elsewhere may be someone else's\""));
	assert_true(log_has(fx, "notes.txt\" reason=\"not named ID.pem\""));
	assert_true(log_has(fx, "garbage.pem\" reason=\"not an unencrypted PEM private key\""));
}

static void sign_and_check(struct fixture *fx, const char *id, const char *alg,
			   EVP_PKEY *pkey)
{
	struct buf buf;
	struct ipc_msg msg;
	unsigned char digest[32];
	buf_init(&buf);
	for (size_t i = 0; i < sizeof(digest); i++)
		digest[i] = (unsigned char)(i * 7 + 1);
	struct ipc_field f[3] = { ipc_text(id), ipc_text(alg), { digest, sizeof(digest) } };
	request(fx, IPC_KEYS_SIGN, 3, f, &buf, &msg);
	assert_int_equal(msg.type, IPC_R_OK);
	assert_int_equal(msg.count, 1);
	/* checked with the key the test made, not with keysd's own code */
	int ok = 0;
	if (EVP_PKEY_get_base_id(pkey) == EVP_PKEY_ED25519) {
		assert_int_equal(msg.field[0].len, 64);
		EVP_MD_CTX *md = EVP_MD_CTX_new();
		ok = EVP_DigestVerifyInit(md, NULL, NULL, NULL, pkey) == 1 &&
		     EVP_DigestVerify(md, msg.field[0].data, msg.field[0].len, digest, 32) == 1;
		EVP_MD_CTX_free(md);
	} else {
		assert_int_equal(msg.field[0].len, 256);
		EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(pkey, NULL);
		ok = EVP_PKEY_verify_init(ctx) == 1 &&
		     EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) > 0 &&
		     EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) > 0 &&
		     EVP_PKEY_verify(ctx, msg.field[0].data, msg.field[0].len, digest, 32) == 1;
		EVP_PKEY_CTX_free(ctx);
	}
	assert_true(ok);
	/* and by what the network process uses */
	unsigned char *der = NULL;
	int der_len = i2d_PUBKEY(pkey, &der);
	const char *error = NULL;
	assert_int_equal(keysd_public_verify(der, (size_t)der_len, alg, digest,
					     msg.field[0].data, msg.field[0].len, &error), 0);
	digest[0] ^= 1;
	assert_int_equal(keysd_public_verify(der, (size_t)der_len, alg, digest,
					     msg.field[0].data, msg.field[0].len, &error), -1);
	OPENSSL_free(der);
	buf_free(&buf);
}

static void test_sign(void **state)
{
	struct fixture *fx = *state;
	sign_and_check(fx, "sel-rsa", KEYSD_ALG_RSA, fx->rsa);
	sign_and_check(fx, "2026.ed", KEYSD_ALG_ED25519, fx->ed);
}

/* every request that does not fit: the answer type, a log line, no signature */
static void test_misfits(void **state)
{
	struct fixture *fx = *state;
	unsigned char digest[33] = { 0 }, n[8];
	static const char nul_id[] = { 's', 0, 'x' };
	const struct {
		const char *name;
		uint8_t type;
		unsigned count;
		struct ipc_field f[4];
		uint8_t want;
		const char *log;
	} cases[] = {
		{ "two fields", IPC_KEYS_SIGN, 2,
		  { ipc_text("sel-rsa"), ipc_text(KEYSD_ALG_RSA) }, IPC_R_BAD, "keys-bad-request" },
		{ "four fields", IPC_KEYS_SIGN, 4,
		  { ipc_text("sel-rsa"), ipc_text(KEYSD_ALG_RSA), { digest, 32 }, { digest, 1 } },
		  IPC_R_BAD, "keys-bad-request" },
		{ "short digest", IPC_KEYS_SIGN, 3,
		  { ipc_text("sel-rsa"), ipc_text(KEYSD_ALG_RSA), { digest, 31 } }, IPC_R_BAD,
		  "keys-bad-request" },
		{ "long digest", IPC_KEYS_SIGN, 3,
		  { ipc_text("sel-rsa"), ipc_text(KEYSD_ALG_RSA), { digest, 33 } }, IPC_R_BAD,
		  "keys-bad-request" },
		{ "sha1", IPC_KEYS_SIGN, 3,
		  { ipc_text("sel-rsa"), ipc_text("rsa-sha1"), { digest, 32 } }, IPC_R_BAD,
		  "keys-bad-request" },
		{ "empty id", IPC_KEYS_SIGN, 3,
		  { { "", 0 }, ipc_text(KEYSD_ALG_RSA), { digest, 32 } }, IPC_R_BAD,
		  "keys-bad-request" },
		{ "NUL in id", IPC_KEYS_SIGN, 3,
		  { { nul_id, sizeof(nul_id) }, ipc_text(KEYSD_ALG_RSA), { digest, 32 } },
		  IPC_R_BAD, "keys-bad-request" },
		{ "path as id", IPC_KEYS_SIGN, 3,
		  { ipc_text("../sel-rsa"), ipc_text(KEYSD_ALG_RSA), { digest, 32 } },
		  IPC_R_BAD, "keys-bad-request" },
		{ "unknown key", IPC_KEYS_SIGN, 3,
		  { ipc_text("nosuch"), ipc_text(KEYSD_ALG_RSA), { digest, 32 } }, IPC_R_FAIL,
		  "keys-sign-refused key=nosuch reason=\"no such key\"" },
		{ "skipped key", IPC_KEYS_SIGN, 3,
		  { ipc_text("weak"), ipc_text(KEYSD_ALG_RSA), { digest, 32 } }, IPC_R_FAIL,
		  "keys-sign-refused key=weak" },
		{ "wrong algorithm", IPC_KEYS_SIGN, 3,
		  { ipc_text("sel-rsa"), ipc_text(KEYSD_ALG_ED25519), { digest, 32 } },
		  IPC_R_FAIL, "keys-sign-refused key=sel-rsa algorithm=ed25519-sha256" },
		{ "list index of 3 bytes", IPC_KEYS_LIST, 1, { { digest, 3 } }, IPC_R_BAD,
		  "keys-bad-request" },
		{ "list with two fields", IPC_KEYS_LIST, 2, { ipc_u32(0, n), ipc_u32(0, n) },
		  IPC_R_BAD, "keys-bad-request" },
		{ "an auth request", IPC_AUTH_PASSWORD, 3,
		  { ipc_text("u"), ipc_text("p"), ipc_text("127.0.0.1") }, IPC_R_BAD,
		  "keys-bad-request type=1" },
		{ "webhook key without account", IPC_KEYS_WEBHOOK_KEY, 0, { { 0 } }, IPC_R_BAD,
		  "keys-bad-request type=18" },
		{ "webhook key, space in account", IPC_KEYS_WEBHOOK_KEY, 1, { ipc_text("a b") },
		  IPC_R_BAD, "keys-bad-request type=18" },
		{ "webhook sign, short digest", IPC_KEYS_WEBHOOK_SIGN, 2,
		  { ipc_text("alice"), { digest, 31 } }, IPC_R_BAD, "keys-bad-request type=19" },
		{ "webhook sign, no digest", IPC_KEYS_WEBHOOK_SIGN, 1, { ipc_text("alice") },
		  IPC_R_BAD, "keys-bad-request type=19" },
		{ "a reply", IPC_R_OK, 1, { { digest, 32 } }, IPC_R_BAD,
		  "keys-bad-request type=128" },
	};
	struct buf buf;
	struct ipc_msg msg;
	buf_init(&buf);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		request(fx, cases[i].type, cases[i].count, cases[i].f, &buf, &msg);
		if (msg.type != cases[i].want)
			fail_msg("%s: answer type %u, expected %u", cases[i].name, msg.type,
				 cases[i].want);
		/* a reason, never a signature */
		assert_int_equal(msg.count, 1);
		assert_true(msg.field[0].len < 200);
		if (!log_has(fx, cases[i].log))
			fail_msg("%s: no log line with '%s'", cases[i].name, cases[i].log);
	}
	buf_free(&buf);
	/* still serving after all that */
	sign_and_check(fx, "sel-rsa", KEYSD_ALG_RSA, fx->rsa);
}

/* webhook_spki - ACCOUNT's public key from the keys process, parsed */
static EVP_PKEY *webhook_spki(struct fixture *fx, const char *account, struct buf *der_r)
{
	struct buf buf;
	struct ipc_msg msg;
	buf_init(&buf);
	struct ipc_field f = ipc_text(account);
	request(fx, IPC_KEYS_WEBHOOK_KEY, 1, &f, &buf, &msg);
	assert_int_equal(msg.type, IPC_R_OK);
	assert_int_equal(msg.count, 1);
	buf_reset(der_r);
	buf_append(der_r, msg.field[0].data, msg.field[0].len);
	const unsigned char *p = msg.field[0].data;
	EVP_PKEY *pkey = d2i_PUBKEY(NULL, &p, (long)msg.field[0].len);
	assert_non_null(pkey);
	assert_true(EVP_PKEY_is_a(pkey, "EC"));
	char group[32];
	assert_int_equal(EVP_PKEY_get_utf8_string_param(pkey, "group", group, sizeof(group),
							NULL), 1);
	assert_string_equal(group, "prime256v1");
	buf_free(&buf);
	return pkey;
}

/* the event webhook's keys: one per account, the same when asked again;
 * an ECDSA signature of the digest that OpenSSL verifies with it, and not
 * with another account's */
static void test_webhook(void **state)
{
	struct fixture *fx = *state;
	struct buf a1, a2, b1, buf;
	struct ipc_msg msg;
	buf_init(&a1);
	buf_init(&a2);
	buf_init(&b1);
	buf_init(&buf);
	EVP_PKEY *alice = webhook_spki(fx, "alice@example.com", &a1);
	EVP_PKEY_free(webhook_spki(fx, "alice@example.com", &a2));
	EVP_PKEY *bob = webhook_spki(fx, "bob@example.com", &b1);
	assert_int_equal(a1.len, a2.len);
	assert_memory_equal(a1.data, a2.data, a1.len);
	assert_false(a1.len == b1.len && memcmp(a1.data, b1.data, a1.len) == 0);

	unsigned char digest[32];
	for (size_t i = 0; i < sizeof(digest); i++)
		digest[i] = (unsigned char)(i * 5 + 3);
	struct ipc_field f[2] = { ipc_text("alice@example.com"), { digest, sizeof(digest) } };
	request(fx, IPC_KEYS_WEBHOOK_SIGN, 2, f, &buf, &msg);
	assert_int_equal(msg.type, IPC_R_OK);
	assert_int_equal(msg.count, 1);
	EVP_PKEY *keys[2] = { alice, bob };
	for (int k = 0; k < 2; k++) {
		EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(keys[k], NULL);
		assert_non_null(ctx);
		int ok = EVP_PKEY_verify_init(ctx) == 1 &&
			 EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) > 0 &&
			 EVP_PKEY_verify(ctx, msg.field[0].data, msg.field[0].len, digest, 32) == 1;
		EVP_PKEY_CTX_free(ctx);
		assert_int_equal(ok, k == 0);
	}
	EVP_PKEY_free(alice);
	EVP_PKEY_free(bob);
	buf_free(&a1);
	buf_free(&a2);
	buf_free(&b1);
	buf_free(&buf);
}

/* the derivation: the same secret and account give the same key (a
 * restart, another node with the same secret); another secret, another */
static void test_webhook_derive(void **state)
{
	(void)state;
	unsigned char s1[KEYSD_WEBHOOK_SECRET_LEN], s2[KEYSD_WEBHOOK_SECRET_LEN];
	memset(s1, 0x11, sizeof(s1));
	memset(s2, 0x22, sizeof(s2));
	EVP_PKEY *a = keysd_webhook_key(s1, "alice"), *b = keysd_webhook_key(s1, "alice"),
		 *c = keysd_webhook_key(s2, "alice");
	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(c);
	assert_int_equal(EVP_PKEY_eq(a, b), 1);
	assert_int_not_equal(EVP_PKEY_eq(a, c), 1);
	assert_null(keysd_webhook_key(s1, ""));
	assert_null(keysd_webhook_key(s1, "a\tb"));
	EVP_PKEY_free(a);
	EVP_PKEY_free(b);
	EVP_PKEY_free(c);
}

/* a frame that breaks the format: logged, the channel closed, exit 0 (the
 * fixture checks the status); no reply */
static void test_malformed_frame(void **state)
{
	struct fixture *fx = *state;
	/* length 7, type SIGN, id 1, count 2 but no fields follow */
	static const unsigned char bad[] = { 0, 0, 0, 7, IPC_KEYS_SIGN, 0, 0, 0, 1, 2, 0 };
	send_all(fx->fd, bad, sizeof(bad));
	char c;
	ssize_t n = recv(fx->fd, &c, 1, 0);
	assert_int_equal(n, 0);  /* EOF, no answer */
	assert_true(log_has(fx, "ipc-malformed"));
}

static void test_oversized_frame(void **state)
{
	struct fixture *fx = *state;
	static const unsigned char bad[] = { 0x7f, 0xff, 0xff, 0xff, IPC_KEYS_LIST };
	send_all(fx->fd, bad, sizeof(bad));
	char c;
	assert_int_equal(recv(fx->fd, &c, 1, 0), 0);
	assert_true(log_has(fx, "ipc-malformed"));
}

static void test_sigterm(void **state)
{
	struct fixture *fx = *state;
	struct buf buf;
	struct ipc_msg msg;
	buf_init(&buf);
	request(fx, IPC_KEYS_LIST, 0, NULL, &buf, &msg);  /* running: its handler is set */
	buf_free(&buf);
	assert_int_equal(kill(fx->pid, SIGTERM), 0);
	int status = 0;
	assert_int_equal(waitpid(fx->pid, &status, 0), fx->pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	/* the fixture's wait: make it find an exited child of status 0 */
	fx->pid = fork();
	if (fx->pid == 0)
		_exit(0);
}

/* signing key ids: SELECTOR._domainkey.DOMAIN (keysd/signer.c), up to
 * KEYSD_ID_MAX octets so that long domains fit */
static void test_dkim_ids(void **state)
{
	(void)state;
	char sel[KEYSD_ID_MAX + 1];
	const char *domain = NULL;
	assert_true(keysd_id_dkim("petrel._domainkey.example.com", sel, sizeof(sel), &domain));
	assert_string_equal(sel, "petrel");
	assert_string_equal(domain, "example.com");
	assert_true(keysd_id_dkim("a.b._domainkey.mx.example.org", sel, sizeof(sel), &domain));
	assert_string_equal(sel, "a.b");
	assert_string_equal(domain, "mx.example.org");
	assert_false(keysd_id_dkim("sel2048", sel, sizeof(sel), &domain));
	assert_false(keysd_id_dkim("._domainkey.example.com", sel, sizeof(sel), &domain));
	assert_false(keysd_id_dkim("s._domainkey.", sel, sizeof(sel), &domain));
	assert_false(keysd_id_dkim("long._domainkey.example.com", sel, 4, &domain));
	char id[KEYSD_ID_MAX + 2];
	memset(id, 'a', sizeof(id));
	memcpy(id, "s._domainkey.", 13);
	for (size_t i = 20; i < KEYSD_ID_MAX; i += 20)
		id[i] = '.';
	id[KEYSD_ID_MAX] = '\0';
	assert_true(keysd_id_is_valid(id, KEYSD_ID_MAX));
	id[KEYSD_ID_MAX] = 'a';
	id[KEYSD_ID_MAX + 1] = '\0';
	assert_false(keysd_id_is_valid(id, KEYSD_ID_MAX + 1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dkim_ids),
		cmocka_unit_test(test_webhook_derive),
		cmocka_unit_test_setup_teardown(test_webhook, fixture_start, fixture_stop),
		cmocka_unit_test_setup_teardown(test_list, fixture_start, fixture_stop),
		cmocka_unit_test_setup_teardown(test_sign, fixture_start, fixture_stop),
		cmocka_unit_test_setup_teardown(test_misfits, fixture_start, fixture_stop),
		cmocka_unit_test_setup_teardown(test_malformed_frame, fixture_start, fixture_stop),
		cmocka_unit_test_setup_teardown(test_oversized_frame, fixture_start, fixture_stop),
		cmocka_unit_test_setup_teardown(test_sigterm, fixture_start, fixture_stop),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
