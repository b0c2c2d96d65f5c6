/* smtp/parse-address - the Reverse-path and Forward-path of MAIL and RCPT.
 *
 * RFC 5321 4.1.2 syntax, with the UTF-8 extensions of RFC 6531 3.3 when the
 * caller allows them (SMTPUTF8 given).  Source routes (RFC 5321 4.1.2 A-d-l,
 * obsolete by Appendix C) are checked and dropped.  The stored address is the
 * Mailbox as sent, in its canonical form (message_address_canonical): a
 * quoted local part that needs no quoting loses its quotes, so "you"@d and
 * you@d are one mailbox for recipients, senders and sender authorization
 * alike; one trailing dot of the domain (an absolute name, you@d.) is dropped.
 * No case folding: what we relay is what we were given.
 *
 * Address literals: IPv4 and "IPv6:" only; a General-address-literal names
 * a tag nobody has standardized, so we could never deliver to it and reject
 * it as a syntax error.
 */
#include "smtp/parse.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "message/message.h"
#include "util/domain.h"
#include "util/utf8.h"
#include "util/xalloc.h"

/* RFC 5321 4.5.3.1.1-3 */
#define SMTP_LOCAL_MAX  64
#define SMTP_DOMAIN_MAX 255
#define SMTP_PATH_MAX   256

/* Parsing cursor: every helper reads *cur and never past end. */
struct cursor {
	const unsigned char *cur;
	const unsigned char *end;
	bool utf8;
};

static bool is_atext(unsigned char c);
static bool is_let_dig(unsigned char c);
static int parse_dot_string(struct cursor *c);
static int parse_quoted_string(struct cursor *c);
static int parse_domain(struct cursor *c, bool absolute);
static int parse_address_literal(struct cursor *c);
static bool is_ipv4_literal(const unsigned char *p, size_t len);
static bool is_ipv6_literal(const unsigned char *p, size_t len);
static int parse_source_route(struct cursor *c);
static void path_error(struct smtp_error *error_r, unsigned flags, int kind);

enum { PATH_ERR_SYNTAX, PATH_ERR_TOO_LONG, PATH_ERR_NULL, PATH_ERR_UTF8 };

/* is_atext - RFC 5322 3.2.3 atext, ASCII part */
static bool is_atext(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

static bool is_let_dig(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9');
}

/* parse_dot_string - RFC 5321 4.1.2 Dot-string; RFC 6531 3.3 atext */
static int parse_dot_string(struct cursor *c)
{
	for (;;) {
		const unsigned char *atom = c->cur;
		while (c->cur < c->end) {
			if (is_atext(*c->cur)) {
				c->cur++;
			} else if (*c->cur >= 0x80 && c->utf8) {
				size_t n = utf8_sequence_length((const char *)c->cur, (size_t)(c->end - c->cur));
				if (n == 0)
					return -1;
				c->cur += n;
			} else {
				break;
			}
		}
		if (c->cur == atom)
			return -1;  /* empty atom: leading, trailing or ".." */
		if (c->cur >= c->end || *c->cur != '.')
			return 0;
		c->cur++;
	}
}

/* parse_quoted_string - RFC 5321 4.1.2 Quoted-string, cursor on the DQUOTE */
static int parse_quoted_string(struct cursor *c)
{
	c->cur++;
	while (c->cur < c->end) {
		unsigned char ch = *c->cur;
		if (ch == '"') {
			c->cur++;
			return 0;
		}
		if (ch == '\\') {
			/* quoted-pairSMTP = %d92 %d32-126 */
			if (c->end - c->cur < 2 || c->cur[1] < 32 || c->cur[1] > 126)
				return -1;
			c->cur += 2;
		} else if (ch >= 32 && ch <= 126) {
			c->cur++;  /* qtextSMTP: all but DQUOTE and backslash */
		} else if (ch >= 0x80 && c->utf8) {
			size_t n = utf8_sequence_length((const char *)c->cur, (size_t)(c->end - c->cur));
			if (n == 0)
				return -1;
			c->cur += n;
		} else {
			return -1;
		}
	}
	return -1;  /* unterminated */
}

/* parse_domain - RFC 5321 4.1.2 Domain; U-labels (RFC 6531 3.3) with utf8.
 * The name runs as far as domain octets go; util/domain judges it: labels
 * of letters, digits and inner hyphens, no empty label, U-labels as UTF-8
 * (not against IDNA2008 tables: whether such a domain exists is for DNS to
 * say).  With ABSOLUTE, one trailing dot before '>' is taken (the caller
 * drops it); two are still an empty label.  The whole name's limit (255
 * octets, RFC 5321 4.5.3.1.2) is the caller's, with its own reply. */
static int parse_domain(struct cursor *c, bool absolute)
{
	const unsigned char *start = c->cur;
	unsigned flags = DOMAIN_NAME_ANY_LENGTH | (c->utf8 ? DOMAIN_NAME_ULABEL : 0);

	while (c->cur < c->end && (is_let_dig(*c->cur) || *c->cur == '-' || *c->cur == '.' ||
				   (*c->cur >= 0x80 && c->utf8)))
		c->cur++;
	if (absolute && c->cur < c->end && *c->cur == '>')
		flags |= DOMAIN_NAME_ABSOLUTE;
	return domain_name_is_valid((const char *)start, (size_t)(c->cur - start), flags) ? 0 : -1;
}

/* is_ipv4_literal - RFC 5321 4.1.3 IPv4-address-literal: 4 Snum (0-255) */
static bool is_ipv4_literal(const unsigned char *p, size_t len)
{
	size_t i = 0;

	for (int part = 0; part < 4; part++) {
		unsigned value = 0;
		size_t digits = 0;
		if (part > 0) {
			if (i >= len || p[i] != '.')
				return false;
			i++;
		}
		while (i < len && p[i] >= '0' && p[i] <= '9' && digits < 3) {
			value = value * 10 + (unsigned)(p[i] - '0');
			digits++;
			i++;
		}
		if (digits == 0 || value > 255)
			return false;
	}
	return i == len;
}

/* is_ipv6_literal - RFC 5321 4.1.3 IPv6-addr after "IPv6:"; inet_pton
 * accepts exactly the RFC 4291 2.2 text forms the ABNF spells out */
static bool is_ipv6_literal(const unsigned char *p, size_t len)
{
	char text[INET6_ADDRSTRLEN + 1];
	struct in6_addr addr;

	if (len == 0 || len >= sizeof(text))
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = p[i];
		if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') ||
		      (ch >= 'A' && ch <= 'F') || ch == ':' || ch == '.'))
			return false;
	}
	memcpy(text, p, len);
	text[len] = '\0';
	return inet_pton(AF_INET6, text, &addr) == 1;
}

/* parse_address_literal - "[" IPv4 / "IPv6:" IPv6 "]", cursor on '[' */
static int parse_address_literal(struct cursor *c)
{
	const unsigned char *start = c->cur + 1;
	const unsigned char *close = start;

	while (close < c->end && *close != ']')
		close++;
	if (close >= c->end)
		return -1;
	size_t len = (size_t)(close - start);
	if (len > 5 && strncasecmp((const char *)start, "IPv6:", 5) == 0) {
		if (!is_ipv6_literal(start + 5, len - 5))
			return -1;
	} else if (!is_ipv4_literal(start, len)) {
		return -1;
	}
	c->cur = close + 1;
	return 0;
}

bool smtp_helo_is_valid(const char *s, size_t len)
{
	bool ok;
	if (len > 0 && s[0] == '[') {
		struct cursor c = { (const unsigned char *)s, (const unsigned char *)s + len, false };
		ok = parse_address_literal(&c) == 0 && c.cur == c.end;
	} else {
		ok = len <= SMTP_DOMAIN_MAX && domain_name_is_valid(s, len, DOMAIN_NAME_ULABEL);
	}
	return ok;
}

/* parse_source_route - RFC 5321 4.1.2 A-d-l ":", cursor on the first '@' */
static int parse_source_route(struct cursor *c)
{
	for (;;) {
		if (c->cur >= c->end || *c->cur != '@')
			return -1;
		c->cur++;
		if (parse_domain(c, false) < 0)
			return -1;
		if (c->cur >= c->end)
			return -1;
		if (*c->cur == ':') {
			c->cur++;
			return 0;
		}
		if (*c->cur != ',')
			return -1;
		c->cur++;
	}
}

/* path_error - the reply for a bad path, sender or recipient flavoured */
static void path_error(struct smtp_error *error_r, unsigned flags, int kind)
{
	bool sender = (flags & SMTP_PATH_SENDER) != 0;

	error_r->code = 501;
	error_r->enhanced = sender ? "5.1.7" : "5.1.3";
	switch (kind) {
	case PATH_ERR_TOO_LONG:
		error_r->text = sender ? "Sender address too long" :
			"Recipient address too long";
		break;
	case PATH_ERR_NULL:
		error_r->text = sender ? "Null sender address not allowed" :
			"Null recipient address not allowed";
		break;
	case PATH_ERR_UTF8:
		/* RFC 6531 3.7.4.1: 553 5.6.7 */
		error_r->code = 553;
		error_r->enhanced = "5.6.7";
		error_r->text = "Non-ASCII address requires SMTPUTF8";
		break;
	default:
		error_r->text = sender ? "Syntax error in sender address" :
			"Syntax error in recipient address";
		break;
	}
}

void smtp_path_clear(struct smtp_path *path)
{
	free(path->address);
	path->address = NULL;
	path->local_len = 0;
	path->domain = NULL;
	path->is_utf8 = false;
}

/* smtp_path_parse - "<" [A-d-l ":"] Mailbox ">" or "<>" (RFC 5321 4.1.2) */
int smtp_path_parse(const char *s, size_t len, unsigned flags,
		    struct smtp_path *path_r, size_t *consumed_r,
		    struct smtp_error *error_r)
{
	struct cursor c = {
		.cur = (const unsigned char *)s,
		.end = (const unsigned char *)s + len,
		.utf8 = (flags & SMTP_PATH_ALLOW_UTF8) != 0,
	};
	const unsigned char *mailbox, *at = NULL;
	bool is_utf8 = false;
	int err = PATH_ERR_SYNTAX;

	path_r->address = NULL;
	path_r->local_len = 0;
	path_r->domain = NULL;
	path_r->is_utf8 = false;
	*consumed_r = 0;

	if (c.cur >= c.end || *c.cur != '<')
		goto fail;
	c.cur++;
	if (c.cur < c.end && *c.cur == '>') {
		if ((flags & SMTP_PATH_ALLOW_NULL) == 0) {
			err = PATH_ERR_NULL;
			goto fail;
		}
		path_r->address = xstrdup("");
		path_r->domain = path_r->address;
		*consumed_r = 2;
		return 0;
	}
	if (c.cur < c.end && *c.cur == '@' && parse_source_route(&c) < 0)
		goto fail;

	mailbox = c.cur;
	if ((flags & SMTP_PATH_POSTMASTER) != 0 && c.end - c.cur >= 11 &&
	    strncasecmp((const char *)c.cur, "postmaster>", 11) == 0) {
		/* RFC 5321 4.1.1.3: <Postmaster> without a domain */
		c.cur += 10;
	} else {
		if (c.cur < c.end && *c.cur == '"') {
			if (parse_quoted_string(&c) < 0)
				goto fail;
		} else if (parse_dot_string(&c) < 0) {
			goto fail;
		}
		if (c.cur >= c.end || *c.cur != '@')
			goto fail;
		at = c.cur;
		c.cur++;
		if (c.cur < c.end && *c.cur == '[') {
			if (parse_address_literal(&c) < 0)
				goto fail;
		} else if (parse_domain(&c, true) < 0) {
			goto fail;
		}
	}
	if (c.cur >= c.end || *c.cur != '>')
		goto fail;

	/* RFC 5321 4.5.3.1.1-3; the path limit counts the brackets and any
	 * source route. */
	if ((at != NULL && (at - mailbox > SMTP_LOCAL_MAX ||
			    c.cur - (at + 1) > SMTP_DOMAIN_MAX)) ||
	    c.cur + 1 - (const unsigned char *)s > SMTP_PATH_MAX) {
		err = PATH_ERR_TOO_LONG;
		goto fail;
	}

	size_t addr_len = (size_t)(c.cur - mailbox);
	for (size_t i = 0; i < addr_len; i++) {
		if (mailbox[i] >= 0x80)
			is_utf8 = true;
	}
	char *as_sent = xstrndup((const char *)mailbox, addr_len);
	path_r->address = message_address_canonical(as_sent);
	free(as_sent);
	const char *canonical_at = at != NULL ? strrchr(path_r->address, '@') : NULL;
	if (canonical_at != NULL) {
		path_r->local_len = (size_t)(canonical_at - path_r->address);
		path_r->domain = canonical_at + 1;
	} else {
		path_r->local_len = strlen(path_r->address);
		path_r->domain = path_r->address + path_r->local_len;
	}
	path_r->is_utf8 = is_utf8;
	*consumed_r = (size_t)(c.cur + 1 - (const unsigned char *)s);
	return 0;

fail:
	/* Non-ASCII without SMTPUTF8 gets its own reply (RFC 6531 3.7.4.1),
	 * but only if the path would be valid with it. */
	if (err == PATH_ERR_SYNTAX && (flags & SMTP_PATH_ALLOW_UTF8) == 0) {
		struct smtp_path probe;
		size_t used;
		struct smtp_error ignored;
		if (smtp_path_parse(s, len, flags | SMTP_PATH_ALLOW_UTF8,
				    &probe, &used, &ignored) == 0) {
			smtp_path_clear(&probe);
			err = PATH_ERR_UTF8;
		}
	}
	path_error(error_r, flags, err);
	return -1;
}
