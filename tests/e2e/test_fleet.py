"""A fleet (issue 17, docs/deploy.md "Fleet behind an L4 balancer"): two
gatehouse processes behind a real HAProxy in `mode tcp` with `balance
roundrobin` and `send-proxy-v2`. Requests through HAProxy reach the backend
with the test client's address in X-Forwarded-For (the client connects from
127.0.0.2, HAProxy reaches the gatehouses from 127.0.0.1, the only trusted
proxy), and both gatehouses serve. Over TLS (HAProxy still in mode tcp, the
PROXY header before the handshake), a session made on one gatehouse is
resumed on the other when both read the same ssl.ticket_key_file, and not
when each has its own.
"""

import base64
import os
import shutil
import socket
import ssl
import subprocess
import time

import pytest
import trustme

import helpers
import tls_helpers as th
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


def fleet_member(gatehouse, backend, name, ssl_block=None):
    cfg = {
        "server": {"proxy_protocol": True, "trusted_proxies": ["127.0.0.1/32"], "workers": 1,
                   "access_log": "stdout", "access_log_format": "json",
                   "headers": {"response": {"set": {"X-Served-By": name}}},
                   "reverse_proxy": [route(backend, "/")]},
        "admin": {"enabled": True, "host": helpers.HOST, "port": helpers.free_port()},
    }
    if ssl_block:
        cfg["ssl"] = dict(ssl_block, port=helpers.free_port())
    return gatehouse(cfg)


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


# --------------------------------------------------------------------------
# TLS through HAProxy: tickets across the fleet


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("fleet-pki")
    ca = trustme.CA()
    return {"ca": th.write_ca(ca, d / "ca.pem"),
            "leaf": th.write_leaf(ca, d, "fleet", ["fleet.test"], "fleet-cert")}


def ticket_key_file(path):
    """HAProxy's tls-ticket-keys format (docs/configuration.md ticket_key_file):
    base64 80-byte keys, oldest first; three, so the middle one seals."""
    path.write_text("".join(base64.b64encode(os.urandom(80)).decode() + "\n" for _ in range(3)))
    os.chmod(path, 0o600)
    return path


def tls_haproxy_config(port, tls_ports):
    lines = [
        "defaults",
        "    mode tcp",
        "    timeout connect 5s",
        "    timeout client 30s",
        "    timeout server 30s",
        "frontend fleet_tls",
        f"    bind {helpers.HOST}:{port}",
        "    default_backend gatehouses_tls",
        "backend gatehouses_tls",
        "    balance roundrobin",
    ]
    for i, p in enumerate(tls_ports):
        lines.append(f"    server gh{i} {helpers.HOST}:{p} send-proxy-v2")
    return "\n".join(lines) + "\n"


def tls_request_via(port, ctx, target, session=None):
    """(response, served_by, reused, session) of one request on a new TLS
    connection from CLIENT_ADDR through HAProxy."""
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.settimeout(10)
    raw.bind((CLIENT_ADDR, 0))
    raw.connect((helpers.HOST, port))
    with ctx.wrap_socket(raw, server_hostname="fleet.test", session=session) as s:
        s.sendall(build_request("GET", target))
        r = read_response(SockReader(s))   # TLS 1.3 tickets come after the handshake
        return r, r.header("x-served-by"), s.session_reused, s.session


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3],
                         ids=["tls12", "tls13"])
@pytest.mark.parametrize("shared", [True, False], ids=["shared-keys", "own-keys"])
def test_tls_sessions_resume_across_the_fleet(gatehouse, capture_backend, haproxy, pki, tmp_path,
                                              version, shared):
    b = capture_backend()
    keys = [ticket_key_file(tmp_path / "ticket-a.keys")]
    keys.append(keys[0] if shared else ticket_key_file(tmp_path / "ticket-b.keys"))
    members = []
    for name, key in zip(("gh-a", "gh-b"), keys):
        members.append(fleet_member(gatehouse, b, name, ssl_block={
            "enabled": True, "cert_file": str(pki["leaf"].cert), "key_file": str(pki["leaf"].key),
            "ticket_key_file": str(key)}))
    port = helpers.free_port()
    haproxy(tls_haproxy_config(port, [m.tls_port for m in members]), port)
    ctx = th.client_context(cafile=pki["ca"], min_version=version, max_version=version)

    r, first, reused, session = tls_request_via(port, ctx, "/tls/0")
    assert r.status == 200 and not reused
    # roundrobin sends one of the next connections to the other member (not
    # always the very next: HAProxy's first picks after start may repeat).
    other = None
    for i in range(1, 7):
        r, served, reused, _ = tls_request_via(port, ctx, f"/tls/{i}", session=session)
        assert r.status == 200
        if served != first:
            other = served
            break
        assert reused, "the member that made the session resumes it"
    assert other is not None and {first, other} == {"gh-a", "gh-b"}, (first, other)
    assert reused == shared, (first, other, reused)
    for req in b.wait_requests(i + 1):
        assert req.headers_all("x-forwarded-for") == [CLIENT_ADDR]
        assert req.headers_all("x-forwarded-proto") == ["https"]
