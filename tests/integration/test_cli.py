"""The petrel command line: exit codes (0 ok, 1 failure, 2 usage/config) and messages."""

import re

from conftest import run_petrel


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
    conf.write_text("[listener x]\nrole = pop3s\naddress = 127.0.0.1:1\n")
    r = run_petrel("serve", "-c", conf, timeout=15)
    assert r.returncode == 2, r
    assert "%s:2: " % conf in r.stderr, r.stderr


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
