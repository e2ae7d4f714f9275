"""A fleet (issue 17, docs/deploy.md "Fleet behind an L4 balancer"): two
gatehouse processes behind a real HAProxy in `mode tcp` with `balance
roundrobin` and `send-proxy-v2`. Requests through HAProxy reach the backend
with the test client's address in X-Forwarded-For (the client connects from
127.0.0.2, HAProxy reaches the gatehouses from 127.0.0.1, the only trusted
proxy), and both gatehouses serve.
"""

import shutil
import socket
import subprocess
import time

import pytest

import helpers
from helpers import SockReader, build_request, read_response, route, wait_until

pytestmark = pytest.mark.deadline(60)

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
CLIENT_ADDR = "127.0.0.2"   # any 127/8 address is local on Linux


class HAProxy:
    """haproxy -db (foreground) with `config` written to `workdir`."""

    def __init__(self, config, workdir, port):
        self.path = workdir / "haproxy.cfg"
        self.path.write_text(config)
        self.port = port
        check = subprocess.run([HAPROXY, "-c", "-f", str(self.path)], capture_output=True,
                               text=True, timeout=20)
        assert check.returncode == 0, check.stdout + check.stderr
        self.log_path = workdir / "haproxy.log"
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([HAPROXY, "-db", "-f", str(self.path)], stdout=self._log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

        def up():
            if self.proc.poll() is not None:
                raise AssertionError("haproxy exited: " + self.log_path.read_text())
            try:
                socket.create_connection((helpers.HOST, port), timeout=0.5).close()
                return True
            except OSError:
                return False
        assert wait_until(up, timeout=10), self.log_path.read_text()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()


@pytest.fixture
def haproxy(tmp_path):
    if not shutil.which(HAPROXY):
        pytest.skip("haproxy is not installed (scripts/deps.sh installs it)")
    started = []

    def start(config, port):
        h = HAProxy(config, tmp_path, port)
        started.append(h)
        return h

    yield start
    for h in started:
        h.stop()


def haproxy_config(port, servers, checks):
    """mode tcp, roundrobin, send-proxy-v2 to each (gatehouse port, admin port).
    checks "admin": HTTP checks of the admin /healthz, which takes no PROXY
    header; "local": TCP checks of the traffic port sending a v2 LOCAL header
    (check-send-proxy), which gatehouse must take without complaint."""
    lines = [
        "global",
        "    maxconn 256",
        "defaults",
        "    mode tcp",
        "    timeout connect 5s",
        "    timeout client 30s",
        "    timeout server 30s",
        "frontend fleet",
        f"    bind {helpers.HOST}:{port}",
        "    default_backend gatehouses",
        "backend gatehouses",
        "    balance roundrobin",
    ]
    if checks == "admin":
        lines.append("    option httpchk GET /healthz")
    for i, (port_i, admin_i) in enumerate(servers):
        check = f"check port {admin_i}" if checks == "admin" else "check check-send-proxy"
        lines.append(f"    server gh{i} {helpers.HOST}:{port_i} send-proxy-v2 {check} inter 300ms")
    return "\n".join(lines) + "\n"


def fleet_member(gatehouse, backend, name):
    return gatehouse({
        "server": {"proxy_protocol": True, "trusted_proxies": ["127.0.0.1/32"], "workers": 1,
                   "access_log": "stdout", "access_log_format": "json",
                   "headers": {"response": {"set": {"X-Served-By": name}}},
                   "reverse_proxy": [route(backend, "/")]},
        "admin": {"enabled": True, "host": helpers.HOST, "port": helpers.free_port()},
    })


def request_via(port, target):
    """A request on a new connection from CLIENT_ADDR."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(10)
    s.bind((CLIENT_ADDR, 0))
    with s:
        s.connect((helpers.HOST, port))
        s.sendall(build_request("GET", target))
        return read_response(SockReader(s))


@pytest.mark.parametrize("checks", ["admin", "local"])
def test_two_gatehouses_behind_haproxy_send_proxy_v2(gatehouse, capture_backend, haproxy, checks):
    b = capture_backend()
    members = [fleet_member(gatehouse, b, "gh-a"), fleet_member(gatehouse, b, "gh-b")]
    admin_ports = [int(m.config["admin"]["port"]) for m in members]
    port = helpers.free_port()
    h = haproxy(haproxy_config(port, [(m.port, a) for m, a in zip(members, admin_ports)], checks),
                port)
    if checks == "local":
        time.sleep(1.0)   # a few rounds of LOCAL checks on the traffic ports

    served = []
    for i in range(6):
        r = request_via(port, f"/fleet/{i}")
        assert r.status == 200, (r, h.log_path.read_text()[-2000:])
        served.append(r.header("x-served-by"))
    assert set(served) == {"gh-a", "gh-b"}, served
    reqs = b.wait_requests(6)
    for req in reqs:
        assert req.headers_all("x-forwarded-for") == [CLIENT_ADDR], req.headers
        assert req.headers_all("x-real-ip") == [CLIENT_ADDR]
    # Each member logged the client, not HAProxy.
    for m in members:
        recs = wait_until(lambda: [r for r in m.access_log() if r.get("path", "").startswith("/fleet/")])
        assert recs, m.stdout()[-2000:]
        assert {r["client"] for r in recs} == {CLIENT_ADDR}
    # The checks kept both members up and were not taken for bad headers.
    assert "DOWN" not in h.log_path.read_text(), h.log_path.read_text()
    for m in members:
        assert "refused" not in m.stderr(), m.stderr()[-2000:]
    # A direct connection that skips the balancer (no header) is refused.
    with helpers.connect(members[0].port) as s:
        s.sendall(build_request("GET", "/direct"))
        s.settimeout(5)
        try:
            assert s.recv(100) == b""
        except ConnectionResetError:
            pass
