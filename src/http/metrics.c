/* http/metrics - GET /metrics: the server's counters in Prometheus' text
 * exposition format 0.0.4 (a "# HELP" and a "# TYPE" line per family, then
 * its samples), for clients in [http] metrics_from only.  Everything comes
 * from memory on the loop (http_metrics_fn): no store, no disk.  The
 * families and their meaning are listed in docs/http.md. */
#include "http/session.h"

#include <stdio.h>

#include "config/config.h"
#include "net/proxy.h"
#include "util/buf.h"
#include "util/histogram.h"

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* one family with one unlabelled sample */
struct metric {
	const char *name;
	const char *type;   /* "counter" or "gauge" */
	const char *help;
	unsigned long long value;
};

static void metrics_family(struct buf *out, const char *name, const char *type,
			   const char *help);
static void metrics_histogram(struct buf *out, const char *name, const char *help,
			      const struct histogram *h);
static void metrics_queue_states(struct buf *out, const struct queue_stats *q);
static void metrics_sessions(struct buf *out, const struct http_metrics *m);
static void metrics_write(struct buf *out, const struct http_metrics *m);

void http_route_metrics(struct http_session *s)
{
	const struct config_http *c = &s->server->config->http;
	if (!s->server->metrics) {
		http_session_respond_error(s, 404, "not found", NULL);
		return;
	}
	if (!net_address_in_networks((const struct sockaddr *)&s->addr, c->metrics_from,
				     c->metrics_from_count)) {
		http_session_respond_error(s, 403, "access forbidden", NULL);
		return;
	}
	struct http_metrics m = { 0 };
	s->server->metrics(s->server->metrics_ctx, &m);
	struct buf out;
	buf_init(&out);
	metrics_write(&out, &m);
	http_session_respond_text(s, 200, METRICS_CONTENT_TYPE, out.data, out.len);
	buf_free(&out);
}

static void metrics_family(struct buf *out, const char *name, const char *type,
			   const char *help)
{
	buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* metrics_histogram - NAME's buckets (cumulative, "+Inf" last: all of
 * them), _sum and _count */
static void metrics_histogram(struct buf *out, const char *name, const char *help,
			      const struct histogram *h)
{
	metrics_family(out, name, "histogram", help);
	for (size_t i = 0; i < HISTOGRAM_BOUNDS; i++)
		buf_printf(out, "%s_bucket{le=\"%g\"} %llu\n", name, histogram_bounds[i],
			   histogram_cumulative(h, i));
	buf_printf(out, "%s_bucket{le=\"+Inf\"} %llu\n", name,
		   histogram_cumulative(h, HISTOGRAM_BOUNDS));
	buf_printf(out, "%s_sum %.6f\n%s_count %llu\n", name, h->sum, name, h->count);
}

/* metrics_queue_states - the queue's messages, each in one state */
static void metrics_queue_states(struct buf *out, const struct queue_stats *q)
{
	const struct {
		const char *state;
		unsigned long long value;
	} states[] = {
		{ "ready", q->ready },
		{ "delivering", q->delivering },
		{ "retrying", q->retrying },
		{ "deferred", q->deferred_on_disk },
		{ "held", q->held_on_disk },
	};
	metrics_family(out, "petrel_queue_state_messages", "gauge",
		       "Messages in the queue by state (new/ beyond memory not counted).");
	for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++)
		buf_printf(out, "petrel_queue_state_messages{state=\"%s\"} %llu\n",
			   states[i].state, states[i].value);
}

/* metrics_sessions - the families labelled by protocol */
static void metrics_sessions(struct buf *out, const struct http_metrics *m)
{
	static const char *const protocols[HTTP_METRICS_PROTOCOLS] = {
		[HTTP_METRICS_SMTP] = "smtp",
		[HTTP_METRICS_IMAP] = "imap",
		[HTTP_METRICS_POP3] = "pop3",
		[HTTP_METRICS_HTTP] = "http",
	};
	metrics_family(out, "petrel_open_sessions", "gauge",
		       "Open client connections, by protocol.");
	for (size_t i = 0; i < HTTP_METRICS_PROTOCOLS; i++)
		buf_printf(out, "petrel_open_sessions{protocol=\"%s\"} %zu\n", protocols[i],
			   m->sessions[i]);
	metrics_family(out, "petrel_tls_handshakes_total", "counter",
		       "TLS handshakes done, by protocol and TLS version.");
	for (size_t i = 0; i < HTTP_METRICS_PROTOCOLS; i++)
		for (size_t v = 0; v < NET_TLS_VERSIONS; v++)
			buf_printf(out, "petrel_tls_handshakes_total{protocol=\"%s\","
				   "version=\"%s\"} %llu\n", protocols[i],
				   net_tls_version_name((enum net_tls_version)v),
				   m->session_stats[i].tls_handshakes[v]);
	metrics_family(out, "petrel_auth_failures_total", "counter",
		       "Logins refused for wrong credentials, by protocol.");
	for (size_t i = 0; i < HTTP_METRICS_PROTOCOLS; i++)
		buf_printf(out, "petrel_auth_failures_total{protocol=\"%s\"} %llu\n",
			   protocols[i], m->session_stats[i].auth_failures);
}

/* metrics_write - every family, in a fixed order */
static void metrics_write(struct buf *out, const struct http_metrics *m)
{
	const struct queue_stats *q = &m->queue;
	const struct metric plain[] = {
		{ "petrel_queue_accepted_messages_total", "counter",
		  "Messages accepted into the queue since the start.", q->accepted },
		{ "petrel_queue_delivered_recipients_total", "counter",
		  "Recipients delivered (mailbox or relay) since the start.", q->delivered },
		{ "petrel_queue_deferred_recipients_total", "counter",
		  "Recipient delivery attempts that failed for now (to be retried).",
		  q->deferred },
		{ "petrel_queue_bounced_recipients_total", "counter",
		  "Recipients whose delivery failed for good.", q->bounced },
		{ "petrel_queue_messages", "gauge",
		  "Messages in the queue's memory (waiting or being delivered).", q->messages },
		{ "petrel_queue_message_bodies", "gauge",
		  "Of those messages, the ones whose body is held in memory.", q->bodies },
		{ "petrel_queue_message_body_bytes", "gauge",
		  "Bytes of the message bodies held in memory.", q->body_bytes },
		{ "petrel_queue_defer_buckets", "gauge",
		  "Folders of deferred messages (defer/<T>/) the queue knows.", q->buckets },
		{ "petrel_queue_syncs_total", "counter",
		  "Group commits (syncfs) of the queue's spool.", q->queue_syncs },
		{ "petrel_queue_synced_writes_total", "counter",
		  "Spool writes made durable by those group commits.", q->queue_waits },
		{ "petrel_mailbox_syncs_total", "counter",
		  "Group commits of local delivery (0 when petrel_syncer_shared is 1).",
		  q->mail_syncs },
		{ "petrel_mailbox_synced_writes_total", "counter",
		  "Maildir writes made durable by those group commits.", q->mail_waits },
		{ "petrel_syncer_shared", "gauge",
		  "1 if mailboxes share the spool's file system and its group commits.",
		  q->syncer_shared },
		{ "petrel_worker_pool_pending_jobs", "gauge",
		  "Jobs submitted to the worker pool and not done yet.", m->pool_pending },
	};
	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
		metrics_family(out, plain[i].name, plain[i].type, plain[i].help);
		buf_printf(out, "%s %llu\n", plain[i].name, plain[i].value);
	}
	metrics_queue_states(out, q);
	metrics_sessions(out, m);
	metrics_histogram(out, "petrel_smtp_accept_duration_seconds",
			  "Seconds from the end of a message's data to its 250 reply.",
			  &m->smtp_accept_seconds);
	metrics_histogram(out, "petrel_queue_delivery_attempt_duration_seconds",
			  "Seconds a delivery attempt of a message took, start to end.",
			  &q->attempt_seconds);
}
