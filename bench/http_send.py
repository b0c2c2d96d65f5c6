#!/usr/bin/python3
"""POST /v3/mail/send against SMTP submission: messages per second, in the same run.

One Petrel with a submission listener (AUTH PLAIN in clear on loopback) and an http
listener.  CLIENTS processes each send one message after another, for SECONDS, to one
local mailbox, the same message (one recipient, a short text), over one kept-alive
connection each:

- smtp: smtplib, AUTH once, then MAIL / RCPT / DATA per message (250 = durable);
- http: http.client, POST /v3/mail/send with an API key per message (202 = durable).

Both end in the same queue and the same Maildir delivery, so the difference is the
protocol's and the handler's cost.  The two alternate for ROUNDS rounds; each line is
one round, then the medians and their ratio (http over smtp).  It is a benchmark, not a
test: it exits non-zero only if it could not run.

Issue 12's closing note gives this ratio ("the requests per second of POST /v3/mail/send
against SMTP submission in the same run").

Usage: /usr/bin/python3 bench/http_send.py --petrel build/petrel [--clients 8]
       [--seconds 10] [--rounds 3]
"""

import argparse
import http.client
import json
import multiprocessing
import os
import shutil
import smtplib
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402 (its Petrel configuration, free_port, log, wait_banner)

DOMAIN = "bench.test"
SENDER = "sender@" + DOMAIN
RCPT = "user@" + DOMAIN
PASSWORD = "bench-password"

EXTRA_CONF = """
[auth]
plaintext_loopback = true

[listener sub]
role = submission
address = 127.0.0.1:{sub}

[listener api]
role = http
address = 127.0.0.1:{http}
"""

MESSAGE = ("From: {sender}\r\nTo: {rcpt}\r\nSubject: bench\r\n\r\n"
           "A short message.\r\n").format(sender=SENDER, rcpt=RCPT)
REQUEST = json.dumps({
    "personalizations": [{"to": [{"email": RCPT}]}],
    "from": {"email": SENDER}, "subject": "bench",
    "content": [{"type": "text/plain", "value": "A short message."}],
}).encode()


def smtp_client(port, seconds, out):
    """Messages accepted (250) over one session in SECONDS"""
    n = 0
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
        s.login(SENDER, PASSWORD)
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            s.sendmail(SENDER, [RCPT], MESSAGE)
            n += 1
    out.put(n)


def http_client(port, key, seconds, out):
    """Requests accepted (202) over one kept-alive connection in SECONDS"""
    n = 0
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Authorization": "Bearer " + key, "Content-Type": "application/json"}
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        c.request("POST", "/v3/mail/send", body=REQUEST, headers=headers)
        r = c.getresponse()
        r.read()
        if r.status != 202:
            raise RuntimeError("POST /v3/mail/send: %d" % r.status)
        n += 1
    c.close()
    out.put(n)


def measure(target, args, clients, seconds):
    """Messages per second of CLIENTS processes running TARGET(*ARGS, seconds, queue)"""
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    procs = [ctx.Process(target=target, args=(*args, seconds, q)) for _ in range(clients)]
    start = time.monotonic()
    for p in procs:
        p.start()
    total = sum(q.get(timeout=seconds + 120) for _ in procs)
    for p in procs:
        p.join(60)
    return total / (time.monotonic() - start)


def cli(petrel_bin, conf, *args, stdin=None):
    r = subprocess.run([petrel_bin, *args, "-c", conf], input=stdin, text=True,
                       capture_output=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError("petrel %s: %s" % (" ".join(args), r.stdout + r.stderr))
    return r.stdout.strip()


def run(petrel_bin, tmp, clients, seconds, rounds, workers):
    data = os.path.join(tmp, "data")
    os.makedirs(data)
    conf = os.path.join(tmp, "petrel.conf")
    mx, sub, http_port = bench.free_port(), bench.free_port(), bench.free_port()
    with open(conf, "w") as f:
        f.write(bench.PETREL_CONF.format(data=data, user="root" if os.geteuid() == 0 else "",
                                         log_level="warn", workers=workers, domain=DOMAIN,
                                         port=mx))
        f.write(EXTRA_CONF.format(sub=sub, http=http_port))
    for account in (SENDER, RCPT):
        cli(petrel_bin, conf, "account", "add", account, "--password-stdin", "--daily-limit",
            "0", "--per-minute", "0", stdin=PASSWORD + "\n")
    key = cli(petrel_bin, conf, "apikey", "add", SENDER)
    logf = open(os.path.join(tmp, "petrel.log"), "wb")
    proc = subprocess.Popen([petrel_bin, "serve", "-c", conf], stdin=subprocess.DEVNULL,
                            stdout=logf, stderr=subprocess.STDOUT, start_new_session=True)
    result = {"clients": clients, "seconds": seconds, "smtp": [], "http": []}
    try:
        bench.wait_banner("127.0.0.1", mx, 30, proc)
        for i in range(rounds):
            result["smtp"].append(measure(smtp_client, (sub,), clients, seconds))
            result["http"].append(measure(http_client, (http_port, key), clients, seconds))
            bench.log("round %d: smtp %.1f msg/s, http %.1f msg/s"
                      % (i + 1, result["smtp"][-1], result["http"][-1]))
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        logf.close()
    result["smtp_median"] = statistics.median(result["smtp"])
    result["http_median"] = statistics.median(result["http"])
    result["ratio"] = result["http_median"] / result["smtp_median"]
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--petrel", default="build/petrel")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--json", help="write the numbers to this file")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="petrel-http-send-")
    try:
        result = run(os.path.abspath(args.petrel), tmp, args.clients, args.seconds,
                     args.rounds, args.workers)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d clients, %d rounds of %.0f s: SMTP submission %.1f msg/s, POST /v3/mail/send "
          "%.1f msg/s (medians): http/smtp %.2fx"
          % (args.clients, args.rounds, args.seconds, result["smtp_median"],
             result["http_median"], result["ratio"]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
