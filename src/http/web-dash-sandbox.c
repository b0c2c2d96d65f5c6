/* http/web-dash-sandbox - the dashboard's sandbox inbox (docs/web.md): the
 * mail a sandboxed account sent, kept and never relayed (accounts.md,
 * "Sandbox mode"), like a test mail catcher.  GET /dashboard/sandbox
 * lists the account's "sandboxed" events (one per recipient, grouped by
 * message); GET /dashboard/sandbox/message?id=EVENT shows one message: its
 * main header fields decoded, its body as text and the whole message raw,
 * every octet escaped (markup_escape), none of it interpreted as HTML;
 * [web] dashboard_rows events listed, sandbox_show_size octets shown.
 *
 * The event names the kept file; only its name is trusted, and it is
 * looked for in the account's own sandbox folder (new/, or cur/ once an
 * IMAP client has seen it), computed here from the session's account
 * (local_account_mailbox_path), so that no event and no request can make
 * the page read another file.  The store and the disk are read on the
 * session's worker job (web-session.h). */
#include "http/web-session.h"
#include "http/web.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "local/local.h"
#include "message/message.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/markup.h"
#include "util/xalloc.h"

#define SANDBOX_HEADER_MAX 998      /* octets of a decoded header field shown */

struct sandbox_data {
	struct store_event **events;
	size_t count;
	struct buf message;              /* the message's octets (up to [web] sandbox_show_size) */
	size_t show_max;                 /* [web] sandbox_show_size */
	bool cut;                        /* it is longer */
	int rc;                          /* STORE_NOT_FOUND: no such message of the account */
};

static void list_work(struct http_web_request *r);
static void list_done(struct http_session *s, struct http_web_request *r);
static void message_work(struct http_web_request *r);
static void message_done(struct http_session *s, struct http_web_request *r);
static int message_read(const char *data_dir, const char *account, const char *kept,
			struct sandbox_data *d);
static int file_read(const char *path, struct sandbox_data *d);
static char *file_find(const char *maildir, const char *name);
static void render_fields(struct buf *out, const struct message_headers *headers);
static void sandbox_data_free(void *data);

static const struct http_web_page LIST_PAGE = {
	.name = "sandbox", .work = list_work, .done = list_done,
	.free_data = sandbox_data_free,
};
static const struct http_web_page MESSAGE_PAGE = {
	.name = "sandbox-message", .work = message_work, .done = message_done,
	.free_data = sandbox_data_free,
};

void http_route_web_sandbox(struct http_session *s)
{
	struct sandbox_data *d = xcalloc(1, sizeof(*d));
	buf_init(&d->message);
	http_web_session_run(s, &LIST_PAGE, d);
}

void http_route_web_sandbox_message(struct http_session *s)
{
	struct sandbox_data *d = xcalloc(1, sizeof(*d));
	buf_init(&d->message);
	d->show_max = s->server->config->web.sandbox_show_size;
	http_web_session_run(s, &MESSAGE_PAGE, d);
}

/* list_work - (worker) the newest "sandboxed" events of the account */
static void list_work(struct http_web_request *r)
{
	struct sandbox_data *d = r->data;
	const struct store_event_filter filter = { .type = "sandboxed" };
	const char *error = NULL;
	d->rc = store_event_search(r->origin.server->store, r->account, &filter,
				   r->origin.server->config->web.dashboard_rows, &d->events,
				   &d->count, &error);
	if (d->rc != 0)
		log_error("http-web", "session=%s page=sandbox account=%s error=\"%s\"",
			  r->origin.sid, r->account, error);
}

/* list_done - one row per message: its events are consecutive, one per
 * recipient */
static void list_done(struct http_session *s, struct http_web_request *r)
{
	struct sandbox_data *d = r->data;
	if (d->rc != 0) {
		http_web_notice(s, r, 503, "Try again later", "The sandbox cannot be read now.",
				NULL);
		return;
	}
	struct buf html;
	buf_init(&html);
	http_web_nav(&html, r);
	buf_append_str(&html, "<p>Mail a sandboxed account sends is kept here, never"
		       " delivered.</p>\n");
	if (d->count == 0) {
		buf_append_str(&html, "<p id=\"no-messages\">No message kept.</p>\n");
		http_web_respond(s, 200, "Sandbox", &html);
		return;
	}
	buf_append_str(&html, "<table class=\"sandbox\">\n<caption>Kept messages, newest first"
		       " (times in UTC)</caption>\n<thead><tr><th scope=\"col\">Time</th>"
		       "<th scope=\"col\">Message id</th><th scope=\"col\">Recipients</th></tr>"
		       "</thead>\n<tbody>\n");
	for (size_t i = 0; i < d->count;) {
		const struct store_event *e = d->events[i];
		char when[32];
		http_web_utc(when, e->time, "%Y-%m-%d %H:%M:%S");
		buf_printf(&html, "<tr><td>%s</td><td><a href=\"/dashboard/sandbox/message"
			   "?id=%lld\">", when, (long long)e->id);
		http_web_text(&html, e->queue_id ? e->queue_id : "(none)");
		buf_append_str(&html, "</a></td><td>");
		size_t j = i;
		for (; j < d->count && d->events[j]->queue_id && e->queue_id &&
		     strcmp(d->events[j]->queue_id, e->queue_id) == 0; j++) {
			const char *rcpt = d->events[j]->recipient;
			if (j > i)
				buf_append_str(&html, ", ");
			http_web_text(&html, rcpt ? rcpt : "");
		}
		buf_append_str(&html, "</td></tr>\n");
		i = j > i ? j : i + 1;
	}
	buf_append_str(&html, "</tbody>\n</table>\n");
	http_web_respond(s, 200, "Sandbox", &html);
}

/* message_work - (worker) the event ?id= names, if it is one of the
 * account's "sandboxed" events, and the file it kept */
static void message_work(struct http_web_request *r)
{
	struct sandbox_data *d = r->data;
	const char *id = http_form_get(&r->form, "id");
	char *end = NULL;
	long long n = id ? strtoll(id, &end, 10) : 0;
	d->rc = STORE_NOT_FOUND;
	if (!id || id[0] < '0' || id[0] > '9' || *end || n <= 0 || n == INT64_MAX)
		return;
	const struct store_event_filter filter = { .type = "sandboxed", .before_id = n + 1 };
	const char *error = NULL;
	if (store_event_search(r->origin.server->store, r->account, &filter, 1, &d->events,
			       &d->count, &error) != 0) {
		log_error("http-web", "session=%s page=sandbox-message account=%s error=\"%s\"",
			  r->origin.sid, r->account, error);
		d->rc = -1;
		return;
	}
	if (d->count == 1 && d->events[0]->id == n && d->events[0]->reason)
		d->rc = message_read(r->origin.server->config->data_dir, r->account,
				     d->events[0]->reason, d);
}

/* message_read - the file named like KEPT's last part, in ACCOUNT's sandbox
 * folder, into D->message */
static int message_read(const char *data_dir, const char *account, const char *kept,
			struct sandbox_data *d)
{
	const char *slash = strrchr(kept, '/');
	const char *name = slash ? slash + 1 : kept;
	char *mailbox = local_account_mailbox_path(data_dir, account);
	if (!mailbox || !*name || name[0] == '.') {
		free(mailbox);
		return STORE_NOT_FOUND;
	}
	struct buf folder;
	buf_init(&folder);
	buf_printf(&folder, "%s%s%s", mailbox, strchr(account, '@') ? "/" : "",
		   strchr(account, '@') ? LOCAL_SANDBOX_MAILDIR : "");
	free(mailbox);
	char *path = file_find(folder.data, name);
	buf_free(&folder);
	int rc = path ? file_read(path, d) : STORE_NOT_FOUND;
	free(path);
	return rc;
}

/* file_find - MAILDIR/new/NAME, or MAILDIR/cur/NAME:2,FLAGS (the Maildir
 * spec's name once a reader has seen it); NULL if neither is there */
static char *file_find(const char *maildir, const char *name)
{
	char *path = xasprintf("%s/new/%s", maildir, name);
	if (access(path, F_OK) == 0)
		return path;
	free(path);
	path = NULL;
	char *cur = xasprintf("%s/cur", maildir);
	DIR *dir = opendir(cur);
	size_t len = strlen(name);
	for (struct dirent *e; dir && !path && (e = readdir(dir));)
		if (strncmp(e->d_name, name, len) == 0 && e->d_name[len] == ':')
			path = xasprintf("%s/%s", cur, e->d_name);
	if (dir)
		closedir(dir);
	free(cur);
	return path;
}

/* file_read - at most D->show_max octets of PATH into D->message */
static int file_read(const char *path, struct sandbox_data *d)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? STORE_NOT_FOUND : -1;
	char chunk[65536];
	ssize_t n = 0;
	while (d->message.len < d->show_max && (n = read(fd, chunk, sizeof(chunk))) > 0) {
		size_t room = d->show_max - d->message.len;
		buf_append(&d->message, chunk, (size_t)n < room ? (size_t)n : room);
		d->cut = (size_t)n > room;
	}
	if (n > 0 && !d->cut)
		d->cut = read(fd, chunk, 1) > 0;
	int rc = n < 0 ? -1 : 0;
	if (close(fd) != 0)
		rc = -1;
	if (rc != 0)
		log_error("http-web", "page=sandbox-message file=%s error=\"%s\"", path,
			  strerror(errno));
	return rc;
}

static void message_done(struct http_session *s, struct http_web_request *r)
{
	struct sandbox_data *d = r->data;
	if (d->rc == STORE_NOT_FOUND) {
		http_web_notice(s, r, 404, "Not found",
				"There is no such message in the sandbox.", "/dashboard/sandbox");
		return;
	}
	if (d->rc != 0) {
		http_web_notice(s, r, 503, "Try again later", "The message cannot be read now.",
				"/dashboard/sandbox");
		return;
	}
	struct message_headers headers;
	message_headers_parse(d->message.data ? d->message.data : "", d->message.len, &headers);
	struct buf html;
	buf_init(&html);
	http_web_nav(&html, r);
	buf_append_str(&html, "<p><a href=\"/dashboard/sandbox\">Back to the sandbox</a></p>\n");
	render_fields(&html, &headers);
	if (d->cut)
		buf_printf(&html, "<p id=\"cut\">The message is longer than %zu octets: only its"
			   " start is shown.</p>\n", d->show_max);
	buf_append_str(&html, "<h2>Text</h2>\n<pre id=\"text\">");
	markup_escape(&html, d->message.data + headers.body_offset,
		      d->message.len - headers.body_offset);
	buf_append_str(&html, "</pre>\n<h2>Raw</h2>\n<pre id=\"raw\">");
	markup_escape(&html, d->message.data ? d->message.data : "", d->message.len);
	buf_append_str(&html, "</pre>\n");
	message_headers_free(&headers);
	http_web_respond(s, 200, "Sandbox message", &html);
}

/* render_fields - From, To, Cc, Subject, Date, decoded (RFC 2047) */
static void render_fields(struct buf *out, const struct message_headers *headers)
{
	static const char *const names[] = { "From", "To", "Cc", "Subject", "Date" };
	buf_append_str(out, "<dl class=\"fields\">\n");
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const struct message_header *f = message_header_find(headers, names[i], 0);
		if (!f)
			continue;
		char *value = message_header_unfold(f);
		struct buf decoded;
		buf_init(&decoded);
		message_header_decode(value, strlen(value), SANDBOX_HEADER_MAX, &decoded);
		buf_printf(out, "<dt>%s</dt><dd id=\"field-%s\">", names[i], names[i]);
		markup_escape(out, decoded.data ? decoded.data : "", decoded.len);
		buf_append_str(out, "</dd>\n");
		buf_free(&decoded);
		free(value);
	}
	buf_append_str(out, "</dl>\n");
}

static void sandbox_data_free(void *data)
{
	struct sandbox_data *d = data;
	store_event_list_free(&d->events, d->count);
	buf_free(&d->message);
	free(d);
}
