/* tests/unit/message/test-content-type - Content-Type and Content-Disposition
 * (src/message/content-type.c): RFC 2045 5.1 syntax with comments and quoted
 * strings, the RFC 2231 examples (continuations, charset and language), the
 * RFC 2045 5.2 default; values checked against Python's email package
 * (get_params + collapse_rfc2231_value) where it parses the input the RFC's
 * way. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "message/message.h"
#include "test-util.h"

struct ct_case {
	const char *in;
	const char *type, *subtype;
	bool defaulted;
	const char *params;  /* "name=value|name=value" as parsed */
};

/* params_string - CT's parameters as "name=value|..." (allocated) */
static char *params_string(const struct message_content_type *ct)
{
	struct buf b;
	buf_init(&b);
	buf_append(&b, "", 0);
	for (size_t i = 0; i < ct->param_count; i++)
		buf_printf(&b, "%s%s=%s", i ? "|" : "", ct->params[i].name, ct->params[i].value);
	return b.data;
}

static void test_content_type(void **state)
{
	(void)state;
	static const struct ct_case cases[] = {
		{ "text/plain; charset=\"utf-8\"", "text", "plain", false, "charset=utf-8" },
		{ "Text/HTML (c); Charset = ISO-8859-1 (x)", "text", "html", false,
		  "charset=ISO-8859-1" },
		{ " (a (nested) comment) text / plain ;charset=us-ascii;", "text", "plain", false,
		  "charset=us-ascii" },
		{ "multipart/mixed;\r\n boundary=----=_Part_1_2.3", "multipart", "mixed", false,
		  "boundary=----=_Part_1_2.3" },
		/* RFC 2231 4 */
		{ "application/x-stuff; title*=us-ascii'en-us'This%20is%20%2A%2A%2Afun%2A%2A%2A",
		  "application", "x-stuff", false, "title=This is ***fun***" },
		/* RFC 2231 3 */
		{ "message/external-body; access-type=URL; URL*0=\"ftp://\"; "
		  "URL*1=\"cs.utk.edu/pub/moore/bulk-mailer/bulk-mailer.tar\"",
		  "message", "external-body", false,
		  "access-type=URL|url=ftp://cs.utk.edu/pub/moore/bulk-mailer/bulk-mailer.tar" },
		/* RFC 2231 4.1 */
		{ "application/x-stuff; title*0*=us-ascii'en'This%20is%20even%20more%20; "
		  "title*1*=%2A%2A%2Afun%2A%2A%2A%20; title*2=\"isn't it!\"",
		  "application", "x-stuff", false, "title=This is even more ***fun*** isn't it!" },
		{ "text/plain; name*=utf-8''%E2%82%AC.txt", "text", "plain", false,
		  "name=\xe2\x82\xac.txt" },
		{ "text/plain; name*=iso-8859-1''caf%E9", "text", "plain", false,
		  "name=caf\xc3\xa9" },
		/* sections out of order; a missing section ends the value */
		{ "a/b; n*1=B; n*0=A; n*3=D", "a", "b", false, "n=AB" },
		/* the RFC 2231 form wins over a plain one */
		{ "a/b; name=\"plain\"; name*=utf-8''%C3%A9", "a", "b", false, "name=\xc3\xa9" },
		/* unknown charset: the bytes, as UTF-8 where they are */
		{ "a/b; n*=x-unknown''a%FFb", "a", "b", false, "n=a\xef\xbf\xbd" "b" },
		/* a bad % escape is kept */
		{ "a/b; n*=utf-8''100%;", "a", "b", false, "n=100%" },
		/* duplicates: the first; malformed ones skipped */
		{ "text/plain; a=1; a=2; ; b; c=\"q\\\"x\"; =d; e=5", "text", "plain", false,
		  "a=1|c=q\"x|e=5" },
		{ "text/plain; a=1 junk; b=2", "text", "plain", false, "a=1|b=2" },
		{ "text/plain; a=\"unterminated", "text", "plain", false, "a=unterminated" },
		{ "text/plain; raw=\xc3\xa9t\xe9", "text", "plain", false,
		  "raw=\xc3\xa9t\xef\xbf\xbd" },
		/* RFC 2045 5.2: invalid means the default */
		{ "text", "text", "plain", true, "charset=us-ascii" },
		{ "text/", "text", "plain", true, "charset=us-ascii" },
		{ "/plain", "text", "plain", true, "charset=us-ascii" },
		{ "text/pl@in", "text", "pl", false, "" },
		{ "", "text", "plain", true, "charset=us-ascii" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct ct_case *c = &cases[i];
		size_t len = strlen(c->in);
		char *in = test_dup_exact(c->in, len);
		struct message_content_type ct;
		message_content_type_parse(in, len, &ct);
		char *params = params_string(&ct);
		if (strcmp(ct.type, c->type) != 0 || strcmp(ct.subtype, c->subtype) != 0 ||
		    ct.defaulted != c->defaulted || strcmp(params, c->params) != 0)
			fail_msg("\"%s\": got %s/%s%s \"%s\"", c->in, ct.type, ct.subtype,
				 ct.defaulted ? " (default)" : "", params);
		free(params);
		message_content_type_free(&ct);
		free(in);
	}
	struct message_content_type ct;
	message_content_type_parse(NULL, 0, &ct);
	assert_true(ct.defaulted);
	assert_string_equal(message_param_get(&ct, "charset"), "us-ascii");
	assert_null(message_param_get(&ct, "name"));
	message_content_type_free(&ct);
	message_content_type_default(&ct, true);
	assert_string_equal(ct.type, "message");
	assert_string_equal(ct.subtype, "rfc822");
	message_content_type_free(&ct);
}

/* RFC 2183 */
static void test_disposition(void **state)
{
	(void)state;
	struct message_content_type d;
	const char *v = "Attachment; filename*0*=utf-8''%E2%82%AC; filename*1=\" 1.pdf\";\r\n"
			" size=1024 (bytes)";
	assert_true(message_disposition_parse(v, strlen(v), &d));
	assert_string_equal(d.type, "attachment");
	assert_null(d.subtype);
	assert_string_equal(message_param_get(&d, "filename"), "\xe2\x82\xac 1.pdf");
	assert_string_equal(message_param_get(&d, "size"), "1024");
	message_content_type_free(&d);
	assert_true(message_disposition_parse("inline", 6, &d));
	assert_string_equal(d.type, "inline");
	assert_int_equal(d.param_count, 0);
	message_content_type_free(&d);
	assert_false(message_disposition_parse("; filename=x", 12, &d));
	assert_null(d.type);
	assert_false(message_disposition_parse(NULL, 0, &d));
}

/* at most MESSAGE_PARAM_MAX parameters are kept */
static void test_param_limit(void **state)
{
	(void)state;
	struct buf v;
	buf_init(&v);
	buf_append_str(&v, "text/plain");
	for (int i = 0; i < 300; i++)
		buf_printf(&v, "; p%d=%d", i, i);
	struct message_content_type ct;
	message_content_type_parse(v.data, v.len, &ct);
	assert_int_equal(ct.param_count, MESSAGE_PARAM_MAX);
	assert_string_equal(message_param_get(&ct, "p0"), "0");
	message_content_type_free(&ct);
	buf_free(&v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_content_type),
		cmocka_unit_test(test_disposition),
		cmocka_unit_test(test_param_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
