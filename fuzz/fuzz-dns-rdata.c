/* fuzz/fuzz-dns-rdata - the RDATA decoders of src/dns/rdata.c.  The first
 * byte picks the decoder.  Invariants: a decoded name is printable ASCII of
 * bounded length, a TXT text holds no more octets than the record, and a
 * name decoded from a prefix reports a length inside the input. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dns/rdata.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_name(const char *name);

/* check_name - printable, no spaces, as the \ddd escaping promises */
static void check_name(const char *name)
{
	size_t len = strlen(name);
	assert(len > 0 && len < DNS_RDATA_NAME_MAX);
	for (size_t i = 0; i < len; i++)
		assert(name[i] > ' ' && name[i] < 0x7f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned which = data[0] % 5;
	data++;
	size--;
	char *out = NULL;
	unsigned pref;
	size_t used = 0, len = 0;

	switch (which) {
	case 0:
		if (dns_rdata_name(data, size, NULL, &out) == 0)
			check_name(out);
		break;
	case 1:
		if (dns_rdata_name(data, size, &used, &out) == 0) {
			assert(used >= 1 && used <= size && used <= 255);
			check_name(out);
		}
		break;
	case 2:
		if (dns_rdata_txt(data, size, &out, &len) == 0)
			assert(strlen(out) <= len && len <= size);
		break;
	case 3:
		if (dns_rdata_mx(data, size, &pref, &out) == 0) {
			assert(pref <= 65535);
			check_name(out);
		}
		break;
	case 4:
		if (dns_rdata_address(data, size, &out) == 0)
			assert(size == 4 || size == 16);
		break;
	}
	free(out);
	return 0;
}
