/* message/charset - charsets to UTF-8 (glibc iconv) and RFC 2047 encoded
 * words in header fields (see message.h, message-int.h).
 *
 * iconv descriptors are opened per conversion and closed before returning:
 * nothing is cached, nothing is shared between threads.
 */
#include "message/message.h"
#include "message/message-int.h"

#include <errno.h>
#include <iconv.h>
#include <string.h>
#include <strings.h>

#include "util/utf8.h"

static const char utf8_replacement[] = "\xEF\xBF\xBD";  /* U+FFFD */

enum charset_kind { CHARSET_UNKNOWN, CHARSET_UTF8, CHARSET_ICONV };

/* An encoded word "=?charset[*lang]?enc?text?=" found in a value. */
struct encoded_word {
	const char *charset;
	size_t charset_len;    /* without "*lang" */
	char encoding;         /* 'B' or 'Q' */
	const char *text;
	size_t text_len;
	size_t end;            /* offset just past "?=" */
};

static bool is_alnum(char c);
static bool is_charset_char(unsigned char c);
static enum charset_kind charset_kind(const char *charset, size_t len, char *name_r);
static bool encoded_word_parse(const char *value, size_t len, size_t pos,
			       struct encoded_word *word_r);
static void encoded_word_decode(const struct encoded_word *word, struct buf *out);
static void pending_flush(const char **charset, size_t *charset_len, struct buf *pending,
			  struct buf *out);

static bool is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* is_charset_char - RFC 2978 mime-charset-chars, and "." and ":" that some
 * registered names hold; never "/" (iconv's "//TRANSLIT" suffixes) */
static bool is_charset_char(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c != 0 && strchr("!#$%&'+-^_`{}~.:", c) != NULL;
}

/* charset_kind - how CHARSET[0..LEN) converts; NAME_R (MESSAGE_CHARSET_NAME_MAX
 * + 1 bytes) gets it as a C string */
static enum charset_kind charset_kind(const char *charset, size_t len, char *name_r)
{
	if (len == 0 || len > MESSAGE_CHARSET_NAME_MAX)
		return CHARSET_UNKNOWN;
	for (size_t i = 0; i < len; i++)
		if (!is_charset_char((unsigned char)charset[i]))
			return CHARSET_UNKNOWN;
	memcpy(name_r, charset, len);
	name_r[len] = '\0';
	if (strcasecmp(name_r, "utf-8") == 0 || strcasecmp(name_r, "utf8") == 0 ||
	    strcasecmp(name_r, "us-ascii") == 0 || strcasecmp(name_r, "ascii") == 0)
		return CHARSET_UTF8;
	iconv_t cd = iconv_open("UTF-8", name_r);
	if (cd == (iconv_t)-1)
		return CHARSET_UNKNOWN;
	iconv_close(cd);
	return CHARSET_ICONV;
}

bool message_charset_is_known(const char *charset, size_t len)
{
	char name[MESSAGE_CHARSET_NAME_MAX + 1];
	return charset_kind(charset, len, name) != CHARSET_UNKNOWN;
}

void message_utf8_append(const char *in, size_t len, struct buf *out)
{
	size_t i = 0, run = 0;

	while (i < len) {
		size_t n = utf8_sequence_length(in + i, len - i);
		if (n > 0) {
			i += n;
			continue;
		}
		buf_append(out, in + run, i - run);
		buf_append(out, utf8_replacement, 3);
		run = ++i;
	}
	buf_append(out, in + run, i - run);
}

void message_text_to_utf8(const char *charset, size_t charset_len, const char *in, size_t len,
			  struct buf *out)
{
	if (charset == NULL || !message_charset_to_utf8(charset, charset_len, in, len, out))
		message_utf8_append(in, len, out);
}

bool message_charset_to_utf8(const char *charset, size_t charset_len, const char *in,
			     size_t len, struct buf *out)
{
	char name[MESSAGE_CHARSET_NAME_MAX + 1];

	switch (charset_kind(charset, charset_len, name)) {
	case CHARSET_UNKNOWN:
		return false;
	case CHARSET_UTF8:
		message_utf8_append(in, len, out);
		return true;
	case CHARSET_ICONV:
		break;
	}
	iconv_t cd = iconv_open("UTF-8", name);
	if (cd == (iconv_t)-1)
		return false;
	char chunk[512], *src = (char *)in, *dst;
	size_t left = len, room;
	while (left > 0) {
		dst = chunk;
		room = sizeof(chunk);
		size_t rc = iconv(cd, &src, &left, &dst, &room);
		int err = rc == (size_t)-1 ? errno : 0;
		buf_append(out, chunk, (size_t)(dst - chunk));
		if (err != 0 && err != E2BIG) {
			/* EILSEQ: a byte that does not convert; EINVAL: a cut
			 * character at the end */
			buf_append(out, utf8_replacement, 3);
			src++;
			left--;
		}
	}
	/* a stateful charset (ISO-2022-JP) writes its reset sequence */
	dst = chunk;
	room = sizeof(chunk);
	(void)iconv(cd, NULL, NULL, &dst, &room);
	buf_append(out, chunk, (size_t)(dst - chunk));
	iconv_close(cd);
	return true;
}

/* encoded_word_parse - RFC 2047 2 (with RFC 2231 5's language) at POS */
static bool encoded_word_parse(const char *value, size_t len, size_t pos,
			       struct encoded_word *word_r)
{
	size_t p = pos + 2, lang = 0;

	if (pos + 2 > len || value[pos] != '=' || value[pos + 1] != '?')
		return false;
	word_r->charset = value + p;
	while (p < len && is_charset_char((unsigned char)value[p]))
		p++;
	word_r->charset_len = (size_t)(value + p - word_r->charset);
	if (p < len && value[p] == '*') {
		/* RFC 2231 5: "=?charset*language?..." (RFC 5646 tag letters) */
		for (p++; p < len && (is_alnum(value[p]) || value[p] == '-'); p++)
			lang++;
		if (lang == 0)
			return false;
	}
	if (word_r->charset_len == 0 || p + 3 > len || value[p] != '?' || value[p + 2] != '?')
		return false;
	word_r->encoding = (char)(value[p + 1] & ~0x20);
	if (word_r->encoding != 'B' && word_r->encoding != 'Q')
		return false;
	p += 3;
	word_r->text = value + p;
	for (; p + 1 < len; p++) {
		unsigned char c = (unsigned char)value[p];
		if (c == '?' && value[p + 1] == '=') {
			word_r->text_len = (size_t)(value + p - word_r->text);
			word_r->end = p + 2;
			return true;
		}
		/* RFC 2047 2: no white space or "?" inside; printable ASCII */
		if (c <= ' ' || c >= 127 || c == '?')
			return false;
		if (word_r->encoding == 'B' && c != '=' && c != '+' && c != '/' && !is_alnum((char)c))
			return false;
	}
	return false;
}

/* hex_value - a hexadecimal digit, either case, or -1 */
static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
		return (c | 0x20) - 'a' + 10;
	return -1;
}

/* encoded_word_decode - the bytes WORD encodes (RFC 2047 4.1 B, 4.2 Q);
 * B is decoded leniently (missing padding), a Q "=" without two hex digits
 * is kept as written */
static void encoded_word_decode(const struct encoded_word *word, struct buf *out)
{
	if (word->encoding == 'B') {
		struct message_decoder dec;
		message_decoder_init(&dec, MESSAGE_ENCODING_BASE64);
		message_decoder_feed(&dec, word->text, word->text_len, out);
		message_decoder_finish(&dec, out);
		return;
	}
	for (size_t i = 0; i < word->text_len; i++) {
		char c = word->text[i];
		if (c == '_') {
			c = ' ';  /* 4.2 (2): "_" is 0x20 whatever the charset */
		} else if (c == '=' && i + 2 < word->text_len &&
			   hex_value(word->text[i + 1]) >= 0 && hex_value(word->text[i + 2]) >= 0) {
			c = (char)(hex_value(word->text[i + 1]) << 4 | hex_value(word->text[i + 2]));
			i += 2;
		}
		buf_append(out, &c, 1);
	}
}

/* pending_flush - the bytes of adjacent words in one charset, converted */
static void pending_flush(const char **charset, size_t *charset_len, struct buf *pending,
			  struct buf *out)
{
	if (*charset != NULL)
		(void)message_charset_to_utf8(*charset, *charset_len,
					      pending->data ? pending->data : "", pending->len,
					      out);
	*charset = NULL;
	*charset_len = 0;
	buf_reset(pending);
}

bool message_header_decode(const char *value, size_t len, size_t max, struct buf *out)
{
	struct buf text, pending;
	const char *charset = NULL;
	size_t charset_len = 0, pos = 0, run = 0;
	struct encoded_word word;
	bool truncated = false;

	buf_init(&text);
	buf_init(&pending);
	while (pos < len) {
		if (!encoded_word_parse(value, len, pos, &word) ||
		    !message_charset_is_known(word.charset, word.charset_len)) {
			if (pos + 1 < len && value[pos] == '=' && value[pos + 1] == '?' &&
			    encoded_word_parse(value, len, pos, &word))
				pos = word.end;  /* an unknown charset: kept as written */
			else
				pos++;
			continue;
		}
		/* the text before the word, then the word */
		if (run < pos) {
			pending_flush(&charset, &charset_len, &pending, &text);
			message_utf8_append(value + run, pos - run, &text);
		}
		if (charset != NULL && (charset_len != word.charset_len ||
					strncasecmp(charset, word.charset, charset_len) != 0))
			pending_flush(&charset, &charset_len, &pending, &text);
		charset = word.charset;
		charset_len = word.charset_len;
		encoded_word_decode(&word, &pending);
		pos = run = word.end;
		/* RFC 2047 6.2: white space between two encoded words is ignored */
		size_t next = pos;
		while (next < len && (value[next] == ' ' || value[next] == '\t' ||
				      value[next] == '\r' || value[next] == '\n'))
			next++;
		struct encoded_word after;
		if (next > pos && encoded_word_parse(value, len, next, &after) &&
		    message_charset_is_known(after.charset, after.charset_len))
			pos = run = next;
	}
	pending_flush(&charset, &charset_len, &pending, &text);
	message_utf8_append(value + run, len - run, &text);

	/* at most MAX bytes, cut before a character (TEXT is valid UTF-8) */
	size_t n = text.len;
	if (n > max) {
		truncated = true;
		n = max;
		while (n > 0 && ((unsigned char)text.data[n] & 0xC0) == 0x80)
			n--;
	}
	buf_append(out, text.data ? text.data : "", n);
	buf_free(&pending);
	buf_free(&text);
	return truncated;
}
