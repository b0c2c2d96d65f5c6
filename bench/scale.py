"""Queue scale (bench.py --only scale): N messages of 4 KiB queued for a destination
that refuses every connection, so that they all wait in the queue.

- The destination: relay.test, MX mx.relay.test -> 127.0.0.20 (dnsmasq, as in the relay
  bench), `[delivery] port =` a port nothing listens on.  Each first attempt is a TCP
  connect that the kernel refuses at once (RST on loopback): no SMTP session, no data,
  no sink process competing for the 2 cores, and the answer is a temporary failure
  (every message is deferred, none bounced).  An smtp-sink answering 4xx would cost a
  whole SMTP dialogue per attempt in Petrel and in the sink.
- Nothing is retried during the run: `[queue] retry_initial = 86400`, `retry_max`
  604800, `delay_warning = 0` (no delay notices).
- Load: smtp-source with several sessions (`--scale-sessions`, 20) on Petrel's `role =
  local` socket (trusted to relay, as in the relay bench), in 10 slices of N/10, one
  smtp-source run each: the accept rate of the first and the last slice, and resident
  memory after the 1st, 5th and 10th (10%, 50%, 100%), summed over Petrel's processes
  and of the network process alone.
- Restart: SIGTERM (time until the supervisor exits), start again, time until the first
  220 banner and until the `recovered` log line.
- `petrel queue list --limit 100` and `petrel queue list | wc -l`, timed.

Every step is bounded in time; see bench/README.md.
"""

import os
import re
import shutil
import socket
import subprocess
import sys
import time

bench = sys.modules["bench"]

RCPT = "user@relay.test"


def refused_port():
    """A port on SINK_ADDR where a connect is refused (checked)."""
    for _ in range(20):
        port = bench.free_port()
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(2)
        try:
            s.connect((bench.SINK_ADDR, port))
        except ConnectionRefusedError:
            return port
        except OSError:
            continue
        finally:
            s.close()
    raise bench.BenchError("found no port refused on %s" % bench.SINK_ADDR)


def memory(pt):
    """(sum of VmRSS over Petrel's processes, VmRSS of the network process), KiB."""
    pids = pt.pids()
    net = pt.network_pid()
    return (sum(bench.rss_kib(p) for p in pids), bench.rss_kib(net) if net else 0,
            len(pids))


def send_slice(smtp_source, socket_path, sessions, count, size, bound):
    """One smtp-source run of `count` messages; (seconds, exit status, output tail)."""
    argv = [smtp_source, "-s", str(sessions), "-m", str(count), "-l", str(size),
            "-f", bench.SENDER, "-t", RCPT, "-M", "bench.client.test",
            "unix:" + socket_path]
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    bench.ACTIVE_CHILDREN.add(proc)
    try:
        out, _ = proc.communicate(timeout=max(1.0, bound))
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        out = (out or b"") + b"\n[bench: smtp-source killed at the time bound]"
    bench.ACTIVE_CHILDREN.discard(proc)
    took = time.monotonic() - t0
    return took, proc.returncode, (out or b"").decode("utf-8", "replace").strip()[-600:]


def queue_waiting(pt):
    """Messages not yet tried in queue/new/ (the layout of issue 8), or None if there is
    no such folder (an older layout)."""
    d = os.path.join(pt.data, "queue", "new")
    if not os.path.isdir(d):
        return None
    return bench.count_dir(d)


def log_offset_wait(path, offset, pattern, deadline, proc):
    """Poll the log from offset until a line matches; (seconds from now, line) or
    (None, None) at the deadline or if the process exits."""
    rx = re.compile(pattern)
    buf = b""
    pos = offset
    while time.monotonic() < deadline:
        try:
            with open(path, "rb") as f:
                f.seek(pos)
                chunk = f.read()
        except OSError:
            chunk = b""
        if chunk:
            pos += len(chunk)
            buf += chunk
            lines = buf.split(b"\n")
            buf = lines.pop()
            for l in lines:
                text = l.decode("utf-8", "replace")
                if rx.search(text):
                    return text
        elif proc.poll() is not None:
            return None
        else:
            time.sleep(0.02)
    return None


def timed(argv, bound, shell=False):
    """Run a command; (seconds, exit status, stdout) bounded by `bound` seconds."""
    t0 = time.monotonic()
    try:
        r = subprocess.run(argv, shell=shell, stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=bound)
        return time.monotonic() - t0, r.returncode, r.stdout, r.stderr
    except subprocess.TimeoutExpired:
        return time.monotonic() - t0, None, "", "timed out after %d s" % bound


def run(args, tmp, smtp_source, res):
    """Fill res as it goes, so that a failure still reports what was measured."""
    n = args.scale_messages
    sessions = args.scale_sessions
    res.update({"messages": n, "sessions": sessions, "size": args.size, "slices": [],
                "memory": {}})
    dns = bench.Dnsmasq(bench.free_port())
    pt = None
    try:
        dns.start()
        port = refused_port()
        res["destination"] = "%s:%d (connection refused)" % (bench.SINK_ADDR, port)
        pt = bench.Petrel(args.petrel, tmp, bench.free_port(), args.workers,
                          args.petrel_log_level, name="scale")
        pt.relay = {"resolver": "127.0.0.1@%d" % dns.port, "sink_port": port,
                    "dest_limit": args.relay_dest_concurrency}
        pt.extra_conf = ("\n[queue]\nretry_initial = 86400\nretry_max = 604800\n"
                         "delay_warning = 0\n")
        pt.start()
        bench.log("scale: petrel pid %d (network %s), %d messages of %d bytes to %s, "
                  "%d sessions" % (pt.proc.pid, pt.network_pid(), n, args.size,
                                   res["destination"], sessions))
        res["memory"]["0%"] = memory(pt)[:2]

        # ten slices: accept rate of the first and the last, memory at 10, 50, 100%
        deadline = time.monotonic() + args.scale_timeout
        sent = 0
        for i in range(10):
            count = n // 10 if i < 9 else n - sent
            if count <= 0:
                continue
            if not pt.alive():
                raise bench.BenchError("petrel died: %s" % pt.log_tail())
            took, status, out = send_slice(smtp_source, pt.relay_socket, sessions, count,
                                           args.size, deadline - time.monotonic())
            sent += count
            sl = {"slice": i + 1, "messages": count, "seconds": round(took, 3),
                  "msgs_per_sec": round(count / took, 1) if took > 0 else 0.0,
                  "smtp_source_status": status}
            if status != 0 or out:
                sl["smtp_source_output"] = out
            res["slices"].append(sl)
            bench.log("scale: slice %d/10: %d messages in %.1f s (%.0f msg/s)%s"
                      % (i + 1, count, took, sl["msgs_per_sec"],
                         "" if status == 0 else "  smtp-source exit %s: %s" % (status, out)))
            if i in (0, 4, 9):
                pct = "%d%%" % ((i + 1) * 10)
                total, net, nproc = memory(pt)
                res["memory"][pct] = (total, net)
                st = pt.stats()
                if st:
                    res.setdefault("stats", {})[pct] = st
                bench.log("scale: at %s: %.1f MiB resident in %d processes, network "
                          "process %.1f MiB%s" % (pct, total / 1024.0, nproc, net / 1024.0,
                                                   "; stats %s" % st if st else ""))
            if status != 0 or time.monotonic() > deadline:
                raise bench.BenchError("scale: slice %d did not complete (smtp-source exit "
                                       "%s): %s" % (i + 1, status, out))
        res["accepted_seconds"] = round(sum(s["seconds"] for s in res["slices"]), 1)

        # once the first attempts are done (new/ empty: every message deferred), again
        t0 = time.monotonic()
        waiting = queue_waiting(pt)
        while waiting and time.monotonic() - t0 < 600 and pt.alive():
            time.sleep(1)
            waiting = queue_waiting(pt)
        if waiting is not None:
            res["settle_seconds"] = round(time.monotonic() - t0, 1)
            res["waiting_in_new"] = waiting
            res["memory"]["deferred"] = memory(pt)[:2]
        net = pt.network_pid()
        res["network_vmhwm_kib"] = bench.proc_status(net).get("VmHWM", 0) if net else 0

        # restart: SIGTERM, then start and time the first 220 and `recovered`
        took, status = pt.stop(seconds=300)
        res["stop_seconds"] = round(took, 2)
        res["stop_status"] = status
        bench.log("scale: SIGTERM: petrel exited in %.2f s with status %s" % (took, status))
        pt.logpath = os.path.join(tmp, "scale-restart.log")
        t0 = time.monotonic()
        pt.launch()
        banner = None
        while time.monotonic() - t0 < 600 and pt.alive():
            banner = bench.read_banner("127.0.0.1", pt.port, 1.0)
            if banner and banner.startswith("220"):
                break
            banner = None
            time.sleep(0.02)
        if banner is None:
            raise bench.BenchError("scale: no 220 within 600 s of the restart: %s"
                                   % pt.log_tail())
        res["restart_banner_seconds"] = round(time.monotonic() - t0, 3)
        line = log_offset_wait(pt.logpath, 0, r"\brecovered\b.*count=", t0 + 1800, pt.proc)
        if line is None:
            raise bench.BenchError("scale: no `recovered` log line within 1800 s of the "
                                   "restart: %s" % pt.log_tail())
        res["restart_recovered_seconds"] = round(time.monotonic() - t0, 3)
        res["recovered_line"] = line
        bench.log("scale: restart: first 220 after %.3f s, `recovered` after %.3f s (%s)"
                  % (res["restart_banner_seconds"], res["restart_recovered_seconds"], line))
        res["memory"]["restarted"] = memory(pt)[:2]

        # petrel queue list --limit 100, and all of it through wc -l
        cmd = [pt.binary, "queue", "list", "-c", pt.conf, "--limit", "100"]
        took, status, out, err = timed(cmd, 600)
        res["list_limit_cmd"] = " ".join(cmd)
        res["list_limit"] = {"seconds": round(took, 3), "status": status,
                             "lines": len(out.splitlines())}
        if status != 0:
            res["list_limit"]["error"] = (err or out).strip()[-300:]
        bench.log("scale: %s: %.3f s, status %s, %d lines" % (
            res["list_limit_cmd"], took, status, res["list_limit"]["lines"]))
        cmd = "%s queue list -c %s | wc -l" % (pt.binary, pt.conf)
        took, status, out, err = timed(cmd, 1800, shell=True)
        res["list_all_cmd"] = cmd
        res["list_all"] = {"seconds": round(took, 3), "status": status,
                           "lines": int(out.strip()) if out.strip().isdigit() else None}
        if status != 0:
            res["list_all"]["error"] = err.strip()[-300:]
        bench.log("scale: %s: %.3f s, %s lines" % (cmd, took, res["list_all"]["lines"]))
    finally:
        if pt is not None:
            res["log_warnings"] = [l for l in pt.log_tail(4000).splitlines()
                                   if (" warn " in l or " error " in l) and
                                   " privileges " not in l][-5:]   # user = root: on purpose
            pt.stop(seconds=300)
        dns.stop()
        # a million queue files: remove them now (the bench's temp folder goes later)
        if pt is not None and not args.keep:
            shutil.rmtree(pt.data, ignore_errors=True)


def fmt_mem(pair):
    if not pair:
        return "-"
    return "%.1f MiB (network %.1f MiB)" % (pair[0] / 1024.0, pair[1] / 1024.0)


def report(res, error=None):
    print()
    if not res:
        print("Queue scale: not run" + (": " + error if error else ""))
        return
    print("Queue scale: %d messages of %d bytes to %s (every attempt refused, retry in 1 day), "
          "smtp-source -s %d on the local socket, in 10 slices"
          % (res["messages"], res["size"], res.get("destination", "-"), res["sessions"]))
    sl = res.get("slices") or []
    if sl:
        print("accept rate: first 10%% %.0f msg/s, last 10%% %s; all %d slices: %s"
              % (sl[0]["msgs_per_sec"],
                 "%.0f msg/s" % sl[-1]["msgs_per_sec"] if len(sl) == 10 else "-",
                 len(sl), " ".join("%.0f" % s["msgs_per_sec"] for s in sl)))
    mem = res.get("memory", {})
    print("resident memory, all Petrel processes (network process alone): "
          "at 10%% %s; at 50%% %s; at 100%% %s" % (
              fmt_mem(mem.get("10%")), fmt_mem(mem.get("50%")), fmt_mem(mem.get("100%"))))
    st = res.get("stats") or {}
    if st:
        print("petrel queue stats (in memory: messages, bodies, body bytes): %s" % "; ".join(
            "at %s %s, %s, %.1f MiB" % (pct, st[pct].get("messages", "-"),
                                        st[pct].get("bodies", "-"),
                                        st[pct].get("body_bytes", 0) / 1048576.0)
            for pct in ("10%", "50%", "100%") if pct in st))
    if "deferred" in mem:
        print("  once every first attempt was done (%.0f s later, %d left in new/): %s; "
              "network VmHWM %.1f MiB" % (res.get("settle_seconds", 0),
                                          res.get("waiting_in_new", 0),
                                          fmt_mem(mem["deferred"]),
                                          res.get("network_vmhwm_kib", 0) / 1024.0))
    if "stop_seconds" in res:
        print("restart: SIGTERM to exit %.2f s (status %s)" % (res["stop_seconds"],
                                                              res.get("stop_status")))
    if "restart_banner_seconds" in res:
        print("  start to first 220: %.3f s (target < 2 s); to `recovered`: %s"
              % (res["restart_banner_seconds"],
                 "%.3f s" % res["restart_recovered_seconds"]
                 if "restart_recovered_seconds" in res else "-"))
    if "restarted" in mem:
        print("  resident after recovery: %s" % fmt_mem(mem["restarted"]))
    for key, cmd in (("list_limit", "list_limit_cmd"), ("list_all", "list_all_cmd")):
        r = res.get(key)
        if r:
            print("`%s`: %.3f s, exit %s, %s lines%s" % (
                res[cmd], r["seconds"], r["status"],
                r["lines"], "  (%s)" % r["error"].splitlines()[0] if r.get("error") else ""))
    for l in res.get("log_warnings") or []:
        print("  petrel log: " + l)
    if error:
        print("ERROR: " + error)
