/* queue/queue-print - `petrel queue list` and `petrel queue show ID`.
 *
 * Reads the spool offline (or beside a running server: files may vanish
 * between readdir and open, which is not an error).  Spool contents are
 * untrusted text: on a terminal, control bytes are shown as \xHH; in JSON,
 * strings are escaped and invalid UTF-8 becomes U+FFFD.  Only the envelope
 * (and for `show`, the header section) of each file is read.
 */
#include "queue/queue.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "queue/spool.h"
#include "util/utf8.h"
#include "util/xalloc.h"

static void put_text(struct buf *out, const char *s, size_t len);
static void put_json(struct buf *out, const char *s, size_t len);
static void put_json_str(struct buf *out, const char *s);
static void put_time(struct buf *out, time_t t);
static void put_msg_line(struct buf *out, const struct queue_envelope *env);
static void put_msg_json(struct buf *out, const struct queue_envelope *env, bool full,
			 const char *headers, size_t headers_len);
static size_t header_section_len(const char *body, size_t len);
static int flush_stdout(struct buf *out, const char **error_r);
static bool spool_exists(const char *data_dir);

static const char *const body_names[] = { NULL, "7BIT", "8BITMIME", "BINARYMIME" };
static const char *const ret_names[] = { NULL, "FULL", "HDRS" };

/* put_text - S for a terminal: printable bytes as they are, others as \xHH */
static void put_text(struct buf *out, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f || c == '\\')
			buf_printf(out, "\\x%02X", c);
		else
			buf_append(out, &s[i], 1);
	}
}

/* put_json - S[0..LEN) as a JSON string */
static void put_json(struct buf *out, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	buf_append(out, "\"", 1);
	for (size_t i = 0; i < len;) {
		unsigned char c = p[i];
		if (c == '"' || c == '\\') {
			char esc[2] = { '\\', (char)c };
			buf_append(out, esc, 2);
			i++;
		} else if (c == '\n') {
			buf_append_str(out, "\\n");
			i++;
		} else if (c == '\r') {
			buf_append_str(out, "\\r");
			i++;
		} else if (c == '\t') {
			buf_append_str(out, "\\t");
			i++;
		} else if (c < 0x20 || c == 0x7f) {
			buf_printf(out, "\\u%04x", c);
			i++;
		} else {
			size_t n = utf8_sequence_length((const char *)p + i, len - i);
			if (n == 0) {
				buf_append_str(out, "\\ufffd");
				i++;
			} else {
				buf_append(out, p + i, n);
				i += n;
			}
		}
	}
	buf_append(out, "\"", 1);
}

static void put_json_str(struct buf *out, const char *s)
{
	if (s)
		put_json(out, s, strlen(s));
	else
		buf_append_str(out, "null");
}

/* put_time - ISO 8601 UTC */
static void put_time(struct buf *out, time_t t)
{
	struct tm tm;
	char text[64];
	if (!gmtime_r(&t, &tm) || strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(text, sizeof(text), "@%lld", (long long)t);
	buf_append_str(out, text);
}

/* put_msg_line - "ID  ARRIVAL  SIZE  <SENDER>  RCPT (state) ..." */
static void put_msg_line(struct buf *out, const struct queue_envelope *env)
{
	buf_printf(out, "%s  ", env->id);
	put_time(out, env->arrival);
	buf_printf(out, "  %llu  <", (unsigned long long)env->size);
	put_text(out, env->sender, strlen(env->sender));
	buf_append(out, ">", 1);
	for (size_t i = 0; i < env->rcpt_count; i++) {
		buf_append_str(out, "  ");
		put_text(out, env->rcpts[i].address, strlen(env->rcpts[i].address));
		buf_printf(out, " (%s)", queue_rcpt_state_name(env->rcpts[i].state));
	}
	if (env->held)
		buf_append_str(out, "  [held]");
	else if (env->next_attempt) {
		buf_append_str(out, "  next ");
		put_time(out, env->next_attempt);
	}
	buf_append(out, "\n", 1);
}

/* put_msg_json - one message as a JSON object; FULL adds every field */
static void put_msg_json(struct buf *out, const struct queue_envelope *env, bool full,
			 const char *headers, size_t headers_len)
{
	buf_printf(out, "{\"id\":\"%s\",\"arrival\":\"", env->id);
	put_time(out, env->arrival);
	buf_printf(out, "\",\"arrival_unix\":%lld,\"size\":%llu,\"sender\":",
		   (long long)env->arrival, (unsigned long long)env->size);
	put_json_str(out, env->sender);
	if (full) {
		buf_append_str(out, ",\"body\":");
		put_json_str(out, env->body > 0 && env->body < 4 ? body_names[env->body] : NULL);
		buf_printf(out, ",\"smtputf8\":%s,\"ret\":", env->smtputf8 ? "true" : "false");
		put_json_str(out, env->ret > 0 && env->ret < 3 ? ret_names[env->ret] : NULL);
		buf_append_str(out, ",\"envid\":");
		put_json_str(out, env->envid);
		buf_append_str(out, ",\"client\":");
		put_json_str(out, env->client_address);
		buf_append_str(out, ",\"helo\":");
		put_json_str(out, env->helo);
		buf_append_str(out, ",\"listener\":");
		put_json_str(out, env->listener);
		buf_append_str(out, ",\"account\":");
		put_json_str(out, env->account);
		buf_printf(out, ",\"sandbox\":%s", env->sandbox ? "true" : "false");
	}
	buf_printf(out, ",\"held\":%s,\"next_attempt_unix\":%lld", env->held ? "true" : "false",
		   (long long)env->next_attempt);
	buf_append_str(out, ",\"recipients\":[");
	for (size_t i = 0; i < env->rcpt_count; i++) {
		const struct queue_recipient *r = &env->rcpts[i];
		buf_append_str(out, i ? ",{\"address\":" : "{\"address\":");
		put_json_str(out, r->address);
		buf_printf(out, ",\"state\":\"%s\"", queue_rcpt_state_name(r->state));
		if (full) {
			buf_printf(out, ",\"notify\":%u,\"orcpt\":", r->notify);
			put_json_str(out, r->orcpt);
		}
		buf_append_str(out, ",\"reply\":");
		put_json_str(out, r->last_reply);
		buf_append(out, "}", 1);
	}
	buf_append(out, "]", 1);
	if (headers) {
		buf_append_str(out, ",\"headers\":");
		put_json(out, headers, headers_len);
	}
	buf_append(out, "}", 1);
}

/* header_section_len - bytes up to and including the empty line (or all) */
static size_t header_section_len(const char *body, size_t len)
{
	for (size_t i = 0; i + 1 < len; i++) {
		if (body[i] != '\n')
			continue;
		if (body[i + 1] == '\n')
			return i + 1;
		if (i + 2 < len && body[i + 1] == '\r' && body[i + 2] == '\n')
			return i + 1;
	}
	return len;
}

static int flush_stdout(struct buf *out, const char **error_r)
{
	if ((out->len > 0 && fwrite(out->data, 1, out->len, stdout) != out->len) ||
	    fflush(stdout) != 0) {
		*error_r = "cannot write to standard output";
		return -1;
	}
	return 0;
}

/* spool_exists - a data folder that never received mail has no queue/ yet */
static bool spool_exists(const char *data_dir)
{
	char *path = xasprintf("%s/queue", data_dir);
	struct stat st;
	bool exists = stat(path, &st) == 0 || errno != ENOENT;
	free(path);
	return exists;
}

int queue_list_print(const char *data_dir, bool json, const char **error_r)
{
	struct spool *spool = NULL;
	struct spool_entry *ids = NULL;
	char (*corrupt)[QUEUE_ID_LEN + 1] = NULL;
	size_t count = 0, shown = 0, ncorrupt = 0;
	struct buf out, data;
	int ret = -1;

	buf_init(&out);
	buf_init(&data);
	if (spool_exists(data_dir)) {
		spool = spool_open(data_dir, false, error_r);
		if (!spool || spool_list(spool, &ids, &count, error_r) != 0)
			goto out;
	}
	if (json)
		buf_append(&out, "[", 1);
	for (size_t i = 0; i < count; i++) {
		const char *error = NULL;
		size_t off;
		buf_reset(&data);
		int r = spool_read_prefix(spool, ids[i].id, SPOOL_ENVELOPE_MAX, &data, &error);
		if (r > 0)
			continue;  /* delivered meanwhile */
		struct queue_envelope *env = r < 0 ? NULL :
			queue_envelope_parse(data.data ? data.data : "", data.len, &off, &error);
		if (env)
			(void)spool_rcpt_log_apply(spool, env, &error);  /* states are best effort */
		if (json) {
			if (shown > 0)
				buf_append(&out, ",", 1);
			if (env) {
				put_msg_json(&out, env, false, NULL, 0);
			} else {
				buf_printf(&out, "{\"id\":\"%s\",\"error\":", ids[i].id);
				put_json_str(&out, error);
				buf_append(&out, "}", 1);
			}
		} else if (env) {
			put_msg_line(&out, env);
		} else {
			buf_printf(&out, "%s  (unreadable: %s)\n", ids[i].id, error);
		}
		shown++;
		queue_envelope_free(&env);
		/* keep memory flat on a big spool */
		if (out.len > 65536 && flush_stdout(&out, error_r) != 0)
			goto out;
		if (out.len > 65536)
			buf_reset(&out);
	}
	/* files the server moved aside: listed, never counted as messages */
	if (spool && spool_list_corrupt(spool, &corrupt, &ncorrupt, error_r) != 0)
		goto out;
	for (size_t i = 0; i < ncorrupt; i++) {
		if (json) {
			if (shown + i > 0)
				buf_append(&out, ",", 1);
			buf_printf(&out, "{\"id\":\"%s\",\"corrupt\":true,\"file\":\"queue/"
				   SPOOL_CORRUPT_DIR "/%s\"}", corrupt[i], corrupt[i]);
		} else {
			buf_printf(&out, "%s  (corrupt: unreadable, moved to queue/" SPOOL_CORRUPT_DIR
				   "/%s)\n", corrupt[i], corrupt[i]);
		}
	}
	if (json)
		buf_append_str(&out, "]\n");
	else if (ncorrupt > 0)
		buf_printf(&out, "%zu messages, %zu corrupt files\n", shown, ncorrupt);
	else
		buf_printf(&out, "%zu messages\n", shown);
	ret = flush_stdout(&out, error_r);
out:
	free(corrupt);
	free(ids);
	spool_close(&spool);
	buf_free(&out);
	buf_free(&data);
	return ret;
}

int queue_show_print(const char *data_dir, const char *id, bool json, const char **error_r)
{
	struct spool *spool = NULL;
	struct queue_envelope *env = NULL;
	struct buf out, data;
	size_t off;
	int ret = -1;

	buf_init(&out);
	buf_init(&data);
	if (!queue_id_is_valid(id) || !spool_exists(data_dir)) {
		ret = 1;
		goto out;
	}
	spool = spool_open(data_dir, false, error_r);
	if (!spool)
		goto out;
	int r = spool_read_prefix(spool, id, SPOOL_ENVELOPE_MAX + SPOOL_HEADER_MAX, &data, error_r);
	if (r != 0) {
		ret = r;
		goto out;
	}
	env = queue_envelope_parse(data.data ? data.data : "", data.len, &off, error_r);
	if (!env || spool_rcpt_log_apply(spool, env, error_r) != 0)
		goto out;
	const char *headers = data.data + off;
	size_t headers_len = header_section_len(headers, data.len - off);
	if (headers_len > SPOOL_HEADER_MAX)
		headers_len = SPOOL_HEADER_MAX;

	if (json) {
		put_msg_json(&out, env, true, headers, headers_len);
		buf_append(&out, "\n", 1);
		ret = flush_stdout(&out, error_r);
		goto out;
	}
	const struct {
		const char *name;
		const char *value;
	} fields[] = {
		{ "body", env->body > 0 && env->body < 4 ? body_names[env->body] : NULL },
		{ "smtputf8", env->smtputf8 ? "yes" : "no" },
		{ "ret", env->ret > 0 && env->ret < 3 ? ret_names[env->ret] : NULL },
		{ "envid", env->envid },
		{ "client", env->client_address },
		{ "helo", env->helo },
		{ "listener", env->listener },
		{ "account", env->account },
		{ "sandbox", env->sandbox ? "yes" : NULL },
		{ "held", env->held ? "yes" : NULL },
	};
	buf_printf(&out, "id: %s\narrival: ", env->id);
	put_time(&out, env->arrival);
	buf_printf(&out, " (%lld)\nsize: %llu\nsender: <", (long long)env->arrival,
		   (unsigned long long)env->size);
	put_text(&out, env->sender, strlen(env->sender));
	buf_append_str(&out, ">\n");
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		if (!fields[i].value)
			continue;
		buf_printf(&out, "%s: ", fields[i].name);
		put_text(&out, fields[i].value, strlen(fields[i].value));
		buf_append(&out, "\n", 1);
	}
	if (env->next_attempt && !env->held) {
		buf_append_str(&out, "next attempt: ");
		put_time(&out, env->next_attempt);
		buf_append(&out, "\n", 1);
	}
	buf_printf(&out, "recipients: %zu\n", env->rcpt_count);
	for (size_t i = 0; i < env->rcpt_count; i++) {
		const struct queue_recipient *rc = &env->rcpts[i];
		buf_append_str(&out, "  <");
		put_text(&out, rc->address, strlen(rc->address));
		buf_printf(&out, "> state=%s notify=%u", queue_rcpt_state_name(rc->state), rc->notify);
		if (rc->orcpt) {
			buf_append_str(&out, " orcpt=");
			put_text(&out, rc->orcpt, strlen(rc->orcpt));
		}
		if (rc->last_reply) {
			buf_append_str(&out, " reply=\"");
			put_text(&out, rc->last_reply, strlen(rc->last_reply));
			buf_append(&out, "\"", 1);
		}
		buf_append(&out, "\n", 1);
	}
	buf_append_str(&out, "headers:\n");
	/* one header line per output line: CRLF becomes LF, the rest escaped */
	for (size_t i = 0; i < headers_len;) {
		const char *lf = memchr(headers + i, '\n', headers_len - i);
		size_t end = lf ? (size_t)(lf - headers) : headers_len;
		size_t len = end - i;
		if (len > 0 && headers[i + len - 1] == '\r')
			len--;
		put_text(&out, headers + i, len);
		buf_append(&out, "\n", 1);
		i = end + 1;
	}
	ret = flush_stdout(&out, error_r);
out:
	queue_envelope_free(&env);
	spool_close(&spool);
	buf_free(&out);
	buf_free(&data);
	return ret;
}
