/* ipc - the messages Petrel's processes exchange over unix socket pairs
 * (privilege separation, issue 13): the network process asks the auth
 * process "is this password (or SCRAM proof) right?" and the keys process
 * "sign this digest"; neither helper ever sees client protocol text.
 *
 * Wire format (all integers big-endian):
 *   u32 length    of what follows, 6..IPC_FRAME_MAX
 *   u8  type      one of enum ipc_type (any other value is malformed)
 *   u32 id        chosen by the caller; a reply carries its request's id
 *   u8  count     number of fields, 0..IPC_FIELDS_MAX
 *   count x { u16 length, bytes }   nothing may follow the last field
 * A frame that breaks any of these rules is malformed: the receiver logs it
 * and closes the connection; it never acts on any part of it.  The meaning of
 * each field per type is listed with enum ipc_type; a well-formed frame whose
 * fields do not fit its type gets IPC_R_BAD (helpers) or is treated as no
 * answer (network process).
 *
 * Codec (ipc_frame_*, ipc_decode, ipc_encode, ipc_field_*): pure functions,
 * no I/O, fuzzed (fuzz/fuzz-ipc.c).  The client and server halves work on a
 * libevent loop; fd passing (SCM_RIGHTS) is for the supervisor's channel.
 */
#ifndef PETREL_IPC_H
#define PETREL_IPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

#define IPC_FRAME_MAX 65536      /* payload bytes after the u32 length */
#define IPC_FIELDS_MAX 8
#define IPC_HEADER_LEN 6         /* type, id, count */

enum ipc_type {
	/* ---- network -> auth ---- */
	/* user, password, client address (text, as logged) ->
	 * R_OK(account name) | R_OK(account name, "", ticket) with [cluster]
	 * secret_file (authd/ticket.h) | R_OK(account, scopes) for an API key |
	 * R_FAIL(reason, delay u32, locked_until u64) |
	 * R_LOCKED(locked_until u64) | R_TEMPFAIL(reason) */
	IPC_AUTH_PASSWORD = 1,
	/* user -> R_OK(iterations u32, salt bytes): the account's, or for an
	 * unknown user stable fake ones (never tells which) | R_TEMPFAIL(reason) */
	IPC_AUTH_SCRAM_START = 2,
	/* user, client address, AuthMessage (RFC 5802 3, opaque bytes), ClientProof
	 * (32 bytes) -> R_OK(account name, ServerSignature 32 bytes [, ticket]) |
	 * R_FAIL(reason, delay u32, locked_until u64) | R_LOCKED(locked_until u64) |
	 * R_TEMPFAIL(reason) */
	IPC_AUTH_SCRAM_PROOF = 3,
	/* account (a PLAIN authzid), ticket (its password), client address ->
	 * R_OK(account name) | R_FAIL | R_LOCKED | R_TEMPFAIL, as PASSWORD:
	 * another node's login on the account's behalf (authd/ticket.h) */
	IPC_AUTH_TICKET = 4,
	/* API keys managed over HTTP (/v3/api_keys, http/apikeys.c), for the
	 * account the network process authorized with a key of its own:
	 * account -> R_OK(text: a line "ID TAB SCOPES TAB NAME LF" per key,
	 * oldest first) | R_TEMPFAIL(reason) */
	IPC_AUTH_APIKEY_LIST = 5,
	/* account, name, scopes (space-separated) -> R_OK(id, key: shown once) |
	 * R_FAIL("too-many-keys") | R_TEMPFAIL(reason) */
	IPC_AUTH_APIKEY_ADD = 6,
	/* account, key id -> R_OK() | R_FAIL("no-such-key": none of the
	 * account's) | R_TEMPFAIL(reason) */
	IPC_AUTH_APIKEY_DEL = 7,
	/* account, key id, name [, scopes] -> R_OK(name, scopes) as they are
	 * now | R_FAIL("no-such-key") | R_TEMPFAIL(reason) */
	IPC_AUTH_APIKEY_SET = 8,
	/* the web pages' password (the sign-up's, a reset's: http/web-signup.c,
	 * web-reset.c): account, password -> R_OK(account, lower-cased) |
	 * R_TEMPFAIL(reason).  The
	 * auth process hashes it as `petrel account passwd` does (crypt(5) and
	 * SCRAM credentials) and writes them, replacing any.  It cannot tell
	 * whether the network process may: that process already decides every
	 * other right of an account (it owns the store), so this gives it no
	 * secret it could not reach, and it still never sees a hash. */
	IPC_AUTH_PASSWORD_SET = 9,
	/* ---- network -> keys ---- */
	/* (no field) -> R_OK(for each key: key id, algorithm, public key DER),
	 * at most IPC_FIELDS_MAX / 3 keys per reply, starting at the index in the
	 * optional first field (u32) when the request has one */
	IPC_KEYS_LIST = 16,
	/* key id, algorithm ("rsa-sha256" | "ed25519-sha256"), SHA-256 digest
	 * (32 bytes) -> R_OK(signature bytes) | R_FAIL(reason) */
	IPC_KEYS_SIGN = 17,
	/* account -> R_OK(its event webhook key: SubjectPublicKeyInfo DER of
	 * ECDSA P-256) | R_FAIL(reason) */
	IPC_KEYS_WEBHOOK_KEY = 18,
	/* account, SHA-256 digest (32 bytes) -> R_OK(ECDSA signature, DER) |
	 * R_FAIL(reason) */
	IPC_KEYS_WEBHOOK_SIGN = 19,

	/* ---- replies ---- */
	IPC_R_OK = 128,
	IPC_R_FAIL = 129,
	IPC_R_LOCKED = 130,
	IPC_R_TEMPFAIL = 131,
	IPC_R_BAD = 132,         /* reason: the request did not fit its type */
};

struct ipc_field {
	const void *data;
	size_t len;
};

/* A decoded frame: fields point into the buffer it was decoded from. */
struct ipc_msg {
	uint8_t type;
	uint32_t id;
	unsigned count;
	struct ipc_field field[IPC_FIELDS_MAX];
};

/* ---- codec (pure) ------------------------------------------------------------ */

enum ipc_frame_status { IPC_FRAME_NEED_MORE, IPC_FRAME_OK, IPC_FRAME_MALFORMED };
/* ipc_frame_find - in AVAIL bytes at DATA, a whole frame? OK with
 * *frame_len_r = 4 + its length; MALFORMED when the length is out of range */
enum ipc_frame_status ipc_frame_find(const unsigned char *data, size_t avail,
				     size_t *frame_len_r);
/* ipc_decode - one whole frame (with its u32 length) into MSG; -1 malformed */
int ipc_decode(const unsigned char *frame, size_t len, struct ipc_msg *msg);
/* ipc_encode - append a frame to OUT; -1 (nothing appended) if it would be
 * larger than IPC_FRAME_MAX, COUNT > IPC_FIELDS_MAX, a field > 65535 or TYPE
 * is not an enum ipc_type */
int ipc_encode(struct buf *out, uint8_t type, uint32_t id, unsigned count,
	       const struct ipc_field *fields);

/* Field readers: false when field I is missing or has the wrong shape. */
bool ipc_field_u32(const struct ipc_msg *msg, unsigned i, uint32_t *v_r);     /* 4 bytes */
bool ipc_field_u64(const struct ipc_msg *msg, unsigned i, uint64_t *v_r);     /* 8 bytes */
/* ipc_field_text - field I as a malloc'd NUL-terminated string: 1..MAX bytes,
 * no NUL byte inside */
bool ipc_field_text(const struct ipc_msg *msg, unsigned i, size_t max, char **text_r);
/* ipc_field_bytes - field I exactly LEN bytes long; *data_r points into MSG */
bool ipc_field_bytes(const struct ipc_msg *msg, unsigned i, size_t len, const void **data_r);
/* Field writers: fill BUF (8 bytes) and return a field over it. */
struct ipc_field ipc_u32(uint32_t v, unsigned char buf[8]);
struct ipc_field ipc_u64(uint64_t v, unsigned char buf[8]);
struct ipc_field ipc_text(const char *s);

/* ---- client: the network process's side, on its event loop -------------------- */

/* Replies (server) or requests (client) waiting to be sent beyond this: the
 * peer is not reading; the connection is treated as closed (ipc-overflow). */
#define IPC_OUTPUT_MAX (1024 * 1024)
/* Calls waiting for an answer on one client; more get NULL at once. */
#define IPC_CLIENT_PENDING_MAX 65536

struct event_base;
struct ipc_client;

/* ipc_reply_fn - the answer to a call; REPLY NULL when there is none: the
 * helper is not connected, its connection broke, it sent a malformed frame,
 * or TIMEOUT_MS passed.  Runs on the loop, never inside ipc_client_call.
 * REPLY (a reply type, its id the call's) and its fields are valid during
 * the callback only.  A reply whose call has timed out or was cancelled is
 * dropped; a reply with an id never sent on this connection, or of a request
 * type, is malformed: the connection is closed and every pending call gets
 * NULL. */
typedef void ipc_reply_fn(void *ctx, const struct ipc_msg *reply);

/* ipc_client_create - NAME for logs ("auth", "keys"); TIMEOUT_MS > 0 */
struct ipc_client *ipc_client_create(struct event_base *base, const char *name,
				     unsigned timeout_ms);
/* ipc_client_set_fd - talk over FD from now on (the client owns it; -1: no
 * connection); the calls pending on the previous connection get NULL */
void ipc_client_set_fd(struct ipc_client *client, int fd);
bool ipc_client_connected(const struct ipc_client *client);
/* ipc_client_connection - the number of the current (or last) connection:
 * it changes each time ipc_client_set_fd gives a new one (a helper that was
 * started again); 0 before the first */
uint64_t ipc_client_connection(const struct ipc_client *client);
/* ipc_client_call - send a request; returns its id (never 0).  CB gets the
 * reply later (see ipc_reply_fn). */
uint32_t ipc_client_call(struct ipc_client *client, uint8_t type, unsigned count,
			 const struct ipc_field *fields, ipc_reply_fn *cb, void *ctx);
/* ipc_client_cancel - the caller is gone (its session closed): CB of call ID
 * will not run */
void ipc_client_cancel(struct ipc_client *client, uint32_t id);
/* ipc_client_free - pending callbacks do not run (may be called from one) */
void ipc_client_free(struct ipc_client **client);

/* ---- server: a helper's side, on its event loop ------------------------------- */

struct ipc_server;
/* ipc_request_fn - one well-formed frame (any type: the helper answers
 * IPC_R_BAD to what it does not serve); answer with ipc_server_reply, now or
 * later (from the loop thread), exactly once.  REQ and its fields are valid
 * during the callback only. */
typedef void ipc_request_fn(void *ctx, struct ipc_server *server, const struct ipc_msg *req);
/* ipc_closed_fn - the peer closed the connection or sent a malformed frame
 * (logged by the server as ipc-malformed with the process NAME) */
typedef void ipc_closed_fn(void *ctx);

/* ipc_server_create - serve requests on FD (the server owns it).  CLOSED_CB
 * runs once, from the loop (never inside ipc_server_reply); from then on
 * nothing is read and replies are dropped.  Either callback may free the
 * server. */

struct ipc_server *ipc_server_create(struct event_base *base, const char *name, int fd,
				     ipc_request_fn *request_cb, ipc_closed_fn *closed_cb,
				     void *ctx);
/* ipc_server_reply - queue a reply; one that cannot be encoded (too large)
 * is logged and replaced by IPC_R_TEMPFAIL("reply too large") */
void ipc_server_reply(struct ipc_server *server, uint32_t id, uint8_t type, unsigned count,
		      const struct ipc_field *fields);
void ipc_server_free(struct ipc_server **server);

/* ---- descriptor passing (the supervisor's channel to the network process) ----- */

/* ipc_fd_send - send FD with one byte TAG over unix socket SOCK; 0, or -1
 * with errno (on a non-blocking SOCK whose peer does not read: EAGAIN, never
 * a wait) */
int ipc_fd_send(int sock, uint8_t tag, int fd);
/* ipc_fd_recv - receive one; 0 and *tag_r, *fd_r (O_CLOEXEC); 1 at EOF; -1 error
 * (a message without exactly one descriptor is an error, and any it carried are closed;
 * errno EAGAIN when SOCK is non-blocking and nothing is there yet) */
int ipc_fd_recv(int sock, uint8_t *tag_r, int *fd_r);

#endif
