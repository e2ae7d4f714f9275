"""Broken backends: each misbehaviour gives the client the named 502/504 with
Proxy-Status (docs/operations.md), or - once the head went out - a cleanly
aborted body, never a response that looks complete; and a connection that
broke is never taken from the pool again."""

import time

import pytest

import helpers
import hostile
from helpers import SockReader, build_request, connect, route
from hostile import response_bytes


def proxy_for(gatehouse, backend, **timeouts):
    server = {"reverse_proxy": [route(backend, "/")]}
    if timeouts:
        server["timeouts"] = timeouts
    return gatehouse({"server": server})


def get(gh, path="/x", timeout=10.0, headers=None):
    return helpers.http_request(gh.port, "GET", path, headers=headers, timeout=timeout)


def assert_named(resp, status, errors):
    assert resp.status == status and hostile.is_proxy_error(resp, status, errors), \
        f"wanted {status} {errors}, got {resp.status} {hostile.proxy_status(resp)!r} {resp.body[:200]!r}"


def ok_response(req):
    return response_bytes(200, b"ok:" + req.target.encode())


# --------------------------------------------------------------------------


def test_refused_502(gatehouse):
    gh = gatehouse({"server": {"reverse_proxy": [route(helpers.free_port(), "/")]}})
    assert_named(get(gh), 502, "connection_refused")


def test_reset_mid_head_502(gatehouse, raw_backend):
    def handler(conn, req):
        conn.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/pl")
        time.sleep(0.05)
        conn.reset()
        return False

    gh = proxy_for(gatehouse, raw_backend(handler))
    assert_named(get(gh), 502, ["http_response_incomplete", "connection_terminated"])


def test_close_mid_body_cuts_client(gatehouse, raw_backend):
    """CL 1000, 10 bytes, close: the client gets the head, then the connection
    ends before 1000 bytes (never a complete-looking response)."""
    def handler(conn, req):
        conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789")
        time.sleep(0.05)
        return False

    gh = proxy_for(gatehouse, raw_backend(handler))
    with connect(gh.port) as s:
        s.sendall(build_request("GET", "/midbody"))
        data, closed = hostile.collect(s, idle=3.0, total=8.0)
    head, sep, body = data.partition(b"\r\n\r\n")
    assert sep and head.startswith(b"HTTP/1.1 200"), data[:300]
    assert closed, "the client connection was not closed after the backend died mid-body"
    resp = helpers.parse_raw_response(data)
    if resp.header("content-length") is not None:
        assert int(resp.header("content-length")) == 1000, resp.headers
        assert len(body) < 1000, len(body)
    else:  # re-chunked: no last chunk may arrive
        resps, _, _ = hostile.parse_responses(data)
        assert not resps, f"a chunked response that looks complete: {data[:300]!r}"
    recs = helpers.wait_until(lambda: [r for r in gh.access_log() if r.get("path") == "/midbody"], 3)
    assert recs and recs[-1].get("proxy_status") == "http_response_incomplete", recs


@pytest.mark.parametrize("garbage", [
    b"HELLO THERE, THIS IS NOT HTTP\r\n\r\n",
    b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\nProtocol mismatch.\r\n\r\n",
    b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + bytes(range(32)) + b"\r\n\r\n",
], ids=["text", "ssh_banner", "binary"])
def test_garbage_instead_of_http_502(gatehouse, raw_backend, garbage):
    def handler(conn, req):
        conn.send(garbage)
        conn.hold(5)
        return False

    gh = proxy_for(gatehouse, raw_backend(handler), upstream_response="3s")
    assert_named(get(gh), 502, "http_protocol_error")


def test_oversized_head_502(gatehouse, raw_backend):
    big = b"".join(b"X-Big-%04d: %s\r\n" % (i, b"a" * 1000) for i in range(200))  # ~200 KiB

    def handler(conn, req):
        try:
            conn.send(b"HTTP/1.1 200 OK\r\n" + big + b"Content-Length: 2\r\n\r\nok")
        except OSError:
            pass
        conn.hold(3)
        return False

    gh = proxy_for(gatehouse, raw_backend(handler), upstream_response="3s")
    assert_named(get(gh), 502, "http_response_header_section_size")


MALFORMED_HEADS = {
    "status_four_digits": b"HTTP/1.1 2000 OK\r\nContent-Length: 2\r\n\r\nok",
    "status_missing": b"HTTP/1.1 OK\r\nContent-Length: 2\r\n\r\nok",
    "status_not_a_number": b"HTTP/1.1 2x0 OK\r\nContent-Length: 2\r\n\r\nok",
    "version_unknown": b"HTTP/9.9 200 OK\r\nContent-Length: 2\r\n\r\nok",
    "version_lowercase": b"http/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    "cl_and_te": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n"
                 b"2\r\nok\r\n0\r\n\r\n",
    "te_and_cl": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n"
                 b"2\r\nok\r\n0\r\n\r\n",
    "cl_duplicate_disagree": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok!",
    "cl_negative": b"HTTP/1.1 200 OK\r\nContent-Length: -2\r\n\r\nok",
    "cl_not_a_number": b"HTTP/1.1 200 OK\r\nContent-Length: 2x\r\n\r\nok",
    "space_before_colon": b"HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nok",
    "obs_fold": b"HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 2\r\n\r\nok",
    "nul_in_value": b"HTTP/1.1 200 OK\r\nX-A: a\x00b\r\nContent-Length: 2\r\n\r\nok",
    "bare_cr": b"HTTP/1.1 200 OK\r\nX-A: a\rb\r\nContent-Length: 2\r\n\r\nok",
    "chunked_twice": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"
                     b"2\r\nok\r\n0\r\n\r\n",
    "no_colon": b"HTTP/1.1 200 OK\r\nNo colon here\r\nContent-Length: 2\r\n\r\nok",
}


def test_malformed_heads_502(gatehouse, raw_backend):
    """Each malformed response head (the backend's answer to /<name>) gives 502
    http_protocol_error; CL+TE is never passed on."""
    def handler(conn, req):
        conn.send(MALFORMED_HEADS[req.target.strip("/")])
        conn.hold(2)
        return False

    gh = proxy_for(gatehouse, raw_backend(handler), upstream_response="3s")
    failures = []
    for name in MALFORMED_HEADS:
        r = get(gh, "/" + name)
        if not (r.status == 502 and hostile.is_proxy_error(r, 502, "http_protocol_error")):
            failures.append(f"{name}: {r.status} {hostile.proxy_status(r)!r} {r.body[:80]!r}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("delay", [0.0, 0.2], ids=["same_write", "late_bytes"])
def test_more_body_than_content_length_not_delivered(gatehouse, raw_backend, delay):
    """The backend answers /first with 'hello' (CL 5) followed by a whole extra
    response; on the same client keep-alive connection, /second must get the
    backend's real answer to /second, never the extra bytes."""
    extra = b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\nX-Injected: yes\r\n\r\ninjectd"

    def handler(conn, req):
        if req.target == "/first":
            if delay:
                conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
                time.sleep(delay)
                conn.send(extra)
            else:
                conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello" + extra)
        else:
            conn.send(ok_response(req))
        return True

    b = raw_backend(handler)
    gh = proxy_for(gatehouse, b)
    with connect(gh.port) as s:
        reader = SockReader(s)
        s.sendall(build_request("GET", "/first"))
        r1 = helpers.read_response(reader)
        assert r1.status == 200 and r1.body == b"hello", r1
        time.sleep(0.5)
        s.sendall(build_request("GET", "/second"))
        try:
            r2 = helpers.read_response(reader)
        except (EOFError, ConnectionResetError) as e:
            pytest.fail(f"the client connection died on the second request: {e}")
    assert not r2.has("x-injected") and r2.body != b"injectd", \
        f"the extra bytes were delivered as the response to /second: {r2}"
    assert r2.status == 200 and r2.body == b"ok:/second", r2
    conn_of = {req.target: idx for idx, req in b.requests}
    assert conn_of["/second"] != conn_of["/first"], \
        "the connection that sent extra bytes was reused for /second"


@pytest.mark.deadline(30)
def test_never_ending_chunked_body_is_cut(gatehouse, raw_backend):
    """Chunks, then silence with the connection open: after upstream_response
    (1 s) the client's response ends without the terminating 0-chunk."""
    def handler(conn, req):
        conn.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
        time.sleep(0.2)
        conn.send(b"6\r\n world\r\n")
        conn.hold(15)
        return False

    gh = proxy_for(gatehouse, raw_backend(handler), upstream_response="1s")
    with connect(gh.port, timeout=15) as s:
        s.sendall(build_request("GET", "/forever"))
        t0 = time.monotonic()
        data, closed = hostile.collect(s, idle=6.0, total=10.0)
        elapsed = time.monotonic() - t0
    head, sep, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), data[:200]
    assert closed, f"the client connection stayed open ({elapsed:.1f}s): {data[-100:]!r}"
    assert 0.9 <= elapsed <= 4.0, f"cut after {elapsed:.2f}s, wanted about 1 s after the last chunk"
    resps, _, _ = hostile.parse_responses(data)
    assert not resps, f"the client got a complete-looking response: {data!r}"
    assert not body.endswith(b"0\r\n\r\n"), body


def test_stall_before_head_504(gatehouse, raw_backend):
    def handler(conn, req):
        conn.hold(10)
        return False

    gh = proxy_for(gatehouse, raw_backend(handler), upstream_response="1s")
    t0 = time.monotonic()
    r = get(gh)
    elapsed = time.monotonic() - t0
    assert_named(r, 504, "http_response_timeout")
    assert 0.8 <= elapsed < 4.0, elapsed


def test_stalled_body_connection_not_reused(gatehouse, raw_backend):
    """A response whose body stalls (the backend keeps the socket open) is cut
    after upstream_response; that connection never carries another request."""
    def handler(conn, req):
        if req.target == "/stall":
            conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
            conn.hold(10)
            return False
        conn.send(ok_response(req))
        return True

    b = raw_backend(handler)
    gh = proxy_for(gatehouse, b, upstream_response="1s")
    with connect(gh.port) as s:
        s.sendall(build_request("GET", "/stall"))
        data, closed = hostile.collect(s, idle=4.0, total=6.0)
    assert closed and data.startswith(b"HTTP/1.1 200"), data[:200]
    for i in range(3):
        r = get(gh, f"/after{i}")
        assert r.status == 200 and r.body == f"ok:/after{i}".encode(), r
    first_conn = [idx for idx, req in b.requests if req.target == "/stall"][0]
    reused = [req.target for idx, req in b.requests if idx == first_conn and req.target != "/stall"]
    assert not reused, f"the stalled connection carried {reused}"
    assert len(b.connections) >= 2


@pytest.mark.parametrize("how", ["fin", "rst"])
def test_pooled_connection_closed_by_backend_not_reused(gatehouse, raw_backend, how):
    """After a keep-alive answer the backend drops the idle connection (FIN or
    RST); the next request must still succeed, on a new connection."""
    def handler(conn, req):
        conn.send(ok_response(req))
        time.sleep(0.1)
        if how == "rst":
            conn.reset()
        return False

    b = raw_backend(handler)
    gh = proxy_for(gatehouse, b)
    r1 = get(gh, "/one")
    assert r1.status == 200, r1
    time.sleep(0.5)
    r2 = get(gh, "/two")
    assert r2.status == 200 and r2.body == b"ok:/two", \
        f"{r2.status} {hostile.proxy_status(r2)!r}: the dead pooled connection was used"
    targets = {req.target: idx for idx, req in b.requests}
    assert targets["/one"] != targets["/two"]


def test_connection_after_bad_response_not_reused(gatehouse, raw_backend):
    """A malformed response (CL+TE) and a mid-body close both retire their
    connection: the backend sees each following request on a fresh one, and
    no connection ever carries a request after a broken response."""
    broken = {"/bad-head": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n"
                           b"2\r\nok\r\n0\r\n\r\n",
              "/short-body": b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nshort"}

    def handler(conn, req):
        if req.target in broken:
            conn.send(broken[req.target])
            conn.hold(1.5)  # keeps the socket open: only the proxy can retire it
            return False
        conn.send(ok_response(req))
        return True

    b = raw_backend(handler)
    gh = proxy_for(gatehouse, b, upstream_response="1s")
    assert get(gh, "/warm").status == 200
    with connect(gh.port) as s:
        s.sendall(build_request("GET", "/bad-head"))
        hostile.collect(s, idle=2.0, total=4.0)
    assert get(gh, "/next1").status == 200
    with connect(gh.port) as s:
        s.sendall(build_request("GET", "/short-body"))
        hostile.collect(s, idle=3.0, total=5.0)
    assert get(gh, "/next2").status == 200
    per_conn = {}
    for idx, req in b.requests:
        per_conn.setdefault(idx, []).append(req.target)
    for idx, targets in per_conn.items():
        for bad in broken:
            if bad in targets:
                assert targets[-1] == bad, f"connection {idx} was reused after {bad}: {targets}"


def test_backend_closes_without_answer_then_recovers(gatehouse, raw_backend):
    """A backend that closes fresh connections without a word: 502
    connection_terminated; the proxy keeps serving once the backend heals."""
    state = {"broken": True}

    def handler(conn, req):
        if state["broken"]:
            return False
        conn.send(ok_response(req))
        return True

    gh = proxy_for(gatehouse, raw_backend(handler))
    r = get(gh, "/dead")
    assert_named(r, 502, ["connection_terminated", "http_response_incomplete"])
    state["broken"] = False
    r = get(gh, "/alive")
    assert r.status == 200 and r.body == b"ok:/alive", r


def test_unknown_transfer_coding_until_close_is_restated_with_chunked_last(gatehouse, raw_backend):
    """A backend body under a transfer coding gatehouse does not know,
    delimited by close (RFC 9112 6.3 rule 4): the coding stays applied and
    chunked is stated after it, so the client can find the end of the
    response on a kept-alive connection (it used to get the backend's
    `Transfer-Encoding: x` over chunked bytes, and hung)."""
    def handler(conn, req):
        conn.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: x-odd\r\n\r\nCODED-BYTES")
        return False   # close: the end of the body

    gh = proxy_for(gatehouse, raw_backend(handler))
    with connect(gh.port, timeout=5.0) as s:
        s.sendall(build_request("GET", "/te"))
        resp = helpers.read_response(SockReader(s))
    assert resp.status == 200
    assert resp.header("transfer-encoding") == "x-odd, chunked", resp
    assert resp.body == b"CODED-BYTES"
