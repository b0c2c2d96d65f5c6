/* fuzz-transfer-decode - the streaming MIME transfer decoders
 * (src/message/decode.c).  The first byte picks the encoding and a piece
 * size, the rest is the body.  Invariants: fed in pieces, the output is the
 * one of the body fed whole; it is never longer than the input; base64 of
 * the input, with line breaks added every 76 characters, decodes back to it
 * (the lenient decoder reads the strict encoder's output). */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "message/message.h"
#include "util/base64.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	static const enum message_encoding encodings[] = {
		MESSAGE_ENCODING_QUOTED_PRINTABLE, MESSAGE_ENCODING_BASE64, MESSAGE_ENCODING_8BIT,
	};
	enum message_encoding encoding = encodings[data[0] % 3];
	size_t step = 1 + data[0] / 3 % 17;
	const char *in = (const char *)data + 1;
	size_t len = size - 1;
	struct message_decoder dec;
	struct buf whole, pieces;

	buf_init(&whole);
	buf_init(&pieces);
	message_decoder_init(&dec, encoding);
	message_decoder_feed(&dec, in, len, &whole);
	message_decoder_finish(&dec, &whole);
	assert(whole.len <= len);
	message_decoder_init(&dec, encoding);
	for (size_t i = 0; i < len; i += step)
		message_decoder_feed(&dec, in + i, len - i < step ? len - i : step, &pieces);
	message_decoder_finish(&dec, &pieces);
	assert(pieces.len == whole.len);
	assert(whole.len == 0 || memcmp(pieces.data, whole.data, whole.len) == 0);

	/* the strict encoder's output, folded, through the lenient decoder */
	struct buf enc, folded, back;
	buf_init(&enc);
	buf_init(&folded);
	buf_init(&back);
	base64_encode(in, len, &enc);
	for (size_t i = 0; i < enc.len; i += 76) {
		buf_append(&folded, enc.data + i, enc.len - i < 76 ? enc.len - i : 76);
		buf_append(&folded, "\r\n", 2);
	}
	message_decoder_init(&dec, MESSAGE_ENCODING_BASE64);
	for (size_t i = 0; i < folded.len; i += step)
		message_decoder_feed(&dec, folded.data + i,
				     folded.len - i < step ? folded.len - i : step, &back);
	message_decoder_finish(&dec, &back);
	assert(back.len == len && (len == 0 || memcmp(back.data, in, len) == 0));
	buf_free(&enc);
	buf_free(&folded);
	buf_free(&back);
	buf_free(&whole);
	buf_free(&pieces);
	return 0;
}
