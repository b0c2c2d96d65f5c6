/* mailauth/dmarc-report - the pieces of DMARC aggregate reporting (RFC 7489
 * 7.1, 7.2) that need no I/O: the address of a rua= mailto: URI, whether
 * its destination is external to the domain that asks for reports, the
 * name of the TXT record by which an external destination accepts them,
 * the reading of that record's answer, and the report's XML (appendix C).
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <stdlib.h>

#include "dns/dns.h"
#include "mailauth/mailauth.h"
#include "util/buf.h"
#include "util/domain.h"
#include "util/markup.h"
#include "util/xalloc.h"

#define REPORT_POLICY_TAGS_MAX 16

static int hex_value(char c);
static int eval_cmp(const struct dmarc_report_eval *a, const struct dmarc_report_eval *b);
static void xml_element(struct buf *out, const char *indent, const char *name, const char *s);
static void xml_policy(struct buf *out, const char *domain, const char *policy);
static void xml_record(struct buf *out, const struct dmarc_report_eval *e, size_t count);

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

bool dmarc_rua_mailto(const char *uri, char *out_r, size_t size)
{
	bool ok = false;
	size_t n = 0;
	const char *at = NULL;

	if (size == 0 || strncasecmp(uri, "mailto:", 7) != 0)
		goto out;
	/* RFC 6068 2: the address up to '?' (headers), %XX escapes decoded */
	for (const char *p = uri + 7; *p != '\0' && *p != '?'; p++) {
		char c = *p;
		if (c == '%') {
			int hi = hex_value(p[1]), lo = hi < 0 ? -1 : hex_value(p[2]);
			if (lo < 0)
				goto out;
			c = (char)(hi * 16 + lo);
			p += 2;
		}
		if ((unsigned char)c <= ' ' || (unsigned char)c >= 0x7f || c == ',' ||
		    n + 1 >= size)
			goto out;
		if (c == '@') {
			if (at != NULL)
				goto out;   /* one '@' only: no quoted local parts */
			at = out_r + n;
		}
		out_r[n++] = c;
	}
	out_r[n] = '\0';
	if (at == NULL || at == out_r)
		goto out;
	ok = domain_name_is_valid(at + 1, strlen(at + 1), 0);
out:
	if (!ok && size > 0)
		out_r[0] = '\0';
	return ok;
}

bool dmarc_rua_is_external(const struct mailauth_psl *psl, const char *policy_domain,
			   const char *dest_domain)
{
	char a[MAILAUTH_DOMAIN_SIZE], b[MAILAUTH_DOMAIN_SIZE];
	if (!mailauth_org_domain(psl, policy_domain, strlen(policy_domain), a) ||
	    !mailauth_org_domain(psl, dest_domain, strlen(dest_domain), b))
		return true;
	return strcasecmp(a, b) != 0;
}

bool dmarc_rua_auth_name(const char *policy_domain, const char *dest_domain,
			 char out_r[MAILAUTH_DOMAIN_SIZE])
{
	int n = snprintf(out_r, MAILAUTH_DOMAIN_SIZE, "%s._report._dmarc.%s", policy_domain,
			 dest_domain);
	/* both names are checked by the caller; "_report" is no host name label */
	return n > 0 && n < MAILAUTH_DOMAIN_SIZE;
}

int dmarc_rua_auth_answer(const struct dns_records *records)
{
	if (records->status == DNS_TEMPFAIL)
		return -1;
	if (records->status != DNS_OK)
		return 0;
	for (size_t i = 0; i < records->count; i++)
		if (dmarc_record_is_dmarc(records->items[i], dns_records_length(records, i)))
			return 1;
	return 0;
}

/* str_cmp - NULL first, then by strcmp */
static int str_cmp(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return (a != NULL) - (b != NULL);
	return strcmp(a, b);
}

/* eval_cmp - order evaluations so that those making one <record> (the same
 * client, identifiers, results and disposition) are adjacent */
static int eval_cmp(const struct dmarc_report_eval *a, const struct dmarc_report_eval *b)
{
	int c;
	if ((c = str_cmp(a->source_ip, b->source_ip)) != 0 ||
	    (c = str_cmp(a->header_from, b->header_from)) != 0 ||
	    (c = str_cmp(a->envelope_from, b->envelope_from)) != 0 ||
	    (c = str_cmp(a->spf_domain, b->spf_domain)) != 0 ||
	    (c = str_cmp(a->spf_result, b->spf_result)) != 0 ||
	    (c = str_cmp(a->dkim, b->dkim)) != 0 ||
	    (c = str_cmp(a->disposition, b->disposition)) != 0 ||
	    (c = str_cmp(a->override, b->override)) != 0)
		return c;
	if (a->spf_aligned != b->spf_aligned)
		return a->spf_aligned ? 1 : -1;
	if (a->dkim_aligned != b->dkim_aligned)
		return a->dkim_aligned ? 1 : -1;
	return 0;
}

static int eval_ptr_cmp(const void *a, const void *b)
{
	const struct dmarc_report_eval *const *x = a, *const *y = b;
	int c = eval_cmp(*x, *y);
	/* the same: keep the input order (qsort is not stable) */
	return c != 0 ? c : (*x < *y ? -1 : *x > *y);
}

static void xml_element(struct buf *out, const char *indent, const char *name, const char *s)
{
	buf_printf(out, "%s<%s>", indent, name);
	markup_escape(out, s ? s : "", s ? strlen(s) : 0);
	buf_printf(out, "</%s>\n", name);
}

/* xml_policy - <policy_published> from the tag list POLICY (RFC 7489 C:
 * domain, adkim, aspf, p, sp, pct, fo), defaults where a tag is missing */
static void xml_policy(struct buf *out, const char *domain, const char *policy)
{
	static const struct { const char *name, *value; } tags[] = {
		{ "adkim", "r" }, { "aspf", "r" }, { "p", "none" }, { "sp", NULL },
		{ "pct", "100" }, { "fo", "0" },
	};
	struct mailauth_tag parsed[REPORT_POLICY_TAGS_MAX];
	const char *error = NULL;
	int n = mailauth_tags_parse(policy, strlen(policy), parsed, REPORT_POLICY_TAGS_MAX,
				    &error);
	size_t count = n < 0 ? 0 : (size_t)n;
	buf_append_str(out, "  <policy_published>\n");
	xml_element(out, "    ", "domain", domain);
	const struct mailauth_tag *p = mailauth_tags_find(parsed, count, "p");
	for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]); i++) {
		const struct mailauth_tag *t = mailauth_tags_find(parsed, count, tags[i].name);
		if (t == NULL && strcmp(tags[i].name, "sp") == 0)
			t = p;   /* sp= is p= when absent (RFC 7489 6.3) */
		buf_printf(out, "    <%s>", tags[i].name);
		if (t != NULL)
			markup_escape(out, t->value, t->value_len);
		else
			buf_append_str(out, tags[i].value ? tags[i].value : "none");
		buf_printf(out, "</%s>\n", tags[i].name);
	}
	buf_append_str(out, "  </policy_published>\n");
}

/* xml_record - one <record>: the row, the identifiers, each DKIM signature
 * and the SPF check */
static void xml_record(struct buf *out, const struct dmarc_report_eval *e, size_t count)
{
	buf_append_str(out, "  <record>\n    <row>\n");
	xml_element(out, "      ", "source_ip", e->source_ip);
	buf_printf(out, "      <count>%zu</count>\n      <policy_evaluated>\n", count);
	xml_element(out, "        ", "disposition", e->disposition);
	xml_element(out, "        ", "dkim", e->dkim_aligned ? "pass" : "fail");
	xml_element(out, "        ", "spf", e->spf_aligned ? "pass" : "fail");
	if (e->override) {
		buf_append_str(out, "        <reason>\n");
		xml_element(out, "          ", "type", e->override);
		buf_append_str(out, "        </reason>\n");
	}
	buf_append_str(out, "      </policy_evaluated>\n    </row>\n    <identifiers>\n");
	xml_element(out, "      ", "envelope_from", e->envelope_from);
	xml_element(out, "      ", "header_from", e->header_from);
	buf_append_str(out, "    </identifiers>\n    <auth_results>\n");
	/* "DOMAIN SELECTOR RESULT" lines */
	const char *p = e->dkim ? e->dkim : "";
	while (*p) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		const char *sp1 = memchr(p, ' ', len);
		const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', len - (size_t)(sp1 + 1 - p)) : NULL;
		if (sp2 != NULL) {
			buf_append_str(out, "      <dkim>\n        <domain>");
			markup_escape(out, p, (size_t)(sp1 - p));
			buf_append_str(out, "</domain>\n        <selector>");
			markup_escape(out, sp1 + 1, (size_t)(sp2 - sp1 - 1));
			buf_append_str(out, "</selector>\n        <result>");
			markup_escape(out, sp2 + 1, len - (size_t)(sp2 + 1 - p));
			buf_append_str(out, "</result>\n      </dkim>\n");
		}
		p += len + (eol ? 1 : 0);
	}
	buf_append_str(out, "      <spf>\n");
	xml_element(out, "        ", "domain", e->spf_domain);
	xml_element(out, "        ", "scope", e->envelope_from && e->envelope_from[0] ?
		    "mfrom" : "helo");
	xml_element(out, "        ", "result", e->spf_result);
	buf_append_str(out, "      </spf>\n    </auth_results>\n  </record>\n");
}

size_t dmarc_report_xml(const struct dmarc_report_meta *meta,
			const struct dmarc_report_eval *evals, size_t count, struct buf *out)
{
	buf_append_str(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<feedback>\n"
		       "  <version>1.0</version>\n  <report_metadata>\n");
	xml_element(out, "    ", "org_name", meta->org_name);
	xml_element(out, "    ", "email", meta->email);
	xml_element(out, "    ", "report_id", meta->report_id);
	buf_printf(out, "    <date_range>\n      <begin>%lld</begin>\n      <end>%lld</end>\n"
		   "    </date_range>\n  </report_metadata>\n", meta->begin, meta->end);
	xml_policy(out, meta->domain, meta->policy);
	/* identical evaluations sorted together, one <record> each run */
	const struct dmarc_report_eval **order = xcalloc(count ? count : 1, sizeof(*order));
	for (size_t i = 0; i < count; i++)
		order[i] = &evals[i];
	qsort(order, count, sizeof(*order), eval_ptr_cmp);
	size_t records = 0;
	for (size_t i = 0; i < count;) {
		size_t n = 1;
		while (i + n < count && eval_cmp(order[i], order[i + n]) == 0)
			n++;
		xml_record(out, order[i], n);
		records++;
		i += n;
	}
	free(order);
	buf_append_str(out, "</feedback>\n");
	return records;
}
