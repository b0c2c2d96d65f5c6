/* dnsmasq-fixture - see dnsmasq-fixture.h */
#include "dnsmasq-fixture.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

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

int test_dnsmasq_start(const char *const *records, pid_t *pid_r, unsigned *port_r)
{
	static const char *const common[] = {
		"dnsmasq", "-k", "--listen-address=127.0.0.1", "--bind-interfaces",
		"--no-resolv", "--no-hosts", "--user=root", "--pid-file=", "--log-facility=-",
	};
	const size_t ncommon = sizeof(common) / sizeof(common[0]);
	char port_arg[32];
	const char *argv[64];
	size_t n = 0;
	unsigned port = test_free_udp_port();
	if (port == 0) {
		fprintf(stderr, "no free UDP port for dnsmasq\n");
		return -1;
	}
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
		int null = open("/dev/null", O_RDWR);
		dup2(null, 1);
		dup2(null, 2);
		execvp("dnsmasq", (char *const *)argv);
		_exit(127);
	}
	for (int i = 0; i < 500; i++) {     /* at most 5 s */
		if (is_port_bound(port)) {
			*pid_r = pid;
			*port_r = port;
			return 0;
		}
		int status;
		if (waitpid(pid, &status, WNOHANG) == pid)
			break;
		usleep(10000);
	}
	fprintf(stderr, "dnsmasq did not start\n");
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	return -1;
}
