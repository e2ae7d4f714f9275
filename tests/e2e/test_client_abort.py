"""An HTTP/1.x client that goes away while gatehouse waits for the backend's
response (issue 18): the exchange ends at once, logged 499, and the backend
connection is closed rather than left working for nobody (nginx's
proxy_ignore_client_abort off, HAProxy's abortonclose). Bytes that arrive
meanwhile are a pipelined request, never a close. WebSocket tunnels relay
byte-exact in both directions and pass a FIN on as a half-close.
"""

import base64
import hashlib
import os
import select
import socket
import struct
import threading
import time

import pytest

import helpers
from helpers import build_request, read_response, route, SockReader, wait_until
from hostile import response_bytes


def slow_backend(raw_backend):
    """A backend whose /hold/MS requests wait up to MS ms for gatehouse to
    close the connection (noted in `closes` with how long it took) and are
    answered only if it does not (/early/MS: the same after a 103); anything
    else is answered at once."""
    closes = []

    def handler(conn, req):
        path = req.start_line.split()[1]
        if path.startswith("/hold/") or path.startswith("/early/"):
            if path.startswith("/early/"):
                conn.send(b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n")
            wait = int(path.rsplit("/", 1)[1]) / 1000.0
            t0 = time.monotonic()
            ready, _, _ = select.select([conn.sock], [], [], wait)
            if ready:
                try:
                    peek = conn.sock.recv(1, socket.MSG_PEEK)
                except OSError:
                    peek = b""
                if not peek:
                    closes.append((path, time.monotonic() - t0))
                    return False
            conn.send(response_bytes(200, b"late " + path.encode()))
            return True
        conn.send(response_bytes(200, b"ok " + path.encode()))
        return True

    b = raw_backend(handler)
    return b, closes


def log_for(gh, path):
    recs = [r for r in gh.access_log() if r.get("path") == path]
    return recs[-1] if recs else None


def gone_record(gh, closes, path):
    """Waits until the backend connection of the exchange for `path` has
    closed and its access-log line is out; returns that line."""
    assert wait_until(lambda: closes, 2.0), "the backend connection was not closed"
    assert wait_until(lambda: log_for(gh, path), 2.0)
    return log_for(gh, path)


def proxy(gatehouse, b):
    return gatehouse({"server": {"workers": 1, "reverse_proxy": [route(b, "/")]}})


@pytest.mark.parametrize("how", ["close", "reset"])
def test_client_gone_while_waiting_is_499_and_the_backend_connection_closes(
        gatehouse, raw_backend, how):
    b, closes = slow_backend(raw_backend)
    gh = proxy(gatehouse, b)
    s = helpers.connect(gh.port)
    s.sendall(build_request("GET", "/hold/3000"))
    b.wait_requests(1)
    time.sleep(0.2)
    t0 = time.monotonic()
    if how == "reset":
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    assert wait_until(lambda: closes, 2.0), "the backend connection was not closed"
    assert closes[0][0] == "/hold/3000" and time.monotonic() - t0 < 1.0, closes
    assert wait_until(lambda: log_for(gh, "/hold/3000"), 2.0)
    rec = log_for(gh, "/hold/3000")
    assert rec["status"] == 499, rec
    assert rec["duration_ms"] < 1500, rec
    # Not the backend's fault: nothing is said against it, and it still serves.
    assert "warn: backend" not in gh.stderr()
    assert helpers.http_request(gh.port, "GET", "/after").status == 200


def test_client_gone_after_an_interim_response_is_499(gatehouse, raw_backend):
    b, closes = slow_backend(raw_backend)
    gh = proxy(gatehouse, b)
    s = helpers.connect(gh.port)
    s.sendall(build_request("GET", "/early/3000"))
    assert SockReader(s).read_until(b"\r\n\r\n").startswith(b"HTTP/1.1 103")
    time.sleep(0.2)
    s.close()
    assert gone_record(gh, closes, "/early/3000")["status"] == 499


def test_a_request_pipelined_while_waiting_is_not_a_close(gatehouse, raw_backend):
    b, closes = slow_backend(raw_backend)
    gh = proxy(gatehouse, b)
    with helpers.connect(gh.port) as s:
        s.sendall(build_request("GET", "/hold/600"))
        b.wait_requests(1)
        time.sleep(0.1)
        # The next request arrives while the first one's response is awaited.
        s.sendall(build_request("GET", "/second"))
        r = SockReader(s)
        first = read_response(r)
        second = read_response(r)
    assert first.status == 200 and first.body == b"late /hold/600", first
    assert second.status == 200 and second.body == b"ok /second", second
    assert not closes
    assert wait_until(lambda: log_for(gh, "/second"), 2.0)
    assert log_for(gh, "/hold/600")["status"] == 200


def test_requests_pipelined_in_one_write_are_all_answered(gatehouse, raw_backend):
    b, closes = slow_backend(raw_backend)
    gh = proxy(gatehouse, b)
    with helpers.connect(gh.port) as s:
        s.sendall(build_request("GET", "/hold/300") + build_request("GET", "/b")
                  + build_request("GET", "/hold/200"))
        r = SockReader(s)
        got = [read_response(r).body for _ in range(3)]
    assert got == [b"late /hold/300", b"ok /b", b"late /hold/200"], got
    assert not closes


def test_pipelined_requests_then_a_half_close_are_all_answered(gatehouse, raw_backend):
    """A client that sends its requests and then shuts its sending side (an
    HTTP/1.0-style client) still talks while requests of its are unanswered:
    the close comes behind unread bytes, so it is not taken as leaving."""
    b, closes = slow_backend(raw_backend)
    gh = proxy(gatehouse, b)
    with helpers.connect(gh.port) as s:
        s.sendall(build_request("GET", "/hold/300") + build_request("GET", "/b"))
        s.shutdown(socket.SHUT_WR)
        r = SockReader(s)
        got = [read_response(r).body for _ in range(2)]
    assert got == [b"late /hold/300", b"ok /b"], got
    assert not closes


def test_a_half_close_after_the_request_is_taken_as_leaving(gatehouse, raw_backend):
    """As nginx (proxy_ignore_client_abort off): a FIN while the response is
    awaited, with nothing unread before it, ends the exchange (499) and the
    connection, without a response. (HAProxy without abortonclose would wait.)"""
    b, closes = slow_backend(raw_backend)
    gh = proxy(gatehouse, b)
    with helpers.connect(gh.port) as s:
        s.sendall(build_request("GET", "/hold/3000"))
        b.wait_requests(1)
        time.sleep(0.2)
        s.shutdown(socket.SHUT_WR)
        s.settimeout(2.0)
        assert s.recv(100) == b""
    assert gone_record(gh, closes, "/hold/3000")["status"] == 499


def test_a_request_sent_with_its_fin_to_a_slow_backend_is_taken_as_leaving(gatehouse, raw_backend):
    """Request and FIN in one go (`nc -N`): the FIN is reported with the
    request, before any watch; the watch's first peek still sees it."""
    b, closes = slow_backend(raw_backend)
    gh = proxy(gatehouse, b)
    with helpers.connect(gh.port) as s:
        s.sendall(build_request("GET", "/hold/3000"))
        s.shutdown(socket.SHUT_WR)
        s.settimeout(2.0)
        assert s.recv(100) == b""
    assert gone_record(gh, closes, "/hold/3000")["status"] == 499


def test_keep_alive_requests_are_unaffected(gatehouse, raw_backend):
    b, closes = slow_backend(raw_backend)
    gh = proxy(gatehouse, b)
    with helpers.connect(gh.port) as s:
        r = SockReader(s)
        for i in range(20):
            s.sendall(build_request("GET", f"/hold/{20 if i % 2 else 1}"))
            resp = read_response(r)
            assert resp.status == 200, resp
    assert not closes
    assert b.connections and len(b.connections) == 1, "the backend connection was kept"


# --------------------------------------------------------------------------
# WebSocket tunnels: reads that wait for epoll after draining the socket


def ws_connect(port, path="/ws/echo"):
    s = helpers.connect(port, timeout=15)
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    s.sendall((f"GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    r = SockReader(s)
    head = r.read_until(b"\r\n\r\n")
    assert b" 101 " in head.split(b"\r\n", 1)[0], head
    return s, r


def frame_fast(payload, opcode=0x2):
    """A masked frame with an all-zero mask (valid: the mask is any 4 bytes)."""
    n = len(payload)
    if n < 126:
        hdr = bytes([0x80 | opcode, 0x80 | n])
    elif n < 65536:
        hdr = bytes([0x80 | opcode, 0x80 | 126]) + struct.pack("!H", n)
    else:
        hdr = bytes([0x80 | opcode, 0x80 | 127]) + struct.pack("!Q", n)
    return hdr + b"\0\0\0\0" + payload


def read_frame(r):
    b0, b1 = r.read_exact(2)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", r.read_exact(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", r.read_exact(8))[0]
    return b0 & 0x0F, r.read_exact(n) if n else b""


def test_ws_small_messages_echo_in_order(gatehouse, origin):
    gh = gatehouse({"server": {"reverse_proxy": [route(origin(), "/")]}})
    s, r = ws_connect(gh.port)
    with s:
        for i in range(300):
            msg = f"message {i}".encode()
            s.sendall(frame_fast(msg, 0x1))
            assert read_frame(r) == (0x1, msg)


def test_ws_ten_mib_both_ways_is_byte_exact(gatehouse, origin):
    """10 MiB written while the echo comes back concurrently: what returns
    is exactly what went (sha256), through reads of every size."""
    gh = gatehouse({"server": {"reverse_proxy": [route(origin(), "/")]}})
    s, r = ws_connect(gh.port)
    total = 10 << 20
    data = os.urandom(total)
    sizes = [1, 125, 126, 4000, 65535, 65536, 300000]
    pieces, off, i = [], 0, 0
    while off < total:
        n = min(sizes[i % len(sizes)], total - off)
        pieces.append(data[off:off + n])
        off += n
        i += 1
    sent = hashlib.sha256()
    err = []

    def writer():
        try:
            for p in pieces:
                s.sendall(frame_fast(p))
                sent.update(p)
        except OSError as e:
            err.append(e)

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    got = hashlib.sha256()
    n_got = 0
    with s:
        s.settimeout(30)
        while n_got < total:
            op, payload = read_frame(r)
            assert op == 0x2
            got.update(payload)
            n_got += len(payload)
        t.join(30)
    assert not err, err
    assert n_got == total
    assert got.hexdigest() == sent.hexdigest()


def test_ws_client_fin_half_closes_to_the_backend(gatehouse, raw_backend):
    """The client's FIN reaches the backend as a FIN (it reads EOF), and the
    backend can still answer on its side afterwards; its own FIN then ends
    the tunnel promptly, even when it comes with its last bytes."""
    seen = {}

    # A backend that switches protocols, then reads to EOF and answers after it.
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(4)

    def serve():
        c, _ = lst.accept()
        with c:
            rd = SockReader(c)
            head = rd.read_until(b"\r\n\r\n").decode()
            key = [ln.split(":", 1)[1].strip() for ln in head.split("\r\n")
                   if ln.lower().startswith("sec-websocket-key:")][0]
            acc = base64.b64encode(hashlib.sha1(
                (key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
            c.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                       f"Connection: Upgrade\r\nSec-WebSocket-Accept: {acc}\r\n\r\n").encode())
            got = bytearray(rd.buf)
            c.settimeout(5)
            while True:
                d = c.recv(65536)
                if not d:
                    break
                got += d
            seen["data"] = bytes(got)
            seen["eof_at"] = time.monotonic()
            # Last bytes and the FIN together.
            c.sendall(b"after-eof")
            c.shutdown(socket.SHUT_WR)
            time.sleep(0.5)

    th = threading.Thread(target=serve, daemon=True)
    th.start()
    try:
        gh = gatehouse({"server": {"reverse_proxy": [
            route(lst.getsockname()[1], "/")]}})
        s, r = ws_connect(gh.port, "/x")
        with s:
            s.sendall(b"client-bytes")
            t0 = time.monotonic()
            s.shutdown(socket.SHUT_WR)
            s.settimeout(5)
            rest = bytearray(r.buf)
            while True:
                d = s.recv(65536)
                if not d:
                    break
                rest += d
            t1 = time.monotonic()
        th.join(5)
        assert seen.get("data") == b"client-bytes", seen
        assert seen["eof_at"] - t0 < 1.0
        assert bytes(rest) == b"after-eof"
        assert t1 - t0 < 2.0, "the backend's FIN did not end the tunnel promptly"
    finally:
        lst.close()
