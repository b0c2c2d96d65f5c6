/* pop3/parse - POP3 command lines and the dot-stuffed writing of messages
 * into RETR and TOP responses (see parse.h). */
#include <string.h>
#include <strings.h>

#include "pop3/parse.h"
#include "util/buf.h"

static const struct {
	const char *name;
	enum pop3_verb verb;
	unsigned min_args, max_args;
} verbs[] = {
	{ "USER", POP3_VERB_USER, 1, 1 }, { "PASS", POP3_VERB_PASS, 1, 1 },
	{ "AUTH", POP3_VERB_AUTH, 0, 2 }, { "STLS", POP3_VERB_STLS, 0, 0 },
	{ "CAPA", POP3_VERB_CAPA, 0, 0 }, { "STAT", POP3_VERB_STAT, 0, 0 },
	{ "LIST", POP3_VERB_LIST, 0, 1 }, { "RETR", POP3_VERB_RETR, 1, 1 },
	{ "DELE", POP3_VERB_DELE, 1, 1 }, { "NOOP", POP3_VERB_NOOP, 0, 0 },
	{ "RSET", POP3_VERB_RSET, 0, 0 }, { "TOP", POP3_VERB_TOP, 2, 2 },
	{ "UIDL", POP3_VERB_UIDL, 0, 1 }, { "QUIT", POP3_VERB_QUIT, 0, 0 },
	{ "UTF8", POP3_VERB_UTF8, 0, 0 },
};

int pop3_command_parse(const char *line, size_t len, struct pop3_command *cmd_r,
		       const char **error_r)
{
	memset(cmd_r, 0, sizeof(*cmd_r));
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];
		if (c < 0x20 || c == 0x7f) {
			*error_r = "Control characters in the command";
			return -1;
		}
	}
	size_t name_len = 0;
	while (name_len < len && line[name_len] != ' ')
		name_len++;
	if (name_len == 0) {
		*error_r = len == 0 ? "Empty command" : "Command starts with a space";
		return -1;
	}
	size_t v = 0;
	while (v < sizeof(verbs) / sizeof(verbs[0]) &&
	       (strlen(verbs[v].name) != name_len || strncasecmp(verbs[v].name, line, name_len) != 0))
		v++;
	if (v == sizeof(verbs) / sizeof(verbs[0])) {
		*error_r = "Unknown command";
		return -1;
	}
	cmd_r->verb = verbs[v].verb;
	size_t pos = name_len;
	if (cmd_r->verb == POP3_VERB_PASS && pos < len) {
		/* RFC 1939 7: the password is the rest of the line, spaces and all */
		cmd_r->args[0] = line + pos + 1;
		cmd_r->arg_lens[0] = len - pos - 1;
		cmd_r->argc = cmd_r->arg_lens[0] > 0 ? 1 : 0;
		pos = len;
	}
	while (pos < len) {
		/* pos is at the space before an argument */
		size_t start = pos + 1, end = start;
		while (end < len && line[end] != ' ')
			end++;
		if (end == start) {
			*error_r = "Empty argument (two spaces, or a space at the end)";
			return -1;
		}
		if (cmd_r->argc == verbs[v].max_args) {
			*error_r = "Too many arguments";
			return -1;
		}
		cmd_r->args[cmd_r->argc] = line + start;
		cmd_r->arg_lens[cmd_r->argc++] = end - start;
		pos = end;
	}
	for (unsigned i = 0; i < cmd_r->argc; i++) {
		if (cmd_r->arg_lens[i] > POP3_ARG_MAX) {
			*error_r = "Argument too long";
			return -1;
		}
	}
	if (cmd_r->argc < verbs[v].min_args) {
		*error_r = "Missing argument";
		return -1;
	}
	return 0;
}

int pop3_number_parse(const char *s, size_t len, bool zero_ok, uint32_t *n_r)
{
	uint64_t n = 0;
	if (len == 0 || len > 10)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		n = n * 10 + (uint64_t)(s[i] - '0');
	}
	if (n >= UINT32_MAX || (n == 0 && !zero_ok))
		return -1;
	*n_r = (uint32_t)n;
	return 0;
}

void pop3_writer_init(struct pop3_writer *w, bool top, uint32_t lines)
{
	memset(w, 0, sizeof(*w));
	w->line_start = true;
	w->top = top;
	w->body_lines = lines;
}

/* writer_line_end - a line (LINE_LEN octets before its LF) was written */
static void writer_line_end(struct pop3_writer *w, uint64_t line_len, bool cr)
{
	bool empty = line_len == 0 || (line_len == 1 && cr);
	if (!w->in_body) {
		if (empty)
			w->in_body = true;
	} else if (w->top && w->body_lines > 0) {
		w->body_lines--;
	}
	if (w->top && w->in_body && w->body_lines == 0)
		w->done = true;
}

void pop3_writer_feed(struct pop3_writer *w, const char *data, size_t len, struct buf *out)
{
	size_t i = 0;
	while (i < len && !w->done) {
		if (w->line_start && data[i] == '.')
			buf_append(out, ".", 1);   /* RFC 1939 3: byte-stuffing */
		const char *lf = memchr(data + i, '\n', len - i);
		size_t end = lf ? (size_t)(lf - data) : len;
		size_t run = end - i;
		if (run > 0) {
			w->cr = data[end - 1] == '\r';
			w->line_len += run;
		}
		buf_append(out, data + i, run + (lf ? 1 : 0));
		if (lf) {
			writer_line_end(w, w->line_len, w->cr);
			w->line_len = 0;
			w->cr = false;
			w->line_start = true;
			i = end + 1;
		} else {
			w->line_start = false;
			i = end;
		}
	}
}

void pop3_writer_finish(struct pop3_writer *w, struct buf *out)
{
	if (!w->line_start && !w->done)
		buf_append(out, w->cr ? "\n" : "\r\n", w->cr ? 1 : 2);
	buf_append(out, ".\r\n", 3);
}
