/* http/web-dash-sandbox - the dashboard's sandbox inbox (docs/web.md): the
 * mail a sandboxed account sent, kept and never relayed (accounts.md,
 * "Sandbox mode"), like a test mail catcher.  GET /dashboard/sandbox
 * lists the account's "sandboxed" events (one per recipient, grouped by
 * message); GET /dashboard/sandbox/message?id=EVENT shows one message: its
 * main header fields decoded, its MIME tree walked (message_mime_parser_*,
 * with its depth and part limits): each text part decoded to UTF-8 and
 * shown escaped, each HTML part rendered in an <iframe sandbox srcdoc> (no
 * script, no origin of this site; it inherits the page's CSP, so nothing,
 * a remote image included, is fetched), the attachments listed with a link
 * to GET /dashboard/sandbox/part?id=EVENT&part=N, which answers the decoded
 * part as a download (octet-stream, Content-Disposition: attachment,
 * nosniff, CSP sandbox); then the whole message raw, every octet escaped.
 * [web] dashboard_rows events listed, sandbox_show_size octets read.  The
 * parsing and the page's HTML are done on the worker.
 *
 * The event names the kept file; only its name is trusted, and it is
 * looked for in the account's own sandbox folder (new/, or cur/ once an
 * IMAP client has seen it), computed here from the session's account
 * (local_account_mailbox_path), so that no event and no request can make
 * the page read another file.  The store and the disk are read on the
 * session's worker job (web-session.h). */
#include "http/web-session.h"
#include "http/web.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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
#define SANDBOX_NAME_MAX 255        /* octets of a decoded attachment name */

struct sandbox_data {
	struct store_event **events;
	size_t count;
	struct buf message;              /* the message's octets (up to [web] sandbox_show_size) */
	size_t show_max;                 /* [web] sandbox_show_size */
	bool cut;                        /* it is longer */
	int rc;                          /* STORE_NOT_FOUND: no such message of the account */
	struct buf html;                 /* the message page's main part (worker) */
	struct buf part;                 /* the attachment asked for, decoded (worker) */
	char *part_name;                 /* its file name (UTF-8), or NULL */
};

/* the walk of a message's parts (parts_render) */
struct sandbox_walk {
	const struct sandbox_data *d;
	long long id;                    /* the event's */
	unsigned next;                   /* the number of the next part (depth first) */
	struct buf texts;                /* text and HTML parts */
	struct buf attachments;          /* rows of the attachments' table */
};

static void list_work(struct http_web_request *r);
static void list_done(struct http_session *s, struct http_web_request *r);
static void message_work(struct http_web_request *r);
static void message_done(struct http_session *s, struct http_web_request *r);
static int kept_read(struct http_web_request *r, const char *page, long long *id_r);
static bool kept_failed(struct http_session *s, struct http_web_request *r,
			const char *not_found);
static int message_read(const char *data_dir, const char *account, const char *kept,
			struct sandbox_data *d);
static void message_render(struct sandbox_data *d, long long id);
static struct message_part *tree_parse(const struct sandbox_data *d);
static void parts_render(const struct message_part *part, struct sandbox_walk *w);
static void text_render(const struct message_part *part, unsigned no, struct sandbox_walk *w);
static void attachment_render(const struct message_part *part, unsigned no,
			      struct sandbox_walk *w);
static bool part_is_attachment(const struct message_part *part);
static bool part_is_whole(const struct message_part *part, const struct sandbox_data *d);
static char *part_name(const struct message_part *part);
static const struct message_part *part_find(const struct message_part *part, unsigned *next,
					    unsigned no);
static void part_work(struct http_web_request *r);
static void part_done(struct http_session *s, struct http_web_request *r);
static void disposition_write(struct buf *out, const char *name);
static int file_read(const char *path, struct sandbox_data *d);
static char *file_find(const char *maildir, const char *name);
static void render_fields(struct buf *out, const struct message_headers *headers);
static struct sandbox_data *sandbox_data_new(const struct http_session *s);
static void sandbox_data_free(void *data);

static const struct http_web_page LIST_PAGE = {
	.name = "sandbox", .work = list_work, .done = list_done,
	.free_data = sandbox_data_free,
};
static const struct http_web_page MESSAGE_PAGE = {
	.name = "sandbox-message", .work = message_work, .done = message_done,
	.free_data = sandbox_data_free,
};
static const struct http_web_page PART_PAGE = {
	.name = "sandbox-part", .work = part_work, .done = part_done,
	.free_data = sandbox_data_free,
};

void http_route_web_sandbox(struct http_session *s)
{
	http_web_session_run(s, &LIST_PAGE, sandbox_data_new(s));
}

void http_route_web_sandbox_message(struct http_session *s)
{
	http_web_session_run(s, &MESSAGE_PAGE, sandbox_data_new(s));
}

void http_route_web_sandbox_part(struct http_session *s)
{
	http_web_session_run(s, &PART_PAGE, sandbox_data_new(s));
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

/* message_work - (worker) the message ?id= names, read and rendered */
static void message_work(struct http_web_request *r)
{
	struct sandbox_data *d = r->data;
	long long id = 0;
	d->rc = kept_read(r, "sandbox-message", &id);
	if (d->rc == 0)
		message_render(d, id);
}

/* kept_read - (worker) the event ?id= names, if it is one of the
 * account's "sandboxed" events, and the file it kept into r->data's
 * message; 0, STORE_NOT_FOUND or -1 */
static int kept_read(struct http_web_request *r, const char *page, long long *id_r)
{
	struct sandbox_data *d = r->data;
	const char *id = http_form_get(&r->form, "id");
	char *end = NULL;
	long long n = id ? strtoll(id, &end, 10) : 0;
	if (!id || id[0] < '0' || id[0] > '9' || *end || n <= 0 || n == INT64_MAX)
		return STORE_NOT_FOUND;
	const struct store_event_filter filter = { .type = "sandboxed", .before_id = n + 1 };
	const char *error = NULL;
	if (store_event_search(r->origin.server->store, r->account, &filter, 1, &d->events,
			       &d->count, &error) != 0) {
		log_error("http-web", "session=%s page=%s account=%s error=\"%s\"",
			  r->origin.sid, page, r->account, error);
		return -1;
	}
	*id_r = n;
	if (d->count == 1 && d->events[0]->id == n && d->events[0]->reason)
		return message_read(r->origin.server->config->data_dir, r->account,
				    d->events[0]->reason, d);
	return STORE_NOT_FOUND;
}

/* kept_failed - S answered 404 (saying NOT_FOUND) or 503 when R's
 * kept_read failed: true then */
static bool kept_failed(struct http_session *s, struct http_web_request *r,
			const char *not_found)
{
	int rc = ((const struct sandbox_data *)r->data)->rc;   /* R dies with the answer */
	if (rc == STORE_NOT_FOUND)
		http_web_notice(s, r, 404, "Not found", not_found, "/dashboard/sandbox");
	else if (rc != 0)
		http_web_notice(s, r, 503, "Try again later", "The message cannot be read now.",
				"/dashboard/sandbox");
	return rc != 0;
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
	if (kept_failed(s, r, "There is no such message in the sandbox."))
		return;
	struct buf html;
	buf_init(&html);
	http_web_nav(&html, r);
	buf_append_str(&html, "<p><a href=\"/dashboard/sandbox\">Back to the sandbox</a></p>\n");
	buf_append(&html, d->html.data ? d->html.data : "", d->html.len);
	http_web_respond(s, 200, "Sandbox message", &html);
}

/* message_render - (worker) D's message as the page shows it, into
 * D->html: its fields, its parts (text, HTML, attachments), then raw */
static void message_render(struct sandbox_data *d, long long id)
{
	const char *data = d->message.data ? d->message.data : "";
	struct message_headers headers;
	message_headers_parse(data, d->message.len, &headers);
	render_fields(&d->html, &headers);
	message_headers_free(&headers);
	if (d->cut)
		buf_printf(&d->html, "<p id=\"cut\">The message is longer than %zu octets: only"
			   " its start is shown.</p>\n", d->show_max);
	struct message_part *root = tree_parse(d);
	struct sandbox_walk w = { .d = d, .id = id };
	buf_init(&w.texts);
	buf_init(&w.attachments);
	parts_render(root, &w);
	message_part_free(&root);
	buf_append(&d->html, w.texts.data ? w.texts.data : "", w.texts.len);
	if (w.attachments.len > 0) {
		buf_append_str(&d->html, "<h2>Attachments</h2>\n<table id=\"attachments\">\n"
			       "<thead><tr><th scope=\"col\">Name</th><th scope=\"col\">Type</th>"
			       "<th scope=\"col\">Size (octets)</th></tr></thead>\n<tbody>\n");
		buf_append(&d->html, w.attachments.data, w.attachments.len);
		buf_append_str(&d->html, "</tbody>\n</table>\n");
	}
	buf_free(&w.texts);
	buf_free(&w.attachments);
	buf_append_str(&d->html, "<h2>Raw</h2>\n<pre id=\"raw\">");
	markup_escape_lines(&d->html, data, d->message.len);
	buf_append_str(&d->html, "</pre>\n");
}

/* tree_parse - D's message's MIME tree (the parser's own limits) */
static struct message_part *tree_parse(const struct sandbox_data *d)
{
	struct message_mime_parser *parser = message_mime_parser_create(NULL);
	message_mime_parser_feed(parser, d->message.data ? d->message.data : "", d->message.len);
	return message_mime_parser_finish(&parser);
}

/* parts_render - PART and the parts under it, depth first, numbered as
 * part_find numbers them: multiparts and enclosed messages are walked
 * into, attachments listed, text shown */
static void parts_render(const struct message_part *part, struct sandbox_walk *w)
{
	unsigned no = w->next++;
	if (part->children) {
		for (const struct message_part *c = part->children; c; c = c->next)
			parts_render(c, w);
	} else if (part_is_attachment(part)) {
		attachment_render(part, no, w);
	} else {
		text_render(part, no, w);
	}
}

/* text_render - a text part decoded to UTF-8: HTML in a sandboxed frame
 * (no allow-scripts, no allow-same-origin: its scripts never run and its
 * origin is none of this site's; its srcdoc inherits the page's CSP, which
 * lets nothing be fetched), any other text escaped in a <pre> */
static void text_render(const struct message_part *part, unsigned no, struct sandbox_walk *w)
{
	const struct sandbox_data *d = w->d;
	struct buf text;
	buf_init(&text);
	message_part_text(part, d->message.data ? d->message.data : "", d->message.len, &text);
	const char *data = text.data ? text.data : "";
	if (strcmp(part->content_type.subtype, "html") == 0) {
		buf_printf(&w->texts, "<h2>HTML</h2>\n<iframe id=\"part-%u\" sandbox=\"\""
			   " referrerpolicy=\"no-referrer\" title=\"The message as HTML (no"
			   " script runs, nothing is fetched)\" style=\"width:100%%;height:30em;"
			   "border:1px solid #888\" srcdoc=\"", no);
		markup_escape_lines(&w->texts, data, text.len);
		buf_append_str(&w->texts, "\"></iframe>\n");
	} else {
		buf_printf(&w->texts, "<h2>Text</h2>\n<pre id=\"part-%u\">", no);
		markup_escape_lines(&w->texts, data, text.len);
		buf_append_str(&w->texts, "</pre>\n");
	}
	buf_free(&text);
}

/* attachment_render - a row: the decoded file name, the type, the decoded
 * size, and a link to the part (none when the message was cut in it) */
static void attachment_render(const struct message_part *part, unsigned no,
			      struct sandbox_walk *w)
{
	const struct sandbox_data *d = w->d;
	struct buf decoded;
	buf_init(&decoded);
	message_part_body_decode(part, d->message.data ? d->message.data : "", d->message.len,
				 &decoded);
	char *name = part_name(part);
	bool whole = part_is_whole(part, d);
	buf_printf(&w->attachments, "<tr id=\"part-%u\"><td>", no);
	if (whole)
		buf_printf(&w->attachments, "<a href=\"/dashboard/sandbox/part?id=%lld&amp;"
			   "part=%u\" download>", w->id, no);
	http_web_text(&w->attachments, name ? name : "(no name)");
	buf_append_str(&w->attachments, whole ? "</a>" : " (cut: past [web] sandbox_show_size)");
	buf_append_str(&w->attachments, "</td><td>");
	http_web_text(&w->attachments, part->content_type.type);
	buf_append_str(&w->attachments, "/");
	http_web_text(&w->attachments, part->content_type.subtype);
	buf_printf(&w->attachments, "</td><td>%zu</td></tr>\n", decoded.len);
	free(name);
	buf_free(&decoded);
}

/* part_is_attachment - a part listed rather than shown: of the parts not
 * walked into (no children), one marked so (RFC 2183), one that is not
 * text, or one the parser's limits left opaque (a multipart or a message) */
static bool part_is_attachment(const struct message_part *part)
{
	if (part->children)
		return false;
	return (part->disposition.type && strcmp(part->disposition.type, "attachment") == 0) ||
	       strcmp(part->content_type.type, "text") != 0 || part->is_multipart ||
	       part->is_message;
}

/* part_is_whole - PART's body was read to its end: the message was not
 * cut, or the part ends before the octets read do (a boundary follows) */
static bool part_is_whole(const struct message_part *part, const struct sandbox_data *d)
{
	return !d->cut || part->body_offset + part->body_size < d->message.len;
}

/* part_name - PART's file name (Content-Disposition's filename, else
 * Content-Type's name; RFC 2231 already joined, RFC 2047 words decoded as
 * some senders write them), malloc'd; NULL when it has none */
static char *part_name(const struct message_part *part)
{
	const char *name = part->disposition.type ? message_param_get(&part->disposition,
								      "filename") : NULL;
	if (!name)
		name = message_param_get(&part->content_type, "name");
	if (!name || !*name)
		return NULL;
	struct buf decoded;
	buf_init(&decoded);
	message_header_decode(name, strlen(name), SANDBOX_NAME_MAX, &decoded);
	buf_append(&decoded, "", 1);
	return decoded.data;
}

/* part_find - the part numbered NO under PART (whose number is *NEXT),
 * numbered as parts_render numbers them; NULL if there is none */
static const struct message_part *part_find(const struct message_part *part, unsigned *next,
					    unsigned no)
{
	if ((*next)++ == no)
		return part;
	const struct message_part *found = NULL;
	for (const struct message_part *c = part->children; c && !found; c = c->next)
		found = part_find(c, next, no);
	return found;
}

/* part_work - (worker) the attachment ?part= of the message ?id=,
 * decoded; STORE_NOT_FOUND for a part that is not an attachment of a
 * message of the account, or one the message was cut in */
static void part_work(struct http_web_request *r)
{
	struct sandbox_data *d = r->data;
	long long id = 0;
	const char *no = http_form_get(&r->form, "part");
	char *end = NULL;
	unsigned long n = no ? strtoul(no, &end, 10) : 0;
	if (!no || no[0] < '0' || no[0] > '9' || *end || n > UINT_MAX) {
		d->rc = STORE_NOT_FOUND;
		return;
	}
	d->rc = kept_read(r, "sandbox-part", &id);
	if (d->rc != 0)
		return;
	struct message_part *root = tree_parse(d);
	unsigned next = 0;
	const struct message_part *part = part_find(root, &next, (unsigned)n);
	if (part && part_is_attachment(part) && part_is_whole(part, d)) {
		message_part_body_decode(part, d->message.data ? d->message.data : "",
					 d->message.len, &d->part);
		d->part_name = part_name(part);
	} else {
		d->rc = STORE_NOT_FOUND;
	}
	message_part_free(&root);
}

/* part_done - the part as a download, never a page of this site:
 * octet-stream, attachment, nosniff, CSP sandbox */
static void part_done(struct http_session *s, struct http_web_request *r)
{
	struct sandbox_data *d = r->data;
	if (kept_failed(s, r, "There is no such attachment in the sandbox."))
		return;
	struct buf field;
	buf_init(&field);
	disposition_write(&field, d->part_name ? d->part_name : "attachment");
	http_session_add_header(s, "Content-Disposition", field.data);
	buf_free(&field);
	http_session_add_header(s, "Cache-Control", "no-store");
	http_session_add_header(s, "X-Content-Type-Options", "nosniff");
	http_session_add_header(s, "Content-Security-Policy", "default-src 'none'; sandbox");
	http_session_respond_text(s, 200, "application/octet-stream",
				  d->part.data ? d->part.data : "", d->part.len);
}

/* disposition_write - "attachment" with NAME (UTF-8) as filename, its
 * printable ASCII only (any other octet '_'), and as filename* in UTF-8,
 * percent-encoded (RFC 6266 4.3, RFC 8187 3.2): no octet of NAME can end
 * the field */
static void disposition_write(struct buf *out, const char *name)
{
	buf_append_str(out, "attachment; filename=\"");
	for (const char *p = name; *p; p++)
		buf_append(out, *p >= 0x20 && *p < 0x7f && *p != '"' && *p != '\\' ? p : "_", 1);
	buf_append_str(out, "\"; filename*=UTF-8''");
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		if (isalnum(*p) || strchr("!#$&+-.^_`|~", *p))
			buf_append(out, (const char *)p, 1);
		else
			buf_printf(out, "%%%02X", *p);
	}
	buf_append(out, "", 1);
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

static struct sandbox_data *sandbox_data_new(const struct http_session *s)
{
	struct sandbox_data *d = xcalloc(1, sizeof(*d));
	buf_init(&d->message);
	buf_init(&d->html);
	buf_init(&d->part);
	d->show_max = s->server->config->web.sandbox_show_size;
	return d;
}

static void sandbox_data_free(void *data)
{
	struct sandbox_data *d = data;
	store_event_list_free(&d->events, d->count);
	buf_free(&d->message);
	buf_free(&d->html);
	buf_free(&d->part);
	free(d->part_name);
	free(d);
}
