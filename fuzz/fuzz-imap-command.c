/* fuzz/fuzz-imap-command - the IMAP command reader and argument parser
 * (src/imap/parse-reader.c, parse-args.c, parse-values.c) on arbitrary
 * streams: the first octet picks the piece size and the limits; each
 * command the reader gives is parsed, every argument must lie inside it
 * and be NUL-terminated where its length says, and atoms and strings go
 * through the sequence-set and date parsers (a set normalized must hold the
 * same numbers as given, in disjoint sorted ranges). */
#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imap/parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_fetch(const struct imap_arg *args, size_t count)
{
	struct imap_fetch fetch;
	const char *error;
	if (imap_fetch_parse(args, count, &fetch, &error) == 0) {
		assert(fetch.count > 0);
		for (size_t i = 0; i < fetch.count; i++) {
			const struct imap_fetch_item *it = &fetch.items[i];
			assert(it->name != NULL && it->parts <= IMAP_SECTION_DEPTH_MAX);
			assert(!it->partial || it->length > 0);
		}
		imap_fetch_free(&fetch);
	} else {
		assert(error != NULL && fetch.items == NULL);
	}
}

static size_t count_keys(const struct imap_search_key *key, unsigned depth)
{
	assert(depth <= IMAP_SEARCH_DEPTH_MAX + 1);
	size_t n = 1;
	for (size_t i = 0; i < key->count; i++)
		n += count_keys(&key->children[i], depth + 1);
	return n;
}

static void check_search(const struct imap_arg *args, size_t count)
{
	struct imap_search search;
	const char *error;
	if (imap_search_parse(args, count, &search, &error) == 0) {
		assert(search.root.count > 0);
		(void)count_keys(&search.root, 0);
		imap_search_free(&search);
	} else {
		assert(error != NULL);
	}
}

static void check_args(const char *cmd, size_t len, const struct imap_arg *args, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		const struct imap_arg *a = &args[i];
		if (a->type == IMAP_ARG_LIST) {
			check_args(cmd, len, a->list, a->count);
			continue;
		}
		assert(a->data >= cmd && a->data + a->len < cmd + len);
		assert(a->data[a->len] == '\0');
		if (a->type != IMAP_ARG_LITERAL8)
			assert(memchr(a->data, '\0', a->len) == NULL);
		struct imap_seqset set;
		const char *error;
		if (imap_seqset_parse(a->data, a->len, &set, &error) == 0) {
			imap_seqset_resolve(&set, 1000);
			for (size_t k = 0; k < set.count; k++)
				assert(set.ranges[k].lo <= set.ranges[k].hi);
			/* normalized: sorted, disjoint, the same members */
			struct imap_seq_range *plain = set.count ? malloc(set.count * sizeof(*plain)) : NULL;
			size_t plain_count = set.count;
			if (plain)
				memcpy(plain, set.ranges, set.count * sizeof(*plain));
			imap_seqset_normalize(&set);
			for (size_t k = 1; k < set.count; k++)
				assert(set.ranges[k].lo > set.ranges[k - 1].hi + 1);
			for (size_t k = 0; k < plain_count; k++) {
				const uint32_t probes[] = { plain[k].lo - 1, plain[k].lo, plain[k].hi,
							    plain[k].hi + 1 };
				for (size_t q = 0; q < 4; q++) {
					bool in = false;
					for (size_t r = 0; r < plain_count; r++)
						in |= probes[q] >= plain[r].lo && probes[q] <= plain[r].hi;
					assert(imap_seqset_contains(&set, probes[q]) == in);
				}
			}
			free(plain);
			imap_seqset_free(&set);
		}
		time_t t;
		(void)imap_date_time_parse(a->data, a->len, &t);
		(void)imap_date_parse(a->data, a->len, &t);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned piece = 1 + (data[0] & 0x0f);
	struct imap_reader_limits limits = {
		.line_max = data[0] & 0x10 ? 24 : 4096,
		.literal_max = data[0] & 0x20 ? 8 : 4096,
		.command_max = data[0] & 0x80 ? 96 : 8192,
		.literals_max = data[0] & 0x40 ? 2 : 16,
	};
	struct imap_parse_limits parse_limits = { .depth_max = 4, .args_max = 64 };
	/* the reader raises command_max to line_max */
	size_t command_max = limits.command_max < limits.line_max ? limits.line_max
								  : limits.command_max;
	data++;
	size--;
	struct imap_reader *r = imap_reader_new(&limits);
	size_t pos = 0;
	while (pos < size) {
		size_t n = size - pos < piece ? size - pos : piece;
		size_t off = 0;
		while (off < n) {
			size_t used = 0;
			enum imap_read ev = imap_reader_feed(r, (const char *)data + pos + off,
							     n - off, &used);
			assert(used <= n - off);
			off += used;
			if (ev == IMAP_READ_COMMAND) {
				size_t len;
				char *cmd = imap_reader_command(r, &len);
				assert(len <= command_max);
				struct imap_command c;
				const char *tag, *error;
				if (imap_command_parse(cmd, len, &parse_limits, &c, &tag,
						       &error) == 0) {
					check_args(cmd, len, c.args, c.count);
					check_fetch(c.args, c.count);
					check_search(c.args, c.count);
					if (c.count > 0)
						check_fetch(c.args + 1, c.count - 1);
					imap_command_free(&c);
				} else {
					assert(error != NULL);
				}
				imap_reader_next(r);
			} else if (ev == IMAP_READ_REFUSED) {
				assert(imap_reader_error(r) != NULL);
				imap_reader_next(r);
			} else if (ev == IMAP_READ_MORE) {
				assert(off == n);
			}
		}
		pos += n;
	}
	imap_reader_free(&r);
	return 0;
}
