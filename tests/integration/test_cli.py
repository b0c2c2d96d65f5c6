"""The petrel command line: exit codes (0 ok, 1 failure, 2 usage/config) and messages."""

import re

import pytest

from conftest import SERVE_USER, run_petrel


def test_version(petrel_factory):
    r = run_petrel("version")
    assert r.returncode == 0, r
    assert re.search(r"\d+\.\d+\.\d+", r.stdout), r.stdout


def test_help(petrel_factory):
    r = run_petrel("help")
    assert r.returncode == 0, r
    assert "serve" in r.stdout and "queue" in r.stdout, r.stdout


def test_unknown_subcommand(petrel_factory):
    r = run_petrel("bogus")
    assert r.returncode == 2, r
    assert r.stderr.strip(), "no message on stderr"


def test_no_arguments_is_usage_error(petrel_factory):
    r = run_petrel()
    assert r.returncode == 2, r
    assert r.stderr.strip()


def test_serve_missing_config(petrel_factory):
    r = run_petrel("serve", "-c", "/nonexistent/petrel.conf", timeout=15)
    assert r.returncode == 2, r
    assert "/nonexistent/petrel.conf: " in r.stderr, r.stderr


def test_serve_unknown_key_reports_line(petrel_factory, tmp_path):
    conf = tmp_path / "bad.conf"
    conf.write_text("[server]\nhostname = mx.petrel.test\nno_such_key = 1\n")
    r = run_petrel("serve", "-c", conf, timeout=15)
    assert r.returncode == 2, r
    assert "%s:3: " % conf in r.stderr, r.stderr


def test_serve_bad_value_reports_line(petrel_factory, tmp_path):
    conf = tmp_path / "bad.conf"
    conf.write_text("[server]\nhostname = mx.petrel.test\n\n[limits]\nrecipients = lots\n")
    r = run_petrel("serve", "-c", conf, timeout=15)
    assert r.returncode == 2, r
    assert "%s:5: " % conf in r.stderr, r.stderr


def test_serve_bad_listener_role(petrel_factory, tmp_path):
    conf = tmp_path / "bad.conf"
    conf.write_text("[listener x]\nrole = gopher\naddress = 127.0.0.1:1\n")
    r = run_petrel("serve", "-c", conf, timeout=15)
    assert r.returncode == 2, r
    assert "%s:2: " % conf in r.stderr, r.stderr


# Issue 7 item 24: every value is checked when the file is read, reported with FILE:LINE
# and exit 2, before petrel serve touches the data folder (no recovery, no database).
BAD_VALUES = [
    ("[dns]\nresolver = not-an-ip\n", "'resolver' must be IP or IP@PORT"),
    ("[dns]\nresolver = 127.0.0.1@99999\n", "'resolver' must be IP or IP@PORT"),
    ("[dns]\nspecial_zones = te$t\n", "'te$t' in 'special_zones' is not a valid domain name"),
    ("[relay]\nhost = foo\n", "[relay] host 'foo' is neither a preset"),
    ("[relay]\nhost = smtp.example:587\ndomains = bad!domain\n",
     "'bad!domain' in 'domains' is not a valid domain name"),
    ("[delivery]\nsource_address = 999.1.1.1\n",
     "'source_address' must be an IPv4 or IPv6 address"),
]


@pytest.mark.parametrize("section,message", BAD_VALUES)
def test_serve_bad_value_exits_2_before_touching_the_data_folder(petrel_factory, section,
                                                                 message):
    p = petrel_factory(start=False)
    before = sorted(x.name for x in p.data_dir.iterdir())
    # a message left in the queue would be recovered (and logged) if serve got that far
    text = p.config_path.read_text()
    bad_line = text.count("\n") + 1 + section.count("\n") - 1
    p.config_path.write_text(text + section)
    r = run_petrel("serve", "-c", p.config_path, timeout=15)
    assert r.returncode == 2, r
    assert "%s:%d: " % (p.config_path, bad_line) in r.stderr, (bad_line, r.stderr)
    assert message in r.stderr, r.stderr
    assert sorted(x.name for x in p.data_dir.iterdir()) == before
    assert "recover" not in r.stderr and "started" not in r.stderr, r.stderr


def test_serve_unloadable_certificate_exits_2_before_touching_the_data_folder(petrel_factory,
                                                                              tmp_path):
    p = petrel_factory(start=False, certificate=str(tmp_path / "missing.pem"))
    before = sorted(x.name for x in p.data_dir.iterdir())
    r = run_petrel("serve", "-c", p.config_path, timeout=15)
    assert r.returncode == 2, r
    line = p.config_path.read_text().splitlines().index(
        "certificate = %s" % (tmp_path / "missing.pem")) + 1
    assert "%s:%d: [tls]: cannot load certificate" % (p.config_path, line) in r.stderr, r.stderr
    assert sorted(x.name for x in p.data_dir.iterdir()) == before


def test_serve_as_root_with_empty_user_is_refused(petrel_factory):
    """Issue 7 item 16: `user =` as root would silently keep root."""
    if SERVE_USER != "root":
        pytest.skip("the refusal applies only when started as root (running as uid %d)"
                    % __import__("os").geteuid())
    p = petrel_factory(start=False, user="")
    before = sorted(x.name for x in p.data_dir.iterdir())
    r = run_petrel("serve", "-c", p.config_path, timeout=15)
    assert r.returncode == 2, r
    line = p.config_path.read_text().splitlines().index("user = ") + 1
    assert "%s:%d: 'user' is empty and petrel was started as root" % (p.config_path, line) \
        in r.stderr, r.stderr
    assert "user = root" in r.stderr, r.stderr
    assert sorted(x.name for x in p.data_dir.iterdir()) == before


def test_serve_as_root_with_user_root_warns(petrel_factory):
    if SERVE_USER != "root":
        pytest.skip("needs root (running as uid %d)" % __import__("os").geteuid())
    p = petrel_factory(user="root")
    log = p.wait_log("no privilege drop")
    assert "privileges" in log and "no privilege drop" in log, log
    assert p.stop() == 0


def test_serve_unknown_user_reports_line(petrel_factory):
    if SERVE_USER != "root":
        pytest.skip("the user is looked up only when started as root (running as uid %d)"
                    % __import__("os").geteuid())
    p = petrel_factory(start=False, user="no-such-user-petrel")
    r = run_petrel("serve", "-c", p.config_path, timeout=15)
    assert r.returncode == 2, r
    line = p.config_path.read_text().splitlines().index("user = no-such-user-petrel") + 1
    assert "%s:%d: 'user': no user named 'no-such-user-petrel'" % (p.config_path, line) \
        in r.stderr, r.stderr


def test_queue_list_empty(petrel_factory):
    p = petrel_factory(start=False)
    r = run_petrel("queue", "list", "-c", p.config_path)
    assert r.returncode == 0, r
    assert "0 messages" in r.stdout, r.stdout


def test_queue_show_unknown_id(petrel_factory):
    p = petrel_factory(start=False)
    r = run_petrel("queue", "show", "0000000000000000", "-c", p.config_path)
    assert r.returncode == 1, r
    assert r.stderr.strip()


def test_queue_show_malformed_id(petrel_factory):
    p = petrel_factory(start=False)
    r = run_petrel("queue", "show", "not-an-id", "-c", p.config_path)
    assert r.returncode in (1, 2), r
    assert r.stderr.strip()


def test_queue_list_while_serving(petrel):
    r = run_petrel("queue", "list", "-c", petrel.config_path)
    assert r.returncode == 0, r
    assert "0 messages" in r.stdout, r.stdout
