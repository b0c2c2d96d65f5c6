/* mailauth/dkim-canon - DKIM canonicalization (RFC 6376 3.4) and the body
 * hash (3.7).
 *
 * Header fields are canonicalized one at a time from the header section the
 * verifier keeps (it is bounded).  The body is never kept: it streams through
 * a small state machine that holds back only what the next bytes decide, the
 * empty lines seen since the last content (trailing ones are dropped, 3.4.3
 * and 3.4.4) and, in relaxed mode, whether WSP was seen since the last
 * content byte (runs become one SP, WSP at a line end is dropped).  So a
 * chunk may end anywhere, between CR and LF included, and the hash is the
 * same as for the body fed whole.
 *
 * Line ends: CRLF ends a line, and so does a bare LF, since messages stored
 * on disk often use LF and dkimpy and OpenDKIM read them that way; a bare CR
 * is an ordinary byte.  On the SMTP path the data has CRLF line ends only.
 */
#include <stdlib.h>
#include <string.h>

#include "mailauth/dkim-int.h"

static void body_emit(struct dkim_body *body, const void *data, size_t len);
static void body_flush(struct dkim_body *body);
static void body_content(struct dkim_body *body, const unsigned char *run, size_t len);
static void body_line_end(struct dkim_body *body);
static bool body_is_plain(const struct dkim_body *body, unsigned char c);

static bool is_wsp(unsigned char c)
{
	return c == ' ' || c == '\t';
}

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* dkim_header_take - keep the header section of a message fed in chunks */
int dkim_header_take(struct buf *header, size_t *line_start, size_t max, const void *data,
		     size_t len, size_t *used_r)
{
	size_t old = header->len;
	size_t room = max - old;
	size_t take = len < room ? len : room;
	buf_append(header, data, take);
	const char *h = header->data;
	for (size_t i = old; i < header->len; i++) {
		if (h[i] != '\n')
			continue;
		size_t n = i - *line_start;
		*line_start = i + 1;
		if (n == 0 || (n == 1 && h[i - 1] == '\r')) {
			/* the empty line: what follows it is body */
			header->len = i + 1;
			*used_r = i + 1 - old;
			return 1;
		}
	}
	*used_r = take;
	return take < len ? -1 : 0;
}

/* dkim_canon_header - one header field in canonical form (RFC 6376 3.4.1, 3.4.2) */
void dkim_canon_header(enum dkim_canon canon, const char *field, size_t len,
		       size_t name_len, struct buf *out)
{
	if (canon == DKIM_CANON_SIMPLE) {
		/* as it is, but a bare LF (a stored message) stands for CRLF */
		size_t start = 0;
		for (size_t i = 0; i < len; i++) {
			if (field[i] == '\n' && (i == 0 || field[i - 1] != '\r')) {
				buf_append(out, field + start, i - start);
				buf_append(out, "\r\n", 2);
				start = i + 1;
			}
		}
		buf_append(out, field + start, len - start);
		return;
	}
	/* relaxed: the name in lower case, no WSP around the colon, the value
	 * unfolded, WSP runs as one SP, none at its ends */
	for (size_t i = 0; i < name_len; i++)
		buf_append(out, &(char){ lower(field[i]) }, 1);
	buf_append(out, ":", 1);
	size_t i = name_len;
	while (i < len && field[i] != ':')
		i++;  /* WSP between the name and the colon */
	if (i < len)
		i++;
	bool wsp = false, content = false;
	for (; i < len; i++) {
		unsigned char c = (unsigned char)field[i];
		if (c == '\r' && i + 1 < len && field[i + 1] == '\n')
			continue;  /* unfolding: the CRLF goes, the WSP after it stays */
		if (c == '\n')
			continue;
		if (is_wsp(c)) {
			wsp = true;
			continue;
		}
		if (wsp && content)
			buf_append(out, " ", 1);
		wsp = false;
		content = true;
		buf_append(out, &field[i], 1);
	}
}

/* dkim_body_init - a canonicalizer with an empty SHA-256 under way */
void dkim_body_init(struct dkim_body *body, enum dkim_canon canon, int64_t limit)
{
	memset(body, 0, sizeof(*body));
	body->canon = canon;
	body->limit = limit;
	body->md = EVP_MD_CTX_new();
	if (body->md == NULL || EVP_DigestInit_ex(body->md, EVP_sha256(), NULL) != 1)
		abort();  /* allocation failure */
}

void dkim_body_free(struct dkim_body *body)
{
	EVP_MD_CTX_free(body->md);
	body->md = NULL;
}

/* body_flush - hash the staged canonical bytes */
static void body_flush(struct dkim_body *body)
{
	if (body->out_len > 0 && EVP_DigestUpdate(body->md, body->out, body->out_len) != 1)
		abort();
	body->out_len = 0;
}

/* body_emit - canonical bytes: count them all, hash those within l= */
static void body_emit(struct dkim_body *body, const void *data, size_t len)
{
	size_t take = len;
	if (body->limit >= 0) {
		uint64_t room = body->length < (uint64_t)body->limit
			? (uint64_t)body->limit - body->length : 0;
		if (take > room)
			take = (size_t)room;
	}
	body->length += len;
	const unsigned char *p = data;
	while (take > 0) {
		size_t n = sizeof(body->out) - body->out_len;
		if (n > take)
			n = take;
		memcpy(body->out + body->out_len, p, n);
		body->out_len += n;
		p += n;
		take -= n;
		if (body->out_len == sizeof(body->out))
			body_flush(body);
	}
}

/* body_content - bytes that are neither line ends nor (relaxed) WSP: the
 * empty lines held back were not trailing, nor was the WSP run before them */
static void body_content(struct dkim_body *body, const unsigned char *run, size_t len)
{
	for (; body->empty_lines > 0; body->empty_lines--)
		body_emit(body, "\r\n", 2);
	if (body->wsp && body->canon == DKIM_CANON_RELAXED)
		body_emit(body, " ", 1);
	body->wsp = false;
	body->content = true;
	body_emit(body, run, len);
}

/* body_line_end - a line ends: its CRLF now if it had content, else held */
static void body_line_end(struct dkim_body *body)
{
	if (body->content)
		body_emit(body, "\r\n", 2);
	else
		body->empty_lines++;
	body->content = false;
	body->wsp = false;
}

/* body_is_plain - C is content as it stands: no line end, no WSP to fold */
static bool body_is_plain(const struct dkim_body *body, unsigned char c)
{
	return c != '\r' && c != '\n' && !(body->canon == DKIM_CANON_RELAXED && is_wsp(c));
}

/* dkim_body_update - the next LEN bytes of the body; runs of plain bytes go
 * through in one piece */
void dkim_body_update(struct dkim_body *body, const void *data, size_t len)
{
	const unsigned char *p = data;
	for (size_t i = 0; i < len;) {
		unsigned char c = p[i];
		if (body->cr) {
			body->cr = false;
			if (c == '\n') {
				body_line_end(body);
				i++;
				continue;
			}
			body_content(body, (const unsigned char *)"\r", 1);  /* a bare CR */
		}
		if (body_is_plain(body, c)) {
			size_t j = i + 1;
			while (j < len && body_is_plain(body, p[j]))
				j++;
			body_content(body, p + i, j - i);
			i = j;
			continue;
		}
		if (c == '\r')
			body->cr = true;
		else if (c == '\n')
			body_line_end(body);
		else
			body->wsp = true;
		i++;
	}
}

/* dkim_body_final - the last line, the empty-body rule, and the digest */
void dkim_body_final(struct dkim_body *body, unsigned char digest_r[DKIM_HASH_LEN])
{
	if (body->cr) {
		body->cr = false;
		body_content(body, (const unsigned char *)"\r", 1);
	}
	/* a last line without its CRLF gets one (3.4.3; 3.4.4 with erratum 1384);
	 * a simple body that is empty is one CRLF, a relaxed one stays empty */
	if (body->content || (body->canon == DKIM_CANON_SIMPLE && body->length == 0))
		body_emit(body, "\r\n", 2);
	body->content = false;
	body_flush(body);
	unsigned int n = 0;
	if (EVP_DigestFinal_ex(body->md, digest_r, &n) != 1 || n != DKIM_HASH_LEN)
		abort();
}
