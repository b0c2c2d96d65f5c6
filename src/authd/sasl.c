/* authd/sasl - PLAIN and SCRAM-SHA-256 for every protocol's login (see sasl.h). */
#include "authd/sasl.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "util/base64.h"
#include "util/xalloc.h"

static char *scram_attr(const char *msg, size_t len, char name, size_t *pos);
static char *scram_unescape_user(const char *s);
static bool scram_printable(const char *s);

int sasl_plain_parse(const char *data, size_t len, char **user_r, char **password_r)
{
	char *authzid = NULL;
	if (sasl_plain_parse_authzid(data, len, &authzid, user_r, password_r) != 0)
		return -1;
	if (!authzid)
		return 0;
	/* RFC 4616 2: an authzid acting as somebody else is not supported */
	free(authzid);
	free(*user_r);
	OPENSSL_cleanse(*password_r, strlen(*password_r));
	free(*password_r);
	*user_r = *password_r = NULL;
	return -1;
}

int sasl_plain_parse_authzid(const char *data, size_t len, char **authzid_r, char **user_r,
			     char **password_r)
{
	*authzid_r = *user_r = *password_r = NULL;
	const char *nul1 = memchr(data, '\0', len);
	if (!nul1)
		return -1;
	const char *user = nul1 + 1;
	size_t rest = len - (size_t)(user - data);
	const char *nul2 = memchr(user, '\0', rest);
	if (!nul2)
		return -1;
	size_t authz_len = (size_t)(nul1 - data);
	size_t user_len = (size_t)(nul2 - user);
	const char *pass = nul2 + 1;
	size_t pass_len = len - (size_t)(pass - data);
	if (user_len == 0 || user_len > 255 || authz_len > 255 || pass_len == 0 ||
	    pass_len > 1024 || memchr(pass, '\0', pass_len))
		return -1;
	if (authz_len > 0 && (authz_len != user_len || memcmp(data, user, user_len) != 0))
		*authzid_r = xstrndup(data, authz_len);
	*user_r = xstrndup(user, user_len);
	*password_r = xstrndup(pass, pass_len);
	return 0;
}

/* ---- SCRAM ----------------------------------------------------------------- */

/* scram_attr - the value of attribute NAME ("x=value") at *POS in MSG, which
 * must come next; advances *POS past it and its comma.  Allocated. */
static char *scram_attr(const char *msg, size_t len, char name, size_t *pos)
{
	size_t p = *pos;
	if (p + 2 > len || msg[p] != name || msg[p + 1] != '=')
		return NULL;
	p += 2;
	const char *start = msg + p;
	const char *comma = memchr(start, ',', len - p);
	size_t vlen = comma ? (size_t)(comma - start) : len - p;
	if (memchr(start, '\0', vlen))
		return NULL;
	*pos = p + vlen + (comma ? 1 : 0);
	return xstrndup(start, vlen);
}

/* scram_unescape_user - RFC 5802 5.1: "=2C" is ',' and "=3D" is '='; NULL if bad */
static char *scram_unescape_user(const char *s)
{
	size_t n = strlen(s);
	char *out = xmalloc(n + 1);
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '=') {
			if (strncmp(s + i, "=2C", 3) == 0) {
				out[o++] = ',';
			} else if (strncmp(s + i, "=3D", 3) == 0) {
				out[o++] = '=';
			} else {
				free(out);
				return NULL;
			}
			i += 2;
		} else {
			out[o++] = s[i];
		}
	}
	out[o] = '\0';
	return out;
}

/* scram_printable - the nonce alphabet: printable ASCII except ',' */
static bool scram_printable(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < 0x21 || *s > 0x7e || *s == ',')
			return false;
	return true;
}

int sasl_scram_client_first(struct sasl_scram *scram, const char *msg, size_t len)
{
	/* gs2-header (RFC 5802 7): "n," or "y," (no channel binding: "p=" is not
	 * offered), an optional "a=" authzid, ",". As with PLAIN (RFC 4616 2), an authzid
	 * is taken only when it names the authenticating user itself (mbsync sends one). */
	if (len < 3 || (msg[0] != 'n' && msg[0] != 'y') || msg[1] != ',')
		return -1;
	size_t pos = 2;
	char *authzid = NULL;
	if (msg[pos] == ',') {
		pos++;
	} else if ((authzid = scram_attr(msg, len, 'a', &pos)) == NULL || msg[pos - 1] != ',') {
		free(authzid);
		return -1;
	}
	size_t header_len = pos;
	char *user = scram_attr(msg, len, 'n', &pos);
	char *nonce = user ? scram_attr(msg, len, 'r', &pos) : NULL;
	char *authz_user = authzid ? scram_unescape_user(authzid) : NULL;
	if (!user || !nonce || !scram_printable(nonce) || (scram->user = scram_unescape_user(user)) == NULL ||
	    scram->user[0] == '\0' ||
	    (authzid && (!authz_user || strcmp(authz_user, scram->user) != 0))) {
		free(user);
		free(nonce);
		free(authzid);
		free(authz_user);
		free(scram->user);
		scram->user = NULL;
		return -1;
	}
	free(user);
	free(authzid);
	free(authz_user);
	scram->gs2_header = xstrndup(msg, header_len);
	scram->client_first_bare = xstrndup(msg + header_len, len - header_len);
	scram->nonce = nonce;
	return 0;
}

int sasl_scram_server_first(struct sasl_scram *scram, unsigned iterations, const void *salt,
			    size_t salt_len, struct buf *out)
{
	if (!scram->nonce || scram->server_first || iterations == 0 || salt_len == 0 ||
	    salt_len > SASL_SCRAM_SALT_MAX)
		return -1;
	unsigned char rnd[18];
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return -1;
	struct buf text;
	buf_init(&text);
	buf_append_str(&text, scram->nonce);
	base64_encode(rnd, sizeof(rnd), &text);
	free(scram->nonce);
	scram->nonce = xstrdup(text.data);
	buf_reset(&text);
	base64_encode(salt, salt_len, &text);
	scram->server_first = xasprintf("r=%s,s=%s,i=%u", scram->nonce, text.data, iterations);
	buf_free(&text);
	buf_append_str(out, scram->server_first);
	return 0;
}

int sasl_scram_client_final(struct sasl_scram *scram, const char *msg, size_t len,
			    struct buf *auth_message, unsigned char proof[SASL_SCRAM_PROOF_LEN])
{
	if (!scram->server_first)
		return -1;
	size_t pos = 0;
	char *cbind = scram_attr(msg, len, 'c', &pos);
	char *nonce = cbind ? scram_attr(msg, len, 'r', &pos) : NULL;
	int rc = -1;
	struct buf expected_cbind, decoded;
	buf_init(&expected_cbind);
	buf_init(&decoded);
	if (!nonce)
		goto out;
	/* c= is base64 of the gs2 header (no channel binding data). */
	base64_encode(scram->gs2_header, strlen(scram->gs2_header), &expected_cbind);
	if (strcmp(cbind, expected_cbind.data) != 0 || strcmp(nonce, scram->nonce) != 0)
		goto out;
	size_t without_proof = pos;
	/* Extensions before p= are not supported; p= must come next and last. */
	if (without_proof < 1 || len - pos < 3 || msg[pos] != 'p' || msg[pos + 1] != '=')
		goto out;
	if (base64_decode(msg + pos + 2, len - pos - 2, &decoded) != 0 ||
	    decoded.len != SASL_SCRAM_PROOF_LEN)
		goto out;
	memcpy(proof, decoded.data, SASL_SCRAM_PROOF_LEN);
	/* AuthMessage = client-first-bare "," server-first "," client-final-without-proof */
	buf_printf(auth_message, "%s,%s,", scram->client_first_bare, scram->server_first);
	buf_append(auth_message, msg, without_proof - 1); /* without the comma before p= */
	rc = 0;
out:
	free(cbind);
	free(nonce);
	buf_free(&expected_cbind);
	if (decoded.data)
		OPENSSL_cleanse(decoded.data, decoded.len);
	buf_free(&decoded);
	return rc;
}

void sasl_scram_server_final(const unsigned char signature[SASL_SCRAM_PROOF_LEN],
			     struct buf *out)
{
	buf_append_str(out, "v=");
	base64_encode(signature, SASL_SCRAM_PROOF_LEN, out);
}

void sasl_scram_clear(struct sasl_scram *scram)
{
	free(scram->user);
	free(scram->client_first_bare);
	free(scram->gs2_header);
	free(scram->nonce);
	free(scram->server_first);
	OPENSSL_cleanse(scram, sizeof(*scram));
	memset(scram, 0, sizeof(*scram));
}
