/* ipc - the frame codec of the messages between Petrel's processes (see
 * ipc.h for the wire format).  Pure functions, no I/O: the client, the
 * server, the unit tests and fuzz/fuzz-ipc.c call them directly.
 *
 * Decoding is strict: a frame is accepted only when every length agrees
 * exactly (the u32 length with the bytes given, the u16 field lengths with
 * the frame), so that a decoded frame re-encodes to the same bytes.  Field
 * pointers of a decoded message point into the caller's frame bytes and stay
 * valid as long as those bytes do.
 */
#include "ipc/ipc.h"

#include <string.h>

#include "util/xalloc.h"

static uint32_t get_u32(const unsigned char *p);
static void put_u32(unsigned char *p, uint32_t v);
static bool ipc_type_is_known(uint8_t type);

static uint32_t get_u32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_u32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

/* ipc_type_is_known - TYPE is one of enum ipc_type (anything else is a
 * malformed frame: both ends are the same binary, so an unknown type is a
 * bug or an attack, never a newer peer) */
static bool ipc_type_is_known(uint8_t type)
{
	switch ((enum ipc_type)type) {
	case IPC_AUTH_PASSWORD:
	case IPC_AUTH_SCRAM_START:
	case IPC_AUTH_SCRAM_PROOF:
	case IPC_AUTH_TICKET:
	case IPC_AUTH_APIKEY_LIST:
	case IPC_AUTH_APIKEY_ADD:
	case IPC_AUTH_APIKEY_DEL:
	case IPC_AUTH_APIKEY_SET:
	case IPC_AUTH_PASSWORD_SET:
	case IPC_KEYS_LIST:
	case IPC_KEYS_SIGN:
	case IPC_KEYS_WEBHOOK_KEY:
	case IPC_KEYS_WEBHOOK_SIGN:
	case IPC_R_OK:
	case IPC_R_FAIL:
	case IPC_R_LOCKED:
	case IPC_R_TEMPFAIL:
	case IPC_R_BAD:
		return true;
	}
	return false;
}

/* ipc_frame_find - whether DATA starts with a whole frame; only the u32
 * length is looked at, so a stream reader can fail as soon as 4 bytes say
 * the frame is out of range instead of waiting for up to 4 GiB */
enum ipc_frame_status ipc_frame_find(const unsigned char *data, size_t avail,
				     size_t *frame_len_r)
{
	if (avail < 4)
		return IPC_FRAME_NEED_MORE;
	uint32_t len = get_u32(data);
	if (len < IPC_HEADER_LEN || len > IPC_FRAME_MAX)
		return IPC_FRAME_MALFORMED;
	if (avail - 4 < len)
		return IPC_FRAME_NEED_MORE;
	*frame_len_r = 4 + (size_t)len;
	return IPC_FRAME_OK;
}

/* ipc_decode - FRAME[0..LEN) is exactly one frame (ipc.h's rules) */
int ipc_decode(const unsigned char *frame, size_t len, struct ipc_msg *msg)
{
	if (len < 4 + IPC_HEADER_LEN || len > 4 + (size_t)IPC_FRAME_MAX)
		return -1;
	if (get_u32(frame) != len - 4)
		return -1;
	const unsigned char *p = frame + 4;
	const unsigned char *end = frame + len;
	uint8_t type = p[0];
	uint32_t id = get_u32(p + 1);
	unsigned count = p[5];
	p += IPC_HEADER_LEN;
	if (!ipc_type_is_known(type) || count > IPC_FIELDS_MAX)
		return -1;

	struct ipc_msg m;
	memset(&m, 0, sizeof(m));
	m.type = type;
	m.id = id;
	m.count = count;
	for (unsigned i = 0; i < count; i++) {
		if (end - p < 2)
			return -1;
		size_t flen = (size_t)p[0] << 8 | p[1];
		p += 2;
		if ((size_t)(end - p) < flen)
			return -1;
		m.field[i].data = p;
		m.field[i].len = flen;
		p += flen;
	}
	if (p != end)
		return -1;
	*msg = m;
	return 0;
}

/* ipc_encode - append one frame; nothing on error, so a caller never sends
 * half a frame */
int ipc_encode(struct buf *out, uint8_t type, uint32_t id, unsigned count,
	       const struct ipc_field *fields)
{
	if (!ipc_type_is_known(type) || count > IPC_FIELDS_MAX)
		return -1;
	size_t total = IPC_HEADER_LEN;
	for (unsigned i = 0; i < count; i++) {
		if (fields[i].len > 0xffff)
			return -1;
		total += 2 + fields[i].len;
	}
	if (total > IPC_FRAME_MAX)
		return -1;

	unsigned char head[4 + IPC_HEADER_LEN];
	put_u32(head, (uint32_t)total);
	head[4] = type;
	put_u32(head + 5, id);
	head[9] = (unsigned char)count;
	buf_append(out, head, sizeof(head));
	for (unsigned i = 0; i < count; i++) {
		unsigned char flen[2] = { (unsigned char)(fields[i].len >> 8),
					  (unsigned char)fields[i].len };
		buf_append(out, flen, 2);
		if (fields[i].len)
			buf_append(out, fields[i].data, fields[i].len);
	}
	return 0;
}

bool ipc_field_u32(const struct ipc_msg *msg, unsigned i, uint32_t *v_r)
{
	const void *p;
	if (!ipc_field_bytes(msg, i, 4, &p))
		return false;
	*v_r = get_u32(p);
	return true;
}

bool ipc_field_u64(const struct ipc_msg *msg, unsigned i, uint64_t *v_r)
{
	const void *p;
	if (!ipc_field_bytes(msg, i, 8, &p))
		return false;
	const unsigned char *b = p;
	*v_r = (uint64_t)get_u32(b) << 32 | get_u32(b + 4);
	return true;
}

/* ipc_field_text - a copy of field I that C string functions can use safely:
 * a NUL inside would let "alice\0x" pass as "alice" */
bool ipc_field_text(const struct ipc_msg *msg, unsigned i, size_t max, char **text_r)
{
	if (i >= msg->count)
		return false;
	const struct ipc_field *f = &msg->field[i];
	if (f->len == 0 || f->len > max || memchr(f->data, '\0', f->len) != NULL)
		return false;
	char *s = xmalloc(f->len + 1);
	memcpy(s, f->data, f->len);
	s[f->len] = '\0';
	*text_r = s;
	return true;
}

bool ipc_field_bytes(const struct ipc_msg *msg, unsigned i, size_t len, const void **data_r)
{
	if (i >= msg->count || msg->field[i].len != len)
		return false;
	*data_r = msg->field[i].data;
	return true;
}

struct ipc_field ipc_u32(uint32_t v, unsigned char buf[8])
{
	put_u32(buf, v);
	return (struct ipc_field){ buf, 4 };
}

struct ipc_field ipc_u64(uint64_t v, unsigned char buf[8])
{
	put_u32(buf, (uint32_t)(v >> 32));
	put_u32(buf + 4, (uint32_t)v);
	return (struct ipc_field){ buf, 8 };
}

struct ipc_field ipc_text(const char *s)
{
	return (struct ipc_field){ s, strlen(s) };
}
