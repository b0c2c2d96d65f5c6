/* test-envelope - queue_envelope_serialize/parse: round trips with hostile
 * values, every malformed record rejected, every prefix and random damage
 * handled without a crash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "queue/queue.h"
#include "util/buf.h"

static struct queue_envelope *sample_envelope(void);
static void assert_same(const struct queue_envelope *a, const struct queue_envelope *b);
static void assert_str_eq_or_null(const char *a, const char *b);

static struct queue_envelope *sample_envelope(void)
{
	struct queue_envelope *env = queue_envelope_new();
	strcpy(env->id, "0123456789ABCDEF");
	env->arrival = 1764408712;
	free(env->sender);
	env->sender = strdup("alice@example.org");
	env->body = 2;
	env->smtputf8 = true;
	env->ret = 1;
	env->envid = strdup("QQ314159");
	env->client_address = strdup("192.0.2.1");
	env->helo = strdup("client.example.net");
	env->listener = strdup("mx");
	env->size = 42;
	queue_envelope_add_rcpt(env, "bob@example.org", 6, "rfc822;bob@example.org");
	queue_envelope_add_rcpt(env, "carol@example.org", 0, NULL);
	return env;
}

static void assert_str_eq_or_null(const char *a, const char *b)
{
	if (!a || !b)
		assert_ptr_equal(a, b);
	else
		assert_string_equal(a, b);
}

static void assert_same(const struct queue_envelope *a, const struct queue_envelope *b)
{
	assert_string_equal(a->id, b->id);
	assert_int_equal(a->arrival, b->arrival);
	assert_string_equal(a->sender, b->sender);
	assert_str_eq_or_null(a->srs_sender, b->srs_sender);
	assert_int_equal(a->body, b->body);
	assert_int_equal(a->smtputf8, b->smtputf8);
	assert_int_equal(a->junk, b->junk);
	assert_int_equal(a->send_at, b->send_at);
	assert_int_equal(a->ret, b->ret);
	assert_str_eq_or_null(a->envid, b->envid);
	assert_str_eq_or_null(a->client_address, b->client_address);
	assert_str_eq_or_null(a->helo, b->helo);
	assert_str_eq_or_null(a->listener, b->listener);
	assert_int_equal(a->size, b->size);
	assert_int_equal(a->rcpt_count, b->rcpt_count);
	for (size_t i = 0; i < a->rcpt_count; i++) {
		assert_string_equal(a->rcpts[i].address, b->rcpts[i].address);
		assert_int_equal(a->rcpts[i].notify, b->rcpts[i].notify);
		assert_str_eq_or_null(a->rcpts[i].orcpt, b->rcpts[i].orcpt);
		assert_int_equal(b->rcpts[i].state, QUEUE_RCPT_PENDING);
	}
}

/* round_trip - serialize A, append a body, parse it back, compare */
static void round_trip(struct queue_envelope *a)
{
	struct buf text;
	const char *error = NULL;
	size_t off = 0;

	buf_init(&text);
	queue_envelope_serialize(a, &text);
	size_t env_len = text.len;
	/* records can never contain CR, NUL, or a line break of their own */
	assert_null(memchr(text.data, '\r', text.len));
	assert_null(memchr(text.data, '\0', text.len));
	buf_append_str(&text, "\nSubject: hi\r\n\r\nbody\r\n\r\n");
	struct queue_envelope *b = queue_envelope_parse(text.data, text.len, &off, &error);
	assert_non_null(b);
	assert_int_equal(off, env_len + 1);
	assert_memory_equal(text.data + off, "Subject: hi\r\n", 13);
	assert_same(a, b);
	queue_envelope_free(&b);
	assert_null(b);
	buf_free(&text);
}

static void test_round_trip_plain(void **state)
{
	(void)state;
	struct queue_envelope *env = sample_envelope();
	round_trip(env);
	env->junk = true;  /* DMARC quarantine */
	round_trip(env);
	env->send_at = 1764412312;  /* scheduled (the HTTP API's send_at) */
	round_trip(env);
	queue_envelope_free(&env);
}

static void test_round_trip_srs(void **state)
{
	(void)state;
	struct queue_envelope *env = sample_envelope();
	env->srs_sender = strdup("SRS0=kf70=6L=example.org=alice@mx.example.net");
	round_trip(env);
	queue_envelope_free(&env);
}

static void test_round_trip_minimal(void **state)
{
	(void)state;
	struct queue_envelope *env = queue_envelope_new();
	strcpy(env->id, "FFFFFFFFFFFFFFFF");
	queue_envelope_add_rcpt(env, "x@y", 0, "");  /* empty ORCPT, null sender */
	round_trip(env);
	assert_string_equal(env->sender, "");
	queue_envelope_free(&env);
}

static void test_round_trip_hostile(void **state)
{
	(void)state;
	struct queue_envelope *env = sample_envelope();
	free(env->sender);
	env->sender = strdup("evil\r\nrcpt notify=0 root@example.org\n@x");
	free(env->envid);
	env->envid = strdup("a b+c=d\te\x7f\x01");
	free(env->helo);
	env->helo = strdup("helo\r\n\r\nSubject: injected");
	free(env->listener);
	env->listener = strdup("");
	queue_envelope_add_rcpt(env, "\"john  doe\"@example.org", 15, "utf-8;j\xc3\xb6rg@ex\xc3\xa4mple.org");
	queue_envelope_add_rcpt(env, "j\xc3\xb6rg@ex\xc3\xa4mple.org", 1, "rfc822;a+2Bb=c d");
	queue_envelope_add_rcpt(env, "+++@===", 0, "-");
	round_trip(env);

	/* one line per record: 12 fixed + recipients + the blank line */
	struct buf text;
	buf_init(&text);
	queue_envelope_serialize(env, &text);
	size_t lines = 0;
	for (size_t i = 0; i < text.len; i++)
		lines += text.data[i] == '\n';
	assert_int_equal(lines, 12 + env->rcpt_count);
	buf_free(&text);
	queue_envelope_free(&env);
}

static const char *const valid_text =
	"version 1\n"
	"id 0123456789ABCDEF\n"
	"arrival 100\n"
	"sender a@b\n"
	"size 4\n"
	"rcpt notify=0 c@d\n"
	"\n"
	"body";

/* test_body_crc - CRC-32C check value (RFC 3720 B.4), and the record round trip */
static void test_body_crc(void **state)
{
	(void)state;
	assert_int_equal(queue_crc32c(0, "123456789", 9), 0xE3069283u);
	assert_int_equal(queue_crc32c(queue_crc32c(0, "1234", 4), "56789", 5), 0xE3069283u);
	assert_int_equal(queue_crc32c(0, "", 0), 0);
	struct queue_envelope *env = sample_envelope();
	env->body_crc = 0x0A0B0C0Du;
	env->has_body_crc = true;
	round_trip(env);
	struct buf text;
	buf_init(&text);
	queue_envelope_serialize(env, &text);
	buf_append(&text, "\n", 1);
	const char *error = NULL;
	size_t off;
	struct queue_envelope *back = queue_envelope_parse(text.data, text.len, &off, &error);
	assert_non_null(back);
	assert_true(back->has_body_crc);
	assert_int_equal(back->body_crc, 0x0A0B0C0Du);
	queue_envelope_free(&back);
	buf_free(&text);
	queue_envelope_free(&env);
}

static void test_valid_minimal_text(void **state)
{
	(void)state;
	const char *error = NULL;
	size_t off;
	struct queue_envelope *env = queue_envelope_parse(valid_text, strlen(valid_text), &off, &error);
	assert_non_null(env);
	assert_string_equal(valid_text + off, "body");
	assert_string_equal(env->rcpts[0].address, "c@d");
	queue_envelope_free(&env);
}

static void test_malformed(void **state)
{
	(void)state;
	static const char *const cases[] = {
		"",
		"\n",
		"version 1\n",                                     /* no blank line */
		"id 0123456789ABCDEF\nversion 1\n\n",              /* version not first */
		"version 2\nid 0123456789ABCDEF\narrival 1\nsender \nsize 0\nrcpt notify=0 a@b\n\n",
		"version 1\nid 0123456789abcdef\narrival 1\nsender \nsize 0\nrcpt notify=0 a@b\n\n",
		"version 1\nid 0123456789ABCDE\narrival 1\nsender \nsize 0\nrcpt notify=0 a@b\n\n",
		"version 1\nid ../../etc/passwd\narrival 1\nsender \nsize 0\nrcpt notify=0 a@b\n\n",
		"version 1\nid 0123456789ABCDEF\narrival x\nsender \nsize 0\nrcpt notify=0 a@b\n\n",
		"version 1\nid 0123456789ABCDEF\narrival -1\nsender \nsize 0\nrcpt notify=0 a@b\n\n",
		"version 1\nid 0123456789ABCDEF\narrival 1\nsender \nsize 99999999999999999999999\nrcpt notify=0 a@b\n\n",
		"version 1\nid 0123456789ABCDEF\narrival 1\nsender \nsize 0\n\n",           /* no rcpt */
		"version 1\nid 0123456789ABCDEF\narrival 1\nsize 0\nrcpt notify=0 a@b\n\n", /* no sender */
		"version 1\nid 0123456789ABCDEF\narrival 1\nsender \nrcpt notify=0 a@b\n\n", /* no size */
		"version 1\nid 0123456789ABCDEF\nid 0123456789ABCDEF\narrival 1\nsender \nsize 0\nrcpt notify=0 a@b\n\n",
		"version 1\nid 0123456789ABCDEF\narrival 1\nsender \nsize 0\nfrobnicate 1\nrcpt notify=0 a@b\n\n",
		"version 1\nid 0123456789ABCDEF\narrival 1\nsender a b\nsize 0\nrcpt notify=0 a@b\n\n",
		"version 1\nid 0123456789ABCDEF\narrival 1\nsender a+00b\nsize 0\nrcpt notify=0 a@b\n\n",
		"version 1\nid 0123456789ABCDEF\narrival 1\nsender a+4\nsize 0\nrcpt notify=0 a@b\n\n",
		"version 1\nid 0123456789ABCDEF\narrival 1\nsender a+ZZ\nsize 0\nrcpt notify=0 a@b\n\n",
		"version 1\nid 0123456789ABCDEF\narrival 1\nsender a=b\nsize 0\nrcpt notify=0 a@b\n\n",
		"version 1\nid 0123456789ABCDEF\narrival 1\nsender a\r\nsize 0\nrcpt notify=0 a@b\n\n",
		"version 1\nid 0123456789ABCDEF\narrival 1\nsender \nsize 0\nrcpt a@b\n\n",
		"version 1\nid 0123456789ABCDEF\narrival 1\nsender \nsize 0\nrcpt notify=x a@b\n\n",
		"version 1\nid 0123456789ABCDEF\narrival 1\nsender \nsize 0\nrcpt notify=0 \n\n",
		"version 1\nid 0123456789ABCDEF\narrival 1\nsender \nsize 0\nrcpt notify=0 a@b c@d\n\n",
		"version 1\nid 0123456789ABCDEF\narrival 1\nsender \nsize 0\nrcpt notify=0 orcpt=x\n\n",
		"version 1\nid 0123456789ABCDEF\narrival 1\nsender \nsize 0\nbody 9BIT\nrcpt notify=0 a@b\n\n",
		"version 1\nid 0123456789ABCDEF\narrival 1\nsender \nsize 0\nret NONE\nrcpt notify=0 a@b\n\n",
		"version 1\nid 0123456789ABCDEF\narrival 1\nsender \nsize 0\nsmtputf8 2\nrcpt notify=0 a@b\n\n",
		/* the Junk flag: 0 or 1, once */
		"version 1\nid 0123456789ABCDEF\narrival 1\nsender \nsize 0\njunk yes\nrcpt notify=0 a@b\n\n",
		"version 1\nid 0123456789ABCDEF\narrival 1\nsender \nsize 0\njunk 1\njunk 1\nrcpt notify=0 a@b\n\n",
		/* the send_at time: a number, once */
		"version 1\nid 0123456789ABCDEF\narrival 1\nsender \nsize 0\nsend-at x\nrcpt notify=0 a@b\n\n",
		"version 1\nid 0123456789ABCDEF\narrival 1\nsender \nsize 0\nsend-at -5\nrcpt notify=0 a@b\n\n",
		"version 1\nid 0123456789ABCDEF\narrival 1\nsender \nsize 0\nsend-at 5\nsend-at 5\nrcpt notify=0 a@b\n\n",
		"version 1\nid 0123456789ABCDEF\narrival 1\nsender \nsize 0\nrcpt notify=0 a@b\r\n\n",
		"version 1\nid 0123456789ABCDEF\narrival 1\nsender \nsize 0\nrcpt notify=0 a@b\n",
		"version  1\nid 0123456789ABCDEF\narrival 1\nsender \nsize 0\nrcpt notify=0 a@b\n\n",
		/* the body checksum: 8 upper-case hex digits, once */
		"version 1\nid 0123456789ABCDEF\narrival 1\nsender \nsize 0\nrcpt notify=0 a@b\nbody-crc32c 1234567\n\n",
		"version 1\nid 0123456789ABCDEF\narrival 1\nsender \nsize 0\nrcpt notify=0 a@b\nbody-crc32c 1234567g\n\n",
		"version 1\nid 0123456789ABCDEF\narrival 1\nsender \nsize 0\nrcpt notify=0 a@b\nbody-crc32c 123456789\n\n",
		"version 1\nid 0123456789ABCDEF\narrival 1\nsender \nsize 0\nrcpt notify=0 a@b\nbody-crc32c 00000000\nbody-crc32c 00000000\n\n",
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *error = NULL;
		size_t off = 12345;
		struct queue_envelope *env = queue_envelope_parse(cases[i], strlen(cases[i]), &off, &error);
		if (env)
			fail_msg("case %zu parsed: %s", i, cases[i]);
		assert_non_null(error);
		assert_int_equal(off, 12345);
	}
	/* an embedded NUL in a record */
	const char nul[] = "version 1\nid 0123456789ABCDEF\narrival 1\nsender a\0b\nsize 0\nrcpt notify=0 a@b\n\n";
	const char *error = NULL;
	size_t off;
	assert_null(queue_envelope_parse(nul, sizeof(nul) - 1, &off, &error));
}

/* every proper prefix ending before the blank line fails cleanly */
static void test_prefixes(void **state)
{
	(void)state;
	struct queue_envelope *env = sample_envelope();
	struct buf text;
	buf_init(&text);
	queue_envelope_serialize(env, &text);
	size_t env_len = text.len;
	buf_append_str(&text, "\nbody");
	for (size_t n = 0; n <= env_len; n++) {
		const char *error = NULL;
		size_t off;
		char *copy = malloc(n ? n : 1);
		memcpy(copy, text.data, n);
		struct queue_envelope *e = queue_envelope_parse(copy, n, &off, &error);
		assert_null(e);
		free(copy);
	}
	buf_free(&text);
	queue_envelope_free(&env);
}

/* random damage never crashes (ASan/UBSan watch) */
static void test_random_damage(void **state)
{
	(void)state;
	struct queue_envelope *env = sample_envelope();
	struct buf text;
	buf_init(&text);
	queue_envelope_serialize(env, &text);
	buf_append_str(&text, "\nbody");
	srand(12345);
	char *copy = malloc(text.len);
	for (int round = 0; round < 20000; round++) {
		memcpy(copy, text.data, text.len);
		int flips = 1 + rand() % 4;
		for (int f = 0; f < flips; f++)
			copy[rand() % (int)text.len] = (char)(rand() % 256);
		size_t len = (size_t)rand() % (text.len + 1);
		const char *error = NULL;
		size_t off = 0;
		struct queue_envelope *e = queue_envelope_parse(copy, len, &off, &error);
		if (e) {
			assert_true(off <= len);
			queue_envelope_free(&e);
		} else {
			assert_non_null(error);
		}
	}
	free(copy);
	buf_free(&text);
	queue_envelope_free(&env);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip_plain),
		cmocka_unit_test(test_round_trip_srs),
		cmocka_unit_test(test_round_trip_minimal),
		cmocka_unit_test(test_round_trip_hostile),
		cmocka_unit_test(test_valid_minimal_text),
		cmocka_unit_test(test_body_crc),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_prefixes),
		cmocka_unit_test(test_random_damage),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
