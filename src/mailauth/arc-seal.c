/* mailauth/arc-seal - adding an ARC set (RFC 8617 5.1) to a message that
 * we forward, I/O-free.
 *
 * The set is instance N+1 of the chain the message came with (N from the
 * validation, which also gives cv=): ARC-Authentication-Results (our
 * Authentication-Results' value after "i=N+1;"), ARC-Message-Signature
 * (dkim-sign.c with field name and i=, relaxed/relaxed, the default header
 * list, which holds no ARC field nor Authentication-Results as 4.1.2 asks)
 * and ARC-Seal over the sets 1..N+1 (relaxed, its own b= empty, 5.1.1).
 * The two signatures are the caller's to get (the keys process): the
 * message signature's digest first, then the seal's, which covers it.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "mailauth/dkim-int.h"
#include "mailauth/mailauth.h"
#include "message/message.h"
#include "util/xalloc.h"

struct arc_seal {
	struct arc_seal_params params;
	char *domain, *selector;
	unsigned instance;          /* N+1 */
	enum arc_result cv;
	struct dkim_sign *ams;
	struct buf header;          /* the message's header section, for the older sets */
	bool header_done;
	size_t line_start;
	char *aar;                  /* "ARC-Authentication-Results: i=...\r\n" */
	char *ams_field;            /* after arc_seal_message_signed */
	struct buf seal;            /* "ARC-Seal: ...; b=" */
};

static void seal_canon_add(struct buf *data, const char *field, size_t len, bool last);

struct arc_seal *arc_seal_new(const struct arc_seal_params *params,
			      const struct arc_outcome *chain, const char *results,
			      const char **error_r)
{
	if (chain->instances >= ARC_INSTANCES_MAX) {
		*error_r = "the chain has 50 sets already (RFC 8617 4.2.1)";
		return NULL;
	}
	char first[16];
	unsigned instance = chain->instances + 1;
	snprintf(first, sizeof(first), "i=%u", instance);
	struct dkim_sign_params sp = {
		.field_name = "ARC-Message-Signature",
		.first_tags = first,
		.domain = params->domain,
		.selector = params->selector,
		.algorithm = DKIM_SIGN_RSA_SHA256,  /* RFC 8617 4.1.3: rsa-sha256 */
		.timestamp = params->timestamp,
	};
	struct dkim_sign *ams = dkim_sign_new(&sp, error_r);
	if (!ams)
		return NULL;
	struct arc_seal *s = xcalloc(1, sizeof(*s));
	s->params = *params;
	s->domain = xstrdup(params->domain);
	s->selector = xstrdup(params->selector);
	s->params.domain = s->domain;
	s->params.selector = s->selector;
	s->instance = instance;
	s->cv = chain->result;
	s->ams = ams;
	buf_init(&s->header);
	buf_init(&s->seal);
	s->aar = xasprintf("ARC-Authentication-Results: i=%u; %s\r\n", instance, results);
	return s;
}

void arc_seal_free(struct arc_seal **seal)
{
	struct arc_seal *s = *seal;
	if (!s)
		return;
	*seal = NULL;
	dkim_sign_free(&s->ams);
	buf_free(&s->header);
	buf_free(&s->seal);
	free(s->aar);
	free(s->ams_field);
	free(s->domain);
	free(s->selector);
	free(s);
}

void arc_seal_feed(struct arc_seal *s, const void *data, size_t len)
{
	dkim_sign_feed(s->ams, data, len);
	if (s->header_done)
		return;
	/* the header section is kept (the older sets are in it), to the
	 * signer's bound: beyond it the signer fails, and so the seal */
	size_t used;
	if (dkim_header_take(&s->header, &s->line_start, DKIM_HEADER_SIZE_DEFAULT, data, len,
			     &used) == 1)
		s->header_done = true;
}

int arc_seal_message_digest(struct arc_seal *s, unsigned char digest_r[DKIM_SIGN_DIGEST_LEN],
			    const char **error_r)
{
	return dkim_sign_digest(s->ams, digest_r, error_r);
}

void arc_seal_message_signed(struct arc_seal *s, const void *sig, size_t sig_len)
{
	free(s->ams_field);
	s->ams_field = dkim_sign_field(s->ams, sig, sig_len);
}

/* seal_canon_add - FIELD[0..LEN) (name to its final CRLF) relaxed, with a
 * CRLF unless it is the LAST (the seal itself) */
static void seal_canon_add(struct buf *data, const char *field, size_t len, bool last)
{
	while (len > 0 && (field[len - 1] == '\n' || field[len - 1] == '\r'))
		len--;
	const char *colon = memchr(field, ':', len);
	size_t name_len = colon ? (size_t)(colon - field) : len;
	while (name_len > 0 && (field[name_len - 1] == ' ' || field[name_len - 1] == '\t'))
		name_len--;
	dkim_canon_header(DKIM_CANON_RELAXED, field, len, name_len, data);
	if (!last)
		buf_append(data, "\r\n", 2);
}

int arc_seal_seal_digest(struct arc_seal *s, long long now,
			 unsigned char digest_r[DKIM_SIGN_DIGEST_LEN], const char **error_r)
{
	if (!s->ams_field) {
		*error_r = "the ARC-Message-Signature is not signed yet";
		return -1;
	}
	struct message_headers headers;
	message_headers_parse(s->header.data ? s->header.data : "", s->header.len, &headers);
	/* the older sets, in instance order: AAR, AMS, AS of each */
	struct buf data;
	buf_init(&data);
	struct arc_set sets[ARC_INSTANCES_MAX + 1];
	memset(sets, 0, sizeof(sets));
	unsigned count = 0;
	const char *err = NULL;
	int ret = -1;
	if (s->instance > 1 &&
	    (arc_collect(&headers, sets, &count, &err) < 0 || count != s->instance - 1)) {
		*error_r = "an older ARC set is incomplete: not sealed";
		goto out;
	}
	for (unsigned i = 1; i < s->instance; i++) {
		const struct message_header *fields[3] = {
			sets[i].results, sets[i].message, sets[i].seal,
		};
		for (size_t k = 0; k < 3; k++)
			seal_canon_add(&data, fields[k]->name,
				       (size_t)(fields[k]->value + fields[k]->value_len -
						fields[k]->name), false);
	}
	seal_canon_add(&data, s->aar, strlen(s->aar), false);
	seal_canon_add(&data, s->ams_field, strlen(s->ams_field), false);
	buf_reset(&s->seal);
	static const char *const cvs[] = {
		[ARC_RESULT_NONE] = "none", [ARC_RESULT_PASS] = "pass", [ARC_RESULT_FAIL] = "fail",
	};
	buf_printf(&s->seal, "ARC-Seal: i=%u; a=rsa-sha256; t=%lld; cv=%s;\r\n\td=%s; s=%s; b=",
		   s->instance, now, cvs[s->cv], s->domain, s->selector);
	seal_canon_add(&data, s->seal.data, s->seal.len, true);
	unsigned int n = 0;
	if (EVP_Digest(data.data, data.len, digest_r, &n, EVP_sha256(), NULL) != 1)
		abort();
	ret = 0;
out:
	buf_free(&data);
	message_headers_free(&headers);
	return ret;
}

char *arc_seal_fields(const struct arc_seal *s, const void *sig, size_t sig_len)
{
	struct buf out;
	buf_init(&out);
	buf_append(&out, s->seal.data, s->seal.len);
	size_t col = 0;
	for (size_t i = s->seal.len; i-- > 0;) {
		if (s->seal.data[i] == '\n') {
			col = s->seal.len - i - 1 + 7;  /* the TAB counts as 8 */
			break;
		}
	}
	dkim_sign_fold_base64(&out, &col, sig, sig_len);
	buf_append_str(&out, "\r\n");
	buf_append_str(&out, s->ams_field);
	buf_append_str(&out, s->aar);
	buf_append(&out, "", 1);
	char *text = out.data;
	return text;
}
