/* http/web-rate - how often the pre-login pages may mail (http/web.h): the
 * sign-up and the password reset count, per client address and per address
 * mailed, at most [web] signup_rate events within [web] rate_window
 * seconds.  Keys are kept as their SipHash under a key drawn at start (a
 * client cannot aim collisions at another's key), in a table of [web]
 * rate_entries; when it is full the key whose window began first is
 * forgotten.  A linear scan: the table is small, and these pages are rare
 * next to the loop's other work.  Loop thread only. */
#include "http/web.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "util/siphash.h"
#include "util/xalloc.h"

struct web_rate_entry {
	uint64_t key;
	time_t start;            /* the window's beginning; 0: a free entry */
	unsigned count;
};

struct http_web_rate {
	unsigned char key[SIPHASH_KEY_LEN];
	struct web_rate_entry *entries;
	size_t capacity;
};

struct http_web_rate *http_web_rate_create(size_t entries)
{
	struct http_web_rate *rate = xcalloc(1, sizeof(*rate));
	if (RAND_bytes(rate->key, (int)sizeof(rate->key)) != 1) {
		free(rate);
		return NULL;
	}
	rate->entries = xcalloc(entries, sizeof(*rate->entries));
	rate->capacity = entries;
	return rate;
}

void http_web_rate_free(struct http_web_rate **rate)
{
	if (!*rate)
		return;
	OPENSSL_cleanse((*rate)->key, sizeof((*rate)->key));
	free((*rate)->entries);
	free(*rate);
	*rate = NULL;
}

bool http_web_rate_take(struct http_web_rate *rate, const char *key, time_t now,
			unsigned limit, unsigned window)
{
	uint64_t h = siphash24(rate->key, key, strlen(key));
	struct web_rate_entry *slot = NULL;
	for (size_t i = 0; i < rate->capacity; i++) {
		struct web_rate_entry *e = &rate->entries[i];
		if (e->start != 0 && e->key == h) {
			slot = e;
			break;
		}
		if (!slot || (slot->start != 0 && (e->start == 0 || e->start < slot->start)))
			slot = e;
	}
	if (slot->start == 0 || slot->key != h || now - slot->start >= (time_t)window) {
		slot->key = h;
		slot->start = now;
		slot->count = 0;
	}
	if (slot->count >= limit)
		return false;
	slot->count++;
	return true;
}
