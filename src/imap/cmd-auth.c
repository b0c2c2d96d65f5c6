/* imap/cmd-auth - the not-authenticated state's commands (RFC 9051 6.2):
 * STARTTLS */
#include "imap/session.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "config/config.h"
#include "util/log.h"

/* imap_session_login_allowed - a password may be sent now: under TLS, or
 * from loopback with [auth] plaintext_loopback (as SMTP's AUTH) */
bool imap_session_login_allowed(const struct imap_session *s)
{
	return s->tls || (s->config->auth.plaintext_loopback && imap_session_is_loopback(s));
}

/* imap_cmd_starttls - RFC 9051 6.2.1: OK, then the TLS handshake; what the
 * client learnt before (capabilities) it must ask again */
void imap_cmd_starttls(struct imap_session *s, const struct imap_command *cmd, bool uid)
{
	(void)uid;
	if (cmd->count != 0) {
		imap_reply_bad(s, NULL, "STARTTLS takes no arguments");
		return;
	}
	if (s->tls) {
		imap_reply_bad(s, NULL, "TLS is already active");
		return;
	}
	if (!imap_session_offers_starttls(s)) {
		imap_reply_bad(s, NULL, "STARTTLS is not available");
		return;
	}
	if (evbuffer_get_length(bufferevent_get_input(s->bev)) > 0) {
		/* CVE-2011-0411 class: what was sent in plain text after
		 * STARTTLS must never be read as if it came over TLS */
		log_info("rejected", "session=%s client=%s reason=pipelined-after-starttls",
			 s->sid, s->client);
		imap_reply_bad(s, NULL, "Commands pipelined after STARTTLS are refused");
		imap_session_bye(s, "Pipelining after STARTTLS");
		return;
	}
	imap_reply_ok(s, NULL, "Begin TLS negotiation now");
	imap_session_start_tls(s);
}
