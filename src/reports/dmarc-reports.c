/* reports/dmarc-reports - making DMARC aggregate reports (RFC 7489 7.2)
 * from the store's evaluations: per policy domain, the XML of appendix C
 * (mailauth's dmarc_report_xml), gzip, and one mail per rua=mailto:
 * address as 7.2.1.1 describes it.  Blocking: the CLI, or a pool job.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <zlib.h>

#include "config/config.h"
#include "mailauth/mailauth.h"
#include "message/message.h"
#include "reports/reports.h"
#include "store/store.h"
#include "util/base64.h"
#include "util/buf.h"
#include "util/xalloc.h"

#define REPORT_B64_LINE 76    /* RFC 2045 6.8 */

static int gzip_buf(const struct buf *in, struct buf *out);
static void report_dests(struct dmarc_report *r, const char *rua);
static bool rua_size_parse(const char *s, unsigned long long *size_r);
static void report_message(const struct dmarc_report *r, const struct dmarc_reports_settings *s,
			   const char *to, time_t now, struct buf *out);
static struct dmarc_report *report_make(const struct dmarc_reports_settings *s,
					struct store_dmarc_eval **evals, size_t n, time_t begin,
					time_t now);

void dmarc_reports_settings_from(const struct config *config, struct dmarc_reports_settings *s,
				 char *buf_email, size_t size)
{
	s->hostname = config->hostname;
	s->org_name = config->auth.report_org_name[0] ? config->auth.report_org_name :
		      config->hostname;
	if (config->auth.report_email) {
		s->email = config->auth.report_email;
	} else {
		snprintf(buf_email, size, "postmaster@%s", config->hostname);
		s->email = buf_email;
	}
}

bool dmarc_report_day_parse(const char *s, time_t *begin_r)
{
	struct tm tm = { 0 };
	char *end = strptime(s, "%Y-%m-%d", &tm);
	if (end == NULL || *end != '\0')
		return false;
	time_t t = timegm(&tm);
	if (t == (time_t)-1)
		return false;
	*begin_r = t;
	return true;
}

/* gzip_buf - IN compressed into OUT in the gzip format (RFC 1952) */
static int gzip_buf(const struct buf *in, struct buf *out)
{
	z_stream z = { 0 };
	if (deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
			 Z_DEFAULT_STRATEGY) != Z_OK)
		return -1;
	uLong bound = deflateBound(&z, (uLong)in->len) + 32;
	unsigned char *dst = xmalloc(bound);
	z.next_in = (unsigned char *)in->data;
	z.avail_in = (uInt)in->len;
	z.next_out = dst;
	z.avail_out = (uInt)bound;
	int rc = deflate(&z, Z_FINISH);
	if (rc == Z_STREAM_END)
		buf_append(out, dst, z.total_out);
	deflateEnd(&z);
	free(dst);
	return rc == Z_STREAM_END ? 0 : -1;
}

/* rua_size_parse - RFC 7489 6.2's size after "!": digits and an optional
 * unit k, m, g or t (powers of 2^10) */
static bool rua_size_parse(const char *s, unsigned long long *size_r)
{
	char *end;
	if (*s < '0' || *s > '9')
		return false;
	unsigned long long n = strtoull(s, &end, 10);
	unsigned shift = 0;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	default: break;
	}
	if (*end != '\0' || n > (~0ULL >> shift))
		return false;
	*size_r = n << shift;
	return true;
}

/* report_dests - the mailto: addresses of RUA ("URI[!SIZE],..."), at most
 * DMARC_REPORT_RUA_MAX; others noted in r->problem */
static void report_dests(struct dmarc_report *r, const char *rua)
{
	char *copy = xstrdup(rua), *save = NULL;
	struct buf problem;
	buf_init(&problem);
	for (char *uri = strtok_r(copy, ",", &save); uri; uri = strtok_r(NULL, ",", &save)) {
		while (*uri == ' ')
			uri++;
		unsigned long long max = 0;
		char *bang = strrchr(uri, '!');
		if (bang) {
			*bang = '\0';
			if (!rua_size_parse(bang + 1, &max))
				max = 0;
		}
		char address[320];
		if (!dmarc_rua_mailto(uri, address, sizeof(address))) {
			buf_printf(&problem, "%s%s: not a mailto: address", problem.len ? "; " : "",
				   uri);
			continue;
		}
		if (r->dest_count == DMARC_REPORT_RUA_MAX) {
			buf_printf(&problem, "%s%s: more than %d addresses", problem.len ? "; " : "",
				   uri, DMARC_REPORT_RUA_MAX);
			continue;
		}
		struct dmarc_report_dest *d = &r->dests[r->dest_count++];
		d->address = xstrdup(address);
		d->max_size = max;
		buf_init(&d->message);
	}
	if (problem.len)
		r->problem = xstrndup(problem.data, problem.len);
	buf_free(&problem);
	free(copy);
}

/* report_message - the mail of 7.2.1.1: From the reporter, the Subject
 * naming the domain, the submitter and the report id, the gzip XML as an
 * application/gzip attachment named after the report */
static void report_message(const struct dmarc_report *r, const struct dmarc_reports_settings *s,
			   const char *to, time_t now, struct buf *out)
{
	char date[64];
	message_date_format(now, date, sizeof(date));
	char boundary[96];
	snprintf(boundary, sizeof(boundary), "=_petrel_dmarc_%lld_%zu", (long long)r->begin,
		 r->messages);
	buf_printf(out, "From: <%s>\r\nTo: <%s>\r\nDate: %s\r\n"
		   "Subject: Report Domain: %s Submitter: %s Report-ID: <%s>\r\n"
		   "Message-ID: <%s.%lld@%s>\r\nMIME-Version: 1.0\r\n"
		   "Content-Type: multipart/mixed; boundary=\"%s\"\r\n\r\n"
		   "This is a MIME-formatted message.\r\n\r\n--%s\r\n"
		   "Content-Type: text/plain; charset=us-ascii\r\n\r\n"
		   "DMARC aggregate report (RFC 7489) for %s from %s:\r\n"
		   "%zu messages from %lld to %lld (UTC seconds), in the attachment.\r\n\r\n"
		   "--%s\r\nContent-Type: application/gzip; name=\"%s\"\r\n"
		   "Content-Disposition: attachment; filename=\"%s\"\r\n"
		   "Content-Transfer-Encoding: base64\r\n\r\n",
		   s->email, to, date, r->domain, s->org_name, r->report_id, r->report_id,
		   (long long)now, s->hostname, boundary, boundary, r->domain, s->org_name,
		   r->messages, (long long)r->begin, (long long)r->end, boundary, r->filename,
		   r->filename);
	struct buf b64;
	buf_init(&b64);
	base64_encode(r->gz.data, r->gz.len, &b64);
	for (size_t off = 0; off < b64.len; off += REPORT_B64_LINE) {
		size_t n = b64.len - off < REPORT_B64_LINE ? b64.len - off : REPORT_B64_LINE;
		buf_append(out, b64.data + off, n);
		buf_append_str(out, "\r\n");
	}
	buf_free(&b64);
	buf_printf(out, "\r\n--%s--\r\n", boundary);
}

/* report_make - the report of EVALS[0..N) (one policy domain): the policy
 * and rua= of its latest evaluation are the ones reported and served */
static struct dmarc_report *report_make(const struct dmarc_reports_settings *s,
					struct store_dmarc_eval **evals, size_t n, time_t begin,
					time_t now)
{
	const struct store_dmarc_eval *last = evals[n - 1];
	struct dmarc_report *r = xcalloc(1, sizeof(*r));
	r->domain = xstrdup(last->policy_domain);
	r->begin = begin;
	r->end = begin + DMARC_REPORT_PERIOD - 1;
	r->messages = n;
	r->report_id = xasprintf("%s.%lld@%s", r->domain, (long long)begin, s->hostname);
	r->filename = xasprintf("%s!%s!%lld!%lld.xml.gz", s->hostname, r->domain,
				(long long)r->begin, (long long)r->end);
	buf_init(&r->xml);
	buf_init(&r->gz);
	struct dmarc_report_eval *rows = xcalloc(n, sizeof(*rows));
	for (size_t i = 0; i < n; i++) {
		const struct store_dmarc_eval *e = evals[i];
		rows[i] = (struct dmarc_report_eval){
			.source_ip = e->source_ip, .header_from = e->header_from,
			.envelope_from = e->envelope_from, .spf_domain = e->spf_domain,
			.spf_result = e->spf_result, .dkim = e->dkim,
			.spf_aligned = e->spf_aligned, .dkim_aligned = e->dkim_aligned,
			.disposition = e->disposition, .override = e->override,
		};
	}
	const struct dmarc_report_meta meta = {
		.org_name = s->org_name, .email = s->email, .report_id = r->report_id,
		.begin = (long long)r->begin, .end = (long long)r->end, .domain = r->domain,
		.policy = last->policy,
	};
	r->records = dmarc_report_xml(&meta, rows, n, &r->xml);
	free(rows);
	if (gzip_buf(&r->xml, &r->gz) < 0)
		abort();   /* only a bad zlib call or allocation failure gets here */
	report_dests(r, last->rua);
	for (size_t i = 0; i < r->dest_count; i++)
		report_message(r, s, r->dests[i].address, now, &r->dests[i].message);
	return r;
}

int dmarc_reports_make(struct store *store, const struct dmarc_reports_settings *settings,
		       time_t begin, const char *only_domain, bool claim, time_t now,
		       struct dmarc_report **reports_r, size_t *count_r, const char **error_r)
{
	struct store_dmarc_eval **evals = NULL;
	size_t n = 0, count = 0;
	struct dmarc_report *reports = NULL;
	int rc = -1;

	if (store_dmarc_eval_list(store, begin, begin + DMARC_REPORT_PERIOD, &evals, &n,
				  error_r) < 0)
		goto out;
	/* the rows come by policy domain: one report per run of them */
	for (size_t i = 0; i < n;) {
		size_t j = i + 1;
		while (j < n && strcmp(evals[j]->policy_domain, evals[i]->policy_domain) == 0)
			j++;
		bool wanted = only_domain == NULL ||
			      strcasecmp(only_domain, evals[i]->policy_domain) == 0;
		bool claimed = true;
		if (wanted && claim &&
		    store_dmarc_report_claim(store, evals[i]->policy_domain, begin, &claimed,
					     error_r) < 0)
			goto out;
		if (wanted && claimed) {
			struct dmarc_report *r = report_make(settings, evals + i, j - i, begin, now);
			reports = xrealloc(reports, (count + 1) * sizeof(*reports));
			reports[count++] = *r;
			free(r);
		}
		i = j;
	}
	rc = 0;
out:
	store_dmarc_eval_list_free(&evals, n);
	if (rc == 0) {
		*reports_r = reports;
		*count_r = count;
	} else {
		dmarc_reports_free(&reports, count);
	}
	return rc;
}

void dmarc_reports_free(struct dmarc_report **reports, size_t count)
{
	if (*reports == NULL)
		return;
	for (size_t i = 0; i < count; i++) {
		struct dmarc_report *r = &(*reports)[i];
		free(r->domain);
		free(r->report_id);
		free(r->filename);
		free(r->problem);
		buf_free(&r->xml);
		buf_free(&r->gz);
		for (size_t k = 0; k < r->dest_count; k++) {
			free(r->dests[k].address);
			buf_free(&r->dests[k].message);
		}
	}
	free(*reports);
	*reports = NULL;
}
