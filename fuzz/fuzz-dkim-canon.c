/* fuzz/fuzz-dkim-canon - canonicalization and the verifier on an arbitrary
 * message (src/mailauth/dkim-canon.c, dkim-verify.c).
 *   - the body canonicalizers, simple and relaxed, with and without l=,
 *     give the same hash and length fed whole, one byte at a time, and split
 *     at an offset the input chooses;
 *   - each header field's relaxed form has no line end, no WSP run, no WSP
 *     at its ends, a lower-case name; its simple form no bare LF;
 *   - the verifier, fed whole and one byte at a time, with an Ed25519 key for
 *     every signature, decides every signature the same way both times.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-input.h"
#include "dns/dns.h"
#include "mailauth/dkim-int.h"
#include "mailauth/mailauth.h"
#include "message/message.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t body_hash(enum dkim_canon canon, int64_t limit, const char *in, size_t size,
			  size_t split, size_t step, unsigned char out[DKIM_HASH_LEN])
{
	struct dkim_body body;
	dkim_body_init(&body, canon, limit);
	dkim_body_update(&body, in, split);
	for (size_t off = split; off < size; off += step)
		dkim_body_update(&body, in + off, size - off < step ? size - off : step);
	dkim_body_final(&body, out);
	uint64_t length = body.length;
	dkim_body_free(&body);
	return length;
}

static void check_headers(const char *in, size_t size)
{
	struct message_headers headers;
	struct buf out;
	buf_init(&out);
	message_headers_parse(in, size, &headers);
	for (size_t i = 0; i < headers.count; i++) {
		const struct message_header *f = &headers.fields[i];
		size_t len = (size_t)(f->value + f->value_len - f->name);
		buf_reset(&out);
		dkim_canon_header(DKIM_CANON_RELAXED, f->name, len, f->name_len, &out);
		assert(out.len > f->name_len && out.data[f->name_len] == ':');
		for (size_t k = 0; k < f->name_len; k++)
			assert(!(out.data[k] >= 'A' && out.data[k] <= 'Z'));
		for (size_t k = f->name_len + 1; k < out.len; k++) {
			assert(out.data[k] != '\t');
			if (out.data[k] == '\n')
				assert(false);
			if (out.data[k] == '\r')
				assert(k + 1 == out.len || out.data[k + 1] != '\n');
			if (out.data[k] == ' ')
				assert(k + 1 < out.len && out.data[k + 1] != ' ' &&
				       k > f->name_len + 1);
		}
		buf_reset(&out);
		dkim_canon_header(DKIM_CANON_SIMPLE, f->name, len, f->name_len, &out);
		for (size_t k = 0; k < out.len; k++)
			if (out.data[k] == '\n')
				assert(k > 0 && out.data[k - 1] == '\r');
	}
	message_headers_free(&headers);
	buf_free(&out);
}

static struct dkim_verify *run_verify(const char *in, size_t size, size_t step)
{
	static char key[] = "k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
	char *item = key;
	struct dns_records records = { .status = DNS_OK, .items = &item, .count = 1 };
	struct dkim_verify_settings settings = { .now = 1700000000, .max_header_size = 4096 };
	struct dkim_verify *v = dkim_verify_create(&settings);
	for (size_t off = 0; off < size; off += step)
		dkim_verify_feed(v, in + off, size - off < step ? size - off : step);
	dkim_verify_finish(v);
	for (size_t i = 0; i < dkim_verify_count(v); i++)
		if (dkim_verify_key_name(v, i) != NULL)
			dkim_verify_key(v, i, &records);
	assert(dkim_verify_is_done(v));
	return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in = fuzz_input_copy(data, size);
	size_t split = size > 0 ? data[0] % (size + 1) : 0;
	int64_t limit = size > 1 ? data[1] : 0;

	for (int c = 0; c < 2; c++) {
		enum dkim_canon canon = c ? DKIM_CANON_RELAXED : DKIM_CANON_SIMPLE;
		int64_t limits[2] = { -1, limit };
		for (int l = 0; l < 2; l++) {
			unsigned char whole[DKIM_HASH_LEN], part[DKIM_HASH_LEN];
			uint64_t n = body_hash(canon, limits[l], in, size, size, 1, whole);
			assert(body_hash(canon, limits[l], in, size, 0, 1, part) == n);
			assert(memcmp(whole, part, DKIM_HASH_LEN) == 0);
			assert(body_hash(canon, limits[l], in, size, split, size ? size : 1, part) == n);
			assert(memcmp(whole, part, DKIM_HASH_LEN) == 0);
		}
	}
	check_headers(in, size);

	struct dkim_verify *a = run_verify(in, size, size ? size : 1);
	struct dkim_verify *b = run_verify(in, size, 1);
	assert(dkim_verify_count(a) == dkim_verify_count(b));
	assert(dkim_verify_ignored(a) == dkim_verify_ignored(b));
	assert((dkim_verify_error(a) == NULL) == (dkim_verify_error(b) == NULL));
	for (size_t i = 0; i < dkim_verify_count(a); i++) {
		const struct dkim_signature_report *ra = dkim_verify_report(a, i);
		const struct dkim_signature_report *rb = dkim_verify_report(b, i);
		assert(ra->result == rb->result && ra->reason == rb->reason);
		assert(ra->result != DKIM_RESULT_NONE);
	}
	dkim_verify_free(&a);
	dkim_verify_free(&b);
	free(in);
	return 0;
}
