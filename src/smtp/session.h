/* smtp/session - one SMTP session; internal to the smtp module.
 *
 * struct smtp_server is defined here so session.c and server.c share it.
 * Sessions are found by id (smtp_server_session_find) when a late answer from
 * the queue or a worker arrives: a closed session simply is not found.
 */
#ifndef PETREL_SMTP_SESSION_H
#define PETREL_SMTP_SESSION_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <sys/socket.h>

#include <openssl/ssl.h>

#include "mailauth/mailauth.h"
#include "net/net.h"
#include "smtp/parse.h"
#include "smtp/smtp.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/histogram.h"

struct bufferevent;
struct evbuffer;
struct evbuffer_cb_entry;
struct config;
struct config_listener;
struct authd_client;
struct authd_login;
struct ipc_client;
struct keysd_signer;
struct queue_envelope;
struct policy_account;
struct policy_reply;
struct policy_throttle;
struct pool;
struct store;
struct dns_resolver;
struct smtp_verify;

#define SMTP_SESSION_BUCKETS 4096u

struct net_conn_limits;
struct smtp_session;
struct smtp_checks;
struct dns_resolver;

struct smtp_server {
	struct event_base *base;
	const struct config *config;
	struct queue *queue;
	SSL_CTX *tls;
	struct net_conn_limits *limits;
	struct net_sessions *sessions; /* open sessions by id, the dead, the drain */
	struct store *store;         /* may be NULL (tests without accounts) */
	struct store_events *events; /* event writer; may be NULL */
	struct pool *pool;
	struct authd_client *auth;   /* logins through the auth process (NULL: no AUTH) */
	struct keysd_signer *signer; /* DKIM signing (NULL: none) */
	struct policy_throttle *throttle; /* the network process's, shared by all listeners */
	const struct srs_settings *srs; /* SRS of forwarded mail (NULL: off) */
	struct ipc_client *keys;     /* the keys process: ARC seals (NULL: none) */
	/* the receiving checks (verify.c); both NULL: none are made */
	struct dns_resolver *dns;
	const struct mailauth_psl *psl;
	struct dmarc_reporter *reporter; /* DMARC aggregate reports (NULL: none) */
	struct smtp_verifier *verifier; /* verifier.c's rate limit, made when first needed */
	struct histogram accept_latency; /* end of data to its 250 (GET /metrics) */
};

enum session_mode {
	MODE_COMMAND,
	MODE_SKIP_LINE,  /* discarding an overlong command line up to its CRLF */
	MODE_DATA,
	MODE_BDAT,
	MODE_AUTH,       /* reading SASL responses (RFC 4954 4) */
};

struct smtp_session {
	struct net_conn conn;          /* in server->sessions; conn.link.id == id */
	struct smtp_server *server;
	const struct config *config;
	const struct config_listener *listener;
	uint64_t id;
	char sid[24];
	/* a plain socket's replies are written straight away (session_flush),
	 * once per loop pass, rather than through a write event */
	struct event *flush_ev;
	struct evbuffer_cb_entry *flush_cb;
	struct sockaddr_storage addr;
	char client[64];

	enum session_mode mode;
	size_t skip_limit;  /* MODE_SKIP_LINE: the limit the line went over */
	bool waiting;     /* a worker or the queue is busy for us: read nothing */
	struct timespec data_end;  /* when the last message's data ended (CLOCK_MONOTONIC) */
	unsigned releases_in_flight; /* sending-limit units being given back:
					read no command until they are */
	unsigned errors;

	char *helo;       /* NULL before HELO/EHLO */
	bool esmtp;
	bool got_command;  /* a first command line came: timeouts.command from
			      now on, timeouts.greeting before */
	char tls_info[160];
	struct smtp_checks *checks;  /* checks.c: reverse DNS, a MAIL being checked */

	/* authentication (RFC 4954) */
	struct policy_account *account;  /* NULL until AUTH succeeds */
	struct authd_login *login;       /* the exchange in progress (NULL: none); while
					    WAITING, its outcome is awaited */

	/* transaction */
	bool has_mail;
	struct smtp_path from;
	struct smtp_mail_params mail;
	struct queue_envelope *env;
	unsigned rcpt_tried;
	bool rcpt_other;               /* a recipient that is not a postmaster was accepted */
	bool forwarded;                /* an alias sends it to another domain (ARC seal) */
	bool bdat_used;
	bool verifier;                 /* RCPT to [auth] verifier was accepted (verifier.c) */
	size_t quota_mailbox_count;    /* recipients that are local mailboxes with a
					  quota (not the postmaster, nor a sandboxed
					  account's): when all are, it is checked at
					  the end of data */
	bool quota_unlimited;          /* RCPT found a mailbox without a quota: the
					  message fits whatever its size, no check */
	struct smtp_quota_check *quota_check; /* that check, until a job takes it */
	struct smtp_data_reader reader;
	struct buf body;
	uint64_t bdat_left;
	uint64_t bdat_size;            /* octets in the current chunk */
	bool bdat_last;
	bool bdat_discard;             /* consume the chunk, then reply the error */
	struct smtp_error bdat_error;
	unsigned reserved;               /* sending-limit units taken by RCPTs */
	time_t reserved_at;
	struct smtp_verify *verify;      /* SPF, DKIM, DMARC of this transaction
					    (mx without AUTH), or NULL */
};


/* replies and life cycle, shared by session.c and the command files */
void smtp_session_reply(struct smtp_session *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void smtp_session_reply_error(struct smtp_session *s, const struct smtp_error *err);
void smtp_session_count_error(struct smtp_session *s);
void smtp_session_close(struct smtp_session *s);
void smtp_session_transaction_reset(struct smtp_session *s);
/* smtp_session_release_reserved - give back the transaction's sending-limit units */
void smtp_session_release_reserved(struct smtp_session *s);
/* smtp_session_process_input - go on with buffered input (after waiting) */
void smtp_session_process_input(struct smtp_session *s);
void smtp_session_set_timeout(struct smtp_session *s, unsigned seconds);
/* smtp_session_is_loopback - the client connected from 127.0.0.0/8 or ::1 */
bool smtp_session_is_loopback(const struct smtp_session *s);
/* smtp_session_is_from_node - on the listener of [cluster] mail, from a
 * client within [cluster] from: another Petrel node (docs/scaling.md) */
bool smtp_session_is_from_node(const struct smtp_session *s);

/* smtp_session_async - run WORK(job) on the pool, then DONE(session, job) on
 * the loop if the session still exists; FREE(job) always runs last.  JOB
 * must start with a struct smtp_job.  The session waits (reads no input)
 * until DONE has run. */
struct smtp_job {
	uint64_t session_id;
	struct smtp_server *server;
	void (*work)(struct smtp_job *job);
	void (*done)(struct smtp_session *s, struct smtp_job *job);
	void (*free)(struct smtp_job *job);
	/* the end of data's quota check (cmd-mail.c) rides on the session's
	 * first job after it, one worker trip less: it runs before WORK, and
	 * when no mailbox can take the message neither WORK nor DONE runs:
	 * the session answers 452 */
	struct smtp_quota_check *quota;
};
/* smtp_session_async - JOB's WORK on a worker, then its DONE on the loop if
 * the session is still there; the session reads no input meanwhile.  JOB
 * takes the session's pending quota check. */
void smtp_session_async(struct smtp_session *s, struct smtp_job *job);

/* the end of data's quota check (cmd-mail.c), see smtp_job */
struct smtp_quota_check;
/* smtp_quota_check_run - (worker) true when no mailbox can take it */
bool smtp_quota_check_run(struct smtp_quota_check *q, const struct smtp_server *server);
/* smtp_quota_check_refuse - (loop) if Q found every mailbox full, answer
 * 452 and end the transaction: true; else false */
bool smtp_quota_check_refuse(struct smtp_session *s, const struct smtp_quota_check *q);
void smtp_quota_check_free(struct smtp_quota_check **q);

/* smtp_session_event - record an event in the store (from a worker; the
 * session does not wait).  ACCOUNT defaults to the session's account. */
void smtp_session_event(struct smtp_session *s, const char *type, const char *account,
			const char *recipient, int code, const char *reason);
/* smtp_server_event_accepted - TYPE "accepted" or "accepted-sandbox" for
 * ACCOUNT's (may be NULL) message QUEUE_ID, with its RECIPIENTS
 * (store_event's, one per line; kept for the event webhook's "processed"
 * per recipient): recorded once the queue has it, whether or not its
 * client is still there to read the 250 */
void smtp_server_event_accepted(struct smtp_server *server, const char *account,
				const char *type, const char *queue_id, const char *recipients);

/* command handlers in other files */
void smtp_cmd_mail(struct smtp_session *s, const struct smtp_command *cmd);
void smtp_cmd_rcpt(struct smtp_session *s, const struct smtp_command *cmd);
void smtp_cmd_data(struct smtp_session *s, const struct smtp_command *cmd);
void smtp_cmd_bdat(struct smtp_session *s, const struct smtp_command *cmd);
/* smtp_data_read, smtp_bdat_read - message bytes in MODE_DATA / MODE_BDAT;
 * false if nothing could be done with the input */
bool smtp_data_read(struct smtp_session *s, struct evbuffer *in);
bool smtp_bdat_read(struct smtp_session *s, struct evbuffer *in);
void smtp_cmd_auth(struct smtp_session *s, const struct smtp_command *cmd);
/* smtp_auth_read_line - a SASL response line while MODE_AUTH; false if incomplete */
bool smtp_auth_read_line(struct smtp_session *s, struct evbuffer *in);
/* smtp_auth_mechanisms - "PLAIN LOGIN SCRAM-SHA-256" if AUTH is offered now, else NULL */
const char *smtp_auth_mechanisms(const struct smtp_session *s);
void smtp_auth_clear(struct smtp_session *s);
/* smtp_forward_rcpt - (forward.c) RCPT to an SRS address of ours: reversed
 * and added, or refused (550 5.1.1 forged, expired or malformed); replies
 * and returns true.  False: not ours, go on as usual. */
bool smtp_forward_rcpt(struct smtp_session *s, const struct smtp_path *path,
		       const struct smtp_rcpt_params *params);
/* smtp_forward_note - ADDRESS (a local alias) delivers to TARGET: when it
 * leaves the domain, the transaction gets its SRS return path */
void smtp_forward_note(struct smtp_session *s, const char *target, const char *address);


/* ---- the receiving checks (verify.c) ----------------------------------------
 *
 * Mail that arrives on an mx listener without AUTH is checked as a
 * receiving server checks it (unless [listener] receiving_checks = off): SPF of the MAIL FROM identity (or of the HELO
 * identity for a null sender, RFC 7208 2.4) starts at MAIL FROM and runs
 * while RCPTs and the data come in; at the end of the data DKIM is verified
 * (hashing on the pool, key lookups and signature checks on the loop) and
 * the From domain's DMARC policy looked up; then DMARC is evaluated, an
 * Authentication-Results field (RFC 8601) written, and the policy applied:
 * reject answers 550 5.7.1, quarantine delivers to the Junk folder.  All of
 * it belongs to the transaction: a reset or a closing session cancels what
 * is still under way, and no callback follows. */

/* struct smtp_auth_results - what the checks found for one message, read at
 * verify.c's one call site (verify_results_known) by whatever acts on them
 * (the DMARC aggregate report, ARC's override of a DMARC fail).  Strings are
 * owned by the transaction's checks and live until it ends. */
struct smtp_auth_results {
	/* SPF (RFC 7208) */
	enum spf_result spf;
	const char *spf_identity;   /* MAIL FROM's address, or the HELO name */
	bool spf_helo;              /* the identity is HELO's (a null sender) */
	const char *spf_domain;     /* the identity's domain (DMARC alignment), or NULL */
	const char *spf_problem;    /* why, for none/neutral/errors; else NULL */
	const char *spf_mechanism;  /* the term that decided, or NULL */
	/* the HELO identity checked on its own (RFC 7208 2.3), when the
	 * sender is not null; not part of DMARC */
	bool helo_checked;
	enum spf_result helo_spf;
	const char *helo_problem, *helo_mechanism;
	/* DKIM (RFC 6376): dkim_verify_count/_report of the verifier */
	const struct dkim_verify *dkim;
	enum dkim_result dkim_result;  /* the best signature's, NONE without */
	/* DMARC (RFC 7489) */
	const char *from_domain;    /* RFC 5322.From's domain (lower case), or NULL */
	const char *from_problem;   /* why there is none: no From, several... */
	const struct dmarc_found *dmarc_found;  /* NULL when no discovery ran */
	struct dmarc_outcome dmarc;
	/* what is done with the message: the policy's disposition when it is
	 * enforced ([auth] dmarc_enforce), else NONE; an override (RFC 7489
	 * 7.2 PolicyOverrideType, "arc", ...) may lower it at the call site */
	enum dmarc_policy disposition;
	const char *override;
	/* ARC (RFC 8617): the chain's validation */
	const struct arc_outcome *arc;
};

/* smtp_verify_mail - MAIL FROM was accepted (has_mail, env set): on an mx
 * listener without AUTH (and receiving_checks on) start the checks and
 * SPF.  True if the checks send MAIL's reply themselves ([auth] spf_reject:
 * once SPF is known, 250 or 550 5.7.23); false: the caller replies now. */
bool smtp_verify_mail(struct smtp_session *s);
/* smtp_verify_message - the body is in and passed the size and syntax
 * checks: verify it; the session waits until the message is submitted
 * (smtp_message_submit) or refused */
void smtp_verify_message(struct smtp_session *s);
/* smtp_verify_strip - the body of unauthenticated mail that no checks
 * verify (an mx listener with receiving_checks = off) is in and passed the
 * size and syntax checks: remove (on the loop, one pass over the header)
 * the Authentication-Results fields that claim our authserv-id, which
 * nothing here wrote (RFC 8601 5) */
void smtp_verify_strip(struct smtp_session *s);
/* smtp_verify_header - the transaction's Authentication-Results field
 * (CRLF-terminated) to put under Received:, and whether the message goes
 * to the Junk folder (DMARC quarantine); nothing and false when no checks
 * ran */
void smtp_verify_header(const struct smtp_verify *v, struct buf *out, bool *junk_r);
/* smtp_verify_checked - the checks ran and decided: the topmost field
 * with our authserv-id is theirs (else any such field is the sender's) */
bool smtp_verify_checked(const struct smtp_verify *v);
/* smtp_verify_seal - the transaction's ARC sealing (seal.c), or NULL */
struct smtp_seal;
struct smtp_seal *smtp_verify_seal(const struct smtp_verify *v);
/* smtp_seal_start - (seal.c) the message is accepted and forwarded: add an
 * ARC set (AR_FIELD our Authentication-Results field, CHAIN the incoming
 * chain's validation) and then smtp_message_submit; false when it is not
 * to be sealed (not forwarded, no [auth] arc_seal_key, no keys process):
 * the caller submits.  *SLOT holds the sealing until smtp_seal_free. */
bool smtp_seal_start(struct smtp_session *s, const struct buf *ar_field,
		     const struct arc_outcome *chain, struct smtp_seal **slot);
void smtp_seal_free(struct smtp_seal **seal);
/* smtp_verify_free - cancel what is under way (no callback follows) */
void smtp_verify_free(struct smtp_verify **v);
/* smtp_message_submit - cmd-mail.c: Received: (and Authentication-Results)
 * on top, then to the queue; 250 once durable */
void smtp_message_submit(struct smtp_session *s);

/* SMTP-time checks (checks.c; settings in [smtp]) */
enum smtp_rdns_result {
	SMTP_RDNS_UNKNOWN,   /* not looked up (off, unix socket) or not answered yet */
	SMTP_RDNS_PASS,      /* a PTR name whose addresses hold the client's */
	SMTP_RDNS_FAIL,      /* PTR names, none resolving back to the client */
	SMTP_RDNS_NONE,      /* no PTR record */
	SMTP_RDNS_TEMPERROR, /* DNS failed temporarily */
};
const char *smtp_rdns_result_name(enum smtp_rdns_result result);
/* smtp_checks_connect - start the reverse lookup of the client (reverse_dns) */
void smtp_checks_connect(struct smtp_session *s);
/* smtp_checks_helo - helo_check: false after replying 501 (VERB names the command) */
bool smtp_checks_helo(struct smtp_session *s, const struct smtp_command *cmd,
		      const char *verb);
/* smtp_checks_mail - a MAIL command (SENDER its address, "" for <>) waits,
 * if it must, for the reverse lookup and the sender domain's; *REPLY gets a
 * refusal or code 0; then JOB goes on: to the pool if it has work and no
 * refusal, else JOB->done and JOB->free at once.  A session closed
 * meanwhile frees JOB (smtp_checks_free). */
void smtp_checks_mail(struct smtp_session *s, struct smtp_job *job, const char *sender,
		      struct policy_reply *reply);
/* smtp_checks_rdns_name - for Received:: the forward-confirmed name,
 * "unknown", or NULL when reverse_dns is off (or a unix socket) */
const char *smtp_checks_rdns_name(const struct smtp_session *s);
enum smtp_rdns_result smtp_checks_rdns_result(const struct smtp_session *s);
/* smtp_checks_free - cancel the lookups (session end) */
void smtp_checks_free(struct smtp_session *s);

/* the deliverability verifier ([auth] verifier; verifier.c) */
/* smtp_verifier_rcpt - ADDRESS is the verifier's: accepted (250 sent) for
 * this transaction without being a recipient; false if it is not */
bool smtp_verifier_rcpt(struct smtp_session *s, const char *address);
/* smtp_verifier_message - the transaction had the verifier among its
 * recipients: a report of MESSAGE (Received: and the receiving checks'
 * fields on top) goes to ENV's sender through the queue.  With no other
 * recipient (ENV->rcpt_count 0) the client's reply comes from here, ENV is
 * freed, the transaction reset, and true returned; else false, and the
 * caller queues the message for the others as usual. */
bool smtp_verifier_message(struct smtp_session *s, struct queue_envelope *env,
			   const struct buf *message);
void smtp_verifier_free(struct smtp_server *server);

/* smtp_session_start - greet the client on FD; the session owns FD.
 * Called after the connection limits accepted the client. */
void smtp_session_start(struct smtp_server *server, const struct config_listener *listener,
			int fd, const struct sockaddr *sa, socklen_t salen);
/* the ops of server->sessions: the drain (421 4.3.2 and an orderly close,
 * now or, a message being stored, once the queue has answered) and the
 * shutdown (a last 421, best effort, and free now) */
extern const struct net_session_ops smtp_session_table_ops;
/* smtp_server_session_find - the open session with ID, or NULL */
struct smtp_session *smtp_server_session_find(struct smtp_server *server, uint64_t id);

#endif
