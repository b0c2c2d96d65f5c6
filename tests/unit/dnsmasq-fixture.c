/* dnsmasq-fixture - see dnsmasq-fixture.h */
#include "dnsmasq-fixture.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "dns/dns.h"

struct dns_resolver *test_dns_resolver(struct event_base *base, unsigned port,
				       unsigned timeout_ms)
{
	char fwd[64];
	snprintf(fwd, sizeof(fwd), "127.0.0.1@%u", port);
	struct dns_settings settings = { .forwarder = fwd, .special_zones = "test",
					 .timeout_ms = timeout_ms };
	const char *error = NULL;
	struct dns_resolver *r = dns_resolver_create(base, &settings, &error);
	if (r == NULL) {
		fprintf(stderr, "dns_resolver_create: %s\n", error);
		exit(1);
	}
	return r;
}

static void loop_limit_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopbreak(arg);
}

void test_loop_run(struct event_base *base, unsigned ms)
{
	struct event *limit = evtimer_new(base, loop_limit_cb, base);
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	if (limit == NULL || evtimer_add(limit, &tv) != 0) {
		fputs("test_loop_run: no timer\n", stderr);
		exit(1);
	}
	event_base_dispatch(base);
	event_free(limit);
}

unsigned test_free_udp_port(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in sin = { .sin_family = AF_INET };
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof(sin);
	unsigned port = 0;
	if (fd >= 0 && bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sin, &len) == 0)
		port = ntohs(sin.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

/* is_tcp_port_free - nobody holds 127.0.0.1:PORT for TCP right now (dnsmasq
 * binds both UDP and TCP on its port and exits if either is taken) */
static bool is_tcp_port_free(unsigned port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bool ok = fd >= 0 && bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

/* is_port_bound - true once something (dnsmasq) holds 127.0.0.1:PORT */
static bool is_port_bound(unsigned port)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int ret = bind(fd, (struct sockaddr *)&sin, sizeof(sin));
	int err = errno;
	close(fd);
	return ret < 0 && err == EADDRINUSE;
}

/* dnsmasq_try - start dnsmasq on PORT; 0 once it listens (*PID_R), 1 if it
 * exited at once (its port taken since we looked: worth another port), -1
 * if it did not listen within 20 s.  Its own messages go to stderr, so a
 * failure says why. */
static int dnsmasq_try(const char *const *records, unsigned port, pid_t *pid_r)
{
	static const char *const common[] = {
		"dnsmasq", "-k", "--listen-address=127.0.0.1", "--bind-interfaces",
		"--no-resolv", "--no-hosts", "--user=root", "--pid-file=", "--log-facility=-",
	};
	const size_t ncommon = sizeof(common) / sizeof(common[0]);
	char port_arg[32];
	const char *argv[64];
	size_t n = 0;
	snprintf(port_arg, sizeof(port_arg), "--port=%u", port);
	for (size_t i = 0; i < ncommon; i++)
		argv[n++] = common[i];
	argv[n++] = port_arg;
	for (size_t i = 0; records[i] && n < sizeof(argv) / sizeof(argv[0]) - 1; i++)
		argv[n++] = records[i];
	argv[n] = NULL;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		/* its messages (a few lines at start, errors) go to stderr */
		int null = open("/dev/null", O_RDWR);
		dup2(null, 1);
		execvp("dnsmasq", (char *const *)argv);
		_exit(127);
	}
	for (int i = 0; i < 2000; i++) {     /* at most 20 s: a loaded machine */
		if (is_port_bound(port)) {
			*pid_r = pid;
			return 0;
		}
		int status;
		if (waitpid(pid, &status, WNOHANG) == pid)
			return 1;
		usleep(10000);
	}
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	return -1;
}

int test_dnsmasq_start(const char *const *records, pid_t *pid_r, unsigned *port_r)
{
	for (int attempt = 0; attempt < 5; attempt++) {
		unsigned port = test_free_udp_port();
		if (port == 0 || !is_tcp_port_free(port))
			continue;
		int rc = dnsmasq_try(records, port, pid_r);
		if (rc == 0) {
			*port_r = port;
			return 0;
		}
		if (rc < 0)
			break;
	}
	fprintf(stderr, "dnsmasq did not start\n");
	return -1;
}
