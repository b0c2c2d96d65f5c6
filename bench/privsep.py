#!/usr/bin/python3
"""Privilege separation's cost: one Petrel build against another, side by side.

Issue 13 split Petrel into a supervisor, a network process, an auth process (the only one
that reads password hashes) and a keys process.  Every AUTH now crosses a socket to the
auth process and back.  This bench runs the build under test (--petrel) and a baseline
build (--baseline: `make bench` builds the last single-process commit, BASELINE in the
Makefile) the same way, interleaved round by round, and prints for each:

  1. AUTH PLAIN latency: one client, LOGINS logins one after another, each on a new
     connection (connect, EHLO, AUTH PLAIN, QUIT); the time from sending AUTH to the 235.
     Twice: with the default password hash (yescrypt, slow on purpose: it dominates) and
     with a cheap one (sha512-crypt, 1000 rounds) where the split's own cost shows.
  2. AUTH throughput: CLIENTS clients logging in over and over for SECONDS, with each hash.
  3. Messages per second: Postfix's smtp-source, 20 sessions, MESSAGES messages of 4 KiB
     to port 25, wall time until all are in the Maildir (bench.py's local row).

Both servers run with bench.py's configuration (log_level = warn, 8 workers), AUTH allowed
without TLS on loopback so that TLS handshakes do not drown what is measured.  It prints
medians over ROUNDS with min-max and the ratio new/baseline.  A benchmark, not a test.

Usage: /usr/bin/python3 bench/privsep.py --petrel build/petrel --baseline OLD/petrel
"""

import argparse
import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import crypt  # the cheap sha512-crypt hash (Python 3.11 still ships the module)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402 (its Petrel configuration, run_load, helpers)
from auth_flood import Reader, percentile  # noqa: E402


USER_SLOW = "slow@bench.test"
USER_CHEAP = "cheap@bench.test"
PASSWORD = "bench-password"

EXTRA_CONF = """
[auth]
plaintext_loopback = true

[listener sub]
role = submission
address = 127.0.0.1:{sub}
"""


class Server:
    """A Petrel of BINARY in its own folder: bench.Petrel plus a submission listener and
    the two accounts."""

    def __init__(self, name, binary, tmp):
        self.name = name
        self.binary = os.path.abspath(binary)
        self.root = os.path.join(tmp, name)
        os.makedirs(self.root)
        self.petrel = bench.Petrel(self.binary, self.root, bench.free_port(), 8)
        self.sub = bench.free_port()

    def start(self):
        p = self.petrel
        os.makedirs(p.data, exist_ok=True)
        with open(p.conf, "w") as f:
            f.write(bench.PETREL_CONF.format(data=p.data, workers=p.workers,
                                             log_level="warn",
                                             user="root" if os.geteuid() == 0 else "",
                                             domain=bench.DOMAIN, port=p.port))
            f.write(EXTRA_CONF.format(sub=self.sub))
        cheap = crypt.crypt(PASSWORD, "$6$rounds=1000$benchsaltbench$")
        for argv, stdin in (
                (["account", "add", bench.RCPT, "--password-stdin"], PASSWORD + "\n"),
                (["account", "add", USER_SLOW, "--password-stdin"], PASSWORD + "\n"),
                (["account", "add", USER_CHEAP, "--password-hash", cheap], None)):
            r = subprocess.run([self.binary] + argv + ["-c", p.conf], input=stdin, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
            if r.returncode != 0 and "exist" not in r.stdout:
                raise bench.BenchError("%s: petrel %s: %s" % (self.name, " ".join(argv),
                                                              r.stdout.strip()))
        # start as bench.Petrel does, without its own config writing
        p.logf = open(p.logpath, "wb")
        p.proc = subprocess.Popen([self.binary, "serve", "-c", p.conf],
                                  stdin=subprocess.DEVNULL, stdout=p.logf,
                                  stderr=subprocess.STDOUT, start_new_session=True)
        bench.wait_banner("127.0.0.1", p.port, 30, p.proc)
        bench.wait_banner("127.0.0.1", self.sub, 30, p.proc)

    def pids(self):
        if not self.petrel.alive():
            return []
        return [self.petrel.proc.pid] + bench.children_of(self.petrel.proc.pid)

    def stop(self):
        self.petrel.stop()


def login(port, user):
    """One login on a new connection; the seconds from AUTH to 235."""
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    try:
        r = Reader(s)
        if r.reply()[0] != 220:
            raise OSError("no banner")
        s.sendall(b"EHLO bench.client.test\r\n")
        r.reply()
        token = base64.b64encode(("\0%s\0%s" % (user, PASSWORD)).encode()).decode()
        t0 = time.monotonic()
        s.sendall(("AUTH PLAIN %s\r\n" % token).encode())
        code, line = r.reply()
        dt = time.monotonic() - t0
        if code != 235:
            raise OSError("AUTH: %s" % line)
        s.sendall(b"QUIT\r\n")
        return dt
    finally:
        s.close()


def auth_latency(server, user, logins):
    lat = [login(server.sub, user) for _ in range(logins)]
    return {"logins": logins, "p50_ms": round(percentile(lat, 50) * 1000, 3),
            "p90_ms": round(percentile(lat, 90) * 1000, 3),
            "p99_ms": round(percentile(lat, 99) * 1000, 3)}


def auth_throughput(server, clients, seconds, user=USER_CHEAP):
    counts = [0] * clients
    errors = []
    end = time.monotonic() + seconds

    def worker(i):
        try:
            while time.monotonic() < end:
                login(server.sub, user)
                counts[i] += 1
        except OSError as e:
            errors.append(str(e))
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 60)
    elapsed = time.monotonic() - t0
    return {"clients": clients, "logins": sum(counts), "errors": len(errors),
            "logins_per_sec": round(sum(counts) / elapsed, 1)}


def median_row(values, key):
    v = sorted(x[key] for x in values)
    return v[len(v) // 2], v[0], v[-1]


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--petrel", default="build/petrel", help="the build under test")
    ap.add_argument("--baseline", required=True, help="the build to compare with")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--logins", type=int, default=200, help="sequential logins per row")
    ap.add_argument("--slow-logins", type=int, default=40,
                    help="sequential logins with the default (yescrypt) hash")
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--smtp-source", default=None)
    ap.add_argument("--json", metavar="FILE")
    args = ap.parse_args()
    smtp_source, _ = bench.find_smtp_source(args.smtp_source)
    tmp = tempfile.mkdtemp(prefix="petrel-privsep-bench-")
    results = {"runs": []}
    try:
        for rnd in range(1, args.rounds + 1):
            for name, binary in (("baseline", args.baseline), ("split", args.petrel)):
                srv = Server("%s-%d" % (name, rnd), binary, tmp)
                srv.start()
                try:
                    run = {"server": name, "round": rnd}
                    run["auth_slow"] = auth_latency(srv, USER_SLOW, args.slow_logins)
                    run["auth_cheap"] = auth_latency(srv, USER_CHEAP, args.logins)
                    run["auth_throughput"] = auth_throughput(srv, args.clients, args.seconds)
                    run["auth_throughput_slow"] = auth_throughput(srv, args.clients,
                                                                  args.seconds, USER_SLOW)
                    load = bench.run_load(name, srv.petrel, srv.pids, smtp_source, 20,
                                          args.messages, 4096, 120, False)
                    run["msgs_per_sec"] = load["msgs_per_sec"]
                    run["complete"] = load["complete"]
                    bench.log("round %d %s: %s" % (rnd, name, json.dumps(run)))
                    results["runs"].append(run)
                finally:
                    srv.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    report(results, args)
    return 0


def report(results, args):
    rows = [
        ("AUTH PLAIN p50, yescrypt (ms)", lambda r: r["auth_slow"]["p50_ms"]),
        ("AUTH PLAIN p50, sha512-crypt 1000 (ms)", lambda r: r["auth_cheap"]["p50_ms"]),
        ("AUTH PLAIN p99, sha512-crypt 1000 (ms)", lambda r: r["auth_cheap"]["p99_ms"]),
        ("AUTH logins/s, %d clients, yescrypt" % args.clients,
         lambda r: r["auth_throughput_slow"]["logins_per_sec"]),
        ("AUTH logins/s, %d clients, sha512-crypt 1000" % args.clients,
         lambda r: r["auth_throughput"]["logins_per_sec"]),
        ("messages/s, 20 sessions, to Maildir", lambda r: r["msgs_per_sec"]),
    ]
    print()
    print("Privilege separation: split build vs baseline, %d rounds, median (min-max)"
          % args.rounds)
    print("%-42s %22s %22s %8s" % ("", "baseline", "split", "ratio"))
    for label, get in rows:
        cols = []
        meds = []
        for name in ("baseline", "split"):
            vals = sorted(get(r) for r in results["runs"] if r["server"] == name)
            med = vals[len(vals) // 2]
            meds.append(med)
            cols.append("%.2f (%.2f-%.2f)" % (med, vals[0], vals[-1]))
        ratio = meds[1] / meds[0] if meds[0] else float("nan")
        print("%-42s %22s %22s %8.3f" % (label, cols[0], cols[1], ratio))
    incomplete = [r for r in results["runs"] if not r["complete"]]
    if incomplete:
        print("WARNING: %d load runs did not deliver every message" % len(incomplete))


if __name__ == "__main__":
    sys.exit(main())
