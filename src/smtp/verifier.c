/* smtp/verifier - the deliverability verifier ([auth] verifier = ADDRESS).
 *
 * A message sent to ADDRESS is not stored: Petrel answers its envelope
 * sender with a report of what the receiving checks found (the topmost
 * Authentication-Results field with our authserv-id: SPF, DKIM, DMARC, ARC
 * and their reasons), the connection (address, reverse DNS, HELO, TLS) and
 * the header fields that matter (From, Message-ID, Date, Subject, each
 * DKIM-Signature's d=, s= and a=).  A domain owner mails the address and
 * reads in the answer whether their setup passes.
 *
 * The report is an auto-reply (RFC 3834): sent from the null sender like a
 * bounce (queue/bounce.c), so nothing answers it, with Auto-Submitted:
 * auto-replied.  None is sent to the null sender, to the verifier's own
 * address, for a message that is itself automatic (Auto-Submitted other than
 * "no", RFC 3834 2), nor to a sender answered less than verifier_interval
 * seconds ago (a table of the last senders, keyed by a hash: a collision can
 * let one more report through, never stop one too many for long).  Since
 * the envelope sender of an unauthenticated message can be forged, every
 * report can be backscatter to a stranger: the verifier is off by default,
 * and the rate limit bounds what one address receives.
 *
 * The RCPT to ADDRESS is accepted without being a recipient of the message:
 * with other recipients the message goes to them as usual and the report is
 * queued beside it; alone, the client's 250 waits until the report is
 * durable in the queue.
 */
#include "smtp/session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "config/config.h"
#include "mailauth/mailauth.h"
#include "message/message.h"
#include "queue/queue.h"
#include "util/log.h"
#include "util/utf8.h"
#include "util/xalloc.h"

#define VERIFIER_SLOTS 4096          /* senders remembered for the rate limit */
#define VERIFIER_VALUE_MAX 200       /* octets of a header value shown */
#define VERIFIER_DKIM_MAX 5          /* DKIM-Signature fields described */

struct verifier_slot {
	uint64_t hash;
	time_t at;
};

struct smtp_verifier {
	struct verifier_slot slots[VERIFIER_SLOTS];
};

struct verifier_ctx {
	struct smtp_server *server;
	uint64_t session_id;   /* the session whose 250 waits, or 0 */
	char *to;
};

static const char *verifier_skip_reason(struct smtp_session *s, const char *sender,
					const struct message_headers *headers);
static uint64_t verifier_hash(const char *s);
static void verifier_clean(const char *in, size_t len, struct buf *out);
static void verifier_field(struct buf *out, const char *label, const struct message_headers *h,
			   const char *name);
static const char *verifier_authserv_id(const struct config *config);
static bool verifier_find_ar(const struct message_headers *h, const char *authserv_id,
			     struct mailauth_ar *ar_r);
static const char *verifier_result_of(const struct mailauth_ar *ar, const char *method);
static void verifier_build(struct smtp_session *s, const struct queue_envelope *env,
			   const struct message_headers *h, const char *report_id,
			   struct buf *out);
static void verifier_queued(void *arg, int status, const char *queue_id, const char *error);

bool smtp_verifier_rcpt(struct smtp_session *s, const char *address)
{
	const char *verifier = s->config->auth.verifier;
	if (!verifier || strcasecmp(address, verifier) != 0)
		return false;
	s->verifier = true;
	log_info("verifier-rcpt", "session=%s client=%s", s->sid, s->client);
	smtp_session_reply(s, "250 2.1.5 Ok: the verifier answers the sender with a report");
	return true;
}

/* verifier_hash - FNV-1a of S, lower-cased (a sender is one mailbox in any case) */
static uint64_t verifier_hash(const char *s)
{
	uint64_t h = 14695981039346656037ULL;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		h = (h ^ c) * 1099511628211ULL;
	}
	return h ? h : 1;
}

/* verifier_skip_reason - why no report goes to SENDER, or NULL: one goes
 * (and the rate limit counts it) */
static const char *verifier_skip_reason(struct smtp_session *s, const char *sender,
					const struct message_headers *headers)
{
	if (sender[0] == '\0')
		return "null sender";
	if (strcasecmp(sender, s->config->auth.verifier) == 0)
		return "sender is the verifier";
	const struct message_header *auto_sub = message_header_find(headers, "Auto-Submitted", 0);
	if (auto_sub) {
		char *v = message_header_unfold(auto_sub);
		bool automatic = strncasecmp(v, "no", 2) != 0 ||
			(v[2] != '\0' && v[2] != ' ' && v[2] != ';' && v[2] != '(');
		free(v);
		if (automatic)
			return "automatic message (Auto-Submitted)";
	}
	struct smtp_server *server = s->server;
	if (!server->verifier)
		server->verifier = xcalloc(1, sizeof(*server->verifier));
	uint64_t h = verifier_hash(sender);
	struct verifier_slot *slot = &server->verifier->slots[h % VERIFIER_SLOTS];
	time_t now = time(NULL);
	if (slot->hash == h && now - slot->at < (time_t)s->config->auth.verifier_interval &&
	    now >= slot->at)
		return "rate limit (verifier_interval)";
	slot->hash = h;
	slot->at = now;
	return NULL;
}

/* verifier_clean - IN[0..LEN) for a line of the report: control characters
 * (folding included) become spaces, runs of white space one, invalid UTF-8
 * a "?" per byte; at most VERIFIER_VALUE_MAX octets, then "..." */
static void verifier_clean(const char *in, size_t len, struct buf *out)
{
	size_t start = out->len;
	bool space = false;
	size_t i = 0;
	while (i < len && out->len - start < VERIFIER_VALUE_MAX) {
		unsigned char c = (unsigned char)in[i];
		if (c < 0x20 || c == 0x7f || c == ' ') {
			if (!space && out->len > start)
				buf_append(out, " ", 1);
			space = true;
			i++;
			continue;
		}
		space = false;
		if (c < 0x80) {
			buf_append(out, &in[i], 1);
			i++;
			continue;
		}
		size_t n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
		if (i + n <= len && n > 1 && utf8_is_valid(in + i, n)) {
			buf_append(out, in + i, n);
			i += n;
		} else {
			buf_append(out, "?", 1);
			i++;
		}
	}
	while (out->len > start && out->data[out->len - 1] == ' ')
		out->len--;
	if (i < len)
		buf_append(out, "...", 3);
}

/* verifier_field - "  LABEL: value" of the first field NAME, or "(none)" */
static void verifier_field(struct buf *out, const char *label, const struct message_headers *h,
			   const char *name)
{
	const struct message_header *f = message_header_find(h, name, 0);
	buf_printf(out, "  %-16s", label);
	if (f) {
		char *v = message_header_unfold(f);
		verifier_clean(v, strlen(v), out);
		free(v);
	} else {
		buf_printf(out, "(none)");
	}
	buf_printf(out, "\r\n");
}

/* verifier_authserv_id - the authserv-id our receiving checks write (verify.c) */
static const char *verifier_authserv_id(const struct config *config)
{
	return config->auth.authserv_id;
}

/* verifier_find_ar - the topmost Authentication-Results field naming
 * AUTHSERV_ID (RFC 8601 5: only our own are to be believed; the receiving
 * checks removed any forged one with our id before adding theirs) */
static bool verifier_find_ar(const struct message_headers *h, const char *authserv_id,
			     struct mailauth_ar *ar_r)
{
	for (size_t n = 0;; n++) {
		const struct message_header *f = message_header_find(h, "Authentication-Results", n);
		if (!f)
			return false;
		const char *error;
		if (mailauth_ar_parse(f->value, f->value_len, ar_r, &error) != 0)
			continue;
		if (strcasecmp(ar_r->authserv_id, authserv_id) == 0)
			return true;
		mailauth_ar_free(ar_r);
	}
}

/* verifier_result_of - the first result of METHOD, or "none" */
static const char *verifier_result_of(const struct mailauth_ar *ar, const char *method)
{
	for (size_t i = 0; ar && i < ar->count; i++)
		if (strcmp(ar->results[i].method, method) == 0)
			return ar->results[i].result;
	return "none";
}

/* verifier_build - the report, a text/plain message from the verifier to
 * the envelope sender */
static void verifier_build(struct smtp_session *s, const struct queue_envelope *env,
			   const struct message_headers *h, const char *report_id,
			   struct buf *out)
{
	const struct config *config = s->config;
	struct mailauth_ar ar;
	/* only when the receiving checks ran: they removed any field with our
	 * id before adding theirs; on other mail such a field is the sender's */
	bool have_ar = smtp_verify_checked(s->verify) &&
		verifier_find_ar(h, verifier_authserv_id(config), &ar);
	const char *spf = verifier_result_of(have_ar ? &ar : NULL, "spf");
	const char *dkim = verifier_result_of(have_ar ? &ar : NULL, "dkim");
	const char *dmarc = verifier_result_of(have_ar ? &ar : NULL, "dmarc");
	const char *arc = verifier_result_of(have_ar ? &ar : NULL, "arc");
	char date[64];
	message_date_format(time(NULL), date, sizeof(date));

	buf_printf(out, "From: Petrel verifier <%s>\r\n", config->auth.verifier);
	buf_printf(out, "To: <%s>\r\n", env->sender);
	if (have_ar)
		buf_printf(out, "Subject: Verifier report: SPF %s, DKIM %s, DMARC %s\r\n", spf,
			   dkim, dmarc);
	else
		buf_printf(out, "Subject: Verifier report: not checked\r\n");
	buf_printf(out, "Date: %s\r\n", date);
	buf_printf(out, "Message-ID: <%s.verifier@%s>\r\n", report_id, config->hostname);
	const struct message_header *mid = message_header_find(h, "Message-ID", 0);
	if (mid) {
		/* only a plain <id> is echoed into our header section */
		char *v = message_header_unfold(mid);
		size_t len = strlen(v);
		bool plain = len > 2 && len < 500 && v[0] == '<' && v[len - 1] == '>' &&
			strcspn(v, " \t\r\n\"()") == len;
		if (plain)
			buf_printf(out, "In-Reply-To: %s\r\nReferences: %s\r\n", v, v);
		free(v);
	}
	buf_printf(out, "Auto-Submitted: auto-replied\r\n");
	buf_printf(out, "MIME-Version: 1.0\r\n");
	buf_printf(out, "Content-Type: text/plain; charset=utf-8\r\n");
	buf_printf(out, "Content-Transfer-Encoding: 8bit\r\n\r\n");

	buf_printf(out, "This is the mail verifier of %s. It received your message\r\n"
		   "on %s and answers with what it found.\r\n"
		   "The message itself was not kept.\r\n\r\n", config->hostname, date);

	buf_printf(out, "Summary\r\n");
	if (have_ar) {
		buf_printf(out, "  SPF:    %s\r\n  DKIM:   %s\r\n  DMARC:  %s\r\n  ARC:    %s\r\n",
			   spf, dkim, dmarc, arc);
	} else {
		buf_printf(out, "  No Authentication-Results field from %s was found: SPF, DKIM\r\n"
			   "  and DMARC are checked for unauthenticated mail received on an mx\r\n"
			   "  listener, and this message was not.\r\n", verifier_authserv_id(config));
	}
	enum smtp_rdns_result rdns = smtp_checks_rdns_result(s);
	const char *rdns_name = smtp_checks_rdns_name(s);
	buf_printf(out, "  Reverse DNS: %s\r\n\r\n", smtp_rdns_result_name(rdns));

	if (have_ar) {
		buf_printf(out, "Authentication results (authserv-id %s)\r\n",
			   verifier_authserv_id(config));
		for (size_t i = 0; i < ar.count; i++) {
			const struct mailauth_ar_result *r = &ar.results[i];
			buf_printf(out, "  %s=%s", r->method, r->result);
			for (size_t k = 0; k < r->prop_count; k++) {
				buf_printf(out, " %s.%s=", r->props[k].ptype, r->props[k].property);
				verifier_clean(r->props[k].value, strlen(r->props[k].value), out);
			}
			buf_printf(out, "\r\n");
			if (r->reason) {
				buf_printf(out, "      reason: ");
				verifier_clean(r->reason, strlen(r->reason), out);
				buf_printf(out, "\r\n");
			}
		}
		buf_printf(out, "\r\n");
	}

	buf_printf(out, "Connection\r\n");
	buf_printf(out, "  %-16s%s\r\n", "Client address:", s->client);
	if (rdns_name && rdns == SMTP_RDNS_PASS)
		buf_printf(out, "  %-16s%s (forward-confirmed)\r\n", "Reverse DNS:", rdns_name);
	else
		buf_printf(out, "  %-16s%s\r\n", "Reverse DNS:",
			   rdns == SMTP_RDNS_FAIL ? "a name that does not resolve back (fail)" :
			   rdns == SMTP_RDNS_NONE ? "no PTR record (none)" :
			   rdns == SMTP_RDNS_TEMPERROR ? "DNS failed temporarily (temperror)" :
			   "not looked up");
	buf_printf(out, "  %-16s", "HELO/EHLO:");
	verifier_clean(env->helo, strlen(env->helo), out);
	buf_printf(out, "\r\n  %-16s%s\r\n", "TLS:", s->conn.tls && s->tls_info[0] ? s->tls_info :
		   "none");
	buf_printf(out, "  %-16s", "Return-Path:");
	buf_printf(out, "<");
	verifier_clean(env->sender, strlen(env->sender), out);
	buf_printf(out, ">\r\n\r\n");

	buf_printf(out, "Message\r\n");
	verifier_field(out, "From:", h, "From");
	verifier_field(out, "Message-ID:", h, "Message-ID");
	verifier_field(out, "Date:", h, "Date");
	verifier_field(out, "Subject:", h, "Subject");
	size_t dkim_count = message_header_count(h, "DKIM-Signature");
	for (size_t n = 0; n < dkim_count && n < VERIFIER_DKIM_MAX; n++) {
		const struct message_header *f = message_header_find(h, "DKIM-Signature", n);
		struct mailauth_tag tags[64];
		const char *error;
		int count = mailauth_tags_parse(f->value, f->value_len, tags, 64, &error);
		buf_printf(out, "  %-16s", "DKIM-Signature:");
		if (count < 0) {
			buf_printf(out, "unreadable (%s)\r\n", error);
			continue;
		}
		static const char *const names[] = { "d", "s", "a" };
		for (size_t k = 0; k < 3; k++) {
			const struct mailauth_tag *t = mailauth_tags_find(tags, (size_t)count, names[k]);
			buf_printf(out, "%s%s=", k ? " " : "", names[k]);
			if (t)
				verifier_clean(t->value, t->value_len, out);
			else
				buf_printf(out, "(none)");
		}
		buf_printf(out, "\r\n");
	}
	if (dkim_count == 0)
		buf_printf(out, "  %-16s(none: the message is not signed)\r\n", "DKIM-Signature:");
	buf_printf(out, "\r\n-- \r\nPetrel %s\r\n", config->hostname);
	if (have_ar)
		mailauth_ar_free(&ar);
}

bool smtp_verifier_message(struct smtp_session *s, struct queue_envelope *env,
			   const struct buf *message)
{
	bool alone = env->rcpt_count == 0;
	struct message_headers headers;
	message_headers_parse(message->data, message->len, &headers);
	const char *skip = verifier_skip_reason(s, env->sender, &headers);
	char to[300];
	log_escape(to, sizeof(to), env->sender, strlen(env->sender));
	if (skip) {
		log_info("verifier-skipped", "session=%s client=%s sender=%s reason=\"%s\"", s->sid,
			 s->client, to, skip);
		message_headers_free(&headers);
		if (alone) {
			smtp_session_reply(s, "250 2.0.0 Ok: checked, no report sent (%s)", skip);
			queue_envelope_free(&env);
			smtp_session_transaction_reset(s);
			/* the receiving checks had the session wait for this answer
			 * (called from the loop); else the input loop is ours still */
			if (s->waiting) {
				s->waiting = false;
				smtp_session_process_input(s);
			}
		}
		return alone;
	}

	struct queue_envelope *report = queue_envelope_new();
	queue_id_new(report->id);
	struct buf body;
	buf_init(&body);
	verifier_build(s, env, &headers, report->id, &body);
	message_headers_free(&headers);
	report->arrival = time(NULL);
	free(report->sender);
	report->sender = xstrdup("");  /* like a bounce: nothing answers it */
	report->smtputf8 = env->smtputf8;
	report->body = QUEUE_BODY_8BITMIME; /* header values may be UTF-8 */
	report->client_address = xstrdup("127.0.0.1");
	report->helo = xstrdup(s->config->hostname);
	report->listener = xstrdup("verifier");
	report->size = body.len;
	queue_envelope_add_rcpt(report, env->sender, 0, NULL);

	struct verifier_ctx *ctx = xcalloc(1, sizeof(*ctx));
	ctx->server = s->server;
	ctx->session_id = alone ? s->id : 0;
	ctx->to = xstrdup(to);
	log_info("verifier-report", "session=%s client=%s queue_id=%s to=%s", s->sid, s->client,
		 report->id, to);
	if (alone) {
		queue_envelope_free(&env);
		smtp_session_transaction_reset(s);
		s->waiting = true;
	}
	queue_submit(s->server->queue, report, &body, verifier_queued, ctx);
	buf_free(&body);
	return alone;
}

/* verifier_queued - the report is durable (or not); a client waiting for
 * its 250 gets it now */
static void verifier_queued(void *arg, int status, const char *queue_id, const char *error)
{
	struct verifier_ctx *ctx = arg;
	if (status != 0)
		log_warn("verifier-failed", "to=%s error=\"%s\"", ctx->to, error);
	struct smtp_session *s = ctx->session_id ?
		smtp_server_session_find(ctx->server, ctx->session_id) : NULL;
	if (s && !s->conn.dead) {
		s->waiting = false;
		if (status == 0)
			smtp_session_reply(s, "250 2.0.0 Ok: checked, report queued as %s", queue_id);
		else
			smtp_session_reply(s, "451 4.3.0 Temporary failure queueing the report, "
					   "try again later");
		smtp_session_process_input(s);
	}
	free(ctx->to);
	free(ctx);
}

void smtp_verifier_free(struct smtp_server *server)
{
	free(server->verifier);
	server->verifier = NULL;
}
