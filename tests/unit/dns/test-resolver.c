/* unit tests of src/dns against a real DNS server: dnsmasq on a free
 * loopback port, started and killed around each test (TESTING.md). */
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
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "../dnsmasq-fixture.h"
#include "dns/dns.h"

#define LOOP_LIMIT_MS 8000

/* 200 + 200 + 100 octets in three character-strings */
#define TXT_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define TXT_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define TXT_C "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"

struct fixture {
	pid_t dnsmasq;
	unsigned port;
	int blackhole_fd;        /* a bound UDP socket that never answers */
	struct event_base *base;
	struct dns_resolver *resolver;
};

struct mx_copy {
	bool done;
	enum dns_status status;
	bool implicit;
	size_t host_count;
	struct {
		char name[256];
		unsigned preference;
		enum dns_status status;
		size_t address_count;
		char addresses[20][64];
	} hosts[20];
};

struct records_copy {
	bool done;
	enum dns_status status;
	uint32_t ttl;
	size_t count;
	char items[8][1024];
};

static struct event_base *current_base;

static int start_dnsmasq(struct fixture *f);

/* start_dnsmasq - the zone every test resolves in, on a free port */
static int start_dnsmasq(struct fixture *f)
{
	static const char *const records[] = {
		"--local-ttl=300", "--local=/test/", "--local=/in-addr.arpa/",
		"--mx-host=example.test,mx1.example.test,10",
		"--mx-host=example.test,mx2.example.test,10",
		"--mx-host=example.test,mx3.example.test,20",
		"--host-record=mx1.example.test,127.0.0.2",
		"--host-record=mx2.example.test,127.0.0.3,::1",
		"--cname=mx3.example.test,mx1.example.test",
		"--mx-host=nullmx.test,.,0",
		"--host-record=implicit.test,127.0.0.4",
		"--txt-record=txt.test," TXT_A TXT_A "," TXT_B TXT_B "," TXT_C,
		"--txt-record=nodata.test,only text",
		"--mx-host=dead.test,nohost.dead.test,10",
		"--ptr-record=2.0.0.127.in-addr.arpa,mx1.example.test",
		NULL,
	};
	return test_dnsmasq_start(records, &f->dnsmasq, &f->port);
}

static struct dns_resolver *new_resolver(struct fixture *f, unsigned port, const char *zones,
					 unsigned timeout_ms)
{
	char fwd[64];
	snprintf(fwd, sizeof(fwd), "127.0.0.1@%u", port);
	struct dns_settings settings = {
		.forwarder = fwd, .special_zones = zones, .timeout_ms = timeout_ms,
	};
	const char *error = NULL;
	struct dns_resolver *resolver = dns_resolver_create(f->base, &settings, &error);
	if (resolver == NULL)
		fail_msg("dns_resolver_create: %s", error);
	return resolver;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	f->blackhole_fd = -1;
	if (start_dnsmasq(f) < 0) {
		free(f);
		return -1;
	}
	f->base = event_base_new();
	current_base = f->base;
	f->resolver = new_resolver(f, f->port, "test", 5000);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	dns_resolver_free(&f->resolver);
	event_base_free(f->base);
	if (f->dnsmasq > 0) {
		kill(f->dnsmasq, SIGTERM);
		waitpid(f->dnsmasq, NULL, 0);
	}
	if (f->blackhole_fd >= 0)
		close(f->blackhole_fd);
	free(f);
	return 0;
}

/* a UDP port that swallows queries: our timeout must fire */
static unsigned blackhole(struct fixture *f)
{
	f->blackhole_fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in sin = { .sin_family = AF_INET };
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(f->blackhole_fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	socklen_t len = sizeof(sin);
	assert_int_equal(getsockname(f->blackhole_fd, (struct sockaddr *)&sin, &len), 0);
	return ntohs(sin.sin_port);
}

static void loop_limit_cb(evutil_socket_t fd, short what, void *arg)
{
	event_base_loopbreak(arg);
}

/* run_loop - run until *DONE (set by a callback) or MS milliseconds */
static void run_loop(struct event_base *base, const bool *done, unsigned ms)
{
	struct event *limit = evtimer_new(base, loop_limit_cb, base);
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	evtimer_add(limit, &tv);
	while (done == NULL || !*done) {
		if (event_base_loop(base, EVLOOP_ONCE) != 0 || event_base_got_break(base))
			break;
	}
	event_free(limit);
}

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void mx_cb(void *ctx, const struct dns_mx_result *result)
{
	struct mx_copy *c = ctx;
	assert_false(c->done);
	c->done = true;
	c->status = result->status;
	c->implicit = result->implicit;
	c->host_count = result->host_count;
	assert_true(result->host_count <= 20);
	for (size_t i = 0; i < result->host_count; i++) {
		const struct dns_mx_host *h = &result->hosts[i];
		snprintf(c->hosts[i].name, sizeof(c->hosts[i].name), "%s", h->name);
		c->hosts[i].preference = h->preference;
		c->hosts[i].status = h->status;
		c->hosts[i].address_count = h->address_count;
		assert_true(h->address_count <= 20);
		for (size_t k = 0; k < h->address_count; k++)
			snprintf(c->hosts[i].addresses[k], 64, "%s", h->addresses[k]);
	}
}

static void records_cb(void *ctx, const struct dns_records *records)
{
	struct records_copy *c = ctx;
	assert_false(c->done);
	c->done = true;
	c->status = records->status;
	c->ttl = records->ttl;
	c->count = records->count;
	for (size_t i = 0; i < records->count && i < 8; i++)
		snprintf(c->items[i], sizeof(c->items[i]), "%s", records->items[i]);
}

static void never_mx_cb(void *ctx, const struct dns_mx_result *result)
{
	fail_msg("cancelled MX callback called");
}

static void never_records_cb(void *ctx, const struct dns_records *records)
{
	fail_msg("cancelled lookup callback called");
}

static void resolve_mx(struct fixture *f, const char *domain, struct mx_copy *c)
{
	memset(c, 0, sizeof(*c));
	assert_non_null(dns_resolve_mx(f->resolver, domain, mx_cb, c));
	run_loop(f->base, &c->done, LOOP_LIMIT_MS);
	assert_true(c->done);
}

static void lookup(struct fixture *f, const char *name, enum dns_type type,
		   struct records_copy *c)
{
	memset(c, 0, sizeof(*c));
	assert_non_null(dns_lookup(f->resolver, name, type, records_cb, c));
	run_loop(f->base, &c->done, LOOP_LIMIT_MS);
	assert_true(c->done);
}

/* ---- MX ------------------------------------------------------------------ */

static void test_mx_order_and_addresses(void **state)
{
	struct fixture *f = *state;
	struct mx_copy c;
	resolve_mx(f, "example.test", &c);
	assert_int_equal(c.status, DNS_OK);
	assert_false(c.implicit);
	assert_int_equal(c.host_count, 3);
	assert_int_equal(c.hosts[0].preference, 10);
	assert_int_equal(c.hosts[1].preference, 10);
	assert_int_equal(c.hosts[2].preference, 20);
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(c.hosts[i].status, DNS_OK);
		if (strcmp(c.hosts[i].name, "mx2.example.test") == 0) {
			/* AAAA answers first, then A */
			assert_int_equal(c.hosts[i].address_count, 2);
			assert_string_equal(c.hosts[i].addresses[0], "::1");
			assert_string_equal(c.hosts[i].addresses[1], "127.0.0.3");
		} else {
			assert_int_equal(c.hosts[i].address_count, 1);
			assert_string_equal(c.hosts[i].addresses[0], "127.0.0.2");
		}
	}
	assert_true(strcmp(c.hosts[0].name, "mx1.example.test") == 0 ||
		    strcmp(c.hosts[0].name, "mx2.example.test") == 0);
	assert_string_not_equal(c.hosts[0].name, c.hosts[1].name);
	/* mx3 is a CNAME to mx1: followed by the resolver */
	assert_string_equal(c.hosts[2].name, "mx3.example.test");
}

/* RFC 5321 5.1: random order among equal preferences */
static void test_mx_random_among_equals(void **state)
{
	struct fixture *f = *state;
	bool mx1_first = false, mx2_first = false;
	for (int i = 0; i < 200 && !(mx1_first && mx2_first); i++) {
		struct mx_copy c;
		resolve_mx(f, "example.test", &c);
		assert_int_equal(c.status, DNS_OK);
		assert_int_equal(c.host_count, 3);
		if (strcmp(c.hosts[0].name, "mx1.example.test") == 0)
			mx1_first = true;
		else if (strcmp(c.hosts[0].name, "mx2.example.test") == 0)
			mx2_first = true;
		assert_string_equal(c.hosts[2].name, "mx3.example.test");
	}
	assert_true(mx1_first);
	assert_true(mx2_first);
}

static void test_mx_null(void **state)
{
	struct fixture *f = *state;
	struct mx_copy c;
	resolve_mx(f, "nullmx.test", &c);
	assert_int_equal(c.status, DNS_NULL_MX);
	assert_int_equal(c.host_count, 0);
	assert_string_equal(dns_status_name(c.status), "null-mx");
}

static void test_mx_implicit(void **state)
{
	struct fixture *f = *state;
	struct mx_copy c;
	resolve_mx(f, "implicit.test", &c);
	assert_int_equal(c.status, DNS_OK);
	assert_true(c.implicit);
	assert_int_equal(c.host_count, 1);
	assert_string_equal(c.hosts[0].name, "implicit.test");
	assert_int_equal(c.hosts[0].preference, 0);
	assert_int_equal(c.hosts[0].address_count, 1);
	assert_string_equal(c.hosts[0].addresses[0], "127.0.0.4");

	/* a trailing dot is accepted and dropped */
	resolve_mx(f, "implicit.test.", &c);
	assert_int_equal(c.status, DNS_OK);
	assert_string_equal(c.hosts[0].name, "implicit.test");
}

/* the name exists (TXT only): no MX, no A/AAAA -> permanent NODATA */
static void test_mx_nodata(void **state)
{
	struct fixture *f = *state;
	struct mx_copy c;
	resolve_mx(f, "nodata.test", &c);
	assert_int_equal(c.status, DNS_NODATA);
	assert_true(c.implicit);
	assert_int_equal(c.host_count, 1);
	assert_int_equal(c.hosts[0].status, DNS_NODATA);
	assert_int_equal(c.hosts[0].address_count, 0);
}

static void test_mx_nxdomain(void **state)
{
	struct fixture *f = *state;
	struct mx_copy c;
	resolve_mx(f, "nowhere.test", &c);
	assert_int_equal(c.status, DNS_NXDOMAIN);
	assert_int_equal(c.host_count, 0);
}

/* an MX whose exchange does not exist: kept, with its permanent status */
static void test_mx_exchange_nxdomain(void **state)
{
	struct fixture *f = *state;
	struct mx_copy c;
	resolve_mx(f, "dead.test", &c);
	assert_int_equal(c.status, DNS_NXDOMAIN);
	assert_false(c.implicit);
	assert_int_equal(c.host_count, 1);
	assert_string_equal(c.hosts[0].name, "nohost.dead.test");
	assert_int_equal(c.hosts[0].status, DNS_NXDOMAIN);
}

/* ---- single lookups ------------------------------------------------------ */

static void test_lookup_txt_joined(void **state)
{
	struct fixture *f = *state;
	struct records_copy c;
	lookup(f, "txt.test", DNS_TYPE_TXT, &c);
	assert_int_equal(c.status, DNS_OK);
	assert_int_equal(c.count, 1);
	assert_string_equal(c.items[0], TXT_A TXT_A TXT_B TXT_B TXT_C);
	assert_true(c.ttl > 0 && c.ttl <= 300);
}

static void test_lookup_types(void **state)
{
	struct fixture *f = *state;
	struct records_copy c;

	lookup(f, "mx2.example.test", DNS_TYPE_A, &c);
	assert_int_equal(c.status, DNS_OK);
	assert_int_equal(c.count, 1);
	assert_string_equal(c.items[0], "127.0.0.3");

	lookup(f, "mx2.example.test", DNS_TYPE_AAAA, &c);
	assert_int_equal(c.status, DNS_OK);
	assert_string_equal(c.items[0], "::1");

	lookup(f, "mx3.example.test", DNS_TYPE_A, &c);       /* through the CNAME */
	assert_int_equal(c.status, DNS_OK);
	assert_string_equal(c.items[0], "127.0.0.2");

	lookup(f, "mx3.example.test", DNS_TYPE_CNAME, &c);
	assert_int_equal(c.status, DNS_OK);
	assert_string_equal(c.items[0], "mx1.example.test");

	lookup(f, "nullmx.test", DNS_TYPE_MX, &c);
	assert_int_equal(c.status, DNS_OK);
	assert_int_equal(c.count, 1);
	assert_string_equal(c.items[0], "0 .");

	lookup(f, "dead.test", DNS_TYPE_MX, &c);
	assert_int_equal(c.status, DNS_OK);
	assert_string_equal(c.items[0], "10 nohost.dead.test");

	/* 127.in-addr.arpa is special to libunbound too (RFC 6761 6.3) */
	dns_resolver_free(&f->resolver);
	f->resolver = new_resolver(f, f->port, "test,127.in-addr.arpa", 5000);
	lookup(f, "127.0.0.2", DNS_TYPE_PTR, &c);
	assert_int_equal(c.status, DNS_OK);
	assert_string_equal(c.items[0], "mx1.example.test");

	lookup(f, "2.0.0.127.in-addr.arpa", DNS_TYPE_PTR, &c);
	assert_int_equal(c.status, DNS_OK);
	assert_string_equal(c.items[0], "mx1.example.test");
}

static void test_lookup_nxdomain_nodata(void **state)
{
	struct fixture *f = *state;
	struct records_copy c;
	lookup(f, "nowhere.test", DNS_TYPE_A, &c);
	assert_int_equal(c.status, DNS_NXDOMAIN);
	assert_int_equal(c.count, 0);
	lookup(f, "nodata.test", DNS_TYPE_A, &c);
	assert_int_equal(c.status, DNS_NODATA);
	assert_int_equal(c.count, 0);
	lookup(f, "implicit.test", DNS_TYPE_TXT, &c);
	assert_int_equal(c.status, DNS_NODATA);
}

/* ---- failures, cancel, free ---------------------------------------------- */

/* nothing listens on the forwarder's port */
static void test_tempfail_no_server(void **state)
{
	struct fixture *f = *state;
	dns_resolver_free(&f->resolver);
	f->resolver = new_resolver(f, test_free_udp_port(), "test", 1000);
	long start = now_ms();
	struct mx_copy m;
	resolve_mx(f, "example.test", &m);
	assert_int_equal(m.status, DNS_TEMPFAIL);
	struct records_copy c;
	lookup(f, "txt.test", DNS_TYPE_TXT, &c);
	assert_int_equal(c.status, DNS_TEMPFAIL);
	assert_true(now_ms() - start < 5000);
}

/* the server swallows the query: our timer ends it */
static void test_tempfail_timeout(void **state)
{
	struct fixture *f = *state;
	dns_resolver_free(&f->resolver);
	f->resolver = new_resolver(f, blackhole(f), "test", 300);
	long start = now_ms();
	struct records_copy c;
	lookup(f, "txt.test", DNS_TYPE_TXT, &c);
	long elapsed = now_ms() - start;
	assert_int_equal(c.status, DNS_TEMPFAIL);
	assert_true(elapsed >= 250);
	assert_true(elapsed < 3000);
	struct mx_copy m;
	resolve_mx(f, "example.test", &m);
	assert_int_equal(m.status, DNS_TEMPFAIL);
	assert_int_equal(m.host_count, 0);
}

static void test_cancel(void **state)
{
	struct fixture *f = *state;
	dns_resolver_free(&f->resolver);
	f->resolver = new_resolver(f, blackhole(f), "test", 300);
	struct dns_query *q1 = dns_lookup(f->resolver, "txt.test", DNS_TYPE_TXT,
					  never_records_cb, NULL);
	struct dns_query *q2 = dns_resolve_mx(f->resolver, "example.test", never_mx_cb, NULL);
	assert_non_null(q1);
	assert_non_null(q2);
	dns_cancel(q1);
	dns_cancel(q2);
	run_loop(f->base, NULL, 600);      /* past the timeout: still no callback */
}

/* answered queries cancelled, as well as ones still on the wire */
static void test_cancel_answered(void **state)
{
	struct fixture *f = *state;
	struct records_copy warm;
	lookup(f, "txt.test", DNS_TYPE_TXT, &warm);    /* now in the cache */
	struct dns_query *q = dns_lookup(f->resolver, "txt.test", DNS_TYPE_TXT,
					 never_records_cb, NULL);
	struct dns_query *m = dns_resolve_mx(f->resolver, "example.test", never_mx_cb, NULL);
	usleep(100000);                    /* the answers wait in the pipe */
	dns_cancel(q);
	dns_cancel(m);
	run_loop(f->base, NULL, 300);
}

static void test_free_with_pending(void **state)
{
	struct fixture *f = *state;
	dns_resolver_free(&f->resolver);
	f->resolver = new_resolver(f, blackhole(f), "test", 5000);
	for (int i = 0; i < 5; i++) {
		assert_non_null(dns_lookup(f->resolver, "txt.test", DNS_TYPE_TXT,
					   never_records_cb, NULL));
		assert_non_null(dns_resolve_mx(f->resolver, "example.test", never_mx_cb, NULL));
	}
	run_loop(f->base, NULL, 50);
	dns_resolver_free(&f->resolver);
	assert_null(f->resolver);
	run_loop(f->base, NULL, 50);
}

struct free_in_cb {
	struct fixture *f;
	int calls;
};

static void free_resolver_cb(void *ctx, const struct dns_records *records)
{
	struct free_in_cb *x = ctx;
	x->calls++;
	assert_int_equal(records->status, DNS_OK);
	dns_resolver_free(&x->f->resolver);
	event_base_loopbreak(x->f->base);
}

/* a callback may free the resolver while other queries are in flight */
static void test_free_in_callback(void **state)
{
	struct fixture *f = *state;
	struct free_in_cb x = { .f = f };
	assert_non_null(dns_lookup(f->resolver, "txt.test", DNS_TYPE_TXT, free_resolver_cb, &x));
	assert_non_null(dns_lookup(f->resolver, "txt.test", DNS_TYPE_TXT, free_resolver_cb, &x));
	assert_non_null(dns_resolve_mx(f->resolver, "example.test", never_mx_cb, NULL));
	run_loop(f->base, NULL, 2000);
	assert_int_equal(x.calls, 1);
	assert_null(f->resolver);
	run_loop(f->base, NULL, 100);
}

static void cancel_self_cb(void *ctx, const struct dns_records *records)
{
	struct dns_query **q = ctx;
	dns_cancel(*q);                    /* inside its own callback: no effect */
	*q = NULL;
}

static void test_cancel_in_own_callback(void **state)
{
	struct fixture *f = *state;
	struct dns_query *q = dns_lookup(f->resolver, "txt.test", DNS_TYPE_TXT,
					 cancel_self_cb, &q);
	assert_non_null(q);
	for (int i = 0; i < 200 && q != NULL; i++)
		run_loop(f->base, NULL, 10);
	assert_null(q);
}

/* without special_zones libunbound answers .test itself (RFC 6761) */
static void test_special_zones_needed(void **state)
{
	struct fixture *f = *state;
	dns_resolver_free(&f->resolver);
	f->resolver = new_resolver(f, f->port, NULL, 2000);
	struct records_copy c;
	lookup(f, "mx1.example.test", DNS_TYPE_A, &c);
	assert_int_equal(c.status, DNS_NXDOMAIN);
	dns_resolver_free(&f->resolver);
	f->resolver = new_resolver(f, f->port, "invalid, test.", 2000);
	lookup(f, "mx1.example.test", DNS_TYPE_A, &c);
	assert_int_equal(c.status, DNS_OK);
}

static void test_create_errors(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	struct dns_settings bad_fwd = { .forwarder = "not-an-address" };
	assert_null(dns_resolver_create(f->base, &bad_fwd, &error));
	assert_non_null(error);
	error = NULL;
	struct dns_settings bad_zone = { .forwarder = "127.0.0.1", .special_zones = "te\"st" };
	assert_null(dns_resolver_create(f->base, &bad_zone, &error));
	assert_non_null(error);
	assert_null(dns_lookup(f->resolver, "", DNS_TYPE_A, records_cb, NULL));
	assert_null(dns_resolve_mx(f->resolver, "", mx_cb, NULL));
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_mx_order_and_addresses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mx_random_among_equals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mx_null, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mx_implicit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mx_nodata, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mx_nxdomain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mx_exchange_nxdomain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lookup_txt_joined, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lookup_types, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lookup_nxdomain_nodata, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tempfail_no_server, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tempfail_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel_answered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_with_pending, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_in_callback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel_in_own_callback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_special_zones_needed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_errors, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
