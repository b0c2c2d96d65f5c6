/* test-log - util/log's ring (log_async_start): a ring the thread drains
 * starts again at its first byte, so a process that logs steadily keeps
 * only the pages of its largest backlog resident, not the whole buffer. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/log.h"

#define RING_SIZE (8u << 20)
#define LINES 24000        /* of about 400 bytes: 9.6 MB, more than the ring */
#define BURST 200          /* lines, then a pause longer than the thread's linger */
#define PAUSE_MS 15

/* resident_bytes - this process's resident memory, from /proc/self/statm */
static size_t resident_bytes(void)
{
	unsigned long size = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	assert_non_null(f);
	assert_int_equal(fscanf(f, "%lu %lu", &size, &resident), 2);
	fclose(f);
	return resident * (size_t)sysconf(_SC_PAGESIZE);
}

/* test_drained_ring_restarts - 9.6 MB of lines through an 8 MiB ring, in
 * bursts of 80 KB that the thread drains between them: before, the records marched through the whole
 * ring and every page of it became resident (8 MiB and more) */
static void test_drained_ring_restarts(void **state)
{
	(void)state;
	int null = open("/dev/null", O_WRONLY);
	assert_true(null >= 0);
	int saved = dup(STDERR_FILENO);
	assert_true(saved >= 0);
	assert_int_equal(dup2(null, STDERR_FILENO), STDERR_FILENO);
	close(null);

	char pad[381];
	memset(pad, 'x', sizeof(pad) - 1);
	pad[sizeof(pad) - 1] = '\0';
	log_init("test-log", LOG_LEVEL_INFO, false);
	assert_int_equal(log_async_start(RING_SIZE), 0);
	size_t before = resident_bytes();
	const struct timespec pause = { .tv_sec = 0, .tv_nsec = PAUSE_MS * 1000000L };
	for (int i = 0; i < LINES; i++) {
		log_info("test-line", "n=%d pad=%s", i, pad);
		if (i % BURST == BURST - 1)
			nanosleep(&pause, NULL);
	}
	size_t grown = resident_bytes() - before;
	assert_true(log_async_stop(5000));

	assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
	close(saved);
	if (grown >= RING_SIZE / 2)
		fail_msg("resident memory grew by %zu bytes logging through a drained ring",
			 grown);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_drained_ring_restarts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
