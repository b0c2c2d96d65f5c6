/* tests/unit/delivery/test-client - the outbound SMTP client against real
 * peers on loopback: Postfix's smtp-sink (fault injection: hard and soft RCPT
 * failures, 421 on DATA, a connection dropped after the final dot),
 * fake_smtp.py (SIZE, SMTPUTF8, STARTTLS and implicit TLS with a certificate
 * made here, AUTH PLAIN/LOGIN, PIPELINING with mixed RCPT replies,
 * connection reuse and concurrency counted by the server), and dnsmasq
 * serving MX records for failover and DNS errors.  Every run of the loop is
 * bounded by a timer; every server started is killed in teardown. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/ssl.h>

#include "../dnsmasq-fixture.h"
#include "delivery/delivery.h"
#include "dns/dns.h"
#include "util/log.h"
#include "wire/wire.h"

#define MAX_PROCS 4
#define MAX_RESULTS 16

struct captured {
	int calls;
	size_t rcpt_count;
	enum delivery_outcome outcome[8];
	int code[8];
	char enhanced[8][16];
	char text[8][512];
	char mx_host[128];
	char tls[160];
};

struct fixture {
	struct event_base *base;
	char dir[64];
	pid_t procs[MAX_PROCS];
	int nprocs;
	struct captured results[MAX_RESULTS];
	int done, expected;
	struct delivery *delivery;
	struct dns_resolver *dns;
	struct delivery_relay relay;
	struct delivery_policy policy;
	struct delivery_settings settings;
	SSL_CTX *ctx;
	unsigned port;
	char log[128];
};

static const char *sink_dir;

/* ---- processes ---------------------------------------------------------------- */

static unsigned free_port(const char *addr)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = { .sin_family = AF_INET };
	inet_pton(AF_INET, addr, &sin.sin_addr);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	socklen_t len = sizeof(sin);
	getsockname(fd, (struct sockaddr *)&sin, &len);
	close(fd);
	return ntohs(sin.sin_port);
}

static bool can_connect(const char *addr, unsigned port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
	inet_pton(AF_INET, addr, &sin.sin_addr);
	int r = connect(fd, (struct sockaddr *)&sin, sizeof(sin));
	close(fd);
	return r == 0;
}

static int log_count(struct fixture *f, const char *needle);

/* spawn - start ARGV; wait until ADDR:PORT accepts, or, for fake_smtp.py
 * (LISTENING > 0), its log has that many "listening" lines: a probe
 * connection would count as a client */
static void spawn(struct fixture *f, char *const argv[], const char *addr, unsigned port,
		  int listening)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		dup2(null, 0);
		if (!getenv("DELIVERY_TEST_VERBOSE")) {
			dup2(null, 1);
			dup2(null, 2);
		}
		if (sink_dir) {
			char lib[300];
			snprintf(lib, sizeof(lib), "%s/../lib/postfix", sink_dir);
			setenv("LD_LIBRARY_PATH", lib, 1);
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	assert_true(f->nprocs < MAX_PROCS);
	f->procs[f->nprocs++] = pid;
	for (int i = 0; i < 500; i++) { /* 5 s */
		if (listening > 0 ? log_count(f, "\"event\": \"listening\"") >= listening
		    : can_connect(addr, port))
			return;
		int st;
		if (waitpid(pid, &st, WNOHANG) == pid) {
			f->procs[--f->nprocs] = 0;
			fail_msg("%s exited before listening", argv[0]);
		}
		usleep(10000);
	}
	fail_msg("%s did not listen on %s:%u", argv[0], addr, port);
}

/* start_sink - smtp-sink on 127.0.0.2 with extra flags */
static void start_sink(struct fixture *f, const char *const *flags)
{
	char path[300], listen[64];
	char *argv[24];
	int n = 0;
	if (!sink_dir) {
		print_message("# SKIP reason: Postfix's smtp-sink is not available\n");
		skip();
	}
	snprintf(path, sizeof(path), "%s/smtp-sink", sink_dir);
	f->port = free_port("127.0.0.2");
	snprintf(listen, sizeof(listen), "127.0.0.2:%u", f->port);
	argv[n++] = path;
	if (geteuid() == 0) {
		/* smtp-sink refuses to run as root without -u */
		argv[n++] = "-u";
		argv[n++] = "nobody";
	}
	for (; flags && *flags; flags++)
		argv[n++] = (char *)*flags;
	argv[n++] = listen;
	argv[n++] = "10";
	argv[n] = NULL;
	spawn(f, argv, "127.0.0.2", f->port, 0);
}

/* start_fake - fake_smtp.py on ADDR with extra flags (PORT 0: a free one) */
static void start_fake(struct fixture *f, const char *addr, unsigned port,
		       const char *const *flags)
{
	char listen[64];
	char *argv[40];
	int n = 0;
	if (!port)
		port = free_port(addr);
	f->port = port;
	snprintf(listen, sizeof(listen), "%s:%u", addr, port);
	argv[n++] = "/usr/bin/python3";
	argv[n++] = FAKE_SMTP;
	argv[n++] = "--listen";
	argv[n++] = listen;
	argv[n++] = "--log";
	argv[n++] = f->log;
	for (; flags && *flags; flags++)
		argv[n++] = (char *)*flags;
	argv[n] = NULL;
	spawn(f, argv, addr, port, log_count(f, "\"event\": \"listening\"") + 1);
}

static void make_cert(struct fixture *f)
{
	char cmd[1024];
	snprintf(cmd, sizeof(cmd),
		 "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=relay.test "
		 "-addext subjectAltName=DNS:relay.test,IP:127.0.0.2 "
		 "-keyout %s/key.pem -out %s/cert.pem >/dev/null 2>&1", f->dir, f->dir);
	assert_int_equal(system(cmd), 0);
}

/* ---- the loop -------------------------------------------------------------------- */

static void result_cb(void *ctx, const struct delivery_result *res)
{
	struct fixture *f = ctx;
	assert_true(f->done < MAX_RESULTS);
	struct captured *c = &f->results[f->done++];
	c->calls++;
	c->rcpt_count = res->rcpt_count;
	for (size_t i = 0; i < res->rcpt_count && i < 8; i++) {
		c->outcome[i] = res->rcpts[i].outcome;
		c->code[i] = res->rcpts[i].code;
		snprintf(c->enhanced[i], 16, "%s", res->rcpts[i].enhanced);
		snprintf(c->text[i], sizeof(c->text[i]), "%s", res->rcpts[i].text);
	}
	snprintf(c->mx_host, sizeof(c->mx_host), "%s", res->mx_host ? res->mx_host : "");
	snprintf(c->tls, sizeof(c->tls), "%s", res->tls ? res->tls : "");
	if (f->done >= f->expected)
		event_base_loopbreak(f->base);
}

static void timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopbreak(arg);
}

/* run - the loop until EXPECTED callbacks or SECONDS */
static void run(struct fixture *f, int expected, int seconds)
{
	struct timeval tv = { .tv_sec = seconds };
	struct event *t = evtimer_new(f->base, timeout_cb, f->base);
	f->expected = expected;
	evtimer_add(t, &tv);
	if (f->done < expected)
		event_base_dispatch(f->base);
	event_free(t);
	if (f->done < expected)
		fail_msg("only %d of %d results within %d s", f->done, expected, seconds);
}

/* settle - run the loop for MS milliseconds (QUITs, idle timers) */
static void settle(struct fixture *f, int ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
	struct event *t = evtimer_new(f->base, timeout_cb, f->base);
	evtimer_add(t, &tv);
	event_base_dispatch(f->base);
	event_free(t);
}

/* relay_to - route every domain to 127.0.0.2:f->port with TLS policy TLS */
static void relay_to(struct fixture *f, enum delivery_tls tls)
{
	f->relay.host = "127.0.0.2";
	f->relay.port = f->port;
	f->relay.tls = tls;
	f->policy.domain = "*";
	f->policy.relay = &f->relay;
	f->settings.policies = &f->policy;
	f->settings.policy_count = 1;
}

static void create(struct fixture *f)
{
	f->settings.helo_name = "client.test";
	if (!f->settings.connect_timeout)
		f->settings.connect_timeout = 5;
	f->settings.greeting_timeout = 10;
	f->settings.ehlo_timeout = 10;
	f->settings.final_timeout = 10;
	f->delivery = delivery_create(f->base, f->dns, &f->settings);
}

static const struct delivery_recipient one_rcpt[] = { { "user@example.test", 0, NULL } };

static struct delivery_message message(const char *data)
{
	struct delivery_message m = {
		.queue_id = "Q1", .sender = "sender@client.test", .domain = "example.test",
		.rcpts = one_rcpt, .rcpt_count = 1, .data = data, .size = strlen(data),
	};
	return m;
}

static const char plain_msg[] = "Subject: hi\r\n\r\nhello\r\n";

/* log_count - lines of the fake server's log containing NEEDLE */
static int log_count(struct fixture *f, const char *needle)
{
	FILE *fp = fopen(f->log, "r");
	char line[65536];
	int n = 0;
	if (!fp)
		return 0;
	while (fgets(line, sizeof(line), fp))
		if (strstr(line, needle))
			n++;
	fclose(fp);
	return n;
}

static int log_max_concurrent(struct fixture *f)
{
	FILE *fp = fopen(f->log, "r");
	char line[65536];
	int max = 0;
	if (!fp)
		return 0;
	while (fgets(line, sizeof(line), fp)) {
		const char *p = strstr(line, "\"concurrent\": ");
		if (p && atoi(p + 14) > max)
			max = atoi(p + 14);
	}
	fclose(fp);
	return max;
}

/* ---- setup ---------------------------------------------------------------------- */

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	f->base = event_base_new();
	snprintf(f->dir, sizeof(f->dir), "/tmp/petrel-delivery-XXXXXX");
	if (!mkdtemp(f->dir) || chmod(f->dir, 0755) != 0)
		return -1;
	snprintf(f->log, sizeof(f->log), "%s/fake.log", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	delivery_free(&f->delivery);
	/* libevent finalises freed TLS bufferevents from the loop */
	event_base_loop(f->base, EVLOOP_NONBLOCK);
	if (f->dns)
		dns_resolver_free(&f->dns);
	for (int i = 0; i < f->nprocs; i++) {
		if (f->procs[i] > 0) {
			kill(f->procs[i], SIGTERM);
			waitpid(f->procs[i], NULL, 0);
		}
	}
	if (f->ctx)
		SSL_CTX_free(f->ctx);
	event_base_free(f->base);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", f->dir);
	free(f);
	return 0;
}

/* ---- smtp-sink --------------------------------------------------------------------- */

/* read_dump - the one file smtp-sink dumped into DIR/dump */
static char *read_dump(struct fixture *f)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/dump", f->dir);
	DIR *d = opendir(path);
	assert_non_null(d);
	struct dirent *e;
	char *data = NULL;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char file[600];
		snprintf(file, sizeof(file), "%s/%s", path, e->d_name);
		FILE *fp = fopen(file, "r");
		assert_non_null(fp);
		data = calloc(1, 65536);
		size_t n = fread(data, 1, 65535, fp);
		data[n] = '\0';
		fclose(fp);
		break;
	}
	closedir(d);
	return data;
}

static void test_sink_delivered_dot_stuffing(void **state)
{
	struct fixture *f = *state;
	char dump[300];
	snprintf(dump, sizeof(dump), "%s/dump", f->dir);
	mkdir(dump, 0777);
	chmod(dump, 0777);
	snprintf(dump, sizeof(dump), "%s/dump/%%M.", f->dir);
	const char *flags[] = { "-d", dump, NULL };
	start_sink(f, flags);
	relay_to(f, DELIVERY_TLS_NONE);
	create(f);
	static const char body[] = "Subject: dots\r\n\r\n.leading dot\r\n..two\r\n.\r\nend\r\n.";
	struct delivery_message m = message(body);
	delivery_submit(f->delivery, &m, result_cb, f);
	run(f, 1, 20);
	assert_int_equal(f->results[0].outcome[0], DELIVERY_DELIVERED);
	assert_int_equal(f->results[0].code[0], 250);
	assert_string_equal(f->results[0].mx_host, "127.0.0.2");
	char *got = read_dump(f);
	assert_non_null(got);
	/* smtp-sink dumps the message as received, unstuffed, after its own
	 * envelope lines */
	assert_non_null(strstr(got, "\r\n.leading dot\r\n..two\r\n.\r\nend\r\n.\r\n") ?
			got : strstr(got, "\n.leading dot\n..two\n.\nend\n.\n"));
	free(got);
}

static void test_sink_rcpt_hard(void **state)
{
	struct fixture *f = *state;
	const char *flags[] = { "-f", "RCPT", "-B", "550 5.1.1 no such user", NULL };
	start_sink(f, flags);
	relay_to(f, DELIVERY_TLS_NONE);
	create(f);
	struct delivery_message m = message(plain_msg);
	delivery_submit(f->delivery, &m, result_cb, f);
	run(f, 1, 20);
	assert_int_equal(f->results[0].outcome[0], DELIVERY_PERMANENT);
	assert_int_equal(f->results[0].code[0], 550);
	assert_string_equal(f->results[0].enhanced[0], "5.1.1");
	assert_non_null(strstr(f->results[0].text[0], "no such user"));
}

static void test_sink_rcpt_soft(void **state)
{
	struct fixture *f = *state;
	const char *flags[] = { "-r", "RCPT", NULL };
	start_sink(f, flags);
	relay_to(f, DELIVERY_TLS_NONE);
	create(f);
	struct delivery_message m = message(plain_msg);
	delivery_submit(f->delivery, &m, result_cb, f);
	run(f, 1, 20);
	assert_int_equal(f->results[0].outcome[0], DELIVERY_TEMPORARY);
	assert_true(f->results[0].code[0] >= 400 && f->results[0].code[0] < 500);
}

static void test_sink_data_421(void **state)
{
	struct fixture *f = *state;
	const char *flags[] = { "-Q", "DATA", NULL };
	start_sink(f, flags);
	relay_to(f, DELIVERY_TLS_NONE);
	create(f);
	struct delivery_message m = message(plain_msg);
	delivery_submit(f->delivery, &m, result_cb, f);
	run(f, 1, 20);
	assert_int_equal(f->results[0].outcome[0], DELIVERY_TEMPORARY);
	assert_int_equal(f->results[0].code[0], 421);
}

static void test_sink_drop_after_dot(void **state)
{
	struct fixture *f = *state;
	const char *flags[] = { "-q", ".", NULL };
	start_sink(f, flags);
	relay_to(f, DELIVERY_TLS_NONE);
	create(f);
	struct delivery_message m = message(plain_msg);
	delivery_submit(f->delivery, &m, result_cb, f);
	run(f, 1, 20);
	/* never "delivered" without the reply to the final dot */
	assert_int_equal(f->results[0].outcome[0], DELIVERY_TEMPORARY);
	assert_non_null(strstr(f->results[0].text[0], "state dot"));
}

/* a large message crosses many output blocks and keeps its dots */
static void test_sink_large_message(void **state)
{
	struct fixture *f = *state;
	char dump[300];
	snprintf(dump, sizeof(dump), "%s/dump", f->dir);
	mkdir(dump, 0777);
	chmod(dump, 0777);
	snprintf(dump, sizeof(dump), "%s/dump/%%M.", f->dir);
	const char *flags[] = { "-d", dump, NULL };
	start_sink(f, flags);
	relay_to(f, DELIVERY_TLS_NONE);
	create(f);
	size_t size = 3u << 20;
	char *body = malloc(size + 1);
	for (size_t i = 0; i < size; i += 64) {
		memset(body + i, i % 128 == 0 ? '.' : 'x', 62);
		body[i + 62] = '\r';
		body[i + 63] = '\n';
	}
	body[size] = '\0';
	struct delivery_message m = message(body);
	delivery_submit(f->delivery, &m, result_cb, f);
	run(f, 1, 60);
	assert_int_equal(f->results[0].outcome[0], DELIVERY_DELIVERED);
	free(body);
}

/* ---- fake_smtp.py ------------------------------------------------------------------ */

static void test_fake_size_refused(void **state)
{
	struct fixture *f = *state;
	const char *flags[] = { "--ext", "SIZE 10", "--ext", "PIPELINING", NULL };
	start_fake(f, "127.0.0.2", 0, flags);
	relay_to(f, DELIVERY_TLS_NONE);
	create(f);
	struct delivery_message m = message(plain_msg);
	delivery_submit(f->delivery, &m, result_cb, f);
	run(f, 1, 20);
	assert_int_equal(f->results[0].outcome[0], DELIVERY_PERMANENT);
	assert_int_equal(f->results[0].code[0], 552);
	assert_string_equal(f->results[0].enhanced[0], "5.3.4");
	assert_int_equal(log_count(f, "MAIL FROM"), 0);
}

static void test_fake_smtputf8_missing(void **state)
{
	struct fixture *f = *state;
	start_fake(f, "127.0.0.2", 0, NULL);
	relay_to(f, DELIVERY_TLS_NONE);
	create(f);
	struct delivery_message m = message(plain_msg);
	m.smtputf8 = true;
	delivery_submit(f->delivery, &m, result_cb, f);
	run(f, 1, 20);
	assert_int_equal(f->results[0].outcome[0], DELIVERY_PERMANENT);
	assert_int_equal(f->results[0].code[0], 553);
	assert_string_equal(f->results[0].enhanced[0], "5.6.7");
	assert_non_null(strstr(f->results[0].text[0], "SMTPUTF8 not supported"));
}

/* MAIL parameters: SIZE, BODY, SMTPUTF8, DSN RET/ENVID and NOTIFY/ORCPT */
static void test_fake_mail_params(void **state)
{
	struct fixture *f = *state;
	const char *flags[] = { "--ext", "SIZE 100000", "--ext", "8BITMIME", "--ext", "SMTPUTF8",
		"--ext", "DSN", NULL };
	start_fake(f, "127.0.0.2", 0, flags);
	relay_to(f, DELIVERY_TLS_NONE);
	create(f);
	static const struct delivery_recipient r[] = {
		{ "a@example.test", WIRE_NOTIFY_SUCCESS | WIRE_NOTIFY_FAILURE, "rfc822;a+b=c@x.test" },
	};
	struct delivery_message m = message(plain_msg);
	m.rcpts = r;
	m.eight_bit = m.smtputf8 = true;
	m.ret = 2;
	m.envid = "id+1";
	delivery_submit(f->delivery, &m, result_cb, f);
	run(f, 1, 20);
	assert_int_equal(f->results[0].outcome[0], DELIVERY_DELIVERED);
	char want[128];
	snprintf(want, sizeof(want), "MAIL FROM:<sender@client.test> SIZE=%zu BODY=8BITMIME "
		 "SMTPUTF8 RET=HDRS ENVID=id+2B1", strlen(plain_msg));
	assert_int_equal(log_count(f, want), 1);
	assert_int_equal(log_count(f, "RCPT TO:<a@example.test> NOTIFY=SUCCESS,FAILURE "
				   "ORCPT=rfc822;a+2Bb+3Dc@x.test"), 1);
}

/* X-PETREL-JUNK (docs/scaling.md): a junk message's MAIL carries it where
 * the server offers it, and only there */
static void test_fake_junk_param(void **state)
{
	struct fixture *f = *state;
	for (int offered = 1; offered >= 0; offered--) {
		const char *flags[] = { offered ? "--ext" : NULL, "X-PETREL-JUNK", NULL };
		unlink(f->log);
		start_fake(f, "127.0.0.2", 0, flags);
		relay_to(f, DELIVERY_TLS_NONE);
		create(f);
		struct delivery_message m = message(plain_msg);
		m.junk = true;
		f->done = 0;
		delivery_submit(f->delivery, &m, result_cb, f);
		run(f, 1, 20);
		assert_int_equal(f->results[0].outcome[0], DELIVERY_DELIVERED);
		assert_int_equal(log_count(f, "MAIL FROM:<sender@client.test> X-PETREL-JUNK"),
				 offered);
		assert_int_equal(log_count(f, "MAIL FROM:<sender@client.test>\""), !offered);
		delivery_free(&f->delivery);
		kill(f->procs[--f->nprocs], SIGTERM);
		waitpid(f->procs[f->nprocs], NULL, 0);
	}
}

static void test_fake_pipelining_mixed(void **state)
{
	struct fixture *f = *state;
	for (int pipelining = 1; pipelining >= 0; pipelining--) {
		const char *flags[] = { "--reply", "RCPT:bad@example.test=550 5.1.1 nope",
			"--reply", "RCPT:soft@example.test=450 4.2.0 later",
			pipelining ? "--ext" : NULL, "PIPELINING", NULL };
		unlink(f->log);
		start_fake(f, "127.0.0.2", 0, flags);
		relay_to(f, DELIVERY_TLS_NONE);
		create(f);
		static const struct delivery_recipient r[] = {
			{ "good@example.test", 0, NULL }, { "bad@example.test", 0, NULL },
			{ "soft@example.test", 0, NULL },
		};
		struct delivery_message m = message(plain_msg);
		m.rcpts = r;
		m.rcpt_count = 3;
		f->done = 0;
		delivery_submit(f->delivery, &m, result_cb, f);
		run(f, 1, 20);
		struct captured *c = &f->results[0];
		assert_int_equal(c->outcome[0], DELIVERY_DELIVERED);
		assert_int_equal(c->outcome[1], DELIVERY_PERMANENT);
		assert_string_equal(c->text[1], "550 5.1.1 nope");
		assert_int_equal(c->outcome[2], DELIVERY_TEMPORARY);
		assert_string_equal(c->text[2], "450 4.2.0 later");
		assert_int_equal(log_count(f, "\"event\": \"message\""), 1);
		delivery_free(&f->delivery);
		kill(f->procs[--f->nprocs], SIGTERM);
		waitpid(f->procs[f->nprocs], NULL, 0);
	}
}

static void test_fake_mail_refused(void **state)
{
	struct fixture *f = *state;
	const char *flags[] = { "--ext", "PIPELINING", "--reply", "MAIL=451 4.3.0 try later",
		"--reply", "RCPT=503 5.5.1 need MAIL", "--reply", "DATA=503 5.5.1 no", NULL };
	start_fake(f, "127.0.0.2", 0, flags);
	relay_to(f, DELIVERY_TLS_NONE);
	create(f);
	struct delivery_message m = message(plain_msg);
	delivery_submit(f->delivery, &m, result_cb, f);
	run(f, 1, 20);
	assert_int_equal(f->results[0].outcome[0], DELIVERY_TEMPORARY);
	assert_string_equal(f->results[0].text[0], "451 4.3.0 try later");
}

static void test_fake_helo_fallback(void **state)
{
	struct fixture *f = *state;
	const char *flags[] = { "--no-ehlo", NULL };
	start_fake(f, "127.0.0.2", 0, flags);
	relay_to(f, DELIVERY_TLS_NONE);
	create(f);
	struct delivery_message m = message(plain_msg);
	delivery_submit(f->delivery, &m, result_cb, f);
	run(f, 1, 20);
	assert_int_equal(f->results[0].outcome[0], DELIVERY_DELIVERED);
	assert_int_equal(log_count(f, "\"line\": \"HELO client.test\""), 1);
}

static void test_fake_greeting_refused(void **state)
{
	struct fixture *f = *state;
	const char *flags[] = { "--reply", "GREETING=554 5.3.2 go away", NULL };
	start_fake(f, "127.0.0.2", 0, flags);
	relay_to(f, DELIVERY_TLS_NONE);
	create(f);
	struct delivery_message m = message(plain_msg);
	delivery_submit(f->delivery, &m, result_cb, f);
	run(f, 1, 20);
	/* every host failed: temporary, with the last error */
	assert_int_equal(f->results[0].outcome[0], DELIVERY_TEMPORARY);
	assert_string_equal(f->results[0].text[0], "554 5.3.2 go away");
}

static void test_fake_starttls_encrypt(void **state)
{
	struct fixture *f = *state;
	make_cert(f);
	char cert[128], key[128];
	snprintf(cert, sizeof(cert), "%s/cert.pem", f->dir);
	snprintf(key, sizeof(key), "%s/key.pem", f->dir);
	const char *flags[] = { "--starttls", cert, key, NULL };
	start_fake(f, "127.0.0.2", 0, flags);
	relay_to(f, DELIVERY_TLS_ENCRYPT);
	create(f);
	struct delivery_message m = message(plain_msg);
	delivery_submit(f->delivery, &m, result_cb, f);
	run(f, 1, 20);
	assert_int_equal(f->results[0].outcome[0], DELIVERY_DELIVERED);
	assert_non_null(strstr(f->results[0].tls, "version=TLSv1."));
	assert_non_null(strstr(f->results[0].tls, "cipher="));
	/* EHLO again after TLS, and the transaction inside TLS */
	assert_int_equal(log_count(f, "\"line\": \"EHLO client.test\""), 2);
	assert_int_equal(log_count(f, "\"line\": \"MAIL FROM:<sender@client.test>\", \"tls\": true"), 1);
}

static void test_fake_starttls_may_plain(void **state)
{
	struct fixture *f = *state;
	start_fake(f, "127.0.0.2", 0, NULL);
	relay_to(f, DELIVERY_TLS_MAY);
	create(f);
	struct delivery_message m = message(plain_msg);
	delivery_submit(f->delivery, &m, result_cb, f);
	run(f, 1, 20);
	assert_int_equal(f->results[0].outcome[0], DELIVERY_DELIVERED);
	assert_string_equal(f->results[0].tls, "");
}

static void test_fake_tls_required_not_offered(void **state)
{
	struct fixture *f = *state;
	start_fake(f, "127.0.0.2", 0, NULL);
	relay_to(f, DELIVERY_TLS_ENCRYPT);
	create(f);
	struct delivery_message m = message(plain_msg);
	delivery_submit(f->delivery, &m, result_cb, f);
	run(f, 1, 20);
	assert_int_equal(f->results[0].outcome[0], DELIVERY_TEMPORARY);
	assert_non_null(strstr(f->results[0].text[0], "TLS required but not offered"));
	assert_int_equal(log_count(f, "MAIL FROM"), 0);
}

static void test_fake_verify(void **state)
{
	struct fixture *f = *state;
	make_cert(f);
	char cert[128], key[128];
	snprintf(cert, sizeof(cert), "%s/cert.pem", f->dir);
	snprintf(key, sizeof(key), "%s/key.pem", f->dir);
	const char *flags[] = { "--starttls", cert, key, NULL };
	start_fake(f, "127.0.0.2", 0, flags);
	relay_to(f, DELIVERY_TLS_VERIFY);
	/* 1: the system trust store does not know our certificate */
	create(f);
	struct delivery_message m = message(plain_msg);
	delivery_submit(f->delivery, &m, result_cb, f);
	run(f, 1, 20);
	assert_int_equal(f->results[0].outcome[0], DELIVERY_TEMPORARY);
	assert_non_null(strstr(f->results[0].text[0], "certificate verif"));
	delivery_free(&f->delivery);
	/* 2: a context that trusts it: verified, host name 127.0.0.2 matches */
	f->ctx = SSL_CTX_new(TLS_client_method());
	assert_int_equal(SSL_CTX_load_verify_locations(f->ctx, cert, NULL), 1);
	f->settings.tls_ctx = f->ctx;
	create(f);
	delivery_submit(f->delivery, &m, result_cb, f);
	run(f, 2, 20);
	assert_int_equal(f->results[1].outcome[0], DELIVERY_DELIVERED);
	/* 3: the right certificate for the wrong name */
	delivery_free(&f->delivery);
	f->relay.host = "::1";
	f->relay.port = f->port;
	create(f);
	delivery_submit(f->delivery, &m, result_cb, f);
	run(f, 3, 20);
	assert_int_equal(f->results[2].outcome[0], DELIVERY_TEMPORARY);
}

static void test_fake_implicit_auth(void **state)
{
	struct fixture *f = *state;
	make_cert(f);
	char cert[128], key[128];
	snprintf(cert, sizeof(cert), "%s/cert.pem", f->dir);
	snprintf(key, sizeof(key), "%s/key.pem", f->dir);
	const char *flags[] = { "--implicit", cert, key, "--auth", "me:secret", NULL };
	start_fake(f, "127.0.0.2", 0, flags);
	relay_to(f, DELIVERY_TLS_IMPLICIT);
	f->relay.username = "me";
	f->relay.password = "secret";
	f->ctx = SSL_CTX_new(TLS_client_method());
	assert_int_equal(SSL_CTX_load_verify_locations(f->ctx, cert, NULL), 1);
	f->settings.tls_ctx = f->ctx;
	create(f);
	struct delivery_message m = message(plain_msg);
	delivery_submit(f->delivery, &m, result_cb, f);
	run(f, 1, 20);
	assert_int_equal(f->results[0].outcome[0], DELIVERY_DELIVERED);
	assert_int_equal(log_count(f, "\"user\": \"me\", \"mech\": \"PLAIN\", \"tls\": true"), 1);
	/* a wrong password: temporary (keep the mail), with the server's reply */
	delivery_free(&f->delivery);
	f->relay.password = "wrong";
	create(f);
	delivery_submit(f->delivery, &m, result_cb, f);
	run(f, 2, 20);
	assert_int_equal(f->results[1].outcome[0], DELIVERY_TEMPORARY);
	assert_string_equal(f->results[1].text[0], "535 5.7.8 bad credentials");
}

static void test_fake_auth_login_starttls(void **state)
{
	struct fixture *f = *state;
	make_cert(f);
	char cert[128], key[128];
	snprintf(cert, sizeof(cert), "%s/cert.pem", f->dir);
	snprintf(key, sizeof(key), "%s/key.pem", f->dir);
	const char *flags[] = { "--starttls", cert, key, "--auth", "me:secret", "--login-only",
		NULL };
	start_fake(f, "127.0.0.2", 0, flags);
	relay_to(f, DELIVERY_TLS_ENCRYPT);
	f->relay.username = "me";
	f->relay.password = "secret";
	create(f);
	struct delivery_message m = message(plain_msg);
	delivery_submit(f->delivery, &m, result_cb, f);
	run(f, 1, 20);
	assert_int_equal(f->results[0].outcome[0], DELIVERY_DELIVERED);
	assert_int_equal(log_count(f, "\"mech\": \"LOGIN\", \"tls\": true"), 1);
	/* no credentials in plaintext: with tls = none the relay is not tried */
	delivery_free(&f->delivery);
	f->relay.tls = DELIVERY_TLS_NONE;
	create(f);
	delivery_submit(f->delivery, &m, result_cb, f);
	run(f, 2, 20);
	assert_int_equal(f->results[1].outcome[0], DELIVERY_TEMPORARY);
	assert_non_null(strstr(f->results[1].text[0], "without TLS"));
	assert_int_equal(log_count(f, "\"event\": \"auth\""), 1);
}

/* two messages, one connection (connection reuse) */
static void test_fake_reuse(void **state)
{
	struct fixture *f = *state;
	const char *flags[] = { "--ext", "PIPELINING", NULL };
	start_fake(f, "127.0.0.2", 0, flags);
	relay_to(f, DELIVERY_TLS_NONE);
	f->settings.max_per_destination = 1;
	create(f);
	struct delivery_message m = message(plain_msg);
	delivery_submit(f->delivery, &m, result_cb, f);
	delivery_submit(f->delivery, &m, result_cb, f);
	run(f, 2, 20);
	assert_int_equal(f->results[0].outcome[0], DELIVERY_DELIVERED);
	assert_int_equal(f->results[1].outcome[0], DELIVERY_DELIVERED);
	/* a third after a pause, still within idle_reuse_seconds */
	settle(f, 300);
	delivery_submit(f->delivery, &m, result_cb, f);
	run(f, 3, 20);
	assert_int_equal(f->results[2].outcome[0], DELIVERY_DELIVERED);
	assert_int_equal(log_count(f, "\"event\": \"connect\""), 1);
	assert_int_equal(log_count(f, "\"event\": \"message\""), 3);
	assert_int_equal(delivery_active(f->delivery), 1); /* the idle one */
	/* after the idle time: QUIT */
	delivery_free(&f->delivery);
	f->settings.idle_reuse_seconds = 1;
	create(f);
	delivery_submit(f->delivery, &m, result_cb, f);
	run(f, 4, 20);
	settle(f, 200);
	int quits = log_count(f, "\"line\": \"QUIT\"");
	settle(f, 1600);
	assert_int_equal(delivery_active(f->delivery), 0);
	assert_int_equal(log_count(f, "\"line\": \"QUIT\""), quits + 1);
}

/* a server that closed the idle connection: the next message reconnects */
static void test_fake_reuse_stale(void **state)
{
	struct fixture *f = *state;
	start_fake(f, "127.0.0.2", 0, NULL);
	relay_to(f, DELIVERY_TLS_NONE);
	f->settings.idle_reuse_seconds = 30;
	create(f);
	struct delivery_message m = message(plain_msg);
	delivery_submit(f->delivery, &m, result_cb, f);
	run(f, 1, 20);
	/* restart the server: the idle connection dies */
	kill(f->procs[--f->nprocs], SIGKILL);
	waitpid(f->procs[f->nprocs], NULL, 0);
	start_fake(f, "127.0.0.2", f->port, NULL);
	delivery_submit(f->delivery, &m, result_cb, f);
	run(f, 2, 20);
	assert_int_equal(f->results[1].outcome[0], DELIVERY_DELIVERED);
}

static void test_fake_concurrency(void **state)
{
	struct fixture *f = *state;
	const char *flags[] = { "--dot-delay", "0.3", NULL };
	start_fake(f, "127.0.0.2", 0, flags);
	relay_to(f, DELIVERY_TLS_NONE);
	f->settings.max_per_destination = 2;
	f->settings.idle_reuse_seconds = 10;
	create(f);
	struct delivery_message m = message(plain_msg);
	for (int i = 0; i < 6; i++)
		delivery_submit(f->delivery, &m, result_cb, f);
	run(f, 6, 30);
	for (int i = 0; i < 6; i++)
		assert_int_equal(f->results[i].outcome[0], DELIVERY_DELIVERED);
	assert_int_equal(log_max_concurrent(f), 2);
	assert_int_equal(log_count(f, "\"event\": \"connect\""), 2);
	/* the global limit */
	delivery_free(&f->delivery);
	unlink(f->log);
	f->settings.max_per_destination = 10;
	f->settings.max_connections = 1;
	create(f);
	f->done = 0;
	for (int i = 0; i < 3; i++)
		delivery_submit(f->delivery, &m, result_cb, f);
	run(f, 3, 30);
	assert_int_equal(log_max_concurrent(f), 1);
}

static void test_free_fails_waiting(void **state)
{
	struct fixture *f = *state;
	start_fake(f, "127.0.0.2", 0, NULL);
	relay_to(f, DELIVERY_TLS_NONE);
	create(f);
	struct delivery_message m = message(plain_msg);
	delivery_submit(f->delivery, &m, result_cb, f);
	delivery_free(&f->delivery);
	assert_int_equal(f->done, 1);
	assert_int_equal(f->results[0].outcome[0], DELIVERY_TEMPORARY);
	assert_non_null(strstr(f->results[0].text[0], "shutting down"));
}

static void test_connect_refused(void **state)
{
	struct fixture *f = *state;
	f->port = free_port("127.0.0.2");
	relay_to(f, DELIVERY_TLS_NONE);
	create(f);
	struct delivery_message m = message(plain_msg);
	delivery_submit(f->delivery, &m, result_cb, f);
	run(f, 1, 20);
	assert_int_equal(f->results[0].outcome[0], DELIVERY_TEMPORARY);
	assert_non_null(strstr(f->results[0].text[0], "refused"));
}

/* ---- MX routing with dnsmasq ----------------------------------------------------------- */

/* start_dns - dnsmasq serving the MX routing zones (tests/unit/dnsmasq-fixture.c,
 * killed with the other processes), and the resolver on it */
static void start_dns(struct fixture *f)
{
	static const char *const records[] = {
		"--local=/test/",
		"--mx-host=example.test,dead.example.test,5",
		"--mx-host=example.test,mx1.example.test,10",
		"--host-record=dead.example.test,127.0.0.3",
		"--host-record=mx1.example.test,127.0.0.2",
		"--mx-host=soft.test,mx1.soft.test,10",
		"--mx-host=soft.test,mx2.soft.test,20",
		"--host-record=mx1.soft.test,127.0.0.4",
		"--host-record=mx2.soft.test,127.0.0.2",
		"--mx-host=nullmx.test,.,0",
		"--mx-host=noaddr.test,nohost.noaddr.test,10",
		NULL,
	};
	char fwd[64];
	pid_t pid;
	unsigned port;
	assert_true(f->nprocs < MAX_PROCS);
	if (test_dnsmasq_start(records, &pid, &port) < 0)
		fail_msg("dnsmasq did not start");
	f->procs[f->nprocs++] = pid;
	snprintf(fwd, sizeof(fwd), "127.0.0.1@%u", port);
	struct dns_settings s = { .forwarder = fwd, .special_zones = "test", .timeout_ms = 3000 };
	const char *error = NULL;
	f->dns = dns_resolver_create(f->base, &s, &error);
	if (!f->dns)
		fail_msg("dns_resolver_create: %s", error);
}

static void test_mx_failover(void **state)
{
	struct fixture *f = *state;
	start_dns(f);
	start_fake(f, "127.0.0.2", 0, NULL);
	f->settings.port = f->port;  /* nothing listens on 127.0.0.3 there */
	create(f);
	struct delivery_message m = message(plain_msg);
	delivery_submit(f->delivery, &m, result_cb, f);
	run(f, 1, 20);
	assert_int_equal(f->results[0].outcome[0], DELIVERY_DELIVERED);
	assert_string_equal(f->results[0].mx_host, "mx1.example.test");
}

/* RFC 5321 5.1: a 4xx to RCPT at the first MX, delivered by the second */
static void test_mx_soft_failover(void **state)
{
	struct fixture *f = *state;
	start_dns(f);
	unsigned port = free_port("127.0.0.2");
	const char *soft[] = { "--reply", "RCPT=451 4.3.0 busy", NULL };
	start_fake(f, "127.0.0.4", port, soft);
	start_fake(f, "127.0.0.2", port, NULL);
	f->settings.port = port;
	create(f);
	struct delivery_message m = message(plain_msg);
	m.domain = "soft.test";
	delivery_submit(f->delivery, &m, result_cb, f);
	run(f, 1, 20);
	assert_int_equal(f->results[0].outcome[0], DELIVERY_DELIVERED);
	assert_string_equal(f->results[0].mx_host, "mx2.soft.test");
	assert_int_equal(log_count(f, "\"event\": \"message\""), 1);
}

static void test_mx_permanent_dns(void **state)
{
	struct fixture *f = *state;
	start_dns(f);
	create(f);
	static const char *const domains[] = { "nxdomain.test", "nullmx.test", "noaddr.test" };
	static const char *const enhanced[] = { "5.1.2", "5.1.10", "5.4.4" };
	static const int codes[] = { 550, 556, 550 };
	for (int i = 0; i < 3; i++) {
		struct delivery_message m = message(plain_msg);
		m.domain = domains[i];
		delivery_submit(f->delivery, &m, result_cb, f);
		run(f, i + 1, 20);
		assert_int_equal(f->results[i].outcome[0], DELIVERY_PERMANENT);
		assert_int_equal(f->results[i].code[0], codes[i]);
		assert_string_equal(f->results[i].enhanced[0], enhanced[i]);
	}
}

static void test_presets(void **state)
{
	(void)state;
	const struct delivery_relay *r = delivery_relay_preset("gmail");
	assert_non_null(r);
	assert_string_equal(r->host, "smtp.gmail.com");
	assert_int_equal(r->port, 587);
	assert_int_equal(r->tls, DELIVERY_TLS_VERIFY);
	r = delivery_relay_preset("Yahoo");
	assert_int_equal(r->port, 465);
	assert_int_equal(r->tls, DELIVERY_TLS_IMPLICIT);
	assert_string_equal(delivery_relay_preset("sendgrid")->username, "apikey");
	static const char *const names[] = { "outlook", "icloud", "aol", "att", "comcast" };
	for (size_t i = 0; i < 5; i++)
		assert_non_null(delivery_relay_preset(names[i]));
	assert_null(delivery_relay_preset("nope"));
	assert_null(delivery_relay_preset(NULL));
}

/* find_sink - scripts/get-postfix-tools.sh into a cache folder */
static void find_sink(void)
{
	static char dir[512];
	char cmd[700];
	const char *cache = getenv("PETREL_POSTFIX_TOOLS");
	snprintf(cmd, sizeof(cmd), "sh %s %s 2>/dev/null", POSTFIX_TOOLS_SCRIPT,
		 cache ? cache : "/tmp/petrel-delivery-pftools");
	FILE *p = popen(cmd, "r");
	if (p && fgets(dir, sizeof(dir), p)) {
		dir[strcspn(dir, "\n")] = '\0';
		char sink[600];
		snprintf(sink, sizeof(sink), "%s/smtp-sink", dir);
		if (access(sink, X_OK) == 0)
			sink_dir = dir;
	}
	if (p)
		pclose(p);
	if (!sink_dir)
		fprintf(stderr, "smtp-sink not available: its tests are skipped\n");
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	log_init("test-delivery", getenv("DELIVERY_TEST_VERBOSE") ? LOG_LEVEL_DEBUG
		 : LOG_LEVEL_ERROR, false);
	find_sink();
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_sink_delivered_dot_stuffing),
		T(test_sink_rcpt_hard),
		T(test_sink_rcpt_soft),
		T(test_sink_data_421),
		T(test_sink_drop_after_dot),
		T(test_sink_large_message),
		T(test_fake_size_refused),
		T(test_fake_smtputf8_missing),
		T(test_fake_mail_params),
		T(test_fake_junk_param),
		T(test_fake_pipelining_mixed),
		T(test_fake_mail_refused),
		T(test_fake_helo_fallback),
		T(test_fake_greeting_refused),
		T(test_fake_starttls_encrypt),
		T(test_fake_starttls_may_plain),
		T(test_fake_tls_required_not_offered),
		T(test_fake_verify),
		T(test_fake_implicit_auth),
		T(test_fake_auth_login_starttls),
		T(test_fake_reuse),
		T(test_fake_reuse_stale),
		T(test_fake_concurrency),
		T(test_free_fails_waiting),
		T(test_connect_refused),
		T(test_mx_failover),
		T(test_mx_soft_failover),
		T(test_mx_permanent_dns),
		cmocka_unit_test(test_presets),
	};
	if (getenv("DELIVERY_TEST_FILTER"))
		cmocka_set_test_filter(getenv("DELIVERY_TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
