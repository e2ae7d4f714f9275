"""basic_auth (CONTRACT.md, "Policies (wave 2)"): htpasswd files with bcrypt
($2y$/$2b$/$2a$) and SHA-crypt ($5$/$6$) hashes, 401 with WWW-Authenticate,
no Authorization header upstream, refused hash kinds at load, verification
cached, over TLS and on WebSocket upgrades; its order after `access`; and the
route-replaces-server rule for both.

Hashes are made at test time with Python's crypt module (libxcrypt).
"""

import base64
import re
import signal
import textwrap
import time
import warnings
from pathlib import Path
from types import SimpleNamespace

import pytest

import helpers
import tls_helpers as th
import ws_helpers
from helpers import (SockReader, build_request, connect, free_port, http_request, read_response,
                     route, run_gatehouse, wait_until)

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import crypt

pytestmark = pytest.mark.deadline(20)  # every test here is meant to take a few seconds

FRONT = "front.test"
REALM = "Restricted"

# user -> (password, hash kind). Passwords with a colon and non-ASCII bytes
# test the split at the first colon and raw byte handling.
USERS = {
    "alice": ("wonderland", "sha512"),
    "bob": ("builder", "sha256"),
    "carol": ("c4r0l:with:colons", "2y"),
    "dave": ("dave pass", "2b"),
    "erin": ("erin-pw", "2a"),
    "frank": ("fr\u00e4nk", "sha512"),
}


# --------------------------------------------------------------------------
# Hashes and files


def make_hash(password, kind, cost=4):
    """An htpasswd hash of `password` (kind: sha512, sha256, 2a, 2b, 2y)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        if kind == "sha512":
            return crypt.crypt(password, crypt.mksalt(crypt.METHOD_SHA512))
        if kind == "sha256":
            return crypt.crypt(password, crypt.mksalt(crypt.METHOD_SHA256))
        h = crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1 << cost))
        assert h.startswith("$2b$"), h
        return f"${kind}$" + h[4:]


def verify_seconds(password, hashed, n=2):
    """How long one verification of `hashed` takes here (the fastest of n)."""
    best = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        for _ in range(n):
            t0 = time.perf_counter()
            assert crypt.crypt(password, hashed) == hashed
            dt = time.perf_counter() - t0
            best = dt if best is None else min(best, dt)
    return best


@pytest.fixture(scope="module")
def htpasswd_lines():
    return [f"{user}:{make_hash(pw, kind)}" for user, (pw, kind) in USERS.items()]


def write_htpasswd(directory, lines, name="htpasswd"):
    p = Path(directory) / name
    p.write_text("\n".join(lines) + "\n")
    return p


def basic(user, password):
    token = base64.b64encode(f"{user}:{password}".encode("utf-8")).decode("ascii")
    return ("Authorization", f"Basic {token}")


def proxy_status(resp):
    return ", ".join(resp.headers_all("proxy-status"))


def assert_denied(resp, policy):
    ps = proxy_status(resp)
    assert "gatehouse" in ps and "error=http_request_denied" in ps, (resp.status, resp.headers)
    m = re.search(r'details="([^"]*)"', ps)
    assert m and policy in m.group(1), ps


def assert_challenge(resp, realm=REALM):
    assert resp.status == 401, resp
    assert resp.headers_all("www-authenticate") == [f'Basic realm="{realm}"'], resp.headers
    assert_denied(resp, "basic_auth")


def get(port, target="/x", headers=None, method="GET", body=b""):
    return http_request(port, method, target, headers=headers, body=body, host=FRONT)


def auth_front(gatehouse, backend, tmp_path, lines, path="/", realm=REALM, server=None,
               **route_extra):
    write_htpasswd(tmp_path, lines)
    srv = dict(server or {})
    srv["reverse_proxy"] = [route(backend, path, basic_auth={
        "realm": realm, "users_file": "./htpasswd"}, **route_extra)]
    return gatehouse({"server": srv})


# --------------------------------------------------------------------------
# Refusals and acceptance


def test_no_credentials_gets_401_challenge(gatehouse, capture_backend, tmp_path, htpasswd_lines):
    b = capture_backend()
    gh = auth_front(gatehouse, b, tmp_path, htpasswd_lines)
    r = get(gh.port)
    assert_challenge(r)
    time.sleep(0.1)
    assert not b.requests


@pytest.mark.parametrize("header", [
    basic("alice", "wrong"),
    basic("alice", ""),
    basic("alice", "wonderland "),
    basic("ALICE", "wonderland"),                  # user names are case-sensitive
    basic("mallory", "wonderland"),                # unknown user
    basic("", "wonderland"),
    basic("carol", "c4r0l"),                       # the password runs to the end, colons included
    ("Authorization", "Basic !!!not-base64!!!"),
    ("Authorization", "Basic " + base64.b64encode(b"alice-without-colon").decode()),
    ("Authorization", "Bearer " + base64.b64encode(b"alice:wonderland").decode()),
    ("Authorization", "Basic"),
    ("Proxy-Authorization", "Basic " + base64.b64encode(b"alice:wonderland").decode()),
], ids=lambda h: h[1][:40] if isinstance(h, tuple) else str(h))
def test_bad_credentials_get_401(gatehouse, capture_backend, tmp_path, htpasswd_lines, header):
    b = capture_backend()
    gh = auth_front(gatehouse, b, tmp_path, htpasswd_lines)
    r = get(gh.port, headers=[header])
    assert_challenge(r)
    time.sleep(0.1)
    assert not b.requests


@pytest.mark.parametrize("user", sorted(USERS))
def test_right_credentials_pass_without_authorization_upstream(gatehouse, capture_backend,
                                                              tmp_path, htpasswd_lines, user):
    b = capture_backend()
    gh = auth_front(gatehouse, b, tmp_path, htpasswd_lines)
    pw, kind = USERS[user]
    r = get(gh.port, "/x?q=1", headers=[basic(user, pw), ("X-Other", "kept")])
    assert r.status == 200 and r.body == b"captured", (kind, r)
    assert not r.has("www-authenticate")
    req = b.wait_requests(1)[0]
    assert req.target == "/x?q=1"
    assert not req.has("authorization"), req.headers
    assert req.headers_all("x-other") == ["kept"]


def test_scheme_name_is_case_insensitive(gatehouse, capture_backend, tmp_path, htpasswd_lines):
    b = capture_backend()
    gh = auth_front(gatehouse, b, tmp_path, htpasswd_lines)
    token = base64.b64encode(b"alice:wonderland").decode()
    r = get(gh.port, headers=[("Authorization", f"basic {token}")])
    assert r.status == 200, r
    r = get(gh.port, headers=[("Authorization", f"BASIC {token}")])
    assert r.status == 200, r


def test_realm_in_challenge(gatehouse, capture_backend, tmp_path, htpasswd_lines):
    b = capture_backend()
    gh = auth_front(gatehouse, b, tmp_path, htpasswd_lines, realm="Ops Dashboard")
    r = get(gh.port)
    assert_challenge(r, realm="Ops Dashboard")


def test_post_refused_then_keepalive_request_answered(gatehouse, capture_backend, tmp_path,
                                                     htpasswd_lines):
    b = capture_backend()
    gh = auth_front(gatehouse, b, tmp_path, htpasswd_lines)
    smuggled = b"GET /smuggled HTTP/1.1\r\nHost: front.test\r\n\r\n"
    with connect(gh.port, timeout=10) as s:
        reader = SockReader(s)
        s.sendall(build_request("POST", "/form", body=smuggled, host=FRONT))
        assert_challenge(read_response(reader, "POST"))
        s.sendall(build_request("GET", "/after", host=FRONT,
                                headers=[basic("alice", "wonderland")]))
        r = read_response(reader)
        assert r.status == 200 and r.body == b"captured", r
    assert [q.target for q in b.wait_requests(1)] == ["/after"]
    time.sleep(0.1)
    assert len(b.requests) == 1


def test_authorized_post_body_reaches_backend(gatehouse, capture_backend, tmp_path,
                                              htpasswd_lines):
    b = capture_backend()
    gh = auth_front(gatehouse, b, tmp_path, htpasswd_lines)
    r = get(gh.port, "/upload", method="POST", body=b"payload-123",
            headers=[basic("bob", "builder")])
    assert r.status == 200
    req = b.wait_requests(1)[0]
    assert req.body == b"payload-123" and not req.has("authorization")


def test_only_the_protected_route_asks(gatehouse, capture_backend, tmp_path, htpasswd_lines):
    b = capture_backend()
    write_htpasswd(tmp_path, htpasswd_lines)
    gh = gatehouse({"server": {"reverse_proxy": [
        route(b, "/private", basic_auth={"realm": REALM, "users_file": "./htpasswd"}),
        route(b, "/"),
    ]}})
    assert_challenge(get(gh.port, "/private/x"))
    assert_challenge(get(gh.port, "//private/./x"))
    assert_challenge(get(gh.port, "/%70rivate/x"))
    assert get(gh.port, "/public/x").status == 200
    # On an unprotected route a client's Authorization is its own business.
    get(gh.port, "/public/y", headers=[("Authorization", "Bearer abc")])
    reqs = b.wait_requests(2)
    assert reqs[1].headers_all("authorization") == ["Bearer abc"]


def test_users_file_relative_to_config_directory(gatehouse, capture_backend, tmp_path,
                                                 htpasswd_lines):
    b = capture_backend()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    write_htpasswd(tmp_path, htpasswd_lines)
    gh = gatehouse({"server": {"reverse_proxy": [route(b, "/", basic_auth={
        "realm": REALM, "users_file": "./htpasswd"})]}}, cwd=elsewhere)
    assert get(gh.port, headers=[basic("alice", "wonderland")]).status == 200


def test_htpasswd_with_crlf_and_blank_lines(gatehouse, capture_backend, tmp_path):
    b = capture_backend()
    p = tmp_path / "htpasswd"
    p.write_bytes(("alice:" + make_hash("wonderland", "sha512") + "\r\n\r\n"
                   "bob:" + make_hash("builder", "2y") + "\r\n").encode())
    gh = gatehouse({"server": {"reverse_proxy": [route(b, "/", basic_auth={
        "realm": REALM, "users_file": "./htpasswd"})]}})
    assert get(gh.port, headers=[basic("alice", "wonderland")]).status == 200
    assert get(gh.port, headers=[basic("bob", "builder")]).status == 200
    assert_challenge(get(gh.port, headers=[basic("bob", "wonderland")]))


def test_openssl_passwd_sha512_hash_accepted(gatehouse, capture_backend, tmp_path):
    import subprocess
    p = subprocess.run(["openssl", "passwd", "-6", "-stdin"], input=b"openssl-pw\n",
                       capture_output=True, timeout=10)
    if p.returncode != 0:
        pytest.skip("openssl passwd -6 not available")
    h = p.stdout.decode().strip()
    assert h.startswith("$6$")
    b = capture_backend()
    gh = auth_front(gatehouse, b, tmp_path, [f"oscar:{h}"])
    assert get(gh.port, headers=[basic("oscar", "openssl-pw")]).status == 200
    assert_challenge(get(gh.port, headers=[basic("oscar", "openssl-pW")]))


# --------------------------------------------------------------------------
# Caching of verifications


def test_verification_is_cached(gatehouse, capture_backend, tmp_path):
    """A cost-12 bcrypt hash takes ~0.2 s to verify; 20 requests with the same
    credentials must take far less than 20 verifications."""
    pw = "slow-but-cached"
    h = make_hash(pw, "2y", cost=12)
    one = verify_seconds(pw, h)
    b = capture_backend()
    gh = auth_front(gatehouse, b, tmp_path, [f"slow:{h}"], server={"workers": 2})
    cred = [basic("slow", pw)]
    t0 = time.perf_counter()
    assert get(gh.port, headers=cred).status == 200
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    with connect(gh.port, timeout=10) as s:
        reader = SockReader(s)
        for _ in range(10):
            s.sendall(build_request("GET", "/x", host=FRONT, headers=cred))
            assert read_response(reader).status == 200
    for _ in range(10):
        assert get(gh.port, headers=cred).status == 200
    twenty = time.perf_counter() - t0
    assert twenty < 10 * one, (f"20 requests took {twenty:.3f}s; one verification takes "
                               f"{one:.3f}s here (first request {first:.3f}s)")


@pytest.mark.deadline(60)
def test_concurrent_first_checks_of_one_credential_hash_once(gatehouse, capture_backend, tmp_path):
    """A browser opening a page sends its credential on many connections at
    once: one worker hashes it once and the other requests wait for that
    result, instead of each paying a cost-12 bcrypt (about 0.2 s here) on a
    two-thread pool. A wrong password sent in parallel is refused for all."""
    import threading
    pw = "parallel-first"
    h = make_hash(pw, "2y", cost=12)
    one = verify_seconds(pw, h)
    b = capture_backend()
    gh = auth_front(gatehouse, b, tmp_path, [f"par:{h}"], server={"workers": 1})
    for cred, want in (([basic("par", pw)], 200), ([basic("par", "nope")], 401)):
        results = []
        lock = threading.Lock()

        def one_request():
            r = get(gh.port, headers=cred)
            with lock:
                results.append(r.status)

        threads = [threading.Thread(target=one_request) for _ in range(16)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        took = time.perf_counter() - t0
        assert results == [want] * 16, results
        # Without collapsing: 16 hashes on 2 threads = 8 rounds.
        assert took < 4 * one + 0.5, f"16 parallel first checks took {took:.2f}s, one takes {one:.2f}s"


def test_cache_does_not_accept_a_wrong_password(gatehouse, capture_backend, tmp_path):
    pw = "right-password"
    h = make_hash(pw, "2b", cost=10)
    b = capture_backend()
    gh = auth_front(gatehouse, b, tmp_path, [f"cached:{h}"])
    assert get(gh.port, headers=[basic("cached", pw)]).status == 200
    assert get(gh.port, headers=[basic("cached", pw)]).status == 200
    for wrong in ("right-passwor", "right-password2", "RIGHT-PASSWORD", ""):
        assert_challenge(get(gh.port, headers=[basic("cached", wrong)]))
    assert get(gh.port, headers=[basic("cached", pw)]).status == 200
    # Another (unknown) user with the cached password is not let in either.
    assert_challenge(get(gh.port, headers=[basic("other", pw)]))
    assert_challenge(get(gh.port, headers=[basic("cached ", pw)]))


def test_pipelined_requests_with_pending_verifications_keep_order(gatehouse, capture_backend,
                                                                   tmp_path):
    """Verification may happen off the worker: pipelined requests (good, bad
    with a body that looks like a request, good with a body, chunked) are
    still answered in order, and only the good ones reach the backend."""
    b = capture_backend(response=lambda req: helpers.canned(200, {}, "ok:" + req.target))
    gh = auth_front(gatehouse, b, tmp_path, ["u1:" + make_hash("p1", "2y", cost=10),
                                             "u2:" + make_hash("p2", "sha512")])
    good1, bad, good2 = basic("u1", "p1"), basic("u1", "bad"), basic("u2", "p2")
    data = b"".join([
        build_request("GET", "/a", headers=[good1], host=FRONT),
        build_request("POST", "/b", headers=[bad], host=FRONT,
                      body=b"GET /smuggled HTTP/1.1\r\nHost: front.test\r\n\r\n"),
        build_request("POST", "/c", headers=[good2], body=b"hello", host=FRONT),
        build_request("POST", "/d", headers=[good1, ("Transfer-Encoding", "chunked")],
                      host=FRONT) + b"5\r\nworld\r\n0\r\n\r\n",
        build_request("GET", "/e", headers=[good1], host=FRONT),
    ])
    with connect(gh.port, timeout=10) as s:
        reader = SockReader(s)
        s.sendall(data)
        got = [read_response(reader, m) for m in ("GET", "POST", "POST", "POST", "GET")]
    assert [r.status for r in got] == [200, 401, 200, 200, 200], got
    assert [r.body for r in got if r.status == 200] == [b"ok:/a", b"ok:/c", b"ok:/d", b"ok:/e"]
    reqs = b.wait_requests(4)
    time.sleep(0.2)
    assert [(q.target, q.body) for q in b.requests] == [
        ("/a", b""), ("/c", b"hello"), ("/d", b"world"), ("/e", b"")], reqs


def test_slow_verification_does_not_stall_other_requests(gatehouse, capture_backend, tmp_path):
    """With one worker, requests waiting for bcrypt verifications must not
    hold up an unprotected route."""
    import threading
    pw = "p1"
    h = make_hash(pw, "2y", cost=13)
    one = verify_seconds(pw, h, n=1)
    b = capture_backend()
    write_htpasswd(tmp_path, [f"u1:{h}"])
    gh = gatehouse({"server": {"workers": 1, "reverse_proxy": [
        route(b, "/p", basic_auth={"realm": REALM, "users_file": "./htpasswd"}),
        route(b, "/"),
    ]}})
    results = []

    def slow(i):
        r = get(gh.port, "/p/x", headers=[basic("u1", f"wrong{i}")])
        results.append(r.status)

    threads = [threading.Thread(target=slow, args=(i,), daemon=True) for i in range(3)]
    for t in threads:
        t.start()
    time.sleep(0.1)
    t0 = time.perf_counter()
    assert get(gh.port, "/free").status == 200
    took = time.perf_counter() - t0
    for t in threads:
        t.join(15)
    assert results == [401, 401, 401]
    assert took < one / 2, f"unprotected request took {took:.3f}s; one verification {one:.3f}s"


def test_reload_with_changed_htpasswd(gatehouse, capture_backend, tmp_path, htpasswd_lines):
    """After SIGHUP the new file counts, cached verifications included."""
    b = capture_backend()
    gh = auth_front(gatehouse, b, tmp_path, htpasswd_lines)
    assert get(gh.port, headers=[basic("alice", "wonderland")]).status == 200  # now cached
    assert_challenge(get(gh.port, headers=[basic("zoe", "new-user")]))
    new_lines = [line for line in htpasswd_lines if not line.startswith("alice:")]
    new_lines.append("zoe:" + make_hash("new-user", "sha256"))
    tmp = tmp_path / "htpasswd.new"
    tmp.write_text("\n".join(new_lines) + "\n")
    tmp.replace(tmp_path / "htpasswd")
    before = gh.stderr().count("configuration reloaded")
    gh.signal(signal.SIGHUP)
    assert wait_until(lambda: gh.stderr().count("configuration reloaded") > before, 5.0), \
        gh.logs()[-2000:]
    assert wait_until(lambda: get(gh.port, headers=[basic("zoe", "new-user")]).status == 200,
                      5.0)
    assert_challenge(get(gh.port, headers=[basic("alice", "wonderland")]))


# --------------------------------------------------------------------------
# TLS and WebSocket


@pytest.fixture(scope="module")
def front_pki(tmp_path_factory):
    import trustme
    d = tmp_path_factory.mktemp("auth-pki")
    ca = trustme.CA()
    leaf = th.write_leaf(ca, d, "front", [FRONT], "front-cert")
    return SimpleNamespace(ca=th.write_ca(ca, d / "ca.pem"), leaf=leaf)


def tls_block(pki):
    """The ssl section of a config serving pki's leaf on a second, TLS port."""
    return {"enabled": True, "port": free_port(), "cert_file": str(pki.leaf.cert),
            "key_file": str(pki.leaf.key)}


def test_basic_auth_over_tls(gatehouse, capture_backend, tmp_path, htpasswd_lines, front_pki):
    b = capture_backend()
    write_htpasswd(tmp_path, htpasswd_lines)
    gh = gatehouse({
        "server": {"reverse_proxy": [route(b, "/", basic_auth={
            "realm": REALM, "users_file": "./htpasswd"})]},
        "ssl": tls_block(front_pki)})
    with th.TlsClient(gh.tls_port, sni=FRONT, cafile=front_pki.ca) as c:
        assert_challenge(c.request(target="/x", host=FRONT))
        assert_challenge(c.request(target="/x", host=FRONT, headers=[basic("bob", "nope")]))
        r = c.request(target="/x", host=FRONT, headers=[basic("bob", "builder")])
        assert r.status == 200 and r.body == b"captured"
    req = b.wait_requests(1)[0]
    assert not req.has("authorization")
    assert req.headers_all("x-forwarded-proto") == ["https"]


def test_websocket_upgrade_needs_credentials(gatehouse, origin, tmp_path, htpasswd_lines):
    o = origin()
    gh = auth_front(gatehouse, o, tmp_path, htpasswd_lines, path="/ws")
    with connect(gh.port, timeout=5) as s:
        s.sendall(ws_helpers.upgrade_request("/ws/echo", host=FRONT))
        r = read_response(SockReader(s))
        assert_challenge(r)
        assert not r.has("sec-websocket-accept")
    with connect(gh.port, timeout=5) as s:
        s.sendall(ws_helpers.upgrade_request("/ws/echo", host=FRONT,
                                             extra=[basic("dave", "wrong")]))
        assert_challenge(read_response(SockReader(s)))
    got = th.ws_echo_roundtrip(gh.port, "/ws/echo", headers=[basic("dave", "dave pass")],
                               messages=["hello", b"\x00bin"])
    assert got == ["hello", b"\x00bin"]


def test_websocket_backend_gets_no_authorization(gatehouse, tmp_path, htpasswd_lines):
    wsb = ws_helpers.ScriptedWsBackend(lambda conn: None)
    try:
        gh = auth_front(gatehouse, wsb, tmp_path, htpasswd_lines, path="/ws")
        ws = ws_helpers.raw_ws_connect(gh.port, "/ws/x", extra=[basic("erin", "erin-pw")])
        ws.close()
        conn = wsb.wait_conn(1)
        assert not conn.request.has("authorization"), conn.request.headers
    finally:
        wsb.stop()


def test_wss_upgrade_needs_credentials(gatehouse, origin, tmp_path, htpasswd_lines, front_pki):
    o = origin()
    write_htpasswd(tmp_path, htpasswd_lines)
    gh = gatehouse({
        "server": {"reverse_proxy": [route(o, "/ws", basic_auth={
            "realm": REALM, "users_file": "./htpasswd"})]},
        "ssl": tls_block(front_pki)})
    ctx = th.client_context(cafile=front_pki.ca)
    with th.TlsClient(gh.tls_port, sni=FRONT, cafile=front_pki.ca) as c:
        c.sock.sendall(ws_helpers.upgrade_request("/ws/echo", host=FRONT))
        assert_challenge(read_response(c.reader))
    got = th.ws_echo_roundtrip(gh.tls_port, "/ws/echo", tls_ctx=ctx, sni=FRONT,
                               headers=[basic("alice", "wonderland")], messages=["secure"])
    assert got == ["secure"]


# --------------------------------------------------------------------------
# Order and scope


def test_access_runs_before_basic_auth(gatehouse, capture_backend, tmp_path, htpasswd_lines):
    b = capture_backend()
    write_htpasswd(tmp_path, htpasswd_lines)
    auth = {"realm": REALM, "users_file": "./htpasswd"}
    gh = gatehouse({"server": {"reverse_proxy": [
        route(b, "/denied", access={"deny": ["127.0.0.1"]}, basic_auth=auth),
        route(b, "/allowed", access={"allow": ["127.0.0.0/8"]}, basic_auth=auth),
    ]}})
    for headers in (None, [basic("alice", "wonderland")], [basic("alice", "bad")]):
        r = get(gh.port, "/denied/x", headers=headers)
        assert r.status == 403, (headers, r)
        assert_denied(r, "access")
        assert not r.has("www-authenticate")
    assert_challenge(get(gh.port, "/allowed/x"))
    assert get(gh.port, "/allowed/x", headers=[basic("alice", "wonderland")]).status == 200
    assert [q.target for q in b.wait_requests(1)] == ["/allowed/x"]


def test_basic_auth_route_replaces_server_value(gatehouse, capture_backend, tmp_path):
    b = capture_backend()
    write_htpasswd(tmp_path, ["alice:" + make_hash("a-pw", "sha512")], name="outer.htpasswd")
    write_htpasswd(tmp_path, ["bob:" + make_hash("b-pw", "2y")], name="inner.htpasswd")
    gh = gatehouse({"server": {
        "basic_auth": {"realm": "Outer", "users_file": "./outer.htpasswd"},
        "reverse_proxy": [
            route(b, "/inner", basic_auth={"realm": "Inner", "users_file": "./inner.htpasswd"}),
            route(b, "/"),
        ]}})
    assert_challenge(get(gh.port, "/inner/x"), realm="Inner")
    assert_challenge(get(gh.port, "/inner/x", headers=[basic("alice", "a-pw")]), realm="Inner")
    assert get(gh.port, "/inner/x", headers=[basic("bob", "b-pw")]).status == 200
    assert_challenge(get(gh.port, "/x"), realm="Outer")
    assert_challenge(get(gh.port, "/x", headers=[basic("bob", "b-pw")]), realm="Outer")
    assert get(gh.port, "/x", headers=[basic("alice", "a-pw")]).status == 200


def test_server_access_applies_with_route_basic_auth(gatehouse, capture_backend, tmp_path,
                                                           htpasswd_lines):
    """Different keys combine: server `access` still applies to a route that
    only sets its own `basic_auth`."""
    b = capture_backend()
    write_htpasswd(tmp_path, htpasswd_lines)
    gh = gatehouse({"server": {"access": {"deny": ["127.0.0.1"]}, "reverse_proxy": [
        route(b, "/", basic_auth={"realm": REALM, "users_file": "./htpasswd"})]}})
    r = get(gh.port, "/x", headers=[basic("alice", "wonderland")])
    assert r.status == 403
    assert_denied(r, "access")


def test_error_page_for_401_keeps_challenge(gatehouse, capture_backend, tmp_path,
                                            htpasswd_lines):
    page = b"<!doctype html><p>Please sign in.</p>\n"
    (tmp_path / "errors").mkdir()
    (tmp_path / "errors" / "401.html").write_bytes(page)
    b = capture_backend()
    gh = auth_front(gatehouse, b, tmp_path, htpasswd_lines,
                    error_pages={"401": "./errors/401.html"})
    r = get(gh.port)
    assert_challenge(r)
    assert r.body == page
    assert (r.header("content-type") or "").replace(" ", "").lower() == "text/html;charset=utf-8"


# --------------------------------------------------------------------------
# Access log


def test_access_log_names_basic_auth(gatehouse, capture_backend, tmp_path, htpasswd_lines):
    b = capture_backend()
    gh = auth_front(gatehouse, b, tmp_path, htpasswd_lines)
    get(gh.port, "/a", headers=[("X-Request-ID", "no-creds")])
    get(gh.port, "/b", headers=[("X-Request-ID", "good-creds"), basic("alice", "wonderland")])

    def by_id():
        got = {rec.get("request_id"): rec for rec in gh.access_log()}
        return got if {"no-creds", "good-creds"} <= set(got) else None

    recs = wait_until(by_id, 5.0)
    assert recs, gh.stdout()[-2000:]
    bad = recs["no-creds"]
    assert int(bad["status"]) == 401
    assert bad["proxy_status"] == "http_request_denied", bad
    assert bad.get("policy") == "basic_auth", bad
    good = recs["good-creds"]
    assert int(good["status"]) == 200 and not good["proxy_status"] and not good.get("policy")
    # The password never reaches the log.
    assert "wonderland" not in gh.stdout()
    assert base64.b64encode(b"alice:wonderland").decode() not in gh.stdout()


# --------------------------------------------------------------------------
# Config checks


def config_errors(stderr, path):
    rx = re.compile(r"^(?:.*/)?" + re.escape(Path(path).name) + r":(\d+):(\d+): (.+)$")
    return [(int(m.group(1)), int(m.group(2)), m.group(3))
            for m in map(rx.match, stderr.splitlines()) if m]


CONFIG = """\
server:
  port: 18080
  reverse_proxy:
    - path: /
      host: 127.0.0.1
      port: 3000
      basic_auth:
        realm: Restricted
        users_file: {users_file}
"""


def write_auth_config(tmp_path, users_file="./htpasswd"):
    p = tmp_path / "gatehouse.yaml"
    p.write_text(CONFIG.format(users_file=users_file))
    return p


def check(path):
    return run_gatehouse("check", "-c", str(path))


def test_check_accepts_every_supported_hash(tmp_path, htpasswd_lines):
    write_htpasswd(tmp_path, htpasswd_lines)
    r = check(write_auth_config(tmp_path))
    assert r.returncode == 0, (r.stdout, r.stderr)


BAD_ENTRIES = {
    "plain": ("bob:secret", ("plain", "hash", "unsupported", "unknown", "not")),
    "apr1": ("bob:$apr1$4Zq3yH8j$0hSdO2ZQxN1mH2Cq5E4w2/", ("apr1", "md5")),
    "sha1": ("bob:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=", ("sha",)),
    "des": ("bob:rl0uE9BtvOvYI", ("crypt", "des", "plain", "hash", "unsupported", "unknown", "not")),
    "md5crypt": ("bob:$1$saltsalt$2vnaRpHa6Jxjz5n83ok8Z0", ("md5", "$1$", "unsupported")),
    "no_colon": ("bob", ("colon", ":", "user", "format", "malformed", "missing", "expected")),
    "empty_user": (":" + "$6$abc$" + "x" * 86, ("user", "name", "empty")),
}


@pytest.mark.parametrize("case", sorted(BAD_ENTRIES))
def test_check_refuses_bad_htpasswd_entry(tmp_path, htpasswd_lines, case):
    entry, words = BAD_ENTRIES[case]
    lines = htpasswd_lines[:2] + [entry] + htpasswd_lines[2:]
    pw = write_htpasswd(tmp_path, lines)
    conf = write_auth_config(tmp_path)
    r = check(conf)
    assert r.returncode == 1, (r.stdout, r.stderr)
    errs = config_errors(r.stderr, pw)  # HTPASSWD_PATH:LINE:COL: message
    assert errs, f"no htpasswd:LINE:COL: line in stderr:\n{r.stderr}"
    assert any(e[0] == 3 for e in errs), (errs, r.stderr)
    msg = " ".join(e[2] for e in errs if e[0] == 3).lower()
    assert any(w.lower() in msg for w in words), (case, msg)


def test_bad_htpasswd_makes_run_fail(tmp_path, htpasswd_lines):
    write_htpasswd(tmp_path, htpasswd_lines + ["bob:secret"])
    conf = write_auth_config(tmp_path)
    r = run_gatehouse("run", "-c", str(conf), timeout=10)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert config_errors(r.stderr, tmp_path / "htpasswd"), r.stderr


def test_check_refuses_missing_users_file(tmp_path):
    conf = write_auth_config(tmp_path, users_file="./no-such-htpasswd")
    r = check(conf)
    assert r.returncode == 1, (r.stdout, r.stderr)
    errs = config_errors(r.stderr, conf)
    assert any(e[0] == 9 for e in errs), (errs, r.stderr)


def test_check_refuses_basic_auth_without_users_file(tmp_path):
    p = tmp_path / "gatehouse.yaml"
    p.write_text(textwrap.dedent("""\
        server:
          port: 18080
          reverse_proxy:
            - path: /
              host: 127.0.0.1
              port: 3000
              basic_auth:
                realm: Restricted
        """))
    r = check(p)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert config_errors(r.stderr, p), r.stderr


def test_sighup_with_broken_htpasswd_keeps_old_users(gatehouse, capture_backend, tmp_path,
                                                     htpasswd_lines):
    b = capture_backend()
    gh = auth_front(gatehouse, b, tmp_path, htpasswd_lines)
    assert get(gh.port, headers=[basic("bob", "builder")]).status == 200
    (tmp_path / "htpasswd").write_text("bob:plaintext-now\n")
    gh.signal(signal.SIGHUP)
    assert wait_until(lambda: re.search(r"htpasswd:\d+:\d+:", gh.stderr()), 5.0), \
        gh.stderr()[-2000:]
    assert get(gh.port, headers=[basic("bob", "builder")]).status == 200
    assert_challenge(get(gh.port, headers=[basic("bob", "plaintext-now")]))
    assert gh.proc.poll() is None

