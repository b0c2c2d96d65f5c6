/* policy/throttle - per-client-address memory of authentication failures and
 * connection rates, on the loop thread.
 *
 * After auth_slow_after failures within auth_window seconds each further
 * failure is answered more slowly (one more second each, at most 5); after
 * auth_lockout_after the address is refused for lockout_time seconds (421 at
 * connect, 454 to AUTH).  When a lockout ends the address starts afresh: its
 * count and window restart at its next failure, so it again has
 * auth_lockout_after tries, not one.
 *
 * Two processes use it (issue 13): the auth process counts AUTH failures; the
 * network process counts connections and the 535s it sends (a disabled
 * account's right password among them, which only it can tell), and records
 * the lockouts the auth process reports (policy_throttle_lock), to refuse
 * those addresses itself.
 *
 * Addresses: IPv4 counts per address; IPv6 per prefix of ipv6_prefix bits
 * (64 by default), since one host commonly owns a whole /64 and would
 * otherwise get a fresh counter with every address it picks.
 *
 * Memory: a hash table keyed with SipHash under a random key (a peer cannot
 * choose addresses that share one chain) and an LRU list.  Each insert frees
 * at most two expired entries from the LRU end, and once the table holds
 * max_entries it evicts the least recently seen entry: every operation costs
 * O(1), and memory is bounded whatever the peers do.  Evicting a live entry
 * forgets that address's failures; it takes max_entries more recently active
 * addresses (or /64s) to push one out.
 */
#include "policy/policy.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/random.h>
#include <sys/socket.h>

#include "config/config.h"
#include "net/net.h"
#include "util/siphash.h"
#include "util/xalloc.h"

#define THROTTLE_MAX_DELAY 5u
#define THROTTLE_REAP_PER_INSERT 2

struct throttle_entry {
	struct throttle_entry *next;             /* hash chain */
	struct throttle_entry *newer, *older;    /* LRU list */
	unsigned char key[16];
	unsigned failures;
	time_t first_failure;
	time_t locked_until;     /* 0 = never locked (or the lockout has been forgiven) */
	unsigned connects;       /* in the current minute */
	time_t connect_minute;
	time_t last_seen;
};

struct policy_throttle {
	struct policy_throttle_settings settings;
	unsigned char hash_key[SIPHASH_KEY_LEN];
	struct throttle_entry **buckets;
	size_t bucket_mask;      /* bucket count - 1 (a power of two) */
	struct throttle_entry *newest, *oldest;
	size_t count;
};

static void throttle_key(const struct policy_throttle *t, const struct sockaddr *sa,
			 unsigned char key[16]);
static struct throttle_entry **throttle_link(struct policy_throttle *t,
					     const unsigned char key[16]);
static struct throttle_entry *throttle_get(struct policy_throttle *t, const struct sockaddr *sa,
					   time_t now, bool create);
static void throttle_remove(struct policy_throttle *t, struct throttle_entry *e);
static void throttle_lru_unlink(struct policy_throttle *t, struct throttle_entry *e);
static void throttle_lru_push(struct policy_throttle *t, struct throttle_entry *e);
static bool throttle_entry_expired(const struct policy_throttle *t,
				   const struct throttle_entry *e, time_t now);

/* throttle_key - the address as 16 bytes, IPv6 cut to the configured prefix */
static void throttle_key(const struct policy_throttle *t, const struct sockaddr *sa,
			 unsigned char key[16])
{
	static const unsigned char v4_mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	net_address_key(sa, key);
	if (sa->sa_family != AF_INET6 || memcmp(key, v4_mapped, 12) == 0)
		return;
	unsigned bits = t->settings.ipv6_prefix;
	for (unsigned i = 0; i < 16; i++) {
		if (bits >= 8) {
			bits -= 8;
		} else {
			key[i] &= (unsigned char)(0xff00u >> bits);
			bits = 0;
		}
	}
}

static bool throttle_entry_expired(const struct policy_throttle *t,
				   const struct throttle_entry *e, time_t now)
{
	return e->locked_until <= now &&
	       now - e->last_seen > (time_t)t->settings.auth_window &&
	       now - e->last_seen > 60;
}

/* throttle_link - the link that points at KEY's entry, or at the NULL ending its chain */
static struct throttle_entry **throttle_link(struct policy_throttle *t,
					     const unsigned char key[16])
{
	uint64_t h = siphash24(t->hash_key, key, 16);
	struct throttle_entry **link = &t->buckets[h & t->bucket_mask];
	while (*link && memcmp((*link)->key, key, 16) != 0)
		link = &(*link)->next;
	return link;
}

static void throttle_lru_unlink(struct policy_throttle *t, struct throttle_entry *e)
{
	if (e->newer)
		e->newer->older = e->older;
	else
		t->newest = e->older;
	if (e->older)
		e->older->newer = e->newer;
	else
		t->oldest = e->newer;
	e->newer = e->older = NULL;
}

static void throttle_lru_push(struct policy_throttle *t, struct throttle_entry *e)
{
	e->newer = NULL;
	e->older = t->newest;
	if (t->newest)
		t->newest->newer = e;
	t->newest = e;
	if (!t->oldest)
		t->oldest = e;
}

/* throttle_remove - take E out of the table and the LRU list, and free it */
static void throttle_remove(struct policy_throttle *t, struct throttle_entry *e)
{
	struct throttle_entry **link = throttle_link(t, e->key);
	*link = e->next;
	throttle_lru_unlink(t, e);
	free(e);
	t->count--;
}

static struct throttle_entry *throttle_get(struct policy_throttle *t, const struct sockaddr *sa,
					   time_t now, bool create)
{
	unsigned char key[16];
	throttle_key(t, sa, key);
	struct throttle_entry **link = throttle_link(t, key);
	if (*link) {
		struct throttle_entry *e = *link;
		throttle_lru_unlink(t, e);
		throttle_lru_push(t, e);
		return e;
	}
	if (!create)
		return NULL;
	for (int i = 0; i < THROTTLE_REAP_PER_INSERT && t->oldest &&
			throttle_entry_expired(t, t->oldest, now); i++)
		throttle_remove(t, t->oldest);
	if (t->count >= t->settings.max_entries)
		throttle_remove(t, t->oldest);
	struct throttle_entry *e = xcalloc(1, sizeof(*e));
	memcpy(e->key, key, 16);
	e->last_seen = now;
	/* the removals above may have changed KEY's chain: find its end again */
	link = throttle_link(t, key);
	*link = e;
	throttle_lru_push(t, e);
	t->count++;
	return e;
}

void policy_throttle_settings_load(const struct config *config,
				   struct policy_throttle_settings *settings)
{
	*settings = (struct policy_throttle_settings){
		.auth_slow_after = config->auth.slow_after,
		.auth_lockout_after = config->auth.lockout_after,
		.auth_window = config->auth.failure_window,
		.lockout_time = config->auth.lockout_time,
		.connect_rate = config->limits.connection_rate,
		.ipv6_prefix = config->auth.ipv6_prefix,
		.max_entries = config->auth.throttle_entries,
	};
}

struct policy_throttle *policy_throttle_create(const struct policy_throttle_settings *settings)
{
	struct policy_throttle *t = xcalloc(1, sizeof(*t));
	t->settings = *settings;
	if (t->settings.max_entries == 0)
		t->settings.max_entries = 1;
	if (t->settings.ipv6_prefix > 128)
		t->settings.ipv6_prefix = 128;
	/* about two entries per chain when full */
	size_t buckets = 16;
	while (buckets < t->settings.max_entries / 2)
		buckets *= 2;
	t->buckets = xcalloc(buckets, sizeof(*t->buckets));
	t->bucket_mask = buckets - 1;
	if (getrandom(t->hash_key, sizeof(t->hash_key), 0) != (ssize_t)sizeof(t->hash_key))
		abort(); /* no randomness at all: nothing else will work either */
	return t;
}

void policy_throttle_free(struct policy_throttle **tp)
{
	struct policy_throttle *t = *tp;
	if (!t)
		return;
	struct throttle_entry *e = t->newest;
	while (e) {
		struct throttle_entry *older = e->older;
		free(e);
		e = older;
	}
	free(t->buckets);
	free(t);
	*tp = NULL;
}

unsigned policy_throttle_auth_failed(struct policy_throttle *t, const struct sockaddr *sa,
				     time_t now)
{
	struct throttle_entry *e = throttle_get(t, sa, now, true);
	if (e->locked_until != 0 && e->locked_until <= now) {
		/* the lockout is over: the address starts afresh */
		e->locked_until = 0;
		e->failures = 0;
	}
	if (e->failures == 0 || now - e->first_failure > (time_t)t->settings.auth_window) {
		e->failures = 0;
		e->first_failure = now;
	}
	e->failures++;
	e->last_seen = now;
	if (t->settings.auth_lockout_after && e->failures >= t->settings.auth_lockout_after)
		e->locked_until = now + (time_t)t->settings.lockout_time;
	return policy_throttle_delay(t, e->failures);
}

unsigned policy_throttle_delay(const struct policy_throttle *t, unsigned failures)
{
	/* slow_after failures are answered at once; each one after that later */
	if (!t->settings.auth_slow_after || failures <= t->settings.auth_slow_after)
		return 0;
	unsigned delay = failures - t->settings.auth_slow_after;
	return delay < THROTTLE_MAX_DELAY ? delay : THROTTLE_MAX_DELAY;
}

void policy_throttle_key_text(const struct policy_throttle *t, const struct sockaddr *sa,
			      char text[POLICY_THROTTLE_KEY_TEXT])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char key[16];
	throttle_key(t, sa, key);
	for (size_t i = 0; i < sizeof(key); i++) {
		text[2 * i] = hex[key[i] >> 4];
		text[2 * i + 1] = hex[key[i] & 15];
	}
	text[2 * sizeof(key)] = '\0';
}

void policy_throttle_lock(struct policy_throttle *t, const struct sockaddr *sa, time_t now,
			  time_t until)
{
	struct throttle_entry *e = throttle_get(t, sa, now, true);
	if (until > e->locked_until)
		e->locked_until = until;
	e->last_seen = now;
}

bool policy_throttle_is_locked(struct policy_throttle *t, const struct sockaddr *sa, time_t now,
			       time_t *until_r)
{
	struct throttle_entry *e = throttle_get(t, sa, now, false);
	if (!e || e->locked_until <= now)
		return false;
	*until_r = e->locked_until;
	return true;
}

bool policy_throttle_connect(struct policy_throttle *t, const struct sockaddr *sa, time_t now)
{
	if (t->settings.connect_rate == 0)
		return true;
	struct throttle_entry *e = throttle_get(t, sa, now, true);
	time_t minute = now / 60;
	if (e->connect_minute != minute) {
		e->connect_minute = minute;
		e->connects = 0;
	}
	e->last_seen = now;
	if (e->connects >= t->settings.connect_rate)
		return false;
	e->connects++;
	return true;
}

size_t policy_throttle_count(const struct policy_throttle *t)
{
	return t->count;
}

enum policy_admission policy_connection_admit(struct policy_throttle *throttle,
					      struct net_conn_limits *limits,
					      const struct net_sessions *sessions,
					      const struct sockaddr *sa)
{
	time_t now = time(NULL), until;
	if (net_sessions_is_draining(sessions))
		return POLICY_REFUSED_SHUTDOWN;
	if (throttle && policy_throttle_is_locked(throttle, sa, now, &until))
		return POLICY_REFUSED_LOCKED_OUT;
	/* local users (the sendmail socket) share no address to throttle */
	if (throttle && sa->sa_family != AF_UNIX && !policy_throttle_connect(throttle, sa, now))
		return POLICY_REFUSED_RATE;
	if (!net_conn_limits_acquire(limits, sa))
		return POLICY_REFUSED_CONNECTIONS;
	return POLICY_ADMITTED;
}

/* the log's word and the mail client's text for each answer */
static const struct {
	const char *reason;
	const char *text;
} admissions[] = {
	[POLICY_ADMITTED] = { "admitted", "Welcome" },
	[POLICY_REFUSED_SHUTDOWN] = { "shutdown", "Server shutting down" },
	[POLICY_REFUSED_LOCKED_OUT] = { "auth-lockout",
					"Too many authentication failures, try again later" },
	[POLICY_REFUSED_RATE] = { "connection-rate", "Too many connections too fast, slow down" },
	[POLICY_REFUSED_CONNECTIONS] = { "too-many-connections",
					 "Too many connections, try again later" },
};

const char *policy_admission_reason(enum policy_admission admission)
{
	return admissions[admission].reason;
}

const char *policy_admission_text(enum policy_admission admission)
{
	return admissions[admission].text;
}
