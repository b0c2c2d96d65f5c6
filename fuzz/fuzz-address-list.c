/* fuzz/fuzz-address-list - message_address_list_parse (and its full form
 * for IMAP's ENVELOPE) and message_address_canonical.
 * Invariants: every addr-spec is NUL-free, valid UTF-8 and holds an '@';
 * the addr-specs joined with ", " parse again to themselves; the canonical
 * form of each is no longer, holds an '@', and is its own canonical form;
 * the full form accepts the same lists, its mailboxes are the addr-specs
 * in the same order, and its group starts and ends pair up. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-input.h"
#include "message/message.h"
#include "util/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool utf8_ok(const char *s);

/* utf8_ok - a plain decoder, written apart from the one under test */
static bool utf8_ok(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		unsigned cp;
		int n;
		if (*p < 0x80) {
			p++;
			continue;
		} else if ((*p & 0xe0) == 0xc0) {
			cp = *p & 0x1f;
			n = 1;
		} else if ((*p & 0xf0) == 0xe0) {
			cp = *p & 0x0f;
			n = 2;
		} else if ((*p & 0xf8) == 0xf0) {
			cp = *p & 0x07;
			n = 3;
		} else {
			return false;
		}
		p++;
		for (int k = 0; k < n; k++, p++) {
			if ((*p & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (*p & 0x3f);
		}
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
	}
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in = fuzz_input_copy(data, size);
	char **list;

	list = message_address_list_parse(in, size);
	size_t full_count = 0;
	struct message_address *full = message_address_list_parse_full(in, size, &full_count);
	free(in);
	assert((list == NULL) == (full == NULL));
	if (list == NULL)
		return 0;
	size_t mailboxes = 0;
	int open_groups = 0;
	for (size_t k = 0; k < full_count; k++) {
		const struct message_address *a = &full[k];
		if (a->kind == MESSAGE_ADDRESS_MAILBOX) {
			assert(list[mailboxes] != NULL);
			assert(strlen(a->local) + 1 + strlen(a->domain) == strlen(list[mailboxes]));
			mailboxes++;
		} else if (a->kind == MESSAGE_ADDRESS_GROUP_START) {
			assert(open_groups++ == 0);
		} else {
			assert(open_groups-- == 1);
		}
	}
	assert(open_groups == 0 && list[mailboxes] == NULL);
	message_addresses_free(full, full_count);

	struct buf joined;
	size_t n = 0;
	buf_init(&joined);
	for (; list[n] != NULL; n++) {
		assert(strchr(list[n], '@') != NULL);
		assert(utf8_ok(list[n]));
		char *canonical = message_address_canonical(list[n]);
		assert(strlen(canonical) <= strlen(list[n]));
		assert(strchr(canonical, '@') != NULL);
		char *twice = message_address_canonical(canonical);
		assert(strcmp(twice, canonical) == 0);
		free(twice);
		free(canonical);
		if (n > 0)
			buf_append_str(&joined, ", ");
		buf_append_str(&joined, list[n]);
	}
	if (n > 0) {
		char **again = message_address_list_parse(joined.data, joined.len);
		assert(again != NULL);
		for (size_t i = 0; i < n; i++) {
			assert(again[i] != NULL);
			assert(strcmp(again[i], list[i]) == 0);
		}
		assert(again[n] == NULL);
		message_strv_free(&again);
	}
	buf_free(&joined);
	message_strv_free(&list);
	return 0;
}
