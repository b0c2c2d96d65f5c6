/* fuzz/fuzz-address - smtp_mail_args_parse, smtp_rcpt_args_parse,
 * smtp_path_parse, smtp_helo_is_valid and xtext.  The first byte picks the parser and flags.
 * Invariants: a parsed path is valid, NUL-free, within the RFC 5321 limits,
 * and parses again to itself; xtext encoding round-trips. */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/parse.h"
#include "util/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_path(const struct smtp_path *path, unsigned flags);

/* check_path - the stored address is sane and parses again to itself */
static void check_path(const struct smtp_path *path, unsigned flags)
{
	size_t len = strlen(path->address);
	char *again;
	struct smtp_path path2;
	struct smtp_error err;
	size_t consumed;

	assert(path->local_len <= len);
	assert(path->domain >= path->address && path->domain <= path->address + len);
	assert(utf8_is_valid(path->address, len));
	if (!(flags & SMTP_PATH_ALLOW_UTF8))
		assert(!path->is_utf8);
	if (len == 0)
		return;
	assert(len <= 254);
	if (path->domain[0] != '\0') {
		assert(path->local_len <= 64);
		assert(path->address[path->local_len] == '@');
		assert(path->domain == path->address + path->local_len + 1);
	}
	again = malloc(len + 2);
	assert(again != NULL);
	again[0] = '<';
	memcpy(again + 1, path->address, len);
	again[len + 1] = '>';
	flags |= SMTP_PATH_ALLOW_UTF8 | SMTP_PATH_POSTMASTER;
	int ret = smtp_path_parse(again, len + 2, flags, &path2, &consumed, &err);
	assert(ret == 0);
	assert(consumed == len + 2);
	assert(strcmp(path2.address, path->address) == 0);
	assert(path2.local_len == path->local_len);
	assert(path2.is_utf8 == path->is_utf8);
	smtp_path_clear(&path2);
	free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned mode = data[0];
	const char *in = (const char *)data + 1;
	size_t len = size - 1;
	struct smtp_path path;
	struct smtp_error err;

	switch (mode % 5) {
	case 0: {
		struct smtp_mail_params params;
		if (smtp_mail_args_parse(in, len, &path, &params, &err) == 0) {
			check_path(&path, SMTP_PATH_ALLOW_UTF8 | SMTP_PATH_ALLOW_NULL);
			assert(!path.is_utf8 || params.smtputf8);
			if (params.envid)
				assert(strlen(params.envid) <= 100);
			smtp_path_clear(&path);
			smtp_mail_params_clear(&params);
		} else {
			assert(err.text != NULL && path.address == NULL);
			assert(err.code == 501 || err.code == 553 || err.code == 555);
		}
		break;
	}
	case 1: {
		struct smtp_rcpt_params params;
		bool utf8 = (mode & 0x10) != 0;
		if (smtp_rcpt_args_parse(in, len, utf8, &path, &params, &err) == 0) {
			check_path(&path, utf8 ? SMTP_PATH_ALLOW_UTF8 : 0);
			assert(path.address[0] != '\0');
			if (params.notify & WIRE_NOTIFY_NEVER)
				assert(params.notify == WIRE_NOTIFY_NEVER);
			smtp_path_clear(&path);
			smtp_rcpt_params_clear(&params);
		} else {
			assert(err.text != NULL && path.address == NULL);
			assert(err.code == 501 || err.code == 553 || err.code == 555);
		}
		break;
	}
	case 2: {
		unsigned flags = (mode >> 2) & 0xf;
		size_t consumed;
		if (smtp_path_parse(in, len, flags, &path, &consumed, &err) == 0) {
			assert(consumed <= len && consumed <= 256);
			assert(in[consumed - 1] == '>');
			check_path(&path, flags);
			smtp_path_clear(&path);
		} else {
			assert(err.text != NULL);
			assert(strcmp(err.enhanced, (flags & SMTP_PATH_SENDER) ?
				      "5.1.7" : "5.1.3") == 0 || err.code == 553);
		}
		break;
	}
	case 3:
		/* a valid HELO argument is one printable word */
		if (smtp_helo_is_valid(in, len)) {
			assert(len > 0 && len <= 255);
			for (size_t i = 0; i < len; i++)
				assert((unsigned char)in[i] > 0x20 && in[i] != 0x7f);
		}
		break;
	default: {
		char *enc = wire_xtext_encode(in, len);
		char *dec = wire_xtext_decode(enc, strlen(enc));
		if (memchr(in, '\0', len) == NULL) {
			assert(dec != NULL && strlen(dec) == len);
			assert(memcmp(dec, in, len) == 0);
		} else {
			assert(dec == NULL);
		}
		free(dec);
		free(enc);
		dec = wire_xtext_decode(in, len);
		if (dec != NULL)
			assert(strlen(dec) <= len);
		free(dec);
		break;
	}
	}
	return 0;
}
