/* imap/compress - COMPRESS=DEFLATE (RFC 4978): a libevent filter that
 * inflates what the client sends and deflates what the session writes,
 * raw DEFLATE (RFC 1951) both ways, the output flushed (Z_SYNC_FLUSH)
 * whenever the session has written all it had, so that every reply
 * reaches the client at once. */
#include "imap/session.h"

#include <stdlib.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <zlib.h>

#include "util/xalloc.h"

#define COMPRESS_CHUNK 16384u

struct compress_state {
	z_stream in;   /* inflating the client's octets */
	z_stream out;  /* deflating ours */
	bool in_ready, out_ready;
	bool broken;              /* the client's stream failed: the rest is dropped */
	struct bufferevent *bev;  /* the filter, told of a broken stream */
	struct bufferevent *under;
};

static enum bufferevent_filter_result compress_input(struct evbuffer *src, struct evbuffer *dst,
						     ev_ssize_t dst_limit,
						     enum bufferevent_flush_mode mode, void *ctx);
static enum bufferevent_filter_result compress_output(struct evbuffer *src,
						      struct evbuffer *dst, ev_ssize_t dst_limit,
						      enum bufferevent_flush_mode mode, void *ctx);
static void compress_state_free(void *ctx);
static void compress_read_under(struct compress_state *c);
static void compress_drained_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info,
				void *arg);

static void compress_state_free(void *ctx)
{
	struct compress_state *c = ctx;
	if (c->in_ready)
		inflateEnd(&c->in);
	if (c->out_ready)
		deflateEnd(&c->out);
	free(c);
}

/* compress_input - inflate SRC into DST, at most DST_LIMIT octets a call
 * (the session's read watermark: a small input never becomes an unbounded
 * buffer).  A stream that fails or ends is an error event on the filter:
 * libevent ignores the BEV_ERROR of an input filter. */
static enum bufferevent_filter_result compress_input(struct evbuffer *src, struct evbuffer *dst,
						     ev_ssize_t dst_limit,
						     enum bufferevent_flush_mode mode, void *ctx)
{
	struct compress_state *c = ctx;
	(void)mode;
	if (c->broken) {
		evbuffer_drain(src, evbuffer_get_length(src));
		return BEV_ERROR;
	}
	size_t limit = dst_limit > 0 ? (size_t)dst_limit : COMPRESS_CHUNK;
	size_t produced = 0;
	while (evbuffer_get_length(src) > 0 && produced < limit) {
		struct evbuffer_iovec in_vec;
		if (evbuffer_peek(src, -1, NULL, &in_vec, 1) < 1)
			break;
		size_t want = limit - produced < COMPRESS_CHUNK ? limit - produced : COMPRESS_CHUNK;
		struct evbuffer_iovec out_vec;
		if (evbuffer_reserve_space(dst, (ev_ssize_t)want, &out_vec, 1) < 1)
			return BEV_ERROR;
		c->in.next_in = in_vec.iov_base;
		c->in.avail_in = (uInt)in_vec.iov_len;
		c->in.next_out = out_vec.iov_base;
		c->in.avail_out = (uInt)want;
		int rc = inflate(&c->in, Z_SYNC_FLUSH);
		size_t used = in_vec.iov_len - c->in.avail_in;
		size_t made = want - c->in.avail_out;
		out_vec.iov_len = made;
		evbuffer_commit_space(dst, &out_vec, 1);
		evbuffer_drain(src, used);
		produced += made;
		if (rc == Z_STREAM_END || (rc != Z_OK && rc != Z_BUF_ERROR)) {
			/* a broken or ended stream: the connection ends (from
			 * the loop: the session may be writing right now) */
			c->broken = true;
			evbuffer_drain(src, evbuffer_get_length(src));
			bufferevent_trigger_event(c->bev, BEV_EVENT_READING | BEV_EVENT_ERROR,
						  BEV_TRIG_DEFER_CALLBACKS);
			return BEV_ERROR;
		}
		if (used == 0 && made == 0)
			break;  /* needs more input */
	}
	return produced > 0 ? BEV_OK : BEV_NEED_MORE;
}

/* compress_output - deflate all of SRC into DST and flush */
static enum bufferevent_filter_result compress_output(struct evbuffer *src,
						      struct evbuffer *dst, ev_ssize_t dst_limit,
						      enum bufferevent_flush_mode mode, void *ctx)
{
	struct compress_state *c = ctx;
	(void)dst_limit;
	(void)mode;
	if (evbuffer_get_length(src) == 0)
		return BEV_NEED_MORE;
	while (evbuffer_get_length(src) > 0) {
		struct evbuffer_iovec in_vec;
		if (evbuffer_peek(src, -1, NULL, &in_vec, 1) < 1)
			break;
		c->out.next_in = in_vec.iov_base;
		c->out.avail_in = (uInt)in_vec.iov_len;
		bool last = evbuffer_get_length(src) == in_vec.iov_len;
		do {
			struct evbuffer_iovec out_vec;
			if (evbuffer_reserve_space(dst, COMPRESS_CHUNK, &out_vec, 1) < 1)
				return BEV_ERROR;
			c->out.next_out = out_vec.iov_base;
			c->out.avail_out = COMPRESS_CHUNK;
			int rc = deflate(&c->out, last ? Z_SYNC_FLUSH : Z_NO_FLUSH);
			out_vec.iov_len = COMPRESS_CHUNK - c->out.avail_out;
			evbuffer_commit_space(dst, &out_vec, 1);
			if (rc != Z_OK && rc != Z_BUF_ERROR)
				return BEV_ERROR;
		} while (c->out.avail_out == 0);
		evbuffer_drain(src, in_vec.iov_len - c->out.avail_in);
	}
	return BEV_OK;
}

struct bufferevent *imap_compress_start(struct bufferevent *under)
{
	struct compress_state *c = xcalloc(1, sizeof(*c));
	/* RFC 4978 4: raw DEFLATE, no zlib header (negative window bits) */
	if (inflateInit2(&c->in, -15) != Z_OK) {
		free(c);
		return NULL;
	}
	c->in_ready = true;
	if (deflateInit2(&c->out, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8,
			 Z_DEFAULT_STRATEGY) != Z_OK) {
		compress_state_free(c);
		return NULL;
	}
	c->out_ready = true;
	struct bufferevent *bev = bufferevent_filter_new(under, compress_input, compress_output,
							 BEV_OPT_CLOSE_ON_FREE, compress_state_free,
							 c);
	if (!bev) {
		compress_state_free(c);
		return NULL;
	}
	c->bev = bev;
	c->under = under;
	evbuffer_add_cb(bufferevent_get_input(bev), compress_drained_cb, c);
	/* what the client sent right after COMPRESS is compressed already, and
	 * read through the filter as new input is (from the loop, once the
	 * session has set the filter's callbacks and watermark) */
	compress_read_under(c);
	return bev;
}

/* compress_read_under - run the filter's read of what UNDER holds, from the
 * loop.  The filter inflates within its read watermark; what stays in
 * UNDER's input would wait for the next octets from the socket (libevent
 * 2.1 reads on only then), perhaps for ever: the session's drain of the
 * inflated input asks again (compress_drained_cb). */
static void compress_read_under(struct compress_state *c)
{
	if (evbuffer_get_length(bufferevent_get_input(c->under)) > 0)
		bufferevent_trigger(c->under, EV_READ,
				    BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
}

static void compress_drained_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info,
				void *arg)
{
	(void)buf;
	if (info->n_deleted > 0)
		compress_read_under(arg);
}
