/* tests/unit/mailauth/test-dmarc-dns - the DMARC discovery driver
 * (dmarc_request_start) on dns/'s resolver against dnsmasq on a free
 * loopback port: the From domain's record, else the organizational
 * domain's; one callback per request, from the loop; none after a cancel;
 * cancels from inside callbacks (the request's own, another's). */
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
	enum dmarc_found_status status;
	char record_domain[64];
	char policy[16];
	struct dmarc_request *self;      /* cancelled inside its own callback */
	struct dmarc_request **other;    /* cancelled inside this callback */
	struct event_base *stop;         /* loopbreak when called */
};

static struct mailauth_psl *psl;

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	const char *const records[] = {
		"--local=/test/",
		"--txt-record=_dmarc.example.test,v=DMARC1; p=reject; sp=quarantine",
		"--txt-record=_dmarc.own.example.test,v=DMARC1; p=none",
		"--txt-record=_dmarc.two.test,v=DMARC1; p=none",
		"--txt-record=_dmarc.two.test,v=DMARC1; p=reject",
		NULL,
	};
	if (test_dnsmasq_start(records, &f->dnsmasq, &f->port) != 0) {
		free(f);
		return -1;
	}
	const char *psl_error = NULL;
	psl = mailauth_psl_parse("com\n", 4, &(size_t){ 0 }, &psl_error);
	assert_non_null(psl);
	f->base = event_base_new();
	f->resolver = test_dns_resolver(f->base, f->port, 5000);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	dns_resolver_free(&f->resolver);
	mailauth_psl_free(&psl);
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

static void on_done(void *ctx, struct dmarc_discovery *discovery)
{
	struct seen *seen = ctx;
	const struct dmarc_found *found = dmarc_discovery_found(discovery);
	seen->calls++;
	seen->status = found->status;
	snprintf(seen->record_domain, sizeof(seen->record_domain), "%s",
		 found->record_domain ? found->record_domain : "");
	snprintf(seen->policy, sizeof(seen->policy), "%s",
		 found->record ? dmarc_policy_name(found->record->p) : "");
	dmarc_discovery_free(&discovery);
	if (seen->self != NULL)
		dmarc_request_cancel(seen->self);   /* must do nothing */
	if (seen->other != NULL && *seen->other != NULL) {
		dmarc_request_cancel(*seen->other);
		*seen->other = NULL;
	}
	if (seen->stop != NULL)
		event_base_loopbreak(seen->stop);
}

/* run_until - the loop until every SEEN has its callback */
static void run_until(struct fixture *f, struct seen **seen, size_t n)
{
	for (;;) {
		unsigned missing = 0, before = 0;
		for (size_t i = 0; i < n; i++) {
			missing += seen[i]->calls == 0;
			before += seen[i]->calls;
			seen[i]->stop = f->base;
		}
		if (missing == 0)
			return;
		run_loop(f);
		unsigned after = 0;
		for (size_t i = 0; i < n; i++)
			after += seen[i]->calls;
		assert_true(after > before);
	}
}

/* test_dmarc_request_found - the From domain's own record, the
 * organizational domain's, several, none: one callback each */
static void test_dmarc_request_found(void **state)
{
	struct fixture *f = *state;
	struct seen own = { 0 }, org = { 0 }, several = { 0 }, none = { 0 };
	dmarc_request_start(f->base, f->resolver, psl, "own.example.test", on_done, &own);
	dmarc_request_start(f->base, f->resolver, psl, "Mail.Example.Test.", on_done, &org);
	dmarc_request_start(f->base, f->resolver, psl, "two.test", on_done, &several);
	dmarc_request_start(f->base, f->resolver, psl, "a.nothing.test", on_done, &none);
	assert_int_equal(own.calls + org.calls + several.calls + none.calls, 0);
	struct seen *all[] = { &own, &org, &several, &none };
	run_until(f, all, 4);
	for (int i = 0; i < 20; i++)
		event_base_loop(f->base, EVLOOP_NONBLOCK);
	assert_int_equal(own.calls, 1);
	assert_int_equal(own.status, DMARC_FOUND_RECORD);
	assert_string_equal(own.record_domain, "own.example.test");
	assert_string_equal(own.policy, "none");
	assert_int_equal(org.calls, 1);
	assert_int_equal(org.status, DMARC_FOUND_RECORD);
	assert_string_equal(org.record_domain, "example.test");
	assert_string_equal(org.policy, "reject");
	assert_int_equal(several.calls, 1);
	assert_int_equal(several.status, DMARC_FOUND_SEVERAL);
	assert_int_equal(none.calls, 1);
	assert_int_equal(none.status, DMARC_FOUND_NONE);
}

/* test_dmarc_request_no_dns - a From domain that is no domain name ends at
 * once, still from the loop; cancelled before the loop runs: never */
static void test_dmarc_request_no_dns(void **state)
{
	struct fixture *f = *state;
	struct seen seen = { 0 };
	dmarc_request_start(f->base, f->resolver, psl, "not a domain", on_done, &seen);
	assert_int_equal(seen.calls, 0);
	struct seen *one[] = { &seen };
	run_until(f, one, 1);
	assert_int_equal(seen.status, DMARC_FOUND_BAD_DOMAIN);

	struct seen never = { 0 }, after = { 0 };
	struct dmarc_request *r = dmarc_request_start(f->base, f->resolver, psl, "not a domain",
						      on_done, &never);
	dmarc_request_cancel(r);
	dmarc_request_start(f->base, f->resolver, psl, "not a domain", on_done, &after);
	struct seen *two[] = { &after };
	run_until(f, two, 1);
	assert_int_equal(never.calls, 0);
}

/* test_dmarc_request_cancel - cancelled with its query in flight: never,
 * while a twin started with it answers */
static void test_dmarc_request_cancel(void **state)
{
	struct fixture *f = *state;
	struct seen cancelled = { 0 }, twin = { 0 };
	struct dmarc_request *r = dmarc_request_start(f->base, f->resolver, psl,
						      "mail.example.test", on_done, &cancelled);
	dmarc_request_start(f->base, f->resolver, psl, "mail.example.test", on_done, &twin);
	dmarc_request_cancel(r);
	struct seen *one[] = { &twin };
	run_until(f, one, 1);
	assert_int_equal(twin.status, DMARC_FOUND_RECORD);
	for (int i = 0; i < 20; i++)
		event_base_loop(f->base, EVLOOP_NONBLOCK);
	assert_int_equal(cancelled.calls, 0);
}

/* test_dmarc_request_cancel_in_callback - the request's own cancel inside
 * its callback does nothing (ASan watches the free after it returns); a
 * callback cancelling another pending request stops that one */
static void test_dmarc_request_cancel_in_callback(void **state)
{
	struct fixture *f = *state;
	struct dmarc_request *victim = NULL;
	struct seen first = { .other = &victim }, second = { 0 };
	struct dmarc_request *r = dmarc_request_start(f->base, f->resolver, psl, "not a domain",
						      on_done, &first);
	first.self = r;
	victim = dmarc_request_start(f->base, f->resolver, psl, "mail.example.test", on_done,
				     &second);
	struct seen *one[] = { &first };
	run_until(f, one, 1);
	assert_null(victim);
	struct seen twin = { 0 };
	dmarc_request_start(f->base, f->resolver, psl, "mail.example.test", on_done, &twin);
	struct seen *two[] = { &twin };
	run_until(f, two, 1);
	for (int i = 0; i < 20; i++)
		event_base_loop(f->base, EVLOOP_NONBLOCK);
	assert_int_equal(second.calls, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_dmarc_request_found, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dmarc_request_no_dns, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dmarc_request_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dmarc_request_cancel_in_callback, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
