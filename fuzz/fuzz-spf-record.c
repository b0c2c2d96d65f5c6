/* fuzz/fuzz-spf-record - the SPF record parser, the macro expander and
 * check_host() on arbitrary input (RFC 7208).
 * Invariants: a parsed record's terms lie inside its copy of the text, one
 * after another; prefix lengths are in range; every domain-spec it keeps
 * passes spf_macro_check and expands to at most SPF_EXPAND_MAX octets;
 * spf_macro_expand succeeds exactly when spf_macro_check says the input is
 * a macro-string (or the expansion is too long); a check whose every TXT
 * answer is the input ends within SPF_QUERIES_MAX queries. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-input.h"
#include "mailauth/mailauth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct spf_macro_env env = {
	.sender = "strong-bad@email.example.com", .local = "strong-bad",
	.sender_domain = "email.example.com", .domain = "email.example.com",
	.ip = "2001:db8::cb01", .ptr_name = "mx.example.org", .helo = "mx.example.org",
	.receiver = "mx.example.net", .now = 1700000000,
};

static void check_spec(const char *spec, size_t len)
{
	char *out = NULL;
	const char *error = NULL;
	assert(spf_macro_check(spec, len, 0, NULL));
	if (spf_macro_expand(spec, len, &env, 0, &out, &error) == 0) {
		assert(strlen(out) <= SPF_EXPAND_MAX);
		free(out);
	} else {
		assert(strcmp(error, "macro expansion too long") == 0);
	}
}

static void check_macro(const char *in, size_t size, unsigned flags)
{
	char *out = NULL;
	const char *error = NULL;
	bool uses_p;
	bool valid = spf_macro_check(in, size, flags, &uses_p);
	int ret = spf_macro_expand(in, size, &env, flags, &out, &error);
	if (ret == 0) {
		assert(valid);
		assert(strlen(out) <= SPF_EXPAND_MAX);
		free(out);
	} else {
		assert(!valid || strcmp(error, "macro expansion too long") == 0);
	}
}

static void check_host(const char *in, size_t size)
{
	struct spf_params params = { .ip = "192.0.2.1", .sender = "a@example.com",
				     .helo = "mx.example.org", .now = 1 };
	struct spf_check *check = spf_check_new(&params);
	struct spf_query q;
	char *txt = strndup(in, size);
	const char *txts[1] = { txt };
	static const char *const addr[] = { "192.0.2.1" };
	static const char *const mx[] = { "10 mx.example.com" };
	static const char *const ptr[] = { "host.example.com" };
	unsigned rounds = 0;
	assert(txt != NULL);
	while (spf_check_next(check, &q) == 0) {
		assert(++rounds <= SPF_QUERIES_MAX);
		switch (q.type) {
		case SPF_DNS_TXT: spf_check_answer(check, SPF_DNS_OK, txts, NULL, 1); break;
		case SPF_DNS_A: spf_check_answer(check, SPF_DNS_NODATA, addr, NULL, 0); break;
		case SPF_DNS_AAAA: spf_check_answer(check, SPF_DNS_NXDOMAIN, NULL, NULL, 0); break;
		case SPF_DNS_MX: spf_check_answer(check, SPF_DNS_OK, mx, NULL, 1); break;
		case SPF_DNS_PTR: spf_check_answer(check, SPF_DNS_OK, ptr, NULL, 1); break;
		}
	}
	const struct spf_outcome *o = spf_check_outcome(check);
	assert(o->lookups <= SPF_LOOKUP_MAX);
	assert(o->void_lookups <= SPF_VOID_MAX + 1);
	assert(o->queries == rounds);
	spf_check_free(&check);
	free(txt);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in = fuzz_input_copy(data, size);

	const char *error = NULL;
	struct spf_record *r = spf_record_parse(in, size, &error);
	assert(r != NULL || error != NULL);
	if (r != NULL) {
		assert(spf_record_is_spf(in, size));
		const char *end = r->text + size;
		const char *prev = r->text;
		for (size_t i = 0; i < r->term_count; i++) {
			const struct spf_term *t = &r->terms[i];
			assert(t->text >= prev && t->text + t->text_len <= end);
			prev = t->text + t->text_len;
			assert(t->cidr4 <= 32 && t->cidr6 <= 128);
			if (t->spec != NULL) {
				assert(t->spec > t->text && t->spec + t->spec_len <= prev);
				check_spec(t->spec, t->spec_len);
			}
		}
		if (r->redirect)
			check_spec(r->redirect, r->redirect_len);
		if (r->exp)
			check_spec(r->exp, r->exp_len);
		spf_record_free(&r);
	}
	check_macro(in, size, 0);
	check_macro(in, size, SPF_MACRO_EXPLAIN);
	/* TXT answers are C strings: what follows a NUL is not part of them */
	if (memchr(in, '\0', size) == NULL)
		check_host(in, size);
	free(in);
	return 0;
}
