/* net/tls - OpenSSL server contexts for STARTTLS and implicit TLS. */
#include "net/net.h"

#include <stdio.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>

static char tls_error[512];

static const char *tls_error_text(const char *what, const char *file);

/* tls_error_text - format WHAT and FILE with OpenSSL's first queued error */
static const char *tls_error_text(const char *what, const char *file)
{
	unsigned long err = ERR_get_error();
	char detail[256] = "unknown error";
	if (err)
		ERR_error_string_n(err, detail, sizeof(detail));
	snprintf(tls_error, sizeof(tls_error), "%s %s: %s", what, file, detail);
	ERR_clear_error();
	return tls_error;
}

SSL_CTX *net_tls_server_ctx(const char *cert, const char *key, const char **error_r)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx) {
		*error_r = tls_error_text("cannot create TLS context for", cert);
		return NULL;
	}
	/* RFC 8996: TLS 1.0 and 1.1 are deprecated. */
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
			    SSL_OP_NO_COMPRESSION);
	/* Idle connections should not keep 2 x 16 KiB of TLS buffers each. */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		*error_r = tls_error_text("cannot load certificate", cert);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		*error_r = tls_error_text("cannot load private key", key);
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		*error_r = tls_error_text("private key does not match certificate", cert);
		goto fail;
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

void net_tls_describe(SSL *ssl, char *buf, size_t size)
{
	const SSL_CIPHER *cipher = SSL_get_current_cipher(ssl);
	int bits = cipher ? SSL_CIPHER_get_bits(cipher, NULL) : 0;
	snprintf(buf, size, "version=%s cipher=%s bits=%d", SSL_get_version(ssl),
		 cipher ? SSL_CIPHER_get_name(cipher) : "none", bits);
}

void net_tls_close_notify(struct bufferevent *bev)
{
	SSL *ssl = bufferevent_openssl_get_ssl(bev);
	if (!ssl || (SSL_get_shutdown(ssl) & SSL_SENT_SHUTDOWN) || !SSL_is_init_finished(ssl))
		return;
	/* libevent frees the SSL without SSL_shutdown: peers such as Exim
	 * then log "TLS connection was non-properly terminated".  On a socket
	 * BIO the alert goes straight to the socket; under a filter it lands in
	 * the socket bufferevent's output, written here. */
	if (SSL_shutdown(ssl) < 0)
		ERR_clear_error();
	struct bufferevent *under = bufferevent_get_underlying(bev);
	if (under)
		net_bufferevent_write_now(under);
}

size_t net_bufferevent_pending(struct bufferevent *bev)
{
	size_t n = 0;
	for (; bev; bev = bufferevent_get_underlying(bev))
		n += evbuffer_get_length(bufferevent_get_output(bev));
	return n;
}

void net_bufferevent_write_now(struct bufferevent *bev)
{
	struct evbuffer *out = bufferevent_get_output(bev);
	if (evbuffer_get_length(out) == 0)
		return;
	/* A socket bufferevent keeps the front of its output frozen except
	 * while its own write callback runs; do as that callback does. */
	evbuffer_unfreeze(out, 1);
	(void)evbuffer_write(out, bufferevent_getfd(bev));
	evbuffer_freeze(out, 1);
}
