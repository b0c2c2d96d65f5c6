/* queue/control - the control socket of a running server: `petrel queue
 * flush|hold|release|delete|bounce` reach queue_op() through it, `petrel
 * queue stats` queue_stats(), and
 * `petrel keys list|test|sign` the keys process (keysd) through the
 * network process's channel to it.
 *
 * The socket is <data_dir>/control.sock, a unix stream socket of mode 0600
 * created after privileges are dropped, so only its owner (the server's user)
 * and root can connect; the peer's uid (SO_PEERCRED) is checked again on
 * accept.  Protocol, one exchange per connection:
 *
 *   client: VERB [ID] LF        VERB = flush|hold|release|delete|bounce,
 *                               ID = 16 upper-case hex digits (only flush
 *                               may omit it: every message)
 *           stats LF            the queue's counters (queue_stats): one
 *                               "NAME VALUE" data line each, VALUE a
 *                               decimal integer; NAMEs may be added
 *           keys-list LF        every DKIM key: "ID ALGORITHM BITS DNS"
 *                               per data line, DNS the TXT record value
 *           keys-test KEY LF    sign a random SHA-256 digest with KEY in the
 *                               keys process, check it with its public half
 *           keys-sign KEY HEX LF  KEY's signature of the SHA-256 digest HEX
 *                               (64 hex digits), base64, as a data line
 *           keys-reload LF      the keys process is started again and reads
 *                               DATA_DIR/dkim/ (petrel dkim keygen, remove)
 *           dmarc-report [DAY] LF  make and send the DMARC aggregate reports
 *                               of DAY (YYYY-MM-DD, UTC; default the day
 *                               before), through the handler the server
 *                               sets (queue_control_set_handler)
 *   server: [data TEXT LF]...   lines of output (stats, keys-list, keys-sign)
 *           ok TEXT LF          done (TEXT says what; may be empty)
 *           notfound TEXT LF    no such message or key
 *           error TEXT LF       bad request or the operation failed (the
 *                               keys process not reachable among others)
 *   then the server closes the connection.
 *
 * Limits: a request line of at most CONTROL_LINE_MAX octets (LF included),
 * CONTROL_TIMEOUT seconds to send it, CONTROL_CLIENTS_MAX clients at once
 * (further ones wait in the listen backlog until a slot frees), at most
 * CONTROL_OUTPUT_MAX octets of data lines in a reply.  Bad input
 * gets "error"; it never stops the server.  After the reply the server
 * shuts its side and discards input until the client closes (at most
 * CONTROL_TIMEOUT), so the reply is never lost to a reset.
 *
 * Threads: loop thread only.  Ownership: the caller owns the returned
 * object and frees it with queue_control_free() before the queue is freed;
 * operations still running then finish without a reply.
 */
#ifndef PETREL_QUEUE_CONTROL_H
#define PETREL_QUEUE_CONTROL_H

#include <stdint.h>

struct event_base;
struct ipc_client;
struct queue;

#define CONTROL_SOCKET_NAME "control.sock"
#define CONTROL_LINE_MAX 256
#define CONTROL_TIMEOUT 10
#define CONTROL_CLIENTS_MAX 16
#define CONTROL_OUTPUT_MAX (1024 * 1024)

struct queue_control;

/* queue_control_open - listen on DATA_DIR/control.sock (a stale socket file
 * is replaced; a live one means another server uses this data folder: an
 * error).  NULL and *error_r (static text) on failure. */
struct queue_control *queue_control_open(struct event_base *base, struct queue *queue,
					 const char *data_dir, const char **error_r);
/* queue_control_set_keys - the network process's client of the keys
 * process (owned by the caller, who keeps it alive until
 * queue_control_free); NULL: the keys-* requests answer that it is not
 * reachable */
void queue_control_set_keys(struct queue_control *control, struct ipc_client *keys);
/* queue_control_handler - a request of a higher module: ARGS is what
 * follows the verb (without the space; "" when none).  It answers once,
 * now or later, with queue_control_answer(CONTROL, TOKEN, ...). */
typedef void queue_control_handler(void *ctx, const char *args, uint64_t token);
/* queue_control_set_handler - VERB's requests go to FN (one such verb:
 * "dmarc-report"); NULL: they answer that the server does not do it */
void queue_control_set_handler(struct queue_control *control, const char *verb,
			       queue_control_handler *fn, void *ctx);
/* queue_control_answer - the answer to the request TOKEN: STATUS 0 "ok",
 * else "error", with TEXT; nothing if its client has gone */
void queue_control_answer(struct queue_control *control, uint64_t token, int status,
			  const char *text);
/* queue_control_free - close every client, stop listening, remove the
 * socket file; NULLs *CONTROL.  NULL-safe. */
void queue_control_free(struct queue_control **control);

#endif
