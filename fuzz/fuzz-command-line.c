/* fuzz/fuzz-command-line - CRLF framing (smtp_line_find, smtp_line_skip) and
 * smtp_command_parse over a pipelined stream.  The first byte picks the line
 * limit; the stream is framed whole and cut at pseudo-random points, and the
 * two must agree line for line. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t frame(const char *in, size_t len, size_t max, size_t cut);
static uint64_t mix(uint64_t h, uint64_t v);
static void check_command(const char *line, size_t len);

static uint64_t mix(uint64_t h, uint64_t v)
{
	return (h ^ v) * 0x100000001b3ULL;
}

/* check_command - parse a framed line and check what comes back */
static void check_command(const char *line, size_t len)
{
	struct smtp_command cmd;
	struct smtp_error err;

	if (smtp_command_parse(line, len, &cmd, &err) < 0) {
		assert(err.code == 500 && err.text != NULL);
		return;
	}
	assert(cmd.name == line && cmd.name_len > 0 && cmd.name_len <= len);
	assert(cmd.args >= line + cmd.name_len && cmd.args + cmd.args_len <= line + len);
	assert(memchr(cmd.name, ' ', cmd.name_len) == NULL);
	if (cmd.verb != SMTP_VERB_UNKNOWN)
		assert(cmd.name_len <= 8);
	if (cmd.args_len > 0)
		assert(cmd.args[0] != ' ' && cmd.args[cmd.args_len - 1] != ' ');
}

/* frame - run the session's framing loop with input arriving in two reads
 * split at CUT; return a hash of the lines and errors seen */
static uint64_t frame(const char *in, size_t len, size_t max, size_t cut)
{
	char *pending = malloc(len + 1);
	size_t plen = 0, pos = 0;
	bool skipping = false;
	uint64_t h = 1469598103934665603ULL;

	assert(pending != NULL);
	while (pos < len) {
		size_t chunk = pos < cut ? cut - pos : len - pos;
		memcpy(pending + plen, in + pos, chunk);
		plen += chunk;
		pos += chunk;
		for (;;) {
			size_t consumed = 0, line_len = 0;
			unsigned flags = 0;
			if (skipping) {
				bool done = smtp_line_skip(pending, plen, &consumed);
				assert(consumed <= plen);
				if (done) {
					assert(consumed >= 2 && pending[consumed - 2] == '\r' &&
					       pending[consumed - 1] == '\n');
					skipping = false;
					h = mix(h, 0x7001);
				} else if (consumed == 0) {
					break;
				}
			} else {
				enum smtp_line_status st = smtp_line_find(pending, plen,
					max, &line_len, &consumed, &flags);
				assert(consumed <= plen);
				if (st == SMTP_LINE_NEED_MORE) {
					assert(consumed == 0);
					break;
				}
				if (st == SMTP_LINE_OK) {
					assert(consumed == line_len + 2 && consumed <= max);
					assert(pending[line_len] == '\r' &&
					       pending[line_len + 1] == '\n');
					for (size_t i = 0; i + 1 < line_len; i++)
						assert(!(pending[i] == '\r' && pending[i + 1] == '\n'));
					assert(((flags & SMTP_LINE_BARE_LF) != 0) ==
					       (memchr(pending, '\n', line_len) != NULL));
					assert(((flags & SMTP_LINE_NUL) != 0) ==
					       (memchr(pending, '\0', line_len) != NULL));
					h = mix(h, line_len);
					h = mix(h, flags);
					for (size_t i = 0; i < line_len; i++)
						h = mix(h, (unsigned char)pending[i]);
					check_command(pending, line_len);
				} else {
					assert(st == SMTP_LINE_TOO_LONG);
					bool ended = consumed >= 2 &&
						pending[consumed - 2] == '\r' &&
						pending[consumed - 1] == '\n';
					if (ended)
						h = mix(h, 0x7001);
					else
						skipping = true;
				}
			}
			memmove(pending, pending + consumed, plen - consumed);
			plen -= consumed;
		}
	}
	free(pending);
	return h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	size_t max = (size_t)data[0] + 1;  /* 1..256 */
	size_t cut = data[1];
	const char *in = (const char *)data + 2;
	size_t len = size - 2;

	uint64_t whole = frame(in, len, max, len);
	uint64_t split = frame(in, len, max, cut < len ? cut : len);
	assert(whole == split);

	/* the whole input as one line, too */
	check_command(in, len);
	return 0;
}
