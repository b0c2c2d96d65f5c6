/* fuzz/fuzz-imap-message - FETCH responses (src/imap/fetch.c) and SEARCH
 * evaluation (src/imap/search.c) of arbitrary messages: sections found by
 * part numbers in any tree, BINARY decoding, the Date: reader of SENT*,
 * decoded header and body matching.  Each FETCH response must read back as
 * one well-formed command-like line (tag "7", name FETCH, one list) through
 * the command parser when the message holds no NUL, and be the same
 * octets when streamed in small steps (imap_fetch_stream_next).  FETCH
 * (UID ENVELOPE) and the SEARCHes that need no body must answer the same
 * from the message's header section alone, as petrel.cache gives it
 * (mailbox_header_length). */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "imap/imap.h"
#include "imap/parse.h"
#include "mailbox/mailbox.h"
#include "util/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const fetches[] = {
	"(UID FLAGS ENVELOPE BODYSTRUCTURE BODY RFC822.SIZE MODSEQ)",
	"(BODY[1.2.HEADER.FIELDS (From To)] BODY[1.MIME] BODY[2.1.TEXT]<1.10> BODY[3])",
	"(BODY[HEADER] BODY.PEEK[TEXT] RFC822.HEADER BODY[1.HEADER.FIELDS.NOT (Subject)])",
	"(BINARY.PEEK[1] BINARY.SIZE[2.1] BINARY[1.1.2]<0.5> BODY[2.MIME] BODY[1.1.1.1])",
	"(RFC822 RFC822.TEXT BINARY[] BODY[]<3.7>)",
};
static const char *const searches[] = {
	"OR SENTON 1-Jan-2020 SENTSINCE 3-Mar-2000 NOT SENTBEFORE 9-Sep-1999",
	"OR TEXT abc BODY \"\xc3\x89t\xc3\xa9\"",
	"HEADER From a HEADER X-Y \"\" OR SUBJECT \"\xce\x91\" TO z",
};

static struct imap_command *parse_line(const char *text, struct imap_command *cmd);

/* check_header_only - FETCH (UID ENVELOPE) of the header section alone (as
 * petrel.cache gives it) is the response for the whole message */
static void check_header_only(struct imap_fetch_context *ctx, const struct mailbox_message *record,
			      const char *msg, size_t size, size_t header_len)
{
	struct imap_command cmd;
	struct imap_fetch f;
	const char *error;
	struct buf whole, header;
	buf_init(&whole);
	buf_init(&header);
	parse_line("a FETCH 1 (UID ENVELOPE)\r\n", &cmd);
	int ret = imap_fetch_parse(cmd.args + 1, cmd.count - 1, &f, &error);
	assert(ret == 0 && imap_fetch_header_only(&f));
	for (int utf8 = 0; utf8 < 2; utf8++) {
		ctx->utf8 = utf8;
		buf_reset(&whole);
		buf_reset(&header);
		ret = imap_fetch_message_append(&whole, &f, ctx, 7, record, msg, size, &error);
		assert(ret == 0);
		ret = imap_fetch_message_append(&header, &f, ctx, 7, record, msg, header_len, &error);
		assert(ret == 0);
		assert(whole.len == header.len && memcmp(whole.data, header.data, whole.len) == 0);
	}
	imap_fetch_free(&f);
	imap_command_free(&cmd);
	buf_free(&whole);
	buf_free(&header);
}

static struct imap_command *parse_line(const char *text, struct imap_command *cmd)
{
	static char line[4096];
	strcpy(line, text);
	struct imap_parse_limits limits = { 16, 1000 };
	const char *tag, *error;
	int ret = imap_command_parse(line, strlen(line), &limits, cmd, &tag, &error);
	if (ret != 0)
		fprintf(stderr, "%s: %s\n", text, error);
	assert(ret == 0);
	return cmd;
}

/* check_streamed - the response of F streamed STEP octets at a time is OUT */
static void check_streamed(const struct imap_fetch *f, const struct imap_fetch_context *ctx,
			   const struct mailbox_message *record, const char *msg, size_t size,
			   size_t step, const struct buf *out)
{
	struct imap_fetch_memory m;
	struct imap_fetch_source src;
	struct imap_fetch_stream *st;
	const char *error;
	struct buf got;
	imap_fetch_source_memory(&src, &m, msg, size);
	int ret = imap_fetch_message_start(f, ctx, 7, record, &src, &st, &error);
	assert(ret == 0);
	buf_init(&got);
	while ((ret = imap_fetch_stream_next(st, &src, &got, step, &error)) == 0)
		;
	assert(ret == 1 && got.len == out->len && memcmp(got.data, out->data, out->len) == 0);
	imap_fetch_stream_free(&st);
	buf_free(&got);
}

static void check_reads_back(const struct buf *out)
{
	struct buf line;
	buf_init(&line);
	assert(out->len > 4 && memcmp(out->data, "* 7 FETCH (", 11) == 0);
	buf_append(&line, out->data + 2, out->len - 2);
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
	const char *msg = (const char *)data;
	struct mailbox_message record = { .uid = 3, .flags = MAILBOX_FLAGS_ALL, .keywords = 1,
					  .modseq = 9, .size = size, .internal_date = 86400 };
	char *names[] = { "k" };
	struct imap_fetch_context ctx = { .uid = true, .flags = true, .keywords = names,
					  .keyword_count = 1 };
	bool has_nul = memchr(data, '\0', size) != NULL, complete;
	size_t header_len = mailbox_header_length(msg, size, &complete);
	struct buf out;
	buf_init(&out);
	check_header_only(&ctx, &record, msg, size, header_len);
	for (size_t i = 0; i < sizeof(fetches) / sizeof(fetches[0]); i++) {
		char line[1024];
		struct imap_command cmd;
		struct imap_fetch f;
		const char *error;
		snprintf(line, sizeof(line), "a FETCH 1 %s\r\n", fetches[i]);
		parse_line(line, &cmd);
		int ret = imap_fetch_parse(cmd.args + 1, cmd.count - 1, &f, &error);
		assert(ret == 0);
		ctx.utf8 = i % 2;
		if (imap_fetch_message_append(&out, &f, &ctx, 7, &record, msg, size, &error) == 0) {
			if (!has_nul)
				check_reads_back(&out);
			check_streamed(&f, &ctx, &record, msg, size, 1 + (size ? data[0] % 61 : 0),
				       &out);
		} else {
			assert(out.len == 0 && strncmp(error, "[UNKNOWN-CTE]", 13) == 0);
		}
		buf_reset(&out);
		imap_fetch_free(&f);
		imap_command_free(&cmd);
	}
	for (size_t i = 0; i < sizeof(searches) / sizeof(searches[0]); i++) {
		char line[1024];
		struct imap_command cmd;
		struct imap_search s;
		const char *error;
		snprintf(line, sizeof(line), "a SEARCH %s\r\n", searches[i]);
		parse_line(line, &cmd);
		int ret = imap_search_parse(cmd.args, cmd.count, &s, &error);
		assert(ret == 0);
		struct imap_search_message m = { .seq = 1, .record = &record, .data = msg,
						 .len = size, .keywords = names,
						 .keyword_count = 1, .now = 100000 };
		bool match = imap_search_match(&s.root, &m);
		if (!imap_search_needs_body(&s.root)) {
			/* the header section alone (petrel.cache's) answers the same */
			m.len = header_len;
			assert(imap_search_match(&s.root, &m) == match);
		}
		imap_search_free(&s);
		imap_command_free(&cmd);
	}
	buf_free(&out);
	return 0;
}
