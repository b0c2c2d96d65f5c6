/* fuzz/fuzz-webhook - the event webhook's settings bodies and URL
 * (src/http/webhook-parse.c) on arbitrary input.  The first octet picks
 * the parser (0: settings, 1: signed, 2: URL, 3: the status line of a
 * receiver's answer); the rest is the input.  A
 * URL accepted has a host, a port and a target starting with '/'; settings
 * accepted that are enabled have a URL; refused settings are unchanged. */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz-input.h"
#include "http/webhook.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_one(uint8_t selector, const char *in, size_t len)
{
	const char *error = NULL, *field = NULL;
	switch (selector % 4) {
	case 0: {
		static struct http_webhook_settings s, before;
		memset(&s, 0, sizeof(s));
		s.events = 1;
		before = s;
		if (http_webhook_settings_parse(in, len, &s, &error, &field) == 0)
			assert(!s.enabled || s.url[0] != '\0');
		else
			assert(error && memcmp(&s, &before, sizeof(s)) == 0);
		break;
	}
	case 1: {
		bool enabled;
		if (http_webhook_signed_parse(in, len, &enabled, &error, &field) != 0)
			assert(error);
		break;
	}
	case 3: {
		int code = 0;
		int rc = http_webhook_status_parse(in, len, &code);
		assert(rc != 1 || (code >= 100 && code <= 599 && len >= 12 &&
				   memcmp(in, "HTTP/1.", 7) == 0));
		break;
	}
	default: {
		static struct http_webhook_url u;
		if (http_webhook_url_parse(in, len, &u, &error) == 0)
			assert(u.host[0] != '\0' && u.port != 0 && u.target[0] == '/' &&
			       (u.tls || u.loopback));
		else
			assert(error);
		break;
	}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_input_selected(data, size, fuzz_one);
}
