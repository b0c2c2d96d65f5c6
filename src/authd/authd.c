/* authd - the auth process (privilege separation, issue 13): the only
 * process that reads password hashes and SCRAM keys (DATA_DIR/auth/).
 *
 * As root it opens credentials.db, or the PostgreSQL database of [store]
 * credentials_url (store_credentials_open_settings; its connections are then
 * used only on the worker threads, never on the loop), and loads the auth
 * secret; then it drops to [server] auth_user (privsep_drop), starts
 * the log thread and its worker threads, loads its seccomp filter
 * (privsep_sandbox) and answers the network process on FD, on a libevent
 * loop of its own (ipc.h has each request's fields and replies):
 *
 *   IPC_AUTH_PASSWORD user, password, client
 *       -> R_OK(name) | R_OK(account, scopes) for user "apikey" (an API key)
 *          | R_FAIL(reason, delay, locked_until) |
 *          R_LOCKED(locked_until) | R_TEMPFAIL(reason)
 *   IPC_AUTH_SCRAM_START user
 *       -> R_OK(iterations, salt) | R_TEMPFAIL(reason)
 *   IPC_AUTH_SCRAM_PROOF user, client, AuthMessage, ClientProof
 *       -> R_OK(name, ServerSignature) | R_FAIL | R_LOCKED | R_TEMPFAIL
 *   IPC_AUTH_TICKET account, ticket, client
 *       -> R_OK(name) | R_FAIL | R_LOCKED | R_TEMPFAIL
 *   IPC_AUTH_APIKEY_LIST account  -> R_OK(lines of id, scopes, name)
 *   IPC_AUTH_APIKEY_ADD account, name, scopes
 *       -> R_OK(id, key, name, scopes) | R_FAIL("too-many-keys": [auth]
 *          apikeys_per_account)
 *   IPC_AUTH_APIKEY_DEL account, id -> R_OK | R_FAIL("no-such-key")
 *   IPC_AUTH_APIKEY_SET account, id, name [, scopes]
 *       -> R_OK(name, scopes) | R_FAIL("no-such-key")
 *   IPC_AUTH_PASSWORD_SET account, password -> R_OK(account) | R_TEMPFAIL(reason)
 *
 * The APIKEY_* requests manage the keys of an account the network process
 * has authorized (GET/POST/DELETE /v3/api_keys with a key of the account's
 * holding the api_keys.* scope): the rows stay with the credentials, which
 * only this process opens.  They run on the lookup thread, and are not
 * throttled (they carry no secret to guess).
 *
 * PASSWORD_SET (the web sign-up's and a reset's password) hashes as
 * `petrel account passwd` does, a crypt(5) hash and SCRAM credentials with
 * [auth] scram_iterations, and replaces the account's; it runs on the hash
 * pool (the cost is the hash's) within [auth] hash_queue, and is not
 * throttled either: it checks nothing.
 *
 * Nodes of a cluster ([cluster] secret_file, issue 11): this process alone
 * reads the secret (as root, at start) and, with it, adds to the R_OK of a
 * right password or SCRAM proof a ticket for the account (authd/ticket.h,
 * good for [cluster] ticket_lifetime), which the network process hands to
 * the account's home node to log in there; and it checks the tickets other
 * nodes bring (TICKET): the MAC, the expiry, a client address within
 * [cluster] from, and that the account still has credentials.  A wrong
 * ticket counts as a wrong password.
 *
 * It answers only "right or not": whether the account is disabled, and
 * what it may do, is the network process's business (it reads the account,
 * without secrets, after R_OK).
 *
 * The AUTH throttle lives here (policy_throttle: [auth] slow_after,
 * lockout_after, failure_window, lockout_time, ipv6_prefix,
 * throttle_entries): a locked-out client address gets R_LOCKED before any
 * hash is computed or any credential read; each wrong password or proof
 * counts one failure, and R_FAIL carries the delay the network process
 * waits before its 535 and the end of a lockout that failure began (0:
 * none), which the network process remembers so that it answers 421 at
 * connect and 454 at AUTH without asking.  With the credentials in
 * PostgreSQL the failures of every node are counted there too (one upsert
 * per failure, store_auth_failure_add) and checked on the worker before
 * the credentials are read: the memory stays the fast first line, the
 * database makes N nodes one throttle.  A database that cannot count or
 * check gives R_TEMPFAIL: never a check without the count.
 *
 * Password checks run on a pool of [auth] hash_workers niced threads;
 * [auth] hash_queue bounds the checks waiting or running (over it:
 * R_TEMPFAIL "busy", no hash).  SCRAM lookups (an SQLite read and three
 * HMACs) run on one thread of their own, bounded the same way, so a flood of
 * password checks never holds them up.  A good password whose SCRAM
 * credentials have fewer than [auth] scram_iterations gets new ones made
 * from it (old accounts catch up with the setting).  An unknown user's
 * SCRAM exchange shows a salt and count derived from the auth secret
 * (store_scram_fake_credentials): the same from try to try, as a real
 * account's, and no proof opens it.
 *
 * Every field of a request is checked (authd/request.c); one that does not
 * fit gets IPC_R_BAD and an auth-bad-request log line, never a success.  A
 * malformed frame closes the channel (ipc_server logs it), which ends the
 * process like EOF does: exit 0, and the supervisor starts a fresh one.
 * SIGTERM: exit 0.  SIGINT is ignored (the supervisor decides).
 */
#include "authd/authd.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/crypto.h>

#include "authd/request.h"
#include "authd/ticket.h"
#include "config/config.h"
#include "ipc/ipc.h"
#include "mailauth/mailauth.h"
#include "net/proxy.h"
#include "policy/policy.h"
#include "privsep/privsep.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/pool.h"
#include "util/xalloc.h"

/* A yescrypt hash of nothing anyone knows: an unknown user's password is
 * checked against it, so that the time taken does not tell which names
 * exist. */
#define AUTHD_DUMMY_HASH \
	"$y$j9T$F5Jx5fExrKuPp53xLKQ..1$X3DX6M94c7o.9agCG9G317fhZg9SqC.5i5rd.RhAtQ7"

struct authd {
	const struct config *config;
	struct event_base *base;
	struct ipc_server *server;
	struct store_credentials *creds;
	unsigned char secret[STORE_AUTH_SECRET_LEN];
	char *ticket_secret;         /* [cluster] secret_file's; NULL: no tickets */
	size_t ticket_secret_len;
	struct pool *hash_pool;      /* password checks: [auth] hash_workers, niced */
	struct pool *lookup_pool;    /* SCRAM credential reads: one thread */
	struct policy_throttle *throttle;
	bool shared;                 /* failures counted in the credentials' database too */
	struct store_auth_throttle limits;
	atomic_bool stopping;        /* workers skip what is still queued */
};

enum authd_result { AUTHD_OK, AUTHD_FAIL, AUTHD_LOCKED, AUTHD_TEMPFAIL };

/* One request on its way through a pool: filled by the work function,
 * answered by the done function on the loop. */
struct authd_job {
	struct authd *ad;
	uint32_t id;
	struct authd_request req;
	enum authd_result result;
	const char *reason;          /* static text */
	unsigned iterations;         /* SCRAM_START */
	unsigned char salt[STORE_SCRAM_SALT_MAX];
	size_t salt_len;
	unsigned char signature[AUTHD_PROOF_LEN];  /* SCRAM_PROOF */
	char client_key[POLICY_THROTTLE_KEY_TEXT]; /* the shared throttle's row */
	unsigned shared_failures;    /* FAIL: the count of every node, 0 if not shared */
	time_t locked_until;         /* FAIL, LOCKED: the shared lockout's end, or 0 */
	char *apikey_account;        /* OK for user "apikey": the key's account ... */
	char *apikey_scopes;         /* ... and its scopes */
	char *apikey_lines;          /* APIKEY_LIST: the reply's text */
	char apikey_id[STORE_APIKEY_ID_LEN + 1];  /* APIKEY_ADD: the new key's id ... */
	char apikey_key[STORE_APIKEY_LEN + 1];    /* ... and the key, wiped once sent */
	char ticket[AUTHD_TICKET_MAX]; /* OK with a cluster secret: "" or the account's */
};

static void authd_request_cb(void *ctx, struct ipc_server *server, const struct ipc_msg *req);
static bool authd_refuse_locked(struct authd *ad, uint32_t id, const struct authd_request *r);
static void authd_password_work(void *arg);
static void authd_scram_start_work(void *arg);
static void authd_scram_proof_work(void *arg);
static void authd_ticket_work(void *arg);
static void authd_ticket_issue(struct authd_job *job);
static int authd_ticket_secret_load(struct authd *ad);
static void authd_job_done(void *arg);
static bool authd_shared_is_locked(struct authd_job *job);
static bool authd_job_begin(struct authd_job *job);
static void authd_shared_count(struct authd_job *job);
static void authd_job_free(struct authd_job *job);
static void authd_apikey_check(struct authd_job *job);
static void authd_apikey_admin_work(void *arg);
static void authd_apikey_admin_done(struct authd_job *job);
static void authd_password_set_work(void *arg);
static char *authd_scram_lookup(struct authd *ad, const char *user, const char **reason_r,
				bool *error_r);
static void authd_scram_upgrade(struct authd *ad, const char *name, const char *old_scram,
				const char *password);
static char *authd_name(const char *user);
static void authd_secret_free(char **secret);
static void authd_reply_text(struct authd *ad, uint32_t id, uint8_t type, const char *text);
static void authd_reply_failed(struct authd *ad, const struct authd_job *job);
static void authd_reply_locked(struct authd *ad, const struct authd_job *job);
static void authd_closed_cb(void *ctx);
static void authd_signal_cb(evutil_socket_t sig, short what, void *arg);
static int authd_dir_confine(const struct config *config);

/* authd_secret_free - wipe and free a hash or SCRAM credentials; null *SECRET */
static void authd_secret_free(char **secret)
{
	if (!*secret)
		return;
	OPENSSL_cleanse(*secret, strlen(*secret));
	free(*secret);
	*secret = NULL;
}

/* authd_name - the account name as the store keeps it (lower-cased) */
static char *authd_name(const char *user)
{
	char *name = xstrdup(user);
	for (char *p = name; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	return name;
}

static void authd_reply_text(struct authd *ad, uint32_t id, uint8_t type, const char *text)
{
	struct ipc_field f = ipc_text(text);
	ipc_server_reply(ad->server, id, type, 1, &f);
}

/* authd_request_cb - one well-formed frame from the network process */
static void authd_request_cb(void *ctx, struct ipc_server *server, const struct ipc_msg *req)
{
	struct authd *ad = ctx;
	struct authd_job *job = xcalloc(1, sizeof(*job));
	const char *reason = NULL;
	(void)server;
	job->ad = ad;
	job->id = req->id;
	if (authd_request_parse(req, &job->req, &reason) != 0) {
		log_warn("auth-bad-request", "type=%u id=%u fields=%u reason=\"%s\"",
			 (unsigned)req->type, (unsigned)req->id, req->count, reason);
		authd_reply_text(ad, req->id, IPC_R_BAD, reason);
		authd_job_free(job);
		return;
	}
	/* the throttle before anything that costs: no hash, no read */
	if (job->req.client && authd_refuse_locked(ad, req->id, &job->req)) {
		authd_job_free(job);
		return;
	}
	if (ad->shared && job->req.client)
		policy_throttle_key_text(ad->throttle, (const struct sockaddr *)&job->req.addr,
					 job->client_key);
	bool hashing = req->type == IPC_AUTH_PASSWORD || req->type == IPC_AUTH_PASSWORD_SET;
	struct pool *pool = hashing ? ad->hash_pool : ad->lookup_pool;
	bool apikey_admin = req->type >= IPC_AUTH_APIKEY_LIST && req->type <= IPC_AUTH_APIKEY_SET;
	pool_work_fn *work = req->type == IPC_AUTH_PASSWORD ? authd_password_work :
		req->type == IPC_AUTH_PASSWORD_SET ? authd_password_set_work :
		req->type == IPC_AUTH_SCRAM_START ? authd_scram_start_work :
		req->type == IPC_AUTH_TICKET ? authd_ticket_work :
		apikey_admin ? authd_apikey_admin_work : authd_scram_proof_work;
	if (pool_pending(pool) >= ad->config->auth.hash_queue) {
		log_info("auth-busy", "client=%s pending=%u", job->req.client ? job->req.client : "-",
			 pool_pending(pool));
		authd_reply_text(ad, req->id, IPC_R_TEMPFAIL, "busy");
		authd_job_free(job);
		return;
	}
	pool_submit(pool, work, authd_job_done, job);
}

/* authd_refuse_locked - R_LOCKED if R's client address is locked out now */
static bool authd_refuse_locked(struct authd *ad, uint32_t id, const struct authd_request *r)
{
	time_t until = 0;
	if (!policy_throttle_is_locked(ad->throttle, (const struct sockaddr *)&r->addr,
				       time(NULL), &until))
		return false;
	unsigned char b[8];
	struct ipc_field f = ipc_u64((uint64_t)until, b);
	log_info("auth-locked", "client=%s until=%lld", r->client, (long long)until);
	ipc_server_reply(ad->server, id, IPC_R_LOCKED, 1, &f);
	return true;
}

/* ---- workers --------------------------------------------------------------------- */

/* authd_shared_is_locked - with the shared throttle: is the client locked
 * out by the failures of every node?  Then JOB is LOCKED; a database that
 * cannot say makes it TEMPFAIL (fail closed: no check without the count).
 * False when the check may go on (worker) */
static bool authd_shared_is_locked(struct authd_job *job)
{
	const char *error = NULL;
	if (!job->ad->shared)
		return false;
	if (store_auth_locked(job->ad->creds, job->client_key, time(NULL), &job->locked_until,
			      &error) != 0) {
		log_error("store-failed", "op=auth_locked error=\"%s\"", error);
		job->result = AUTHD_TEMPFAIL;
		job->reason = "store-error";
		return true;
	}
	if (job->locked_until == 0)
		return false;
	job->result = AUTHD_LOCKED;
	job->reason = "locked";
	return true;
}

/* authd_job_begin - a check that reads credentials may start: not when
 * stopping, nor for a client the shared throttle locks out (JOB's result
 * then says so); else JOB is TEMPFAIL "store-error" until the check says
 * otherwise (worker) */
static bool authd_job_begin(struct authd_job *job)
{
	job->result = AUTHD_TEMPFAIL;
	job->reason = "store-error";
	if (atomic_load(&job->ad->stopping)) {
		job->reason = "stopping";
		return false;
	}
	return !authd_shared_is_locked(job);
}

/* authd_shared_count - with the shared throttle: count JOB's failure for
 * every node; a database that cannot count it makes it TEMPFAIL (worker) */
static void authd_shared_count(struct authd_job *job)
{
	const char *error = NULL;
	if (!job->ad->shared || job->result != AUTHD_FAIL)
		return;
	if (store_auth_failure_add(job->ad->creds, job->client_key, time(NULL), &job->ad->limits,
				   &job->shared_failures, &job->locked_until, &error) != 0) {
		log_error("store-failed", "op=auth_failure_add error=\"%s\"", error);
		job->result = AUTHD_TEMPFAIL;
		job->reason = "store-error";
	}
}

/* authd_password_work - USER's hash against PASSWORD (worker) */
static void authd_password_work(void *arg)
{
	struct authd_job *job = arg;
	struct authd *ad = job->ad;
	char *hash = NULL, *scram = NULL;
	const char *error = NULL;
	job->result = AUTHD_TEMPFAIL;
	if (atomic_load(&ad->stopping)) {
		job->reason = "stopping";
		return;
	}
	if (authd_shared_is_locked(job))
		return;
	if (strcasecmp(job->req.user, AUTHD_APIKEY_USER) == 0) {
		authd_apikey_check(job);
		return;
	}
	int rc = store_credentials_get(ad->creds, job->req.user, &hash, &scram, &error);
	if (rc < 0) {
		log_error("store-failed", "op=credentials_get error=\"%s\"", error);
		job->reason = "store-error";
	} else if (rc == STORE_NOT_FOUND) {
		/* the time a real check takes, so that it tells nothing */
		(void)store_password_verify(job->req.password, AUTHD_DUMMY_HASH);
		job->result = AUTHD_FAIL;
		job->reason = "no-such-account";
	} else if (!store_password_verify(job->req.password, hash)) {
		job->result = AUTHD_FAIL;
		job->reason = "bad-password";
	} else {
		job->result = AUTHD_OK;
		job->reason = "ok";
		char *name = authd_name(job->req.user);
		authd_scram_upgrade(ad, name, scram ? scram : "", job->req.password);
		free(name);
		authd_ticket_issue(job);
	}
	authd_secret_free(&hash);
	authd_secret_free(&scram);
	authd_shared_count(job);
}

/* authd_apikey_check - the password of user "apikey" is an API key: its
 * SHA-256 against its row's, in constant time (worker).  Whether its
 * account may log in (disabled, vanished) and whether its scopes allow
 * what is asked is the network process's business, as for passwords. */
static void authd_apikey_check(struct authd_job *job)
{
	char id[STORE_APIKEY_ID_LEN + 1], hash[65];
	struct store_apikey key = { 0 };
	const char *error = NULL;
	const char *password = job->req.password;
	int rc = STORE_NOT_FOUND;
	if (store_apikey_parse(password, strlen(password), id, hash))
		rc = store_apikey_get(job->ad->creds, id, &key, &error);
	if (rc < 0) {
		log_error("store-failed", "op=apikey_get error=\"%s\"", error);
		job->reason = "store-error";
	} else if (rc == STORE_NOT_FOUND || CRYPTO_memcmp(key.hash, hash, 64) != 0) {
		job->result = AUTHD_FAIL;
		job->reason = "bad-api-key";
	} else {
		job->result = AUTHD_OK;
		job->reason = "ok";
		job->apikey_account = xstrdup(key.account);
		job->apikey_scopes = xstrdup(key.scopes);
	}
	OPENSSL_cleanse(hash, sizeof(hash));
	store_apikey_clear(&key);
}

/* authd_apikey_admin_work - list, add or delete the keys of the account
 * the request names (worker) */
static void authd_apikey_admin_work(void *arg)
{
	struct authd_job *job = arg;
	struct authd_request *r = &job->req;
	struct store_apikey *keys = NULL;
	size_t n = 0;
	const char *error = NULL;
	if (!authd_job_begin(job))
		return;
	char *account = authd_name(r->user);
	int rc = store_apikey_list(job->ad->creds, account, &keys, &n, &error);
	if (rc == 0 && r->type == IPC_AUTH_APIKEY_LIST) {
		struct buf out;
		buf_init(&out);
		for (size_t i = 0; i < n; i++) {
			/* a name petrel apikey add gave may hold TAB or LF */
			for (char *c = keys[i].name; *c; c++)
				if ((unsigned char)*c < 0x20)
					*c = '?';
			buf_printf(&out, "%s\t%s\t%s\n", keys[i].id, keys[i].scopes, keys[i].name);
		}
		job->apikey_lines = out.data ? out.data : xstrdup("");
	} else if (rc == 0 && r->type == IPC_AUTH_APIKEY_ADD) {
		if (n >= job->ad->config->auth.apikeys_per_account) {
			job->result = AUTHD_FAIL;
			job->reason = "too-many-keys";
		} else {
			rc = store_apikey_create(job->ad->creds, account, r->apikey_name,
						 r->apikey_scopes, job->apikey_key, job->apikey_id,
						 &error);
		}
	} else if (rc == 0) {
		const struct store_apikey *owned = NULL;
		for (size_t i = 0; i < n; i++)
			if (strcmp(keys[i].id, r->apikey_id) == 0)
				owned = &keys[i];
		if (!owned) {
			job->result = AUTHD_FAIL;
			job->reason = "no-such-key";
		} else if (r->type == IPC_AUTH_APIKEY_DEL) {
			rc = store_apikey_remove(job->ad->creds, r->apikey_id, &error);
		} else {
			rc = store_apikey_update(job->ad->creds, r->apikey_id, r->apikey_name,
						 r->apikey_scopes, &error);
			/* the reply's: what the row holds now */
			job->apikey_scopes = xstrdup(r->apikey_scopes ? r->apikey_scopes
						     : owned->scopes);
		}
	}
	if (rc != 0) {
		log_error("store-failed", "op=apikey_admin type=%u error=\"%s\"",
			  (unsigned)r->type, error);
	} else if (job->result != AUTHD_FAIL) {
		job->result = AUTHD_OK;
		job->reason = "ok";
		log_info("auth-apikey", "op=%s account=%s%s%s",
			 r->type == IPC_AUTH_APIKEY_LIST ? "list" :
			 r->type == IPC_AUTH_APIKEY_ADD ? "add" :
			 r->type == IPC_AUTH_APIKEY_DEL ? "del" : "set", account,
			 r->type == IPC_AUTH_APIKEY_LIST ? "" : " id=",
			 r->type == IPC_AUTH_APIKEY_ADD ? job->apikey_id :
			 r->apikey_id ? r->apikey_id : "");
	}
	for (size_t i = 0; i < n; i++)
		store_apikey_clear(&keys[i]);
	free(keys);
	free(account);
}

/* authd_apikey_admin_done - the reply to an APIKEY_* request: never
 * counted by the throttle (loop) */
static void authd_apikey_admin_done(struct authd_job *job)
{
	struct authd *ad = job->ad;
	if (job->result == AUTHD_FAIL) {
		authd_reply_text(ad, job->id, IPC_R_FAIL, job->reason);
	} else if (job->result != AUTHD_OK) {
		authd_reply_text(ad, job->id, IPC_R_TEMPFAIL, job->reason);
	} else if (job->req.type == IPC_AUTH_APIKEY_LIST) {
		struct ipc_field f = { job->apikey_lines, strlen(job->apikey_lines) };
		ipc_server_reply(ad->server, job->id, IPC_R_OK, 1, &f);
	} else if (job->req.type == IPC_AUTH_APIKEY_ADD) {
		struct ipc_field f[4] = { ipc_text(job->apikey_id), ipc_text(job->apikey_key),
					  ipc_text(job->req.apikey_name),
					  ipc_text(job->req.apikey_scopes) };
		ipc_server_reply(ad->server, job->id, IPC_R_OK, 4, f);
	} else if (job->req.type == IPC_AUTH_APIKEY_SET) {
		struct ipc_field f[2] = { ipc_text(job->req.apikey_name),
					  ipc_text(job->apikey_scopes) };
		ipc_server_reply(ad->server, job->id, IPC_R_OK, 2, f);
	} else {
		ipc_server_reply(ad->server, job->id, IPC_R_OK, 0, NULL);
	}
}

/* authd_password_set_work - the request's account gets the hash and
 * SCRAM credentials of its password (worker) */
static void authd_password_set_work(void *arg)
{
	struct authd_job *job = arg;
	char *hash = NULL, *scram = NULL;
	const char *error = NULL;
	if (!authd_job_begin(job))
		return;
	char *account = authd_name(job->req.user);
	hash = store_password_hash(job->req.password, &error);
	if (hash)
		scram = store_scram_credentials(job->req.password,
						job->ad->config->auth.scram_iterations);
	if (!hash || !scram) {
		log_error("auth-password-set-failed", "account=%s error=\"%s\"", account,
			  error ? error : "cannot make SCRAM credentials");
		job->reason = "hash-failed";
	} else if (store_credentials_set(job->ad->creds, account, hash, scram, &error) != 0) {
		log_error("store-failed", "op=credentials_set error=\"%s\"", error);
	} else {
		job->result = AUTHD_OK;
		job->reason = "ok";
		log_info("auth-password-set", "account=%s", account);
	}
	authd_secret_free(&hash);
	authd_secret_free(&scram);
	free(account);
}

/* authd_scram_upgrade - new SCRAM credentials with [auth] scram_iterations
 * for account NAME, whose PASSWORD was just verified, if its own (OLD_SCRAM)
 * have fewer (none: it was imported with a foreign hash, and stays so); a
 * password changed meanwhile is never overwritten (compare and set) */
static void authd_scram_upgrade(struct authd *ad, const char *name, const char *old_scram,
				const char *password)
{
	unsigned iterations = ad->config->auth.scram_iterations;
	if (old_scram[0] == '\0' || strtoul(old_scram, NULL, 10) >= iterations)
		return;
	char *scram = store_scram_credentials(password, iterations);
	const char *error = NULL;
	bool replaced = false;
	if (!scram)
		log_error("scram-upgrade-failed", "account=%s error=\"cannot make credentials\"",
			  name);
	else if (store_credentials_scram_replace(ad->creds, name, old_scram, scram, &replaced,
						 &error) != 0)
		log_error("store-failed", "op=credentials_scram_replace error=\"%s\"", error);
	else if (replaced)
		log_info("scram-upgraded", "account=%s iterations=%u", name, iterations);
	authd_secret_free(&scram);
}

/* authd_scram_lookup - USER's SCRAM credentials, or made-up ones (reason
 * "no-such-account" or "no-scram-credentials") that no proof opens; NULL
 * with *error_r when the store failed (worker) */
static char *authd_scram_lookup(struct authd *ad, const char *user, const char **reason_r,
				bool *error_r)
{
	char *hash = NULL, *scram = NULL;
	const char *error = NULL;
	*error_r = false;
	int rc = store_credentials_get(ad->creds, user, &hash, &scram, &error);
	authd_secret_free(&hash);
	if (rc < 0) {
		log_error("store-failed", "op=credentials_get error=\"%s\"", error);
		*error_r = true;
		return NULL;
	}
	if (rc == 0 && scram && scram[0] != '\0') {
		*reason_r = "ok";
		return scram;
	}
	authd_secret_free(&scram);
	*reason_r = rc == STORE_NOT_FOUND ? "no-such-account" : "no-scram-credentials";
	return store_scram_fake_credentials(ad->secret, user, ad->config->auth.scram_iterations);
}

/* authd_scram_start_work - the iteration count and salt for USER (worker) */
static void authd_scram_start_work(void *arg)
{
	struct authd_job *job = arg;
	struct authd *ad = job->ad;
	struct store_scram keys;
	bool error = false;
	job->result = AUTHD_TEMPFAIL;
	job->reason = "store-error";
	if (atomic_load(&ad->stopping)) {
		job->reason = "stopping";
		return;
	}
	const char *reason = NULL;
	char *scram = authd_scram_lookup(ad, job->req.user, &reason, &error);
	if (scram && store_scram_parse(scram, &keys) == 0) {
		job->result = AUTHD_OK;
		job->iterations = keys.iterations;
		job->salt_len = keys.salt_len;
		memcpy(job->salt, keys.salt, keys.salt_len);
		store_scram_clear(&keys);
	} else if (scram) {
		log_error("scram-credentials-bad", "account=%s", job->req.user);
		job->reason = "bad-credentials";
	}
	authd_secret_free(&scram);
}

/* authd_scram_proof_work - check the ClientProof with USER's StoredKey and
 * make the ServerSignature with its ServerKey (worker) */
static void authd_scram_proof_work(void *arg)
{
	struct authd_job *job = arg;
	struct authd *ad = job->ad;
	struct store_scram keys;
	bool error = false;
	const char *reason = NULL;
	if (!authd_job_begin(job))
		return;
	char *scram = authd_scram_lookup(ad, job->req.user, &reason, &error);
	if (scram && store_scram_parse(scram, &keys) == 0) {
		/* made-up credentials are checked as well: the same work */
		int rc = store_scram_proof_check(&keys, job->req.auth_message,
						 job->req.auth_message_len, job->req.proof,
						 job->signature);
		if (rc == 0 && strcmp(reason, "ok") == 0) {
			job->result = AUTHD_OK;
			job->reason = "ok";
			authd_ticket_issue(job);
		} else if (rc >= 0) {
			job->result = AUTHD_FAIL;
			job->reason = strcmp(reason, "ok") == 0 ? "bad-password" : reason;
		} else {
			job->reason = "crypto-error";
		}
		store_scram_clear(&keys);
	} else if (scram) {
		log_error("scram-credentials-bad", "account=%s", job->req.user);
		job->reason = "bad-credentials";
	}
	if (job->result != AUTHD_OK)
		OPENSSL_cleanse(job->signature, sizeof(job->signature));
	authd_secret_free(&scram);
	authd_shared_count(job);
}

/* authd_ticket_issue - with a cluster secret, a ticket for the account of
 * JOB, whose password or proof was just found right (worker) */
static void authd_ticket_issue(struct authd_job *job)
{
	struct authd *ad = job->ad;
	if (!ad->ticket_secret)
		return;
	char *name = authd_name(job->req.user);
	time_t expiry = time(NULL) + (time_t)ad->config->cluster.ticket_lifetime;
	authd_ticket_make((const unsigned char *)ad->ticket_secret, ad->ticket_secret_len, name,
			  ad->config->node, expiry, job->ticket);
	free(name);
}

/* authd_ticket_work - another node's ticket for ACCOUNT: from [cluster]
 * from, made with the secret, not expired, and the account has
 * credentials still (a removed account's tickets open nothing; a disabled
 * one's the network process refuses, as for a password) (worker) */
static void authd_ticket_work(void *arg)
{
	struct authd_job *job = arg;
	struct authd *ad = job->ad;
	const struct config_cluster *cluster = &ad->config->cluster;
	const char *error = NULL;
	struct authd_ticket t;
	char *hash = NULL, *scram = NULL;
	if (!authd_job_begin(job))
		return;
	job->result = AUTHD_FAIL;
	if (!ad->ticket_secret) {
		job->reason = "no-cluster-secret";
	} else if (!net_address_in_networks((const struct sockaddr *)&job->req.addr, cluster->from,
					    cluster->from_count)) {
		job->reason = "ticket-not-from-cluster";
	} else if (authd_ticket_check((const unsigned char *)ad->ticket_secret,
				      ad->ticket_secret_len, job->req.user, job->req.password,
				      strlen(job->req.password), time(NULL), &t,
				      &job->reason) == 0) {
		int rc = store_credentials_get(ad->creds, job->req.user, &hash, &scram, &error);
		if (rc < 0) {
			log_error("store-failed", "op=credentials_get error=\"%s\"", error);
			job->result = AUTHD_TEMPFAIL;
			job->reason = "store-error";
		} else if (rc == STORE_NOT_FOUND) {
			job->reason = "no-such-account";
		} else {
			job->result = AUTHD_OK;
			job->reason = "ok";
			log_debug("ticket-accepted", "account=%s node=%s client=%s", job->req.user,
				  t.node, job->req.client);
		}
	}
	authd_secret_free(&hash);
	authd_secret_free(&scram);
	authd_shared_count(job);
}

/* authd_ticket_secret_load - [cluster] secret_file, read now (as root,
 * before this process is confined to its folder), by the rules of [srs]
 * secret_file: its first line, 16..1024 bytes, mode 0600; 0, or -1 (said) */
static int authd_ticket_secret_load(struct authd *ad)
{
	const char *path = ad->config->cluster.secret_file;
	const char *error = NULL;
	if (!path || path[0] == '\0')
		return 0;
	if (srs_secret_load(path, ad->config->data_dir, &ad->ticket_secret,
			    &ad->ticket_secret_len, &error) != 0) {
		fprintf(stderr, "petrel: auth: [cluster] secret_file: %s\n", error);
		return -1;
	}
	return 0;
}

/* ---- answers (loop) ---------------------------------------------------------------- */

/* authd_reply_failed - count the failure; R_FAIL with the delay and the end
 * of a lockout it begins.  With the shared throttle the count of every node
 * decides too: the longer delay, and its lockout (remembered here, so that
 * the next try is refused before it reaches a worker) */
static void authd_reply_failed(struct authd *ad, const struct authd_job *job)
{
	time_t now = time(NULL), until = 0;
	const struct sockaddr *sa = (const struct sockaddr *)&job->req.addr;
	unsigned delay = policy_throttle_auth_failed(ad->throttle, sa, now);
	unsigned shared_delay = policy_throttle_delay(ad->throttle, job->shared_failures);
	if (shared_delay > delay)
		delay = shared_delay;
	if (job->locked_until > now)
		policy_throttle_lock(ad->throttle, sa, now, job->locked_until);
	if (policy_throttle_is_locked(ad->throttle, sa, now, &until))
		log_info("auth-lockout", "client=%s until=%lld shared_failures=%u", job->req.client,
			 (long long)until, job->shared_failures);
	else
		until = 0;
	unsigned char b1[8], b2[8];
	struct ipc_field f[3] = { ipc_text(job->reason), ipc_u32(delay, b1),
				  ipc_u64((uint64_t)until, b2) };
	ipc_server_reply(ad->server, job->id, IPC_R_FAIL, 3, f);
}

/* authd_reply_locked - R_LOCKED: the shared throttle's lockout, remembered
 * here for the next tries */
static void authd_reply_locked(struct authd *ad, const struct authd_job *job)
{
	time_t now = time(NULL);
	policy_throttle_lock(ad->throttle, (const struct sockaddr *)&job->req.addr, now,
			     job->locked_until);
	unsigned char b[8];
	struct ipc_field f = ipc_u64((uint64_t)job->locked_until, b);
	log_info("auth-locked", "client=%s until=%lld shared=yes", job->req.client,
		 (long long)job->locked_until);
	ipc_server_reply(ad->server, job->id, IPC_R_LOCKED, 1, &f);
}

/* authd_job_done - back on the loop: the reply to the request, exactly once */
static void authd_job_done(void *arg)
{
	struct authd_job *job = arg;
	struct authd *ad = job->ad;
	log_debug("auth-checked", "type=%u id=%u result=%s", (unsigned)job->req.type,
		  (unsigned)job->id, job->reason);
	if (job->req.type >= IPC_AUTH_APIKEY_LIST && job->req.type <= IPC_AUTH_APIKEY_SET) {
		authd_apikey_admin_done(job);
	} else if (job->result == AUTHD_TEMPFAIL) {
		authd_reply_text(ad, job->id, IPC_R_TEMPFAIL, job->reason);
	} else if (job->result == AUTHD_FAIL) {
		authd_reply_failed(ad, job);
	} else if (job->result == AUTHD_LOCKED) {
		authd_reply_locked(ad, job);
	} else if (job->req.type == IPC_AUTH_PASSWORD_SET) {
		char *name = authd_name(job->req.user);
		authd_reply_text(ad, job->id, IPC_R_OK, name);
		free(name);
	} else if (job->req.type == IPC_AUTH_SCRAM_START) {
		unsigned char b[8];
		struct ipc_field f[2] = { ipc_u32(job->iterations, b),
					  { job->salt, job->salt_len } };
		ipc_server_reply(ad->server, job->id, IPC_R_OK, 2, f);
	} else if (job->apikey_account) {
		/* an API key: its account and scopes */
		struct ipc_field f[2] = { ipc_text(job->apikey_account),
					  ipc_text(job->apikey_scopes) };
		ipc_server_reply(ad->server, job->id, IPC_R_OK, 2, f);
	} else if (job->req.type == IPC_AUTH_SCRAM_PROOF) {
		/* name, ServerSignature [, ticket] */
		char *name = authd_name(job->req.user);
		struct ipc_field f[3] = { ipc_text(name), { job->signature, AUTHD_PROOF_LEN },
					  ipc_text(job->ticket) };
		ipc_server_reply(ad->server, job->id, IPC_R_OK, job->ticket[0] ? 3 : 2, f);
		free(name);
	} else {
		/* PASSWORD: name [, "", ticket]; TICKET: name */
		char *name = authd_name(job->req.user);
		struct ipc_field f[3] = { ipc_text(name), { "", 0 }, ipc_text(job->ticket) };
		ipc_server_reply(ad->server, job->id, IPC_R_OK, job->ticket[0] ? 3 : 1, f);
		free(name);
	}
	authd_job_free(job);
}

static void authd_job_free(struct authd_job *job)
{
	authd_request_clear(&job->req);
	OPENSSL_cleanse(job->signature, sizeof(job->signature));
	OPENSSL_cleanse(job->ticket, sizeof(job->ticket));
	free(job->apikey_account);
	free(job->apikey_scopes);
	free(job->apikey_lines);
	OPENSSL_cleanse(job->apikey_key, sizeof(job->apikey_key));
	free(job);
}

/* authd_closed_cb - EOF or a malformed frame from the network process */
static void authd_closed_cb(void *ctx)
{
	struct authd *ad = ctx;
	log_info("auth-channel-closed", "pending=%u",
		 pool_pending(ad->hash_pool) + pool_pending(ad->lookup_pool));
	atomic_store(&ad->stopping, true);
	event_base_loopexit(ad->base, NULL);
}

static void authd_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct authd *ad = arg;
	(void)what;
	log_info("auth-stopping", "signal=%d", (int)sig);
	atomic_store(&ad->stopping, true);
	event_base_loopexit(ad->base, NULL);
}

/* authd_dir_confine - DATA_DIR/auth is the auth user's (privsep_dir_check)
 * before anything in it is opened as root, and from then on this process
 * reaches files only beneath that very folder (privsep_confine): a folder
 * the network process's user swaps in for it later is out of reach.  The
 * supervisor makes the folder at start; a missing one is an error (the
 * supervisor tries again later). */
static int authd_dir_confine(const struct config *config)
{
	char *dir = xasprintf("%s/auth", config->data_dir);
	int ret = -1;
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0) {
		fprintf(stderr, "petrel: auth: %s: %s\n", dir, strerror(errno));
		goto out;
	}
	if (privsep_dir_check(config, PRIVSEP_AUTH, dfd, dir) != 0)
		goto out;
	int rc = privsep_confine(PRIVSEP_AUTH, dfd, dir);
	if (rc < 0)
		goto out;
	if (rc > 0)
		log_warn("landlock-unavailable", "process=auth path=%s reason=\"the kernel has "
			 "no Landlock: the auth folder is guarded by its owner and mode only\"",
			 dir);
	ret = 0;
out:
	if (dfd >= 0 && close(dfd) != 0)
		fprintf(stderr, "petrel: auth: %s: %s\n", dir, strerror(errno));
	free(dir);
	return ret;
}

int authd_main(const struct config *config, int fd)
{
	struct authd ad = { .config = config };
	struct event *sigterm = NULL;
	const char *error = NULL;
	int rc = 1;

	atomic_init(&ad.stopping, false);
	signal(SIGINT, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	if (authd_ticket_secret_load(&ad) != 0 || authd_dir_confine(config) != 0)
		goto out;
	/* PostgreSQL ([store] credentials_url): the first connection now, the
	 * others on the workers when they need them (and again after an outage) */
	const struct store_settings cs = {
		.data_dir = config->data_dir,
		.url = config->store.credentials_url[0] != '\0' ? config->store.credentials_url : NULL,
		.statement_timeout = config->store.statement_timeout,
		.connections = config->store.connections,
	};
	ad.creds = store_credentials_open_settings(&cs, &error);
	if (!ad.creds) {
		fprintf(stderr, "petrel: auth: credentials: %s\n", error);
		goto out;
	}
	if (store_auth_secret_load(config->data_dir, ad.secret, &error) != 0) {
		fprintf(stderr, "petrel: auth: %s\n", error);
		goto out;
	}
	if (privsep_drop(config, PRIVSEP_AUTH) != 0)
		goto out;
	/* threads are made before the filter: it then allows no clone */
	if (log_async_start(config->log_buffer) != 0)
		fputs("petrel: auth: cannot start the log thread; logging directly\n", stderr);
	ad.base = event_base_new();
	if (!ad.base) {
		fputs("petrel: auth: cannot create the event loop\n", stderr);
		goto out;
	}
	/* Password hashing gets niced threads, so that a flood of AUTH
	 * attempts takes CPU from the network process last. */
	ad.hash_pool = pool_create_niced(ad.base, config->auth.hash_workers, 10);
	ad.lookup_pool = pool_create(ad.base, 1);
	struct policy_throttle_settings ts;
	policy_throttle_settings_load(config, &ts);
	ts.connect_rate = 0;   /* the network process counts connections */
	ad.throttle = policy_throttle_create(&ts);
	/* in PostgreSQL the credentials keep every node's failures as well */
	ad.shared = store_credentials_shares_failures(ad.creds);
	ad.limits = (struct store_auth_throttle){
		.lockout_after = ts.auth_lockout_after,
		.window = ts.auth_window,
		.lockout_time = ts.lockout_time,
	};
	sigterm = evsignal_new(ad.base, SIGTERM, authd_signal_cb, &ad);
	if (!sigterm || event_add(sigterm, NULL) != 0) {
		fputs("petrel: auth: cannot watch SIGTERM\n", stderr);
		goto out;
	}
	ad.server = ipc_server_create(ad.base, "auth", fd, authd_request_cb, authd_closed_cb, &ad);
	fd = -1;
	if (privsep_sandbox(PRIVSEP_AUTH, cs.url ? PRIVSEP_SANDBOX_DATABASE : 0) != 0)
		goto out;
	log_info("auth-ready", "hash_workers=%u hash_queue=%u", config->auth.hash_workers,
		 config->auth.hash_queue);
	if (event_base_dispatch(ad.base) != 0) {
		fputs("petrel: auth: event loop failed\n", stderr);
		goto out;
	}
	rc = 0;
out:
	/* queued checks are skipped (stopping); their answers go nowhere */
	atomic_store(&ad.stopping, true);
	pool_free(&ad.hash_pool);
	pool_free(&ad.lookup_pool);
	ipc_server_free(&ad.server);
	if (fd >= 0 && close(fd) != 0)
		log_warn("close-failed", "what=auth-channel error=\"%s\"", strerror(errno));
	if (sigterm)
		event_free(sigterm);
	/* finishing: the supervisor's SIGTERM must not turn the exit into a
	 * signal death now that the event gave SIGTERM its default back */
	signal(SIGTERM, SIG_IGN);
	policy_throttle_free(&ad.throttle);
	if (ad.base)
		event_base_free(ad.base);
	store_credentials_close(&ad.creds);
	OPENSSL_cleanse(ad.secret, sizeof(ad.secret));
	if (ad.ticket_secret) {
		OPENSSL_cleanse(ad.ticket_secret, ad.ticket_secret_len);
		free(ad.ticket_secret);
	}
	(void)log_async_stop(2000);
	return rc;
}
