/* tests/unit/smtp/test-parse-params - MAIL and RCPT arguments, BDAT
 * arguments, table driven. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>

#include "smtp/parse.h"
#include "test-util.h"

struct mail_case {
	const char *in;
	int code;             /* 0 = success */
	const char *enhanced;
	const char *text;     /* substring of the error text */
	const char *address;
	uint64_t size;
	enum smtp_body body;
	bool smtputf8;
	enum smtp_ret ret;
	const char *envid;
	const char *auth;
};

static const struct mail_case mail_cases[] = {
	{ "FROM:<a@b.com>", 0, NULL, NULL, "a@b.com", 0, 0, false, 0, NULL, NULL },
	{ "from:<a@b.com>", 0, NULL, NULL, "a@b.com", 0, 0, false, 0, NULL, NULL },
	{ "FROM: <a@b.com>", 0, NULL, NULL, "a@b.com", 0, 0, false, 0, NULL, NULL },
	{ "FROM:<>", 0, NULL, NULL, "", 0, 0, false, 0, NULL, NULL },
	{ "FROM:<> SIZE=0", 0, NULL, NULL, "", 0, 0, false, 0, NULL, NULL },
	{ "FROM:<a@b> SIZE=12345", 0, NULL, NULL, "a@b", 12345, 0, false, 0,
	  NULL, NULL },
	{ "FROM:<a@b> size=18446744073709551615", 0, NULL, NULL, "a@b",
	  UINT64_MAX, 0, false, 0, NULL, NULL },
	{ "FROM:<a@b> BODY=7BIT", 0, NULL, NULL, "a@b", 0, SMTP_BODY_7BIT,
	  false, 0, NULL, NULL },
	{ "FROM:<a@b> BODY=8bitmime", 0, NULL, NULL, "a@b", 0,
	  SMTP_BODY_8BITMIME, false, 0, NULL, NULL },
	{ "FROM:<a@b> Body=BinaryMIME", 0, NULL, NULL, "a@b", 0,
	  SMTP_BODY_BINARYMIME, false, 0, NULL, NULL },
	{ "FROM:<a@b> SMTPUTF8", 0, NULL, NULL, "a@b", 0, 0, true, 0, NULL, NULL },
	{ "FROM:<jos\xc3\xa9@b> SMTPUTF8", 0, NULL, NULL, "jos\xc3\xa9@b", 0, 0,
	  true, 0, NULL, NULL },
	{ "FROM:<a@b> RET=FULL", 0, NULL, NULL, "a@b", 0, 0, false,
	  SMTP_RET_FULL, NULL, NULL },
	{ "FROM:<a@b> ret=hdrs", 0, NULL, NULL, "a@b", 0, 0, false,
	  SMTP_RET_HDRS, NULL, NULL },
	{ "FROM:<a@b> ENVID=QQ314159+2B+3Dx", 0, NULL, NULL, "a@b", 0, 0, false,
	  0, "QQ314159+=x", NULL },
	{ "FROM:<a@b> AUTH=<>", 0, NULL, NULL, "a@b", 0, 0, false, 0, NULL,
	  "<>" },
	{ "FROM:<a@b> AUTH=e+3Dmc2@example.com", 0, NULL, NULL, "a@b", 0, 0,
	  false, 0, NULL, "e=mc2@example.com" },
	{ "FROM:<a@b> AUTH=+22a+20b+22@example.com", 0, NULL, NULL, "a@b", 0, 0,
	  false, 0, NULL, "\"a b\"@example.com" },
	{ "FROM:<\"you\"@b.> AUTH=you@b", 0, NULL, NULL, "you@b", 0, 0,
	  false, 0, NULL, "you@b" },
	{ "FROM:<a@b>  SIZE=1   BODY=8BITMIME  SMTPUTF8 RET=HDRS ENVID=x "
	  "AUTH=u@d  ", 0, NULL, NULL, "a@b", 1, SMTP_BODY_8BITMIME, true,
	  SMTP_RET_HDRS, "x", "u@d" },
	{ "FROM:<a@b> ENVID="
	  "0123456789012345678901234567890123456789012345678901234567890123456789"
	  "012345678901234567890123456789", 0, NULL, NULL, "a@b", 0, 0, false, 0,
	  "0123456789012345678901234567890123456789012345678901234567890123456789"
	  "012345678901234567890123456789", NULL },

	{ "", 501, "5.5.4", "Syntax", NULL, 0, 0, false, 0, NULL, NULL },
	{ "FROM", 501, "5.5.4", "Syntax", NULL, 0, 0, false, 0, NULL, NULL },
	{ "<a@b>", 501, "5.5.4", "Syntax", NULL, 0, 0, false, 0, NULL, NULL },
	{ "FROM <a@b>", 501, "5.5.4", "Syntax", NULL, 0, 0, false, 0, NULL, NULL },
	{ "TO:<a@b>", 501, "5.5.4", "Syntax", NULL, 0, 0, false, 0, NULL, NULL },
	{ "FROM:", 501, "5.1.7", "sender", NULL, 0, 0, false, 0, NULL, NULL },
	{ "FROM:a@b", 501, "5.1.7", "sender", NULL, 0, 0, false, 0, NULL, NULL },
	{ "FROM:<a@b", 501, "5.1.7", "sender", NULL, 0, 0, false, 0, NULL, NULL },
	{ "FROM:<a..b@c>", 501, "5.1.7", "sender", NULL, 0, 0, false, 0, NULL,
	  NULL },
	{ "FROM:<a@b>SIZE=1", 501, "5.1.7", "sender", NULL, 0, 0, false, 0,
	  NULL, NULL },
	{ "FROM:<aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "@b>", 501, "5.1.7", "too long", NULL, 0, 0, false, 0, NULL, NULL },
	{ "FROM:<jos\xc3\xa9@b>", 553, "5.6.7", "SMTPUTF8", NULL, 0, 0, false, 0,
	  NULL, NULL },
	{ "FROM:<jos\xc3\xa9@b> SIZE=1", 553, "5.6.7", "SMTPUTF8", NULL, 0, 0,
	  false, 0, NULL, NULL },
	{ "FROM:<a@b> FOO=bar", 555, "5.5.4", "Unknown MAIL", NULL, 0, 0, false,
	  0, NULL, NULL },
	{ "FROM:<a@b> NOTIFY=NEVER", 555, "5.5.4", "Unknown MAIL", NULL, 0, 0,
	  false, 0, NULL, NULL },
	{ "FROM:<a@b> SIZE=1 SIZE=2", 501, "5.5.4", "Duplicate", NULL, 0, 0,
	  false, 0, NULL, NULL },
	{ "FROM:<a@b> SMTPUTF8 smtputf8", 501, "5.5.4", "Duplicate", NULL, 0, 0,
	  false, 0, NULL, NULL },
	{ "FROM:<a@b> SIZE", 501, "5.5.4", "Bad SIZE", NULL, 0, 0, false, 0,
	  NULL, NULL },
	{ "FROM:<a@b> SIZE=", 501, "5.5.4", "Bad SIZE", NULL, 0, 0, false, 0,
	  NULL, NULL },
	{ "FROM:<a@b> SIZE=-1", 501, "5.5.4", "Bad SIZE", NULL, 0, 0, false, 0,
	  NULL, NULL },
	{ "FROM:<a@b> SIZE=1k", 501, "5.5.4", "Bad SIZE", NULL, 0, 0, false, 0,
	  NULL, NULL },
	{ "FROM:<a@b> SIZE=18446744073709551616", 501, "5.5.4", "Bad SIZE", NULL,
	  0, 0, false, 0, NULL, NULL },
	{ "FROM:<a@b> SIZE=000000000000000000001", 501, "5.5.4", "Bad SIZE",
	  NULL, 0, 0, false, 0, NULL, NULL },
	{ "FROM:<a@b> BODY=8BIT", 501, "5.5.4", "Bad BODY", NULL, 0, 0, false, 0,
	  NULL, NULL },
	{ "FROM:<a@b> BODY", 501, "5.5.4", "Bad BODY", NULL, 0, 0, false, 0,
	  NULL, NULL },
	{ "FROM:<a@b> SMTPUTF8=yes", 501, "5.5.4", "SMTPUTF8", NULL, 0, 0, false,
	  0, NULL, NULL },
	{ "FROM:<a@b> SMTPUTF8=", 501, "5.5.4", "SMTPUTF8", NULL, 0, 0, false,
	  0, NULL, NULL },
	{ "FROM:<a@b> RET=ALL", 501, "5.5.4", "Bad RET", NULL, 0, 0, false, 0,
	  NULL, NULL },
	{ "FROM:<a@b> ENVID=a+2", 501, "5.5.4", "Bad ENVID", NULL, 0, 0, false,
	  0, NULL, NULL },
	{ "FROM:<a@b> ENVID=a+0A", 501, "5.5.4", "Bad ENVID", NULL, 0, 0, false,
	  0, NULL, NULL },
	{ "FROM:<a@b> ENVID=a+00", 501, "5.5.4", "Bad ENVID", NULL, 0, 0, false,
	  0, NULL, NULL },
	{ "FROM:<a@b> ENVID=a+GG", 501, "5.5.4", "Bad ENVID", NULL, 0, 0, false,
	  0, NULL, NULL },
	{ "FROM:<a@b> ENVID="
	  "0123456789012345678901234567890123456789012345678901234567890123456789"
	  "0123456789012345678901234567890", 501, "5.5.4", "Bad ENVID", NULL, 0,
	  0, false, 0, NULL, NULL },
	{ "FROM:<a@b> AUTH=", 501, "5.5.4", "Bad AUTH", NULL, 0, 0, false, 0,
	  NULL, NULL },
	{ "FROM:<a@b> AUTH=a+", 501, "5.5.4", "Bad AUTH", NULL, 0, 0, false, 0,
	  NULL, NULL },
	/* RFC 4954 5: an addr-spec (xtext) or <> */
	{ "FROM:<a@b> AUTH=abc", 501, "5.5.4", "Bad AUTH", NULL, 0, 0, false, 0,
	  NULL, NULL },
	{ "FROM:<a@b> AUTH=<bad", 501, "5.5.4", "Bad AUTH", NULL, 0, 0, false, 0,
	  NULL, NULL },
	{ "FROM:<a@b> AUTH=<a@b>", 501, "5.5.4", "Bad AUTH", NULL, 0, 0, false, 0,
	  NULL, NULL },
	{ "FROM:<a@b> AUTH=a@", 501, "5.5.4", "Bad AUTH", NULL, 0, 0, false, 0,
	  NULL, NULL },
	{ "FROM:<a@b> AUTH=a..b@c", 501, "5.5.4", "Bad AUTH", NULL, 0, 0, false,
	  0, NULL, NULL },
	{ "FROM:<a@b> AUTH=@r:a@b", 501, "5.5.4", "Bad AUTH", NULL, 0, 0, false,
	  0, NULL, NULL },
	{ "FROM:<a@b> AUTH=a@b+3E", 501, "5.5.4", "Bad AUTH", NULL, 0, 0, false,
	  0, NULL, NULL },
	{ "FROM:<a@b> AUTH=Postmaster", 501, "5.5.4", "Bad AUTH", NULL, 0, 0,
	  false, 0, NULL, NULL },
	{ "FROM:<a@b> SIZE=1=2", 501, "5.5.4", "Syntax error in MAIL", NULL, 0,
	  0, false, 0, NULL, NULL },
	{ "FROM:<a@b> =1", 501, "5.5.4", "Syntax error in MAIL", NULL, 0, 0,
	  false, 0, NULL, NULL },
	{ "FROM:<a@b> -X=1", 501, "5.5.4", "Syntax error in MAIL", NULL, 0, 0,
	  false, 0, NULL, NULL },
	{ "FROM:<a@b> X_Y=1", 501, "5.5.4", "Syntax error in MAIL", NULL, 0, 0,
	  false, 0, NULL, NULL },
	{ "FROM:<a@b> X=\x01", 501, "5.5.4", "Syntax error in MAIL", NULL, 0, 0,
	  false, 0, NULL, NULL },
	{ "FROM:<a@b> X=\xc3", 501, "5.5.4", "Syntax error in MAIL", NULL, 0, 0,
	  false, 0, NULL, NULL },
	{ "FROM:<a@b> X-PETREL-JUNK=1", 501, "5.5.4", "X-PETREL-JUNK takes no value",
	  NULL, 0, 0, false, 0, NULL, NULL },
	{ "FROM:<a@b> X-PETREL-JUNK x-petrel-junk", 501, "5.5.4", "Duplicate", NULL, 0, 0,
	  false, 0, NULL, NULL },
};

/* test_mail_junk_param - X-PETREL-JUNK, Petrel's own between its nodes (any
 * case, no value), sets params.junk; without it junk stays false */
static void test_mail_junk_param(void **state)
{
	static const struct { const char *in; bool junk; } cases[] = {
		{ "FROM:<a@b> X-PETREL-JUNK", true },
		{ "FROM:<a@b> SIZE=10 x-Petrel-Junk SMTPUTF8", true },
		{ "FROM:<a@b> SMTPUTF8", false },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = strlen(cases[i].in);
		char *in = test_dup_exact(cases[i].in, len);
		struct smtp_path path;
		struct smtp_mail_params params;
		struct smtp_error err = { 0, NULL, NULL };
		assert_int_equal(smtp_mail_args_parse(in, len, &path, &params, &err), 0);
		assert_int_equal(params.junk, cases[i].junk);
		smtp_path_clear(&path);
		smtp_mail_params_clear(&params);
		free(in);
	}
	(void)state;
}

static void test_mail_args(void **state)
{
	for (size_t i = 0; i < sizeof(mail_cases) / sizeof(mail_cases[0]); i++) {
		const struct mail_case *t = &mail_cases[i];
		size_t len = strlen(t->in);
		char *in = test_dup_exact(t->in, len);
		struct smtp_path path;
		struct smtp_mail_params params;
		struct smtp_error err = { 0, NULL, NULL };

		printf("mail case %zu: %s\n", i, t->in);
		int ret = smtp_mail_args_parse(in, len, &path, &params, &err);
		if (t->code == 0) {
			assert_int_equal(ret, 0);
			assert_string_equal(path.address, t->address);
			assert_true(params.size == t->size);
			assert_int_equal(params.body, t->body);
			assert_int_equal(params.smtputf8, t->smtputf8);
			assert_int_equal(params.ret, t->ret);
			if (t->envid)
				assert_string_equal(params.envid, t->envid);
			else
				assert_null(params.envid);
			if (t->auth)
				assert_string_equal(params.auth, t->auth);
			else
				assert_null(params.auth);
			smtp_path_clear(&path);
			smtp_mail_params_clear(&params);
		} else {
			assert_int_equal(ret, -1);
			assert_int_equal(err.code, t->code);
			assert_string_equal(err.enhanced, t->enhanced);
			assert_non_null(strstr(err.text, t->text));
			/* nothing to free after an error */
			assert_null(path.address);
			assert_null(params.envid);
			assert_null(params.auth);
		}
		free(in);
	}
}

struct rcpt_case {
	const char *in;
	bool utf8;
	int code;
	const char *enhanced;
	const char *text;
	const char *address;
	unsigned notify;
	const char *orcpt;
};

static const struct rcpt_case rcpt_cases[] = {
	{ "TO:<a@b.com>", false, 0, NULL, NULL, "a@b.com", 0, NULL },
	{ "to: <a@b.com>", false, 0, NULL, NULL, "a@b.com", 0, NULL },
	{ "TO:<Postmaster>", false, 0, NULL, NULL, "Postmaster", 0, NULL },
	{ "TO:<POSTMASTER>", false, 0, NULL, NULL, "POSTMASTER", 0, NULL },
	{ "TO:<jos\xc3\xa9@b>", true, 0, NULL, NULL, "jos\xc3\xa9@b", 0, NULL },
	{ "TO:<a@b> NOTIFY=NEVER", false, 0, NULL, NULL, "a@b",
	  WIRE_NOTIFY_NEVER, NULL },
	{ "TO:<a@b> notify=success,Failure,DELAY", false, 0, NULL, NULL, "a@b",
	  WIRE_NOTIFY_SUCCESS | WIRE_NOTIFY_FAILURE | WIRE_NOTIFY_DELAY, NULL },
	{ "TO:<a@b> NOTIFY=DELAY", false, 0, NULL, NULL, "a@b",
	  WIRE_NOTIFY_DELAY, NULL },
	{ "TO:<a@b> ORCPT=rfc822;a+2Bb@c", false, 0, NULL, NULL, "a@b", 0,
	  "rfc822;a+b@c" },
	{ "TO:<a@b> ORCPT=RFC822;x@y NOTIFY=FAILURE", false, 0, NULL, NULL,
	  "a@b", WIRE_NOTIFY_FAILURE, "RFC822;x@y" },
	{ "TO:<a@b> ORCPT=utf-8;jos\\x{E9}@x", false, 0, NULL, NULL, "a@b", 0,
	  "utf-8;jos\xc3\xa9@x" },
	{ "TO:<a@b> ORCPT=UTF-8;\xe7\x94\xa8@x\\x{1F600}", false, 0, NULL, NULL,
	  "a@b", 0, "UTF-8;\xe7\x94\xa8@x\xf0\x9f\x98\x80" },

	{ "", false, 501, "5.5.4", "Syntax", NULL, 0, NULL },
	{ "FROM:<a@b>", false, 501, "5.5.4", "Syntax", NULL, 0, NULL },
	{ "TO <a@b>", false, 501, "5.5.4", "Syntax", NULL, 0, NULL },
	{ "TO:<>", false, 501, "5.1.3", "recipient", NULL, 0, NULL },
	{ "TO:<a@b", false, 501, "5.1.3", "recipient", NULL, 0, NULL },
	{ "TO:<a@-b>", false, 501, "5.1.3", "recipient", NULL, 0, NULL },
	{ "TO:<Postmaster> x", false, 555, "5.5.4", "Unknown RCPT", NULL, 0,
	  NULL },
	{ "TO:<a@b> NOTIFY=NEVER=1", false, 501, "5.5.4", "Syntax error in RCPT",
	  NULL, 0, NULL },
	{ "TO:<jos\xc3\xa9@b>", false, 553, "5.6.7", "SMTPUTF8", NULL, 0, NULL },
	{ "TO:<a@b> SIZE=1", false, 555, "5.5.4", "Unknown RCPT", NULL, 0, NULL },
	{ "TO:<a@b> NOTIFY=NEVER,SUCCESS", false, 501, "5.5.4", "Bad NOTIFY",
	  NULL, 0, NULL },
	{ "TO:<a@b> NOTIFY=", false, 501, "5.5.4", "Bad NOTIFY", NULL, 0, NULL },
	{ "TO:<a@b> NOTIFY", false, 501, "5.5.4", "Bad NOTIFY", NULL, 0, NULL },
	{ "TO:<a@b> NOTIFY=SUCCESS,", false, 501, "5.5.4", "Bad NOTIFY", NULL, 0,
	  NULL },
	{ "TO:<a@b> NOTIFY=SUCCESS,,DELAY", false, 501, "5.5.4", "Bad NOTIFY",
	  NULL, 0, NULL },
	{ "TO:<a@b> NOTIFY=ALWAYS", false, 501, "5.5.4", "Bad NOTIFY", NULL, 0,
	  NULL },
	{ "TO:<a@b> NOTIFY=NEVER NOTIFY=NEVER", false, 501, "5.5.4",
	  "Duplicate RCPT", NULL, 0, NULL },
	{ "TO:<a@b> ORCPT=rfc822;a ORCPT=rfc822;b", false, 501, "5.5.4",
	  "Duplicate RCPT", NULL, 0, NULL },
	{ "TO:<a@b> ORCPT=x400;a", false, 501, "5.5.4", "Bad ORCPT", NULL, 0,
	  NULL },
	{ "TO:<a@b> ORCPT=rfc822", false, 501, "5.5.4", "Bad ORCPT", NULL, 0,
	  NULL },
	{ "TO:<a@b> ORCPT=rfc822;", false, 501, "5.5.4", "Bad ORCPT", NULL, 0,
	  NULL },
	{ "TO:<a@b> ORCPT", false, 501, "5.5.4", "Bad ORCPT", NULL, 0, NULL },
	{ "TO:<a@b> ORCPT=rfc822;a+0Db", false, 501, "5.5.4", "Bad ORCPT", NULL,
	  0, NULL },
	{ "TO:<a@b> ORCPT=utf-8;a\\x{D800}", false, 501, "5.5.4", "Bad ORCPT",
	  NULL, 0, NULL },
	{ "TO:<a@b> ORCPT=utf-8;a\\x{110000}", false, 501, "5.5.4", "Bad ORCPT",
	  NULL, 0, NULL },
	{ "TO:<a@b> ORCPT=utf-8;a\\x{}", false, 501, "5.5.4", "Bad ORCPT", NULL,
	  0, NULL },
	{ "TO:<a@b> ORCPT=utf-8;a\\x{41", false, 501, "5.5.4", "Bad ORCPT", NULL,
	  0, NULL },
	{ "TO:<a@b> ORCPT=utf-8;a+41", false, 501, "5.5.4", "Bad ORCPT", NULL, 0,
	  NULL },
};

static void test_rcpt_args(void **state)
{
	for (size_t i = 0; i < sizeof(rcpt_cases) / sizeof(rcpt_cases[0]); i++) {
		const struct rcpt_case *t = &rcpt_cases[i];
		size_t len = strlen(t->in);
		char *in = test_dup_exact(t->in, len);
		struct smtp_path path;
		struct smtp_rcpt_params params;
		struct smtp_error err = { 0, NULL, NULL };

		printf("rcpt case %zu: %s\n", i, t->in);
		int ret = smtp_rcpt_args_parse(in, len, t->utf8, &path, &params,
					       &err);
		if (t->code == 0) {
			assert_int_equal(ret, 0);
			assert_string_equal(path.address, t->address);
			assert_int_equal(params.notify, t->notify);
			if (t->orcpt)
				assert_string_equal(params.orcpt, t->orcpt);
			else
				assert_null(params.orcpt);
			smtp_path_clear(&path);
			smtp_rcpt_params_clear(&params);
		} else {
			assert_int_equal(ret, -1);
			assert_int_equal(err.code, t->code);
			assert_string_equal(err.enhanced, t->enhanced);
			assert_non_null(strstr(err.text, t->text));
			assert_null(path.address);
			assert_null(params.orcpt);
		}
		free(in);
	}
}

/* test_args_prefixes - no prefix of any case is read past its end */
static void test_args_prefixes(void **state)
{
	for (size_t i = 0; i < sizeof(mail_cases) / sizeof(mail_cases[0]); i++) {
		size_t len = strlen(mail_cases[i].in);
		for (size_t k = 0; k < len; k++) {
			char *in = test_dup_exact(mail_cases[i].in, k);
			struct smtp_path path;
			struct smtp_mail_params params;
			struct smtp_error err;
			if (smtp_mail_args_parse(in, k, &path, &params, &err) == 0) {
				smtp_path_clear(&path);
				smtp_mail_params_clear(&params);
			}
			free(in);
		}
	}
	for (size_t i = 0; i < sizeof(rcpt_cases) / sizeof(rcpt_cases[0]); i++) {
		size_t len = strlen(rcpt_cases[i].in);
		for (size_t k = 0; k < len; k++) {
			char *in = test_dup_exact(rcpt_cases[i].in, k);
			struct smtp_path path;
			struct smtp_rcpt_params params;
			struct smtp_error err;
			if (smtp_rcpt_args_parse(in, k, true, &path, &params,
						 &err) == 0) {
				smtp_path_clear(&path);
				smtp_rcpt_params_clear(&params);
			}
			free(in);
		}
	}
}

struct bdat_case {
	const char *in;
	int ret;
	uint64_t size;
	bool last;
};

static const struct bdat_case bdat_cases[] = {
	{ "0", 0, 0, false },
	{ "100", 0, 100, false },
	{ "100 LAST", 0, 100, true },
	{ "100 last", 0, 100, true },
	{ "0 LAST", 0, 0, true },
	{ "100   LAST  ", 0, 100, true },
	{ "100 ", 0, 100, false },
	{ "18446744073709551615", 0, UINT64_MAX, false },
	{ "", -1, 0, false },
	{ " 100", -1, 0, false },
	{ "LAST", -1, 0, false },
	{ "100LAST", -1, 0, false },
	{ "100 LAS", -1, 0, false },
	{ "100 LASTX", -1, 0, false },
	{ "100 LAST x", -1, 0, false },
	{ "-1", -1, 0, false },
	{ "1.5", -1, 0, false },
	{ "18446744073709551616", -1, 0, false },
	{ "123456789012345678901", -1, 0, false },
};

static void test_bdat_args(void **state)
{
	for (size_t i = 0; i < sizeof(bdat_cases) / sizeof(bdat_cases[0]); i++) {
		const struct bdat_case *t = &bdat_cases[i];
		size_t len = strlen(t->in);
		char *in = test_dup_exact(t->in, len);
		uint64_t size = 7;
		bool last = true;
		struct smtp_error err = { 0, NULL, NULL };

		printf("bdat case %zu: %s\n", i, t->in);
		int ret = smtp_bdat_args_parse(in, len, &size, &last, &err);
		assert_int_equal(ret, t->ret);
		if (ret == 0) {
			assert_true(size == t->size);
			assert_int_equal(last, t->last);
		} else {
			assert_int_equal(err.code, 501);
			assert_string_equal(err.enhanced, "5.5.4");
		}
		free(in);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mail_args),
		cmocka_unit_test(test_mail_junk_param),
		cmocka_unit_test(test_rcpt_args),
		cmocka_unit_test(test_args_prefixes),
		cmocka_unit_test(test_bdat_args),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
