/* policy - who may send what to whom: authentication, relay rules, sender
 * identities, recipient validation, sending limits and per-address throttles.
 *
 * Two kinds of functions:
 *  - *_blocking: run on a worker thread (they query the store); they fill a
 *    result struct owned by the caller.  None reads a password hash or SCRAM
 *    key: those are the auth process's (authd/);
 *  - the throttle: in memory, loop thread only (the auth process counts
 *    AUTH failures with it; the network process counts connections and the
 *    535s it sends, and remembers the lockouts it was told).
 * Replies are decided here (code, enhanced code, text) and sent as they are by
 * the SMTP session, so the rules live in one place.
 */
#ifndef PETREL_POLICY_H
#define PETREL_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

struct config;
struct mailbox_quota;
struct store;

/* A decision: code 0 means "allowed"; otherwise the reply to send. */
struct policy_reply {
	int code;
	char enhanced[12];
	char text[320];
	unsigned limit;          /* a sending limit reached (451 4.7.1): its count */
	time_t reset;            /* ... and when its window ends; else 0 */
};

/* What the session knows of its authenticated account. */
struct policy_account {
	char *name;
	bool sandbox;
	bool any_from;
	bool trusted;            /* a local user through `petrel sendmail`: no sender
				    checks, no counters (the uid is in the Received: line) */
	unsigned daily_limit;    /* 0 = unlimited */
	unsigned per_minute;     /* 0 = unlimited */
	bool unverified;         /* made by the web sign-up, its link not followed yet */
	bool pending;            /* made by the web sign-up, awaiting `petrel account approve` */
};
void policy_account_free(struct policy_account **account);
/* policy_account_copy - a copy of A (NULL: NULL) for a job that may outlive
 * the session A belongs to */
struct policy_account *policy_account_copy(const struct policy_account *a);

/* ---- authentication (worker) ---------------------------------------------------- */

/* policy_account_lookup_blocking - what a session keeps of account NAME once
 * the auth process has accepted its password or proof (no secret is read
 * here): NULL when it is disabled or gone (*reason_r "disabled": the same
 * 535 as a wrong password, so the reply never tells which) or the store
 * failed (*reason_r "store-error": 454).  Limits are resolved against its
 * plan now, so a plan change applies at the next login. */
struct policy_account *policy_account_lookup_blocking(struct store *store, const char *name,
						      const char **reason_r);

/* ---- mailbox quota (worker) ------------------------------------------------------ */

/* What policy_quota_limit_blocking reads from: both must outlive its use. */
struct policy_quota {
	struct store *store;
	const struct config *config;
};

/* policy_quota_limit_blocking - a mailbox_quota_limit_fn (mailbox.h), ARG a
 * struct policy_quota: the mailbox quota of the account named ADDRESS, from
 * its plan; a plan's -1, or a mailbox that is no account, takes [mailbox]
 * quota_default and quota_messages_default.  -1 when the store fails (the
 * caller answers "try later", never "over quota"). */
int policy_quota_limit_blocking(void *arg, const char *address, struct mailbox_quota *limit_r);

/* ---- MAIL and RCPT (worker) --------------------------------------------------------- */

/* policy_check_sender_blocking - may ACCOUNT (NULL: unauthenticated) use
 * SENDER ("" = <>) in MAIL FROM on a listener that REQUIRES_AUTH?
 * 553 5.7.1 for an address the account does not own, 550 5.7.1 for <> on
 * submission, and 550 5.7.1 for any sender of an account the web sign-up
 * made whose address is not verified yet or that awaits approval. */
void policy_check_sender_blocking(struct store *store, const struct policy_account *account,
				  bool submission, const char *sender, struct policy_reply *reply);

struct policy_rcpt {
	struct policy_reply reply;   /* code 0: accepted */
	char **mailboxes;            /* local: where it delivers (NULL-terminated), else NULL */
	bool local;
	bool postmaster;             /* postmaster of a local domain (RFC 5321 4.5.1) */
	bool reserved;               /* a unit of the account's counters was taken */
};
void policy_rcpt_clear(struct policy_rcpt *rcpt);

/* policy_check_home_blocking - mail another node relays here ([cluster]
 * mail) for MAILBOXES (NULL-terminated): each account must be homed on this
 * node ([server] node) or on none; else 451 4.4.6 naming its home, since
 * mail relayed between nodes is never relayed on (the sending node tries
 * again, and finds the home the store says then).  451 4.3.0 when the
 * store cannot tell.  REPLY's code stays 0 when all is well. */
void policy_check_home_blocking(struct store *store, const struct config *config,
				char *const *mailboxes, struct policy_reply *reply);

/* policy_check_rcpt_blocking - RCPT TO:<ADDRESS> (already syntax-checked and
 * canonical, "local@domain", or "Postmaster" alone).  Local domains (config or
 * store) accept only mailboxes and aliases (550 5.1.1 otherwise); other
 * domains only for authenticated accounts (554 5.7.1 relaying denied), which
 * then pay one unit of their daily and per-minute counters (451 4.7.1 with
 * the limit and reset time when over).  Authenticated mail to local domains
 * is counted too.  The postmaster of a local domain, any case, and the bare
 * <Postmaster> (the first local domain's) are never refused, whether or not an
 * account of that name exists, and cost no counter units (RFC 5321 4.5.1): see
 * policy_postmaster_resolve_blocking; only a store failure gets 451 4.3.0. */
void policy_check_rcpt_blocking(struct store *store, const struct config *config,
				const struct policy_account *account, const char *address,
				time_t now, struct policy_rcpt *rcpt);

/* policy_postmaster_resolve_blocking - where mail to the postmaster of
 * DOMAIN (a local domain; NULL = none) goes (RFC 5321 4.5.1): to [domains]
 * postmaster if it is set, for every local domain (resolved like a recipient
 * when its domain is local, alias or account, and taken as it is otherwise: a
 * mailbox of its own, or a remote address); else to an alias or account
 * postmaster@DOMAIN if there is one; else to the domain's own postmaster
 * mailbox, which needs no account.  The queue sends double bounces to the same
 * setting (queue/bounce.c).  Fills
 * *mailboxes_r (NULL-terminated, free with store_strv_free; empty only with
 * neither DOMAIN nor the setting) and *source_r, for people: "alias or
 * account", "[domains] postmaster" or "own mailbox".  0, or -1 with *error_r
 * if the store failed. */
int policy_postmaster_resolve_blocking(struct store *store, const struct config *config,
				       const char *domain, char ***mailboxes_r,
				       const char **source_r, const char **error_r);

/* policy_release_blocking - give back N counter units (RSET, failed message) */
void policy_release_blocking(struct store *store, const struct policy_account *account,
			     unsigned n, time_t reserved_at);

/* policy_check_from_blocking - the From: header of MESSAGE must name only
 * addresses ACCOUNT may use, unless the account has any_from.  553 5.7.1.
 * ALLOWED_SENDER (or NULL) is an address the transaction already found
 * ACCOUNT may use (the envelope sender MAIL FROM checked): a From: address
 * equal to it, ignoring case as the store does, is not read again. */
void policy_check_from_blocking(struct store *store, const struct policy_account *account,
				const char *allowed_sender, const char *message, size_t len,
				struct policy_reply *reply);

/* policy_is_local_domain_blocking - DOMAIN is in the config or the store */
bool policy_is_local_domain_blocking(struct store *store, const struct config *config,
				     const char *domain);

/* ---- per-address throttles (loop thread) --------------------------------------------- */

struct policy_throttle;

struct policy_throttle_settings {
	unsigned auth_slow_after;    /* failures before replies are delayed: 3 */
	unsigned auth_lockout_after; /* failures before the address is refused: 10 */
	unsigned auth_window;        /* seconds failures are remembered: 900 */
	unsigned lockout_time;       /* seconds an address stays refused: 900 */
	unsigned connect_rate;       /* new connections per minute per address; 0 = off */
	unsigned ipv6_prefix;        /* IPv6 addresses count per prefix of this length: 64 */
	unsigned max_entries;        /* addresses remembered; the least recently seen
					goes first: 65536 */
};

/* policy_throttle_settings_load - the settings [auth] and [limits]
 * connection_rate of CONFIG give */
void policy_throttle_settings_load(const struct config *config,
				   struct policy_throttle_settings *settings);
struct policy_throttle *policy_throttle_create(const struct policy_throttle_settings *settings);
void policy_throttle_free(struct policy_throttle **throttle);
/* policy_throttle_auth_failed - count one failure; returns the delay in
 * seconds to wait before replying (0 = none) (the auth process; the
 * network process for the 535s it sends, a disabled account's included) */
unsigned policy_throttle_auth_failed(struct policy_throttle *throttle, const struct sockaddr *sa,
				     time_t now);
/* policy_throttle_delay - the delay before the reply to the FAILURES-th
 * failure in a row (0 = none): [auth] slow_after, then a second more each,
 * 5 at most (also for a count kept elsewhere: the shared throttle) */
unsigned policy_throttle_delay(const struct policy_throttle *throttle, unsigned failures);
/* policy_throttle_key_text - the key the throttle counts SA under (IPv6
 * cut to ipv6_prefix), as 32 hex digits: the shared throttle's row name,
 * the same on every node with the same ipv6_prefix (any thread: it reads
 * only the settings) */
#define POLICY_THROTTLE_KEY_TEXT 33
void policy_throttle_key_text(const struct policy_throttle *throttle, const struct sockaddr *sa,
			      char text[POLICY_THROTTLE_KEY_TEXT]);
/* policy_throttle_lock - refuse the address until UNTIL: a lockout the auth
 * process reported, remembered by the network process (a later end wins) */
void policy_throttle_lock(struct policy_throttle *throttle, const struct sockaddr *sa,
			  time_t now, time_t until);
/* policy_throttle_is_locked - the address is refused until *until_r */
bool policy_throttle_is_locked(struct policy_throttle *throttle, const struct sockaddr *sa,
			       time_t now, time_t *until_r);
/* policy_throttle_connect - count a new connection; false if over the rate */
bool policy_throttle_connect(struct policy_throttle *throttle, const struct sockaddr *sa,
			     time_t now);
/* policy_throttle_count - addresses (or IPv6 prefixes) remembered now */
size_t policy_throttle_count(const struct policy_throttle *throttle);

/* ---- admitting a new connection (network process, loop thread) ------------------------ */

struct net_conn_limits;
struct net_sessions;

enum policy_admission {
	POLICY_ADMITTED,
	POLICY_REFUSED_SHUTDOWN,      /* the server drains its sessions */
	POLICY_REFUSED_LOCKED_OUT,    /* the address failed AUTH too often */
	POLICY_REFUSED_RATE,          /* it connects faster than [limits] connection_rate */
	POLICY_REFUSED_CONNECTIONS,   /* [limits] connections or connections_per_ip reached */
};

/* policy_connection_admit - the checks every server makes of a connection
 * it accepted from SA, in this order: SESSIONS draining, the address
 * locked out or over its connection rate in THROTTLE (NULL: none; a local
 * socket has no rate), and LIMITS (the connection counted there once
 * admitted: net_conn_limits_release when it closes) */
enum policy_admission policy_connection_admit(struct policy_throttle *throttle,
					      struct net_conn_limits *limits,
					      const struct net_sessions *sessions,
					      const struct sockaddr *sa);
/* policy_admission_reason - the refusal for the log: "shutdown",
 * "auth-lockout", "connection-rate", "too-many-connections" */
const char *policy_admission_reason(enum policy_admission admission);
/* policy_admission_text - the refusal for the client of a mail protocol:
 * "Too many connections, try again later", ... */
const char *policy_admission_text(enum policy_admission admission);

#endif
