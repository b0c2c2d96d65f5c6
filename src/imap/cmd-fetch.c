/* imap/cmd-fetch - FETCH and UID FETCH (RFC 9051 6.4.5, 6.4.9; RFC 3516
 * BINARY; RFC 7162 MODSEQ and CHANGEDSINCE), on fetch.c's builder.
 *
 * The response is written in batches, each a mailbox job (cmd-select.c):
 * a worker builds the responses of the messages one at a time, reading each
 * file by offsets through the descriptor it opened once
 * (mailbox_message_open: a message expunged meanwhile stays readable), a
 * chunk at a time (or, when every item needs only the header section, as
 * ENVELOPE does, that section from the folder's cache:
 * mailbox_message_header, with the ENVELOPE text the cache keeps beside it
 * once a FETCH built it, so that it is not parsed again), until about
 * FETCH_BATCH_BYTES are ready, maybe in the
 * middle of a literal; the loop sends them, and the next batch starts once
 * the client has read them (imap_session_async_written).  So a FETCH holds
 * one batch, a chunk of the file and one message's small items (its MIME
 * tree when an item needs it) in memory, whatever the size of the messages
 * and the client's pace.  A file that cannot be read once its literal has
 * begun ends the connection: the literal's size was sent.
 *
 * A FETCH that reads a message's content without .PEEK sets \Seen first
 * (not under EXAMINE) and reports FLAGS with it (RFC 9051 6.4.5).  A message
 * expunged by another session meanwhile is left out, and the command ends
 * in NO [EXPUNGEISSUED] (RFC 5530 3) after the others.
 */
#include "imap/session.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mailbox/mailbox.h"
#include "util/buf.h"
#include "util/fileio.h"
#include "util/heap.h"
#include "util/log.h"
#include "util/xalloc.h"

#define FETCH_BATCH_BYTES (256u * 1024u)

/* What a FETCH keeps from one batch to the next */
struct fetch_state {
	struct imap_fetch fetch;
	struct imap_seqset set;
	bool uid;
	bool started;          /* RUNS is known */
	struct imap_seq_range *runs;   /* the sequence numbers asked for */
	size_t nruns, run;     /* the ranges, and the one under way */
	uint32_t next;         /* the next sequence number of runs[run] */
	size_t count;          /* the messages asked for */
	bool expunged;         /* a message's file was gone */
	/* the message whose response is being written */
	struct imap_fetch_stream *stream;
	int fd;                /* its file, or -1 */
	struct imap_fetch_source src;
	struct buf header;     /* its header section, when that is all it needs */
	struct buf envelope;   /* its ENVELOPE text, from the cache or built */
	struct imap_fetch_memory header_mem;
	uint32_t stream_uid;
};

struct fetch_job {
	struct imap_mbox_job m;    /* first */
	struct fetch_state *st;
	bool finished;             /* the tagged reply is set */
	bool cut;                  /* a file failed in the middle of its literal */
	int cut_errno;
};

static void fetch_work(struct imap_job *job);
static void fetch_done(struct imap_session *s, struct imap_job *job);
static void fetch_free(struct imap_job *job);
static void fetch_state_free(struct fetch_state **st);
static bool fetch_start(struct fetch_job *j);
static void vanished_append(struct fetch_job *j);
static int fetch_one(struct fetch_job *j, uint32_t seq, char *const *keywords,
		     size_t keyword_count);
static int fetch_file_open(struct fetch_job *j, uint32_t uid, struct mailbox_error *error_r);
static int fetch_header_load(struct fetch_job *j, uint32_t uid, bool utf8,
			     struct mailbox_error *error_r);
static void fetch_file_close(struct fetch_state *st);
static ssize_t fetch_file_read(void *ctx, size_t offset, char *buf, size_t len);

int imap_message_read(struct mailbox_view *view, uint32_t uid, struct buf *out,
		      struct mailbox_error *error_r)
{
	int fd;
	if (mailbox_message_open(view, uid, &fd, error_r) != 0)
		return -1;
	int ret = 0;
	char chunk[65536];
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			error_r->code = MAILBOX_ERROR_TEMPORARY;
			error_r->text = "Cannot read the message";
			error_r->sys_errno = errno;
			ret = -1;
			break;
		}
		if (n == 0)
			break;
		buf_append(out, chunk, (size_t)n);
	}
	if (close(fd) != 0 && ret == 0) {
		error_r->code = MAILBOX_ERROR_TEMPORARY;
		error_r->text = "Cannot read the message";
		error_r->sys_errno = errno;
		ret = -1;
	}
	return ret;
}

/* imap_cmd_fetch - check the set, the items and the modifiers on the loop,
 * then the first batch on a worker */
void imap_cmd_fetch(struct imap_session *s, const struct imap_command *cmd, bool uid)
{
	const char *error;
	struct fetch_state *st = xcalloc(1, sizeof(*st));

	if (cmd->count < 2 || cmd->args[0].type != IMAP_ARG_ATOM ||
	    imap_seqset_parse(cmd->args[0].data, cmd->args[0].len, &st->set, &error) != 0) {
		fetch_state_free(&st);
		imap_reply_bad(s, NULL, "FETCH takes a message set and the items to fetch");
		return;
	}
	if (imap_fetch_parse(cmd->args + 1, cmd->count - 1, &st->fetch, &error) != 0) {
		fetch_state_free(&st);
		imap_reply_bad(s, NULL, "%s", error);
		return;
	}
	if (st->fetch.vanished && (!uid || !(s->enabled & IMAP_ENABLED_QRESYNC) ||
				   !st->fetch.changedsince_set)) {
		/* RFC 7162 3.2.6: UID FETCH only, with CHANGEDSINCE, after
		 * ENABLE QRESYNC */
		fetch_state_free(&st);
		imap_reply_bad(s, NULL, "VANISHED needs UID FETCH, CHANGEDSINCE and QRESYNC");
		return;
	}
	bool modseq_asked = st->fetch.changedsince_set;
	for (size_t i = 0; i < st->fetch.count; i++)
		modseq_asked |= st->fetch.items[i].kind == IMAP_FETCH_MODSEQ;
	/* RFC 7162 3.1: MODSEQ and CHANGEDSINCE are CONDSTORE-enabling */
	if (modseq_asked)
		s->enabled |= IMAP_ENABLED_CONDSTORE;
	st->uid = uid;
	st->fd = -1;
	buf_init(&st->header);
	buf_init(&st->envelope);
	struct fetch_job *j = xcalloc(1, sizeof(*j));
	/* RFC 9051 7.4.1: no EXPUNGE during FETCH by sequence numbers */
	imap_mbox_job_init(s, &j->m, uid, fetch_work, fetch_done, fetch_free);
	j->st = st;
	imap_session_async(s, &j->m.base);
}

static void fetch_state_free(struct fetch_state **st)
{
	if (*st == NULL)
		return;
	fetch_file_close(*st);
	buf_free(&(*st)->header);
	buf_free(&(*st)->envelope);
	imap_fetch_free(&(*st)->fetch);
	imap_seqset_free(&(*st)->set);
	free((*st)->runs);
	free(*st);
	*st = NULL;
}

static void fetch_free(struct imap_job *job)
{
	struct fetch_job *j = (struct fetch_job *)job;
	fetch_state_free(&j->st);
	imap_mbox_job_fields_free(&j->m);
	free(j);
}

/* fetch_start - (worker) the ranges of sequence numbers the set names;
 * false with the reply set when the set is invalid */
static bool fetch_start(struct fetch_job *j)
{
	struct fetch_state *st = j->st;
	struct mailbox_view *view = j->m.view;
	uint32_t count = mailbox_view_count(view);

	imap_mbox_job_seqset_resolve(&j->m, &st->set, st->uid);
	if (!st->uid) {
		/* RFC 9051 9: a number beyond the mailbox is invalid */
		for (size_t r = 0; r < st->set.count; r++) {
			if (st->set.ranges[r].lo == 0 || st->set.ranges[r].hi > count) {
				imap_mbox_job_reply(&j->m, IMAP_BAD, NULL,
						    "Invalid message sequence number");
				return false;
			}
		}
	}
	st->runs = imap_mbox_job_seq_runs(&j->m, &st->set, st->uid, &st->nruns, &st->count);
	st->next = st->nruns > 0 ? st->runs[0].lo : 0;
	st->started = true;
	if (st->fetch.vanished)
		vanished_append(j);
	return true;
}

/* vanished_append - (worker) "* VANISHED (EARLIER) uids" for the UIDs of
 * the set below UIDNEXT that the mailbox no longer has (RFC 7162 3.2.6),
 * before the FETCHes; the set is normalized (sorted) */
static void vanished_append(struct fetch_job *j)
{
	struct mailbox_status status;
	mailbox_view_status(j->m.view, &status);
	imap_vanished_append(j->m.view, j->st->set.ranges, j->st->set.count,
			     status.uidnext ? status.uidnext - 1 : 0, &j->m.out);
}

/* fetch_next_seq - the next sequence number asked for (one is left) */
static uint32_t fetch_next_seq(struct fetch_state *st)
{
	uint32_t seq = st->next;
	if (seq < st->runs[st->run].hi)
		st->next = seq + 1;
	else if (++st->run < st->nruns)
		st->next = st->runs[st->run].lo;
	return seq;
}

/* fetch_one - (worker) the response for message SEQ into the job's OUT;
 * 0, or -1 with the reply set (the command ends) */
static int fetch_one(struct fetch_job *j, uint32_t seq, char *const *keywords,
		     size_t keyword_count)
{
	struct fetch_state *st = j->st;
	struct mailbox_view *view = j->m.view;
	struct mailbox_message msg;
	struct mailbox_error error;
	const char *text;

	if (mailbox_view_message(view, seq, &msg) != 0)
		return 0;
	/* RFC 7162 3.1.4.1: only what changed since */
	if (st->fetch.changedsince_set && msg.modseq <= st->fetch.changedsince)
		return 0;
	struct imap_fetch_context ctx = {
		.utf8 = (j->m.enabled & IMAP_ENABLED_UTF8_NAMES) != 0,
		.recent = !(j->m.enabled & IMAP_ENABLED_REV2),
		.uid = st->uid,
		.modseq = st->fetch.changedsince_set,
		.keywords = keywords,
		.keyword_count = keyword_count,
	};
	if (msg.expunged) {
		st->expunged = true;
		return 0;
	}
	if (imap_fetch_sets_seen(&st->fetch) && !j->m.read_only &&
	    !(msg.flags & MAILBOX_FLAG_SEEN)) {
		struct mailbox_store_result result;
		if (mailbox_store_flags(view, &msg.uid, 1, MAILBOX_STORE_ADD, MAILBOX_FLAG_SEEN, 0, 0,
					&result, &error) != 0) {
			imap_mbox_job_error(&j->m, "fetch", &error, false);
			return -1;
		}
		mailbox_store_result_free(&result);
		if (mailbox_view_message(view, seq, &msg) != 0)
			return 0;
		ctx.flags = true;
		/* RFC 7162 3.1.4.1: a flag change comes with its MODSEQ once
		 * CONDSTORE is on */
		ctx.modseq |= (j->m.enabled & (IMAP_ENABLED_CONDSTORE | IMAP_ENABLED_QRESYNC)) != 0;
	}
	st->src = (struct imap_fetch_source){ .size = 0, .read = fetch_file_read, .ctx = st };
	if (imap_fetch_needs_file(&st->fetch) &&
	    (imap_fetch_header_only(&st->fetch) ? fetch_header_load(j, msg.uid, ctx.utf8, &error)
						 : fetch_file_open(j, msg.uid, &error)) != 0) {
		if (error.code == MAILBOX_ERROR_EXPUNGED) {
			st->expunged = true;
			return 0;
		}
		imap_mbox_job_error(&j->m, "fetch", &error, false);
		return -1;
	}
	if (imap_fetch_message_start(&st->fetch, &ctx, seq, &msg, &st->src, &st->stream,
				     &text) != 0) {
		/* "[UNKNOWN-CTE] ..." (RFC 3516 4.3), "[UNAVAILABLE] ..." */
		const char *close = strchr(text, ']');
		char code[64];
		if (strncmp(text, "[UNAVAILABLE]", 13) == 0)
			log_warn("fetch-read-failed", "account=%s uid=%u error=\"%s\"",
				 j->m.account, msg.uid, strerror(errno));
		snprintf(code, sizeof(code), "%.*s", close ? (int)(close - text - 1) : 0, text + 1);
		imap_mbox_job_reply(&j->m, IMAP_NO, code, "%s", close ? close + 2 : text);
		fetch_file_close(st);
		return -1;
	}
	st->stream_uid = msg.uid;
	/* an ENVELOPE built from the header section: kept beside it */
	if (st->src.envelope_built != NULL && st->envelope.len > 0)
		mailbox_message_envelope_put(j->m.view, msg.uid, st->header.data, st->header.len,
					     st->envelope.data, st->envelope.len);
	return 0;
}

/* fetch_file_open - (worker) the file of message UID, opened once for the
 * whole response; its size is the descriptor's */
static int fetch_file_open(struct fetch_job *j, uint32_t uid, struct mailbox_error *error_r)
{
	struct fetch_state *st = j->st;
	struct stat sb;
	if (mailbox_message_open(j->m.view, uid, &st->fd, error_r) != 0)
		return -1;
	if (fstat(st->fd, &sb) != 0) {
		*error_r = (struct mailbox_error){ MAILBOX_ERROR_TEMPORARY,
						   "Cannot read the message", errno };
		fetch_file_close(st);
		return -1;
	}
	st->src.size = (size_t)sb.st_size;
	return 0;
}

/* fetch_header_load - (worker) the ENVELOPE text petrel.cache keeps for
 * message UID (only the form without UTF8=ACCEPT is kept), else its header
 * section (the cache's, else its file's) as the source, with a buffer for
 * the ENVELOPE the response builds */
static int fetch_header_load(struct fetch_job *j, uint32_t uid, bool utf8,
			     struct mailbox_error *error_r)
{
	struct fetch_state *st = j->st;
	buf_reset(&st->header);
	buf_reset(&st->envelope);
	int kept = utf8 ? 0 : mailbox_message_envelope(j->m.view, uid, &st->envelope, error_r);
	if (kept < 0 ||
	    (kept == 0 && mailbox_message_header(j->m.view, uid, &st->header, NULL, error_r) != 0))
		return -1;
	imap_fetch_source_memory(&st->src, &st->header_mem, st->header.data, st->header.len);
	if (utf8)
		return 0;
	if (st->envelope.len > 0) {
		st->src.envelope = st->envelope.data;
		st->src.envelope_len = st->envelope.len;
	} else {
		st->src.envelope_built = &st->envelope;
	}
	return 0;
}

/* fetch_file_close - the message written: its stream and file go */
static void fetch_file_close(struct fetch_state *st)
{
	imap_fetch_stream_free(&st->stream);
	if (st->fd >= 0 && close(st->fd) != 0)
		log_warn("close-failed", "what=message error=\"%s\"", strerror(errno));
	st->fd = -1;
}

/* fetch_file_read - (worker) the source's read */
static ssize_t fetch_file_read(void *ctx, size_t offset, char *buf, size_t len)
{
	struct fetch_state *st = ctx;
	return fd_pread_full(st->fd, buf, len, (off_t)offset);
}

/* fetch_work - (worker) one batch: messages until about FETCH_BATCH_BYTES
 * of responses are ready, or the last, whose job sets the tagged reply */
static void fetch_work(struct imap_job *job)
{
	struct fetch_job *j = (struct fetch_job *)job;
	struct fetch_state *st = j->st;
	size_t keyword_count = 0;
	char **keywords = NULL;

	if (!st->started && !fetch_start(j)) {
		j->finished = true;
		goto out;
	}
	keywords = mailbox_keywords_get(mailbox_view_mailbox(j->m.view), &keyword_count);
	while (j->m.out.len < FETCH_BATCH_BYTES) {
		if (st->stream != NULL) {
			const char *error;
			int r = imap_fetch_stream_next(st->stream, &st->src, &j->m.out,
						       FETCH_BATCH_BYTES - j->m.out.len, &error);
			if (r < 0) {
				j->cut = true;
				j->cut_errno = errno;
				goto out;
			}
			if (r == 1)
				fetch_file_close(st);
			continue;
		}
		if (st->run == st->nruns)
			break;
		if (fetch_one(j, fetch_next_seq(st), keywords, keyword_count) != 0) {
			j->finished = true;
			goto out;
		}
	}
	if (st->stream != NULL || st->run < st->nruns)
		goto out;
	j->finished = true;
	if (st->expunged)
		imap_mbox_job_reply(&j->m, IMAP_NO, "EXPUNGEISSUED",
				    "Some of the messages were expunged");
	else
		imap_mbox_job_reply(&j->m, IMAP_OK, NULL, "%sFETCH completed", st->uid ? "UID " : "");
out:
	for (size_t i = 0; i < keyword_count; i++)
		free(keywords[i]);
	free(keywords);
	if (j->finished) {
		imap_mbox_job_updates(&j->m);
		/* what the batches freed goes back */
		(void)heap_trim_after(st->count);
	}
}

/* fetch_done - (loop) the last batch ends the command; another one is sent
 * and the next starts once the client has read it */
static void fetch_done(struct imap_session *s, struct imap_job *job)
{
	struct fetch_job *j = (struct fetch_job *)job;
	if (j->cut) {
		/* the literal under way cannot be completed */
		log_warn("fetch-read-failed", "session=%s uid=%u error=\"%s\"", s->sid,
			 j->st->stream_uid, strerror(j->cut_errno));
		imap_reply_buf(s, &j->m.out);
		imap_session_close(s);
		return;
	}
	if (j->finished) {
		imap_mbox_job_done(s, job);
		return;
	}
	/* this batch out, the next one once the client has read it */
	imap_reply_buf(s, &j->m.out);
	struct fetch_job *next = xcalloc(1, sizeof(*next));
	imap_mbox_job_init(s, &next->m, j->m.expunges, fetch_work, fetch_done, fetch_free);
	next->m.enabled = j->m.enabled;
	next->st = j->st;
	j->st = NULL;
	imap_session_async_written(s, &next->m.base);
}
