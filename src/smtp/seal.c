/* smtp/seal - ARC sealing (RFC 8617 5.1) of mail that an alias forwards to
 * another domain, once the receiving checks (verify.c) have decided to
 * accept it: the set records our Authentication-Results, signs the message
 * and seals the chain with [auth] arc_seal_key, the key the keys process
 * holds as DATA_DIR/dkim/ID.pem: an id SELECTOR._domainkey.DOMAIN (what
 * `petrel dkim keygen` makes) signs with s=SELECTOR d=DOMAIN, any other id
 * with s=ID d=the hostname.
 *
 * The steps, the session reading nothing meanwhile: the message signature's
 * hashing on the pool, its digest signed by the keys process over IPC, the
 * seal's digest (header fields only) on the loop, signed the same way; the
 * three fields go on top of the message and it is submitted.  Anything that
 * fails (the keys process down or without the key, no From field) leaves
 * the message unsealed, logged as arc-seal-failed: sealing never loses mail.
 * The struct lives in the transaction's checks (smtp_verify) and is freed
 * with them, which cancels a signature still asked for.
 */
#include "smtp/session.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/config.h"
#include "ipc/ipc.h"
#include "keysd/keysd.h"
#include "mailauth/mailauth.h"
#include "util/log.h"
#include "util/xalloc.h"

struct smtp_seal {
	struct smtp_session *s;
	struct arc_seal *seal;
	uint32_t call;              /* the signature asked for (0: none) */
	bool sealing;               /* the second call: the seal's */
};

struct seal_job {
	struct smtp_job job;
	struct buf body;            /* moved from the session, and back */
	struct arc_seal *seal;      /* the smtp_seal's, while the job runs */
	unsigned char digest[DKIM_SIGN_DIGEST_LEN];
	const char *error;
};

static void seal_work(struct smtp_job *job);
static void seal_job_done(struct smtp_session *s, struct smtp_job *job);
static void seal_job_free(struct smtp_job *job);
static void seal_sign(struct smtp_seal *z, const unsigned char digest[DKIM_SIGN_DIGEST_LEN]);
static void seal_reply(void *ctx, const struct ipc_msg *reply);
static void seal_give_up(struct smtp_seal *z, const char *why);

bool smtp_seal_start(struct smtp_session *s, const struct buf *ar_field,
		     const struct arc_outcome *chain, struct smtp_seal **slot)
{
	const char *key = s->config->auth.arc_seal_key;
	if (!s->forwarded || !key || !key[0] || !s->server->keys || !ar_field->data)
		return false;
	/* our field's value: after "Authentication-Results: ", without its CRLF */
	const char *colon = memchr(ar_field->data, ':', ar_field->len);
	if (!colon)
		return false;
	const char *value = colon + 1;
	size_t len = (size_t)(ar_field->data + ar_field->len - value);
	while (len > 0 && (*value == ' ' || *value == '\t')) {
		value++;
		len--;
	}
	while (len > 0 && (value[len - 1] == '\r' || value[len - 1] == '\n'))
		len--;
	char *results = xstrndup(value, len);
	/* SELECTOR._domainkey.DOMAIN names both; else the id is the selector */
	const char *mark = strstr(key, "._domainkey.");
	char *selector = mark && mark > key && mark[12] ? xstrndup(key, (size_t)(mark - key)) :
		xstrdup(key);
	struct arc_seal_params params = {
		.domain = mark && mark > key && mark[12] ? mark + 12 : s->config->hostname,
		.selector = selector,
		.timestamp = (long long)time(NULL),
	};
	const char *error = NULL;
	struct arc_seal *seal = arc_seal_new(&params, chain, results, &error);
	free(results);
	free(selector);
	if (!seal) {
		log_warn("arc-seal-failed", "session=%s reason=\"%s\"", s->sid, error);
		return false;
	}
	struct smtp_seal *z = xcalloc(1, sizeof(*z));
	z->s = s;
	z->seal = seal;
	*slot = z;
	struct seal_job *j = xcalloc(1, sizeof(*j));
	j->job.work = seal_work;
	j->job.done = seal_job_done;
	j->job.free = seal_job_free;
	j->body = s->body;
	buf_init(&s->body);
	j->seal = seal;
	z->seal = NULL;
	smtp_session_async(s, &j->job);
	return true;
}

/* seal_work - on a worker: the message signature's hashing */
static void seal_work(struct smtp_job *job)
{
	struct seal_job *j = (struct seal_job *)job;
	arc_seal_feed(j->seal, j->body.data ? j->body.data : "", j->body.len);
	if (arc_seal_message_digest(j->seal, j->digest, &j->error) != 0 && !j->error)
		j->error = "no digest";
}

static void seal_job_done(struct smtp_session *s, struct smtp_job *job)
{
	struct seal_job *j = (struct seal_job *)job;
	buf_free(&s->body);
	s->body = j->body;
	buf_init(&j->body);
	s->waiting = true;  /* until the message is submitted */
	struct smtp_seal *z = smtp_verify_seal(s->verify);
	if (!z)
		return;  /* cannot be: the transaction waited */
	z->seal = j->seal;
	j->seal = NULL;
	if (j->error) {
		seal_give_up(z, j->error);
		return;
	}
	seal_sign(z, j->digest);
}

static void seal_job_free(struct smtp_job *job)
{
	struct seal_job *j = (struct seal_job *)job;
	buf_free(&j->body);
	arc_seal_free(&j->seal);
	free(j);
}

/* seal_sign - ask the keys process for DIGEST's signature */
static void seal_sign(struct smtp_seal *z, const unsigned char digest[DKIM_SIGN_DIGEST_LEN])
{
	struct ipc_field f[3] = {
		ipc_text(z->s->config->auth.arc_seal_key), ipc_text(KEYSD_ALG_RSA),
		{ digest, DKIM_SIGN_DIGEST_LEN },
	};
	z->call = ipc_client_call(z->s->server->keys, IPC_KEYS_SIGN, 3, f, seal_reply, z);
}

/* seal_reply - a signature from the keys process (NULL: none came) */
static void seal_reply(void *ctx, const struct ipc_msg *reply)
{
	struct smtp_seal *z = ctx;
	z->call = 0;
	if (!reply || reply->type != IPC_R_OK || reply->count != 1 ||
	    reply->field[0].len == 0 || reply->field[0].len > KEYSD_SIG_MAX) {
		char *reason = NULL;
		if (reply && (reply->type == IPC_R_FAIL || reply->type == IPC_R_BAD))
			(void)ipc_field_text(reply, 0, 150, &reason);
		char text[200];
		snprintf(text, sizeof(text), "the keys process did not sign: %s",
			 reason ? reason : reply ? "unexpected answer" : "no answer");
		free(reason);
		seal_give_up(z, text);
		return;
	}
	const struct ipc_field *sig = &reply->field[0];
	struct smtp_session *s = z->s;
	if (!z->sealing) {
		arc_seal_message_signed(z->seal, sig->data, sig->len);
		unsigned char digest[DKIM_SIGN_DIGEST_LEN];
		const char *error = NULL;
		if (arc_seal_seal_digest(z->seal, (long long)time(NULL), digest, &error) != 0) {
			seal_give_up(z, error);
			return;
		}
		z->sealing = true;
		seal_sign(z, digest);
		return;
	}
	char *fields = arc_seal_fields(z->seal, sig->data, sig->len);
	struct buf body;
	buf_init(&body);
	buf_append_str(&body, fields);
	buf_append(&body, s->body.data ? s->body.data : "", s->body.len);
	free(fields);
	buf_free(&s->body);
	s->body = body;
	log_info("arc-sealed", "session=%s key=%s", s->sid, s->config->auth.arc_seal_key);
	smtp_message_submit(s);
}

/* seal_give_up - deliver without the ARC set */
static void seal_give_up(struct smtp_seal *z, const char *why)
{
	char text[300];
	log_escape(text, sizeof(text), why, strlen(why));
	log_warn("arc-seal-failed", "session=%s key=%s reason=\"%s\"", z->s->sid,
		 z->s->config->auth.arc_seal_key, text);
	smtp_message_submit(z->s);
}

void smtp_seal_free(struct smtp_seal **seal)
{
	struct smtp_seal *z = *seal;
	if (!z)
		return;
	*seal = NULL;
	if (z->call)
		ipc_client_cancel(z->s->server->keys, z->call);
	arc_seal_free(&z->seal);
	free(z);
}
