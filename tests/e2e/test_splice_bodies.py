"""HTTP/1 bodies moved with splice(2) (proxy/body_http1.cc relay_spliced):
a plain response or streamed request body of known length, more than 64 KiB
still to read, goes socket -> pipe -> socket. Exact bytes both ways, a client that leaves
mid-body, a slow reader, a backend that dies mid-body, and the copy path that
GATEHOUSE_NO_SPLICE=1 forces.

Whether splice ran is seen from outside: a worker keeps the pipe pair it
lent (net::PipeCache, net/pipe_pair.h), so gatehouse holds two more pipe descriptors after a
spliced body and none more after a copied one."""

import hashlib
import os
import socket
import time

import pytest

import helpers
import hostile
from helpers import SockReader, build_request, connect, read_response, route

MIB = 1 << 20
BIG = 100 * MIB
ALPHABET = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_"


def pattern(n, offset=0):
    """demo-origin's /bytes/N bytes from `offset` on (byte k is ALPHABET[k % 64])."""
    reps = (offset % 64 + n) // 64 + 2
    return (ALPHABET * reps)[offset % 64: offset % 64 + n]


def pattern_sha256(n):
    h = hashlib.sha256()
    block = ALPHABET * (MIB // 64)
    done = 0
    while done + MIB <= n:
        h.update(block)
        done += MIB
    h.update(pattern(n - done, done))
    return h.hexdigest()


def pipe_fds(gh):
    n = 0
    for fd in os.listdir(f"/proc/{gh.pid}/fd"):
        try:
            if os.readlink(f"/proc/{gh.pid}/fd/{fd}").startswith("pipe:"):
                n += 1
        except OSError:
            pass
    return n


def config(backend, **server):
    s = {"workers": 1, "reverse_proxy": [route(backend, "/")]}
    s.update(server)
    return {"server": s}


@pytest.fixture
def proxied(gatehouse, origin):
    o = origin("splice")
    gh = gatehouse(config(o))
    helpers.http_request(gh.port, "GET", "/warm")
    return gh, o


def download_sha(gh, n, timeout=30):
    h = hashlib.sha256()
    with connect(gh.port, timeout=timeout) as s:
        s.sendall(build_request("GET", f"/bytes/{n}"))
        r = SockReader(s)
        resp = read_response(r, discard_body=False) if n < MIB else None
        if resp is not None:
            return resp, hashlib.sha256(resp.body).hexdigest()
        head = r.read_until(b"\r\n\r\n")
        start, headers = helpers.parse_head(head)
        resp = helpers.Response(start, headers, raw_head=head)
        left = int(resp.header("content-length"))
        h.update(bytes(r.buf[:left]))
        left -= min(left, len(r.buf))
        r.buf.clear()
        while left:
            d = s.recv(min(left, MIB))
            assert d, f"closed with {left} bytes left"
            h.update(d)
            left -= len(d)
        return resp, h.hexdigest()


def upload_sha(gh, n, timeout=30):
    block = ALPHABET * (MIB // 64)
    with connect(gh.port, timeout=timeout) as s:
        s.sendall(build_request("POST", "/upload", headers=[("Content-Length", str(n))]))
        sent = 0
        while sent < n:
            k = min(MIB, n - sent)
            s.sendall(block[:k])
            sent += k
        return read_response(SockReader(s))


@pytest.mark.deadline(60)
def test_download_100mib_exact(proxied):
    gh, _ = proxied
    pipes = pipe_fds(gh)
    resp, sha = download_sha(gh, BIG)
    assert resp.status == 200 and resp.header("content-length") == str(BIG)
    assert sha == pattern_sha256(BIG)
    # The worker kept the pair it lent: the body was spliced.
    assert pipe_fds(gh) == pipes + 2
    # The next spliced body reuses it.
    resp, sha = download_sha(gh, 3 * MIB + 7)
    assert sha == pattern_sha256(3 * MIB + 7)
    assert pipe_fds(gh) == pipes + 2
    recs = helpers.wait_until(lambda: [r for r in gh.access_log() if r.get("path") == f"/bytes/{BIG}"], 3)
    assert recs and recs[-1]["status"] == 200, recs
    assert recs[-1]["bytes_sent"] == BIG, recs


@pytest.mark.deadline(60)
def test_upload_100mib_exact(proxied):
    gh, _ = proxied
    pipes = pipe_fds(gh)
    r = upload_sha(gh, BIG)
    assert r.status == 200, r
    assert r.json()["body_bytes"] == BIG
    assert r.json()["sha256"] == pattern_sha256(BIG)
    assert pipe_fds(gh) == pipes + 2


def test_request_pipelined_behind_a_spliced_upload(proxied):
    """A 3 MiB upload (streamed past request_buffer: splice) with a GET in
    the same write behind it: splice reads exactly the body, the GET is
    picked up after it and answered in order on the same connection."""
    gh, _ = proxied
    pipes = pipe_fds(gh)
    body = pattern(3 * MIB)
    with connect(gh.port) as s:
        s.sendall(build_request("POST", "/upload", body=body) + build_request("GET", "/small"))
        r = SockReader(s)
        up = read_response(r, method="POST")
        assert up.status == 200 and up.json()["sha256"] == hashlib.sha256(body).hexdigest(), up
        small = read_response(r)
        assert small.status == 200 and small.body == b"hello, world\n", small
    assert pipe_fds(gh) == pipes + 2


def test_small_bodies_are_copied(proxied):
    gh, _ = proxied
    pipes = pipe_fds(gh)
    for n in (0, 1, 13, 4096, 65536):
        resp, sha = download_sha(gh, n)
        assert resp.status == 200 and sha == pattern_sha256(n), n
    assert pipe_fds(gh) == pipes


@pytest.mark.deadline(60)
def test_client_leaves_mid_download(proxied):
    """The client reads 2 MiB of 100 and closes: the backend connection is
    dropped (not pooled with 98 MiB unread), gatehouse serves on."""
    gh, _ = proxied
    pipes = pipe_fds(gh)
    for _ in range(3):
        with connect(gh.port, timeout=10) as s:
            s.sendall(build_request("GET", f"/bytes/{BIG}"))
            r = SockReader(s)
            r.read_until(b"\r\n\r\n")
            r.discard(2 * MIB)
        # Each next request on the route gets exact bytes: a dirty connection
        # would answer with the old body's bytes.
        for n in (1000, 300000):
            resp, sha = download_sha(gh, n, timeout=10)
            assert resp.status == 200 and sha == pattern_sha256(n)
    recs = helpers.wait_until(
        lambda: [r for r in gh.access_log() if r.get("path") == f"/bytes/{BIG}"] or None, 5)
    assert recs and all(r.get("bytes_sent", 0) < BIG for r in recs), recs
    assert helpers.http_request(gh.port, "GET", "/small").body == b"hello, world\n"
    # Spliced: a pipe left with bytes was closed, a clean one kept.
    assert pipe_fds(gh) == pipes + 2


@pytest.mark.deadline(60)
def test_slow_reader_gets_exact_bytes(proxied):
    """A client that stops reading for a while: backpressure holds the
    backend, then the rest arrives byte for byte."""
    gh, _ = proxied
    pipes = pipe_fds(gh)
    n = 16 * MIB + 12345
    with connect(gh.port, timeout=20) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        s.sendall(build_request("GET", f"/bytes/{n}"))
        r = SockReader(s)
        r.read_until(b"\r\n\r\n")
        got = bytearray(r.buf)
        r.buf.clear()
        pauses = 0
        while len(got) < n:
            d = s.recv(min(256 * 1024, n - len(got)))
            assert d, f"closed after {len(got)} bytes"
            got += d
            if pauses < 4 and len(got) > (pauses + 1) * 3 * MIB:
                time.sleep(0.5)
                pauses += 1
        assert bytes(got) == pattern(n)
        # Keep-alive after a complete spliced body.
        s.sendall(build_request("GET", "/small"))
        assert read_response(r).body == b"hello, world\n"
    assert pipe_fds(gh) == pipes + 2


def test_backend_closes_mid_body(gatehouse, raw_backend):
    """CL 4 MiB, 1 MiB sent, close: the client gets a short body and a
    closed connection, the log says the response was incomplete."""
    def handler(conn, req):
        conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (4 * MIB))
        conn.send(pattern(MIB))
        time.sleep(0.1)
        return False

    gh = gatehouse(config(raw_backend(handler)))
    pipes = pipe_fds(gh)
    with connect(gh.port) as s:
        s.sendall(build_request("GET", "/midbody"))
        data, closed = hostile.collect(s, idle=3.0, total=10.0)
    head, sep, body = data.partition(b"\r\n\r\n")
    assert sep and head.startswith(b"HTTP/1.1 200"), data[:300]
    assert closed, "the client connection was not closed after the backend died mid-body"
    assert body == pattern(len(body)) and len(body) < 4 * MIB, len(body)
    recs = helpers.wait_until(lambda: [r for r in gh.access_log() if r.get("path") == "/midbody"], 3)
    assert recs and recs[-1].get("proxy_status") == "http_response_incomplete", recs
    assert pipe_fds(gh) == pipes + 2


def test_backend_bytes_past_the_body_never_reach_another_client(gatehouse, raw_backend):
    """A backend that sends more than its Content-Length (here a whole second
    response nobody asked for) must not have its connection reused: splice
    reads exactly the body, so the surplus stays in the socket, and a pooled
    connection would hand it to the next client as its response (found by a
    fresh user's trial: 10 of 10 runs)."""
    def handler(conn, req):
        if req.target == "/biglong":
            conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % MIB + pattern(MIB) +
                      b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nEVIL!" * 50)
        else:
            body = b"conn %d\n" % conn.index
            conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        return True

    gh = gatehouse(config(raw_backend(handler)))
    pipes = pipe_fds(gh)
    for i in range(3):
        with connect(gh.port) as a:
            a.sendall(build_request("GET", "/biglong"))
            r = read_response(SockReader(a))
            assert r.status == 200 and r.body == pattern(MIB)
            with connect(gh.port) as b:
                b.sendall(build_request("GET", "/x"))
                other = read_response(SockReader(b))
                assert other.body.startswith(b"conn "), other.body
            # The same keep-alive client connection too.
            a.sendall(build_request("GET", "/y"))
            again = read_response(SockReader(a))
            assert again.body.startswith(b"conn "), again.body
    assert pipe_fds(gh) == pipes + 2   # the bodies were spliced


@pytest.mark.deadline(90)
def test_copy_path_when_splice_is_off(gatehouse, origin, monkeypatch):
    """GATEHOUSE_NO_SPLICE=1: the same bodies go through user space, exact,
    and no pipe is made for them."""
    monkeypatch.setenv("GATEHOUSE_NO_SPLICE", "1")
    o = origin("copy")
    gh = gatehouse(config(o))
    helpers.http_request(gh.port, "GET", "/warm")
    pipes = pipe_fds(gh)
    resp, sha = download_sha(gh, BIG)
    assert resp.status == 200 and sha == pattern_sha256(BIG)
    r = upload_sha(gh, 20 * MIB + 3)
    assert r.status == 200 and r.json()["sha256"] == pattern_sha256(20 * MIB + 3)
    assert pipe_fds(gh) == pipes
