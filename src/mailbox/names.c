/* mailbox/names - folder names (IMAP form <-> Maildir++ on disk, modified
 * UTF-7) and message file names ("<unique>,S=<size>,U=<uid>:2,<flags>").
 *
 * No I/O: the protocol parsers, the tests and the fuzzer call these directly.
 * A folder name is checked level by level before it can become a path: a
 * level is never empty and never holds '.', '/', '\\', a control character
 * or invalid UTF-8, so "..", "a/../b" and ".hidden" cannot name anything
 * outside the account's Maildir.
 */
#include "mailbox/mailbox.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/buf.h"
#include "util/utf8.h"
#include "util/xalloc.h"

#define FOLDER_DISK_NAME_MAX 255

static int b64_value(unsigned char c);
static bool level_is_valid(const char *level, size_t len);
static void utf8_put(struct buf *out, uint32_t cp);

static const char b64_chars[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

/* b64_value - the value of a modified base64 character (',' for '/'), -1 if none */
static int b64_value(unsigned char c)
{
	const char *p = c ? strchr(b64_chars, c) : NULL;
	return p ? (int)(p - b64_chars) : -1;
}

/* utf8_put - code point CP in UTF-8 onto OUT */
static void utf8_put(struct buf *out, uint32_t cp)
{
	char b[4];
	buf_append(out, b, utf8_encode(cp, b));
}

/* mailbox_mutf7_encode - RFC 3501 5.1.3: printable ASCII stands for itself
 * ("&" as "&-"), runs of other characters are UTF-16 in modified base64
 * between "&" and "-"; NULL if UTF8 is not valid UTF-8 */
char *mailbox_mutf7_encode(const char *utf8, size_t len)
{
	struct buf out;
	size_t i = 0;

	if (!utf8_is_valid(utf8, len))
		return NULL;
	buf_init(&out);
	while (i < len) {
		unsigned char c = (unsigned char)utf8[i];
		if (c >= 0x20 && c <= 0x7e) {
			buf_append_str(&out, c == '&' ? "&-" : (char[]){ (char)c, 0 });
			i++;
			continue;
		}
		/* a run of characters outside printable ASCII */
		uint32_t bits = 0;
		unsigned nbits = 0;
		buf_append_str(&out, "&");
		while (i < len) {
			c = (unsigned char)utf8[i];
			if (c >= 0x20 && c <= 0x7e)
				break;
			size_t n = utf8_sequence_length(utf8 + i, len - i);
			uint32_t cp = n == 1 ? c : (uint32_t)(c & (0xff >> (n + 1)));
			for (size_t k = 1; k < n; k++)
				cp = (cp << 6) | ((unsigned char)utf8[i + k] & 0x3f);
			i += n;
			uint16_t units[2];
			int nunits = 1;
			if (cp >= 0x10000) {
				cp -= 0x10000;
				units[0] = (uint16_t)(0xd800 | (cp >> 10));
				units[1] = (uint16_t)(0xdc00 | (cp & 0x3ff));
				nunits = 2;
			} else {
				units[0] = (uint16_t)cp;
			}
			for (int u = 0; u < nunits; u++) {
				bits = (bits << 16) | units[u];
				nbits += 16;
				while (nbits >= 6) {
					nbits -= 6;
					buf_append(&out, &b64_chars[(bits >> nbits) & 0x3f], 1);
				}
				bits &= (1u << nbits) - 1;
			}
		}
		if (nbits > 0)
			buf_append(&out, &b64_chars[(bits << (6 - nbits)) & 0x3f], 1);
		buf_append_str(&out, "-");
	}
	return out.data ? out.data : xstrdup("");
}

char *mailbox_mutf7_decode(const char *s, size_t len)
{
	struct buf out;
	size_t i = 0;
	bool ok = true;

	buf_init(&out);
	while (ok && i < len) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c > 0x7e) {
			ok = false;
			break;
		}
		if (c != '&') {
			buf_append(&out, &s[i], 1);
			i++;
			continue;
		}
		i++;
		if (i < len && s[i] == '-') {
			buf_append_str(&out, "&");
			i++;
			continue;
		}
		uint32_t bits = 0, high = 0;
		unsigned nbits = 0;
		size_t chars = 0;
		while (ok && i < len && s[i] != '-') {
			int v = b64_value((unsigned char)s[i]);
			if (v < 0) {
				ok = false;
				break;
			}
			bits = (bits << 6) | (uint32_t)v;
			nbits += 6;
			chars++;
			i++;
			if (nbits < 16)
				continue;
			nbits -= 16;
			uint32_t unit = (bits >> nbits) & 0xffff;
			bits &= (1u << nbits) - 1;
			if (high) {
				if (unit < 0xdc00 || unit > 0xdfff)
					ok = false;
				else
					utf8_put(&out, 0x10000 + ((high - 0xd800) << 10) + (unit - 0xdc00));
				high = 0;
			} else if (unit >= 0xd800 && unit <= 0xdbff) {
				high = unit;
			} else if (unit >= 0xdc00 && unit <= 0xdfff) {
				ok = false;
			} else if (unit >= 0x20 && unit <= 0x7e) {
				ok = false;    /* printable ASCII must not be shifted */
			} else {
				utf8_put(&out, unit);
			}
		}
		/* the shift ends with '-', holds something, leaves no half
		 * surrogate and only zero padding bits of fewer than 6 */
		if (i >= len || chars == 0 || high || nbits >= 6 || bits != 0)
			ok = false;
		i++;
	}
	if (!ok) {
		buf_free(&out);
		return NULL;
	}
	return out.data ? out.data : xstrdup("");
}

/* level_is_valid - one level of an IMAP folder name that may become part
 * of a path: not empty, no '.', '/', '\\', wildcards or control bytes,
 * valid UTF-8 */
static bool level_is_valid(const char *level, size_t len)
{
	bool ok = len > 0 && utf8_is_valid(level, len);
	for (size_t i = 0; ok && i < len; i++) {
		unsigned char c = (unsigned char)level[i];
		ok = c >= 0x20 && c != 0x7f && c != '.' && c != '/' && c != '\\' &&
		     c != '*' && c != '%';
	}
	return ok;
}

char *mailbox_name_to_disk(const char *name)
{
	struct buf out;
	const char *p = name;
	bool ok = *name != '\0';

	if (strcasecmp(name, "INBOX") == 0)
		return xstrdup("");
	buf_init(&out);
	while (ok) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);
		ok = level_is_valid(p, len);
		if (!ok)
			break;
		buf_append_str(&out, ".");
		if (p == name && len == 5 && strncasecmp(p, "INBOX", 5) == 0) {
			buf_append_str(&out, "INBOX");
		} else {
			char *enc = mailbox_mutf7_encode(p, len);
			buf_append_str(&out, enc);
			free(enc);
		}
		if (!slash)
			break;
		p = slash + 1;
	}
	if (ok && out.len > FOLDER_DISK_NAME_MAX)
		ok = false;
	if (!ok) {
		buf_free(&out);
		return NULL;
	}
	return out.data;
}

char *mailbox_name_from_disk(const char *dir)
{
	struct buf out;
	bool ok = dir[0] == '.' && dir[1] != '\0' && strlen(dir) <= FOLDER_DISK_NAME_MAX;
	const char *p = dir + 1;

	buf_init(&out);
	while (ok) {
		const char *dot = strchr(p, '.');
		size_t len = dot ? (size_t)(dot - p) : strlen(p);
		char *level = len ? mailbox_mutf7_decode(p, len) : NULL;
		ok = level && level_is_valid(level, strlen(level));
		if (ok) {
			if (out.len)
				buf_append_str(&out, "/");
			buf_append_str(&out, level);
		}
		free(level);
		if (!dot)
			break;
		p = dot + 1;
	}
	/* "INBOX" alone is the account folder itself, never ".INBOX" */
	if (ok && strcasecmp(out.data, "INBOX") == 0)
		ok = false;
	if (!ok) {
		buf_free(&out);
		return NULL;
	}
	return out.data;
}

/* Maildir info letters in ASCII order and their flags (the order
 * mailbox_filename_format writes them in, as the Maildir spec asks) */
static const struct {
	char letter;
	uint32_t flag;
} flag_letters[] = {
	{ 'D', MAILBOX_FLAG_DRAFT },   { 'F', MAILBOX_FLAG_FLAGGED },
	{ 'P', MAILBOX_FLAG_FORWARDED }, { 'R', MAILBOX_FLAG_ANSWERED },
	{ 'S', MAILBOX_FLAG_SEEN },    { 'T', MAILBOX_FLAG_DELETED },
};

bool mailbox_filename_parse(const char *name, struct mailbox_filename *f)
{
	memset(f, 0, sizeof(*f));
	if (name[0] == '\0' || name[0] == '.' || strchr(name, '/'))
		return false;
	const char *colon = strchr(name, ':');
	size_t base_len = colon ? (size_t)(colon - name) : strlen(name);
	const char *comma = memchr(name, ',', base_len);
	f->unique_len = comma ? (size_t)(comma - name) : base_len;
	if (f->unique_len == 0)
		return false;
	/* ",S=<size>" and ",U=<uid>" among the base's fields */
	const char *end = name + base_len;
	for (const char *p = comma; p && p < end;) {
		const char *next = memchr(p + 1, ',', (size_t)(end - p - 1));
		const char *field_end = next ? next : end;
		if (field_end - p > 3 && (p[1] == 'S' || p[1] == 'U') && p[2] == '=') {
			uint64_t v = 0;
			bool digits = true;
			for (const char *d = p + 3; d < field_end && digits; d++) {
				digits = *d >= '0' && *d <= '9' && v <= (UINT64_MAX - 9) / 10;
				v = v * 10 + (uint64_t)(*d - '0');
			}
			if (digits && p[1] == 'S') {
				f->has_size = true;
				f->size = v;
			} else if (digits && v > 0 && v <= UINT32_MAX) {
				f->has_uid = true;
				f->uid = (uint32_t)v;
			}
		}
		p = next;
	}
	if (colon && colon[1] == '2' && colon[2] == ',') {
		f->has_info = true;
		for (const char *p = colon + 3; *p; p++) {
			if (*p >= 'a' && *p <= 'z')
				f->keywords |= UINT64_C(1) << (*p - 'a');
			for (size_t i = 0; i < sizeof(flag_letters) / sizeof(flag_letters[0]); i++) {
				if (*p == flag_letters[i].letter)
					f->flags |= flag_letters[i].flag;
			}
		}
	}
	return true;
}

void mailbox_filename_format(struct buf *out, const char *unique, size_t unique_len,
			     uint64_t size, uint32_t uid, uint32_t flags, uint64_t keywords)
{
	buf_append(out, unique, unique_len);
	buf_printf(out, ",S=%llu,U=%lu:2,", (unsigned long long)size, (unsigned long)uid);
	for (size_t i = 0; i < sizeof(flag_letters) / sizeof(flag_letters[0]); i++) {
		if (flags & flag_letters[i].flag)
			buf_append(out, &flag_letters[i].letter, 1);
	}
	for (int k = 0; k < 26; k++) {
		if (keywords & (UINT64_C(1) << k)) {
			char c = (char)('a' + k);
			buf_append(out, &c, 1);
		}
	}
}
