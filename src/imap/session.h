/* imap/session - one IMAP session; internal to the imap module.
 *
 * The session reads commands with the reader of imap/parse.h, parses each
 * one whole (imap_command_parse), finds it in the command table
 * (commands.c) and calls its handler.  Commands run one at a time: a
 * handler answers at once, or hands blocking work to the worker pool with
 * imap_session_async; the session reads no further command until the
 * tagged reply of the current one is out (imap_reply_ok/_no/_bad end the
 * command and let the session read on).
 *
 * ---- How to add a command (the other helpers: read this) ----------------
 *
 * 1. Write the handler in the cmd-*.c file of its group (cmd-auth.c,
 *    cmd-mailbox.c, cmd-select.c, cmd-fetch.c, ...; a new group gets a new
 *    file, added to meson.build):
 *        void imap_cmd_select(struct imap_session *s, const struct imap_command *cmd,
 *                             bool uid);
 *    CMD is the parsed command (parse.h): cmd->args[0..cmd->count) are its
 *    arguments after the name (after "UID NAME" for a UID command, UID then
 *    true).  CMD and every pointer into it are valid only during the call:
 *    copy what a pool job needs.  The handler must end the command exactly
 *    once, now or in its job's DONE: imap_reply_ok, imap_reply_no or
 *    imap_reply_bad (the tagged reply), after any untagged lines.
 * 2. Declare it below ("command handlers") and add one line to the table in
 *    commands.c: name, the states it is allowed in (IMAP_IN_*), flags
 *    (IMAP_CMD_UID: also valid as "UID NAME"), handler.  A command sent in
 *    another state gets "BAD" from the session, as does an unknown one.
 * 3. Its capability name, if it has one, goes in capability.c (the one
 *    list CAPABILITY, the greeting and the post-login OK send), and its
 *    line in docs/imap.md.
 *
 * Blocking work (anything that touches the Maildir, the index or the store):
 * put a struct imap_job first in a struct of your own, fill work/done/free,
 * and call imap_session_async.  WORK runs on a pool worker and must only
 * touch the job (and the session's mailbox view, see below: the loop does
 * not touch it while the job runs); DONE runs on the loop with the session
 * and replies; FREE always runs last.  If the client goes away meanwhile,
 * DONE is not called (FREE is), and the session's memory (its view
 * included) is kept until the job has finished, so WORK may go on using
 * it.
 *
 * The selected mailbox: s->view (struct mailbox_view of mailbox/mailbox.h)
 * and s->mailbox_name, set by SELECT/EXAMINE with the state
 * IMAP_STATE_SELECTED; CLOSE/UNSELECT (or a failed SELECT) free them on a
 * pool job (mailbox_view_free may write the index) and go back to
 * IMAP_STATE_AUTHENTICATED.  s->read_only is EXAMINE's.  A session that
 * ends with a view hands it to a pool job that frees it.  The enabled extensions (ENABLE, RFC 5161) are s->enabled
 * (IMAP_ENABLED_* bits), which FETCH, SELECT and the formatting read.
 */
#ifndef PETREL_IMAP_SESSION_H
#define PETREL_IMAP_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <openssl/ssl.h>

#include "imap/imap.h"
#include "imap/parse.h"
#include "net/net.h"
#include "util/buf.h"

struct bufferevent;
struct event;
struct event_base;
struct buf;
struct config;
struct config_listener;
struct mailbox_error;
struct authd_client;
struct authd_login;
struct authd_proxy;
struct mailbox_view;
struct net_conn_limits;
struct policy_throttle;
struct pool;
struct store;

#define IMAP_SESSION_BUCKETS 1024u

struct imap_session;

struct imap_server {
	struct event_base *base;
	const struct config *config;
	SSL_CTX *tls;                     /* NULL: no STARTTLS, no imaps */
	struct net_conn_limits *limits;   /* SMTP's: one count of connections */
	struct policy_throttle *throttle; /* SMTP's: one AUTH throttle */
	struct store *store;              /* accounts (may be NULL in tests) */
	struct pool *pool;
	struct authd_client *auth;        /* logins (NULL: none) */
	struct net_sessions *sessions;    /* open sessions by id, the dead, the drain */
	struct imap_idle_hub *idle_hub;   /* IDLE's wake-ups (cmd-idle.c), made at the first IDLE */
};

/* RFC 9051 3: the states; a command table entry names those it is valid in */
enum imap_state {
	IMAP_STATE_NOT_AUTHENTICATED,
	IMAP_STATE_AUTHENTICATED,
	IMAP_STATE_SELECTED,
	IMAP_STATE_LOGOUT,
};
#define IMAP_IN_NOT_AUTH (1u << IMAP_STATE_NOT_AUTHENTICATED)
#define IMAP_IN_AUTH (1u << IMAP_STATE_AUTHENTICATED)
#define IMAP_IN_SELECTED (1u << IMAP_STATE_SELECTED)
#define IMAP_IN_LOGGED_IN (IMAP_IN_AUTH | IMAP_IN_SELECTED)
#define IMAP_IN_ANY (IMAP_IN_NOT_AUTH | IMAP_IN_LOGGED_IN)

/* what ENABLE turned on (RFC 5161); read by the commands it changes */
#define IMAP_ENABLED_UTF8 0x1u       /* UTF8=ACCEPT (RFC 6855) */
#define IMAP_ENABLED_CONDSTORE 0x2u  /* RFC 7162 (also by a CONDSTORE-using command) */
#define IMAP_ENABLED_QRESYNC 0x4u    /* RFC 7162, implies CONDSTORE */
#define IMAP_ENABLED_REV2 0x8u       /* IMAP4rev2 (RFC 9051) */
/* mailbox names (and quoted strings) in UTF-8 both ways: after UTF8=ACCEPT
 * (RFC 6855 3) or IMAP4rev2 (RFC 9051 5.1: Net-Unicode names); else
 * modified UTF-7 (RFC 3501 5.1.3) */
#define IMAP_ENABLED_UTF8_NAMES (IMAP_ENABLED_UTF8 | IMAP_ENABLED_REV2)

/* the handler of a command: see "How to add a command" above */
typedef void imap_handler_fn(struct imap_session *s, const struct imap_command *cmd, bool uid);

/* struct imap_command_def - one entry of the command table (commands.c).
 * (struct imap_command is parse.h's parsed command.) */
#define IMAP_CMD_UID 0x1u   /* also "UID NAME ..." (RFC 9051 6.4.9) */
struct imap_command_def {
	const char *name;     /* upper case */
	unsigned states;      /* IMAP_IN_* */
	unsigned flags;       /* IMAP_CMD_* */
	imap_handler_fn *handler;
};

/* imap_command_find - the table's entry for NAME (any case), or NULL */
const struct imap_command_def *imap_command_find(const char *name);

struct imap_job;
struct imap_idle;
struct imap_idle_hub;

struct imap_session {
	/* in server->sessions (conn.link.id == id); the layers: conn.bev on
	 * top (what replies are written to); below it, once filters are
	 * stacked (STARTTLS, COMPRESS), the socket's conn.plain_bev, and
	 * between the two (STARTTLS and COMPRESS) mid_bev */
	struct net_conn conn;
	struct imap_server *server;
	const struct config *config;
	const struct config_listener *listener;
	uint64_t id;
	char sid[24];
	struct bufferevent *mid_bev;
	bool compressed;                /* COMPRESS=DEFLATE is on */
	struct sockaddr_storage addr;
	char client[64];
	bool cluster_peer;              /* the client is in [cluster] from: a node */
	bool cluster_listener;          /* ... and came to [cluster] imap's address */
	struct authd_proxy *proxy;      /* logging in on the home node, or relaying */

	enum imap_state state;
	bool busy;            /* a command is running: read nothing more */
	bool processing;      /* session_process_input is on the stack */
	bool orphan;          /* freed while its job ran: freed when the job ends */
	unsigned errors;      /* BAD replies; [limits] errors of them closes */

	struct imap_reader *reader;
	char *tag;            /* the running command's tag (NULL between commands) */
	struct imap_job *job; /* the pool job running for it, or NULL */
	struct authd_login *login; /* LOGIN or AUTHENTICATE under way */
	bool sasl_line;       /* AUTHENTICATE: a "+" was sent, the client's line is read */
	struct imap_job *parked; /* a job waiting for the output to drain
				    (imap_session_async_written), or NULL */

	/* logged in (IMAP_STATE_AUTHENTICATED and after) */
	char *account;        /* the account's address */
	unsigned enabled;     /* IMAP_ENABLED_* */

	/* IMAP_STATE_SELECTED */
	struct mailbox_view *view;
	char *mailbox_name;   /* as the client named it */
	bool read_only;       /* EXAMINE */
	struct imap_idle *idle;  /* IDLE is running (cmd-idle.c) */
	/* RFC 5182 SEARCHRES: the result SEARCH RETURN (SAVE) kept for "$", as
	 * UIDs in ascending order (a message expunged since then drops out
	 * when "$" is used); emptied by SELECT, EXAMINE, CLOSE and UNSELECT */
	uint32_t *saved_uids;
	size_t saved_count;
};

/* ---- replies ----------------------------------------------------------------
 * Untagged and continuation lines may be sent any time; the tagged reply
 * ends the running command.  CODE is a response code without its brackets
 * ("READ-WRITE", "APPENDUID 38505 3955") or NULL; TEXT follows it. */

enum imap_status { IMAP_OK, IMAP_NO, IMAP_BAD };

void imap_reply_ok(struct imap_session *s, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void imap_reply_no(struct imap_session *s, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* imap_reply_bad - also counts an error ([limits] errors of them close the
 * session with "* BYE") */
void imap_reply_bad(struct imap_session *s, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* imap_reply_untagged - "* " FMT CRLF */
void imap_reply_untagged(struct imap_session *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* imap_reply_continue - "+ " FMT CRLF (RFC 9051 7.5) */
void imap_reply_continue(struct imap_session *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* imap_reply_buf - the bytes of OUT (format.c's builders write into one) */
void imap_reply_buf(struct imap_session *s, const struct buf *out);

/* ---- life cycle ------------------------------------------------------------- */

/* imap_session_close - stop reading; free once the queued replies are written */
void imap_session_close(struct imap_session *s);
/* imap_session_logged_in - enter the authenticated state, whose autologout
 * timer is [imap] idle_timeout instead of login_timeout */
void imap_session_logged_in(struct imap_session *s);
/* imap_session_bye - "* BYE TEXT" then close (RFC 9051 7.1.5) */
void imap_session_bye(struct imap_session *s, const char *text);

/* imap_session_async - run WORK(job) on the pool, then DONE(session, job)
 * on the loop unless the client went away; FREE(job) always runs last.
 * JOB must start with a struct imap_job.  One job at a time per session
 * (the command that started it ends in DONE). */
struct imap_job {
	struct imap_session *session;  /* set by imap_session_async */
	void (*work)(struct imap_job *job);
	void (*done)(struct imap_session *s, struct imap_job *job);
	void (*free)(struct imap_job *job);
};
void imap_session_async(struct imap_session *s, struct imap_job *job);
/* imap_session_async_written - imap_session_async once the replies queued
 * have been written down to the back-pressure mark (now if they are): for
 * a command that answers in batches (FETCH of many messages), so that a
 * client that reads slowly holds the server to one batch at a time.  If the
 * client goes away meanwhile, FREE(job) runs and nothing else. */
void imap_session_async_written(struct imap_session *s, struct imap_job *job);

/* imap_session_is_loopback - the client is on 127.0.0.0/8 or ::1 */
bool imap_session_is_loopback(const struct imap_session *s);
/* imap_session_offers_starttls - a certificate, an imap listener, no TLS yet,
 * not logged in */
bool imap_session_offers_starttls(const struct imap_session *s);
/* imap_session_start_tls - STARTTLS's OK is queued: the TLS handshake goes
 * on below the session from now on (or the session closes) */
void imap_session_start_tls(struct imap_session *s);
/* imap_session_start_compress - COMPRESS's OK is queued: deflate below
 * the session from now on (RFC 4978) */
void imap_session_start_compress(struct imap_session *s);
/* imap_compress_start - (compress.c) a filter over UNDER that inflates
 * input (what UNDER holds already included, from the loop, within the
 * filter's read watermark) and deflates output; a stream that is no DEFLATE
 * stream is an error event (BEV_EVENT_ERROR) on it.  NULL if zlib fails. */
struct bufferevent *imap_compress_start(struct bufferevent *under);

/* imap_capability_is_offered - NAME (any case) is in the list offered to S now */
bool imap_capability_is_offered(const struct imap_session *s, const char *name);

/* imap_session_login_allowed - (cmd-auth.c) a password may be sent now:
 * else LOGINDISABLED and no AUTH= (RFC 9051 6.2.3, 7.2.2) */
bool imap_session_login_allowed(const struct imap_session *s);
/* imap_session_offers_login - (cmd-auth.c) LOGIN and AUTHENTICATE may be
 * used now: not logged in, a password allowed, the auth process there */
bool imap_session_offers_login(const struct imap_session *s);
/* imap_session_sasl_line - (cmd-auth.c) the client's line after a SASL
 * challenge (its CRLF removed; wiped after use) */
void imap_session_sasl_line(struct imap_session *s, char *line, size_t len);
/* imap_session_read_on - read input although the command is not done (a
 * SASL challenge awaits its answer) */
void imap_session_read_on(struct imap_session *s);

/* ---- logins served by the account's home node (proxy.c) ---------------------- */

struct store_node;
/* imap_proxy_start - ACCOUNT's login was right and its mailbox is on HOME
 * (taken) : log in there with TICKET (NULL: this node has no [cluster]
 * secret), then answer the running LOGIN or AUTHENTICATE, OK and relay,
 * or NO [UNAVAILABLE] */
void imap_proxy_start(struct imap_session *s, const char *account, struct store_node *home,
		      const char *ticket);
/* imap_proxy_is_relaying - the session only relays octets (the input is
 * not the session's to read) */
bool imap_proxy_is_relaying(const struct imap_session *s);
/* imap_proxy_free - close the home node's connection (session end, drain) */
void imap_proxy_free(struct imap_session *s);
/* imap_session_relay_ended - (session.c) the relay gave the connection
 * back: free it now if CLIENT_GONE, else close once the output is written */
void imap_session_relay_ended(struct imap_session *s, bool client_gone);

/* ---- capabilities (capability.c) -------------------------------------------- */

/* imap_capability_append - "IMAP4rev1 ..." as offered to S now (the list
 * depends on TLS and on the state), without a leading or trailing space */
void imap_capability_append(const struct imap_session *s, struct buf *out);

/* ---- command handlers ---------------------------------------------------------- */

/* cmd-any.c: valid in every state (RFC 9051 6.1) */
void imap_cmd_capability(struct imap_session *s, const struct imap_command *cmd, bool uid);
void imap_cmd_noop(struct imap_session *s, const struct imap_command *cmd, bool uid);
void imap_cmd_check(struct imap_session *s, const struct imap_command *cmd, bool uid);
void imap_cmd_logout(struct imap_session *s, const struct imap_command *cmd, bool uid);
void imap_cmd_id(struct imap_session *s, const struct imap_command *cmd, bool uid);

/* cmd-session.c: the session's settings (authenticated state) */
void imap_cmd_enable(struct imap_session *s, const struct imap_command *cmd, bool uid);
void imap_cmd_namespace(struct imap_session *s, const struct imap_command *cmd, bool uid);
void imap_cmd_compress(struct imap_session *s, const struct imap_command *cmd, bool uid);

/* cmd-auth.c: the not-authenticated state (RFC 9051 6.2) */
void imap_cmd_starttls(struct imap_session *s, const struct imap_command *cmd, bool uid);
void imap_cmd_login(struct imap_session *s, const struct imap_command *cmd, bool uid);
void imap_cmd_authenticate(struct imap_session *s, const struct imap_command *cmd, bool uid);

/* ---- the selected mailbox's jobs (cmd-select.c) --------------------------------
 * A command that works on the mailbox store runs as a struct imap_mbox_job
 * (first in its own struct, as struct imap_job is in it): imap_mbox_job_init
 * copies what the worker needs from the session (data_dir, the account,
 * the enabled extensions, the selected view, borrowed: the loop leaves it
 * alone while the job runs); WORK writes untagged lines into OUT and
 * says how the command ends with imap_mbox_job_reply or _error; a command
 * run with a mailbox selected calls imap_mbox_job_updates last in WORK so
 * that its answer carries what other sessions changed (RFC 9051 7.4.1:
 * EXPUNGES false during FETCH, STORE and SEARCH by sequence number).  The
 * default DONE (imap_mbox_job_done) sends OUT and the tagged reply. */
struct imap_mbox_job {
	struct imap_job base;
	char *data_dir;
	char *account;
	unsigned enabled;               /* IMAP_ENABLED_* */
	bool read_only;
	struct mailbox_view *view;      /* the session's, or NULL */
	/* the session's saved SEARCH result (RFC 5182), borrowed: only DONE
	 * changes it */
	const uint32_t *saved_uids;
	size_t saved_count;
	bool expunges;                  /* updates may report expunges */
	struct buf out;                 /* untagged lines */
	bool deleted;                   /* the selected folder was deleted */
	enum imap_status status;
	char code[128];                 /* response code, "" for none */
	char *text;
};
/* imap_mbox_job_init - DONE NULL: imap_mbox_job_done; FREE NULL: frees
 * the fields and J (allocated alone with calloc) */
void imap_mbox_job_init(struct imap_session *s, struct imap_mbox_job *j, bool expunges,
			void (*work)(struct imap_job *),
			void (*done)(struct imap_session *, struct imap_job *),
			void (*free_fn)(struct imap_job *));
void imap_mbox_job_fields_free(struct imap_mbox_job *j);
/* imap_mbox_job_reply - (worker) the tagged reply DONE will send */
void imap_mbox_job_reply(struct imap_mbox_job *j, enum imap_status status, const char *code,
			 const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* imap_mbox_job_error - (worker) NO with the response code of ERROR (RFC
 * 5530: NONEXISTENT, or TRYCREATE when TRYCREATE, ALREADYEXISTS, CANNOT,
 * OVERQUOTA, LIMIT, UNAVAILABLE ...); disk failures are logged */
void imap_mbox_job_error(struct imap_mbox_job *j, const char *what,
			 const struct mailbox_error *error, bool trycreate);
/* imap_mbox_job_seqset_resolve - (worker) SET, a command's sequence set
 * (UID: of UIDs), against the job's view: "$" (RFC 5182) becomes the
 * saved result's messages the view still holds (none when nothing is
 * saved: not an error, 2.1), "*" the highest number; then as
 * imap_seqset_resolve */
void imap_mbox_job_seqset_resolve(struct imap_mbox_job *j, struct imap_seqset *set, bool uid);
/* imap_mbox_job_seq_runs - (worker) the sequence numbers of the messages
 * that SET (resolved; normalized here; UID: of UIDs) names in the job's
 * view, as ascending, disjoint ranges, no more than the set has (caller
 * frees); *NRUNS_R ranges, *COUNT_R messages.  Not one entry per message:
 * a command on a few messages of a large folder neither allocates nor
 * walks the whole of it */
struct imap_seq_range *imap_mbox_job_seq_runs(struct imap_mbox_job *j, struct imap_seqset *set,
					      bool uid, size_t *nruns_r, size_t *count_r);
/* imap_mbox_job_set_uids - (worker) the UIDs of those messages, in their
 * order (caller frees; at least one element allocated); *COUNT_R of them */
uint32_t *imap_mbox_job_set_uids(struct imap_mbox_job *j, struct imap_seqset *set, bool uid,
				 size_t *count_r);
/* imap_session_saved_reset - the saved SEARCH result emptied (RFC 5182
 * 2.1: SELECT, EXAMINE, CLOSE, UNSELECT; a failed SEARCH ... SAVE).  Only
 * while no job of the session runs */
void imap_session_saved_reset(struct imap_session *s);
/* imap_mbox_job_updates - (worker) the untagged updates of the job's view */
void imap_mbox_job_updates(struct imap_mbox_job *j);
/* imap_mbox_job_done - (loop) OUT, then the tagged reply; a BYE instead if
 * the selected folder was deleted meanwhile */
void imap_mbox_job_done(struct imap_session *s, struct imap_job *job);
/* imap_vanished_append - (worker) "* VANISHED (EARLIER) uids" CRLF to OUT:
 * the UIDs within RANGES (N, sorted by their low ends; they may overlap)
 * and at most TOP that VIEW does not hold, or nothing when there are none
 * (RFC 7162 3.2.5.1 and 3.2.6: expunges are not remembered, so every
 * missing UID is sent, as 3.2.5.1 allows).  Time linear in the view and N. */
void imap_vanished_append(struct mailbox_view *view, const struct imap_seq_range *ranges,
			  size_t n, uint32_t top, struct buf *out);
/* imap_changes_work - (worker) what VIEW's session has not been told, as
 * untagged lines into OUT: EXPUNGE (VANISHED with QRESYNC) when EXPUNGES,
 * FLAGS and PERMANENTFLAGS for new keywords, EXISTS (and RECENT for
 * IMAP4rev1), FETCH FLAGS (with UID under QRESYNC, MODSEQ under CONDSTORE).
 * True when the folder was deleted. */
bool imap_changes_work(struct mailbox_view *view, unsigned enabled, bool read_only,
		       bool expunges, struct buf *out);
/* imap_select_poll - (loop, selected) end the running command with its
 * updates and "OK TEXT" (NOOP, CHECK: RFC 9051 6.1.2) */
void imap_select_poll(struct imap_session *s, const char *text);

/* cmd-select.c */
void imap_cmd_select(struct imap_session *s, const struct imap_command *cmd, bool uid);
void imap_cmd_examine(struct imap_session *s, const struct imap_command *cmd, bool uid);
void imap_cmd_close(struct imap_session *s, const struct imap_command *cmd, bool uid);
void imap_cmd_unselect(struct imap_session *s, const struct imap_command *cmd, bool uid);
void imap_cmd_expunge(struct imap_session *s, const struct imap_command *cmd, bool uid);

/* cmd-mailbox.c */
void imap_cmd_list(struct imap_session *s, const struct imap_command *cmd, bool uid);
void imap_cmd_lsub(struct imap_session *s, const struct imap_command *cmd, bool uid);
void imap_cmd_create(struct imap_session *s, const struct imap_command *cmd, bool uid);
void imap_cmd_delete(struct imap_session *s, const struct imap_command *cmd, bool uid);
void imap_cmd_rename(struct imap_session *s, const struct imap_command *cmd, bool uid);
void imap_cmd_subscribe(struct imap_session *s, const struct imap_command *cmd, bool uid);
void imap_cmd_unsubscribe(struct imap_session *s, const struct imap_command *cmd, bool uid);
void imap_cmd_status(struct imap_session *s, const struct imap_command *cmd, bool uid);

/* cmd-append.c */
void imap_cmd_append(struct imap_session *s, const struct imap_command *cmd, bool uid);
void imap_cmd_copy(struct imap_session *s, const struct imap_command *cmd, bool uid);
void imap_cmd_move(struct imap_session *s, const struct imap_command *cmd, bool uid);

/* cmd-fetch.c, cmd-store.c, cmd-search.c (RFC 9051 6.4.4-6, RFC 3516,
 * RFC 4731, RFC 7162) */
void imap_cmd_fetch(struct imap_session *s, const struct imap_command *cmd, bool uid);
void imap_cmd_store(struct imap_session *s, const struct imap_command *cmd, bool uid);
void imap_cmd_search(struct imap_session *s, const struct imap_command *cmd, bool uid);
/* imap_message_read - (worker) the bytes of VIEW's message UID appended to
 * OUT; MAILBOX_ERROR_EXPUNGED when its file is gone */
int imap_message_read(struct mailbox_view *view, uint32_t uid, struct buf *out,
		      struct mailbox_error *error_r);

/* cmd-idle.c: IDLE.  While s->idle is set the session hands its input to
 * imap_idle_input (only "DONE" may come) instead of the reader; a session
 * that ends calls imap_idle_free before its view goes; the server frees
 * its hub (the watches' wake-up list) with imap_idle_hub_free. */
void imap_cmd_idle(struct imap_session *s, const struct imap_command *cmd, bool uid);
void imap_idle_input(struct imap_session *s);
void imap_idle_free(struct imap_session *s);
void imap_idle_hub_free(struct imap_idle_hub **hub);
/* cmd-quota.c: RFC 9208 QUOTA (authenticated and selected states) */
void imap_cmd_getquota(struct imap_session *s, const struct imap_command *cmd, bool uid);
void imap_cmd_getquotaroot(struct imap_session *s, const struct imap_command *cmd, bool uid);
void imap_cmd_setquota(struct imap_session *s, const struct imap_command *cmd, bool uid);

/* ---- server (server.c) and session (session.c) internals ---------------------- */

void imap_session_start(struct imap_server *server, const struct config_listener *listener,
			int fd, const struct sockaddr *sa, socklen_t salen);
/* the ops of server->sessions: the drain ("* BYE" now, or once the running
 * command has answered) and the shutdown (a last "* BYE", best effort, and
 * free now) */
extern const struct net_session_ops imap_session_table_ops;
/* imap_server_session_find - the live session with ID, or NULL */
struct imap_session *imap_server_session_find(struct imap_server *server, uint64_t id);

#endif
