"""A new connection's first read waits for epoll instead of trying recv at
once (src/net/adopt.h, read_after_readiness). Whenever the client's first
bytes come (before gatehouse accepts, just after, long after, or in pieces),
the request must be served at once: a lost wake-up would leave it waiting
for the head timeout, far beyond the client's 3 s here."""

import socket
import threading
import time

import pytest

import helpers
from helpers import SockReader, build_request, connect, route


def exchange(sock, data_parts, gap=0.0):
    for i, part in enumerate(data_parts):
        if i and gap:
            time.sleep(gap)
        sock.sendall(part)
    return helpers.read_response(SockReader(sock))


def config(b):
    # A head timeout far above the client's socket timeout: a request left
    # unread would show as a client timeout, not as a 408.
    return {"server": {"timeouts": {"client_header": "30s"}, "reverse_proxy": [route(b, "/")]}}


@pytest.mark.deadline(40)
def test_requests_sent_at_connect_are_all_served(gatehouse, capture_backend):
    b = capture_backend()
    gh = gatehouse(config(b))
    # Many at once: most requests are queued before the worker accepts.
    socks = [socket.create_connection(("127.0.0.1", gh.port), timeout=3) for _ in range(40)]
    try:
        for s in socks:
            s.sendall(build_request("GET", "/small", headers={"Connection": "close"}))
        for s in socks:
            r = helpers.read_response(SockReader(s))
            assert r.status == 200
    finally:
        for s in socks:
            s.close()


@pytest.mark.deadline(40)
def test_request_sent_after_accept_is_served(gatehouse, capture_backend):
    b = capture_backend()
    gh = gatehouse(config(b))
    errors = []

    def one(delay):
        try:
            with connect(gh.port, timeout=3) as s:
                time.sleep(delay)   # gatehouse has accepted and is waiting
                r = exchange(s, [build_request("GET", "/small")])
                assert r.status == 200
        except Exception as e:  # noqa: BLE001 (reported below)
            errors.append(repr(e))

    threads = [threading.Thread(target=one, args=(0.05 + 0.02 * i,)) for i in range(15)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert not errors, errors


@pytest.mark.deadline(40)
def test_request_head_in_pieces_after_accept_is_served(gatehouse, capture_backend):
    b = capture_backend()
    gh = gatehouse(config(b))
    req = build_request("GET", "/small")
    with connect(gh.port, timeout=3) as s:
        time.sleep(0.2)
        r = exchange(s, [req[:5], req[5:20], req[20:]], gap=0.1)
        assert r.status == 200
        # And the connection goes on as usual.
        r = exchange(s, [build_request("GET", "/small")])
        assert r.status == 200
