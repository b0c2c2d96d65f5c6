/* message/dsn - delivery status notifications.
 *
 * A DSN is a multipart/report (RFC 6522) of three parts: a text/plain
 * explanation for people, the machine-readable message/delivery-status
 * (RFC 3464; message/global-delivery-status for SMTPUTF8 mail, RFC 6533),
 * and the original message (message/rfc822 or message/global) or only its
 * header section (text/rfc822-headers) for RET=HDRS (RFC 3461 4.3).
 *
 * Everything that came from a peer (diagnostics, addresses, host names) is
 * sanitised first: control characters become spaces, runs of spaces one
 * space, and bytes that cannot appear (8-bit in a 7-bit part, invalid
 * UTF-8) become '?'.  Every generated line stays within RFC 5322 2.1.1's
 * 998 octets: text is folded at spaces, and a single token longer than
 * DSN_TOKEN_MAX bytes is cut there and marked with "...".
 */
#include "message/message.h"

#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "util/utf8.h"
#include "util/xalloc.h"

/* DSN_ORIGINAL_MAX (message.h): beyond it the original is returned as its
 * header section only: a bounce should not double a huge message in the
 * sender's mailbox, and many providers refuse messages much larger anyway. */
#define DSN_TOKEN_MAX 900     /* longest unbroken token kept in a generated line */
#define DSN_FOLD_WIDTH 78     /* RFC 5322 2.1.1 SHOULD */

static bool is_ascii(const char *s, size_t len);
static char *sanitize(const char *s, bool allow_utf8);
static size_t utf8_cut(const char *w, size_t max);
static void fold_words(struct buf *out, const char *first, const char *cont, const char *text,
		       size_t width);
static void put_field(struct buf *out, const char *name, const char *raw, bool allow_utf8);
static void put_date_field(struct buf *out, const char *name, time_t t);
static void put_address_field(struct buf *out, const char *name, const char *address,
			      bool smtputf8);
static void random_hex(char *out, size_t bytes);
static char *choose_boundary(const struct dsn_report *report);
static const char *action_text(const char *action);
static void build_text_part(const struct dsn_report *report, const struct dsn_recipient *rcpts,
			    size_t rcpt_count, bool too_big, struct buf *out);
static void build_status_part(const struct dsn_report *report, const struct dsn_recipient *rcpts,
			      size_t rcpt_count, struct buf *out);
static void put_part(struct buf *out, const char *boundary, const char *headers,
		     const char *data, size_t len);

static bool is_ascii(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] >= 0x80)
			return false;
	return true;
}

/* sanitize - peer text made safe for one line of a generated part */
static char *sanitize(const char *s, bool allow_utf8)
{
	size_t len = strlen(s), o = 0;
	const unsigned char *p = (const unsigned char *)s, *end = p + len;
	char *out = xmalloc(len + 1);

	while (p < end) {
		if (*p < 0x20 || *p == 0x7f || *p == ' ') {
			if (o > 0 && out[o - 1] != ' ')
				out[o++] = ' ';
			p++;
		} else if (*p < 0x80) {
			out[o++] = (char)*p++;
		} else {
			size_t n = utf8_sequence_length((const char *)p, (size_t)(end - p));
			if (allow_utf8 && n > 0) {
				memcpy(out + o, p, n);
				o += n;
				p += n;
			} else {
				out[o++] = '?';
				p += n > 0 ? n : 1;
			}
		}
	}
	while (o > 0 && out[o - 1] == ' ')
		o--;
	out[o] = '\0';
	return out;
}

/* utf8_cut - at most MAX bytes of W without splitting a UTF-8 sequence */
static size_t utf8_cut(const char *w, size_t max)
{
	size_t n = max;

	while (n > 0 && ((unsigned char)w[n] & 0xc0) == 0x80)
		n--;
	return n > 0 ? n : max;
}

/* fold_words - FIRST then the words of TEXT (sanitised: single spaces),
 * breaking lines before WIDTH with CRLF CONT; no final CRLF */
static void fold_words(struct buf *out, const char *first, const char *cont, const char *text,
		       size_t width)
{
	size_t line = strlen(first);
	bool line_has_word = false;
	const char *p = text;

	buf_append_str(out, first);
	while (*p != '\0') {
		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		const char *w = p;
		while (*p != '\0' && *p != ' ')
			p++;
		size_t wlen = (size_t)(p - w);
		bool cut = wlen > DSN_TOKEN_MAX;
		if (cut)
			wlen = utf8_cut(w, DSN_TOKEN_MAX);
		size_t need = wlen + (cut ? 3 : 0);
		if (line_has_word) {
			if (line + 1 + need > width) {
				buf_append(out, "\r\n", 2);
				buf_append_str(out, cont);
				line = strlen(cont);
			} else {
				buf_append(out, " ", 1);
				line++;
			}
		}
		buf_append(out, w, wlen);
		if (cut)
			buf_append(out, "...", 3);
		line += need;
		line_has_word = true;
	}
}

/* put_field - "NAME: value" folded with CRLF SP (RFC 5322 2.2.3) */
static void put_field(struct buf *out, const char *name, const char *raw, bool allow_utf8)
{
	char *value = sanitize(raw, allow_utf8);
	char *first = xasprintf("%s: ", name);

	fold_words(out, first, " ", value, DSN_FOLD_WIDTH);
	buf_append(out, "\r\n", 2);
	free(first);
	free(value);
}

static void put_date_field(struct buf *out, const char *name, time_t t)
{
	char date[64];

	message_date_format(t, date, sizeof(date));
	buf_printf(out, "%s: %s\r\n", name, date);
}

/* put_address_field - "NAME: rfc822; addr", or the utf-8 address type of
 * RFC 6533 3: raw UTF-8 in a global DSN, else utf-8-addr-xtext with each
 * non-ASCII character (and '+', '=', '\\') as \x{HEX} */
static void put_address_field(struct buf *out, const char *name, const char *address,
			      bool smtputf8)
{
	char *clean = sanitize(address, true);
	struct buf value;

	buf_init(&value);
	if (is_ascii(clean, strlen(clean))) {
		buf_printf(&value, "rfc822; %s", clean);
	} else if (smtputf8) {
		buf_printf(&value, "utf-8; %s", clean);
	} else {
		const unsigned char *p = (const unsigned char *)clean;
		const unsigned char *end = p + strlen(clean);
		buf_append_str(&value, "utf-8; ");
		while (p < end) {
			size_t n = utf8_sequence_length((const char *)p, (size_t)(end - p));  /* > 0: sanitised */
			uint32_t cp = n == 1 ? p[0] :
				      n == 2 ? (uint32_t)(p[0] & 0x1f) :
				      n == 3 ? (uint32_t)(p[0] & 0x0f) : (uint32_t)(p[0] & 0x07);
			for (size_t k = 1; k < n; k++)
				cp = (cp << 6) | (p[k] & 0x3f);
			if (cp > 0x20 && cp < 0x7f && cp != '+' && cp != '=' && cp != '\\')
				buf_append(&value, p, 1);
			else
				buf_printf(&value, "\\x{%X}", (unsigned)cp);
			p += n;
		}
	}
	put_field(out, name, value.data, smtputf8);
	buf_free(&value);
	free(clean);
}

/* random_hex - 2 * BYTES hex digits and a NUL; getrandom() rarely fails,
 * and these values need to be unique, not secret */
static void random_hex(char *out, size_t bytes)
{
	static unsigned long counter;
	unsigned char raw[32];
	size_t got = 0;

	if (bytes > sizeof(raw))
		bytes = sizeof(raw);
	while (got < bytes) {
		ssize_t n = getrandom(raw + got, bytes - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (got < bytes) {
		unsigned long long x = (unsigned long long)time(NULL) ^
				       ((unsigned long long)getpid() << 32) ^ ++counter;
		for (size_t i = 0; i < bytes; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			raw[i] = (unsigned char)x;
		}
	}
	for (size_t i = 0; i < bytes; i++) {
		out[2 * i] = "0123456789abcdef"[raw[i] >> 4];
		out[2 * i + 1] = "0123456789abcdef"[raw[i] & 0xf];
	}
	out[2 * bytes] = '\0';
}

/* choose_boundary - random, and not in the original (RFC 2046 5.1.1) */
static char *choose_boundary(const struct dsn_report *report)
{
	char hex[33];
	char *boundary = NULL;

	do {
		free(boundary);
		random_hex(hex, 16);
		boundary = xasprintf("=_petrel_%s", hex);
	} while (report->original != NULL &&
		 memmem(report->original, report->original_len, boundary, strlen(boundary)) != NULL);
	return boundary;
}

static const char *action_text(const char *action)
{
	if (strcmp(action, "failed") == 0)
		return "delivery failed";
	if (strcmp(action, "delayed") == 0)
		return "delivery delayed, still trying";
	if (strcmp(action, "delivered") == 0)
		return "delivered";
	if (strcmp(action, "relayed") == 0)
		return "relayed to a system that sends no delivery notifications";
	if (strcmp(action, "expanded") == 0)
		return "delivered to a list and forwarded to its members";
	return action;
}

/* build_text_part - the explanation for people (RFC 6522 3) */
static void build_text_part(const struct dsn_report *report, const struct dsn_recipient *rcpts,
			    size_t rcpt_count, bool too_big, struct buf *out)
{
	char *host = sanitize(report->reporting_mta, false);
	bool all_ok = !report->delay;

	for (size_t i = 0; i < rcpt_count; i++)
		if (strcmp(rcpts[i].action, "failed") == 0 || strcmp(rcpts[i].action, "delayed") == 0)
			all_ok = false;
	buf_printf(out, "This is the mail system at host %s.\r\n\r\n", host);
	if (report->delay) {
		buf_append_str(out,
			"Your message has not been delivered yet to the recipients below.\r\n"
			"The mail system will keep trying; you do not need to send it again.\r\n"
			"If it still cannot be delivered, you will get another notice.\r\n");
	} else if (all_ok) {
		buf_append_str(out,
			"Your message was delivered to the recipients below, as you asked\r\n"
			"to be told.\r\n");
	} else {
		buf_append_str(out,
			"Your message could not be delivered to the recipients below. The\r\n");
		buf_append_str(out, report->headers_only || too_big ?
			"reasons follow; the delivery report and your message's header\r\n"
			"section are attached.\r\n" :
			"reasons follow; the delivery report and your message are attached.\r\n");
	}
	if (too_big)
		buf_printf(out, "\r\nYour message was too large to return in full (%zu bytes);\r\n"
				"only its header section is attached.\r\n", report->original_len);
	for (size_t i = 0; i < rcpt_count; i++) {
		const struct dsn_recipient *r = &rcpts[i];
		char *addr = sanitize(r->final_recipient, true);
		char *status = sanitize(r->status, false);
		char *line = xasprintf("<%s>: %s (%s)", addr, action_text(r->action), status);

		buf_append(out, "\r\n", 2);
		fold_words(out, "", "    ", line, DSN_FOLD_WIDTH);
		buf_append(out, "\r\n", 2);
		if (r->note != NULL) {
			char *note = sanitize(r->note, true);
			fold_words(out, "    ", "    ", note, DSN_FOLD_WIDTH);
			buf_append(out, "\r\n", 2);
			free(note);
		}
		if (r->diagnostic != NULL) {
			char *diag = sanitize(r->diagnostic, true);
			char *intro;
			if (r->remote_mta != NULL) {
				char *mta = sanitize(r->remote_mta, true);
				intro = xasprintf("The mail server %s replied:", mta);
				free(mta);
			} else {
				intro = xstrdup("The reason given:");
			}
			fold_words(out, "    ", "    ", intro, DSN_FOLD_WIDTH);
			buf_append(out, "\r\n", 2);
			fold_words(out, "    ", "    ", diag, DSN_FOLD_WIDTH);
			buf_append(out, "\r\n", 2);
			free(intro);
			free(diag);
		}
		if (strcmp(r->action, "delayed") == 0 && r->will_retry_until != 0) {
			char date[64];
			message_date_format(r->will_retry_until, date, sizeof(date));
			buf_printf(out, "    It will be retried until %s.\r\n", date);
		}
		free(line);
		free(status);
		free(addr);
	}
	free(host);
}

/* build_status_part - the per-message fields, then one block per
 * recipient, separated by empty lines (RFC 3464 2.1) */
static void build_status_part(const struct dsn_report *report, const struct dsn_recipient *rcpts,
			      size_t rcpt_count, struct buf *out)
{
	bool u = report->smtputf8;

	char *v = xasprintf("dns; %s", report->reporting_mta);
	put_field(out, "Reporting-MTA", v, false);
	free(v);
	if (report->queue_id != NULL)
		put_field(out, "X-Petrel-Queue-ID", report->queue_id, false);
	if (report->envid != NULL)
		put_field(out, "Original-Envelope-Id", report->envid, u);
	if (report->received_from != NULL) {
		v = xasprintf("dns; %s", report->received_from);
		put_field(out, "Received-From-MTA", v, u);
		free(v);
	}
	if (report->arrival != 0)
		put_date_field(out, "Arrival-Date", report->arrival);
	for (size_t i = 0; i < rcpt_count; i++) {
		const struct dsn_recipient *r = &rcpts[i];

		buf_append(out, "\r\n", 2);
		if (r->original_recipient != NULL)
			put_field(out, "Original-Recipient", r->original_recipient, u);
		put_address_field(out, "Final-Recipient", r->final_recipient, u);
		put_field(out, "Action", r->action, false);
		put_field(out, "Status", r->status, false);
		if (r->remote_mta != NULL) {
			v = xasprintf("dns; %s", r->remote_mta);
			put_field(out, "Remote-MTA", v, u);
			free(v);
		}
		if (r->diagnostic != NULL) {
			v = xasprintf("smtp; %s", r->diagnostic);
			put_field(out, "Diagnostic-Code", v, u);
			free(v);
		}
		if (r->last_attempt != 0)
			put_date_field(out, "Last-Attempt-Date", r->last_attempt);
		if (r->will_retry_until != 0 && strcmp(r->action, "delayed") == 0)
			put_date_field(out, "Will-Retry-Until", r->will_retry_until);
	}
}

/* put_part - delimiter, part headers, empty line, DATA (RFC 2046 5.1.1) */
static void put_part(struct buf *out, const char *boundary, const char *headers,
		     const char *data, size_t len)
{
	buf_printf(out, "\r\n--%s\r\n%s\r\n", boundary, headers);
	buf_append(out, data, len);
	if (len > 0 && data[len - 1] != '\n')
		buf_append(out, "\r\n", 2);
}

void dsn_build(const struct dsn_report *report, const struct dsn_recipient *rcpts,
	       size_t rcpt_count, struct buf *out)
{
	char *boundary, *host, *from, *to;
	char date[64], msgid[33];
	struct buf text, status;
	const char *original = report->original != NULL ? report->original : "";
	size_t original_len = report->original != NULL ? report->original_len : 0;
	bool too_big = !report->headers_only && original_len > DSN_ORIGINAL_MAX;
	bool all_ok = !report->delay;
	const char *subject;

	assert(report->reporting_mta != NULL && report->from != NULL && report->to != NULL);
	for (size_t i = 0; i < rcpt_count; i++)
		assert(rcpts[i].final_recipient != NULL && rcpts[i].action != NULL &&
		       rcpts[i].status != NULL);
	boundary = choose_boundary(report);
	host = sanitize(report->reporting_mta, false);
	from = sanitize(report->from, report->smtputf8);
	to = sanitize(report->to, report->smtputf8);
	for (size_t i = 0; i < rcpt_count; i++)
		if (strcmp(rcpts[i].action, "failed") == 0 || strcmp(rcpts[i].action, "delayed") == 0)
			all_ok = false;
	if (report->delay)
		subject = "Delayed Mail (still being retried)";
	else if (all_ok && rcpt_count > 0)
		subject = "Successful Mail Delivery Report";
	else
		subject = "Undelivered Mail Returned to Sender";

	/* the report's own header section (RFC 3464 2, RFC 3834 5) */
	message_date_format(time(NULL), date, sizeof(date));
	random_hex(msgid, 16);
	buf_printf(out, "From: Mail Delivery System <%s>\r\n", from);
	buf_printf(out, "To: <%s>\r\n", to);
	buf_printf(out, "Subject: %s\r\n", subject);
	buf_printf(out, "Date: %s\r\n", date);
	buf_printf(out, "Message-ID: <%s@%s>\r\n", msgid, host);
	buf_append_str(out, "Auto-Submitted: auto-replied\r\n");
	buf_append_str(out, "MIME-Version: 1.0\r\n");
	buf_printf(out, "Content-Type: multipart/report; report-type=delivery-status;\r\n"
			"\tboundary=\"%s\"\r\n", boundary);
	buf_append_str(out, "\r\nThis is a MIME-encapsulated message.\r\n");

	buf_init(&text);
	build_text_part(report, rcpts, rcpt_count, too_big, &text);
	put_part(out, boundary,
		 is_ascii(text.data, text.len) ?
		 "Content-Description: Notification\r\n"
		 "Content-Type: text/plain; charset=utf-8\r\n" :
		 "Content-Description: Notification\r\n"
		 "Content-Type: text/plain; charset=utf-8\r\n"
		 "Content-Transfer-Encoding: 8bit\r\n",
		 text.data, text.len);
	buf_free(&text);

	buf_init(&status);
	build_status_part(report, rcpts, rcpt_count, &status);
	put_part(out, boundary,
		 !report->smtputf8 ?
		 "Content-Description: Delivery report\r\n"
		 "Content-Type: message/delivery-status\r\n" :
		 is_ascii(status.data, status.len) ?
		 "Content-Description: Delivery report\r\n"
		 "Content-Type: message/global-delivery-status\r\n" :
		 "Content-Description: Delivery report\r\n"
		 "Content-Type: message/global-delivery-status\r\n"
		 "Content-Transfer-Encoding: 8bit\r\n",
		 status.data, status.len);
	buf_free(&status);

	if (report->headers_only || too_big) {
		struct message_headers hdrs;
		message_headers_parse(original, original_len, &hdrs);
		put_part(out, boundary,
			 is_ascii(original, hdrs.body_offset) ?
			 "Content-Description: Undelivered Message Headers\r\n"
			 "Content-Type: text/rfc822-headers\r\n" :
			 "Content-Description: Undelivered Message Headers\r\n"
			 "Content-Type: text/rfc822-headers; charset=utf-8\r\n"
			 "Content-Transfer-Encoding: 8bit\r\n",
			 original, hdrs.body_offset);
		message_headers_free(&hdrs);
	} else {
		const char *type = report->smtputf8 ? "message/global" : "message/rfc822";
		char *headers = xasprintf("Content-Description: %s\r\n"
					  "Content-Type: %s\r\n%s",
					  report->delay ? "Delayed Message" : "Undelivered Message",
					  type,
					  is_ascii(original, original_len) ? "" :
					  "Content-Transfer-Encoding: 8bit\r\n");
		put_part(out, boundary, headers, original, original_len);
		free(headers);
	}
	buf_printf(out, "\r\n--%s--\r\n", boundary);
	free(to);
	free(from);
	free(host);
	free(boundary);
}

void dsn_duration_format(unsigned seconds, char *out, size_t size)
{
	static const struct {
		unsigned seconds;
		const char *name;
	} units[] = { { 86400, "day" }, { 3600, "hour" }, { 60, "minute" }, { 1, "second" } };
	size_t i = 0;

	while (seconds % units[i].seconds != 0)
		i++;
	unsigned n = seconds / units[i].seconds;
	snprintf(out, size, "%u %s%s", n, units[i].name, n == 1 ? "" : "s");
}
