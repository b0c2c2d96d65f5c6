"""The HTTP server (src/http/, docs/http.md) on listeners of role http and https: curl as
the client, and raw sockets for what curl will not send (oversized heads, too many
fields, a slow client, bare LF, pipelining)."""

import json
import socket
import subprocess
import time

import pytest

from conftest import add_listeners


def http_server(petrel_factory, **overrides):
    """A Petrel whose ports["http"] and ports["https"] are HTTP listeners on loopback."""
    p = petrel_factory(start=False, **overrides)
    add_listeners(p, "http", "https")
    p.start()
    return p


@pytest.fixture
def web(petrel_factory):
    return http_server(petrel_factory, http_header_size="2048", http_header_count="20",
                       http_body_size="4096", http_request_timeout="2",
                       http_idle_timeout="2")


def curl(*args):
    """curl's status, headers and body (-i), never failing on an HTTP error status"""
    out = subprocess.run(["curl", "-sS", "-i", "--max-time", "10", *args],
                         capture_output=True, timeout=20)
    assert out.returncode == 0, out.stderr
    head, _, body = out.stdout.partition(b"\r\n\r\n")
    while head.startswith(b"HTTP/1.1 100"):
        head, _, body = body.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    fields = {k.lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    return status, fields, body


def exchange(port, data, timeout=5.0):
    """DATA sent on a new connection; everything read until the server closes it"""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                return out
            out += chunk
        raise AssertionError("not closed: %r" % out[:200])


def status_of(response):
    return int(response.split(b" ", 2)[1])


def error_json(response):
    body = json.loads(response.partition(b"\r\n\r\n")[2])
    assert set(body) == {"errors"} and set(body["errors"][0]) == {"message", "field", "help"}
    return body["errors"][0]["message"]


def test_healthz_over_http_and_https(web):
    status, fields, body = curl("http://127.0.0.1:%d/healthz" % web.ports["http"])
    assert status == 200 and fields["content-type"] == "application/json"
    assert json.loads(body)["status"] == "ok"
    assert "date" in fields and int(fields["content-length"]) == len(body)
    status, _, body = curl("-k", "https://127.0.0.1:%d/healthz" % web.ports["https"])
    assert status == 200 and json.loads(body)["status"] == "ok"
    web.wait_log(r"event=tls session=h")


def test_unknown_path_is_json_404_and_wrong_method_405(web):
    status, fields, body = curl("http://127.0.0.1:%d/nope" % web.ports["http"])
    assert status == 404 and fields["content-type"] == "application/json"
    assert json.loads(body) == {"errors": [{"message": "not found", "field": None,
                                            "help": None}]}
    status, fields, _ = curl("-X", "DELETE", "http://127.0.0.1:%d/healthz" % web.ports["http"])
    assert status == 405 and fields["allow"] == "GET, HEAD"


def test_keep_alive_and_pipelining(web):
    req = b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n"
    last = b"GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
    out = exchange(web.ports["http"], req * 3 + last)
    assert out.count(b"HTTP/1.1 200 OK") == 3 and out.count(b"HTTP/1.1 404") == 1
    assert out.index(b"404") > out.rindex(b"200 OK")


def test_head_answers_without_a_body(web):
    """RFC 9110 9.3.2: HEAD gets GET's fields (Content-Length of the body it would
    get) and no body, whatever the status; the next pipelined answer starts right
    after the empty line"""
    get = exchange(web.ports["http"], b"GET /healthz HTTP/1.1\r\nHost: a\r\n"
                   b"Connection: close\r\n\r\n")
    out = exchange(web.ports["http"], b"HEAD /healthz HTTP/1.1\r\nHost: a\r\n\r\n"
                   b"HEAD /nope HTTP/1.1\r\nHost: a\r\n\r\n"
                   b"GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    head1, _, rest = out.partition(b"\r\n\r\n")
    head2, _, rest = rest.partition(b"\r\n\r\n")
    length = len(get.partition(b"\r\n\r\n")[2])
    assert status_of(head1) == 200 and b"Content-Length: %d\r\n" % length in head1 + b"\r\n"
    assert status_of(head2) == 404
    assert rest.startswith(b"HTTP/1.1 200 OK\r\n") and rest.endswith(b"}\n")
    assert len(rest.partition(b"\r\n\r\n")[2]) == length


def test_header_too_large_is_431(web):
    big = b"GET /healthz HTTP/1.1\r\nHost: a\r\nX-Big: " + b"a" * 3000 + b"\r\n\r\n"
    out = exchange(web.ports["http"], big)
    assert status_of(out) == 431 and b"Connection: close" in out
    assert error_json(out) == "request header too large"


def test_header_too_large_without_its_end_is_431(web):
    out = exchange(web.ports["http"], b"GET /healthz HTTP/1.1\r\nX-Big: " + b"a" * 2100)
    assert status_of(out) == 431


def test_too_many_fields_is_431(web):
    head = b"GET /healthz HTTP/1.1\r\nHost: a\r\n" + b"X-A: b\r\n" * 20 + b"\r\n"
    out = exchange(web.ports["http"], head)
    assert status_of(out) == 431 and error_json(out) == "too many header fields"
    ok = b"GET /healthz HTTP/1.1\r\nHost: a\r\n" + b"X-A: b\r\n" * 18 + \
        b"Connection: close\r\n\r\n"
    assert status_of(exchange(web.ports["http"], ok)) == 200


def test_body_too_large_is_413_before_it_is_sent(web):
    out = exchange(web.ports["http"], b"POST /healthz HTTP/1.1\r\nHost: a\r\n"
                   b"Content-Length: 4097\r\n\r\n")
    assert status_of(out) == 413
    # curl with a body over the limit, announced by Content-Length
    status, _, body = curl("--data-binary", "@-", "http://127.0.0.1:%d/healthz"
                           % web.ports["http"], "-H", "Content-Type: application/json",
                           "-d", "x" * 5000)
    assert status == 413 and json.loads(body)["errors"][0]["message"] == \
        "request body too large"


def test_bodies_held_together_are_bounded_by_body_memory(petrel_factory):
    """[http] body_memory: a body that would pass what all sessions' bodies hold is refused
    with 503 and Retry-After before it is read (chunked ones as their data come), and what
    a closed session held is free again"""
    web = http_server(petrel_factory, http_body_size="1M", http_body_memory="1M")
    port = web.ports["http"]
    head = b"POST /healthz HTTP/1.1\r\nHost: a\r\nContent-Length: 600000\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as held:
        # 100 Continue comes once the server has counted the body it waits for
        held.sendall(head.replace(b"\r\n\r\n", b"\r\nExpect: 100-continue\r\n\r\n"))
        assert held.recv(100).startswith(b"HTTP/1.1 100 Continue\r\n")
        out = exchange(port, head)
        assert status_of(out) == 503 and b"\r\nRetry-After: 5\r\n" in out
        assert "request bodies" in error_json(out)
        chunk = b"%x\r\n" % 500000 + b"y" * 500000 + b"\r\n0\r\n\r\n"
        out = exchange(port, b"POST /healthz HTTP/1.1\r\nHost: a\r\n"
                       b"Transfer-Encoding: chunked\r\n\r\n" + chunk)
        assert status_of(out) == 503
        web.wait_log(r"event=http-body-memory .* held=600000 limit=1048576")
    # the held session closed: its 600000 octets are free for the next body
    deadline = time.monotonic() + 10
    while True:
        out = exchange(port, head.replace(b"Host: a", b"Host: a\r\nConnection: close")
                       + b"x" * 600000)
        if status_of(out) != 503 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert status_of(out) == 405


def test_body_memory_below_body_size_is_refused(petrel_factory):
    p = petrel_factory(start=False, http_body_size="2M", http_body_memory="1M")
    out = p.cli("queue", "list")
    assert out.returncode != 0
    assert "body_memory (1048576) must be at least body_size (2097152)" in out.stderr


def test_slow_request_is_408(web):
    with socket.create_connection(("127.0.0.1", web.ports["http"]), timeout=10) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: a\r\n")
        start = time.monotonic()
        out = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            out += chunk
        assert status_of(out) == 408 and 1.5 < time.monotonic() - start < 5
    # a body that never comes in full: the same timer
    out = exchange(web.ports["http"], b"POST /healthz HTTP/1.1\r\nHost: a\r\n"
                   b"Content-Length: 10\r\n\r\nabc", timeout=10)
    assert status_of(out) == 408


def healthz_kept_alive(s):
    """one GET /healthz on socket S, its 200 read; the connection stays open"""
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n")
    out = b""
    while b"}\n" not in out:
        out += s.recv(4096)
    assert status_of(out) == 200


def test_idle_connection_closes_without_a_word(web):
    with socket.create_connection(("127.0.0.1", web.ports["http"]), timeout=10) as s:
        healthz_kept_alive(s)
        start = time.monotonic()
        assert s.recv(4096) == b"" and 1.5 < time.monotonic() - start < 5


@pytest.mark.parametrize("request_bytes,status", [
    (b"GET /healthz HTTP/1.1\nHost: a\n\n", 400),              # bare LF
    (b"GET /healthz HTTP/1.1\r\n\r\n", 400),                     # no Host
    (b"GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    (b"GET /healthz HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", 400),
    (b"GET /healthz HTTP/1.1\r\nHost : a\r\n\r\n", 400),
    (b"GET  /healthz HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    (b"\x01\x02 garbage\r\n\r\n", 400),
    (b"GET /healthz HTTP/2.0\r\nHost: a\r\n\r\n", 505),
    (b"POST /healthz HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
     400),
    (b"POST /healthz HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
     b"Content-Length: 3\r\n\r\n", 400),
    # RFC 9112 7.1: a chunked body's framing
    (b"POST /healthz HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
    (b"POST /healthz HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"3\r\nabcd\r\n0\r\n\r\n", 400),
    # RFC 9112 6.3: chunked not the last coding, the body's end unknown
    (b"POST /healthz HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
    # RFC 9112 6.1: a coding the server does not implement
    (b"POST /healthz HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
     501),
    # RFC 9112 6.1: Transfer-Encoding in HTTP/1.0 is faulty framing
    (b"POST /healthz HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    # RFC 9112 3: a request line longer than [http] header_size
    (b"GET /" + b"a" * 2100 + b" HTTP/1.1\r\nHost: a\r\n\r\n", 414),
])
def test_bad_requests(web, request_bytes, status):
    out = exchange(web.ports["http"], request_bytes)
    assert status_of(out) == status and b"Connection: close" in out
    error_json(out)


def test_chunked_body_is_read_and_the_next_request_follows(web):
    """RFC 9112 7.1: a chunked body (with extensions and a trailer field) is read to its
    end, so a request pipelined after it is answered too"""
    out = exchange(web.ports["http"], b"POST /healthz HTTP/1.1\r\nHost: a\r\n"
                   b"Transfer-Encoding: chunked\r\n\r\n"
                   b"5;a=b\r\nhello\r\n0\r\nX-Trailer: 1\r\n\r\n"
                   b"GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 405 Method Not Allowed\r\n")
    assert out.count(b"HTTP/1.1 200 OK\r\n") == 1


def test_unknown_method_is_501_and_the_connection_stays(web):
    """RFC 9110 9.1: a method the server does not recognize is 501, on any path;
    a known one a resource does not take stays 405 with Allow"""
    out = exchange(web.ports["http"], b"FOO /healthz HTTP/1.1\r\nHost: a\r\n\r\n"
                   b"BREW /nope HTTP/1.1\r\nHost: a\r\n\r\n"
                   b"PUT /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    assert out.count(b"HTTP/1.1 501 Not Implemented\r\n") == 2
    assert b"HTTP/1.1 405 Method Not Allowed\r\n" in out and b"Allow: GET, HEAD\r\n" in out
    assert error_json(out.partition(b"}\n")[0] + b"}") == "method not implemented"


def test_http_1_0_keep_alive_is_announced(web):
    """RFC 9112 9.3: an HTTP/1.0 client that asks for keep-alive is told it is kept"""
    out = exchange(web.ports["http"], b"GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
                   b"GET /healthz HTTP/1.0\r\n\r\n")
    first, _, second = out.partition(b"}\n")
    assert status_of(first) == 200 and b"\r\nConnection: keep-alive\r\n" in first
    assert status_of(second) == 200 and b"\r\nConnection: close\r\n" in second


def test_higher_http_1_minor_version_is_read_as_1_1(web):
    """RFC 9110 2.5: HTTP/1.2 is answered as HTTP/1.1 (kept alive), HTTP/2.0 is 505"""
    out = exchange(web.ports["http"], b"GET /healthz HTTP/1.2\r\nHost: a\r\n\r\n"
                   b"GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    assert out.count(b"HTTP/1.1 200 OK\r\n") == 2


def test_shutdown_closes_idle_connections(web):
    with socket.create_connection(("127.0.0.1", web.ports["http"]), timeout=10) as s:
        healthz_kept_alive(s)
        web.stop()
        assert s.recv(4096) == b""
