"""Bodies and connection handling: methods with bodies, chunked uploads,
1 GiB streamed both ways in bounded memory, HEAD, keep-alive, pipelining,
HTTP/1.0, Expect: 100-continue."""

import hashlib
import http.client
import json
import os
import subprocess
import threading
import time

import pytest
import requests

import helpers
import hostile
from helpers import SockReader, build_request, connect, read_response, route

GIB = 1 << 30
RSS_GROWTH_LIMIT_KIB = 64 * 1024


@pytest.fixture
def proxied(gatehouse, origin):
    o = origin("body")
    gh = gatehouse({"server": {"reverse_proxy": [route(o, "/")]}})
    return gh, o


class RssSampler:
    """Samples a process's VmRSS every 0.2 s in a thread; keeps the peak."""

    def __init__(self, gh):
        self.gh = gh
        self.baseline = gh.rss_kib()
        self.peak = self.baseline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.wait(0.2):
            v = self.gh.rss_kib()
            if v is not None:
                self.peak = max(self.peak, v)

    def stop(self):
        self._stop.set()
        self._thread.join(2)
        v = self.gh.rss_kib()
        if v is not None:
            self.peak = max(self.peak, v)
        return self.peak - self.baseline


def test_methods_with_bodies(proxied):
    gh, o = proxied
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        body = os.urandom(10000)
        r = requests.request(method, gh.url("/echo"), data=body, timeout=10)
        assert r.status_code == 200
        j = r.json()
        assert j["method"] == method and j["body_bytes"] == len(body)
        assert j["headers"]["content-length"] == str(len(body))
    data = os.urandom(1 << 20)
    r = requests.post(gh.url("/upload"), data=data, timeout=10)
    assert r.json()["sha256"] == hashlib.sha256(data).hexdigest()


def test_empty_post(proxied):
    gh, _ = proxied
    r = helpers.http_request(gh.port, "POST", "/e", headers=[("Content-Length", "0")])
    assert r.status == 200 and r.json()["body_bytes"] == 0


def test_chunked_upload_raw(proxied):
    gh, _ = proxied
    parts = [os.urandom(n) for n in (1, 100, 70000, 3, 200000)]
    data = b"".join(parts)
    body = b"".join(b"%x\r\n" % len(p) + p + b"\r\n" for p in parts) + b"0\r\n\r\n"
    with connect(gh.port) as s:
        s.sendall(build_request("POST", "/upload", headers=[("Transfer-Encoding", "chunked")]))
        for i in range(0, len(body), 4096):  # arrives in pieces
            s.sendall(body[i:i + 4096])
        r = read_response(SockReader(s))
    assert r.status == 200, r
    assert r.json()["body_bytes"] == len(data)
    assert r.json()["sha256"] == hashlib.sha256(data).hexdigest()


def test_chunked_upload_curl(proxied, tmp_path):
    gh, _ = proxied
    data = os.urandom(3 * 1024 * 1024 + 5)
    f = tmp_path / "up.bin"
    f.write_bytes(data)
    out = subprocess.run(["curl", "-sS", "--max-time", "20", "-H", "Transfer-Encoding: chunked",
                          "--data-binary", f"@{f}", gh.url("/upload")],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    j = json.loads(out.stdout)
    assert j["body_bytes"] == len(data)
    assert j["sha256"] == hashlib.sha256(data).hexdigest()


@pytest.mark.deadline(60)
def test_one_gib_upload_bounded_memory(proxied):
    gh, _ = proxied
    helpers.http_request(gh.port, "GET", "/warm")
    block = os.urandom(1 << 20)
    sha = hashlib.sha256()
    sampler = RssSampler(gh)
    t0 = time.monotonic()
    with connect(gh.port, timeout=30) as s:
        s.sendall(build_request("POST", "/upload", headers=[("Content-Length", str(GIB))]))
        for _ in range(GIB // len(block)):
            s.sendall(block)
            sha.update(block)
        r = read_response(SockReader(s))
    elapsed = time.monotonic() - t0
    growth = sampler.stop()
    assert r.status == 200, r
    assert r.json()["body_bytes"] == GIB
    assert r.json()["sha256"] == sha.hexdigest()
    assert growth < RSS_GROWTH_LIMIT_KIB, f"RSS grew by {growth} KiB"
    assert elapsed < 30, f"1 GiB upload took {elapsed:.1f}s"


@pytest.mark.deadline(60)
def test_one_gib_download_bounded_memory(proxied):
    gh, _ = proxied
    helpers.http_request(gh.port, "GET", "/warm")
    sampler = RssSampler(gh)
    t0 = time.monotonic()
    with connect(gh.port, timeout=30) as s:
        s.sendall(build_request("GET", f"/bytes/{GIB}"))
        r = read_response(SockReader(s), discard_body=True)
    elapsed = time.monotonic() - t0
    growth = sampler.stop()
    assert r.status == 200 and r.header("content-length") == str(GIB)
    assert r.body_len == GIB
    assert growth < RSS_GROWTH_LIMIT_KIB, f"RSS grew by {growth} KiB"
    assert elapsed < 30, f"1 GiB download took {elapsed:.1f}s"


def test_chunked_download(proxied):
    gh, _ = proxied
    r = requests.get(gh.url("/chunked/300001"), timeout=10)
    assert r.status_code == 200 and len(r.content) == 300001


def test_head_keeps_content_length(proxied):
    gh, _ = proxied
    with connect(gh.port) as s:
        rd = SockReader(s)
        s.sendall(build_request("HEAD", "/bytes/12345"))
        h = read_response(rd, "HEAD")
        assert h.status == 200 and h.header("content-length") == "12345"
        # No body bytes may follow: the next answer on the connection is clean.
        s.sendall(build_request("GET", "/small"))
        g = read_response(rd)
        assert g.status == 200 and g.body == b"hello, world\n"


def test_keepalive_many_requests_one_connection(proxied):
    gh, _ = proxied
    conn = http.client.HTTPConnection("127.0.0.1", gh.port, timeout=10)
    conn.connect()
    sock = conn.sock
    for i in range(10):
        conn.request("POST" if i % 2 else "GET", f"/k/{i}", body=b"x" * i if i % 2 else None)
        r = conn.getresponse()
        j = json.loads(r.read())
        assert r.status == 200 and j["path"] == f"/k/{i}"
        assert conn.sock is sock, "the proxy closed a keep-alive connection"
    conn.close()


def test_pipelined_requests_answered_in_order(proxied):
    gh, _ = proxied
    with connect(gh.port) as s:
        s.sendall(build_request("GET", "/sleep/300") + build_request("GET", "/small")
                  + build_request("POST", "/p", body=b"abc") + build_request("GET", "/status/404"))
        rd = SockReader(s)
        r1, r2, r3, r4 = (read_response(rd) for _ in range(4))
    assert r1.status == 200 and r1.json()["path"] == "/sleep/300"
    assert r2.body == b"hello, world\n"
    assert r3.json()["path"] == "/p" and r3.json()["body_bytes"] == 3
    assert r4.status == 404


def test_http10_client(proxied):
    gh, _ = proxied
    with connect(gh.port) as s:
        s.sendall(b"GET /small HTTP/1.0\r\nHost: front.test\r\n\r\n")
        rd = SockReader(s)
        r = read_response(rd)
        assert r.status == 200 and r.body == b"hello, world\n"
        assert r.version in ("HTTP/1.0", "HTTP/1.1")
        assert helpers.closed_by_peer(s)
    # A chunked origin answer must reach a 1.0 client without chunked coding.
    with connect(gh.port) as s:
        s.sendall(b"GET /chunked/5000 HTTP/1.0\r\nHost: front.test\r\n\r\n")
        rd = SockReader(s)
        r = read_response(rd)
        assert r.status == 200 and len(r.body) == 5000
        assert "chunked" not in (r.header("transfer-encoding") or "")


def test_http10_keepalive(proxied):
    gh, _ = proxied
    with connect(gh.port) as s:
        rd = SockReader(s)
        s.sendall(b"GET /small HTTP/1.0\r\nHost: f\r\nConnection: keep-alive\r\n\r\n")
        r = read_response(rd)
        assert r.status == 200 and r.body == b"hello, world\n"
        if (r.header("connection") or "").lower() == "keep-alive":
            s.sendall(b"GET /small HTTP/1.0\r\nHost: f\r\n\r\n")
            assert read_response(rd).body == b"hello, world\n"


def test_expect_100_continue_curl(proxied, tmp_path):
    gh, _ = proxied
    data = os.urandom(500000)
    f = tmp_path / "body"
    f.write_bytes(data)
    out = subprocess.run(["curl", "-sS", "--max-time", "10", "-H", "Expect: 100-continue",
                          "--data-binary", f"@{f}", "-w", "\n%{time_total}", gh.url("/upload")],
                         capture_output=True, text=True, timeout=20)
    assert out.returncode == 0, out.stderr
    body, elapsed = out.stdout.rsplit("\n", 1)
    assert hashlib.sha256(data).hexdigest() in body
    # curl waits 1 s for "100 Continue" before sending anyway; we must not make it wait.
    assert float(elapsed) < 0.9, elapsed


def test_burst_of_many_chunks_is_relayed_without_waiting_for_more(gatehouse):
    """A backend sends 40 small chunks in one burst and then pauses: every one
    of them reaches the client at once (the relay gathers at most ~21 chunks
    per write, and must not wait for new bytes while decodable ones remain)."""
    burst = b"".join(b"5\r\nab%03d\r\n" % i for i in range(40))

    def handler(conn, req):
        conn.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + burst)
        time.sleep(3)
        conn.send(b"0\r\n\r\n")
        return False

    b = hostile.RawBackend(handler)
    try:
        gh = gatehouse({"server": {"reverse_proxy": [route(b, "/")]}})
        with connect(gh.port) as s:
            s.sendall(build_request("GET", "/burst"))
            s.settimeout(0.2)
            got = bytearray()
            deadline = time.monotonic() + 1.5
            while time.monotonic() < deadline and b"ab039" not in got:
                try:
                    got += s.recv(65536)
                except OSError:
                    pass
        assert b"ab039" in got, f"only {got.count(b'ab0')} of 40 chunks arrived before the pause"
    finally:
        b.stop()
