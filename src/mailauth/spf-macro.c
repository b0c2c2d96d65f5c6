/* mailauth/spf-macro - SPF macro strings (RFC 7208 7): checked and
 * expanded.  No I/O: %{p} is handed in already validated by the caller.
 *
 *   macro-string = *( macro-expand / macro-literal )
 *   macro-expand = ( "%{" macro-letter transformers *delimiter "}" )
 *                  / "%%" / "%_" / "%-"
 *   transformers = *DIGIT [ "r" ]
 *   delimiter    = "." / "-" / "+" / "," / "/" / "_" / "="
 *
 * An explanation (exp= TXT text) may hold spaces and the letters c, r, t.
 */
#include "mailauth/mailauth.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"

#define SPF_MACRO_PARTS_MAX 128   /* a value split on delimiters: at most this many parts */

struct spf_macro {
	char letter;            /* lower case */
	bool escape;            /* the letter was upper case: URL-escape (7.3) */
	unsigned digits;        /* 0 = all parts */
	bool reverse;
	const char *delims;     /* into the text */
	size_t delim_len;
};

struct spf_buf {
	char *data;
	size_t len;
	bool overflow;
};

static int spf_macro_next(const char *text, size_t len, size_t *pos, unsigned flags,
			  struct spf_macro *macro_r, char *literal_r);
static bool spf_macro_letter_is_valid(char c, unsigned flags);
static void spf_buf_add(struct spf_buf *buf, const char *s, size_t n);
static void spf_macro_value(const struct spf_macro_env *env, char letter, struct spf_buf *out);
static void spf_macro_transform(const struct spf_macro *macro, const char *value, size_t len,
				struct spf_buf *out);
static void spf_ip_dotted(const char *ip, bool readable, struct spf_buf *out);

/* spf_macro_next - one token at TEXT[*POS]: 1 a macro-expand (*MACRO_R), 0
 * a literal octet (*LITERAL_R, also for %% %_ %- already turned into their
 * text: then macro_r->letter is '-' for "%-", which expands to "%20"), -1 a
 * syntax error */
static int spf_macro_next(const char *text, size_t len, size_t *pos, unsigned flags,
			  struct spf_macro *macro_r, char *literal_r)
{
	size_t i = *pos;
	unsigned char c = (unsigned char)text[i];

	memset(macro_r, 0, sizeof(*macro_r));
	if (c != '%') {
		bool ok = (c >= 0x21 && c <= 0x7e) ||
			  (c == ' ' && (flags & SPF_MACRO_EXPLAIN));
		if (!ok)
			return -1;
		*literal_r = (char)c;
		*pos = i + 1;
		return 0;
	}
	if (i + 1 >= len)
		return -1;
	switch (text[i + 1]) {
	case '%':
		*literal_r = '%';
		*pos = i + 2;
		return 0;
	case '_':
		*literal_r = ' ';
		*pos = i + 2;
		return 0;
	case '-':
		macro_r->letter = '-';
		*pos = i + 2;
		return 1;
	case '{':
		break;
	default:
		return -1;
	}
	i += 2;
	if (i >= len)
		return -1;
	char letter = text[i];
	if (letter >= 'A' && letter <= 'Z') {
		macro_r->escape = true;
		letter = (char)(letter - 'A' + 'a');
	}
	if (!spf_macro_letter_is_valid(letter, flags))
		return -1;
	macro_r->letter = letter;
	i++;
	bool any_digit = false;
	while (i < len && text[i] >= '0' && text[i] <= '9') {
		if (macro_r->digits < 1000)
			macro_r->digits = macro_r->digits * 10 + (unsigned)(text[i] - '0');
		any_digit = true;
		i++;
	}
	/* RFC 7208 7.3: "If a DIGIT is specified, the value MUST be nonzero." */
	if (any_digit && macro_r->digits == 0)
		return -1;
	if (i < len && (text[i] == 'r' || text[i] == 'R')) {
		macro_r->reverse = true;
		i++;
	}
	macro_r->delims = text + i;
	while (i < len && strchr(".-+,/_=", text[i]) != NULL && text[i] != '\0')
		i++;
	macro_r->delim_len = (size_t)(text + i - macro_r->delims);
	if (i >= len || text[i] != '}')
		return -1;
	*pos = i + 1;
	return 1;
}

static bool spf_macro_letter_is_valid(char c, unsigned flags)
{
	if (c != '\0' && strchr("slodipvh", c) != NULL)
		return true;
	return (flags & SPF_MACRO_EXPLAIN) && c != '\0' && strchr("crt", c) != NULL;
}

bool spf_macro_check(const char *text, size_t len, unsigned flags, bool *uses_p_r)
{
	size_t pos = 0;
	bool uses_p = false;
	while (pos < len) {
		struct spf_macro macro;
		char literal;
		int ret = spf_macro_next(text, len, &pos, flags, &macro, &literal);
		if (ret < 0)
			return false;
		if (ret == 1 && macro.letter == 'p')
			uses_p = true;
	}
	if (uses_p_r != NULL)
		*uses_p_r = uses_p;
	return true;
}

int spf_macro_expand(const char *text, size_t len, const struct spf_macro_env *env,
		     unsigned flags, char **out_r, const char **error_r)
{
	struct spf_buf out = { .data = xmalloc(SPF_EXPAND_MAX + 1) };
	size_t pos = 0;

	while (pos < len) {
		struct spf_macro macro;
		char literal;
		int ret = spf_macro_next(text, len, &pos, flags, &macro, &literal);
		if (ret < 0) {
			free(out.data);
			*error_r = "invalid macro syntax";
			return -1;
		}
		if (ret == 0) {
			spf_buf_add(&out, &literal, 1);
		} else if (macro.letter == '-') {
			spf_buf_add(&out, "%20", 3);
		} else {
			struct spf_buf value = { .data = xmalloc(SPF_EXPAND_MAX + 1) };
			spf_macro_value(env, macro.letter, &value);
			if (value.overflow)
				out.overflow = true;
			else
				spf_macro_transform(&macro, value.data, value.len, &out);
			free(value.data);
		}
		if (out.overflow) {
			free(out.data);
			*error_r = "macro expansion too long";
			return -1;
		}
	}
	out.data[out.len] = '\0';
	*out_r = out.data;
	return 0;
}

static void spf_buf_add(struct spf_buf *buf, const char *s, size_t n)
{
	if (buf->overflow || n > SPF_EXPAND_MAX - buf->len) {
		buf->overflow = true;
		return;
	}
	memcpy(buf->data + buf->len, s, n);
	buf->len += n;
}

static void spf_buf_add_str(struct spf_buf *buf, const char *s)
{
	spf_buf_add(buf, s, strlen(s));
}

/* spf_macro_value - the value of LETTER before transformers (RFC 7208 7.2) */
static void spf_macro_value(const struct spf_macro_env *env, char letter, struct spf_buf *out)
{
	char num[32];
	switch (letter) {
	case 's': spf_buf_add_str(out, env->sender ? env->sender : ""); break;
	case 'l': spf_buf_add_str(out, env->local ? env->local : ""); break;
	case 'o': spf_buf_add_str(out, env->sender_domain ? env->sender_domain : ""); break;
	case 'd': spf_buf_add_str(out, env->domain ? env->domain : ""); break;
	case 'i': spf_ip_dotted(env->ip, false, out); break;
	case 'c': spf_ip_dotted(env->ip, true, out); break;
	case 'p': spf_buf_add_str(out, env->ptr_name ? env->ptr_name : "unknown"); break;
	case 'h': spf_buf_add_str(out, env->helo ? env->helo : "unknown"); break;
	case 'r': spf_buf_add_str(out, env->receiver ? env->receiver : "unknown"); break;
	case 't':
		snprintf(num, sizeof(num), "%lld", env->now);
		spf_buf_add_str(out, num);
		break;
	case 'v': {
		struct in6_addr a6;
		bool v6 = env->ip != NULL && inet_pton(AF_INET6, env->ip, &a6) == 1;
		spf_buf_add_str(out, v6 ? "ip6" : "in-addr");
		break;
	}
	default:
		break;
	}
}

/* spf_ip_dotted - %{i}: IPv4 dotted quad, IPv6 32 dot-separated nibbles
 * (RFC 7208 7.3, upper case as its 7.4 examples); %{c} (READABLE): IPv6
 * in its usual text form (RFC 5952) */
static void spf_ip_dotted(const char *ip, bool readable, struct spf_buf *out)
{
	struct in6_addr a6;
	struct in_addr a4;
	char text[INET6_ADDRSTRLEN];

	if (ip != NULL && inet_pton(AF_INET, ip, &a4) == 1) {
		if (inet_ntop(AF_INET, &a4, text, sizeof(text)) != NULL)
			spf_buf_add_str(out, text);
		return;
	}
	if (ip == NULL || inet_pton(AF_INET6, ip, &a6) != 1)
		return;
	if (readable) {
		if (inet_ntop(AF_INET6, &a6, text, sizeof(text)) != NULL)
			spf_buf_add_str(out, text);
		return;
	}
	static const char hex[] = "0123456789ABCDEF";
	for (size_t i = 0; i < 16; i++) {
		char nib[4] = { hex[a6.s6_addr[i] >> 4], '.', hex[a6.s6_addr[i] & 0xf], '.' };
		spf_buf_add(out, nib, i == 15 ? 3 : 4);
	}
}

/* spf_macro_transform - split VALUE on the delimiters (default "."),
 * reverse if asked, keep the right-hand DIGITS parts, join with "."
 * (RFC 7208 7.3), then URL-escape if the letter was upper case */
static void spf_macro_transform(const struct spf_macro *macro, const char *value, size_t len,
				struct spf_buf *out)
{
	const char *part[SPF_MACRO_PARTS_MAX];
	size_t part_len[SPF_MACRO_PARTS_MAX];
	size_t n = 0, start = 0;
	const char *delims = macro->delim_len ? macro->delims : ".";
	size_t delim_len = macro->delim_len ? macro->delim_len : 1;

	for (size_t i = 0; i <= len; i++) {
		if (i < len && memchr(delims, value[i], delim_len) == NULL)
			continue;
		if (n == SPF_MACRO_PARTS_MAX) {
			/* more parts than any name has: the rest stays one part */
			part_len[n - 1] = len - (size_t)(part[n - 1] - value);
			break;
		}
		part[n] = value + start;
		part_len[n] = i - start;
		n++;
		start = i + 1;
	}
	if (macro->reverse) {
		for (size_t i = 0; i < n / 2; i++) {
			const char *p = part[i];
			size_t l = part_len[i];
			part[i] = part[n - 1 - i];
			part_len[i] = part_len[n - 1 - i];
			part[n - 1 - i] = p;
			part_len[n - 1 - i] = l;
		}
	}
	size_t first = 0;
	if (macro->digits != 0 && macro->digits < n)
		first = n - macro->digits;
	for (size_t i = first; i < n; i++) {
		if (i > first)
			spf_buf_add(out, ".", 1);
		if (!macro->escape) {
			spf_buf_add(out, part[i], part_len[i]);
			continue;
		}
		/* RFC 7208 7.3: upper case letters are URL-escaped: every
		 * octet outside unreserved (RFC 3986 2.3) becomes %XX */
		for (size_t k = 0; k < part_len[i]; k++) {
			unsigned char c = (unsigned char)part[i][k];
			bool unreserved = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
					  (c >= '0' && c <= '9') || c == '-' || c == '.' ||
					  c == '_' || c == '~';
			if (unreserved) {
				spf_buf_add(out, (const char *)&part[i][k], 1);
			} else {
				char esc[4];
				snprintf(esc, sizeof(esc), "%%%02X", c);
				spf_buf_add(out, esc, 3);
			}
		}
	}
}
