/* fuzz/fuzz-imap-format - ENVELOPE and BODY/BODYSTRUCTURE (src/imap/
 * format.c) of arbitrary messages: each must read back as one well-formed
 * IMAP list through the command parser (strings, literals, nesting), with
 * and without UTF-8. */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "imap/imap.h"
#include "imap/parse.h"
#include "message/message.h"
#include "util/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_reads_back(const struct buf *data)
{
	struct buf line;
	buf_init(&line);
	buf_append_str(&line, "a X ");
	buf_append(&line, data->data, data->len);
	buf_append_str(&line, "\r\n");
	struct imap_parse_limits limits = { .depth_max = 1000, .args_max = 1000000 };
	struct imap_command cmd;
	const char *tag, *error = NULL;
	int ret = imap_command_parse(line.data, line.len, &limits, &cmd, &tag, &error);
	assert(ret == 0);
	assert(cmd.count == 1 && cmd.args[0].type == IMAP_ARG_LIST);
	imap_command_free(&cmd);
	buf_free(&line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct message_mime_parser *p = message_mime_parser_create(NULL);
	message_mime_parser_feed(p, (const char *)data, size);
	struct message_part *root = message_mime_parser_finish(&p);
	struct buf out;
	buf_init(&out);
	for (int utf8 = 0; utf8 < 2; utf8++) {
		imap_envelope_append(&out, &root->headers, utf8);
		check_reads_back(&out);
		buf_reset(&out);
		for (int extended = 0; extended < 2; extended++) {
			imap_bodystructure_append(&out, root, extended, utf8);
			check_reads_back(&out);
			buf_reset(&out);
		}
	}
	buf_free(&out);
	message_part_free(&root);
	return 0;
}
