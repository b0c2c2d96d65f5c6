/* message/address - the addr-specs of an RFC 5322 3.4 address-list.
 *
 * Two passes over VALUE[0..LEN): a lexer turns it into atoms, quoted
 * strings, domain literals and specials, skipping whitespace, folding and
 * comments (nested at most ADDRESS_COMMENT_DEPTH deep); then a recursive
 * descent parser (depth bounded by the grammar: address-list > group >
 * mailbox) walks the tokens.  Obsolete forms of RFC 5322 4.4 are tolerated:
 * empty list elements, routes in angle addresses, CFWS around the dots of a
 * local part or domain, dots in display names.
 *
 * RFC 6532 3.2: UTF-8 is accepted in atoms, quoted strings and comments.
 * The addr-specs returned must be valid UTF-8; display names and comments
 * are skipped, so stray 8-bit bytes there (old Latin-1 mail) are tolerated.
 */
#include "message/message.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/utf8.h"
#include "util/xalloc.h"

#define ADDRESS_COMMENT_DEPTH 20

enum addr_tok_type {
	ADDR_TOK_ATOM,
	ADDR_TOK_QSTRING,   /* with its quotes */
	ADDR_TOK_DLITERAL,  /* with its brackets */
	ADDR_TOK_SPECIAL,   /* one of < > : ; @ , . */
};

struct addr_tok {
	enum addr_tok_type type;
	const char *start;
	size_t len;
};

struct addr_parser {
	struct addr_tok *toks;
	size_t n, cap, i;
	char **out;
	size_t out_n, out_cap;
	/* message_address_list_parse_full: the structured list, and the
	 * tokens of the display name and route of the mailbox being parsed */
	bool full;
	struct message_address *list;
	size_t list_n, list_cap;
	size_t name_start, name_end, route_start, route_end;
};

static bool is_atext(unsigned char c);
static bool is_wsp_or_eol(unsigned char c);
static int lex_comment(const char *v, size_t len, size_t *pos);
static int lex_delimited(const char *v, size_t len, size_t *pos, char close);
static int lex(struct addr_parser *p, const char *v, size_t len);
static void tok_push(struct addr_parser *p, enum addr_tok_type type, const char *start,
		     size_t len);
static bool peek(const struct addr_parser *p, char special);
static bool peek_word(const struct addr_parser *p);
static bool parse_local_part(struct addr_parser *p);
static bool parse_domain(struct addr_parser *p);
static bool parse_addr_spec(struct addr_parser *p);
static bool parse_angle_addr(struct addr_parser *p);
static bool parse_group(struct addr_parser *p, size_t name_start);
static bool parse_address(struct addr_parser *p, bool allow_group);
static bool emit(struct addr_parser *p, size_t local_start, size_t local_end, size_t domain_start,
		 size_t domain_end);
static bool is_dot_string(const char *s, size_t len);
static char *tokens_text(const struct addr_parser *p, size_t from, size_t to, bool phrase);
static void list_push(struct addr_parser *p, enum message_address_kind kind, char *name,
		      char *route, char *local, char *domain);
static bool address_list_run(struct addr_parser *p, const char *value, size_t len);

/* is_atext - RFC 5322 3.2.3 atext, plus UTF8-non-ascii (RFC 6532 3.2) */
static bool is_atext(unsigned char c)
{
	if (c >= 0x80)
		return true;
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

/* is_dot_string - atext runs separated by single dots (RFC 5321 4.1.2
 * Dot-string, RFC 5322 3.2.3 dot-atom-text) */
static bool is_dot_string(const char *s, size_t len)
{
	bool ok = len > 0 && s[0] != '.' && s[len - 1] != '.';
	for (size_t i = 0; ok && i < len; i++)
		ok = s[i] == '.' ? s[i + 1] != '.' : is_atext((unsigned char)s[i]);
	return ok;
}

/* is_wsp_or_eol - FWS; VALUE may be given folded or unfolded */
static bool is_wsp_or_eol(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* lex_comment - skip the comment at *POS (RFC 5322 3.2.2): nested, with
 * quoted-pairs; -1 if unterminated or nested too deep */
static int lex_comment(const char *v, size_t len, size_t *pos)
{
	size_t p = *pos, depth = 0;

	while (p < len) {
		char c = v[p];
		if (c == '\0')
			return -1;
		if (c == '\\') {
			if (p + 1 >= len || v[p + 1] == '\0')
				return -1;
			p += 2;
			continue;
		}
		p++;
		if (c == '(') {
			if (++depth > ADDRESS_COMMENT_DEPTH)
				return -1;
		} else if (c == ')') {
			if (--depth == 0) {
				*pos = p;
				return 0;
			}
		}
	}
	return -1;
}

/* lex_delimited - the quoted string (3.2.4) or domain literal (3.4.1) at
 * *POS up to CLOSE; quoted-pairs allowed; -1 if unterminated or invalid */
static int lex_delimited(const char *v, size_t len, size_t *pos, char close)
{
	size_t p = *pos + 1;

	while (p < len) {
		unsigned char c = (unsigned char)v[p];
		if (c == '\0')
			return -1;
		if (c == '\\') {
			/* obs-qp allows a backslash before CR or LF; that pair would
			 * not survive the removal of folding in emit(): refuse it */
			if (p + 1 >= len || v[p + 1] == '\0' || v[p + 1] == '\r' ||
			    v[p + 1] == '\n')
				return -1;
			p += 2;
			continue;
		}
		p++;
		if (c == (unsigned char)close) {
			*pos = p;
			return 0;
		}
		/* dtext excludes '[' and 8-bit bytes (RFC 6532 does not extend it) */
		if (close == ']' && (c == '[' || c >= 0x80))
			return -1;
	}
	return -1;
}

static void tok_push(struct addr_parser *p, enum addr_tok_type type, const char *start,
		     size_t len)
{
	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 16;
		p->toks = xrealloc(p->toks, p->cap * sizeof(*p->toks));
	}
	p->toks[p->n++] = (struct addr_tok){ type, start, len };
}

/* lex - VALUE into tokens; -1 on a byte or construct no address-list holds */
static int lex(struct addr_parser *p, const char *v, size_t len)
{
	size_t pos = 0;

	while (pos < len) {
		unsigned char c = (unsigned char)v[pos];
		size_t start = pos;

		if (is_wsp_or_eol(c)) {
			pos++;
		} else if (c == '(') {
			if (lex_comment(v, len, &pos) < 0)
				return -1;
		} else if (c == '"' || c == '[') {
			if (lex_delimited(v, len, &pos, c == '"' ? '"' : ']') < 0)
				return -1;
			tok_push(p, c == '"' ? ADDR_TOK_QSTRING : ADDR_TOK_DLITERAL, v + start,
				 pos - start);
		} else if (is_atext(c)) {
			while (pos < len && is_atext((unsigned char)v[pos]))
				pos++;
			tok_push(p, ADDR_TOK_ATOM, v + start, pos - start);
		} else if (strchr("<>:;@,.", c) != NULL && c != '\0') {
			pos++;
			tok_push(p, ADDR_TOK_SPECIAL, v + start, 1);
		} else {
			return -1;  /* ')', ']', '\\', controls, NUL */
		}
	}
	return 0;
}

static bool peek(const struct addr_parser *p, char special)
{
	return p->i < p->n && p->toks[p->i].type == ADDR_TOK_SPECIAL &&
	       p->toks[p->i].start[0] == special;
}

static bool peek_word(const struct addr_parser *p)
{
	return p->i < p->n && (p->toks[p->i].type == ADDR_TOK_ATOM ||
			       p->toks[p->i].type == ADDR_TOK_QSTRING);
}

/* parse_local_part - word *("." word) (3.4.1, obs-local-part) */
static bool parse_local_part(struct addr_parser *p)
{
	if (!peek_word(p))
		return false;
	p->i++;
	while (peek(p, '.')) {
		p->i++;
		if (!peek_word(p))
			return false;
		p->i++;
	}
	return true;
}

/* parse_domain - domain-literal, or atom *("." atom) (3.4.1, obs-domain) */
static bool parse_domain(struct addr_parser *p)
{
	if (p->i < p->n && p->toks[p->i].type == ADDR_TOK_DLITERAL) {
		p->i++;
		return true;
	}
	if (p->i >= p->n || p->toks[p->i].type != ADDR_TOK_ATOM)
		return false;
	p->i++;
	while (peek(p, '.')) {
		p->i++;
		if (p->i >= p->n || p->toks[p->i].type != ADDR_TOK_ATOM)
			return false;
		p->i++;
	}
	return true;
}

/* emit - append "local@domain" as written (CFWS dropped, folding removed
 * from quoted strings and domain literals) */
static bool emit(struct addr_parser *p, size_t local_start, size_t local_end, size_t domain_start,
		 size_t domain_end)
{
	size_t total = 2;
	char *s, *o;

	for (size_t k = local_start; k < domain_end; k++)
		total += p->toks[k].len;
	s = o = xmalloc(total);
	for (size_t k = local_start; k < domain_end; k++) {
		if (k == local_end) {
			*o++ = '@';
			k = domain_start - 1;
			continue;
		}
		for (size_t j = 0; j < p->toks[k].len; j++) {
			char c = p->toks[k].start[j];
			if (c != '\r' && c != '\n')
				*o++ = c;
		}
	}
	*o = '\0';
	if (!utf8_is_valid(s, (size_t)(o - s))) {
		free(s);
		return false;
	}
	if (p->full) {
		free(s);
		char *name = p->name_end > p->name_start
			? tokens_text(p, p->name_start, p->name_end, true) : NULL;
		char *route = p->route_end > p->route_start
			? tokens_text(p, p->route_start, p->route_end, false) : NULL;
		list_push(p, MESSAGE_ADDRESS_MAILBOX, name, route,
			  tokens_text(p, local_start, local_end, false),
			  tokens_text(p, domain_start, domain_end, false));
		p->name_start = p->name_end = p->route_start = p->route_end = 0;
		return true;
	}
	if (p->out_n + 1 >= p->out_cap) {
		p->out_cap = p->out_cap ? p->out_cap * 2 : 4;
		p->out = xrealloc(p->out, p->out_cap * sizeof(*p->out));
	}
	p->out[p->out_n++] = s;
	p->out[p->out_n] = NULL;
	return true;
}

/* parse_addr_spec - local-part "@" domain */
static bool parse_addr_spec(struct addr_parser *p)
{
	size_t local_start = p->i, local_end, domain_start;

	if (!parse_local_part(p))
		return false;
	local_end = p->i;
	if (!peek(p, '@'))
		return false;
	p->i++;
	domain_start = p->i;
	if (!parse_domain(p))
		return false;
	return emit(p, local_start, local_end, domain_start, p->i);
}

/* parse_angle_addr - "<" [obs-route] addr-spec ">" (3.4, 4.4) */
static bool parse_angle_addr(struct addr_parser *p)
{
	if (!peek(p, '<'))
		return false;
	p->i++;
	if (peek(p, '@') || peek(p, ',')) {
		/* obs-route: *(CFWS / ",") "@" domain *("," [CFWS] ["@" domain]) ":" */
		size_t domains = 0;
		p->route_start = p->i;
		for (;;) {
			while (peek(p, ','))
				p->i++;
			if (!peek(p, '@'))
				break;
			p->i++;
			if (!parse_domain(p))
				return false;
			domains++;
		}
		if (domains == 0 || !peek(p, ':'))
			return false;
		p->route_end = p->i;
		p->i++;
	}
	if (!parse_addr_spec(p) || !peek(p, '>'))
		return false;
	p->i++;
	return true;
}

/* parse_group - ":" [group-list] ";" after the display name (3.4, 4.4) */
static bool parse_group(struct addr_parser *p, size_t name_start)
{
	if (p->full)
		list_push(p, MESSAGE_ADDRESS_GROUP_START, tokens_text(p, name_start, p->i, true),
			  NULL, NULL, NULL);
	p->i++;  /* ':' */
	for (;;) {
		while (peek(p, ','))
			p->i++;
		if (peek(p, ';'))
			break;
		if (!parse_address(p, false))
			return false;
		if (!peek(p, ',') && !peek(p, ';'))
			return false;
	}
	p->i++;  /* ';' */
	if (p->full)
		list_push(p, MESSAGE_ADDRESS_GROUP_END, NULL, NULL, NULL, NULL);
	return true;
}

/* parse_address - mailbox, or group when ALLOW_GROUP (groups do not nest) */
static bool parse_address(struct addr_parser *p, bool allow_group)
{
	size_t start = p->i, words = 0;

	/* a display name (phrase, obs-phrase with dots) or a local part */
	while (peek_word(p) || peek(p, '.')) {
		if (peek_word(p))
			words++;
		p->i++;
	}
	if (peek(p, '<')) {
		p->name_start = start;
		p->name_end = p->i;
		return parse_angle_addr(p);
	}
	if (peek(p, '@')) {
		p->i = start;
		return parse_addr_spec(p);
	}
	if (peek(p, ':') && allow_group && words > 0)
		return parse_group(p, start);
	return false;
}

/* address_list_run - the address-list of VALUE[0..LEN) through P; false
 * if malformed or empty */
static bool address_list_run(struct addr_parser *p, const char *value, size_t len)
{
	bool any = false;

	if (lex(p, value, len) < 0)
		return false;
	/* obs-addr-list: empty elements between commas are skipped (4.4) */
	for (;;) {
		while (peek(p, ','))
			p->i++;
		if (p->i >= p->n)
			break;
		if (!parse_address(p, true))
			return false;
		any = true;
		if (p->i >= p->n)
			break;
		if (!peek(p, ','))
			return false;
	}
	return any;
}

char **message_address_list_parse(const char *value, size_t len)
{
	struct addr_parser p = { 0 };
	bool ok = address_list_run(&p, value, len);
	free(p.toks);
	if (!ok) {
		message_strv_free(&p.out);
		return NULL;
	}
	if (p.out == NULL)
		p.out = xcalloc(1, sizeof(*p.out));  /* only empty groups */
	return p.out;
}

struct message_address *message_address_list_parse_full(const char *value, size_t len,
							size_t *count_r)
{
	struct addr_parser p = { .full = true };
	bool ok = address_list_run(&p, value, len);
	free(p.toks);
	if (!ok) {
		message_addresses_free(p.list, p.list_n);
		*count_r = 0;
		return NULL;
	}
	*count_r = p.list_n;
	return p.list ? p.list : xcalloc(1, sizeof(*p.list));
}

void message_addresses_free(struct message_address *list, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		free(list[i].name);
		free(list[i].route);
		free(list[i].local);
		free(list[i].domain);
	}
	free(list);
}

static void list_push(struct addr_parser *p, enum message_address_kind kind, char *name,
		      char *route, char *local, char *domain)
{
	if (p->list_n == p->list_cap) {
		p->list_cap = p->list_cap ? p->list_cap * 2 : 4;
		p->list = xrealloc(p->list, p->list_cap * sizeof(*p->list));
	}
	p->list[p->list_n++] = (struct message_address){ kind, name, route, local, domain };
}

/* tokens_text - tokens FROM..TO as text, folding removed.  A PHRASE
 * (display or group name) has its quoted strings unquoted and words that
 * were apart joined by one space; otherwise tokens are joined as written
 * (a local part keeps its quotes: "a b"@c). */
static char *tokens_text(const struct addr_parser *p, size_t from, size_t to, bool phrase)
{
	size_t total = 1;
	for (size_t k = from; k < to; k++)
		total += p->toks[k].len + 1;
	char *s = xmalloc(total), *o = s;
	for (size_t k = from; k < to; k++) {
		const struct addr_tok *t = &p->toks[k];
		if (phrase && k > from && t->start != p->toks[k - 1].start + p->toks[k - 1].len)
			*o++ = ' ';
		const char *c = t->start, *end = t->start + t->len;
		if (phrase && t->type == ADDR_TOK_QSTRING) {
			c++;
			end--;
		}
		for (; c < end; c++) {
			if (*c == '\r' || *c == '\n')
				continue;
			if (phrase && t->type == ADDR_TOK_QSTRING && *c == '\\' && c + 1 < end)
				c++;
			*o++ = *c;
		}
	}
	*o = '\0';
	return s;
}

void message_strv_free(char ***strv)
{
	if (*strv == NULL)
		return;
	for (char **s = *strv; *s != NULL; s++)
		free(*s);
	free(*strv);
	*strv = NULL;
}

/* message_address_canonical - see message.h.  A local part is taken as one
 * quoted string only when it starts with DQUOTE and its closing DQUOTE comes
 * right before the last '@'; anything else is kept as it is. */
char *message_address_canonical(const char *address)
{
	const char *at = strrchr(address, '@');
	size_t len = strlen(address);
	struct buf out;

	buf_init(&out);
	if (at && address[0] == '"' && at - address >= 2 && at[-1] == '"') {
		/* unescape the quoted-pairs between the quotes */
		const char *p = address + 1, *end = at - 1;
		bool closed_early = false;
		for (; p < end; p++) {
			if (*p == '\\' && p + 1 < end)
				p++;
			else if (*p == '"' || *p == '\\')
				closed_early = true;  /* not one quoted string */
			buf_append(&out, p, 1);
		}
		if (closed_early) {
			buf_reset(&out);
			buf_append(&out, address, (size_t)(at - address));
		} else if (!is_dot_string(out.data, out.len)) {
			/* needs its quotes: write them back, escaping only
			 * what must be (RFC 5321 4.1.2 quoted-pairSMTP) */
			struct buf quoted;
			buf_init(&quoted);
			buf_append(&quoted, "\"", 1);
			for (size_t i = 0; i < out.len; i++) {
				if (out.data[i] == '"' || out.data[i] == '\\')
					buf_append(&quoted, "\\", 1);
				buf_append(&quoted, &out.data[i], 1);
			}
			buf_append(&quoted, "\"", 1);
			buf_free(&out);
			out = quoted;
		}
	} else {
		buf_append(&out, address, at ? (size_t)(at - address) : len);
	}
	if (at) {
		size_t dlen = strlen(at);
		/* "@", and the domain without one trailing dot */
		if (dlen > 2 && at[dlen - 1] == '.' && at[dlen - 2] != '.')
			dlen--;
		buf_append(&out, at, dlen);
	}
	char *result = xstrndup(out.data ? out.data : "", out.len);
	buf_free(&out);
	return result;
}
