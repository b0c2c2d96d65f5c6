/* mailauth/dmarc - DMARC policy discovery (RFC 7489 6.6.3) and evaluation
 * (6.6.2, 6.6.4), I/O-free: the DNS answers come from the caller (dmarc-dns.c
 * on the loop, or a test), the random number for pct= from a function the
 * caller may fix.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dns/dns.h"
#include "mailauth/mailauth.h"
#include "util/xalloc.h"

enum discovery_step {
	STEP_FROM,     /* asking _dmarc.<From domain> */
	STEP_ORG,      /* asking _dmarc.<organizational domain> */
	STEP_DONE,
};

struct dmarc_discovery {
	enum discovery_step step;
	char from[MAILAUTH_DOMAIN_SIZE];
	char org[MAILAUTH_DOMAIN_SIZE];
	char name[MAILAUTH_DOMAIN_SIZE + 7];  /* "_dmarc." and a domain */
	char *record_text;
	struct dmarc_record *record;
	struct dmarc_found found;
};

static void discovery_finish(struct dmarc_discovery *d, enum dmarc_found_status status,
			     const char *domain, const char *problem);
static const struct dmarc_dkim_input *dkim_aligned(const struct dmarc_found *found,
						   const struct dmarc_params *params,
						   enum dmarc_alignment mode);
static unsigned random_percent_default(void *ctx);

struct dmarc_discovery *dmarc_discovery_new(const struct mailauth_psl *psl,
					    const char *from_domain, size_t len)
{
	struct dmarc_discovery *d = xcalloc(1, sizeof(*d));
	d->found.from_domain = d->from;
	d->found.org_domain = d->org;
	if (!mailauth_org_domain(psl, from_domain, len, d->org)) {
		discovery_finish(d, DMARC_FOUND_BAD_DOMAIN, NULL,
				 "the From domain is not a domain name of A-labels");
		return d;
	}
	/* mailauth_org_domain checked it: lower-case it, without its dot */
	if (len > 0 && from_domain[len - 1] == '.')
		len--;
	for (size_t i = 0; i < len; i++) {
		char c = from_domain[i];
		d->from[i] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
	}
	d->from[len] = '\0';
	d->step = STEP_FROM;
	return d;
}

/* discovery_finish - the outcome, found at DOMAIN (NULL: nowhere) */
static void discovery_finish(struct dmarc_discovery *d, enum dmarc_found_status status,
			     const char *domain, const char *problem)
{
	d->step = STEP_DONE;
	d->found.status = status;
	d->found.record_domain = domain;
	d->found.record_text = d->record_text;
	d->found.record = d->record;
	d->found.problem = problem;
}

int dmarc_discovery_next(struct dmarc_discovery *d, const char **name_r)
{
	if (d->step == STEP_DONE)
		return 1;
	snprintf(d->name, sizeof(d->name), "_dmarc.%s", d->step == STEP_FROM ? d->from : d->org);
	*name_r = d->name;
	return 0;
}

/* dmarc_discovery_answer - 6.6.3 steps 1 to 5 for the name just asked */
void dmarc_discovery_answer(struct dmarc_discovery *d, const struct dns_records *answer)
{
	const char *domain = d->step == STEP_FROM ? d->from : d->org;
	const char *text = NULL;
	size_t text_len = 0, count = 0;

	if (d->step == STEP_DONE)
		return;
	if (answer->status == DNS_TEMPFAIL) {
		discovery_finish(d, DMARC_FOUND_TEMPFAIL, domain,
				 "the DMARC record could not be looked up (DNS temporary failure)");
		return;
	}
	if (answer->status == DNS_OK) {
		for (size_t i = 0; i < answer->count; i++) {
			size_t len = dns_records_length(answer, i);
			if (dmarc_record_is_dmarc(answer->items[i], len)) {
				text = answer->items[i];
				text_len = len;
				count++;
			}
		}
	}
	if (count > 1) {
		discovery_finish(d, DMARC_FOUND_SEVERAL, domain,
				 "several DMARC records: no policy applies (RFC 7489 6.6.3)");
		return;
	}
	if (count == 1) {
		const char *error = NULL;
		d->record_text = xstrdup(text);
		d->record = dmarc_record_parse(text, text_len, &error);
		if (d->record)
			discovery_finish(d, DMARC_FOUND_RECORD, domain, NULL);
		else
			discovery_finish(d, DMARC_FOUND_INVALID, domain, error);
		return;
	}
	/* nothing here: the organizational domain next, if it is another */
	if (d->step == STEP_FROM && strcmp(d->from, d->org) != 0) {
		d->step = STEP_ORG;
		return;
	}
	discovery_finish(d, DMARC_FOUND_NONE, NULL, "no DMARC record");
}

const struct dmarc_found *dmarc_discovery_found(const struct dmarc_discovery *d)
{
	return &d->found;
}

void dmarc_discovery_free(struct dmarc_discovery **d)
{
	if (!*d)
		return;
	dmarc_record_free(&(*d)->record);
	free((*d)->record_text);
	free(*d);
	*d = NULL;
}

/* dmarc_domain_aligned - RFC 7489 3.1.1, 3.1.2 */
bool dmarc_domain_aligned(const struct mailauth_psl *psl, const char *domain,
			  const char *from_domain, enum dmarc_alignment mode)
{
	char a[MAILAUTH_DOMAIN_SIZE], b[MAILAUTH_DOMAIN_SIZE];
	if (!domain || !from_domain)
		return false;
	if (mode == DMARC_ALIGN_STRICT) {
		/* mailauth_org_domain validates; compare the names themselves */
		size_t la = strlen(domain), lb = strlen(from_domain);
		if (!mailauth_org_domain(psl, domain, la, a) ||
		    !mailauth_org_domain(psl, from_domain, lb, b))
			return false;
		if (la > 0 && domain[la - 1] == '.')
			la--;
		if (lb > 0 && from_domain[lb - 1] == '.')
			lb--;
		return la == lb && strncasecmp(domain, from_domain, la) == 0;
	}
	return mailauth_org_domain(psl, domain, strlen(domain), a) &&
	       mailauth_org_domain(psl, from_domain, strlen(from_domain), b) &&
	       strcmp(a, b) == 0;
}

/* dkim_aligned - the first signature that passed with an aligned d= */
static const struct dmarc_dkim_input *dkim_aligned(const struct dmarc_found *found,
						   const struct dmarc_params *params,
						   enum dmarc_alignment mode)
{
	for (size_t i = 0; i < params->dkim_count; i++) {
		const struct dmarc_dkim_input *s = &params->dkim[i];
		if (s->result == DKIM_RESULT_PASS &&
		    dmarc_domain_aligned(params->psl, s->domain, found->from_domain, mode))
			return s;
	}
	return NULL;
}

static unsigned random_percent_default(void *ctx)
{
	(void)ctx;
	return arc4random_uniform(100);
}

/* dmarc_evaluate - RFC 7489 6.6.2 (alignment), 6.6.4 (policy, pct) */
void dmarc_evaluate(const struct dmarc_found *found, const struct dmarc_params *params,
		    struct dmarc_outcome *out)
{
	const struct dmarc_record *r = found->status == DMARC_FOUND_RECORD ? found->record : NULL;
	enum dmarc_alignment aspf = r ? r->aspf : DMARC_ALIGN_RELAXED;
	enum dmarc_alignment adkim = r ? r->adkim : DMARC_ALIGN_RELAXED;

	memset(out, 0, sizeof(*out));
	out->enforced = params->enforce;
	/* alignment is worked out even without a policy: the CLI shows it */
	if (found->status != DMARC_FOUND_BAD_DOMAIN) {
		out->spf_aligned = params->spf == SPF_RESULT_PASS &&
			dmarc_domain_aligned(params->psl, params->spf_domain, found->from_domain,
					     aspf);
		const struct dmarc_dkim_input *s = dkim_aligned(found, params, adkim);
		out->dkim_aligned = s != NULL;
		out->dkim_domain = s ? s->domain : NULL;
	}

	switch (found->status) {
	case DMARC_FOUND_RECORD:
		break;
	case DMARC_FOUND_NONE:
	case DMARC_FOUND_SEVERAL:
	case DMARC_FOUND_BAD_DOMAIN:
		out->result = DMARC_RESULT_NONE;
		out->reason = found->problem;
		return;
	case DMARC_FOUND_TEMPFAIL:
		out->result = DMARC_RESULT_TEMPERROR;
		out->reason = found->problem;
		return;
	case DMARC_FOUND_INVALID:
		out->result = DMARC_RESULT_PERMERROR;
		out->reason = found->problem;
		return;
	}

	/* sp= governs a From domain below the organizational domain whose
	 * record was used (6.3 "sp"; 6.6.3 step 5) */
	out->subdomain_policy = strcmp(found->record_domain, found->org_domain) == 0 &&
				strcmp(found->from_domain, found->org_domain) != 0;
	out->policy = out->subdomain_policy ? r->sp : r->p;
	if (out->spf_aligned || out->dkim_aligned) {
		out->result = DMARC_RESULT_PASS;
		out->disposition = DMARC_POLICY_NONE;
		return;
	}
	out->result = DMARC_RESULT_FAIL;
	out->reason = params->spf == SPF_RESULT_PASS || params->dkim_count > 0 ?
		"no identifier that passed is aligned with the From domain" :
		"neither SPF nor DKIM passed";
	out->disposition = out->policy;
	if (out->policy != DMARC_POLICY_NONE && r->pct < 100) {
		unsigned (*rnd)(void *) = params->random_percent ? params->random_percent :
			random_percent_default;
		if (rnd(params->random_ctx) >= r->pct) {
			/* 6.6.4: outside the sample, the next policy down */
			out->sampled_out = true;
			out->disposition = out->policy == DMARC_POLICY_REJECT ?
				DMARC_POLICY_QUARANTINE : DMARC_POLICY_NONE;
		}
	}
}

const char *dmarc_result_name(enum dmarc_result result)
{
	switch (result) {
	case DMARC_RESULT_NONE:
		return "none";
	case DMARC_RESULT_PASS:
		return "pass";
	case DMARC_RESULT_FAIL:
		return "fail";
	case DMARC_RESULT_TEMPERROR:
		return "temperror";
	case DMARC_RESULT_PERMERROR:
		return "permerror";
	}
	return "none";
}
