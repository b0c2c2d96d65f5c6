/* tests/unit/mailauth/test-spf-dns - the SPF driver (spf_request_start) on
 * dns/'s resolver against dnsmasq on a free loopback port: one callback
 * per request, from the loop; none after a cancel; cancels from inside
 * callbacks (the request's own, another's). */
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

struct fixture {
	pid_t dnsmasq;
	unsigned port;
	struct event_base *base;
	struct dns_resolver *resolver;
};

struct seen {
	unsigned calls;
	enum spf_result result;
	char mechanism[64];
	struct spf_request *self;        /* cancelled inside its own callback */
	struct spf_request **other;      /* cancelled inside this callback */
	struct event_base *stop;         /* loopbreak when called */
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	const char *const records[] = {
		"--local=/test/",
		"--txt-record=example.test,v=spf1 a:mail.example.test -all",
		"--host-record=mail.example.test,192.0.2.5",
		NULL,
	};
	if (test_dnsmasq_start(records, &f->dnsmasq, &f->port) != 0) {
		free(f);
		return -1;
	}
	f->base = event_base_new();
	f->resolver = test_dns_resolver(f->base, f->port, 5000);
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

/* run_loop - until a callback breaks it, at most LOOP_LIMIT_MS */
static void run_loop(struct fixture *f)
{
	test_loop_run(f->base, LOOP_LIMIT_MS);
}

static void on_done(void *ctx, const struct spf_outcome *o)
{
	struct seen *seen = ctx;
	seen->calls++;
	seen->result = o->result;
	snprintf(seen->mechanism, sizeof(seen->mechanism), "%s",
		 o->mechanism ? o->mechanism : "");
	if (seen->self != NULL)
		spf_request_cancel(seen->self);   /* must do nothing */
	if (seen->other != NULL && *seen->other != NULL) {
		spf_request_cancel(*seen->other);
		*seen->other = NULL;
	}
	if (seen->stop != NULL)
		event_base_loopbreak(seen->stop);
}

static struct spf_params params(const char *ip)
{
	struct spf_params p = { .ip = ip, .sender = "alice@example.test",
				.helo = "client.example.test", .now = 1 };
	return p;
}

/* test_spf_request_results - pass and fail through real DNS, one callback each */
static void test_spf_request_results(void **state)
{
	struct fixture *f = *state;
	struct seen pass = { .stop = NULL }, fail = { .stop = f->base };
	struct spf_params p1 = params("192.0.2.5"), p2 = params("192.0.2.6");
	spf_request_start(f->base, f->resolver, &p1, on_done, &pass);
	spf_request_start(f->base, f->resolver, &p2, on_done, &fail);
	while (pass.calls == 0 || fail.calls == 0) {
		unsigned before = pass.calls + fail.calls;
		run_loop(f);
		assert_true(pass.calls + fail.calls > before);
		fail.stop = pass.stop = f->base;
	}
	assert_int_equal(pass.calls, 1);
	assert_int_equal(pass.result, SPF_RESULT_PASS);
	assert_string_equal(pass.mechanism, "a:mail.example.test");
	assert_int_equal(fail.calls, 1);
	assert_int_equal(fail.result, SPF_RESULT_FAIL);
	assert_string_equal(fail.mechanism, "-all");
}

/* test_spf_request_no_dns - a result known at once still comes from the loop */
static void test_spf_request_no_dns(void **state)
{
	struct fixture *f = *state;
	struct seen seen = { .stop = f->base };
	struct spf_params p = params("not an address");
	spf_request_start(f->base, f->resolver, &p, on_done, &seen);
	assert_int_equal(seen.calls, 0);
	run_loop(f);
	assert_int_equal(seen.calls, 1);
	assert_int_equal(seen.result, SPF_RESULT_NONE);

	/* and cancelled before the loop runs: never */
	struct seen never = { 0 }, after = { .stop = f->base };
	struct spf_request *r = spf_request_start(f->base, f->resolver, &p, on_done, &never);
	spf_request_cancel(r);
	spf_request_start(f->base, f->resolver, &p, on_done, &after);
	run_loop(f);
	assert_int_equal(after.calls, 1);
	assert_int_equal(never.calls, 0);
}

/* test_spf_request_cancel - a request cancelled while its query is in
 * flight never calls back, while a twin started with it does */
static void test_spf_request_cancel(void **state)
{
	struct fixture *f = *state;
	struct seen cancelled = { 0 }, twin = { .stop = f->base };
	struct spf_params p = params("192.0.2.5");
	struct spf_request *r = spf_request_start(f->base, f->resolver, &p, on_done, &cancelled);
	spf_request_start(f->base, f->resolver, &p, on_done, &twin);
	spf_request_cancel(r);
	run_loop(f);
	assert_int_equal(twin.calls, 1);
	assert_int_equal(twin.result, SPF_RESULT_PASS);
	/* the twin's answers came: the cancelled one's would have too */
	for (int i = 0; i < 20; i++)
		event_base_loop(f->base, EVLOOP_NONBLOCK);
	assert_int_equal(cancelled.calls, 0);
}

/* test_spf_request_cancel_in_callback - the request's own cancel inside
 * its callback does nothing (freed after it returns: ASan watches); a
 * callback cancelling another pending request stops that one */
static void test_spf_request_cancel_in_callback(void **state)
{
	struct fixture *f = *state;
	struct spf_request *victim = NULL;
	struct seen first = { .stop = f->base, .other = &victim }, second = { 0 };
	struct spf_params fast = params("not an address");   /* ends first, no DNS */
	struct spf_params slow = params("192.0.2.5");
	struct spf_request *r = spf_request_start(f->base, f->resolver, &fast, on_done, &first);
	first.self = r;
	victim = spf_request_start(f->base, f->resolver, &slow, on_done, &second);
	run_loop(f);
	assert_int_equal(first.calls, 1);
	assert_null(victim);
	/* a twin of the victim, to know its answers would have come by now */
	struct seen twin = { .stop = f->base };
	spf_request_start(f->base, f->resolver, &slow, on_done, &twin);
	run_loop(f);
	assert_int_equal(twin.calls, 1);
	for (int i = 0; i < 20; i++)
		event_base_loop(f->base, EVLOOP_NONBLOCK);
	assert_int_equal(second.calls, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_spf_request_results, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spf_request_no_dns, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spf_request_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spf_request_cancel_in_callback, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
