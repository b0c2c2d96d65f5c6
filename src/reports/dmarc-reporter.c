/* reports/dmarc-reporter - the server's DMARC aggregate reports: a run
 * makes the reports of one day on a worker (dmarc_reports_make, which
 * claims each so that it goes out once), then, on the loop, asks each
 * external destination whether it accepts reports for the domain (RFC 7489
 * 7.1: a v=DMARC1 record at <domain>._report._dmarc.<destination>) and
 * queues each mail that may go and fits the destination's size limit
 * ("!10m").  A destination that refuses, or whose consent cannot be looked
 * up for now, gets nothing (logged): the report is not made twice.
 *
 * Every hour (the first time a second after start) a pool job deletes the
 * evaluations older than [events] retention; with [auth] dmarc_reports =
 * daily a run for the day before starts too, and the claim makes the runs
 * after the first of each day empty.  Evaluations come from the receiving
 * sessions (dmarc_reporter_record), written by pool jobs.
 *
 * A run names its reporter through a pointer that dmarc_reporter_free
 * clears (calling the run's callback with "stopping" first): a pool job
 * that finishes after the reporter is gone frees its reports and does
 * nothing else.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "config/config.h"
#include "dns/dns.h"
#include "mailauth/mailauth.h"
#include "queue/queue.h"
#include "reports/reports.h"
#include "store/store.h"
#include "util/log.h"
#include "util/pool.h"
#include "util/xalloc.h"

#define REPORTER_FIRST_DELAY 1       /* seconds after start */
#define REPORTER_INTERVAL 3600       /* seconds between daily checks */

struct report_run;

/* one destination waiting for its consent lookup or its queueing */
struct run_dest {
	struct report_run *run;
	struct dmarc_report *report;
	struct dmarc_report_dest *dest;
	struct dns_query *query;
};

struct report_run {
	struct dmarc_reporter *reporter;   /* NULL once the reporter is freed */
	time_t begin;
	dmarc_reporter_cb *cb;
	void *ctx;
	/* filled by the worker */
	int status;
	const char *error;
	char error_text[256];
	struct dmarc_report *reports;
	size_t count;
	/* the loop's part */
	struct run_dest *dests;
	size_t dest_count;
	unsigned pending;                  /* lookups and submissions not answered */
	unsigned queued, refused, too_big, failed;
	struct report_run *next;
};

struct dmarc_reporter {
	struct event_base *base;
	struct pool *pool;
	struct store *store;
	struct queue *queue;
	struct dns_resolver *dns;
	const struct mailauth_psl *psl;
	const struct config *config;
	struct dmarc_reports_settings settings;
	char email[320];
	struct event *timer;
	struct report_run *runs;           /* in flight */
};

static void reporter_tick(evutil_socket_t fd, short what, void *arg);
static void run_work(void *arg);
static void run_done(void *arg);
static void run_dest_start(struct run_dest *d);
static void run_consent(void *ctx, const struct dns_records *records);
static void run_queue(struct run_dest *d);
static void run_queued(void *ctx, int status, const char *queue_id, const char *error);
static void run_one_done(struct report_run *run);
static void run_free(struct report_run *run);

struct dmarc_reporter *dmarc_reporter_create(struct event_base *base, struct pool *pool,
					     struct store *store, struct queue *queue,
					     struct dns_resolver *dns,
					     const struct mailauth_psl *psl,
					     const struct config *config)
{
	struct dmarc_reporter *r = xcalloc(1, sizeof(*r));
	r->base = base;
	r->pool = pool;
	r->store = store;
	r->queue = queue;
	r->dns = dns;
	r->psl = psl;
	r->config = config;
	dmarc_reports_settings_from(config, &r->settings, r->email, sizeof(r->email));
	r->timer = evtimer_new(base, reporter_tick, r);
	if (r->timer == NULL)
		abort();
	struct timeval tv = { .tv_sec = REPORTER_FIRST_DELAY };
	evtimer_add(r->timer, &tv);
	return r;
}

struct record_job {
	struct store *store;
	struct store_dmarc_eval *eval;  /* NULL for a prune job */
	time_t prune_before;      /* a prune job: delete rows older than this */
	int status;
	char error[256];
	uint64_t deleted;
};

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

/* record_work - on a worker: the row written, or the old ones deleted */
static void record_work(void *arg)
{
	struct record_job *j = arg;
	const char *error = NULL;
	j->status = j->prune_before
		? store_dmarc_eval_prune(j->store, j->prune_before, &j->deleted, &error)
		: store_dmarc_eval_add(j->store, j->eval, &error);
	if (j->status < 0)
		snprintf(j->error, sizeof(j->error), "%s", error);
}

static void record_done(void *arg)
{
	struct record_job *j = arg;
	if (j->status < 0)
		log_warn(j->prune_before ? "dmarc-eval-prune" : "dmarc-eval-record",
			 "domain=%s error=\"%s\"", j->eval && j->eval->policy_domain ?
			 j->eval->policy_domain : "-", j->error);
	else if (j->prune_before && j->deleted > 0)
		log_info("dmarc-eval-prune", "deleted=%llu", (unsigned long long)j->deleted);
	store_dmarc_eval_free(&j->eval);
	free(j);
}

void dmarc_reporter_record(struct dmarc_reporter *reporter, const struct dmarc_report_eval *eval,
			   const char *policy_domain, const char *policy, const char *rua)
{
	if (reporter == NULL)
		return;
	struct record_job *j = xcalloc(1, sizeof(*j));
	j->store = reporter->store;
	j->eval = xmalloc(sizeof(*j->eval));
	*j->eval = (struct store_dmarc_eval){
		.time = time(NULL),
		.policy_domain = dup_or_null(policy_domain),
		.source_ip = dup_or_null(eval->source_ip),
		.header_from = dup_or_null(eval->header_from),
		.envelope_from = dup_or_null(eval->envelope_from),
		.spf_domain = dup_or_null(eval->spf_domain),
		.spf_result = dup_or_null(eval->spf_result),
		.dkim = dup_or_null(eval->dkim),
		.spf_aligned = eval->spf_aligned,
		.dkim_aligned = eval->dkim_aligned,
		.disposition = dup_or_null(eval->disposition),
		.policy = dup_or_null(policy),
		.rua = dup_or_null(rua),
		.override = dup_or_null(eval->override),
	};
	pool_submit(reporter->pool, record_work, record_done, j);
}

/* reporter_tick - the daily check: the reports of the UTC day before */
static void reporter_tick(evutil_socket_t fd, short what, void *arg)
{
	struct dmarc_reporter *r = arg;
	(void)fd;
	(void)what;
	time_t now = time(NULL);
	time_t today = now - now % DMARC_REPORT_PERIOD;
	unsigned retention = r->config->events.retention;
	if (retention > 0) {
		struct record_job *j = xcalloc(1, sizeof(*j));
		j->store = r->store;
		j->prune_before = now - (time_t)retention;
		pool_submit(r->pool, record_work, record_done, j);
	}
	if (r->config->auth.dmarc_reports == DMARC_REPORTS_DAILY)
		dmarc_reporter_run(r, today - DMARC_REPORT_PERIOD, NULL, NULL);
	struct timeval tv = { .tv_sec = REPORTER_INTERVAL };
	evtimer_add(r->timer, &tv);
}

void dmarc_reporter_run(struct dmarc_reporter *reporter, time_t begin, dmarc_reporter_cb *cb,
			void *ctx)
{
	struct report_run *run = xcalloc(1, sizeof(*run));
	run->reporter = reporter;
	run->begin = begin;
	run->cb = cb;
	run->ctx = ctx;
	run->next = reporter->runs;
	reporter->runs = run;
	log_info("dmarc-report-start", "begin=%lld", (long long)begin);
	pool_submit(reporter->pool, run_work, run_done, run);
}

/* run_work - on a worker: the day's reports and their mails */
static void run_work(void *arg)
{
	struct report_run *run = arg;
	struct dmarc_reporter *r = run->reporter;
	if (r == NULL)
		return;
	const char *error = NULL;
	run->status = dmarc_reports_make(r->store, &r->settings, run->begin, NULL, true,
					 time(NULL), &run->reports, &run->count, &error);
	if (run->status < 0) {
		snprintf(run->error_text, sizeof(run->error_text), "%s", error);
		run->error = run->error_text;
	}
}

/* run_done - back on the loop: each destination of each report */
static void run_done(void *arg)
{
	struct report_run *run = arg;
	if (run->reporter == NULL || run->status < 0) {
		if (run->reporter != NULL)
			log_warn("dmarc-report", "begin=%lld result=error error=\"%s\"",
				 (long long)run->begin, run->error);
		if (run->reporter != NULL && run->cb)
			run->cb(run->ctx, -1, run->error ? run->error : "stopped");
		run_free(run);
		return;
	}
	size_t total = 0;
	for (size_t i = 0; i < run->count; i++)
		total += run->reports[i].dest_count;
	run->dests = xcalloc(total ? total : 1, sizeof(*run->dests));
	for (size_t i = 0; i < run->count; i++) {
		struct dmarc_report *rep = &run->reports[i];
		log_info("dmarc-report", "domain=%s begin=%lld messages=%zu records=%zu "
			 "destinations=%zu%s%s%s", rep->domain, (long long)rep->begin,
			 rep->messages, rep->records, rep->dest_count,
			 rep->problem ? " problem=\"" : "", rep->problem ? rep->problem : "",
			 rep->problem ? "\"" : "");
		for (size_t k = 0; k < rep->dest_count; k++) {
			struct run_dest *d = &run->dests[run->dest_count++];
			d->run = run;
			d->report = rep;
			d->dest = &rep->dests[k];
		}
	}
	run->pending = 1;   /* held until every destination has started */
	for (size_t i = 0; i < run->dest_count; i++)
		run_dest_start(&run->dests[i]);
	run_one_done(run);
}

/* run_dest_start - a destination over its size limit gets nothing; an
 * external one is asked for its consent first (RFC 7489 7.1) */
static void run_dest_start(struct run_dest *d)
{
	struct report_run *run = d->run;
	struct dmarc_reporter *r = run->reporter;
	struct dmarc_report_dest *dest = d->dest;
	if (dest->max_size && dest->message.len > dest->max_size) {
		run->too_big++;
		log_warn("dmarc-report-dest", "domain=%s to=<%s> result=too-big size=%zu max=%llu",
			 d->report->domain, dest->address, dest->message.len, dest->max_size);
		return;
	}
	const char *dest_domain = strrchr(dest->address, '@') + 1;
	dest->external = dmarc_rua_is_external(r->psl, d->report->domain, dest_domain);
	char name[MAILAUTH_DOMAIN_SIZE];
	if (!dest->external) {
		run_queue(d);
		return;
	}
	if (!dmarc_rua_auth_name(d->report->domain, dest_domain, name)) {
		run->refused++;
		log_warn("dmarc-report-dest", "domain=%s to=<%s> result=refused reason=\"the "
			 "consent record's name is too long\"", d->report->domain, dest->address);
		return;
	}
	run->pending++;
	d->query = dns_lookup(r->dns, name, DNS_TYPE_TXT, run_consent, d);
	if (d->query == NULL) {
		run->pending--;
		run->failed++;
		log_warn("dmarc-report-dest", "domain=%s to=<%s> result=tempfail", d->report->domain,
			 dest->address);
	}
}

static void run_consent(void *ctx, const struct dns_records *records)
{
	struct run_dest *d = ctx;
	struct report_run *run = d->run;
	d->query = NULL;
	int consent = dmarc_rua_auth_answer(records);
	if (consent == 1) {
		run_queue(d);
	} else {
		if (consent == 0)
			run->refused++;
		else
			run->failed++;
		log_warn("dmarc-report-dest", "domain=%s to=<%s> result=%s reason=\"%s\"",
			 d->report->domain, d->dest->address, consent == 0 ? "refused" : "tempfail",
			 consent == 0 ? "the destination does not accept reports for the domain "
			 "(no v=DMARC1 record at DOMAIN._report._dmarc.DESTINATION, RFC 7489 7.1)" :
			 "its consent could not be looked up for now");
	}
	run_one_done(run);
}

/* run_queue - the mail into the queue, from the report address */
static void run_queue(struct run_dest *d)
{
	struct report_run *run = d->run;
	struct dmarc_reporter *r = run->reporter;
	struct queue_envelope *env = queue_envelope_new();
	queue_id_new(env->id);
	env->arrival = time(NULL);
	free(env->sender);
	env->sender = xstrdup(r->settings.email);
	env->client_address = xstrdup("127.0.0.1");
	env->helo = xstrdup(r->config->hostname);
	env->listener = xstrdup("dmarc-report");
	env->size = d->dest->message.len;
	queue_envelope_add_rcpt(env, d->dest->address, 0, NULL);
	run->pending++;
	queue_submit(r->queue, env, &d->dest->message, run_queued, d);
}

static void run_queued(void *ctx, int status, const char *queue_id, const char *error)
{
	struct run_dest *d = ctx;
	struct report_run *run = d->run;
	if (status == 0) {
		run->queued++;
		log_info("dmarc-report-dest", "domain=%s to=<%s> result=queued queue_id=%s",
			 d->report->domain, d->dest->address, queue_id);
	} else {
		run->failed++;
		log_warn("dmarc-report-dest", "domain=%s to=<%s> result=error error=\"%s\"",
			 d->report->domain, d->dest->address, error ? error : "");
	}
	run_one_done(run);
}

/* run_one_done - one answer in; the last ends the run */
static void run_one_done(struct report_run *run)
{
	if (--run->pending > 0)
		return;
	char text[256];
	snprintf(text, sizeof(text), "%zu reports, %u messages queued, %u refused by their "
		 "destination, %u over its size limit, %u failed", run->count, run->queued,
		 run->refused, run->too_big, run->failed);
	log_info("dmarc-report-done", "begin=%lld reports=%zu queued=%u refused=%u too_big=%u "
		 "failed=%u", (long long)run->begin, run->count, run->queued, run->refused,
		 run->too_big, run->failed);
	if (run->cb)
		run->cb(run->ctx, 0, text);
	run_free(run);
}

/* run_free - unlink RUN from its reporter and free it */
static void run_free(struct report_run *run)
{
	if (run->reporter) {
		for (struct report_run **p = &run->reporter->runs; *p; p = &(*p)->next) {
			if (*p == run) {
				*p = run->next;
				break;
			}
		}
	}
	dmarc_reports_free(&run->reports, run->count);
	free(run->dests);
	free(run);
}

void dmarc_reporter_free(struct dmarc_reporter **reporter)
{
	struct dmarc_reporter *r = *reporter;
	if (r == NULL)
		return;
	if (r->timer)
		event_free(r->timer);
	/* A run with the pool is orphaned: its done callback frees it.  On the
	 * loop's side, consent lookups are cancelled; submissions to the queue
	 * answer later (the queue goes after the reporter) and the last one
	 * frees the run, without its callback. */
	while (r->runs) {
		struct report_run *run = r->runs;
		r->runs = run->next;
		run->reporter = NULL;
		if (run->cb)
			run->cb(run->ctx, -1, "the server is stopping");
		run->cb = NULL;
		if (run->dests == NULL)
			continue;
		for (size_t i = 0; i < run->dest_count; i++) {
			if (run->dests[i].query) {
				dns_cancel(run->dests[i].query);
				run->dests[i].query = NULL;
				run->pending--;
			}
		}
		if (run->pending == 0)
			run_free(run);
	}
	free(r);
	*reporter = NULL;
}
