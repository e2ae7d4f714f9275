"""TLS passthrough by SNI (issue 17, `streams` entries with `sni`): on the
TLS listener gatehouse peeks at the ClientHello and relays connections that
name a listed server untouched to the stream's backend (the TLS, client
certificates included, ends there), while every other connection is
terminated as before. Covers an mTLS agent end to end, mixed passthrough and
terminated names on one port, ClientHellos cut into TCP writes and into TLS
records, garbage and silence instead of a ClientHello, no SNI, ECH, the PROXY
header out (also after a PROXY header in), and a reload that adds a stream.

Certificates are made at test time by trustme; nothing secret is committed.
"""

import random
import signal
import socket
import ssl
import struct
import time
from types import SimpleNamespace

import pytest
import trustme

import helpers
import ops_helpers
import tls_helpers as th
from helpers import HOST, free_port, route

AGENTS = "agents.example.test"     # passed through to the mTLS backend
APP = "app.example.test"           # terminated by gatehouse, proxied as HTTP
T = 10.0                           # socket timeout for every client here


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    ca = trustme.CA()
    client_ca = trustme.CA()
    p = SimpleNamespace(dir=d, ca_obj=ca)
    p.ca = th.write_ca(ca, d / "ca.pem")
    p.client_ca = th.write_ca(client_ca, d / "client-ca.pem")
    p.front = th.write_leaf(ca, d, "front", [APP, "default.test"], "gatehouse-front")
    p.backend = th.write_leaf(ca, d, "backend", [AGENTS], "agents-backend")
    p.agent = th.write_leaf(client_ca, d, "agent", ["agent-7.example.test"], "agent-7")
    return p


@pytest.fixture
def mtls_backend(pki):
    """A TLS server for AGENTS that requires a client certificate from the
    client CA and answers each request with JSON about the connection."""
    started = []

    def start(**kw):
        b = th.TlsBackend(pki.backend.cert, pki.backend.key, client_ca=pki.client_ca,
                          name="agents", **kw)
        started.append(b)
        return b

    yield start
    for b in started:
        b.stop()


def stream_entry(backend_port, names=(AGENTS,), **more):
    e = {"sni": list(names), "backends": [{"address": f"{HOST}:{backend_port}"}]}
    e.update(more)
    return e


def front_config(pki, origin, streams=None, timeouts=None, **server_more):
    server = {"reverse_proxy": [route(origin, "/")], **server_more}
    if timeouts:
        server["timeouts"] = timeouts
    cfg = {"server": server,
           "ssl": {"enabled": True, "port": free_port(), "cert_file": str(pki.front.cert),
                   "key_file": str(pki.front.key)}}
    if streams:
        cfg["streams"] = streams
    return cfg


def agent_context(pki, **kw):
    """What a GoCD-style agent uses: trusts the CA, sends its certificate."""
    ctx = th.client_context(cafile=pki.ca, **kw)
    ctx.load_cert_chain(str(pki.agent.cert), str(pki.agent.key))
    return ctx


def agent_request(port, pki, sni=AGENTS):
    """GET / over a fresh verified mTLS connection; (peer CN, JSON body)."""
    with th.TlsClient(port, sni=sni, ctx=agent_context(pki), timeout=T) as c:
        r = c.request("GET", "/", host=sni)
        assert r.status == 200, r
        return c.peer_cn, r.json()


def app_request(port, pki):
    """GET /small terminated by gatehouse; (peer CN, response)."""
    with th.TlsClient(port, sni=APP, cafile=pki.ca, timeout=T) as c:
        r = c.request("GET", "/small", host=APP)
        return c.peer_cn, r


# --------------------------------------------------------------------------
# A TLS client through memory BIOs: the test decides how its ClientHello
# leaves (TCP writes, TLS records), then the handshake goes on as usual.


def records(data):
    """Splits TLS records: [(type, fragment)]."""
    out = []
    i = 0
    while i < len(data):
        typ, _ver, n = struct.unpack("!BHH", data[i:i + 5])
        out.append((typ, data[i + 5:i + 5 + n]))
        i += 5 + n
    return out


def record(fragment, typ=22):
    return struct.pack("!BHH", typ, 0x0301, len(fragment)) + fragment


def add_extension(hello, ext_type, data):
    """The single-record ClientHello `hello` with one more extension at the
    end of its extensions block (all lengths fixed up)."""
    [(typ, msg)] = records(hello)
    assert typ == 22 and msg[0] == 1
    body = msg[4:]
    i = 2 + 32
    i += 1 + body[i]                                   # session id
    i += 2 + struct.unpack("!H", body[i:i + 2])[0]     # cipher suites
    i += 1 + body[i]                                   # compression methods
    exts = body[i + 2:] + struct.pack("!HH", ext_type, len(data)) + data
    body = body[:i] + struct.pack("!H", len(exts)) + exts
    return record(b"\x01" + len(body).to_bytes(3, "big") + body)


class BioClient:
    def __init__(self, port, sni, ctx):
        self.sock = socket.create_connection((HOST, port), timeout=T)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.inc = ssl.MemoryBIO()
        self.out = ssl.MemoryBIO()
        self.tls = ctx.wrap_bio(self.inc, self.out, server_hostname=sni)

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def client_hello(self):
        with pytest.raises(ssl.SSLWantReadError):
            self.tls.do_handshake()
        return self.out.read()

    def send_in_pieces(self, data, cuts, delay):
        start = 0
        for c in list(cuts) + [len(data)]:
            self.sock.sendall(data[start:c])
            start = c
            time.sleep(delay)

    def _pump_in(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("server closed")
        self.inc.write(data)

    def _flush(self):
        pending = self.out.read()
        if pending:
            self.sock.sendall(pending)

    def finish_handshake(self):
        while True:
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self._flush()
                self._pump_in()
        self._flush()

    def peer_cn(self):
        return th.cn_of_der(self.tls.getpeercert(binary_form=True))

    def get(self, host, target="/"):
        self.tls.write(f"GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
                       .encode())
        self._flush()
        got = bytearray()
        while True:
            try:
                chunk = self.tls.read(65536)
                if not chunk:
                    break
                got += chunk
            except ssl.SSLWantReadError:
                try:
                    self._pump_in()
                except EOFError:
                    break
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                break
            head, sep, body = bytes(got).partition(b"\r\n\r\n")
            if sep:
                start, headers = helpers.parse_head(head + sep)
                n = int(dict((k.lower(), v) for k, v in headers).get("content-length", -1))
                if 0 <= n <= len(body):
                    return start, body[:n]
        raise AssertionError(f"no whole response: {bytes(got)[:300]!r}")


def closed_within(sock, seconds):
    """True when the peer closes (EOF or reset) within `seconds`; whatever
    it sends before (a TLS alert) is read and ignored."""
    sock.settimeout(0.2)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if not sock.recv(65536):
                return True
        except socket.timeout:
            continue
        except OSError:
            return True
    return False


# --------------------------------------------------------------------------
# (a) an mTLS agent end to end, (b) mixed names on one port


def test_mtls_agent_passes_through_and_other_names_are_terminated(gatehouse, origin, pki,
                                                                  mtls_backend):
    b = mtls_backend()
    o = origin()
    gh = gatehouse(front_config(pki, o, [stream_entry(b.port)]))
    tp = gh.tls_port
    for _ in range(2):
        # The agent sees the backend's certificate, the backend the agent's.
        cn, seen = agent_request(tp, pki)
        assert cn == "agents-backend"
        assert seen["client_cn"] == "agent-7" and seen["sni"] == AGENTS
        assert seen["backend"] == "agents"
        # The same port terminates other names with gatehouse's certificate
        # and proxies them as HTTP to the route.
        cn, r = app_request(tp, pki)
        assert cn == "gatehouse-front"
        assert r.status == 200 and r.body == b"hello, world\n"
    # The backend's TLS was the agent's: no handshake failed there.
    assert len(b.handshakes) == 2 and not b.failures


def test_agent_without_client_certificate_is_refused_by_the_backend(gatehouse, origin, pki,
                                                                    mtls_backend):
    """The backend, not gatehouse, asks for the certificate: an agent
    without one fails there (proof the TLS is end to end)."""
    b = mtls_backend()
    gh = gatehouse(front_config(pki, origin(), [stream_entry(b.port)]))
    with pytest.raises((ssl.SSLError, OSError, EOFError, AssertionError)):
        with th.TlsClient(gh.tls_port, sni=AGENTS, cafile=pki.ca, timeout=T) as c:
            c.request("GET", "/", host=AGENTS)
    assert helpers.wait_until(lambda: b.failures, 5)


# --------------------------------------------------------------------------
# (c) a ClientHello cut into TCP writes, (d) into TLS records


@pytest.mark.parametrize("cuts", [(1,), (5,), (3, 40, 41, 200)])
def test_client_hello_in_delayed_tcp_writes(gatehouse, origin, pki, mtls_backend, cuts):
    b = mtls_backend()
    gh = gatehouse(front_config(pki, origin(), [stream_entry(b.port)]))
    with BioClient(gh.tls_port, AGENTS, agent_context(pki)) as c:
        hello = c.client_hello()
        c.send_in_pieces(hello, cuts, 0.15)
        c.finish_handshake()
        assert c.peer_cn() == "agents-backend"
        start, body = c.get(AGENTS)
        assert start.startswith("HTTP/1.1 200") and b'"client_cn": "agent-7"' in body
    with BioClient(gh.tls_port, APP, th.client_context(cafile=pki.ca)) as c:
        hello = c.client_hello()
        c.send_in_pieces(hello, cuts, 0.15)
        c.finish_handshake()
        assert c.peer_cn() == "gatehouse-front"
        start, body = c.get(APP, "/small")
        assert start.startswith("HTTP/1.1 200") and body == b"hello, world\n"


@pytest.mark.parametrize("cut", [2, 4, 60])
def test_client_hello_split_across_tls_records(gatehouse, origin, pki, mtls_backend, cut):
    b = mtls_backend()
    gh = gatehouse(front_config(pki, origin(), [stream_entry(b.port)]))
    for sni, ctx, want_cn, target in ((AGENTS, agent_context(pki), "agents-backend", "/"),
                                      (APP, th.client_context(cafile=pki.ca), "gatehouse-front",
                                       "/small")):
        with BioClient(gh.tls_port, sni, ctx) as c:
            [(typ, msg)] = records(c.client_hello())
            two = record(msg[:cut]) + record(msg[cut:])
            c.send_in_pieces(two, [len(record(msg[:cut]))], 0.1)   # and in two writes
            c.finish_handshake()
            assert c.peer_cn() == want_cn
            start, _ = c.get(sni, target)
            assert start.startswith("HTTP/1.1 200")


# --------------------------------------------------------------------------
# (e) garbage instead of a ClientHello


def test_garbage_instead_of_a_client_hello(gatehouse, origin, pki, mtls_backend):
    b = mtls_backend()
    gh = gatehouse(front_config(pki, origin(), [stream_entry(b.port)],
                                timeouts={"client_header": "1s"}))
    tp = gh.tls_port
    rng = random.Random(17)
    hello = BioClient(tp, AGENTS, agent_context(pki))
    real = hello.client_hello()
    hello.close()
    inputs = [bytes(rng.randrange(256) for _ in range(300)),
              b"\x16\x03\x01" + bytes(rng.randrange(256) for _ in range(600)),
              b"GET / HTTP/1.1\r\nHost: " + AGENTS.encode() + b"\r\n\r\n",
              b"\x80\x2e\x01\x00\x02" + bytes(40),                    # SSLv2-style hello
              real[:5] + b"\x02" + real[6:]]                           # a "ServerHello"
    for data in inputs:
        with socket.create_connection((HOST, tp), timeout=T) as s:
            s.sendall(data)
            assert closed_within(s, 5), data[:20]
    # A truncated record, then silence past client_header (1 s): closed,
    # while other clients are served meanwhile.
    with socket.create_connection((HOST, tp), timeout=T) as s:
        s.sendall(real[:20])
        t0 = time.monotonic()
        cn, seen = agent_request(tp, pki)
        assert cn == "agents-backend" and seen["client_cn"] == "agent-7"
        assert app_request(tp, pki)[1].status == 200
        assert closed_within(s, 5)
        assert time.monotonic() - t0 >= 0.7
    # Nothing reached the backend but the real agent.
    assert len(b.handshakes) == 1 and not b.failures
    assert gh.proc.poll() is None


def test_many_silent_connections_do_not_hold_the_listener(gatehouse, origin, pki, mtls_backend):
    """More half-sent ClientHellos than a worker serves before parking new
    connections (256): the parked ones are peeked when their bytes come."""
    b = mtls_backend()
    # One worker, so the 300 connections are all on it.
    gh = gatehouse(front_config(pki, origin(), [stream_entry(b.port)], workers=1))
    tp = gh.tls_port
    idle = []
    try:
        for _ in range(300):
            idle.append(socket.create_connection((HOST, tp), timeout=T))
        # Connections past the first 256 per worker wait parked for their
        # first bytes: send a whole hello on some of those and on a fresh one.
        for sni, ctx, cn_want in ((AGENTS, agent_context(pki), "agents-backend"),
                                  (APP, th.client_context(cafile=pki.ca), "gatehouse-front")):
            with BioClient(tp, sni, ctx) as c:
                c.sock.sendall(c.client_hello())
                c.finish_handshake()
                assert c.peer_cn() == cn_want
                start, _ = c.get(sni, "/small")
                assert start.startswith("HTTP/1.1 200")
        hello_sock = idle[-1]
        bio = BioClient.__new__(BioClient)
        bio.sock = hello_sock
        bio.inc, bio.out = ssl.MemoryBIO(), ssl.MemoryBIO()
        bio.tls = agent_context(pki).wrap_bio(bio.inc, bio.out, server_hostname=AGENTS)
        hello_sock.sendall(bio.client_hello())
        bio.finish_handshake()
        assert bio.peer_cn() == "agents-backend"
    finally:
        for s in idle:
            s.close()


# --------------------------------------------------------------------------
# (f) no SNI and ECH fall to termination


def test_no_sni_and_ech_are_terminated(gatehouse, origin, pki, mtls_backend):
    b = mtls_backend()
    gh = gatehouse(front_config(pki, origin(), [stream_entry(b.port)]))
    tp = gh.tls_port
    # By IP, no SNI: gatehouse's default certificate.
    with th.TlsClient(tp, sni=None, verify=False, timeout=T) as c:
        assert c.peer_cn == "gatehouse-front"
        assert c.request("GET", "/small", host=APP).status == 200
    # ECH offered (an encrypted_client_hello extension): the SNI is then
    # only the public name, so the listed name does not pass it through.
    # The altered hello cannot finish a handshake; gatehouse answering it
    # (a ServerHello) and the backend never seeing it is the proof.
    with BioClient(tp, AGENTS, agent_context(pki)) as c:
        ech = add_extension(c.client_hello(), 0xfe0d, b"\x00" + bytes(40))
        c.sock.sendall(ech)
        first = c.sock.recv(5)
        assert first[:1] == b"\x16", first      # a handshake record: gatehouse's ServerHello
    # The unaltered hello with the same name passes through.
    assert agent_request(tp, pki)[0] == "agents-backend"
    time.sleep(0.3)
    assert len(b.conns) == 1


# --------------------------------------------------------------------------
# (g) the PROXY header out carries the client's address


class ProxyV2TlsBackend(th.TlsBackend):
    """The mTLS backend behind a PROXY v2 header: reads the header off the
    socket, then does TLS on the rest."""

    def __init__(self, *a, **kw):
        self.headers = []
        super().__init__(*a, **kw)

    def _serve(self, sock):
        sock.settimeout(5.0)
        try:
            head = sock.recv(16, socket.MSG_WAITALL)
            assert head[:12] == b"\r\n\r\n\x00\r\nQUIT\n", head
            n = struct.unpack("!H", head[14:16])[0]
            rest = sock.recv(n, socket.MSG_WAITALL) if n else b""
            self.headers.append(head + rest)
        except (OSError, AssertionError, struct.error):
            sock.close()
            return
        super()._serve(sock)


def test_proxy_v2_header_out_carries_the_client(gatehouse, origin, pki):
    b = ProxyV2TlsBackend(pki.backend.cert, pki.backend.key, client_ca=pki.client_ca,
                          name="agents")
    try:
        gh = gatehouse(front_config(pki, origin(),
                                    [stream_entry(b.port, proxy_protocol="v2")]))
        raw = socket.create_connection((HOST, gh.tls_port), timeout=T)
        client_port = raw.getsockname()[1]
        s = agent_context(pki).wrap_socket(raw, server_hostname=AGENTS)
        with s:
            assert th.cn_of_der(s.getpeercert(binary_form=True)) == "agents-backend"
        assert helpers.wait_until(lambda: b.headers, 5)
        h = b.headers[0]
        assert h[12] == 0x21 and h[13] == 0x11     # v2 PROXY, TCP over IPv4
        src, dst, sport, dport = struct.unpack("!4s4sHH", h[16:28])
        assert socket.inet_ntoa(src) == HOST and sport == client_port
        assert socket.inet_ntoa(dst) == HOST and dport == gh.tls_port
        assert helpers.wait_until(lambda: b.handshakes, 5)
        assert b.handshakes[0].client_cn == "agent-7"
    finally:
        b.stop()


def test_proxy_v2_in_then_passthrough_sends_the_headers_client_on(gatehouse, origin, pki):
    """server.proxy_protocol on (gatehouse behind an L4 balancer): the
    client and address an incoming PROXY header names are what the sni
    stream's PROXY header out carries."""
    b = ProxyV2TlsBackend(pki.backend.cert, pki.backend.key, client_ca=pki.client_ca,
                          name="agents")
    try:
        gh = gatehouse(front_config(pki, origin(), [stream_entry(b.port, proxy_protocol="v2")],
                                    proxy_protocol=True, trusted_proxies=["127.0.0.1/32"]))
        raw = socket.create_connection((HOST, gh.tls_port), timeout=T)
        raw.sendall(b"\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c"
                    + socket.inet_aton("203.0.113.7") + socket.inet_aton("198.51.100.1")
                    + struct.pack("!HH", 4321, 443))
        s = agent_context(pki).wrap_socket(raw, server_hostname=AGENTS)
        with s:
            assert th.cn_of_der(s.getpeercert(binary_form=True)) == "agents-backend"
        assert helpers.wait_until(lambda: b.headers, 5)
        src, dst, sport, dport = struct.unpack("!4s4sHH", b.headers[0][16:28])
        assert (socket.inet_ntoa(src), sport) == ("203.0.113.7", 4321)
        assert (socket.inet_ntoa(dst), dport) == ("198.51.100.1", 443)
        # Terminated names behind the same header work as before.
        raw = socket.create_connection((HOST, gh.tls_port), timeout=T)
        raw.sendall(b"PROXY TCP4 203.0.113.8 198.51.100.1 4322 443\r\n")
        with th.client_context(cafile=pki.ca).wrap_socket(raw, server_hostname=APP) as t:
            assert th.cn_of_der(t.getpeercert(binary_form=True)) == "gatehouse-front"
    finally:
        b.stop()


def proxy_v2(src, dst, sport, dport):
    return (b"\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c" + socket.inet_aton(src)
            + socket.inet_aton(dst) + struct.pack("!HH", sport, dport))


def test_parked_passthrough_keeps_the_proxy_headers_destination(gatehouse, origin, pki):
    """Past 256 connections a worker parks new ones until their first bytes
    (in Asio, then after 100 ms in its IdleSet): the destination a PROXY
    header in named must survive both to reach the PROXY header out."""
    b = ProxyV2TlsBackend(pki.backend.cert, pki.backend.key, client_ca=pki.client_ca,
                          name="agents")
    idle = []
    try:
        # The backend keeps its half of a connection open after the client's
        # FIN (half-close is passed on): a short drain bounds the teardown.
        gh = gatehouse(front_config(pki, origin(), [stream_entry(b.port, proxy_protocol="v2")],
                                    timeouts={"shutdown_drain": "3s"},
                                    workers=1, proxy_protocol=True,
                                    trusted_proxies=["127.0.0.1/32"]))
        tp = gh.tls_port
        for i in range(300):
            c = socket.create_connection((HOST, tp), timeout=T)
            c.sendall(proxy_v2("203.0.113.%d" % (i % 200 + 1), "198.51.100.9", 5000 + i, 8443))
            idle.append(c)
        time.sleep(0.5)   # the last ones parked, then moved to the IdleSet
        # One that waited in the IdleSet...
        with agent_context(pki).wrap_socket(idle.pop(), server_hostname=AGENTS) as s:
            assert th.cn_of_der(s.getpeercert(binary_form=True)) == "agents-backend"
        # ...and a fresh one, parked in Asio with its bytes already there.
        raw = socket.create_connection((HOST, tp), timeout=T)
        raw.sendall(proxy_v2("203.0.113.250", "198.51.100.10", 4444, 9443))
        with agent_context(pki).wrap_socket(raw, server_hostname=AGENTS) as s:
            assert th.cn_of_der(s.getpeercert(binary_form=True)) == "agents-backend"
        assert helpers.wait_until(lambda: len(b.headers) >= 2, 5)
        got = set()
        for h in b.headers:
            src, dst, sport, dport = struct.unpack("!4s4sHH", h[16:28])
            got.add((socket.inet_ntoa(src), sport, socket.inet_ntoa(dst), dport))
        assert got == {("203.0.113.100", 5299, "198.51.100.9", 8443),
                       ("203.0.113.250", 4444, "198.51.100.10", 9443)}, got
    finally:
        for c in idle:
            c.close()
        b.stop()


# --------------------------------------------------------------------------
# (h) a reload that adds an sni stream


def test_reload_adds_an_sni_stream(gatehouse, origin, pki, mtls_backend):
    b = mtls_backend()
    o = origin()
    gh = gatehouse(front_config(pki, o))
    tp = gh.tls_port
    # Before: gatehouse terminates the name (its own certificate).
    assert th.peer_cn(tp, AGENTS) == "gatehouse-front"
    cfg = dict(gh.config, streams=[stream_entry(b.port)])
    gh.config_path.write_text(helpers.to_yaml(cfg) + "\n")
    gh.signal(signal.SIGHUP)
    assert helpers.wait_until(lambda: ops_helpers.reloads_done(gh) >= 1, 10), gh.logs()[-3000:]
    assert helpers.wait_until(lambda: th.peer_cn(tp, AGENTS) != "gatehouse-front", 10)
    cn, seen = agent_request(tp, pki)
    assert cn == "agents-backend" and seen["client_cn"] == "agent-7"
    assert app_request(tp, pki)[0] == "gatehouse-front"
