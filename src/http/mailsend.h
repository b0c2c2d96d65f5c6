/* http/mailsend - SendGrid v3's POST /v3/mail/send (docs/http.md): the
 * request's JSON read and validated into a struct mailsend_request, and
 * each of its personalizations written as one RFC 5322 message.
 *
 * Both halves do no I/O and keep no state: the handler (mailsend.c) calls
 * them on a worker, the unit tests and fuzz/fuzz-mailsend.c directly.
 *
 * Ownership: mailsend_parse allocates the request (mailsend_request_free);
 * its strings are its own, NUL-terminated UTF-8 without NUL inside.
 * Errors: SendGrid's list, {"errors":[{"message","field","help"}]}, every
 * problem found gathered in one JSON value for a 400 answer, each with the
 * path of the field ("personalizations.0.to.1.email").
 */
#ifndef PETREL_HTTP_MAILSEND_H
#define PETREL_HTTP_MAILSEND_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <jansson.h>

#include "util/buf.h"

/* struct mailsend_limits - [http]'s send_* settings (configuration.md) */
struct mailsend_limits {
	size_t personalizations;   /* personalizations per request: 1000 */
	size_t recipients;         /* to + cc + bcc of all personalizations: 1000 */
	size_t categories;         /* categories per request: 10 */
	size_t custom_args_size;   /* octets of the custom_args of the request, and
				      of each personalization: 10000 */
	size_t substitutions_size; /* octets of a personalization's substitutions,
				      keys and values: 10000 */
	size_t message_size;       /* octets of one written message ([limits]
				      message_size): substitutions cannot grow it past */
	unsigned send_at_max;      /* seconds ahead a send_at may be: 72 h */
};

struct mailsend_address {
	char *email;               /* "local@domain", ASCII, checked */
	char *name;                /* or NULL */
};

struct mailsend_field {            /* a header, substitution or custom arg */
	char *name;
	char *value;
};

struct mailsend_personalization {
	struct mailsend_address *to, *cc, *bcc;
	size_t to_count, cc_count, bcc_count;
	struct mailsend_address from;    /* email NULL: the request's */
	char *subject;                   /* or NULL: the request's */
	struct mailsend_field *headers;  /* over the request's of the same name */
	size_t header_count;
	struct mailsend_field *substitutions;
	size_t substitution_count;
	struct mailsend_field *custom_args;
	size_t custom_arg_count;
	time_t send_at;                  /* as given (maybe past); 0: the request's */
};

struct mailsend_content {
	char *type;                      /* "text/plain", "text/html", ... */
	char *value;
};

struct mailsend_attachment {
	char *filename;
	char *type;                      /* or NULL: application/octet-stream */
	bool is_inline;                  /* disposition inline (needs content_id) */
	char *content_id;                /* or NULL */
	struct buf content;              /* decoded from its base64 */
};

struct mailsend_request {
	struct mailsend_personalization *personalizations;
	size_t personalization_count;
	size_t recipient_count;          /* to + cc + bcc of all of them */
	struct mailsend_address from;
	struct mailsend_address *reply_to;  /* reply_to, or reply_to_list */
	size_t reply_to_count;
	char *subject;                   /* or NULL: every personalization has one */
	struct mailsend_content *contents;  /* text/plain first, then text/html */
	size_t content_count;
	struct mailsend_attachment *attachments;
	size_t attachment_count;
	struct mailsend_field *headers;
	size_t header_count;
	char **categories;
	size_t category_count;
	struct mailsend_field *custom_args;
	size_t custom_arg_count;
	time_t send_at;                  /* 0: not given */
	bool sandbox;                    /* mail_settings.sandbox_mode.enable */
	bool subscription_tracking;      /* tracking_settings.subscription_tracking.enable:
					    RFC 8058 one-click unsubscribe fields */
};

/* mailsend_parse - the request body JSON[0..LEN) against LIMITS, at NOW
 * (send_at: a time to come within LIMITS' send_at_max, or one that has
 * come: sent now).  0 and *REQUEST_R; or -1 and *ERRORS_R, SendGrid's
 * error list for a 400 (the caller owns it), every problem found in it. */
int mailsend_parse(const char *json, size_t len, const struct mailsend_limits *limits,
		   time_t now, struct mailsend_request **request_r, json_t **errors_r);
void mailsend_request_free(struct mailsend_request **request);

/* struct mailsend_stamp - what makes a written message unique: given by the
 * caller so that tests write the same octets every time */
struct mailsend_stamp {
	time_t date;                     /* Date: */
	const char *id;                  /* Message-ID: <ID@HOSTNAME>, boundaries */
	const char *hostname;
};

/* mailsend_compose - the message of personalization INDEX of REQUEST,
 * appended to OUT with CRLF line ends: From, Reply-To, To, Cc (never Bcc),
 * Subject, Date, Message-ID, MIME-Version, the request's and the
 * personalization's headers, then a MIME body (multipart/alternative for
 * several contents, multipart/related around inline attachments,
 * multipart/mixed around the others), substitutions applied to subject
 * and contents.  0; -1 and *error_r (static text) if the message would
 * exceed the limits' message_size, or its substitutions would take more
 * than 8 key comparisons per octet of the text they are made in. */
int mailsend_compose(const struct mailsend_request *request, size_t index,
		     const struct mailsend_limits *limits, const struct mailsend_stamp *stamp,
		     struct buf *out, const char **error_r);

/* mailsend_sender - the From address of personalization INDEX: the
 * envelope sender of its message */
const char *mailsend_sender(const struct mailsend_request *request, size_t index);
/* mailsend_send_at - when personalization INDEX's message may go: its
 * send_at, else the request's, as given (a time past means now); 0: not
 * given */
time_t mailsend_send_at(const struct mailsend_request *request, size_t index);

#endif
