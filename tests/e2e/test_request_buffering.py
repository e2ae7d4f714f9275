"""Request buffering (issue 11, item 5): the cost of a slow client stays in
the proxy. Bodies up to limits.request_buffer are received whole before a
backend is chosen; larger ones stream, under limits.request_body_min_rate.
The backend here is single-threaded and reads whole bodies, like the IIS,
PowerShell and threaded-Python backends our users run."""

import contextlib
import threading
import time

import pytest

import helpers
import hostile
from helpers import HOST, SockReader, build_request, connect, read_response, route


class SerialBackend:
    """One connection at a time: reads a request head and its whole
    Content-Length body (blocking), answers, closes, accepts the next. A
    client that is slow to send its body stalls every other client."""

    def __init__(self):
        self.listener = helpers.local_listener(256)
        self.port = self.listener.getsockname()[1]
        self.requests = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    @property
    def address(self):
        return f"{HOST}:{self.port}"

    def _loop(self):
        for sock in helpers.accepted(self.listener, self.stopping):
            sock.settimeout(30)
            try:
                reader = SockReader(sock)
                raw = reader.read_until(b"\r\n\r\n")
                start, headers = helpers.parse_head(raw)
                req = helpers.Request(start, headers, raw_head=raw)
                if "chunked" in (req.header("transfer-encoding") or "").lower():
                    req.body = helpers.read_chunked(reader)
                else:
                    n = int(req.header("content-length") or 0)
                    req.body = reader.read_exact(n) if n else b""
                self.requests.append(req)
                sock.sendall(helpers.canned(200, [("Connection", "close")],
                                            b"got %d" % len(req.body)))
            except (EOFError, OSError, ValueError):
                pass
            finally:
                with contextlib.suppress(OSError):
                    sock.close()

    def stop(self):
        self.stopping.set()
        with contextlib.suppress(OSError):
            self.listener.close()
        self.thread.join(2)


@pytest.fixture
def serial_backend():
    b = SerialBackend()
    yield b
    b.stop()


def slow_body_client(port):
    """POST / with Content-Length: 100, then 2 bytes, then nothing."""
    s = connect(port)
    s.sendall(b"POST / HTTP/1.1\r\nHost: example.test\r\nContent-Length: 100\r\n\r\nab")
    return s


def timed_get(port):
    started = time.monotonic()
    resp = helpers.http_request(port, "GET", "/quick", timeout=10)
    return resp, time.monotonic() - started


def test_slow_body_does_not_tie_up_the_backend(gatehouse, serial_backend):
    gh = gatehouse({"server": {"reverse_proxy": [route(serial_backend, "/")]}})
    slow = slow_body_client(gh.port)
    try:
        time.sleep(0.3)
        resp, took = timed_get(gh.port)
        assert resp.status == 200 and resp.body == b"got 0", resp
        assert took < 1.0, f"an ordinary request waited {took:.2f}s behind a slow body"
    finally:
        slow.close()


@pytest.mark.deadline(60)
def test_fifty_slow_bodies_leave_the_service_available(gatehouse, serial_backend):
    """slowhttptest -B style: 50 clients each holding an unfinished body."""
    gh = gatehouse({"server": {"reverse_proxy": [route(serial_backend, "/")]}})
    slow = [slow_body_client(gh.port) for _ in range(50)]
    try:
        time.sleep(0.3)
        for _ in range(10):
            resp, took = timed_get(gh.port)
            assert resp.status == 200, resp
            assert took < 1.0, f"{took:.2f}s"
        assert not any(r.method == "POST" for r in serial_backend.requests)
    finally:
        for s in slow:
            s.close()


def test_slow_body_completed_later_is_forwarded_whole(gatehouse, serial_backend):
    gh = gatehouse({"server": {"reverse_proxy": [route(serial_backend, "/")]}})
    with connect(gh.port) as s:
        s.sendall(b"POST /late HTTP/1.1\r\nHost: example.test\r\nContent-Length: 100\r\n\r\nab")
        time.sleep(0.5)
        assert not serial_backend.requests, "the backend saw the request before its body"
        s.sendall(b"c" * 98)
        resp = read_response(SockReader(s))
    assert resp.status == 200 and resp.body == b"got 100"
    assert serial_backend.requests[-1].body == b"ab" + b"c" * 98


@pytest.mark.deadline(30)
def test_streamed_body_slower_than_min_rate_gets_408(gatehouse):
    """A body larger than request_buffer streams to the backend; a client that
    then stalls gets 408 after the grace time (5 s) and the backend is freed."""
    b = hostile.RawBackend(lambda conn, req: (conn.send(hostile.response_bytes(200, b"ok")), True)[1])
    try:
        gh = gatehouse({"server": {"reverse_proxy": [route(b, "/")]}})
        with connect(gh.port, timeout=20) as s:
            s.sendall(b"POST /slow HTTP/1.1\r\nHost: example.test\r\nContent-Length: 4000000\r\n\r\n"
                      + b"s" * 2000)
            started = time.monotonic()
            assert helpers.wait_until(lambda: b.connections and len(b.connections[0].data) > 2000)
            data, _ = hostile.collect(s, idle=1.0, total=15)
            took = time.monotonic() - started
        resps, _, _ = hostile.parse_responses(data)
        assert resps and resps[0].status == 408, data[:300]
        assert "request_body_min_rate" in hostile.proxy_status(resps[0])
        assert 4.0 < took < 9.0, took
        assert helpers.wait_until(lambda: b.connections[0].closed.is_set(), 3)
    finally:
        b.stop()


def test_fast_large_body_streams_and_passes(gatehouse):
    """Above request_buffer a body streams: the backend has its start before
    the client sent its end."""
    b = hostile.RawBackend(lambda conn, req: (conn.send(hostile.response_bytes(
        200, b"got %d" % len(req.body))), True)[1])
    try:
        gh = gatehouse({"server": {"reverse_proxy": [route(b, "/")]}})
        size = 4 * 1024 * 1024
        with connect(gh.port) as s:
            s.sendall(b"PUT /big HTTP/1.1\r\nHost: example.test\r\nContent-Length: %d\r\n\r\n" % size)
            s.sendall(b"a" * (2 * 1024 * 1024))
            assert helpers.wait_until(lambda: b.connections and len(b.connections[0].data) > 1024 * 1024)
            s.sendall(b"a" * (size - 2 * 1024 * 1024))
            resp = read_response(SockReader(s))
        assert resp.status == 200 and resp.body == b"got %d" % size
    finally:
        b.stop()


def test_buffered_chunked_body_goes_with_content_length(gatehouse, serial_backend):
    gh = gatehouse({"server": {"reverse_proxy": [route(serial_backend, "/")]}})
    body = b"5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n"
    resp = helpers.http_request(gh.port, "POST", "/chunks",
                                headers=[("Transfer-Encoding", "chunked")], body=body)
    assert resp.status == 200 and resp.body == b"got 12"
    req = serial_backend.requests[-1]
    assert req.header("content-length") == "12"
    assert req.header("transfer-encoding") is None
    assert req.body == b"hello, world"


def test_buffered_chunked_body_keeps_its_trailers(gatehouse, capture_backend):
    cb = capture_backend()
    gh = gatehouse({"server": {"reverse_proxy": [route(cb.port, "/")]}})
    body = b"5\r\nhello\r\n0\r\nX-Checksum: abc\r\n\r\n"
    resp = helpers.http_request(gh.port, "POST", "/trail",
                                headers=[("Transfer-Encoding", "chunked")], body=body)
    assert resp.status == 200
    req = cb.wait_requests(1)[-1]
    assert req.chunked and req.body == b"hello"
    assert b"X-Checksum: abc\r\n" in req.raw_body


def test_expect_100_answered_by_gatehouse_for_a_buffered_body(gatehouse, serial_backend):
    gh = gatehouse({"server": {"reverse_proxy": [route(serial_backend, "/")]}})
    with connect(gh.port) as s:
        r = SockReader(s)
        s.sendall(build_request("POST", "/exp", headers=[("Expect", "100-continue"),
                                                         ("Content-Length", "10")]))
        interim = read_response(r, skip_interim=False)
        assert interim.status == 100
        assert not serial_backend.requests
        s.sendall(b"0123456789")
        resp = read_response(r)
    assert resp.status == 200 and resp.body == b"got 10"
    req = serial_backend.requests[-1]
    assert req.header("expect") is None
    assert req.body == b"0123456789"


def test_request_buffer_zero_streams_at_once(gatehouse):
    b = hostile.RawBackend(lambda conn, req: (conn.send(hostile.response_bytes(200, b"ok")), True)[1])
    try:
        gh = gatehouse({"server": {"limits": {"request_buffer": "0"},
                                   "reverse_proxy": [route(b, "/")]}})
        with connect(gh.port) as s:
            s.sendall(b"POST /now HTTP/1.1\r\nHost: example.test\r\nContent-Length: 10\r\n\r\nab")
            assert helpers.wait_until(lambda: b.connections and b"POST /now" in b.connections[0].data)
            s.sendall(b"cdefghij")
            resp = read_response(SockReader(s))
        assert resp.status == 200
    finally:
        b.stop()


def test_one_100_continue_when_a_chunked_body_outgrows_the_buffer(gatehouse, origin):
    """gatehouse answers the 100-continue itself while it receives the body;
    when the body turns out larger than request_buffer it streams it to the
    backend (Expect kept), and the backend's own 100 is not relayed again."""
    o = origin("echo")
    gh = gatehouse({"server": {"limits": {"request_buffer": "1k"},
                               "reverse_proxy": [route(o, "/")]}})
    with connect(gh.port) as s:
        s.sendall(build_request("POST", "/upload", headers=[("Expect", "100-continue"),
                                                            ("Transfer-Encoding", "chunked")]))
        r = SockReader(s, record=bytearray())
        assert read_response(r, skip_interim=False).status == 100
        s.sendall(b"1000\r\n" + b"k" * 4096 + b"\r\n0\r\n\r\n")
        resp = read_response(r)
        assert resp.status == 200 and resp.json()["body_bytes"] == 4096
        assert r.record.count(b"100 Continue") == 1, bytes(r.record[:300])
