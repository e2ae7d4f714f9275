"""The demo origin and the harness itself, without gatehouse: if these fail,
the proxy suites' failures mean nothing."""

import asyncio
import hashlib
import os
import signal
import socket
import subprocess

import pytest
import requests
import websockets

import helpers
from helpers import SockReader, build_request, connect, read_response

ALPHABET = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_"


def pattern(n, offset=0):
    reps = (offset + n) // len(ALPHABET) + 2
    return (ALPHABET * reps)[offset % 64: offset % 64 + n]


def test_ready_line_and_default_name(origin):
    o = origin()
    assert o.name == f"origin-{o.port}"
    o2 = origin("alpha", threads=2)
    assert o2.name == "alpha"


def test_default_echo(origin):
    o = origin("echo")
    r = requests.get(o.url("/some/path?a=1&b=%20x"), headers={"X-Test": "v\u00e9".encode()},
                     timeout=5)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json"
    j = r.json()
    assert j["instance"] == "echo"
    assert j["method"] == "GET"
    assert j["path"] == "/some/path?a=1&b=%20x"
    assert j["headers"]["host"] == f"127.0.0.1:{o.port}"
    assert j["headers"]["x-test"] == "v\u00e9"
    assert j["body_bytes"] == 0
    assert j["remote"].startswith("127.0.0.1:")


def test_repeated_headers_joined_and_escaping(origin):
    o = origin()
    r = helpers.http_request(o.port, "POST", "/x", headers=[
        ("X-Dup", "one"), ("x-dup", "two"), ("X-Quote", 'a"b\\c'), ("X-Bin", "a\tb\xff")],
        body=b"12345")
    j = r.json()
    assert j["headers"]["x-dup"] == "one, two"
    assert j["headers"]["x-quote"] == 'a"b\\c'
    assert j["headers"]["x-bin"] == "a\tb\xff"
    assert j["body_bytes"] == 5
    assert j["method"] == "POST"


def test_bytes_and_chunked(origin):
    o = origin()
    r = requests.get(o.url("/bytes/200000"), timeout=5)
    assert r.headers["Content-Length"] == "200000"
    assert r.content == pattern(200000)
    r = requests.get(o.url("/chunked/200001"), timeout=5)
    assert r.headers["Transfer-Encoding"] == "chunked"
    assert r.content == pattern(200001)
    r = requests.get(o.url("/bytes/0"), timeout=5)
    assert r.content == b"" and r.headers["Content-Length"] == "0"
    assert requests.get(o.url("/bytes/x"), timeout=5).status_code == 400


def test_big_download_is_streamed(origin):
    o = origin()
    n = 4 << 30
    with connect(o.port, timeout=30) as s:
        s.sendall(build_request("GET", f"/bytes/{n}"))
        r = read_response(SockReader(s), discard_body=True)
    assert r.status == 200 and r.body_len == n


def test_head(origin):
    o = origin()
    with connect(o.port) as s:
        rd = SockReader(s)
        s.sendall(build_request("HEAD", "/bytes/12345") + build_request("GET", "/small"))
        h = read_response(rd, "HEAD")
        assert h.status == 200 and h.header("content-length") == "12345" and h.body == b""
        g = read_response(rd)
        assert g.body == b"hello, world\n"


def test_status_redirect_cookie_health_small(origin):
    o = origin()
    for code in (200, 201, 404, 418, 500, 503):
        r = requests.get(o.url(f"/status/{code}"), timeout=5)
        assert r.status_code == code
        assert r.text == f"status {code}\n"
    r = helpers.http_request(o.port, "GET", "/status/204")
    assert r.status == 204 and r.body == b"" and r.header("content-length") is None
    r = requests.get(o.url("/redirect?to=%2Flogin%3Fx%3D1"), allow_redirects=False, timeout=5)
    assert r.status_code == 302 and r.headers["Location"] == "/login?x=1"
    r = requests.get(o.url("/cookie?v=sid%3D1%3B%20Path%3D%2F"), timeout=5)
    assert r.status_code == 200 and r.headers["Set-Cookie"] == "sid=1; Path=/"
    r = requests.get(o.url("/healthz"), timeout=5)
    assert r.status_code == 200 and r.text == "ok"
    r = requests.get(o.url("/small"), timeout=5)
    assert r.content == b"hello, world\n" and r.headers["Content-Type"] == "text/plain"


def test_sleep(origin):
    o = origin()
    r = requests.get(o.url("/sleep/300"), timeout=5)
    assert r.status_code == 200 and r.elapsed.total_seconds() >= 0.29
    assert r.json()["path"] == "/sleep/300"


def test_upload_sha256_content_length_and_chunked(origin):
    o = origin()
    data = os.urandom(3 * 1024 * 1024 + 17)
    r = requests.post(o.url("/upload"), data=data, timeout=10)
    assert r.json() == {"instance": o.name, "body_bytes": len(data),
                        "sha256": hashlib.sha256(data).hexdigest()}
    r = requests.put(o.url("/upload"), data=iter([data[:1000], data[1000:]]), timeout=10)
    assert r.json()["sha256"] == hashlib.sha256(data).hexdigest()


def test_expect_continue(origin, tmp_path):
    o = origin()
    f = tmp_path / "body"
    f.write_bytes(b"x" * 200000)
    out = subprocess.run(["curl", "-s", "-H", "Expect: 100-continue", "--data-binary", f"@{f}",
                          "-w", "\n%{time_total}", o.url("/upload")],
                         capture_output=True, text=True, timeout=10).stdout
    body, t = out.rsplit("\n", 1)
    assert '"body_bytes": 200000' in body
    assert float(t) < 0.9


def test_keepalive_pipelining_http10(origin):
    o = origin()
    with connect(o.port) as s:
        rd = SockReader(s)
        s.sendall(build_request("GET", "/sleep/100") + build_request("GET", "/small")
                  + build_request("GET", "/status/404"))
        assert read_response(rd).json()["path"] == "/sleep/100"
        assert read_response(rd).body == b"hello, world\n"
        assert read_response(rd).status == 404
    with connect(o.port) as s:
        s.sendall(b"GET /small HTTP/1.0\r\n\r\n")
        rd = SockReader(s)
        r = read_response(rd)
        assert r.status == 200 and r.body == b"hello, world\n"
        assert helpers.closed_by_peer(s)
    with connect(o.port) as s:
        s.sendall(b"GET /chunked/1000 HTTP/1.0\r\n\r\n")
        r = read_response(SockReader(s))
        assert r.body == pattern(1000) and r.header("transfer-encoding") is None


@pytest.mark.parametrize("raw", [
    b"GARBAGE\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nNo colon\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost : x\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
    b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"GET / HTTP/2.0\r\nHost: x\r\n\r\n",
])
def test_malformed_gets_400_and_close(origin, raw):
    o = origin()
    data = helpers.raw_exchange(o.port, raw)
    r = helpers.parse_raw_response(data)
    assert r is not None and r.status == 400, data
    assert r.header("connection") == "close"


def test_oversized_head_431(origin):
    o = origin()
    data = helpers.raw_exchange(o.port, b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70000
                                + b"\r\n\r\n")
    assert helpers.parse_raw_response(data).status == 431


def test_websocket_echo(origin):
    o = origin()

    async def run():
        async with websockets.connect(f"ws://127.0.0.1:{o.port}/ws/echo",
                                      max_size=None, open_timeout=5) as ws:
            await ws.send("héllo")
            assert await ws.recv() == "héllo"
            await ws.send(b"\x00\x01\x02")
            assert await ws.recv() == b"\x00\x01\x02"
            big = os.urandom(3 * 1024 * 1024)
            await ws.send(big)
            assert await ws.recv() == big
            await ws.send(iter([b"frag1-", b"frag2-", b"frag3"]))  # one fragmented message
            assert await ws.recv() == b"frag1-frag2-frag3"
            pong = await ws.ping(b"ping-data")
            await asyncio.wait_for(pong, 5)
            await ws.close(code=4001, reason="bye")
            return ws.close_code

    assert asyncio.run(asyncio.wait_for(run(), 20)) == 4001


def test_websocket_limits_and_bad_key(origin):
    o = origin()

    async def too_big():
        async with websockets.connect(f"ws://127.0.0.1:{o.port}/ws", max_size=None,
                                      open_timeout=5) as ws:
            await ws.send(b"x" * (16 * 1024 * 1024 + 1))
            try:
                await asyncio.wait_for(ws.recv(), 10)
            except websockets.ConnectionClosed as e:
                return e.rcvd.code if e.rcvd else None

    assert asyncio.run(too_big()) == 1009
    r = helpers.http_request(o.port, "GET", "/ws", headers=[
        ("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Key", "short"),
        ("Sec-WebSocket-Version", "13")])
    assert r.status == 400
    # Not under /ws: the upgrade is ignored and the echo handler answers.
    r = helpers.http_request(o.port, "GET", "/other", headers=[
        ("Upgrade", "websocket"), ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="), ("Sec-WebSocket-Version", "13")])
    assert r.status == 200


def test_websocket_accept_value(origin):
    o = origin()
    with connect(o.port) as s:
        s.sendall(build_request("GET", "/ws", headers=[
            ("Upgrade", "websocket"), ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="), ("Sec-WebSocket-Version", "13")]))
        head = SockReader(s).read_until(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101 ")
    # The example from RFC 6455 section 1.3.
    assert b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n" in head


def test_sigterm_exits_zero(origin):
    o = origin()
    with connect(o.port) as s:  # an idle connection must not block the exit
        s.sendall(build_request("GET", "/small"))
        read_response(SockReader(s))
        o.proc.send_signal(signal.SIGTERM)
        assert o.proc.wait(5) == 0


def test_capture_backend_records_bytes(capture_backend):
    b = capture_backend()
    raw = build_request("POST", "/p?q=1", headers=[("X-A", "1")], body=b"hello")
    chunked = (b"PUT /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nT: v\r\n\r\n")
    with connect(b.port) as s:
        rd = SockReader(s)
        s.sendall(raw)
        r1 = read_response(rd)
        s.sendall(chunked)
        r2 = read_response(rd)
    assert r1.status == 200 and r1.body == b"captured" and r2.status == 200
    reqs = b.wait_requests(2)
    assert reqs[0].raw == raw
    assert reqs[0].method == "POST" and reqs[0].target == "/p?q=1" and reqs[0].header("x-a") == "1"
    assert reqs[1].body == b"abcde" and reqs[1].chunked
    assert bytes(b.connections[0].data) == raw + chunked


def test_capture_backend_modes(capture_backend):
    closer = capture_backend(mode="close")
    data = helpers.raw_exchange(closer.port, build_request("GET", "/"))
    assert data == b""
    hang = capture_backend(mode="hang")
    with connect(hang.port, timeout=0.5) as s:
        s.sendall(build_request("GET", "/"))
        with pytest.raises(socket.timeout):
            s.recv(10)
    assert hang.wait_requests(1)[0].target == "/"
    custom = capture_backend(response=lambda req: helpers.canned(
        302, {"Location": "/login" + req.target}))
    r = helpers.http_request(custom.port, "GET", "/x")
    assert r.status == 302 and r.header("location") == "/login/x"


def test_to_yaml_round_trip():
    yaml = pytest.importorskip("yaml")
    cfg = {"server": {"port": 1, "trusted_proxies": ["127.0.0.1/32"], "timeouts": {"connect": "1s"},
                      "reverse_proxy": [{"path": "/a", "port": 2, "domains": ["*.x.com"],
                                         "backends": [{"address": "1.2.3.4:5", "weight": 2}],
                                         "strip_prefix": True}, {"path": "/"}]},
           "ssl": {"enabled": False}, "empty": [], "e2": {}}
    assert yaml.safe_load(helpers.to_yaml(cfg)) == cfg


def test_survives_garbage(origin):
    import random
    o = origin()
    rnd = random.Random(1234)
    seeds = [b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
             b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
             b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n\x81\x05hello\x88\x00"]
    for _ in range(150):
        data = bytearray(rnd.choice(seeds))
        for _ in range(rnd.randint(1, 8)):
            i = rnd.randrange(len(data))
            data[i] = rnd.randrange(256)
        with connect(o.port, timeout=2) as s:
            s.sendall(bytes(data))
            s.shutdown(socket.SHUT_WR)  # EOF lets the origin finish at once
            try:
                while s.recv(65536):
                    pass
            except OSError:
                pass
    assert o.proc.poll() is None
    assert requests.get(o.url("/small"), timeout=5).text == "hello, world\n"
