/* mailauth/spf-record - the SPF record parser (RFC 7208 4.5, 4.6, 5, 6,
 * 7.1): the whole record is checked before anything is evaluated, since a
 * syntax error anywhere is a permerror (4.6).
 *
 *   record   = version terms *SP          version = "v=spf1"
 *   terms    = *( 1*SP ( directive / modifier ) )
 *   directive = [ qualifier ] mechanism
 *   modifier = redirect / explanation / unknown-modifier
 *   name     = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." )
 *
 * Names of mechanisms and modifiers are case-insensitive.  Terms point into
 * the record's own copy of the text.
 */
#include "mailauth/mailauth.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/xalloc.h"

static int spf_term_parse(struct spf_record *record, const char *term, size_t len,
			  const char **error_r);
static bool spf_name_is_modifier(const char *s, size_t len, size_t *name_len_r);
static bool spf_domain_spec_is_valid(const char *s, size_t len);
static bool spf_toplabel_is_valid(const char *s, size_t len);
static int spf_cidr_parse(const char *s, size_t len, unsigned max, unsigned *value_r);
static int spf_dual_cidr_split(const char *s, size_t *len, struct spf_term *term);
static bool spf_ip4_parse(const char *s, size_t len, unsigned char *addr);
static bool spf_ip6_parse(const char *s, size_t len, unsigned char *addr);

static bool spf_is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool spf_is_digit(char c)
{
	return c >= '0' && c <= '9';
}

bool spf_record_is_spf(const char *text, size_t len)
{
	return len >= 6 && strncasecmp(text, "v=spf1", 6) == 0 && (len == 6 || text[6] == ' ');
}

struct spf_record *spf_record_parse(const char *text, size_t len, const char **error_r)
{
	if (!spf_record_is_spf(text, len)) {
		*error_r = "not an SPF version 1 record";
		return NULL;
	}
	if (len > SPF_RECORD_MAX) {
		*error_r = "record too long";
		return NULL;
	}
	/* RFC 7208 3.1: US-ASCII; terms are separated by spaces only (4.6.1) */
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];
		if (c < 0x20 || c > 0x7e) {
			*error_r = "record holds a control or non-ASCII character";
			return NULL;
		}
	}
	struct spf_record *record = xcalloc(1, sizeof(*record));
	record->text = xstrndup(text, len);
	/* at most one term per two octets */
	record->terms = xcalloc(len / 2 + 1, sizeof(*record->terms));
	size_t pos = 6;
	while (pos < len) {
		while (pos < len && record->text[pos] == ' ')
			pos++;
		if (pos == len)
			break;
		size_t start = pos;
		while (pos < len && record->text[pos] != ' ')
			pos++;
		if (spf_term_parse(record, record->text + start, pos - start, error_r) < 0) {
			spf_record_free(&record);
			return NULL;
		}
	}
	return record;
}

void spf_record_free(struct spf_record **record)
{
	if (*record == NULL)
		return;
	free((*record)->text);
	free((*record)->terms);
	free(*record);
	*record = NULL;
}

/* spf_term_parse - one directive or modifier, appended to RECORD */
static int spf_term_parse(struct spf_record *record, const char *s, size_t len,
			  const char **error_r)
{
	size_t name_len;

	if (spf_name_is_modifier(s, len, &name_len)) {
		const char *value = s + name_len + 1;
		size_t value_len = len - name_len - 1;
		bool redirect = name_len == 8 && strncasecmp(s, "redirect", 8) == 0;
		bool exp = name_len == 3 && strncasecmp(s, "exp", 3) == 0;
		if (redirect || exp) {
			/* RFC 7208 6: each at most once */
			if ((redirect && record->redirect) || (exp && record->exp)) {
				*error_r = redirect ? "redirect= twice" : "exp= twice";
				return -1;
			}
			if (!spf_domain_spec_is_valid(value, value_len)) {
				*error_r = redirect ? "invalid redirect= domain"
						    : "invalid exp= domain";
				return -1;
			}
			if (redirect) {
				record->redirect = value;
				record->redirect_len = value_len;
			} else {
				record->exp = value;
				record->exp_len = value_len;
			}
			return 0;
		}
		/* unknown-modifier = name "=" macro-string: ignored, but
		 * its syntax still counts (RFC 7208 6, A); every macro
		 * letter of the grammar is allowed there */
		if (!spf_macro_check(value, value_len, SPF_MACRO_EXPLAIN, NULL)) {
			*error_r = "invalid macro in a modifier";
			return -1;
		}
		return 0;
	}

	struct spf_term *term = &record->terms[record->term_count];
	memset(term, 0, sizeof(*term));
	term->text = s;
	term->text_len = len;
	term->qualifier = SPF_RESULT_PASS;
	term->cidr4 = 32;
	term->cidr6 = 128;
	size_t i = 0;
	switch (s[0]) {
	case '+': term->qualifier = SPF_RESULT_PASS; i = 1; break;
	case '-': term->qualifier = SPF_RESULT_FAIL; i = 1; break;
	case '~': term->qualifier = SPF_RESULT_SOFTFAIL; i = 1; break;
	case '?': term->qualifier = SPF_RESULT_NEUTRAL; i = 1; break;
	default: break;
	}
	size_t name_start = i;
	while (i < len && s[i] != ':' && s[i] != '/')
		i++;
	const char *name = s + name_start;
	size_t nlen = i - name_start;
	const char *arg = s + i;          /* ":..." or "/..." or "" */
	size_t arg_len = len - i;
	static const struct {
		const char *name;
		enum spf_mechanism mechanism;
	} names[] = {
		{ "all", SPF_MECH_ALL }, { "include", SPF_MECH_INCLUDE }, { "a", SPF_MECH_A },
		{ "mx", SPF_MECH_MX }, { "ptr", SPF_MECH_PTR }, { "ip4", SPF_MECH_IP4 },
		{ "ip6", SPF_MECH_IP6 }, { "exists", SPF_MECH_EXISTS },
	};
	size_t k;
	for (k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
		if (strlen(names[k].name) == nlen && strncasecmp(name, names[k].name, nlen) == 0)
			break;
	}
	if (k == sizeof(names) / sizeof(names[0])) {
		*error_r = "unknown mechanism";
		return -1;
	}
	term->mechanism = names[k].mechanism;
	bool ok = false;
	switch (term->mechanism) {
	case SPF_MECH_ALL:
		ok = arg_len == 0;
		break;
	case SPF_MECH_INCLUDE:
	case SPF_MECH_EXISTS:
		/* ":" domain-spec, required */
		ok = arg_len > 1 && arg[0] == ':' &&
		     spf_domain_spec_is_valid(arg + 1, arg_len - 1);
		term->spec = arg + 1;
		term->spec_len = arg_len - 1;
		break;
	case SPF_MECH_PTR:
		/* [ ":" domain-spec ] */
		if (arg_len == 0) {
			ok = true;
		} else {
			ok = arg[0] == ':' && spf_domain_spec_is_valid(arg + 1, arg_len - 1);
			term->spec = arg + 1;
			term->spec_len = arg_len - 1;
		}
		break;
	case SPF_MECH_A:
	case SPF_MECH_MX: {
		/* [ ":" domain-spec ] [ dual-cidr-length ] */
		size_t rest = arg_len;
		if (spf_dual_cidr_split(arg, &rest, term) < 0)
			break;
		if (rest == 0) {
			ok = true;
		} else {
			ok = arg[0] == ':' && spf_domain_spec_is_valid(arg + 1, rest - 1);
			term->spec = arg + 1;
			term->spec_len = rest - 1;
		}
		break;
	}
	case SPF_MECH_IP4: {
		/* ":" ip4-network [ ip4-cidr-length ] */
		if (arg_len < 2 || arg[0] != ':')
			break;
		const char *slash = memchr(arg, '/', arg_len);
		size_t net_len = slash ? (size_t)(slash - arg) - 1 : arg_len - 1;
		ok = spf_ip4_parse(arg + 1, net_len, term->addr);
		if (ok && slash)
			ok = spf_cidr_parse(slash + 1, arg_len - (size_t)(slash - arg) - 1, 32,
					    &term->cidr4) == 0;
		break;
	}
	case SPF_MECH_IP6: {
		if (arg_len < 2 || arg[0] != ':')
			break;
		const char *slash = memchr(arg, '/', arg_len);
		size_t net_len = slash ? (size_t)(slash - arg) - 1 : arg_len - 1;
		ok = spf_ip6_parse(arg + 1, net_len, term->addr);
		if (ok && slash)
			ok = spf_cidr_parse(slash + 1, arg_len - (size_t)(slash - arg) - 1, 128,
					    &term->cidr6) == 0;
		break;
	}
	}
	if (!ok) {
		*error_r = "invalid mechanism syntax";
		return -1;
	}
	if (term->spec != NULL && term->spec_len == 0)
		term->spec = NULL;
	record->term_count++;
	return 0;
}

/* spf_name_is_modifier - S starts with name "=" (RFC 7208 4.6.1) */
static bool spf_name_is_modifier(const char *s, size_t len, size_t *name_len_r)
{
	if (len == 0 || !spf_is_alpha(s[0]))
		return false;
	size_t i = 1;
	while (i < len && (spf_is_alpha(s[i]) || spf_is_digit(s[i]) || s[i] == '-' ||
			   s[i] == '_' || s[i] == '.'))
		i++;
	if (i == len || s[i] != '=')
		return false;
	*name_len_r = i;
	return true;
}

/* spf_domain_spec_is_valid - domain-spec = macro-string domain-end;
 * domain-end = ( "." toplabel [ "." ] ) / macro-expand (RFC 7208 7.1) */
static bool spf_domain_spec_is_valid(const char *s, size_t len)
{
	if (len == 0 || !spf_macro_check(s, len, 0, NULL))
		return false;
	/* where the literal tail starts: after the last macro-expand */
	size_t tail = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] != '%')
			continue;
		if (s[i + 1] == '{') {
			const char *close = memchr(s + i, '}', len - i);
			i = (size_t)(close - s);
		} else {
			i++;
		}
		tail = i + 1;
	}
	if (tail == len)
		return true;   /* ends in a macro-expand */
	size_t end = len;
	if (s[end - 1] == '.')
		end--;
	size_t dot = end;
	while (dot > tail && s[dot - 1] != '.')
		dot--;
	if (dot == tail)
		return false;  /* no "." before the toplabel in the literal tail */
	return spf_toplabel_is_valid(s + dot, end - dot);
}

/* spf_toplabel_is_valid - ( *alphanum ALPHA *alphanum ) /
 * ( 1*alphanum "-" *( alphanum / "-" ) alphanum ): letters, digits and
 * inner hyphens, not all digits (RFC 7208 7.1) */
static bool spf_toplabel_is_valid(const char *s, size_t len)
{
	if (len == 0 || s[0] == '-' || s[len - 1] == '-')
		return false;
	bool letter_or_hyphen = false;
	for (size_t i = 0; i < len; i++) {
		if (spf_is_alpha(s[i]) || s[i] == '-')
			letter_or_hyphen = true;
		else if (!spf_is_digit(s[i]))
			return false;
	}
	return letter_or_hyphen;
}

/* spf_cidr_parse - "0" / %x31-39 *DIGIT, at most MAX; no leading zero */
static int spf_cidr_parse(const char *s, size_t len, unsigned max, unsigned *value_r)
{
	if (len == 0 || len > 3 || (s[0] == '0' && len > 1))
		return -1;
	unsigned v = 0;
	for (size_t i = 0; i < len; i++) {
		if (!spf_is_digit(s[i]))
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > max)
		return -1;
	*value_r = v;
	return 0;
}

/* spf_dual_cidr_split - take [ "/" ip4-cidr ] [ "//" ip6-cidr ] off the end
 * of S[0..*LEN), shortening *LEN; -1 on a bad prefix length */
static int spf_dual_cidr_split(const char *s, size_t *len, struct spf_term *term)
{
	size_t end = *len, i = end;
	while (i > 0 && spf_is_digit(s[i - 1]))
		i--;
	if (i < end && i >= 2 && s[i - 1] == '/' && s[i - 2] == '/') {
		if (spf_cidr_parse(s + i, end - i, 128, &term->cidr6) < 0)
			return -1;
		end = i - 2;
		i = end;
		while (i > 0 && spf_is_digit(s[i - 1]))
			i--;
	}
	if (i < end && i >= 1 && s[i - 1] == '/') {
		if (spf_cidr_parse(s + i, end - i, 32, &term->cidr4) < 0)
			return -1;
		end = i - 1;
	}
	*len = end;
	/* what is left is empty or ":" domain-spec; anything else is bad */
	return end == 0 || s[0] == ':' ? 0 : -1;
}

/* spf_ip4_parse - ip4-network: four qnum, no leading zeros (RFC 7208 5.6) */
static bool spf_ip4_parse(const char *s, size_t len, unsigned char *addr)
{
	size_t i = 0;
	for (int part = 0; part < 4; part++) {
		if (part > 0) {
			if (i >= len || s[i] != '.')
				return false;
			i++;
		}
		size_t start = i;
		unsigned v = 0;
		while (i < len && spf_is_digit(s[i]) && i - start < 3) {
			v = v * 10 + (unsigned)(s[i] - '0');
			i++;
		}
		size_t n = i - start;
		if (n == 0 || v > 255 || (n > 1 && s[start] == '0'))
			return false;
		addr[part] = (unsigned char)v;
	}
	return i == len;
}

static bool spf_ip6_parse(const char *s, size_t len, unsigned char *addr)
{
	char buf[64];
	if (len == 0 || len >= sizeof(buf))
		return false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	return inet_pton(AF_INET6, buf, addr) == 1;
}
