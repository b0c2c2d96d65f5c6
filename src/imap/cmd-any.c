/* imap/cmd-any - the commands valid in every state (RFC 9051 6.1):
 * CAPABILITY, NOOP, LOGOUT; and ID (RFC 2971) */
#include "imap/session.h"

#include <string.h>

#include "config/config.h"
#include "util/buf.h"
#include "util/log.h"

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
 * updates are sent before the OK (cmd-select.c's poll) */
void imap_cmd_noop(struct imap_session *s, const struct imap_command *cmd, bool uid)
{
	(void)uid;
	if (cmd->count != 0) {
		imap_reply_bad(s, NULL, "NOOP takes no arguments");
		return;
	}
	if (s->state == IMAP_STATE_SELECTED) {
		imap_select_poll(s, "NOOP completed");
		return;
	}
	imap_reply_ok(s, NULL, "NOOP completed");
}

/* imap_cmd_check - RFC 3501 6.4.1 (IMAP4rev1; IMAP4rev2 dropped it): a checkpoint
 * of the selected mailbox. Each change is written when its command completes, so
 * CHECK does what NOOP does; mbsync sends it after its changes. */
void imap_cmd_check(struct imap_session *s, const struct imap_command *cmd, bool uid)
{
	(void)uid;
	if (cmd->count != 0) {
		imap_reply_bad(s, NULL, "CHECK takes no arguments");
		return;
	}
	imap_select_poll(s, "CHECK completed");
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

/* RFC 2971 3.3: at most 30 pairs, names of at most 30 octets, values of
 * at most 1024 */
#define ID_PAIRS_MAX 30
#define ID_NAME_MAX 30
#define ID_VALUE_MAX 1024

/* imap_cmd_id - RFC 2971: the client's identification (logged) for ours */
void imap_cmd_id(struct imap_session *s, const struct imap_command *cmd, bool uid)
{
	(void)uid;
	const struct imap_arg *arg = cmd->count == 1 ? &cmd->args[0] : NULL;
	if (!arg || (arg->type != IMAP_ARG_NIL && arg->type != IMAP_ARG_LIST)) {
		imap_reply_bad(s, NULL, "ID takes a list of field-value pairs or NIL");
		return;
	}
	if (arg->type == IMAP_ARG_LIST) {
		if (arg->count % 2 != 0 || arg->count / 2 > ID_PAIRS_MAX) {
			imap_reply_bad(s, NULL, "ID takes at most %d field-value pairs",
				       ID_PAIRS_MAX);
			return;
		}
		struct buf line;
		buf_init(&line);
		for (size_t i = 0; i < arg->count; i += 2) {
			const struct imap_arg *name = &arg->list[i], *value = &arg->list[i + 1];
			if ((name->type != IMAP_ARG_STRING && name->type != IMAP_ARG_LITERAL) ||
			    name->len > ID_NAME_MAX ||
			    !imap_arg_is_nstring(value) || value->len > ID_VALUE_MAX) {
				buf_free(&line);
				imap_reply_bad(s, NULL, "ID fields are strings of at most %d "
					       "octets, values strings or NIL", ID_NAME_MAX);
				return;
			}
			buf_printf(&line, "%s%.*s=", i ? " " : "", (int)name->len, name->data);
			if (value->type == IMAP_ARG_NIL)
				buf_append_str(&line, "NIL");
			else
				buf_append(&line, value->data, value->len);
		}
		char text[512];
		log_escape(text, sizeof(text), line.data ? line.data : "", line.len);
		log_info("client-id", "session=%s client=%s id=%s", s->sid, s->client, text);
		buf_free(&line);
	}
	imap_reply_untagged(s, "ID (\"name\" \"Petrel\" \"version\" \"%s\")", PETREL_VERSION);
	imap_reply_ok(s, NULL, "ID completed");
}
