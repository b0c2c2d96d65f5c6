/* http/stats - SendGrid's GET /v3/stats (global statistics), and
 * /v3/categories/stats, /v3/categories/stats/sums and /v3/categories (the
 * same by the categories kept with each message): the key's account's
 * events between start_date and end_date (UTC days, both included) counted
 * by the store in one query on a worker (store_event_count_days,
 * store_event_count_category_days), then gathered by day, week (from
 * Monday) or month on the loop: one series of buckets, or one per category.  Every bucket of the range is listed, empty ones with
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
#include "wire/wire.h"

#define DAY_SECONDS 86400

#define CATEGORY_MAX 255          /* octets of a category, as /v3/mail/send takes them */
#define CATEGORY_LIMIT_DEFAULT 50 /* GET /v3/categories without limit */
#define SUMS_LIMIT_DEFAULT 5      /* /v3/categories/stats/sums without limit (SendGrid's) */

enum stats_aggregation { STATS_BY_DAY, STATS_BY_WEEK, STATS_BY_MONTH };
enum stats_kind { STATS_GLOBAL, STATS_CATEGORIES, STATS_CATEGORY_SUMS, STATS_CATEGORY_LIST };

struct stats_job {
	struct http_job_origin origin;   /* the request it answers */
	enum stats_kind kind;
	char *account;
	int64_t first_day, last_day;        /* days since 1970-01-01 */
	enum stats_aggregation by;
	json_t *categories;                 /* the names asked for (array), or NULL */
	char *prefix;                       /* GET /v3/categories' category=, or NULL */
	size_t limit, offset;               /* sums, list */
	char metric[24];                    /* sums: sort_by_metric */
	bool ascending;                     /* sums: sort_by_direction=asc */
	struct store_event_count **counts;
	size_t n;
	char **names;                       /* GET /v3/categories' answer */
	int rc;
	const char *error;
};

/* one category's sums, for sorting */
struct stats_sum {
	const char *name;
	json_t *metrics;
	json_int_t key;
};

/* the metrics of one bucket; SendGrid's names */
struct stats_metrics {
	uint64_t requests, delivered, deferred, bounces, blocks;
	uint64_t bounce_drops, unsubscribe_drops, spam_report_drops;
};

static void stats_authorized(struct http_session *s);
static void category_stats_authorized(struct http_session *s);
static void category_sums_authorized(struct http_session *s);
static void category_list_authorized(struct http_session *s);
static void stats_start(struct http_session *s, struct stats_job *j, bool ok);
static bool stats_date_parse(const char *data, struct http_span span, int64_t *day_r);
static bool stats_query_parse(struct http_session *s, struct stats_job *j);
static bool stats_categories_parse(struct http_session *s, struct stats_job *j);
static bool stats_number_parse(struct http_session *s, const char *name, size_t fallback,
			       size_t max, size_t *value_r);
static char *stats_query_text(const char *data, struct http_span v);
static void stats_work(void *arg);
static void stats_done(void *arg);
static json_t *stats_answer(struct stats_job *j);
static json_t *stats_buckets(struct stats_job *j);
static json_t *stats_sums(struct stats_job *j);
static int stats_sum_compare(const void *a, const void *b);
static int64_t stats_bucket_start(const struct stats_job *j, int64_t day);
static json_t *stats_metrics_json(const struct stats_metrics *m);
static json_t *stats_category_stat(const char *name, const struct stats_metrics *m);
static void stats_metrics_add(struct stats_metrics *m, const struct store_event_count *c);
static void stats_drop_add(struct stats_metrics *m, const struct store_event_count *c);
static void stats_job_free(struct stats_job *j);

void http_route_stats(struct http_session *s)
{
	http_session_authorize(s, "stats.read", stats_authorized);
}

void http_route_category_stats(struct http_session *s)
{
	http_session_authorize(s, "categories.stats.read", category_stats_authorized);
}

void http_route_category_sums(struct http_session *s)
{
	http_session_authorize(s, "categories.stats.sums.read", category_sums_authorized);
}

void http_route_categories(struct http_session *s)
{
	http_session_authorize(s, "categories.read", category_list_authorized);
}

/* stats_authorized - the query checked on the loop (400 in SendGrid's
 * shape), the counting on a worker */
static void stats_authorized(struct http_session *s)
{
	struct stats_job *j = xcalloc(1, sizeof(*j));
	j->kind = STATS_GLOBAL;
	stats_start(s, j, stats_query_parse(s, j));
}

/* category_stats_authorized - the dates and categories= (1 to [http]
 * send_categories of them, repeated) */
static void category_stats_authorized(struct http_session *s)
{
	struct stats_job *j = xcalloc(1, sizeof(*j));
	j->kind = STATS_CATEGORIES;
	stats_start(s, j, stats_query_parse(s, j) && stats_categories_parse(s, j));
}

/* category_sums_authorized - the dates, sort_by_metric (delivered),
 * sort_by_direction (desc), limit (5) and offset (0) */
static void category_sums_authorized(struct http_session *s)
{
	struct stats_job *j = xcalloc(1, sizeof(*j));
	j->kind = STATS_CATEGORY_SUMS;
	snprintf(j->metric, sizeof(j->metric), "delivered");
	bool ok = stats_query_parse(s, j) &&
		  stats_number_parse(s, "limit", SUMS_LIMIT_DEFAULT,
				     s->server->config->http.categories_max, &j->limit) &&
		  stats_number_parse(s, "offset", 0, SIZE_MAX, &j->offset);
	struct http_span v;
	if (ok && http_query_param(s->head, s->req.query, "sort_by_metric", &v)) {
		struct stats_metrics zero = { 0 };
		json_t *names = stats_metrics_json(&zero);
		char *metric = stats_query_text(s->head, v);
		ok = metric && strlen(metric) < sizeof(j->metric) && json_object_get(names, metric);
		if (ok)
			snprintf(j->metric, sizeof(j->metric), "%s", metric);
		else
			http_session_respond_error(s, 400, "is not a metric", "sort_by_metric");
		free(metric);
		json_decref(names);
	}
	if (ok && http_query_param(s->head, s->req.query, "sort_by_direction", &v)) {
		j->ascending = http_span_equals(s->head, v, "asc", false);
		ok = j->ascending || http_span_equals(s->head, v, "desc", false);
		if (!ok)
			http_session_respond_error(s, 400, "must be asc or desc", "sort_by_direction");
	}
	stats_start(s, j, ok);
}

/* category_list_authorized - category= (a prefix), limit (50), offset */
static void category_list_authorized(struct http_session *s)
{
	struct stats_job *j = xcalloc(1, sizeof(*j));
	j->kind = STATS_CATEGORY_LIST;
	struct http_span v;
	bool ok = stats_number_parse(s, "limit", CATEGORY_LIMIT_DEFAULT,
				     s->server->config->http.categories_max, &j->limit) &&
		  stats_number_parse(s, "offset", 0, SIZE_MAX, &j->offset);
	if (ok && http_query_param(s->head, s->req.query, "category", &v)) {
		j->prefix = stats_query_text(s->head, v);
		ok = j->prefix && strlen(j->prefix) <= CATEGORY_MAX;
		if (!ok)
			http_session_respond_error(s, 400, "is not a valid category", "category");
	}
	stats_start(s, j, ok);
}

/* stats_start - J for the key's account on a worker, if its query was
 * OK (else it is answered already); J is gone either way */
static void stats_start(struct http_session *s, struct stats_job *j, bool ok)
{
	if (!ok) {
		stats_job_free(j);
		return;
	}
	if (!s->server->store) {
		http_session_respond_error(s, 503, "statistics are not available", NULL);
		stats_job_free(j);
		return;
	}
	http_job_origin_init(&j->origin, s);
	j->account = xstrdup(s->account->name);
	pool_submit(s->server->pool, stats_work, stats_done, j);
}

/* stats_query_text - the query value V of DATA decoded ('+' a space, then
 * RFC 3986's %XX), malloc'd; NULL if it does not decode */
static char *stats_query_text(const char *data, struct http_span v)
{
	char *raw = xmalloc(v.len + 1), *text = xmalloc(v.len + 1);
	for (size_t i = 0; i < v.len; i++)
		raw[i] = data[v.off + i] == '+' ? ' ' : data[v.off + i];
	bool ok = wire_percent_decode(raw, v.len, text);
	free(raw);
	if (!ok) {
		free(text);
		return NULL;
	}
	return text;
}

/* stats_number_parse - the query's NAME: at most 15 digits, at most MAX;
 * FALLBACK when absent; false once the 400 is answered */
static bool stats_number_parse(struct http_session *s, const char *name, size_t fallback,
			       size_t max, size_t *value_r)
{
	struct http_span v;
	*value_r = fallback;
	if (!http_query_param(s->head, s->req.query, name, &v))
		return true;
	uint64_t n = 0;
	bool ok = v.len > 0 && v.len <= 15;
	for (size_t i = 0; ok && i < v.len; i++) {
		char c = s->head[v.off + i];
		ok = c >= '0' && c <= '9';
		n = n * 10 + (uint64_t)(c - '0');
	}
	if (!ok || n > max) {
		char message[64];
		snprintf(message, sizeof(message), "must be a number of at most %zu", max);
		http_session_respond_error(s, 400, ok ? message : "must be a number", name);
		return false;
	}
	*value_r = (size_t)n;
	return true;
}

/* stats_categories_parse - each categories= (SendGrid repeats the
 * parameter), decoded, 1 to 255 octets, the same one once */
static bool stats_categories_parse(struct http_session *s, struct stats_job *j)
{
	size_t pos = 0, max = s->server->config->http.send_categories;
	struct http_span v;
	j->categories = json_array();
	while (http_query_param_next(s->head, s->req.query, "categories", &pos, &v)) {
		char *name = stats_query_text(s->head, v);
		json_t *text = name && name[0] && strlen(name) <= CATEGORY_MAX ? json_string(name)
									    : NULL;
		free(name);
		if (!text) {
			http_session_respond_error(s, 400, "is not a valid category", "categories");
			return false;
		}
		bool seen = false;
		for (size_t i = 0; i < json_array_size(j->categories) && !seen; i++)
			seen = json_equal(json_array_get(j->categories, i), text);
		if (!seen && json_array_size(j->categories) == max) {
			json_decref(text);
			char message[80];
			snprintf(message, sizeof(message), "You can ask for at most %zu categories.",
				 max);
			http_session_respond_error(s, 400, message, "categories");
			return false;
		}
		if (seen)
			json_decref(text);
		else
			json_array_append_new(j->categories, text);
	}
	if (json_array_size(j->categories) == 0) {
		http_session_respond_error(s, 400, "missing required argument", "categories");
		return false;
	}
	return true;
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

/* stats_work - (worker) the account's events counted by day and type
 * (and category), or its categories */
static void stats_work(void *arg)
{
	struct stats_job *j = arg;
	struct store *store = j->origin.server->store;
	time_t begin = j->first_day * DAY_SECONDS, end = (j->last_day + 1) * DAY_SECONDS;
	if (j->kind == STATS_GLOBAL) {
		j->rc = store_event_count_days(store, j->account, begin, end, &j->counts, &j->n,
					       &j->error);
	} else if (j->kind == STATS_CATEGORY_LIST) {
		j->rc = store_category_list(store, j->account, j->prefix, j->limit, j->offset,
					    &j->names, &j->error);
	} else {
		char *names = j->categories ? json_dumps(j->categories, JSON_COMPACT) : NULL;
		if (j->categories && !names)
			abort();
		j->rc = store_event_count_category_days(store, j->account, names, begin, end,
							&j->counts, &j->n, &j->error);
		free(names);
	}
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

/* stats_date - DAY as YYYY-MM-DD */
static void stats_date(int64_t day, char date[16])
{
	time_t t = (time_t)(day * DAY_SECONDS);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(date, 16, "%Y-%m-%d", &tm);
}

/* stats_metrics_json - SendGrid's "metrics" object of M */
static json_t *stats_metrics_json(const struct stats_metrics *m)
{
	return json_pack(
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
}

/* stats_category_stat - {"type":"category","name":NAME,"metrics":{..}} */
static json_t *stats_category_stat(const char *name, const struct stats_metrics *m)
{
	return json_pack("{s:s, s:s, s:o}", "type", "category", "name", name, "metrics",
			 stats_metrics_json(m));
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
	http_session_respond(s, 200, stats_answer(j));
	stats_job_free(j);
}

/* stats_answer - J's JSON answer */
static json_t *stats_answer(struct stats_job *j)
{
	if (j->kind == STATS_CATEGORY_SUMS)
		return stats_sums(j);
	if (j->kind != STATS_CATEGORY_LIST)
		return stats_buckets(j);
	json_t *list = json_array();
	for (size_t i = 0; j->names && j->names[i]; i++)
		json_array_append_new(list, json_pack("{s:s}", "category", j->names[i]));
	return list;
}

/* stats_buckets - one entry per bucket of the range, oldest first: its
 * date and one stat (/v3/stats), or one per category asked for, in their
 * order (/v3/categories/stats).  The counts come ordered by category and
 * day: each series has its range of them, walked by a cursor. */
static json_t *stats_buckets(struct stats_job *j)
{
	size_t series = j->kind == STATS_GLOBAL ? 1 : json_array_size(j->categories);
	size_t *next = xcalloc(series, sizeof(*next)), *end = xcalloc(series, sizeof(*end));
	for (size_t k = 0; k < series; k++) {
		const char *name = j->categories ? json_string_value(json_array_get(j->categories, k))
						 : NULL;
		for (next[k] = 0; name && next[k] < j->n &&
		     strcmp(j->counts[next[k]]->category, name) != 0; next[k]++)
			;
		for (end[k] = name ? next[k] : j->n; name && end[k] < j->n &&
		     strcmp(j->counts[end[k]]->category, name) == 0; end[k]++)
			;
	}
	json_t *list = json_array();
	for (int64_t day = j->first_day; day <= j->last_day;) {
		int64_t start = stats_bucket_start(j, day);
		for (; day <= j->last_day && stats_bucket_start(j, day) == start; day++)
			;
		json_t *stats = json_array();
		for (size_t k = 0; k < series; k++) {
			struct stats_metrics m = { 0 };
			for (; next[k] < end[k] && j->counts[next[k]]->day < day; next[k]++)
				stats_metrics_add(&m, j->counts[next[k]]);
			json_array_append_new(stats, j->categories
				? stats_category_stat(json_string_value(json_array_get(j->categories, k)), &m)
				: json_pack("{s:o}", "metrics", stats_metrics_json(&m)));
		}
		char date[16];
		stats_date(start, date);
		json_array_append_new(list, json_pack("{s:s, s:o}", "date", date, "stats", stats));
	}
	free(next);
	free(end);
	return list;
}

/* stats_sums - {"date": start_date, "stats": [...]}: every category of the
 * range's events summed, sorted by the metric asked for (then by name),
 * LIMIT of them after OFFSET (SendGrid's /v3/categories/stats/sums) */
static json_t *stats_sums(struct stats_job *j)
{
	struct stats_sum *sums = xcalloc(j->n + 1, sizeof(*sums));
	size_t n = 0;
	for (size_t i = 0; i < j->n;) {
		struct stats_metrics m = { 0 };
		const char *name = j->counts[i]->category;
		for (; i < j->n && strcmp(j->counts[i]->category, name) == 0; i++)
			stats_metrics_add(&m, j->counts[i]);
		sums[n].name = name;
		sums[n].metrics = stats_metrics_json(&m);
		sums[n].key = json_integer_value(json_object_get(sums[n].metrics, j->metric));
		if (j->ascending)
			sums[n].key = -sums[n].key;
		n++;
	}
	qsort(sums, n, sizeof(*sums), stats_sum_compare);
	json_t *stats = json_array();
	for (size_t i = 0; i < n; i++) {
		if (i >= j->offset && i - j->offset < j->limit)
			json_array_append_new(stats, json_pack("{s:s, s:s, s:O}", "type", "category",
							       "name", sums[i].name, "metrics",
							       sums[i].metrics));
		json_decref(sums[i].metrics);
	}
	free(sums);
	char date[16];
	stats_date(j->first_day, date);
	return json_pack("{s:s, s:o}", "date", date, "stats", stats);
}

/* stats_sum_compare - the largest key first, then by name */
static int stats_sum_compare(const void *a, const void *b)
{
	const struct stats_sum *x = a, *y = b;
	if (x->key != y->key)
		return x->key > y->key ? -1 : 1;
	return strcmp(x->name, y->name);
}

static void stats_job_free(struct stats_job *j)
{
	store_event_counts_free(&j->counts, j->n);
	store_strv_free(&j->names);
	json_decref(j->categories);
	free(j->prefix);
	free(j->account);
	free(j);
}
