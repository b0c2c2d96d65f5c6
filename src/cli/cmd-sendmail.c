/* cli/cmd-sendmail - petrel sendmail: the /usr/sbin/sendmail interface.
 *
 * Reads a message on stdin and submits it over SMTP to the running server's
 * listener of role local (a unix socket where the kernel tells the server who
 * the local user is: SO_PEERCRED), as cron, PHP's mail() and other Unix
 * programs expect of sendmail.  A blocking client: this is a command, not the
 * server's event loop.
 *
 * The message is taken as the program gave it, with LF (or CRLF) line ends;
 * it goes out with CRLF, dot-stuffed (RFC 5321 4.5.2).  Bcc: fields are
 * removed; Date: (RFC 5322 3.6 requires it), Message-ID: and From: are added
 * when missing.  Without -i a line holding a single "." ends the input, as
 * with sendmail.  There is no local queue: when the server is down the
 * message is refused with EX_UNAVAILABLE and the caller keeps it.
 *
 * Exit status (sysexits.h): 0 sent; 64 usage; 65 no recipients or the
 * message was refused; 67 a recipient was refused; 69 the server is not
 * running or refused permanently; 70 internal error; 71 system error; 75 the
 * server refused temporarily (try again later); 76 protocol error; 78 the
 * configuration has no listener of role local.
 */
#include <errno.h>
#include <poll.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "config/config.h"
#include "message/message.h"
#include "util/buf.h"
#include "util/xalloc.h"

#define SENDMAIL_REPLY_MAX 4096   /* one reply line from the server */
#define SENDMAIL_TIMEOUT 300      /* seconds for each reply, RFC 5321 4.5.3.2 */
#define SENDMAIL_DATA_TIMEOUT 600 /* for the reply to the final dot (4.5.3.2.6) */
#define SENDMAIL_BS_LINGER 10     /* -bs: seconds of server silence after stdin ends */

struct sendmail_opts {
	const char *config_file;
	bool extract;           /* -t: recipients from To:, Cc:, Bcc: */
	bool ignore_dots;       /* -i, -oi: "." does not end the input */
	bool smtp_stdio;        /* -bs: SMTP on stdin/stdout */
	const char *sender;     /* -f, -r; NULL = the user's login name */
	const char *full_name;  /* -F; NULL = from the password file */
	char **rcpt_args;
	size_t rcpt_arg_count;
};

struct sendmail_conn {
	int fd;
	char in[SENDMAIL_REPLY_MAX];
	size_t in_len;
	struct buf out;
	bool has_8bitmime;
	bool has_smtputf8;
};

struct sendmail_reply {
	int code;               /* 0: connection lost or malformed */
	char text[SENDMAIL_REPLY_MAX]; /* the last line, "250 2.0.0 Ok" */
};

struct sendmail_rcpts {
	char **items;
	size_t count;
	size_t cap;
};

static int sendmail_usage(const char *why, const char *arg);
static int sendmail_parse_args(int argc, char **argv, struct sendmail_opts *opts);
static const char *sendmail_socket_path(const struct config *config);
static int sendmail_read_input(bool ignore_dots, size_t max, struct buf *msg);
static const char *sendmail_login_domain(const struct config *config);
static char *sendmail_default_address(const char *hostname, char **gecos_r);
static char *sendmail_normalize_sender(const char *arg, const char *hostname);
static bool sendmail_address_is_safe(const char *addr);
static void sendmail_rcpt_add(struct sendmail_rcpts *rcpts, const char *addr,
			      const char *hostname);
static int sendmail_rcpts_from_arg(struct sendmail_rcpts *rcpts, const char *arg,
				   const char *hostname);
static bool sendmail_rcpts_bare_names(struct sendmail_rcpts *rcpts, const char *value,
				      const char *hostname);
static int sendmail_rcpts_from_headers(struct sendmail_rcpts *rcpts,
				       const struct message_headers *headers,
				       const char *hostname);
static void sendmail_build(const struct buf *in, const struct message_headers *headers,
			   const char *from_addr, const char *name, const char *hostname,
			   struct buf *out);
static int sendmail_connect(const char *path, int *fd_r);
static int sendmail_read_reply(struct sendmail_conn *c, unsigned timeout,
			       struct sendmail_reply *reply);
static int sendmail_command(struct sendmail_conn *c, struct sendmail_reply *reply,
			    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int sendmail_write(int fd, const char *data, size_t len);
static int sendmail_exit_for(int code);
static int sendmail_submit(const char *path, const char *hostname, const char *sender,
			   const struct sendmail_rcpts *rcpts, const struct buf *msg);
static int sendmail_smtp_stdio(const char *path);

static int sendmail_usage(const char *why, const char *arg)
{
	if (why)
		fprintf(stderr, "petrel sendmail: %s%s\n", why, arg ? arg : "");
	fputs("usage: petrel sendmail [-c FILE] [-t] [-i|-oi] [-f ADDR|-r ADDR] [-F NAME] "
	      "[ADDR...]\n"
	      "       petrel sendmail [-c FILE] -bs\n"
	      "Reads a message on stdin and submits it to the local Petrel server.\n", stderr);
	return EX_USAGE;
}

/* sendmail_parse_args - sendmail's flags: single letters may be grouped
 * ("-ti"); -f, -r, -F, -c, -C take a value attached or in the next argument;
 * harmless flags of other sendmails are accepted and ignored */
static int sendmail_parse_args(int argc, char **argv, struct sendmail_opts *opts)
{
	opts->config_file = CLI_DEFAULT_CONFIG;
	opts->rcpt_args = xcalloc((size_t)argc + 1, sizeof(char *));
	bool options_done = false;
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		if (options_done || arg[0] != '-' || arg[1] == '\0') {
			opts->rcpt_args[opts->rcpt_arg_count++] = argv[i];
			continue;
		}
		if (strcmp(arg, "--") == 0) {
			options_done = true;
			continue;
		}
		for (const char *p = arg + 1; *p; p++) {
			const char **value_opt = NULL;
			switch (*p) {
			case 't':
				opts->extract = true;
				continue;
			case 'i':
				opts->ignore_dots = true;
				continue;
			case 'v': case 'm': case 'n': case 'U': case 'G':
				continue;  /* verbose, me too, no aliasing, initial submission */
			case 'o':
				/* -oi is -i; -oem, -oee, -odb, -odi, -oQ... are ignored */
				if (strcmp(p + 1, "i") == 0)
					opts->ignore_dots = true;
				else if (p[1] == '\0')
					return sendmail_usage("option requires a value: ", arg);
				goto next_arg;
			case 'b':
				if (strcmp(p + 1, "s") == 0)
					opts->smtp_stdio = true;
				else if (strcmp(p + 1, "m") != 0)
					return sendmail_usage(strcmp(p + 1, "p") == 0 ?
							      "-bp: use petrel queue list; unsupported mode " :
							      "unsupported mode ", arg);
				goto next_arg;
			case 'e':
				goto next_arg;  /* -em, -ep, -eq: old error modes, ignored */
			case 'f': case 'r':
				value_opt = &opts->sender;
				break;
			case 'F':
				value_opt = &opts->full_name;
				break;
			case 'c': case 'C':
				value_opt = &opts->config_file;
				break;
			case 'B': case 'N': case 'R': case 'V': case 'X': case 'L': case 'h':
				/* body type, DSN, log file: the value is ignored */
				if (p[1] == '\0' && ++i >= argc)
					return sendmail_usage("option requires a value: ", arg);
				goto next_arg;
			default:
				return sendmail_usage("unknown option ", arg);
			}
			if (p[1] != '\0') {
				*value_opt = p + 1;
			} else if (i + 1 < argc) {
				*value_opt = argv[++i];
			} else {
				return sendmail_usage("option requires a value: ", arg);
			}
			goto next_arg;
		}
next_arg:;
	}
	return 0;
}

/* sendmail_socket_path - the first [listener] with role local, or NULL */
static const char *sendmail_socket_path(const struct config *config)
{
	for (size_t i = 0; i < config->listener_count; i++) {
		const struct config_listener *l = &config->listeners[i];
		if (l->role == LISTENER_ROLE_LOCAL && strncmp(l->address, "unix:", 5) == 0)
			return l->address + 5;
	}
	return NULL;
}

/* sendmail_read_input - stdin into MSG with LF line ends (a CR before LF is
 * dropped; other CRs are kept and the server judges them); without
 * IGNORE_DOTS a line "." ends the input.  0, or an exit status. */
static int sendmail_read_input(bool ignore_dots, size_t max, struct buf *msg)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int rc = 0;
	bool first = true;
	while ((n = getline(&line, &cap, stdin)) > 0) {
		size_t len = (size_t)n;
		bool had_lf = line[len - 1] == '\n';
		if (had_lf)
			len--;
		if (had_lf && len > 0 && line[len - 1] == '\r')
			len--;
		if (!ignore_dots && len == 1 && line[0] == '.')
			break;
		/* A leading mbox "From " line is not a header: drop it, as sendmail does. */
		if (first && len >= 5 && memcmp(line, "From ", 5) == 0) {
			first = false;
			continue;
		}
		first = false;
		buf_append(msg, line, len);
		buf_append(msg, "\n", 1);
		if (msg->len > max) {
			fprintf(stderr, "petrel sendmail: message too large (the server accepts at "
				"most %zu bytes)\n", max);
			rc = EX_DATAERR;
			break;
		}
	}
	if (rc == 0 && ferror(stdin)) {
		fprintf(stderr, "petrel sendmail: reading the message: %s\n", strerror(errno));
		rc = EX_IOERR;
	}
	free(line);
	return rc;
}

/* sendmail_login_domain - the domain a bare login name gets: the hostname
 * if it is a local domain, else the first of [domains] local, so that mail
 * to "root" stays on this server (an alias can send it on) instead of
 * being relayed to a host name nobody receives for; the hostname when no
 * domain is local at all */
static const char *sendmail_login_domain(const struct config *config)
{
	if (config->local_domain_count == 0 ||
	    config_is_local_domain(config, config->hostname))
		return config->hostname;
	return config->local_domains[0];
}

/* sendmail_default_address - "login@HOSTNAME" of the real uid; *GECOS_R is
 * the full name from the password file (before its first comma), or NULL */
static char *sendmail_default_address(const char *hostname, char **gecos_r)
{
	struct passwd *pw = getpwuid(getuid());
	*gecos_r = NULL;
	if (!pw) {
		const char *env = getenv("LOGNAME");
		return xasprintf("%s@%s", env && *env ? env : "nobody", hostname);
	}
	if (pw->pw_gecos && pw->pw_gecos[0] != '\0' && pw->pw_gecos[0] != ',')
		*gecos_r = xstrndup(pw->pw_gecos, strcspn(pw->pw_gecos, ","));
	return xasprintf("%s@%s", pw->pw_name, hostname);
}

/* sendmail_normalize_sender - -f's value: "<a@b>" or "a@b"; "<>" or "" is
 * the null sender; a bare login name gets @HOSTNAME */
static char *sendmail_normalize_sender(const char *arg, const char *hostname)
{
	size_t len = strlen(arg);
	if (len >= 2 && arg[0] == '<' && arg[len - 1] == '>') {
		arg++;
		len -= 2;
	}
	if (len == 0)
		return xstrdup("");
	if (!memchr(arg, '@', len))
		return xasprintf("%.*s@%s", (int)len, arg, hostname);
	return xstrndup(arg, len);
}

/* sendmail_address_is_safe - nothing that could end or extend the SMTP
 * command it goes into: no controls (CR, LF), no angle brackets, no space
 * outside a quoted local part (a -f from a web form must not add a RCPT) */
static bool sendmail_address_is_safe(const char *addr)
{
	bool quoted = false, escaped = false, ok = true;
	for (const unsigned char *p = (const unsigned char *)addr; *p && ok; p++) {
		if (*p < 0x20 || *p == 0x7f || *p == '<' || *p == '>')
			ok = false;
		else if (escaped)
			escaped = false;
		else if (*p == '"')
			quoted = !quoted;
		else if (*p == '\\' && quoted)
			escaped = true;
		else if (*p == ' ' && !quoted)
			ok = false;
	}
	return ok && !quoted && !escaped;
}

/* sendmail_rcpt_add - once each (ASCII case-insensitive); a bare login
 * name gets @HOSTNAME, as with sendmail */
static void sendmail_rcpt_add(struct sendmail_rcpts *rcpts, const char *addr,
			      const char *hostname)
{
	char *full = strchr(addr, '@') ? xstrdup(addr) : xasprintf("%s@%s", addr, hostname);
	for (size_t i = 0; i < rcpts->count; i++) {
		if (strcasecmp(rcpts->items[i], full) == 0) {
			free(full);
			return;
		}
	}
	if (rcpts->count == rcpts->cap) {
		rcpts->cap = rcpts->cap ? rcpts->cap * 2 : 8;
		rcpts->items = xrealloc(rcpts->items, rcpts->cap * sizeof(char *));
	}
	rcpts->items[rcpts->count++] = full;
}

/* sendmail_rcpts_from_arg - "a@b", "<a@b>", "Name <a@b>, c@d" or "root" */
static int sendmail_rcpts_from_arg(struct sendmail_rcpts *rcpts, const char *arg,
				   const char *hostname)
{
	if (arg[strcspn(arg, "@<>,;:\"() \t")] == '\0' && arg[0] != '\0') {
		sendmail_rcpt_add(rcpts, arg, hostname);  /* a local login name */
		return 0;
	}
	char **list = message_address_list_parse(arg, strlen(arg));
	if (!list) {
		fprintf(stderr, "petrel sendmail: bad recipient address '%s'\n", arg);
		return EX_USAGE;
	}
	for (char **a = list; *a; a++)
		sendmail_rcpt_add(rcpts, *a, hostname);
	message_strv_free(&list);
	return 0;
}

/* sendmail_rcpts_bare_names - "To: root, admin": login names, which
 * sendmail accepts in headers too; false (nothing added) unless VALUE is
 * only such names separated by commas */
static bool sendmail_rcpts_bare_names(struct sendmail_rcpts *rcpts, const char *value,
				      const char *hostname)
{
	static const char name_chars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
					 "0123456789._-";
	char *copy = xstrdup(value), *save = NULL;
	size_t n = 0;
	bool ok = true;
	for (char *t = strtok_r(copy, ",", &save); t && ok; t = strtok_r(NULL, ",", &save)) {
		t += strspn(t, " \t");
		size_t len = strspn(t, name_chars);
		ok = len > 0 && t[len + strspn(t + len, " \t")] == '\0';
		n++;
	}
	if (ok && n > 0) {
		strcpy(copy, value);
		for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
			t += strspn(t, " \t");
			t[strspn(t, name_chars)] = '\0';
			sendmail_rcpt_add(rcpts, t, hostname);
		}
	}
	free(copy);
	return ok && n > 0;
}

/* sendmail_rcpts_from_headers - -t: every address of To:, Cc: and Bcc: */
static int sendmail_rcpts_from_headers(struct sendmail_rcpts *rcpts,
				       const struct message_headers *headers,
				       const char *hostname)
{
	static const char *const names[] = { "To", "Cc", "Bcc" };
	for (size_t n = 0; n < sizeof(names) / sizeof(names[0]); n++) {
		const struct message_header *f;
		for (size_t nth = 0; (f = message_header_find(headers, names[n], nth)); nth++) {
			char *value = message_header_unfold(f);
			size_t vlen = strlen(value);
			char **list = vlen ? message_address_list_parse(value, vlen) : NULL;
			if (!list && vlen && sendmail_rcpts_bare_names(rcpts, value, hostname)) {
				free(value);
				continue;
			}
			if (!list && vlen) {
				fprintf(stderr, "petrel sendmail: cannot read the addresses of the "
					"%s: header: %s\n", names[n], value);
				free(value);
				return EX_DATAERR;
			}
			free(value);
			for (char **a = list; a && *a; a++)
				sendmail_rcpt_add(rcpts, *a, hostname);
			message_strv_free(&list);
		}
	}
	return 0;
}

/* sendmail_build - the message to send (LF line ends): IN's header section
 * without Bcc:, the missing From:/Date:/Message-ID:, an empty line, the body.
 * A header section not ended by an empty line (a line that is no header
 * field, or none at all) gets one, so the body is never read as headers. */
static void sendmail_build(const struct buf *in, const struct message_headers *headers,
			   const char *from_addr, const char *name, const char *hostname,
			   struct buf *out)
{
	const char *data = in->data;
	size_t body = headers->body_offset;
	bool empty_line = !headers->malformed && body >= 1 && data[body - 1] == '\n' &&
			  (body == 1 || data[body - 2] == '\n');
	size_t section_end = empty_line ? body - 1 : body;
	size_t pos = 0;
	for (size_t i = 0; i < headers->count; i++) {
		const struct message_header *f = &headers->fields[i];
		if (f->name_len == 3 && strncasecmp(f->name, "Bcc", 3) == 0) {
			buf_append(out, data + pos, f->offset - pos);
			pos = f->offset + f->length;
		}
	}
	buf_append(out, data + pos, section_end - pos);
	if (out->len > 0 && out->data[out->len - 1] != '\n')
		buf_append(out, "\n", 1);
	if (!message_header_find(headers, "From", 0)) {
		buf_append_str(out, "From: ");
		if (name && *name) {
			message_phrase_write(name, "\n ", out);
			buf_printf(out, " <%s>\n", from_addr);
		} else {
			buf_printf(out, "%s\n", from_addr);
		}
	}
	if (!message_header_find(headers, "Date", 0)) {
		char date[64];
		message_date_format(time(NULL), date, sizeof(date));
		buf_printf(out, "Date: %s\n", date);
	}
	if (!message_header_find(headers, "Message-ID", 0)) {
		uint64_t rnd = 0;
		if (getrandom(&rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
			rnd = ((uint64_t)getpid() << 32) ^ (uint64_t)clock();
		buf_printf(out, "Message-ID: <%lld.%016llx@%s>\n", (long long)time(NULL),
			   (unsigned long long)rnd, hostname);
	}
	buf_append(out, "\n", 1);
	buf_append(out, data + body, in->len - body);
}

/* sendmail_connect - connect to the server's local listener */
static int sendmail_connect(const char *path, int *fd_r)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "petrel sendmail: socket path too long: %s\n", path);
		return EX_CONFIG;
	}
	strcpy(sun.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fprintf(stderr, "petrel sendmail: socket: %s\n", strerror(errno));
		return EX_OSERR;
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		int e = errno;
		close(fd);
		if (e == EACCES || e == EPERM)
			fprintf(stderr, "petrel sendmail: permission denied on %s\n", path);
		else
			fprintf(stderr, "petrel sendmail: the server is not running (cannot "
				"connect to %s: %s)\n", path, strerror(e));
		return EX_UNAVAILABLE;
	}
	struct timeval tv = { .tv_sec = SENDMAIL_TIMEOUT, .tv_usec = 0 };
	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0) {
		fprintf(stderr, "petrel sendmail: setsockopt: %s\n", strerror(errno));
		close(fd);
		return EX_OSERR;
	}
	*fd_r = fd;
	return 0;
}

/* sendmail_read_reply - one (multi-line) reply; code 0 if the connection
 * broke or the reply is malformed.  Returns 0 or -1 (code 0). */
static int sendmail_read_reply(struct sendmail_conn *c, unsigned timeout,
			       struct sendmail_reply *reply)
{
	struct timeval tv = { .tv_sec = timeout, .tv_usec = 0 };
	reply->code = 0;
	snprintf(reply->text, sizeof(reply->text), "connection to the server lost");
	if (setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0)
		return -1;
	for (;;) {
		char *lf = memchr(c->in, '\n', c->in_len);
		if (!lf) {
			if (c->in_len == sizeof(c->in)) {
				snprintf(reply->text, sizeof(reply->text), "reply line too long");
				return -1;
			}
			ssize_t n = recv(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len, 0);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				snprintf(reply->text, sizeof(reply->text), "timed out waiting for the "
					 "server");
			if (n <= 0)
				return -1;
			c->in_len += (size_t)n;
			continue;
		}
		size_t len = (size_t)(lf - c->in);
		size_t line_len = len > 0 && c->in[len - 1] == '\r' ? len - 1 : len;
		bool ok = line_len >= 3 && c->in[0] >= '2' && c->in[0] <= '5' &&
			  c->in[1] >= '0' && c->in[1] <= '9' && c->in[2] >= '0' && c->in[2] <= '9' &&
			  (line_len == 3 || c->in[3] == ' ' || c->in[3] == '-');
		bool last = ok && (line_len == 3 || c->in[3] == ' ');
		int code = ok ? (c->in[0] - '0') * 100 + (c->in[1] - '0') * 10 + (c->in[2] - '0') : 0;
		if (ok && line_len > 4) {
			const char *kw = c->in + 4;
			size_t kwlen = line_len - 4;
			if (kwlen >= 8 && strncasecmp(kw, "8BITMIME", 8) == 0)
				c->has_8bitmime = true;
			if (kwlen >= 8 && strncasecmp(kw, "SMTPUTF8", 8) == 0)
				c->has_smtputf8 = true;
		}
		snprintf(reply->text, sizeof(reply->text), "%.*s", (int)line_len, c->in);
		memmove(c->in, lf + 1, c->in_len - len - 1);
		c->in_len -= len + 1;
		if (!ok) {
			snprintf(reply->text, sizeof(reply->text), "malformed reply from the server");
			return -1;
		}
		if (last) {
			reply->code = code;
			return 0;
		}
	}
}

static int sendmail_write(int fd, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/* sendmail_command - send one command line, read its reply */
static int sendmail_command(struct sendmail_conn *c, struct sendmail_reply *reply,
			    const char *fmt, ...)
{
	va_list ap;
	buf_reset(&c->out);
	va_start(ap, fmt);
	buf_vprintf(&c->out, fmt, ap);
	va_end(ap);
	buf_append(&c->out, "\r\n", 2);
	if (sendmail_write(c->fd, c->out.data, c->out.len) != 0) {
		/* The server may have said why it closed (421): read it. */
		if (sendmail_read_reply(c, 5, reply) != 0)
			snprintf(reply->text, sizeof(reply->text), "connection to the server lost");
		return -1;
	}
	return sendmail_read_reply(c, SENDMAIL_TIMEOUT, reply);
}

/* sendmail_exit_for - the exit status for a refusal with reply CODE */
static int sendmail_exit_for(int code)
{
	if (code >= 400 && code < 500)
		return EX_TEMPFAIL;
	if (code >= 500)
		return EX_UNAVAILABLE;
	return EX_PROTOCOL;
}

static bool sendmail_has_8bit(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] >= 0x80)
			return true;
	return false;
}

/* sendmail_submit - one SMTP transaction on PATH: exit status */
static int sendmail_submit(const char *path, const char *hostname, const char *sender,
			   const struct sendmail_rcpts *rcpts, const struct buf *msg)
{
	struct sendmail_conn c = { .fd = -1 };
	struct sendmail_reply r;
	int rc = sendmail_connect(path, &c.fd);
	if (rc != 0)
		return rc;
	buf_init(&c.out);
	if (sendmail_read_reply(&c, SENDMAIL_TIMEOUT, &r) != 0 || r.code != 220) {
		rc = r.code ? sendmail_exit_for(r.code) : EX_TEMPFAIL;
		goto refused;
	}
	if (sendmail_command(&c, &r, "EHLO %s", hostname) != 0 || r.code != 250) {
		if (r.code == 0 || sendmail_command(&c, &r, "HELO %s", hostname) != 0 ||
		    r.code != 250) {
			rc = r.code ? sendmail_exit_for(r.code) : EX_TEMPFAIL;
			goto refused;
		}
	}
	bool utf8 = sendmail_has_8bit(sender, strlen(sender));
	for (size_t i = 0; i < rcpts->count && !utf8; i++)
		utf8 = sendmail_has_8bit(rcpts->items[i], strlen(rcpts->items[i]));
	bool eight = sendmail_has_8bit(msg->data, msg->len);
	if (sendmail_command(&c, &r, "MAIL FROM:<%s>%s%s", sender,
			     eight && c.has_8bitmime ? " BODY=8BITMIME" : "",
			     utf8 && c.has_smtputf8 ? " SMTPUTF8" : "") != 0 || r.code != 250) {
		rc = r.code ? sendmail_exit_for(r.code) : EX_TEMPFAIL;
		goto refused;
	}
	size_t accepted = 0;
	int rcpt_rc = 0;
	for (size_t i = 0; i < rcpts->count; i++) {
		if (sendmail_command(&c, &r, "RCPT TO:<%s>", rcpts->items[i]) != 0) {
			rc = EX_TEMPFAIL;
			goto refused;
		}
		if (r.code == 250 || r.code == 251) {
			accepted++;
			continue;
		}
		fprintf(stderr, "petrel sendmail: %s: %s\n", rcpts->items[i], r.text);
		if (r.code >= 400 && r.code < 500)
			rcpt_rc = EX_TEMPFAIL;
		else if (rcpt_rc == 0)
			rcpt_rc = EX_NOUSER;
	}
	if (accepted == 0) {
		rc = rcpt_rc ? rcpt_rc : EX_PROTOCOL;
		goto quit;
	}
	if (sendmail_command(&c, &r, "DATA") != 0 || r.code != 354) {
		rc = r.code ? sendmail_exit_for(r.code) : EX_TEMPFAIL;
		goto refused;
	}
	/* LF -> CRLF and dot-stuffing (RFC 5321 4.5.2), in one pass */
	buf_reset(&c.out);
	const char *p = msg->data, *end = msg->data + msg->len;
	while (p < end) {
		const char *lf = memchr(p, '\n', (size_t)(end - p));
		size_t len = lf ? (size_t)(lf - p) : (size_t)(end - p);
		if (len > 0 && p[0] == '.')
			buf_append(&c.out, ".", 1);
		buf_append(&c.out, p, len);
		buf_append(&c.out, "\r\n", 2);
		p += len + (lf ? 1 : 0);
	}
	buf_append(&c.out, ".\r\n", 3);
	if (sendmail_write(c.fd, c.out.data, c.out.len) != 0) {
		if (sendmail_read_reply(&c, 5, &r) != 0 || r.code < 400)
			snprintf(r.text, sizeof(r.text), "connection to the server lost");
		rc = r.code >= 500 ? EX_DATAERR : EX_TEMPFAIL;
		goto refused;
	}
	if (sendmail_read_reply(&c, SENDMAIL_DATA_TIMEOUT, &r) != 0 || r.code != 250) {
		/* 5xx to the data: this message is refused (size, content) */
		rc = r.code >= 500 ? EX_DATAERR : EX_TEMPFAIL;
		goto refused;
	}
	rc = rcpt_rc;
quit:
	sendmail_command(&c, &r, "QUIT");
	goto out;
refused:
	fprintf(stderr, "petrel sendmail: the server refused the message: %s\n", r.text);
	if (r.code != 0)
		sendmail_command(&c, &r, "QUIT");
out:
	if (close(c.fd) != 0 && rc == 0) {
		fprintf(stderr, "petrel sendmail: close: %s\n", strerror(errno));
		rc = EX_IOERR;
	}
	buf_free(&c.out);
	return rc;
}

/* sendmail_smtp_stdio - -bs: relay stdin/stdout and the server's socket
 * byte for byte; the SMTP dialogue is the caller's (it must send CRLF) */
static int sendmail_smtp_stdio(const char *path)
{
	int fd;
	int rc = sendmail_connect(path, &fd);
	if (rc != 0)
		return rc;
	struct pollfd pfd[2] = { { .fd = STDIN_FILENO, .events = POLLIN },
				 { .fd = fd, .events = POLLIN } };
	char chunk[16384];
	bool stdin_open = true;
	for (;;) {
		pfd[0].fd = stdin_open ? STDIN_FILENO : -1;
		/* After the end of stdin the server still answers what it was sent
		 * (pipelined commands, QUIT): the write side stays open, since a
		 * half-close would end the session before those are read; we wait
		 * until the server closes or has been silent for a while. */
		int ready = poll(pfd, 2, (stdin_open ? SENDMAIL_DATA_TIMEOUT : SENDMAIL_BS_LINGER) * 1000);
		if (ready < 0 && errno == EINTR)
			continue;
		if (ready <= 0) {
			if (stdin_open)
				rc = EX_TEMPFAIL;
			break;
		}
		if (stdin_open && (pfd[0].revents & (POLLIN | POLLHUP | POLLERR))) {
			ssize_t n = read(STDIN_FILENO, chunk, sizeof(chunk));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				stdin_open = false;
			else if (sendmail_write(fd, chunk, (size_t)n) != 0) {
				break;  /* the server closed: its last words follow */
			}
		}
		if (pfd[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			if (fwrite(chunk, 1, (size_t)n, stdout) != (size_t)n || fflush(stdout) != 0) {
				rc = EX_IOERR;
				break;
			}
		}
	}
	if (close(fd) != 0 && rc == 0)
		rc = EX_IOERR;
	return rc;
}

int cmd_sendmail(int argc, char **argv)
{
	struct sendmail_opts opts = { 0 };
	struct sendmail_rcpts rcpts = { 0 };
	struct message_headers headers = { 0 };
	struct buf in, out;
	char *sender = NULL, *default_addr = NULL, *gecos = NULL;
	const char *error = NULL;
	struct config *config = NULL;
	int rc = sendmail_parse_args(argc, argv, &opts);
	buf_init(&in);
	buf_init(&out);
	if (rc != 0)
		goto out;
	config = config_load(opts.config_file, &error);
	if (!config) {
		fprintf(stderr, "petrel sendmail: %s\n", error);
		rc = EX_CONFIG;
		goto out;
	}
	const char *path = sendmail_socket_path(config);
	if (!path) {
		fprintf(stderr, "petrel sendmail: no [listener] with role local in %s\n",
			opts.config_file);
		rc = EX_CONFIG;
		goto out;
	}
	if (opts.smtp_stdio) {
		if (opts.rcpt_arg_count > 0 || opts.extract) {
			rc = sendmail_usage("-bs takes no recipients", NULL);
			goto out;
		}
		rc = sendmail_smtp_stdio(path);
		goto out;
	}
	const char *login_domain = sendmail_login_domain(config);
	if (!opts.extract && opts.rcpt_arg_count == 0) {
		fputs("petrel sendmail: no recipients (give addresses, or -t to read them from "
		      "the message)\n", stderr);
		rc = EX_USAGE;
		goto out;
	}
	for (size_t i = 0; i < opts.rcpt_arg_count; i++)
		if ((rc = sendmail_rcpts_from_arg(&rcpts, opts.rcpt_args[i], login_domain)))
			goto out;
	if ((rc = sendmail_read_input(opts.ignore_dots, config->limits.message_size, &in)))
		goto out;
	message_headers_parse(in.data ? in.data : "", in.len, &headers);
	if (opts.extract &&
	    (rc = sendmail_rcpts_from_headers(&rcpts, &headers, login_domain)))
		goto out;
	if (rcpts.count == 0) {
		fputs("petrel sendmail: no recipients in the message\n", stderr);
		rc = EX_DATAERR;
		goto out;
	}
	for (size_t i = 0; i < rcpts.count; i++) {
		if (!sendmail_address_is_safe(rcpts.items[i])) {
			fprintf(stderr, "petrel sendmail: bad recipient address\n");
			rc = EX_DATAERR;
			goto out;
		}
	}
	default_addr = sendmail_default_address(login_domain, &gecos);
	sender = opts.sender ? sendmail_normalize_sender(opts.sender, login_domain) :
			       xstrdup(default_addr);
	if (!sendmail_address_is_safe(sender)) {
		fprintf(stderr, "petrel sendmail: bad sender address (-f)\n");
		rc = EX_USAGE;
		goto out;
	}
	sendmail_build(&in, &headers, sender[0] ? sender : default_addr,
		       opts.full_name ? opts.full_name : gecos, config->hostname, &out);
	rc = sendmail_submit(path, config->hostname, sender, &rcpts, &out);
out:
	for (size_t i = 0; i < rcpts.count; i++)
		free(rcpts.items[i]);
	free(rcpts.items);
	free(opts.rcpt_args);
	message_headers_free(&headers);
	buf_free(&in);
	buf_free(&out);
	free(sender);
	free(default_addr);
	free(gecos);
	config_free(&config);
	return rc;
}
