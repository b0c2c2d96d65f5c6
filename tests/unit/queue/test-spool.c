/* test-spool - the running queue on a real event loop, worker pool and
 * temporary data folder: recovery of a hand-written spool (the layout of
 * earlier versions converted: incomplete files, orphan logs, a .rcpt log
 * preventing redelivery; and files of the current layout whose state log
 * after the body has a torn last line), submission with group commit,
 * deferral recorded in the file's log and applied after a restart,
 * submission errors, and queue list/show. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "config/config.h"
#include "queue/queue.h"
#include "util/log.h"
#include "util/pool.h"
#include "util/xalloc.h"

struct fixture {
	char dir[256];
	struct config *config;
	struct event_base *base;
	struct pool *pool;
	struct queue *queue;
};

struct submit_result {
	int calls;
	int status;
	char id[QUEUE_ID_LEN + 1];
	const char *error;
};

typedef bool until_fn(struct fixture *f);

struct until {
	struct fixture *f;
	until_fn *fn;
	struct event *ev;
};

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	strcpy(f->dir, "/tmp/petrel-test-spool-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	f->config = config_defaults();
	free(f->config->data_dir);
	f->config->data_dir = xstrdup(f->dir);
	free(f->config->hostname);
	f->config->hostname = xstrdup("mx.test");
	for (size_t i = 0; i < f->config->local_domain_count; i++)
		free(f->config->local_domains[i]);
	free(f->config->local_domains);
	f->config->local_domains = xcalloc(3, sizeof(char *));
	f->config->local_domains[0] = xstrdup("example.org");
	f->config->local_domains[1] = xstrdup("example.net");
	f->config->local_domain_count = 2;
	f->config->workers = 2;
	f->base = event_base_new();
	f->pool = pool_create(f->base, 2);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[300];
	queue_free(&f->queue);
	pool_free(&f->pool);
	event_base_free(f->base);
	config_free(&f->config);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	int r = system(cmd);
	free(f);
	return r == 0 ? 0 : -1;
}

static void until_tick(evutil_socket_t fd, short what, void *arg)
{
	struct until *u = arg;
	(void)fd;
	(void)what;
	if (u->fn(u->f))
		event_base_loopbreak(u->f->base);
}

/* run_until - run the loop until FN says so (checked every 5 ms), 20 s max */
static void run_until(struct fixture *f, until_fn *fn)
{
	struct until u = { f, fn, NULL };
	struct timeval tick = { 0, 5000 };
	u.ev = event_new(f->base, -1, EV_PERSIST, until_tick, &u);
	event_add(u.ev, &tick);
	for (int i = 0; i < 4000 && !fn(f); i++)
		event_base_loop(f->base, EVLOOP_ONCE);
	event_free(u.ev);
	assert_true(fn(f));
}

static int count_files(struct fixture *f, const char *rel);

/* spool_empty - nothing in memory, nothing in new/ or defer/ */
static bool spool_empty(struct fixture *f)
{
	return queue_message_count(f->queue) == 0 && count_files(f, "queue/new") <= 0 &&
		count_files(f, "queue/defer") <= 0;
}

static bool one_left(struct fixture *f)
{
	return queue_message_count(f->queue) == 1;
}

static char *path_of(struct fixture *f, const char *rel)
{
	return xasprintf("%s/%s", f->dir, rel);
}

/* count_files - entries of DIR/REL other than . and .. (-1: none) */
static int count_files(struct fixture *f, const char *rel)
{
	char *path = path_of(f, rel);
	DIR *dir = opendir(path);
	struct dirent *de;
	int n = 0;
	free(path);
	if (!dir)
		return -1;
	while ((de = readdir(dir)) != NULL)
		n += de->d_name[0] != '.';
	closedir(dir);
	return n;
}

static void write_file(struct fixture *f, const char *rel, const char *data, size_t len)
{
	char *path = path_of(f, rel);
	FILE *fp = fopen(path, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(data, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
	free(path);
}

static bool file_exists(struct fixture *f, const char *rel)
{
	char *path = path_of(f, rel);
	struct stat st;
	bool exists = stat(path, &st) == 0;
	free(path);
	return exists;
}

/* write_message - a spool file by hand at queue/DIR/ID (DIR "" for the
 * legacy top level): SENDER, NULL-terminated RCPTS, BODY, then LOG */
static void write_message(struct fixture *f, const char *dir, const char *id, const char *sender,
			  const char *const *rcpts, const char *body, const char *log)
{
	struct queue_envelope *env = queue_envelope_new();
	struct buf text;
	strcpy(env->id, id);
	env->arrival = 1700000000;
	free(env->sender);
	env->sender = xstrdup(sender);
	env->size = strlen(body);
	for (size_t i = 0; rcpts[i]; i++)
		queue_envelope_add_rcpt(env, rcpts[i], 0, NULL);
	buf_init(&text);
	queue_envelope_serialize(env, &text);
	buf_append_str(&text, "\n");
	buf_append_str(&text, body);
	buf_append_str(&text, log);
	char *rel = xasprintf("queue/%s%s%s", dir, dir[0] ? "/" : "", id);
	write_file(f, rel, text.data, text.len);
	char *path = path_of(f, rel);
	assert_int_equal(chmod(path, 0700), 0);  /* complete */
	free(path);
	free(rel);
	buf_free(&text);
	queue_envelope_free(&env);
}

static void on_submit(void *ctx, int status, const char *queue_id, const char *error)
{
	struct submit_result *r = ctx;
	r->calls++;
	r->status = status;
	if (queue_id)
		snprintf(r->id, sizeof(r->id), "%s", queue_id);
	r->error = error;
}

static void submit(struct fixture *f, const char *const *rcpts, const char *body,
		   struct submit_result *result)
{
	struct queue_envelope *env = queue_envelope_new();
	struct buf b;
	free(env->sender);
	env->sender = xstrdup("sender@example.com");
	env->client_address = xstrdup("192.0.2.7");
	env->helo = xstrdup("client.example.com");
	env->listener = xstrdup("mx");
	for (size_t i = 0; rcpts[i]; i++)
		queue_envelope_add_rcpt(env, rcpts[i], 0, NULL);
	buf_init(&b);
	buf_append_str(&b, body);
	queue_submit(f->queue, env, &b, on_submit, result);
	/* ownership moved: the caller's buffer is empty and reusable */
	assert_null(b.data);
	assert_int_equal(b.len, 0);
}

static void test_recovery(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	static const char *const rcpts1[] = { "alice@example.org", "bob@example.org", NULL };
	static const char *const rcpts2[] = { "bob@example.org", "Carol@EXAMPLE.org",
					      "dave+x@example.net", NULL };

	char *q = path_of(f, "queue");
	assert_int_equal(mkdir(q, 0700), 0);
	free(q);
	write_message(f, "", "0000000000000001", "s1@example.com", rcpts1,
		      "Subject: one\r\n\r\n1\r\n", "");
	write_message(f, "", "0000000000000002", "", rcpts2, "Subject: two\r\n\r\n2", "");
	/* bob already has message 2, and the log's torn tail is ignored */
	write_file(f, "queue/0000000000000002.rcpt", "0 delivered -\n1 deliv", 21);
	write_file(f, "queue/0000000000000003", "half-written", 12);  /* no 0700: incomplete */
	write_file(f, "queue/00000000000000FF.rcpt", "0 delivered -\n", 14);  /* orphan */

	f->queue = queue_create(f->base, f->pool, f->config, &error);
	if (f->queue)
		queue_start(f->queue);
	if (!f->queue)
		print_error("queue_create: %s\n", error);
	assert_non_null(f->queue);
	assert_false(file_exists(f, "queue/0000000000000003"));
	assert_false(file_exists(f, "queue/00000000000000FF.rcpt"));
	/* converted: into new/, the log after the body, no .rcpt left */
	assert_false(file_exists(f, "queue/0000000000000002.rcpt"));
	assert_false(file_exists(f, "queue/0000000000000002"));
	assert_true(file_exists(f, "queue/new/0000000000000002"));
	/* start-up reads no message: the loader does, once the loop runs */
	assert_int_equal(queue_message_count(f->queue), 0);

	run_until(f, spool_empty);
	assert_int_equal(count_files(f, "mail/example.org/alice/new"), 1);
	assert_int_equal(count_files(f, "mail/example.org/bob/new"), 1);  /* not 2 */
	assert_int_equal(count_files(f, "mail/example.org/carol/new"), 1);
	assert_int_equal(count_files(f, "mail/example.net/dave/new"), 1);
	assert_int_equal(count_files(f, "mail/example.org/bob/tmp"), 0);
	assert_int_equal(count_files(f, "queue/new"), 0);
	assert_int_equal(count_files(f, "queue"), 3);  /* new, defer, hold */
}

/* new_tried - carol's and dave's deliveries are done */
static bool new_tried(struct fixture *f)
{
	return count_files(f, "mail/example.org/carol/new") == 1 &&
		count_files(f, "mail/example.org/dave/new") == 1 &&
		queue_message_count(f->queue) == 0;
}

/* the current layout: the state log after the body (a body without a final
 * newline, a torn last line) in new/ and defer/<T>/; hold/ is not tried */
static void test_log_after_body(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	static const char *const rcpts[] = { "alice@example.org", "bob@example.org",
					     "carol@example.org", NULL };
	static const char *const one[] = { "dave@example.org", NULL };

	const char *dirs[] = { "queue", "queue/new", "queue/defer", "queue/defer/1000",
			       "queue/hold" };
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		char *d = path_of(f, dirs[i]);
		assert_int_equal(mkdir(d, 0700), 0);
		free(d);
	}
	/* alice delivered, bob's line torn (so tried), carol's reply ends
	 * with the lines a body could contain */
	write_message(f, "new", "0000000000000011", "s@example.com", rcpts, "Subject: x\r\n\r\nx",
		      "\n0 delivered 250+20ok\nM next 1000\n2 deferred 451+20try\n1 deliv");
	write_message(f, "defer/1000", "0000000000000012", "s@example.com", one,
		      "Subject: y\r\n\r\n0 delivered -\n", "M next 1000\n");
	write_message(f, "hold", "0000000000000013", "s@example.com", one,
		      "Subject: z\r\n\r\nz\r\n", "M hold 1\n");

	f->queue = queue_create(f->base, f->pool, f->config, &error);
	if (f->queue)
		queue_start(f->queue);
	assert_non_null(f->queue);
	run_until(f, new_tried);
	assert_int_equal(count_files(f, "mail/example.org/alice/new"), -1);  /* not again */
	assert_int_equal(count_files(f, "mail/example.org/bob/new"), 1);
	assert_int_equal(count_files(f, "mail/example.org/carol/new"), 1);
	/* a body that looks like a log line is a body */
	assert_int_equal(count_files(f, "mail/example.org/dave/new"), 1);
	assert_int_equal(count_files(f, "queue/new"), 0);
	assert_int_equal(count_files(f, "queue/defer"), 0);  /* emptied, removed */
	assert_true(file_exists(f, "queue/hold/0000000000000013"));
}

static bool both_called(struct fixture *f);
static struct submit_result *submits;
static size_t submit_count;

static bool both_called(struct fixture *f)
{
	for (size_t i = 0; i < submit_count; i++) {
		if (submits[i].calls == 0)
			return false;
	}
	return queue_message_count(f->queue) == 0;
}

static void test_submit_many(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	static const char *const rcpts[] = { "alice@example.org", "bob+t@example.net", NULL };

	f->queue = queue_create(f->base, f->pool, f->config, &error);
	if (f->queue)
		queue_start(f->queue);
	assert_non_null(f->queue);
	submit_count = 50;
	submits = xcalloc(submit_count, sizeof(*submits));
	for (size_t i = 0; i < submit_count; i++)
		submit(f, rcpts, "Subject: many\r\n\r\nhello\r\n", &submits[i]);
	run_until(f, both_called);
	for (size_t i = 0; i < submit_count; i++) {
		assert_int_equal(submits[i].calls, 1);
		assert_int_equal(submits[i].status, 0);
		assert_true(queue_id_is_valid(submits[i].id));
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(submits[i].id, submits[j].id);
	}
	assert_int_equal(count_files(f, "mail/example.org/alice/new"), 50);
	assert_int_equal(count_files(f, "mail/example.net/bob/new"), 50);
	assert_int_equal(count_files(f, "queue/new"), 0);
	free(submits);
	submits = NULL;
	submit_count = 0;
}

static struct submit_result one_result;

static bool one_called(struct fixture *f)
{
	(void)f;
	return one_result.calls > 0;
}

/* deferred: its file moved from new/ to defer/<T>/ */
static bool deferred_on_disk(struct fixture *f)
{
	char *rel = xasprintf("queue/new/%s", one_result.id);
	bool exists = file_exists(f, rel);
	free(rel);
	return !exists && count_files(f, "queue/defer") == 1 &&
		queue_message_count(f->queue) == 0;
}

/* a remote recipient stays; a local one that cannot be delivered is
 * deferred, logged after the body, moved to defer/<T>/, and after a
 * restart (when T is due) only it is delivered */
static void test_defer_and_restart(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	static const char *const rcpts[] = { "alice@example.org", "zed@example.net", NULL };

	/* example.net's folder is blocked by a file: a temporary failure */
	char *m = path_of(f, "mail");
	assert_int_equal(mkdir(m, 0700), 0);
	free(m);
	write_file(f, "mail/example.net", "x", 1);

	memset(&one_result, 0, sizeof(one_result));
	f->config->queue.retry_initial = 1;
	f->queue = queue_create(f->base, f->pool, f->config, &error);
	if (f->queue)
		queue_start(f->queue);
	assert_non_null(f->queue);
	submit(f, rcpts, "Subject: defer\r\n\r\nx\r\n", &one_result);
	run_until(f, one_called);
	assert_int_equal(one_result.status, 0);
	/* deferred, it leaves memory: it is in defer/<T>/ only */
	run_until(f, deferred_on_disk);
	assert_int_equal(count_files(f, "mail/example.org/alice/new"), 1);

	/* list and show work beside the running queue */
	assert_int_equal(queue_list_print(f->dir, &(struct queue_list_filter){ 0 }, false, &error), 0);
	assert_int_equal(queue_list_print(f->dir, &(struct queue_list_filter){ 0 }, true, &error), 0);
	assert_int_equal(queue_show_print(f->dir, one_result.id, false, &error), 0);
	assert_int_equal(queue_show_print(f->dir, one_result.id, true, &error), 0);
	assert_int_equal(queue_show_print(f->dir, "0000000000000000", false, &error), 1);
	assert_int_equal(queue_show_print(f->dir, "../../etc/passwd", false, &error), 1);
	assert_int_equal(queue_show_print(f->dir, "tmp", false, &error), 1);

	/* restart with the folder fixed: zed is delivered, alice is not again */
	queue_free(&f->queue);
	char *blocker = path_of(f, "mail/example.net");
	assert_int_equal(unlink(blocker), 0);
	free(blocker);
	f->queue = queue_create(f->base, f->pool, f->config, &error);
	if (f->queue)
		queue_start(f->queue);
	assert_non_null(f->queue);
	run_until(f, spool_empty);
	assert_int_equal(count_files(f, "mail/example.org/alice/new"), 1);
	assert_int_equal(count_files(f, "mail/example.net/zed/new"), 1);
	assert_int_equal(count_files(f, "queue/new"), 0);
	assert_int_equal(count_files(f, "queue/defer"), 0);
}

static void test_remote_stays(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	static const char *const rcpts[] = { "someone@remote.test", NULL };

	memset(&one_result, 0, sizeof(one_result));
	f->queue = queue_create(f->base, f->pool, f->config, &error);
	if (f->queue)
		queue_start(f->queue);
	submit(f, rcpts, "Subject: remote\r\n\r\nx\r\n", &one_result);
	run_until(f, one_called);
	assert_int_equal(one_result.status, 0);
	/* give the delivery job time to run; nothing may change */
	struct timeval t = { 0, 200000 };
	event_base_loopexit(f->base, &t);
	event_base_dispatch(f->base);
	assert_int_equal(queue_message_count(f->queue), 1);
	char *rel = xasprintf("queue/new/%s", one_result.id);
	assert_true(file_exists(f, rel));
	free(rel);
	/* and a restart recovers it */
	queue_free(&f->queue);
	f->queue = queue_create(f->base, f->pool, f->config, &error);
	if (f->queue)
		queue_start(f->queue);
	run_until(f, one_left);
}

/* a write error reaches the callback, and nothing is left behind */
static void test_submit_error(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	static const char *const rcpts[] = { "alice@example.org", NULL };

	memset(&one_result, 0, sizeof(one_result));
	f->queue = queue_create(f->base, f->pool, f->config, &error);
	if (f->queue)
		queue_start(f->queue);
	char *q = path_of(f, "queue/new");
	assert_int_equal(rmdir(q), 0);  /* the open spool now points at nothing */
	free(q);
	submit(f, rcpts, "Subject: x\r\n\r\nx\r\n", &one_result);
	run_until(f, one_called);
	assert_int_equal(one_result.calls, 1);
	assert_int_equal(one_result.status, -1);
	assert_non_null(one_result.error);
	assert_int_equal(queue_message_count(f->queue), 0);
	assert_false(file_exists(f, "queue/new"));
}

/* queue_stop with submissions in flight still calls back, exactly once */
static void test_free_drains(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	static const char *const rcpts[] = { "someone@remote.test", NULL };

	memset(&one_result, 0, sizeof(one_result));
	f->queue = queue_create(f->base, f->pool, f->config, &error);
	if (f->queue)
		queue_start(f->queue);
	submit(f, rcpts, "Subject: x\r\n\r\nx\r\n", &one_result);
	/* the server's order: queue_stop, pool_free, queue_free */
	queue_stop(f->queue);
	assert_int_equal(one_result.calls, 1);
	assert_int_equal(one_result.status, 0);
	struct submit_result late = { 0 };
	submit(f, rcpts, "Subject: late\r\n\r\nx\r\n", &late);
	assert_int_equal(late.calls, 1);
	assert_int_equal(late.status, -1);
	pool_free(&f->pool);
	queue_free(&f->queue);
	f->pool = pool_create(f->base, 2);
	f->queue = queue_create(f->base, f->pool, f->config, &error);
	if (f->queue)
		queue_start(f->queue);
	run_until(f, one_left);
}

int main(void)
{
	if (getenv("PETREL_TEST_DEBUG"))
		log_init("test-spool", LOG_LEVEL_DEBUG, false);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_recovery, setup, teardown),
		cmocka_unit_test_setup_teardown(test_log_after_body, setup, teardown),
		cmocka_unit_test_setup_teardown(test_submit_many, setup, teardown),
		cmocka_unit_test_setup_teardown(test_defer_and_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_remote_stays, setup, teardown),
		cmocka_unit_test_setup_teardown(test_submit_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_drains, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
