/* imap/cmd-search - SEARCH and UID SEARCH (RFC 9051 6.4.4, 6.4.9) with
 * RFC 4731's RETURN options (ESEARCH) and RFC 7162's MODSEQ key, on
 * search.c's evaluator.  A mailbox job (cmd-select.c): the worker walks the
 * view, reading a message's file only when a key looks into it, one message
 * at a time.
 *
 * Charsets: US-ASCII and UTF-8 (RFC 9051 6.4.4 requires both); another is
 * NO [BADCHARSET (US-ASCII UTF-8)].  The answer is "* SEARCH" unless the
 * client gave RETURN or enabled IMAP4rev2 (RFC 9051 7.3.4: ESEARCH then,
 * ALL when RETURN is absent).  SEARCHRES (RFC 5182): RETURN (SAVE) keeps
 * the result in the session as UIDs for "$", which a later command's
 * sequence set (imap_mbox_job_seqset_resolve) or a SEARCH key names.
 */
#include "imap/session.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "mailbox/mailbox.h"
#include "util/buf.h"
#include "util/heap.h"
#include "util/xalloc.h"

struct search_job {
	struct imap_mbox_job m;    /* first */
	struct imap_search search;
	char **strings;            /* the keys' values and fields, copied */
	size_t string_count;
	char *tag;
	bool uid;
	bool esearch;
	uint32_t *saved;           /* RETURN (SAVE): the UIDs to keep */
	size_t saved_count;
};

static void search_work(struct imap_job *job);
static void search_done(struct imap_session *s, struct imap_job *job);
static void search_free(struct imap_job *job);
static void key_saved_resolve(struct search_job *j, struct imap_search_key *key);
static void search_save(struct search_job *j, const uint32_t *uids, size_t n);
static void key_strings_copy(struct search_job *j, struct imap_search_key *key);

/* key_strings_copy - the values and field names under KEY, which point
 * into the command (valid only while its handler runs), copied into J */
static void key_strings_copy(struct search_job *j, struct imap_search_key *key)
{
	if (key->value != NULL) {
		char *copy = xmalloc(key->value_len + 1);
		memcpy(copy, key->value, key->value_len);
		copy[key->value_len] = '\0';
		key->value = copy;
		j->strings = xrealloc(j->strings, (j->string_count + 1) * sizeof(*j->strings));
		j->strings[j->string_count++] = copy;
	}
	if (key->field != NULL) {
		char *copy = xstrdup(key->field);
		key->field = copy;
		j->strings = xrealloc(j->strings, (j->string_count + 1) * sizeof(*j->strings));
		j->strings[j->string_count++] = copy;
	}
	for (size_t i = 0; i < key->count; i++)
		key_strings_copy(j, &key->children[i]);
}

/* key_saved_resolve - (worker) every "$" under KEY made the saved result's
 * sequence numbers (or UIDs under UID), RFC 5182 2.1 */
static void key_saved_resolve(struct search_job *j, struct imap_search_key *key)
{
	if ((key->kind == IMAP_SEARCH_SEQSET || key->kind == IMAP_SEARCH_UID) && key->set.saved)
		imap_mbox_job_seqset_resolve(&j->m, &key->set, key->kind == IMAP_SEARCH_UID);
	for (size_t i = 0; i < key->count; i++)
		key_saved_resolve(j, &key->children[i]);
}

/* imap_cmd_search - the criteria parsed and checked on the loop (charset,
 * SEARCHRES); the walk over the folder runs on a worker */
void imap_cmd_search(struct imap_session *s, const struct imap_command *cmd, bool uid)
{
	const char *error;
	struct imap_search search;

	if (imap_search_parse(cmd->args, cmd->count, &search, &error) != 0) {
		imap_reply_bad(s, NULL, "%s", error);
		return;
	}
	if (search.charset != NULL && strcasecmp(search.charset, "UTF-8") != 0 &&
	    strcasecmp(search.charset, "US-ASCII") != 0) {
		/* RFC 5182 2.1: a SEARCH ... SAVE that fails (NO) saves nothing */
		if (search.return_options & IMAP_SEARCH_RETURN_SAVE)
			imap_session_saved_reset(s);
		imap_search_free(&search);
		imap_reply_no(s, "BADCHARSET (US-ASCII UTF-8)", "Unsupported charset");
		return;
	}
	if (imap_search_has_modseq(&search.root))   /* RFC 7162 3.1: CONDSTORE-enabling */
		s->enabled |= IMAP_ENABLED_CONDSTORE;
	struct search_job *j = xcalloc(1, sizeof(*j));
	/* RFC 9051 7.4.1: no EXPUNGE during SEARCH by sequence numbers */
	imap_mbox_job_init(s, &j->m, uid, search_work, search_done, search_free);
	j->search = search;
	j->search.charset = NULL;
	key_strings_copy(j, &j->search.root);
	j->uid = uid;
	j->esearch = search.return_given || (s->enabled & IMAP_ENABLED_REV2);
	j->tag = xstrdup(s->tag ? s->tag : "*");
	imap_session_async(s, &j->m.base);
}

static void search_free(struct imap_job *job)
{
	struct search_job *j = (struct search_job *)job;
	imap_search_free(&j->search);
	for (size_t i = 0; i < j->string_count; i++)
		free(j->strings[i]);
	free(j->strings);
	free(j->tag);
	free(j->saved);
	imap_mbox_job_fields_free(&j->m);
	free(j);
}

/* search_done - (loop) the saved result replaced (emptied by a failure,
 * RFC 5182 2.1), then the answer */
static void search_done(struct imap_session *s, struct imap_job *job)
{
	struct search_job *j = (struct search_job *)job;
	if (j->search.return_options & IMAP_SEARCH_RETURN_SAVE) {
		imap_session_saved_reset(s);
		if (j->m.status == IMAP_OK) {
			s->saved_uids = j->saved;
			s->saved_count = j->saved_count;
			j->saved = NULL;
		}
	}
	imap_mbox_job_done(s, job);
}

/* search_save - (worker) what RETURN (SAVE) keeps of the matches' UIDS
 * (ascending): with MIN and/or MAX but neither ALL nor COUNT only those
 * (RFC 5182 2.4), else all of them */
static void search_save(struct search_job *j, const uint32_t *uids, size_t n)
{
	unsigned options = j->search.return_options;
	j->saved = xcalloc(n ? n : 1, sizeof(*j->saved));
	if (n == 0 || (options & (IMAP_SEARCH_RETURN_ALL | IMAP_SEARCH_RETURN_COUNT)) ||
	    !(options & (IMAP_SEARCH_RETURN_MIN | IMAP_SEARCH_RETURN_MAX))) {
		memcpy(j->saved, uids, n * sizeof(*uids));
		j->saved_count = n;
		return;
	}
	if (options & IMAP_SEARCH_RETURN_MIN)
		j->saved[j->saved_count++] = uids[0];
	if ((options & IMAP_SEARCH_RETURN_MAX) && (j->saved_count == 0 || n > 1))
		j->saved[j->saved_count++] = uids[n - 1];
}

/* search_work - (worker) every message of the view against the criteria,
 * its file read only when a key needs it; the SEARCH or ESEARCH answer */
static void search_work(struct imap_job *job)
{
	struct search_job *j = (struct search_job *)job;
	struct mailbox_view *view = j->m.view;
	uint32_t count = mailbox_view_count(view);
	uint32_t *results = xcalloc(count ? count : 1, sizeof(*results));
	unsigned options = j->search.return_given ? j->search.return_options : IMAP_SEARCH_RETURN_ALL;
	/* RETURN (SAVE): the matches' UIDs, whatever the answer numbers */
	uint32_t *uids = options & IMAP_SEARCH_RETURN_SAVE ? xcalloc(count ? count : 1, sizeof(*uids))
							    : NULL;
	size_t n = 0, keyword_count = 0;
	uint64_t modseq = 0;
	bool needs_file = imap_search_needs_file(&j->search.root);
	bool needs_body = imap_search_needs_body(&j->search.root);
	bool has_modseq = imap_search_has_modseq(&j->search.root);
	char **keywords = mailbox_keywords_get(mailbox_view_mailbox(view), &keyword_count);
	struct buf data;
	time_t now = time(NULL);

	buf_init(&data);
	key_saved_resolve(j, &j->search.root);
	imap_search_resolve(&j->search.root, count, count ? mailbox_view_uid(view, count) : 0);
	for (uint32_t seq = 1; seq <= count; seq++) {
		struct mailbox_message msg;
		struct mailbox_error error;
		if (mailbox_view_message(view, seq, &msg) != 0 || msg.expunged)
			continue;
		buf_reset(&data);
		if (needs_file && (needs_body ? imap_message_read(view, msg.uid, &data, &error)
					      : mailbox_message_header(view, msg.uid, &data, NULL, &error)) != 0) {
			if (error.code == MAILBOX_ERROR_EXPUNGED)
				continue;
			imap_mbox_job_error(&j->m, "search", &error, false);
			goto out;
		}
		struct imap_search_message m = {
			.seq = seq, .record = &msg, .data = needs_file ? (data.data ? data.data : "") : NULL,
			.len = data.len, .keywords = keywords, .keyword_count = keyword_count,
			.now = now,
		};
		if (!imap_search_match(&j->search.root, &m))
			continue;
		if (uids)
			uids[n] = msg.uid;
		results[n++] = j->uid ? msg.uid : seq;
		if (msg.modseq > modseq)
			modseq = msg.modseq;
	}
	if (!has_modseq)
		modseq = 0;
	if (uids)
		search_save(j, uids, n);
	if (!j->esearch) {
		imap_search_response_append(&j->m.out, results, n, modseq);
	} else if (options != IMAP_SEARCH_RETURN_SAVE) {
		/* RFC 5182 2.4: SAVE alone answers with no ESEARCH */
		imap_esearch_response_append(&j->m.out, j->tag, j->uid, options, results, n, modseq);
	}
	imap_mbox_job_reply(&j->m, IMAP_OK, NULL, "%sSEARCH completed", j->uid ? "UID " : "");
out:
	for (size_t i = 0; i < keyword_count; i++)
		free(keywords[i]);
	free(keywords);
	buf_free(&data);
	free(results);
	free(uids);
	imap_mbox_job_updates(&j->m);
	/* what reading the messages freed goes back */
	(void)heap_trim_after(needs_file ? count : 0);
}
