/* mailauth/srs - the Sender Rewriting Scheme: forward and reverse (see
 * mailauth.h for the address forms).
 *
 * Why Mail::SRS's "Guarded" forms and hash: any SRS implementation must
 * only reverse what it made itself, so compatibility is not required; but
 * keeping to the forms every other implementation writes means an operator
 * can move between Petrel and postsrsd/libsrs2/Mail::SRS with the same
 * secret, and the tests check our addresses against Mail::SRS.
 *
 * The hash is 4 base64 characters (24 bits; about 20 when compared without
 * case): a forger has one chance in a million per guess, and each guess is
 * an SMTP transaction: the scheme's accepted trade-off for short addresses.
 */
#include "mailauth/mailauth.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "util/base64.h"
#include "util/buf.h"
#include "util/domain.h"
#include "util/dot-atom.h"
#include "util/fileio.h"
#include "util/xalloc.h"

#define SRS_HASH_LEN 4
#define SRS_DAY 86400
#define SRS_SLOTS 1024        /* two base32 characters of days */
#define SRS_SECRET_MIN 16

static const char base32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

struct span {
	const char *s;
	size_t len;
};

static void srs_hash(const struct srs_settings *settings, const struct span *parts, size_t count,
		     char out[SRS_HASH_LEN + 1]);
static bool srs_hash_ok(const struct srs_settings *settings, const char *hash, size_t hash_len,
			const struct span *parts, size_t count);
static void srs_timestamp(long long now, char out[3]);
static bool srs_timestamp_ok(const char *ts, size_t len, long long now, unsigned max_age);
static int srs_tag(const char *local, size_t len);
static const char *span_find(const char *s, const char *end, char c);

/* srs_hash - the first 4 characters of base64(HMAC-SHA1(secret, lc(parts...))) */
static void srs_hash(const struct srs_settings *settings, const struct span *parts, size_t count,
		     char out[SRS_HASH_LEN + 1])
{
	struct buf data, b64;
	buf_init(&data);
	buf_init(&b64);
	for (size_t i = 0; i < count; i++) {
		for (size_t k = 0; k < parts[i].len; k++) {
			unsigned char c = (unsigned char)parts[i].s[k];
			char lc = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
			buf_append(&data, &lc, 1);
		}
	}
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	size_t key_len = settings->secret_len < SRS_SECRET_MAX ? settings->secret_len : SRS_SECRET_MAX;
	if (!HMAC(EVP_sha1(), settings->secret, (int)key_len, data.data ? (const unsigned char *)data.data :
		  (const unsigned char *)"", data.len, md, &md_len))
		abort();  /* SHA-1 HMAC cannot fail short of memory */
	base64_encode(md, md_len, &b64);
	memcpy(out, b64.data, SRS_HASH_LEN);
	out[SRS_HASH_LEN] = '\0';
	OPENSSL_cleanse(data.data, data.len);
	buf_free(&data);
	buf_free(&b64);
}

/* srs_hash_ok - HASH is the hash of PARTS, compared without case (some
 * hops lower-case local parts) */
static bool srs_hash_ok(const struct srs_settings *settings, const char *hash, size_t hash_len,
			const struct span *parts, size_t count)
{
	if (hash_len != SRS_HASH_LEN)
		return false;
	char want[SRS_HASH_LEN + 1];
	srs_hash(settings, parts, count, want);
	unsigned char a[SRS_HASH_LEN], b[SRS_HASH_LEN];
	for (size_t i = 0; i < SRS_HASH_LEN; i++) {
		unsigned char x = (unsigned char)hash[i], y = (unsigned char)want[i];
		a[i] = (unsigned char)(x >= 'A' && x <= 'Z' ? x + 32 : x);
		b[i] = (unsigned char)(y >= 'A' && y <= 'Z' ? y + 32 : y);
	}
	return CRYPTO_memcmp(a, b, SRS_HASH_LEN) == 0;
}

/* srs_timestamp - the day of NOW modulo 1024 in two base32 characters */
static void srs_timestamp(long long now, char out[3])
{
	unsigned long long day = (unsigned long long)(now < 0 ? 0 : now) / SRS_DAY;
	out[0] = base32[(day >> 5) & 31];
	out[1] = base32[day & 31];
	out[2] = '\0';
}

/* srs_timestamp_ok - TS is two base32 characters (any case) naming a day
 * at most MAX_AGE days before NOW's (modulo 1024, as it is written) */
static bool srs_timestamp_ok(const char *ts, size_t len, long long now, unsigned max_age)
{
	if (len != 2)
		return false;
	unsigned t = 0;
	for (size_t i = 0; i < 2; i++) {
		char c = ts[i];
		if (c >= 'a' && c <= 'z')
			c = (char)(c - 32);
		const char *p = c ? strchr(base32, c) : NULL;
		if (!p)
			return false;
		t = t * 32 + (unsigned)(p - base32);
	}
	unsigned today = (unsigned)(((unsigned long long)(now < 0 ? 0 : now) / SRS_DAY) % SRS_SLOTS);
	unsigned age = (today + SRS_SLOTS - t) % SRS_SLOTS;
	return age <= max_age;
}

/* srs_tag - 0 or 1 if LOCAL[0..LEN) starts with "SRS0" or "SRS1" (any
 * case) and a separator; -1 otherwise */
static int srs_tag(const char *local, size_t len)
{
	if (len < 5 || strncasecmp(local, "SRS", 3) != 0 || (local[3] != '0' && local[3] != '1') ||
	    (local[4] != '=' && local[4] != '+' && local[4] != '-'))
		return -1;
	return local[3] - '0';
}

/* span_find - the first C in [S, END), or NULL */
static const char *span_find(const char *s, const char *end, char c)
{
	return s < end ? memchr(s, c, (size_t)(end - s)) : NULL;
}

int srs_forward(const struct srs_settings *settings, const char *sender, long long now,
		char **out_r, const char **error_r)
{
	const char *at = strrchr(sender, '@');
	if (!at || at == sender)
		return 0;
	const char *local = sender, *domain = at + 1;
	size_t local_len = (size_t)(at - sender);
	if (strcasecmp(domain, settings->domain) == 0)
		return 0;
	if (!dot_atom_is_valid(local, local_len, DOT_ATOM_UTF8)) {
		*error_r = "the sender's local part is not a dot-atom";
		return -1;
	}
	/* a domain with "=" (or an address literal) could not be read back */
	if (!domain_name_is_valid(domain, strlen(domain), DOMAIN_NAME_ULABEL)) {
		*error_r = "the sender's domain is not a domain name";
		return -1;
	}
	struct buf out;
	buf_init(&out);
	char hash[SRS_HASH_LEN + 1];
	int tag = srs_tag(local, local_len);
	const char *end = at;
	if (tag == 1) {
		/* SRS1=HHHH=first-forwarder==HHHH=TT=...: keep the first
		 * forwarder and what it wrote, with our hash */
		const char *h_end = span_find(local + 5, end, '=');
		const char *host_end = h_end ? span_find(h_end + 1, end, '=') : NULL;
		if (host_end && host_end > h_end + 1 && host_end + 1 < end) {
			struct span parts[] = {
				{ h_end + 1, (size_t)(host_end - h_end - 1) },
				{ host_end + 1, (size_t)(end - host_end - 1) },
			};
			srs_hash(settings, parts, 2, hash);
			buf_printf(&out, "SRS1=%s=%.*s=%.*s", hash, (int)parts[0].len, parts[0].s,
				   (int)parts[1].len, parts[1].s);
		} else {
			tag = -1;  /* not really SRS1: wrapped as any sender */
		}
	} else if (tag == 0) {
		/* SRS0<sep>HHHH=TT=...@domain: the SRS1 form keeps "<sep>HHHH=..." */
		struct span parts[] = {
			{ domain, strlen(domain) },
			{ local + 4, local_len - 4 },
		};
		srs_hash(settings, parts, 2, hash);
		buf_printf(&out, "SRS1=%s=%s=%.*s", hash, domain, (int)parts[1].len, parts[1].s);
	}
	if (tag < 0) {
		char ts[3];
		srs_timestamp(now, ts);
		struct span parts[] = {
			{ ts, 2 },
			{ domain, strlen(domain) },
			{ local, local_len },
		};
		srs_hash(settings, parts, 3, hash);
		buf_printf(&out, "SRS0=%s=%s=%s=%.*s", hash, ts, domain, (int)local_len, local);
	}
	if (out.len > SRS_LOCAL_MAX) {
		buf_free(&out);
		*error_r = "the rewritten local part would be longer than 64 octets";
		return -1;
	}
	buf_printf(&out, "@%s", settings->domain);
	*out_r = xstrdup(out.data);
	buf_free(&out);
	return 1;
}

bool srs_address_is_srs(const char *address, size_t len)
{
	const char *at = memchr(address, '@', len);
	return srs_tag(address, at ? (size_t)(at - address) : len) >= 0;
}

int srs_reverse(const struct srs_settings *settings, const char *address, size_t len,
		long long now, char **out_r, const char **error_r)
{
	const char *at = NULL;
	for (size_t i = len; i > 0; i--) {
		if (address[i - 1] == '@') {
			at = address + i - 1;
			break;
		}
	}
	if (!at)
		return 0;
	size_t domain_len = (size_t)(address + len - (at + 1));
	if (domain_len != strlen(settings->domain) ||
	    strncasecmp(at + 1, settings->domain, domain_len) != 0)
		return 0;
	int tag = srs_tag(address, (size_t)(at - address));
	if (tag < 0)
		return 0;
	const char *p = address + 5, *end = at;
	int ret = -1;
	if (tag == 0) {
		/* HHHH=TT=domain=local (the local part may hold "=") */
		const char *h_end = span_find(p, end, '=');
		const char *t_end = h_end ? span_find(h_end + 1, end, '=') : NULL;
		const char *d_end = t_end ? span_find(t_end + 1, end, '=') : NULL;
		if (!d_end || d_end == t_end + 1 || d_end + 1 >= end ||
		    !domain_name_is_valid(t_end + 1, (size_t)(d_end - t_end - 1),
					  DOMAIN_NAME_ULABEL)) {
			*error_r = "malformed SRS0 address";
			goto out;
		}
		struct span parts[] = {
			{ h_end + 1, (size_t)(t_end - h_end - 1) },
			{ t_end + 1, (size_t)(d_end - t_end - 1) },
			{ d_end + 1, (size_t)(end - d_end - 1) },
		};
		if (!srs_hash_ok(settings, p, (size_t)(h_end - p), parts, 3)) {
			*error_r = "SRS0 address with a wrong hash";
			goto out;
		}
		unsigned max_age = settings->max_age ? settings->max_age : SRS_MAX_AGE_DEFAULT;
		if (!srs_timestamp_ok(parts[0].s, parts[0].len, now, max_age)) {
			*error_r = "SRS0 address too old";
			goto out;
		}
		*out_r = xasprintf("%.*s@%.*s", (int)parts[2].len, parts[2].s, (int)parts[1].len,
				   parts[1].s);
	} else {
		/* HHHH=first-forwarder=<sep>HHHH=TT=domain=local */
		const char *h_end = span_find(p, end, '=');
		const char *host_end = h_end ? span_find(h_end + 1, end, '=') : NULL;
		if (!host_end || host_end == h_end + 1 || host_end + 1 >= end ||
		    !domain_name_is_valid(h_end + 1, (size_t)(host_end - h_end - 1),
					  DOMAIN_NAME_ULABEL)) {
			*error_r = "malformed SRS1 address";
			goto out;
		}
		struct span parts[] = {
			{ h_end + 1, (size_t)(host_end - h_end - 1) },
			{ host_end + 1, (size_t)(end - host_end - 1) },
		};
		if (!srs_hash_ok(settings, p, (size_t)(h_end - p), parts, 2)) {
			*error_r = "SRS1 address with a wrong hash";
			goto out;
		}
		*out_r = xasprintf("SRS0%.*s@%.*s", (int)parts[1].len, parts[1].s, (int)parts[0].len,
				   parts[0].s);
	}
	ret = 1;
out:
	return ret;
}

/* secret_error - "PATH: what" into static storage */
static const char *secret_error(const char *path, const char *what)
{
	static char buf[1200];
	snprintf(buf, sizeof(buf), "%s: %s", path, what);
	return buf;
}

/* secret_create - a new DATA_DIR/srs.secret: 32 random bytes in hex,
 * written and synced before it is used (a secret that changed after a
 * crash would make every address handed out before it unreversible) */
static int secret_create(const char *path, const char **error_r)
{
	unsigned char raw[32];
	char hex[2 * sizeof(raw) + 2];
	int ret = -1;
	if (RAND_bytes(raw, sizeof(raw)) != 1) {
		*error_r = secret_error(path, "no random bytes for a new secret");
		return -1;
	}
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(hex + 2 * i, 3, "%02x", raw[i]);
	hex[2 * sizeof(raw)] = '\n';
	hex[2 * sizeof(raw) + 1] = '\0';
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		*error_r = secret_error(path, strerror(errno));
		goto out;
	}
	if (fd_write_all(fd, hex, 2 * sizeof(raw) + 1) != 0 || fsync(fd) != 0) {
		*error_r = secret_error(path, strerror(errno));
		(void)close(fd);
		(void)unlink(path);
		goto out;
	}
	if (close(fd) != 0) {
		*error_r = secret_error(path, strerror(errno));
		(void)unlink(path);
		goto out;
	}
	ret = 0;
out:
	OPENSSL_cleanse(raw, sizeof(raw));
	OPENSSL_cleanse(hex, sizeof(hex));
	return ret;
}

int srs_secret_load(const char *path, const char *data_dir, char **secret_r, size_t *len_r,
		    const char **error_r)
{
	char *own = NULL;
	char data[SRS_SECRET_MAX + 2];
	int ret = -1, fd = -1;
	if (!path) {
		own = xasprintf("%s/srs.secret", data_dir);
		path = own;
		if (access(path, F_OK) != 0 && errno == ENOENT && secret_create(path, error_r) != 0)
			goto out;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0) {
		*error_r = secret_error(path, strerror(errno));
		goto out;
	}
	if ((st.st_mode & 0077) != 0) {
		*error_r = secret_error(path, "readable or writable by others than its owner "
					"(chmod 600)");
		goto out;
	}
	size_t len = 0;
	while (len < sizeof(data) - 1) {
		ssize_t n = read(fd, data + len, sizeof(data) - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			*error_r = secret_error(path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	data[len] = '\0';
	size_t line = strcspn(data, "\r\n");
	if (line < SRS_SECRET_MIN) {
		*error_r = secret_error(path, "the secret (its first line) is shorter than 16 bytes");
		goto out;
	}
	if (line > SRS_SECRET_MAX) {
		*error_r = secret_error(path, "the secret (its first line) is longer than 1024 bytes");
		goto out;
	}
	*secret_r = xstrndup(data, line);
	*len_r = line;
	ret = 0;
out:
	OPENSSL_cleanse(data, sizeof(data));
	if (fd >= 0 && close(fd) != 0 && ret == 0) {
		*error_r = secret_error(path, strerror(errno));
		free(*secret_r);
		*secret_r = NULL;
		ret = -1;
	}
	free(own);
	return ret;
}
