/* tests/unit/mailauth/test-domain-check - the domain check
 * (domain_check_start) on dns/'s resolver against dnsmasq on a free
 * loopback port: the six sections in order, the records to publish for a
 * domain that has none (the DKIM one being the record the caller gave for
 * its selector), the TXT zone line split in 255-octet strings; and no
 * callback after domain_check_free, before the loop runs or while lookups
 * wait for a forwarder that never answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <event2/event.h>

#include "../dnsmasq-fixture.h"
#include "dns/dns.h"
#include "mailauth/mailauth.h"

#define LOOP_LIMIT_MS 8000
/* two Ed25519 public keys (openssl genpkey): the one good.test publishes,
 * and another (with folding whitespace, as a record may hold it) */
#define KEY_PUBLISHED "98AcyzCrm/ILckPTry+G2T9vbc4XoJJpno5spW1HoGA="
#define KEY_OTHER "2IgWxmlc2PA2qAIebXuF3QGnFRJtHW+ EPe3vfufheDc="

struct fixture {
	pid_t dnsmasq;
	unsigned port;
	struct event_base *base;
	struct dns_resolver *resolver;
	struct mailauth_psl *psl;
};

struct seen {
	unsigned calls;
	struct event_base *stop;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	const char *const records[] = {
		"--local=/test/",
		"--mx-host=good.test,mx.good.test,10",
		"--host-record=mx.good.test,127.0.0.1",
		"--txt-record=good.test,v=spf1 ip4:127.0.0.1 -all",
		"--txt-record=ed._domainkey.good.test,v=DKIM1; k=ed25519; p=" KEY_PUBLISHED,
		NULL,
	};
	if (test_dnsmasq_start(records, &f->dnsmasq, &f->port) != 0) {
		free(f);
		return -1;
	}
	const char *psl_error = NULL;
	f->psl = mailauth_psl_parse("com\n", 4, &(size_t){ 0 }, &psl_error);
	assert_non_null(f->psl);
	f->base = event_base_new();
	f->resolver = test_dns_resolver(f->base, f->port, 5000);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	dns_resolver_free(&f->resolver);
	mailauth_psl_free(&f->psl);
	event_base_free(f->base);
	kill(f->dnsmasq, SIGTERM);
	waitpid(f->dnsmasq, NULL, 0);
	free(f);
	return 0;
}

static void on_over(void *ctx, struct domain_check *check)
{
	struct seen *seen = ctx;
	seen->calls++;
	assert_non_null(check);
	if (seen->stop)
		event_base_loopbreak(seen->stop);
}

static struct domain_check_settings settings_for(const struct fixture *f)
{
	static const char *const selectors[] = { "s1" };
	static const char *const records[] = { "v=DKIM1; k=rsa; p=MIIBkey" };
	return (struct domain_check_settings){
		.hostname = "localhost", .receives = false, .selectors = selectors,
		.selector_records = records, .selector_count = 1, .selectors_local = true,
		.psl = f->psl,
	};
}

static const struct domain_check_section *section(const struct domain_check *check,
						  const char *name)
{
	size_t count = 0;
	const struct domain_check_section *s = domain_check_sections(check, &count);
	for (size_t i = 0; i < count; i++)
		if (strcmp(s[i].name, name) == 0)
			return &s[i];
	fail_msg("no section %s", name);
	return NULL;
}

/* test_check_publishes_what_is_missing - a domain without records: each
 * one's fix, the DKIM key record the caller gave for its selector */
static void test_check_publishes_what_is_missing(void **state)
{
	struct fixture *f = *state;
	struct seen seen = { .stop = f->base };
	struct domain_check_settings settings = settings_for(f);
	struct domain_check *check = domain_check_start(f->base, f->resolver, &settings,
							"Bare.TEST", on_over, &seen);
	assert_int_equal(seen.calls, 0);    /* never from inside the start */
	test_loop_run(f->base, LOOP_LIMIT_MS);
	assert_int_equal(seen.calls, 1);
	assert_string_equal(domain_check_domain(check), "bare.test");
	size_t count = 0;
	const struct domain_check_section *s = domain_check_sections(check, &count);
	assert_int_equal(count, DOMAIN_CHECK_SECTIONS);
	const char *const names[] = { "mx", "spf", "dkim", "dmarc", "mta-sts", "tls-rpt" };
	for (size_t i = 0; i < count; i++)
		assert_string_equal(s[i].name, names[i]);
	assert_int_equal(domain_check_worst(check), DOMAIN_CHECK_ERROR);

	const struct domain_check_section *dkim = section(check, "dkim");
	assert_int_equal(dkim->status, DOMAIN_CHECK_ERROR);
	assert_int_equal(dkim->publish_count, 1);
	assert_string_equal(dkim->publish[0].name, "s1._domainkey.bare.test");
	assert_string_equal(dkim->publish[0].type, "TXT");
	assert_string_equal(dkim->publish[0].value, "v=DKIM1; k=rsa; p=MIIBkey");
	assert_string_equal(dkim->publish[0].zone,
			    "s1._domainkey.bare.test. IN TXT \"v=DKIM1; k=rsa; p=MIIBkey\"");
	const struct domain_check_section *spf = section(check, "spf");
	assert_int_equal(spf->publish_count, 1);
	assert_string_equal(spf->publish[0].value, "v=spf1 mx -all");
	const struct domain_check_section *dmarc = section(check, "dmarc");
	assert_int_equal(dmarc->publish_count, 1);
	assert_string_equal(dmarc->publish[0].name, "_dmarc.bare.test");
	assert_int_equal(section(check, "mta-sts")->status, DOMAIN_CHECK_OK);
	domain_check_free(&check);
	assert_null(check);
	domain_check_free(&check);   /* NULL: nothing */
}

/* test_check_good_records - MX and SPF as they should be: OK, nothing to
 * publish for them */
static void test_check_good_records(void **state)
{
	struct fixture *f = *state;
	struct seen seen = { .stop = f->base };
	struct domain_check_settings settings = settings_for(f);
	settings.hostname = "mx.good.test";
	settings.receives = true;
	struct domain_check *check = domain_check_start(f->base, f->resolver, &settings,
							"good.test", on_over, &seen);
	test_loop_run(f->base, LOOP_LIMIT_MS);
	assert_int_equal(seen.calls, 1);
	const struct domain_check_section *mx = section(check, "mx");
	assert_int_equal(mx->status, DOMAIN_CHECK_OK);
	assert_int_equal(mx->publish_count, 0);
	const struct domain_check_section *spf = section(check, "spf");
	assert_int_equal(spf->status, DOMAIN_CHECK_OK);
	assert_int_equal(spf->publish_count, 0);
	assert_string_equal(spf->records[0], "v=spf1 ip4:127.0.0.1 -all");
	domain_check_free(&check);
}

/* check_dkim - good.test's selector "ed" checked against OUR_RECORD */
static struct domain_check *check_dkim(struct fixture *f, const char *our_record)
{
	struct seen seen = { .stop = f->base };
	const char *selectors[] = { "ed" }, *records[] = { our_record };
	struct domain_check_settings settings = settings_for(f);
	settings.selectors = selectors;
	settings.selector_records = records;
	struct domain_check *check = domain_check_start(f->base, f->resolver, &settings,
							"good.test", on_over, &seen);
	test_loop_run(f->base, LOOP_LIMIT_MS);
	assert_int_equal(seen.calls, 1);
	return check;
}

/* test_dkim_key_not_ours - a published key other than this server's: ERROR
 * and ours to publish; the same key (FWS aside): OK, nothing to publish */
static void test_dkim_key_not_ours(void **state)
{
	struct fixture *f = *state;
	struct domain_check *check = check_dkim(f, "v=DKIM1; k=ed25519; p=" KEY_OTHER);
	const struct domain_check_section *dkim = section(check, "dkim");
	assert_int_equal(dkim->status, DOMAIN_CHECK_ERROR);
	assert_non_null(strstr(dkim->findings[dkim->finding_count - 1].text,
			       "is not the one this server signs with"));
	assert_int_equal(dkim->publish_count, 1);
	assert_string_equal(dkim->publish[0].value, "v=DKIM1; k=ed25519; p=" KEY_OTHER);
	domain_check_free(&check);

	check = check_dkim(f, "v=DKIM1; k=ed25519; p=98AcyzCrm/ILckPTry+G2T9vbc4Xo JJpno5spW1HoGA=");
	dkim = section(check, "dkim");
	assert_int_equal(dkim->status, DOMAIN_CHECK_OK);
	assert_int_equal(dkim->publish_count, 0);
	domain_check_free(&check);
}

/* test_free_cancels - freed before the loop runs, or while its lookups
 * wait for a forwarder that never answers: no callback, nothing left (ASan) */
static void test_free_cancels(void **state)
{
	struct fixture *f = *state;
	struct seen seen = { 0 };
	struct domain_check_settings settings = settings_for(f);
	struct domain_check *check = domain_check_start(f->base, f->resolver, &settings,
							"bare.test", on_over, &seen);
	domain_check_free(&check);
	test_loop_run(f->base, 300);
	assert_int_equal(seen.calls, 0);

	unsigned silent = test_free_udp_port();
	assert_true(silent != 0);
	struct dns_resolver *mute = test_dns_resolver(f->base, silent, 5000);
	settings.hostname = "mx.good.test";   /* its A and AAAA asked too */
	check = domain_check_start(f->base, mute, &settings, "good.test", on_over, &seen);
	test_loop_run(f->base, 300);
	assert_int_equal(seen.calls, 0);
	domain_check_free(&check);
	test_loop_run(f->base, 300);
	assert_int_equal(seen.calls, 0);
	dns_resolver_free(&mute);
}

/* test_txt_record_strings - RFC 1035 3.3.14: strings of at most 255 octets */
static void test_txt_record_strings(void **state)
{
	(void)state;
	char text[301];
	memset(text, 'a', 300);
	text[300] = '\0';
	char *zone = domain_check_txt_record("x.test", text);
	char want[400];
	snprintf(want, sizeof(want), "x.test. IN TXT \"%.*s\" \"%.*s\"", 255, text, 45, text);
	assert_string_equal(zone, want);
	free(zone);
	zone = domain_check_txt_record("x.test", "");
	assert_string_equal(zone, "x.test. IN TXT \"\"");
	free(zone);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check_publishes_what_is_missing),
		cmocka_unit_test(test_check_good_records),
		cmocka_unit_test(test_dkim_key_not_ours),
		cmocka_unit_test(test_free_cancels),
		cmocka_unit_test(test_txt_record_strings),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
