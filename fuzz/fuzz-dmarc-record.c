/* fuzz/fuzz-dmarc-record - the DMARC record parser (RFC 7489 6.3, 6.4) on
 * any input, then the same text as the one TXT answer of a policy discovery
 * and an evaluation: nothing read past the input, a valid record's values in
 * their ranges, and a record the parser takes is one discovery takes; each
 * rua= URI through the report destination's reader (dmarc-report.c). */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-input.h"
#include "dns/dns.h"
#include "mailauth/mailauth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct mailauth_psl *psl;

static unsigned fixed_percent(void *ctx)
{
	return *(unsigned *)ctx;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!psl) {
		static const char list[] = "com\nco.uk\n*.ck\n!www.ck\ngithub.io\n";
		size_t line;
		const char *error;
		psl = mailauth_psl_parse(list, sizeof(list) - 1, &line, &error);
		assert(psl != NULL);
	}
	char *text = fuzz_input_copy(data, size);
	const char *error = NULL;
	struct dmarc_record *r = dmarc_record_parse(text, size, &error);
	bool is_dmarc = dmarc_record_is_dmarc(text, size);
	bool has_nul_or_break = memchr(text, '\0', size) || memchr(text, '\r', size) ||
				memchr(text, '\n', size);
	if (r) {
		assert(r->pct <= 100);
		assert(r->fo && r->rf && r->ignored);
		assert(r->sp_given || r->sp == r->p);
		assert(!r->p_fallback || (r->rua_count > 0 && r->p == DMARC_POLICY_NONE));
		for (size_t i = 0; i < r->rua_count; i++) {
			assert(r->rua[i].uri && strchr(r->rua[i].uri, ',') == NULL);
			/* the report destination: an address with one '@' and a
			 * domain, or nothing */
			char address[300];
			if (dmarc_rua_mailto(r->rua[i].uri, address, sizeof(address))) {
				const char *at = strchr(address, '@');
				assert(at != NULL && at > address && strchr(at + 1, '@') == NULL);
				char name[MAILAUTH_DOMAIN_SIZE];
				(void)dmarc_rua_is_external(psl, "example.com", at + 1);
				(void)dmarc_rua_auth_name("example.com", at + 1, name);
			} else {
				assert(address[0] == '\0');
			}
		}
		if (!has_nul_or_break)
			assert(is_dmarc);
	} else {
		assert(error != NULL);
	}

	/* the text as the only TXT record at _dmarc.mail.example.com */
	if (!memchr(text, '\0', size)) {
		char *item = malloc(size + 1);
		assert(item != NULL);
		memcpy(item, text, size);
		item[size] = '\0';
		struct dmarc_discovery *d = dmarc_discovery_new(psl, "mail.example.com", 16);
		const char *name;
		bool first = true;
		while (dmarc_discovery_next(d, &name) == 0) {
			char *items[1] = { item };
			struct dns_records rr = { .status = first ? DNS_OK : DNS_NXDOMAIN,
						  .items = items, .count = first ? 1 : 0 };
			dmarc_discovery_answer(d, &rr);
			first = false;
		}
		const struct dmarc_found *f = dmarc_discovery_found(d);
		assert((f->status == DMARC_FOUND_RECORD) == (r != NULL && is_dmarc));
		unsigned percent = size % 100;
		struct dmarc_dkim_input sig = { DKIM_RESULT_PASS, "example.org" };
		struct dmarc_params params = { .psl = psl, .spf = SPF_RESULT_FAIL,
					       .spf_domain = "example.com", .dkim = &sig,
					       .dkim_count = 1, .random_percent = fixed_percent,
					       .random_ctx = &percent };
		struct dmarc_outcome o;
		dmarc_evaluate(f, &params, &o);
		assert(o.result != DMARC_RESULT_PASS);
		assert(o.disposition <= o.policy);
		dmarc_discovery_free(&d);
		free(item);
	}
	dmarc_record_free(&r);
	free(text);
	return 0;
}
