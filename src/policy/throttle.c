/* policy/throttle - per-client-address memory of authentication failures and
 * connection rates, on the loop thread.
 *
 * After auth_slow_after failures within auth_window seconds each further
 * failure is answered more slowly (one more second each, at most 5); after
 * auth_lockout_after the address is refused for lockout_time seconds (421 at
 * connect, 454 to AUTH).  Entries expire; the table is bounded by pruning
 * expired entries whenever it grows past a threshold.
 */
#include "policy/policy.h"

#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/net.h"
#include "util/xalloc.h"

#define THROTTLE_BUCKETS 1024u
#define THROTTLE_PRUNE_AT 4096u  /* entries before expired ones are swept */
#define THROTTLE_MAX_DELAY 5u

struct throttle_entry {
	struct throttle_entry *next;
	unsigned char key[16];
	unsigned failures;
	time_t first_failure;
	time_t locked_until;
	unsigned connects;       /* in the current minute */
	time_t connect_minute;
	time_t last_seen;
};

struct policy_throttle {
	struct policy_throttle_settings settings;
	struct throttle_entry *buckets[THROTTLE_BUCKETS];
	size_t count;
};

static struct throttle_entry *throttle_get(struct policy_throttle *t, const struct sockaddr *sa,
					   time_t now, bool create);
static void throttle_prune(struct policy_throttle *t, time_t now);
static bool throttle_entry_expired(const struct policy_throttle *t,
				   const struct throttle_entry *e, time_t now);

static bool throttle_entry_expired(const struct policy_throttle *t,
				   const struct throttle_entry *e, time_t now)
{
	return e->locked_until <= now &&
	       now - e->last_seen > (time_t)t->settings.auth_window &&
	       now - e->last_seen > 60;
}

/* throttle_prune - drop entries nobody needs to remember any more */
static void throttle_prune(struct policy_throttle *t, time_t now)
{
	for (unsigned i = 0; i < THROTTLE_BUCKETS; i++) {
		struct throttle_entry **link = &t->buckets[i];
		while (*link) {
			struct throttle_entry *e = *link;
			if (throttle_entry_expired(t, e, now)) {
				*link = e->next;
				free(e);
				t->count--;
			} else {
				link = &e->next;
			}
		}
	}
}

static struct throttle_entry *throttle_get(struct policy_throttle *t, const struct sockaddr *sa,
					   time_t now, bool create)
{
	unsigned char key[16];
	net_address_key(sa, key);
	struct throttle_entry **head = &t->buckets[net_address_key_hash(key) % THROTTLE_BUCKETS];
	for (struct throttle_entry *e = *head; e; e = e->next)
		if (memcmp(e->key, key, 16) == 0)
			return e;
	if (!create)
		return NULL;
	if (t->count >= THROTTLE_PRUNE_AT)
		throttle_prune(t, now);
	struct throttle_entry *e = xcalloc(1, sizeof(*e));
	memcpy(e->key, key, 16);
	e->last_seen = now;
	e->next = *head;
	*head = e;
	t->count++;
	return e;
}

struct policy_throttle *policy_throttle_create(const struct policy_throttle_settings *settings)
{
	struct policy_throttle *t = xcalloc(1, sizeof(*t));
	t->settings = *settings;
	return t;
}

void policy_throttle_free(struct policy_throttle **tp)
{
	struct policy_throttle *t = *tp;
	if (!t)
		return;
	for (unsigned i = 0; i < THROTTLE_BUCKETS; i++) {
		struct throttle_entry *e = t->buckets[i];
		while (e) {
			struct throttle_entry *next = e->next;
			free(e);
			e = next;
		}
	}
	free(t);
	*tp = NULL;
}

unsigned policy_throttle_auth_failed(struct policy_throttle *t, const struct sockaddr *sa,
				     time_t now)
{
	struct throttle_entry *e = throttle_get(t, sa, now, true);
	if (e->failures == 0 || now - e->first_failure > (time_t)t->settings.auth_window) {
		e->failures = 0;
		e->first_failure = now;
	}
	e->failures++;
	e->last_seen = now;
	if (t->settings.auth_lockout_after && e->failures >= t->settings.auth_lockout_after)
		e->locked_until = now + (time_t)t->settings.lockout_time;
	/* slow_after failures are answered at once; each one after that later */
	if (!t->settings.auth_slow_after || e->failures <= t->settings.auth_slow_after)
		return 0;
	unsigned delay = e->failures - t->settings.auth_slow_after;
	return delay < THROTTLE_MAX_DELAY ? delay : THROTTLE_MAX_DELAY;
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
