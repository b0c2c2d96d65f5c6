/* dns/rdata - decoders for the RDATA that libunbound hands back.
 *
 * Pure functions, no I/O: unit tests and fuzz/fuzz-dns-rdata.c call them
 * directly.  Input is one record's RDATA (no RDLENGTH prefix), uncompressed
 * as libunbound delivers it; every length is still checked because the bytes
 * come from the network.  Each decoder returns 0 and a malloc'ed string the
 * caller frees, or -1 (nothing allocated) when the RDATA is malformed.
 */
#ifndef PETREL_DNS_RDATA_H
#define PETREL_DNS_RDATA_H

#include <stdbool.h>
#include <stddef.h>

/* presentation form of a name is at most 255 wire octets, each octet at most
 * 4 characters ("\ddd"), plus separators */
#define DNS_RDATA_NAME_MAX 1024

/* dns_rdata_name - wire name at DATA (exactly LEN octets when EXACT, else a
 * prefix whose length goes to *USED_R) to text without the trailing dot;
 * the root is ".".  Compression pointers and extended label types are
 * rejected.  Octets other than letters, digits, '-', '_' and '*' are written
 * as "\ddd" (RFC 1035 5.1), so the text is safe to log and to resolve. */
int dns_rdata_name(const unsigned char *data, size_t len, size_t *used_r, char **name_r);

/* dns_rdata_txt - the character-strings of one TXT record concatenated
 * (RFC 7208 3.3, RFC 6376 3.6.2.2), NUL-terminated, its length (which
 * counts any NUL octet the record holds: the callers' parsers refuse them
 * as syntax errors) in *LEN_R. */
int dns_rdata_txt(const unsigned char *data, size_t len, char **text_r, size_t *len_r);

/* dns_rdata_mx - preference and exchange of an MX record */
int dns_rdata_mx(const unsigned char *data, size_t len, unsigned *pref_r, char **name_r);

/* dns_rdata_address - A (4 octets) or AAAA (16 octets) RDATA as text */
int dns_rdata_address(const unsigned char *data, size_t len, char **text_r);

/* dns_mx_is_null - RFC 7505 3: one MX record, preference 0, exchange "." */
bool dns_mx_is_null(size_t count, unsigned pref, const char *exchange);

/* dns_reverse_name - "192.0.2.1" -> "1.2.0.192.in-addr.arpa", IPv6 to
 * ip6.arpa nibbles (RFC 3596 2.5); -1 if ADDRESS is not an IP literal */
int dns_reverse_name(const char *address, char **name_r);

#endif
