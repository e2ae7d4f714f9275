"""The compress policy (CONTRACT.md "Policies", `compress`): responses coded
on the fly in zstd, br or gzip as the client's Accept-Encoding allows, with
every rule of the contract, over HTTP/1.1 (curl and raw sockets) and HTTP/2.
Decoding uses zlib (stdlib), python3-brotli and python3-zstandard."""

import gzip
import socket
import subprocess
import threading
import time
import zlib

import pytest

import helpers
import hostile
from helpers import SockReader, build_request, canned, connect, read_response, route

brotli = pytest.importorskip("brotli")
zstandard = pytest.importorskip("zstandard")

TEXT = (b"<html><body>" + b"".join(b"<p>line %d of a page that compresses well</p>\n" % i
                                   for i in range(400)) + b"</body></html>\n")


def decode(coding, data):
    if coding == "gzip":
        return gzip.decompress(data)
    if coding == "br":
        return brotli.decompress(data)
    if coding == "zstd":
        # A stream without a content size in its frame header: decode as a stream.
        return zstandard.ZstdDecompressor().decompressobj().decompress(data)
    assert coding is None, coding
    return data


def backend_response(req):
    """What the test backend answers, by path."""
    path = req.target.split("?")[0]
    ct = {"/html": "text/html; charset=utf-8", "/json": "application/json",
          "/png": "image/png", "/sse": "text/event-stream", "/none": None,
          "/upper": "TEXT/HTML"}.get(path, "text/html")
    headers = []
    if ct:
        headers.append(("Content-Type", ct))
    body = TEXT
    if path == "/small":
        body = b"<p>tiny</p>"
    if path == "/etag":
        headers.append(("ETag", '"v1"'))
    if path == "/weak-etag":
        headers.append(("ETag", 'W/"v1"'))
    if path == "/vary":
        headers.append(("Vary", "Cookie"))
    if path == "/vary-ae":
        headers.append(("Vary", "accept-encoding"))
    if path == "/encoded":
        headers.append(("Content-Encoding", "gzip"))
        body = gzip.compress(TEXT)
    if path == "/no-transform":
        headers.append(("Cache-Control", "public, no-transform"))
    if path == "/ranges":
        headers.append(("Accept-Ranges", "bytes"))
    if path == "/204":
        return canned(204, headers)
    if path == "/304":
        return canned(304, headers + [("ETag", '"v1"')], b"")
    if path == "/206":
        return canned(206, headers + [("Content-Range", f"bytes 0-99/{len(TEXT)}")], TEXT[:100])
    if path == "/chunked":
        out = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in (TEXT[:3000], TEXT[3000:]) if p)
        return canned(200, headers + [("Transfer-Encoding", "chunked")], out + b"0\r\n\r\n")
    return canned(200, headers, body)


def get(gh, path, ae=None, method="GET", extra=()):
    headers = [("Accept-Encoding", ae)] if ae is not None else []
    headers += list(extra)
    with connect(gh.port) as s:
        s.sendall(build_request(method, path, headers=headers))
        return read_response(SockReader(s), method=method)


@pytest.fixture
def front(gatehouse, capture_backend):
    def make(compress=True, server_wide=None):
        b = capture_backend(response=backend_response)
        r = route(b, "/")
        if compress is not None:
            r["compress"] = compress
        srv = {"reverse_proxy": [r]}
        if server_wide is not None:
            srv["compress"] = server_wide
        return gatehouse({"server": srv}), b
    return make


@pytest.mark.parametrize("ae,want", [
    ("gzip", "gzip"),
    ("br", "br"),
    ("zstd", "zstd"),
    ("gzip, deflate, br, zstd", "zstd"),        # ties: the server's order (zstd, br, gzip)
    ("gzip;q=1.0, br;q=0.8", "gzip"),           # q-values first
    ("br;q=0, gzip", "gzip"),                   # q=0: not acceptable
    ("*", "zstd"),
    ("*;q=0.1, gzip;q=0.5", "gzip"),
    ("GZIP", "gzip"),
    ("x-gzip", "gzip"),
    ("deflate", None),                          # nothing we offer
    ("identity", None),
    ("", None),
    (None, None),                               # no Accept-Encoding: never coded
])
def test_negotiation(front, ae, want):
    gh, _ = front()
    r = get(gh, "/html", ae)
    assert r.status == 200
    assert r.header("content-encoding") == want, r.headers
    assert decode(want, r.body) == TEXT
    assert "Accept-Encoding" in r.header("vary", ""), r.headers
    if want:
        assert r.header("content-length") is None and r.header("transfer-encoding") == "chunked"
        assert len(r.body) < len(TEXT) // 3
    else:
        assert r.header("content-length") == str(len(TEXT))


def test_configured_order_and_algorithms(front):
    gh, _ = front({"algorithms": ["gzip", "br"]})
    assert get(gh, "/html", "zstd, br, gzip").header("content-encoding") == "gzip"
    assert get(gh, "/html", "zstd").header("content-encoding") is None
    assert get(gh, "/html", "br").header("content-encoding") == "br"


def test_strong_etag_made_weak_weak_kept(front):
    gh, _ = front()
    r = get(gh, "/etag", "gzip")
    assert r.header("etag") == 'W/"v1"', r.headers
    r = get(gh, "/weak-etag", "gzip")
    assert r.header("etag") == 'W/"v1"', r.headers
    r = get(gh, "/etag", None)   # not coded: the validator stays strong
    assert r.header("etag") == '"v1"', r.headers


def test_vary_merged_once(front):
    gh, _ = front()
    r = get(gh, "/vary", "gzip")
    assert r.headers_all("vary") == ["Cookie, Accept-Encoding"], r.headers
    r = get(gh, "/vary-ae", "gzip")
    assert r.headers_all("vary") == ["accept-encoding"], r.headers
    r = get(gh, "/html", "gzip")
    assert r.headers_all("vary") == ["Accept-Encoding"], r.headers


@pytest.mark.parametrize("path,method", [
    ("/png", "GET"), ("/sse", "GET"), ("/none", "GET"), ("/small", "GET"), ("/encoded", "GET"),
    ("/no-transform", "GET"), ("/html", "HEAD"), ("/204", "GET"), ("/304", "GET"), ("/206", "GET"),
])
def test_not_compressed(front, path, method):
    gh, _ = front()
    r = get(gh, path, "gzip, br, zstd", method=method)
    want_ce = "gzip" if path == "/encoded" else None   # the backend's own coding, untouched
    assert r.header("content-encoding") == want_ce, (path, r.headers)
    if path == "/encoded":
        assert gzip.decompress(r.body) == TEXT
        assert r.headers_all("vary") == [], r.headers   # not ours to vary
    if path in ("/png", "/html") and method == "GET":
        assert r.body == TEXT


def test_head_varies_as_get_does_but_is_not_coded(front):
    gh, _ = front()
    r = get(gh, "/html", "gzip", method="HEAD")
    assert r.header("content-encoding") is None and r.body == b"", r.headers
    assert r.headers_all("vary") == ["Accept-Encoding"], r.headers
    assert r.header("content-length") == str(len(TEXT))


def test_identity_preferred_by_q_value(front):
    gh, _ = front()
    r = get(gh, "/html", "gzip;q=0.001, identity;q=1")
    assert r.header("content-encoding") is None and r.body == TEXT, r.headers


def test_media_type_matching_ignores_case_and_parameters(front):
    gh, _ = front()
    assert get(gh, "/upper", "gzip").header("content-encoding") == "gzip"
    assert get(gh, "/json", "gzip").header("content-encoding") == "gzip"


def test_types_and_min_size_configurable(front):
    gh, _ = front({"types": ["image/*"], "min_size": "10"})
    assert get(gh, "/png", "gzip").header("content-encoding") == "gzip"
    assert get(gh, "/html", "gzip").header("content-encoding") is None
    gh2, _ = front({"min_size": "1m"})
    assert get(gh2, "/html", "gzip").header("content-encoding") is None
    # A body of unknown length is compressed whatever min_size says.
    r = get(gh2, "/chunked", "gzip")
    assert r.header("content-encoding") == "gzip" and decode("gzip", r.body) == TEXT


def test_accept_ranges_dropped_when_coded(front):
    gh, _ = front()
    r = get(gh, "/ranges", "gzip")
    assert r.header("content-encoding") == "gzip" and not r.has("accept-ranges"), r.headers
    r = get(gh, "/ranges", None)
    assert r.header("accept-ranges") == "bytes"


def test_server_wide_default_and_route_override(front):
    gh, _ = front(compress=None, server_wide=True)
    assert get(gh, "/html", "gzip").header("content-encoding") == "gzip"
    gh2, _ = front(compress=False, server_wide=True)
    r = get(gh2, "/html", "gzip")
    assert r.header("content-encoding") is None and r.body == TEXT
    assert not r.has("vary")


def test_off_by_default(front):
    gh, _ = front(compress=None)
    r = get(gh, "/html", "gzip")
    assert r.header("content-encoding") is None and not r.has("vary")


def test_backend_still_gets_accept_encoding(front):
    gh, b = front()
    get(gh, "/html", "gzip, br")
    assert b.last.header("accept-encoding") == "gzip, br"


def test_http10_client_gets_coded_body_until_close(front):
    gh, _ = front()
    with connect(gh.port) as s:
        s.sendall(b"GET /html HTTP/1.0\r\nHost: example.test\r\nAccept-Encoding: gzip\r\n\r\n")
        r = read_response(SockReader(s))
    assert r.header("content-encoding") == "gzip" and decode("gzip", r.body) == TEXT


def test_keep_alive_many_coded_responses_on_one_connection(front):
    gh, _ = front()
    with connect(gh.port) as s:
        rd = SockReader(s)
        for i, ae in enumerate(["gzip", "br", "zstd", "identity", "gzip"] * 4):
            s.sendall(build_request("GET", f"/html?{i}", headers=[("Accept-Encoding", ae)]))
            r = read_response(rd)
            want = None if ae == "identity" else ae
            assert r.header("content-encoding") == want
            assert decode(want, r.body) == TEXT


@pytest.mark.deadline(30)
def test_each_backend_chunk_is_flushed_at_once(gatehouse):
    """A stream (long poll, logs, SSE as text/plain) reaches the client
    chunk by chunk: the first chunk is decodable while the backend holds the
    second back."""
    release = threading.Event()

    def handler(conn, req):
        conn.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n")
        first = b"event one " * 200
        conn.send(b"%x\r\n%s\r\n" % (len(first), first))
        release.wait(10)
        second = b"event two " * 200
        conn.send(b"%x\r\n%s\r\n0\r\n\r\n" % (len(second), second))
        return False

    b = hostile.RawBackend(handler)
    try:
        r = route(b, "/")
        r["compress"] = True
        gh = gatehouse({"server": {"reverse_proxy": [r]}})
        for coding in ("gzip", "br", "zstd"):
            release.clear()
            _fed.clear()   # (decoder states are keyed by id(): never reuse one across codings)
            with connect(gh.port) as s:
                s.sendall(build_request("GET", "/stream", headers=[("Accept-Encoding", coding)]))
                data = b""
                got = b""
                d = {"gzip": lambda: zlib.decompressobj(16 + zlib.MAX_WBITS),
                     "br": lambda: brotli.Decompressor(),
                     "zstd": lambda: zstandard.ZstdDecompressor().decompressobj()}[coding]()
                deadline = time.monotonic() + 5
                head_end = -1
                while b"event one " * 200 not in got and time.monotonic() < deadline:
                    s.settimeout(max(0.05, deadline - time.monotonic()))
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                    head_end = data.find(b"\r\n\r\n")
                    if head_end < 0:
                        continue
                    body = dechunk_partial(data[head_end + 4:])
                    got = feed(d, body, coding)
                assert b"event one " * 200 in got, (coding, data[:300])
                assert b"event two" not in got
                release.set()
                rest = read_response_rest(s, data)
                assert b"event two " * 200 in decode(coding, rest), coding
    finally:
        release.set()
        b.stop()


def dechunk_partial(raw):
    """Payload of the complete chunks in `raw` (a chunked body so far)."""
    out = b""
    while True:
        nl = raw.find(b"\r\n")
        if nl < 0:
            return out
        size = int(raw[:nl].split(b";")[0], 16)
        if size == 0 or len(raw) < nl + 2 + size + 2:
            return out
        out += raw[nl + 2:nl + 2 + size]
        raw = raw[nl + 2 + size + 2:]


_fed = {}


def feed(d, body, coding):
    """Decodes what is new in `body` with decompressor `d`; returns all decoded so far."""
    done, text = _fed.get(id(d), (0, b""))
    new = body[done:]
    if new:
        text += d.process(new) if coding == "br" else d.decompress(new)
    _fed[id(d)] = (len(body), text)
    return text


def read_response_rest(s, data):
    """The whole coded body, given the bytes read so far."""
    s.settimeout(10)
    while not data.endswith(b"0\r\n\r\n"):
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    head_end = data.find(b"\r\n\r\n")
    return dechunk_partial(data[head_end + 4:])


def test_curl_compressed(front):
    gh, _ = front()
    p = subprocess.run(["curl", "-sS", "--compressed", "-D", "-", "-o", "-",
                        "-H", "Host: example.test", gh.url("/html")],
                       capture_output=True, timeout=20)
    assert p.returncode == 0, p.stderr
    head, _, body = p.stdout.partition(b"\r\n\r\n")
    assert b"content-encoding: " in head.lower(), head
    assert body == TEXT


def test_http2_client(front):
    h2c = pytest.importorskip("h2.connection")
    import h2.config
    import h2.events
    gh, _ = front()
    with socket.create_connection((helpers.HOST, gh.port), timeout=10) as s:
        c = h2c.H2Connection(h2.config.H2Configuration(client_side=True))
        c.initiate_connection()
        want = {1: "br", 3: "gzip", 5: "zstd", 7: None}
        for sid, coding in want.items():
            hdrs = [(":method", "GET"), (":scheme", "http"), (":authority", "example.test"),
                    (":path", "/etag")]
            if coding:
                hdrs.append(("accept-encoding", coding))
            c.send_headers(sid, hdrs, end_stream=True)
        s.sendall(c.data_to_send())
        heads, bodies, ended = {}, {sid: b"" for sid in want}, set()
        deadline = time.monotonic() + 10
        while len(ended) < len(want) and time.monotonic() < deadline:
            for ev in c.receive_data(s.recv(65536)):
                if isinstance(ev, h2.events.ResponseReceived):
                    heads[ev.stream_id] = {k.decode(): v.decode() for k, v in ev.headers}
                elif isinstance(ev, h2.events.DataReceived):
                    bodies[ev.stream_id] += ev.data
                    c.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                elif isinstance(ev, h2.events.StreamEnded):
                    ended.add(ev.stream_id)
            data = c.data_to_send()
            if data:
                s.sendall(data)
    for sid, coding in want.items():
        h = heads[sid]
        assert h.get("content-encoding") == coding, h
        assert "content-length" not in h or coding is None, h
        assert h.get("etag") == ('W/"v1"' if coding else '"v1"'), h
        assert decode(coding, bodies[sid]) == TEXT
