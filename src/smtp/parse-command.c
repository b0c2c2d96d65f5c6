/* smtp/parse-command - split an SMTP command line into verb and arguments.
 *
 * RFC 5321 4.1.1: a command is a verb, then SP and arguments.  Verbs are case
 * insensitive.  We are lenient on spaces: extra spaces before the arguments
 * and trailing spaces are dropped, since clients send them and no meaning
 * is lost.  An unknown verb is not an error here: the session answers it.
 */
#include "smtp/parse.h"

#include <strings.h>

#define SMTP_VERB_MAX 20  /* a longer verb is UNKNOWN without a table lookup */

struct verb_name {
	const char *name;
	size_t len;
	enum smtp_verb verb;
};

static const struct verb_name verb_names[] = {
	{ "HELO", 4, SMTP_VERB_HELO },   { "EHLO", 4, SMTP_VERB_EHLO },
	{ "MAIL", 4, SMTP_VERB_MAIL },   { "RCPT", 4, SMTP_VERB_RCPT },
	{ "DATA", 4, SMTP_VERB_DATA },   { "BDAT", 4, SMTP_VERB_BDAT },
	{ "RSET", 4, SMTP_VERB_RSET },   { "NOOP", 4, SMTP_VERB_NOOP },
	{ "QUIT", 4, SMTP_VERB_QUIT },   { "VRFY", 4, SMTP_VERB_VRFY },
	{ "EXPN", 4, SMTP_VERB_EXPN },   { "HELP", 4, SMTP_VERB_HELP },
	{ "STARTTLS", 8, SMTP_VERB_STARTTLS }, { "AUTH", 4, SMTP_VERB_AUTH },
};

static enum smtp_verb command_verb_lookup(const char *name, size_t len);
static void command_error(struct smtp_error *error_r, const char *text);

/* command_verb_lookup - the verb named by NAME[0..LEN), any case */
static enum smtp_verb command_verb_lookup(const char *name, size_t len)
{
	if (len > SMTP_VERB_MAX)
		return SMTP_VERB_UNKNOWN;
	for (size_t i = 0; i < sizeof(verb_names) / sizeof(verb_names[0]); i++) {
		if (verb_names[i].len == len &&
		    strncasecmp(verb_names[i].name, name, len) == 0)
			return verb_names[i].verb;
	}
	return SMTP_VERB_UNKNOWN;
}

static void command_error(struct smtp_error *error_r, const char *text)
{
	error_r->code = 500;
	error_r->enhanced = "5.5.2";
	error_r->text = text;
}

/* smtp_command_parse - verb up to the first SP, arguments after the spaces */
int smtp_command_parse(const char *line, size_t len, struct smtp_command *cmd_r,
		       struct smtp_error *error_r)
{
	size_t i = 0;
	size_t start;
	size_t end = len;

	cmd_r->verb = SMTP_VERB_UNKNOWN;
	cmd_r->name = line;
	cmd_r->name_len = 0;
	cmd_r->args = line + len;
	cmd_r->args_len = 0;

	while (i < len && line[i] != ' ')
		i++;
	if (i == 0) {
		command_error(error_r, len == 0 ? "Empty command" :
			      "Syntax error, command expected");
		return -1;
	}
	/* The verb is what a log line and a 500 reply may quote: keep it to
	 * printable ASCII. */
	for (size_t k = 0; k < i; k++) {
		unsigned char c = (unsigned char)line[k];
		if (c <= 0x20 || c >= 0x7f) {
			command_error(error_r, "Invalid characters in command");
			return -1;
		}
	}
	cmd_r->name_len = i;
	cmd_r->verb = command_verb_lookup(line, i);

	while (i < len && line[i] == ' ')
		i++;
	while (end > i && line[end - 1] == ' ')
		end--;
	start = i;
	cmd_r->args = line + start;
	cmd_r->args_len = end - start;
	return 0;
}
