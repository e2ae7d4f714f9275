"""Idle and slow TLS clients (issue 11, item 6). A TLS connection that has
done its handshake and sends nothing, or sends half a request head, must
cost about what nginx pays for it (15-24 KiB; it cost gatehouse 78 KiB
while TLS went through asio::ssl::stream), and an idle TLS connection goes
the way of an idle plain one: out of its session, then into the worker's
idle set (test_idle.py), and back to a fresh session at its next byte with
its TLS state intact.

The clients are bench/clients/idle.py's (the bench's idle10k-tls cases).
Certificates: one self-signed ECDSA P-256 pair made with the openssl CLI
(quick to make and to sign with), not verified by these clients."""

import importlib.util
import json
import os
import ssl
import subprocess
import time

import pytest

import helpers
from helpers import SockReader, build_request, route
from test_idle import idle_set_size

spec = importlib.util.spec_from_file_location("bench_idle", helpers.REPO / "bench/clients/idle.py")
bench_idle = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench_idle)

# What nginx 1.22 holds per idle TLS connection on this machine is 15-17
# KiB (handshake only, or one GET), 24 KiB with half a request head
# (bench/RESULTS.md, idle10k-tls*). The bound is nginx's slow-client figure.
BOUND_KIB = 24
# Slow clients: nginx's 24 KiB plus the run-to-run noise of RSS per
# connection, which swings by about a kilobyte here (23.5-24.7 KiB over five
# runs of the same binary; with the bound at exactly 24 the test failed on
# the unchanged binary too).
SLOW_BOUND_KIB = 26
SANITIZED = bool(os.environ.get("GATEHOUSE_SANITIZED"))  # ASan's heap says nothing about ours


@pytest.fixture(scope="module")
def ec_cert(tmp_path_factory):
    d = tmp_path_factory.mktemp("tls-idle")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-sha256", "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    return cert, key


def tls_gatehouse(gatehouse, origin, ec_cert, **server):
    o = origin()
    cfg = {"server": dict({"workers": 1, "access_log": "off"}, **server, reverse_proxy=[route(o, "/")]),
           "ssl": {"enabled": True, "port": helpers.free_port(), "cert_file": str(ec_cert[0]),
                   "key_file": str(ec_cert[1])}}
    return gatehouse(cfg)


def client_ctx():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def get(sock, target="/small"):
    sock.settimeout(10)
    sock.sendall(build_request("GET", target))
    return helpers.read_response(SockReader(sock))


def warm_up(gh):
    """OpenSSL and the worker allocate some things once: not per connection."""
    for _ in range(3):
        with client_ctx().wrap_socket(helpers.connect(gh.tls_port), server_hostname="localhost") as s:
            assert get(s).status == 200
    time.sleep(0.5)


def settled_rss(gh):
    """RSS once parked connections reached the idle set and the heap was trimmed."""
    time.sleep(1.0)
    return gh.rss_kib()


def close_all(conns):
    for c in conns:
        try:
            c.close()
        except OSError:
            pass


@pytest.mark.deadline(90)
@pytest.mark.parametrize("then", ["nothing", "get"])
def test_idle_tls_connections_cost_what_nginx_pays_and_still_work(gatehouse, origin, ec_cert, then):
    """600 TLS connections (more than the 256 a worker keeps in sessions):
    handshake, then nothing (or one GET), then silence."""
    n = 600
    gh = tls_gatehouse(gatehouse, origin, ec_cert)
    warm_up(gh)
    rss0 = gh.rss_kib()
    conns, failed, _ = bench_idle.open_idle(helpers.HOST, gh.tls_port, n, 100, use_tls=True, then=then)
    try:
        assert failed == 0 and len(conns) == n
        rss1 = settled_rss(gh)
        per_conn = (rss1 - rss0) / n
        if not SANITIZED:
            assert per_conn < BOUND_KIB, f"{per_conn:.1f} KiB per idle TLS connection (RSS {rss0} -> {rss1} KiB)"
        # They wait in the idle set, SSL and all, not in sessions.
        assert helpers.wait_until(lambda: idle_set_size(gh.pid) >= n - 10, 5), idle_set_size(gh.pid)
        # Every one is still open; a sample answers correctly (twice: the
        # second time after going back to the idle set).
        assert sum(1 for c in conns if bench_idle.tls_alive(c)) == n
        sample = conns[::40]
        for c in sample:
            r = get(c, "/headers")
            assert r.status == 200
            assert json.loads(r.body)["headers"]["x-forwarded-proto"] == "https"
        assert helpers.wait_until(lambda: idle_set_size(gh.pid) >= n - 10, 5)
        for c in sample:
            assert get(c).body == b"hello, world\n"
    finally:
        close_all(conns)


@pytest.mark.deadline(90)
def test_slow_tls_clients_half_a_head_cost_what_nginx_pays(gatehouse, origin, ec_cert):
    """600 TLS clients that send half a request head and stop: the session
    waits for the rest holding only the bytes it has, not a 16 KiB block."""
    n = 600
    gh = tls_gatehouse(gatehouse, origin, ec_cert, timeouts={"client_header": "60s"})
    warm_up(gh)
    rss0 = gh.rss_kib()
    conns, failed, _ = bench_idle.open_idle(helpers.HOST, gh.tls_port, n, 100, use_tls=True, then="half")
    try:
        assert failed == 0 and len(conns) == n
        rss1 = settled_rss(gh)
        per_conn = (rss1 - rss0) / n
        if not SANITIZED:
            assert per_conn < SLOW_BOUND_KIB, f"{per_conn:.1f} KiB per slow TLS client (RSS {rss0} -> {rss1} KiB)"
        # The rest of the head completes each request (idle.py sent the
        # first half of "GET /small HTTP/1.1\r\nHost: 127.0.0.1:PORT\r\n\r\n").
        whole = f"GET /small HTTP/1.1\r\nHost: {helpers.HOST}:{gh.tls_port}\r\n\r\n".encode()
        rest = whole[len(whole) // 2:]
        for c in conns[::40]:
            c.settimeout(10)
            c.sendall(rest)
            r = helpers.read_response(SockReader(c))
            assert r.status == 200 and r.body == b"hello, world\n"
    finally:
        close_all(conns)


@pytest.mark.deadline(60)
def test_pipelined_records_are_all_answered_when_parking_is_at_once(gatehouse, origin, ec_cert):
    """With many connections open a session parks as soon as it has no
    request bytes, but only when OpenSSL holds none either: here each 16 KiB
    TLS record ends exactly at a request's end, so between records the
    session's buffer is empty while the next record waits inside OpenSSL
    (read ahead), which the socket no longer shows."""
    gh = tls_gatehouse(gatehouse, origin, ec_cert)
    others, failed, _ = bench_idle.open_idle(helpers.HOST, gh.tls_port, 300, 100, use_tls=True,
                                             then="nothing")
    try:
        assert failed == 0
        one = build_request("GET", "/small", headers=[("X-Pad", "")])
        pad = 128 - len(one)
        req = build_request("GET", "/small", headers=[("X-Pad", "p" * pad)])
        assert len(req) == 128   # 128 requests fill one record exactly
        count = 3 * 128
        with client_ctx().wrap_socket(helpers.connect(gh.tls_port), server_hostname="localhost") as s:
            assert get(s).status == 200
            s.sendall(req * count)
            rd = SockReader(s)
            for i in range(count):
                assert helpers.read_response(rd).body == b"hello, world\n", i
    finally:
        close_all(others)


@pytest.mark.deadline(30)
def test_tls_connection_round_trips_through_the_idle_set(gatehouse, origin, ec_cert):
    """One connection (few open: the session waits 500 ms, then parks, and
    100 ms later leaves Asio), several times over, with pipelined requests
    right after a wake-up; then the keep-alive timeout closes it there."""
    gh = tls_gatehouse(gatehouse, origin, ec_cert, timeouts={"keepalive": "3s"})
    with client_ctx().wrap_socket(helpers.connect(gh.tls_port), server_hostname="localhost") as s:
        for _ in range(3):
            r = get(s, "/headers")
            assert r.status == 200
            assert json.loads(r.body)["headers"]["x-forwarded-proto"] == "https"
            assert helpers.wait_until(lambda: idle_set_size(gh.pid) == 1, 5), "never reached the idle set"
        s.sendall(build_request("GET", "/status/201") + build_request("GET", "/status/202"))
        rd = SockReader(s)
        assert [helpers.read_response(rd).status for _ in range(2)] == [201, 202]
        assert helpers.wait_until(lambda: idle_set_size(gh.pid) == 1, 5)
        t0 = time.monotonic()
        s.settimeout(10)
        try:
            data = s.recv(100)   # the close (gatehouse sends no close_notify)
        except (ssl.SSLError, OSError):
            data = b""
        took = time.monotonic() - t0
        assert data == b""
        assert 1.5 < took < 4.5, took
    assert helpers.wait_until(lambda: idle_set_size(gh.pid) == 0, 1)


@pytest.mark.deadline(60)
def test_sigterm_with_tls_connections_in_the_idle_set_exits_promptly(gatehouse, origin, ec_cert):
    gh = tls_gatehouse(gatehouse, origin, ec_cert)
    conns, failed, _ = bench_idle.open_idle(helpers.HOST, gh.tls_port, 300, 100, use_tls=True, then="get")
    try:
        assert failed == 0
        assert helpers.wait_until(lambda: idle_set_size(gh.pid) >= 290, 5)
        t0 = time.monotonic()
        gh.stop()
        assert time.monotonic() - t0 < 5
        assert sum(1 for c in conns if bench_idle.tls_alive(c)) == 0
    finally:
        close_all(conns)
