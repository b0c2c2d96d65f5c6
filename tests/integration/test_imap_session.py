"""The IMAP session (src/imap/session.c): greeting, CAPABILITY, NOOP, LOGOUT, the command
reader's literals and limits, BAD for what is malformed or unknown."""

import os
import socket

import pytest

from conftest import release_binary
from imap_util import imap_connect, imap_server, tls_context


def raw_connect(p, port_name="imap", tls=False):
    s = socket.create_connection((p.host, p.ports[port_name]), timeout=10)
    if tls:
        s = tls_context().wrap_socket(s)
    return s, s.makefile("rb")


def read_line(f):
    line = f.readline()
    assert line.endswith(b"\r\n"), line
    return line[:-2].decode("utf-8", "replace")


def read_until_tagged(f, tag):
    """The lines up to and including TAG's reply."""
    lines = []
    while True:
        line = read_line(f)
        lines.append(line)
        if line.startswith(tag + " "):
            return lines


def test_greeting_capability_noop_logout(petrel_factory):
    p = imap_server(petrel_factory)
    c = imap_connect(p)
    assert c.welcome.startswith(b"* OK [CAPABILITY IMAP4rev1"), c.welcome
    typ, data = c.capability()
    assert typ == "OK"
    caps = data[0].decode().split()
    assert "IMAP4rev1" in caps and "LITERAL+" in caps
    assert c.noop()[0] == "OK"
    typ, data = c.logout()
    assert typ == "BYE", (typ, data)


def test_implicit_tls_greeting(petrel_factory):
    p = imap_server(petrel_factory)
    c = imap_connect(p, tls=True)
    assert c.welcome.startswith(b"* OK [CAPABILITY IMAP4rev1"), c.welcome
    assert c.sock.version() in ("TLSv1.2", "TLSv1.3")
    assert c.noop()[0] == "OK"
    assert c.logout()[0] == "BYE"


def test_unknown_and_malformed_commands_bad(petrel_factory):
    p = imap_server(petrel_factory)
    s, f = raw_connect(p)
    assert read_line(f).startswith("* OK ")
    s.sendall(b"a1 FROBNICATE\r\n")
    assert read_until_tagged(f, "a1") == ["a1 BAD Unknown command"]
    # arguments where none are taken
    s.sendall(b"a2 NOOP now\r\n")
    assert read_until_tagged(f, "a2")[-1].startswith("a2 BAD ")
    # UID with a command that takes no UID, and UID alone
    s.sendall(b"a3 UID NOOP\r\n")
    assert read_until_tagged(f, "a3") == ["a3 BAD Unknown command"]
    s.sendall(b"a4 UID\r\n")
    assert read_until_tagged(f, "a4")[-1].startswith("a4 BAD ")
    # no valid tag: the reply's tag is "*"
    s.sendall(b"\r\n")
    assert read_line(f).startswith("* BAD ")
    # an unbalanced quote
    s.sendall(b'a5 NOOP "open\r\n')
    assert read_until_tagged(f, "a5")[-1].startswith("a5 BAD ")
    # the session goes on
    s.sendall(b"a6 NOOP\r\n")
    assert read_until_tagged(f, "a6") == ["a6 OK NOOP completed"]
    s.close()


def test_command_not_valid_in_state(petrel_factory):
    """A command of the table sent in a state it is not valid in gets BAD: LOGOUT is
    valid everywhere, so the check shows with a command of the authenticated state once
    one exists; here: commands are case-insensitive and the tag is echoed as sent."""
    p = imap_server(petrel_factory)
    s, f = raw_connect(p)
    read_line(f)
    s.sendall(b"Tag.1 capability\r\n")
    lines = read_until_tagged(f, "Tag.1")
    assert lines[0].startswith("* CAPABILITY IMAP4rev1")
    assert lines[-1] == "Tag.1 OK CAPABILITY completed"
    s.close()


def test_synchronizing_literal_gets_continuation(petrel_factory):
    """RFC 9051 7.5: "+" after {N}; {N+} (LITERAL+) goes on without it."""
    p = imap_server(petrel_factory)
    s, f = raw_connect(p)
    read_line(f)
    s.sendall(b"b1 NOOP {3}\r\n")
    assert read_line(f).startswith("+ ")
    s.sendall(b"abc\r\n")
    # NOOP takes no arguments: the literal was read as one, then BAD
    assert read_until_tagged(f, "b1")[-1].startswith("b1 BAD ")
    s.sendall(b"b2 NOOP {3+}\r\nabc\r\nb3 NOOP\r\n")
    assert read_until_tagged(f, "b2")[-1].startswith("b2 BAD ")
    assert read_until_tagged(f, "b3") == ["b3 OK NOOP completed"]
    s.close()


@pytest.mark.parametrize("setting", [{"message_size": 2000}, {"literal_size": 2000}])
def test_literal_over_limit_toobig(petrel_factory, setting):
    """A literal over [imap] literal_size (by default [limits] message_size) is refused
    before its octets are sent: NO [TOOBIG] (RFC 9051 7.1), and no continuation
    request."""
    p = imap_server(petrel_factory, **setting)
    s, f = raw_connect(p)
    read_line(f)
    s.sendall(b"c0 NOOP {2000}\r\n")
    assert read_line(f).startswith("+ ")
    s.sendall(b"x" * 2000 + b"\r\n")
    assert read_until_tagged(f, "c0")[-1].startswith("c0 BAD ")  # NOOP takes none
    s.sendall(b"c1 NOOP {2001}\r\n")
    line = read_line(f)
    assert line.startswith("c1 NO [TOOBIG] "), line
    s.sendall(b"c2 NOOP\r\n")
    assert read_until_tagged(f, "c2") == ["c2 OK NOOP completed"]
    s.close()


def test_too_many_errors_bye(petrel_factory):
    p = imap_server(petrel_factory, errors=3)
    s, f = raw_connect(p)
    read_line(f)
    s.sendall(b"d1 X\r\nd2 X\r\nd3 X\r\nd4 NOOP\r\n")
    assert read_line(f) == "d1 BAD Unknown command"
    assert read_line(f) == "d2 BAD Unknown command"
    assert read_line(f) == "d3 BAD Unknown command"
    assert read_line(f).startswith("* BYE ")
    assert f.readline() == b""  # closed; d4 is not answered
    s.close()


def test_pipelined_commands_answered_in_order(petrel_factory):
    p = imap_server(petrel_factory)
    s, f = raw_connect(p)
    read_line(f)
    s.sendall(b"".join(b"p%d NOOP\r\n" % i for i in range(50)) + b"q LOGOUT\r\n")
    for i in range(50):
        assert read_line(f) == "p%d OK NOOP completed" % i
    assert read_line(f).startswith("* BYE ")
    assert read_line(f) == "q OK LOGOUT completed"
    assert f.readline() == b""
    s.close()


def test_shutdown_says_bye(petrel_factory):
    p = imap_server(petrel_factory)
    s, f = raw_connect(p)
    read_line(f)
    assert p.stop() == 0
    assert read_line(f).startswith("* BYE ")
    assert f.readline() == b""
    s.close()



def test_command_line_limit(petrel_factory):
    """A line over [imap] command_line is refused with BAD, and what is left of it is
    skipped: the session goes on with the next command."""
    p = imap_server(petrel_factory, imap_command_line=1024)
    s, f = raw_connect(p)
    read_line(f)
    s.sendall(b"e1 NOOP " + b"a" * 1010 + b"\r\n")
    assert read_until_tagged(f, "e1")[-1].startswith("e1 BAD ")  # fits; NOOP takes none
    s.sendall(b"e2 NOOP " + b"a" * 1100 + b"\r\ne3 NOOP\r\n")
    line = read_line(f)
    assert line.startswith("e2 BAD ") or line.startswith("* BAD "), line
    assert "long" in line.lower(), line
    assert read_until_tagged(f, "e3") == ["e3 OK NOOP completed"]
    s.close()


def test_autologout(petrel_factory):
    """[imap] login_timeout: a session that has not logged in and sends no command that
    long gets * BYE and is closed (RFC 9051 5.4 sets no floor before login; the
    30-minute one after is test_imap_mailbox.py::test_idle_autologout); the wait is the
    server's, the test only bounds it."""
    p = imap_server(petrel_factory, login_timeout=1)
    s, f = raw_connect(p)
    s.settimeout(30)
    read_line(f)
    line = read_line(f)
    assert line.startswith("* BYE Autologout"), line
    assert f.readline() == b""
    s.close()
    assert "autologout" in p.wait_log("autologout")


def test_id(petrel_factory):
    """RFC 2971: ID in any state, the client's fields logged, ours answered."""
    p = imap_server(petrel_factory)
    s, f = raw_connect(p)
    read_line(f)
    s.sendall(b'i1 ID ("name" "imaplib-test" "version" NIL)\r\n')
    lines = read_until_tagged(f, "i1")
    assert lines[0].startswith('* ID ("name" "Petrel" "version" '), lines
    assert lines[-1] == "i1 OK ID completed"
    assert 'id="name=imaplib-test version=NIL"' in p.wait_log("client-id")
    s.sendall(b"i2 ID NIL\r\n")
    assert read_until_tagged(f, "i2")[-1] == "i2 OK ID completed"
    for bad in (b'("name")', b"(name x)", b"", b'("%s" "x")' % (b"n" * 31),
                b"(" + b'"a" "b" ' * 31 + b")"):
        s.sendall(b"i3 ID " + bad + b"\r\n")
        assert read_until_tagged(f, "i3")[-1].startswith("i3 BAD "), bad
    s.close()


def test_start_moves_an_imap_listener_off_a_taken_port(petrel_factory):
    """The harness (conftest's start()): a port another process takes between free_ports()
    and Petrel's bind is replaced and Petrel started again, for the listeners
    add_listeners() added as for the default ones (it used to drop their ports: KeyError
    'imaps' in a later test step, or three failed starts)."""
    p = imap_server(petrel_factory, start=False)
    taken = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    taken.bind((p.host, p.ports["imaps"]))
    taken.listen(1)
    try:
        p.start()
    finally:
        port = taken.getsockname()[1]
        taken.close()
    assert p.ports["imaps"] != port and "imap" in p.ports
    c = imap_connect(p, tls=True)
    c.login("u@example.test", "secret")
    c.logout()


HEAP = 64 << 20   # glibc's heap of an arena other than the main one: 64 MiB, aligned


def arena_heaps(pid):
    """How many glibc arena heaps PID maps: anonymous 64 MiB-aligned regions of 64 MiB,
    read-write at the start, the rest reserved (---p)."""
    maps = []
    with open("/proc/%d/maps" % pid) as f:
        for line in f:
            fields = line.split()
            start, end = (int(x, 16) for x in fields[0].split("-"))
            maps.append((start, end, fields[1], len(fields) > 5))
    count = 0
    for i, (start, end, perms, named) in enumerate(maps):
        if start % HEAP or perms != "rw-p" or named:
            continue
        if i + 1 < len(maps) and maps[i + 1][0] == end and maps[i + 1][2] == "---p":
            end = maps[i + 1][1]
        count += end - start == HEAP
    return count


@pytest.mark.parametrize("arenas", [None, "0"])
def test_malloc_arenas_capped(petrel_factory, arenas):
    """[server] malloc_arenas (2 by default): the network process's 8 workers, all
    busy with IMAP sessions, share at most 2 glibc arenas (the main one and one heap),
    where each would otherwise have one of its own that keeps its peak; with 0 (glibc's
    limit) they do have their own, which shows the count sees them (glibc's malloc:
    conftest's release_binary)."""
    binary = release_binary()
    overrides = {"workers": "8"}
    if arenas is not None:
        overrides["malloc_arenas"] = arenas
    p = imap_server(petrel_factory, start=False, **overrides)
    p.binary = binary
    p.start()
    from concurrent.futures import ThreadPoolExecutor

    from conftest import make_message
    from imap_util import PASSWORD, USER

    def session(n):
        c = imap_connect(p, tls=True)
        c.login(USER, PASSWORD)
        c.select("INBOX")
        for i in range(10):
            assert c.append("INBOX", "()", None, make_message("%d-%d" % (n, i)))[0] == "OK"
        assert c.fetch("1:*", "(FLAGS ENVELOPE)")[0] == "OK"
        c.logout()

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(session, range(8)))
    heaps = arena_heaps(p.processes()["network"])
    if arenas is None:
        assert heaps <= 1, "%d arena heaps with malloc_arenas = 2" % heaps   # failed before
    else:
        assert heaps >= 2, "%d arena heaps with glibc's own limit" % heaps


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))


@pytest.mark.parametrize("mmap_from", [None, "0"])
def test_malloc_mmap_from_gives_back(petrel_factory, mmap_from):
    """[server] malloc_mmap_from (1 MiB by default): an allocation that large has a
    mapping of its own, unmapped when freed.  glibc's own threshold slides up to the
    largest mapped block freed: after an APPEND of 8 MiB, the 6 MiB of the next came
    from a pool and stayed resident after it.  With 0 (glibc's sliding threshold) the
    network process does keep them, which shows the measure sees it (glibc's malloc:
    conftest's release_binary)."""
    from conftest import make_message
    from imap_util import PASSWORD, USER

    overrides = {"workers": "2", "message_size": "16M"}
    if mmap_from is not None:
        overrides["malloc_mmap_from"] = mmap_from
    p = imap_server(petrel_factory, start=False, **overrides)
    p.binary = release_binary()
    p.start()
    network = p.processes()["network"]
    c = imap_connect(p, tls=True)
    c.login(USER, PASSWORD)

    def append(mib):
        body = (b"x" * 76 + b"\r\n") * (mib * 1024 * 1024 // 78)
        msg = make_message("big %d" % mib, body=body)
        typ, data = c.append("INBOX", "()", None, msg)
        assert typ == "OK", data

    append(8)
    before = rss_kib(network)
    append(6)
    grown = rss_kib(network) - before
    c.logout()
    if mmap_from is None:
        assert grown < 3 * 1024, "network grew %d KiB after an APPEND of 6 MiB" % grown
    else:
        assert grown > 4 * 1024, "network grew %d KiB with glibc's threshold" % grown
