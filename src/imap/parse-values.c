/* imap/parse-values - the typed values IMAP commands take as atoms or
 * strings: sequence sets (RFC 9051 9 sequence-set, RFC 5182 "$") and dates
 * (date-time for APPEND, date for SEARCH). */
#include <stdlib.h>
#include <string.h>

#include "imap/parse.h"
#include "util/xalloc.h"

static int seq_number(const char *text, size_t len, size_t *pos, uint32_t *n_r);
static int digits(const char *text, size_t len, size_t *pos, size_t min, size_t max,
		  int *value_r);
static int month(const char *text, size_t len, size_t *pos, int *month_r);
static time_t days_from_civil(int year, int mon, int day);

/* seq_number - nz-number (a non-zero 32-bit number, no leading zero) or "*" */
static int seq_number(const char *text, size_t len, size_t *pos, uint32_t *n_r)
{
	size_t i = *pos;
	if (i < len && text[i] == '*') {
		*n_r = IMAP_SEQ_STAR;
		*pos = i + 1;
		return 0;
	}
	if (i >= len || text[i] < '1' || text[i] > '9')
		return -1;
	uint64_t n = 0;
	while (i < len && text[i] >= '0' && text[i] <= '9') {
		n = n * 10 + (uint64_t)(text[i] - '0');
		if (n >= IMAP_SEQ_STAR)   /* 4294967295 itself is "*" here */
			return -1;
		i++;
	}
	*n_r = (uint32_t)n;
	*pos = i;
	return 0;
}

int imap_seqset_parse(const char *text, size_t len, struct imap_seqset *set_r,
		      const char **error_r)
{
	memset(set_r, 0, sizeof(*set_r));
	if (len == 1 && text[0] == '$') {
		set_r->saved = true;
		return 0;
	}
	size_t cap = 0, pos = 0;
	for (;;) {
		struct imap_seq_range r;
		if (seq_number(text, len, &pos, &r.lo) < 0)
			goto bad;
		r.hi = r.lo;
		if (pos < len && text[pos] == ':') {
			pos++;
			if (seq_number(text, len, &pos, &r.hi) < 0)
				goto bad;
		}
		if (set_r->count == IMAP_SEQSET_RANGES_MAX) {
			*error_r = "Too many ranges in a sequence set";
			imap_seqset_free(set_r);
			return -1;
		}
		if (set_r->count == cap) {
			cap = cap ? 2 * cap : 4;
			set_r->ranges = xrealloc(set_r->ranges, cap * sizeof(*set_r->ranges));
		}
		set_r->ranges[set_r->count++] = r;
		if (pos == len)
			return 0;
		if (text[pos] != ',')
			goto bad;
		pos++;
	}
bad:
	*error_r = "Invalid sequence set";
	imap_seqset_free(set_r);
	return -1;
}

void imap_seqset_resolve(struct imap_seqset *set, uint32_t max)
{
	set->normalized = false;
	for (size_t i = 0; i < set->count; i++) {
		struct imap_seq_range *r = &set->ranges[i];
		if (r->lo == IMAP_SEQ_STAR)
			r->lo = max;
		if (r->hi == IMAP_SEQ_STAR)
			r->hi = max;
		if (r->lo > r->hi) {
			uint32_t t = r->lo;
			r->lo = r->hi;
			r->hi = t;
		}
	}
}

static int range_compare(const void *a, const void *b)
{
	const struct imap_seq_range *x = a, *y = b;
	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

void imap_seqset_normalize(struct imap_seqset *set)
{
	if (set->count > 1)
		qsort(set->ranges, set->count, sizeof(*set->ranges), range_compare);
	size_t out = 0;
	for (size_t i = 0; i < set->count; i++) {
		struct imap_seq_range r = set->ranges[i];
		struct imap_seq_range *last = out ? &set->ranges[out - 1] : NULL;
		if (last != NULL && (uint64_t)r.lo <= (uint64_t)last->hi + 1) {
			if (r.hi > last->hi)
				last->hi = r.hi;
		} else {
			set->ranges[out++] = r;
		}
	}
	set->count = out;
	set->normalized = true;
}

bool imap_seqset_contains(const struct imap_seqset *set, uint32_t n)
{
	if (set->normalized) {
		size_t lo = 0, hi = set->count;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			if (n < set->ranges[mid].lo)
				hi = mid;
			else if (n > set->ranges[mid].hi)
				lo = mid + 1;
			else
				return true;
		}
		return false;
	}
	for (size_t i = 0; i < set->count; i++)
		if (n >= set->ranges[i].lo && n <= set->ranges[i].hi)
			return true;
	return false;
}

void imap_seqset_free(struct imap_seqset *set)
{
	free(set->ranges);
	memset(set, 0, sizeof(*set));
}

/* digits - MIN to MAX decimal digits at *POS */
static int digits(const char *text, size_t len, size_t *pos, size_t min, size_t max,
		  int *value_r)
{
	size_t i = *pos;
	int v = 0;
	while (i < len && i - *pos < max && text[i] >= '0' && text[i] <= '9')
		v = v * 10 + (text[i++] - '0');
	if (i - *pos < min)
		return -1;
	*value_r = v;
	*pos = i;
	return 0;
}

/* month - "Jan" .. "Dec", in any case (RFC 9051 9 date-month) */
static int month(const char *text, size_t len, size_t *pos, int *month_r)
{
	static const char names[] = "janfebmaraprmayjunjulaugsepoctnovdec";
	if (len - *pos < 3)
		return -1;
	char m[3];
	for (int i = 0; i < 3; i++) {
		char c = text[*pos + (size_t)i];
		m[i] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
	}
	for (int i = 0; i < 12; i++) {
		if (memcmp(names + 3 * i, m, 3) == 0) {
			*month_r = i + 1;
			*pos += 3;
			return 0;
		}
	}
	return -1;
}

/* days_from_civil - days since 1970-01-01 of a proleptic Gregorian date,
 * as seconds */
static time_t days_from_civil(int year, int mon, int day)
{
	int y = mon <= 2 ? year - 1 : year;
	int era = (y >= 0 ? y : y - 399) / 400;
	int yoe = y - era * 400;
	int doy = (153 * (mon + (mon > 2 ? -3 : 9)) + 2) / 5 + day - 1;
	int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return ((time_t)era * 146097 + doe - 719468) * 86400;
}

static bool day_is_valid(int year, int mon, int day)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
	return day >= 1 && day <= days[mon - 1] + (mon == 2 && leap);
}

int imap_date_time_parse(const char *text, size_t len, time_t *time_r)
{
	size_t pos = 0;
	int day, mon, year, hh, mm, ss, zh, zm;
	if (len > 0 && text[0] == ' ')
		pos++;   /* date-day-fixed: (SP DIGIT) / 2DIGIT; one digit taken too */
	if (digits(text, len, &pos, 1, pos == 1 ? 1 : 2, &day) < 0 ||
	    pos >= len || text[pos++] != '-' || month(text, len, &pos, &mon) < 0 ||
	    pos >= len || text[pos++] != '-' || digits(text, len, &pos, 4, 4, &year) < 0 ||
	    pos >= len || text[pos++] != ' ' || digits(text, len, &pos, 2, 2, &hh) < 0 ||
	    pos >= len || text[pos++] != ':' || digits(text, len, &pos, 2, 2, &mm) < 0 ||
	    pos >= len || text[pos++] != ':' || digits(text, len, &pos, 2, 2, &ss) < 0 ||
	    pos >= len || text[pos++] != ' ' || pos >= len ||
	    (text[pos] != '+' && text[pos] != '-'))
		return -1;
	int sign = text[pos++] == '-' ? -1 : 1;
	if (digits(text, len, &pos, 2, 2, &zh) < 0 || digits(text, len, &pos, 2, 2, &zm) < 0 ||
	    pos != len || !day_is_valid(year, mon, day) || hh > 23 || mm > 59 || ss > 60 ||
	    zm > 59)
		return -1;
	time_t t = days_from_civil(year, mon, day) + hh * 3600 + mm * 60 + (ss == 60 ? 59 : ss);
	*time_r = t - sign * (zh * 3600 + zm * 60);
	return 0;
}

int imap_date_parse(const char *text, size_t len, time_t *day_r)
{
	size_t pos = 0;
	int day, mon, year;
	if (digits(text, len, &pos, 1, 2, &day) < 0 || pos >= len || text[pos++] != '-' ||
	    month(text, len, &pos, &mon) < 0 || pos >= len || text[pos++] != '-' ||
	    digits(text, len, &pos, 4, 4, &year) < 0 || pos != len ||
	    !day_is_valid(year, mon, day))
		return -1;
	*day_r = days_from_civil(year, mon, day);
	return 0;
}
