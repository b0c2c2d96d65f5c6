/* message/decode - the streaming transfer decoders of MIME bodies
 * (RFC 2045 6.7 quoted-printable, 6.8 base64) and Content-Transfer-Encoding.
 *
 * Each decoder is a byte-at-a-time state machine whose whole state lives in
 * struct message_decoder, so the chunking of the input cannot change the
 * output.  Lenient where RFC 2045 asks decoders to be (see message.h).
 */
#include "message/message.h"

#include <string.h>
#include <strings.h>

enum qp_state {
	QP_TEXT,      /* in text (white space may be held) */
	QP_CR,        /* a CR, maybe the start of CRLF (white space held before it) */
	QP_EQ,        /* "=" */
	QP_EQ_HEX,    /* "=X" */
	QP_EQ_WSP,    /* "=" then white space (held): a soft break if a line end follows */
	QP_EQ_CR,     /* "=" [white space] CR */
};

static int hex_value(char c);
static void base64_feed(struct message_decoder *dec, const char *data, size_t len,
			struct buf *out);
static void base64_flush(struct message_decoder *dec, struct buf *out);
static void qp_byte(struct message_decoder *dec, char c, struct buf *out);
static void qp_hold(struct message_decoder *dec, char c, struct buf *out);
static void qp_release(struct message_decoder *dec, struct buf *out);

static const struct {
	const char *name;
	enum message_encoding encoding;
} encodings[] = {
	{ "7bit", MESSAGE_ENCODING_7BIT },
	{ "8bit", MESSAGE_ENCODING_8BIT },
	{ "binary", MESSAGE_ENCODING_BINARY },
	{ "quoted-printable", MESSAGE_ENCODING_QUOTED_PRINTABLE },
	{ "base64", MESSAGE_ENCODING_BASE64 },
};

/* message_encoding_parse - RFC 2045 6.1: a token, case-insensitive; CFWS
 * (comments too) around it is skipped */
enum message_encoding message_encoding_parse(const char *value, size_t len)
{
	size_t start = 0, end;
	int depth = 0;

	/* skip leading white space and comments */
	while (start < len) {
		char c = value[start];
		if (depth > 0) {
			if (c == '\\' && start + 1 < len)
				start++;
			else if (c == '(')
				depth++;
			else if (c == ')')
				depth--;
		} else if (c == '(') {
			depth++;
		} else if (c != ' ' && c != '\t' && c != '\r' && c != '\n') {
			break;
		}
		start++;
	}
	end = start;
	while (end < len && value[end] != ' ' && value[end] != '\t' && value[end] != '\r' &&
	       value[end] != '\n' && value[end] != '(' && value[end] != ';')
		end++;
	if (end == start)
		return MESSAGE_ENCODING_7BIT;  /* empty: the default (RFC 2045 6.1) */
	for (size_t i = 0; i < sizeof(encodings) / sizeof(encodings[0]); i++)
		if (strlen(encodings[i].name) == end - start &&
		    strncasecmp(encodings[i].name, value + start, end - start) == 0)
			return encodings[i].encoding;
	return MESSAGE_ENCODING_UNKNOWN;
}

const char *message_encoding_name(enum message_encoding encoding)
{
	for (size_t i = 0; i < sizeof(encodings) / sizeof(encodings[0]); i++)
		if (encodings[i].encoding == encoding)
			return encodings[i].name;
	return "unknown";
}

void message_decoder_init(struct message_decoder *dec, enum message_encoding encoding)
{
	memset(dec, 0, sizeof(*dec));
	dec->encoding = encoding;
	dec->state = QP_TEXT;
}

void message_decoder_feed(struct message_decoder *dec, const char *data, size_t len,
			  struct buf *out)
{
	switch (dec->encoding) {
	case MESSAGE_ENCODING_BASE64:
		base64_feed(dec, data, len, out);
		break;
	case MESSAGE_ENCODING_QUOTED_PRINTABLE:
		for (size_t i = 0; i < len;) {
			/* a run of plain text in one append */
			size_t j = i;
			if (dec->state == QP_TEXT && dec->wsp_len == 0)
				while (j < len && data[j] != '=' && data[j] != ' ' && data[j] != '\t' &&
				       data[j] != '\r' && data[j] != '\n')
					j++;
			if (j > i) {
				buf_append(out, data + i, j - i);
				i = j;
			} else {
				qp_byte(dec, data[i++], out);
			}
		}
		break;
	default:
		buf_append(out, data, len);
		break;
	}
}

void message_decoder_finish(struct message_decoder *dec, struct buf *out)
{
	if (dec->encoding == MESSAGE_ENCODING_BASE64) {
		base64_flush(dec, out);
	} else if (dec->encoding == MESSAGE_ENCODING_QUOTED_PRINTABLE) {
		switch ((enum qp_state)dec->state) {
		case QP_TEXT:
			break;  /* held white space ends the last line: removed */
		case QP_CR:
			qp_release(dec, out);  /* a bare CR is text */
			buf_append(out, "\r", 1);
			break;
		case QP_EQ_HEX:
			buf_append(out, "=", 1);
			buf_append(out, &dec->hex, 1);
			break;
		case QP_EQ:
		case QP_EQ_WSP:
		case QP_EQ_CR:
			break;  /* "=" at the very end: a soft line break */
		}
	}
	message_decoder_init(dec, dec->encoding);
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* base64_values - the 6 bits of each alphabet character, -1 for the others */
static const signed char base64_values[256] = {
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 62, -1, -1, -1, 63,
	52, 53, 54, 55, 56, 57, 58, 59, 60, 61, -1, -1, -1, -1, -1, -1,
	-1,  0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14,
	15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, -1, -1, -1, -1, -1,
	-1, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
	41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
};

/* base64_feed - RFC 2045 6.8: "All line breaks or other characters not found
 * in Table 1 must be ignored by decoding software"; "=" means the end */
static void base64_feed(struct message_decoder *dec, const char *data, size_t len,
			struct buf *out)
{
	unsigned char group[3 * 256];
	size_t n = 0, i = 0;
	/* the state in locals: DATA may alias DEC for all the compiler knows */
	unsigned bits = dec->bits, nbits = dec->nbits;

	if (dec->ended)
		return;  /* after "=" */
	for (; i < len; i++) {
		unsigned char c = (unsigned char)data[i];
		int v = base64_values[c];
		if (v < 0) {
			if (c == '=') {
				dec->ended = true;
				break;
			}
			continue;
		}
		bits = (bits << 6) | (unsigned)v;
		if (++nbits == 4) {
			group[n++] = (unsigned char)(bits >> 16);
			group[n++] = (unsigned char)(bits >> 8);
			group[n++] = (unsigned char)bits;
			bits = 0;
			nbits = 0;
			if (n == sizeof(group)) {
				buf_append(out, group, n);
				n = 0;
			}
		}
	}
	dec->bits = bits;
	dec->nbits = nbits;
	if (n > 0)
		buf_append(out, group, n);
	if (dec->ended)
		base64_flush(dec, out);
}

/* base64_flush - the whole bytes of a partial quantum: 2 characters hold 1
 * byte, 3 hold 2; 1 character holds none */
static void base64_flush(struct message_decoder *dec, struct buf *out)
{
	unsigned char bytes[2];

	if (dec->nbits == 2) {
		bytes[0] = (unsigned char)(dec->bits >> 4);
		buf_append(out, bytes, 1);
	} else if (dec->nbits == 3) {
		bytes[0] = (unsigned char)(dec->bits >> 10);
		bytes[1] = (unsigned char)(dec->bits >> 2);
		buf_append(out, bytes, 2);
	}
	dec->bits = 0;
	dec->nbits = 0;
}

/* qp_hold - keep white space until we know whether it ends its line; a run
 * longer than the holding room is not trailing padding any RFC-abiding
 * encoder wrote (lines are at most 76 characters): it is let through */
static void qp_hold(struct message_decoder *dec, char c, struct buf *out)
{
	if (dec->wsp_len == sizeof(dec->wsp)) {
		if (dec->state == QP_EQ_WSP)
			buf_append(out, "=", 1);
		qp_release(dec, out);
		if (dec->state == QP_EQ_WSP)
			dec->state = QP_TEXT;
	}
	dec->wsp[dec->wsp_len++] = c;
}

/* qp_release - the held white space was not at a line end: output it */
static void qp_release(struct message_decoder *dec, struct buf *out)
{
	if (dec->wsp_len > 0)
		buf_append(out, dec->wsp, dec->wsp_len);
	dec->wsp_len = 0;
}

/* qp_byte - RFC 2045 6.7 (and its note on robust decoding) one byte at a time */
static void qp_byte(struct message_decoder *dec, char c, struct buf *out)
{
	for (;;) {
		switch ((enum qp_state)dec->state) {
		case QP_TEXT:
			if (c == ' ' || c == '\t') {
				qp_hold(dec, c, out);
			} else if (c == '\r') {
				dec->state = QP_CR;
			} else if (c == '\n') {
				dec->wsp_len = 0;  /* rule 3: trailing white space is removed */
				buf_append(out, "\n", 1);
			} else if (c == '=') {
				qp_release(dec, out);
				dec->state = QP_EQ;
			} else {
				qp_release(dec, out);
				buf_append(out, &c, 1);
			}
			return;
		case QP_CR:
			dec->state = QP_TEXT;
			if (c == '\n') {
				dec->wsp_len = 0;
				buf_append(out, "\r\n", 2);
				return;
			}
			qp_release(dec, out);  /* a bare CR is text */
			buf_append(out, "\r", 1);
			continue;
		case QP_EQ:
			if (hex_value(c) >= 0) {
				dec->hex = c;
				dec->state = QP_EQ_HEX;
			} else if (c == ' ' || c == '\t') {
				dec->state = QP_EQ_WSP;
				qp_hold(dec, c, out);
			} else if (c == '\r') {
				dec->state = QP_EQ_CR;
			} else if (c == '\n') {
				dec->state = QP_TEXT;  /* soft line break */
			} else {
				/* not an escape: the "=" is kept (6.7 note 1) */
				buf_append(out, "=", 1);
				dec->state = QP_TEXT;
				continue;
			}
			return;
		case QP_EQ_HEX: {
			int hi = hex_value(dec->hex), lo = hex_value(c);
			dec->state = QP_TEXT;
			if (lo >= 0) {
				char byte = (char)(hi << 4 | lo);
				buf_append(out, &byte, 1);
				return;
			}
			buf_append(out, "=", 1);
			buf_append(out, &dec->hex, 1);
			continue;
		}
		case QP_EQ_WSP:
			if (c == ' ' || c == '\t') {
				qp_hold(dec, c, out);
				return;
			}
			if (c == '\r') {
				dec->state = QP_EQ_CR;
				return;
			}
			if (c == '\n') {
				dec->wsp_len = 0;
				dec->state = QP_TEXT;  /* soft line break with padding */
				return;
			}
			buf_append(out, "=", 1);
			qp_release(dec, out);
			dec->state = QP_TEXT;
			continue;
		case QP_EQ_CR:
			dec->state = QP_TEXT;
			if (c == '\n') {
				dec->wsp_len = 0;  /* soft line break */
				return;
			}
			buf_append(out, "=", 1);
			qp_release(dec, out);
			buf_append(out, "\r", 1);
			continue;
		}
	}
}

bool message_part_body_decode(const struct message_part *part, const char *data, size_t len,
			      struct buf *out)
{
	size_t offset = part->body_offset < len ? part->body_offset : len;
	size_t size = part->body_size < len - offset ? part->body_size : len - offset;
	struct message_decoder dec;
	message_decoder_init(&dec, part->encoding);
	message_decoder_feed(&dec, data + offset, size, out);
	message_decoder_finish(&dec, out);
	return size < part->body_size;
}

bool message_part_text(const struct message_part *part, const char *data, size_t len,
		       struct buf *out)
{
	struct buf decoded;
	buf_init(&decoded);
	bool cut = message_part_body_decode(part, data, len, &decoded);
	const char *charset = message_param_get(&part->content_type, "charset");
	message_text_to_utf8(charset, charset ? strlen(charset) : 0,
			     decoded.data ? decoded.data : "", decoded.len, out);
	buf_free(&decoded);
	return cut;
}
