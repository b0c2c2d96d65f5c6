/* pop3/cmd-mail - the maildrop (RFC 1939 5, 6): the account's INBOX,
 * locked for the session from login to the end (RFC 1939 8:
 * mailbox_exclusive_take; a second session gets -ERR [IN-USE], RFC 2449
 * 8.1.1), listed once at login (message numbers and sizes stay for the
 * session), STAT LIST RETR TOP UIDL DELE RSET NOOP, and QUIT's UPDATE state,
 * which removes the DELE'd messages.  Every read and write of the Maildir
 * runs on the worker pool; the loop only formats.
 *
 * UIDL is the file name's unique part (mailbox_message_unique): it stays
 * the message's across sessions, flag changes and index rebuilds.  One that
 * does not fit RFC 1939 7 (1 to 70 characters from 0x21 to 0x7E: another
 * MDA's name, or ours with a long host name) is sent as the SHA-256 of that
 * part in hex, as stable as the name itself.  Sizes
 * are the files' (stored with CRLF line ends, as RETR sends them before
 * dot-stuffing).
 *
 * RETR and TOP stream the message: the file is opened once (a message
 * removed meanwhile by another program stays readable through the
 * descriptor) and read by offsets, READ_BATCH octets a job, dot-stuffed
 * (parse.h's writer keeps its state from one chunk to the next); the loop
 * sends each piece, and the next job starts once the client has read it
 * (pop3_session_async_written).  A session thus holds about READ_BATCH
 * octets of a message and its unsent output, whatever the message's size.
 * A file that fails once "+OK" has gone ends the connection (the client
 * would wait for the end of the message for ever).
 */
#include "pop3/session.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "config/config.h"
#include "mailbox/mailbox.h"
#include "util/buf.h"
#include "util/fileio.h"
#include "util/log.h"
#include "util/pool.h"
#include "util/xalloc.h"

/* octets read from a message file at a time, and (about) by a job */
#define READ_CHUNK 65536
#define READ_BATCH (4 * READ_CHUNK)

struct open_job {
	struct pop3_job job;
	const char *data_dir;
	char *account;
	struct mailbox *mailbox;
	struct mailbox_view *view;
	struct pop3_message *messages;
	uint32_t count;
	bool in_use;
	struct mailbox_error error;
};

/* RETR or TOP under way, from one job to the next */
struct read_stream {
	uint32_t uid;
	bool top;
	int fd;                /* -1 until the first job opens it */
	uint64_t offset;       /* where the next read starts */
	bool sent_ok;          /* "+OK" has gone */
	bool finished;         /* ".\r\n" is in the last job's output */
	struct pop3_writer writer;
	char *chunk;
};

struct read_job {
	struct pop3_job job;
	struct mailbox_view *view;
	struct read_stream *st;
	struct buf out;
	struct mailbox_error error;
};

struct update_job {
	struct pop3_job job;
	struct mailbox_view *view;
	uint32_t *uids;
	size_t n;
	size_t removed;
	int rc;
	struct mailbox_error error;
};

/* what a session gives back at its end: no deletion (RFC 1939 6) */
struct release_job {
	struct mailbox *mailbox;
	struct mailbox_view *view;
};

static void open_work(struct pop3_job *job);
static void open_done(struct pop3_session *s, struct pop3_job *job);
static void open_free(struct pop3_job *job);
static void read_work(struct pop3_job *job);
static void read_done(struct pop3_session *s, struct pop3_job *job);
static void read_free(struct pop3_job *job);
static void read_job_submit(struct pop3_session *s, struct read_stream *st);
static void read_stream_free(struct read_stream **st);
static void update_work(struct pop3_job *job);
static void update_done(struct pop3_session *s, struct pop3_job *job);
static void update_free(struct pop3_job *job);
static void release_work(void *arg);
static void release_done(void *arg);
static void messages_free(struct pop3_message *messages, uint32_t count);
static char *unique_id_fit(char *unique);
static struct pop3_message *mail_message(struct pop3_session *s, const struct pop3_command *cmd,
					 unsigned arg);
static void mail_list(struct pop3_session *s, const struct pop3_command *cmd, bool uidl);
static void mail_read(struct pop3_session *s, const struct pop3_command *cmd, bool top);

/* ---- login: lock and list the INBOX ----------------------------------------- */

void pop3_maildrop_open(struct pop3_session *s, char *account)
{
	struct open_job *j = xcalloc(1, sizeof(*j));
	j->job.work = open_work;
	j->job.done = open_done;
	j->job.free = open_free;
	j->data_dir = s->config->data_dir;
	j->account = account;
	pop3_session_async(s, &j->job);
}

static void open_work(struct pop3_job *job)
{
	struct open_job *j = (struct open_job *)job;
	if (mailbox_open(j->data_dir, j->account, "INBOX", &j->mailbox, &j->error) != 0)
		return;
	if (!mailbox_exclusive_take(j->mailbox)) {
		j->in_use = true;
		mailbox_unref(&j->mailbox);
		return;
	}
	if (mailbox_view_open(j->mailbox, &j->view, &j->error) != 0) {
		mailbox_exclusive_release(j->mailbox);
		mailbox_unref(&j->mailbox);
		return;
	}
	uint32_t total = mailbox_view_count(j->view);
	j->messages = xcalloc(total ? total : 1, sizeof(*j->messages));
	for (uint32_t seq = 1; seq <= total; seq++) {
		struct mailbox_message msg;
		struct mailbox_error error;
		char *unique = NULL;
		/* one removed meanwhile by another program is simply not listed */
		if (mailbox_view_message(j->view, seq, &msg) != 0 || msg.expunged ||
		    mailbox_message_unique(j->view, msg.uid, &unique, &error) != 0)
			continue;
		struct pop3_message *m = &j->messages[j->count++];
		m->uid = msg.uid;
		m->size = msg.size;
		m->unique = unique_id_fit(unique);
	}
}

/* unique_id_fit - UNIQUE (a file name's unique part, taken) as an RFC 1939
 * 7 unique-id: itself when it fits, else its SHA-256 in hex (64 characters) */
static char *unique_id_fit(char *unique)
{
	size_t len = strlen(unique);
	bool fits = len >= 1 && len <= 70;
	for (size_t i = 0; fits && i < len; i++)
		fits = (unsigned char)unique[i] >= 0x21 && (unsigned char)unique[i] <= 0x7e;
	if (fits)
		return unique;
	unsigned char digest[SHA256_DIGEST_LENGTH];
	if (!SHA256((const unsigned char *)unique, len, digest))
		abort();
	static const char hex[] = "0123456789abcdef";
	char *id = xmalloc(2 * sizeof(digest) + 1);
	for (size_t i = 0; i < sizeof(digest); i++) {
		id[2 * i] = hex[digest[i] >> 4];
		id[2 * i + 1] = hex[digest[i] & 0xf];
	}
	id[2 * sizeof(digest)] = '\0';
	free(unique);
	return id;
}

static void open_done(struct pop3_session *s, struct pop3_job *job)
{
	struct open_job *j = (struct open_job *)job;
	if (j->in_use) {
		log_info("pop3-in-use", "session=%s client=%s account=%s", s->sid, s->client,
			 j->account);
		/* RFC 2449 8.1.1 */
		pop3_reply_err(s, "[IN-USE] The mailbox is open in another POP3 session");
	} else if (!j->view) {
		log_warn("pop3-open-failed", "session=%s account=%s error=\"%s\"", s->sid,
			 j->account, j->error.text ? j->error.text : "");
		pop3_reply_err(s, "[SYS/TEMP] Cannot open the mailbox, try again later");
	} else {
		s->state = POP3_STATE_TRANSACTION;
		s->account = j->account;
		j->account = NULL;
		s->mailbox = j->mailbox;
		s->view = j->view;
		s->messages = j->messages;
		s->count = j->count;
		j->mailbox = NULL;
		j->view = NULL;
		j->messages = NULL;
		uint64_t size = 0;
		for (uint32_t i = 0; i < s->count; i++)
			size += s->messages[i].size;
		log_info("pop3-login", "session=%s client=%s account=%s messages=%" PRIu32
			 " size=%" PRIu64, s->sid, s->client, s->account, s->count, size);
		pop3_reply_ok(s, "Logged in, %" PRIu32 " messages (%" PRIu64 " octets)", s->count,
			      size);
	}
	pop3_command_done(s);
}

static void open_free(struct pop3_job *job)
{
	struct open_job *j = (struct open_job *)job;
	if (j->view || j->mailbox) {
		/* the session went away while its INBOX was being opened */
		struct release_job *r = xcalloc(1, sizeof(*r));
		r->mailbox = j->mailbox;
		r->view = j->view;
		pool_submit(job->session->server->pool, release_work, release_done, r);
	}
	messages_free(j->messages, j->count);
	free(j->account);
	free(j);
}

/* ---- the end of a session ------------------------------------------------------ */

void pop3_maildrop_release(struct pop3_session *s)
{
	if (!s->mailbox)
		return;
	struct release_job *r = xcalloc(1, sizeof(*r));
	r->mailbox = s->mailbox;
	r->view = s->view;
	s->mailbox = NULL;
	s->view = NULL;
	pool_submit(s->server->pool, release_work, release_done, r);
}

static void release_work(void *arg)
{
	struct release_job *r = arg;
	mailbox_view_free(&r->view);
	mailbox_exclusive_release(r->mailbox);
	mailbox_unref(&r->mailbox);
}

static void release_done(void *arg)
{
	free(arg);
}

void pop3_messages_free(struct pop3_session *s)
{
	messages_free(s->messages, s->count);
	s->messages = NULL;
	s->count = 0;
}

static void messages_free(struct pop3_message *messages, uint32_t count)
{
	if (!messages)
		return;
	for (uint32_t i = 0; i < count; i++)
		free(messages[i].unique);
	free(messages);
}

/* ---- TRANSACTION ----------------------------------------------------------------- */

void pop3_cmd_transaction(struct pop3_session *s, const struct pop3_command *cmd)
{
	switch (cmd->verb) {
	case POP3_VERB_STAT: {
		uint32_t n = 0;
		uint64_t size = 0;
		for (uint32_t i = 0; i < s->count; i++) {
			if (!s->messages[i].deleted) {
				n++;
				size += s->messages[i].size;
			}
		}
		pop3_reply_ok(s, "%" PRIu32 " %" PRIu64, n, size);
		break;
	}
	case POP3_VERB_LIST:
		mail_list(s, cmd, false);
		break;
	case POP3_VERB_UIDL:
		mail_list(s, cmd, true);
		break;
	case POP3_VERB_RETR:
		mail_read(s, cmd, false);
		return;
	case POP3_VERB_TOP:
		mail_read(s, cmd, true);
		return;
	case POP3_VERB_DELE: {
		struct pop3_message *m = mail_message(s, cmd, 0);
		if (!m)
			return;
		m->deleted = true;
		pop3_reply_ok(s, "Message %.*s deleted", (int)cmd->arg_lens[0], cmd->args[0]);
		break;
	}
	case POP3_VERB_RSET:
		for (uint32_t i = 0; i < s->count; i++)
			s->messages[i].deleted = false;
		pop3_reply_ok(s, "%" PRIu32 " messages kept", s->count);
		break;
	case POP3_VERB_NOOP:
		pop3_reply_ok(s, "Nothing done");
		break;
	default:
		pop3_reply_err(s, "Not valid after login");
		break;
	}
	pop3_command_done(s);
}

/* mail_message - the message CMD's argument ARG names, or NULL after
 * replying -ERR and ending the command (RFC 1939 5: a deleted message may
 * not be named) */
static struct pop3_message *mail_message(struct pop3_session *s, const struct pop3_command *cmd,
					 unsigned arg)
{
	uint32_t n = 0;
	if (pop3_number_parse(cmd->args[arg], cmd->arg_lens[arg], false, &n) != 0) {
		pop3_reply_err(s, "Invalid message number");
	} else if (n > s->count) {
		pop3_reply_err(s, "No such message (%" PRIu32 " in the mailbox)", s->count);
	} else if (s->messages[n - 1].deleted) {
		pop3_reply_err(s, "Message %" PRIu32 " is deleted", n);
	} else {
		return &s->messages[n - 1];
	}
	pop3_command_done(s);
	return NULL;
}

/* mail_list - LIST or UIDL: one message's line, or all that are not deleted
 * (RFC 1939 5, 7) */
static void mail_list(struct pop3_session *s, const struct pop3_command *cmd, bool uidl)
{
	if (cmd->argc == 1) {
		struct pop3_message *m = mail_message(s, cmd, 0);
		if (!m)
			return;
		uint32_t n = (uint32_t)(m - s->messages) + 1;
		if (uidl)
			pop3_reply_ok(s, "%" PRIu32 " %s", n, m->unique);
		else
			pop3_reply_ok(s, "%" PRIu32 " %" PRIu64, n, m->size);
		return;
	}
	struct buf out;
	buf_init(&out);
	buf_append_str(&out, uidl ? "+OK Unique-ID listing follows\r\n"
			    : "+OK Scan listing follows\r\n");
	for (uint32_t i = 0; i < s->count; i++) {
		const struct pop3_message *m = &s->messages[i];
		if (m->deleted)
			continue;
		if (uidl)
			buf_printf(&out, "%" PRIu32 " %s\r\n", i + 1, m->unique);
		else
			buf_printf(&out, "%" PRIu32 " %" PRIu64 "\r\n", i + 1, m->size);
	}
	buf_append_str(&out, ".\r\n");
	pop3_reply_raw(s, out.data, out.len);
	buf_free(&out);
}

/* mail_read - RETR n, or TOP n lines: the file read and dot-stuffed on the pool */
static void mail_read(struct pop3_session *s, const struct pop3_command *cmd, bool top)
{
	struct pop3_message *m = mail_message(s, cmd, 0);
	if (!m)
		return;
	uint32_t lines = 0;
	if (top && pop3_number_parse(cmd->args[1], cmd->arg_lens[1], true, &lines) != 0) {
		pop3_reply_err(s, "Invalid number of lines");
		pop3_command_done(s);
		return;
	}
	struct read_stream *st = xcalloc(1, sizeof(*st));
	st->uid = m->uid;
	st->top = top;
	st->fd = -1;
	st->chunk = xmalloc(READ_CHUNK);
	pop3_writer_init(&st->writer, top, lines);
	read_job_submit(s, st);
}

/* read_job_submit - the next piece of ST's message: now for the first,
 * once the client has read the last one for the others */
static void read_job_submit(struct pop3_session *s, struct read_stream *st)
{
	struct read_job *j = xcalloc(1, sizeof(*j));
	j->job.work = read_work;
	j->job.done = read_done;
	j->job.free = read_free;
	j->view = s->view;
	j->st = st;
	buf_init(&j->out);
	if (st->fd < 0)
		pop3_session_async(s, &j->job);
	else
		pop3_session_async_written(s, &j->job);
}

/* read_work - (worker) open the file the first time, then read and
 * dot-stuff up to READ_BATCH octets, and end the response at the end of
 * the file or of TOP's lines */
static void read_work(struct pop3_job *job)
{
	struct read_job *j = (struct read_job *)job;
	struct read_stream *st = j->st;
	if (st->fd < 0 && mailbox_message_open(j->view, st->uid, &st->fd, &j->error) != 0)
		return;
	size_t got = 0;
	while (got < READ_BATCH && !st->writer.done) {
		ssize_t n = fd_pread_full(st->fd, st->chunk, READ_CHUNK, (off_t)st->offset);
		if (n < 0) {
			j->error = (struct mailbox_error){ MAILBOX_ERROR_TEMPORARY,
							   "cannot read the message", errno };
			return;
		}
		if (n == 0)
			break;
		pop3_writer_feed(&st->writer, st->chunk, (size_t)n, &j->out);
		st->offset += (uint64_t)n;
		got += (size_t)n;
	}
	if (got < READ_BATCH || st->writer.done) {
		pop3_writer_finish(&st->writer, &j->out);
		st->finished = true;
	}
}

static void read_done(struct pop3_session *s, struct pop3_job *job)
{
	struct read_job *j = (struct read_job *)job;
	struct read_stream *st = j->st;
	if (j->error.code != MAILBOX_ERROR_NONE && st->sent_ok) {
		log_warn("pop3-read-failed", "session=%s account=%s uid=%" PRIu32 " error=\"%s\"",
			 s->sid, s->account, st->uid, j->error.text ? j->error.text : "");
		pop3_session_close(s);
		pop3_command_done(s);
		return;
	}
	if (j->error.code == MAILBOX_ERROR_EXPUNGED) {
		pop3_reply_err(s, "[SYS/PERM] The message was removed by another program");
	} else if (j->error.code != MAILBOX_ERROR_NONE) {
		log_warn("pop3-read-failed", "session=%s account=%s uid=%" PRIu32 " error=\"%s\"",
			 s->sid, s->account, st->uid, j->error.text ? j->error.text : "");
		pop3_reply_err(s, "[SYS/TEMP] Cannot read the message, try again later");
	} else {
		if (!st->sent_ok)
			pop3_reply_ok(s, "%s follows", st->top ? "Top of message" : "Message");
		st->sent_ok = true;
		pop3_reply_raw(s, j->out.data, j->out.len);
		if (!st->finished) {
			j->st = NULL;
			read_job_submit(s, st);
			return;
		}
	}
	pop3_command_done(s);
}

static void read_free(struct pop3_job *job)
{
	struct read_job *j = (struct read_job *)job;
	read_stream_free(&j->st);
	buf_free(&j->out);
	free(j);
}

static void read_stream_free(struct read_stream **st)
{
	if (*st == NULL)
		return;
	if ((*st)->fd >= 0 && close((*st)->fd) != 0)
		log_warn("close-failed", "what=message error=\"%s\"", strerror(errno));
	free((*st)->chunk);
	free(*st);
	*st = NULL;
}

/* ---- QUIT and the UPDATE state ----------------------------------------------------- */

void pop3_cmd_quit(struct pop3_session *s)
{
	if (s->state != POP3_STATE_TRANSACTION) {
		/* RFC 1939 4: no UPDATE from AUTHORIZATION */
		pop3_reply_ok(s, "%s Petrel POP3 server signing off", s->config->hostname);
		pop3_session_close(s);
		pop3_command_done(s);
		return;
	}
	s->state = POP3_STATE_UPDATE;
	struct update_job *j = xcalloc(1, sizeof(*j));
	j->job.work = update_work;
	j->job.done = update_done;
	j->job.free = update_free;
	j->view = s->view;
	j->uids = xcalloc(s->count ? s->count : 1, sizeof(*j->uids));
	for (uint32_t i = 0; i < s->count; i++)
		if (s->messages[i].deleted)
			j->uids[j->n++] = s->messages[i].uid;
	pop3_session_async(s, &j->job);
}

/* update_work - RFC 1939 6: the DELE'd messages are removed (marked
 * \Deleted, then expunged, synced to disk) */
static void update_work(struct pop3_job *job)
{
	struct update_job *j = (struct update_job *)job;
	if (j->n == 0)
		return;
	struct mailbox_store_result stored;
	j->rc = mailbox_store_flags(j->view, j->uids, j->n, MAILBOX_STORE_ADD,
				    MAILBOX_FLAG_DELETED, 0, 0, &stored, &j->error);
	if (j->rc != 0)
		return;
	mailbox_store_result_free(&stored);
	uint32_t *expunged = NULL;
	j->rc = mailbox_expunge(j->view, j->uids, j->n, &expunged, &j->removed, &j->error);
	free(expunged);
}

static void update_done(struct pop3_session *s, struct pop3_job *job)
{
	struct update_job *j = (struct update_job *)job;
	if (j->rc != 0) {
		log_warn("pop3-update-failed", "session=%s account=%s error=\"%s\"", s->sid,
			 s->account, j->error.text ? j->error.text : "");
		/* RFC 1939 6: -ERR when some deleted messages were not removed */
		pop3_reply_err(s, "[SYS/TEMP] Some deleted messages were not removed");
	} else {
		log_info("pop3-logout", "session=%s account=%s deleted=%zu", s->sid, s->account,
			 j->removed);
		pop3_reply_ok(s, "%s Petrel POP3 server signing off (%zu messages deleted)",
			      s->config->hostname, j->removed);
	}
	pop3_session_close(s);
	pop3_command_done(s);
}

static void update_free(struct pop3_job *job)
{
	struct update_job *j = (struct update_job *)job;
	free(j->uids);
	free(j);
}
