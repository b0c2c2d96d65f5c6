/* imap - the IMAP server (RFC 9051, RFC 3501 and the extensions issue 10
 * lists; docs/imap.md).  Its parsers of client input are in imap/parse.h;
 * this header gathers the rest of the module's interface: the server
 * (server.c; sessions in session.c, commands in cmd-*.c, all internal
 * through imap/session.h) and the response data built from messages
 * (format.c), with no I/O.
 */
#ifndef PETREL_IMAP_IMAP_H
#define PETREL_IMAP_IMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>

#include <openssl/ssl.h>

struct authd_client;
struct buf;
struct config;
struct config_listener;
struct event_base;
struct imap_arg;
struct imap_fetch;
struct imap_search_key;
struct imap_server;
struct mailbox_folder;
struct mailbox_message;
struct mailbox_status;
struct net_conn_limits;
struct policy_throttle;
struct pool;
struct store;
struct message_headers;
struct message_part;

/* ---- the server (server.c); everything runs on the loop thread ---------- */

/* struct imap_server_settings - what the server uses and the caller keeps
 * alive until imap_server_free.  TLS NULL: no STARTTLS, and imaps listeners
 * cannot be used (config/ refuses them).  LIMITS and THROTTLE are the SMTP
 * server's, so that connections and AUTH failures count once for both. */
struct imap_server_settings {
	const struct config *config;
	SSL_CTX *tls;
	struct store *store;
	struct pool *pool;
	struct authd_client *auth;   /* logins (authd/client.h); NULL: none */
	struct net_conn_limits *limits;
	struct policy_throttle *throttle;
};
struct imap_server *imap_server_create(struct event_base *base,
				       const struct imap_server_settings *settings);
/* imap_server_accept - a net_accept_fn for listeners of role imap and
 * imaps: CTX is the imap_server; owns FD */
void imap_server_accept(void *ctx, const struct config_listener *listener, int fd,
			const struct sockaddr *sa, socklen_t salen);
size_t imap_server_session_count(const struct imap_server *server);
/* imap_server_session_stats - TLS handshakes and AUTH failures since the
 * start (net.h) */
struct net_session_stats;
const struct net_session_stats *imap_server_session_stats(const struct imap_server *server);
/* imap_server_drain - shutdown: every session gets "* BYE" and an orderly
 * close once its running command is done; DRAINED(CTX) runs from the loop
 * once no session is left.  No new session may start afterwards. */
void imap_server_drain(struct imap_server *server, void (*drained)(void *ctx), void *ctx);
/* imap_server_close_sessions - "* BYE" (best effort) and close every
 * session now; a session whose pool job runs is freed when the job ends */
void imap_server_close_sessions(struct imap_server *server);
/* imap_server_free - after pool_free (jobs of closed sessions are done) */
void imap_server_free(struct imap_server **server);

/* ---- response data (format.c) -------------------------------------------- */

/* imap_string_append - S[0..LEN) as an IMAP string: quoted when it has no
 * CR, LF or NUL, is at most 1024 octets and (unless UTF8: the client
 * enabled UTF8=ACCEPT or IMAP4rev2, RFC 6855 3) is ASCII (else valid
 * UTF-8); else a literal */
void imap_string_append(struct buf *out, const char *s, size_t len, bool utf8);
/* imap_nstring_append - the C string S as above, or NIL when S is NULL */
void imap_nstring_append(struct buf *out, const char *s, bool utf8);

/* imap_envelope_append - the ENVELOPE of a message whose header section is
 * HEADERS (RFC 9051 7.5.2): date, subject, from, sender, reply-to, to, cc,
 * bcc, in-reply-to, message-id; each address list NIL when absent or not
 * parsable; sender and reply-to are from's when absent (RFC 3501 7.4.2) */
void imap_envelope_append(struct buf *out, const struct message_headers *headers, bool utf8);

/* imap_bodystructure_append - BODY (EXTENDED false) or BODYSTRUCTURE
 * (EXTENDED: with the extension data) of the MIME tree ROOT (message/'s
 * structure parser) */
void imap_bodystructure_append(struct buf *out, const struct message_part *root, bool extended,
			       bool utf8);

/* ---- mailbox commands' data (folder.c): names, LIST, STATUS, flags ---------- */

/* imap_mailbox_name_decode - a mailbox name argument (an astring) as the
 * UTF-8, "/"-separated name mailbox.h takes: modified UTF-7 decoded unless
 * UTF8 (RFC 6855 3; then it must be valid UTF-8), a first level "inbox" in
 * any case made "INBOX".  -1 when it is no such name (*NAME_R NULL); whether
 * it is a safe folder name is mailbox/'s to say.  Caller frees *NAME_R. */
int imap_mailbox_name_decode(const struct imap_arg *arg, bool utf8, char **name_r);
/* imap_mailbox_name_append - NAME as a mailbox in a response: modified
 * UTF-7 unless UTF8, quoted or a literal (imap_string_append) */
void imap_mailbox_name_append(struct buf *out, const char *name, bool utf8);

/* imap_list_match - NAME (UTF-8) matches LIST PATTERN: "*" anything, "%"
 * anything but "/" (RFC 3501 6.3.8), INBOX's letters in any case; time
 * O(strlen(PATTERN) * strlen(NAME)) */
bool imap_list_match(const char *pattern, const char *name);

#define IMAP_LIST_SELECT_SUBSCRIBED     0x1u   /* RFC 5258 3.1 */
#define IMAP_LIST_SELECT_REMOTE         0x2u   /* accepted; no remote mailboxes */
#define IMAP_LIST_SELECT_RECURSIVEMATCH 0x4u
#define IMAP_LIST_SELECT_SPECIAL_USE    0x8u   /* RFC 6154 3 */
#define IMAP_LIST_RETURN_SUBSCRIBED     0x1u   /* RFC 5258 3.2 */
#define IMAP_LIST_RETURN_CHILDREN       0x2u
#define IMAP_LIST_RETURN_SPECIAL_USE    0x4u   /* RFC 6154 */
#define IMAP_LIST_RETURN_STATUS         0x8u   /* RFC 5819 */

/* A LIST or LSUB command's arguments */
struct imap_list {
	bool lsub;
	bool extended;          /* options or several patterns: RFC 5258's rules */
	unsigned select;        /* IMAP_LIST_SELECT_* */
	unsigned ret;           /* IMAP_LIST_RETURN_* (SUBSCRIBED selection implies it) */
	unsigned status_items;  /* RETURN (STATUS (...)): IMAP_STATUS_* */
	char **patterns;        /* reference + pattern each, UTF-8, "" for the root */
	size_t pattern_count;
};

/* imap_list_parse - LIST's arguments (RFC 5258 2: [(selection)] reference
 * pattern-or-(patterns) [RETURN (options)]) or LSUB's (LSUB: reference
 * pattern).  0, or -1 and *ERROR_R for a BAD.  Free with imap_list_free. */
int imap_list_parse(const struct imap_arg *args, size_t count, bool lsub, bool utf8,
		    struct imap_list *list_r, const char **error_r);
void imap_list_free(struct imap_list *list);
/* imap_list_wants_root - plain LIST with the pattern "" (RFC 3501 6.3.8):
 * the answer is only the delimiter line, (\Noselect) "/" "" */
bool imap_list_wants_root(const struct imap_list *list);

/* One line of a LIST answer */
struct imap_list_entry {
	const struct mailbox_folder *folder;
	bool selected;          /* meets the selection itself (else only a parent
				   of folders that do: CHILDINFO, or LSUB's \Noselect) */
	bool childinfo;         /* RFC 5258 3.5 CHILDINFO ("SUBSCRIBED") */
};
/* imap_list_select - the folders of FOLDERS (mailbox_folder_list's) that
 * LIST answers with, in order; *ENTRIES_R points into FOLDERS (free the
 * array only).  Returns their count. */
size_t imap_list_select(const struct imap_list *list, const struct mailbox_folder *folders,
			size_t count, struct imap_list_entry **entries_r);
/* imap_list_entry_append - ENTRY's "* LIST (attributes) "/" name ..." line:
 * \Noselect or \NonExistent, \HasChildren / \HasNoChildren, \Subscribed
 * when asked, the special uses (RFC 6154 2) */
void imap_list_entry_append(struct buf *out, const struct imap_list *list,
			    const struct imap_list_entry *entry, bool utf8);
/* imap_list_entry_wants_status - a STATUS line follows ENTRY's (RFC 5819 2) */
bool imap_list_entry_wants_status(const struct imap_list *list,
				  const struct imap_list_entry *entry);
/* imap_special_use_parse - CREATE's USE (list of attributes, RFC 6154 3)
 * as MAILBOX_FOLDER_* bits; -1 and *ERROR_R for an unknown attribute */
int imap_special_use_parse(const struct imap_arg *arg, unsigned *attrs_r, const char **error_r);

#define IMAP_STATUS_MESSAGES      0x01u
#define IMAP_STATUS_UIDNEXT       0x02u
#define IMAP_STATUS_UIDVALIDITY   0x04u
#define IMAP_STATUS_UNSEEN        0x08u
#define IMAP_STATUS_DELETED       0x10u   /* RFC 9051 */
#define IMAP_STATUS_SIZE          0x20u   /* RFC 8438 */
#define IMAP_STATUS_HIGHESTMODSEQ 0x40u   /* RFC 7162 3.1.6 */
#define IMAP_STATUS_RECENT        0x80u   /* RFC 3501 */
/* imap_status_items_parse - a STATUS item list (RFC 9051 6.3.11); 0, or -1
 * and *ERROR_R */
int imap_status_items_parse(const struct imap_arg *arg, unsigned *items_r, const char **error_r);
/* imap_status_append - "* STATUS name (item value ...)" for ITEMS */
void imap_status_append(struct buf *out, const char *name, unsigned items,
			const struct mailbox_status *status, bool utf8);

/* imap_flag_list_parse - a flag list (or one flag) of APPEND or STORE:
 * system flags ($Forwarded among them, mailbox.h) into *FLAGS_R, the
 * keywords' arguments into *KEYWORDS_R (an array to free; the arguments
 * stay the command's).  \Recent and other "\" words are refused (RFC 9051
 * 2.3.2): -1 and *ERROR_R. */
int imap_flag_list_parse(const struct imap_arg *arg, uint32_t *flags_r,
			 const struct imap_arg ***keywords_r, size_t *keyword_count_r,
			 const char **error_r);
/* imap_flags_append - "(\Seen kw ...)": FLAGS (mailbox.h bits), \Recent
 * when RECENT, and the keywords whose bits are set in KEYWORDS, named by
 * KEYWORD_NAMES[0..KEYWORD_COUNT) (mailbox_keywords_get) */
void imap_flags_append(struct buf *out, uint32_t flags, uint64_t keywords,
		       char *const *keyword_names, size_t keyword_count, bool recent);

/* imap_uidset_append - UIDS[0..N), ascending, as a sequence set with ranges
 * ("1:3,7"; VANISHED, COPYUID): consecutive numbers become one range */
void imap_uidset_append(struct buf *out, const uint32_t *uids, size_t n);

/* ---- FETCH of one message (fetch.c) ---------------------------------------- */

/* imap_date_time_append - RFC 9051 9 date-time of T, quoted, in UTC
 * ("05-Dec-2026 12:30:00 +0000") */
void imap_date_time_append(struct buf *out, time_t t);

/* What the session adds to what a FETCH asked for, and knows of the folder */
struct imap_fetch_context {
	bool utf8;              /* UTF8=ACCEPT or IMAP4rev2 enabled (RFC 6855 3) */
	bool recent;            /* report \Recent (an IMAP4rev1 session) */
	bool uid;               /* UID FETCH or STORE: UID always (RFC 9051 6.4.9) */
	bool flags;             /* \Seen was just set: FLAGS always (RFC 9051 6.4.5) */
	bool modseq;            /* CONDSTORE enabled and CHANGEDSINCE or a STORE:
				   MODSEQ always (RFC 7162 3.1.4.1) */
	char *const *keywords;  /* the folder's keyword names, by number */
	size_t keyword_count;
};

/* imap_fetch_needs_file - FETCH asks for something the message file holds
 * (not only FLAGS, UID, INTERNALDATE, RFC822.SIZE, MODSEQ) */
bool imap_fetch_needs_file(const struct imap_fetch *fetch);
/* imap_fetch_header_only - every item that needs the file needs only its
 * header section (ENVELOPE): a source of those bytes alone
 * (mailbox_message_header) gives the same response */
bool imap_fetch_header_only(const struct imap_fetch *fetch);
/* imap_fetch_sets_seen - FETCH has an item that sets \Seen (BODY[...],
 * BINARY[...], RFC822, RFC822.TEXT: RFC 9051 6.4.5, RFC 3516 4.1) */
bool imap_fetch_sets_seen(const struct imap_fetch *fetch);

/* A message file as FETCH reads it: SIZE octets; READ(CTX, OFFSET, BUF,
 * LEN) puts the LEN octets at OFFSET into BUF and returns how many it read
 * (fewer only at the end of the file), or -1 (errno set).  ENVELOPE, when
 * not NULL, is the message's ENVELOPE text already made (petrel.cache's,
 * for the context's utf8), answered as it is; else, when ENVELOPE_BUILT is
 * not NULL, the text the response gets is appended to it too */
struct imap_fetch_source {
	size_t size;
	ssize_t (*read)(void *ctx, size_t offset, char *buf, size_t len);
	void *ctx;
	const char *envelope;
	size_t envelope_len;
	struct buf *envelope_built;
};

/* imap_fetch_source_memory - *SRC_R reads the LEN octets at DATA (DATA
 * NULL: none), through *MEM, which must outlive it (tests, fuzzing,
 * imap_fetch_message_append) */
struct imap_fetch_memory {
	const char *data;
	size_t len;
};
void imap_fetch_source_memory(struct imap_fetch_source *src_r, struct imap_fetch_memory *mem,
			      const char *data, size_t len);

/* The untagged response of one message, built and being written */
struct imap_fetch_stream;

/* imap_fetch_message_start - the untagged response "* SEQ FETCH (...)"
 * CRLF for message MSG (its index record) whose file SRC is (read only
 * when imap_fetch_needs_file says it is needed), the items of FETCH in
 * their order, then what CTX adds.  Section data goes as literals, BINARY
 * data with a NUL in it as literal8 (RFC 3516 4.3); a part that does not
 * exist is NIL.  What this builds is small: the items but their literals'
 * data, which imap_fetch_stream_next reads from SRC as it writes them; the
 * MIME tree (when an item needs it) and BINARY's decoded sizes come from
 * reading SRC a chunk at a time, and are not kept.  0 and *STREAM_R (free
 * with imap_fetch_stream_free), or -1 and *ERROR_R (text for "tag NO ...",
 * response code included): "[UNKNOWN-CTE] ..." when a BINARY item names a
 * part whose Content-Transfer-Encoding is unknown (RFC 3516 4.3),
 * "[UNAVAILABLE] ..." when SRC failed. */
int imap_fetch_message_start(const struct imap_fetch *fetch,
			     const struct imap_fetch_context *ctx, uint32_t seq,
			     const struct mailbox_message *msg, const struct imap_fetch_source *src,
			     struct imap_fetch_stream **stream_r, const char **error_r);
/* imap_fetch_stream_next - the next part of the response appended to OUT:
 * at least MAX octets unless the end comes first (a chunk of the file
 * more at most, and the literal headers).  1 when the response is all
 * written, 0 when more is to come, -1 and *ERROR_R when SRC failed or
 * changed (the response is then cut: the connection cannot go on). */
int imap_fetch_stream_next(struct imap_fetch_stream *stream, const struct imap_fetch_source *src,
			   struct buf *out, size_t max, const char **error_r);
void imap_fetch_stream_free(struct imap_fetch_stream **stream);

/* imap_fetch_message_append - the response as imap_fetch_message_start
 * makes it, for a file whose bytes are DATA[0..LEN) (NULL when not needed),
 * appended whole to OUT; -1 and *ERROR_R as there, OUT as it was.  For
 * tests and fuzzing. */
int imap_fetch_message_append(struct buf *out, const struct imap_fetch *fetch,
			      const struct imap_fetch_context *ctx, uint32_t seq,
			      const struct mailbox_message *msg, const char *data, size_t len,
			      const char **error_r);

/* ---- SEARCH (search.c) ------------------------------------------------------ */

/* One message as SEARCH sees it */
struct imap_search_message {
	uint32_t seq;
	const struct mailbox_message *record;
	const char *data;       /* the file's bytes (its header section only is
				   enough unless imap_search_needs_body); NULL
				   when imap_search_needs_file said none are needed */
	size_t len;
	char *const *keywords;  /* the folder's keyword names, by number */
	size_t keyword_count;
	time_t now;             /* for OLDER and YOUNGER (RFC 5032) */
};

/* imap_search_resolve - give "*" its value in every set of the tree under
 * KEY: MAX_SEQ for sequence numbers, MAX_UID (the highest UID in the
 * folder) for UID sets (RFC 9051 6.4.4, 9 seq-number), and normalize them
 * (imap_seqset_normalize) */
void imap_search_resolve(struct imap_search_key *key, uint32_t max_seq, uint32_t max_uid);
/* imap_search_needs_file - a key of the tree looks into the message (its
 * header or body) */
bool imap_search_needs_file(const struct imap_search_key *key);
/* imap_search_needs_body - a key of the tree looks beyond the message's
 * header section (BODY, TEXT): without one, the header section is all
 * imap_search_match reads (mailbox_message_header) */
bool imap_search_needs_body(const struct imap_search_key *key);
/* imap_search_has_modseq - a MODSEQ key is in the tree: the result carries
 * the highest MODSEQ of the messages found (RFC 7162 3.1.5) */
bool imap_search_has_modseq(const struct imap_search_key *key);
/* imap_search_match - MSG matches KEY (resolved).  Strings match as
 * substrings, case-insensitively (ASCII, Latin, Greek and Cyrillic letters
 * folded), in UTF-8: header fields decoded (RFC 2047 encoded words), and
 * the text parts of the body decoded (transfer encoding, then charset).
 * Dates compare days: the internal date's in UTC, the Date: field's as
 * written (RFC 9051 6.4.4: time and time zone disregarded). */
bool imap_search_match(const struct imap_search_key *key, const struct imap_search_message *msg);

/* imap_search_response_append - "* SEARCH n..." CRLF with the numbers
 * RESULTS[0..COUNT) (RFC 9051 7.3.5 / RFC 3501 7.2.5), then "(MODSEQ m)"
 * when MODSEQ is non-zero (RFC 7162 3.1.5) */
void imap_search_response_append(struct buf *out, const uint32_t *results, size_t count,
				 uint64_t modseq);
/* imap_esearch_response_append - "* ESEARCH (TAG "tag") [UID] ..." CRLF
 * (RFC 4731 3.1, RFC 9051 7.3.4) with what OPTIONS (IMAP_SEARCH_RETURN_*)
 * ask of the ascending RESULTS[0..COUNT): MIN, MAX and ALL only when
 * something matched, COUNT always; MODSEQ as above */
void imap_esearch_response_append(struct buf *out, const char *tag, bool uid, unsigned options,
				  const uint32_t *results, size_t count, uint64_t modseq);

#endif
