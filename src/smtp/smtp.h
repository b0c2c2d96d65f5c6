/* smtp - the ESMTP server: sessions on every listener (RFC 5321 and the
 * extensions PIPELINING, SIZE, 8BITMIME, SMTPUTF8, ENHANCEDSTATUSCODES,
 * CHUNKING, DSN, STARTTLS).
 *
 * The server is created once on the loop thread, accepts sockets handed to
 * smtp_server_accept() by net/, and hands finished messages to queue/.  It
 * keeps pointers to CONFIG, QUEUE and TLS (the caller keeps them alive until
 * smtp_server_free).  All functions run on the loop thread.
 */
#ifndef PETREL_SMTP_H
#define PETREL_SMTP_H

#include <stddef.h>
#include <sys/socket.h>

#include <openssl/ssl.h>

struct authd_client;
struct event_base;
struct dns_resolver;
struct ipc_client;
struct config;
struct config_listener;
struct dns_resolver;
struct mailauth_psl;
struct policy_throttle;
struct pool;
struct queue;
struct smtp_server;
struct store;
struct store_events;

/* smtp_server_create - TLS may be NULL: then STARTTLS is not offered and
 * listeners of role submissions cannot be used (the caller refuses to start).
 * STORE holds accounts and domains (NULL: no AUTH, and local domains come
 * from the config alone); EVENTS records what happens (NULL: nothing);
 * POOL runs the store and policy lookups.  THROTTLE is the network
 * process's per-address throttle (policy.h), shared with the other
 * protocols' listeners and the logins: a locked-out address gets 421 at
 * connect, and the connection rate is counted there. */
struct smtp_server *smtp_server_create(struct event_base *base, const struct config *config,
				       struct queue *queue, SSL_CTX *tls, struct store *store,
				       struct store_events *events, struct pool *pool,
				       struct policy_throttle *throttle);
/* smtp_server_set_auth_client - AUTH logs in through CLIENT (authd/client.h;
 * the caller keeps it until smtp_server_free); without one AUTH is not
 * offered */
void smtp_server_set_auth_client(struct smtp_server *server, struct authd_client *client);
/* smtp_server_set_srs - rewrite the sender of mail that aliases forward to
 * other domains, and take bounces to SRS addresses (mailauth.h); SRS is kept
 * until smtp_server_free.  Without it (NULL) neither happens. */
struct srs_settings;
void smtp_server_set_srs(struct smtp_server *server, const struct srs_settings *srs);
/* smtp_server_set_mailauth - check mail that mx listeners receive without
 * AUTH (SPF, DKIM, DMARC, Authentication-Results: smtp/verify.c) with DNS
 * and PSL (the caller keeps both until smtp_server_free); without them no
 * check is made */
void smtp_server_set_mailauth(struct smtp_server *server, struct dns_resolver *dns,
			      const struct mailauth_psl *psl);
/* smtp_server_set_keys_client - ARC seals are signed by the keys process
 * through CLIENT (the caller keeps it until smtp_server_free) */
void smtp_server_set_keys_client(struct smtp_server *server, struct ipc_client *client);
/* smtp_server_set_signer - mail from authenticated accounts is DKIM-signed
 * with the keys of its From: domain through SIGNER (keysd.h; the caller
 * keeps it until smtp_server_free) */
struct keysd_signer;
void smtp_server_set_signer(struct smtp_server *server, struct keysd_signer *signer);
/* smtp_server_set_reporter - each DMARC evaluation of a domain that asks
 * for aggregate reports (rua=) is kept through REPORTER (reports.h; NULL:
 * none, as before the caller frees it) */
struct dmarc_reporter;
void smtp_server_set_reporter(struct smtp_server *server, struct dmarc_reporter *reporter);
/* smtp_server_accept - a net_accept_fn: CTX is the smtp_server; owns FD */
void smtp_server_accept(void *ctx, const struct config_listener *listener, int fd,
			const struct sockaddr *sa, socklen_t salen);
/* smtp_server_limits - the connection count the IMAP server shares */
struct net_conn_limits;
struct net_conn_limits *smtp_server_limits(struct smtp_server *server);
/* smtp_server_session_count - sessions open now */
size_t smtp_server_session_count(const struct smtp_server *server);
/* smtp_server_session_stats - TLS handshakes and AUTH failures since the
 * start (net.h) */
struct net_session_stats;
const struct net_session_stats *smtp_server_session_stats(const struct smtp_server *server);
/* smtp_server_accept_latency - seconds from the end of a message's data to
 * its "250 ... queued" (checks, signing, the durable queue write) */
struct histogram;
const struct histogram *smtp_server_accept_latency(const struct smtp_server *server);
/* smtp_server_drain - the start of a shutdown (SIGTERM): every session gets
 * "421 4.3.2 Service shutting down" and is closed in order (replies written,
 * TLS ended with close_notify); one whose message is being stored gets its
 * answer (250 only once durable) first.  DRAINED(CTX) runs from the loop once
 * no session is left.  No new session may start afterwards. */
void smtp_server_drain(struct smtp_server *server, void (*drained)(void *ctx), void *ctx);
/* smtp_server_close_sessions - 421 to every session and close them all now
 * (a best-effort write each): for what a drain did not finish in time */
void smtp_server_close_sessions(struct smtp_server *server);
/* smtp_server_free - closes any session left and frees; answers from the queue
 * for closed sessions must have arrived (pool_free) before this */
void smtp_server_free(struct smtp_server **server);

#endif
