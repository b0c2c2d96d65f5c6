/* fuzz/fuzz-dkim-sign - the signer (src/mailauth/dkim-sign.c) on an
 * arbitrary message, as a submission client could send it:
 *   - fed whole and in pieces whose size the first byte chooses, the digest
 *     is the same, or fails the same way;
 *   - a message it signs (RFC 8463 A.2's Ed25519 key) passes Petrel's own
 *     verifier with the field on top, when the verifier can see the same
 *     fields (the input does not start with a continuation line, and holds
 *     fewer header fields than the parser keeps).
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "dns/dns.h"
#include "mailauth/mailauth.h"
#include "message/message.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const unsigned char seed[32] = {
	0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a, 0xf4, 0x92, 0xec,
	0x2c, 0xc4, 0x44, 0x49, 0xc5, 0x69, 0x7b, 0x32, 0x69, 0x19, 0x70, 0x3b, 0xac, 0x03,
	0x1c, 0xae, 0x7f, 0x60,
};

static struct dkim_sign *run_sign(const char *in, size_t size, size_t step,
				  unsigned char digest[DKIM_SIGN_DIGEST_LEN], int *ret_r)
{
	struct dkim_sign_params params = {
		.domain = "example.com", .selector = "brisbane",
		.algorithm = DKIM_SIGN_ED25519_SHA256, .timestamp = 1700000000,
	};
	const char *error = NULL;
	struct dkim_sign *s = dkim_sign_new(&params, &error);
	assert(s != NULL);
	for (size_t off = 0; off < size; off += step)
		dkim_sign_feed(s, in + off, size - off < step ? size - off : step);
	*ret_r = dkim_sign_digest(s, digest, &error);
	assert(*ret_r == 0 || error != NULL);
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t step = 1 + data[0] % 64;
	const char *in = (const char *)data + 1;
	size -= 1;
	unsigned char d1[DKIM_SIGN_DIGEST_LEN], d2[DKIM_SIGN_DIGEST_LEN];
	int r1, r2;
	struct dkim_sign *s1 = run_sign(in, size, size ? size : 1, d1, &r1);
	struct dkim_sign *s2 = run_sign(in, size, step, d2, &r2);
	assert(r1 == r2);
	if (r1 == 0)
		assert(memcmp(d1, d2, sizeof(d1)) == 0);

	struct message_headers headers;
	message_headers_parse(in, size, &headers);
	bool comparable = r1 == 0 && size > 0 && in[0] != ' ' && in[0] != '\t' &&
		headers.count + 1 < MESSAGE_HEADER_MAX;
	message_headers_free(&headers);
	if (comparable) {
		EVP_PKEY *pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed,
							      sizeof(seed));
		EVP_MD_CTX *md = EVP_MD_CTX_new();
		unsigned char sig[64];
		size_t sig_len = sizeof(sig);
		assert(pkey && md && EVP_DigestSignInit(md, NULL, NULL, NULL, pkey) == 1 &&
		       EVP_DigestSign(md, sig, &sig_len, d1, sizeof(d1)) == 1);
		EVP_MD_CTX_free(md);
		EVP_PKEY_free(pkey);
		char *field = dkim_sign_field(s1, sig, sig_len);
		static char key[] = "k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
		char *item = key;
		struct dns_records records = { .status = DNS_OK, .items = &item, .count = 1 };
		struct dkim_verify_settings settings = { .now = 1700000000 };
		struct dkim_verify *v = dkim_verify_create(&settings);
		dkim_verify_feed(v, field, strlen(field));
		dkim_verify_feed(v, in, size);
		dkim_verify_finish(v);
		assert(dkim_verify_count(v) >= 1);
		dkim_verify_key(v, 0, &records);
		assert(dkim_verify_report(v, 0)->result == DKIM_RESULT_PASS);
		dkim_verify_free(&v);
		free(field);
	}
	dkim_sign_free(&s1);
	dkim_sign_free(&s2);
	return 0;
}
