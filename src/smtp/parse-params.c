/* smtp/parse-params - arguments of MAIL, RCPT and BDAT.
 *
 * MAIL FROM:<path> [SP params] and RCPT TO:<path> [SP params] (RFC 5321
 * 4.1.1.2-3, 4.1.2 Mail-parameters), with the parameters Petrel announces:
 * SIZE (RFC 1870), BODY (RFC 6152, RFC 3030), SMTPUTF8 (RFC 6531), RET,
 * ENVID, NOTIFY, ORCPT (RFC 3461, RFC 6533) and AUTH (RFC 4954 5), and
 * X-PETREL-JUNK, Petrel's own between its nodes (docs/scaling.md).
 * Keywords are case insensitive.  Unknown parameters get 555 5.5.4 (RFC 5321
 * 4.1.1.11), malformed or repeated ones 501 5.5.4.
 *
 * SMTPUTF8 comes after the path it governs, so the path is parsed with UTF-8
 * allowed and refused afterwards if the parameter is missing; since UTF-8 is
 * validated either way, this is the same as knowing the parameter first.
 */
#include "smtp/parse.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/buf.h"
#include "util/utf8.h"
#include "util/xalloc.h"
#include "wire/wire.h"

#define SMTP_SIZE_DIGITS_MAX 20   /* fits 2^64 - 1 */
#define SMTP_ENVID_MAX       100  /* RFC 3461 4.4 */
#define SMTP_ORCPT_MAX       500  /* RFC 3461 4.2 */

/* One "keyword[=value]" from the parameter list, pointing into the args. */
struct param {
	const char *key;
	size_t key_len;
	const char *value;
	size_t value_len;
	bool has_value;
};

/* Bits of struct params_seen, for duplicate detection. */
enum {
	SEEN_SIZE = 0x1, SEEN_BODY = 0x2, SEEN_SMTPUTF8 = 0x4, SEEN_RET = 0x8,
	SEEN_ENVID = 0x10, SEEN_AUTH = 0x20, SEEN_NOTIFY = 0x40,
	SEEN_ORCPT = 0x80, SEEN_JUNK = 0x100,
};

/* The MAIL parameters we know, with the reply for a bad value. */
static const struct mail_keyword {
	const char *name;
	unsigned bit;
	const char *bad;
} mail_keywords[] = {
	{ "SIZE", SEEN_SIZE, "Bad SIZE value" },
	{ "BODY", SEEN_BODY, "Bad BODY value" },
	{ "SMTPUTF8", SEEN_SMTPUTF8, "SMTPUTF8 takes no value" },
	{ "RET", SEEN_RET, "Bad RET value" },
	{ "ENVID", SEEN_ENVID, "Bad ENVID value" },
	{ "AUTH", SEEN_AUTH, "Bad AUTH value" },
	{ "X-PETREL-JUNK", SEEN_JUNK, "X-PETREL-JUNK takes no value" },
};

static void set_error(struct smtp_error *error_r, int code,
		      const char *enhanced, const char *text);
static bool key_is(const struct param *param, const char *name);
static bool value_is(const char *value, size_t len, const char *name);
static int param_next(const char **cur, const char *end, struct param *param_r);
static bool parse_number(const char *s, size_t len, uint64_t *value_r);
static bool is_printable(const char *s);
static bool auth_is_mailbox(const char *s);
static int args_path(const char *args, size_t len, const char *prefix,
		     unsigned flags, struct smtp_path *path_r,
		     const char **rest_r, struct smtp_error *error_r);
static int mail_param(const struct param *param, struct smtp_mail_params *params,
		      unsigned *seen, struct smtp_error *error_r);
static int rcpt_param(const struct param *param, struct smtp_rcpt_params *params,
		      unsigned *seen, struct smtp_error *error_r);
static bool parse_notify(const char *s, size_t len, unsigned *notify_r);
static char *orcpt_decode(const char *s, size_t len);
static char *utf8_addr_decode(const char *s, size_t len);

static void set_error(struct smtp_error *error_r, int code,
		      const char *enhanced, const char *text)
{
	error_r->code = code;
	error_r->enhanced = enhanced;
	error_r->text = text;
}

static bool key_is(const struct param *param, const char *name)
{
	return strlen(name) == param->key_len &&
	       strncasecmp(param->key, name, param->key_len) == 0;
}

static bool value_is(const char *value, size_t len, const char *name)
{
	return strlen(name) == len && strncasecmp(value, name, len) == 0;
}

/* param_next - split off the next parameter after one or more SP.
 * RFC 5321 4.1.2: esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-"),
 * esmtp-value = 1*(%d33-60 / %d62-126), plus UTF-8 by RFC 6531 3.3.  An
 * empty value is split off here and refused by the parameter itself, for a
 * clearer reply.  Returns 1, 0 at the end, -1 on a syntax error. */
static int param_next(const char **cur, const char *end, struct param *param_r)
{
	const char *p = *cur;
	bool spaced = false;

	while (p < end && *p == ' ') {
		p++;
		spaced = true;
	}
	if (p >= end) {
		*cur = p;
		return 0;
	}
	if (!spaced)
		return -1;

	param_r->key = p;
	while (p < end && ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			   (*p >= '0' && *p <= '9') ||
			   (*p == '-' && p > param_r->key)))
		p++;
	param_r->key_len = (size_t)(p - param_r->key);
	if (param_r->key_len == 0)
		return -1;
	param_r->has_value = false;
	param_r->value = p;
	param_r->value_len = 0;
	if (p < end && *p == '=') {
		p++;
		param_r->has_value = true;
		param_r->value = p;
		while (p < end && *p != ' ') {
			unsigned char c = (unsigned char)*p;
			if (c < 33 || c == '=' || c == 127)
				return -1;
			p++;
		}
		param_r->value_len = (size_t)(p - param_r->value);
		if (!utf8_is_valid(param_r->value, param_r->value_len))
			return -1;
	}
	if (p < end && *p != ' ')
		return -1;
	*cur = p;
	return 1;
}

/* parse_number - 1 to 20 digits that fit in 64 bits */
static bool parse_number(const char *s, size_t len, uint64_t *value_r)
{
	uint64_t value = 0;

	if (len == 0 || len > SMTP_SIZE_DIGITS_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		unsigned digit = (unsigned)(s[i] - '0');
		if (value > (UINT64_MAX - digit) / 10)
			return false;
		value = value * 10 + digit;
	}
	*value_r = value;
	return true;
}

/* auth_is_mailbox - a decoded AUTH= value names a mailbox: RFC 4954 5
 * asks for an addr-spec, and we take the SMTP form of one (RFC 5321 4.1.2
 * Mailbox, ASCII as xtext is), the same grammar as the paths themselves */
static bool auth_is_mailbox(const char *s)
{
	size_t len = strlen(s);
	char *path = xasprintf("<%s>", s);
	struct smtp_path parsed;
	size_t used = 0;
	struct smtp_error ignored;
	bool ok = s[0] != '@' && smtp_path_parse(path, len + 2, 0, &parsed, &used, &ignored) == 0;
	if (ok) {
		ok = used == len + 2;
		smtp_path_clear(&parsed);
	}
	free(path);
	return ok;
}

/* is_printable - a decoded xtext is printable US-ASCII (RFC 3461 4) */
static bool is_printable(const char *s)
{
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return false;
	}
	return true;
}

/* utf8_addr_decode - RFC 6533 3 utf-8-addr-xtext / utf-8-addr-unitext:
 * QCHAR, raw UTF-8 (already validated by param_next), and \x{HEXPOINT} */
static char *utf8_addr_decode(const char *s, size_t len)
{
	struct buf out;
	size_t i = 0;

	buf_init(&out);
	buf_append(&out, "", 0);
	while (i < len) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\\') {
			uint32_t cp = 0;
			size_t digits = 0;
			char enc[4];
			if (len - i < 5 || s[i + 1] != 'x' || s[i + 2] != '{')
				goto fail;
			i += 3;
			while (i < len && s[i] != '}' && digits < 6) {
				int v = wire_hex_value(s[i]);
				if (v < 0)
					goto fail;
				cp = cp * 16 + (uint32_t)v;
				digits++;
				i++;
			}
			if (i >= len || s[i] != '}' || digits == 0)
				goto fail;
			i++;
			if (cp < 0x20 || cp == 0x7f || cp > 0x10ffff ||
			    (cp >= 0xd800 && cp <= 0xdfff))
				goto fail;
			buf_append(&out, enc, utf8_encode(cp, enc));
		} else if (c == '+' || c == '=' || c < 0x21 || c == 0x7f) {
			goto fail;
		} else {
			buf_append(&out, &s[i], 1);
			i++;
		}
	}
	return out.data;
fail:
	buf_free(&out);
	return NULL;
}

/* orcpt_decode - RFC 3461 4.2 ORCPT=addr-type ";" xtext, for the address
 * types we can relay: "rfc822" and "utf-8" (RFC 6533 3) */
static char *orcpt_decode(const char *s, size_t len)
{
	const char *semi = memchr(s, ';', len);
	char *addr = NULL;
	char *result = NULL;

	if (semi == NULL || len > SMTP_ORCPT_MAX)
		return NULL;
	size_t type_len = (size_t)(semi - s);
	size_t addr_len = len - type_len - 1;
	if (addr_len == 0)
		return NULL;
	if (value_is(s, type_len, "rfc822")) {
		addr = wire_xtext_decode(semi + 1, addr_len);
		if (addr != NULL && !is_printable(addr))
			goto done;
	} else if (value_is(s, type_len, "utf-8")) {
		addr = utf8_addr_decode(semi + 1, addr_len);
	}
	if (addr == NULL || addr[0] == '\0')
		goto done;
	result = xasprintf("%.*s;%s", (int)type_len, s, addr);
done:
	free(addr);
	return result;
}

/* parse_notify - RFC 3461 4.1: "NEVER" or a list of SUCCESS, FAILURE, DELAY */
static bool parse_notify(const char *s, size_t len, unsigned *notify_r)
{
	unsigned notify = 0;
	size_t i = 0;

	while (i <= len) {
		size_t start = i;
		while (i < len && s[i] != ',')
			i++;
		size_t n = i - start;
		if (value_is(s + start, n, "NEVER"))
			notify |= WIRE_NOTIFY_NEVER;
		else if (value_is(s + start, n, "SUCCESS"))
			notify |= WIRE_NOTIFY_SUCCESS;
		else if (value_is(s + start, n, "FAILURE"))
			notify |= WIRE_NOTIFY_FAILURE;
		else if (value_is(s + start, n, "DELAY"))
			notify |= WIRE_NOTIFY_DELAY;
		else
			return false;
		i++;  /* past the comma, or past the end to stop */
	}
	if ((notify & WIRE_NOTIFY_NEVER) != 0 && notify != WIRE_NOTIFY_NEVER)
		return false;
	*notify_r = notify;
	return true;
}

/* args_path - "FROM:" / "TO:", spaces, the path; *rest_r after the path */
static int args_path(const char *args, size_t len, const char *prefix,
		     unsigned flags, struct smtp_path *path_r,
		     const char **rest_r, struct smtp_error *error_r)
{
	size_t prefix_len = strlen(prefix);
	size_t i = prefix_len;
	size_t used;
	bool sender = (flags & SMTP_PATH_SENDER) != 0;

	path_r->address = NULL;
	path_r->local_len = 0;
	path_r->domain = NULL;
	path_r->is_utf8 = false;
	if (len < prefix_len || strncasecmp(args, prefix, prefix_len) != 0) {
		set_error(error_r, 501, "5.5.4", sender ?
			  "Syntax: MAIL FROM:<address>" :
			  "Syntax: RCPT TO:<address>");
		return -1;
	}
	/* RFC 5321 4.1.2 has no space after the colon; many clients send one. */
	while (i < len && args[i] == ' ')
		i++;
	if (smtp_path_parse(args + i, len - i, flags, path_r, &used, error_r) < 0)
		return -1;
	i += used;
	if (i < len && args[i] != ' ') {
		smtp_path_clear(path_r);
		set_error(error_r, 501, sender ? "5.1.7" : "5.1.3", sender ?
			  "Syntax error in sender address" :
			  "Syntax error in recipient address");
		return -1;
	}
	*rest_r = args + i;
	return 0;
}

/* mail_param - one MAIL parameter into PARAMS */
static int mail_param(const struct param *param, struct smtp_mail_params *params,
		      unsigned *seen, struct smtp_error *error_r)
{
	const char *v = param->value;
	size_t vlen = param->value_len;
	unsigned bit = 0;
	const char *bad = NULL;

	for (size_t i = 0; i < sizeof(mail_keywords) / sizeof(mail_keywords[0]); i++) {
		if (key_is(param, mail_keywords[i].name)) {
			bit = mail_keywords[i].bit;
			bad = mail_keywords[i].bad;
			break;
		}
	}
	if (bit == 0) {
		set_error(error_r, 555, "5.5.4", "Unknown MAIL parameter");
		return -1;
	}
	if ((*seen & bit) != 0) {
		set_error(error_r, 501, "5.5.4", "Duplicate MAIL parameter");
		return -1;
	}
	*seen |= bit;

	if (bit == SEEN_SMTPUTF8 || bit == SEEN_JUNK) {
		if (param->has_value)
			goto bad_value;
		*(bit == SEEN_JUNK ? &params->junk : &params->smtputf8) = true;
		return 0;
	}
	if (!param->has_value || vlen == 0)
		goto bad_value;
	switch (bit) {
	case SEEN_SIZE:
		if (!parse_number(v, vlen, &params->size))
			goto bad_value;
		break;
	case SEEN_BODY:
		if (value_is(v, vlen, "7BIT"))
			params->body = SMTP_BODY_7BIT;
		else if (value_is(v, vlen, "8BITMIME"))
			params->body = SMTP_BODY_8BITMIME;
		else if (value_is(v, vlen, "BINARYMIME"))
			params->body = SMTP_BODY_BINARYMIME;
		else
			goto bad_value;
		break;
	case SEEN_RET:
		if (value_is(v, vlen, "FULL"))
			params->ret = SMTP_RET_FULL;
		else if (value_is(v, vlen, "HDRS"))
			params->ret = SMTP_RET_HDRS;
		else
			goto bad_value;
		break;
	case SEEN_ENVID:
		if (vlen > SMTP_ENVID_MAX)
			goto bad_value;
		params->envid = wire_xtext_decode(v, vlen);
		if (params->envid == NULL || !is_printable(params->envid))
			goto bad_value;
		break;
	default: /* SEEN_AUTH: RFC 4954 5, "<>" or an xtext mailbox */
		if (vlen == 2 && v[0] == '<' && v[1] == '>') {
			params->auth = xstrdup("<>");
			break;
		}
		params->auth = wire_xtext_decode(v, vlen);
		if (params->auth == NULL || !is_printable(params->auth) ||
		    !auth_is_mailbox(params->auth))
			goto bad_value;
		break;
	}
	return 0;

bad_value:
	set_error(error_r, 501, "5.5.4", bad);
	return -1;
}

/* rcpt_param - one RCPT parameter into PARAMS */
static int rcpt_param(const struct param *param, struct smtp_rcpt_params *params,
		      unsigned *seen, struct smtp_error *error_r)
{
	if (key_is(param, "NOTIFY")) {
		if ((*seen & SEEN_NOTIFY) != 0)
			goto duplicate;
		*seen |= SEEN_NOTIFY;
		if (!param->has_value ||
		    !parse_notify(param->value, param->value_len,
				  &params->notify)) {
			set_error(error_r, 501, "5.5.4", "Bad NOTIFY value");
			return -1;
		}
		return 0;
	}
	if (key_is(param, "ORCPT")) {
		if ((*seen & SEEN_ORCPT) != 0)
			goto duplicate;
		*seen |= SEEN_ORCPT;
		if (param->has_value)
			params->orcpt = orcpt_decode(param->value,
						     param->value_len);
		if (params->orcpt == NULL) {
			set_error(error_r, 501, "5.5.4", "Bad ORCPT value");
			return -1;
		}
		return 0;
	}
	set_error(error_r, 555, "5.5.4", "Unknown RCPT parameter");
	return -1;

duplicate:
	set_error(error_r, 501, "5.5.4", "Duplicate RCPT parameter");
	return -1;
}

void smtp_mail_params_clear(struct smtp_mail_params *params)
{
	free(params->envid);
	free(params->auth);
	memset(params, 0, sizeof(*params));
}

void smtp_rcpt_params_clear(struct smtp_rcpt_params *params)
{
	free(params->orcpt);
	memset(params, 0, sizeof(*params));
}

/* smtp_mail_args_parse - "FROM:<path> [params]" of MAIL (RFC 5321 4.1.1.2) */
int smtp_mail_args_parse(const char *args, size_t len, struct smtp_path *path_r,
			 struct smtp_mail_params *params_r,
			 struct smtp_error *error_r)
{
	const char *cur, *end = args + len;
	struct param param;
	unsigned seen = 0;
	int ret;

	memset(params_r, 0, sizeof(*params_r));
	if (args_path(args, len, "FROM:", SMTP_PATH_ALLOW_NULL |
		      SMTP_PATH_ALLOW_UTF8 | SMTP_PATH_SENDER, path_r, &cur,
		      error_r) < 0)
		return -1;
	while ((ret = param_next(&cur, end, &param)) > 0) {
		if (mail_param(&param, params_r, &seen, error_r) < 0)
			goto fail;
	}
	if (ret < 0) {
		set_error(error_r, 501, "5.5.4", "Syntax error in MAIL parameters");
		goto fail;
	}
	if (path_r->is_utf8 && !params_r->smtputf8) {
		/* RFC 6531 3.7.4.1 */
		set_error(error_r, 553, "5.6.7",
			  "Non-ASCII address requires SMTPUTF8");
		goto fail;
	}
	return 0;

fail:
	smtp_path_clear(path_r);
	smtp_mail_params_clear(params_r);
	return -1;
}

/* smtp_rcpt_args_parse - "TO:<path> [params]" of RCPT (RFC 5321 4.1.1.3) */
int smtp_rcpt_args_parse(const char *args, size_t len, bool allow_utf8,
			 struct smtp_path *path_r, struct smtp_rcpt_params *params_r,
			 struct smtp_error *error_r)
{
	const char *cur, *end = args + len;
	struct param param;
	unsigned seen = 0;
	unsigned flags = SMTP_PATH_POSTMASTER;
	int ret;

	memset(params_r, 0, sizeof(*params_r));
	if (allow_utf8)
		flags |= SMTP_PATH_ALLOW_UTF8;
	if (args_path(args, len, "TO:", flags, path_r, &cur, error_r) < 0)
		return -1;
	while ((ret = param_next(&cur, end, &param)) > 0) {
		if (rcpt_param(&param, params_r, &seen, error_r) < 0)
			goto fail;
	}
	if (ret < 0) {
		set_error(error_r, 501, "5.5.4", "Syntax error in RCPT parameters");
		goto fail;
	}
	return 0;

fail:
	smtp_path_clear(path_r);
	smtp_rcpt_params_clear(params_r);
	return -1;
}

/* smtp_bdat_args_parse - RFC 3030 2: chunk-size [SP end-marker] */
int smtp_bdat_args_parse(const char *args, size_t len, uint64_t *size_r,
			 bool *last_r, struct smtp_error *error_r)
{
	size_t i = 0;

	*size_r = 0;
	*last_r = false;
	while (i < len && args[i] >= '0' && args[i] <= '9')
		i++;
	if (!parse_number(args, i, size_r))
		goto fail;
	size_t j = i;
	while (j < len && args[j] == ' ')
		j++;
	if (j < len) {
		if (j == i)
			goto fail;
		size_t k = j;
		while (k < len && args[k] != ' ')
			k++;
		if (!value_is(args + j, k - j, "LAST"))
			goto fail;
		*last_r = true;
		while (k < len && args[k] == ' ')
			k++;
		if (k < len)
			goto fail;
	}
	return 0;

fail:
	*size_r = 0;
	*last_r = false;
	set_error(error_r, 501, "5.5.4", "Syntax: BDAT size [LAST]");
	return -1;
}
