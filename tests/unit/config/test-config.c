/* test-config - unit tests of src/config: defaults, a full file, every kind
 * of error with its "file:line: ..." text, listeners, paths, local domains.
 * Each test writes its file into a fresh mkdtemp() directory and removes it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "util/xalloc.h"

struct fixture {
	char dir[64];      /* as created, e.g. /tmp/petrel-config-XXXXXX */
	char *realdir;     /* realpath() of dir: what relative paths resolve to */
	char *path;        /* dir/petrel.conf */
};

static int setup(void **state);
static int teardown(void **state);
static void write_file(const char *path, const char *text);
static struct config *load_text(struct fixture *f, const char *text);
static void expect_error(struct fixture *f, const char *text, const char *suffix);

/* setup - a temporary directory for this test's files */
static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));

	strcpy(f->dir, "/tmp/petrel-config-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	f->realdir = realpath(f->dir, NULL);
	f->path = xasprintf("%s/petrel.conf", f->dir);
	*state = f;
	return 0;
}

/* teardown - remove the file and the directory */
static int teardown(void **state)
{
	struct fixture *f = *state;

	unlink(f->path);
	rmdir(f->dir);
	free(f->realdir);
	free(f->path);
	free(f);
	return 0;
}

static void write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	assert_int_equal(fputs(text, fp) >= 0, 1);
	assert_int_equal(fclose(fp), 0);
}

/* load_text - write TEXT as the config file and load it; must succeed */
static struct config *load_text(struct fixture *f, const char *text)
{
	const char *error = NULL;
	struct config *config;

	write_file(f->path, text);
	config = config_load(f->path, &error);
	if (config == NULL)
		fail_msg("unexpected error: %s", error);
	assert_string_equal(config->path, f->path);
	return config;
}

/* expect_error - loading TEXT fails with "PATH:" SUFFIX */
static void expect_error(struct fixture *f, const char *text, const char *suffix)
{
	const char *error = NULL;
	struct config *config;
	char *want = xasprintf("%s:%s", f->path, suffix);

	write_file(f->path, text);
	config = config_load(f->path, &error);
	if (config != NULL)
		fail_msg("loaded, but expected error %s\n--- file ---\n%s", want, text);
	assert_non_null(error);
	if (strcmp(error, want) != 0)
		fail_msg("got  '%s'\nwant '%s'\n--- file ---\n%s", error, want, text);
	free(want);
}

static void test_defaults(void **state)
{
	struct config *config = config_defaults();

	(void)state;
	assert_null(config->path);
	assert_non_null(config->hostname);
	assert_true(strlen(config->hostname) > 0);
	assert_string_equal(config->data_dir, "/var/lib/petrel");
	assert_string_equal(config->user, "petrel");
	assert_string_equal(config->log_level, "info");
	assert_false(config->syslog);
	assert_int_equal(config->workers, 4);
	assert_int_equal(config->malloc_arenas, 2);
	assert_int_equal(config->malloc_trim_messages, 10000);
	assert_int_equal(config->huge_pages_from, 1024 * 1024);
	assert_int_equal(config->malloc_mmap_from, 1024 * 1024);
	assert_int_equal(config->local_domain_count, 0);
	assert_non_null(config->local_domains);
	assert_null(config->local_domains[0]);
	assert_null(config->tls_certificate);
	assert_null(config->tls_key);
	assert_int_equal(config->limits.command_line, 512);
	assert_int_equal(config->limits.text_line, 1000);
	assert_int_equal(config->limits.message_size, 26214400);
	assert_int_equal(config->limits.recipients, 100);
	assert_int_equal(config->limits.errors, 10);
	assert_int_equal(config->limits.connections, 20000);
	assert_int_equal(config->limits.connections_per_ip, 100);
	assert_int_equal(config->limits.received_headers, 100);
	assert_int_equal(config->limits.bare_newline, BARE_NEWLINE_REJECT);
	assert_int_equal(config->timeouts.greeting, 300);
	assert_int_equal(config->timeouts.command, 300);
	assert_int_equal(config->timeouts.data_block, 180);
	assert_int_equal(config->timeouts.tls_handshake, 60);
	assert_int_equal(config->listener_count, 0);
	assert_int_equal(config->mailbox.quota_default, 0);
	assert_int_equal(config->mailbox.quota_messages_default, 0);
	assert_false(config->mailbox.save_sent);
	assert_int_equal(config->mailbox.cache_size, 64 * 1024 * 1024);
	assert_int_equal(config->mailbox.header_cache_max, 64 * 1024);
	assert_false(config_is_local_domain(config, "example.org"));
	config_free(&config);
	assert_null(config);
	config_free(&config); /* freeing NULL is harmless */
}

static void test_full_file(void **state)
{
	struct fixture *f = *state;
	struct config *config = load_text(f,
		"; a complete petrel.conf\n"
		"[server]\n"
		"hostname = MX1.Example.ORG.\n"
		"data_dir = /srv/petrel\n"
		"user = mail\n"
		"log_level = debug\n"
		"syslog = yes\n"
		"workers = 8\n"
		"malloc_arenas = 0\n"
		"malloc_mmap_from = 0\n"
		"\n"
		"[domains]\n"
		"local = example.org, example.net\n"
		"\n"
		"[tls]\n"
		"certificate = /etc/petrel/cert.pem\n"
		"key = /etc/petrel/key.pem\n"
		"\n"
		"[limits]\n"
		"command_line = 1k\n"
		"text_line = 2000\n"
		"message_size = 50M\n"
		"recipients = 500\n"
		"errors = 5\n"
		"connections = 1000\n"
		"connections_per_ip = 20\n"
		"received_headers = 50\n"
		"bare_newline = accept\n"
		"\n"
		"[timeouts]\n"
		"greeting = 30\n"
		"command = 600\n"
		"data_block = 120\n"
		"tls_handshake = 10\n"
		"\n"
		"[mailbox]\n"
		"quota_default = 1G\n"
		"quota_messages_default = 50000\n"
		"save_sent = yes\n"
		"cache_size = 0\n"
		"header_cache_max = 0\n"
		"\n"
		"[listener mx]\n"
		"role = mx\n"
		"address = *:25\n"
		"[listener sub-v4]\n"
		"role = submission\n"
		"address = 192.0.2.1:587\n"
		"[listener sub_v6]\n"
		"role = submission\n"
		"address = [2001:db8::1]:587\n"
		"[listener smtps]\n"
		"role = submissions ; inline comment\n"
		"address = [::]:465\n");

	assert_string_equal(config->hostname, "mx1.example.org");
	/* [server] node: the hostname unless set; stale after three reports missed */
	assert_string_equal(config->node, "mx1.example.org");
	assert_int_equal(config->node_report_interval, 10);
	assert_int_equal(config->node_stale_after, 30);
	assert_string_equal(config->data_dir, "/srv/petrel");
	assert_string_equal(config->user, "mail");
	assert_string_equal(config->log_level, "debug");
	assert_true(config->syslog);
	assert_int_equal(config->workers, 8);
	assert_int_equal(config->malloc_arenas, 0);
	assert_int_equal(config->malloc_mmap_from, 0);
	assert_int_equal(config->local_domain_count, 2);
	assert_string_equal(config->local_domains[0], "example.org");
	assert_string_equal(config->local_domains[1], "example.net");
	assert_null(config->local_domains[2]);
	assert_string_equal(config->tls_certificate, "/etc/petrel/cert.pem");
	assert_string_equal(config->tls_key, "/etc/petrel/key.pem");
	assert_int_equal(config->limits.command_line, 1024);
	assert_int_equal(config->limits.text_line, 2000);
	assert_int_equal(config->limits.message_size, 50 * 1024 * 1024);
	assert_int_equal(config->limits.recipients, 500);
	assert_int_equal(config->limits.errors, 5);
	assert_int_equal(config->limits.connections, 1000);
	assert_int_equal(config->limits.connections_per_ip, 20);
	assert_int_equal(config->limits.received_headers, 50);
	assert_int_equal(config->mailbox.quota_default, 1024 * 1024 * 1024);
	assert_int_equal(config->mailbox.quota_messages_default, 50000);
	assert_true(config->mailbox.save_sent);
	assert_int_equal(config->mailbox.cache_size, 0);
	assert_int_equal(config->mailbox.header_cache_max, 0);
	assert_int_equal(config->limits.bare_newline, BARE_NEWLINE_ACCEPT);
	assert_int_equal(config->timeouts.greeting, 30);
	assert_int_equal(config->timeouts.command, 600);
	assert_int_equal(config->timeouts.data_block, 120);
	assert_int_equal(config->timeouts.tls_handshake, 10);

	assert_int_equal(config->listener_count, 4);
	assert_string_equal(config->listeners[0].name, "mx");
	assert_int_equal(config->listeners[0].role, LISTENER_ROLE_MX);
	assert_string_equal(config->listeners[0].address, "*:25");
	assert_string_equal(config->listeners[1].name, "sub-v4");
	assert_int_equal(config->listeners[1].role, LISTENER_ROLE_SUBMISSION);
	assert_string_equal(config->listeners[1].address, "192.0.2.1:587");
	assert_string_equal(config->listeners[2].name, "sub_v6");
	assert_string_equal(config->listeners[2].address, "[2001:db8::1]:587");
	assert_string_equal(config->listeners[3].name, "smtps");
	assert_int_equal(config->listeners[3].role, LISTENER_ROLE_SUBMISSIONS);
	assert_string_equal(config->listeners[3].address, "[::]:465");
	config_free(&config);
}

/* test_empty_file - every default, production listeners, a hostname */
static void test_empty_file(void **state)
{
	struct fixture *f = *state;
	struct config *config = load_text(f, "");

	assert_non_null(config->hostname);
	assert_string_equal(config->data_dir, "/var/lib/petrel");
	assert_string_equal(config->user, "petrel");
	assert_int_equal(config->listener_count, 4);
	assert_string_equal(config->listeners[0].name, "mx");
	assert_int_equal(config->listeners[0].role, LISTENER_ROLE_MX);
	assert_string_equal(config->listeners[0].address, "*:25");
	assert_int_equal(config->listeners[1].role, LISTENER_ROLE_SUBMISSION);
	assert_string_equal(config->listeners[1].address, "*:587");
	assert_int_equal(config->listeners[2].role, LISTENER_ROLE_SUBMISSION);
	assert_string_equal(config->listeners[2].address, "*:2525");
	assert_int_equal(config->listeners[3].role, LISTENER_ROLE_SUBMISSIONS);
	assert_string_equal(config->listeners[3].address, "*:465");
	config_free(&config);
}

/* test_listener_receiving_checks - on by default, off where a listener says */
static void test_listener_receiving_checks(void **state)
{
	struct fixture *f = *state;
	struct config *config = load_text(f,
		"[listener mx]\n"
		"role = mx\n"
		"address = 127.0.0.1:25\n"
		"[listener bench]\n"
		"role = mx\n"
		"receiving_checks = off\n"
		"address = 127.0.0.1:26\n"
		"[listener sub]\n"
		"role = submission\n"
		"address = 127.0.0.1:587\n");

	assert_int_equal(config->listener_count, 3);
	assert_true(config->listeners[0].receiving_checks);
	assert_false(config->listeners[1].receiving_checks);
	assert_true(config->listeners[2].receiving_checks);
	config_free(&config);
	config = load_text(f, "");
	assert_true(config->listeners[0].receiving_checks);  /* the default set's mx */
	config_free(&config);
}

/* test_listener_proxy_from - the networks a PROXY header may come from */
static void test_listener_proxy_from(void **state)
{
	struct fixture *f = *state;
	struct config *config = load_text(f,
		"[listener mx]\n"
		"role = mx\n"
		"address = 127.0.0.1:25\n"
		"proxy_protocol = true\n"
		"proxy_from = 192.0.2.0/24, 2001:db8::/32 127.0.0.1/32\n");
	static const unsigned char v4[16] = { [10] = 0xff, [11] = 0xff, 192, 0, 2, 0 };
	static const unsigned char v6[16] = { 0x20, 0x01, 0x0d, 0xb8 };

	assert_true(config->listeners[0].proxy_protocol);
	assert_int_equal(config->listeners[0].proxy_from_count, 3);
	assert_memory_equal(config->listeners[0].proxy_from[0].address, v4, 16);
	assert_int_equal(config->listeners[0].proxy_from[0].bits, 120);
	assert_memory_equal(config->listeners[0].proxy_from[1].address, v6, 16);
	assert_int_equal(config->listeners[0].proxy_from[1].bits, 32);
	assert_int_equal(config->listeners[0].proxy_from[2].bits, 128);
	assert_int_equal(config->timeouts.proxy_header, 10);
	config_free(&config);
}

/* test_http_metrics_from - who may GET /metrics: loopback by default */
static void test_http_metrics_from(void **state)
{
	struct fixture *f = *state;
	static const unsigned char lo4[16] = { [10] = 0xff, [11] = 0xff, 127 };
	static const unsigned char lo6[16] = { [15] = 1 };
	static const unsigned char net[16] = { [10] = 0xff, [11] = 0xff, 10, 1 };
	struct config *config = load_text(f, "");
	assert_int_equal(config->http.metrics_from_count, 2);
	assert_memory_equal(config->http.metrics_from[0].address, lo4, 16);
	assert_int_equal(config->http.metrics_from[0].bits, 104);
	assert_memory_equal(config->http.metrics_from[1].address, lo6, 16);
	assert_int_equal(config->http.metrics_from[1].bits, 128);
	config_free(&config);
	config = load_text(f, "[http]\nmetrics_from = 10.1.0.0/16\n");
	assert_int_equal(config->http.metrics_from_count, 1);
	assert_memory_equal(config->http.metrics_from[0].address, net, 16);
	assert_int_equal(config->http.metrics_from[0].bits, 112);
	config_free(&config);
}

/* test_cluster_settings - [cluster]: unset by default; each address one of
 * this node's listeners of its role (a wildcard listener's port counts),
 * the networks as proxy_from's, the secret file relative to the file */
static void test_cluster_settings(void **state)
{
	struct fixture *f = *state;
	static const unsigned char lo4[16] = { [10] = 0xff, [11] = 0xff, 127 };
	struct config *config = load_text(f, "");
	assert_null(config->cluster.mail);
	assert_null(config->cluster.imap);
	assert_null(config->cluster.pop3);
	assert_null(config->cluster.from);
	assert_int_equal(config->cluster.from_count, 0);
	assert_null(config->cluster.secret_file);
	assert_int_equal(config->cluster.ticket_lifetime, 30);
	assert_int_equal(config->cluster.proxy_timeout, 10);
	config_free(&config);

	config = load_text(f,
		"[listener mx]\nrole = mx\naddress = 127.0.0.1:25\n"
		"[listener nodes]\nrole = mx\naddress = 127.0.0.22:2527\n"
		"receiving_checks = off\n"
		"[listener imap]\nrole = imap\naddress = *:1143\n"
		"[listener pop3]\nrole = pop3\naddress = [::1]:1110\n"
		"[cluster]\nmail = 127.0.0.22:2527\nimap = 127.0.0.22:1143\n"
		"pop3 = [::1]:1110\nfrom = 127.0.0.0/8, ::1/128\n"
		"secret_file = cluster.secret\nticket_lifetime = 1m\nproxy_timeout = 5\n");
	assert_string_equal(config->cluster.mail, "127.0.0.22:2527");
	assert_int_equal(config->cluster.ticket_lifetime, 60);
	assert_int_equal(config->cluster.proxy_timeout, 5);
	assert_string_equal(config->cluster.imap, "127.0.0.22:1143");
	assert_string_equal(config->cluster.pop3, "[::1]:1110");
	assert_int_equal(config->cluster.from_count, 2);
	assert_memory_equal(config->cluster.from[0].address, lo4, 16);
	assert_int_equal(config->cluster.from[0].bits, 104);
	assert_int_equal(config->cluster.from[1].bits, 128);
	assert_non_null(strstr(config->cluster.secret_file, "/cluster.secret"));
	assert_true(config->cluster.secret_file[0] == '/');
	config_free(&config);
}

/* test_one_listener_replaces_defaults - any [listener] means only those */
static void test_one_listener_replaces_defaults(void **state)
{
	struct fixture *f = *state;
	struct config *config = load_text(f,
		"[listener local]\r\n"
		"address = 127.0.0.1:10025\r\n"
		"role = mx\r\n");

	assert_int_equal(config->listener_count, 1);
	assert_string_equal(config->listeners[0].name, "local");
	assert_string_equal(config->listeners[0].address, "127.0.0.1:10025");
	config_free(&config);
}

static void test_missing_file(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	struct config *config = config_load(f->path, &error);
	char *want = xasprintf("%s: No such file or directory", f->path);

	assert_null(config);
	assert_string_equal(error, want);
	free(want);
}

struct error_case {
	const char *text;
	const char *error; /* after "PATH:" */
};

static const struct error_case error_cases[] = {
	/* sections and keys */
	{ "[server]\nworkers = 2\n[limits]\nfoo = 1\n",
	  "4: unknown key 'foo' in [limits]" },
	{ "\n\n[mail]\nx = 1\n", "3: unknown section [mail]" },
	{ "[server]\n[mail]\n", "2: unknown section [mail]" },
	{ "hostname = a.example\n", "1: key 'hostname' is outside any [section]" },
	{ "[server]\nuser = a\nuser = b\n",
	  "3: 'user' is set twice in [server] (first on line 2)" },
	{ "[server]\nworkers = 2\n  3\n",
	  "3: 'workers' takes one line; indented lines continue the previous value" },
	{ "[server]\nhostname\n", "2: syntax error: expected '[section]' or 'key = value'" },
	{ "[server\nuser = x\n", "1: syntax error: expected '[section]' or 'key = value'" },
	/* the earliest error wins, whoever finds it */
	{ "[server]\nbogus line\nworkers = 0\n",
	  "2: syntax error: expected '[section]' or 'key = value'" },
	{ "[server]\nworkers = 0\nbogus line\n",
	  "2: 'workers' must be a number between 1 and 64" },
	{ "[dkim]\nverify_signatures = 0\n",
	  "2: 'verify_signatures' must be a number between 1 and 50" },
	{ "[dkim]\nverify_signatures = 5\nverify_header_size = 1k\n",
	  "3: 'verify_header_size' must be a number between 4096 and 16777216" },
	/* numbers */
	{ "[limits]\n\n\nmessage_size = big\n",
	  "4: 'message_size' must be a number between 1024 and 2147483648" },
	{ "[limits]\nmessage_size = 1023\n",
	  "2: 'message_size' must be a number between 1024 and 2147483648" },
	{ "[limits]\nmessage_size = 3G\n",
	  "2: 'message_size' must be a number between 1024 and 2147483648" },
	{ "[limits]\nmessage_size = 99999999999999999999999\n",
	  "2: 'message_size' must be a number between 1024 and 2147483648" },
	{ "[limits]\nmessage_size = 1T\n",
	  "2: 'message_size' must be a number between 1024 and 2147483648" },
	{ "[limits]\nmessage_size = -5\n",
	  "2: 'message_size' must be a number between 1024 and 2147483648" },
	{ "[limits]\nrecipients = 0\n", "2: 'recipients' must be a number between 1 and 100000" },
	{ "[limits]\nrecipients = 10k\n",
	  "2: 'recipients' must be a number between 1 and 100000" },
	{ "[limits]\ncommand_line = 100\n",
	  "2: 'command_line' must be a number between 512 and 65536" },
	{ "[server]\nworkers = 65\n", "2: 'workers' must be a number between 1 and 64" },
	{ "[server]\nmalloc_arenas = 65\n", "2: 'malloc_arenas' must be a number between 0 and 64" },
	{ "[server]\nhuge_pages_from = 2G\n",
	  "2: 'huge_pages_from' must be a number between 0 and 1073741824" },
	{ "[server]\nmalloc_mmap_from = 33M\n",
	  "2: 'malloc_mmap_from' must be a number between 0 and 33554432" },
	{ "[server]\nmalloc_trim_messages = 100000001\n",
	  "2: 'malloc_trim_messages' must be a number between 0 and 100000000" },
	{ "[server]\nlog_buffer = 1k\n",
	  "2: 'log_buffer' must be a number between 4096 and 1073741824" },
	{ "[server]\nworkers =\n", "2: 'workers' must be a number between 1 and 64" },
	{ "[timeouts]\ngreeting = 0\n", "2: 'greeting' must be a number between 1 and 86400" },
	{ "[auth]\nipv6_prefix = 129\n", "2: 'ipv6_prefix' must be a number between 16 and 128" },
	{ "[auth]\nipv6_prefix = 8\n", "2: 'ipv6_prefix' must be a number between 16 and 128" },
	{ "[auth]\nthrottle_entries = 99\n",
	  "2: 'throttle_entries' must be a number between 100 and 10000000" },
	{ "[auth]\nhash_workers = 0\n", "2: 'hash_workers' must be a number between 1 and 64" },
	{ "[auth]\nhash_queue = 0\n", "2: 'hash_queue' must be a number between 1 and 100000" },
	{ "[auth]\nhelper_timeout = 0\n",
	  "2: 'helper_timeout' must be a number between 1 and 300" },
	{ "[auth]\nhelper_timeout = 301\n",
	  "2: 'helper_timeout' must be a number between 1 and 300" },
	{ "[server]\nauth_user = a\n\nauth_user = b\n",
	  "4: 'auth_user' is set twice in [server] (first on line 2)" },
	{ "[auth]\nspf_void_lookups = 0\n",
	  "2: 'spf_void_lookups' must be a number between 1 and 20" },
	{ "[auth]\nspf_void_lookups = 21\n",
	  "2: 'spf_void_lookups' must be a number between 1 and 20" },
	{ "[auth]\nspf_timeout = 0\n", "2: 'spf_timeout' must be a number between 1 and 600" },
	{ "[auth]\narc_trusted_forwarders = lists.example.net, bad_domain\n",
	  "2: 'bad_domain' in 'arc_trusted_forwarders' is not a valid domain name" },
	{ "[srs]\nmax_age = 1001\n", "2: 'max_age' must be a number between 1 and 1000" },
	{ "[srs]\ndomain = no_such domain\n", "2: 'domain' must be a domain name, not 'no_such domain'" },
	{ "[srs]\nenabled = maybe\n", "2: 'enabled' must be true or false, not 'maybe'" },
	{ "[auth]\nspf_reject = sometimes\n",
	  "2: 'spf_reject' must be true or false, not 'sometimes'" },
	{ "[auth]\nauthserv_id = mx;example.org\n",
	  "2: 'authserv_id' must be a domain name, not 'mx;example.org'" },
	{ "[smtp]\nreverse_dns = yes\n",
	  "2: 'reverse_dns' must be off, record or require, not 'yes'" },
	{ "[smtp]\n\nhelo_check = strict\n", "3: 'helo_check' must be off or syntax, not 'strict'" },
	{ "[smtp]\nsender_domain_check = sometimes\n",
	  "2: 'sender_domain_check' must be true or false, not 'sometimes'" },
	{ "[smtp]\nunknown_sender_code = 554\n",
	  "2: 'unknown_sender_code' must be 550 or 450, not '554'" },
	{ "[mailbox]\nquota_default = -1\n",
	  "2: 'quota_default' must be a number between 0 and 1125899906842624" },
	{ "[mailbox]\nquota_default = 2048T\n",
	  "2: 'quota_default' must be a number between 0 and 1125899906842624" },
	{ "[mailbox]\nquota_messages_default = 2147483648\n",
	  "2: 'quota_messages_default' must be a number between 0 and 2147483647" },
	{ "[mailbox]\nsave_sent = sometimes\n",
	  "2: 'save_sent' must be true or false, not 'sometimes'" },
	{ "[auth]\ndmarc_enforce = maybe\n",
	  "2: 'dmarc_enforce' must be true or false, not 'maybe'" },
	{ "[auth]\ndmarc_reports = weekly\n",
	  "2: 'dmarc_reports' must be off or daily, not 'weekly'" },
	{ "[auth]\nreport_email = no-at-sign\n",
	  "2: 'report_email' must be an address local@domain, not 'no-at-sign'" },
	{ "[auth]\npublic_suffix_list =\n", "2: 'public_suffix_list' must not be empty" },
	{ "[auth]\nscram_iterations = 4095\n",
	  "2: 'scram_iterations' must be a number between 4096 and 10000000" },
	{ "[events]\nretention = 30w\n", "2: 'retention' must be a duration between 0 and "
	  "315360000 seconds (a number, optionally with s, m, h or d)" },
	{ "[events]\nretention = d\n", "2: 'retention' must be a duration between 0 and "
	  "315360000 seconds (a number, optionally with s, m, h or d)" },
	{ "[events]\nretention = 3651d\n", "2: 'retention' must be a duration between 0 and "
	  "315360000 seconds (a number, optionally with s, m, h or d)" },
	{ "[events]\nretention =\n", "2: 'retention' must be a duration between 0 and "
	  "315360000 seconds (a number, optionally with s, m, h or d)" },
	{ "[events]\nmax_pending = 99\n",
	  "2: 'max_pending' must be a number between 100 and 10000000" },
	/* RFC 9051 5.4: at least 30 minutes once logged in */
	{ "[imap]\nidle_timeout = 1799\n", "2: 'idle_timeout' must be a duration between 1800 "
	  "and 86400 seconds (a number, optionally with s, m, h or d)" },
	{ "[imap]\nlogin_timeout = 0\n", "2: 'login_timeout' must be a duration between 1 "
	  "and 86400 seconds (a number, optionally with s, m, h or d)" },
	{ "[imap]\ncommand_line = 1000\n",
	  "2: 'command_line' must be a number between 1024 and 16777216" },
	{ "[imap]\nliteral_size = 3G\n",
	  "2: 'literal_size' must be a number between 1024 and 2147483648" },
	{ "[imap]\nsessions_per_account = 0\n",
	  "2: 'sessions_per_account' must be a number between 1 and 100000" },
	{ "[pop3]\nidle_timeout = 2d\n", "2: 'idle_timeout' must be a duration between 600 and "
	  "86400 seconds (a number, optionally with s, m, h or d)" },
	/* RFC 1939 3: an autologout timer MUST be of at least 10 minutes */
	{ "[pop3]\nidle_timeout = 599\n", "2: 'idle_timeout' must be a duration between 600 "
	  "and 86400 seconds (a number, optionally with s, m, h or d)" },
	{ "[pop3]\ncommand_line = 254\n",
	  "2: 'command_line' must be a number between 255 and 65536" },
	{ "[pop3]\ncommand_line = 65537\n",
	  "2: 'command_line' must be a number between 255 and 65536" },
	/* enumerations */
	{ "[limits]\nbare_newline = strip\n", "2: 'bare_newline' must be reject or accept, not 'strip'" },
	{ "[server]\nlog_level = verbose\n",
	  "2: 'log_level' must be debug, info, warn or error, not 'verbose'" },
	{ "[server]\nsyslog = maybe\n", "2: 'syslog' must be true or false, not 'maybe'" },
	{ "[server]\nnode_report_interval = 20s\nnode_stale_after = 20s\n",
	  "3: [server] node_stale_after (20 s) must be longer than node_report_interval (20 s)" },
	/* names */
	{ "[server]\nhostname = bad_host.example\n",
	  "2: 'hostname' must be a domain name, not 'bad_host.example'" },
	{ "[server]\nhostname = -a.example\n",
	  "2: 'hostname' must be a domain name, not '-a.example'" },
	{ "[server]\nhostname =\n", "2: 'hostname' must be a domain name, not ''" },
	{ "[server]\ndata_dir =\n", "2: 'data_dir' must not be empty" },
	{ "[domains]\nlocal = example.org, ex..ample.net\n",
	  "2: 'ex..ample.net' in 'local' is not a valid domain name" },
	{ "[domains]\nlocal = example.org\n  b@d.example\n",
	  "3: 'b@d.example' in 'local' is not a valid domain name" },
	/* tls */
	{ "[tls]\n\ncertificate = cert.pem\n", "3: [tls] 'certificate' is set but 'key' is not" },
	{ "[tls]\nkey = key.pem\n", "2: [tls] 'key' is set but 'certificate' is not" },
	/* listeners */
	{ "[listener mx]\nrole = relay\naddress = *:25\n",
	  "2: unknown role 'relay' in [listener mx] (expected mx, submission, submissions, local, imap, imaps, pop3, pop3s, http or https)" },
	{ "[listener mx]\naddress = *:25\n[listener sub]\nrole = submission\naddress = *:587\n",
	  "1: [listener mx] has no 'role' (mx, submission, submissions, local, imap, imaps, pop3, pop3s, http or https)" },
	{ "[listener mx]\nrole = mx\naddress = *:25\n[listener sub]\nrole = submission\n",
	  "4: [listener sub] has no 'address' (host:port)" },
	{ "[listener a]\nrole = mx\naddress = *:25\n\n[listener a]\nrole = mx\naddress = *:26\n",
	  "5: duplicate listener name 'a'" },
	{ "[listener a]\nrole = mx\naddress = *:25\n[listener b]\nrole = mx\naddress = *:25\n",
	  "6: address '*:25' in [listener b] is already used by [listener a]" },
	{ "[listener]\nrole = mx\n", "1: a listener needs a name: [listener NAME]" },
	{ "[listener a/b]\nrole = mx\n",
	  "1: bad listener name 'a/b': use up to 40 letters, digits, '-', '_' or '.'" },
	{ "[listener a]\nrole = mx\nport = 25\n", "3: unknown key 'port' in [listener a]" },
	{ "[listener a]\nrole = mx\nrole = mx\n",
	  "3: 'role' is set twice in [listener a] (first on line 2)" },
	{ "[listener a]\nrole = mx\naddress = *:25\nreceiving_checks = maybe\n",
	  "4: 'receiving_checks' in [listener a] must be on or off, not 'maybe'" },
	{ "[listener a]\nreceiving_checks = off\nrole = mx\nreceiving_checks = on\n",
	  "4: 'receiving_checks' is set twice in [listener a] (first on line 2)" },
	{ "[listener s]\nreceiving_checks = off\nrole = submission\naddress = *:587\n",
	  "2: 'receiving_checks' in [listener s]: only mx listeners make the receiving checks" },
	{ "[listener a]\nrole = mx\naddress = *:25\nproxy_protocol = on\n",
	  "4: [listener a] has proxy_protocol on but no 'proxy_from' (the balancers' "
	  "ADDRESS/PREFIX networks)" },
	{ "[http]\nmetrics_from = 10.0.0.1/8\n",
	  "2: 'metrics_from' must be a list of ADDRESS/PREFIX (an IPv4 or IPv6 network, e.g. "
	  "127.0.0.0/8, ::1/128), not '10.0.0.1/8'" },
	{ "[http]\nmetrics_from = ,\n",
	  "2: 'metrics_from' must be a list of ADDRESS/PREFIX (an IPv4 or IPv6 network, e.g. "
	  "127.0.0.0/8, ::1/128), not ','" },
	{ "[listener a]\nrole = mx\naddress = *:25\nproxy_protocol = on\nproxy_from = 10.0.0.1\n",
	  "5: 'proxy_from' in [listener a]: '10.0.0.1' is not ADDRESS/PREFIX (an IPv4 or IPv6 "
	  "address, a prefix length)" },
	{ "[listener a]\nrole = mx\nproxy_from = 10.0.0.1/24\n",
	  "3: 'proxy_from' in [listener a]: '10.0.0.1/24' is not ADDRESS/PREFIX (an IPv4 or IPv6 "
	  "address, a prefix length)" },
	{ "[listener a]\nrole = mx\nproxy_from = ::1/129\n",
	  "3: 'proxy_from' in [listener a]: '::1/129' is not ADDRESS/PREFIX (an IPv4 or IPv6 "
	  "address, a prefix length)" },
	{ "[listener a]\nrole = mx\nproxy_protocol = sometimes\n",
	  "3: 'proxy_protocol' in [listener a] must be on or off, not 'sometimes'" },
	{ "[listener a]\nrole = mx\naddress = *:0\n",
	  "3: bad address '*:0' in [listener a]: the port must be a number from 1 to 65535" },
	{ "[listener a]\nrole = mx\naddress = *:65536\n",
	  "3: bad address '*:65536' in [listener a]: the port must be a number from 1 to 65535" },
	{ "[listener a]\nrole = mx\naddress = *:\n",
	  "3: bad address '*:' in [listener a]: the port must be a number from 1 to 65535" },
	{ "[listener a]\nrole = mx\naddress = 127.0.0.1\n",
	  "3: bad address '127.0.0.1' in [listener a]: expected *:port, IPv4:port, [IPv6]:port or unix:PATH" },
	{ "[listener a]\nrole = mx\naddress = ::1:25\n",
	  "3: bad address '::1:25' in [listener a]: expected *:port, IPv4:port, [IPv6]:port or unix:PATH" },
	{ "[listener a]\nrole = mx\naddress = [::1]\n",
	  "3: bad address '[::1]' in [listener a]: expected *:port, IPv4:port, [IPv6]:port or unix:PATH" },
	{ "[listener a]\nrole = mx\naddress = [127.0.0.1]:25\n",
	  "3: bad address '[127.0.0.1]:25' in [listener a]: not an IPv6 address between [ and ]" },
	{ "[listener a]\nrole = mx\naddress = mail.example:25\n",
	  "3: bad address 'mail.example:25' in [listener a]: the host must be *, an IPv4 address or [IPv6]" },
	{ "[listener a]\nrole = mx\naddress = 256.1.1.1:25\n",
	  "3: bad address '256.1.1.1:25' in [listener a]: the host must be *, an IPv4 address or [IPv6]" },
	{ "[tls]\n[listener s]\nrole = submissions\naddress = *:465\n",
	  "2: [listener s] has role submissions (implicit TLS) but [tls] has no certificate and key" },
	{ "[listener i]\nrole = imaps\naddress = *:993\n",
	  "1: [listener i] has role imaps (implicit TLS) but [tls] has no certificate and key" },
	{ "[listener p]\nrole = pop3s\naddress = *:995\n",
	  "1: [listener p] has role pop3s (implicit TLS) but [tls] has no certificate and key" },
	{ "[listener w]\nrole = https\naddress = *:443\n",
	  "1: [listener w] has role https (implicit TLS) but [tls] has no certificate and key" },
	/* [http] */
	{ "[http]\nheader_size = 1000\n",
	  "2: 'header_size' must be a number between 1024 and 1048576" },
	{ "[http]\nheader_count = 0\n",
	  "2: 'header_count' must be a number between 1 and 10000" },
	/* [dns] */
	{ "[dns]\nresolver = not-an-ip\n",
	  "2: 'resolver' must be IP or IP@PORT (several separated by commas), not 'not-an-ip'" },
	{ "[dns]\nresolver = 127.0.0.1@99999\n",
	  "2: 'resolver' must be IP or IP@PORT (several separated by commas), not '127.0.0.1@99999'" },
	{ "[dns]\nresolver = 127.0.0.1@0\n",
	  "2: 'resolver' must be IP or IP@PORT (several separated by commas), not '127.0.0.1@0'" },
	{ "[dns]\nresolver = 127.0.0.1@\n",
	  "2: 'resolver' must be IP or IP@PORT (several separated by commas), not '127.0.0.1@'" },
	{ "[dns]\nresolver = 192.0.2.1, 300.1.1.1@53\n",
	  "2: 'resolver' must be IP or IP@PORT (several separated by commas), not '300.1.1.1@53'" },
	{ "[dns]\nspecial_zones = te$t\n",
	  "2: 'te$t' in 'special_zones' is not a valid domain name" },
	{ "[dns]\nspecial_zones = test, ..\n",
	  "2: '..' in 'special_zones' is not a valid domain name" },
	/* [delivery] */
	{ "[delivery]\nsource_address = 999.1.1.1\n",
	  "2: 'source_address' must be an IPv4 or IPv6 address, not '999.1.1.1'" },
	{ "[delivery]\nsource_address = mail.example\n",
	  "2: 'source_address' must be an IPv4 or IPv6 address, not 'mail.example'" },
	{ "[delivery]\ntls = maybe\n",
	  "2: 'tls' must be none, may, encrypt or verify, not 'maybe'" },
	/* [relay] */
	{ "[relay]\nhost = smtp.example:587\ndomains = bad!domain\n",
	  "3: 'bad!domain' in 'domains' is not a valid domain name" },
	{ "[relay]\nhost = smtp.example:587\ndomains = example.com, *\n",
	  "3: 'domains' is either * or a list of domain names, not both" },
	{ "[relay]\nhost = smtp.example:587\ndomains =\n",
	  "3: 'domains' must be * or a list of domain names" },
	{ "[relay]\nhost = smtp.example:0\n",
	  "2: 'host' must be a preset name (gmail, sendgrid...) or HOST:PORT with a port "
	  "from 1 to 65535, not 'smtp.example:0'" },
	{ "[relay]\nhost = smtp.example:\n",
	  "2: 'host' must be a preset name (gmail, sendgrid...) or HOST:PORT with a port "
	  "from 1 to 65535, not 'smtp.example:'" },
	{ "[relay]\nhost = bad_host.example:587\n",
	  "2: 'host' must be a preset name (gmail, sendgrid...) or HOST:PORT with a port "
	  "from 1 to 65535, not 'bad_host.example:587'" },
	{ "[relay]\nhost = g-mail!\n",
	  "2: 'host' must be a preset name (gmail, sendgrid...) or HOST:PORT with a port "
	  "from 1 to 65535, not 'g-mail!'" },
	{ "[relay]\ntls = none\n",
	  "2: 'tls' must be verify, encrypt or implicit, not 'none'" },
	{ "[relay]\n\nusername = me\n", "3: [relay] 'username' is set but 'host' is not" },
	{ "[relay]\ndomains = example.com\n", "2: [relay] 'domains' is set but 'host' is not" },
	/* [store] */
	{ "[store]\nbackend = mysql\n", "2: 'backend' must be sqlite or postgresql, not 'mysql'" },
	{ "[store]\nbackend = postgresql\n",
	  "2: [store] backend = postgresql needs 'url' (postgresql://...)" },
	{ "[store]\n\nurl = postgresql://db/petrel\n",
	  "3: [store] 'url' is set but backend is sqlite (set backend = postgresql)" },
	{ "[store]\nbackend = postgresql\nurl = mysql://db/petrel\n",
	  "3: [store] 'url' must start with postgresql://" },
	{ "[store]\ncredentials_url = postgresql://db/auth\n",
	  "2: [store] 'credentials_url' is set but backend is sqlite (set backend = postgresql)" },
	{ "[store]\nbackend = postgresql\nurl = postgresql://db/petrel\ncredentials_url = x://a\n",
	  "4: [store] 'credentials_url' must start with postgresql://" },
	{ "[store]\nbackend = postgresql\nurl = postgresql://db/petrel\n"
	  "credentials_url = postgresql://db/petrel\n",
	  "4: [store] 'credentials_url' is the store's 'url': the network process would reach the"
	  " password hashes (give it a database and a role of its own)" },
	{ "[store]\nstatement_timeout = 0\n", "2: 'statement_timeout' must be a duration between"
	  " 1 and 3600 seconds (a number, optionally with s, m, h or d)" },
	{ "[store]\nconnections = 257\n", "2: 'connections' must be a number between 1 and 256" },
	/* [cluster] */
	{ "[cluster]\nticket_lifetime = 61\n", "2: 'ticket_lifetime' must be a duration between"
	  " 1 and 60 seconds (a number, optionally with s, m, h or d)" },
	{ "[cluster]\nproxy_timeout = 0\n", "2: 'proxy_timeout' must be a duration between"
	  " 1 and 300 seconds (a number, optionally with s, m, h or d)" },
	{ "[cluster]\nmail = *:25\n",
	  "2: 'mail' must be IPv4:port or [IPv6]:port, the address other nodes connect to,"
	  " not '*:25'" },
	{ "[cluster]\nimap = unix:/x\n",
	  "2: 'imap' must be IPv4:port or [IPv6]:port, the address other nodes connect to,"
	  " not 'unix:/x'" },
	{ "[cluster]\npop3 = node-b:110\n",
	  "2: 'pop3' must be IPv4:port or [IPv6]:port, the address other nodes connect to,"
	  " not 'node-b:110': the host must be *, an IPv4 address or [IPv6]" },
	{ "[cluster]\nfrom = 10.0.0.1/8\n",
	  "2: 'from' must be a list of ADDRESS/PREFIX (an IPv4 or IPv6 network, e.g."
	  " 127.0.0.0/8, ::1/128), not '10.0.0.1/8'" },
	{ "[listener mx]\nrole = mx\naddress = 127.0.0.1:25\n"
	  "[cluster]\nfrom = 127.0.0.0/8\nmail = 127.0.0.2:25\n",
	  "6: [cluster] mail = 127.0.0.2:25 is not the address of a listener of role mx on"
	  " this node" },
	{ "[listener mx]\nrole = mx\naddress = 127.0.0.1:25\n"
	  "[cluster]\nfrom = 127.0.0.0/8\nimap = 127.0.0.1:25\n",
	  "6: [cluster] imap = 127.0.0.1:25 is not the address of a listener of role imap on"
	  " this node" },
	{ "[listener mx]\nrole = mx\naddress = 0.0.0.0:25\n"
	  "[cluster]\nmail = 127.0.0.1:25\n",
	  "5: [cluster] 'mail' is set but 'from' is not (the nodes' ADDRESS/PREFIX networks)" },
	/* [domains] postmaster */
	{ "[domains]\npostmaster = you\n",
	  "2: 'postmaster' must be an address local@domain, not 'you'" },
	{ "[domains]\npostmaster = @example.org\n",
	  "2: 'postmaster' must be an address local@domain, not '@example.org'" },
	{ "[domains]\npostmaster = a..b@example.org\n",
	  "2: 'postmaster' must be an address local@domain, not 'a..b@example.org'" },
	{ "[domains]\npostmaster = a b@example.org\n",
	  "2: 'postmaster' must be an address local@domain, not 'a b@example.org'" },
	{ "[domains]\npostmaster = you@exa_mple.org\n",
	  "2: 'postmaster' must be an address local@domain, not 'you@exa_mple.org'" },
	{ "[domains]\npostmaster = you@example.org..\n",
	  "2: 'postmaster' must be an address local@domain, not 'you@example.org..'" },
};

/* test_errors - each bad file gives its exact "file:line: what" text */
static void test_errors(void **state)
{
	struct fixture *f = *state;

	for (size_t i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++)
		expect_error(f, error_cases[i].text, error_cases[i].error);
}

/* test_long_line - refused, never split by libinih's fixed buffer */
static void test_long_line(void **state)
{
	struct fixture *f = *state;
	char text[1024];
	char *want;
	const char *error = NULL;
	struct config *config;

	memset(text, 'a', sizeof(text));
	memcpy(text, "[server]\nuser = ", 16);
	text[sizeof(text) - 2] = '\n';
	text[sizeof(text) - 1] = '\0';
	write_file(f->path, text);
	config = config_load(f->path, &error);
	assert_null(config);
	want = xasprintf("%s:2: line is longer than ", f->path);
	assert_non_null(error);
	assert_memory_equal(error, want, strlen(want));
	free(want);
}

/* test_relative_paths - relative to the directory of the config file */
static void test_relative_paths(void **state)
{
	struct fixture *f = *state;
	struct config *config;
	char *want;

	config = load_text(f, "[server]\ndata_dir = .\n[tls]\ncertificate = tls/cert.pem\n"
			      "key = ./tls/key.pem\n");
	assert_string_equal(config->data_dir, f->realdir);
	want = xasprintf("%s/tls/cert.pem", f->realdir);
	assert_string_equal(config->tls_certificate, want);
	free(want);
	want = xasprintf("%s/tls/key.pem", f->realdir);
	assert_string_equal(config->tls_key, want);
	free(want);
	config_free(&config);

	config = load_text(f, "[server]\ndata_dir = spool\n[tls]\ncertificate = /etc/c.pem\n"
			      "key = /etc/k.pem\n");
	want = xasprintf("%s/spool", f->realdir);
	assert_string_equal(config->data_dir, want);
	free(want);
	assert_string_equal(config->tls_certificate, "/etc/c.pem");
	assert_string_equal(config->tls_key, "/etc/k.pem");
	config_free(&config);

	/* an empty certificate and key mean no TLS */
	config = load_text(f, "[tls]\ncertificate =\nkey =\n");
	assert_null(config->tls_certificate);
	assert_null(config->tls_key);
	config_free(&config);
}

/* test_relative_config_path - a config named relative to the cwd */
static void test_relative_config_path(void **state)
{
	struct fixture *f = *state;
	char cwd[PATH_MAX];
	const char *error = NULL;
	struct config *config;
	char *want;

	write_file(f->path, "[server]\ndata_dir = data\n");
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(f->dir), 0);
	config = config_load("petrel.conf", &error);
	assert_int_equal(chdir(cwd), 0);
	if (config == NULL)
		fail_msg("%s", error);
	assert_string_equal(config->path, "petrel.conf");
	want = xasprintf("%s/data", f->realdir);
	assert_string_equal(config->data_dir, want);
	free(want);
	config_free(&config);
}

/* test_local_domains - lower-cased, one trailing dot gone, duplicates once,
 * commas or spaces, continuation lines and repeated keys accumulate */
static void test_local_domains(void **state)
{
	struct fixture *f = *state;
	struct config *config = load_text(f,
		"[domains]\n"
		"local = Example.ORG., example.net  mail.EXAMPLE.net\n"
		"  sub-1.example.com,\n"
		"local = example.org,localhost\n");

	assert_int_equal(config->local_domain_count, 5);
	assert_string_equal(config->local_domains[0], "example.org");
	assert_string_equal(config->local_domains[1], "example.net");
	assert_string_equal(config->local_domains[2], "mail.example.net");
	assert_string_equal(config->local_domains[3], "sub-1.example.com");
	assert_string_equal(config->local_domains[4], "localhost");
	assert_null(config->local_domains[5]);
	config_free(&config);
}

/* test_postmaster - [domains] postmaster: unset by default, the domain
 * lower-cased without one trailing dot, the local part as written */
static void test_postmaster(void **state)
{
	struct fixture *f = *state;
	struct config *config = load_text(f, "[domains]\nlocal = example.org\n");
	assert_null(config->postmaster);
	config_free(&config);
	config = load_text(f, "[domains]\npostmaster = Hostmaster+x@Example.ORG.\n");
	assert_string_equal(config->postmaster, "Hostmaster+x@example.org");
	config_free(&config);
	config = load_text(f, "[domains]\npostmaster =\n");
	assert_null(config->postmaster);
	config_free(&config);
}

static void test_is_local_domain(void **state)
{
	struct fixture *f = *state;
	struct config *config = load_text(f, "[domains]\nlocal = example.org, xn--bcher-kva.example\n");

	assert_true(config_is_local_domain(config, "example.org"));
	assert_true(config_is_local_domain(config, "EXAMPLE.Org"));
	assert_true(config_is_local_domain(config, "example.org."));
	assert_true(config_is_local_domain(config, "XN--BCHER-KVA.example."));
	assert_false(config_is_local_domain(config, "example.org.."));
	assert_false(config_is_local_domain(config, "sub.example.org"));
	assert_false(config_is_local_domain(config, "example.or"));
	assert_false(config_is_local_domain(config, "example.orgx"));
	assert_false(config_is_local_domain(config, ""));
	assert_false(config_is_local_domain(config, "."));
	config_free(&config);
}

/* test_auth_throttle - the throttle's and the hash pool's settings */
static void test_auth_throttle(void **state)
{
	struct fixture *f = *state;
	struct config *defaults = config_defaults();
	assert_int_equal(defaults->auth.ipv6_prefix, 64);
	assert_int_equal(defaults->auth.throttle_entries, 65536);
	assert_int_equal(defaults->auth.hash_workers, 1);
	assert_int_equal(defaults->auth.hash_queue, 64);
	assert_int_equal(defaults->auth.scram_iterations, 65536);
	config_free(&defaults);
	struct config *config = load_text(f,
		"[auth]\nipv6_prefix = 48\nthrottle_entries = 1000\nhash_workers = 2\n"
		"hash_queue = 8\n");
	assert_int_equal(config->auth.ipv6_prefix, 48);
	assert_int_equal(config->auth.throttle_entries, 1000);
	assert_int_equal(config->auth.hash_workers, 2);
	assert_int_equal(config->auth.hash_queue, 8);
	config_free(&config);
}

/* test_local_sync_delay - [queue] local_sync_delay: the milliseconds a
 * Maildir step waits for a sync that others start, 10 unless set, 0 allowed
 * (each step starts its own) */
static void test_local_sync_delay(void **state)
{
	struct fixture *f = *state;
	struct config *defaults = config_defaults();
	assert_int_equal(defaults->queue.local_sync_delay, 10);
	config_free(&defaults);
	struct config *config = load_text(f, "[queue]\nlocal_sync_delay = 0\n");
	assert_int_equal(config->queue.local_sync_delay, 0);
	config_free(&config);
	config = load_text(f, "[queue]\nlocal_sync_delay = 250\n");
	assert_int_equal(config->queue.local_sync_delay, 250);
	config_free(&config);
	expect_error(f, "[queue]\nlocal_sync_delay = 1001\n",
		     "2: 'local_sync_delay' must be a number between 0 and 1000");
}

/* test_receiving_checks - [auth] authserv_id is the hostname unless set
 * (lower-cased, one trailing dot dropped), spf_reject is off by default */
static void test_receiving_checks(void **state)
{
	struct fixture *f = *state;
	struct config *defaults = config_defaults();
	assert_string_equal(defaults->auth.authserv_id, defaults->hostname);
	assert_false(defaults->auth.spf_reject);
	config_free(&defaults);
	struct config *config = load_text(f, "[server]\nhostname = mx.example.org\n");
	assert_string_equal(config->auth.authserv_id, "mx.example.org");
	config_free(&config);
	config = load_text(f, "[auth]\nauthserv_id = Auth.Example.ORG.\nspf_reject = true\n"
			   "[server]\nhostname = mx.example.org\n");
	assert_string_equal(config->auth.authserv_id, "auth.example.org");
	assert_true(config->auth.spf_reject);
	config_free(&config);
}

/* test_process_users - [server] auth_user and keys_user default to
 * petrel-auth and petrel-keys, or to user when that is root or empty (the
 * split keeps the starting user everywhere then); a value set wins */
static void test_process_users(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *text, *user, *auth_user, *keys_user;
	} cases[] = {
		{ "", "petrel", "petrel-auth", "petrel-keys" },
		{ "[server]\nuser = mail\n", "mail", "petrel-auth", "petrel-keys" },
		{ "[server]\nuser = root\n", "root", "root", "root" },
		{ "[server]\nuser =\n", "", "", "" },
		{ "[server]\nuser = root\nauth_user = a\n", "root", "a", "root" },
		{ "[server]\nkeys_user = k\nuser = root\n", "root", "root", "k" },
		{ "[server]\nauth_user = a\nkeys_user = k\n", "petrel", "a", "k" },
	};
	struct config *defaults = config_defaults();
	assert_string_equal(defaults->auth_user, "petrel-auth");
	assert_string_equal(defaults->keys_user, "petrel-keys");
	assert_int_equal(defaults->auth.helper_timeout, 10);
	assert_int_equal(defaults->auth.spf_void_lookups, 2);
	assert_int_equal(defaults->auth.spf_timeout, 20);
	assert_true(defaults->srs.enabled);
	assert_null(defaults->srs.secret_file);
	assert_null(defaults->srs.domain);
	assert_int_equal(defaults->srs.max_age, 21);
	assert_int_equal(defaults->smtp.reverse_dns, SMTP_REVERSE_DNS_RECORD);
	assert_int_equal(defaults->smtp.helo_check, SMTP_HELO_CHECK_OFF);
	assert_false(defaults->smtp.sender_domain_check);
	assert_int_equal(defaults->smtp.unknown_sender_code, SMTP_UNKNOWN_SENDER_550);
	config_free(&defaults);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct config *config = load_text(f, cases[i].text);
		assert_string_equal(config->user, cases[i].user);
		assert_string_equal(config->auth_user, cases[i].auth_user);
		assert_string_equal(config->keys_user, cases[i].keys_user);
		config_free(&config);
	}
	struct config *config = load_text(f, "[auth]\nhelper_timeout = 300\n");
	assert_int_equal(config->auth.helper_timeout, 300);
	assert_int_equal(config_key_line(config, "auth", "helper_timeout"), 2);
	config_free(&config);
	config = load_text(f, "[smtp]\nreverse_dns = require\nhelo_check = syntax\n"
			   "sender_domain_check = yes\nunknown_sender_code = 450\n");
	assert_int_equal(config->smtp.reverse_dns, SMTP_REVERSE_DNS_REQUIRE);
	assert_int_equal(config->smtp.helo_check, SMTP_HELO_CHECK_SYNTAX);
	assert_true(config->smtp.sender_domain_check);
	assert_int_equal(config->smtp.unknown_sender_code, SMTP_UNKNOWN_SENDER_450);
	config_free(&config);
}

/* test_dmarc_settings - [auth] public_suffix_list (a path, relative to the
 * file's folder) and dmarc_enforce */
static void test_dmarc_settings(void **state)
{
	struct fixture *f = *state;
	struct config *defaults = config_defaults();
	assert_string_equal(defaults->auth.public_suffix_list,
			    "/usr/share/publicsuffix/public_suffix_list.dat");
	assert_true(defaults->auth.dmarc_enforce);
	config_free(&defaults);
	struct config *config = load_text(f, "[auth]\npublic_suffix_list = psl.dat\n"
					  "dmarc_enforce = no\n");
	char *want = xasprintf("%s/psl.dat", f->realdir);
	assert_string_equal(config->auth.public_suffix_list, want);
	free(want);
	assert_false(config->auth.dmarc_enforce);
	assert_int_equal(config_key_line(config, "auth", "public_suffix_list"), 2);
	config_free(&config);
	/* aggregate reports: off, the hostname's postmaster and name by default */
	defaults = config_defaults();
	assert_false(defaults->auth.dmarc_reports);
	assert_string_equal(defaults->auth.report_org_name, "");
	assert_null(defaults->auth.report_email);
	config_free(&defaults);
	config = load_text(f, "[auth]\ndmarc_reports = daily\nreport_org_name = Example Mail\n"
			   "report_email = DMARC@Example.ORG\n");
	assert_true(config->auth.dmarc_reports);
	assert_string_equal(config->auth.report_org_name, "Example Mail");
	assert_string_equal(config->auth.report_email, "DMARC@example.org");
	config_free(&config);
}

/* test_events_settings - retention takes s, m, h and d; 0 keeps events for ever */
static void test_events_settings(void **state)
{
	struct fixture *f = *state;
	struct config *defaults = config_defaults();
	assert_int_equal(defaults->events.retention, 30 * 86400);
	assert_int_equal(defaults->events.max_pending, 100000);
	config_free(&defaults);
	static const struct { const char *text; unsigned seconds; } cases[] = {
		{ "0", 0 }, { "90", 90 }, { "90s", 90 }, { "15m", 900 }, { "2h", 7200 },
		{ "30d", 2592000 }, { "3650d", 315360000 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char text[64];
		snprintf(text, sizeof(text), "[events]\nretention = %s\nmax_pending = 500\n",
			 cases[i].text);
		struct config *config = load_text(f, text);
		assert_int_equal(config->events.retention, cases[i].seconds);
		assert_int_equal(config->events.max_pending, 500);
		config_free(&config);
	}
}

/* test_store_settings - [store]'s defaults and a PostgreSQL store */
static void test_store_settings(void **state)
{
	struct fixture *f = *state;
	struct config *config = load_text(f, "[server]\nworkers = 2\n");
	assert_int_equal(config->store.backend, STORE_BACKEND_SQLITE);
	assert_string_equal(config->store.url, "");
	assert_int_equal(config->store.statement_timeout, 10);
	assert_int_equal(config->store.connections, 4);
	config_free(&config);
	config = load_text(f, "[store]\nbackend = postgresql\n"
			   "url = postgresql://petrel@/petrel?host=/run/postgresql\n"
			   "statement_timeout = 2m\nconnections = 16\n");
	assert_int_equal(config->store.backend, STORE_BACKEND_POSTGRESQL);
	assert_string_equal(config->store.url, "postgresql://petrel@/petrel?host=/run/postgresql");
	assert_int_equal(config->store.statement_timeout, 120);
	assert_int_equal(config->store.connections, 16);
	config_free(&config);
}

/* test_imap_settings - [imap]'s defaults, and literal_size following
 * [limits] message_size unless set */
static void test_imap_settings(void **state)
{
	struct fixture *f = *state;
	struct config *config = load_text(f, "[limits]\nmessage_size = 1M\n");
	assert_int_equal(config->imap.idle_timeout, 1800);
	assert_int_equal(config->imap.login_timeout, 180);
	assert_int_equal(config->imap.command_line, 65536);
	assert_int_equal(config->imap.literal_size, 1048576);
	assert_int_equal(config->imap.sessions_per_account, 20);
	config_free(&config);
	config = load_text(f, "[imap]\nliteral_size = 2k\nidle_timeout = 31m\nlogin_timeout = 5\n"
			   "command_line = 8k\nsessions_per_account = 3\n"
			   "[limits]\nmessage_size = 1M\n");
	assert_int_equal(config->imap.literal_size, 2048);
	assert_int_equal(config->imap.idle_timeout, 1860);
	assert_int_equal(config->imap.login_timeout, 5);
	assert_int_equal(config->imap.command_line, 8192);
	assert_int_equal(config->imap.sessions_per_account, 3);
	config_free(&config);
}

/* test_pop3_settings - [pop3]'s defaults and values, and the roles */
static void test_pop3_settings(void **state)
{
	struct fixture *f = *state;
	struct config *config = load_text(f, "");
	assert_int_equal(config->pop3.idle_timeout, 600);
	assert_int_equal(config->pop3.command_line, 4096);
	config_free(&config);
	config = load_text(f, "[pop3]\nidle_timeout = 10m\ncommand_line = 255\n"
			   "[listener p]\nrole = pop3\naddress = 127.0.0.1:110\n");
	assert_int_equal(config->pop3.idle_timeout, 600);
	assert_int_equal(config->pop3.command_line, 255);
	assert_int_equal(config->listener_count, 1);
	assert_int_equal(config->listeners[0].role, LISTENER_ROLE_POP3);
	assert_string_equal(listener_role_name(LISTENER_ROLE_POP3S), "pop3s");
	config_free(&config);
}

/* test_http_settings - [http]'s defaults and values, and the roles */
static void test_http_settings(void **state)
{
	struct fixture *f = *state;
	struct config *config = load_text(f, "");
	assert_int_equal(config->http.header_size, 16384);
	assert_int_equal(config->http.header_count, 100);
	assert_int_equal(config->http.body_size, 32u * 1024 * 1024);
	assert_int_equal(config->http.request_timeout, 30);
	assert_int_equal(config->http.idle_timeout, 60);
	config_free(&config);
	config = load_text(f, "[http]\nheader_size = 8k\nheader_count = 50\nbody_size = 1M\n"
			   "request_timeout = 1m\nidle_timeout = 5\n"
			   "[listener w]\nrole = http\naddress = 127.0.0.1:8080\n");
	assert_int_equal(config->http.header_size, 8192);
	assert_int_equal(config->http.header_count, 50);
	assert_int_equal(config->http.body_size, 1048576);
	assert_int_equal(config->http.request_timeout, 60);
	assert_int_equal(config->http.idle_timeout, 5);
	assert_int_equal(config->listener_count, 1);
	assert_int_equal(config->listeners[0].role, LISTENER_ROLE_HTTP);
	assert_string_equal(listener_role_name(LISTENER_ROLE_HTTPS), "https");
	config_free(&config);
}

static void test_sizes_and_bools(void **state)
{
	struct fixture *f = *state;
	struct config *config = load_text(f,
		"[limits]\nmessage_size = 2G\ntext_line = 64K\ncommand_line = 1024\n"
		"[server]\nsyslog = Off\n");

	assert_int_equal(config->limits.message_size, 2147483648ULL);
	assert_int_equal(config->limits.text_line, 65536);
	assert_int_equal(config->limits.command_line, 1024);
	assert_false(config->syslog);
	config_free(&config);
}

/* test_example_file - petrel.conf.example at the repository root loads and
 * holds the production defaults (needs PETREL_SOURCE_ROOT, set by meson) */
static void test_example_file(void **state)
{
	const char *root = getenv("PETREL_SOURCE_ROOT");
	const char *error = NULL;
	struct config *config, *defaults;
	char *path;

	(void)state;
	if (root == NULL) {
		print_message("# SKIP reason: PETREL_SOURCE_ROOT is not set (meson test sets it)\n");
		skip();
	}
	path = xasprintf("%s/petrel.conf.example", root);
	config = config_load(path, &error);
	if (config == NULL)
		fail_msg("%s", error);
	defaults = config_defaults();
	assert_string_equal(config->data_dir, defaults->data_dir);
	assert_string_equal(config->user, defaults->user);
	assert_string_equal(config->auth_user, defaults->auth_user);
	assert_string_equal(config->keys_user, defaults->keys_user);
	assert_memory_equal(&config->limits, &defaults->limits, sizeof(config->limits));
	assert_memory_equal(&config->timeouts, &defaults->timeouts, sizeof(config->timeouts));
	/* the structs compared byte for byte, but for their strings */
	assert_string_equal(config->auth.public_suffix_list, defaults->auth.public_suffix_list);
	struct config_auth auth_a, auth_b;
	memcpy(&auth_a, &config->auth, sizeof(auth_a));
	memcpy(&auth_b, &defaults->auth, sizeof(auth_b));
	auth_a.public_suffix_list = auth_b.public_suffix_list = NULL;
	/* the hostname's by default (the example's and this machine's) */
	assert_string_equal(config->auth.authserv_id, config->hostname);
	auth_a.authserv_id = auth_b.authserv_id = NULL;
	assert_string_equal(config->auth.arc_trusted_forwarders, "");
	auth_a.arc_trusted_forwarders = auth_b.arc_trusted_forwarders = NULL;
	assert_string_equal(config->auth.arc_seal_key, "");
	auth_a.arc_seal_key = auth_b.arc_seal_key = NULL;
	assert_string_equal(config->auth.report_org_name, defaults->auth.report_org_name);
	assert_ptr_equal(config->auth.report_email, defaults->auth.report_email);
	auth_a.report_org_name = auth_b.report_org_name = NULL;
	assert_memory_equal(&auth_a, &auth_b, sizeof(auth_a));
	assert_memory_equal(&config->events, &defaults->events, sizeof(config->events));
	assert_memory_equal(&config->queue, &defaults->queue, sizeof(config->queue));
	assert_memory_equal(&config->dkim, &defaults->dkim, sizeof(config->dkim));
	assert_memory_equal(&config->mailbox, &defaults->mailbox, sizeof(config->mailbox));
	assert_string_equal(config->dns.resolver, defaults->dns.resolver);
	assert_string_equal(config->dns.special_zones, defaults->dns.special_zones);
	assert_int_equal(config->dns.timeout, defaults->dns.timeout);
	assert_string_equal(config->delivery.tls, defaults->delivery.tls);
	assert_int_equal(config->delivery.port, defaults->delivery.port);
	assert_int_equal(config->delivery.max_connections, defaults->delivery.max_connections);
	assert_int_equal(config->delivery.max_per_destination,
			 defaults->delivery.max_per_destination);
	assert_string_equal(config->delivery.source_address, defaults->delivery.source_address);
	assert_string_equal(config->relay.host, defaults->relay.host);
	assert_string_equal(config->relay.tls, defaults->relay.tls);
	assert_string_equal(config->relay.domains, defaults->relay.domains);
	assert_string_equal(config->log_level, defaults->log_level);
	assert_int_equal(config->syslog, defaults->syslog);
	assert_int_equal(config->log_buffer, defaults->log_buffer);
	assert_null(config->postmaster);
	assert_int_equal(config->workers, defaults->workers);
	/* the default set, then IMAP's, POP3's and HTTP's (not defaults) */
	assert_int_equal(config->listener_count, 10);
	assert_string_equal(config->listeners[0].address, "*:25");
	assert_string_equal(config->listeners[1].address, "*:587");
	assert_string_equal(config->listeners[2].address, "*:2525");
	assert_string_equal(config->listeners[3].address, "*:465");
	assert_int_equal(config->listeners[3].role, LISTENER_ROLE_SUBMISSIONS);
	assert_string_equal(config->listeners[4].address, "*:143");
	assert_int_equal(config->listeners[4].role, LISTENER_ROLE_IMAP);
	assert_string_equal(config->listeners[5].address, "*:993");
	assert_int_equal(config->listeners[5].role, LISTENER_ROLE_IMAPS);
	assert_string_equal(config->listeners[6].address, "*:110");
	assert_int_equal(config->listeners[6].role, LISTENER_ROLE_POP3);
	assert_string_equal(config->listeners[7].address, "*:995");
	assert_int_equal(config->listeners[7].role, LISTENER_ROLE_POP3S);
	assert_int_equal(config->listeners[8].role, LISTENER_ROLE_HTTP);
	assert_int_equal(config->listeners[9].role, LISTENER_ROLE_HTTPS);
	assert_int_equal(config->http.header_size, defaults->http.header_size);
	assert_int_equal(config->http.body_size, defaults->http.body_size);
	assert_int_equal(config->pop3.idle_timeout, defaults->pop3.idle_timeout);
	assert_int_equal(config->pop3.command_line, defaults->pop3.command_line);
	config_free(&defaults);
	config_free(&config);
	free(path);
}

/* test_outbound_values - the forms [dns], [delivery] and [relay] accept, and
 * the line each key was set on (for errors found later, e.g. preset names) */
static void test_outbound_values(void **state)
{
	struct fixture *f = *state;
	struct config *config = load_text(f,
		"[dns]\n"
		"resolver = 127.0.0.1@5353, ::1@53 192.0.2.1\n"
		"special_zones = test, Invalid.\n"
		"[delivery]\n"
		"source_address = 2001:db8::1\n"
		"[relay]\n"
		"host = [2001:db8::2]:465\n"
		"domains = example.com, Example.NET.\n");

	assert_string_equal(config->dns.resolver, "127.0.0.1@5353, ::1@53 192.0.2.1");
	assert_string_equal(config->dns.special_zones, "test, Invalid.");
	assert_string_equal(config->delivery.source_address, "2001:db8::1");
	assert_string_equal(config->relay.host, "[2001:db8::2]:465");
	assert_int_equal(config_key_line(config, "relay", "host"), 7);
	assert_int_equal(config_key_line(config, "dns", "resolver"), 2);
	assert_int_equal(config_key_line(config, "server", "user"), 0);
	assert_int_equal(config_key_line(config, "no-such", "key"), 0);
	config_free(&config);

	config = load_text(f, "[relay]\nhost = gmail\nusername = me\npassword = pw\n"
			      "domains = *\n[delivery]\nsource_address = 192.0.2.7\n");
	assert_string_equal(config->relay.host, "gmail");
	assert_string_equal(config->relay.domains, "*");
	assert_string_equal(config->delivery.source_address, "192.0.2.7");
	config_free(&config);

	config = load_text(f, "[relay]\nhost = smtp.example.com:587\n");
	assert_string_equal(config->relay.host, "smtp.example.com:587");
	config_free(&config);
}

static void test_role_names(void **state)
{
	(void)state;
	assert_string_equal(listener_role_name(LISTENER_ROLE_MX), "mx");
	assert_string_equal(listener_role_name(LISTENER_ROLE_SUBMISSION), "submission");
	assert_string_equal(listener_role_name(LISTENER_ROLE_SUBMISSIONS), "submissions");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test_setup_teardown(test_full_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_http_metrics_from, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cluster_settings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_listener_proxy_from, setup, teardown),
		cmocka_unit_test_setup_teardown(test_listener_receiving_checks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_one_listener_replaces_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_long_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_relative_paths, setup, teardown),
		cmocka_unit_test_setup_teardown(test_relative_config_path, setup, teardown),
		cmocka_unit_test_setup_teardown(test_local_domains, setup, teardown),
		cmocka_unit_test_setup_teardown(test_is_local_domain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_postmaster, setup, teardown),
		cmocka_unit_test_setup_teardown(test_auth_throttle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_local_sync_delay, setup, teardown),
		cmocka_unit_test_setup_teardown(test_receiving_checks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_process_users, setup, teardown),
		cmocka_unit_test_setup_teardown(test_events_settings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_settings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dmarc_settings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_imap_settings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pop3_settings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_http_settings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sizes_and_bools, setup, teardown),
		cmocka_unit_test(test_example_file),
		cmocka_unit_test_setup_teardown(test_outbound_values, setup, teardown),
		cmocka_unit_test(test_role_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
