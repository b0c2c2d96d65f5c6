/* smtp/checks - the SMTP-time checks of a client, settings in [smtp]:
 *
 * - reverse DNS (reverse_dns = off|record|require): at connect, the PTR
 *   names of the client's address, then each name's A (or AAAA) records,
 *   which must hold the address again ("forward-confirmed", FCrDNS).  The
 *   result is logged and written in Received: as `from HELO (NAME [IP])`,
 *   NAME "unknown" when no name is confirmed.  With require, MAIL of an
 *   unauthenticated client on an mx listener is refused without a
 *   confirmed name: 550 5.7.25, or 450 4.7.25 if DNS failed temporarily
 *   (RFC 7372 3.3).
 * - HELO/EHLO syntax (helo_check = off|syntax): on mx listeners, the
 *   argument must be a domain or an address literal (RFC 5321 4.1.4), else
 *   501 5.5.2.
 * - the sender's domain (sender_domain_check): MAIL FROM of an
 *   unauthenticated client on an mx listener must name a domain that can
 *   receive mail, since a bounce must be deliverable: MX records, else A or
 *   AAAA (RFC 5321 5.1).  A null MX (RFC 7505 4.2) gets 550 5.7.27; no such
 *   domain, or one with no address to deliver to, 550 5.1.8 (or 450 4.1.8:
 *   unknown_sender_code); a temporary DNS failure 451 4.4.3.
 *
 * Every lookup is asynchronous on the loop (dns/).  MAIL waits (the session
 * reads nothing) until the reverse lookup has answered, so every message's
 * Received: says the same thing for the same client; the session's other
 * checks start then.  The lookups belong to the session: smtp_checks_free
 * cancels them, and a session already dead when an answer comes (closed,
 * waiting for the reaper) only records it.
 */
#include "smtp/session.h"

#include <arpa/inet.h>
#include <assert.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/config.h"
#include "dns/dns.h"
#include "policy/policy.h"
#include "util/log.h"
#include "util/xalloc.h"

/* PTR names whose addresses are looked up (a client with more is odd) */
#define CHECKS_RDNS_NAMES_MAX 5

enum rdns_state {
	RDNS_IDLE,     /* off, or a unix socket: nothing to look up */
	RDNS_PTR,      /* the PTR query runs */
	RDNS_CONFIRM,  /* the names' address queries run */
	RDNS_DONE,
};

/* a confirmation query's context: which slot to clear when it answers */
struct checks_confirm_ctx {
	struct smtp_checks *c;
	size_t slot;
};

struct smtp_checks {
	struct smtp_session *s;

	/* reverse DNS */
	enum rdns_state rdns_state;
	enum smtp_rdns_result rdns_result;
	int family;                     /* AF_INET or AF_INET6 of the client */
	unsigned char addr[16];         /* its address, 4 or 16 bytes */
	char ip[INET6_ADDRSTRLEN];      /* its address as text (IPv4 for v4-mapped) */
	struct dns_query *ptr_query;
	struct dns_query *confirm[CHECKS_RDNS_NAMES_MAX];
	struct checks_confirm_ctx confirm_ctx[CHECKS_RDNS_NAMES_MAX];
	char *names[CHECKS_RDNS_NAMES_MAX];
	size_t name_count;
	size_t confirm_running;
	bool confirm_tempfail;
	char *rdns_name;                /* the confirmed name, or NULL */

	/* a MAIL command waiting for the checks */
	struct smtp_job *mail_job;
	struct policy_reply *mail_reply;
	bool mail_checks;               /* the refusals apply (unauthenticated mx) */
	struct dns_query *mx_query;
	bool mx_running;
	enum dns_status mx_status;
	char *mx_domain;
};

static struct smtp_checks *checks_get(struct smtp_session *s);
static bool checks_client_address(struct smtp_checks *c);
static void checks_ptr_cb(void *ctx, const struct dns_records *records);
static void checks_confirm_cb(void *ctx, const struct dns_records *records);
static bool checks_address_matches(const struct smtp_checks *c, const char *text);
static void checks_rdns_finish(struct smtp_checks *c, enum smtp_rdns_result result,
			       const char *name);
static void checks_mx_cb(void *ctx, const struct dns_mx_result *result);
static void checks_mail_try(struct smtp_checks *c);
static void checks_mail_decide(struct smtp_checks *c);
static void checks_refuse(struct policy_reply *reply, int code, const char *enhanced,
			  const char *fmt, const char *arg);
static bool checks_applies_to_mail(const struct smtp_session *s);


const char *smtp_rdns_result_name(enum smtp_rdns_result result)
{
	switch (result) {
	case SMTP_RDNS_PASS:
		return "pass";
	case SMTP_RDNS_FAIL:
		return "fail";
	case SMTP_RDNS_NONE:
		return "none";
	case SMTP_RDNS_TEMPERROR:
		return "temperror";
	case SMTP_RDNS_UNKNOWN:
		break;
	}
	return "unknown";
}

static struct smtp_checks *checks_get(struct smtp_session *s)
{
	if (!s->checks) {
		s->checks = xcalloc(1, sizeof(*s->checks));
		s->checks->s = s;
	}
	return s->checks;
}

/* checks_client_address - the client's address as bytes and text; false for
 * a unix socket.  A v4-mapped IPv6 address is the IPv4 client it is. */
static bool checks_client_address(struct smtp_checks *c)
{
	const struct sockaddr *sa = (const struct sockaddr *)&c->s->addr;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
		c->family = AF_INET;
		memcpy(c->addr, &in->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
			c->family = AF_INET;
			memcpy(c->addr, in6->sin6_addr.s6_addr + 12, 4);
		} else {
			c->family = AF_INET6;
			memcpy(c->addr, &in6->sin6_addr, 16);
		}
	} else {
		return false;
	}
	return inet_ntop(c->family, c->addr, c->ip, sizeof(c->ip)) != NULL;
}

/* ---- reverse DNS ------------------------------------------------------------ */

void smtp_checks_connect(struct smtp_session *s)
{
	if (s->config->smtp.reverse_dns == SMTP_REVERSE_DNS_OFF || !s->server->dns ||
	    s->listener->role == LISTENER_ROLE_LOCAL)
		return;
	struct smtp_checks *c = checks_get(s);
	if (!checks_client_address(c))
		return;
	c->rdns_state = RDNS_PTR;
	c->ptr_query = dns_lookup(s->server->dns, c->ip, DNS_TYPE_PTR, checks_ptr_cb, c);
	if (!c->ptr_query)
		checks_rdns_finish(c, SMTP_RDNS_TEMPERROR, NULL);
}

/* checks_ptr_cb - the PTR names: look up each one's addresses at once */
static void checks_ptr_cb(void *ctx, const struct dns_records *records)
{
	struct smtp_checks *c = ctx;
	c->ptr_query = NULL;
	if (records->status == DNS_TEMPFAIL) {
		checks_rdns_finish(c, SMTP_RDNS_TEMPERROR, NULL);
		return;
	}
	if (records->status != DNS_OK || records->count == 0) {
		checks_rdns_finish(c, SMTP_RDNS_NONE, NULL);
		return;
	}
	for (size_t i = 0; i < records->count && c->name_count < CHECKS_RDNS_NAMES_MAX; i++)
		c->names[c->name_count++] = xstrdup(records->items[i]);
	c->rdns_state = RDNS_CONFIRM;
	enum dns_type type = c->family == AF_INET ? DNS_TYPE_A : DNS_TYPE_AAAA;
	for (size_t i = 0; i < c->name_count; i++) {
		c->confirm_ctx[i].c = c;
		c->confirm_ctx[i].slot = i;
		c->confirm[i] = dns_lookup(c->s->server->dns, c->names[i], type,
					   checks_confirm_cb, &c->confirm_ctx[i]);
		if (c->confirm[i])
			c->confirm_running++;
		else
			c->confirm_tempfail = true;
	}
	if (c->confirm_running == 0)
		checks_rdns_finish(c, c->confirm_tempfail ? SMTP_RDNS_TEMPERROR : SMTP_RDNS_FAIL,
				   NULL);
}


/* checks_confirm_cb - one name's addresses: the first name that holds the
 * client's address is the confirmed one (answers may come in any order;
 * the earliest PTR name wins when several confirm, for a stable header) */
static void checks_confirm_cb(void *ctx, const struct dns_records *records)
{
	struct checks_confirm_ctx *cc = ctx;
	struct smtp_checks *c = cc->c;
	c->confirm[cc->slot] = NULL;
	c->confirm_running--;
	bool match = false;
	if (records->status == DNS_OK) {
		for (size_t i = 0; i < records->count && !match; i++)
			match = checks_address_matches(c, records->items[i]);
	} else if (records->status == DNS_TEMPFAIL) {
		c->confirm_tempfail = true;
	}
	if (match && (!c->rdns_name || strcmp(c->rdns_name, c->names[cc->slot]) != 0)) {
		/* keep the lowest slot among the confirmed ones */
		bool earlier = true;
		for (size_t i = 0; i < cc->slot && c->rdns_name; i++)
			if (strcmp(c->names[i], c->rdns_name) == 0)
				earlier = false;
		if (earlier) {
			free(c->rdns_name);
			c->rdns_name = xstrdup(c->names[cc->slot]);
		}
	}
	if (c->confirm_running > 0)
		return;
	if (c->rdns_name) {
		char *name = c->rdns_name;
		c->rdns_name = NULL;
		checks_rdns_finish(c, SMTP_RDNS_PASS, name);
		free(name);
	} else {
		checks_rdns_finish(c, c->confirm_tempfail ? SMTP_RDNS_TEMPERROR : SMTP_RDNS_FAIL,
				   NULL);
	}
}

/* checks_address_matches - TEXT (an A or AAAA answer) is the client */
static bool checks_address_matches(const struct smtp_checks *c, const char *text)
{
	unsigned char bytes[16];
	return inet_pton(c->family, text, bytes) == 1 &&
		memcmp(bytes, c->addr, c->family == AF_INET ? 4 : 16) == 0;
}

/* checks_rdns_finish - record and log the result; a MAIL waiting for it
 * goes on */
static void checks_rdns_finish(struct smtp_checks *c, enum smtp_rdns_result result,
			       const char *name)
{
	c->rdns_state = RDNS_DONE;
	c->rdns_result = result;
	free(c->rdns_name);
	c->rdns_name = name ? xstrdup(name) : NULL;
	char ptr[300] = "-";
	const char *shown = name ? name : c->name_count ? c->names[0] : NULL;
	if (shown)
		log_escape(ptr, sizeof(ptr), shown, strlen(shown));
	log_info("rdns", "session=%s client=%s result=%s name=%s%s", c->s->sid, c->ip,
		 smtp_rdns_result_name(result), ptr,
		 result == SMTP_RDNS_FAIL ? " reason=\"not forward-confirmed\"" : "");
	if (c->s->conn.dead)
		return;
	checks_mail_try(c);
}

const char *smtp_checks_rdns_name(const struct smtp_session *s)
{
	if (s->config->smtp.reverse_dns == SMTP_REVERSE_DNS_OFF || !s->checks ||
	    s->checks->rdns_state == RDNS_IDLE)
		return NULL;
	return s->checks->rdns_name ? s->checks->rdns_name : "unknown";
}

enum smtp_rdns_result smtp_checks_rdns_result(const struct smtp_session *s)
{
	return s->checks && s->checks->rdns_state == RDNS_DONE ? s->checks->rdns_result
		: SMTP_RDNS_UNKNOWN;
}

/* ---- HELO ------------------------------------------------------------------- */

bool smtp_checks_helo(struct smtp_session *s, const struct smtp_command *cmd,
		      const char *verb)
{
	if (s->config->smtp.helo_check != SMTP_HELO_CHECK_SYNTAX ||
	    s->listener->role != LISTENER_ROLE_MX || smtp_helo_is_valid(cmd->args, cmd->args_len))
		return true;
	char arg[300];
	log_escape(arg, sizeof(arg), cmd->args, cmd->args_len);
	log_info("rejected", "session=%s client=%s helo=%s reason=\"HELO syntax\"", s->sid,
		 s->client, arg);
	smtp_session_reply(s, "501 5.5.2 Syntax: %s domain or address literal (RFC 5321 4.1.4)",
			   verb);
	smtp_session_count_error(s);
	return false;
}

/* ---- MAIL ------------------------------------------------------------------- */

/* checks_applies_to_mail - the refusals are for unauthenticated mail on mx */
static bool checks_applies_to_mail(const struct smtp_session *s)
{
	return !s->account && s->listener->role == LISTENER_ROLE_MX;
}

void smtp_checks_mail(struct smtp_session *s, struct smtp_job *job, const char *sender,
		      struct policy_reply *reply)
{
	struct smtp_checks *c = s->checks;
	bool rdns_pending = c && (c->rdns_state == RDNS_PTR || c->rdns_state == RDNS_CONFIRM);
	bool applies = checks_applies_to_mail(s);
	const char *at = strrchr(sender, '@');
	const char *domain = at ? at + 1 : "";
	/* an address literal has no DNS to ask; a U-label domain would need
	 * IDNA to look up: both are let through */
	bool ask_mx = applies && s->config->smtp.sender_domain_check && s->server->dns &&
		domain[0] != '\0' && domain[0] != '[';
	for (const char *p = domain; ask_mx && *p; p++)
		if ((unsigned char)*p >= 0x80)
			ask_mx = false;
	if (!rdns_pending && !ask_mx) {
		c = checks_get(s);
		c->mail_job = job;
		c->mail_reply = reply;
		c->mail_checks = applies;
		checks_mail_decide(c);
		return;
	}
	c = checks_get(s);
	assert(!c->mail_job);
	c->mail_job = job;
	c->mail_reply = reply;
	c->mail_checks = applies;
	s->waiting = true;
	if (ask_mx) {
		c->mx_domain = xstrdup(domain);
		c->mx_running = true;
		c->mx_query = dns_resolve_mx(s->server->dns, domain, checks_mx_cb, c);
		if (!c->mx_query) {
			c->mx_running = false;
			c->mx_status = DNS_TEMPFAIL;
		}
	}
	if (!rdns_pending && !c->mx_running) {
		s->waiting = false;
		checks_mail_decide(c);
	}
}

static void checks_mx_cb(void *ctx, const struct dns_mx_result *result)
{
	struct smtp_checks *c = ctx;
	c->mx_query = NULL;
	c->mx_running = false;
	c->mx_status = result->status;
	if (c->s->conn.dead)
		return;
	checks_mail_try(c);
}

/* checks_mail_try - an answer came: a waiting MAIL goes on once all are in */
static void checks_mail_try(struct smtp_checks *c)
{
	if (!c->mail_job || c->mx_running || c->rdns_state == RDNS_PTR ||
	    c->rdns_state == RDNS_CONFIRM)
		return;
	struct smtp_session *s = c->s;
	s->waiting = false;
	checks_mail_decide(c);
	if (!s->waiting && !s->conn.dead)
		smtp_session_process_input(s);
}

/* checks_mail_decide - fill the MAIL job's reply with a refusal, if any, and
 * hand the job on: to the pool when it has work, else straight to DONE */
static void checks_mail_decide(struct smtp_checks *c)
{
	struct smtp_session *s = c->s;
	struct smtp_job *job = c->mail_job;
	struct policy_reply *reply = c->mail_reply;
	c->mail_job = NULL;
	c->mail_reply = NULL;
	reply->code = 0;
	if (c->mail_checks && s->config->smtp.reverse_dns == SMTP_REVERSE_DNS_REQUIRE &&
	    c->rdns_state == RDNS_DONE && c->rdns_result != SMTP_RDNS_PASS) {
		/* RFC 7372 3.3 */
		if (c->rdns_result == SMTP_RDNS_TEMPERROR)
			checks_refuse(reply, 450, "4.7.25", "Reverse DNS of %s failed temporarily, "
				      "try again later", c->ip);
		else
			checks_refuse(reply, 550, "5.7.25", "Reverse DNS validation failed: %s has "
				      "no host name that resolves back to it", c->ip);
	} else if (c->mail_checks && c->mx_domain) {
		switch (c->mx_status) {
		case DNS_OK:
			break;
		case DNS_NULL_MX:
			/* RFC 7505 4.2 */
			checks_refuse(reply, 550, "5.7.27", "Sender domain %s accepts no mail "
				      "(null MX)", c->mx_domain);
			break;
		case DNS_TEMPFAIL:
			checks_refuse(reply, 451, "4.4.3", "Sender domain %s: DNS lookup failed "
				      "temporarily, try again later", c->mx_domain);
			break;
		case DNS_NXDOMAIN:
		case DNS_NODATA: {
			bool soft = s->config->smtp.unknown_sender_code == SMTP_UNKNOWN_SENDER_450;
			checks_refuse(reply, soft ? 450 : 550, soft ? "4.1.8" : "5.1.8",
				      c->mx_status == DNS_NXDOMAIN ?
				      "Sender domain %s does not exist" :
				      "Sender domain %s has no MX or address records", c->mx_domain);
			break;
		}
		}
	}
	free(c->mx_domain);
	c->mx_domain = NULL;
	if (reply->code == 0 && job->work) {
		smtp_session_async(s, job);
		return;
	}
	job->done(s, job);
	job->free(job);
}

static void checks_refuse(struct policy_reply *reply, int code, const char *enhanced,
			  const char *fmt, const char *arg)
{
	reply->code = code;
	snprintf(reply->enhanced, sizeof(reply->enhanced), "%s", enhanced);
	/* ARG is a domain the path parser checked, or an address inet_ntop wrote */
	snprintf(reply->text, sizeof(reply->text), fmt, arg);
}

/* ---- the end ---------------------------------------------------------------- */

void smtp_checks_free(struct smtp_session *s)
{
	struct smtp_checks *c = s->checks;
	if (!c)
		return;
	if (c->ptr_query)
		dns_cancel(c->ptr_query);
	for (size_t i = 0; i < CHECKS_RDNS_NAMES_MAX; i++) {
		if (c->confirm[i])
			dns_cancel(c->confirm[i]);
		free(c->names[i]);
	}
	if (c->mx_query)
		dns_cancel(c->mx_query);
	if (c->mail_job)
		c->mail_job->free(c->mail_job);
	free(c->mx_domain);
	free(c->rdns_name);
	free(c);
	s->checks = NULL;
}
