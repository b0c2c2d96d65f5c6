/* pop3/session - one POP3 session; internal to the pop3 module.
 *
 * The session reads one CRLF-terminated line at a time (at most [pop3]
 * command_line octets), parses it (parse.h) and runs it; it is "busy" from
 * then until the command's reply, and reads nothing more meanwhile (a
 * login's outcome and every Maildir read or write come later, from the
 * auth process or the worker pool).  Commands are in cmd-auth.c (the
 * AUTHORIZATION state: CAPA, STLS, USER, PASS, AUTH) and cmd-mail.c (the
 * TRANSACTION state and QUIT's UPDATE).
 */
#ifndef PETREL_POP3_SESSION_H
#define PETREL_POP3_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <openssl/ssl.h>

#include "net/net.h"
#include "pop3/parse.h"
#include "pop3/pop3.h"

struct authd_login;
struct authd_proxy;
struct event;
struct mailbox;
struct mailbox_view;

#define POP3_SESSION_BUCKETS 1024u

struct pop3_session;

struct pop3_server {
	struct event_base *base;
	const struct config *config;
	SSL_CTX *tls;
	struct authd_client *auth;
	struct pool *pool;
	struct net_conn_limits *limits;
	struct policy_throttle *throttle;
	struct net_sessions *sessions;   /* open sessions by id, the dead, the drain */
};

/* RFC 1939 3 */
enum pop3_state {
	POP3_STATE_AUTHORIZATION,
	POP3_STATE_TRANSACTION,
	POP3_STATE_UPDATE,
};

/* a message of the maildrop as listed at login (RFC 1939 5: the numbers
 * do not change during the session) */
struct pop3_message {
	uint32_t uid;
	uint64_t size;
	char *unique;       /* UIDL: the file name's unique part */
	bool deleted;       /* DELE'd; removed at QUIT */
};

struct pop3_job;

struct pop3_session {
	struct net_conn conn;            /* in server->sessions; conn.link.id == id */
	struct pop3_server *server;
	const struct config *config;
	const struct config_listener *listener;
	uint64_t id;
	char sid[24];
	struct sockaddr_storage addr;
	char client[64];
	bool cluster_peer;              /* the client is in [cluster] from: a node */
	bool cluster_listener;          /* ... and came to [cluster] pop3's address */
	struct authd_proxy *proxy;      /* logging in on the home node, or relaying */

	enum pop3_state state;
	bool busy;          /* a command is running: read nothing more */
	bool processing;    /* session_process_input is on the stack */
	bool orphan;        /* freed while its job ran: freed when the job ends */
	bool skipping;      /* discarding the rest of an overlong line */
	unsigned errors;

	/* AUTHORIZATION */
	char *user;                  /* USER's name, until PASS */
	struct authd_login *login;   /* PASS or AUTH under way */
	bool sasl;                   /* reading AUTH responses (RFC 5034 4) */

	/* TRANSACTION */
	char *account;
	struct mailbox *mailbox;     /* the INBOX, taken exclusively */
	struct mailbox_view *view;
	struct pop3_message *messages;
	uint32_t count;
	struct pop3_job *job;        /* the pool job running, or NULL */
	struct pop3_job *parked;     /* a job waiting for the output to drain
					(pop3_session_async_written), or NULL */
};

/* ---- replies (session.c) ---- */
void pop3_reply_ok(struct pop3_session *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* pop3_reply_err - "-ERR TEXT"; counts an error ([limits] errors of them
 * close the session) */
void pop3_reply_err(struct pop3_session *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* pop3_reply_raw - bytes as they are (a multi-line body) */
void pop3_reply_raw(struct pop3_session *s, const void *data, size_t len);
/* pop3_command_done - the running command has answered: read on */
void pop3_command_done(struct pop3_session *s);
void pop3_session_close(struct pop3_session *s);

/* pop3_session_async - WORK(job) on the pool, then DONE(session, job) on
 * the loop unless the client went away; FREE(job) always last.  JOB starts
 * with a struct pop3_job.  The session's view and messages are the job's
 * while it runs (the loop does not touch them). */
struct pop3_job {
	struct pop3_session *session;
	void (*work)(struct pop3_job *job);
	void (*done)(struct pop3_session *s, struct pop3_job *job);
	void (*free)(struct pop3_job *job);
};
void pop3_session_async(struct pop3_session *s, struct pop3_job *job);
/* pop3_session_async_written - pop3_session_async once the replies queued
 * have been written down to the back-pressure mark (now if they are): the
 * next piece of a message (RETR, TOP) is read only when the client has
 * read the last one.  If the client goes away meanwhile, FREE(job) runs
 * and nothing else. */
void pop3_session_async_written(struct pop3_session *s, struct pop3_job *job);

bool pop3_session_is_loopback(const struct pop3_session *s);
/* pop3_session_login_allowed - a password may be sent now (TLS, or
 * loopback with [auth] plaintext_loopback) and there is an auth process */
bool pop3_session_login_allowed(const struct pop3_session *s);
bool pop3_session_offers_stls(const struct pop3_session *s);
/* pop3_session_start_tls - STLS's +OK is queued: TLS from now on */
void pop3_session_start_tls(struct pop3_session *s);

/* ---- commands ---- */
/* cmd-auth.c */
void pop3_cmd_capa(struct pop3_session *s);
void pop3_cmd_stls(struct pop3_session *s);
void pop3_cmd_user(struct pop3_session *s, const struct pop3_command *cmd);
void pop3_cmd_pass(struct pop3_session *s, const struct pop3_command *cmd);
void pop3_cmd_auth(struct pop3_session *s, const struct pop3_command *cmd);
/* pop3_auth_line - a response line while s->sasl (LINE without CRLF) */
void pop3_auth_line(struct pop3_session *s, const char *line, size_t len);
/* pop3_auth_clear - end a login under way (session end, drain) */
void pop3_auth_clear(struct pop3_session *s);
/* cmd-mail.c */
/* pop3_maildrop_open - ACCOUNT logged in: lock and list its INBOX, then
 * +OK (TRANSACTION) or -ERR [IN-USE] (AUTHORIZATION again) */
void pop3_maildrop_open(struct pop3_session *s, char *account);
void pop3_cmd_transaction(struct pop3_session *s, const struct pop3_command *cmd);
void pop3_cmd_quit(struct pop3_session *s);
/* pop3_maildrop_release - (session end) give the lock back, no deletion */
void pop3_maildrop_release(struct pop3_session *s);
void pop3_messages_free(struct pop3_session *s);

/* proxy.c: logins served by the account's home node */
struct store_node;
/* pop3_proxy_start - ACCOUNT's login was right and its maildrop is on HOME
 * (taken): log in there with TICKET (NULL: this node has no [cluster]
 * secret), then +OK and relay, or -ERR [SYS/TEMP] */
void pop3_proxy_start(struct pop3_session *s, const char *account, struct store_node *home,
		      const char *ticket);
/* pop3_proxy_is_relaying - the session only relays octets */
bool pop3_proxy_is_relaying(const struct pop3_session *s);
/* pop3_proxy_free - close the home node's connection (session end, drain) */
void pop3_proxy_free(struct pop3_session *s);
/* pop3_session_relay_ended - (session.c) the relay gave the connection
 * back: free it now if CLIENT_GONE, else close once the output is written */
void pop3_session_relay_ended(struct pop3_session *s, bool client_gone);

/* server.c's table, used by session.c */
void pop3_session_start(struct pop3_server *server, const struct config_listener *listener,
			int fd, const struct sockaddr *sa, socklen_t salen);
/* the ops of server->sessions: the drain ("-ERR" now, or once the running
 * command has answered) and the shutdown (a last "-ERR", best effort, and
 * free now) */
extern const struct net_session_ops pop3_session_table_ops;

#endif
