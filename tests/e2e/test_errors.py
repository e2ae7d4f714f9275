"""Failures get a name: Proxy-Status (RFC 9209) on every answer the proxy
makes itself, none on a backend's own errors; bad client input refused."""

import socket
import time

import pytest
import requests

import helpers
from helpers import build_request, connect, route

UNROUTABLE = "10.255.255.1"


def proxy_status(resp):
    headers = resp.headers if isinstance(resp, requests.Response) else None
    if headers is not None:
        return headers.get("Proxy-Status", "")
    return ", ".join(resp.headers_all("proxy-status"))


def assert_proxy_error(resp, status, errors, next_hop=None):
    code = resp.status_code if isinstance(resp, requests.Response) else resp.status
    ps = proxy_status(resp)
    assert code == status, (code, ps)
    assert "gatehouse" in ps, ps
    if isinstance(errors, str):
        errors = [errors]
    assert any(f"error={e}" in ps for e in errors), (errors, ps)
    if next_hop is not None:
        assert "next-hop=" in ps and next_hop in ps, (next_hop, ps)


def gh_for(gatehouse, port, host="127.0.0.1", **server):
    return gatehouse({"server": dict(server, reverse_proxy=[route(port, "/", host=host)])})


def test_connection_refused_502(gatehouse):
    dead = helpers.free_port()  # nothing listens there
    gh = gh_for(gatehouse, dead)
    r = requests.get(gh.url("/x"), timeout=10)
    assert_proxy_error(r, 502, "connection_refused", next_hop=str(dead))


def test_backend_closes_without_answer_502(gatehouse, capture_backend):
    b = capture_backend(mode="close")
    gh = gh_for(gatehouse, b.port)
    r = requests.get(gh.url("/x"), timeout=10)
    assert_proxy_error(r, 502, ["connection_terminated", "http_response_incomplete"])


def test_backend_truncated_response_502(gatehouse, capture_backend):
    b = capture_backend(response=b"HTTP/1.1 200 OK\r\nContent-Le", mode="respond_close")
    gh = gh_for(gatehouse, b.port)
    r = helpers.http_request(gh.port, "GET", "/x")
    # The head never completed, so the proxy can still answer for itself.
    assert r.status == 502, r


def test_upstream_response_timeout_504(gatehouse, capture_backend):
    b = capture_backend(mode="hang")
    gh = gh_for(gatehouse, b.port, timeouts={"upstream_response": "1s"})
    t0 = time.monotonic()
    r = requests.get(gh.url("/x"), timeout=15)
    elapsed = time.monotonic() - t0
    assert_proxy_error(r, 504, "http_response_timeout")
    assert 0.8 <= elapsed < 5, elapsed


def connect_hangs(host, port=80, wait=1.5):
    s = socket.socket()
    s.settimeout(wait)
    try:
        s.connect((host, port))
        return False
    except socket.timeout:
        return True
    except OSError:
        return False
    finally:
        s.close()


def test_connect_timeout_504(gatehouse):
    if not connect_hangs(UNROUTABLE):
        pytest.skip(f"{UNROUTABLE} does not black-hole connects here")
    gh = gh_for(gatehouse, 80, host=UNROUTABLE, timeouts={"connect": "1s"})
    t0 = time.monotonic()
    r = requests.get(gh.url("/x"), timeout=20)
    elapsed = time.monotonic() - t0
    assert_proxy_error(r, 504, "connection_timeout", next_hop=UNROUTABLE)
    assert elapsed < 8, elapsed  # one try, maybe a retry: never the OS's minutes


def test_backend_errors_pass_through_without_proxy_status(gatehouse, origin):
    o = origin()
    gh = gh_for(gatehouse, o.port)
    for code in (500, 502, 503, 504):
        r = requests.get(gh.url(f"/status/{code}"), timeout=10)
        assert r.status_code == code
        assert r.text == f"status {code}\n"
        assert "Proxy-Status" not in r.headers


MALFORMED = {
    "garbage_request_line": b"GARBAGE\r\n\r\n",
    "no_colon": b"GET / HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n",
    "space_before_colon": b"GET / HTTP/1.1\r\nHost : x\r\n\r\n",
    "obs_fold": b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n",
    "nul_in_header": b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n",
    "bare_cr": b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n",
    "two_content_lengths": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                           b"Content-Length: 4\r\n\r\nabcd",
    "bad_content_length": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3x\r\n\r\nabc",
    "negative_content_length": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    "bad_chunk_size": b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                      b"zz\r\nabc\r\n0\r\n\r\n",
    "space_in_target": b"GET /a b HTTP/1.1\r\nHost: x\r\n\r\n",
    "bad_version": b"GET / HTTP/1.x\r\nHost: x\r\n\r\n",
    "http11_without_host": b"GET / HTTP/1.1\r\n\r\n",
}


@pytest.fixture
def any_backend_gh(gatehouse, origin):
    o = origin()
    return gatehouse({"server": {"reverse_proxy": [route(o, "/")]}})


def test_malformed_requests_400(any_backend_gh):
    gh = any_backend_gh
    failures = []
    for name, raw in MALFORMED.items():
        data = helpers.raw_exchange(gh.port, raw)
        r = helpers.parse_raw_response(data)
        if r is None:
            failures.append(f"{name}: no response ({data[:80]!r})")
        elif r.status != 400:
            failures.append(f"{name}: status {r.status}")
        elif "gatehouse" not in proxy_status(r):
            failures.append(f"{name}: no Proxy-Status ({r.headers})")
    assert not failures, "\n".join(failures)


def test_content_length_with_transfer_encoding_400_and_close(any_backend_gh):
    gh = any_backend_gh
    with connect(gh.port) as s:
        s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n")
        r = helpers.read_response(helpers.SockReader(s))
        assert r.status == 400
        assert "gatehouse" in proxy_status(r)
        assert helpers.closed_by_peer(s), "connection left open after an ambiguous request"


def test_oversized_head_431(gatehouse, origin):
    o = origin()
    gh = gatehouse({"server": {"limits": {"max_header_bytes": "4k"},
                               "reverse_proxy": [route(o, "/")]}})
    ok = helpers.http_request(gh.port, "GET", "/", headers=[("X-Pad", "a" * 2000)])
    assert ok.status == 200
    data = helpers.raw_exchange(gh.port, build_request("GET", "/", headers=[("X-Big", "a" * 8000)]))
    r = helpers.parse_raw_response(data)
    assert r is not None and r.status == 431, data[:200]
    assert "gatehouse" in proxy_status(r)


def test_default_header_limit_431(any_backend_gh):
    data = helpers.raw_exchange(any_backend_gh.port,
                                build_request("GET", "/", headers=[("X-Big", "a" * 40000)]))
    r = helpers.parse_raw_response(data)
    assert r is not None and r.status == 431, data[:200]


def test_body_over_limit_413(gatehouse, origin):
    o = origin()
    gh = gatehouse({"server": {"limits": {"max_body_bytes": "1k"},
                               "reverse_proxy": [route(o, "/")]}})
    ok = helpers.http_request(gh.port, "POST", "/", body=b"a" * 1024)
    assert ok.status == 200 and ok.json()["body_bytes"] == 1024
    data = helpers.raw_exchange(gh.port, build_request("POST", "/", body=b"a" * 2000))
    r = helpers.parse_raw_response(data)
    assert r is not None and r.status == 413, data[:200]
    assert "gatehouse" in proxy_status(r)


def test_stalled_request_head_408_or_close(gatehouse, origin):
    o = origin()
    gh = gatehouse({"server": {"timeouts": {"client_header": "1s"},
                               "reverse_proxy": [route(o, "/")]}})
    t0 = time.monotonic()
    with connect(gh.port, timeout=8) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # never finished
        data = bytearray()
        try:
            while True:
                d = s.recv(65536)
                if not d:
                    break
                data += d
        except ConnectionResetError:
            pass
    elapsed = time.monotonic() - t0
    assert elapsed < 5, elapsed
    if data:
        r = helpers.parse_raw_response(bytes(data))
        assert r is not None and r.status == 408, data[:200]


def test_proxy_keeps_serving_after_errors(gatehouse, capture_backend, origin):
    """A failed exchange must not poison the client connection or the process."""
    o = origin()
    dead = helpers.free_port()
    gh = gatehouse({"server": {"reverse_proxy": [route(dead, "/dead"), route(o, "/")]}})
    with connect(gh.port) as s:
        rd = helpers.SockReader(s)
        s.sendall(build_request("GET", "/dead/x"))
        r = helpers.read_response(rd)
        assert r.status == 502
        if (r.header("connection") or "").lower() != "close":
            s.sendall(build_request("GET", "/small"))
            assert helpers.read_response(rd).body == b"hello, world\n"
    assert requests.get(gh.url("/small"), timeout=10).text == "hello, world\n"


def test_unsupported_transfer_encoding(any_backend_gh):
    data = helpers.raw_exchange(any_backend_gh.port,
                                b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n")
    r = helpers.parse_raw_response(data)
    assert r is not None and r.status in (400, 501), data[:200]
    assert "gatehouse" in proxy_status(r)

