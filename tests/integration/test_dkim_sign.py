"""DKIM signing (RFC 6376, RFC 8463): `petrel dkim keygen|list|remove`, and mail from
authenticated accounts signed with the keys of its From: domain by the running server.

Petrel's signatures are checked by two verifiers that are not Petrel: dkimpy's
`dkimverify` (python3-dkim) and OpenDKIM's `opendkim-testmsg` (opendkim-tools).  Neither
can be told a DNS port, so both run in a network namespace of their own (`unshare --net
--mount`) where dnsmasq answers on 127.0.0.1:53 with the TXT records that `petrel dkim
keygen` printed, and /etc/resolv.conf is bind-mounted to point at it.  That needs root
(CAP_SYS_ADMIN for the namespaces and the mount, port 53): the tests that run the two
verifiers are skipped, with that reason, as any other user.
"""

import base64
import os
import re
import shutil
import signal
import subprocess
import time

import dkim  # python3-dkim
import pytest

from conftest import HOSTNAME, SENDER, assert_queued, dot_stuff, free_ports, make_message
from peers import txt_record_arg

DOMAIN = "example.test"


def keygen(p, *args, host=DOMAIN):
    """`petrel dkim keygen HOST ARGS`: (selector, TXT name, record value) from its output."""
    r = p.cli_ok("dkim", "keygen", host, *args)
    m = re.search(r'^(\S+)\._domainkey\.(\S+). IN TXT((?: "[^"]*")+)$', r.stdout, re.M)
    assert m, r.stdout
    strings = re.findall(r'"([^"]*)"', m.group(3))
    assert all(len(s) <= 255 for s in strings), strings
    return m.group(1), "%s._domainkey.%s" % (m.group(1), m.group(2)), "".join(strings), r


def submit(p, subject="signed", sender=SENDER, to="u@example.test", body=b"Hello.\r\n"):
    c = p.auth_session()
    try:
        c.mail_transaction(sender, [to], make_message(subject=subject, sender=sender, to=to,
                                                      body=body))
    finally:
        c.quit()


def signatures(raw):
    """The DKIM-Signature fields of RAW, unfolded, as tag dicts."""
    head = raw.split(b"\r\n\r\n", 1)[0].decode()
    head = re.sub(r"\r\n[ \t]+", " ", head)
    out = []
    for line in head.split("\r\n"):
        if line.lower().startswith("dkim-signature:"):
            tags = {}
            for t in line.split(":", 1)[1].split(";"):
                if "=" in t:
                    k, v = t.split("=", 1)
                    tags[k.strip()] = re.sub(r"\s+", "", v)
            out.append(tags)
    return out


def only_signature(raw, index):
    """RAW keeping only its INDEX-th DKIM-Signature field (0 = topmost)."""
    head, body = raw.split(b"\r\n\r\n", 1)
    fields = re.split(rb"\r\n(?![ \t])", head)
    kept, n = [], 0
    for f in fields:
        if f.lower().startswith(b"dkim-signature:"):
            n += 1
            if n - 1 != index:
                continue
        kept.append(f)
    return b"\r\n".join(kept) + b"\r\n\r\n" + body


def verify_elsewhere(tmp_path, message, records):
    """dkimverify and opendkim-testmsg on MESSAGE with RECORDS {name: value} in DNS; their
    exit statuses and output, from a network namespace of their own."""
    for tool in ("dkimverify", "opendkim-testmsg", "dnsmasq", "unshare", "ip"):
        if shutil.which(tool) is None and not os.path.exists("/usr/sbin/" + tool):
            pytest.fail("%s is not installed (scripts/install-deps.sh)" % tool)
    if os.geteuid() != 0:
        pytest.skip("needs root: dkimverify and opendkim-testmsg run in a network namespace "
                    "(unshare --net --mount, dnsmasq on port 53, resolv.conf bind-mounted); "
                    "running as uid %d" % os.geteuid())
    work = tmp_path / ("verify-%d" % time.monotonic_ns())
    work.mkdir()
    (work / "msg").write_bytes(message)
    (work / "resolv.conf").write_text("nameserver 127.0.0.1\n")
    txt = []
    for name, value in records.items():
        assert "'" not in value  # the script puts each argument in '...'
        txt.append(txt_record_arg(name, value))
    script = work / "run.sh"
    script.write_text("""
ip link set lo up || exit 90
mount --bind {w}/resolv.conf /etc/resolv.conf || exit 91
dnsmasq --port=53 --listen-address=127.0.0.1 --bind-interfaces --no-resolv --no-hosts \\
  --user=root --pid-file={w}/dnsmasq.pid --local=/test/ {txt} || exit 92
/usr/bin/python3 /usr/bin/dkimverify < {w}/msg > {w}/dkimpy.out 2>&1; echo $? > {w}/dkimpy.rc
opendkim-testmsg < {w}/msg > {w}/opendkim.out 2>&1; echo $? > {w}/opendkim.rc
kill $(cat {w}/dnsmasq.pid)
""".format(w=work, txt=" ".join("'%s'" % t for t in txt)))
    r = subprocess.run(["unshare", "--net", "--mount", "sh", str(script)], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, ("namespace set-up failed (%d; unshare --net --mount needs "
                               "root with CAP_SYS_ADMIN): %s" % (r.returncode, r.stderr))
    return {tool: (int((work / (tool + ".rc")).read_text()),
                   (work / (tool + ".out")).read_text())
            for tool in ("dkimpy", "opendkim")}


def assert_verifies(tmp_path, raw, records, count):
    sigs = signatures(raw)
    assert len(sigs) == count, raw[:2000]
    for i in range(count):
        one = only_signature(raw, i)
        res = verify_elsewhere(tmp_path, one, records)
        assert res["dkimpy"][0] == 0, "dkimverify: signature %d %r\n%s" % (i, res, one[:1500])
        assert res["opendkim"][0] == 0, "opendkim-testmsg: signature %d %r" % (i, res)
        # dkimpy's API too, each signature of the whole message
        dns = {(n + ".").encode(): v.encode() for n, v in records.items()}
        assert dkim.DKIM(raw).verify(idx=i, dnsfunc=lambda name, timeout=5: dns.get(name)), i


def test_keygen_list_remove(petrel_factory):
    p = petrel_factory(start=False)
    sel, name, record, r = keygen(p)
    assert sel == "petrel" and name == "petrel._domainkey.example.test"
    assert record.startswith("v=DKIM1; k=rsa; p=")
    assert "no running server" in r.stdout
    key = p.data_dir / "dkim" / "petrel._domainkey.example.test.pem"
    assert key.stat().st_mode & 0o777 == 0o600 and key.stat().st_nlink == 1
    # the record is the key's own public half (openssl's word, not Petrel's)
    der = subprocess.run(["openssl", "pkey", "-in", str(key), "-pubout", "-outform", "DER"],
                         capture_output=True, check=True).stdout
    assert record == "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()
    sel2, _, record2, _ = keygen(p, "--algorithm", "ed25519")
    assert sel2 == "petrel-ed25519" and record2.startswith("v=DKIM1; k=ed25519; p=")
    assert len(base64.b64decode(record2.split("p=")[1])) == 32
    keygen(p, "--selector", "s2026.a", "--algorithm", "rsa-3072")
    rows = sorted(l.split(" ", 4) for l in p.cli_ok("dkim", "list").stdout.splitlines())
    assert [r[:4] for r in rows] == [
        ["example.test", "petrel", "rsa-sha256", "2048"],
        ["example.test", "petrel-ed25519", "ed25519-sha256", "256"],
        ["example.test", "s2026.a", "rsa-sha256", "3072"]]
    assert rows[0][4] == record and rows[1][4] == record2
    # an existing key is never replaced
    again = p.cli("dkim", "keygen", DOMAIN)
    assert again.returncode == 1 and "exists already" in again.stderr
    assert p.cli("dkim", "keygen", "not a domain").returncode == 2
    assert p.cli("dkim", "keygen", DOMAIN, "--selector", "bad..sel").returncode == 2
    assert p.cli("dkim", "keygen", DOMAIN, "--algorithm", "rsa-512").returncode == 2
    p.cli_ok("dkim", "remove", DOMAIN, "--selector", "s2026.a")
    assert len(p.cli_ok("dkim", "list").stdout.splitlines()) == 2
    p.cli_ok("dkim", "remove", DOMAIN)
    assert p.cli_ok("dkim", "list").stdout == ""
    gone = p.cli("dkim", "remove", DOMAIN)
    assert gone.returncode == 1 and "no key of example.test" in gone.stderr
    assert list((p.data_dir / "dkim").iterdir()) == []


def test_submission_signed_rsa_and_ed25519(petrel_factory, tmp_path):
    """Both keys sign; dkimpy and OpenDKIM verify each signature with the published keys."""
    p = petrel_factory(start=False)
    _, rsa_name, rsa_record, _ = keygen(p)
    _, ed_name, ed_record, _ = keygen(p, "--algorithm", "ed25519")
    p.start()
    body = b"Line one.\r\n\r\n  Indented   text   \r\n.dot line\r\n\r\n\r\n"
    submit(p, body=body)
    raw = p.mail("example.test", "u", 1)[0]
    sigs = signatures(raw)
    assert [s["a"] for s in sigs] == ["rsa-sha256", "ed25519-sha256"]
    for s in sigs:
        assert s["d"] == "example.test" and s["c"] == "relaxed/relaxed"
        assert s["h"].split(":")[0] == "from" and s["h"].count("from") == 2
    assert_verifies(tmp_path, raw, {rsa_name: rsa_record, ed_name: ed_record}, 2)
    assert "dkim-signed" in p.wait_log("dkim-signed")
    # a changed body fails with both verifiers
    bad = only_signature(raw, 0).replace(b"Line one.", b"Line 1.")
    res = verify_elsewhere(tmp_path, bad, {rsa_name: rsa_record})
    assert res["dkimpy"][0] != 0 and res["opendkim"][0] != 0, res


def test_only_authenticated_mail_is_signed(petrel_factory):
    p = petrel_factory(start=False)
    keygen(p)
    p.start()
    c = p.session("mx")
    c.mail_transaction("someone@example.test", ["u@example.test"],
                       make_message(sender="someone@example.test"))
    c.quit()
    raw = p.mail("example.test", "u", 1)[0]
    assert signatures(raw) == []
    # an account's mail from a domain without a key goes unsigned too
    submit(p, sender="a@b.test")
    raws = p.mail("example.test", "u", 2)
    assert [len(signatures(r)) for r in raws] == [0, 0]


def test_running_server_picks_up_keys(petrel_factory, tmp_path):
    """keygen and remove tell the running server (keys-reload): the keys process starts
    again and the next message is signed with the keys as they are now."""
    p = petrel_factory()
    keys_pid = p.processes()["keys"]
    submit(p, subject="before")
    assert signatures(p.mail("example.test", "u", 1)[0]) == []
    connected = len(re.findall(r"ipc-connected process=keys", p.log()))
    _, name, record, r = keygen(p, "--algorithm", "ed25519")
    assert "restarting" in r.stdout, r.stdout
    # the new keys process's channel is in (a domain without a key in the last list
    # waits only a second for it, and this machine may be slower than that)
    p.wait_log(r"ipc-connected process=keys", connected + 1)
    submit(p, subject="after keygen")
    raws = p.mail("example.test", "u", 2)
    signed = [x for x in raws if b"after keygen" in x][0]
    assert [s["a"] for s in signatures(signed)] == ["ed25519-sha256"]
    assert_verifies(tmp_path, signed, {name: record}, 1)
    assert p.processes()["keys"] != keys_pid
    p.cli_ok("dkim", "remove", DOMAIN)
    submit(p, subject="after remove")
    raws = p.mail("example.test", "u", 3)
    assert signatures([x for x in raws if b"after remove" in x][0]) == []


def test_keys_process_not_answering_sends_unsigned(petrel_factory):
    """A keys process that does not answer (stopped) costs the helper timeout, then the
    mail goes unsigned, logged: it is not lost, nor refused."""
    p = petrel_factory(start=False, helper_timeout=1)
    keygen(p)
    p.start()
    keys_pid = p.processes()["keys"]
    os.kill(keys_pid, signal.SIGSTOP)
    try:
        submit(p)
        raw = p.mail("example.test", "u", 1)[0]
    finally:
        os.kill(keys_pid, signal.SIGCONT)
    assert signatures(raw) == []
    p.wait_log(r"dkim-sign-failed .*action=unsigned")


def test_bounce_and_delay_notice_signed(petrel_factory, tmp_path):
    """Delivery status notices come From: MAILER-DAEMON@<hostname>: with keys for the host
    name they are signed, and both verifiers accept them; they parse without defects."""
    from email import message_from_bytes, policy
    from peers import Dnsmasq
    (tmp_path / "dns").mkdir()
    dns = Dnsmasq(tmp_path / "dns").start(mx=[("remote.test", "mx.remote.test", 10)],
                                          hosts=[("mx.remote.test", "127.0.0.9")])
    try:
        dead_port = free_ports(1)[0]
        p = petrel_factory(start=False, resolver=dns.resolver, special_zones="test",
                           retry_initial=1, retry_max=1, delay_warning=1)
        with open(p.config_path, "a") as f:
            f.write("\n[delivery]\nport = %d\n" % dead_port)
        _, rsa_name, rsa_record, _ = keygen(p, "--selector", "bounce", host=HOSTNAME)
        _, ed_name, ed_record, _ = keygen(p, "--algorithm", "ed25519", host=HOSTNAME)
        p.start()
        c = p.auth_session()
        qid = assert_queued(c.mail_transaction(SENDER, ["r@remote.test"],
                                               make_message(sender=SENDER, to="r@remote.test")))
        c.quit()
        # the second attempt, a second or more after arrival, sends the delay notice
        local = SENDER.split("@")[0]
        [delay] = p.mail("example.test", local, 1, timeout=30)
        p.cli_ok("queue", "bounce", qid)
        notices = p.mail("example.test", local, 2, timeout=30)
    finally:
        dns.stop()
    bounce = [n for n in notices if n != delay][0]
    records = {rsa_name: rsa_record, ed_name: ed_record}
    for raw in (delay, bounce):
        sigs = signatures(raw)
        assert [(s["d"], s["a"]) for s in sigs] == [(HOSTNAME, "rsa-sha256"),
                                                    (HOSTNAME, "ed25519-sha256")], raw[:1500]
        assert_verifies(tmp_path, raw, records, 2)
        assert message_from_bytes(raw, policy=policy.default).defects == []
    assert b"delayed" in delay.lower() or b"delay" in delay.lower()
    assert p.log().count("dkim-signed what=notice") >= 2


def test_keys_process_gone_holds_back_only_signed_domains(petrel_factory):
    """With no keys process at all (killed, and the supervisor stopped so that none comes
    back), mail of a domain that had no key waits a second (SIGNER_GRACE_MS), not the
    whole helper timeout (30 s here), and goes unsigned."""
    p = petrel_factory(start=False, helper_timeout=30)
    keygen(p)
    p.start()
    submit(p, subject="listed")      # the signer has the key list now
    assert len(signatures(p.mail("example.test", "u", 1)[0])) == 1
    keys_pid = p.processes()["keys"]
    disconnected = len(re.findall(r"ipc-disconnected process=keys", p.log()))
    os.kill(p.proc.pid, signal.SIGSTOP)
    try:
        os.kill(keys_pid, signal.SIGKILL)
        p.wait_log(r"ipc-disconnected process=keys", disconnected + 1)
        t0 = time.monotonic()
        submit(p, subject="keyless", sender="a@b.test")
        took = time.monotonic() - t0
    finally:
        os.kill(p.proc.pid, signal.SIGCONT)
    assert took < 15, took
    raws = p.mail("example.test", "u", 2)
    assert signatures([x for x in raws if b"keyless" in x][0]) == []


def test_stopped_keys_process_leaves_a_worker_for_the_queue(petrel_factory):
    """Workers that wait for a keys process that does not answer are at most all but one
    ([server] workers - 1): with workers = 2 and two submissions waiting for their
    signatures (helper_timeout 30), mail over the mx listener still gets its 250 (the
    queue writes on a worker) at once, not when the submissions give up."""
    p = petrel_factory(start=False, helper_timeout=30, workers=2)
    keygen(p)
    p.start()
    submit(p, subject="listed")      # the signer has the key list: it waits to sign
    assert len(signatures(p.mail("example.test", "u", 1)[0])) == 1
    keys_pid = p.processes()["keys"]
    os.kill(keys_pid, signal.SIGSTOP)
    held = []
    try:
        for i in range(2):
            c = p.auth_session()
            held.append(c)
            c.expect("MAIL FROM:<%s>" % SENDER, 250)
            c.expect("RCPT TO:<u@example.test>", 250)
            c.expect("DATA", 354)
            c.send(dot_stuff(make_message(subject="held %d" % i, sender=SENDER,
                                          to="u@example.test")) + b".\r\n")
        m = p.session()
        t0 = time.monotonic()
        assert_queued(m.mail_transaction("x@b.test", ["u@example.test"],
                                         make_message(subject="inbound", sender="x@b.test",
                                                      to="u@example.test")))
        took = time.monotonic() - t0
        m.quit()
    finally:
        os.kill(keys_pid, signal.SIGCONT)
    for c in held:
        assert_queued(c.read_reply(timeout=90))
        c.quit()
    assert took < 15, took
