#!/usr/bin/python3
"""Issue 11's bench: Petrel relaying authenticated submissions on one node with SQLite,
one node with PostgreSQL, and two nodes behind HAProxy on one PostgreSQL, in one run.

Each row: SESSIONS client threads submit MESSAGES messages of SIZE bytes, PER_CONNECTION
(5) per connection and login (connect, EHLO, AUTH PLAIN, then MAIL, RCPT, DATA for each:
each message pays the counter reservation and the events, each connection a password
check, as a relay service's clients do), to a free account
with a daily limit above the run's count; the clock runs until Postfix's smtp-sink has
received them all (relayed through dnsmasq's MX).  For PostgreSQL rows the database's
statements (pg_stat_statements) and transactions (pg_stat_database) are read before and
after: round trips per message.  Then pgbench runs Petrel's heaviest per-message
statement mix on the same cluster for the capacity model (docs/scaling.md): the database's
transactions per second over the round trips per message bounds a cluster's rate.

PostgreSQL runs durably (fsync on, synchronous_commit on), as a production database
would; every Petrel node and the database share this machine's cores, so two nodes are
not expected to be faster than one here (the issue says so): the figures feed the model.

Usage: /usr/bin/python3 bench/scaleout.py --petrel build/petrel [--rounds 3] [--json F]
"""

import argparse
import base64
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402 (Sink, Dnsmasq, free_port, wait_banner, process helpers)
import pg_cluster  # noqa: E402 (tests/integration/, on the path bench.py sets)

ACCOUNT = "sender@scale.test"
PASSWORD = "scale-bench-pass"
RCPT = bench.RELAY_RCPT
NODE_ADDRS = ["127.0.0.31", "127.0.0.32"]
LB_ADDR = "127.0.0.30"

NODE_CONF = """\
[server]
hostname = {name}.scale.test
node = {name}
data_dir = {data}
user = {user}
log_level = info
workers = {workers}

[domains]
local = scale.test

[store]
backend = {backend}
{store_url}

[auth]
plaintext_loopback = true

[limits]
connections = 20000
connections_per_ip = 20000

[smtp]
reverse_dns = off

[dns]
resolver = 127.0.0.1@{dns_port}
special_zones = test

[delivery]
port = {sink_port}

[listener submission]
role = submission
address = {addr}:{port}
{proxy}
"""


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def bench_failure(message):
    raise bench.BenchError(message)


class Postgres(pg_cluster.Cluster):
    """The tests' throwaway cluster (pg_cluster.py) in TMP, but durable (fsync on) and with
    pg_stat_statements loaded; a failure is a BenchError."""

    def __init__(self, tmp):
        super().__init__(parent=tmp, fail=bench_failure,
                         options="-c shared_preload_libraries=pg_stat_statements"
                                 " -c max_connections=200")

    def start(self):
        super().start()
        self.psql("CREATE EXTENSION pg_stat_statements")

    def counts(self, db):
        """(statements, transactions) executed in DB so far."""
        stm = self.psql("SELECT coalesce(sum(calls), 0) FROM pg_stat_statements s"
                        " JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = '%s'" % db)
        xact = self.psql("SELECT xact_commit + xact_rollback FROM pg_stat_database"
                         " WHERE datname = '%s'" % db)
        return int(stm), int(xact)

    def top_statements(self, db, n=8):
        return self.psql("SELECT calls, left(regexp_replace(query, '\\s+', ' ', 'g'), 90)"
                         " FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid"
                         " WHERE d.datname = '%s' ORDER BY calls DESC LIMIT %d" % (db, n))


class Node(bench.Petrel):
    """One `petrel serve` with a submission listener on ADDR:PORT."""

    def __init__(self, binary, tmp, name, addr, port, backend, url, env, proxy):
        super().__init__(binary, tmp, port, env["workers"], name=name)
        self.addr = addr
        self.backend = backend
        self.url = url
        self.env = env
        self.proxy = proxy

    def write_conf(self):
        os.makedirs(self.data, exist_ok=True)
        with open(self.conf, "w") as f:
            f.write(NODE_CONF.format(
                name=self.data.rsplit("/", 1)[-1], data=self.data,
                user="root" if os.geteuid() == 0 else "", workers=self.env["workers"],
                backend=self.backend,
                store_url="url = %s" % self.url if self.url else "",
                dns_port=self.env["dns_port"], sink_port=self.env["sink_port"],
                addr=self.addr, port=self.port,
                proxy="proxy_protocol = true\nproxy_from = %s/32" % LB_ADDR if self.proxy else ""))

    def add_account(self, daily_limit):
        r = subprocess.run([self.binary, "account", "add", ACCOUNT, "-c", self.conf,
                            "--password-stdin", "--daily-limit", str(daily_limit)],
                           input=PASSWORD + "\n", text=True, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=60)
        if r.returncode != 0 and "exist" not in r.stdout:
            raise bench.BenchError("account add: %s" % r.stdout.strip())
        if r.returncode != 0:   # made by the other node: its password is per node
            r = subprocess.run([self.binary, "account", "passwd", ACCOUNT, "-c", self.conf,
                                "--password-stdin"], input=PASSWORD + "\n", text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
            if r.returncode != 0:
                raise bench.BenchError("account passwd: %s" % r.stdout.strip())

    def start_node(self, daily_limit):
        self.write_conf()
        self.add_account(daily_limit)
        self.launch()
        if self.proxy:   # it greets only after a PROXY header: wait for the port
            wait_listening(self.addr, self.port, 60, self.proc)
        else:
            bench.wait_banner(self.addr, self.port, 60, self.proc)


def wait_listening(addr, port, seconds, proc):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise bench.BenchError("exited (%s) before listening on %s:%d"
                                   % (proc.returncode, addr, port))
        try:
            socket.create_connection((addr, port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise bench.BenchError("nothing listens on %s:%d within %d s" % (addr, port, seconds))


class HAProxy:
    def __init__(self, tmp, port, backends):
        self.cfg = os.path.join(tmp, "haproxy.cfg")
        self.port = port
        lines = ["global", "    maxconn 4000", "defaults", "    mode tcp",
                 "    timeout connect 10s", "    timeout client 60s", "    timeout server 60s",
                 "frontend smtp", "    bind %s:%d" % (LB_ADDR, port),
                 "    default_backend nodes", "backend nodes", "    balance roundrobin"]
        for i, (addr, p) in enumerate(backends):
            lines.append("    server n%d %s:%d send-proxy-v2 source %s" % (i + 1, addr, p,
                                                                          LB_ADDR))
        with open(self.cfg, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.proc = None

    def start(self):
        exe = shutil.which("haproxy") or "/usr/sbin/haproxy"
        self.proc = subprocess.Popen([exe, "-db", "-f", self.cfg], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     start_new_session=True)
        try:
            wait_listening(LB_ADDR, self.port, 20, self.proc)
        except bench.BenchError as e:
            raise bench.BenchError("haproxy: %s: %s" % (e, self.proc.stderr.read()[-1000:]
                                                        if self.proc.poll() is not None
                                                        else ""))

    def stop(self):
        if self.proc:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


def submit_some(addr, port, body, auth, count):
    """One connection, one login, COUNT messages; raises on the first unexpected reply."""
    with socket.create_connection((addr, port), timeout=60) as s:
        f = s.makefile("rb")

        def reply():
            while True:
                line = f.readline()
                if not line:
                    return b"(closed)"
                if line[3:4] != b"-":
                    return line

        def expect(code, line):
            if line[:3] != code:
                raise bench.BenchError("expected %s, got %r" % (code.decode(), line))

        expect(b"220", reply())
        s.sendall(b"EHLO client.scale.test\r\n")
        expect(b"250", reply())
        s.sendall(b"AUTH PLAIN " + auth + b"\r\n")
        expect(b"235", reply())
        for _ in range(count):
            s.sendall(b"MAIL FROM:<" + ACCOUNT.encode() + b">\r\nRCPT TO:<" + RCPT.encode()
                      + b">\r\nDATA\r\n")
            expect(b"250", reply())
            expect(b"250", reply())
            expect(b"354", reply())
            s.sendall(body + b".\r\n")
            expect(b"250", reply())
        s.sendall(b"QUIT\r\n")


def make_body(size):
    head = ("From: <%s>\r\nTo: <%s>\r\nSubject: scale-out bench\r\n"
            "Message-ID: <x@scale.test>\r\n\r\n" % (ACCOUNT, RCPT)).encode()
    line = b"x" * 76 + b"\r\n"
    body = head
    while len(body) < size:
        body += line
    return body


def run_load(addr, port, sessions, messages, size, sink, timeout, per_connection):
    body = make_body(size)
    auth = base64.b64encode(b"\0" + ACCOUNT.encode() + b"\0" + PASSWORD.encode())
    left = [messages]
    errors = []
    failed = [0]   # messages of the connections that failed (an upper bound)
    lock = threading.Lock()

    def worker():
        while True:
            with lock:
                if left[0] <= 0 or len(errors) > 10:
                    return
                count = min(per_connection, left[0])
                left[0] -= count
            try:
                submit_some(addr, port, body, auth, count)
            except (OSError, bench.BenchError) as e:
                with lock:
                    errors.append(str(e))
                    failed[0] += count

    base = sink.count
    t0 = time.monotonic()
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    t_accept = time.monotonic() - t0
    got = sink.wait_for(base + messages - failed[0], t0 + timeout) - base
    t_done = time.monotonic() - t0
    return {"messages": messages, "relayed": got, "errors": errors[:3],
            "error_count": len(errors), "accept_seconds": round(t_accept, 3),
            "seconds": round(t_done, 3),
            "msgs_per_sec": round(got / t_done, 1) if t_done > 0 else 0.0}


PGBENCH_SCRIPT = """\
\\set n random(1, 1000000)
INSERT INTO bench_counters AS c (account, win, used) VALUES ('a' || :client_id, 'd:1', 1)
  ON CONFLICT (account, win) DO UPDATE SET used = c.used + excluded.used
  WHERE c.used + excluded.used <= 1000000000 RETURNING c.used;
INSERT INTO bench_events (at, account, kind, detail) VALUES (now(), 'a', 'accepted', :n);
"""


def pgbench_tps(pg, tmp, clients, seconds):
    """Transactions per second of Petrel's per-message writes (a counter reservation, an
    event), each statement its own durable transaction, as Petrel issues them."""
    pg.psql("CREATE DATABASE bench_capacity")
    pg.psql("CREATE TABLE bench_counters (account text, win text, used bigint,"
            " PRIMARY KEY (account, win)); CREATE TABLE bench_events (id bigserial PRIMARY"
            " KEY, at timestamptz, account text, kind text, detail text)",
            db="bench_capacity")
    script = os.path.join(tmp, "pgbench.sql")
    with open(script, "w") as f:
        f.write(PGBENCH_SCRIPT)
    os.chmod(tmp, 0o755)
    os.chmod(script, 0o644)
    r = subprocess.run(["pgbench", "-n", "-h", pg.dir, "-U", "petrel", "-c", str(clients),
                        "-j", "2", "-T", str(seconds), "-f", script, "bench_capacity"],
                       capture_output=True, text=True, timeout=seconds + 120,
                       stdin=subprocess.DEVNULL)
    if r.returncode != 0:
        raise bench.BenchError("pgbench: %s %s" % (r.stdout, r.stderr))
    for line in r.stdout.splitlines():
        if line.startswith("tps = "):
            # two statements per pgbench transaction, each a round trip
            return float(line.split()[2]) * 2
    raise bench.BenchError("pgbench printed no tps: %s" % r.stdout)


def one_setup(args, tmp, pg, env, kind, rnd, daily_limit):
    """Start the nodes of KIND (sqlite | postgresql | two-nodes), run the load, stop."""
    nodes = []
    hap = None
    db = None
    if kind != "sqlite":
        db = "scale_%s_%d" % (kind.replace("-", "_"), rnd)
        pg.psql("CREATE DATABASE %s" % db)
    count = 2 if kind == "two-nodes" else 1
    try:
        for i in range(count):
            port = bench.free_port()
            n = Node(args.petrel, tmp, "%s-r%d-n%d" % (kind, rnd, i + 1), NODE_ADDRS[i], port,
                     "sqlite" if kind == "sqlite" else "postgresql",
                     pg.url(db) if db else None, env, proxy=kind == "two-nodes")
            n.start_node(daily_limit)
            nodes.append(n)
        if kind == "two-nodes":
            hap = HAProxy(tmp, bench.free_port(), [(n.addr, n.port) for n in nodes])
            hap.start()
            target = (LB_ADDR, hap.port)
        else:
            target = (nodes[0].addr, nodes[0].port)
        # one connection first, so that start-up work is not in the clock
        run_load(target[0], target[1], 1, 1, args.size, env["sink"], 60, 1)
        before = pg.counts(db) if db else None
        res = run_load(target[0], target[1], args.sessions, args.messages, args.size,
                       env["sink"], args.timeout, args.per_connection)
        res.update(kind=kind, round=rnd, sessions=args.sessions, size=args.size,
                   per_connection=args.per_connection)
        if db:
            after = pg.counts(db)
            res["statements_per_msg"] = round((after[0] - before[0]) / max(1, res["relayed"]), 2)
            res["transactions_per_msg"] = round((after[1] - before[1]) / max(1, res["relayed"]),
                                                2)
            if rnd == 1:
                res["top_statements"] = pg.top_statements(db)
        return res
    finally:
        if hap:
            hap.stop()
        for n in nodes:
            n.stop()


def median(vals):
    return statistics.median(vals) if vals else 0.0


def report(results, tps):
    kinds = ["sqlite", "postgresql", "two-nodes"]
    print()
    print("Issue 11: authenticated submissions relayed to a sink, %d sessions, %d messages of"
          " %d bytes, %d per connection and login, %d round(s)"
          % (results["sessions"], results["messages"], results["size"],
             results["per_connection"], results["rounds"]))
    print("%-34s %10s %12s %12s %14s" % ("setup", "msg/s", "spread", "stmts/msg",
                                         "xacts/msg"))
    med = {}
    for k in kinds:
        runs = [r for r in results["runs"] if r["kind"] == k]
        if not runs:
            continue
        rates = [r["msgs_per_sec"] for r in runs]
        med[k] = median(rates)
        stm = median([r.get("statements_per_msg", 0) for r in runs]) if k != "sqlite" else None
        xac = median([r.get("transactions_per_msg", 0) for r in runs]) if k != "sqlite" else None
        label = {"sqlite": "one node, SQLite", "postgresql": "one node, PostgreSQL",
                 "two-nodes": "two nodes + HAProxy, PostgreSQL"}[k]
        print("%-34s %10.1f %12s %12s %14s" % (
            label, med[k], "%.0f-%.0f" % (min(rates), max(rates)),
            "-" if stm is None else "%.2f" % stm, "-" if xac is None else "%.2f" % xac))
    if "postgresql" in med and "two-nodes" in med and med["postgresql"]:
        print("two nodes / one node (PostgreSQL): %.2fx" % (med["two-nodes"] / med["postgresql"]))
    if "sqlite" in med and "postgresql" in med and med["sqlite"]:
        print("PostgreSQL / SQLite, one node: %.2fx" % (med["postgresql"] / med["sqlite"]))
    pg_runs = [r for r in results["runs"] if r["kind"] != "sqlite"]
    if tps and pg_runs:
        stm = median([r["statements_per_msg"] for r in pg_runs])
        print("capacity model: the database did %.0f of Petrel's write statements per second"
              " (pgbench, %d clients); at %.2f statements per message one PostgreSQL bounds"
              " the cluster near %.0f msg/s" % (tps, results["pgbench_clients"], stm,
                                                tps / stm if stm else 0))
    for r in results["runs"]:
        if r.get("top_statements"):
            print("statements of %s (calls, query):" % r["kind"])
            for line in r["top_statements"].splitlines():
                print("   " + line)
        if r["error_count"]:
            print("%s round %d: %d errors, e.g. %s" % (r["kind"], r["round"], r["error_count"],
                                                      r["errors"][:1]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--petrel", default="build/petrel")
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--per-connection", type=int, default=5,
                    help="messages per connection and login (5)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("--pgbench-seconds", type=int, default=10)
    ap.add_argument("--pgbench-clients", type=int, default=16)
    ap.add_argument("--json", metavar="FILE")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="petrel-scaleout-")
    os.chmod(tmp, 0o755)
    pg = Postgres(tmp)
    sink = bench.Sink(bench.free_port())
    dns = bench.Dnsmasq(bench.free_port())
    results = {"sessions": args.sessions, "messages": args.messages, "size": args.size,
               "per_connection": args.per_connection,
               "rounds": args.rounds, "pgbench_clients": args.pgbench_clients, "runs": []}
    tps = None
    try:
        pg.start()
        sink.start()
        dns.start()
        env = {"workers": args.workers, "dns_port": dns.port, "sink_port": sink.port,
               "sink": sink}
        daily = args.messages * 10 + 100
        for rnd in range(1, args.rounds + 1):
            for kind in ("sqlite", "postgresql", "two-nodes"):
                res = one_setup(args, tmp, pg, env, kind, rnd, daily)
                log("r%d %-10s %d/%d relayed in %.2f s: %.1f msg/s%s" % (
                    rnd, kind, res["relayed"], res["messages"], res["seconds"],
                    res["msgs_per_sec"], "  stmts/msg %.2f" % res["statements_per_msg"]
                    if "statements_per_msg" in res else ""))
                results["runs"].append(res)
        tps = pgbench_tps(pg, tmp, args.pgbench_clients, args.pgbench_seconds)
        results["pgbench_statements_per_sec"] = round(tps, 1)
    finally:
        sink.stop()
        dns.stop()
        pg.stop()
        if not os.environ.get("KEEP"):
            shutil.rmtree(tmp, ignore_errors=True)
    report(results, tps)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
