/* queue/bounce - delivery status notifications (RFC 3464, RFC 6522) for the
 * queue: one per message for its failed recipients, and the one delay
 * notice.  The DSN itself is built by message/dsn_build; this file decides
 * who gets it and fills it from the envelope.
 *
 * A notice goes to the envelope sender from the null sender <> (RFC 5321
 * 4.5.5), so it can never cause another notice.  A failure of mail that was
 * itself from <> is not returned (RFC 3461 6.2, "never bounce a bounce"):
 * it is dropped with a log line, or sent to the postmaster when
 * queue.double_bounce_to_postmaster is set: [domains] postmaster if set,
 * else postmaster@ the first local domain (the host name without one), the
 * address a <Postmaster> RCPT goes to when no alias or account claims it.
 */
#include "queue/queue-int.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/config.h"
#include "message/message.h"
#include "util/log.h"
#include "util/xalloc.h"

static const char *reply_status(const char *reply, char status[16], bool delay);
static const char *reply_diagnostic(const char *reply);
static const char *reply_expired(const char *reply, char **note_r);

/* reply_status - the enhanced status code a stored reply "NNN X.Y.Z ..."
 * carries, or one derived from its code (RFC 3463 3.1) */
static const char *reply_status(const char *reply, char status[16], bool delay)
{
	strcpy(status, delay ? "4.0.0" : "5.0.0");
	if (!reply || strlen(reply) < 9 || reply[3] != ' ')
		return status;
	const char *p = reply + 4;
	size_t len = strspn(p, "0123456789.");
	if (len >= 5 && len < 12 && (p[0] == '2' || p[0] == '4' || p[0] == '5') && p[1] == '.') {
		memcpy(status, p, len);
		status[len] = '\0';
	} else if (reply[0] == '4' || reply[0] == '5') {
		status[0] = reply[0];
	}
	return status;
}

/* queue_reply_is_block - see queue.h.  Classes 6 and 7 are RFC 3463 3.7
 * (message content or media) and 3.8 (security or policy); a reply
 * without a specific code says so in words or not at all, so its text
 * decides ("blocked", "blocklist", "blacklisted": DNSBL refusals). */
bool queue_reply_is_block(const char *reply)
{
	char status[16];
	if (!reply || reply[0] != '5')
		return false;
	reply_status(reply, status, false);
	if (strncmp(status + 1, ".6.", 3) == 0 || strncmp(status + 1, ".7.", 3) == 0)
		return true;
	bool specific = strncmp(status + 1, ".0.", 3) != 0;
	return !specific && (strcasestr(reply, "block") || strcasestr(reply, "blacklist"));
}

/* reply_diagnostic - "smtp; REPLY" for the Diagnostic-Code field */
static const char *reply_diagnostic(const char *reply)
{
	return reply && reply[0] ? reply : NULL;
}

/* reply_expired - for the reply of a recipient that expired in the queue
 * (QUEUE_EXPIRED_HEAD, scheduler.c): the last attempt's reply within it,
 * which the DSN reports as Postfix does (RFC 3463 X.4.7: "If possible, the
 * code for the actual problem found when delivery was attempted should be
 * returned rather than this code"), NULL if there was none (4.4.7 stays);
 * *NOTE_R gets "Message expired after 5 days in the queue." for people.
 * Any other reply is returned as it is, *NOTE_R NULL. */
static const char *reply_expired(const char *reply, char **note_r)
{
	*note_r = NULL;
	if (!reply || strncmp(reply, QUEUE_EXPIRED_HEAD, strlen(QUEUE_EXPIRED_HEAD)) != 0)
		return reply;
	const char *last = strstr(reply, QUEUE_EXPIRED_LAST);
	if (!last)
		return reply;
	const char *head = reply + strlen("451 4.4.7 ");
	*note_r = xasprintf("%.*s in the queue.", (int)(last - head), head);
	last += strlen(QUEUE_EXPIRED_LAST);
	/* a reply as attempt_group_done stores it: "NNN X.Y.Z text" */
	if (strlen(last) < 9 || last[3] != ' ' || (last[0] != '4' && last[0] != '5'))
		return NULL;
	return last;
}

struct queue_envelope *queue_bounce_build_blocking(const struct config *config,
						   const struct queue_envelope *env,
						   const char *body, size_t body_len,
						   const size_t *which, size_t count,
						   char *const *remote_mta, bool delay,
						   struct buf *out)
{
	const char *to = env->sender;
	if (to[0] == '\0') {
		/* a notice to the postmaster that fails ends here, whatever the
		 * setting: otherwise two notices could chase each other */
		bool to_postmaster_already = env->listener &&
			strcmp(env->listener, "bounce-postmaster") == 0;
		if (delay || !config->queue.double_bounce_to_postmaster || to_postmaster_already) {
			log_info("double-bounce", "queue_id=%s action=dropped", env->id);
			return NULL;
		}
		to = NULL; /* postmaster, below */
	}
	char *postmaster = NULL;
	if (!to) {
		postmaster = config->postmaster ? xstrdup(config->postmaster) :
			xasprintf("postmaster@%s", config->local_domain_count ?
				       config->local_domains[0] : config->hostname);
		to = postmaster;
	}
	char *from = xasprintf("MAILER-DAEMON@%s", config->hostname);
	struct dsn_recipient *rcpts = xcalloc(count, sizeof(*rcpts));
	char (*status)[16] = xcalloc(count, sizeof(*status));
	char **notes = xcalloc(count, sizeof(*notes));
	time_t now = time(NULL);
	for (size_t k = 0; k < count; k++) {
		const struct queue_recipient *r = &env->rcpts[which[k]];
		const char *reply = delay ? r->last_reply : reply_expired(r->last_reply, &notes[k]);
		rcpts[k].final_recipient = r->address;
		rcpts[k].original_recipient = r->orcpt;
		rcpts[k].action = delay ? "delayed" : "failed";
		if (notes[k] && !reply)
			rcpts[k].status = strcpy(status[k], "4.4.7"); /* no attempt replied */
		else
			rcpts[k].status = reply_status(reply, status[k], delay);
		rcpts[k].remote_mta = remote_mta ? remote_mta[which[k]] : NULL;
		rcpts[k].diagnostic = reply_diagnostic(reply);
		rcpts[k].note = notes[k];
		rcpts[k].last_attempt = now;
		rcpts[k].will_retry_until = delay ? env->arrival + (time_t)config->queue.lifetime : 0;
	}
	struct dsn_report report = {
		.reporting_mta = config->hostname,
		.from = from,
		.to = to,
		.envid = env->envid,
		.queue_id = env->id,
		.received_from = env->client_address,
		.arrival = env->arrival,
		.delay = delay,
		.headers_only = env->ret == QUEUE_RET_HDRS,
		.original = body,
		.original_len = body_len,
		.smtputf8 = env->smtputf8,
	};
	dsn_build(&report, rcpts, count, out);

	struct queue_envelope *dsn = queue_envelope_new();
	queue_id_new(dsn->id);
	dsn->arrival = now;
	free(dsn->sender);
	dsn->sender = xstrdup("");  /* RFC 5321 4.5.5: notices come from <> */
	dsn->smtputf8 = env->smtputf8;
	dsn->client_address = xstrdup("127.0.0.1");
	dsn->helo = xstrdup(config->hostname);
	dsn->listener = xstrdup(postmaster ? "bounce-postmaster" : "bounce");
	dsn->size = out->len;
	/* no NOTIFY: the null sender alone stops further notices (RFC 3461 6.2),
	 * and a failure of this notice must reach the double-bounce handling */
	queue_envelope_add_rcpt(dsn, to, 0, NULL);

	for (size_t k = 0; k < count; k++)
		free(notes[k]);
	free(notes);
	free(status);
	free(rcpts);
	free(from);
	free(postmaster);
	return dsn;
}
