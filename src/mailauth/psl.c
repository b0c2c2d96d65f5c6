/* mailauth/psl - the Public Suffix List (publicsuffix.org) and the
 * organizational domain of RFC 7489 3.2.
 *
 * The list is read once at start (Debian's `publicsuffix` package installs
 * it as /usr/share/publicsuffix/public_suffix_list.dat) into one hash table
 * of rule names, each with the kinds of rule that name carries: "S" (a
 * normal rule), "*.S" (a wildcard: any one label under S is a public
 * suffix) and "!S" (an exception to a wildcard).  The rule texts sit in one
 * block; a lookup hashes each suffix of the name once, so it costs one probe
 * per label.
 *
 * Both sections of the list are used, ICANN and PRIVATE, as the
 * publicsuffix project's own test vectors do (uk.com, a private rule, is a
 * public suffix there) and as DMARC verifiers commonly do: a private rule
 * such as github.io means that its subdomains belong to different owners,
 * and relaxed alignment must not let one owner's domain align with
 * another's.  The price is that a company whose domain is under a private
 * suffix cannot align across its own subdomains there.
 *
 * Rules written with Unicode labels (公司.cn) are stored as A-labels
 * (xn--55qx5d.cn, RFC 3492 punycode), and names are looked up in A-label
 * form only: converting a U-label From domain (RFC 6532) to A-labels is the
 * caller's work, with IDNA2008's mapping that this module does not do.
 *
 * Matching follows the list's documented algorithm: an exception rule
 * prevails; otherwise the matching rule with the most labels; a name no
 * rule matches falls under the implicit rule "*" (its top-level label is a
 * public suffix).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mailauth/mailauth.h"
#include "util/domain.h"
#include "util/siphash.h"
#include "util/utf8.h"
#include "util/xalloc.h"

#define PSL_RULE      0x1u  /* "S" */
#define PSL_WILDCARD  0x2u  /* "*.S" */
#define PSL_EXCEPTION 0x4u  /* "!S" */

struct psl_entry {
	uint32_t offset;       /* into psl->text; 0 = empty slot (text[0] is unused) */
	uint8_t len;
	uint8_t kinds;         /* PSL_RULE | PSL_WILDCARD | PSL_EXCEPTION */
};

struct mailauth_psl {
	struct psl_entry *table;
	size_t mask;           /* table size - 1, a power of two minus one */
	size_t used;           /* slots in use: at most half the table */
	size_t rule_count;     /* lines of the file that hold a rule */
	char *text;            /* the rule names, lower-case A-labels, one after another */
	size_t text_len, text_size;
};

/* one fixed key: the table is built from the list, not from peers, and a
 * lookup only probes it */
static const unsigned char psl_hash_key[SIPHASH_KEY_LEN] = "petrel-psl-table";

static struct psl_entry *psl_slot(const struct mailauth_psl *psl, const char *name, size_t len);
static unsigned psl_kinds(const struct mailauth_psl *psl, const char *name, size_t len);
static void psl_add(struct mailauth_psl *psl, const char *name, size_t len, unsigned kind);
static int psl_parse_rule(struct mailauth_psl *psl, const char *rule, size_t len,
			  const char **error_r);
static int punycode_encode(const char *label, size_t len, char *out, size_t out_size,
			   size_t *out_len_r);
static int psl_normalize(const char *domain, size_t len, char out[MAILAUTH_DOMAIN_SIZE],
			 size_t *len_r);
static size_t psl_suffix_labels(const struct mailauth_psl *psl, const char *name, size_t len,
				size_t labels);

/* psl_slot - the slot holding NAME, or the empty slot where it would go */
static struct psl_entry *psl_slot(const struct mailauth_psl *psl, const char *name, size_t len)
{
	size_t i = (size_t)siphash24(psl_hash_key, name, len) & psl->mask;
	for (;;) {
		struct psl_entry *e = &psl->table[i];
		if (e->offset == 0 ||
		    (e->len == len && memcmp(psl->text + e->offset, name, len) == 0))
			return e;
		i = (i + 1) & psl->mask;
	}
}

static unsigned psl_kinds(const struct mailauth_psl *psl, const char *name, size_t len)
{
	return psl_slot(psl, name, len)->kinds;
}

/* psl_add - record that NAME carries a rule of KIND; the table grows to stay
 * at most half full */
static void psl_add(struct mailauth_psl *psl, const char *name, size_t len, unsigned kind)
{
	struct psl_entry *e = psl_slot(psl, name, len);
	if (e->offset != 0) {
		e->kinds |= (uint8_t)kind;
		return;
	}
	if (psl->text_len + len > psl->text_size) {
		psl->text_size = (psl->text_size + len) * 2;
		psl->text = xrealloc(psl->text, psl->text_size);
	}
	memcpy(psl->text + psl->text_len, name, len);
	*e = (struct psl_entry){ .offset = (uint32_t)psl->text_len, .len = (uint8_t)len,
				 .kinds = (uint8_t)kind };
	psl->text_len += len;
	if (++psl->used * 2 <= psl->mask + 1)
		return;
	/* rehash into a table twice as large */
	struct psl_entry *old = psl->table;
	size_t old_size = psl->mask + 1;
	psl->mask = old_size * 2 - 1;
	psl->table = xcalloc(old_size * 2, sizeof(*psl->table));
	for (size_t i = 0; i < old_size; i++) {
		if (old[i].offset != 0)
			*psl_slot(psl, psl->text + old[i].offset, old[i].len) = old[i];
	}
	free(old);
}

/* punycode_encode - the A-label of the U-label LABEL[0..LEN) (RFC 3492 6.3,
 * with "xn--" in front, RFC 5890 2.3.2.1); 0, or -1 if LABEL is not UTF-8
 * or the result does not fit OUT_SIZE */
static int punycode_encode(const char *label, size_t len, char *out, size_t out_size,
			   size_t *out_len_r)
{
	enum { BASE = 36, TMIN = 1, TMAX = 26, SKEW = 38, DAMP = 700 };
	uint32_t cps[DOMAIN_LABEL_MAX * 4];
	size_t count = 0, o = 0;

	for (size_t i = 0; i < len;) {
		size_t n = utf8_sequence_length(label + i, len - i);
		if (n == 0 || count == sizeof(cps) / sizeof(cps[0]))
			return -1;
		const unsigned char *s = (const unsigned char *)label + i;
		uint32_t cp = n == 1 ? s[0] : n == 2 ? s[0] & 0x1fu : n == 3 ? s[0] & 0x0fu :
			      s[0] & 0x07u;
		for (size_t k = 1; k < n; k++)
			cp = (cp << 6) | (s[k] & 0x3fu);
		cps[count++] = cp;
		i += n;
	}
	if (out_size < 4)
		return -1;
	memcpy(out, "xn--", 4);
	o = 4;
	size_t basic = 0;
	for (size_t i = 0; i < count; i++) {
		if (cps[i] < 0x80) {
			if (o == out_size)
				return -1;
			out[o++] = (char)cps[i];
			basic++;
		}
	}
	if (basic > 0) {
		if (o == out_size)
			return -1;
		out[o++] = '-';
	}
	uint32_t n = 0x80, bias = 72;
	uint64_t delta = 0;
	for (size_t h = basic; h < count;) {
		uint32_t m = UINT32_MAX;
		for (size_t i = 0; i < count; i++) {
			if (cps[i] >= n && cps[i] < m)
				m = cps[i];
		}
		delta += (uint64_t)(m - n) * (h + 1);
		n = m;
		for (size_t i = 0; i < count; i++) {
			if (cps[i] < n)
				delta++;
			if (cps[i] != n)
				continue;
			uint64_t q = delta;
			for (uint32_t k = BASE;; k += BASE) {
				uint32_t t = k <= bias ? TMIN : k >= bias + TMAX ? TMAX : k - bias;
				if (q < t)
					break;
				uint64_t d = t + (q - t) % (BASE - t);
				if (o == out_size)
					return -1;
				out[o++] = (char)(d < 26 ? 'a' + d : '0' + d - 26);
				q = (q - t) / (BASE - t);
			}
			if (o == out_size)
				return -1;
			out[o++] = (char)(q < 26 ? 'a' + q : '0' + q - 26);
			/* adapt (RFC 3492 6.1) */
			delta = h == basic ? delta / DAMP : delta / 2;
			delta += delta / (h + 1);
			uint32_t k = 0;
			while (delta > ((BASE - TMIN) * TMAX) / 2) {
				delta /= BASE - TMIN;
				k += BASE;
			}
			bias = (uint32_t)(k + (BASE - TMIN + 1) * delta / (delta + SKEW));
			delta = 0;
			h++;
		}
		delta++;
		n++;
	}
	*out_len_r = o;
	return 0;
}

/* psl_parse_rule - one rule of the list: lower-case it, convert its
 * Unicode labels to A-labels, check it is a domain name, add it */
static int psl_parse_rule(struct mailauth_psl *psl, const char *rule, size_t len,
			  const char **error_r)
{
	unsigned kind = PSL_RULE;
	if (len > 0 && rule[0] == '!') {
		kind = PSL_EXCEPTION;
		rule++, len--;
	} else if (len >= 2 && rule[0] == '*' && rule[1] == '.') {
		kind = PSL_WILDCARD;
		rule += 2, len -= 2;
	}
	char name[DOMAIN_NAME_MAX + 1];
	size_t n = 0;
	for (size_t start = 0; start <= len;) {
		const char *dot = memchr(rule + start, '.', len - start);
		size_t end = dot ? (size_t)(dot - rule) : len;
		bool ascii = true;
		for (size_t i = start; i < end; i++)
			ascii = ascii && (unsigned char)rule[i] < 0x80;
		if (n > 0) {
			if (n == sizeof(name))
				goto too_long;
			name[n++] = '.';
		}
		if (ascii) {
			if (end - start > sizeof(name) - n)
				goto too_long;
			for (size_t i = start; i < end; i++) {
				char c = rule[i];
				name[n++] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
			}
		} else {
			size_t alen;
			if (punycode_encode(rule + start, end - start, name + n, sizeof(name) - n,
					    &alen) != 0) {
				*error_r = "a Unicode label is not UTF-8 or is too long";
				return -1;
			}
			n += alen;
		}
		start = end + 1;
	}
	if (!domain_name_is_valid(name, n, 0)) {
		*error_r = "not a rule: a domain name, \"*.\" and a domain name, or \"!\" "
			   "and a domain name";
		return -1;
	}
	if (kind == PSL_EXCEPTION && memchr(name, '.', n) == NULL) {
		*error_r = "an exception rule needs at least two labels";
		return -1;
	}
	psl_add(psl, name, n, kind);
	psl->rule_count++;
	return 0;
too_long:
	*error_r = "the rule is longer than a domain name";
	return -1;
}

/* mailauth_psl_parse - the list in TEXT[0..LEN) */
struct mailauth_psl *mailauth_psl_parse(const char *text, size_t len, size_t *line_r,
					const char **error_r)
{
	struct mailauth_psl *psl = xcalloc(1, sizeof(*psl));
	psl->mask = 1023;
	psl->table = xcalloc(psl->mask + 1, sizeof(*psl->table));
	psl->text_size = 4096;
	psl->text = xmalloc(psl->text_size);
	psl->text_len = 1; /* offset 0 marks an empty slot */

	size_t line = 0;
	for (const char *p = text, *end = text + len; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl ? nl : end;
		line++;
		/* a rule is the line up to its first whitespace (the list's
		 * format); "//" starts a comment line */
		const char *r = p;
		while (r < eol && (*r == ' ' || *r == '\t' || *r == '\r'))
			r++;
		const char *re = r;
		while (re < eol && *re != ' ' && *re != '\t' && *re != '\r')
			re++;
		p = nl ? nl + 1 : end;
		if (re == r || (re - r >= 2 && r[0] == '/' && r[1] == '/'))
			continue;
		if (memchr(r, '\0', (size_t)(re - r)) != NULL) {
			*error_r = "the line holds a NUL byte";
			goto fail;
		}
		if (psl_parse_rule(psl, r, (size_t)(re - r), error_r) != 0)
			goto fail;
	}
	if (psl->rule_count == 0) {
		*error_r = "no rules: not a public suffix list";
		line = 0;
		goto fail;
	}
	return psl;
fail:
	*line_r = line;
	mailauth_psl_free(&psl);
	return NULL;
}

/* mailauth_psl_load - read and parse the list in the file PATH */
struct mailauth_psl *mailauth_psl_load(const char *path, const char **error_r)
{
	static char error[600];
	struct mailauth_psl *psl = NULL;
	char *text = NULL;
	size_t len = 0, size = 0;
	struct stat st;
	const char *reason = NULL;
	size_t line = 0;

	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(error, sizeof(error), "%s: %s", path, strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) != 0) {
		snprintf(error, sizeof(error), "%s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(error, sizeof(error), "%s: not a regular file", path);
		goto out;
	}
	for (;;) {
		if (len == size) {
			size = size ? size * 2 : (size_t)st.st_size + 4096;
			text = xrealloc(text, size);
		}
		ssize_t n = read(fd, text + len, size - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(error, sizeof(error), "%s: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	psl = mailauth_psl_parse(text, len, &line, &reason);
	if (!psl && line > 0)
		snprintf(error, sizeof(error), "%s:%zu: %s", path, line, reason);
	else if (!psl)
		snprintf(error, sizeof(error), "%s: %s", path, reason);
out:
	if (fd >= 0 && close(fd) != 0 && psl) {
		snprintf(error, sizeof(error), "%s: %s", path, strerror(errno));
		mailauth_psl_free(&psl);
	}
	free(text);
	if (!psl)
		*error_r = error;
	return psl;
}

void mailauth_psl_free(struct mailauth_psl **psl)
{
	if (!*psl)
		return;
	free((*psl)->table);
	free((*psl)->text);
	free(*psl);
	*psl = NULL;
}

size_t mailauth_psl_rule_count(const struct mailauth_psl *psl)
{
	return psl->rule_count;
}

/* psl_normalize - DOMAIN[0..LEN) lower-cased without its trailing dot into
 * OUT; -1 if it is not a domain name of A-labels */
static int psl_normalize(const char *domain, size_t len, char out[MAILAUTH_DOMAIN_SIZE],
			 size_t *len_r)
{
	if (!domain_name_is_valid(domain, len, DOMAIN_NAME_ABSOLUTE))
		return -1;
	if (domain[len - 1] == '.')
		len--;
	for (size_t i = 0; i < len; i++) {
		char c = domain[i];
		out[i] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
	}
	out[len] = '\0';
	*len_r = len;
	return 0;
}

/* psl_suffix_labels - how many labels of NAME[0..LEN) (LABELS of them,
 * lower case) the public suffix has */
static size_t psl_suffix_labels(const struct mailauth_psl *psl, const char *name, size_t len,
				size_t labels)
{
	size_t best = 1; /* the implicit rule "*" */
	size_t start = 0;
	for (size_t k = labels; k >= 1; k--) {
		/* the suffix NAME[start..LEN) has K labels */
		unsigned kinds = psl_kinds(psl, name + start, len - start);
		if (kinds & PSL_EXCEPTION)
			return k - 1;       /* an exception prevails */
		if ((kinds & PSL_WILDCARD) && k < labels && k + 1 > best)
			best = k + 1;
		if ((kinds & PSL_RULE) && k > best)
			best = k;
		const char *dot = memchr(name + start, '.', len - start);
		if (!dot)
			break;
		start = (size_t)(dot - name) + 1;
	}
	return best;
}

/* mailauth_psl_registrable - the public suffix and one more label */
int mailauth_psl_registrable(const struct mailauth_psl *psl, const char *domain, size_t len,
			     char out_r[MAILAUTH_DOMAIN_SIZE])
{
	char name[MAILAUTH_DOMAIN_SIZE];
	size_t n, labels = 1;
	if (psl_normalize(domain, len, name, &n) != 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		labels += name[i] == '.';
	size_t suffix = psl_suffix_labels(psl, name, n, labels);
	if (suffix >= labels)
		return 0;
	/* skip the labels in front of the registrable domain */
	const char *p = name;
	for (size_t skip = labels - suffix - 1; skip > 0; skip--)
		p = strchr(p, '.') + 1;
	memcpy(out_r, p, n - (size_t)(p - name) + 1);
	return 1;
}

/* mailauth_org_domain - the organizational domain (RFC 7489 3.2) */
bool mailauth_org_domain(const struct mailauth_psl *psl, const char *domain, size_t len,
			 char out_r[MAILAUTH_DOMAIN_SIZE])
{
	int r = mailauth_psl_registrable(psl, domain, len, out_r);
	if (r == 0) {
		size_t n;
		(void)psl_normalize(domain, len, out_r, &n);
	}
	return r >= 0;
}
