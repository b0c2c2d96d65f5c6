/* imap/parse-args - a complete IMAP command as tag, name and a tree of
 * arguments (RFC 9051 9), parsed in place in the reader's buffer.
 *
 * The syntax is checked token by token: atoms, quoted strings (escapes only
 * of '"' and '\', UTF-8 allowed as RFC 9051 and RFC 6855 allow it), literals
 * and literal8s at the end of a line, parenthesized lists nested to
 * depth_max, single spaces between arguments (none needed between two
 * lists) and CRLF at the end.  Atoms are
 * read liberally, as every server must to take flags ("\Seen"), sequence
 * sets ("1:*"), list patterns ("%") and fetch items with their section
 * ("BODY.PEEK[HEADER.FIELDS (From "To")]<0.100>"): an atom may carry one
 * bracketed part inside which spaces, parentheses and quotes are allowed;
 * the fetch parser reads that part.
 *
 * Strings are unescaped where they stand (the result is never longer), and
 * every argument is NUL-terminated in place once the whole command has
 * parsed, since the octet after an argument is the separator the parser
 * still needs until then.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap/parse.h"
#include "util/utf8.h"
#include "util/xalloc.h"

struct args_parser {
	char *data;
	size_t len;
	size_t pos;
	const struct imap_parse_limits *limits;
	size_t args;          /* arguments so far, list members counted */
	const char *error;
};

static int parse_args(struct args_parser *p, unsigned depth, bool in_list,
		      struct imap_arg **args_r, size_t *count_r);
static int parse_arg(struct args_parser *p, unsigned depth, struct imap_arg *arg);
static int parse_atom(struct args_parser *p, struct imap_arg *arg);
static int parse_quoted(struct args_parser *p, struct imap_arg *arg);
static int parse_literal(struct args_parser *p, struct imap_arg *arg);
static bool at_line_end(const struct args_parser *p);
static bool atom_char_is_valid(char c);
static void args_terminate(char *data, struct imap_arg *args, size_t count);
static void args_free(struct imap_arg *args, size_t count);
static int fail(struct args_parser *p, const char *error);

bool imap_tag_char_is_valid(char c)
{
	return atom_char_is_valid(c) && c != '+' && c != '%' && c != '*' && c != '\\';
}

/* atom_char_is_valid - RFC 9051 9 ATOM-CHAR, with "]" (ASTRING-CHAR), and
 * "%", "*" (list-wildcards, sequence sets) and "\" (flags) that commands
 * use in atom position */
static bool atom_char_is_valid(char c)
{
	unsigned char u = (unsigned char)c;
	return u > 0x20 && u < 0x7f && c != '(' && c != ')' && c != '{' && c != '"';
}

static int fail(struct args_parser *p, const char *error)
{
	if (p->error == NULL)
		p->error = error;
	return -1;
}

int imap_command_parse(char *data, size_t len, const struct imap_parse_limits *limits,
		       struct imap_command *command_r, const char **tag_r,
		       const char **error_r)
{
	struct imap_parse_limits defaults = { IMAP_DEPTH_MAX_DEFAULT, IMAP_ARGS_MAX_DEFAULT };
	struct args_parser p = { .data = data, .len = len, .limits = limits ? limits : &defaults };
	memset(command_r, 0, sizeof(*command_r));
	*tag_r = NULL;

	size_t tag_len = 0;
	while (tag_len < len && imap_tag_char_is_valid(data[tag_len]))
		tag_len++;
	if (tag_len == 0 || tag_len == len || data[tag_len] != ' ') {
		*error_r = at_line_end(&p) ? "Empty command line" : "Missing or invalid tag";
		return -1;
	}
	p.pos = tag_len + 1;
	size_t name_start = p.pos;
	while (p.pos < len && atom_char_is_valid(data[p.pos]) && data[p.pos] != '[')
		p.pos++;
	size_t name_len = p.pos - name_start;
	struct imap_arg *args = NULL;
	size_t count = 0;
	if (name_len == 0) {
		fail(&p, "Missing command name");
	} else if (at_line_end(&p)) {
		p.pos += 2;
		if (p.pos != len)
			fail(&p, "Junk after the command");
	} else if (data[p.pos] != ' ') {
		fail(&p, "Invalid command name");
	} else {
		p.pos++;
		if (at_line_end(&p))
			fail(&p, "Space at the end of the command");
		else if (parse_args(&p, 0, false, &args, &count) == 0 && p.pos != len)
			fail(&p, "Junk after the command");
	}
	if (p.error != NULL) {
		args_free(args, count);
		data[tag_len] = '\0';
		*tag_r = data;
		*error_r = p.error;
		return -1;
	}
	data[tag_len] = '\0';
	data[name_start + name_len] = '\0';
	args_terminate(data, args, count);
	command_r->tag = data;
	command_r->name = data + name_start;
	command_r->args = args;
	command_r->count = count;
	return 0;
}

void imap_command_free(struct imap_command *command)
{
	args_free(command->args, command->count);
	memset(command, 0, sizeof(*command));
}

/* at_line_end - CRLF at the parser's position */
static bool at_line_end(const struct args_parser *p)
{
	return p->len - p->pos >= 2 && p->data[p->pos] == '\r' && p->data[p->pos + 1] == '\n';
}

/* parse_args - arguments separated by single spaces, up to the CRLF that
 * ends the command (consumed) or, IN_LIST, the ')' (consumed) */
static int parse_args(struct args_parser *p, unsigned depth, bool in_list,
		      struct imap_arg **args_r, size_t *count_r)
{
	struct imap_arg *args = NULL;
	size_t count = 0, cap = 0;
	for (;;) {
		if (in_list && p->pos < p->len && p->data[p->pos] == ')') {
			p->pos++;
			break;
		}
		if (at_line_end(p)) {
			if (in_list) {
				fail(p, "Missing ')'");
				goto fail;
			}
			p->pos += 2;
			break;
		}
		/* lists may follow a list without a space: response data
		 * juxtaposes them ("((a)(b))", RFC 9051 9 env-from, body-type-mpart)
		 * and reading it back takes the same grammar */
		bool adjacent = count > 0 && args[count - 1].type == IMAP_ARG_LIST &&
			p->pos < p->len && p->data[p->pos] == '(';
		if (count > 0 && !adjacent) {
			if (p->pos >= p->len || p->data[p->pos] != ' ') {
				fail(p, "Missing space between arguments");
				goto fail;
			}
			p->pos++;
		}
		if (++p->args > p->limits->args_max) {
			fail(p, "Too many arguments");
			goto fail;
		}
		if (count == cap) {
			cap = cap ? 2 * cap : 4;
			args = xrealloc(args, cap * sizeof(*args));  /* cap <= 2 * args_max */
		}
		memset(&args[count], 0, sizeof(args[count]));
		int ret = parse_arg(p, depth, &args[count]);
		count++;
		if (ret < 0)
			goto fail;
	}
	*args_r = args;
	*count_r = count;
	return 0;
fail:
	args_free(args, count);
	*args_r = NULL;
	*count_r = 0;
	return -1;
}

/* parse_arg - one argument at the parser's position */
static int parse_arg(struct args_parser *p, unsigned depth, struct imap_arg *arg)
{
	if (p->pos >= p->len || at_line_end(p))
		return fail(p, "Missing argument (a space at the end?)");
	char c = p->data[p->pos];
	if (c == ')' || c == ' ')
		return fail(p, c == ')' ? "Unexpected ')'" : "Two spaces between arguments");
	if (c == '(') {
		if (depth + 1 > p->limits->depth_max)
			return fail(p, "Lists nested too deep");
		p->pos++;
		arg->type = IMAP_ARG_LIST;
		return parse_args(p, depth + 1, true, &arg->list, &arg->count);
	}
	if (c == '"')
		return parse_quoted(p, arg);
	if (c == '{' || (c == '~' && p->pos + 1 < p->len && p->data[p->pos + 1] == '{'))
		return parse_literal(p, arg);
	return parse_atom(p, arg);
}

/* parse_atom - atom characters, with at most one bracketed part whose ']'
 * is on the same line */
static int parse_atom(struct args_parser *p, struct imap_arg *arg)
{
	size_t start = p->pos;
	bool bracket_done = false;
	while (p->pos < p->len) {
		char c = p->data[p->pos];
		if (c == '[' && !bracket_done) {
			size_t end = p->pos + 1;
			while (end < p->len && p->data[end] != ']' &&
			       (unsigned char)p->data[end] >= 0x20 && p->data[end] != 0x7f)
				end++;
			bracket_done = true;
			if (end < p->len && p->data[end] == ']') {
				p->pos = end + 1;
				continue;
			}
		}
		if (!atom_char_is_valid(c))
			break;
		p->pos++;
	}
	if (p->pos == start)
		return fail(p, "Invalid characters in an argument");
	arg->data = p->data + start;
	arg->len = p->pos - start;
	arg->type = arg->len == 3 && strncasecmp(arg->data, "NIL", 3) == 0 ? IMAP_ARG_NIL
									  : IMAP_ARG_ATOM;
	return 0;
}

/* parse_quoted - a quoted string, unescaped where it stands */
static int parse_quoted(struct args_parser *p, struct imap_arg *arg)
{
	size_t in = p->pos + 1, out = in;
	char *d = p->data;
	while (in < p->len && d[in] != '"') {
		if (d[in] == '\\') {
			if (in + 1 >= p->len || (d[in + 1] != '"' && d[in + 1] != '\\'))
				return fail(p, "Invalid escape in a quoted string");
			d[out++] = d[in + 1];
			in += 2;
			continue;
		}
		size_t n = utf8_sequence_length(d + in, p->len - in);
		if (n == 0 || d[in] == '\r' || d[in] == '\n' || d[in] == '\0')
			return fail(p, "Invalid character in a quoted string");
		memmove(d + out, d + in, n);
		out += n;
		in += n;
	}
	if (in >= p->len)
		return fail(p, "Unterminated quoted string");
	arg->type = IMAP_ARG_STRING;
	arg->data = d + p->pos + 1;
	arg->len = out - (p->pos + 1);
	p->pos = in + 1;
	return 0;
}

/* parse_literal - "{N}" or "{N+}" (or with "~" before it), CRLF, N octets;
 * the reader has already checked that the line ends there and N octets follow */
static int parse_literal(struct args_parser *p, struct imap_arg *arg)
{
	bool literal8 = p->data[p->pos] == '~';
	size_t i = p->pos + (literal8 ? 2 : 1);
	uint64_t size = 0;
	size_t digits = 0;
	while (i < p->len && p->data[i] >= '0' && p->data[i] <= '9' && digits < 19) {
		size = size * 10 + (uint64_t)(p->data[i] - '0');
		i++;
		digits++;
	}
	if (i < p->len && p->data[i] == '+')
		i++;
	if (digits == 0 || i >= p->len || p->data[i] != '}' || p->len - (i + 1) < 2 ||
	    p->data[i + 1] != '\r' || p->data[i + 2] != '\n')
		return fail(p, "Invalid literal");
	i += 3;
	if (size > p->len - i)
		return fail(p, "Literal longer than the command");
	const char *bytes = p->data + i;
	if (!literal8 && memchr(bytes, '\0', (size_t)size) != NULL)
		return fail(p, "NUL in a literal (only a literal8 may hold one, RFC 3516)");
	arg->type = literal8 ? IMAP_ARG_LITERAL8 : IMAP_ARG_LITERAL;
	arg->data = bytes;
	arg->len = (size_t)size;
	p->pos = i + (size_t)size;
	return 0;
}

/* args_terminate - NUL after each argument, now that parsing is over.  The
 * octet after an atom or a literal is a separator, a ')' or the CR; after a
 * string, its closing quote or an octet its unescaping freed. */
static void args_terminate(char *data, struct imap_arg *args, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		if (args[i].type == IMAP_ARG_LIST)
			args_terminate(data, args[i].list, args[i].count);
		else
			((char *)args[i].data)[args[i].len] = '\0';
	}
}

static void args_free(struct imap_arg *args, size_t count)
{
	for (size_t i = 0; i < count; i++)
		if (args[i].type == IMAP_ARG_LIST)
			args_free(args[i].list, args[i].count);
	free(args);
}

bool imap_arg_is_astring(const struct imap_arg *arg)
{
	return arg->type == IMAP_ARG_ATOM || arg->type == IMAP_ARG_NIL ||
		arg->type == IMAP_ARG_STRING || arg->type == IMAP_ARG_LITERAL;
}

bool imap_arg_is_nstring(const struct imap_arg *arg)
{
	return arg->type == IMAP_ARG_NIL || arg->type == IMAP_ARG_STRING ||
		arg->type == IMAP_ARG_LITERAL;
}

bool imap_arg_atom_is(const struct imap_arg *arg, const char *word)
{
	size_t n = strlen(word);
	return (arg->type == IMAP_ARG_ATOM || arg->type == IMAP_ARG_NIL) && arg->len == n &&
		strncasecmp(arg->data, word, n) == 0;
}
