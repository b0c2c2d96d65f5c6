/* fuzz/fuzz-arc - ARC chain validation (src/mailauth/arc.c) on an arbitrary
 * message: the ARC-Seal / ARC-Message-Signature parsers, the
 * ARC-Authentication-Results instance, the structure checks and the hashes.
 * Fed whole and one byte at a time, with the same key (RFC 8463's Ed25519
 * key, or for odd first bytes no key at all) for every signature, the chain
 * is decided, the same way both times; a pass has its sealer. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-input.h"
#include "dns/dns.h"
#include "mailauth/mailauth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct arc_verify *run_verify(const char *in, size_t size, size_t step, bool key)
{
	static char text[] = "k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
	char *item = text;
	struct dns_records found = { .status = DNS_OK, .items = &item, .count = 1 };
	struct dns_records none = { .status = DNS_NXDOMAIN };
	struct dkim_verify_settings settings = { .now = 1700000000, .max_header_size = 8192 };
	struct arc_verify *v = arc_verify_create(&settings);
	for (size_t off = 0; off < size; off += step)
		arc_verify_feed(v, in + off, size - off < step ? size - off : step);
	arc_verify_finish(v);
	for (size_t i = 0; i < arc_verify_key_count(v); i++)
		if (arc_verify_key_name(v, i) != NULL)
			arc_verify_key(v, i, key ? &found : &none);
	assert(arc_verify_is_done(v));
	return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in = fuzz_input_copy(data, size);
	bool key = size == 0 || (data[0] & 1) == 0;
	struct arc_verify *a = run_verify(in, size, size ? size : 1, key);
	struct arc_verify *b = run_verify(in, size, 1, key);
	const struct arc_outcome *oa = arc_verify_outcome(a), *ob = arc_verify_outcome(b);
	assert(oa->result == ob->result && oa->instances == ob->instances);
	assert((oa->reason == NULL) == (ob->reason == NULL));
	assert(oa->result != ARC_RESULT_FAIL || oa->reason != NULL);
	assert(oa->result != ARC_RESULT_PASS || (oa->sealer != NULL && oa->instances > 0));
	assert(oa->result != ARC_RESULT_NONE || oa->instances == 0);
	arc_verify_free(&a);
	arc_verify_free(&b);
	free(in);
	return 0;
}
