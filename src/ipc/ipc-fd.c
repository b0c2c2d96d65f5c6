/* ipc/ipc-fd - descriptor passing over a unix socket (SCM_RIGHTS, unix(7)):
 * how the supervisor hands the network process the end of a fresh socket
 * pair when it restarts a helper.  Each message is one tag byte with exactly
 * one descriptor; reading one byte per recvmsg keeps messages apart on a
 * stream socket (the kernel never joins data across two SCM_RIGHTS).
 */
#include "ipc/ipc.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* room for a few descriptors, so that a message carrying more than one is
 * received whole and all of them closed, rather than cut (MSG_CTRUNC) */
#define IPC_FD_RECV_ROOM 8

int ipc_fd_send(int sock, uint8_t tag, int fd)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} control;
	struct iovec iov = { .iov_base = &tag, .iov_len = 1 };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = control.buf, .msg_controllen = sizeof(control.buf),
	};
	memset(&control, 0, sizeof(control));
	struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
	cmsg->cmsg_level = SOL_SOCKET;
	cmsg->cmsg_type = SCM_RIGHTS;
	cmsg->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));

	for (;;) {
		ssize_t n = sendmsg(sock, &msg, MSG_NOSIGNAL);
		if (n == 1)
			return 0;
		if (n >= 0) {
			errno = EIO;
			return -1;
		}
		if (errno != EINTR)
			return -1;
	}
}

int ipc_fd_recv(int sock, uint8_t *tag_r, int *fd_r)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * IPC_FD_RECV_ROOM)];
	} control;
	uint8_t tag = 0;
	struct iovec iov = { .iov_base = &tag, .iov_len = 1 };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = control.buf, .msg_controllen = sizeof(control.buf),
	};
	ssize_t n;
	memset(&control, 0, sizeof(control));
	do {
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -1;

	int fds[IPC_FD_RECV_ROOM];
	size_t nfds = 0;
	bool unexpected = (msg.msg_flags & (MSG_CTRUNC | MSG_TRUNC)) != 0;
	for (struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg); cmsg; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
		if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS ||
		    cmsg->cmsg_len < CMSG_LEN(0)) {
			unexpected = true;
			continue;
		}
		size_t k = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		/* the buffer holds at most IPC_FD_RECV_ROOM: all of them fit */
		for (size_t i = 0; i < k && nfds < IPC_FD_RECV_ROOM; i++)
			memcpy(&fds[nfds++], CMSG_DATA(cmsg) + i * sizeof(int), sizeof(int));
	}
	if (n == 0 && nfds == 0 && !unexpected)
		return 1;
	if (n != 1 || nfds != 1 || unexpected) {
		/* a failed close of a descriptor we never used changes nothing */
		for (size_t i = 0; i < nfds; i++)
			(void)close(fds[i]);
		errno = EPROTO;
		return -1;
	}
	*tag_r = tag;
	*fd_r = fds[0];
	return 0;
}
