/* mailauth/dkim-parse - the DKIM-Signature field (RFC 6376 3.5) and the key
 * record (3.6.1, RFC 8463 4), on the tag-list parser (tags.c) and the strict
 * base64 decoder (util/base64) once FWS is taken out of b=, bh= and p=.
 *
 * Whatever makes a signature unusable is an error here with its reason
 * (RFC 6376 6.1.1 says to ignore such a signature; Authentication-Results
 * calls that permerror, RFC 8601 2.7.1), including rsa-sha1, which RFC 8301
 * 3.1 forbids verifiers to accept.  Checks that need the clock (x=) or the
 * key (t=s) are the verifier's.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mailauth/dkim-int.h"
#include "mailauth/mailauth.h"
#include "util/base64.h"
#include "util/domain.h"
#include "util/xalloc.h"

#define DKIM_TAGS_MAX 64

static char *tag_dup(const struct mailauth_tag *tag);
static int tag_base64(const struct mailauth_tag *tag, struct buf *out, struct buf *text);
static int tag_number(const struct mailauth_tag *tag, size_t max_digits, int64_t *value_r);
static bool tag_list_has(const struct mailauth_tag *tag, const char *item);
static bool tag_is(const struct mailauth_tag *tag, const char *value);
static int signature_canon(const struct mailauth_tag *tag, struct dkim_signature *sig,
			   const char **error_r);
static int signature_headers(const struct mailauth_tag *tag, struct dkim_signature *sig,
			     const char **error_r);
static bool identity_is_in(const char *identity, const char *domain);

static char *tag_dup(const struct mailauth_tag *tag)
{
	return xstrndup(tag->value, tag->value_len);
}

/* tag_base64 - a base64 value with its FWS removed (RFC 6376 3.5 b=, bh=;
 * 3.6.1 p=), decoded strictly into OUT; the FWS-free text into TEXT if not NULL */
static int tag_base64(const struct mailauth_tag *tag, struct buf *out, struct buf *text)
{
	struct buf clean;
	buf_init(&clean);
	for (size_t i = 0; i < tag->value_len; i++) {
		char c = tag->value[i];
		if (c != ' ' && c != '\t' && c != '\r' && c != '\n')
			buf_append(&clean, &c, 1);
	}
	int ret = base64_decode(clean.data ? clean.data : "", clean.len, out);
	if (text != NULL && ret == 0)
		buf_append(text, clean.data ? clean.data : "", clean.len);
	buf_free(&clean);
	return ret;
}

/* tag_number - 1*MAX_DIGITS DIGIT (l=: 76, t= and x=: 12) that fits in int64 */
static int tag_number(const struct mailauth_tag *tag, size_t max_digits, int64_t *value_r)
{
	if (tag->value_len == 0 || tag->value_len > max_digits)
		return -1;
	int64_t v = 0;
	for (size_t i = 0; i < tag->value_len; i++) {
		char c = tag->value[i];
		if (c < '0' || c > '9')
			return -1;
		if (v > (INT64_MAX - (c - '0')) / 10)
			return -1;  /* longer than any message or time */
		v = v * 10 + (c - '0');
	}
	*value_r = v;
	return 0;
}

/* tag_is - the value is VALUE, case-insensitively */
static bool tag_is(const struct mailauth_tag *tag, const char *value)
{
	return tag->value_len == strlen(value) &&
		strncasecmp(tag->value, value, tag->value_len) == 0;
}

/* tag_list_has - a colon-separated value (q=, h= of keys, s=, t=), FWS
 * allowed around the items, holds ITEM (case-insensitive) */
static bool tag_list_has(const struct mailauth_tag *tag, const char *item)
{
	const char *p = tag->value, *end = tag->value + tag->value_len;
	size_t n = strlen(item);
	while (p <= end) {
		const char *colon = memchr(p, ':', (size_t)(end - p));
		const char *stop = colon ? colon : end;
		const char *a = p, *b = stop;
		while (a < b && strchr(" \t\r\n", *a))
			a++;
		while (b > a && strchr(" \t\r\n", b[-1]))
			b--;
		if ((size_t)(b - a) == n && strncasecmp(a, item, n) == 0)
			return true;
		if (colon == NULL)
			break;
		p = colon + 1;
	}
	return false;
}

/* signature_canon - c= (RFC 6376 3.5): header[/body], each simple or
 * relaxed; the body's defaults to simple */
static int signature_canon(const struct mailauth_tag *tag, struct dkim_signature *sig,
			   const char **error_r)
{
	const char *slash = memchr(tag->value, '/', tag->value_len);
	size_t hlen = slash ? (size_t)(slash - tag->value) : tag->value_len;
	struct mailauth_tag part = { .value = tag->value, .value_len = hlen };
	for (int i = 0; i < 2; i++) {
		enum dkim_canon c;
		if (tag_is(&part, "simple"))
			c = DKIM_CANON_SIMPLE;
		else if (tag_is(&part, "relaxed"))
			c = DKIM_CANON_RELAXED;
		else {
			*error_r = "unknown canonicalization in c=";
			return -1;
		}
		if (i == 0)
			sig->header_canon = c;
		else
			sig->body_canon = c;
		if (slash == NULL)
			break;
		part.value = slash + 1;
		part.value_len = tag->value_len - hlen - 1;
	}
	return 0;
}

/* signature_headers - h=: field names separated by colons, FWS around them;
 * From must be among them (RFC 6376 5.4) */
static int signature_headers(const struct mailauth_tag *tag, struct dkim_signature *sig,
			     const char **error_r)
{
	const char *p = tag->value, *end = tag->value + tag->value_len;
	bool from = false;
	sig->headers = xcalloc(DKIM_SIGNED_HEADERS_MAX, sizeof(char *));
	for (;;) {
		const char *colon = memchr(p, ':', (size_t)(end - p));
		const char *stop = colon ? colon : end;
		const char *a = p, *b = stop;
		while (a < b && strchr(" \t\r\n", *a))
			a++;
		while (b > a && strchr(" \t\r\n", b[-1]))
			b--;
		if (a == b) {
			*error_r = "empty header name in h=";
			return -1;
		}
		for (const char *c = a; c < b; c++) {
			/* RFC 5322 ftext: printable US-ASCII but the colon */
			if ((unsigned char)*c < 0x21 || (unsigned char)*c > 0x7e) {
				*error_r = "invalid header name in h=";
				return -1;
			}
		}
		if (sig->header_count == DKIM_SIGNED_HEADERS_MAX) {
			*error_r = "too many header names in h=";
			return -1;
		}
		sig->headers[sig->header_count++] = xstrndup(a, (size_t)(b - a));
		if ((size_t)(b - a) == 4 && strncasecmp(a, "from", 4) == 0)
			from = true;
		if (colon == NULL)
			break;
		p = colon + 1;
	}
	if (!from) {
		*error_r = "h= does not include From";
		return -1;
	}
	return 0;
}

/* dkim_selector_is_valid - s= (RFC 6376 3.1): dot-separated labels; underscores
 * are accepted as in DNS names that are not host names */
bool dkim_selector_is_valid(const char *s)
{
	size_t label = 0, total = 0;
	for (; *s != '\0'; s++, total++) {
		char c = *s;
		if (c == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_'))
			return false;
		if (++label > DOMAIN_LABEL_MAX)
			return false;
	}
	return label > 0 && total <= 200;  /* room left for ._domainkey.<d> */
}

/* identity_is_in - i='s domain (after its last "@") is DOMAIN or below it */
static bool identity_is_in(const char *identity, const char *domain)
{
	const char *at = strrchr(identity, '@');
	if (at == NULL)
		return false;
	const char *d = at + 1;
	size_t dl = strlen(d), n = strlen(domain);
	if (dl == n)
		return strcasecmp(d, domain) == 0;
	return dl > n && d[dl - n - 1] == '.' && strcasecmp(d + dl - n, domain) == 0;
}

/* dkim_signature_parse - a DKIM-Signature field's value (RFC 6376 3.5) */
int dkim_signature_parse(const char *text, size_t len, struct dkim_signature *sig_r,
			 const char **error_r)
{
	return dkim_field_parse(text, len, DKIM_FIELD_SIGNATURE, sig_r, error_r);
}

/* field_instance - ARC's i=: an instance number 1..ARC_INSTANCES_MAX */
static int field_instance(const struct mailauth_tag *i, struct dkim_signature *sig,
			  const char **error_r)
{
	int64_t n;
	if (tag_number(i, 2, &n) < 0 || n < 1 || n > ARC_INSTANCES_MAX) {
		*error_r = "i= is not an instance number (1..50)";
		return -1;
	}
	sig->instance = (unsigned)n;
	return 0;
}

/* dkim_field_parse - DKIM-Signature, or ARC-Message-Signature (RFC 8617
 * 4.1.2: DKIM's tags without v=, i= the instance) or ARC-Seal (4.1.3: i=,
 * a=, b=, d=, s=, cv=, t=; no h=, relaxed header canonicalization) */
int dkim_field_parse(const char *text, size_t len, enum dkim_field_kind kind,
		     struct dkim_signature *sig_r, const char **error_r)
{
	struct mailauth_tag tags[DKIM_TAGS_MAX];
	struct buf bytes, b_text;
	int ret = -1;

	memset(sig_r, 0, sizeof(*sig_r));
	sig_r->length = sig_r->timestamp = sig_r->expiration = -1;
	buf_init(&bytes);
	buf_init(&b_text);
	int n = mailauth_tags_parse(text, len, tags, DKIM_TAGS_MAX, error_r);
	if (n < 0)
		goto out;
	size_t count = (size_t)n;
	/* what the report names the signature by, before anything can fail */
	const struct mailauth_tag *d = mailauth_tags_find(tags, count, "d");
	const struct mailauth_tag *s = mailauth_tags_find(tags, count, "s");
	const struct mailauth_tag *a = mailauth_tags_find(tags, count, "a");
	if (d != NULL)
		sig_r->domain = tag_dup(d);
	if (s != NULL)
		sig_r->selector = tag_dup(s);
	if (a != NULL)
		sig_r->algorithm_name = tag_dup(a);

	const struct mailauth_tag *v = mailauth_tags_find(tags, count, "v");
	const struct mailauth_tag *b = mailauth_tags_find(tags, count, "b");
	const struct mailauth_tag *bh = mailauth_tags_find(tags, count, "bh");
	const struct mailauth_tag *h = mailauth_tags_find(tags, count, "h");
	const struct mailauth_tag *i = mailauth_tags_find(tags, count, "i");
	const struct mailauth_tag *cv = mailauth_tags_find(tags, count, "cv");
	if (kind == DKIM_FIELD_SIGNATURE) {
		if (v == NULL || a == NULL || b == NULL || bh == NULL || d == NULL || h == NULL ||
		    s == NULL) {
			*error_r = "a required tag (v, a, b, bh, d, h, s) is missing";
			goto out;
		}
		if (!tag_is(v, "1")) {
			*error_r = "v= is not 1";
			goto out;
		}
	} else if (kind == DKIM_FIELD_ARC_MESSAGE) {
		if (i == NULL || a == NULL || b == NULL || bh == NULL || d == NULL || h == NULL ||
		    s == NULL) {
			*error_r = "a required tag (i, a, b, bh, d, h, s) is missing";
			goto out;
		}
		if (field_instance(i, sig_r, error_r) < 0)
			goto out;
	} else {
		if (i == NULL || a == NULL || b == NULL || d == NULL || s == NULL || cv == NULL) {
			*error_r = "a required tag (i, a, b, d, s, cv) is missing";
			goto out;
		}
		if (field_instance(i, sig_r, error_r) < 0)
			goto out;
		if (h != NULL) {
			*error_r = "h= is not allowed in ARC-Seal (RFC 8617 4.1.3)";
			goto out;
		}
		if (tag_is(cv, "none"))
			sig_r->cv = DKIM_ARC_CV_NONE;
		else if (tag_is(cv, "pass"))
			sig_r->cv = DKIM_ARC_CV_PASS;
		else if (tag_is(cv, "fail"))
			sig_r->cv = DKIM_ARC_CV_FAIL;
		else {
			*error_r = "cv= is not none, pass or fail";
			goto out;
		}
		sig_r->header_canon = DKIM_CANON_RELAXED;
	}
	if (tag_is(a, "rsa-sha256"))
		sig_r->algorithm = DKIM_ALGORITHM_RSA_SHA256;
	else if (tag_is(a, "ed25519-sha256"))
		sig_r->algorithm = DKIM_ALGORITHM_ED25519_SHA256;
	else if (tag_is(a, "rsa-sha1")) {
		*error_r = "rsa-sha1 is not accepted (RFC 8301)";
		goto out;
	} else {
		*error_r = "unsupported algorithm";
		goto out;
	}
	if (!domain_name_is_valid(sig_r->domain, strlen(sig_r->domain), 0) ||
	    strlen(sig_r->domain) != d->value_len) {
		*error_r = "d= is not a domain name";
		goto out;
	}
	if (strlen(sig_r->selector) != s->value_len || !dkim_selector_is_valid(sig_r->selector)) {
		*error_r = "s= is not a selector";
		goto out;
	}
	if (tag_base64(b, &bytes, &b_text) < 0 || bytes.len == 0) {
		*error_r = "b= is not base64";
		goto out;
	}
	sig_r->b = xmalloc(bytes.len);
	memcpy(sig_r->b, bytes.data, bytes.len);
	sig_r->b_len = bytes.len;
	sig_r->b_text = xstrndup(b_text.data, b_text.len);
	buf_reset(&bytes);
	if (kind != DKIM_FIELD_ARC_SEAL &&
	    (tag_base64(bh, &bytes, NULL) < 0 || bytes.len != DKIM_HASH_LEN)) {
		*error_r = "bh= is not a base64 SHA-256 hash";
		goto out;
	}
	if (kind != DKIM_FIELD_ARC_SEAL)
		memcpy(sig_r->bh, bytes.data, DKIM_HASH_LEN);
	/* b='s span with the FWS on both sides, up to the ";" or the end */
	size_t start = (size_t)(b->value - text), end = start + b->value_len;
	while (start > 0 && text[start - 1] != '=')
		start--;
	while (end < len && text[end] != ';')
		end++;
	sig_r->b_start = start;
	sig_r->b_end = end;

	if (kind == DKIM_FIELD_ARC_SEAL) {
		/* no h=, c=, l=, x= to read: t= alone below */
		sig_r->identity = xasprintf("@%s", sig_r->domain);
		goto timestamp;
	}
	const struct mailauth_tag *c = mailauth_tags_find(tags, count, "c");
	if (c != NULL && signature_canon(c, sig_r, error_r) < 0)
		goto out;
	if (signature_headers(h, sig_r, error_r) < 0)
		goto out;
	if (i != NULL && kind == DKIM_FIELD_SIGNATURE) {
		sig_r->identity = tag_dup(i);
		if (strlen(sig_r->identity) != i->value_len ||
		    !identity_is_in(sig_r->identity, sig_r->domain)) {
			*error_r = "i= is not in d= or below it";
			goto out;
		}
	} else {
		sig_r->identity = xasprintf("@%s", sig_r->domain);
	}
	const struct mailauth_tag *l = mailauth_tags_find(tags, count, "l");
	if (l != NULL && tag_number(l, 76, &sig_r->length) < 0) {
		*error_r = "l= is not a number";
		goto out;
	}
	const struct mailauth_tag *q = mailauth_tags_find(tags, count, "q");
	if (q != NULL && !tag_list_has(q, "dns/txt")) {
		*error_r = "q= has no query method but dns/txt";
		goto out;
	}
timestamp:;
	const struct mailauth_tag *t = mailauth_tags_find(tags, count, "t");
	if (t != NULL && tag_number(t, 12, &sig_r->timestamp) < 0) {
		*error_r = "t= is not a number";
		goto out;
	}
	const struct mailauth_tag *x = mailauth_tags_find(tags, count, "x");
	if (x != NULL && tag_number(x, 12, &sig_r->expiration) < 0) {
		*error_r = "x= is not a number";
		goto out;
	}
	if (t != NULL && x != NULL && sig_r->expiration <= sig_r->timestamp) {
		*error_r = "x= is not after t=";
		goto out;
	}
	ret = 0;
out:
	buf_free(&bytes);
	buf_free(&b_text);
	return ret;
}

void dkim_signature_free(struct dkim_signature *sig)
{
	free(sig->algorithm_name);
	free(sig->domain);
	free(sig->selector);
	free(sig->identity);
	for (size_t i = 0; i < sig->header_count; i++)
		free(sig->headers[i]);
	free(sig->headers);
	free(sig->b);
	free(sig->b_text);
	memset(sig, 0, sizeof(*sig));
}

/* dkim_key_parse - a key record (RFC 6376 3.6.1) */
int dkim_key_parse(const char *text, size_t len, struct dkim_key *key_r, const char **error_r)
{
	struct mailauth_tag tags[DKIM_TAGS_MAX];
	struct buf bytes;
	int ret = -1;

	memset(key_r, 0, sizeof(*key_r));
	buf_init(&bytes);
	int n = mailauth_tags_parse(text, len, tags, DKIM_TAGS_MAX, error_r);
	if (n < 0)
		goto out;
	size_t count = (size_t)n;
	const struct mailauth_tag *v = mailauth_tags_find(tags, count, "v");
	/* v= is optional, but first when present, and then DKIM1 */
	if (v != NULL && (v != &tags[0] || !(v->value_len == 5 &&
					     memcmp(v->value, "DKIM1", 5) == 0))) {
		*error_r = "v= is not DKIM1 first";
		goto out;
	}
	const struct mailauth_tag *k = mailauth_tags_find(tags, count, "k");
	if (k == NULL || tag_is(k, "rsa"))
		key_r->type = DKIM_KEY_RSA;
	else if (tag_is(k, "ed25519"))
		key_r->type = DKIM_KEY_ED25519;
	else {
		*error_r = "unknown key type k=";
		goto out;
	}
	const struct mailauth_tag *h = mailauth_tags_find(tags, count, "h");
	if (h != NULL && !tag_list_has(h, "sha256")) {
		*error_r = "the key's h= does not allow sha256";
		goto out;
	}
	const struct mailauth_tag *s = mailauth_tags_find(tags, count, "s");
	if (s != NULL && !tag_list_has(s, "*") && !tag_list_has(s, "email")) {
		*error_r = "the key's s= is not for email";
		goto out;
	}
	const struct mailauth_tag *t = mailauth_tags_find(tags, count, "t");
	if (t != NULL) {
		key_r->testing = tag_list_has(t, "y");
		key_r->strict = tag_list_has(t, "s");
	}
	const struct mailauth_tag *p = mailauth_tags_find(tags, count, "p");
	if (p == NULL) {
		*error_r = "the key has no p=";
		goto out;
	}
	if (tag_base64(p, &bytes, NULL) < 0) {
		*error_r = "the key's p= is not base64";
		goto out;
	}
	if (bytes.len == 0) {
		key_r->revoked = true;  /* 3.6.1: an empty p= is a revoked key */
	} else {
		key_r->data = xmalloc(bytes.len);
		memcpy(key_r->data, bytes.data, bytes.len);
		key_r->data_len = bytes.len;
	}
	ret = 0;
out:
	buf_free(&bytes);
	return ret;
}

void dkim_key_free(struct dkim_key *key)
{
	free(key->data);
	memset(key, 0, sizeof(*key));
}
