"""Process life: graceful SIGTERM drain and the access log."""

import re
import signal
import socket
import threading
import time

import helpers
from helpers import build_request, connect, route

ACCESS_LOG_KEYS = {"status", "method", "path", "backend", "duration_ms", "bytes_sent",
                   "upstream_ms", "route", "request_id", "client", "proxy_status"}


def test_sigterm_drains_in_flight_request(gatehouse, origin):
    o = origin()
    gh = gatehouse({"server": {"timeouts": {"shutdown_drain": "10s"},
                               "reverse_proxy": [route(o, "/")]}})
    result = {}

    def slow():
        try:
            result["resp"] = helpers.http_request(gh.port, "GET", "/sleep/1500", timeout=15)
        except Exception as e:  # reported by the main thread
            result["error"] = e

    t = threading.Thread(target=slow, daemon=True)
    t.start()
    time.sleep(0.4)  # the request is at the origin now
    t_term = time.monotonic()
    gh.signal(signal.SIGTERM)

    # New connections are no longer served: refused, or closed without an answer.
    time.sleep(0.2)
    try:
        with socket.create_connection(("127.0.0.1", gh.port), timeout=5) as s:
            s.sendall(build_request("GET", "/small"))
            s.settimeout(5)
            try:
                data = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                data = b""
            assert not data.startswith(b"HTTP/1.1 200"), data[:200]
    except ConnectionRefusedError:
        pass

    t.join(10)
    assert "error" not in result, result.get("error")
    resp = result["resp"]
    assert resp.status == 200 and resp.json()["path"] == "/sleep/1500"
    code = gh.wait_exit(10)
    assert code == 0, (code, gh.logs()[-2000:])
    assert time.monotonic() - t_term < 8
    gh.stop()  # already exited: just checks the code again


def test_sigterm_idle_exits_promptly(gatehouse, origin):
    o = origin()
    gh = gatehouse({"server": {"reverse_proxy": [route(o, "/")]}})
    with connect(gh.port) as s:  # an idle keep-alive connection must not hold the exit
        s.sendall(build_request("GET", "/small"))
        helpers.read_response(helpers.SockReader(s))
        t0 = time.monotonic()
        gh.stop()
        assert time.monotonic() - t0 < 5


def test_sigint_exits_zero(gatehouse, origin):
    o = origin()
    gh = gatehouse({"server": {"reverse_proxy": [route(o, "/")]}})
    gh.signal(signal.SIGINT)
    assert gh.wait_exit(10) == 0


def test_json_access_log(gatehouse, origin):
    o = origin()
    gh = gatehouse({"server": {"reverse_proxy": [route(o, "/api")]}})
    r1 = helpers.http_request(gh.port, "GET", "/api/x?y=1")
    r2 = helpers.http_request(gh.port, "POST", "/api/upload", body=b"z" * 1000,
                              headers=[("X-Request-ID", "req-abc")])
    r3 = helpers.http_request(gh.port, "GET", "/nowhere")
    assert (r1.status, r2.status, r3.status) == (200, 200, 404)
    gh.stop()
    recs = gh.access_log()
    assert len(recs) == 3, gh.stdout()[-3000:]
    for rec in recs:
        assert ACCESS_LOG_KEYS <= set(rec), sorted(ACCESS_LOG_KEYS - set(rec))
    # Workers log independently, so lines need not be in request order.
    by_path = {rec["path"].split("?")[0]: rec for rec in recs}
    a, b, c = by_path["/api/x"], by_path["/api/upload"], by_path["/nowhere"]
    assert int(a["status"]) == 200 and a["method"] == "GET" and a["path"].startswith("/api/x")
    assert a["route"] and "/api" in str(a["route"])
    assert str(o.port) in str(a["backend"])
    assert a["request_id"] == r1.header("x-request-id")
    assert str(a["client"]).startswith("127.0.0.1")
    assert float(a["duration_ms"]) >= 0 and float(a["upstream_ms"]) >= 0
    assert int(a["bytes_sent"]) >= len(r1.body)
    assert not a["proxy_status"]

    assert b["method"] == "POST" and b["request_id"] == "req-abc"
    assert int(c["status"]) == 404 and c["proxy_status"]  # the proxy's own answer names why


def test_access_log_off_and_stderr(gatehouse, origin):
    o = origin()
    gh = gatehouse({"server": {"access_log": "stderr", "reverse_proxy": [route(o, "/")]}})
    helpers.http_request(gh.port, "GET", "/x")
    gh.stop()
    assert len(gh.access_log("stderr")) == 1
    assert gh.access_log("stdout") == []

    gh2 = gatehouse({"server": {"access_log": "off", "reverse_proxy": [route(o, "/")]}})
    helpers.http_request(gh2.port, "GET", "/x")
    gh2.stop()
    assert gh2.access_log("stdout") == [] and gh2.access_log("stderr") == []


def test_access_log_file(gatehouse, origin, tmp_path):
    o = origin()
    log = tmp_path / "access.log"
    gh = gatehouse({"server": {"access_log": str(log), "reverse_proxy": [route(o, "/")]}})
    helpers.http_request(gh.port, "GET", "/to-file")
    gh.stop()
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    assert len(lines) == 1 and "/to-file" in lines[0]


COMBINED = re.compile(
    r'^127\.0\.0\.1 \S+ \S+ \[[^\]]+\] "GET /combined\?q=1 HTTP/1\.1" 200 \d+ '
    r'"https://ref\.example/" "test-agent/1\.0"')


def test_combined_access_log(gatehouse, origin):
    o = origin()
    gh = gatehouse({"server": {"access_log_format": "combined", "reverse_proxy": [route(o, "/")]}})
    helpers.http_request(gh.port, "GET", "/combined?q=1", headers=[
        ("Referer", "https://ref.example/"), ("User-Agent", "test-agent/1.0")])
    gh.stop()
    lines = [line for line in gh.stdout().splitlines() if "/combined" in line]
    assert len(lines) == 1, gh.stdout()[-2000:]
    assert COMBINED.match(lines[0]), lines[0]
