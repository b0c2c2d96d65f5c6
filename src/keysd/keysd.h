/* keysd - the keys process: the only one that holds DKIM private keys
 * (DATA_DIR/dkim/ID.pem) and the event webhook's (derived from
 * DATA_DIR/webhook/secret); signs the digests the network process sends
 * (IPC_KEYS_SIGN, IPC_KEYS_WEBHOOK_SIGN) and gives the public halves
 * (IPC_KEYS_LIST, IPC_KEYS_WEBHOOK_KEY).
 *
 * keysd_main runs in the keys process.  The keysd_public_* functions are
 * for the other side (the network process, `petrel keys`): they read the
 * public halves IPC_KEYS_LIST returns and check signatures with them; pure,
 * no I/O.  Error text through *error_r is static.
 */
#ifndef PETREL_KEYSD_H
#define PETREL_KEYSD_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/types.h>

struct config;

/* octets of a key id (the file name without .pem): room for
 * "SELECTOR._domainkey.DOMAIN" with a long domain, and ".pem" within a
 * file name's 255 */
#define KEYSD_ID_MAX 240
#define KEYSD_RSA_BITS_MIN 1024    /* RFC 8301 3.2 */
#define KEYSD_RSA_BITS_MAX 16384
#define KEYSD_SIG_MAX (KEYSD_RSA_BITS_MAX / 8)
#define KEYSD_DIGEST_LEN 32        /* SHA-256 */
#define KEYSD_LIST_PAGE 2          /* keys per IPC_KEYS_LIST reply: IPC_FIELDS_MAX / 3 */
#define KEYSD_ALG_RSA "rsa-sha256"
#define KEYSD_ALG_ED25519 "ed25519-sha256"

/* keysd_main - run until FD reaches EOF or SIGTERM; the exit status */
int keysd_main(const struct config *config, int fd);

/* keysd_id_is_valid - ID[0..LEN) is a key id: 1..KEYSD_ID_MAX octets of
 * labels separated by single dots, each label letters, digits, '-' and '_'
 * not starting or ending with '-' (a DKIM selector, RFC 6376 3.1, with the
 * '_' people use in practice) */
bool keysd_id_is_valid(const char *id, size_t len);

/* What petrel keys list shows of a public half. */
struct keysd_public {
	char algorithm[16];        /* "rsa-sha256" | "ed25519-sha256" */
	int bits;                  /* RSA modulus bits; 256 for Ed25519 */
	char *dns;                 /* malloc'd "v=DKIM1; k=rsa|ed25519; p=BASE64" */
};

/* keysd_public_describe - from the SubjectPublicKeyInfo DER of an RSA or
 * Ed25519 key, the DKIM key record to publish (RFC 6376 3.6.1: for RSA the
 * DER as is; RFC 8463 4: for Ed25519 the raw 32-byte key); 0, or -1 */
int keysd_public_describe(const void *spki, size_t spki_len, struct keysd_public *pub,
			  const char **error_r);
void keysd_public_free(struct keysd_public *pub);
/* keysd_public_verify - 0 if SIG is the ALGORITHM signature of the SHA-256
 * DIGEST (KEYSD_DIGEST_LEN bytes) under the key SPKI, as keysd makes them;
 * -1 and *error_r otherwise */
int keysd_public_verify(const void *spki, size_t spki_len, const char *algorithm,
			const unsigned char *digest, const void *sig, size_t sig_len,
			const char **error_r);

/* ---- the event webhook's keys (webhook.c, in the keys process) ---------- */
/* One ECDSA P-256 key per account, derived from a secret of
 * KEYSD_WEBHOOK_SECRET_LEN bytes in DATA_DIR/webhook/secret (webhook.c) */
#define KEYSD_WEBHOOK_SECRET_LEN 32
#define KEYSD_ACCOUNT_MAX 320      /* octets of an account name */
struct ipc_server;
struct ipc_msg;
/* keysd_webhook_secret_load - (as root, before the drop) the secret,
 * made if missing; DATA_DIR/webhook must be the keys user's (the
 * supervisor makes it).  0, or -1 and *error_r */
int keysd_webhook_secret_load(const struct config *config,
			      unsigned char secret_r[KEYSD_WEBHOOK_SECRET_LEN],
			      const char **error_r);
/* keysd_webhook_key - ACCOUNT's key pair (the caller frees it), or NULL
 * when ACCOUNT is not 1..KEYSD_ACCOUNT_MAX printable ASCII octets */
EVP_PKEY *keysd_webhook_key(const unsigned char secret[KEYSD_WEBHOOK_SECRET_LEN],
			    const char *account);
/* keysd_webhook_request - answer IPC_KEYS_WEBHOOK_KEY or _SIGN REQ on
 * SERVER; SECRET NULL (none could be loaded) answers R_FAIL */
void keysd_webhook_request(struct ipc_server *server, const unsigned char *secret,
			   const struct ipc_msg *req);

/* ---- DKIM signing in the network process (signer.c) ---------------------- */

/* Key ids that sign: "SELECTOR._domainkey.DOMAIN" (the DNS name of the
 * public half) signs DOMAIN's mail with SELECTOR.  keysd_id_dkim - ID is
 * one: SELECTOR into SELECTOR_R (SELECTOR_SIZE octets), *domain_r points
 * into ID */
bool keysd_id_dkim(const char *id, char *selector_r, size_t selector_size,
		   const char **domain_r);
/* keysd_dkim_selectors - the selectors of DOMAIN's signing keys in
 * DATA_DIR/dkim/ (file names S._domainkey.DOMAIN.pem; only the names are
 * read), malloc'd in *SELECTORS_R (keysd_dkim_selectors_free); none when
 * the folder cannot be read.  Blocking: a worker's or the CLI's. */
size_t keysd_dkim_selectors(const char *data_dir, const char *domain, char ***selectors_r);
void keysd_dkim_selectors_free(char ***selectors, size_t count);

#define KEYSD_SIGNER_KEYS_MAX 4    /* signatures per message, at most */

/* A signer hashes on worker threads and has the keys process sign over the
 * loop's channel (signer.c); at most WAITERS_MAX workers wait for the keys
 * process at once (the others' calls fail after a short wait).  Create,
 * stop and free it on the loop thread: keysd_signer_stop after the loop has
 * ended and before pool_free (waiting workers then get a failure at once),
 * keysd_signer_free after pool_free. */
struct event_base;
struct ipc_client;
struct buf;
struct keysd_signer;
struct keysd_signer *keysd_signer_create(struct event_base *base, struct ipc_client *keys,
					 unsigned timeout_ms, unsigned waiters_max);
void keysd_signer_stop(struct keysd_signer *signer);
void keysd_signer_free(struct keysd_signer **signer);
/* keysd_signer_sign_blocking - (on a worker, never the loop thread; may
 * wait up to the timeout) sign MESSAGE (CRLF, whole) with every key of the
 * domain of its From: address, signatures timed NOW: the DKIM-Signature
 * fields go on top of MESSAGE.  The number of signatures added (0: no From
 * or no key for its domain), or -1 and *error_r (static text; MESSAGE is
 * unchanged): the keys process did not answer in time or signed nothing. */
int keysd_signer_sign_blocking(struct keysd_signer *signer, struct buf *message, long long now,
			       const char **error_r);

/* The signing keys as the keys process last listed them (the dashboard's
 * domains page, on the loop).  keysd_signer_list_wait - NULL when the
 * signer holds the current list (or there is no keys process to ask);
 * else the list is fetched and CB(CTX) called from the loop once it is in,
 * unless keysd_signer_watch_cancel comes first (a list that fails to come
 * never calls it: the caller bounds its wait). */
struct keysd_signer_watch;
typedef void keysd_signer_list_cb(void *ctx);
struct keysd_signer_watch *keysd_signer_list_wait(struct keysd_signer *signer,
						  keysd_signer_list_cb *cb, void *ctx);
/* keysd_signer_watch_cancel - *WATCH (NULL: nothing) never calls; nulled */
void keysd_signer_watch_cancel(struct keysd_signer *signer, struct keysd_signer_watch **watch);
/* keysd_signer_domain_keys - DOMAIN's keys in that list: their selectors
 * and DNS records ("v=DKIM1; k=...; p=...", NULL when unknown), in
 * *KEYS_R (keysd_dkim_keys_free) */
struct keysd_dkim_key {
	char *selector;
	char *record;
};
size_t keysd_signer_domain_keys(const struct keysd_signer *signer, const char *domain,
				struct keysd_dkim_key **keys_r);
void keysd_dkim_keys_free(struct keysd_dkim_key **keys, size_t count);

#endif
