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
#include <sys/socket.h>

#include <openssl/ssl.h>

#include "smtp/smtp.h"

#define SMTP_SESSION_BUCKETS 4096u

struct net_conn_limits;
struct smtp_session;

struct smtp_server {
	struct event_base *base;
	const struct config *config;
	struct queue *queue;
	SSL_CTX *tls;
	struct net_conn_limits *limits;
	uint64_t next_id;
	size_t session_count;
	struct smtp_session *sessions[SMTP_SESSION_BUCKETS];
	struct smtp_session *dead;   /* closed, freed by the reaper event */
	struct event *reaper;
};

/* smtp_session_start - greet the client on FD; the session owns FD.
 * Called after the connection limits accepted the client. */
void smtp_session_start(struct smtp_server *server, const struct config_listener *listener,
			int fd, const struct sockaddr *sa, socklen_t salen);
/* smtp_session_shutdown - 421 and close now (server shutting down) */
void smtp_session_shutdown(struct smtp_session *session);
/* smtp_session_free_dead - free sessions marked dead (not in a callback) */
void smtp_session_free_dead(struct smtp_server *server);

/* server-side table, used by session.c */
void smtp_server_session_add(struct smtp_server *server, struct smtp_session *session);
void smtp_server_session_remove(struct smtp_server *server, struct smtp_session *session);
struct smtp_session *smtp_server_session_find(struct smtp_server *server, uint64_t id);

/* fields session.c exposes to server.c */
uint64_t smtp_session_id(const struct smtp_session *session);
struct smtp_session **smtp_session_next_link(struct smtp_session *session);

#endif
