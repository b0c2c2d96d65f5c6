/* keysd/signer - DKIM signing in the network process, with the keys the
 * keys process holds (it alone reads them, keysd.c).
 *
 * A worker thread (never the loop) calls keysd_signer_sign_blocking with a
 * whole message.  The worker does the hashing (mailauth/dkim-sign.c), and
 * the loop does the talking: the worker queues a call for the loop (an
 * eventfd wakes it), and waits on a condition variable until the loop has
 * the answer, at most the helper timeout.  Two calls per message: the keys
 * of the From domain (the loop keeps the key list, fetched with
 * IPC_KEYS_LIST and fetched again whenever the keys process is a new one,
 * ipc_client_connection), then the signatures of the digests (one
 * IPC_KEYS_SIGN per key).  The worker's thread is held for that round trip
 * (a few milliseconds; RSA 2048 signs in about 1 ms); the loop never waits.
 *
 * Key ids: a key signs for DOMAIN with selector S when its id (its file
 * name, DATA_DIR/dkim/ID.pem) is "S._domainkey.DOMAIN", the DNS name of its
 * public half.  Other ids are the keys process's business (`petrel keys`),
 * not used for signing.  At most KEYSD_SIGNER_KEYS_MAX keys sign a message.
 *
 * While the keys process restarts (`petrel dkim keygen`, a crash) there is
 * no channel: a call waits for the new one, retried every
 * SIGNER_RETRY_MS, until its deadline; or, for a domain that had no key
 * in the last list, SIGNER_GRACE_MS.  A call whose worker stopped
 * waiting (timed out) is marked abandoned and freed by the loop when its
 * answer comes.  keysd_signer_stop (on the loop, when the loop has ended)
 * answers every call with a failure and refuses new ones, so that pool_free
 * does not wait for timeouts.
 *
 * The workers are the whole server's (queue writes, local delivery, the
 * store): at most WAITERS_MAX of them wait for the keys process at once,
 * so that one that does not answer cannot take them all.  A call beyond
 * that waits SIGNER_SLOT_MS for a turn (a keys process that answers gives
 * one in milliseconds), then fails: the message goes unsigned, as it would
 * at the timeout.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "ipc/ipc.h"
#include "keysd/keysd.h"
#include "mailauth/mailauth.h"
#include "message/message.h"
#include "util/log.h"
#include "util/xalloc.h"

#define SIGNER_RETRY_MS 50          /* waiting for the keys process's channel */
/* how long a domain without a key in the last list waits for a keys process
 * that is not there (restarting): long enough for a restart after keygen */
#define SIGNER_GRACE_MS 1000
/* how long a call waits for a turn when WAITERS_MAX others wait already */
#define SIGNER_SLOT_MS 100
#define SIGNER_SELECTOR_MAX KEYSD_ID_MAX
#define DOMAINKEY "._domainkey."

struct signer_key {
	char *id;
	char *domain;                   /* lower case */
	char *selector;
	enum dkim_sign_algorithm algorithm;
	char *record;                   /* its DNS record, to publish; NULL: unknown */
};

/* a page waiting for the current key list (keysd_signer_list_wait) */
struct keysd_signer_watch {
	struct keysd_signer_watch *next;
	keysd_signer_list_cb *cb;
	void *ctx;
};

enum signer_call_type { CALL_KEYS, CALL_SIGN };

struct signer_call;
struct signer_slot {
	struct signer_call *call;
	size_t index;
	uint32_t ipc_id;                /* 0: no IPC call in flight */
};

/* One worker's request.  The worker owns it until it is queued; then the
 * loop fills it, and whoever comes last (the worker that gets done, or the
 * loop that finds it abandoned) frees it. */
struct signer_call {
	struct signer_call *next;       /* on the queue, parked or active list */
	struct keysd_signer *signer;
	enum signer_call_type type;
	uint64_t queued_ms, deadline_ms; /* monotonic */
	bool done, abandoned;           /* under the signer's lock */
	const char *error;              /* when done: NULL or why not */
	char domain[MAILAUTH_DOMAIN_SIZE];
	size_t count;                   /* keys found, then to sign with */
	struct {
		char id[KEYSD_ID_MAX + 1];
		char selector[SIGNER_SELECTOR_MAX + 1];
		enum dkim_sign_algorithm algorithm;
		unsigned char digest[DKIM_SIGN_DIGEST_LEN];
		unsigned char sig[KEYSD_SIG_MAX];
		size_t sig_len;             /* 0: no signature */
	} keys[KEYSD_SIGNER_KEYS_MAX];
	struct signer_slot slots[KEYSD_SIGNER_KEYS_MAX];
	size_t waiting;                 /* IPC_KEYS_SIGN calls in flight */
};

struct keysd_signer {
	struct event_base *base;
	struct ipc_client *keys;
	unsigned timeout_ms;
	unsigned waiters_max;
	pthread_mutex_t lock;
	pthread_cond_t cond;            /* CLOCK_MONOTONIC */
	int wake_fd;
	struct event *wake_ev, *retry_ev;
	struct signer_call *queue;      /* from the workers, under LOCK */
	bool stopping;                  /* under LOCK */
	unsigned waiters;               /* workers in signer_wait, under LOCK */
	/* the loop's own */
	struct signer_call *parked;     /* waiting for a channel or the list */
	struct signer_call *active;     /* IPC_KEYS_SIGN calls in flight */
	struct signer_key *map;
	size_t map_count;
	uint64_t map_conn;              /* the connection MAP came from; 0: none */
	uint32_t list_call;             /* IPC_KEYS_LIST in flight (0: none) */
	uint64_t list_conn;
	uint32_t list_index;            /* the page being fetched starts here */
	struct signer_key *list;        /* being fetched */
	size_t list_count;
	struct keysd_signer_watch *watches;  /* waiting for MAP to be current */
};

static uint64_t now_ms(void);
static void signer_wake_cb(evutil_socket_t fd, short what, void *arg);
static void signer_retry_cb(evutil_socket_t fd, short what, void *arg);
static void signer_run(struct keysd_signer *sg, struct signer_call *call);
static void signer_park(struct keysd_signer *sg, struct signer_call *call);
static void signer_list_start(struct keysd_signer *sg);
static void signer_list_reply_cb(void *ctx, const struct ipc_msg *reply);
static void signer_sign_reply_cb(void *ctx, const struct ipc_msg *reply);
static void signer_finish(struct signer_call *call, const char *error);
static void signer_finish_locked(struct signer_call *call, const char *error);
static void signer_list_remove(struct signer_call **list, struct signer_call *call);
static bool signer_map_has(const struct keysd_signer *sg, const char *domain);
static void keys_free(struct signer_key *keys, size_t count);
static int signer_wait(struct keysd_signer *sg, struct signer_call *call, const char **error_r);
static bool signer_turn_locked(struct keysd_signer *sg);
static struct timespec abs_ms(uint64_t ms);
static int from_domain(const struct buf *message, char domain[MAILAUTH_DOMAIN_SIZE]);

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

bool keysd_id_dkim(const char *id, char *selector_r, size_t selector_size,
		   const char **domain_r)
{
	const char *mark = strstr(id, DOMAINKEY);
	if (!mark || mark == id || mark[strlen(DOMAINKEY)] == '\0' ||
	    (size_t)(mark - id) >= selector_size)
		return false;
	memcpy(selector_r, id, (size_t)(mark - id));
	selector_r[mark - id] = '\0';
	*domain_r = mark + strlen(DOMAINKEY);
	return true;
}

size_t keysd_dkim_selectors(const char *data_dir, const char *domain, char ***selectors_r)
{
	size_t count = 0;
	char *path = xasprintf("%s/dkim", data_dir);
	DIR *d = opendir(path);
	free(path);
	*selectors_r = NULL;
	if (d == NULL)
		return 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		size_t n = strlen(de->d_name);
		if (n <= 4 || n - 4 > KEYSD_ID_MAX || strcmp(de->d_name + n - 4, ".pem") != 0)
			continue;
		char id[KEYSD_ID_MAX + 1], selector[KEYSD_ID_MAX + 1];
		const char *key_domain = NULL;
		memcpy(id, de->d_name, n - 4);
		id[n - 4] = '\0';
		if (!keysd_id_dkim(id, selector, sizeof(selector), &key_domain) ||
		    strcasecmp(key_domain, domain) != 0)
			continue;
		*selectors_r = xrealloc(*selectors_r, (count + 1) * sizeof(**selectors_r));
		(*selectors_r)[count++] = xstrdup(selector);
	}
	(void)closedir(d);
	return count;
}

void keysd_dkim_selectors_free(char ***selectors, size_t count)
{
	for (size_t i = 0; i < count; i++)
		free((*selectors)[i]);
	free(*selectors);
	*selectors = NULL;
}

struct keysd_signer *keysd_signer_create(struct event_base *base, struct ipc_client *keys,
					 unsigned timeout_ms, unsigned waiters_max)
{
	struct keysd_signer *sg = xcalloc(1, sizeof(*sg));
	pthread_condattr_t attr;
	sg->base = base;
	sg->keys = keys;
	sg->timeout_ms = timeout_ms;
	sg->waiters_max = waiters_max > 0 ? waiters_max : 1;
	if (pthread_mutex_init(&sg->lock, NULL) != 0 || pthread_condattr_init(&attr) != 0 ||
	    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) != 0 ||
	    pthread_cond_init(&sg->cond, &attr) != 0)
		abort();
	pthread_condattr_destroy(&attr);
	sg->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (sg->wake_fd < 0)
		abort();  /* only fails without memory or descriptors at start */
	sg->wake_ev = event_new(base, sg->wake_fd, EV_READ | EV_PERSIST, signer_wake_cb, sg);
	sg->retry_ev = evtimer_new(base, signer_retry_cb, sg);
	if (!sg->wake_ev || !sg->retry_ev || event_add(sg->wake_ev, NULL) != 0)
		abort();
	return sg;
}

static void keys_free(struct signer_key *keys, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		free(keys[i].id);
		free(keys[i].domain);
		free(keys[i].selector);
		free(keys[i].record);
	}
	free(keys);
}

/* keysd_signer_stop - (loop, the loop no longer running) every call gets a
 * failure now and later ones at once */
void keysd_signer_stop(struct keysd_signer *sg)
{
	if (!sg)
		return;
	pthread_mutex_lock(&sg->lock);
	sg->stopping = true;
	pthread_cond_broadcast(&sg->cond);  /* workers waiting for a turn */
	struct signer_call *lists[3] = { sg->queue, sg->parked, sg->active };
	sg->queue = sg->parked = sg->active = NULL;
	for (int l = 0; l < 3; l++) {
		while (lists[l]) {
			struct signer_call *call = lists[l];
			lists[l] = call->next;
			for (size_t i = 0; i < call->count; i++)
				if (call->slots[i].ipc_id)
					ipc_client_cancel(sg->keys, call->slots[i].ipc_id);
			signer_finish_locked(call, "the server is stopping");
		}
	}
	pthread_mutex_unlock(&sg->lock);
	if (sg->list_call) {
		ipc_client_cancel(sg->keys, sg->list_call);
		sg->list_call = 0;
	}
}

void keysd_signer_free(struct keysd_signer **signer)
{
	struct keysd_signer *sg = *signer;
	if (!sg)
		return;
	*signer = NULL;
	keysd_signer_stop(sg);
	event_free(sg->wake_ev);
	event_free(sg->retry_ev);
	if (close(sg->wake_fd) != 0)
		log_warn("close-failed", "what=signer-eventfd error=\"%s\"", strerror(errno));
	keys_free(sg->map, sg->map_count);
	keys_free(sg->list, sg->list_count);
	while (sg->watches) {
		struct keysd_signer_watch *w = sg->watches;
		sg->watches = w->next;
		free(w);
	}
	pthread_cond_destroy(&sg->cond);
	pthread_mutex_destroy(&sg->lock);
	free(sg);
}

/* signer_wake_cb - workers queued calls */
static void signer_wake_cb(evutil_socket_t fd, short what, void *arg)
{
	struct keysd_signer *sg = arg;
	uint64_t n;
	(void)what;
	if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_warn("read-failed", "what=signer-eventfd error=\"%s\"", strerror(errno));
	pthread_mutex_lock(&sg->lock);
	struct signer_call *calls = sg->queue;
	sg->queue = NULL;
	pthread_mutex_unlock(&sg->lock);
	/* the queue is newest first: run them in arrival order */
	struct signer_call *ordered = NULL;
	while (calls) {
		struct signer_call *c = calls;
		calls = c->next;
		c->next = ordered;
		ordered = c;
	}
	while (ordered) {
		struct signer_call *c = ordered;
		ordered = c->next;
		c->next = NULL;
		signer_run(sg, c);
	}
}

/* signer_retry_cb - the parked calls try again */
static void signer_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct keysd_signer *sg = arg;
	(void)fd;
	(void)what;
	struct signer_call *calls = sg->parked;
	sg->parked = NULL;
	while (calls) {
		struct signer_call *c = calls;
		calls = c->next;
		c->next = NULL;
		signer_run(sg, c);
	}
}

/* signer_park - CALL waits for a channel or the key list */
static void signer_park(struct keysd_signer *sg, struct signer_call *call)
{
	call->next = sg->parked;
	sg->parked = call;
	struct timeval tv = { 0, SIGNER_RETRY_MS * 1000 };
	if (!evtimer_pending(sg->retry_ev, NULL) && evtimer_add(sg->retry_ev, &tv) != 0)
		abort();
}

/* signer_run - (loop) do what CALL asks, or park it until it can be done */
static void signer_run(struct keysd_signer *sg, struct signer_call *call)
{
	uint64_t now = now_ms();
	if (now >= call->deadline_ms) {
		signer_finish(call, "the keys process did not answer in time");
		return;
	}
	/* no current list: a domain that had no key in the last one waits
	 * only SIGNER_GRACE_MS, so that mail of domains without keys is not
	 * held up for the whole timeout by a keys process that keeps failing */
	uint64_t conn = ipc_client_connection(sg->keys);
	bool current = ipc_client_connected(sg->keys) && sg->map_conn == conn;
	if (call->type == CALL_KEYS && !current && sg->map_conn != 0 &&
	    now >= call->queued_ms + SIGNER_GRACE_MS && !signer_map_has(sg, call->domain)) {
		call->count = 0;
		signer_finish(call, NULL);
		return;
	}
	if (!ipc_client_connected(sg->keys)) {
		signer_park(sg, call);
		return;
	}
	if (call->type == CALL_KEYS) {
		if (sg->map_conn != conn) {
			signer_list_start(sg);
			signer_park(sg, call);
			return;
		}
		/* RSA first: the topmost signature is the one a verifier that
		 * checks only one (or knows no Ed25519, RFC 8463 is recent) sees */
		call->count = 0;
		for (size_t n = 0; n < 2 * sg->map_count && call->count < KEYSD_SIGNER_KEYS_MAX;
		     n++) {
			const struct signer_key *k = &sg->map[n % sg->map_count];
			bool rsa_pass = n < sg->map_count;
			if (strcmp(k->domain, call->domain) != 0 ||
			    (k->algorithm == DKIM_SIGN_RSA_SHA256) != rsa_pass)
				continue;
			snprintf(call->keys[call->count].id, sizeof(call->keys[0].id), "%s", k->id);
			snprintf(call->keys[call->count].selector, sizeof(call->keys[0].selector),
				 "%s", k->selector);
			call->keys[call->count++].algorithm = k->algorithm;
		}
		signer_finish(call, NULL);
		return;
	}
	/* CALL_SIGN */
	call->waiting = 0;
	for (size_t i = 0; i < call->count; i++) {
		struct ipc_field f[3] = {
			ipc_text(call->keys[i].id),
			ipc_text(dkim_sign_algorithm_name(call->keys[i].algorithm)),
			{ call->keys[i].digest, DKIM_SIGN_DIGEST_LEN },
		};
		call->slots[i].call = call;
		call->slots[i].index = i;
		call->slots[i].ipc_id = ipc_client_call(sg->keys, IPC_KEYS_SIGN, 3, f,
							signer_sign_reply_cb, &call->slots[i]);
		call->waiting++;
	}
	call->next = sg->active;
	sg->active = call;
	if (call->waiting == 0) {
		signer_list_remove(&sg->active, call);
		signer_finish(call, "no key to sign with");
	}
}

/* signer_list_start - fetch the key list of the current keys process */
static void signer_list_start(struct keysd_signer *sg)
{
	uint64_t conn = ipc_client_connection(sg->keys);
	if (sg->list_call && sg->list_conn == conn)
		return;
	if (sg->list_call)
		ipc_client_cancel(sg->keys, sg->list_call);
	keys_free(sg->list, sg->list_count);
	sg->list = NULL;
	sg->list_count = 0;
	sg->list_conn = conn;
	sg->list_index = 0;
	unsigned char n[8];
	struct ipc_field f = ipc_u32(0, n);
	sg->list_call = ipc_client_call(sg->keys, IPC_KEYS_LIST, 1, &f, signer_list_reply_cb, sg);
}

/* signer_list_reply_cb - a page of (id, algorithm, public key) triples;
 * a short page is the last */
static void signer_list_reply_cb(void *ctx, const struct ipc_msg *reply)
{
	struct keysd_signer *sg = ctx;
	sg->list_call = 0;
	if (!reply || reply->type != IPC_R_OK || reply->count % 3 != 0) {
		log_warn("dkim-keys-list-failed", "reason=\"%s\"",
			 reply ? "unexpected answer" : "no answer from the keys process");
		return;  /* the parked calls try again, until their deadline */
	}
	for (unsigned i = 0; i + 2 < reply->count; i += 3) {
		char *id = NULL, *alg = NULL;
		char selector[SIGNER_SELECTOR_MAX + 1];
		const char *domain = NULL;
		if (ipc_field_text(reply, i, KEYSD_ID_MAX, &id) &&
		    ipc_field_text(reply, i + 1, 32, &alg) &&
		    keysd_id_dkim(id, selector, sizeof(selector), &domain) &&
		    (strcmp(alg, KEYSD_ALG_RSA) == 0 || strcmp(alg, KEYSD_ALG_ED25519) == 0)) {
			sg->list = xrealloc(sg->list, (sg->list_count + 1) * sizeof(*sg->list));
			struct signer_key *k = &sg->list[sg->list_count++];
			k->id = xstrdup(id);
			k->domain = xstrdup(domain);
			for (char *p = k->domain; *p; p++)
				*p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
			k->selector = xstrdup(selector);
			k->algorithm = strcmp(alg, KEYSD_ALG_RSA) == 0 ? DKIM_SIGN_RSA_SHA256 :
				DKIM_SIGN_ED25519_SHA256;
			struct keysd_public pub;
			const char *error = NULL;
			k->record = reply->field[i + 2].len > 0 &&
				    keysd_public_describe(reply->field[i + 2].data,
							  reply->field[i + 2].len, &pub, &error) == 0 ?
				    pub.dns : NULL;
		}
		free(id);
		free(alg);
	}
	if (reply->count / 3 == KEYSD_LIST_PAGE) {
		/* the next page starts after the keys seen so far, used or not */
		unsigned char n[8];
		sg->list_index += KEYSD_LIST_PAGE;
		struct ipc_field f = ipc_u32(sg->list_index, n);
		sg->list_call = ipc_client_call(sg->keys, IPC_KEYS_LIST, 1, &f,
						signer_list_reply_cb, sg);
		return;
	}
	keys_free(sg->map, sg->map_count);
	sg->map = sg->list;
	sg->map_count = sg->list_count;
	sg->map_conn = sg->list_conn;
	sg->list = NULL;
	sg->list_count = 0;
	log_info("dkim-keys", "signing_keys=%zu", sg->map_count);
	signer_retry_cb(-1, 0, sg);  /* the parked calls, now */
	while (sg->watches) {        /* one at a time: a callback may cancel another */
		struct keysd_signer_watch *w = sg->watches;
		sg->watches = w->next;
		w->cb(w->ctx);
		free(w);
	}
}

struct keysd_signer_watch *keysd_signer_list_wait(struct keysd_signer *sg,
						  keysd_signer_list_cb *cb, void *ctx)
{
	if (!ipc_client_connected(sg->keys) || sg->map_conn == ipc_client_connection(sg->keys))
		return NULL;
	signer_list_start(sg);
	struct keysd_signer_watch *w = xcalloc(1, sizeof(*w));
	*w = (struct keysd_signer_watch){ .next = sg->watches, .cb = cb, .ctx = ctx };
	sg->watches = w;
	return w;
}

void keysd_signer_watch_cancel(struct keysd_signer *sg, struct keysd_signer_watch **watch)
{
	for (struct keysd_signer_watch **p = &sg->watches; *watch && *p; p = &(*p)->next) {
		if (*p == *watch) {
			*p = (*watch)->next;
			free(*watch);
			break;
		}
	}
	*watch = NULL;
}

size_t keysd_signer_domain_keys(const struct keysd_signer *sg, const char *domain,
				struct keysd_dkim_key **keys_r)
{
	size_t count = 0;
	*keys_r = NULL;
	for (size_t i = 0; i < sg->map_count; i++) {
		const struct signer_key *k = &sg->map[i];
		if (strcasecmp(k->domain, domain) != 0)
			continue;
		*keys_r = xrealloc(*keys_r, (count + 1) * sizeof(**keys_r));
		(*keys_r)[count++] = (struct keysd_dkim_key){
			.selector = xstrdup(k->selector),
			.record = k->record ? xstrdup(k->record) : NULL,
		};
	}
	return count;
}

void keysd_dkim_keys_free(struct keysd_dkim_key **keys, size_t count)
{
	for (size_t i = 0; *keys && i < count; i++) {
		free((*keys)[i].selector);
		free((*keys)[i].record);
	}
	free(*keys);
	*keys = NULL;
}

/* signer_sign_reply_cb - one signature, or none */
static void signer_sign_reply_cb(void *ctx, const struct ipc_msg *reply)
{
	struct signer_slot *slot = ctx;
	struct signer_call *call = slot->call;
	struct keysd_signer *sg = call->signer;
	size_t i = slot->index;
	slot->ipc_id = 0;
	if (reply && reply->type == IPC_R_OK && reply->count == 1 && reply->field[0].len > 0 &&
	    reply->field[0].len <= KEYSD_SIG_MAX) {
		memcpy(call->keys[i].sig, reply->field[0].data, reply->field[0].len);
		call->keys[i].sig_len = reply->field[0].len;
	} else {
		char *reason = NULL;
		if (reply && (reply->type == IPC_R_FAIL || reply->type == IPC_R_BAD))
			(void)ipc_field_text(reply, 0, 150, &reason);
		log_warn("dkim-sign-failed", "key=%s reason=\"%s\"", call->keys[i].id,
			 reason ? reason : reply ? "unexpected answer" : "no answer");
		free(reason);
	}
	if (--call->waiting > 0)
		return;
	signer_list_remove(&sg->active, call);
	signer_finish(call, NULL);
}

/* signer_map_has - DOMAIN has a key in the last list */
static bool signer_map_has(const struct keysd_signer *sg, const char *domain)
{
	for (size_t i = 0; i < sg->map_count; i++)
		if (strcmp(sg->map[i].domain, domain) == 0)
			return true;
	return false;
}

static void signer_list_remove(struct signer_call **list, struct signer_call *call)
{
	for (struct signer_call **p = list; *p; p = &(*p)->next) {
		if (*p == call) {
			*p = call->next;
			call->next = NULL;
			return;
		}
	}
}

static void signer_finish(struct signer_call *call, const char *error)
{
	struct keysd_signer *sg = call->signer;
	pthread_mutex_lock(&sg->lock);
	signer_finish_locked(call, error);
	pthread_mutex_unlock(&sg->lock);
}

/* signer_finish_locked - the answer is in: the waiting worker wakes, or an
 * abandoned call goes */
static void signer_finish_locked(struct signer_call *call, const char *error)
{
	if (call->abandoned) {
		free(call);
		return;
	}
	call->error = error;
	call->done = true;
	pthread_cond_broadcast(&call->signer->cond);
}

static struct timespec abs_ms(uint64_t ms)
{
	return (struct timespec){ .tv_sec = (time_t)(ms / 1000),
				  .tv_nsec = (long)(ms % 1000) * 1000000 };
}

/* signer_turn_locked - (worker, under LOCK) wait, at most SIGNER_SLOT_MS,
 * until fewer than WAITERS_MAX workers wait for the keys process, and
 * count this one in */
static bool signer_turn_locked(struct keysd_signer *sg)
{
	struct timespec abs = abs_ms(now_ms() + SIGNER_SLOT_MS);
	while (sg->waiters >= sg->waiters_max && !sg->stopping)
		if (pthread_cond_timedwait(&sg->cond, &sg->lock, &abs) == ETIMEDOUT)
			break;
	if (sg->waiters >= sg->waiters_max || sg->stopping)
		return false;
	sg->waiters++;
	return true;
}

/* signer_wait - (worker) queue CALL for the loop and wait for its answer;
 * 0, or -1 and *error_r (CALL is then the loop's to free, or freed) */
static int signer_wait(struct keysd_signer *sg, struct signer_call *call, const char **error_r)
{
	uint64_t one = 1;
	call->signer = sg;
	pthread_mutex_lock(&sg->lock);
	if (!signer_turn_locked(sg)) {
		*error_r = sg->stopping ? "the server is stopping" :
			"too many workers wait for the keys process";
		pthread_mutex_unlock(&sg->lock);
		free(call);
		return -1;
	}
	call->queued_ms = now_ms();
	call->deadline_ms = call->queued_ms + sg->timeout_ms;
	call->next = sg->queue;
	sg->queue = call;
	if (write(sg->wake_fd, &one, sizeof(one)) != sizeof(one))
		log_warn("write-failed", "what=signer-eventfd error=\"%s\"", strerror(errno));
	/* a little past the loop's deadline: the loop's answer normally wins */
	struct timespec abs = abs_ms(call->deadline_ms + 1000);
	while (!call->done) {
		int rc = pthread_cond_timedwait(&sg->cond, &sg->lock, &abs);
		if (rc == ETIMEDOUT && !call->done) {
			call->abandoned = true;
			sg->waiters--;
			pthread_cond_broadcast(&sg->cond);
			pthread_mutex_unlock(&sg->lock);
			*error_r = "the keys process did not answer in time";
			return -1;
		}
	}
	sg->waiters--;
	pthread_cond_broadcast(&sg->cond);
	pthread_mutex_unlock(&sg->lock);
	if (call->error) {
		*error_r = call->error;
		free(call);
		return -1;
	}
	return 0;
}

/* from_domain - the domain of the (first) From: address, lower case; 0, or
 * -1 when there is none to sign for */
static int from_domain(const struct buf *message, char domain[MAILAUTH_DOMAIN_SIZE])
{
	struct message_headers headers;
	int ret = -1;
	message_headers_parse(message->data ? message->data : "", message->len, &headers);
	const struct message_header *from = message_header_find(&headers, "From", 0);
	char **addrs = from ? message_address_list_parse(from->value, from->value_len) : NULL;
	const char *at = addrs && addrs[0] ? strrchr(addrs[0], '@') : NULL;
	if (at && strlen(at + 1) > 0 && strlen(at + 1) < MAILAUTH_DOMAIN_SIZE) {
		size_t n = 0;
		for (const char *p = at + 1; *p; p++)
			domain[n++] = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
		if (n > 1 && domain[n - 1] == '.')
			n--;
		domain[n] = '\0';
		ret = 0;
	}
	message_strv_free(&addrs);
	message_headers_free(&headers);
	return ret;
}

int keysd_signer_sign_blocking(struct keysd_signer *sg, struct buf *message, long long now,
			       const char **error_r)
{
	char domain[MAILAUTH_DOMAIN_SIZE];
	if (from_domain(message, domain) != 0)
		return 0;
	struct signer_call *call = xcalloc(1, sizeof(*call));
	call->type = CALL_KEYS;
	memcpy(call->domain, domain, sizeof(domain));
	if (signer_wait(sg, call, error_r) != 0)
		return -1;
	if (call->count == 0) {
		free(call);
		return 0;
	}
	/* the digests, here on the worker */
	struct dkim_sign *signers[KEYSD_SIGNER_KEYS_MAX] = { NULL };
	size_t n = 0;
	for (size_t i = 0; i < call->count; i++) {
		struct dkim_sign_params params = {
			.domain = domain, .selector = call->keys[i].selector,
			.algorithm = call->keys[i].algorithm, .timestamp = now,
		};
		const char *error = NULL;
		struct dkim_sign *s = dkim_sign_new(&params, &error);
		if (s) {
			dkim_sign_feed(s, message->data, message->len);
			if (dkim_sign_digest(s, call->keys[i].digest, &error) != 0)
				dkim_sign_free(&s);
		}
		if (!s) {
			log_warn("dkim-sign-failed", "key=%s reason=\"%s\"", call->keys[i].id, error);
			continue;
		}
		if (n != i)
			call->keys[n] = call->keys[i];
		signers[n++] = s;
	}
	call->count = n;
	call->type = CALL_SIGN;
	call->done = false;
	call->error = NULL;
	int ret = -1;
	if (n == 0) {
		*error_r = "no digest could be made";
		free(call);
		goto out;
	}
	if (signer_wait(sg, call, error_r) != 0) {
		call = NULL;
		goto out;
	}
	/* the fields on top, in the order of the keys */
	struct buf out;
	buf_init(&out);
	ret = 0;
	for (size_t i = 0; i < n; i++) {
		if (call->keys[i].sig_len == 0)
			continue;
		char *field = dkim_sign_field(signers[i], call->keys[i].sig, call->keys[i].sig_len);
		buf_append_str(&out, field);
		free(field);
		ret++;
	}
	if (ret == 0) {
		*error_r = "the keys process signed nothing";
		ret = -1;
		buf_free(&out);
	} else {
		buf_append(&out, message->data, message->len);
		buf_free(message);
		*message = out;
	}
	free(call);
out:
	for (size_t i = 0; i < n; i++)
		dkim_sign_free(&signers[i]);
	return ret;
}
