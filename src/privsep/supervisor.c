/* privsep/supervisor - petrel serve's first process: it starts the auth, keys
 * and network processes, restarts a helper that dies, and stops them all on
 * SIGTERM or SIGINT (docs/security.md, "Processes").
 *
 * Each process is a fork and exec of the supervisor's own executable (the
 * file /proc/self/exe names, opened at start: fexecve) with the hidden
 * arguments `serve -c FILE --process ROLE`: a fresh address space per
 * process, nothing of the supervisor's memory left in it.  (Opened, not
 * named at exec: under valgrind /proc/self/exe is valgrind's own tool,
 * where opening it gives the program valgrind runs.)  The descriptors a
 * process gets are fixed (privsep.h); every other one is closed before exec.
 * Each re-reads the configuration as root, opens what it needs, then gives
 * up its privileges (privsep_drop).
 *
 * The supervisor stays root when started as root.  It is single threaded,
 * its libevent loop sees only signals and timers (SIGCHLD included, so child
 * exits are reaped on the loop, never in a signal handler), and it logs
 * synchronously: it logs rarely, and a log thread would be one more thread
 * across fork.
 *
 * A helper that dies is started again after a delay: 0.1 s, doubling up to
 * 5 s while it keeps dying within 10 s of its start.  Its new channel's
 * other end goes to the network process over the control channel
 * (ipc_fd_send); until it arrives, the network process's calls get no answer
 * (454 for AUTH), never a wrong one.  The network process is never
 * restarted: when it ends, everything ends.
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "config/config.h"
#include "ipc/ipc.h"
#include "privsep/privsep.h"
#include "util/log.h"

#define SUPERVISOR_BACKOFF_MIN_MS 100
#define SUPERVISOR_BACKOFF_MAX_MS 5000
/* a helper that ran this long before dying is restarted after the minimum */
#define SUPERVISOR_STABLE_MS 10000
/* after SIGTERM, how long the helpers have before SIGKILL */
#define SUPERVISOR_STOP_WAIT_MS 5000
/* where the descriptors move before they take their fixed numbers */
#define SUPERVISOR_FD_SCRATCH 10

enum supervisor_slot { SLOT_NETWORK, SLOT_AUTH, SLOT_KEYS, SLOT_COUNT };

struct supervisor;

struct supervisor_child {
	struct supervisor *sv;
	enum privsep_role role;
	pid_t pid;                /* 0: not running */
	struct timespec started;  /* CLOCK_MONOTONIC */
	unsigned backoff_ms;      /* the delay of the last restart; 0 = none yet */
	struct event *restart;    /* timer of the next start */
};

struct supervisor {
	struct event_base *base;
	const struct config *config;
	const char *config_file;
	int lock_fd;
	int exe_fd;               /* the executable, for fexecve; -1: exec by its name */
	int control_fd;           /* our end of the network process's fd 3; -1 */
	struct supervisor_child child[SLOT_COUNT];
	struct event *sigchld, *sigterm, *sigint, *stop_timer;
	bool network_gone;        /* exited, or never started */
	bool signalled;           /* SIGTERM or SIGINT came */
	int status;               /* exit status of petrel serve */
};


static int supervisor_setup(struct supervisor *sv);
static void supervisor_start_all(struct supervisor *sv);
static int supervisor_spawn(struct supervisor *sv, struct supervisor_child *child,
			    const int *fds, int nfds);
static void supervisor_exec(const char *config_file, enum privsep_role role, int exe_fd,
			    const int *fds, int nfds) __attribute__((noreturn));
static void supervisor_close_from(int first, int keep);
static const char *supervisor_user(const struct supervisor *sv, enum privsep_role role,
				   char *buf, size_t size);
static void supervisor_sigchld_cb(evutil_socket_t sig, short what, void *arg);
static void supervisor_signal_cb(evutil_socket_t sig, short what, void *arg);
static void supervisor_network_exited(struct supervisor *sv, int status);
static void supervisor_helper_exited(struct supervisor_child *child, int status);
static void supervisor_schedule(struct supervisor_child *child, unsigned delay_ms);
static void supervisor_restart_cb(evutil_socket_t fd, short what, void *arg);
static int supervisor_helper_start(struct supervisor_child *child, int *network_end_r);
static void supervisor_stop_helpers(struct supervisor *sv);
static void supervisor_stop_timeout_cb(evutil_socket_t fd, short what, void *arg);
static bool supervisor_is_done(const struct supervisor *sv);
static void supervisor_check_done(struct supervisor *sv);
static const char *supervisor_status_text(int status, char *buf, size_t size);
static void supervisor_close(int *fd);
static void supervisor_free(struct supervisor *sv);

int privsep_supervise(const struct config *config, const char *config_file, int lock_fd)
{
	struct supervisor sv = {
		.config = config, .config_file = config_file, .lock_fd = lock_fd,
		.exe_fd = -1, .control_fd = -1, .status = 1,
	};

	if (supervisor_setup(&sv) != 0) {
		supervisor_free(&sv);
		return 1;
	}
	supervisor_start_all(&sv);
	/* (a loopbreak before the loop runs would be forgotten) */
	if (!supervisor_is_done(&sv) && event_base_dispatch(sv.base) < 0) {
		log_error("supervisor-failed", "error=\"event loop failed\"");
		sv.status = 1;
	}
	supervisor_free(&sv);
	return sv.status;
}

/* supervisor_setup - the loop, its signals and timers, and the environment
 * that tells the children who their supervisor is */
static int supervisor_setup(struct supervisor *sv)
{
	char pid[24];

	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	if (setenv(PRIVSEP_SUPERVISOR_ENV, pid, 1) != 0) {
		fprintf(stderr, "petrel: setenv: %s\n", strerror(errno));
		return -1;
	}
	/* what every child runs: this very file, even once an upgrade has put
	 * another at its path (unreadable: exec by the name /proc/self/exe) */
	sv->exe_fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	sv->base = event_base_new();
	if (sv->base == NULL) {
		fputs("petrel: cannot create the event loop\n", stderr);
		return -1;
	}
	for (int i = 0; i < SLOT_COUNT; i++) {
		struct supervisor_child *child = &sv->child[i];
		child->sv = sv;
		child->role = i == SLOT_NETWORK ? PRIVSEP_NETWORK :
			i == SLOT_AUTH ? PRIVSEP_AUTH : PRIVSEP_KEYS;
		child->restart = evtimer_new(sv->base, supervisor_restart_cb, child);
		if (child->restart == NULL)
			goto fail;
	}
	sv->stop_timer = evtimer_new(sv->base, supervisor_stop_timeout_cb, sv);
	sv->sigchld = evsignal_new(sv->base, SIGCHLD, supervisor_sigchld_cb, sv);
	sv->sigterm = evsignal_new(sv->base, SIGTERM, supervisor_signal_cb, sv);
	sv->sigint = evsignal_new(sv->base, SIGINT, supervisor_signal_cb, sv);
	/* SIGCHLD is watched before the first fork: no exit goes unseen */
	if (sv->stop_timer == NULL || sv->sigchld == NULL || sv->sigterm == NULL ||
	    sv->sigint == NULL || event_add(sv->sigchld, NULL) != 0 ||
	    event_add(sv->sigterm, NULL) != 0 || event_add(sv->sigint, NULL) != 0)
		goto fail;
	return 0;
fail:
	fputs("petrel: cannot set up the supervisor's signals and timers\n", stderr);
	return -1;
}

/* supervisor_start_all - the helpers first, then the network process with
 * its ends of their channels.  A helper that cannot be started is retried
 * as if it had died; a network process that cannot be started ends it all. */
static void supervisor_start_all(struct supervisor *sv)
{
	int control[2] = { -1, -1 };
	int ends[SLOT_COUNT] = { -1, -1, -1 };

	for (int i = SLOT_AUTH; i <= SLOT_KEYS; i++) {
		if (supervisor_helper_start(&sv->child[i], &ends[i]) != 0)
			supervisor_schedule(&sv->child[i], SUPERVISOR_BACKOFF_MIN_MS);
	}
	/* our end non-blocking: a network process that does not read its
	 * channels must not stop the supervisor's loop (supervisor_restart_cb) */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, control) != 0 ||
	    fcntl(control[0], F_SETFL, O_NONBLOCK) != 0) {
		log_error("spawn-failed", "process=network error=\"control channel: %s\"",
			  strerror(errno));
	} else {
		/* a helper that failed to start: an end without a peer (EOF at
		 * once, so calls get no answer) keeps fd 4 or 5 in its place
		 * until the restarted helper's channel comes */
		for (int i = SLOT_AUTH; i <= SLOT_KEYS; i++) {
			int pair[2];
			if (ends[i] < 0 &&
			    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) == 0) {
				ends[i] = pair[0];
				supervisor_close(&pair[1]);
			}
		}
		int fds[4] = { control[1], ends[SLOT_AUTH], ends[SLOT_KEYS], sv->lock_fd };
		if (ends[SLOT_AUTH] >= 0 && ends[SLOT_KEYS] >= 0 &&
		    supervisor_spawn(sv, &sv->child[SLOT_NETWORK], fds, 4) == 0) {
			sv->control_fd = control[0];
			control[0] = -1;
		}
	}
	supervisor_close(&control[0]);
	supervisor_close(&control[1]);
	for (int i = SLOT_AUTH; i <= SLOT_KEYS; i++)
		supervisor_close(&ends[i]);
	if (sv->child[SLOT_NETWORK].pid == 0) {
		log_error("network-exited", "status=not-started");
		sv->network_gone = true;
		sv->status = 1;
		supervisor_stop_helpers(sv);
	}
}

/* supervisor_helper_start - a new channel and CHILD's helper on one end;
 * the other end for the network process in *network_end_r */
static int supervisor_helper_start(struct supervisor_child *child, int *network_end_r)
{
	int pair[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
		log_error("spawn-failed", "process=%s error=\"socketpair: %s\"",
			  privsep_role_name(child->role), strerror(errno));
		return -1;
	}
	int ret = supervisor_spawn(child->sv, child, &pair[1], 1);
	supervisor_close(&pair[1]);
	if (ret != 0) {
		supervisor_close(&pair[0]);
		return -1;
	}
	*network_end_r = pair[0];
	return 0;
}

/* supervisor_spawn - fork and exec CHILD's role with FDS[i] as descriptor
 * 3 + i.  Signals are blocked across fork so that none reaches the child's
 * copy of the supervisor's handlers (libevent's, which would write into the
 * supervisor's own signal channel) before exec resets them. */
static int supervisor_spawn(struct supervisor *sv, struct supervisor_child *child,
			    const int *fds, int nfds)
{
	char user[64];
	sigset_t all, old;
	int saved;

	sigfillset(&all);
	if (sigprocmask(SIG_SETMASK, &all, &old) != 0) {
		log_error("spawn-failed", "process=%s error=\"sigprocmask: %s\"",
			  privsep_role_name(child->role), strerror(errno));
		return -1;
	}
	pid_t pid = fork();
	if (pid == 0)
		supervisor_exec(sv->config_file, child->role, sv->exe_fd, fds, nfds);
	saved = errno;
	(void)sigprocmask(SIG_SETMASK, &old, NULL);
	if (pid < 0) {
		log_error("spawn-failed", "process=%s error=\"fork: %s\"",
			  privsep_role_name(child->role), strerror(saved));
		return -1;
	}
	child->pid = pid;
	clock_gettime(CLOCK_MONOTONIC, &child->started);
	log_info("process-started", "process=%s pid=%ld user=%s", privsep_role_name(child->role),
		 (long)pid, supervisor_user(sv, child->role, user, sizeof(user)));
	return 0;
}

/* supervisor_exec - in the child: the descriptors in place, the others
 * closed (EXE_FD kept, close-on-exec, to exec), signals as a helper needs
 * them, then exec.  Only async-signal-safe calls (the supervisor is single
 * threaded, but this keeps it true if that ever changes). */
static void supervisor_exec(const char *config_file, enum privsep_role role, int exe_fd,
			    const int *fds, int nfds)
{
	static const char failed[] = "petrel: supervisor: cannot start a process\n";
	char *argv[] = { "petrel", "serve", "-c", (char *)config_file, "--process",
			 (char *)privsep_role_name(role), NULL };
	int moved[4];
	sigset_t none;

	/* first out of the way of 3..6, then into place: dup2 may not
	 * overwrite a source not yet moved */
	for (int i = 0; i < nfds; i++) {
		moved[i] = fcntl(fds[i], F_DUPFD, SUPERVISOR_FD_SCRATCH);
		if (moved[i] < 0)
			goto fail;
	}
	if (exe_fd >= 0 && (exe_fd = fcntl(exe_fd, F_DUPFD_CLOEXEC, SUPERVISOR_FD_SCRATCH)) < 0)
		goto fail;
	for (int i = 0; i < nfds; i++)
		if (dup2(moved[i], 3 + i) != 3 + i)
			goto fail;
	supervisor_close_from(3 + nfds, exe_fd);
	/* ^C at a terminal reaches the whole process group: the supervisor
	 * alone decides (it forwards SIGTERM), so the children ignore SIGINT;
	 * exec resets the others to their defaults */
	if (signal(SIGINT, SIG_IGN) == SIG_ERR || signal(SIGTERM, SIG_DFL) == SIG_ERR ||
	    signal(SIGCHLD, SIG_DFL) == SIG_ERR)
		goto fail;
	sigemptyset(&none);
	if (sigprocmask(SIG_SETMASK, &none, NULL) != 0)
		goto fail;
	if (exe_fd >= 0)
		fexecve(exe_fd, argv, environ);
	else
		execv("/proc/self/exe", argv);
fail:
	(void)!write(STDERR_FILENO, failed, sizeof(failed) - 1);
	_exit(127);
}

/* supervisor_close_from - close every descriptor from FIRST on but KEEP
 * (-1: none; else above FIRST) */
static void supervisor_close_from(int first, int keep)
{
	if (keep < 0 ? close_range((unsigned)first, ~0U, 0) == 0 :
	    close_range((unsigned)first, (unsigned)keep - 1, 0) == 0 &&
	    close_range((unsigned)keep + 1, ~0U, 0) == 0)
		return;
	/* a kernel before 5.9: one by one, up to the limit */
	long max = sysconf(_SC_OPEN_MAX);
	for (long fd = first; fd < (max > 0 ? max : 65536); fd++)
		if (fd != keep)
			(void)close((int)fd);
}

/* supervisor_user - for the log: the user ROLE will run as */
static const char *supervisor_user(const struct supervisor *sv, enum privsep_role role,
				   char *buf, size_t size)
{
	const char *user = role == PRIVSEP_AUTH ? sv->config->auth_user :
		role == PRIVSEP_KEYS ? sv->config->keys_user : sv->config->user;

	if (geteuid() == 0 && user[0] != '\0')
		return user;
	struct passwd *pw = getpwuid(geteuid());
	if (pw == NULL)
		snprintf(buf, size, "%u", (unsigned)geteuid());
	else
		snprintf(buf, size, "%s", pw->pw_name);
	return buf;
}

/* supervisor_sigchld_cb - reap every child that ended; the network process
 * first: helpers whose channel reached EOF because it ended are not
 * restarted */
static void supervisor_sigchld_cb(evutil_socket_t sig, short what, void *arg)
{
	struct supervisor *sv = arg;
	int status[SLOT_COUNT], one;
	bool ended[SLOT_COUNT] = { false };
	pid_t pid;

	(void)sig;
	(void)what;
	while ((pid = waitpid(-1, &one, WNOHANG)) != 0) {
		if (pid < 0) {
			if (errno == EINTR)
				continue;
			if (errno != ECHILD)
				log_error("waitpid-failed", "error=\"%s\"", strerror(errno));
			break;
		}
		for (int i = 0; i < SLOT_COUNT; i++) {
			if (sv->child[i].pid == pid) {
				sv->child[i].pid = 0;
				ended[i] = true;
				status[i] = one;
			}
		}
	}
	if (ended[SLOT_NETWORK])
		supervisor_network_exited(sv, status[SLOT_NETWORK]);
	for (int i = SLOT_AUTH; i <= SLOT_KEYS; i++)
		if (ended[i])
			supervisor_helper_exited(&sv->child[i], status[i]);
	supervisor_check_done(sv);
}

/* supervisor_signal_cb - SIGTERM or SIGINT: the network process finishes
 * its sessions (a second signal makes it leave at once, as before the
 * split); the helpers are stopped once it has exited */
static void supervisor_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct supervisor *sv = arg;
	pid_t network = sv->child[SLOT_NETWORK].pid;

	(void)what;
	log_info("shutdown", "process=supervisor signal=%d", (int)sig);
	sv->signalled = true;
	if (network > 0 && kill(network, SIGTERM) != 0)
		log_error("kill-failed", "process=network pid=%ld error=\"%s\"", (long)network,
			  strerror(errno));
}

/* supervisor_network_exited - after SIGTERM its status is petrel serve's;
 * on its own it failed (exit 1); either way the helpers stop */
static void supervisor_network_exited(struct supervisor *sv, int status)
{
	char text[32];

	supervisor_status_text(status, text, sizeof(text));
	sv->network_gone = true;
	if (sv->signalled) {
		log_info("network-exited", "status=%s", text);
		sv->status = WIFEXITED(status) ? WEXITSTATUS(status) : 1;
	} else {
		log_error("network-exited", "status=%s reason=\"ended on its own\"", text);
		sv->status = 1;
	}
	supervisor_close(&sv->control_fd);
	supervisor_stop_helpers(sv);
}

/* supervisor_helper_exited - restart it after the backoff, unless
 * everything is stopping: once SIGTERM or SIGINT came, the network process
 * accepts no new session and closes its channels as it ends, which ends
 * the helpers (EOF) before the supervisor may even know it has exited */
static void supervisor_helper_exited(struct supervisor_child *child, int status)
{
	struct supervisor *sv = child->sv;
	const char *name = privsep_role_name(child->role);
	char text[32];
	struct timespec now;

	supervisor_status_text(status, text, sizeof(text));
	if (sv->network_gone || sv->signalled) {
		log_info("helper-exited", "process=%s status=%s restart_in=never", name, text);
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &now);
	long long ran_ms = (now.tv_sec - child->started.tv_sec) * 1000LL +
		(now.tv_nsec - child->started.tv_nsec) / 1000000;
	unsigned delay = SUPERVISOR_BACKOFF_MIN_MS;
	if (child->backoff_ms != 0 && ran_ms < SUPERVISOR_STABLE_MS)
		delay = child->backoff_ms >= SUPERVISOR_BACKOFF_MAX_MS / 2 ?
			SUPERVISOR_BACKOFF_MAX_MS : child->backoff_ms * 2;
	log_warn("helper-exited", "process=%s status=%s ran_ms=%lld restart_in=%u.%03us", name,
		 text, ran_ms, delay / 1000, delay % 1000);
	supervisor_schedule(child, delay);
}

/* supervisor_schedule - start CHILD again in DELAY_MS */
static void supervisor_schedule(struct supervisor_child *child, unsigned delay_ms)
{
	struct timeval tv = { .tv_sec = delay_ms / 1000, .tv_usec = (delay_ms % 1000) * 1000 };

	child->backoff_ms = delay_ms;
	if (evtimer_add(child->restart, &tv) != 0)
		log_error("restart-failed", "process=%s error=\"cannot add the timer\"",
			  privsep_role_name(child->role));
}

/* supervisor_restart_cb - start a helper again and hand its channel's other
 * end to the network process */
static void supervisor_restart_cb(evutil_socket_t fd, short what, void *arg)
{
	struct supervisor_child *child = arg;
	struct supervisor *sv = child->sv;
	const char *name = privsep_role_name(child->role);
	int end = -1;

	(void)fd;
	(void)what;
	if (sv->network_gone || sv->signalled)
		return;
	if (supervisor_helper_start(child, &end) != 0) {
		unsigned delay = child->backoff_ms >= SUPERVISOR_BACKOFF_MAX_MS / 2 ?
			SUPERVISOR_BACKOFF_MAX_MS : child->backoff_ms * 2;
		supervisor_schedule(child, delay);
		return;
	}
	/* on a non-blocking socket: a network process whose queue is full (it
	 * stopped reading) misses this channel; the helper then reaches EOF,
	 * exits and is started again after the backoff */
	uint8_t tag = child->role == PRIVSEP_AUTH ? PRIVSEP_TAG_AUTH : PRIVSEP_TAG_KEYS;
	if (ipc_fd_send(sv->control_fd, tag, end) != 0)
		log_error("channel-send-failed", "process=%s error=\"%s\"", name, strerror(errno));
	supervisor_close(&end);
}

/* supervisor_stop_helpers - no more restarts; SIGTERM to the running
 * helpers (their channel has reached EOF too), SIGKILL if they outstay
 * SUPERVISOR_STOP_WAIT_MS */
static void supervisor_stop_helpers(struct supervisor *sv)
{
	struct timeval wait = { .tv_sec = SUPERVISOR_STOP_WAIT_MS / 1000,
				.tv_usec = (SUPERVISOR_STOP_WAIT_MS % 1000) * 1000 };
	bool running = false;

	for (int i = SLOT_AUTH; i <= SLOT_KEYS; i++) {
		struct supervisor_child *child = &sv->child[i];
		(void)evtimer_del(child->restart);
		if (child->pid > 0) {
			running = true;
			if (kill(child->pid, SIGTERM) != 0)
				log_error("kill-failed", "process=%s pid=%ld error=\"%s\"",
					  privsep_role_name(child->role), (long)child->pid,
					  strerror(errno));
		}
	}
	if (running && evtimer_add(sv->stop_timer, &wait) != 0)
		log_error("stop-failed", "error=\"cannot add the timer\"");
}

/* supervisor_stop_timeout_cb - helpers that ignored SIGTERM */
static void supervisor_stop_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct supervisor *sv = arg;

	(void)fd;
	(void)what;
	for (int i = SLOT_AUTH; i <= SLOT_KEYS; i++) {
		struct supervisor_child *child = &sv->child[i];
		if (child->pid <= 0)
			continue;
		log_warn("helper-killed", "process=%s pid=%ld reason=\"still running %u ms "
			 "after SIGTERM\"", privsep_role_name(child->role), (long)child->pid,
			 SUPERVISOR_STOP_WAIT_MS);
		if (kill(child->pid, SIGKILL) != 0)
			log_error("kill-failed", "process=%s pid=%ld error=\"%s\"",
				  privsep_role_name(child->role), (long)child->pid, strerror(errno));
	}
}

static bool supervisor_is_done(const struct supervisor *sv)
{
	return sv->network_gone && sv->child[SLOT_AUTH].pid == 0 &&
		sv->child[SLOT_KEYS].pid == 0;
}

/* supervisor_check_done - leave the loop once every child is gone */
static void supervisor_check_done(struct supervisor *sv)
{
	if (supervisor_is_done(sv))
		event_base_loopbreak(sv->base);
}

/* supervisor_status_text - "0" for an exit status, "signal-9" for a death */
static const char *supervisor_status_text(int status, char *buf, size_t size)
{
	if (WIFEXITED(status))
		snprintf(buf, size, "%d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, size, "signal-%d", WTERMSIG(status));
	else
		snprintf(buf, size, "unknown-%d", status);
	return buf;
}

static void supervisor_close(int *fd)
{
	if (*fd >= 0 && close(*fd) != 0)
		log_warn("close-failed", "process=supervisor fd=%d error=\"%s\"", *fd,
			 strerror(errno));
	*fd = -1;
}

static void supervisor_free(struct supervisor *sv)
{
	for (int i = 0; i < SLOT_COUNT; i++)
		if (sv->child[i].restart != NULL)
			event_free(sv->child[i].restart);
	if (sv->stop_timer != NULL)
		event_free(sv->stop_timer);
	if (sv->sigchld != NULL)
		event_free(sv->sigchld);
	if (sv->sigterm != NULL)
		event_free(sv->sigterm);
	if (sv->sigint != NULL)
		event_free(sv->sigint);
	supervisor_close(&sv->control_fd);
	supervisor_close(&sv->exe_fd);
	if (sv->base != NULL)
		event_base_free(sv->base);
}
