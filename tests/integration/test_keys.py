"""The keys process (privilege separation, issue 13): it alone loads DATA_DIR/dkim/*.pem,
signs digests for the network process, and runs under its seccomp filter; operators reach
it with `petrel keys list|test|sign` through the control socket.  Keys are made with
`openssl genpkey` and every signature is checked with `openssl pkeyutl`, not with Petrel's
own code."""

import base64
import hashlib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest


def openssl(*args, input=None):
    r = subprocess.run(["openssl", *map(str, args)], capture_output=True, input=input,
                       timeout=60)
    return r


def genpkey(path, *opts):
    r = openssl("genpkey", *opts, "-out", path)
    assert r.returncode == 0, r.stderr
    return path


@pytest.fixture
def keyed(petrel_factory):
    """A server started with DATA_DIR/dkim/ holding an RSA 2048 and an Ed25519 key that it
    must load, and a 512-bit RSA key, a key others may read and a non-key file that it must
    skip."""
    p = petrel_factory(start=False)
    d = p.data_dir / "dkim"
    d.mkdir(mode=0o700)
    keys = {
        "sel2048": genpkey(d / "sel2048.pem", "-algorithm", "RSA",
                           "-pkeyopt", "rsa_keygen_bits:2048"),
        "ed.2026": genpkey(d / "ed.2026.pem", "-algorithm", "ED25519"),
    }
    genpkey(d / "weak.pem", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:512")
    genpkey(d / "shared.pem", "-algorithm", "ED25519")
    os.chmod(d / "shared.pem", 0o644)
    (d / "README.txt").write_text("not a key\n")
    os.chmod(d / "README.txt", 0o600)
    p.start()
    p.keys = keys
    return p


def public_der(key_path):
    r = openssl("pkey", "-in", key_path, "-pubout", "-outform", "DER")
    assert r.returncode == 0, r.stderr
    return r.stdout


def dkim_p(key_path):
    """The p= value as RFC 6376 3.6.1 (RSA: SubjectPublicKeyInfo DER) and RFC 8463 4
    (Ed25519: the raw 32-byte key) say, from openssl's own output."""
    der = public_der(key_path)
    ed25519_spki = bytes.fromhex("302a300506032b6570032100")  # RFC 8410 4, then the key
    if der.startswith(ed25519_spki):
        assert len(der) == 44
        der = der[-32:]
    return base64.b64encode(der).decode()


def keys_pid(p):
    """The keys process's pid, once the supervisor has one running."""
    pid = p.processes().get("keys")
    assert pid, "no keys process under %d" % p.proc.pid
    return pid


def status_field(pid, name):
    m = re.search(r"^%s:\s+(.*)$" % name, Path("/proc/%d/status" % pid).read_text(), re.M)
    assert m, "no %s in /proc/%d/status" % (name, pid)
    return m.group(1)


def test_list_shows_the_good_keys_with_their_dns_records(keyed):
    r = keyed.cli_ok("keys", "list")
    lines = r.stdout.splitlines()
    assert len(lines) == 2, r.stdout
    rows = {}
    for line in lines:
        key_id, alg, bits, dns = line.split(" ", 3)
        rows[key_id] = (alg, int(bits), dns)
    assert set(rows) == {"sel2048", "ed.2026"}
    assert rows["sel2048"][:2] == ("rsa-sha256", 2048)
    assert rows["sel2048"][2] == "v=DKIM1; k=rsa; p=" + dkim_p(keyed.keys["sel2048"])
    assert rows["ed.2026"][:2] == ("ed25519-sha256", 256)
    assert rows["ed.2026"][2] == "v=DKIM1; k=ed25519; p=" + dkim_p(keyed.keys["ed.2026"])
    log = keyed.log()
    assert re.search(r'key-skipped file="[^"]*/dkim/weak\.pem" reason="RSA key of 512 bits', log)
    assert re.search(r'key-skipped file="[^"]*/dkim/shared\.pem" reason="group or others have '
                     r'access \(mode 0644\)', log)
    assert re.search(r'key-skipped file="[^"]*/dkim/README\.txt" reason="not named ID\.pem"',
                     log)


def test_keys_test_signs_and_verifies_each_key(keyed):
    for key_id, alg in (("sel2048", "rsa-sha256"), ("ed.2026", "ed25519-sha256")):
        r = keyed.cli("keys", "test", key_id)
        assert r.returncode == 0, r.stdout + r.stderr
        assert r.stdout.startswith("%s %s: " % (key_id, alg)) and "verifies" in r.stdout
    r = keyed.cli("keys", "test", "weak")  # skipped at load: not served
    assert r.returncode == 1
    assert "not found: no key weak" in r.stderr
    r = keyed.cli("keys", "test", "../etc/x")
    assert r.returncode == 2 and "bad key id" in r.stderr


@pytest.mark.parametrize("key_id", ["sel2048", "ed.2026"])
def test_signature_verifies_with_openssl(keyed, key_id, tmp_path):
    digest = hashlib.sha256(b"a message to sign").digest()
    r = keyed.cli_ok("keys", "sign", key_id, digest.hex())
    sig = base64.b64decode(r.stdout.strip(), validate=True)
    pub = tmp_path / "pub.pem"
    pub.write_bytes(openssl("pkey", "-in", keyed.keys[key_id], "-pubout").stdout)
    (tmp_path / "sig").write_bytes(sig)

    def verify(data):
        (tmp_path / "data").write_bytes(data)
        if key_id.startswith("ed"):
            # RFC 8463 3: Ed25519 over the SHA-256 hash itself
            args = ["-rawin"]
            assert len(sig) == 64
        else:
            # RFC 6376 3.3.1: PKCS#1 v1.5 over the DigestInfo of the SHA-256 digest
            args = ["-pkeyopt", "digest:sha256"]
            assert len(sig) == 256
        return openssl("pkeyutl", "-verify", "-pubin", "-inkey", pub, *args,
                       "-in", tmp_path / "data", "-sigfile", tmp_path / "sig")

    good = verify(digest)
    assert good.returncode == 0, good.stdout + good.stderr
    assert b"Signature Verified Successfully" in good.stdout
    bad = verify(hashlib.sha256(b"another message").digest())
    assert bad.returncode != 0


def test_sign_refuses_bad_digests_and_unknown_keys(keyed):
    r = keyed.cli("keys", "sign", "sel2048", "abcd")
    assert r.returncode == 2 and "bad digest" in r.stderr
    r = keyed.cli("keys", "sign", "nosuch", "00" * 32)
    assert r.returncode == 1 and "not found" in r.stderr


def test_no_keys(petrel):
    r = petrel.cli_ok("keys", "list")
    assert "no DKIM keys" in r.stdout


def test_helpers_run_under_seccomp(keyed):
    procs = keyed.processes()
    for role in ("auth", "keys"):
        assert status_field(procs[role], "NoNewPrivs") == "1", role
        assert status_field(procs[role], "Seccomp") == "2", role  # SECCOMP_MODE_FILTER
    # the network process has no filter (docs/security.md says why)
    assert status_field(procs["network"], "Seccomp") == "0"


def test_keys_process_unreachable_then_restarted(keyed):
    """While the keys process is down the command fails with a clear message and exit 1;
    the supervisor starts a new one and the keys are back."""
    seen = None
    for _ in range(30):
        os.kill(keys_pid(keyed), signal.SIGKILL)
        r = keyed.cli("keys", "list")
        if r.returncode != 0:
            seen = r
            break
        # restarted before we asked (its backoff grows while it keeps dying): again
    assert seen is not None, "the keys process was never found down"
    assert seen.returncode == 1
    assert "the keys process is not reachable" in seen.stderr, seen.stderr
    deadline = time.monotonic() + 20
    while True:
        r = keyed.cli("keys", "test", "ed.2026")
        if r.returncode == 0:
            break
        assert time.monotonic() < deadline, r.stderr
        time.sleep(0.2)


def test_keys_process_as_its_own_user(petrel_factory):
    """With real users the keys process runs as petrel-keys, filtered, and still signs
    with the keys it read as root (the supervisor gave them to petrel-keys)."""
    if os.geteuid() != 0:
        pytest.skip("changing users needs root (running as uid %d)" % os.geteuid())
    keys_user = pwd.getpwnam("petrel-keys")
    # pytest's own temp folders are 0700 root: the other users could not reach them
    top = Path(tempfile.mkdtemp(prefix="petrel-keys-", dir="/tmp"))
    try:
        os.chmod(top, 0o755)
        data = top / "data"
        (data / "dkim").mkdir(parents=True)
        key = genpkey(data / "dkim" / "sel1.pem", "-algorithm", "ED25519")
        p = petrel_factory(user="petrel", auth_user="petrel-auth", keys_user="petrel-keys",
                           data_dir=str(data))
        pid = keys_pid(p)
        # the process loads the keys as root, then changes user and loads its filter:
        # found just after its exec, it may not have yet
        want = [str(keys_user.pw_uid)] * 4
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and (status_field(pid, "Uid").split() != want or
                                               status_field(pid, "Seccomp") != "2"):
            time.sleep(0.05)
        assert status_field(pid, "Uid").split() == want
        assert status_field(pid, "Seccomp") == "2"
        assert key.stat().st_uid == keys_user.pw_uid
        r = p.cli_ok("keys", "list")
        assert r.stdout.split(" ", 3)[3].strip() == "v=DKIM1; k=ed25519; p=" + dkim_p(key)
        r = p.cli_ok("keys", "test", "sel1")
        assert "verifies" in r.stdout
        assert p.stop() == 0
    finally:
        shutil.rmtree(top, ignore_errors=True)


def control(p, line):
    """One raw exchange on the control socket: the lines the server sent."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(str(p.data_dir / "control.sock"))
    s.sendall(line)
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    return data.decode().splitlines()


def test_control_socket_refuses_malformed_keys_requests(keyed):
    """The server checks what the command already checks: another client may send anything."""
    for line, text in ((b"keys-list x\n", "keys-list takes no argument"),
                       (b"keys-test\n", "bad key id"),
                       (b"keys-test ../x\n", "bad key id"),
                       (b"keys-test a b\n", "keys-test takes one key id"),
                       (b"keys-sign sel2048\n", "keys-sign takes a key id and a SHA-256"),
                       (b"keys-sign sel2048 " + b"zz" * 32 + b"\n", "64 hexadecimal digits"),
                       (b"keys-sign sel2048 " + b"00" * 33 + b"\n", "64 hexadecimal digits"),
                       (b"keys-nothing\n", "unknown command")):
        lines = control(keyed, line)
        assert len(lines) == 1 and lines[0].startswith("error ") and text in lines[0], \
            (line, lines)
    lines = control(keyed, b"keys-sign ed.2026 " + b"ab" * 32 + b"\n")
    assert lines[0].startswith("data ") and lines[-1] == "ok ", lines
    assert len(base64.b64decode(lines[0][5:])) == 64
    log = keyed.wait_log("control-bad-request", count=8)
    assert len(re.findall("control-bad-request", log)) == 8
