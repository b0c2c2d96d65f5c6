/* http/web-dash-activity - the dashboard's activity page (docs/web.md):
 * GET /dashboard/activity lists the account's events newest first, a page
 * at a time, searched by recipient, type or message (queue) id
 * (store_event_search: bound parameters only), each with the remote
 * server's reply; above them a chart of the last days' sent, delivered
 * and bounced (an inline SVG, the same counts in a table for screen
 * readers; store_event_count_days).  [web] dashboard_rows events to a
 * page, dashboard_days days in the chart.  Both are read on the session's
 * worker job (web-session.h); every value is escaped (markup_escape). */
#include "http/web-session.h"
#include "http/web.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/markup.h"
#include "util/xalloc.h"

#define ACTIVITY_FIELD_MAX 254    /* octets of a search value (an address) */
#define DAY_SECONDS 86400

/* the chart's series: the event type each counts and its colour */
static const struct {
	const char *type, *label, *colour;
} SERIES[] = {
	{ "accepted", "Sent", "#12355b" },
	{ "delivered", "Delivered", "#2e7d32" },
	{ "bounced", "Bounced", "#c62828" },
};
#define SERIES_COUNT (sizeof(SERIES) / sizeof(SERIES[0]))

static const char *const TYPES[] = {
	"accepted", "delivered", "deferred", "bounced", "dropped", "sandboxed", "rejected",
};

struct activity_data {
	struct store_event_filter filter;     /* points into the request's form */
	struct store_event **events;
	size_t count;
	unsigned page_size;                   /* [web] dashboard_rows */
	unsigned day_count;                   /* [web] dashboard_days */
	uint64_t (*days)[SERIES_COUNT];       /* day_count of them, the oldest first */
	int64_t first_day;
	int rc;
};

static void activity_work(struct http_web_request *r);
static void activity_done(struct http_session *s, struct http_web_request *r);
static void activity_data_free(void *data);
static bool filter_read(const struct http_form *form, struct store_event_filter *f);
static const char *field_value(const struct http_form *form, const char *name, bool *ok);
static void count_days(struct activity_data *d, struct store_event_count **counts, size_t n);
static void render_search(struct buf *out, const struct store_event_filter *f);
static void render_events(struct buf *out, const struct activity_data *d);
static void render_next_link(struct buf *out, const struct activity_data *d);
static void render_chart(struct buf *out, const struct activity_data *d);
static void render_chart_table(struct buf *out, const struct activity_data *d);
static void day_text(int64_t day, char text[32]);
static void url_escape(struct buf *out, const char *text);

static const struct http_web_page ACTIVITY_PAGE = {
	.name = "activity", .work = activity_work, .done = activity_done,
	.free_data = activity_data_free,
};

void http_route_web_activity(struct http_session *s)
{
	struct activity_data *d = xcalloc(1, sizeof(*d));
	d->page_size = s->server->config->web.dashboard_rows;
	d->day_count = s->server->config->web.dashboard_days;
	d->days = xcalloc(d->day_count, sizeof(*d->days));
	http_web_session_run(s, &ACTIVITY_PAGE, d);
}

/* field_value - NAME's value in FORM, NULL when absent or empty; *OK false
 * when it is longer than a search value may be */
static const char *field_value(const struct http_form *form, const char *name, bool *ok)
{
	const char *v = http_form_get(form, name);
	if (v && strlen(v) > ACTIVITY_FIELD_MAX)
		*ok = false;
	return v && *v ? v : NULL;
}

/* filter_read - the query's recipient, type, message_id and before into F */
static bool filter_read(const struct http_form *form, struct store_event_filter *f)
{
	bool ok = true;
	f->recipient = field_value(form, "recipient", &ok);
	f->type = field_value(form, "type", &ok);
	f->queue_id = field_value(form, "message_id", &ok);
	const char *before = field_value(form, "before", &ok);
	if (before) {
		char *end = NULL;
		long long id = strtoll(before, &end, 10);
		ok = ok && before[0] >= '0' && before[0] <= '9' && *end == '\0' && id > 0;
		f->before_id = ok ? id : 0;
	}
	return ok;
}

/* activity_work - (worker) one page of events (one more than shown: is
 * there another page?) and the chart's days */
static void activity_work(struct http_web_request *r)
{
	struct activity_data *d = r->data;
	struct store *store = r->origin.server->store;
	const char *error = NULL;
	if (!filter_read(&r->form, &d->filter)) {
		d->rc = STORE_NOT_FOUND;   /* answered 400 */
		return;
	}
	d->rc = store_event_search(store, r->account, &d->filter, d->page_size + 1,
				   &d->events, &d->count, &error);
	int64_t today = r->now / DAY_SECONDS;
	d->first_day = today - ((int64_t)d->day_count - 1);
	struct store_event_count **counts = NULL;
	size_t n = 0;
	if (d->rc == 0)
		d->rc = store_event_count_days(store, r->account, d->first_day * DAY_SECONDS,
					       (today + 1) * DAY_SECONDS, &counts, &n, &error);
	if (d->rc == 0)
		count_days(d, counts, n);
	else
		log_error("http-web", "session=%s page=activity account=%s error=\"%s\"",
			  r->origin.sid, r->account, error);
	store_event_counts_free(&counts, n);
}

static void count_days(struct activity_data *d, struct store_event_count **counts, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int64_t day = counts[i]->day - d->first_day;
		if (day < 0 || day >= (int64_t)d->day_count)
			continue;
		for (size_t k = 0; k < SERIES_COUNT; k++)
			if (strcmp(counts[i]->type, SERIES[k].type) == 0)
				d->days[day][k] += counts[i]->count;
	}
}

static void activity_done(struct http_session *s, struct http_web_request *r)
{
	struct activity_data *d = r->data;
	struct buf html;
	buf_init(&html);
	http_web_nav(&html, r);
	if (d->rc == STORE_NOT_FOUND) {
		buf_append_str(&html, "<p>A search value is too long or a page number is not"
			       " one.</p>\n");
		http_web_respond(s, 400, "Activity", &html);
		return;
	}
	if (d->rc != 0) {
		buf_append_str(&html, "<p>The activity cannot be read now: try again later.</p>\n");
		http_web_respond(s, 503, "Activity", &html);
		return;
	}
	render_chart(&html, d);
	render_search(&html, &d->filter);
	render_events(&html, d);
	http_web_respond(s, 200, "Activity", &html);
}

/* render_search - a GET form (the search is in the link: bookmarkable) */
static void render_search(struct buf *out, const struct store_event_filter *f)
{
	static const struct { const char *name, *label; } fields[] = {
		{ "recipient", "Recipient" }, { "message_id", "Message id" },
	};
	const char *values[] = { f->recipient, f->queue_id };
	buf_append_str(out, "<h2>Events</h2>\n<form method=\"get\" action=\"/dashboard/activity\""
		       " role=\"search\">\n");
	for (size_t i = 0; i < 2; i++) {
		buf_printf(out, "<label for=\"%s\">%s</label>\n<input id=\"%s\" name=\"%s\""
			   " maxlength=\"%d\" value=\"", fields[i].name, fields[i].label,
			   fields[i].name, fields[i].name, ACTIVITY_FIELD_MAX);
		http_web_text(out, values[i] ? values[i] : "");
		buf_append_str(out, "\">\n");
	}
	buf_append_str(out, "<label for=\"type\">Type</label>\n<select id=\"type\" name=\"type\">"
		       "<option value=\"\">any</option>");
	for (size_t i = 0; i < sizeof(TYPES) / sizeof(TYPES[0]); i++)
		buf_printf(out, "<option%s>%s</option>",
			   f->type && strcmp(f->type, TYPES[i]) == 0 ? " selected" : "", TYPES[i]);
	buf_append_str(out, "</select>\n<button type=\"submit\">Search</button>\n</form>\n");
}

/* render_events - the page's events, newest first, and the link to older */
static void render_events(struct buf *out, const struct activity_data *d)
{
	size_t shown = d->count > d->page_size ? d->page_size : d->count;
	if (shown == 0) {
		buf_append_str(out, "<p id=\"no-events\">No events found.</p>\n");
		return;
	}
	buf_append_str(out, "<table class=\"events\">\n<caption>Events, newest first (times in"
		       " UTC)</caption>\n<thead><tr><th scope=\"col\">Time</th><th scope=\"col\">"
		       "Type</th><th scope=\"col\">Recipient</th><th scope=\"col\">Message id</th>"
		       "<th scope=\"col\">Reply</th></tr></thead>\n<tbody>\n");
	for (size_t i = 0; i < shown; i++) {
		const struct store_event *e = d->events[i];
		char when[32];
		http_web_utc(when, e->time, "%Y-%m-%d %H:%M:%S");
		buf_printf(out, "<tr><td>%s</td><td>", when);
		http_web_text(out, e->type);
		buf_append_str(out, "</td><td>");
		http_web_text(out, e->recipient ? e->recipient : "");
		buf_append_str(out, "</td><td><code>");
		http_web_text(out, e->queue_id ? e->queue_id : "");
		buf_append_str(out, "</code></td><td>");
		if (e->code)
			buf_printf(out, "%d ", e->code);
		http_web_text(out, e->reason ? e->reason : "");
		buf_append_str(out, "</td></tr>\n");
	}
	buf_append_str(out, "</tbody>\n</table>\n");
	if (d->count > d->page_size)
		render_next_link(out, d);
}

/* render_next_link - the same search from before the last event shown */
static void render_next_link(struct buf *out, const struct activity_data *d)
{
	struct buf url;
	buf_init(&url);
	buf_printf(&url, "/dashboard/activity?before=%lld",
		   (long long)d->events[d->page_size - 1]->id);
	const char *names[] = { "recipient", "type", "message_id" };
	const char *values[] = { d->filter.recipient, d->filter.type, d->filter.queue_id };
	for (size_t i = 0; i < 3; i++) {
		if (!values[i])
			continue;
		buf_printf(&url, "&%s=", names[i]);
		url_escape(&url, values[i]);
	}
	buf_append_str(out, "<p><a id=\"older\" href=\"");
	markup_escape(out, url.data, url.len);
	buf_append_str(out, "\">Older events</a></p>\n");
	buf_free(&url);
}

/* render_chart - one group of bars a day scaled to the largest count,
 * then the same numbers as a table */
static void render_chart(struct buf *out, const struct activity_data *d)
{
	uint64_t max = 1;
	for (size_t i = 0; i < d->day_count; i++)
		for (size_t k = 0; k < SERIES_COUNT; k++)
			max = d->days[i][k] > max ? d->days[i][k] : max;
	const int height = 120, group = 40, bar = 10;
	buf_printf(out, "<h2 id=\"chart-title\">The last %u days</h2>\n<svg role=\"img\""
		   " aria-labelledby=\"chart-title\" viewBox=\"0 0 %u %d\" width=\"100%%\""
		   " class=\"chart\">\n", d->day_count, d->day_count * group, height + 16);
	for (size_t i = 0; i < d->day_count; i++) {
		for (size_t k = 0; k < SERIES_COUNT; k++) {
			int h = (int)(d->days[i][k] * (uint64_t)height / max);
			buf_printf(out, "<rect x=\"%zu\" y=\"%d\" width=\"%d\" height=\"%d\""
				   " fill=\"%s\"></rect>", i * group + 5 + k * bar, height - h,
				   bar, h, SERIES[k].colour);
		}
		char day[32];
		day_text(d->first_day + (int64_t)i, day);
		buf_printf(out, "<text x=\"%zu\" y=\"%d\" font-size=\"9\">%s</text>\n",
			   i * group + 5, height + 12, day + 5);   /* MM-DD */
	}
	buf_append_str(out, "</svg>\n<p>");
	for (size_t k = 0; k < SERIES_COUNT; k++)
		buf_printf(out, "<span style=\"color:%s\">&#9632;</span> %s ", SERIES[k].colour,
			   SERIES[k].label);
	buf_append_str(out, "</p>\n");
	render_chart_table(out, d);
}

static void render_chart_table(struct buf *out, const struct activity_data *d)
{
	buf_append_str(out, "<table class=\"days\">\n<caption>Messages per day (UTC)</caption>\n"
		       "<thead><tr><th scope=\"col\">Day</th>");
	for (size_t k = 0; k < SERIES_COUNT; k++)
		buf_printf(out, "<th scope=\"col\">%s</th>", SERIES[k].label);
	buf_append_str(out, "</tr></thead>\n<tbody>\n");
	for (size_t i = d->day_count; i-- > 0;) {
		char day[32];
		day_text(d->first_day + (int64_t)i, day);
		buf_printf(out, "<tr><th scope=\"row\">%s</th>", day);
		for (size_t k = 0; k < SERIES_COUNT; k++)
			buf_printf(out, "<td>%llu</td>", (unsigned long long)d->days[i][k]);
		buf_append_str(out, "</tr>\n");
	}
	buf_append_str(out, "</tbody>\n</table>\n");
}

static void day_text(int64_t day, char text[32])
{
	http_web_utc(text, (time_t)(day * DAY_SECONDS), "%Y-%m-%d");
}

/* url_escape - TEXT as a query value: unreserved octets as they are,
 * every other one as %XX (RFC 3986 2.1, 2.3) */
static void url_escape(struct buf *out, const char *text)
{
	for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("-._~", *p))
			buf_append(out, p, 1);
		else
			buf_printf(out, "%%%02X", *p);
	}
}

static void activity_data_free(void *data)
{
	struct activity_data *d = data;
	store_event_list_free(&d->events, d->count);
	free(d->days);
	free(d);
}
