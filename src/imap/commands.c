/* imap/commands - the command table: every command the session knows, the
 * states it is valid in and its handler (session.h says how to add one). */
#include "imap/session.h"

#include <strings.h>

static const struct imap_command_def commands[] = {
	/* cmd-any.c (RFC 9051 6.1) */
	{ "CAPABILITY", IMAP_IN_ANY, 0, imap_cmd_capability },
	{ "NOOP", IMAP_IN_ANY, 0, imap_cmd_noop },
	{ "LOGOUT", IMAP_IN_ANY, 0, imap_cmd_logout },
	{ "ID", IMAP_IN_ANY, 0, imap_cmd_id },   /* RFC 2971 */
	/* cmd-session.c */
	{ "ENABLE", IMAP_IN_AUTH, 0, imap_cmd_enable },             /* RFC 5161 */
	{ "NAMESPACE", IMAP_IN_LOGGED_IN, 0, imap_cmd_namespace },  /* RFC 2342 */
	{ "COMPRESS", IMAP_IN_LOGGED_IN, 0, imap_cmd_compress },    /* RFC 4978 */
	/* cmd-auth.c (RFC 9051 6.2) */
	{ "STARTTLS", IMAP_IN_NOT_AUTH, 0, imap_cmd_starttls },
	{ "LOGIN", IMAP_IN_NOT_AUTH, 0, imap_cmd_login },
	{ "AUTHENTICATE", IMAP_IN_NOT_AUTH, 0, imap_cmd_authenticate },
	/* cmd-select.c (RFC 9051 6.3.2-3, 6.4.1, 6.4.3; RFC 3691; RFC 4315) */
	{ "SELECT", IMAP_IN_LOGGED_IN, 0, imap_cmd_select },
	{ "EXAMINE", IMAP_IN_LOGGED_IN, 0, imap_cmd_examine },
	{ "CLOSE", IMAP_IN_SELECTED, 0, imap_cmd_close },
	{ "CHECK", IMAP_IN_SELECTED, 0, imap_cmd_check },   /* RFC 3501 6.4.1; cmd-any.c */
	{ "UNSELECT", IMAP_IN_SELECTED, 0, imap_cmd_unselect },
	{ "EXPUNGE", IMAP_IN_SELECTED, IMAP_CMD_UID, imap_cmd_expunge },
	/* cmd-mailbox.c (RFC 9051 6.3.4-11, RFC 3501 6.3.9, RFC 5258) */
	{ "LIST", IMAP_IN_LOGGED_IN, 0, imap_cmd_list },
	{ "LSUB", IMAP_IN_LOGGED_IN, 0, imap_cmd_lsub },
	{ "CREATE", IMAP_IN_LOGGED_IN, 0, imap_cmd_create },
	{ "DELETE", IMAP_IN_LOGGED_IN, 0, imap_cmd_delete },
	{ "RENAME", IMAP_IN_LOGGED_IN, 0, imap_cmd_rename },
	{ "SUBSCRIBE", IMAP_IN_LOGGED_IN, 0, imap_cmd_subscribe },
	{ "UNSUBSCRIBE", IMAP_IN_LOGGED_IN, 0, imap_cmd_unsubscribe },
	{ "STATUS", IMAP_IN_LOGGED_IN, 0, imap_cmd_status },
	/* cmd-append.c (RFC 9051 6.3.12, 6.4.7; RFC 6851) */
	{ "APPEND", IMAP_IN_LOGGED_IN, 0, imap_cmd_append },
	{ "COPY", IMAP_IN_SELECTED, IMAP_CMD_UID, imap_cmd_copy },
	{ "MOVE", IMAP_IN_SELECTED, IMAP_CMD_UID, imap_cmd_move },
	/* cmd-fetch.c, cmd-store.c, cmd-search.c (RFC 9051 6.4.4-6) */
	{ "FETCH", IMAP_IN_SELECTED, IMAP_CMD_UID, imap_cmd_fetch },
	{ "STORE", IMAP_IN_SELECTED, IMAP_CMD_UID, imap_cmd_store },
	{ "SEARCH", IMAP_IN_SELECTED, IMAP_CMD_UID, imap_cmd_search },
	/* cmd-idle.c (RFC 2177) */
	{ "IDLE", IMAP_IN_LOGGED_IN, 0, imap_cmd_idle },
	/* cmd-quota.c (RFC 9208) */
	{ "GETQUOTA", IMAP_IN_LOGGED_IN, 0, imap_cmd_getquota },
	{ "GETQUOTAROOT", IMAP_IN_LOGGED_IN, 0, imap_cmd_getquotaroot },
	{ "SETQUOTA", IMAP_IN_LOGGED_IN, 0, imap_cmd_setquota },
};

const struct imap_command_def *imap_command_find(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcasecmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}
