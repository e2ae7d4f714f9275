"""The JSON access log's upstream_status, tls_version, http_version and
trace_id fields, and W3C Trace Context's traceparent on its way upstream
(issue 16, "Logs"; docs/operations.md, docs/configuration.md server.traceparent).

Each field is checked on HTTP/1.0, HTTP/1.1 and HTTP/2 (python3-h2), plain
and over TLS 1.2 and 1.3 (python's ssl with maximum_version), on requests
gatehouse answers itself (upstream_status null) and on a backend's 503.
traceparent: passed upstream unchanged with tracestate and logged; with
`server.traceparent: start` one is made for a request without a valid one
and sent upstream and logged; an invalid one is replaced in start mode and,
in pass mode, forwarded unchanged like any other field but not logged
(trace_id null). Backends are capture backends: they show the exact fields
gatehouse sent.
"""

import re
import socket
import ssl
import subprocess
import uuid

import pytest

import helpers
from helpers import SockReader, connect, route, wait_until

h2 = pytest.importorskip("h2")
import h2.config  # noqa: E402
import h2.connection  # noqa: E402
import h2.events  # noqa: E402

pytestmark = pytest.mark.deadline(40)

TP = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
TP_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TS = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"
STARTED_RE = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-00")
FIELDS = ("upstream_status", "tls_version", "http_version", "trace_id")

RESP_503 = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
            b"Content-Length: 4\r\n\r\nbusy")


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    d = tmp_path_factory.mktemp("log-fields")
    c, k = d / "cert.pem", d / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-sha256", "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost", "-keyout", str(k), "-out", str(c)],
                   check=True, capture_output=True, timeout=60)
    return c, k


def start(gatehouse, cert, backend, traceparent=None, **route_extra):
    routes = [route(backend, "/refused", access={"deny": ["127.0.0.1"]}),
              route(backend, "/", **route_extra)]
    server = {"workers": 1, "access_log": "stdout", "access_log_format": "json",
              "reverse_proxy": routes}
    if traceparent:
        server["traceparent"] = traceparent
    return gatehouse({"server": server,
                      "ssl": {"enabled": True, "port": helpers.free_port(),
                              "cert_file": str(cert[0]), "key_file": str(cert[1])}})


def unique(prefix="/t/"):
    return prefix + uuid.uuid4().hex


def record(gh, path):
    """The access-log record of the request for `path` (the log is flushed every 100 ms)."""
    def find():
        recs = [r for r in gh.access_log() if r.get("path") == path]
        return recs[0] if recs else None
    r = wait_until(find, timeout=5.0)
    assert r is not None, f"no access-log line for {path}:\n{gh.stdout()[-3000:]}"
    for f in FIELDS:
        assert f in r, f"{f} missing from {r}"
    return r


def tls_ctx(version=None, alpn=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if version is not None:
        ctx.minimum_version = version
        ctx.maximum_version = version
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx


def h1(port, path, version="1.1", headers=(), ctx=None):
    """One HTTP/1.x GET; returns the response."""
    sock = connect(port)
    if ctx is not None:
        sock = ctx.wrap_socket(sock, server_hostname="localhost")
    try:
        lines = [f"GET {path} HTTP/{version}", "Host: front.test", "Connection: close"]
        lines += [f"{k}: {v}" for k, v in headers]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        return helpers.read_response(SockReader(sock))
    finally:
        sock.close()


def h2_get(port, path, headers=(), ctx=None):
    """One HTTP/2 GET (h2c with prior knowledge, or ALPN h2 over `ctx`); returns the status."""
    sock = connect(port)
    if ctx is not None:
        sock = ctx.wrap_socket(sock, server_hostname="localhost")
        assert sock.selected_alpn_protocol() == "h2"
    try:
        conn = h2.connection.H2Connection(
            config=h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        conn.initiate_connection()
        sid = conn.get_next_available_stream_id()
        conn.send_headers(sid, [(":method", "GET"), (":scheme", "https" if ctx else "http"),
                                (":authority", "front.test"), (":path", path), *headers],
                          end_stream=True)
        sock.sendall(conn.data_to_send())
        status, done = None, False
        sock.settimeout(10)
        while not done:
            data = sock.recv(65536)
            assert data, "connection closed before the response ended"
            for ev in conn.receive_data(data):
                if isinstance(ev, h2.events.ResponseReceived) and ev.stream_id == sid:
                    status = int(dict(ev.headers)[":status"])
                elif isinstance(ev, h2.events.DataReceived):
                    conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                elif isinstance(ev, (h2.events.StreamEnded, h2.events.StreamReset)) and \
                        ev.stream_id == sid:
                    done = True
            out = conn.data_to_send()
            if out:
                sock.sendall(out)
        return status
    finally:
        sock.close()


def sent_upstream(backend, path):
    """The request the backend received for `path`."""
    def find():
        return next((r for r in list(backend.requests) if r.start_line.split()[1] == path), None)
    r = wait_until(find, timeout=5.0)
    assert r is not None, f"the backend got no request for {path}"
    return r


# --------------------------------------------------------------------------
# http_version, tls_version, upstream_status on each protocol


@pytest.mark.parametrize("version", ["1.0", "1.1"])
def test_http1_plain(gatehouse, capture_backend, cert, version):
    b = capture_backend()
    gh = start(gatehouse, cert, b)
    p = unique()
    assert h1(gh.port, p, version).status == 200
    r = record(gh, p)
    assert r["http_version"] == version
    assert r["tls_version"] is None
    assert r["upstream_status"] == 200
    assert r["trace_id"] is None


def test_h2c_plain(gatehouse, capture_backend, cert):
    b = capture_backend()
    gh = start(gatehouse, cert, b)
    p = unique()
    assert h2_get(gh.port, p) == 200
    r = record(gh, p)
    assert r["http_version"] == "2"
    assert r["tls_version"] is None
    assert r["upstream_status"] == 200


@pytest.mark.parametrize("tls,name", [(ssl.TLSVersion.TLSv1_2, "TLSv1.2"),
                                      (ssl.TLSVersion.TLSv1_3, "TLSv1.3")])
def test_tls_versions_http1_and_h2(gatehouse, capture_backend, cert, tls, name):
    b = capture_backend()
    gh = start(gatehouse, cert, b)
    p1, p10, p2 = unique(), unique(), unique()
    assert h1(gh.tls_port, p1, "1.1", ctx=tls_ctx(tls, ["http/1.1"])).status == 200
    assert h1(gh.tls_port, p10, "1.0", ctx=tls_ctx(tls)).status == 200
    assert h2_get(gh.tls_port, p2, ctx=tls_ctx(tls, ["h2"])) == 200
    for p, hv in ((p1, "1.1"), (p10, "1.0"), (p2, "2")):
        r = record(gh, p)
        assert r["tls_version"] == name, r
        assert r["http_version"] == hv, r
        assert r["upstream_status"] == 200, r


def test_keep_alive_requests_each_carry_the_fields(gatehouse, capture_backend, cert):
    """The TLS version is taken once per connection: every request on it logs it."""
    b = capture_backend()
    gh = start(gatehouse, cert, b)
    sock = tls_ctx(ssl.TLSVersion.TLSv1_3).wrap_socket(connect(gh.tls_port), server_hostname="x")
    paths = [unique() for _ in range(3)]
    try:
        reader = SockReader(sock)
        for p in paths:
            sock.sendall(f"GET {p} HTTP/1.1\r\nHost: front.test\r\n\r\n".encode())
            assert helpers.read_response(reader).status == 200
    finally:
        sock.close()
    for p in paths:
        assert record(gh, p)["tls_version"] == "TLSv1.3"


def test_unparsable_request_logs_nothing_of_the_previous_one(gatehouse, capture_backend, cert):
    """A head that does not parse, after a request with a body on the same
    connection: its 400 line logs no body bytes and no backend (it had
    carried the previous request's bytes_received)."""
    b = capture_backend()
    gh = start(gatehouse, cert, b)
    p = unique()
    body = b"x" * 12345
    sock = connect(gh.port)
    try:
        reader = SockReader(sock)
        sock.sendall(f"POST {p} HTTP/1.1\r\nHost: front.test\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                     + body)
        assert helpers.read_response(reader).status == 200
        sock.sendall(b"BOGUS\r\n\r\n")
        assert helpers.read_response(reader).status == 400
    finally:
        sock.close()
    assert record(gh, p)["bytes_received"] == 12345

    def bad():
        recs = [r for r in gh.access_log() if r.get("status") == 400]
        return recs[0] if recs else None
    r = wait_until(bad, timeout=5.0)
    assert r is not None, gh.stdout()[-3000:]
    assert r["bytes_received"] == 0, r
    assert not r.get("backend"), r


# --------------------------------------------------------------------------
# upstream_status: the backend's status, null without an upstream exchange


def test_policy_refused_has_no_upstream_status(gatehouse, capture_backend, cert):
    b = capture_backend()
    gh = start(gatehouse, cert, b)
    p = unique("/refused/")
    assert h1(gh.port, p).status == 403
    p2 = unique("/refused/")
    assert h2_get(gh.tls_port, p2, ctx=tls_ctx(alpn=["h2"])) == 403
    for path in (p, p2):
        r = record(gh, path)
        assert r["status"] == 403
        assert r["policy"] == "access"
        assert r["upstream_status"] is None
    assert not b.requests


def test_backend_503_is_logged_as_upstream_status(gatehouse, capture_backend, cert):
    b = capture_backend(response=RESP_503)
    gh = start(gatehouse, cert, b, retries=0)
    p, p2 = unique(), unique()
    assert h1(gh.port, p).status == 503
    assert h2_get(gh.port, p2) == 503
    for path in (p, p2):
        r = record(gh, path)
        assert r["status"] == 503
        assert r["upstream_status"] == 503


def test_unreachable_backend_has_no_upstream_status(gatehouse, cert):
    gh = start(gatehouse, cert, helpers.free_port(), retries=0)
    p = unique()
    assert h1(gh.port, p).status in (502, 503)
    r = record(gh, p)
    assert r["upstream_status"] is None
    assert r["proxy_status"]


# --------------------------------------------------------------------------
# traceparent


@pytest.mark.parametrize("mode", [None, "pass", "start"])
def test_valid_traceparent_passes_unchanged_and_is_logged(gatehouse, capture_backend, cert, mode):
    b = capture_backend()
    gh = start(gatehouse, cert, b, traceparent=mode)
    p1, p2 = unique(), unique()
    assert h1(gh.port, p1, headers=[("traceparent", TP), ("tracestate", TS)]).status == 200
    assert h2_get(gh.port, p2, headers=[("traceparent", TP), ("tracestate", TS)]) == 200
    for p in (p1, p2):
        up = sent_upstream(b, p)
        assert up.headers_all("traceparent") == [TP]
        assert up.headers_all("tracestate") == [TS]
        assert record(gh, p)["trace_id"] == TP_ID


def test_future_version_passes_and_is_logged(gatehouse, capture_backend, cert):
    b = capture_backend()
    gh = start(gatehouse, cert, b, traceparent="start")
    future = "cc-" + TP[3:] + "-whatever-comes-next"
    p = unique()
    assert h1(gh.port, p, headers=[("traceparent", future)]).status == 200
    assert sent_upstream(b, p).headers_all("traceparent") == [future]
    assert record(gh, p)["trace_id"] == TP_ID


def test_start_mode_starts_a_trace(gatehouse, capture_backend, cert):
    b = capture_backend()
    gh = start(gatehouse, cert, b, traceparent="start")
    p1, p2, p3 = unique(), unique(), unique()
    assert h1(gh.port, p1).status == 200
    assert h1(gh.port, p2).status == 200
    assert h2_get(gh.tls_port, p3, ctx=tls_ctx(alpn=["h2"])) == 200
    ids = set()
    for p in (p1, p2, p3):
        tps = sent_upstream(b, p).headers_all("traceparent")
        assert len(tps) == 1, tps
        m = STARTED_RE.fullmatch(tps[0])
        assert m, tps[0]
        assert m.group(1) != "0" * 32 and m.group(2) != "0" * 16
        assert record(gh, p)["trace_id"] == m.group(1)
        ids.add(m.group(1))
    assert len(ids) == 3   # random, one per request


def test_start_mode_logs_a_trace_for_its_own_answers(gatehouse, capture_backend, cert):
    b = capture_backend()
    gh = start(gatehouse, cert, b, traceparent="start")
    p = unique("/refused/")
    assert h1(gh.port, p).status == 403
    assert re.fullmatch(r"[0-9a-f]{32}", record(gh, p)["trace_id"] or "")


@pytest.mark.parametrize("bad", [
    "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",   # uppercase
    "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",   # version ff
    "00-00000000000000000000000000000000-00f067aa0ba902b7-01",   # all-zero trace-id
    "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",   # all-zero parent-id
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",  # version 00 with more
    "garbage",
])
def test_invalid_traceparent_replaced_in_start_mode(gatehouse, capture_backend, cert, bad):
    b = capture_backend()
    gh = start(gatehouse, cert, b, traceparent="start")
    p1, p2 = unique(), unique()
    assert h1(gh.port, p1, headers=[("traceparent", bad), ("tracestate", TS)]).status == 200
    assert h2_get(gh.port, p2, headers=[("traceparent", bad), ("tracestate", TS)]) == 200
    for p in (p1, p2):
        up = sent_upstream(b, p)
        tps = up.headers_all("traceparent")
        assert len(tps) == 1 and tps[0] != bad, tps
        m = STARTED_RE.fullmatch(tps[0])
        assert m, tps[0]
        # The tracestate belonged to the trace that was replaced.
        assert up.headers_all("tracestate") == []
        assert record(gh, p)["trace_id"] == m.group(1)


def test_repeated_traceparent_is_invalid(gatehouse, capture_backend, cert):
    b = capture_backend()
    gh = start(gatehouse, cert, b, traceparent="start")
    p = unique()
    other = "00-11111111111111111111111111111111-2222222222222222-01"
    assert h1(gh.port, p, headers=[("traceparent", TP), ("traceparent", other)]).status == 200
    tps = sent_upstream(b, p).headers_all("traceparent")
    assert len(tps) == 1 and STARTED_RE.fullmatch(tps[0]), tps
    assert record(gh, p)["trace_id"] not in (TP_ID, "1" * 32)


def test_invalid_traceparent_passes_unlogged_in_pass_mode(gatehouse, capture_backend, cert):
    b = capture_backend()
    gh = start(gatehouse, cert, b)
    bad = "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01"
    p1, p2, p3 = unique(), unique(), unique()
    assert h1(gh.port, p1, headers=[("traceparent", bad), ("tracestate", TS)]).status == 200
    assert h2_get(gh.port, p2, headers=[("traceparent", bad)]) == 200
    assert h1(gh.port, p3).status == 200
    for p in (p1, p2):
        assert sent_upstream(b, p).headers_all("traceparent") == [bad]
        assert record(gh, p)["trace_id"] is None
    assert sent_upstream(b, p1).headers_all("tracestate") == [TS]
    # pass mode never starts one
    assert sent_upstream(b, p3).headers_all("traceparent") == []
    assert record(gh, p3)["trace_id"] is None


def test_combined_format_is_unchanged(gatehouse, capture_backend, cert):
    """nginx's combined format plus gatehouse's three trailing fields, nothing new."""
    b = capture_backend()
    gh = gatehouse({"server": {"workers": 1, "access_log": "stdout", "access_log_format": "combined",
                               "traceparent": "start", "reverse_proxy": [route(b, "/")]}})
    p = unique()
    assert h1(gh.port, p).status == 200
    line = wait_until(lambda: next((ln for ln in gh.stdout().splitlines() if p in ln), None))
    assert line, gh.stdout()
    assert re.fullmatch(
        r'127\.0\.0\.1 - - \[[^\]]+\] "GET ' + re.escape(p) + r' HTTP/1\.1" 200 8 "-" "-" '
        r'\d+\.\d{3} "127\.0\.0\.1:\d+" "-"', line), line


# --------------------------------------------------------------------------
# HTTP/2 to the backend (upstream_protocol: http2, h2c)


class H2cBackend:
    """An h2c backend (python3-h2, prior knowledge) answering every stream
    with `status`; records each request's header list."""

    def __init__(self, status):
        import threading
        self.status = status
        self.requests = []
        self._stop = threading.Event()
        self.listener = helpers.local_listener()
        self.port = self.listener.getsockname()[1]
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def _accept(self):
        import threading
        for sock in helpers.accepted(self.listener, self._stop):
            t = threading.Thread(target=self._serve, args=(sock,), daemon=True)
            t.start()

    def _serve(self, sock):
        conn = h2.connection.H2Connection(
            config=h2.config.H2Configuration(client_side=False, header_encoding="utf-8"))
        conn.initiate_connection()
        sock.settimeout(0.2)
        try:
            sock.sendall(conn.data_to_send())
            while not self._stop.is_set():
                try:
                    data = sock.recv(65536)
                except socket.timeout:
                    continue
                if not data:
                    return
                for ev in conn.receive_data(data):
                    if isinstance(ev, h2.events.RequestReceived):
                        self.requests.append(list(ev.headers))
                        body = b"h2 backend"
                        conn.send_headers(ev.stream_id, [(":status", str(self.status)),
                                                         ("content-length", str(len(body)))])
                        conn.send_data(ev.stream_id, body, end_stream=True)
                out = conn.data_to_send()
                if out:
                    sock.sendall(out)
        except OSError:
            pass
        finally:
            sock.close()

    def stop(self):
        self._stop.set()
        self.listener.close()


@pytest.fixture
def h2c_backend():
    started = []

    def make(status):
        b = H2cBackend(status)
        started.append(b)
        return b
    yield make
    for b in started:
        b.stop()


def test_http2_upstream_status_and_traceparent(gatehouse, h2c_backend, cert):
    b = h2c_backend(503)
    gh = start(gatehouse, cert, b, traceparent="start", upstream_protocol="http2", retries=0)
    p1, p2 = unique(), unique()
    assert h1(gh.port, p1, headers=[("traceparent", TP), ("tracestate", TS)]).status == 503
    assert h2_get(gh.port, p2) == 503
    r1, r2 = record(gh, p1), record(gh, p2)
    assert r1["upstream_status"] == 503 and r2["upstream_status"] == 503
    sent = {dict(h)[":path"]: h for h in b.requests}
    h1_fields = [(k, v) for k, v in sent[p1] if k in ("traceparent", "tracestate")]
    assert h1_fields == [("traceparent", TP), ("tracestate", TS)]
    assert r1["trace_id"] == TP_ID
    started_tp = [v for k, v in sent[p2] if k == "traceparent"]
    assert len(started_tp) == 1 and STARTED_RE.fullmatch(started_tp[0]), started_tp
    assert r2["trace_id"] == started_tp[0][3:35]
