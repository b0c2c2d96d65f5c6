/* test-webhook - the event webhook's settings bodies and URL
 * (src/http/webhook-parse.c): tables of accepted and refused input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "http/webhook.h"
#include "store/store.h"

#include <jansson.h>

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define BIT(e) (1u << (e))

static void test_url(void **state)
{
	(void)state;
	const struct {
		const char *url;
		int rc;
		bool tls;
		const char *host;
		unsigned port;
		const char *target;
		bool loopback;
	} cases[] = {
		{ "https://hooks.example.net/sg/events?k=1", 0, true, "hooks.example.net", 443,
		  "/sg/events?k=1", false },
		{ "https://hooks.example.net", 0, true, "hooks.example.net", 443, "/", false },
		{ "https://hooks.example.net?x", 0, true, "hooks.example.net", 443, "/?x", false },
		{ "https://Hooks.Example.NET:8443/", 0, true, "Hooks.Example.NET", 8443, "/", false },
		{ "http://127.0.0.5:8080/in", 0, false, "127.0.0.5", 8080, "/in", true },
		{ "http://[::1]:9/x", 0, false, "::1", 9, "/x", true },
		{ "https://[2001:db8::1]/x", 0, true, "2001:db8::1", 443, "/x", false },
		{ "http://localhost/", 0, false, "localhost", 80, "/", true },
		{ "https://127.0.0.1:65535/", 0, true, "127.0.0.1", 65535, "/", true },
		/* refused */
		{ .url = "http://hooks.example.net/", .rc = -1 },           /* http, not loopback */
		{ .url = "http://10.0.0.1/", .rc = -1 },
		{ .url = "ftp://hooks.example.net/", .rc = -1 },
		{ .url = "https://", .rc = -1 },
		{ .url = "https:///x", .rc = -1 },
		{ .url = "https://user@hooks.example.net/", .rc = -1 },
		{ .url = "https://hooks.example.net/#frag", .rc = -1 },
		{ .url = "https://hooks.example.net/a b", .rc = -1 },
		{ .url = "https://hooks.example.net:0/", .rc = -1 },
		{ .url = "https://hooks.example.net:65536/", .rc = -1 },
		{ .url = "https://hooks.example.net:/", .rc = -1 },
		{ .url = "https://hooks.example.net:123456/", .rc = -1 },
		{ .url = "https://hooks.exa_mple.net/", .rc = -1 },
		{ .url = "https://[::1/", .rc = -1 },
		{ .url = "https://[nothex]/", .rc = -1 },
		{ .url = "https://h\xc3\xa9.example/", .rc = -1 },
		{ .url = "", .rc = -1 },
	};
	for (size_t i = 0; i < N(cases); i++) {
		struct http_webhook_url u;
		const char *error = NULL;
		int rc = http_webhook_url_parse(cases[i].url, strlen(cases[i].url), &u, &error);
		if (rc != cases[i].rc)
			fail_msg("%s: %d, expected %d (%s)", cases[i].url, rc, cases[i].rc,
				 error ? error : "");
		if (rc != 0) {
			assert_non_null(error);
			continue;
		}
		assert_int_equal(u.tls, cases[i].tls);
		assert_string_equal(u.host, cases[i].host);
		assert_int_equal(u.port, cases[i].port);
		assert_string_equal(u.target, cases[i].target);
		assert_int_equal(u.loopback, cases[i].loopback);
	}
	/* the length bound */
	char url[HTTP_WEBHOOK_URL_MAX + 2];
	struct http_webhook_url u;
	const char *error = NULL;
	memset(url, 'a', sizeof(url));
	memcpy(url, "https://h/", 10);
	assert_int_equal(http_webhook_url_parse(url, HTTP_WEBHOOK_URL_MAX, &u, &error), 0);
	assert_int_equal(strlen(u.target), HTTP_WEBHOOK_URL_MAX - 9);
	assert_int_equal(http_webhook_url_parse(url, HTTP_WEBHOOK_URL_MAX + 1, &u, &error), -1);
}

static void test_settings(void **state)
{
	(void)state;
	const struct {
		const char *body;
		int rc;
		bool enabled;
		const char *url;
		uint32_t events;
		const char *field;   /* on error */
	} cases[] = {
		/* from {enabled: false, url: "", events: processed} */
		{ "{\"enabled\":true,\"url\":\"https://h.test/e\",\"delivered\":true,\"bounce\":true}",
		  0, true, "https://h.test/e",
		  BIT(HTTP_WEBHOOK_PROCESSED) | BIT(HTTP_WEBHOOK_DELIVERED) | BIT(HTTP_WEBHOOK_BOUNCE), NULL },
		{ "{\"processed\":false,\"group_resubscribe\":true,\"friendly_name\":\"x\","
		  "\"oauth_client_id\":\"y\"}", 0, false, "", BIT(HTTP_WEBHOOK_GROUP_RESUBSCRIBE), NULL },
		{ "{\"url\":\"http://127.0.0.2:8000/\",\"dropped\":null}", 0, false,
		  "http://127.0.0.2:8000/", BIT(HTTP_WEBHOOK_PROCESSED), NULL },
		{ "{}", 0, false, "", BIT(HTTP_WEBHOOK_PROCESSED), NULL },
		{ "{\"enabled\":null,\"url\":null}", 0, false, "", BIT(HTTP_WEBHOOK_PROCESSED), NULL },
		/* refused, the settings unchanged */
		{ .body = "{\"enabled\":true}", .rc = -1, .field = "url" },
		{ .body = "{\"enabled\":true,\"url\":\"\"}", .rc = -1, .field = "url" },
		{ .body = "{\"enabled\":\"yes\"}", .rc = -1, .field = "enabled" },
		{ .body = "{\"delivered\":1}", .rc = -1, .field = "delivered" },
		{ .body = "{\"url\":\"http://hooks.example.net/\"}", .rc = -1, .field = "url" },
		{ .body = "{\"url\":5}", .rc = -1, .field = "url" },
		{ .body = "{\"url\":\"https://a\\u0000b/\"}", .rc = -1 },
		{ .body = "{\"bounce\":true,\"bounce\":false}", .rc = -1 },
		{ .body = "[true]", .rc = -1 },
		{ .body = "{\"enabled\":true", .rc = -1 },
		{ .body = "", .rc = -1 },
	};
	for (size_t i = 0; i < N(cases); i++) {
		struct http_webhook_settings s = { .enabled = false,
						   .events = BIT(HTTP_WEBHOOK_PROCESSED) };
		const char *error = NULL, *field = NULL;
		int rc = http_webhook_settings_parse(cases[i].body, strlen(cases[i].body), &s, &error,
						     &field);
		if (rc != cases[i].rc)
			fail_msg("%s: %d, expected %d (%s)", cases[i].body, rc, cases[i].rc,
				 error ? error : "");
		if (rc != 0) {
			assert_non_null(error);
			if (cases[i].field)
				assert_string_equal(field, cases[i].field);
			else
				assert_null(field);
			assert_false(s.enabled);
			assert_string_equal(s.url, "");
			assert_int_equal(s.events, BIT(HTTP_WEBHOOK_PROCESSED));
			continue;
		}
		assert_int_equal(s.enabled, cases[i].enabled);
		assert_string_equal(s.url, cases[i].url);
		assert_int_equal(s.events, cases[i].events);
	}
	/* turned off, it keeps its URL */
	struct http_webhook_settings s = { .enabled = true, .url = "https://h.test/" };
	const char *error = NULL, *field = NULL;
	assert_int_equal(http_webhook_settings_parse("{\"enabled\":false}", 17, &s, &error,
						     &field), 0);
	assert_false(s.enabled);
	assert_string_equal(s.url, "https://h.test/");
}

static void test_signed(void **state)
{
	(void)state;
	bool enabled = false;
	const char *error = NULL, *field = NULL;
	assert_int_equal(http_webhook_signed_parse("{\"enabled\":true}", 16, &enabled, &error,
						   &field), 0);
	assert_true(enabled);
	assert_int_equal(http_webhook_signed_parse("{\"enabled\":false,\"x\":1}", 23, &enabled,
						   &error, &field), 0);
	assert_false(enabled);
	const char *bad[] = { "{}", "{\"enabled\":1}", "{\"enabled\":null}", "true", "{" };
	for (size_t i = 0; i < N(bad); i++) {
		error = NULL;
		assert_int_equal(http_webhook_signed_parse(bad[i], strlen(bad[i]), &enabled, &error,
							   &field), -1);
		assert_non_null(error);
	}
}

static void test_event_names(void **state)
{
	(void)state;
	assert_string_equal(http_webhook_event_name(HTTP_WEBHOOK_BOUNCE), "bounce");
	assert_string_equal(http_webhook_event_name(HTTP_WEBHOOK_SPAM_REPORT), "spam_report");
	assert_string_equal(http_webhook_event_name(HTTP_WEBHOOK_EVENTS), "?");
}

static void test_status_line(void **state)
{
	(void)state;
	const struct {
		const char *in;
		int rc, code;
	} cases[] = {
		{ "HTTP/1.1 200 OK\r\n", 1, 200 },
		{ "HTTP/1.0 500 Internal Server Error\r\nContent-Length: 0\r\n", 1, 500 },
		{ "HTTP/1.1 204\r\n", 1, 204 },
		{ "HTTP/1.1 302 \n", 1, 302 },
		{ "HTTP/1.1 200 OK", 0, 0 },
		{ "HTTP/1.", 0, 0 },
		{ "", 0, 0 },
		{ "HTTP/2 200\r\n", -1, 0 },
		{ "HTTP/1.1 20 OK\r\n", -1, 0 },
		{ "HTTP/1.1 2000 OK\r\n", -1, 0 },
		{ "HTTP/1.1 099 x\r\n", -1, 0 },
		{ "HTTP/1.1 600 x\r\n", -1, 0 },
		{ "HTTP/1.1  200\r\n", -1, 0 },
		{ "SMTP 220 hello\r\n", -1, 0 },
		{ "\r\n", -1, 0 },
	};
	for (size_t i = 0; i < N(cases); i++) {
		/* whole, and every shorter prefix: never done early, never refused
		 * for what could still come right */
		size_t len = strlen(cases[i].in);
		for (size_t k = 0; k <= len; k++) {
			int code = 0;
			int rc = http_webhook_status_parse(cases[i].in, k, &code);
			if (k == len && (rc != cases[i].rc || (rc == 1 && code != cases[i].code)))
				fail_msg("\"%s\": %d %d", cases[i].in, rc, code);
			if (k < len && rc == 1 && cases[i].rc != 1)
				fail_msg("\"%s\" at %zu: done early", cases[i].in, k);
			if (k < len && rc == -1 && cases[i].rc != -1)
				fail_msg("\"%s\" at %zu: refused early", cases[i].in, k);
		}
	}
	char line[1100];
	memset(line, 'x', sizeof(line));
	memcpy(line, "HTTP/1.1 200 ", 13);
	int code;
	assert_int_equal(http_webhook_status_parse(line, sizeof(line), &code), -1);
}

static void test_batch(void **state)
{
	(void)state;
	struct store_event ev[] = {
		{ .id = 7, .time = 1000, .type = "accepted", .account = "a@example.test",
		  .queue_id = "0123456789ABCDEF", .code = 250,
		  .recipients = "r1@remote.test\nr2@remote.test\n",
		  .categories = "[\"news\",\"x\"]",
		  .custom_args = "{\"user\":\"42\",\"event\":\"not this\"}" },
		{ .id = 8, .time = 1001, .type = "rejected", .account = "a@example.test" },
		{ .id = 9, .time = 1002, .type = "bounced", .recipient = "gone@remote.test",
		  .queue_id = "0123456789ABCDEF", .code = 550,
		  .reason = "550 5.1.1 no such user" },
		{ .id = 10, .time = 1003, .type = "delivered", .recipient = "x@remote.test",
		  .queue_id = "0123456789ABCDEF", .reason = "250 2.0.0 ok \xff" },
		{ .id = 11, .time = 1004, .type = "deferred", .recipient = "y@remote.test",
		  .reason = "451 try later", .attempt = 2 },
		{ .id = 12, .time = 1005, .type = "dropped", .recipient = "z@remote.test",
		  .reason = "on the bounces list" },
	};
	struct store_event *v[N(ev)];
	for (size_t i = 0; i < N(ev); i++)
		v[i] = &ev[i];
	size_t count, len;
	struct http_webhook_batch_span span = { 0 };
	char *text = http_webhook_batch(v, N(ev), 0xffffffffu, "mx.test", 100, &span, &count,
					&len);
	assert_int_equal(count, 6);   /* "rejected" is never posted; processed twice */
	assert_int_equal(span.events, N(ev));
	assert_int_equal(span.part, 0);
	json_error_t jerr;
	json_t *a = json_loadb(text, len, 0, &jerr);
	assert_true(json_is_array(a));
	char *out = json_dumps(a, JSON_SORT_KEYS | JSON_COMPACT);
	assert_string_equal(out,
		"[{\"category\":[\"news\",\"x\"],\"email\":\"r1@remote.test\","
		"\"event\":\"processed\",\"sg_event_id\":\"7-1\","
		"\"sg_message_id\":\"0123456789ABCDEF\",\"smtp-id\":\"<0123456789ABCDEF@mx.test>\","
		"\"timestamp\":1000,\"user\":\"42\"},"
		"{\"category\":[\"news\",\"x\"],\"email\":\"r2@remote.test\","
		"\"event\":\"processed\",\"sg_event_id\":\"7-2\","
		"\"sg_message_id\":\"0123456789ABCDEF\",\"smtp-id\":\"<0123456789ABCDEF@mx.test>\","
		"\"timestamp\":1000,\"user\":\"42\"},"
		"{\"email\":\"gone@remote.test\",\"event\":\"bounce\","
		"\"reason\":\"550 5.1.1 no such user\",\"sg_event_id\":\"9\","
		"\"sg_message_id\":\"0123456789ABCDEF\",\"smtp-id\":\"<0123456789ABCDEF@mx.test>\","
		"\"status\":\"5.1.1\",\"timestamp\":1002,\"type\":\"bounce\"},"
		"{\"email\":\"x@remote.test\",\"event\":\"delivered\","
		"\"response\":\"250 2.0.0 ok ?\",\"sg_event_id\":\"10\","
		"\"sg_message_id\":\"0123456789ABCDEF\",\"smtp-id\":\"<0123456789ABCDEF@mx.test>\","
		"\"timestamp\":1003},"
		"{\"attempt\":\"2\",\"email\":\"y@remote.test\",\"event\":\"deferred\","
		"\"response\":\"451 try later\",\"sg_event_id\":\"11\",\"timestamp\":1004},"
		"{\"email\":\"z@remote.test\",\"event\":\"dropped\","
		"\"reason\":\"on the bounces list\",\"sg_event_id\":\"12\",\"timestamp\":1005}]");
	free(out);
	json_decref(a);
	free(text);
	/* only the events asked for; none: no text */
	text = http_webhook_batch(v, N(ev), 1u << HTTP_WEBHOOK_DROPPED, "mx.test", 100, &span,
				  &count, &len);
	assert_int_equal(count, 1);
	free(text);
	assert_null(http_webhook_batch(v, 2, 1u << HTTP_WEBHOOK_DROPPED, "mx.test", 100, &span,
				       &count, &len));
	assert_int_equal(count, 0);
	assert_int_equal(span.events, 2);   /* passed over, moved past */
	/* batch_size 1: the acceptance's second recipient in the next batch */
	span = (struct http_webhook_batch_span){ 0 };
	text = http_webhook_batch(v, N(ev), 0xffffffffu, "mx.test", 1, &span, &count, &len);
	assert_int_equal(count, 1);
	assert_int_equal(span.events, 0);
	assert_int_equal(span.part, 1);
	assert_non_null(strstr(text, "r1@remote.test"));
	free(text);
	span = (struct http_webhook_batch_span){ .skip = 1 };
	text = http_webhook_batch(v, N(ev), 0xffffffffu, "mx.test", 2, &span, &count, &len);
	assert_int_equal(count, 2);   /* r2, then the bounce ("rejected" moved past) */
	assert_int_equal(span.events, 3);
	assert_int_equal(span.part, 0);
	assert_non_null(strstr(text, "r2@remote.test"));
	assert_null(strstr(text, "r1@remote.test"));
	free(text);
	assert_int_equal(http_webhook_event_of("accepted"), HTTP_WEBHOOK_PROCESSED);
	assert_int_equal(http_webhook_event_of("accepted-sandbox"), -1);
	assert_int_equal(http_webhook_event_of(NULL), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_url),
		cmocka_unit_test(test_settings),
		cmocka_unit_test(test_signed),
		cmocka_unit_test(test_event_names),
		cmocka_unit_test(test_status_line),
		cmocka_unit_test(test_batch),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
