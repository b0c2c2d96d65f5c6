/* privsep/channels - the network process's side of the supervisor's
 * channel (fd 3): the first channels to the auth and keys processes are
 * fds 4 and 5; when the supervisor restarts a helper, the new channel's end
 * arrives on fd 3 with its tag (ipc_fd_send) and replaces the old one in its
 * ipc_client.  Calls pending on the old channel get no answer (ipc.h), so a
 * session mid-AUTH gets 454, never a wrong answer.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "ipc/ipc.h"
#include "privsep/privsep.h"
#include "util/log.h"
#include "util/xalloc.h"

struct privsep_channels {
	struct event *control;
	struct ipc_client *auth, *keys;
};

static void channels_control_cb(evutil_socket_t fd, short what, void *arg);

struct privsep_channels *privsep_channels_open(struct event_base *base, struct ipc_client *auth,
					       struct ipc_client *keys, const char **error_r)
{
	static const int fds[] = { PRIVSEP_FD_CONTROL, PRIVSEP_FD_AUTH, PRIVSEP_FD_KEYS };
	struct privsep_channels *ch;

	/* whatever this process may ever start gets none of them */
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		if (fcntl(fds[i], F_SETFD, FD_CLOEXEC) != 0) {
			*error_r = "the supervisor's descriptors 3, 4 and 5 are not open";
			return NULL;
		}
	}
	ch = xcalloc(1, sizeof(*ch));
	ch->auth = auth;
	ch->keys = keys;
	ch->control = event_new(base, PRIVSEP_FD_CONTROL, EV_READ | EV_PERSIST,
				channels_control_cb, ch);
	if (ch->control == NULL || event_add(ch->control, NULL) != 0) {
		if (ch->control != NULL)
			event_free(ch->control);
		free(ch);
		*error_r = "cannot watch the supervisor's channel";
		return NULL;
	}
	ipc_client_set_fd(auth, PRIVSEP_FD_AUTH);
	ipc_client_set_fd(keys, PRIVSEP_FD_KEYS);
	log_info("helper-connected", "process=auth first=yes");
	log_info("helper-connected", "process=keys first=yes");
	return ch;
}

/* channels_control_cb - a restarted helper's channel, or the supervisor
 * gone (it takes this process along: PR_SET_PDEATHSIG) */
static void channels_control_cb(evutil_socket_t fd, short what, void *arg)
{
	struct privsep_channels *ch = arg;
	uint8_t tag;
	int channel;

	(void)what;
	int ret = ipc_fd_recv(fd, &tag, &channel);
	if (ret == 1) {
		log_error("supervisor-gone", "reason=\"its channel reached EOF\"");
		(void)event_del(ch->control);
		return;
	}
	if (ret < 0) {
		/* a message without exactly one descriptor is dropped whole by
		 * ipc_fd_recv; only a broken socket ends the watch */
		int err = errno;
		log_error("control-channel-failed", "error=\"%s\"", strerror(err));
		if (err == EBADF || err == ENOTSOCK || err == ECONNRESET || err == ENOTCONN)
			(void)event_del(ch->control);
		return;
	}
	if (tag == PRIVSEP_TAG_AUTH || tag == PRIVSEP_TAG_KEYS) {
		const char *name = tag == PRIVSEP_TAG_AUTH ? "auth" : "keys";
		ipc_client_set_fd(tag == PRIVSEP_TAG_AUTH ? ch->auth : ch->keys, channel);
		log_info("helper-connected", "process=%s first=no", name);
		return;
	}
	log_error("control-channel-failed", "error=\"unknown tag %u\"", (unsigned)tag);
	if (close(channel) != 0)
		log_warn("close-failed", "what=channel error=\"%s\"", strerror(errno));
}

void privsep_channels_free(struct privsep_channels **channels)
{
	struct privsep_channels *ch = *channels;

	if (ch == NULL)
		return;
	*channels = NULL;
	event_free(ch->control);
	if (close(PRIVSEP_FD_CONTROL) != 0)
		log_warn("close-failed", "what=control-channel error=\"%s\"", strerror(errno));
	free(ch);
}
