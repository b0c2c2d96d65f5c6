/* reports - DMARC aggregate reports (RFC 7489 7.2): made from the
 * evaluations the store keeps (store_dmarc_eval_*), one report per policy
 * domain and UTC day, and mailed through the queue to each rua=mailto:
 * address, an external one only when it consents (7.1).
 *
 * The making (dmarc_reports_make) BLOCKS (the store, gzip): the CLI calls
 * it directly, the server from a pool job.  The reporter (server only)
 * runs on the loop thread: a daily timer when [auth] dmarc_reports =
 * daily, and runs asked for over the control socket; it owns what it
 * makes and frees it.  Errors come back as text through error_r.
 */
#ifndef PETREL_REPORTS_H
#define PETREL_REPORTS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "util/buf.h"

#define DMARC_REPORT_PERIOD 86400       /* one report per UTC day */
#define DMARC_REPORT_RUA_MAX 8          /* rua= addresses served per report */

struct config;
struct store;

struct dmarc_reports_settings {
	const char *hostname;   /* the receiver: report ids, file names */
	const char *org_name;   /* <org_name> */
	const char *email;      /* <email>, From: and the envelope sender */
};

/* dmarc_reports_settings_from - CONFIG's (defaults filled in); the strings
 * point into CONFIG and BUF_EMAIL (at least 300 bytes) */
void dmarc_reports_settings_from(const struct config *config, struct dmarc_reports_settings *s,
				 char *buf_email, size_t size);

/* One destination of a report: a rua= mailto: address, and the mail to it. */
struct dmarc_report_dest {
	char *address;
	bool external;                  /* needs the destination's consent (7.1) */
	unsigned long long max_size;    /* from "!10m"; 0 = no limit */
	struct buf message;             /* the whole mail, CRLF */
};

struct dmarc_report {
	char *domain;                   /* the policy domain */
	char *report_id;
	char *filename;                 /* receiver!domain!begin!end.xml.gz (7.2.1.1) */
	time_t begin, end;              /* end included */
	size_t records;                 /* <record> elements */
	size_t messages;                /* evaluations counted */
	struct buf xml;
	struct buf gz;                  /* the XML, gzip */
	struct dmarc_report_dest dests[DMARC_REPORT_RUA_MAX];
	size_t dest_count;
	char *problem;                  /* rua= that could not be served, or NULL */
};

/* dmarc_reports_make - BLOCKING: the reports of the day starting at BEGIN
 * (a multiple of 86400) for every policy domain with evaluations, or only
 * ONLY_DOMAIN (NULL: all).  With CLAIM, a domain whose report of that day
 * was made already is left out and the others are marked made
 * (store_dmarc_report_claim), so that a report goes out once.  Each
 * report's messages are built for NOW.  0 and *REPORTS_R (COUNT_R of them,
 * free with dmarc_reports_free), or -1 and *error_r. */
int dmarc_reports_make(struct store *store, const struct dmarc_reports_settings *settings,
		       time_t begin, const char *only_domain, bool claim, time_t now,
		       struct dmarc_report **reports_r, size_t *count_r, const char **error_r);
void dmarc_reports_free(struct dmarc_report **reports, size_t count);

/* dmarc_report_day_parse - "YYYY-MM-DD" as the UTC midnight starting it */
bool dmarc_report_day_parse(const char *s, time_t *begin_r);

/* ---- the server's reporter (loop thread) ----------------------------------- */

struct event_base;
struct pool;
struct queue;
struct dns_resolver;
struct mailauth_psl;
struct dmarc_reporter;

/* dmarc_reporter_cb - a run is over: STATUS 0 and what was done ("2
 * reports, 3 messages queued, 1 refused"), or -1 and why */
typedef void dmarc_reporter_cb(void *ctx, int status, const char *text);

/* dmarc_reporter_create - every hour (the first time a second after
 * start) evaluations older than [events] retention are deleted and, with
 * [auth] dmarc_reports = daily, a run for the day before starts (a report
 * is made once, so only the first run of a day does anything).
 * Everything given must outlive the reporter. */
struct dmarc_reporter *dmarc_reporter_create(struct event_base *base, struct pool *pool,
					     struct store *store, struct queue *queue,
					     struct dns_resolver *dns,
					     const struct mailauth_psl *psl,
					     const struct config *config);
/* dmarc_reporter_run - make and send the reports of the day starting at
 * BEGIN now; CB (may be NULL) once all are queued or dropped */
void dmarc_reporter_run(struct dmarc_reporter *reporter, time_t begin, dmarc_reporter_cb *cb,
			void *ctx);
/* dmarc_reporter_record - keep EVAL (copied) for the report of
 * POLICY_DOMAIN, whose record's policy (a tag list, see store.h) and rua=
 * ("URI!SIZE,...") are given: written to the store by a pool job; a write
 * that fails is logged and lost (a report counts one message less).  Loop
 * thread; the reporter may be NULL (then nothing is kept). */
struct dmarc_report_eval;
void dmarc_reporter_record(struct dmarc_reporter *reporter, const struct dmarc_report_eval *eval,
			   const char *policy_domain, const char *policy, const char *rua);
/* dmarc_reporter_free - runs in flight end without their callback; call
 * before the pool, queue and resolver go.  NULL-safe. */
void dmarc_reporter_free(struct dmarc_reporter **reporter);

#endif
