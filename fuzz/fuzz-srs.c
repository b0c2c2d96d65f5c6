/* fuzz/fuzz-srs - SRS addresses (src/mailauth/srs.c) on any input: the
 * input reversed as a RCPT address (nothing read past it, an answer only
 * for our domain), and taken as a sender: what srs_forward writes is at our
 * domain, within 64 octets of local part, and reverses to the sender (SRS0)
 * or to the first forwarder's SRS0 address (SRS1). */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fuzz-input.h"
#include "mailauth/mailauth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct srs_settings settings = {
	.secret = "fuzz-secret-0123456789",
	.secret_len = 22,
	.domain = "srs.example.org",
	.max_age = 21,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const long long now = 1764892800LL;
	char *copy = fuzz_input_copy(data, size);
	char *out = NULL;
	const char *error = NULL;
	int ret = srs_reverse(&settings, copy, size, now, &out, &error);
	assert(ret >= -1 && ret <= 1);
	if (ret == 1)
		assert(out != NULL && strchr(out, '@') != NULL);
	else
		assert(out == NULL && (ret == 0 || error != NULL));
	if (ret == 1 || ret == -1)
		assert(srs_address_is_srs(copy, size));
	free(out);
	free(copy);

	/* as a sender: a NUL-terminated string */
	char *sender = malloc(size + 1);
	assert(sender != NULL);
	if (size)
		memcpy(sender, data, size);
	sender[size] = '\0';
	char *srs = NULL;
	error = NULL;
	ret = srs_forward(&settings, sender, now, &srs, &error);
	if (ret == 1) {
		const char *at = strrchr(srs, '@');
		assert(at && strcmp(at + 1, settings.domain) == 0);
		assert(at - srs <= SRS_LOCAL_MAX);
		char *back = NULL;
		int r = srs_reverse(&settings, srs, strlen(srs), now, &back, &error);
		/* what we write reverses, unless its parts are no valid domain */
		if (r == 1 && strncmp(srs, "SRS0", 4) == 0 && strncasecmp(sender, "SRS", 3) != 0)
			assert(strcmp(back, sender) == 0);
		free(back);
		free(srs);
	} else {
		assert(srs == NULL && (ret == 0 || error != NULL));
	}
	free(sender);
	return 0;
}
