/* tests/unit/ipc/test-fd - descriptor passing (SCM_RIGHTS): a pipe's write
 * end crosses a socket pair and works on the other side (with O_CLOEXEC);
 * EOF; and messages without exactly one descriptor, or with anything else
 * in their control data, are refused with every descriptor they carried
 * closed (the pipe then reads EOF: no copy of its write end is left). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ipc/ipc.h"

/* send_raw - one byte with NFDS copies of FD (0: none) */
static void send_raw(int sock, int fd, int nfds)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * 4)];
	} control;
	char byte = 'x';
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	memset(&control, 0, sizeof(control));
	if (nfds > 0) {
		int fds[4] = { fd, fd, fd, fd };
		msg.msg_control = control.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		cmsg->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(cmsg), fds, sizeof(int) * (size_t)nfds);
	}
	assert_int_equal(sendmsg(sock, &msg, 0), 1);
}

static void test_pass_pipe(void **state)
{
	int sv[2], p[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(ipc_fd_send(sv[0], 'a', p[1]), 0);
	assert_int_equal(ipc_fd_send(sv[0], 'k', p[1]), 0);
	assert_int_equal(close(p[1]), 0);

	uint8_t tag = 0;
	int fd = -1, fd2 = -1;
	assert_int_equal(ipc_fd_recv(sv[1], &tag, &fd), 0);
	assert_int_equal(tag, 'a');
	assert_true(fd >= 0);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	/* the second message stays apart from the first */
	assert_int_equal(ipc_fd_recv(sv[1], &tag, &fd2), 0);
	assert_int_equal(tag, 'k');
	assert_int_not_equal(fd2, fd);
	assert_int_equal(close(fd2), 0);

	assert_int_equal(write(fd, "hello", 5), 5);
	char buf[8];
	assert_int_equal(read(p[0], buf, sizeof(buf)), 5);
	assert_memory_equal(buf, "hello", 5);
	assert_int_equal(close(fd), 0);
	/* every write end closed: EOF */
	assert_int_equal(read(p[0], buf, sizeof(buf)), 0);

	assert_int_equal(close(sv[0]), 0);
	assert_int_equal(ipc_fd_recv(sv[1], &tag, &fd), 1);
	assert_int_equal(close(sv[1]), 0);
	assert_int_equal(close(p[0]), 0);
}

/* refused: no descriptor, two, three; and SCM_CREDENTIALS next to one */
static void test_refused(void **state)
{
	static const struct { int nfds; bool passcred; } cases[] = {
		{ 0, false }, { 2, false }, { 3, false }, { 1, true },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int sv[2], p[2];
		print_message("%d descriptors%s\n", cases[i].nfds,
			      cases[i].passcred ? " and credentials" : "");
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
		assert_int_equal(pipe2(p, O_CLOEXEC), 0);
		if (cases[i].passcred) {
			int on = 1;
			assert_int_equal(setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &on,
						    sizeof(on)), 0);
		}
		send_raw(sv[0], p[1], cases[i].nfds);
		assert_int_equal(close(p[1]), 0);
		uint8_t tag = 0;
		int fd = -1;
		errno = 0;
		assert_int_equal(ipc_fd_recv(sv[1], &tag, &fd), -1);
		assert_int_equal(errno, EPROTO);
		assert_int_equal(fd, -1);
		/* no copy of the write end survived: EOF (not EAGAIN) */
		char c;
		assert_int_equal(fcntl(p[0], F_SETFL, O_NONBLOCK), 0);
		assert_int_equal(read(p[0], &c, 1), 0);
		assert_int_equal(close(p[0]), 0);
		assert_int_equal(close(sv[0]), 0);
		assert_int_equal(close(sv[1]), 0);
	}
}

/* nothing to read on a non-blocking socket: -1 with EAGAIN, not EOF */
static void test_nothing_yet(void **state)
{
	int sv[2];
	uint8_t tag;
	int fd;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	errno = 0;
	assert_int_equal(ipc_fd_recv(sv[1], &tag, &fd), -1);
	assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
	assert_int_equal(close(sv[0]), 0);
	assert_int_equal(close(sv[1]), 0);
}

/* a peer that does not read: on a non-blocking socket the sender gets -1
 * (EAGAIN, or ETOOMANYREFS past the descriptors in flight a user may have)
 * once the queue is full, and is never blocked: the supervisor sends on its
 * loop to the network process, which need not read */
static void test_send_peer_not_reading(void **state)
{
	int sv[2], p[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv),
			 0);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	/* a blocked send would end the test here instead of failing it forever */
	alarm(30);
	int rc = 0;
	long sent = 0;
	while (sent < 1000000 && (rc = ipc_fd_send(sv[0], 'a', p[1])) == 0)
		sent++;
	alarm(0);
	assert_int_equal(rc, -1);
	assert_true(errno == EAGAIN || errno == EWOULDBLOCK || errno == ETOOMANYREFS);
	assert_true(sent > 0);
	/* what was queued still arrives whole */
	uint8_t tag = 0;
	int fd = -1;
	assert_int_equal(ipc_fd_recv(sv[1], &tag, &fd), 0);
	assert_int_equal(tag, 'a');
	assert_int_equal(close(fd), 0);
	assert_int_equal(close(sv[0]), 0);
	assert_int_equal(close(sv[1]), 0);
	assert_int_equal(close(p[0]), 0);
	assert_int_equal(close(p[1]), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pass_pipe),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_nothing_yet),
		cmocka_unit_test(test_send_peer_not_reading),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
