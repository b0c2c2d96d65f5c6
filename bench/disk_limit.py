#!/usr/bin/python3
"""The disk's own limit: 4 KiB append + fdatasync per second, with 1 and 4 threads.

Each thread appends 4 KiB to a file of its own and fdatasyncs it, over and over, for a
fixed time; the figure is the total of completed append+fdatasync pairs per second.
Measured twice: by a small C program compiled here with cc (the disk's figure), and by
Python threads calling os.write and os.fdatasync (to check that the Python figure is not
limited by Python itself).  Both run in the folder given (the bench's temp folder, on
the disk the servers use).  See bench/README.md.

Usage: /usr/bin/python3 bench/disk_limit.py [--dir DIR] [--seconds S] [--threads 1,4]
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

BLOCK = 4096

C_SOURCE = r"""
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* disk-limit - N threads, each: append 4 KiB to its own file, fdatasync, repeat */

static const char *dir;
static double seconds;
static volatile int stop;

struct worker {
	pthread_t thread;
	int index;
	long done;
	int failed;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	char path[4096], block[4096];
	int fd;

	memset(block, 'x', sizeof(block));
	snprintf(path, sizeof(path), "%s/disk-limit-c-%d", dir, w->index);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0) {
		w->failed = 1;
		return NULL;
	}
	while (!stop) {
		if (write(fd, block, sizeof(block)) != (ssize_t)sizeof(block) ||
		    fdatasync(fd) != 0) {
			w->failed = 1;
			break;
		}
		w->done++;
	}
	close(fd);
	unlink(path);
	return NULL;
}

int main(int argc, char **argv)
{
	struct worker *w;
	int n, i, failed = 0;
	long total = 0;
	double t0, t1;

	if (argc != 4)
		return 2;
	dir = argv[1];
	n = atoi(argv[2]);
	seconds = atof(argv[3]);
	if (n < 1 || n > 256 || seconds <= 0)
		return 2;
	w = calloc((size_t)n, sizeof(*w));
	if (w == NULL)
		return 1;
	t0 = now();
	for (i = 0; i < n; i++) {
		w[i].index = i;
		if (pthread_create(&w[i].thread, NULL, worker_run, &w[i]) != 0)
			return 1;
	}
	while (now() - t0 < seconds)
		usleep(10000);
	stop = 1;
	for (i = 0; i < n; i++) {
		pthread_join(w[i].thread, NULL);
		total += w[i].done;
		failed |= w[i].failed;
	}
	t1 = now();
	printf("%ld %.6f\n", total, t1 - t0);
	free(w);
	return failed ? 1 : 0;
}
"""


def build_helper(workdir):
    """Compile the C helper into workdir; return its path or raise RuntimeError."""
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if not cc:
        raise RuntimeError("no C compiler (cc) to build the disk-limit helper")
    src = os.path.join(workdir, "disk-limit.c")
    exe = os.path.join(workdir, "disk-limit")
    with open(src, "w") as f:
        f.write(C_SOURCE)
    r = subprocess.run([cc, "-O2", "-pthread", "-o", exe, src], capture_output=True,
                       text=True, timeout=120)
    if r.returncode != 0:
        raise RuntimeError("cc failed: %s" % (r.stderr.strip()[-500:]))
    return exe


def measure_c(exe, folder, threads, seconds):
    r = subprocess.run([exe, folder, str(threads), str(seconds)], capture_output=True,
                       text=True, timeout=seconds + 60)
    if r.returncode != 0:
        raise RuntimeError("disk-limit helper failed (%d): %s" % (r.returncode,
                                                                  r.stderr.strip()))
    done, took = r.stdout.split()
    return int(done) / float(took)


def measure_py(folder, threads, seconds):
    """The same with Python threads (os.write releases the GIL, os.fdatasync too)."""
    block = b"x" * BLOCK
    counts = [0] * threads
    errors = []
    halt = threading.Event()

    def run(i):
        path = os.path.join(folder, "disk-limit-py-%d" % i)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600)
        except OSError as e:
            errors.append(str(e))
            return
        try:
            n = 0
            while not halt.is_set():
                os.write(fd, block)
                os.fdatasync(fd)
                n += 1
            counts[i] = n
        except OSError as e:
            errors.append(str(e))
        finally:
            os.close(fd)
            try:
                os.unlink(path)
            except OSError:
                pass

    ts = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(threads)]
    t0 = time.monotonic()
    for t in ts:
        t.start()
    halt.wait(seconds)
    halt.set()
    for t in ts:
        t.join(30)
    took = time.monotonic() - t0
    if errors:
        raise RuntimeError("python append+fdatasync: %s" % errors[0])
    return sum(counts) / took


def run(folder, threads=(1, 4), seconds=2.0):
    """{"c": {threads: ops/s}, "python": {...}, "seconds": S, "folder": DIR} (an "error"
    key instead of a figure when one could not be measured)."""
    out = {"folder": folder, "seconds": seconds, "block": BLOCK, "c": {}, "python": {}}
    work = tempfile.mkdtemp(prefix="disk-limit-", dir=folder)
    try:
        try:
            exe = build_helper(work)
            for n in threads:
                out["c"][n] = round(measure_c(exe, work, n, seconds))
        except (RuntimeError, OSError, ValueError, subprocess.TimeoutExpired) as e:
            out["c_error"] = str(e)
        try:
            for n in threads:
                out["python"][n] = round(measure_py(work, n, seconds))
        except (RuntimeError, OSError) as e:
            out["python_error"] = str(e)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


def line(res):
    """One line for the bench's report."""
    def figs(d):
        return ", ".join("%d thread%s %s/s" % (n, "" if n == 1 else "s", format(d[n], ","))
                         for n in sorted(d))
    parts = []
    if res.get("c"):
        parts.append("C " + figs(res["c"]))
    elif res.get("c_error"):
        parts.append("C: %s" % res["c_error"])
    if res.get("python"):
        parts.append("Python " + figs(res["python"]))
    elif res.get("python_error"):
        parts.append("Python: %s" % res["python_error"])
    return ("disk limit (4 KiB append+fdatasync per second, each thread its own file, "
            "%g s each, in the bench's temp folder): %s" % (res["seconds"],
                                                             "; ".join(parts)))


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", default=tempfile.gettempdir(),
                    help="folder on the disk to measure (default: the temp folder)")
    ap.add_argument("--seconds", type=float, default=2.0, help="per measurement (2)")
    ap.add_argument("--threads", default="1,4", help="thread counts (1,4)")
    args = ap.parse_args()
    threads = [int(x) for x in args.threads.split(",") if x.strip()]
    res = run(args.dir, threads, args.seconds)
    print(line(res))
    return 1 if res.get("c_error") and res.get("python_error") else 0


if __name__ == "__main__":
    sys.exit(main())
