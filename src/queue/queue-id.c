/* queue/queue-id - queue IDs: 16 upper-case hex digits, time-ordered, unique
 * on this node and across the nodes that share one store.
 *
 * The 64 bits are, from the top:
 *   42 bits  milliseconds since 2020-01-01 UTC (good until 2159)
 *   14 bits  sequence within the millisecond
 *    8 bits  the node's number (store_node_register: unique among the node
 *            names of one store, kept for the name's life); before
 *            queue_id_set_node (the CLI, tests), a per-process salt
 *            (getrandom, mixed with the pid)
 * The top 56 bits come from one atomic counter that never goes backwards:
 * each ID takes max(now << 14, last + 1), so IDs are unique and increasing in
 * this process even past 16384 IDs per millisecond (they borrow from the next
 * millisecond) or when the clock steps back.  Two nodes differ in the low 8
 * bits, so they never make the same ID whatever their clocks say: that is a
 * guarantee, where the salt was a 1-in-256 chance.  Across restarts of one
 * node the time moved on (a start takes far longer than a millisecond).
 */
#include "queue/queue.h"

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define QUEUE_ID_EPOCH_MS 1577836800000ULL  /* 2020-01-01T00:00:00Z */
#define QUEUE_ID_SEQ_BITS 14
#define QUEUE_ID_NODE_BITS 8

static void queue_id_seed(void);
static uint64_t queue_id_now_ms(void);

static pthread_once_t queue_id_once = PTHREAD_ONCE_INIT;
static _Atomic uint64_t queue_id_last;  /* time << SEQ_BITS | sequence */
static unsigned queue_id_salt;
static _Atomic int queue_id_node_number = -1;  /* -1: none, the salt */

/* queue_id_seed - pick this process's salt */
static void queue_id_seed(void)
{
	unsigned char r = 0;
	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r)) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		r = (unsigned char)(ts.tv_nsec ^ (ts.tv_nsec >> 8));
	}
	queue_id_salt = (r ^ (unsigned)getpid() ^ ((unsigned)getpid() >> 8)) &
		((1u << QUEUE_ID_NODE_BITS) - 1);
}

/* queue_id_now_ms - wall-clock milliseconds since the ID epoch */
static uint64_t queue_id_now_ms(void)
{
	struct timespec ts;
	if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
		return 0;  /* cannot happen with CLOCK_REALTIME; the counter still advances */
	uint64_t ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
	return ms > QUEUE_ID_EPOCH_MS ? ms - QUEUE_ID_EPOCH_MS : 0;
}

void queue_id_set_node(unsigned number)
{
	assert(number < QUEUE_ID_NODES);
	atomic_store(&queue_id_node_number, (int)number);
}

void queue_id_format(uint64_t stamp, unsigned node, char id_r[QUEUE_ID_LEN + 1])
{
	uint64_t value = stamp << QUEUE_ID_NODE_BITS | (node & (QUEUE_ID_NODES - 1));
	snprintf(id_r, QUEUE_ID_LEN + 1, "%016llX", (unsigned long long)value);
}

void queue_id_new(char id_r[QUEUE_ID_LEN + 1])
{
	pthread_once(&queue_id_once, queue_id_seed);
	uint64_t now = (queue_id_now_ms() & ((1ULL << 42) - 1)) << QUEUE_ID_SEQ_BITS;
	uint64_t last = atomic_load(&queue_id_last);
	uint64_t next;
	do {
		next = now > last ? now : last + 1;
	} while (!atomic_compare_exchange_weak(&queue_id_last, &last, next));
	int node = atomic_load(&queue_id_node_number);
	queue_id_format(next, node >= 0 ? (unsigned)node : queue_id_salt, id_r);
}

bool queue_id_is_valid(const char *id)
{
	bool ok = id != NULL;
	for (size_t i = 0; ok && i < QUEUE_ID_LEN; i++)
		ok = (id[i] >= '0' && id[i] <= '9') || (id[i] >= 'A' && id[i] <= 'F');
	return ok && id[QUEUE_ID_LEN] == '\0';
}

/* queue_id_value - ID's 64 bits; false if ID is not valid */
static bool queue_id_value(const char *id, uint64_t *value_r)
{
	if (!queue_id_is_valid(id))
		return false;
	uint64_t value = 0;
	for (size_t i = 0; i < QUEUE_ID_LEN; i++)
		value = value << 4 | (uint64_t)(id[i] <= '9' ? id[i] - '0' : id[i] - 'A' + 10);
	*value_r = value;
	return true;
}

bool queue_id_time(const char *id, time_t *time_r)
{
	uint64_t value;
	if (!queue_id_value(id, &value))
		return false;
	uint64_t ms = value >> (QUEUE_ID_SEQ_BITS + QUEUE_ID_NODE_BITS);
	*time_r = (time_t)((QUEUE_ID_EPOCH_MS + ms) / 1000u);
	return true;
}

bool queue_id_node(const char *id, unsigned *node_r)
{
	uint64_t value;
	if (!queue_id_value(id, &value))
		return false;
	*node_r = (unsigned)(value & (QUEUE_ID_NODES - 1));
	return true;
}
