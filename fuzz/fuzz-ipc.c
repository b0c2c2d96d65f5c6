/* fuzz/fuzz-ipc - the IPC frame codec (src/ipc/ipc.c) on a stream of frames,
 * as the client and server read it: ipc_frame_find, then ipc_decode of each
 * frame found, until one is malformed or the input ends.  Invariants:
 * - the stream is read the same way whole and in one-byte steps (every
 *   prefix shorter than a frame is NEED_MORE, never OK or MALFORMED);
 * - a decoded frame re-encodes to exactly its bytes (the decoder accepts
 *   nothing the encoder would not write, and drops nothing);
 * - the field readers agree with the field lengths and never read past them.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ipc/ipc.h"
#include "util/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* check_fields - every reader on every field index of MSG, up to one past */
static void check_fields(const struct ipc_msg *msg)
{
	assert(msg->count <= IPC_FIELDS_MAX);
	for (unsigned i = 0; i <= msg->count; i++) {
		size_t len = i < msg->count ? msg->field[i].len : 0;
		uint32_t v32;
		uint64_t v64;
		const void *d;
		char *t = NULL;
		assert(ipc_field_u32(msg, i, &v32) == (i < msg->count && len == 4));
		assert(ipc_field_u64(msg, i, &v64) == (i < msg->count && len == 8));
		assert(ipc_field_bytes(msg, i, len, &d) == (i < msg->count));
		bool text = ipc_field_text(msg, i, 255, &t);
		bool want = i < msg->count && len >= 1 && len <= 255 &&
			    memchr(msg->field[i].data, '\0', len) == NULL;
		assert(text == want);
		if (text) {
			assert(strlen(t) == len);
			assert(memcmp(t, msg->field[i].data, len) == 0);
		}
		free(t);
	}
}

/* run - read the frames of IN; each decoded frame's bytes go to OUT, and a
 * malformed one ends the stream with "!"; STEP 0 offers all bytes at once */
static void run(const unsigned char *in, size_t len, int step, struct buf *out)
{
	size_t pos = 0;
	while (pos < len) {
		size_t avail = step ? 0 : len - pos;
		size_t flen = 0;
		enum ipc_frame_status st;
		for (;;) {
			/* a copy of exactly AVAIL bytes: ASan sees a read past it */
			unsigned char *p = malloc(avail ? avail : 1);
			assert(p);
			memcpy(p, in + pos, avail);
			st = ipc_frame_find(p, avail, &flen);
			if (st == IPC_FRAME_OK) {
				assert(flen >= 4 + IPC_HEADER_LEN && flen <= avail);
				assert(flen <= 4 + (size_t)IPC_FRAME_MAX);
				struct ipc_msg msg;
				if (ipc_decode(p, flen, &msg) == 0) {
					struct buf again;
					buf_init(&again);
					check_fields(&msg);
					assert(ipc_encode(&again, msg.type, msg.id, msg.count,
							  msg.field) == 0);
					assert(again.len == flen);
					assert(memcmp(again.data, p, flen) == 0);
					buf_free(&again);
					buf_append(out, p, flen);
				} else {
					st = IPC_FRAME_MALFORMED;
				}
			}
			free(p);
			if (st != IPC_FRAME_NEED_MORE || avail == len - pos)
				break;
			/* one byte at a time */
			assert(step);
			avail++;
		}
		if (st == IPC_FRAME_MALFORMED) {
			buf_append_str(out, "!");
			return;
		}
		if (st == IPC_FRAME_NEED_MORE)
			return;
		pos += flen;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf a, b;
	buf_init(&a);
	buf_init(&b);
	run(data, size, 0, &a);
	/* the byte-by-byte pass is quadratic in a frame's size: only on small
	 * inputs */
	if (size <= 4096) {
		run(data, size, 1, &b);
		assert(a.len == b.len && (a.len == 0 || memcmp(a.data, b.data, a.len) == 0));
	}
	buf_free(&a);
	buf_free(&b);
	return 0;
}
