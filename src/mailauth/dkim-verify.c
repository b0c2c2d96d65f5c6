/* mailauth/dkim-verify - DKIM verification (RFC 6376 6, RFC 8463), I/O-free.
 *
 * The message comes in chunks.  Until the empty line the bytes are kept (up
 * to max_header_size); at the empty line the header section is parsed, every
 * DKIM-Signature found (the first max_signatures of them) is parsed, checked
 * against the clock, and its header hash computed (5.4.2: the fields of h=
 * picked from the bottom up, a name listed more often than present signing
 * its absence; then the signature field with b= emptied, without its CRLF);
 * the header section is then dropped.  The body goes through one
 * canonicalizer per distinct (body canonicalization, l=) pair (dkim-canon.c).
 *
 * A signature is decided once its key (handed in, 6.1.2) and the body's end
 * are both in: key problems first (temperror/permerror), then the body hash
 * ("body hash did not verify"), then the signature ("signature did not
 * verify").  The public key operation is dkim_crypto_verify alone; with
 * defer_checks it runs only in dkim_verify_check, which the SMTP server
 * calls on a worker (smtp/verify.c).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "dns/dns.h"
#include "mailauth/dkim-int.h"
#include "mailauth/mailauth.h"
#include "message/message.h"
#include "util/xalloc.h"

#define DKIM_RSA_BITS_MIN 1024   /* RFC 8301 3.2 */
#define DKIM_ED25519_KEY_LEN 32  /* RFC 8463 4 */

enum verify_state { VERIFY_HEADERS, VERIFY_BODY, VERIFY_SKIP, VERIFY_FINISHED };

struct verify_body {
	enum dkim_canon canon;
	int64_t limit;
	struct dkim_body body;
	unsigned char digest[DKIM_HASH_LEN];
};

struct verify_entry {
	struct dkim_signature sig;
	struct dkim_signature_report report;
	bool decided;
	bool key_in;
	char *key_name;
	EVP_PKEY *pkey;
	size_t body_index;
	unsigned char header_hash[DKIM_HASH_LEN];
};

struct dkim_verify {
	struct dkim_verify_settings settings;
	enum verify_state state;
	const char *error;
	struct buf header;       /* the header section until its end */
	size_t line_start;       /* in HEADER: where the current line starts */
	struct verify_entry *entries;
	size_t count, ignored;
	struct verify_body *bodies;
	size_t body_count;
};

static void verify_headers_end(struct dkim_verify *v, size_t end);
static void verify_entry_add(struct dkim_verify *v, const struct message_headers *headers,
			     const struct message_header *field);
static size_t verify_body_find(struct dkim_verify *v, enum dkim_canon canon, int64_t limit);
static void entry_decide(struct verify_entry *e, enum dkim_result result, const char *reason);
static void entry_key_use(struct verify_entry *e, const struct dkim_key *key);
static void entry_check(struct dkim_verify *v, struct verify_entry *e);

const char *dkim_result_name(enum dkim_result result)
{
	switch (result) {
	case DKIM_RESULT_NONE: return "none";
	case DKIM_RESULT_PASS: return "pass";
	case DKIM_RESULT_FAIL: return "fail";
	case DKIM_RESULT_TEMPERROR: return "temperror";
	case DKIM_RESULT_PERMERROR: return "permerror";
	}
	return "none";
}

struct dkim_verify *dkim_verify_create(const struct dkim_verify_settings *settings)
{
	struct dkim_verify *v = xcalloc(1, sizeof(*v));
	v->settings = *settings;
	if (v->settings.max_signatures == 0)
		v->settings.max_signatures = DKIM_SIGNATURES_DEFAULT;
	if (v->settings.max_header_size == 0)
		v->settings.max_header_size = DKIM_HEADER_SIZE_DEFAULT;
	buf_init(&v->header);
	v->entries = xcalloc(v->settings.max_signatures, sizeof(*v->entries));
	v->bodies = xcalloc(v->settings.max_signatures, sizeof(*v->bodies));
	return v;
}

void dkim_verify_free(struct dkim_verify **verify)
{
	struct dkim_verify *v = *verify;
	if (v == NULL)
		return;
	*verify = NULL;
	for (size_t i = 0; i < v->count; i++) {
		dkim_signature_free(&v->entries[i].sig);
		free(v->entries[i].key_name);
		EVP_PKEY_free(v->entries[i].pkey);
	}
	for (size_t i = 0; i < v->body_count; i++)
		dkim_body_free(&v->bodies[i].body);
	free(v->entries);
	free(v->bodies);
	buf_free(&v->header);
	free(v);
}

/* dkim_verify_feed - header bytes are kept until the empty line, body bytes
 * go to the canonicalizers */
void dkim_verify_feed(struct dkim_verify *v, const void *data, size_t len)
{
	const char *p = data;
	if (v->state == VERIFY_HEADERS) {
		size_t used;
		int ret = dkim_header_take(&v->header, &v->line_start,
					   v->settings.max_header_size, p, len, &used);
		if (ret < 0) {
			v->error = "header section over its size limit: not verified";
			v->state = VERIFY_SKIP;
			buf_free(&v->header);
		}
		if (ret <= 0)
			return;
		verify_headers_end(v, v->header.len);
		p += used;
		len -= used;
	}
	if (v->state != VERIFY_BODY)
		return;
	for (size_t i = 0; i < v->body_count; i++)
		dkim_body_update(&v->bodies[i].body, p, len);
}

bool dkim_verify_headers_done(const struct dkim_verify *v)
{
	return v->state != VERIFY_HEADERS;
}

/* verify_headers_end - HEADER[0..END) is the header section with its empty
 * line (or all of it when the message ended without one) */
static void verify_headers_end(struct dkim_verify *v, size_t end)
{
	struct message_headers headers;
	message_headers_parse(v->header.data ? v->header.data : "", end, &headers);
	for (size_t i = 0; i < headers.count; i++) {
		const struct message_header *f = &headers.fields[i];
		if (f->name_len != 14 || strncasecmp(f->name, "DKIM-Signature", 14) != 0)
			continue;
		if (v->count == v->settings.max_signatures)
			v->ignored++;
		else
			verify_entry_add(v, &headers, f);
	}
	v->state = VERIFY_BODY;
	/* a line that was neither field nor continuation ended the section
	 * early (message/): the rest up to the empty line is body */
	if (headers.body_offset < end) {
		for (size_t i = 0; i < v->body_count; i++)
			dkim_body_update(&v->bodies[i].body, v->header.data + headers.body_offset,
					 end - headers.body_offset);
	}
	message_headers_free(&headers);
	buf_free(&v->header);
}

/* verify_entry_add - parse the signature FIELD and hash what it signs of
 * the header section */
static void verify_entry_add(struct dkim_verify *v, const struct message_headers *headers,
			     const struct message_header *field)
{
	struct verify_entry *e = &v->entries[v->count++];
	const char *error = NULL;
	int ret = dkim_signature_parse(field->value, field->value_len, &e->sig, &error);
	e->report.domain = e->sig.domain;
	e->report.selector = e->sig.selector;
	e->report.algorithm = e->sig.algorithm_name;
	e->report.identity = e->sig.identity;
	e->report.b = e->sig.b_text;
	if (ret < 0) {
		entry_decide(e, DKIM_RESULT_PERMERROR, error);
		return;
	}
	/* RFC 6376 6.1.1: a verifier may ignore an expired signature */
	if (e->sig.expiration >= 0 && e->sig.expiration < v->settings.now) {
		entry_decide(e, DKIM_RESULT_PERMERROR, "signature expired (x=)");
		return;
	}
	e->key_name = xasprintf("%s._domainkey.%s", e->sig.selector, e->sig.domain);
	e->body_index = verify_body_find(v, e->sig.body_canon, e->sig.length);
	dkim_header_hash(&e->sig, headers, field, e->header_hash);
}

/* dkim_header_hash - SHA-256 of the signed header fields in h= order, each
 * taken from the bottom up (RFC 6376 5.4.2), then of the signature field
 * with b= emptied and without its final CRLF (3.7) */
void dkim_header_hash(const struct dkim_signature *sig, const struct message_headers *headers,
		      const struct message_header *field, unsigned char out[DKIM_HASH_LEN])
{
	struct buf data;
	buf_init(&data);
	for (size_t i = 0; i < sig->header_count; i++) {
		const char *name = sig->headers[i];
		size_t name_len = strlen(name);
		/* the k-th time a name is listed, it signs its k-th field from the bottom */
		size_t k = 0;
		for (size_t j = 0; j < i; j++)
			if (strcasecmp(sig->headers[j], name) == 0)
				k++;
		const struct message_header *pick = NULL;
		for (size_t j = headers->count; j-- > 0;) {
			const struct message_header *f = &headers->fields[j];
			if (f->name_len == name_len && strncasecmp(f->name, name, name_len) == 0 &&
			    k-- == 0) {
				pick = f;
				break;
			}
		}
		if (pick == NULL)
			continue;  /* absent: an over-signed name signs nothing */
		const char *start = pick->name;
		dkim_canon_header(sig->header_canon, start,
				  (size_t)(pick->value + pick->value_len - start), pick->name_len,
				  &data);
		buf_append(&data, "\r\n", 2);
	}
	/* the signature field itself, b= taken out with the FWS around it */
	const char *start = field->name;
	size_t head = (size_t)(field->value - start);
	struct buf self;
	buf_init(&self);
	buf_append(&self, start, head + sig->b_start);
	buf_append(&self, field->value + sig->b_end, field->value_len - sig->b_end);
	dkim_canon_header(sig->header_canon, self.data, self.len, field->name_len, &data);
	buf_free(&self);
	unsigned int n = 0;
	if (EVP_Digest(data.data, data.len, out, &n, EVP_sha256(), NULL) != 1)
		abort();
	buf_free(&data);
}

/* verify_body_find - the body hash for (CANON, LIMIT), shared by the
 * signatures that ask for the same */
static size_t verify_body_find(struct dkim_verify *v, enum dkim_canon canon, int64_t limit)
{
	for (size_t i = 0; i < v->body_count; i++)
		if (v->bodies[i].canon == canon && v->bodies[i].limit == limit)
			return i;
	struct verify_body *b = &v->bodies[v->body_count];
	b->canon = canon;
	b->limit = limit;
	dkim_body_init(&b->body, canon, limit);
	return v->body_count++;
}

/* dkim_verify_finish - the end of the message */
void dkim_verify_finish(struct dkim_verify *v)
{
	if (v->state == VERIFY_HEADERS)
		verify_headers_end(v, v->header.len);  /* no body at all */
	if (v->state != VERIFY_BODY)
		return;
	v->state = VERIFY_FINISHED;
	for (size_t i = 0; i < v->body_count; i++)
		dkim_body_final(&v->bodies[i].body, v->bodies[i].digest);
	if (!v->settings.defer_checks)
		dkim_verify_check(v);
}

void dkim_verify_check(struct dkim_verify *v)
{
	for (size_t i = 0; i < v->count; i++)
		entry_check(v, &v->entries[i]);
}

const char *dkim_verify_error(const struct dkim_verify *v)
{
	return v->error;
}

size_t dkim_verify_count(const struct dkim_verify *v)
{
	return v->count;
}

size_t dkim_verify_ignored(const struct dkim_verify *v)
{
	return v->ignored;
}

const char *dkim_verify_key_name(const struct dkim_verify *v, size_t index)
{
	const struct verify_entry *e = &v->entries[index];
	return e->decided || e->key_in ? NULL : e->key_name;
}

static void entry_decide(struct verify_entry *e, enum dkim_result result, const char *reason)
{
	e->decided = true;
	e->report.result = result;
	e->report.reason = reason;
}

/* dkim_verify_key - the TXT answer for signature INDEX's key */
void dkim_verify_key(struct dkim_verify *v, size_t index, const struct dns_records *records)
{
	struct verify_entry *e = &v->entries[index];
	if (e->decided || e->key_in)
		return;
	e->key_in = true;
	if (records->status == DNS_TEMPFAIL) {
		entry_decide(e, DKIM_RESULT_TEMPERROR, "key lookup failed temporarily");
		return;
	}
	if (records->status != DNS_OK || records->count == 0) {
		entry_decide(e, DKIM_RESULT_PERMERROR, "no key for the signature");
		return;
	}
	const char *first_error = NULL;
	for (size_t i = 0; i < records->count; i++) {
		struct dkim_key key;
		const char *error = NULL;
		int ret = dkim_key_parse(records->items[i], dns_records_length(records, i), &key,
					 &error);
		if (ret == 0) {
			entry_key_use(e, &key);
			dkim_key_free(&key);
			if (!v->settings.defer_checks)
				entry_check(v, e);
			return;
		}
		dkim_key_free(&key);
		if (first_error == NULL)
			first_error = error;
	}
	entry_decide(e, DKIM_RESULT_PERMERROR, first_error);
}

/* entry_key_use - check KEY against the signature and keep it */
static void entry_key_use(struct verify_entry *e, const struct dkim_key *key)
{
	const char *error = NULL;
	e->report.testing = key->testing;
	if (dkim_key_pkey(&e->sig, key, &e->pkey, &error) != 0)
		entry_decide(e, DKIM_RESULT_PERMERROR, error);
}

int dkim_key_pkey(const struct dkim_signature *sig, const struct dkim_key *key,
		  EVP_PKEY **pkey_r, const char **error_r)
{
	if (key->revoked) {
		*error_r = "key revoked";
		return -1;
	}
	bool rsa = sig->algorithm == DKIM_ALGORITHM_RSA_SHA256;
	if ((key->type == DKIM_KEY_RSA) != rsa) {
		*error_r = "key type does not match a=";
		return -1;
	}
	if (key->strict) {
		/* t=s: i='s domain must be d= itself */
		const char *at = strrchr(sig->identity, '@');
		if (at == NULL || strcasecmp(at + 1, sig->domain) != 0) {
			*error_r = "key has t=s but i= is a subdomain of d=";
			return -1;
		}
	}
	EVP_PKEY *pkey = dkim_key_load(key);
	if (pkey == NULL) {
		*error_r = rsa ? "key is not an RSA key" : "key is not an Ed25519 key";
		return -1;
	}
	if (rsa && EVP_PKEY_get_bits(pkey) < DKIM_RSA_BITS_MIN) {
		EVP_PKEY_free(pkey);
		*error_r = "RSA key shorter than 1024 bits (RFC 8301)";
		return -1;
	}
	*pkey_r = pkey;
	return 0;
}

/* dkim_key_load - the public key of KEY's p= as its k= says: for RSA a
 * SubjectPublicKeyInfo, as every signer publishes it, or the bare
 * RSAPublicKey that RFC 6376 3.6.1's wording names; for Ed25519 the raw 32
 * bytes (RFC 8463 4) */
EVP_PKEY *dkim_key_load(const struct dkim_key *key)
{
	EVP_PKEY *pkey = NULL;
	if (key->type == DKIM_KEY_ED25519) {
		if (key->data_len == DKIM_ED25519_KEY_LEN)
			pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, key->data,
							   key->data_len);
		return pkey;
	}
	const unsigned char *p = key->data;
	pkey = d2i_PUBKEY(NULL, &p, (long)key->data_len);
	if (pkey == NULL || p != key->data + key->data_len) {
		EVP_PKEY_free(pkey);
		p = key->data;
		pkey = d2i_PublicKey(EVP_PKEY_RSA, NULL, &p, (long)key->data_len);
	}
	if (pkey != NULL && EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA) {
		EVP_PKEY_free(pkey);
		pkey = NULL;
	}
	return pkey;
}

/* entry_check - decide a signature whose key and body hash are both in */
static void entry_check(struct dkim_verify *v, struct verify_entry *e)
{
	if (e->decided || e->pkey == NULL || v->state != VERIFY_FINISHED)
		return;
	const struct verify_body *b = &v->bodies[e->body_index];
	if (e->sig.length >= 0 && (uint64_t)e->sig.length > b->body.length) {
		entry_decide(e, DKIM_RESULT_FAIL, "l= is longer than the body");
		return;
	}
	if (CRYPTO_memcmp(b->digest, e->sig.bh, DKIM_HASH_LEN) != 0) {
		entry_decide(e, DKIM_RESULT_FAIL, "body hash did not verify");
		return;
	}
	if (!dkim_crypto_verify(e->pkey, e->sig.algorithm, e->header_hash, e->sig.b,
				     e->sig.b_len)) {
		entry_decide(e, DKIM_RESULT_FAIL, "signature did not verify");
		return;
	}
	entry_decide(e, DKIM_RESULT_PASS, NULL);
}

/* dkim_crypto_verify - B is PKEY's signature of the header HASH:
 * RSASSA-PKCS1-v1_5 with SHA-256 (RFC 6376 3.3.1), or Ed25519 of the
 * SHA-256 hash itself (RFC 8463 3) */
bool dkim_crypto_verify(EVP_PKEY *pkey, enum dkim_algorithm algorithm,
			const unsigned char hash[DKIM_HASH_LEN], const unsigned char *b,
			size_t b_len)
{
	bool ok = false;
	if (algorithm == DKIM_ALGORITHM_RSA_SHA256) {
		EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(pkey, NULL);
		if (ctx == NULL)
			abort();
		ok = EVP_PKEY_verify_init(ctx) == 1 &&
			EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1 &&
			EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) == 1 &&
			EVP_PKEY_verify(ctx, b, b_len, hash, DKIM_HASH_LEN) == 1;
		EVP_PKEY_CTX_free(ctx);
	} else {
		EVP_MD_CTX *md = EVP_MD_CTX_new();
		if (md == NULL)
			abort();
		ok = EVP_DigestVerifyInit(md, NULL, NULL, NULL, pkey) == 1 &&
			EVP_DigestVerify(md, b, b_len, hash, DKIM_HASH_LEN) == 1;
		EVP_MD_CTX_free(md);
	}
	return ok;
}

bool dkim_verify_is_done(const struct dkim_verify *v)
{
	if (v->state == VERIFY_HEADERS || v->state == VERIFY_BODY)
		return false;
	for (size_t i = 0; i < v->count; i++)
		if (!v->entries[i].decided)
			return false;
	return true;
}

const struct dkim_signature_report *dkim_verify_report(const struct dkim_verify *v, size_t index)
{
	return &v->entries[index].report;
}

enum dkim_result dkim_verify_result(const struct dkim_verify *v)
{
	static const enum dkim_result order[] = {
		DKIM_RESULT_PASS, DKIM_RESULT_FAIL, DKIM_RESULT_TEMPERROR, DKIM_RESULT_PERMERROR,
	};
	for (size_t o = 0; o < sizeof(order) / sizeof(order[0]); o++)
		for (size_t i = 0; i < v->count; i++)
			if (v->entries[i].decided && v->entries[i].report.result == order[o])
				return order[o];
	return DKIM_RESULT_NONE;
}
