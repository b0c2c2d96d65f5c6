/* http/unsubscribe-parse - the tokens of one-click unsubscribe links and
 * the body POSTed to them (unsubscribe.h).  No I/O; everything from the
 * network is bounded and checked before use. */
#include "http/unsubscribe.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "http/form.h"
#include "util/base64.h"
#include "util/hmac.h"
#include "util/xalloc.h"

#define TOKEN_CONTEXT "petrel-unsubscribe-v1"
#define ONE_CLICK_FIELD "List-Unsubscribe"
#define ONE_CLICK_VALUE "One-Click"
#define BOUNDARY_MAX 70   /* RFC 2046 5.1.1 */
/* a one-click form is one field; a provider may add a few */
#define FORM_FIELDS_MAX 16
#define FORM_FIELD_SIZE_MAX 1024

static void token_mac(const unsigned char *secret, const char *account, const char *recipient,
		      unsigned char mac[HMAC_SHA256_LEN]);
static char *lower_copy(const char *s, size_t len);
static bool address_is_clean(const char *s, size_t len);
static bool form_has_one_click(const char *body, size_t len);
static bool multipart_boundary(const char *ct, size_t len, const char **b_r, size_t *b_len_r);
static bool multipart_has_one_click(const char *body, size_t len, const char *boundary,
				    size_t b_len);
static bool part_is_one_click(const char *part, size_t len);

/* token_mac - HMAC-SHA256 of the context and both addresses (lower case) */
static void token_mac(const unsigned char *secret, const char *account, const char *recipient,
		      unsigned char mac[HMAC_SHA256_LEN])
{
	const char *fields[] = { TOKEN_CONTEXT, account, recipient };
	hmac_sha256_fields(secret, UNSUBSCRIBE_SECRET_LEN, fields, 3, mac);
}

static char *lower_copy(const char *s, size_t len)
{
	char *out = xmalloc(len + 1);
	for (size_t i = 0; i < len; i++)
		out[i] = s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] - 'A' + 'a') : s[i];
	out[len] = '\0';
	return out;
}

/* address_is_clean - 1..UNSUBSCRIBE_ADDRESS_MAX printable ASCII octets
 * with an '@': what the store may be asked about */
static bool address_is_clean(const char *s, size_t len)
{
	if (len == 0 || len > UNSUBSCRIBE_ADDRESS_MAX || !memchr(s, '@', len))
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return false;
	return true;
}

void unsubscribe_token_make(const unsigned char secret[UNSUBSCRIBE_SECRET_LEN],
			    const char *account, const char *recipient, struct buf *out)
{
	size_t alen = strlen(account), rlen = strlen(recipient);
	assert(alen > 0 && alen <= UNSUBSCRIBE_ADDRESS_MAX);
	assert(rlen > 0 && rlen <= UNSUBSCRIBE_ADDRESS_MAX);
	char *a = lower_copy(account, alen), *r = lower_copy(recipient, rlen);
	struct buf payload;
	buf_init(&payload);
	buf_append(&payload, a, alen + 1);
	buf_append(&payload, r, rlen);
	unsigned char mac[HMAC_SHA256_LEN];
	token_mac(secret, a, r, mac);
	base64url_encode(payload.data, payload.len, out);
	buf_append(out, ".", 1);
	base64url_encode(mac, sizeof(mac), out);
	OPENSSL_cleanse(mac, sizeof(mac));
	buf_free(&payload);
	free(a);
	free(r);
}

int unsubscribe_token_check(const unsigned char secret[UNSUBSCRIBE_SECRET_LEN],
			    const char *text, size_t len, char **account_r, char **recipient_r,
			    const char **reason_r)
{
	struct buf payload, mac;
	buf_init(&payload);
	buf_init(&mac);
	char *a = NULL, *r = NULL;
	int rc = -1;
	*reason_r = "malformed";
	const char *dot = len <= UNSUBSCRIBE_TOKEN_MAX ? memchr(text, '.', len) : NULL;
	if (!dot || base64url_decode(text, (size_t)(dot - text), &payload) != 0 ||
	    base64url_decode(dot + 1, len - (size_t)(dot - text) - 1, &mac) != 0 ||
	    mac.len != HMAC_SHA256_LEN)
		goto out;
	const char *nul = payload.len > 0 ? memchr(payload.data, '\0', payload.len) : NULL;
	if (!nul)
		goto out;
	size_t alen = (size_t)(nul - payload.data), rlen = payload.len - alen - 1;
	if (!address_is_clean(payload.data, alen) || !address_is_clean(nul + 1, rlen))
		goto out;
	a = lower_copy(payload.data, alen);
	r = lower_copy(nul + 1, rlen);
	if (memcmp(a, payload.data, alen) != 0 || memcmp(r, nul + 1, rlen) != 0)
		goto out;  /* made lower-case: another spelling is not the same token */
	unsigned char want[HMAC_SHA256_LEN];
	token_mac(secret, a, r, want);
	bool same = hmac_equal(want, (const unsigned char *)mac.data);
	OPENSSL_cleanse(want, sizeof(want));
	if (!same) {
		*reason_r = "forged";
		goto out;
	}
	*account_r = a;
	*recipient_r = r;
	a = r = NULL;
	rc = 0;
out:
	free(a);
	free(r);
	buf_free(&payload);
	buf_free(&mac);
	return rc;
}

/* form_has_one_click - the urlencoded form (http/form.h, a final CRLF
 * tolerated) has the field List-Unsubscribe with the value One-Click */
static bool form_has_one_click(const char *body, size_t len)
{
	static const struct http_form_limits limits = { .fields = FORM_FIELDS_MAX,
							 .field_size = FORM_FIELD_SIZE_MAX };
	while (len > 0 && (body[len - 1] == '\n' || body[len - 1] == '\r'))
		len--;
	struct http_form form;
	const char *error = NULL;
	if (http_form_parse(body, len, &limits, &form, &error) != 0)
		return false;
	const char *value = http_form_get(&form, ONE_CLICK_FIELD);
	bool yes = value && strcmp(value, ONE_CLICK_VALUE) == 0;
	http_form_clear(&form);
	return yes;
}

/* multipart_boundary - the boundary parameter of a multipart/form-data
 * content type CT[0..LEN) (quoted or not), 1..70 octets */
static bool multipart_boundary(const char *ct, size_t len, const char **b_r, size_t *b_len_r)
{
	static const char type[] = "multipart/form-data";
	static const char param[] = "boundary=";
	if (len < sizeof(type) - 1 || strncasecmp(ct, type, sizeof(type) - 1) != 0)
		return false;
	for (size_t i = sizeof(type) - 1; i + sizeof(param) - 1 <= len; i++) {
		if (strncasecmp(ct + i, param, sizeof(param) - 1) != 0)
			continue;
		const char *b = ct + i + sizeof(param) - 1, *end = ct + len;
		bool quoted = b < end && *b == '"';
		b += quoted;
		const char *e = b;
		while (e < end && (quoted ? *e != '"' : (*e != ';' && *e != ' ' && *e != '\t')))
			e++;
		*b_r = b;
		*b_len_r = (size_t)(e - b);
		return *b_len_r > 0 && *b_len_r <= BOUNDARY_MAX;
	}
	return false;
}

/* part_is_one_click - PART[0..LEN) (its header fields, an empty line and
 * its content, CRLF ends) is the field List-Unsubscribe with the value
 * One-Click */
static bool part_is_one_click(const char *part, size_t len)
{
	static const char name[] = "name=\"" ONE_CLICK_FIELD "\"";
	const char *blank = memmem(part, len, "\r\n\r\n", 4);
	if (!blank)
		return false;
	size_t head = (size_t)(blank - part) + 2;
	const char *content = blank + 4;
	size_t content_len = len - (size_t)(content - part);
	return memmem(part, head, name, sizeof(name) - 1) != NULL &&
	       content_len == sizeof(ONE_CLICK_VALUE) - 1 &&
	       memcmp(content, ONE_CLICK_VALUE, content_len) == 0;
}

/* multipart_has_one_click - one part between "--BOUNDARY" delimiters
 * (RFC 2046 5.1.1) is List-Unsubscribe=One-Click */
static bool multipart_has_one_click(const char *body, size_t len, const char *boundary,
				    size_t b_len)
{
	char delim[BOUNDARY_MAX + 5] = "\r\n--";
	memcpy(delim + 4, boundary, b_len);
	size_t d_len = b_len + 4;
	/* the first delimiter may open the body without its CRLF */
	const char *p = len >= d_len - 2 && memcmp(body, delim + 2, d_len - 2) == 0 ?
		body + d_len - 2 : memmem(body, len, delim, d_len);
	const char *end = body + len;
	while (p) {
		if (end - p >= 2 && memcmp(p, "--", 2) == 0)
			break;  /* the close delimiter */
		const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
		if (!eol)
			break;
		const char *part = eol + 2;
		const char *next = memmem(part, (size_t)(end - part), delim, d_len);
		if (!next)
			break;
		if (part_is_one_click(part, (size_t)(next - part)))
			return true;
		p = next + d_len;
	}
	return false;
}

bool unsubscribe_body_is_one_click(const char *content_type, size_t ct_len, const char *body,
				   size_t len)
{
	const char *boundary;
	size_t b_len;
	if (ct_len > 0 && multipart_boundary(content_type, ct_len, &boundary, &b_len))
		return multipart_has_one_click(body, len, boundary, b_len);
	return form_has_one_click(body, len);
}
