/* tests/unit/http/test-mailsend - SendGrid v3 mail/send requests: refused
 * ones with the error list and field paths SendGrid gives, and accepted
 * ones written as messages compared octet by octet. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/mailsend.h"

static const struct mailsend_limits limits = {
	.personalizations = 3,
	.recipients = 4,
	.categories = 2,
	.custom_args_size = 40,
	.substitutions_size = 40,
	.message_size = 4096,
	.send_at_max = 3600,
};

#define NOW 1765000000
static const struct mailsend_stamp stamp = {
	.date = NOW, .id = "4F2A9C31B7D0E812", .hostname = "mx.example.test",
};

/* a request around PERSONALIZATIONS, with FROM, SUBJECT and CONTENT given */
#define REQ(pers, rest) "{\"personalizations\":" pers ",\"from\":{\"email\":\"a@example.test\"}" rest "}"
#define TO_B "[{\"to\":[{\"email\":\"b@example.test\"}]}]"
#define TEXT ",\"subject\":\"Hi\",\"content\":[{\"type\":\"text/plain\",\"value\":\"Hello\"}]"

struct error_case {
	const char *json;
	const char *fields;   /* the errors' fields, "|" between, "-" for null */
};

static const struct error_case error_cases[] = {
	{ "not json", "-" },
	{ "[1]", "-" },
	{ "{\"a\":1,\"a\":2}", "-" },
	{ "{}", "personalizations|from.email|subject|content" },
	{ REQ("[]", TEXT), "personalizations" },
	{ REQ("[{},{},{},{}]", TEXT), "personalizations" },
	{ REQ("[{}]", TEXT), "personalizations.0.to" },
	{ REQ("[{\"to\":[]}]", TEXT), "personalizations.0.to" },
	{ REQ("[{\"to\":[{\"email\":\"bad\"},{\"name\":\"x\"}]}]", TEXT),
	  "personalizations.0.to.0.email|personalizations.0.to.1.email" },
	{ REQ("[{\"to\":[{\"email\":\"b@example.test\"}],\"bcc\":[{\"email\":\"B@example.test\"}]}]",
	      TEXT), "personalizations.0.bcc" },
	{ REQ("[{\"to\":[{\"email\":\"b@x.test\"},{\"email\":\"c@x.test\"},{\"email\":\"d@x.test\"}]},"
	      "{\"to\":[{\"email\":\"b@x.test\"},{\"email\":\"c@x.test\"}]}]", TEXT), "personalizations" },
	{ REQ(TO_B, ",\"content\":[{\"type\":\"text/plain\",\"value\":\"x\"}]"), "subject" },
	{ REQ("[{\"to\":[{\"email\":\"b@example.test\"}],\"subject\":\"s\"}]",
	      ",\"content\":[{\"type\":\"text/plain\",\"value\":\"x\"}]"), "" },
	{ REQ(TO_B, ",\"subject\":\"s\",\"content\":[{\"type\":\"text/html\",\"value\":\"x\"},"
	      "{\"type\":\"text/plain\",\"value\":\"y\"}]"), "content" },
	{ REQ(TO_B, ",\"subject\":\"s\",\"content\":[{\"type\":\"text/plain\",\"value\":\"\"}]"),
	  "content.0.value" },
	{ REQ(TO_B, ",\"subject\":\"s\",\"content\":[{\"type\":\"text\",\"value\":\"x\"}]"),
	  "content.0.type" },
	{ REQ(TO_B, TEXT ",\"headers\":{\"Subject\":\"x\",\"X-Ok\":\"y\",\"X-Bad\":\"a\\r\\nb\","
	      "\"Bad Name\":\"z\"}"), "headers.Subject|headers.X-Bad|headers.Bad Name" },
	{ REQ(TO_B, TEXT ",\"attachments\":[{\"content\":\"!!\",\"filename\":\"a\"},"
	      "{\"content\":\"QQ==\",\"disposition\":\"inline\"}]"),
	  "attachments.0.content|attachments.1.filename|attachments.1.content_id" },
	{ REQ(TO_B, TEXT ",\"categories\":[\"a\",\"b\",\"c\"]"), "categories" },
	{ REQ(TO_B, TEXT ",\"custom_args\":{\"k\":\"0123456789012345678901234567890123456789\"}"),
	  "custom_args" },
	{ REQ(TO_B, TEXT ",\"send_at\":1765003601"), "send_at" },
	{ REQ(TO_B, TEXT ",\"send_at\":1765003600"), "" },
	{ REQ(TO_B, TEXT ",\"send_at\":1765000000"), "" },
	{ REQ(TO_B, TEXT ",\"send_at\":\"1765000000\""), "send_at" },
	{ REQ(TO_B, TEXT ",\"send_at\":-1"), "send_at" },
	{ REQ("[{\"to\":[{\"email\":\"b@example.test\"}],\"send_at\":1765999999}]", TEXT),
	  "personalizations.0.send_at" },
	{ REQ(TO_B, TEXT ",\"template_id\":\"d-1\""), "template_id" },
	{ REQ(TO_B, TEXT ",\"tracking_settings\":{\"subscription_tracking\":{\"enable\":1}}"),
	  "tracking_settings.subscription_tracking.enable" },
	{ REQ(TO_B, TEXT ",\"tracking_settings\":{\"subscription_tracking\":{\"enable\":true}},"
	      "\"headers\":{\"list-unsubscribe-post\":\"x\",\"List-Unsubscribed\":\"y\"}"),
	  "headers.list-unsubscribe-post" },
	{ REQ(TO_B, TEXT ",\"tracking_settings\":{\"subscription_tracking\":{\"enable\":false}},"
	      "\"headers\":{\"List-Unsubscribe\":\"<mailto:u@x.test>\"}"), "" },
	{ REQ(TO_B, TEXT ",\"reply_to\":{\"email\":\"r@x.test\"},\"reply_to_list\":[]"), "reply_to" },
};

/* fields_of - the "field" of each error, joined as error_cases writes them */
static void fields_of(json_t *errors, char *out, size_t size)
{
	json_t *list = json_object_get(errors, "errors");
	out[0] = '\0';
	for (size_t i = 0; i < json_array_size(list); i++) {
		json_t *e = json_array_get(list, i);
		assert_true(json_is_string(json_object_get(e, "message")));
		assert_true(json_is_null(json_object_get(e, "help")));
		const char *f = json_string_value(json_object_get(e, "field"));
		snprintf(out + strlen(out), size - strlen(out), "%s%s", i ? "|" : "", f ? f : "-");
	}
}

static void test_errors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++) {
		const struct error_case *tc = &error_cases[i];
		struct mailsend_request *r = NULL;
		json_t *errors = NULL;
		int rc = mailsend_parse(tc->json, strlen(tc->json), &limits, NOW, &r, &errors);
		char got[512] = "";
		if (rc != 0)
			fields_of(errors, got, sizeof(got));
		if (strcmp(got, tc->fields) != 0)
			fail_msg("case %zu: %s\n  fields \"%s\", want \"%s\"", i, tc->json, got,
				 tc->fields);
		assert_int_equal(rc, tc->fields[0] ? -1 : 0);
		assert_true((r == NULL) == (rc != 0));
		json_decref(errors);
		mailsend_request_free(&r);
	}
}

/* compose - personalization INDEX of JSON written; the message as text */
static char *compose(const char *json, size_t index)
{
	struct mailsend_request *r = NULL;
	json_t *errors = NULL;
	if (mailsend_parse(json, strlen(json), &limits, NOW, &r, &errors) != 0) {
		char *text = json_dumps(errors, 0);
		fail_msg("refused: %s", text);
	}
	struct buf out;
	buf_init(&out);
	const char *error = NULL;
	assert_int_equal(mailsend_compose(r, index, &limits, &stamp, &out, &error), 0);
	mailsend_request_free(&r);
	buf_append(&out, "", 1);
	return out.data;
}

static void assert_message(const char *json, size_t index, const char *want)
{
	char *got = compose(json, index);
	if (strcmp(got, want) != 0)
		fail_msg("got:\n%s\nwant:\n%s", got, want);
	free(got);
}

#define HEAD_DATE "Date: Sat, 06 Dec 2025 05:46:40 +0000\r\n" \
	"Message-ID: <4F2A9C31B7D0E812@mx.example.test>\r\nMIME-Version: 1.0\r\n"

/* test_send_at - a personalization's send_at over the request's, past or
 * not */
static void test_send_at(void **state)
{
	(void)state;
	const char *json = REQ("[{\"to\":[{\"email\":\"b@example.test\"}],\"send_at\":1765000100},"
			       "{\"to\":[{\"email\":\"c@example.test\"}]},"
			       "{\"to\":[{\"email\":\"d@example.test\"}],\"send_at\":1764000000}]",
			       TEXT ",\"send_at\":1765000200");
	struct mailsend_request *r = NULL;
	json_t *errors = NULL;
	assert_int_equal(mailsend_parse(json, strlen(json), &limits, NOW, &r, &errors), 0);
	assert_int_equal(mailsend_send_at(r, 0), 1765000100);
	assert_int_equal(mailsend_send_at(r, 1), 1765000200);
	assert_int_equal(mailsend_send_at(r, 2), 1764000000);
	mailsend_request_free(&r);
}

static void test_text_only(void **state)
{
	(void)state;
	assert_message(REQ("[{\"to\":[{\"email\":\"b@example.test\",\"name\":\"Bob B\"},"
			   "{\"email\":\"c@example.test\",\"name\":\"Smith, C\"}],"
			   "\"cc\":[{\"email\":\"d@example.test\"}],"
			   "\"bcc\":[{\"email\":\"e@example.test\"}]}]",
			   ",\"subject\":\"Hi\",\"content\":[{\"type\":\"text/plain\","
			   "\"value\":\"line 1\\nline 2\"}],\"headers\":{\"X-Tag\":\"t\"}"), 0,
		       "From: a@example.test\r\n"
		       "To: Bob B <b@example.test>,\r\n \"Smith, C\" <c@example.test>\r\n"
		       "Cc: d@example.test\r\n"
		       "Subject: Hi\r\n" HEAD_DATE
		       "X-Tag: t\r\n"
		       "Content-Type: text/plain; charset=utf-8\r\n"
		       "Content-Transfer-Encoding: 7bit\r\n\r\n"
		       "line 1\r\nline 2\r\n");
}

static void test_non_ascii_and_substitutions(void **state)
{
	(void)state;
	assert_message("{\"personalizations\":[{\"to\":[{\"email\":\"b@example.test\"}],"
			   "\"subject\":\"Grüße -name-\","
			   "\"substitutions\":{\"-name-\":\"Zoë\"},\"headers\":{\"X-P\":\"2\"}},"
			   "{\"to\":[{\"email\":\"c@example.test\"}]}]"
			   ",\"from\":{\"email\":\"a@example.test\",\"name\":\"Émile\"},"
			   "\"reply_to\":{\"email\":\"r@example.test\"},"
			   "\"subject\":\"plain\",\"content\":[{\"type\":\"text/plain\","
			   "\"value\":\"Hi -name-\"}],\"headers\":{\"x-p\":\"1\"}}", 0,
		       "From: =?UTF-8?B?w4ltaWxl?= <a@example.test>\r\n"
		       "Reply-To: r@example.test\r\n"
		       "To: b@example.test\r\n"
		       "Subject: =?UTF-8?B?R3LDvMOfZSBab8Or?=\r\n" HEAD_DATE
		       "X-P: 2\r\n"
		       "Content-Type: text/plain; charset=utf-8\r\n"
		       "Content-Transfer-Encoding: base64\r\n\r\n"
		       "SGkgWm/Dqw0K\r\n");
}

/* the same request's second personalization: its own subject, headers */
static void test_second_personalization(void **state)
{
	(void)state;
	assert_message(REQ("[{\"to\":[{\"email\":\"b@example.test\"}],\"subject\":\"s1\"},"
			   "{\"to\":[{\"email\":\"c@example.test\"}],\"from\":{\"email\":"
			   "\"f@example.test\"}}]",
			   ",\"subject\":\"s2\",\"content\":[{\"type\":\"text/plain\","
			   "\"value\":\"x=_y\"}],\"headers\":{\"X-A\":\"1\"}"), 1,
		       "From: f@example.test\r\n"
		       "To: c@example.test\r\n"
		       "Subject: s2\r\n" HEAD_DATE
		       "X-A: 1\r\n"
		       "Content-Type: text/plain; charset=utf-8\r\n"
		       "Content-Transfer-Encoding: base64\r\n\r\n"
		       "eD1feQ0K\r\n");
}

static void test_alternative_related_mixed(void **state)
{
	(void)state;
	assert_message(REQ(TO_B, ",\"subject\":\"Hi\",\"content\":["
			   "{\"type\":\"text/plain\",\"value\":\"Hello\"},"
			   "{\"type\":\"text/html\",\"value\":\"<img src=\\\"cid:logo\\\">\"}],"
			   "\"attachments\":[{\"content\":\"aGVsbG8=\",\"filename\":\"a \\\"b\\\".txt\","
			   "\"type\":\"text/plain\"},{\"content\":\"iVBO\",\"filename\":\"logo.png\","
			   "\"type\":\"image/png\",\"disposition\":\"inline\",\"content_id\":\"logo\"},"
			   "{\"content\":\"AA==\",\"filename\":\"ü.bin\"}]"), 0,
		       "From: a@example.test\r\n"
		       "To: b@example.test\r\n"
		       "Subject: Hi\r\n" HEAD_DATE
		       "Content-Type: multipart/mixed;\r\n boundary=\"=_4F2A9C31B7D0E812_m\"\r\n\r\n"
		       "--=_4F2A9C31B7D0E812_m\r\n"
		       "Content-Type: multipart/related;\r\n boundary=\"=_4F2A9C31B7D0E812_r\"\r\n\r\n"
		       "--=_4F2A9C31B7D0E812_r\r\n"
		       "Content-Type: multipart/alternative;\r\n boundary=\"=_4F2A9C31B7D0E812_a\"\r\n\r\n"
		       "--=_4F2A9C31B7D0E812_a\r\n"
		       "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n"
		       "Hello\r\n"
		       "--=_4F2A9C31B7D0E812_a\r\n"
		       "Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n"
		       "<img src=\"cid:logo\">\r\n"
		       "--=_4F2A9C31B7D0E812_a--\r\n"
		       "--=_4F2A9C31B7D0E812_r\r\n"
		       "Content-Type: image/png;\r\n name=\"logo.png\"\r\n"
		       "Content-Disposition: inline;\r\n filename=\"logo.png\"\r\n"
		       "Content-Transfer-Encoding: base64\r\nContent-ID: <logo>\r\n\r\n"
		       "iVBO\r\n"
		       "--=_4F2A9C31B7D0E812_r--\r\n"
		       "--=_4F2A9C31B7D0E812_m\r\n"
		       "Content-Type: text/plain;\r\n name=\"a \\\"b\\\".txt\"\r\n"
		       "Content-Disposition: attachment;\r\n filename=\"a \\\"b\\\".txt\"\r\n"
		       "Content-Transfer-Encoding: base64\r\n\r\n"
		       "aGVsbG8=\r\n"
		       "--=_4F2A9C31B7D0E812_m\r\n"
		       "Content-Type: application/octet-stream;\r\n name*=UTF-8''%C3%BC.bin\r\n"
		       "Content-Disposition: attachment;\r\n filename*=UTF-8''%C3%BC.bin\r\n"
		       "Content-Transfer-Encoding: base64\r\n\r\n"
		       "AA==\r\n"
		       "--=_4F2A9C31B7D0E812_m--\r\n");
}

/* substitutions that would grow a message past the size limit refuse it */
static void test_size_limit(void **state)
{
	(void)state;
	char json[2048];
	char value[1001];
	memset(value, 'k', 1000);
	value[1000] = '\0';
	snprintf(json, sizeof(json), REQ("[{\"to\":[{\"email\":\"b@example.test\"}],"
		 "\"substitutions\":{\"k\":\"0123456789012345678901234567890\"}}]",
		 ",\"subject\":\"s\",\"content\":[{\"type\":\"text/plain\",\"value\":\"%s\"}]"),
		 value);
	struct mailsend_request *r = NULL;
	json_t *errors = NULL;
	assert_int_equal(mailsend_parse(json, strlen(json), &limits, NOW, &r, &errors), 0);
	struct buf out;
	buf_init(&out);
	const char *error = NULL;
	assert_int_equal(mailsend_compose(r, 0, &limits, &stamp, &out, &error), -1);
	assert_non_null(error);
	buf_free(&out);
	mailsend_request_free(&r);
}

/* substitutions whose keys all begin like every octet of the text: bounded
 * work (8 key comparisons an octet), refused past it; fewer keys pass */
static int compose_costly(size_t keys)
{
	const struct mailsend_limits big = { .personalizations = 1, .recipients = 1,
					     .custom_args_size = 0, .substitutions_size = 100,
					     .message_size = 1 << 20 };
	struct buf json;
	buf_init(&json);
	buf_append_str(&json, "{\"personalizations\":[{\"to\":[{\"email\":\"b@example.test\"}],"
		       "\"substitutions\":{");
	for (size_t i = 0; i < keys; i++)
		buf_printf(&json, "%s\"a%c\":\"\"", i ? "," : "", (char)('A' + i));
	buf_append_str(&json, "}}],\"from\":{\"email\":\"a@example.test\"},\"subject\":\"s\","
		       "\"content\":[{\"type\":\"text/plain\",\"value\":\"");
	for (size_t i = 0; i < 20000; i++)
		buf_append(&json, "a", 1);
	buf_append_str(&json, "\"}]}");
	struct mailsend_request *r = NULL;
	json_t *errors = NULL;
	assert_int_equal(mailsend_parse(json.data, json.len, &big, NOW, &r, &errors), 0);
	struct buf out;
	buf_init(&out);
	const char *error = NULL;
	int rc = mailsend_compose(r, 0, &big, &stamp, &out, &error);
	if (rc != 0)
		assert_non_null(strstr(error, "too long"));
	buf_free(&out);
	buf_free(&json);
	mailsend_request_free(&r);
	return rc;
}

static void test_substitution_work_bounded(void **state)
{
	(void)state;
	assert_int_equal(compose_costly(4), 0);
	assert_int_equal(compose_costly(20), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_send_at),
		cmocka_unit_test(test_text_only),
		cmocka_unit_test(test_non_ascii_and_substitutions),
		cmocka_unit_test(test_second_personalization),
		cmocka_unit_test(test_alternative_related_mixed),
		cmocka_unit_test(test_size_limit),
		cmocka_unit_test(test_substitution_work_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
