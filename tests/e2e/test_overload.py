"""Overload: limits.max_connections is honoured (extra clients wait in the
backlog, none refused), and running out of file descriptors neither crashes
gatehouse nor makes it spin."""

import os
import socket
import threading
import time

import pytest

import helpers
import hostile
from helpers import SockReader, build_request, connect, route
from hostile import RawBackend, response_bytes


@pytest.mark.deadline(40)
def test_max_connections_honoured(gatehouse):
    """max_connections 20, 40 clients at once, each request held 0.5 s by the
    backend: never more than 20 in progress, all 40 served, none refused."""
    def handler(conn, req):
        with conn.backend.busy():
            time.sleep(0.5)
        conn.send(response_bytes(200, b"ok"))
        return True

    b = RawBackend(handler)
    try:
        gh = gatehouse({"server": {"limits": {"max_connections": 20},
                                   "reverse_proxy": [route(b, "/")]}})
        results = {}
        start = threading.Barrier(40)

        def client(i):
            try:
                start.wait(5)
                with connect(gh.port, timeout=20) as s:
                    s.sendall(build_request("GET", f"/c{i}", headers=[("Connection", "close")]))
                    r = helpers.read_response(SockReader(s))
                    results[i] = r.status
            except Exception as e:  # noqa: BLE001 - reported below
                results[i] = repr(e)

        t0 = time.monotonic()
        threads = [threading.Thread(target=client, args=(i,)) for i in range(40)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(25)
        elapsed = time.monotonic() - t0
        bad = {i: v for i, v in results.items() if v != 200}
        assert len(results) == 40 and not bad, f"{40 - len(results)} unfinished, failures {bad}"
        assert b.max_active <= 20, f"{b.max_active} requests in progress with max_connections 20"
        assert b.max_active >= 10, f"only {b.max_active} concurrent: the test did not load the proxy"
        assert elapsed >= 0.95, f"40 requests of 0.5 s in {elapsed:.2f}s: more than 20 at once"
    finally:
        b.stop()


@pytest.mark.deadline(60)
def test_fd_exhaustion_no_crash_no_spin(tmp_path, origin):
    """gatehouse with RLIMIT_NOFILE 64 and 100 clients: no crash, CPU below 50%
    over 2 s while descriptors are exhausted, normal service once they close."""
    if os.environ.get("GATEHOUSE_SANITIZED"):
        # UBSan's vptr check reads the object's type through a pipe(2); with
        # every descriptor taken that fails, it reports a valid object as
        # having an "invalid vptr" and aborts, and no suppression applies
        # (suppressions match the dynamic type it could not read). Seen in
        # BodySink and in boost::system's static error_category.
        pytest.skip("UBSan's vptr check reports false errors once every descriptor is taken")
    o = origin()
    cfg = {"server": {"timeouts": {"client_header": "30s", "keepalive": "30s"},
                      "reverse_proxy": [route(o, "/")]}}
    with hostile.LimitedGatehouse(cfg, tmp_path, nofile=64) as gh:
        assert helpers.http_request(gh.port, "GET", "/small").status == 200
        clients = []
        try:
            for i in range(100):
                s = socket.create_connection((helpers.HOST, gh.port), timeout=5)
                clients.append(s)
                try:
                    s.sendall(build_request("GET", "/small"))
                except OSError:
                    pass
            time.sleep(1.0)
            assert gh.proc.poll() is None, f"gatehouse died:\n{gh.logs()[-3000:]}"
            fds = hostile.open_fds(gh.pid)
            assert fds >= 60, f"gatehouse holds only {fds} descriptors: the limit was not reached"
            c0 = hostile.cpu_seconds(gh.pid)
            t0 = time.monotonic()
            time.sleep(2.0)
            used = hostile.cpu_seconds(gh.pid) - c0
            share = used / (time.monotonic() - t0)
            assert share < 0.5, f"gatehouse used {share:.0%} CPU while out of descriptors"
            assert gh.proc.poll() is None, f"gatehouse died:\n{gh.logs()[-3000:]}"
            # Whatever the accepted clients got is a proper HTTP answer.
            for s in clients[:20]:
                s.settimeout(0.05)
                try:
                    first = s.recv(16)
                except (socket.timeout, OSError):
                    continue
                assert not first or first.startswith(b"HTTP/1.1 "), first
        finally:
            for s in clients:
                s.close()
        # Service resumes once the descriptors are free again.
        time.sleep(1.0)
        t1 = time.monotonic()
        for i in range(20):
            r = helpers.http_request(gh.port, "GET", "/small", timeout=10)
            assert r.status == 200 and r.body == b"hello, world\n", (i, r)
        assert time.monotonic() - t1 < 10
        assert gh.proc.poll() is None
        code = gh.stop()
        assert code == 0, f"exit {code}:\n{gh.logs()[-3000:]}"
