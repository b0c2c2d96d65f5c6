/* policy/policy - the decisions that need the store: authentication, sender
 * identities, recipients, sending limits.  Every function here runs on a
 * worker thread (see policy.h). */
#include "policy/policy.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/config.h"
#include "mailbox/mailbox.h"
#include "message/message.h"
#include "store/store.h"
#include "util/log.h"
#include "util/xalloc.h"

static void reply_set(struct policy_reply *reply, int code, const char *enhanced,
		      const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static struct policy_account *account_snapshot(struct store *store,
					       const struct store_account *a);
static bool is_postmaster(const char *address);
static char **strv_one(const char *s);
static void check_postmaster(struct store *store, const struct config *config,
			     const char *address, struct policy_rcpt *rcpt);
static void window_names(time_t t, char day[32], char minute[32]);
static time_t window_end(time_t t, bool daily);
static void reset_time_text(time_t t, bool daily, char *buf, size_t size);
static bool policy_reserve(struct store *store, const struct policy_account *account,
			   time_t now, struct policy_reply *reply);

static void reply_set(struct policy_reply *reply, int code, const char *enhanced,
		      const char *fmt, ...)
{
	reply->code = code;
	snprintf(reply->enhanced, sizeof(reply->enhanced), "%s", enhanced);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reply->text, sizeof(reply->text), fmt, ap);
	va_end(ap);
}

void policy_account_free(struct policy_account **accountp)
{
	struct policy_account *account = *accountp;
	if (!account)
		return;
	free(account->name);
	free(account);
	*accountp = NULL;
}

struct policy_account *policy_account_copy(const struct policy_account *a)
{
	if (!a)
		return NULL;
	struct policy_account *c = xmalloc(sizeof(*c));
	*c = *a;
	c->name = xstrdup(a->name);
	return c;
}

/* account_snapshot - what a session keeps of an account: limits resolved
 * against its plan now, so a plan change applies to the next login */
static struct policy_account *account_snapshot(struct store *store,
					       const struct store_account *a)
{
	struct policy_account *pa = xcalloc(1, sizeof(*pa));
	pa->name = xstrdup(a->name);
	pa->sandbox = a->sandbox;
	pa->any_from = a->any_from;
	pa->unverified = a->unverified;
	pa->pending = a->pending;
	struct store_plan *plan = NULL;
	const char *error = NULL;
	if (a->plan && store_plan_get(store, a->plan, &plan, &error) == 0 && plan) {
		pa->daily_limit = plan->daily_limit;
		pa->per_minute = plan->per_minute;
	}
	store_plan_free(&plan);
	if (a->daily_limit >= 0)
		pa->daily_limit = (unsigned)a->daily_limit;
	if (a->per_minute >= 0)
		pa->per_minute = (unsigned)a->per_minute;
	return pa;
}

int policy_quota_limit_blocking(void *arg, const char *address, struct mailbox_quota *limit_r)
{
	const struct policy_quota *q = arg;
	struct store_plan *plan = NULL;
	const char *error = NULL;
	int ret = -1;

	limit_r->bytes = q->config->mailbox.quota_default;
	limit_r->messages = q->config->mailbox.quota_messages_default;
	int rc = store_account_plan_get(q->store, address, &plan, &error);
	if (rc < 0) {
		log_error("store-failed", "op=quota error=\"%s\"", error);
		goto out;
	}
	if (plan && plan->quota_bytes >= 0)
		limit_r->bytes = (uint64_t)plan->quota_bytes;
	if (plan && plan->quota_messages >= 0)
		limit_r->messages = (uint64_t)plan->quota_messages;
	ret = 0;
out:
	store_plan_free(&plan);
	return ret;
}

struct policy_account *policy_account_lookup_blocking(struct store *store, const char *name,
						      const char **reason_r)
{
	struct store_account *a = NULL;
	struct policy_account *account = NULL;
	const char *error = NULL;
	int rc = store_account_get(store, name, &a, &error);
	if (rc < 0) {
		log_error("store-failed", "op=account_get error=\"%s\"", error);
		*reason_r = "store-error";
	} else if (rc == STORE_NOT_FOUND || !a || a->disabled) {
		*reason_r = "disabled";
	} else {
		account = account_snapshot(store, a);
		*reason_r = "ok";
	}
	store_account_free(&a);
	return account;
}

void policy_check_sender_blocking(struct store *store, const struct policy_account *account,
				  bool submission, const char *sender, struct policy_reply *reply)
{
	reply->code = 0;
	if (!account) {
		if (submission)
			reply_set(reply, 530, "5.7.0", "Authentication required");
		return;
	}
	if (account->trusted)
		return;
	/* a sign-up's account logs in (the web, SMTP AUTH) but sends nothing
	 * until its address is proved and, with [web] signup = approval, an
	 * operator let it (docs/web.md) */
	if (account->unverified) {
		reply_set(reply, 550, "5.7.1", "Verify your address first: follow the link mailed"
			  " to %s at sign-up", account->name);
		return;
	}
	if (account->pending) {
		reply_set(reply, 550, "5.7.1", "Account %s awaits an operator's approval",
			  account->name);
		return;
	}
	if (sender[0] == '\0') {
		reply_set(reply, 550, "5.7.1", "The null sender <> is not allowed for submission");
		return;
	}
	bool allowed = false;
	const char *error = NULL;
	if (store_sender_is_allowed(store, account->name, sender, &allowed, &error) != 0) {
		log_error("store-failed", "op=sender_is_allowed error=\"%s\"", error);
		reply_set(reply, 451, "4.3.0", "Temporary failure checking the sender, try again later");
		return;
	}
	if (!allowed)
		reply_set(reply, 553, "5.7.1", "<%s>: Sender address not owned by user %s", sender,
			  account->name);
}

bool policy_is_local_domain_blocking(struct store *store, const struct config *config,
				     const char *domain)
{
	if (config_is_local_domain(config, domain))
		return true;
	bool exists = false;
	const char *error = NULL;
	if (store && store_domain_exists(store, domain, &exists, &error) != 0)
		log_error("store-failed", "op=domain_exists error=\"%s\"", error);
	return exists;
}

void policy_rcpt_clear(struct policy_rcpt *rcpt)
{
	store_strv_free(&rcpt->mailboxes);
	memset(rcpt, 0, sizeof(*rcpt));
}

/* window_names - the counters' keys for T: "d:YYYYMMDD", "m:YYYYMMDDHHMM" (UTC) */
static void window_names(time_t t, char day[32], char minute[32])
{
	struct tm tm;
	gmtime_r(&t, &tm);
	snprintf(day, 32, "d:%04d%02d%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
	snprintf(minute, 32, "m:%04d%02d%02d%02d%02d", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min);
}

/* window_end - when the window (a day or a minute, UTC) that contains T ends */
static time_t window_end(time_t t, bool daily)
{
	return daily ? (t / 86400 + 1) * 86400 : (t / 60 + 1) * 60;
}

/* reset_time_text - when a window that contains T ends, as UTC text */
static void reset_time_text(time_t t, bool daily, char *buf, size_t size)
{
	time_t end = window_end(t, daily);
	struct tm tm;
	gmtime_r(&end, &tm);
	strftime(buf, size, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

/* policy_reserve - one unit of the daily and per-minute counters */
static bool policy_reserve(struct store *store, const struct policy_account *account,
			   time_t now, struct policy_reply *reply)
{
	char day[32], minute[32], reset[40];
	window_names(now, day, minute);
	const char *error = NULL;
	bool ok = false;
	uint64_t count = 0;
	if (store_counter_reserve(store, account->name, day, 1, account->daily_limit, &ok,
				  &count, &error) != 0) {
		log_error("store-failed", "op=counter_reserve error=\"%s\"", error);
		reply_set(reply, 451, "4.3.0", "Temporary failure checking sending limits");
		return false;
	}
	if (!ok) {
		reset_time_text(now, true, reset, sizeof(reset));
		/* RFC 3463 4.7.1: delivery not authorized; temporary, as it resets. */
		reply_set(reply, 451, "4.7.1",
			  "Daily sending limit of %u recipients reached for %s; resets at %s",
			  account->daily_limit, account->name, reset);
		reply->limit = account->daily_limit;
		reply->reset = window_end(now, true);
		return false;
	}
	/* no per-minute limit: nothing reads the minute's counter, so no
	 * round trip for it (a limit set later counts from its first minute) */
	if (account->per_minute == 0)
		return true;
	/* a failure of the store leaves ok false too: tell the two apart, or a
	 * database error would read as "Rate limit of 0 recipients reached" */
	int rc = store_counter_reserve(store, account->name, minute, 1, account->per_minute, &ok,
				       &count, &error);
	if (rc != 0 || !ok) {
		if (rc != 0)
			log_error("store-failed", "op=counter_reserve error=\"%s\"", error);
		(void)store_counter_release(store, account->name, day, 1, &error);
		if (rc != 0) {
			reply_set(reply, 451, "4.3.0", "Temporary failure checking sending limits");
		} else {
			reset_time_text(now, false, reset, sizeof(reset));
			reply_set(reply, 451, "4.7.1",
				  "Rate limit of %u recipients per minute reached for %s; resets at %s",
				  account->per_minute, account->name, reset);
			reply->limit = account->per_minute;
			reply->reset = window_end(now, false);
		}
		return false;
	}
	return true;
}

void policy_release_blocking(struct store *store, const struct policy_account *account,
			     unsigned n, time_t reserved_at)
{
	if (!account || n == 0)
		return;
	char day[32], minute[32];
	window_names(reserved_at, day, minute);
	const char *error = NULL;
	if (store_counter_release(store, account->name, day, n, &error) != 0 ||
	    (account->per_minute > 0 &&
	     store_counter_release(store, account->name, minute, n, &error) != 0))
		log_error("store-failed", "op=counter_release error=\"%s\"", error);
}

/* is_postmaster - the local part of ADDRESS (all of it without '@') is
 * "postmaster" in any case (RFC 5321 4.5.1); ADDRESS is canonical, so a
 * quoted "postmaster" is already unquoted */
static bool is_postmaster(const char *address)
{
	const char *at = strrchr(address, '@');
	size_t len = at ? (size_t)(at - address) : strlen(address);
	return len == 10 && strncasecmp(address, "postmaster", 10) == 0;
}

static char **strv_one(const char *s)
{
	char **v = xcalloc(2, sizeof(char *));
	v[0] = xstrdup(s);
	return v;
}

int policy_postmaster_resolve_blocking(struct store *store, const struct config *config,
				       const char *domain, char ***mailboxes_r,
				       const char **source_r, const char **error_r)
{
	char *address = domain ? xasprintf("postmaster@%s", domain) : NULL;
	int rc = 0;

	*mailboxes_r = NULL;
	if (config->postmaster) {
		*source_r = "[domains] postmaster";
		if (policy_is_local_domain_blocking(store, config,
						    store_address_domain(config->postmaster))) {
			rc = store_recipient_resolve(store, config->postmaster, mailboxes_r, error_r);
			if (rc != 0 || (*mailboxes_r)[0])
				goto out;
			store_strv_free(mailboxes_r);
		}
		*mailboxes_r = strv_one(config->postmaster);
	} else if (address) {
		rc = store_recipient_resolve(store, address, mailboxes_r, error_r);
		if (rc != 0 || (*mailboxes_r)[0]) {
			*source_r = "alias or account";
			goto out;
		}
		store_strv_free(mailboxes_r);
		*source_r = "own mailbox";
		*mailboxes_r = strv_one(address);
	} else {
		*source_r = "nowhere";
		*mailboxes_r = xcalloc(1, sizeof(char *));
	}
out:
	free(address);
	return rc;
}

/* check_postmaster - RCPT to the postmaster of a local domain, or to the
 * bare <Postmaster> (the first local domain's: [domains] local, else the
 * first by name of those added with `petrel domain add`: store_domain_list
 * sorts) */
static void check_postmaster(struct store *store, const struct config *config,
			     const char *address, struct policy_rcpt *rcpt)
{
	const char *error = NULL;
	char **domains = NULL;
	const char *domain = store_address_domain(address);
	const char *source = NULL;
	int rc = 0;

	if (domain[0] == '\0') {
		domain = NULL;
		if (config->local_domain_count > 0) {
			domain = config->local_domains[0];
		} else {
			rc = store_domain_list(store, &domains, &error);
			if (rc == 0 && domains[0])
				domain = domains[0];
		}
	}
	if (rc == 0)
		rc = policy_postmaster_resolve_blocking(store, config, domain, &rcpt->mailboxes,
							&source, &error);
	if (rc != 0) {
		log_error("store-failed", "op=postmaster_resolve error=\"%s\"", error);
		reply_set(&rcpt->reply, 451, "4.3.0", "Temporary failure looking up the recipient");
	} else if (!rcpt->mailboxes || !rcpt->mailboxes[0]) {
		reply_set(&rcpt->reply, 550, "5.1.1", "<%s>: no local domain and no "
			  "[domains] postmaster to deliver to", address);
	} else {
		rcpt->local = true;
		rcpt->postmaster = true;
		rcpt->reply.code = 0;
	}
	store_strv_free(&domains);
}

void policy_check_rcpt_blocking(struct store *store, const struct config *config,
				const struct policy_account *account, const char *address,
				time_t now, struct policy_rcpt *rcpt)
{
	memset(rcpt, 0, sizeof(*rcpt));
	const char *domain = store_address_domain(address);
	if (is_postmaster(address) && (domain[0] == '\0' ||
	    (domain[0] != '[' && policy_is_local_domain_blocking(store, config, domain)))) {
		/* RFC 5321 4.5.1: accepted from anyone, whatever exists, and
		 * a complaint costs no sending-limit units */
		check_postmaster(store, config, address, rcpt);
		if (rcpt->reply.code != 0)
			store_strv_free(&rcpt->mailboxes);
		return;
	}
	/* Address literals are never local: "[127.0.0.1]" is not our name. */
	rcpt->local = domain[0] != '[' && policy_is_local_domain_blocking(store, config, domain);
	if (!rcpt->local && !account) {
		reply_set(&rcpt->reply, 554, "5.7.1", "<%s>: Relaying denied", address);
		return;
	}
	if (!rcpt->local && domain[0] == '[') {
		/* Mail goes out by MX lookup; a bare address names no MX. */
		reply_set(&rcpt->reply, 550, "5.1.2", "<%s>: Address literals are not relayed; "
			  "use a domain name", address);
		return;
	}
	if (rcpt->local) {
		const char *error = NULL;
		if (store_recipient_resolve(store, address, &rcpt->mailboxes, &error) != 0) {
			log_error("store-failed", "op=recipient_resolve error=\"%s\"", error);
			reply_set(&rcpt->reply, 451, "4.3.0",
				  "Temporary failure looking up the recipient");
			return;
		}
		if (!rcpt->mailboxes || !rcpt->mailboxes[0]) {
			store_strv_free(&rcpt->mailboxes);
			reply_set(&rcpt->reply, 550, "5.1.1", "<%s>: Recipient address rejected: "
				  "no such user here", address);
			return;
		}
	}
	if (account && !account->trusted) {
		if (!policy_reserve(store, account, now, &rcpt->reply)) {
			store_strv_free(&rcpt->mailboxes);
			return;
		}
		rcpt->reserved = true;
	}
	rcpt->reply.code = 0;
}

void policy_check_home_blocking(struct store *store, const struct config *config,
				char *const *mailboxes, struct policy_reply *reply)
{
	reply->code = 0;
	for (size_t i = 0; mailboxes && mailboxes[i] && reply->code == 0; i++) {
		struct store_node *home = NULL;
		const char *error = NULL;
		int rc = store_account_home(store, mailboxes[i], &home, &error);
		if (rc != 0 && rc != STORE_NOT_FOUND) {
			log_error("store-failed", "op=account_home error=\"%s\"", error);
			reply_set(reply, 451, "4.3.0", "Temporary failure looking up the recipient's"
				  " home node");
		} else if (home && strcasecmp(home->name, config->node) != 0) {
			reply_set(reply, 451, "4.4.6", "<%s>: homed on node %s, not on this node"
				  " (%s): mail relayed between nodes is not relayed on", mailboxes[i],
				  home->name, config->node);
		}
		store_node_free(&home);
	}
}

void policy_check_from_blocking(struct store *store, const struct policy_account *account,
				const char *allowed_sender, const char *message, size_t len,
				struct policy_reply *reply)
{
	reply->code = 0;
	if (!account || account->any_from || account->trusted)
		return;
	struct message_headers headers;
	message_headers_parse(message, len, &headers);
	size_t n = message_header_count(&headers, "From");
	if (n != 1) {
		/* RFC 5322 3.6: exactly one From: field. */
		reply_set(reply, 550, "5.6.0", "Message must have exactly one From: header (has %zu)", n);
		message_headers_free(&headers);
		return;
	}
	const struct message_header *from = message_header_find(&headers, "From", 0);
	char **addresses = message_address_list_parse(from->value, from->value_len);
	if (!addresses || !addresses[0]) {
		reply_set(reply, 550, "5.6.0", "Malformed From: header");
	} else {
		for (size_t i = 0; addresses[i] && reply->code == 0; i++) {
			bool allowed = false;
			const char *error = NULL;
			/* "you"@d is you@d, as in MAIL FROM (RFC 5322 3.4.1) */
			char *canonical = message_address_canonical(addresses[i]);
			int rc = 0;
			if (allowed_sender && strcasecmp(canonical, allowed_sender) == 0)
				allowed = true;
			else
				rc = store_sender_is_allowed(store, account->name, canonical,
							     &allowed, &error);
			free(canonical);
			if (rc != 0) {
				log_error("store-failed", "op=sender_is_allowed error=\"%s\"", error);
				reply_set(reply, 451, "4.3.0", "Temporary failure checking the From: header");
			} else if (!allowed) {
				reply_set(reply, 553, "5.7.1", "From: <%s> is not owned by user %s",
					  addresses[i], account->name);
			}
		}
	}
	message_strv_free(&addresses);
	message_headers_free(&headers);
}
