/* fuzz/fuzz-form - HTML form bodies and the Cookie header (src/http/form.c)
 * on arbitrary input.  The first octet picks the parser (bit 0: a cookie,
 * bit 1 its name, "s" or "__Host-s"; else a form); the rest is the input.  A form accepted has at most its
 * limit of fields, each name not empty and found again by http_form_get,
 * no value with a control character; a cookie found has only
 * cookie-octets. */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-input.h"
#include "http/form.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_form(const char *in, size_t len)
{
	static const struct http_form_limits limits = { .fields = 16, .field_size = 1024 };
	struct http_form form;
	const char *error = NULL;
	if (http_form_parse(in, len, &limits, &form, &error) < 0) {
		assert(error != NULL);
		return;
	}
	assert(form.count <= limits.fields);
	for (size_t i = 0; i < form.count; i++) {
		assert(form.fields[i].name[0] != '\0');
		assert(http_form_get(&form, form.fields[i].name) == form.fields[i].value);
		for (const char *p = form.fields[i].value; *p; p++)
			assert((unsigned char)*p >= 0x20 && *p != 0x7f);
	}
	http_form_clear(&form);
}

static void fuzz_cookie(const char *in, size_t len, const char *name)
{
	char *value = NULL;
	const char *error = NULL;
	int rc = http_cookie_get(in, len, name, &value, &error);
	if (rc < 0)
		assert(error != NULL);
	if (rc != 1)
		return;
	for (const char *p = value; *p; p++)
		assert(*p > 0x20 && *p < 0x7f && *p != ';' && *p != '"' && *p != ',' &&
		       *p != '\\');
	assert(strlen(value) < len);
	free(value);
}

static void fuzz_one(uint8_t selector, const char *in, size_t len)
{
	if (selector & 1)
		fuzz_cookie(in, len, selector & 2 ? "__Host-s" : "s");
	else
		fuzz_form(in, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_input_selected(data, size, fuzz_one);
}
