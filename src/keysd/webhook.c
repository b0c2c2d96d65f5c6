/* keysd/webhook - the event webhook's signing keys, in the keys process
 * (docs/http.md "Signed event webhook", docs/security.md).
 *
 * Each account has its own ECDSA P-256 key, as SendGrid's accounts do.  The
 * keys process cannot write files once its seccomp filter is on, so a key
 * is not stored but derived: the private scalar is HMAC-SHA256(SECRET,
 * "petrel-webhook-key-v1" NUL ACCOUNT), hashed again with a counter in the
 * (never seen) case it is 0 or not below the group order.  SECRET is 32
 * random bytes in DATA_DIR/webhook/secret (made 0600 the first time, as
 * root, before the drop): the same secret gives every account the same key
 * after a restart and on every node that has a copy of it.
 *
 *   IPC_KEYS_WEBHOOK_KEY account          -> R_OK(SubjectPublicKeyInfo DER)
 *   IPC_KEYS_WEBHOOK_SIGN account, digest -> R_OK(ECDSA signature, DER)
 *
 * An account is 1..KEYSD_ACCOUNT_MAX octets of printable ASCII (no space).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>

#include "config/config.h"
#include "ipc/ipc.h"
#include "keysd/keysd.h"
#include "privsep/privsep.h"
#include "store/store.h"
#include "util/log.h"
#include "util/xalloc.h"

#define WEBHOOK_LABEL "petrel-webhook-key-v1"

static bool webhook_account_is_valid(const char *account);
static int webhook_scalar(const unsigned char secret[KEYSD_WEBHOOK_SECRET_LEN],
			  const char *account, BIGNUM *priv, const BIGNUM *order);

int keysd_webhook_secret_load(const struct config *config,
			      unsigned char secret_r[KEYSD_WEBHOOK_SECRET_LEN],
			      const char **error_r)
{
	static char error[300];
	char *dir = xasprintf("%s/webhook", config->data_dir);
	char *path = xasprintf("%s/secret", dir);
	int ret = -1;
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0) {
		snprintf(error, sizeof(error), "cannot open %s: %s", dir, strerror(errno));
		*error_r = error;
		goto out;
	}
	/* the network process's user owns DATA_DIR: a folder of its own here
	 * would hold a secret of its choosing */
	if (privsep_dir_check(config, PRIVSEP_KEYS, dfd, dir) != 0) {
		snprintf(error, sizeof(error), "%s is not the keys user's own", dir);
		*error_r = error;
		goto out;
	}
	const char *serror = NULL;
	if (store_secret_load(path, secret_r, &serror) != 0) {
		snprintf(error, sizeof(error), "%s", serror);
		*error_r = error;
		goto out;
	}
	ret = 0;
out:
	if (dfd >= 0 && close(dfd) != 0)
		log_warn("close-failed", "path=%s error=\"%s\"", dir, strerror(errno));
	free(path);
	free(dir);
	return ret;
}

static bool webhook_account_is_valid(const char *account)
{
	size_t len = strlen(account);
	bool ok = len >= 1 && len <= KEYSD_ACCOUNT_MAX;
	for (size_t i = 0; ok && i < len; i++)
		ok = account[i] > ' ' && account[i] < 0x7f;
	return ok;
}

/* webhook_scalar - ACCOUNT's private scalar into PRIV: 1 <= PRIV < ORDER */
static int webhook_scalar(const unsigned char secret[KEYSD_WEBHOOK_SECRET_LEN],
			  const char *account, BIGNUM *priv, const BIGNUM *order)
{
	for (unsigned char counter = 0; counter < 16; counter++) {
		unsigned char mac[32];
		unsigned int mac_len = sizeof(mac);
		size_t alen = strlen(account), llen = sizeof(WEBHOOK_LABEL);
		unsigned char *msg = xmalloc(llen + alen + 1);
		memcpy(msg, WEBHOOK_LABEL, llen);           /* with its NUL */
		memcpy(msg + llen, account, alen);
		msg[llen + alen] = counter;
		/* the counter only when needed: the first try hashes label and account */
		bool ok = HMAC(EVP_sha256(), secret, KEYSD_WEBHOOK_SECRET_LEN, msg,
			       llen + alen + (counter ? 1 : 0), mac, &mac_len) != NULL;
		free(msg);
		if (!ok || !BN_bin2bn(mac, (int)mac_len, priv)) {
			OPENSSL_cleanse(mac, sizeof(mac));
			return -1;
		}
		OPENSSL_cleanse(mac, sizeof(mac));
		if (!BN_is_zero(priv) && BN_cmp(priv, order) < 0)
			return 0;
	}
	return -1;
}

EVP_PKEY *keysd_webhook_key(const unsigned char secret[KEYSD_WEBHOOK_SECRET_LEN],
			    const char *account)
{
	EVP_PKEY *pkey = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EC_POINT *pub = NULL;
	unsigned char pub_oct[65];
	BIGNUM *priv = BN_secure_new();
	EC_GROUP *group = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
	if (!priv || !group)
		abort();
	if (!webhook_account_is_valid(account) ||
	    webhook_scalar(secret, account, priv, EC_GROUP_get0_order(group)) != 0)
		goto out;
	pub = EC_POINT_new(group);
	if (!pub || EC_POINT_mul(group, pub, priv, NULL, NULL, NULL) != 1 ||
	    EC_POINT_point2oct(group, pub, POINT_CONVERSION_UNCOMPRESSED, pub_oct,
			       sizeof(pub_oct), NULL) != sizeof(pub_oct))
		goto out;
	bld = OSSL_PARAM_BLD_new();
	if (!bld ||
	    OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, SN_X9_62_prime256v1,
					    0) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, priv) != 1 ||
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub_oct,
					     sizeof(pub_oct)) != 1 ||
	    !(params = OSSL_PARAM_BLD_to_param(bld)))
		goto out;
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	if (!ctx || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_KEYPAIR, params) != 1)
		pkey = NULL;
out:
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	EC_POINT_free(pub);
	EC_GROUP_free(group);
	BN_clear_free(priv);
	return pkey;
}

void keysd_webhook_request(struct ipc_server *server, const unsigned char *secret,
			   const struct ipc_msg *req)
{
	char *account = NULL;
	const void *digest = NULL;
	EVP_PKEY *pkey = NULL;
	bool sign = req->type == IPC_KEYS_WEBHOOK_SIGN;
	if (req->count != (sign ? 2u : 1u) ||
	    !ipc_field_text(req, 0, KEYSD_ACCOUNT_MAX, &account) ||
	    !webhook_account_is_valid(account) ||
	    (sign && !ipc_field_bytes(req, 1, KEYSD_DIGEST_LEN, &digest))) {
		const char *reason = sign ? "webhook sign takes an account and a 32-byte SHA-256 "
					    "digest" : "webhook key takes an account";
		log_warn("keys-bad-request", "type=%u id=%u fields=%u reason=\"%s\"",
			 (unsigned)req->type, (unsigned)req->id, req->count, reason);
		struct ipc_field f = ipc_text(reason);
		ipc_server_reply(server, req->id, IPC_R_BAD, 1, &f);
		goto out;
	}
	if (!secret) {
		struct ipc_field f = ipc_text("no webhook secret");
		ipc_server_reply(server, req->id, IPC_R_FAIL, 1, &f);
		goto out;
	}
	pkey = keysd_webhook_key(secret, account);
	unsigned char out[128], *der = NULL;
	size_t out_len = sizeof(out);
	int der_len = 0;
	bool ok = false;
	if (pkey && !sign) {
		der_len = i2d_PUBKEY(pkey, &der);
		ok = der_len > 0;
	} else if (pkey) {
		EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(pkey, NULL);
		if (!ctx)
			abort();
		/* the digest is SHA-256's: ECDSA over it, DER (r, s) */
		ok = EVP_PKEY_sign_init(ctx) == 1 &&
		     EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) > 0 &&
		     EVP_PKEY_sign(ctx, out, &out_len, digest, KEYSD_DIGEST_LEN) == 1;
		EVP_PKEY_CTX_free(ctx);
	}
	if (!ok) {
		log_error("keys-webhook-failed", "account=%s op=%s", account, sign ? "sign" : "key");
		struct ipc_field f = ipc_text("no key");
		ipc_server_reply(server, req->id, IPC_R_FAIL, 1, &f);
		goto out;
	}
	log_debug("keys-webhook", "account=%s op=%s", account, sign ? "sign" : "key");
	struct ipc_field f = sign ? (struct ipc_field){ out, out_len } :
		(struct ipc_field){ der, (size_t)der_len };
	ipc_server_reply(server, req->id, IPC_R_OK, 1, &f);
	OPENSSL_free(der);
out:
	EVP_PKEY_free(pkey);
	free(account);
}
