"""Real SMTP clients against Petrel: swaks, curl, openssl s_client, msmtp, Postfix smtp-source."""

import os
import re
import shutil
import subprocess

import pytest

from conftest import REPO, SENDER, SENDER_PASSWORD, make_message, split_message


def need(tool):
    path = shutil.which(tool)
    if not path:
        pytest.skip("%s not installed (scripts/install-deps.sh installs it)" % tool)
    return path


def run(args, timeout=60, **kw):
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, **kw)


# Submission listeners require AUTH before MAIL (530 5.7.0): the fixture account logs in.
SWAKS_AUTH = ("--auth", "PLAIN", "--auth-user", SENDER, "--auth-password", SENDER_PASSWORD)
CURL_AUTH = ("--user", "%s:%s" % (SENDER, SENDER_PASSWORD))


def received(raw):
    lines, _ = split_message(raw)
    return [l for l in lines if l.startswith("Received:")][0]


# ---------------------------------------------------------------------------------- swaks

def swaks(petrel, role, *extra, to="u@example.test"):
    need("swaks")
    return run(["swaks", "--server", "127.0.0.1:%d" % petrel.ports[role], "--to", to,
                "--from", "a@b.test", "--helo", "swaks.example", "--timeout", "20", *extra])


def test_swaks_plain_mx(petrel):
    r = swaks(petrel, "mx")
    assert r.returncode == 0, r.stdout + r.stderr
    [raw] = petrel.mail("example.test", "u", 1)
    assert " with ESMTP " in received(raw)


def test_swaks_starttls_submission(petrel):
    r = swaks(petrel, "submission", "-tls", *SWAKS_AUTH)
    assert r.returncode == 0, r.stdout + r.stderr
    [raw] = petrel.mail("example.test", "u", 1)
    assert " with ESMTPS " in received(raw) and "version=TLSv1." in received(raw)


def test_swaks_tls_on_connect(petrel):
    r = swaks(petrel, "submissions", "--tls-on-connect", *SWAKS_AUTH)
    assert r.returncode == 0, r.stdout + r.stderr
    petrel.mail("example.test", "u", 1)


def test_swaks_pipeline(petrel):
    r = swaks(petrel, "mx", "--pipeline")
    assert r.returncode == 0, r.stdout + r.stderr
    petrel.mail("example.test", "u", 1)


def test_swaks_relay_refused(petrel):
    r = swaks(petrel, "mx", to="x@elsewhere.test")
    assert r.returncode == 24, "expected 24 (no RCPT accepted): %d\n%s" % (
        r.returncode, r.stdout)
    assert "554 5.7.1" in r.stdout, r.stdout


def test_swaks_two_recipients_8bit(petrel):
    """Several recipients and an 8-bit body."""
    r = swaks(petrel, "mx", "--to", "u@example.test,v@other.test", "--body", "8bit: é")
    assert r.returncode == 0, r.stdout + r.stderr
    petrel.mail("example.test", "u", 1)
    petrel.mail("other.test", "v", 1)


# ----------------------------------------------------------------------------------- curl

def curl_upload(petrel, tmp_path, url, *extra, rcpts=("u@example.test",)):
    need("curl")
    f = tmp_path / "curl-msg.eml"
    f.write_bytes(make_message(subject="curl"))
    args = ["curl", "-sS", "--max-time", "20", url, "--mail-from", "a@b.test",
            "--upload-file", str(f), *extra]
    for r in rcpts:
        args += ["--mail-rcpt", r]
    return run(args)


def test_curl_smtp(petrel, tmp_path):
    r = curl_upload(petrel, tmp_path, "smtp://127.0.0.1:%d/curl.example" % petrel.mx,
                    rcpts=("u@example.test", "w@example.test"))
    assert r.returncode == 0, r.stderr
    petrel.mail("example.test", "u", 1)
    petrel.mail("example.test", "w", 1)


def test_curl_starttls_required(petrel, tmp_path):
    r = curl_upload(petrel, tmp_path, "smtp://127.0.0.1:%d" % petrel.sub, "--ssl-reqd", "-k",
                    *CURL_AUTH)
    assert r.returncode == 0, r.stderr
    [raw] = petrel.mail("example.test", "u", 1)
    assert " with ESMTPS " in received(raw)


def test_curl_smtps(petrel, tmp_path):
    r = curl_upload(petrel, tmp_path, "smtps://127.0.0.1:%d" % petrel.smtps, "-k",
                    *CURL_AUTH)
    assert r.returncode == 0, r.stderr
    petrel.mail("example.test", "u", 1)


def test_curl_relay_refused(petrel, tmp_path):
    r = curl_upload(petrel, tmp_path, "smtp://127.0.0.1:%d" % petrel.mx,
                    rcpts=("x@elsewhere.test",))
    assert r.returncode == 55, (r.returncode, r.stderr)  # CURLE_SEND_ERROR: RCPT failed
    assert "554" in r.stderr, r.stderr


# -------------------------------------------------------------------------------- openssl

@pytest.mark.parametrize("role", ["mx", "submission"])
def test_openssl_s_client_starttls(petrel, role):
    need("openssl")
    p = subprocess.run(["openssl", "s_client", "-starttls", "smtp", "-crlf", "-quiet",
                        "-connect", "127.0.0.1:%d" % petrel.ports[role]],
                       input=b"EHLO s-client.example\nNOOP\nQUIT\n",
                       capture_output=True, timeout=20)
    out = p.stdout.decode(errors="replace")
    assert re.search(r"^250[ -]", out, re.M), out + p.stderr.decode(errors="replace")
    assert "250 2.0.0" in out, out
    assert re.search(r"^221 2\.0\.0", out, re.M), out


def test_openssl_s_client_tls_version(petrel):
    need("openssl")
    p = subprocess.run(["openssl", "s_client", "-starttls", "smtp", "-crlf", "-brief",
                        "-connect", "127.0.0.1:%d" % petrel.mx],
                       input=b"QUIT\n", capture_output=True, timeout=20)
    out = (p.stdout + p.stderr).decode(errors="replace")
    assert re.search(r"Protocol version: TLSv1\.3", out), out


def test_openssl_s_client_implicit_tls(petrel):
    need("openssl")
    p = subprocess.run(["openssl", "s_client", "-crlf", "-quiet", "-tls1_2",
                        "-connect", "127.0.0.1:%d" % petrel.smtps],
                       input=b"EHLO s-client.example\nQUIT\n", capture_output=True,
                       timeout=20)
    out = p.stdout.decode(errors="replace")
    assert out.startswith("220 mx.petrel.test ESMTP Petrel"), out
    assert re.search(r"^221 ", out, re.M), out


# ---------------------------------------------------------------------------------- msmtp

@pytest.mark.parametrize("role,tls", [("mx", "off"), ("submission", "starttls"),
                                      ("submissions", "smtps")])
def test_msmtp(petrel, tmp_path, role, tls):
    need("msmtp")
    args = ["msmtp", "--host=127.0.0.1", "--port=%d" % petrel.ports[role],
            "--from=a@b.test", "--domain=msmtp.example"]
    if tls == "off":
        args += ["--tls=off", "--auth=off"]
    else:
        args += ["--tls=on", "--tls-certcheck=off",
                 "--tls-starttls=%s" % ("on" if tls == "starttls" else "off"),
                 "--auth=plain", "--user=" + SENDER,
                 "--passwordeval=echo " + SENDER_PASSWORD]
    p = subprocess.run(args + ["--", "u@example.test"], input=make_message(subject="msmtp"),
                       capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr.decode(errors="replace")
    petrel.mail("example.test", "u", 1)


# ---------------------------------------------------------------------- Postfix smtp-source

@pytest.fixture(scope="session")
def smtp_source(tmp_path_factory):
    cache = os.environ.get("PETREL_POSTFIX_TOOLS", "/tmp/petrel-postfix-tools")
    r = subprocess.run([str(REPO / "scripts" / "get-postfix-tools.sh"), cache],
                       capture_output=True, text=True, timeout=180)
    if r.returncode != 0:
        pytest.skip("could not fetch Postfix's smtp-source: %s" % r.stderr[-500:])
    bindir = r.stdout.strip().splitlines()[-1]
    return os.path.join(bindir, "smtp-source"), os.path.join(cache, "usr", "lib", "postfix")


def test_smtp_source_load(petrel, smtp_source):
    tool, libdir = smtp_source
    env = dict(os.environ, LD_LIBRARY_PATH=libdir)
    r = subprocess.run([tool, "-s", "20", "-m", "200", "-l", "4096", "-f", "a@b.test",
                        "-t", "u@example.test", "127.0.0.1:%d" % petrel.mx],
                       capture_output=True, text=True, timeout=180, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    box = petrel.mail("example.test", "u", 200, timeout=60, settle=1.0)
    assert len(box) == 200, len(box)


def test_smtp_source_three_recipients(petrel, smtp_source):
    """smtp-source with three recipients per message and 5 sessions."""
    tool, libdir = smtp_source
    env = dict(os.environ, LD_LIBRARY_PATH=libdir)
    r = subprocess.run([tool, "-s", "5", "-m", "20", "-r", "3", "-f", "a@b.test",
                        "-t", "u@example.test", "127.0.0.1:%d" % petrel.mx],
                       capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    # smtp-source numbers the recipients (NNu@example.test): 3 mailboxes, 20 messages each.
    import time
    root = petrel.data_dir / "mail" / "example.test"
    deadline = time.monotonic() + 30
    while True:
        counts = {d.name: len(list((d / "new").iterdir())) for d in root.iterdir()} \
            if root.is_dir() else {}
        if sum(counts.values()) >= 60 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    time.sleep(0.5)
    counts = {d.name: len(list((d / "new").iterdir())) for d in root.iterdir()}
    assert sorted(counts.values()) == [20, 20, 20], counts
