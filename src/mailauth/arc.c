/* mailauth/arc - ARC chain validation (RFC 8617 5.2), I/O-free.
 *
 * Fed like dkim-verify.c: the header section is kept until its end, then
 * the ARC fields are collected by instance and the chain's structure
 * checked (5.2 steps 1-3); the hashes every signature covers are computed
 * there and then and the header section dropped; the body streams through
 * the canonicalizer of the newest ARC-Message-Signature.  The keys come in
 * one by one (arc_verify_key); each seal is verified as soon as its key is
 * in, the message signature once the body has ended too.
 *
 * What is verified: the newest ARC-Message-Signature (step 4; older ones
 * only matter for "oldest-pass", step 5, which is not computed) and every ARC-Seal
 * from the newest down (step 6).  ARC-Seal i=k signs the ARC sets 1..k,
 * each as ARC-Authentication-Results, ARC-Message-Signature, ARC-Seal in
 * relaxed canonicalization, its own b= emptied and without the final CRLF
 * (RFC 8617 5.1.1).  A key that cannot be fetched fails the chain: RFC 8617
 * has no temperror for arc (8601's registry: none, pass, fail).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "dns/dns.h"
#include "mailauth/dkim-int.h"
#include "mailauth/mailauth.h"
#include "message/message.h"
#include "util/xalloc.h"

enum arc_state { ARC_HEADERS, ARC_BODY, ARC_SKIP, ARC_FINISHED };

/* one signature to verify: the newest ARC-Message-Signature (index 0) or an
 * ARC-Seal (index k for instance k) */
struct arc_entry {
	struct dkim_signature sig;
	char *key_name;
	bool key_in;
	bool decided;
	bool pass;
	const char *reason;
	EVP_PKEY *pkey;
	unsigned char hash[DKIM_HASH_LEN];
};

struct arc_verify {
	struct dkim_verify_settings settings;
	enum arc_state state;
	struct buf header;
	size_t line_start;
	struct arc_entry *entries;  /* [0] the message signature, [1..N] the seals */
	size_t entry_count;
	bool body_used;
	struct dkim_body body;
	unsigned char body_hash[DKIM_HASH_LEN];
	char *sealer, *selector, *results;
	struct arc_outcome outcome;
	bool structure_failed;      /* decided without keys */
};

static void arc_headers_end(struct arc_verify *v, size_t end);
static int arc_results_instance(const struct message_header *f, unsigned *instance_r,
				const char **rest_r);
static void arc_seal_hash(const struct arc_set *sets, unsigned k, const struct dkim_signature *seal,
			  unsigned char out[DKIM_HASH_LEN]);
static void arc_fail(struct arc_verify *v, const char *reason);
static void entry_decide(struct arc_verify *v, struct arc_entry *e, bool pass, const char *reason);
static void entry_check(struct arc_verify *v, struct arc_entry *e);
static void arc_conclude(struct arc_verify *v);

static const char *const names[] = {
	[ARC_RESULT_NONE] = "none", [ARC_RESULT_PASS] = "pass", [ARC_RESULT_FAIL] = "fail",
};

const char *arc_result_name(enum arc_result result)
{
	return names[result];
}

struct arc_verify *arc_verify_create(const struct dkim_verify_settings *settings)
{
	struct arc_verify *v = xcalloc(1, sizeof(*v));
	v->settings = *settings;
	if (v->settings.max_header_size == 0)
		v->settings.max_header_size = DKIM_HEADER_SIZE_DEFAULT;
	buf_init(&v->header);
	return v;
}

void arc_verify_free(struct arc_verify **verify)
{
	struct arc_verify *v = *verify;
	if (v == NULL)
		return;
	*verify = NULL;
	for (size_t i = 0; i < v->entry_count; i++) {
		dkim_signature_free(&v->entries[i].sig);
		free(v->entries[i].key_name);
		EVP_PKEY_free(v->entries[i].pkey);
	}
	free(v->entries);
	if (v->body_used)
		dkim_body_free(&v->body);
	free(v->sealer);
	free(v->selector);
	free(v->results);
	buf_free(&v->header);
	free(v);
}

void arc_verify_feed(struct arc_verify *v, const void *data, size_t len)
{
	const char *p = data;
	if (v->state == ARC_HEADERS) {
		size_t used;
		int ret = dkim_header_take(&v->header, &v->line_start,
					   v->settings.max_header_size, p, len, &used);
		if (ret < 0) {
			arc_fail(v, "header section over its size limit: not verified");
			v->state = ARC_SKIP;
			buf_free(&v->header);
		}
		if (ret <= 0)
			return;
		arc_headers_end(v, v->header.len);
		p += used;
		len -= used;
	}
	if (v->state == ARC_BODY && v->body_used)
		dkim_body_update(&v->body, p, len);
}

bool arc_verify_headers_done(const struct arc_verify *v)
{
	return v->state != ARC_HEADERS;
}

/* arc_fail - the chain fails without any (further) key: REASON */
static void arc_fail(struct arc_verify *v, const char *reason)
{
	if (v->structure_failed)
		return;
	v->structure_failed = true;
	v->outcome.result = ARC_RESULT_FAIL;
	v->outcome.reason = reason;
}

/* arc_results_instance - "i=N;" at the start of an
 * ARC-Authentication-Results value (RFC 8617 4.1.1); *REST_R after the ";" */
static int arc_results_instance(const struct message_header *f, unsigned *instance_r,
				const char **rest_r)
{
	const char *p = f->value, *end = f->value + f->value_len;
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
		p++;
	if (end - p < 2 || p[0] != 'i')
		return -1;
	p++;
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
		p++;
	if (p == end || *p++ != '=')
		return -1;
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
		p++;
	unsigned n = 0;
	const char *digits = p;
	while (p < end && *p >= '0' && *p <= '9' && p - digits < 3)
		n = n * 10 + (unsigned)(*p++ - '0');
	if (p == digits || n < 1 || n > ARC_INSTANCES_MAX)
		return -1;
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
		p++;
	if (p == end || *p != ';')
		return -1;
	*instance_r = n;
	*rest_r = p + 1;
	return 0;
}

/* arc_collect - the ARC sets of a header section, by instance */
int arc_collect(const struct message_headers *headers, struct arc_set *sets,
		       unsigned *count_r, const char **error_r)
{
	unsigned max = 0;
	for (size_t i = 0; i < headers->count; i++) {
		const struct message_header *f = &headers->fields[i];
		const struct message_header **slot;
		unsigned instance = 0;
		if ((f->name_len == 8 && strncasecmp(f->name, "ARC-Seal", 8) == 0) ||
		    (f->name_len == 21 && strncasecmp(f->name, "ARC-Message-Signature", 21) == 0)) {
			bool seal = f->name_len == 8;
			struct dkim_signature sig;
			const char *error = NULL;
			int ret = dkim_field_parse(f->value, f->value_len,
						   seal ? DKIM_FIELD_ARC_SEAL : DKIM_FIELD_ARC_MESSAGE,
						   &sig, &error);
			instance = sig.instance;
			dkim_signature_free(&sig);
			if (ret < 0) {
				*error_r = seal ? "malformed ARC-Seal" : "malformed ARC-Message-Signature";
				return -1;
			}
			slot = seal ? &sets[instance].seal : &sets[instance].message;
		} else if (f->name_len == 26 &&
			   strncasecmp(f->name, "ARC-Authentication-Results", 26) == 0) {
			const char *rest;
			if (arc_results_instance(f, &instance, &rest) < 0) {
				*error_r = "malformed ARC-Authentication-Results";
				return -1;
			}
			slot = &sets[instance].results;
		} else {
			continue;
		}
		if (*slot != NULL) {
			*error_r = "two ARC fields of one kind with the same instance";
			return -1;
		}
		*slot = f;
		if (instance > max)
			max = instance;
	}
	for (unsigned k = 1; k <= max; k++) {
		if (!sets[k].seal || !sets[k].message || !sets[k].results) {
			*error_r = "an ARC set is incomplete or missing";
			return -1;
		}
	}
	*count_r = max;
	return 0;
}

/* arc_seal_hash - SHA-256 of what ARC-Seal i=K signs (RFC 8617 5.1.1) */
static void arc_seal_hash(const struct arc_set *sets, unsigned k, const struct dkim_signature *seal,
			  unsigned char out[DKIM_HASH_LEN])
{
	struct buf data;
	buf_init(&data);
	for (unsigned i = 1; i <= k; i++) {
		const struct message_header *fields[3] = {
			sets[i].results, sets[i].message, sets[i].seal,
		};
		for (size_t j = 0; j < 3; j++) {
			const struct message_header *f = fields[j];
			const char *start = f->name;
			if (i == k && j == 2) {
				/* the seal itself, b= taken out with the FWS around it */
				size_t head = (size_t)(f->value - start);
				struct buf self;
				buf_init(&self);
				buf_append(&self, start, head + seal->b_start);
				buf_append(&self, f->value + seal->b_end, f->value_len - seal->b_end);
				dkim_canon_header(DKIM_CANON_RELAXED, self.data, self.len, f->name_len,
						  &data);
				buf_free(&self);
				break;
			}
			dkim_canon_header(DKIM_CANON_RELAXED, start,
					  (size_t)(f->value + f->value_len - start), f->name_len, &data);
			buf_append(&data, "\r\n", 2);
		}
	}
	unsigned int n = 0;
	if (EVP_Digest(data.data, data.len, out, &n, EVP_sha256(), NULL) != 1)
		abort();
	buf_free(&data);
}

/* arc_headers_end - HEADER[0..END) is the header section: collect the
 * chain, check its structure (RFC 8617 5.2 steps 1-3), hash what each
 * signature to verify covers */
static void arc_headers_end(struct arc_verify *v, size_t end)
{
	struct message_headers headers;
	struct arc_set sets[ARC_INSTANCES_MAX + 1];
	memset(sets, 0, sizeof(sets));
	message_headers_parse(v->header.data ? v->header.data : "", end, &headers);
	unsigned n = 0;
	const char *error = NULL;
	v->state = ARC_BODY;
	if (arc_collect(&headers, sets, &n, &error) < 0) {
		arc_fail(v, error);
		goto out;
	}
	v->outcome.instances = n;
	if (n == 0)
		goto out;  /* none */
	/* the newest seal names the sealer and the results it recorded */
	const char *rest;
	unsigned ignored;
	if (arc_results_instance(sets[n].results, &ignored, &rest) == 0) {
		const char *e = sets[n].results->value + sets[n].results->value_len;
		while (rest < e && (*rest == ' ' || *rest == '\t' || *rest == '\r' || *rest == '\n'))
			rest++;
		/* unfolded (RFC 5322 2.2.3): each line end of the field is
		 * followed by WSP, which stays */
		char *out = xmalloc((size_t)(e - rest) + 1);
		size_t len = 0;
		for (; rest < e; rest++)
			if (*rest != '\r' && *rest != '\n')
				out[len++] = *rest;
		out[len] = '\0';
		v->results = out;
	}
	v->entries = xcalloc(n + 1, sizeof(*v->entries));
	v->entry_count = n + 1;
	for (unsigned k = 0; k <= n; k++) {
		struct arc_entry *e = &v->entries[k];
		const struct message_header *f = k == 0 ? sets[n].message : sets[k].seal;
		if (dkim_field_parse(f->value, f->value_len,
				     k == 0 ? DKIM_FIELD_ARC_MESSAGE : DKIM_FIELD_ARC_SEAL, &e->sig,
				     &error) < 0)
			abort();  /* arc_collect parsed it */
	}
	v->sealer = xstrdup(v->entries[n].sig.domain);
	v->selector = xstrdup(v->entries[n].sig.selector);
	v->outcome.sealer = v->sealer;
	v->outcome.selector = v->selector;
	v->outcome.results = v->results;
	/* steps 2 and 3.3: the chain's own account of itself */
	if (v->entries[n].sig.cv == DKIM_ARC_CV_FAIL) {
		arc_fail(v, "the newest ARC-Seal says cv=fail");
		goto out;
	}
	for (unsigned k = 1; k <= n; k++) {
		int want = k == 1 ? DKIM_ARC_CV_NONE : DKIM_ARC_CV_PASS;
		if (v->entries[k].sig.cv != want) {
			arc_fail(v, k == 1 ? "ARC-Seal i=1 does not say cv=none" :
				 "an ARC-Seal after the first does not say cv=pass");
			goto out;
		}
	}
	for (unsigned k = 0; k <= n; k++) {
		struct arc_entry *e = &v->entries[k];
		e->key_name = xasprintf("%s._domainkey.%s", e->sig.selector, e->sig.domain);
		if (k == 0)
			dkim_header_hash(&e->sig, &headers, sets[n].message, e->hash);
		else
			arc_seal_hash(sets, k, &e->sig, e->hash);
	}
	dkim_body_init(&v->body, v->entries[0].sig.body_canon, v->entries[0].sig.length);
	v->body_used = true;
	if (headers.body_offset < end)
		dkim_body_update(&v->body, v->header.data + headers.body_offset,
				 end - headers.body_offset);
out:
	message_headers_free(&headers);
	buf_free(&v->header);
}

void arc_verify_finish(struct arc_verify *v)
{
	if (v->state == ARC_HEADERS)
		arc_headers_end(v, v->header.len);
	if (v->state != ARC_BODY)
		return;
	v->state = ARC_FINISHED;
	if (v->body_used)
		dkim_body_final(&v->body, v->body_hash);
	if (v->entry_count > 0 && !v->settings.defer_checks)
		entry_check(v, &v->entries[0]);
	arc_conclude(v);
}

void arc_verify_check(struct arc_verify *v)
{
	for (size_t i = 0; i < v->entry_count; i++)
		entry_check(v, &v->entries[i]);
}

size_t arc_verify_key_count(const struct arc_verify *v)
{
	return v->structure_failed ? 0 : v->entry_count;
}

const char *arc_verify_key_name(const struct arc_verify *v, size_t index)
{
	if (v->structure_failed || index >= v->entry_count || v->entries[index].key_in)
		return NULL;
	return v->entries[index].key_name;
}

static void entry_decide(struct arc_verify *v, struct arc_entry *e, bool pass, const char *reason)
{
	e->decided = true;
	e->pass = pass;
	e->reason = reason;
	arc_conclude(v);
}

void arc_verify_key(struct arc_verify *v, size_t index, const struct dns_records *records)
{
	if (index >= v->entry_count)
		return;
	struct arc_entry *e = &v->entries[index];
	if (e->key_in || e->decided)
		return;
	e->key_in = true;
	if (records->status == DNS_TEMPFAIL) {
		entry_decide(v, e, false, "key lookup failed temporarily");
		return;
	}
	if (records->status != DNS_OK || records->count == 0) {
		entry_decide(v, e, false, "no key for the signature");
		return;
	}
	const char *first_error = NULL;
	for (size_t i = 0; i < records->count; i++) {
		struct dkim_key key;
		const char *error = NULL;
		int ret = dkim_key_parse(records->items[i], dns_records_length(records, i), &key,
					 &error);
		if (ret == 0) {
			ret = dkim_key_pkey(&e->sig, &key, &e->pkey, &error);
			dkim_key_free(&key);
			if (ret != 0) {
				entry_decide(v, e, false, error);
				return;
			}
			if (!v->settings.defer_checks)
				entry_check(v, e);
			return;
		}
		dkim_key_free(&key);
		if (first_error == NULL)
			first_error = error;
	}
	entry_decide(v, e, false, first_error);
}

/* entry_check - verify E if its key (and, for the message signature, the
 * body hash) is in */
static void entry_check(struct arc_verify *v, struct arc_entry *e)
{
	if (e->decided || e->pkey == NULL)
		return;
	if (e == &v->entries[0]) {
		if (v->state != ARC_FINISHED)
			return;
		if (e->sig.length >= 0 && (uint64_t)e->sig.length > v->body.length) {
			entry_decide(v, e, false, "l= is longer than the body");
			return;
		}
		if (CRYPTO_memcmp(v->body_hash, e->sig.bh, DKIM_HASH_LEN) != 0) {
			entry_decide(v, e, false, "ARC-Message-Signature: body hash did not verify");
			return;
		}
	}
	if (!dkim_crypto_verify(e->pkey, e->sig.algorithm, e->hash, e->sig.b, e->sig.b_len)) {
		entry_decide(v, e, false, e == &v->entries[0] ?
			     "ARC-Message-Signature: signature did not verify" :
			     "ARC-Seal: signature did not verify");
		return;
	}
	entry_decide(v, e, true, NULL);
}

/* arc_conclude - the outcome once every entry is decided (steps 4, 6, 7) */
static void arc_conclude(struct arc_verify *v)
{
	if (v->structure_failed || v->state != ARC_FINISHED)
		return;
	if (v->entry_count == 0) {
		v->outcome.result = ARC_RESULT_NONE;
		return;
	}
	for (size_t i = 0; i < v->entry_count; i++)
		if (!v->entries[i].decided)
			return;
	v->outcome.result = ARC_RESULT_PASS;
	v->outcome.reason = NULL;
	/* the message signature first, then the seals from the newest down */
	for (size_t k = 0; k < v->entry_count; k++) {
		size_t i = k == 0 ? 0 : v->entry_count - k;
		if (!v->entries[i].pass) {
			v->outcome.result = ARC_RESULT_FAIL;
			v->outcome.reason = v->entries[i].reason;
			return;
		}
	}
}

bool arc_verify_is_done(const struct arc_verify *v)
{
	if (v->state == ARC_SKIP)
		return true;
	if (v->state != ARC_FINISHED)
		return false;
	if (v->structure_failed || v->entry_count == 0)
		return true;
	for (size_t i = 0; i < v->entry_count; i++)
		if (!v->entries[i].decided)
			return false;
	return true;
}

const struct arc_outcome *arc_verify_outcome(const struct arc_verify *v)
{
	return &v->outcome;
}
