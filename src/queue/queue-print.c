/* queue/queue-print - `petrel queue list` and `petrel queue show ID`.
 *
 * Reads the spool offline, or beside a running server: files move between
 * folders and vanish between readdir and open, which is not an error (a
 * listing made while the server works may miss a message that moves, or
 * show it twice).  The layout (docs/operations.md, "The queue"):
 *
 *   queue/new/<ID>           accepted, not tried yet or being tried
 *   queue/defer/<T>/<ID>     waiting: next attempt at unix time T
 *   queue/hold/<ID>          held by the administrator
 *   queue/corrupt/<ID>       unreadable, moved aside
 *   queue/<ID>, <ID>.rcpt    the legacy layout, which a server converts when
 *                            it starts: listed too, its state from its log
 *
 * A message file is its envelope, a blank line, the body (exactly the
 * envelope's size bytes), then the state log ("INDEX STATE REPLY" and "M key
 * value" lines).  The state a message is in is its folder.
 *
 * Streaming: `list` walks the legacy files, new/, the defer/ buckets in
 * order of T, hold/, then corrupt/ (within a folder, in directory order) and
 * prints each message as soon as it has read it: the first line at once,
 * then every PRINT_FLUSH_BYTES or PRINT_FLUSH_NS.  Memory is one message's
 * envelope and log plus the sorted bucket times, whatever the queue holds.
 * Per message it reads the file's first PRINT_READ_CHUNK bytes (more only
 * for a longer envelope) and the log after the body with one pread: never
 * the body itself.  Filters that need no envelope are applied before the
 * file is opened (--state: the folder is not even read; --older-than: the
 * time in the ID), and --limit ends the walk, so `--limit 10` opens ten
 * files however large the queue.
 *
 * Spool contents are untrusted text: on a terminal, control bytes are shown
 * as \xHH; in JSON, strings are escaped and invalid UTF-8 becomes U+FFFD.
 */
#include "queue/queue.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config/config.h"
#include "queue/spool.h"
#include "util/fileio.h"
#include "util/utf8.h"
#include "util/xalloc.h"

/* bytes read first from each message file: its envelope (typically a few
 * hundred bytes), and for small messages the body and log as well */
#define PRINT_READ_CHUNK 16384u
/* the largest state log read back; a longer one is read from its end */
#define PRINT_LOG_MAX (16u * 1024 * 1024)
/* output is written when this much is waiting, or this long after the last
 * write (and the first line at once) */
#define PRINT_FLUSH_BYTES 65536u
#define PRINT_FLUSH_NS 100000000LL
/* an ID's time this far in the future means a clock gone wrong: the age is
 * then the file's mtime */
#define PRINT_ID_TIME_SLACK 86400

enum print_folder { FOLDER_LEGACY, FOLDER_NEW, FOLDER_DEFER, FOLDER_HOLD, FOLDER_CORRUPT };

static const struct {
	const char *dir;      /* under queue/ */
	const char *state;    /* as --state and the JSON name it */
	unsigned bit;         /* QUEUE_LIST_* */
} folders[] = {
	[FOLDER_LEGACY] = { ".", "new", QUEUE_LIST_NEW },
	[FOLDER_NEW] = { SPOOL_NEW_DIR, "new", QUEUE_LIST_NEW },
	[FOLDER_DEFER] = { SPOOL_DEFER_DIR, "deferred", QUEUE_LIST_DEFERRED },
	[FOLDER_HOLD] = { SPOOL_HOLD_DIR, "held", QUEUE_LIST_HELD },
	[FOLDER_CORRUPT] = { SPOOL_CORRUPT_DIR, "corrupt", QUEUE_LIST_CORRUPT },
};

/* One message file read: its envelope with the log applied. */
struct print_msg {
	struct queue_envelope *env;
	struct buf data;          /* the file's first bytes: the envelope, maybe more */
	size_t body_off;          /* where the body starts in DATA */
	time_t mtime;
};

/* Where a message is: its folder and, for defer/, the bucket's time. */
struct print_place {
	enum print_folder folder;
	long long bucket;
};

struct lister {
	const struct queue_list_filter *filter;
	bool json;
	time_t now;
	struct spool *spool;
	int queue_fd;             /* the spool's queue/ */
	unsigned long long messages, corrupt;
	bool stopped;             /* --limit reached */
	bool flushed;             /* something was written already */
	struct timespec last_flush;
	struct buf out;
};

static char print_error[256];

static void put_text(struct buf *out, const char *s, size_t len);
static void put_json(struct buf *out, const char *s, size_t len);
static void put_json_str(struct buf *out, const char *s);
static void put_time(struct buf *out, time_t t);
static void put_msg_line(struct buf *out, const struct queue_envelope *env);
static void put_msg_json(struct buf *out, const struct queue_envelope *env, const char *state,
			 bool full, const char *file, const char *headers, size_t headers_len);
static void put_place(char *file, size_t size, const struct print_place *place, const char *id);
static size_t header_section_len(const char *body, size_t len);
static int flush_stdout(struct buf *out, const char **error_r);
static const char *folder_error(const char *what, const char *dir, int err);
static int pread_append(int fd, unsigned long long off, size_t len, struct buf *out);
static bool envelope_ended(const struct buf *data, size_t from);
static int msg_read(int dir_fd, const char *id, size_t head, int legacy_fd,
		    struct print_msg *m, const char **error_r);
static void msg_free(struct print_msg *m);
static int log_read(int fd, unsigned long long off, unsigned long long len,
		    struct queue_envelope *env);
static int legacy_log_read(int queue_fd, struct queue_envelope *env);
static enum print_folder place_state(const struct print_place *place,
				     const struct queue_envelope *env);
static void place_apply(const struct print_place *place, struct queue_envelope *env);
static int bucket_compare(const void *a, const void *b);
static int buckets_read(struct spool *spool, long long **times_r, size_t *count_r,
			const char **error_r);
static int open_folder(int at_fd, const char *dir, int *fd_r, const char **error_r);
static int lister_walk(struct lister *l, const char **error_r);
static int lister_folder(struct lister *l, int dir_fd, const struct print_place *place,
			 const char **error_r);
static int lister_entry(struct lister *l, int dir_fd, const char *id,
			const struct print_place *place, const char **error_r);
static bool lister_old_enough(const struct lister *l, int dir_fd, const char *id);
static int lister_tick(struct lister *l, bool emitted, const char **error_r);
static int print_spool_open(const char *data_dir, struct spool **spool_r,
			    const char **error_r);
static int show_find(struct spool *spool, const char *id, struct print_msg *m,
		     struct print_place *place, const char **error_r);

static const char *const body_names[] = { NULL, "7BIT", "8BITMIME", "BINARYMIME" };
static const char *const ret_names[] = { NULL, "FULL", "HDRS" };

/* put_text - S for a terminal: printable bytes as they are, others as \xHH */
static void put_text(struct buf *out, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f || c == '\\')
			buf_printf(out, "\\x%02X", c);
		else
			buf_append(out, &s[i], 1);
	}
}

/* put_json - S[0..LEN) as a JSON string */
static void put_json(struct buf *out, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	buf_append(out, "\"", 1);
	for (size_t i = 0; i < len;) {
		unsigned char c = p[i];
		if (c == '"' || c == '\\') {
			char esc[2] = { '\\', (char)c };
			buf_append(out, esc, 2);
			i++;
		} else if (c == '\n') {
			buf_append_str(out, "\\n");
			i++;
		} else if (c == '\r') {
			buf_append_str(out, "\\r");
			i++;
		} else if (c == '\t') {
			buf_append_str(out, "\\t");
			i++;
		} else if (c < 0x20 || c == 0x7f) {
			buf_printf(out, "\\u%04x", c);
			i++;
		} else {
			size_t n = utf8_sequence_length((const char *)p + i, len - i);
			if (n == 0) {
				buf_append_str(out, "\\ufffd");
				i++;
			} else {
				buf_append(out, p + i, n);
				i += n;
			}
		}
	}
	buf_append(out, "\"", 1);
}

static void put_json_str(struct buf *out, const char *s)
{
	if (s)
		put_json(out, s, strlen(s));
	else
		buf_append_str(out, "null");
}

/* put_time - ISO 8601 UTC */
static void put_time(struct buf *out, time_t t)
{
	struct tm tm;
	char text[64];
	if (!gmtime_r(&t, &tm) || strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(text, sizeof(text), "@%lld", (long long)t);
	buf_append_str(out, text);
}

/* put_msg_line - "ID  ARRIVAL  SIZE  <SENDER>  RCPT (state) ..." */
static void put_msg_line(struct buf *out, const struct queue_envelope *env)
{
	buf_printf(out, "%s  ", env->id);
	put_time(out, env->arrival);
	buf_printf(out, "  %llu  <", (unsigned long long)env->size);
	put_text(out, env->sender, strlen(env->sender));
	buf_append(out, ">", 1);
	for (size_t i = 0; i < env->rcpt_count; i++) {
		buf_append_str(out, "  ");
		put_text(out, env->rcpts[i].address, strlen(env->rcpts[i].address));
		buf_printf(out, " (%s)", queue_rcpt_state_name(env->rcpts[i].state));
	}
	if (env->held) {
		buf_append_str(out, "  [held]");
	} else if (env->send_at > time(NULL)) {
		buf_append_str(out, "  scheduled ");
		put_time(out, env->send_at);
	} else if (env->next_attempt) {
		buf_append_str(out, "  next ");
		put_time(out, env->next_attempt);
	}
	buf_append(out, "\n", 1);
}

/* put_msg_json - one message as a JSON object; FULL adds every field */
static void put_msg_json(struct buf *out, const struct queue_envelope *env, const char *state,
			 bool full, const char *file, const char *headers, size_t headers_len)
{
	buf_printf(out, "{\"id\":\"%s\",\"state\":\"%s\",\"arrival\":\"", env->id, state);
	put_time(out, env->arrival);
	buf_printf(out, "\",\"arrival_unix\":%lld,\"size\":%llu,\"sender\":",
		   (long long)env->arrival, (unsigned long long)env->size);
	put_json_str(out, env->sender);
	if (full) {
		buf_append_str(out, ",\"body\":");
		put_json_str(out, env->body > 0 && env->body < 4 ? body_names[env->body] : NULL);
		buf_printf(out, ",\"smtputf8\":%s,\"ret\":", env->smtputf8 ? "true" : "false");
		put_json_str(out, env->ret > 0 && env->ret < 3 ? ret_names[env->ret] : NULL);
		buf_append_str(out, ",\"envid\":");
		put_json_str(out, env->envid);
		buf_append_str(out, ",\"client\":");
		put_json_str(out, env->client_address);
		buf_append_str(out, ",\"helo\":");
		put_json_str(out, env->helo);
		buf_append_str(out, ",\"listener\":");
		put_json_str(out, env->listener);
		buf_append_str(out, ",\"account\":");
		put_json_str(out, env->account);
		buf_printf(out, ",\"sandbox\":%s,\"file\":", env->sandbox ? "true" : "false");
		put_json_str(out, file);
	}
	buf_printf(out, ",\"held\":%s,\"next_attempt_unix\":%lld,\"send_at_unix\":%lld",
		   env->held ? "true" : "false", (long long)env->next_attempt,
		   (long long)env->send_at);
	buf_append_str(out, ",\"recipients\":[");
	for (size_t i = 0; i < env->rcpt_count; i++) {
		const struct queue_recipient *r = &env->rcpts[i];
		buf_append_str(out, i ? ",{\"address\":" : "{\"address\":");
		put_json_str(out, r->address);
		buf_printf(out, ",\"state\":\"%s\"", queue_rcpt_state_name(r->state));
		if (full) {
			buf_printf(out, ",\"notify\":%u,\"orcpt\":", r->notify);
			put_json_str(out, r->orcpt);
		}
		buf_append_str(out, ",\"reply\":");
		put_json_str(out, r->last_reply);
		buf_append(out, "}", 1);
	}
	buf_append(out, "]", 1);
	if (headers) {
		buf_append_str(out, ",\"headers\":");
		put_json(out, headers, headers_len);
	}
	buf_append(out, "}", 1);
}

/* put_place - "queue/FOLDER[/T]/ID" into FILE */
static void put_place(char *file, size_t size, const struct print_place *place, const char *id)
{
	if (place->folder == FOLDER_LEGACY)
		snprintf(file, size, "queue/%s", id);
	else if (place->folder == FOLDER_DEFER)
		snprintf(file, size, "queue/%s/%lld/%s", folders[FOLDER_DEFER].dir, place->bucket,
			 id);
	else
		snprintf(file, size, "queue/%s/%s", folders[place->folder].dir, id);
}

/* header_section_len - bytes up to and including the empty line (or all) */
static size_t header_section_len(const char *body, size_t len)
{
	for (size_t i = 0; i + 1 < len; i++) {
		if (body[i] != '\n')
			continue;
		if (body[i + 1] == '\n')
			return i + 1;
		if (i + 2 < len && body[i + 1] == '\r' && body[i + 2] == '\n')
			return i + 1;
	}
	return len;
}

static int flush_stdout(struct buf *out, const char **error_r)
{
	if ((out->len > 0 && fwrite(out->data, 1, out->len, stdout) != out->len) ||
	    fflush(stdout) != 0) {
		*error_r = "cannot write to standard output";
		return -1;
	}
	buf_reset(out);
	return 0;
}

/* folder_error - "cannot WHAT queue/DIR: ERRNO TEXT" (static) */
static const char *folder_error(const char *what, const char *dir, int err)
{
	snprintf(print_error, sizeof(print_error), "cannot %s queue/%s: %s", what, dir,
		 strerror(err));
	return print_error;
}

/* ---- reading one message file ------------------------------------------ */

/* pread_append - up to LEN bytes of FD at OFF onto OUT (fewer at EOF): 0,
 * or -1 and errno */
static int pread_append(int fd, unsigned long long off, size_t len, struct buf *out)
{
	char chunk[PRINT_READ_CHUNK];
	while (len > 0) {
		size_t want = len < sizeof(chunk) ? len : sizeof(chunk);
		ssize_t n = fd_pread_full(fd, chunk, want, (off_t)off);
		if (n < 0)
			return -1;
		buf_append(out, chunk, (size_t)n);
		if ((size_t)n < want)
			break;
		off += want;
		len -= want;
	}
	return 0;
}

/* envelope_ended - DATA holds the envelope's blank line (searched from
 * FROM, the first byte not searched before) */
static bool envelope_ended(const struct buf *data, size_t from)
{
	if (data->len > 0 && data->data[0] == '\n')
		return true;
	size_t start = from > 0 ? from - 1 : 0;
	return data->len > start && memmem(data->data + start, data->len - start, "\n\n", 2);
}

/* log_read - apply the state log at OFF (LEN bytes) of FD to ENV; a log
 * longer than PRINT_LOG_MAX is read from its last complete line within
 * that much of its end (later lines decide anyway) */
static int log_read(int fd, unsigned long long off, unsigned long long len,
		    struct queue_envelope *env)
{
	struct buf log;
	size_t skip = 0;
	int ret = -1;
	buf_init(&log);
	if (len > PRINT_LOG_MAX) {
		off += len - PRINT_LOG_MAX;
		len = PRINT_LOG_MAX;
	}
	if (pread_append(fd, off, (size_t)len, &log) != 0)
		goto out;
	if (len == PRINT_LOG_MAX && log.len > 0) {
		const char *lf = memchr(log.data, '\n', log.len);
		skip = lf ? (size_t)(lf - log.data) + 1 : log.len;
	}
	(void)spool_state_log_parse(env, log.data + skip, log.len - skip);
	ret = 0;
out:
	buf_free(&log);
	return ret;
}

/* legacy_log_read - apply queue/<ID>.rcpt, if any, to ENV */
static int legacy_log_read(int queue_fd, struct queue_envelope *env)
{
	char name[QUEUE_ID_LEN + 6];
	struct stat st;
	int ret = -1;
	snprintf(name, sizeof(name), "%s.rcpt", env->id);
	int fd = openat(queue_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
		ret = log_read(fd, 0, (unsigned long long)st.st_size, env);
	if (close(fd) != 0)
		ret = -1;
	return ret;
}

/* msg_read - the file ID under DIR_FD: its envelope, the first HEAD bytes
 * of its body, and its state log applied (and LEGACY_FD's <ID>.rcpt when
 * LEGACY_FD >= 0).  0; 1 if there is no such file; 2 if it is not marked
 * complete (being written, never acknowledged); -1 and *error_r (static
 * text) if it is unreadable. */
static int msg_read(int dir_fd, const char *id, size_t head, int legacy_fd,
		    struct print_msg *m, const char **error_r)
{
	struct stat st;
	int ret = -1;
	int fd = openat(dir_fd, id, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ENOENT)
			return 1;
		*error_r = errno == ELOOP ? "not a regular file" : "cannot open the file";
		return -1;
	}
	if (fstat(fd, &st) != 0) {
		*error_r = "cannot stat the file";
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		*error_r = "not a regular file";
		goto out;
	}
	if (!(st.st_mode & S_IXUSR)) {
		ret = 2;
		goto out;
	}
	m->mtime = st.st_mtime;
	unsigned long long size = (unsigned long long)st.st_size;
	/* the envelope: the first chunk, more only for a long one */
	while (m->data.len < size && m->data.len < SPOOL_ENVELOPE_MAX) {
		size_t from = m->data.len;
		size_t want = size - from < PRINT_READ_CHUNK ? (size_t)(size - from) : PRINT_READ_CHUNK;
		if (pread_append(fd, from, want, &m->data) != 0) {
			*error_r = "cannot read the file";
			goto out;
		}
		if (m->data.len == from || envelope_ended(&m->data, from))
			break;
	}
	m->env = queue_envelope_parse(m->data.data ? m->data.data : "", m->data.len,
				      &m->body_off, error_r);
	if (!m->env)
		goto out;
	if (strcmp(m->env->id, id) != 0) {
		*error_r = "envelope ID does not match the file name";
		goto out;
	}
	/* the body's first bytes (show: its headers) */
	unsigned long long body_end = m->body_off + m->env->size;
	unsigned long long want = m->body_off + (head < m->env->size ? head : m->env->size);
	if (want > m->data.len && pread_append(fd, m->data.len, (size_t)(want - m->data.len),
					       &m->data) != 0) {
		*error_r = "cannot read the file";
		goto out;
	}
	/* the state log after the body: from DATA when it is all there */
	if (body_end < size) {
		if (m->data.len == size)
			(void)spool_state_log_parse(m->env, m->data.data + body_end,
						    (size_t)(size - body_end));
		else if (log_read(fd, body_end, size - body_end, m->env) != 0) {
			*error_r = "cannot read the state log";
			goto out;
		}
	}
	if (legacy_fd >= 0 && legacy_log_read(legacy_fd, m->env) != 0) {
		*error_r = "cannot read the recipient log";
		goto out;
	}
	ret = 0;
out:
	if (close(fd) != 0 && ret == 0) {
		*error_r = "cannot close the file";
		ret = -1;
	}
	if (ret != 0)
		queue_envelope_free(&m->env);
	return ret;
}

static void msg_free(struct print_msg *m)
{
	queue_envelope_free(&m->env);
	buf_free(&m->data);
}

/* place_state - the state a message is in: its folder's, or for a legacy
 * file what its log says */
static enum print_folder place_state(const struct print_place *place,
				     const struct queue_envelope *env)
{
	if (place->folder != FOLDER_LEGACY)
		return place->folder;
	if (env && env->held)
		return FOLDER_HOLD;
	return env && env->next_attempt ? FOLDER_DEFER : FOLDER_NEW;
}

/* state_name - what --json and `queue show` call STATE: "scheduled" for
 * a message waiting for its send_at (in new/ or defer/), else the folder's */
static const char *state_name(enum print_folder state, const struct queue_envelope *env)
{
	bool waiting = state == FOLDER_NEW || state == FOLDER_DEFER;
	if (waiting && env && !env->held && env->send_at > time(NULL))
		return "scheduled";
	return folders[state].state;
}

/* state_bit - the QUEUE_LIST_* bit of a message in STATE, as state_name
 * names it (ENV NULL: unreadable, its folder's) */
static unsigned state_bit(enum print_folder state, const struct queue_envelope *env)
{
	if (strcmp(state_name(state, env), "scheduled") == 0)
		return QUEUE_LIST_SCHEDULED;
	return folders[state].bit;
}

/* folder_wanted - the folder may hold a message of a state in STATES (0:
 * any): scheduled messages wait in new/ and defer/ */
static bool folder_wanted(unsigned states, enum print_folder folder)
{
	unsigned bits = folders[folder].bit;
	if (folder == FOLDER_NEW || folder == FOLDER_DEFER)
		bits |= QUEUE_LIST_SCHEDULED;
	return states == 0 || folder == FOLDER_LEGACY || (states & bits) != 0;
}

/* place_apply - the folder decides: held in hold/ (its log's next attempt
 * kept: when it would be tried), next attempt T in defer/T, none in new/
 * (tried now: a "M next" in its log is from before a release) */
static void place_apply(const struct print_place *place, struct queue_envelope *env)
{
	if (place->folder == FOLDER_LEGACY || place->folder == FOLDER_CORRUPT)
		return;
	env->held = place->folder == FOLDER_HOLD;
	if (place->folder == FOLDER_DEFER)
		env->next_attempt = (time_t)place->bucket;
	else if (place->folder == FOLDER_NEW)
		env->next_attempt = 0;
}

/* ---- filters ------------------------------------------------------------- */

/* queue_list_filter_set - one success exit; ret stays 1 for an option that
 * is not a filter's, turns -1 for a known one until its value checks out */

int queue_list_filter_set(struct queue_list_filter *f, const char *option, const char *value,
			  const char **error_r)
{
	static const struct {
		const char *name;
		unsigned bit;
	} states[] = {
		{ "new", QUEUE_LIST_NEW },
		{ "deferred", QUEUE_LIST_DEFERRED },
		{ "held", QUEUE_LIST_HELD },
		{ "corrupt", QUEUE_LIST_CORRUPT },
		{ "scheduled", QUEUE_LIST_SCHEDULED },
	};
	static const char *const names[] = {
		"--limit", "--state", "--older-than", "--sender", "--domain",
	};
	unsigned long long n;
	size_t len = value ? strlen(value) : 0;
	int ret = 1;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]) && ret == 1; i++)
		if (strcmp(option, names[i]) == 0)
			ret = -1;
	if (ret == 1)
		goto out;
	if (!value) {
		snprintf(print_error, sizeof(print_error), "%s needs a value", option);
		*error_r = print_error;
		goto out;
	}
	if (strcmp(option, "--limit") == 0) {
		char *end = NULL;
		errno = 0;
		n = value[0] >= '0' && value[0] <= '9' ? strtoull(value, &end, 10) : 0;
		if (n == 0 || errno != 0 || *end != '\0') {
			*error_r = "--limit takes a whole number, at least 1";
			goto out;
		}
		f->limit = n;
	} else if (strcmp(option, "--state") == 0) {
		size_t i;
		for (i = 0; i < sizeof(states) / sizeof(states[0]); i++)
			if (strcmp(value, states[i].name) == 0)
				break;
		if (i == sizeof(states) / sizeof(states[0])) {
			*error_r = "--state takes new, deferred, held, corrupt or scheduled";
			goto out;
		}
		f->states |= states[i].bit;
	} else if (strcmp(option, "--older-than") == 0) {
		if (!config_duration_parse(value, &n)) {
			*error_r = "--older-than takes a duration: digits with s, m, h or d "
				   "(30m, 2h, 3d)";
			goto out;
		}
		f->older_than = n;
	} else if (strcmp(option, "--sender") == 0) {
		/* <address> as in MAIL FROM; <> or "" is the null sender */
		if (len >= 2 && value[0] == '<' && value[len - 1] == '>') {
			value++;
			len -= 2;
		}
		if (memchr(value, '<', len) || memchr(value, '>', len)) {
			*error_r = "--sender takes an address (or <> for the null sender)";
			goto out;
		}
		f->sender = value;
		f->sender_len = len;
	} else if (strcmp(option, "--domain") == 0) {
		if (len > 0 && value[0] == '@') {
			value++;
			len--;
		}
		if (len == 0 || memchr(value, '@', len)) {
			*error_r = "--domain takes a domain name (example.com)";
			goto out;
		}
		f->domain = value;
		f->domain_len = len;
	}
	ret = 0;
out:
	return ret;
}

bool queue_list_filter_match(const struct queue_list_filter *f, const struct queue_envelope *env)
{
	if (f->sender && (strlen(env->sender) != f->sender_len ||
			  strncasecmp(env->sender, f->sender, f->sender_len) != 0))
		return false;
	if (!f->domain)
		return true;
	for (size_t i = 0; i < env->rcpt_count; i++) {
		const char *at = strrchr(env->rcpts[i].address, '@');
		if (at && strlen(at + 1) == f->domain_len &&
		    strncasecmp(at + 1, f->domain, f->domain_len) == 0)
			return true;
	}
	return false;
}

/* ---- queue list -------------------------------------------------------- */

static int bucket_compare(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;
	return (x > y) - (x < y);
}

/* buckets_read - the times T of queue/defer/<T>/, sorted */
static int buckets_read(struct spool *spool, long long **times_r, size_t *count_r,
			const char **error_r)
{
	if (spool_list_defer(spool, times_r, count_r, error_r) != 0)
		return -1;
	if (*count_r > 0)
		qsort(*times_r, *count_r, sizeof(**times_r), bucket_compare);
	return 0;
}

/* open_folder - DIR under AT_FD into *FD_R; -1 there (and 0 returned) if
 * it does not exist */
static int open_folder(int at_fd, const char *dir, int *fd_r, const char **error_r)
{
	*fd_r = openat(at_fd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (*fd_r < 0 && errno != ENOENT) {
		*error_r = folder_error("open", dir, errno);
		return -1;
	}
	return 0;
}

/* lister_old_enough - ID came at least --older-than ago: by the time in
 * the ID (no file read), or by the file's mtime if that time is off */
static bool lister_old_enough(const struct lister *l, int dir_fd, const char *id)
{
	time_t t;
	if (!queue_id_time(id, &t) || t > l->now + PRINT_ID_TIME_SLACK) {
		struct stat st;
		if (fstatat(dir_fd, id, &st, AT_SYMLINK_NOFOLLOW) != 0)
			return false;  /* gone meanwhile */
		t = st.st_mtime;
	}
	return t <= l->now && (unsigned long long)(l->now - t) >= l->filter->older_than;
}

/* lister_tick - after each entry (EMITTED: one more printed): stop at
 * --limit; write out what waits, at once the first time, then by size or
 * time */
static int lister_tick(struct lister *l, bool emitted, const char **error_r)
{
	if (emitted && l->filter->limit && l->messages + l->corrupt >= l->filter->limit)
		l->stopped = true;
	if (l->out.len == 0)
		return 0;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	long long ns = (long long)(now.tv_sec - l->last_flush.tv_sec) * 1000000000LL +
		(now.tv_nsec - l->last_flush.tv_nsec);
	if (l->flushed && l->out.len < PRINT_FLUSH_BYTES && ns < PRINT_FLUSH_NS && !l->stopped)
		return 0;
	l->flushed = true;
	l->last_flush = now;
	return flush_stdout(&l->out, error_r);
}

/* lister_entry - the message ID in the folder DIR_FD: filter, read, print */
static int lister_entry(struct lister *l, int dir_fd, const char *id,
			const struct print_place *place, const char **error_r)
{
	const struct queue_list_filter *f = l->filter;
	bool needs_envelope = f->sender || f->domain;
	struct print_msg m = { 0 };
	const char *error = NULL;
	bool emitted = false;
	char file[64];

	buf_init(&m.data);
	if (f->older_than && !lister_old_enough(l, dir_fd, id))
		goto out;
	put_place(file, sizeof(file), place, id);
	if (place->folder == FOLDER_CORRUPT) {
		/* unreadable: no envelope to match */
		if (needs_envelope)
			goto out;
		if (l->json)
			buf_printf(&l->out, "%s{\"id\":\"%s\",\"state\":\"corrupt\",\"corrupt\":true,"
				   "\"file\":\"%s\"}", l->messages + l->corrupt ? ",\n" : "", id, file);
		else
			buf_printf(&l->out, "%s  (corrupt: unreadable, moved to %s)\n", id, file);
		l->corrupt++;
		emitted = true;
		goto out;
	}
	int r = msg_read(dir_fd, id, 0, place->folder == FOLDER_LEGACY ? l->queue_fd : -1, &m,
			 &error);
	if (r == 1 || r == 2)
		goto out;  /* moved or delivered meanwhile; or not acknowledged yet */
	enum print_folder state = place_state(place, m.env);
	if (r == 0)
		place_apply(place, m.env);
	if ((f->states && !(f->states & state_bit(state, r == 0 ? m.env : NULL))) ||
	    (r < 0 && needs_envelope) ||
	    (r == 0 && !queue_list_filter_match(f, m.env)))
		goto out;
	if (l->json && l->messages + l->corrupt > 0)
		buf_append_str(&l->out, ",\n");
	if (r == 0) {
		if (l->json)
			put_msg_json(&l->out, m.env, state_name(state, m.env), false, NULL, NULL,
				     0);
		else
			put_msg_line(&l->out, m.env);
	} else if (l->json) {
		buf_printf(&l->out, "{\"id\":\"%s\",\"state\":\"%s\",\"file\":\"%s\",\"error\":", id,
			   folders[state].state, file);
		put_json_str(&l->out, error);
		buf_append(&l->out, "}", 1);
	} else {
		buf_printf(&l->out, "%s  (unreadable: %s)\n", id, error);
	}
	l->messages++;
	emitted = true;
out:
	msg_free(&m);
	return lister_tick(l, emitted, error_r);
}

/* lister_folder - every message in the folder DIR_FD (closed here) */
static int lister_folder(struct lister *l, int dir_fd, const struct print_place *place,
			 const char **error_r)
{
	const char *name = folders[place->folder].dir;
	struct dirent *de;
	int ret = -1;
	DIR *dir = fdopendir(dir_fd);
	if (!dir) {
		*error_r = folder_error("read", name, errno);
		if (close(dir_fd) != 0)
			*error_r = folder_error("close", name, errno);
		return -1;
	}
	errno = 0;
	while (!l->stopped && (de = readdir(dir)) != NULL) {
		if (strlen(de->d_name) == QUEUE_ID_LEN && queue_id_is_valid(de->d_name) &&
		    lister_entry(l, dirfd(dir), de->d_name, place, error_r) != 0)
			goto out;
		errno = 0;
	}
	if (!l->stopped && errno != 0) {
		*error_r = folder_error("read", name, errno);
		goto out;
	}
	ret = 0;
out:
	if (closedir(dir) != 0 && ret == 0) {
		*error_r = folder_error("close", name, errno);
		ret = -1;
	}
	return ret;
}

/* lister_walk - the folders in order: legacy files, new/, defer/ by time,
 * hold/, corrupt/; a folder --state excludes is not read */
static int lister_walk(struct lister *l, const char **error_r)
{
	static const enum print_folder order[] = {
		FOLDER_LEGACY, FOLDER_NEW, FOLDER_DEFER, FOLDER_HOLD, FOLDER_CORRUPT,
	};
	unsigned states = l->filter->states;
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]) && !l->stopped; i++) {
		struct print_place place = { .folder = order[i] };
		int fd;
		if (!folder_wanted(states, order[i]))
			continue;
		if (order[i] == FOLDER_DEFER) {
			long long *times = NULL;
			size_t count = 0;
			int ret = buckets_read(l->spool, &times, &count, error_r);
			for (size_t b = 0; ret == 0 && b < count && !l->stopped; b++) {
				char name[64];
				snprintf(name, sizeof(name), "%s/%lld", folders[FOLDER_DEFER].dir,
					 times[b]);
				place.bucket = times[b];
				ret = open_folder(l->queue_fd, name, &fd, error_r);
				if (ret == 0 && fd >= 0)  /* else emptied and removed meanwhile */
					ret = lister_folder(l, fd, &place, error_r);
			}
			free(times);
			if (ret != 0)
				return -1;
			continue;
		}
		if (open_folder(l->queue_fd, folders[order[i]].dir, &fd, error_r) != 0)
			return -1;
		if (fd >= 0 && lister_folder(l, fd, &place, error_r) != 0)
			return -1;
	}
	return 0;
}

int queue_list_print(const char *data_dir, const struct queue_list_filter *filter, bool json,
		     const char **error_r)
{
	struct lister l = {
		.filter = filter,
		.json = json,
		.now = time(NULL),
	};
	int ret = -1;

	buf_init(&l.out);
	if (print_spool_open(data_dir, &l.spool, error_r) != 0)
		goto out;
	if (json)
		buf_append_str(&l.out, "[\n");
	l.queue_fd = l.spool ? l.spool->dir_fd : -1;
	if (l.spool && lister_walk(&l, error_r) != 0)
		goto out;
	if (json) {
		buf_append_str(&l.out, l.messages + l.corrupt ? "\n]\n" : "]\n");
	} else {
		buf_printf(&l.out, "%llu messages", l.messages);
		if (l.corrupt > 0)
			buf_printf(&l.out, ", %llu corrupt files", l.corrupt);
		if (l.stopped)
			buf_printf(&l.out, " (the first %llu: --limit)", filter->limit);
		buf_append(&l.out, "\n", 1);
	}
	ret = flush_stdout(&l.out, error_r);
out:
	spool_close(&l.spool);
	buf_free(&l.out);
	return ret;
}

/* print_spool_open - DATA_DIR's spool, to read; *SPOOL_R NULL (and 0) if
 * there is none yet: a data folder that never received mail */
static int print_spool_open(const char *data_dir, struct spool **spool_r,
			    const char **error_r)
{
	char *path = xasprintf("%s/queue", data_dir);
	struct stat st;
	int ret = 0;
	*spool_r = NULL;
	if (stat(path, &st) == 0 || errno != ENOENT) {
		*spool_r = spool_open(data_dir, false, error_r);
		ret = *spool_r ? 0 : -1;
	}
	free(path);
	return ret;
}

/* ---- queue show -------------------------------------------------------- */

/* show_find - read ID wherever it is: new/, hold/, the legacy top level,
 * each defer/ bucket, corrupt/.  As msg_read, 1 if nowhere. */
static int show_find(struct spool *spool, const char *id, struct print_msg *m,
		     struct print_place *place, const char **error_r)
{
	int queue_fd = spool->dir_fd;
	static const enum print_folder order[] = {
		FOLDER_NEW, FOLDER_HOLD, FOLDER_LEGACY, FOLDER_DEFER, FOLDER_CORRUPT,
	};
	int r = 1;
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]) && r == 1; i++) {
		long long *times = NULL;
		size_t count = 1;
		char name[64];
		int fd;
		place->folder = order[i];
		if (order[i] == FOLDER_DEFER && buckets_read(spool, &times, &count, error_r) != 0)
			return -1;
		for (size_t b = 0; b < count && r == 1; b++) {
			if (times) {
				place->bucket = times[b];
				snprintf(name, sizeof(name), "%s/%lld", folders[FOLDER_DEFER].dir,
					 times[b]);
			} else {
				snprintf(name, sizeof(name), "%s", folders[order[i]].dir);
			}
			if (open_folder(queue_fd, name, &fd, error_r) != 0) {
				r = -1;
				break;
			}
			if (fd < 0)
				continue;
			const char *error = NULL;
			buf_reset(&m->data);
			r = msg_read(fd, id, SPOOL_HEADER_MAX,
				     order[i] == FOLDER_LEGACY ? queue_fd : -1, m, &error);
			if (r == 2)
				r = 1;  /* not acknowledged yet: not in the queue */
			if (r < 0) {
				char file[64];
				put_place(file, sizeof(file), place, id);
				snprintf(print_error, sizeof(print_error), "%s: unreadable (%s)",
					 file, error);
				*error_r = print_error;
			}
			if (close(fd) != 0 && r == 0) {
				*error_r = folder_error("close", name, errno);
				r = -1;
			}
		}
		free(times);
	}
	return r;
}

int queue_show_print(const char *data_dir, const char *id, bool json, const char **error_r)
{
	struct print_msg m = { 0 };
	struct print_place place = { 0 };
	struct buf out;
	struct spool *spool = NULL;
	char file[64];
	int ret = -1;

	buf_init(&out);
	buf_init(&m.data);
	if (print_spool_open(data_dir, &spool, error_r) != 0)
		goto out;
	if (!queue_id_is_valid(id) || !spool) {
		ret = 1;
		goto out;
	}
	ret = show_find(spool, id, &m, &place, error_r);
	if (ret != 0)
		goto out;
	put_place(file, sizeof(file), &place, id);
	ret = -1;
	struct queue_envelope *env = m.env;
	enum print_folder state = place_state(&place, env);
	place_apply(&place, env);
	const char *headers = m.data.data + m.body_off;
	size_t headers_len = header_section_len(headers, m.data.len - m.body_off);
	if (headers_len > SPOOL_HEADER_MAX)
		headers_len = SPOOL_HEADER_MAX;

	if (json) {
		put_msg_json(&out, env, state_name(state, env), true, file, headers, headers_len);
		buf_append(&out, "\n", 1);
		ret = flush_stdout(&out, error_r);
		goto out;
	}
	const struct {
		const char *name;
		const char *value;
	} fields[] = {
		{ "state", state_name(state, env) },
		{ "file", file },
		{ "body", env->body > 0 && env->body < 4 ? body_names[env->body] : NULL },
		{ "smtputf8", env->smtputf8 ? "yes" : "no" },
		{ "ret", env->ret > 0 && env->ret < 3 ? ret_names[env->ret] : NULL },
		{ "envid", env->envid },
		{ "client", env->client_address },
		{ "helo", env->helo },
		{ "listener", env->listener },
		{ "account", env->account },
		{ "sandbox", env->sandbox ? "yes" : NULL },
		{ "held", env->held ? "yes" : NULL },
	};
	buf_printf(&out, "id: %s\narrival: ", env->id);
	put_time(&out, env->arrival);
	buf_printf(&out, " (%lld)\nsize: %llu\nsender: <", (long long)env->arrival,
		   (unsigned long long)env->size);
	put_text(&out, env->sender, strlen(env->sender));
	buf_append_str(&out, ">\n");
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		if (!fields[i].value)
			continue;
		buf_printf(&out, "%s: ", fields[i].name);
		put_text(&out, fields[i].value, strlen(fields[i].value));
		buf_append(&out, "\n", 1);
	}
	if (env->send_at > 0) {
		buf_append_str(&out, "send at: ");
		put_time(&out, env->send_at);
		buf_printf(&out, " (%lld)\n", (long long)env->send_at);
	}
	if (env->next_attempt && !env->held) {
		buf_append_str(&out, "next attempt: ");
		put_time(&out, env->next_attempt);
		buf_append(&out, "\n", 1);
	}
	buf_printf(&out, "recipients: %zu\n", env->rcpt_count);
	for (size_t i = 0; i < env->rcpt_count; i++) {
		const struct queue_recipient *rc = &env->rcpts[i];
		buf_append_str(&out, "  <");
		put_text(&out, rc->address, strlen(rc->address));
		buf_printf(&out, "> state=%s notify=%u", queue_rcpt_state_name(rc->state), rc->notify);
		if (rc->orcpt) {
			buf_append_str(&out, " orcpt=");
			put_text(&out, rc->orcpt, strlen(rc->orcpt));
		}
		if (rc->last_reply) {
			buf_append_str(&out, " reply=\"");
			put_text(&out, rc->last_reply, strlen(rc->last_reply));
			buf_append(&out, "\"", 1);
		}
		buf_append(&out, "\n", 1);
	}
	buf_append_str(&out, "headers:\n");
	/* one header line per output line: CRLF becomes LF, the rest escaped */
	for (size_t i = 0; i < headers_len;) {
		const char *lf = memchr(headers + i, '\n', headers_len - i);
		size_t end = lf ? (size_t)(lf - headers) : headers_len;
		size_t len = end - i;
		if (len > 0 && headers[i + len - 1] == '\r')
			len--;
		put_text(&out, headers + i, len);
		buf_append(&out, "\n", 1);
		i = end + 1;
	}
	ret = flush_stdout(&out, error_r);
out:
	spool_close(&spool);
	msg_free(&m);
	buf_free(&out);
	return ret;
}
