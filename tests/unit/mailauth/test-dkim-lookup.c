/* tests/unit/mailauth/test-dkim-lookup - the asynchronous key lookups of
 * DKIM verification (dkim_verify_lookup_keys) on the real resolver, against
 * dnsmasq on a free loopback port serving RFC 8463 Appendix A's keys: the
 * answers decide the signatures and the callback comes once; a cancelled
 * lookup calls nothing back, even when its answers arrive (a later query of
 * the same names, asked after the cancel, has been answered by then). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "../dnsmasq-fixture.h"
#include "dns/dns.h"
#include "mailauth/mailauth.h"

#define LOOP_LIMIT_MS 8000

/* RFC 8463 Appendix A, stored with LF line ends (python3-dkim's copy) */
static const char message[] =
	"DKIM-Signature: v=1; a=ed25519-sha256; c=simple/simple; \n"
	" d=football.example.com; i=@football.example.com; \n"
	" q=dns/txt; s=brisbane; t=1518460054; h=from : to : \n"
	" subject : date : message-id : from : subject : date; \n"
	" bh=4bLNXImK9drULnmePzZNEBleUanJCX5PIsDIFoH4KTQ=; \n"
	" b=9/dsDChY0YMTtD5Eyw3wx7x22BlSJP7M5ECbJ7GWrR45nXlTCGb8l0YB\n"
	" o0wBLR++X5LqmsxXaOYLLJe46l10AQ==\n"
	"DKIM-Signature: v=1; a=rsa-sha256; c=simple/simple; \n"
	" d=football.example.com; i=@football.example.com; \n"
	" q=dns/txt; s=test; t=1527915362; h=from : to : subject : \n"
	" date : message-id : from : subject : date; \n"
	" bh=4bLNXImK9drULnmePzZNEBleUanJCX5PIsDIFoH4KTQ=; \n"
	" b=icKcLSEZYXJ95flvWE8FT6hl5iqd8MC/LEKYH0QjsqYy6MO/4pgVNCZH\n"
	" l/RAXAuADxE/40Fg7uTlxwwD1hjN2Ple6J//cJfslBdDOq6zTVbne1dqtl\n"
	" NOat7iamJ1AfRqyG+ja7a2AZsrpUuJ7VA6O+0zRYPqpwMEkEFIzI9i/Xk=\n"
	"From: Joe SixPack <joe@football.example.com>\n"
	"To: Suzie Q <suzie@shopping.example.net>\n"
	"Subject: Is dinner ready?\n"
	"Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\n"
	"Message-ID: <20030712040037.46341.5F8J@football.example.com>\n"
	"\n"
	"Hi.\n"
	"\n"
	"We lost the game.  Are you hungry yet?\n"
	"\n"
	"Joe.\n"
	"\n";

struct fixture {
	pid_t dnsmasq;
	unsigned port;
	struct event_base *base;
	struct dns_resolver *resolver;
	unsigned callbacks;
	bool sentinel_done;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	const char *const records[] = {
		"--local=/example.com/",
		"--txt-record=brisbane._domainkey.football.example.com,v=DKIM1; k=ed25519; "
		"p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
		/* python3-dkim's tests/data/test.txt, in two strings */
		"--txt-record=test._domainkey.football.example.com,v=DKIM1; g=*; k=rsa; p=MIGfMA0G"
		"CSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/J"
		"16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/,e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9Pzo"
		"xZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB",
		NULL,
	};
	if (test_dnsmasq_start(records, &f->dnsmasq, &f->port) != 0) {
		free(f);
		return -1;
	}
	f->base = event_base_new();
	char fwd[64];
	snprintf(fwd, sizeof(fwd), "127.0.0.1@%u", f->port);
	struct dns_settings settings = { .forwarder = fwd, .timeout_ms = 5000 };
	const char *error = NULL;
	f->resolver = dns_resolver_create(f->base, &settings, &error);
	if (f->resolver == NULL) {
		fprintf(stderr, "dns_resolver_create: %s\n", error);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	dns_resolver_free(&f->resolver);
	event_base_free(f->base);
	kill(f->dnsmasq, SIGTERM);
	waitpid(f->dnsmasq, NULL, 0);
	free(f);
	return 0;
}

static void loop_limit_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopbreak(arg);
}

/* run_loop - the loop until *DONE, or fail after LOOP_LIMIT_MS */
static void run_loop(struct fixture *f, const unsigned *count, const bool *done)
{
	struct event *limit = evtimer_new(f->base, loop_limit_cb, f->base);
	struct timeval tv = { LOOP_LIMIT_MS / 1000, 0 };
	evtimer_add(limit, &tv);
	while ((count ? *count == 0 : !*done) && evtimer_pending(limit, NULL))
		event_base_loop(f->base, EVLOOP_ONCE);
	bool timed_out = !evtimer_pending(limit, NULL);
	event_free(limit);
	if (timed_out)
		fail_msg("the loop ran %d ms without the answer", LOOP_LIMIT_MS);
}

static void keys_done(void *ctx)
{
	struct fixture *f = ctx;
	f->callbacks++;
}

static struct dkim_verify *new_verify(void)
{
	struct dkim_verify_settings settings = { .now = 1700000000 };
	struct dkim_verify *v = dkim_verify_create(&settings);
	dkim_verify_feed(v, message, strlen(message));
	dkim_verify_finish(v);
	return v;
}

static void test_lookup_decides(void **state)
{
	struct fixture *f = *state;
	struct dkim_verify *v = new_verify();
	struct dkim_key_lookup *lookup = dkim_verify_lookup_keys(v, f->resolver, keys_done, f);
	assert_non_null(lookup);
	assert_false(dkim_verify_is_done(v));
	run_loop(f, &f->callbacks, NULL);
	assert_int_equal(f->callbacks, 1);
	assert_true(dkim_verify_is_done(v));
	assert_int_equal(dkim_verify_report(v, 0)->result, DKIM_RESULT_PASS);
	assert_int_equal(dkim_verify_report(v, 1)->result, DKIM_RESULT_PASS);
	/* nothing left to look up: no lookup, no callback */
	assert_null(dkim_verify_lookup_keys(v, f->resolver, keys_done, f));
	dkim_verify_free(&v);
}

static void sentinel_cb(void *ctx, const struct dns_records *records)
{
	struct fixture *f = ctx;
	assert_int_equal(records->status, DNS_OK);
	f->sentinel_done = true;
}

static void test_lookup_cancelled(void **state)
{
	struct fixture *f = *state;
	struct dkim_verify *v = new_verify();
	struct dkim_key_lookup *lookup = dkim_verify_lookup_keys(v, f->resolver, keys_done, f);
	assert_non_null(lookup);
	dkim_key_lookup_cancel(&lookup);
	assert_null(lookup);
	dkim_key_lookup_cancel(&lookup);  /* NULL: nothing */
	/* asked after the cancelled ones, answered after them */
	assert_non_null(dns_lookup(f->resolver, "test._domainkey.football.example.com",
				   DNS_TYPE_TXT, sentinel_cb, f));
	run_loop(f, NULL, &f->sentinel_done);
	assert_int_equal(f->callbacks, 0);
	assert_false(dkim_verify_is_done(v));
	assert_non_null(dkim_verify_key_name(v, 0));
	dkim_verify_free(&v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_lookup_decides, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lookup_cancelled, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
