"""SIGHUP reloads under load (issue 16, contract "Admin and operations"):
a reload every second, alternating configs that change routes, backends, a
policy, the certificate and add/remove a listener, fails no request, drops
no WebSocket, keeps health state and /status counters; listeners come and
go, change kind, and a listener that cannot be bound rejects the reload.

GATEHOUSE_RELOAD_SECONDS shortens the load run (default 20 s, the issue's).
"""

import os
import signal
import socket
import time

import pytest
import trustme

import helpers
import ops_helpers
import tls_helpers
from helpers import HOST, free_port, http_request, route

LOAD_SECONDS = int(os.environ.get("GATEHOUSE_RELOAD_SECONDS", "20"))


def _dead_port():
    """A port with nothing listening (connects are refused)."""
    return free_port()


def _write(gh, text):
    gh.config_path.write_text(text)


def _yaml(cfg):
    return helpers.to_yaml(cfg) + "\n"


@pytest.mark.deadline(LOAD_SECONDS + 60)
def test_reload_every_second_under_load(gatehouse, origin, tmp_path):
    o1, o2, o3 = origin("one"), origin("two"), origin("three")
    dead = _dead_port()
    ca = trustme.CA()
    cert_a = tls_helpers.write_leaf(ca, tmp_path / "pki", "a", ["example.test"], "cert-a")
    cert_c = tls_helpers.write_leaf(ca, tmp_path / "pki", "c", ["example.test"], "cert-c")
    port, tls_port, admin_port = free_port(), free_port(), free_port()
    health = {"path": "/healthz", "interval": "5s", "timeout": "500ms", "unhealthy": 1, "healthy": 1}

    def cfg(kind):
        # "/": the loaded route; its second backend is down and must stay
        # known down across reloads (else requests would go to it).
        backends = [{"address": f"{HOST}:{(o1 if kind != 'b' else o2).port}"},
                    {"address": f"{HOST}:{dead}"}]
        routes = [
            {"path": "/", "backends": backends, "health_check": health},
            route(o1, "/ws"),
            route(o1, "/keep"),
            route(o1, "/p", access={"allow": ["127.0.0.0/8"]} if kind != "b"
                  else {"deny": ["127.0.0.1"]}),
        ]
        if kind == "c":
            routes.append(route(o3, "/only-c"))
        c = {"server": {"host": HOST, "port": port, "workers": 2, "access_log": "off",
                        "timeouts": {"shutdown_drain": "3s"}, "reverse_proxy": routes},
             "admin": {"enabled": True, "host": HOST, "port": admin_port}}
        if kind in ("a", "c"):
            leaf = cert_a if kind == "a" else cert_c
            c["ssl"] = {"enabled": True, "port": tls_port, "cert_file": str(leaf.cert),
                        "key_file": str(leaf.key)}
        return _yaml(c)

    configs = {k: cfg(k) for k in "abc"}
    gh = gatehouse(configs["a"])
    dead_name = f"{HOST}:{dead}"
    assert helpers.wait_until(lambda: (ops_helpers.backend_view(ops_helpers.status(admin_port), "/",
                                                                dead_name) or {}).get("state") == "down",
                              timeout=5), ops_helpers.status(admin_port)
    # /status counters before: some requests on a route every config keeps.
    for _ in range(5):
        assert http_request(gh.port, "GET", "/keep/x").status == 200
    before = ops_helpers.backend_view(ops_helpers.status(admin_port), "/keep", f"{HOST}:{o1.port}")
    assert before["requests"] >= 5, before

    pingers = ops_helpers.WsPingers(gh.port, n=4)
    wrk = ops_helpers.Wrk(f"http://{HOST}:{port}/small", LOAD_SECONDS, connections=16)
    order = "abcb"
    checks = []
    start = time.monotonic()
    i = 0
    while time.monotonic() - start < LOAD_SECONDS - 1.5:
        # One reload a second (the checks below run between them).
        time.sleep(max(0.0, start + i + 1.0 - time.monotonic()))
        kind = order[(i + 1) % len(order)]
        _write(gh, configs[kind])
        n = ops_helpers.reloads_done(gh)
        gh.signal(signal.SIGHUP)
        assert helpers.wait_until(lambda: ops_helpers.reloads_done(gh) > n, timeout=5), \
            gh.logs()[-3000:]
        i += 1
        # The reload took effect: policy, routes, listener and certificate.
        st = http_request(gh.port, "GET", "/p/x").status
        only_c = _instance(http_request(gh.port, "GET", "/only-c"))
        root = _instance(http_request(gh.port, "GET", "/x"))
        if kind == "b":
            tls_ok = helpers.wait_until(lambda: _refused(tls_port), timeout=2)
        else:
            tls_ok = helpers.wait_until(lambda: _cn(tls_port) == f"cert-{kind}", timeout=2)
        down = (ops_helpers.backend_view(ops_helpers.status(admin_port), "/", dead_name) or {}).get("state")
        checks.append((kind, st, only_c, root, bool(tls_ok), down))
    res = wrk.result()
    failures = pingers.stop()
    print(f"\nreload under load: {res['requests']} requests in {LOAD_SECONDS} s, {i} reloads, "
          f"errors connect/read/write/timeout {res['connect']}/{res['read']}/{res['write']}/"
          f"{res['timeout']}, non-2xx {res['non2xx']}, {len(pingers.conns)} WebSockets x "
          f"{pingers.rounds} ping rounds, failures {failures}")

    assert i >= LOAD_SECONDS - 3, (i, checks)
    for kind, st, only_c, root, tls_ok, down in checks:
        assert st == (403 if kind == "b" else 200), checks
        assert root == ("two" if kind == "b" else "one"), checks
        assert only_c == ("three" if kind == "c" else root), checks
        assert tls_ok, checks
        assert down == "down", ("health state lost on reload", checks)
    ops_helpers.assert_clean(res)
    assert not failures, failures
    assert pingers.rounds >= LOAD_SECONDS, pingers.rounds
    after = ops_helpers.backend_view(ops_helpers.status(admin_port), "/keep", f"{HOST}:{o1.port}")
    assert after["requests"] >= before["requests"], ("counters reset by reloads", before, after)
    assert "reload rejected" not in gh.logs(), gh.logs()[-3000:]


def _instance(r):
    assert r.status == 200, r
    return r.json()["instance"]


def _cn(port):
    try:
        return tls_helpers.peer_cn(port, "example.test", timeout=2)
    except OSError:
        return None


def _refused(port):
    try:
        socket.create_connection((HOST, port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    except OSError:
        return False
    return False


def test_reload_adds_and_removes_listeners(gatehouse, origin):
    o = origin()
    port, extra, admin = free_port(), free_port(), free_port()
    base = {"server": {"host": HOST, "port": port, "reverse_proxy": [route(o, "/")]}}
    gh = gatehouse(_yaml(base))
    assert _refused(admin)
    # Keep-alive connection on the listener that stays: untouched by reloads.
    kept = helpers.connect(port)
    kept.sendall(helpers.build_request("GET", "/small"))
    reader = helpers.SockReader(kept)
    assert helpers.read_response(reader).status == 200

    with_admin = dict(base, admin={"enabled": True, "host": HOST, "port": admin})
    _write(gh, _yaml(with_admin))
    gh.signal(signal.SIGHUP)
    assert helpers.wait_until(lambda: ops_helpers.reloads_done(gh) == 1, timeout=5), gh.logs()
    assert helpers.wait_until(lambda: not _refused(admin), timeout=2)
    assert http_request(admin, "GET", "/healthz").status == 200
    # A connection accepted on the admin listener outlives its removal.
    on_admin = helpers.connect(admin)
    on_admin.sendall(helpers.build_request("GET", "/healthz"))
    admin_reader = helpers.SockReader(on_admin)
    assert helpers.read_response(admin_reader).status == 200

    _write(gh, _yaml(base))
    gh.signal(signal.SIGHUP)
    assert helpers.wait_until(lambda: ops_helpers.reloads_done(gh) == 2, timeout=5), gh.logs()
    assert helpers.wait_until(lambda: _refused(admin), timeout=2), "removed listener still accepts"
    on_admin.sendall(helpers.build_request("GET", "/healthz"))
    assert helpers.read_response(admin_reader).status == 200
    on_admin.close()
    kept.sendall(helpers.build_request("GET", "/small"))
    assert helpers.read_response(reader).status == 200
    kept.close()
    assert f"stopped listening on {HOST}:{admin} (admin)" in gh.logs()
    assert _refused(extra)


def test_reload_changes_a_listeners_kind(gatehouse, origin, tmp_path):
    """http <-> https on the same port: the sockets stay, new connections
    get the new kind."""
    o = origin()
    ca = trustme.CA()
    leaf = tls_helpers.write_leaf(ca, tmp_path / "pki", "k", ["example.test"], "kind-cert")
    p, q = free_port(), free_port()
    plain_on_q = {"server": {"host": HOST, "port": q, "reverse_proxy": [route(o, "/")]}}
    tls_on_q = {"server": {"host": HOST, "port": p, "reverse_proxy": [route(o, "/")]},
                "ssl": {"enabled": True, "port": q, "cert_file": str(leaf.cert),
                        "key_file": str(leaf.key)}}
    gh = gatehouse(_yaml(plain_on_q))
    assert http_request(q, "GET", "/small").status == 200
    _write(gh, _yaml(tls_on_q))
    gh.signal(signal.SIGHUP)
    assert helpers.wait_until(lambda: ops_helpers.reloads_done(gh) == 1, timeout=5), gh.logs()
    assert helpers.wait_until(lambda: _cn(q) == "kind-cert", timeout=3)
    assert http_request(p, "GET", "/small").status == 200
    _write(gh, _yaml(plain_on_q))
    gh.signal(signal.SIGHUP)
    assert helpers.wait_until(lambda: ops_helpers.reloads_done(gh) == 2, timeout=5), gh.logs()
    assert helpers.wait_until(lambda: _refused(p), timeout=2)
    assert http_request(q, "GET", "/small").status == 200


def test_reload_with_an_unbindable_listener_is_rejected(gatehouse, origin):
    o, o2 = origin("first"), origin("second")
    port = free_port()
    taken = socket.socket()
    taken.bind((HOST, 0))
    taken.listen(1)
    try:
        gh = gatehouse(_yaml({"server": {"host": HOST, "port": port,
                                         "reverse_proxy": [route(o, "/")]}}))
        bad = {"server": {"host": HOST, "port": port, "reverse_proxy": [route(o2, "/")]},
               "admin": {"enabled": True, "host": HOST, "port": taken.getsockname()[1]}}
        _write(gh, _yaml(bad))
        gh.signal(signal.SIGHUP)
        assert helpers.wait_until(lambda: "reload rejected" in gh.logs(), timeout=5), gh.logs()
        assert "Address already in use" in gh.logs(), gh.logs()
        # The running config stays: the old backend answers.
        r = http_request(gh.port, "GET", "/echo")
        assert r.status == 200 and r.json()["instance"] == "first", r
        assert ops_helpers.reloads_done(gh) == 0
    finally:
        taken.close()
