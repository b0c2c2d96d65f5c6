/* message/encode - header field bodies written for people's text: RFC 5322
 * phrases (display names) and unstructured text (Subject:), with RFC 2047
 * encoded words where the text is not printable ASCII.  The reverse of
 * charset.c's decoding; used by `petrel sendmail` and the HTTP send API. */
#include "message/message.h"

#include <stdbool.h>
#include <string.h>

#include "util/base64.h"

/* Octets of UTF-8 text per encoded word: 45 encode to 60 characters, so a
 * word with its "=?UTF-8?B?" and "?=" and a folding space stays within 76
 * (RFC 2047 2). */
#define ENCODE_WORD_OCTETS 45

static bool is_atext_or_space(unsigned char c);
static void encoded_words_write(const char *text, size_t len, const char *fold,
				struct buf *out);

/* is_atext_or_space - RFC 5322 3.2.3 atext, or a space between atoms */
static bool is_atext_or_space(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~ ", c) != NULL);
}

/* encoded_words_write - TEXT as RFC 2047 "B" encoded words in UTF-8, FOLD
 * between them, never splitting a character between two words (RFC 2047 5) */
static void encoded_words_write(const char *text, size_t len, const char *fold,
				struct buf *out)
{
	size_t pos = 0;
	while (pos < len) {
		size_t chunk = len - pos > ENCODE_WORD_OCTETS ? ENCODE_WORD_OCTETS : len - pos;
		/* back off to a UTF-8 character boundary */
		while (chunk > 1 && pos + chunk < len &&
		       ((unsigned char)text[pos + chunk] & 0xC0) == 0x80)
			chunk--;
		if (pos > 0)
			buf_append_str(out, fold);
		buf_append_str(out, "=?UTF-8?B?");
		base64_encode(text + pos, chunk, out);
		buf_append_str(out, "?=");
		pos += chunk;
	}
}

void message_phrase_write(const char *name, const char *fold, struct buf *out)
{
	bool ascii = true, atoms = true;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		if (*p >= 0x80 || *p < 0x20 || *p == 0x7f)
			ascii = false;
		else if (!is_atext_or_space(*p))
			atoms = false;
	}
	if (ascii && atoms) {
		buf_append_str(out, name);
	} else if (ascii) {
		buf_append(out, "\"", 1);
		for (const char *p = name; *p; p++) {
			if (*p == '"' || *p == '\\')
				buf_append(out, "\\", 1);
			buf_append(out, p, 1);
		}
		buf_append(out, "\"", 1);
	} else {
		encoded_words_write(name, strlen(name), fold, out);
	}
}

void message_unstructured_write(const char *text, size_t max_line, const char *fold,
				struct buf *out)
{
	size_t len = strlen(text);
	bool plain = len <= max_line;
	for (size_t i = 0; plain && i < len; i++) {
		unsigned char c = (unsigned char)text[i];
		plain = (c >= 0x20 && c < 0x7f) || c == '\t';
	}
	/* "=?" in plain text would be read back as the start of an encoded word */
	if (plain && !strstr(text, "=?"))
		buf_append(out, text, len);
	else
		encoded_words_write(text, len, fold, out);
}
