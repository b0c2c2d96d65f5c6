/* smtp/verify - the receiving checks of mail that arrives on an mx listener
 * without AUTH (unless the listener has receiving_checks = off): SPF at
 * MAIL FROM, DKIM and DMARC at the end of the data, the
 * Authentication-Results field (RFC 8601) and the DMARC policy.  With the
 * checks off only one step is left, smtp_verify_strip: the incoming fields
 * that claim our authserv-id go.
 *
 * One struct smtp_verify per transaction (s->verify), made at MAIL FROM
 * and freed with the transaction (smtp_session_transaction_reset), which
 * cancels every lookup still out: no callback reaches a freed transaction,
 * so the callbacks here hold a plain pointer to their session.
 *
 * The steps:
 * - MAIL FROM: SPF (RFC 7208) of the MAIL FROM identity, or for a null
 *   sender of postmaster@HELO (2.4), on the loop, and beside it that of the
 *   HELO identity (2.3, recorded only); the results wait in the
 *   transaction.  With [auth] spf_reject MAIL's reply waits for it and a
 *   fail gets 550 5.7.23 (RFC 7372 3.2, RFC 7208 8.4).
 * - End of data (the session reads nothing meanwhile): a pool job feeds the
 *   message to the DKIM verifier (the hashing), finds the From domain and
 *   drops Authentication-Results fields that claim our authserv-id (RFC
 *   8601 5; the DKIM verifier saw them first, since a signature may cover
 *   them).  Back on the loop the DKIM keys and the DMARC record are looked
 *   up at once; once every key is in, a second pool job checks the
 *   signatures (the public-key operations: defer_checks).
 * - The ARC chain (RFC 8617) is validated beside DKIM, its keys looked up
 *   with DKIM's; a valid chain sealed by one of [auth] arc_trusted_forwarders
 *   overrides a DMARC fail (the disposition becomes none, "override arc").
 * - Once SPF, DKIM, ARC and DMARC discovery are all in: DMARC is evaluated
 *   (RFC 7489 6.6), verify_results_known is the one place where what acts
 *   on the results plugs in, the Authentication-Results field is written,
 *   and the disposition applied: reject is 550 5.7.1 at the end of the
 *   data (RFC 7489 6.3 p=reject: during the SMTP transaction; X.7.1 is RFC
 *   3463 3.8's "delivery not authorized"), quarantine goes to the
 *   recipients' Junk folder, none is delivered.
 * Temporary DNS failures never refuse mail: they are recorded (temperror)
 * and the message is accepted, which RFC 7208 8.6 and RFC 7489 6.6.3 leave
 * to the receiver.
 */
#include "smtp/session.h"

#include <assert.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "config/config.h"
#include "message/message.h"
#include "queue/queue.h"
#include "reports/reports.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/xalloc.h"

#define AR_FIELD "Authentication-Results"
#define AR_TEXT_MAX 200         /* a reason or identity written, bytes at most */
#define HEADER_B_CHARS 8        /* header.b: the first 8 characters (RFC 6008 4) */
#define LOG_VALUE_MAX 300       /* a peer's text in the log, escaped and quoted */

/* one SPF check and its outcome */
struct verify_spf {
	struct smtp_verify *v;
	struct spf_request *request;  /* NULL once done (or never started) */
	bool done;
	enum spf_result result;
	char *problem, *mechanism, *explanation;
};

struct smtp_verify {
	struct smtp_session *s;

	/* SPF, from MAIL FROM on: the MAIL FROM identity (postmaster@HELO for a
	 * null sender), and the HELO identity on its own (RFC 7208 2.3) when
	 * the sender is not null */
	struct verify_spf spf, helo;
	bool mail_waiting;          /* spf_reject: MAIL's reply waits for SPF */
	char *spf_identity, *spf_domain;
	char identity_log[LOG_VALUE_MAX];  /* spf_identity escaped for the log */

	/* the message, from the end of the data on */
	bool message_in;            /* the pool job is back */
	struct dkim_verify *dkim;
	struct dkim_key_lookup *dkim_lookup;
	bool dkim_done;
	char *from_domain;
	const char *from_problem;
	bool from_ambiguous;        /* several From fields, or addresses in several domains */
	struct dmarc_request *dmarc_request;
	struct dmarc_discovery *dmarc;
	bool dmarc_done;
	struct arc_verify *arc;     /* the ARC chain (RFC 8617) */
	struct smtp_seal *seal;     /* our ARC set on forwarded mail (seal.c) */
	struct dkim_key_lookup *arc_lookup;
	bool arc_done;
	/* the signatures checked on the pool (DKIM's and ARC's verifiers are
	 * the job's while it runs) */
	bool checks_started, checks_done;
	size_t removed;             /* Authentication-Results fields of ours removed */

	/* the outcome */
	bool decided;
	struct smtp_auth_results results;
	struct dmarc_dkim_input *dkim_inputs;
	struct buf header;          /* our Authentication-Results field */
};

/* the public-key checks, once every key is in */
struct verify_check_job {
	struct smtp_job job;
	struct dkim_verify *dkim;
	struct arc_verify *arc;
};

struct verify_job {
	struct smtp_job job;
	struct buf body;            /* moved from the session, and back */
	struct dkim_verify_settings settings;
	char *authserv_id;
	struct dkim_verify *dkim;
	struct arc_verify *arc;
	char *from_domain;
	const char *from_problem;
	bool from_ambiguous;
	size_t removed;
};

static void verify_spf_start(struct smtp_session *s, struct verify_spf *c, const char *sender);
static void verify_spf_done(void *ctx, const struct spf_outcome *outcome);
static void verify_spf_clear(struct verify_spf *c);
static void verify_mail_reply(struct smtp_session *s, struct smtp_verify *v);
static struct verify_job *verify_job_new(struct smtp_session *s,
					 void (*work)(struct smtp_job *job),
					 void (*done)(struct smtp_session *s, struct smtp_job *job));
static void verify_work(struct smtp_job *job);
static void verify_scan_header(struct verify_job *j);
static void verify_from_domain(struct verify_job *j, const char *field, size_t len);
static void verify_job_done(struct smtp_session *s, struct smtp_job *job);
static void verify_job_free(struct smtp_job *job);
static void verify_dkim_done(void *ctx);
static void verify_checks_start(struct smtp_verify *v);
static void verify_check_work(struct smtp_job *job);
static void verify_check_job_done(struct smtp_session *s, struct smtp_job *job);
static void verify_check_job_free(struct smtp_job *job);
static void verify_arc_done(void *ctx);
static bool arc_is_trusted(const char *list, const char *sealer);
static void verify_dmarc_done(void *ctx, struct dmarc_discovery *discovery);
static void verify_check_ready(struct smtp_verify *v);
static void verify_decide(struct smtp_verify *v);
static void verify_results_known(struct smtp_session *s, struct smtp_verify *v);
static void verify_record_evaluation(struct smtp_session *s, const struct smtp_auth_results *r);
static void verify_refuse(struct smtp_session *s, const char *text);
static void verify_write_header(struct smtp_verify *v);
static bool is_token(const char *text);
static void ar_quoted(struct buf *out, const char *text);
static void ar_value(struct buf *out, const char *text);
static void ar_reason(struct buf *out, const char *reason);
static bool is_atext_address(const char *address);
static char *text_clean(const char *text);

/* ---- MAIL FROM: SPF ------------------------------------------------------------ */

bool smtp_verify_mail(struct smtp_session *s)
{
	if (s->account || s->listener->role != LISTENER_ROLE_MX ||
	    !s->listener->receiving_checks || !s->server->dns || !s->server->psl)
		return false;
	smtp_verify_free(&s->verify);
	struct smtp_verify *v = xcalloc(1, sizeof(*v));
	v->s = s;
	buf_init(&v->header);
	s->verify = v;

	/* RFC 7208 2.4: a null sender is checked as postmaster@HELO */
	const char *sender = s->from.address ? s->from.address : "";
	const char *at = strrchr(sender, '@');
	if (sender[0] != '\0' && at) {
		v->spf_identity = xstrdup(sender);
		v->spf_domain = xstrdup(at + 1);
	} else {
		v->spf_identity = xstrdup(s->helo ? s->helo : "");
		v->spf_domain = xstrdup(v->spf_identity);
		v->results.spf_helo = true;
	}
	log_escape(v->identity_log, sizeof(v->identity_log), v->spf_identity,
		   strlen(v->spf_identity));
	verify_spf_start(s, &v->spf, sender);
	if (!v->results.spf_helo)
		verify_spf_start(s, &v->helo, "");  /* "": the HELO identity */
	else
		v->helo.done = true;
	if (!s->config->auth.spf_reject)
		return false;
	v->mail_waiting = true;
	s->waiting = true;
	return true;
}

/* verify_spf_start - the check C of SENDER ("" for the HELO identity) */
static void verify_spf_start(struct smtp_session *s, struct verify_spf *c, const char *sender)
{
	struct spf_params params = {
		.ip = s->client,
		.sender = sender,
		.helo = s->helo,
		.receiver = s->config->hostname,
		.now = (long long)time(NULL),
		.void_lookups_max = s->config->auth.spf_void_lookups,
		.timeout_ms = s->config->auth.spf_timeout * 1000u,
	};
	c->v = s->verify;
	c->request = spf_request_start(s->server->base, s->server->dns, &params,
				       verify_spf_done, c);
}

/* verify_spf_done - an SPF outcome (RFC 7208 2.6), kept for the end of data */
static void verify_spf_done(void *ctx, const struct spf_outcome *outcome)
{
	struct verify_spf *c = ctx;
	struct smtp_verify *v = c->v;
	c->request = NULL;
	c->done = true;
	c->result = outcome->result;
	c->problem = outcome->problem ? xstrdup(outcome->problem) : NULL;
	c->mechanism = outcome->mechanism ? text_clean(outcome->mechanism) : NULL;
	c->explanation = outcome->explanation ? text_clean(outcome->explanation) : NULL;
	char mechanism[LOG_VALUE_MAX];
	log_escape(mechanism, sizeof(mechanism), c->mechanism ? c->mechanism : "",
		   c->mechanism ? strlen(c->mechanism) : 0);
	log_debug("spf", "session=%s identity=%s result=%s mechanism=%s lookups=%u",
		  v->s->sid, c == &v->helo ? "helo" : v->identity_log,
		  spf_result_name(c->result), mechanism, outcome->lookups);
	if (c == &v->spf && v->mail_waiting) {
		verify_mail_reply(v->s, v);
		return;
	}
	verify_check_ready(v);
}

/* verify_mail_reply - [auth] spf_reject: MAIL's answer, SPF being known */
static void verify_mail_reply(struct smtp_session *s, struct smtp_verify *v)
{
	v->mail_waiting = false;
	s->waiting = false;
	if (v->spf.result == SPF_RESULT_FAIL) {
		/* RFC 7208 8.4: the explanation goes into the reply when there is one */
		const char *why = v->spf.explanation ? v->spf.explanation : "sender not permitted";
		char text[AR_TEXT_MAX + 80];
		snprintf(text, sizeof(text), "SPF check failed for %s: %s", v->spf_domain, why);
		log_info("rejected", "session=%s client=%s sender=%s code=550 reason=spf-fail",
			 s->sid, s->client, v->identity_log);
		smtp_session_event(s, "rejected", NULL, NULL, 550, text);
		smtp_session_reply(s, "550 5.7.23 %s", text);
		smtp_session_count_error(s);
		smtp_session_transaction_reset(s);  /* frees v */
	} else {
		smtp_session_reply(s, "250 2.1.0 Ok");
	}
	smtp_session_process_input(s);
}

/* ---- end of data: the message on the pool ------------------------------------------ */

/* verify_job_new - a job for the pool (WORK there, DONE back on the loop)
 * that takes S's message body and the authserv-id */
static struct verify_job *verify_job_new(struct smtp_session *s,
					 void (*work)(struct smtp_job *job),
					 void (*done)(struct smtp_session *s, struct smtp_job *job))
{
	struct verify_job *j = xcalloc(1, sizeof(*j));
	j->job.work = work;
	j->job.done = done;
	j->job.free = verify_job_free;
	j->body = s->body;   /* moved: the session keeps none of it meanwhile */
	buf_init(&s->body);
	j->authserv_id = xstrdup(s->config->auth.authserv_id);
	return j;
}

void smtp_verify_message(struct smtp_session *s)
{
	struct verify_job *j = verify_job_new(s, verify_work, verify_job_done);
	j->settings = (struct dkim_verify_settings){
		.max_signatures = s->config->dkim.verify_signatures,
		.max_header_size = s->config->dkim.verify_header_size,
		.now = (long long)time(NULL),
		.defer_checks = true,  /* on the pool too (verify_checks_start) */
	};
	smtp_session_async(s, &j->job);
}

/* verify_work - on a worker: DKIM's hashing, the From domain, our
 * Authentication-Results fields removed */
static void verify_work(struct smtp_job *job)
{
	struct verify_job *j = (struct verify_job *)job;
	j->dkim = dkim_verify_create(&j->settings);
	dkim_verify_feed(j->dkim, j->body.data, j->body.len);
	dkim_verify_finish(j->dkim);
	/* the chain as it came, before our own fields go */
	j->arc = arc_verify_create(&j->settings);
	arc_verify_feed(j->arc, j->body.data, j->body.len);
	arc_verify_finish(j->arc);
	verify_scan_header(j);
}

/* struct header_scan - what header_scan found */
struct header_scan {
	const char *from;           /* the last From field's value, in the body */
	size_t from_len, from_count;
	size_t removed;             /* Authentication-Results fields cut out */
	struct buf out;             /* the body without them, when REMOVED > 0 */
};

/* header_scan - one pass over BODY's whole header section (no field limit,
 * so nothing hides past one): the From fields, and a copy of BODY without
 * the Authentication-Results fields that name AUTHSERV_ID (only when there
 * are some) */
static void header_scan(const struct buf *body, const char *authserv_id,
			struct header_scan *r)
{
	const char *data = body->data, *end = data + body->len;
	const char *p = data;
	memset(r, 0, sizeof(*r));
	buf_init(&r->out);
	const char *copied = data;  /* bytes before this are in OUT (when removing) */
	while (p < end) {
		const char *field = p;
		/* the field: its first line, then continuation lines (WSP first) */
		do {
			const char *eol = memchr(p, '\n', (size_t)(end - p));
			p = eol ? eol + 1 : end;
		} while (p < end && (*p == ' ' || *p == '\t'));
		size_t flen = (size_t)(p - field);
		if (flen == 0 || field[0] == '\n' || (field[0] == '\r' && flen <= 2 &&
						      (flen == 1 || field[1] == '\n')))
			break;  /* the empty line: the body follows */
		const char *colon = memchr(field, ':', flen);
		if (!colon)
			continue;
		size_t nlen = (size_t)(colon - field);
		while (nlen > 0 && (field[nlen - 1] == ' ' || field[nlen - 1] == '\t'))
			nlen--;  /* RFC 5322 4.5.8: WSP before the colon */
		const char *value = colon + 1;
		size_t vlen = (size_t)(p - value);
		if (nlen == 4 && strncasecmp(field, "From", 4) == 0) {
			r->from_count++;
			r->from = value;
			r->from_len = vlen;
		} else if (nlen == sizeof(AR_FIELD) - 1 &&
			   strncasecmp(field, AR_FIELD, nlen) == 0) {
			char id[MAILAUTH_AUTHSERV_ID_MAX];
			if (mailauth_authres_id(value, vlen, id, sizeof(id)) &&
			    strcasecmp(id, authserv_id) == 0) {
				buf_append(&r->out, copied, (size_t)(field - copied));
				copied = p;
				r->removed++;
			}
		}
	}
	if (r->removed > 0)
		buf_append(&r->out, copied, (size_t)(end - copied));
}

/* verify_scan_header - (worker) header_scan of the job's body: the From
 * domain, and the body without our Authentication-Results fields */
static void verify_scan_header(struct verify_job *j)
{
	struct header_scan r;
	header_scan(&j->body, j->authserv_id, &r);
	if (r.from_count == 0)
		j->from_problem = "no From field";
	else if (r.from_count > 1) {
		j->from_problem = "several From fields";
		j->from_ambiguous = true;
	}
	else
		verify_from_domain(j, r.from, r.from_len);  /* FROM points into the body */
	j->removed = r.removed;
	if (r.removed > 0) {
		buf_free(&j->body);
		j->body = r.out;
	}
}

/* ---- receiving_checks = off ---------------------------------------------------- */

/* smtp_verify_strip - on the loop, as count_received's pass over the same
 * header is: one pass, and a copy of the body only when a forged field
 * goes (smtp_message_submit copies it on the loop anyway) */
void smtp_verify_strip(struct smtp_session *s)
{
	struct header_scan r;
	header_scan(&s->body, s->config->auth.authserv_id, &r);
	if (r.removed == 0)
		return;
	buf_free(&s->body);
	s->body = r.out;
	log_info("authres-removed", "session=%s removed_ar=%zu", s->sid, r.removed);
}

/* verify_from_domain - the RFC 5322.From domain (RFC 7489 3.1, 6.6.1): the
 * addresses must all be in one domain */
static void verify_from_domain(struct verify_job *j, const char *field, size_t len)
{
	struct message_header h = { .name = "From", .name_len = 4, .value = field,
				    .value_len = len };
	/* the field ends with its line end: unfolding trims it */
	char *unfolded = message_header_unfold(&h);
	char **addresses = message_address_list_parse(unfolded, strlen(unfolded));
	free(unfolded);
	if (!addresses || !addresses[0]) {
		j->from_problem = "no address in From";
		goto out;
	}
	for (size_t i = 0; addresses[i]; i++) {
		const char *at = strrchr(addresses[i], '@');
		size_t dlen = at ? strlen(at + 1) : 0;
		if (dlen > 0 && at[dlen] == '.')
			dlen--;
		if (dlen == 0 || dlen >= MAILAUTH_DOMAIN_SIZE) {
			j->from_problem = "no domain in From";
			goto out;
		}
		char *domain = xstrndup(at + 1, dlen);
		for (char *c = domain; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		if (j->from_domain && strcmp(j->from_domain, domain) != 0) {
			free(domain);
			free(j->from_domain);
			j->from_domain = NULL;
			j->from_problem = "From addresses in several domains";
			j->from_ambiguous = true;
			goto out;
		}
		free(j->from_domain);
		j->from_domain = domain;
	}
out:
	message_strv_free(&addresses);
}

/* verify_job_done - back on the loop: the body returns to the session, the
 * DKIM keys and the DMARC record are looked up */
static void verify_job_done(struct smtp_session *s, struct smtp_job *job)
{
	struct verify_job *j = (struct verify_job *)job;
	struct smtp_verify *v = s->verify;
	assert(v != NULL);  /* the session waited: no reset came in between */
	buf_free(&s->body);
	s->body = j->body;
	buf_init(&j->body);
	v->message_in = true;
	v->dkim = j->dkim;
	j->dkim = NULL;
	v->from_domain = j->from_domain;
	j->from_domain = NULL;
	v->from_problem = j->from_problem;
	v->from_ambiguous = j->from_ambiguous;
	v->removed = j->removed;
	v->dkim_lookup = dkim_verify_lookup_keys(v->dkim, s->server->dns, verify_dkim_done, v);
	v->dkim_done = v->dkim_lookup == NULL;
	v->arc = j->arc;
	j->arc = NULL;
	v->arc_lookup = arc_verify_lookup_keys(v->arc, s->server->dns, verify_arc_done, v);
	v->arc_done = v->arc_lookup == NULL;
	if (v->from_domain)
		v->dmarc_request = dmarc_request_start(s->server->base, s->server->dns,
						       s->server->psl, v->from_domain,
						       verify_dmarc_done, v);
	else
		v->dmarc_done = true;
	/* reads nothing until the message is submitted or refused */
	s->waiting = true;
	verify_check_ready(v);
}

static void verify_job_free(struct smtp_job *job)
{
	struct verify_job *j = (struct verify_job *)job;
	buf_free(&j->body);
	dkim_verify_free(&j->dkim);
	arc_verify_free(&j->arc);
	free(j->from_domain);
	free(j->authserv_id);
	free(j);
}

static void verify_dkim_done(void *ctx)
{
	struct smtp_verify *v = ctx;
	v->dkim_lookup = NULL;  /* freed by its driver when we return */
	v->dkim_done = true;
	verify_check_ready(v);
}

static void verify_arc_done(void *ctx)
{
	struct smtp_verify *v = ctx;
	v->arc_lookup = NULL;  /* freed by its driver when we return */
	v->arc_done = true;
	verify_check_ready(v);
}

static void verify_dmarc_done(void *ctx, struct dmarc_discovery *discovery)
{
	struct smtp_verify *v = ctx;
	v->dmarc_request = NULL;
	v->dmarc = discovery;
	v->dmarc_done = true;
	verify_check_ready(v);
}

/* verify_check_ready - check the signatures once their keys are in, and
 * decide once SPF, DKIM, ARC and DMARC discovery are in */
static void verify_check_ready(struct smtp_verify *v)
{
	if (!v->message_in || !v->dkim_done || !v->arc_done || v->decided)
		return;
	if (!v->checks_started) {
		v->checks_started = true;
		if (!dkim_verify_is_done(v->dkim) || !arc_verify_is_done(v->arc)) {
			verify_checks_start(v);
			return;
		}
		v->checks_done = true;  /* nothing left to check */
	}
	if (v->checks_done && v->spf.done && v->helo.done && v->dmarc_done)
		verify_decide(v);
}

/* verify_checks_start - the signatures whose keys came in checked on the
 * pool (DESIGN.md: no public-key operation on the loop); the verifiers
 * go with the job and come back */
static void verify_checks_start(struct smtp_verify *v)
{
	struct verify_check_job *j = xcalloc(1, sizeof(*j));
	j->job.work = verify_check_work;
	j->job.done = verify_check_job_done;
	j->job.free = verify_check_job_free;
	j->dkim = v->dkim;
	v->dkim = NULL;
	j->arc = v->arc;
	v->arc = NULL;
	smtp_session_async(v->s, &j->job);
}

static void verify_check_work(struct smtp_job *job)
{
	struct verify_check_job *j = (struct verify_check_job *)job;
	dkim_verify_check(j->dkim);
	arc_verify_check(j->arc);
}

static void verify_check_job_done(struct smtp_session *s, struct smtp_job *job)
{
	struct verify_check_job *j = (struct verify_check_job *)job;
	struct smtp_verify *v = s->verify;
	assert(v != NULL);  /* the session waited: no reset came in between */
	v->dkim = j->dkim;
	j->dkim = NULL;
	v->arc = j->arc;
	j->arc = NULL;
	v->checks_done = true;
	s->waiting = true;  /* until the message is submitted or refused */
	verify_check_ready(v);
}

static void verify_check_job_free(struct smtp_job *job)
{
	struct verify_check_job *j = (struct verify_check_job *)job;
	dkim_verify_free(&j->dkim);
	arc_verify_free(&j->arc);
	free(j);
}

/* ---- the decision ---------------------------------------------------------------------- */

/* verify_decide - DMARC (RFC 7489 6.6.2), then the policy */
static void verify_decide(struct smtp_verify *v)
{
	struct smtp_session *s = v->s;
	struct smtp_auth_results *r = &v->results;
	v->decided = true;
	r->spf = v->spf.result;
	r->spf_identity = v->spf_identity;
	r->spf_domain = v->spf_domain[0] ? v->spf_domain : NULL;
	r->spf_problem = v->spf.problem;
	r->spf_mechanism = v->spf.mechanism;
	r->helo_checked = !r->spf_helo;
	r->helo_spf = v->helo.result;
	r->helo_problem = v->helo.problem;
	r->helo_mechanism = v->helo.mechanism;
	r->dkim = v->dkim;
	r->dkim_result = dkim_verify_result(v->dkim);
	r->from_domain = v->from_domain;
	r->from_problem = v->from_problem;

	size_t n = dkim_verify_count(v->dkim);
	v->dkim_inputs = xcalloc(n ? n : 1, sizeof(*v->dkim_inputs));
	for (size_t i = 0; i < n; i++) {
		const struct dkim_signature_report *rep = dkim_verify_report(v->dkim, i);
		v->dkim_inputs[i] = (struct dmarc_dkim_input){ rep->result, rep->domain };
	}
	if (v->dmarc) {
		r->dmarc_found = dmarc_discovery_found(v->dmarc);
		struct dmarc_params params = {
			.psl = s->server->psl,
			.spf = r->spf,
			.spf_domain = r->spf_domain,
			.dkim = v->dkim_inputs,
			.dkim_count = n,
			.enforce = s->config->auth.dmarc_enforce,
		};
		dmarc_evaluate(r->dmarc_found, &params, &r->dmarc);
	} else {
		/* no single From domain: RFC 7489 6.6.1 leaves such messages to
		 * the receiver; recorded */
		r->dmarc = (struct dmarc_outcome){ .result = DMARC_RESULT_PERMERROR,
						   .reason = v->from_problem };
	}
	r->disposition = r->dmarc.enforced ? r->dmarc.disposition : DMARC_POLICY_NONE;
	r->arc = arc_verify_outcome(v->arc);

	verify_results_known(s, v);
	verify_write_header(v);

	/* a message for the verifier alone is reported on, never refused */
	if (r->disposition == DMARC_POLICY_REJECT && !(s->verifier && s->env->rcpt_count == 0)) {
		char text[MAILAUTH_DOMAIN_SIZE + 80];
		snprintf(text, sizeof(text), "Message rejected: DMARC policy of %s says reject",
			 r->from_domain);
		char from[LOG_VALUE_MAX];
		log_escape(from, sizeof(from), r->from_domain, strlen(r->from_domain));
		log_info("rejected", "session=%s client=%s code=550 reason=dmarc from_domain=%s",
			 s->sid, s->client, from);
		verify_refuse(s, text);
		return;
	}
	if (v->from_ambiguous && s->config->auth.dmarc_enforce) {
		/* RFC 5322 3.6 allows one From field; a second one, or a second
		 * domain in it, would let a forger keep a p=reject domain's
		 * policy from being applied (RFC 7489 6.6.1: "typically
		 * rejected") */
		char text[128];
		snprintf(text, sizeof(text), "Message rejected: %s (RFC 5322 3.6, RFC 7489 6.6.1)",
			 v->from_problem);
		log_info("rejected", "session=%s client=%s code=550 reason=from-ambiguous "
			 "problem=\"%s\"", s->sid, s->client, v->from_problem);
		verify_refuse(s, text);
		return;
	}
	if (smtp_seal_start(s, &v->header, r->arc, &v->seal))
		return;  /* it submits once sealed */
	smtp_message_submit(s);
}

bool smtp_verify_checked(const struct smtp_verify *v)
{
	return v && v->decided;
}

struct smtp_seal *smtp_verify_seal(const struct smtp_verify *v)
{
	return v ? v->seal : NULL;
}

/* verify_refuse - 550 5.7.1 TEXT at the end of the data; nothing is kept */
static void verify_refuse(struct smtp_session *s, const char *text)
{
	smtp_session_event(s, "rejected", NULL, NULL, 550, text);
	smtp_session_reply(s, "550 5.7.1 %s", text);
	smtp_session_count_error(s);
	smtp_session_transaction_reset(s);  /* frees s->verify */
	s->waiting = false;
	smtp_session_process_input(s);
}

/* verify_results_known - THE call site: SPF, DKIM and DMARC are known (in
 * v->results) and nothing is written yet.  What acts on the results plugs
 * in here: an override of the disposition (ARC from a trusted forwarder,
 * RFC 7489 7.2) sets results.disposition and results.override; the DMARC
 * aggregate report records the evaluation (on the pool, without waiting). */
static void verify_results_known(struct smtp_session *s, struct smtp_verify *v)
{
	struct smtp_auth_results *r = &v->results;
	/* RFC 8617 7.2, RFC 7489 7.2 (PolicyOverrideType "arc"): a forwarder we
	 * trust sealed a valid chain, so its changes explain the failure */
	if (r->dmarc.result == DMARC_RESULT_FAIL && r->arc->result == ARC_RESULT_PASS &&
	    arc_is_trusted(s->config->auth.arc_trusted_forwarders, r->arc->sealer)) {
		char sealer[LOG_VALUE_MAX];
		log_escape(sealer, sizeof(sealer), r->arc->sealer, strlen(r->arc->sealer));
		log_info("dmarc-override", "session=%s reason=arc sealer=%s disposition=%s "
			 "instead_of=%s", s->sid, sealer, dmarc_policy_name(DMARC_POLICY_NONE),
			 dmarc_policy_name(r->disposition));
		r->disposition = DMARC_POLICY_NONE;
		r->override = "arc";
	}
	verify_record_evaluation(s, r);
	char from[LOG_VALUE_MAX];
	log_escape(from, sizeof(from), r->from_domain ? r->from_domain : "",
		   r->from_domain ? strlen(r->from_domain) : 0);
	log_info("auth-results", "session=%s client=%s spf=%s spf_identity=%s helo_spf=%s "
		 "dkim=%s signatures=%zu arc=%s arc_instances=%u from_domain=%s dmarc=%s "
		 "policy=%s disposition=%s enforced=%s override=%s removed_ar=%zu",
		 s->sid, s->client, spf_result_name(r->spf), v->identity_log,
		 r->helo_checked ? spf_result_name(r->helo_spf) : "-",
		 dkim_result_name(r->dkim_result), dkim_verify_count(r->dkim),
		 arc_result_name(r->arc->result), r->arc->instances,
		 from, dmarc_result_name(r->dmarc.result),
		 dmarc_policy_name(r->dmarc.policy), dmarc_policy_name(r->dmarc.disposition),
		 r->dmarc.enforced ? "yes" : "no", r->override ? r->override : "-", v->removed);
}

/* verify_record_evaluation - the evaluation kept for the aggregate report
 * of the domain whose record applied, when that record asks for reports
 * (rua=); written by a worker (reports.h).  The override as RFC 7489
 * appendix C names it: ARC's is a trusted forwarder's, an unenforced
 * policy ([auth] dmarc_enforce = false) the local policy's. */
static void verify_record_evaluation(struct smtp_session *s, const struct smtp_auth_results *r)
{
	const struct dmarc_found *found = r->dmarc_found;
	if (s->server->reporter == NULL || found == NULL ||
	    found->status != DMARC_FOUND_RECORD || found->record->rua_count == 0)
		return;
	const struct dmarc_record *rec = found->record;
	struct buf dkim, rua;
	buf_init(&dkim);
	buf_init(&rua);
	for (size_t i = 0; i < dkim_verify_count(r->dkim); i++) {
		const struct dkim_signature_report *rep = dkim_verify_report(r->dkim, i);
		if (rep->domain)
			buf_printf(&dkim, "%s%s %s %s", dkim.len ? "\n" : "", rep->domain,
				   rep->selector ? rep->selector : "-",
				   dkim_result_name(rep->result));
	}
	for (size_t i = 0; i < rec->rua_count; i++) {
		buf_printf(&rua, "%s%s", i ? "," : "", rec->rua[i].uri);
		if (rec->rua[i].max_size)
			buf_printf(&rua, "!%llu", rec->rua[i].max_size);
	}
	char policy[128];
	snprintf(policy, sizeof(policy), "p=%s; sp=%s; adkim=%c; aspf=%c; pct=%u; fo=%s",
		 dmarc_policy_name(rec->p), dmarc_policy_name(rec->sp),
		 rec->adkim == DMARC_ALIGN_STRICT ? 's' : 'r',
		 rec->aspf == DMARC_ALIGN_STRICT ? 's' : 'r', rec->pct, rec->fo);
	const char *override = r->override && strcmp(r->override, "arc") == 0 ?
		"trusted_forwarder" : r->override ? r->override :
		r->dmarc.sampled_out ? "sampled_out" :
		r->dmarc.disposition != DMARC_POLICY_NONE && !r->dmarc.enforced ?
		"local_policy" : NULL;
	const struct dmarc_report_eval eval = {
		.source_ip = s->client,
		.header_from = r->from_domain ? r->from_domain : found->from_domain,
		.envelope_from = !r->spf_helo && r->spf_domain ? r->spf_domain : "",
		.spf_domain = r->spf_domain ? r->spf_domain : "",
		.spf_result = spf_result_name(r->spf),
		.dkim = dkim.len ? dkim.data : "",
		.spf_aligned = r->dmarc.spf_aligned,
		.dkim_aligned = r->dmarc.dkim_aligned,
		.disposition = dmarc_policy_name(r->disposition),
		.override = override,
	};
	dmarc_reporter_record(s->server->reporter, &eval, found->record_domain, policy,
			      rua.len ? rua.data : "");
	buf_free(&dkim);
	buf_free(&rua);
}

/* ---- Authentication-Results (RFC 8601) ------------------------------------------------- */

/* verify_write_header - our field: the authserv-id, then one resinfo per
 * method, each on its own folded line (RFC 8601 2.2) */
static void verify_write_header(struct smtp_verify *v)
{
	const struct smtp_auth_results *r = &v->results;
	struct buf *out = &v->header;
	buf_append_str(out, AR_FIELD ": ");
	ar_value(out, v->s->config->auth.authserv_id);

	/* spf (RFC 7208 9.1, RFC 8601 2.7.2) */
	buf_printf(out, ";\r\n\tspf=%s", spf_result_name(r->spf));
	if (r->spf != SPF_RESULT_PASS && r->spf_problem)
		ar_reason(out, r->spf_problem);
	else if (r->spf != SPF_RESULT_PASS && r->spf_mechanism)
		ar_reason(out, r->spf_mechanism);
	if (r->spf_helo) {
		buf_append_str(out, " smtp.helo=");
		ar_value(out, r->spf_identity[0] ? r->spf_identity : "unknown");
	} else {
		buf_append_str(out, " smtp.mailfrom=");
		if (is_atext_address(r->spf_identity))
			buf_append_str(out, r->spf_identity);
		else
			ar_value(out, r->spf_identity);
	}
	if (r->helo_checked) {
		/* the HELO identity's own check (RFC 7208 2.3) */
		buf_printf(out, ";\r\n\tspf=%s", spf_result_name(r->helo_spf));
		if (r->helo_spf != SPF_RESULT_PASS && r->helo_problem)
			ar_reason(out, r->helo_problem);
		else if (r->helo_spf != SPF_RESULT_PASS && r->helo_mechanism)
			ar_reason(out, r->helo_mechanism);
		buf_append_str(out, " smtp.helo=");
		ar_value(out, v->s->helo && v->s->helo[0] ? v->s->helo : "unknown");
	}

	/* dkim (RFC 6376 7.6, RFC 6008): one resinfo per signature */
	size_t n = dkim_verify_count(r->dkim);
	if (n == 0) {
		buf_append_str(out, ";\r\n\tdkim=none");
		if (dkim_verify_error(r->dkim))
			ar_reason(out, dkim_verify_error(r->dkim));
	}
	for (size_t i = 0; i < n; i++) {
		const struct dkim_signature_report *rep = dkim_verify_report(r->dkim, i);
		buf_printf(out, ";\r\n\tdkim=%s", dkim_result_name(rep->result));
		if (rep->result != DKIM_RESULT_PASS && rep->reason)
			ar_reason(out, rep->reason);
		if (rep->domain) {
			buf_append_str(out, " header.d=");
			ar_value(out, rep->domain);
		}
		if (rep->selector) {
			buf_append_str(out, " header.s=");
			ar_value(out, rep->selector);
		}
		if (rep->b && rep->b[0]) {
			char b[HEADER_B_CHARS + 1];
			snprintf(b, sizeof(b), "%s", rep->b);
			buf_append_str(out, " header.b=");
			ar_value(out, b);
		}
	}

	/* arc (RFC 8617 10.1): the chain, the newest instance and its sealer */
	buf_printf(out, ";\r\n\tarc=%s", arc_result_name(r->arc->result));
	if (r->arc->result == ARC_RESULT_FAIL && r->arc->reason)
		ar_reason(out, r->arc->reason);
	if (r->arc->instances > 0 && r->arc->sealer && is_token(r->arc->sealer))
		buf_printf(out, " (i=%u d=%s)", r->arc->instances, r->arc->sealer);
	buf_printf(out, " smtp.remote-ip=%s", v->s->client);

		/* dmarc (RFC 7489 11.2) */
	buf_printf(out, ";\r\n\tdmarc=%s", dmarc_result_name(r->dmarc.result));
	if (r->dmarc.result != DMARC_RESULT_PASS && r->dmarc.reason)
		ar_reason(out, r->dmarc.reason);
	if (r->dmarc_found && r->dmarc_found->status == DMARC_FOUND_RECORD)
		buf_printf(out, " (p=%s dis=%s%s)", dmarc_policy_name(r->dmarc.policy),
			   dmarc_policy_name(r->dmarc.disposition),
			   r->dmarc.enforced || r->dmarc.disposition == DMARC_POLICY_NONE ?
			   "" : " not enforced");
	if (r->from_domain) {
		buf_append_str(out, " header.from=");
		ar_value(out, r->from_domain);
	}
	if (r->dmarc_found && r->dmarc_found->status == DMARC_FOUND_RECORD) {
		/* what was done: the disposition applied */
		buf_printf(out, " policy.dmarc=%s", dmarc_policy_name(r->disposition));
		if (r->override)
			buf_printf(out, " (override %s)", r->override);
	}
	buf_append_str(out, "\r\n");
}

void smtp_verify_header(const struct smtp_verify *v, struct buf *out, bool *junk_r)
{
	*junk_r = false;
	if (!v || !v->decided)
		return;
	buf_append(out, v->header.data, v->header.len);
	*junk_r = v->results.disposition == DMARC_POLICY_QUARANTINE;
}

/* arc_is_trusted - SEALER (d= of the newest ARC-Seal) is one of LIST's
 * domains ([auth] arc_trusted_forwarders: commas or spaces between), any case */
static bool arc_is_trusted(const char *list, const char *sealer)
{
	size_t n = sealer ? strlen(sealer) : 0;
	const char *p = list;
	while (n > 0 && *p) {
		p += strspn(p, ", \t");
		size_t len = strcspn(p, ", \t");
		if (len == n && strncasecmp(p, sealer, n) == 0)
			return true;
		p += len;
	}
	return false;
}

/* is_token - TEXT is an RFC 2045 token (printable ASCII, no tspecials) */
static bool is_token(const char *text)
{
	if (!text[0])
		return false;
	for (const unsigned char *c = (const unsigned char *)text; *c; c++)
		if (*c <= 0x20 || *c >= 0x7f || strchr("()<>@,;:\\\"/[]?=", *c))
			return false;
	return true;
}

/* is_atext_address - a dot-atom local part and a domain name, which RFC
 * 8601 2.2's pvalue takes as it is */
static bool is_atext_address(const char *address)
{
	const char *at = strrchr(address, '@');
	if (!at || at == address || !at[1] || strlen(address) > AR_TEXT_MAX)
		return false;
	for (const char *c = address; c < at; c++)
		if (!isalnum((unsigned char)*c) && !strchr("!#$%&'*+-/=?^_`{|}~.", *c))
			return false;
	for (const char *c = at + 1; *c; c++)
		if (!isalnum((unsigned char)*c) && *c != '.' && *c != '-')
			return false;
	return true;
}

/* ar_quoted - TEXT as a quoted-string (RFC 5322 3.2.4): quotes and
 * backslashes escaped, control characters dropped, at most AR_TEXT_MAX
 * bytes of it */
static void ar_quoted(struct buf *out, const char *text)
{
	buf_append_str(out, "\"");
	size_t n = 0;
	for (const unsigned char *c = (const unsigned char *)text; *c && n < AR_TEXT_MAX;
	     c++, n++) {
		if (*c < 0x20 || *c == 0x7f)
			continue;
		if (*c == '"' || *c == '\\')
			buf_append(out, "\\", 1);
		buf_append(out, c, 1);
	}
	buf_append_str(out, "\"");
}

/* ar_value - TEXT as a value (RFC 8601 2.2): a token as it is, anything
 * else quoted */
static void ar_value(struct buf *out, const char *text)
{
	if (is_token(text) && strlen(text) <= AR_TEXT_MAX)
		buf_append_str(out, text);
	else
		ar_quoted(out, text);
}

/* ar_reason - RFC 8601 2.2 reasonspec, always quoted: reason="TEXT" */
static void ar_reason(struct buf *out, const char *reason)
{
	buf_append_str(out, " reason=");
	ar_quoted(out, reason);
}

/* text_clean - a copy of TEXT from DNS (an SPF term, an exp= text) with
 * what cannot go into a reply or a log as it is replaced by '?', bounded */
static char *text_clean(const char *text)
{
	char *copy = xstrndup(text, strnlen(text, AR_TEXT_MAX));
	for (char *c = copy; *c; c++)
		if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
			*c = '?';
	return copy;
}

/* verify_spf_clear - cancel C if it runs, free its outcome */
static void verify_spf_clear(struct verify_spf *c)
{
	spf_request_cancel(c->request);
	c->request = NULL;
	free(c->problem);
	free(c->mechanism);
	free(c->explanation);
}

void smtp_verify_free(struct smtp_verify **vp)
{
	struct smtp_verify *v = *vp;
	if (!v)
		return;
	*vp = NULL;
	verify_spf_clear(&v->spf);
	verify_spf_clear(&v->helo);
	dkim_key_lookup_cancel(&v->dkim_lookup);
	dkim_key_lookup_cancel(&v->arc_lookup);
	smtp_seal_free(&v->seal);
	dmarc_request_cancel(v->dmarc_request);
	dmarc_discovery_free(&v->dmarc);
	dkim_verify_free(&v->dkim);
	arc_verify_free(&v->arc);
	free(v->dkim_inputs);
	free(v->spf_identity);
	free(v->spf_domain);
	free(v->from_domain);
	buf_free(&v->header);
	free(v);
}
