/* tests/unit/message/test-mime - the streaming MIME structure parser
 * (src/message/mime.c).
 *
 * Hand-made messages with their exact offsets, sizes and line counts; the
 * limits; and a corpus (the messages mime_corpus.py generates plus the
 * hand-written ones in data/), each parsed whole, one byte at a time and in
 * random pieces, with the same tree every time, and that tree compared with
 * the one Python's email package sees (mime_corpus.py dump): the parts, their
 * types, their raw and transfer-decoded bodies, file names and charsets.
 * PETREL_SOURCE_ROOT (set by meson test) locates the script and data/.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "message/message.h"
#include "util/xalloc.h"
#include "test-util.h"

/* parse - DATA[0..LEN) fed in pieces of STEP bytes (0: whole; (size_t)-1:
 * random sizes from SEED), each piece in a block of exactly its size */
static struct message_part *parse(const char *data, size_t len, size_t step, unsigned seed,
				  const struct message_mime_limits *limits)
{
	struct message_mime_parser *p = message_mime_parser_create(limits);
	size_t i = 0;

	while (i < len) {
		size_t n = step == 0 ? len : step;
		if (step == (size_t)-1)
			n = 1 + (size_t)(rand_r(&seed) % (rand_r(&seed) % 2 ? 7 : 300));
		if (n > len - i)
			n = len - i;
		char *piece = test_dup_exact(data + i, n);
		message_mime_parser_feed(p, piece, n);
		free(piece);
		i += n;
	}
	struct message_part *root = message_mime_parser_finish(&p);
	assert_null(p);
	return root;
}

/* tree_dump - everything the parser reports of each part, depth first */
static void tree_dump(const struct message_part *part, struct buf *out)
{
	for (; part != NULL; part = part->next) {
		buf_printf(out, "%u %s/%s h=%zu+%zu b=%zu+%zu l=%zu f=%zu%s%s%s%s%s%s%s enc=%s",
			   part->depth, part->content_type.type, part->content_type.subtype,
			   part->header_offset, part->header_size, part->body_offset,
			   part->body_size, part->body_lines, part->headers.count,
			   part->is_multipart ? " multipart" : "", part->is_message ? " message" : "",
			   part->closed ? " closed" : "", part->limit_hit ? " limit" : "",
			   part->header_truncated ? " htrunc" : "",
			   part->header_malformed ? " hbad" : "",
			   part->content_type.defaulted ? " default" : "",
			   message_encoding_name(part->encoding));
		for (size_t i = 0; i < part->content_type.param_count; i++)
			buf_printf(out, " %s=%s", part->content_type.params[i].name,
				   part->content_type.params[i].value);
		if (part->disposition.type)
			buf_printf(out, " disp=%s", part->disposition.type);
		buf_append(out, "\n", 1);
		tree_dump(part->children, out);
	}
}

/* tree_check - the invariants of a tree over LEN bytes */
static void tree_check(const struct message_part *part, size_t len, size_t start, size_t end)
{
	for (; part != NULL; part = part->next) {
		assert_int_equal(part->header_offset + part->header_size, part->body_offset);
		assert_true(part->header_offset >= start);
		assert_true(part->body_offset + part->body_size <= end);
		assert_true(end <= len);
		assert_true(part->header_len <= part->header_size);
		assert_true(part->body_lines <= part->body_size);
		if (part->next)
			assert_true(part->body_offset + part->body_size <= part->next->header_offset);
		tree_check(part->children, len, part->body_offset,
			   part->body_offset + part->body_size);
	}
}

static char *dump_of(const struct message_part *root)
{
	struct buf b;
	buf_init(&b);
	buf_append(&b, "", 0);
	tree_dump(root, &b);
	return b.data;
}

/* check_same - DATA parsed whole, byte by byte and in random pieces gives
 * one tree (returned, parsed whole) */
static struct message_part *check_same(const char *data, size_t len,
				       const struct message_mime_limits *limits)
{
	struct message_part *whole = parse(data, len, 0, 0, limits);
	char *want = dump_of(whole);
	tree_check(whole, len, 0, len);
	size_t steps[] = { 1, 2, 3, (size_t)-1, (size_t)-1, (size_t)-1 };
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		struct message_part *root = parse(data, len, steps[i], (unsigned)i, limits);
		char *got = dump_of(root);
		if (strcmp(got, want) != 0)
			fail_msg("pieces of %zd bytes:\n%s\nwhole:\n%s", (ssize_t)steps[i], got, want);
		free(got);
		message_part_free(&root);
		assert_null(root);
	}
	free(want);
	return whole;
}

static const char nested[] =
	"From: a@b\r\n"
	"Content-Type: multipart/mixed; boundary=\"xx\"\r\n"
	"\r\n"
	"preamble\r\n"
	"--xx\r\n"
	"Content-Type: text/plain\r\n"
	"\r\n"
	"hello\r\n"
	"world\r\n"
	"--xx \t\r\n"
	"Content-Type: message/rfc822\r\n"
	"\r\n"
	"Subject: inner\r\n"
	"\r\n"
	"inner body\r\n"
	"--xx--\r\n"
	"epilogue\r\n";

static void test_mime_offsets(void **state)
{
	(void)state;
	struct message_part *root = check_same(nested, sizeof(nested) - 1, NULL);
	char *got = dump_of(root);
	assert_string_equal(got,
		"0 multipart/mixed h=0+59 b=59+146 l=14 f=2 multipart closed enc=7bit boundary=xx\n"
		"1 text/plain h=75+28 b=103+12 l=2 f=1 enc=7bit\n"
		"1 message/rfc822 h=125+32 b=157+28 l=3 f=1 message enc=7bit\n"
		"2 text/plain h=157+18 b=175+10 l=1 f=1 default enc=7bit charset=us-ascii\n");
	free(got);
	const struct message_part *text = root->children;
	assert_memory_equal(nested + text->body_offset, "hello\r\nworld", text->body_size);
	assert_string_equal(text->header_data, "Content-Type: text/plain\r\n\r\n");
	const struct message_header *subject =
		message_header_find(&text->next->children->headers, "Subject", 0);
	assert_int_equal(subject->value_len, 6);
	assert_memory_equal(subject->value, " inner", 6);
	message_part_free(&root);
}

/* LF line ends, a body without a final line break, an empty part, a part
 * with no header, the close delimiter at the very end without a line break */
static void test_mime_edges(void **state)
{
	(void)state;
	static const char msg[] =
		"Content-Type: multipart/alternative; boundary=b\n"
		"\n"
		"--b\n"
		"\n"
		"no header\n"
		"--b\n"
		"Content-Type: text/html\n"
		"--b\n"
		"Content-Type: text/plain\n"
		"\n"
		"\n"
		"--b\n"
		"Content-Type: text/plain\n"
		"\n"
		"two\n"
		"\n"
		"--b--";
	struct message_part *root = check_same(msg, sizeof(msg) - 1, NULL);
	char *got = dump_of(root);
	assert_string_equal(got,
		"0 multipart/alternative h=0+49 b=49+114 l=15 f=1 multipart closed enc=7bit boundary=b\n"
		"1 text/plain h=53+1 b=54+9 l=1 f=0 default enc=7bit charset=us-ascii\n"
		"1 text/html h=68+24 b=92+0 l=0 f=1 enc=7bit\n"
		"1 text/plain h=96+26 b=122+0 l=0 f=1 enc=7bit\n"
		"1 text/plain h=127+26 b=153+4 l=1 f=1 enc=7bit\n");
	free(got);
	message_part_free(&root);
}

/* no close delimiter; an outer boundary ends an inner multipart; a body part
 * whose header has no empty line before its body (a malformed line starts
 * it); a digest's part is a message by default; an encoded message/rfc822
 * and a multipart without a boundary stay opaque */
static void test_mime_tolerated(void **state)
{
	(void)state;
	static const char msg[] =
		"Content-Type: multipart/mixed; boundary=outer\r\n"
		"\r\n"
		"--outer\r\n"
		"Content-Type: multipart/digest; boundary=inner\r\n"
		"\r\n"
		"--inner\r\n"
		"\r\n"
		"Subject: digested\r\n"
		"\r\n"
		"text\r\n"
		"--outer\r\n"
		"Content-Type: text/plain\r\n"
		"this line is no field\r\n"
		"--outer\r\n"
		"Content-Type: message/rfc822\r\n"
		"Content-Transfer-Encoding: base64\r\n"
		"\r\n"
		"U3ViamVjdDogeA0KDQp4\r\n"
		"--outer\r\n"
		"Content-Type: multipart/mixed\r\n"
		"\r\n"
		"--x\r\n"
		"--outer\r\n"
		"\r\n"
		"last\r\n";
	struct message_part *root = check_same(msg, sizeof(msg) - 1, NULL);
	char *got = dump_of(root);
	assert_string_equal(got,
		"0 multipart/mixed h=0+49 b=49+317 l=23 f=1 multipart enc=7bit boundary=outer\n"
		"1 multipart/digest h=58+50 b=108+36 l=5 f=1 multipart enc=7bit boundary=inner\n"
		"2 message/rfc822 h=117+2 b=119+25 l=3 f=0 message default enc=7bit\n"
		"3 text/plain h=119+21 b=140+4 l=1 f=1 default enc=7bit charset=us-ascii\n"
		"1 text/plain h=155+26 b=181+21 l=1 f=1 hbad enc=7bit\n"
		"1 message/rfc822 h=213+67 b=280+20 l=1 f=2 enc=base64\n"
		"1 multipart/mixed h=311+33 b=344+3 l=1 f=1 enc=7bit\n"
		"1 text/plain h=358+2 b=360+4 l=1 f=0 default enc=7bit charset=us-ascii\n");
	free(got);
	message_part_free(&root);
}

/* the limits: depth, parts, header size; beyond them an opaque body */
static void test_mime_limits(void **state)
{
	(void)state;
	struct buf msg;
	buf_init(&msg);
	for (int i = 0; i < 5; i++)
		buf_printf(&msg, "Content-Type: multipart/mixed; boundary=d%d\r\n\r\n--d%d\r\n", i, i);
	buf_append_str(&msg, "\r\ndeepest\r\n");
	struct message_mime_limits limits = { 2, 1000, 102400 };
	struct message_part *root = check_same(msg.data, msg.len, &limits);
	assert_true(root->is_multipart);
	assert_true(root->children->is_multipart);
	const struct message_part *deep = root->children->children;
	assert_int_equal(deep->depth, 2);
	assert_true(deep->limit_hit);
	assert_false(deep->is_multipart);
	assert_null(deep->children);
	/* the missing close delimiters take the last line break */
	assert_int_equal(deep->body_offset + deep->body_size, msg.len - 2);
	message_part_free(&root);

	/* three parts at most: the fourth boundary and the rest are the body */
	buf_reset(&msg);
	buf_append_str(&msg, "Content-Type: multipart/mixed; boundary=p\r\n\r\n");
	for (int i = 0; i < 5; i++)
		buf_printf(&msg, "--p\r\n\r\npart %d\r\n", i);
	buf_append_str(&msg, "--p--\r\n");
	limits = (struct message_mime_limits){ 20, 3, 102400 };
	root = check_same(msg.data, msg.len, &limits);
	assert_true(root->limit_hit);
	assert_false(root->closed);
	assert_non_null(root->children->next);
	assert_null(root->children->next->next);
	assert_int_equal(root->body_offset + root->body_size, msg.len);
	assert_true(root->children->next->body_offset + root->children->next->body_size <
		    msg.len - 20);
	message_part_free(&root);

	/* a header section over the limit keeps its first whole lines; the
	 * body is still found */
	buf_reset(&msg);
	buf_append_str(&msg, "Content-Type: text/html\r\n");
	for (int i = 0; i < 100; i++)
		buf_printf(&msg, "X-Filler-%03d: 0123456789\r\n", i);
	buf_append_str(&msg, "\r\nbody");
	limits = (struct message_mime_limits){ 20, 1000, 100 };
	root = check_same(msg.data, msg.len, &limits);
	assert_true(root->header_truncated);
	assert_int_equal(root->header_len, 25 + 26 * 2);
	assert_int_equal(root->headers.count, 3);
	assert_string_equal(root->content_type.subtype, "html");
	assert_int_equal(root->body_offset, msg.len - 4);
	assert_int_equal(root->body_size, 4);
	message_part_free(&root);
	buf_free(&msg);
}

/* boundaries: only the exact line (padding aside) is one; a boundary over
 * MESSAGE_MIME_BOUNDARY_MAX makes no multipart; a long line that starts
 * like a boundary is none */
static void test_mime_boundaries(void **state)
{
	(void)state;
	struct buf msg;
	buf_init(&msg);
	buf_append_str(&msg, "Content-Type: multipart/mixed; boundary=ab\r\n\r\n"
			     "--ab\r\n\r\n"
			     "--abc\r\n"
			     "--ab x\r\n"
			     "-- ab\r\n"
			     "--ab");
	for (int i = 0; i < 300; i++)
		buf_append(&msg, " ", 1);
	buf_append_str(&msg, "x\r\n--ab--\r\n");
	struct message_part *root = check_same(msg.data, msg.len, NULL);
	assert_true(root->closed);
	assert_non_null(root->children);
	assert_null(root->children->next);
	assert_int_equal(root->children->body_lines, 4);
	message_part_free(&root);

	/* padding of any length after a boundary */
	buf_reset(&msg);
	buf_append_str(&msg, "Content-Type: multipart/mixed; boundary=ab\r\n\r\n--ab");
	for (int i = 0; i < 300; i++)
		buf_append(&msg, i % 2 ? " " : "\t", 1);
	buf_append_str(&msg, "\r\n\r\none\r\n--ab--");
	for (int i = 0; i < 300; i++)
		buf_append(&msg, " ", 1);
	root = check_same(msg.data, msg.len, NULL);
	assert_true(root->closed);
	assert_int_equal(root->children->body_size, 3);
	message_part_free(&root);

	buf_reset(&msg);
	buf_append_str(&msg, "Content-Type: multipart/mixed; boundary=");
	for (int i = 0; i <= MESSAGE_MIME_BOUNDARY_MAX; i++)
		buf_append(&msg, "b", 1);
	buf_append_str(&msg, "\r\n\r\nbody\r\n");
	root = check_same(msg.data, msg.len, NULL);
	assert_false(root->is_multipart);
	assert_null(root->children);
	message_part_free(&root);
	buf_free(&msg);

	/* an empty message, and one with no body */
	root = check_same("", 0, NULL);
	assert_int_equal(root->header_size, 0);
	assert_int_equal(root->body_size, 0);
	assert_true(root->content_type.defaulted);
	message_part_free(&root);
	root = check_same("Subject: x", 10, NULL);
	assert_int_equal(root->header_size, 10);
	assert_int_equal(root->headers.count, 1);
	message_part_free(&root);
}

/* --- the corpus, compared with Python's email package -------------------- */

static void hex_sha256(const char *data, size_t len, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	assert_int_equal(EVP_Digest(data, len, md, &md_len, EVP_sha256(), NULL), 1);
	for (unsigned i = 0; i < md_len; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* python_dump - the tree in mime_corpus.py's dump form */
static void python_dump(const struct message_part *part, const char *data, struct buf *out)
{
	for (; part != NULL; part = part->next) {
		const struct message_content_type *ct = &part->content_type;
		buf_printf(out, "%u %s/%s", part->depth, ct->type, ct->subtype);
		if (part->is_multipart || part->is_message) {
			buf_append_str(out, " -\n");
			python_dump(part->children, data, out);
			continue;
		}
		char raw[65], dec[65];
		struct buf decoded;
		struct message_decoder d;
		buf_init(&decoded);
		message_decoder_init(&d, part->encoding);
		message_decoder_feed(&d, data + part->body_offset, part->body_size, &decoded);
		message_decoder_finish(&d, &decoded);
		hex_sha256(data + part->body_offset, part->body_size, raw);
		hex_sha256(decoded.data ? decoded.data : "", decoded.len, dec);
		buf_free(&decoded);
		buf_printf(out, " raw=%s dec=%s fn=", raw, dec);
		const char *fn = part->disposition.type ? message_param_get(&part->disposition,
									    "filename") : NULL;
		if (fn == NULL)
			fn = message_param_get(ct, "name");
		if (fn == NULL || *fn == '\0')
			buf_append_str(out, "-");
		for (; fn && *fn; fn++)
			buf_printf(out, "%02x", (unsigned char)*fn);
		const char *cs = ct->defaulted ? NULL : message_param_get(ct, "charset");
		buf_append_str(out, " cs=");
		if (cs == NULL || *cs == '\0')
			buf_append_str(out, "-");
		for (; cs && *cs; cs++)
			buf_printf(out, "%c", *cs >= 'A' && *cs <= 'Z' ? *cs - 'A' + 'a' : *cs);
		buf_append_str(out, "\n");
	}
}

static char *read_file(const char *path, size_t *len_r)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	struct buf b;
	buf_init(&b);
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_append(&b, chunk, n);
	assert_int_equal(ferror(f), 0);
	assert_int_equal(fclose(f), 0);
	*len_r = b.len;
	return b.data;
}

/* corpus_check - PATH parsed every way gives one tree, Python's */
static void corpus_check(const char *root_dir, const char *path)
{
	size_t len;
	char *data = read_file(path, &len);
	struct message_part *root = check_same(data, len, NULL);
	struct buf ours, theirs;
	buf_init(&ours);
	buf_init(&theirs);
	python_dump(root, data, &ours);
	char *cmd = xasprintf("/usr/bin/python3 '%s/tests/unit/message/mime_corpus.py' dump '%s'",
			      root_dir, path);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), p)) > 0)
		buf_append(&theirs, chunk, n);
	assert_int_equal(pclose(p), 0);
	if (theirs.len != ours.len || memcmp(theirs.data, ours.data, ours.len) != 0) {
		char *tree = dump_of(root);
		fail_msg("%s: Python sees\n%s\nwe see\n%s\n%s", path, theirs.data, ours.data, tree);
	}
	free(cmd);
	buf_free(&ours);
	buf_free(&theirs);
	message_part_free(&root);
	free(data);
}

/* corpus_folder - every .eml file in DIR; the number checked */
static size_t corpus_folder(const char *root_dir, const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t count = 0;
	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		size_t n = strlen(e->d_name);
		if (n < 4 || strcmp(e->d_name + n - 4, ".eml") != 0)
			continue;
		char *path = xasprintf("%s/%s", dir, e->d_name);
		corpus_check(root_dir, path);
		free(path);
		count++;
	}
	assert_int_equal(closedir(d), 0);
	return count;
}

static void test_mime_corpus(void **state)
{
	(void)state;
	const char *root_dir = getenv("PETREL_SOURCE_ROOT");
	if (root_dir == NULL)
		fail_msg("PETREL_SOURCE_ROOT is not set (meson test sets it)");
	char dir[] = "/tmp/petrel-test-mime-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char *cmd = xasprintf("/usr/bin/python3 '%s/tests/unit/message/mime_corpus.py' generate '%s'",
			      root_dir, dir);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	assert_int_equal(corpus_folder(root_dir, dir), 60);
	cmd = xasprintf("rm -r '%s'", dir);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	char *data = xasprintf("%s/tests/unit/message/data", root_dir);
	assert_true(corpus_folder(root_dir, data) > 0);
	free(data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mime_offsets),
		cmocka_unit_test(test_mime_edges),
		cmocka_unit_test(test_mime_tolerated),
		cmocka_unit_test(test_mime_limits),
		cmocka_unit_test(test_mime_boundaries),
		cmocka_unit_test(test_mime_corpus),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
