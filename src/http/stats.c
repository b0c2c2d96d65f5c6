/* http/stats - SendGrid's GET /v3/stats (global statistics): the key's
 * account's events between start_date and end_date (UTC days, both
 * included) counted by the store in one query on a worker
 * (store_event_count_days), then gathered by day, week (from Monday) or
 * month on the loop.  Every bucket of the range is listed, empty ones with
 * zeros, as SendGrid does.  Drops count by the list that dropped the
 * mail (the event's reason, queue_drop_reason); a bounce whose reply is
 * about the sender or the message (queue_reply_is_block) is a block, not a
 * bounce.  Metrics Petrel has no events for (opens, clicks, spam reports,
 * invalid emails, ...) are 0. */
#include "http/session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/config.h"
#include "policy/policy.h"
#include "store/store.h"
#include "util/log.h"
#include "util/pool.h"
#include "util/xalloc.h"

#define DAY_SECONDS 86400

enum stats_aggregation { STATS_BY_DAY, STATS_BY_WEEK, STATS_BY_MONTH };

struct stats_job {
	struct http_job_origin origin;   /* the request it answers */
	char *account;
	int64_t first_day, last_day;        /* days since 1970-01-01 */
	enum stats_aggregation by;
	struct store_event_count **counts;
	size_t n;
	int rc;
	const char *error;
};

/* the metrics of one bucket; SendGrid's names */
struct stats_metrics {
	uint64_t requests, delivered, deferred, bounces, blocks;
	uint64_t bounce_drops, unsubscribe_drops, spam_report_drops;
};

static void stats_authorized(struct http_session *s);
static bool stats_date_parse(const char *data, struct http_span span, int64_t *day_r);
static bool stats_query_parse(struct http_session *s, struct stats_job *j);
static void stats_work(void *arg);
static void stats_done(void *arg);
static int64_t stats_bucket_start(const struct stats_job *j, int64_t day);
static json_t *stats_entry(int64_t day, const struct stats_metrics *m);
static void stats_metrics_add(struct stats_metrics *m, const struct store_event_count *c);
static void stats_drop_add(struct stats_metrics *m, const struct store_event_count *c);
static void stats_job_free(struct stats_job *j);

void http_route_stats(struct http_session *s)
{
	http_session_authorize(s, "stats.read", stats_authorized);
}

/* stats_authorized - the query checked on the loop (400 in SendGrid's
 * shape), the counting on a worker */
static void stats_authorized(struct http_session *s)
{
	if (!s->server->store) {
		http_session_respond_error(s, 503, "statistics are not available", NULL);
		return;
	}
	struct stats_job *j = xcalloc(1, sizeof(*j));
	if (!stats_query_parse(s, j)) {
		stats_job_free(j);
		return;
	}
	http_job_origin_init(&j->origin, s);
	j->account = xstrdup(s->account->name);
	pool_submit(s->server->pool, stats_work, stats_done, j);
}

/* stats_date_parse - SPAN of DATA is a date YYYY-MM-DD that exists, from
 * 1970 on; its day number into *DAY_R */
static bool stats_date_parse(const char *data, struct http_span span, int64_t *day_r)
{
	const char *d = data + span.off;
	bool ok = span.len == 10 && d[4] == '-' && d[7] == '-';
	for (size_t i = 0; ok && i < 10; i++)
		ok = i == 4 || i == 7 || (d[i] >= '0' && d[i] <= '9');
	if (!ok)
		return false;
	struct tm tm = {
		.tm_year = atoi(d) - 1900, .tm_mon = atoi(d + 5) - 1, .tm_mday = atoi(d + 8),
	};
	struct tm asked = tm;
	time_t t = timegm(&tm);
	/* timegm normalizes 2026-02-30 to March: such a date does not exist */
	if (t < 0 || tm.tm_year != asked.tm_year || tm.tm_mon != asked.tm_mon ||
	    tm.tm_mday != asked.tm_mday)
		return false;
	*day_r = t / DAY_SECONDS;
	return true;
}

/* stats_query_parse - start_date (required), end_date (default today),
 * aggregated_by (default day) into J; false once the 400 is answered */
static bool stats_query_parse(struct http_session *s, struct stats_job *j)
{
	const char *data = s->head;
	struct http_span v;
	if (!http_query_param(data, s->req.query, "start_date", &v)) {
		http_session_respond_error(s, 400, "missing required argument", "start_date");
		return false;
	}
	if (!stats_date_parse(data, v, &j->first_day)) {
		http_session_respond_error(s, 400, "is not a valid date (YYYY-MM-DD)",
					   "start_date");
		return false;
	}
	j->last_day = time(NULL) / DAY_SECONDS;
	if (http_query_param(data, s->req.query, "end_date", &v) &&
	    !stats_date_parse(data, v, &j->last_day)) {
		http_session_respond_error(s, 400, "is not a valid date (YYYY-MM-DD)", "end_date");
		return false;
	}
	if (j->last_day < j->first_day) {
		http_session_respond_error(s, 400, "end_date must be on or after start_date",
					   "end_date");
		return false;
	}
	if (j->last_day - j->first_day >= (int64_t)s->server->config->http.stats_days) {
		http_session_respond_error(s, 400, "the date range is too long", "end_date");
		return false;
	}
	j->by = STATS_BY_DAY;
	if (http_query_param(data, s->req.query, "aggregated_by", &v)) {
		if (http_span_equals(data, v, "week", false))
			j->by = STATS_BY_WEEK;
		else if (http_span_equals(data, v, "month", false))
			j->by = STATS_BY_MONTH;
		else if (!http_span_equals(data, v, "day", false)) {
			http_session_respond_error(s, 400, "must be day, week or month",
						   "aggregated_by");
			return false;
		}
	}
	return true;
}

/* stats_work - (worker) the account's events counted by day and type */
static void stats_work(void *arg)
{
	struct stats_job *j = arg;
	j->rc = store_event_count_days(j->origin.server->store, j->account, j->first_day * DAY_SECONDS,
				       (j->last_day + 1) * DAY_SECONDS, &j->counts, &j->n,
				       &j->error);
}

/* stats_bucket_start - the first day of DAY's bucket within the range:
 * its Monday or the 1st of its month, or the range's first day if later */
static int64_t stats_bucket_start(const struct stats_job *j, int64_t day)
{
	int64_t start = day;
	if (j->by == STATS_BY_WEEK) {
		start = day - (day + 3) % 7;  /* 1970-01-01 was a Thursday */
	} else if (j->by == STATS_BY_MONTH) {
		time_t t = (time_t)(day * DAY_SECONDS);
		struct tm tm;
		gmtime_r(&t, &tm);
		start = day - (tm.tm_mday - 1);
	}
	return start < j->first_day ? j->first_day : start;
}

static void stats_metrics_add(struct stats_metrics *m, const struct store_event_count *c)
{
	if (strcmp(c->type, "accepted") == 0)
		m->requests += c->count;
	else if (strcmp(c->type, "delivered") == 0)
		m->delivered += c->count;
	else if (strcmp(c->type, "deferred") == 0)
		m->deferred += c->count;
	else if (strcmp(c->type, "bounced") == 0 && queue_reply_is_block(c->reason))
		m->blocks += c->count;
	else if (strcmp(c->type, "bounced") == 0)
		m->bounces += c->count;
	else if (strcmp(c->type, "dropped") == 0)
		stats_drop_add(m, c);
}

/* stats_drop_add - a drop, by the suppression list its reason names; a
 * drop for a block has no metric of its own in SendGrid's list */
static void stats_drop_add(struct stats_metrics *m, const struct store_event_count *c)
{
	const struct {
		enum store_suppression_list list;
		uint64_t *metric;
	} drops[] = {
		{ STORE_SUPPRESSION_BOUNCES, &m->bounce_drops },
		{ STORE_SUPPRESSION_UNSUBSCRIBES, &m->unsubscribe_drops },
		{ STORE_SUPPRESSION_SPAM_REPORTS, &m->spam_report_drops },
	};
	for (size_t i = 0; c->reason && i < sizeof(drops) / sizeof(drops[0]); i++)
		if (strcmp(c->reason, queue_drop_reason(drops[i].list)) == 0)
			*drops[i].metric += c->count;
}

/* stats_entry - {"date":..,"stats":[{"metrics":{..}}]} for the bucket
 * starting on DAY */
static json_t *stats_entry(int64_t day, const struct stats_metrics *m)
{
	char date[16];
	time_t t = (time_t)(day * DAY_SECONDS);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(date, sizeof(date), "%Y-%m-%d", &tm);
	json_t *metrics = json_pack(
		"{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
		"blocks", (json_int_t)m->blocks, "bounce_drops", (json_int_t)m->bounce_drops,
		"bounces", (json_int_t)m->bounces, "clicks", (json_int_t)0,
		"deferred", (json_int_t)m->deferred, "delivered", (json_int_t)m->delivered,
		"invalid_emails", (json_int_t)0, "opens", (json_int_t)0,
		"processed", (json_int_t)m->requests, "requests", (json_int_t)m->requests,
		"spam_report_drops", (json_int_t)m->spam_report_drops,
		"spam_reports", (json_int_t)0,
		"unique_clicks", (json_int_t)0, "unique_opens", (json_int_t)0,
		"unsubscribe_drops", (json_int_t)m->unsubscribe_drops,
		"unsubscribes", (json_int_t)0);
	return json_pack("{s:s, s:[{s:o}]}", "date", date, "stats", "metrics", metrics);
}

/* stats_done - (loop) one entry per bucket of the range, oldest first */
static void stats_done(void *arg)
{
	struct stats_job *j = arg;
	struct http_session *s = http_job_origin_session(&j->origin);
	if (!s || s->conn.dead) {
		stats_job_free(j);
		return;
	}
	if (j->rc != 0) {
		log_error("http-stats", "session=%s account=%s error=\"%s\"", j->origin.sid, j->account,
			  j->error);
		http_session_respond_error(s, 503, "statistics are not available now", NULL);
		stats_job_free(j);
		return;
	}
	json_t *list = json_array();
	size_t next = 0;   /* the counts are ordered by day */
	for (int64_t day = j->first_day; day <= j->last_day;) {
		int64_t start = stats_bucket_start(j, day);
		struct stats_metrics m = { 0 };
		for (; day <= j->last_day && stats_bucket_start(j, day) == start; day++)
			for (; next < j->n && j->counts[next]->day == day; next++)
				stats_metrics_add(&m, j->counts[next]);
		json_array_append_new(list, stats_entry(start, &m));
	}
	http_session_respond(s, 200, list);
	stats_job_free(j);
}

static void stats_job_free(struct stats_job *j)
{
	store_event_counts_free(&j->counts, j->n);
	free(j->account);
	free(j);
}
