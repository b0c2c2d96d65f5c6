/* mailauth/dmarc-report - the pieces of DMARC aggregate reporting (RFC 7489
 * 7.1, 7.2) that need no I/O: the address of a rua= mailto: URI, whether
 * its destination is external to the domain that asks for reports, the
 * name of the TXT record by which an external destination accepts them,
 * and the reading of that record's answer.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "dns/dns.h"
#include "mailauth/mailauth.h"
#include "util/domain.h"

static int hex_value(char c);

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
		if (dmarc_record_is_dmarc(records->items[i], strlen(records->items[i])))
			return 1;
	return 0;
}
