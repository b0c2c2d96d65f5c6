/* fuzz/fuzz-pop3-command - POP3 command lines and numbers (src/pop3/
 * parse.c) on arbitrary input, and the RETR/TOP writer on it as a message:
 * the arguments lie inside the line within their limits, and the writer
 * gives the same bytes fed whole or in pieces, every line of its output
 * that starts with '.' being stuffed or the final ".\r\n". */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pop3/parse.h"
#include "util/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t mode = data[0];
	const char *in = (const char *)data + 1;
	size_t len = size - 1;

	char *line = malloc(len ? len : 1);
	assert(line != NULL);
	memcpy(line, in, len);
	struct pop3_command cmd;
	const char *error;
	if (pop3_command_parse(line, len, &cmd, &error) == 0) {
		assert(cmd.verb != POP3_VERB_UNKNOWN && cmd.argc <= 2);
		for (unsigned i = 0; i < cmd.argc; i++) {
			assert(cmd.args[i] >= line && cmd.args[i] + cmd.arg_lens[i] <= line + len);
			assert(cmd.arg_lens[i] > 0 && cmd.arg_lens[i] <= POP3_ARG_MAX);
			uint32_t n;
			if (pop3_number_parse(cmd.args[i], cmd.arg_lens[i], true, &n) == 0)
				assert(n < UINT32_MAX);
		}
	} else {
		assert(error != NULL);
	}
	free(line);

	struct pop3_writer whole, pieces;
	struct buf a, b;
	buf_init(&a);
	buf_init(&b);
	bool top = mode & 1;
	pop3_writer_init(&whole, top, mode >> 4);
	pop3_writer_init(&pieces, top, mode >> 4);
	pop3_writer_feed(&whole, in, len, &a);
	pop3_writer_finish(&whole, &a);
	size_t step = 1 + ((mode >> 1) & 7);
	for (size_t i = 0; i < len; i += step)
		pop3_writer_feed(&pieces, in + i, len - i < step ? len - i : step, &b);
	pop3_writer_finish(&pieces, &b);
	assert(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
	assert(a.len >= 3 && memcmp(a.data + a.len - 3, ".\r\n", 3) == 0);
	for (size_t i = 0; i + 3 < a.len; i++) {
		bool line_start = i == 0 || a.data[i - 1] == '\n';
		if (line_start && a.data[i] == '.')
			assert(a.data[i + 1] == '.');
	}
	buf_free(&a);
	buf_free(&b);
	return 0;
}
