"""Upstream failures while a request is under way (issue 11, items 1 and 2).

One retry rule for every path (docs/operations.md, "Retries"): a request is
sent again only when nothing of it left, when its head left but not one byte
of its body, or when it is idempotent and gatehouse still holds its whole
body. A non-idempotent request that reached a backend which then failed is
answered 502, never replayed. And a backend that fails while the client is
still uploading is the backend's failure: 502 with Proxy-Status, a warning,
and the access log naming it, never a silent close logged as 499."""

import threading
import time

import pytest

import helpers
import hostile
from helpers import SockReader, build_request, connect, read_response, route
from hostile import RawBackend, response_bytes


def last_log(gh, path):
    """The last access-log record for `path`, waiting for it to be written."""
    def records():
        return [r for r in gh.access_log() if r.get("path") == path]
    assert helpers.wait_until(records), f"no access-log record for {path}"
    return records()[-1]


def assert_named(resp, status, errors):
    assert resp.status == status and hostile.is_proxy_error(resp, status, errors), \
        f"wanted {status} {errors}, got {resp.status} {hostile.proxy_status(resp)!r} {resp.body[:200]!r}"


def stale_after_first(how):
    """A backend whose kept-alive connection goes bad: on each connection it
    answers the first request and keeps the connection; the second request on
    that connection is read completely and then the connection is closed (or
    reset) without an answer. Fresh connections answer normally."""
    def handler(conn, req):
        if len(conn.requests) == 1:
            conn.send(response_bytes(200, b"ok:" + req.target.encode()))
            return True
        if conn.index == 0:
            if how == "reset":
                conn.reset()
            return False
        conn.send(response_bytes(200, b"fresh:" + req.target.encode()))
        return True
    return handler


def keepalive_pair(gh, second):
    """GET /first, then `second` (raw request bytes) on the same client
    connection, so the second request meets the pooled backend connection."""
    with connect(gh.port) as s:
        r = SockReader(s)
        s.sendall(build_request("GET", "/first"))
        first = read_response(r)
        assert first.status == 200, first
        s.sendall(second)
        return read_response(r)


@pytest.mark.parametrize("how", ["close", "reset"])
def test_post_on_stale_pooled_connection_is_not_replayed(gatehouse, raw_backend, how):
    b = raw_backend(stale_after_first(how))
    gh = gatehouse({"server": {"reverse_proxy": [route(b, "/")]}})
    resp = keepalive_pair(gh, build_request("POST", "/order", body=b"item=42&n=01"))
    assert_named(resp, 502, "connection_terminated")
    time.sleep(0.3)   # a replay would arrive now
    posts = [req for _, req in b.requests if req.method == "POST"]
    assert len(posts) == 1, f"the POST reached the backend {len(posts)} times"
    assert posts[0].body == b"item=42&n=01"
    assert "not retried" in gh.logs()


@pytest.mark.parametrize("method", ["GET", "HEAD", "PUT", "DELETE", "OPTIONS"])
def test_idempotent_on_stale_pooled_connection_is_retried(gatehouse, raw_backend, method):
    b = raw_backend(stale_after_first("close"))
    gh = gatehouse({"server": {"reverse_proxy": [route(b, "/")]}})
    body = b"replace-me" if method == "PUT" else b""
    with connect(gh.port) as s:
        r = SockReader(s)
        s.sendall(build_request("GET", "/first"))
        assert read_response(r).status == 200
        s.sendall(build_request(method, "/again", body=body))
        resp = read_response(r, method=method)
    assert resp.status == 200, resp
    if method != "HEAD":
        assert resp.body == b"ok:/again"        # the first answer of a fresh connection
    seen = [(idx, req) for idx, req in b.requests if req.target == "/again"]
    assert [idx for idx, _ in seen] == [0, 1]   # the stale try, then a fresh connection
    seen = [req for _, req in seen]
    assert all(req.body == body for req in seen)


def test_post_with_expect_streamed_retried_when_no_body_left(gatehouse, raw_backend):
    """A streamed upload with Expect: 100-continue on a pooled connection the
    backend closes as the head arrives: not one body byte left the client, so
    the request goes again on a fresh connection and succeeds."""
    body = b"x" * (2 * 1024 * 1024)   # larger than the default request_buffer: streamed

    class Backend(RawBackend):
        def _serve(self, conn):
            try:
                while not self.stopping.is_set():
                    raw = conn.reader.read_until(b"\r\n\r\n")
                    start, headers = helpers.parse_head(raw)
                    req = helpers.Request(start, headers, raw_head=raw)
                    self._note_request(req, conn)
                    conn.requests.append(req)
                    if req.target == "/upload" and conn.index == 0:
                        return          # closes as the head arrives
                    if req.header("expect"):
                        conn.send(b"HTTP/1.1 100 Continue\r\n\r\n")
                    n = int(req.header("content-length") or 0)
                    req.body = conn.reader.read_exact(n) if n else b""
                    conn.send(response_bytes(200, b"got %d" % len(req.body)))
            except (EOFError, OSError, ValueError):
                return
            finally:
                conn.closed.set()
                conn.sock.close()

    b = Backend(lambda conn, req: True)
    try:
        gh = gatehouse({"server": {"reverse_proxy": [route(b, "/")]}})
        with connect(gh.port) as s:
            r = SockReader(s)
            s.sendall(build_request("GET", "/first"))
            assert read_response(r).status == 200
            s.sendall(build_request("POST", "/upload",
                                    headers=[("Expect", "100-continue"),
                                             ("Content-Length", str(len(body)))],
                                    body=b""))
            interim = read_response(r, skip_interim=False)
            assert interim.status == 100, interim
            s.sendall(body)
            resp = read_response(r)
        assert resp.status == 200, resp
        assert resp.body == b"got %d" % len(body)
        uploads = [req for _, req in b.requests if req.target == "/upload"]
        assert len(uploads) == 2
        assert [len(req.body) for req in uploads if req.body] == [len(body)]
    finally:
        b.stop()


class HeadOnlyBackend(RawBackend):
    """Reads a request head, waits `wait` seconds reading nothing more, then
    closes the connection (or resets it). Records the heads."""

    def __init__(self, wait=0.3, reset=False):
        self.wait = wait
        self.reset_it = reset
        super().__init__(lambda c, r: False)

    def _serve(self, conn):
        try:
            raw = conn.reader.read_until(b"\r\n\r\n")
            start, headers = helpers.parse_head(raw)
            req = helpers.Request(start, headers, raw_head=raw)
            self._note_request(req, conn)
            time.sleep(self.wait)
            if self.reset_it:
                conn.reset()
        except (EOFError, OSError, ValueError):
            pass
        finally:
            conn.closed.set()
            with_suppress_close(conn.sock)


def with_suppress_close(sock):
    try:
        sock.close()
    except OSError:
        pass


def upload_and_read(gh, head, first_part, filler, timeout=8.0):
    """Sends a head and part of a body, keeps sending the rest slowly in the
    background (a client still uploading), and reads what comes back."""
    s = connect(gh.port, timeout=timeout)
    s.sendall(head + first_part)
    stop = threading.Event()

    def keep_sending():
        while not stop.is_set():
            try:
                s.sendall(filler)
            except OSError:
                return
            time.sleep(0.05)

    t = threading.Thread(target=keep_sending, daemon=True)
    t.start()
    try:
        data, _ = hostile.collect(s, idle=1.0, total=timeout)
    finally:
        stop.set()
        t.join(2)
        s.close()
    resps, _, _ = hostile.parse_responses(data)
    return resps


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
@pytest.mark.parametrize("buffer,total,sent", [(None, 4_000_000, 2_000_000),
                                               ("16k", 100_000, 50_000),
                                               ("0", 100_000, 50_000)])
def test_backend_dies_during_upload_gives_502(gatehouse, framing, buffer, total, sent):
    """PUT /dies, Content-Length 100000 (or chunked), 50,000 bytes sent and
    more coming; the backend reads the head, waits 0.3 s and closes. (With
    the default request_buffer such a body would be received whole first, so
    the default case sends a body larger than the buffer.)"""
    b = HeadOnlyBackend(wait=0.3)
    try:
        server = {"reverse_proxy": [route(b, "/")]}
        if buffer is not None:
            server["limits"] = {"request_buffer": buffer}
        gh = gatehouse({"server": server})
        if framing == "chunked":
            head = (b"PUT /dies HTTP/1.1\r\nHost: example.test\r\n"
                    b"Transfer-Encoding: chunked\r\n\r\n")
            part = b"%x\r\n" % sent + b"x" * sent + b"\r\n"
        else:
            head = (b"PUT /dies HTTP/1.1\r\nHost: example.test\r\n"
                    b"Content-Length: %d\r\n\r\n" % total)
            part = b"x" * sent
        started = time.monotonic()
        filler = b"3e8\r\n" + b"y" * 1000 + b"\r\n" if framing == "chunked" else b"y" * 1000
        resps = upload_and_read(gh, head, part, filler)
        assert resps, "the client got nothing back"
        resp = resps[0]
        assert_named(resp, 502, ["connection_terminated", "http_response_incomplete"])
        assert "next-hop" in hostile.proxy_status(resp)
        assert time.monotonic() - started < 6
        rec = last_log(gh, "/dies")
        assert rec["status"] == 502 and rec.get("proxy_status") in (
            "connection_terminated", "http_response_incomplete"), rec
        assert rec.get("backend") == b.address
        assert "warn" in gh.stderr() and b.address in gh.stderr()
    finally:
        b.stop()


def test_backend_dies_after_whole_body_gives_502(gatehouse):
    """The body was received whole (request buffering), the backend reads the
    head and closes: a PUT is retried (idempotent, body held) and, the only
    backend failing again, the client gets 502, not silence."""
    b = HeadOnlyBackend(wait=0.1)
    try:
        gh = gatehouse({"server": {"reverse_proxy": [route(b, "/")]}})
        body = b"z" * 100000
        resp = helpers.http_request(gh.port, "PUT", "/dies", body=body, timeout=10)
        assert_named(resp, 502, ["connection_terminated", "http_response_incomplete"])
    finally:
        b.stop()


def test_backend_failure_during_upload_informs_passive_health(gatehouse):
    """Two backends, one of which dies mid-upload: it is ejected (passive
    health) and the next requests go to the other one."""
    bad = HeadOnlyBackend(wait=0.2, reset=True)
    good = RawBackend(lambda conn, req: (conn.send(response_bytes(200, b"good")), True)[1])
    try:
        gh = gatehouse({"server": {
            "reverse_proxy": [{"path": "/", "backends": [{"address": bad.address},
                                                          {"address": good.address}],
                               "balance": "round_robin", "retries": 0}]}})
        for _ in range(8):
            resp = helpers.http_request(gh.port, "POST", "/u", body=b"q" * 5000, timeout=10)
            if resp.status == 502:
                break
        assert_named(resp, 502, "connection_terminated")
        # Ejected: the next four go to the good backend only.
        for _ in range(4):
            resp = helpers.http_request(gh.port, "POST", "/u", body=b"q" * 10, timeout=10)
            assert resp.status == 200 and resp.body == b"good"
    finally:
        bad.stop()
        good.stop()


def test_backend_cut_mid_response_is_warned_and_logged(gatehouse, raw_backend):
    """Once the response started, a backend that dies mid-body cannot be
    answered 502 any more: the client's connection is cut, and the failure
    is still the backend's: a warn line and the access log name it."""
    def handler(conn, req):
        conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789")
        time.sleep(0.05)
        return False

    b = raw_backend(handler)
    gh = gatehouse({"server": {"reverse_proxy": [route(b, "/")]}})
    with connect(gh.port) as s:
        s.sendall(build_request("GET", "/cut"))
        hostile.collect(s, idle=2.0, total=5.0)
    rec = last_log(gh, "/cut")
    assert rec["proxy_status"] == "http_response_incomplete" and rec["backend"] == b.address
    assert helpers.wait_until(lambda: "response body cut after 10 bytes" in gh.stderr())


class ExpectBackend(RawBackend):
    """Answers 100 Continue to Expect, reads the whole body, answers 200."""

    def __init__(self):
        super().__init__(lambda c, r: False)

    def _serve(self, conn):
        try:
            while not self.stopping.is_set():
                raw = conn.reader.read_until(b"\r\n\r\n")
                start, headers = helpers.parse_head(raw)
                req = helpers.Request(start, headers, raw_head=raw)
                if req.header("expect"):
                    conn.send(b"HTTP/1.1 100 Continue\r\n\r\n")
                n = int(req.header("content-length") or 0)
                req.body = conn.reader.read_exact(n) if n else b""
                self._note_request(req, conn)
                conn.send(response_bytes(200, b"got %d" % len(req.body)))
        except (EOFError, OSError, ValueError):
            return
        finally:
            conn.closed.set()
            with_suppress_close(conn.sock)


@pytest.mark.parametrize("expect", [True, False])
@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_head_only_try_goes_to_another_backend(gatehouse, expect, method):
    """A streamed request whose backend closes after its head, before one
    body byte left the client, goes to the other backend (any method)."""
    bad = HeadOnlyBackend(wait=0.3)
    good = ExpectBackend()
    try:
        gh = gatehouse({"server": {"reverse_proxy": [{
            "path": "/", "backends": [{"address": bad.address}, {"address": good.address}],
            "preserve_host": False}]}})
        size = 2_000_000   # larger than the default request_buffer: streamed
        for _ in range(4):
            with connect(gh.port, timeout=15) as s:
                r = SockReader(s)
                headers = [("Content-Length", str(size))]
                if expect:
                    headers.append(("Expect", "100-continue"))
                s.sendall(build_request(method, "/dies", headers=headers))
                if expect:
                    assert read_response(r, skip_interim=False).status == 100
                else:
                    time.sleep(0.5)   # the head alone went to a backend
                s.sendall(b"b" * size)
                resp = read_response(r)
            assert resp.status == 200 and resp.body == b"got %d" % size, resp
        assert bad.requests, "no request met the failing backend"
        got = [req for _, req in good.requests]
        assert all(req.header("host") == good.address for req in got)
        assert "not retried" not in gh.logs()
    finally:
        bad.stop()
        good.stop()


@pytest.mark.deadline(30)
def test_client_stalling_a_streamed_body_is_not_the_backends_fault(gatehouse):
    """With upstream_response shorter than the client's own body timeout, a
    client that stalls a streamed body gets 408 (client_body), never 504, and
    the backend is not ejected."""
    b = ExpectBackend()
    try:
        gh = gatehouse({"server": {
            "timeouts": {"upstream_response": "1s", "client_body": "3s"},
            "limits": {"request_body_min_rate": "0"},
            "reverse_proxy": [{"path": "/", "backends": [{"address": b.address},
                                                          {"address": b.address.replace("127.0.0.1", "localhost")}]}]}})
        with connect(gh.port, timeout=15) as s:
            s.sendall(build_request("POST", "/stall", headers=[("Content-Length", "3000000")])
                      + b"s" * 1_200_000)
            data, _ = hostile.collect(s, idle=1.0, total=10)
        resps, _, _ = hostile.parse_responses(data)
        assert resps and resps[0].status == 408, data[:300]
        assert "warn: backend" not in gh.stderr()
        for _ in range(4):
            assert helpers.http_request(gh.port, "GET", "/after").status == 200
    finally:
        b.stop()


def test_backend_closing_after_its_100_is_connection_terminated(gatehouse, raw_backend):
    def handler(conn, req):
        conn.send(b"HTTP/1.1 100 Continue\r\n\r\n")
        time.sleep(0.1)
        return False

    b = raw_backend(handler)
    gh = gatehouse({"server": {"reverse_proxy": [route(b, "/")]}})
    size = 2_000_000
    with connect(gh.port, timeout=15) as s:
        s.sendall(build_request("POST", "/c", headers=[("Content-Length", str(size)),
                                                       ("Expect", "100-continue")]) + b"c" * size)
        resp = read_response(SockReader(s))
    assert_named(resp, 502, "connection_terminated")


def test_client_gone_during_buffering_logs_what_arrived(gatehouse, raw_backend):
    b = raw_backend(lambda conn, req: (conn.send(response_bytes(200, b"ok")), True)[1])
    gh = gatehouse({"server": {"reverse_proxy": [route(b, "/")]}})
    with connect(gh.port) as s:
        s.sendall(b"POST /gone HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nab")
        time.sleep(0.3)
    rec = last_log(gh, "/gone")
    assert rec["status"] == 499 and rec["bytes_received"] == 2, rec
