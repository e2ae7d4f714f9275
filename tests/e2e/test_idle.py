"""Long-idle keep-alive connections. After a short quiet time a connection
leaves its session, and a little later it leaves Asio for the worker's idle
set (src/net/idle_set.h). Whatever stage it is in, the next request must be
served as if nothing happened (same client address and port in the
forwarding headers), and its keep-alive or first-byte deadline must still
close it.

Which connections sit in an idle set is read from /proc: the idle set is
the only epoll instance gatehouse registers with EPOLLONESHOT."""

import os
import socket
import time

import pytest

import helpers
from helpers import SockReader, build_request, connect, route

EPOLLONESHOT = 1 << 30


def idle_set_size(pid):
    """Sockets registered (one-shot) in gatehouse's idle sets right now."""
    n = 0
    fd_dir = f"/proc/{pid}/fdinfo"
    for fd in os.listdir(fd_dir):
        try:
            with open(f"{fd_dir}/{fd}") as f:
                text = f.read()
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith("tfd:"):
                fields = line.split()
                mask = int(fields[fields.index("events:") + 1], 16)
                if mask & EPOLLONESHOT:
                    n += 1
    return n


def request_on(sock, target="/small"):
    sock.sendall(build_request("GET", target))
    return helpers.read_response(SockReader(sock))


@pytest.mark.deadline(30)
def test_connection_idle_long_enough_to_leave_asio_is_served_unchanged(gatehouse, capture_backend):
    b = capture_backend()
    gh = gatehouse({"server": {"timeouts": {"keepalive": "30s"}, "reverse_proxy": [route(b, "/")]}})
    with connect(gh.port) as s:
        assert request_on(s, "/one").status == 200
        assert helpers.wait_until(lambda: idle_set_size(gh.pid) == 1, 5), "never reached the idle set"
        r = request_on(s, "/two")
        assert r.status == 200
        # Busy again: the connection left the idle set.
        assert idle_set_size(gh.pid) == 0
        client_port = s.getsockname()[1]
    reqs = b.wait_requests(2)
    first, second = reqs[0], reqs[1]
    assert second.target == "/two"
    for name in ("x-forwarded-for", "x-real-ip", "x-forwarded-port", "x-forwarded-proto", "via"):
        assert second.headers_all(name) == first.headers_all(name), name
    assert second.header("x-forwarded-for") == "127.0.0.1"
    assert second.header("x-forwarded-port") == str(gh.port)
    # The client's port is what gatehouse accepted: the log line names it.
    assert client_port > 0


@pytest.mark.deadline(30)
def test_idle_set_round_trips_many_times_on_one_connection(gatehouse, origin):
    o = origin()
    gh = gatehouse({"server": {"reverse_proxy": [route(o, "/")]}})
    with connect(gh.port) as s:
        for _ in range(3):
            assert request_on(s).body == b"hello, world\n"
            assert helpers.wait_until(lambda: idle_set_size(gh.pid) == 1, 5)
        # Pipelined requests right after a wake-up are all answered in order.
        s.sendall(build_request("GET", "/status/201") + build_request("GET", "/status/202"))
        rd = SockReader(s)
        assert [helpers.read_response(rd).status for _ in range(2)] == [201, 202]


@pytest.mark.deadline(30)
def test_keepalive_timeout_closes_a_connection_in_the_idle_set(gatehouse, origin):
    o = origin()
    gh = gatehouse({"server": {"timeouts": {"keepalive": "2s"}, "reverse_proxy": [route(o, "/")]}})
    with connect(gh.port) as s:
        assert request_on(s).status == 200
        t0 = time.monotonic()
        assert helpers.wait_until(lambda: idle_set_size(gh.pid) == 1, 1.5)
        assert helpers.closed_by_peer(s, 5), "not closed at the keep-alive timeout"
        took = time.monotonic() - t0
    assert 1.7 < took < 3.0, took
    assert helpers.wait_until(lambda: idle_set_size(gh.pid) == 0, 1)


@pytest.mark.deadline(30)
def test_first_byte_deadline_still_applies_in_the_idle_set(gatehouse, origin):
    """A connection that never sends a byte is closed at client_header, as
    before it could be moved out of its session."""
    o = origin()
    gh = gatehouse({"server": {"timeouts": {"client_header": "2s"},
                               "reverse_proxy": [route(o, "/")]}})
    with connect(gh.port) as s:
        t0 = time.monotonic()
        assert helpers.wait_until(lambda: idle_set_size(gh.pid) == 1, 1.5)
        assert helpers.closed_by_peer(s, 5)
        took = time.monotonic() - t0
    assert 1.7 < took < 3.0, took


@pytest.mark.deadline(30)
def test_client_close_while_in_idle_set_frees_the_connection(gatehouse, origin):
    o = origin()
    gh = gatehouse({"server": {"limits": {"max_connections": 4},
                               "reverse_proxy": [route(o, "/")]}})
    for _ in range(3):
        socks = [connect(gh.port) for _ in range(4)]
        for s in socks:
            assert request_on(s).status == 200
        assert helpers.wait_until(lambda: idle_set_size(gh.pid) == 4, 5)
        for s in socks:
            s.close()
        # Woken by the FIN and closed: their connection slots come back, so
        # the next round of 4 is served (it would wait forever otherwise).
        assert helpers.wait_until(lambda: idle_set_size(gh.pid) == 0, 5)


@pytest.mark.deadline(30)
def test_sigterm_with_connections_in_the_idle_set_exits_promptly(gatehouse, origin):
    o = origin()
    gh = gatehouse({"server": {"reverse_proxy": [route(o, "/")]}})
    socks = [connect(gh.port) for _ in range(5)]
    for s in socks:
        assert request_on(s).status == 200
    assert helpers.wait_until(lambda: idle_set_size(gh.pid) == 5, 5)
    t0 = time.monotonic()
    gh.stop()
    assert time.monotonic() - t0 < 5
    for s in socks:
        assert helpers.closed_by_peer(s, 1)
        s.close()


@pytest.mark.deadline(60)
def test_hundreds_of_connections_wake_from_the_idle_set_together(gatehouse, origin):
    """More than 256 connections per worker: they park right after each
    response, reach the idle set, and all wake for a second request at once."""
    n = 600
    o = origin()
    gh = gatehouse({"server": {"workers": 1, "reverse_proxy": [route(o, "/")]}})
    socks = []
    try:
        for _ in range(n):
            socks.append(connect(gh.port))
        for s in socks:
            s.sendall(build_request("GET", "/small"))
        for s in socks:
            assert helpers.read_response(SockReader(s)).status == 200
        assert helpers.wait_until(lambda: idle_set_size(gh.pid) == n, 10), idle_set_size(gh.pid)
        for s in socks:
            s.sendall(build_request("GET", "/small"))
        for s in socks:
            s.settimeout(10)
            assert helpers.read_response(SockReader(s)).body == b"hello, world\n"
    finally:
        for s in socks:
            s.close()


def _has_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.deadline(30)
@pytest.mark.skipif(not _has_ipv6_loopback(), reason="no IPv6 loopback")
def test_ipv6_connection_comes_back_from_the_idle_set(gatehouse, capture_backend):
    b = capture_backend()
    port = helpers.free_port()
    gh = gatehouse({"server": {"host": "::1", "port": port, "reverse_proxy": [route(b, "/")]}})
    with socket.create_connection(("::1", port), timeout=10) as s:
        assert request_on(s, "/a").status == 200
        assert helpers.wait_until(lambda: idle_set_size(gh.pid) == 1, 5)
        assert request_on(s, "/b").status == 200
    reqs = b.wait_requests(2)
    assert reqs[1].header("x-forwarded-for") == reqs[0].header("x-forwarded-for") == "::1"
