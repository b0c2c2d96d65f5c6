/* mailauth/dkim-sign - DKIM signing (RFC 6376 5, RFC 8463), I/O-free.
 *
 * The signer is fed the message in chunks, as the verifier is: the header
 * section is kept (bounded, DKIM_HEADER_SIZE_DEFAULT) until its empty line,
 * the body streams through one relaxed canonicalizer and SHA-256
 * (dkim-canon.c) and is never kept.  At the end, dkim_sign_digest picks the
 * fields to sign (h=), writes every tag but b='s value, and hashes the
 * signed fields and the signature field with b= empty (RFC 6376 3.7, 5.4):
 * that SHA-256 is what the private key signs, RSASSA-PKCS1-v1_5 (3.3.1) or
 * PureEdDSA over the 32 bytes (RFC 8463 3).  The key itself never comes
 * here: the keys process (keysd/) signs the digest, and dkim_sign_field
 * writes the finished field around the signature it returns.
 *
 * Canonicalization is always relaxed/relaxed: simple breaks on the
 * rewrapping and whitespace changes that relays and list software make,
 * and relaxed is what the large signers use.  The field is folded at 78
 * columns where the ABNF allows FWS (between tags, around h='s colons,
 * inside b='s base64), which relaxed header canonicalization erases.
 *
 * ARC-Message-Signature (RFC 8617 4.1.2) is the same field under another
 * name, with i= in front and no v=: the params say both.  The ARC-Seal
 * signs no body and a list of fields of its own (RFC 8617 5.1.1): arc.c
 * hashes those with dkim_canon_header (dkim-int.h) and formats its b= with
 * dkim_sign_fold_base64.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "mailauth/dkim-int.h"
#include "mailauth/mailauth.h"
#include "message/message.h"
#include "util/base64.h"
#include "util/domain.h"
#include "util/xalloc.h"

#define SIGN_LINE_MAX 78        /* RFC 5322 2.1.1: SHOULD be at most 78 */
#define SIGN_FIELD_NAME "DKIM-Signature"

/* RFC 6376 5.4.1 lists the fields a signer SHOULD sign; these are those
 * that mean something to a reader or to threading, and the List-* fields
 * (RFC 2369, 2919, 8058) a list's unsubscribe button reads.  Fields that
 * relays add or change (Received, Return-Path, Authentication-Results) are
 * not signed.  "*" at the end: every field whose name starts so. */
static const char *const sign_headers_default[] = {
	"From", "Reply-To", "Subject", "Date", "To", "Cc", "Message-ID", "In-Reply-To",
	"References", "MIME-Version", "Content-Type", "Content-Transfer-Encoding", "List-*",
	NULL,
};
/* signed once more than present (RFC 6376 8.15): no From can be added */
static const char *const sign_oversign_default[] = { "From", NULL };

struct dkim_sign {
	char *field_name;
	char *first_tags;
	char *domain, *selector;
	enum dkim_sign_algorithm algorithm;
	char **headers, **oversign;   /* copies, NULL-terminated */
	long long timestamp;
	enum { SIGN_HEADERS, SIGN_BODY, SIGN_DONE } state;
	bool too_big;
	struct buf header;            /* the header section until its end */
	size_t line_start;
	struct message_headers fields; /* parsed from HEADER at its end */
	bool parsed;
	struct dkim_body body;
	struct buf field;             /* after dkim_sign_digest: the field up to "b=" */
};

static char **strv_copy(const char *const *v);
static void strv_free(char **v);
static void sign_headers_end(struct dkim_sign *s);
static bool name_matches(const char *pattern, const char *name, size_t len);
static bool name_is_signable(const char *name, size_t len);
static bool name_listed(const struct buf *names, const char *name, size_t len);
static void names_add(struct buf *names, const char *name, size_t len, size_t times);
static void field_tag(struct buf *field, size_t *col, const char *text, size_t len);

const char *dkim_sign_algorithm_name(enum dkim_sign_algorithm algorithm)
{
	return algorithm == DKIM_SIGN_ED25519_SHA256 ? "ed25519-sha256" : "rsa-sha256";
}

static char **strv_copy(const char *const *v)
{
	size_t n = 0;
	while (v[n] != NULL)
		n++;
	char **copy = xcalloc(n + 1, sizeof(*copy));
	for (size_t i = 0; i < n; i++)
		copy[i] = xstrdup(v[i]);
	return copy;
}

static void strv_free(char **v)
{
	if (v == NULL)
		return;
	for (size_t i = 0; v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

/* dkim_sign_new - a signer for PARAMS; NULL and *error_r if d= or s= is no
 * name a verifier would look up, or a header name is not one */
struct dkim_sign *dkim_sign_new(const struct dkim_sign_params *params, const char **error_r)
{
	if (params->domain == NULL ||
	    !domain_name_is_valid(params->domain, strlen(params->domain), 0)) {
		*error_r = "the signing domain is not a domain name";
		return NULL;
	}
	if (params->selector == NULL || !dkim_selector_is_valid(params->selector)) {
		*error_r = "the selector is not a selector (RFC 6376 3.1)";
		return NULL;
	}
	const char *const *lists[2] = { params->headers, params->oversign };
	for (int l = 0; l < 2; l++) {
		for (size_t i = 0; lists[l] != NULL && lists[l][i] != NULL; i++) {
			const char *h = lists[l][i];
			size_t n = strlen(h);
			bool ok = n > 0;
			for (size_t j = 0; ok && j < n; j++)
				ok = h[j] > 0x20 && h[j] < 0x7f && h[j] != ':' &&
					(h[j] != '*' || (l == 0 && j == n - 1 && j > 0));
			if (!ok) {
				*error_r = "a header name to sign is not a field name";
				return NULL;
			}
		}
	}
	struct dkim_sign *s = xcalloc(1, sizeof(*s));
	s->field_name = xstrdup(params->field_name ? params->field_name : SIGN_FIELD_NAME);
	s->first_tags = xstrdup(params->first_tags ? params->first_tags : "v=1");
	s->domain = xstrdup(params->domain);
	s->selector = xstrdup(params->selector);
	s->algorithm = params->algorithm;
	s->headers = strv_copy(params->headers ? params->headers : sign_headers_default);
	s->oversign = strv_copy(params->oversign ? params->oversign : sign_oversign_default);
	s->timestamp = params->timestamp;
	buf_init(&s->header);
	buf_init(&s->field);
	dkim_body_init(&s->body, DKIM_CANON_RELAXED, -1);
	return s;
}

void dkim_sign_free(struct dkim_sign **sign)
{
	struct dkim_sign *s = *sign;
	if (s == NULL)
		return;
	*sign = NULL;
	free(s->field_name);
	free(s->first_tags);
	free(s->domain);
	free(s->selector);
	strv_free(s->headers);
	strv_free(s->oversign);
	if (s->parsed)
		message_headers_free(&s->fields);
	buf_free(&s->header);
	buf_free(&s->field);
	dkim_body_free(&s->body);
	free(s);
}

/* dkim_sign_feed - header bytes are kept until the empty line, body bytes
 * are canonicalized and hashed at once */
void dkim_sign_feed(struct dkim_sign *s, const void *data, size_t len)
{
	const char *p = data;
	if (s->state == SIGN_HEADERS) {
		size_t used;
		int ret = dkim_header_take(&s->header, &s->line_start, DKIM_HEADER_SIZE_DEFAULT,
					   p, len, &used);
		if (ret < 0)
			s->too_big = true;
		if (ret <= 0)
			return;
		s->state = SIGN_BODY;
		sign_headers_end(s);
		p += used;
		len -= used;
	}
	if (s->state == SIGN_BODY && !s->too_big)
		dkim_body_update(&s->body, p, len);
}

/* name_matches - NAME[0..LEN) is PATTERN, or starts with it when PATTERN
 * ends in "*" (case-insensitive) */
static bool name_matches(const char *pattern, const char *name, size_t len)
{
	size_t n = strlen(pattern);
	if (n > 0 && pattern[n - 1] == '*')
		return len >= n - 1 && strncasecmp(pattern, name, n - 1) == 0;
	return len == n && strncasecmp(pattern, name, n) == 0;
}

/* name_is_signable - NAME[0..LEN) can stand in h=: RFC 5322 ftext
 * (printable ASCII but ':'), and no ';', which would end the tag (RFC 6376
 * 3.2, 3.5); a field a wildcard matched may have any name */
static bool name_is_signable(const char *name, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (name[i] < 0x21 || name[i] > 0x7e || name[i] == ':' || name[i] == ';')
			return false;
	return len > 0;
}

/* name_listed - NAME is already among NAMES (NUL-separated) */
static bool name_listed(const struct buf *names, const char *name, size_t len)
{
	for (size_t off = 0; off < names->len;) {
		const char *n = names->data + off;
		size_t nl = strlen(n);
		if (nl == len && strncasecmp(n, name, len) == 0)
			return true;
		off += nl + 1;
	}
	return false;
}

/* names_add - NAME TIMES times to the h= list NAMES (NUL-separated) */
static void names_add(struct buf *names, const char *name, size_t len, size_t times)
{
	for (size_t i = 0; i < times; i++) {
		for (size_t j = 0; j < len; j++) {
			char c = name[j];
			buf_append(names, &(char){ c >= 'A' && c <= 'Z' ? (char)(c + 32) : c }, 1);
		}
		buf_append(names, "", 1);
	}
}

/* field_tag - append TEXT[0..LEN) (one tag and its ";", or a piece of a
 * value) to FIELD, on a new line when it would pass SIGN_LINE_MAX */
static void field_tag(struct buf *field, size_t *col, const char *text, size_t len)
{
	if (*col > 1 && *col + 1 + len > SIGN_LINE_MAX) {
		buf_append(field, "\r\n\t", 3);
		*col = 8;
	} else if (*col > 0) {
		buf_append(field, " ", 1);
		(*col)++;
	}
	buf_append(field, text, len);
	*col += len;
}

/* dkim_sign_fold_base64 - BYTES in base64 appended to FIELD as a tag value
 * that starts at column *COL (after "b="), folded with CRLF TAB where a
 * line would pass 78 columns (RFC 6376 3.5: FWS may appear anywhere in b=) */
void dkim_sign_fold_base64(struct buf *field, size_t *col, const void *bytes, size_t len)
{
	struct buf b64;
	buf_init(&b64);
	base64_encode(bytes, len, &b64);
	for (size_t off = 0; off < b64.len;) {
		if (*col >= SIGN_LINE_MAX) {
			buf_append(field, "\r\n\t", 3);
			*col = 8;
		}
		size_t n = SIGN_LINE_MAX - *col;
		if (n > b64.len - off)
			n = b64.len - off;
		buf_append(field, b64.data + off, n);
		*col += n;
		off += n;
	}
	buf_free(&b64);
}

/* sign_headers_end - HEADER holds the header section (with its empty line,
 * or all of a message that has none): its fields are parsed */
static void sign_headers_end(struct dkim_sign *s)
{
	size_t end = s->header.len;
	message_headers_parse(s->header.data ? s->header.data : "", end, &s->fields);
	s->parsed = true;
	/* a line that was neither field nor continuation ended the section
	 * early (message/): from there on it is body, as a verifier sees it */
	if (s->fields.body_offset < end)
		dkim_body_update(&s->body, s->header.data + s->fields.body_offset,
				 end - s->fields.body_offset);
}

/* dkim_sign_digest - the end of the message: DIGEST_R gets the SHA-256 that
 * the key signs; 0, or -1 and *error_r (no From field: RFC 6376 5.4 makes
 * it the one field to sign; a header section over its limit) */
int dkim_sign_digest(struct dkim_sign *s, unsigned char digest_r[DKIM_SIGN_DIGEST_LEN],
		     const char **error_r)
{
	struct buf names, data;
	int ret = -1;
	buf_init(&names);
	buf_init(&data);
	if (s->state == SIGN_DONE) {
		*error_r = "the digest was taken already";
		return -1;
	}
	if (s->too_big) {
		*error_r = "header section over its size limit";
		goto out;
	}
	if (!s->parsed)
		sign_headers_end(s);  /* no empty line: all header, no body */
	const struct message_headers *headers = &s->fields;
	if (message_header_find(headers, "From", 0) == NULL) {
		*error_r = "the message has no From field";
		goto out;
	}
	unsigned char bh[DKIM_HASH_LEN];
	dkim_body_final(&s->body, bh);

	/* h=: each listed name as often as it is present, over-signed names
	 * once more; a name matched by two entries is listed once */
	for (size_t i = 0; s->headers[i] != NULL; i++) {
		for (size_t j = 0; j < headers->count; j++) {
			const struct message_header *f = &headers->fields[j];
			if (!name_matches(s->headers[i], f->name, f->name_len) ||
			    !name_is_signable(f->name, f->name_len) ||
			    name_listed(&names, f->name, f->name_len))
				continue;
			size_t count = 0;
			for (size_t k = j; k < headers->count; k++)
				if (headers->fields[k].name_len == f->name_len &&
				    strncasecmp(headers->fields[k].name, f->name, f->name_len) == 0)
					count++;
			names_add(&names, f->name, f->name_len, count);
		}
	}
	for (size_t i = 0; s->oversign[i] != NULL; i++)
		names_add(&names, s->oversign[i], strlen(s->oversign[i]), 1);

	/* the signed fields, each picked from the bottom up (5.4.2) */
	for (size_t off = 0; off < names.len;) {
		const char *name = names.data + off;
		size_t name_len = strlen(name), k = 0;
		for (size_t o = 0; o < off;) {
			const char *prev = names.data + o;
			if (strcasecmp(prev, name) == 0)
				k++;
			o += strlen(prev) + 1;
		}
		off += name_len + 1;
		for (size_t j = headers->count; j-- > 0;) {
			const struct message_header *f = &headers->fields[j];
			if (f->name_len == name_len && strncasecmp(f->name, name, name_len) == 0 &&
			    k-- == 0) {
				dkim_canon_header(DKIM_CANON_RELAXED, f->name,
						  (size_t)(f->value + f->value_len - f->name),
						  f->name_len, &data);
				buf_append(&data, "\r\n", 2);
				break;
			}
		}
	}

	/* the field up to "b=", folded */
	struct buf *field = &s->field;
	size_t col = 0;
	buf_printf(field, "%s:", s->field_name);
	col = strlen(s->field_name) + 1;
	struct buf tag;
	buf_init(&tag);
	buf_printf(&tag, "%s;", s->first_tags);
	field_tag(field, &col, tag.data, tag.len);
	buf_reset(&tag);
	buf_printf(&tag, "a=%s;", dkim_sign_algorithm_name(s->algorithm));
	field_tag(field, &col, tag.data, tag.len);
	field_tag(field, &col, "c=relaxed/relaxed;", 18);
	buf_reset(&tag);
	buf_printf(&tag, "d=%s;", s->domain);
	field_tag(field, &col, tag.data, tag.len);
	buf_reset(&tag);
	buf_printf(&tag, "s=%s;", s->selector);
	field_tag(field, &col, tag.data, tag.len);
	if (s->timestamp >= 0) {
		buf_reset(&tag);
		buf_printf(&tag, "t=%lld;", s->timestamp);
		field_tag(field, &col, tag.data, tag.len);
	}
	/* h= one name at a time, so that it folds around its colons */
	bool first = true;
	for (size_t off = 0; off < names.len; first = false) {
		const char *name = names.data + off;
		off += strlen(name) + 1;
		buf_reset(&tag);
		buf_printf(&tag, "%s%s%s", first ? "h=" : "", name, off >= names.len ? ";" : ":");
		if (first || col + tag.len >= SIGN_LINE_MAX) {
			field_tag(field, &col, tag.data, tag.len);
		} else {
			buf_append(field, tag.data, tag.len);
			col += tag.len;
		}
	}
	buf_reset(&tag);
	buf_append_str(&tag, "bh=");
	base64_encode(bh, sizeof(bh), &tag);
	buf_append(&tag, ";", 1);
	field_tag(field, &col, tag.data, tag.len);
	buf_free(&tag);
	/* b= on a line of its own: the signature is most of a line or more */
	buf_append(field, "\r\n\tb=", 5);
	col = 10;

	/* RFC 6376 3.7: the signature field itself last, b= empty, no CRLF */
	dkim_canon_header(DKIM_CANON_RELAXED, field->data, field->len, strlen(s->field_name),
			  &data);
	unsigned int n = 0;
	if (EVP_Digest(data.data, data.len, digest_r, &n, EVP_sha256(), NULL) != 1 ||
	    n != DKIM_SIGN_DIGEST_LEN)
		abort();
	ret = 0;
out:
	s->state = SIGN_DONE;
	buf_free(&names);
	buf_free(&data);
	return ret;
}

/* dkim_sign_field - the finished field with SIG as b=, "Name: ...\r\n" */
char *dkim_sign_field(const struct dkim_sign *s, const void *sig, size_t sig_len)
{
	struct buf out;
	buf_init(&out);
	buf_append(&out, s->field.data, s->field.len);
	/* the column after "b=": from the last line break, or the start */
	size_t col = s->field.len;
	for (size_t i = s->field.len; i-- > 0;) {
		if (s->field.data[i] == '\n') {
			col = s->field.len - i - 1 + 7;  /* the TAB counts as 8 */
			break;
		}
	}
	dkim_sign_fold_base64(&out, &col, sig, sig_len);
	buf_append(&out, "\r\n", 3);  /* with the NUL */
	return out.data;
}
