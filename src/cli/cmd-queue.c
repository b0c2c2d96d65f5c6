/* cli/cmd-queue - petrel queue: list|show read the spool of a data folder
 * directly (server running or not); flush|hold|release|delete|bounce ask the
 * running server over its control socket (queue/control.h). */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli/cli.h"
#include "config/config.h"
#include "queue/control.h"
#include "queue/queue.h"

/* How long to wait for the server's answer: flushing or bouncing a large
 * queue can take a while, a dead server must not hang the command. */
#define QUEUE_CONTROL_REPLY_TIMEOUT 120

static int queue_usage(void);
static bool queue_action_is_op(const char *action, bool *id_optional_r);
static int queue_control_request(const char *data_dir, const char *action, const char *id);

static int queue_usage(void)
{
	fputs("usage: petrel queue list [-c FILE] [--json]\n"
	      "       petrel queue show ID [-c FILE] [--json]\n"
	      "       petrel queue flush [ID] [-c FILE]\n"
	      "       petrel queue hold|release|delete|bounce ID [-c FILE]\n", stderr);
	return 2;
}

/* queue_action_is_op - one of the operations the running server performs */
static bool queue_action_is_op(const char *action, bool *id_optional_r)
{
	static const char *const ops[] = { "hold", "release", "delete", "bounce" };
	*id_optional_r = strcmp(action, "flush") == 0;
	if (*id_optional_r)
		return true;
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (strcmp(action, ops[i]) == 0)
			return true;
	return false;
}

/* queue_control_request - one exchange on DATA_DIR/control.sock; the exit
 * status: 0 ok, 1 not found, failed, or no server */
static int queue_control_request(const char *data_dir, const char *action, const char *id)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char request[CONTROL_LINE_MAX + 1], reply[1024];
	int rc = 1;
	int n = snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/%s", data_dir,
			 CONTROL_SOCKET_NAME);
	if (n < 0 || (size_t)n >= sizeof(sun.sun_path)) {
		fprintf(stderr, "petrel: the control socket path %s/%s is too long\n", data_dir,
			CONTROL_SOCKET_NAME);
		return 1;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fprintf(stderr, "petrel: socket: %s\n", strerror(errno));
		return 1;
	}
	/* SO_SNDTIMEO bounds connect() too, while the server's clients are all busy */
	struct timeval tv = { .tv_sec = QUEUE_CONTROL_REPLY_TIMEOUT, .tv_usec = 0 };
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
	n = snprintf(request, sizeof(request), "%s%s%s\n", action, id ? " " : "", id ? id : "");
	if (n < 0 || (size_t)n > CONTROL_LINE_MAX) {
		fputs("petrel: request too long\n", stderr);
		goto out;
	}
	if (send(fd, request, (size_t)n, MSG_NOSIGNAL) != n) {
		int err = errno;
		/* a server that refuses us answers and closes at once: its one
		 * line, if it came, says why better than EPIPE does */
		if (err != EPIPE && err != ECONNRESET) {
			fprintf(stderr, "petrel: cannot send to %s: %s\n", sun.sun_path,
				strerror(err));
			goto out;
		}
	}
	size_t len = 0;
	while (len < sizeof(reply) - 1 && !memchr(reply, '\n', len)) {
		ssize_t r = recv(fd, reply + len, sizeof(reply) - 1 - len, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == ECONNRESET && len == 0)
			break;  /* refused before our request was read: no answer */
		if (r < 0) {
			fprintf(stderr, "petrel: no answer from the server: %s\n",
				errno == EAGAIN ? "timed out" : strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	reply[len] = '\0';
	char *lf = strchr(reply, '\n');
	if (!lf) {
		fputs("petrel: the server closed the control connection without an answer\n",
		      stderr);
		goto out;
	}
	*lf = '\0';
	if (strncmp(reply, "ok ", 3) == 0) {
		printf("%s\n", reply + 3);
		rc = 0;
	} else if (strncmp(reply, "notfound ", 9) == 0) {
		if (id)  /* worded as `queue show` words it */
			fprintf(stderr, "petrel: not found: no message %s in the queue\n", id);
		else
			fprintf(stderr, "petrel: not found: %s\n", reply + 9);
	} else if (strncmp(reply, "error ", 6) == 0) {
		fprintf(stderr, "petrel: %s\n", reply + 6);
	} else {
		fputs("petrel: malformed answer from the server\n", stderr);
	}
out:
	if (close(fd) != 0 && rc == 0) {
		fprintf(stderr, "petrel: close: %s\n", strerror(errno));
		rc = 1;
	}
	return rc;
}

int cmd_queue(int argc, char **argv)
{
	const char *file = CLI_DEFAULT_CONFIG;
	const char *action = NULL;
	const char *id = NULL;
	bool json = false;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			file = argv[++i];
		else if (strcmp(argv[i], "--json") == 0)
			json = true;
		else if (argv[i][0] == '-')
			return queue_usage();
		else if (!action)
			action = argv[i];
		else if (!id)
			id = argv[i];
		else
			return queue_usage();
	}
	if (!action)
		return queue_usage();
	bool is_list = strcmp(action, "list") == 0;
	bool is_show = strcmp(action, "show") == 0;
	bool id_optional = false;
	bool is_op = queue_action_is_op(action, &id_optional);
	if ((!is_list && !is_show && !is_op) || (is_list && id) || (is_show && !id) ||
	    (is_op && !id && !id_optional) || (is_op && json))
		return queue_usage();
	char id_upper[QUEUE_ID_LEN + 1];
	if (id && strlen(id) == QUEUE_ID_LEN) {
		/* IDs are shown upper-case; accept them typed in either case */
		for (size_t i = 0; i <= QUEUE_ID_LEN; i++)
			id_upper[i] = (char)toupper((unsigned char)id[i]);
		id = id_upper;
	}
	if (id && !queue_id_is_valid(id)) {
		fprintf(stderr, "petrel: bad queue ID '%s' (16 upper-case hexadecimal digits)\n", id);
		return 2;
	}

	const char *error = NULL;
	struct config *config = config_load(file, &error);
	if (!config) {
		fprintf(stderr, "petrel: %s\n", error);
		return 2;
	}
	int rc;
	if (is_op) {
		rc = queue_control_request(config->data_dir, action, id);
	} else if (is_list) {
		rc = queue_list_print(config->data_dir, json, &error);
	} else {
		rc = queue_show_print(config->data_dir, id, json, &error);
		if (rc == 1)
			fprintf(stderr, "petrel: not found: no message %s in the queue\n", id);
	}
	if (rc < 0)
		fprintf(stderr, "petrel: %s\n", error);
	config_free(&config);
	return rc == 0 ? 0 : 1;
}
