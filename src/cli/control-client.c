/* cli/control-client - one exchange with a running server over its control
 * socket (queue/control.h): `petrel queue flush|hold|...` and `petrel keys`. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli/cli.h"
#include "queue/control.h"
#include "util/buf.h"

/* How long to wait for the server's answer: flushing or bouncing a large
 * queue can take a while, a dead server must not hang the command. */
#define CLI_CONTROL_REPLY_TIMEOUT 120

int cli_control_answer(const char *reply, const char *notfound_text)
{
	const char *line = reply;
	for (;;) {
		const char *lf = strchr(line, '\n');
		if (!lf)
			break;
		if (strncmp(line, "data ", 5) == 0) {
			printf("%.*s\n", (int)(lf - line - 5), line + 5);
			line = lf + 1;
			continue;
		}
		int len = (int)(lf - line);
		if (strncmp(line, "ok ", 3) == 0) {
			if (len > 3)
				printf("%.*s\n", len - 3, line + 3);
			return 0;
		}
		if (strncmp(line, "notfound ", 9) == 0) {
			if (notfound_text)
				fprintf(stderr, "petrel: not found: %s\n", notfound_text);
			else
				fprintf(stderr, "petrel: not found: %.*s\n", len - 9, line + 9);
			return 1;
		}
		if (strncmp(line, "error ", 6) == 0) {
			fprintf(stderr, "petrel: %.*s\n", len - 6, line + 6);
			return 1;
		}
		break;
	}
	if (line == reply && !strchr(reply, '\n'))
		fputs("petrel: the server closed the control connection without an answer\n",
		      stderr);
	else
		fputs("petrel: malformed answer from the server\n", stderr);
	return 1;
}

int cli_control_request(const char *data_dir, const char *request, const char *notfound_text)
{
	struct buf reply;
	buf_init(&reply);
	int rc = cli_control_exchange(data_dir, request, &reply);
	if (rc == 0)
		rc = cli_control_answer(reply.len ? reply.data : "", notfound_text);
	buf_free(&reply);
	return rc;
}

int cli_control_exchange(const char *data_dir, const char *request, struct buf *reply)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char line[CONTROL_LINE_MAX + 1];
	int rc = 1;
	int n = snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/%s", data_dir,
			 CONTROL_SOCKET_NAME);
	if (n < 0 || (size_t)n >= sizeof(sun.sun_path)) {
		fprintf(stderr, "petrel: the control socket path %s/%s is too long\n", data_dir,
			CONTROL_SOCKET_NAME);
		return 1;
	}
	n = snprintf(line, sizeof(line), "%s\n", request);
	if (n < 0 || (size_t)n > CONTROL_LINE_MAX) {
		fputs("petrel: request too long\n", stderr);
		return 1;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fprintf(stderr, "petrel: socket: %s\n", strerror(errno));
		return 1;
	}
	/* SO_SNDTIMEO bounds connect() too, while the server's clients are all busy */
	struct timeval tv = { .tv_sec = CLI_CONTROL_REPLY_TIMEOUT, .tv_usec = 0 };
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0) {
		fprintf(stderr, "petrel: setsockopt: %s\n", strerror(errno));
		goto out;
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		if (errno == EACCES || errno == EPERM)
			fprintf(stderr, "petrel: permission denied on %s (run as root or the "
				"server's user)\n", sun.sun_path);
		else if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ETIMEDOUT)
			fprintf(stderr, "petrel: the server is busy (no answer on %s)\n",
				sun.sun_path);
		else
			fprintf(stderr, "petrel: the server is not running (cannot connect to %s: "
				"%s)\n", sun.sun_path, strerror(errno));
		goto out;
	}
	if (send(fd, line, (size_t)n, MSG_NOSIGNAL) != n) {
		int err = errno;
		/* a server that refuses us answers and closes at once: its one
		 * line, if it came, says why better than EPIPE does */
		if (err != EPIPE && err != ECONNRESET) {
			fprintf(stderr, "petrel: cannot send to %s: %s\n", sun.sun_path,
				strerror(err));
			goto out;
		}
	}
	/* until EOF: the server closes after its status line */
	while (reply->len <= CONTROL_OUTPUT_MAX + CONTROL_LINE_MAX + 1024) {
		char chunk[4096];
		ssize_t r = recv(fd, chunk, sizeof(chunk), 0);
		if (r < 0 && errno == EINTR)
			continue;
		/* a server that refuses us closes with our request unread: the
		 * kernel then reports a reset, after its one line or instead of
		 * it; what came is the answer (none: "no answer") */
		if (r < 0 && errno == ECONNRESET)
			break;
		if (r < 0) {
			fprintf(stderr, "petrel: no answer from the server: %s\n",
				errno == EAGAIN ? "timed out" : strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		buf_append(reply, chunk, (size_t)r);
	}
	rc = 0;
out:
	if (close(fd) != 0 && rc == 0) {
		fprintf(stderr, "petrel: close: %s\n", strerror(errno));
		rc = 1;
	}
	return rc;
}
