"""DMARC (RFC 7489): the Public Suffix List that `petrel serve` reads at start."""

import pytest

from conftest import run_petrel


def test_serve_refuses_a_bad_public_suffix_list(petrel_factory, tmp_path):
    """A bad rule stops the start: the error names the setting's line in petrel.conf and
    the rule's line in the list."""
    psl = tmp_path / "psl.dat"
    psl.write_text("// test list\ncom\nnot..a.rule\n")
    p = petrel_factory(start=False, public_suffix_list=psl)
    r = run_petrel("serve", "-c", p.config_path, timeout=15)
    assert r.returncode == 2, r
    lines = p.config_path.read_text().splitlines()
    line = next(i + 1 for i, l in enumerate(lines) if l.startswith("public_suffix_list"))
    assert "%s:%d: [auth] public_suffix_list: %s:3: " % (p.config_path, line, psl) \
        in r.stderr, r.stderr


def test_serve_refuses_a_missing_public_suffix_list(petrel_factory, tmp_path):
    p = petrel_factory(start=False, public_suffix_list=tmp_path / "none.dat")
    r = run_petrel("serve", "-c", p.config_path, timeout=15)
    assert r.returncode == 2, r
    assert "none.dat: No such file or directory" in r.stderr, r.stderr


def test_serve_starts_with_its_own_list(petrel_factory, tmp_path):
    psl = tmp_path / "psl.dat"
    psl.write_text("com\n*.wild.test\n!ok.wild.test\n")
    p = petrel_factory(public_suffix_list=psl)
    p.session().quit()
