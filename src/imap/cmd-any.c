/* imap/cmd-any - the commands valid in every state (RFC 9051 6.1):
 * CAPABILITY, NOOP, LOGOUT */
#include "imap/session.h"

#include "config/config.h"
#include "util/buf.h"

void imap_cmd_capability(struct imap_session *s, const struct imap_command *cmd, bool uid)
{
	(void)uid;
	if (cmd->count != 0) {
		imap_reply_bad(s, NULL, "CAPABILITY takes no arguments");
		return;
	}
	struct buf caps;
	buf_init(&caps);
	imap_capability_append(s, &caps);
	imap_reply_untagged(s, "CAPABILITY %.*s", (int)caps.len, caps.data);
	buf_free(&caps);
	imap_reply_ok(s, NULL, "CAPABILITY completed");
}

/* imap_cmd_noop - RFC 9051 6.1.2: nothing, but a selected mailbox's
 * updates are sent before the OK (cmd-select.c's, once it exists) */
void imap_cmd_noop(struct imap_session *s, const struct imap_command *cmd, bool uid)
{
	(void)uid;
	if (cmd->count != 0) {
		imap_reply_bad(s, NULL, "NOOP takes no arguments");
		return;
	}
	imap_reply_ok(s, NULL, "NOOP completed");
}

/* imap_cmd_logout - RFC 9051 6.1.3: BYE, then the tagged OK, then close */
void imap_cmd_logout(struct imap_session *s, const struct imap_command *cmd, bool uid)
{
	(void)uid;
	if (cmd->count != 0) {
		imap_reply_bad(s, NULL, "LOGOUT takes no arguments");
		return;
	}
	s->state = IMAP_STATE_LOGOUT;
	imap_reply_untagged(s, "BYE %s Petrel IMAP logging out", s->config->hostname);
	imap_reply_ok(s, NULL, "LOGOUT completed");
	imap_session_close(s);
}
