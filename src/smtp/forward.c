/* smtp/forward - the session's side of SRS (mailauth.h): a RCPT to an SRS
 * address of ours is checked and reversed, and a transaction that an alias
 * forwards to another domain gets the SRS return path its remote deliveries
 * use (queue_envelope.srs_sender; local deliveries and our own bounces keep
 * the real sender).
 *
 * Only unauthenticated mail is rewritten: an authenticated account sends as
 * addresses it may use, which our SPF record covers already.  All on the
 * loop thread: an HMAC-SHA1 of a few dozen bytes.
 */
#include "smtp/session.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "config/config.h"
#include "mailauth/mailauth.h"
#include "queue/queue.h"
#include "util/log.h"
#include "util/xalloc.h"

void smtp_server_set_srs(struct smtp_server *server, const struct srs_settings *srs)
{
	server->srs = srs;
}

void smtp_server_set_keys_client(struct smtp_server *server, struct ipc_client *client)
{
	server->keys = client;
}

bool smtp_forward_rcpt(struct smtp_session *s, const struct smtp_path *path,
		       const struct smtp_rcpt_params *params)
{
	const struct srs_settings *srs = s->server->srs;
	size_t len = strlen(path->address);
	if (!srs || !srs_address_is_srs(path->address, len))
		return false;
	char *original = NULL;
	const char *error = NULL;
	char to[300];
	log_escape(to, sizeof(to), path->address, len);
	int ret = srs_reverse(srs, path->address, len, (long long)time(NULL), &original, &error);
	if (ret == 0)
		return false;  /* another domain's, or no SRS address after all */
	if (ret < 0) {
		log_info("rejected", "session=%s client=%s to=%s code=550 reason=\"%s\"", s->sid,
			 s->client, to, error);
		smtp_session_event(s, "rejected", NULL, path->address, 550, error);
		smtp_session_reply(s, "550 5.1.1 <%s>: not a valid SRS address: %s", path->address,
				   error);
		smtp_session_count_error(s);
		return true;
	}
	/* the recipients limit: smtp_cmd_rcpt checked it before calling */
	char back[300];
	log_escape(back, sizeof(back), original, strlen(original));
	log_info("srs-reversed", "session=%s to=%s original=%s", s->sid, to, back);
	/* RFC 3461 4.2: ORCPT keeps the address the client gave */
	char *orcpt = params->orcpt ? NULL : xasprintf("rfc822;%s", path->address);
	queue_envelope_add_rcpt(s->env, original, params->notify,
				params->orcpt ? params->orcpt : orcpt);
	free(orcpt);
	/* a reply to the SRS address (not a bounce) is forwarded mail too */
	smtp_forward_note(s, original, "");
	free(original);
	s->rcpt_other = true;
	smtp_session_reply(s, "250 2.1.5 Ok");
	return true;
}

void smtp_forward_note(struct smtp_session *s, const char *target, const char *address)
{
	const struct srs_settings *srs = s->server->srs;
	const char *sender = s->env->sender;
	/* an alias to a mailbox of the same domain forwards nothing */
	const char *td = strrchr(target, '@'), *ad = strrchr(address, '@');
	if (ad && td && strcasecmp(td, ad) == 0)
		return;
	s->forwarded = true;
	if (!srs || s->account || s->env->srs_sender || !sender || !sender[0])
		return;
	char *rewritten = NULL;
	const char *error = NULL;
	int ret = srs_forward(srs, sender, (long long)time(NULL), &rewritten, &error);
	char from[300];
	log_escape(from, sizeof(from), sender, strlen(sender));
	if (ret < 0) {
		/* it goes out with its own sender: SPF may fail at the next hop */
		log_warn("srs-skipped", "session=%s from=%s reason=\"%s\"", s->sid, from, error);
		return;
	}
	if (ret > 0) {
		log_debug("srs-rewritten", "session=%s from=%s srs=%s", s->sid, from, rewritten);
		s->env->srs_sender = rewritten;
	}
}
