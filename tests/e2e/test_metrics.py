"""GET /metrics on the admin listener (issue 16, CONTRACT "Admin and
operations"): every family named in docs/operations.md ("Metrics") appears
and moves when it should, the whole text passes `promtool check metrics`,
and counters survive a SIGHUP reload.

One gatehouse serves all the traffic kinds (HTTP/1.0, 1.1, h2 by prior
knowledge and over TLS, a WebSocket tunnel, TLS with a resumed session, a
policy refusal, a rate limit, the WAF, the cache, dead backends with
retries and ejections, a health-checked backend that dies), with the access
log off: metrics are counted without it.
"""

import asyncio
import os
import re
import shutil
import signal
import subprocess
import time
from types import SimpleNamespace

import pytest
import trustme
import websockets

import helpers
import tls_helpers as th
from helpers import HOST, free_port, http_request, route, wait_until
from lb_helpers import lb_route

FRONT = "front.test"
CRS_SETUP = "/etc/modsecurity/crs/crs-setup.conf"
SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')

# docs/operations.md, "Metrics": every family gatehouse exposes.
FAMILIES = {
    "gatehouse_build_info": "gauge",
    "gatehouse_start_time_seconds": "gauge",
    "gatehouse_config_reloads_total": "counter",
    "gatehouse_http_requests_total": "counter",
    "gatehouse_http_request_duration_seconds": "histogram",
    "gatehouse_upstream_duration_seconds": "histogram",
    "gatehouse_http_request_body_bytes_total": "counter",
    "gatehouse_http_response_body_bytes_total": "counter",
    "gatehouse_downstream_connections_active": "gauge",
    "gatehouse_downstream_connections_total": "counter",
    "gatehouse_tunnels_active": "gauge",
    "gatehouse_http2_streams_active": "gauge",
    "gatehouse_tls_handshakes_total": "counter",
    "gatehouse_tls_handshake_errors_total": "counter",
    "gatehouse_proxy_protocol_refused_total": "counter",
    "gatehouse_backend_up": "gauge",
    "gatehouse_backend_requests_total": "counter",
    "gatehouse_backend_failures_total": "counter",
    "gatehouse_backend_ejections_total": "counter",
    "gatehouse_backend_in_flight": "gauge",
    "gatehouse_retries_total": "counter",
    "gatehouse_upstream_idle_connections": "gauge",
    "gatehouse_upstream_connects_total": "counter",
    "gatehouse_proxy_errors_total": "counter",
    "gatehouse_policy_denials_total": "counter",
    "gatehouse_waf_detections_total": "counter",
    "gatehouse_cache_requests_total": "counter",
    "gatehouse_cache_stored_bytes": "gauge",
    "gatehouse_rate_limit_store_decisions_total": "counter",
    "gatehouse_rate_limit_store_errors_total": "counter",
    "process_start_time_seconds": "gauge",
    "process_resident_memory_bytes": "gauge",
    "process_cpu_seconds_total": "counter",
    "process_open_fds": "gauge",
}


class Metrics:
    """A parsed exposition: types by family, values by (name, labels)."""

    def __init__(self, text):
        self.text = text
        self.types = {}
        self.values = {}
        for line in text.splitlines():
            if line.startswith("# TYPE "):
                _, _, name, typ = line.split(" ", 3)
                self.types[name] = typ
                continue
            if not line or line.startswith("#"):
                continue
            m = SAMPLE_RE.match(line)
            assert m, f"not a sample line: {line!r}"
            labels = frozenset(LABEL_RE.findall(m.group(2) or ""))
            self.values[(m.group(1), labels)] = float(m.group(3))

    def get(self, name, **labels):
        """The sample's value, or None when absent."""
        return self.values.get((name, frozenset(labels.items())))

    def sum(self, name, **labels):
        """The sum of every sample of `name` whose labels include `labels`."""
        want = set(labels.items())
        return sum(v for (n, ls), v in self.values.items() if n == name and want <= ls)


def scrape(gh):
    r = http_request(gh.admin_port, "GET", "/metrics", host="localhost")
    assert r.status == 200, r
    assert r.header("content-type") == "text/plain; version=0.0.4; charset=utf-8"
    return Metrics(r.body.decode())


def scrape_when(gh, pred, timeout=5):
    """The first scrape for which pred holds, or the last one (for the
    assertion's message) when none does within timeout seconds."""
    last = []

    def once():
        last[:] = [scrape(gh)]
        return pred(last[0])
    wait_until(once, timeout=timeout)
    return last[0]


def promtool_check(text):
    if not shutil.which("promtool"):
        pytest.skip("promtool (Debian package prometheus) not installed")
    p = subprocess.run(["promtool", "check", "metrics"], input=text.encode(),
                       capture_output=True, timeout=30)
    out = (p.stdout + p.stderr).decode()
    assert p.returncode == 0 and not out.strip(), out


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("metrics-pki")
    ca = trustme.CA()
    leaf = th.write_leaf(ca, d, "front", [FRONT], "front-cert")
    return SimpleNamespace(ca=th.write_ca(ca, d / "ca.pem"), leaf=leaf)


def get(gh, target, version="HTTP/1.1", headers=None):
    """A GET with its own connection; HTTP/1.0 too."""
    if version == "HTTP/1.1":
        return http_request(gh.port, "GET", target, headers=headers, host=FRONT)
    with helpers.connect(gh.port) as s:
        s.sendall(f"GET {target} HTTP/1.0\r\nHost: {FRONT}\r\n\r\n".encode())
        return helpers.read_response(helpers.SockReader(s))


def curl_h2(url, *args):
    p = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{http_version}",
                        "--max-time", "10", *args, url], capture_output=True, text=True, timeout=20)
    return p.stdout


def test_every_family_appears_and_moves(gatehouse, origin, capture_backend, pki, tmp_path):
    o = origin()
    cacheable = capture_backend(response=helpers.canned(
        200, [("Cache-Control", "max-age=60")], b"a cacheable body"))
    hc_live, hc_dying = origin(), origin()
    dead1, dead2 = free_port(), free_port()   # nothing listens: connection_refused
    waf = os.path.exists(CRS_SETUP)
    routes = [
        route(o, "/ws"),
        route(o, "/denied", access={"deny": ["127.0.0.1"]}),
        route(o, "/limited", rate_limit={"rate": "1/m", "burst": 1}),
        route(cacheable, "/cached", cache=True),
        dict(lb_route([dead1, dead2], "/dead"), retries=1),
        lb_route([hc_live, hc_dying], "/hc", health_check={
            "path": "/healthz", "interval": "100ms", "timeout": "200ms", "unhealthy": 1, "healthy": 1}),
        route(o, "/"),
    ]
    if waf:
        routes.insert(0, route(o, "/waf", strip_prefix=True, waf={"mode": "detect", "rules": "crs"}))
    admin_port = free_port()
    gh = gatehouse({
        "server": {"workers": 2, "access_log": "off", "reverse_proxy": routes},
        "ssl": {"enabled": True, "port": free_port(), "cert_file": str(pki.leaf.cert),
                "key_file": str(pki.leaf.key)},
        "admin": {"enabled": True, "host": HOST, "port": admin_port},
    }, ready_timeout=30)
    gh.admin_port = admin_port

    before = scrape(gh)
    for fam, typ in FAMILIES.items():
        if fam in ("gatehouse_waf_detections_total", "gatehouse_policy_denials_total",
                   "gatehouse_proxy_errors_total", "gatehouse_cache_requests_total",
                   "gatehouse_http_requests_total"):
            continue   # by-outcome families: no series until something happened
        assert before.types.get(fam) == typ, (fam, before.types.get(fam))
    assert before.get("gatehouse_build_info", version=before.text.split('version="')[1].split('"')[0]) == 1
    assert before.get("gatehouse_backend_up", route="/hc", backend=hc_dying.address) == 1
    promtool_check(before.text)

    # HTTP/1.1 and 1.0, with bodies both ways.
    assert get(gh, "/small").status == 200
    assert get(gh, "/small", "HTTP/1.0").status == 200
    assert http_request(gh.port, "POST", "/echo", body=b"x" * 1000, host=FRONT).status == 200
    # h2 by prior knowledge, and over TLS (ALPN h2) with a first handshake.
    assert curl_h2(f"http://{HOST}:{gh.port}/small", "--http2-prior-knowledge") == "200 2"
    assert curl_h2(f"https://{FRONT}:{gh.tls_port}/small", "--http2", "--cacert", str(pki.ca),
                   "--resolve", f"{FRONT}:{gh.tls_port}:{HOST}") == "200 2"
    # TLS 1.3 with a resumed session.
    ctx = th.client_context(cafile=pki.ca)
    with th.TlsClient(gh.tls_port, sni=FRONT, ctx=ctx) as c:
        assert c.request(target="/small", host=FRONT).status == 200
        session = c.sock.session
    with th.TlsClient(gh.tls_port, sni=FRONT, ctx=ctx, session=session) as c:
        assert c.sock.session_reused
        assert c.request(target="/small", host=FRONT).status == 200
    # A TLS handshake that fails (a plain HTTP request on the TLS port).
    with helpers.connect(gh.tls_port) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        helpers.closed_by_peer(s)
    # Policies, the cache, dead backends.
    assert get(gh, "/denied").status == 403
    assert [get(gh, "/limited").status for _ in range(2)] == [200, 429]
    assert get(gh, "/cached").status == 200
    assert get(gh, "/cached").status == 200
    assert get(gh, "/dead").status == 502
    # Both dead backends are ejected now (for a 1 s back-off).
    ejected = scrape(gh)
    for dead in (dead1, dead2):
        assert ejected.get("gatehouse_backend_up", route="/dead", backend=f"{HOST}:{dead}") == 0
    assert get(gh, "/nowhere-but-root/x").status in (200, 404)
    if waf:
        get(gh, "/waf/?q=<script>alert(1)</script>")

    # A WebSocket tunnel, open while we scrape.
    async def ws_open_scrape():
        async with websockets.connect(f"ws://{HOST}:{gh.port}/ws/echo", open_timeout=10,
                                      close_timeout=5, ping_interval=None) as ws:
            await ws.send("hi")
            assert await ws.recv() == "hi"
            return scrape(gh)
    during = asyncio.run(asyncio.wait_for(ws_open_scrape(), 20))
    assert during.get("gatehouse_tunnels_active") == 1
    assert during.get("gatehouse_downstream_connections_active") >= 1

    # An h2 request in progress: one stream open, one request at the backend.
    slow = subprocess.Popen(["curl", "-s", "-o", "/dev/null", "--max-time", "10",
                             "--http2-prior-knowledge", f"http://{HOST}:{gh.port}/sleep/1500"])
    try:
        busy = scrape_when(gh, lambda m: m.get("gatehouse_http2_streams_active") == 1)
        assert busy.get("gatehouse_http2_streams_active") == 1, "no HTTP/2 stream seen open"
        assert busy.get("gatehouse_backend_in_flight", route="/", backend=o.address) == 1
    finally:
        slow.wait(15)

    # The health-checked backend dies: its backend_up goes to 0.
    hc_dying.stop()
    assert wait_until(lambda: scrape(gh).get("gatehouse_backend_up", route="/hc",
                                             backend=hc_dying.address) == 0, timeout=10)

    m = scrape_when(gh, lambda m: m.get("gatehouse_tunnels_active") == 0)
    assert m.get("gatehouse_tunnels_active") == 0, "the tunnel did not close"
    promtool_check(m.text)
    for fam, typ in FAMILIES.items():
        if fam == "gatehouse_waf_detections_total" and not waf:
            continue
        assert m.types.get(fam) == typ, (fam, m.types.get(fam))

    rq = "gatehouse_http_requests_total"
    assert m.get(rq, route="/", status_class="2xx", protocol="http/1.1") >= 4
    assert m.get(rq, route="/", status_class="2xx", protocol="http/1.0") == 1
    assert m.get(rq, route="/", status_class="2xx", protocol="h2") == 3
    assert m.get(rq, route="/denied", status_class="4xx", protocol="http/1.1") == 1
    assert m.get(rq, route="/dead", status_class="5xx", protocol="http/1.1") == 1
    assert m.get(rq, route="/ws", status_class="1xx", protocol="http/1.1") == 1
    assert m.get("gatehouse_http_request_duration_seconds_count", route="/") >= 8
    assert m.get("gatehouse_http_request_duration_seconds_bucket", route="/", le="1") < \
        m.get("gatehouse_http_request_duration_seconds_bucket", route="/", le="2.5")   # the 1.5 s one
    assert m.get("gatehouse_http_request_duration_seconds_bucket", route="/", le="+Inf") == \
        m.get("gatehouse_http_request_duration_seconds_count", route="/")
    assert m.get("gatehouse_upstream_duration_seconds_count", backend=o.address) >= 8
    assert m.get("gatehouse_http_request_body_bytes_total", route="/") >= 1000
    assert m.get("gatehouse_http_response_body_bytes_total", route="/") >= 500
    assert m.get("gatehouse_downstream_connections_total", listener="http") >= 8
    assert m.get("gatehouse_downstream_connections_total", listener="https") >= 4
    assert m.get("gatehouse_downstream_connections_total", listener="admin") >= 3
    assert m.get("gatehouse_http2_streams_active") == 0
    assert m.get("gatehouse_tls_handshakes_total", version="TLSv1.3", resumed="true") >= 1
    assert m.get("gatehouse_tls_handshakes_total", version="TLSv1.3", resumed="false") >= 2
    assert m.get("gatehouse_tls_handshake_errors_total") >= 1
    for dead in (dead1, dead2):
        b = f"{HOST}:{dead}"
        assert m.get("gatehouse_backend_failures_total", route="/dead", backend=b) == 1
        assert m.get("gatehouse_backend_ejections_total", route="/dead", backend=b) == 1
    assert m.get("gatehouse_retries_total", route="/dead") == 1
    assert m.get("gatehouse_proxy_errors_total", route="/dead", error="connection_refused") == 1
    assert m.get("gatehouse_backend_up", route="/hc", backend=hc_live.address) == 1
    assert m.get("gatehouse_backend_requests_total", route="/", backend=o.address) >= 8
    assert m.get("gatehouse_backend_in_flight", route="/", backend=o.address) == 0
    assert m.get("gatehouse_upstream_connects_total") >= 2
    assert m.get("gatehouse_upstream_idle_connections") >= 1
    assert m.get("gatehouse_policy_denials_total", route="/denied", policy="access") == 1
    assert m.get("gatehouse_policy_denials_total", route="/limited", policy="rate_limit") == 1
    assert m.get("gatehouse_proxy_errors_total", route="/denied", error="http_request_denied") == 1
    assert m.get("gatehouse_cache_requests_total", route="/cached", result="miss") == 1
    assert m.get("gatehouse_cache_requests_total", route="/cached", result="hit") == 1
    assert m.get("gatehouse_cache_stored_bytes", route="/cached") > 0
    if waf:
        assert m.get("gatehouse_waf_detections_total", route="/waf") == 1
    assert m.get("gatehouse_rate_limit_store_decisions_total") == 0
    assert m.get("process_resident_memory_bytes") > 1e6
    assert m.get("process_open_fds") > 5
    assert m.get("process_cpu_seconds_total") > 0


def test_counters_survive_reload(gatehouse, origin, tmp_path):
    o1, o2 = origin(), origin()
    admin_port = free_port()
    cfg = {"server": {"host": HOST, "port": free_port(), "workers": 2,
                      "reverse_proxy": [lb_route([o1, o2], "/keep"), route(o1, "/gone")]},
           "admin": {"enabled": True, "host": HOST, "port": admin_port}}
    gh = gatehouse(cfg)
    gh.admin_port = admin_port
    for _ in range(6):
        assert get(gh, "/keep/small").status == 200
    assert get(gh, "/gone/small").status == 200
    rq = dict(name="gatehouse_http_requests_total", route="/keep", status_class="2xx", protocol="http/1.1")
    # A request is counted when its log line is written, just after its last
    # byte went out: the client can scrape before that.
    m1 = scrape_when(gh, lambda m: m.get(**rq) == 6 and m.get(
        "gatehouse_http_requests_total", route="/gone", status_class="2xx", protocol="http/1.1") == 1)
    status1 = http_request(admin_port, "GET", "/status", host="localhost").json()

    # Routes reordered, one removed, one added; /keep's backends stay.
    cfg["server"]["reverse_proxy"] = [route(o2, "/new"), lb_route([o2, o1], "/keep")]
    gh.config_path.write_text(helpers.to_yaml(cfg) + "\n")
    gh.signal(signal.SIGHUP)
    assert wait_until(lambda: scrape(gh).get("gatehouse_config_reloads_total", result="success") == 1)
    for _ in range(2):
        assert get(gh, "/keep/small").status == 200
    m2 = scrape_when(gh, lambda m: m.get(**rq) == 8)
    assert m1.get(**rq) == 6 and m2.get(**rq) == 8
    for b in (o1, o2):
        before = m1.get("gatehouse_backend_requests_total", route="/keep", backend=b.address)
        after = m2.get("gatehouse_backend_requests_total", route="/keep", backend=b.address)
        assert before >= 1 and after >= before, (b.address, before, after)
    assert m2.sum("gatehouse_backend_requests_total", route="/keep") == 8
    assert m2.get("gatehouse_backend_up", route="/gone", backend=o1.address) is None
    assert m2.get("gatehouse_backend_requests_total", route="/new", backend=o2.address) == 0
    # The old route's request counters stay (a counter never goes back).
    assert m2.get("gatehouse_http_requests_total", route="/gone", status_class="2xx",
                  protocol="http/1.1") == 1

    # /status counters survive too.
    status2 = http_request(admin_port, "GET", "/status", host="localhost").json()

    def keep_requests(st):
        r = next(r for r in st["routes"] if r["path"] == "/keep")
        return sum(b["requests"] for b in r["backends"])
    assert keep_requests(status1) == 6 and keep_requests(status2) == 8, (status1, status2)

    # A reload that fails counts as one.
    gh.config_path.write_text("server: {reverse_proxy: [{path: nope}]}\n")
    gh.signal(signal.SIGHUP)
    assert wait_until(lambda: scrape(gh).get("gatehouse_config_reloads_total", result="failure") == 1)
    promtool_check(scrape(gh).text)
