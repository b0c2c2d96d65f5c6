/* fuzz/fuzz-mailsend - SendGrid v3 mail/send bodies (src/http/mailsend-*.c)
 * on arbitrary input: a refusal is a non-empty error list in SendGrid's
 * shape; an accepted request is within the limits and each of its
 * personalizations is written within the size limit, or refused for it,
 * as a message whose header section ends with an empty line. */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "http/mailsend.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct mailsend_limits limits = {
		.personalizations = 4, .recipients = 8, .categories = 3,
		.custom_args_size = 200, .substitutions_size = 200, .message_size = 65536,
		.send_at_max = 259200,
	};
	const struct mailsend_stamp stamp = { .date = 1765000000, .id = "4F2A9C31B7D0E812",
					      .hostname = "mx.example.test" };
	struct mailsend_request *r = NULL;
	json_t *errors = NULL;
	if (mailsend_parse((const char *)data, size, &limits, 1765000000, &r, &errors) != 0) {
		assert(r == NULL);
		json_t *list = json_object_get(errors, "errors");
		assert(json_array_size(list) > 0);
		for (size_t i = 0; i < json_array_size(list); i++)
			assert(json_is_string(json_object_get(json_array_get(list, i), "message")));
		json_decref(errors);
		return 0;
	}
	assert(r->personalization_count >= 1 && r->personalization_count <= limits.personalizations);
	assert(r->recipient_count <= limits.recipients);
	for (size_t i = 0; i < r->personalization_count; i++) {
		struct buf out;
		buf_init(&out);
		const char *error = NULL;
		if (mailsend_compose(r, i, &limits, &stamp, &out, &error) == 0) {
			assert(out.len <= limits.message_size);
			assert(out.len >= 4 && memmem(out.data, out.len, "\r\n\r\n", 4) != NULL);
			assert(memchr(out.data, '\0', out.len) == NULL);
			assert(mailsend_sender(r, i) != NULL);
		} else {
			assert(error != NULL);
		}
		buf_free(&out);
	}
	mailsend_request_free(&r);
	return 0;
}
