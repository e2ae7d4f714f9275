"""server.proxy_protocol (CONTRACT "L4 streams, PROXY protocol, ACME"): a
connection from trusted_proxies must start with a PROXY v1 or v2 header
(HAProxy's proxy-protocol.txt), whose source address is then the client for
X-Forwarded-For / X-Real-IP, access rules, rate limits and the access log;
any other peer is refused before a byte of it is read, and a trusted peer
without a valid header in time is closed without an HTTP response.

The tests connect from 127.0.0.1, which is the "balancer"; the addresses the
headers carry are documentation ranges (RFC 5737 / RFC 3849).
"""

import re
import socket
import ssl
import struct
import subprocess
import time

import pytest

import helpers
from helpers import SockReader, build_request, connect, read_response, route, wait_until

pytestmark = pytest.mark.deadline(40)

SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def v1(src, dst=None, sport=40001, dport=443):
    fam = "TCP6" if ":" in src else "TCP4"
    dst = dst or ("2001:db8::100" if fam == "TCP6" else "192.0.2.100")
    return f"PROXY {fam} {src} {dst} {sport} {dport}\r\n".encode()


def v2(src=None, dst=None, sport=40001, dport=443, command=1, tlvs=b"", fam=None, length=None):
    """A v2 header; src None: LOCAL-style empty address block (UNSPEC)."""
    if src is None:
        body, fam_byte = b"", 0x00
    elif ":" in src:
        dst = dst or "2001:db8::100"
        body = (socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(socket.AF_INET6, dst)
                + struct.pack("!HH", sport, dport))
        fam_byte = 0x21
    else:
        dst = dst or "192.0.2.100"
        body = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!HH", sport, dport)
        fam_byte = 0x11
    body += tlvs
    if fam is not None:
        fam_byte = fam
    n = len(body) if length is None else length
    return SIG + bytes([0x20 | command, fam_byte]) + struct.pack("!H", n) + body


def start(gatehouse, backend, trusted=("127.0.0.1/32",), extra_routes=(), tls_cert=None, **server):
    cfg = {"server": dict({"proxy_protocol": True, "trusted_proxies": list(trusted), "workers": 1,
                           "access_log": "stdout", "access_log_format": "json",
                           "reverse_proxy": list(extra_routes) + [route(backend, "/")]},
                          **server)}
    if tls_cert:
        cfg["ssl"] = {"enabled": True, "port": helpers.free_port(),
                      "cert_file": str(tls_cert[0]), "key_file": str(tls_cert[1])}
    return gatehouse(cfg)


def send_pieces(sock, pieces, delay=0.0):
    for i, p in enumerate(pieces):
        if i and delay:
            time.sleep(delay)
        sock.sendall(p)


def through(gh, header, target="/x", headers=None, pieces=None, delay=0.0):
    """One request after `header` (sent in `pieces` when given); the response."""
    with connect(gh.port, timeout=10) as s:
        req = build_request("GET", target, headers)
        if pieces:
            send_pieces(s, [*pieces[:-1], pieces[-1] + req], delay)
        else:
            s.sendall(header + req)
        return read_response(SockReader(s))


def backend_request(b, before):
    return b.wait_requests(before + 1)[before]


def log_record(gh, path):
    def find():
        recs = [r for r in gh.access_log() if r.get("path") == path]
        return recs[0] if recs else None
    rec = wait_until(find, timeout=5)
    assert rec, gh.stdout()[-2000:]
    return rec


def closed_without_response(sock, timeout=5.0):
    """(closed, bytes received) once the peer closes or `timeout` passes."""
    sock.settimeout(timeout)
    got = bytearray()
    try:
        while True:
            d = sock.recv(65536)
            if not d:
                return True, bytes(got)
            got += d
    except ConnectionResetError:
        return True, bytes(got)
    except socket.timeout:
        return False, bytes(got)


def assert_served(gh, b):
    """A well-formed connection through the balancer still works."""
    before = len(b.requests)
    r = through(gh, v1("198.51.100.77"), "/still")
    assert r.status == 200, r
    assert backend_request(b, before).headers_all("x-forwarded-for") == ["198.51.100.77"]


# --------------------------------------------------------------------------
# The client is the header's source


@pytest.mark.parametrize("header,client", [
    (v1("203.0.113.7"), "203.0.113.7"),
    (v1("2001:db8::7"), "2001:db8::7"),
    (v2("203.0.113.8"), "203.0.113.8"),
    (v2("2001:db8::8"), "2001:db8::8"),
    # TLVs (ALPN "h2", authority, NOOP) are skipped with the header
    (v2("203.0.113.9", tlvs=b"\x01\x00\x02h2\x02\x00\x0bexample.com\x04\x00\x00"), "203.0.113.9"),
], ids=["v1-tcp4", "v1-tcp6", "v2-ipv4", "v2-ipv6", "v2-tlvs"])
def test_header_source_is_the_client(gatehouse, capture_backend, header, client):
    b = capture_backend()
    gh = start(gatehouse, b)
    path = "/who-" + client.replace(":", "-").replace(".", "-")
    # The client's own X-Forwarded-For is not trusted: its address is not a proxy.
    r = through(gh, header, path, headers=[("X-Forwarded-For", "6.6.6.6")])
    assert r.status == 200, r
    req = backend_request(b, 0)
    assert req.headers_all("x-forwarded-for") == [client]
    assert req.headers_all("x-real-ip") == [client]
    assert log_record(gh, path)["client"] == client


@pytest.mark.parametrize("header", [v2(command=0), v2("203.0.113.1", command=0),
                                    b"PROXY UNKNOWN\r\n",
                                    b"PROXY UNKNOWN 203.0.113.1 192.0.2.1 1 2\r\n"],
                         ids=["v2-local", "v2-local-with-addresses", "v1-unknown",
                              "v1-unknown-with-rest"])
def test_local_and_unknown_keep_the_peer(gatehouse, capture_backend, header):
    b = capture_backend()
    gh = start(gatehouse, b)
    r = through(gh, header, "/local")
    assert r.status == 200, r
    assert backend_request(b, 0).headers_all("x-forwarded-for") == ["127.0.0.1"]
    assert log_record(gh, "/local")["client"] == "127.0.0.1"


def test_keepalive_requests_after_the_header_all_carry_its_source(gatehouse, capture_backend):
    b = capture_backend()
    gh = start(gatehouse, b)
    with connect(gh.port) as s:
        s.sendall(v2("203.0.113.20"))
        reader = SockReader(s)
        for i in range(3):
            s.sendall(build_request("GET", f"/ka{i}"))
            assert read_response(reader).status == 200
    reqs = b.wait_requests(3)
    assert [r.headers_all("x-forwarded-for") for r in reqs] == [["203.0.113.20"]] * 3


@pytest.mark.parametrize("header,client", [(v1("203.0.113.30"), "203.0.113.30"),
                                           (v2("203.0.113.30"), "203.0.113.30"),
                                           (v2("2001:db8::30"), "2001:db8::30")],
                         ids=["v1", "v2-ipv4", "v2-ipv6"])
def test_header_split_across_delayed_writes(gatehouse, capture_backend, header, client):
    b = capture_backend()
    gh = start(gatehouse, b)
    cuts = [1, 7, 13, len(header) - 1]
    pieces = [header[i:j] for i, j in zip([0] + cuts, cuts + [len(header)])]
    t0 = time.monotonic()
    r = through(gh, header, "/split", pieces=pieces, delay=0.15)
    assert r.status == 200, r
    assert time.monotonic() - t0 < 5
    assert backend_request(b, 0).headers_all("x-forwarded-for") == [client]


def test_header_and_request_split_mid_request(gatehouse, capture_backend):
    """The bytes after the header stay on the socket for HTTP, however they arrive."""
    b = capture_backend()
    gh = start(gatehouse, b)
    with connect(gh.port) as s:
        data = v1("203.0.113.31") + build_request("GET", "/mid")
        n = len(v1("203.0.113.31"))
        send_pieces(s, [data[: n - 3], data[n - 3 : n + 5], data[n + 5 :]], delay=0.1)
        assert read_response(SockReader(s)).status == 200
    assert backend_request(b, 0).headers_all("x-forwarded-for") == ["203.0.113.31"]


def test_header_source_that_is_itself_trusted_passes_on_its_chain(gatehouse, capture_backend):
    """One trust rule (client_address.h): X-Forwarded-For is believed only from
    a trusted client, and the header's source is that client."""
    b = capture_backend()
    gh = start(gatehouse, b, trusted=("127.0.0.1/32", "10.0.0.0/8"),
               extra_routes=[route(b, "/deny", access={"deny": ["192.0.2.9"]})])
    r = through(gh, v1("10.1.2.3"), "/chain", headers=[("X-Forwarded-For", "192.0.2.9")])
    assert r.status == 200, r
    req = backend_request(b, 0)
    xff = ", ".join(req.headers_all("x-forwarded-for")).replace(" ", "")
    assert xff == "192.0.2.9,10.1.2.3", xff
    assert req.headers_all("x-real-ip") == ["192.0.2.9"]
    # and the access rule sees the client that chain names
    r = through(gh, v1("10.1.2.3"), "/deny", headers=[("X-Forwarded-For", "192.0.2.9")])
    assert r.status == 403, r


def test_access_rules_see_the_header_address(gatehouse, capture_backend):
    b = capture_backend()
    gh = start(gatehouse, b, extra_routes=[
        route(b, "/deny", access={"deny": ["203.0.113.0/24"]}),
        route(b, "/allow", access={"allow": ["198.51.100.0/24"]})])
    assert through(gh, v2("203.0.113.40"), "/deny").status == 403
    assert through(gh, v2("198.51.100.40"), "/deny").status == 200
    assert through(gh, v1("198.51.100.41"), "/allow").status == 200
    assert through(gh, v1("203.0.113.41"), "/allow").status == 403
    # 127.0.0.1 (the balancer) is denied nothing here and allowed nothing either:
    # only the header's address counts.
    assert through(gh, v2(command=0), "/allow").status == 403


def test_rate_limit_keys_on_the_header_address(gatehouse, capture_backend):
    b = capture_backend()
    gh = start(gatehouse, b, extra_routes=[
        route(b, "/rl", rate_limit={"rate": "1/h", "burst": 1, "key": "client_ip"})])
    assert through(gh, v1("203.0.113.50"), "/rl").status == 200
    assert through(gh, v1("203.0.113.50"), "/rl").status == 429
    # another client behind the same balancer has its own bucket
    assert through(gh, v1("203.0.113.51"), "/rl").status == 200


def test_ip_hash_balances_on_the_header_address(gatehouse, capture_backend):
    """All connections come from 127.0.0.1: only the header's address can
    spread them over the backends, and each client sticks to its own."""
    from lb_helpers import lb_route
    b1, b2 = capture_backend(), capture_backend()
    cfg = {"server": {"proxy_protocol": True, "trusted_proxies": ["127.0.0.1/32"], "workers": 1,
                      "reverse_proxy": [lb_route([b1, b2], "/", balance="ip_hash")]}}
    gh = gatehouse(cfg)
    chosen = {}
    for i in range(16):
        src = f"198.51.100.{i + 1}"
        for _ in range(2):
            n1 = len(b1.requests)
            assert through(gh, v2(src), f"/h/{i}").status == 200
            backend = 1 if len(b1.requests) > n1 else 2
            assert chosen.setdefault(src, backend) == backend, src
    assert set(chosen.values()) == {1, 2}, chosen


# --------------------------------------------------------------------------
# Refusals


def test_untrusted_peer_is_refused_before_any_byte(gatehouse, capture_backend):
    b = capture_backend()
    gh = start(gatehouse, b, trusted=("10.0.0.0/8",))
    # Nothing sent: closed at once, not after client_header.
    with connect(gh.port) as s:
        t0 = time.monotonic()
        closed, got = closed_without_response(s, timeout=3)
        assert closed and got == b""
        assert time.monotonic() - t0 < 1.5
    # A valid header and a request: still no HTTP response.
    with connect(gh.port) as s:
        s.sendall(v1("203.0.113.60") + build_request("GET", "/untrusted"))
        closed, got = closed_without_response(s)
        assert closed and got == b"", got
    time.sleep(0.2)
    assert b.requests == []
    assert not any(r.get("path") == "/untrusted" for r in gh.access_log())


@pytest.mark.parametrize("data", [
    build_request("GET", "/plain"),                                   # no header at all
    b"\x16\x03\x01\x00\xa0\x01\x00\x00\x9c\x03\x03" + b"\x00" * 40,   # a ClientHello instead
    b"garbage\r\n\r\n" + build_request("GET", "/g"),
    b"PROXY TCP4  203.0.113.1 192.0.2.1 1 2\r\n" + build_request("GET", "/m"),   # double space
    b"PROXY TCP4 203.0.113.1 192.0.2.1 1 65536\r\n" + build_request("GET", "/m"),
    b"PROXY TCP6 203.0.113.1 192.0.2.1 1 2\r\n" + build_request("GET", "/m"),    # family mismatch
    b"PROXY TCP4 203.0.113.1 192.0.2.1 1 2\n" + build_request("GET", "/m"),      # LF alone
    b"PROXY UNKNOWN " + b"x" * 120 + b"\r\n" + build_request("GET", "/m"),        # over 107 bytes
    SIG[:11] + b"X" + v2("203.0.113.1")[12:] + build_request("GET", "/m"),     # bad v2 signature
    v2("203.0.113.1")[:12] + b"\x11" + v2("203.0.113.1")[13:] + build_request("GET", "/m"),   # version 1
    v2("203.0.113.1", length=600) + b"\x00" * 600 + build_request("GET", "/m"),   # over kMaxHeader
    v2("203.0.113.1", length=8) + build_request("GET", "/m"),          # too short for IPv4
    v2("203.0.113.1", fam=0x41) + build_request("GET", "/m"),          # unknown family
], ids=["no-header", "clienthello", "garbage", "v1-double-space", "v1-port", "v1-family",
        "v1-lf", "v1-too-long", "v2-signature", "v2-version", "v2-too-long", "v2-short",
        "v2-family"])
def test_trusted_peer_without_a_valid_header_is_closed_unanswered(gatehouse, capture_backend, data):
    b = capture_backend()
    gh = start(gatehouse, b)
    with connect(gh.port) as s:
        s.sendall(data)
        t0 = time.monotonic()
        closed, got = closed_without_response(s, timeout=5)
        assert closed, "still open"
        assert got == b"", got
        assert time.monotonic() - t0 < 2, "a bad header is refused at once, not at the deadline"
    assert b.requests == []
    assert_served(gh, b)
    assert "proxy_protocol" in gh.logs()   # the (rate-limited) warning names the cause


def test_slow_header_is_closed_at_client_header(gatehouse, capture_backend):
    b = capture_backend()
    gh = start(gatehouse, b, timeouts={"client_header": "1s"})
    with connect(gh.port) as slow, connect(gh.port) as silent:
        slow.sendall(b"PROXY TCP4 203.0.")
        t0 = time.monotonic()
        # Others are served meanwhile.
        assert_served(gh, b)
        closed, got = closed_without_response(slow, timeout=5)
        assert closed and got == b""
        waited = time.monotonic() - t0
        assert 0.7 < waited < 3.5, waited
        closed, got = closed_without_response(silent, timeout=3)
        assert closed and got == b""
    assert len(b.requests) == 1


def test_many_bad_connections_do_not_flood_the_log(gatehouse, capture_backend):
    b = capture_backend()
    gh = start(gatehouse, b, trusted=("10.0.0.0/8",))
    for _ in range(30):
        with connect(gh.port) as s:
            closed_without_response(s, timeout=2)
    lines = [l for l in gh.stderr().splitlines() if "proxy_protocol" in l]
    assert 1 <= len(lines) <= 2, lines


def test_refusals_are_counted_by_reason(gatehouse, capture_backend):
    """gatehouse_proxy_protocol_refused_total{reason}: 127.0.0.2 is a local
    address outside trusted_proxies."""
    b = capture_backend()
    admin_port = helpers.free_port()
    gh = gatehouse({
        "server": {"proxy_protocol": True, "trusted_proxies": ["127.0.0.1/32"], "workers": 1,
                   "timeouts": {"client_header": "1s"}, "reverse_proxy": [route(b, "/")]},
        "admin": {"enabled": True, "host": helpers.HOST, "port": admin_port}})

    def refused():
        r = helpers.http_request(admin_port, "GET", "/metrics", host="localhost")
        assert r.status == 200, r
        got = dict(re.findall(r'^gatehouse_proxy_protocol_refused_total\{reason="(\w+)"\} (\d+)$',
                              r.body.decode(), re.M))
        return [int(got[k]) for k in ("untrusted", "invalid", "incomplete")]

    assert refused() == [0, 0, 0]
    s = socket.socket()
    s.settimeout(5)
    s.bind(("127.0.0.2", 0))
    with s:
        s.connect((helpers.HOST, gh.port))
        assert closed_without_response(s) == (True, b"")
    for data in (b"GET / HTTP/1.1\r\n\r\n", b"PROXY TCP4 1.2.3.4\r\n"):
        with connect(gh.port) as c:
            c.sendall(data)
            assert closed_without_response(c) == (True, b"")
    for data in (b"PROXY TCP4 1.2", b""):   # slow, then silent: both at client_header
        with connect(gh.port) as c:
            c.sendall(data)
            assert closed_without_response(c) == (True, b"")
    with connect(gh.port) as c:   # gone before a header
        c.sendall(b"\r\n\r\n")
    assert wait_until(lambda: refused()[2] == 3, timeout=5)
    assert refused() == [1, 2, 3]
    assert through(gh, v1("203.0.113.90"), "/ok").status == 200
    assert refused() == [1, 2, 3]


# --------------------------------------------------------------------------
# TLS: the header comes first, then the handshake


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    d = tmp_path_factory.mktemp("pp-tls")
    c, k = d / "cert.pem", d / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-sha256", "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost", "-keyout", str(k), "-out", str(c)],
                   check=True, capture_output=True, timeout=60)
    return c, k


def tls_through(port, header, target, pieces_delay=0.0):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    raw = socket.create_connection((helpers.HOST, port), timeout=10)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if pieces_delay:
        send_pieces(raw, [header[:5], header[5:]], pieces_delay)
    else:
        raw.sendall(header)
    with ctx.wrap_socket(raw, server_hostname="localhost") as s:
        s.sendall(build_request("GET", target))
        return read_response(SockReader(s))


@pytest.mark.parametrize("header,client,delay", [
    (v2("203.0.113.70"), "203.0.113.70", 0.0),
    (v1("2001:db8::70"), "2001:db8::70", 0.0),
    (v1("203.0.113.71"), "203.0.113.71", 0.15),
], ids=["v2", "v1-ipv6", "v1-split"])
def test_over_tls(gatehouse, capture_backend, cert, header, client, delay):
    b = capture_backend()
    gh = start(gatehouse, b, tls_cert=cert)
    r = tls_through(gh.tls_port, header, "/tls", delay)
    assert r.status == 200, r
    req = backend_request(b, 0)
    assert req.headers_all("x-forwarded-for") == [client]
    assert req.headers_all("x-forwarded-proto") == ["https"]
    rec = log_record(gh, "/tls")
    assert rec["client"] == client
    assert rec.get("tls_version")


def test_tls_without_header_is_closed(gatehouse, capture_backend, cert):
    b = capture_backend()
    gh = start(gatehouse, b, tls_cert=cert)
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        with socket.create_connection((helpers.HOST, gh.tls_port), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                s.sendall(build_request("GET", "/nohdr"))
                read_response(SockReader(s))
    assert b.requests == []
    assert tls_through(gh.tls_port, v2("203.0.113.72"), "/after").status == 200


# --------------------------------------------------------------------------
# The header's destination, and stream listeners (found by a user's trial)


def test_forwarded_port_is_the_header_destination_port(gatehouse, capture_backend):
    """X-Forwarded-Port names the port the client connected to (the
    balancer's), not gatehouse's own listener port."""
    b = capture_backend()
    gh = start(gatehouse, b)
    r = through(gh, v1("203.0.113.7", dport=8443), "/port")
    assert r.status == 200
    assert backend_request(b, 0).headers_all("x-forwarded-port") == ["8443"]


def _raw_backend():
    """A TCP listener that records, per connection, every byte until EOF."""
    import threading
    lst = helpers.local_listener()
    stop = threading.Event()
    got = []

    def run():
        for c in helpers.accepted(lst, stop):
            c.settimeout(5)
            data = bytearray()
            try:
                while True:
                    d = c.recv(65536)
                    if not d:
                        break
                    data += d
            except OSError:
                pass
            got.append(bytes(data))
            c.close()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return lst, stop, got


def test_stream_listener_takes_the_header_and_sends_its_own(gatehouse, capture_backend):
    """server.proxy_protocol covers `streams` listeners: the incoming header
    is taken off (never relayed as data) and its addresses are what the
    stream's own PROXY header carries; a connection without one is refused."""
    b = capture_backend()
    lst, stop, got = _raw_backend()
    try:
        sport = helpers.free_port()
        cfg = {"server": {"proxy_protocol": True, "trusted_proxies": ["127.0.0.1/32"], "workers": 1,
                          "reverse_proxy": [route(b, "/")]},
               "streams": [{"listen": f"127.0.0.1:{sport}", "proxy_protocol": "v1",
                            "backends": [{"address": f"127.0.0.1:{lst.getsockname()[1]}"}]}]}
        gatehouse(cfg)
        with socket.create_connection(("127.0.0.1", sport), timeout=5) as s:
            s.sendall(v2("203.0.113.9", "198.51.100.4", 40009, 5432) + b"hello")
            s.shutdown(socket.SHUT_WR)
            s.recv(10)
        assert wait_until(lambda: got, timeout=5), "backend saw no connection"
        assert got[0] == b"PROXY TCP4 203.0.113.9 198.51.100.4 40009 5432\r\nhello"
        # Without a header: refused, nothing reaches the backend.
        with socket.create_connection(("127.0.0.1", sport), timeout=5) as s:
            s.sendall(b"hello")
            closed, data = closed_without_response(s)
            assert closed and data == b""
        time.sleep(0.3)
        assert len(got) == 1, got
    finally:
        stop.set()
        lst.close()
