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
	/* cmd-auth.c (RFC 9051 6.2) */
	{ "STARTTLS", IMAP_IN_NOT_AUTH, 0, imap_cmd_starttls },
};

const struct imap_command_def *imap_command_find(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcasecmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}
