/* net/tls - OpenSSL server contexts for STARTTLS and implicit TLS. */
#include "net/net.h"

#include <stdio.h>

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
