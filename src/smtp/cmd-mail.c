/* smtp/cmd-mail - the mail transaction: MAIL, RCPT, DATA, BDAT and what
 * happens when a message is complete.
 *
 * MAIL and RCPT ask policy/ on a worker (sender identities, recipient
 * validation, relay rules, sending limits); the session waits meanwhile, so
 * pipelined commands are answered in order (RFC 2920).  A message is
 * checked (size, line ends, NUL, loops, the quota of its local mailboxes,
 * From: for authenticated senders), given its Received: header and handed
 * to the queue, which answers once it is durable.  Sending-limit units taken by RCPTs are given back when the
 * transaction ends without a stored message, so nothing is counted twice.
 */
#include "smtp/session.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "config/config.h"
#include "keysd/keysd.h"
#include "mailbox/mailbox.h"
#include "policy/policy.h"
#include "queue/queue.h"
#include "util/log.h"
#include "util/pool.h"
#include "util/xalloc.h"

/* The queue keeps these values as they are. */
_Static_assert(WIRE_NOTIFY_NEVER == QUEUE_NOTIFY_NEVER && WIRE_NOTIFY_SUCCESS == QUEUE_NOTIFY_SUCCESS &&
	       WIRE_NOTIFY_FAILURE == QUEUE_NOTIFY_FAILURE && WIRE_NOTIFY_DELAY == QUEUE_NOTIFY_DELAY &&
	       SMTP_RET_HDRS == QUEUE_RET_HDRS && SMTP_BODY_8BITMIME == QUEUE_BODY_8BITMIME,
	       "queue.h and wire.h or smtp/parse.h disagree");

struct mail_job {
	struct smtp_job job;
	struct smtp_path path;
	struct smtp_mail_params params;
	struct policy_account *account;   /* borrowed from the session: see below */
	bool submission;
	struct policy_reply reply;
};

struct smtp_quota_check {
	char **mailboxes;
	size_t count;
	uint64_t bytes;
	bool full;               /* none of them can take it */
};

struct rcpt_job {
	struct smtp_job job;
	struct smtp_path path;
	struct smtp_rcpt_params params;
	char *address;
	struct policy_account *account;
	time_t now;
	bool from_node;          /* on the listener of [cluster] mail */
	struct policy_rcpt result;
	bool quota_unlimited;    /* a mailbox of it has no quota: any size fits */
};

struct from_job {
	struct smtp_job job;
	struct buf message;               /* the body, moved from the session */
	struct policy_account *account;
	char *sender;                     /* the envelope sender MAIL FROM allowed */
	bool check_from, sign;
	struct policy_reply reply;
	int signatures;                   /* DKIM signatures added, -1: failed */
	const char *sign_error;
};

struct release_job {
	struct smtp_server *server;
	uint64_t session_id;  /* the session that waits for it, or 0 */
	struct store *store;
	struct policy_account account;
	unsigned n;
	time_t at;
};

static bool can_take_body(struct smtp_session *s);
static void bdat_complete(struct smtp_session *s);
static void mail_work(struct smtp_job *job);
static void mail_done(struct smtp_session *s, struct smtp_job *job);
static void mail_free(struct smtp_job *job);
static void rcpt_work(struct smtp_job *job);
static bool quota_all_full(const char *data_dir, char *const *mailboxes, size_t n,
			   uint64_t bytes, bool *unlimited_r);
static void quota_only_work(struct smtp_job *job);
static void quota_only_done(struct smtp_session *s, struct smtp_job *job);
static void quota_only_free(struct smtp_job *job);
static void message_checked(struct smtp_session *s);
static void rcpt_done(struct smtp_session *s, struct smtp_job *job);
static void rcpt_free(struct smtp_job *job);
static void from_work(struct smtp_job *job);
static void from_done(struct smtp_session *s, struct smtp_job *job);
static void from_free(struct smtp_job *job);
static void release_post(struct smtp_server *server, uint64_t session_id,
			 const struct policy_account *account, unsigned n, time_t at);
static void release_work(void *arg);
static void release_done(void *arg);
static void message_complete(struct smtp_session *s, bool too_big, bool nul,
			     bool line_too_long, bool bare_newline);
static void queue_done(void *ctx, int status, const char *queue_id, const char *error);
static unsigned count_received(const struct buf *body);
static void received_header(struct smtp_session *s, const struct queue_envelope *env,
			    struct buf *out);
static void reject_logged(struct smtp_session *s, const char *recipient,
			  const struct policy_reply *reply, const char *what);

/* Sessions outlive their jobs' DONE only while the job runs; a job that needs
 * the account copies what it reads (policy_account_copy: it is small), so a
 * session closed meanwhile cannot leave a dangling pointer. */

/* smtp_data_read - feed DATA bytes to the unstuffing reader */
bool smtp_data_read(struct smtp_session *s, struct evbuffer *in)
{
	struct evbuffer_iovec vec[8];
	int n = evbuffer_peek(in, -1, NULL, vec, 8);
	if (n > 8)
		n = 8;
	size_t total = 0;
	for (int i = 0; i < n; i++) {
		size_t consumed = 0;
		int done = smtp_data_feed(&s->reader, vec[i].iov_base, vec[i].iov_len,
					  &consumed, &s->body);
		total += consumed;
		if (done == 1) {
			evbuffer_drain(in, total);
			s->mode = MODE_COMMAND;
			smtp_session_set_timeout(s, s->config->timeouts.command);
			message_complete(s, s->reader.too_big, s->reader.nul,
						 s->reader.line_too_long,
						 s->reader.bare_lf || s->reader.bare_cr);
			return true;
		}
	}
	evbuffer_drain(in, total);
	return total > 0;
}

/* bdat_complete - BDAT LAST is in: the reader's findings decide, its size
 * too: the per-chunk check in smtp_bdat_read sees the kept body, which lacks
 * a CR held back at a chunk's end, so a message one byte over can pass it */
static void bdat_complete(struct smtp_session *s)
{
	smtp_data_finish(&s->reader, &s->body);
	message_complete(s, s->reader.too_big, s->reader.nul, s->reader.line_too_long,
			 s->reader.bare_lf || s->reader.bare_cr);
}

/* smtp_bdat_read - take raw chunk bytes (RFC 3030 2: no dot-stuffing) */
bool smtp_bdat_read(struct smtp_session *s, struct evbuffer *in)
{
	size_t avail = evbuffer_get_length(in);
	size_t take = s->bdat_left < avail ? (size_t)s->bdat_left : avail;
	if (take == 0)
		return false;
	if (!s->bdat_discard) {
		size_t max = s->config->limits.message_size;
		if (s->body.len + take > max) {
			s->bdat_discard = true;
			s->bdat_error = (struct smtp_error){ 552, "5.3.4",
				"Message size exceeds fixed maximum message size" };
		}
	}
	while (take > 0) {
		struct evbuffer_iovec vec;
		if (evbuffer_peek(in, (ev_ssize_t)take, NULL, &vec, 1) < 1)
			break;
		size_t n = vec.iov_len < take ? vec.iov_len : take;
		if (!s->bdat_discard) {
			/* raw: it takes all N bytes and never ends on its own */
			size_t consumed;
			(void)smtp_data_feed(&s->reader, vec.iov_base, n, &consumed, &s->body);
		}
		evbuffer_drain(in, n);
		s->bdat_left -= n;
		take -= n;
	}
	if (s->bdat_left > 0)
		return true;

	/* The whole chunk is in. */
	s->mode = MODE_COMMAND;
	smtp_session_set_timeout(s, s->config->timeouts.command);
	if (s->bdat_discard) {
		smtp_session_reply_error(s, &s->bdat_error);
		smtp_session_transaction_reset(s);
		return true;
	}
	if (!s->bdat_last) {
		smtp_session_reply(s, "250 2.0.0 %llu octets received",
			      (unsigned long long)s->bdat_size);
		return true;
	}
	bdat_complete(s);
	return true;
}

void smtp_cmd_mail(struct smtp_session *s, const struct smtp_command *cmd)
{
	if (!s->helo) {
		smtp_session_reply(s, "503 5.5.1 Send EHLO or HELO first");
		smtp_session_count_error(s);
		return;
	}
	if (s->has_mail) {
		smtp_session_reply(s, "503 5.5.1 Nested MAIL command");
		smtp_session_count_error(s);
		return;
	}
	bool submission = s->listener->role != LISTENER_ROLE_MX;
	if (submission && !s->account) {
		/* RFC 4954 6: submission needs AUTH first. */
		smtp_session_reply(s, "530 5.7.0 Authentication required");
		smtp_session_count_error(s);
		return;
	}
	struct mail_job *j = xcalloc(1, sizeof(*j));
	struct smtp_error err;
	if (smtp_mail_args_parse(cmd->args, cmd->args_len, &j->path, &j->params, &err) != 0) {
		mail_free(&j->job);
		smtp_session_reply_error(s, &err);
		return;
	}
	if (j->params.junk && !smtp_session_is_from_node(s)) {
		/* Petrel's own, between its nodes: unknown to everyone else */
		mail_free(&j->job);
		smtp_session_reply(s, "555 5.5.4 Unknown MAIL parameter");
		smtp_session_count_error(s);
		return;
	}
	if (!s->esmtp && (j->params.size || j->params.body || j->params.smtputf8 ||
			  j->params.ret || j->params.envid || j->params.auth || j->params.junk)) {
		/* RFC 5321 4.1.1.11: parameters need EHLO. */
		mail_free(&j->job);
		smtp_session_reply(s, "555 5.5.4 MAIL parameters require EHLO");
		smtp_session_count_error(s);
		return;
	}
	if (j->params.size > s->config->limits.message_size) {
		mail_free(&j->job);
		/* RFC 1870 6.1 */
		smtp_session_reply(s, "552 5.3.4 Message size exceeds fixed maximum message size");
		return;
	}
	j->job.done = mail_done;
	j->job.free = mail_free;
	if (s->account) {
		/* the sender policy; unauthenticated on mx there is none */
		j->job.work = mail_work;
		j->account = policy_account_copy(s->account);
		j->submission = submission;
	}
	/* the SMTP-time checks (checks.c), then the job */
	smtp_checks_mail(s, &j->job, j->path.address, &j->reply);
}

static void mail_work(struct smtp_job *job)
{
	struct mail_job *j = (struct mail_job *)job;
	policy_check_sender_blocking(job->server->store, j->account, j->submission,
				     j->path.address, &j->reply);
}

static void mail_done(struct smtp_session *s, struct smtp_job *job)
{
	struct mail_job *j = (struct mail_job *)job;
	if (j->reply.code != 0) {
		reject_logged(s, NULL, &j->reply, "sender");
		return;
	}
	s->from = j->path;
	s->mail = j->params;
	memset(&j->path, 0, sizeof(j->path));
	memset(&j->params, 0, sizeof(j->params));
	s->has_mail = true;
	s->env = queue_envelope_new();
	free(s->env->sender);
	s->env->sender = xstrdup(s->from.address);
	/* mx without AUTH: SPF starts (verify.c), which may give the answer */
	if (!smtp_verify_mail(s))
		smtp_session_reply(s, "250 2.1.0 Ok");
}

static void mail_free(struct smtp_job *job)
{
	struct mail_job *j = (struct mail_job *)job;
	smtp_path_clear(&j->path);
	smtp_mail_params_clear(&j->params);
	policy_account_free(&j->account);
	free(j);
}

/* reject_logged - send a policy refusal, log it and record the event */
static void reject_logged(struct smtp_session *s, const char *recipient,
			  const struct policy_reply *reply, const char *what)
{
	char to[300];
	log_escape(to, sizeof(to), recipient ? recipient : "", recipient ? strlen(recipient) : 0);
	log_info("rejected", "session=%s client=%s account=%s %s=%s code=%d reason=\"%s\"",
		 s->sid, s->client, s->account ? s->account->name : "-", what, to, reply->code,
		 reply->text);
	smtp_session_event(s, "rejected", NULL, recipient, reply->code, reply->text);
	smtp_session_reply(s, "%d %s %s", reply->code, reply->enhanced, reply->text);
	if (reply->code >= 500)
		smtp_session_count_error(s);
}

void smtp_cmd_rcpt(struct smtp_session *s, const struct smtp_command *cmd)
{
	if (!s->has_mail) {
		smtp_session_reply(s, "503 5.5.1 Need MAIL before RCPT");
		smtp_session_count_error(s);
		return;
	}
	if (s->bdat_used) {
		smtp_session_reply(s, "503 5.5.1 RCPT after BDAT");
		smtp_session_count_error(s);
		return;
	}
	s->rcpt_tried++;
	struct rcpt_job *j = xcalloc(1, sizeof(*j));
	j->job.work = rcpt_work;
	j->job.done = rcpt_done;
	j->job.free = rcpt_free;
	struct smtp_error err;
	if (smtp_rcpt_args_parse(cmd->args, cmd->args_len, s->mail.smtputf8, &j->path, &j->params,
				 &err) != 0) {
		rcpt_free(&j->job);
		smtp_session_reply_error(s, &err);
		return;
	}
	if (smtp_verifier_rcpt(s, j->path.address)) {
		rcpt_free(&j->job);
		return;
	}
	if (s->env->rcpt_count >= s->config->limits.recipients) {
		/* RFC 5321 4.5.3.1.10: 452, and the client sends the rest later. */
		rcpt_free(&j->job);
		smtp_session_reply(s, "452 4.5.3 Too many recipients");
		return;
	}
	if (smtp_forward_rcpt(s, &j->path, &j->params)) {
		rcpt_free(&j->job);
		return;
	}
	j->from_node = config_listener_is_cluster_mail(s->config, s->listener);
	if (j->from_node && !smtp_session_is_from_node(s)) {
		/* the nodes' own path: no mail from anyone else (scaling.md) */
		struct policy_reply reply = { .code = 550, .enhanced = "5.7.1" };
		snprintf(reply.text, sizeof(reply.text), "<%s>: this listener takes mail from the"
			 " Petrel nodes only ([cluster] from)", j->path.address);
		reject_logged(s, j->path.address, &reply, "to");
		rcpt_free(&j->job);
		return;
	}
	/* "Postmaster" alone (RFC 5321 4.5.1) is resolved by policy/ too */
	j->address = xstrdup(j->path.address);
	j->account = policy_account_copy(s->account);
	j->now = time(NULL);
	smtp_session_async(s, &j->job);
}

/* quota_all_full - none of MAILBOXES (N > 0) can take BYTES more
 * (mailbox_quota_check); a quota that cannot be read counts as not full:
 * the queue's delivery checks again and defers.  *UNLIMITED_R true when
 * the first mailbox found to take it has no limit at all (then any message
 * fits, however large: the end of data need not check again). */
static bool quota_all_full(const char *data_dir, char *const *mailboxes, size_t n,
			   uint64_t bytes, bool *unlimited_r)
{
	*unlimited_r = false;
	for (size_t i = 0; i < n; i++) {
		struct mailbox_error error;
		bool limited;
		if (mailbox_quota_check_limited(data_dir, mailboxes[i], bytes, 1, &limited,
						&error) == 0) {
			*unlimited_r = !limited;
			return false;
		}
		if (error.code != MAILBOX_ERROR_OVERQUOTA)
			return false;
	}
	return true;
}

static void rcpt_work(struct smtp_job *job)
{
	struct rcpt_job *j = (struct rcpt_job *)job;
	policy_check_rcpt_blocking(job->server->store, job->server->config, j->account,
				   j->address, j->now, &j->result);
	if (j->from_node && j->result.reply.code == 0 && j->result.local)
		policy_check_home_blocking(job->server->store, job->server->config,
					   j->result.mailboxes, &j->result.reply);
	/* RFC 3463 3.3 X.2.2: a mailbox that is full already refuses now,
	 * with a temporary code (RFC 5321 4.2.5's 452), so that the client
	 * keeps the message for its other recipients and tries this one
	 * later.  An alias is refused only when all its mailboxes are full;
	 * the postmaster never is (RFC 5321 4.5.1: the queue holds its mail);
	 * nor a sandboxed account's recipient, whose mailbox never gets it. */
	if (j->result.reply.code != 0 || !j->result.local || j->result.postmaster ||
	    !j->result.mailboxes || (j->account && j->account->sandbox))
		return;
	size_t n = 0;
	while (j->result.mailboxes[n])
		n++;
	if (n > 0 && quota_all_full(job->server->config->data_dir, j->result.mailboxes, n, 1,
				    &j->quota_unlimited)) {
		j->result.reply.code = 452;
		snprintf(j->result.reply.enhanced, sizeof(j->result.reply.enhanced), "4.2.2");
		snprintf(j->result.reply.text, sizeof(j->result.reply.text),
			 "Mailbox full: over its quota, try again later");
	}
}

static void rcpt_done(struct smtp_session *s, struct smtp_job *job)
{
	struct rcpt_job *j = (struct rcpt_job *)job;
	if (j->result.reply.code != 0) {
		reject_logged(s, j->address, &j->result.reply, "to");
		return;
	}
	size_t adding = 1;
	if (j->result.local) {
		adding = 0;
		while (j->result.mailboxes && j->result.mailboxes[adding])
			adding++;
	}
	if (s->env->rcpt_count + adding > s->config->limits.recipients) {
		/* The limit bounds what the message is delivered to, aliases
		 * expanded: RFC 5321 4.5.3.1.10's 452, and nothing of this RCPT
		 * is kept (rcpt_free gives its sending-limit unit back). */
		smtp_session_reply(s, "452 4.5.3 Too many recipients");
		return;
	}
	if (j->result.reserved) {
		if (s->reserved == 0)
			s->reserved_at = j->now;
		s->reserved++;
		j->result.reserved = false;
	}
	if (!j->result.local) {
		queue_envelope_add_rcpt(s->env, j->address, j->params.notify, j->params.orcpt);
	} else {
		/* An alias or a +tag delivers to mailboxes; RFC 3461 ORCPT keeps
		 * the address the client gave. */
		char *orcpt = j->params.orcpt ? xstrdup(j->params.orcpt) :
			strchr(j->address, '@') ? xasprintf("rfc822;%s", j->address) : NULL;
		for (size_t i = 0; j->result.mailboxes && j->result.mailboxes[i]; i++) {
			const char *mbox = j->result.mailboxes[i];
			bool same = strcasecmp(mbox, j->address) == 0;
			queue_envelope_add_rcpt(s->env, mbox, j->params.notify,
						same ? j->params.orcpt : orcpt);
			smtp_forward_note(s, mbox, j->address);
			if (!j->result.postmaster && !(s->account && s->account->sandbox))
				s->quota_mailbox_count++;
		}
		if (j->quota_unlimited)
			s->quota_unlimited = true;
		free(orcpt);
	}
	if (!j->result.postmaster)
		s->rcpt_other = true;
	smtp_session_reply(s, "250 2.1.5 Ok");
}

static void rcpt_free(struct smtp_job *job)
{
	struct rcpt_job *j = (struct rcpt_job *)job;
	if (j->result.reserved)
		/* not kept (a 452, or the session is gone): give it back */
		release_post(job->server, job->session_id, j->account, 1, j->now);
	policy_rcpt_clear(&j->result);
	smtp_path_clear(&j->path);
	smtp_rcpt_params_clear(&j->params);
	free(j->address);
	policy_account_free(&j->account);
	free(j);
}

/* can_take_body - the checks DATA and BDAT share; replies on failure */
static bool can_take_body(struct smtp_session *s)
{
	if (!s->has_mail) {
		smtp_session_reply(s, "503 5.5.1 Need MAIL command");
		smtp_session_count_error(s);
		return false;
	}
	if (s->env->rcpt_count == 0 && !s->verifier) {
		if (s->rcpt_tried > 0)
			smtp_session_reply(s, "554 5.5.1 No valid recipients");
		else
			smtp_session_reply(s, "503 5.5.1 Need RCPT command");
		smtp_session_count_error(s);
		return false;
	}
	return true;
}

void smtp_cmd_data(struct smtp_session *s, const struct smtp_command *cmd)
{
	if (cmd->args_len > 0) {
		smtp_session_reply(s, "501 5.5.4 Syntax: DATA");
		smtp_session_count_error(s);
		return;
	}
	if (s->bdat_used) {
		/* RFC 3030 2: DATA and BDAT may not be mixed in one transaction. */
		smtp_session_reply(s, "503 5.5.1 DATA not allowed after BDAT");
		smtp_session_count_error(s);
		return;
	}
	if (!can_take_body(s))
		return;
	smtp_data_reader_init(&s->reader, s->config->limits.message_size,
			      s->config->limits.text_line);
	buf_reset(&s->body);
	s->mode = MODE_DATA;
	smtp_session_set_timeout(s, s->config->timeouts.data_block);
	smtp_session_reply(s, "354 End data with <CR><LF>.<CR><LF>");
}

void smtp_cmd_bdat(struct smtp_session *s, const struct smtp_command *cmd)
{
	uint64_t size = 0;
	bool last = false;
	struct smtp_error err;
	if (smtp_bdat_args_parse(cmd->args, cmd->args_len, &size, &last, &err) != 0) {
		/* Without a size the chunk cannot be skipped: the stream is lost. */
		smtp_session_reply_error(s, &err);
		smtp_session_reply(s, "421 4.5.0 %s Unparseable BDAT size, closing connection",
			      s->config->hostname);
		smtp_session_close(s);
		return;
	}
	s->bdat_left = size;
	s->bdat_size = size;
	s->bdat_last = last;
	s->bdat_discard = false;
	if (!s->has_mail) {
		s->bdat_discard = true;
		s->bdat_error = (struct smtp_error){ 503, "5.5.1", "Need MAIL command" };
	} else if (s->env->rcpt_count == 0 && !s->verifier) {
		s->bdat_discard = true;
		s->bdat_error = s->rcpt_tried ?
			(struct smtp_error){ 554, "5.5.1", "No valid recipients" } :
			(struct smtp_error){ 503, "5.5.1", "Need RCPT command" };
	}
	if (!s->bdat_discard && !s->bdat_used) {
		/* the first chunk of the message: the DATA reader in raw mode */
		smtp_data_reader_init(&s->reader, s->config->limits.message_size,
				      s->config->limits.text_line);
		s->reader.raw = true;
	}
	if (!s->bdat_discard)
		s->bdat_used = true;
	s->mode = MODE_BDAT;
	smtp_session_set_timeout(s, s->config->timeouts.data_block);
	if (size == 0) {
		/* A zero-length chunk is complete at once. */
		s->mode = MODE_COMMAND;
		smtp_session_set_timeout(s, s->config->timeouts.command);
		if (s->bdat_discard) {
			smtp_session_reply_error(s, &s->bdat_error);
			smtp_session_transaction_reset(s);
		} else if (!last) {
			smtp_session_reply(s, "250 2.0.0 0 octets received");
		} else {
			bdat_complete(s);
		}
	}
}

/* ---- the end of a message ------------------------------------------------------------ */

/* release_post - give back N sending-limit units on a worker.  A session still
 * open (SESSION_ID) reads no further command until they are back in the store:
 * its next RCPT's reservation runs on another worker and must see them. */
static void release_post(struct smtp_server *server, uint64_t session_id,
			 const struct policy_account *account, unsigned n, time_t at)
{
	if (!account || n == 0 || !server->store)
		return;
	struct release_job *r = xcalloc(1, sizeof(*r));
	r->server = server;
	r->store = server->store;
	r->account = *account;
	r->account.name = xstrdup(account->name);
	r->n = n;
	r->at = at;
	struct smtp_session *s = session_id ? smtp_server_session_find(server, session_id) : NULL;
	if (s && !s->conn.dead) {
		r->session_id = session_id;
		s->releases_in_flight++;
	}
	pool_submit(server->pool, release_work, release_done, r);
}

static void release_work(void *arg)
{
	struct release_job *r = arg;
	policy_release_blocking(r->store, &r->account, r->n, r->at);
}

/* release_done - back on the loop: the session that waited reads on */
static void release_done(void *arg)
{
	struct release_job *r = arg;
	struct smtp_session *s = r->session_id ?
		smtp_server_session_find(r->server, r->session_id) : NULL;
	free(r->account.name);
	free(r);
	if (!s || s->conn.dead)
		return;
	assert(s->releases_in_flight > 0);
	if (--s->releases_in_flight == 0 && !s->waiting)
		smtp_session_process_input(s);
}

void smtp_session_release_reserved(struct smtp_session *s)
{
	release_post(s->server, s->id, s->account, s->reserved, s->reserved_at);
	s->reserved = 0;
}

/* message_complete - the body is in: check it, then the From: header, then queue */
static void message_complete(struct smtp_session *s, bool too_big, bool nul,
			     bool line_too_long, bool bare_newline)
{
	const char *reject = NULL;
	clock_gettime(CLOCK_MONOTONIC, &s->data_end);
	if (too_big)
		reject = "552 5.3.4 Message size exceeds fixed maximum message size";
	else if (bare_newline && s->config->limits.bare_newline == BARE_NEWLINE_REJECT)
		reject = "550 5.5.2 Message contains bare CR or LF (only CRLF may end a line)";
	else if (nul)
		reject = "554 5.6.0 Message contains NUL characters";
	else if (line_too_long)
		reject = "554 5.6.0 Message contains a line longer than the limit (RFC 5321 4.5.3.1.6)";
	else if (count_received(&s->body) >= s->config->limits.received_headers)
		reject = "554 5.4.6 Too many Received headers: mail loop detected";
	if (reject) {
		log_info("rejected", "session=%s client=%s size=%zu reply=\"%.3s\" reason=\"%s\"",
			 s->sid, s->client, s->body.len, reject, reject + 10);
		smtp_session_event(s, "rejected", NULL, NULL, atoi(reject), reject + 10);
		smtp_session_reply(s, "%s", reject);
		smtp_session_count_error(s);
		smtp_session_transaction_reset(s);
		return;
	}
	/* Only a message whose every recipient is a mailbox with a quota can
	 * be refused for it (smtp_quota_check_refuse); the envelope's
	 * recipients are then those mailboxes.  Not when RCPT found one of
	 * them without any limit (quota_unlimited): it takes the message
	 * whatever its size.  The check rides on the next job (smtp_job). */
	if (s->quota_mailbox_count > 0 && s->quota_mailbox_count == s->env->rcpt_count &&
	    !s->quota_unlimited) {
		struct smtp_quota_check *q = xcalloc(1, sizeof(*q));
		q->count = s->quota_mailbox_count;
		q->mailboxes = xcalloc(q->count, sizeof(*q->mailboxes));
		for (size_t i = 0; i < q->count; i++)
			q->mailboxes[i] = xstrdup(s->env->rcpts[i].address);
		q->bytes = s->body.len;
		s->quota_check = q;
	}
	message_checked(s);
}

bool smtp_quota_check_run(struct smtp_quota_check *q, const struct smtp_server *server)
{
	bool unlimited;
	q->full = quota_all_full(server->config->data_dir, q->mailboxes, q->count, q->bytes,
				 &unlimited);
	return q->full;
}

/* smtp_quota_check_refuse - RFC 3463 3.3 X.2.2 at the end of data: refused
 * when this message would take every recipient's mailbox over its quota.
 * When only some would, the message is accepted: SMTP has one reply for all
 * recipients (RFC 5321 4.2.5), and the others must get their copy; the
 * queue's delivery defers the full ones (452 4.2.2), retries and in the end
 * bounces, as for any temporary failure. */
bool smtp_quota_check_refuse(struct smtp_session *s, const struct smtp_quota_check *q)
{
	if (!q->full)
		return false;
	static const char reply[] = "452 4.2.2 Mailbox full: the message would take it over "
				    "its quota";
	log_info("rejected", "session=%s client=%s size=%llu reply=\"452\" reason=\"over quota\"",
		 s->sid, s->client, (unsigned long long)q->bytes);
	smtp_session_event(s, "rejected", NULL, q->count == 1 ? q->mailboxes[0] : NULL, 452,
			   reply + 10);
	smtp_session_reply(s, "%s", reply);
	smtp_session_transaction_reset(s);
	return true;
}

void smtp_quota_check_free(struct smtp_quota_check **qp)
{
	struct smtp_quota_check *q = *qp;
	if (!q)
		return;
	for (size_t i = 0; i < q->count; i++)
		free(q->mailboxes[i]);
	free(q->mailboxes);
	free(q);
	*qp = NULL;
}

/* quota_only_work - nothing: the quota check ran before it (smtp_job) */
static void quota_only_work(struct smtp_job *job)
{
	(void)job;
}

/* quota_only_done - the mailboxes can take it: to the queue */
static void quota_only_done(struct smtp_session *s, struct smtp_job *job)
{
	(void)job;
	smtp_message_submit(s);
}

static void quota_only_free(struct smtp_job *job)
{
	free(job);
}

/* message_checked - the body passed the checks of message_complete: the
 * From: header, signatures, verification, then the queue */
static void message_checked(struct smtp_session *s)
{
	/* RFC 6409 8.1 style: a submission's From: must be the user's;
	 * not for a message to the postmaster alone, so that a complaint
	 * always gets through (RFC 5321 4.5.1).  Then the DKIM signatures of
	 * the From: domain (keysd/signer.c), for an account's mail. */
	bool check_from = s->account && !s->account->any_from && s->rcpt_other;
	bool sign = s->account && s->server->signer;
	if (check_from || sign) {
		struct from_job *j = xcalloc(1, sizeof(*j));
		j->check_from = check_from;
		j->sign = sign;
		j->job.work = from_work;
		j->job.done = from_done;
		j->job.free = from_free;
		j->account = policy_account_copy(s->account);
		j->sender = xstrdup(s->from.address);
		j->message = s->body;  /* moved: the session keeps none of it */
		buf_init(&s->body);
		smtp_session_async(s, &j->job);
		return;
	}
	if (s->verify) {
		smtp_verify_message(s);  /* SPF, DKIM, DMARC first: verify.c */
		return;
	}
	if (!s->account && s->listener->role == LISTENER_ROLE_MX && !smtp_session_is_from_node(s)) {
		/* unchecked: forged fields of ours go all the same; but a node's
		 * mail keeps them, written by the node that received it (the
		 * nodes share the authserv-id; it removed the forged ones) */
		smtp_verify_strip(s);
	}
	/* no job above for the quota check to ride on (the strip runs on the
	 * loop): one of its own */
	if (s->quota_check) {
		struct smtp_job *j = xcalloc(1, sizeof(*j));
		j->work = quota_only_work;
		j->done = quota_only_done;
		j->free = quota_only_free;
		smtp_session_async(s, j);
		return;
	}
	smtp_message_submit(s);
}

static void from_work(struct smtp_job *job)
{
	struct from_job *j = (struct from_job *)job;
	if (j->check_from)
		policy_check_from_blocking(job->server->store, j->account, j->sender,
					   j->message.data, j->message.len, &j->reply);
	if (j->sign && j->reply.code == 0)
		j->signatures = keysd_signer_sign_blocking(job->server->signer, &j->message,
							   (long long)time(NULL), &j->sign_error);
}

static void from_done(struct smtp_session *s, struct smtp_job *job)
{
	struct from_job *j = (struct from_job *)job;
	buf_free(&s->body);
	s->body = j->message;
	buf_init(&j->message);
	if (j->reply.code != 0) {
		reject_logged(s, NULL, &j->reply, "from");
		smtp_session_transaction_reset(s);
		return;
	}
	/* a keys process that cannot sign loses no mail: it goes unsigned
	 * (docs/email-authentication.md) */
	if (j->signatures < 0)
		log_warn("dkim-sign-failed", "session=%s account=%s action=unsigned reason=\"%s\"",
			 s->sid, s->account ? s->account->name : "-", j->sign_error);
	else if (j->signatures > 0)
		log_info("dkim-signed", "session=%s signatures=%d", s->sid, j->signatures);
	smtp_message_submit(s);
}

static void from_free(struct smtp_job *job)
{
	struct from_job *j = (struct from_job *)job;
	buf_free(&j->message);
	policy_account_free(&j->account);
	free(j->sender);
	free(j);
}

struct queue_ctx {
	uint64_t session_id;
	struct smtp_server *server;
	struct policy_account *account;  /* copy, for releasing units on failure */
	unsigned reserved;
	time_t reserved_at;
	bool sandbox;
	bool save_sent;                  /* [mailbox] save_sent: SENT_COPY goes to Sent */
	struct buf sent_copy;
	struct timespec data_end;        /* the session's, for the accept latency */
	char *recipients;                /* the envelope's, for the "accepted" event */
};

/* A submitted message's copy for the Sent folder of its account */
struct sent_job {
	struct smtp_server *server;
	char *account;
	char queue_id[QUEUE_ID_LEN + 1];
	struct buf message;
	uint32_t uid;
	bool not_local;              /* the account names no mailbox of ours */
	struct mailbox_error error;
	int rc;
};

/* sent_wanted - RFC 6409 leaves the Sent copy to the client; [mailbox]
 * save_sent makes it the server's, for an account's own submissions (not
 * sendmail's local users, not the sandbox, which keeps its mail itself) */
static bool sent_wanted(const struct smtp_session *s)
{
	return s->config->mailbox.save_sent && s->account && !s->account->sandbox &&
	       !s->account->trusted && strchr(s->account->name, '@') &&
	       (s->listener->role == LISTENER_ROLE_SUBMISSION ||
		s->listener->role == LISTENER_ROLE_SUBMISSIONS);
}

/* sent_work - (worker) the copy, \Seen, into the account's Sent folder
 * (made if missing) through the mailbox store, quota included */
static void sent_work(void *arg)
{
	struct sent_job *j = arg;
	const char *data_dir = j->server->config->data_dir;
	const char *domain = strrchr(j->account, '@') + 1;
	struct mailbox *mb = NULL;
	if (!policy_is_local_domain_blocking(j->server->store, j->server->config, domain)) {
		j->not_local = true;
		return;
	}
	j->rc = mailbox_open(data_dir, j->account, "Sent", &mb, &j->error);
	if (j->rc != 0 && j->error.code == MAILBOX_ERROR_NONEXISTENT) {
		struct mailbox_error error;
		if (mailbox_folder_create(data_dir, j->account, "Sent", &error) != 0 &&
		    error.code != MAILBOX_ERROR_EXISTS) {
			j->error = error;
			return;
		}
		j->rc = mailbox_open(data_dir, j->account, "Sent", &mb, &j->error);
	}
	if (j->rc == 0)
		j->rc = mailbox_append(mb, j->message.data ? j->message.data : "", j->message.len,
				       MAILBOX_FLAG_SEEN, 0, 0, &j->uid, &j->error);
	mailbox_unref(&mb);
}

/* sent_done - (loop) log the outcome: a copy that failed loses nothing,
 * the message is queued already */
static void sent_done(void *arg)
{
	struct sent_job *j = arg;
	char account[300];
	log_escape(account, sizeof(account), j->account, strlen(j->account));
	if (j->not_local)
		log_debug("sent-copy-skipped", "queue_id=%s account=%s reason=\"not a local mailbox\"",
			  j->queue_id, account);
	else if (j->rc == 0)
		log_info("sent-copy", "queue_id=%s account=%s folder=Sent uid=%u", j->queue_id,
			 account, j->uid);
	else
		log_warn("sent-copy-failed", "queue_id=%s account=%s error=\"%s\" errno=%d",
			 j->queue_id, account, j->error.text, j->error.sys_errno);
	buf_free(&j->message);
	free(j->account);
	free(j);
}

/* smtp_message_submit - Received: on top (and Authentication-Results under
 * it), then to the queue; 250 once durable */
void smtp_message_submit(struct smtp_session *s)
{
	struct queue_envelope *env = s->env;
	s->env = NULL;
	queue_id_new(env->id);
	env->arrival = time(NULL);
	env->body = (int)s->mail.body;
	env->smtputf8 = s->mail.smtputf8;
	env->ret = (int)s->mail.ret;
	env->envid = s->mail.envid ? xstrdup(s->mail.envid) : NULL;
	env->client_address = xstrdup(s->client);
	env->helo = xstrdup(s->helo ? s->helo : "");
	env->listener = xstrdup(s->listener->name);
	if (s->account) {
		env->account = xstrdup(s->account->name);
		env->sandbox = s->account->sandbox;
	}

	struct buf message;
	buf_init(&message);
	received_header(s, env, &message);
	smtp_verify_header(s->verify, &message, &env->junk);
	if (s->mail.junk)   /* the node that received it said quarantine */
		env->junk = true;
	buf_append(&message, s->body.data, s->body.len);
	if (s->verifier && smtp_verifier_message(s, env, &message)) {
		buf_free(&message);
		return;
	}
	env->size = message.len;
	log_info("received", "session=%s queue_id=%s size=%zu nrcpt=%zu account=%s%s%s", s->sid,
		 env->id, message.len, env->rcpt_count, s->account ? s->account->name : "-",
		 env->sandbox ? " sandbox=yes" : "", env->junk ? " junk=yes" : "");

	struct queue_ctx *ctx = xcalloc(1, sizeof(*ctx));
	ctx->session_id = s->id;
	ctx->server = s->server;
	ctx->account = policy_account_copy(s->account);
	ctx->reserved = s->reserved;
	ctx->reserved_at = s->reserved_at;
	ctx->sandbox = env->sandbox;
	ctx->data_end = s->data_end;
	ctx->recipients = queue_envelope_rcpt_lines(env);
	buf_init(&ctx->sent_copy);
	if (sent_wanted(s)) {
		ctx->save_sent = true;
		buf_append(&ctx->sent_copy, message.data, message.len);
	}
	s->reserved = 0; /* they travel with the message now */
	s->waiting = true;
	smtp_session_transaction_reset(s);
	queue_submit(s->server->queue, env, &message, queue_done, ctx);
	buf_free(&message);
}

/* queue_done - the queue's answer; the session may be gone */
static void queue_done(void *arg, int status, const char *queue_id, const char *error)
{
	struct queue_ctx *ctx = arg;
	struct smtp_session *s = smtp_server_session_find(ctx->server, ctx->session_id);
	if (status == 0) {
		log_info("queued", "session=%s queue_id=%s", s ? s->sid : "closed", queue_id);
		smtp_server_event_accepted(ctx->server, ctx->account ? ctx->account->name : NULL,
					   ctx->sandbox ? "accepted-sandbox" : "accepted", queue_id,
					   ctx->sandbox ? NULL : ctx->recipients);
		if (ctx->save_sent) {
			/* after the 250's durability, on a worker: never delays nor
			 * refuses the message */
			struct sent_job *j = xcalloc(1, sizeof(*j));
			j->server = ctx->server;
			j->account = xstrdup(ctx->account->name);
			snprintf(j->queue_id, sizeof(j->queue_id), "%s", queue_id);
			j->message = ctx->sent_copy;
			buf_init(&ctx->sent_copy);
			pool_submit(ctx->server->pool, sent_work, sent_done, j);
		}
	} else {
		log_warn("queue-failed", "session=%s error=\"%s\"", s ? s->sid : "closed", error);
		release_post(ctx->server, ctx->session_id, ctx->account, ctx->reserved,
			     ctx->reserved_at);
	}
	if (s && !s->conn.dead) {
		s->waiting = false;
		if (status == 0) {
			histogram_observe_since(&ctx->server->accept_latency, &ctx->data_end);
			smtp_session_reply(s, "250 2.0.0 Ok: queued as %s", queue_id);
		} else if (error && strstr(error, "storage"))
			smtp_session_reply(s, "452 4.3.1 Insufficient system storage");
		else
			smtp_session_reply(s, "451 4.3.0 Temporary failure storing the message, "
					   "try again later");
		smtp_session_process_input(s);
	}
	policy_account_free(&ctx->account);
	buf_free(&ctx->sent_copy);
	free(ctx->recipients);
	free(ctx);
}

/* count_received - Received: header fields in the header section */
static unsigned count_received(const struct buf *body)
{
	unsigned count = 0;
	const char *p = body->data;
	const char *end = body->data + body->len;
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		size_t len = eol ? (size_t)(eol - p) : (size_t)(end - p);
		if (len == 0 || (len == 1 && p[0] == '\r'))
			break; /* end of the header section */
		if (len >= 9 && strncasecmp(p, "Received:", 9) == 0)
			count++;
		if (!eol)
			break;
		p = eol + 1;
	}
	return count;
}

/* received_header - RFC 5321 4.4 trace field, RFC 3848 protocol names */
static void received_header(struct smtp_session *s,
				    const struct queue_envelope *env, struct buf *out)
{
	const char *proto;
	if (!s->esmtp)
		proto = "SMTP";
	else if (s->mail.smtputf8)
		proto = s->conn.tls ? "UTF8SMTPS" : "UTF8SMTP";
	else
		proto = s->conn.tls ? "ESMTPS" : "ESMTP";

	char date[64];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);

	/* RFC 5321 4.4 TCP-info: the reverse DNS name (checks.c) and the address */
	const char *rdns = smtp_checks_rdns_name(s);
	buf_printf(out, "Received: from %s (%s%s[%s])\r\n\tby %s (Petrel) with %s id %s",
		   s->helo ? s->helo : "unknown", rdns ? rdns : "", rdns ? " " : "", s->client,
		   s->config->hostname, proto, env->id);
	if (s->conn.tls && s->tls_info[0])
		buf_printf(out, "\r\n\t(%s)", s->tls_info);
	if (env->rcpt_count == 1)
		buf_printf(out, "\r\n\tfor <%s>", env->rcpts[0].address);
	buf_printf(out, ";\r\n\t%s\r\n", date);
}
