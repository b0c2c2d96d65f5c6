/* authd/ticket - make, parse and check a login ticket (see ticket.h). */
#include "authd/ticket.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "util/base64.h"
#include "util/buf.h"
#include "util/hmac.h"

#define TICKET_PREFIX "v1:"
#define TICKET_CONTEXT "petrel-ticket-v1"

static bool ticket_node_char(char c);
static void ticket_mac(const unsigned char *secret, size_t secret_len, const char *account,
		       const char *node, uint64_t expiry, unsigned char mac[32]);

static bool ticket_node_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		c == '.' || c == '-' || c == '_';
}

/* ticket_mac - HMAC-SHA256 over the context, ACCOUNT lower-cased, NODE and
 * EXPIRY (util/hmac.h: NUL-joined, so that no two field lists give one
 * input) */
static void ticket_mac(const unsigned char *secret, size_t secret_len, const char *account,
		       const char *node, uint64_t expiry, unsigned char mac[32])
{
	char number[24];
	char *lower = strdup(account);
	if (!lower)
		abort();
	for (char *p = lower; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	snprintf(number, sizeof(number), "%" PRIu64, expiry);
	const char *fields[] = { TICKET_CONTEXT, lower, node, number };
	hmac_sha256_fields(secret, secret_len, fields, 4, mac);
	free(lower);
}

void authd_ticket_make(const unsigned char *secret, size_t secret_len, const char *account,
		       const char *node, time_t expiry, char out[AUTHD_TICKET_MAX])
{
	size_t node_len = strlen(node);
	assert(node_len > 0 && node_len < sizeof(((struct authd_ticket *)0)->node));
	for (size_t i = 0; i < node_len; i++)
		assert(ticket_node_char(node[i]));
	assert(expiry >= 0);
	unsigned char mac[32];
	ticket_mac(secret, secret_len, account, node, (uint64_t)expiry, mac);
	int n = snprintf(out, AUTHD_TICKET_MAX, TICKET_PREFIX "%" PRIu64 ":%s:", (uint64_t)expiry,
			 node);
	assert(n > 0 && (size_t)n + 64 < AUTHD_TICKET_MAX);
	for (size_t i = 0; i < sizeof(mac); i++)
		snprintf(out + n + 2 * i, 3, "%02x", mac[i]);
	OPENSSL_cleanse(mac, sizeof(mac));
}

int authd_ticket_parse(const char *text, size_t len, struct authd_ticket *t)
{
	const char *p = text, *end = text + len;
	size_t prefix = sizeof(TICKET_PREFIX) - 1;
	memset(t, 0, sizeof(*t));
	if (len < prefix || memcmp(p, TICKET_PREFIX, prefix) != 0)
		return -1;
	p += prefix;
	/* EXPIRY: 1..18 digits, so that it fits in a time_t */
	const char *digits = p;
	while (p < end && *p >= '0' && *p <= '9' && p - digits < 18)
		t->expiry = t->expiry * 10 + (uint64_t)(*p++ - '0');
	if (p == digits || p == end || *p != ':')
		return -1;
	p++;
	size_t n = 0;
	while (p < end && ticket_node_char(*p) && n < sizeof(t->node) - 1)
		t->node[n++] = *p++;
	if (n == 0 || p == end || *p != ':')
		return -1;
	p++;
	if (end - p != 64)
		return -1;
	for (size_t i = 0; i < sizeof(t->mac); i++) {
		unsigned v = 0;
		for (int k = 0; k < 2; k++) {
			char c = *p++;
			if (c >= '0' && c <= '9')
				v = v * 16 + (unsigned)(c - '0');
			else if (c >= 'a' && c <= 'f')
				v = v * 16 + (unsigned)(c - 'a' + 10);
			else
				return -1;
		}
		t->mac[i] = (unsigned char)v;
	}
	return 0;
}

int authd_ticket_check(const unsigned char *secret, size_t secret_len, const char *account,
		       const char *text, size_t len, time_t now, struct authd_ticket *t,
		       const char **reason_r)
{
	unsigned char mac[32];
	int rc = -1;
	if (authd_ticket_parse(text, len, t) != 0) {
		*reason_r = "ticket-malformed";
		return -1;
	}
	ticket_mac(secret, secret_len, account, t->node, t->expiry, mac);
	if (!hmac_equal(mac, t->mac))
		*reason_r = "ticket-forged";
	else if (now < 0 || t->expiry < (uint64_t)now)
		*reason_r = "ticket-expired";
	else
		rc = 0;
	OPENSSL_cleanse(mac, sizeof(mac));
	return rc;
}

void authd_ticket_plain(const char *account, const char *ticket, struct buf *out)
{
	struct buf plain;
	buf_init(&plain);
	buf_append(&plain, account, strlen(account) + 1);
	buf_append(&plain, AUTHD_CLUSTER_USER, sizeof(AUTHD_CLUSTER_USER));
	buf_append_str(&plain, ticket);
	base64_encode(plain.data, plain.len, out);
	OPENSSL_cleanse(plain.data, plain.len);
	buf_free(&plain);
}
